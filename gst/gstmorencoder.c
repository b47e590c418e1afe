/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* morencoder: 16-kHz speech to the thinker's audio rows (the Qwen2.5-Omni audio encoder, streaming),
 * with energy-VAD endpointing. This file holds the properties, the sink, the worker's endpointing
 * and output, and the queries; libmor the log-mel (model/mel.c), the encoder (model/encoder.c) and
 * the VAD (model/vad.c). */
/**
 * SECTION:element-morencoder
 * @title: morencoder
 *
 * Turns 16-kHz mono speech into the audio rows the thinker prefills: the
 * audio encoder of a Qwen2.5-Omni model, 25 float32 rows a second of the
 * thinker's hidden size, sent as `application/x-mor-embeddings` for
 * morthinker. Each complete 2-s chunk of an utterance is encoded and pushed
 * as soon as its samples are in; the rest goes out at the utterance's end.
 *
 * Utterances come from an energy VAD (`vad`, on by default: `vad-threshold`,
 * `min-speech`, `silence`, `pre-roll`, `max-utterance`), or, with vad=false,
 * run from the first sample to EOS, to an upstream `mor/utterance-end` or to
 * `max-utterance`. Each utterance's rows lie between a `mor/utterance-start`
 * (fields utterance (uint), timestamp (uint64: the PTS of its first sample))
 * and a `mor/utterance-end` (utterance, timestamp (the PTS just past its
 * last sample), rows (uint), revised-from (uint), reason (string: silence,
 * max-length, eos, upstream, segment)). Rows sent while the user spoke are normalised
 * with the loudness heard so far: when a louder part comes later, rows from
 * revised-from up to those sent early differ from the whole-utterance
 * encoding (docs/mel.md); they are not sent again.
 *
 * After each utterance the element posts an element message
 * `morencoder/utterance`: utterance (uint), timestamp, duration (uint64 ns),
 * samples (uint64), frames (uint: log-mel frames), rows (uint), revised-from
 * (uint), end-reason (string), encode-ms (double: time spent encoding the
 * utterance), end-to-rows-ms (double: from the input that ended the
 * utterance reaching the sink pad to its last rows pushed).
 * Model loading is announced with PROGRESS messages (code "loading").
 *
 * ## Example launch line
 *
 * Answers a second of noise (an utterance the VAD ends at EOS);
 * encoder.gguf and thinker.gguf come from model/convert/convert_hf.py
 * (docs/model-format.md).
 * |[
 * gst-launch-1.0 -e audiotestsrc wave=white-noise samplesperbuffer=1600 num-buffers=10 ! audioconvert ! audioresample ! \
 *     morencoder model=encoder.gguf ! morthinker model=thinker.gguf name=t \
 *     t.response ! queue ! fdsink  t.reasoning ! queue ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstmorencoder.h"

#include <math.h>
#include <string.h>

#include "encoder.h"
#include "gstmorelement.h"
#include "gstmorworker.h"
#include "vad.h"

GST_DEBUG_CATEGORY_STATIC (gst_mor_encoder_debug);
#define GST_CAT_DEFAULT gst_mor_encoder_debug

#define RATE 16000
#define SINK_CAPS "audio/x-raw, format=(string){ F32LE, S16LE }, rate=(int)16000, channels=(int)1, " \
                  "layout=(string)interleaved"
#define NEEDS "audio/x-raw, format F32LE or S16LE, rate 16000, 1 channel (put audioconvert ! audioresample " \
              "before morencoder)"

static GstStaticPadTemplate sink_template =
  GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (SINK_CAPS));
static GstStaticPadTemplate src_template =
  GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS,
                           GST_STATIC_CAPS (GST_MOR_EMBEDDINGS_CAPS ", dim=(int)[1, MAX]"));

enum {
  PROP_0,
  PROP_MODEL,
  PROP_DEVICE,
  PROP_VAD,
  PROP_VAD_THRESHOLD,
  PROP_MIN_SPEECH,
  PROP_SILENCE,
  PROP_PRE_ROLL,
  PROP_MAX_UTTERANCE,
  PROP_EXACT,
  PROP_LATENCY,
};

#define DEFAULT_VAD TRUE
#define DEFAULT_VAD_THRESHOLD -40.0
#define DEFAULT_MIN_SPEECH 100
#define DEFAULT_SILENCE 600
#define DEFAULT_PRE_ROLL 200
#define DEFAULT_MAX_UTTERANCE 30.0
#define DEFAULT_EXACT TRUE
#define DEFAULT_LATENCY_MS 300

/* Items the sink may queue ahead of the worker. */
#define MAX_QUEUED 256
/* Samples a row stands for: 4 log-mel hops (conv2's stride 2, pooling by 2). */
#define ROW_SAMPLES (4 * MOR_MEL_HOP)
/* A chunk is encoded once the samples its last frame reads are in: half a window past its end. */
#define CHUNK_LOOKAHEAD (MOR_MEL_N_FFT / 2 - MOR_MEL_HOP)
/* Outside utterances, GAP events cover at least this much (the thinker queues each one). */
#define MIN_GAP (100 * GST_MSECOND)
/* A GAP event in becomes silence, up to this much of it. */
#define MAX_GAP_SILENCE (10 * GST_SECOND)
/* Input timestamps that drift further from the sample count resynchronise it. */
#define MAX_DRIFT (40 * GST_MSECOND)

typedef enum { ITEM_AUDIO, ITEM_EVENT } ItemKind;

struct _GstMorEncoder {
  GstElement parent;
  GstPad *sinkpad, *srcpad;

  /* properties, under the object lock */
  char *model, *device;
  gboolean vad, exact;
  double vad_threshold, max_utterance;
  guint min_speech, silence, pre_roll, latency_ms;
  guint64 chunk_samples;         /* the model's chunk (2 s unless it says otherwise) */

