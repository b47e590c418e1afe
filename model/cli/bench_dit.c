/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `mor bench dit`: speed of token2wav's DiT (one network evaluation, and what
 * a window's ODE costs) on random codes and noise.
 *
 * Method. One session for the window, the speaker's conditioning computed
 * first (ECAPA, timed apart), one warm-up evaluation (records the stream,
 * builds every pipeline), then the median wall time of R evaluations with
 * both branches (guidance) or the conditional one, host input assembly and
 * read-out included. A window's sample costs (points − 1)·4 evaluations with
 * RK4, (points − 1) with Euler; its real-time factor is that time over the
 * audio the window adds (Qwen's streaming: 72 new frames of 10 ms in a window
 * of up to 144).
 * FLOPs (2 per multiply-add) of one evaluation of B branches of T frames, D
 * hidden, I = heads·head_dim, F = D·ff_mult, K_l keys visible per frame in
 * layer l (its attention blocks):
 *   input      2·B·T·(mel + enc_dim + enc_emb_dim + emb_dim)·D
 *   per layer  2·B·T·(3·D·I + I·D + 2·D·F) + 4·B·T·K_l·I + 2·D·6D (modulation)
 *   output     2·B·T·D·mel + 2·D·2D */
#include "commands.h"

#include <math.h>
#include <stdio.h>

#include "dit.h"

/* Keys frame f sees in a layer looking @back and @ahead blocks of @bs around its own, of T. */
static double
visible_keys (guint32 T, guint32 bs, guint32 back, guint32 ahead)
{
  double n = 0;
  for (guint32 f = 0; f < T; f++) {
    gint64 b = f / bs, lo = MAX (0, (b - (gint64) back) * bs), hi = MIN ((gint64) T, (b + ahead + 1) * bs);
    n += (double) (hi - lo);
  }
  return n;
}

static double
dit_flops (const MorDitConfig *c, guint32 T, guint32 B)
{
  double D = c->hidden_size, I = (double) c->num_attention_heads * c->head_dim, F = D * c->ff_mult;
  double in = c->mel_dim + c->enc_dim + c->enc_emb_dim + c->emb_dim, rows = (double) B * T;
  double f = 2 * rows * in * D + 2 * rows * D * c->mel_dim + 2 * D * 2 * D + 2 * 256.0 * D + 2 * D * D;
  for (guint32 l = 0; l < c->num_hidden_layers; l++) {
    guint32 back = 0, ahead = 0;
    for (guint32 i = 0; i < c->n_look_backward_layers; i++)
      back |= c->look_backward_layers[i] == l;
    for (guint32 i = 0; i < c->n_look_ahead_layers; i++)
      ahead |= c->look_ahead_layers[i] == l;
    f += 2 * rows * (4 * D * I + 2 * D * F) + 4.0 * B * visible_keys (T, c->block_size, back, ahead) * I +
         2 * D * 6 * D;
  }
  return f;
}

int
mor_cli_bench_dit (int argc, char **argv)
{
  g_autofree char *model = NULL, *device = NULL, *solver = NULL;
  gint frames = 144, chunk = 72, steps = 10, runs = 5;
  gdouble cfg = 0.5;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model,
      "talker.gguf with the DiT (make one with `mor mkmodel --kind talker`)", "FILE" },
    { "frames", 'f', 0, G_OPTION_ARG_INT, &frames, "Mel frames a window (default 144: Qwen's streaming window)", "N" },
    { "chunk", 0, 0, G_OPTION_ARG_INT, &chunk, "New frames a window adds (default 72)", "N" },
    { "steps", 0, 0, G_OPTION_ARG_INT, &steps, "ODE time points (default 10)", "K" },
    { "solver", 0, 0, G_OPTION_ARG_STRING, &solver, "rk4 (default) or euler", "S" },
    { "cfg", 0, 0, G_OPTION_ARG_DOUBLE, &cfg, "Guidance scale (default 0.5; 0: the conditional branch alone)", "X" },
    { "runs", 'r', 0, G_OPTION_ARG_INT, &runs, "Timed evaluations (default 5; the median is reported)", "R" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, "Vulkan device index or name", "DEV" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("— token2wav DiT speed: one evaluation, a window's ODE");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 1 || !model || frames < 2 || frames > 100000 ||
      chunk < 1 || steps < 2 || steps > 10000 || runs < 1 || runs > 1000 ||
      (solver && g_strcmp0 (solver, "rk4") != 0 && g_strcmp0 (solver, "euler") != 0))
    return mor_cli_usage (ctx, error);

  g_autoptr (MorGguf) g = mor_gguf_open (model, &error);
  g_autoptr (MorVkDevice) dev = g ? mor_vk_device_open (device, &error) : NULL;
  g_autoptr (MorDit) dit = dev ? mor_dit_load (dev, g, &error) : NULL;
  if (!dit)
    return mor_cli_fail (error);
  const MorDitConfig *c = mor_dit_get_config (dit);
  guint32 n = MAX (1, (guint32) frames / c->repeats), T = n * c->repeats, B = cfg < 1e-5 ? 1 : 2;
  printf ("device: %s\n", mor_vk_device_get_info (dev)->name);
  printf ("DiT: %u blocks of %u, %u heads × %u, FF %u; window %u frames (%u codes), %u branch%s\n",
          c->num_hidden_layers, c->hidden_size, c->num_attention_heads, c->head_dim, c->hidden_size * c->ff_mult, T,
          n, B, B == 2 ? "es" : "");

  gint64 t0 = g_get_monotonic_time ();
  g_autoptr (MorDitSpeaker) spk = mor_dit_speaker_load (dit, NULL, &error);
  if (!spk)
    return mor_cli_fail (error);
  printf ("speaker conditioning (ECAPA twice, once per speaker): %.1f ms\n", (g_get_monotonic_time () - t0) / 1e3);

  g_autoptr (MorDitSession) s = mor_dit_session_new (dit, n, &error);
  if (!s)
    return mor_cli_fail (error);
  g_autofree guint32 *codes = g_new (guint32, n);
  for (guint32 i = 0; i < n; i++)
    codes[i] = (i * 2654435761u) % (c->num_embeds + 1);
  gsize size = (gsize) T * c->mel_dim;
  g_autofree float *x = g_new (float, size), *vc = g_new (float, size), *vn = g_new (float, size);
  mor_dit_noise (1, x, size);
  g_autofree double *ms = g_new (double, runs);
  for (gint r = -1; r < runs; r++) {
    t0 = g_get_monotonic_time ();
    if (!mor_dit_session_velocity (s, spk, codes, n, x, 0.5f, vc, B == 2 ? vn : NULL, &error))
      return mor_cli_fail (error);
    if (r >= 0)
      ms[r] = (g_get_monotonic_time () - t0) / 1e3;
  }
  double eval_ms = mor_cli_median (ms, runs);
  guint32 evals = (steps - 1) * (solver && g_strcmp0 (solver, "euler") == 0 ? 1 : 4);
  double window_s = evals * eval_ms / 1000, chunk_s = chunk / 100.0;
  printf ("evaluation: %.2f ms (median of %d), %.1f GFLOP/s\n", eval_ms, runs, dit_flops (c, T, B) / (eval_ms * 1e6));
  printf ("window ODE: %u evaluations, %.1f ms; for %d new frames (%.2f s of audio) real-time factor %.3f "
          "(%.1f× real time)\n", evals, window_s * 1000, chunk, chunk_s, window_s / chunk_s, chunk_s / window_s);
  return 0;
}
