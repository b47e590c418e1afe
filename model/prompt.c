/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The thinker's prompt: Qwen's chat template with audio rows, prefilled as it grows (see prompt.h). */
#include "prompt.h"

G_DEFINE_QUARK (mor-prompt-error-quark, mor_prompt_error)

struct _MorPrompt {
  MorLlmSession *session;        /* not owned */
  MorTokenizer *tok;
  guint32 dim;                   /* hidden_size */
  char *head_system;             /* the system text the head was made with */
  guint32 n_head;                /* rows of the head; 0: no head */
  gboolean audio_open;           /* <|audio_bos|> sent, <|audio_eos|> not yet */
  guint32 audio_first;           /* the open span's first audio row */
  double prefill_ms;
  GArray *ids;                   /* gint32 (n_rows) */
  GArray *hidden, *embeddings;   /* float (n_rows, dim) */
};

/* ---- the template ---- */

/* Appends the ids of @text, encoded as plain text. */
static gboolean
append_text (MorTokenizer *tok, const char *text, GArray *ids, GError **error)
{
  return mor_tokenizer_encode (tok, text, -1, FALSE, ids, error);
}

/* The id of special token @name, or -1 with MOR_PROMPT_ERROR_TOKEN. */
static gint32
special_id (MorTokenizer *tok, const char *name, GError **error)
{
  gint32 id = mor_tokenizer_find_token (tok, name, -1);
  if (id < 0)
    g_set_error (error, MOR_PROMPT_ERROR, MOR_PROMPT_ERROR_TOKEN,
                 "The vocabulary has no %s token, which Qwen's chat template needs", name);
  return id;
}

static gboolean
append_special (MorTokenizer *tok, const char *name, GArray *ids, GError **error)
{
  gint32 id = special_id (tok, name, error);
  if (id >= 0)
    g_array_append_val (ids, id);
  return id >= 0;
}

gboolean
mor_prompt_template_head (MorTokenizer *tok, const char *system, GArray *ids, GError **error)
{
  /* The system text is the user's setting: encoded as plain text, so it cannot
   * smuggle control tokens in. */
  return append_special (tok, "<|im_start|>", ids, error) && append_text (tok, "system\n", ids, error) &&
         append_text (tok, system ? system : "", ids, error) && append_special (tok, "<|im_end|>", ids, error) &&
         append_text (tok, "\n", ids, error) && append_special (tok, "<|im_start|>", ids, error) &&
         append_text (tok, "user\n", ids, error);
}

gboolean
mor_prompt_template_audio (MorTokenizer *tok, gboolean end, GArray *ids, GError **error)
{
  return append_special (tok, end ? "<|audio_eos|>" : "<|audio_bos|>", ids, error);
}

gboolean
mor_prompt_template_tail (MorTokenizer *tok, GArray *ids, GError **error)
{
  return append_special (tok, "<|im_end|>", ids, error) && append_text (tok, "\n", ids, error) &&
         append_special (tok, "<|im_start|>", ids, error) && append_text (tok, "assistant\n", ids, error);
}

/* ---- a prompt in a session ---- */

MorPrompt *
mor_prompt_new (MorLlm *llm, MorLlmSession *session, MorTokenizer *tok)
{
  g_return_val_if_fail (llm != NULL && session != NULL && tok != NULL, NULL);
  MorPrompt *p = g_new0 (MorPrompt, 1);
  p->session = session;
  p->tok = mor_tokenizer_ref (tok);
  p->dim = mor_llm_get_config (llm)->hidden_size;
  p->ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  p->hidden = g_array_new (FALSE, FALSE, sizeof (float));
  p->embeddings = g_array_new (FALSE, FALSE, sizeof (float));
  return p;
}

void
mor_prompt_free (MorPrompt *p)
{
  if (!p)
    return;
  mor_tokenizer_unref (p->tok);
  g_free (p->head_system);
  g_array_unref (p->ids);
  g_array_unref (p->hidden);
  g_array_unref (p->embeddings);
  g_free (p);
}

/* Forgets every row from @n on, in the session too. */
static void
truncate_rows (MorPrompt *p, guint32 n)
{
  mor_llm_session_truncate (p->session, n);
  g_array_set_size (p->ids, n);
  g_array_set_size (p->hidden, (gsize) n * p->dim);
  g_array_set_size (p->embeddings, (gsize) n * p->dim);
}

/* Prefills @n rows: token @ids, or, with @embeds, audio rows (@audio_id with
 * external embeddings); keeps their ids, hidden states and embeddings. */
