/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The thinking-in-speaking scheduler: slots, masks, forced pads, end conditions (see interleave.h). */
#include "interleave.h"

#include <string.h>

G_DEFINE_QUARK (mor-interleave-error-quark, mor_interleave_error)

#define N_STREAMS 2

struct _MorInterleave {
  MorInterleaveConfig config;
  guint32 step;                       /* steps taken */
  guint32 index[N_STREAMS];           /* tokens each stream has taken */
  guint32 forced[N_STREAMS];          /* of which forced pads */
  gboolean ended[N_STREAMS];          /* the stream sampled its end token (or has no slots) */
  MorInterleaveEnd end;
  GArray *history;                    /* gint32: the prompt's ids, then every token of the answer */
  gint32 deny[N_STREAMS][4];          /* per stream: the ids its slots may not draw */
  MorSamplerMask mask[N_STREAMS];
};

const char *
mor_interleave_schedule_name (MorInterleaveSchedule schedule)
{
  static const char *const names[] = { "auto", "interleaved", "think-first", "speak-only" };
  return (guint) schedule < G_N_ELEMENTS (names) ? names[schedule] : "?";
}

const char *
mor_interleave_stream_name (MorInterleaveStream stream)
{
  return stream == MOR_INTERLEAVE_RESPONSE ? "response" : "reasoning";
}

const char *
mor_interleave_end_name (MorInterleaveEnd end)
{
  static const char *const names[] = { "running", "streams-ended", "end-token", "max-tokens", "context" };
  return (guint) end < G_N_ELEMENTS (names) ? names[end] : "?";
}

gboolean
mor_interleave_parse_ratio (const char *text, guint32 *p, guint32 *q)
{
  g_return_val_if_fail (p != NULL && q != NULL, FALSE);
  if (text == NULL)
    return FALSE;
  guint32 v[2] = { 0, 0 };
  const char *c = text;
  for (guint i = 0; i < 2; i++) {
    guint digits = 0;
    for (; g_ascii_isdigit (*c) && digits < 5; c++, digits++)
      v[i] = v[i] * 10 + (guint32) (*c - '0');
    if (digits == 0 || digits > 4)
      return FALSE;
    if (i == 0 && *c++ != ':')
      return FALSE;
  }
  if (*c != '\0' || v[0] < 1)
    return FALSE;
  *p = v[0];
  *q = v[1];
  return TRUE;
}

gint32
mor_interleave_token_id (MorTokenizer *tok, const char *text, GError **error)
{
  gint32 id = text && *text ? mor_tokenizer_find_token (tok, text, -1) : -1;
  if (id < 0)
    g_set_error (error, MOR_INTERLEAVE_ERROR, MOR_INTERLEAVE_ERROR_TOKEN,
                 "“%s” is not a token of the vocabulary (%u tokens)", text ? text : "",
                 mor_tokenizer_n_tokens (tok));
  return id;
}

gboolean
mor_interleave_config_set_tokens (MorInterleaveConfig *config, MorTokenizer *tok, const char *const texts[4],
                                  GError **error)
{
  g_return_val_if_fail (config != NULL && tok != NULL && texts != NULL, FALSE);
  gint32 *ids[4] = { &config->response_end_id, &config->reasoning_end_id, &config->response_pad_id,
                     &config->reasoning_pad_id };
  for (guint i = 0; i < 4; i++)
    if (texts[i] && *texts[i] && (*ids[i] = mor_interleave_token_id (tok, texts[i], error)) < 0)
      return FALSE;
  return TRUE;
}

/* mor.interleave.<name>_id, else the token named by mor.interleave.<name>, else -1. */
static gboolean
read_control (MorGguf *g, MorTokenizer *tok, const char *name, gint32 *out, GError **error)
{
  g_autofree char *k_id = g_strdup_printf ("mor.interleave.%s_id", name);
  g_autofree char *k_text = g_strdup_printf ("mor.interleave.%s", name);
  *out = -1;
  if (mor_gguf_find_key (g, k_id) >= 0) {
    guint32 id;
    if (!mor_gguf_get_u32 (g, k_id, &id, error))
      return FALSE;
    if (id >= mor_tokenizer_n_tokens (tok)) {
      g_set_error (error, MOR_INTERLEAVE_ERROR, MOR_INTERLEAVE_ERROR_TOKEN,
                   "%s: key %s is %u, outside the vocabulary of %u tokens", mor_gguf_get_name (g), k_id,
                   id, mor_tokenizer_n_tokens (tok));
      return FALSE;
    }
    *out = (gint32) id;
  } else if (mor_gguf_find_key (g, k_text) >= 0) {
    const char *text = mor_gguf_get_string (g, k_text, NULL, error);
    if (!text)
      return FALSE;
    g_autoptr (GError) local = NULL;
    if ((*out = mor_interleave_token_id (tok, text, &local)) < 0) {
      g_set_error (error, MOR_INTERLEAVE_ERROR, MOR_INTERLEAVE_ERROR_TOKEN, "%s: key %s: %s",
                   mor_gguf_get_name (g), k_text, local->message);
      return FALSE;
    }
  }
  return TRUE;
}

