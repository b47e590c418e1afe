/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The thinker's prompt: Qwen's chat template (reference qwen2.5-omni.md §4)
 * with audio rows, prefilled into a session as it grows.
 *
 *   <|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n     the head
 *   <|audio_bos|> {one <|AUDIO|> row per audio embedding} <|audio_eos|>
 *   {typed text}
 *   <|im_end|>\n<|im_start|>assistant\n                             the tail
 *
 * The system text and the typed text are encoded as plain text: they cannot
 * inject control tokens. The template functions (mor_prompt_template_*())
 * only spell token ids; a MorPrompt also prefills them.
 *
 * Call order of a MorPrompt, one utterance after another in one session:
 *  1. mor_prompt_new() on a session (positions from 0 are the prompt's).
 *  2. mor_prompt_begin(): the head, prefilled once and kept in the KV cache
 *     while the system text stays the same; the previous utterance and its
 *     answer are forgotten (the session is truncated to the head).
 *  3. mor_prompt_add_audio() / mor_prompt_add_text(), as input arrives: each
 *     call prefills its rows at once, so at the utterance end only the tail
 *     is left. Audio rows open an audio span; text (or the tail) closes it.
 *  4. mor_prompt_finish(): the tail. The session's last logits are then those
 *     of the answer's first token; the answer's tokens go on at the next
 *     positions (mor_interleave_step()).
 * After a failure the prompt is unusable until the next mor_prompt_begin().
 * Everything here is host code but the prefill; a MorPrompt belongs to one thread. */
#pragma once

#include <glib.h>

#include "llm.h"
#include "tokenizer.h"

G_BEGIN_DECLS

#define MOR_PROMPT_ERROR (mor_prompt_error_quark ())
GQuark mor_prompt_error_quark (void);

typedef enum {
  MOR_PROMPT_ERROR_FAILED,
  MOR_PROMPT_ERROR_TOKEN,        /* the vocabulary lacks a token of the template; the message names it */
} MorPromptError;

/* ---- the template: token ids only ---- */

/* "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n" appended to @ids
 * (gint32); @system may be NULL (empty). FALSE with MOR_PROMPT_ERROR_TOKEN when
 * the vocabulary lacks a special token. */
gboolean mor_prompt_template_head (MorTokenizer *tok, const char *system, GArray *ids, GError **error);
/* "<|audio_bos|>" (before the audio rows) or, with @end, "<|audio_eos|>" (after them). */
gboolean mor_prompt_template_audio (MorTokenizer *tok, gboolean end, GArray *ids, GError **error);
/* "<|im_end|>\n<|im_start|>assistant\n". */
gboolean mor_prompt_template_tail (MorTokenizer *tok, GArray *ids, GError **error);

/* ---- a prompt in a session ---- */

typedef struct _MorPrompt MorPrompt;

/**
 * mor_prompt_new:
 * @llm: the thinker (for its hidden size)
 * @session: (transfer none): a session of @llm; must outlive the prompt, which
 *   owns its positions from 0
 * @tok: the thinker's tokenizer (a reference is taken)
 *
 * Returns: (transfer full): an empty prompt; mor_prompt_begin() starts it.
 */
MorPrompt *mor_prompt_new (MorLlm *llm, MorLlmSession *session, MorTokenizer *tok);
void mor_prompt_free (MorPrompt *prompt);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorPrompt, mor_prompt_free)

/**
 * mor_prompt_begin:
 * @prompt: the prompt
 * @system: (nullable): the system text
 * @error: return location for a #GError, or %NULL
 *
 * Starts the next utterance's prompt. The head is re-used when @system is the
 * text it was made with (the session is truncated to it), else re-made from
 * position 0. Resets mor_prompt_get_prefill_ms() to 0 (then it includes the
 * head's prefill when the head was re-made).
 *
 * Returns: FALSE with MOR_PROMPT_ERROR_TOKEN, or the session's error (e.g.
 * MOR_LLM_ERROR_CONTEXT when the head does not fit).
 */
gboolean mor_prompt_begin (MorPrompt *prompt, const char *system, GError **error);

/**
 * mor_prompt_add_audio:
 * @prompt: the prompt
 * @rows: (array): @n_rows × hidden_size floats, the audio encoder's output
 * @n_rows: rows, 0 allowed
 * @error: return location for a #GError, or %NULL
 *
 * Prefills @rows as `<|AUDIO|>` positions with external embeddings, after
 * `<|audio_bos|>` when no audio span is open.
 *
 * Returns: FALSE with MOR_PROMPT_ERROR_TOKEN (no `<|AUDIO|>` or
 * `<|audio_bos|>` token), or the session's error (MOR_LLM_ERROR_CONTEXT: the
 * rows do not fit).
 */
gboolean mor_prompt_add_audio (MorPrompt *prompt, const float *rows, guint32 n_rows, GError **error);

/* Forgets the open audio span's rows from its row @from on (the session is
 * truncated there), so that revised rows can be added again
 * (morencoder's `mor/rows-revised`). Returns FALSE when no audio span is
 * open or it has fewer than @from rows; the prompt is then unchanged. */
gboolean mor_prompt_revise_audio (MorPrompt *prompt, guint32 from);

/* Prefills @len bytes of UTF-8 @text (-1: NUL-terminated) as plain text, after
 * `<|audio_eos|>` when an audio span is open. Errors as mor_prompt_add_audio(). */
gboolean mor_prompt_add_text (MorPrompt *prompt, const char *text, gssize len, GError **error);

/* Closes an open audio span and prefills the tail. Errors as mor_prompt_add_audio(). */
gboolean mor_prompt_finish (MorPrompt *prompt, GError **error);

/* Rows of the prompt so far (head included), and of the head alone. */
guint32 mor_prompt_get_n_rows (MorPrompt *prompt);
guint32 mor_prompt_get_n_head (MorPrompt *prompt);
/* Every row of the prompt so far, valid until the next call that changes it
 * (transfer none): token ids (n_rows; `<|AUDIO|>` for an audio row), final-normed
 * hidden states and input embeddings (n_rows × hidden_size each). */
const gint32 *mor_prompt_get_ids (MorPrompt *prompt);
const float *mor_prompt_get_hidden (MorPrompt *prompt);
const float *mor_prompt_get_embeddings (MorPrompt *prompt);
/* Milliseconds spent in prefill since mor_prompt_begin(). */
double mor_prompt_get_prefill_ms (MorPrompt *prompt);

G_END_DECLS
