/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* morthinker: the thinker LLM with thinking-in-speaking (p:q) interleave. This file holds the
 * properties, the sink, the worker's items and the answer loop; gstmorthinkerout.c the src pads;
 * libmor the prompt (model/prompt.c) and the schedule (model/interleave.c). */
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
 * question unless it lies between utterance events). A SEEK arriving on both
 * src pads goes upstream once (one per seqnum).
 *
 * After each answer the element posts an element message `morthinker/answer`:
 * answer (uint), prompt-tokens (uint), prefill-ms (double), first-token-ms
 * (double: from the utterance's end reaching the sink pad to the first
 * response token, -1 if none), tokens-per-second (double: the answer's steps,
 * every token fed to the thinker, per second of its generation),
 * response-tokens, reasoning-tokens, pad-tokens (uint), end-reason (string:
 * streams-ended, end-token, max-tokens, context, interrupted, flow, error),
 * schedule (string), ratio (string "p:q"); docs/elements.md details them.
 * Model loading is announced with PROGRESS messages (code "loading").
 *
 * ## Example launch line
 *
 * Prints the spoken answer to the question in question.txt; the reasoning is
 * dropped. thinker.gguf comes from model/convert/convert_hf.py (docs/model-format.md).
 * |[
 * gst-launch-1.0 -e filesrc location=question.txt ! text/x-raw,format=utf8 ! morthinker model=thinker.gguf name=t \
 *     t.response ! queue ! fdsink  t.reasoning ! queue ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstmorthinker.h"

#include <string.h>

#include "gstmorelement.h"
#include "gstmorthinkerout.h"
#include "gstmorworker.h"
#include "interleave.h"
#include "prompt.h"

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

/* Items the sink may queue ahead of the worker (about 40 s of 40 ms buffers). */
#define MAX_QUEUED 1024

enum { CONTROL_RESPONSE_END, CONTROL_REASONING_END, CONTROL_RESPONSE_PAD, CONTROL_REASONING_PAD, N_CONTROL };
#define N_STREAMS 2

/* What the sink queues for the worker (GstMorWorkerItem.kind). */
typedef enum {
  ITEM_EVENT, ITEM_ROWS, ITEM_TEXT, ITEM_UTTERANCE_START, ITEM_UTTERANCE_END, ITEM_ROWS_REVISED, ITEM_EOS
} ItemKind;

struct _GstMorThinker {
  GstElement parent;
  GstPad *sinkpad;

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
  MorPrompt *prompt;
  MorInterleaveConfig model_config;
  guint32 dim, vocab;

  GstMorWorker *worker;          /* runs handle_item() on what the sink queues */
  gboolean sink_is_text;         /* streaming thread */

  /* worker thread only */
  GstMorThinkerOut *out;         /* the src pads */
  gboolean utt_open, utt_explicit, utt_failed;
  guint32 answer_no;
};

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
static gboolean gst_mor_thinker_query (GstPad *pad, GstObject *parent, GstQuery *query);
static void handle_item (GstMorWorkerItem *item, gpointer user_data);

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
      g_param_spec_string ("model", "Model", "Thinker GGUF file (llama.cpp layout, optional mor.interleave.* "
                           "keys; NULL: the bundled mor-nano)", NULL, ready));
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
                         "at a time)", GST_TYPE_MOR_THINKER_TEXT_MODE, DEFAULT_TEXT_MODE, playing));
  g_object_class_install_property (gobject_class, PROP_BARGE_IN,
      g_param_spec_boolean ("barge-in", "Barge-in", "A new utterance stops the answer in progress and sends "
                            "mor/interrupt (FALSE: it waits for the answer to end)", DEFAULT_BARGE_IN, playing));
  g_object_class_install_property (gobject_class, PROP_LATENCY,
      g_param_spec_uint ("latency", "Latency", "Milliseconds added to the upstream latency when upstream is live",
                         0, 60000, DEFAULT_LATENCY_MS, playing));
  /**
   * GstMorThinker:stats:
   *
   * Totals since the element was made: answers, interrupted, response-tokens,
   * reasoning-tokens, pad-tokens (uint64); the last answer's first-token-ms and
   * tokens-per-second (double, as in the morthinker/answer message: per answer).
   */
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics", "Totals (uint64): answers, interrupted, response-tokens, "
                          "reasoning-tokens, pad-tokens; of the last answer (double): first-token-ms, "
                          "tokens-per-second (steps/s of its generation)", GST_TYPE_STRUCTURE,
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
  gst_type_mark_as_plugin_api (GST_TYPE_MOR_THINKER_TEXT_MODE, 0);
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
  self->out = gst_mor_thinker_out_new (GST_ELEMENT (self), self->sinkpad, templates, gst_mor_thinker_query);
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
  gst_mor_thinker_out_set_latency (self->out, DEFAULT_LATENCY_MS * GST_MSECOND);
  self->st_first_token_ms = -1;
  self->worker = gst_mor_worker_new ("morthinker", MAX_QUEUED, handle_item, self);
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
  gst_mor_worker_free (self->worker);
  gst_mor_thinker_out_free (self->out);
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
  if (latency_changed) {
    gst_mor_thinker_out_set_latency (self->out, g_value_get_uint (value) * GST_MSECOND);
    gst_element_post_message (GST_ELEMENT (self), gst_message_new_latency (GST_OBJECT (self)));
  }
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

