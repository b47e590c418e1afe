/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/mel.c: the log-mel front end on the device against its C
 * reference and against the processor's features computed here in fp64 and by
 * an independent numpy script (tests/mel_numpy.py, when python3 has numpy);
 * short utterances; streaming equals the whole utterance bit for bit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gstdio.h>

#include "ops/harness.h"
#include "mel.h"

#define N_MELS 128
#define N_BINS 201

static MorVkDevice *device;
static MorMel *mel;

/* A speech-like test signal: a voiced sound (harmonics of a gliding f0,
 * shaped by two formants, syllables at 4 Hz) over a noise floor 70 dB down,
 * with a stretch of digital silence; its loudest syllable at @peak_s seconds. */
static float *
speech_like (guint64 n, guint32 seed, double peak_s)
{
  float *x = g_new (float, MAX (n, 1));
  g_autoptr (GRand) r = g_rand_new_with_seed (seed);
  double phase[12] = { 0 };
  for (guint64 i = 0; i < n; i++) {
    double t = i / 16000.0, f0 = 110 + 60 * sin (2 * G_PI * 0.7 * t), v = 0;
    for (int h = 1; h <= 12; h++) {
      double f = h * f0, formant = exp (-pow ((f - 700) / 300, 2)) + 0.5 * exp (-pow ((f - 1800) / 400, 2));
      phase[h - 1] += 2 * G_PI * f / 16000.0;
      v += (0.05 + formant) / h * sin (phase[h - 1]);
    }
    double env = 0.5 + 0.5 * sin (2 * G_PI * 4 * t);
    double peak = 0.2 + 0.8 * exp (-pow ((t - peak_s) / 0.3, 2));
    double noise = 3e-4 * (g_rand_double (r) * 2 - 1);
    x[i] = (float) (0.3 * env * peak * v + noise);
    if (t > 0.25 && t < 0.4)
      x[i] = 0;                          /* digital silence: log floor −10, clamped */
  }
  return x;
}

/* ---- the processor's features in fp64, written from the definitions ---- */

static double
hz_to_mel (double f)
{
  return f < 1000 ? 3 * f / 200 : 15 + log (f / 1000) * 27 / log (6.4);
}

static double
mel_to_hz (double m)
{
  return m < 15 ? 200 * m / 3 : 1000 * exp ((m - 15) * log (6.4) / 27);
}

/* Canvas sample s (any s from -200 up to the canvas end + 200). */
static double
canvas (const float *x, guint64 n, gint64 s)
{
  const gint64 N = MOR_MEL_MAX_SAMPLES;
  if (s < 0)
    s = -s;
  if (s >= N)
    s = 2 * (N - 1) - s;
  return s < (gint64) n ? x[s] : 0;
}

/* Log10 mel [n_mels] of canvas frame f, fp64. */
static void
golden_frame (const float *x, guint64 n, guint32 f, const double *fb, double *logmel)
{
  double v[400], power[N_BINS];
  for (int j = 0; j < 400; j++)
    v[j] = canvas (x, n, (gint64) f * 160 - 200 + j) * (0.5 - 0.5 * cos (2 * G_PI * j / 400));
  for (int k = 0; k < N_BINS; k++) {
    double re = 0, im = 0;
    for (int j = 0; j < 400; j++) {
      re += v[j] * cos (2 * G_PI * ((j * k) % 400) / 400);
      im -= v[j] * sin (2 * G_PI * ((j * k) % 400) / 400);
    }
    power[k] = re * re + im * im;
  }
  for (int m = 0; m < N_MELS; m++) {
    double acc = 0;
    for (int k = 0; k < N_BINS; k++)
      acc += fb[m * N_BINS + k] * power[k];
    logmel[m] = log10 (MAX (acc, 1e-10));
  }
}

/* The features of @n samples as the processor computes them, frames
 * 0 .. L-1 into @out [n_mels, L]. The max is taken over frames 0 .. L + 9:
 * from L + 2 on every window lies in the zeros (the test checks they are all
 * at the floor), and the rest of the canvas is more of the same.
 * @max_valid, @max_all (optional): the max over frames < L and over all. */