  /* the model, from READY→PAUSED to PAUSED→READY */
  MorVkDevice *dev;
  MorGguf *gguf;
  MorEncoder *enc;
  MorEncoderSession *session;
  MorVad *detector;              /* NULL when vad is off */
  guint32 dim;                   /* rows' width: the encoder's output_dim */
  guint64 max_samples;           /* the longest utterance */
  guint64 holdback;              /* samples an open utterance holds back from the encoder (VAD: its silence) */
  guint64 keep;                  /* samples before the VAD's position that a start may still reach */

  GstMorWorker *worker;          /* runs handle_item() on what the sink queues */
  gint flow;                     /* (atomic) GstFlowReturn of the latest buffer pushed */
  gboolean warned_caps;          /* (atomic) the refused-caps warning went out */

  /* streaming thread */
  gboolean have_caps, in_s16;

  /* worker thread only (and the streaming thread at FLUSH_STOP, while the worker is idle) */
  GstSegment segment;
  gboolean have_base;            /* base_ts is sample base_sample's PTS */
  GstClockTime base_ts;
  guint64 base_sample;
  guint64 pos;                   /* samples received since the start or the last flush */
  guint64 vad_origin;            /* pos of the detector's sample 0 */
  GArray *hist;                  /* float samples [hist_start, pos): what may still go to the encoder */
  guint64 hist_start;
  guint64 last_end;              /* where the last utterance ended */
  GstClockTime out_ts;           /* end of what went out, rows and gaps */
  guint64 bad_samples;           /* non-finite samples replaced by 0 */
  /* the open utterance */
  gboolean utt_open;
  guint32 utt_no, n_utterances;  /* the open utterance's number; utterances started since READY→PAUSED */
  guint64 utt_start, sess_pos;   /* its first sample; samples up to sess_pos are in the session */
  GstClockTime utt_ts;           /* PTS of its first sample */
  guint32 rows_sent;
  gint64 encode_us;
};

#define gst_mor_encoder_parent_class parent_class
G_DEFINE_TYPE_WITH_CODE (GstMorEncoder, gst_mor_encoder, GST_TYPE_ELEMENT,
                         GST_DEBUG_CATEGORY_INIT (gst_mor_encoder_debug, "morencoder", 0, "mor audio encoder"));
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (morencoder, "morencoder", GST_RANK_NONE, GST_TYPE_MOR_ENCODER,
                                       gst_mor_element_init (plugin));

static void gst_mor_encoder_finalize (GObject *object);
static void gst_mor_encoder_set_property (GObject *object, guint id, const GValue *value, GParamSpec *pspec);
static void gst_mor_encoder_get_property (GObject *object, guint id, GValue *value, GParamSpec *pspec);
static GstStateChangeReturn gst_mor_encoder_change_state (GstElement *element, GstStateChange transition);
static void gst_mor_encoder_set_context (GstElement *element, GstContext *context);
static GstFlowReturn gst_mor_encoder_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer);
static gboolean gst_mor_encoder_sink_event (GstPad *pad, GstObject *parent, GstEvent *event);
static gboolean gst_mor_encoder_sink_query (GstPad *pad, GstObject *parent, GstQuery *query);
static gboolean gst_mor_encoder_src_query (GstPad *pad, GstObject *parent, GstQuery *query);
static void handle_item (GstMorWorkerItem *item, gpointer user_data);

static void
gst_mor_encoder_class_init (GstMorEncoderClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;
  const GParamFlags ready = rw | GST_PARAM_MUTABLE_READY, playing = rw | GST_PARAM_MUTABLE_PLAYING;

  gobject_class->finalize = gst_mor_encoder_finalize;
  gobject_class->set_property = gst_mor_encoder_set_property;
  gobject_class->get_property = gst_mor_encoder_get_property;

  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model", "Audio encoder GGUF file (encoder.gguf, a Qwen2.5-Omni mmproj, or "
                           "a one-file model; NULL: the bundled mor-nano)", NULL, ready));
  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_string ("device", "Device", "Vulkan device index or name substring (NULL: the pipeline's "
                           "mor.vulkan.device context, MOR_VK_DEVICE, or the best device)", NULL, ready));
  /**
   * GstMorEncoder:vad:
   *
   * Utterances from the energy VAD. FALSE: an utterance runs from its first
   * sample to EOS, an upstream `mor/utterance-end` (or `-start`), or
   * max-utterance; upstream utterance events are dropped either way.
   */
  g_object_class_install_property (gobject_class, PROP_VAD,
      g_param_spec_boolean ("vad", "VAD", "Find utterances with the energy VAD (FALSE: EOS or an upstream "
                            "mor/utterance-end ends one)", DEFAULT_VAD, ready));
  g_object_class_install_property (gobject_class, PROP_VAD_THRESHOLD,
      g_param_spec_double ("vad-threshold", "VAD threshold", "dBFS of a 10-ms frame above which it is speech",
                           -120.0, 0.0, DEFAULT_VAD_THRESHOLD, ready));
  g_object_class_install_property (gobject_class, PROP_MIN_SPEECH,
      g_param_spec_uint ("min-speech", "Minimum speech", "Milliseconds of consecutive speech frames that start "
                         "an utterance (shorter bursts are ignored)", 0, 10000, DEFAULT_MIN_SPEECH, ready));
  g_object_class_install_property (gobject_class, PROP_SILENCE,
      g_param_spec_uint ("silence", "Silence", "Milliseconds of silence that end an utterance (the rows then "
                         "come this much later)", 10, 10000, DEFAULT_SILENCE, ready));
  g_object_class_install_property (gobject_class, PROP_PRE_ROLL,
      g_param_spec_uint ("pre-roll", "Pre-roll", "Milliseconds of audio before the first speech frame that "
                         "belong to the utterance", 0, 2000, DEFAULT_PRE_ROLL, ready));
  g_object_class_install_property (gobject_class, PROP_MAX_UTTERANCE,
      g_param_spec_double ("max-utterance", "Max utterance", "Seconds of the longest utterance; a longer one "
                           "is cut there (with or without the VAD)", 0.1, 300.0, DEFAULT_MAX_UTTERANCE, ready));
  /**
   * GstMorEncoder:exact:
   *
   * Rows sent while the user still speaks are normalised with the loudness
   * heard so far (the log-mel's max); when a louder part comes later, the
   * whole-utterance encoding of some of them differs. TRUE sends those rows
   * again at the utterance's end, after a `mor/rows-revised` event (field
   * `from`: the utterance's first row that comes again), so that the thinker
   * sees exactly what transformers computes; it re-prefills them, which costs
   * time at the end of such an utterance. FALSE keeps the early rows (the
   * utterance-end's `revised-from` still says where they differ).
   */
  g_object_class_install_property (gobject_class, PROP_EXACT,
      g_param_spec_boolean ("exact", "Exact", "Send rows again that the utterance's final loudness changed "
                            "(FALSE: keep the early rows, lower latency)", DEFAULT_EXACT, ready));
  /**
   * GstMorEncoder:latency:
   *
   * The time allowed for encoding a chunk. When upstream is live, the
   * LATENCY query adds the chunk (2 s and 2.5 ms of look-ahead), the
   * `silence` held back when `vad` is on, and this. A change posts a LATENCY
   * message.
   */
  g_object_class_install_property (gobject_class, PROP_LATENCY,
      g_param_spec_uint ("latency", "Latency", "Milliseconds allowed for encoding a chunk, added to the chunk "
                         "and the held-back silence when upstream is live", 0, 60000, DEFAULT_LATENCY_MS,
                         playing));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "mor audio encoder", "Filter/Converter/Audio/Metadata",
      "Encodes 16-kHz speech into the thinker's audio embeddings, utterance by utterance (energy VAD)",
      "mor developers");
  element_class->change_state = GST_DEBUG_FUNCPTR (gst_mor_encoder_change_state);
  element_class->set_context = GST_DEBUG_FUNCPTR (gst_mor_encoder_set_context);
}

