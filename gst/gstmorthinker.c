/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* morthinker: the thinker LLM with thinking-in-speaking (p:q) interleave. */
/**
 * SECTION:element-morthinker
 * @title: morthinker
 *
 * Answers each utterance with the thinker of a Qwen2.5-Omni (or
 * Mini-Omni-Reasoner) model. Generation runs in cycles of p response tokens
 * then q reasoning tokens (docs/interleave.md); response tokens go out on the
 * `response` pad (for mortalker, subtitles, overlays), reasoning tokens on the
 * `reasoning` pad. Each pad offers `text/x-raw, format=utf8` (with a
 * MorTokenMeta per buffer: token-ids, cycles, slots, log-probs, stream, answer)
 * and `application/x-mor-tokens` (token records, docs/elements.md).
 *
 * The sink takes `application/x-mor-embeddings` from morencoder (prefilled
 * as they arrive; `mor/utterance-start` and `mor/utterance-end` events
 * delimit an utterance) or `text/x-raw, format=utf8` (each buffer is a typed
 * question unless it lies between utterance events).
 *
 * After each answer the element posts an element message `morthinker/answer`:
 * answer (uint), prompt-tokens (uint), prefill-ms (double), first-token-ms
 * (double: utterance end to the first response token, -1 if none),
 * tokens-per-second (double, every step counted), response-tokens,
 * reasoning-tokens, pad-tokens (uint), end-reason (string: streams-ended,
 * end-token, max-tokens, context, interrupted), schedule (string), ratio
 * (string "p:q"). Model loading is announced with PROGRESS messages (code
 * "loading").
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 -e filesrc location=question.txt ! text/x-raw,format=utf8 ! morthinker model=thinker.gguf name=t \
 *     t.response ! queue ! fdsink  t.reasoning ! queue ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstmorthinker.h"

#include <gst/base/gstflowcombiner.h>
#include <string.h>

#include "gstmorelement.h"
#include "gstmorrecord.h"
#include "interleave.h"

GST_DEBUG_CATEGORY_STATIC (gst_mor_thinker_debug);
#define GST_CAT_DEFAULT gst_mor_thinker_debug

#define SINK_CAPS GST_MOR_EMBEDDINGS_CAPS ", dim=(int)[1, MAX]; " GST_MOR_TEXT_CAPS
#define SRC_CAPS(stream) GST_MOR_TEXT_CAPS "; " GST_MOR_TOKENS_CAPS ", dim=(int)[1, MAX], stream=(string)" stream

static GstStaticPadTemplate sink_template =
  GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (SINK_CAPS));
static GstStaticPadTemplate response_template =
  GST_STATIC_PAD_TEMPLATE ("response", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (SRC_CAPS ("response")));
static GstStaticPadTemplate reasoning_template =
  GST_STATIC_PAD_TEMPLATE ("reasoning", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (SRC_CAPS ("reasoning")));

/* Qwen2.5-Omni's system prompt for speech output (reference qwen2.5-omni.md §4). */
#define QWEN_SPEECH_SYSTEM                                                                                   \
  "You are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable of perceiving auditory " \
  "and visual inputs, as well as generating text and speech."

enum {
  PROP_0,
  PROP_MODEL,
  PROP_DEVICE,
  PROP_CONTEXT_SIZE,
  PROP_RESPONSE_TOKENS,
  PROP_REASONING_TOKENS,
  PROP_RATIO,
  PROP_SCHEDULE,
  PROP_RESPONSE_END,
  PROP_REASONING_END,
  PROP_RESPONSE_PAD,
  PROP_REASONING_PAD,
  PROP_MAX_TOKENS,
  PROP_TEMPERATURE,
  PROP_TOP_K,
  PROP_TOP_P,
  PROP_REPETITION_PENALTY,
  PROP_SEED,
  PROP_SYSTEM_PROMPT,
  PROP_TEXT_MODE,
  PROP_BARGE_IN,
  PROP_LATENCY,
  PROP_STATS,
};

#define DEFAULT_CONTEXT_SIZE 4096
#define DEFAULT_RATIO_PART -1
#define DEFAULT_SCHEDULE MOR_INTERLEAVE_AUTO
#define DEFAULT_MAX_TOKENS 1024
#define DEFAULT_TEMPERATURE 0.7f
#define DEFAULT_TOP_K 50
#define DEFAULT_TOP_P 0.8f
#define DEFAULT_REPETITION_PENALTY 1.05f
#define DEFAULT_SEED 0
#define DEFAULT_SYSTEM_PROMPT QWEN_SPEECH_SYSTEM
#define DEFAULT_TEXT_MODE GST_MOR_THINKER_TEXT_TOKEN
#define DEFAULT_BARGE_IN TRUE
#define DEFAULT_LATENCY_MS 100

/* Nominal time of one step (one token of either stream): output timestamps
 * advance by at least this much a step (docs/elements.md, Timestamps). */
#define STEP_DURATION (40 * GST_MSECOND)
/* Items the sink may queue ahead of the worker (about 40 s of 40 ms buffers). */
#define MAX_QUEUED 1024

enum { CONTROL_RESPONSE_END, CONTROL_REASONING_END, CONTROL_RESPONSE_PAD, CONTROL_REASONING_PAD, N_CONTROL };
#define N_STREAMS 2

typedef enum { ITEM_EVENT, ITEM_ROWS, ITEM_TEXT, ITEM_UTTERANCE_START, ITEM_UTTERANCE_END, ITEM_EOS } ItemKind;

typedef struct {
  ItemKind kind;
  GstEvent *event;
  GstBuffer *buffer;
} Item;

/* Per src pad output state (worker thread only). */
typedef struct {
  GstPad *pad;
  gboolean tokens;               /* negotiated application/x-mor-tokens (else text) */
  gboolean started;              /* stream-start sent */
  GstClockTime position;         /* end of the last buffer or gap (stream time) */
  MorTokenizerStream *decoder;
  GString *text;                 /* text not sent yet (cumulative: the whole answer's) */
  GArray *ids, *cycles, *slots;  /* tokens of the pending text */
  GArray *logprobs;
  guint32 count;                 /* tokens emitted this answer */
} Out;

struct _GstMorThinker {
  GstElement parent;
  GstPad *sinkpad;
  Out out[N_STREAMS];

  /* properties, under the object lock */
  char *model, *device, *system_prompt, *control[N_CONTROL];
  guint context_size, max_tokens, top_k, latency_ms;
  gint response_tokens, reasoning_tokens;
  MorInterleaveSchedule schedule;
  float temperature, top_p, repetition_penalty;
  guint64 seed;
  GstMorThinkerTextMode text_mode;
  gboolean barge_in;
  guint64 st_answers, st_interrupted, st_tokens[N_STREAMS], st_pads;
  double st_first_token_ms, st_tokens_per_second;

  /* the model, from READY→PAUSED to PAUSED→READY */
  MorVkDevice *dev;
  MorGguf *gguf;
  MorLlm *llm;
  MorTokenizer *tok;
  MorLlmSession *session;
  MorInterleaveConfig model_config;
  guint32 dim, vocab;
  gint32 audio_id;

  /* worker hand-off, under lock */
  GMutex lock;
  GCond cond;
  GQueue queue;
  guint pending_starts;          /* queued items that begin a new utterance */
  gboolean flushing, stopping, busy, in_answer;
  GstFlowReturn flow;            /* the combined flow of the last push */
  GThread *thread;
  gboolean sink_is_text;         /* streaming thread */

  /* worker thread only */
  GstFlowCombiner *combiner;
  GstSegment segment;
  GstClockTime timeline;         /* latest time seen, input or output (stream time) */
  char *prefix_system;           /* the system prompt the cached prefix was made with */
  guint32 n_prefix;              /* positions of the cached prompt head */
  GArray *p_ids, *p_hidden, *p_embed;  /* rows of the prompt so far: ids, hidden, embeddings */
  gboolean utt_open, utt_explicit, utt_audio, utt_failed;
  double prefill_ms;
  gint64 utt_end_us;
  guint32 answer_no;
};

static GType gst_mor_thinker_schedule_get_type (void);
static GType gst_mor_thinker_text_mode_get_type (void);

#define gst_mor_thinker_parent_class parent_class
G_DEFINE_TYPE_WITH_CODE (GstMorThinker, gst_mor_thinker, GST_TYPE_ELEMENT,
                         GST_DEBUG_CATEGORY_INIT (gst_mor_thinker_debug, "morthinker", 0, "mor thinker"));
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (morthinker, "morthinker", GST_RANK_NONE, GST_TYPE_MOR_THINKER,
                                       gst_mor_element_init (plugin));

