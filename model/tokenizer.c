/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Byte-level BPE tokenizer (GPT-2 / Qwen2): vocabulary indexing, encoding,
 * decoding and the streaming UTF-8 decoder. The steps and their order are
 * described in tokenizer.h; each function below names the step it does. */
#include "tokenizer.h"

#include <string.h>

G_DEFINE_QUARK (mor-tokenizer-error-quark, mor_tokenizer_error)

#define KEY_MODEL "tokenizer.ggml.model"
#define KEY_PRE "tokenizer.ggml.pre"
#define KEY_TOKENS "tokenizer.ggml.tokens"
#define KEY_TYPES "tokenizer.ggml.token_type"
#define KEY_MERGES "tokenizer.ggml.merges"
#define KEY_EOS "tokenizer.ggml.eos_token_id"
#define KEY_PAD "tokenizer.ggml.padding_token_id"
#define KEY_BOS "tokenizer.ggml.bos_token_id"
#define KEY_ADD_BOS "tokenizer.ggml.add_bos_token"

/* Unicode White_Space, which is what \s means in the Oniguruma regex of
 * Hugging Face tokenizers. Written out so that the splits do not depend on the
 * regex engine's idea of \s, which differs between engines and versions
 * (JavaScript's adds U+FEFF and lacks U+0085; PCRE2's depends on UCP). */
#define WS "\\t\\n\\x0B\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

/* MOR_TOKENIZER_QWEN2_REGEX with \s and \S written as classes over WS. The
 * alternatives, in the order they are tried: English contractions in any
 * case; a letter run with at most one leading non-letter, non-digit (not a
 * line break); one digit; a punctuation run with an optional leading space and
 * trailing line breaks; whitespace ending in line breaks; whitespace not
 * followed by a non-space (so "  a" gives " " and " a"); any whitespace. */
static const char qwen2_pattern[] =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)"
  "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+"
  "|\\p{N}"
  "| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n]*"
  "|[" WS "]*[\\r\\n]+"
  "|[" WS "]+(?![^" WS "])"
  "|[" WS "]+";

typedef struct {
  const char *s;
  gsize len;
} Str;

typedef struct {
  guint32 id1;                  /* token id + 1; 0 when free */
  guint32 hash;                 /* low bits of its text's hash, checked before the text */
} IndexSlot;

typedef struct {
  guint64 key;                  /* left id << 32 | right id; EMPTY_KEY when free */
  guint32 rank;                 /* index in the merge list */
  gint32 id;                    /* the merged token */
} MergeSlot;

#define EMPTY_KEY G_MAXUINT64

struct _MorTokenizer {
  gint ref_count;
  guint n_tokens;
  char *text;                   /* token texts, each NUL-terminated */
  guint32 *text_off;            /* (n_tokens + 1) offsets into text */
  guint8 *bytes;                /* what each token decodes to */
  guint32 *bytes_off;           /* (n_tokens + 1) offsets into bytes */
  guint8 *types;                /* (n_tokens) MorTokenType */
  IndexSlot *index;             /* text → id, open addressing */
  guint32 index_mask;
  MergeSlot *merges;            /* (left, right) → rank, merged id, open addressing */
  guint32 merges_mask;
  gint32 byte_token[256];       /* the token of each single byte */
  gint32 *added;                /* (n_added) CONTROL and USER_DEFINED ids, longest text first */
  guint n_added;
  gboolean added_first[256];    /* some added token starts with this byte */
  GRegex *regex;
  gint32 eos_id, pad_id, bos_id;
  gboolean add_bos;
};

/* ---- GPT-2's byte ↔ unicode map ----
 * Printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves;
 * the other 68 bytes, in increasing order, become U+0100, U+0101, … (so a
 * space is 'Ġ' U+0120 and a newline 'Ċ' U+010A). */

static gunichar byte_to_unicode[256];
static gint16 unicode_to_byte[256 + 68];   /* -1: not a byte symbol */

static void
init_byte_map (void)
{
  static gsize done = 0;
  if (!g_once_init_enter (&done))
    return;
  guint next = 256;
  for (guint c = 0; c < G_N_ELEMENTS (unicode_to_byte); c++)
    unicode_to_byte[c] = -1;
  for (guint b = 0; b < 256; b++) {
    gboolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    byte_to_unicode[b] = printable ? b : next++;
    unicode_to_byte[byte_to_unicode[b]] = b;
  }
  g_once_init_leave (&done, 1);
}

gunichar
mor_tokenizer_byte_symbol (guint8 byte)
{
  init_byte_map ();
  return byte_to_unicode[byte];
}

/* ---- UTF-8 decoding with replacement ----
 * The decoder of the WHATWG Encoding Standard (also Unicode's "maximal
 * subpart" practice): a sequence that cannot complete becomes one U+FFFD, and
 * the byte that broke it is read again as a new start. */

