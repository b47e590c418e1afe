/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* encoder-golden: libmor's log-mel front end and audio encoder on the golden
 * signals, written as .npy files for test_encoder_golden.py to compare with
 * what transformers computed (encoder/README.md).
 *
 *   encoder-golden ENCODER.gguf OUTDIR X.npy...
 *
 * Each X.npy is float32 [n] samples at 16 kHz, named x_N.npy. Writes into
 * OUTDIR for each:
 *   mel128_N.npy, ref_mel128_N.npy   float32 [128, frames]      mor_mel_compute (Vulkan) and
 *                                                               mor_mel_reference, 128 bands
 *   rows_N.npy                       float32 [rows, output_dim] mor_encoder_encode (Vulkan)
 *   stream_rows_N.npy                                           a session fed 1000 samples at a
 *                                                               time, after finish
 *   ref_rows_N.npy                                              mor_encoder_reference_forward on
 *                                                               mor_mel_reference's features
 * Exit status 77 (skip) without a Vulkan device, except under CI. */
#include "encoder.h"
#include "npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gboolean
save (const char *dir, const char *prefix, const char *base, guint64 rows, guint64 cols, const float *data,
      GError **error)
{
  g_autofree char *name = g_strconcat (prefix, base, NULL);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  const guint64 shape[] = { rows, cols };
  static const float none;
  return mor_npy_save (path, MOR_NPY_F32, 2, shape, rows && cols ? data : &none, error);
}

static gboolean
run_signal (MorEncoder *enc, MorMel *mel128, const char *x_path, const char *outdir, GError **error)
{
  const MorEncoderConfig *c = mor_encoder_get_config (enc);
  g_autoptr (MorNpy) x = mor_npy_load (x_path, error);
  if (!x || !mor_npy_check (x, x_path, MOR_NPY_F32, 1, NULL, error))
    return FALSE;
  g_autofree char *base = g_path_get_basename (x_path);   /* x_N.npy */
  const char *tail = base + 1;                             /* _N.npy */
  const float *s = x->data;
  guint64 n = x->n;
  guint32 L = mor_mel_n_frames (n);

  g_autofree float *mel = g_new (float, (gsize) 128 * L + 1), *ref_mel = g_new (float, (gsize) 128 * L + 1);
  if (!mor_mel_compute (mel128, s, n, mel, error))
    return FALSE;
  mor_mel_reference (128, s, n, ref_mel);
  if (!save (outdir, "mel128", tail, 128, L, mel, error) || !save (outdir, "ref_mel128", tail, 128, L, ref_mel, error))
    return FALSE;

  guint32 n_rows;
  GError *local = NULL;
  g_autofree float *rows = mor_encoder_encode (enc, s, n, &n_rows, &local);
  if (local) {
    g_propagate_error (error, local);
    return FALSE;
  }
  g_autofree float *feat = g_new (float, (gsize) c->num_mel_bins * L + 1);
  g_autofree float *ref_rows = g_new (float, (gsize) (n_rows + 1) * c->output_dim);
  mor_mel_reference (c->num_mel_bins, s, n, feat);
  mor_encoder_reference_forward (enc, feat, L, ref_rows);

  g_autoptr (MorEncoderSession) session = mor_encoder_session_new (enc, MAX (n, 1), error);
  if (!session)
    return FALSE;
  for (guint64 at = 0; at < n; at += 1000)
    if (!mor_encoder_session_push (session, s + at, MIN (1000, n - at), error))
      return FALSE;
  if (!mor_encoder_session_finish (session, error))
    return FALSE;
  g_assert (mor_encoder_session_n_rows (session) == n_rows);
  return save (outdir, "rows", tail, n_rows, c->output_dim, rows, error) &&
         save (outdir, "ref_rows", tail, n_rows, c->output_dim, ref_rows, error) &&
         save (outdir, "stream_rows", tail, n_rows, c->output_dim, mor_encoder_session_get_rows (session), error);
}

int
main (int argc, char **argv)
{
  if (argc < 4) {
    fprintf (stderr, "usage: %s ENCODER.gguf OUTDIR X.npy...\n", argv[0]);
    return 2;
  }
  g_autoptr (GError) error = NULL;
  g_autoptr (MorVkDevice) dev = mor_vk_device_open (NULL, &error);
  if (!dev) {
    fprintf (stderr, "%s: no usable Vulkan device: %s\n", argv[0], error->message);
    return g_getenv ("CI") ? 1 : 77;
  }
  g_autoptr (MorGguf) gguf = mor_gguf_open (argv[1], &error);
  g_autoptr (MorEncoder) enc = gguf ? mor_encoder_load (dev, gguf, &error) : NULL;
  g_autoptr (MorMel) mel128 = enc ? mor_mel_new (dev, 128, &error) : NULL;
  if (!mel128 || g_mkdir_with_parents (argv[2], 0755) != 0) {
    fprintf (stderr, "%s: %s\n", argv[0], error ? error->message : "cannot create the output folder");
    return 1;
  }
  for (int i = 3; i < argc; i++)
    if (!run_signal (enc, mel128, argv[i], argv[2], &error)) {
      fprintf (stderr, "%s: %s: %s\n", argv[0], argv[i], error->message);
      return 1;
    }
  return 0;
}
