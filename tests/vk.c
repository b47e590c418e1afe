/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of the Vulkan runtime (model/vk/): device sharing and selection,
 * buffers, arenas, hazard tracking in streams, errors, the pipeline cache. */
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

static char *cache_dir;

static MorVkDevice *
open_default (void)
{
  g_autoptr (GError) error = NULL;
  MorVkDevice *dev = mor_vk_device_open (NULL, &error);
  g_assert_no_error (error);
  return dev;
}

static void
test_device_shared (void)
{
  g_autoptr (MorVkDevice) a = open_default ();
  g_autoptr (MorVkDevice) b = open_default ();
  /* One VkDevice per physical device per process. */
  g_assert_true (a == b);
  g_autoptr (GError) error = NULL;
  g_autoptr (MorVkDevice) c = mor_vk_device_open ("0", &error);
  if (c)
    g_assert_true (c == a || strcmp (mor_vk_device_get_info (c)->name, mor_vk_device_get_info (a)->name) != 0);
  const MorVkDeviceInfo *info = mor_vk_device_get_info (a);
  g_assert_cmpuint (info->max_storage_range, >, 0);
  g_assert_cmpuint (info->subgroup_size, >, 0);
  g_assert_cmpuint (info->min_storage_align, >=, 4);
  g_assert_true ((info->min_storage_align & (info->min_storage_align - 1)) == 0);
}

static void
test_device_selector (void)
{
  g_autoptr (GError) error = NULL;
  MorVkDevice *dev = mor_vk_device_open ("no-such-device-anywhere", &error);
  g_assert_null (dev);
  g_assert_error (error, MOR_VK_ERROR, MOR_VK_ERROR_NO_DEVICE);
  g_assert_nonnull (strstr (error->message, "no-such-device-anywhere"));
  g_clear_error (&error);
  dev = mor_vk_device_open ("4000000000", &error);
  g_assert_null (dev);
  g_assert_error (error, MOR_VK_ERROR, MOR_VK_ERROR_NO_DEVICE);
  g_clear_error (&error);

  /* A name substring, in any case, selects the same device. */
  g_autoptr (MorVkDevice) a = open_default ();
  g_autofree char *upper = g_ascii_strup (mor_vk_device_get_info (a)->name, 4);
  g_autoptr (MorVkDevice) b = mor_vk_device_open (upper, &error);
  g_assert_no_error (error);
  g_assert_true (a == b);
}

static void
test_buffer_round_trip (void)
{
  g_autoptr (MorVkDevice) dev = open_default ();
  const MorVkMemory kinds[] = { MOR_VK_MEMORY_DEVICE, MOR_VK_MEMORY_HOST };
  for (guint k = 0; k < G_N_ELEMENTS (kinds); k++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (MorVkBuffer) buf = mor_vk_buffer_new (dev, 1000, kinds[k], &error);
    g_assert_no_error (error);
    if (kinds[k] == MOR_VK_MEMORY_HOST)
      g_assert_nonnull (buf->mapped);
    guint8 in[300], out[300];
    for (guint i = 0; i < sizeof in; i++)
      in[i] = (guint8) (i * 7 + k);
    g_assert_true (mor_vk_buffer_upload (buf, 700, in, sizeof in, &error));
    g_assert_true (mor_vk_buffer_download (buf, 700, out, sizeof out, &error));
    g_assert_cmpmem (in, sizeof in, out, sizeof out);
    /* Past the end: an error, not a write. */
    g_assert_false (mor_vk_buffer_upload (buf, 701, in, sizeof in, &error));
    g_assert_error (error, MOR_VK_ERROR, MOR_VK_ERROR_FAILED);
    g_clear_error (&error);
    g_assert_false (mor_vk_buffer_download (buf, G_MAXUINT64 - 10, out, 20, &error));
    g_assert_error (error, MOR_VK_ERROR, MOR_VK_ERROR_FAILED);
  }
}

static void
test_buffer_too_large (void)
{
  g_autoptr (MorVkDevice) dev = open_default ();
  g_autoptr (GError) error = NULL;
  guint64 size = mor_vk_device_get_info (dev)->max_buffer_size + 1;
  MorVkBuffer *buf = mor_vk_buffer_new (dev, size, MOR_VK_MEMORY_DEVICE, &error);
  g_assert_null (buf);
  g_assert_error (error, MOR_VK_ERROR, MOR_VK_ERROR_OUT_OF_MEMORY);
}

