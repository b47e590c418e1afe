/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `mor token2wav` and `mor ecapa`: the token2wav DiT (codes → mel) and its
 * ECAPA-TDNN speaker encoder on .npy files. */
#include "commands.h"

#include <string.h>

#include "dit.h"
#include "npy.h"

/* Codes from a 1-D (or [1, n]) array of integers, each in 0 … 2^32 − 1. */
static guint32 *
read_codes (const char *path, guint32 *n_codes, GError **error)
{
  g_autoptr (MorNpy) a = mor_npy_load (path, error);
  if (!a)
    return NULL;
  gboolean ints = a->dtype == MOR_NPY_I64 || a->dtype == MOR_NPY_I32 || a->dtype == MOR_NPY_U32;
  if (!ints || a->ndim < 1 || a->ndim > 2 || (a->ndim == 2 && a->shape[0] != 1) || a->n == 0 || a->n > G_MAXUINT32) {
    g_set_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_TYPE, "%s: expected codes as a non-empty int64, int32 or uint32 "
                 "array [n] or [1, n]", path);
    return NULL;
  }
  g_autofree guint32 *codes = g_new (guint32, a->n);
  for (guint64 i = 0; i < a->n; i++) {
    gint64 v = a->dtype == MOR_NPY_I64 ? ((const gint64 *) a->data)[i]
             : a->dtype == MOR_NPY_I32 ? (gint64) ((const gint32 *) a->data)[i]
             : (gint64) ((const guint32 *) a->data)[i];
    if (v < 0 || v > G_MAXUINT32) {
      g_set_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_TYPE, "%s: code %" G_GINT64_FORMAT " at %" G_GUINT64_FORMAT
                   " is negative or too large", path, v, i);
      return NULL;
    }
    codes[i] = (guint32) v;
  }
  *n_codes = (guint32) a->n;
  return g_steal_pointer (&codes);
}

/* The first @T frames of float32 noise [N, mel] or [1, N, mel] (N ≥ T: the
 * whole torch.randn([1, 30000, mel]) will do, as sample() slices it). */
static float *
read_noise (const char *path, guint32 T, guint32 mel, GError **error)
{
  g_autoptr (MorNpy) a = mor_npy_load (path, error);
  if (!a)
    return NULL;
  const gint64 shape2[] = { -1, mel }, shape3[] = { 1, -1, mel };
  if (!mor_npy_check (a, path, MOR_NPY_F32, a->ndim == 3 ? 3 : 2, a->ndim == 3 ? shape3 : shape2, error))
    return NULL;
  if (a->shape[a->ndim - 2] < T) {
    g_set_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_TYPE, "%s: %" G_GUINT64_FORMAT " frames of noise; the codes "
                 "need %u", path, a->shape[a->ndim - 2], T);
    return NULL;
  }
  return g_memdup2 (a->data, (gsize) T * mel * 4);
}

int
mor_cli_token2wav (int argc, char **argv)
{
  g_autofree char *model = NULL, *codes_path = NULL, *speaker = NULL, *noise_path = NULL, *solver = NULL;
  g_autofree char *out = NULL, *device = NULL;
  gint64 seed = 0;
  gint steps = 10;
  gdouble cfg = 0.5, sway = -1.0;
  gboolean reference = FALSE;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model, "talker.gguf (DiT: mor.dit.*, t2w.dit.*; speakers spk.*)", "FILE" },
    { "codes", 'c', 0, G_OPTION_ARG_FILENAME, &codes_path, "The talker's codec codes: integers [n] or [1, n]",
      "CODES.npy" },
    { "speaker", 's', 0, G_OPTION_ARG_STRING, &speaker, "Speaker (default: the file's mor.speakers.default)", "NAME" },
    { "noise", 0, 0, G_OPTION_ARG_FILENAME, &noise_path,
      "Initial noise, float32 [N, mel] or [1, N, mel] with N ≥ 2·codes (the first rows are used); "
      "default: drawn from --seed", "NOISE.npy" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Seed of mor's own normal noise (default 0; torch's cannot be "
      "reproduced: pass --noise to match transformers)", "N" },
    { "steps", 0, 0, G_OPTION_ARG_INT, &steps, "ODE time points (default 10: 9 steps)", "K" },
    { "solver", 0, 0, G_OPTION_ARG_STRING, &solver, "rk4 (transformers, 4 evaluations a step; default) or euler", "S" },
    { "cfg", 0, 0, G_OPTION_ARG_DOUBLE, &cfg, "Classifier-free guidance scale (default 0.5; 0: no null branch)", "X" },
    { "sway", 0, 0, G_OPTION_ARG_DOUBLE, &sway, "Sway coefficient of the time grid (default -1)", "X" },
    { "reference", 0, 0, G_OPTION_ARG_NONE, &reference, "Run the C reference instead of the device (slow)", NULL },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Where to write float32 [mel_dim, 2·codes]: natural-log mel",
      "MEL.npy" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, "Vulkan device index or name", "DEV" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("— a mel spectrogram from codec codes (token2wav's DiT)");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 1 || !model || !codes_path || !out ||
      (solver && strcmp (solver, "rk4") != 0 && strcmp (solver, "euler") != 0) || steps < 2 || steps > 10000)
    return mor_cli_usage (ctx, error);
  MorDitSampleParams p;
  mor_dit_sample_params_init (&p);
  p.num_steps = steps;
  p.guidance_scale = cfg;
  p.sway_coefficient = sway;
  p.solver = solver && strcmp (solver, "euler") == 0 ? MOR_DIT_SOLVER_EULER : MOR_DIT_SOLVER_RK4;

  guint32 n = 0;
  g_autofree guint32 *codes = read_codes (codes_path, &n, &error);
  g_autoptr (MorGguf) g = codes ? mor_gguf_open (model, &error) : NULL;
  g_autoptr (MorVkDevice) dev = g ? mor_vk_device_open (device, &error) : NULL;
  g_autoptr (MorDit) dit = dev ? mor_dit_load (dev, g, &error) : NULL;
  if (!dit)
    return mor_cli_fail (error);
  const MorDitConfig *c = mor_dit_get_config (dit);
  if ((guint64) n * c->repeats > 1u << 20) {
    g_set_error (&error, MOR_DIT_ERROR, MOR_DIT_ERROR_INPUT, "%s: %u codes; at most %u", codes_path, n,
                 (1u << 20) / c->repeats);
    return mor_cli_fail (error);
  }
  guint32 T = n * c->repeats;
  g_autofree float *noise = NULL;
  if (noise_path) {
    if (!(noise = read_noise (noise_path, T, c->mel_dim, &error)))
      return mor_cli_fail (error);
  } else {
    noise = g_new (float, (gsize) T * c->mel_dim);
    mor_dit_noise ((guint64) seed, noise, (gsize) T * c->mel_dim);
  }
  const float *cond, *ref_mel;
  guint32 n_ref;
  g_autoptr (MorDitSpeaker) spk = NULL;
  if (!mor_dit_find_speaker (dit, speaker, &cond, &ref_mel, &n_ref, &error) ||
      !(spk = mor_dit_speaker_new (dit, cond, ref_mel, n_ref, reference, &error)))
    return mor_cli_fail (error);
  g_autofree float *mel = g_new (float, (gsize) T * c->mel_dim);
  if (reference) {
    if (!mor_dit_reference_sample (dit, spk, codes, n, noise, &p, mel, &error))
      return mor_cli_fail (error);
  } else {
    g_autoptr (MorDitSession) s = mor_dit_session_new (dit, n, &error);
    if (!s || !mor_dit_session_sample (s, spk, codes, n, noise, &p, mel, &error))
      return mor_cli_fail (error);
  }
  guint64 shape[2] = { c->mel_dim, T };
  if (!mor_npy_save (out, MOR_NPY_F32, 2, shape, mel, &error))
    return mor_cli_fail (error);
  return 0;
}