static void gst_mor_thinker_finalize (GObject *object);
static void gst_mor_thinker_set_property (GObject *object, guint id, const GValue *value, GParamSpec *pspec);
static void gst_mor_thinker_get_property (GObject *object, guint id, GValue *value, GParamSpec *pspec);
static GstStateChangeReturn gst_mor_thinker_change_state (GstElement *element, GstStateChange transition);
static void gst_mor_thinker_set_context (GstElement *element, GstContext *context);
static GstFlowReturn gst_mor_thinker_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer);
static gboolean gst_mor_thinker_sink_event (GstPad *pad, GstObject *parent, GstEvent *event);
static gboolean gst_mor_thinker_sink_query (GstPad *pad, GstObject *parent, GstQuery *query);
static gboolean gst_mor_thinker_src_query (GstPad *pad, GstObject *parent, GstQuery *query);
static gpointer worker (gpointer data);

static GType
gst_mor_thinker_schedule_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { MOR_INTERLEAVE_AUTO, "Interleaved if the model names its control tokens, else speak-only", "auto" },
    { MOR_INTERLEAVE_INTERLEAVED, "Cycles of p response then q reasoning tokens", "interleaved" },
    { MOR_INTERLEAVE_THINK_FIRST, "All reasoning, then the response (the paper's baseline)", "think-first" },
    { MOR_INTERLEAVE_SPEAK_ONLY, "Response tokens only", "speak-only" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstMorThinkerSchedule", values));
  return type;
}

static GType
gst_mor_thinker_text_mode_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { GST_MOR_THINKER_TEXT_TOKEN, "A buffer per token", "token" },
    { GST_MOR_THINKER_TEXT_WORD, "A buffer per word", "word" },
    { GST_MOR_THINKER_TEXT_LINE, "A buffer per line", "line" },
    { GST_MOR_THINKER_TEXT_CUMULATIVE, "The whole text so far, a buffer per token", "cumulative" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstMorThinkerTextMode", values));
  return type;
}

static void
gst_mor_thinker_class_init (GstMorThinkerClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;
  const GParamFlags ready = rw | GST_PARAM_MUTABLE_READY, playing = rw | GST_PARAM_MUTABLE_PLAYING;

  gobject_class->finalize = gst_mor_thinker_finalize;
  gobject_class->set_property = gst_mor_thinker_set_property;
  gobject_class->get_property = gst_mor_thinker_get_property;

  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model", "Thinker GGUF file (llama.cpp layout, optional mor.interleave.* keys)",
                           NULL, ready));
  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_string ("device", "Device", "Vulkan device index or name substring (NULL: the pipeline's "
                           "mor.vulkan.device context, MOR_VK_DEVICE, or the best device)", NULL, ready));
  g_object_class_install_property (gobject_class, PROP_CONTEXT_SIZE,
      g_param_spec_uint ("context-size", "Context size", "Positions of the KV cache: system prompt, utterance "
                         "and answer (capped at the model's context length)", 64, 1 << 20, DEFAULT_CONTEXT_SIZE,
                         ready));
  /**
   * GstMorThinker:response-tokens:
   *
   * p: response tokens a cycle. -1 takes the model's mor.interleave.response_tokens
   * (2 when the model has none). Applies from the next answer; so do all
   * properties marked changeable in PLAYING.
   */
  g_object_class_install_property (gobject_class, PROP_RESPONSE_TOKENS,
      g_param_spec_int ("response-tokens", "Response tokens", "p: response tokens a cycle (-1: the model's, "
                        "else 2)", -1, 9999, DEFAULT_RATIO_PART, playing));
  g_object_class_install_property (gobject_class, PROP_REASONING_TOKENS,
      g_param_spec_int ("reasoning-tokens", "Reasoning tokens", "q: reasoning tokens a cycle (-1: the model's, "
                        "else 8; 0: no reasoning)", -1, 9999, DEFAULT_RATIO_PART, playing));
  /**
   * GstMorThinker:ratio:
   *
   * "p:q" sets response-tokens and reasoning-tokens together; "" sets both to
   * -1. Anything else is refused with a warning and changes nothing. Reads
   * "" unless both are set.
   */
  g_object_class_install_property (gobject_class, PROP_RATIO,
      g_param_spec_string ("ratio", "Ratio", "\"p:q\": response and reasoning tokens a cycle (\"\": the model's)",
                           "", playing));
  g_object_class_install_property (gobject_class, PROP_SCHEDULE,
      g_param_spec_enum ("schedule", "Schedule", "How response and reasoning tokens take turns",
                         gst_mor_thinker_schedule_get_type (), DEFAULT_SCHEDULE, playing));
  const char *control_names[N_CONTROL] = { "response-end", "reasoning-end", "response-pad", "reasoning-pad" };
  const char *control_blurbs[N_CONTROL] = {
    "Token ending the response (vocabulary text, NULL: the model's)",
    "Token ending the reasoning (vocabulary text, NULL: the model's)",
    "Token filling response slots after the response ended (vocabulary text, NULL: the model's)",
    "Token filling reasoning slots after the reasoning ended (vocabulary text, NULL: the model's)",
  };
  for (guint i = 0; i < N_CONTROL; i++)
    g_object_class_install_property (gobject_class, PROP_RESPONSE_END + i,
        g_param_spec_string (control_names[i], control_names[i], control_blurbs[i], NULL, playing));
  g_object_class_install_property (gobject_class, PROP_MAX_TOKENS,
      g_param_spec_uint ("max-tokens", "Max tokens", "Steps an answer may take, both streams and pads counted",
                         1, G_MAXINT, DEFAULT_MAX_TOKENS, playing));
  g_object_class_install_property (gobject_class, PROP_TEMPERATURE,
      g_param_spec_float ("temperature", "Temperature", "Sampling temperature (0: greedy)", 0.0f, 100.0f,
                          DEFAULT_TEMPERATURE, playing));
  g_object_class_install_property (gobject_class, PROP_TOP_K,
      g_param_spec_uint ("top-k", "Top k", "Sample among the k most likely tokens (0: all)", 0, G_MAXINT,
                         DEFAULT_TOP_K, playing));
  g_object_class_install_property (gobject_class, PROP_TOP_P,
      g_param_spec_float ("top-p", "Top p", "Sample among the most likely tokens holding this mass (1: all)",
                          1e-6f, 1.0f, DEFAULT_TOP_P, playing));
  g_object_class_install_property (gobject_class, PROP_REPETITION_PENALTY,
      g_param_spec_float ("repetition-penalty", "Repetition penalty", "Penalty of tokens already in the prompt "
                          "or answer (1: none)", 0.01f, 100.0f, DEFAULT_REPETITION_PENALTY, playing));
  g_object_class_install_property (gobject_class, PROP_SEED,
      g_param_spec_uint64 ("seed", "Seed", "Random seed; every answer samples from it afresh", 0, G_MAXUINT64,
                           DEFAULT_SEED, playing));
  g_object_class_install_property (gobject_class, PROP_SYSTEM_PROMPT,
      g_param_spec_string ("system-prompt", "System prompt", "System message of the chat template (applies "
                           "from the next utterance)", DEFAULT_SYSTEM_PROMPT, playing));
  g_object_class_install_property (gobject_class, PROP_TEXT_MODE,
      g_param_spec_enum ("text-mode", "Text mode", "What one text buffer holds (textoverlay shows one buffer "
                         "at a time)", gst_mor_thinker_text_mode_get_type (), DEFAULT_TEXT_MODE, playing));
  g_object_class_install_property (gobject_class, PROP_BARGE_IN,
      g_param_spec_boolean ("barge-in", "Barge-in", "A new utterance stops the answer in progress and sends "
                            "mor/interrupt (FALSE: it waits for the answer to end)", DEFAULT_BARGE_IN, playing));
  g_object_class_install_property (gobject_class, PROP_LATENCY,
      g_param_spec_uint ("latency", "Latency", "Milliseconds added to the upstream latency when upstream is live",
                         0, 60000, DEFAULT_LATENCY_MS, playing));
  /**
   * GstMorThinker:stats:
   *
   * Read-only totals: answers, interrupted (uint64), response-tokens,
   * reasoning-tokens, pad-tokens (uint64), and of the last answer
   * first-token-ms and tokens-per-second (double).
   */
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics", "Totals and the last answer's figures", GST_TYPE_STRUCTURE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &response_template);
  gst_element_class_add_static_pad_template (element_class, &reasoning_template);
  gst_element_class_set_static_metadata (element_class, "mor thinker", "Filter/Text/Metadata",
      "Answers utterances with a thinking-in-speaking LLM: response and reasoning tokens on two pads",
      "mor developers");
  element_class->change_state = GST_DEBUG_FUNCPTR (gst_mor_thinker_change_state);
  element_class->set_context = GST_DEBUG_FUNCPTR (gst_mor_thinker_set_context);
  gst_type_mark_as_plugin_api (gst_mor_thinker_schedule_get_type (), 0);
  gst_type_mark_as_plugin_api (gst_mor_thinker_text_mode_get_type (), 0);
}