static void
golden (const float *x, guint64 n, double *out, double *max_valid, double *max_all)
{
  guint32 L = mor_mel_n_frames (n), F = MIN (L + 10, MOR_MEL_MAX_FRAMES);
  double fb[N_MELS * N_BINS];
  double edge[N_MELS + 2];
  for (int i = 0; i < N_MELS + 2; i++)
    edge[i] = mel_to_hz (hz_to_mel (0) + i * (hz_to_mel (8000) - hz_to_mel (0)) / (N_MELS + 1));
  for (int m = 0; m < N_MELS; m++)
    for (int k = 0; k < N_BINS; k++) {
      double f = k * 8000.0 / (N_BINS - 1);
      double tri = MAX (0, MIN ((f - edge[m]) / (edge[m + 1] - edge[m]), (edge[m + 2] - f) / (edge[m + 2] - edge[m + 1])));
      fb[m * N_BINS + k] = tri * 2 / (edge[m + 2] - edge[m]);
    }
  g_autofree double *lm = g_new (double, (gsize) F * N_MELS);
  double mv = -INFINITY, ma = -INFINITY;
  for (guint32 f = 0; f < F; f++) {
    golden_frame (x, n, f, fb, lm + (gsize) f * N_MELS);
    for (int m = 0; m < N_MELS; m++) {
      double v = lm[(gsize) f * N_MELS + m];
      ma = MAX (ma, v);
      if (f < L)
        mv = MAX (mv, v);
      if (f >= L + 2)
        g_assert_cmpfloat (v, ==, -10.0);
    }
  }
  for (guint32 f = 0; f < L; f++)
    for (int m = 0; m < N_MELS; m++)
      out[(gsize) m * L + f] = (MAX (lm[(gsize) f * N_MELS + m], ma - 8) + 4) / 4;
  if (max_valid)
    *max_valid = mv;
  if (max_all)
    *max_all = ma;
}

/* Compares features. An fp32 STFT (torch's as the device's) errs by about
 * u·‖frame‖ on every bin, so a value whose amplitude is r times below the
 * frame's peak is only good to ~r·1e-6 relatively (stft_power's tests): the
 * tolerance grows as r = 10^((max − L) / 2), L the raw log10 mel, bounded by
 * the max over the valid frames, which no frame's peak exceeds. At r = 10^4
 * (the clamp floor, 8 decades down) that is 1e-2·@rtol. */
static void
assert_features (const char *what, const float *got, const double *want, guint32 L, double atol, double rtol)
{
  double worst = 0, top = -INFINITY;
  gsize n = (gsize) L * N_MELS;
  for (gsize i = 0; i < n; i++)
    top = MAX (top, want[i]);
  for (gsize i = 0; i < n; i++) {
    double r = pow (10, 2 * (top - want[i])), tol = atol + rtol * r;   /* normalised: (max − L)/2 = 2·Δy */
    double err = fabs (got[i] - want[i]);
    worst = MAX (worst, err / tol);
    if (!(err <= tol))
      g_error ("%s: mel %" G_GSIZE_FORMAT " frame %" G_GSIZE_FORMAT ": got %.7f, want %.7f (tolerance %.3g)", what,
               i / L, i % L, got[i], want[i], tol);
  }
  g_test_message ("%s: %u frames, worst |Δ| / tolerance %.3f", what, L, worst);
}

/* ---- tests ---- */

