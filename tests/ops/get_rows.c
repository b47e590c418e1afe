/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/ops/get_rows.c against its C reference. */
#include "harness.h"

#include <math.h>
#include <string.h>

/* Awkward shapes: one row / one column, rows not a multiple of 4 (float types),
 * of the workgroup's 64 × 4 elements, or of a block count that fills it. */
static const struct { MorType type; guint32 rows, cols, n_ids; } shapes[] = {
  { MOR_TYPE_F32, 1, 1, 1 },     { MOR_TYPE_F32, 5, 7, 9 },       { MOR_TYPE_F32, 37, 2049, 13 },
  { MOR_TYPE_F16, 3, 1, 4 },     { MOR_TYPE_F16, 11, 130, 7 },    { MOR_TYPE_F16, 40, 2051, 33 },
  { MOR_TYPE_BF16, 2, 3, 5 },    { MOR_TYPE_BF16, 19, 897, 6 },
  { MOR_TYPE_Q8_0, 1, 32, 2 },   { MOR_TYPE_Q8_0, 9, 96, 11 },    { MOR_TYPE_Q8_0, 23, 2016, 17 },
  { MOR_TYPE_Q4_0, 4, 32, 3 },   { MOR_TYPE_Q4_0, 17, 1056, 8 },
  { MOR_TYPE_Q4_K, 1, 256, 1 },  { MOR_TYPE_Q4_K, 13, 768, 10 },  { MOR_TYPE_Q4_K, 5, 2304, 4 },
  { MOR_TYPE_Q6_K, 2, 256, 3 },  { MOR_TYPE_Q6_K, 12, 1280, 9 },
};

/* Ids: random rows, duplicates, and past the end (n_rows, 2^32 - 1). */
static guint32 *
make_ids (guint32 n_ids, guint32 n_rows, guint32 seed)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  guint32 *ids = g_new (guint32, n_ids);
  for (guint32 i = 0; i < n_ids; i++)
    ids[i] = g_rand_int_range (rand, 0, n_rows);
  if (n_ids >= 3) {
    ids[1] = ids[0];
    ids[2] = n_rows;
  }
  if (n_ids >= 5)
    ids[n_ids - 1] = G_MAXUINT32;
  return ids;
}

/* The GPU and the C reference read the same blocks; block types may contract
 * d·sc·q - dmin·m to an fma: |got - want| ≤ 2^-20 · max|want|. Float types are exact. */
static void
assert_rows (const char *what, MorType type, const float *got, const float *want, gsize n)
{
  float amax = 0.0f;
  for (gsize i = 0; i < n; i++)
    amax = MAX (amax, fabsf (want[i]));
  float atol = mor_type_block_size (type) > 1 ? ldexpf (amax, -20) : 0.0f;
  harness_assert_close (what, got, want, n, atol, 0.0f);
}

static void
test_shapes (void)
{
  for (guint c = 0; c < G_N_ELEMENTS (shapes); c++) {
    MorType type = shapes[c].type;
    guint32 rows = shapes[c].rows, cols = shapes[c].cols, n_ids = shapes[c].n_ids;
    gsize n = (gsize) rows * cols;
    g_autofree float *x = harness_random (n, -3, 3, 1 + c);
    g_autofree guint8 *table = g_malloc (mor_type_row_bytes (type, n));
    mor_quantize_row (type, x, table, n);
    g_autofree guint32 *ids = make_ids (n_ids, rows, 50 + c);
    g_autofree float *want = g_new (float, (gsize) n_ids * cols);
    mor_ref_get_rows (type, table, rows, cols, ids, n_ids, want);

    g_autoptr (MorVkBuffer) bt = harness_upload (table, mor_type_row_bytes (type, n));
    g_autoptr (MorVkBuffer) bi = harness_upload (ids, n_ids * 4);
    g_autoptr (MorVkBuffer) by = harness_output ((gsize) n_ids * cols * 4);
    g_autoptr (MorVkStream) s = harness_stream ();
    mor_op_get_rows (s, type, mor_vk_view (bt), rows, cols, mor_vk_view (bi), n_ids, mor_vk_view (by));
    harness_run (s);
    g_autofree float *got = harness_download (by, (gsize) n_ids * cols * 4);
    g_autofree char *what = g_strdup_printf ("get_rows %s %ux%u, %u ids", mor_type_name (type), rows, cols, n_ids);
    assert_rows (what, type, got, want, (gsize) n_ids * cols);
  }
}

