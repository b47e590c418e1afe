/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The output side of morthinker: caps choice, gaps, text modes, meta, records (see gstmorthinkerout.h). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstmorthinkerout.h"

#include <gst/base/gstflowcombiner.h>
#include <string.h>

#include "gstmorelement.h"
#include "gstmorrecord.h"

#define GST_CAT_DEFAULT gst_mor_debug

#define N_STREAMS 2

/* One src pad. */
typedef struct {
  GstPad *pad;
  gboolean tokens;               /* negotiated application/x-mor-tokens (else text) */
  GstClockTime position;         /* end of the last buffer or gap (stream time) */
  MorTokenizerStream *decoder;
  GString *text;                 /* text not sent yet (cumulative: the whole answer's) */
  GArray *ids, *cycles, *slots;  /* gint, guint, guint: the tokens of the pending text */
  GArray *logprobs;              /* float */
  guint32 count;                 /* tokens of this answer */
} Pad;

struct _GstMorThinkerOut {
  GstElement *element;           /* the owner, not reffed */
  GstPad *sinkpad;               /* the element's */
  GstPadQueryFunction query;     /* the element's, for queries other than LATENCY */
  Pad pads[N_STREAMS];
  GstFlowCombiner *combiner;
  gint flow;                     /* GstFlowReturn, atomic: the combined flow of the latest push */
  gboolean started;              /* stream-start sent */
  guint32 dim;                   /* the thinker's hidden size */
  GstSegment segment;            /* output segment, TIME */
  GstClockTime timeline;         /* latest time seen, input or output (stream time) */
  guint32 answer;                /* the answer in progress */
  GstMorThinkerTextMode mode;    /* its text mode */
  gboolean live;                 /* upstream is live: the running time holds the clock back */
  GstClockTime step_t;           /* the answer's clock: the current step's time */
  guint32 n_steps;               /* steps of the answer so far */

  /* under the element's object lock */
  GstClockTime latency;          /* the element's own */
  guint32 seek_seqnum;           /* the latest SEEK sent upstream */
};

static gboolean src_event (GstPad *pad, GstObject *parent, GstEvent *event);
static gboolean src_query (GstPad *pad, GstObject *parent, GstQuery *query);

GType
gst_mor_thinker_text_mode_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { GST_MOR_THINKER_TEXT_TOKEN, "A buffer per token (a character split over tokens goes with the last)",
      "token" },
    { GST_MOR_THINKER_TEXT_WORD, "A buffer per word (split before a token starting with white space)", "word" },
    { GST_MOR_THINKER_TEXT_LINE, "A buffer per line (up to a token holding a newline)", "line" },
    { GST_MOR_THINKER_TEXT_CUMULATIVE, "The stream's whole text of the answer so far, a buffer per token",
      "cumulative" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstMorThinkerTextMode", values));
  return type;
}

GstMorThinkerOut *
gst_mor_thinker_out_new (GstElement *element, GstPad *sinkpad, GstStaticPadTemplate **templates,
                         GstPadQueryFunction query)
{
  GstMorThinkerOut *out = g_new0 (GstMorThinkerOut, 1);
  out->element = element;
  out->sinkpad = sinkpad;
  out->query = query;
  out->seek_seqnum = GST_SEQNUM_INVALID;
  out->combiner = gst_flow_combiner_new ();
  for (guint i = 0; i < N_STREAMS; i++) {
    Pad *o = &out->pads[i];
    o->pad = gst_object_ref_sink (gst_pad_new_from_static_template (templates[i], templates[i]->name_template));
    gst_pad_set_element_private (o->pad, out);
    gst_pad_set_event_function (o->pad, GST_DEBUG_FUNCPTR (src_event));
    gst_pad_set_query_function (o->pad, GST_DEBUG_FUNCPTR (src_query));
    gst_pad_use_fixed_caps (o->pad);
    gst_element_add_pad (element, o->pad);
    gst_flow_combiner_add_pad (out->combiner, o->pad);
    o->text = g_string_new (NULL);
    o->ids = g_array_new (FALSE, FALSE, sizeof (gint));
    o->cycles = g_array_new (FALSE, FALSE, sizeof (guint));
    o->slots = g_array_new (FALSE, FALSE, sizeof (guint));
    o->logprobs = g_array_new (FALSE, FALSE, sizeof (float));
  }
  gst_segment_init (&out->segment, GST_FORMAT_TIME);
  return out;
}

