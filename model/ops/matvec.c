/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* matvec: matrix × vector(s) for every weight type, with fused bias; dispatch and C reference. */
#include "ops.h"

#include "mor-spv.h"

typedef struct {
  guint32 n_rows;     /* rows in this window */
  guint32 n_cols;
  guint32 row_bytes;
  guint32 y_stride;   /* all rows: vector v's y starts at v * y_stride */
  guint32 has_bias;
  guint32 v0;         /* first vector of this dispatch */
} MatvecPush;
G_STATIC_ASSERT (sizeof (MatvecPush) == 24);

#define DESC(name) \
  { #name, mor_spv_##name, &mor_spv_##name##_size, 4, 1u << 3, sizeof (MatvecPush), 0x3 /* W, x */ }

/* Per type: [shared-memory reduction, subgroup reduction]; Q8_0 and Q4_0 also
 * have a variant reading eight blocks (16-byte aligned) per step, for one
 * vector and rows of a multiple of 256 elements. max_vecs: vectors a dispatch
 * takes (x of a whole group is held per vector: with 256-element groups more
 * than one makes llvmpipe's compile time explode); more take several dispatches
 * (so max_vecs is 1 or 8: a chunk divides any n_vecs). */
static const struct {
  MorType type;
  guint32 max_vecs;
  MorVkPipelineDesc one[2];
  MorVkPipelineDesc eight[2];
} variants[] = {
  { MOR_TYPE_F32, 8, { DESC (matvec_f32), DESC (matvec_f32_subgroup) }, { { NULL } } },
  { MOR_TYPE_F16, 8, { DESC (matvec_f16), DESC (matvec_f16_subgroup) }, { { NULL } } },
  { MOR_TYPE_BF16, 8, { DESC (matvec_bf16), DESC (matvec_bf16_subgroup) }, { { NULL } } },
  { MOR_TYPE_Q8_0, 8, { DESC (matvec_q8_0), DESC (matvec_q8_0_subgroup) },
    { DESC (matvec_q8_0_b8), DESC (matvec_q8_0_b8_subgroup) } },
  { MOR_TYPE_Q4_0, 8, { DESC (matvec_q4_0), DESC (matvec_q4_0_subgroup) },
    { DESC (matvec_q4_0_b8), DESC (matvec_q4_0_b8_subgroup) } },
  { MOR_TYPE_Q4_K, 1, { DESC (matvec_q4_K), DESC (matvec_q4_K_subgroup) }, { { NULL } } },
  { MOR_TYPE_Q6_K, 1, { DESC (matvec_q6_K), DESC (matvec_q6_K_subgroup) }, { { NULL } } },
};

/* Rows per window: all of them if W fits one binding, else the most that fit,
 * a multiple of the smallest row count that keeps each window's W offset a
 * multiple of min_texel_align and its b and y offsets multiples of
 * min_storage_align (powers of two). 0: a row is too big. A texel binding may
 * be larger than max_storage_range (2 GiB on lavapipe), but windows of at most
 * that keep one path on every device (the windowed case is tested on lavapipe)
 * and the shader's byte offsets in 32 bits. */
static guint64
window_rows (const MorVkDeviceInfo *info, guint64 row_bytes, guint64 n_rows)
{
  guint64 range = MIN (MIN (info->max_texel_bytes, info->max_storage_range), G_MAXUINT32) / 16 * 16, step = 1;
  if ((n_rows * row_bytes + 15) / 16 * 16 <= range)
    return n_rows;
  while ((step * row_bytes) % info->min_texel_align != 0 || (step * 4) % info->min_storage_align != 0)
    step *= 2;
  return (range - 16) / row_bytes / step * step;
}

/**
 * mor_op_matvec:
 * @type: the type of W
 * @w: W [n_rows, n_cols], rows of mor_type_row_bytes(); the view extends to a
 *   multiple of 16 bytes (the shader reads 16-byte units). May exceed
 *   max_storage_range: the rows are then split into windows, one dispatch each.
 * @x: x [n_vecs, n_cols] f32
 * @b: bias [n_rows] f32, or a view with buf NULL for none
 * @y: y [n_vecs, n_rows] f32
 * @n_cols: a multiple of 8 and of the type's block size
 * @n_vecs: 1..8 vectors sharing each weight load
 */
void
mor_op_matvec (MorVkStream *s, MorType type, MorVkView w, MorVkView x, MorVkView b, MorVkView y,
               guint32 n_rows, guint32 n_cols, guint32 n_vecs)
{
  guint64 row_bytes = mor_type_row_bytes (type, n_cols);
  g_return_if_fail (n_rows > 0 && n_cols > 0 && n_cols % 8 == 0 && row_bytes > 0);
  g_return_if_fail (n_vecs >= 1 && n_vecs <= 8);
  g_return_if_fail (w.size >= (n_rows * row_bytes + 15) / 16 * 16);
  g_return_if_fail (x.size >= (guint64) n_vecs * n_cols * 4 && y.size >= (guint64) n_vecs * n_rows * 4);
  g_return_if_fail (x.offset % mor_vk_device_get_info (mor_vk_stream_get_device (s))->min_texel_align == 0);
  g_return_if_fail (b.buf == NULL || b.size >= (guint64) n_rows * 4);
  guint t = 0;
  while (t < G_N_ELEMENTS (variants) && variants[t].type != type)
    t++;
  g_return_if_fail (t < G_N_ELEMENTS (variants));

  MorVkDevice *dev = mor_vk_stream_get_device (s);
  const MorVkDeviceInfo *info = mor_vk_device_get_info (dev);
  gboolean eight = variants[t].eight[0].name && n_cols % 256 == 0 && n_vecs == 1;
  const MorVkPipelineDesc *desc = &(eight ? variants[t].eight : variants[t].one)[info->subgroup_arithmetic];
  guint32 chunk = MIN (n_vecs, variants[t].max_vecs);
  /* CPU devices (llvmpipe) run a workgroup on one thread, SIMD across one
   * subgroup: one subgroup a workgroup, 16 rows sharing each x load (8: 10-20%
   * slower). GPUs: two subgroups a workgroup splitting the columns, 2 rows. */
  gboolean cpu = info->type == VK_PHYSICAL_DEVICE_TYPE_CPU;
  guint32 spec[] = { cpu ? info->subgroup_size : MIN (2 * info->subgroup_size, 128), cpu ? 16 : 2, chunk };

  guint64 win = window_rows (info, row_bytes, n_rows);
  if (win == 0) {
    mor_vk_stream_set_error (s, g_error_new (MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED,
                                             "matvec: one row of %u %s elements (%" G_GUINT64_FORMAT
                                             " bytes) exceeds the device's binding limit",
                                             n_cols, mor_type_name (type), row_bytes));
    return;
  }
  for (guint64 r0 = 0; r0 < n_rows; r0 += win) {
    guint32 n = (guint32) MIN (win, n_rows - r0);
    MorVkView wv = mor_vk_view_sub (w, r0 * row_bytes, (n * row_bytes + 15) / 16 * 16);
    MorVkView yv = mor_vk_view_sub (y, r0 * 4, ((guint64) (n_vecs - 1) * n_rows + n) * 4);
    MorVkView bv = b.buf ? mor_vk_view_sub (b, r0 * 4, (guint64) n * 4) : x;
    guint32 gx, gy;
    mor_vk_grid (dev, n, spec[1], &gx, &gy);
    MorVkView bind[] = { wv, mor_vk_view_sub (x, 0, (guint64) n_vecs * n_cols * 4), bv, yv };
    for (guint32 v0 = 0; v0 < n_vecs; v0 += chunk) {
      MatvecPush pc = { n, n_cols, (guint32) row_bytes, n_rows, b.buf != NULL, v0 };
      mor_vk_stream_dispatch (s, desc, spec, G_N_ELEMENTS (spec), bind, &pc, gx, gy, 1);
    }
  }
}

void
mor_ref_matvec (MorType type, const void *w, const float *x, const float *b, float *y,
                guint32 n_rows, guint32 n_cols, guint32 n_vecs)
{
  guint64 row_bytes = mor_type_row_bytes (type, n_cols);
  float *row = g_new (float, n_cols);
  for (guint32 r = 0; r < n_rows; r++) {
    mor_ref_dequantize_row (type, (const guint8 *) w + r * row_bytes, row, n_cols);
    for (guint32 v = 0; v < n_vecs; v++) {
      double sum = b ? b[r] : 0.0;
      for (guint32 k = 0; k < n_cols; k++)
        sum += (double) row[k] * x[(gsize) v * n_cols + k];
      y[(gsize) v * n_rows + r] = (float) sum;
    }
  }
  g_free (row);
}
