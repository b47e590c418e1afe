/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/vad.c: synthetic silence / tone / noise signals with bursts
 * at known sample positions; min-speech, silence, max-length and pre-roll
 * rules; the same events whatever the piece size; flush; non-finite samples;
 * parameter errors. Expected positions are worked out from the rules in
 * vad.h, with one frame (160 samples) of tolerance where a burst edge falls
 * inside a frame. */
#include "vad.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define SR 16000
#define FRAME MOR_VAD_FRAME
#define MS(ms) ((guint64) (ms) * SR / 1000)

/* A low noise floor at −60 dBFS RMS (uniform, fixed seed) everywhere. */
static float *
noise_floor (gsize n, guint32 seed)
{
  float *x = g_new (float, MAX (n, 1));
  g_autoptr (GRand) r = g_rand_new_with_seed (seed);
  double a = 1e-3 * sqrt (3.0);           /* uniform on [−a, a]: RMS a/√3 */
  for (gsize i = 0; i < n; i++)
    x[i] = (float) (a * (g_rand_double (r) * 2 - 1));
  return x;
}

/* Adds a 440-Hz tone of amplitude 0.3 (−13.5 dBFS) on samples [s0, s1). */
static void
add_tone (float *x, guint64 s0, guint64 s1)
{
  for (guint64 i = s0; i < s1; i++)
    x[i] += (float) (0.3 * sin (2 * G_PI * 440.0 * (double) i / SR));
}

/* Adds loud white noise (RMS 0.2, −14 dBFS) on samples [s0, s1). */
static void
add_noise (float *x, guint64 s0, guint64 s1, guint32 seed)
{
  g_autoptr (GRand) r = g_rand_new_with_seed (seed);
  for (guint64 i = s0; i < s1; i++)
    x[i] += (float) (0.2 * sqrt (3.0) * (g_rand_double (r) * 2 - 1));
}

/* Pushes @x in pieces of @piece samples (0: all at once) with room for
 * @room events a call, then flushes; returns every event. */
static GArray *
run (const MorVadParams *p, const float *x, gsize n, gsize piece, guint room)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MorVad) vad = mor_vad_new (p, &error);
  g_assert_no_error (error);
  GArray *out = g_array_new (FALSE, FALSE, sizeof (MorVadEvent));
  MorVadEvent ev[64];
  g_assert_cmpuint (room, <=, G_N_ELEMENTS (ev));

  for (gsize off = 0; off < n;) {
    gsize len = piece ? MIN (piece, n - off) : n - off;
    const float *p_x = x + off;
    while (len > 0) {
      gsize used = 0;
      guint k = mor_vad_push (vad, p_x, len, &used, ev, room);
      g_assert_cmpuint (used, <=, len);
      g_assert_true (used == len || k > room - MOR_VAD_MAX_EVENTS_PER_FRAME);
      g_array_append_vals (out, ev, k);
      p_x += used;
      len -= used;
      off += used;
    }
  }
  g_assert_cmpuint (mor_vad_get_position (vad), ==, n);
  guint k = mor_vad_flush (vad, ev, room);
  g_array_append_vals (out, ev, k);
  g_assert_cmpuint (mor_vad_get_position (vad), ==, 0);
  g_assert_false (mor_vad_in_utterance (vad));
  return out;
}

#define EV(a, i) (&g_array_index ((a), MorVadEvent, (i)))

/* Event @i is a start near @sample (≤ one frame off). */
static void
assert_start (GArray *a, guint i, guint64 sample)
{
  g_assert_cmpuint (i, <, a->len);
  const MorVadEvent *e = EV (a, i);
  g_assert_cmpint (e->type, ==, MOR_VAD_EVENT_START);
  g_assert_cmpint (e->reason, ==, MOR_VAD_END_NONE);
  g_assert_cmpint (llabs ((gint64) e->sample - (gint64) sample), <=, FRAME);
  g_assert_cmpuint (e->decided_at, >=, e->sample);
}

static void
assert_end (GArray *a, guint i, guint64 sample, MorVadEndReason reason)
{
  g_assert_cmpuint (i, <, a->len);
  const MorVadEvent *e = EV (a, i);
  g_assert_cmpint (e->type, ==, MOR_VAD_EVENT_END);
  g_assert_cmpint (e->reason, ==, reason);
  g_assert_cmpint (llabs ((gint64) e->sample - (gint64) sample), <=, FRAME);
  g_assert_cmpuint (e->decided_at, >=, e->sample);
}

/* Tone 0.5–1.5 s and loud noise 2.5–3.2 s, edges inside frames, over a
 * −60 dB floor: two utterances, each starting 200 ms (pre-roll) before its
 * burst and ending where it ends, the end decided 600 ms (silence) later. */
