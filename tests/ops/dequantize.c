/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/ops/dequantize.c against its C reference. */
#include "harness.h"

#include <math.h>
#include <string.h>

static const MorType all_types[] = { MOR_TYPE_F32, MOR_TYPE_F16, MOR_TYPE_BF16, MOR_TYPE_Q8_0,
                                     MOR_TYPE_Q4_0, MOR_TYPE_Q4_K, MOR_TYPE_Q6_K };

/* Element counts in blocks: one block, a few, and counts that leave a partial
 * workgroup (256 invocations × 4 elements) and, for float types, n % 4 != 0. */
static const guint64 float_sizes[] = { 1, 3, 4, 5, 1023, 1025, 65537 };
static const guint64 block_counts[] = { 1, 3, 33, 257 };

/* Random blocks: random bytes with every scale field overwritten by a finite
 * f16, so that every bit pattern of the quants and packed scales appears. */
static guint8 *
random_blocks (MorType type, guint64 n, guint32 seed)
{
  guint64 bytes = mor_type_row_bytes (type, n);
  guint32 bb = mor_type_block_bytes (type);
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  guint8 *q = g_malloc (bytes);
  for (guint64 i = 0; i < bytes; i++)
    q[i] = (guint8) g_rand_int (rand);
  for (guint64 b = 0; b < bytes / bb; b++) {
    guint8 *blk = q + b * bb;
    /* the f16 fields: Q8_0/Q4_0 d at 0; Q4_K d, dmin at 0, 2; Q6_K d at 208 */
    guint offs[2] = { type == MOR_TYPE_Q6_K ? 208 : 0, type == MOR_TYPE_Q4_K ? 2 : G_MAXUINT };
    for (guint k = 0; k < 2; k++) {
      if (offs[k] == G_MAXUINT)
        continue;
      guint16 h = mor_f32_to_f16 ((float) g_rand_double_range (rand, -1.0, 1.0) * 0.01f);
      blk[offs[k]] = h & 0xff;
      blk[offs[k] + 1] = h >> 8;
    }
  }
  return q;
}

/* Runs the op on @n elements at @q and returns the result; @n_dispatches
 * (or NULL) gets the number of dispatches it recorded. */
static float *
run_dequantize_counted (MorType type, const void *q, guint64 n, guint *n_dispatches)
{
  guint64 bytes = mor_type_row_bytes (type, n);
  g_autoptr (MorVkBuffer) ba = harness_upload (q, bytes);
  g_autoptr (MorVkBuffer) by = harness_output (n * 4);
  g_autoptr (MorVkStream) s = harness_stream ();
  mor_op_dequantize (s, type, mor_vk_view (ba), mor_vk_view (by), n);
  if (n_dispatches)
    *n_dispatches = mor_vk_stream_n_dispatches (s);
  harness_run (s);
  return harness_download (by, n * 4);
}

static float *
run_dequantize (MorType type, const void *q, guint64 n)
{
  return run_dequantize_counted (type, q, n, NULL);
}

/* Float types convert exactly: bit-equal, NaN for NaN. */
static void
assert_same_bits (const char *what, const float *got, const float *want, guint64 n)
{
  for (guint64 i = 0; i < n; i++) {
    guint32 g, w;
    memcpy (&g, &got[i], 4);
    memcpy (&w, &want[i], 4);
    if (isnan (want[i]) ? !isnan (got[i]) : g != w) {
      g_test_fail_printf ("%s: element %" G_GUINT64_FORMAT ": got 0x%08x, want 0x%08x", what, i, g, w);
      return;
    }
  }
}

/* Block types: d·sc·q - dmin·m may be contracted to an fma on the GPU, so allow
 * a few ulps of the row's largest value: |got - want| ≤ 2^-20 · max|want|. */
static void
assert_block_close (const char *what, const float *got, const float *want, guint64 n)
{
  float amax = 0.0f;
  for (guint64 i = 0; i < n; i++)
    amax = MAX (amax, fabsf (want[i]));
  harness_assert_close (what, got, want, n, ldexpf (amax, -20), 0.0f);
}

static void
test_float_types (void)
{
  for (guint t = 0; t < 3; t++) {
    MorType type = all_types[t];
    for (guint c = 0; c < G_N_ELEMENTS (float_sizes); c++) {
      guint64 n = float_sizes[c];
      g_autofree float *x = harness_random (n, -1000, 1000, 10 * c + t);
      g_autofree guint8 *q = g_malloc (mor_type_row_bytes (type, n));
      mor_quantize_row (type, x, q, n);
      g_autofree float *want = g_new (float, n);
      mor_ref_dequantize (type, q, want, n);
      g_autofree float *got = run_dequantize (type, q, n);
      g_autofree char *what = g_strdup_printf ("dequantize %s n=%" G_GUINT64_FORMAT, mor_type_name (type), n);
      assert_same_bits (what, got, want, n);
    }
  }
}

