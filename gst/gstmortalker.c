/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortalker: speaks the response tokens of morthinker with Qwen2.5-Omni's talker
 * (model/talker.c) and token2wav (model/token2wav.c: DiT and BigVGAN, streamed). */
/**
 * SECTION:element-mortalker
 * @title: mortalker
 *
 * Turns morthinker's `response` pad (`application/x-mor-tokens` token
 * records) into speech: 24 kHz mono F32LE audio, streamed. For each answer
 * the prompt record prefills the talker; then each response token's record
 * gives the talker its next reply row, and the talker makes one codec code per
 * row (it waits for the next token rather than feeding a pad). After
 * `mor/answer-end` the talker goes on alone until its end code. Codes go to
 * the DiT and BigVGAN in chunks of 36 codes (0.72 s of speech), so the first
 * audio leaves after the first 48 codes, long before the answer is complete
 * (docs/elements.md measures it).
 *
 * The `text` pad (optional) sends the text of each response token as the
 * talker reads it, stamped at the position the audio has reached then: a
 * caption slightly ahead of the speech it becomes (the talker reads one token
 * a code, faster than it speaks them; the words' exact times are not known).
 * GAP events keep it moving with the audio, so a `textoverlay` never stalls.
 *
 * `mor/interrupt` (barge-in) drops the queued tokens and the audio not yet
 * pushed at once and ends the answer. Reasoning tokens never reach this
 * element: the sink takes only `stream=response`.
 *
 * After each answer the element posts an element message `mortalker/answer`:
 * answer (uint), codes (uint), audio-seconds (double), first-audio-ms (double:
 * from the first response token reaching the sink to the first audio buffer
 * leaving, -1 if none), real-time-factor (double: processing time over audio
 * time), underruns (uint) and underrun-ms (double: time a live sink had
 * nothing to play after the answer's first audio), end-reason (string:
 * end-code, max-codes, interrupted, error, eos).
 *
 * ## Example launch line
 *
 * Speaks the answer to a typed question into answer.wav (talker.gguf from
 * model/convert/convert_hf.py or `mor mkmodel --kind talker`).
 * |[
 * gst-launch-1.0 -e filesrc location=question.txt ! text/x-raw,format=utf8 ! morthinker model=thinker.gguf name=t \
 *     t.response ! queue ! mortalker model=talker.gguf ! wavenc ! filesink location=answer.wav \
 *     t.reasoning ! queue ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstmortalker.h"

#include <string.h>

#include "gstmorelement.h"
#include "gstmorrecord.h"
#include "gstmorworker.h"
#include "talker.h"
#include "token2wav.h"

GST_DEBUG_CATEGORY_STATIC (gst_mor_talker_debug);
#define GST_CAT_DEFAULT gst_mor_talker_debug

#define RATE 24000
#define SINK_CAPS GST_MOR_TOKENS_CAPS ", dim=(int)[1, MAX], stream=(string)response"
#define SRC_CAPS "audio/x-raw, format=(string)F32LE, rate=(int)24000, channels=(int)1, layout=(string)interleaved"

static GstStaticPadTemplate sink_template =
  GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (SINK_CAPS));
static GstStaticPadTemplate src_template =
  GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (SRC_CAPS));
static GstStaticPadTemplate text_template =
  GST_STATIC_PAD_TEMPLATE ("text", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (GST_MOR_TEXT_CAPS));

enum {
  PROP_0,
  PROP_MODEL,
  PROP_DEVICE,
  PROP_SPEAKER,
  PROP_SEED,
  PROP_GREEDY,
  PROP_DIT_STEPS,
  PROP_DIT_SOLVER,
  PROP_CFG,
  PROP_STREAMING,
  PROP_MAX_CODES,
  PROP_CONTEXT_SIZE,
  PROP_LATENCY,
};

#define DEFAULT_SEED 0
#define DEFAULT_GREEDY FALSE
#define DEFAULT_DIT_STEPS 10            /* time points of the ODE: 9 steps (reference §6a) */
#define DEFAULT_DIT_SOLVER MOR_DIT_SOLVER_RK4
#define DEFAULT_CFG 0.5f
#define DEFAULT_STREAMING TRUE
#define DEFAULT_MAX_CODES 2048          /* 41 s of speech */
#define DEFAULT_CONTEXT_SIZE 4096
#define DEFAULT_LATENCY_MS 1000

/* Records the sink may queue ahead of the worker. */
#define MAX_QUEUED 4096

typedef enum { ITEM_EVENT, ITEM_RECORD, ITEM_ANSWER_END, ITEM_INTERRUPT, ITEM_EOS } ItemKind;

struct _GstMorTalker {
  GstElement parent;
  GstPad *sinkpad, *srcpad, *textpad;

  /* properties, under the object lock */
  char *model, *device, *speaker;
  guint64 seed;
  gboolean greedy, streaming;
  guint dit_steps, max_codes, context_size, latency_ms;
  MorDitSolver dit_solver;
  float cfg;

