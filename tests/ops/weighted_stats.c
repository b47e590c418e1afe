/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/ops/weighted_stats.c against its C reference. */
#include "harness.h"

#include <math.h>

/* Awkward shapes: one element, rows shorter and longer than the workgroup (64)
 * and not multiples of it, ECAPA-TDNN's 768 channels over a 300-frame
 * reference mel. */
static const struct { guint32 rows, cols; } shapes[] = {
  { 1, 1 }, { 3, 7 }, { 5, 63 }, { 2, 65 }, { 7, 300 }, { 768, 300 }, { 4, 2049 },
};

/* Each row of @w a softmax of random logits: positive, summing to 1 (HF's attention weights). */
static float *
softmax_rows (guint32 rows, guint32 cols, guint32 seed)
{
  float *w = harness_random ((gsize) rows * cols, -3, 3, seed);
  mor_ref_softmax (w, w, rows, cols, 1.0f);
  return w;
}

static void
check (const float *x, const float *w, guint32 rows, guint32 cols, float eps, const char *what)
{
  gsize n = (gsize) rows * cols;
  g_autofree float *want = g_new (float, 2 * rows);
  mor_ref_weighted_stats (x, w, want, rows, cols, eps);
  g_autoptr (MorVkBuffer) bx = harness_upload (x, n * 4);
  g_autoptr (MorVkBuffer) bw = w ? harness_upload (w, n * 4) : NULL;
  g_autoptr (MorVkBuffer) by = harness_output ((gsize) rows * 8);
  MorVkView none = { NULL, 0, 0 };
  g_autoptr (MorVkStream) s = harness_stream ();
  mor_op_weighted_stats (s, mor_vk_view (bx), bw ? mor_vk_view (bw) : none, mor_vk_view (by), rows, cols, eps);
  harness_run (s);
  g_autofree float *got = harness_download (by, (gsize) rows * 8);
  g_autofree char *msg = g_strdup_printf ("weighted_stats %s %ux%u", what, rows, cols);
  /* fp32 sums in another order against fp64: a few ulps of values of order 1 */
  harness_assert_close (msg, got, want, 2 * rows, 2e-6f, 1e-5f);
}

static void
test_shapes (void)
{
  for (guint c = 0; c < G_N_ELEMENTS (shapes); c++) {
    guint32 rows = shapes[c].rows, cols = shapes[c].cols;
    g_autofree float *x = harness_random ((gsize) rows * cols, -2, 2, 1 + c);
    g_autofree float *w = softmax_rows (rows, cols, 100 + c);
    check (x, NULL, rows, cols, 1e-12f, "uniform");
    check (x, w, rows, cols, 1e-12f, "weighted");
  }
}

/* A constant row has no spread: std = sqrt(eps) (HF's clamp), here 1e-6. */
static void
test_constant_rows (void)
{
  guint32 rows = 3, cols = 77;
  g_autofree float *x = g_new (float, rows * cols);
  for (guint32 i = 0; i < rows * cols; i++)
    x[i] = (float) (i / cols) - 1.0f;
  check (x, NULL, rows, cols, 1e-12f, "constant");
  float y[6];
  mor_ref_weighted_stats (x, NULL, y, rows, cols, 1e-12f);
  for (guint32 r = 0; r < rows; r++) {
    g_assert_cmpfloat (y[r], ==, (float) r - 1.0f);
    g_assert_cmpfloat_with_epsilon (y[rows + r], 1e-6f, 1e-12f);
  }
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  g_test_add_func ("/ops/weighted_stats/shapes", test_shapes);
  g_test_add_func ("/ops/weighted_stats/constant-rows", test_constant_rows);
  return g_test_run ();
}
