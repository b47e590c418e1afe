/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of gst/gstmorthinker.c through GstHarness and gst_parse_launch, on tiny
 * random thinkers written by mor_mkmodel_thinker_full(). Their control tokens
 * have zero output rows (never sampled), so with greedy decoding an answer runs
 * to max-tokens and every cycle is whole; where a test needs a stream to end,
 * it names as end token a token that greedy decoding is seen to produce. */
#include <glib/gstdio.h>
#include <gst/check/gstharness.h>
#include <string.h>

#include "gstmorelement.h"
#include "start_error.h"
#include "gstmorrecord.h"
#include "mkmodel.h"
#include "spans.h"
#include "tokenizer.h"

#define DIM 256 /* the tiny shape's hidden size */

static char *tmpdir, *model_il, *model_plain;

static char *
write_model (const char *name, const MorMkmodelThinkerOptions *o)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MorGgufWriter) w = mor_mkmodel_thinker_full (mor_mkmodel_thinker_shape ("tiny"), MOR_TYPE_F16, 3, o,
                                                          &error);
  g_assert_no_error (error);
  char *path = g_build_filename (tmpdir, name, NULL);
  g_assert_true (mor_gguf_writer_write_file (w, path, &error));
  g_assert_no_error (error);
  return path;
}

/* ---- a thinker between harnesses ---- */

typedef struct {
  GstElement *el;
  GstBus *bus;
  GstHarness *h[2];  /* response, reasoning (NULL: left unlinked) */
} T;

/* A morthinker on @model with greedy decoding and the properties given as
 * NULL-terminated name/value pairs; sinks take @caps (text or tokens). */
static T *
t_new (const char *model, gboolean link_reasoning, const char *caps, const char *first, ...)
{
  T *t = g_new0 (T, 1);
  t->el = gst_element_factory_make ("morthinker", NULL);
  g_assert_nonnull (t->el);
  g_object_set (t->el, "model", model, "temperature", 0.0f, "repetition-penalty", 1.0f, NULL);
  va_list args;
  va_start (args, first);
  g_object_set_valist (G_OBJECT (t->el), first, args);
  va_end (args);
  t->bus = gst_bus_new ();
  gst_element_set_bus (t->el, t->bus);
  t->h[0] = gst_harness_new_with_element (t->el, "sink", "response");
  if (link_reasoning)
    t->h[1] = gst_harness_new_with_element (t->el, NULL, "reasoning");
  for (guint i = 0; i < 2; i++)
    if (t->h[i])
      gst_harness_set_sink_caps_str (t->h[i], caps);
  gst_harness_play (t->h[0]);
  return t;
}

static void
t_free (T *t)
{
  for (guint i = 0; i < 2; i++)
    if (t->h[i])
      gst_harness_teardown (t->h[i]);
  gst_element_set_bus (t->el, NULL);
  gst_object_unref (t->bus);
  gst_object_unref (t->el);
  g_free (t);
}

static void
push_question (T *t, const char *text)
{
  GstBuffer *buf = gst_buffer_new_memdup (text, strlen (text));
  g_assert_cmpint (gst_harness_push (t->h[0], buf), ==, GST_FLOW_OK);
}

/* Pulls events from @h until a mor answer-end or interrupt; returns its type.
 * @spans (optional) gets [start, end) of each GAP event on the way. */
static GstMorEventType
wait_answer_gaps (GstHarness *h, GArray *spans)
{
  for (;;) {
    GstEvent *e = gst_harness_pull_event (h);
    g_assert_nonnull (e);
    GstMorEventType type = gst_mor_event_get_mor_type (e);
    if (spans && GST_EVENT_TYPE (e) == GST_EVENT_GAP) {
      GstClockTime span[2];
      gst_event_parse_gap (e, &span[0], &span[1]);
      span[1] += span[0];
      g_array_append_vals (spans, span, 2);
    }
    gst_event_unref (e);
    if (type == GST_MOR_EVENT_ANSWER_END || type == GST_MOR_EVENT_INTERRUPT)
      return type;
  }
}

static GstMorEventType
wait_answer (GstHarness *h)
{
  return wait_answer_gaps (h, NULL);
}

/* The element message of the answer, from the bus. */
static GstStructure *
answer_message (T *t)
{
  for (;;) {
    GstMessage *m = gst_bus_timed_pop_filtered (t->bus, 30 * GST_SECOND, GST_MESSAGE_ELEMENT);
    g_assert_nonnull (m);
    const GstStructure *s = gst_message_get_structure (m);
    if (gst_structure_has_name (s, "morthinker/answer")) {
      GstStructure *copy = gst_structure_copy (s);
      gst_message_unref (m);
      return copy;
    }
    gst_message_unref (m);
  }
}

typedef struct {
  GstMorRecordKind kind;
  guint32 stream, index, cycle, slot, n_rows;
  gint32 id;
  char *text;
  GstClockTime pts, duration;
  gint32 first_ids[4];
} Rec;

