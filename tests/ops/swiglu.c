/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/ops/swiglu.c against its C reference. */
#include "harness.h"

/* exp on the device (Vulkan: 3 + 2|x| ulp), one division and one product
 * against libm: a few ulps of the result. */
#define ATOL 1e-6f
#define RTOL 2e-6f

/* Sizes: one element, primes, around the workgroup, and the thinker (11008)
 * and talker (4864) intermediate widths over a few rows. */
static void
test_sizes (void)
{
  static const guint32 sizes[] = { 1, 7, 255, 256, 257, 11008 * 3, 4864 * 5 + 1 };
  for (guint c = 0; c < G_N_ELEMENTS (sizes); c++) {
    guint32 n = sizes[c];
    g_autofree float *gate = harness_random (n, -10, 10, c);
    g_autofree float *up = harness_random (n, -3, 3, 100 + c);
    g_autofree float *want = g_new (float, n);
    mor_ref_swiglu (gate, up, want, n);
    g_autoptr (MorVkBuffer) bg = harness_upload (gate, (gsize) n * 4);
    g_autoptr (MorVkBuffer) bu = harness_upload (up, (gsize) n * 4);
    g_autoptr (MorVkBuffer) by = harness_output ((gsize) n * 4);
    g_autoptr (MorVkStream) s = harness_stream ();
    mor_op_swiglu (s, mor_vk_view (bg), mor_vk_view (bu), mor_vk_view (by), n);
    harness_run (s);
    g_autofree float *got = harness_download (by, (gsize) n * 4);
    harness_assert_close ("swiglu", got, want, n, ATOL, RTOL);
  }
}

/* In place over the gate, then over up; gates of ±100 (exp overflow in the
 * textbook formula) stay finite. */
static void
test_in_place (void)
{
  guint32 n = 501;
  for (int over_up = 0; over_up <= 1; over_up++) {
    g_autofree float *gate = harness_random (n, -100, 100, 7 + over_up);
    g_autofree float *up = harness_random (n, -3, 3, 9 + over_up);
    g_autofree float *want = g_new (float, n);
    mor_ref_swiglu (gate, up, want, n);
    g_autoptr (MorVkBuffer) bg = harness_upload (gate, n * 4);
    g_autoptr (MorVkBuffer) bu = harness_upload (up, n * 4);
    MorVkBuffer *out = over_up ? bu : bg;
    g_autoptr (MorVkStream) s = harness_stream ();
    mor_op_swiglu (s, mor_vk_view (bg), mor_vk_view (bu), mor_vk_view (out), n);
    harness_run (s);
    g_autofree float *got = harness_download (out, n * 4);
    harness_assert_close (over_up ? "swiglu in place (up)" : "swiglu in place (gate)", got, want, n, ATOL, RTOL);
  }
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  g_test_add_func ("/ops/swiglu/sizes", test_sizes);
  g_test_add_func ("/ops/swiglu/in-place", test_in_place);
  return g_test_run ();
}
