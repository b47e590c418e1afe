/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/ops/matvec.c against its C reference, for every weight type. */
#include "harness.h"

#include <math.h>

static const MorType types[] = {
  MOR_TYPE_F32, MOR_TYPE_F16, MOR_TYPE_BF16, MOR_TYPE_Q8_0, MOR_TYPE_Q4_0, MOR_TYPE_Q4_K, MOR_TYPE_Q6_K,
};

/* Awkward shapes: one row, rows not a multiple of the rows per workgroup
 * (16 on CPU devices, 2 on GPUs), odd block counts (3, 11: Q8_0 / Q4_0 read
 * blocks at any 2-byte offset), 16 blocks (the eight-block Q8_0 / Q4_0
 * variants), and a model size. K-quants need multiples of 256 columns: their
 * shapes have 8× the columns (2048 stays). */
static const struct { guint32 rows, cols, n_vecs; gboolean bias; } shapes[] = {
  { 1, 32, 1, FALSE }, { 3, 64, 1, TRUE }, { 37, 96, 3, TRUE }, { 129, 352, 1, FALSE },
  { 13, 512, 8, TRUE }, { 1000, 2048, 1, TRUE }, { 7, 2048, 8, FALSE },
};

/* Quantizes @n_rows × @n_cols random values in [-1, 1) to @type; W's buffer
 * is padded to 16 bytes, as mor_op_matvec() requires. */
static guint8 *
random_weights (MorType type, guint32 n_rows, guint32 n_cols, guint32 seed, gsize *size)
{
  guint64 row_bytes = mor_type_row_bytes (type, n_cols);
  *size = (n_rows * row_bytes + 15) / 16 * 16;
  guint8 *w = g_malloc0 (*size);
  g_autofree float *src = g_new (float, n_cols);
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  for (guint32 r = 0; r < n_rows; r++) {
    for (guint32 k = 0; k < n_cols; k++)
      src[k] = (float) g_rand_double_range (rand, -1, 1);
    mor_quantize_row (type, src, w + r * row_bytes, n_cols);
  }
  return w;
}

/* Checks @got against the fp64 reference @want. The weights are the same
 * values on both sides (dequantized exactly); what differs is the fp32
 * summation order on the GPU, and for the quant types the factoring
 * d·Σ(q·x) instead of Σ((d·q)·x). Both errors are a few ulps of the terms'
 * magnitude, so the bound is 2e-6 · max|W[r]| · Σ|x[v]| per element (about
 * 1e-4 relative for random data; one wrong term is far above it). */
static void
check (const char *what, MorType type, const guint8 *w, const float *x, const float *got, const float *want,
       guint32 n_rows, guint32 n_cols, guint32 n_vecs)
{
  guint64 row_bytes = mor_type_row_bytes (type, n_cols);
  g_autofree float *row = g_new (float, n_cols);
  for (guint32 r = 0; r < n_rows; r++) {
    mor_ref_dequantize_row (type, w + r * row_bytes, row, n_cols);
    double wmax = 0;
    for (guint32 k = 0; k < n_cols; k++)
      wmax = MAX (wmax, fabs (row[k]));
    for (guint32 v = 0; v < n_vecs; v++) {
      double xsum = 0;
      for (guint32 k = 0; k < n_cols; k++)
        xsum += fabs (x[(gsize) v * n_cols + k]);
      gsize i = (gsize) v * n_rows + r;
      double tol = 2e-6 * wmax * xsum + 1e-6 * fabs (want[i]);
      if (!(fabs ((double) got[i] - want[i]) <= tol)) {
        g_test_fail_printf ("%s %s: row %u vector %u: got %.8g, want %.8g (tol %.3g)",
                            what, mor_type_name (type), r, v, got[i], want[i], tol);
        return;
      }
    }
  }
}

static void
run_case (MorType type, guint32 rows, guint32 cols, guint32 n_vecs, gboolean with_bias, guint32 seed)
{
  gsize wsize;
  g_autofree guint8 *w = random_weights (type, rows, cols, seed, &wsize);
  g_autofree float *x = harness_random ((gsize) n_vecs * cols, -1, 1, seed + 1);
  g_autofree float *b = harness_random (rows, -1, 1, seed + 2);
  g_autofree float *want = g_new (float, (gsize) n_vecs * rows);
  mor_ref_matvec (type, w, x, with_bias ? b : NULL, want, rows, cols, n_vecs);

  g_autoptr (MorVkBuffer) bw = harness_upload (w, wsize);
  g_autoptr (MorVkBuffer) bx = harness_upload (x, (gsize) n_vecs * cols * 4);
  g_autoptr (MorVkBuffer) bb = harness_upload (b, (gsize) rows * 4);
  g_autoptr (MorVkBuffer) by = harness_output ((gsize) n_vecs * rows * 4);
  MorVkView none = { NULL, 0, 0 };
  g_autoptr (MorVkStream) s = harness_stream ();
  mor_op_matvec (s, type, mor_vk_view (bw), mor_vk_view (bx), with_bias ? mor_vk_view (bb) : none,
                 mor_vk_view (by), rows, cols, n_vecs);
  harness_run (s);
  g_autofree float *got = harness_download (by, (gsize) n_vecs * rows * 4);
  g_autofree char *what = g_strdup_printf ("matvec %ux%u n_vecs %u%s", rows, cols, n_vecs,
                                           with_bias ? " + bias" : "");
  check (what, type, w, x, got, want, rows, cols, n_vecs);
}

static void
test_type (gconstpointer data)
{
  MorType type = GPOINTER_TO_UINT (data);
  for (guint c = 0; c < G_N_ELEMENTS (shapes); c++) {
    guint32 cols = shapes[c].cols;
    if (cols % mor_type_block_size (type) != 0)
      cols *= 8;
    run_case (type, shapes[c].rows, cols, shapes[c].n_vecs, shapes[c].bias, 10 * c + type);
  }
}

/* A weight larger than lavapipe's 128 MiB binding limit (33000 × 2048 F16,
 * 135 MB): the rows are split into windows, each its own dispatch. Two
 * vectors and a bias, so every binding is windowed. */
static void
test_windows (void)
{
  run_case (MOR_TYPE_F16, 33000, 2048, 2, TRUE, 77);
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  for (guint i = 0; i < G_N_ELEMENTS (types); i++) {
    g_autofree char *path = g_strdup_printf ("/ops/matvec/%s", mor_type_name (types[i]));
    g_test_add_data_func (path, GUINT_TO_POINTER (types[i]), test_type);
  }
  g_test_add_func ("/ops/matvec/windows", test_windows);
  return g_test_run ();
}
