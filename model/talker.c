/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The talker: codec codes from thinker rows, on the shared Qwen2 decoder. */
#include "talker.h"

#include <math.h>
#include <string.h>

#include "types.h"

G_DEFINE_QUARK (mor-talker-error-quark, mor_talker_error)

struct _MorTalker {
  MorLlm *llm;                  /* the decoder: talker.* tensors, mor.talker.* keys */
  MorTalkerConfig config;
  float *text_rows;             /* (3, embedding): talker.text_embd rows start, end, pad */
  char **speakers;              /* (n_speakers) names, NULL-terminated */
  float *speaker_rows;          /* (n_speakers, embedding): spk.<name>.bos_embd */
  guint32 default_speaker;
};

struct _MorTalkerSession {
  MorTalker *t;
  MorLlmSession *llm;
  MorSampler *sampler;
  guint32 n_ctx;                /* positions of the KV cache */
  guint32 max_new_tokens;
  float *row;                   /* (embedding) the next input row */
  float *codec;                 /* (embedding) a codec embedding */
  /* The answer. */
  gboolean active;              /* begun and not done */
  gboolean reply_ended;
  GQueue reply;                 /* reply rows given and not yet used, oldest first (g_free) */
  guint32 n_reply;              /* reply rows given */
  guint32 limit;                /* tokens generate may make: min (max_new_tokens, n_ctx − P) */
  guint32 k;                    /* tokens made so far (the index of the next) */
  guint32 n_codes;              /* codes given out */
  GArray *history;              /* gint32: [mask]·P + [pad, start] + tokens made */
  gboolean have_logits;
};

/* ---- loading ---- */

static gboolean
valid_speaker_name (const char *s, gsize len)
{
  if (len == 0 || len > 32)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isalnum (s[i]) && s[i] != '_' && s[i] != '-')
      return FALSE;
  return TRUE;
}

/* A tensor of @n_rows rows of @n floats (any type), dequantized into @out. */
static gboolean
read_rows (MorGguf *g, const char *name, guint32 n, guint32 n_rows, float *out, GError **error)
{
  const MorGgufTensor *t;
  guint64 ne[2] = { n, n_rows };
  if (!mor_gguf_check_tensor (g, name, n_rows == 1 ? 1 : 2, ne, &t, error))
    return FALSE;
  guint64 row = mor_type_row_bytes (t->type, n);
  for (guint32 i = 0; i < n_rows; i++)
    mor_ref_dequantize_row (t->type, (const guint8 *) t->data + row * i, out + (gsize) i * n, n);
  return TRUE;
}

static gboolean
find_speaker (char **names, const char *name, guint *index)
{
  for (guint i = 0; names[i]; i++)
    if (strcmp (names[i], name) == 0) {
      *index = i;
      return TRUE;
    }
  return FALSE;
}

static gboolean
read_speakers (MorTalker *t, MorGguf *g, GError **error)
{
  MorTalkerConfig *c = &t->config;
  guint64 n = 0;
  if (!mor_gguf_get_string_array (g, "mor.speakers.names", &n, error))
    return FALSE;
  if (n == 0 || n > 1024) {
    g_set_error (error, MOR_TALKER_ERROR, MOR_TALKER_ERROR_CONFIG,
                 "%s: mor.speakers.names has %" G_GUINT64_FORMAT " entries; expected 1 to 1024",
                 mor_gguf_get_name (g), n);
    return FALSE;
  }
  c->n_speakers = (guint32) n;
  t->speakers = g_new0 (char *, n + 1);
  t->speaker_rows = g_new (float, (gsize) n * c->embedding_size);
  for (guint32 i = 0; i < n; i++) {
    gsize len;
    const char *s = mor_gguf_get_array_string (g, "mor.speakers.names", i, &len);
    if (!valid_speaker_name (s, len)) {
      g_set_error (error, MOR_TALKER_ERROR, MOR_TALKER_ERROR_CONFIG,
                   "%s: mor.speakers.names[%u] is not 1 to 32 letters, digits, _ or -",
                   mor_gguf_get_name (g), i);
      return FALSE;
    }
    t->speakers[i] = g_strndup (s, len);
    g_autofree char *name = g_strdup_printf ("spk.%s.bos_embd", t->speakers[i]);
    if (!read_rows (g, name, c->embedding_size, 1, t->speaker_rows + (gsize) i * c->embedding_size, error))
      return FALSE;
  }
  const char *def = NULL;
  if (!mor_gguf_get_string_default (g, "mor.speakers.default", NULL, &def, error))
    return FALSE;
  t->default_speaker = 0;
  if (def) {
    guint i = 0;
    if (!find_speaker (t->speakers, def, &i)) {
      g_set_error (error, MOR_TALKER_ERROR, MOR_TALKER_ERROR_CONFIG,
                   "%s: mor.speakers.default “%s” is not in mor.speakers.names", mor_gguf_get_name (g), def);
      return FALSE;
    }
    t->default_speaker = i;
  }
  return TRUE;
}

