/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/ecapa.c: the Vulkan ECAPA-TDNN speaker encoder against its C
 * reference on the tiny random talker (mor_mkmodel_talker), the shortest
 * reference mel, and errors for bad input and bad hyper-parameters. */
#include <math.h>
#include <string.h>

#include "ops/harness.h"
#include "ecapa.h"
#include "mkmodel.h"

static MorVkDevice *device;

static MorGguf *
to_gguf (MorGgufWriter *w)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = mor_gguf_writer_to_bytes (w);
  MorGguf *g = mor_gguf_new_from_bytes (bytes, &error);
  g_assert_no_error (error);
  return g;
}

static MorGguf *
tiny_talker (guint64 seed)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MorGgufWriter) w = mor_mkmodel_talker (mor_mkmodel_talker_shape ("tiny"), MOR_TYPE_F32, seed, &error);
  g_assert_no_error (error);
  return to_gguf (w);
}

static MorEcapa *
load (MorGguf *g)
{
  g_autoptr (GError) error = NULL;
  MorEcapa *e = mor_ecapa_load (device, g, &error);
  g_assert_no_error (error);
  return e;
}

/* A log-mel-like reference: N(−4, 1.5²)-ish values, frame after frame. */
static float *
random_mel (guint32 n_frames, guint32 mel, guint32 seed)
{
  float *x = harness_random ((gsize) n_frames * mel, -1, 1, seed);
  for (gsize i = 0; i < (gsize) n_frames * mel; i++)
    x[i] = -4.0f + 2.5f * x[i];
  return x;
}

static void
check_close (MorEcapa *e, const float *mel, guint32 n_frames, const char *what)
{
  const MorEcapaConfig *c = mor_ecapa_get_config (e);
  g_autofree float *want = g_new (float, c->enc_dim), *got = g_new (float, c->enc_dim);
  g_autoptr (GError) error = NULL;
  mor_ecapa_reference_forward (e, mel, n_frames, want);
  g_assert_true (mor_ecapa_compute (e, mel, n_frames, got, &error));
  g_assert_no_error (error);
  double max_err = 0, max_val = 0;
  for (guint32 i = 0; i < c->enc_dim; i++) {
    g_assert_true (isfinite (got[i]));
    max_err = MAX (max_err, fabs (got[i] - want[i]));
    max_val = MAX (max_val, fabs (want[i]));
  }
  /* outputs of order 1 after a 1×1 conv of the pooled statistics: fp32 sums in
   * another order cost ~1e-6 */
  g_test_message ("%s, %u frames: max |Δ| %.3g (max |out| %.3g)", what, n_frames, max_err, max_val);
  g_assert_cmpfloat (max_err, <, 1e-4 * MAX (max_val, 1.0));
}

/* The stored speakers' reference mels, random ones of awkward lengths (the
 * shortest the padding allows, odd, longer than the real 300), and zeros (the
 * guidance's null speaker). */
static void
test_forward (void)
{
  g_autoptr (MorGguf) g = tiny_talker (1);
  g_autoptr (MorEcapa) e = load (g);
  const MorEcapaConfig *c = mor_ecapa_get_config (e);
  const char *speakers[] = { "Chelsie", "Ethan" };
  for (guint i = 0; i < G_N_ELEMENTS (speakers); i++) {
    g_autofree char *name = g_strdup_printf ("spk.%s.ref_mel", speakers[i]);
    const MorGgufTensor *t = mor_gguf_find_tensor (g, name);
    g_assert_nonnull (t);
    check_close (e, t->data, (guint32) t->ne[1], speakers[i]);
  }
  guint32 lengths[] = { mor_ecapa_min_frames (e), 37, 301 };
  for (guint i = 0; i < G_N_ELEMENTS (lengths); i++) {
    g_autofree float *mel = random_mel (lengths[i], c->mel_dim, 10 + i);
    check_close (e, mel, lengths[i], "random");
  }
  g_autofree float *zeros = g_new0 (float, 64 * c->mel_dim);
  check_close (e, zeros, 64, "zeros");
}

/* Reflect padding needs every pad shorter than the input: the tiny model's
 * widest is dilation 4 × (3 − 1) / 2 = 4, so 5 frames. */
