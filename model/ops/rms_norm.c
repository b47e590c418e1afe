/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rms_norm: RMSNorm over rows (Qwen2RMSNorm), dispatch and C reference. */
#include "ops.h"

#include <math.h>
#include "mor-spv.h"

typedef struct {
  guint32 n_cols;
  guint32 n_rows;
  float eps;
} RmsNormPush;
G_STATIC_ASSERT (sizeof (RmsNormPush) == 12);

static const MorVkPipelineDesc rms_norm_f32 = {
  "rms_norm_f32", mor_spv_rms_norm_f32, &mor_spv_rms_norm_f32_size, 3, 1u << 2, sizeof (RmsNormPush)
};
static const MorVkPipelineDesc rms_norm_f32_subgroup = {
  "rms_norm_f32_subgroup", mor_spv_rms_norm_f32_subgroup, &mor_spv_rms_norm_f32_subgroup_size, 3, 1u << 2,
  sizeof (RmsNormPush)
};

void
mor_op_rms_norm (MorVkStream *s, MorVkView x, MorVkView w, MorVkView y,
                 guint32 n_rows, guint32 n_cols, float eps)
{
  g_return_if_fail (n_rows > 0 && n_cols > 0);
  g_return_if_fail (x.size >= (guint64) n_rows * n_cols * 4 && y.size >= (guint64) n_rows * n_cols * 4);
  g_return_if_fail (w.size >= (guint64) n_cols * 4);
  MorVkDevice *dev = mor_vk_stream_get_device (s);
  const MorVkDeviceInfo *info = mor_vk_device_get_info (dev);
  RmsNormPush pc = { n_cols, n_rows, eps };
  guint32 spec[] = { 256 };
  guint32 gx, gy;
  mor_vk_grid (dev, n_rows, 1, &gx, &gy);
  MorVkView b[] = { x, w, y };
  mor_vk_stream_dispatch (s, info->subgroup_arithmetic ? &rms_norm_f32_subgroup : &rms_norm_f32,
                          spec, G_N_ELEMENTS (spec), b, &pc, gx, gy, 1);
}

void
mor_ref_rms_norm (const float *x, const float *w, float *y, guint32 n_rows, guint32 n_cols, float eps)
{
  for (guint32 r = 0; r < n_rows; r++) {
    const float *xr = x + (gsize) r * n_cols;
    double ss = 0;
    for (guint32 i = 0; i < n_cols; i++)
      ss += (double) xr[i] * xr[i];
    float scale = 1.0f / sqrtf ((float) (ss / n_cols) + eps);
    for (guint32 i = 0; i < n_cols; i++)
      y[(gsize) r * n_cols + i] = xr[i] * scale * w[i];
  }
}
