/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* talker-golden: libmor's talker on the golden cases, written as .npy files for
 * test_talker_golden.py to compare with what transformers computed
 * (talker/README.md).
 *
 *   talker-golden TALKER.gguf GOLDEN_DIR OUTDIR MAX_NEW CASE...
 *
 * For each CASE, reads GOLDEN_DIR/prompt_CASE.npy and reply_CASE.npy (float32
 * [P, E], [N, E]) and tokens_CASE.npy (int32: the tokens transformers made),
 * runs a greedy session with max_new_tokens MAX_NEW and writes into OUTDIR:
 *   codes_CASE.npy         int32 [n]         the codes, all reply rows given first
 *   logits_CASE.npy        float32 [n, V]    the logits of each code
 *   stream_codes_CASE.npy  int32 [n]         the codes, each reply row given when asked for
 *   ref_logits_CASE.npy    float32 [T, V]    mor_talker_reference_forward on the golden tokens
 * Exit status 77 (skip) without a Vulkan device, except under CI. */
#include "npy.h"
#include "talker.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static MorNpy *
load (const char *dir, const char *what, const char *name, MorNpyDtype dtype, guint ndim, guint32 width,
      GError **error)
{
  g_autofree char *base = g_strdup_printf ("%s_%s.npy", what, name);
  g_autofree char *path = g_build_filename (dir, base, NULL);
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
save (const char *dir, const char *what, const char *name, MorNpyDtype dtype, guint64 rows, guint64 cols,
      gconstpointer data, GError **error)
{
  g_autofree char *base = g_strdup_printf ("%s_%s.npy", what, name);
  g_autofree char *path = g_build_filename (dir, base, NULL);
  const guint64 shape[] = { rows, cols };
  static const float none;
  return mor_npy_save (path, dtype, cols ? 2 : 1, shape, rows ? data : &none, error);
}

/* One answer; @stream: give each reply row only when the talker asks. */
static guint32
answer (MorTalkerSession *s, const MorNpy *prompt, const MorNpy *reply, gboolean stream, gint32 *codes,
        float *logits, guint32 V, GError **error)
{
  guint32 E = (guint32) prompt->shape[1], N = (guint32) reply->shape[0], pushed = 0, n = 0;
  if (!mor_talker_session_begin (s, prompt->data, (guint32) prompt->shape[0], NULL, error))
    return G_MAXUINT32;
  for (; !stream && pushed < N; pushed++)
    if (!mor_talker_session_push_reply (s, (const float *) reply->data + (gsize) pushed * E, error))
      return G_MAXUINT32;
  if (!stream)
    mor_talker_session_end_reply (s);
  for (;;) {
    gint32 code;
    switch (mor_talker_session_next (s, &code, error)) {
    case MOR_TALKER_ERROR_STATUS:
      return G_MAXUINT32;
    case MOR_TALKER_DONE:
      return n;
    case MOR_TALKER_NEED_REPLY:
      if (pushed == N)
        mor_talker_session_end_reply (s);
      else if (!mor_talker_session_push_reply (s, (const float *) reply->data + (gsize) pushed++ * E, error))
        return G_MAXUINT32;
      break;
    case MOR_TALKER_CODE:
      if (logits)
        memcpy (logits + (gsize) n * V, mor_talker_session_get_logits (s), V * sizeof (float));
      codes[n++] = code;
      break;
    }
  }
}

static gboolean
run_case (MorTalker *t, const char *golden, const char *outdir, guint32 max_new, const char *name, GError **error)
{
  const MorTalkerConfig *c = mor_talker_get_config (t);
  const guint32 V = c->vocab_size, E = c->embedding_size;
  g_autoptr (MorNpy) prompt = load (golden, "prompt", name, MOR_NPY_F32, 2, E, error);
  g_autoptr (MorNpy) reply = prompt ? load (golden, "reply", name, MOR_NPY_F32, 2, E, error) : NULL;
  g_autoptr (MorNpy) tokens = reply ? load (golden, "tokens", name, MOR_NPY_I32, 1, 0, error) : NULL;
  if (!tokens)
    return FALSE;
  MorSamplerParams greedy = MOR_TALKER_SAMPLING_GREEDY;
  guint32 n_ctx = (guint32) prompt->shape[0] + max_new + 2;
  g_autoptr (MorTalkerSession) s = mor_talker_session_new (t, n_ctx, &greedy, max_new, error);
  if (!s)
    return FALSE;
  g_autofree gint32 *codes = g_new (gint32, max_new), *stream_codes = g_new (gint32, max_new);
  g_autofree float *logits = g_new (float, (gsize) max_new * V);
  g_autofree float *ref = g_new (float, (gsize) tokens->n * V);
  guint32 n = answer (s, prompt, reply, FALSE, codes, logits, V, error);
  guint32 n_stream = n == G_MAXUINT32 ? n : answer (s, prompt, reply, TRUE, stream_codes, NULL, V, error);
  if (n_stream == G_MAXUINT32 ||
      !mor_talker_reference_forward (t, prompt->data, (guint32) prompt->shape[0], NULL, reply->data,
                                     (guint32) reply->shape[0], tokens->data, (guint32) tokens->n, ref, error))
    return FALSE;
  return save (outdir, "codes", name, MOR_NPY_I32, n, 0, codes, error) &&
         save (outdir, "logits", name, MOR_NPY_F32, n, V, logits, error) &&
         save (outdir, "stream_codes", name, MOR_NPY_I32, n_stream, 0, stream_codes, error) &&
         save (outdir, "ref_logits", name, MOR_NPY_F32, tokens->n, V, ref, error);
}

int
main (int argc, char **argv)
{
  if (argc < 6) {
    g_printerr ("usage: talker-golden TALKER.gguf GOLDEN_DIR OUTDIR MAX_NEW CASE...\n");
    return 2;
  }
  g_autoptr (GError) error = NULL;
  g_autoptr (MorVkDevice) dev = mor_vk_device_open (NULL, &error);
  if (!dev) {
    if (!g_getenv ("CI")) {
      g_printerr ("SKIP: no usable Vulkan device: %s\n", error->message);
      return 77;
    }
    g_printerr ("talker-golden: %s\n", error->message);
    return 1;
  }
  g_autoptr (MorGguf) gguf = mor_gguf_open (argv[1], &error);
  g_autoptr (MorTalker) t = gguf ? mor_talker_load (dev, gguf, &error) : NULL;
  if (t && g_mkdir_with_parents (argv[3], 0755) != 0)
    g_set_error (&error, G_FILE_ERROR, g_file_error_from_errno (errno), "%s: %s", argv[3], g_strerror (errno));
  guint32 max_new = (guint32) strtoul (argv[4], NULL, 10);
  for (int i = 5; t && !error && i < argc; i++)
    run_case (t, argv[2], argv[3], max_new, argv[i], &error);
  if (error) {
    g_printerr ("talker-golden: %s\n", error->message);
    return 1;
  }
  return 0;
}