static void
test_arena (void)
{
  g_autoptr (MorVkDevice) dev = open_default ();
  const MorVkDeviceInfo *info = mor_vk_device_get_info (dev);
  guint64 align = MAX (info->min_storage_align, info->min_texel_align);
  g_autoptr (GError) error = NULL;
  g_autoptr (MorVkArena) arena = mor_vk_arena_new (dev, 4 * align, MOR_VK_MEMORY_DEVICE, &error);
  g_assert_no_error (error);
  MorVkView a, b, c;
  g_assert_true (mor_vk_arena_alloc (arena, 5, &a, &error));
  g_assert_true (mor_vk_arena_alloc (arena, align, &b, &error));
  g_assert_cmpuint (a.offset, ==, 0);
  g_assert_cmpuint (b.offset, ==, align);
  g_assert_false (mor_vk_arena_alloc (arena, 3 * align, &c, &error));
  g_assert_error (error, MOR_VK_ERROR, MOR_VK_ERROR_OUT_OF_MEMORY);
}

/* Independent dispatches share a barrier interval; a dispatch that reads what
 * an earlier one wrote, or writes what one read, gets a barrier. */
static void
test_stream_hazards (void)
{
  g_autoptr (MorVkDevice) dev = open_default ();
  g_autoptr (GError) error = NULL;
  const guint32 n = 64;
  float ones[64];
  for (guint i = 0; i < n; i++)
    ones[i] = 1.0f + i;
  g_autoptr (MorVkBuffer) w = mor_vk_buffer_new (dev, n * 4, MOR_VK_MEMORY_DEVICE, &error);
  g_autoptr (MorVkBuffer) x = mor_vk_buffer_new (dev, 4 * n * 4, MOR_VK_MEMORY_HOST, &error);
  g_assert_no_error (error);
  mor_vk_buffer_upload (w, 0, ones, sizeof ones, &error);
  for (guint i = 0; i < 4; i++)
    mor_vk_buffer_upload (x, i * n * 4, ones, sizeof ones, &error);
  guint64 al = mor_vk_device_get_info (dev)->min_storage_align;
  g_assert_cmpuint ((n * 4) % al, ==, 0);
  MorVkView part[4];
  for (guint i = 0; i < 4; i++)
    part[i] = mor_vk_view_sub (mor_vk_view (x), i * n * 4, n * 4);

  g_autoptr (MorVkStream) s = mor_vk_stream_new (dev, &error);
  g_assert_no_error (error);
  mor_vk_stream_begin (s);
  /* part0 → part1 and part2 → part3: independent, no barrier. */
  mor_op_rms_norm (s, part[0], mor_vk_view (w), part[1], 1, n, 1e-6f);
  mor_op_rms_norm (s, part[2], mor_vk_view (w), part[3], 1, n, 1e-6f);
  g_assert_cmpuint (mor_vk_stream_n_barriers (s), ==, 0);
  /* Reads part1 (written above): read-after-write. */
  mor_op_rms_norm (s, part[1], mor_vk_view (w), part[0], 1, n, 1e-6f);
  g_assert_cmpuint (mor_vk_stream_n_barriers (s), ==, 1);
  /* Writes part2, which the second dispatch read before the last barrier: no
   * barrier is needed for that one, it was already ordered; reading w twice is
   * never a hazard. */
  mor_op_rms_norm (s, part[3], mor_vk_view (w), part[2], 1, n, 1e-6f);
  g_assert_cmpuint (mor_vk_stream_n_barriers (s), ==, 1);
  /* Writes part1, which the third dispatch read: write-after-read. */
  mor_vk_stream_fill (s, part[1], 0);
  g_assert_cmpuint (mor_vk_stream_n_barriers (s), ==, 2);
  g_assert_cmpuint (mor_vk_stream_n_dispatches (s), ==, 4);
  g_assert_true (mor_vk_stream_end (s, &error));
  g_assert_true (mor_vk_stream_submit (s, &error));
  g_assert_no_error (error);

  float got[64], want[64];
  mor_ref_rms_norm (ones, ones, want, 1, n, 1e-6f);
  mor_ref_rms_norm (want, ones, want, 1, n, 1e-6f);
  mor_vk_buffer_download (x, 0, got, sizeof got, &error);
  for (guint i = 0; i < n; i++)
    g_assert_cmpfloat_with_epsilon (got[i], want[i], 1e-4f * (1 + want[i]));
  mor_vk_buffer_download (x, n * 4, got, sizeof got, &error);
  for (guint i = 0; i < n; i++)
    g_assert_cmpfloat (got[i], ==, 0.0f);
}

