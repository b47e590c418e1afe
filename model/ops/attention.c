/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* attention: scaled dot-product attention with grouped KV heads (causal over a
 * KV cache, non-causal, block masks), dispatch and C reference. */
#include "ops.h"

#include <math.h>
#include "mor-spv.h"

#define MAX_SPLITS 64     /* chunks one query's keys are cut into (decode) */
#define KEYS_PER_BATCH 4  /* spec constant 3: longer batches cost compile time (lavapipe), not speed */
#define UNBOUNDED G_MAXUINT32

typedef struct {
  guint32 n_q;
  guint32 n_kv;
  guint32 n_heads;
  guint32 n_kv_heads;
  float scale;
  guint32 block_size;
  guint32 look_back;
  guint32 look_ahead;
  guint32 causal;
  guint32 n_splits;
} AttentionPush;
G_STATIC_ASSERT (sizeof (AttentionPush) == 40);

typedef struct {
  guint32 n_rows;
  guint32 head_dim;
  guint32 n_splits;
} AttentionReducePush;
G_STATIC_ASSERT (sizeof (AttentionReducePush) == 12);

static const MorVkPipelineDesc attention_f32 = {
  "attention_f32", mor_spv_attention_f32, &mor_spv_attention_f32_size, 5, 1u << 4, sizeof (AttentionPush)
};
static const MorVkPipelineDesc attention_f32_subgroup_int64 = {
  "attention_f32_subgroup_int64", mor_spv_attention_f32_subgroup_int64, &mor_spv_attention_f32_subgroup_int64_size,
  5, 1u << 4, sizeof (AttentionPush)
};
static const MorVkPipelineDesc attention_f16 = {
  "attention_f16", mor_spv_attention_f16, &mor_spv_attention_f16_size, 5, 1u << 4, sizeof (AttentionPush)
};
static const MorVkPipelineDesc attention_f16_subgroup_int64 = {
  "attention_f16_subgroup_int64", mor_spv_attention_f16_subgroup_int64, &mor_spv_attention_f16_subgroup_int64_size,
  5, 1u << 4, sizeof (AttentionPush)
};
static const MorVkPipelineDesc attention_reduce_f32 = {
  "attention_reduce_f32", mor_spv_attention_reduce_f32, &mor_spv_attention_reduce_f32_size, 2, 1u << 1,
  sizeof (AttentionReducePush)
};

/* Spec constant 4 of attention.comp: consecutive queries per workgroup,
 * which share each K/V row read. QT·G rows (G = n_heads / n_kv_heads) are
 * held in registers, so QT·G ≤ 8 keeps a pipeline's code and registers
 * bounded; a power of two, so that few pipelines exist; 1 for decode. */
static guint32
queries_per_group (guint32 n_q, guint32 g)
{
  guint32 qt = 1;
  while (n_q > 1 && qt * 2 * g <= 8)
    qt *= 2;
  return qt;
}

/* How many chunks the keys a workgroup sees are cut into, so that enough
 * workgroups run at once: a CPU device (lavapipe: one thread per core) runs
 * one per thread, a GPU needs hundreds. Prefill has enough (query tile, KV
 * head) pairs without splitting, and so has decode with as many KV heads as
 * threads, which then skips the second pass. */
static guint32
n_splits_for (MorVkDevice *dev, guint32 n_q, guint32 n_heads, guint32 n_kv_heads)
{
  const MorVkDeviceInfo *info = mor_vk_device_get_info (dev);
  guint64 want = info->type == VK_PHYSICAL_DEVICE_TYPE_CPU ? g_get_num_processors () : 256;
  guint32 qt = queries_per_group (n_q, n_heads / n_kv_heads);
  guint64 groups = (guint64) (n_q + qt - 1) / qt * n_kv_heads;
  return groups >= want ? 1 : (guint32) MIN (MAX_SPLITS, (want + groups - 1) / groups);
}