void
mor_talker_free (MorTalker *t)
{
  if (!t)
    return;
  g_clear_pointer (&t->llm, mor_llm_free);
  g_free (t->text_rows);
  g_strfreev (t->speakers);
  g_free (t->speaker_rows);
  g_free (t);
}

/**
 * mor_talker_load:
 * @dev: the device to run on
 * @gguf: a talker.gguf (or a one-file model.gguf)
 * @error: return location for a #GError, or %NULL
 *
 * Loads the decoder (mor_llm_load_part(), part "talker"), the mor.talker.*
 * ids, talker.text_embd and the speakers' bos rows. Errors name the file and
 * the key or tensor: MOR_GGUF_ERROR_NOT_FOUND / _TYPE, MOR_LLM_ERROR_CONFIG,
 * MOR_TALKER_ERROR_CONFIG (a codec id outside the vocabulary, a bad speaker
 * list).
 *
 * Returns: (transfer full): the talker, or %NULL with @error set
 */
MorTalker *
mor_talker_load (MorVkDevice *dev, MorGguf *gguf, GError **error)
{
  g_autoptr (MorTalker) t = g_new0 (MorTalker, 1);
  MorTalkerConfig *c = &t->config;
  if (!(t->llm = mor_llm_load_part (dev, gguf, "talker", error)))
    return NULL;
  const MorLlmConfig *lc = mor_llm_get_config (t->llm);
  c->vocab_size = lc->vocab_size;
  c->embedding_size = lc->embedding_size;
  struct { const char *key; guint32 *out; gboolean codec; } ids[] = {
    { "mor.talker.tts_codec_start_token_id", &c->tts_codec_start_token_id, TRUE },
    { "mor.talker.tts_codec_end_token_id", &c->tts_codec_end_token_id, TRUE },
    { "mor.talker.tts_codec_pad_token_id", &c->tts_codec_pad_token_id, TRUE },
    { "mor.talker.tts_codec_mask_token_id", &c->tts_codec_mask_token_id, TRUE },
    { "mor.talker.tts_text_start_token_id", &c->tts_text_start_token_id, FALSE },
    { "mor.talker.tts_text_end_token_id", &c->tts_text_end_token_id, FALSE },
    { "mor.talker.tts_text_pad_token_id", &c->tts_text_pad_token_id, FALSE },
    { "mor.talker.audio_token_index", &c->audio_token_index, FALSE },
  };
  for (guint i = 0; i < G_N_ELEMENTS (ids); i++) {
    if (!mor_gguf_get_u32 (gguf, ids[i].key, ids[i].out, error))
      return NULL;
    if (ids[i].codec && *ids[i].out >= c->vocab_size) {
      g_set_error (error, MOR_TALKER_ERROR, MOR_TALKER_ERROR_CONFIG,
                   "%s: %s is %u; expected an id below mor.talker.vocab_size %u", mor_gguf_get_name (gguf),
                   ids[i].key, *ids[i].out, c->vocab_size);
      return NULL;
    }
  }
  t->text_rows = g_new (float, 3 * (gsize) c->embedding_size);
  if (!read_rows (gguf, "talker.text_embd.weight", c->embedding_size, 3, t->text_rows, error) ||
      !read_speakers (t, gguf, error))
    return NULL;
  return g_steal_pointer (&t);
}