/* Every token record waiting in @h, checked against the layout. */
static GArray *
pull_records (GstHarness *h)
{
  GArray *recs = g_array_new (FALSE, TRUE, sizeof (Rec));
  GstBuffer *buf;
  while ((buf = gst_harness_try_pull (h))) {
    GstMapInfo map;
    GstMorRecord r;
    g_autoptr (GError) error = NULL;
    gst_buffer_map (buf, &map, GST_MAP_READ);
    g_assert_true (gst_mor_record_parse (map.data, map.size, &r, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (r.dim, ==, DIM);
    Rec rec = { r.kind, r.stream, r.index, r.cycle, r.slot, r.n_rows, r.token_id,
                g_strndup (r.text, r.text_len), GST_BUFFER_PTS (buf), GST_BUFFER_DURATION (buf) };
    for (guint i = 0; r.ids && i < MIN (4, r.n_rows); i++)
      rec.first_ids[i] = GST_READ_UINT32_LE (r.ids + 4 * i);
    g_assert_true (GST_CLOCK_TIME_IS_VALID (rec.pts) && GST_CLOCK_TIME_IS_VALID (rec.duration));
    g_array_append_val (recs, rec);
    gst_buffer_unmap (buf, &map);
    gst_buffer_unref (buf);
  }
  return recs;
}

static void
records_free (GArray *recs)
{
  for (guint i = 0; i < recs->len; i++)
    g_free (g_array_index (recs, Rec, i).text);
  g_array_unref (recs);
}

/* ---- tests ---- */

static void
test_properties (void)
{
  GstElement *el = gst_element_factory_make ("morthinker", NULL);
  gint p, q;
  g_autofree char *ratio = NULL;
  g_object_get (el, "response-tokens", &p, "reasoning-tokens", &q, "ratio", &ratio, NULL);
  g_assert_cmpint (p, ==, -1);
  g_assert_cmpint (q, ==, -1);
  g_assert_cmpstr (ratio, ==, "");
  g_object_set (el, "ratio", "3:5", NULL);
  g_object_get (el, "response-tokens", &p, "reasoning-tokens", &q, NULL);
  g_assert_cmpint (p, ==, 3);
  g_assert_cmpint (q, ==, 5);
  const char *bad[] = { "3-5", "0:2", "a:b", "3:", "12345:1" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_test_expect_message ("mor", G_LOG_LEVEL_WARNING, "*ratio*refused*");
    g_object_set (el, "ratio", bad[i], NULL);
    g_test_assert_expected_messages ();
    g_object_get (el, "response-tokens", &p, "reasoning-tokens", &q, NULL);
    g_assert_cmpint (p, ==, 3);
    g_assert_cmpint (q, ==, 5);
  }
  g_object_set (el, "reasoning-tokens", 0, NULL);
  g_clear_pointer (&ratio, g_free);
  g_object_get (el, "ratio", &ratio, NULL);
  g_assert_cmpstr (ratio, ==, "3:0");
  GstPad *pads[3] = { gst_element_get_static_pad (el, "sink"), gst_element_get_static_pad (el, "response"),
                      gst_element_get_static_pad (el, "reasoning") };
  for (guint i = 0; i < 3; i++) {
    g_assert_nonnull (pads[i]);
    g_autoptr (GstCaps) caps = gst_pad_query_caps (pads[i], NULL);
    g_assert_cmpuint (gst_caps_get_size (caps), ==, 2);
    gst_object_unref (pads[i]);
  }
  gst_object_unref (el);
}

/* Each pad carries its stream's token records; the ratio holds cycle by cycle. */
static void
check_ratio (guint p, guint q)
{
  guint max = 3 * (p + q) + 1;
  g_autofree char *ratio = g_strdup_printf ("%u:%u", p, q);
  T *t = t_new (model_il, TRUE, GST_MOR_TOKENS_CAPS, "ratio", ratio, "max-tokens", max, NULL);
  gst_harness_set_src_caps_str (t->h[0], GST_MOR_TEXT_CAPS);
  push_question (t, "what is one plus one");
  for (guint s = 0; s < 2; s++)
    g_assert_cmpint (wait_answer (t->h[s]), ==, GST_MOR_EVENT_ANSWER_END);
  for (guint s = 0; s < 2; s++) {
    GArray *recs = pull_records (t->h[s]);
    g_assert_cmpuint (recs->len, >=, 1);
    Rec *prompt = &g_array_index (recs, Rec, 0);
    g_assert_cmpint (prompt->kind, ==, GST_MOR_RECORD_PROMPT);
    g_assert_cmpuint (prompt->n_rows, >, 10);
    guint per_cycle[8] = { 0 }, n = recs->len - 1;
    for (guint i = 1; i < recs->len; i++) {
      Rec *r = &g_array_index (recs, Rec, i);
      g_assert_cmpint (r->kind, ==, GST_MOR_RECORD_TOKEN);
      g_assert_cmpuint (r->stream, ==, s);
      g_assert_cmpuint (r->index, ==, i - 1);
      g_assert_cmpuint (r->slot, ==, s == 0 ? (i - 1) % p : p + (i - 1) % q);
      g_assert_cmpuint (r->cycle, <, 4);
      per_cycle[r->cycle]++;
      if (i > 1)
        g_assert_cmpuint (r->pts, >, g_array_index (recs, Rec, i - 1).pts);
    }
    /* Three whole cycles, then the first response slot of the fourth. */
    for (guint c = 0; c < 3; c++)
      g_assert_cmpuint (per_cycle[c], ==, s == 0 ? p : q);
    g_assert_cmpuint (per_cycle[3], ==, s == 0 ? 1 : 0);
    g_assert_cmpuint (n, ==, s == 0 ? 3 * p + 1 : 3 * q);
    records_free (recs);
  }
  g_autoptr (GstStructure) m = answer_message (t);
  guint resp, reas, pads;
  g_assert_true (gst_structure_get (m, "response-tokens", G_TYPE_UINT, &resp, "reasoning-tokens", G_TYPE_UINT, &reas,
                                    "pad-tokens", G_TYPE_UINT, &pads, NULL));
  g_assert_cmpuint (resp, ==, 3 * p + 1);
  g_assert_cmpuint (reas, ==, 3 * q);
  g_assert_cmpuint (pads, ==, 0);
  g_assert_cmpstr (gst_structure_get_string (m, "end-reason"), ==, "max-tokens");
  g_assert_cmpstr (gst_structure_get_string (m, "schedule"), ==, "interleaved");
  g_assert_cmpstr (gst_structure_get_string (m, "ratio"), ==, ratio);
  t_free (t);
}

static void
test_ratio (void)
{
  check_ratio (2, 8);
  check_ratio (3, 5);
  check_ratio (1, 0);
}

/* Text caps: the meta lists each buffer's tokens; the idle pad gets gaps. */
static void
test_text (void)
{
  T *t = t_new (model_il, TRUE, GST_MOR_TEXT_CAPS, "max-tokens", 25, NULL);
  gst_harness_set_src_caps_str (t->h[0], GST_MOR_TEXT_CAPS);
  push_question (t, "let me think");
  GArray *spans[2];
  for (guint s = 0; s < 2; s++) {
    spans[s] = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
    wait_answer_gaps (t->h[s], spans[s]);
  }
  guint tokens[2] = { 0, 0 };
  for (guint s = 0; s < 2; s++) {
    GstBuffer *buf;
    GstClockTime last = 0;
    while ((buf = gst_harness_try_pull (t->h[s]))) {
      const GstStructure *meta = gst_mor_buffer_get_token_meta (buf);
      g_assert_nonnull (meta);
      g_assert_cmpstr (gst_structure_get_string (meta, "stream"), ==, s == 0 ? "response" : "reasoning");
      const GValue *ids = gst_structure_get_value (meta, "token-ids");
      g_assert_cmpuint (gst_value_array_get_size (ids), >=, 1);
      g_assert_cmpuint (gst_value_array_get_size (gst_structure_get_value (meta, "log-probs")), ==,
                        gst_value_array_get_size (ids));
      tokens[s] += gst_value_array_get_size (ids);
      GstMapInfo map;
      gst_buffer_map (buf, &map, GST_MAP_READ);
      g_assert_true (g_utf8_validate ((const char *) map.data, map.size, NULL));
      gst_buffer_unmap (buf, &map);
      g_assert_cmpuint (GST_BUFFER_PTS (buf), >=, last);
      last = GST_BUFFER_PTS (buf);
      GstClockTime span[2] = { last, last + GST_BUFFER_DURATION (buf) };
      g_array_append_vals (spans[s], span, 2);
      gst_buffer_unref (buf);
    }
  }
  /* 25 steps of 2:8: 3 cycles less 5 reasoning slots. */
  g_assert_cmpuint (tokens[0], ==, 6);
  g_assert_cmpuint (tokens[1], ==, 19);
  /* Buffers and gaps cover each pad's time without a hole or an overlap, so a
   * textoverlay waiting for text never stalls. */
  for (guint s = 0; s < 2; s++) {
    g_assert_cmpuint (spans_check_contiguous (spans[s], NULL, NULL), >=, 6);
    g_array_unref (spans[s]);
  }
  t_free (t);
}

/* Cumulative text: each buffer holds all of the stream's text so far. */
static void
test_text_cumulative (void)
{
  T *t = t_new (model_il, FALSE, GST_MOR_TEXT_CAPS, "max-tokens", 12, "text-mode", 3, "ratio", "1:0", NULL);
  gst_harness_set_src_caps_str (t->h[0], GST_MOR_TEXT_CAPS);
  push_question (t, "okay");
  wait_answer (t->h[0]);
  g_autoptr (GString) prev = g_string_new (NULL);
  GstBuffer *buf;
  guint n = 0;
  while ((buf = gst_harness_try_pull (t->h[0]))) {
    GstMapInfo map;
    gst_buffer_map (buf, &map, GST_MAP_READ);
    g_assert_cmpuint (map.size, >=, prev->len);
    g_assert_cmpmem (map.data, prev->len, prev->str, prev->len);
    g_string_assign (prev, "");
    g_string_append_len (prev, (const char *) map.data, map.size);
    gst_buffer_unmap (buf, &map);
    gst_buffer_unref (buf);
    n++;
  }
  g_assert_cmpuint (n, >=, 2);
  t_free (t);
}

/* One answer's response text in @mode ("token", "word", "line"): each
 * buffer's bytes (a piece may hold a NUL) and the token ids of its meta. */
typedef struct {
  GPtrArray *texts;  /* GBytes */
  GPtrArray *ids;    /* GArray of gint32, one per buffer */
} Texts;

static Texts
texts_new (void)
{
  return (Texts) { g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref),
                   g_ptr_array_new_with_free_func ((GDestroyNotify) g_array_unref) };
}

static void
texts_clear (Texts *x)
{
  g_ptr_array_unref (x->texts);
  g_ptr_array_unref (x->ids);
}

/* Sampling at a high temperature: the tiny model's greedy answer is all
 * high bytes, this seed's has words and a line break. */
static Texts
answer_texts (const char *mode)
{
  T *t = t_new (model_il, FALSE, GST_MOR_TEXT_CAPS, "max-tokens", 48, "ratio", "1:0", "temperature", 5.0f,
                "top-k", 0, "top-p", 1.0f, "seed", (guint64) 4, NULL);
  gst_util_set_object_arg (G_OBJECT (t->el), "text-mode", mode);
  gst_harness_set_src_caps_str (t->h[0], GST_MOR_TEXT_CAPS);
  push_question (t, "what is one plus one");
  g_assert_cmpint (wait_answer (t->h[0]), ==, GST_MOR_EVENT_ANSWER_END);
  Texts x = texts_new ();
  GstBuffer *buf;
  while ((buf = gst_harness_try_pull (t->h[0]))) {
    GstMapInfo map;
    gst_buffer_map (buf, &map, GST_MAP_READ);
    g_ptr_array_add (x.texts, g_bytes_new (map.data, map.size));
    gst_buffer_unmap (buf, &map);
    const GValue *v = gst_structure_get_value (gst_mor_buffer_get_token_meta (buf), "token-ids");
    GArray *ids = g_array_new (FALSE, FALSE, sizeof (gint32));
    for (guint i = 0; i < gst_value_array_get_size (v); i++) {
      gint32 id = g_value_get_int (gst_value_array_get_value (v, i));
      g_array_append_val (ids, id);
    }
    g_ptr_array_add (x.ids, ids);
    gst_buffer_unref (buf);
  }
  t_free (t);
  return x;
}

static void
texts_add (Texts *x, GByteArray *text, GArray *ids)
{
  g_ptr_array_add (x->texts, g_bytes_new (text->data, text->len));
  g_ptr_array_add (x->ids, g_array_copy (ids));
  g_byte_array_set_size (text, 0);
  g_array_set_size (ids, 0);
}

/* Regroups token-mode buffers (whole characters each) as @mode would send
 * them: word: a new buffer before a piece starting with white space once the
 * buffer holds more than white space; line: a new buffer after a piece holding
 * "\n". */
static Texts
regroup (const Texts *tokens, const char *mode)
{
  Texts x = texts_new ();
  g_autoptr (GByteArray) text = g_byte_array_new ();
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  gboolean word = g_str_equal (mode, "word");
  for (guint i = 0; i < tokens->texts->len; i++) {
    gsize len;
    const guint8 *piece = g_bytes_get_data (g_ptr_array_index (tokens->texts, i), &len);
    GArray *piece_ids = g_ptr_array_index (tokens->ids, i);
    gboolean non_space = FALSE;
    for (guint c = 0; c < text->len; c++)
      non_space |= !g_ascii_isspace (text->data[c]);
    if (word && len && g_ascii_isspace (piece[0]) && non_space)
      texts_add (&x, text, ids);
    g_byte_array_append (text, piece, len);
    g_array_append_vals (ids, piece_ids->data, piece_ids->len);
    if (!word && memchr (piece, '\n', len))
      texts_add (&x, text, ids);
  }
  if (ids->len)
    texts_add (&x, text, ids);
  return x;
}

/* word and line text modes send the same tokens as token mode, grouped by
 * word and by line, each buffer's meta listing its tokens. (The grouping of
 * scripted pieces is checked exactly in tests/elements/morthinkerout.c; the
 * tiny model decides here which words and lines occur.) */
static void
test_text_word_line (void)
{
  Texts tokens = answer_texts ("token");
  g_assert_cmpuint (tokens.texts->len, >=, 2);
  const char *modes[] = { "word", "line" };
  for (guint m = 0; m < G_N_ELEMENTS (modes); m++) {
    Texts got = answer_texts (modes[m]), want = regroup (&tokens, modes[m]);
    g_test_message ("%s mode: %u buffers from %u tokens", modes[m], got.texts->len, tokens.texts->len);
    g_assert_cmpuint (got.texts->len, ==, want.texts->len);
    for (guint i = 0; i < got.texts->len; i++) {
      g_assert_true (g_bytes_equal (g_ptr_array_index (got.texts, i), g_ptr_array_index (want.texts, i)));
      GArray *a = g_ptr_array_index (got.ids, i), *b = g_ptr_array_index (want.ids, i);
      g_assert_cmpmem (a->data, a->len * 4, b->data, b->len * 4);
    }
    texts_clear (&got);
    texts_clear (&want);
  }
  texts_clear (&tokens);
}

/* The token texts greedy decoding gives @stream for "what is one plus one". */
static GPtrArray *
observe (const char *schedule, guint max, guint stream)
{
  T *t = t_new (model_il, TRUE, GST_MOR_TOKENS_CAPS, "max-tokens", max, "repetition-penalty", 1.5f, NULL);
  gst_util_set_object_arg (G_OBJECT (t->el), "schedule", schedule);
  gst_harness_set_src_caps_str (t->h[0], GST_MOR_TEXT_CAPS);
  push_question (t, "what is one plus one");
  for (guint s = 0; s < 2; s++)
    wait_answer (t->h[s]);
  GArray *recs = pull_records (t->h[stream]);
  g_autoptr (GError) error = NULL;
  g_autoptr (MorGguf) g = mor_gguf_open (model_il, &error);
  g_autoptr (MorTokenizer) tok = mor_tokenizer_new_from_gguf (g, &error);
  GPtrArray *texts = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 1; i < recs->len; i++)
    g_ptr_array_add (texts, g_strdup (mor_tokenizer_token_text (tok, g_array_index (recs, Rec, i).id)));
  records_free (recs);
  t_free (t);
  return texts;
}

