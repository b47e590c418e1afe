/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tokenizer-encode: the C side of the tokenizer conformance test
 * (tests/tokenizer_conformance.sh). Loads a Hugging Face tokenizer.json,
 * stores it the way the model converter does (GGUF tokenizer.ggml.* keys, in
 * memory), loads that with mor_tokenizer_new_from_gguf(), then encodes stdin:
 *
 *   tokenizer-encode TOKENIZER_JSON < lines
 *
 * Each input line is one text as hex bytes (so it may hold newlines, NULs and
 * invalid UTF-8); each output line is its ids separated by spaces, a tab, and
 * the hex bytes of decoding them again (CONTROL tokens written out). Load
 * times go to stderr. Only the tokenizer.json shape of Qwen2/2.5/3 is
 * accepted; anything else is refused with the field that differs. */
#include "gguf.h"
#include "json.h"
#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  GPtrArray *tokens;            /* char *, one per id */
  GArray *types;                /* gint32 */
  GPtrArray *merges;            /* char *, "left right" */
  gint32 eos_id, pad_id;
} HfVocab;

static gboolean
refuse (GError **error, const char *field, const char *what)
{
  g_set_error (error, JSON_ERROR, 0, "tokenizer.json: %s: %s", field, what);
  return FALSE;
}

static gboolean
is_false_or_absent (const JsonValue *obj, const char *key)
{
  const JsonValue *v = json_get (obj, key);
  return v == NULL || v->type == JSON_NULL || (v->type == JSON_BOOL && !v->boolean);
}

static gboolean
is_empty_or_absent (const JsonValue *obj, const char *key)
{
  const JsonValue *v = json_get (obj, key);
  return v == NULL || v->type == JSON_NULL || (v->type == JSON_STRING && v->len == 0);
}

/* NFC, then Split(Qwen2 regex, Isolated), then ByteLevel without its own regex. */
static gboolean
check_pipeline (const JsonValue *root, GError **error)
{
  if (g_strcmp0 (json_get_string (json_get (root, "normalizer"), "type"), "NFC") != 0)
    return refuse (error, "normalizer", "not {\"type\": \"NFC\"}");
  const JsonValue *pre = json_get (root, "pre_tokenizer");
  const JsonValue *seq = json_get (pre, "pretokenizers");
  if (g_strcmp0 (json_get_string (pre, "type"), "Sequence") != 0 || seq == NULL || seq->type != JSON_ARRAY ||
      seq->n != 2)
    return refuse (error, "pre_tokenizer", "not a Sequence of Split and ByteLevel");
  const JsonValue *split = seq->items[0], *byte_level = seq->items[1];
  const char *regex = json_get_string (json_get (split, "pattern"), "Regex");
  if (g_strcmp0 (json_get_string (split, "type"), "Split") != 0 || regex == NULL ||
      g_strcmp0 (json_get_string (split, "behavior"), "Isolated") != 0 || !is_false_or_absent (split, "invert"))
    return refuse (error, "pre_tokenizer.pretokenizers[0]", "not an isolating Split on a regex");
  if (strcmp (regex, MOR_TOKENIZER_QWEN2_REGEX) != 0) {
    g_autofree char *what = g_strdup_printf ("regex “%s” is not the Qwen2 one", regex);
    return refuse (error, "pre_tokenizer.pretokenizers[0].pattern.Regex", what);
  }
  if (g_strcmp0 (json_get_string (byte_level, "type"), "ByteLevel") != 0 ||
      !is_false_or_absent (byte_level, "add_prefix_space") || !is_false_or_absent (byte_level, "use_regex"))
    return refuse (error, "pre_tokenizer.pretokenizers[1]", "not ByteLevel without prefix space and regex");
  const JsonValue *model = json_get (root, "model");
  if (g_strcmp0 (json_get_string (model, "type"), "BPE") != 0)
    return refuse (error, "model.type", "not BPE");
  if (!is_false_or_absent (model, "byte_fallback") || !is_false_or_absent (model, "ignore_merges") ||
      !is_empty_or_absent (model, "continuing_subword_prefix") || !is_empty_or_absent (model, "end_of_word_suffix") ||
      !is_empty_or_absent (model, "unk_token"))
    return refuse (error, "model", "byte_fallback, ignore_merges, affixes or unk_token set");
  return TRUE;
}

static gboolean
put_token (HfVocab *hf, double id_number, const char *text, gint32 type, GError **error)
{
  if (id_number < 0 || id_number > G_MAXINT32 - 1 || id_number != (gint32) id_number)
    return refuse (error, text, "id is not a non-negative integer");
  guint id = (guint) id_number;
  if (id >= hf->tokens->len) {
    guint old = hf->tokens->len;
    g_ptr_array_set_size (hf->tokens, id + 1);
    g_array_set_size (hf->types, id + 1);
    for (guint i = old; i <= id; i++)
      g_array_index (hf->types, gint32, i) = -1;
  }
  if (hf->tokens->pdata[id] != NULL && strcmp (hf->tokens->pdata[id], text) != 0)
    return refuse (error, text, "id already taken by another token");
  g_free (hf->tokens->pdata[id]);
  hf->tokens->pdata[id] = g_strdup (text);
  g_array_index (hf->types, gint32, id) = type;
  return TRUE;
}

