/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/ops/scale.c against its C reference. */
#include "harness.h"

/* alpha·x + beta may be one fused multiply-add on the device and is two
 * roundings in the reference: within an ulp of |alpha·x| ≤ 8 plus one of the
 * result. */
#define ATOL 1e-6f
#define RTOL 2e-7f

static void
check (guint32 n, float alpha, float beta, gboolean in_place, guint32 seed)
{
  g_autofree float *x = harness_random (n, -4, 4, seed);
  g_autofree float *want = g_new (float, n);
  mor_ref_scale (x, want, n, alpha, beta);
  g_autoptr (MorVkBuffer) bx = harness_upload (x, (gsize) n * 4);
  g_autoptr (MorVkBuffer) by = in_place ? NULL : harness_output ((gsize) n * 4);
  MorVkBuffer *out = in_place ? bx : by;
  g_autoptr (MorVkStream) s = harness_stream ();
  mor_op_scale (s, mor_vk_view (bx), mor_vk_view (out), n, alpha, beta);
  harness_run (s);
  g_autofree float *got = harness_download (out, (gsize) n * 4);
  g_autofree char *what = g_strdup_printf ("scale n=%u alpha=%g beta=%g%s", n, alpha, beta,
                                           in_place ? " in place" : "");
  harness_assert_close (what, got, want, n, ATOL, RTOL);
}

/* Sizes around the workgroup and a realistic block; alpha/beta including
 * the 1 + scale of AdaLayerNormZero and a CFG-style 1.5. */
static void
test_sizes (void)
{
  static const guint32 sizes[] = { 1, 7, 255, 256, 257, 1024 * 6, 100003 };
  for (guint c = 0; c < G_N_ELEMENTS (sizes); c++) {
    check (sizes[c], 1.0f, 1.0f, FALSE, c);
    check (sizes[c], 1.5f, -0.25f, FALSE, 10 + c);
    check (sizes[c], -0.5f, 0.0f, TRUE, 20 + c);
  }
}

/* More than 65535 workgroups of 256: the grid folds into y (mor_vk_grid), and
 * the last, partial row of workgroups must stop at n. */
static void
test_grid_fold (void)
{
  check (65535u * 256u + 1001u, 2.0f, 0.5f, FALSE, 99);
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  g_test_add_func ("/ops/scale/sizes", test_sizes);
  g_test_add_func ("/ops/scale/grid-fold", test_grid_fold);
  return g_test_run ();
}
