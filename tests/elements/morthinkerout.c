/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of gst/gstmorthinkerout.c, morthinker's src pads, driven with scripted
 * tokens (no model run): what each text mode puts in a buffer, the meta, the
 * caps choice, token records, timestamps and gaps. The tokens are those of the
 * tiny vocabulary of mor_mkmodel_thinker_full(), found by their bytes. */
#include <gst/check/gstharness.h>
#include <string.h>

#include "gstmorelement.h"
#include "gstmorrecord.h"
#include "gstmorthinkerout.h"
#include "mkmodel.h"
#include "spans.h"

#define DIM 4
#define STEP GST_MOR_THINKER_STEP

#define SRC_CAPS(stream) GST_MOR_TEXT_CAPS "; " GST_MOR_TOKENS_CAPS ", dim=(int)[1, MAX], stream=(string)" stream
static GstStaticPadTemplate response_template =
  GST_STATIC_PAD_TEMPLATE ("response", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (SRC_CAPS ("response")));
static GstStaticPadTemplate reasoning_template =
  GST_STATIC_PAD_TEMPLATE ("reasoning", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (SRC_CAPS ("reasoning")));

static MorTokenizer *tok;

/* The id of the token whose text is @bytes. */
static gint32
id_of (const char *bytes, gsize len)
{
  g_autoptr (GString) sym = g_string_new (NULL);
  for (gsize i = 0; i < len; i++)
    g_string_append_unichar (sym, mor_tokenizer_byte_symbol ((guint8) bytes[i]));
  gint32 id = mor_tokenizer_find_token (tok, sym->str, -1);
  g_assert_cmpint (id, >=, 0);
  return id;
}

/* ---- an output between harnesses ---- */

typedef struct {
  GstElement *bin;       /* stands in for the element */
  GstMorThinkerOut *out;
  GstHarness *h[2];      /* response, reasoning */
  guint32 n[2];          /* tokens pushed per stream */
} O;

/* An output whose pads' downstream takes @caps (response, reasoning), negotiated. */
static O *
o_new (const char *caps0, const char *caps1)
{
  O *o = g_new0 (O, 1);
  o->bin = gst_bin_new (NULL);
  GstPad *sink = gst_pad_new ("sink", GST_PAD_SINK);
  gst_element_add_pad (o->bin, sink);
  GstStaticPadTemplate *templates[2] = { &response_template, &reasoning_template };
  o->out = gst_mor_thinker_out_new (o->bin, sink, templates, gst_pad_query_default);
  const char *caps[2] = { caps0, caps1 };
  for (guint i = 0; i < 2; i++) {
    o->h[i] = gst_harness_new_with_element (o->bin, NULL, i == 0 ? "response" : "reasoning");
    gst_harness_set_sink_caps_str (o->h[i], caps[i]);
  }
  gst_harness_play (o->h[0]);
  gst_mor_thinker_out_start (o->out, tok, DIM);
  g_assert_true (gst_mor_thinker_out_negotiate (o->out, TRUE));
  GstSegment seg;
  gst_segment_init (&seg, GST_FORMAT_TIME);
  GstEvent *e = gst_event_new_segment (&seg);
  gst_mor_thinker_out_segment (o->out, e);
  gst_event_unref (e);
  return o;
}

static void
o_free (O *o)
{
  for (guint i = 0; i < 2; i++)
    gst_harness_teardown (o->h[i]);
  gst_mor_thinker_out_free (o->out);
  gst_object_unref (o->bin);
  g_free (o);
}

/* One step of @stream emitting the token of @bytes (NULL: a step of no token). */
static GstFlowReturn
o_step (O *o, guint stream, const char *bytes, gsize len)
{
  gst_mor_thinker_out_next_step (o->out);
  if (!bytes)
    return GST_FLOW_OK;
  static const float v[DIM] = { 1, 2, 3, 4 };
  guint32 n = o->n[stream]++;
  MorInterleaveToken tk = { { stream, 0, n / 3, n % 3, n, -1, 1 }, id_of (bytes, len), -0.5f * (float) n, TRUE, v,
                            v };
  return gst_mor_thinker_out_push_token (o->out, &tk);
}

