/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* avg_pool1d: PyTorch nn.AvgPool1d over time, dispatch and C reference. */
#include "ops.h"

#include "mor-spv.h"

typedef struct {
  guint32 n_channels, t_in, t_out, kernel_size, stride, time_major;
} AvgPool1dPush;
G_STATIC_ASSERT (sizeof (AvgPool1dPush) == 24);

static const MorVkPipelineDesc avg_pool1d_f32 = {
  "avg_pool1d_f32", mor_spv_avg_pool1d_f32, &mor_spv_avg_pool1d_f32_size, 2, 1u << 1, sizeof (AvgPool1dPush)
};

guint32
mor_avg_pool1d_out_length (guint32 length, guint32 kernel_size, guint32 stride)
{
  return length < kernel_size ? 0 : (length - kernel_size) / stride + 1;
}

void
mor_op_avg_pool1d (MorVkStream *s, MorVkView x, MorVkView y, guint32 n_channels, guint32 length,
                   guint32 kernel_size, guint32 stride, gboolean time_major)
{
  g_return_if_fail (n_channels > 0 && kernel_size > 0 && stride > 0 && length >= kernel_size);
  guint32 t_out = mor_avg_pool1d_out_length (length, kernel_size, stride);
  guint64 x_bytes = (guint64) n_channels * length * 4, y_bytes = (guint64) n_channels * t_out * 4;
  g_return_if_fail (x.size >= x_bytes && y.size >= y_bytes);
  MorVkDevice *dev = mor_vk_stream_get_device (s);
  const MorVkDeviceInfo *info = mor_vk_device_get_info (dev);
  if (x_bytes > info->max_storage_range) {
    mor_vk_stream_set_error (s, g_error_new (MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED,
        "avg_pool1d: x of %u × %u floats is more than the %" G_GUINT64_FORMAT " bytes one storage "
        "binding may cover", n_channels, length, info->max_storage_range));
    return;
  }
  AvgPool1dPush pc = { n_channels, length, t_out, kernel_size, stride, time_major != FALSE };
  MorVkView b[] = { mor_vk_view_sub (x, 0, x_bytes), mor_vk_view_sub (y, 0, y_bytes) };
  guint32 spec[] = { 256 };
  guint32 gx, gy;
  mor_vk_grid (dev, (guint64) n_channels * t_out, 256, &gx, &gy);
  mor_vk_stream_dispatch (s, &avg_pool1d_f32, spec, G_N_ELEMENTS (spec), b, &pc, gx, gy, 1);
}

void
mor_ref_avg_pool1d (const float *x, float *y, guint32 n_channels, guint32 length, guint32 kernel_size,
                    guint32 stride, gboolean time_major)
{
  guint32 t_out = mor_avg_pool1d_out_length (length, kernel_size, stride);
  for (guint32 c = 0; c < n_channels; c++)
    for (guint32 t = 0; t < t_out; t++) {
      float sum = 0;
      for (guint32 k = 0; k < kernel_size; k++) {
        gsize i = (gsize) t * stride + k;
        sum += time_major ? x[i * n_channels + c] : x[(gsize) c * length + i];
      }
      gsize o = time_major ? (gsize) t * n_channels + c : (gsize) c * t_out + t;
      y[o] = sum / kernel_size;
    }
}