void
gst_mor_thinker_out_free (GstMorThinkerOut *out)
{
  gst_mor_thinker_out_stop (out);
  gst_flow_combiner_free (out->combiner);
  for (guint i = 0; i < N_STREAMS; i++) {
    Pad *o = &out->pads[i];
    gst_object_unref (o->pad);
    g_string_free (o->text, TRUE);
    g_array_unref (o->ids);
    g_array_unref (o->cycles);
    g_array_unref (o->slots);
    g_array_unref (o->logprobs);
  }
  g_free (out);
}

void
gst_mor_thinker_out_start (GstMorThinkerOut *out, MorTokenizer *tok, guint32 dim)
{
  gst_mor_thinker_out_reset_flow (out);
  gst_segment_init (&out->segment, GST_FORMAT_TIME);
  out->timeline = 0;
  out->started = FALSE;
  out->dim = dim;
  GST_OBJECT_LOCK (out->element);
  out->seek_seqnum = GST_SEQNUM_INVALID;
  GST_OBJECT_UNLOCK (out->element);
  for (guint i = 0; i < N_STREAMS; i++) {
    Pad *o = &out->pads[i];
    o->position = GST_CLOCK_TIME_NONE;
    g_clear_pointer (&o->decoder, mor_tokenizer_stream_free);
    o->decoder = mor_tokenizer_stream_new (tok, FALSE);
  }
}

void
gst_mor_thinker_out_stop (GstMorThinkerOut *out)
{
  for (guint i = 0; i < N_STREAMS; i++)
    g_clear_pointer (&out->pads[i].decoder, mor_tokenizer_stream_free);
}

GstFlowReturn
gst_mor_thinker_out_get_flow (GstMorThinkerOut *out)
{
  return (GstFlowReturn) g_atomic_int_get (&out->flow);
}

void
gst_mor_thinker_out_reset_flow (GstMorThinkerOut *out)
{
  gst_flow_combiner_reset (out->combiner);
  g_atomic_int_set (&out->flow, GST_FLOW_OK);
}

void
gst_mor_thinker_out_set_latency (GstMorThinkerOut *out, GstClockTime latency)
{
  GST_OBJECT_LOCK (out->element);
  out->latency = latency;
  GST_OBJECT_UNLOCK (out->element);
}

gboolean
gst_mor_thinker_out_is_live (GstMorThinkerOut *out)
{
  gboolean live = FALSE;
  GstQuery *q = gst_query_new_latency ();
  if (gst_pad_peer_query (out->sinkpad, q))
    gst_query_parse_latency (q, &live, NULL, NULL);
  gst_query_unref (q);
  return live;
}

/* The flow of a push on @o, combined over both pads; errors are posted. */
static GstFlowReturn
combine (GstMorThinkerOut *out, Pad *o, GstFlowReturn ret)
{
  ret = gst_flow_combiner_update_pad_flow (out->combiner, o->pad, ret);
  g_atomic_int_set (&out->flow, ret);
  if (ret == GST_FLOW_ERROR || ret == GST_FLOW_NOT_NEGOTIATED)
    GST_ELEMENT_FLOW_ERROR (out->element, ret);
  return ret;
}

/* Pushes @buf on @o over [@pts, @pts + @duration). */
static GstFlowReturn
push (GstMorThinkerOut *out, Pad *o, GstBuffer *buf, GstClockTime pts, GstClockTime duration)
{
  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DURATION (buf) = duration;
  o->position = MAX (o->position, pts + duration);
  return combine (out, o, gst_pad_push (o->pad, buf));
}

/* ---- events ---- */

void
gst_mor_thinker_out_push_event (GstMorThinkerOut *out, GstEvent *event)
{
  for (guint i = 0; i < N_STREAMS; i++)
    gst_pad_push_event (out->pads[i].pad, gst_event_ref (event));
  gst_event_unref (event);
}

void
gst_mor_thinker_out_stream_start (GstMorThinkerOut *out, GstEvent *upstream)
{
  guint group;
  gboolean have_group = upstream && gst_event_parse_group_id (upstream, &group);
  for (guint i = 0; i < N_STREAMS; i++) {
    Pad *o = &out->pads[i];
    g_autofree char *id = gst_pad_create_stream_id (o->pad, out->element, mor_interleave_stream_name (i));
    GstEvent *e = gst_event_new_stream_start (id);
    gst_event_set_stream_flags (e, GST_STREAM_FLAG_SPARSE);
    if (have_group)
      gst_event_set_group_id (e, group);
    gst_pad_push_event (o->pad, e);
  }
  out->started = TRUE;
}