guint64
mor_op_attention_scratch_size (MorVkDevice *dev, guint32 n_q, guint32 n_heads, guint32 n_kv_heads,
                               guint32 head_dim)
{
  g_return_val_if_fail (n_kv_heads > 0 && n_heads >= n_kv_heads, 0);
  guint32 n_splits = n_splits_for (dev, n_q, n_heads, n_kv_heads);
  return n_splits > 1 ? (guint64) n_q * n_heads * n_splits * (head_dim + 2) * 4 : 0;
}

/* The fast variant sums over lanes with subgroupAdd and loads 64-bit words;
 * the portable one sums through shared memory and loads 32-bit words. */
static gboolean
use_fast (const MorVkDeviceInfo *info)
{
  return info->subgroup_arithmetic && info->shader_int64;
}

/* Spec constant 0 of attention.comp: lanes per workgroup (fast variant:
 * exactly one subgroup, whose size the shader relies on). A CPU device runs
 * a workgroup on one thread with SIMD across lanes: one SIMD width. */
static guint32
lanes_for (const MorVkDeviceInfo *info)
{
  return use_fast (info) || info->type == VK_PHYSICAL_DEVICE_TYPE_CPU ? MAX (info->subgroup_size, 1) : 32;
}

/* Checks what the caller could not have known (binding and shared-memory
 * limits) and records the first pass. FALSE with the stream's error set. */
static gboolean
record (MorVkStream *s, gboolean f16, MorVkView q, MorVkView k, MorVkView v, MorVkView pos, MorVkView out,
        guint64 kv_bytes, guint32 head_dim, const AttentionPush *pc)
{
  const MorVkDeviceInfo *info = mor_vk_device_get_info (mor_vk_stream_get_device (s));
  guint32 lanes = lanes_for (info), g = pc->n_heads / pc->n_kv_heads, qt = queries_per_group (pc->n_q, g);
  guint64 shared = use_fast (info) ? 0 : (guint64) KEYS_PER_BATCH * qt * g * (lanes + 1) * 4;
  guint64 q_bytes = (guint64) pc->n_q * pc->n_heads * head_dim * 4;
  if (kv_bytes > info->max_storage_range || q_bytes > info->max_storage_range ||
      out.size > info->max_storage_range || shared > info->max_shared_memory) {
    mor_vk_stream_set_error (s, g_error_new (MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED,
        "attention: %u queries × %u heads over %u keys × %u KV heads of dim %u need bindings of "
        "%" G_GUINT64_FORMAT " (K, V), %" G_GUINT64_FORMAT " (q) and %" G_GUINT64_FORMAT " (out) bytes "
        "and %" G_GUINT64_FORMAT " bytes of shared memory; %s allows %" G_GUINT64_FORMAT " and %u",
        pc->n_q, pc->n_heads, pc->n_kv, pc->n_kv_heads, head_dim, kv_bytes, q_bytes, out.size, shared,
        info->name, info->max_storage_range, info->max_shared_memory));
    return FALSE;
  }
  const MorVkPipelineDesc *desc = f16 ? (use_fast (info) ? &attention_f16_subgroup_int64 : &attention_f16)
                                      : (use_fast (info) ? &attention_f32_subgroup_int64 : &attention_f32);
  guint32 spec[] = { lanes, g, head_dim, KEYS_PER_BATCH, qt };
  guint32 gx, gy;
  mor_vk_grid (mor_vk_stream_get_device (s), (guint64) (pc->n_q + qt - 1) / qt * pc->n_kv_heads * pc->n_splits, 1,
               &gx, &gy);
  MorVkView b[] = { mor_vk_view_sub (q, 0, q_bytes), mor_vk_view_sub (k, 0, kv_bytes),
                    mor_vk_view_sub (v, 0, kv_bytes), pos, out };
  mor_vk_stream_dispatch (s, desc, spec, G_N_ELEMENTS (spec), b, pc, gx, gy, 1);
  return TRUE;
}

