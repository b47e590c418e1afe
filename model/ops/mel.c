/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mel: the mel filterbank product of the Whisper front end, dispatch, C
 * reference, and the Slaney filterbank (transformers' mel_filter_bank). */
#include "ops.h"

#include <math.h>
#include "mor-spv.h"

typedef struct {
  guint32 n_frames, n_bins, n_mel, tiles_n, n_tiles;
} MelPush;
G_STATIC_ASSERT (sizeof (MelPush) == 20);

static const MorVkPipelineDesc mel_f32 = {
  "mel_f32", mor_spv_mel_f32, &mor_spv_mel_f32_size, 3, 1u << 2, sizeof (MelPush)
};

#define MEL_BM 64   /* mels per tile */
#define MEL_BN 64   /* frames per tile */

void
mor_op_mel (MorVkStream *s, MorVkView power, MorVkView filters, MorVkView y, guint32 n_frames, guint32 n_bins,
            guint32 n_mel)
{
  g_return_if_fail (n_frames > 0 && n_bins > 0 && n_mel > 0);
  guint64 p_bytes = (guint64) n_frames * n_bins * 4, f_bytes = (guint64) n_mel * n_bins * 4;
  guint64 y_bytes = (guint64) n_mel * n_frames * 4;
  g_return_if_fail (power.size >= p_bytes && filters.size >= f_bytes && y.size >= y_bytes);
  MorVkDevice *dev = mor_vk_stream_get_device (s);
  const MorVkDeviceInfo *info = mor_vk_device_get_info (dev);
  if (MAX (p_bytes, y_bytes) > info->max_storage_range) {
    mor_vk_stream_set_error (s, g_error_new (MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED,
        "mel: %u frames of %u bins or %u mels are more than the %" G_GUINT64_FORMAT " bytes one storage "
        "binding may cover", n_frames, n_bins, n_mel, info->max_storage_range));
    return;
  }
  guint32 tiles_n = (n_frames + MEL_BN - 1) / MEL_BN;
  MelPush pc = { n_frames, n_bins, n_mel, tiles_n, tiles_n * ((n_mel + MEL_BM - 1) / MEL_BM) };
  MorVkView b[] = { mor_vk_view_sub (power, 0, p_bytes), mor_vk_view_sub (filters, 0, f_bytes),
                    mor_vk_view_sub (y, 0, y_bytes) };
  guint32 spec[] = { 256, MEL_BM, MEL_BN, 16, 4, 4 };
  guint32 gx, gy;
  mor_vk_grid (dev, pc.n_tiles, 1, &gx, &gy);
  mor_vk_stream_dispatch (s, &mel_f32, spec, G_N_ELEMENTS (spec), b, &pc, gx, gy, 1);
}

void
mor_ref_mel (const float *power, const float *filters, float *y, guint32 n_frames, guint32 n_bins, guint32 n_mel)
{
  for (guint32 m = 0; m < n_mel; m++)
    for (guint32 t = 0; t < n_frames; t++) {
      double acc = 0;
      for (guint32 k = 0; k < n_bins; k++)
        acc += (double) filters[(gsize) m * n_bins + k] * power[(gsize) t * n_bins + k];
      y[(gsize) m * n_frames + t] = (float) acc;
    }
}

/* transformers.audio_utils.hertz_to_mel / mel_to_hertz, mel_scale="slaney":
 * linear (3 mel per 200 Hz) below 1 kHz, logarithmic (27 mel per factor 6.4) above. */
static double
hertz_to_mel_slaney (double freq)
{
  return freq >= 1000.0 ? 15.0 + log (freq / 1000.0) * (27.0 / log (6.4)) : 3.0 * freq / 200.0;
}

static double
mel_to_hertz_slaney (double mels)
{
  return mels >= 15.0 ? 1000.0 * exp (log (6.4) / 27.0 * (mels - 15.0)) : 200.0 * mels / 3.0;
}

void
mor_mel_filter_bank (float *filters, guint32 n_bins, guint32 n_mel, double f_min, double f_max,
                     guint32 sample_rate)
{
  g_return_if_fail (n_bins >= 2 && n_mel > 0);
  /* fft_freqs = np.linspace(0, sampling_rate // 2, num_frequency_bins) */
  g_autofree double *fft = g_new (double, n_bins);
  for (guint32 k = 0; k < n_bins; k++)
    fft[k] = k == n_bins - 1 ? (double) (sample_rate / 2) : k * ((double) (sample_rate / 2) / (n_bins - 1));
  /* filter_freqs = mel_to_hertz(np.linspace(hertz_to_mel(f_min), hertz_to_mel(f_max), n_mel + 2)) */
  g_autofree double *edge = g_new (double, n_mel + 2);
  double mel_min = hertz_to_mel_slaney (f_min), mel_max = hertz_to_mel_slaney (f_max);
  for (guint32 i = 0; i < n_mel + 2; i++)
    edge[i] = mel_to_hertz_slaney (i == n_mel + 1 ? mel_max : mel_min + i * ((mel_max - mel_min) / (n_mel + 1)));
  for (guint32 m = 0; m < n_mel; m++) {
    /* _create_triangular_filter_bank, then norm="slaney": × 2 / (f[m+2] - f[m]) */
    double enorm = 2.0 / (edge[m + 2] - edge[m]);
    for (guint32 k = 0; k < n_bins; k++) {
      double down = (fft[k] - edge[m]) / (edge[m + 1] - edge[m]);
      double up = (edge[m + 2] - fft[k]) / (edge[m + 2] - edge[m + 1]);
      filters[(gsize) m * n_bins + k] = (float) (MAX (0.0, MIN (down, up)) * enorm);
    }
  }
}
