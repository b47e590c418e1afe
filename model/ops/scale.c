/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* scale: y = alpha·x + beta element-wise, dispatch and C reference. */
#include "ops.h"

#include "mor-spv.h"

typedef struct {
  guint32 n;
  float alpha;
  float beta;
} ScalePush;
G_STATIC_ASSERT (sizeof (ScalePush) == 12);

static const MorVkPipelineDesc scale_f32 = {
  "scale_f32", mor_spv_scale_f32, &mor_spv_scale_f32_size, 2, 1u << 1, sizeof (ScalePush)
};

void
mor_op_scale (MorVkStream *s, MorVkView x, MorVkView y, guint32 n, float alpha, float beta)
{
  g_return_if_fail (n > 0);
  guint64 bytes = (guint64) n * 4;
  g_return_if_fail (x.size >= bytes && y.size >= bytes);
  MorVkDevice *dev = mor_vk_stream_get_device (s);
  const MorVkDeviceInfo *info = mor_vk_device_get_info (dev);
  if (bytes > info->max_storage_range) {
    mor_vk_stream_set_error (s, g_error_new (MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED,
        "scale: %u floats are more than the %" G_GUINT64_FORMAT " bytes one storage binding may cover on %s",
        n, info->max_storage_range, info->name));
    return;
  }
  ScalePush pc = { n, alpha, beta };
  guint32 spec[] = { 256 };
  guint32 gx, gy;
  mor_vk_grid (dev, n, spec[0], &gx, &gy);
  MorVkView b[] = { mor_vk_view_sub (x, 0, bytes), mor_vk_view_sub (y, 0, bytes) };
  mor_vk_stream_dispatch (s, &scale_f32, spec, G_N_ELEMENTS (spec), b, &pc, gx, gy, 1);
}

void
mor_ref_scale (const float *x, float *y, guint32 n, float alpha, float beta)
{
  for (guint32 i = 0; i < n; i++)
    y[i] = alpha * x[i] + beta;
}