  /* the model, from READY→PAUSED to PAUSED→READY */
  MorVkDevice *dev;
  MorGguf *gguf;
  MorTalker *talker;
  MorToken2Wav *t2w;
  MorTalkerSession *session;
  MorToken2WavSession *wave;
  guint32 dim;                   /* the talker's input rows: the thinker's hidden size */

  GstMorWorker *worker;          /* runs handle_item() on what the sink queues */

  /* worker thread only */
  gboolean started;              /* stream-start, caps and segment sent */
  GstSegment segment;            /* output segment, TIME */
  GstClockTime next_pts;         /* where the next audio buffer goes (stream time) */
  GstClockTime text_pts;         /* the text pad's position */
  guint64 offset;                /* samples pushed */
  gboolean live;
  gint flow;                     /* GstFlowReturn of the latest audio push; atomic (the chain reads it) */
  /* the answer in progress */
  gboolean active;
  guint32 answer_no, n_codes;
  gint64 t_first_token, t_first_audio; /* monotonic µs, 0: not yet */
  double busy_s;                 /* time spent computing */
  guint64 answer_samples;
  guint underruns;
  GstClockTime underrun_time;
  float *row, *embedding;        /* [dim] each: a reply row, and the embedding read before it is added */
};

#define gst_mor_talker_parent_class parent_class
G_DEFINE_TYPE_WITH_CODE (GstMorTalker, gst_mor_talker, GST_TYPE_ELEMENT,
                         GST_DEBUG_CATEGORY_INIT (gst_mor_talker_debug, "mortalker", 0, "mor talker"));
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (mortalker, "mortalker", GST_RANK_NONE, GST_TYPE_MOR_TALKER,
                                       gst_mor_element_init (plugin));

static void gst_mor_talker_finalize (GObject *object);
static void gst_mor_talker_set_property (GObject *object, guint id, const GValue *value, GParamSpec *pspec);
static void gst_mor_talker_get_property (GObject *object, guint id, GValue *value, GParamSpec *pspec);
static GstStateChangeReturn gst_mor_talker_change_state (GstElement *element, GstStateChange transition);
static void gst_mor_talker_set_context (GstElement *element, GstContext *context);
static GstFlowReturn gst_mor_talker_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer);
static gboolean gst_mor_talker_sink_event (GstPad *pad, GstObject *parent, GstEvent *event);
static gboolean gst_mor_talker_query (GstPad *pad, GstObject *parent, GstQuery *query);
static void handle_item (GstMorWorkerItem *item, gpointer user_data);

GType
gst_mor_talker_solver_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { MOR_DIT_SOLVER_RK4, "Runge-Kutta 4 (3/8 rule): 4 DiT evaluations a step, the reference's", "rk4" },
    { MOR_DIT_SOLVER_EULER, "Euler: 1 DiT evaluation a step, faster and rougher", "euler" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstMorTalkerSolver", values));
  return type;
}

