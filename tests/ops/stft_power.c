/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/ops/stft_power.c against its fp64 C reference. */
#include "harness.h"

#include <math.h>

/* Tolerance. The shader sums n1 then n2 terms in fp32 (n_fft = n1·n2), so a
 * bin's X carries rounding errors of about u·(n1 + n2)·‖v‖₂ (u = 2^-24,
 * v = w·x the windowed frame, ‖v‖₂ ≤ max|x|·‖w‖₂): about what an fp32 FFT
 * (torch) has, and ten times less than a 400-term DFT sum. With δ = 4·that,
 * the power X² may be off by 2·δ·|X| + δ². Power far below a frame's peak
 * is only as exact as the peak allows, in torch as here. */
static void
check_stft (const float *x, guint32 n_samples, guint32 n_fft, guint32 hop, const char *what)
{
  guint32 n_frames = mor_stft_n_frames (n_samples, n_fft, hop), n_bins = n_fft / 2 + 1;
  gsize np = (gsize) n_frames * n_bins;
  g_autofree float *window = g_new (float, n_fft);
  g_autofree float *tw = g_new (float, 2 * n_fft);
  mor_hann_window (window, n_fft);
  mor_dft_twiddles (tw, n_fft);
  g_autofree float *want = g_new (float, np);
  mor_ref_stft_power (x, window, want, n_samples, n_fft, hop);

  g_autoptr (MorVkBuffer) bx = harness_upload (x, (gsize) n_samples * 4);
  g_autoptr (MorVkBuffer) bw = harness_upload (window, n_fft * 4);
  g_autoptr (MorVkBuffer) bt = harness_upload (tw, n_fft * 8);
  g_autoptr (MorVkBuffer) bp = harness_output (np * 4);
  g_autoptr (MorVkStream) s = harness_stream ();
  mor_op_stft_power (s, mor_vk_view (bx), mor_vk_view (bw), mor_vk_view (bt), mor_vk_view (bp), n_samples, n_fft,
                     hop);
  harness_run (s);
  g_autofree float *got = harness_download (bp, np * 4);

  guint32 n1 = 1;
  for (guint32 d = 1; d * d <= n_fft; d++)
    if (n_fft % d == 0)
      n1 = d;
  double max_x = 0, norm_w = 0, worst = 0;
  for (guint32 i = 0; i < n_samples; i++)
    max_x = MAX (max_x, fabs (x[i]));
  for (guint32 j = 0; j < n_fft; j++)
    norm_w += (double) window[j] * window[j];
  double delta = 4 * 0x1p-24 * (n1 + n_fft / n1) * sqrt (norm_w) * max_x;
  for (gsize i = 0; i < np; i++) {
    double bound = 2 * delta * sqrt (want[i]) + delta * delta, err = fabs ((double) got[i] - want[i]);
    worst = MAX (worst, err / bound);
    if (!(err <= bound)) {
      g_test_fail_printf ("%s: frame %" G_GSIZE_FORMAT " bin %" G_GSIZE_FORMAT ": got %.9g, want %.9g (bound %.3g)",
                          what, i / n_bins, i % n_bins, got[i], want[i], bound);
      return;
    }
  }
  g_test_message ("%s: %u samples, n_fft %u (%u x %u), hop %u, %u frames: worst error / bound %.3f", what,
                  n_samples, n_fft, n1, n_fft / n1, hop, n_frames, worst);
}

/* Noise, several n_fft factorisations (400 = 20·20, 512 = 16·32, a prime
 * runs the plain DFT), signals barely longer than the reflect padding, frame
 * counts that are not multiples of the frames per workgroup. */
static const struct { guint32 n, n_fft, hop; } shapes[] = {
  { 201, 400, 160 }, { 1000, 400, 160 }, { 16001, 400, 160 }, { 9, 16, 4 }, { 100, 31, 7 }, { 2000, 512, 128 },
  { 3, 4, 1 }, { 50, 6, 5 },
};

static void
test_noise (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (shapes); i++) {
    g_autofree float *x = harness_random (shapes[i].n, -1, 1, 1 + i);
    check_stft (x, shapes[i].n, shapes[i].n_fft, shapes[i].hop, "stft_power noise");
  }
}

/* Speech-like dynamics: a 440 Hz tone at 16 kHz with a quiet noise floor
 * (60 dB down) over 3 s, the Whisper geometry (n_fft 400, hop 160). */
static void
test_tone (void)
{
  guint32 n = 48000;
  g_autofree float *x = harness_random (n, -1e-3f, 1e-3f, 77);
  for (guint32 i = 0; i < n; i++)
    x[i] += 0.5f * (float) sin (2 * G_PI * 440.0 * i / 16000.0);
  check_stft (x, n, 400, 160, "stft_power tone");
}

/* Whisper's frame count (before it drops the last one), the periodic Hann
 * window and the twiddle table. */
static void
test_tables (void)
{
  g_assert_cmpuint (mor_stft_n_frames (480000, 400, 160), ==, 3001);
  g_assert_cmpuint (mor_stft_n_frames (16000, 400, 160), ==, 101);
  g_assert_cmpuint (mor_stft_n_frames (100, 31, 7), ==, 1 + (100 + 30 - 31) / 7);
  float w[400], tw[800];
  mor_hann_window (w, 400);
  g_assert_cmpfloat (w[0], ==, 0.0f);
  g_assert_cmpfloat (w[100], ==, 0.5f);
  g_assert_cmpfloat (w[200], ==, 1.0f);
  g_assert_cmpfloat (w[1], ==, w[399]);
  mor_dft_twiddles (tw, 400);
  g_assert_cmpfloat (tw[0], ==, 1.0f);
  g_assert_cmpfloat (tw[1], ==, 0.0f);
  g_assert_cmpfloat_with_epsilon (tw[2 * 100 + 1], 1.0f, 1e-7);
  g_assert_cmpfloat_with_epsilon (tw[2 * 50], (float) G_SQRT2 / 2, 1e-7);
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  g_test_add_func ("/ops/stft_power/tables", test_tables);
  g_test_add_func ("/ops/stft_power/noise", test_noise);
  g_test_add_func ("/ops/stft_power/tone", test_tone);
  return g_test_run ();
}