static void
gst_mor_encoder_init (GstMorEncoder *self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_mor_encoder_chain));
  gst_pad_set_event_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_mor_encoder_sink_event));
  gst_pad_set_query_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_mor_encoder_sink_query));
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);
  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_query_function (self->srcpad, GST_DEBUG_FUNCPTR (gst_mor_encoder_src_query));
  gst_pad_use_fixed_caps (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);
  self->vad = DEFAULT_VAD;
  self->vad_threshold = DEFAULT_VAD_THRESHOLD;
  self->min_speech = DEFAULT_MIN_SPEECH;
  self->silence = DEFAULT_SILENCE;
  self->pre_roll = DEFAULT_PRE_ROLL;
  self->exact = DEFAULT_EXACT;
  self->max_utterance = DEFAULT_MAX_UTTERANCE;
  self->latency_ms = DEFAULT_LATENCY_MS;
  self->chunk_samples = 2 * RATE;
  self->hist = g_array_new (FALSE, FALSE, sizeof (float));
  self->worker = gst_mor_worker_new ("morencoder", MAX_QUEUED, handle_item, self);
}

static void
gst_mor_encoder_finalize (GObject *object)
{
  GstMorEncoder *self = GST_MOR_ENCODER (object);
  g_free (self->model);
  g_free (self->device);
  gst_mor_worker_free (self->worker);
  g_array_unref (self->hist);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_mor_encoder_set_property (GObject *object, guint id, const GValue *value, GParamSpec *pspec)
{
  GstMorEncoder *self = GST_MOR_ENCODER (object);
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
  case PROP_VAD:
    latency_changed = self->vad != g_value_get_boolean (value);
    self->vad = g_value_get_boolean (value);
    break;
  case PROP_VAD_THRESHOLD:
    self->vad_threshold = g_value_get_double (value);
    break;
  case PROP_MIN_SPEECH:
    self->min_speech = g_value_get_uint (value);
    break;
  case PROP_SILENCE:
    latency_changed = self->silence != g_value_get_uint (value);
    self->silence = g_value_get_uint (value);
    break;
  case PROP_PRE_ROLL:
    self->pre_roll = g_value_get_uint (value);
    break;
  case PROP_EXACT:
    self->exact = g_value_get_boolean (value);
    break;
  case PROP_MAX_UTTERANCE:
    self->max_utterance = g_value_get_double (value);
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
gst_mor_encoder_get_property (GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
  GstMorEncoder *self = GST_MOR_ENCODER (object);
  GST_OBJECT_LOCK (self);
  switch (id) {
  case PROP_MODEL:
    g_value_set_string (value, self->model);
    break;
  case PROP_DEVICE:
    g_value_set_string (value, self->device);
    break;
  case PROP_VAD:
    g_value_set_boolean (value, self->vad);
    break;
  case PROP_VAD_THRESHOLD:
    g_value_set_double (value, self->vad_threshold);
    break;
  case PROP_MIN_SPEECH:
    g_value_set_uint (value, self->min_speech);
    break;
  case PROP_SILENCE:
    g_value_set_uint (value, self->silence);
    break;
  case PROP_PRE_ROLL:
    g_value_set_uint (value, self->pre_roll);
    break;
  case PROP_EXACT:
    g_value_set_boolean (value, self->exact);
    break;
  case PROP_MAX_UTTERANCE:
    g_value_set_double (value, self->max_utterance);
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
gst_mor_encoder_set_context (GstElement *element, GstContext *context)
{
  GstMorEncoder *self = GST_MOR_ENCODER (element);
  gst_mor_element_set_context (element, context, &self->dev);
  GST_ELEMENT_CLASS (parent_class)->set_context (element, context);
}

/* ---- state changes ---- */

/* The VAD's 10-ms frames in samples, as it rounds milliseconds up. */
static guint64
vad_frames (guint ms)
{
  return (guint64) (ms + 9) / 10 * MOR_VAD_FRAME;
}

/* A new stream (start, FLUSH_STOP): no utterance, no samples; the worker is idle. */
static void
reset_stream (GstMorEncoder *self)
{
  gst_segment_init (&self->segment, GST_FORMAT_TIME);
  self->have_base = FALSE;
  self->pos = self->vad_origin = self->hist_start = self->last_end = 0;
  g_array_set_size (self->hist, 0);
  self->out_ts = GST_CLOCK_TIME_NONE;
  self->bad_samples = 0;
  self->utt_open = FALSE;
  if (self->session)
    mor_encoder_session_reset (self->session);
  if (self->detector)
    mor_vad_reset (self->detector);
  g_atomic_int_set (&self->flow, GST_FLOW_OK);
}

/* Opens the device and model and makes the session and detector; posts the error. */
static gboolean
start (GstMorEncoder *self)
{
  g_autoptr (GError) error = NULL;
  GST_OBJECT_LOCK (self);
  g_autofree char *path = self->model ? g_strdup (self->model) : gst_mor_element_default_model ("encoder");
  g_autofree char *device = g_strdup (self->device);
  gboolean vad = self->vad;
  MorVadParams p = { self->vad_threshold, self->min_speech, self->silence, self->max_utterance, self->pre_roll };
  GST_OBJECT_UNLOCK (self);

  if (vad && !mor_vad_params_validate (&p, &error)) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("Contradictory VAD settings: %s", error->message), (NULL));
    return FALSE;
  }
  if (!gst_mor_element_open (GST_ELEMENT (self), path, device, &self->gguf, &self->dev))
    return FALSE;
  if (!(self->enc = mor_encoder_load (self->dev, self->gguf, &error))) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Model file “%s” is not an audio encoder mor can run: %s", path,
                       error->message), ("%s", error->message));
    goto failed;
  }
  const MorEncoderConfig *c = mor_encoder_get_config (self->enc);
  self->dim = c->output_dim;
  self->max_samples = MIN ((guint64) llround (p.max_utterance_s * RATE), MOR_MEL_MAX_SAMPLES);
  if (!(self->session = mor_encoder_session_new (self->enc, self->max_samples, &error))) {
    GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT, ("Cannot make an encoder session for utterances of %g s",
                       p.max_utterance_s), ("%s", error->message));
    goto failed;
  }
  if (vad && !(self->detector = mor_vad_new (&p, &error))) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("Contradictory VAD settings: %s", error->message), (NULL));
    goto failed;
  }
  /* Trailing silence stays out of the utterance: an end comes `silence` after its last speech frame. */
  self->holdback = vad ? vad_frames (p.silence_ms) : 0;
  /* A start lies at most pre-roll + min-speech (+ the frame in progress) before the VAD's position. */
  self->keep = (guint64) p.pre_roll_ms * (RATE / 1000) + vad_frames (MAX (p.min_speech_ms, 10)) + MOR_VAD_FRAME;
  GST_OBJECT_LOCK (self);
  self->chunk_samples = (guint64) 2 * c->n_window * MOR_MEL_HOP;
  GST_OBJECT_UNLOCK (self);
  reset_stream (self);
  self->have_caps = FALSE;
  self->n_utterances = 0;
  g_atomic_int_set (&self->warned_caps, FALSE);
  gst_mor_element_progress (GST_ELEMENT (self), GST_PROGRESS_TYPE_COMPLETE, path);
  return TRUE;