static void
test_n_frames (void)
{
  static const struct { guint64 n; guint32 frames; } cases[] = {
    { 0, 0 }, { 1, 1 }, { 160, 1 }, { 161, 2 }, { 3199, 20 }, { 3200, 20 }, { 32000, 200 }, { 32001, 201 },
    { MOR_MEL_MAX_SAMPLES, MOR_MEL_MAX_FRAMES }, { MOR_MEL_MAX_SAMPLES + 1000, MOR_MEL_MAX_FRAMES },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    g_assert_cmpuint (mor_mel_n_frames (cases[i].n), ==, cases[i].frames);
}

/* Utterance lengths: one sample, exactly one hop, under one chunk, one chunk
 * and a sample (a 1-frame tail), and a length whose last frames overlap
 * the end by a few samples. */
static const guint64 lengths[] = { 1, 160, 3199, 32001, 48017 };

/* The device against the C reference, which runs the same ops on the same
 * blocks: only fp32 summation orders differ. */
static void
test_reference (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (lengths); i++) {
    guint64 n = lengths[i];
    g_autofree float *x = speech_like (n, 10 + i, 0.8);
    guint32 L = mor_mel_n_frames (n);
    g_autofree float *got = g_new (float, (gsize) N_MELS * L), *want = g_new (float, (gsize) N_MELS * L);
    g_autofree double *want64 = g_new (double, (gsize) N_MELS * L);
    g_autoptr (GError) error = NULL;
    g_assert_true (mor_mel_compute (mel, x, n, got, &error));
    g_assert_no_error (error);
    mor_mel_reference (N_MELS, x, n, want);
    for (gsize j = 0; j < (gsize) N_MELS * L; j++)
      want64[j] = want[j];
    g_autofree char *what = g_strdup_printf ("device vs reference, %" G_GUINT64_FORMAT " samples", n);
    assert_features (what, got, want64, L, 1e-6, 1e-6);
  }
}

/* The device and the C reference against the processor's definition in fp64
 * (golden()), on the speech-like signal and a pure tone. */
static void
test_golden (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (lengths); i++) {
    guint64 n = lengths[i];
    g_autofree float *x = speech_like (n, 20 + i, 0.5);
    if (i == 1)
      for (guint64 j = 0; j < n; j++)
        x[j] = (float) (0.5 * sin (2 * G_PI * 440 * j / 16000.0));
    guint32 L = mor_mel_n_frames (n);
    g_autofree float *got = g_new (float, (gsize) N_MELS * L), *ref = g_new (float, (gsize) N_MELS * L);
    g_autofree double *want = g_new (double, (gsize) N_MELS * L);
    g_autoptr (GError) error = NULL;
    g_assert_true (mor_mel_compute (mel, x, n, got, &error));
    g_assert_no_error (error);
    mor_mel_reference (N_MELS, x, n, ref);
    golden (x, n, want, NULL, NULL);
    g_autofree char *what = g_strdup_printf ("device vs fp64, %" G_GUINT64_FORMAT " samples", n);
    assert_features (what, got, want, L, 1e-6, 1e-6);
    g_autofree char *what2 = g_strdup_printf ("reference vs fp64, %" G_GUINT64_FORMAT " samples", n);
    assert_features (what2, ref, want, L, 1e-6, 1e-6);
  }
}

/* The frames just past the end raise the max when the audio ends loud: a
 * quiet utterance with a click in its last samples. Only frames L and L+1
 * see the click's full weight; the features follow the max over them. */
static void
test_max_past_end (void)
{
  static const guint64 ns[] = { 3199, 3200, 3175, 3185 };
  for (guint i = 0; i < G_N_ELEMENTS (ns); i++) {
    guint64 n = ns[i];
    g_autofree float *x = speech_like (n, 30, 0.1);
    for (guint64 j = 0; j < n; j++)
      x[j] *= 1e-3f;
    for (guint64 j = n - 30; j < n; j++)
      x[j] = (j % 2 ? 0.9f : -0.9f);
    guint32 L = mor_mel_n_frames (n);
    g_autofree float *got = g_new (float, (gsize) N_MELS * L);
    g_autofree double *want = g_new (double, (gsize) N_MELS * L);
    double max_valid, max_all;
    golden (x, n, want, &max_valid, &max_all);
    g_test_message ("%" G_GUINT64_FORMAT " samples: max over the %u valid frames %.4f, over the canvas %.4f", n,
                    L, max_valid, max_all);
    g_assert_cmpfloat (max_all, >, max_valid + 0.1);
    g_autoptr (GError) error = NULL;
    g_assert_true (mor_mel_compute (mel, x, n, got, &error));
    g_assert_no_error (error);
    g_autofree char *what = g_strdup_printf ("click at the end, %" G_GUINT64_FORMAT " samples", n);
    assert_features (what, got, want, L, 1e-6, 1e-6);
  }
}