/* Once the reasoning has sampled its end token, its slots get forced pads
 * (nothing sent) while the response goes on. */
static void
test_forced_pads (void)
{
  /* Reasoning token 0 of cycle 0 follows only the two response tokens: making it
   * the reasoning end changes nothing before it (masks differ only in response
   * slots, and those two tokens are not it). */
  g_autoptr (GPtrArray) resp = observe ("interleaved", 30, 0);
  g_autoptr (GPtrArray) reas = observe ("interleaved", 30, 1);
  const char *end = g_ptr_array_index (reas, 0);
  if (g_strcmp0 (end, g_ptr_array_index (resp, 0)) == 0 || g_strcmp0 (end, g_ptr_array_index (resp, 1)) == 0) {
    g_test_skip ("the tiny model's first reasoning token is also a response token");
    return;
  }
  T *t = t_new (model_il, TRUE, GST_MOR_TOKENS_CAPS, "max-tokens", 30, "repetition-penalty", 1.5f,
                "reasoning-end", end, NULL);
  gst_harness_set_src_caps_str (t->h[0], GST_MOR_TEXT_CAPS);
  push_question (t, "what is one plus one");
  for (guint s = 0; s < 2; s++)
    wait_answer (t->h[s]);
  GArray *r0 = pull_records (t->h[0]), *r1 = pull_records (t->h[1]);
  g_assert_cmpuint (r1->len, ==, 1); /* the prompt record only */
  g_assert_cmpuint (r0->len, ==, 1 + 6); /* response slots of 3 cycles */
  records_free (r0);
  records_free (r1);
  g_autoptr (GstStructure) m = answer_message (t);
  guint pads;
  gst_structure_get_uint (m, "pad-tokens", &pads);
  g_assert_cmpuint (pads, ==, 30 - 6 - 1);
  t_free (t);
}

