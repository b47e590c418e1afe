/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dit-golden: libmor's token2wav DiT and ECAPA-TDNN on the golden cases,
 * written as .npy files for test_dit_golden.py to compare with what
 * transformers computed (dit/README.md).
 *
 *   dit-golden TALKER.gguf GOLDEN_DIR OUTDIR SAMPLE_CASE...
 *
 * Writes into OUTDIR, each from the device and (prefix ref_) from libmor's C
 * reference:
 *   ecapa_S.npy, ecapa_S_zeros.npy  float32 [enc_dim]   speaker S's ECAPA vector, and of zeros like its ref_mel
 *   velocity.npy                    float32 [2, T, mel] one evaluation at t = 0.37 of GOLDEN_DIR/velocity_x.npy
 *                                                       with velocity_codes.npy, speaker Chelsie: conditional, null
 *   sample_CASE.npy                 float32 [mel, T]    sample() from sample_CASE_noise.npy and _codes.npy, CASE
 *                                                       = SPEAKER_NCODES_STEPS (guidance 0.5, sway −1, RK4)
 *   time_points.npy                 float32 [10]        mor_dit_time_points (10, −1) (device file only)
 * Exit status 77 (skip) without a Vulkan device, except under CI. */
#include "dit.h"
#include "npy.h"

#include <stdlib.h>
#include <string.h>

#define VELOCITY_T 0.37f

static MorNpy *
load (const char *dir, const char *name, MorNpyDtype dtype, guint ndim, gint64 width, GError **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  gint64 shape[2] = { -1, width };
  g_autoptr (MorNpy) a = mor_npy_load (path, error);
  if (!a || !mor_npy_check (a, path, dtype, ndim, ndim == 2 ? shape : NULL, error))
    return NULL;
  if (a->n == 0) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: empty", path);
    return NULL;
  }
  return g_steal_pointer (&a);
}

static gboolean
save (const char *dir, const char *prefix, const char *name, guint ndim, const guint64 *shape, const float *data,
      GError **error)
{
  g_autofree char *base = g_strconcat (prefix, name, NULL);
  g_autofree char *path = g_build_filename (dir, base, NULL);
  return mor_npy_save (path, MOR_NPY_F32, ndim, shape, data, error);
}

/* The speaker @name with ECAPA on the device, or the reference's. */
static MorDitSpeaker *
speaker (MorDit *dit, const char *name, gboolean reference, GError **error)
{
  const float *cond, *ref_mel;
  guint32 n;
  if (!mor_dit_find_speaker (dit, name, &cond, &ref_mel, &n, error))
    return NULL;
  return mor_dit_speaker_new (dit, cond, ref_mel, n, reference, error);
}

static gboolean
run_ecapa (MorDit *dit, const char *outdir, gboolean reference, GError **error)
{
  const MorDitConfig *c = mor_dit_get_config (dit);
  const char *prefix = reference ? "ref_" : "";
  static const char *names[] = { "Chelsie", "Ethan" };
  guint64 shape[1] = { c->enc_dim };
  for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
    g_autoptr (MorDitSpeaker) spk = speaker (dit, names[i], reference, error);
    g_autofree char *a = g_strdup_printf ("ecapa_%s.npy", names[i]), *b = g_strdup_printf ("ecapa_%s_zeros.npy",
                                                                                             names[i]);
    if (!spk || !save (outdir, prefix, a, 1, shape, spk->spk, error) ||
        !save (outdir, prefix, b, 1, shape, spk->spk_null, error))
      return FALSE;
  }
  return TRUE;
}

static gboolean
run_velocity (MorDit *dit, MorDitSession *s, const char *golden, const char *outdir, gboolean reference,
              GError **error)
{
  const MorDitConfig *c = mor_dit_get_config (dit);
  g_autoptr (MorNpy) codes = load (golden, "velocity_codes.npy", MOR_NPY_I32, 1, 0, error);
  g_autoptr (MorNpy) x = codes ? load (golden, "velocity_x.npy", MOR_NPY_F32, 2, c->mel_dim, error) : NULL;
  g_autoptr (MorDitSpeaker) spk = x ? speaker (dit, "Chelsie", reference, error) : NULL;
  if (!spk)
    return FALSE;
  guint32 n = (guint32) codes->n, T = n * c->repeats;
  if (x->shape[0] != T) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "velocity_x.npy: %" G_GUINT64_FORMAT " frames for %u codes",
                 x->shape[0], n);
    return FALSE;
  }
  gsize size = (gsize) T * c->mel_dim;
  g_autofree float *v = g_new (float, 2 * size);
  gboolean ok = reference ? mor_dit_reference_velocity (dit, spk, codes->data, n, x->data, VELOCITY_T, v, v + size,
                                                        error)
                          : mor_dit_session_velocity (s, spk, codes->data, n, x->data, VELOCITY_T, v, v + size, error);
  guint64 shape[3] = { 2, T, c->mel_dim };
  return ok && save (outdir, reference ? "ref_" : "", "velocity.npy", 3, shape, v, error);
}