/* One recording, replayed with new ids written to a host-visible buffer: the
 * shader reads the ids at run time (a decode step changes them per token). */
static void
test_replay (void)
{
  const MorType type = MOR_TYPE_Q4_K;
  const guint32 rows = 21, cols = 512, n_ids = 3;
  g_autofree float *x = harness_random ((gsize) rows * cols, -1, 1, 3);
  g_autofree guint8 *table = g_malloc (mor_type_row_bytes (type, (gsize) rows * cols));
  mor_quantize_row (type, x, table, (gsize) rows * cols);
  g_autoptr (GError) error = NULL;
  g_autoptr (MorVkBuffer) bt = harness_upload (table, mor_type_row_bytes (type, (gsize) rows * cols));
  g_autoptr (MorVkBuffer) bi = mor_vk_buffer_new (harness_device (), n_ids * 4, MOR_VK_MEMORY_HOST, &error);
  g_assert_no_error (error);
  g_assert_nonnull (bi->mapped);
  g_autoptr (MorVkBuffer) by = harness_output ((gsize) n_ids * cols * 4);
  g_autoptr (MorVkStream) s = harness_stream ();
  mor_op_get_rows (s, type, mor_vk_view (bt), rows, cols, mor_vk_view (bi), n_ids, mor_vk_view (by));
  mor_vk_stream_end (s, &error);
  g_assert_no_error (error);

  for (guint32 step = 0; step < 4; step++) {
    guint32 ids[3] = { step, rows - 1 - step, (step * 7) % rows };
    memcpy (bi->mapped, ids, sizeof ids);
    mor_vk_stream_submit (s, &error);
    g_assert_no_error (error);
    g_autofree float *want = g_new (float, (gsize) n_ids * cols);
    mor_ref_get_rows (type, table, rows, cols, ids, n_ids, want);
    g_autofree float *got = harness_download (by, (gsize) n_ids * cols * 4);
    assert_rows ("get_rows replay", type, got, want, (gsize) n_ids * cols);
  }
}

/* A table larger than one binding (lavapipe: 128 MiB), read in windows. The
 * values are a cheap pattern of (row, column) so that the test stays fast; the
 * ids sit on both sides of each window edge. */
static void
check_big_table (MorType type, guint32 rows, guint32 cols)
{
  const MorVkDeviceInfo *info = mor_vk_device_get_info (harness_device ());
  guint64 row_bytes = mor_type_row_bytes (type, cols);
  guint64 bytes = row_bytes * rows;
  g_autofree guint8 *table = g_malloc (bytes);
  for (guint32 r = 0; r < rows; r++) {
    guint8 *row = table + r * row_bytes;
    guint16 exp_bits = (guint16) (((r % 29) + 1) << 10);   /* a finite f16 exponent, 2^-14 .. 2^14 */
    if (type == MOR_TYPE_F16) {
      for (guint32 c = 0; c < cols; c++) {
        guint16 h = exp_bits | ((r * 7 + c) & 0x3ff) | (r & 1) << 15;
        row[2 * c] = h & 0xff;
        row[2 * c + 1] = h >> 8;
      }
    } else {
      g_assert_cmpint (type, ==, MOR_TYPE_Q8_0);
      for (guint32 b = 0; b < cols / 32; b++) {
        guint8 *blk = row + 34 * b;
        guint16 d = (guint16) ((((r + b) % 20) + 1) << 10);
        blk[0] = d & 0xff;
        blk[1] = d >> 8;
        for (guint j = 0; j < 32; j++)
          blk[2 + j] = (guint8) (r * 13 + b * 7 + j);
      }
    }
  }
  /* rows per window as the op computes them, to put ids at the edges */
  guint64 align = info->min_storage_align, step = align;
  while (step > 1 && row_bytes % (align / step * 2) == 0)
    step /= 2;
  guint32 per = (guint32) (info->max_storage_range / row_bytes / step * step);
  guint32 ids[] = { 0, per - 1, per, rows - 1, rows, MIN (2 * per, rows - 2), 12345 % rows, per + 1 };
  guint32 n_ids = G_N_ELEMENTS (ids);
  g_autofree float *want = g_new (float, (gsize) n_ids * cols);
  mor_ref_get_rows (type, table, rows, cols, ids, n_ids, want);

  g_autoptr (MorVkBuffer) bt = harness_upload (table, bytes);
  g_clear_pointer (&table, g_free);
  g_autoptr (MorVkBuffer) bi = harness_upload (ids, sizeof ids);
  g_autoptr (MorVkBuffer) by = harness_output ((gsize) n_ids * cols * 4);
  g_autoptr (MorVkStream) s = harness_stream ();
  mor_op_get_rows (s, type, mor_vk_view (bt), rows, cols, mor_vk_view (bi), n_ids, mor_vk_view (by));
  guint n_windows = (rows + per - 1) / per;
  g_assert_cmpuint (mor_vk_stream_n_dispatches (s), ==, n_windows);
  if (bytes > info->max_storage_range)
    g_assert_cmpuint (n_windows, >=, 2);
  harness_run (s);
  g_autofree float *got = harness_download (by, (gsize) n_ids * cols * 4);
  g_autofree char *what = g_strdup_printf ("get_rows %s %ux%u (%" G_GUINT64_FORMAT " bytes, %u windows)",
                                           mor_type_name (type), rows, cols, bytes, n_windows);
  assert_rows (what, type, got, want, (gsize) n_ids * cols);
}