/* think-first: every slot is reasoning until it ends, then the response. */
static void
test_think_first (void)
{
  g_autoptr (GPtrArray) reas = observe ("think-first", 8, 1);
  g_assert_cmpuint (reas->len, ==, 8); /* no end: all reasoning */
  const char *end = g_ptr_array_index (reas, 2);
  if (!g_strcmp0 (end, g_ptr_array_index (reas, 0)) || !g_strcmp0 (end, g_ptr_array_index (reas, 1))) {
    g_test_skip ("the tiny model repeats its first reasoning tokens");
    return;
  }
  T *t = t_new (model_il, TRUE, GST_MOR_TOKENS_CAPS, "max-tokens", 8, "repetition-penalty", 1.5f,
                "reasoning-end", end, NULL);
  gst_util_set_object_arg (G_OBJECT (t->el), "schedule", "think-first");
  gst_harness_set_src_caps_str (t->h[0], GST_MOR_TEXT_CAPS);
  push_question (t, "what is one plus one");
  for (guint s = 0; s < 2; s++)
    wait_answer (t->h[s]);
  GArray *r0 = pull_records (t->h[0]), *r1 = pull_records (t->h[1]);
  g_assert_cmpuint (r1->len, ==, 1 + 2);
  g_assert_cmpuint (r0->len, ==, 1 + 5);
  /* The response comes after the reasoning. */
  g_assert_cmpuint (g_array_index (r0, Rec, 1).pts, >, g_array_index (r1, Rec, 2).pts);
  records_free (r0);
  records_free (r1);
  t_free (t);
}