typedef struct {
  GstClockTime pts, duration;
  GByteArray *text;
  GArray *ids;        /* gint */
  GArray *logprobs;   /* float */
  guint answer;
} Buf;

/* Every text buffer waiting on pad @s, checked: meta for each token, stream name. */
static GArray *
pull_text (O *o, guint s)
{
  GArray *bufs = g_array_new (FALSE, TRUE, sizeof (Buf));
  GstBuffer *buf;
  while ((buf = gst_harness_try_pull (o->h[s]))) {
    const GstStructure *meta = gst_mor_buffer_get_token_meta (buf);
    g_assert_nonnull (meta);
    g_assert_cmpstr (gst_structure_get_string (meta, "stream"), ==, s == 0 ? "response" : "reasoning");
    Buf b = { GST_BUFFER_PTS (buf), GST_BUFFER_DURATION (buf), g_byte_array_new (),
              g_array_new (FALSE, FALSE, sizeof (gint)), g_array_new (FALSE, FALSE, sizeof (float)), 0 };
    gst_structure_get_uint (meta, "answer", &b.answer);
    const GValue *ids = gst_structure_get_value (meta, "token-ids"), *lp = gst_structure_get_value (meta, "log-probs");
    g_assert_cmpuint (gst_value_array_get_size (ids), ==, gst_value_array_get_size (lp));
    g_assert_cmpuint (gst_value_array_get_size (gst_structure_get_value (meta, "cycles")), ==,
                      gst_value_array_get_size (ids));
    for (guint i = 0; i < gst_value_array_get_size (ids); i++) {
      gint id = g_value_get_int (gst_value_array_get_value (ids, i));
      float l = g_value_get_float (gst_value_array_get_value (lp, i));
      g_array_append_val (b.ids, id);
      g_array_append_val (b.logprobs, l);
    }
    GstMapInfo map;
    gst_buffer_map (buf, &map, GST_MAP_READ);
    g_byte_array_append (b.text, map.data, map.size);
    gst_buffer_unmap (buf, &map);
    g_array_append_val (bufs, b);
    gst_buffer_unref (buf);
  }
  return bufs;
}

static void
bufs_free (GArray *bufs)
{
  for (guint i = 0; i < bufs->len; i++) {
    Buf *b = &g_array_index (bufs, Buf, i);
    g_byte_array_unref (b->text);
    g_array_unref (b->ids);
    g_array_unref (b->logprobs);
  }
  g_array_unref (bufs);
}

/* Buffer @i holds @text and the tokens numbered @first.. of its stream. */
static void
check_buf (GArray *bufs, guint i, const char *text, guint first, guint n_tokens)
{
  g_assert_cmpuint (i, <, bufs->len);
  Buf *b = &g_array_index (bufs, Buf, i);
  g_assert_cmpmem (b->text->data, b->text->len, text, strlen (text));
  g_assert_cmpuint (b->ids->len, ==, n_tokens);
  for (guint k = 0; k < n_tokens; k++)
    g_assert_cmpfloat (g_array_index (b->logprobs, float, k), ==, -0.5f * (float) (first + k));
}

/* The pieces of the word and line tests: "Hi the and, \nx". */
static void
push_words (O *o)
{
  const char *pieces[] = { "H", "i", " the", " and", ",", " ", "\n", "x" };
  for (guint i = 0; i < G_N_ELEMENTS (pieces); i++)
    g_assert_cmpint (o_step (o, 0, pieces[i], strlen (pieces[i])), ==, GST_FLOW_OK);
}

/* ---- tests ---- */

/* word: a buffer ends before a piece that starts with white space, unless it
 * holds only white space; the last word goes out at the answer's end. */
