/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/ops/unary.c against its C reference. */
#include "harness.h"

#include <float.h>
#include <math.h>

static const char *names[] = { "silu", "gelu_erf", "gelu_tanh", "relu", "tanh", "sigmoid" };

/* Tolerances against libm (expf, erff, tanhf) in fp32. SiLU and GELU-tanh go
 * through the device's exp (Vulkan: within 3 + 2|x| ulp) and one division, a
 * few ulps of the result. GELU-erf carries our erf's error, up to ~2.6e-7
 * absolute with a device exp (elementwise.glsl), times 0.5·|x| ≤ 2.8 where it
 * is not ±1: 1e-6 absolute covers it; rtol the few ulps of the products.
 * ReLU is exact. Tanh and sigmoid: the device's exp (3 ulp near 1) and one
 * division; near 0 tanh's 1 − e^-2|x| cancels, leaving ~2e-7 absolute. */
static const float abs_tol[] = { 1e-6f, 1e-6f, 1e-6f, 0, 3e-7f, 2e-7f };
static const float rel_tol[] = { 2e-6f, 2e-6f, 2e-6f, 0, 2e-6f, 2e-6f };

static float *
run_unary (MorUnaryOp op, const float *x, guint32 n)
{
  g_autoptr (MorVkBuffer) bx = harness_upload (x, (gsize) n * 4);
  g_autoptr (MorVkBuffer) by = harness_output ((gsize) n * 4);
  g_autoptr (MorVkStream) s = harness_stream ();
  mor_op_unary (s, op, mor_vk_view (bx), mor_vk_view (by), n);
  harness_run (s);
  return harness_download (by, (gsize) n * 4);
}

static void
check (MorUnaryOp op, const float *x, guint32 n, const char *what)
{
  g_autofree float *want = g_new (float, n);
  mor_ref_unary (op, x, want, n);
  g_autofree float *got = run_unary (op, x, n);
  g_autofree char *msg = g_strdup_printf ("%s %s n=%u", names[op], what, n);
  harness_assert_close (msg, got, want, n, abs_tol[op], rel_tol[op]);
}

/* Sizes: one element, primes, one past and one short of the workgroup, a
 * Qwen2.5-Omni thinker MLP row block (11008 × 37). */
static void
test_sizes (void)
{
  static const guint32 sizes[] = { 1, 7, 255, 256, 257, 65537, 11008 * 37 };
  for (MorUnaryOp op = MOR_UNARY_SILU; op <= MOR_UNARY_SIGMOID; op++)
    for (guint c = 0; c < G_N_ELEMENTS (sizes); c++) {
      g_autofree float *x = harness_random (sizes[c], -8, 8, 10 * op + c);
      check (op, x, sizes[c], "random");
    }
}

/* Every 2^-12 step over [-12, 12]: every branch of erf_f32 and its joins at
 * |x|/√2 = 1 and 3.95, the tanh clamp, both signs of SiLU. */
static void
test_sweep (void)
{
  guint32 n = 24 * 4096 + 1;
  g_autofree float *x = g_new (float, n);
  for (guint32 i = 0; i < n; i++)
    x[i] = -12.0f + (float) i / 4096.0f;
  for (MorUnaryOp op = MOR_UNARY_SILU; op <= MOR_UNARY_SIGMOID; op++)
    check (op, x, n, "sweep");
}

/* Large and tiny magnitudes: no inf or NaN from exp overflow, inf/inf in
 * tanh, or x³ overflowing; results still match the reference. */
static void
test_extremes (void)
{
  static const float base[] = { 0.0f, 1e-30f, 1e-6f, 0.5f, 1.0f, 5.5f, 10.0f, 20.0f, 40.0f, 87.0f,
                                89.0f, 100.0f, 1e4f, 3e12f, 1e20f, 1e30f, FLT_MAX };
  guint32 n = 2 * G_N_ELEMENTS (base);
  float x[2 * G_N_ELEMENTS (base)];
  for (guint i = 0; i < G_N_ELEMENTS (base); i++) {
    x[2 * i] = base[i];
    x[2 * i + 1] = -base[i];
  }
  for (MorUnaryOp op = MOR_UNARY_SILU; op <= MOR_UNARY_SIGMOID; op++) {
    g_autofree float *got = run_unary (op, x, n);
    g_autofree float *want = g_new (float, n);
    mor_ref_unary (op, x, want, n);
    for (guint32 i = 0; i < n; i++) {
      if (!isfinite (got[i]))
        g_test_fail_printf ("%s(%g) = %g", names[op], x[i], got[i]);
      /* the reference itself is finite except where libm overflows; skip those */
      if (isfinite (want[i]) && !(fabsf (got[i] - want[i]) <= abs_tol[op] + rel_tol[op] * fabsf (want[i])))
        g_test_fail_printf ("%s(%g): got %.8g, want %.8g", names[op], x[i], got[i], want[i]);
    }
  }
}

/* In place (y aliases x). */
static void
test_in_place (void)
{
  guint32 n = 1000;
  for (MorUnaryOp op = MOR_UNARY_SILU; op <= MOR_UNARY_SIGMOID; op++) {
    g_autofree float *x = harness_random (n, -6, 6, 40 + op);
    g_autofree float *want = g_new (float, n);
    mor_ref_unary (op, x, want, n);
    g_autoptr (MorVkBuffer) bx = harness_upload (x, n * 4);
    g_autoptr (MorVkStream) s = harness_stream ();
    mor_op_unary (s, op, mor_vk_view (bx), mor_vk_view (bx), n);
    harness_run (s);
    g_autofree float *got = harness_download (bx, n * 4);
    harness_assert_close (names[op], got, want, n, abs_tol[op], rel_tol[op]);
  }
}

/* More elements than one binding may cover on the device: an error from
 * mor_vk_stream_end(), nothing dispatched. The view is never bound, so a
 * small buffer stands in for the large one. */
static void
test_too_large (void)
{
  const MorVkDeviceInfo *info = mor_vk_device_get_info (harness_device ());
  if (info->max_storage_range / 4 >= G_MAXUINT32) {
    g_test_skip ("the device binds more than 2^32 floats");
    return;
  }
  guint32 n = (guint32) (info->max_storage_range / 4 + 1);
  g_autoptr (MorVkBuffer) buf = harness_output (16);
  MorVkView big = { buf, 0, (guint64) n * 4 };
  g_autoptr (MorVkStream) s = harness_stream ();
  mor_op_unary (s, MOR_UNARY_SILU, big, big, n);
  g_assert_cmpuint (mor_vk_stream_n_dispatches (s), ==, 0);
  g_autoptr (GError) error = NULL;
  g_assert_false (mor_vk_stream_end (s, &error));
  g_assert_error (error, MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED);
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  g_test_add_func ("/ops/unary/sizes", test_sizes);
  g_test_add_func ("/ops/unary/sweep", test_sweep);
  g_test_add_func ("/ops/unary/extremes", test_extremes);
  g_test_add_func ("/ops/unary/in-place", test_in_place);
  g_test_add_func ("/ops/unary/too-large", test_too_large);
  return g_test_run ();
}