gboolean
gst_mor_thinker_out_negotiate (GstMorThinkerOut *out, gboolean force)
{
  gboolean reconfigure = FALSE;
  for (guint i = 0; i < N_STREAMS; i++)
    reconfigure |= gst_pad_check_reconfigure (out->pads[i].pad);
  if (!force && !reconfigure)
    return TRUE;
  if (!out->started)
    gst_mor_thinker_out_stream_start (out, NULL);
  for (guint i = 0; i < N_STREAMS; i++) {
    Pad *o = &out->pads[i];
    g_autoptr (GstCaps) ours = gst_caps_from_string (GST_MOR_TEXT_CAPS);
    gst_caps_append (ours, gst_caps_new_simple (GST_MOR_TOKENS_CAPS, "dim", G_TYPE_INT, (gint) out->dim,
                                                "stream", G_TYPE_STRING, mor_interleave_stream_name (i), NULL));
    g_autoptr (GstCaps) peer = gst_pad_peer_query_caps (o->pad, ours);
    if (gst_caps_is_empty (peer)) {
      GST_ELEMENT_ERROR (out->element, CORE, NEGOTIATION, ("Downstream of the %s pad takes neither text nor "
                         "tokens", mor_interleave_stream_name (i)), ("peer caps: %" GST_PTR_FORMAT, peer));
      return FALSE;
    }
    GstCaps *caps = gst_caps_fixate (gst_caps_truncate (gst_caps_ref (peer)));
    o->tokens = gst_structure_has_name (gst_caps_get_structure (caps, 0), GST_MOR_TOKENS_CAPS);
    gst_pad_push_event (o->pad, gst_event_new_caps (caps));
    gst_caps_unref (caps);
  }
  return TRUE;
}

void
gst_mor_thinker_out_segment (GstMorThinkerOut *out, GstEvent *event)
{
  const GstSegment *seg;
  gst_event_parse_segment (event, &seg);
  if (seg->format == GST_FORMAT_TIME)
    gst_segment_copy_into (seg, &out->segment);
  else
    gst_segment_init (&out->segment, GST_FORMAT_TIME);
  GstEvent *e = gst_event_new_segment (&out->segment);
  gst_event_set_seqnum (e, gst_event_get_seqnum (event));
  gst_mor_thinker_out_push_event (out, e);
  for (guint i = 0; i < N_STREAMS; i++)
    out->pads[i].position = out->segment.start;
  out->timeline = out->segment.start;
}

/* ---- time ---- */

void
gst_mor_thinker_out_fill_gaps (GstMorThinkerOut *out, GstClockTime t)
{
  if (!GST_CLOCK_TIME_IS_VALID (t))
    return;
  out->timeline = MAX (out->timeline, t);
  for (guint i = 0; i < N_STREAMS; i++) {
    Pad *o = &out->pads[i];
    if (!GST_CLOCK_TIME_IS_VALID (o->position))
      o->position = out->segment.start;
    if (o->position < t && gst_pad_has_current_caps (o->pad))
      gst_pad_push_event (o->pad, gst_event_new_gap (o->position, t - o->position));
    o->position = MAX (o->position, t);
  }
}

/* The element's current running time as stream time, when upstream is live
 * and the element has a clock; else NONE. */
static GstClockTime
live_now (GstMorThinkerOut *out)
{
  if (!out->live)
    return GST_CLOCK_TIME_NONE;
  GstClockTime rt = gst_element_get_current_running_time (out->element);
  if (!GST_CLOCK_TIME_IS_VALID (rt))
    return GST_CLOCK_TIME_NONE;
  return gst_segment_position_from_running_time (&out->segment, GST_FORMAT_TIME, rt);
}

/* ---- text modes ---- */

static void
reset_pending (Pad *o, gboolean keep_text)
{
  if (!keep_text)
    g_string_truncate (o->text, 0);
  g_array_set_size (o->ids, 0);
  g_array_set_size (o->cycles, 0);
  g_array_set_size (o->slots, 0);
  g_array_set_size (o->logprobs, 0);
}

