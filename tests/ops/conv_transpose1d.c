/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/ops/conv_transpose1d.c against its C reference. */
#include "harness.h"

/* Runs one transposed convolution on random data in [-1, 1) against the
 * reference (fp64 sums of the same rounded weights). Tolerance as for conv1d:
 * an fp32 sum of n = c_in_g·ceil(K/stride) unit products drifts by ~u·n/3; 16×
 * that per element, normalised squared error below 1e-11. */
static void
check_conv_transpose (const char *what, MorConvTranspose1d c, MorType w_type, gboolean with_bias, guint32 seed)
{
  guint32 t_out = mor_conv_transpose1d_out_length (&c), c_out_g = c.out_channels / c.groups;
  gsize nx = (gsize) c.n_batch * c.in_channels * c.length;
  gsize nw = (gsize) c.in_channels * c_out_g * c.kernel_size;
  gsize ny = (gsize) c.n_batch * c.out_channels * t_out;
  g_autofree float *x = harness_random (nx, -1, 1, seed);
  g_autofree float *wf = harness_random (nw, -1, 1, seed + 1);
  g_autofree float *bias = harness_random (c.out_channels, -1, 1, seed + 2);
  g_autofree guint16 *wh = g_new (guint16, nw);
  for (gsize i = 0; i < nw; i++)
    wh[i] = mor_f32_to_f16 (wf[i]);
  const void *w = w_type == MOR_TYPE_F32 ? (const void *) wf : (const void *) wh;
  g_autofree float *want = g_new (float, ny);
  mor_ref_conv_transpose1d (&c, w_type, x, w, with_bias ? bias : NULL, want);

  g_autoptr (MorVkBuffer) bx = harness_upload (x, nx * 4);
  g_autoptr (MorVkBuffer) bw = harness_upload (w, nw * (w_type == MOR_TYPE_F32 ? 4 : 2));
  g_autoptr (MorVkBuffer) bb = harness_upload (bias, c.out_channels * 4);
  g_autoptr (MorVkBuffer) by = harness_output (ny * 4);
  g_autoptr (MorVkStream) s = harness_stream ();
  MorVkView none = { NULL, 0, 0 };
  mor_op_conv_transpose1d (s, &c, w_type, mor_vk_view (bx), mor_vk_view (bw),
                           with_bias ? mor_vk_view (bb) : none, mor_vk_view (by));
  harness_run (s);
  g_autofree float *got = harness_download (by, ny * 4);
  guint32 taps = (c.kernel_size + c.stride - 1) / c.stride;
  float atol = 16 * (c.in_channels / c.groups * taps / 3.0f + 1) * 0x1p-24f;
  g_test_message ("%s: %u->%u ch, T %u->%u, K %u s %u p %u op %u g %u: nmse %.3g", what, c.in_channels,
                  c.out_channels, c.length, t_out, c.kernel_size, c.stride, c.padding, c.output_padding, c.groups,
                  harness_nmse (got, want, ny));
  harness_assert_close (what, got, want, ny, atol, 1e-6f);
  g_assert_cmpfloat (harness_nmse (got, want, ny), <, 1e-11);
}

/* Awkward geometry: length 1, kernels shorter and longer than the stride,
 * padding bigger than a phase, output_padding, groups, batches. */
static const struct { MorConvTranspose1d c; gboolean bias; } shapes[] = {
  /*  b  in  out  T   K  s  p  op g */
  { { 1, 1, 1, 1, 1, 1, 0, 0, 1 }, TRUE },
  { { 1, 3, 5, 1, 4, 2, 1, 0, 1 }, TRUE },          /* one input sample */
  { { 1, 7, 13, 17, 11, 5, 3, 0, 1 }, TRUE },       /* BigVGAN ups[0] geometry */
  { { 1, 6, 9, 23, 7, 3, 2, 0, 1 }, FALSE },        /* ups[1] */
  { { 1, 5, 3, 29, 4, 2, 1, 0, 1 }, TRUE },         /* ups[2..5] */
  { { 1, 4, 6, 13, 2, 3, 0, 2, 1 }, TRUE },         /* kernel shorter than the stride, output_padding */
  { { 1, 3, 4, 11, 9, 2, 5, 1, 1 }, FALSE },        /* padding past the first phase */
  { { 1, 70, 33, 37, 3, 1, 1, 0, 1 }, TRUE },       /* stride 1 */
  { { 1, 12, 9, 19, 5, 2, 2, 1, 3 }, TRUE },        /* groups */
  { { 2, 8, 8, 15, 4, 2, 1, 0, 8 }, FALSE },        /* depthwise, batch of two */
  { { 1, 9, 130, 41, 6, 4, 1, 3, 1 }, TRUE },       /* out channels past one tile */
};

static void
test_shapes (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (shapes); i++)
    check_conv_transpose ("conv_transpose1d shapes", shapes[i].c, MOR_TYPE_F32, shapes[i].bias, 10 * i + 1);
  check_conv_transpose ("conv_transpose1d f16", shapes[2].c, MOR_TYPE_F16, TRUE, 500);
  check_conv_transpose ("conv_transpose1d f16", shapes[8].c, MOR_TYPE_F16, FALSE, 501);
}

/* BigVGAN-like upsampling: ups[0] (k11, s5, p3) on 96 → 48 channels over 60
 * mel frames, and the last stage (k4, s2, p1) 48 → 24 channels. */
static void
test_bigvgan (void)
{
  MorConvTranspose1d up0 = { 1, 96, 48, 60, 11, 5, 3, 0, 1 };
  check_conv_transpose ("bigvgan ups[0]-like", up0, MOR_TYPE_F32, TRUE, 600);
  g_assert_cmpuint (mor_conv_transpose1d_out_length (&up0), ==, 5 * 60);
  MorConvTranspose1d up5 = { 1, 48, 24, 400, 4, 2, 1, 0, 1 };
  check_conv_transpose ("bigvgan ups[5]", up5, MOR_TYPE_F32, TRUE, 601);
  g_assert_cmpuint (mor_conv_transpose1d_out_length (&up5), ==, 2 * 400);
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  g_test_add_func ("/ops/conv_transpose1d/shapes", test_shapes);
  g_test_add_func ("/ops/conv_transpose1d/bigvgan", test_bigvgan);
  return g_test_run ();
}