static void
gst_mor_thinker_init (GstMorThinker *self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_mor_thinker_chain));
  gst_pad_set_event_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_mor_thinker_sink_event));
  gst_pad_set_query_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_mor_thinker_sink_query));
  /* Any dim is accepted so that a wrong one reaches the CAPS event and gets an error naming it. */
  GST_PAD_SET_ACCEPT_TEMPLATE (self->sinkpad);
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);
  GstStaticPadTemplate *templates[N_STREAMS] = { &response_template, &reasoning_template };
  self->combiner = gst_flow_combiner_new ();
  for (guint i = 0; i < N_STREAMS; i++) {
    Out *o = &self->out[i];
    o->pad = gst_pad_new_from_static_template (templates[i], templates[i]->name_template);
    gst_pad_set_query_function (o->pad, GST_DEBUG_FUNCPTR (gst_mor_thinker_src_query));
    gst_pad_use_fixed_caps (o->pad);
    gst_element_add_pad (GST_ELEMENT (self), o->pad);
    gst_flow_combiner_add_pad (self->combiner, o->pad);
    o->text = g_string_new (NULL);
    o->ids = g_array_new (FALSE, FALSE, sizeof (gint));
    o->cycles = g_array_new (FALSE, FALSE, sizeof (guint));
    o->slots = g_array_new (FALSE, FALSE, sizeof (guint));
    o->logprobs = g_array_new (FALSE, FALSE, sizeof (float));
  }
  self->context_size = DEFAULT_CONTEXT_SIZE;
  self->response_tokens = self->reasoning_tokens = DEFAULT_RATIO_PART;
  self->schedule = DEFAULT_SCHEDULE;
  self->max_tokens = DEFAULT_MAX_TOKENS;
  self->temperature = DEFAULT_TEMPERATURE;
  self->top_k = DEFAULT_TOP_K;
  self->top_p = DEFAULT_TOP_P;
  self->repetition_penalty = DEFAULT_REPETITION_PENALTY;
  self->seed = DEFAULT_SEED;
  self->system_prompt = g_strdup (DEFAULT_SYSTEM_PROMPT);
  self->text_mode = DEFAULT_TEXT_MODE;
  self->barge_in = DEFAULT_BARGE_IN;
  self->latency_ms = DEFAULT_LATENCY_MS;
  self->st_first_token_ms = -1;
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  g_queue_init (&self->queue);
  self->p_ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  self->p_hidden = g_array_new (FALSE, FALSE, sizeof (float));
  self->p_embed = g_array_new (FALSE, FALSE, sizeof (float));
}

static void
gst_mor_thinker_finalize (GObject *object)
{
  GstMorThinker *self = GST_MOR_THINKER (object);
  g_free (self->model);
  g_free (self->device);
  g_free (self->system_prompt);
  for (guint i = 0; i < N_CONTROL; i++)
    g_free (self->control[i]);
  for (guint i = 0; i < N_STREAMS; i++) {
    Out *o = &self->out[i];
    g_string_free (o->text, TRUE);
    g_array_unref (o->ids);
    g_array_unref (o->cycles);
    g_array_unref (o->slots);
    g_array_unref (o->logprobs);
  }
  gst_flow_combiner_free (self->combiner);
  g_array_unref (self->p_ids);
  g_array_unref (self->p_hidden);
  g_array_unref (self->p_embed);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_mor_thinker_set_property (GObject *object, guint id, const GValue *value, GParamSpec *pspec)
{
  GstMorThinker *self = GST_MOR_THINKER (object);
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
  case PROP_CONTEXT_SIZE:
    self->context_size = g_value_get_uint (value);
    break;
  case PROP_RESPONSE_TOKENS:
    self->response_tokens = g_value_get_int (value);
    break;
  case PROP_REASONING_TOKENS:
    self->reasoning_tokens = g_value_get_int (value);
    break;
  case PROP_RATIO: {
    const char *ratio = g_value_get_string (value);
    guint32 p, q;
    if (!ratio || !*ratio) {
      self->response_tokens = self->reasoning_tokens = -1;
    } else if (mor_interleave_parse_ratio (ratio, &p, &q)) {
      self->response_tokens = p;
      self->reasoning_tokens = q;
    } else {
      GST_OBJECT_UNLOCK (self);
      g_warning ("morthinker %s: ratio “%s” refused: expected “p:q” with p ≥ 1 and q ≥ 0 (up to 4 digits "
                 "each); the ratio stays as it was", GST_OBJECT_NAME (self), ratio);
      return;
    }
    break;
  }
  case PROP_SCHEDULE:
    self->schedule = g_value_get_enum (value);
    break;
  case PROP_RESPONSE_END:
  case PROP_REASONING_END:
  case PROP_RESPONSE_PAD:
  case PROP_REASONING_PAD:
    g_free (self->control[id - PROP_RESPONSE_END]);
    self->control[id - PROP_RESPONSE_END] = g_value_dup_string (value);
    break;
  case PROP_MAX_TOKENS:
    self->max_tokens = g_value_get_uint (value);
    break;
  case PROP_TEMPERATURE:
    self->temperature = g_value_get_float (value);
    break;
  case PROP_TOP_K:
    self->top_k = g_value_get_uint (value);
    break;
  case PROP_TOP_P:
    self->top_p = g_value_get_float (value);
    break;
  case PROP_REPETITION_PENALTY:
    self->repetition_penalty = g_value_get_float (value);
    break;
  case PROP_SEED:
    self->seed = g_value_get_uint64 (value);
    break;
  case PROP_SYSTEM_PROMPT:
    g_free (self->system_prompt);
    self->system_prompt = g_value_dup_string (value);
    break;
  case PROP_TEXT_MODE:
    self->text_mode = g_value_get_enum (value);
    break;
  case PROP_BARGE_IN:
    self->barge_in = g_value_get_boolean (value);
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
gst_mor_thinker_get_property (GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
  GstMorThinker *self = GST_MOR_THINKER (object);
  GST_OBJECT_LOCK (self);
  switch (id) {
  case PROP_MODEL:
    g_value_set_string (value, self->model);
    break;
  case PROP_DEVICE:
    g_value_set_string (value, self->device);
    break;
  case PROP_CONTEXT_SIZE:
    g_value_set_uint (value, self->context_size);
    break;
  case PROP_RESPONSE_TOKENS:
    g_value_set_int (value, self->response_tokens);
    break;
  case PROP_REASONING_TOKENS:
    g_value_set_int (value, self->reasoning_tokens);
    break;
  case PROP_RATIO:
    if (self->response_tokens >= 1 && self->reasoning_tokens >= 0)
      g_value_take_string (value, g_strdup_printf ("%d:%d", self->response_tokens, self->reasoning_tokens));
    else
      g_value_set_string (value, "");
    break;
  case PROP_SCHEDULE:
    g_value_set_enum (value, self->schedule);
    break;
  case PROP_RESPONSE_END:
  case PROP_REASONING_END:
  case PROP_RESPONSE_PAD:
  case PROP_REASONING_PAD:
    g_value_set_string (value, self->control[id - PROP_RESPONSE_END]);
    break;
  case PROP_MAX_TOKENS:
    g_value_set_uint (value, self->max_tokens);
    break;
  case PROP_TEMPERATURE:
    g_value_set_float (value, self->temperature);
    break;
  case PROP_TOP_K:
    g_value_set_uint (value, self->top_k);
    break;
  case PROP_TOP_P:
    g_value_set_float (value, self->top_p);
    break;
  case PROP_REPETITION_PENALTY:
    g_value_set_float (value, self->repetition_penalty);
    break;
  case PROP_SEED:
    g_value_set_uint64 (value, self->seed);
    break;
  case PROP_SYSTEM_PROMPT:
    g_value_set_string (value, self->system_prompt);
    break;
  case PROP_TEXT_MODE:
    g_value_set_enum (value, self->text_mode);
    break;
  case PROP_BARGE_IN:
    g_value_set_boolean (value, self->barge_in);
    break;
  case PROP_LATENCY:
    g_value_set_uint (value, self->latency_ms);
    break;
  case PROP_STATS:
    g_value_take_boxed (value, gst_structure_new ("morthinker/stats",
        "answers", G_TYPE_UINT64, self->st_answers, "interrupted", G_TYPE_UINT64, self->st_interrupted,
        "response-tokens", G_TYPE_UINT64, self->st_tokens[0], "reasoning-tokens", G_TYPE_UINT64,
        self->st_tokens[1], "pad-tokens", G_TYPE_UINT64, self->st_pads, "first-token-ms", G_TYPE_DOUBLE,
        self->st_first_token_ms, "tokens-per-second", G_TYPE_DOUBLE, self->st_tokens_per_second, NULL));
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
    break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_mor_thinker_set_context (GstElement *element, GstContext *context)
{
  GstMorThinker *self = GST_MOR_THINKER (element);
  gst_mor_element_set_context (element, context, &self->dev);
  GST_ELEMENT_CLASS (parent_class)->set_context (element, context);
}

/* ---- state changes ---- */

static void
item_free (Item *item)
{
  gst_clear_event (&item->event);
  gst_clear_buffer (&item->buffer);
  g_free (item);
}

/* Under lock. */
static void
clear_queue (GstMorThinker *self)
{
  Item *item;
  while ((item = g_queue_pop_head (&self->queue)))
    item_free (item);
  self->pending_starts = 0;
}

#define PROGRESS(self, type, text) \
  gst_element_post_message (GST_ELEMENT (self), \
                            gst_message_new_progress (GST_OBJECT (self), type, "loading", text))

/* Opens the device and model and makes the session; posts the error. */
static gboolean
start (GstMorThinker *self)
{
  g_autoptr (GError) error = NULL;
  GST_OBJECT_LOCK (self);
  g_autofree char *path = g_strdup (self->model), *device = g_strdup (self->device);
  guint context_size = self->context_size;
  GST_OBJECT_UNLOCK (self);
  if (!path) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND, ("No model file: set the “model” property"), (NULL));
    return FALSE;
  }
  PROGRESS (self, GST_PROGRESS_TYPE_START, g_strdup_printf ("Loading %s", path));
  if (!gst_mor_element_ensure_device (GST_ELEMENT (self), device, &self->dev, &error)) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND, ("No Vulkan device for morthinker"), ("%s", error->message));
    goto failed;
  }
  if (!(self->gguf = mor_gguf_open (path, &error))) {
    gboolean missing = g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT) ||
                       !g_file_test (path, G_FILE_TEST_EXISTS);
    if (missing)
      GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND, ("Model file “%s” not found", path), ("%s", error->message));
    else
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ, ("Model file “%s” cannot be read: %s", path, error->message),
                         ("%s", error->message));
    goto failed;
  }
  if (!(self->tok = mor_tokenizer_new_from_gguf (self->gguf, &error)) ||
      !(self->llm = mor_llm_load (self->dev, self->gguf, &error)) ||
      !mor_interleave_config_from_gguf (self->gguf, self->tok, &self->model_config, &error)) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ, ("Model file “%s” is not a thinker mor can run: %s", path,
                       error->message), ("%s", error->message));
    goto failed;
  }
  const MorLlmConfig *c = mor_llm_get_config (self->llm);
  self->dim = c->hidden_size;
  self->vocab = c->vocab_size;
  self->audio_id = mor_tokenizer_find_token (self->tok, "<|AUDIO|>", -1);
  if (!(self->session = mor_llm_session_new (self->llm, MIN (context_size, c->max_position_embeddings), &error))) {
    GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT, ("Cannot make a thinker session of %u positions",
                       context_size), ("%s", error->message));
    goto failed;
  }
  PROGRESS (self, GST_PROGRESS_TYPE_COMPLETE, g_strdup_printf ("Loaded %s", path));
  return TRUE;

