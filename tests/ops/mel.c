/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/ops/mel.c against its C reference, and of the Slaney mel
 * filterbank against transformers' mel_filter_bank. */
#include "harness.h"

#include <math.h>

/* transformers.audio_utils.mel_filter_bank(num_frequency_bins=201,
 * num_mel_filters=128, min_frequency=0, max_frequency=8000, sampling_rate=16000,
 * norm="slaney", mel_scale="slaney")[bin, mel], the Whisper-v3 / Qwen2.5-Omni
 * bank: computed in Python fp64 with its formulas (numpy.linspace edges,
 * _create_triangular_filter_bank, enorm = 2 / (f[m+2] - f[m])). */
static const struct { guint mel, bin; double value; } golden[] = {
  { 0, 1, 1.237398633e-02 }, { 1, 1, 3.039256487e-02 }, { 1, 2, 0.0 }, { 2, 2, 2.474797267e-02 },
  { 10, 6, 1.128918441e-02 }, { 10, 7, 1.084801920e-03 }, { 40, 24, 4.037636476e-02 },
  { 64, 42, 6.749682705e-03 }, { 64, 43, 1.809151762e-02 }, { 100, 102, 9.409416248e-03 },
  { 126, 191, 4.951984363e-03 }, { 126, 195, 2.746368193e-04 }, { 127, 199, 1.114280199e-03 },
  { 127, 200, 0.0 },
};

/* Slaney scale written independently of model/ops/mel.c: centre frequency
 * of edge i of n_mel + 2 equally spaced on the mel axis from 0 Hz to f_max. */
static double
slaney_edge_hz (guint i, guint n_mel, double f_max)
{
  double log_step = log (6.4) / 27.0;
  double mel_max = f_max >= 1000 ? 15.0 + log (f_max / 1000.0) / log_step : f_max * 3.0 / 200.0;
  double mel = mel_max * i / (n_mel + 1);
  return mel < 15.0 ? mel * 200.0 / 3.0 : 1000.0 * exp (log_step * (mel - 15.0));
}

static void
test_filter_bank (void)
{
  g_autofree float *fb = g_new (float, 128 * 201);
  mor_mel_filter_bank (fb, 201, 128, 0, 8000, 16000);
  for (guint i = 0; i < G_N_ELEMENTS (golden); i++)
    g_assert_cmpfloat_with_epsilon (fb[golden[i].mel * 201 + golden[i].bin], golden[i].value,
                                    1e-7 * golden[i].value + 1e-12);
  /* Every value against the triangle evaluated from the edges in fp64 (the
   * bins are 40 Hz apart): they agree to the fp32 rounding (2^-24 relative). */
  for (guint m = 0; m < 128; m++) {
    double lo = slaney_edge_hz (m, 128, 8000), mid = slaney_edge_hz (m + 1, 128, 8000);
    double hi = slaney_edge_hz (m + 2, 128, 8000);
    for (guint k = 0; k < 201; k++) {
      double f = 40.0 * k;
      double tri = f <= lo || f >= hi ? 0 : f <= mid ? (f - lo) / (mid - lo) : (hi - f) / (hi - mid);
      double want = tri * 2 / (hi - lo);
      g_assert_cmpfloat_with_epsilon (fb[m * 201 + k], want, 1e-7 * want + 1e-12);
    }
  }
}

/* fp32 sums of n_bins non-negative products: relative error below
 * n_bins·u (u = 2^-24); rtol 2× that. */
static const struct { guint32 frames, bins, mels; } shapes[] = {
  { 1, 201, 128 }, { 7, 201, 128 }, { 65, 201, 128 }, { 3, 33, 80 }, { 100, 5, 3 }, { 301, 201, 128 },
};

static void
test_shapes (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (shapes); i++) {
    guint32 nf = shapes[i].frames, nb = shapes[i].bins, nm = shapes[i].mels;
    g_autofree float *power = harness_random ((gsize) nf * nb, 0, 1, 1 + i);
    g_autofree float *fb = g_new (float, (gsize) nm * nb);
    mor_mel_filter_bank (fb, nb, nm, 0, 8000, 16000);
    g_autofree float *want = g_new (float, (gsize) nm * nf);
    mor_ref_mel (power, fb, want, nf, nb, nm);
    g_autoptr (MorVkBuffer) bp = harness_upload (power, (gsize) nf * nb * 4);
    g_autoptr (MorVkBuffer) bf = harness_upload (fb, (gsize) nm * nb * 4);
    g_autoptr (MorVkBuffer) by = harness_output ((gsize) nm * nf * 4);
    g_autoptr (MorVkStream) s = harness_stream ();
    mor_op_mel (s, mor_vk_view (bp), mor_vk_view (bf), mor_vk_view (by), nf, nb, nm);
    harness_run (s);
    g_autofree float *got = harness_download (by, (gsize) nm * nf * 4);
    harness_assert_close ("mel", got, want, (gsize) nm * nf, 1e-30f, 2 * nb * 0x1p-24f);
  }
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  g_test_add_func ("/ops/mel/filter-bank", test_filter_bank);
  g_test_add_func ("/ops/mel/shapes", test_shapes);
  return g_test_run ();
}
