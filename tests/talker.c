/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/talker.c on tiny random talkers (mor_mkmodel_talker): the
 * Vulkan talker against generate() written out here on the C reference forward
 * (rows, penalty, suppression, stop and drop-last rules), streaming reply rows
 * against all at once, limits, and errors that name what is wrong. */
#include <math.h>
#include <string.h>

#include "ops/harness.h"
#include "mkmodel.h"
#include "talker.h"

static MorVkDevice *device;

/* One change to the tiny model, for the error tests (all fields optional). */
typedef struct {
  const char *drop_key, *drop_tensor;
  const char *set_key;          /* a u32 key given the value set_value */
  guint32 set_value;
  gboolean mute_stops;          /* zero the head rows of the end and pad codes: their logit is 0 while
                                 * the others are random, so greedy decoding never stops on its own */
} Edit;

static void
copy_key (MorGgufWriter *w, MorGguf *g, guint i)
{
  const char *key = mor_gguf_get_key (g, i);
  switch (mor_gguf_get_key_type (g, i)) {
  case MOR_GGUF_VALUE_UINT32: {
    guint32 v;
    g_assert_true (mor_gguf_get_u32 (g, key, &v, NULL));
    mor_gguf_writer_add_u32 (w, key, v);
    break;
  }
  case MOR_GGUF_VALUE_FLOAT32: {
    float v;
    g_assert_true (mor_gguf_get_f32 (g, key, &v, NULL));
    mor_gguf_writer_add_f32 (w, key, v);
    break;
  }
  case MOR_GGUF_VALUE_STRING:
    mor_gguf_writer_add_string (w, key, mor_gguf_get_string (g, key, NULL, NULL));
    break;
  case MOR_GGUF_VALUE_ARRAY: {
    MorGgufValueType et;
    guint64 n;
    g_assert_true (mor_gguf_get_array (g, key, &et, &n, NULL));
    if (et == MOR_GGUF_VALUE_STRING) {
      g_autoptr (GPtrArray) strv = g_ptr_array_new_with_free_func (g_free);
      for (guint64 j = 0; j < n; j++) {
        gsize len;
        const char *s = mor_gguf_get_array_string (g, key, j, &len);
        g_ptr_array_add (strv, g_strndup (s, len));
      }
      mor_gguf_writer_add_string_array (w, key, (const char *const *) strv->pdata, (gssize) n);
    } else {
      mor_gguf_writer_add_array (w, key, et, mor_gguf_get_array_data (g, key, et, &n, NULL), n);
    }
    break;
  }
  default:
    g_assert_not_reached ();
  }
}

static MorGguf *
make_talker (MorType type, guint64 seed, const Edit *edit)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MorGgufWriter) w0 = mor_mkmodel_talker (mor_mkmodel_talker_shape ("tiny"), type, seed, &error);
  g_assert_no_error (error);
  g_autoptr (GBytes) bytes0 = mor_gguf_writer_to_bytes (w0);
  g_autoptr (MorGguf) g = mor_gguf_new_from_bytes (bytes0, &error);
  g_assert_no_error (error);
  if (!edit)
    return g_steal_pointer (&g);

  g_autoptr (MorGgufWriter) w = mor_gguf_writer_new ();
  for (guint i = 0; i < mor_gguf_n_keys (g); i++) {
    const char *key = mor_gguf_get_key (g, i);
    if (g_strcmp0 (key, edit->drop_key) == 0)
      continue;
    if (g_strcmp0 (key, edit->set_key) == 0)
      mor_gguf_writer_add_u32 (w, key, edit->set_value);
    else
      copy_key (w, g, i);
  }
  guint32 stops[2];
  g_assert_true (mor_gguf_get_u32 (g, "mor.talker.tts_codec_end_token_id", &stops[0], NULL));
  g_assert_true (mor_gguf_get_u32 (g, "mor.talker.tts_codec_pad_token_id", &stops[1], NULL));
  for (guint i = 0; i < mor_gguf_n_tensors (g); i++) {
    const MorGgufTensor *t = mor_gguf_get_tensor (g, i);
    if (g_strcmp0 (t->name, edit->drop_tensor) == 0)
      continue;
    g_autofree guint8 *data = g_memdup2 (t->data, t->size);
    if (edit->mute_stops && strcmp (t->name, "talker.output.weight") == 0) {
      guint64 row = mor_type_row_bytes (t->type, t->ne[0]);
      for (guint j = 0; j < 2; j++)
        memset (data + row * stops[j], 0, row);
    }
    mor_gguf_writer_add_tensor (w, t->name, t->type, t->n_dims, t->ne, data, t->size);
  }
  g_autoptr (GBytes) bytes = mor_gguf_writer_to_bytes (w);
  MorGguf *out = mor_gguf_new_from_bytes (bytes, &error);
  g_assert_no_error (error);
  return out;
}

