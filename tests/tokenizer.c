/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for model/tokenizer.c on a small hand-built byte-level vocabulary:
 * merge order, pre-tokenizer splits, added tokens, NFC, invalid UTF-8, round
 * trips, the streaming decoder, GGUF loading and every error path. The real
 * 151,643-token vocabulary is checked against a reference implementation by
 * tests/tokenizer_conformance.sh. */
#include "tokenizer.h"

#include <string.h>

/* ---- The test vocabulary ----
 * Tokens 0..255 are the byte symbols in byte order, then one token per merge
 * result, then the added tokens. Merges are written as raw text and turned
 * into the byte↔unicode alphabet here. */

static const char *const merges_raw[][2] = {
  { "l", "l" },          /* 0 */
  { "e", "ll" },         /* 1 */
  { "h", "ell" },        /* 2 */
  { "hell", "o" },       /* 3 */
  { "h", "e" },          /* 4: ranks below "l l": "hello" is h+ell+o, not he+ll+o */
  { " ", "t" },          /* 5 */
  { " t", "he" },        /* 6 */
  { " ", " " },          /* 7 */
  { "1", "2" },          /* 8: must never apply (digits split one by one) */
  { "'", "t" },          /* 9 */
  { "'", "T" },          /* 10 */
  { "\n", "\n" },        /* 11 */
  { "!", "\xC2" },       /* 12: would join "!" and U+0085 if U+0085 were not whitespace */
  { "\xE4", "\xBD" },    /* 13: the first two bytes of 你 (E4 BD A0) */
  { "\xE4\xBD", "\xA0" },/* 14: 你 */
  { "\xC3", "\xA9" },    /* 15: é (C3 A9) */
  { "!", "\xEF" },       /* 16: joins "!" and U+FEFF (EF BB BF), which is not whitespace */
  { "!", "\xE3" },       /* 17: would join "!" and U+3000 (E3 80 80) if it were not whitespace */
  { "l", "l" },          /* 18: repeated, last: keeps rank 0 */
};

static const struct {
  const char *text;
  MorTokenType type;
} added_raw[] = {
  { "<|endoftext|>", MOR_TOKEN_TYPE_CONTROL },
  { "<|im_start|>", MOR_TOKEN_TYPE_CONTROL },
  { "<|im_end|>", MOR_TOKEN_TYPE_CONTROL },
  { "<|im", MOR_TOKEN_TYPE_CONTROL },             /* a prefix of the two above: longest wins */
  { "<think>", MOR_TOKEN_TYPE_USER_DEFINED },
  { "[PAD1]", MOR_TOKEN_TYPE_UNUSED },
};

#define N_BYTES 256
#define N_MERGES G_N_ELEMENTS (merges_raw)
#define N_MERGED (N_MERGES - 1)                  /* the repeated merge adds no token */
#define FIRST_ADDED (N_BYTES + N_MERGED)
#define ID_EOT (FIRST_ADDED + 0)
#define ID_IM_START (FIRST_ADDED + 1)
#define ID_IM_END (FIRST_ADDED + 2)
#define ID_IM (FIRST_ADDED + 3)
#define ID_THINK (FIRST_ADDED + 4)
#define ID_PAD (FIRST_ADDED + 5)
#define N_TOKENS (FIRST_ADDED + G_N_ELEMENTS (added_raw))

/* GPT-2's map, written independently of the one in tokenizer.c. */
static gunichar
byte_char (guint8 b)
{
  if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)
    return b;
  guint n = 0;
  for (guint x = 0; x < b; x++)
    n += !((x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE);
  return 256 + n;
}

/* Raw bytes → the vocabulary's text for them. */
static char *
byte_level (const char *raw, gsize len)
{
  GString *s = g_string_new (NULL);
  for (gsize i = 0; i < len; i++)
    g_string_append_unichar (s, byte_char (raw[i]));
  return g_string_free (s, FALSE);
}

static char *
bl (const char *raw)
{
  return byte_level (raw, strlen (raw));
}

typedef struct {
  GPtrArray *tokens;            /* char *, NULL-terminated */
  GArray *types;                /* gint32 */
  GPtrArray *merges;            /* char *, NULL-terminated */
  MorTokenizerVocab vocab;
} TestVocab;

static void
test_vocab_free (TestVocab *v)
{
  g_ptr_array_unref (v->tokens);
  g_array_unref (v->types);
  g_ptr_array_unref (v->merges);
  g_free (v);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestVocab, test_vocab_free)