/* Opens the device and model and makes the session; posts the error. */
static gboolean
start (GstMorThinker *self)
{
  g_autoptr (GError) error = NULL;
  GST_OBJECT_LOCK (self);
  g_autofree char *path = self->model ? g_strdup (self->model) : gst_mor_element_default_model ("thinker");
  g_autofree char *device = g_strdup (self->device);
  guint context_size = self->context_size;
  GST_OBJECT_UNLOCK (self);
  if (!gst_mor_element_open (GST_ELEMENT (self), path, device, &self->gguf, &self->dev))
    return FALSE;
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
  if (!(self->session = mor_llm_session_new (self->llm, MIN (context_size, c->max_position_embeddings), &error))) {
    GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT, ("Cannot make a thinker session of %u positions",
                       context_size), ("%s", error->message));
    goto failed;
  }
  self->prompt = mor_prompt_new (self->llm, self->session, self->tok);
  gst_mor_thinker_out_start (self->out, self->tok, self->dim);
  self->utt_open = FALSE;
  gst_mor_element_progress (GST_ELEMENT (self), GST_PROGRESS_TYPE_COMPLETE, path);
  return TRUE;

failed:
  gst_mor_element_progress (GST_ELEMENT (self), GST_PROGRESS_TYPE_ERROR, path);
  return FALSE;
}

static void
stop (GstMorThinker *self)
{
  gst_mor_thinker_out_stop (self->out);
  g_clear_pointer (&self->prompt, mor_prompt_free);
  g_clear_pointer (&self->session, mor_llm_session_free);
  g_clear_pointer (&self->llm, mor_llm_free);
  g_clear_pointer (&self->tok, mor_tokenizer_unref);
  g_clear_pointer (&self->gguf, mor_gguf_unref);
  g_clear_pointer (&self->dev, mor_vk_device_unref);
  self->dim = 0;
}

static GstStateChangeReturn
gst_mor_thinker_change_state (GstElement *element, GstStateChange transition)
{
  GstMorThinker *self = GST_MOR_THINKER (element);
  return gst_mor_element_change_state (element, transition, GST_ELEMENT_CLASS (parent_class), self->worker,
                                       (GstMorElementStart) start, (GstMorElementStop) stop);
}

/* ---- the worker: prompt and answer ---- */

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

/* Starts a prompt with the current system prompt (its head stays cached while it does not change). */
static void
begin_utterance (GstMorThinker *self, gboolean explicit)
{
  g_autoptr (GError) error = NULL;
  GST_OBJECT_LOCK (self);
  g_autofree char *system = g_strdup (self->system_prompt);
  GST_OBJECT_UNLOCK (self);
  self->utt_open = TRUE;
  self->utt_explicit = explicit;
  self->utt_failed = FALSE;
  if (!mor_prompt_begin (self->prompt, system, &error))
    prompt_failed (self, error);
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
  } else if (!mor_prompt_add_audio (self->prompt, (const float *) map.data, map.size / row, &error)) {
    prompt_failed (self, error);
  }
  gst_buffer_unmap (buf, &map);
}

static void
add_text (GstMorThinker *self, GstBuffer *buf)
{
  g_autoptr (GError) error = NULL;
  GstMapInfo map;
  if (self->utt_failed || !gst_buffer_map (buf, &map, GST_MAP_READ))
    return;
  if (!mor_prompt_add_text (self->prompt, (const char *) map.data, map.size, &error))
    prompt_failed (self, error);
  gst_buffer_unmap (buf, &map);
}