static MorTalker *
load (MorGguf *g)
{
  g_autoptr (GError) error = NULL;
  MorTalker *t = mor_talker_load (device, g, &error);
  g_assert_no_error (error);
  return t;
}

/* Rows as the thinker would give them: random, of the size of h + e. */
static float *
random_rows (guint32 n, guint32 E, guint32 seed)
{
  return harness_random ((gsize) n * E, -1.0f, 1.0f, seed);
}

/* An F32 tensor's values (read straight from the file). */
static const float *
tensor_f32 (MorGguf *g, const char *name)
{
  const MorGgufTensor *t = mor_gguf_find_tensor (g, name);
  g_assert_nonnull (t);
  g_assert_cmpint (t->type, ==, MOR_TYPE_F32);
  return t->data;
}

/* Talker.generate as transformers runs it (greedy), written out on the C
 * reference forward, each step re-running the whole sequence: rows from
 * docs and the file, the penalty 1.05 over [mask]·P + [pad, start] + tokens,
 * start suppressed, stop at end or pad, the last token dropped. Returns the
 * number of codes; @logits gets [tokens made, vocab]. */
static guint32
reference_generate (MorTalker *t, MorGguf *g, const float *prompt, guint32 P, const float *reply, guint32 N,
                    guint32 max_new, gint32 *codes, float *logits, guint32 *n_made)
{
  MorLlm *llm = mor_talker_get_llm (t);
  const MorTalkerConfig *c = mor_talker_get_config (t);
  guint32 E = c->embedding_size, V = c->vocab_size;
  const float *spk = tensor_f32 (g, "spk.Chelsie.bos_embd"), *text = tensor_f32 (g, "talker.text_embd.weight");
  g_autofree float *rows = g_new (float, (gsize) (P + 2 + max_new) * E);
  g_autofree float *codec = g_new (float, E), *all = g_new (float, (gsize) (P + 2 + max_new) * V);
  g_autofree gint32 *history = g_new (gint32, P + 2 + max_new);
  memcpy (rows, prompt, (gsize) P * E * 4);
  mor_llm_embed_token (llm, c->tts_codec_pad_token_id, codec);
  for (guint32 j = 0; j < E; j++)
    rows[(gsize) P * E + j] = spk[j] + codec[j];
  for (guint32 i = 0; i < P; i++)
    history[i] = c->tts_codec_mask_token_id;
  history[P] = c->tts_codec_pad_token_id;
  history[P + 1] = c->tts_codec_start_token_id;
  MorSamplerParams params = MOR_TALKER_SAMPLING_GREEDY;
  g_autoptr (MorSampler) sampler = mor_sampler_new (V, &params);
  gint32 deny = c->tts_codec_start_token_id;
  MorSamplerMask mask = { NULL, 0, &deny, 1 };
  guint32 k = 0, prev = c->tts_codec_start_token_id;
  for (;;) {
    const float *r = k < N ? reply + (gsize) k * E : text + (gsize) (k == N ? 1 : 2) * E;
    mor_llm_embed_token (llm, prev, codec);
    for (guint32 j = 0; j < E; j++)
      rows[(gsize) (P + 1 + k) * E + j] = r[j] + codec[j];
    mor_llm_reference_forward_rows (llm, rows, P + 2 + k, all, NULL);
    const float *l = all + (gsize) (P + 1 + k) * V;
    memcpy (logits + (gsize) k * V, l, V * 4);
    gint32 id = mor_sampler_sample (sampler, l, history, P + 2 + k, &mask, NULL);
    history[P + 2 + k] = id;
    k++;
    if ((guint32) id == c->tts_codec_end_token_id || (guint32) id == c->tts_codec_pad_token_id || k == max_new)
      break;
    prev = id;
  }
  *n_made = k;
  memcpy (codes, history + P + 2, (k - 1) * 4);
  return k - 1;
}

