/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The thinking-in-speaking scheduler (Mini-Omni-Reasoner, arXiv 2508.15827):
 * which stream the next generated token belongs to, what the sampler may draw
 * there, and when an answer ends. docs/interleave.md explains the schedule.
 *
 * Slots. An answer is a sequence of steps; each step is one slot of the
 * response stream (the words the talker speaks) or of the reasoning stream
 * (silent). `interleaved` runs cycles of p response slots then q reasoning
 * slots; `think-first` gives every slot to reasoning until it ends, then to
 * the response (the paper's baseline); `speak-only` has response slots only.
 *
 * Control tokens. Each stream has an end token and a pad token. In a slot,
 * the other stream's end and pad tokens and the own pad token are denied;
 * sampling the own end token ends that stream. Once a stream has ended its
 * slots are filled with its pad token, forced (not sampled) and not emitted,
 * until the other stream ends too. The model's end token (`<|im_end|>`) ends
 * the whole answer wherever it is sampled, unless it is the slot's own stream
 * end (a plain Qwen2.5-Omni in speak-only ends its response with it).
 * The answer also ends at max_tokens steps (forced pads count: they occupy
 * the context).
 *
 * Call order:
 *  1. mor_interleave_config_from_gguf() reads mor.interleave.* (defaults
 *     when absent), the caller overrides fields from its settings and
 *     mor_interleave_config_resolve() checks them and picks the schedule.
 *  2. mor_interleave_new() once per answer.
 *  3. Per step: mor_interleave_next() tells the slot; either the caller
 *     samples itself (mor_interleave_choose() then mor_interleave_commit())
 *     or mor_interleave_step() does sampling, commit and the decode of the
 *     token into a thinker session in one call.
 *  4. mor_interleave_is_done() / _get_end() after each step.
 * Everything here is host code; a MorInterleave belongs to one thread. */
#pragma once

#include <glib.h>

#include "gguf.h"
#include "llm.h"
#include "sampler.h"
#include "tokenizer.h"

G_BEGIN_DECLS

#define MOR_INTERLEAVE_ERROR (mor_interleave_error_quark ())
GQuark mor_interleave_error_quark (void);

typedef enum {
  MOR_INTERLEAVE_ERROR_FAILED,
  MOR_INTERLEAVE_ERROR_CONFIG,   /* an inconsistent or incomplete schedule; the message says which part */
  MOR_INTERLEAVE_ERROR_TOKEN,    /* a control token that is not one token of the vocabulary */
} MorInterleaveError;

typedef enum {
  MOR_INTERLEAVE_AUTO,           /* interleaved when the control tokens are known, else speak-only */
  MOR_INTERLEAVE_INTERLEAVED,    /* cycles of p response then q reasoning slots */
  MOR_INTERLEAVE_THINK_FIRST,    /* all reasoning, then the response */
  MOR_INTERLEAVE_SPEAK_ONLY,     /* response slots only */
} MorInterleaveSchedule;

typedef enum {
  MOR_INTERLEAVE_RESPONSE = 0,
  MOR_INTERLEAVE_REASONING = 1,
} MorInterleaveStream;

typedef enum {
  MOR_INTERLEAVE_END_NONE,       /* still running */
  MOR_INTERLEAVE_END_STREAMS,    /* both streams sampled their end token */
  MOR_INTERLEAVE_END_TOKEN,      /* the model's end token */
  MOR_INTERLEAVE_END_MAX_TOKENS, /* max_tokens steps */
  MOR_INTERLEAVE_END_CONTEXT,    /* the session's context is full */
} MorInterleaveEnd;

/* Names used in messages and docs: "auto", "interleaved", "think-first", "speak-only". */
const char *mor_interleave_schedule_name (MorInterleaveSchedule schedule);
/* "response", "reasoning". */
const char *mor_interleave_stream_name (MorInterleaveStream stream);
/* "running", "streams-ended", "end-token", "max-tokens", "context". */
const char *mor_interleave_end_name (MorInterleaveEnd end);

typedef struct {
  MorInterleaveSchedule schedule;
  guint32 response_tokens;       /* p: response slots a cycle, >= 1 */
  guint32 reasoning_tokens;      /* q: reasoning slots a cycle, >= 0 (0: no reasoning) */
  gint32 response_end_id;        /* -1: none */
  gint32 reasoning_end_id;
  gint32 response_pad_id;
  gint32 reasoning_pad_id;
  gint32 eos_id;                 /* the model's end token (<|im_end|>); -1: none */
  guint32 max_tokens;            /* steps an answer may take, >= 1 */
} MorInterleaveConfig;

#define MOR_INTERLEAVE_DEFAULT_RESPONSE_TOKENS 2
#define MOR_INTERLEAVE_DEFAULT_REASONING_TOKENS 8

/**
 * mor_interleave_config_from_gguf:
 * @gguf: the thinker file
 * @tok: its tokenizer
 * @config: (out): filled in
 * @error: return location for a #GError, or %NULL
 *
 * Reads the mor.interleave.* keys (docs/model-format.md): the p:q ratio
 * (default 2:8) and the four control tokens, by id (`*_id`) or, where the id
 * is absent, by text. A file without the keys gives ids -1 and schedule AUTO,
 * which resolves to speak-only. eos_id is the tokenizer's end token;
 * max_tokens is set to 1024.
 *
 * Returns: FALSE with MOR_INTERLEAVE_ERROR_TOKEN when a key names a token that
 * is not in the vocabulary, MOR_INTERLEAVE_ERROR_CONFIG for p = 0, or the GGUF
 * reader's error for a key of the wrong type.
 */
gboolean mor_interleave_config_from_gguf (MorGguf *gguf, MorTokenizer *tok, MorInterleaveConfig *config,
                                          GError **error);

/**
 * mor_interleave_config_resolve:
 * @config: (inout): a config; AUTO becomes the schedule it stands for
 * @n_vocab: the vocabulary size every id must be below
 * @error: return location for a #GError, or %NULL
 *
 * AUTO becomes INTERLEAVED when all four control tokens are known, else
 * SPEAK_ONLY. Speak-only without a response end token uses the model's end
 * token. Fails (MOR_INTERLEAVE_ERROR_CONFIG, naming the missing token) when
 * interleaved or think-first lacks a control token it needs, when p is 0 or
 * max_tokens is 0, or when an id is outside the vocabulary.
 */
gboolean mor_interleave_config_resolve (MorInterleaveConfig *config, guint32 n_vocab, GError **error);

/* The id of a control token written as its vocabulary text (`<|im_end|>`, or
 * "Ġthe" for a byte-level token); -1 with MOR_INTERLEAVE_ERROR_TOKEN if the
 * vocabulary has no such token. */
gint32 mor_interleave_token_id (MorTokenizer *tok, const char *text, GError **error);

/* Sets the control tokens named in @texts (response end, reasoning end,
 * response pad, reasoning pad: vocabulary text, NULL or "" keeps the id in
 * @config). FALSE with MOR_INTERLEAVE_ERROR_TOKEN naming the first that is not
 * a token; @config is then partly set. */
gboolean mor_interleave_config_set_tokens (MorInterleaveConfig *config, MorTokenizer *tok,
                                           const char *const texts[4], GError **error);

/* Parses "p:q" (decimal, p >= 1, q >= 0, each at most 4 digits) into @p and
 * @q. Returns FALSE, leaving them unchanged, for anything else. */
gboolean mor_interleave_parse_ratio (const char *text, guint32 *p, guint32 *q);

/* The slot the next step fills. */
typedef struct {
  MorInterleaveStream stream;
  guint32 step;                  /* steps of the answer before this one */
  guint32 cycle;                 /* interleaved: the cycle; otherwise 0 */
  guint32 slot;                  /* interleaved: 0..p-1 response, p..p+q-1 reasoning; otherwise = index */
  guint32 index;                 /* tokens this stream has taken so far (sampled and forced) */
  gint32 forced;                 /* the pad token to feed (the stream has ended); -1: sample */
  guint32 next_in;               /* steps from this one to this stream's next slot, >= 1, if no stream ends */
} MorInterleaveSlot;

/* One step's result. */
typedef struct {
  MorInterleaveSlot slot;
  gint32 id;                     /* the token fed to the model */
  float logprob;                 /* of the sampled token; 0 when forced */
  gboolean emit;                 /* FALSE for forced pads and end tokens: nothing to send on */
  const float *hidden;           /* (transfer none) (dim) final-normed hidden state of the row where @id
                                  * was the input; NULL when the step was not decoded (answer end) */
  const float *embedding;        /* (transfer none) (dim) input embedding of that row */
} MorInterleaveToken;

typedef struct _MorInterleave MorInterleave;

/* A scheduler for one answer; @config must have been resolved. Keeps @history_prefix
 * (the prompt's token ids, for the repetition penalty). Returns: (transfer full). */
MorInterleave *mor_interleave_new (const MorInterleaveConfig *config, const gint32 *history_prefix,
                                   gsize n_prefix);
void mor_interleave_free (MorInterleave *il);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorInterleave, mor_interleave_free)

