/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* matmul: weights × activations (F.linear) over many tokens, dispatch and C
 * reference. */
#include "ops.h"

#include "mor-spv.h"

typedef struct {
  guint32 M;            /* rows of w in this dispatch's window */
  guint32 K;
  guint32 N;            /* rows of x and y in this window */
  guint32 ldy;          /* row stride of y in elements: all M rows of w */
  guint32 m0;           /* the window's first row of w: y column, bias index */
  guint32 has_bias;
} MatmulPush;
G_STATIC_ASSERT (sizeof (MatmulPush) == 24);

#define MATMUL_DESC(name) \
  { #name, mor_spv_##name, &mor_spv_##name##_size, 4, 1u << 3, sizeof (MatmulPush) }
static const MorVkPipelineDesc matmul_descs[][2] = {
  /* shared-memory tiles, subgroup shuffles */
  { MATMUL_DESC (matmul_f32), MATMUL_DESC (matmul_f32_subgroup) },
  { MATMUL_DESC (matmul_f16), MATMUL_DESC (matmul_f16_subgroup) },
  { MATMUL_DESC (matmul_bf16), MATMUL_DESC (matmul_bf16_subgroup) },
  { MATMUL_DESC (matmul_q8_0), MATMUL_DESC (matmul_q8_0_subgroup) },
  { MATMUL_DESC (matmul_q4_0), MATMUL_DESC (matmul_q4_0_subgroup) },
  { MATMUL_DESC (matmul_q4_K), MATMUL_DESC (matmul_q4_K_subgroup) },
  { MATMUL_DESC (matmul_q6_K), MATMUL_DESC (matmul_q6_K_subgroup) },
};

static int
matmul_type_index (MorType type)
{
  switch (type) {
    case MOR_TYPE_F32: return 0;
    case MOR_TYPE_F16: return 1;
    case MOR_TYPE_BF16: return 2;
    case MOR_TYPE_Q8_0: return 3;
    case MOR_TYPE_Q4_0: return 4;
    case MOR_TYPE_Q4_K: return 5;
    case MOR_TYPE_Q6_K: return 6;
  }
  return -1;
}

/* The variant, its specialization constants and its tile (bm rows of w ×
 * bn rows of x per workgroup) for this device and shape. */
typedef struct {
  const MorVkPipelineDesc *desc;
  guint32 spec[6];
  guint n_spec;
  guint32 bm, bn;
  gboolean wide;        /* 64-bit loads: w windows bound in multiples of 8 bytes */
} MatmulPlan;

/* @wide: K % 4 == 0, the w and x views start 8-byte aligned and w's view
 * covers its bytes rounded up to a multiple of 8. */
static void
matmul_plan (const MorVkDeviceInfo *info, MorType type, guint32 N, gboolean wide, MatmulPlan *plan)
{
  const MorVkPipelineDesc *descs = matmul_descs[matmul_type_index (type)];
  guint32 sg = info->subgroup_size;
  /* On a CPU device a subgroup is one SIMD vector: there the shuffle variant
   * (see matmul.comp) is about 15× faster than shared-memory tiles. It keeps
   * TM·TN·SG accumulators a lane: 8 rows × up to 32 columns. (Lavapipe has
   * subgroup shuffles wherever it has arithmetic.) */
  if (info->type == VK_PHYSICAL_DEVICE_TYPE_CPU && info->subgroup_arithmetic && info->shader_int64 &&
      sg >= 4 && sg <= 32 && (sg & (sg - 1)) == 0 && wide) {
    guint32 tm = 8, tn = N <= sg ? 1 : 32 / sg;    /* at most one subgroup of tokens: narrow tiles */
    guint32 wg = 4 * sg;
    *plan = (MatmulPlan) { &descs[1], { wg, sg, tm, tn }, 4, wg * tm, sg * tn, TRUE };
    return;
  }
  /* Shared-memory tiles of 64 × 64, BK 16 (8 KiB of the 16 KiB every device
   * has), narrower for few tokens or where a workgroup holds fewer
   * invocations; 8 × 8 register tiles on a CPU, where every shared load costs
   * a scalar insert per lane, 4 × 4 elsewhere. */
  gboolean cpu = info->type == VK_PHYSICAL_DEVICE_TYPE_CPU;
  guint32 tm = cpu ? 8 : 4, tn = cpu ? 8 : 4, bm = 64, bn = 64;
  while (bn > tn && (bn / 2 >= N || (bm / tm) * (bn / tn) > info->max_workgroup_invocations))
    bn /= 2;
  guint32 wg = (bm / tm) * (bn / tn);
  *plan = (MatmulPlan) { &descs[0], { wg, bm, bn, 16, tm, tn }, 6, bm, bn, FALSE };
}

static guint64
gcd (guint64 a, guint64 b)
{
  while (b) {
    guint64 t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/* The fewest rows, of @row_bytes each, that make a multiple of @align bytes. */
static guint64
aligned_rows (guint64 row_bytes, guint64 align)
{
  return align / gcd (row_bytes, align);
}

static guint64
lcm (guint64 a, guint64 b)
{
  return a / gcd (a, b) * b;
}

void
mor_op_matmul (MorVkStream *s, MorType type, MorVkView w, MorVkView x, MorVkView bias, MorVkView y,
               guint32 M, guint32 K, guint32 N)
{
  g_return_if_fail (matmul_type_index (type) >= 0);
  g_return_if_fail (M > 0 && K > 0 && N > 0);
  guint64 row_bytes = mor_type_row_bytes (type, K);
  g_return_if_fail (row_bytes > 0 && w.size >= row_bytes * M);
  g_return_if_fail (x.size >= (guint64) N * K * 4 && y.size >= (guint64) N * M * 4);
  g_return_if_fail (!bias.buf || bias.size >= (guint64) M * 4);
  MorVkDevice *dev = mor_vk_stream_get_device (s);
  const MorVkDeviceInfo *info = mor_vk_device_get_info (dev);
  MatmulPlan plan;
  matmul_plan (info, type, N, K % 4 == 0 && w.offset % 8 == 0 && x.offset % 8 == 0 &&
               w.size >= (row_bytes * M + 7) / 8 * 8, &plan);

  /* Windows: w by rows, x and y by rows (tokens), each within one binding
   * (a multiple of 8 bytes of it) and the grid, and starting 16-byte aligned
   * (and at least min_storage_align) so that 64-bit loads stay aligned. One
   * dispatch per pair of windows; y is bound from the x window's first row
   * across all M columns, each dispatch writing its own columns. */
  guint64 range = info->max_storage_range / 8 * 8, align = MAX (info->min_storage_align, 16);
  guint64 m_per = MIN (MIN (range / row_bytes, G_MAXUINT32 / K), (guint64) info->max_workgroup_count[0] * plan.bm);
  guint64 n_per = MIN (MIN (range / ((guint64) K * 4), range / ((guint64) M * 4)),
                       (guint64) info->max_workgroup_count[1] * plan.bn);
  if (m_per < M)
    m_per -= m_per % aligned_rows (row_bytes, align);
  if (n_per < N)
    n_per -= n_per % lcm (aligned_rows ((guint64) K * 4, align), aligned_rows ((guint64) M * 4, align));
  if (m_per == 0 || n_per == 0 || (bias.buf && (guint64) M * 4 > range)) {
    mor_vk_stream_set_error (s, g_error_new (MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED,
        "matmul: cannot bind %s weights [%u, %u] and x [%u, %u] in windows: rows of w take %" G_GUINT64_FORMAT
        " bytes, of x %" G_GUINT64_FORMAT ", of y %" G_GUINT64_FORMAT "; one storage binding covers %" G_GUINT64_FORMAT
        " bytes (maxStorageBufferRange) and windows start %" G_GUINT64_FORMAT "-byte aligned",
        mor_type_name (type), M, K, N, K, row_bytes, (guint64) K * 4, (guint64) M * 4, range, align));
    return;
  }
  for (guint64 n0 = 0; n0 < N; n0 += n_per) {
    guint32 n = (guint32) MIN (n_per, N - n0);
    for (guint64 m0 = 0; m0 < M; m0 += m_per) {
      guint32 m = (guint32) MIN (m_per, M - m0);
      MatmulPush pc = { m, K, n, M, (guint32) m0, bias.buf != NULL };
      MorVkView xw = mor_vk_view_sub (x, n0 * K * 4, (guint64) n * K * 4);
      MorVkView b[] = {
        mor_vk_view_sub (w, m0 * row_bytes, plan.wide ? (m * row_bytes + 7) / 8 * 8 : m * row_bytes), xw,
        bias.buf ? mor_vk_view_sub (bias, 0, (guint64) M * 4) : xw,
        mor_vk_view_sub (y, n0 * M * 4, (guint64) n * M * 4),
      };
      mor_vk_stream_dispatch (s, plan.desc, plan.spec, plan.n_spec, b, &pc,
                              (m + plan.bm - 1) / plan.bm, (n + plan.bn - 1) / plan.bn, 1);
    }
  }
}

void
mor_ref_matmul (MorType type, const void *w, const float *x, const float *bias, float *y,
                guint32 M, guint32 K, guint32 N)
{
  guint64 row_bytes = mor_type_row_bytes (type, K);
  g_autofree float *row = g_new (float, K);
  for (guint32 m = 0; m < M; m++) {
    mor_ref_dequantize_row (type, (const guint8 *) w + m * row_bytes, row, K);
    for (guint32 n = 0; n < N; n++) {
      const float *xn = x + (gsize) n * K;
      double sum = bias ? bias[m] : 0.0;
      for (guint32 k = 0; k < K; k++)
        sum += (double) row[k] * xn[k];
      y[(gsize) n * M + m] = (float) sum;
    }
  }
}