static void
test_word (void)
{
  O *o = o_new (GST_MOR_TEXT_CAPS, GST_MOR_TEXT_CAPS);
  g_assert_cmpint (gst_mor_thinker_out_begin_answer (o->out, 7, GST_MOR_THINKER_TEXT_WORD, NULL, FALSE), ==,
                   GST_FLOW_OK);
  push_words (o);
  gst_mor_thinker_out_end_answer (o->out, TRUE);
  g_assert_cmpuint (gst_mor_thinker_out_count (o->out, MOR_INTERLEAVE_RESPONSE), ==, 8);
  GArray *b = pull_text (o, 0);
  g_assert_cmpuint (b->len, ==, 4);
  check_buf (b, 0, "Hi", 0, 2);
  check_buf (b, 1, " the", 2, 1);
  check_buf (b, 2, " and,", 3, 2);
  check_buf (b, 3, " \nx", 5, 3);
  /* A word goes out at the step of the piece that ends it, the last one step after the last token. */
  g_assert_cmpuint (g_array_index (b, Buf, 0).pts, ==, 2 * STEP);
  g_assert_cmpuint (g_array_index (b, Buf, 2).pts, ==, 5 * STEP);
  g_assert_cmpuint (g_array_index (b, Buf, 3).pts, ==, 7 * STEP);
  g_assert_cmpuint (g_array_index (b, Buf, 3).duration, ==, STEP);
  g_assert_cmpuint (g_array_index (b, Buf, 0).answer, ==, 7);
  bufs_free (b);
  o_free (o);
}

/* line: a buffer ends with the piece holding "\n"; the rest goes out at the answer's end. */
static void
test_line (void)
{
  O *o = o_new (GST_MOR_TEXT_CAPS, GST_MOR_TEXT_CAPS);
  gst_mor_thinker_out_begin_answer (o->out, 0, GST_MOR_THINKER_TEXT_LINE, NULL, FALSE);
  push_words (o);
  GArray *b = pull_text (o, 0);
  g_assert_cmpuint (b->len, ==, 1);
  check_buf (b, 0, "Hi the and, \n", 0, 7);
  g_assert_cmpuint (g_array_index (b, Buf, 0).pts, ==, 6 * STEP);
  bufs_free (b);
  gst_mor_thinker_out_end_answer (o->out, TRUE);
  b = pull_text (o, 0);
  g_assert_cmpuint (b->len, ==, 1);
  check_buf (b, 0, "x", 7, 1);
  bufs_free (b);
  o_free (o);
}

/* token: a character split over two tokens goes out with the one that
 * completes it; a split character left at the end becomes U+FFFD, sent only
 * when the answer ends normally. cumulative: all the text so far. */
static void
test_token_cumulative (void)
{
  O *o = o_new (GST_MOR_TEXT_CAPS, GST_MOR_TEXT_CAPS);
  gst_mor_thinker_out_begin_answer (o->out, 0, GST_MOR_THINKER_TEXT_TOKEN, NULL, FALSE);
  o_step (o, 0, "\xc3", 1);
  o_step (o, 0, "\xa9", 1);
  o_step (o, 0, "!", 1);
  o_step (o, 0, "\xc3", 1);
  gst_mor_thinker_out_end_answer (o->out, TRUE);
  GArray *b = pull_text (o, 0);
  g_assert_cmpuint (b->len, ==, 3);
  check_buf (b, 0, "é", 0, 2);
  check_buf (b, 1, "!", 2, 1);
  check_buf (b, 2, "\xef\xbf\xbd", 3, 1);
  bufs_free (b);

  /* Interrupted: what is held back is dropped; the next answer starts clean. */
  gst_mor_thinker_out_begin_answer (o->out, 1, GST_MOR_THINKER_TEXT_TOKEN, NULL, FALSE);
  o_step (o, 0, "\xc3", 1);
  gst_mor_thinker_out_end_answer (o->out, FALSE);
  gst_mor_thinker_out_begin_answer (o->out, 2, GST_MOR_THINKER_TEXT_CUMULATIVE, NULL, FALSE);
  o->n[0] = 0;
  const char *pieces[] = { "a", "b", "\xc3", "\xa9" };
  for (guint i = 0; i < G_N_ELEMENTS (pieces); i++)
    o_step (o, 0, pieces[i], 1);
  gst_mor_thinker_out_end_answer (o->out, TRUE);
  b = pull_text (o, 0);
  g_assert_cmpuint (b->len, ==, 3);
  check_buf (b, 0, "a", 0, 1);
  check_buf (b, 1, "ab", 1, 1);
  check_buf (b, 2, "abé", 2, 2);
  g_assert_cmpuint (g_array_index (b, Buf, 2).answer, ==, 2);
  bufs_free (b);
  o_free (o);
}