const MorInterleaveConfig *mor_interleave_get_config (MorInterleave *il);
gboolean mor_interleave_is_done (MorInterleave *il);
/* Steps taken so far: tokens of both streams, sampled or forced. */
guint32 mor_interleave_get_steps (MorInterleave *il);
MorInterleaveEnd mor_interleave_get_end (MorInterleave *il);
/* Whether @stream has sampled its end token (a stream without slots counts as ended). */
gboolean mor_interleave_stream_ended (MorInterleave *il, MorInterleaveStream stream);
/* Tokens of @stream so far: sampled (emitted or end) and forced pads. */
guint32 mor_interleave_count (MorInterleave *il, MorInterleaveStream stream, gboolean forced);

/* The slot of the next step; FALSE when the answer is done. */
gboolean mor_interleave_next (MorInterleave *il, MorInterleaveSlot *slot);
/* The sampler mask of @stream's slots (the other stream's control tokens and the
 * own pad denied). Returns: (transfer none). */
const MorSamplerMask *mor_interleave_get_mask (MorInterleave *il, MorInterleaveStream stream);
/* Picks the token of the next slot from @logits (vocabulary-sized): the forced
 * pad, or a sample under the slot's mask with the answer's history. Returns -1
 * when the mask leaves nothing, or when the answer is done. */
