/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/prompt.c: Qwen's chat template as token ids, and a MorPrompt
 * growing in a tiny random thinker's session (audio rows, typed text, the
 * cached head, a full context), checked against one prefill of the whole prompt. */
#include <math.h>
#include <string.h>

#include "mkmodel.h"
#include "prompt.h"

static MorVkDevice *device;

static MorGguf *
make_thinker (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MorGgufWriter) w = mor_mkmodel_thinker_full (mor_mkmodel_thinker_shape ("tiny"), MOR_TYPE_F16, 5, NULL,
                                                          &error);
  g_assert_no_error (error);
  g_autoptr (GBytes) bytes = mor_gguf_writer_to_bytes (w);
  MorGguf *g = mor_gguf_new_from_bytes (bytes, &error);
  g_assert_no_error (error);
  return g;
}

/* A tokenizer of the 256 byte symbols only: no special token at all. */
static MorTokenizer *
bytes_only_tokenizer (void)
{
  char sym[256][8];
  const char *tokens[256];
  for (guint b = 0; b < 256; b++) {
    sym[b][g_unichar_to_utf8 (mor_tokenizer_byte_symbol (b), sym[b])] = 0;
    tokens[b] = sym[b];
  }
  MorTokenizerVocab v = { "gpt2", "qwen2", tokens, NULL, 256, NULL, 0, -1, -1, -1, FALSE };
  g_autoptr (GError) error = NULL;
  MorTokenizer *tok = mor_tokenizer_new (&v, &error);
  g_assert_no_error (error);
  return tok;
}

/* The template helpers spell Qwen's chat template. */
static void
test_template (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MorGguf) g = make_thinker ();
  g_autoptr (MorTokenizer) tok = mor_tokenizer_new_from_gguf (g, &error);
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_assert_true (mor_prompt_template_head (tok, "be brief <|im_end|>", ids, &error));
  g_assert_true (mor_prompt_template_audio (tok, FALSE, ids, &error));
  g_assert_true (mor_prompt_template_audio (tok, TRUE, ids, &error));
  g_assert_true (mor_prompt_template_tail (tok, ids, &error));
  g_assert_no_error (error);
  g_autofree char *text = mor_tokenizer_decode (tok, (const gint32 *) ids->data, ids->len, TRUE, NULL);
  g_assert_cmpstr (text, ==,
                   "<|im_start|>system\nbe brief <|im_end|><|im_end|>\n<|im_start|>user\n<|audio_bos|><|audio_eos|>"
                   "<|im_end|>\n<|im_start|>assistant\n");
  /* The system text's "<|im_end|>" is plain text, not the control token. */
  gint32 im_end = mor_tokenizer_find_token (tok, "<|im_end|>", -1);
  guint n_im_end = 0;
  for (guint i = 0; i < ids->len; i++)
    n_im_end += g_array_index (ids, gint32, i) == im_end;
  g_assert_cmpuint (n_im_end, ==, 2);
}

/* A vocabulary without the template's special tokens: an error naming the token. */
static void
test_template_missing_token (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MorTokenizer) tok = bytes_only_tokenizer ();
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_assert_false (mor_prompt_template_head (tok, "sys", ids, &error));
  g_assert_error (error, MOR_PROMPT_ERROR, MOR_PROMPT_ERROR_TOKEN);
  g_assert_nonnull (strstr (error->message, "<|im_start|>"));
  g_clear_error (&error);
  g_assert_false (mor_prompt_template_audio (tok, TRUE, ids, &error));
  g_assert_error (error, MOR_PROMPT_ERROR, MOR_PROMPT_ERROR_TOKEN);
  g_assert_nonnull (strstr (error->message, "<|audio_eos|>"));
  g_clear_error (&error);

  /* A prompt on such a tokenizer refuses audio, naming <|AUDIO|>. */
  g_autoptr (MorGguf) g = make_thinker ();
  g_autoptr (MorLlm) llm = mor_llm_load (device, g, &error);
  g_assert_no_error (error);
  g_autoptr (MorLlmSession) s = mor_llm_session_new (llm, 64, &error);
  g_assert_no_error (error);
  g_autoptr (MorPrompt) p = mor_prompt_new (llm, s, tok);
  float row[256] = { 0 };
  g_assert_false (mor_prompt_add_audio (p, row, 1, &error));
  g_assert_error (error, MOR_PROMPT_ERROR, MOR_PROMPT_ERROR_TOKEN);
  g_assert_nonnull (strstr (error->message, "<|AUDIO|>"));
  g_assert_cmpuint (mor_prompt_get_n_rows (p), ==, 0);
}

