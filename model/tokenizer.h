/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The thinker's tokenizer: byte-level BPE as GPT-2 and Qwen2 define it
 * (GGUF tokenizer.ggml.model "gpt2", tokenizer.ggml.pre "qwen2"; Hugging Face
 * tokenizer.json of Qwen2/2.5/3: NFC normalizer, Split on the Qwen2 regex,
 * ByteLevel, BPE). Token ids: shared/reference qwen2.5-omni.md §4.
 *
 * Encoding, in the order Hugging Face `tokenizers` applies it:
 *  1. invalid UTF-8 in the input becomes U+FFFD, one per maximal subpart (the
 *     Unicode/WHATWG rule; Python's errors="replace" and JS TextDecoder do the same),
 *  2. added tokens (type USER_DEFINED always, CONTROL when @special is TRUE) are
 *     cut out first, leftmost-longest, and become their own id,
 *  3. each piece between them is NFC-normalized and split by the Qwen2
 *     pre-tokenizer regex, with \s meaning the Unicode White_Space property,
 *  4. each split's UTF-8 bytes become one symbol per byte (GPT-2's byte↔unicode
 *     map) and are merged pairwise, lowest merge rank first, leftmost on ties.
 *
 * Decoding maps each token back to the bytes it stands for. A decoded string
 * may hold incomplete UTF-8 where a character is split across tokens;
 * MorTokenizerStream turns a token stream into valid UTF-8 piece by piece.
 *
 * A MorTokenizer is immutable after construction and may be used from several
 * threads at once; a MorTokenizerStream belongs to one thread. */
#pragma once

#include <glib.h>

#include "gguf.h"

G_BEGIN_DECLS

#define MOR_TOKENIZER_ERROR (mor_tokenizer_error_quark ())
GQuark mor_tokenizer_error_quark (void);

typedef enum {
  MOR_TOKENIZER_ERROR_FAILED,       /* anything else (a regex match error) */
  MOR_TOKENIZER_ERROR_MISSING_KEY,  /* a required GGUF key is absent */
  MOR_TOKENIZER_ERROR_UNSUPPORTED,  /* tokenizer model or pre-tokenizer other than gpt2/qwen2 */
  MOR_TOKENIZER_ERROR_BAD_VOCAB,    /* token list: counts differ, empty or unknown-type token,
                                     * missing byte token, special id out of range */
  MOR_TOKENIZER_ERROR_BAD_MERGE,    /* a merge that is not "a b" over known tokens */
} MorTokenizerError;

/* Token types, numbered as in GGUF tokenizer.ggml.token_type (llama.cpp's
 * llama_token_type, gguf-py's TokenType). */
typedef enum {
  MOR_TOKEN_TYPE_UNDEFINED = 0,     /* treated as NORMAL */
  MOR_TOKEN_TYPE_NORMAL = 1,        /* a BPE token, text in GPT-2's byte↔unicode alphabet */
  MOR_TOKEN_TYPE_UNKNOWN = 2,
  MOR_TOKEN_TYPE_CONTROL = 3,       /* special: <|im_start|>, <|AUDIO|>, … (HF "special": true) */
  MOR_TOKEN_TYPE_USER_DEFINED = 4,  /* added, not special: <think> (HF "special": false) */
  MOR_TOKEN_TYPE_UNUSED = 5,        /* a padding row of the embedding: never produced, decodes to nothing */
  MOR_TOKEN_TYPE_BYTE = 6,          /* treated as NORMAL */
} MorTokenType;

/* The Qwen2 pre-tokenizer regex as tokenizer.json writes it (used to recognise it). */
#define MOR_TOKENIZER_QWEN2_REGEX \
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

/* Everything a tokenizer is built from, as GGUF stores it. */
typedef struct {
  const char *model;              /* tokenizer.ggml.model: only "gpt2" */
  const char *pre;                /* tokenizer.ggml.pre: only "qwen2" */
  const char *const *tokens;      /* (n_tokens) NUL-terminated token texts; NORMAL tokens in the
                                   * byte↔unicode alphabet ("Ġthe"), others as plain text */
  const gint32 *types;            /* (n_tokens) MorTokenType values, or NULL: all NORMAL */
  guint n_tokens;
  const char *const *merges;      /* (n_merges) "left right", rank = index */
  guint n_merges;
  gint32 eos_id;                  /* -1: none */
  gint32 pad_id;                  /* -1: none */
  gint32 bos_id;                  /* -1: none */
  gboolean add_bos;               /* tokenizer.ggml.add_bos_token */
} MorTokenizerVocab;

typedef struct _MorTokenizer MorTokenizer;

/**
 * mor_tokenizer_new:
 * @vocab: the vocabulary; copied, so it may be freed after the call
 * @error: return location for a #GError, or %NULL
 *
 * Checks and indexes the vocabulary. Every one of the 256 byte symbols must
 * be a token, every merge must name two tokens and their concatenation must
 * be a token; a merge listed twice keeps its first rank. When two tokens have
 * the same text, text lookups find the lower id.
 *
 * Returns: (transfer full): the tokenizer, or %NULL with @error set
 * (MOR_TOKENIZER_ERROR_UNSUPPORTED naming the model or pre value, _BAD_VOCAB
 * or _BAD_MERGE naming the token or merge and its index).
 */
MorTokenizer *mor_tokenizer_new (const MorTokenizerVocab *vocab, GError **error);