/* speak-only, and a model without mor.interleave.* keys (auto = speak-only). */
static void
test_speak_only (void)
{
  const char *models[] = { model_il, model_plain };
  for (guint i = 0; i < 2; i++) {
    T *t = t_new (models[i], TRUE, GST_MOR_TOKENS_CAPS, "max-tokens", 7, NULL);
    if (i == 0)
      gst_util_set_object_arg (G_OBJECT (t->el), "schedule", "speak-only");
    gst_harness_set_src_caps_str (t->h[0], GST_MOR_TEXT_CAPS);
    push_question (t, "what");
    for (guint s = 0; s < 2; s++)
      wait_answer (t->h[s]);
    GArray *r0 = pull_records (t->h[0]), *r1 = pull_records (t->h[1]);
    g_assert_cmpuint (r0->len, ==, 1 + 7);
    g_assert_cmpuint (r1->len, ==, 1);
    records_free (r0);
    records_free (r1);
    g_autoptr (GstStructure) m = answer_message (t);
    g_assert_cmpstr (gst_structure_get_string (m, "schedule"), ==, "speak-only");
    t_free (t);
  }
}

/* A ratio set in PLAYING applies to the next answer. */
static void
test_change_in_playing (void)
{
  T *t = t_new (model_il, TRUE, GST_MOR_TOKENS_CAPS, "max-tokens", 10, NULL);
  gst_harness_set_src_caps_str (t->h[0], GST_MOR_TEXT_CAPS);
  guint want[2][2] = { { 2, 8 }, { 5, 5 } };
  for (guint a = 0; a < 2; a++) {
    if (a == 1)
      g_object_set (t->el, "ratio", "5:5", NULL);
    push_question (t, "what is one plus one");
    for (guint s = 0; s < 2; s++) {
      wait_answer (t->h[s]);
      GArray *r = pull_records (t->h[s]);
      g_assert_cmpuint (r->len, ==, 1 + want[a][s]);
      records_free (r);
    }
  }
  t_free (t);
}

/* Embeddings between utterance events: prefilled as they come, answered at the end;
 * the prompt record holds the audio rows as <|AUDIO|>. */
static void
test_embeddings (void)
{
  T *t = t_new (model_il, TRUE, GST_MOR_TOKENS_CAPS, "max-tokens", 4, NULL);
  g_autofree char *caps = g_strdup_printf (GST_MOR_EMBEDDINGS_CAPS ", dim=%d", DIM);
  gst_harness_set_src_caps_str (t->h[0], caps);
  /* An utterance without rows is not answered: the answer below is number 0. */
  gst_harness_push_event (t->h[0], gst_mor_event_new (GST_MOR_EVENT_UTTERANCE_START, NULL));
  gst_harness_push_event (t->h[0], gst_mor_event_new (GST_MOR_EVENT_UTTERANCE_END, NULL));
  gst_harness_push_event (t->h[0], gst_mor_event_new (GST_MOR_EVENT_UTTERANCE_START, NULL));
  for (guint b = 0; b < 3; b++) {
    GstBuffer *buf = gst_buffer_new_allocate (NULL, 5 * DIM * 4, NULL);
    GstMapInfo map;
    gst_buffer_map (buf, &map, GST_MAP_WRITE);
    for (guint i = 0; i < 5 * DIM; i++)
      ((float *) map.data)[i] = 0.01f * (float) ((i * 7 + b) % 13) - 0.06f;
    gst_buffer_unmap (buf, &map);
    GST_BUFFER_PTS (buf) = b * 200 * GST_MSECOND;
    GST_BUFFER_DURATION (buf) = 200 * GST_MSECOND;
    g_assert_cmpint (gst_harness_push (t->h[0], buf), ==, GST_FLOW_OK);
  }
  gst_harness_push_event (t->h[0], gst_mor_event_new (GST_MOR_EVENT_UTTERANCE_END, NULL));
  for (guint s = 0; s < 2; s++)
    g_assert_cmpint (wait_answer (t->h[s]), ==, GST_MOR_EVENT_ANSWER_END);
  GArray *r = pull_records (t->h[0]);
  g_autoptr (GstStructure) m = answer_message (t);
  guint n_prompt, answer_no;
  gst_structure_get_uint (m, "prompt-tokens", &n_prompt);
  gst_structure_get_uint (m, "answer", &answer_no);
  g_assert_cmpuint (answer_no, ==, 0);
  Rec *prompt = &g_array_index (r, Rec, 0);
  g_assert_cmpuint (prompt->n_rows, ==, n_prompt);
  g_assert_cmpuint (n_prompt, >, 15);
  /* The answer comes after the utterance in the timeline. */
  g_assert_cmpuint (g_array_index (r, Rec, 1).pts, >=, 600 * GST_MSECOND);
  records_free (r);
  t_free (t);
}