static void
gst_mor_talker_class_init (GstMorTalkerClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;
  const GParamFlags ready = rw | GST_PARAM_MUTABLE_READY, playing = rw | GST_PARAM_MUTABLE_PLAYING;

  gobject_class->finalize = gst_mor_talker_finalize;
  gobject_class->set_property = gst_mor_talker_set_property;
  gobject_class->get_property = gst_mor_talker_get_property;

  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model", "Talker GGUF file (talker, token2wav and speakers; "
                           "docs/model-format.md; NULL: the bundled mor-nano)", NULL, ready));
  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_string ("device", "Device", "Vulkan device index or name substring (NULL: the pipeline's "
                           "mor.vulkan.device context, MOR_VK_DEVICE, or the best device)", NULL, ready));
  g_object_class_install_property (gobject_class, PROP_SPEAKER,
      g_param_spec_string ("speaker", "Speaker", "Voice: a speaker of the model file, e.g. Chelsie, Ethan "
                           "(NULL: the file's default); applies from the next answer", NULL, playing));
  g_object_class_install_property (gobject_class, PROP_SEED,
      g_param_spec_uint64 ("seed", "Seed", "Random seed of the talker's sampling and the DiT's noise; every "
                           "answer starts from it afresh", 0, G_MAXUINT64, DEFAULT_SEED, playing));
  g_object_class_install_property (gobject_class, PROP_GREEDY,
      g_param_spec_boolean ("greedy", "Greedy", "Greedy codes (the repetition penalty stays) instead of the "
                            "reference's sampling (top-k 40, top-p 0.8, temperature 0.9)", DEFAULT_GREEDY, playing));
  /**
   * GstMorTalker:dit-steps:
   *
   * Time points of the DiT's ODE (the reference: 10, i.e. 9 steps). Each step
   * costs 4 DiT evaluations with rk4, 1 with euler, twice that with cfg > 0.
   */
  g_object_class_install_property (gobject_class, PROP_DIT_STEPS,
      g_param_spec_uint ("dit-steps", "DiT steps", "Time points of the flow-matching ODE (fewer: faster, rougher)",
                         2, 100, DEFAULT_DIT_STEPS, playing));
  g_object_class_install_property (gobject_class, PROP_DIT_SOLVER,
      g_param_spec_enum ("dit-solver", "DiT solver", "ODE solver of the DiT", GST_TYPE_MOR_TALKER_SOLVER,
                         DEFAULT_DIT_SOLVER, playing));
  g_object_class_install_property (gobject_class, PROP_CFG,
      g_param_spec_float ("cfg", "CFG", "Classifier-free guidance strength of the DiT (0: none, half the DiT "
                          "evaluations)", 0.0f, 10.0f, DEFAULT_CFG, playing));
  g_object_class_install_property (gobject_class, PROP_STREAMING,
      g_param_spec_boolean ("streaming", "Streaming", "Speak in chunks as the codes come (FALSE: the whole "
                            "answer at once, exactly the reference's token2wav)", DEFAULT_STREAMING, playing));
  g_object_class_install_property (gobject_class, PROP_MAX_CODES,
      g_param_spec_uint ("max-codes", "Max codes", "Codes an answer may take (50 a second of speech)", 2, 30000,
                         DEFAULT_MAX_CODES, ready));
  g_object_class_install_property (gobject_class, PROP_CONTEXT_SIZE,
      g_param_spec_uint ("context-size", "Context size", "Positions of the talker's KV cache: the thinker's "
                         "prompt, 2, and the codes", 64, 1 << 20, DEFAULT_CONTEXT_SIZE, ready));
  g_object_class_install_property (gobject_class, PROP_LATENCY,
      g_param_spec_uint ("latency", "Latency", "Milliseconds added to the upstream latency when upstream is live",
                         0, 60000, DEFAULT_LATENCY_MS, playing));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_add_static_pad_template (element_class, &text_template);
  gst_element_class_set_static_metadata (element_class, "mor talker", "Filter/Audio/Synthesizer",
      "Speaks the response tokens of a thinking-in-speaking LLM (Qwen2.5-Omni talker, DiT, BigVGAN)",
      "mor developers");
  element_class->change_state = GST_DEBUG_FUNCPTR (gst_mor_talker_change_state);
  element_class->set_context = GST_DEBUG_FUNCPTR (gst_mor_talker_set_context);
  gst_type_mark_as_plugin_api (GST_TYPE_MOR_TALKER_SOLVER, 0);
}

static void
gst_mor_talker_init (GstMorTalker *self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_mor_talker_chain));
  gst_pad_set_event_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_mor_talker_sink_event));
  gst_pad_set_query_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_mor_talker_query));
  /* Any dim is accepted so that a wrong one reaches the CAPS event and gets an error naming it. */
  GST_PAD_SET_ACCEPT_TEMPLATE (self->sinkpad);
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);
  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_query_function (self->srcpad, GST_DEBUG_FUNCPTR (gst_mor_talker_query));
  gst_pad_use_fixed_caps (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);
  self->textpad = gst_pad_new_from_static_template (&text_template, "text");
  gst_pad_set_query_function (self->textpad, GST_DEBUG_FUNCPTR (gst_mor_talker_query));
  gst_pad_use_fixed_caps (self->textpad);
  gst_element_add_pad (GST_ELEMENT (self), self->textpad);
  self->seed = DEFAULT_SEED;
  self->greedy = DEFAULT_GREEDY;
  self->dit_steps = DEFAULT_DIT_STEPS;
  self->dit_solver = DEFAULT_DIT_SOLVER;
  self->cfg = DEFAULT_CFG;
  self->streaming = DEFAULT_STREAMING;
  self->max_codes = DEFAULT_MAX_CODES;
  self->context_size = DEFAULT_CONTEXT_SIZE;
  self->latency_ms = DEFAULT_LATENCY_MS;
  self->worker = gst_mor_worker_new ("mortalker", MAX_QUEUED, handle_item, self);
}

