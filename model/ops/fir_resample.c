/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fir_resample: anti-aliased up/down sampling by an integer ratio with an FIR
 * low-pass filter (HF Qwen2.5-Omni UpSample1d / DownSample1d), dispatch, C
 * reference, and the Kaiser-windowed sinc filter they use. */
#include "ops.h"

#include <math.h>
#include "mor-spv.h"

typedef struct {
  guint32 n_channels, t_in, t_out, n_taps, ratio, pad, crop;
} FirResamplePush;
G_STATIC_ASSERT (sizeof (FirResamplePush) == 28);

static const MorVkPipelineDesc fir_upsample_f32 = {
  "fir_upsample_f32", mor_spv_fir_upsample_f32, &mor_spv_fir_upsample_f32_size, 3, 1u << 2,
  sizeof (FirResamplePush)
};
static const MorVkPipelineDesc fir_downsample_f32 = {
  "fir_downsample_f32", mor_spv_fir_downsample_f32, &mor_spv_fir_downsample_f32_size, 3, 1u << 2,
  sizeof (FirResamplePush)
};

guint32
mor_fir_downsample_out_length (guint32 length, guint32 n_taps, guint32 ratio)
{
  /* (length + pad_left + pad_right - K) / ratio + 1 with pad_left = K/2 - (K even), pad_right = K/2 */
  return (length - (n_taps % 2 == 0)) / ratio + 1;
}

static void
fir_dispatch (MorVkStream *s, const MorVkPipelineDesc *desc, MorVkView x, MorVkView filter, MorVkView y,
              const FirResamplePush *pc)
{
  guint64 x_bytes = (guint64) pc->n_channels * pc->t_in * 4, y_bytes = (guint64) pc->n_channels * pc->t_out * 4;
  g_return_if_fail (x.size >= x_bytes && y.size >= y_bytes && filter.size >= (guint64) pc->n_taps * 4);
  MorVkDevice *dev = mor_vk_stream_get_device (s);
  const MorVkDeviceInfo *info = mor_vk_device_get_info (dev);
  if (MAX (x_bytes, y_bytes) > info->max_storage_range) {
    mor_vk_stream_set_error (s, g_error_new (MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED,
        "%s: x %" G_GUINT64_FORMAT " or y %" G_GUINT64_FORMAT " bytes: more than the %" G_GUINT64_FORMAT
        " bytes one storage binding may cover", desc->name, x_bytes, y_bytes, info->max_storage_range));
    return;
  }
  MorVkView b[] = { mor_vk_view_sub (x, 0, x_bytes), mor_vk_view_sub (filter, 0, (guint64) pc->n_taps * 4),
                    mor_vk_view_sub (y, 0, y_bytes) };
  guint32 spec[] = { 256 };
  guint32 gx, gy;
  mor_vk_grid (dev, (guint64) pc->n_channels * pc->t_out, 256, &gx, &gy);
  mor_vk_stream_dispatch (s, desc, spec, G_N_ELEMENTS (spec), b, pc, gx, gy, 1);
}

void
mor_op_fir_upsample (MorVkStream *s, MorVkView x, MorVkView filter, MorVkView y, guint32 n_channels,
                     guint32 length, guint32 n_taps, guint32 ratio)
{
  g_return_if_fail (n_channels > 0 && length > 0 && ratio > 0 && n_taps >= ratio);
  guint32 pad = n_taps / ratio - 1;
  FirResamplePush pc = { n_channels, length, length * ratio, n_taps, ratio, pad, pad * ratio + (n_taps - ratio) / 2 };
  fir_dispatch (s, &fir_upsample_f32, x, filter, y, &pc);
}

void
mor_op_fir_downsample (MorVkStream *s, MorVkView x, MorVkView filter, MorVkView y, guint32 n_channels,
                       guint32 length, guint32 n_taps, guint32 ratio)
{
  g_return_if_fail (n_channels > 0 && length > 0 && ratio > 0 && n_taps > 0);
  FirResamplePush pc = { n_channels, length, mor_fir_downsample_out_length (length, n_taps, ratio), n_taps, ratio,
                         n_taps / 2 - (n_taps % 2 == 0), 0 };
  fir_dispatch (s, &fir_downsample_f32, x, filter, y, &pc);
}

