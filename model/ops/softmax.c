/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* softmax: numerically stable softmax over rows with a scale, dispatch and C reference. */
#include "ops.h"

#include <math.h>
#include "mor-spv.h"

typedef struct {
  guint32 n_cols;
  guint32 n_rows;
  float scale;
} SoftmaxPush;
G_STATIC_ASSERT (sizeof (SoftmaxPush) == 12);

static const MorVkPipelineDesc softmax_f32 = {
  "softmax_f32", mor_spv_softmax_f32, &mor_spv_softmax_f32_size, 2, 1u << 1, sizeof (SoftmaxPush)
};
static const MorVkPipelineDesc softmax_f32_subgroup = {
  "softmax_f32_subgroup", mor_spv_softmax_f32_subgroup, &mor_spv_softmax_f32_subgroup_size, 2, 1u << 1,
  sizeof (SoftmaxPush)
};

void
mor_op_softmax (MorVkStream *s, MorVkView x, MorVkView y, guint32 n_rows, guint32 n_cols, float scale)
{
  g_return_if_fail (n_rows > 0 && n_cols > 0);
  g_return_if_fail (x.size >= (guint64) n_rows * n_cols * 4 && y.size >= (guint64) n_rows * n_cols * 4);
  MorVkDevice *dev = mor_vk_stream_get_device (s);
  const MorVkDeviceInfo *info = mor_vk_device_get_info (dev);
  SoftmaxPush pc = { n_cols, n_rows, scale };
  /* Short rows (attention scores at the start of a sequence) waste less of a
   * smaller workgroup; it stays a multiple of the subgroup size. */
  guint32 spec[] = { n_cols <= 64 ? 64 : 256 };
  guint32 gx, gy;
  mor_vk_grid (dev, n_rows, 1, &gx, &gy);
  MorVkView b[] = { x, y };
  mor_vk_stream_dispatch (s, info->subgroup_arithmetic ? &softmax_f32_subgroup : &softmax_f32,
                          spec, G_N_ELEMENTS (spec), b, &pc, gx, gy, 1);
}

void
mor_ref_softmax (const float *x, float *y, guint32 n_rows, guint32 n_cols, float scale)
{
  for (guint32 r = 0; r < n_rows; r++) {
    const float *xr = x + (gsize) r * n_cols;
    float *yr = y + (gsize) r * n_cols;
    float m = -INFINITY;
    for (guint32 i = 0; i < n_cols; i++)
      m = fmaxf (m, scale * xr[i]);
    if (m == -INFINITY) {
      /* Fully masked row: zeros (documented; PyTorch gives NaN). */
      for (guint32 i = 0; i < n_cols; i++)
        yr[i] = 0.0f;
      continue;
    }
    double sum = 0;
    for (guint32 i = 0; i < n_cols; i++)
      sum += expf (scale * xr[i] - m);
    for (guint32 i = 0; i < n_cols; i++)
      yr[i] = (float) (expf (scale * xr[i] - m) / sum);
  }
}