const MorTalkerConfig *
mor_talker_get_config (MorTalker *t)
{
  return &t->config;
}

MorLlm *
mor_talker_get_llm (MorTalker *t)
{
  return t->llm;
}

const char *
mor_talker_get_speaker (MorTalker *t, guint32 i)
{
  g_return_val_if_fail (i < t->config.n_speakers, NULL);
  return t->speakers[i];
}

const char *
mor_talker_get_default_speaker (MorTalker *t)
{
  return t->speakers[t->default_speaker];
}

void
mor_talker_prompt_row (MorTalker *t, const float *hidden, const float *embedding, guint32 id, float *out)
{
  gboolean audio = id == t->config.audio_token_index;
  for (guint32 j = 0; j < t->config.embedding_size; j++)
    out[j] = audio ? hidden[j] : hidden[j] + embedding[j];
}

const float *
mor_talker_get_text_row (MorTalker *t, MorTalkerTextRow which)
{
  g_return_val_if_fail (which <= MOR_TALKER_TEXT_PAD, NULL);
  return t->text_rows + (gsize) which * t->config.embedding_size;
}

/* ---- sessions ---- */

void
mor_talker_session_free (MorTalkerSession *s)
{
  if (!s)
    return;
  g_queue_clear_full (&s->reply, g_free);
  g_clear_pointer (&s->llm, mor_llm_session_free);
  g_clear_pointer (&s->sampler, mor_sampler_free);
  if (s->history)
    g_array_unref (s->history);
  g_free (s->row);
  g_free (s->codec);
  g_free (s);
}

MorTalkerSession *
mor_talker_session_new (MorTalker *t, guint32 n_ctx, const MorSamplerParams *sampling, guint32 max_new_tokens,
                        GError **error)
{
  g_autoptr (MorTalkerSession) s = g_new0 (MorTalkerSession, 1);
  s->t = t;
  s->n_ctx = n_ctx;
  s->max_new_tokens = max_new_tokens;
  g_queue_init (&s->reply);
  if (!(s->llm = mor_llm_session_new (t->llm, n_ctx, error)))
    return NULL;
  s->sampler = mor_sampler_new (t->config.vocab_size, sampling);
  s->history = g_array_new (FALSE, FALSE, sizeof (gint32));
  s->row = g_new (float, t->config.embedding_size);
  s->codec = g_new (float, t->config.embedding_size);
  return g_steal_pointer (&s);
}

void
mor_talker_session_set_seed (MorTalkerSession *s, guint64 seed)
{
  mor_sampler_set_seed (s->sampler, seed);
}

void
mor_talker_session_set_sampling (MorTalkerSession *s, const MorSamplerParams *sampling)
{
  mor_sampler_free (s->sampler);
  s->sampler = mor_sampler_new (s->t->config.vocab_size, sampling);
}

static gboolean
check_finite (const float *x, guint32 n, const char *what, guint32 index, GError **error)
{
  for (guint32 j = 0; j < n; j++)
    if (!isfinite (x[j])) {
      g_set_error (error, MOR_TALKER_ERROR, MOR_TALKER_ERROR_INPUT, "%s row %u has a value that is not finite "
                   "at column %u", what, index, j);
      return FALSE;
    }
  return TRUE;
}

/* @out = @a + E_codec(@code). */
static void
add_codec (MorTalkerSession *s, const float *a, guint32 code, float *out)
{
  mor_llm_embed_token (s->t->llm, code, s->codec);
  for (guint32 j = 0; j < s->t->config.embedding_size; j++)
    out[j] = a[j] + s->codec[j];
}