failed:
  PROGRESS (self, GST_PROGRESS_TYPE_ERROR, g_strdup_printf ("Failed to load %s", path));
  return FALSE;
}

static void
stop (GstMorThinker *self)
{
  g_clear_pointer (&self->session, mor_llm_session_free);
  g_clear_pointer (&self->llm, mor_llm_free);
  g_clear_pointer (&self->tok, mor_tokenizer_unref);
  g_clear_pointer (&self->gguf, mor_gguf_unref);
  g_clear_pointer (&self->dev, mor_vk_device_unref);
  g_clear_pointer (&self->prefix_system, g_free);
  self->dim = 0;
  for (guint i = 0; i < N_STREAMS; i++)
    g_clear_pointer (&self->out[i].decoder, mor_tokenizer_stream_free);
}

static void
worker_start (GstMorThinker *self)
{
  g_mutex_lock (&self->lock);
  self->flushing = self->stopping = self->busy = self->in_answer = FALSE;
  self->flow = GST_FLOW_OK;
  g_mutex_unlock (&self->lock);
  gst_flow_combiner_reset (self->combiner);
  gst_segment_init (&self->segment, GST_FORMAT_TIME);
  self->timeline = 0;
  self->utt_open = FALSE;
  self->n_prefix = 0;
  for (guint i = 0; i < N_STREAMS; i++) {
    self->out[i].started = FALSE;
    self->out[i].position = GST_CLOCK_TIME_NONE;
    self->out[i].decoder = mor_tokenizer_stream_new (self->tok, FALSE);
  }
  self->thread = g_thread_new ("morthinker", worker, self);
}

static void
worker_stop (GstMorThinker *self)
{
  g_mutex_lock (&self->lock);
  self->stopping = self->flushing = TRUE;
  clear_queue (self);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  if (self->thread)
    g_thread_join (self->thread);
  self->thread = NULL;
  g_mutex_lock (&self->lock);
  clear_queue (self);
  g_mutex_unlock (&self->lock);
}

static GstStateChangeReturn
gst_mor_thinker_change_state (GstElement *element, GstStateChange transition)
{
  GstMorThinker *self = GST_MOR_THINKER (element);
  switch (transition) {
  case GST_STATE_CHANGE_READY_TO_PAUSED:
    if (!start (self)) {
      stop (self);
      return GST_STATE_CHANGE_FAILURE;
    }
    worker_start (self);
    break;
  case GST_STATE_CHANGE_PAUSED_TO_READY:
    /* Before the pads deactivate: the worker may be pushing. */
    worker_stop (self);
    break;
  default:
    break;
  }
  GstStateChangeReturn ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY || (transition == GST_STATE_CHANGE_READY_TO_PAUSED &&
                                                         ret == GST_STATE_CHANGE_FAILURE)) {
    worker_stop (self);
    stop (self);
  }
  return ret;
}

/* ---- output (worker thread) ---- */

/* The flow of a push, combined over both pads, kept for the chain function. */
static GstFlowReturn
combine (GstMorThinker *self, Out *o, GstFlowReturn ret)
{
  ret = gst_flow_combiner_update_pad_flow (self->combiner, o->pad, ret);
  g_mutex_lock (&self->lock);
  self->flow = ret;
  g_mutex_unlock (&self->lock);
  if (ret == GST_FLOW_ERROR || ret == GST_FLOW_NOT_NEGOTIATED)
    GST_ELEMENT_FLOW_ERROR (self, ret);
  return ret;
}

static void
push_event_all (GstMorThinker *self, GstEvent *event)
{
  for (guint i = 0; i < N_STREAMS; i++)
    gst_pad_push_event (self->out[i].pad, gst_event_ref (event));
  gst_event_unref (event);
}

static void
send_stream_start (GstMorThinker *self, GstEvent *upstream)
{
  guint group;
  gboolean have_group = upstream && gst_event_parse_group_id (upstream, &group);
  for (guint i = 0; i < N_STREAMS; i++) {
    Out *o = &self->out[i];
    g_autofree char *id = gst_pad_create_stream_id (o->pad, GST_ELEMENT (self), mor_interleave_stream_name (i));
    GstEvent *e = gst_event_new_stream_start (id);
    gst_event_set_stream_flags (e, GST_STREAM_FLAG_SPARSE);
    if (have_group)
      gst_event_set_group_id (e, group);
    gst_pad_push_event (o->pad, e);
    o->started = TRUE;
  }
}

