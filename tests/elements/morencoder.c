/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of gst/gstmorencoder.c through GstHarness and gst_parse_launch, on a tiny
 * random encoder written by mor_mkmodel_encoder(): rows against the library's
 * whole-utterance encoding (mor_encoder_encode, bit for bit), chunk boundaries,
 * revised chunks, VAD endpointing of a synthetic signal, max-length cuts,
 * upstream events, flushing, GAP input, latency (harness and a live pipeline),
 * caps and load errors, and the chain into morthinker. */
#include <glib/gstdio.h>
#include <gst/check/gstharness.h>
#include <math.h>
#include <string.h>

#include "encoder.h"
#include "gstmorelement.h"
#include "start_error.h"
#include "mkmodel.h"

#define DIM 256 /* the tiny encoder's output_dim: the tiny thinker's hidden size */
#define RATE 16000
#define AUDIO_CAPS(format) "audio/x-raw, format=" format ", rate=16000, channels=1, layout=interleaved"
/* What the element adds to upstream's latency when live: the chunk (2 s) and its 40-sample look-ahead. */
#define CHUNK_LATENCY (2 * GST_SECOND + 2500 * GST_USECOND)

static char *tmpdir, *model_enc, *model_thinker;
static MorVkDevice *device;
static MorEncoder *encoder; /* model_enc, for the expected rows */

static GstClockTime
samples_ns (guint64 n)
{
  return gst_util_uint64_scale_int (n, GST_SECOND, RATE);
}

/* ---- signals ---- */

/* White noise of amplitude @amp over [@from, @to) of @x. */
static void
add_noise (float *x, gsize from, gsize to, float amp, guint32 seed)
{
  g_autoptr (GRand) r = g_rand_new_with_seed (seed);
  for (gsize i = from; i < to; i++)
    x[i] = amp * (float) (2 * g_rand_double (r) - 1);
}

static void
add_tone (float *x, gsize from, gsize to, float amp, double hz)
{
  for (gsize i = from; i < to; i++)
    x[i] = amp * (float) sin (2 * G_PI * hz * (double) i / RATE);
}

/* What S16LE can carry: the samples the element sees from S16LE input. */
static void
quantize (float *x, gsize n)
{
  for (gsize i = 0; i < n; i++)
    x[i] = (float) CLAMP (lrintf (x[i] * 32768.0f), -32768, 32767) / 32768.0f;
}

/* ---- an encoder in a harness, recording its output in order ---- */

typedef struct {
  GstElement *el;
  GstBus *bus;
  GstHarness *h;
  GMutex lock;
  GPtrArray *log; /* buffers and events leaving the src pad, in order */
} E;

static GstPadProbeReturn
record (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  E *e = user_data;
  g_mutex_lock (&e->lock);
  g_ptr_array_add (e->log, gst_mini_object_ref (GST_PAD_PROBE_INFO_DATA (info)));
  g_mutex_unlock (&e->lock);
  return GST_PAD_PROBE_OK;
}

/* A morencoder on the tiny encoder with the properties given as NULL-terminated
 * name/value pairs, playing, with sink caps of @format (NULL: none yet). */
static E *
e_new (const char *format, const char *first, ...)
{
  E *e = g_new0 (E, 1);
  e->el = gst_element_factory_make ("morencoder", NULL);
  g_assert_nonnull (e->el);
  g_object_set (e->el, "model", model_enc, NULL);
  va_list args;
  va_start (args, first);
  g_object_set_valist (G_OBJECT (e->el), first, args);
  va_end (args);
  e->bus = gst_bus_new ();
  gst_element_set_bus (e->el, e->bus);
  g_mutex_init (&e->lock);
  e->log = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_mini_object_unref);
  GstPad *src = gst_element_get_static_pad (e->el, "src");
  gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_DATA_DOWNSTREAM | GST_PAD_PROBE_TYPE_EVENT_FLUSH, record, e, NULL);
  gst_object_unref (src);
  e->h = gst_harness_new_with_element (e->el, "sink", "src");
  gst_harness_play (e->h);
  if (format)
    gst_harness_set_src_caps_str (e->h, format);
  return e;
}

static void
e_free (E *e)
{
  gst_harness_teardown (e->h);
  gst_element_set_bus (e->el, NULL);
  gst_object_unref (e->bus);
  gst_object_unref (e->el);
  g_ptr_array_unref (e->log);
  g_mutex_clear (&e->lock);
  g_free (e);
}

/* Pushes @x as buffers of @piece samples (S16LE when @s16) with PTS from @t0. */
static void
push_audio (E *e, const float *x, gsize n, gboolean s16, gsize piece, GstClockTime t0)
{
  for (gsize at = 0; at < n; at += piece) {
    gsize m = MIN (piece, n - at);
    GstBuffer *buf = gst_buffer_new_allocate (NULL, m * (s16 ? 2 : 4), NULL);
    GstMapInfo map;
    gst_buffer_map (buf, &map, GST_MAP_WRITE);
    for (gsize i = 0; i < m; i++) {
      if (s16)
        GST_WRITE_UINT16_LE (map.data + 2 * i, (guint16) (gint16) lrintf (x[at + i] * 32768.0f));
      else
        GST_WRITE_FLOAT_LE (map.data + 4 * i, x[at + i]);
    }
    gst_buffer_unmap (buf, &map);
    GST_BUFFER_PTS (buf) = t0 + samples_ns (at);
    GST_BUFFER_DURATION (buf) = samples_ns (at + m) - samples_ns (at);
    g_assert_cmpint (gst_harness_push (e->h, buf), ==, GST_FLOW_OK);
  }
}

