/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/ops/softmax.c against its C reference. */
#include "harness.h"

#include <math.h>

/* fp32 with a different summation order and the device's exp(): a few ulps
 * of each probability, relative; atol covers probabilities near 0. */
#define ATOL 1e-7f
#define RTOL 2e-5f

static void
check (const char *what, const float *x, guint32 rows, guint32 cols, float scale)
{
  gsize n = (gsize) rows * cols;
  g_autofree float *want = g_new (float, n);
  mor_ref_softmax (x, want, rows, cols, scale);
  g_autoptr (MorVkBuffer) bx = harness_upload (x, n * 4);
  g_autoptr (MorVkBuffer) by = harness_output (n * 4);
  g_autoptr (MorVkStream) s = harness_stream ();
  mor_op_softmax (s, mor_vk_view (bx), mor_vk_view (by), rows, cols, scale);
  harness_run (s);
  g_autofree float *got = harness_download (by, n * 4);
  harness_assert_close (what, got, want, n, ATOL, RTOL);
}

/* Rows of one element, shorter and longer than the workgroup, not multiples
 * of it, and attention-score rows of a realistic length. */
static const struct { guint32 rows, cols; float scale; } shapes[] = {
  { 1, 1, 1.0f }, { 3, 7, 1.0f }, { 5, 63, 0.125f }, { 4, 65, 1.0f }, { 5, 255, 1.0f }, { 2, 257, 2.0f },
  { 14, 512, 0.125f }, { 3, 1500, 1.0f }, { 2, 4099, 0.088388f },
};

static void
test_shapes (void)
{
  for (guint c = 0; c < G_N_ELEMENTS (shapes); c++) {
    gsize n = (gsize) shapes[c].rows * shapes[c].cols;
    g_autofree float *x = harness_random (n, -8, 8, 1 + c);
    check ("softmax", x, shapes[c].rows, shapes[c].cols, shapes[c].scale);
  }
}

/* Masked (−inf) entries, fully masked rows (zeros, never NaN), a single
 * visible entry, very negative and very large finite values. */
static void
test_masked (void)
{
  const guint32 cols_list[] = { 1, 9, 300 };
  for (guint c = 0; c < G_N_ELEMENTS (cols_list); c++) {
    guint32 cols = cols_list[c], rows = 6;
    gsize n = (gsize) rows * cols;
    g_autofree float *x = harness_random (n, -4, 4, 40 + c);
    for (guint32 i = 0; i < cols; i++) {
      x[0 * cols + i] = -INFINITY;                              /* fully masked */
      if (i != cols / 2)
        x[1 * cols + i] = -INFINITY;                            /* one visible entry */
      if (i % 3 == 1)
        x[2 * cols + i] = -INFINITY;                            /* causal-like holes */
      x[3 * cols + i] -= 1e4f;                                  /* far below zero */
      x[4 * cols + i] = 3e4f + (float) (i % 7);                 /* exp() would overflow */
      x[5 * cols + i] = i < cols - 1 ? -INFINITY : -1e37f;      /* only the last, very negative */
    }
    check ("softmax masked", x, rows, cols, 1.0f);
    g_autofree float *y = g_new (float, n);
    mor_ref_softmax (x, y, rows, cols, 1.0f);
    for (guint32 i = 0; i < cols; i++)
      g_assert_cmpfloat (y[i], ==, 0.0f);
  }
}

/* In place (y aliases x), replayed after the input changed. */
static void
test_in_place_replay (void)
{
  guint32 rows = 5, cols = 300;
  gsize n = (gsize) rows * cols;
  g_autoptr (MorVkBuffer) bx = harness_output (n * 4);
  g_autoptr (MorVkStream) s = harness_stream ();
  mor_op_softmax (s, mor_vk_view (bx), mor_vk_view (bx), rows, cols, 0.5f);
  g_autoptr (GError) error = NULL;
  mor_vk_stream_end (s, &error);
  g_assert_no_error (error);
  for (guint32 round = 0; round < 3; round++) {
    g_autofree float *x = harness_random (n, -10, 10, 20 + round);
    g_autofree float *want = g_new (float, n);
    mor_ref_softmax (x, want, rows, cols, 0.5f);
    mor_vk_buffer_upload (bx, 0, x, n * 4, &error);
    g_assert_no_error (error);
    mor_vk_stream_submit (s, &error);
    g_assert_no_error (error);
    g_autofree float *got = harness_download (bx, n * 4);
    harness_assert_close ("softmax in place", got, want, n, ATOL, RTOL);
  }
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  g_test_add_func ("/ops/softmax/shapes", test_shapes);
  g_test_add_func ("/ops/softmax/masked", test_masked);
  g_test_add_func ("/ops/softmax/in-place-replay", test_in_place_replay);
  return g_test_run ();
}