static void
test_stream_error (void)
{
  g_autoptr (MorVkDevice) dev = open_default ();
  g_autoptr (GError) error = NULL;
  g_autoptr (MorVkStream) s = mor_vk_stream_new (dev, &error);
  mor_vk_stream_begin (s);
  mor_vk_stream_set_error (s, g_error_new (MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED, "first"));
  mor_vk_stream_set_error (s, g_error_new (MOR_VK_ERROR, MOR_VK_ERROR_FAILED, "second"));
  g_assert_false (mor_vk_stream_end (s, &error));
  g_assert_error (error, MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED);
  g_clear_error (&error);
  /* A new recording starts clean. */
  mor_vk_stream_begin (s);
  g_assert_true (mor_vk_stream_end (s, &error));
  g_assert_true (mor_vk_stream_submit (s, &error));
  g_assert_no_error (error);
}

static void
test_grid (void)
{
  g_autoptr (MorVkDevice) dev = open_default ();
  guint32 gx, gy;
  mor_vk_grid (dev, 10, 4, &gx, &gy);
  g_assert_cmpuint (gx, ==, 3);
  g_assert_cmpuint (gy, ==, 1);
  mor_vk_grid (dev, 151936, 1, &gx, &gy);
  g_assert_cmpuint ((guint64) gx * gy, >=, 151936);
  g_assert_cmpuint (gx, <=, 65535);
}

/* Closing the last reference writes the pipeline cache for the next start. */
static void
test_pipeline_cache (void)
{
  g_autofree char *dir = g_build_filename (cache_dir, "mor", NULL);
  {
    g_autoptr (MorVkDevice) dev = open_default ();
    g_autoptr (GError) error = NULL;
    g_autoptr (MorVkStream) s = mor_vk_stream_new (dev, &error);
    g_autoptr (MorVkBuffer) b = mor_vk_buffer_new (dev, 256, MOR_VK_MEMORY_DEVICE, &error);
    mor_vk_stream_begin (s);
    MorVkView v = mor_vk_view_sub (mor_vk_view (b), 0, 64);
    MorVkView v2 = mor_vk_view_sub (mor_vk_view (b), 128, 64);
    mor_op_rms_norm (s, v, v, v2, 1, 16, 1e-6f);
    g_assert_true (mor_vk_stream_end (s, &error));
  }
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_assert_nonnull (d);
  const char *name = g_dir_read_name (d);
  g_assert_nonnull (name);
  g_assert_true (g_str_has_prefix (name, "pipelines-"));

  /* A corrupt cache file is ignored, not handed to the driver. */
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_assert_true (g_file_set_contents (path, "garbage, not a pipeline cache at all......", -1, NULL));
  g_autoptr (MorVkDevice) dev = open_default ();
  g_assert_nonnull (dev);
}

int
main (int argc, char **argv)
{
  cache_dir = g_dir_make_tmp ("mor-test-vk-XXXXXX", NULL);
  g_setenv ("XDG_CACHE_HOME", cache_dir, TRUE);
  g_test_init (&argc, &argv, NULL);
  g_autoptr (GError) error = NULL;
  MorVkDevice *probe = mor_vk_device_open (NULL, &error);
  if (!probe) {
    if (g_getenv ("CI"))
      g_error ("No Vulkan device under CI: %s", error->message);
    g_printerr ("SKIP: no usable Vulkan device: %s\n", error->message);
    return 77;
  }
  mor_vk_device_unref (probe);
  g_test_add_func ("/vk/device/shared", test_device_shared);
  g_test_add_func ("/vk/device/selector", test_device_selector);
  g_test_add_func ("/vk/buffer/round-trip", test_buffer_round_trip);
  g_test_add_func ("/vk/buffer/too-large", test_buffer_too_large);
  g_test_add_func ("/vk/arena", test_arena);
  g_test_add_func ("/vk/stream/hazards", test_stream_hazards);
  g_test_add_func ("/vk/stream/error", test_stream_error);
  g_test_add_func ("/vk/grid", test_grid);
  g_test_add_func ("/vk/pipeline-cache", test_pipeline_cache);
  return g_test_run ();
}