gboolean
mor_interleave_config_from_gguf (MorGguf *g, MorTokenizer *tok, MorInterleaveConfig *config, GError **error)
{
  g_return_val_if_fail (g != NULL && tok != NULL && config != NULL, FALSE);
  MorInterleaveConfig c = {
    .schedule = MOR_INTERLEAVE_AUTO,
    .eos_id = mor_tokenizer_eos_id (tok),
    .max_tokens = 1024,
  };
  if (!mor_gguf_get_u32_default (g, "mor.interleave.response_tokens", MOR_INTERLEAVE_DEFAULT_RESPONSE_TOKENS,
                                 &c.response_tokens, error) ||
      !mor_gguf_get_u32_default (g, "mor.interleave.reasoning_tokens", MOR_INTERLEAVE_DEFAULT_REASONING_TOKENS,
                                 &c.reasoning_tokens, error))
    return FALSE;
  if (c.response_tokens == 0) {
    g_set_error (error, MOR_INTERLEAVE_ERROR, MOR_INTERLEAVE_ERROR_CONFIG,
                 "%s: key mor.interleave.response_tokens is 0; a cycle needs at least one response token",
                 mor_gguf_get_name (g));
    return FALSE;
  }
  if (!read_control (g, tok, "response_end", &c.response_end_id, error) ||
      !read_control (g, tok, "reasoning_end", &c.reasoning_end_id, error) ||
      !read_control (g, tok, "response_pad", &c.response_pad_id, error) ||
      !read_control (g, tok, "reasoning_pad", &c.reasoning_pad_id, error))
    return FALSE;
  *config = c;
  return TRUE;
}

gboolean
mor_interleave_config_resolve (MorInterleaveConfig *c, guint32 n_vocab, GError **error)
{
  g_return_val_if_fail (c != NULL, FALSE);
  gint32 ids[] = { c->response_end_id, c->reasoning_end_id, c->response_pad_id, c->reasoning_pad_id, c->eos_id };
  const char *names[] = { "response end", "reasoning end", "response pad", "reasoning pad", "model end" };
  for (guint i = 0; i < G_N_ELEMENTS (ids); i++)
    if (ids[i] >= (gint32) n_vocab) {
      g_set_error (error, MOR_INTERLEAVE_ERROR, MOR_INTERLEAVE_ERROR_CONFIG,
                   "The %s token id %d is outside the vocabulary of %u", names[i], ids[i], n_vocab);
      return FALSE;
    }
  if (c->response_tokens == 0 || c->max_tokens == 0) {
    g_set_error (error, MOR_INTERLEAVE_ERROR, MOR_INTERLEAVE_ERROR_CONFIG,
                 "A schedule needs at least one response token a cycle and one step an answer (got %u:%u, "
                 "max %u)", c->response_tokens, c->reasoning_tokens, c->max_tokens);
    return FALSE;
  }
  gboolean complete = c->response_end_id >= 0 && c->reasoning_end_id >= 0 && c->response_pad_id >= 0 &&
                      c->reasoning_pad_id >= 0;
  if (c->schedule == MOR_INTERLEAVE_AUTO)
    c->schedule = complete ? MOR_INTERLEAVE_INTERLEAVED : MOR_INTERLEAVE_SPEAK_ONLY;
  if (c->schedule == MOR_INTERLEAVE_SPEAK_ONLY) {
    if (c->response_end_id < 0)
      c->response_end_id = c->eos_id;
    return TRUE;
  }
  /* Interleaved needs all four (pads fill an ended stream's slots); think-first
   * needs the reasoning end (the switch to the response) and the response end. */
  gboolean need_pads = c->schedule == MOR_INTERLEAVE_INTERLEAVED;
  for (guint i = 0; i < 4; i++)
    if (ids[i] < 0 && (i < 2 || need_pads)) {
      g_set_error (error, MOR_INTERLEAVE_ERROR, MOR_INTERLEAVE_ERROR_CONFIG,
                   "The %s schedule needs a %s token: the model has no mor.interleave.* keys for it and "
                   "none was given", mor_interleave_schedule_name (c->schedule), names[i]);
      return FALSE;
    }
  return TRUE;
}