/* Picks text or tokens for each pad from what downstream accepts; text when it takes either. */
static gboolean
negotiate (GstMorThinker *self)
{
  if (!self->out[0].started)
    send_stream_start (self, NULL);
  for (guint i = 0; i < N_STREAMS; i++) {
    Out *o = &self->out[i];
    g_autoptr (GstCaps) ours = gst_caps_from_string (GST_MOR_TEXT_CAPS);
    gst_caps_append (ours, gst_caps_new_simple (GST_MOR_TOKENS_CAPS, "dim", G_TYPE_INT, (gint) self->dim,
                                                "stream", G_TYPE_STRING, mor_interleave_stream_name (i), NULL));
    g_autoptr (GstCaps) peer = gst_pad_peer_query_caps (o->pad, ours);
    if (gst_caps_is_empty (peer)) {
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Downstream of the %s pad takes neither text nor tokens",
                         mor_interleave_stream_name (i)), ("peer caps: %" GST_PTR_FORMAT, peer));
      return FALSE;
    }
    GstCaps *caps = gst_caps_fixate (gst_caps_truncate (gst_caps_ref (peer)));
    o->tokens = gst_structure_has_name (gst_caps_get_structure (caps, 0), GST_MOR_TOKENS_CAPS);
    gst_pad_push_event (o->pad, gst_event_new_caps (caps));
    gst_caps_unref (caps);
  }
  return TRUE;
}

/* Fills each pad's time up to @t with a gap. */
static void
fill_gaps (GstMorThinker *self, GstClockTime t)
{
  if (!GST_CLOCK_TIME_IS_VALID (t))
    return;
  self->timeline = MAX (self->timeline, t);
  for (guint i = 0; i < N_STREAMS; i++) {
    Out *o = &self->out[i];
    if (!GST_CLOCK_TIME_IS_VALID (o->position))
      o->position = self->segment.start;
    if (o->position < t && gst_pad_has_current_caps (o->pad))
      gst_pad_push_event (o->pad, gst_event_new_gap (o->position, t - o->position));
    o->position = MAX (o->position, t);
  }
}

/* Stream time now, when upstream is live and we have a clock; else NONE. */
static GstClockTime
live_now (GstMorThinker *self, gboolean live)
{
  if (!live)
    return GST_CLOCK_TIME_NONE;
  GstClockTime rt = gst_element_get_current_running_time (GST_ELEMENT (self));
  if (!GST_CLOCK_TIME_IS_VALID (rt))
    return GST_CLOCK_TIME_NONE;
  return gst_segment_position_from_running_time (&self->segment, GST_FORMAT_TIME, rt);
}

static void
reset_pending (Out *o, gboolean keep_text)
{
  if (!keep_text)
    g_string_truncate (o->text, 0);
  g_array_set_size (o->ids, 0);
  g_array_set_size (o->cycles, 0);
  g_array_set_size (o->slots, 0);
  g_array_set_size (o->logprobs, 0);
}

static GValue *
array_value (GArray *a, GType type)
{
  GValue *v = g_new0 (GValue, 1);
  g_value_init (v, GST_TYPE_ARRAY);
  for (guint i = 0; i < a->len; i++) {
    GValue e = G_VALUE_INIT;
    g_value_init (&e, type);
    if (type == G_TYPE_INT)
      g_value_set_int (&e, g_array_index (a, gint, i));
    else if (type == G_TYPE_UINT)
      g_value_set_uint (&e, g_array_index (a, guint, i));
    else
      g_value_set_float (&e, g_array_index (a, float, i));
    gst_value_array_append_and_take_value (v, &e);
  }
  return v;
}

/* Pushes @len bytes of @text as a text buffer at [@pts, @pts + @duration) with
 * the meta of the pending tokens, which it clears. */
static GstFlowReturn
push_text (GstMorThinker *self, guint stream, const char *text, gsize len, GstClockTime pts, GstClockTime duration)
{
  Out *o = &self->out[stream];
  GstBuffer *buf = gst_buffer_new_memdup (text, len);
  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DURATION (buf) = duration;
  GstStructure *s = gst_mor_buffer_add_token_meta (buf);
  gst_structure_set (s, "stream", G_TYPE_STRING, mor_interleave_stream_name (stream), "answer", G_TYPE_UINT,
                     self->answer_no, NULL);
  struct { const char *name; GArray *a; GType type; } fields[] = {
    { "token-ids", o->ids, G_TYPE_INT }, { "cycles", o->cycles, G_TYPE_UINT },
    { "slots", o->slots, G_TYPE_UINT }, { "log-probs", o->logprobs, G_TYPE_FLOAT },
  };
  for (guint i = 0; i < G_N_ELEMENTS (fields); i++) {
    GValue *v = array_value (fields[i].a, fields[i].type);
    gst_structure_take_value (s, fields[i].name, v);
    g_free (v);
  }
  reset_pending (o, TRUE);
  o->position = MAX (o->position, pts + duration);
  return combine (self, o, gst_pad_push (o->pad, buf));
}

/* Sends the pending tokens' text (cumulative: the whole text so far) as one buffer. */
static GstFlowReturn
flush_pending (GstMorThinker *self, guint stream, GstMorThinkerTextMode mode, GstClockTime pts,
               GstClockTime duration)
{
  Out *o = &self->out[stream];
  if (o->ids->len == 0 || o->text->len == 0)
    return GST_FLOW_OK;
  GstFlowReturn ret = push_text (self, stream, o->text->str, o->text->len, pts, duration);
  if (mode != GST_MOR_THINKER_TEXT_CUMULATIVE)
    g_string_truncate (o->text, 0);
  return ret;
}

static gboolean
has_non_space (const GString *s)
{
  for (gsize i = 0; i < s->len; i++)
    if (!g_ascii_isspace (s->str[i]))
      return TRUE;
  return FALSE;
}

/* Adds a token of @piece to the stream's text and sends what its text mode has
 * complete: a token (once its characters are whole), the word that a piece
 * starting with a space ends, a line, or the whole text so far. */
static GstFlowReturn
add_token_text (GstMorThinker *self, guint stream, GstMorThinkerTextMode mode, const MorInterleaveToken *tk,
                const GString *piece, GstClockTime pts, GstClockTime duration)
{
  Out *o = &self->out[stream];
  GstFlowReturn ret = GST_FLOW_OK;
  if (mode == GST_MOR_THINKER_TEXT_WORD && piece->len && g_ascii_isspace (piece->str[0]) && has_non_space (o->text))
    ret = flush_pending (self, stream, mode, pts, duration);
  gint id = tk->id;
  g_array_append_val (o->ids, id);
  g_array_append_val (o->cycles, tk->slot.cycle);
  g_array_append_val (o->slots, tk->slot.slot);
  g_array_append_val (o->logprobs, tk->logprob);
  g_string_append_len (o->text, piece->str, piece->len);
  if (ret != GST_FLOW_OK && ret != GST_FLOW_NOT_LINKED)
    return ret;
  if ((mode == GST_MOR_THINKER_TEXT_TOKEN || mode == GST_MOR_THINKER_TEXT_CUMULATIVE) && piece->len)
    ret = flush_pending (self, stream, mode, pts, duration);
  else if (mode == GST_MOR_THINKER_TEXT_LINE && memchr (piece->str, '\n', piece->len))
    ret = flush_pending (self, stream, mode, pts, duration);
  return ret;
}

/* ---- the worker: prompt and answer ---- */

/* Prefills rows (token ids, or audio rows where @embeds is given) and keeps their
 * ids, hidden states and embeddings for the prompt record. */
static gboolean
prefill (GstMorThinker *self, const gint32 *ids, const float *embeds, guint32 n, GError **error)
{
  if (n == 0)
    return TRUE;
  g_autofree gboolean *is_embed = embeds ? g_new (gboolean, n) : NULL;
  g_autofree guint32 *row_ids = g_new (guint32, n);
  for (guint32 i = 0; i < n; i++) {
    row_ids[i] = embeds ? (guint32) MAX (self->audio_id, 0) : (guint32) ids[i];
    if (is_embed)
      is_embed[i] = TRUE;
  }
  gint64 t0 = g_get_monotonic_time ();
  if (!mor_llm_session_prefill (self->session, row_ids, embeds, is_embed, n, FALSE, error))
    return FALSE;
  self->prefill_ms += (g_get_monotonic_time () - t0) / 1000.0;
  for (guint32 i = 0; i < n; i++) {
    gint32 id = (gint32) row_ids[i];
    g_array_append_val (self->p_ids, id);
    g_array_append_vals (self->p_hidden, mor_llm_session_get_hidden (self->session, i), self->dim);
    g_array_append_vals (self->p_embed, mor_llm_session_get_embedding (self->session, i), self->dim);
  }
  return TRUE;
}