/* All reply rows first, then every code; @logits (optional) gets those of each code. */
static guint32
run_all (MorTalker *t, MorTalkerSession *s, const float *prompt, guint32 P, const float *reply, guint32 N,
         gint32 *codes, float *logits)
{
  g_autoptr (GError) error = NULL;
  const MorTalkerConfig *c = mor_talker_get_config (t);
  g_assert_true (mor_talker_session_begin (s, prompt, P, NULL, &error));
  g_assert_no_error (error);
  for (guint32 i = 0; i < N; i++)
    g_assert_true (mor_talker_session_push_reply (s, reply + (gsize) i * c->embedding_size, &error));
  mor_talker_session_end_reply (s);
  guint32 n = 0;
  for (;;) {
    gint32 code = -1;
    MorTalkerStatus st = mor_talker_session_next (s, &code, &error);
    g_assert_no_error (error);
    if (st == MOR_TALKER_DONE)
      break;
    g_assert_cmpint (st, ==, MOR_TALKER_CODE);
    g_assert_cmpint (code, >=, 0);
    g_assert_cmpint (code, <, c->vocab_size);
    g_assert_cmpint (code, !=, c->tts_codec_start_token_id);
    if (logits)
      memcpy (logits + (gsize) n * c->vocab_size, mor_talker_session_get_logits (s), c->vocab_size * 4);
    codes[n++] = code;
  }
  g_assert_cmpuint (mor_talker_session_n_codes (s), ==, n);
  g_assert_cmpint (mor_talker_session_next (s, NULL, &error), ==, MOR_TALKER_DONE);
  return n;
}

static MorTalkerSession *
new_session (MorTalker *t, guint32 n_ctx, MorSamplerParams params, guint32 max_new)
{
  g_autoptr (GError) error = NULL;
  MorTalkerSession *s = mor_talker_session_new (t, n_ctx, &params, max_new, &error);
  g_assert_no_error (error);
  return s;
}

/* The Vulkan talker against generate() on the reference: codes, and the
 * logits of every step. Stops muted, so the answer runs to the length limit
 * through reply rows, text_end and text_pad. */
static void
check_forward (gconstpointer data)
{
  MorType type = GPOINTER_TO_INT (data);
  Edit mute = { .mute_stops = TRUE };
  g_autoptr (MorGguf) g = make_talker (type, 1, &mute);
  g_autoptr (MorTalker) t = load (g);
  const MorTalkerConfig *c = mor_talker_get_config (t);
  const guint32 P = 11, N = 5, max_new = 17, V = c->vocab_size, E = c->embedding_size;
  g_autofree float *prompt = random_rows (P, E, 1), *reply = random_rows (N, E, 2);
  gint32 want[32], got[32];
  guint32 made;
  g_autofree float *want_l = g_new (float, (gsize) max_new * V), *got_l = g_new (float, (gsize) max_new * V);
  guint32 n_want = reference_generate (t, g, prompt, P, reply, N, max_new, want, want_l, &made);
  g_assert_cmpuint (made, ==, max_new);
  g_autoptr (MorTalkerSession) s = new_session (t, 64, MOR_TALKER_SAMPLING_GREEDY, max_new);
  guint32 n_got = run_all (t, s, prompt, P, reply, N, got, got_l);
  g_assert_cmpuint (n_got, ==, max_new - 1);
  g_assert_cmpuint (n_got, ==, n_want);
  g_assert_cmpmem (got, n_got * 4, want, n_want * 4);
  double max_err = 0;
  for (gsize i = 0; i < (gsize) n_got * V; i++)
    max_err = MAX (max_err, fabs (got_l[i] - want_l[i]));
  /* The talker's own C reference (one pass over the rows of those codes). */
  g_autoptr (GError) error = NULL;
  g_autofree float *ref_l = g_new (float, (gsize) n_got * V);
  g_assert_true (mor_talker_reference_forward (t, prompt, P, NULL, reply, N, got, n_got, ref_l, &error));
  g_assert_no_error (error);
  double max_ref = 0;
  for (gsize i = 0; i < (gsize) n_got * V; i++)
    max_ref = MAX (max_ref, fabs (ref_l[i] - want_l[i]));
  g_test_message ("%s: %u codes, max |Δlogit| %.3g, reference_forward %.3g", mor_type_name (type), n_got, max_err,
                  max_ref);
  g_assert_cmpfloat (max_err, <, 1e-4);
  g_assert_cmpfloat (max_ref, <, 1e-6);
}