/* EOS in; waits until it comes out. */
static void
finish (E *e)
{
  g_assert_true (gst_harness_push_event (e->h, gst_event_new_eos ()));
  for (;;) {
    GstEvent *ev = gst_harness_pull_event (e->h);
    g_assert_nonnull (ev);
    gboolean eos = GST_EVENT_TYPE (ev) == GST_EVENT_EOS;
    gst_event_unref (ev);
    if (eos)
      break;
  }
}

/* Pulls events until a mor event of @type. */
static void
wait_mor_event (E *e, GstMorEventType type)
{
  for (;;) {
    GstEvent *ev = gst_harness_pull_event (e->h);
    g_assert_nonnull (ev);
    GstMorEventType t = gst_mor_event_get_mor_type (ev);
    gst_event_unref (ev);
    if (t == type)
      return;
  }
}

/* ---- reading the output ---- */

typedef struct {
  guint32 utterance, rows, revised_from;
  guint n_revised;         /* mor/rows-revised events seen */
  GstClockTime start, end; /* the events' timestamps */
  char *reason;            /* NULL: flushed before its end */
  GArray *data;            /* the rows received between its events */
  guint n_buffers;
} Utt;

static void
utts_free (GArray *utts)
{
  for (guint i = 0; i < utts->len; i++) {
    Utt *u = &g_array_index (utts, Utt, i);
    g_free (u->reason);
    g_array_unref (u->data);
  }
  g_array_unref (utts);
}

/* The utterances of the log, checking the stream as it goes: rows only
 * between an utterance's events, each utterance's buffers contiguous from its
 * start, 40 ms a row (the last clipped at the end), the output time (buffers
 * and gaps) never going back but for rows sent again after a
 * `mor/rows-revised` (they replace the rows from its `from` on). */
static GArray *
parse_log (E *e)
{
  GArray *utts = g_array_new (FALSE, TRUE, sizeof (Utt));
  Utt *open = NULL;
  GstClockTime out = 0, next = 0;
  g_mutex_lock (&e->lock);
  for (guint i = 0; i < e->log->len; i++) {
    GstMiniObject *o = g_ptr_array_index (e->log, i);
    if (GST_IS_BUFFER (o)) {
      GstBuffer *buf = GST_BUFFER (o);
      g_assert_nonnull (open);
      gsize size = gst_buffer_get_size (buf);
      g_assert_cmpuint (size % (DIM * 4), ==, 0);
      guint rows = size / (DIM * 4);
      g_assert_cmpuint (rows, >, 0);
      GstClockTime pts = GST_BUFFER_PTS (buf), dur = GST_BUFFER_DURATION (buf);
      g_assert_cmpuint (pts, ==, next);
      g_assert_cmpuint (pts, >=, MIN (out, next));
      g_assert_cmpuint (dur, <=, rows * 40 * GST_MSECOND);
      g_assert_cmpuint (dur, >, (rows - 1) * 40 * GST_MSECOND);
      next = pts + rows * 40 * GST_MSECOND;
      out = pts + dur;
      GstMapInfo map;
      gst_buffer_map (buf, &map, GST_MAP_READ);
      g_array_append_vals (open->data, map.data, rows * DIM);
      gst_buffer_unmap (buf, &map);
      open->n_buffers++;
      continue;
    }
    GstEvent *ev = GST_EVENT (o);
    GstMorEventType type = gst_mor_event_get_mor_type (ev);
    const GstStructure *s = gst_event_get_structure (ev);
    if (GST_EVENT_TYPE (ev) == GST_EVENT_GAP) {
      GstClockTime ts, dur;
      gst_event_parse_gap (ev, &ts, &dur);
      g_assert_null (open);
      g_assert_cmpuint (ts, >=, out);
      out = ts + dur;
    } else if (GST_EVENT_TYPE (ev) == GST_EVENT_FLUSH_STOP) {
      open = NULL;
      out = 0;
    } else if (GST_EVENT_TYPE (ev) == GST_EVENT_SEGMENT) {
      g_assert_null (open); /* a new timeline ends the utterance first */
      out = 0;
    } else if (GST_EVENT_TYPE (ev) == GST_EVENT_CAPS) {
      GstCaps *caps;
      gint dim;
      gst_event_parse_caps (ev, &caps);
      g_assert_true (gst_structure_has_name (gst_caps_get_structure (caps, 0), GST_MOR_EMBEDDINGS_CAPS));
      g_assert_true (gst_structure_get_int (gst_caps_get_structure (caps, 0), "dim", &dim));
      g_assert_cmpint (dim, ==, DIM);
    } else if (type == GST_MOR_EVENT_UTTERANCE_START) {
      g_assert_null (open);
      Utt u = { 0 };
      u.data = g_array_new (FALSE, FALSE, sizeof (float));
      g_assert_true (gst_structure_get (s, "utterance", G_TYPE_UINT, &u.utterance, "timestamp", G_TYPE_UINT64,
                                        &u.start, NULL));
      g_assert_cmpuint (u.start, >=, out);
      g_array_append_val (utts, u);
      open = &g_array_index (utts, Utt, utts->len - 1);
      next = u.start;
    } else if (type == GST_MOR_EVENT_ROWS_REVISED) {
      g_assert_nonnull (open);
      guint from;
      g_assert_true (gst_structure_get_uint (s, "from", &from));
      g_assert_cmpuint (from * DIM, <, open->data->len);
      g_array_set_size (open->data, from * DIM);
      next = open->start + from * 40 * GST_MSECOND;
      open->n_revised++;
    } else if (type == GST_MOR_EVENT_UTTERANCE_END) {
      g_assert_nonnull (open);
      guint32 no;
      g_assert_true (gst_structure_get (s, "utterance", G_TYPE_UINT, &no, "timestamp", G_TYPE_UINT64, &open->end,
                                        "rows", G_TYPE_UINT, &open->rows, "revised-from", G_TYPE_UINT,
                                        &open->revised_from, NULL));
      g_assert_cmpuint (no, ==, open->utterance);
      open->reason = g_strdup (gst_structure_get_string (s, "reason"));
      g_assert_nonnull (open->reason);
      g_assert_cmpuint (open->rows * DIM, ==, open->data->len);
      g_assert_cmpuint (open->end, >=, out);
      open = NULL;
    } else {
      g_assert_cmpint (type, ==, GST_MOR_EVENT_NONE); /* upstream's utterance events are not forwarded */
    }
  }
  g_mutex_unlock (&e->lock);
  g_assert_null (open);
  return utts;
}

