/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `mor talker`: codec codes from thinker rows (.npy in, .npy out). */
#include "commands.h"

#include "npy.h"
#include "talker.h"

/* Rows [n, E] from @path: float32 [n, E] as given, or [2, n, E] (h, then e)
 * made into talker rows with mor_talker_prompt_row() (@ids [n] or NULL: no
 * <|AUDIO|> row). */
static float *
load_rows (MorTalker *t, const char *path, const MorNpy *ids, guint32 *n, GError **error)
{
  guint32 E = mor_talker_get_config (t)->embedding_size;
  g_autoptr (MorNpy) a = mor_npy_load (path, error);
  if (!a)
    return NULL;
  gint64 want2[2] = { -1, E }, want3[3] = { 2, -1, E };
  if (!(a->ndim == 3 ? mor_npy_check (a, path, MOR_NPY_F32, 3, want3, error)
                     : mor_npy_check (a, path, MOR_NPY_F32, 2, want2, error)))
    return NULL;
  *n = (guint32) a->shape[a->ndim - 2];
  if (a->ndim == 2 || *n == 0)
    return g_steal_pointer (&a->data);
  if (ids && ids->n != *n) {
    g_set_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_TYPE, "%s has %u rows but the prompt ids %" G_GUINT64_FORMAT,
                 path, *n, ids->n);
    return NULL;
  }
  const float *h = a->data, *e = h + (gsize) *n * E;
  float *rows = g_new (float, (gsize) *n * E);
  for (guint32 i = 0; i < *n; i++) {
    guint32 id = ids ? (guint32) ((const gint32 *) ids->data)[i] : G_MAXUINT32;
    mor_talker_prompt_row (t, h + (gsize) i * E, e + (gsize) i * E, id, rows + (gsize) i * E);
  }
  return rows;
}

