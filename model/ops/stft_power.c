/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* stft_power: the power spectrogram of torch.stft(center=True, pad_mode="reflect")
 * (the Whisper log-mel front end), dispatch, C reference, and its window and
 * twiddle tables. */
#include "ops.h"

#include <math.h>
#include "mor-spv.h"

typedef struct {
  guint32 n_samples, hop, n_frames, n1, n2;
} StftPowerPush;
G_STATIC_ASSERT (sizeof (StftPowerPush) == 20);

static const MorVkPipelineDesc stft_power_f32 = {
  "stft_power_f32", mor_spv_stft_power_f32, &mor_spv_stft_power_f32_size, 4, 1u << 3, sizeof (StftPowerPush)
};

#define STFT_MAX_FRAMES 4   /* frames per workgroup, fewer where shared memory is short */

guint32
mor_stft_n_frames (guint32 n_samples, guint32 n_fft, guint32 hop)
{
  /* torch.stft(center=True): the signal grows by n_fft // 2 on each side */
  return 1 + (n_samples + 2 * (n_fft / 2) - n_fft) / hop;
}

void
mor_hann_window (float *window, guint32 n)
{
  /* torch.hann_window(n) (periodic=True): 0.5 - 0.5·cos(2πi/n) */
  for (guint32 i = 0; i < n; i++)
    window[i] = (float) (0.5 - 0.5 * cos (2 * G_PI * i / n));
}

void
mor_dft_twiddles (float *twiddles, guint32 n_fft)
{
  for (guint32 m = 0; m < n_fft; m++) {
    twiddles[2 * m] = (float) cos (2 * G_PI * m / n_fft);
    twiddles[2 * m + 1] = (float) sin (2 * G_PI * m / n_fft);
  }
}

void
mor_op_stft_power (MorVkStream *s, MorVkView x, MorVkView window, MorVkView twiddles, MorVkView power,
                   guint32 n_samples, guint32 n_fft, guint32 hop)
{
  g_return_if_fail (n_fft >= 2 && hop > 0 && n_samples > n_fft / 2);   /* torch: reflect pad < length */
  guint32 n_frames = mor_stft_n_frames (n_samples, n_fft, hop), n_bins = n_fft / 2 + 1;
  guint64 x_bytes = (guint64) n_samples * 4, p_bytes = (guint64) n_frames * n_bins * 4;
  g_return_if_fail (x.size >= x_bytes && window.size >= (guint64) n_fft * 4);
  g_return_if_fail (twiddles.size >= (guint64) n_fft * 8 && power.size >= p_bytes);
  MorVkDevice *dev = mor_vk_stream_get_device (s);
  const MorVkDeviceInfo *info = mor_vk_device_get_info (dev);
  /* Shared memory: twiddles (8 bytes each) and, per frame, samples (4) and A (8). */
  guint64 fixed = 8ull * n_fft, per_frame = 12ull * n_fft;
  guint64 frames = info->max_shared_memory > fixed
                 ? MIN (STFT_MAX_FRAMES, (info->max_shared_memory - fixed) / per_frame) : 0;
  if (frames == 0 || MAX (x_bytes, p_bytes) > info->max_storage_range) {
    mor_vk_stream_set_error (s, g_error_new (MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED,
        "stft_power: n_fft %u needs %u bytes of shared memory (device: %u), or %u samples / %u frames "
        "are more than one storage binding may cover (%" G_GUINT64_FORMAT " bytes)", n_fft, 20 * n_fft,
        info->max_shared_memory, n_samples, n_frames, info->max_storage_range));
    return;
  }
  /* n1: the largest divisor of n_fft not above its square root */
  guint32 n1 = 1;
  for (guint32 d = 1; (guint64) d * d <= n_fft; d++)
    if (n_fft % d == 0)
      n1 = d;
  StftPowerPush pc = { n_samples, hop, n_frames, n1, n_fft / n1 };
  MorVkView b[] = { mor_vk_view_sub (x, 0, x_bytes), mor_vk_view_sub (window, 0, (guint64) n_fft * 4),
                    mor_vk_view_sub (twiddles, 0, (guint64) n_fft * 8), mor_vk_view_sub (power, 0, p_bytes) };
  guint32 spec[] = { 256, (guint32) frames, n_fft };
  guint32 gx, gy;
  mor_vk_grid (dev, n_frames, (guint32) frames, &gx, &gy);
  mor_vk_stream_dispatch (s, &stft_power_f32, spec, G_N_ELEMENTS (spec), b, &pc, gx, gy, 1);
}

void
mor_ref_stft_power (const float *x, const float *window, float *power, guint32 n_samples, guint32 n_fft,
                    guint32 hop)
{
  guint32 n_frames = mor_stft_n_frames (n_samples, n_fft, hop), n_bins = n_fft / 2 + 1;
  g_autofree double *v = g_new (double, n_fft);
  g_autofree double *cs = g_new (double, 2 * n_fft);    /* cos, sin of 2πm/n_fft */
  for (guint32 m = 0; m < n_fft; m++) {
    cs[2 * m] = cos (2 * G_PI * m / n_fft);
    cs[2 * m + 1] = sin (2 * G_PI * m / n_fft);
  }
  for (guint32 f = 0; f < n_frames; f++) {
    for (guint32 j = 0; j < n_fft; j++) {
      /* reflect padding by n_fft // 2 (the edge sample is not repeated) */
      gint64 pos = (gint64) f * hop + j - n_fft / 2;
      pos = pos < 0 ? -pos : pos >= n_samples ? 2 * ((gint64) n_samples - 1) - pos : pos;
      v[j] = (double) x[pos] * window[j];
    }
    for (guint32 k = 0; k < n_bins; k++) {
      double re = 0, im = 0;
      for (guint32 j = 0; j < n_fft; j++) {
        guint64 m = (guint64) j * k % n_fft;
        re += v[j] * cs[2 * m];
        im -= v[j] * cs[2 * m + 1];
      }
      power[(gsize) f * n_bins + k] = (float) (re * re + im * im);
    }
  }
}