failed:
  gst_mor_element_progress (GST_ELEMENT (self), GST_PROGRESS_TYPE_ERROR, path);
  return FALSE;
}

static void
stop (GstMorEncoder *self)
{
  g_clear_pointer (&self->detector, mor_vad_free);
  g_clear_pointer (&self->session, mor_encoder_session_free);
  g_clear_pointer (&self->enc, mor_encoder_free);
  g_clear_pointer (&self->gguf, mor_gguf_unref);
  g_clear_pointer (&self->dev, mor_vk_device_unref);
  self->dim = 0;
}

static GstStateChangeReturn
gst_mor_encoder_change_state (GstElement *element, GstStateChange transition)
{
  GstMorEncoder *self = GST_MOR_ENCODER (element);
  return gst_mor_element_change_state (element, transition, GST_ELEMENT_CLASS (parent_class), self->worker,
                                       (GstMorElementStart) start, (GstMorElementStop) stop);
}

/* ---- the worker: time ---- */

/* The PTS of sample @p (a position), from the latest input timestamp and the sample count. */
static GstClockTime
sample_ts (GstMorEncoder *self, guint64 p)
{
  if (p >= self->base_sample)
    return self->base_ts + gst_util_uint64_scale_int (p - self->base_sample, GST_SECOND, RATE);
  GstClockTime back = gst_util_uint64_scale_int (self->base_sample - p, GST_SECOND, RATE);
  return back < self->base_ts ? self->base_ts - back : 0;
}

/* Ties the next sample (self->pos) to @pts: at the first buffer, a DISCONT, or a drift past
 * MAX_DRIFT; without timestamps (or in a non-TIME segment) samples count from the segment start. */
static void
sync_time (GstMorEncoder *self, GstClockTime pts, gboolean discont)
{
  gboolean time = self->segment.format == GST_FORMAT_TIME;
  if (time && GST_CLOCK_TIME_IS_VALID (pts)) {
    if (self->have_base && !discont) {
      GstClockTime now = sample_ts (self, self->pos);
      if ((now > pts ? now - pts : pts - now) <= MAX_DRIFT)
        return;
      GST_DEBUG_OBJECT (self, "resync: sample %" G_GUINT64_FORMAT " at %" GST_TIME_FORMAT " instead of %"
                        GST_TIME_FORMAT, self->pos, GST_TIME_ARGS (pts), GST_TIME_ARGS (now));
    }
    self->base_ts = pts;
  } else if (!self->have_base) {
    self->base_ts = time ? self->segment.start : 0;
  } else {
    return;
  }
  self->base_sample = self->pos;
  self->have_base = TRUE;
  if (!GST_CLOCK_TIME_IS_VALID (self->out_ts))
    self->out_ts = self->base_ts;
}

