/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of gst/gstmortalker.c through GstHarness and gst_parse_launch, on tiny
 * random talkers written by mor_mkmodel_talker_full() with the end codes
 * muted: a greedy talker then never ends on its own, so an answer runs to
 * max-codes and its length is known. Token records are made here with
 * gst_mor_record_new_*() as morthinker makes them. */
#include <glib/gstdio.h>
#include <gst/check/gstharness.h>
#include <math.h>
#include <string.h>

#include "gstmorelement.h"
#include "start_error.h"
#include "gstmorrecord.h"
#include "mkmodel.h"

#define DIM 256          /* the tiny talker's input rows (the tiny thinker's width) */
#define SAMPLES_PER_CODE 480
#define RATE 24000

static char *tmpdir, *model, *thinker;

static char *
write_file (const char *name, MorGgufWriter *w)
{
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (tmpdir, name, NULL);
  g_assert_true (mor_gguf_writer_write_file (w, path, &error));
  g_assert_no_error (error);
  mor_gguf_writer_free (w);
  return path;
}

/* Random rows, deterministic per @seed. */
static void
fill_rows (float *x, gsize n, guint32 seed)
{
  for (gsize i = 0; i < n; i++) {
    seed = seed * 1664525u + 1013904223u;
    x[i] = ((seed >> 8) / 16777216.0f - 0.5f) * 0.2f;
  }
}

static GstBuffer *
prompt_record (guint32 n_rows, guint32 answer)
{
  g_autofree gint32 *ids = g_new (gint32, n_rows);
  g_autofree float *h = g_new (float, (gsize) n_rows * DIM), *e = g_new (float, (gsize) n_rows * DIM);
  for (guint32 i = 0; i < n_rows; i++)
    ids[i] = 100 + i;
  fill_rows (h, (gsize) n_rows * DIM, 1 + answer);
  fill_rows (e, (gsize) n_rows * DIM, 2 + answer);
  return gst_mor_record_new_prompt (DIM, answer, 0, n_rows, ids, h, e);
}

static GstBuffer *
token_record (guint32 index, guint32 answer)
{
  float h[DIM], e[DIM];
  fill_rows (h, DIM, 10 + index);
  fill_rows (e, DIM, 1000 + index);
  return gst_mor_record_new_token (DIM, answer, 0, index, index / 2, index % 2, 40 + index, -0.1f, h, e, "a", 1);
}

/* ---- a talker between harnesses ---- */

typedef struct {
  GstElement *el;
  GstBus *bus;
  GstHarness *h;
} T;

/* A fast mortalker (euler, 2 time points, no guidance, greedy) on the tiny
 * model with the properties given as NULL-terminated name/value pairs. */
static T *
t_new (const char *first, ...)
{
  T *t = g_new0 (T, 1);
  t->el = gst_element_factory_make ("mortalker", NULL);
  g_assert_nonnull (t->el);
  g_object_set (t->el, "model", model, "greedy", TRUE, "dit-steps", 2, "dit-solver", 1, "cfg", 0.0f, NULL);
  va_list args;
  va_start (args, first);
  g_object_set_valist (G_OBJECT (t->el), first, args);
  va_end (args);
  t->bus = gst_bus_new ();
  gst_element_set_bus (t->el, t->bus);
  t->h = gst_harness_new_with_element (t->el, "sink", "src");
  gst_harness_set_src_caps_str (t->h, GST_MOR_TOKENS_CAPS ", dim=256, stream=response");
  gst_harness_play (t->h);
  return t;
}

static void
t_free (T *t)
{
  gst_harness_teardown (t->h);
  gst_element_set_bus (t->el, NULL);
  gst_object_unref (t->bus);
  gst_object_unref (t->el);
  g_free (t);
}

static void
push_answer_end (T *t, guint32 answer)
{
  GstStructure *f = gst_structure_new ("fields", "answer", G_TYPE_UINT, answer, NULL);
  g_assert_true (gst_harness_push_event (t->h, gst_mor_event_new (GST_MOR_EVENT_ANSWER_END, f)));
}

/* Pulls audio until the mor event that ends the answer; returns the samples
 * and checks that buffers are contiguous F32 at 24 kHz. */