/* The element message of each utterance, from the bus. */
static GPtrArray *
utterance_messages (E *e)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_structure_free);
  GstMessage *m;
  while ((m = gst_bus_pop_filtered (e->bus, GST_MESSAGE_ELEMENT))) {
    const GstStructure *s = gst_message_get_structure (m);
    if (gst_structure_has_name (s, "morencoder/utterance"))
      g_ptr_array_add (out, gst_structure_copy (s));
    gst_message_unref (m);
  }
  return out;
}

/* The rows of @u are the whole-utterance encoding of @x[0, @n), bit for bit. */
static void
assert_rows_whole (const Utt *u, const float *x, gsize n)
{
  g_autoptr (GError) error = NULL;
  guint32 n_rows;
  g_autofree float *whole = mor_encoder_encode (encoder, x, n, &n_rows, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (n_rows, ==, mor_encoder_n_rows (mor_mel_n_frames (n)));
  g_assert_cmpuint (u->rows, ==, n_rows);
  if (n_rows)
    g_assert_cmpmem (u->data->data, u->data->len * 4, whole, (gsize) n_rows * DIM * 4);
}

/* ---- tests ---- */

/* vad=false: one utterance to EOS; the first chunk comes out before EOS; the
 * rows are the whole-utterance encoding (white noise: no revision). */
static void
check_whole (gconstpointer data)
{
  gboolean s16 = GPOINTER_TO_INT (data);
  gsize n = 52800; /* 3.3 s: a chunk and a tail */
  g_autofree float *x = g_new0 (float, n);
  add_noise (x, 0, n, 0.3f, 7);
  if (s16)
    quantize (x, n);
  E *e = e_new (s16 ? AUDIO_CAPS ("S16LE") : AUDIO_CAPS ("F32LE"), "vad", FALSE, NULL);
  push_audio (e, x, n, s16, 1600, GST_SECOND);
  /* The chunk [0, 2 s) is out while the stream goes on. */
  GstBuffer *first = gst_harness_pull (e->h);
  g_assert_cmpuint (gst_buffer_get_size (first), ==, 50 * DIM * 4);
  g_assert_cmpuint (GST_BUFFER_PTS (first), ==, GST_SECOND);
  g_assert_cmpuint (GST_BUFFER_DURATION (first), ==, 2 * GST_SECOND);
  gst_buffer_unref (first);
  finish (e);

  GArray *utts = parse_log (e);
  g_assert_cmpuint (utts->len, ==, 1);
  Utt *u = &g_array_index (utts, Utt, 0);
  assert_rows_whole (u, x, n);
  g_assert_cmpuint (u->rows, ==, 82);
  g_assert_cmpuint (u->n_buffers, ==, 2);
  g_assert_cmpuint (u->revised_from, ==, 50);
  g_assert_cmpuint (u->start, ==, GST_SECOND);
  g_assert_cmpuint (u->end, ==, GST_SECOND + samples_ns (n));
  g_assert_cmpstr (u->reason, ==, "eos");
  g_autoptr (GPtrArray) msgs = utterance_messages (e);
  g_assert_cmpuint (msgs->len, ==, 1);
  const GstStructure *m = g_ptr_array_index (msgs, 0);
  guint rows, frames;
  guint64 samples;
  double encode_ms, end_ms;
  g_assert_true (gst_structure_get (m, "rows", G_TYPE_UINT, &rows, "frames", G_TYPE_UINT, &frames, "samples",
                                    G_TYPE_UINT64, &samples, "encode-ms", G_TYPE_DOUBLE, &encode_ms,
                                    "end-to-rows-ms", G_TYPE_DOUBLE, &end_ms, NULL));
  g_assert_cmpuint (rows, ==, 82);
  g_assert_cmpuint (frames, ==, 330);
  g_assert_cmpuint (samples, ==, n);
  g_assert_cmpfloat (encode_ms, >, 0);
  g_assert_cmpfloat (end_ms, >=, 0);
  g_test_message ("3.3 s: encode %.1f ms, last rows %.1f ms after EOS", encode_ms, end_ms);
  utts_free (utts);
  e_free (e);
}

/* A louder part after the first chunk revises it: the chunk's rows went out
 * provisional; with exact (the default) they come again after a
 * mor/rows-revised and the utterance's rows are exactly the whole-utterance
 * encoding; with exact=false they are not sent again and revised-from says
 * where they differ. */
static void
test_revised (void)
{
  gsize n = 48000;
  g_autofree float *x = g_new0 (float, n);
  add_noise (x, 0, 38400, 1e-3f, 3);
  memset (x + 8000, 0, 3200 * sizeof (float)); /* digital silence: clamped at the max − 8 so far */
  add_noise (x, 38400, n, 0.5f, 4);
  /* The library's streamed rows and final rows of the same samples. */
  g_autoptr (GError) error = NULL;
  g_autoptr (MorEncoderSession) s = mor_encoder_session_new (encoder, n, &error);
  g_assert_no_error (error);
  g_assert_true (mor_encoder_session_push (s, x, n, &error));
  g_assert_cmpuint (mor_encoder_session_n_rows (s), ==, 50);
  g_autofree float *early = g_memdup2 (mor_encoder_session_get_rows (s), 50 * DIM * 4);
  g_assert_true (mor_encoder_session_finish (s, &error));
  guint32 total = mor_encoder_session_n_rows (s), first = mor_encoder_session_first_revised (s);
  const float *final = mor_encoder_session_get_rows (s);
  g_assert_cmpuint (first, ==, 0);
  g_assert_true (memcmp (early, final, DIM * 4) != 0);

  for (guint exact = 0; exact < 2; exact++) {
    E *e = e_new (AUDIO_CAPS ("F32LE"), "vad", FALSE, "exact", exact, NULL);
    push_audio (e, x, n, FALSE, 4000, 0);
    finish (e);
    GArray *utts = parse_log (e);
    g_assert_cmpuint (utts->len, ==, 1);
    Utt *u = &g_array_index (utts, Utt, 0);
    g_assert_cmpuint (u->rows, ==, total);
    g_assert_cmpuint (u->revised_from, ==, 0);
    g_assert_cmpuint (u->n_revised, ==, exact);
    g_assert_cmpmem (u->data->data, 50 * DIM * 4, exact ? final : early, 50 * DIM * 4);
    g_assert_cmpmem ((float *) u->data->data + 50 * DIM, (total - 50) * DIM * 4, final + 50 * DIM,
                     (total - 50) * DIM * 4);
    utts_free (utts);
    e_free (e);
  }
}

/* Chunk boundaries with vad=false: exactly 2 s (the chunk waits for 40 more
 * samples, so it comes at EOS), 2 s and 40 samples (it comes before EOS),
 * 2 s + 1 sample (the 1-frame tail has no row), less than a hop (an utterance
 * without rows: its two events and nothing between), no samples (no events). */
static void
test_boundaries (void)
{
  static const struct { gsize n; guint rows; gboolean before_eos; } cases[] = {
    { 32000, 50, FALSE }, { 32040, 50, TRUE }, { 32001, 50, FALSE }, { 100, 0, FALSE }, { 0, 0, FALSE },
  };
  for (guint c = 0; c < G_N_ELEMENTS (cases); c++) {
    gsize n = cases[c].n;
    g_autofree float *x = g_new0 (float, MAX (n, 1));
    add_noise (x, 0, n, 0.2f, 10 + c);
    E *e = e_new (AUDIO_CAPS ("F32LE"), "vad", FALSE, NULL);
    push_audio (e, x, n, FALSE, 3200, 0);
    if (cases[c].before_eos) {
      GstBuffer *buf = gst_harness_pull (e->h);
      g_assert_cmpuint (gst_buffer_get_size (buf), ==, 50 * DIM * 4);
      gst_buffer_unref (buf);
    }
    finish (e);
    GArray *utts = parse_log (e);
    g_assert_cmpuint (utts->len, ==, n > 0);
    if (n > 0) {
      Utt *u = &g_array_index (utts, Utt, 0);
      assert_rows_whole (u, x, n);
      g_assert_cmpuint (u->rows, ==, cases[c].rows);
      g_assert_cmpuint (u->n_buffers, ==, cases[c].rows > 0);
      g_assert_cmpuint (u->end, ==, samples_ns (n));
    }
    utts_free (utts);
    e_free (e);
  }
}

/* The VAD finds a tone and a noise burst in low noise: each utterance runs
 * from its first loud frame less the pre-roll to its last loud frame, ends
 * on silence, and holds the whole-utterance rows of those samples. */
static void
test_vad (void)
{
  gsize n = 68800; /* 4.3 s */
  g_autofree float *x = g_new0 (float, n);
  add_noise (x, 0, n, 1e-4f, 5);          /* −100 dBFS */
  add_tone (x, 8000, 24000, 0.3f, 440);   /* 0.5–1.5 s, −13 dBFS */
  add_noise (x, 40000, 49600, 0.2f, 6);   /* 2.5–3.1 s, −19 dBFS */
  E *e = e_new (AUDIO_CAPS ("F32LE"), NULL);
  push_audio (e, x, n, FALSE, 1024, 0);
  finish (e);
  GArray *utts = parse_log (e);
  g_assert_cmpuint (utts->len, ==, 2);
  const gsize want[2][2] = { { 4800, 24000 }, { 36800, 49600 } }; /* pre-roll 200 ms */
  g_autoptr (GPtrArray) msgs = utterance_messages (e);
  g_assert_cmpuint (msgs->len, ==, 2);
  for (guint i = 0; i < 2; i++) {
    Utt *u = &g_array_index (utts, Utt, i);
    g_assert_cmpuint (u->utterance, ==, i);
    g_assert_cmpuint (u->start, ==, samples_ns (want[i][0]));
    g_assert_cmpuint (u->end, ==, samples_ns (want[i][1]));
    g_assert_cmpstr (u->reason, ==, "silence");
    assert_rows_whole (u, x + want[i][0], want[i][1] - want[i][0]);
    g_assert_cmpstr (gst_structure_get_string (g_ptr_array_index (msgs, i), "end-reason"), ==, "silence");
  }
  utts_free (utts);
  e_free (e);
}

/* max-utterance cuts with vad=false: 2.5 s in utterances of 1 s, 1 s, 0.5 s. */
static void
test_max_length (void)
{
  gsize n = 40000;
  g_autofree float *x = g_new0 (float, n);
  add_noise (x, 0, n, 0.3f, 8);
  E *e = e_new (AUDIO_CAPS ("F32LE"), "vad", FALSE, "max-utterance", 1.0, NULL);
  push_audio (e, x, n, FALSE, 1500, 0);
  finish (e);
  GArray *utts = parse_log (e);
  g_assert_cmpuint (utts->len, ==, 3);
  const char *reasons[] = { "max-length", "max-length", "eos" };
  for (guint i = 0; i < 3; i++) {
    Utt *u = &g_array_index (utts, Utt, i);
    gsize a = i * 16000, b = MIN (n, a + 16000);
    g_assert_cmpuint (u->start, ==, samples_ns (a));
    g_assert_cmpuint (u->end, ==, samples_ns (b));
    g_assert_cmpstr (u->reason, ==, reasons[i]);
    assert_rows_whole (u, x + a, b - a);
  }
  g_assert_cmpuint (g_array_index (utts, Utt, 2).rows, ==, 12);
  utts_free (utts);
  e_free (e);
}

/* vad=false: an upstream mor/utterance-end ends the utterance (and is not
 * forwarded); a flush drops the open one without an end; the next starts
 * afresh; a new segment ends it. */
static void
test_upstream_and_flush (void)
{
  gsize n = 8000;
  g_autofree float *x = g_new0 (float, n);
  add_noise (x, 0, n, 0.3f, 9);
  E *e = e_new (AUDIO_CAPS ("F32LE"), "vad", FALSE, NULL);
  push_audio (e, x, n, FALSE, 1600, 0);
  g_assert_true (gst_harness_push_event (e->h, gst_mor_event_new (GST_MOR_EVENT_UTTERANCE_END, NULL)));
  wait_mor_event (e, GST_MOR_EVENT_UTTERANCE_END);
  push_audio (e, x, n, FALSE, 1600, samples_ns (n));
  wait_mor_event (e, GST_MOR_EVENT_UTTERANCE_START); /* utterance 1 is open */
  g_assert_true (gst_harness_push_event (e->h, gst_event_new_flush_start ()));
  g_assert_true (gst_harness_push_event (e->h, gst_event_new_flush_stop (TRUE)));
  GstSegment seg;
  gst_segment_init (&seg, GST_FORMAT_TIME);
  g_assert_true (gst_harness_push_event (e->h, gst_event_new_segment (&seg)));
  push_audio (e, x, 6000, FALSE, 1600, 0);
  /* A new segment without a flush ends it. */
  gst_segment_init (&seg, GST_FORMAT_TIME);
  seg.base = GST_SECOND;
  g_assert_true (gst_harness_push_event (e->h, gst_event_new_segment (&seg)));
  push_audio (e, x, 4000, FALSE, 1600, 0);
  finish (e);
  GArray *utts = parse_log (e);
  g_assert_cmpuint (utts->len, ==, 4);
  Utt *u0 = &g_array_index (utts, Utt, 0), *u1 = &g_array_index (utts, Utt, 1), *u2 = &g_array_index (utts, Utt, 2);
  Utt *u3 = &g_array_index (utts, Utt, 3);
  g_assert_cmpstr (u3->reason, ==, "eos");
  g_assert_cmpuint (u3->start, ==, 0);
  assert_rows_whole (u3, x, 4000);
  g_assert_cmpstr (u0->reason, ==, "upstream");
  assert_rows_whole (u0, x, n);
  g_assert_null (u1->reason); /* flushed: no rows, no end */
  g_assert_cmpuint (u1->data->len, ==, 0);
  g_assert_cmpuint (u2->utterance, ==, 2);
  g_assert_cmpstr (u2->reason, ==, "segment");
  g_assert_cmpuint (u2->start, ==, 0);
  assert_rows_whole (u2, x, 6000);
  utts_free (utts);
  e_free (e);
}

/* A GAP event is silence: the VAD ends the utterance inside it. */
static void
test_gap (void)
{
  gsize n = 8000;
  g_autofree float *x = g_new0 (float, n);
  add_tone (x, 0, n, 0.3f, 300);
  E *e = e_new (AUDIO_CAPS ("S16LE"), NULL);
  quantize (x, n);
  push_audio (e, x, n, TRUE, 800, 0);
  g_assert_true (gst_harness_push_event (e->h, gst_event_new_gap (samples_ns (n), 2 * GST_SECOND)));
  finish (e);
  GArray *utts = parse_log (e);
  g_assert_cmpuint (utts->len, ==, 1);
  Utt *u = &g_array_index (utts, Utt, 0);
  g_assert_cmpstr (u->reason, ==, "silence");
  g_assert_cmpuint (u->start, ==, 0);
  g_assert_cmpuint (u->end, ==, samples_ns (n));
  assert_rows_whole (u, x, n);
  utts_free (utts);
  e_free (e);
}

/* LATENCY adds the chunk, the held-back silence (VAD) and the latency property when upstream is live. */
static void
test_latency (void)
{
  E *e = e_new (AUDIO_CAPS ("F32LE"), NULL);
  gst_harness_set_upstream_latency (e->h, 20 * GST_MSECOND);
  g_assert_cmpuint (gst_harness_query_latency (e->h), ==,
                    20 * GST_MSECOND + CHUNK_LATENCY + 600 * GST_MSECOND + 300 * GST_MSECOND);
  gst_bus_set_flushing (e->bus, TRUE);
  gst_bus_set_flushing (e->bus, FALSE);
  g_object_set (e->el, "latency", 0, NULL);
  GstMessage *m = gst_bus_pop_filtered (e->bus, GST_MESSAGE_LATENCY);
  g_assert_nonnull (m);
  gst_message_unref (m);
  g_assert_cmpuint (gst_harness_query_latency (e->h), ==, 20 * GST_MSECOND + CHUNK_LATENCY + 600 * GST_MSECOND);
  gst_harness_set_live (e->h, FALSE);
  g_assert_cmpuint (gst_harness_query_latency (e->h), ==, 20 * GST_MSECOND);
  e_free (e);

  e = e_new (AUDIO_CAPS ("F32LE"), "vad", FALSE, NULL);
  gst_harness_set_upstream_latency (e->h, 20 * GST_MSECOND);
  g_assert_cmpuint (gst_harness_query_latency (e->h), ==, 20 * GST_MSECOND + CHUNK_LATENCY + 300 * GST_MSECOND);
  e_free (e);
}

/* Runs @pipe until EOS or ERROR; returns that message (transfer full).
 * @elements (optional) gets the structures of the element messages before it. */
static GstMessage *
run_pipeline (GstElement *pipe, GPtrArray *elements)
{
  GstBus *bus = gst_element_get_bus (pipe);
  g_assert_cmpint (gst_element_set_state (pipe, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  GstMessage *m;
  while ((m = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
                                          GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT)) &&
         GST_MESSAGE_TYPE (m) == GST_MESSAGE_ELEMENT) {
    if (elements)
      g_ptr_array_add (elements, gst_structure_copy (gst_message_get_structure (m)));
    gst_message_unref (m);
  }
  g_assert_nonnull (m);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (bus);
  return m;
}

static void
count_rows (GstElement *sink, GstBuffer *buf, GstPad *pad, gpointer user_data)
{
  g_atomic_int_add ((gint *) user_data, (gint) (gst_buffer_get_size (buf) / (DIM * 4)));
}

/* A live source: the latency covers the chunk, so a synchronising sink that
 * drops buffers more than 20 ms late renders every row; the pipeline reaches EOS. */
static void
test_live (void)
{
  g_autofree char *desc = g_strdup_printf ("audiotestsrc is-live=true wave=white-noise samplesperbuffer=1600 "
                                           "num-buffers=30 ! " AUDIO_CAPS ("S16LE") " ! morencoder model=%s "
                                           "vad=false ! fakesink name=sink sync=true max-lateness=20000000 "
                                           "signal-handoffs=true", model_enc);
  g_autoptr (GError) error = NULL;
  GstElement *pipe = gst_parse_launch (desc, &error);
  g_assert_no_error (error);
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipe), "sink");
  gint rows = 0;
  g_signal_connect (sink, "handoff", G_CALLBACK (count_rows), &rows);
  g_assert_cmpint (gst_element_set_state (pipe, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  g_assert_cmpint (gst_element_get_state (pipe, NULL, NULL, 30 * GST_SECOND), ==, GST_STATE_CHANGE_SUCCESS);
  GstQuery *q = gst_query_new_latency ();
  g_assert_true (gst_element_query (pipe, q));
  gboolean live;
  GstClockTime min, max;
  gst_query_parse_latency (q, &live, &min, &max);
  gst_query_unref (q);
  g_assert_true (live);
  g_assert_cmpuint (min, >=, CHUNK_LATENCY + 300 * GST_MSECOND);
  GstBus *bus = gst_element_get_bus (pipe);
  GstMessage *m = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_nonnull (m);
  g_assert_cmpint (GST_MESSAGE_TYPE (m), ==, GST_MESSAGE_EOS);
  gst_message_unref (m);
  gst_element_set_state (pipe, GST_STATE_NULL);
  g_assert_cmpint (g_atomic_int_get (&rows), ==, 75); /* 3 s */
  gst_object_unref (bus);
  gst_object_unref (sink);
  gst_object_unref (pipe);
}

/* The message of the first error or warning on @bus from a morencoder (transfer full). */
static GError *
encoder_message (GstBus *bus, GstMessageType type)
{
  GstMessage *m;
  while ((m = gst_bus_pop_filtered (bus, type))) {
    GError *error = NULL;
    if (type == GST_MESSAGE_ERROR)
      gst_message_parse_error (m, &error, NULL);
    else
      gst_message_parse_warning (m, &error, NULL);
    gboolean ours = g_strcmp0 (G_OBJECT_TYPE_NAME (GST_MESSAGE_SRC (m)), "GstMorEncoder") == 0;
    gst_message_unref (m);
    if (ours)
      return error;
    g_error_free (error);
  }
  return NULL;
}

/* Wrong rate or channels are refused, saying what morencoder needs: a CAPS
 * event with an error (harness, appsrc), a caps query with a warning (before
 * upstream fails with not-negotiated), a filtered link at once; converters in
 * between are led to 16 kHz mono. */
static void
test_caps (void)
{
  const char *bad[] = { "audio/x-raw, format=F32LE, rate=44100, channels=1, layout=interleaved",
                        "audio/x-raw, format=S16LE, rate=16000, channels=2, layout=interleaved" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    E *e = e_new (NULL, NULL);
    gst_harness_set_src_caps_str (e->h, bad[i]);
    g_autoptr (GError) error = encoder_message (e->bus, GST_MESSAGE_ERROR);
    g_assert_error (error, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION);
    g_assert_nonnull (strstr (error->message, "rate 16000, 1 channel"));
    g_assert_nonnull (strstr (error->message, i == 0 ? "44100" : "channels=(int)2"));
    GstBuffer *buf = gst_buffer_new_allocate (NULL, 400, NULL);
    gst_buffer_memset (buf, 0, 0, 400);
    g_assert_cmpint (gst_harness_push (e->h, buf), ==, GST_FLOW_NOT_NEGOTIATED);
    /* A caps query offering only such audio. */
    GstPad *sink = gst_element_get_static_pad (e->el, "sink");
    GstCaps *filter = gst_caps_from_string (bad[i]);
    GstCaps *caps = gst_pad_query_caps (sink, filter);
    g_assert_true (gst_caps_is_empty (caps));
    g_autoptr (GError) warning = encoder_message (e->bus, GST_MESSAGE_WARNING);
    g_assert_error (warning, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION);
    g_assert_nonnull (strstr (warning->message, "audioconvert ! audioresample"));
    gst_caps_unref (caps);
    gst_caps_unref (filter);
    gst_object_unref (sink);
    e_free (e);
  }

  /* An application's appsrc announcing 44.1 kHz. */
  g_autoptr (GError) error = NULL;
  g_autofree char *desc = g_strdup_printf ("appsrc name=src format=time ! morencoder model=%s ! fakesink",
                                           model_enc);
  GstElement *pipe = gst_parse_launch (desc, &error);
  g_assert_no_error (error);
  GstElement *src = gst_bin_get_by_name (GST_BIN (pipe), "src");
  GstCaps *caps = gst_caps_from_string (bad[0]);
  g_object_set (src, "caps", caps, NULL);
  gst_caps_unref (caps);
  g_assert_cmpint (gst_element_set_state (pipe, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  GstFlowReturn ret;
  GstBuffer *buf = gst_buffer_new_allocate (NULL, 400, NULL);
  g_signal_emit_by_name (src, "push-buffer", buf, &ret);
  gst_buffer_unref (buf);
  GstBus *bus = gst_element_get_bus (pipe);
  GstMessage *m = gst_bus_timed_pop_filtered (bus, 30 * GST_SECOND, GST_MESSAGE_ERROR);
  g_assert_nonnull (m);
  g_autoptr (GError) refused = NULL;
  gst_message_parse_error (m, &refused, NULL);
  g_assert_cmpstr (G_OBJECT_TYPE_NAME (GST_MESSAGE_SRC (m)), ==, "GstMorEncoder"); /* the first error */
  g_assert_error (refused, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION);
  g_assert_nonnull (strstr (refused->message, "44100"));
  gst_message_unref (m);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (src);
  gst_object_unref (pipe);

  /* Filtered caps that cannot reach morencoder do not link. */
  g_free (desc);
  desc = g_strdup_printf ("audiotestsrc ! audio/x-raw,rate=44100 ! morencoder model=%s ! fakesink", model_enc);
  pipe = gst_parse_launch (desc, &error);
  g_assert_error (error, GST_PARSE_ERROR, GST_PARSE_ERROR_LINK);
  gst_clear_object (&pipe);
  g_clear_error (&error);

  g_free (desc);
  desc = g_strdup_printf ("audiotestsrc num-buffers=20 ! audio/x-raw,rate=44100,channels=2 ! audioconvert ! "
                          "audioresample ! morencoder model=%s vad=false ! fakesink", model_enc);
  pipe = gst_parse_launch (desc, &error);
  g_assert_no_error (error);
  m = run_pipeline (pipe, NULL);
  g_assert_cmpint (GST_MESSAGE_TYPE (m), ==, GST_MESSAGE_EOS);
  gst_message_unref (m);
  gst_object_unref (pipe);
}

static void
test_errors (void)
{
  g_autofree char *missing = g_build_filename (tmpdir, "missing.gguf", NULL);
  check_start_error ("morencoder", missing, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND, missing, NULL);
  g_autofree char *garbage = g_build_filename (tmpdir, "garbage.gguf", NULL);
  g_assert_true (g_file_set_contents (garbage, "GGUF but not really", -1, NULL));
  check_start_error ("morencoder", garbage, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ, garbage, NULL);
  check_start_error ("morencoder", model_thinker, GST_STREAM_ERROR, GST_STREAM_ERROR_FORMAT, model_thinker,
                     NULL);
  /* An utterance shorter than pre-roll + min-speech. */
  check_start_error ("morencoder", model_enc, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS, "max_utterance_s",
                     "max-utterance", 0.2, NULL);
  g_unlink (garbage);
}

/* morencoder ! morthinker: the thinker prefills the rows between the
 * utterance events and answers at the end; both elements share one device. */
static void
test_thinker (void)
{
  g_autofree char *desc = g_strdup_printf ("audiotestsrc wave=white-noise samplesperbuffer=1600 num-buffers=10 ! "
                                           AUDIO_CAPS ("S16LE") " ! morencoder model=%s ! morthinker model=%s "
                                           "max-tokens=4 temperature=0 name=t  t.response ! queue ! fakesink "
                                           "t.reasoning ! queue ! fakesink", model_enc, model_thinker);
  g_autoptr (GError) error = NULL;
  GstElement *pipe = gst_parse_launch (desc, &error);
  g_assert_no_error (error);
  g_autoptr (GPtrArray) msgs = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_structure_free);
  GstMessage *m = run_pipeline (pipe, msgs);
  if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR) {
    g_autoptr (GError) err = NULL;
    g_autofree char *debug = NULL;
    gst_message_parse_error (m, &err, &debug);
    g_error ("%s (%s)", err->message, debug);
  }
  gst_message_unref (m);
  guint enc_rows = 0, prompt = 0, answers = 0;
  for (guint i = 0; i < msgs->len; i++) {
    const GstStructure *s = g_ptr_array_index (msgs, i);
    if (gst_structure_has_name (s, "morencoder/utterance"))
      gst_structure_get_uint (s, "rows", &enc_rows);
    if (gst_structure_has_name (s, "morthinker/answer")) {
      gst_structure_get_uint (s, "prompt-tokens", &prompt);
      answers++;
    }
  }
  g_assert_cmpuint (enc_rows, ==, 25); /* 1 s of loud noise: one utterance, to EOS */
  g_assert_cmpuint (answers, ==, 1);
  g_assert_cmpuint (prompt, >, enc_rows + 2); /* head, <|audio_bos|>, the rows, <|audio_eos|>, tail */
  gst_object_unref (pipe);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  gst_init (&argc, &argv);
  g_autoptr (GError) error = NULL;
  tmpdir = g_dir_make_tmp ("morencoder-XXXXXX", NULL);
  model_enc = g_build_filename (tmpdir, "encoder.gguf", NULL);
  model_thinker = g_build_filename (tmpdir, "thinker.gguf", NULL);
  g_autoptr (MorGgufWriter) we = mor_mkmodel_encoder (mor_mkmodel_encoder_shape ("tiny"), MOR_TYPE_F16, 1, &error);
  g_assert_no_error (error);
  g_assert_true (mor_gguf_writer_write_file (we, model_enc, &error));
  g_autoptr (MorGgufWriter) wt = mor_mkmodel_thinker_full (mor_mkmodel_thinker_shape ("tiny"), MOR_TYPE_F16, 3,
                                                           NULL, &error);
  g_assert_no_error (error);
  g_assert_true (mor_gguf_writer_write_file (wt, model_thinker, &error));
  device = mor_vk_device_open (NULL, &error);
  g_assert_no_error (error);
  g_autoptr (MorGguf) gguf = mor_gguf_open (model_enc, &error);
  g_assert_no_error (error);
  encoder = mor_encoder_load (device, gguf, &error);
  g_assert_no_error (error);

  g_test_add_data_func ("/morencoder/whole/s16le", GINT_TO_POINTER (TRUE), check_whole);
  g_test_add_data_func ("/morencoder/whole/f32le", GINT_TO_POINTER (FALSE), check_whole);
  g_test_add_func ("/morencoder/revised", test_revised);
  g_test_add_func ("/morencoder/boundaries", test_boundaries);
  g_test_add_func ("/morencoder/vad", test_vad);
  g_test_add_func ("/morencoder/max-length", test_max_length);
  g_test_add_func ("/morencoder/upstream-and-flush", test_upstream_and_flush);
  g_test_add_func ("/morencoder/gap", test_gap);
  g_test_add_func ("/morencoder/latency", test_latency);
  g_test_add_func ("/morencoder/live", test_live);
  g_test_add_func ("/morencoder/caps", test_caps);
  g_test_add_func ("/morencoder/errors", test_errors);
  g_test_add_func ("/morencoder/thinker", test_thinker);
  int ret = g_test_run ();

  mor_encoder_free (encoder);
  mor_vk_device_unref (device);
  g_unlink (model_enc);
  g_unlink (model_thinker);
  g_rmdir (tmpdir);
  g_free (model_enc);
  g_free (model_thinker);
  g_free (tmpdir);
  gst_deinit (); /* GST_TRACERS=leaks reports here */
  return ret;
}