/* Unmuted models stop on their own: the codes and where they stop (an end or
 * pad code, or the limit) are generate()'s. */
static void
test_stop (void)
{
  guint32 n_end = 0, n_limit = 0;
  for (guint64 seed = 1; seed <= 6; seed++) {
    g_autoptr (MorGguf) g = make_talker (MOR_TYPE_F32, seed, NULL);
    g_autoptr (MorTalker) t = load (g);
    const MorTalkerConfig *c = mor_talker_get_config (t);
    const guint32 P = 4 + seed, N = 3, max_new = 40, V = c->vocab_size, E = c->embedding_size;
    g_autofree float *prompt = random_rows (P, E, 10 + seed), *reply = random_rows (N, E, 20 + seed);
    gint32 want[64], got[64];
    guint32 made;
    g_autofree float *want_l = g_new (float, (gsize) max_new * V);
    guint32 n_want = reference_generate (t, g, prompt, P, reply, N, max_new, want, want_l, &made);
    g_autoptr (MorTalkerSession) s = new_session (t, 128, MOR_TALKER_SAMPLING_GREEDY, max_new);
    guint32 n_got = run_all (t, s, prompt, P, reply, N, got, NULL);
    g_test_message ("seed %" G_GUINT64_FORMAT ": %u codes of %u tokens", seed, n_got, made);
    g_assert_cmpuint (n_got, ==, n_want);
    g_assert_cmpmem (got, n_got * 4, want, n_want * 4);
    if (made < max_new)
      n_end++;
    else
      n_limit++;
  }
  g_assert_cmpuint (n_end, >, 0);
}

/* Reply rows given one at a time, when the talker asks for them, give the
 * same codes and logits as all at once. */
static void
test_streaming (void)
{
  Edit mute = { .mute_stops = TRUE };
  g_autoptr (MorGguf) g = make_talker (MOR_TYPE_F16, 3, &mute);
  g_autoptr (MorTalker) t = load (g);
  const MorTalkerConfig *c = mor_talker_get_config (t);
  const guint32 P = 6, N = 7, max_new = 14, V = c->vocab_size, E = c->embedding_size;
  g_autofree float *prompt = random_rows (P, E, 4), *reply = random_rows (N, E, 5);
  gint32 want[32], got[32];
  g_autofree float *want_l = g_new (float, (gsize) max_new * V), *got_l = g_new (float, (gsize) max_new * V);
  g_autoptr (MorTalkerSession) s = new_session (t, 64, MOR_TALKER_SAMPLING_GREEDY, max_new);
  guint32 n_want = run_all (t, s, prompt, P, reply, N, want, want_l);

  g_autoptr (GError) error = NULL;
  g_assert_true (mor_talker_session_begin (s, prompt, P, NULL, &error));
  guint32 n = 0, pushed = 0, asked = 0;
  for (;;) {
    gint32 code;
    MorTalkerStatus st = mor_talker_session_next (s, &code, &error);
    g_assert_no_error (error);
    if (st == MOR_TALKER_DONE)
      break;
    if (st == MOR_TALKER_NEED_REPLY) {
      asked++;
      if (pushed < N)
        g_assert_true (mor_talker_session_push_reply (s, reply + (gsize) pushed++ * E, &error));
      else
        mor_talker_session_end_reply (s);
      continue;
    }
    memcpy (got_l + (gsize) n * V, mor_talker_session_get_logits (s), V * 4);
    got[n++] = code;
  }
  /* One request per reply row and one for the end. */
  g_assert_cmpuint (asked, ==, N + 1);
  g_assert_cmpuint (n, ==, n_want);
  g_assert_cmpmem (got, n * 4, want, n_want * 4);
  g_assert_cmpmem (got_l, (gsize) n * V * 4, want_l, (gsize) n_want * V * 4);
}