static GArray *
pull_answer (T *t, GstMorEventType *end)
{
  GArray *audio = g_array_new (FALSE, FALSE, sizeof (float));
  GstClockTime next = GST_CLOCK_TIME_NONE;
  for (;;) {
    /* Events and buffers arrive in order; look at the next of either. */
    GstEvent *e;
    while ((e = gst_harness_try_pull_event (t->h))) {
      GstMorEventType type = gst_mor_event_get_mor_type (e);
      gst_event_unref (e);
      if (type == GST_MOR_EVENT_ANSWER_END || type == GST_MOR_EVENT_INTERRUPT) {
        GstBuffer *b;
        while ((b = gst_harness_try_pull (t->h))) {  /* audio pushed before the event */
          GstMapInfo map;
          gst_buffer_map (b, &map, GST_MAP_READ);
          g_array_append_vals (audio, map.data, map.size / 4);
          gst_buffer_unmap (b, &map);
          gst_buffer_unref (b);
        }
        *end = type;
        return audio;
      }
    }
    GstBuffer *b = gst_harness_try_pull (t->h);
    if (!b) {
      g_usleep (2000);
      continue;
    }
    GstMapInfo map;
    gst_buffer_map (b, &map, GST_MAP_READ);
    g_assert_cmpuint (map.size % 4, ==, 0);
    if (GST_CLOCK_TIME_IS_VALID (next))
      g_assert_cmpuint (GST_BUFFER_PTS (b), ==, next);
    next = GST_BUFFER_PTS (b) + GST_BUFFER_DURATION (b);
    g_assert_cmpuint (GST_BUFFER_DURATION (b), ==, gst_util_uint64_scale_int (map.size / 4, GST_SECOND, RATE));
    const float *x = (const float *) map.data;
    for (gsize i = 0; i < map.size / 4; i++)
      g_assert_true (isfinite (x[i]) && fabsf (x[i]) <= 1.0f);
    g_array_append_vals (audio, map.data, map.size / 4);
    gst_buffer_unmap (b, &map);
    gst_buffer_unref (b);
  }
}

/* The mortalker/answer message from the bus. */
static GstStructure *
answer_message (T *t)
{
  for (;;) {
    GstMessage *m = gst_bus_timed_pop_filtered (t->bus, 60 * GST_SECOND, GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR);
    g_assert_nonnull (m);
    g_assert_cmpint (GST_MESSAGE_TYPE (m), !=, GST_MESSAGE_ERROR);
    const GstStructure *s = gst_message_get_structure (m);
    if (gst_structure_has_name (s, "mortalker/answer")) {
      GstStructure *copy = gst_structure_copy (s);
      gst_message_unref (m);
      return copy;
    }
    gst_message_unref (m);
  }
}

static void
test_properties (void)
{
  GstElement *el = gst_element_factory_make ("mortalker", NULL);
  guint steps, max_codes;
  float cfg;
  gboolean streaming;
  gint solver;
  g_object_get (el, "dit-steps", &steps, "cfg", &cfg, "streaming", &streaming, "dit-solver", &solver,
                "max-codes", &max_codes, NULL);
  g_assert_cmpuint (steps, ==, 10);
  g_assert_cmpfloat (cfg, ==, 0.5f);
  g_assert_true (streaming);
  g_assert_cmpint (solver, ==, 0);
  g_assert_cmpuint (max_codes, ==, 2048);
  gst_object_unref (el);
}

/* A whole answer: prompt, 10 response tokens, answer-end; the talker runs on
 * alone to max-codes (muted end codes), every code is 480 samples. */
static void
test_answer (void)
{
  T *t = t_new ("max-codes", 40, NULL);
  g_assert_cmpint (gst_harness_push (t->h, prompt_record (6, 0)), ==, GST_FLOW_OK);
  for (guint i = 0; i < 10; i++)
    g_assert_cmpint (gst_harness_push (t->h, token_record (i, 0)), ==, GST_FLOW_OK);
  push_answer_end (t, 0);
  GstMorEventType end;
  g_autoptr (GArray) audio = pull_answer (t, &end);
  g_assert_cmpint (end, ==, GST_MOR_EVENT_ANSWER_END);
  g_autoptr (GstStructure) s = answer_message (t);
  guint codes;
  double seconds, first_ms;
  g_assert_true (gst_structure_get (s, "codes", G_TYPE_UINT, &codes, "audio-seconds", G_TYPE_DOUBLE, &seconds,
                                    "first-audio-ms", G_TYPE_DOUBLE, &first_ms, NULL));
  /* generate's limit of max-codes + 1 tokens, the last one dropped */
  g_assert_cmpuint (codes, ==, 40);
  g_assert_cmpuint (audio->len, ==, codes * SAMPLES_PER_CODE);
  g_assert_cmpfloat (fabs (seconds - codes * 0.02), <, 1e-9);
  g_assert_cmpfloat (first_ms, >=, 0);
  g_assert_cmpstr (gst_structure_get_string (s, "end-reason"), ==, "max-codes");
  t_free (t);
}

