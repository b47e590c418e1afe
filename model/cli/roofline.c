/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Host memory read bandwidth (see roofline.h). */
#include "roofline.h"

#include <string.h>

typedef struct {
  const guint64 *data;
  gsize n;                      /* 64-bit words */
  guint64 sum;                  /* kept, so the reads are not optimised away */
} Slice;

static gpointer
sum_slice (gpointer p)
{
  Slice *s = p;
  guint64 a = 0, b = 0, c = 0, d = 0;
  gsize i = 0;
  for (; i + 4 <= s->n; i += 4) {
    a += s->data[i];
    b += s->data[i + 1];
    c += s->data[i + 2];
    d += s->data[i + 3];
  }
  for (; i < s->n; i++)
    a += s->data[i];
  s->sum = a + b + c + d;
  return NULL;
}

double
mor_host_read_bandwidth (guint n_threads, gsize bytes, guint repeats)
{
  g_return_val_if_fail (n_threads > 0 && n_threads <= 64 && bytes >= 64, 0);
  gsize n = bytes / 8;
  guint64 *data = g_malloc (n * 8);
  memset (data, 1, n * 8); /* touch every page before timing */
  Slice slices[64];
  GThread *threads[64];
  double best = 0;
  for (guint r = 0; r <= repeats; r++) {
    gint64 t0 = g_get_monotonic_time ();
    for (guint t = 0; t < n_threads; t++) {
      slices[t] = (Slice) { data + n / n_threads * t, t + 1 == n_threads ? n - n / n_threads * t : n / n_threads, 0 };
      threads[t] = g_thread_new ("membw", sum_slice, &slices[t]);
    }
    for (guint t = 0; t < n_threads; t++)
      g_thread_join (threads[t]);
    double s = (g_get_monotonic_time () - t0) / 1e6;
    if (r > 0 && s > 0)
      best = MAX (best, (double) n * 8 / s / 1e9);
  }
  g_free (data);
  return best;
}