/* Sends a GAP from the end of the output up to @t, when it covers at least MIN_GAP or @force. */
static void
gap_to (GstMorEncoder *self, GstClockTime t, gboolean force)
{
  if (!GST_CLOCK_TIME_IS_VALID (self->out_ts) || t <= self->out_ts || (!force && t - self->out_ts < MIN_GAP))
    return;
  gst_pad_push_event (self->srcpad, gst_event_new_gap (self->out_ts, t - self->out_ts));
  self->out_ts = t;
}

/* ---- the worker: utterances ---- */

static gboolean
flow_ok (GstMorEncoder *self)
{
  GstFlowReturn ret = g_atomic_int_get (&self->flow);
  return ret == GST_FLOW_OK || ret == GST_FLOW_NOT_LINKED;
}

static void
encode_failed (GstMorEncoder *self, GError *error)
{
  GST_ELEMENT_ERROR (self, STREAM, FAILED, ("The audio encoder failed"), ("%s", error->message));
  g_atomic_int_set (&self->flow, GST_FLOW_ERROR);
}

/* Pushes the session's rows not sent yet; @end (the utterance's end, or NONE) clips the last. */
static void
push_rows (GstMorEncoder *self, GstClockTime end)
{
  guint32 n = mor_encoder_session_n_rows (self->session), from = self->rows_sent;
  if (n <= from)
    return;
  self->rows_sent = n;
  if (!flow_ok (self))
    return;
  gsize row = (gsize) self->dim * sizeof (float);
  GstBuffer *buf = gst_buffer_new_memdup (mor_encoder_session_get_rows (self->session) + (gsize) from * self->dim,
                                          (n - from) * row);
  GstClockTime pts = self->utt_ts + gst_util_uint64_scale_int ((guint64) from * ROW_SAMPLES, GST_SECOND, RATE);
  GstClockTime stop = self->utt_ts + gst_util_uint64_scale_int ((guint64) n * ROW_SAMPLES, GST_SECOND, RATE);
  if (GST_CLOCK_TIME_IS_VALID (end) && end > pts)
    stop = MIN (stop, end);
  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DURATION (buf) = stop - pts;
  self->out_ts = MAX (self->out_ts, stop);
  GST_LOG_OBJECT (self, "rows %u..%u of utterance %u at %" GST_TIME_FORMAT, from, n, self->utt_no,
                  GST_TIME_ARGS (pts));
  GstFlowReturn ret = gst_pad_push (self->srcpad, buf);
  if (ret != GST_FLOW_OK)
    GST_DEBUG_OBJECT (self, "push: %s", gst_flow_get_name (ret));
  g_atomic_int_set (&self->flow, ret);
}

/* Feeds the session the held samples up to @upto and pushes the rows of the chunks they complete. */
static void
advance (GstMorEncoder *self, guint64 upto)
{
  upto = MIN (upto, self->utt_start + self->max_samples);
  if (upto <= self->sess_pos || !flow_ok (self))
    return;
  g_assert (self->sess_pos >= self->hist_start && upto <= self->pos);
  g_autoptr (GError) error = NULL;
  gint64 t0 = g_get_monotonic_time ();
  const float *x = &g_array_index (self->hist, float, self->sess_pos - self->hist_start);
  gboolean ok = mor_encoder_session_push (self->session, x, upto - self->sess_pos, &error);
  self->encode_us += g_get_monotonic_time () - t0;
  self->sess_pos = upto;
  if (!ok) {
    encode_failed (self, error);
    return;
  }
  push_rows (self, GST_CLOCK_TIME_NONE);
}

static void
open_utterance (GstMorEncoder *self, guint64 start)
{
  self->utt_open = TRUE;
  self->utt_no = self->n_utterances++;
  self->utt_start = self->sess_pos = start;
  self->utt_ts = sample_ts (self, start);
  self->rows_sent = 0;
  self->encode_us = 0;
  mor_encoder_session_reset (self->session);
  GST_DEBUG_OBJECT (self, "utterance %u starts at sample %" G_GUINT64_FORMAT " (%" GST_TIME_FORMAT ")",
                    self->utt_no, start, GST_TIME_ARGS (self->utt_ts));
  gap_to (self, self->utt_ts, TRUE);
  gst_pad_push_event (self->srcpad, gst_mor_event_new (GST_MOR_EVENT_UTTERANCE_START,
      gst_structure_new ("fields", "utterance", G_TYPE_UINT, self->utt_no, "timestamp", G_TYPE_UINT64,
                         self->utt_ts, NULL)));
}

/* Ends the open utterance at sample @end: the rest of its samples, the session's finish, the rows
 * not sent yet (the revised ones are not sent again), utterance-end and the message. @arrived_us:
 * when the input that ended it reached the sink pad. */