/* (transfer full): a GstValueArray of @a's elements, of @type (int, uint or float). */
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

/* Sends the pending text (cumulative: the whole text so far) as one buffer
 * with the meta of the pending tokens, which it clears. */
static GstFlowReturn
flush_pending (GstMorThinkerOut *out, guint stream, GstClockTime pts, GstClockTime duration)
{
  Pad *o = &out->pads[stream];
  if (o->ids->len == 0 || o->text->len == 0)
    return GST_FLOW_OK;
  GstBuffer *buf = gst_buffer_new_memdup (o->text->str, o->text->len);
  GstStructure *s = gst_mor_buffer_add_token_meta (buf);
  gst_structure_set (s, "stream", G_TYPE_STRING, mor_interleave_stream_name (stream), "answer", G_TYPE_UINT,
                     out->answer, NULL);
  struct { const char *name; GArray *a; GType type; } fields[] = {
    { "token-ids", o->ids, G_TYPE_INT }, { "cycles", o->cycles, G_TYPE_UINT },
    { "slots", o->slots, G_TYPE_UINT }, { "log-probs", o->logprobs, G_TYPE_FLOAT },
  };
  for (guint i = 0; i < G_N_ELEMENTS (fields); i++) {
    GValue *v = array_value (fields[i].a, fields[i].type);
    gst_structure_take_value (s, fields[i].name, v);
    g_free (v);
  }
  reset_pending (o, out->mode == GST_MOR_THINKER_TEXT_CUMULATIVE);
  return push (out, o, buf, pts, duration);
}

static gboolean
has_non_space (const GString *s)
{
  for (gsize i = 0; i < s->len; i++)
    if (!g_ascii_isspace (s->str[i]))
      return TRUE;
  return FALSE;
}

/* Adds a token of @piece to the stream's pending text and sends what the text
 * mode has complete: a token (once its characters are whole), the word that a
 * piece starting with white space ends, a line, or the whole text so far. */
static GstFlowReturn
add_token_text (GstMorThinkerOut *out, guint stream, const MorInterleaveToken *tk, const GString *piece,
                GstClockTime pts, GstClockTime duration)
{
  Pad *o = &out->pads[stream];
  GstMorThinkerTextMode mode = out->mode;
  GstFlowReturn ret = GST_FLOW_OK;
  if (mode == GST_MOR_THINKER_TEXT_WORD && piece->len && g_ascii_isspace (piece->str[0]) && has_non_space (o->text))
    ret = flush_pending (out, stream, pts, duration);
  gint id = tk->id;
  g_array_append_val (o->ids, id);
  g_array_append_val (o->cycles, tk->slot.cycle);
  g_array_append_val (o->slots, tk->slot.slot);
  g_array_append_val (o->logprobs, tk->logprob);
  g_string_append_len (o->text, piece->str, piece->len);
  if (ret != GST_FLOW_OK && ret != GST_FLOW_NOT_LINKED)
    return ret;
  if ((mode == GST_MOR_THINKER_TEXT_TOKEN || mode == GST_MOR_THINKER_TEXT_CUMULATIVE) && piece->len)
    ret = flush_pending (out, stream, pts, duration);
  else if (mode == GST_MOR_THINKER_TEXT_LINE && memchr (piece->str, '\n', piece->len))
    ret = flush_pending (out, stream, pts, duration);
  return ret;
}

/* ---- an answer ---- */

GstFlowReturn
gst_mor_thinker_out_begin_answer (GstMorThinkerOut *out, guint32 answer, GstMorThinkerTextMode mode,
                                  MorPrompt *prompt, gboolean live)
{
  GstFlowReturn ret = GST_FLOW_OK;
  out->answer = answer;
  out->mode = mode;
  out->live = live;
  out->n_steps = 0;
  GstClockTime now = live_now (out);
  out->step_t = GST_CLOCK_TIME_IS_VALID (now) ? MAX (out->timeline, now) : out->timeline;
  gst_mor_thinker_out_fill_gaps (out, out->step_t);
  for (guint i = 0; i < N_STREAMS; i++) {
    Pad *o = &out->pads[i];
    reset_pending (o, FALSE);
    o->count = 0;
    g_autoptr (GString) drop = g_string_new (NULL);
    mor_tokenizer_stream_flush (o->decoder, drop);
    if (o->tokens && prompt) {
      GstBuffer *buf = gst_mor_record_new_prompt (out->dim, answer, i, mor_prompt_get_n_rows (prompt),
                                                  mor_prompt_get_ids (prompt), mor_prompt_get_hidden (prompt),
                                                  mor_prompt_get_embeddings (prompt));
      ret = push (out, o, buf, out->step_t, 0);
    }
  }
  return ret;
}