static gboolean
prefill (MorPrompt *p, const gint32 *ids, const float *embeds, gint32 audio_id, guint32 n, GError **error)
{
  if (n == 0)
    return TRUE;
  g_autofree gboolean *is_embed = embeds ? g_new (gboolean, n) : NULL;
  g_autofree guint32 *row_ids = g_new (guint32, n);
  for (guint32 i = 0; i < n; i++) {
    row_ids[i] = (guint32) (embeds ? audio_id : ids[i]);
    if (is_embed)
      is_embed[i] = TRUE;
  }
  gint64 t0 = g_get_monotonic_time ();
  if (!mor_llm_session_prefill (p->session, row_ids, embeds, is_embed, n, FALSE, error))
    return FALSE;
  p->prefill_ms += (double) (g_get_monotonic_time () - t0) / 1000.0;
  for (guint32 i = 0; i < n; i++) {
    gint32 id = (gint32) row_ids[i];
    g_array_append_val (p->ids, id);
    g_array_append_vals (p->hidden, mor_llm_session_get_hidden (p->session, i), p->dim);
    g_array_append_vals (p->embeddings, mor_llm_session_get_embedding (p->session, i), p->dim);
  }
  return TRUE;
}

static gboolean
prefill_ids (MorPrompt *p, GArray *ids, GError **error)
{
  return prefill (p, (const gint32 *) ids->data, NULL, -1, ids->len, error);
}

gboolean
mor_prompt_begin (MorPrompt *p, const char *system, GError **error)
{
  g_return_val_if_fail (p != NULL, FALSE);
  p->audio_open = FALSE;
  p->prefill_ms = 0;
  if (p->n_head > 0 && g_strcmp0 (system, p->head_system) == 0) {
    truncate_rows (p, p->n_head);
    return TRUE;
  }
  g_autoptr (GArray) head = g_array_new (FALSE, FALSE, sizeof (gint32));
  truncate_rows (p, 0);
  p->n_head = 0;
  g_clear_pointer (&p->head_system, g_free);
  if (!mor_prompt_template_head (p->tok, system, head, error) || !prefill_ids (p, head, error))
    return FALSE;
  p->n_head = head->len;
  p->head_system = g_strdup (system);
  return TRUE;
}

gboolean
mor_prompt_add_audio (MorPrompt *p, const float *rows, guint32 n_rows, GError **error)
{
  g_return_val_if_fail (p != NULL && (rows != NULL || n_rows == 0), FALSE);
  gint32 audio_id = special_id (p->tok, "<|AUDIO|>", error);
  if (audio_id < 0)
    return FALSE;
  if (!p->audio_open) {
    g_autoptr (GArray) bos = g_array_new (FALSE, FALSE, sizeof (gint32));
    if (!mor_prompt_template_audio (p->tok, FALSE, bos, error) || !prefill_ids (p, bos, error))
      return FALSE;
    p->audio_open = TRUE;
    p->audio_first = p->ids->len;
  }
  return prefill (p, NULL, rows, audio_id, n_rows, error);
}

gboolean
mor_prompt_revise_audio (MorPrompt *p, guint32 from)
{
  if (!p->audio_open || from > p->ids->len - p->audio_first)
    return FALSE;
  truncate_rows (p, p->audio_first + from);
  return TRUE;
}

/* Appends <|audio_eos|> to @ids when an audio span is open, and closes it. */
static gboolean
close_audio (MorPrompt *p, GArray *ids, GError **error)
{
  if (!p->audio_open)
    return TRUE;
  p->audio_open = FALSE;
  return mor_prompt_template_audio (p->tok, TRUE, ids, error);
}

gboolean
mor_prompt_add_text (MorPrompt *p, const char *text, gssize len, GError **error)
{
  g_return_val_if_fail (p != NULL && text != NULL, FALSE);
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  return close_audio (p, ids, error) && mor_tokenizer_encode (p->tok, text, len, FALSE, ids, error) &&
         prefill_ids (p, ids, error);
}

gboolean
mor_prompt_finish (MorPrompt *p, GError **error)
{
  g_return_val_if_fail (p != NULL, FALSE);
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  return close_audio (p, ids, error) && mor_prompt_template_tail (p->tok, ids, error) && prefill_ids (p, ids, error);
}

guint32
mor_prompt_get_n_rows (MorPrompt *p)
{
  return p->ids->len;
}

guint32
mor_prompt_get_n_head (MorPrompt *p)
{
  return p->n_head;
}

const gint32 *
mor_prompt_get_ids (MorPrompt *p)
{
  return (const gint32 *) p->ids->data;
}

const float *
mor_prompt_get_hidden (MorPrompt *p)
{
  return (const float *) p->hidden->data;
}

const float *
mor_prompt_get_embeddings (MorPrompt *p)
{
  return (const float *) p->embeddings->data;
}

double
mor_prompt_get_prefill_ms (MorPrompt *p)
{
  return p->prefill_ms;
}