static void
close_utterance (GstMorEncoder *self, guint64 end, const char *reason, gint64 arrived_us)
{
  g_autoptr (GError) error = NULL;
  advance (self, end);
  end = self->sess_pos;
  GstClockTime end_ts = sample_ts (self, end);
  guint32 revised = 0;
  if (flow_ok (self)) {
    gint64 t0 = g_get_monotonic_time ();
    gboolean ok = mor_encoder_session_finish (self->session, &error);
    self->encode_us += g_get_monotonic_time () - t0;
    if (ok) {
      revised = MIN (mor_encoder_session_first_revised (self->session), self->rows_sent);
      GST_OBJECT_LOCK (self);
      gboolean exact = self->exact;
      GST_OBJECT_UNLOCK (self);
      if (exact && revised < self->rows_sent) {
        /* The early rows the final loudness changed come again, after the event that says so. */
        gst_pad_push_event (self->srcpad, gst_mor_event_new (GST_MOR_EVENT_ROWS_REVISED,
            gst_structure_new ("fields", "utterance", G_TYPE_UINT, self->utt_no, "from", G_TYPE_UINT, revised,
                               NULL)));
        self->rows_sent = revised;
      }
      push_rows (self, end_ts);
    } else {
      encode_failed (self, error);
    }
  }
  guint32 rows = self->rows_sent;
  double end_ms = (double) (g_get_monotonic_time () - arrived_us) / 1000.0;
  GST_DEBUG_OBJECT (self, "utterance %u ends at sample %" G_GUINT64_FORMAT " (%s): %u rows, revised from %u",
                    self->utt_no, end, reason, rows, revised);
  gst_pad_push_event (self->srcpad, gst_mor_event_new (GST_MOR_EVENT_UTTERANCE_END,
      gst_structure_new ("fields", "utterance", G_TYPE_UINT, self->utt_no, "timestamp", G_TYPE_UINT64, end_ts,
                         "rows", G_TYPE_UINT, rows, "revised-from", G_TYPE_UINT, revised,
                         "reason", G_TYPE_STRING, reason, NULL)));
  guint64 samples = end - self->utt_start;
  GstStructure *s = gst_structure_new ("morencoder/utterance",
      "utterance", G_TYPE_UINT, self->utt_no, "timestamp", G_TYPE_UINT64, self->utt_ts,
      "duration", G_TYPE_UINT64, end_ts > self->utt_ts ? end_ts - self->utt_ts : 0,
      "samples", G_TYPE_UINT64, samples, "frames", G_TYPE_UINT, mor_mel_n_frames (samples),
      "rows", G_TYPE_UINT, rows, "revised-from", G_TYPE_UINT, revised, "end-reason", G_TYPE_STRING, reason,
      "encode-ms", G_TYPE_DOUBLE, self->encode_us / 1000.0, "end-to-rows-ms", G_TYPE_DOUBLE, end_ms, NULL);
  gst_element_post_message (GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
  self->utt_open = FALSE;
  self->last_end = end;
}

static const char *
vad_reason (MorVadEndReason reason)
{
  switch (reason) {
  case MOR_VAD_END_SILENCE:
    return "silence";
  case MOR_VAD_END_MAX_LENGTH:
    return "max-length";
  default:
    return "eos";
  }
}

static void
handle_vad_events (GstMorEncoder *self, const MorVadEvent *ev, guint n, gint64 arrived_us)
{
  for (guint i = 0; i < n; i++) {
    guint64 at = self->vad_origin + ev[i].sample;
    if (ev[i].type == MOR_VAD_EVENT_START && !self->utt_open)
      open_utterance (self, MAX (at, self->hist_start));
    else if (ev[i].type == MOR_VAD_EVENT_END && self->utt_open)
      close_utterance (self, MAX (at, self->sess_pos), vad_reason (ev[i].reason), arrived_us);
  }
}

/* Samples [pos, pos + n) (NULL: silence): endpointing, the encoder, the output. */
static void
handle_samples (GstMorEncoder *self, const float *x, gsize n, gint64 arrived_us)
{
  guint64 p0 = self->pos;
  g_array_set_size (self->hist, self->pos + n - self->hist_start);
  float *h = &g_array_index (self->hist, float, p0 - self->hist_start);
  for (gsize i = 0; i < n; i++) {
    /* The encoder refuses non-finite samples; the VAD hears them as silence. */
    h[i] = x && isfinite (x[i]) ? x[i] : 0.0f;
    self->bad_samples += x && !isfinite (x[i]);
  }
  self->pos += n;

  if (self->detector) {
    MorVadEvent ev[16];
    for (gsize done = 0; done < n;) {
      gsize used;
      guint k = mor_vad_push (self->detector, h + done, n - done, &used, ev, G_N_ELEMENTS (ev));
      handle_vad_events (self, ev, k, arrived_us);
      done += used;
    }
    if (self->utt_open && self->pos > self->holdback)
      advance (self, self->pos - self->holdback);
  } else {
    for (guint64 p = p0; p < self->pos;) {
      if (!self->utt_open)
        open_utterance (self, p);
      guint64 limit = self->utt_start + self->max_samples;
      if (limit > self->pos)
        break;
      close_utterance (self, limit, "max-length", arrived_us);
      p = limit;
    }
    if (self->utt_open)
      advance (self, self->pos);
  }

  /* Drop what can no longer reach the encoder; outside utterances, the time up to there is a gap. */
  guint64 keep_from = self->pos;
  if (self->utt_open)
    keep_from = self->sess_pos;
  else if (self->detector)
    keep_from = MAX (self->pos > self->keep ? self->pos - self->keep : 0, self->last_end);
  if (keep_from > self->hist_start) {
    g_array_remove_range (self->hist, 0, MIN (keep_from, self->pos) - self->hist_start);
    self->hist_start = MIN (keep_from, self->pos);
  }
  if (!self->utt_open)
    gap_to (self, sample_ts (self, self->hist_start), FALSE);
}

/* EOS: the open utterance ends (the VAD's partial frame counts), the output is gap-filled to the end. */
static void
end_of_stream (GstMorEncoder *self, gint64 arrived_us)
{
  if (self->detector) {
    MorVadEvent ev[MOR_VAD_MAX_EVENTS_PER_FRAME + 1];
    guint k = mor_vad_flush (self->detector, ev, G_N_ELEMENTS (ev));
    handle_vad_events (self, ev, k, arrived_us);
    self->vad_origin = self->pos;
  }
  if (self->utt_open)
    close_utterance (self, self->pos, "eos", arrived_us);
  if (self->have_base)
    gap_to (self, sample_ts (self, self->pos), TRUE);
  if (self->bad_samples)
    GST_WARNING_OBJECT (self, "%" G_GUINT64_FORMAT " samples were not finite numbers; they counted as 0",
                        self->bad_samples);
}

static void
handle_audio (GstMorEncoder *self, GstBuffer *buf, gint64 arrived_us)
{
  GstMapInfo map;
  if (!flow_ok (self) || !gst_buffer_map (buf, &map, GST_MAP_READ))
    return;
  sync_time (self, GST_BUFFER_PTS (buf), GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT));
  handle_samples (self, (const float *) map.data, map.size / sizeof (float), arrived_us);
  gst_buffer_unmap (buf, &map);
}

