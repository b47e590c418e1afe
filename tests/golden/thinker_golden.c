/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* thinker-golden: runs libmor's thinker (model/llm.h) on the token ids of a
 * golden set and writes what it computes as .npy files, for test_golden.py to
 * compare with the values transformers computed (README.md here):
 *
 *   thinker-golden THINKER.gguf IDS.npy N_NEW OUTDIR [PROMPT.txt]
 *
 * IDS.npy: int32 [n] prompt ids. Writes into OUTDIR:
 *   logits.npy         float32 [n, vocab]   prefill, every row (Vulkan)
 *   hidden.npy         float32 [n, hidden]  final-normed hidden states (Vulkan)
 *   greedy.npy         int32 [m]            greedy continuation: argmax of the
 *                                           prefill's last row, then one decode
 *                                           step per token; stops after EOS
 *                                           (tokenizer.ggml.eos_token_id) or N_NEW
 *   greedy_logits.npy  float32 [m, vocab]   the logits each greedy token was chosen from
 *   ref_logits.npy, ref_hidden.npy          the same as logits/hidden from libmor's
 *                                           C reference forward (mor_llm_reference_forward)
 *   ref_greedy_logits.npy                   the greedy steps' logits from one C
 *                                           reference forward over prompt + continuation
 *   prompt_ids.npy     int32 [k]            with PROMPT.txt: its text encoded by libmor's
 *                                           tokenizer (special tokens recognised), to
 *                                           compare with IDS.npy
 * Exit status 77 (skip) without a Vulkan device, except under CI. */
#include "gguf.h"
#include "llm.h"
#include "sampler.h"
#include "npy.h"
#include "tokenizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gboolean
save_f32 (const char *dir, const char *name, guint64 rows, guint64 cols, const float *data, GError **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  const guint64 shape[] = { rows, cols };
  return mor_npy_save (path, MOR_NPY_F32, 2, shape, data, error);
}

static gboolean
encode_prompt (MorGguf *gguf, const char *prompt_path, const char *outdir, GError **error)
{
  g_autofree char *text = NULL;
  gsize len;
  if (!g_file_get_contents (prompt_path, &text, &len, error))
    return FALSE;
  g_autoptr (MorTokenizer) tok = mor_tokenizer_new_from_gguf (gguf, error);
  if (!tok)
    return FALSE;
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  if (!mor_tokenizer_encode (tok, text, (gssize) len, TRUE, ids, error))
    return FALSE;
  g_autofree char *path = g_build_filename (outdir, "prompt_ids.npy", NULL);
  const guint64 shape[] = { ids->len };
  return mor_npy_save (path, MOR_NPY_I32, 1, shape, ids->data, error);
}