/* 33000 × 2048 f16 = 135 MB; rows of 4096 bytes. With -m slow only: the q8_0
 * case below covers the windows, and the machine is shared. */
static void
test_big_f16 (void)
{
  if (!g_test_slow ()) {
    g_test_skip ("a second 135 MB table: run with -m slow");
    return;
  }
  check_big_table (MOR_TYPE_F16, 33000, 2048);
}

/* 63100 × 2016 q8_0 = 135 MB; rows of 2142 bytes, not a multiple of the
 * binding alignment, so windows are a multiple of several rows. */
static void
test_big_q8_0 (void)
{
  check_big_table (MOR_TYPE_Q8_0, 63100, 2016);
}

/* One row larger than a binding cannot be windowed: the stream reports it. */
static void
test_row_too_big (void)
{
  const MorVkDeviceInfo *info = mor_vk_device_get_info (harness_device ());
  if (info->max_storage_range > 256u << 20) {
    g_test_skip ("a row larger than this device's binding limit would need too much memory");
    return;
  }
  guint32 cols = (guint32) (info->max_storage_range / 4 + 4);
  g_autoptr (GError) error = NULL;
  g_autoptr (MorVkBuffer) bt = mor_vk_buffer_new (harness_device (), (guint64) cols * 4, MOR_VK_MEMORY_DEVICE, &error);
  g_assert_no_error (error);
  guint32 id = 0;
  g_autoptr (MorVkBuffer) bi = harness_upload (&id, 4);
  g_autoptr (MorVkBuffer) by = mor_vk_buffer_new (harness_device (), 64, MOR_VK_MEMORY_DEVICE, &error);
  g_assert_no_error (error);
  g_autoptr (MorVkStream) s = harness_stream ();
  /* y is too small for the row, but the op must fail on the table first: it
   * checks y's size, so give it a view that claims enough (never bound). */
  MorVkView y = { by, 0, (guint64) cols * 4 };
  mor_op_get_rows (s, MOR_TYPE_F32, mor_vk_view (bt), 1, cols, mor_vk_view (bi), 1, y);
  g_assert_false (mor_vk_stream_end (s, &error));
  g_assert_error (error, MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED);
  g_test_message ("%s", error->message);
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  g_test_add_func ("/ops/get_rows/shapes", test_shapes);
  g_test_add_func ("/ops/get_rows/replay", test_replay);
  g_test_add_func ("/ops/get_rows/big-f16", test_big_f16);
  g_test_add_func ("/ops/get_rows/big-q8_0", test_big_q8_0);
  g_test_add_func ("/ops/get_rows/row-too-big", test_row_too_big);
  return g_test_run ();
}
