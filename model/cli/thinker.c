/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `mor info`, `mor mkmodel`, `mor generate`, `mor logits`: model files and the
 * thinker from the command line. */
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interleave.h"
#include "llm.h"
#include "mkmodel.h"
#include "npy.h"
#include "sampler.h"
#include "tokenizer.h"

/* ---- mor info ---- */

/* Escapes control characters and quotes but keeps UTF-8 text readable. */
static char *
shown (const char *s, gsize len)
{
  static char high[129];
  if (!high[0])
    for (int i = 0; i < 128; i++)
      high[i] = (char) (0x80 + i);
  g_autofree char *copy = g_strndup (s, len);
  char *e = g_strescape (copy, high);
  if (strlen (e) > 72)
    strcpy (e + 69, "...");
  return e;
}

static void
print_value (MorGguf *g, guint i)
{
  const char *key = mor_gguf_get_key (g, i);
  MorGgufValueType t = mor_gguf_get_key_type (g, i);
  if (t == MOR_GGUF_VALUE_STRING) {
    gsize len;
    const char *s = mor_gguf_get_string (g, key, &len, NULL);
    g_autofree char *text = shown (s, len);
    printf ("  %-48s string  \"%s\"\n", key, text);
  } else if (t == MOR_GGUF_VALUE_ARRAY) {
    MorGgufValueType et;
    guint64 n;
    mor_gguf_get_array (g, key, &et, &n, NULL);
    printf ("  %-48s [%s × %" G_GUINT64_FORMAT "]", key, mor_gguf_value_type_name (et), n);
    if (et == MOR_GGUF_VALUE_STRING) {
      for (guint64 j = 0; j < MIN (n, 4); j++) {
        gsize len;
        const char *s = mor_gguf_get_array_string (g, key, j, &len);
        g_autofree char *text = shown (s, len);
        printf (" \"%s\"", text);
      }
    } else if (et == MOR_GGUF_VALUE_INT32 || et == MOR_GGUF_VALUE_UINT32) {
      const gint32 *d = mor_gguf_get_array_data (g, key, et, &n, NULL);
      for (guint64 j = 0; d && j < MIN (n, 8); j++)
        printf (et == MOR_GGUF_VALUE_INT32 ? " %d" : " %u", d[j]);
    } else if (et == MOR_GGUF_VALUE_FLOAT32) {
      const float *d = mor_gguf_get_array_data (g, key, et, &n, NULL);
      for (guint64 j = 0; d && j < MIN (n, 8); j++)
        printf (" %g", d[j]);
    }
    printf ("%s\n", n > 4 ? " …" : "");
  } else if (t == MOR_GGUF_VALUE_FLOAT32 || t == MOR_GGUF_VALUE_FLOAT64) {
    double v;
    mor_gguf_get_f64 (g, key, &v, NULL);
    printf ("  %-48s %-7s %g\n", key, mor_gguf_value_type_name (t), v);
  } else if (t == MOR_GGUF_VALUE_BOOL) {
    gboolean v;
    mor_gguf_get_bool (g, key, &v, NULL);
    printf ("  %-48s bool    %s\n", key, v ? "true" : "false");
  } else if (t == MOR_GGUF_VALUE_INT8 || t == MOR_GGUF_VALUE_INT16 || t == MOR_GGUF_VALUE_INT32 ||
             t == MOR_GGUF_VALUE_INT64) {
    gint64 v;
    mor_gguf_get_i64 (g, key, &v, NULL);
    printf ("  %-48s %-7s %" G_GINT64_FORMAT "\n", key, mor_gguf_value_type_name (t), v);
  } else {
    guint64 v;
    mor_gguf_get_u64 (g, key, &v, NULL);
    printf ("  %-48s %-7s %" G_GUINT64_FORMAT "\n", key, mor_gguf_value_type_name (t), v);
  }
}