static void
test_vocab_sync (TestVocab *v)
{
  v->vocab.tokens = (const char *const *) v->tokens->pdata;
  v->vocab.n_tokens = v->tokens->len - 1;
  v->vocab.types = (const gint32 *) v->types->data;
  v->vocab.merges = (const char *const *) v->merges->pdata;
  v->vocab.n_merges = v->merges->len - 1;
}

static TestVocab *
test_vocab_new (void)
{
  TestVocab *v = g_new0 (TestVocab, 1);
  v->tokens = g_ptr_array_new_with_free_func (g_free);
  v->types = g_array_new (FALSE, FALSE, sizeof (gint32));
  v->merges = g_ptr_array_new_with_free_func (g_free);
  gint32 normal = MOR_TOKEN_TYPE_NORMAL;
  for (guint b = 0; b < N_BYTES; b++) {
    char c = b;
    g_ptr_array_add (v->tokens, byte_level (&c, 1));
    g_array_append_val (v->types, normal);
  }
  for (guint i = 0; i < N_MERGES; i++) {
    g_autofree char *left = bl (merges_raw[i][0]);
    g_autofree char *right = bl (merges_raw[i][1]);
    g_ptr_array_add (v->merges, g_strconcat (left, " ", right, NULL));
    if (i < N_MERGED) {
      g_ptr_array_add (v->tokens, g_strconcat (left, right, NULL));
      g_array_append_val (v->types, normal);
    }
  }
  for (guint i = 0; i < G_N_ELEMENTS (added_raw); i++) {
    gint32 type = added_raw[i].type;
    g_ptr_array_add (v->tokens, g_strdup (added_raw[i].text));
    g_array_append_val (v->types, type);
  }
  g_ptr_array_add (v->tokens, NULL);
  g_ptr_array_add (v->merges, NULL);
  v->vocab.model = "gpt2";
  v->vocab.pre = "qwen2";
  v->vocab.eos_id = ID_IM_END;
  v->vocab.pad_id = ID_EOT;
  v->vocab.bos_id = -1;
  test_vocab_sync (v);
  return v;
}

static MorTokenizer *
test_tokenizer (void)
{
  g_autoptr (TestVocab) v = test_vocab_new ();
  g_autoptr (GError) error = NULL;
  MorTokenizer *tok = mor_tokenizer_new (&v->vocab, &error);
  g_assert_no_error (error);
  g_assert_nonnull (tok);
  return tok;
}

/* The id of raw bytes @raw as one token. */
static gint32
id_of (MorTokenizer *tok, const char *raw)
{
  g_autofree char *text = bl (raw);
  gint32 id = mor_tokenizer_find_token (tok, text, -1);
  g_assert_cmpint (id, >=, 0);
  return id;
}

static GArray *
encode_len (MorTokenizer *tok, const char *text, gssize len, gboolean special)
{
  g_autoptr (GError) error = NULL;
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_assert_true (mor_tokenizer_encode (tok, text, len, special, ids, &error));
  g_assert_no_error (error);
  return ids;
}

static GArray *
encode (MorTokenizer *tok, const char *text)
{
  return encode_len (tok, text, -1, TRUE);
}

/* Fails unless @text encodes to the tokens whose raw texts are the
 * NULL-terminated arguments. */
static void
assert_encodes_to (MorTokenizer *tok, const char *text, ...)
{
  g_autoptr (GArray) got = encode (tok, text);
  g_autoptr (GArray) want = g_array_new (FALSE, FALSE, sizeof (gint32));
  va_list ap;
  va_start (ap, text);
  for (const char *raw; (raw = va_arg (ap, const char *)) != NULL;) {
    gint32 id = id_of (tok, raw);
    g_array_append_val (want, id);
  }
  va_end (ap);
  if (got->len != want->len || (got->len > 0 && memcmp (got->data, want->data, got->len * sizeof (gint32)) != 0)) {
    GString *msg = g_string_new (NULL);
    g_autofree char *esc = g_strescape (text, NULL);
    g_string_append_printf (msg, "“%s”: got", esc);
    for (guint i = 0; i < got->len; i++)
      g_string_append_printf (msg, " %d", g_array_index (got, gint32, i));
    g_string_append (msg, ", want");
    for (guint i = 0; i < want->len; i++)
      g_string_append_printf (msg, " %d", g_array_index (want, gint32, i));
    g_test_fail_printf ("%s", msg->str);
    g_string_free (msg, TRUE);
  }
}

