/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `mor bench talker`: the speed of speaking, stage by stage and as mortalker
 * chains them, on random rows (a random talker file from `mor mkmodel --kind
 * talker`, e.g. with the Qwen2.5-Omni-3B shapes).
 *
 * Method. The talker prefills P random prompt rows, then makes N codes, one
 * random reply row each (as during an answer); its rate is codes per second of
 * wall time. token2wav streams those codes as mortalker does (model/token2wav.c:
 * chunks of 72 frames), each chunk timed. Time to first audio = the talker's
 * time for the first 48 codes + the first chunk (the DiT on 96 frames and its
 * vocoding), the chain's own latency with an infinitely fast thinker. The
 * real-time factors are compute time over the audio made (50 codes, 100 mel
 * frames a second); the vocoder's alone comes from mor_bigvgan_measure_rtf on
 * the stream's window size. */
#include "commands.h"

#include <stdio.h>

#include "talker.h"
#include "token2wav.h"

static double
now_s (void)
{
  return g_get_monotonic_time () / 1e6;
}

static void
random_rows (float *x, gsize n, guint32 seed)
{
  for (gsize i = 0; i < n; i++) {
    seed = seed * 1664525u + 1013904223u;
    x[i] = ((seed >> 8) / 16777216.0f - 0.5f) * 0.1f;
  }
}