static gboolean
run (const char *model_path, const char *ids_path, guint32 n_new, const char *outdir, const char *prompt_path,
     GError **error)
{
  g_autoptr (MorNpy) ids_npy = mor_npy_load (ids_path, error);
  if (!ids_npy || !mor_npy_check (ids_npy, ids_path, MOR_NPY_I32, 1, NULL, error))
    return FALSE;
  const guint32 n = (guint32) ids_npy->n;
  const guint32 *ids = ids_npy->data;
  if (n == 0) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: no ids", ids_path);
    return FALSE;
  }

  g_autoptr (MorVkDevice) dev = mor_vk_device_open (NULL, error);
  if (!dev) {
    if (g_getenv ("CI"))
      return FALSE;
    g_printerr ("SKIP: no usable Vulkan device: %s\n", (*error)->message);
    exit (77);
  }
  g_autoptr (MorGguf) gguf = mor_gguf_open (model_path, error);
  if (!gguf)
    return FALSE;
  g_autoptr (MorLlm) llm = mor_llm_load (dev, gguf, error);
  if (!llm)
    return FALSE;
  const MorLlmConfig *c = mor_llm_get_config (llm);
  const guint32 V = c->vocab_size, H = c->hidden_size;
  guint32 eos;
  if (!mor_gguf_get_u32 (gguf, "tokenizer.ggml.eos_token_id", &eos, error))
    return FALSE;

  /* prefill: every row's logits and hidden state */
  g_autoptr (MorLlmSession) s = mor_llm_session_new (llm, n + n_new, error);
  if (!s || !mor_llm_session_prefill (s, ids, NULL, NULL, n, TRUE, error))
    return FALSE;
  g_autofree float *logits = g_new (float, (gsize) n * V);
  g_autofree float *hidden = g_new (float, (gsize) n * H);
  for (guint32 i = 0; i < n; i++) {
    memcpy (logits + (gsize) i * V, mor_llm_session_get_logits (s, i), V * sizeof (float));
    memcpy (hidden + (gsize) i * H, mor_llm_session_get_hidden (s, i), H * sizeof (float));
  }

  /* greedy continuation, one decode step per token */
  g_autofree guint32 *seq = g_new (guint32, n + n_new);
  memcpy (seq, ids, n * sizeof (guint32));
  g_autofree float *step_logits = g_new (float, (gsize) MAX (n_new, 1) * V);
  guint32 m = 0;
  const float *row = logits + (gsize) (n - 1) * V;
  while (m < n_new) {
    memcpy (step_logits + (gsize) m * V, row, V * sizeof (float));
    guint32 t = mor_sampler_argmax (row, V);
    seq[n + m++] = t;
    if (t == eos || m == n_new)
      break;
    if (!mor_llm_session_decode (s, t, error))
      return FALSE;
    row = mor_llm_session_get_logits (s, 0);
  }

  /* the C reference: the prompt, and prompt + continuation for the greedy steps */
  g_autofree float *ref_logits = g_new (float, (gsize) n * V);
  g_autofree float *ref_hidden = g_new (float, (gsize) n * H);
  g_autofree float *ref_seq_logits = g_new (float, (gsize) (n + m) * V);
  if (!mor_llm_reference_forward (llm, ids, n, ref_logits, ref_hidden, error) ||
      (m > 0 && !mor_llm_reference_forward (llm, seq, n + m - 1, ref_seq_logits, NULL, error)))
    return FALSE;

  if (g_mkdir_with_parents (outdir, 0755) != 0) {
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "%s: %s", outdir, g_strerror (errno));
    return FALSE;
  }
  const guint64 m_shape[] = { m };
  g_autofree gint32 *greedy = g_new (gint32, MAX (m, 1));
  for (guint32 i = 0; i < m; i++)
    greedy[i] = (gint32) seq[n + i];
  g_autofree char *greedy_path = g_build_filename (outdir, "greedy.npy", NULL);
  return save_f32 (outdir, "logits.npy", n, V, logits, error) &&
         save_f32 (outdir, "hidden.npy", n, H, hidden, error) &&
         mor_npy_save (greedy_path, MOR_NPY_I32, 1, m_shape, greedy, error) &&
         save_f32 (outdir, "greedy_logits.npy", m, V, step_logits, error) &&
         save_f32 (outdir, "ref_logits.npy", n, V, ref_logits, error) &&
         save_f32 (outdir, "ref_hidden.npy", n, H, ref_hidden, error) &&
         save_f32 (outdir, "ref_greedy_logits.npy", m, V, ref_seq_logits + (gsize) (n - 1) * V, error) &&
         (!prompt_path || encode_prompt (gguf, prompt_path, outdir, error));
}

int
main (int argc, char **argv)
{
  if (argc != 5 && argc != 6) {
    g_printerr ("usage: %s THINKER.gguf IDS.npy N_NEW OUTDIR [PROMPT.txt]\n", argv[0]);
    return 2;
  }
  char *end;
  guint64 n_new = g_ascii_strtoull (argv[3], &end, 10);
  if (*end || end == argv[3] || n_new > 4096) {
    g_printerr ("%s: N_NEW must be an integer 0..4096, not '%s'\n", argv[0], argv[3]);
    return 2;
  }
  g_autoptr (GError) error = NULL;
  if (!run (argv[1], argv[2], (guint32) n_new, argv[4], argc == 6 ? argv[5] : NULL, &error)) {
    g_printerr ("%s: %s\n", argv[0], error->message);
    return 1;
  }
  return 0;
}
