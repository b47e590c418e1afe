/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The whole chain in one thread (see chain.h). */
#include "chain.h"

/* Qwen2.5-Omni's system prompt for speech output (reference qwen2.5-omni.md §4). */
#define QWEN_SPEECH_SYSTEM                                                                                   \
  "You are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable of perceiving auditory " \
  "and visual inputs, as well as generating text and speech."

gboolean
mor_chain_open (MorChain *c, const char *thinker, const char *encoder, const char *talker, const char *device,
                guint32 max_codes, GError **error)
{
  if (!(c->dev = mor_vk_device_open (device, error)) || !(c->thinker_file = mor_gguf_open (thinker, error)))
    return FALSE;
  c->encoder_file = encoder ? mor_gguf_open (encoder, error) : mor_gguf_ref (c->thinker_file);
  if (!c->encoder_file)
    return FALSE;
  gboolean speak = !talker || *talker;
  if (speak && !(c->talker_file = talker ? mor_gguf_open (talker, error) : mor_gguf_ref (c->thinker_file)))
    return FALSE;
  if (!(c->tok = mor_tokenizer_new_from_gguf (c->thinker_file, error)) ||
      !(c->llm = mor_llm_load (c->dev, c->thinker_file, error)) ||
      !(c->enc = mor_encoder_load (c->dev, c->encoder_file, error)))
    return FALSE;
  const MorLlmConfig *lc = mor_llm_get_config (c->llm);
  if (mor_encoder_get_config (c->enc)->output_dim != lc->hidden_size) {
    g_set_error (error, MOR_ENCODER_ERROR, MOR_ENCODER_ERROR_CONFIG, "The encoder's rows have %u values; the "
                 "thinker's hidden size is %u (they must come from one model)",
                 mor_encoder_get_config (c->enc)->output_dim, lc->hidden_size);
    return FALSE;
  }
  if (!(c->session = mor_llm_session_new (c->llm, MIN (4096u, lc->max_position_embeddings), error)))
    return FALSE;
  c->prompt = mor_prompt_new (c->llm, c->session, c->tok);
  if (!speak)
    return TRUE;
  if (!(c->talker = mor_talker_load (c->dev, c->talker_file, error)) ||
      !(c->t2w = mor_token2wav_load (c->dev, c->talker_file, error)))
    return FALSE;
  if (mor_talker_get_config (c->talker)->embedding_size != lc->hidden_size) {
    g_set_error (error, MOR_TALKER_ERROR, MOR_TALKER_ERROR_CONFIG, "The talker reads rows of %u values; the "
                 "thinker's hidden size is %u (they must come from one model)",
                 mor_talker_get_config (c->talker)->embedding_size, lc->hidden_size);
    return FALSE;
  }
  MorSamplerParams sp = MOR_TALKER_SAMPLING_DEFAULT;
  guint32 talker_ctx = MIN (4096 + max_codes, mor_llm_get_config (mor_talker_get_llm (c->talker))->max_position_embeddings);
  return (c->talker_session = mor_talker_session_new (c->talker, talker_ctx, &sp, max_codes + 1, error)) &&
         (c->wave = mor_token2wav_session_new (c->t2w, max_codes, error));
}

void
mor_chain_clear (MorChain *c)
{
  g_clear_pointer (&c->prompt, mor_prompt_free);
  g_clear_pointer (&c->wave, mor_token2wav_session_free);
  g_clear_pointer (&c->talker_session, mor_talker_session_free);
  g_clear_pointer (&c->session, mor_llm_session_free);
  g_clear_pointer (&c->t2w, mor_token2wav_free);
  g_clear_pointer (&c->talker, mor_talker_free);
  g_clear_pointer (&c->enc, mor_encoder_free);
  g_clear_pointer (&c->llm, mor_llm_free);
  g_clear_pointer (&c->tok, mor_tokenizer_unref);
  g_clear_pointer (&c->talker_file, mor_gguf_unref);
  g_clear_pointer (&c->encoder_file, mor_gguf_unref);
  g_clear_pointer (&c->thinker_file, mor_gguf_unref);
  g_clear_pointer (&c->dev, mor_vk_device_unref);
}

