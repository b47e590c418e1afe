/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `mor vocode`: the BigVGAN vocoder on a mel spectrogram (.npy) to a WAV file. */
#include "commands.h"

#include <string.h>

#include "bigvgan.h"
#include "npy.h"
#include "wav.h"

int
mor_cli_vocode (int argc, char **argv)
{
  g_autofree char *model = NULL, *mel_path = NULL, *out = NULL, *device = NULL;
  gint chunk = 0, overlap = 20;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model, "talker.gguf (BigVGAN: mor.bigvgan.*, t2w.bigvgan.*)", "FILE" },
    { "mel", 0, 0, G_OPTION_ARG_FILENAME, &mel_path,
      "float32 [mel_dim, frames] (or [1, mel_dim, frames]) natural-log mel amplitudes, as the DiT writes them",
      "MEL.npy" },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out,
      "Where to write the waveform: a mono 32-bit float WAV at 100·hop Hz (24 kHz), or float32 [samples] if the "
      "name ends in .npy", "OUT.wav" },
    { "chunk", 0, 0, G_OPTION_ARG_INT, &chunk,
      "Vocode as a stream in chunks of N frames with the frames before as context (Qwen's scheme: 72); "
      "default: the whole file at once", "N" },
    { "overlap", 0, 0, G_OPTION_ARG_INT, &overlap, "With --chunk: frames of context each side (default 20)", "N" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, "Vulkan device index or name", "DEV" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("— a waveform from a mel spectrogram (token2wav's BigVGAN)");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 1 || !model || !mel_path || !out ||
      chunk < 0 || overlap < 0 || overlap > 100000)
    return mor_cli_usage (ctx, error);

  g_autoptr (MorNpy) mel = mor_npy_load (mel_path, &error);
  g_autoptr (MorGguf) g = mel ? mor_gguf_open (model, &error) : NULL;
  g_autoptr (MorVkDevice) dev = g ? mor_vk_device_open (device, &error) : NULL;
  g_autoptr (MorBigvgan) bv = dev ? mor_bigvgan_load (dev, g, &error) : NULL;
  if (!bv)
    return mor_cli_fail (error);
  const MorBigvganConfig *c = mor_bigvgan_get_config (bv);
  const gint64 shape2[] = { c->mel_dim, -1 }, shape3[] = { 1, c->mel_dim, -1 };
  if (!mor_npy_check (mel, mel_path, MOR_NPY_F32, mel->ndim == 3 ? 3 : 2, mel->ndim == 3 ? shape3 : shape2, &error))
    return mor_cli_fail (error);
  guint64 T = mel->shape[mel->ndim - 1];
  if (T == 0 || T > G_MAXUINT32 / c->hop) {
    g_set_error (&error, MOR_BIGVGAN_ERROR, MOR_BIGVGAN_ERROR_INPUT, "%s: %" G_GUINT64_FORMAT " mel frames; "
                 "expected 1 to %u", mel_path, T, G_MAXUINT32 / c->hop);
    return mor_cli_fail (error);
  }
  guint64 n = T * c->hop;
  g_autofree float *samples = g_new (float, n);
  if (chunk == 0) {
    g_autoptr (MorBigvganSession) s = mor_bigvgan_session_new (bv, (guint32) T, &error);
    const float *y = s ? mor_bigvgan_session_vocode (s, mel->data, (guint32) T, (guint32) T, &error) : NULL;
    if (!y)
      return mor_cli_fail (error);
    memcpy (samples, y, n * 4);
  } else {
    g_autoptr (MorBigvganSession) s = mor_bigvgan_session_new (bv, chunk + 2 * overlap, &error);
    if (!s)
      return mor_cli_fail (error);
    mor_bigvgan_session_stream_reset (s, overlap);
    guint64 done = 0;
    for (guint64 at = 0; at < T; at += chunk) {
      guint32 len = (guint32) MIN ((guint64) chunk, T - at);
      guint64 got;
      const float *y = mor_bigvgan_session_stream_push (s, (const float *) mel->data + at, len, (guint32) T,
                                                        at + len == T, &got, &error);
      if (!y)
        return mor_cli_fail (error);
      memcpy (samples + done, y, got * 4);
      done += got;
    }
    g_assert (done == n);
  }
  gboolean ok = g_str_has_suffix (out, ".npy") ? mor_npy_save (out, MOR_NPY_F32, 1, &n, samples, &error)
                                               : mor_wav_write (out, c->sample_rate, samples, n, &error);
  if (!ok)
    return mor_cli_fail (error);
  return 0;
}
