/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/llm.c: the Vulkan thinker against its C reference forward on
 * tiny random models (mor_mkmodel_thinker), KV-cache decoding against a full
 * re-forward, and load errors that name what is wrong. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/harness.h"
#include "llm.h"
#include "sampler.h"
#include "mkmodel.h"

static MorVkDevice *device;

static MorGguf *
make_thinker (const MorThinkerShape *shape, MorType type, guint64 seed)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MorGgufWriter) w = mor_mkmodel_thinker (shape, type, seed, &error);
  g_assert_no_error (error);
  g_autoptr (GBytes) bytes = mor_gguf_writer_to_bytes (w);
  MorGguf *g = mor_gguf_new_from_bytes (bytes, &error);
  g_assert_no_error (error);
  return g;
}

static MorLlm *
load (MorGguf *g)
{
  g_autoptr (GError) error = NULL;
  MorLlm *llm = mor_llm_load (device, g, &error);
  g_assert_no_error (error);
  return llm;
}

static void
random_ids (guint32 *ids, guint32 n, guint32 vocab, guint32 seed)
{
  g_autoptr (GRand) r = g_rand_new_with_seed (seed);
  for (guint32 i = 0; i < n; i++)
    ids[i] = g_rand_int_range (r, 0, vocab);
}

/* Prefill logits of every row, per weight type, against the reference forward
 * on the same (quantized) weights: only the summation order differs. */