/* An unlinked reasoning pad stops nothing. */
static void
test_unlinked_reasoning (void)
{
  T *t = t_new (model_il, FALSE, GST_MOR_TEXT_CAPS, "max-tokens", 20, NULL);
  gst_harness_set_src_caps_str (t->h[0], GST_MOR_TEXT_CAPS);
  for (guint a = 0; a < 2; a++) {
    push_question (t, "what is one plus one");
    g_assert_cmpint (wait_answer (t->h[0]), ==, GST_MOR_EVENT_ANSWER_END);
  }
  g_assert_cmpuint (gst_harness_buffers_in_queue (t->h[0]), >=, 2);
  t_free (t);
}

/* A new utterance during an answer interrupts it on both pads. */
static void
test_barge_in (void)
{
  T *t = t_new (model_il, TRUE, GST_MOR_TEXT_CAPS, "max-tokens", 3000, NULL);
  gst_harness_set_src_caps_str (t->h[0], GST_MOR_TEXT_CAPS);
  push_question (t, "what is one plus one");
  gst_buffer_unref (gst_harness_pull (t->h[0]));
  gst_harness_push_event (t->h[0], gst_mor_event_new (GST_MOR_EVENT_UTTERANCE_START, NULL));
  for (guint s = 0; s < 2; s++)
    g_assert_cmpint (wait_answer (t->h[s]), ==, GST_MOR_EVENT_INTERRUPT);
  g_autoptr (GstStructure) m = answer_message (t);
  g_assert_cmpstr (gst_structure_get_string (m, "end-reason"), ==, "interrupted");
  t_free (t);
}

/* A flush in the middle of an answer ends it; the next question is answered. */
static void
test_flush (void)
{
  T *t = t_new (model_il, TRUE, GST_MOR_TEXT_CAPS, "max-tokens", 3000, NULL);
  gst_harness_set_src_caps_str (t->h[0], GST_MOR_TEXT_CAPS);
  push_question (t, "what is one plus one");
  gst_buffer_unref (gst_harness_pull (t->h[0]));
  g_assert_true (gst_harness_push_event (t->h[0], gst_event_new_flush_start ()));
  g_assert_true (gst_harness_push_event (t->h[0], gst_event_new_flush_stop (TRUE)));
  gst_harness_push_event (t->h[0], gst_event_new_segment (&(GstSegment) { .format = GST_FORMAT_TIME, .rate = 1,
                                                                          .applied_rate = 1, .stop = -1,
                                                                          .duration = -1 }));
  for (guint s = 0; s < 2; s++) {
    GstBuffer *b;
    while ((b = gst_harness_try_pull (t->h[s])))
      gst_buffer_unref (b);
  }
  g_object_set (t->el, "max-tokens", 10, NULL);
  push_question (t, "okay");
  for (guint s = 0; s < 2; s++)
    g_assert_cmpint (wait_answer (t->h[s]), ==, GST_MOR_EVENT_ANSWER_END);
  t_free (t);
}

/* EOS right after a question: the answer, then EOS on both pads. */
static void
test_eos (void)
{
  T *t = t_new (model_il, TRUE, GST_MOR_TEXT_CAPS, "max-tokens", 15, NULL);
  gst_harness_set_src_caps_str (t->h[0], GST_MOR_TEXT_CAPS);
  push_question (t, "okay");
  gst_harness_push_event (t->h[0], gst_event_new_eos ());
  for (guint s = 0; s < 2; s++) {
    g_assert_cmpint (wait_answer (t->h[s]), ==, GST_MOR_EVENT_ANSWER_END);
    GstEvent *e;
    while ((e = gst_harness_pull_event (t->h[s])) && GST_EVENT_TYPE (e) == GST_EVENT_GAP)
      gst_event_unref (e);
    g_assert_cmpint (GST_EVENT_TYPE (e), ==, GST_EVENT_EOS);
    gst_event_unref (e);
  }
  t_free (t);
}

static void
test_latency (void)
{
  T *t = t_new (model_il, TRUE, GST_MOR_TEXT_CAPS, NULL);
  gst_harness_set_src_caps_str (t->h[0], GST_MOR_TEXT_CAPS);
  gst_harness_set_upstream_latency (t->h[0], 20 * GST_MSECOND);
  g_assert_cmpuint (gst_harness_query_latency (t->h[0]), ==, 120 * GST_MSECOND);
  g_object_set (t->el, "latency", 50, NULL);
  g_assert_cmpuint (gst_harness_query_latency (t->h[1]), ==, 70 * GST_MSECOND);
  GstMessage *m = gst_bus_pop_filtered (t->bus, GST_MESSAGE_LATENCY);
  g_assert_nonnull (m);
  gst_message_unref (m);
  gst_harness_set_live (t->h[0], FALSE);
  g_assert_cmpuint (gst_harness_query_latency (t->h[0]), ==, 20 * GST_MSECOND);
  t_free (t);
}

static void
test_errors (void)
{
  g_autofree char *missing = g_build_filename (tmpdir, "missing.gguf", NULL);
  check_start_error ("morthinker", missing, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND, missing, NULL);
  g_autofree char *garbage = g_build_filename (tmpdir, "garbage.gguf", NULL);
  g_assert_true (g_file_set_contents (garbage, "GGUF but not really", -1, NULL));
  check_start_error ("morthinker", garbage, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ, garbage, NULL);

  /* Embeddings of the wrong size: a negotiation error naming both. */
  T *t = t_new (model_il, TRUE, GST_MOR_TEXT_CAPS, NULL);
  gst_harness_set_src_caps_str (t->h[0], GST_MOR_EMBEDDINGS_CAPS ", dim=100");
  GstMessage *m = gst_bus_pop_filtered (t->bus, GST_MESSAGE_ERROR);
  g_assert_nonnull (m);
  g_autoptr (GError) error = NULL;
  gst_message_parse_error (m, &error, NULL);
  g_assert_error (error, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION);
  g_assert_nonnull (strstr (error->message, "100"));
  g_assert_nonnull (strstr (error->message, "256"));
  gst_message_unref (m);
  t_free (t);
}