/* Whether the answer in progress must stop, and why (NULL: go on). */
static const char *
should_stop (GstMorThinker *self, gboolean barge_in)
{
  if (gst_mor_worker_is_flushing (self->worker))
    return "flushing";
  if (barge_in && gst_mor_worker_n_starts (self->worker) > 0)
    return "interrupted";
  return NULL;
}

/* The answer's message and the stats; @end is the end reason. tokens-per-second: every step
 * (both streams, end tokens, forced pads) over the generation time. */
static void
post_answer (GstMorThinker *self, MorInterleave *il, const char *end, double first_ms, double tps,
             const MorInterleaveConfig *c)
{
  /* Tokens sent on (sampled, not end tokens), and forced pads. */
  guint32 resp = gst_mor_thinker_out_count (self->out, MOR_INTERLEAVE_RESPONSE);
  guint32 reas = gst_mor_thinker_out_count (self->out, MOR_INTERLEAVE_REASONING);
  guint32 pads = mor_interleave_count (il, MOR_INTERLEAVE_RESPONSE, TRUE) +
                 mor_interleave_count (il, MOR_INTERLEAVE_REASONING, TRUE);
  GST_OBJECT_LOCK (self);
  self->st_answers++;
  self->st_interrupted += strcmp (end, "interrupted") == 0;
  self->st_tokens[0] += resp;
  self->st_tokens[1] += reas;
  self->st_pads += pads;
  self->st_first_token_ms = first_ms;
  self->st_tokens_per_second = tps;
  GST_OBJECT_UNLOCK (self);
  g_autofree char *ratio = g_strdup_printf ("%u:%u", c->response_tokens, c->reasoning_tokens);
  GstStructure *s = gst_structure_new ("morthinker/answer",
      "answer", G_TYPE_UINT, self->answer_no, "prompt-tokens", G_TYPE_UINT, mor_prompt_get_n_rows (self->prompt),
      "prefill-ms", G_TYPE_DOUBLE, mor_prompt_get_prefill_ms (self->prompt), "first-token-ms", G_TYPE_DOUBLE,
      first_ms, "tokens-per-second", G_TYPE_DOUBLE, tps, "response-tokens", G_TYPE_UINT, resp,
      "reasoning-tokens", G_TYPE_UINT, reas, "pad-tokens", G_TYPE_UINT, pads,
      "end-reason", G_TYPE_STRING, end,
      "schedule", G_TYPE_STRING, mor_interleave_schedule_name (c->schedule), "ratio", G_TYPE_STRING, ratio, NULL);
  gst_element_post_message (GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
}

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
  gboolean ok = mor_interleave_config_set_tokens (c, self->tok, (const char *const *) self->control, error);
  GST_OBJECT_UNLOCK (self);
  return ok && mor_interleave_config_resolve (c, self->vocab, error);
}

/* Answers the utterance whose end reached the sink at @end_us (monotonic). */
static void
answer (GstMorThinker *self, gint64 end_us)
{
  g_autoptr (GError) error = NULL;
  MorInterleaveConfig c;
  MorSamplerParams sp;
  GstMorThinkerTextMode mode;
  gboolean barge_in;

  self->utt_open = FALSE;
  if (self->utt_failed)
    return;
  if (!mor_prompt_finish (self->prompt, &error)) {
    prompt_failed (self, error);
    return;
  }
  if (!answer_config (self, &c, &sp, &mode, &barge_in, &error)) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("Cannot answer with these settings: %s", error->message),
                       (NULL));
    return;
  }
  if (!gst_mor_thinker_out_negotiate (self->out, FALSE))
    return;

  g_autoptr (MorSampler) sampler = mor_sampler_new (self->vocab, &sp);
  g_autoptr (MorInterleave) il = mor_interleave_new (&c, mor_prompt_get_ids (self->prompt),
                                                     mor_prompt_get_n_rows (self->prompt));
  GstFlowReturn ret = gst_mor_thinker_out_begin_answer (self->out, self->answer_no, mode, self->prompt,
                                                        gst_mor_thinker_out_is_live (self->out));
  gint64 t_start = g_get_monotonic_time ();
  double first_ms = -1;
  const char *reason = NULL;
  while (!mor_interleave_is_done (il) && (ret == GST_FLOW_OK || ret == GST_FLOW_NOT_LINKED)) {
    if ((reason = should_stop (self, barge_in)))
      break;
    MorInterleaveToken tk;
    if (!mor_interleave_step (il, self->session, sampler, &tk, &error)) {
      GST_ELEMENT_ERROR (self, STREAM, FAILED, ("The thinker failed while answering"), ("%s", error->message));
      reason = "error";
      break;
    }
    gst_mor_thinker_out_next_step (self->out);
    if (!tk.emit)
      continue;
    if (tk.slot.stream == MOR_INTERLEAVE_RESPONSE && first_ms < 0)
      first_ms = (double) (g_get_monotonic_time () - end_us) / 1000.0;
    ret = gst_mor_thinker_out_push_token (self->out, &tk);
  }
  double secs = (double) (g_get_monotonic_time () - t_start) / 1e6;
  guint32 steps = mor_interleave_get_steps (il);

  if (reason && strcmp (reason, "flushing") == 0)
    return;
  if (!reason && ret != GST_FLOW_OK && ret != GST_FLOW_NOT_LINKED)
    reason = "flow";
  /* What is held back goes out now, in one more step: the decoder's partial
   * character as U+FFFD, the text mode's unfinished word or line. */
  gst_mor_thinker_out_end_answer (self->out, !reason);
  const char *end = reason ? reason : mor_interleave_end_name (mor_interleave_get_end (il));
  GstStructure *fields = gst_structure_new ("fields", "answer", G_TYPE_UINT, self->answer_no, "reason",
                                            G_TYPE_STRING, end, NULL);
  gst_mor_thinker_out_push_event (self->out, gst_mor_event_new (strcmp (end, "interrupted") == 0 ?
                                                                GST_MOR_EVENT_INTERRUPT : GST_MOR_EVENT_ANSWER_END,
                                                                fields));
  post_answer (self, il, end, first_ms, secs > 0 && steps > 0 ? steps / secs : 0, &c);
  self->answer_no++;
}