static void
gst_mor_talker_finalize (GObject *object)
{
  GstMorTalker *self = GST_MOR_TALKER (object);
  g_free (self->model);
  g_free (self->device);
  g_free (self->speaker);
  gst_mor_worker_free (self->worker);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_mor_talker_set_property (GObject *object, guint id, const GValue *value, GParamSpec *pspec)
{
  GstMorTalker *self = GST_MOR_TALKER (object);
  gboolean latency_changed = FALSE;
  GST_OBJECT_LOCK (self);
  switch (id) {
  case PROP_MODEL:
    g_free (self->model);
    self->model = g_value_dup_string (value);
    break;
  case PROP_DEVICE:
    g_free (self->device);
    self->device = g_value_dup_string (value);
    break;
  case PROP_SPEAKER:
    g_free (self->speaker);
    self->speaker = g_value_dup_string (value);
    break;
  case PROP_SEED:
    self->seed = g_value_get_uint64 (value);
    break;
  case PROP_GREEDY:
    self->greedy = g_value_get_boolean (value);
    break;
  case PROP_DIT_STEPS:
    self->dit_steps = g_value_get_uint (value);
    break;
  case PROP_DIT_SOLVER:
    self->dit_solver = g_value_get_enum (value);
    break;
  case PROP_CFG:
    self->cfg = g_value_get_float (value);
    break;
  case PROP_STREAMING:
    self->streaming = g_value_get_boolean (value);
    break;
  case PROP_MAX_CODES:
    self->max_codes = g_value_get_uint (value);
    break;
  case PROP_CONTEXT_SIZE:
    self->context_size = g_value_get_uint (value);
    break;
  case PROP_LATENCY:
    latency_changed = self->latency_ms != g_value_get_uint (value);
    self->latency_ms = g_value_get_uint (value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
    break;
  }
  GST_OBJECT_UNLOCK (self);
  if (latency_changed)
    gst_element_post_message (GST_ELEMENT (self), gst_message_new_latency (GST_OBJECT (self)));
}

static void
gst_mor_talker_get_property (GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
  GstMorTalker *self = GST_MOR_TALKER (object);
  GST_OBJECT_LOCK (self);
  switch (id) {
  case PROP_MODEL:
    g_value_set_string (value, self->model);
    break;
  case PROP_DEVICE:
    g_value_set_string (value, self->device);
    break;
  case PROP_SPEAKER:
    g_value_set_string (value, self->speaker);
    break;
  case PROP_SEED:
    g_value_set_uint64 (value, self->seed);
    break;
  case PROP_GREEDY:
    g_value_set_boolean (value, self->greedy);
    break;
  case PROP_DIT_STEPS:
    g_value_set_uint (value, self->dit_steps);
    break;
  case PROP_DIT_SOLVER:
    g_value_set_enum (value, self->dit_solver);
    break;
  case PROP_CFG:
    g_value_set_float (value, self->cfg);
    break;
  case PROP_STREAMING:
    g_value_set_boolean (value, self->streaming);
    break;
  case PROP_MAX_CODES:
    g_value_set_uint (value, self->max_codes);
    break;
  case PROP_CONTEXT_SIZE:
    g_value_set_uint (value, self->context_size);
    break;
  case PROP_LATENCY:
    g_value_set_uint (value, self->latency_ms);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
    break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_mor_talker_set_context (GstElement *element, GstContext *context)
{
  GstMorTalker *self = GST_MOR_TALKER (element);
  gst_mor_element_set_context (element, context, &self->dev);
  GST_ELEMENT_CLASS (parent_class)->set_context (element, context);
}

/* ---- state changes ---- */

/* Opens the device and model and makes the sessions; posts the error. */
static gboolean
start (GstMorTalker *self)
{
  g_autoptr (GError) error = NULL;
  GST_OBJECT_LOCK (self);
  g_autofree char *path = self->model ? g_strdup (self->model) : gst_mor_element_default_model ("talker");
  g_autofree char *device = g_strdup (self->device);
  g_autofree char *speaker = g_strdup (self->speaker);
  guint max_codes = self->max_codes, context_size = self->context_size;
  GST_OBJECT_UNLOCK (self);
  if (!gst_mor_element_open (GST_ELEMENT (self), path, device, &self->gguf, &self->dev))
    return FALSE;
  if (!(self->talker = mor_talker_load (self->dev, self->gguf, &error)) ||
      !(self->t2w = mor_token2wav_load (self->dev, self->gguf, &error))) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ, ("Model file “%s” is not a talker mor can run: %s", path,
                       error->message), ("%s", error->message));
    goto failed;
  }
  if (mor_token2wav_sample_rate (self->t2w) != RATE) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Model file “%s” makes %u Hz audio; mortalker speaks at %d Hz",
                       path, mor_token2wav_sample_rate (self->t2w), RATE), (NULL));
    goto failed;
  }
  /* A speaker the file lacks is refused now, not at the first answer. */
  gboolean known = speaker == NULL;
  const MorTalkerConfig *c = mor_talker_get_config (self->talker);
  for (guint32 i = 0; !known && i < c->n_speakers; i++)
    known = strcmp (speaker, mor_talker_get_speaker (self->talker, i)) == 0;
  if (!known) {
    GString *names = g_string_new (NULL);
    for (guint32 i = 0; i < c->n_speakers; i++)
      g_string_append_printf (names, "%s%s", i ? ", " : "", mor_talker_get_speaker (self->talker, i));
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("Model file “%s” has no speaker “%s” (it has: %s)", path,
                       speaker, names->str), (NULL));
    g_string_free (names, TRUE);
    goto failed;
  }
  MorSamplerParams sp = MOR_TALKER_SAMPLING_DEFAULT;
  context_size = MIN (context_size, mor_llm_get_config (mor_talker_get_llm (self->talker))->max_position_embeddings);
  if (!(self->session = mor_talker_session_new (self->talker, context_size, &sp, max_codes + 1, &error)) ||
      !(self->wave = mor_token2wav_session_new (self->t2w, max_codes, &error))) {
    GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT, ("Cannot make talker sessions for %u codes", max_codes),
                       ("%s", error->message));
    goto failed;
  }
  self->dim = c->embedding_size;
  self->row = g_new (float, self->dim);
  self->embedding = g_new (float, self->dim);
  self->started = self->active = FALSE;
  self->next_pts = self->text_pts = 0;
  self->offset = 0;
  g_atomic_int_set (&self->flow, GST_FLOW_OK);
  gst_segment_init (&self->segment, GST_FORMAT_TIME);
  gst_mor_element_progress (GST_ELEMENT (self), GST_PROGRESS_TYPE_COMPLETE, path);
  return TRUE;