typedef struct {
  guint8 buf[4];
  guint8 n;                     /* bytes held */
  guint8 need;                  /* length of the sequence being read */
  guint8 lo, hi;                /* allowed range of the next byte */
} Utf8Reader;

static const char replacement[] = "\xEF\xBF\xBD";   /* U+FFFD */

static void
utf8_push (Utf8Reader *r, guint8 b, GString *out)
{
  if (r->n > 0) {
    if (b >= r->lo && b <= r->hi) {
      r->buf[r->n++] = b;
      r->lo = 0x80;
      r->hi = 0xBF;
      if (r->n == r->need) {
        g_string_append_len (out, (const char *) r->buf, r->n);
        r->n = 0;
      }
      return;
    }
    g_string_append (out, replacement);
    r->n = 0;
  }
  if (b < 0x80) {
    g_string_append_c (out, (char) b);
    return;
  }
  r->lo = 0x80;
  r->hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF)
    r->need = 2;
  else if (b >= 0xE0 && b <= 0xEF) {
    r->need = 3;
    if (b == 0xE0)
      r->lo = 0xA0;              /* no overlong forms */
    else if (b == 0xED)
      r->hi = 0x9F;              /* no surrogates */
  } else if (b >= 0xF0 && b <= 0xF4) {
    r->need = 4;
    if (b == 0xF0)
      r->lo = 0x90;
    else if (b == 0xF4)
      r->hi = 0x8F;              /* nothing above U+10FFFF */
  } else {
    g_string_append (out, replacement);
    return;
  }
  r->buf[0] = b;
  r->n = 1;
}

static void
utf8_flush (Utf8Reader *r, GString *out)
{
  if (r->n > 0)
    g_string_append (out, replacement);
  r->n = 0;
}

/* ---- Hashing ---- */

static guint64
hash_bytes (const char *s, gsize len)
{
  guint64 h = 0xcbf29ce484222325ull;   /* FNV-1a */
  for (gsize i = 0; i < len; i++)
    h = (h ^ (guint8) s[i]) * 0x100000001b3ull;
  return h ^ (h >> 29);
}

static guint64
hash_pair (guint64 key)
{
  key ^= key >> 33;                    /* murmur3's finalizer */
  key *= 0xff51afd7ed558ccdull;
  key ^= key >> 33;
  key *= 0xc4ceb9fe1a85ec53ull;
  return key ^ (key >> 33);
}

static guint32
table_size (guint n)
{
  guint32 size = 16;
  while (size < 2 * (guint64) n)
    size <<= 1;
  return size;
}

/* The id of text @s, or -1; with @insert_id ≥ 0, a missing @s is added as
 * that id. */
static gint32
index_text (MorTokenizer *tok, const char *s, gsize len, gint32 insert_id)
{
  guint64 h = hash_bytes (s, len);
  for (guint32 i = h & tok->index_mask;; i = (i + 1) & tok->index_mask) {
    IndexSlot *slot = &tok->index[i];
    if (slot->id1 == 0) {
      if (insert_id >= 0)
        *slot = (IndexSlot) { insert_id + 1, (guint32) (h >> 32) };
      return -1;
    }
    gint32 id = slot->id1 - 1;
    if (slot->hash == (guint32) (h >> 32) && tok->text_off[id + 1] - tok->text_off[id] - 1 == len &&
        memcmp (tok->text + tok->text_off[id], s, len) == 0)
      return id;
  }
}

static gint32
find_text (const MorTokenizer *tok, const char *s, gsize len)
{
  return index_text ((MorTokenizer *) tok, s, len, -1);
}

static const MergeSlot *
find_merge (const MorTokenizer *tok, gint32 left, gint32 right)
{
  guint64 key = ((guint64) left << 32) | (guint32) right;
  for (guint32 i = hash_pair (key) & tok->merges_mask;; i = (i + 1) & tok->merges_mask) {
    const MergeSlot *m = &tok->merges[i];
    if (m->key == key)
      return m;
    if (m->key == EMPTY_KEY)
      return NULL;
  }
}

/* ---- Construction ---- */

/* A short, valid UTF-8 rendering of untrusted token text for messages. */
static char *
printable (const char *s, gsize len)
{
  g_autofree char *valid = g_utf8_make_valid (s, MIN (len, 64));
  if (len > 64)
    return g_strconcat (valid, "…", NULL);
  return g_steal_pointer (&valid);
}

/* NORMAL tokens decode through the byte map; a token with a character outside
 * it decodes to its text as is (as Hugging Face's ByteLevel decoder does). */
