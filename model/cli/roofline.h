/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The roofline every `mor bench` figure is compared with: this machine's host
 * memory read bandwidth, measured in the same run. */
#pragma once

#include <glib.h>

/* Best GB/s (1e9 bytes/s) of @n_threads threads summing a @bytes array (each
 * thread its own slice) over @repeats passes, after one warm-up pass. */
double mor_host_read_bandwidth (guint n_threads, gsize bytes, guint repeats);