gboolean
mor_talker_session_begin (MorTalkerSession *s, const float *prompt, guint32 n_prompt, const char *speaker,
                          GError **error)
{
  g_return_val_if_fail (n_prompt > 0, FALSE);
  const MorTalker *t = s->t;
  const MorTalkerConfig *c = &t->config;
  guint32 E = c->embedding_size, room = s->n_ctx;
  s->active = FALSE;
  s->have_logits = FALSE;
  g_queue_clear_full (&s->reply, g_free);
  mor_llm_session_truncate (s->llm, 0);

  guint spk = t->default_speaker;
  if (speaker && !find_speaker (t->speakers, speaker, &spk)) {
    g_autofree char *names = g_strjoinv (", ", t->speakers);
    g_set_error (error, MOR_TALKER_ERROR, MOR_TALKER_ERROR_SPEAKER,
                 "There is no speaker “%s”; the model has %s", speaker, names);
    return FALSE;
  }
  if (room < 2 || n_prompt > room - 2) {
    g_set_error (error, MOR_TALKER_ERROR, MOR_TALKER_ERROR_CONTEXT,
                 "A prompt of %u rows needs %u positions; the session has %u", n_prompt, n_prompt + 2, room);
    return FALSE;
  }
  for (guint32 i = 0; i < n_prompt; i++)
    if (!check_finite (prompt + (gsize) i * E, E, "Prompt", i, error))
      return FALSE;

  /* Rows 0 .. P-1: the prompt; row P: E_thinker(speaker bos) + E_codec(pad). */
  g_autofree float *rows = g_new (float, (gsize) (n_prompt + 1) * E);
  g_autofree gboolean *is_embed = g_new (gboolean, n_prompt + 1);
  memcpy (rows, prompt, (gsize) n_prompt * E * 4);
  add_codec (s, t->speaker_rows + (gsize) spk * E, c->tts_codec_pad_token_id, rows + (gsize) n_prompt * E);
  for (guint32 i = 0; i <= n_prompt; i++)
    is_embed[i] = TRUE;
  if (!mor_llm_session_prefill (s->llm, NULL, rows, is_embed, n_prompt + 1, FALSE, error))
    return FALSE;

  /* The penalty's window: the talker's input ids [mask]·P + [pad, start]. */
  g_array_set_size (s->history, 0);
  for (guint32 i = 0; i < n_prompt; i++)
    g_array_append_val (s->history, c->tts_codec_mask_token_id);
  g_array_append_val (s->history, c->tts_codec_pad_token_id);
  g_array_append_val (s->history, c->tts_codec_start_token_id);
  s->limit = MIN (s->max_new_tokens, room - n_prompt);
  s->k = 0;
  s->n_codes = 0;
  s->n_reply = 0;
  s->reply_ended = FALSE;
  s->active = TRUE;
  return TRUE;
}

gboolean
mor_talker_session_push_reply (MorTalkerSession *s, const float *row, GError **error)
{
  g_return_val_if_fail (!s->reply_ended, FALSE);
  guint32 E = s->t->config.embedding_size;
  if (!s->active)
    return TRUE;   /* the answer is over: nothing will read the row */
  if (!check_finite (row, E, "Reply", s->n_reply, error))
    return FALSE;
  g_queue_push_tail (&s->reply, g_memdup2 (row, (gsize) E * 4));
  s->n_reply++;
  return TRUE;
}

void
mor_talker_session_end_reply (MorTalkerSession *s)
{
  s->reply_ended = TRUE;
}

static MorTalkerStatus
finish (MorTalkerSession *s)
{
  s->active = FALSE;
  g_queue_clear_full (&s->reply, g_free);
  return MOR_TALKER_DONE;
}

