/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/ops/attention.c (with model/ops/kv_store.c filling the
 * cache, as the decoder does) against their C references. */
#include "harness.h"

#include <math.h>
#include <string.h>

/* Outputs are softmax-weighted means of v in [−1, 1]. fp32 with another
 * summation order (lanes, batches, splits), the scale folded into q and the
 * device's exp(): a few ulps of each score and weight. Every case here stays
 * within 1e-6 absolute on lavapipe; the bound leaves a margin for other
 * devices' exp(). An f16 cache is compared with a reference that reads the
 * same f16 values, so it gets the same bound. */
#define ATOL 5e-6f
#define RTOL 5e-5f

typedef struct {
  guint32 n_heads, n_kv_heads, head_dim;
} Heads;

/* Qwen2.5-0.5B / talker (G = 7), the audio encoder and DiT (G = 1, 64 and a
 * 128-wide variant), the 3B thinker's head_dim with G = 2, G = 8. */
static const Heads qwen05 = { 14, 2, 64 };
static const Heads mha64 = { 4, 4, 64 };
static const Heads mha128 = { 3, 3, 128 };
static const Heads gqa2 = { 4, 2, 128 };
static const Heads gqa8 = { 8, 1, 64 };
/* head_dim not a multiple of the lanes' vec4s: some lanes hold no dims. */
static const Heads odd = { 3, 1, 36 };

static MorVkBuffer *
position_buffer (guint32 p0)
{
  g_autoptr (GError) error = NULL;
  MorVkBuffer *b = mor_vk_buffer_new (harness_device (), 16, MOR_VK_MEMORY_HOST, &error);
  g_assert_no_error (error);
  mor_vk_buffer_upload (b, 0, &p0, 4, &error);
  g_assert_no_error (error);
  return b;
}

static void
upload (MorVkBuffer *b, const void *data, gsize size)
{
  g_autoptr (GError) error = NULL;
  mor_vk_buffer_upload (b, 0, data, size, &error);
  g_assert_no_error (error);
}

/* @n random K or V values in [−1, 1). For an f16 cache they are f16 values
 * already, so that kv_store's conversion is exact whatever rounding mode
 * the device uses, and the reference reads what the shader reads. */
static float *
random_kv (gsize n, MorType type, guint32 seed)
{
  float *x = harness_random (n, -1, 1, seed);
  for (gsize i = 0; type == MOR_TYPE_F16 && i < n; i++)
    x[i] = mor_f16_to_f32 (mor_f32_to_f16 (x[i]));
  return x;
}

/* A scratch buffer for split attention (at least 16 bytes: a binding is never empty). */
static MorVkBuffer *
scratch_buffer (guint32 n_q, const Heads *hd)
{
  guint64 size = mor_op_attention_scratch_size (harness_device (), n_q, hd->n_heads, hd->n_kv_heads,
                                                hd->head_dim);
  return harness_output (MAX (size, 16));
}

/* A host copy of a cache: its bytes, as the device holds them. */
static gsize
cache_bytes (const Heads *hd, guint32 max_ctx, MorType type)
{
  return (gsize) max_ctx * hd->n_kv_heads * hd->head_dim * (type == MOR_TYPE_F16 ? 2 : 4);
}

/* Decode as the thinker runs it: kv_store K, kv_store V and attention_cached
 * recorded once for one token, replayed at positions 0..n_steps−1 with only
 * the position buffer and the new q/k/v rows changing; every step is checked.
 * The cache starts as NaN, so a read past the current position fails. */