static void
assert_same_ids (GArray *a, GArray *b)
{
  g_assert_cmpmem (a->data, a->len * sizeof (gint32), b->data, b->len * sizeof (gint32));
}

/* ---- Encoding ---- */

static void
test_merge_order (void)
{
  g_autoptr (MorTokenizer) tok = test_tokenizer ();
  assert_encodes_to (tok, "hello", "hello", NULL);      /* l+l, e+ll, h+ell, hell+o */
  assert_encodes_to (tok, "hel", "he", "l", NULL);
  assert_encodes_to (tok, "ell", "ell", NULL);
  assert_encodes_to (tok, "lll", "ll", "l", NULL);      /* equal ranks: leftmost first */
  assert_encodes_to (tok, "llll", "ll", "ll", NULL);
  assert_encodes_to (tok, "hello the", "hello", " the", NULL);
  assert_encodes_to (tok, "the", "t", "he", NULL);       /* no leading space: no " t" */
  assert_encodes_to (tok, "", NULL);
}

static void
test_splits (void)
{
  g_autoptr (MorTokenizer) tok = test_tokenizer ();
  /* \p{N} takes one digit at a time. */
  assert_encodes_to (tok, "123", "1", "2", "3", NULL);
  /* Contractions, case-insensitively, before letter runs. */
  assert_encodes_to (tok, "'tis", "'t", "i", "s", NULL);
  assert_encodes_to (tok, "'Tis", "'T", "i", "s", NULL);
  /* \s+(?!\S): the last space goes with the word after it. */
  assert_encodes_to (tok, "a   the", "a", "  ", " the", NULL);
  assert_encodes_to (tok, "a    ", "a", "  ", "  ", NULL);
  /* \s*[\r\n]+: spaces and the line breaks after them. */
  assert_encodes_to (tok, "a\n\nb", "a", "\n\n", "b", NULL);
  /* U+0085 is White_Space: "!" and U+0085 are separate splits. */
  assert_encodes_to (tok, "!\xC2\x85", "!", "\xC2", "\x85", NULL);
  /* U+FEFF is not: it joins the punctuation run. */
  assert_encodes_to (tok, "!\xEF\xBB\xBF", "!\xEF", "\xBB", "\xBF", NULL);
  /* U+3000 is White_Space: not part of a punctuation run either. */
  assert_encodes_to (tok, "!\xE3\x80\x80", "!", "\xE3", "\x80", "\x80", NULL);
  assert_encodes_to (tok, "你你", "你", "你", NULL);
}

static void
test_added_tokens (void)
{
  g_autoptr (MorTokenizer) tok = test_tokenizer ();
  g_autoptr (GArray) ids = encode (tok, "<|im_start|>hello<|im_end|><|im<think>");
  const gint32 want[] = { ID_IM_START, id_of (tok, "hello"), ID_IM_END, ID_IM, ID_THINK };
  g_assert_cmpmem (ids->data, ids->len * sizeof (gint32), want, sizeof want);

  /* special = FALSE: CONTROL tokens are plain text; USER_DEFINED still match. */
  g_autoptr (GArray) plain = encode_len (tok, "<|im_end|>x<think>", -1, FALSE);
  g_assert_cmpuint (plain->len, >, 2);
  for (guint i = 0; i < plain->len - 1; i++)
    g_assert_cmpint (mor_tokenizer_token_type (tok, g_array_index (plain, gint32, i)), ==, MOR_TOKEN_TYPE_NORMAL);
  g_assert_cmpint (g_array_index (plain, gint32, plain->len - 1), ==, ID_THINK);
  g_autofree char *back = mor_tokenizer_decode (tok, (gint32 *) plain->data, plain->len, FALSE, NULL);
  g_assert_cmpstr (back, ==, "<|im_end|>x<think>");

  /* UNUSED tokens never match. */
  g_autoptr (GArray) pad = encode (tok, "[PAD1]");
  g_assert_cmpuint (pad->len, ==, 6);
}

