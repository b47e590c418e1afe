/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/ops/layer_norm.c against its C reference. */
#include "harness.h"

/* Awkward shapes: rows of one element, rows shorter and longer than the
 * workgroup (256) and not multiples of it, the DiT (1024) and audio encoder
 * (1280) widths. */
static const struct { guint32 rows, cols; } shapes[] = {
  { 1, 1 }, { 3, 7 }, { 5, 255 }, { 2, 257 }, { 7, 1024 }, { 4, 1280 }, { 33, 2049 },
};

enum { AFFINE_NONE, AFFINE_W, AFFINE_WB, AFFINE_B };

/* One dispatch of @rows × @cols drawn from [lo, hi), compared with the reference. */
static void
check (guint32 rows, guint32 cols, int affine, float lo, float hi, float eps, guint32 seed, float atol, float rtol)
{
  gsize n = (gsize) rows * cols;
  g_autofree float *x = harness_random (n, lo, hi, seed);
  g_autofree float *w = harness_random (cols, -1, 1, seed + 1000);
  g_autofree float *b = harness_random (cols, -1, 1, seed + 2000);
  gboolean use_w = affine == AFFINE_W || affine == AFFINE_WB, use_b = affine == AFFINE_WB || affine == AFFINE_B;
  g_autofree float *want = g_new (float, n);
  mor_ref_layer_norm (x, use_w ? w : NULL, use_b ? b : NULL, want, rows, cols, eps);

  g_autoptr (MorVkBuffer) bx = harness_upload (x, n * 4);
  g_autoptr (MorVkBuffer) bw = harness_upload (w, cols * 4);
  g_autoptr (MorVkBuffer) bb = harness_upload (b, cols * 4);
  g_autoptr (MorVkBuffer) by = harness_output (n * 4);
  MorVkView none = { NULL, 0, 0 };
  g_autoptr (MorVkStream) s = harness_stream ();
  mor_op_layer_norm (s, mor_vk_view (bx), use_w ? mor_vk_view (bw) : none, use_b ? mor_vk_view (bb) : none,
                     mor_vk_view (by), rows, cols, eps);
  harness_run (s);
  g_autofree float *got = harness_download (by, n * 4);
  g_autofree char *what = g_strdup_printf ("layer_norm %ux%u affine %d", rows, cols, affine);
  harness_assert_close (what, got, want, n, atol, rtol);
}

static void
test_shapes (void)
{
  for (guint c = 0; c < G_N_ELEMENTS (shapes); c++)
    for (int affine = AFFINE_NONE; affine <= AFFINE_B; affine++)
      /* fp32 with a different summation order: a few ulps of the mean and of
       * 1/σ, outputs of order 1. */
      check (shapes[c].rows, shapes[c].cols, affine, -2, 2, 1e-5f, 1 + c, 1e-6f, 1e-5f);
}

/* Rows whose mean (100) is large against their spread (±1). Summing x in
 * fp32 would put the mean off by ~1e-5 and the outputs by as much; a one-pass
 * E[x²] − mean² would lose the variance (~0.33 out of ~1e4) altogether. The
 * shader sums x − x[0], so these rows are as accurate as rows near 0. */
static void
test_large_mean (void)
{
  check (9, 2049, AFFINE_WB, 99, 101, 1e-6f, 77, 1e-6f, 1e-5f);
  check (5, 1024, AFFINE_NONE, 99, 101, 1e-6f, 78, 1e-6f, 1e-5f);
  check (3, 1280, AFFINE_W, -1e4f - 1, -1e4f + 1, 1e-5f, 79, 1e-6f, 1e-5f);
}

/* A constant row has variance 0: y = 0·rsqrt(eps)·w + b = b exactly. */
static void
test_constant_row (void)
{
  guint32 rows = 2, cols = 300;
  g_autofree float *x = g_new (float, rows * cols);
  for (guint32 i = 0; i < rows * cols; i++)
    x[i] = 3.25f;
  g_autofree float *w = harness_random (cols, -1, 1, 5);
  g_autofree float *b = harness_random (cols, -1, 1, 6);
  g_autofree float *want = g_new (float, rows * cols);
  mor_ref_layer_norm (x, w, b, want, rows, cols, 1e-6f);
  g_autoptr (MorVkBuffer) bx = harness_upload (x, rows * cols * 4);
  g_autoptr (MorVkBuffer) bw = harness_upload (w, cols * 4);
  g_autoptr (MorVkBuffer) bb = harness_upload (b, cols * 4);
  g_autoptr (MorVkBuffer) by = harness_output (rows * cols * 4);
  g_autoptr (MorVkStream) s = harness_stream ();
  mor_op_layer_norm (s, mor_vk_view (bx), mor_vk_view (bw), mor_vk_view (bb), mor_vk_view (by), rows, cols, 1e-6f);
  harness_run (s);
  g_autofree float *got = harness_download (by, rows * cols * 4);
  harness_assert_close ("layer_norm constant row", got, want, rows * cols, 0, 0);
  for (guint32 i = 0; i < cols; i++)
    g_assert_cmpfloat (want[i], ==, b[i]);
}

/* In place (y aliases x), and a stream replayed after its input changed. */
static void
test_in_place_replay (void)
{
  guint32 rows = 4, cols = 300;
  gsize n = (gsize) rows * cols;
  g_autofree float *w = harness_random (cols, -1, 1, 7);
  g_autoptr (MorVkBuffer) bw = harness_upload (w, cols * 4);
  g_autoptr (MorVkBuffer) bx = harness_output (n * 4);
  MorVkView none = { NULL, 0, 0 };
  g_autoptr (MorVkStream) s = harness_stream ();
  mor_op_layer_norm (s, mor_vk_view (bx), mor_vk_view (bw), none, mor_vk_view (bx), rows, cols, 1e-6f);
  g_autoptr (GError) error = NULL;
  mor_vk_stream_end (s, &error);
  g_assert_no_error (error);
  for (guint32 round = 0; round < 3; round++) {
    g_autofree float *x = harness_random (n, -3, 3, 20 + round);
    g_autofree float *want = g_new (float, n);
    mor_ref_layer_norm (x, w, NULL, want, rows, cols, 1e-6f);
    mor_vk_buffer_upload (bx, 0, x, n * 4, &error);
    g_assert_no_error (error);
    mor_vk_stream_submit (s, &error);
    g_assert_no_error (error);
    g_autofree float *got = harness_download (bx, n * 4);
    harness_assert_close ("layer_norm in place", got, want, n, 1e-6f, 1e-5f);
  }
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  g_test_add_func ("/ops/layer_norm/shapes", test_shapes);
  g_test_add_func ("/ops/layer_norm/large-mean", test_large_mean);
  g_test_add_func ("/ops/layer_norm/constant-row", test_constant_row);
  g_test_add_func ("/ops/layer_norm/in-place-replay", test_in_place_replay);
  return g_test_run ();
}