/* Sampling with a seed is repeatable; the session's seed restarts it; the
 * parameters can change between answers. */
static void
test_sampling (void)
{
  Edit mute = { .mute_stops = TRUE };
  g_autoptr (MorGguf) g = make_talker (MOR_TYPE_F32, 4, &mute);
  g_autoptr (MorTalker) t = load (g);
  const guint32 P = 5, N = 2, E = mor_talker_get_config (t)->embedding_size;
  g_autofree float *prompt = random_rows (P, E, 6), *reply = random_rows (N, E, 7);
  MorSamplerParams p = MOR_TALKER_SAMPLING_DEFAULT;
  p.seed = 42;
  gint32 a[32], b[32], d[32];
  g_autoptr (MorTalkerSession) s = new_session (t, 64, p, 20);
  guint32 na = run_all (t, s, prompt, P, reply, N, a, NULL);
  mor_talker_session_set_seed (s, 42);
  guint32 nb = run_all (t, s, prompt, P, reply, N, b, NULL);
  mor_talker_session_set_seed (s, 43);
  guint32 nd = run_all (t, s, prompt, P, reply, N, d, NULL);
  g_assert_cmpuint (na, ==, 19);
  g_assert_cmpuint (na, ==, nb);
  g_assert_cmpmem (a, na * 4, b, nb * 4);
  g_assert_true (nd != na || memcmp (a, d, na * 4) != 0);
  /* Greedy through set_sampling is a greedy session's answer. */
  MorSamplerParams greedy = MOR_TALKER_SAMPLING_GREEDY;
  mor_talker_session_set_sampling (s, &greedy);
  guint32 ng = run_all (t, s, prompt, P, reply, N, d, NULL);
  g_autoptr (MorTalkerSession) s2 = new_session (t, 64, greedy, 20);
  g_assert_cmpuint (run_all (t, s2, prompt, P, reply, N, b, NULL), ==, ng);
  g_assert_cmpmem (b, ng * 4, d, ng * 4);
}

/* max_new_tokens M gives M − 1 codes; a session's n_ctx limits the same way;
 * a reply that ends before any row gives none; begin starts over. */
static void
test_limits (void)
{
  Edit mute = { .mute_stops = TRUE };
  g_autoptr (MorGguf) g = make_talker (MOR_TYPE_F32, 5, &mute);
  g_autoptr (MorTalker) t = load (g);
  const guint32 P = 5, N = 3, E = mor_talker_get_config (t)->embedding_size;
  g_autofree float *prompt = random_rows (P, E, 8), *reply = random_rows (N, E, 9);
  gint32 a[64], b[64];
  {
    g_autoptr (MorTalkerSession) s = new_session (t, 64, MOR_TALKER_SAMPLING_GREEDY, 5);
    g_assert_cmpuint (run_all (t, s, prompt, P, reply, N, a, NULL), ==, 4);
    g_assert_cmpuint (run_all (t, s, prompt, P, reply, N, b, NULL), ==, 4);
    g_assert_cmpmem (a, 16, b, 16);
    g_autoptr (MorTalkerSession) one = new_session (t, 64, MOR_TALKER_SAMPLING_GREEDY, 1);
    g_assert_cmpuint (run_all (t, one, prompt, P, reply, N, b, NULL), ==, 0);
  }
  {
    /* P + 2 + 3 positions: codes at positions P+1 .. P+4, the last dropped. */
    g_autoptr (MorTalkerSession) s = new_session (t, P + 5, MOR_TALKER_SAMPLING_GREEDY, 100);
    g_assert_cmpuint (run_all (t, s, prompt, P, reply, N, b, NULL), ==, 4);
    g_assert_cmpmem (a, 16, b, 16);
  }
  {
    g_autoptr (MorTalkerSession) s = new_session (t, 64, MOR_TALKER_SAMPLING_GREEDY, 100);
    g_assert_cmpuint (run_all (t, s, prompt, P, reply, 0, b, NULL), ==, 0);
  }
}