static void
append_token_bytes (GByteArray *out, const char *text, gsize len, MorTokenType type)
{
  if (type == MOR_TOKEN_TYPE_UNUSED)
    return;
  if (type == MOR_TOKEN_TYPE_CONTROL || type == MOR_TOKEN_TYPE_USER_DEFINED || type == MOR_TOKEN_TYPE_UNKNOWN ||
      !g_utf8_validate_len (text, len, NULL)) {
    g_byte_array_append (out, (const guint8 *) text, len);
    return;
  }
  guint start = out->len;
  for (const char *p = text; p < text + len; p = g_utf8_next_char (p)) {
    gunichar c = g_utf8_get_char (p);
    if (c >= G_N_ELEMENTS (unicode_to_byte) || unicode_to_byte[c] < 0) {
      g_byte_array_set_size (out, start);
      g_byte_array_append (out, (const guint8 *) text, len);
      return;
    }
    guint8 b = unicode_to_byte[c];
    g_byte_array_append (out, &b, 1);
  }
}

static gint
compare_added (gconstpointer a, gconstpointer b, gpointer user_data)
{
  const MorTokenizer *tok = user_data;
  gint32 x = *(const gint32 *) a, y = *(const gint32 *) b;
  guint32 lx = tok->text_off[x + 1] - tok->text_off[x], ly = tok->text_off[y + 1] - tok->text_off[y];
  if (lx != ly)
    return lx > ly ? -1 : 1;
  return x < y ? -1 : x > y;
}