failed:
  gst_mor_element_progress (GST_ELEMENT (self), GST_PROGRESS_TYPE_ERROR, path);
  return FALSE;
}

static void
stop (GstMorTalker *self)
{
  g_clear_pointer (&self->wave, mor_token2wav_session_free);
  g_clear_pointer (&self->session, mor_talker_session_free);
  g_clear_pointer (&self->t2w, mor_token2wav_free);
  g_clear_pointer (&self->talker, mor_talker_free);
  g_clear_pointer (&self->gguf, mor_gguf_unref);
  g_clear_pointer (&self->dev, mor_vk_device_unref);
  g_clear_pointer (&self->row, g_free);
  g_clear_pointer (&self->embedding, g_free);
  self->dim = 0;
}

static GstStateChangeReturn
gst_mor_talker_change_state (GstElement *element, GstStateChange transition)
{
  GstMorTalker *self = GST_MOR_TALKER (element);
  return gst_mor_element_change_state (element, transition, GST_ELEMENT_CLASS (parent_class), self->worker,
                                       (GstMorElementStart) start, (GstMorElementStop) stop);
}

/* ---- the worker: output ---- */

/* Stream-start, caps and segment before the first buffer or event. */
static void
ensure_started (GstMorTalker *self)
{
  if (self->started)
    return;
  self->started = TRUE;
  GstPad *pads[2] = { self->srcpad, self->textpad };
  const char *caps_str[2] = { SRC_CAPS, GST_MOR_TEXT_CAPS }, *names[2] = { "audio", "text" };
  for (guint i = 0; i < 2; i++) {
    g_autofree char *id = gst_pad_create_stream_id (pads[i], GST_ELEMENT (self), names[i]);
    gst_pad_push_event (pads[i], gst_event_new_stream_start (id));
    GstCaps *caps = gst_caps_from_string (caps_str[i]);
    gst_pad_push_event (pads[i], gst_event_new_caps (caps));
    gst_caps_unref (caps);
    gst_pad_push_event (pads[i], gst_event_new_segment (&self->segment));
  }
}

/* The text pad follows the audio: a GAP up to where the audio has reached. */
static void
text_catch_up (GstMorTalker *self)
{
  if (self->text_pts < self->next_pts) {
    gst_pad_push_event (self->textpad, gst_event_new_gap (self->text_pts, self->next_pts - self->text_pts));
    self->text_pts = self->next_pts;
  }
}

/* A response token's text, at the audio's position. */
static void
push_text (GstMorTalker *self, const char *text, guint32 len)
{
  if (len == 0)
    return;
  ensure_started (self);
  text_catch_up (self);
  GstBuffer *buf = gst_buffer_new_memdup (text, len);
  GST_BUFFER_PTS (buf) = self->text_pts;
  gst_pad_push (self->textpad, buf);  /* an unlinked or refusing text pad does not stop speech */
}

/* The element's running time as stream time when upstream is live, else NONE. */
static GstClockTime
live_now (GstMorTalker *self)
{
  if (!self->live)
    return GST_CLOCK_TIME_NONE;
  GstClockTime rt = gst_element_get_current_running_time (GST_ELEMENT (self));
  if (!GST_CLOCK_TIME_IS_VALID (rt))
    return GST_CLOCK_TIME_NONE;
  return gst_segment_position_from_running_time (&self->segment, GST_FORMAT_TIME, rt);
}

/* Pushes @n samples; in a live pipeline, audio that is late starts at the
 * clock's now, and the hole before it is an underrun once the answer speaks. */
static void
push_audio (GstMorTalker *self, const float *samples, guint64 n)
{
  GstFlowReturn flow = g_atomic_int_get (&self->flow);
  if (n == 0 || (flow != GST_FLOW_OK && flow != GST_FLOW_NOT_LINKED))
    return;
  ensure_started (self);
  GstClockTime now = live_now (self);
  if (GST_CLOCK_TIME_IS_VALID (now) && now > self->next_pts) {
    if (self->answer_samples > 0) {
      self->underruns++;
      self->underrun_time += now - self->next_pts;
    }
    self->next_pts = now;
  }
  GstBuffer *buf = gst_buffer_new_memdup (samples, n * sizeof (float));
  GstClockTime end = self->next_pts + gst_util_uint64_scale_int (n, GST_SECOND, RATE);
  GST_BUFFER_PTS (buf) = self->next_pts;
  GST_BUFFER_DURATION (buf) = end - self->next_pts;
  GST_BUFFER_OFFSET (buf) = self->offset;
  GST_BUFFER_OFFSET_END (buf) = self->offset + n;
  self->next_pts = end;
  self->offset += n;
  if (self->t_first_audio == 0)
    self->t_first_audio = g_get_monotonic_time ();
  self->answer_samples += n;
  flow = gst_pad_push (self->srcpad, buf);
  g_atomic_int_set (&self->flow, flow);
  if (flow != GST_FLOW_OK && flow != GST_FLOW_NOT_LINKED && flow != GST_FLOW_FLUSHING)
    GST_ELEMENT_FLOW_ERROR (self, flow);
  text_catch_up (self);
}