/* Each pad's buffers and gaps cover its time from the segment start to the
 * answer's end without a hole or an overlap; a buffer lasts until its
 * stream's next slot. */
static void
test_timeline (void)
{
  O *o = o_new (GST_MOR_TEXT_CAPS, GST_MOR_TEXT_CAPS);
  GstSegment seg;
  gst_segment_init (&seg, GST_FORMAT_TIME);
  seg.start = seg.time = GST_SECOND;
  GstEvent *e = gst_event_new_segment (&seg);
  gst_mor_thinker_out_segment (o->out, e);
  gst_event_unref (e);
  gst_mor_thinker_out_fill_gaps (o->out, 2 * GST_SECOND); /* input up to 2 s */
  gst_mor_thinker_out_begin_answer (o->out, 0, GST_MOR_THINKER_TEXT_TOKEN, NULL, FALSE);
  /* 1:2 cycles: response, reasoning, reasoning; next_in: steps to the stream's next slot. */
  const guint next_in[3] = { 3, 1, 2 };
  for (guint step = 0; step < 9; step++) {
    guint stream = step % 3 == 0 ? 0 : 1;
    gst_mor_thinker_out_next_step (o->out);
    static const float v[DIM] = { 0 };
    MorInterleaveToken tk = { { stream, step, step / 3, step % 3, o->n[stream]++, -1, next_in[step % 3] },
                              id_of ("a", 1), 0, TRUE, v, v };
    g_assert_cmpint (gst_mor_thinker_out_push_token (o->out, &tk), ==, GST_FLOW_OK);
  }
  gst_mor_thinker_out_end_answer (o->out, TRUE);
  for (guint s = 0; s < 2; s++) {
    g_autoptr (GArray) spans = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
    GstEvent *ev;
    while ((ev = gst_harness_try_pull_event (o->h[s]))) {
      if (GST_EVENT_TYPE (ev) == GST_EVENT_GAP) {
        GstClockTime span[2];
        gst_event_parse_gap (ev, &span[0], &span[1]);
        span[1] += span[0];
        g_array_append_vals (spans, span, 2);
      }
      gst_event_unref (ev);
    }
    GArray *b = pull_text (o, s);
    g_assert_cmpuint (b->len, ==, s == 0 ? 3 : 6);
    for (guint i = 0; i < b->len; i++) {
      Buf *x = &g_array_index (b, Buf, i);
      g_assert_cmpuint (x->duration, ==, s == 0 ? 3 * STEP : (i % 2 + 1) * STEP);
      GstClockTime span[2] = { x->pts, x->pts + x->duration };
      g_array_append_vals (spans, span, 2);
    }
    g_assert_cmpuint (g_array_index (b, Buf, 0).pts, ==, 2 * GST_SECOND + (s == 0 ? 0 : STEP));
    bufs_free (b);
    GstClockTime first, last;
    spans_check_contiguous (spans, &first, &last);
    g_assert_cmpuint (first, ==, GST_SECOND);
    /* The answer's end is one step after its last (step 8); a token lasts until its stream's next slot. */
    g_assert_cmpuint (last, ==, 2 * GST_SECOND + (s == 0 ? 9 : 10) * STEP);
  }
  o_free (o);
}