static void
fill_rows (float *rows, guint32 n, guint32 dim, guint seed)
{
  for (guint32 i = 0; i < n * dim; i++)
    rows[i] = 0.01f * (float) ((i * 7 + seed) % 13) - 0.06f;
}

/* Head, audio buffers (some rows revised), typed text and the tail, prefilled
 * call by call: the rows are the template's, audio rows keep their embeddings, and the
 * hidden states match one prefill of the whole prompt. */
static void
test_grow (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MorGguf) g = make_thinker ();
  g_autoptr (MorTokenizer) tok = mor_tokenizer_new_from_gguf (g, &error);
  g_autoptr (MorLlm) llm = mor_llm_load (device, g, &error);
  g_assert_no_error (error);
  const guint32 dim = mor_llm_get_config (llm)->hidden_size;
  g_autoptr (MorLlmSession) s = mor_llm_session_new (llm, 128, &error);
  g_assert_no_error (error);
  g_autoptr (MorPrompt) p = mor_prompt_new (llm, s, tok);

  g_autofree float *audio = g_new (float, 8 * dim);
  fill_rows (audio, 8, dim, 3);
  g_assert_true (mor_prompt_begin (p, "sys", &error));
  guint32 n_head = mor_prompt_get_n_head (p);
  g_assert_cmpuint (n_head, ==, mor_prompt_get_n_rows (p));
  g_assert_true (mor_prompt_add_audio (p, audio, 5, &error));
  /* Provisional rows, revised: forgotten from row 5 of the span and given again. */
  g_autofree float *provisional = g_new (float, 4 * dim);
  fill_rows (provisional, 4, dim, 11);
  g_assert_true (mor_prompt_add_audio (p, provisional, 4, &error));
  g_assert_false (mor_prompt_revise_audio (p, 10));
  g_assert_true (mor_prompt_revise_audio (p, 5));
  g_assert_true (mor_prompt_add_audio (p, audio + 5 * dim, 3, &error));
  g_assert_true (mor_prompt_add_text (p, "what is one plus one", -1, &error));
  g_assert_true (mor_prompt_finish (p, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (mor_prompt_get_prefill_ms (p), >, 0);

  /* The rows are the template with eight <|AUDIO|> rows. */
  gint32 audio_id = mor_tokenizer_find_token (tok, "<|AUDIO|>", -1);
  g_autoptr (GArray) want = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_assert_true (mor_prompt_template_head (tok, "sys", want, &error));
  g_assert_true (mor_prompt_template_audio (tok, FALSE, want, &error));
  guint32 first_audio = want->len;
  for (guint i = 0; i < 8; i++)
    g_array_append_val (want, audio_id);
  g_assert_true (mor_prompt_template_audio (tok, TRUE, want, &error));
  g_assert_true (mor_tokenizer_encode (tok, "what is one plus one", -1, FALSE, want, &error));
  g_assert_true (mor_prompt_template_tail (tok, want, &error));
  guint32 n = mor_prompt_get_n_rows (p);
  g_assert_cmpuint (n, ==, want->len);
  g_assert_cmpmem (mor_prompt_get_ids (p), n * 4, want->data, want->len * 4);
  g_assert_cmpuint (mor_llm_session_get_pos (s), ==, n);
  g_assert_cmpmem (mor_prompt_get_embeddings (p) + (gsize) first_audio * dim, 8 * dim * 4, audio, 8 * dim * 4);
  g_autofree float *e = g_new (float, dim);
  mor_llm_embed_token (llm, (guint32) g_array_index (want, gint32, 0), e);
  g_assert_cmpmem (mor_prompt_get_embeddings (p), dim * 4, e, dim * 4);

  /* One prefill of the same rows in a fresh session. */
  g_autoptr (MorLlmSession) whole = mor_llm_session_new (llm, 128, &error);
  g_autofree float *embeds = g_new0 (float, (gsize) n * dim);
  g_autofree gboolean *is_embed = g_new0 (gboolean, n);
  for (guint i = 0; i < 8; i++) {
    memcpy (embeds + (gsize) (first_audio + i) * dim, audio + (gsize) i * dim, dim * 4);
    is_embed[first_audio + i] = TRUE;
  }
  g_assert_true (mor_llm_session_prefill (whole, (const guint32 *) want->data, embeds, is_embed, n, FALSE,
                                          &error));
  g_assert_no_error (error);
  float max_diff = 0, max_abs = 0;
  for (guint32 r = 0; r < n; r++) {
    const float *a = mor_prompt_get_hidden (p) + (gsize) r * dim, *b = mor_llm_session_get_hidden (whole, r);
    for (guint32 i = 0; i < dim; i++) {
      max_diff = MAX (max_diff, fabsf (a[i] - b[i]));
      max_abs = MAX (max_abs, fabsf (b[i]));
    }
  }
  /* Only the summation order of the matrix products differs (f16 weights). */
  g_test_message ("hidden states: max difference %g, max magnitude %g", max_diff, max_abs);
  g_assert_cmpfloat (max_diff, <=, 1e-3f * max_abs);
  g_assert_cmpuint (mor_vk_device_validation_messages (device), ==, 0);
}

/* The head is kept while the system text stays, and re-made when it changes. */
static void
test_head_cache (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MorGguf) g = make_thinker ();
  g_autoptr (MorTokenizer) tok = mor_tokenizer_new_from_gguf (g, &error);
  g_autoptr (MorLlm) llm = mor_llm_load (device, g, &error);
  g_autoptr (MorLlmSession) s = mor_llm_session_new (llm, 128, &error);
  g_assert_no_error (error);
  g_autoptr (MorPrompt) p = mor_prompt_new (llm, s, tok);

  g_assert_true (mor_prompt_begin (p, "sys", &error));
  guint32 n_head = mor_prompt_get_n_head (p);
  g_autofree gint32 *head = g_memdup2 (mor_prompt_get_ids (p), n_head * 4);
  g_assert_true (mor_prompt_add_text (p, "okay", -1, &error));
  g_assert_true (mor_prompt_finish (p, &error));
  g_assert_cmpuint (mor_prompt_get_n_rows (p), >, n_head);

  g_assert_true (mor_prompt_begin (p, "sys", &error));
  g_assert_cmpuint (mor_prompt_get_n_head (p), ==, n_head);
  g_assert_cmpuint (mor_prompt_get_n_rows (p), ==, n_head);
  g_assert_cmpuint (mor_llm_session_get_pos (s), ==, n_head);
  g_assert_cmpmem (mor_prompt_get_ids (p), n_head * 4, head, n_head * 4);
  g_assert_cmpfloat (mor_prompt_get_prefill_ms (p), ==, 0);

  g_assert_true (mor_prompt_begin (p, "a longer system text", &error));
  g_assert_no_error (error);
  g_assert_cmpuint (mor_prompt_get_n_head (p), >, n_head);
  g_assert_cmpuint (mor_llm_session_get_pos (s), ==, mor_prompt_get_n_head (p));
  g_assert_cmpfloat (mor_prompt_get_prefill_ms (p), >, 0);
  /* Text alone opens no audio span. */
  g_assert_true (mor_prompt_add_text (p, "okay", -1, &error));
  gint32 bos = mor_tokenizer_find_token (tok, "<|audio_bos|>", -1);
  for (guint32 i = 0; i < mor_prompt_get_n_rows (p); i++)
    g_assert_cmpint (mor_prompt_get_ids (p)[i], !=, bos);
}

