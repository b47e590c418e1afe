/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/ops/fir_resample.c against its C reference, and of the
 * Kaiser-sinc filter. */
#include "harness.h"

#include <math.h>

/* HF kaiser_sinc_filter1d(cutoff=0.25, half_width=0.3, kernel_size=12), the
 * BigVGAN ratio-2 filter: computed in Python fp64 from the same formulas
 * (attenuation 51.0212, Kaiser beta 4.663800). Symmetric; the first half. */
static const double bigvgan_filter[6] = {
  2.028966450e-03, 9.389463944e-03, -2.554346407e-02, -5.765737548e-02, 1.285726091e-01, 4.432098001e-01,
};

static void
test_kaiser (void)
{
  float f[12];
  mor_kaiser_sinc_filter (f, 12, 0.25, 0.3);
  double sum = 0;
  for (int i = 0; i < 12; i++) {
    /* the golden values carry 10 digits; f is them rounded to fp32 (2^-24 relative) */
    double v = bigvgan_filter[i < 6 ? i : 11 - i];
    g_assert_cmpfloat_with_epsilon (f[i], v, 1e-7 * fabs (v));
    sum += f[i];
  }
  g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-6);
  /* odd length: centred on a tap; cutoff 0: all zero */
  float g[7];
  mor_kaiser_sinc_filter (g, 7, 0.2, 0.25);
  for (int i = 0; i < 3; i++)
    g_assert_cmpfloat (g[i], ==, g[6 - i]);
  g_assert_cmpfloat (g[3], >, g[2]);
  mor_kaiser_sinc_filter (g, 7, 0.0, 0.25);
  for (int i = 0; i < 7; i++)
    g_assert_cmpfloat (g[i], ==, 0.0f);
}

/* Filters of 12 taps in fp32 on inputs in [-1, 1): a 12-term sum, error
 * below 12·u·Σ|f| ≈ 1e-6 against the fp64 reference. */
#define ATOL 2e-6f

static const struct { guint32 c, t, taps, ratio; } shapes[] = {
  { 1, 1, 12, 2 }, { 1, 2, 12, 2 }, { 3, 3, 12, 2 }, { 2, 7, 12, 2 }, { 5, 64, 12, 2 }, { 24, 257, 12, 2 },
  { 3, 11, 4, 2 }, { 2, 13, 12, 3 }, { 4, 9, 6, 3 }, { 3, 17, 7, 2 },
};

static void
check_resample (gboolean up, guint32 c, guint32 t, guint32 taps, guint32 ratio, guint32 seed)
{
  g_autofree float *filter = g_new (float, taps);
  mor_kaiser_sinc_filter (filter, taps, 0.5 / ratio, 0.6 / ratio);
  guint32 t_out = up ? t * ratio : mor_fir_downsample_out_length (t, taps, ratio);
  gsize nx = (gsize) c * t, ny = (gsize) c * t_out;
  g_autofree float *x = harness_random (nx, -1, 1, seed);
  g_autofree float *want = g_new (float, ny);
  if (up)
    mor_ref_fir_upsample (x, filter, want, c, t, taps, ratio);
  else
    mor_ref_fir_downsample (x, filter, want, c, t, taps, ratio);
  g_autoptr (MorVkBuffer) bx = harness_upload (x, nx * 4);
  g_autoptr (MorVkBuffer) bf = harness_upload (filter, taps * 4);
  g_autoptr (MorVkBuffer) by = harness_output (ny * 4);
  g_autoptr (MorVkStream) s = harness_stream ();
  if (up)
    mor_op_fir_upsample (s, mor_vk_view (bx), mor_vk_view (bf), mor_vk_view (by), c, t, taps, ratio);
  else
    mor_op_fir_downsample (s, mor_vk_view (bx), mor_vk_view (bf), mor_vk_view (by), c, t, taps, ratio);
  harness_run (s);
  g_autofree float *got = harness_download (by, ny * 4);
  harness_assert_close (up ? "fir_upsample" : "fir_downsample", got, want, ny, ATOL, 1e-6f);
}

static void
test_upsample (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (shapes); i++)
    check_resample (TRUE, shapes[i].c, shapes[i].t, shapes[i].taps, shapes[i].ratio, 1 + i);
}

static void
test_downsample (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (shapes); i++)
    check_resample (FALSE, shapes[i].c, shapes[i].t, shapes[i].taps, shapes[i].ratio, 100 + i);
  /* ceil(length / 2) for the even BigVGAN filter */
  g_assert_cmpuint (mor_fir_downsample_out_length (7, 12, 2), ==, 4);
  g_assert_cmpuint (mor_fir_downsample_out_length (8, 12, 2), ==, 4);
  g_assert_cmpuint (mor_fir_downsample_out_length (1, 12, 2), ==, 1);
}

/* The HF pad/crop arithmetic, written out for ratio 2 and 12 taps (pad 5,
 * crop 15/15 for UpSample1d; pad 5/6 for DownSample1d), checked on one
 * channel against a direct transcription of the PyTorch steps. */
static void
test_bigvgan_geometry (void)
{
  float f[12];
  mor_kaiser_sinc_filter (f, 12, 0.25, 0.3);
  enum { T = 9 };
  float x[T], up[2 * T], down[T];
  for (int i = 0; i < T; i++)
    x[i] = (float) sin (i * 1.3) + 0.1f * i;
  mor_ref_fir_upsample (x, f, up, 1, T, 12, 2);
  /* xp = replicate pad 5; z = conv_transpose1d(xp, f, stride 2), length 2(T+10-1)+12; y = 2·z[15 : -15] */
  float xp[T + 10], z[2 * (T + 9) + 12];
  for (int i = 0; i < T + 10; i++)
    xp[i] = x[CLAMP (i - 5, 0, T - 1)];
  memset (z, 0, sizeof z);
  for (int i = 0; i < T + 10; i++)
    for (int k = 0; k < 12; k++)
      z[2 * i + k] += f[k] * xp[i];
  for (int t = 0; t < 2 * T; t++)
    g_assert_cmpfloat_with_epsilon (up[t], 2 * z[15 + t], 1e-6);
  g_assert_cmpuint (G_N_ELEMENTS (z) - 30, ==, 2 * T);
  /* xq = replicate pad (5, 6); y[t] = Σ_k f[k]·xq[2t + k] */
  mor_ref_fir_downsample (up, f, down, 1, 2 * T, 12, 2);
  float xq[2 * T + 11];
  for (int i = 0; i < 2 * T + 11; i++)
    xq[i] = up[CLAMP (i - 5, 0, 2 * T - 1)];
  for (int t = 0; t < T; t++) {
    float acc = 0;
    for (int k = 0; k < 12; k++)
      acc += f[k] * xq[2 * t + k];
    g_assert_cmpfloat_with_epsilon (down[t], acc, 1e-6);
  }
}

/* BigVGAN-like: a 48-channel stage of 1200 samples, up then down. */
static void
test_bigvgan_stage (void)
{
  check_resample (TRUE, 48, 1200, 12, 2, 300);
  check_resample (FALSE, 48, 2400, 12, 2, 301);
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  g_test_add_func ("/ops/fir_resample/kaiser", test_kaiser);
  g_test_add_func ("/ops/fir_resample/bigvgan-geometry", test_bigvgan_geometry);
  g_test_add_func ("/ops/fir_resample/upsample", test_upsample);
  g_test_add_func ("/ops/fir_resample/downsample", test_downsample);
  g_test_add_func ("/ops/fir_resample/bigvgan-stage", test_bigvgan_stage);
  return g_test_run ();
}