MorTalkerStatus
mor_talker_session_next (MorTalkerSession *s, gint32 *code, GError **error)
{
  const MorTalker *t = s->t;
  const MorTalkerConfig *c = &t->config;
  if (!s->active)
    return MOR_TALKER_DONE;
  /* Token k would be the last one generate makes: it is dropped unseen. */
  if (s->k + 1 >= s->limit)
    return finish (s);

  /* R[k]: a reply row, else (once the reply is over) text_end, then text_pad. */
  float *given = g_queue_peek_head (&s->reply);
  const float *r = given;
  if (!r) {
    if (!s->reply_ended)
      return MOR_TALKER_NEED_REPLY;
    if (s->n_reply == 0)
      return finish (s);
    r = mor_talker_get_text_row (s->t, s->k == s->n_reply ? MOR_TALKER_TEXT_END : MOR_TALKER_TEXT_PAD);
  }
  // Row P+1 = R[0] + E_codec(start); row P+1+k = R[k] + E_codec(c_{k-1})
  guint32 prev = s->k == 0 ? c->tts_codec_start_token_id : (guint32) g_array_index (s->history, gint32,
                                                                                    s->history->len - 1);
  add_codec (s, r, prev, s->row);
  if (!mor_llm_session_decode_row (s->llm, s->row, error)) {
    finish (s);
    return MOR_TALKER_ERROR_STATUS;
  }
  if (given)
    g_free (g_queue_pop_head (&s->reply));
  s->have_logits = TRUE;

  const gint32 deny = (gint32) c->tts_codec_start_token_id;
  MorSamplerMask mask = { NULL, 0, &deny, 1 };
  gint32 id = mor_sampler_sample (s->sampler, mor_llm_session_get_logits (s->llm, 0),
                                  &g_array_index (s->history, gint32, 0), s->history->len, &mask, NULL);
  if (id < 0)
    return finish (s);   /* nothing could be drawn: a one-code vocabulary of the start code */
  g_array_append_val (s->history, id);
  s->k++;
  if ((guint32) id == c->tts_codec_end_token_id || (guint32) id == c->tts_codec_pad_token_id)
    return finish (s);
  s->n_codes++;
  if (code)
    *code = id;
  return MOR_TALKER_CODE;
}

guint32
mor_talker_session_n_codes (MorTalkerSession *s)
{
  return s->n_codes;
}

const float *
mor_talker_session_get_logits (MorTalkerSession *s)
{
  return s->have_logits ? mor_llm_session_get_logits (s->llm, 0) : NULL;
}

/* ---- the C reference ---- */

gboolean
mor_talker_reference_forward (MorTalker *t, const float *prompt, guint32 n_prompt, const char *speaker,
                              const float *reply, guint32 n_reply, const gint32 *tokens, guint32 n_tokens,
                              float *logits, GError **error)
{
  g_return_val_if_fail (n_prompt > 0 && n_reply > 0 && n_tokens > 0, FALSE);
  const MorTalkerConfig *c = &t->config;
  guint32 E = c->embedding_size, V = c->vocab_size, n = n_prompt + 1 + n_tokens;
  guint spk = t->default_speaker;
  if (speaker && !find_speaker (t->speakers, speaker, &spk)) {
    g_set_error (error, MOR_TALKER_ERROR, MOR_TALKER_ERROR_SPEAKER, "There is no speaker “%s”", speaker);
    return FALSE;
  }
  for (guint32 k = 0; k < n_tokens; k++)
    if (tokens[k] < 0 || (guint32) tokens[k] >= V) {
      g_set_error (error, MOR_TALKER_ERROR, MOR_TALKER_ERROR_INPUT, "Token %u is %d, outside the codec "
                   "vocabulary of %u", k, tokens[k], V);
      return FALSE;
    }
  g_autofree float *rows = g_new (float, (gsize) n * E), *codec = g_new (float, E);
  g_autofree float *all = g_new (float, (gsize) n * V);
  memcpy (rows, prompt, (gsize) n_prompt * E * 4);
  // Row P = E_thinker(speaker bos) + E_codec(pad)
  mor_llm_embed_token (t->llm, c->tts_codec_pad_token_id, codec);
  for (guint32 j = 0; j < E; j++)
    rows[(gsize) n_prompt * E + j] = t->speaker_rows[(gsize) spk * E + j] + codec[j];
  // Row P+1+k = R[k] + E_codec(start or token k-1)
  for (guint32 k = 0; k < n_tokens; k++) {
    const float *r = k < n_reply ? reply + (gsize) k * E
                                 : mor_talker_get_text_row (t, k == n_reply ? MOR_TALKER_TEXT_END : MOR_TALKER_TEXT_PAD);
    mor_llm_embed_token (t->llm, k == 0 ? c->tts_codec_start_token_id : (guint32) tokens[k - 1], codec);
    for (guint32 j = 0; j < E; j++)
      rows[(gsize) (n_prompt + 1 + k) * E + j] = r[j] + codec[j];
  }
  mor_llm_reference_forward_rows (t->llm, rows, n, all, NULL);
  memcpy (logits, all + (gsize) (n_prompt + 1) * V, (gsize) n_tokens * V * 4);
  return TRUE;
}