/* Adds @id to @s's deny list unless it is -1, @s's own end, or already there. */
static void
deny (MorInterleave *il, MorInterleaveStream s, gint32 id, gint32 own_end)
{
  MorSamplerMask *m = &il->mask[s];
  if (id < 0 || id == own_end)
    return;
  for (gsize i = 0; i < m->n_deny; i++)
    if (il->deny[s][i] == id)
      return;
  il->deny[s][m->n_deny++] = id;
}

MorInterleave *
mor_interleave_new (const MorInterleaveConfig *config, const gint32 *history_prefix, gsize n_prefix)
{
  g_return_val_if_fail (config != NULL && config->schedule != MOR_INTERLEAVE_AUTO, NULL);
  g_return_val_if_fail (config->response_tokens >= 1 && config->max_tokens >= 1, NULL);
  MorInterleave *il = g_new0 (MorInterleave, 1);
  const MorInterleaveConfig *c = &il->config;
  il->config = *config;
  il->history = g_array_sized_new (FALSE, FALSE, sizeof (gint32), n_prefix + 256);
  if (n_prefix)
    g_array_append_vals (il->history, history_prefix, n_prefix);
  for (guint s = 0; s < N_STREAMS; s++)
    il->mask[s].deny = il->deny[s];
  deny (il, MOR_INTERLEAVE_RESPONSE, c->reasoning_end_id, c->response_end_id);
  deny (il, MOR_INTERLEAVE_RESPONSE, c->reasoning_pad_id, c->response_end_id);
  deny (il, MOR_INTERLEAVE_RESPONSE, c->response_pad_id, c->response_end_id);
  deny (il, MOR_INTERLEAVE_REASONING, c->response_end_id, c->reasoning_end_id);
  deny (il, MOR_INTERLEAVE_REASONING, c->response_pad_id, c->reasoning_end_id);
  deny (il, MOR_INTERLEAVE_REASONING, c->reasoning_pad_id, c->reasoning_end_id);
  /* A stream without slots has ended before it began. */
  il->ended[MOR_INTERLEAVE_REASONING] = c->schedule == MOR_INTERLEAVE_SPEAK_ONLY ||
                                        (c->schedule == MOR_INTERLEAVE_INTERLEAVED && c->reasoning_tokens == 0);
  return il;
}

void
mor_interleave_free (MorInterleave *il)
{
  if (!il)
    return;
  g_array_unref (il->history);
  g_free (il);
}

const MorInterleaveConfig *
mor_interleave_get_config (MorInterleave *il)
{
  return &il->config;
}

gboolean
mor_interleave_is_done (MorInterleave *il)
{
  return il->end != MOR_INTERLEAVE_END_NONE;
}

guint32
mor_interleave_get_steps (MorInterleave *il)
{
  return il->step;
}

MorInterleaveEnd
mor_interleave_get_end (MorInterleave *il)
{
  return il->end;
}

gboolean
mor_interleave_stream_ended (MorInterleave *il, MorInterleaveStream stream)
{
  return il->ended[stream];
}

guint32
mor_interleave_count (MorInterleave *il, MorInterleaveStream stream, gboolean forced)
{
  return forced ? il->forced[stream] : il->index[stream] - il->forced[stream];
}

const MorSamplerMask *
mor_interleave_get_mask (MorInterleave *il, MorInterleaveStream stream)
{
  return &il->mask[stream];
}

gboolean
mor_interleave_next (MorInterleave *il, MorInterleaveSlot *slot)
{
  const MorInterleaveConfig *c = &il->config;
  if (il->end != MOR_INTERLEAVE_END_NONE)
    return FALSE;
  MorInterleaveSlot s = { .step = il->step, .forced = -1, .next_in = 1 };
  switch (c->schedule) {
  case MOR_INTERLEAVE_INTERLEAVED: {
    guint32 p = c->response_tokens, q = c->reasoning_tokens, period = p + q, at = il->step % period;
    s.cycle = il->step / period;
    s.slot = at;
    s.stream = at < p ? MOR_INTERLEAVE_RESPONSE : MOR_INTERLEAVE_REASONING;
    /* The last response slot waits q steps, the last reasoning slot p. */
    if (at == p - 1)
      s.next_in = q + 1;
    else if (at == period - 1)
      s.next_in = p + 1;
    break;
  }
  case MOR_INTERLEAVE_THINK_FIRST:
    s.stream = il->ended[MOR_INTERLEAVE_REASONING] ? MOR_INTERLEAVE_RESPONSE : MOR_INTERLEAVE_REASONING;
    break;
  case MOR_INTERLEAVE_SPEAK_ONLY:
  case MOR_INTERLEAVE_AUTO:
    s.stream = MOR_INTERLEAVE_RESPONSE;
    break;
  }
  s.index = il->index[s.stream];
  if (c->schedule != MOR_INTERLEAVE_INTERLEAVED)
    s.slot = s.index;
  if (il->ended[s.stream])
    s.forced = s.stream == MOR_INTERLEAVE_RESPONSE ? c->response_pad_id : c->reasoning_pad_id;
  *slot = s;
  return TRUE;
}