/**
 * mor_tokenizer_new_from_gguf:
 * @gguf: an open GGUF file
 * @error: return location for a #GError, or %NULL
 *
 * Reads tokenizer.ggml.{model, pre, tokens, token_type, merges,
 * eos_token_id, padding_token_id} and the optional bos_token_id and
 * add_bos_token (default: none, FALSE), then as mor_tokenizer_new().
 * Loading the 151,669-token Qwen vocabulary with its 151,387 merges takes
 * about 75 ms of CPU time (hash tables for texts and merge pairs).
 *
 * Returns: (transfer full): the tokenizer, or %NULL with @error set: a missing
 * key is MOR_TOKENIZER_ERROR_MISSING_KEY naming the file and the key; a key of
 * the wrong type keeps the GGUF reader's error (MOR_GGUF_ERROR_TYPE).
 */
MorTokenizer *mor_tokenizer_new_from_gguf (MorGguf *gguf, GError **error);

MorTokenizer *mor_tokenizer_ref (MorTokenizer *tok);
void mor_tokenizer_unref (MorTokenizer *tok);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorTokenizer, mor_tokenizer_unref)

guint mor_tokenizer_n_tokens (MorTokenizer *tok);
/* -1 where the vocabulary names none. */
gint32 mor_tokenizer_eos_id (MorTokenizer *tok);
gint32 mor_tokenizer_pad_id (MorTokenizer *tok);
gint32 mor_tokenizer_bos_id (MorTokenizer *tok);
/* Whether prompts should start with the BOS token; mor_tokenizer_encode() never adds it. */
gboolean mor_tokenizer_add_bos (MorTokenizer *tok);

/* The type of @id; UNUSED for ids outside the vocabulary. */
MorTokenType mor_tokenizer_token_type (MorTokenizer *tok, gint32 id);
/* Returns: (transfer none): the text of @id as the vocabulary holds it
 * ("Ġthe", "<|im_end|>"), NUL-terminated; NULL for ids outside the vocabulary. */
const char *mor_tokenizer_token_text (MorTokenizer *tok, gint32 id);
/* The id whose vocabulary text is exactly @text (@len bytes, or NUL-terminated
 * if @len < 0), e.g. "<|AUDIO|>"; -1 if there is none. */
gint32 mor_tokenizer_find_token (MorTokenizer *tok, const char *text, gssize len);
/* The character GPT-2's byte-level alphabet writes byte @byte as (' ' → 'Ġ',
 * '\n' → 'Ċ', printable Latin-1 bytes as themselves): how NORMAL token texts
 * spell bytes, for tools that build vocabularies. */
gunichar mor_tokenizer_byte_symbol (guint8 byte);

/**
 * mor_tokenizer_encode:
 * @tok: the tokenizer
 * @text: bytes to encode; need not be valid UTF-8 (see the top of this file)
 * @len: bytes of @text, or -1 if it is NUL-terminated
 * @special: whether CONTROL tokens written in @text (e.g. "<|im_end|>") become
 *   their id; when FALSE they are encoded as plain text. USER_DEFINED tokens
 *   are always recognised, as in Hugging Face and llama.cpp.
 * @ids: (element-type gint32): array the ids are appended to
 * @error: return location for a #GError, or %NULL
 *
 * No BOS is added. Returns: FALSE only if the regex engine fails on the input
 * (MOR_TOKENIZER_ERROR_FAILED), with the ids of the text before it appended.
 */
gboolean mor_tokenizer_encode (MorTokenizer *tok, const char *text, gssize len, gboolean special,
                               GArray *ids, GError **error);

/* Returns: (transfer none): the bytes token @id stands for, @len of them (not
 * NUL-terminated). NORMAL tokens give their byte-level decoding, CONTROL,
 * USER_DEFINED and UNKNOWN tokens their text; UNUSED tokens and ids outside
 * the vocabulary give nothing (@len 0). */
const guint8 *mor_tokenizer_token_bytes (MorTokenizer *tok, gint32 id, gsize *len);

/**
 * mor_tokenizer_decode:
 * @tok: the tokenizer
 * @ids: (array length=n_ids): token ids
 * @n_ids: how many
 * @special: whether CONTROL tokens are written as their text (FALSE: skipped)
 * @len: (out) (optional): bytes in the result, without the terminating NUL
 *
 * Concatenates mor_tokenizer_token_bytes(). The result may be invalid UTF-8
 * (a character cut at either end, or a model that emits a bad byte sequence).
 *
 * Returns: (transfer full): the bytes, NUL-terminated; g_free() it.
 */
char *mor_tokenizer_decode (MorTokenizer *tok, const gint32 *ids, gsize n_ids, gboolean special,
                            gsize *len);

/* ---- Streaming decoder ---- */

typedef struct _MorTokenizerStream MorTokenizerStream;

/* A decoder for one token stream. Keeps a reference to @tok. @special as in
 * mor_tokenizer_decode(). Returns: (transfer full). */
MorTokenizerStream *mor_tokenizer_stream_new (MorTokenizer *tok, gboolean special);
void mor_tokenizer_stream_free (MorTokenizerStream *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorTokenizerStream, mor_tokenizer_stream_free)

/* Appends to @out the text that token @id completes: always valid UTF-8.
 * Bytes that start a multi-byte character are held back (at most 3) until it
 * completes; a byte that cannot continue them turns the held bytes into one
 * U+FFFD at once, and bytes that can start nothing become U+FFFD at once, so
 * nothing waits for more than an incomplete character. The output equals
 * decoding the whole stream with the Unicode/WHATWG replacement rule.
 * Returns: bytes appended. */
gsize mor_tokenizer_stream_push (MorTokenizerStream *s, gint32 id, GString *out);
/* Ends the stream: held bytes become one U+FFFD. The stream can be reused. */
gsize mor_tokenizer_stream_flush (MorTokenizerStream *s, GString *out);
/* Bytes held back, 0..3. */
guint mor_tokenizer_stream_pending (MorTokenizerStream *s);

G_END_DECLS