/* The first audio leaves while the answer is still coming: after 48 codes
 * (one per response token), before answer-end. */
static void
test_streams_early (void)
{
  T *t = t_new ("max-codes", 60, NULL);
  gst_harness_push (t->h, prompt_record (4, 0));
  guint i = 0;
  GstBuffer *first = NULL;
  for (; i < 120 && !first; i++) {
    gst_harness_push (t->h, token_record (i, 0));
    /* the worker runs behind the pushes: give it time to catch up */
    for (guint wait = 0; wait < 500 && !first && gst_harness_buffers_in_queue (t->h) == 0 && i >= 47; wait++)
      g_usleep (10000), first = gst_harness_try_pull (t->h);
    if (!first)
      first = gst_harness_try_pull (t->h);
  }
  g_assert_nonnull (first);
  g_assert_cmpuint (i, <=, 60);  /* 48 codes ask for 48 reply rows */
  gst_buffer_unref (first);
  push_answer_end (t, 0);
  GstMorEventType end;
  g_autoptr (GArray) rest = pull_answer (t, &end);
  g_autoptr (GstStructure) s = answer_message (t);
  t_free (t);
}

/* Streaming and whole-answer token2wav make the same length of audio, from
 * the same codes (the values differ by the reference scheme's approximation,
 * measured in tests/token2wav.c). */
static void
test_whole (void)
{
  GArray *audio[2];
  for (guint whole = 0; whole < 2; whole++) {
    T *t = t_new ("max-codes", 30, "streaming", !whole, NULL);
    gst_harness_push (t->h, prompt_record (3, 0));
    for (guint i = 0; i < 5; i++)
      gst_harness_push (t->h, token_record (i, 0));
    push_answer_end (t, 0);
    GstMorEventType end;
    audio[whole] = pull_answer (t, &end);
    g_autoptr (GstStructure) s = answer_message (t);
    t_free (t);
  }
  g_assert_cmpuint (audio[0]->len, ==, 30 * SAMPLES_PER_CODE);
  g_assert_cmpuint (audio[1]->len, ==, audio[0]->len);
  g_array_unref (audio[0]);
  g_array_unref (audio[1]);
}

/* mor/interrupt ends the answer at once: the event goes on, the message says
 * interrupted, and the next answer speaks normally. */
static void
test_interrupt (void)
{
  T *t = t_new ("max-codes", 60, NULL);
  gst_harness_push (t->h, prompt_record (4, 0));
  for (guint i = 0; i < 100; i++)
    gst_harness_push (t->h, token_record (i, 0));
  GstStructure *f = gst_structure_new ("fields", "answer", G_TYPE_UINT, 0, NULL);
  g_assert_true (gst_harness_push_event (t->h, gst_mor_event_new (GST_MOR_EVENT_INTERRUPT, f)));
  GstMorEventType end;
  g_autoptr (GArray) cut = pull_answer (t, &end);
  g_assert_cmpint (end, ==, GST_MOR_EVENT_INTERRUPT);
  g_autoptr (GstStructure) s = answer_message (t);
  g_assert_cmpstr (gst_structure_get_string (s, "end-reason"), ==, "interrupted");
  guint codes;
  gst_structure_get_uint (s, "codes", &codes);
  g_assert_cmpuint (codes, <, 60);

  gst_harness_push (t->h, prompt_record (4, 1));
  gst_harness_push (t->h, token_record (0, 1));
  push_answer_end (t, 1);
  g_autoptr (GArray) next = pull_answer (t, &end);
  g_assert_cmpint (end, ==, GST_MOR_EVENT_ANSWER_END);
  g_autoptr (GstStructure) s2 = answer_message (t);
  g_assert_cmpstr (gst_structure_get_string (s2, "end-reason"), ==, "max-codes");
  g_assert_cmpuint (next->len, ==, 60 * SAMPLES_PER_CODE);
  t_free (t);
}