static void
decode_case (const Heads *hd, MorType type, guint32 n_steps)
{
  guint32 row = hd->n_kv_heads * hd->head_dim, qrow = hd->n_heads * hd->head_dim;
  guint32 max_ctx = n_steps + 3;
  gsize bytes = cache_bytes (hd, max_ctx, type);
  g_autoptr (MorVkBuffer) kc = harness_output (bytes);
  g_autoptr (MorVkBuffer) vc = harness_output (bytes);
  g_autofree guint8 *kh = harness_download (kc, bytes);
  g_autofree guint8 *vh = harness_download (vc, bytes);
  g_autoptr (MorVkBuffer) bq = harness_output (qrow * 4);
  g_autoptr (MorVkBuffer) bk = harness_output (row * 4);
  g_autoptr (MorVkBuffer) bv = harness_output (row * 4);
  g_autoptr (MorVkBuffer) out = harness_output (qrow * 4);
  g_autoptr (MorVkBuffer) pos = position_buffer (0);
  g_autoptr (MorVkBuffer) scratch = scratch_buffer (1, hd);
  float scale = 1.0f / sqrtf ((float) hd->head_dim);

  g_autoptr (MorVkStream) s = harness_stream ();
  mor_op_kv_store (s, mor_vk_view (bk), mor_vk_view (pos), mor_vk_view (kc), 1, row, max_ctx, type);
  mor_op_kv_store (s, mor_vk_view (bv), mor_vk_view (pos), mor_vk_view (vc), 1, row, max_ctx, type);
  mor_op_attention_cached (s, mor_vk_view (bq), mor_vk_view (kc), mor_vk_view (vc), mor_vk_view (pos),
                           mor_vk_view (scratch), mor_vk_view (out), 1, max_ctx, hd->n_heads, hd->n_kv_heads,
                           hd->head_dim, scale, type);
  g_autoptr (GError) error = NULL;
  mor_vk_stream_end (s, &error);
  g_assert_no_error (error);

  g_autofree float *want = g_new (float, qrow);
  for (guint32 p0 = 0; p0 < n_steps; p0++) {
    g_autofree float *q = harness_random (qrow, -1, 1, 1000 + p0);
    g_autofree float *k = random_kv (row, type, 2000 + p0);
    g_autofree float *v = random_kv (row, type, 3000 + p0);
    upload (bq, q, qrow * 4);
    upload (bk, k, row * 4);
    upload (bv, v, row * 4);
    upload (pos, &p0, 4);
    mor_vk_stream_submit (s, &error);
    g_assert_no_error (error);
    mor_ref_kv_store (k, p0, kh, 1, row, max_ctx, type);
    mor_ref_kv_store (v, p0, vh, 1, row, max_ctx, type);
    mor_ref_attention_cached (q, kh, vh, p0, want, 1, max_ctx, hd->n_heads, hd->n_kv_heads, hd->head_dim,
                              scale, type);
    g_autofree float *got = harness_download (out, qrow * 4);
    g_autofree char *what = g_strdup_printf ("decode %u/%u×%u %s at position %u", hd->n_heads,
                                             hd->n_kv_heads, hd->head_dim, mor_type_name (type), p0);
    harness_assert_close (what, got, want, qrow, ATOL, RTOL);
    if (g_test_failed ())
      return;
  }
}

static void
test_decode (void)
{
  decode_case (&qwen05, MOR_TYPE_F32, 320);   /* a cache of 300+ tokens */
  decode_case (&qwen05, MOR_TYPE_F16, 40);
  decode_case (&mha64, MOR_TYPE_F32, 40);
  decode_case (&mha128, MOR_TYPE_F32, 40);
  decode_case (&gqa2, MOR_TYPE_F32, 40);
  decode_case (&gqa8, MOR_TYPE_F16, 70);
  decode_case (&odd, MOR_TYPE_F16, 20);
}

