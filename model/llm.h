/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The thinker: a Qwen2 decoder (the Qwen2.5-Omni thinker) on Vulkan. The
 * talker's decoder is the same code, loaded with mor_llm_load_part().
 *
 * Phases:
 *  1. load   mor_llm_load() reads a GGUF in llama.cpp's layout (architecture
 *            `qwen2`, or `qwen2vl` as llama.cpp writes the Qwen2.5-Omni
 *            thinker; with audio and text only its M-RoPE is plain 1-D NeoX
 *            RoPE) and uploads the weights once. mor_llm_load_part() reads
 *            a decoder of mor's layout (`talker.*` in talker.gguf), whose
 *            input rows are embedding_size wide and go through an input
 *            projection to hidden_size first.
 *  2. session mor_llm_session_new() allocates the KV cache and activations for
 *            a context of n_ctx positions and records the decode step.
 *  3. prefill mor_llm_session_prefill() runs rows at the next positions by
 *            matrix-matrix products; a row is a token id or an external
 *            embedding (the audio encoder's output).
 *  4. step   mor_llm_session_decode() runs one token (or _decode_row() one
 *            external row) by matrix-vector products, replaying the decode
 *            stream recorded in phase 2.
 *  After 3 or 4, the session holds for the last row (and, from a prefill, for
 *  every row) the final-normed hidden state, the input embedding and the
 *  logits: what the sampler and the talker need.
 *  5. free   mor_llm_session_free(), mor_llm_free().
 *
 * Input rows are built on the host: a token's embedding row is dequantized
 * from the mapped file (a few KiB), an audio row is copied. The prefill
 * recording therefore does not depend on which rows are audio, and the input
 * embedding the talker needs is at hand without a read-back.
 */
#pragma once

#include "gguf.h"
#include "vk.h"

G_BEGIN_DECLS

#define MOR_LLM_ERROR (mor_llm_error_quark ())
GQuark mor_llm_error_quark (void);

typedef enum {
  MOR_LLM_ERROR_FAILED,
  MOR_LLM_ERROR_ARCHITECTURE, /* general.architecture is not one the thinker runs */
  MOR_LLM_ERROR_CONFIG,       /* a missing or inconsistent hyper-parameter */
  MOR_LLM_ERROR_CONTEXT,      /* the rows would run past the session's n_ctx */
  MOR_LLM_ERROR_INPUT,        /* a token id outside the vocabulary */
} MorLlmError;

/* Hyper-parameters, Hugging Face names (Qwen2Config), read from GGUF: the
 * thinker's from {arch}.* (llama.cpp), a part's from mor.<part>.<name>. */
typedef struct {
  char architecture[16];          /* "qwen2" or "qwen2vl"; a part's name ("talker") */
  guint32 embedding_size;         /* width of input rows and token embeddings: hidden_size, or
                                   * mor.<part>.embedding_size (the talker's is the thinker's width) */
  guint32 hidden_size;            /* {arch}.embedding_length */
  guint32 intermediate_size;      /* {arch}.feed_forward_length */
  guint32 num_hidden_layers;      /* {arch}.block_count */
  guint32 num_attention_heads;    /* {arch}.attention.head_count */
  guint32 num_key_value_heads;    /* {arch}.attention.head_count_kv */
  guint32 head_dim;               /* hidden_size / num_attention_heads; a part's mor.<part>.head_dim */
  guint32 rope_dim;               /* {arch}.rope.dimension_count, default head_dim; a part's: head_dim */
  guint32 vocab_size;             /* rows of token_embd.weight; a part's mor.<part>.vocab_size */
  guint32 max_position_embeddings; /* {arch}.context_length */
  float rms_norm_eps;             /* {arch}.attention.layer_norm_rms_epsilon */
  float rope_theta;               /* {arch}.rope.freq_base */
  gboolean tie_word_embeddings;   /* no output.weight: the head is token_embd */
} MorLlmConfig;

typedef struct _MorLlm MorLlm;
typedef struct _MorLlmSession MorLlmSession;

MorLlm *mor_llm_load (MorVkDevice *dev, MorGguf *gguf, GError **error);
MorLlm *mor_llm_load_part (MorVkDevice *dev, MorGguf *gguf, const char *part, GError **error);
void mor_llm_free (MorLlm *llm);
const MorLlmConfig *mor_llm_get_config (MorLlm *llm);
MorGguf *mor_llm_get_gguf (MorLlm *llm);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorLlm, mor_llm_free)

/* The input embedding of token @id (embedding_size floats) into @out. */
void mor_llm_embed_token (MorLlm *llm, guint32 id, float *out);

MorLlmSession *mor_llm_session_new (MorLlm *llm, guint32 n_ctx, GError **error);
void mor_llm_session_free (MorLlmSession *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorLlmSession, mor_llm_session_free)

/* Positions used so far (the next row goes to this position). */
guint32 mor_llm_session_get_pos (MorLlmSession *s);
/* Forgets positions >= @pos (0: a fresh context). */
void mor_llm_session_truncate (MorLlmSession *s, guint32 pos);

/* Rows of one prefill call: row i is token ids[i], or, where @embeds is given
 * and is_embed[i] is TRUE, the external embedding embeds[i·embedding_size ..]
 * (@ids may be NULL when every row is external).
 * With @all_logits, logits are computed for every row (for checks: n ×
 * vocab_size floats); otherwise only for the last. */
gboolean mor_llm_session_prefill (MorLlmSession *s, const guint32 *ids, const float *embeds,
                                  const gboolean *is_embed, guint32 n, gboolean all_logits,
                                  GError **error);
/* One token at the next position. */
gboolean mor_llm_session_decode (MorLlmSession *s, guint32 id, GError **error);
/* One external input row (embedding_size floats) at the next position. */
gboolean mor_llm_session_decode_row (MorLlmSession *s, const float *row, GError **error);

/* Results of the last prefill or decode, valid until the next call; row i of
 * n_rows (1 after a decode). Returns: (transfer none) */
guint32 mor_llm_session_n_rows (MorLlmSession *s);
const float *mor_llm_session_get_logits (MorLlmSession *s, guint32 row);     /* [vocab_size] */
const float *mor_llm_session_get_hidden (MorLlmSession *s, guint32 row);     /* [hidden_size], final-normed */
const float *mor_llm_session_get_embedding (MorLlmSession *s, guint32 row);  /* [embedding_size] */

/* The C reference forward: the same sequence of ops on the host, for @n token
 * ids from position 0, writing logits [n, vocab_size] and final-normed hidden
 * states [n, hidden_size] (either may be NULL). Slow; for tests and checks. */
gboolean mor_llm_reference_forward (MorLlm *llm, const guint32 *ids, guint32 n, float *logits,
                                    float *hidden, GError **error);
/* The same for @n input rows [n, embedding_size] from position 0. */
void mor_llm_reference_forward_rows (MorLlm *llm, const float *rows, guint32 n, float *logits, float *hidden);

G_END_DECLS
