/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/ops/fir_snake_beta.c against its C reference (the three
 * reference ops composed: fir_upsample, snake_beta, fir_downsample). */
#include "harness.h"

#include <math.h>

/* Tolerance. The upsampled value u (12-term fp32 sum, inputs |x| ≤ X) is off
 * by about 12·u32·X (u32 = 2^-24); SnakeBeta multiplies that by its slope
 * 1 + e^α·sin(2u)/e^β ≤ 1 + e^α/e^β and adds its own 4·2^-23·(|u·e^α| + 1)/e^β
 * (see tests/ops/snake_beta.c); the 12-tap downsample (Σ|f| ≈ 1.2) carries
 * both to y and adds 12·u32·|z|. Per channel: bound = 4 × that sum. */
static void
check (guint32 c, guint32 t, guint32 taps, guint32 ratio, float x_range, guint32 seed)
{
  g_autofree float *filter = g_new (float, taps);
  mor_kaiser_sinc_filter (filter, taps, 0.5 / ratio, 0.6 / ratio);
  guint32 t_out = mor_fir_snake_beta_out_length (t, taps, ratio);
  gsize nx = (gsize) c * t, ny = (gsize) c * t_out;
  g_autofree float *x = harness_random (nx, -x_range, x_range, seed);
  g_autofree float *alpha = harness_random (c, -2, 2, seed + 1);
  g_autofree float *beta = harness_random (c, -1, 2, seed + 2);
  g_autofree float *want = g_new (float, ny);
  mor_ref_fir_snake_beta (x, alpha, beta, filter, want, c, t, taps, ratio);
  g_autoptr (MorVkBuffer) bx = harness_upload (x, nx * 4);
  g_autoptr (MorVkBuffer) ba = harness_upload (alpha, c * 4);
  g_autoptr (MorVkBuffer) bb = harness_upload (beta, c * 4);
  g_autoptr (MorVkBuffer) bf = harness_upload (filter, taps * 4);
  g_autoptr (MorVkBuffer) by = harness_output (ny * 4);
  g_autoptr (MorVkStream) s = harness_stream ();
  mor_op_fir_snake_beta (s, mor_vk_view (bx), mor_vk_view (ba), mor_vk_view (bb), mor_vk_view (bf),
                         mor_vk_view (by), c, t, taps, ratio);
  harness_run (s);
  g_autofree float *got = harness_download (by, ny * 4);
  double worst = 0;
  for (guint32 ch = 0; ch < c; ch++) {
    double a = exp (alpha[ch]), inv_b = 1 / exp (beta[ch]), u_max = 1.5 * x_range;
    double z_max = u_max + inv_b;
    double bound = 4 * (1.2 * ((1 + a * inv_b) * 12 * 0x1p-24 * x_range * 2 + 4 * 0x1p-23 * (u_max * a + 1) * inv_b)
                        + 12 * 0x1p-24 * z_max);
    for (guint32 i = 0; i < t_out; i++) {
      gsize j = (gsize) ch * t_out + i;
      double err = fabs ((double) got[j] - want[j]);
      worst = MAX (worst, err / bound);
      if (!(err <= bound)) {
        g_test_fail_printf ("fir_snake_beta: channel %u sample %u: got %.9g, want %.9g (bound %.3g)", ch, i,
                            got[j], want[j], bound);
        return;
      }
    }
  }
  g_test_message ("fir_snake_beta: %u x %u, %u taps, ratio %u: worst error / bound %.3f", c, t, taps, ratio, worst);
}

/* Lengths around the 256-output workgroup, one sample, odd tap counts (one
 * more output than input), ratio 3, and a BigVGAN stage (24 channels). */
static void
test_shapes (void)
{
  static const struct { guint32 c, t, taps, ratio; float range; } shapes[] = {
    { 1, 1, 12, 2, 1 }, { 3, 2, 12, 2, 1 }, { 2, 255, 12, 2, 2 }, { 2, 256, 12, 2, 2 }, { 5, 257, 12, 2, 2 },
    { 3, 600, 12, 2, 4 }, { 4, 37, 7, 2, 1 }, { 2, 41, 12, 3, 1 }, { 24, 2000, 12, 2, 3 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (shapes); i++)
    check (shapes[i].c, shapes[i].t, shapes[i].taps, shapes[i].ratio, shapes[i].range, 1 + 10 * i);
  g_assert_cmpuint (mor_fir_snake_beta_out_length (100, 12, 2), ==, 100);
  g_assert_cmpuint (mor_fir_snake_beta_out_length (100, 7, 2), ==, 101);
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  g_test_add_func ("/ops/fir_snake_beta/shapes", test_shapes);
  return g_test_run ();
}