static float
replicate (const float *row, gint64 i, guint32 length)
{
  return row[CLAMP (i, 0, (gint64) length - 1)];
}

void
mor_ref_fir_upsample (const float *x, const float *filter, float *y, guint32 n_channels, guint32 length,
                      guint32 n_taps, guint32 ratio)
{
  /* HF UpSample1d: pad = K // ratio - 1; pad_left = pad * ratio + (K - ratio) // 2
   *   x = F.pad(x, (pad, pad), mode="replicate")
   *   x = ratio * F.conv_transpose1d(x, filter, stride=ratio, groups=C)[..., pad_left:-pad_right] */
  gint64 pad = n_taps / ratio - 1, crop = pad * ratio + (n_taps - ratio) / 2;
  for (guint32 c = 0; c < n_channels; c++) {
    const float *row = x + (gsize) c * length;
    for (gint64 t = 0; t < (gint64) length * ratio; t++) {
      double acc = 0;
      /* z[u] = Σ_{i·ratio + k = u} f[k]·xp[i], xp[i] = x[clamp(i - pad)] */
      gint64 u = t + crop;
      for (gint64 k = 0; k < n_taps; k++)
        if (u >= k && (u - k) % ratio == 0)
          acc += (double) filter[k] * replicate (row, (u - k) / ratio - pad, length);
      y[(gsize) c * length * ratio + t] = (float) (ratio * acc);
    }
  }
}

void
mor_ref_fir_downsample (const float *x, const float *filter, float *y, guint32 n_channels, guint32 length,
                        guint32 n_taps, guint32 ratio)
{
  /* HF DownSample1d: x = F.pad(x, (K//2 - even, K//2), mode="replicate"); F.conv1d(x, filter, stride=ratio) */
  guint32 t_out = mor_fir_downsample_out_length (length, n_taps, ratio);
  gint64 pad = n_taps / 2 - (n_taps % 2 == 0);
  for (guint32 c = 0; c < n_channels; c++)
    for (guint32 t = 0; t < t_out; t++) {
      double acc = 0;
      for (guint32 k = 0; k < n_taps; k++)
        acc += (double) filter[k] * replicate (x + (gsize) c * length, (gint64) t * ratio + k - pad, length);
      y[(gsize) c * t_out + t] = (float) acc;
    }
}

/* Modified Bessel function of the first kind, order 0: Σ ((x/2)^k / k!)². */
static double
bessel_i0 (double x)
{
  double sum = 1, term = 1;
  for (int k = 1; k < 500 && term > 1e-17 * sum; k++) {
    term *= (x / (2 * k)) * (x / (2 * k));
    sum += term;
  }
  return sum;
}

void
mor_kaiser_sinc_filter (float *filter, guint32 n_taps, double cutoff, double half_width)
{
  /* HF kaiser_sinc_filter1d, in fp64 (HF builds it in fp32: a few ulp apart). */
  guint32 half = n_taps / 2;
  double attenuation = 2.285 * ((double) half - 1) * G_PI * (4 * half_width) + 7.95;
  double beta = attenuation > 50.0 ? 0.1102 * (attenuation - 8.7)
              : attenuation >= 21.0 ? 0.5842 * pow (attenuation - 21, 0.4) + 0.07886 * (attenuation - 21.0)
              : 0.0;
  g_autofree double *v = g_new (double, n_taps);
  double sum = 0;
  for (guint32 n = 0; n < n_taps; n++) {
    /* torch.kaiser_window(K, beta, periodic=False) */
    double ratio = n_taps > 1 ? 2.0 * n / (n_taps - 1) - 1.0 : 0.0;
    double window = bessel_i0 (beta * sqrt (MAX (0.0, 1.0 - ratio * ratio))) / bessel_i0 (beta);
    double time = n_taps % 2 == 0 ? (double) n - half + 0.5 : (double) n - half;
    double arg = 2 * cutoff * time;
    double sinc = arg == 0 ? 1.0 : sin (G_PI * arg) / (G_PI * arg);
    v[n] = 2 * cutoff * window * sinc;
    sum += v[n];
  }
  for (guint32 n = 0; n < n_taps; n++)
    filter[n] = cutoff == 0 ? 0.0f : (float) (v[n] / sum);
}
