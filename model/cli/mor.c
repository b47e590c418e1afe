/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mor: the command-line front end of libmor. `mor COMMAND --help` for each. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

static const struct {
  const char *name;
  int (*run) (int argc, char **argv);
  const char *summary;
} commands[] = {
  { "info", mor_cli_info, "metadata, tensors, types and sizes of a GGUF file" },
  { "mkmodel", mor_cli_mkmodel, "write a model with random weights in the real layout" },
  { "generate", mor_cli_generate, "stream text from the thinker" },
  { "logits", mor_cli_logits, "logits of every position as .npy" },
  { "mel", mor_cli_mel, "the log-mel features of a 16 kHz WAV file as .npy" },
  { "encode", mor_cli_encode, "the audio encoder's rows for a 16 kHz WAV file as .npy" },
  { "vocode", mor_cli_vocode, "a 24 kHz WAV file from a mel spectrogram (.npy) by BigVGAN" },
  { "talker", mor_cli_talker, "the talker's codec codes for thinker rows (.npy) as .npy" },
  { "token2wav", mor_cli_token2wav, "a mel spectrogram (.npy) from codec codes (.npy) by the DiT" },
  { "ecapa", mor_cli_ecapa, "a speaker's ECAPA-TDNN vector (the DiT's conditioning) as .npy" },
  { "answer", mor_cli_answer, "answer a spoken question (WAV) out loud: the whole chain without GStreamer" },
  { "bench", mor_cli_bench, "measure speed: `mor bench kernels|thinker|encoder|vocoder|dit|talker|e2e`" },
};

/* `mor bench WHAT`: the benchmarks; each reports against a reference measured in the
 * same run where one exists (the host memory bandwidth for kernels and thinker). */
static const struct {
  const char *name;
  int (*run) (int argc, char **argv);
} benches[] = {
  { "thinker", mor_cli_bench_thinker },
  { "kernels", mor_cli_bench_kernels },
  { "encoder", mor_cli_bench_encoder },
  { "vocoder", mor_cli_bench_vocoder },
  { "dit", mor_cli_bench_dit },
  { "e2e", mor_cli_bench_e2e },
  { "talker", mor_cli_bench_talker },
};

int
mor_cli_bench (int argc, char **argv)
{
  for (guint i = 0; argc >= 2 && i < G_N_ELEMENTS (benches); i++)
    if (strcmp (argv[1], benches[i].name) == 0)
      return benches[i].run (argc - 1, argv + 1);
  fprintf (stderr, "Usage: mor bench WHAT [OPTIONS], WHAT one of:");
  for (guint i = 0; i < G_N_ELEMENTS (benches); i++)
    fprintf (stderr, " %s", benches[i].name);
  fprintf (stderr, "\n");
  return 2;
}

static int
usage (FILE *to)
{
  fprintf (to, "Usage: mor COMMAND [OPTIONS]\n\nCommands:\n");
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (to, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf (to, "\n`mor COMMAND --help` describes a command's options.\n");
  return to == stdout ? 0 : 2;
}

int
main (int argc, char **argv)
{
  if (argc < 2)
    return usage (stderr);
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "help") == 0)
    return usage (stdout);
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      return commands[i].run (argc - 1, argv + 1);
  fprintf (stderr, "mor: unknown command “%s”\n\n", argv[1]);
  return usage (stderr);
}
