/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/ops/conv1d.c against its C reference. */
#include "harness.h"

#include <math.h>

#define Z MOR_PAD_ZEROS
#define R MOR_PAD_REFLECT
#define P MOR_PAD_REPLICATE

/* Runs one convolution on random data in [-1, 1) and compares it with the
 * reference (which sums the same rounded weights in fp64).
 * Tolerance: an fp32 sum of n = c_in_g·K unit-sized products drifts by about
 * u·sqrt(n)·|partial sum| ~ u·n/3 (u = 2^-24); 16× that per element, and the
 * normalised squared error over the whole output below 1e-11. */
static void
check_conv (const char *what, MorConv1d c, MorType w_type, gboolean with_bias, guint32 seed)
{
  guint32 t_out = mor_conv1d_out_length (&c), c_in_g = c.in_channels / c.groups;
  gsize nx = (gsize) c.n_batch * c.in_channels * c.length;
  gsize nw = (gsize) c.out_channels * c_in_g * c.kernel_size;
  gsize ny = (gsize) c.n_batch * c.out_channels * t_out;
  g_autofree float *x = harness_random (nx, -1, 1, seed);
  g_autofree float *wf = harness_random (nw, -1, 1, seed + 1);
  g_autofree float *bias = harness_random (c.out_channels, -1, 1, seed + 2);
  gsize w_bytes = nw * (w_type == MOR_TYPE_F32 ? 4 : 2);
  g_autofree guint16 *wh = g_new (guint16, nw);
  for (gsize i = 0; i < nw; i++)
    wh[i] = w_type == MOR_TYPE_F16 ? mor_f32_to_f16 (wf[i]) : mor_f32_to_bf16 (wf[i]);
  const void *w = w_type == MOR_TYPE_F32 ? (const void *) wf : (const void *) wh;
  g_autofree float *want = g_new (float, ny);
  mor_ref_conv1d (&c, w_type, x, w, with_bias ? bias : NULL, want);

  g_autoptr (MorVkBuffer) bx = harness_upload (x, nx * 4);
  g_autoptr (MorVkBuffer) bw = harness_upload (w, w_bytes);
  g_autoptr (MorVkBuffer) bb = harness_upload (bias, c.out_channels * 4);
  g_autoptr (MorVkBuffer) by = harness_output (ny * 4);
  g_autoptr (MorVkStream) s = harness_stream ();
  MorVkView none = { NULL, 0, 0 };
  mor_op_conv1d (s, &c, w_type, mor_vk_view (bx), mor_vk_view (bw), with_bias ? mor_vk_view (bb) : none,
                 mor_vk_view (by));
  harness_run (s);
  g_autofree float *got = harness_download (by, ny * 4);
  float atol = 16 * (c_in_g * c.kernel_size / 3.0f + 1) * 0x1p-24f;
  g_test_message ("%s: %u->%u ch, T %u->%u, K %u s %u d %u g %u pad %u/%u mode %d, %s: nmse %.3g", what,
                  c.in_channels, c.out_channels, c.length, t_out, c.kernel_size, c.stride, c.dilation, c.groups,
                  c.pad_left, c.pad_right, c.pad_mode, mor_type_name (w_type), harness_nmse (got, want, ny));
  harness_assert_close (what, got, want, ny, atol, 1e-6f);
  g_assert_cmpfloat (harness_nmse (got, want, ny), <, 1e-11);
}

/* Awkward geometry: length 1, primes, channel counts that are not multiples of
 * any tile, every padding mode, stride/dilation/groups combinations, batches. */
