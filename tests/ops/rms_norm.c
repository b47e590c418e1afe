/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/ops/rms_norm.c against its C reference. */
#include "harness.h"

/* Awkward shapes: rows of one element, rows shorter and longer than the
 * workgroup, and not multiples of it. */
static const struct { guint32 rows, cols; } shapes[] = {
  { 1, 1 }, { 3, 7 }, { 5, 255 }, { 2, 257 }, { 7, 896 }, { 1, 3584 }, { 33, 2049 },
};

static void
test_shapes (void)
{
  for (guint c = 0; c < G_N_ELEMENTS (shapes); c++) {
    guint32 rows = shapes[c].rows, cols = shapes[c].cols;
    gsize n = (gsize) rows * cols;
    g_autofree float *x = harness_random (n, -2, 2, 1 + c);
    g_autofree float *w = harness_random (cols, -1, 1, 100 + c);
    g_autofree float *want = g_new (float, n);
    mor_ref_rms_norm (x, w, want, rows, cols, 1e-6f);

    g_autoptr (MorVkBuffer) bx = harness_upload (x, n * 4);
    g_autoptr (MorVkBuffer) bw = harness_upload (w, cols * 4);
    g_autoptr (MorVkBuffer) by = harness_output (n * 4);
    g_autoptr (MorVkStream) s = harness_stream ();
    mor_op_rms_norm (s, mor_vk_view (bx), mor_vk_view (bw), mor_vk_view (by), rows, cols, 1e-6f);
    harness_run (s);
    g_autofree float *got = harness_download (by, n * 4);
    /* fp32 with a different summation order: a few ulps of the scale. */
    harness_assert_close ("rms_norm", got, want, n, 1e-6f, 1e-5f);
  }
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
  g_autoptr (MorVkStream) s = harness_stream ();
  mor_op_rms_norm (s, mor_vk_view (bx), mor_vk_view (bw), mor_vk_view (bx), rows, cols, 1e-6f);
  g_autoptr (GError) error = NULL;
  mor_vk_stream_end (s, &error);
  g_assert_no_error (error);
  for (guint32 round = 0; round < 3; round++) {
    g_autofree float *x = harness_random (n, -3, 3, 20 + round);
    g_autofree float *want = g_new (float, n);
    mor_ref_rms_norm (x, w, want, rows, cols, 1e-6f);
    mor_vk_buffer_upload (bx, 0, x, n * 4, &error);
    g_assert_no_error (error);
    mor_vk_stream_submit (s, &error);
    g_assert_no_error (error);
    g_autofree float *got = harness_download (bx, n * 4);
    harness_assert_close ("rms_norm in place", got, want, n, 1e-6f, 1e-5f);
  }
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  g_test_add_func ("/ops/rms_norm/shapes", test_shapes);
  g_test_add_func ("/ops/rms_norm/in-place-replay", test_in_place_replay);
  return g_test_run ();
}
