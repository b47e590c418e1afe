/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/interleave.c: the p:q schedule on scripted logits (exact
 * slots, masks, forced pads, end conditions), the mor.interleave.* keys, and
 * the scheduler driving a tiny random thinker through a Vulkan session. */
#include <math.h>
#include <string.h>

#include "interleave.h"
#include "mkmodel.h"
#include "prompt.h"

/* ---- scripted logits ---- */

enum { V = 32, R_END = 20, T_END = 21, R_PAD = 22, T_PAD = 23, EOS = 24 };

static MorInterleaveConfig
config (MorInterleaveSchedule schedule, guint32 p, guint32 q, guint32 max_tokens)
{
  MorInterleaveConfig c = { schedule, p, q, R_END, T_END, R_PAD, T_PAD, EOS, max_tokens };
  g_assert_true (mor_interleave_config_resolve (&c, V, NULL));
  return c;
}

/* Logits that make @want the argmax and @fallback the runner-up. */
static void
script (float *logits, gint32 want, gint32 fallback)
{
  for (guint i = 0; i < V; i++)
    logits[i] = -(float) i * 0.01f;
  logits[fallback] = 5.0f;
  logits[want] = 10.0f;
}

typedef struct {
  MorInterleaveSlot slot;
  gint32 id;
  gboolean emit;
  float logprob;
} Step;

/* Runs the scheduler, asking for want[step] (fallback 1) until done or @n steps. */
static guint
run (MorInterleave *il, const gint32 *want, guint n, Step *out)
{
  g_autoptr (MorSampler) sampler = mor_sampler_new (V, &MOR_SAMPLER_PARAMS_GREEDY);
  float logits[V];
  guint i = 0;
  for (; i < n && !mor_interleave_is_done (il); i++) {
    g_assert_true (mor_interleave_next (il, &out[i].slot));
    g_assert_cmpuint (out[i].slot.step, ==, i);
    script (logits, want[i], 1);
    out[i].id = mor_interleave_choose (il, sampler, logits, &out[i].logprob);
    g_assert_cmpint (out[i].id, >=, 0);
    out[i].emit = mor_interleave_commit (il, out[i].id);
  }
  return i;
}

static void
test_parse_ratio (void)
{
  guint32 p = 7, q = 7;
  g_assert_true (mor_interleave_parse_ratio ("2:8", &p, &q));
  g_assert_cmpuint (p, ==, 2);
  g_assert_cmpuint (q, ==, 8);
  g_assert_true (mor_interleave_parse_ratio ("1:0", &p, &q));
  g_assert_cmpuint (q, ==, 0);
  g_assert_true (mor_interleave_parse_ratio ("9999:9999", &p, &q));
  const char *bad[] = { "", "2", "2:", ":8", "0:8", "2:8:1", "2-8", "a:b", " 2:8", "2:8 ", "-1:2", "10000:1",
                        "2:+8" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    p = q = 42;
    g_assert_false (mor_interleave_parse_ratio (bad[i], &p, &q));
    g_assert_cmpuint (p, ==, 42);
    g_assert_cmpuint (q, ==, 42);
  }
  g_assert_false (mor_interleave_parse_ratio (NULL, &p, &q));
}

/* Every cycle of an interleaved answer that no stream ends has exactly p
 * response and q reasoning slots, in that order, and next_in points at the
 * stream's next slot. */
static void
check_ratio (guint32 p, guint32 q)
{
  MorInterleaveConfig c = config (MOR_INTERLEAVE_INTERLEAVED, p, q, 60);
  g_autoptr (MorInterleave) il = mor_interleave_new (&c, NULL, 0);
  gint32 want[60];
  for (guint i = 0; i < 60; i++)
    want[i] = 2 + i % 7;
  Step s[60];
  g_assert_cmpuint (run (il, want, 60, s), ==, 60);
  g_assert_cmpint (mor_interleave_get_end (il), ==, MOR_INTERLEAVE_END_MAX_TOKENS);
  for (guint i = 0; i < 60; i++) {
    guint at = i % (p + q);
    g_assert_cmpuint (s[i].slot.cycle, ==, i / (p + q));
    g_assert_cmpuint (s[i].slot.slot, ==, at);
    g_assert_cmpint (s[i].slot.stream, ==, at < p ? MOR_INTERLEAVE_RESPONSE : MOR_INTERLEAVE_REASONING);
    g_assert_cmpint (s[i].slot.forced, ==, -1);
    g_assert_true (s[i].emit);
    g_assert_cmpint (s[i].id, ==, want[i]);
    for (guint j = i + 1; j < 60; j++)
      if (s[j].slot.stream == s[i].slot.stream) {
        g_assert_cmpuint (s[i].slot.next_in, ==, j - i);
        break;
      }
  }
  guint32 n_resp = mor_interleave_count (il, MOR_INTERLEAVE_RESPONSE, FALSE);
  guint32 n_reas = mor_interleave_count (il, MOR_INTERLEAVE_REASONING, FALSE);
  g_assert_cmpuint (n_resp + n_reas, ==, 60);
  g_assert_cmpuint (n_reas, ==, 60 / (p + q) * q + MAX (0, (gint) (60 % (p + q)) - (gint) p));
}

