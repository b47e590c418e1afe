/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The whole chain without GStreamer, for `mor answer` and `mor bench e2e`:
 * encoder rows → thinker prompt → interleaved answer → talker codes →
 * token2wav audio, each stage fed as soon as the one before gives something,
 * in one thread, as the elements do in theirs. */
#pragma once

#include "encoder.h"
#include "interleave.h"
#include "llm.h"
#include "prompt.h"
#include "talker.h"
#include "token2wav.h"
#include "tokenizer.h"

G_BEGIN_DECLS

typedef struct {
  MorVkDevice *dev;
  MorGguf *thinker_file, *encoder_file, *talker_file; /* may be one file */
  MorLlm *llm;
  MorTokenizer *tok;
  MorEncoder *enc;
  MorTalker *talker;              /* NULL: text only */
  MorToken2Wav *t2w;
  MorLlmSession *session;
  MorTalkerSession *talker_session;
  MorToken2WavSession *wave;
  MorPrompt *prompt;              /* the question being prefilled */
} MorChain;

/* Opens the files (@encoder and @talker default to @thinker: a one-file model;
 * @talker "" for none) and makes sessions for answers of @max_codes codes. */
gboolean mor_chain_open (MorChain *c, const char *thinker, const char *encoder, const char *talker,
                         const char *device, guint32 max_codes, GError **error);
void mor_chain_clear (MorChain *c);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (MorChain, mor_chain_clear)

typedef struct {
  gint response_tokens, reasoning_tokens; /* -1: the model's */
  MorInterleaveSchedule schedule;
  guint32 max_tokens;
  MorSamplerParams thinker_sampling;
  gboolean talker_greedy;
  const char *speaker;            /* NULL: the file's default */
  MorToken2WavParams wave;
  const char *system_prompt;
} MorChainOptions;

/* The morthinker and mortalker defaults. */
void mor_chain_options_init (MorChainOptions *o);

typedef struct {
  GString *response, *reasoning;  /* the two streams' text */
  GArray *ids;                    /* gint32: every step's token */
  GArray *streams;                /* guint8: its stream (MorInterleaveStream) */
  GArray *emitted;                /* guint8: sent on (not a forced pad or end token) */
  GArray *hidden, *embeddings;    /* float: [steps, dim], the rows where each token was the input */
  GArray *codes;                  /* gint32 */
  GArray *audio;                  /* float, 24 kHz */
  double first_response_ms;       /* from @t0 to the first response token; -1: none */
  double first_audio_ms;          /* from @t0 to the first audio samples; -1: none */
  double total_ms;
  const char *thinker_end;        /* mor_interleave_end_name() */
} MorChainResult;

void mor_chain_result_init (MorChainResult *r);
void mor_chain_result_clear (MorChainResult *r);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (MorChainResult, mor_chain_result_clear)

/* Starts a question: the prompt's head and its first @n audio rows (those
 * that arrive while the user still speaks). */
gboolean mor_chain_begin (MorChain *c, const MorChainOptions *o, const float *rows, guint32 n, GError **error);
/* The rest of the question's rows, the prompt's tail and the answer, timed
 * from @t0_us (monotonic; 0: now): the user has stopped speaking. */
gboolean mor_chain_answer (MorChain *c, const float *rows, guint32 n, gint64 t0_us, const MorChainOptions *o,
                           MorChainResult *r, GError **error);

G_END_DECLS