int
mor_cli_talker (int argc, char **argv)
{
  g_autofree char *model = NULL, *prompt_path = NULL, *reply_path = NULL, *ids_path = NULL, *speaker = NULL;
  g_autofree char *out = NULL, *logits_path = NULL, *device = NULL;
  gboolean greedy = FALSE;
  gint64 seed = 0;
  gint max_codes = MOR_TALKER_MAX_NEW_TOKENS - 1;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model, "talker.gguf (or a one-file model.gguf)", "FILE" },
    { "prompt-rows", 0, 0, G_OPTION_ARG_FILENAME, &prompt_path, "float32 [P, E]: h + e of each prompt token, "
      "e zeroed at <|AUDIO|> rows; or [2, P, E]: h, then e", "P.npy" },
    { "prompt-ids", 0, 0, G_OPTION_ARG_FILENAME, &ids_path, "int32 [P]: the prompt's thinker ids, to drop e at "
      "<|AUDIO|> rows of a [2, P, E] --prompt-rows (without: no row is audio)", "I.npy" },
    { "reply-rows", 0, 0, G_OPTION_ARG_FILENAME, &reply_path, "float32 [N, E]: h + e of the response tokens g0, "
      "g1, ... (not the end token); or [2, N, E]: h, then e", "R.npy" },
    { "speaker", 's', 0, G_OPTION_ARG_STRING, &speaker, "Voice (default: the file's mor.speakers.default)", "NAME" },
    { "greedy", 0, 0, G_OPTION_ARG_NONE, &greedy, "Greedy decoding (the repetition penalty 1.05 stays)", NULL },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Sampling seed (default 0; top-k 40, top-p 0.8, temperature 0.9, "
      "penalty 1.05)", "N" },
    { "max-codes", 0, 0, G_OPTION_ARG_INT, &max_codes, "At most N codes (default 4095: max_new_tokens 4096)", "N" },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Where to write the codes, int32 [n]", "CODES.npy" },
    { "logits", 0, 0, G_OPTION_ARG_FILENAME, &logits_path, "Also write the logits each code was drawn from, "
      "float32 [n, vocab]", "L.npy" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, "Vulkan device index or name", "DEV" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("— codec codes of the talker for one answer");
  g_option_context_set_description (ctx,
    "E is the thinker's width (mor.talker.embedding_size). h is the thinker's final-normed\n"
    "hidden state of a token, e its input embedding (`mor generate --dump` writes both for\n"
    "the generated tokens). The talker prefills the prompt rows, the speaker row and the\n"
    "first reply row, then makes one code per reply row, then per tts_text_end and\n"
    "tts_text_pad row, until an end code or the limit; the last token made is dropped\n"
    "as transformers drops it. Codes are the talker's ids (audio codes below 8192 in the\n"
    "released model).");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 1 || !model || !prompt_path ||
      !reply_path || !out || max_codes < 0 || seed < 0)
    return mor_cli_usage (ctx, error);

  g_autoptr (MorGguf) g = mor_gguf_open (model, &error);
  g_autoptr (MorVkDevice) dev = g ? mor_vk_device_open (device, &error) : NULL;
  g_autoptr (MorTalker) t = dev ? mor_talker_load (dev, g, &error) : NULL;
  if (!t)
    return mor_cli_fail (error);
  const MorTalkerConfig *c = mor_talker_get_config (t);
  g_autoptr (MorNpy) ids = NULL;
  if (ids_path && (!(ids = mor_npy_load (ids_path, &error)) ||
                   !mor_npy_check (ids, ids_path, MOR_NPY_I32, 1, NULL, &error)))
    return mor_cli_fail (error);
  guint32 P = 0, N = 0;
  g_autofree float *prompt = load_rows (t, prompt_path, ids, &P, &error);
  if (!prompt && !error)
    g_set_error (&error, MOR_TALKER_ERROR, MOR_TALKER_ERROR_INPUT, "%s has no rows", prompt_path);
  g_autofree float *reply = prompt ? load_rows (t, reply_path, NULL, &N, &error) : NULL;
  if (error)
    return mor_cli_fail (error);

  MorSamplerParams params = greedy ? MOR_TALKER_SAMPLING_GREEDY : MOR_TALKER_SAMPLING_DEFAULT;
  params.seed = (guint64) seed;
  guint32 max_ctx = mor_llm_get_config (mor_talker_get_llm (t))->max_position_embeddings;
  guint32 n_ctx = (guint32) MIN ((guint64) P + max_codes + 2, max_ctx);
  g_autoptr (MorTalkerSession) s = mor_talker_session_new (t, n_ctx, &params, (guint32) max_codes + 1, &error);
  if (!s || !mor_talker_session_begin (s, prompt, P, speaker, &error))
    return mor_cli_fail (error);
  for (guint32 i = 0; i < N; i++)
    if (!mor_talker_session_push_reply (s, reply + (gsize) i * c->embedding_size, &error))
      return mor_cli_fail (error);
  mor_talker_session_end_reply (s);

  g_autoptr (GArray) codes = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_autoptr (GArray) logits = g_array_new (FALSE, FALSE, sizeof (float));
  for (;;) {
    gint32 code;
    MorTalkerStatus st = mor_talker_session_next (s, &code, &error);
    if (st == MOR_TALKER_ERROR_STATUS)
      return mor_cli_fail (error);
    if (st != MOR_TALKER_CODE)
      break;
    g_array_append_val (codes, code);
    if (logits_path)
      g_array_append_vals (logits, mor_talker_session_get_logits (s), c->vocab_size);
  }
  guint64 shape[2] = { codes->len, c->vocab_size };
  gint32 none = 0;
  if (!mor_npy_save (out, MOR_NPY_I32, 1, shape, codes->len ? (gconstpointer) codes->data : &none, &error) ||
      (logits_path && !mor_npy_save (logits_path, MOR_NPY_F32, 2, shape,
                                     codes->len ? (gconstpointer) logits->data : &none, &error)))
    return mor_cli_fail (error);
  return 0;
}