static void
hf_vocab_free (HfVocab *hf)
{
  g_ptr_array_unref (hf->tokens);
  g_array_unref (hf->types);
  g_ptr_array_unref (hf->merges);
  g_free (hf);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HfVocab, hf_vocab_free)

static HfVocab *
hf_vocab_load (const JsonValue *root, GError **error)
{
  g_autoptr (HfVocab) hf = g_new0 (HfVocab, 1);
  hf->tokens = g_ptr_array_new_with_free_func (g_free);
  hf->types = g_array_new (FALSE, TRUE, sizeof (gint32));
  hf->merges = g_ptr_array_new_with_free_func (g_free);
  hf->eos_id = hf->pad_id = -1;
  if (!check_pipeline (root, error))
    return NULL;

  const JsonValue *model = json_get (root, "model");
  const JsonValue *vocab = json_get (model, "vocab");
  if (vocab == NULL || vocab->type != JSON_OBJECT) {
    refuse (error, "model.vocab", "not an object");
    return NULL;
  }
  for (guint i = 0; i < vocab->n; i++) {
    if (vocab->items[i]->type != JSON_NUMBER) {
      refuse (error, vocab->keys[i]->string, "id is not a number");
      return NULL;
    }
    if (!put_token (hf, vocab->items[i]->number, vocab->keys[i]->string, MOR_TOKEN_TYPE_NORMAL, error))
      return NULL;
  }

  const JsonValue *added = json_get (root, "added_tokens");
  for (guint i = 0; added && added->type == JSON_ARRAY && i < added->n; i++) {
    const JsonValue *a = added->items[i];
    const JsonValue *id = json_get (a, "id");
    const char *content = json_get_string (a, "content");
    if (id == NULL || id->type != JSON_NUMBER || content == NULL) {
      refuse (error, "added_tokens", "entry without a numeric id and a content");
      return NULL;
    }
    if (!is_false_or_absent (a, "lstrip") || !is_false_or_absent (a, "rstrip") ||
        !is_false_or_absent (a, "single_word")) {
      refuse (error, content, "lstrip, rstrip and single_word are not supported");
      return NULL;
    }
    gint32 type = is_false_or_absent (a, "special") ? MOR_TOKEN_TYPE_USER_DEFINED : MOR_TOKEN_TYPE_CONTROL;
    if (!put_token (hf, id->number, content, type, error))
      return NULL;
    if (strcmp (content, "<|im_end|>") == 0)
      hf->eos_id = id->number;
    if (strcmp (content, "<|endoftext|>") == 0)
      hf->pad_id = id->number;
  }
  if (hf->eos_id < 0 || hf->pad_id < 0) {
    refuse (error, "added_tokens", "no <|im_end|> or no <|endoftext|>");
    return NULL;
  }
  /* Ids no token claims: padding rows, as the converter writes them. */
  for (guint i = 0; i < hf->tokens->len; i++) {
    if (hf->tokens->pdata[i] == NULL) {
      hf->tokens->pdata[i] = g_strdup_printf ("[PAD%u]", i);
      g_array_index (hf->types, gint32, i) = MOR_TOKEN_TYPE_UNUSED;
    }
  }

  /* Merges: "a b" strings (tokenizers < 0.20) or ["a", "b"] pairs. */
  const JsonValue *merges = json_get (model, "merges");
  if (merges == NULL || merges->type != JSON_ARRAY) {
    refuse (error, "model.merges", "not an array");
    return NULL;
  }
  for (guint i = 0; i < merges->n; i++) {
    const JsonValue *m = merges->items[i];
    if (m->type == JSON_STRING) {
      g_ptr_array_add (hf->merges, g_strdup (m->string));
    } else if (m->type == JSON_ARRAY && m->n == 2 && m->items[0]->type == JSON_STRING &&
               m->items[1]->type == JSON_STRING && !strchr (m->items[0]->string, ' ') &&
               !strchr (m->items[1]->string, ' ')) {
      g_ptr_array_add (hf->merges, g_strconcat (m->items[0]->string, " ", m->items[1]->string, NULL));
    } else {
      g_autofree char *where = g_strdup_printf ("model.merges[%u]", i);
      refuse (error, where, "not \"a b\" nor a pair of strings without spaces");
      return NULL;
    }
  }
  return g_steal_pointer (&hf);
}