/* @event on both src pads. */
static void
push_event (GstMorTalker *self, GstEvent *event)
{
  ensure_started (self);
  gst_pad_push_event (self->textpad, gst_event_ref (event));
  gst_pad_push_event (self->srcpad, event);
}

/* ---- the worker: the answer ---- */

/* Whether the answer must be left: flushing, stopping, or a barge-in queued. */
static gboolean
interrupted (GstMorTalker *self)
{
  return gst_mor_worker_is_flushing (self->worker) || gst_mor_worker_n_starts (self->worker) > 0;
}

static void
finish_answer (GstMorTalker *self, const char *end)
{
  if (!self->active)
    return;
  self->active = FALSE;
  double audio_s = (double) self->answer_samples / RATE;
  double first_ms = self->t_first_audio && self->t_first_token ?
                    (double) (self->t_first_audio - self->t_first_token) / 1000.0 : -1;
  GstStructure *s = gst_structure_new ("mortalker/answer",
      "answer", G_TYPE_UINT, self->answer_no, "codes", G_TYPE_UINT, self->n_codes,
      "audio-seconds", G_TYPE_DOUBLE, audio_s, "first-audio-ms", G_TYPE_DOUBLE, first_ms,
      "real-time-factor", G_TYPE_DOUBLE, audio_s > 0 ? self->busy_s / audio_s : 0.0,
      "underruns", G_TYPE_UINT, self->underruns, "underrun-ms", G_TYPE_DOUBLE,
      (double) self->underrun_time / GST_MSECOND, "end-reason", G_TYPE_STRING, end, NULL);
  gst_element_post_message (GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
  self->answer_no++;
}

/* Posts @error as the answer's failure and ends it. */
static void
answer_failed (GstMorTalker *self, const char *what, GError *error)
{
  GST_ELEMENT_ERROR (self, STREAM, FAILED, ("%s", what), ("%s", error->message));
  finish_answer (self, "error");
}

/* Pushes whatever audio token2wav has ready. */
static gboolean
pull_audio (GstMorTalker *self)
{
  g_autoptr (GError) error = NULL;
  for (;;) {
    if (interrupted (self))
      return FALSE;
    guint64 n;
    gint64 t0 = g_get_monotonic_time ();
    const float *samples = mor_token2wav_session_pull (self->wave, &n, &error);
    self->busy_s += (g_get_monotonic_time () - t0) / 1e6;
    if (!samples) {
      answer_failed (self, "token2wav failed", error);
      return FALSE;
    }
    if (n == 0)
      return TRUE;
    push_audio (self, samples, n);
  }
}

/* Runs the talker as far as its input rows go, and speaks what is ready. */
static void
drive (GstMorTalker *self)
{
  g_autoptr (GError) error = NULL;
  while (self->active) {
    if (interrupted (self))
      return;
    gint32 code;
    gint64 t0 = g_get_monotonic_time ();
    MorTalkerStatus st = mor_talker_session_next (self->session, &code, &error);
    self->busy_s += (g_get_monotonic_time () - t0) / 1e6;
    if (st == MOR_TALKER_ERROR_STATUS) {
      answer_failed (self, "The talker failed", error);
      return;
    }
    if (st == MOR_TALKER_NEED_REPLY)
      return;
    if (st == MOR_TALKER_DONE) {
      mor_token2wav_session_end (self->wave);
      if (pull_audio (self))
        finish_answer (self, self->n_codes + 1 >= self->max_codes ? "max-codes" : "end-code");
      return;
    }
    if (!mor_token2wav_session_push (self->wave, &code, 1, &error)) {
      answer_failed (self, "The talker made a code token2wav cannot voice", error);
      return;
    }
    self->n_codes++;
    if (!pull_audio (self))
      return;
  }
}

/* Copies @n floats from unaligned little-endian bytes. */
static void
read_floats (const guint8 *data, guint32 n, float *out)
{
  for (guint32 i = 0; i < n; i++)
    out[i] = GST_READ_FLOAT_LE (data + 4 * (gsize) i);
}

static void
begin_answer (GstMorTalker *self, const GstMorRecord *r)
{
  g_autoptr (GError) error = NULL;
  if (self->active)  /* a new prompt without answer-end: the old answer is over */
    finish_answer (self, "interrupted");
  GST_OBJECT_LOCK (self);
  g_autofree char *speaker = g_strdup (self->speaker);
  MorToken2WavParams p = { .seed = self->seed, .whole = !self->streaming };
  mor_dit_sample_params_init (&p.dit);
  p.dit.num_steps = self->dit_steps;
  p.dit.solver = self->dit_solver;
  p.dit.guidance_scale = self->cfg;
  MorSamplerParams sp = self->greedy ? MOR_TALKER_SAMPLING_GREEDY : MOR_TALKER_SAMPLING_DEFAULT;
  guint64 seed = self->seed;
  GST_OBJECT_UNLOCK (self);

  /* Prompt rows h + e (e zeroed at <|AUDIO|>). */
  g_autofree float *prompt = g_new (float, (gsize) r->n_rows * self->dim);
  for (guint32 i = 0; i < r->n_rows; i++) {
    gsize at = (gsize) i * self->dim * 4;
    read_floats (r->hidden + at, self->dim, self->row);
    read_floats (r->embedding + at, self->dim, self->embedding);
    mor_talker_prompt_row (self->talker, self->row, self->embedding, GST_READ_UINT32_LE (r->ids + 4 * (gsize) i),
                           prompt + (gsize) i * self->dim);
  }
  mor_talker_session_set_sampling (self->session, &sp);
  mor_talker_session_set_seed (self->session, seed);
  gint64 t0 = g_get_monotonic_time ();
  if (!mor_talker_session_begin (self->session, prompt, r->n_rows, speaker, &error) ||
      !mor_token2wav_session_begin (self->wave, speaker, &p, &error)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("The talker cannot start the answer"), ("%s", error->message));
    return;
  }
  self->active = TRUE;
  self->busy_s = (g_get_monotonic_time () - t0) / 1e6;
  self->n_codes = 0;
  self->t_first_token = self->t_first_audio = 0;
  self->answer_samples = 0;
  self->underruns = 0;
  self->underrun_time = 0;
  self->live = FALSE;
  GstQuery *q = gst_query_new_latency ();
  if (gst_pad_peer_query (self->sinkpad, q))
    gst_query_parse_latency (q, &self->live, NULL, NULL);
  gst_query_unref (q);
}