void
mor_op_attention_cached (MorVkStream *s, MorVkView q, MorVkView k, MorVkView v, MorVkView pos,
                         MorVkView scratch, MorVkView out, guint32 n_q, guint32 max_ctx, guint32 n_heads,
                         guint32 n_kv_heads, guint32 head_dim, float scale, MorType kv_type)
{
  g_return_if_fail (kv_type == MOR_TYPE_F32 || kv_type == MOR_TYPE_F16);
  g_return_if_fail (n_q > 0 && max_ctx > 0 && n_kv_heads > 0 && n_heads >= n_kv_heads && n_heads % n_kv_heads == 0);
  g_return_if_fail (head_dim > 0 && head_dim % 4 == 0);
  guint64 kv_bytes = (guint64) max_ctx * n_kv_heads * head_dim * (kv_type == MOR_TYPE_F16 ? 2 : 4);
  guint64 out_bytes = (guint64) n_q * n_heads * head_dim * 4;
  g_return_if_fail (q.size >= out_bytes && out.size >= out_bytes && k.size >= kv_bytes && v.size >= kv_bytes);
  g_return_if_fail (pos.size >= 4);
  MorVkDevice *dev = mor_vk_stream_get_device (s);
  guint32 n_splits = n_splits_for (dev, n_q, n_heads, n_kv_heads);
  guint64 scratch_bytes = mor_op_attention_scratch_size (dev, n_q, n_heads, n_kv_heads, head_dim);
  g_return_if_fail (scratch.size >= scratch_bytes);
  AttentionPush pc = { n_q, max_ctx, n_heads, n_kv_heads, scale, 1, UNBOUNDED, 0, 1, n_splits };
  MorVkView first_out = n_splits > 1 ? mor_vk_view_sub (scratch, 0, scratch_bytes)
                                     : mor_vk_view_sub (out, 0, out_bytes);
  if (!record (s, kv_type == MOR_TYPE_F16, q, k, v, pos, first_out, kv_bytes, head_dim, &pc) || n_splits == 1)
    return;
  AttentionReducePush rc = { n_q * n_heads, head_dim, n_splits };
  guint32 spec[] = { 64 };
  guint32 gx, gy;
  mor_vk_grid (dev, rc.n_rows, 1, &gx, &gy);
  MorVkView b[] = { first_out, mor_vk_view_sub (out, 0, out_bytes) };
  mor_vk_stream_dispatch (s, &attention_reduce_f32, spec, G_N_ELEMENTS (spec), b, &rc, gx, gy, 1);
}

void
mor_op_attention (MorVkStream *s, MorVkView q, MorVkView k, MorVkView v, MorVkView out, guint32 n_q,
                  guint32 n_kv, guint32 n_heads, guint32 n_kv_heads, guint32 head_dim, float scale,
                  guint32 block_size, guint32 look_back, guint32 look_ahead)
{
  g_return_if_fail (n_q > 0 && n_kv > 0 && n_kv_heads > 0 && n_heads >= n_kv_heads && n_heads % n_kv_heads == 0);
  g_return_if_fail (head_dim > 0 && head_dim % 4 == 0);
  guint64 kv_bytes = (guint64) n_kv * n_kv_heads * head_dim * 4;
  guint64 out_bytes = (guint64) n_q * n_heads * head_dim * 4;
  g_return_if_fail (q.size >= out_bytes && out.size >= out_bytes && k.size >= kv_bytes && v.size >= kv_bytes);
  AttentionPush pc = { n_q, n_kv, n_heads, n_kv_heads, scale, 1, UNBOUNDED, UNBOUNDED, 0, 1 };
  if (block_size > 0) {
    pc.block_size = block_size;
    pc.look_back = look_back;
    pc.look_ahead = look_ahead;
  }
  /* Nothing reads the position binding when causal is 0; q stands in for it. */
  record (s, FALSE, q, k, v, mor_vk_view_sub (q, 0, 16), mor_vk_view_sub (out, 0, out_bytes), kv_bytes, head_dim,
          &pc);
}

/* HF's mask, literally: causal keys j ≤ qp; blocks: block_diff = j/B − qp/B
 * within [−look_back, look_ahead] (block_size 0: every key). */