static void
test_bursts (void)
{
  MorVadParams p = MOR_VAD_PARAMS_DEFAULT;
  gsize n = MS (4500);
  g_autofree float *x = noise_floor (n, 1);
  add_tone (x, 8037, 24011);
  add_noise (x, 40101, 51250, 2);

  g_autoptr (GArray) a = run (&p, x, n, 0, 64);
  g_assert_cmpuint (a->len, ==, 4);
  assert_start (a, 0, 8037 - MS (200));
  assert_end (a, 1, 24011, MOR_VAD_END_SILENCE);
  assert_start (a, 2, 40101 - MS (200));
  assert_end (a, 3, 51250, MOR_VAD_END_SILENCE);

  /* Exact positions: frame-aligned by the rules of vad.h. */
  g_assert_cmpuint (EV (a, 0)->sample, ==, 8000 - MS (200));
  g_assert_cmpuint (EV (a, 0)->decided_at, ==, 8000 + MS (100));
  g_assert_cmpuint (EV (a, 1)->sample, ==, 24160);
  g_assert_cmpuint (EV (a, 1)->decided_at, ==, 24160 + MS (600));
  g_assert_cmpuint (EV (a, 2)->sample, ==, 40000 - MS (200));
  g_assert_cmpuint (EV (a, 3)->sample, ==, 51360);
}

/* A burst shorter than min-speech (100 ms) is no utterance; one exactly as
 * long is. */
static void
test_short_burst (void)
{
  MorVadParams p = MOR_VAD_PARAMS_DEFAULT;
  gsize n = MS (3000);

  g_autofree float *x = noise_floor (n, 3);
  add_tone (x, MS (1000), MS (1090));
  add_tone (x, MS (1500), MS (1550));
  add_noise (x, MS (2000), MS (2030), 4);
  g_autoptr (GArray) a = run (&p, x, n, 0, 64);
  g_assert_cmpuint (a->len, ==, 0);

  g_autofree float *y = noise_floor (n, 3);
  add_tone (y, MS (1000), MS (1100));
  g_autoptr (GArray) b = run (&p, y, n, 0, 64);
  g_assert_cmpuint (b->len, ==, 2);
  g_assert_cmpuint (EV (b, 0)->sample, ==, MS (800));
  g_assert_cmpuint (EV (b, 1)->sample, ==, MS (1100));
  g_assert_cmpint (EV (b, 1)->reason, ==, MOR_VAD_END_SILENCE);
}

/* A pause shorter than silence-ms (600) keeps one utterance; a longer one
 * splits it, and the second pre-roll stops at the first end. */
static void
test_pause (void)
{
  MorVadParams p = MOR_VAD_PARAMS_DEFAULT;
  gsize n = MS (5000);

  g_autofree float *x = noise_floor (n, 5);
  add_tone (x, MS (1000), MS (2000));
  add_tone (x, MS (2590), MS (3500));             /* 590-ms pause */
  g_autoptr (GArray) a = run (&p, x, n, 0, 64);
  g_assert_cmpuint (a->len, ==, 2);
  assert_start (a, 0, MS (800));
  assert_end (a, 1, MS (3500), MOR_VAD_END_SILENCE);

  g_autofree float *y = noise_floor (n, 5);
  add_tone (y, MS (1000), MS (2000));
  add_tone (y, MS (2700), MS (3500));             /* 700-ms pause */
  p.pre_roll_ms = 1000;                           /* would reach back to 1.7 s */
  g_autoptr (GArray) b = run (&p, y, n, 0, 64);
  g_assert_cmpuint (b->len, ==, 4);
  g_assert_cmpuint (EV (b, 0)->sample, ==, 0);    /* clamped at 0 */
  assert_end (b, 1, MS (2000), MOR_VAD_END_SILENCE);
  g_assert_cmpuint (EV (b, 2)->sample, ==, EV (b, 1)->sample); /* clamped at the previous end */
  assert_end (b, 3, MS (3500), MOR_VAD_END_SILENCE);
}

/* Max length 2 s on a 5-s tone: cuts into back-to-back utterances of at most
 * 2 s, the speech after each cut starting the next at the cut. */
