/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Token sampler: repetition penalty, masks, temperature, top-k, top-p and a
 * seeded draw, in Hugging Face's order (see sampler.h). Top-k selects with a
 * bounded heap (O(n log k)); top-p sorts only as many of the most likely tokens
 * as it needs, widening the window until their mass reaches p. */
#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  float v;                      /* processed logit */
  gint32 id;
} Entry;

struct _MorSampler {
  guint n_vocab;
  MorSamplerParams params;
  guint64 rng[4];               /* xoshiro256** state */
  float *w;                     /* (n_vocab) logits after the penalty */
  Entry *entries;               /* (n_vocab) candidates of this call */
  guint32 *stamp;               /* (n_vocab) epoch in which an id was last marked */
  guint32 epoch;
};

/* ---- Random numbers: splitmix64 to seed, xoshiro256** to draw (Blackman & Vigna) ---- */

static guint64
splitmix64 (guint64 *x)
{
  guint64 z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static guint64
rotl (guint64 x, int k)
{
  return (x << k) | (x >> (64 - k));
}

static guint64
xoshiro_next (guint64 *s)
{
  guint64 result = rotl (s[1] * 5, 7) * 9;
  guint64 t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl (s[3], 45);
  return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double
uniform (MorSampler *s)
{
  return (xoshiro_next (s->rng) >> 11) * 0x1.0p-53;
}

void
mor_sampler_set_seed (MorSampler *s, guint64 seed)
{
  g_return_if_fail (s != NULL);
  for (guint i = 0; i < 4; i++)
    s->rng[i] = splitmix64 (&seed);
}

/* ---- Life cycle ---- */

MorSampler *
mor_sampler_new (guint n_vocab, const MorSamplerParams *params)
{
  g_return_val_if_fail (n_vocab > 0 && n_vocab <= G_MAXINT32, NULL);
  g_return_val_if_fail (params != NULL, NULL);
  g_return_val_if_fail (params->temperature >= 0.0f && isfinite (params->temperature), NULL);
  g_return_val_if_fail (params->top_p > 0.0f && params->top_p <= 1.0f, NULL);
  g_return_val_if_fail (params->repetition_penalty > 0.0f && isfinite (params->repetition_penalty), NULL);

  MorSampler *s = g_new0 (MorSampler, 1);
  s->n_vocab = n_vocab;
  s->params = *params;
  s->w = g_new (float, n_vocab);
  s->entries = g_new (Entry, n_vocab);
  s->stamp = g_new0 (guint32, n_vocab);
  mor_sampler_set_seed (s, params->seed);
  return s;
}

void
mor_sampler_free (MorSampler *s)
{
  if (s == NULL)
    return;
  g_free (s->w);
  g_free (s->entries);
  g_free (s->stamp);
  g_free (s);
}

const MorSamplerParams *
mor_sampler_get_params (MorSampler *s)
{
  g_return_val_if_fail (s != NULL, NULL);
  return &s->params;
}

guint
mor_sampler_n_vocab (MorSampler *s)
{
  g_return_val_if_fail (s != NULL, 0);
  return s->n_vocab;
}

/* A fresh mark: ids with stamp == the returned epoch are marked. */
static guint32
next_epoch (MorSampler *s)
{
  if (++s->epoch == 0) {
    memset (s->stamp, 0, s->n_vocab * sizeof (guint32));
    s->epoch = 1;
  }
  return s->epoch;
}

/* ---- Ordering: larger logit first, lower id first among equal logits ---- */

static gboolean
better (const Entry *a, const Entry *b)
{
  return a->v > b->v || (a->v == b->v && a->id < b->id);
}

static int
compare_entries (const void *a, const void *b)
{
  return better (a, b) ? -1 : better (b, a) ? 1 : 0;
}

static void
sift_down_worst (Entry *h, gsize m, gsize i)
{
  for (;;) {
    gsize l = 2 * i + 1, r = l + 1, w = i;
    if (l < m && better (&h[w], &h[l]))
      w = l;
    if (r < m && better (&h[w], &h[r]))
      w = r;
    if (w == i)
      return;
    Entry t = h[i];
    h[i] = h[w];
    h[w] = t;
    i = w;
  }
}

/* The @m best tokens of @w that are not -inf, best first, into @out; returns
 * how many (fewer than @m if fewer are finite). A heap of the best so far with
 * the worst at its root: O(n log m). Scanning in id order, a later equal logit
 * never displaces an earlier one, so ties keep the lower ids. */
static gsize
select_top (const float *w, guint n, Entry *out, gsize m)
{
  gsize len = 0;
  for (guint i = 0; i < n; i++) {
    if (w[i] == -INFINITY)
      continue;
    Entry e = { w[i], i };
    if (len < m) {
      out[len++] = e;
      if (len == m) {
        for (gsize j = m / 2; j-- > 0;)
          sift_down_worst (out, m, j);
      }
    } else if (better (&e, &out[0])) {
      out[0] = e;
      sift_down_worst (out, m, 0);
    }
  }
  qsort (out, len, sizeof (Entry), compare_entries);
  return len;
}

/* ---- Sampling ---- */

/* Step 1: HF RepetitionPenaltyLogitsProcessor,
 *   score = torch.where(score < 0, score * self.penalty, score / self.penalty)
 * once per distinct id of the window. */
static void
apply_repetition_penalty (MorSampler *s, const gint32 *history, gsize n_history)
{
  float penalty = s->params.repetition_penalty;
  if (penalty == 1.0f || history == NULL || n_history == 0)
    return;
  gsize first = 0;
  if (s->params.repetition_window > 0 && n_history > s->params.repetition_window)
    first = n_history - s->params.repetition_window;
  guint32 epoch = next_epoch (s);
  for (gsize i = first; i < n_history; i++) {
    gint32 id = history[i];
    if (id < 0 || (guint) id >= s->n_vocab || s->stamp[id] == epoch)
      continue;
    s->stamp[id] = epoch;
    s->w[id] = s->w[id] < 0.0f ? s->w[id] * penalty : s->w[id] / penalty;
  }
}

/* Step 2: tokens that may not be drawn get -inf. Returns the lowest id that
 * may be drawn, or -1 if there is none. */
static gint32
apply_mask (MorSampler *s, const MorSamplerMask *mask)
{
  guint32 denied = next_epoch (s);
  if (mask && mask->deny) {
    for (gsize i = 0; i < mask->n_deny; i++) {
      gint32 id = mask->deny[i];
      if (id >= 0 && (guint) id < s->n_vocab) {
        s->stamp[id] = denied;
        s->w[id] = -INFINITY;
      }
    }
  }
  gint32 lowest = -1;
  if (mask && mask->allow) {
    guint32 allowed = next_epoch (s);
    for (gsize i = 0; i < mask->n_allow; i++) {
      gint32 id = mask->allow[i];
      if (id >= 0 && (guint) id < s->n_vocab && s->stamp[id] != denied)
        s->stamp[id] = allowed;
    }
    for (guint id = 0; id < s->n_vocab; id++) {
      if (s->stamp[id] != allowed)
        s->w[id] = -INFINITY;
      else if (lowest < 0)
        lowest = id;
    }
  } else {
    for (guint id = 0; id < s->n_vocab && lowest < 0; id++) {
      if (s->stamp[id] != denied)
        lowest = id;
    }
  }
  return lowest;
}

static gint32
sample_greedy (const float *w, guint n, gint32 lowest, float *logprob)
{
  gint32 best = -1;
  float max = -INFINITY;
  for (guint i = 0; i < n; i++) {
    if (w[i] > max) {                      /* strict: the first maximum wins; NaN never compares */
      max = w[i];
      best = i;
    }
  }
  if (best < 0) {
    *logprob = -INFINITY;
    return lowest;
  }
  double z = 0.0;
  if (max == INFINITY) {
    for (guint i = 0; i < n; i++)
      z += w[i] == INFINITY;
  } else {
    for (guint i = 0; i < n; i++)
      z += w[i] > -INFINITY ? expf (w[i] - max) : 0.0f;   /* NaN fails the test too */
  }
  *logprob = (float) -log (z);
  return best;
}

gint32
mor_sampler_sample (MorSampler *s, const float *logits, const gint32 *history, gsize n_history,
                    const MorSamplerMask *mask, float *logprob)
{
  g_return_val_if_fail (s != NULL && logits != NULL, -1);
  g_return_val_if_fail (history != NULL || n_history == 0, -1);
  float lp_dummy;
  if (logprob == NULL)
    logprob = &lp_dummy;
  float *w = s->w;
  guint n = s->n_vocab;

  memcpy (w, logits, n * sizeof (float));
  apply_repetition_penalty (s, history, n_history);
  gint32 lowest = apply_mask (s, mask);
  if (lowest < 0) {
    *logprob = -INFINITY;
    return -1;
  }
  if (s->params.temperature == 0.0f)
    return sample_greedy (w, n, lowest, logprob);

  /* One draw per sampling call, whatever happens below, so that the random
   * sequence depends only on the number of calls. */
  double u = uniform (s);

  /* Step 3; NaN becomes -inf. */
  float inv_t = 1.0f / s->params.temperature, max = -INFINITY;
  for (guint i = 0; i < n; i++) {
    w[i] = isnan (w[i]) ? -INFINITY : w[i] * inv_t;
    max = MAX (max, w[i]);
  }
  if (max == -INFINITY) {
    *logprob = -INFINITY;
    return lowest;
  }
  if (max == INFINITY) {                 /* the limit of softmax: uniform over the +inf ones */
    for (guint i = 0; i < n; i++)
      w[i] = w[i] == INFINITY ? 0.0f : -INFINITY;
    max = 0.0f;
  }

  /* Steps 4 and 5 narrow the candidates to e[0..n_e), best first. Without
   * them the draw runs over all of w in id order. */
  Entry *e = s->entries;
  gsize n_e = 0;
  gboolean narrowed = FALSE;
  if (s->params.top_k > 0 && s->params.top_k < n) {
    /* Step 4: the k best, then every later id tied with the k-th. */
    gsize k = s->params.top_k;
    n_e = select_top (w, n, e, k);
    if (n_e == k) {
      Entry kth = e[k - 1];
      for (guint i = kth.id + 1; i < n; i++) {
        if (w[i] == kth.v)
          e[n_e++] = (Entry) { w[i], i };
      }
    }
    narrowed = TRUE;
  }
  if (s->params.top_p < 1.0f) {
    /* Step 5: keep token i while the mass of the tokens before it is < p.
     * Without top-k, sort only a window of the best tokens, widened until it
     * holds mass p. */
    double z = 0.0;
    if (narrowed) {
      for (gsize i = 0; i < n_e; i++)
        z += expf (e[i].v - max);
    } else {
      for (guint i = 0; i < n; i++)
        z += expf (w[i] - max);
    }
    double target = s->params.top_p * z;
    for (gsize m = 256;; m *= 8) {
      if (!narrowed)
        n_e = select_top (w, n, e, MIN (m, n));
      double cum = 0.0;
      gsize i = 0;
      while (i < n_e && cum < target)
        cum += expf (e[i++].v - max);
      if (cum >= target || narrowed || n_e < MIN (m, n) || m >= n) {   /* enough, or all there is */
        n_e = i;
        break;
      }
    }
    narrowed = TRUE;
  }

  /* Step 6: the draw, from the softmax of what is left. */
  double z = 0.0, cum = 0.0;
  gint32 pick = lowest;
  float pick_v = -INFINITY;
  if (narrowed) {
    for (gsize i = 0; i < n_e; i++)
      z += expf (e[i].v - max);
    double target = u * z;
    for (gsize i = 0; i < n_e; i++) {
      float p = expf (e[i].v - max);
      if (p > 0.0f) {                      /* if rounding leaves target unreached: the last possible token */
        pick = e[i].id;
        pick_v = e[i].v;
      }
      cum += p;
      if (cum > target)
        break;
    }
  } else {
    for (guint i = 0; i < n; i++) {
      w[i] = expf (w[i] - max);            /* w now holds the weights */
      z += w[i];
    }
    double target = u * z;
    for (guint i = 0; i < n; i++) {
      if (w[i] > 0.0f) {
        pick = i;
        pick_v = w[i];
      }
      cum += w[i];
      if (cum > target)
        break;
    }
  }
  /* pick_v is the logit when narrowed, else the weight exp (v - max). */
  *logprob = (float) ((narrowed ? (double) pick_v - max : log (pick_v)) - log (z));
  return pick;
}

guint32
mor_sampler_argmax (const float *logits, guint32 n)
{
  guint32 best = 0;
  for (guint32 i = 1; i < n; i++)
    if (logits[i] > logits[best] || (isnan (logits[best]) && !isnan (logits[i])))
      best = i;
  return best;
}