static void
test_nfc (void)
{
  g_autoptr (MorTokenizer) tok = test_tokenizer ();
  /* e + U+0301 COMBINING ACUTE composes to é (C3 A9). */
  assert_encodes_to (tok, "e\xCC\x81", "\xC3\xA9", NULL);
  assert_encodes_to (tok, "\xC3\xA9", "\xC3\xA9", NULL);
  /* A NUL inside the text survives normalization. */
  g_autoptr (GArray) ids = encode_len (tok, "e\xCC\x81\0e\xCC\x81", 7, TRUE);
  gsize len;
  g_autofree char *back = mor_tokenizer_decode (tok, (gint32 *) ids->data, ids->len, TRUE, &len);
  g_assert_cmpmem (back, len, "\xC3\xA9\0\xC3\xA9", 5);
}

static void
test_invalid_utf8 (void)
{
  g_autoptr (MorTokenizer) tok = test_tokenizer ();
  static const struct {
    const char *bad;
    const char *same_as;
  } cases[] = {
    { "a\xFF" "b", "a\xEF\xBF\xBD" "b" },
    { "\xE4\xBD", "\xEF\xBF\xBD" },                           /* truncated: one U+FFFD */
    { "\xE4\xBDX", "\xEF\xBF\xBDX" },
    { "\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" }, /* a surrogate: three */
    { "\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD" },                 /* overlong */
    { "\xF4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" }, /* > U+10FFFF */
    { "\xF0\x9F\x98", "\xEF\xBF\xBD" },
    { "<|im_end|>\xE4<|im_end|>", "<|im_end|>\xEF\xBF\xBD<|im_end|>" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GArray) a = encode (tok, cases[i].bad);
    g_autoptr (GArray) b = encode (tok, cases[i].same_as);
    assert_same_ids (a, b);
  }
}

static void
test_round_trip (void)
{
  g_autoptr (MorTokenizer) tok = test_tokenizer ();
  static const char *const texts[] = {
    "hello the world", "  leading and trailing  ", "tabs\tand\r\nCRLF\n\n\n",
    "你好，世界！", "emoji 😀👍🏽 mixed", "don't DON'T we'll I'M", "x = f(a, b) {\n    return 42;\n}",
    "<|im_start|>system\nYou are Qwen.<|im_end|>\n", "12345 67.89 ٣٤٥", "\xC3\xA9\xC3\xA8",
  };
  for (guint i = 0; i < G_N_ELEMENTS (texts); i++) {
    g_autoptr (GArray) ids = encode (tok, texts[i]);
    gsize len;
    g_autofree char *back = mor_tokenizer_decode (tok, (gint32 *) ids->data, ids->len, TRUE, &len);
    g_assert_cmpmem (back, len, texts[i], strlen (texts[i]));
  }
  /* Every byte value survives (NUL included) once it is valid UTF-8. */
  char all[128];
  for (guint b = 0; b < 128; b++)
    all[b] = b;
  g_autoptr (GArray) ids = encode_len (tok, all, 128, TRUE);
  gsize len;
  g_autofree char *back = mor_tokenizer_decode (tok, (gint32 *) ids->data, ids->len, TRUE, &len);
  g_assert_cmpmem (back, len, all, 128);
}

static void
test_decode_special (void)
{
  g_autoptr (MorTokenizer) tok = test_tokenizer ();
  const gint32 ids[] = { ID_IM_START, id_of (tok, "hello"), ID_THINK, ID_PAD, ID_IM_END, 99999, -5 };
  g_autofree char *with = mor_tokenizer_decode (tok, ids, G_N_ELEMENTS (ids), TRUE, NULL);
  g_autofree char *without = mor_tokenizer_decode (tok, ids, G_N_ELEMENTS (ids), FALSE, NULL);
  g_assert_cmpstr (with, ==, "<|im_start|>hello<think><|im_end|>");
  g_assert_cmpstr (without, ==, "hello<think>");
  gsize len = 1;
  mor_tokenizer_token_bytes (tok, ID_PAD, &len);
  g_assert_cmpuint (len, ==, 0);
  const guint8 *b = mor_tokenizer_token_bytes (tok, id_of (tok, " the"), &len);
  g_assert_cmpmem (b, len, " the", 4);
}