static void
handle_event (GstMorThinker *self, GstEvent *event)
{
  switch (GST_EVENT_TYPE (event)) {
  case GST_EVENT_STREAM_START:
    gst_mor_thinker_out_stream_start (self->out, event);
    break;
  case GST_EVENT_CAPS:
    gst_mor_thinker_out_negotiate (self->out, TRUE);
    break;
  case GST_EVENT_SEGMENT:
    gst_mor_thinker_out_segment (self->out, event);
    break;
  case GST_EVENT_GAP: {
    GstClockTime ts, dur;
    gst_event_parse_gap (event, &ts, &dur);
    gst_mor_thinker_out_fill_gaps (self->out, GST_CLOCK_TIME_IS_VALID (dur) ? ts + dur : ts);
    break;
  }
  default:
    gst_mor_thinker_out_push_event (self->out, event);
    return;
  }
  gst_event_unref (event);
}

static void
handle_item (GstMorWorkerItem *item, gpointer user_data)
{
  GstMorThinker *self = user_data;
  GstBuffer *buf = item->buffer;
  /* A buffer's end in the timeline: the pads' time up to there is a gap. */
  GstClockTime end = buf && GST_BUFFER_PTS_IS_VALID (buf) ?
                     GST_BUFFER_PTS (buf) + (GST_BUFFER_DURATION_IS_VALID (buf) ? GST_BUFFER_DURATION (buf) : 0) :
                     GST_CLOCK_TIME_NONE;
  switch (item->kind) {
  case ITEM_EVENT:
    handle_event (self, g_steal_pointer (&item->event));
    break;
  case ITEM_UTTERANCE_START:
    begin_utterance (self, TRUE);
    gst_mor_thinker_out_push_event (self->out, g_steal_pointer (&item->event));
    break;
  case ITEM_ROWS:
    add_rows (self, buf);
    gst_mor_thinker_out_fill_gaps (self->out, end);
    break;
  case ITEM_TEXT: {
    /* A typed question is a whole utterance, unless it lies between utterance events. */
    gboolean whole = !self->utt_open || !self->utt_explicit;
    if (whole)
      begin_utterance (self, FALSE);
    gst_mor_thinker_out_fill_gaps (self->out, end);
    add_text (self, buf);
    if (whole)
      answer (self, item->arrived_us);
    break;
  }
  case ITEM_ROWS_REVISED: {
    /* Rows sent early were normalised with the loudness heard so far: they come again. */
    guint from = 0;
    gst_structure_get_uint (gst_event_get_structure (item->event), "from", &from);
    if (self->utt_open && !self->utt_failed && !mor_prompt_revise_audio (self->prompt, from))
      GST_WARNING_OBJECT (self, "mor/rows-revised from row %u: the utterance has not that many rows", from);
    break;
  }
  case ITEM_UTTERANCE_END:
    gst_mor_thinker_out_push_event (self->out, g_steal_pointer (&item->event));
    /* An utterance without rows (a click too short to encode) gets no answer. */
    if (self->utt_open && mor_prompt_get_n_rows (self->prompt) > mor_prompt_get_n_head (self->prompt))
      answer (self, item->arrived_us);
    self->utt_open = FALSE;
    break;
  case ITEM_EOS:
    if (self->utt_open && mor_prompt_get_n_rows (self->prompt) > mor_prompt_get_n_head (self->prompt))
      answer (self, item->arrived_us);
    gst_mor_thinker_out_push_event (self->out, g_steal_pointer (&item->event));
    break;
  }
}