static void
handle_event (GstMorEncoder *self, GstEvent *event, gint64 arrived_us)
{
  switch (GST_EVENT_TYPE (event)) {
  case GST_EVENT_CAPS: {
    GstCaps *caps = gst_caps_new_simple (GST_MOR_EMBEDDINGS_CAPS, "dim", G_TYPE_INT, (gint) self->dim, NULL);
    gst_pad_push_event (self->srcpad, gst_event_new_caps (caps));
    gst_caps_unref (caps);
    gst_event_unref (event);
    return;
  }
  case GST_EVENT_SEGMENT: {
    /* A new timeline: the open utterance ends in the old one, the VAD starts afresh. */
    if (self->utt_open)
      close_utterance (self, self->pos, "segment", arrived_us);
    if (self->detector) {
      mor_vad_reset (self->detector);
      self->vad_origin = self->pos;
    }
    const GstSegment *segment;
    gst_event_parse_segment (event, &segment);
    gst_segment_copy_into (segment, &self->segment);
    self->have_base = FALSE;
    if (segment->format != GST_FORMAT_TIME) {
      /* Samples count from 0 in a TIME segment of ours. */
      GstSegment time;
      gst_segment_init (&time, GST_FORMAT_TIME);
      guint32 seqnum = gst_event_get_seqnum (event);
      gst_event_unref (event);
      event = gst_event_new_segment (&time);
      gst_event_set_seqnum (event, seqnum);
    }
    self->out_ts = self->segment.format == GST_FORMAT_TIME ? self->segment.start : 0;
    break;
  }
  case GST_EVENT_GAP: {
    /* Silence: the VAD hears it and an open utterance gets it, as if the samples had come. */
    GstClockTime ts, dur;
    gst_event_parse_gap (event, &ts, &dur);
    if (GST_CLOCK_TIME_IS_VALID (dur) && dur > 0 && flow_ok (self)) {
      gsize n = gst_util_uint64_scale_int (MIN (dur, MAX_GAP_SILENCE), RATE, GST_SECOND);
      sync_time (self, ts, FALSE);
      handle_samples (self, NULL, n, arrived_us);
    }
    gst_event_unref (event);
    return;
  }
  case GST_EVENT_EOS:
    end_of_stream (self, arrived_us);
    break;
  default: {
    GstMorEventType type = gst_mor_event_get_mor_type (event);
    if (type == GST_MOR_EVENT_UTTERANCE_START || type == GST_MOR_EVENT_UTTERANCE_END) {
      /* Ours replace them; without the VAD they end the open utterance. */
      if (!self->detector && self->utt_open)
        close_utterance (self, self->pos, "upstream", arrived_us);
      gst_event_unref (event);
      return;
    }
    break;
  }
  }
  gst_pad_push_event (self->srcpad, event);
}

static void
handle_item (GstMorWorkerItem *item, gpointer user_data)
{
  GstMorEncoder *self = user_data;
  if (item->kind == ITEM_AUDIO)
    handle_audio (self, item->buffer, item->arrived_us);
  else
    handle_event (self, g_steal_pointer (&item->event), item->arrived_us);
}

/* ---- input (streaming thread) ---- */

static GstFlowReturn
gst_mor_encoder_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer)
{
  GstMorEncoder *self = GST_MOR_ENCODER (parent);
  if (!self->have_caps) {
    gst_buffer_unref (buffer);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  if (self->in_s16) {
    /* The worker takes float samples. */
    GstMapInfo in, out;
    gst_buffer_map (buffer, &in, GST_MAP_READ);
    gsize n = in.size / 2;
    GstBuffer *f = gst_buffer_new_allocate (NULL, n * sizeof (float), NULL);
    gst_buffer_copy_into (f, buffer, GST_BUFFER_COPY_FLAGS | GST_BUFFER_COPY_TIMESTAMPS, 0, -1);
    gst_buffer_map (f, &out, GST_MAP_WRITE);
    for (gsize i = 0; i < n; i++)
      ((float *) out.data)[i] = (float) (gint16) GST_READ_UINT16_LE (in.data + 2 * i) / 32768.0f;
    gst_buffer_unmap (f, &out);
    gst_buffer_unmap (buffer, &in);
    gst_buffer_unref (buffer);
    buffer = f;
  }
  if (!gst_mor_worker_push (self->worker, ITEM_AUDIO, NULL, buffer, FALSE))
    return GST_FLOW_FLUSHING;
  return g_atomic_int_get (&self->flow);
}

/* Whether @caps is what the sink takes; else posts CORE/NEGOTIATION saying what it needs. */
static gboolean
set_sink_caps (GstMorEncoder *self, GstCaps *caps)
{
  GstCaps *templ = gst_static_pad_template_get_caps (&sink_template);
  gboolean ok = gst_caps_is_subset (caps, templ);
  gst_caps_unref (templ);
  if (!ok) {
    g_autofree char *got = gst_caps_to_string (caps);
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("morencoder needs %s; got %s", NEEDS, got),
                       ("caps %" GST_PTR_FORMAT, caps));
    return FALSE;
  }
  self->in_s16 = g_strcmp0 (gst_structure_get_string (gst_caps_get_structure (caps, 0), "format"), "S16LE") == 0;
  self->have_caps = TRUE;
  return TRUE;
}

/* The flush dropped what the worker had not handled yet (the worker keeps stream-start and
 * caps): a segment that never went out and is still sticky is queued again from the sink pad's. */