static void
test_accessors (void)
{
  g_autoptr (MorTokenizer) tok = test_tokenizer ();
  g_assert_cmpuint (mor_tokenizer_n_tokens (tok), ==, N_TOKENS);
  g_assert_cmpint (mor_tokenizer_eos_id (tok), ==, ID_IM_END);
  g_assert_cmpint (mor_tokenizer_pad_id (tok), ==, ID_EOT);
  g_assert_cmpint (mor_tokenizer_bos_id (tok), ==, -1);
  g_assert_false (mor_tokenizer_add_bos (tok));
  g_assert_cmpint (mor_tokenizer_find_token (tok, "<|im_end|>", -1), ==, ID_IM_END);
  g_assert_cmpint (mor_tokenizer_find_token (tok, "<|im_end|>xyz", 10), ==, ID_IM_END);
  g_assert_cmpint (mor_tokenizer_find_token (tok, "nope", -1), ==, -1);
  g_assert_cmpint (mor_tokenizer_find_token (tok, "", -1), ==, -1);
  g_assert_cmpstr (mor_tokenizer_token_text (tok, id_of (tok, " the")), ==, "\xC4\xA0the");   /* "Ġthe" */
  g_assert_null (mor_tokenizer_token_text (tok, N_TOKENS));
  g_assert_cmpint (mor_tokenizer_token_type (tok, ID_IM_START), ==, MOR_TOKEN_TYPE_CONTROL);
  g_assert_cmpint (mor_tokenizer_token_type (tok, ID_THINK), ==, MOR_TOKEN_TYPE_USER_DEFINED);
  g_assert_cmpint (mor_tokenizer_token_type (tok, 'a'), ==, MOR_TOKEN_TYPE_NORMAL);
  g_assert_cmpint (mor_tokenizer_token_type (tok, -1), ==, MOR_TOKEN_TYPE_UNUSED);
  /* Byte tokens are the 256 byte symbols: space is "Ġ", newline "Ċ". */
  g_assert_cmpstr (mor_tokenizer_token_text (tok, ' '), ==, "\xC4\xA0");
  g_assert_cmpstr (mor_tokenizer_token_text (tok, '\n'), ==, "\xC4\x8A");
  g_assert_cmpstr (mor_tokenizer_token_text (tok, 0xAD), ==, "\xC5\x83");  /* soft hyphen: U+0143 */
}

/* ---- Streaming decoder ---- */

static char *
stream_all (MorTokenizer *tok, const gint32 *ids, gsize n, gboolean special, GString *steps)
{
  g_autoptr (MorTokenizerStream) s = mor_tokenizer_stream_new (tok, special);
  GString *out = g_string_new (NULL);
  for (gsize i = 0; i < n; i++) {
    gsize before = out->len;
    gsize added = mor_tokenizer_stream_push (s, ids[i], out);
    g_assert_cmpuint (added, ==, out->len - before);
    g_assert_true (g_utf8_validate_len (out->str, out->len, NULL) || memchr (out->str, 0, out->len));
    if (steps)
      g_string_append_printf (steps, "%" G_GSIZE_FORMAT "/%u ", added, mor_tokenizer_stream_pending (s));
  }
  mor_tokenizer_stream_flush (s, out);
  g_assert_cmpuint (mor_tokenizer_stream_pending (s), ==, 0);
  return g_string_free (out, FALSE);
}