static void
test_ratio (void)
{
  check_ratio (2, 8);
  check_ratio (3, 5);
  check_ratio (1, 0);
  check_ratio (1, 1);
  check_ratio (7, 2);
}

/* A slot never draws the other stream's control tokens or its own pad: the
 * scripted favourite is replaced by the runner-up. */
static void
test_masks (void)
{
  MorInterleaveConfig c = config (MOR_INTERLEAVE_INTERLEAVED, 1, 1, 20);
  g_autoptr (MorInterleave) il = mor_interleave_new (&c, NULL, 0);
  /* response slot: reasoning end, reasoning pad, response pad; reasoning: the mirror. */
  gint32 want[] = { T_END, R_END, T_PAD, R_PAD, R_PAD, T_PAD };
  Step s[6];
  run (il, want, 6, s);
  g_assert_cmpint (s[0].id, ==, 1);
  g_assert_cmpint (s[1].id, ==, 1);
  g_assert_cmpint (s[2].id, ==, 1);
  g_assert_cmpint (s[3].id, ==, 1);
  g_assert_cmpint (s[4].id, ==, 1);
  g_assert_cmpint (s[5].id, ==, 1);
  const MorSamplerMask *m = mor_interleave_get_mask (il, MOR_INTERLEAVE_RESPONSE);
  g_assert_null (m->allow);
  g_assert_cmpuint (m->n_deny, ==, 3);
}

/* The response ends first: its slots get forced pads (not emitted, log-prob 0)
 * while the reasoning goes on, until the reasoning ends too. */
static void
test_forced_pads (void)
{
  MorInterleaveConfig c = config (MOR_INTERLEAVE_INTERLEAVED, 2, 3, 100);
  g_autoptr (MorInterleave) il = mor_interleave_new (&c, NULL, 0);
  /* cycle 0: r r t t t; cycle 1: r R_END t t t; cycle 2: pad pad t t T_END */
  gint32 want[] = { 3, 4, 5, 6, 7, 8, R_END, 9, 10, 11, 12, 13, 14, 15, T_END, 2, 2 };
  Step s[17];
  guint n = run (il, want, 17, s);
  g_assert_cmpuint (n, ==, 15);
  g_assert_cmpint (mor_interleave_get_end (il), ==, MOR_INTERLEAVE_END_STREAMS);
  g_assert_false (s[6].emit);
  g_assert_true (mor_interleave_stream_ended (il, MOR_INTERLEAVE_RESPONSE));
  for (guint i = 10; i <= 11; i++) {
    g_assert_cmpint (s[i].slot.stream, ==, MOR_INTERLEAVE_RESPONSE);
    g_assert_cmpint (s[i].slot.forced, ==, R_PAD);
    g_assert_cmpint (s[i].id, ==, R_PAD);
    g_assert_false (s[i].emit);
    g_assert_cmpfloat (s[i].logprob, ==, 0.0f);
  }
  for (guint i = 12; i <= 13; i++)
    g_assert_true (s[i].emit);
  g_assert_false (s[14].emit);
  g_assert_cmpuint (mor_interleave_count (il, MOR_INTERLEAVE_RESPONSE, TRUE), ==, 2);
  g_assert_cmpuint (mor_interleave_count (il, MOR_INTERLEAVE_RESPONSE, FALSE), ==, 4); /* 3 + its end */
  g_assert_cmpuint (mor_interleave_count (il, MOR_INTERLEAVE_REASONING, FALSE), ==, 9);
  g_assert_false (mor_interleave_next (il, &s[0].slot));
}