/* Pushes @x in pieces of irregular sizes, taking chunks as they complete. */
static guint32
stream_utterance (MorMelStream *ms, const float *x, guint64 n, guint32 seed)
{
  g_autoptr (GRand) r = g_rand_new_with_seed (seed);
  g_autoptr (GError) error = NULL;
  guint32 handed = 0, k;
  for (guint64 at = 0; at < n;) {
    guint64 piece = (guint64) g_rand_int_range (r, 1, 9000), m = MIN (n - at, piece);
    g_assert_true (mor_mel_stream_push (ms, x + at, m, &error));
    at += m;
    while (mor_mel_stream_next_chunk (ms, &k, &error)) {
      g_assert_cmpuint (k, ==, handed);
      /* complete: its last frame's window ends 40 samples past it */
      g_assert_cmpuint (at, >=, (guint64) (k + 1) * 32000 + 40);
      handed++;
    }
    g_assert_no_error (error);
  }
  g_assert_true (mor_mel_stream_finish (ms, &error));
  g_assert_no_error (error);
  return handed;
}

/* A stream gives the whole-utterance features bit for bit after finish;
 * chunks handed out before the loudest part are revised when they hold values
 * under the final floor; the stream is reusable after a reset. */
static void
test_stream (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MorMelStream) ms = mor_mel_stream_new (mel, 200, 6 * 16000, &error);
  g_assert_no_error (error);
  static const struct { guint64 n; double peak_s; gboolean revise0; } cases[] = {
    { 5 * 16000 + 123, 4.0, TRUE },     /* loudest late: chunk 0 (with digital silence) changes */
    { 5 * 16000 + 7, 0.9, FALSE },      /* loudest in chunk 0: nothing changes */
    { 64000 + 40, 3.5, TRUE },          /* two chunks handed out just in time, no tail */
    { 32000 + 39, 0.5, FALSE },         /* one sample short of chunk 0: all at finish */
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    guint64 n = cases[i].n;
    g_autofree float *x = speech_like (n, 40 + i, cases[i].peak_s);
    guint32 L = mor_mel_n_frames (n);
    g_autofree float *whole = g_new (float, (gsize) N_MELS * L);
    g_assert_true (mor_mel_compute (mel, x, n, whole, &error));
    mor_mel_stream_reset (ms);
    guint32 handed = stream_utterance (ms, x, n, i);
    g_assert_cmpuint (handed, ==, (n - 40) / 32000);
    g_assert_cmpuint (mor_mel_stream_n_frames (ms), ==, L);
    g_assert_cmpuint (mor_mel_stream_n_chunks (ms), ==, (L + 199) / 200);
    guint32 revised = 0;
    for (guint32 k = 0; k < mor_mel_stream_n_chunks (ms); k++) {
      guint32 len;
      const float *c = mor_mel_stream_get_chunk (ms, k, &len);
      g_assert_cmpuint (len, ==, MIN (200, L - k * 200));
      for (guint32 m = 0; m < N_MELS; m++)
        g_assert_cmpmem (c + (gsize) m * len, len * 4, whole + (gsize) m * L + k * 200, len * 4);
      revised += mor_mel_stream_chunk_revised (ms, k);
    }
    g_test_message ("%" G_GUINT64_FORMAT " samples, peak at %.1f s: %u chunks handed out early, %u revised", n,
                    cases[i].peak_s, handed, revised);
    g_assert_cmpint (mor_mel_stream_chunk_revised (ms, 0), ==, cases[i].revise0);
  }
}