/* ---- input (streaming thread) ---- */

/* Queues an item for the worker. Returns the flow combined over the src pads, or FLUSHING. */
static GstFlowReturn
enqueue (GstMorThinker *self, ItemKind kind, GstEvent *event, GstBuffer *buffer)
{
  gboolean starts = kind == ITEM_UTTERANCE_START || kind == ITEM_TEXT;
  if (!gst_mor_worker_push (self->worker, kind, event, buffer, starts))
    return GST_FLOW_FLUSHING;
  return gst_mor_thinker_out_get_flow (self->out);
}

static GstFlowReturn
gst_mor_thinker_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer)
{
  GstMorThinker *self = GST_MOR_THINKER (parent);
  /* One unlinked pad is fine (the combiner says OK); EOS from both, errors and flushing go upstream. */
  return enqueue (self, self->sink_is_text ? ITEM_TEXT : ITEM_ROWS, NULL, buffer);
}

static gboolean
set_sink_caps (GstMorThinker *self, GstCaps *caps)
{
  GstStructure *s = gst_caps_get_structure (caps, 0);
  self->sink_is_text = gst_structure_has_name (s, "text/x-raw");
  gint dim = -1; /* stays -1 without a dim field */
  if (!self->sink_is_text && (!gst_structure_get_int (s, "dim", &dim) || dim != (gint) self->dim)) {
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
  ItemKind kind = ITEM_EVENT;
  GST_DEBUG_OBJECT (pad, "event %" GST_PTR_FORMAT, event);
  switch (GST_EVENT_TYPE (event)) {
  case GST_EVENT_FLUSH_START:
    gst_mor_worker_flush_start (self->worker);
    return gst_pad_event_default (pad, parent, event);
  case GST_EVENT_FLUSH_STOP:
    /* The worker leaves the answer at the next step (pushes fail meanwhile); then, until this
     * event returns, no item comes and its state is ours. */
    gst_mor_worker_flush_stop (self->worker);
    self->utt_open = FALSE;
    gst_mor_thinker_out_reset_flow (self->out);
    return gst_pad_event_default (pad, parent, event);
  case GST_EVENT_CAPS: {
    GstCaps *caps;
    gst_event_parse_caps (event, &caps);
    if (!set_sink_caps (self, caps)) {
      gst_event_unref (event);
      return FALSE;
    }
    break;
  }
  case GST_EVENT_EOS:
    kind = ITEM_EOS;
    break;
  default:
    if (gst_mor_event_get_mor_type (event) == GST_MOR_EVENT_UTTERANCE_START)
      kind = ITEM_UTTERANCE_START;
    else if (gst_mor_event_get_mor_type (event) == GST_MOR_EVENT_UTTERANCE_END)
      kind = ITEM_UTTERANCE_END;
    else if (gst_mor_event_get_mor_type (event) == GST_MOR_EVENT_ROWS_REVISED)
      kind = ITEM_ROWS_REVISED;
    else if (!GST_EVENT_IS_SERIALIZED (event))
      return gst_pad_event_default (pad, parent, event);
    break;
  }
  /* Serialized events go through the worker, in order with the data. */
  return enqueue (self, kind, event, NULL) != GST_FLOW_FLUSHING;
}

/* ---- queries ---- */

/* The device context, else the default handling (the src pads' queries but LATENCY come here too). */
static gboolean
gst_mor_thinker_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstMorThinker *self = GST_MOR_THINKER (parent);
  if (GST_QUERY_TYPE (query) == GST_QUERY_CONTEXT &&
      gst_mor_element_handle_context_query (GST_ELEMENT (self), query, self->dev))
    return TRUE;
  return gst_pad_query_default (pad, parent, query);
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
  default:
    return gst_mor_thinker_query (pad, parent, query);
  }
}