static void
check_forward (gconstpointer data)
{
  MorType type = GPOINTER_TO_INT (data);
  g_autoptr (MorGguf) g = make_thinker (mor_mkmodel_thinker_shape ("tiny"), type, 1);
  g_autoptr (MorLlm) llm = load (g);
  const MorLlmConfig *c = mor_llm_get_config (llm);
  g_autoptr (GError) error = NULL;
  const guint32 n = 23;
  guint32 ids[23];
  random_ids (ids, n, c->vocab_size, 7);

  g_autofree float *want = g_new (float, (gsize) n * c->vocab_size);
  g_autofree float *want_h = g_new (float, (gsize) n * c->hidden_size);
  g_assert_true (mor_llm_reference_forward (llm, ids, n, want, want_h, &error));
  g_autoptr (MorLlmSession) s = mor_llm_session_new (llm, 64, &error);
  g_assert_no_error (error);
  g_assert_true (mor_llm_session_prefill (s, ids, NULL, NULL, n, TRUE, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (mor_llm_session_get_pos (s), ==, n);
  double max_err = 0, max_h = 0;
  for (guint32 i = 0; i < n; i++) {
    const float *got = mor_llm_session_get_logits (s, i);
    const float *got_h = mor_llm_session_get_hidden (s, i);
    for (guint32 j = 0; j < c->vocab_size; j++)
      max_err = MAX (max_err, fabs (got[j] - want[(gsize) i * c->vocab_size + j]));
    for (guint32 j = 0; j < c->hidden_size; j++)
      max_h = MAX (max_h, fabs (got_h[j] - want_h[(gsize) i * c->hidden_size + j]));
    g_assert_cmpuint (mor_sampler_argmax (got, c->vocab_size), ==, mor_sampler_argmax (want + (gsize) i * c->vocab_size, c->vocab_size));
  }
  /* fp32 everywhere; logits are O(1): a different summation order costs ~1e-6. */
  g_test_message ("%s: max |Δlogit| %.3g, max |Δhidden| %.3g", mor_type_name (type), max_err, max_h);
  g_assert_cmpfloat (max_err, <, 1e-4);
  g_assert_cmpfloat (max_h, <, 1e-4);
}

/* Greedy decoding through the KV cache gives the same tokens and logits as
 * running the whole sequence again, over 300+ positions. */
static void
test_decode_matches_reforward (void)
{
  g_autoptr (MorGguf) g = make_thinker (mor_mkmodel_thinker_shape ("tiny"), MOR_TYPE_F16, 2);
  g_autoptr (MorLlm) llm = load (g);
  const MorLlmConfig *c = mor_llm_get_config (llm);
  g_autoptr (GError) error = NULL;
  const guint32 prompt = 9, steps = 310, total = prompt + steps;
  g_autofree guint32 *ids = g_new (guint32, total);
  random_ids (ids, prompt, c->vocab_size, 3);

  g_autoptr (MorLlmSession) s = mor_llm_session_new (llm, 512, &error);
  g_assert_no_error (error);
  g_assert_true (mor_llm_session_prefill (s, ids, NULL, NULL, prompt, FALSE, &error));
  g_autofree float *step_logits = g_new (float, (gsize) steps * c->vocab_size);
  for (guint32 t = 0; t < steps; t++) {
    const float *l = mor_llm_session_get_logits (s, mor_llm_session_n_rows (s) - 1);
    memcpy (step_logits + (gsize) t * c->vocab_size, l, c->vocab_size * 4);
    ids[prompt + t] = mor_sampler_argmax (l, c->vocab_size);
    if (t + 1 < steps)
      g_assert_true (mor_llm_session_decode (s, ids[prompt + t], &error));
    g_assert_no_error (error);
  }

  /* The whole sequence at once on the GPU, and on the reference. */
  g_autoptr (MorLlmSession) full = mor_llm_session_new (llm, 512, &error);
  g_assert_true (mor_llm_session_prefill (full, ids, NULL, NULL, total - 1, TRUE, &error));
  g_assert_no_error (error);
  g_autofree float *ref = g_new (float, (gsize) (total - 1) * c->vocab_size);
  g_assert_true (mor_llm_reference_forward (llm, ids, total - 1, ref, NULL, &error));
  double max_err = 0, max_ref = 0;
  for (guint32 t = 0; t < steps; t++) {
    const float *a = step_logits + (gsize) t * c->vocab_size;
    const float *b = mor_llm_session_get_logits (full, prompt - 1 + t);
    const float *r = ref + (gsize) (prompt - 1 + t) * c->vocab_size;
    g_assert_cmpuint (mor_sampler_argmax (b, c->vocab_size), ==, ids[prompt + t]);
    for (guint32 j = 0; j < c->vocab_size; j++) {
      max_err = MAX (max_err, fabs (a[j] - b[j]));
      max_ref = MAX (max_ref, fabs (a[j] - r[j]));
    }
  }
  g_test_message ("decode vs re-forward: max |Δlogit| %.3g; vs reference %.3g", max_err, max_ref);
  g_assert_cmpfloat (max_err, <, 1e-4);
  g_assert_cmpfloat (max_ref, <, 1e-4);
}

/* External embedding rows (the audio) are used as given, and reported back. */
static void
test_embedding_rows (void)
{
  g_autoptr (MorGguf) g = make_thinker (mor_mkmodel_thinker_shape ("tiny"), MOR_TYPE_F32, 4);
  g_autoptr (MorLlm) llm = load (g);
  const MorLlmConfig *c = mor_llm_get_config (llm);
  g_autoptr (GError) error = NULL;
  guint32 ids[5] = { 1, 2, 0, 0, 3 };
  gboolean is_embed[5] = { FALSE, FALSE, TRUE, TRUE, FALSE };
  g_autofree float *embeds = g_new0 (float, 5 * c->hidden_size);
  /* Rows 2 and 3 get the embeddings of tokens 40 and 41: the result must equal
   * the all-token prefill of 1 2 40 41 3. */
  mor_llm_embed_token (llm, 40, embeds + 2 * c->hidden_size);
  mor_llm_embed_token (llm, 41, embeds + 3 * c->hidden_size);
  g_autoptr (MorLlmSession) a = mor_llm_session_new (llm, 16, &error);
  g_assert_true (mor_llm_session_prefill (a, ids, embeds, is_embed, 5, FALSE, &error));
  guint32 plain[5] = { 1, 2, 40, 41, 3 };
  g_autoptr (MorLlmSession) b = mor_llm_session_new (llm, 16, &error);
  g_assert_true (mor_llm_session_prefill (b, plain, NULL, NULL, 5, FALSE, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (mor_llm_session_get_logits (a, 4), c->vocab_size * 4, mor_llm_session_get_logits (b, 4),
                   c->vocab_size * 4);
  g_assert_cmpmem (mor_llm_session_get_embedding (a, 2), c->hidden_size * 4, embeds + 2 * c->hidden_size,
                   c->hidden_size * 4);
}

static void
test_context_full (void)
{
  g_autoptr (MorGguf) g = make_thinker (mor_mkmodel_thinker_shape ("tiny"), MOR_TYPE_F32, 5);
  g_autoptr (MorLlm) llm = load (g);
  g_autoptr (GError) error = NULL;
  g_autoptr (MorLlmSession) s = mor_llm_session_new (llm, 4, &error);
  guint32 ids[5] = { 1, 2, 3, 4, 5 };
  g_assert_false (mor_llm_session_prefill (s, ids, NULL, NULL, 5, FALSE, &error));
  g_assert_error (error, MOR_LLM_ERROR, MOR_LLM_ERROR_CONTEXT);
  g_clear_error (&error);
  g_assert_true (mor_llm_session_prefill (s, ids, NULL, NULL, 4, FALSE, &error));
  g_assert_false (mor_llm_session_decode (s, 1, &error));
  g_assert_error (error, MOR_LLM_ERROR, MOR_LLM_ERROR_CONTEXT);
  g_clear_error (&error);
  mor_llm_session_truncate (s, 2);
  g_assert_true (mor_llm_session_decode (s, 1, &error));
  g_assert_false (mor_llm_session_decode (s, 1000000, &error));
  g_assert_error (error, MOR_LLM_ERROR, MOR_LLM_ERROR_INPUT);
  g_clear_error (&error);
  g_assert_null (mor_llm_session_new (llm, 1000000, &error));
  g_assert_error (error, MOR_LLM_ERROR, MOR_LLM_ERROR_CONTEXT);
}

/* Rewrites a tiny model with one change, for the load-error tests. */
static MorGguf *
edited_model (const char *arch, const char *drop_tensor, const char *reshape_tensor)
{
  g_autoptr (MorGguf) g = make_thinker (mor_mkmodel_thinker_shape ("tiny"), MOR_TYPE_F32, 6);
  g_autoptr (MorGgufWriter) w = mor_gguf_writer_new ();
  for (guint i = 0; i < mor_gguf_n_keys (g); i++) {
    const char *key = mor_gguf_get_key (g, i);
    MorGgufValueType t = mor_gguf_get_key_type (g, i);
    g_autofree char *renamed = NULL;
    const char *orig_arch = mor_gguf_get_string (g, "general.architecture", NULL, NULL);
    if (g_str_has_prefix (key, orig_arch) && key[strlen (orig_arch)] == '.')
      key = renamed = g_strconcat (arch, key + strlen (orig_arch), NULL);
    const char *src = mor_gguf_get_key (g, i);
    if (strcmp (src, "general.architecture") == 0) {
      mor_gguf_writer_add_string (w, key, arch);
    } else if (t == MOR_GGUF_VALUE_UINT32) {
      guint32 v;
      mor_gguf_get_u32 (g, src, &v, NULL);
      mor_gguf_writer_add_u32 (w, key, v);
    } else if (t == MOR_GGUF_VALUE_FLOAT32) {
      float v;
      mor_gguf_get_f32 (g, src, &v, NULL);
      mor_gguf_writer_add_f32 (w, key, v);
    }
  }
  for (guint i = 0; i < mor_gguf_n_tensors (g); i++) {
    const MorGgufTensor *t = mor_gguf_get_tensor (g, i);
    if (g_strcmp0 (t->name, drop_tensor) == 0)
      continue;
    guint64 ne[4] = { t->ne[0], t->ne[1], t->ne[2], t->ne[3] };
    gsize size = t->size;
    if (g_strcmp0 (t->name, reshape_tensor) == 0) {
      ne[1] -= 1;
      size = (gsize) ne[0] * ne[1] * 4;
    }
    mor_gguf_writer_add_tensor (w, t->name, t->type, t->n_dims, ne, t->data, size);
  }
  g_autoptr (GBytes) bytes = mor_gguf_writer_to_bytes (w);
  g_autoptr (GError) error = NULL;
  MorGguf *out = mor_gguf_new_from_bytes (bytes, &error);
  g_assert_no_error (error);
  return out;
}

static void
test_load_errors (void)
{
  g_autoptr (GError) error = NULL;
  {
    g_autoptr (MorGguf) g = edited_model ("llama", NULL, NULL);
    g_assert_null (mor_llm_load (device, g, &error));
    g_assert_error (error, MOR_LLM_ERROR, MOR_LLM_ERROR_ARCHITECTURE);
    g_assert_nonnull (strstr (error->message, "llama"));
    g_clear_error (&error);
  }
  {
    g_autoptr (MorGguf) g = edited_model ("qwen2", "blk.1.ffn_up.weight", NULL);
    g_assert_null (mor_llm_load (device, g, &error));
    g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_NOT_FOUND);
    g_assert_nonnull (strstr (error->message, "blk.1.ffn_up.weight"));
    g_clear_error (&error);
  }
  {
    g_autoptr (MorGguf) g = edited_model ("qwen2", NULL, "blk.0.attn_k.weight");
    g_assert_null (mor_llm_load (device, g, &error));
    g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE);
    g_assert_nonnull (strstr (error->message, "blk.0.attn_k.weight"));
    g_clear_error (&error);
  }
  {
    /* The same model under "qwen2" loads: the architectures share the layout. */
    g_autoptr (MorGguf) g = edited_model ("qwen2", NULL, NULL);
    g_autoptr (MorLlm) llm = mor_llm_load (device, g, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (mor_llm_get_config (llm)->architecture, ==, "qwen2");
  }
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  device = harness_device ();
  g_test_add_data_func ("/llm/forward/f32", GINT_TO_POINTER (MOR_TYPE_F32), check_forward);
  g_test_add_data_func ("/llm/forward/f16", GINT_TO_POINTER (MOR_TYPE_F16), check_forward);
  g_test_add_data_func ("/llm/forward/bf16", GINT_TO_POINTER (MOR_TYPE_BF16), check_forward);
  g_test_add_data_func ("/llm/forward/q8_0", GINT_TO_POINTER (MOR_TYPE_Q8_0), check_forward);
  g_test_add_data_func ("/llm/forward/q4_0", GINT_TO_POINTER (MOR_TYPE_Q4_0), check_forward);
  g_test_add_data_func ("/llm/forward/q4_K", GINT_TO_POINTER (MOR_TYPE_Q4_K), check_forward);
  g_test_add_data_func ("/llm/forward/q6_K", GINT_TO_POINTER (MOR_TYPE_Q6_K), check_forward);
  g_test_add_func ("/llm/decode-matches-reforward", test_decode_matches_reforward);
  g_test_add_func ("/llm/embedding-rows", test_embedding_rows);
  g_test_add_func ("/llm/context-full", test_context_full);
  g_test_add_func ("/llm/load-errors", test_load_errors);
  return g_test_run ();
}
