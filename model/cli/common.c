/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the `mor` subcommands share: usage and error reporting, the median of timings. */
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>

int
mor_cli_usage (GOptionContext *ctx, GError *error)
{
  if (error)
    fprintf (stderr, "mor: %s\n\n", error->message);
  g_autofree char *help = g_option_context_get_help (ctx, TRUE, NULL);
  fputs (help, stderr);
  return 2;
}

int
mor_cli_fail (GError *error)
{
  fprintf (stderr, "mor: %s\n", error ? error->message : "failed");
  return 1;
}

static int
compare_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

double
mor_cli_median (double *v, gsize n)
{
  qsort (v, n, sizeof (double), compare_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