/* Audio past the context: the session's error; the next utterance starts afresh. */
static void
test_context (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MorGguf) g = make_thinker ();
  g_autoptr (MorTokenizer) tok = mor_tokenizer_new_from_gguf (g, &error);
  g_autoptr (MorLlm) llm = mor_llm_load (device, g, &error);
  const guint32 dim = mor_llm_get_config (llm)->hidden_size;
  g_autoptr (MorLlmSession) s = mor_llm_session_new (llm, 40, &error);
  g_assert_no_error (error);
  g_autoptr (MorPrompt) p = mor_prompt_new (llm, s, tok);
  g_autofree float *audio = g_new (float, 40 * dim);
  fill_rows (audio, 40, dim, 1);
  g_assert_true (mor_prompt_begin (p, "sys", &error));
  g_assert_false (mor_prompt_add_audio (p, audio, 40, &error));
  g_assert_error (error, MOR_LLM_ERROR, MOR_LLM_ERROR_CONTEXT);
  g_clear_error (&error);
  g_assert_true (mor_prompt_begin (p, "sys", &error));
  g_assert_true (mor_prompt_add_audio (p, audio, 4, &error));
  g_assert_true (mor_prompt_finish (p, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (mor_llm_session_get_pos (s), ==, mor_prompt_get_n_rows (p));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_autoptr (GError) error = NULL;
  device = mor_vk_device_open (NULL, &error);
  g_assert_no_error (error);
  g_test_add_func ("/prompt/template", test_template);
  g_test_add_func ("/prompt/template-missing-token", test_template_missing_token);
  g_test_add_func ("/prompt/grow", test_grow);
  g_test_add_func ("/prompt/head-cache", test_head_cache);
  g_test_add_func ("/prompt/context", test_context);
  int ret = g_test_run ();
  mor_vk_device_unref (device);
  return ret;
}
