/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The talker of Qwen2.5-Omni (Qwen2_5OmniTalkerForConditionalGeneration):
 * codec codes from the thinker's hidden states, on Vulkan.
 *
 * The decoder is the thinker's code (model/llm.c, mor_llm_load_part() with
 * part "talker"): every input row is thinker-wide (embedding_size) and goes
 * through thinker_to_talker_proj, and the head is codec_head.
 *
 * Phases:
 *  1. load    mor_talker_load() reads talker.gguf (docs/model-format.md): the
 *             decoder, the codec and text ids, the speakers' bos rows and
 *             talker.text_embd (the thinker rows of tts_text_start, _end, _pad).
 *  2. session mor_talker_session_new() allocates a KV cache of n_ctx positions
 *             and a sampler.
 *  3. answer  mor_talker_session_begin() prefills the P prompt rows and the
 *             speaker row. Then, in any order:
 *             mor_talker_session_push_reply() gives the next reply row as the
 *             thinker produces it; mor_talker_session_end_reply() says that the
 *             reply is over; mor_talker_session_next() makes the next code
 *             when its input row is known, else says it needs one.
 *             Rows given one at a time give the same codes as all at once.
 *             (The prompt is prefilled before the first reply row exists, so
 *             it overlaps the thinker's first response token; row P+1 and
 *             every later row is one decode step.)
 *  4. free.
 * A MorTalker may serve several sessions; a session is used by one thread at a
 * time.
 *
 * The rows (transformers Qwen2_5OmniForConditionalGeneration.generate; all
 * rows are thinker-wide, summed before the projection; positions 0, 1, ...):
 *   0 .. P-1   prompt row i = h_i + e_i: the thinker's final-normed hidden state
 *              and input embedding of prompt token i, with e_i zeroed where the
 *              token is <|AUDIO|> (mor_talker_prompt_row());
 *   P          E_thinker(speaker bos) + E_codec(tts_codec_pad);
 *   P+1        R[0] + E_codec(tts_codec_start)               → code c_0;
 *   P+1+k      R[k] + E_codec(c_{k-1})                        → code c_k.
 * R is the reply stream: R[j] = h(g_j) + e(g_j) for the response tokens g_0,
 * g_1, ... (the thinker's end token is never given), then the thinker row of
 * tts_text_end, then that of tts_text_pad forever.
 *
 * Sampling (generate's talker defaults): the repetition penalty runs over the
 * talker's input ids [tts_codec_mask]·P + [pad, start] + the codes so far, also
 * when greedy; tts_codec_start is never drawn; generation stops at
 * tts_codec_end or tts_codec_pad, and the last generated token is always
 * dropped (the end code, or the token made at the length limit).
 */
#pragma once

#include "gguf.h"
#include "llm.h"
#include "sampler.h"
#include "vk.h"

G_BEGIN_DECLS

#define MOR_TALKER_ERROR (mor_talker_error_quark ())
GQuark mor_talker_error_quark (void);

typedef enum {
  MOR_TALKER_ERROR_FAILED,
  MOR_TALKER_ERROR_CONFIG,      /* a missing or inconsistent key, or no speakers */
  MOR_TALKER_ERROR_SPEAKER,     /* no speaker of that name */
  MOR_TALKER_ERROR_CONTEXT,     /* the prompt does not fit the session */
  MOR_TALKER_ERROR_INPUT,       /* a row that is not finite */
} MorTalkerError;

/* Hyper-parameters, Hugging Face names (Qwen2_5OmniTalkerConfig), from
 * mor.talker.*; the decoder's are in mor_llm_get_config (talker->llm). */
typedef struct {
  guint32 vocab_size;           /* codec vocabulary (8448) */
  guint32 embedding_size;       /* input row width: the thinker's hidden_size (2048) */
  guint32 tts_codec_start_token_id; /* codec bos (8293), never sampled */
  guint32 tts_codec_end_token_id;   /* codec eos (8294) */
  guint32 tts_codec_pad_token_id;   /* 8292; also ends generation */
  guint32 tts_codec_mask_token_id;  /* 8296: the prompt positions' ids (penalty only) */
  guint32 tts_text_start_token_id;  /* thinker-vocabulary ids (151860, 151861, 151859) */
  guint32 tts_text_end_token_id;
  guint32 tts_text_pad_token_id;
  guint32 audio_token_index;    /* <|AUDIO|> in the thinker vocabulary (151646) */
  guint32 n_speakers;           /* entries of mor.speakers.names (at least one) */
} MorTalkerConfig;

/* generate()'s talker defaults: do_sample, temperature 0.9, top-k 40,
 * top-p 0.8, repetition penalty 1.05 over the whole window. */
#define MOR_TALKER_SAMPLING_DEFAULT ((MorSamplerParams) { 0.9f, 40, 0.8f, 1.05f, 0, 0 })
/* Greedy decoding as generate(talker_do_sample=False) does it: the penalty stays. */
#define MOR_TALKER_SAMPLING_GREEDY ((MorSamplerParams) { 0.0f, 0, 1.0f, 1.05f, 0, 0 })
/* generate()'s talker_max_new_tokens. */
#define MOR_TALKER_MAX_NEW_TOKENS 4096

typedef struct _MorTalker MorTalker;
typedef struct _MorTalkerSession MorTalkerSession;

MorTalker *mor_talker_load (MorVkDevice *dev, MorGguf *gguf, GError **error);
void mor_talker_free (MorTalker *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorTalker, mor_talker_free)
const MorTalkerConfig *mor_talker_get_config (MorTalker *t);
/* The decoder. Returns: (transfer none) */
MorLlm *mor_talker_get_llm (MorTalker *t);
/* Speaker @i's name (i < n_speakers), and the default speaker's
 * (mor.speakers.default, else the first). Returns: (transfer none) */
const char *mor_talker_get_speaker (MorTalker *t, guint32 i);
const char *mor_talker_get_default_speaker (MorTalker *t);

/* Prompt row @out [embedding_size] = @hidden + @embedding, the embedding
 * omitted when @id is <|AUDIO|> (generate zeroes the audio rows' embeddings). */
void mor_talker_prompt_row (MorTalker *t, const float *hidden, const float *embedding, guint32 id, float *out);
/* Rows of talker.text_embd: the thinker's input embedding of these ids. */
typedef enum {
  MOR_TALKER_TEXT_START,        /* tts_text_start_token_id (not used by generate) */
  MOR_TALKER_TEXT_END,          /* tts_text_end_token_id: the reply stream after the last reply row */
  MOR_TALKER_TEXT_PAD,          /* tts_text_pad_token_id: then forever */
} MorTalkerTextRow;

/* Returns: (transfer none): text row @which [embedding_size] */
const float *mor_talker_get_text_row (MorTalker *t, MorTalkerTextRow which);

/**
 * mor_talker_session_new:
 * @t: the talker
 * @n_ctx: positions of the KV cache: an answer with a P-row prompt gets at
 *   most n_ctx − P − 1 codes
 * @sampling: the sampler's parameters (MOR_TALKER_SAMPLING_DEFAULT,
 *   _GREEDY, or others); copied
 * @max_new_tokens: generate's limit (MOR_TALKER_MAX_NEW_TOKENS); at most
 *   max_new_tokens − 1 codes come out
 * @error: return location for a #GError, or %NULL
 *
 * Returns: (transfer full): the session, or %NULL with @error set
 */
MorTalkerSession *mor_talker_session_new (MorTalker *t, guint32 n_ctx, const MorSamplerParams *sampling,
                                          guint32 max_new_tokens, GError **error);
void mor_talker_session_free (MorTalkerSession *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorTalkerSession, mor_talker_session_free)

/* Restarts the sampler's random sequence (as a new session with this seed). */
void mor_talker_session_set_seed (MorTalkerSession *s, guint64 seed);
/* Replaces the sampler's parameters (copied; e.g. between answers), restarting
 * its random sequence with @sampling's seed. */
void mor_talker_session_set_sampling (MorTalkerSession *s, const MorSamplerParams *sampling);

/**
 * mor_talker_session_begin:
 * @s: the session
 * @prompt: (array length=n_prompt): prompt rows [n_prompt, embedding_size]
 *   (see mor_talker_prompt_row())
 * @n_prompt: P, at least 1
 * @speaker: (nullable): a speaker's name; %NULL for the default
 * @error: return location for a #GError, or %NULL
 *
 * Starts an answer, forgetting any earlier one: prefills rows 0 .. P (the
 * prompt and the speaker row). Errors: MOR_TALKER_ERROR_SPEAKER,
 * MOR_TALKER_ERROR_CONTEXT when P + 2 positions do not fit, _INPUT for a row
 * that is not finite, device errors. On error the session holds no answer.
 */
gboolean mor_talker_session_begin (MorTalkerSession *s, const float *prompt, guint32 n_prompt,
                                   const char *speaker, GError **error);

/* The next reply row h(g) + e(g) [embedding_size] of response token g (copied);
 * ignored once the answer is done. Programmer error after end_reply (until the
 * next begin). Errors: MOR_TALKER_ERROR_INPUT for a row that is not finite. */
gboolean mor_talker_session_push_reply (MorTalkerSession *s, const float *row, GError **error);
/* The reply is over: after the rows given, the stream goes on with the
 * tts_text_end row, then tts_text_pad. */
void mor_talker_session_end_reply (MorTalkerSession *s);

typedef enum {
  MOR_TALKER_ERROR_STATUS = -1, /* @error is set; the answer is over */
  MOR_TALKER_CODE = 0,          /* *code is the next code (0 .. vocab_size−1; the DiT checks its range) */
  MOR_TALKER_NEED_REPLY,        /* the next code needs the next reply row (or end_reply) */
  MOR_TALKER_DONE,              /* the answer has ended: an end code, the length limit (max_new_tokens,
                                 * or the session's n_ctx), or a reply that ended before any row */
} MorTalkerStatus;

/* Makes the next code into @code (optional) if its input row is known. After
 * DONE (or before any begin), DONE again until the next begin. */
MorTalkerStatus mor_talker_session_next (MorTalkerSession *s, gint32 *code, GError **error);

/* Codes given by next() since begin; the logits [vocab_size] (before the
 * penalty) of the last one computed, NULL before the first.
 * Returns: (transfer none) */
guint32 mor_talker_session_n_codes (MorTalkerSession *s);
const float *mor_talker_session_get_logits (MorTalkerSession *s);

/**
 * mor_talker_reference_forward:
 * @t: the talker
 * @prompt: prompt rows [n_prompt, embedding_size]
 * @n_prompt: P
 * @speaker: (nullable): a speaker's name; %NULL for the default
 * @reply: reply rows [n_reply, embedding_size]; @n_reply at least 1
 * @tokens: (array length=n_tokens): the tokens made (codes, and an end code)
 * @logits: (out): [n_tokens, vocab_size]: row k is what token k was drawn from
 * @error: return location for a #GError, or %NULL
 *
 * The C reference: the rows of an answer whose tokens were @tokens, through
 * mor_llm_reference_forward_rows() in one pass (the decoder is causal, so
 * row P+1+k gives token k's logits). Slow; for tests and checks. Errors:
 * MOR_TALKER_ERROR_SPEAKER, MOR_TALKER_ERROR_INPUT for a token outside the
 * vocabulary.
 */
gboolean mor_talker_reference_forward (MorTalker *t, const float *prompt, guint32 n_prompt, const char *speaker,
                                       const float *reply, guint32 n_reply, const gint32 *tokens, guint32 n_tokens,
                                       float *logits, GError **error);

G_END_DECLS
