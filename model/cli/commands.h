/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The `mor` command's subcommands: each takes its own argv (argv[0] is the
 * subcommand) and returns the exit status: 0 done, 1 failed, 2 bad usage. */
#pragma once

#include <glib.h>

int mor_cli_info (int argc, char **argv);
int mor_cli_mkmodel (int argc, char **argv);
int mor_cli_generate (int argc, char **argv);
int mor_cli_logits (int argc, char **argv);
int mor_cli_mel (int argc, char **argv);
int mor_cli_encode (int argc, char **argv);
int mor_cli_vocode (int argc, char **argv);
int mor_cli_talker (int argc, char **argv);
int mor_cli_token2wav (int argc, char **argv);
int mor_cli_ecapa (int argc, char **argv);
int mor_cli_answer (int argc, char **argv);
int mor_cli_bench (int argc, char **argv);
int mor_cli_bench_thinker (int argc, char **argv);
int mor_cli_bench_kernels (int argc, char **argv);
int mor_cli_bench_encoder (int argc, char **argv);
int mor_cli_bench_vocoder (int argc, char **argv);
int mor_cli_bench_dit (int argc, char **argv);
int mor_cli_bench_e2e (int argc, char **argv);
int mor_cli_bench_talker (int argc, char **argv);

/* Prints @error (if any) and the option help to stderr; returns 2. */
int mor_cli_usage (GOptionContext *ctx, GError *error);
/* Prints "mor: <message>" to stderr; returns 1. */
int mor_cli_fail (GError *error);
/* The median of @n ≥ 1 values (the mean of the middle two for even @n);
 * sorts @v in place, so v[n − 1] is then the largest. */
double mor_cli_median (double *v, gsize n);