static void
test_prompt_row (void)
{
  g_autoptr (MorGguf) g = make_talker (MOR_TYPE_F32, 6, NULL);
  g_autoptr (MorTalker) t = load (g);
  const MorTalkerConfig *c = mor_talker_get_config (t);
  guint32 E = c->embedding_size;
  g_autofree float *h = random_rows (1, E, 1), *e = random_rows (1, E, 2), *out = g_new (float, E);
  mor_talker_prompt_row (t, h, e, c->audio_token_index, out);
  g_assert_cmpmem (out, E * 4, h, E * 4);
  mor_talker_prompt_row (t, h, e, c->audio_token_index + 1, out);
  for (guint32 j = 0; j < E; j++)
    g_assert_cmpfloat (out[j], ==, h[j] + e[j]);
  g_assert_cmpstr (mor_talker_get_default_speaker (t), ==, "Chelsie");
  g_assert_cmpuint (c->n_speakers, ==, 2);
  g_assert_cmpstr (mor_talker_get_speaker (t, 1), ==, "Ethan");
  g_assert_cmpmem (mor_talker_get_text_row (t, 2), E * 4, tensor_f32 (g, "talker.text_embd.weight") + 2 * E, E * 4);
}

/* The speaker changes row P only: Ethan's answer differs from Chelsie's. */
static void
test_speaker (void)
{
  Edit mute = { .mute_stops = TRUE };
  g_autoptr (MorGguf) g = make_talker (MOR_TYPE_F32, 7, &mute);
  g_autoptr (MorTalker) t = load (g);
  const guint32 P = 4, E = mor_talker_get_config (t)->embedding_size;
  g_autofree float *prompt = random_rows (P, E, 3), *reply = random_rows (1, E, 4);
  g_autoptr (GError) error = NULL;
  g_autoptr (MorTalkerSession) s = new_session (t, 64, MOR_TALKER_SAMPLING_GREEDY, 10);
  gint32 code;
  g_autofree float *l = g_new (float, mor_talker_get_config (t)->vocab_size);
  const char *names[] = { NULL, "Chelsie", "Ethan" };
  float first[3];
  for (guint i = 0; i < 3; i++) {
    g_assert_true (mor_talker_session_begin (s, prompt, P, names[i], &error));
    g_assert_true (mor_talker_session_push_reply (s, reply, &error));
    g_assert_cmpint (mor_talker_session_next (s, &code, &error), ==, MOR_TALKER_CODE);
    first[i] = mor_talker_session_get_logits (s)[0];
  }
  g_assert_cmpfloat (first[0], ==, first[1]);
  g_assert_cmpfloat (first[1], !=, first[2]);
}

static void
test_session_errors (void)
{
  g_autoptr (MorGguf) g = make_talker (MOR_TYPE_F32, 8, NULL);
  g_autoptr (MorTalker) t = load (g);
  const guint32 E = mor_talker_get_config (t)->embedding_size;
  g_autofree float *rows = random_rows (8, E, 1);
  g_autoptr (GError) error = NULL;
  g_autoptr (MorTalkerSession) s = new_session (t, 8, MOR_TALKER_SAMPLING_GREEDY, 10);
  g_assert_false (mor_talker_session_begin (s, rows, 4, "Nobody", &error));
  g_assert_error (error, MOR_TALKER_ERROR, MOR_TALKER_ERROR_SPEAKER);
  g_assert_nonnull (strstr (error->message, "Nobody"));
  g_assert_nonnull (strstr (error->message, "Ethan"));
  g_clear_error (&error);
  g_assert_false (mor_talker_session_begin (s, rows, 7, NULL, &error));
  g_assert_error (error, MOR_TALKER_ERROR, MOR_TALKER_ERROR_CONTEXT);
  g_clear_error (&error);
  g_assert_cmpint (mor_talker_session_next (s, NULL, &error), ==, MOR_TALKER_DONE);
  rows[3 * E + 5] = NAN;
  g_assert_false (mor_talker_session_begin (s, rows, 6, NULL, &error));
  g_assert_error (error, MOR_TALKER_ERROR, MOR_TALKER_ERROR_INPUT);
  g_clear_error (&error);
  g_assert_true (mor_talker_session_begin (s, rows, 3, NULL, &error));
  g_assert_false (mor_talker_session_push_reply (s, rows + 3 * E, &error));
  g_assert_error (error, MOR_TALKER_ERROR, MOR_TALKER_ERROR_INPUT);
  g_clear_error (&error);
  g_assert_cmpint (mor_talker_session_next (s, NULL, &error), ==, MOR_TALKER_NEED_REPLY);
}

