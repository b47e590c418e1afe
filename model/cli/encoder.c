/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `mor mel` and `mor encode`: the audio front end and encoder on a WAV file. */
#include "commands.h"

#include "encoder.h"
#include "mel.h"
#include "npy.h"
#include "wav.h"

int
mor_cli_mel (int argc, char **argv)
{
  g_autofree char *out = NULL, *device = NULL;
  gint n_mels = 128;
  GOptionEntry entries[] = {
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Where to write float32 [n_mels, frames]", "OUT.npy" },
    { "mels", 0, 0, G_OPTION_ARG_INT, &n_mels, "Mel bins (default 128, Qwen2.5-Omni)", "N" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, "Vulkan device index or name", "DEV" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("IN.wav — the log-mel features exactly as morencoder computes them (valid frames only)");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 2 || !out || n_mels < 1)
    return mor_cli_usage (ctx, error);
  guint64 n;
  g_autofree float *samples = mor_wav_read (argv[1], 16000, &n, &error);
  g_autoptr (MorVkDevice) dev = samples ? mor_vk_device_open (device, &error) : NULL;
  g_autoptr (MorMel) mel = dev ? mor_mel_new (dev, n_mels, &error) : NULL;
  if (!mel)
    return mor_cli_fail (error);
  guint64 shape[2] = { n_mels, mor_mel_n_frames (n) };
  g_autofree float *features = g_new (float, MAX (shape[0] * shape[1], 1));
  if (!mor_mel_compute (mel, samples, n, features, &error) ||
      !mor_npy_save (out, MOR_NPY_F32, 2, shape, features, &error))
    return mor_cli_fail (error);
  return 0;
}

int
mor_cli_encode (int argc, char **argv)
{
  g_autofree char *model = NULL, *out = NULL, *device = NULL;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model, "Audio encoder GGUF (llama.cpp mmproj layout)", "FILE" },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Where to write float32 [rows, thinker width]", "OUT.npy" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, "Vulkan device index or name", "DEV" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("IN.wav — the encoder's output rows for the whole file as one utterance");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 2 || !out || !model)
    return mor_cli_usage (ctx, error);
  guint64 n;
  g_autofree float *samples = mor_wav_read (argv[1], 16000, &n, &error);
  g_autoptr (MorGguf) g = samples ? mor_gguf_open (model, &error) : NULL;
  g_autoptr (MorVkDevice) dev = g ? mor_vk_device_open (device, &error) : NULL;
  g_autoptr (MorEncoder) enc = dev ? mor_encoder_load (dev, g, &error) : NULL;
  if (!enc)
    return mor_cli_fail (error);
  guint32 rows = 0;
  g_autofree float *emb = mor_encoder_encode (enc, samples, n, &rows, &error);
  if (!emb && error)
    return mor_cli_fail (error);
  guint64 shape[2] = { rows, mor_encoder_get_config (enc)->output_dim };
  if (!mor_npy_save (out, MOR_NPY_F32, 2, shape, emb, &error))
    return mor_cli_fail (error);
  return 0;
}