static gboolean
prefill_ids (GstMorThinker *self, GArray *ids, GError **error)
{
  return prefill (self, (const gint32 *) ids->data, NULL, ids->len, error);
}

/* A prompt that does not fit the context is dropped with a warning; other failures are errors. */
static void
prompt_failed (GstMorThinker *self, GError *error)
{
  if (g_error_matches (error, MOR_LLM_ERROR, MOR_LLM_ERROR_CONTEXT))
    GST_ELEMENT_WARNING (self, STREAM, FAILED, ("The utterance does not fit the context; it is dropped "
                         "(raise context-size)"), ("%s", error->message));
  else
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("The thinker failed on the prompt"), ("%s", error->message));
  self->utt_failed = TRUE;
}

/* Starts a prompt: the cached system head, re-made when the system prompt changed. */
static void
begin_utterance (GstMorThinker *self, gboolean explicit)
{
  g_autoptr (GError) error = NULL;
  GST_OBJECT_LOCK (self);
  g_autofree char *system = g_strdup (self->system_prompt);
  GST_OBJECT_UNLOCK (self);
  self->utt_open = TRUE;
  self->utt_explicit = explicit;
  self->utt_audio = self->utt_failed = FALSE;
  self->prefill_ms = 0;
  if (self->n_prefix == 0 || g_strcmp0 (system, self->prefix_system) != 0) {
    g_autoptr (GArray) head = g_array_new (FALSE, FALSE, sizeof (gint32));
    mor_llm_session_truncate (self->session, 0);
    g_array_set_size (self->p_ids, 0);
    g_array_set_size (self->p_hidden, 0);
    g_array_set_size (self->p_embed, 0);
    self->n_prefix = 0;
    if (!mor_interleave_prompt_head (self->tok, system, head, &error) || !prefill_ids (self, head, &error)) {
      prompt_failed (self, error);
      return;
    }
    self->n_prefix = head->len;
    g_free (self->prefix_system);
    self->prefix_system = g_steal_pointer (&system);
  }
  mor_llm_session_truncate (self->session, self->n_prefix);
  g_array_set_size (self->p_ids, self->n_prefix);
  g_array_set_size (self->p_hidden, (gsize) self->n_prefix * self->dim);
  g_array_set_size (self->p_embed, (gsize) self->n_prefix * self->dim);
}

static void
add_rows (GstMorThinker *self, GstBuffer *buf)
{
  g_autoptr (GError) error = NULL;
  GstMapInfo map;
  if (!self->utt_open)
    begin_utterance (self, FALSE);
  if (self->utt_failed || !gst_buffer_map (buf, &map, GST_MAP_READ))
    return;
  gsize row = (gsize) self->dim * sizeof (float);
  if (map.size % row != 0) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Embedding buffer of %" G_GSIZE_FORMAT " bytes is not a whole "
                       "number of %u-float rows", map.size, self->dim), (NULL));
    self->utt_failed = TRUE;
  } else {
    g_autoptr (GArray) bos = g_array_new (FALSE, FALSE, sizeof (gint32));
    if (!self->utt_audio && !(mor_interleave_prompt_audio (self->tok, FALSE, bos, &error) &&
                              prefill_ids (self, bos, &error)))
      prompt_failed (self, error);
    else if (!prefill (self, NULL, (const float *) map.data, map.size / row, &error))
      prompt_failed (self, error);
    self->utt_audio = TRUE;
  }
  gst_buffer_unmap (buf, &map);
}

static void
add_text (GstMorThinker *self, const char *text, gsize len)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  if (self->utt_failed)
    return;
  if ((self->utt_audio && !mor_interleave_prompt_audio (self->tok, TRUE, ids, &error)) ||
      !mor_tokenizer_encode (self->tok, text, len, FALSE, ids, &error) || !prefill_ids (self, ids, &error))
    prompt_failed (self, error);
  self->utt_audio = FALSE;
}

/* Under lock: whether the answer in progress must stop, and why (NULL: go on). */
static const char *
should_stop (GstMorThinker *self, gboolean barge_in)
{
  if (self->flushing || self->stopping)
    return "flushing";
  if (barge_in && self->pending_starts > 0)
    return "interrupted";
  return NULL;
}

static void post_answer (GstMorThinker *self, MorInterleave *il, const char *reason, guint32 n_prompt,
                         double first_ms, double tps, const MorInterleaveConfig *c);

/* The settings of this answer: the model's schedule with the properties over it. */
static gboolean
answer_config (GstMorThinker *self, MorInterleaveConfig *c, MorSamplerParams *sp, GstMorThinkerTextMode *mode,
               gboolean *barge_in, GError **error)
{
  *c = self->model_config;
  GST_OBJECT_LOCK (self);
  if (self->response_tokens >= 1)
    c->response_tokens = self->response_tokens;
  if (self->reasoning_tokens >= 0)
    c->reasoning_tokens = self->reasoning_tokens;
  c->schedule = self->schedule;
  c->max_tokens = self->max_tokens;
  *sp = (MorSamplerParams) { self->temperature, self->top_k, self->top_p, self->repetition_penalty, 0, self->seed };
  *mode = self->text_mode;
  *barge_in = self->barge_in;
  gint32 *ids[N_CONTROL] = { &c->response_end_id, &c->reasoning_end_id, &c->response_pad_id, &c->reasoning_pad_id };
  gboolean ok = TRUE;
  for (guint i = 0; ok && i < N_CONTROL; i++)
    if (self->control[i] && *self->control[i])
      ok = (*ids[i] = mor_interleave_token_id (self->tok, self->control[i], error)) >= 0;
  GST_OBJECT_UNLOCK (self);
  return ok && mor_interleave_config_resolve (c, self->vocab, error);
}