static gboolean
run_sample (MorDit *dit, MorDitSession *s, const char *golden, const char *outdir, const char *name,
            gboolean reference, GError **error)
{
  const MorDitConfig *c = mor_dit_get_config (dit);
  g_auto (GStrv) parts = g_strsplit (name, "_", 3);
  if (g_strv_length (parts) != 3) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "case %s: expected SPEAKER_NCODES_STEPS", name);
    return FALSE;
  }
  g_autofree char *cn = g_strdup_printf ("sample_%s_codes.npy", name), *xn = g_strdup_printf ("sample_%s_noise.npy",
                                                                                               name);
  g_autoptr (MorNpy) codes = load (golden, cn, MOR_NPY_I32, 1, 0, error);
  g_autoptr (MorNpy) noise = codes ? load (golden, xn, MOR_NPY_F32, 2, c->mel_dim, error) : NULL;
  g_autoptr (MorDitSpeaker) spk = noise ? speaker (dit, parts[0], reference, error) : NULL;
  if (!spk)
    return FALSE;
  guint32 n = (guint32) codes->n, T = n * c->repeats;
  MorDitSampleParams p;
  mor_dit_sample_params_init (&p);
  p.num_steps = (guint32) atoi (parts[2]);
  if (noise->shape[0] != T || (guint32) atoi (parts[1]) != n) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "case %s: %u codes, %" G_GUINT64_FORMAT " noise frames",
                 name, n, noise->shape[0]);
    return FALSE;
  }
  g_autofree float *mel = g_new (float, (gsize) T * c->mel_dim);
  gboolean ok = reference ? mor_dit_reference_sample (dit, spk, codes->data, n, noise->data, &p, mel, error)
                          : mor_dit_session_sample (s, spk, codes->data, n, noise->data, &p, mel, error);
  g_autofree char *out = g_strdup_printf ("sample_%s.npy", name);
  guint64 shape[2] = { c->mel_dim, T };
  return ok && save (outdir, reference ? "ref_" : "", out, 2, shape, mel, error);
}

int
main (int argc, char **argv)
{
  if (argc < 4) {
    g_printerr ("usage: dit-golden TALKER.gguf GOLDEN_DIR OUTDIR SAMPLE_CASE...\n");
    return 2;
  }
  const char *golden = argv[2], *outdir = argv[3];
  g_autoptr (GError) error = NULL;
  g_autoptr (MorGguf) g = mor_gguf_open (argv[1], &error);
  if (!g) {
    g_printerr ("%s\n", error->message);
    return 1;
  }
  g_autoptr (MorVkDevice) dev = mor_vk_device_open (NULL, &error);
  if (!dev) {
    g_printerr ("%s: %s\n", g_getenv ("CI") ? "no Vulkan device under CI" : "SKIP: no Vulkan device",
                error->message);
    return g_getenv ("CI") ? 1 : 77;
  }
  g_autoptr (MorDit) dit = mor_dit_load (dev, g, &error);
  g_autoptr (MorDitSession) s = dit ? mor_dit_session_new (dit, 64, &error) : NULL;
  if (!s || g_mkdir_with_parents (outdir, 0755) != 0) {
    g_printerr ("%s\n", error ? error->message : "cannot make the output directory");
    return 1;
  }
  gboolean ok = TRUE;
  for (int reference = 0; ok && reference <= 1; reference++) {
    ok = run_ecapa (dit, outdir, reference, &error) && run_velocity (dit, s, golden, outdir, reference, &error);
    for (int i = 4; ok && i < argc; i++)
      ok = run_sample (dit, s, golden, outdir, argv[i], reference, &error);
  }
  float t[10];
  guint64 shape[1] = { 10 };
  mor_dit_time_points (10, -1.0f, t);
  if (!ok || !save (outdir, "", "time_points.npy", 1, shape, t, &error)) {
    g_printerr ("%s\n", error->message);
    return 1;
  }
  if (mor_vk_device_validation_messages (dev) > 0) {
    g_printerr ("Vulkan validation messages\n");
    return 1;
  }
  return 0;
}