/* The record reader refuses what is not a whole, well-formed record. */
static void
test_record (void)
{
  float h[3] = { 1, 2, 3 }, e[3] = { 4, 5, 6 };
  GstBuffer *buf = gst_mor_record_new_token (3, 7, 1, 2, 3, 4, 42, -0.5f, h, e, "hé", 3);
  GstMapInfo map;
  gst_buffer_map (buf, &map, GST_MAP_READ);
  GstMorRecord r;
  g_autoptr (GError) error = NULL;
  g_assert_true (gst_mor_record_parse (map.data, map.size, &r, &error));
  g_assert_cmpuint (r.answer, ==, 7);
  g_assert_cmpint (r.token_id, ==, 42);
  g_assert_cmpfloat (r.logprob, ==, -0.5f);
  g_assert_cmpfloat (GST_READ_FLOAT_LE (r.embedding + 8), ==, 6.0f);
  g_assert_cmpmem (r.text, r.text_len, "hé", 3);
  g_assert_false (gst_mor_record_parse (map.data, map.size - 1, &r, &error));
  g_assert_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_DECODE);
  g_clear_error (&error);
  g_assert_false (gst_mor_record_parse (map.data, 10, &r, &error));
  g_clear_error (&error);
  guint8 *copy = g_memdup2 (map.data, map.size);
  GST_WRITE_UINT32_LE (copy + 12, 0x40000000); /* dim: the sizes overflow 32 bits */
  g_assert_false (gst_mor_record_parse (copy, map.size, &r, &error));
  g_clear_error (&error);
  copy[0] = 'X';
  g_assert_false (gst_mor_record_parse (copy, map.size, &r, &error));
  g_free (copy);
  gst_buffer_unmap (buf, &map);
  gst_buffer_unref (buf);
}

/* Real pipelines: both pads linked, and the reasoning pad left unlinked. */
static void
test_pipeline (void)
{
  const char *tails[] = { "t.response ! queue ! fakesink t.reasoning ! queue ! fakesink", "t.response ! fakesink" };
  for (guint i = 0; i < G_N_ELEMENTS (tails); i++) {
    g_autoptr (GError) error = NULL;
    g_autofree char *desc = g_strdup_printf ("appsrc name=src caps=text/x-raw,format=utf8 format=time ! "
                                             "morthinker name=t model=%s max-tokens=12 %s", model_il, tails[i]);
    GstElement *pipe = gst_parse_launch (desc, &error);
    g_assert_no_error (error);
    GstElement *src = gst_bin_get_by_name (GST_BIN (pipe), "src");
    g_assert_cmpint (gst_element_set_state (pipe, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
    GstFlowReturn ret;
    GstBuffer *question = gst_buffer_new_memdup ("okay", 4);
    g_signal_emit_by_name (src, "push-buffer", question, &ret); /* the signal takes a reference of its own */
    gst_buffer_unref (question);
    g_signal_emit_by_name (src, "end-of-stream", &ret);
    GstBus *bus = gst_element_get_bus (pipe);
    gboolean answered = FALSE;
    for (;;) {
      GstMessage *m = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
                                                  GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT);
      g_assert_nonnull (m);
      g_assert_cmpint (GST_MESSAGE_TYPE (m), !=, GST_MESSAGE_ERROR);
      if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ELEMENT)
        answered |= gst_structure_has_name (gst_message_get_structure (m), "morthinker/answer");
      gboolean eos = GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS;
      gst_message_unref (m);
      if (eos)
        break;
    }
    g_assert_true (answered);
    gst_element_set_state (pipe, GST_STATE_NULL);
    gst_object_unref (bus);
    gst_object_unref (src);
    gst_object_unref (pipe);
  }
}

/* first-token-ms counts from the moment a typed question reached the sink: a
 * question queued behind an answer (barge-in off) waits for that answer, and
 * the wait counts. */
static void
test_first_token_ms (void)
{
  T *t = t_new (model_il, TRUE, GST_MOR_TEXT_CAPS, "max-tokens", 100, "barge-in", FALSE, NULL);
  gst_harness_set_src_caps_str (t->h[0], GST_MOR_TEXT_CAPS);
  gint64 t0 = g_get_monotonic_time ();
  push_question (t, "what is one plus one");
  gst_buffer_unref (gst_harness_pull (t->h[0])); /* answer 0 is under way */
  push_question (t, "okay");
  gint64 t1 = g_get_monotonic_time ();
  for (guint a = 0; a < 2; a++)
    for (guint s = 0; s < 2; s++)
      g_assert_cmpint (wait_answer (t->h[s]), ==, GST_MOR_EVENT_ANSWER_END);
  g_autoptr (GstStructure) m0 = answer_message (t);
  g_autoptr (GstStructure) m1 = answer_message (t);
  double tps0, first1, prefill1;
  g_assert_true (gst_structure_get (m0, "tokens-per-second", G_TYPE_DOUBLE, &tps0, NULL));
  g_assert_true (gst_structure_get (m1, "first-token-ms", G_TYPE_DOUBLE, &first1, "prefill-ms", G_TYPE_DOUBLE,
                                    &prefill1, NULL));
  g_assert_cmpstr (gst_structure_get_string (m0, "end-reason"), ==, "max-tokens");
  g_assert_cmpfloat (tps0, >, 0);
  /* Answer 0 began after t0 and took 100 steps at tps0; question 1 arrived
   * before t1; answer 1's first token came after answer 0 ended. */
  double gen0_ms = 100 / tps0 * 1000;
  g_test_message ("answer 0: %.1f ms of generation; question 1 queued %.1f ms after question 0; "
                  "first-token-ms of answer 1: %.1f", gen0_ms, (t1 - t0) / 1000.0, first1);
  g_assert_cmpfloat (first1, >=, gen0_ms - (t1 - t0) / 1000.0);
  g_assert_cmpfloat (first1, >=, prefill1);
  t_free (t);
}

/* A SEEK sent upstream from both src pads (two sinks of one pipeline each
 * send it) reaches upstream once; a new seek goes up again. */