int
mor_cli_bench_talker (int argc, char **argv)
{
  g_autofree char *model = NULL, *device = NULL, *solver = NULL;
  gint n_codes = 120, n_prompt = 64, steps = -1;
  gdouble cfg = -1;
  gboolean talker_only = FALSE;
  GOptionEntry entries[] = {
    { "talker-only", 0, 0, G_OPTION_ARG_NONE, &talker_only, "Time the talker alone (token2wav on CPU devices takes minutes at 3B shapes)", NULL },
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model, "talker.gguf (make one with `mor mkmodel --kind talker`)", "FILE" },
    { "codes", 'n', 0, G_OPTION_ARG_INT, &n_codes, "Codes to make (default 120: 2.4 s of speech, 3 chunks)", "N" },
    { "prompt", 0, 0, G_OPTION_ARG_INT, &n_prompt, "Prompt rows (default 64)", "P" },
    { "steps", 0, 0, G_OPTION_ARG_INT, &steps, "DiT time points (default 10)", "K" },
    { "solver", 0, 0, G_OPTION_ARG_STRING, &solver, "DiT solver: rk4 (default) or euler", "S" },
    { "cfg", 0, 0, G_OPTION_ARG_DOUBLE, &cfg, "DiT guidance (default 0.5)", "X" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, "Vulkan device index or name", "DEV" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("— talker codes/s, token2wav real-time factors, time to "
                                                         "first audio");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 1 || !model || n_codes < 48 ||
      n_prompt < 1 || (solver && g_strcmp0 (solver, "rk4") != 0 && g_strcmp0 (solver, "euler") != 0))
    return mor_cli_usage (ctx, error);
  MorToken2WavParams p = { .seed = 1 };
  mor_dit_sample_params_init (&p.dit);
  if (steps >= 2)
    p.dit.num_steps = steps;
  if (cfg >= 0)
    p.dit.guidance_scale = cfg;
  if (solver && g_strcmp0 (solver, "euler") == 0)
    p.dit.solver = MOR_DIT_SOLVER_EULER;

  g_autoptr (MorGguf) g = mor_gguf_open (model, &error);
  g_autoptr (MorVkDevice) dev = g ? mor_vk_device_open (device, &error) : NULL;
  g_autoptr (MorTalker) talker = dev ? mor_talker_load (dev, g, &error) : NULL;
  g_autoptr (MorToken2Wav) t2w = talker ? mor_token2wav_load (dev, g, &error) : NULL;
  if (!t2w)
    return mor_cli_fail (error);
  const MorTalkerConfig *tc = mor_talker_get_config (talker);
  const MorLlmConfig *lc = mor_llm_get_config (mor_talker_get_llm (talker));
  const MorDitConfig *dc = mor_dit_get_config (mor_token2wav_get_dit (t2w));
  printf ("device: %s\n", mor_vk_device_get_info (dev)->name);
  printf ("talker: %u layers of %u, %u heads; DiT: %u blocks of %u; BigVGAN: %u upsamplers\n",
          lc->num_hidden_layers, lc->hidden_size, lc->num_attention_heads, dc->num_hidden_layers, dc->hidden_size,
          mor_bigvgan_get_config (mor_token2wav_get_bigvgan (t2w))->n_upsamples);
  printf ("DiT sampling: %u time points, %s, guidance %.2f: %u evaluations a chunk\n", p.dit.num_steps,
          p.dit.solver == MOR_DIT_SOLVER_RK4 ? "rk4" : "euler", p.dit.guidance_scale,
          (p.dit.num_steps - 1) * (p.dit.solver == MOR_DIT_SOLVER_RK4 ? 4 : 1) *
          (p.dit.guidance_scale >= 1e-5 ? 2 : 1));

  /* The talker: greedy, so that no random end code stops it early is likely;
   * an end code only shortens the run (reported). */
  MorSamplerParams sp = MOR_TALKER_SAMPLING_GREEDY;
  g_autoptr (MorTalkerSession) ts = mor_talker_session_new (talker, MIN ((guint32) (n_prompt + n_codes + 8),
                                                            lc->max_position_embeddings), &sp, n_codes + 1, &error);
  g_autoptr (MorToken2WavSession) ws = ts ? mor_token2wav_session_new (t2w, n_codes, &error) : NULL;
  if (!ws)
    return mor_cli_fail (error);
  g_autofree float *prompt = g_new (float, (gsize) n_prompt * tc->embedding_size);
  g_autofree float *row = g_new (float, tc->embedding_size);
  random_rows (prompt, (gsize) n_prompt * tc->embedding_size, 1);
  g_autofree gint32 *codes = g_new (gint32, n_codes);
  double t0 = now_s ();
  if (!mor_talker_session_begin (ts, prompt, n_prompt, NULL, &error))
    return mor_cli_fail (error);
  double prefill_s = now_s () - t0, t48 = 0;
  guint32 made = 0;
  t0 = now_s ();
  while (made < (guint32) n_codes) {
    gint32 code;
    MorTalkerStatus st = mor_talker_session_next (ts, &code, &error);
    if (st == MOR_TALKER_ERROR_STATUS)
      return mor_cli_fail (error);
    if (st == MOR_TALKER_DONE)
      break;
    if (st == MOR_TALKER_NEED_REPLY) {
      random_rows (row, tc->embedding_size, 100 + made);
      if (!mor_talker_session_push_reply (ts, row, &error))
        return mor_cli_fail (error);
      continue;
    }
    /* random weights may pick a code the DiT has no row for: speak a valid one instead */
    codes[made++] = code <= (gint32) dc->num_embeds ? code : (gint32) (code % (dc->num_embeds + 1));
    if (made == 48)
      t48 = now_s () - t0;
  }
  double talker_s = now_s () - t0;
  printf ("talker: prefill of %d rows %.1f ms; %u codes in %.2f s: %.1f codes/s (%.2f× real time at 50 codes/s)%s\n",
          n_prompt, prefill_s * 1000, made, talker_s, made / talker_s, made / talker_s / 50,
          made < (guint32) n_codes ? " (stopped at an end code)" : "");
  if (talker_only)
    return 0;
  if (made < 48) {
    fprintf (stderr, "mor bench talker: fewer than 48 codes: no chunk to time\n");
    return 1;
  }

  /* token2wav, streamed as mortalker does: all codes in, chunks timed one by one. */
  if (!mor_token2wav_session_begin (ws, NULL, &p, &error) || !mor_token2wav_session_push (ws, codes, made, &error))
    return mor_cli_fail (error);
  mor_token2wav_session_end (ws);
  double first_chunk_s = 0, chunks_s = 0;
  guint64 samples = 0;
  for (guint chunk = 0; !mor_token2wav_session_is_done (ws); chunk++) {
    guint64 n;
    t0 = now_s ();
    if (!mor_token2wav_session_pull (ws, &n, &error))
      return mor_cli_fail (error);
    double dt = now_s () - t0;
    if (chunk == 0)
      first_chunk_s = dt;
    chunks_s += dt;
    samples += n;
  }
  double audio_s = (double) samples / mor_token2wav_sample_rate (t2w);
  printf ("token2wav: %.2f s of audio in %.2f s: real-time factor %.3f; first chunk %.2f s\n", audio_s, chunks_s,
          chunks_s / audio_s, first_chunk_s);
  double rtf, window_ms;
  if (!mor_bigvgan_measure_rtf (mor_token2wav_get_bigvgan (t2w), MOR_TOKEN2WAV_CHUNK + 2 * MOR_TOKEN2WAV_VOCODER_OVERLAP,
                                3, &rtf, &window_ms, &error))
    return mor_cli_fail (error);
  printf ("BigVGAN alone: %.1f ms a window of %d frames: real-time factor %.3f (of the window's audio)\n", window_ms,
          MOR_TOKEN2WAV_CHUNK + 2 * MOR_TOKEN2WAV_VOCODER_OVERLAP, rtf);
  printf ("time to first audio (talker's first 48 codes + first chunk, thinker not counted): %.2f s\n",
          t48 + first_chunk_s);
  printf ("speech in real time needs talker + token2wav below 1: %.3f + %.3f = %.3f\n", 50.0 / (made / talker_s),
          chunks_s / audio_s, 50.0 / (made / talker_s) + chunks_s / audio_s);
  return 0;
}