static void
answer (GstMorThinker *self)
{
  g_autoptr (GError) error = NULL;
  MorInterleaveConfig c;
  MorSamplerParams sp;
  GstMorThinkerTextMode mode;
  gboolean barge_in, live = FALSE;
  g_autoptr (GArray) tail = g_array_new (FALSE, FALSE, sizeof (gint32));

  self->utt_open = FALSE;
  if (self->utt_failed)
    return;
  if ((self->utt_audio && !mor_interleave_prompt_audio (self->tok, TRUE, tail, &error)) ||
      !mor_interleave_prompt_tail (self->tok, tail, &error) || !prefill_ids (self, tail, &error)) {
    prompt_failed (self, error);
    return;
  }
  if (!answer_config (self, &c, &sp, &mode, &barge_in, &error)) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("Cannot answer with these settings: %s", error->message),
                       (NULL));
    return;
  }
  GstQuery *q = gst_query_new_latency ();
  if (gst_pad_peer_query (self->sinkpad, q))
    gst_query_parse_latency (q, &live, NULL, NULL);
  gst_query_unref (q);
  for (guint i = 0; i < N_STREAMS; i++)
    if (gst_pad_check_reconfigure (self->out[i].pad) && !negotiate (self))
      return;

  g_autoptr (MorSampler) sampler = mor_sampler_new (self->vocab, &sp);
  guint32 n_prompt = self->p_ids->len;
  g_autoptr (MorInterleave) il = mor_interleave_new (&c, (const gint32 *) self->p_ids->data, n_prompt);
  GstClockTime now = live_now (self, live);
  GstClockTime t = GST_CLOCK_TIME_IS_VALID (now) ? MAX (self->timeline, now) : self->timeline;
  fill_gaps (self, t);
  GstFlowReturn ret = GST_FLOW_OK;
  for (guint i = 0; i < N_STREAMS; i++) {
    Out *o = &self->out[i];
    reset_pending (o, FALSE);
    o->count = 0;
    g_autoptr (GString) drop = g_string_new (NULL);
    mor_tokenizer_stream_flush (o->decoder, drop);
    if (o->tokens) {
      GstBuffer *buf = gst_mor_record_new_prompt (self->dim, self->answer_no, i, n_prompt,
                                                  (const gint32 *) self->p_ids->data,
                                                  (const float *) self->p_hidden->data,
                                                  (const float *) self->p_embed->data);
      GST_BUFFER_PTS (buf) = t;
      GST_BUFFER_DURATION (buf) = 0;
      ret = combine (self, o, gst_pad_push (o->pad, buf));
    }
  }

  g_mutex_lock (&self->lock);
  self->in_answer = TRUE;
  g_mutex_unlock (&self->lock);
  gint64 t_start = g_get_monotonic_time ();
  double first_ms = -1;
  const char *reason = NULL;
  GstClockTime step_t = t;
  g_autoptr (GString) piece = g_string_new (NULL);
  while (!mor_interleave_is_done (il) && (ret == GST_FLOW_OK || ret == GST_FLOW_NOT_LINKED)) {
    g_mutex_lock (&self->lock);
    reason = should_stop (self, barge_in);
    g_mutex_unlock (&self->lock);
    if (reason)
      break;
    MorInterleaveToken tk;
    if (!mor_interleave_step (il, self->session, sampler, &tk, &error)) {
      GST_ELEMENT_ERROR (self, STREAM, FAILED, ("The thinker failed while answering"), ("%s", error->message));
      reason = "error";
      break;
    }
    now = live_now (self, live);
    if (tk.slot.step > 0)
      step_t += STEP_DURATION;
    if (GST_CLOCK_TIME_IS_VALID (now))
      step_t = MAX (step_t, now);
    fill_gaps (self, step_t);
    if (!tk.emit)
      continue;
    Out *o = &self->out[tk.slot.stream];
    GstClockTime dur = tk.slot.next_in * STEP_DURATION;
    if (tk.slot.stream == MOR_INTERLEAVE_RESPONSE && first_ms < 0)
      first_ms = (g_get_monotonic_time () - self->utt_end_us) / 1000.0;
    g_string_truncate (piece, 0);
    mor_tokenizer_stream_push (o->decoder, tk.id, piece);
    if (o->tokens) {
      GstBuffer *buf = gst_mor_record_new_token (self->dim, self->answer_no, tk.slot.stream, o->count,
                                                 tk.slot.cycle, tk.slot.slot, tk.id, tk.logprob, tk.hidden,
                                                 tk.embedding, piece->str, piece->len);
      GST_BUFFER_PTS (buf) = step_t;
      GST_BUFFER_DURATION (buf) = dur;
      o->position = MAX (o->position, step_t + dur);
      ret = combine (self, o, gst_pad_push (o->pad, buf));
    } else {
      ret = add_token_text (self, tk.slot.stream, mode, &tk, piece, step_t, dur);
    }
    o->count++;
  }
  double secs = (g_get_monotonic_time () - t_start) / 1e6;
  guint32 steps = mor_interleave_count (il, 0, FALSE) + mor_interleave_count (il, 0, TRUE) +
                  mor_interleave_count (il, 1, FALSE) + mor_interleave_count (il, 1, TRUE);
  g_mutex_lock (&self->lock);
  self->in_answer = FALSE;
  g_mutex_unlock (&self->lock);

  if (reason && strcmp (reason, "flushing") == 0)
    return;
  if (!reason && ret != GST_FLOW_OK && ret != GST_FLOW_NOT_LINKED)
    reason = "flow";
  /* What is held back goes out now: the decoder's partial character as U+FFFD,
   * the text mode's unfinished word or line. */
  step_t += STEP_DURATION;
  for (guint i = 0; i < N_STREAMS; i++) {
    Out *o = &self->out[i];
    g_string_truncate (piece, 0);
    mor_tokenizer_stream_flush (o->decoder, piece);
    g_string_append_len (o->text, piece->str, piece->len);
    if (!o->tokens && !reason)
      flush_pending (self, i, mode, step_t - STEP_DURATION, STEP_DURATION);
  }
  fill_gaps (self, step_t);
  gboolean interrupted = reason && strcmp (reason, "interrupted") == 0;
  GstStructure *fields = gst_structure_new ("fields", "answer", G_TYPE_UINT, self->answer_no, "reason",
                                            G_TYPE_STRING, reason ? reason : mor_interleave_end_name (
                                                mor_interleave_get_end (il)), NULL);
  push_event_all (self, gst_mor_event_new (interrupted ? GST_MOR_EVENT_INTERRUPT : GST_MOR_EVENT_ANSWER_END,
                                           fields));
  post_answer (self, il, reason, n_prompt, first_ms, secs > 0 ? steps / secs : 0, &c);
  self->answer_no++;
}

static void
post_answer (GstMorThinker *self, MorInterleave *il, const char *reason, guint32 n_prompt, double first_ms,
             double tps, const MorInterleaveConfig *c)
{
  /* Tokens sent on (sampled, not end tokens), and forced pads. */
  guint32 resp = self->out[MOR_INTERLEAVE_RESPONSE].count, reas = self->out[MOR_INTERLEAVE_REASONING].count;
  guint32 pads = mor_interleave_count (il, MOR_INTERLEAVE_RESPONSE, TRUE) +
                 mor_interleave_count (il, MOR_INTERLEAVE_REASONING, TRUE);
  GST_OBJECT_LOCK (self);
  self->st_answers++;
  self->st_interrupted += reason && strcmp (reason, "interrupted") == 0;
  self->st_tokens[0] += resp;
  self->st_tokens[1] += reas;
  self->st_pads += pads;
  self->st_first_token_ms = first_ms;
  self->st_tokens_per_second = tps;
  GST_OBJECT_UNLOCK (self);
  g_autofree char *ratio = g_strdup_printf ("%u:%u", c->response_tokens, c->reasoning_tokens);
  GstStructure *s = gst_structure_new ("morthinker/answer",
      "answer", G_TYPE_UINT, self->answer_no, "prompt-tokens", G_TYPE_UINT, n_prompt,
      "prefill-ms", G_TYPE_DOUBLE, self->prefill_ms, "first-token-ms", G_TYPE_DOUBLE, first_ms,
      "tokens-per-second", G_TYPE_DOUBLE, tps, "response-tokens", G_TYPE_UINT, resp,
      "reasoning-tokens", G_TYPE_UINT, reas, "pad-tokens", G_TYPE_UINT, pads,
      "end-reason", G_TYPE_STRING, reason ? reason : mor_interleave_end_name (mor_interleave_get_end (il)),
      "schedule", G_TYPE_STRING, mor_interleave_schedule_name (c->schedule), "ratio", G_TYPE_STRING, ratio, NULL);
  gst_element_post_message (GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
}

static void
handle_event (GstMorThinker *self, GstEvent *event)
{
  switch (GST_EVENT_TYPE (event)) {
  case GST_EVENT_STREAM_START:
    send_stream_start (self, event);
    gst_event_unref (event);
    break;
  case GST_EVENT_CAPS:
    negotiate (self);
    gst_event_unref (event);
    break;
  case GST_EVENT_SEGMENT: {
    const GstSegment *seg;
    gst_event_parse_segment (event, &seg);
    if (seg->format == GST_FORMAT_TIME)
      gst_segment_copy_into (seg, &self->segment);
    else
      gst_segment_init (&self->segment, GST_FORMAT_TIME);
    GstEvent *out = gst_event_new_segment (&self->segment);
    gst_event_set_seqnum (out, gst_event_get_seqnum (event));
    gst_event_unref (event);
    push_event_all (self, out);
    for (guint i = 0; i < N_STREAMS; i++)
      self->out[i].position = self->segment.start;
    self->timeline = self->segment.start;
    break;
  }
  case GST_EVENT_GAP: {
    GstClockTime ts, dur;
    gst_event_parse_gap (event, &ts, &dur);
    fill_gaps (self, GST_CLOCK_TIME_IS_VALID (dur) ? ts + dur : ts);
    gst_event_unref (event);
    break;
  }
  default:
    push_event_all (self, event);
    break;
  }
}

static void
handle_item (GstMorThinker *self, Item *item)
{
  switch (item->kind) {
  case ITEM_EVENT:
    handle_event (self, g_steal_pointer (&item->event));
    break;
  case ITEM_UTTERANCE_START:
    begin_utterance (self, TRUE);
    push_event_all (self, g_steal_pointer (&item->event));
    break;
  case ITEM_ROWS:
    add_rows (self, item->buffer);
    if (GST_BUFFER_PTS_IS_VALID (item->buffer))
      fill_gaps (self, GST_BUFFER_PTS (item->buffer) + (GST_BUFFER_DURATION_IS_VALID (item->buffer) ?
                                                        GST_BUFFER_DURATION (item->buffer) : 0));
    break;
  case ITEM_TEXT: {
    GstMapInfo map;
    gboolean whole = !self->utt_open || !self->utt_explicit;
    if (whole)
      begin_utterance (self, FALSE);
    if (GST_BUFFER_PTS_IS_VALID (item->buffer))
      fill_gaps (self, GST_BUFFER_PTS (item->buffer) + (GST_BUFFER_DURATION_IS_VALID (item->buffer) ?
                                                        GST_BUFFER_DURATION (item->buffer) : 0));
    if (gst_buffer_map (item->buffer, &map, GST_MAP_READ)) {
      add_text (self, (const char *) map.data, map.size);
      gst_buffer_unmap (item->buffer, &map);
    }
    if (whole) {
      self->utt_end_us = g_get_monotonic_time ();
      answer (self);
    }
    break;
  }
  case ITEM_UTTERANCE_END:
    push_event_all (self, g_steal_pointer (&item->event));
    if (self->utt_open) {
      self->utt_end_us = g_get_monotonic_time ();
      answer (self);
    }
    break;
  case ITEM_EOS:
    if (self->utt_open && self->p_ids->len > self->n_prefix) {
      self->utt_end_us = g_get_monotonic_time ();
      answer (self);
    }
    push_event_all (self, g_steal_pointer (&item->event));
    break;
  }
}

static gpointer
worker (gpointer data)
{
  GstMorThinker *self = data;
  g_mutex_lock (&self->lock);
  for (;;) {
    self->busy = FALSE;
    g_cond_broadcast (&self->cond);
    while (!self->stopping && g_queue_is_empty (&self->queue))
      g_cond_wait (&self->cond, &self->lock);
    if (self->stopping)
      break;
    Item *item = g_queue_pop_head (&self->queue);
    if (item->kind == ITEM_UTTERANCE_START || item->kind == ITEM_TEXT)
      self->pending_starts--;
    self->busy = TRUE;
    g_cond_broadcast (&self->cond);
    g_mutex_unlock (&self->lock);
    handle_item (self, item);
    item_free (item);
    g_mutex_lock (&self->lock);
  }
  self->busy = FALSE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  return NULL;
}

/* ---- input (streaming thread) ---- */

/* Queues @item for the worker, waiting while the queue is full. Returns the
 * worker's last combined flow, or FLUSHING. */
static GstFlowReturn
enqueue (GstMorThinker *self, ItemKind kind, GstEvent *event, GstBuffer *buffer)
{
  g_mutex_lock (&self->lock);
  while (!self->flushing && g_queue_get_length (&self->queue) >= MAX_QUEUED)
    g_cond_wait (&self->cond, &self->lock);
  GstFlowReturn ret = self->flushing ? GST_FLOW_FLUSHING : self->flow;
  if (self->flushing) {
    g_mutex_unlock (&self->lock);
    gst_clear_event (&event);
    gst_clear_buffer (&buffer);
    return ret;
  }
  Item *item = g_new0 (Item, 1);
  item->kind = kind;
  item->event = event;
  item->buffer = buffer;
  if (kind == ITEM_UTTERANCE_START || kind == ITEM_TEXT)
    self->pending_starts++;
  g_queue_push_tail (&self->queue, item);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  return ret;
}

static GstFlowReturn
gst_mor_thinker_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer)
{
  GstMorThinker *self = GST_MOR_THINKER (parent);
  GstFlowReturn ret = enqueue (self, self->sink_is_text ? ITEM_TEXT : ITEM_ROWS, NULL, buffer);
  /* One unlinked pad is fine (the combiner says OK); EOS from both, errors and flushing go upstream. */
  return ret;
}

