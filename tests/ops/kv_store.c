/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/ops/kv_store.c against its C reference. */
#include "harness.h"

/* A host-visible uint buffer holding the position, as a model's step
 * parameters are. */
static MorVkBuffer *
position_buffer (void)
{
  g_autoptr (GError) error = NULL;
  MorVkBuffer *b = mor_vk_buffer_new (harness_device (), 16, MOR_VK_MEMORY_HOST, &error);
  g_assert_no_error (error);
  return b;
}

static void
set_position (MorVkBuffer *b, guint32 p0)
{
  g_autoptr (GError) error = NULL;
  mor_vk_buffer_upload (b, 0, &p0, 4, &error);
  g_assert_no_error (error);
}

/* One recording replayed at several positions, new rows each time, including
 * rows that fall past the end of the cache (dropped: the test compares the
 * whole cache, so a stray write fails it). f32 rows compare bit-exactly; an
 * f16 value may differ from mor_f32_to_f16's round-to-nearest-even by one
 * ulp, since Vulkan leaves the rounding of a float-to-half conversion to
 * the device (lavapipe rounds to nearest even). */
static void
run_case (MorType type, guint32 n_rows, guint32 row_size, guint32 max_ctx, const guint32 *positions,
          guint n_positions)
{
  gsize elt = type == MOR_TYPE_F16 ? 2 : 4;
  gsize cache_bytes = (gsize) max_ctx * row_size * elt;
  g_autofree guint8 *want = g_malloc (cache_bytes);
  g_autofree float *init = harness_random ((gsize) max_ctx * row_size, -1, 1, 5);
  mor_ref_kv_store (init, 0, want, max_ctx, row_size, max_ctx, type);

  g_autoptr (MorVkBuffer) cache = harness_upload (want, cache_bytes);
  g_autoptr (MorVkBuffer) src = harness_output ((gsize) n_rows * row_size * 4);
  g_autoptr (MorVkBuffer) pos = position_buffer ();
  g_autoptr (MorVkStream) s = harness_stream ();
  mor_op_kv_store (s, mor_vk_view (src), mor_vk_view (pos), mor_vk_view (cache), n_rows, row_size,
                   max_ctx, type);
  g_autoptr (GError) error = NULL;
  mor_vk_stream_end (s, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < n_positions; i++) {
    g_autofree float *rows = harness_random ((gsize) n_rows * row_size, -3, 3, 100 + i);
    mor_ref_kv_store (rows, positions[i], want, n_rows, row_size, max_ctx, type);
    mor_vk_buffer_upload (src, 0, rows, (gsize) n_rows * row_size * 4, &error);
    g_assert_no_error (error);
    set_position (pos, positions[i]);
    mor_vk_stream_submit (s, &error);
    g_assert_no_error (error);
  }
  g_autofree guint8 *got = harness_download (cache, cache_bytes);
  for (gsize i = 0; i < cache_bytes / elt; i++) {
    gboolean same = type == MOR_TYPE_F16
        ? ABS ((gint) ((guint16 *) got)[i] - (gint) ((guint16 *) want)[i]) <= 1
        : ((guint32 *) got)[i] == ((guint32 *) want)[i];
    if (!same) {
      g_test_fail_printf ("kv_store %s %u×%u in %u: element %" G_GSIZE_FORMAT " (row %" G_GSIZE_FORMAT ") differs",
                          mor_type_name (type), n_rows, row_size, max_ctx, i, i / row_size);
      return;
    }
  }
}

static void
test_decode (void)
{
  /* One token a step, a Qwen2.5-0.5B K row (2 kv heads × 64), to the last row. */
  const guint32 steps[] = { 0, 1, 2, 3, 17, 38, 39 };
  run_case (MOR_TYPE_F32, 1, 128, 40, steps, G_N_ELEMENTS (steps));
  run_case (MOR_TYPE_F16, 1, 128, 40, steps, G_N_ELEMENTS (steps));
}

static void
test_prefill (void)
{
  /* Several rows at once, an odd row size, and blocks that run past the end. */
  const guint32 starts[] = { 0, 5, 20, 29, 31 };
  run_case (MOR_TYPE_F32, 7, 257, 33, starts, G_N_ELEMENTS (starts));
  run_case (MOR_TYPE_F16, 7, 257, 33, starts, G_N_ELEMENTS (starts));
  const guint32 big[] = { 3, 70 };
  run_case (MOR_TYPE_F32, 64, 256, 100, big, G_N_ELEMENTS (big));
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  g_test_add_func ("/ops/kv_store/decode", test_decode);
  g_test_add_func ("/ops/kv_store/prefill", test_prefill);
  return g_test_run ();
}