/* The reasoning ends first: reasoning slots are padded, the response goes on. */
static void
test_forced_pads_reasoning (void)
{
  MorInterleaveConfig c = config (MOR_INTERLEAVE_INTERLEAVED, 1, 2, 100);
  g_autoptr (MorInterleave) il = mor_interleave_new (&c, NULL, 0);
  gint32 want[] = { 3, T_END, 4, 5, 6, 7, 8, 9, 10, R_END };
  Step s[10];
  g_assert_cmpuint (run (il, want, 10, s), ==, 10);
  for (guint i = 2; i < 9; i++) {
    gboolean reasoning = i % 3 != 0;
    g_assert_cmpint (s[i].slot.forced, ==, reasoning ? T_PAD : -1);
    g_assert_cmpint (s[i].emit, ==, !reasoning);
  }
  g_assert_cmpint (mor_interleave_get_end (il), ==, MOR_INTERLEAVE_END_STREAMS);
}

/* The model's end token ends the answer in any slot. */
static void
test_eos (void)
{
  MorInterleaveConfig c = config (MOR_INTERLEAVE_INTERLEAVED, 2, 8, 100);
  g_autoptr (MorInterleave) il = mor_interleave_new (&c, NULL, 0);
  gint32 want[] = { 3, 4, 5, EOS, 6 };
  Step s[5];
  g_assert_cmpuint (run (il, want, 5, s), ==, 4);
  g_assert_false (s[3].emit);
  g_assert_cmpint (mor_interleave_get_end (il), ==, MOR_INTERLEAVE_END_TOKEN);
}

/* think-first: reasoning until its end token, then the response; no pads. */
static void
test_think_first (void)
{
  MorInterleaveConfig c = config (MOR_INTERLEAVE_THINK_FIRST, 2, 8, 100);
  g_autoptr (MorInterleave) il = mor_interleave_new (&c, NULL, 0);
  gint32 want[] = { 3, 4, 5, T_END, 6, 7, R_END, 8 };
  Step s[8];
  g_assert_cmpuint (run (il, want, 8, s), ==, 7);
  for (guint i = 0; i < 7; i++) {
    g_assert_cmpint (s[i].slot.stream, ==, i < 4 ? MOR_INTERLEAVE_REASONING : MOR_INTERLEAVE_RESPONSE);
    g_assert_cmpint (s[i].slot.forced, ==, -1);
    g_assert_cmpuint (s[i].slot.cycle, ==, 0);
    g_assert_cmpuint (s[i].slot.slot, ==, i < 4 ? i : i - 4);
  }
  g_assert_cmpint (mor_interleave_get_end (il), ==, MOR_INTERLEAVE_END_STREAMS);
}

/* speak-only: response slots only; a plain model (no control tokens) ends
 * its response, and the answer, with <|im_end|>. */
static void
test_speak_only (void)
{
  MorInterleaveConfig c = { MOR_INTERLEAVE_AUTO, 2, 8, -1, -1, -1, -1, EOS, 100 };
  g_assert_true (mor_interleave_config_resolve (&c, V, NULL));
  g_assert_cmpint (c.schedule, ==, MOR_INTERLEAVE_SPEAK_ONLY);
  g_assert_cmpint (c.response_end_id, ==, EOS);
  g_autoptr (MorInterleave) il = mor_interleave_new (&c, NULL, 0);
  gint32 want[] = { 3, 4, 5, 6, EOS, 7 };
  Step s[6];
  g_assert_cmpuint (run (il, want, 6, s), ==, 5);
  for (guint i = 0; i < 5; i++)
    g_assert_cmpint (s[i].slot.stream, ==, MOR_INTERLEAVE_RESPONSE);
  g_assert_cmpint (mor_interleave_get_end (il), ==, MOR_INTERLEAVE_END_TOKEN);
  g_assert_true (mor_interleave_stream_ended (il, MOR_INTERLEAVE_REASONING));
}