/* Samples past the capacity (the processor's 300-s truncation) are dropped. */
static void
test_stream_capacity (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MorMelStream) ms = mor_mel_stream_new (mel, 200, 1000, &error);
  g_autofree float *x = speech_like (1500, 3, 0.01);
  g_assert_true (mor_mel_stream_push (ms, x, 600, &error));
  g_assert_true (mor_mel_stream_push (ms, x + 600, 900, &error));
  g_assert_cmpuint (mor_mel_stream_n_samples (ms), ==, 1000);
  g_assert_null (mor_mel_stream_next_chunk (ms, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (mor_mel_stream_finish (ms, &error));
  g_assert_cmpuint (mor_mel_stream_n_frames (ms), ==, 7);
  g_autofree float *want = g_new (float, 7 * N_MELS);
  g_assert_true (mor_mel_compute (mel, x, 1000, want, &error));
  guint32 len;
  const float *c = mor_mel_stream_get_chunk (ms, 0, &len);
  g_assert_cmpuint (len, ==, 7);
  g_assert_cmpmem (c, 7 * N_MELS * 4, want, 7 * N_MELS * 4);
}

static void
test_empty (void)
{
  g_autoptr (GError) error = NULL;
  float dummy;
  g_assert_true (mor_mel_compute (mel, NULL, 0, &dummy, &error));
  g_assert_no_error (error);
  g_autoptr (MorMelStream) ms = mor_mel_stream_new (mel, 200, 0, &error);
  g_assert_true (mor_mel_stream_finish (ms, &error));
  g_assert_cmpuint (mor_mel_stream_n_frames (ms), ==, 0);
  g_assert_cmpuint (mor_mel_stream_n_chunks (ms), ==, 0);
}

static void
test_bad_input (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MorMelStream) ms = mor_mel_stream_new (mel, 200, 0, &error);
  float x[4] = { 0.1f, 0.2f, NAN, 0.3f };
  g_assert_false (mor_mel_stream_push (ms, x, 4, &error));
  g_assert_error (error, MOR_MEL_ERROR, MOR_MEL_ERROR_INPUT);
  g_assert_nonnull (strstr (error->message, "Sample 2"));
  g_assert_cmpuint (mor_mel_stream_n_samples (ms), ==, 0);
  g_clear_error (&error);
  float y[2];
  x[2] = INFINITY;
  g_assert_false (mor_mel_compute (mel, x, 4, y, &error));
  g_assert_error (error, MOR_MEL_ERROR, MOR_MEL_ERROR_INPUT);
}

/* The last chunk of a full 300-s canvas: its last frame's window runs past the
 * canvas end, where torch reflects the canvas. 300 s take ~40 s on lavapipe
 * (2 cores), so on a CPU device this runs only in slow mode (-m slow). */
static void
test_canvas_end (void)
{
  if (mor_vk_device_get_info (device)->type == VK_PHYSICAL_DEVICE_TYPE_CPU && !g_test_slow ()) {
    g_test_skip ("300 s of audio on a CPU device: run with -m slow");
    return;
  }
  guint64 n = MOR_MEL_MAX_SAMPLES + 500;
  g_autofree float *x = g_new0 (float, n);
  for (guint64 j = MOR_MEL_MAX_SAMPLES - 1000; j < n; j++)
    x[j] = (float) (0.3 * sin (2 * G_PI * 1000 * j / 16000.0) + (j % 7) * 0.01);
  g_autofree float *got = g_new (float, (gsize) N_MELS * MOR_MEL_MAX_FRAMES);
  g_autoptr (GError) error = NULL;
  g_assert_true (mor_mel_compute (mel, x, n, got, &error));
  g_assert_no_error (error);
  /* fp64 over the last 8 frames (the rest are silent: -10, below the max) */
  double fb[N_MELS * N_BINS], edge[N_MELS + 2], lm[N_MELS], mx = -INFINITY;
  for (int i = 0; i < N_MELS + 2; i++)
    edge[i] = mel_to_hz (hz_to_mel (0) + i * (hz_to_mel (8000) - hz_to_mel (0)) / (N_MELS + 1));
  for (int m = 0; m < N_MELS; m++)
    for (int k = 0; k < N_BINS; k++) {
      double f = k * 8000.0 / (N_BINS - 1);
      double tri = MAX (0, MIN ((f - edge[m]) / (edge[m + 1] - edge[m]), (edge[m + 2] - f) / (edge[m + 2] - edge[m + 1])));
      fb[m * N_BINS + k] = tri * 2 / (edge[m + 2] - edge[m]);
    }
  double want[8][N_MELS];
  for (int f = 0; f < 8; f++) {
    golden_frame (x, MOR_MEL_MAX_SAMPLES, MOR_MEL_MAX_FRAMES - 8 + f, fb, lm);
    for (int m = 0; m < N_MELS; m++)
      mx = MAX (mx, want[f][m] = lm[m]);
  }
  double worst = 0;
  for (int f = 0; f < 8; f++)
    for (int m = 0; m < N_MELS; m++) {
      double w = (MAX (want[f][m], mx - 8) + 4) / 4;
      double g = got[(gsize) m * MOR_MEL_MAX_FRAMES + MOR_MEL_MAX_FRAMES - 8 + f];
      worst = MAX (worst, fabs (g - w));
    }
  g_test_message ("last 8 frames of the canvas: max |Δ| %.3g", worst);
  g_assert_cmpfloat (worst, <, 1e-4);
}

