/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the `mor` subcommands share: usage and error reporting. */
#include "commands.h"

#include <stdio.h>

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