static void
test_errors (void)
{
  g_autofree char *missing = g_build_filename (tmpdir, "missing.gguf", NULL);
  check_start_error ("mortalker", missing, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND, missing, NULL);
  /* a thinker file is no talker */
  check_start_error ("mortalker", thinker, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ, "not a talker", NULL);
  /* a speaker the file lacks: the message lists those it has */
  check_start_error ("mortalker", model, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS, "Chelsie, Ethan",
                     "speaker", "Nobody", NULL);

  /* Records of another width: a negotiation error naming both. */
  T *t = t_new (NULL);
  gst_harness_set_src_caps_str (t->h, GST_MOR_TOKENS_CAPS ", dim=100, stream=response");
  GstMessage *m = gst_bus_pop_filtered (t->bus, GST_MESSAGE_ERROR);
  g_assert_nonnull (m);
  g_autoptr (GError) error = NULL;
  gst_message_parse_error (m, &error, NULL);
  g_assert_error (error, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION);
  g_assert_nonnull (strstr (error->message, "100"));
  g_assert_nonnull (strstr (error->message, "256"));
  gst_message_unref (m);
  /* The reasoning stream is never spoken: its caps are not accepted. */
  GstPad *sink = gst_element_get_static_pad (t->el, "sink");
  GstCaps *reasoning = gst_caps_from_string (GST_MOR_TOKENS_CAPS ", dim=256, stream=reasoning");
  g_assert_false (gst_pad_query_accept_caps (sink, reasoning));
  gst_caps_unref (reasoning);
  gst_object_unref (sink);
  t_free (t);
}

/* A real pipeline: a typed question through morthinker (its response pad as
 * token records) into mortalker, to EOS, both answer messages posted. */
static void
test_pipeline (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *desc = g_strdup_printf (
      "appsrc name=src caps=text/x-raw,format=utf8 format=time ! morthinker name=t model=%s max-tokens=20 "
      "temperature=0 t.response ! queue ! mortalker model=%s greedy=true max-codes=30 dit-steps=2 cfg=0 ! fakesink "
      "t.reasoning ! queue ! fakesink", thinker, model);
  GstElement *pipe = gst_parse_launch (desc, &error);
  g_assert_no_error (error);
  GstElement *src = gst_bin_get_by_name (GST_BIN (pipe), "src");
  g_assert_cmpint (gst_element_set_state (pipe, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  GstFlowReturn ret;
  GstBuffer *question = gst_buffer_new_memdup ("what is the answer", 18);
  g_signal_emit_by_name (src, "push-buffer", question, &ret);
  gst_buffer_unref (question);
  g_signal_emit_by_name (src, "end-of-stream", &ret);
  GstBus *bus = gst_element_get_bus (pipe);
  gboolean thought = FALSE, spoke = FALSE;
  for (;;) {
    GstMessage *m = gst_bus_timed_pop_filtered (bus, 120 * GST_SECOND,
                                                GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT);
    g_assert_nonnull (m);
    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR) {
      GError *e;
      gst_message_parse_error (m, &e, NULL);
      g_error ("pipeline error: %s", e->message);
    }
    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ELEMENT) {
      thought |= gst_structure_has_name (gst_message_get_structure (m), "morthinker/answer");
      spoke |= gst_structure_has_name (gst_message_get_structure (m), "mortalker/answer");
    }
    gboolean eos = GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS;
    gst_message_unref (m);
    if (eos)
      break;
  }
  g_assert_true (thought);
  g_assert_true (spoke);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (src);
  gst_object_unref (pipe);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  gst_init (&argc, &argv);
  tmpdir = g_dir_make_tmp ("mortalker-XXXXXX", NULL);
  g_autoptr (GError) error = NULL;
  model = write_file ("talker.gguf", mor_mkmodel_talker_full (mor_mkmodel_talker_shape ("tiny"), MOR_TYPE_F16, 5,
                                                              TRUE, &error));
  MorMkmodelThinkerOptions il = { 2, 8, TRUE };
  thinker = write_file ("thinker.gguf", mor_mkmodel_thinker_full (mor_mkmodel_thinker_shape ("tiny"), MOR_TYPE_F16,
                                                                  3, &il, &error));

  g_test_add_func ("/mortalker/properties", test_properties);
  g_test_add_func ("/mortalker/answer", test_answer);
  g_test_add_func ("/mortalker/streams-early", test_streams_early);
  g_test_add_func ("/mortalker/whole", test_whole);
  g_test_add_func ("/mortalker/interrupt", test_interrupt);
  g_test_add_func ("/mortalker/errors", test_errors);
  g_test_add_func ("/mortalker/pipeline", test_pipeline);
  int ret = g_test_run ();

  g_unlink (model);
  g_unlink (thinker);
  g_rmdir (tmpdir);
  g_free (model);
  g_free (thinker);
  g_free (tmpdir);
  gst_deinit ();
  return ret;
}