static void
requeue_sticky (GstMorEncoder *self)
{
  const GstEventType types[] = { GST_EVENT_SEGMENT };
  for (guint i = 0; i < G_N_ELEMENTS (types); i++) {
    GstEvent *in = gst_pad_get_sticky_event (self->sinkpad, types[i], 0);
    GstEvent *out = gst_pad_get_sticky_event (self->srcpad, types[i], 0);
    if (in && !out)
      gst_mor_worker_push (self->worker, ITEM_EVENT, g_steal_pointer (&in), NULL, FALSE);
    gst_clear_event (&in);
    gst_clear_event (&out);
  }
}

static gboolean
gst_mor_encoder_sink_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstMorEncoder *self = GST_MOR_ENCODER (parent);
  GST_DEBUG_OBJECT (pad, "event %" GST_PTR_FORMAT, event);
  switch (GST_EVENT_TYPE (event)) {
  case GST_EVENT_FLUSH_START:
    gst_mor_worker_flush_start (self->worker);
    return gst_pad_event_default (pad, parent, event);
  case GST_EVENT_FLUSH_STOP: {
    /* Until this event returns no item comes, and the worker's state is ours: the utterance
     * in progress is dropped without an end. */
    gst_mor_worker_flush_stop (self->worker);
    reset_stream (self);
    gboolean ret = gst_pad_event_default (pad, parent, event);
    requeue_sticky (self);
    return ret;
  }
  case GST_EVENT_CAPS: {
    GstCaps *caps;
    gst_event_parse_caps (event, &caps);
    if (!set_sink_caps (self, caps)) {
      gst_event_unref (event);
      return FALSE;
    }
    break;
  }
  default:
    if (!GST_EVENT_IS_SERIALIZED (event))
      return gst_pad_event_default (pad, parent, event);
    break;
  }
  /* Serialized events go through the worker, in order with the samples. */
  return gst_mor_worker_push (self->worker, ITEM_EVENT, event, NULL, FALSE);
}

/* ---- queries ---- */

/* Answers a CAPS query with @caps (transfer full) cut to its filter; TRUE when that leaves nothing. */
static gboolean
answer_caps (GstQuery *query, GstCaps *caps)
{
  GstCaps *filter;
  gst_query_parse_caps (query, &filter);
  if (filter) {
    GstCaps *c = gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (caps);
    caps = c;
  }
  gboolean empty = gst_caps_is_empty (caps);
  gst_query_set_caps_result (query, caps);
  gst_caps_unref (caps);
  return empty;
}

/* The device context, else the default handling. */
static gboolean
query_default (GstMorEncoder *self, GstPad *pad, GstQuery *query)
{
  if (GST_QUERY_TYPE (query) == GST_QUERY_CONTEXT &&
      gst_mor_element_handle_context_query (GST_ELEMENT (self), query, self->dev))
    return TRUE;
  return gst_pad_query_default (pad, GST_OBJECT (self), query);
}

static gboolean
gst_mor_encoder_sink_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstMorEncoder *self = GST_MOR_ENCODER (parent);
  switch (GST_QUERY_TYPE (query)) {
  case GST_QUERY_CAPS: {
    GstCaps *filter;
    gst_query_parse_caps (query, &filter);
    /* Upstream offers only audio we cannot take: it will fail with not-negotiated; say why. */
    if (answer_caps (query, gst_pad_get_pad_template_caps (pad)) && filter && !gst_caps_is_empty (filter) &&
        gst_structure_has_name (gst_caps_get_structure (filter, 0), "audio/x-raw") &&
        g_atomic_int_compare_and_exchange (&self->warned_caps, FALSE, TRUE)) {
      g_autofree char *offered = gst_caps_to_string (filter);
      GST_ELEMENT_WARNING (self, CORE, NEGOTIATION, ("morencoder needs %s; upstream offers %s", NEEDS, offered),
                           (NULL));
    }
    return TRUE;
  }
  case GST_QUERY_ACCEPT_CAPS: {
    /* Any raw audio is let through to the CAPS event, which refuses it with an error naming
     * what morencoder needs; the CAPS query above still offers only what it takes. */
    GstCaps *caps;
    gst_query_parse_accept_caps (query, &caps);
    gst_query_set_accept_caps_result (query, gst_caps_is_fixed (caps) &&
                                      gst_structure_has_name (gst_caps_get_structure (caps, 0), "audio/x-raw"));
    return TRUE;
  }
  default:
    return query_default (self, pad, query);
  }
}

/* The element's own latency: a chunk and its look-ahead, the held-back silence, the encoding budget. */
static GstClockTime
own_latency (GstMorEncoder *self)
{
  GST_OBJECT_LOCK (self);
  guint64 samples = self->chunk_samples + CHUNK_LOOKAHEAD + (self->vad ? vad_frames (self->silence) : 0);
  GstClockTime latency = gst_util_uint64_scale_int (samples, GST_SECOND, RATE) + self->latency_ms * GST_MSECOND;
  GST_OBJECT_UNLOCK (self);
  return latency;
}

static gboolean
gst_mor_encoder_src_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstMorEncoder *self = GST_MOR_ENCODER (parent);
  switch (GST_QUERY_TYPE (query)) {
  case GST_QUERY_LATENCY: {
    /* Upstream's, plus ours when upstream is live. */
    gboolean live;
    GstClockTime min, max;
    if (!gst_pad_peer_query (self->sinkpad, query))
      return FALSE;
    gst_query_parse_latency (query, &live, &min, &max);
    if (live) {
      GstClockTime own = own_latency (self);
      gst_query_set_latency (query, live, min + own, GST_CLOCK_TIME_IS_VALID (max) ? max + own : max);
    }
    return TRUE;
  }
  case GST_QUERY_CAPS: {
    /* With a model loaded, rows have its width. */
    answer_caps (query, self->dim ? gst_caps_new_simple (GST_MOR_EMBEDDINGS_CAPS, "dim", G_TYPE_INT,
                                                         (gint) self->dim, NULL)
                                  : gst_pad_get_pad_template_caps (pad));
    return TRUE;
  }
  default:
    return query_default (self, pad, query);
  }
}