static void
test_resolve_errors (void)
{
  g_autoptr (GError) error = NULL;
  MorInterleaveConfig c = { MOR_INTERLEAVE_INTERLEAVED, 2, 8, R_END, -1, R_PAD, T_PAD, EOS, 100 };
  g_assert_false (mor_interleave_config_resolve (&c, V, &error));
  g_assert_error (error, MOR_INTERLEAVE_ERROR, MOR_INTERLEAVE_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "reasoning end"));
  g_clear_error (&error);
  c = (MorInterleaveConfig) { MOR_INTERLEAVE_THINK_FIRST, 2, 8, R_END, T_END, -1, -1, EOS, 100 };
  g_assert_true (mor_interleave_config_resolve (&c, V, &error));
  c = (MorInterleaveConfig) { MOR_INTERLEAVE_INTERLEAVED, 2, 8, R_END, T_END, R_PAD, V, EOS, 100 };
  g_assert_false (mor_interleave_config_resolve (&c, V, &error));
  g_assert_error (error, MOR_INTERLEAVE_ERROR, MOR_INTERLEAVE_ERROR_CONFIG);
  g_clear_error (&error);
  c = (MorInterleaveConfig) { MOR_INTERLEAVE_INTERLEAVED, 0, 8, R_END, T_END, R_PAD, T_PAD, EOS, 100 };
  g_assert_false (mor_interleave_config_resolve (&c, V, &error));
  g_assert_error (error, MOR_INTERLEAVE_ERROR, MOR_INTERLEAVE_ERROR_CONFIG);
}

/* ---- the keys and a real session ---- */

static MorGguf *
make_thinker (const MorMkmodelThinkerOptions *o)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MorGgufWriter) w = mor_mkmodel_thinker_full (mor_mkmodel_thinker_shape ("tiny"), MOR_TYPE_F16, 5, o,
                                                          &error);
  g_assert_no_error (error);
  g_autoptr (GBytes) bytes = mor_gguf_writer_to_bytes (w);
  MorGguf *g = mor_gguf_new_from_bytes (bytes, &error);
  g_assert_no_error (error);
  return g;
}

static void
test_keys (void)
{
  g_autoptr (GError) error = NULL;
  MorMkmodelThinkerOptions o = { 3, 5, TRUE };
  g_autoptr (MorGguf) g = make_thinker (&o);
  g_autoptr (MorTokenizer) tok = mor_tokenizer_new_from_gguf (g, &error);
  g_assert_no_error (error);
  MorInterleaveConfig c;
  g_assert_true (mor_interleave_config_from_gguf (g, tok, &c, &error));
  g_assert_cmpuint (c.response_tokens, ==, 3);
  g_assert_cmpuint (c.reasoning_tokens, ==, 5);
  g_assert_cmpint (c.response_end_id, ==, mor_tokenizer_find_token (tok, "<|response_end|>", -1));
  g_assert_cmpint (c.reasoning_pad_id, ==, mor_tokenizer_find_token (tok, "<|reasoning_pad|>", -1));
  g_assert_cmpint (c.eos_id, ==, mor_tokenizer_find_token (tok, "<|im_end|>", -1));
  g_assert_true (mor_interleave_config_resolve (&c, mor_tokenizer_n_tokens (tok), &error));
  g_assert_cmpint (c.schedule, ==, MOR_INTERLEAVE_INTERLEAVED);

  g_autoptr (MorGguf) plain = make_thinker (NULL);
  g_autoptr (MorTokenizer) ptok = mor_tokenizer_new_from_gguf (plain, &error);
  g_assert_true (mor_interleave_config_from_gguf (plain, ptok, &c, &error));
  g_assert_cmpuint (c.response_tokens, ==, 2);
  g_assert_cmpuint (c.reasoning_tokens, ==, 8);
  g_assert_cmpint (c.response_end_id, ==, -1);
  g_assert_true (mor_interleave_config_resolve (&c, mor_tokenizer_n_tokens (ptok), &error));
  g_assert_cmpint (c.schedule, ==, MOR_INTERLEAVE_SPEAK_ONLY);
  g_assert_cmpint (c.response_end_id, ==, c.eos_id);
  c.schedule = MOR_INTERLEAVE_INTERLEAVED;
  c.response_end_id = -1;
  g_assert_false (mor_interleave_config_resolve (&c, mor_tokenizer_n_tokens (ptok), &error));
  g_assert_error (error, MOR_INTERLEAVE_ERROR, MOR_INTERLEAVE_ERROR_CONFIG);
  g_clear_error (&error);

  g_assert_cmpint (mor_interleave_token_id (tok, "<|nope|>", &error), ==, -1);
  g_assert_error (error, MOR_INTERLEAVE_ERROR, MOR_INTERLEAVE_ERROR_TOKEN);
  g_assert_nonnull (strstr (error->message, "<|nope|>"));
}

