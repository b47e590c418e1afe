/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Token sampling from logits, as Hugging Face generate() does it.
 *
 * One call of mor_sampler_sample() applies, in Hugging Face's order:
 *  1. repetition penalty (RepetitionPenaltyLogitsProcessor): for each distinct
 *     token among the last @repetition_window history tokens, a logit < 0 is
 *     multiplied by the penalty and any other divided by it;
 *  2. the per-call mask: denied tokens, and tokens outside the allow list,
 *     can no longer be drawn (the -inf of NoBadWordsLogitsProcessor and
 *     forced-token processors);
 *  then, when sampling (temperature > 0):
 *  3. temperature (TemperatureLogitsWarper): logits / T,
 *  4. top-k (TopKLogitsWarper): tokens below the k-th largest logit are
 *     dropped (all tokens equal to it stay),
 *  5. top-p (TopPLogitsWarper): the smallest set of most likely tokens whose
 *     probability sums to at least p is kept, and never less than one token,
 *  6. one draw from the softmax of what is left.
 *  With temperature 0 (greedy) steps 3–6 are replaced by argmax, the lowest
 *  id winning ties; top-k and top-p are ignored, as with do_sample=False.
 *
 * The returned log-probability is that of the chosen token under the final
 * distribution: after step 5 when sampling; when greedy, the log-softmax of
 * the logits after step 2. A forced token (allow list of one id) has 0, or
 * -inf if its logit is -inf or NaN.
 *
 * Non-finite logits: NaN counts as -inf (never drawn while something else can
 * be); if some logits are +inf, the draw is uniform among them. If every
 * token left is -inf, the lowest id left is returned with log-probability -inf.
 *
 * Random numbers come from our own xoshiro256** seeded through splitmix64:
 * the same seed and inputs give the same tokens on every platform.
 * A MorSampler holds scratch space for one vocabulary and is not thread-safe. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  float temperature;            /* 0: greedy; > 0: sample from softmax(logits / temperature) */
  guint top_k;                  /* keep the top_k most likely tokens; 0: off */
  float top_p;                  /* nucleus mass in (0, 1]; 1: off */
  float repetition_penalty;     /* > 0; 1: off (Qwen talker: 1.05) */
  guint repetition_window;      /* how many of the most recent history tokens count; 0: all given */
  guint64 seed;
} MorSamplerParams;

/* temperature 0 (greedy), top_k 0, top_p 1, penalty 1, window 0, seed 0. */
#define MOR_SAMPLER_PARAMS_GREEDY ((MorSamplerParams) { 0.0f, 0, 1.0f, 1.0f, 0, 0 })

/* Per-call restrictions from the caller (e.g. the interleave scheduler). */
typedef struct {
  const gint32 *allow;          /* (n_allow) the only ids that may be drawn; NULL: all */
  gsize n_allow;
  const gint32 *deny;           /* (n_deny) ids that may not be drawn */
  gsize n_deny;
} MorSamplerMask;

typedef struct _MorSampler MorSampler;

/**
 * mor_sampler_new:
 * @n_vocab: logits per call
 * @params: the processors; copied
 *
 * Parameters outside their ranges (temperature < 0 or infinite, top_p outside
 * (0, 1], repetition_penalty ≤ 0 or infinite, any NaN) are programmer errors: they come from
 * element properties, which the property specs bound.
 *
 * Returns: (transfer full): a sampler, with its scratch space (16 bytes per
 * vocabulary entry) allocated once.
 */
MorSampler *mor_sampler_new (guint n_vocab, const MorSamplerParams *params);
void mor_sampler_free (MorSampler *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorSampler, mor_sampler_free)

const MorSamplerParams *mor_sampler_get_params (MorSampler *s);
guint mor_sampler_n_vocab (MorSampler *s);
/* Restarts the random sequence as mor_sampler_new() with @seed would. */
void mor_sampler_set_seed (MorSampler *s, guint64 seed);

/**
 * mor_sampler_sample:
 * @s: the sampler
 * @logits: (array length=n_vocab): scores of every token; not modified
 * @history: (array length=n_history) (nullable): tokens so far (prompt and
 *   generated), oldest first, for the repetition penalty; ids outside the
 *   vocabulary are ignored
 * @n_history: how many
 * @mask: (nullable): allow and deny lists for this call; ids outside the
 *   vocabulary are ignored, an id in both lists is denied
 * @logprob: (out) (optional): log-probability of the chosen token (see above)
 *
 * Returns: the chosen id, or -1 if the mask leaves no token at all (an allow
 * list whose ids are all denied or out of range).
 */
gint32 mor_sampler_sample (MorSampler *s, const float *logits, const gint32 *history, gsize n_history,
                           const MorSamplerMask *mask, float *logprob);

/* The index of the largest of @n logits, the lowest on ties (torch.argmax,
 * greedy decoding without penalties or masks); NaN never wins. */
guint32 mor_sampler_argmax (const float *logits, guint32 n);

G_END_DECLS