int
mor_cli_ecapa (int argc, char **argv)
{
  g_autofree char *model = NULL, *speaker = NULL, *ref_path = NULL, *out = NULL, *device = NULL;
  gboolean reference = FALSE;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model, "talker.gguf (t2w.dit.ecapa.*, speakers spk.*)", "FILE" },
    { "speaker", 's', 0, G_OPTION_ARG_STRING, &speaker, "Speaker whose spk.NAME.ref_mel to encode (default: "
      "mor.speakers.default)", "NAME" },
    { "ref-mel", 0, 0, G_OPTION_ARG_FILENAME, &ref_path, "Encode this reference mel instead: float32 [T, mel] or "
      "[1, T, mel]", "MEL.npy" },
    { "reference", 0, 0, G_OPTION_ARG_NONE, &reference, "Run the C reference instead of the device", NULL },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Where to write the float32 [enc_dim] speaker vector", "OUT.npy" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, "Vulkan device index or name", "DEV" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("— the ECAPA-TDNN speaker vector the DiT conditions on");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 1 || !model || !out || (speaker && ref_path))
    return mor_cli_usage (ctx, error);
  g_autoptr (MorGguf) g = mor_gguf_open (model, &error);
  g_autoptr (MorVkDevice) dev = g ? mor_vk_device_open (device, &error) : NULL;
  g_autoptr (MorDit) dit = dev ? mor_dit_load (dev, g, &error) : NULL;
  if (!dit)
    return mor_cli_fail (error);
  MorEcapa *e = mor_dit_get_ecapa (dit);
  const MorEcapaConfig *c = mor_ecapa_get_config (e);
  const float *cond, *ref_mel;
  guint32 n_ref;
  g_autoptr (MorNpy) a = NULL;
  if (ref_path) {
    const gint64 shape2[] = { -1, c->mel_dim }, shape3[] = { 1, -1, c->mel_dim };
    if (!(a = mor_npy_load (ref_path, &error)) ||
        !mor_npy_check (a, ref_path, MOR_NPY_F32, a->ndim == 3 ? 3 : 2, a->ndim == 3 ? shape3 : shape2, &error))
      return mor_cli_fail (error);
    ref_mel = a->data;
    n_ref = (guint32) MIN (a->shape[a->ndim - 2], G_MAXUINT32 / c->mel_dim);
  } else if (!mor_dit_find_speaker (dit, speaker, &cond, &ref_mel, &n_ref, &error)) {
    return mor_cli_fail (error);
  }
  g_autofree float *v = g_new (float, c->enc_dim);
  if (!mor_ecapa_check_input (e, ref_mel, n_ref, &error))
    return mor_cli_fail (error);
  if (reference)
    mor_ecapa_reference_forward (e, ref_mel, n_ref, v);
  else if (!mor_ecapa_compute (e, ref_mel, n_ref, v, &error))
    return mor_cli_fail (error);
  guint64 shape[1] = { c->enc_dim };
  if (!mor_npy_save (out, MOR_NPY_F32, 1, shape, v, &error))
    return mor_cli_fail (error);
  return 0;
}
