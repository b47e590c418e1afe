/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/ops/binary.c against its C reference. */
#include "harness.h"

static const char *op_names[] = { "add", "mul" };
static const char *bcast_names[] = { "none", "row", "col" };

/* Shapes: one element, one row and one column, primes, not multiples of the
 * workgroup, and a bias add over 37 talker rows of 896. */
static const struct { guint32 rows, cols; } shapes[] = {
  { 1, 1 }, { 1, 2049 }, { 301, 1 }, { 3, 7 }, { 5, 257 }, { 33, 100 }, { 37, 896 },
};

static gsize
b_count (MorBroadcast bcast, guint32 rows, guint32 cols)
{
  return bcast == MOR_BROADCAST_ROW ? cols : bcast == MOR_BROADCAST_COL ? rows : (gsize) rows * cols;
}

/* One fp32 add or multiply each, correctly rounded on both sides: exact. */
static void
test_shapes (void)
{
  for (MorBinaryOp op = MOR_BINARY_ADD; op <= MOR_BINARY_MUL; op++)
    for (MorBroadcast bc = MOR_BROADCAST_NONE; bc <= MOR_BROADCAST_COL; bc++)
      for (guint c = 0; c < G_N_ELEMENTS (shapes); c++) {
        guint32 rows = shapes[c].rows, cols = shapes[c].cols;
        gsize n = (gsize) rows * cols, nb = b_count (bc, rows, cols);
        g_autofree float *a = harness_random (n, -4, 4, 100 * op + 10 * bc + c);
        g_autofree float *b = harness_random (nb, -4, 4, 1000 + 100 * op + 10 * bc + c);
        g_autofree float *want = g_new (float, n);
        mor_ref_binary (op, a, b, want, rows, cols, bc);
        g_autoptr (MorVkBuffer) ba = harness_upload (a, n * 4);
        g_autoptr (MorVkBuffer) bb = harness_upload (b, nb * 4);
        g_autoptr (MorVkBuffer) by = harness_output (n * 4);
        g_autoptr (MorVkStream) s = harness_stream ();
        mor_op_binary (s, op, mor_vk_view (ba), mor_vk_view (bb), mor_vk_view (by), rows, cols, bc);
        harness_run (s);
        g_autofree float *got = harness_download (by, n * 4);
        g_autofree char *what = g_strdup_printf ("%s %s %ux%u", op_names[op], bcast_names[bc], rows, cols);
        harness_assert_close (what, got, want, n, 0, 0);
      }
}

/* In place: y aliases a (a residual add, a bias), for every broadcast; and y
 * aliases b when b has y's shape. */
static void
test_in_place (void)
{
  guint32 rows = 9, cols = 130;
  gsize n = (gsize) rows * cols;
  for (MorBinaryOp op = MOR_BINARY_ADD; op <= MOR_BINARY_MUL; op++)
    for (MorBroadcast bc = MOR_BROADCAST_NONE; bc <= MOR_BROADCAST_COL; bc++)
      for (int alias_b = 0; alias_b <= (bc == MOR_BROADCAST_NONE); alias_b++) {
        gsize nb = b_count (bc, rows, cols);
        g_autofree float *a = harness_random (n, -4, 4, 50 + op + 3 * bc);
        g_autofree float *b = harness_random (nb, -4, 4, 60 + op + 3 * bc);
        g_autofree float *want = g_new (float, n);
        mor_ref_binary (op, a, b, want, rows, cols, bc);
        g_autoptr (MorVkBuffer) ba = harness_upload (a, n * 4);
        g_autoptr (MorVkBuffer) bb = harness_upload (b, nb * 4);
        MorVkBuffer *out = alias_b ? bb : ba;
        g_autoptr (MorVkStream) s = harness_stream ();
        mor_op_binary (s, op, mor_vk_view (ba), mor_vk_view (bb), mor_vk_view (out), rows, cols, bc);
        harness_run (s);
        g_autofree float *got = harness_download (out, n * 4);
        g_autofree char *what = g_strdup_printf ("%s %s in place (%s)", op_names[op], bcast_names[bc],
                                                 alias_b ? "b" : "a");
        harness_assert_close (what, got, want, n, 0, 0);
      }
}

/* Operands at offsets inside larger buffers (views as an arena hands them out). */
static void
test_views (void)
{
  const MorVkDeviceInfo *info = mor_vk_device_get_info (harness_device ());
  guint64 off = info->min_storage_align;
  guint32 rows = 5, cols = 77;
  gsize n = (gsize) rows * cols;
  g_autofree float *a = harness_random (n, -4, 4, 70);
  g_autofree float *b = harness_random (cols, -4, 4, 71);
  g_autofree float *want = g_new (float, n);
  mor_ref_binary (MOR_BINARY_ADD, a, b, want, rows, cols, MOR_BROADCAST_ROW);
  g_autoptr (MorVkBuffer) buf = harness_output (3 * off + 2 * n * 4 + cols * 4);
  g_autoptr (GError) error = NULL;
  mor_vk_buffer_upload (buf, off, a, n * 4, &error);
  g_assert_no_error (error);
  guint64 b_off = off + ((n * 4 + off - 1) / off) * off;
  mor_vk_buffer_upload (buf, b_off, b, cols * 4, &error);
  g_assert_no_error (error);
  guint64 y_off = b_off + ((cols * 4 + off - 1) / off) * off;
  g_autoptr (MorVkStream) s = harness_stream ();
  MorVkView all = mor_vk_view (buf);
  mor_op_binary (s, MOR_BINARY_ADD, mor_vk_view_sub (all, off, n * 4), mor_vk_view_sub (all, b_off, cols * 4),
                 mor_vk_view_sub (all, y_off, n * 4), rows, cols, MOR_BROADCAST_ROW);
  harness_run (s);
  g_autofree float *whole = harness_download (buf, y_off + n * 4);
  harness_assert_close ("add at offsets", whole + y_off / 4, want, n, 0, 0);
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  g_test_add_func ("/ops/binary/shapes", test_shapes);
  g_test_add_func ("/ops/binary/in-place", test_in_place);
  g_test_add_func ("/ops/binary/views", test_views);
  return g_test_run ();
}
