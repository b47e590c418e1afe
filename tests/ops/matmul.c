/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/ops/matmul.c against its C reference, for every weight type. */
#include "harness.h"

#include <math.h>
#include <string.h>

static const MorType types[] = {
  MOR_TYPE_F32, MOR_TYPE_F16, MOR_TYPE_BF16, MOR_TYPE_Q8_0, MOR_TYPE_Q4_0, MOR_TYPE_Q4_K, MOR_TYPE_Q6_K,
};

/* M × K × N, with and without bias: single elements, sizes just past the
 * tiles (64 and 256 rows, 8 to 64 columns on the devices' variants),
 * partial tiles at every edge, and a model size (Qwen2.5 hidden 2048). K is
 * rounded up to the block size (32 or 256) for block types; the prime K are
 * for the float types (K not a multiple of 4: the shared-memory variant with
 * element-wise loads, also on CPU devices). */
static const struct { guint32 M, K, N; gboolean bias; } shapes[] = {
  { 1, 32, 1, FALSE }, { 7, 64, 3, TRUE }, { 33, 96, 17, FALSE }, { 130, 256, 65, TRUE },
  { 257, 160, 9, TRUE }, { 61, 37, 23, TRUE }, { 97, 101, 41, FALSE }, { 64, 2048, 128, TRUE },
};

static guint32
round_up (guint32 n, guint32 to)
{
  return (n + to - 1) / to * to;
}

/* @M rows of @K random values in [-1, 1) as @type; also their values as f32. */
static guint8 *
random_weights (MorType type, guint32 M, guint32 K, guint32 seed, float **values)
{
  guint64 row_bytes = mor_type_row_bytes (type, K);
  guint8 *w = g_malloc (M * row_bytes);
  float *src = harness_random ((gsize) M * K, -1, 1, seed);
  for (guint32 m = 0; m < M; m++) {
    mor_quantize_row (type, src + (gsize) m * K, w + m * row_bytes, K);
    mor_ref_dequantize_row (type, w + m * row_bytes, src + (gsize) m * K, K);
  }
  *values = src;
  return w;
}

/* Both sides use the same weight values (the dequantization is exact); they
 * differ in summation: fp32 in tile order on the GPU, fp64 in the reference.
 * A sum of K terms accumulated in fp32 is off by about 2⁻²⁴·√K times the
 * size of its terms Σ|w·x| (a random walk of roundings), so an element may
 * be off by 4·2⁻²⁴·√K·Σ|w·x| + 2⁻²³·|want|, the same for every type. On
 * lavapipe the worst error seen is an eighth of that; a missing or doubled
 * term (|w·x| ~ 0.25) is far above it. */
static void
check (const char *what, const float *wv, const float *x, const float *got, const float *want,
       guint32 M, guint32 K, guint32 N)
{
  for (guint32 n = 0; n < N; n++) {
    for (guint32 m = 0; m < M; m++) {
      double mag = 0;
      for (guint32 k = 0; k < K; k++)
        mag += fabs ((double) wv[(gsize) m * K + k] * x[(gsize) n * K + k]);
      gsize i = (gsize) n * M + m;
      double tol = 4 * sqrt (K) * mag / (1 << 24) + fabs (want[i]) / (1 << 23);
      if (!(fabs ((double) got[i] - want[i]) <= tol)) {
        g_test_fail_printf ("%s: y[%u, %u]: got %.8g, want %.8g (tol %.3g)", what, n, m, got[i], want[i], tol);
        return;
      }
    }
  }
}

/* One product on fresh buffers; the views start @offset bytes into them, and
 * w's view is padded to 16 bytes (the 64-bit loads of the CPU variant want a
 * multiple of 8) unless @exact. */
static void
run_case (MorType type, guint32 M, guint32 K, guint32 N, gboolean with_bias, guint32 offset, gboolean exact,
          guint32 seed)
{
  g_autofree char *what = g_strdup_printf ("matmul %s %ux%ux%u%s%s", mor_type_name (type), M, K, N,
                                           with_bias ? " +bias" : "", offset ? " (offset views)" : "");
  g_autofree float *wv = NULL;
  g_autofree guint8 *w = random_weights (type, M, K, seed, &wv);
  gsize wbytes = mor_type_row_bytes (type, K) * M, wview = exact ? wbytes : (wbytes + 15) / 16 * 16;
  g_autofree float *x = harness_random ((gsize) N * K, -1, 1, seed + 1);
  g_autofree float *b = harness_random (M, -1, 1, seed + 2);
  g_autofree float *want = g_new (float, (gsize) N * M);
  mor_ref_matmul (type, w, x, with_bias ? b : NULL, want, M, K, N);

  g_autofree guint8 *wpad = g_malloc0 (offset + wview);
  memcpy (wpad + offset, w, wbytes);
  g_autofree float *xpad = g_malloc0 (offset + (gsize) N * K * 4);
  memcpy ((guint8 *) xpad + offset, x, (gsize) N * K * 4);
  g_autoptr (MorVkBuffer) bw = harness_upload (wpad, offset + wview);
  g_autoptr (MorVkBuffer) bx = harness_upload (xpad, offset + (gsize) N * K * 4);
  g_autoptr (MorVkBuffer) bb = harness_upload (b, (gsize) M * 4);
  g_autoptr (MorVkBuffer) by = harness_output (offset + (gsize) N * M * 4);
  MorVkView bias = { NULL, 0, 0 };
  if (with_bias)
    bias = mor_vk_view (bb);
  g_autoptr (MorVkStream) s = harness_stream ();
  mor_op_matmul (s, type, mor_vk_view_sub (mor_vk_view (bw), offset, wview),
                 mor_vk_view_sub (mor_vk_view (bx), offset, (gsize) N * K * 4), bias,
                 mor_vk_view_sub (mor_vk_view (by), offset, (gsize) N * M * 4), M, K, N);
  harness_run (s);
  g_autofree guint8 *got = harness_download (by, offset + (gsize) N * M * 4);
  check (what, wv, x, (const float *) (got + offset), want, M, K, N);
}

