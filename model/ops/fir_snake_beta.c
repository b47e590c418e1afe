/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fir_snake_beta: BigVGAN's anti-aliased SnakeBeta (HF TorchActivation1d:
 * UpSample1d → SnakeBeta → DownSample1d) in one pass, dispatch and C reference. */
#include "ops.h"

#include "mor-spv.h"

typedef struct {
  guint32 n_channels, t_in, t_out, n_taps, ratio, pad_up, crop, pad_down, tiles_t;
} FirSnakeBetaPush;
G_STATIC_ASSERT (sizeof (FirSnakeBetaPush) == 36);

static const MorVkPipelineDesc fir_snake_beta_f32 = {
  "fir_snake_beta_f32", mor_spv_fir_snake_beta_f32, &mor_spv_fir_snake_beta_f32_size, 5, 1u << 4,
  sizeof (FirSnakeBetaPush)
};

#define FIR_SNAKE_BETA_BLOCK 256   /* outputs per workgroup */

guint32
mor_fir_snake_beta_out_length (guint32 length, guint32 n_taps, guint32 ratio)
{
  return mor_fir_downsample_out_length (length * ratio, n_taps, ratio);
}

void
mor_op_fir_snake_beta (MorVkStream *s, MorVkView x, MorVkView alpha, MorVkView beta, MorVkView filter, MorVkView y,
                       guint32 n_channels, guint32 length, guint32 n_taps, guint32 ratio)
{
  g_return_if_fail (n_channels > 0 && length > 0 && ratio > 0 && n_taps >= ratio);
  guint32 t_out = mor_fir_snake_beta_out_length (length, n_taps, ratio);
  guint64 x_bytes = (guint64) n_channels * length * 4, y_bytes = (guint64) n_channels * t_out * 4;
  g_return_if_fail (x.size >= x_bytes && y.size >= y_bytes && filter.size >= (guint64) n_taps * 4);
  g_return_if_fail (alpha.size >= (guint64) n_channels * 4 && beta.size >= (guint64) n_channels * 4);
  MorVkDevice *dev = mor_vk_stream_get_device (s);
  const MorVkDeviceInfo *info = mor_vk_device_get_info (dev);
  guint32 z_size = (FIR_SNAKE_BETA_BLOCK - 1) * ratio + n_taps;
  if (MAX (x_bytes, y_bytes) > info->max_storage_range || (guint64) z_size * 4 > info->max_shared_memory) {
    mor_vk_stream_set_error (s, g_error_new (MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED,
        "fir_snake_beta: %u × %u floats, or %u floats of shared memory (ratio %u, %u taps), are more than "
        "the device allows (%" G_GUINT64_FORMAT " bytes a binding, %u bytes shared)", n_channels, length, z_size,
        ratio, n_taps, info->max_storage_range, info->max_shared_memory));
    return;
  }
  guint32 tiles_t = (t_out + FIR_SNAKE_BETA_BLOCK - 1) / FIR_SNAKE_BETA_BLOCK;
  guint32 pad_up = n_taps / ratio - 1;
  FirSnakeBetaPush pc = { n_channels, length, t_out, n_taps, ratio, pad_up, pad_up * ratio + (n_taps - ratio) / 2,
                          n_taps / 2 - (n_taps % 2 == 0), tiles_t };
  guint64 p_bytes = (guint64) n_channels * 4;
  MorVkView b[] = { mor_vk_view_sub (x, 0, x_bytes), mor_vk_view_sub (alpha, 0, p_bytes),
                    mor_vk_view_sub (beta, 0, p_bytes), mor_vk_view_sub (filter, 0, (guint64) n_taps * 4),
                    mor_vk_view_sub (y, 0, y_bytes) };
  guint32 spec[] = { FIR_SNAKE_BETA_BLOCK, z_size };
  guint32 gx, gy;
  mor_vk_grid (dev, (guint64) tiles_t * n_channels, 1, &gx, &gy);
  mor_vk_stream_dispatch (s, &fir_snake_beta_f32, spec, G_N_ELEMENTS (spec), b, &pc, gx, gy, 1);
}

void
mor_ref_fir_snake_beta (const float *x, const float *alpha, const float *beta, const float *filter, float *y,
                        guint32 n_channels, guint32 length, guint32 n_taps, guint32 ratio)
{
  /* TorchActivation1d.forward: upsample, act, downsample */
  g_autofree float *up = g_new (float, (gsize) n_channels * length * ratio);
  mor_ref_fir_upsample (x, filter, up, n_channels, length, n_taps, ratio);
  mor_ref_snake_beta (up, alpha, beta, up, n_channels, length * ratio);
  mor_ref_fir_downsample (up, filter, y, n_channels, length * ratio, n_taps, ratio);
}