int
mor_cli_info (int argc, char **argv)
{
  gboolean keys_only = FALSE, tensors_only = FALSE;
  GOptionEntry entries[] = {
    { "keys", 'k', 0, G_OPTION_ARG_NONE, &keys_only, "Only the metadata", NULL },
    { "tensors", 't', 0, G_OPTION_ARG_NONE, &tensors_only, "Only the tensors", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("FILE — metadata, tensors, types and sizes of a GGUF file");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 2)
    return mor_cli_usage (ctx, error);

  g_autoptr (MorGguf) g = mor_gguf_open (argv[1], &error);
  if (!g)
    return mor_cli_fail (error);
  printf ("%s: GGUF v%u, alignment %u, %u keys, %u tensors\n", argv[1], mor_gguf_get_version (g),
          mor_gguf_get_alignment (g), mor_gguf_n_keys (g), mor_gguf_n_tensors (g));
  if (!tensors_only) {
    printf ("metadata:\n");
    for (guint i = 0; i < mor_gguf_n_keys (g); i++)
      print_value (g, i);
  }
  if (!keys_only) {
    printf ("tensors:\n");
    guint64 total = 0, elements = 0;
    for (guint i = 0; i < mor_gguf_n_tensors (g); i++) {
      const MorGgufTensor *t = mor_gguf_get_tensor (g, i);
      GString *shape = g_string_new ("[");
      for (guint32 d = 0; d < t->n_dims; d++)
        g_string_append_printf (shape, "%s%" G_GUINT64_FORMAT, d ? ", " : "", t->ne[d]);
      g_string_append_c (shape, ']');
      printf ("  %-40s %-5s %-24s %12" G_GUINT64_FORMAT " bytes\n", t->name, mor_type_name (t->type),
              shape->str, t->size);
      g_string_free (shape, TRUE);
      total += t->size;
      elements += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    }
    printf ("total: %" G_GUINT64_FORMAT " parameters, %.1f MiB of tensor data\n", elements,
            total / 1048576.0);
  }
  return 0;
}

/* ---- mor mkmodel ---- */

int
mor_cli_mkmodel (int argc, char **argv)
{
  g_autofree char *kind = NULL, *preset = NULL, *type_name = NULL, *out = NULL, *ratio = NULL;
  gint64 seed = 1;
  gint context = 0;
  GOptionEntry entries[] = {
    { "kind", 0, 0, G_OPTION_ARG_STRING, &kind, "What to make: thinker (default), encoder, or talker (talker, DiT, ECAPA, BigVGAN and speakers)", "KIND" },
    { "preset", 'p', 0, G_OPTION_ARG_STRING, &preset, "Shape: tiny (default), qwen2.5-0.5b (thinker), qwen2.5-omni-3b, qwen2.5-omni-7b", "NAME" },
    { "type", 't', 0, G_OPTION_ARG_STRING, &type_name, "Type of the 2-D weights: f32, f16 (default), bf16, q8_0, q4_0, q4_K, q6_K", "TYPE" },
    { "seed", 's', 0, G_OPTION_ARG_INT64, &seed, "Random seed (default 1)", "N" },
    { "ratio", 0, 0, G_OPTION_ARG_STRING, &ratio, "Thinker: add the thinking-in-speaking control tokens with this p:q", "P:Q" },
    { "context", 0, 0, G_OPTION_ARG_INT, &context, "Thinker: context length (default: the preset's); a short one ends random answers soon", "N" },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Output file", "FILE" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("— a model with random weights in the real layout, for tests and benchmarks");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 1 || !out)
    return mor_cli_usage (ctx, error);
  MorType type = MOR_TYPE_F16;
  if (type_name && !mor_type_from_name (type_name, &type)) {
    fprintf (stderr, "mor mkmodel: unknown --type “%s”\n", type_name);
    return 2;
  }
  /* Each kind: its shapes and its writer, through one signature. */
  static const struct {
    const char *name;
    const void *(*shape) (const char *name);
    const char *const *(*shapes) (void);
    MorGgufWriter *(*make) (const void *shape, MorType type, guint64 seed, GError **error);
  } kinds[] = {
    { "thinker", (const void *(*) (const char *)) mor_mkmodel_thinker_shape, mor_mkmodel_thinker_shapes,
      (MorGgufWriter *(*) (const void *, MorType, guint64, GError **)) mor_mkmodel_thinker },
    { "encoder", (const void *(*) (const char *)) mor_mkmodel_encoder_shape, mor_mkmodel_encoder_shapes,
      (MorGgufWriter *(*) (const void *, MorType, guint64, GError **)) mor_mkmodel_encoder },
    { "talker", (const void *(*) (const char *)) mor_mkmodel_talker_shape, mor_mkmodel_talker_shapes,
      (MorGgufWriter *(*) (const void *, MorType, guint64, GError **)) mor_mkmodel_talker },
  };
  guint k = 0;
  while (kind && k < G_N_ELEMENTS (kinds) && strcmp (kind, kinds[k].name) != 0)
    k++;
  if (k == G_N_ELEMENTS (kinds)) {
    fprintf (stderr, "mor mkmodel: unknown --kind “%s” (this build makes: thinker, encoder, talker)\n", kind);
    return 2;
  }
  const char *name = preset ? preset : "tiny";
  const void *shape = kinds[k].shape (name);
  if (!shape) {
    g_autofree char *names = g_strjoinv (", ", (char **) kinds[k].shapes ());
    fprintf (stderr, "mor mkmodel: unknown --preset “%s” (one of: %s)\n", name, names);
    return 2;
  }
  MorMkmodelThinkerOptions options = { 0 };
  if (ratio && (k != 0 || !mor_interleave_parse_ratio (ratio, &options.response_tokens, &options.reasoning_tokens))) {
    fprintf (stderr, "mor mkmodel: --ratio needs --kind thinker and p:q with p ≥ 1\n");
    return 2;
  }
  if (context < 0 || (context > 0 && k != 0)) {
    fprintf (stderr, "mor mkmodel: --context needs --kind thinker and a positive length\n");
    return 2;
  }
  MorThinkerShape thinker_shape;
  if (k == 0) {
    thinker_shape = *(const MorThinkerShape *) shape;
    if (context)
      thinker_shape.max_position_embeddings = context;
  }
  g_autoptr (MorGgufWriter) w = k == 0 ? mor_mkmodel_thinker_full (&thinker_shape, type, (guint64) seed, &options, &error)
                                       : kinds[k].make (shape, type, (guint64) seed, &error);
  if (!w || !mor_gguf_writer_write_file (w, out, &error))
    return mor_cli_fail (error);
  return 0;
}

/* ---- shared by generate and logits ---- */

typedef struct {
  MorVkDevice *dev;
  MorGguf *gguf;
  MorLlm *llm;
  MorTokenizer *tok;
} Thinker;

static void
thinker_clear (Thinker *t)
{
  g_clear_pointer (&t->tok, mor_tokenizer_unref);
  g_clear_pointer (&t->llm, mor_llm_free);
  g_clear_pointer (&t->gguf, mor_gguf_unref);
  g_clear_pointer (&t->dev, mor_vk_device_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Thinker, thinker_clear)

static gboolean
thinker_open (Thinker *t, const char *model, const char *device, gboolean need_tokenizer, GError **error)
{
  if (!model) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "--model FILE is required");
    return FALSE;
  }
  if (!(t->gguf = mor_gguf_open (model, error)) || !(t->dev = mor_vk_device_open (device, error)) ||
      !(t->llm = mor_llm_load (t->dev, t->gguf, error)))
    return FALSE;
  if (need_tokenizer && !(t->tok = mor_tokenizer_new_from_gguf (t->gguf, error)))
    return FALSE;
  return TRUE;
}

/* The Qwen chat template: system, user, then the assistant's turn opened. */
static char *
chat_prompt (const char *system, const char *user)
{
  return g_strdup_printf ("<|im_start|>system\n%s<|im_end|>\n<|im_start|>user\n%s<|im_end|>\n"
                          "<|im_start|>assistant\n", system, user);
}

static gboolean
parse_ids (const char *list, GArray *ids, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (list, ",", -1);
  for (guint i = 0; parts[i]; i++) {
    guint64 v;
    if (!g_ascii_string_to_unsigned (g_strstrip (parts[i]), 10, 0, G_MAXINT32, &v, error)) {
      g_prefix_error (error, "--tokens: ");
      return FALSE;
    }
    gint32 id = (gint32) v;
    g_array_append_val (ids, id);
  }
  return TRUE;
}

static gboolean
save_rows (const char *dir, const char *name, MorNpyDtype dtype, guint64 rows, guint64 cols, gconstpointer data,
           GError **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  guint64 shape[2] = { rows, cols };
  return mor_npy_save (path, dtype, cols ? 2 : 1, shape, data, error);
}

/* ---- mor generate ---- */

int
mor_cli_generate (int argc, char **argv)
{
  g_autofree char *model = NULL, *prompt = NULL, *system = NULL, *device = NULL, *dump = NULL;
  gboolean chat = FALSE, greedy = FALSE;
  gint max_tokens = 128, ctx_len = 4096, top_k = 0, window = 64;
  gdouble temperature = 0.7, top_p = 0.8, penalty = 1.05;
  gint64 seed = 0;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model, "Thinker GGUF (llama.cpp layout)", "FILE" },
    { "prompt", 'p', 0, G_OPTION_ARG_STRING, &prompt, "Text to continue (or the user turn, with --chat)", "TEXT" },
    { "chat", 0, 0, G_OPTION_ARG_NONE, &chat, "Wrap the prompt in the Qwen chat template", NULL },
    { "system", 0, 0, G_OPTION_ARG_STRING, &system, "System prompt for --chat (default: You are a helpful assistant.)", "TEXT" },
    { "max-tokens", 'n', 0, G_OPTION_ARG_INT, &max_tokens, "Tokens to generate at most (default 128)", "N" },
    { "ctx", 0, 0, G_OPTION_ARG_INT, &ctx_len, "Context positions (default 4096)", "N" },
    { "greedy", 0, 0, G_OPTION_ARG_NONE, &greedy, "Always take the most likely token", NULL },
    { "temperature", 0, 0, G_OPTION_ARG_DOUBLE, &temperature, "Sampling temperature (default 0.7; 0: greedy)", "T" },
    { "top-k", 0, 0, G_OPTION_ARG_INT, &top_k, "Keep the K most likely tokens (default 0: off)", "K" },
    { "top-p", 0, 0, G_OPTION_ARG_DOUBLE, &top_p, "Nucleus mass (default 0.8)", "P" },
    { "repetition-penalty", 0, 0, G_OPTION_ARG_DOUBLE, &penalty, "Repetition penalty (default 1.05; 1: off)", "R" },
    { "repetition-window", 0, 0, G_OPTION_ARG_INT, &window, "Recent tokens the penalty looks at (default 64)", "N" },
    { "seed", 's', 0, G_OPTION_ARG_INT64, &seed, "Random seed (default 0)", "N" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, "Vulkan device index or name (default: $MOR_VK_DEVICE, else the best)", "DEV" },
    { "dump", 0, 0, G_OPTION_ARG_FILENAME, &dump, "Write ids.npy, hidden.npy and embeddings.npy of the generated tokens to DIR", "DIR" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("— stream a continuation of a prompt from the thinker");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 1 || !prompt)
    return mor_cli_usage (ctx, error);
  if (max_tokens < 0 || ctx_len <= 0 || top_k < 0 || window < 0 || top_p <= 0 || top_p > 1 || penalty <= 0 ||
      temperature < 0) {
    fprintf (stderr, "mor generate: a sampling option is out of range\n");
    return 2;
  }

  g_auto (Thinker) t = { 0 };
  if (!thinker_open (&t, model, device, TRUE, &error))
    return mor_cli_fail (error);
  const MorLlmConfig *c = mor_llm_get_config (t.llm);
  g_autofree char *text = chat ? chat_prompt (system ? system : "You are a helpful assistant.", prompt)
                               : g_strdup (prompt);
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  if (mor_tokenizer_add_bos (t.tok) && mor_tokenizer_bos_id (t.tok) >= 0) {
    gint32 bos = mor_tokenizer_bos_id (t.tok);
    g_array_append_val (ids, bos);
  }
  if (!mor_tokenizer_encode (t.tok, text, -1, chat, ids, &error))
    return mor_cli_fail (error);
  if (ids->len == 0) {
    fprintf (stderr, "mor generate: the prompt encodes to no tokens\n");
    return 2;
  }

  g_autoptr (MorLlmSession) s = mor_llm_session_new (t.llm, MIN ((guint32) ctx_len, c->max_position_embeddings), &error);
  if (!s || !mor_llm_session_prefill (s, (const guint32 *) ids->data, NULL, NULL, ids->len, FALSE, &error))
    return mor_cli_fail (error);

  MorSamplerParams params = { greedy ? 0.0f : (float) temperature, top_k, (float) top_p, (float) penalty, window, seed };
  g_autoptr (MorSampler) sampler = mor_sampler_new (c->vocab_size, &params);
  g_autoptr (MorTokenizerStream) stream = mor_tokenizer_stream_new (t.tok, FALSE);
  g_autoptr (GString) out = g_string_new (NULL);
  g_autoptr (GArray) gen = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_autoptr (GArray) hidden = g_array_new (FALSE, FALSE, sizeof (float));
  g_autoptr (GArray) embeds = g_array_new (FALSE, FALSE, sizeof (float));
  gint32 eos = mor_tokenizer_eos_id (t.tok), im_end = mor_tokenizer_find_token (t.tok, "<|im_end|>", -1);
  gint32 eot = mor_tokenizer_find_token (t.tok, "<|endoftext|>", -1);
  for (gint i = 0; i < max_tokens; i++) {
    const float *logits = mor_llm_session_get_logits (s, mor_llm_session_n_rows (s) - 1);
    gint32 id = mor_sampler_sample (sampler, logits, (const gint32 *) ids->data, ids->len, NULL, NULL);
    if (id < 0 || id == eos || id == im_end || id == eot)
      break;
    g_array_append_val (ids, id);
    g_array_append_val (gen, id);
    g_string_truncate (out, 0);
    mor_tokenizer_stream_push (stream, id, out);
    fputs (out->str, stdout);
    fflush (stdout);
    if (!mor_llm_session_decode (s, id, &error))
      return mor_cli_fail (error);
    /* The hidden state and input embedding of the token just fed (the talker's rows). */
    g_array_append_vals (hidden, mor_llm_session_get_hidden (s, 0), c->hidden_size);
    g_array_append_vals (embeds, mor_llm_session_get_embedding (s, 0), c->hidden_size);
  }
  g_string_truncate (out, 0);
  mor_tokenizer_stream_flush (stream, out);
  printf ("%s\n", out->str);

  if (dump) {
    if (g_mkdir_with_parents (dump, 0755) != 0) {
      fprintf (stderr, "mor generate: cannot create %s\n", dump);
      return 1;
    }
    if (!save_rows (dump, "ids.npy", MOR_NPY_I32, gen->len, 0, gen->data, &error) ||
        !save_rows (dump, "hidden.npy", MOR_NPY_F32, gen->len, c->hidden_size, hidden->data, &error) ||
        !save_rows (dump, "embeddings.npy", MOR_NPY_F32, gen->len, c->hidden_size, embeds->data, &error))
      return mor_cli_fail (error);
  }
  return 0;
}