static void
test_shapes (gconstpointer data)
{
  MorType type = GPOINTER_TO_INT (data);
  guint32 bs = mor_type_block_size (type);
  for (guint c = 0; c < G_N_ELEMENTS (shapes); c++)
    run_case (type, shapes[c].M, round_up (shapes[c].K, bs), shapes[c].N, shapes[c].bias, 0, FALSE, 10 * c);
}

/* Views that start past the beginning of their buffers (one
 * min_storage_align step, so still bindable), and weights whose view ends
 * exactly at their last byte (33 rows of 3 Q8_0 blocks, 3366 bytes: not a
 * multiple of 8, so no 64-bit loads). */
static void
test_views (void)
{
  guint32 align = (guint32) mor_vk_device_get_info (harness_device ())->min_storage_align;
  run_case (MOR_TYPE_F16, 45, 128, 19, TRUE, align, FALSE, 100);
  run_case (MOR_TYPE_Q8_0, 45, 160, 19, FALSE, align, FALSE, 101);
  run_case (MOR_TYPE_F32, 45, 43, 19, TRUE, align, FALSE, 102);
  run_case (MOR_TYPE_Q8_0, 33, 96, 40, TRUE, 0, TRUE, 103);
  run_case (MOR_TYPE_Q4_0, 33, 96, 40, TRUE, align, TRUE, 104);
}

/* A stream recorded once and replayed after x changed: nothing about the
 * values is baked into the recording. */
static void
test_replay (void)
{
  guint32 M = 70, K = 64, N = 9;
  g_autofree float *wv = NULL;
  g_autofree guint8 *w = random_weights (MOR_TYPE_Q8_0, M, K, 200, &wv);
  g_autoptr (MorVkBuffer) bw = harness_upload (w, mor_type_row_bytes (MOR_TYPE_Q8_0, K) * M);
  g_autoptr (MorVkBuffer) bx = harness_output ((gsize) N * K * 4);
  g_autoptr (MorVkBuffer) by = harness_output ((gsize) N * M * 4);
  MorVkView none = { NULL, 0, 0 };
  g_autoptr (MorVkStream) s = harness_stream ();
  mor_op_matmul (s, MOR_TYPE_Q8_0, mor_vk_view (bw), mor_vk_view (bx), none, mor_vk_view (by), M, K, N);
  g_autoptr (GError) error = NULL;
  mor_vk_stream_end (s, &error);
  g_assert_no_error (error);
  for (guint32 round = 0; round < 3; round++) {
    g_autofree float *x = harness_random ((gsize) N * K, -2, 2, 210 + round);
    g_autofree float *want = g_new (float, (gsize) N * M);
    mor_ref_matmul (MOR_TYPE_Q8_0, w, x, NULL, want, M, K, N);
    mor_vk_buffer_upload (bx, 0, x, (gsize) N * K * 4, &error);
    g_assert_no_error (error);
    mor_vk_stream_submit (s, &error);
    g_assert_no_error (error);
    g_autofree float *got = harness_download (by, (gsize) N * M * 4);
    check ("matmul replay", wv, x, got, want, M, K, N);
  }
}

/* Weights larger than one storage binding (lavapipe: 128 MiB): 33000 × 2048
 * f16 is 135 MB, bound in row windows, each writing its columns of y. */
static void
test_big_weights (void)
{
  const MorVkDeviceInfo *info = mor_vk_device_get_info (harness_device ());
  guint32 M = 33000, K = 2048, N = 2;
  if ((guint64) M * K * 2 <= info->max_storage_range || (guint64) M * K * 2 > info->max_buffer_size) {
    g_test_skip ("the weights fit one binding on this device, or exceed one buffer");
    return;
  }
  run_case (MOR_TYPE_F16, M, K, N, TRUE, 0, FALSE, 300);
}

/* Outputs larger than one binding: y [1040, 33000] f32 is 137 MB, bound in
 * windows of tokens (x and y rows). */
static void
test_big_output (void)
{
  const MorVkDeviceInfo *info = mor_vk_device_get_info (harness_device ());
  guint32 M = 33000, K = 8, N = 1040;
  if ((guint64) M * N * 4 <= info->max_storage_range || (guint64) M * N * 4 > info->max_buffer_size) {
    g_test_skip ("the output fits one binding on this device, or exceeds one buffer");
    return;
  }
  run_case (MOR_TYPE_F32, M, K, N, FALSE, 0, FALSE, 400);
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  for (guint t = 0; t < G_N_ELEMENTS (types); t++) {
    g_autofree char *path = g_strdup_printf ("/ops/matmul/shapes/%s", mor_type_name (types[t]));
    g_test_add_data_func (path, GINT_TO_POINTER (types[t]), test_shapes);
  }
  g_test_add_func ("/ops/matmul/views", test_views);
  g_test_add_func ("/ops/matmul/replay", test_replay);
  g_test_add_func ("/ops/matmul/big-weights", test_big_weights);
  g_test_add_func ("/ops/matmul/big-output", test_big_output);
  return g_test_run ();
}