static void
add_record (GstMorTalker *self, GstBuffer *buf, gint64 arrived_us)
{
  g_autoptr (GError) error = NULL;
  GstMapInfo map;
  GstMorRecord r;
  if (!gst_buffer_map (buf, &map, GST_MAP_READ))
    return;
  if (!gst_mor_record_parse (map.data, map.size, &r, &error)) {
    GST_ELEMENT_ERROR (self, STREAM, DECODE, ("Not a token record"), ("%s", error->message));
  } else if (r.dim != self->dim) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Token record of dimension %u; the talker reads rows of %u",
                       r.dim, self->dim), (NULL));
  } else if (r.kind == GST_MOR_RECORD_PROMPT) {
    begin_answer (self, &r);
  } else if (self->active && r.stream == 0 && gst_mor_worker_n_starts (self->worker) == 0) {
    /* (a barge-in queued behind this record drops it) */
    /* The reply row h(g) + e(g) of a response token. */
    read_floats (r.hidden, self->dim, self->row);
    read_floats (r.embedding, self->dim, self->embedding);
    for (guint32 i = 0; i < self->dim; i++)
      self->row[i] += self->embedding[i];
    if (self->t_first_token == 0)
      self->t_first_token = arrived_us;
    push_text (self, r.text, r.text_len);
    if (!mor_talker_session_push_reply (self->session, self->row, &error))
      answer_failed (self, "The talker refused a reply row", error);
    else
      drive (self);
  }
  gst_buffer_unmap (buf, &map);
}

/* The reply is complete: the talker goes on alone to its end code. */
static void
end_answer (GstMorTalker *self)
{
  if (!self->active)
    return;
  mor_talker_session_end_reply (self->session);
  drive (self);
}

static void
handle_item (GstMorWorkerItem *item, gpointer user_data)
{
  GstMorTalker *self = user_data;
  switch (item->kind) {
  case ITEM_RECORD:
    add_record (self, item->buffer, item->arrived_us);
    break;
  case ITEM_ANSWER_END:
    if (gst_mor_worker_n_starts (self->worker) == 0)
      end_answer (self);
    push_event (self, g_steal_pointer (&item->event));
    break;
  case ITEM_INTERRUPT:
    finish_answer (self, "interrupted");
    push_event (self, g_steal_pointer (&item->event));
    break;
  case ITEM_EOS:
    end_answer (self);
    finish_answer (self, "eos");
    push_event (self, g_steal_pointer (&item->event));
    break;
  case ITEM_EVENT:
    switch (GST_EVENT_TYPE (item->event)) {
    case GST_EVENT_STREAM_START:
    case GST_EVENT_CAPS:
      break;  /* ours are sent with the first output */
    case GST_EVENT_SEGMENT: {
      const GstSegment *seg;
      gst_event_parse_segment (item->event, &seg);
      if (seg->format == GST_FORMAT_TIME)
        gst_segment_copy_into (seg, &self->segment);
      self->next_pts = MAX (self->next_pts, self->segment.start);
      if (self->started)
        push_event (self, gst_event_new_segment (&self->segment));
      break;
    }
    case GST_EVENT_GAP: {
      /* Idle time between answers is a gap in the audio too. */
      GstClockTime ts, dur;
      gst_event_parse_gap (item->event, &ts, &dur);
      GstClockTime end = GST_CLOCK_TIME_IS_VALID (dur) ? ts + dur : ts;
      if (!self->active && end > self->next_pts) {
        push_event (self, gst_event_new_gap (self->next_pts, end - self->next_pts));
        self->next_pts = self->text_pts = end;
      }
      break;
    }
    default:
      push_event (self, g_steal_pointer (&item->event));
      break;
    }
    break;
  }
}

