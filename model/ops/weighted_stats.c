/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* weighted_stats: weighted mean and standard deviation of rows (ECAPA-TDNN's
 * attentive statistics pooling), dispatch and C reference. */
#include "ops.h"

#include <math.h>
#include "mor-spv.h"

typedef struct {
  guint32 n_rows;
  guint32 n_cols;
  float eps;
  guint32 uniform_weights;
} WeightedStatsPush;
G_STATIC_ASSERT (sizeof (WeightedStatsPush) == 16);

static const MorVkPipelineDesc weighted_stats_f32 = {
  "weighted_stats_f32", mor_spv_weighted_stats_f32, &mor_spv_weighted_stats_f32_size, 3, 1u << 2,
  sizeof (WeightedStatsPush)
};
static const MorVkPipelineDesc weighted_stats_f32_subgroup = {
  "weighted_stats_f32_subgroup", mor_spv_weighted_stats_f32_subgroup, &mor_spv_weighted_stats_f32_subgroup_size,
  3, 1u << 2, sizeof (WeightedStatsPush)
};

void
mor_op_weighted_stats (MorVkStream *s, MorVkView x, MorVkView w, MorVkView y, guint32 n_rows, guint32 n_cols,
                       float eps)
{
  g_return_if_fail (n_rows > 0 && n_cols > 0 && (guint64) n_rows * n_cols <= G_MAXUINT32);
  guint64 bytes = (guint64) n_rows * n_cols * 4;
  g_return_if_fail (x.size >= bytes && (!w.buf || w.size >= bytes) && y.size >= (guint64) n_rows * 8);
  MorVkDevice *dev = mor_vk_stream_get_device (s);
  const MorVkDeviceInfo *info = mor_vk_device_get_info (dev);
  if (bytes > info->max_storage_range) {
    mor_vk_stream_set_error (s, g_error_new (MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED,
        "weighted_stats: %u × %u floats are more than the %" G_GUINT64_FORMAT " bytes one storage binding "
        "may cover on %s", n_rows, n_cols, info->max_storage_range, info->name));
    return;
  }
  WeightedStatsPush pc = { n_rows, n_cols, eps, w.buf == NULL };
  guint32 spec[] = { 64 };
  guint32 gx, gy;
  mor_vk_grid (dev, n_rows, 1, &gx, &gy);
  /* Uniform weights: x stands in for w (not read). */
  MorVkView xv = mor_vk_view_sub (x, 0, bytes);
  MorVkView b[] = { xv, w.buf ? mor_vk_view_sub (w, 0, bytes) : xv, mor_vk_view_sub (y, 0, (guint64) n_rows * 8) };
  mor_vk_stream_dispatch (s, info->subgroup_arithmetic ? &weighted_stats_f32_subgroup : &weighted_stats_f32,
                          spec, G_N_ELEMENTS (spec), b, &pc, gx, gy, 1);
}

/* HF: mean = (m * x).sum(dim); std = sqrt((m * (x - mean).pow(2)).sum(dim).clamp(eps)),
 * each product in fp32, the sums in fp64. */
void
mor_ref_weighted_stats (const float *x, const float *w, float *y, guint32 n_rows, guint32 n_cols, float eps)
{
  float u = 1.0f / (float) n_cols;
  for (guint32 r = 0; r < n_rows; r++) {
    const float *xr = x + (gsize) r * n_cols, *wr = w ? w + (gsize) r * n_cols : NULL;
    double sum = 0;
    for (guint32 t = 0; t < n_cols; t++)
      sum += (wr ? wr[t] : u) * xr[t];
    float mean = (float) sum;
    double ss = 0;
    for (guint32 t = 0; t < n_cols; t++) {
      float d = xr[t] - mean;
      ss += (wr ? wr[t] : u) * (d * d);
    }
    y[r] = mean;
    y[n_rows + r] = sqrtf (MAX ((float) ss, eps));
  }
}
