/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* log_mel_norm: Whisper's log10 / clamp to max - 8 / (x + 4) / 4 normalisation of
 * a mel spectrogram, dispatch and C reference. */
#include "ops.h"

#include <math.h>
#include "mor-spv.h"

typedef struct {
  guint32 n;
} LogMelNormPush;
G_STATIC_ASSERT (sizeof (LogMelNormPush) == 4);

static const MorVkPipelineDesc log_mel_norm_max = {
  "log_mel_norm_max", mor_spv_log_mel_norm_max, &mor_spv_log_mel_norm_max_size, 2, 1u << 1,
  sizeof (LogMelNormPush)
};
static const MorVkPipelineDesc log_mel_norm_max_subgroup = {
  "log_mel_norm_max_subgroup", mor_spv_log_mel_norm_max_subgroup, &mor_spv_log_mel_norm_max_subgroup_size, 2,
  1u << 1, sizeof (LogMelNormPush)
};
static const MorVkPipelineDesc log_mel_norm_apply = {
  "log_mel_norm_apply", mor_spv_log_mel_norm_apply, &mor_spv_log_mel_norm_apply_size, 3, 1u << 2,
  sizeof (LogMelNormPush)
};

void
mor_op_log_mel_norm (MorVkStream *s, MorVkView mel, MorVkView scratch, MorVkView y, guint32 n)
{
  g_return_if_fail (n > 0 && mel.size >= (guint64) n * 4 && y.size >= (guint64) n * 4 && scratch.size >= 4);
  MorVkDevice *dev = mor_vk_stream_get_device (s);
  const MorVkDeviceInfo *info = mor_vk_device_get_info (dev);
  if ((guint64) n * 4 > info->max_storage_range) {
    mor_vk_stream_set_error (s, g_error_new (MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED,
        "log_mel_norm: %u floats are more than the %" G_GUINT64_FORMAT " bytes one storage binding may cover",
        n, info->max_storage_range));
    return;
  }
  LogMelNormPush pc = { n };
  MorVkView gmax = mor_vk_view_sub (scratch, 0, 4);
  MorVkView b[] = { mor_vk_view_sub (mel, 0, (guint64) n * 4), gmax, mor_vk_view_sub (y, 0, (guint64) n * 4) };
  guint32 spec[] = { 256 };
  guint32 gx, gy;
  mor_vk_grid (dev, n, 256, &gx, &gy);
  /* 0 is below every key: the max of the keys is the key of the max. */
  mor_vk_stream_fill (s, gmax, 0);
  mor_vk_stream_dispatch (s, info->subgroup_arithmetic ? &log_mel_norm_max_subgroup : &log_mel_norm_max,
                          spec, G_N_ELEMENTS (spec), b, &pc, gx, gy, 1);
  mor_vk_stream_dispatch (s, &log_mel_norm_apply, spec, G_N_ELEMENTS (spec), b, &pc, gx, gy, 1);
}

void
mor_ref_log_mel_norm (const float *mel, float *y, guint32 n)
{
  /* log_spec = torch.clamp(mel_spec, min=1e-10).log10()
   * log_spec = torch.maximum(log_spec, log_spec.max() - 8.0); (log_spec + 4.0) / 4.0 */
  float m = -INFINITY;
  for (guint32 i = 0; i < n; i++)
    m = MAX (m, log10f (MAX (mel[i], 1e-10f)));
  for (guint32 i = 0; i < n; i++)
    y[i] = (MAX (log10f (MAX (mel[i], 1e-10f)), m - 8.0f) + 4.0f) / 4.0f;
}