/* ---- input (streaming thread) ---- */

static GstFlowReturn
gst_mor_talker_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer)
{
  GstMorTalker *self = GST_MOR_TALKER (parent);
  if (!gst_mor_worker_push (self->worker, ITEM_RECORD, NULL, buffer, FALSE))
    return GST_FLOW_FLUSHING;
  GstFlowReturn flow = g_atomic_int_get (&self->flow);
  return flow == GST_FLOW_NOT_LINKED ? GST_FLOW_OK : flow;
}

static gboolean
gst_mor_talker_sink_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstMorTalker *self = GST_MOR_TALKER (parent);
  ItemKind kind = ITEM_EVENT;
  GST_DEBUG_OBJECT (pad, "event %" GST_PTR_FORMAT, event);
  switch (GST_EVENT_TYPE (event)) {
  case GST_EVENT_FLUSH_START:
    gst_mor_worker_flush_start (self->worker);
    return gst_pad_event_default (pad, parent, event);
  case GST_EVENT_FLUSH_STOP:
    gst_mor_worker_flush_stop (self->worker);
    self->active = FALSE;
    g_atomic_int_set (&self->flow, GST_FLOW_OK);
    return gst_pad_event_default (pad, parent, event);
  case GST_EVENT_CAPS: {
    GstCaps *caps;
    gint dim = -1;
    gst_event_parse_caps (event, &caps);
    if (!gst_structure_get_int (gst_caps_get_structure (caps, 0), "dim", &dim) || dim != (gint) self->dim) {
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Token records of dimension %d do not fit the talker, whose "
                         "input rows have %u (the thinker and talker must come from one model)", dim, self->dim),
                         ("caps %" GST_PTR_FORMAT, caps));
      gst_event_unref (event);
      return FALSE;
    }
    break;
  }
  case GST_EVENT_EOS:
    kind = ITEM_EOS;
    break;
  default:
    if (gst_mor_event_get_mor_type (event) == GST_MOR_EVENT_ANSWER_END) {
      kind = ITEM_ANSWER_END;
    } else if (gst_mor_event_get_mor_type (event) == GST_MOR_EVENT_INTERRUPT) {
      /* Counted as a start: the worker leaves the answer at once and drops the records before it. */
      return gst_mor_worker_push (self->worker, ITEM_INTERRUPT, event, NULL, TRUE);
    } else if (!GST_EVENT_IS_SERIALIZED (event)) {
      return gst_pad_event_default (pad, parent, event);
    }
    break;
  }
  return gst_mor_worker_push (self->worker, kind, event, NULL, FALSE);
}

/* ---- queries ---- */

static gboolean
gst_mor_talker_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstMorTalker *self = GST_MOR_TALKER (parent);
  switch (GST_QUERY_TYPE (query)) {
  case GST_QUERY_CONTEXT:
    if (gst_mor_element_handle_context_query (GST_ELEMENT (self), query, self->dev))
      return TRUE;
    break;
  case GST_QUERY_CAPS:
    if (pad == self->sinkpad && self->dim) {
      /* With a model loaded, records must have its row width. */
      GstCaps *filter, *caps = gst_caps_new_simple (GST_MOR_TOKENS_CAPS, "dim", G_TYPE_INT, (gint) self->dim,
                                                    "stream", G_TYPE_STRING, "response", NULL);
      gst_query_parse_caps (query, &filter);
      if (filter) {
        GstCaps *c = gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST);
        gst_caps_unref (caps);
        caps = c;
      }
      gst_query_set_caps_result (query, caps);
      gst_caps_unref (caps);
      return TRUE;
    }
    break;
  case GST_QUERY_LATENCY:
    if (pad != self->sinkpad) {
      /* Upstream's, plus the element's own when upstream is live. */
      gboolean live;
      GstClockTime min, max;
      if (!gst_pad_peer_query (self->sinkpad, query))
        return FALSE;
      gst_query_parse_latency (query, &live, &min, &max);
      if (live) {
        GST_OBJECT_LOCK (self);
        GstClockTime own = self->latency_ms * GST_MSECOND;
        GST_OBJECT_UNLOCK (self);
        gst_query_set_latency (query, live, min + own, GST_CLOCK_TIME_IS_VALID (max) ? max + own : max);
      }
      return TRUE;
    }
    break;
  default:
    break;
  }
  return gst_pad_query_default (pad, parent, query);
}