/* Writes the tokenizer.ggml.* keys, as the model converter does. */
static GBytes *
hf_vocab_to_gguf (HfVocab *hf)
{
  g_autoptr (MorGgufWriter) w = mor_gguf_writer_new ();
  mor_gguf_writer_add_string (w, "tokenizer.ggml.model", "gpt2");
  mor_gguf_writer_add_string (w, "tokenizer.ggml.pre", "qwen2");
  mor_gguf_writer_add_string_array (w, "tokenizer.ggml.tokens", (const char *const *) hf->tokens->pdata,
                                    hf->tokens->len);
  mor_gguf_writer_add_array (w, "tokenizer.ggml.token_type", MOR_GGUF_VALUE_INT32, hf->types->data,
                             hf->types->len);
  mor_gguf_writer_add_string_array (w, "tokenizer.ggml.merges", (const char *const *) hf->merges->pdata,
                                    hf->merges->len);
  mor_gguf_writer_add_u32 (w, "tokenizer.ggml.eos_token_id", hf->eos_id);
  mor_gguf_writer_add_u32 (w, "tokenizer.ggml.padding_token_id", hf->pad_id);
  mor_gguf_writer_add_bool (w, "tokenizer.ggml.add_bos_token", FALSE);
  return mor_gguf_writer_to_bytes (w);
}

static MorTokenizer *
load (const char *path, GError **error)
{
  g_autofree char *text = NULL;
  gsize len;
  gint64 t0 = g_get_monotonic_time ();
  if (!g_file_get_contents (path, &text, &len, error))
    return NULL;
  g_autoptr (JsonValue) root = json_parse (text, len, error);
  if (root == NULL)
    return NULL;
  gint64 t1 = g_get_monotonic_time ();
  g_autoptr (HfVocab) hf = hf_vocab_load (root, error);
  if (hf == NULL)
    return NULL;
  g_autoptr (GBytes) bytes = hf_vocab_to_gguf (hf);
  gint64 t2 = g_get_monotonic_time ();
  g_autoptr (MorGguf) gguf = mor_gguf_new_from_bytes (bytes, error);
  if (gguf == NULL)
    return NULL;
  gint64 t3 = g_get_monotonic_time ();
  MorTokenizer *tok = mor_tokenizer_new_from_gguf (gguf, error);
  gint64 t4 = g_get_monotonic_time ();
  if (tok)
    fprintf (stderr, "tokenizer-encode: %u tokens, %u merges; JSON %.0f ms, GGUF write %.0f ms, "
             "GGUF open %.0f ms, mor_tokenizer_new_from_gguf %.0f ms\n", hf->tokens->len, hf->merges->len,
             (t1 - t0) / 1e3, (t2 - t1) / 1e3, (t3 - t2) / 1e3, (t4 - t3) / 1e3);
  return tok;
}

static void
put_hex (GString *out, const char *s, gsize len)
{
  for (gsize i = 0; i < len; i++)
    g_string_append_printf (out, "%02x", (guint8) s[i]);
}

int
main (int argc, char **argv)
{
  if (argc != 2) {
    fprintf (stderr, "usage: %s TOKENIZER_JSON < hex-lines\n", argv[0]);
    return 2;
  }
  g_autoptr (GError) error = NULL;
  g_autoptr (MorTokenizer) tok = load (argv[1], &error);
  if (tok == NULL) {
    fprintf (stderr, "tokenizer-encode: %s\n", error->message);
    return 1;
  }

  g_autoptr (GString) out = g_string_new (NULL);
  g_autoptr (GByteArray) text = g_byte_array_new ();
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  gint64 t0 = g_get_monotonic_time ();
  guint count = 0;
  while ((n = getline (&line, &cap, stdin)) >= 0) {
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
      n--;
    g_byte_array_set_size (text, 0);
    for (ssize_t i = 0; i + 1 < n; i += 2) {
      int hi = g_ascii_xdigit_value (line[i]), lo = g_ascii_xdigit_value (line[i + 1]);
      if (hi < 0 || lo < 0 || n % 2 != 0) {
        fprintf (stderr, "tokenizer-encode: line %u is not hex\n", count + 1);
        free (line);
        return 1;
      }
      guint8 b = hi * 16 + lo;
      g_byte_array_append (text, &b, 1);
    }
    g_array_set_size (ids, 0);
    if (!mor_tokenizer_encode (tok, (const char *) text->data, text->len, TRUE, ids, &error)) {
      fprintf (stderr, "tokenizer-encode: line %u: %s\n", count + 1, error->message);
      free (line);
      return 1;
    }
    g_string_truncate (out, 0);
    for (guint i = 0; i < ids->len; i++)
      g_string_append_printf (out, i ? " %d" : "%d", g_array_index (ids, gint32, i));
    g_string_append_c (out, '\t');
    gsize len;
    g_autofree char *back = mor_tokenizer_decode (tok, (const gint32 *) ids->data, ids->len, TRUE, &len);
    put_hex (out, back, len);
    g_string_append_c (out, '\n');
    fwrite (out->str, 1, out->len, stdout);
    count++;
  }
  free (line);
  fprintf (stderr, "tokenizer-encode: encoded %u texts in %.0f ms\n", count, (g_get_monotonic_time () - t0) / 1e3);
  return 0;
}