/* A pad whose downstream takes only tokens gets token records; text is
 * chosen where downstream takes either. Stream-ids differ per pad. */
static void
test_caps_and_records (void)
{
  O *o = o_new (GST_MOR_TEXT_CAPS "; " GST_MOR_TOKENS_CAPS, GST_MOR_TOKENS_CAPS);
  for (guint s = 0; s < 2; s++) {
    GstCaps *caps = gst_pad_get_current_caps (GST_PAD_PEER (o->h[s]->sinkpad));
    g_assert_nonnull (caps);
    GstStructure *st = gst_caps_get_structure (caps, 0);
    g_assert_true (gst_structure_has_name (st, s == 0 ? "text/x-raw" : GST_MOR_TOKENS_CAPS));
    if (s == 1)
      g_assert_cmpstr (gst_structure_get_string (st, "stream"), ==, "reasoning");
    gst_caps_unref (caps);
  }
  g_autofree char *id0 = gst_pad_get_stream_id (GST_PAD_PEER (o->h[0]->sinkpad));
  g_autofree char *id1 = gst_pad_get_stream_id (GST_PAD_PEER (o->h[1]->sinkpad));
  g_assert_true (g_str_has_suffix (id0, "/response") && g_str_has_suffix (id1, "/reasoning"));

  gst_mor_thinker_out_begin_answer (o->out, 3, GST_MOR_THINKER_TEXT_WORD, NULL, FALSE);
  o_step (o, 1, "\xc3", 1);
  o_step (o, 1, "\xa9", 1);
  gst_mor_thinker_out_end_answer (o->out, TRUE);
  const char *texts[2] = { "", "é" };
  for (guint i = 0; i < 2; i++) {
    GstBuffer *buf = gst_harness_pull (o->h[1]);
    GstMapInfo map;
    GstMorRecord r;
    gst_buffer_map (buf, &map, GST_MAP_READ);
    g_assert_true (gst_mor_record_parse (map.data, map.size, &r, NULL));
    g_assert_cmpint (r.kind, ==, GST_MOR_RECORD_TOKEN);
    g_assert_cmpuint (r.dim, ==, DIM);
    g_assert_cmpuint (r.answer, ==, 3);
    g_assert_cmpuint (r.stream, ==, 1);
    g_assert_cmpuint (r.index, ==, i);
    g_assert_cmpint (r.token_id, ==, id_of (i == 0 ? "\xc3" : "\xa9", 1));
    g_assert_cmpmem (r.text, r.text_len, texts[i], strlen (texts[i]));
    g_assert_cmpfloat (GST_READ_FLOAT_LE (r.hidden + 12), ==, 4.0f);
    gst_buffer_unmap (buf, &map);
    gst_buffer_unref (buf);
  }
  g_assert_null (gst_harness_try_pull (o->h[1]));
  g_assert_null (gst_harness_try_pull (o->h[0]));
  o_free (o);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  gst_init (&argc, &argv);
  gst_mor_element_init (NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (MorGgufWriter) w = mor_mkmodel_thinker_full (mor_mkmodel_thinker_shape ("tiny"), MOR_TYPE_F16, 3, NULL,
                                                          &error);
  g_assert_no_error (error);
  g_autoptr (GBytes) bytes = mor_gguf_writer_to_bytes (w);
  g_autoptr (MorGguf) g = mor_gguf_new_from_bytes (bytes, &error);
  g_assert_no_error (error);
  tok = mor_tokenizer_new_from_gguf (g, &error);
  g_assert_no_error (error);

  g_test_add_func ("/morthinkerout/word", test_word);
  g_test_add_func ("/morthinkerout/line", test_line);
  g_test_add_func ("/morthinkerout/token-cumulative", test_token_cumulative);
  g_test_add_func ("/morthinkerout/timeline", test_timeline);
  g_test_add_func ("/morthinkerout/caps-and-records", test_caps_and_records);
  int ret = g_test_run ();
  mor_tokenizer_unref (tok);
  gst_deinit ();
  return ret;
}