/* Control tokens given as text replace the model's; NULL and "" keep them;
 * a text that is no token is an error naming it. */
static void
test_set_tokens (void)
{
  g_autoptr (GError) error = NULL;
  MorMkmodelThinkerOptions o = { 2, 8, TRUE };
  g_autoptr (MorGguf) g = make_thinker (&o);
  g_autoptr (MorTokenizer) tok = mor_tokenizer_new_from_gguf (g, &error);
  MorInterleaveConfig c, model;
  g_assert_true (mor_interleave_config_from_gguf (g, tok, &model, &error));
  c = model;
  const char *texts[4] = { NULL, "<|im_end|>", "", "<|response_end|>" };
  g_assert_true (mor_interleave_config_set_tokens (&c, tok, texts, &error));
  g_assert_no_error (error);
  g_assert_cmpint (c.response_end_id, ==, model.response_end_id);
  g_assert_cmpint (c.reasoning_end_id, ==, mor_tokenizer_find_token (tok, "<|im_end|>", -1));
  g_assert_cmpint (c.response_pad_id, ==, model.response_pad_id);
  g_assert_cmpint (c.reasoning_pad_id, ==, model.response_end_id);
  const char *bad[4] = { NULL, NULL, "<|nope|>", NULL };
  g_assert_false (mor_interleave_config_set_tokens (&c, tok, bad, &error));
  g_assert_error (error, MOR_INTERLEAVE_ERROR, MOR_INTERLEAVE_ERROR_TOKEN);
  g_assert_nonnull (strstr (error->message, "<|nope|>"));
}

/* A key naming a token the vocabulary lacks is an error naming the key. */
static void
test_keys_bad (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MorGgufWriter) w = mor_mkmodel_thinker (mor_mkmodel_thinker_shape ("tiny"), MOR_TYPE_F16, 5, &error);
  mor_gguf_writer_add_string (w, "mor.interleave.reasoning_end", "<|not_there|>");
  g_autoptr (GBytes) bytes = mor_gguf_writer_to_bytes (w);
  g_autoptr (MorGguf) g = mor_gguf_new_from_bytes (bytes, &error);
  g_autoptr (MorTokenizer) tok = mor_tokenizer_new_from_gguf (g, &error);
  g_assert_no_error (error);
  MorInterleaveConfig c;
  g_assert_false (mor_interleave_config_from_gguf (g, tok, &c, &error));
  g_assert_error (error, MOR_INTERLEAVE_ERROR, MOR_INTERLEAVE_ERROR_TOKEN);
  g_assert_nonnull (strstr (error->message, "mor.interleave.reasoning_end"));
}

/* mor_interleave_step() on a tiny thinker: each step's token is decoded (the
 * row's embedding is the token's), the session advances one position a step,
 * and the ratio holds while the control tokens are muted. */