static void
test_max_length (void)
{
  MorVadParams p = MOR_VAD_PARAMS_DEFAULT;
  p.max_utterance_s = 2.0;
  gsize n = MS (7000);
  g_autofree float *x = noise_floor (n, 6);
  add_tone (x, MS (1000), MS (6000));

  g_autoptr (GArray) a = run (&p, x, n, 0, 64);
  /* start 0.8 s; cut before 2.8 s: the first frame end f1 with
   * f1 + 160 − 12800 > 32000 is 44800; then 44800 + 32000 − 160 → 76800. */
  g_assert_cmpuint (a->len, ==, 6);
  g_assert_cmpuint (EV (a, 0)->sample, ==, MS (800));
  assert_end (a, 1, 44800, MOR_VAD_END_MAX_LENGTH);
  g_assert_cmpuint (EV (a, 1)->sample, ==, 44800);
  g_assert_cmpuint (EV (a, 2)->sample, ==, 44800);
  g_assert_cmpuint (EV (a, 2)->decided_at, ==, 44800 + MS (100));
  g_assert_cmpuint (EV (a, 3)->sample, ==, 76800);
  g_assert_cmpint (EV (a, 3)->reason, ==, MOR_VAD_END_MAX_LENGTH);
  g_assert_cmpuint (EV (a, 4)->sample, ==, 76800);
  assert_end (a, 5, MS (6000), MOR_VAD_END_SILENCE);
  for (guint i = 0; i < a->len; i += 2)
    g_assert_cmpuint (EV (a, i + 1)->sample - EV (a, i)->sample, <=, 2 * SR);
}

/* The same events whatever the piece size and the room for events. */
static void
test_pieces (void)
{
  MorVadParams p = MOR_VAD_PARAMS_DEFAULT;
  p.max_utterance_s = 1.0;
  gsize n = MS (6000) + 77;
  g_autofree float *x = noise_floor (n, 7);
  add_tone (x, 8037, 24011);
  add_noise (x, 40101, 51250, 8);
  add_tone (x, MS (4000) + 3, n);                 /* cut twice, then flushed */

  g_autoptr (GArray) whole = run (&p, x, n, 0, 64);
  /* tone 1.2 s with its pre-roll: cut once; noise 0.9 s; last tone 2.2 s: cut twice */
  g_assert_cmpuint (whole->len, ==, 12);
  g_assert_cmpint (EV (whole, 11)->reason, ==, MOR_VAD_END_FLUSH);
  const gsize pieces[] = { 1, 7, 159, 160, 161, 4096, 0 };
  const guint rooms[] = { 2, 3, 64 };
  for (guint i = 0; i < G_N_ELEMENTS (pieces); i++)
    for (guint j = 0; j < G_N_ELEMENTS (rooms); j++) {
      g_autoptr (GArray) a = run (&p, x, n, pieces[i], rooms[j]);
      g_assert_cmpuint (a->len, ==, whole->len);
      for (guint e = 0; e < a->len; e++) {
        g_assert_cmpint (EV (a, e)->type, ==, EV (whole, e)->type);
        g_assert_cmpint (EV (a, e)->reason, ==, EV (whole, e)->reason);
        g_assert_cmpuint (EV (a, e)->sample, ==, EV (whole, e)->sample);
        g_assert_cmpuint (EV (a, e)->decided_at, ==, EV (whole, e)->decided_at);
      }
    }
}

/* Flush ends an open utterance at its last loud frame; a partial last frame
 * counts, and can complete a minimum-speech burst. */
static void
test_flush (void)
{
  MorVadParams p = MOR_VAD_PARAMS_DEFAULT;

  gsize n = MS (2050) + 80;
  g_autofree float *x = noise_floor (n, 9);
  add_tone (x, MS (1000), n);
  g_autoptr (GArray) a = run (&p, x, n, 0, 64);
  g_assert_cmpuint (a->len, ==, 2);
  g_assert_cmpuint (EV (a, 0)->sample, ==, MS (800));
  g_assert_cmpint (EV (a, 1)->reason, ==, MOR_VAD_END_FLUSH);
  g_assert_cmpuint (EV (a, 1)->sample, ==, n);
  g_assert_cmpuint (EV (a, 1)->decided_at, ==, n);

  /* 9 frames of tone and 80 samples more: the partial frame is the 10th. */
  gsize m = MS (1090) + 80;
  g_autofree float *y = noise_floor (m, 10);
  add_tone (y, MS (1000), m);
  g_autoptr (GArray) b = run (&p, y, m, 0, 64);
  g_assert_cmpuint (b->len, ==, 2);
  g_assert_cmpuint (EV (b, 0)->sample, ==, MS (800));
  g_assert_cmpuint (EV (b, 1)->sample, ==, m);
  g_assert_cmpint (EV (b, 1)->reason, ==, MOR_VAD_END_FLUSH);

  /* Tone then silence, flushed during the silence: ends at the tone's end. */
  gsize l = MS (2000);
  g_autofree float *z = noise_floor (l, 11);
  add_tone (z, MS (1000), MS (1700));
  g_autoptr (GArray) c = run (&p, z, l, 0, 64);
  g_assert_cmpuint (c->len, ==, 2);
  assert_end (c, 1, MS (1700), MOR_VAD_END_FLUSH);
  g_assert_cmpuint (EV (c, 1)->sample, ==, MS (1700));

  /* Reset forgets without events; flush of nothing is nothing. */
  g_autoptr (MorVad) vad = mor_vad_new (&p, NULL);
  MorVadEvent ev[4];
  gsize used;
  /* with room for 2, the push stops after the frame that reported the start */
  g_assert_cmpuint (mor_vad_push (vad, x, n, &used, ev, 2), ==, 1);
  g_assert_cmpuint (used, ==, ev[0].decided_at);
  g_assert_cmpuint (mor_vad_push (vad, x + used, n - used, &used, ev, 4), ==, 0);
  g_assert_cmpuint (mor_vad_get_position (vad), ==, n);
  g_assert_true (mor_vad_in_utterance (vad));
  mor_vad_reset (vad);
  g_assert_false (mor_vad_in_utterance (vad));
  g_assert_cmpuint (mor_vad_get_position (vad), ==, 0);
  g_assert_cmpuint (mor_vad_flush (vad, ev, 2), ==, 0);
}

