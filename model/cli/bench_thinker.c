/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `mor bench thinker`: prefill and decode speed of a thinker GGUF, and the
 * decode's ratio to the host memory-bandwidth roofline measured in the same run. */
#include "commands.h"

#include <stdio.h>

#include "llm.h"
#include "sampler.h"
#include "roofline.h"

/* Bytes the decode reads per token from weights: every tensor of the GPU
 * forward (the input embedding row is read on the host). */
static guint64
decode_weight_bytes (MorGguf *g, gboolean tied)
{
  guint64 total = 0;
  for (guint i = 0; i < mor_gguf_n_tensors (g); i++) {
    const MorGgufTensor *t = mor_gguf_get_tensor (g, i);
    if (g_strcmp0 (t->name, "token_embd.weight") != 0 || tied)
      total += t->size;
  }
  return total;
}

int
mor_cli_bench_thinker (int argc, char **argv)
{
  g_autofree char *model = NULL, *device = NULL;
  gint prompt = 128, gen = 64, threads = 2;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model, "Thinker GGUF (make one with `mor mkmodel`)", "FILE" },
    { "prompt", 'p', 0, G_OPTION_ARG_INT, &prompt, "Prompt tokens to prefill (default 128)", "N" },
    { "gen", 'n', 0, G_OPTION_ARG_INT, &gen, "Tokens to decode (default 64)", "N" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "Threads for the host bandwidth measurement (default 2)", "N" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, "Vulkan device index or name", "DEV" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("— prefill and decode speed of a thinker");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 1 || !model || prompt < 1 || gen < 1 ||
      threads < 1 || threads > 64)
    return mor_cli_usage (ctx, error);

  g_autoptr (MorGguf) g = mor_gguf_open (model, &error);
  g_autoptr (MorVkDevice) dev = g ? mor_vk_device_open (device, &error) : NULL;
  g_autoptr (MorLlm) llm = dev ? mor_llm_load (dev, g, &error) : NULL;
  if (!llm)
    return mor_cli_fail (error);
  const MorLlmConfig *c = mor_llm_get_config (llm);
  g_autoptr (MorLlmSession) s = mor_llm_session_new (llm, prompt + gen + 1, &error);
  if (!s)
    return mor_cli_fail (error);

  g_autofree guint32 *ids = g_new (guint32, prompt);
  g_autoptr (GRand) rand = g_rand_new_with_seed (1);
  for (gint i = 0; i < prompt; i++)
    ids[i] = g_rand_int_range (rand, 0, c->vocab_size);

  /* Warm-up: records the prefill and builds every pipeline once. */
  if (!mor_llm_session_prefill (s, ids, NULL, NULL, prompt, FALSE, &error) ||
      !mor_llm_session_decode (s, 0, &error))
    return mor_cli_fail (error);
  mor_llm_session_truncate (s, 0);

  gint64 t0 = g_get_monotonic_time ();
  if (!mor_llm_session_prefill (s, ids, NULL, NULL, prompt, FALSE, &error))
    return mor_cli_fail (error);
  double prefill_s = (g_get_monotonic_time () - t0) / 1e6;
  guint32 next = mor_sampler_argmax (mor_llm_session_get_logits (s, mor_llm_session_n_rows (s) - 1), c->vocab_size);
  t0 = g_get_monotonic_time ();
  for (gint i = 0; i < gen; i++) {
    if (!mor_llm_session_decode (s, next, &error))
      return mor_cli_fail (error);
    next = mor_sampler_argmax (mor_llm_session_get_logits (s, 0), c->vocab_size);
  }
  double decode_s = (g_get_monotonic_time () - t0) / 1e6;

  double host_gbs = mor_host_read_bandwidth (threads, (gsize) 1 << 30, 3);
  guint64 bytes = decode_weight_bytes (g, c->tie_word_embeddings);
  double decode_tps = gen / decode_s, prefill_tps = prompt / prefill_s;
  double decode_gbs = bytes * decode_tps / 1e9;
  printf ("device:            %s\n", mor_vk_device_get_info (dev)->name);
  printf ("model:             %s (%s, %u layers, hidden %u, vocab %u)\n", model, c->architecture,
          c->num_hidden_layers, c->hidden_size, c->vocab_size);
  printf ("host read:         %.1f GB/s (%d threads, 1 GiB)\n", host_gbs, threads);
  printf ("prefill:           %d tokens in %.3f s = %.1f tok/s\n", prompt, prefill_s, prefill_tps);
  printf ("decode:            %d tokens in %.3f s = %.2f tok/s, %.1f ms/token\n", gen, decode_s, decode_tps,
          1e3 * decode_s / gen);
  printf ("decode weights:    %.1f MiB/token → %.2f GB/s = %.0f%% of the host roofline\n", bytes / 1048576.0,
          decode_gbs, 100.0 * decode_gbs / host_gbs);
  printf ("prefill / decode:  %.1f× per token\n", prefill_tps / decode_tps);
  return 0;
}