/* Prefill of n_q tokens at p0 > 0 over a cache already holding p0 rows. */
static void
prefill_case (const Heads *hd, MorType type, guint32 n_q, guint32 p0)
{
  guint32 row = hd->n_kv_heads * hd->head_dim, qrow = hd->n_heads * hd->head_dim;
  guint32 max_ctx = p0 + n_q + 5;
  gsize bytes = cache_bytes (hd, max_ctx, type);
  /* Rows past p0 + n_q stay NaN (all-ones bytes): neither side may read them. */
  g_autofree float *past_k = harness_random ((gsize) p0 * row, -1, 1, 7);
  g_autofree float *past_v = harness_random ((gsize) p0 * row, -1, 1, 8);
  g_autofree guint8 *kh = g_malloc (bytes);
  g_autofree guint8 *vh = g_malloc (bytes);
  memset (kh, 0xff, bytes);
  memset (vh, 0xff, bytes);
  mor_ref_kv_store (past_k, 0, kh, p0, row, max_ctx, type);
  mor_ref_kv_store (past_v, 0, vh, p0, row, max_ctx, type);
  g_autofree float *q = harness_random ((gsize) n_q * qrow, -1, 1, 11 + n_q);
  g_autofree float *k = random_kv ((gsize) n_q * row, type, 12 + n_q);
  g_autofree float *v = random_kv ((gsize) n_q * row, type, 13 + n_q);

  g_autoptr (MorVkBuffer) kc = harness_upload (kh, bytes);
  g_autoptr (MorVkBuffer) vc = harness_upload (vh, bytes);
  g_autoptr (MorVkBuffer) bq = harness_upload (q, (gsize) n_q * qrow * 4);
  g_autoptr (MorVkBuffer) bk = harness_upload (k, (gsize) n_q * row * 4);
  g_autoptr (MorVkBuffer) bv = harness_upload (v, (gsize) n_q * row * 4);
  g_autoptr (MorVkBuffer) out = harness_output ((gsize) n_q * qrow * 4);
  g_autoptr (MorVkBuffer) pos = position_buffer (p0);
  g_autoptr (MorVkBuffer) scratch = scratch_buffer (n_q, hd);
  float scale = 1.0f / sqrtf ((float) hd->head_dim);
  g_autoptr (MorVkStream) s = harness_stream ();
  mor_op_kv_store (s, mor_vk_view (bk), mor_vk_view (pos), mor_vk_view (kc), n_q, row, max_ctx, type);
  mor_op_kv_store (s, mor_vk_view (bv), mor_vk_view (pos), mor_vk_view (vc), n_q, row, max_ctx, type);
  mor_op_attention_cached (s, mor_vk_view (bq), mor_vk_view (kc), mor_vk_view (vc), mor_vk_view (pos),
                           mor_vk_view (scratch), mor_vk_view (out), n_q, max_ctx, hd->n_heads, hd->n_kv_heads,
                           hd->head_dim, scale, type);
  harness_run (s);

  mor_ref_kv_store (k, p0, kh, n_q, row, max_ctx, type);
  mor_ref_kv_store (v, p0, vh, n_q, row, max_ctx, type);
  g_autofree float *want = g_new (float, (gsize) n_q * qrow);
  mor_ref_attention_cached (q, kh, vh, p0, want, n_q, max_ctx, hd->n_heads, hd->n_kv_heads, hd->head_dim, scale,
                            type);
  g_autofree float *got = harness_download (out, (gsize) n_q * qrow * 4);
  g_autofree char *what = g_strdup_printf ("prefill %u/%u×%u %s, %u tokens at %u", hd->n_heads, hd->n_kv_heads,
                                           hd->head_dim, mor_type_name (type), n_q, p0);
  harness_assert_close (what, got, want, (gsize) n_q * qrow, ATOL, RTOL);
}

static void
test_prefill (void)
{
  prefill_case (&qwen05, MOR_TYPE_F32, 1, 9);
  prefill_case (&qwen05, MOR_TYPE_F32, 5, 37);
  prefill_case (&qwen05, MOR_TYPE_F16, 64, 100);
  prefill_case (&mha64, MOR_TYPE_F32, 64, 3);
  prefill_case (&mha128, MOR_TYPE_F32, 5, 130);
  prefill_case (&gqa2, MOR_TYPE_F32, 64, 1);
  prefill_case (&gqa8, MOR_TYPE_F32, 5, 61);
  prefill_case (&odd, MOR_TYPE_F32, 13, 17);
}

