/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The op test harness (see harness.h). */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static MorVkDevice *device;

static void
close_device (void)
{
  g_clear_pointer (&device, mor_vk_device_unref);
}

void
harness_init (int *argc, char ***argv)
{
  g_test_init (argc, argv, NULL);
  g_autoptr (GError) error = NULL;
  device = mor_vk_device_open (NULL, &error);
  if (!device) {
    if (g_getenv ("CI")) {
      g_printerr ("No Vulkan device under CI: %s\n", error->message);
      exit (1);
    }
    g_printerr ("SKIP: no usable Vulkan device: %s\n", error->message);
    exit (77);
  }
  if (g_test_verbose ())
    g_printerr ("device: %s\n", mor_vk_device_get_info (device)->name);
  atexit (close_device);
}

MorVkDevice *
harness_device (void)
{
  return device;
}

MorVkBuffer *
harness_upload (const void *data, gsize size)
{
  g_autoptr (GError) error = NULL;
  MorVkBuffer *buf = mor_vk_buffer_new (device, size, MOR_VK_MEMORY_DEVICE, &error);
  g_assert_no_error (error);
  mor_vk_buffer_upload (buf, 0, data, size, &error);
  g_assert_no_error (error);
  return buf;
}

MorVkBuffer *
harness_output (gsize size)
{
  gsize n = (size + 3) / 4;
  g_autofree guint32 *nan = g_new (guint32, n);
  for (gsize i = 0; i < n; i++)
    nan[i] = 0x7fc00000u;
  return harness_upload (nan, n * 4);
}

gpointer
harness_download (MorVkBuffer *buf, gsize size)
{
  g_autoptr (GError) error = NULL;
  gpointer data = g_malloc (size);
  mor_vk_buffer_download (buf, 0, data, size, &error);
  g_assert_no_error (error);
  return data;
}

MorVkStream *
harness_stream (void)
{
  g_autoptr (GError) error = NULL;
  MorVkStream *s = mor_vk_stream_new (device, &error);
  g_assert_no_error (error);
  mor_vk_stream_begin (s);
  return s;
}

void
harness_run (MorVkStream *s)
{
  g_autoptr (GError) error = NULL;
  mor_vk_stream_end (s, &error);
  g_assert_no_error (error);
  mor_vk_stream_submit (s, &error);
  g_assert_no_error (error);
}

float *
harness_random (gsize n, float lo, float hi, guint32 seed)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  float *x = g_new (float, n ? n : 1);
  for (gsize i = 0; i < n; i++)
    x[i] = (float) g_rand_double_range (rand, lo, hi);
  return x;
}

void
harness_assert_close (const char *what, const float *got, const float *want, gsize n, float atol, float rtol)
{
  for (gsize i = 0; i < n; i++) {
    float err = fabsf (got[i] - want[i]);
    if (!(err <= atol + rtol * fabsf (want[i]))) {
      g_test_message ("%s: element %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT ": got %.8g, want %.8g "
                      "(atol %g, rtol %g)", what, i, n, got[i], want[i], atol, rtol);
      g_test_fail_printf ("%s: element %" G_GSIZE_FORMAT ": got %.8g, want %.8g", what, i, got[i], want[i]);
      return;
    }
  }
}

double
harness_nmse (const float *got, const float *want, gsize n)
{
  double num = 0, den = 0;
  for (gsize i = 0; i < n; i++) {
    num += ((double) got[i] - want[i]) * ((double) got[i] - want[i]);
    den += (double) want[i] * want[i];
  }
  return den > 0 ? num / den : num;
}