/* ---- mor logits ---- */

int
mor_cli_logits (int argc, char **argv)
{
  g_autofree char *model = NULL, *prompt = NULL, *tokens = NULL, *out = NULL, *device = NULL;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model, "Thinker GGUF (llama.cpp layout)", "FILE" },
    { "prompt", 'p', 0, G_OPTION_ARG_STRING, &prompt, "Text (special tokens such as <|im_start|> are recognised)", "TEXT" },
    { "tokens", 0, 0, G_OPTION_ARG_STRING, &tokens, "Token ids instead of text", "ID,ID,…" },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Where to write float32 [n, vocab]", "OUT.npy" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, "Vulkan device index or name", "DEV" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("— logits of every position, for checking against other implementations");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 1 || !out || !prompt == !tokens)
    return mor_cli_usage (ctx, error);

  g_auto (Thinker) t = { 0 };
  if (!thinker_open (&t, model, device, prompt != NULL, &error))
    return mor_cli_fail (error);
  const MorLlmConfig *c = mor_llm_get_config (t.llm);
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  if (tokens ? !parse_ids (tokens, ids, &error) : !mor_tokenizer_encode (t.tok, prompt, -1, TRUE, ids, &error))
    return mor_cli_fail (error);
  if (ids->len == 0) {
    fprintf (stderr, "mor logits: no tokens\n");
    return 2;
  }
  g_autoptr (MorLlmSession) s = mor_llm_session_new (t.llm, MIN (ids->len, c->max_position_embeddings), &error);
  if (!s || !mor_llm_session_prefill (s, (const guint32 *) ids->data, NULL, NULL, ids->len, TRUE, &error))
    return mor_cli_fail (error);
  g_autofree float *all = g_new (float, (gsize) ids->len * c->vocab_size);
  for (guint i = 0; i < ids->len; i++)
    memcpy (all + (gsize) i * c->vocab_size, mor_llm_session_get_logits (s, i), (gsize) c->vocab_size * 4);
  guint64 shape[2] = { ids->len, c->vocab_size };
  if (!mor_npy_save (out, MOR_NPY_F32, 2, shape, all, &error))
    return mor_cli_fail (error);
  return 0;
}