static const struct { MorConv1d c; gboolean bias; } shapes[] = {
  /*  b  in  out   T   K  s  d  g  pl pr  mode */
  { { 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, Z }, TRUE },
  { { 1, 3, 5, 1, 3, 1, 1, 1, 1, 1, Z }, FALSE },           /* T = 1 inside the padding */
  { { 1, 7, 13, 37, 5, 2, 1, 1, 2, 2, Z }, TRUE },
  { { 1, 5, 11, 41, 4, 3, 2, 1, 3, 1, Z }, FALSE },         /* asymmetric padding, s 3, d 2 */
  { { 1, 33, 70, 131, 3, 1, 1, 1, 1, 1, Z }, TRUE },        /* out channels past one 64-tile */
  { { 1, 17, 19, 2, 5, 1, 1, 1, 2, 2, Z }, TRUE },          /* kernel wider than the signal */
  { { 1, 9, 23, 67, 5, 1, 1, 1, 2, 2, R }, TRUE },          /* ECAPA: "same", reflect */
  { { 1, 9, 23, 67, 3, 1, 2, 1, 2, 2, R }, TRUE },
  { { 1, 9, 23, 67, 3, 1, 4, 1, 4, 4, R }, FALSE },
  { { 1, 4, 6, 5, 5, 1, 1, 1, 4, 4, R }, TRUE },            /* reflect pad = length - 1 */
  { { 1, 6, 10, 29, 7, 2, 1, 1, 3, 5, P }, TRUE },          /* replicate */
  { { 1, 3, 3, 3, 5, 1, 3, 1, 6, 6, P }, FALSE },           /* replicate far past the edge */
  { { 1, 12, 18, 53, 3, 1, 1, 3, 1, 1, Z }, TRUE },         /* groups, tiled */
  { { 1, 12, 6, 53, 3, 2, 2, 3, 2, 2, R }, TRUE },          /* groups, 2 out per group: direct */
  { { 1, 24, 24, 97, 7, 1, 1, 24, 3, 3, Z }, TRUE },        /* depthwise */
  { { 1, 24, 48, 31, 3, 1, 2, 24, 2, 2, P }, FALSE },       /* depthwise, multiplier 2 */
  { { 2, 10, 14, 43, 5, 1, 1, 1, 2, 2, R }, TRUE },         /* batch of two (CFG) */
  { { 3, 8, 4, 19, 3, 2, 1, 2, 1, 1, Z }, TRUE },           /* batch × groups, direct */
  { { 1, 300, 129, 1, 1, 1, 1, 1, 0, 0, Z }, TRUE },        /* 1×1 on one frame (ECAPA SE, fc) */
  { { 1, 20, 300, 257, 1, 1, 1, 1, 0, 0, Z }, TRUE },       /* long time axis, 1×1 */
  { { 1, 7, 9, 300, 3, 1, 1, 1, 1, 1, Z }, TRUE },          /* few channels: 16 × 256 tiles */
};

static void
test_shapes (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (shapes); i++)
    check_conv ("conv1d shapes", shapes[i].c, MOR_TYPE_F32, shapes[i].bias, 10 * i + 1);
}

/* Half-precision weights (the mmproj stores conv weights in F16) and bf16. */
static void
test_half_weights (void)
{
  static const guint picks[] = { 2, 6, 13, 15, 17 };
  for (guint i = 0; i < G_N_ELEMENTS (picks); i++) {
    check_conv ("conv1d f16", shapes[picks[i]].c, MOR_TYPE_F16, TRUE, 100 + i);
    check_conv ("conv1d bf16", shapes[picks[i]].c, MOR_TYPE_BF16, FALSE, 200 + i);
  }
}

/* Qwen2.5-Omni audio encoder conv1: Conv1d(128→1280, k3, s1, p1) over one
 * 200-frame chunk, F16 weights; conv2's stride-2 geometry on fewer channels. */
static void
test_encoder_conv (void)
{
  MorConv1d conv1 = { 1, 128, 1280, 200, 3, 1, 1, 1, 1, 1, Z };
  check_conv ("encoder conv1", conv1, MOR_TYPE_F16, TRUE, 300);
  MorConv1d conv2 = { 1, 256, 160, 200, 3, 2, 1, 1, 1, 1, Z };
  check_conv ("encoder conv2-like", conv2, MOR_TYPE_F16, TRUE, 301);
}

/* BigVGAN AMPBlock convolutions: "same" zero padding (K·d - d)/2 with
 * dilation 5 on a 96-channel stage, and conv_post (24→1, k7, no bias). */
static void
test_bigvgan_conv (void)
{
  MorConv1d amp = { 1, 96, 96, 300, 11, 1, 5, 1, 25, 25, Z };
  check_conv ("bigvgan amp conv", amp, MOR_TYPE_F32, TRUE, 400);
  MorConv1d post = { 1, 24, 1, 1000, 7, 1, 1, 1, 3, 3, Z };
  check_conv ("bigvgan conv_post", post, MOR_TYPE_F32, FALSE, 401);
}

/* mor_conv1d_same_padding and the output length formula against PyTorch's. */
static void
test_geometry (void)
{
  MorConv1d c = { 1, 4, 4, 100, 3, 1, 4, 1, 0, 0, R };
  mor_conv1d_same_padding (&c);
  g_assert_cmpuint (c.pad_left, ==, 4);
  g_assert_cmpuint (c.pad_right, ==, 4);
  g_assert_cmpuint (mor_conv1d_out_length (&c), ==, 100);
  c.kernel_size = 4;
  c.dilation = 1;
  mor_conv1d_same_padding (&c);       /* torch: total 3, left 1, right 2 */
  g_assert_cmpuint (c.pad_left, ==, 1);
  g_assert_cmpuint (c.pad_right, ==, 2);
  g_assert_cmpuint (mor_conv1d_out_length (&c), ==, 100);
  /* conv2 of the encoder: floor((200 + 2 - 2 - 1) / 2) + 1 = 100 */
  MorConv1d conv2 = { 1, 1280, 1280, 200, 3, 2, 1, 1, 1, 1, Z };
  g_assert_cmpuint (mor_conv1d_out_length (&conv2), ==, 100);
  conv2.length = 101;
  g_assert_cmpuint (mor_conv1d_out_length (&conv2), ==, 51);
}