static MorTokenizer *
build (const char *origin, const char *model, const char *pre, const Str *tokens, const gint32 *types,
       guint n_tokens, const Str *merges, guint n_merges, gint32 eos_id, gint32 pad_id, gint32 bos_id,
       gboolean add_bos, GError **error)
{
  init_byte_map ();

  if (g_strcmp0 (model, "gpt2") != 0) {
    g_set_error (error, MOR_TOKENIZER_ERROR, MOR_TOKENIZER_ERROR_UNSUPPORTED,
                 "Tokenizer in “%s”: %s is “%s”, but only “gpt2” (byte-level BPE) is supported",
                 origin, KEY_MODEL, model ? model : "(none)");
    return NULL;
  }
  if (g_strcmp0 (pre, "qwen2") != 0) {
    g_set_error (error, MOR_TOKENIZER_ERROR, MOR_TOKENIZER_ERROR_UNSUPPORTED,
                 "Tokenizer in “%s”: %s is “%s”, but only “qwen2” is supported",
                 origin, KEY_PRE, pre ? pre : "(none)");
    return NULL;
  }
  if (n_tokens == 0 || n_tokens > G_MAXINT32 - 1) {
    g_set_error (error, MOR_TOKENIZER_ERROR, MOR_TOKENIZER_ERROR_BAD_VOCAB,
                 "Tokenizer in “%s”: %s has %u tokens", origin, KEY_TOKENS, n_tokens);
    return NULL;
  }
  const struct { const char *key; gint32 id; } specials[] = {
    { KEY_EOS, eos_id }, { KEY_PAD, pad_id }, { KEY_BOS, bos_id },
  };
  for (guint i = 0; i < G_N_ELEMENTS (specials); i++) {
    if (specials[i].id < -1 || specials[i].id >= (gint64) n_tokens) {
      g_set_error (error, MOR_TOKENIZER_ERROR, MOR_TOKENIZER_ERROR_BAD_VOCAB,
                   "Tokenizer in “%s”: %s is %d, outside the vocabulary of %u tokens",
                   origin, specials[i].key, specials[i].id, n_tokens);
      return NULL;
    }
  }

  MorTokenizer *tok = g_new0 (MorTokenizer, 1);
  g_autoptr (MorTokenizer) guard = tok;   /* frees the half-built tokenizer on every error */
  tok->ref_count = 1;
  tok->n_tokens = n_tokens;
  tok->eos_id = eos_id;
  tok->pad_id = pad_id;
  tok->bos_id = bos_id;
  tok->add_bos = add_bos;

  /* Texts, types, decoded bytes. */
  guint64 total = 0;
  for (guint i = 0; i < n_tokens; i++)
    total += tokens[i].len + 1;
  if (total > G_MAXUINT32) {
    g_set_error (error, MOR_TOKENIZER_ERROR, MOR_TOKENIZER_ERROR_BAD_VOCAB,
                 "Tokenizer in “%s”: the token texts take %" G_GUINT64_FORMAT " bytes, more than 4 GiB",
                 origin, total);
    return NULL;
  }
  tok->text = g_malloc (total);
  tok->text_off = g_new (guint32, n_tokens + 1);
  tok->types = g_new (guint8, n_tokens);
  tok->bytes_off = g_new (guint32, n_tokens + 1);
  GByteArray *bytes = g_byte_array_sized_new (total);
  guint32 off = 0;
  for (guint i = 0; i < n_tokens; i++) {
    gint32 type = types ? types[i] : MOR_TOKEN_TYPE_NORMAL;
    if (type < MOR_TOKEN_TYPE_UNDEFINED || type > MOR_TOKEN_TYPE_BYTE) {
      g_autofree char *p = printable (tokens[i].s, tokens[i].len);
      g_set_error (error, MOR_TOKENIZER_ERROR, MOR_TOKENIZER_ERROR_BAD_VOCAB,
                   "Tokenizer in “%s”: token %u “%s” has type %d in %s; token types are 0–6",
                   origin, i, p, type, KEY_TYPES);
      g_byte_array_unref (bytes);
      return NULL;
    }
    if (type == MOR_TOKEN_TYPE_UNDEFINED || type == MOR_TOKEN_TYPE_BYTE)
      type = MOR_TOKEN_TYPE_NORMAL;
    tok->types[i] = type;
    tok->text_off[i] = off;
    memcpy (tok->text + off, tokens[i].s, tokens[i].len);
    tok->text[off + tokens[i].len] = '\0';
    off += tokens[i].len + 1;
    tok->bytes_off[i] = bytes->len;
    append_token_bytes (bytes, tokens[i].s, tokens[i].len, type);
  }
  tok->text_off[n_tokens] = off;
  tok->bytes_off[n_tokens] = bytes->len;
  tok->bytes = g_byte_array_free (bytes, FALSE);

  /* Text index; the first of equal texts wins. */
  guint32 size = table_size (n_tokens);
  tok->index = g_new0 (IndexSlot, size);
  tok->index_mask = size - 1;
  for (guint i = 0; i < n_tokens; i++) {
    if (tokens[i].len > 0)
      index_text (tok, tokens[i].s, tokens[i].len, i);
  }

  /* The 256 byte symbols every split starts from. */
  for (guint b = 0; b < 256; b++) {
    char sym[8];
    gint n = g_unichar_to_utf8 (byte_to_unicode[b], sym);
    tok->byte_token[b] = find_text (tok, sym, n);
    if (tok->byte_token[b] < 0) {
      sym[n] = '\0';
      g_set_error (error, MOR_TOKENIZER_ERROR, MOR_TOKENIZER_ERROR_BAD_VOCAB,
                   "Tokenizer in “%s”: no token “%s” for byte 0x%02x; a byte-level vocabulary has all 256",
                   origin, sym, b);
      return NULL;
    }
  }

  /* Merges: "left right", split at the first space after the first byte
   * (byte-level token texts hold no spaces; a lone space is not a token). */
  size = table_size (n_merges);
  tok->merges = g_new (MergeSlot, size);
  tok->merges_mask = size - 1;
  for (guint32 i = 0; i < size; i++)
    tok->merges[i].key = EMPTY_KEY;
  g_autofree char *joined = NULL;
  gsize joined_size = 0;
  for (guint r = 0; r < n_merges; r++) {
    const char *m = merges[r].s;
    gsize len = merges[r].len;
    const char *space = len > 1 ? memchr (m + 1, ' ', len - 1) : NULL;
    if (space == NULL || space == m + len - 1) {
      g_autofree char *p = printable (m, len);
      g_set_error (error, MOR_TOKENIZER_ERROR, MOR_TOKENIZER_ERROR_BAD_MERGE,
                   "Tokenizer in “%s”: merge %u “%s” in %s is not two tokens separated by a space",
                   origin, r, p, KEY_MERGES);
      return NULL;
    }
    gsize llen = space - m, rlen = len - llen - 1;
    gint32 left = find_text (tok, m, llen), right = find_text (tok, space + 1, rlen);
    if (left < 0 || right < 0) {
      g_autofree char *p = printable (m, len);
      g_autofree char *unknown = left < 0 ? printable (m, llen) : printable (space + 1, rlen);
      g_set_error (error, MOR_TOKENIZER_ERROR, MOR_TOKENIZER_ERROR_BAD_MERGE,
                   "Tokenizer in “%s”: merge %u “%s” in %s names “%s”, which is not a token",
                   origin, r, p, KEY_MERGES, unknown);
      return NULL;
    }
    if (len > joined_size) {
      joined_size = MAX (len, 2 * joined_size);
      joined = g_realloc (joined, joined_size);
    }
    memcpy (joined, m, llen);
    memcpy (joined + llen, space + 1, rlen);
    gint32 merged = find_text (tok, joined, llen + rlen);
    if (merged < 0) {
      g_autofree char *p = printable (m, len);
      g_autofree char *j = printable (joined, llen + rlen);
      g_set_error (error, MOR_TOKENIZER_ERROR, MOR_TOKENIZER_ERROR_BAD_MERGE,
                   "Tokenizer in “%s”: merge %u “%s” in %s makes “%s”, which is not a token",
                   origin, r, p, KEY_MERGES, j);
      return NULL;
    }
    guint64 key = ((guint64) left << 32) | (guint32) right;
    guint32 h = hash_pair (key) & tok->merges_mask;
    while (tok->merges[h].key != EMPTY_KEY && tok->merges[h].key != key)
      h = (h + 1) & tok->merges_mask;
    if (tok->merges[h].key == key)
      continue;                               /* listed before: the lower rank stays */
    tok->merges[h] = (MergeSlot) { key, r, merged };
  }

  /* Added tokens, longest first so that the first match is the longest. */
  tok->added = g_new (gint32, n_tokens);
  for (guint i = 0; i < n_tokens; i++) {
    if ((tok->types[i] == MOR_TOKEN_TYPE_CONTROL || tok->types[i] == MOR_TOKEN_TYPE_USER_DEFINED) &&
        tokens[i].len > 0) {
      tok->added[tok->n_added++] = i;
      tok->added_first[(guint8) tokens[i].s[0]] = TRUE;
    }
  }
  g_qsort_with_data (tok->added, tok->n_added, sizeof (gint32), compare_added, tok);

  g_autoptr (GError) regex_error = NULL;
  tok->regex = g_regex_new (qwen2_pattern, G_REGEX_OPTIMIZE, 0, &regex_error);
  if (tok->regex == NULL)
    g_error ("the built-in Qwen2 pre-tokenizer regex does not compile: %s", regex_error->message);

  return g_steal_pointer (&guard);
}