void
gst_mor_thinker_out_next_step (GstMorThinkerOut *out)
{
  GstClockTime now = live_now (out);
  if (out->n_steps++ > 0)
    out->step_t += GST_MOR_THINKER_STEP;
  if (GST_CLOCK_TIME_IS_VALID (now))
    out->step_t = MAX (out->step_t, now);
  gst_mor_thinker_out_fill_gaps (out, out->step_t);
}

GstFlowReturn
gst_mor_thinker_out_push_token (GstMorThinkerOut *out, const MorInterleaveToken *tk)
{
  guint stream = tk->slot.stream;
  GstClockTime pts = out->step_t, duration = tk->slot.next_in * GST_MOR_THINKER_STEP;
  Pad *o = &out->pads[stream];
  GstFlowReturn ret;
  g_autoptr (GString) piece = g_string_new (NULL);
  mor_tokenizer_stream_push (o->decoder, tk->id, piece);
  if (o->tokens) {
    GstBuffer *buf = gst_mor_record_new_token (out->dim, out->answer, stream, o->count, tk->slot.cycle,
                                               tk->slot.slot, tk->id, tk->logprob, tk->hidden, tk->embedding,
                                               piece->str, piece->len);
    ret = push (out, o, buf, pts, duration);
  } else {
    ret = add_token_text (out, stream, tk, piece, pts, duration);
  }
  o->count++;
  return ret;
}

void
gst_mor_thinker_out_end_answer (GstMorThinkerOut *out, gboolean send)
{
  g_autoptr (GString) piece = g_string_new (NULL);
  for (guint i = 0; i < N_STREAMS; i++) {
    Pad *o = &out->pads[i];
    g_string_truncate (piece, 0);
    mor_tokenizer_stream_flush (o->decoder, piece);
    g_string_append_len (o->text, piece->str, piece->len);
    if (!o->tokens && send)
      flush_pending (out, i, out->step_t, GST_MOR_THINKER_STEP);
  }
  out->step_t += GST_MOR_THINKER_STEP;
  gst_mor_thinker_out_fill_gaps (out, out->step_t);
}

guint32
gst_mor_thinker_out_count (GstMorThinkerOut *out, MorInterleaveStream stream)
{
  return out->pads[stream].count;
}

/* ---- upstream: events and queries on the src pads ---- */

/* A SEEK reaches upstream once, though downstream of each src pad sends it. */
static gboolean
src_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstMorThinkerOut *out = gst_pad_get_element_private (pad);
  if (GST_EVENT_TYPE (event) != GST_EVENT_SEEK)
    return gst_pad_event_default (pad, parent, event);
  guint32 seqnum = gst_event_get_seqnum (event);
  GST_OBJECT_LOCK (parent);
  gboolean seen = seqnum == out->seek_seqnum;
  out->seek_seqnum = seqnum;
  GST_OBJECT_UNLOCK (parent);
  if (seen) {
    GST_DEBUG_OBJECT (pad, "SEEK seqnum %u already sent upstream", seqnum);
    gst_event_unref (event);
    return TRUE;
  }
  return gst_pad_push_event (out->sinkpad, event);
}

/* LATENCY: upstream's, plus the element's own when upstream is live. */
static gboolean
src_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstMorThinkerOut *out = gst_pad_get_element_private (pad);
  if (GST_QUERY_TYPE (query) != GST_QUERY_LATENCY)
    return out->query (pad, parent, query);
  gboolean live;
  GstClockTime min, max;
  if (!gst_pad_peer_query (out->sinkpad, query))
    return FALSE;
  gst_query_parse_latency (query, &live, &min, &max);
  if (live) {
    GST_OBJECT_LOCK (parent);
    GstClockTime own = out->latency;
    GST_OBJECT_UNLOCK (parent);
    min += own;
    if (GST_CLOCK_TIME_IS_VALID (max))
      max += own;
    gst_query_set_latency (query, live, min, max);
  }
  return TRUE;
}
