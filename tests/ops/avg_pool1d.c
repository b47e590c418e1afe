/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/ops/avg_pool1d.c against its C reference. */
#include "harness.h"

/* Awkward shapes in both layouts: length = kernel, odd tails that must be
 * dropped, strides apart from the kernel, and the encoder head (1280 channels,
 * AvgPool1d(2, 2) over an odd number of frames, time-major rows). */
static const struct { guint32 c, t, k, s; } shapes[] = {
  { 1, 1, 1, 1 }, { 1, 2, 2, 2 }, { 3, 7, 2, 2 }, { 5, 11, 3, 2 }, { 2, 10, 2, 3 }, { 7, 300, 4, 3 },
  { 257, 5, 5, 1 }, { 1280, 101, 2, 2 },
};

static void
test_shapes (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (shapes); i++)
    for (int time_major = 0; time_major < 2; time_major++) {
      guint32 c = shapes[i].c, t = shapes[i].t, k = shapes[i].k, st = shapes[i].s;
      guint32 t_out = mor_avg_pool1d_out_length (t, k, st);
      gsize nx = (gsize) c * t, ny = (gsize) c * t_out;
      g_autofree float *x = harness_random (nx, -3, 3, 1 + i);
      g_autofree float *want = g_new (float, ny);
      mor_ref_avg_pool1d (x, want, c, t, k, st, time_major);
      g_autoptr (MorVkBuffer) bx = harness_upload (x, nx * 4);
      g_autoptr (MorVkBuffer) by = harness_output (ny * 4);
      g_autoptr (MorVkStream) s = harness_stream ();
      mor_op_avg_pool1d (s, mor_vk_view (bx), mor_vk_view (by), c, t, k, st, time_major);
      harness_run (s);
      g_autofree float *got = harness_download (by, ny * 4);
      /* The same fp32 sum in the same order; only the division may differ
       * (GLSL promises 2.5 ulp). */
      harness_assert_close ("avg_pool1d", got, want, ny, 1e-7f, 1e-6f);
    }
}

/* PyTorch's floor mode: AvgPool1d(2, 2) of 101 frames gives 50. */
static void
test_length (void)
{
  g_assert_cmpuint (mor_avg_pool1d_out_length (101, 2, 2), ==, 50);
  g_assert_cmpuint (mor_avg_pool1d_out_length (100, 2, 2), ==, 50);
  g_assert_cmpuint (mor_avg_pool1d_out_length (1, 2, 2), ==, 0);
  g_assert_cmpuint (mor_avg_pool1d_out_length (10, 3, 4), ==, 2);
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  g_test_add_func ("/ops/avg_pool1d/length", test_length);
  g_test_add_func ("/ops/avg_pool1d/shapes", test_shapes);
  return g_test_run ();
}