static Str *
strv_to_str (const char *const *strv, guint n)
{
  Str *s = g_new (Str, MAX (n, 1));
  for (guint i = 0; i < n; i++) {
    s[i].s = strv[i];
    s[i].len = strlen (strv[i]);
  }
  return s;
}

MorTokenizer *
mor_tokenizer_new (const MorTokenizerVocab *vocab, GError **error)
{
  g_return_val_if_fail (vocab != NULL, NULL);
  g_return_val_if_fail (vocab->tokens != NULL || vocab->n_tokens == 0, NULL);
  g_return_val_if_fail (vocab->merges != NULL || vocab->n_merges == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_autofree Str *tokens = strv_to_str (vocab->tokens, vocab->n_tokens);
  g_autofree Str *merges = strv_to_str (vocab->merges, vocab->n_merges);
  return build ("<arrays>", vocab->model, vocab->pre, tokens, vocab->types, vocab->n_tokens, merges,
                vocab->n_merges, vocab->eos_id, vocab->pad_id, vocab->bos_id, vocab->add_bos, error);
}

static gboolean
require_key (MorGguf *gguf, const char *key, GError **error)
{
  if (mor_gguf_find_key (gguf, key) >= 0)
    return TRUE;
  g_set_error (error, MOR_TOKENIZER_ERROR, MOR_TOKENIZER_ERROR_MISSING_KEY,
               "Tokenizer in “%s”: no key “%s”", mor_gguf_get_name (gguf), key);
  return FALSE;
}

static Str *
gguf_strings (MorGguf *gguf, const char *key, guint *n, GError **error)
{
  guint64 n64;
  if (!require_key (gguf, key, error) || !mor_gguf_get_string_array (gguf, key, &n64, error))
    return NULL;
  if (n64 > G_MAXINT32 - 1) {
    g_set_error (error, MOR_TOKENIZER_ERROR, MOR_TOKENIZER_ERROR_BAD_VOCAB,
                 "Tokenizer in “%s”: %s has %" G_GUINT64_FORMAT " entries", mor_gguf_get_name (gguf), key, n64);
    return NULL;
  }
  Str *s = g_new (Str, MAX (n64, 1));
  for (guint64 i = 0; i < n64; i++)
    s[i].s = mor_gguf_get_array_string (gguf, key, i, &s[i].len);
  *n = n64;
  return s;
}

static gboolean
gguf_id (MorGguf *gguf, const char *key, gboolean required, gint32 *id, GError **error)
{
  guint32 v;
  *id = -1;
  if (mor_gguf_find_key (gguf, key) < 0)
    return !required || require_key (gguf, key, error);
  if (!mor_gguf_get_u32 (gguf, key, &v, error))
    return FALSE;
  *id = MIN (v, (guint32) G_MAXINT32);
  return TRUE;
}

MorTokenizer *
mor_tokenizer_new_from_gguf (MorGguf *gguf, GError **error)
{
  g_return_val_if_fail (gguf != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  const char *model, *pre;
  if (!require_key (gguf, KEY_MODEL, error) || !(model = mor_gguf_get_string (gguf, KEY_MODEL, NULL, error)))
    return NULL;
  if (!require_key (gguf, KEY_PRE, error) || !(pre = mor_gguf_get_string (gguf, KEY_PRE, NULL, error)))
    return NULL;

  guint n_tokens = 0, n_merges = 0;
  g_autofree Str *tokens = gguf_strings (gguf, KEY_TOKENS, &n_tokens, error);
  if (tokens == NULL)
    return NULL;
  guint64 n_types;
  const gint32 *types;
  if (!require_key (gguf, KEY_TYPES, error) ||
      !(types = mor_gguf_get_array_data (gguf, KEY_TYPES, MOR_GGUF_VALUE_INT32, &n_types, error)))
    return NULL;
  if (n_types != n_tokens) {
    g_set_error (error, MOR_TOKENIZER_ERROR, MOR_TOKENIZER_ERROR_BAD_VOCAB,
                 "Tokenizer in “%s”: %s has %" G_GUINT64_FORMAT " entries but %s has %u",
                 mor_gguf_get_name (gguf), KEY_TYPES, n_types, KEY_TOKENS, n_tokens);
    return NULL;
  }
  g_autofree Str *merges = gguf_strings (gguf, KEY_MERGES, &n_merges, error);
  if (merges == NULL)
    return NULL;

  gint32 eos_id, pad_id, bos_id;
  gboolean add_bos;
  if (!gguf_id (gguf, KEY_EOS, TRUE, &eos_id, error) || !gguf_id (gguf, KEY_PAD, TRUE, &pad_id, error) ||
      !gguf_id (gguf, KEY_BOS, FALSE, &bos_id, error) ||
      !mor_gguf_get_bool_default (gguf, KEY_ADD_BOS, FALSE, &add_bos, error))
    return NULL;

  return build (mor_gguf_get_name (gguf), model, pre, tokens, types, n_tokens, merges, n_merges, eos_id,
                pad_id, bos_id, add_bos, error);
}

MorTokenizer *
mor_tokenizer_ref (MorTokenizer *tok)
{
  g_return_val_if_fail (tok != NULL, NULL);
  g_atomic_int_inc (&tok->ref_count);
  return tok;
}

void
mor_tokenizer_unref (MorTokenizer *tok)
{
  if (tok == NULL || !g_atomic_int_dec_and_test (&tok->ref_count))
    return;
  g_clear_pointer (&tok->regex, g_regex_unref);
  g_free (tok->added);
  g_free (tok->merges);
  g_free (tok->index);
  g_free (tok->bytes_off);
  g_free (tok->bytes);
  g_free (tok->types);
  g_free (tok->text_off);
  g_free (tok->text);
  g_free (tok);
}

/* ---- Accessors ---- */

guint
mor_tokenizer_n_tokens (MorTokenizer *tok)
{
  return tok->n_tokens;
}

gint32
mor_tokenizer_eos_id (MorTokenizer *tok)
{
  return tok->eos_id;
}

gint32
mor_tokenizer_pad_id (MorTokenizer *tok)
{
  return tok->pad_id;
}

gint32
mor_tokenizer_bos_id (MorTokenizer *tok)
{
  return tok->bos_id;
}

gboolean
mor_tokenizer_add_bos (MorTokenizer *tok)
{
  return tok->add_bos;
}

static gboolean
in_vocab (MorTokenizer *tok, gint32 id)
{
  return id >= 0 && (guint32) id < tok->n_tokens;
}

MorTokenType
mor_tokenizer_token_type (MorTokenizer *tok, gint32 id)
{
  return in_vocab (tok, id) ? tok->types[id] : MOR_TOKEN_TYPE_UNUSED;
}

const char *
mor_tokenizer_token_text (MorTokenizer *tok, gint32 id)
{
  return in_vocab (tok, id) ? tok->text + tok->text_off[id] : NULL;
}

gint32
mor_tokenizer_find_token (MorTokenizer *tok, const char *text, gssize len)
{
  g_return_val_if_fail (text != NULL, -1);
  if (len < 0)
    len = strlen (text);
  return len == 0 ? -1 : find_text (tok, text, len);
}

/* ---- Encoding ---- */

typedef struct {
  gint32 id;
  gint32 prev, next;            /* neighbours, -1 at the ends */
} Symbol;

typedef struct {
  guint32 rank;
  guint32 pos;                  /* index of the left symbol */
  gint32 left, right;           /* the pair this entry was made for */
} Candidate;

typedef struct {
  GArray *symbols;              /* Symbol */
  GArray *heap;                 /* Candidate, a binary min-heap by (rank, pos) */
} Scratch;

static gboolean
candidate_less (const Candidate *a, const Candidate *b)
{
  return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void
heap_push (GArray *heap, Candidate c)
{
  g_array_append_val (heap, c);
  Candidate *h = (Candidate *) heap->data;
  for (guint i = heap->len - 1; i > 0;) {
    guint parent = (i - 1) / 2;
    if (!candidate_less (&h[i], &h[parent]))
      break;
    Candidate t = h[i];
    h[i] = h[parent];
    h[parent] = t;
    i = parent;
  }
}

static Candidate
heap_pop (GArray *heap)
{
  Candidate *h = (Candidate *) heap->data;
  Candidate top = h[0];
  h[0] = h[heap->len - 1];
  g_array_set_size (heap, heap->len - 1);
  guint n = heap->len;
  for (guint i = 0;;) {
    guint l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && candidate_less (&h[l], &h[m]))
      m = l;
    if (r < n && candidate_less (&h[r], &h[m]))
      m = r;
    if (m == i)
      break;
    Candidate t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
  return top;
}

static void
push_pair (const MorTokenizer *tok, Scratch *sc, gint32 pos)
{
  const Symbol *s = (const Symbol *) sc->symbols->data;
  if (pos < 0 || s[pos].next < 0)
    return;
  const MergeSlot *m = find_merge (tok, s[pos].id, s[s[pos].next].id);
  if (m != NULL)
    heap_push (sc->heap, (Candidate) { m->rank, pos, s[pos].id, s[s[pos].next].id });
}

/* Step 4: one pre-tokenizer split, bytes → byte symbols → merged tokens. A
 * merge is applied only if the pair it was queued for is still there, so the
 * queue may hold stale entries; ties in rank go to the leftmost pair, as in
 * Hugging Face's Word::merge_all. */
static void
encode_split (const MorTokenizer *tok, Scratch *sc, const guint8 *p, gsize len, GArray *ids)
{
  if (len == 1) {
    g_array_append_val (ids, tok->byte_token[p[0]]);
    return;
  }
  g_array_set_size (sc->symbols, len);
  g_array_set_size (sc->heap, 0);
  Symbol *s = (Symbol *) sc->symbols->data;
  for (gsize i = 0; i < len; i++)
    s[i] = (Symbol) { tok->byte_token[p[i]], (gint32) i - 1, i + 1 < len ? (gint32) i + 1 : -1 };
  for (gsize i = 0; i + 1 < len; i++)
    push_pair (tok, sc, i);

  while (sc->heap->len > 0) {
    Candidate c = heap_pop (sc->heap);
    Symbol *left = &s[c.pos];
    if (left->id != c.left || left->next < 0 || s[left->next].id != c.right)
      continue;
    Symbol *right = &s[left->next];
    left->id = find_merge (tok, c.left, c.right)->id;
    right->id = -1;                 /* dead */
    left->next = right->next;
    if (right->next >= 0)
      s[right->next].prev = c.pos;
    push_pair (tok, sc, left->prev);
    push_pair (tok, sc, c.pos);
  }
  for (gint32 i = 0; i >= 0; i = s[i].next)
    g_array_append_val (ids, s[i].id);
}

/* Step 3's normalization: NFC. GLib's normalizer stops at a NUL, so the text
 * is normalized between NULs (a NUL composes with nothing). */
static char *
normalize_nfc (const char *s, gsize len, gsize *out_len)
{
  gboolean ascii = TRUE;
  for (gsize i = 0; i < len && ascii; i++)
    ascii = (guint8) s[i] < 0x80;
  if (ascii) {
    *out_len = len;
    return g_memdup2 (s, len);
  }
  GString *out = g_string_sized_new (len + len / 4);
  for (gsize i = 0; i < len;) {
    const char *nul = memchr (s + i, '\0', len - i);
    gsize n = nul ? (gsize) (nul - (s + i)) : len - i;
    if (n > 0) {
      g_autofree char *t = g_utf8_normalize (s + i, n, G_NORMALIZE_NFC);
      if (t != NULL)
        g_string_append (out, t);
      else
        g_string_append_len (out, s + i, n);   /* not reached: the text was made valid in step 1 */
    }
    if (nul) {
      g_string_append_c (out, '\0');
      n++;
    }
    i += n;
  }
  *out_len = out->len;
  return g_string_free (out, FALSE);
}

/* Step 3: text between added tokens (valid UTF-8). */
static gboolean
encode_text (const MorTokenizer *tok, Scratch *sc, const char *s, gsize len, GArray *ids, GError **error)
{
  gsize n;
  g_autofree char *norm = normalize_nfc (s, len, &n);
  GMatchInfo *mi = NULL;
  GError *match_error = NULL;
  gsize pos = 0;
  g_regex_match_full (tok->regex, norm, n, 0, 0, &mi, &match_error);
  while (match_error == NULL && g_match_info_matches (mi)) {
    gint start, end;
    g_match_info_fetch_pos (mi, 0, &start, &end);
    if ((gsize) start > pos)
      encode_split (tok, sc, (const guint8 *) norm + pos, start - pos, ids);
    if (end > start)
      encode_split (tok, sc, (const guint8 *) norm + start, end - start, ids);
    pos = end;
    g_match_info_next (mi, &match_error);
  }
  g_match_info_free (mi);
  if (match_error != NULL) {
    g_set_error (error, MOR_TOKENIZER_ERROR, MOR_TOKENIZER_ERROR_FAILED,
                 "Tokenizer: the pre-tokenizer regex failed at byte %" G_GSIZE_FORMAT " of a %" G_GSIZE_FORMAT
                 "-byte text: %s", pos, n, match_error->message);
    g_error_free (match_error);
    return FALSE;
  }
  if (pos < n)
    encode_split (tok, sc, (const guint8 *) norm + pos, n - pos, ids);
  return TRUE;
}

/* Step 2: the longest added token that starts at @p, or -1. */
static gint32
match_added (const MorTokenizer *tok, const char *p, gsize left, gboolean special)
{
  if (!tok->added_first[(guint8) *p])
    return -1;
  for (guint i = 0; i < tok->n_added; i++) {
    gint32 id = tok->added[i];
    gsize len = tok->text_off[id + 1] - tok->text_off[id] - 1;
    if (len <= left && (special || tok->types[id] == MOR_TOKEN_TYPE_USER_DEFINED) &&
        memcmp (p, tok->text + tok->text_off[id], len) == 0)
      return id;
  }
  return -1;
}

gboolean
mor_tokenizer_encode (MorTokenizer *tok, const char *text, gssize len, gboolean special, GArray *ids,
                      GError **error)
{
  g_return_val_if_fail (tok != NULL, FALSE);
  g_return_val_if_fail (text != NULL || len == 0, FALSE);
  g_return_val_if_fail (ids != NULL && g_array_get_element_size (ids) == sizeof (gint32), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (len < 0)
    len = strlen (text);

  /* Step 1: replace invalid UTF-8. */
  g_autofree char *clean = NULL;
  if (!g_utf8_validate_len (text, len, NULL)) {
    GString *s = g_string_sized_new (len + 16);
    Utf8Reader r = { 0 };
    for (gssize i = 0; i < len; i++)
      utf8_push (&r, text[i], s);
    utf8_flush (&r, s);
    len = s->len;
    text = clean = g_string_free (s, FALSE);
  }

  Scratch sc = { g_array_new (FALSE, FALSE, sizeof (Symbol)), g_array_new (FALSE, FALSE, sizeof (Candidate)) };
  gboolean ok = TRUE;
  gsize start = 0;
  for (gsize i = 0; i < (gsize) len && ok;) {
    gint32 id = match_added (tok, text + i, len - i, special);
    if (id < 0) {
      i++;
      continue;
    }
    if (i > start)
      ok = encode_text (tok, &sc, text + start, i - start, ids, error);
    if (ok)
      g_array_append_val (ids, id);
    i += tok->text_off[id + 1] - tok->text_off[id] - 1;
    start = i;
  }
  if (ok && (gsize) len > start)
    ok = encode_text (tok, &sc, text + start, len - start, ids, error);
  g_array_unref (sc.symbols);
  g_array_unref (sc.heap);
  return ok;
}

/* ---- Decoding ---- */

const guint8 *
mor_tokenizer_token_bytes (MorTokenizer *tok, gint32 id, gsize *len)
{
  g_return_val_if_fail (tok != NULL && len != NULL, NULL);
  if (!in_vocab (tok, id)) {
    *len = 0;
    return tok->bytes;
  }
  *len = tok->bytes_off[id + 1] - tok->bytes_off[id];
  return tok->bytes + tok->bytes_off[id];
}

static const guint8 *
piece (MorTokenizer *tok, gint32 id, gboolean special, gsize *len)
{
  if (!special && in_vocab (tok, id) && tok->types[id] == MOR_TOKEN_TYPE_CONTROL) {
    *len = 0;
    return tok->bytes;
  }
  return mor_tokenizer_token_bytes (tok, id, len);
}

char *
mor_tokenizer_decode (MorTokenizer *tok, const gint32 *ids, gsize n_ids, gboolean special, gsize *len)
{
  g_return_val_if_fail (tok != NULL, NULL);
  g_return_val_if_fail (ids != NULL || n_ids == 0, NULL);

  GString *out = g_string_new (NULL);
  for (gsize i = 0; i < n_ids; i++) {
    gsize n;
    const guint8 *p = piece (tok, ids[i], special, &n);
    g_string_append_len (out, (const char *) p, n);
  }
  if (len)
    *len = out->len;
  return g_string_free (out, FALSE);
}

struct _MorTokenizerStream {
  MorTokenizer *tok;
  gboolean special;
  Utf8Reader reader;
};

MorTokenizerStream *
mor_tokenizer_stream_new (MorTokenizer *tok, gboolean special)
{
  g_return_val_if_fail (tok != NULL, NULL);
  MorTokenizerStream *s = g_new0 (MorTokenizerStream, 1);
  s->tok = mor_tokenizer_ref (tok);
  s->special = special;
  return s;
}

void
mor_tokenizer_stream_free (MorTokenizerStream *s)
{
  if (s == NULL)
    return;
  mor_tokenizer_unref (s->tok);
  g_free (s);
}

gsize
mor_tokenizer_stream_push (MorTokenizerStream *s, gint32 id, GString *out)
{
  g_return_val_if_fail (s != NULL && out != NULL, 0);
  gsize before = out->len, n;
  const guint8 *p = piece (s->tok, id, s->special, &n);
  for (gsize i = 0; i < n; i++)
    utf8_push (&s->reader, p[i], out);
  return out->len - before;
}

gsize
mor_tokenizer_stream_flush (MorTokenizerStream *s, GString *out)
{
  g_return_val_if_fail (s != NULL && out != NULL, 0);
  gsize before = out->len;
  utf8_flush (&s->reader, out);
  return out->len - before;
}

guint
mor_tokenizer_stream_pending (MorTokenizerStream *s)
{
  g_return_val_if_fail (s != NULL, 0);
  return s->reader.n;
}
