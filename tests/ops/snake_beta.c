/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/ops/snake_beta.c against its C reference. */
#include "harness.h"

#include <math.h>

/* Fails unless every element is within the bound of the reference. The
 * reference takes e^alpha and sin from libm in fp32 (as torch does); the
 * shader's own e^alpha may differ by an ulp, which moves u = x·e^alpha by
 * |u|·2^-23 and sin²(u) by up to twice that: the bound allows 4 ulps of u
 * times 1/beta, plus 4 ulps of the result. */
static void
check_snake (const char *what, const float *x, const float *alpha, const float *beta, const float *got,
             guint32 n_channels, guint32 length)
{
  g_autofree float *want = g_new (float, (gsize) n_channels * length);
  mor_ref_snake_beta (x, alpha, beta, want, n_channels, length);
  double worst = 0;
  for (guint32 c = 0; c < n_channels; c++) {
    float a = expf (alpha[c]), inv_b = 1.0f / (expf (beta[c]) + 1e-9f);
    for (guint32 t = 0; t < length; t++) {
      gsize i = (gsize) c * length + t;
      float bound = 4 * 0x1p-23f * (fabsf (x[i] * a) + 1) * inv_b + 4 * 0x1p-24f * fabsf (want[i]);
      worst = MAX (worst, fabsf (got[i] - want[i]) / bound);
      if (!(fabsf (got[i] - want[i]) <= bound)) {
        g_test_fail_printf ("%s: element %" G_GSIZE_FORMAT " (x %g, alpha %g, beta %g): got %.9g, want %.9g",
                            what, i, x[i], alpha[c], beta[c], got[i], want[i]);
        return;
      }
    }
  }
  g_test_message ("%s: %u x %u, worst error / bound %.3f", what, n_channels, length, worst);
}

static const struct { guint32 c, t; float x_range; } shapes[] = {
  { 1, 1, 1 }, { 3, 7, 4 }, { 5, 255, 8 }, { 2, 257, 8 }, { 24, 1000, 8 }, { 1536, 13, 2 }, { 7, 331, 200 },
};

static void
test_shapes (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (shapes); i++) {
    guint32 c = shapes[i].c, t = shapes[i].t;
    gsize n = (gsize) c * t;
    g_autofree float *x = harness_random (n, -shapes[i].x_range, shapes[i].x_range, 1 + i);
    /* log-scale parameters: e^alpha from 0.05 to 20, 1/e^beta from 0.1 to 7 */
    g_autofree float *alpha = harness_random (c, -3, 3, 100 + i);
    g_autofree float *beta = harness_random (c, -2, 2.3f, 200 + i);
    g_autoptr (MorVkBuffer) bx = harness_upload (x, n * 4);
    g_autoptr (MorVkBuffer) ba = harness_upload (alpha, c * 4);
    g_autoptr (MorVkBuffer) bb = harness_upload (beta, c * 4);
    g_autoptr (MorVkBuffer) by = harness_output (n * 4);
    g_autoptr (MorVkStream) s = harness_stream ();
    mor_op_snake_beta (s, mor_vk_view (bx), mor_vk_view (ba), mor_vk_view (bb), mor_vk_view (by), c, t);
    harness_run (s);
    g_autofree float *got = harness_download (by, n * 4);
    check_snake ("snake_beta", x, alpha, beta, got, c, t);
  }
}

/* Zero-initialised parameters (alpha = beta = 0: y = x + sin² x), exact
 * multiples of π/2 where the range reduction changes quadrant, and in place. */
static void
test_special_in_place (void)
{
  guint32 c = 2, t = 64;
  gsize n = (gsize) c * t;
  float x[128], alpha[2] = { 0, logf (2) }, beta[2] = { 0, -1 };
  for (gsize i = 0; i < n; i++)
    x[i] = (float) ((gint) i - 32) * (float) G_PI_4;
  g_autoptr (MorVkBuffer) bx = harness_upload (x, n * 4);
  g_autoptr (MorVkBuffer) ba = harness_upload (alpha, sizeof alpha);
  g_autoptr (MorVkBuffer) bb = harness_upload (beta, sizeof beta);
  g_autoptr (MorVkStream) s = harness_stream ();
  mor_op_snake_beta (s, mor_vk_view (bx), mor_vk_view (ba), mor_vk_view (bb), mor_vk_view (bx), c, t);
  harness_run (s);
  g_autofree float *got = harness_download (bx, n * 4);
  check_snake ("snake_beta in place", x, alpha, beta, got, c, t);
  /* x = 0 stays 0; sin²(π/2) = 1 */
  g_assert_cmpfloat (got[32], ==, 0.0f);
  g_assert_cmpfloat_with_epsilon (got[34], x[34] + 1.0f, 1e-6);
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  g_test_add_func ("/ops/snake_beta/shapes", test_shapes);
  g_test_add_func ("/ops/snake_beta/special-in-place", test_special_in_place);
  return g_test_run ();
}