gint32 mor_interleave_choose (MorInterleave *il, MorSampler *sampler, const float *logits, float *logprob);
/* Records @id as the next slot's token and moves on; returns whether it is to be
 * emitted (not a forced pad, not an end token). */
gboolean mor_interleave_commit (MorInterleave *il, gint32 id);
/* Ends the answer with @end (e.g. the context is full). */
void mor_interleave_finish (MorInterleave *il, MorInterleaveEnd end);

/**
 * mor_interleave_step:
 * @il: the scheduler
 * @session: a thinker session whose last row's logits are those of the next position
 * @sampler: the sampler
 * @token: (out): the step's result
 * @error: return location for a #GError, or %NULL
 *
 * Chooses the next slot's token from the session's last logits, commits it
 * and decodes it into the session, so that @token carries the hidden state and
 * input embedding of its row and the session holds the next logits. A token
 * that ends the answer is not decoded. A full context ends the answer
 * (MOR_INTERLEAVE_END_CONTEXT) and is not an error.
 *
 * Returns: FALSE with @error set when decoding fails or the mask leaves no
 * token (MOR_INTERLEAVE_ERROR_FAILED); TRUE otherwise, with
 * @token->slot.step set. Call only while !mor_interleave_is_done().
 */
gboolean mor_interleave_step (MorInterleave *il, MorLlmSession *session, MorSampler *sampler,
                              MorInterleaveToken *token, GError **error);

G_END_DECLS