gint32
mor_interleave_choose (MorInterleave *il, MorSampler *sampler, const float *logits, float *logprob)
{
  MorInterleaveSlot slot;
  float lp_dummy;
  if (!logprob)
    logprob = &lp_dummy;
  *logprob = 0.0f;
  if (!mor_interleave_next (il, &slot))
    return -1;
  if (slot.forced >= 0)
    return slot.forced;
  return mor_sampler_sample (sampler, logits, (const gint32 *) il->history->data, il->history->len,
                             &il->mask[slot.stream], logprob);
}

gboolean
mor_interleave_commit (MorInterleave *il, gint32 id)
{
  const MorInterleaveConfig *c = &il->config;
  MorInterleaveSlot slot;
  if (!mor_interleave_next (il, &slot))
    g_return_val_if_reached (FALSE);
  MorInterleaveStream st = slot.stream;
  gint32 own_end = st == MOR_INTERLEAVE_RESPONSE ? c->response_end_id : c->reasoning_end_id;
  gboolean emit = FALSE;
  il->index[st]++;
  if (slot.forced >= 0)
    il->forced[st]++;
  else if (id == c->eos_id && id != own_end)
    il->end = MOR_INTERLEAVE_END_TOKEN;
  else if (id == own_end)
    il->ended[st] = TRUE;
  else
    emit = TRUE;
  g_array_append_val (il->history, id);
  il->step++;
  if (il->end == MOR_INTERLEAVE_END_NONE && il->ended[0] && il->ended[1])
    il->end = id == c->eos_id ? MOR_INTERLEAVE_END_TOKEN : MOR_INTERLEAVE_END_STREAMS;
  if (il->end == MOR_INTERLEAVE_END_NONE && il->step >= c->max_tokens)
    il->end = MOR_INTERLEAVE_END_MAX_TOKENS;
  return emit;
}

void
mor_interleave_finish (MorInterleave *il, MorInterleaveEnd end)
{
  if (il->end == MOR_INTERLEAVE_END_NONE)
    il->end = end;
}

gboolean
mor_interleave_step (MorInterleave *il, MorLlmSession *session, MorSampler *sampler, MorInterleaveToken *token,
                     GError **error)
{
  g_return_val_if_fail (il != NULL && session != NULL && sampler != NULL && token != NULL, FALSE);
  g_return_val_if_fail (!mor_interleave_is_done (il), FALSE);
  MorInterleaveToken t = { 0 };
  mor_interleave_next (il, &t.slot);
  const float *logits = mor_llm_session_get_logits (session, mor_llm_session_n_rows (session) - 1);
  t.id = mor_interleave_choose (il, sampler, logits, &t.logprob);
  if (t.id < 0) {
    g_set_error (error, MOR_INTERLEAVE_ERROR, MOR_INTERLEAVE_ERROR_FAILED,
                 "The %s slot at step %u allows no token: its mask denies every candidate",
                 mor_interleave_stream_name (t.slot.stream), t.slot.step);
    return FALSE;
  }
  t.emit = mor_interleave_commit (il, t.id);
  if (!mor_interleave_is_done (il) || t.emit) {
    g_autoptr (GError) local = NULL;
    if (!mor_llm_session_decode (session, (guint32) t.id, &local)) {
      if (!g_error_matches (local, MOR_LLM_ERROR, MOR_LLM_ERROR_CONTEXT)) {
        g_propagate_error (error, g_steal_pointer (&local));
        return FALSE;
      }
      /* No room for the token: it is dropped and the answer ends here. */
      il->end = MOR_INTERLEAVE_END_CONTEXT;
      t.emit = FALSE;
    } else {
      t.hidden = mor_llm_session_get_hidden (session, 0);
      t.embedding = mor_llm_session_get_embedding (session, 0);
    }
  }
  *token = t;
  return TRUE;
}