void
mor_chain_options_init (MorChainOptions *o)
{
  *o = (MorChainOptions) {
    .response_tokens = -1, .reasoning_tokens = -1, .schedule = MOR_INTERLEAVE_AUTO, .max_tokens = 1024,
    .thinker_sampling = { 0.7f, 50, 0.8f, 1.05f, 0, 0 },
    .system_prompt = QWEN_SPEECH_SYSTEM,
  };
  mor_dit_sample_params_init (&o->wave.dit);
}

void
mor_chain_result_init (MorChainResult *r)
{
  *r = (MorChainResult) {
    .response = g_string_new (NULL), .reasoning = g_string_new (NULL),
    .ids = g_array_new (FALSE, FALSE, sizeof (gint32)), .streams = g_array_new (FALSE, FALSE, 1),
    .emitted = g_array_new (FALSE, FALSE, 1), .hidden = g_array_new (FALSE, FALSE, sizeof (float)),
    .embeddings = g_array_new (FALSE, FALSE, sizeof (float)), .codes = g_array_new (FALSE, FALSE, sizeof (gint32)),
    .audio = g_array_new (FALSE, FALSE, sizeof (float)), .first_response_ms = -1, .first_audio_ms = -1,
    .thinker_end = "running",
  };
}

void
mor_chain_result_clear (MorChainResult *r)
{
  if (r->response)
    g_string_free (r->response, TRUE);
  if (r->reasoning)
    g_string_free (r->reasoning, TRUE);
  GArray **arrays[] = { &r->ids, &r->streams, &r->emitted, &r->hidden, &r->embeddings, &r->codes, &r->audio };
  for (guint i = 0; i < G_N_ELEMENTS (arrays); i++)
    g_clear_pointer (arrays[i], g_array_unref);
}

static double
ms_since (gint64 t0)
{
  return (double) (g_get_monotonic_time () - t0) / 1000.0;
}

/* Pulls what token2wav has ready into the result. */
static gboolean
pull_audio (MorChain *c, MorChainResult *r, gint64 t0, GError **error)
{
  for (;;) {
    guint64 n;
    const float *samples = mor_token2wav_session_pull (c->wave, &n, error);
    if (!samples)
      return FALSE;
    if (n == 0)
      return TRUE;
    if (r->first_audio_ms < 0)
      r->first_audio_ms = ms_since (t0);
    g_array_append_vals (r->audio, samples, n);
  }
}

/* Runs the talker as far as its reply rows go; TRUE with *@done when it ended. */
static gboolean
drive_talker (MorChain *c, MorChainResult *r, gint64 t0, gboolean *done, GError **error)
{
  *done = FALSE;
  for (;;) {
    gint32 code;
    switch (mor_talker_session_next (c->talker_session, &code, error)) {
    case MOR_TALKER_ERROR_STATUS:
      return FALSE;
    case MOR_TALKER_NEED_REPLY:
      return TRUE;
    case MOR_TALKER_DONE:
      *done = TRUE;
      mor_token2wav_session_end (c->wave);
      return pull_audio (c, r, t0, error);
    case MOR_TALKER_CODE:
      g_array_append_val (r->codes, code);
      if (!mor_token2wav_session_push (c->wave, &code, 1, error) || !pull_audio (c, r, t0, error))
        return FALSE;
      break;
    }
  }
}

/* Starts the talker on the prompt's rows. */
static gboolean
begin_talker (MorChain *c, MorPrompt *prompt, const MorChainOptions *o, GError **error)
{
  guint32 dim = mor_llm_get_config (c->llm)->hidden_size, n = mor_prompt_get_n_rows (prompt);
  g_autofree float *rows = g_new (float, (gsize) n * dim);
  for (guint32 i = 0; i < n; i++)
    mor_talker_prompt_row (c->talker, mor_prompt_get_hidden (prompt) + (gsize) i * dim,
                           mor_prompt_get_embeddings (prompt) + (gsize) i * dim, mor_prompt_get_ids (prompt)[i],
                           rows + (gsize) i * dim);
  MorSamplerParams sp = o->talker_greedy ? MOR_TALKER_SAMPLING_GREEDY : MOR_TALKER_SAMPLING_DEFAULT;
  mor_talker_session_set_sampling (c->talker_session, &sp);
  mor_talker_session_set_seed (c->talker_session, o->wave.seed);
  return mor_talker_session_begin (c->talker_session, rows, n, o->speaker, error) &&
         mor_token2wav_session_begin (c->wave, o->speaker, &o->wave, error);
}

