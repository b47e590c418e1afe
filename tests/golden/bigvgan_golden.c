/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bigvgan-golden: libmor's BigVGAN vocoder on the golden mel spectrograms,
 * written as .npy files for test_bigvgan_golden.py to compare with what
 * transformers computed (bigvgan/README.md).
 *
 *   bigvgan-golden TALKER.gguf OUTDIR CHUNK OVERLAP MEL.npy...
 *
 * Each MEL.npy is float32 [mel_dim, T], named mel_T.npy. Writes into OUTDIR
 * for each, float32 [T·hop]:
 *   wav_T.npy          mor_bigvgan_session_vocode (Vulkan) on the whole mel
 *   ref_wav_T.npy      mor_bigvgan_reference_forward
 *   stream_wav_T.npy   mor_bigvgan_session_stream_push in chunks of CHUNK frames
 *                      with OVERLAP frames of overlap
 * Exit status 77 (skip) without a Vulkan device, except under CI. */
#include "bigvgan.h"
#include "npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gboolean
save (const char *dir, const char *prefix, const char *base, guint64 n, const float *data, GError **error)
{
  g_autofree char *name = g_strconcat (prefix, base, NULL);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  return mor_npy_save (path, MOR_NPY_F32, 1, &n, data, error);
}

static gboolean
run_mel (MorBigvgan *bv, const char *mel_path, const char *outdir, guint32 chunk, guint32 overlap, GError **error)
{
  const MorBigvganConfig *c = mor_bigvgan_get_config (bv);
  g_autoptr (MorNpy) mel = mor_npy_load (mel_path, error);
  const gint64 shape[] = { c->mel_dim, -1 };
  if (!mel || !mor_npy_check (mel, mel_path, MOR_NPY_F32, 2, shape, error))
    return FALSE;
  g_autofree char *base = g_path_get_basename (mel_path);   /* mel_T.npy */
  const char *tail = base + 3;                               /* _T.npy */
  guint32 T = (guint32) mel->shape[1];
  guint64 n = (guint64) T * c->hop;

  g_autoptr (MorBigvganSession) whole = mor_bigvgan_session_new (bv, T, error);
  const float *y = whole ? mor_bigvgan_session_vocode (whole, mel->data, T, T, error) : NULL;
  if (!y || !save (outdir, "wav", tail, n, y, error))
    return FALSE;
  g_autofree float *ref = g_new (float, n);
  mor_bigvgan_reference_forward (bv, mel->data, T, T, ref);
  if (!save (outdir, "ref_wav", tail, n, ref, error))
    return FALSE;

  g_autoptr (MorBigvganSession) s = mor_bigvgan_session_new (bv, chunk + 2 * overlap, error);
  if (!s)
    return FALSE;
  g_autofree float *streamed = g_new (float, n);
  guint64 done = 0;
  mor_bigvgan_session_stream_reset (s, overlap);
  for (guint32 at = 0; at < T; at += chunk) {
    guint32 len = MIN (chunk, T - at);
    guint64 got;
    const float *part = mor_bigvgan_session_stream_push (s, (const float *) mel->data + at, len, T, at + len == T,
                                                         &got, error);
    if (!part)
      return FALSE;
    memcpy (streamed + done, part, got * 4);
    done += got;
  }
  g_assert (done == n);
  return save (outdir, "stream_wav", tail, n, streamed, error);
}

int
main (int argc, char **argv)
{
  if (argc < 6) {
    fprintf (stderr, "usage: %s TALKER.gguf OUTDIR CHUNK OVERLAP MEL.npy...\n", argv[0]);
    return 2;
  }
  guint32 chunk = (guint32) atoi (argv[3]), overlap = (guint32) atoi (argv[4]);
  g_autoptr (GError) error = NULL;
  g_autoptr (MorVkDevice) dev = mor_vk_device_open (NULL, &error);
  if (!dev) {
    fprintf (stderr, "%s: no usable Vulkan device: %s\n", argv[0], error->message);
    return g_getenv ("CI") ? 1 : 77;
  }
  g_autoptr (MorGguf) gguf = mor_gguf_open (argv[1], &error);
  g_autoptr (MorBigvgan) bv = gguf ? mor_bigvgan_load (dev, gguf, &error) : NULL;
  if (!bv || chunk == 0 || g_mkdir_with_parents (argv[2], 0755) != 0) {
    fprintf (stderr, "%s: %s\n", argv[0], error ? error->message : "bad chunk, or cannot create the output folder");
    return 1;
  }
  for (int i = 5; i < argc; i++)
    if (!run_mel (bv, argv[i], argv[2], chunk, overlap, &error)) {
      fprintf (stderr, "%s: %s: %s\n", argv[0], argv[i], error->message);
      return 1;
    }
  return 0;
}
