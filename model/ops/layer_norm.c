/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* layer_norm: LayerNorm over rows (nn.LayerNorm), optional weight and bias, dispatch and C reference. */
#include "ops.h"

#include <math.h>
#include "mor-spv.h"

typedef struct {
  guint32 n_cols;
  guint32 n_rows;
  float eps;
  guint32 affine;   /* bit 0: weight, bit 1: bias */
} LayerNormPush;
G_STATIC_ASSERT (sizeof (LayerNormPush) == 16);

static const MorVkPipelineDesc layer_norm_f32 = {
  "layer_norm_f32", mor_spv_layer_norm_f32, &mor_spv_layer_norm_f32_size, 4, 1u << 3, sizeof (LayerNormPush)
};
static const MorVkPipelineDesc layer_norm_f32_subgroup = {
  "layer_norm_f32_subgroup", mor_spv_layer_norm_f32_subgroup, &mor_spv_layer_norm_f32_subgroup_size, 4, 1u << 3,
  sizeof (LayerNormPush)
};

void
mor_op_layer_norm (MorVkStream *s, MorVkView x, MorVkView w, MorVkView b, MorVkView y,
                   guint32 n_rows, guint32 n_cols, float eps)
{
  g_return_if_fail (n_rows > 0 && n_cols > 0 && (guint64) n_rows * n_cols <= G_MAXUINT32);
  guint64 bytes = (guint64) n_rows * n_cols * 4, row_bytes = (guint64) n_cols * 4;
  g_return_if_fail (x.size >= bytes && y.size >= bytes);
  g_return_if_fail (!w.buf || w.size >= row_bytes);
  g_return_if_fail (!b.buf || b.size >= row_bytes);
  MorVkDevice *dev = mor_vk_stream_get_device (s);
  const MorVkDeviceInfo *info = mor_vk_device_get_info (dev);
  if (bytes > info->max_storage_range) {
    mor_vk_stream_set_error (s, g_error_new (MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED,
        "layer_norm: %u × %u floats are more than the %" G_GUINT64_FORMAT " bytes one storage binding "
        "may cover on %s", n_rows, n_cols, info->max_storage_range, info->name));
    return;
  }
  LayerNormPush pc = { n_cols, n_rows, eps, (w.buf ? 1u : 0u) | (b.buf ? 2u : 0u) };
  guint32 spec[] = { 256 };
  guint32 gx, gy;
  mor_vk_grid (dev, n_rows, 1, &gx, &gy);
  /* An absent weight or bias binds x's first row, which the shader then does not read. */
  MorVkView xv = mor_vk_view_sub (x, 0, bytes);
  MorVkView bind[] = { xv, mor_vk_view_sub (w.buf ? w : x, 0, row_bytes), mor_vk_view_sub (b.buf ? b : x, 0, row_bytes),
                       mor_vk_view_sub (y, 0, bytes) };
  mor_vk_stream_dispatch (s, info->subgroup_arithmetic ? &layer_norm_f32_subgroup : &layer_norm_f32,
                          spec, G_N_ELEMENTS (spec), bind, &pc, gx, gy, 1);
}

void
mor_ref_layer_norm (const float *x, const float *w, const float *b, float *y, guint32 n_rows, guint32 n_cols,
                    float eps)
{
  for (guint32 r = 0; r < n_rows; r++) {
    const float *xr = x + (gsize) r * n_cols;
    /* mean, biased variance and (x - mean) / sqrt(var + eps) in fp64, rounded once */
    double sum = 0, ss = 0;
    for (guint32 i = 0; i < n_cols; i++)
      sum += xr[i];
    double mean = sum / n_cols;
    for (guint32 i = 0; i < n_cols; i++)
      ss += (xr[i] - mean) * (xr[i] - mean);
    double rstd = 1.0 / sqrt (ss / n_cols + eps);
    for (guint32 i = 0; i < n_cols; i++) {
      float v = (float) ((xr[i] - mean) * rstd);
      if (w)
        v *= w[i];
      if (b)
        v += b[i];
      y[(gsize) r * n_cols + i] = v;
    }
  }
}