gboolean
mor_chain_begin (MorChain *c, const MorChainOptions *o, const float *rows, guint32 n, GError **error)
{
  return mor_prompt_begin (c->prompt, o->system_prompt, error) &&
         (n == 0 || mor_prompt_add_audio (c->prompt, rows, n, error));
}

gboolean
mor_chain_answer (MorChain *c, const float *rows, guint32 n, gint64 t0_us, const MorChainOptions *o,
                  MorChainResult *r, GError **error)
{
  const MorLlmConfig *lc = mor_llm_get_config (c->llm);
  guint32 dim = lc->hidden_size;
  gint64 t0 = t0_us ? t0_us : g_get_monotonic_time ();
  MorInterleaveConfig ic;
  if (!mor_interleave_config_from_gguf (c->thinker_file, c->tok, &ic, error))
    return FALSE;
  if (o->response_tokens >= 1)
    ic.response_tokens = o->response_tokens;
  if (o->reasoning_tokens >= 0)
    ic.reasoning_tokens = o->reasoning_tokens;
  ic.schedule = o->schedule;
  ic.max_tokens = o->max_tokens;
  if (!mor_interleave_config_resolve (&ic, lc->vocab_size, error))
    return FALSE;
  MorPrompt *prompt = c->prompt;
  if ((n && !mor_prompt_add_audio (prompt, rows, n, error)) || !mor_prompt_finish (prompt, error))
    return FALSE;
  if (c->talker && !begin_talker (c, prompt, o, error))
    return FALSE;

  g_autoptr (MorSampler) sampler = mor_sampler_new (lc->vocab_size, &o->thinker_sampling);
  g_autoptr (MorInterleave) il = mor_interleave_new (&ic, mor_prompt_get_ids (prompt), mor_prompt_get_n_rows (prompt));
  g_autoptr (MorTokenizerStream) response_text = mor_tokenizer_stream_new (c->tok, FALSE);
  g_autoptr (MorTokenizerStream) reasoning_text = mor_tokenizer_stream_new (c->tok, FALSE);
  MorTokenizerStream *text[2] = { response_text, reasoning_text };
  GString *out[2] = { r->response, r->reasoning };
  g_autofree float *row = g_new (float, dim);
  gboolean talker_done = c->talker == NULL;
  while (!mor_interleave_is_done (il)) {
    MorInterleaveToken tk;
    if (!mor_interleave_step (il, c->session, sampler, &tk, error))
      return FALSE;
    guint8 stream = tk.slot.stream, emit = tk.emit;
    g_array_append_val (r->ids, tk.id);
    g_array_append_val (r->streams, stream);
    g_array_append_val (r->emitted, emit);
    if (tk.hidden) {
      g_array_append_vals (r->hidden, tk.hidden, dim);
      g_array_append_vals (r->embeddings, tk.embedding, dim);
    } else {  /* the answer's last token is not decoded: zero rows keep the arrays aligned */
      g_array_set_size (r->hidden, r->hidden->len + dim);
      g_array_set_size (r->embeddings, r->embeddings->len + dim);
    }
    if (!tk.emit)
      continue;
    mor_tokenizer_stream_push (text[stream], tk.id, out[stream]);
    if (stream != MOR_INTERLEAVE_RESPONSE)
      continue;
    if (r->first_response_ms < 0)
      r->first_response_ms = ms_since (t0);
    if (talker_done)
      continue;
    for (guint32 i = 0; i < dim; i++)
      row[i] = tk.hidden[i] + tk.embedding[i];
    if (!mor_talker_session_push_reply (c->talker_session, row, error) ||
        !drive_talker (c, r, t0, &talker_done, error))
      return FALSE;
  }
  for (guint i = 0; i < 2; i++)
    mor_tokenizer_stream_flush (text[i], out[i]);
  r->thinker_end = mor_interleave_end_name (mor_interleave_get_end (il));
  if (!talker_done) {
    mor_talker_session_end_reply (c->talker_session);
    if (!drive_talker (c, r, t0, &talker_done, error))
      return FALSE;
  }
  r->total_ms = ms_since (t0);
  return TRUE;
}