/* Views into the middle of bigger buffers (aligned offsets), and a stream
 * replayed after its input changed. */
static void
test_views_replay (void)
{
  MorConv1d c = { 1, 5, 7, 33, 3, 1, 1, 1, 1, 1, R };
  guint32 t_out = mor_conv1d_out_length (&c);
  guint64 align = mor_vk_device_get_info (harness_device ())->min_storage_align;
  gsize nx = 5 * 33, nw = 7 * 5 * 3, ny = 7 * t_out;
  g_autofree float *w = harness_random (nw, -1, 1, 50);
  g_autoptr (MorVkBuffer) bw = harness_upload (w, nw * 4);
  g_autoptr (MorVkBuffer) bx = harness_output (align + nx * 4 + 64);
  g_autoptr (MorVkBuffer) by = harness_output (2 * align + ny * 4 + 64);
  MorVkView xv = mor_vk_view_sub (mor_vk_view (bx), align, nx * 4 + 64);
  MorVkView yv = mor_vk_view_sub (mor_vk_view (by), 2 * align, ny * 4 + 64);
  g_autoptr (MorVkStream) s = harness_stream ();
  MorVkView none = { NULL, 0, 0 };
  mor_op_conv1d (s, &c, MOR_TYPE_F32, xv, mor_vk_view (bw), none, yv);
  g_autoptr (GError) error = NULL;
  mor_vk_stream_end (s, &error);
  g_assert_no_error (error);
  for (guint round = 0; round < 3; round++) {
    g_autofree float *x = harness_random (nx, -2, 2, 60 + round);
    g_autofree float *want = g_new (float, ny);
    mor_ref_conv1d (&c, MOR_TYPE_F32, x, w, NULL, want);
    mor_vk_buffer_upload (bx, align, x, nx * 4, &error);
    g_assert_no_error (error);
    mor_vk_stream_submit (s, &error);
    g_assert_no_error (error);
    g_autofree float *all = harness_download (by, 2 * align + ny * 4);
    harness_assert_close ("conv1d views", all + 2 * align / 4, want, ny, 1e-5f, 1e-6f);
    g_assert_true (isnan (all[0]) && isnan (all[2 * align / 4 - 1]));   /* nothing before the view */
  }
}

/* A signal longer than one storage binding may cover is an error of the
 * recording (MOR_VK_ERROR_UNSUPPORTED), not a crash. Only run where that
 * limit is small (lavapipe: 128 MiB). */
static void
test_too_big (void)
{
  guint64 limit = mor_vk_device_get_info (harness_device ())->max_storage_range;
  if (limit > 256u << 20) {
    g_test_skip ("max_storage_range too large to exceed cheaply");
    return;
  }
  guint32 length = (guint32) (limit / 4 + 16);
  g_autoptr (GError) error = NULL;
  g_autoptr (MorVkBuffer) bx = mor_vk_buffer_new (harness_device (), (guint64) length * 4, MOR_VK_MEMORY_DEVICE,
                                                   &error);
  g_assert_no_error (error);
  float w[3] = { 1, 2, 3 };
  g_autoptr (MorVkBuffer) bw = harness_upload (w, sizeof w);
  MorConv1d c = { 1, 1, 1, length, 3, 2, 1, 1, 1, 1, Z };
  g_autoptr (MorVkStream) s = harness_stream ();
  MorVkView none = { NULL, 0, 0 };
  mor_op_conv1d (s, &c, MOR_TYPE_F32, mor_vk_view (bx), mor_vk_view (bw), none, mor_vk_view (bx));
  g_assert_false (mor_vk_stream_end (s, &error));
  g_assert_error (error, MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED);
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  g_test_add_func ("/ops/conv1d/geometry", test_geometry);
  g_test_add_func ("/ops/conv1d/shapes", test_shapes);
  g_test_add_func ("/ops/conv1d/half-weights", test_half_weights);
  g_test_add_func ("/ops/conv1d/encoder", test_encoder_conv);
  g_test_add_func ("/ops/conv1d/bigvgan", test_bigvgan_conv);
  g_test_add_func ("/ops/conv1d/views-replay", test_views_replay);
  g_test_add_func ("/ops/conv1d/too-big", test_too_big);
  return g_test_run ();
}