/* Every f16 and bf16 bit pattern: zeros, subnormals, Inf, NaN. */
static void
test_all_halves (void)
{
  static const MorType types[] = { MOR_TYPE_F16, MOR_TYPE_BF16 };
  g_autofree guint16 *h = g_new (guint16, 65536);
  for (guint i = 0; i < 65536; i++)
    h[i] = (guint16) i;
  for (guint t = 0; t < G_N_ELEMENTS (types); t++) {
    g_autofree float *want = g_new (float, 65536);
    mor_ref_dequantize (types[t], h, want, 65536);
    g_autofree float *got = run_dequantize (types[t], h, 65536);
    assert_same_bits (mor_type_name (types[t]), got, want, 65536);
  }
}

static void
test_block_types (void)
{
  for (guint t = 3; t < G_N_ELEMENTS (all_types); t++) {
    MorType type = all_types[t];
    for (guint c = 0; c < G_N_ELEMENTS (block_counts); c++) {
      guint64 n = block_counts[c] * mor_type_block_size (type);
      g_autofree guint8 *q = random_blocks (type, n, 100 * t + c);
      g_autofree float *want = g_new (float, n);
      mor_ref_dequantize (type, q, want, n);
      g_autofree float *got = run_dequantize (type, q, n);
      g_autofree char *what = g_strdup_printf ("dequantize %s n=%" G_GUINT64_FORMAT, mor_type_name (type), n);
      assert_block_close (what, got, want, n);
    }
  }
}

/* Blocks made by mor_quantize_row() from smooth data of varying scale. */
static void
test_quantized_data (void)
{
  for (guint t = 3; t < G_N_ELEMENTS (all_types); t++) {
    MorType type = all_types[t];
    guint64 n = 4096 + 3 * 256;
    g_autofree float *x = harness_random (n, -1, 1, 7 + t);
    for (guint64 i = 0; i < n; i++)
      x[i] *= ldexpf (1.0f, (int) (i / 512) - 3);
    g_autofree guint8 *q = g_malloc (mor_type_row_bytes (type, n));
    mor_quantize_row (type, x, q, n);
    g_autofree float *want = g_new (float, n);
    mor_ref_dequantize (type, q, want, n);
    g_autofree float *got = run_dequantize (type, q, n);
    assert_block_close (mor_type_name (type), got, want, n);
  }
}

/* More elements than one binding holds as f32 (lavapipe: 128 MiB, 2^25
 * floats): the op splits them into aligned chunks. About 3 s on lavapipe
 * (half a GB of host copies), so with -m slow only. */
static void
test_big (void)
{
  const MorVkDeviceInfo *info = mor_vk_device_get_info (harness_device ());
  if (!g_test_slow ()) {
    g_test_skip ("a tensor larger than one binding: run with -m slow");
    return;
  }
  if (info->max_storage_range > 256u << 20) {
    g_test_skip ("this device binds more than 256 MiB: a tensor larger than that would take too long here");
    return;
  }
  guint64 n = info->max_storage_range / 4 + 4099;
  g_autofree guint16 *h = g_new (guint16, n);
  for (guint64 i = 0; i < n; i++)
    h[i] = (guint16) ((i * 2654435761u) >> 7) & 0xfbff;   /* no Inf/NaN exponent */
  g_autofree float *want = g_new (float, n);
  mor_ref_dequantize (MOR_TYPE_F16, h, want, n);
  guint n_dispatches = 0;
  g_autofree float *got = run_dequantize_counted (MOR_TYPE_F16, h, n, &n_dispatches);
  g_assert_cmpuint (n_dispatches, ==, 2);
  assert_same_bits ("dequantize f16, more than one binding", got, want, n);
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  g_test_add_func ("/ops/dequantize/float-types", test_float_types);
  g_test_add_func ("/ops/dequantize/all-halves", test_all_halves);
  g_test_add_func ("/ops/dequantize/block-types", test_block_types);
  g_test_add_func ("/ops/dequantize/quantized-data", test_quantized_data);
  g_test_add_func ("/ops/dequantize/big", test_big);
  return g_test_run ();
}
