/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* snake_beta: BigVGAN's SnakeBeta activation with log-scale alpha/beta, dispatch
 * and C reference. */
#include "ops.h"

#include <math.h>
#include "mor-spv.h"

typedef struct {
  guint32 n_channels, length;
} SnakeBetaPush;
G_STATIC_ASSERT (sizeof (SnakeBetaPush) == 8);

static const MorVkPipelineDesc snake_beta_f32 = {
  "snake_beta_f32", mor_spv_snake_beta_f32, &mor_spv_snake_beta_f32_size, 4, 1u << 3, sizeof (SnakeBetaPush)
};

void
mor_op_snake_beta (MorVkStream *s, MorVkView x, MorVkView alpha, MorVkView beta, MorVkView y,
                   guint32 n_channels, guint32 length)
{
  g_return_if_fail (n_channels > 0 && length > 0);
  guint64 bytes = (guint64) n_channels * length * 4;
  g_return_if_fail (x.size >= bytes && y.size >= bytes);
  g_return_if_fail (alpha.size >= (guint64) n_channels * 4 && beta.size >= (guint64) n_channels * 4);
  MorVkDevice *dev = mor_vk_stream_get_device (s);
  const MorVkDeviceInfo *info = mor_vk_device_get_info (dev);
  if (bytes > info->max_storage_range) {
    mor_vk_stream_set_error (s, g_error_new (MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED,
        "snake_beta: %u × %u floats are more than the %" G_GUINT64_FORMAT " bytes one storage binding "
        "may cover", n_channels, length, info->max_storage_range));
    return;
  }
  SnakeBetaPush pc = { n_channels, length };
  MorVkView b[] = { mor_vk_view_sub (x, 0, bytes), mor_vk_view_sub (alpha, 0, (guint64) n_channels * 4),
                    mor_vk_view_sub (beta, 0, (guint64) n_channels * 4), mor_vk_view_sub (y, 0, bytes) };
  guint32 spec[] = { 256 };
  guint32 gx, gy;
  mor_vk_grid (dev, (guint64) n_channels * length, 256, &gx, &gy);
  mor_vk_stream_dispatch (s, &snake_beta_f32, spec, G_N_ELEMENTS (spec), b, &pc, gx, gy, 1);
}

void
mor_ref_snake_beta (const float *x, const float *alpha, const float *beta, float *y, guint32 n_channels,
                    guint32 length)
{
  for (guint32 c = 0; c < n_channels; c++) {
    /* HF: alpha = exp(alpha); beta = exp(beta); x + (1.0 / (beta + 1e-9)) * sin(x * alpha)^2, in fp32 */
    float a = expf (alpha[c]), inv_b = 1.0f / (expf (beta[c]) + 1e-9f);
    for (guint32 t = 0; t < length; t++) {
      gsize i = (gsize) c * length + t;
      float sn = sinf (x[i] * a);
      y[i] = x[i] + inv_b * (sn * sn);
    }
  }
}