static void
test_step (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MorVkDevice) dev = mor_vk_device_open (NULL, &error);
  g_assert_no_error (error);
  MorMkmodelThinkerOptions o = { 2, 8, TRUE };
  g_autoptr (MorGguf) g = make_thinker (&o);
  g_autoptr (MorTokenizer) tok = mor_tokenizer_new_from_gguf (g, &error);
  g_autoptr (MorLlm) llm = mor_llm_load (dev, g, &error);
  g_assert_no_error (error);
  const MorLlmConfig *lc = mor_llm_get_config (llm);
  MorInterleaveConfig c;
  g_assert_true (mor_interleave_config_from_gguf (g, tok, &c, &error));
  c.max_tokens = 25;
  g_assert_true (mor_interleave_config_resolve (&c, lc->vocab_size, &error));

  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_assert_true (mor_prompt_template_head (tok, "sys", ids, &error));
  g_assert_true (mor_tokenizer_encode (tok, "what is one plus one", -1, FALSE, ids, &error));
  g_assert_true (mor_prompt_template_tail (tok, ids, &error));
  g_autoptr (MorLlmSession) s = mor_llm_session_new (llm, 128, &error);
  g_assert_no_error (error);
  g_assert_true (mor_llm_session_prefill (s, (const guint32 *) ids->data, NULL, NULL, ids->len, FALSE, &error));
  g_autoptr (MorSampler) sampler = mor_sampler_new (lc->vocab_size, &MOR_SAMPLER_PARAMS_GREEDY);
  g_autoptr (MorInterleave) il = mor_interleave_new (&c, (const gint32 *) ids->data, ids->len);
  g_autofree float *e = g_new (float, lc->hidden_size);
  guint steps = 0;
  while (!mor_interleave_is_done (il)) {
    MorInterleaveToken t;
    g_assert_true (mor_interleave_step (il, s, sampler, &t, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (t.slot.step, ==, steps);
    g_assert_cmpint (t.slot.stream, ==, steps % 10 < 2 ? MOR_INTERLEAVE_RESPONSE : MOR_INTERLEAVE_REASONING);
    g_assert_true (t.emit);
    g_assert_nonnull (t.hidden);
    mor_llm_embed_token (llm, t.id, e);
    g_assert_cmpmem (e, lc->hidden_size * 4, t.embedding, lc->hidden_size * 4);
    g_assert_cmpint (mor_tokenizer_token_type (tok, t.id), !=, MOR_TOKEN_TYPE_CONTROL);
    steps++;
  }
  g_assert_cmpuint (steps, ==, 25);
  g_assert_cmpuint (mor_interleave_get_steps (il), ==, 25);
  g_assert_cmpuint (mor_llm_session_get_pos (s), ==, ids->len + 25);
  g_assert_cmpint (mor_interleave_get_end (il), ==, MOR_INTERLEAVE_END_MAX_TOKENS);
  g_assert_cmpuint (mor_vk_device_validation_messages (dev), ==, 0);
}

/* A full context ends the answer without an error. */
static void
test_step_context (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MorVkDevice) dev = mor_vk_device_open (NULL, &error);
  MorMkmodelThinkerOptions o = { 2, 8, TRUE };
  g_autoptr (MorGguf) g = make_thinker (&o);
  g_autoptr (MorTokenizer) tok = mor_tokenizer_new_from_gguf (g, &error);
  g_autoptr (MorLlm) llm = mor_llm_load (dev, g, &error);
  g_assert_no_error (error);
  MorInterleaveConfig c;
  g_assert_true (mor_interleave_config_from_gguf (g, tok, &c, &error));
  g_assert_true (mor_interleave_config_resolve (&c, mor_llm_get_config (llm)->vocab_size, &error));
  g_autoptr (MorLlmSession) s = mor_llm_session_new (llm, 8, &error);
  guint32 prompt[4] = { 1, 2, 3, 4 };
  g_assert_true (mor_llm_session_prefill (s, prompt, NULL, NULL, 4, FALSE, &error));
  g_autoptr (MorSampler) sampler = mor_sampler_new (mor_llm_get_config (llm)->vocab_size,
                                                    &MOR_SAMPLER_PARAMS_GREEDY);
  g_autoptr (MorInterleave) il = mor_interleave_new (&c, NULL, 0);
  guint emitted = 0;
  while (!mor_interleave_is_done (il)) {
    MorInterleaveToken t;
    g_assert_true (mor_interleave_step (il, s, sampler, &t, &error));
    emitted += t.emit;
  }
  g_assert_cmpint (mor_interleave_get_end (il), ==, MOR_INTERLEAVE_END_CONTEXT);
  g_assert_cmpuint (emitted, ==, 4);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/interleave/parse-ratio", test_parse_ratio);
  g_test_add_func ("/interleave/ratio", test_ratio);
  g_test_add_func ("/interleave/masks", test_masks);
  g_test_add_func ("/interleave/forced-pads", test_forced_pads);
  g_test_add_func ("/interleave/forced-pads-reasoning", test_forced_pads_reasoning);
  g_test_add_func ("/interleave/eos", test_eos);
  g_test_add_func ("/interleave/think-first", test_think_first);
  g_test_add_func ("/interleave/speak-only", test_speak_only);
  g_test_add_func ("/interleave/resolve-errors", test_resolve_errors);
  g_test_add_func ("/interleave/keys", test_keys);
  g_test_add_func ("/interleave/keys-bad", test_keys_bad);
  g_test_add_func ("/interleave/set-tokens", test_set_tokens);
  g_test_add_func ("/interleave/step", test_step);
  g_test_add_func ("/interleave/step-context", test_step_context);
  return g_test_run ();
}