static void
expect_load_error (const Edit *edit, GQuark domain, gint code, const char *name)
{
  g_autoptr (MorGguf) g = make_talker (MOR_TYPE_F32, 9, edit);
  g_autoptr (GError) error = NULL;
  g_assert_null (mor_talker_load (device, g, &error));
  g_assert_error (error, domain, code);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, name));
}

static void
test_load_errors (void)
{
  Edit e1 = { .drop_tensor = "talker.text_embd.weight" };
  expect_load_error (&e1, MOR_GGUF_ERROR, MOR_GGUF_ERROR_NOT_FOUND, "talker.text_embd.weight");
  Edit e2 = { .drop_tensor = "spk.Ethan.bos_embd" };
  expect_load_error (&e2, MOR_GGUF_ERROR, MOR_GGUF_ERROR_NOT_FOUND, "spk.Ethan.bos_embd");
  Edit e3 = { .drop_tensor = "talker.inp_proj.bias" };
  expect_load_error (&e3, MOR_GGUF_ERROR, MOR_GGUF_ERROR_NOT_FOUND, "talker.inp_proj.bias");
  Edit e4 = { .drop_tensor = "talker.blk.1.attn_v.weight" };
  expect_load_error (&e4, MOR_GGUF_ERROR, MOR_GGUF_ERROR_NOT_FOUND, "talker.blk.1.attn_v.weight");
  Edit e5 = { .drop_key = "mor.talker.tts_codec_end_token_id" };
  expect_load_error (&e5, MOR_GGUF_ERROR, MOR_GGUF_ERROR_NOT_FOUND, "mor.talker.tts_codec_end_token_id");
  Edit e6 = { .set_key = "mor.talker.tts_codec_pad_token_id", .set_value = 100000 };
  expect_load_error (&e6, MOR_TALKER_ERROR, MOR_TALKER_ERROR_CONFIG, "mor.talker.tts_codec_pad_token_id");
  Edit e7 = { .set_key = "mor.talker.head_dim", .set_value = 8 };
  expect_load_error (&e7, MOR_LLM_ERROR, MOR_LLM_ERROR_CONFIG, "mor.talker.mrope_section");
  Edit e8 = { .set_key = "mor.talker.embedding_size", .set_value = 100 };
  expect_load_error (&e8, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE, "talker.token_embd.weight");
  Edit e9 = { .set_key = "mor.talker.vocab_size", .set_value = 71 };
  expect_load_error (&e9, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE, "talker.token_embd.weight");
  Edit e10 = { .drop_key = "mor.speakers.names" };
  expect_load_error (&e10, MOR_GGUF_ERROR, MOR_GGUF_ERROR_NOT_FOUND, "mor.speakers.names");
  Edit e11 = { .drop_key = "mor.talker.num_attention_heads" };
  expect_load_error (&e11, MOR_GGUF_ERROR, MOR_GGUF_ERROR_NOT_FOUND, "mor.talker.num_attention_heads");
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  device = harness_device ();
  g_test_add_data_func ("/talker/forward/f32", GINT_TO_POINTER (MOR_TYPE_F32), check_forward);
  g_test_add_data_func ("/talker/forward/f16", GINT_TO_POINTER (MOR_TYPE_F16), check_forward);
  g_test_add_data_func ("/talker/forward/q8_0", GINT_TO_POINTER (MOR_TYPE_Q8_0), check_forward);
  g_test_add_func ("/talker/stop", test_stop);
  g_test_add_func ("/talker/streaming", test_streaming);
  g_test_add_func ("/talker/sampling", test_sampling);
  g_test_add_func ("/talker/limits", test_limits);
  g_test_add_func ("/talker/prompt-row", test_prompt_row);
  g_test_add_func ("/talker/speaker", test_speaker);
  g_test_add_func ("/talker/session-errors", test_session_errors);
  g_test_add_func ("/talker/load-errors", test_load_errors);
  return g_test_run ();
}