static gboolean
visible (guint64 qp, guint64 j, gboolean causal, guint32 block_size, guint32 look_back, guint32 look_ahead)
{
  if (causal)
    return j <= qp;
  if (block_size == 0)
    return TRUE;
  gint64 diff = (gint64) (j / block_size) - (gint64) (qp / block_size);
  return diff >= -(gint64) look_back && diff <= (gint64) look_ahead;
}

/* Scores, mask, softmax, weighted sum over k and v as f32 [n_kv, n_kv_heads·head_dim]. */
static void
ref_attention (const float *q, const float *k, const float *v, float *out, guint32 n_q, guint32 n_kv,
               guint32 n_heads, guint32 n_kv_heads, guint32 head_dim, float scale, guint32 p0, gboolean causal,
               guint32 block_size, guint32 look_back, guint32 look_ahead)
{
  g_autofree float *score = g_new (float, n_kv);
  for (guint32 t = 0; t < n_q; t++)
    for (guint32 h = 0; h < n_heads; h++) {
      guint32 kvh = h / (n_heads / n_kv_heads);
      const float *qh = q + ((gsize) t * n_heads + h) * head_dim;
      float *oh = out + ((gsize) t * n_heads + h) * head_dim;
      float m = -INFINITY;
      for (guint32 j = 0; j < n_kv; j++) {
        score[j] = -INFINITY;
        if (!visible ((guint64) p0 + t, j, causal, block_size, look_back, look_ahead))
          continue;
        const float *kj = k + ((gsize) j * n_kv_heads + kvh) * head_dim;
        double dot = 0;
        for (guint32 d = 0; d < head_dim; d++)
          dot += (double) qh[d] * kj[d];
        score[j] = scale * (float) dot;
        m = fmaxf (m, score[j]);
      }
      double sum = 0;
      for (guint32 j = 0; j < n_kv; j++) {
        score[j] = m == -INFINITY ? 0.0f : expf (score[j] - m);   /* masked: exp(−inf) = 0 */
        sum += score[j];
      }
      for (guint32 d = 0; d < head_dim; d++) {
        double acc = 0;
        for (guint32 j = 0; j < n_kv; j++)
          if (visible ((guint64) p0 + t, j, causal, block_size, look_back, look_ahead))
            acc += (double) score[j] * v[((gsize) j * n_kv_heads + kvh) * head_dim + d];
        oh[d] = sum > 0 ? (float) (acc / sum) : 0.0f;   /* no visible key: zeros */
      }
    }
}

void
mor_ref_attention_cached (const float *q, const void *k, const void *v, guint32 p0, float *out, guint32 n_q,
                          guint32 max_ctx, guint32 n_heads, guint32 n_kv_heads, guint32 head_dim, float scale,
                          MorType kv_type)
{
  gsize n = (gsize) max_ctx * n_kv_heads * head_dim;
  g_autofree float *kf = g_new (float, n);
  g_autofree float *vf = g_new (float, n);
  for (gsize i = 0; i < n; i++) {
    kf[i] = kv_type == MOR_TYPE_F16 ? mor_f16_to_f32 (((const guint16 *) k)[i]) : ((const float *) k)[i];
    vf[i] = kv_type == MOR_TYPE_F16 ? mor_f16_to_f32 (((const guint16 *) v)[i]) : ((const float *) v)[i];
  }
  ref_attention (q, kf, vf, out, n_q, max_ctx, n_heads, n_kv_heads, head_dim, scale, p0, TRUE, 0, 0, 0);
}

void
mor_ref_attention (const float *q, const float *k, const float *v, float *out, guint32 n_q, guint32 n_kv,
                   guint32 n_heads, guint32 n_kv_heads, guint32 head_dim, float scale, guint32 block_size,
                   guint32 look_back, guint32 look_ahead)
{
  ref_attention (q, k, v, out, n_q, n_kv, n_heads, n_kv_heads, head_dim, scale, 0, FALSE, block_size,
                 look_back, look_ahead);
}