/* The features of tests/mel_numpy.py, the processor taken literally over
 * the whole 300-s canvas in numpy float64. Skipped without python3 + numpy. */
static void
test_numpy (void)
{
  const char *python = NULL;
  const char *candidates[] = { "/usr/bin/python3", "python3" };
  for (guint i = 0; i < G_N_ELEMENTS (candidates) && !python; i++) {
    const char *argv[] = { candidates[i], "-c", "import numpy", NULL };
    gint status;
    if (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                      NULL, NULL, &status, NULL) && g_spawn_check_wait_status (status, NULL))
      python = candidates[i];
  }
  if (!python) {
    g_test_skip ("no python3 with numpy");
    return;
  }
  static const guint64 ns[] = { 1, 32001 };
  g_autofree char *dir = g_dir_make_tmp ("mor-mel-XXXXXX", NULL);
  g_assert_nonnull (dir);
  for (guint i = 0; i < G_N_ELEMENTS (ns); i++) {
    guint64 n = ns[i];
    g_autofree float *x = speech_like (n, 50 + i, 0.6);
    g_autofree char *in = g_build_filename (dir, "in.f32", NULL), *out = g_build_filename (dir, "out.f32", NULL);
    g_autoptr (GError) error = NULL;
    g_assert_true (g_file_set_contents (in, (const char *) x, (gssize) n * 4, &error));
    const char *argv[] = { python, MOR_TEST_MEL_NUMPY, in, out, NULL };
    gint status;
    g_autofree char *err_out = NULL;
    g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, &err_out,
                                 &status, &error));
    if (!g_spawn_check_wait_status (status, NULL))
      g_error ("mel_numpy.py failed: %s", err_out);
    g_autofree char *data = NULL;
    gsize size;
    g_assert_true (g_file_get_contents (out, &data, &size, &error));
    guint32 L = mor_mel_n_frames (n);
    g_assert_cmpuint (size, ==, (gsize) N_MELS * L * 4);
    g_autofree double *want = g_new (double, (gsize) N_MELS * L);
    for (gsize j = 0; j < (gsize) N_MELS * L; j++)
      want[j] = ((const float *) data)[j];
    g_autofree float *got = g_new (float, (gsize) N_MELS * L);
    g_assert_true (mor_mel_compute (mel, x, n, got, &error));
    g_autofree char *what = g_strdup_printf ("device vs numpy, %" G_GUINT64_FORMAT " samples", n);
    assert_features (what, got, want, L, 1e-6, 1e-6);
    g_unlink (in);
    g_unlink (out);
  }
  g_rmdir (dir);
}

static void
close_all (void)
{
  g_clear_pointer (&mel, mor_mel_free);
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  device = harness_device ();
  g_autoptr (GError) error = NULL;
  mel = mor_mel_new (device, N_MELS, &error);
  g_assert_no_error (error);
  atexit (close_all);
  g_test_add_func ("/mel/n-frames", test_n_frames);
  g_test_add_func ("/mel/reference", test_reference);
  g_test_add_func ("/mel/golden", test_golden);
  g_test_add_func ("/mel/max-past-end", test_max_past_end);
  g_test_add_func ("/mel/stream", test_stream);
  g_test_add_func ("/mel/stream-capacity", test_stream_capacity);
  g_test_add_func ("/mel/empty", test_empty);
  g_test_add_func ("/mel/bad-input", test_bad_input);
  g_test_add_func ("/mel/canvas-end", test_canvas_end);
  g_test_add_func ("/mel/numpy", test_numpy);
  return g_test_run ();
}