static gboolean
set_sink_caps (GstMorThinker *self, GstCaps *caps)
{
  GstStructure *s = gst_caps_get_structure (caps, 0);
  self->sink_is_text = gst_structure_has_name (s, "text/x-raw");
  gint dim;
  if (!self->sink_is_text && (!gst_structure_get_int (s, "dim", &dim) || dim != (gint) self->dim)) {
    if (!gst_structure_get_int (s, "dim", &dim))
      dim = -1;
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Embeddings of dimension %d do not fit the thinker, whose "
                       "hidden size is %u", dim, self->dim), ("caps %" GST_PTR_FORMAT, caps));
    return FALSE;
  }
  return TRUE;
}

static gboolean
gst_mor_thinker_sink_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstMorThinker *self = GST_MOR_THINKER (parent);
  GST_DEBUG_OBJECT (pad, "event %" GST_PTR_FORMAT, event);
  switch (GST_EVENT_TYPE (event)) {
  case GST_EVENT_FLUSH_START:
    g_mutex_lock (&self->lock);
    self->flushing = TRUE;
    clear_queue (self);
    g_cond_broadcast (&self->cond);
    g_mutex_unlock (&self->lock);
    return gst_pad_event_default (pad, parent, event);
  case GST_EVENT_FLUSH_STOP:
    /* The worker leaves the answer at the next step (pushes fail meanwhile); then its state is ours. */
    g_mutex_lock (&self->lock);
    while (self->busy)
      g_cond_wait (&self->cond, &self->lock);
    clear_queue (self);
    self->flushing = FALSE;
    self->flow = GST_FLOW_OK;
    self->utt_open = FALSE;
    gst_flow_combiner_reset (self->combiner);
    g_mutex_unlock (&self->lock);
    return gst_pad_event_default (pad, parent, event);
  case GST_EVENT_CAPS: {
    GstCaps *caps;
    gst_event_parse_caps (event, &caps);
    if (!set_sink_caps (self, caps)) {
      gst_event_unref (event);
      return FALSE;
    }
    return enqueue (self, ITEM_EVENT, event, NULL) != GST_FLOW_FLUSHING;
  }
  case GST_EVENT_EOS:
    return enqueue (self, ITEM_EOS, event, NULL) != GST_FLOW_FLUSHING;
  default:
    break;
  }
  switch (gst_mor_event_get_mor_type (event)) {
  case GST_MOR_EVENT_UTTERANCE_START:
    return enqueue (self, ITEM_UTTERANCE_START, event, NULL) != GST_FLOW_FLUSHING;
  case GST_MOR_EVENT_UTTERANCE_END:
    return enqueue (self, ITEM_UTTERANCE_END, event, NULL) != GST_FLOW_FLUSHING;
  default:
    break;
  }
  if (GST_EVENT_IS_SERIALIZED (event))
    return enqueue (self, ITEM_EVENT, event, NULL) != GST_FLOW_FLUSHING;
  return gst_pad_event_default (pad, parent, event);
}

static gboolean
gst_mor_thinker_sink_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstMorThinker *self = GST_MOR_THINKER (parent);
  switch (GST_QUERY_TYPE (query)) {
  case GST_QUERY_CAPS: {
    /* With a model loaded, embeddings must have its hidden size. */
    GstCaps *filter, *caps = gst_pad_get_pad_template_caps (pad);
    gst_query_parse_caps (query, &filter);
    if (self->dim) {
      gst_caps_unref (caps);
      caps = gst_caps_new_simple (GST_MOR_EMBEDDINGS_CAPS, "dim", G_TYPE_INT, (gint) self->dim, NULL);
      gst_caps_append (caps, gst_caps_from_string (GST_MOR_TEXT_CAPS));
    }
    if (filter) {
      GstCaps *c = gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST);
      gst_caps_unref (caps);
      caps = c;
    }
    gst_query_set_caps_result (query, caps);
    gst_caps_unref (caps);
    return TRUE;
  }
  case GST_QUERY_CONTEXT:
    return gst_mor_element_handle_context_query (GST_ELEMENT (self), query, self->dev) ||
           gst_pad_query_default (pad, parent, query);
  default:
    return gst_pad_query_default (pad, parent, query);
  }
}

static gboolean
gst_mor_thinker_src_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstMorThinker *self = GST_MOR_THINKER (parent);
  switch (GST_QUERY_TYPE (query)) {
  case GST_QUERY_LATENCY: {
    gboolean live;
    GstClockTime min, max;
    if (!gst_pad_peer_query (self->sinkpad, query))
      return FALSE;
    gst_query_parse_latency (query, &live, &min, &max);
    if (live) {
      GST_OBJECT_LOCK (self);
      GstClockTime own = self->latency_ms * GST_MSECOND;
      GST_OBJECT_UNLOCK (self);
      min += own;
      if (GST_CLOCK_TIME_IS_VALID (max))
        max += own;
      gst_query_set_latency (query, live, min, max);
    }
    return TRUE;
  }
  case GST_QUERY_CONTEXT:
    return gst_mor_element_handle_context_query (GST_ELEMENT (self), query, self->dev) ||
           gst_pad_query_default (pad, parent, query);
  default:
    return gst_pad_query_default (pad, parent, query);
  }
}
