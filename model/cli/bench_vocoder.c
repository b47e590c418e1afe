/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `mor bench vocoder`: speed of token2wav's BigVGAN on random mel frames.
 *
 * Method. mor_bigvgan_measure_rtf(): one session per window size, one warm-up
 * call (records the stream, builds every pipeline), then the median wall time
 * of R vocode calls, host pre-processing and read-out included:
 *  - stream: windows of chunk + 2·overlap frames (Qwen's scheme: 72 + 40),
 *    each giving chunk frames of new audio → its real-time factor is the
 *    window's time over the chunk's duration;
 *  - whole: S seconds of mel at once.
 * FLOPs (2 per multiply-add) of a window of T frames, L_i samples and c_i
 * channels after upsampler i (c_0 = upsample_initial_channel, L_0 = T):
 *   conv_pre   2·T·7·mel·c_0
 *   ups i      2·L_i·c_i·c_(i+1)·k_i            (each input sample feeds k_i outputs)
 *   AMPBlocks  Σ_i Σ_kernels 6 convs · 2·L_(i+1)·c_(i+1)²·k
 *   conv_post  2·L·7·c_last
 * The anti-aliased SnakeBeta (about 40 flops a sample and channel) is left out. */
#include "commands.h"

#include <math.h>
#include <stdio.h>

#include "bigvgan.h"

static double
vocoder_flops (const MorBigvganConfig *c, guint32 T)
{
  double ch = c->upsample_initial_channel, L = T, f = 2 * L * 7 * c->mel_dim * ch;
  for (guint32 i = 0; i < c->n_upsamples; i++) {
    f += 2 * L * ch * (ch / 2) * c->upsample_kernel_sizes[i];
    ch /= 2;
    L *= c->upsample_rates[i];
    for (guint32 j = 0; j < c->n_kernels; j++)
      f += 6 * 2 * L * ch * ch * c->resblock_kernel_sizes[j];
  }
  return f + 2 * L * 7 * ch;
}

int
mor_cli_bench_vocoder (int argc, char **argv)
{
  g_autofree char *model = NULL, *device = NULL;
  gdouble seconds = 10;
  gint chunk = 72, overlap = 20, runs = 5;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model,
      "talker.gguf with BigVGAN (make one with `mor mkmodel --kind talker`)", "FILE" },
    { "seconds", 's', 0, G_OPTION_ARG_DOUBLE, &seconds, "Seconds of audio vocoded at once (default 10)", "S" },
    { "chunk", 0, 0, G_OPTION_ARG_INT, &chunk, "Streaming: new frames a window (default 72)", "N" },
    { "overlap", 0, 0, G_OPTION_ARG_INT, &overlap, "Streaming: overlap frames (default 20)", "N" },
    { "runs", 'r', 0, G_OPTION_ARG_INT, &runs, "Timed calls of each (default 5; the median is reported)", "R" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, "Vulkan device index or name", "DEV" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("— BigVGAN vocoder speed, streaming windows and whole");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 1 || !model || !(seconds >= 0.01) ||
      seconds > 600 || chunk < 1 || chunk > 100000 || overlap < 0 || overlap > 100000 || runs < 1)
    return mor_cli_usage (ctx, error);

  g_autoptr (MorGguf) g = mor_gguf_open (model, &error);
  g_autoptr (MorVkDevice) dev = g ? mor_vk_device_open (device, &error) : NULL;
  g_autoptr (MorBigvgan) bv = dev ? mor_bigvgan_load (dev, g, &error) : NULL;
  if (!bv)
    return mor_cli_fail (error);
  const MorBigvganConfig *c = mor_bigvgan_get_config (bv);
  printf ("device: %s\n", mor_vk_device_get_info (dev)->name);
  printf ("BigVGAN: %u mel bands, %u channels, %u upsamplers, %u samples a frame, %u Hz\n", c->mel_dim,
          c->upsample_initial_channel, c->n_upsamples, c->hop, c->sample_rate);

  guint32 window = (guint32) (chunk + 2 * overlap);
  guint32 whole = (guint32) MAX (1, lround (seconds * MOR_BIGVGAN_FRAME_RATE));
  double rtf, ms;
  if (!mor_bigvgan_measure_rtf (bv, window, runs, &rtf, &ms, &error))
    return mor_cli_fail (error);
  double chunk_s = (double) chunk / MOR_BIGVGAN_FRAME_RATE;
  printf ("stream  window %u frames (%d new): %.2f ms a window, real-time factor %.4g (%.3g× real time), "
          "%.1f GFLOP/s\n", window, chunk, ms, ms / 1000 / chunk_s, chunk_s / (ms / 1000),
          vocoder_flops (c, window) / (ms * 1e6));
  if (!mor_bigvgan_measure_rtf (bv, whole, runs, &rtf, &ms, &error))
    return mor_cli_fail (error);
  printf ("whole   %u frames (%.2f s): %.1f ms, real-time factor %.4g (%.3g× real time), %.1f GFLOP/s\n", whole,
          (double) whole / MOR_BIGVGAN_FRAME_RATE, ms, rtf, 1 / rtf, vocoder_flops (c, whole) / (ms * 1e6));
  return 0;
}