/* Non-causal or block-masked self attention (n_q may differ from n_kv). */
static void
encoder_case (const Heads *hd, guint32 n_q, guint32 n_kv, guint32 block_size, guint32 look_back,
              guint32 look_ahead)
{
  guint32 qrow = hd->n_heads * hd->head_dim, row = hd->n_kv_heads * hd->head_dim;
  g_autofree float *q = harness_random ((gsize) n_q * qrow, -1, 1, 21 + n_q);
  g_autofree float *k = harness_random ((gsize) n_kv * row, -1, 1, 22 + n_kv);
  g_autofree float *v = harness_random ((gsize) n_kv * row, -1, 1, 23 + n_kv);
  g_autoptr (MorVkBuffer) bq = harness_upload (q, (gsize) n_q * qrow * 4);
  g_autoptr (MorVkBuffer) bk = harness_upload (k, (gsize) n_kv * row * 4);
  g_autoptr (MorVkBuffer) bv = harness_upload (v, (gsize) n_kv * row * 4);
  g_autoptr (MorVkBuffer) out = harness_output ((gsize) n_q * qrow * 4);
  float scale = 1.0f / sqrtf ((float) hd->head_dim);
  g_autoptr (MorVkStream) s = harness_stream ();
  mor_op_attention (s, mor_vk_view (bq), mor_vk_view (bk), mor_vk_view (bv), mor_vk_view (out), n_q, n_kv,
                    hd->n_heads, hd->n_kv_heads, hd->head_dim, scale, block_size, look_back, look_ahead);
  harness_run (s);
  g_autofree float *want = g_new (float, (gsize) n_q * qrow);
  mor_ref_attention (q, k, v, want, n_q, n_kv, hd->n_heads, hd->n_kv_heads, hd->head_dim, scale, block_size,
                     look_back, look_ahead);
  g_autofree float *got = harness_download (out, (gsize) n_q * qrow * 4);
  g_autofree char *what = g_strdup_printf ("attention %u/%u×%u, %u queries over %u keys, blocks %u (−%u, +%u)",
                                           hd->n_heads, hd->n_kv_heads, hd->head_dim, n_q, n_kv, block_size,
                                           look_back, look_ahead);
  harness_assert_close (what, got, want, (gsize) n_q * qrow, ATOL, RTOL);
}

static void
test_non_causal (void)
{
  encoder_case (&mha64, 1, 1, 0, 0, 0);
  encoder_case (&mha64, 7, 7, 0, 0, 0);
  encoder_case (&mha64, 150, 150, 0, 0, 0);
  encoder_case (&qwen05, 5, 77, 0, 0, 0);
  encoder_case (&gqa2, 66, 31, 0, 0, 0);
  encoder_case (&mha128, 9, 200, 0, 0, 0);
  encoder_case (&odd, 30, 45, 0, 0, 0);
}

static void
test_block (void)
{
  /* The DiT's three layer kinds (blocks of 24), lengths not multiples of 24. */
  encoder_case (&mha64, 61, 61, 24, 0, 0);
  encoder_case (&mha64, 61, 61, 24, 1, 0);
  encoder_case (&mha64, 61, 61, 24, 0, 1);
  encoder_case (&mha64, 96, 96, 24, 1, 0);
  /* Audio encoder: 100-frame chunks, the last one short. */
  encoder_case (&mha64, 250, 250, 100, 0, 0);
  /* Wider windows, GQA, and blocks of 1 (a band around the diagonal). */
  encoder_case (&qwen05, 53, 53, 7, 2, 1);
  encoder_case (&gqa2, 40, 40, 1, 3, 2);
  /* Queries past the keys: those blocks see nothing and must give zeros. */
  encoder_case (&mha64, 60, 20, 10, 0, 0);
  encoder_case (&mha64, 60, 20, 10, 1, 0);
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  g_test_add_func ("/ops/attention/decode", test_decode);
  g_test_add_func ("/ops/attention/prefill", test_prefill);
  g_test_add_func ("/ops/attention/non-causal", test_non_causal);
  g_test_add_func ("/ops/attention/block", test_block);
  return g_test_run ();
}