static void
test_stream (void)
{
  g_autoptr (MorTokenizer) tok = test_tokenizer ();
  gint32 e4bd = id_of (tok, "\xE4\xBD"), a0 = 0xA0, e4 = 0xE4;
  g_autoptr (GString) steps = g_string_new (NULL);

  /* 你 split over two tokens: nothing until the last byte arrives. */
  const gint32 split[] = { 'a', e4bd, a0, 'b' };
  g_autofree char *s1 = stream_all (tok, split, G_N_ELEMENTS (split), TRUE, steps);
  g_assert_cmpstr (s1, ==, "a你b");
  g_assert_cmpstr (steps->str, ==, "1/0 0/2 3/0 1/0 ");

  /* 😀 (F0 9F 98 80) one byte per token. */
  const gint32 emoji[] = { 0xF0, 0x9F, 0x98, 0x80 };
  g_string_truncate (steps, 0);
  g_autofree char *s2 = stream_all (tok, emoji, G_N_ELEMENTS (emoji), TRUE, steps);
  g_assert_cmpstr (s2, ==, "😀");
  g_assert_cmpstr (steps->str, ==, "0/1 0/2 0/3 4/0 ");

  /* A byte that cannot continue: U+FFFD for the held bytes at once, and the
   * byte starts afresh. */
  const gint32 broken[] = { e4bd, 'x' };
  g_string_truncate (steps, 0);
  g_autofree char *s3 = stream_all (tok, broken, G_N_ELEMENTS (broken), TRUE, steps);
  g_assert_cmpstr (s3, ==, "\xEF\xBF\xBDx");
  g_assert_cmpstr (steps->str, ==, "0/2 4/0 ");

  /* A byte that starts nothing: U+FFFD at once, never held. */
  const gint32 lone[] = { 0xFF, 0x80, 'y' };
  g_string_truncate (steps, 0);
  g_autofree char *s4 = stream_all (tok, lone, G_N_ELEMENTS (lone), TRUE, steps);
  g_assert_cmpstr (s4, ==, "\xEF\xBF\xBD\xEF\xBF\xBDy");
  g_assert_cmpstr (steps->str, ==, "3/0 3/0 1/0 ");

  /* The stream ends inside a character: flush gives one U+FFFD. */
  const gint32 cut[] = { 'z', e4 };
  g_autofree char *s5 = stream_all (tok, cut, G_N_ELEMENTS (cut), TRUE, NULL);
  g_assert_cmpstr (s5, ==, "z\xEF\xBF\xBD");

  /* E0 80: 80 is outside E0's second-byte range (no overlong forms). */
  const gint32 overlong[] = { 0xE0, 0x80, 0x80 };
  g_autofree char *s6 = stream_all (tok, overlong, G_N_ELEMENTS (overlong), TRUE, NULL);
  g_assert_cmpstr (s6, ==, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");

  /* Skipped CONTROL tokens do not interrupt a character; written ones do
   * (their text cannot continue it). */
  const gint32 around[] = { e4bd, ID_IM_END, a0 };
  g_autofree char *s7 = stream_all (tok, around, G_N_ELEMENTS (around), FALSE, NULL);
  g_assert_cmpstr (s7, ==, "你");
  g_autofree char *s8 = stream_all (tok, around, G_N_ELEMENTS (around), TRUE, NULL);
  g_assert_cmpstr (s8, ==, "\xEF\xBF\xBD<|im_end|>\xEF\xBF\xBD");
}

/* Random byte-token streams: the output is valid UTF-8, and for a stream of
 * valid UTF-8 it equals the whole decode. */
static void
test_stream_random (void)
{
  g_autoptr (MorTokenizer) tok = test_tokenizer ();
  GRand *rand = g_rand_new_with_seed (7);
  for (guint iter = 0; iter < 2000; iter++) {
    gint32 ids[12];
    guint n = g_rand_int_range (rand, 1, 12);
    for (guint i = 0; i < n; i++)
      ids[i] = g_rand_boolean (rand) ? g_rand_int_range (rand, 0x80, 0x100) : g_rand_int_range (rand, 0x20, 0x7F);
    g_autofree char *streamed = stream_all (tok, ids, n, TRUE, NULL);
    g_assert_true (g_utf8_validate (streamed, -1, NULL));
    gsize len;
    g_autofree char *whole = mor_tokenizer_decode (tok, ids, n, TRUE, &len);
    if (g_utf8_validate_len (whole, len, NULL))
      g_assert_cmpstr (streamed, ==, whole);
    /* Encoding the raw bytes replaces invalid UTF-8 the same way. */
    g_autoptr (GArray) a = encode_len (tok, whole, len, TRUE);
    g_autoptr (GArray) b = encode (tok, streamed);
    assert_same_ids (a, b);
  }
  g_rand_free (rand);
}

/* ---- Errors ---- */

static void
expect_error (TestVocab *v, gint code, const char *needle)
{
  g_autoptr (GError) error = NULL;
  test_vocab_sync (v);
  g_autoptr (MorTokenizer) tok = mor_tokenizer_new (&v->vocab, &error);
  g_assert_null (tok);
  g_assert_error (error, MOR_TOKENIZER_ERROR, code);
  if (strstr (error->message, needle) == NULL)
    g_test_fail_printf ("“%s” does not name “%s”", error->message, needle);
}

static void
test_errors (void)
{
  {
    g_autoptr (TestVocab) v = test_vocab_new ();
    v->vocab.model = "llama";
    expect_error (v, MOR_TOKENIZER_ERROR_UNSUPPORTED, "“llama”");
  }
  {
    g_autoptr (TestVocab) v = test_vocab_new ();
    v->vocab.pre = "deepseek-llm";
    expect_error (v, MOR_TOKENIZER_ERROR_UNSUPPORTED, "“deepseek-llm”");
  }
  {
    g_autoptr (TestVocab) v = test_vocab_new ();
    g_ptr_array_insert (v->merges, 3, g_strdup ("h zz"));
    expect_error (v, MOR_TOKENIZER_ERROR_BAD_MERGE, "merge 3 “h zz”");
  }
  {
    g_autoptr (TestVocab) v = test_vocab_new ();
    g_ptr_array_insert (v->merges, 0, g_strdup ("hello"));
    expect_error (v, MOR_TOKENIZER_ERROR_BAD_MERGE, "merge 0 “hello”");
  }
  {
    g_autoptr (TestVocab) v = test_vocab_new ();
    g_ptr_array_insert (v->merges, 0, g_strdup ("x y"));      /* "xy" is not a token */
    expect_error (v, MOR_TOKENIZER_ERROR_BAD_MERGE, "“xy”");
  }
  {
    g_autoptr (TestVocab) v = test_vocab_new ();
    g_free (v->tokens->pdata['q']);
    v->tokens->pdata['q'] = g_strdup ("not-q");
    expect_error (v, MOR_TOKENIZER_ERROR_BAD_VOCAB, "byte 0x71");
  }
  {
    g_autoptr (TestVocab) v = test_vocab_new ();
    g_array_index (v->types, gint32, 260) = 9;
    expect_error (v, MOR_TOKENIZER_ERROR_BAD_VOCAB, "token 260");
  }
  {
    g_autoptr (TestVocab) v = test_vocab_new ();
    v->vocab.eos_id = N_TOKENS;
    expect_error (v, MOR_TOKENIZER_ERROR_BAD_VOCAB, "tokenizer.ggml.eos_token_id");
  }
}

/* ---- GGUF ---- */

static MorGgufWriter *
gguf_writer_for (TestVocab *v, const char *skip)
{
  MorGgufWriter *w = mor_gguf_writer_new ();
  if (g_strcmp0 (skip, "tokenizer.ggml.model") != 0)
    mor_gguf_writer_add_string (w, "tokenizer.ggml.model", v->vocab.model);
  if (g_strcmp0 (skip, "tokenizer.ggml.pre") != 0)
    mor_gguf_writer_add_string (w, "tokenizer.ggml.pre", v->vocab.pre);
  if (g_strcmp0 (skip, "tokenizer.ggml.tokens") != 0)
    mor_gguf_writer_add_string_array (w, "tokenizer.ggml.tokens", v->vocab.tokens, v->vocab.n_tokens);
  if (g_strcmp0 (skip, "tokenizer.ggml.token_type") != 0)
    mor_gguf_writer_add_array (w, "tokenizer.ggml.token_type", MOR_GGUF_VALUE_INT32, v->vocab.types,
                               v->vocab.n_tokens);
  if (g_strcmp0 (skip, "tokenizer.ggml.merges") != 0)
    mor_gguf_writer_add_string_array (w, "tokenizer.ggml.merges", v->vocab.merges, v->vocab.n_merges);
  if (g_strcmp0 (skip, "tokenizer.ggml.eos_token_id") != 0)
    mor_gguf_writer_add_u32 (w, "tokenizer.ggml.eos_token_id", v->vocab.eos_id);
  if (g_strcmp0 (skip, "tokenizer.ggml.padding_token_id") != 0)
    mor_gguf_writer_add_u32 (w, "tokenizer.ggml.padding_token_id", v->vocab.pad_id);
  return w;
}

static MorTokenizer *
load_gguf (MorGgufWriter *w, GError **error)
{
  g_autoptr (GBytes) bytes = mor_gguf_writer_to_bytes (w);
  g_autoptr (GError) gguf_error = NULL;
  g_autoptr (MorGguf) gguf = mor_gguf_new_from_bytes (bytes, &gguf_error);
  g_assert_no_error (gguf_error);
  return mor_tokenizer_new_from_gguf (gguf, error);
}

static void
test_gguf (void)
{
  g_autoptr (TestVocab) v = test_vocab_new ();
  g_autoptr (MorGgufWriter) w = gguf_writer_for (v, NULL);
  mor_gguf_writer_add_u32 (w, "tokenizer.ggml.bos_token_id", ID_IM_START);
  mor_gguf_writer_add_bool (w, "tokenizer.ggml.add_bos_token", TRUE);
  g_autoptr (GError) error = NULL;
  g_autoptr (MorTokenizer) tok = load_gguf (w, &error);
  g_assert_no_error (error);
  g_autoptr (MorTokenizer) ref = test_tokenizer ();
  g_assert_cmpuint (mor_tokenizer_n_tokens (tok), ==, N_TOKENS);
  g_assert_cmpint (mor_tokenizer_eos_id (tok), ==, ID_IM_END);
  g_assert_cmpint (mor_tokenizer_pad_id (tok), ==, ID_EOT);
  g_assert_cmpint (mor_tokenizer_bos_id (tok), ==, ID_IM_START);
  g_assert_true (mor_tokenizer_add_bos (tok));
  const char *text = "<|im_start|>hello the 你好 'Tis 123\n\n<think>";
  g_autoptr (GArray) a = encode (tok, text);
  g_autoptr (GArray) b = encode (ref, text);
  assert_same_ids (a, b);
}

static void
test_gguf_errors (void)
{
  g_autoptr (TestVocab) v = test_vocab_new ();
  static const char *const required[] = {
    "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
    "tokenizer.ggml.merges", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.padding_token_id",
  };
  for (guint i = 0; i < G_N_ELEMENTS (required); i++) {
    g_autoptr (MorGgufWriter) w = gguf_writer_for (v, required[i]);
    g_autoptr (GError) error = NULL;
    g_autoptr (MorTokenizer) tok = load_gguf (w, &error);
    g_assert_null (tok);
    g_assert_error (error, MOR_TOKENIZER_ERROR, MOR_TOKENIZER_ERROR_MISSING_KEY);
    g_assert_nonnull (strstr (error->message, required[i]));
  }
  {
    g_autoptr (MorGgufWriter) w = gguf_writer_for (v, "tokenizer.ggml.pre");
    mor_gguf_writer_add_string (w, "tokenizer.ggml.pre", "llama3");
    g_autoptr (GError) error = NULL;
    g_autoptr (MorTokenizer) tok = load_gguf (w, &error);
    g_assert_null (tok);
    g_assert_error (error, MOR_TOKENIZER_ERROR, MOR_TOKENIZER_ERROR_UNSUPPORTED);
    g_assert_nonnull (strstr (error->message, "“llama3”"));
  }
  {
    g_autoptr (MorGgufWriter) w = gguf_writer_for (v, "tokenizer.ggml.tokens");
    mor_gguf_writer_add_u32 (w, "tokenizer.ggml.tokens", 3);
    g_autoptr (GError) error = NULL;
    g_autoptr (MorTokenizer) tok = load_gguf (w, &error);
    g_assert_null (tok);
    g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE);
  }
  {
    g_autoptr (MorGgufWriter) w = gguf_writer_for (v, "tokenizer.ggml.token_type");
    mor_gguf_writer_add_array (w, "tokenizer.ggml.token_type", MOR_GGUF_VALUE_INT32, v->vocab.types, 10);
    g_autoptr (GError) error = NULL;
    g_autoptr (MorTokenizer) tok = load_gguf (w, &error);
    g_assert_null (tok);
    g_assert_error (error, MOR_TOKENIZER_ERROR, MOR_TOKENIZER_ERROR_BAD_VOCAB);
    g_assert_nonnull (strstr (error->message, "tokenizer.ggml.token_type"));
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tokenizer/merge-order", test_merge_order);
  g_test_add_func ("/tokenizer/splits", test_splits);
  g_test_add_func ("/tokenizer/added-tokens", test_added_tokens);
  g_test_add_func ("/tokenizer/nfc", test_nfc);
  g_test_add_func ("/tokenizer/invalid-utf8", test_invalid_utf8);
  g_test_add_func ("/tokenizer/round-trip", test_round_trip);
  g_test_add_func ("/tokenizer/decode-special", test_decode_special);
  g_test_add_func ("/tokenizer/accessors", test_accessors);
  g_test_add_func ("/tokenizer/stream", test_stream);
  g_test_add_func ("/tokenizer/stream-random", test_stream_random);
  g_test_add_func ("/tokenizer/errors", test_errors);
  g_test_add_func ("/tokenizer/gguf", test_gguf);
  g_test_add_func ("/tokenizer/gguf-errors", test_gguf_errors);
  return g_test_run ();
}