/* NaN and ±inf count as silence: alone they open nothing; inside a tone they
 * do not break it (a frame with a few is still loud). */
static void
test_non_finite (void)
{
  MorVadParams p = MOR_VAD_PARAMS_DEFAULT;
  gsize n = MS (3000);

  g_autofree float *x = noise_floor (n, 12);
  for (gsize i = MS (500); i < MS (1500); i++)
    x[i] = (i % 3 == 0) ? NAN : (i % 3 == 1) ? INFINITY : -INFINITY;
  x[MS (2000)] = FLT_MAX;                         /* finite, huge: one loud frame, no overflow */
  g_autoptr (GArray) a = run (&p, x, n, 0, 64);
  g_assert_cmpuint (a->len, ==, 0);

  g_autofree float *y = noise_floor (n, 13);
  add_tone (y, MS (1000), MS (2000));
  for (gsize i = MS (1000); i < MS (2000); i += 50)
    y[i] = NAN;
  g_autoptr (GArray) b = run (&p, y, n, 0, 64);
  g_assert_cmpuint (b->len, ==, 2);
  g_assert_cmpuint (EV (b, 0)->sample, ==, MS (800));
  g_assert_cmpuint (EV (b, 1)->sample, ==, MS (2000));
}

static void
assert_params_refused (const MorVadParams *p)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MorVad) vad = mor_vad_new (p, &error);
  g_assert_null (vad);
  g_assert_error (error, MOR_VAD_ERROR, MOR_VAD_ERROR_PARAMS);
  g_test_message ("%s", error->message);
  g_clear_error (&error);
  g_assert_false (mor_vad_params_validate (p, &error));
  g_assert_error (error, MOR_VAD_ERROR, MOR_VAD_ERROR_PARAMS);
}

static void
test_params (void)
{
  MorVadParams p = MOR_VAD_PARAMS_DEFAULT;
  g_assert_true (mor_vad_params_validate (&p, NULL));

  p.threshold_db = NAN;
  assert_params_refused (&p);
  p.threshold_db = 3.0;
  assert_params_refused (&p);
  p = MOR_VAD_PARAMS_DEFAULT;
  p.silence_ms = 5;
  assert_params_refused (&p);
  p = MOR_VAD_PARAMS_DEFAULT;
  p.max_utterance_s = INFINITY;
  assert_params_refused (&p);
  p.max_utterance_s = 0.0;
  assert_params_refused (&p);
  p.max_utterance_s = 0.3;                        /* < 200 ms pre-roll + 100 ms + 10 ms */
  assert_params_refused (&p);
  p.max_utterance_s = 0.31;
  g_assert_true (mor_vad_params_validate (&p, NULL));

  /* min_speech_ms 0 means one loud frame. */
  p = MOR_VAD_PARAMS_DEFAULT;
  p.min_speech_ms = 0;
  gsize n = MS (1000);
  g_autofree float *x = noise_floor (n, 14);
  add_tone (x, MS (500), MS (510));
  g_autoptr (GArray) a = run (&p, x, n, 0, 64);
  g_assert_cmpuint (a->len, ==, 2);
  g_assert_cmpuint (EV (a, 0)->sample, ==, MS (300));
  g_assert_cmpuint (EV (a, 1)->sample, ==, MS (510));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/vad/bursts", test_bursts);
  g_test_add_func ("/vad/short-burst", test_short_burst);
  g_test_add_func ("/vad/pause", test_pause);
  g_test_add_func ("/vad/max-length", test_max_length);
  g_test_add_func ("/vad/pieces", test_pieces);
  g_test_add_func ("/vad/flush", test_flush);
  g_test_add_func ("/vad/non-finite", test_non_finite);
  g_test_add_func ("/vad/params", test_params);
  return g_test_run ();
}