static void
test_min_frames (void)
{
  g_autoptr (MorGguf) g = tiny_talker (2);
  g_autoptr (MorEcapa) e = load (g);
  guint32 need = mor_ecapa_min_frames (e), mel = mor_ecapa_get_config (e)->mel_dim;
  g_assert_cmpuint (need, ==, 5);
  g_autofree float *x = random_mel (need, mel, 3);
  float out[64];
  g_autoptr (GError) error = NULL;
  g_assert_false (mor_ecapa_compute (e, x, need - 1, out, &error));
  g_assert_error (error, MOR_ECAPA_ERROR, MOR_ECAPA_ERROR_INPUT);
  g_clear_error (&error);
  x[7] = NAN;
  g_assert_false (mor_ecapa_compute (e, x, need, out, &error));
  g_assert_error (error, MOR_ECAPA_ERROR, MOR_ECAPA_ERROR_INPUT);
}

/* A file with just the mor.dit.enc_* keys (and the lists given), no tensors. */
static MorGguf *
keys_only (const guint32 *channels, guint32 n_channels, guint32 n_kernels, guint32 scale)
{
  static const guint32 kernels[] = { 5, 3, 3, 3, 1, 1 }, dilations[] = { 1, 2, 3, 4, 1, 1 };
  g_autoptr (MorGgufWriter) w = mor_gguf_writer_new ();
  mor_gguf_writer_add_string (w, "general.architecture", "mor");
  mor_gguf_writer_add_u32 (w, "mor.dit.mel_dim", 80);
  mor_gguf_writer_add_u32 (w, "mor.dit.enc_dim", 32);
  mor_gguf_writer_add_u32 (w, "mor.dit.enc_attention_channels", 16);
  mor_gguf_writer_add_u32 (w, "mor.dit.enc_res2net_scale", scale);
  mor_gguf_writer_add_u32 (w, "mor.dit.enc_se_channels", 16);
  mor_gguf_writer_add_array (w, "mor.dit.enc_channels", MOR_GGUF_VALUE_UINT32, channels, n_channels);
  mor_gguf_writer_add_array (w, "mor.dit.enc_kernel_sizes", MOR_GGUF_VALUE_UINT32, kernels, n_kernels);
  mor_gguf_writer_add_array (w, "mor.dit.enc_dilations", MOR_GGUF_VALUE_UINT32, dilations, n_channels);
  return to_gguf (w);
}

static void
expect_error (MorGguf *g, GQuark domain, gint code, const char *needle)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MorEcapa) e = mor_ecapa_load (device, g, &error);
  g_assert_null (e);
  g_assert_error (error, domain, code);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, needle));
}

static void
test_config_errors (void)
{
  static const guint32 good[] = { 32, 32, 32, 32, 96 }, bad_sum[] = { 32, 32, 32, 32, 64 };
  static const guint32 odd[] = { 32, 33, 33, 33, 99 }, widen[] = { 32, 64, 64, 64, 192 };
  static const guint32 two[] = { 32, 32 };
  g_autoptr (MorGguf) g1 = keys_only (bad_sum, 5, 5, 2);
  expect_error (g1, MOR_ECAPA_ERROR, MOR_ECAPA_ERROR_CONFIG, "feature aggregation");
  g_autoptr (MorGguf) g2 = keys_only (odd, 5, 5, 2);
  expect_error (g2, MOR_ECAPA_ERROR, MOR_ECAPA_ERROR_CONFIG, "enc_res2net_scale");
  g_autoptr (MorGguf) g3 = keys_only (widen, 5, 5, 2);
  expect_error (g3, MOR_ECAPA_ERROR, MOR_ECAPA_ERROR_CONFIG, "residual");
  g_autoptr (MorGguf) g4 = keys_only (good, 5, 4, 2);
  expect_error (g4, MOR_ECAPA_ERROR, MOR_ECAPA_ERROR_CONFIG, "differ in length");
  g_autoptr (MorGguf) g5 = keys_only (two, 2, 2, 2);
  expect_error (g5, MOR_ECAPA_ERROR, MOR_ECAPA_ERROR_CONFIG, "mor.dit.enc_channels");
  g_autoptr (MorGguf) g6 = keys_only (good, 5, 5, 0);
  expect_error (g6, MOR_ECAPA_ERROR, MOR_ECAPA_ERROR_CONFIG, "enc_res2net_scale");
  /* good keys, no tensors: the first tensor is named */
  g_autoptr (MorGguf) g7 = keys_only (good, 5, 5, 2);
  expect_error (g7, MOR_GGUF_ERROR, MOR_GGUF_ERROR_NOT_FOUND, "t2w.dit.ecapa.blk.0.weight");
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  device = harness_device ();
  g_test_add_func ("/ecapa/forward", test_forward);
  g_test_add_func ("/ecapa/min-frames", test_min_frames);
  g_test_add_func ("/ecapa/config-errors", test_config_errors);
  return g_test_run ();
}