static void
test_seek_once (void)
{
  T *t = t_new (model_il, TRUE, GST_MOR_TEXT_CAPS, NULL);
  gst_harness_set_src_caps_str (t->h[0], GST_MOR_TEXT_CAPS);
  for (guint round = 0; round < 2; round++) {
    GstEvent *e;
    while ((e = gst_harness_try_pull_upstream_event (t->h[0])))
      gst_event_unref (e);
    GstEvent *seek = gst_event_new_seek (1.0, GST_FORMAT_TIME, GST_SEEK_FLAG_FLUSH, GST_SEEK_TYPE_SET,
                                         round * GST_SECOND, GST_SEEK_TYPE_NONE, -1);
    for (guint s = 0; s < 2; s++)
      g_assert_true (gst_harness_push_upstream_event (t->h[s], gst_event_ref (seek)));
    guint n = 0;
    while ((e = gst_harness_try_pull_upstream_event (t->h[0]))) {
      if (GST_EVENT_TYPE (e) == GST_EVENT_SEEK) {
        g_assert_cmpuint (gst_event_get_seqnum (e), ==, gst_event_get_seqnum (seek));
        n++;
      }
      gst_event_unref (e);
    }
    g_assert_cmpuint (n, ==, 1);
    gst_event_unref (seek);
  }
  t_free (t);
}

/* gst-inspect-1.0 lists every property (with its blurb) and every pad. */
static void
test_inspect (void)
{
  g_autofree char *prog = g_find_program_in_path ("gst-inspect-1.0");
  if (!prog) {
    g_test_skip ("gst-inspect-1.0 is not on PATH");
    return;
  }
  char *argv[] = { prog, "morthinker", NULL };
  g_autofree char *out = NULL;
  g_autoptr (GError) error = NULL;
  gint status;
  g_assert_true (g_spawn_sync (NULL, argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL, &status,
                               &error));
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  const char *pads[] = { "SINK template: 'sink'", "SRC template: 'response'", "SRC template: 'reasoning'",
                         "application/x-mor-embeddings", "application/x-mor-tokens", "stream: reasoning" };
  for (guint i = 0; i < G_N_ELEMENTS (pads); i++)
    g_assert_nonnull (strstr (out, pads[i]));
  GstElement *el = gst_element_factory_make ("morthinker", NULL);
  guint n;
  g_autofree GParamSpec **specs = g_object_class_list_properties (G_OBJECT_GET_CLASS (el), &n);
  guint own = 0;
  for (guint i = 0; i < n; i++) {
    if (specs[i]->owner_type != G_OBJECT_TYPE (el))
      continue;
    g_autofree char *line = g_strdup_printf ("\n  %-20s: %s\n", specs[i]->name, g_param_spec_get_blurb (specs[i]));
    if (!strstr (out, line))
      g_error ("gst-inspect-1.0 morthinker does not show “%s”", g_strstrip (line));
    own++;
  }
  g_assert_cmpuint (own, ==, 22);
  gst_object_unref (el);
}

/* Going to NULL in the middle of an answer leaves nothing running. */
static void
test_stop_mid_answer (void)
{
  T *t = t_new (model_il, TRUE, GST_MOR_TEXT_CAPS, "max-tokens", 3000, NULL);
  gst_harness_set_src_caps_str (t->h[0], GST_MOR_TEXT_CAPS);
  push_question (t, "what is one plus one");
  gst_buffer_unref (gst_harness_pull (t->h[0]));
  g_assert_cmpint (gst_element_set_state (t->el, GST_STATE_NULL), ==, GST_STATE_CHANGE_SUCCESS);
  t_free (t);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  gst_init (&argc, &argv);
  tmpdir = g_dir_make_tmp ("morthinker-XXXXXX", NULL);
  MorMkmodelThinkerOptions il = { 2, 8, TRUE }, plain = { 0, 0, TRUE };
  model_il = write_model ("interleave.gguf", &il);
  model_plain = write_model ("plain.gguf", &plain);

  g_test_add_func ("/morthinker/properties", test_properties);
  g_test_add_func ("/morthinker/record", test_record);
  g_test_add_func ("/morthinker/ratio", test_ratio);
  g_test_add_func ("/morthinker/text", test_text);
  g_test_add_func ("/morthinker/text-cumulative", test_text_cumulative);
  g_test_add_func ("/morthinker/text-word-line", test_text_word_line);
  g_test_add_func ("/morthinker/forced-pads", test_forced_pads);
  g_test_add_func ("/morthinker/think-first", test_think_first);
  g_test_add_func ("/morthinker/speak-only", test_speak_only);
  g_test_add_func ("/morthinker/change-in-playing", test_change_in_playing);
  g_test_add_func ("/morthinker/embeddings", test_embeddings);
  g_test_add_func ("/morthinker/unlinked-reasoning", test_unlinked_reasoning);
  g_test_add_func ("/morthinker/barge-in", test_barge_in);
  g_test_add_func ("/morthinker/flush", test_flush);
  g_test_add_func ("/morthinker/eos", test_eos);
  g_test_add_func ("/morthinker/latency", test_latency);
  g_test_add_func ("/morthinker/seek-once", test_seek_once);
  g_test_add_func ("/morthinker/first-token-ms", test_first_token_ms);
  g_test_add_func ("/morthinker/errors", test_errors);
  g_test_add_func ("/morthinker/pipeline", test_pipeline);
  g_test_add_func ("/morthinker/stop-mid-answer", test_stop_mid_answer);
  g_test_add_func ("/morthinker/inspect", test_inspect);
  int ret = g_test_run ();

  g_autofree char *garbage = g_build_filename (tmpdir, "garbage.gguf", NULL);
  g_unlink (model_il);
  g_unlink (model_plain);
  g_unlink (garbage);
  g_rmdir (tmpdir);
  g_free (model_il);
  g_free (model_plain);
  g_free (tmpdir);
  gst_deinit (); /* GST_TRACERS=leaks reports here */
  return ret;
}
