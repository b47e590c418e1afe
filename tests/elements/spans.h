/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Time spans of a pad's buffers and gap events, for the element tests: do
 * they cover the pad's time without a hole or an overlap? */
#pragma once

#include <gst/gst.h>

static inline gint
spans_compare (gconstpointer a, gconstpointer b, gpointer unused)
{
  GstClockTime x = *(const GstClockTime *) a, y = *(const GstClockTime *) b;
  return x < y ? -1 : x > y;
}

/* Sorts @spans (GstClockTime pairs [start, end)) by start and asserts that
 * each begins where the one before ends. Returns the number of spans; @first
 * and @last (optional) get the start of the first and the end of the last. */
static inline guint
spans_check_contiguous (GArray *spans, GstClockTime *first, GstClockTime *last)
{
  GstClockTime *v = (GstClockTime *) spans->data;
  guint n = spans->len / 2;
  g_assert_cmpuint (n, >=, 1);
  g_qsort_with_data (v, n, 2 * sizeof (GstClockTime), (GCompareDataFunc) spans_compare, NULL);
  for (guint i = 1; i < n; i++)
    g_assert_cmpuint (v[2 * i], ==, v[2 * i - 1]);
  if (first)
    *first = v[0];
  if (last)
    *last = v[2 * n - 1];
  return n;
}
