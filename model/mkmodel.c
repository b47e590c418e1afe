/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Random-weight models in the real layouts, for tests and benchmarks. */
#include "mkmodel.h"

#include <math.h>
#include <string.h>

#include "tokenizer.h"

static const MorThinkerShape thinker_shapes[] = {
  /* Structurally faithful and small: GQA 2:1, q/k/v biases, untied head; rows
   * of 256 so every tensor type (K-quants too) applies. */
  { "tiny", "qwen2vl", 256, 2, 4, 2, 512, 0, 4096, FALSE },
  { "qwen2.5-0.5b", "qwen2", 896, 24, 14, 2, 4864, 151936, 32768, TRUE },
  { "qwen2.5-omni-3b", "qwen2vl", 2048, 36, 16, 2, 11008, 151936, 32768, FALSE },
  { "qwen2.5-omni-7b", "qwen2vl", 3584, 28, 28, 4, 18944, 152064, 32768, FALSE },
};

const MorThinkerShape *
mor_mkmodel_thinker_shape (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (thinker_shapes); i++)
    if (g_strcmp0 (thinker_shapes[i].name, name) == 0)
      return &thinker_shapes[i];
  return NULL;
}

const char *const *
mor_mkmodel_thinker_shapes (void)
{
  static const char *names[G_N_ELEMENTS (thinker_shapes) + 1];
  for (guint i = 0; i < G_N_ELEMENTS (thinker_shapes); i++)
    names[i] = thinker_shapes[i].name;
  return names;
}

/* ---- random numbers: xorshift64*, then Box-Muller ---- */

typedef struct {
  guint64 s;
} Rng;

static guint64
rng_next (Rng *r)
{
  r->s ^= r->s >> 12;
  r->s ^= r->s << 25;
  r->s ^= r->s >> 27;
  return r->s * 0x2545F4914F6CDD1DULL;
}

static float
rng_uniform (Rng *r) /* (0, 1) */
{
  return ((rng_next (r) >> 40) + 0.5f) / 16777216.0f;
}

static void
rng_normal (Rng *r, float *out, gsize n, float mean, float std)
{
  for (gsize i = 0; i < n; i += 2) {
    float u = rng_uniform (r), v = rng_uniform (r);
    float m = sqrtf (-2.0f * logf (u));
    out[i] = mean + std * m * cosf (6.2831853f * v);
    if (i + 1 < n)
      out[i + 1] = mean + std * m * sinf (6.2831853f * v);
  }
}

/* A [rows, cols] tensor of @type filled with N(mean, std²) values. */
static gboolean
add_random_muted (MorGgufWriter *w, Rng *rng, const char *name, MorType type, guint32 rows, guint32 cols,
                  float mean, float std, guint32 mute_from, guint32 mute_to, GError **error)
{
  guint64 row_bytes = mor_type_row_bytes (type, cols);
  if (row_bytes == 0) {
    g_set_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE,
                 "Tensor %s has rows of %u elements, not a multiple of %s's block of %u",
                 name, cols, mor_type_name (type), mor_type_block_size (type));
    return FALSE;
  }
  guint8 *data = g_malloc ((gsize) row_bytes * rows);
  g_autofree float *row = g_new (float, cols);
  for (guint32 r = 0; r < rows; r++) {
    rng_normal (rng, row, cols, mean, std);
    if (r >= mute_from && r < mute_to)
      memset (row, 0, cols * sizeof (float));
    mor_quantize_row (type, row, data + (gsize) r * row_bytes, cols);
  }
  guint64 ne[2] = { cols, rows };
  g_autoptr (GBytes) bytes = g_bytes_new_take (data, (gsize) row_bytes * rows);
  mor_gguf_writer_add_tensor_bytes (w, name, type, rows > 1 ? 2 : 1, ne, bytes);
  return TRUE;
}

static gboolean
add_random (MorGgufWriter *w, Rng *rng, const char *name, MorType type, guint32 rows, guint32 cols,
            float mean, float std, GError **error)
{
  return add_random_muted (w, rng, name, type, rows, cols, mean, std, 0, 0, error);
}

/* The tensors of Qwen2 decoder layers under llama.cpp's block names
 * (@prefix "blk.N.…"): weights ~ N(0, 0.02²) of @type, norms near 1. */
static gboolean
add_qwen2_blocks (MorGgufWriter *w, Rng *rng, const char *prefix, guint32 n_layers, guint32 hidden,
                  guint32 q_dim, guint32 kv_dim, guint32 ff, MorType type, GError **error)
{
  const float std = 0.02f;
  for (guint32 l = 0; l < n_layers; l++) {
    struct { const char *name; guint32 rows, cols; gboolean vector; float mean; } t[] = {
      { "attn_norm.weight", 1, hidden, TRUE, 1.0f },
      { "attn_q.weight", q_dim, hidden, FALSE, 0 },
      { "attn_q.bias", 1, q_dim, TRUE, 0 },
      { "attn_k.weight", kv_dim, hidden, FALSE, 0 },
      { "attn_k.bias", 1, kv_dim, TRUE, 0 },
      { "attn_v.weight", kv_dim, hidden, FALSE, 0 },
      { "attn_v.bias", 1, kv_dim, TRUE, 0 },
      { "attn_output.weight", hidden, q_dim, FALSE, 0 },
      { "ffn_norm.weight", 1, hidden, TRUE, 1.0f },
      { "ffn_gate.weight", ff, hidden, FALSE, 0 },
      { "ffn_up.weight", ff, hidden, FALSE, 0 },
      { "ffn_down.weight", hidden, ff, FALSE, 0 },
    };
    for (guint i = 0; i < G_N_ELEMENTS (t); i++) {
      g_autofree char *tname = g_strdup_printf ("%sblk.%u.%s", prefix, l, t[i].name);
      if (!add_random (w, rng, tname, t[i].vector ? MOR_TYPE_F32 : type, t[i].rows, t[i].cols, t[i].mean,
                       t[i].vector ? 0.1f : std, error))
        return FALSE;
    }
  }
  return TRUE;
}

static const char *const specials[] = { "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|AUDIO|>",
                                        "<|audio_bos|>", "<|audio_eos|>" };
static const char *const interleave_specials[] = { "<|response_end|>", "<|reasoning_end|>", "<|response_pad|>",
                                                    "<|reasoning_pad|>" };

/* The tiny vocabulary: the 256 byte symbols, merges spelling a few words, and
 * Qwen's special tokens (then, with @interleave, the four control tokens);
 * padded with unused rows up to @n_vocab if larger. @specials_at (optional)
 * gets the id of the first special token. */
static guint32
add_vocabulary (MorGgufWriter *w, guint32 n_vocab, gboolean interleave, guint32 *specials_at)
{
  static const char *const words[] = { "the", "and", "is", "what", "plus", "minus", "times",
                                        "equals", "okay", "let", "me", "think", "answer" };
  g_autoptr (GPtrArray) tokens = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) merges = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GArray) types = g_array_new (FALSE, FALSE, sizeof (gint32));
  gint32 normal = MOR_TOKEN_TYPE_NORMAL, control = MOR_TOKEN_TYPE_CONTROL, unused = MOR_TOKEN_TYPE_UNUSED;
  char sym[256][8];
  for (guint b = 0; b < 256; b++) {
    sym[b][g_unichar_to_utf8 (mor_tokenizer_byte_symbol (b), sym[b])] = 0;
    g_ptr_array_add (tokens, g_strdup (sym[b]));
    g_array_append_val (types, normal);
  }
  g_autoptr (GHashTable) have = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < G_N_ELEMENTS (words); i++) {
    /* "Ġ" + w[0], then one letter at a time: each merge makes the next prefix. */
    g_autofree char *prefix = g_strdup (sym[' ']);
    for (const char *c = words[i]; *c; c++) {
      char *next = g_strconcat (prefix, sym[(guint8) *c], NULL);
      if (!g_hash_table_contains (have, next)) {
        g_ptr_array_add (merges, g_strdup_printf ("%s %s", prefix, sym[(guint8) *c]));
        g_ptr_array_add (tokens, g_strdup (next));
        g_hash_table_add (have, g_ptr_array_index (tokens, tokens->len - 1));
        g_array_append_val (types, normal);
      }
      g_free (prefix);
      prefix = next;
    }
  }
  guint32 first_special = tokens->len;
  for (guint i = 0; i < G_N_ELEMENTS (specials); i++) {
    g_ptr_array_add (tokens, g_strdup (specials[i]));
    g_array_append_val (types, control);
  }
  for (guint i = 0; interleave && i < G_N_ELEMENTS (interleave_specials); i++) {
    g_ptr_array_add (tokens, g_strdup (interleave_specials[i]));
    g_array_append_val (types, control);
  }
  if (specials_at)
    *specials_at = first_special;
  while (tokens->len < n_vocab) {
    g_ptr_array_add (tokens, g_strdup_printf ("<|unused_%u|>", tokens->len));
    g_array_append_val (types, unused);
  }
  mor_gguf_writer_add_string (w, "tokenizer.ggml.model", "gpt2");
  mor_gguf_writer_add_string (w, "tokenizer.ggml.pre", "qwen2");
  mor_gguf_writer_add_string_array (w, "tokenizer.ggml.tokens", (const char *const *) tokens->pdata, tokens->len);
  mor_gguf_writer_add_array (w, "tokenizer.ggml.token_type", MOR_GGUF_VALUE_INT32, types->data, types->len);
  mor_gguf_writer_add_string_array (w, "tokenizer.ggml.merges", (const char *const *) merges->pdata, merges->len);
  mor_gguf_writer_add_u32 (w, "tokenizer.ggml.eos_token_id", first_special + 2);     /* <|im_end|> */
  mor_gguf_writer_add_u32 (w, "tokenizer.ggml.padding_token_id", first_special);     /* <|endoftext|> */
  mor_gguf_writer_add_string (w, "tokenizer.chat_template",
                              "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
                              "{{ message['content'] }}<|im_end|>\n{% endfor %}"
                              "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}");
  return tokens->len;
}

/* Built-in vocabulary size (what vocab_size 0 means). */
static guint32
tiny_vocab_size (void)
{
  g_autoptr (MorGgufWriter) w = mor_gguf_writer_new ();
  return add_vocabulary (w, 0, FALSE, NULL);
}

MorGgufWriter *
mor_mkmodel_thinker (const MorThinkerShape *c, MorType type, guint64 seed, GError **error)
{
  return mor_mkmodel_thinker_full (c, type, seed, NULL, error);
}

MorGgufWriter *
mor_mkmodel_thinker_full (const MorThinkerShape *c, MorType type, guint64 seed,
                          const MorMkmodelThinkerOptions *options, GError **error)
{
  g_return_val_if_fail (c != NULL, NULL);
  MorMkmodelThinkerOptions o = { 0 };
  if (options)
    o = *options;
  gboolean interleave = o.response_tokens + o.reasoning_tokens > 0;
  g_autoptr (MorGgufWriter) w = mor_gguf_writer_new ();
  const char *arch = c->architecture;
  guint32 head_dim = c->hidden_size / c->num_attention_heads;
  guint32 q_dim = c->num_attention_heads * head_dim, kv_dim = c->num_key_value_heads * head_dim;
  guint32 vocab = c->vocab_size ? c->vocab_size
                                : tiny_vocab_size () + (interleave ? G_N_ELEMENTS (interleave_specials) : 0);
  Rng rng = { seed * 0x9E3779B97F4A7C15ULL + 1 };

#define KEY(suffix) g_strdup_printf ("%s.%s", arch, suffix)
  g_autofree char *k_ctx = KEY ("context_length"), *k_emb = KEY ("embedding_length");
  g_autofree char *k_blk = KEY ("block_count"), *k_ff = KEY ("feed_forward_length");
  g_autofree char *k_h = KEY ("attention.head_count"), *k_hkv = KEY ("attention.head_count_kv");
  g_autofree char *k_theta = KEY ("rope.freq_base"), *k_eps = KEY ("attention.layer_norm_rms_epsilon");
  g_autofree char *k_sec = KEY ("rope.dimension_sections");
#undef KEY
  mor_gguf_writer_add_string (w, "general.architecture", arch);
  g_autofree char *name = g_strdup_printf ("mor random %s (%s)", c->name, mor_type_name (type));
  mor_gguf_writer_add_string (w, "general.name", name);
  mor_gguf_writer_add_u32 (w, k_ctx, c->max_position_embeddings);
  mor_gguf_writer_add_u32 (w, k_emb, c->hidden_size);
  mor_gguf_writer_add_u32 (w, k_blk, c->num_hidden_layers);
  mor_gguf_writer_add_u32 (w, k_ff, c->intermediate_size);
  mor_gguf_writer_add_u32 (w, k_h, c->num_attention_heads);
  mor_gguf_writer_add_u32 (w, k_hkv, c->num_key_value_heads);
  mor_gguf_writer_add_f32 (w, k_theta, 1e6f);
  mor_gguf_writer_add_f32 (w, k_eps, 1e-6f);
  if (strcmp (arch, "qwen2vl") == 0) {
    /* M-RoPE sections [t, h, w, 0] in the proportions of Qwen2.5-Omni's [16, 24, 24]. */
    gint32 half = head_dim / 2, t = half / 4, h = (half - t) / 2;
    gint32 sections[4] = { t, h, half - t - h, 0 };
    mor_gguf_writer_add_array (w, k_sec, MOR_GGUF_VALUE_INT32, sections, 4);
  }
  guint32 first_special, n_tokens = add_vocabulary (w, vocab, interleave, &first_special);
  if (interleave) {
    mor_gguf_writer_add_u32 (w, "mor.interleave.response_tokens", o.response_tokens);
    mor_gguf_writer_add_u32 (w, "mor.interleave.reasoning_tokens", o.reasoning_tokens);
    static const char *const keys[] = { "response_end", "reasoning_end", "response_pad", "reasoning_pad" };
    guint32 at = first_special + G_N_ELEMENTS (specials);
    for (guint i = 0; i < G_N_ELEMENTS (keys); i++) {
      g_autofree char *k = g_strdup_printf ("mor.interleave.%s", keys[i]);
      g_autofree char *k_id = g_strdup_printf ("mor.interleave.%s_id", keys[i]);
      mor_gguf_writer_add_string (w, k, interleave_specials[i]);
      mor_gguf_writer_add_u32 (w, k_id, at + i);
    }
  }
  /* The CONTROL tokens are the rows first_special .. (unused rows after them are muted too). */
  guint32 mute_from = o.mute_control ? first_special : 0, mute_to = o.mute_control ? n_tokens : 0;

  /* Weights ~ N(0, 0.02²) like Qwen2's initializer_range; norms near 1. */
  const float std = 0.02f;
  if (!add_random (w, &rng, "token_embd.weight", type, vocab, c->hidden_size, 0, std, error))
    return NULL;
  if (!add_qwen2_blocks (w, &rng, "", c->num_hidden_layers, c->hidden_size, q_dim, kv_dim, c->intermediate_size,
                         type, error))
    return NULL;
  if (!add_random (w, &rng, "output_norm.weight", MOR_TYPE_F32, 1, c->hidden_size, 1.0f, 0.1f, error))
    return NULL;
  if (!c->tie_word_embeddings &&
      !add_random_muted (w, &rng, "output.weight", type, vocab, c->hidden_size, 0, std, mute_from, mute_to,
                         error))
    return NULL;
  return g_steal_pointer (&w);
}

/* ---- audio encoder ---- */

static const MorEncoderShape encoder_shapes[] = {
  /* Small and structurally faithful: the real front end (128 mels) and chunking,
   * 4 heads of 16, projecting to the tiny thinker's 256. */
  { "tiny", 128, 64, 2, 4, 256, 256, 1500, 100 },
  { "qwen2.5-omni-3b", 128, 1280, 32, 20, 5120, 2048, 1500, 100 },
  { "qwen2.5-omni-7b", 128, 1280, 32, 20, 5120, 3584, 1500, 100 },
};

const MorEncoderShape *
mor_mkmodel_encoder_shape (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (encoder_shapes); i++)
    if (g_strcmp0 (encoder_shapes[i].name, name) == 0)
      return &encoder_shapes[i];
  return NULL;
}

const char *const *
mor_mkmodel_encoder_shapes (void)
{
  static const char *names[G_N_ELEMENTS (encoder_shapes) + 1];
  for (guint i = 0; i < G_N_ELEMENTS (encoder_shapes); i++)
    names[i] = encoder_shapes[i].name;
  return names;
}

/* A tensor of shape @ne (ggml order, ne[0] contiguous) of @type with N(mean, std²) values. */
static gboolean
add_random_shaped (MorGgufWriter *w, Rng *rng, const char *name, MorType type, guint32 n_dims,
                   const guint64 *ne, float mean, float std, GError **error)
{
  guint64 rows = 1;
  for (guint32 i = 1; i < n_dims; i++)
    rows *= ne[i];
  guint64 row_bytes = mor_type_row_bytes (type, ne[0]);
  if (row_bytes == 0) {
    g_set_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE,
                 "Tensor %s has rows of %" G_GUINT64_FORMAT " elements, not a multiple of %s's block of %u",
                 name, ne[0], mor_type_name (type), mor_type_block_size (type));
    return FALSE;
  }
  guint8 *data = g_malloc ((gsize) (row_bytes * rows));
  g_autofree float *row = g_new (float, ne[0]);
  for (guint64 r = 0; r < rows; r++) {
    rng_normal (rng, row, ne[0], mean, std);
    mor_quantize_row (type, row, data + r * row_bytes, ne[0]);
  }
  g_autoptr (GBytes) bytes = g_bytes_new_take (data, (gsize) (row_bytes * rows));
  mor_gguf_writer_add_tensor_bytes (w, name, type, n_dims, ne, bytes);
  return TRUE;
}

/* SinusoidsPositionEmbedding(length, channels): row t = [sin(t·inv), cos(t·inv)],
 * inv_i = exp(−i·ln(10000) / (channels/2 − 1)), with float32 arguments as
 * torch computes them (the converter's table, bit for bit). */
static void
encoder_sinusoids (float *table, guint32 length, guint32 channels)
{
  guint32 half = channels / 2;
  float inc = (float) (log (10000.0) / (half - 1));
  for (guint32 t = 0; t < length; t++)
    for (guint32 i = 0; i < half; i++) {
      float inv = (float) exp ((double) (-inc * (float) i));
      double arg = (double) ((float) t * inv);
      table[(gsize) t * channels + i] = (float) sin (arg);
      table[(gsize) t * channels + half + i] = (float) cos (arg);
    }
}

MorGgufWriter *
mor_mkmodel_encoder (const MorEncoderShape *c, MorType type, guint64 seed, GError **error)
{
  g_return_val_if_fail (c != NULL && c->d_model % 2 == 0, NULL);
  g_autoptr (MorGgufWriter) w = mor_gguf_writer_new ();
  guint32 d = c->d_model, ff = c->encoder_ffn_dim;
  Rng rng = { seed * 0x9E3779B97F4A7C15ULL + 2 };

  mor_gguf_writer_add_string (w, "general.architecture", "clip");
  mor_gguf_writer_add_string (w, "general.type", "mmproj");
  g_autofree char *name = g_strdup_printf ("mor random %s encoder (%s)", c->name, mor_type_name (type));
  mor_gguf_writer_add_string (w, "general.name", name);
  mor_gguf_writer_add_bool (w, "clip.has_audio_encoder", TRUE);
  mor_gguf_writer_add_u32 (w, "clip.audio.projection_dim", c->output_dim);
  mor_gguf_writer_add_u32 (w, "clip.audio.embedding_length", d);
  mor_gguf_writer_add_u32 (w, "clip.audio.feed_forward_length", ff);
  mor_gguf_writer_add_u32 (w, "clip.audio.block_count", c->encoder_layers);
  mor_gguf_writer_add_u32 (w, "clip.audio.attention.head_count", c->encoder_attention_heads);
  mor_gguf_writer_add_string (w, "clip.projector_type", "qwen2.5o");
  mor_gguf_writer_add_u32 (w, "clip.audio.num_mel_bins", c->num_mel_bins);
  mor_gguf_writer_add_f32 (w, "clip.audio.attention.layer_norm_epsilon", 1e-5f);
  mor_gguf_writer_add_u32 (w, "mor.encoder.n_window", c->n_window);

  /* Weights ~ N(0, 0.02²), norm weights near 1, biases ~ N(0, 0.1²). */
  const float std = 0.02f;
  guint64 conv1[3] = { 3, c->num_mel_bins, d }, conv2[3] = { 3, d, d }, bias[2] = { 1, d };
  if (!add_random_shaped (w, &rng, "a.conv1d.1.weight", MOR_TYPE_F16, 3, conv1, 0, std, error) ||
      !add_random_shaped (w, &rng, "a.conv1d.1.bias", MOR_TYPE_F32, 2, bias, 0, 0.1f, error) ||
      !add_random_shaped (w, &rng, "a.conv1d.2.weight", MOR_TYPE_F16, 3, conv2, 0, std, error) ||
      !add_random_shaped (w, &rng, "a.conv1d.2.bias", MOR_TYPE_F32, 2, bias, 0, 0.1f, error))
    return NULL;
  gsize n_pos = (gsize) c->max_source_positions * d;
  float *table = g_new (float, n_pos);
  encoder_sinusoids (table, c->max_source_positions, d);
  guint64 pos_ne[2] = { d, c->max_source_positions };
  g_autoptr (GBytes) pos = g_bytes_new_take (table, n_pos * 4);
  mor_gguf_writer_add_tensor_bytes (w, "a.position_embd.weight", MOR_TYPE_F32, 2, pos_ne, pos);
  for (guint32 l = 0; l < c->encoder_layers; l++) {
    struct { const char *name; guint32 rows, cols; gboolean vector; float mean; } t[] = {
      { "ln1.weight", 1, d, TRUE, 1.0f },
      { "ln1.bias", 1, d, TRUE, 0 },
      { "attn_q.weight", d, d, FALSE, 0 },
      { "attn_q.bias", 1, d, TRUE, 0 },
      { "attn_k.weight", d, d, FALSE, 0 },
      { "attn_v.weight", d, d, FALSE, 0 },
      { "attn_v.bias", 1, d, TRUE, 0 },
      { "attn_out.weight", d, d, FALSE, 0 },
      { "attn_out.bias", 1, d, TRUE, 0 },
      { "ln2.weight", 1, d, TRUE, 1.0f },
      { "ln2.bias", 1, d, TRUE, 0 },
      { "ffn_up.weight", ff, d, FALSE, 0 },
      { "ffn_up.bias", 1, ff, TRUE, 0 },
      { "ffn_down.weight", d, ff, FALSE, 0 },
      { "ffn_down.bias", 1, d, TRUE, 0 },
    };
    for (guint i = 0; i < G_N_ELEMENTS (t); i++) {
      g_autofree char *tname = g_strdup_printf ("a.blk.%u.%s", l, t[i].name);
      if (!add_random (w, &rng, tname, t[i].vector ? MOR_TYPE_F32 : type, t[i].rows, t[i].cols, t[i].mean,
                       t[i].vector ? 0.1f : std, error))
        return NULL;
    }
  }
  if (!add_random (w, &rng, "a.post_ln.weight", MOR_TYPE_F32, 1, d, 1.0f, 0.1f, error) ||
      !add_random (w, &rng, "a.post_ln.bias", MOR_TYPE_F32, 1, d, 0, 0.1f, error) ||
      !add_random (w, &rng, "mm.a.fc.weight", type, c->output_dim, d, 0, std, error) ||
      !add_random (w, &rng, "mm.a.fc.bias", MOR_TYPE_F32, 1, c->output_dim, 0, 0.1f, error))
    return NULL;
  return g_steal_pointer (&w);
}

/* ---- talker, token2wav and speakers ---- */

static const MorTalkerShape talker_shapes[] = {
  /* Small and structurally faithful, for the tiny thinker (width 256): GQA 2:1,
   * head_dim given apart from the width, the real mel (80 bands, 24-frame DiT
   * blocks, 240 samples a frame, here from 3 upsamplers instead of 6). The codec vocabulary is 72 with the specials at
   * 64..68 and the DiT takes every id (num_embeds + 1 = 72 rows), so whatever a
   * random talker samples can be voiced. */
  { "tiny", 72, 256, 64, 128, 2, 4, 2, 16, 4096, 64, 65, 66, 68, 0, 0, 0, 0,
    64, 3, 4, 16, 2, 16, 71, 80, 32, 32, 24, 16, 2, 16, 1, { 1 }, 2, { 0, 2 },
    { 32, 32, 32, 32, 96 }, { 5, 3, 3, 3, 1 }, { 1, 2, 3, 4, 1 },
    64, { 8, 5, 6 }, { 16, 11, 12 }, { 3, 7, 11 }, 64 },
  { "qwen2.5-omni-3b", 8448, 2048, 896, 4864, 24, 14, 2, 64, 32768, 8292, 8293, 8294, 8296,
    151860, 151861, 151859, 151646,
    1024, 22, 16, 64, 2, 512, 8193, 80, 192, 128, 24, 64, 2, 64, 1, { 10 }, 2, { 0, 20 },
    { 256, 256, 256, 256, 768 }, { 5, 3, 3, 3, 1 }, { 1, 2, 3, 4, 1 },
    1536, { 5, 3, 2, 2, 2, 2 }, { 11, 7, 4, 4, 4, 4 }, { 3, 7, 11 }, 300 },
  { "qwen2.5-omni-7b", 8448, 3584, 896, 18944, 24, 12, 4, 128, 32768, 8292, 8293, 8294, 8296,
    151860, 151861, 151859, 151646,
    1024, 22, 16, 64, 2, 512, 8193, 80, 192, 128, 24, 64, 2, 64, 1, { 10 }, 2, { 0, 20 },
    { 256, 256, 256, 256, 768 }, { 5, 3, 3, 3, 1 }, { 1, 2, 3, 4, 1 },
    1536, { 5, 3, 2, 2, 2, 2 }, { 11, 7, 4, 4, 4, 4 }, { 3, 7, 11 }, 300 },
};

const MorTalkerShape *
mor_mkmodel_talker_shape (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (talker_shapes); i++)
    if (g_strcmp0 (talker_shapes[i].name, name) == 0)
      return &talker_shapes[i];
  return NULL;
}

const char *const *
mor_mkmodel_talker_shapes (void)
{
  static const char *names[G_N_ELEMENTS (talker_shapes) + 1];
  for (guint i = 0; i < G_N_ELEMENTS (talker_shapes); i++)
    names[i] = talker_shapes[i].name;
  return names;
}

/* Entries of a 0-terminated list of at most @max. */
static guint32
list_length (const guint32 *list, guint32 max)
{
  guint32 n = 0;
  while (n < max && list[n])
    n++;
  return n;
}

static void
add_u32_list (MorGgufWriter *w, const char *key, const guint32 *list, guint32 n)
{
  mor_gguf_writer_add_array (w, key, MOR_GGUF_VALUE_UINT32, list, n);
}

/* A float32 tensor of @ne (ggml order) ~ N(mean, std²). */
static gboolean
add_f32 (MorGgufWriter *w, Rng *rng, const char *name, guint32 n_dims, guint64 ne0, guint64 ne1, guint64 ne2,
         float mean, float std, GError **error)
{
  guint64 ne[3] = { ne0, ne1, ne2 };
  return add_random_shaped (w, rng, name, MOR_TYPE_F32, n_dims, ne, mean, std, error);
}

/* A torch Linear(in, out) as mor stores it: "@name.weight" [in, out] with
 * N(0, 1/in) values (activations keep their scale through a random stack),
 * "@name.bias" [out]. */
static gboolean
add_linear (MorGgufWriter *w, Rng *rng, const char *name, guint32 in, guint32 out, GError **error)
{
  g_autofree char *wn = g_strdup_printf ("%s.weight", name), *bn = g_strdup_printf ("%s.bias", name);
  return add_f32 (w, rng, wn, 2, in, out, 1, 0, 1.0f / sqrtf (in), error) &&
         add_f32 (w, rng, bn, 1, out, 1, 1, 0, 0.1f, error);
}

/* A torch Conv1d(in, out, k) as mor stores it: "@name.weight" [k, in, out],
 * "@name.bias" [out] unless !@bias. */
static gboolean
add_conv (MorGgufWriter *w, Rng *rng, const char *name, guint32 k, guint32 in, guint32 out, gboolean bias,
          GError **error)
{
  g_autofree char *wn = g_strdup_printf ("%s.weight", name), *bn = g_strdup_printf ("%s.bias", name);
  return add_f32 (w, rng, wn, 3, k, in, out, 0, 1.0f / sqrtf ((float) in * k), error) &&
         (!bias || add_f32 (w, rng, bn, 1, out, 1, 1, 0, 0.1f, error));
}

static gboolean
add_talker_part (MorGgufWriter *w, Rng *rng, const MorTalkerShape *c, MorType type, gboolean mute_end,
                 GError **error)
{
  guint32 audio = c->audio_token_index, text[3] = { c->text_start, c->text_end, c->text_pad };
  if (audio == 0) {
    g_autoptr (MorGgufWriter) v = mor_gguf_writer_new ();
    guint32 first_special;
    add_vocabulary (v, 0, FALSE, &first_special);
    audio = first_special + 3;  /* <|AUDIO|> */
    for (guint i = 0; i < 3; i++)
      text[i] = first_special;  /* <|endoftext|>: only the rows in talker.text_embd are read */
  }
  struct { const char *key; guint32 value; } keys[] = {
    { "vocab_size", c->vocab_size }, { "embedding_size", c->embedding_size }, { "hidden_size", c->hidden_size },
    { "intermediate_size", c->intermediate_size }, { "num_hidden_layers", c->num_hidden_layers },
    { "num_attention_heads", c->num_attention_heads }, { "num_key_value_heads", c->num_key_value_heads },
    { "head_dim", c->head_dim }, { "max_position_embeddings", c->max_position_embeddings },
    { "tts_text_start_token_id", text[0] }, { "tts_text_end_token_id", text[1] },
    { "tts_text_pad_token_id", text[2] }, { "tts_codec_start_token_id", c->codec_start },
    { "tts_codec_end_token_id", c->codec_end }, { "tts_codec_pad_token_id", c->codec_pad },
    { "tts_codec_mask_token_id", c->codec_mask }, { "audio_token_index", audio },
  };
  for (guint i = 0; i < G_N_ELEMENTS (keys); i++) {
    g_autofree char *k = g_strdup_printf ("mor.talker.%s", keys[i].key);
    mor_gguf_writer_add_u32 (w, k, keys[i].value);
  }
  mor_gguf_writer_add_f32 (w, "mor.talker.rms_norm_eps", 1e-6f);
  mor_gguf_writer_add_f32 (w, "mor.talker.rope_theta", 1e6f);
  guint32 sections[3] = { c->head_dim / 4, c->head_dim / 4, 0 };  /* [16, 16, 0] at head_dim 64 */
  add_u32_list (w, "mor.talker.mrope_section", sections, 3);

  const float std = 0.02f;
  guint32 E = c->embedding_size, H = c->hidden_size, V = c->vocab_size;
  return add_random (w, rng, "talker.inp_proj.weight", type, H, E, 0, std, error) &&
         add_random (w, rng, "talker.inp_proj.bias", MOR_TYPE_F32, 1, H, 0, 0.1f, error) &&
         add_random (w, rng, "talker.token_embd.weight", type, V, E, 0, std, error) &&
         add_random (w, rng, "talker.text_embd.weight", MOR_TYPE_F32, 3, E, 0, std, error) &&
         add_qwen2_blocks (w, rng, "talker.", c->num_hidden_layers, H, c->num_attention_heads * c->head_dim,
                           c->num_key_value_heads * c->head_dim, c->intermediate_size, type, error) &&
         add_random (w, rng, "talker.output_norm.weight", MOR_TYPE_F32, 1, H, 1.0f, 0.1f, error) &&
         add_random_muted (w, rng, "talker.output.weight", type, V, H, 0, std, mute_end ? c->codec_pad : 0,
                           mute_end ? V : 0, error);
}

static gboolean
add_dit_part (MorGgufWriter *w, Rng *rng, const MorTalkerShape *c, GError **error)
{
  guint32 n_enc = list_length (c->enc_channels, 8);
  guint32 D = c->dit_hidden_size, I = c->dit_num_attention_heads * c->dit_head_dim, FF = D * c->ff_mult;
  struct { const char *key; guint32 value; } keys[] = {
    { "hidden_size", D }, { "num_hidden_layers", c->dit_num_hidden_layers },
    { "num_attention_heads", c->dit_num_attention_heads }, { "head_dim", c->dit_head_dim },
    { "ff_mult", c->ff_mult }, { "emb_dim", c->emb_dim }, { "max_position_embeddings", 32768 },
    { "block_size", c->block_size }, { "repeats", 2 }, { "num_embeds", c->num_embeds }, { "mel_dim", c->mel_dim },
    { "enc_emb_dim", c->enc_emb_dim }, { "enc_dim", c->enc_dim },
    { "enc_attention_channels", c->enc_attention_channels }, { "enc_res2net_scale", c->enc_res2net_scale },
    { "enc_se_channels", c->enc_se_channels }, { "freq_embed_dim", 256 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (keys); i++) {
    g_autofree char *k = g_strdup_printf ("mor.dit.%s", keys[i].key);
    mor_gguf_writer_add_u32 (w, k, keys[i].value);
  }
  mor_gguf_writer_add_f32 (w, "mor.dit.rope_theta", 10000.0f);
  mor_gguf_writer_add_f32 (w, "mor.dit.layer_norm_eps", 1e-6f);
  mor_gguf_writer_add_f32 (w, "mor.dit.time_scale", 1000.0f);
  add_u32_list (w, "mor.dit.look_ahead_layers", c->look_ahead_layers, c->n_look_ahead);
  add_u32_list (w, "mor.dit.look_backward_layers", c->look_backward_layers, c->n_look_backward);
  add_u32_list (w, "mor.dit.enc_channels", c->enc_channels, n_enc);
  add_u32_list (w, "mor.dit.enc_kernel_sizes", c->enc_kernel_sizes, n_enc);
  add_u32_list (w, "mor.dit.enc_dilations", c->enc_dilations, n_enc);

  if (!add_linear (w, rng, "t2w.dit.time_in", 256, D, error) || !add_linear (w, rng, "t2w.dit.time_out", D, D, error) ||
      !add_f32 (w, rng, "t2w.dit.code_embd.weight", 2, c->emb_dim, c->num_embeds + 1, 1, 0, 1.0f, error) ||
      !add_linear (w, rng, "t2w.dit.inp_proj", c->mel_dim + c->enc_dim + c->enc_emb_dim + c->emb_dim, D, error))
    return FALSE;
  /* RotaryEmbedding(head_dim, base=rope_theta).inv_freq */
  guint32 half = c->dit_head_dim / 2;
  float *inv = g_new (float, half);
  for (guint32 i = 0; i < half; i++)
    inv[i] = (float) (1.0 / pow (10000.0, 2.0 * i / c->dit_head_dim));
  guint64 inv_ne[1] = { half };
  g_autoptr (GBytes) inv_bytes = g_bytes_new_take (inv, half * sizeof (float));
  mor_gguf_writer_add_tensor_bytes (w, "t2w.dit.rope_inv_freq", MOR_TYPE_F32, 1, inv_ne, inv_bytes);
  for (guint32 l = 0; l < c->dit_num_hidden_layers; l++) {
    struct { const char *name; guint32 in, out; } t[] = {
      { "adaln", D, 6 * D }, { "attn_q", D, I }, { "attn_k", D, I }, { "attn_v", D, I },
      { "attn_output", I, D }, { "ffn_up", D, FF }, { "ffn_down", FF, D },
    };
    for (guint i = 0; i < G_N_ELEMENTS (t); i++) {
      g_autofree char *name = g_strdup_printf ("t2w.dit.blk.%u.%s", l, t[i].name);
      if (!add_linear (w, rng, name, t[i].in, t[i].out, error))
        return FALSE;
    }
  }
  if (!add_linear (w, rng, "t2w.dit.adaln_out", D, 2 * D, error) ||
      !add_linear (w, rng, "t2w.dit.output", D, c->mel_dim, error))
    return FALSE;

  /* ECAPA-TDNN */
  const guint32 *ch = c->enc_channels, *ks = c->enc_kernel_sizes;
  guint32 scale = c->enc_res2net_scale, last = ch[n_enc - 1];
  if (!add_conv (w, rng, "t2w.dit.ecapa.blk.0", ks[0], c->mel_dim, ch[0], TRUE, error))
    return FALSE;
  for (guint32 i = 1; i + 1 < n_enc; i++) {
    g_autofree char *p = g_strdup_printf ("t2w.dit.ecapa.blk.%u", i);
    g_autofree char *tdnn1 = g_strdup_printf ("%s.tdnn1", p), *tdnn2 = g_strdup_printf ("%s.tdnn2", p);
    g_autofree char *se1 = g_strdup_printf ("%s.se1", p), *se2 = g_strdup_printf ("%s.se2", p);
    if (!add_conv (w, rng, tdnn1, 1, ch[i - 1], ch[i], TRUE, error))
      return FALSE;
    for (guint32 j = 0; j + 1 < scale; j++) {
      g_autofree char *res = g_strdup_printf ("%s.res2net.%u", p, j);
      if (!add_conv (w, rng, res, ks[i], ch[i] / scale, ch[i] / scale, TRUE, error))
        return FALSE;
    }
    if (!add_conv (w, rng, tdnn2, 1, ch[i], ch[i], TRUE, error) ||
        !add_conv (w, rng, se1, 1, ch[i], c->enc_se_channels, TRUE, error) ||
        !add_conv (w, rng, se2, 1, c->enc_se_channels, ch[i], TRUE, error))
      return FALSE;
  }
  return add_conv (w, rng, "t2w.dit.ecapa.mfa", ks[n_enc - 1], last, last, TRUE, error) &&
         add_conv (w, rng, "t2w.dit.ecapa.asp_tdnn", 1, 3 * last, c->enc_attention_channels, TRUE, error) &&
         add_conv (w, rng, "t2w.dit.ecapa.asp_conv", 1, c->enc_attention_channels, last, TRUE, error) &&
         add_conv (w, rng, "t2w.dit.ecapa.fc", 1, 2 * last, c->enc_dim, TRUE, error);
}

static gboolean
add_bigvgan_part (MorGgufWriter *w, Rng *rng, const MorTalkerShape *c, GError **error)
{
  guint32 n_ups = list_length (c->upsample_rates, 8), n_res = list_length (c->resblock_kernel_sizes, 4);
  guint32 c0 = c->upsample_initial_channel, dilations[12];
  for (guint32 r = 0; r < n_res; r++)
    for (guint32 m = 0; m < 3; m++)
      dilations[r * 3 + m] = 2 * m + 1;  /* [1, 3, 5] */
  mor_gguf_writer_add_u32 (w, "mor.bigvgan.mel_dim", c->mel_dim);
  mor_gguf_writer_add_u32 (w, "mor.bigvgan.upsample_initial_channel", c0);
  add_u32_list (w, "mor.bigvgan.upsample_rates", c->upsample_rates, n_ups);
  add_u32_list (w, "mor.bigvgan.upsample_kernel_sizes", c->upsample_kernel_sizes, n_ups);
  add_u32_list (w, "mor.bigvgan.resblock_kernel_sizes", c->resblock_kernel_sizes, n_res);
  add_u32_list (w, "mor.bigvgan.resblock_dilation_sizes", dilations, n_res * 3);

  if (!add_conv (w, rng, "t2w.bigvgan.conv_pre", 7, c->mel_dim, c0, TRUE, error))
    return FALSE;
  for (guint32 i = 0; i < n_ups; i++) {
    guint32 cin = c0 >> i, cout = c0 >> (i + 1), k = c->upsample_kernel_sizes[i];
    g_autofree char *wn = g_strdup_printf ("t2w.bigvgan.ups.%u.weight", i);
    g_autofree char *bn = g_strdup_printf ("t2w.bigvgan.ups.%u.bias", i);
    /* ConvTranspose1d(in, out, k): torch [in, out, k], ggml ne [k, out, in] */
    if (!add_f32 (w, rng, wn, 3, k, cout, cin, 0, 1.0f / sqrtf ((float) cin * k / c->upsample_rates[i]), error) ||
        !add_f32 (w, rng, bn, 1, cout, 1, 1, 0, 0.1f, error))
      return FALSE;
    for (guint32 r = 0; r < n_res; r++) {
      guint32 j = i * n_res + r;
      for (guint32 n = 1; n <= 2; n++)
        for (guint32 m = 0; m < 3; m++) {
          g_autofree char *name = g_strdup_printf ("t2w.bigvgan.res.%u.conv%u.%u", j, n, m);
          if (!add_conv (w, rng, name, c->resblock_kernel_sizes[r], cout, cout, TRUE, error))
            return FALSE;
        }
      for (guint32 a = 0; a < 6; a++) {
        g_autofree char *alpha = g_strdup_printf ("t2w.bigvgan.res.%u.act.%u.alpha", j, a);
        g_autofree char *beta = g_strdup_printf ("t2w.bigvgan.res.%u.act.%u.beta", j, a);
        if (!add_f32 (w, rng, alpha, 1, cout, 1, 1, 0, 0.1f, error) ||
            !add_f32 (w, rng, beta, 1, cout, 1, 1, 0, 0.1f, error))
          return FALSE;
      }
    }
  }
  guint32 last = c0 >> n_ups;
  return add_f32 (w, rng, "t2w.bigvgan.act_post.alpha", 1, last, 1, 1, 0, 0.1f, error) &&
         add_f32 (w, rng, "t2w.bigvgan.act_post.beta", 1, last, 1, 1, 0, 0.1f, error) &&
         /* small: the random stack's activations reach tens, and the output should rarely clip */
         add_f32 (w, rng, "t2w.bigvgan.conv_post.weight", 3, 7, last, 1, 0, 5e-3f, error);
}

static gboolean
add_speakers_part (MorGgufWriter *w, Rng *rng, const MorTalkerShape *c, GError **error)
{
  static const char *const names[] = { "Chelsie", "Ethan" };
  /* The real ids of <|spk_chelsie|> and <|spk_ethan|>; the tiny shape has no
   * such tokens and only the stored bos rows are read. */
  guint32 bos[2] = { c->audio_token_index ? 151872 : 0, c->audio_token_index ? 151870 : 0 };
  mor_gguf_writer_add_string_array (w, "mor.speakers.names", names, G_N_ELEMENTS (names));
  add_u32_list (w, "mor.speakers.bos_token_ids", bos, G_N_ELEMENTS (names));
  mor_gguf_writer_add_string (w, "mor.speakers.default", names[0]);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
    g_autofree char *cond = g_strdup_printf ("spk.%s.cond", names[i]);
    g_autofree char *ref = g_strdup_printf ("spk.%s.ref_mel", names[i]);
    g_autofree char *bos_embd = g_strdup_printf ("spk.%s.bos_embd", names[i]);
    /* a natural-log mel: speech sits around e^-4 .. e^0 */
    if (!add_f32 (w, rng, cond, 1, c->enc_emb_dim, 1, 1, 0, 1.0f, error) ||
        !add_f32 (w, rng, ref, 2, c->mel_dim, c->ref_mel_frames, 1, -4.0f, 1.5f, error) ||
        !add_f32 (w, rng, bos_embd, 1, c->embedding_size, 1, 1, 0, 0.02f, error))
      return FALSE;
  }
  return TRUE;
}

MorGgufWriter *
mor_mkmodel_talker (const MorTalkerShape *c, MorType type, guint64 seed, GError **error)
{
  return mor_mkmodel_talker_full (c, type, seed, FALSE, error);
}

MorGgufWriter *
mor_mkmodel_talker_full (const MorTalkerShape *c, MorType type, guint64 seed, gboolean mute_end, GError **error)
{
  g_return_val_if_fail (c != NULL, NULL);
  g_autoptr (MorGgufWriter) w = mor_gguf_writer_new ();
  Rng rng = { seed * 0x9E3779B97F4A7C15ULL + 3 };
  mor_gguf_writer_add_string (w, "general.architecture", "mor");
  mor_gguf_writer_add_string (w, "general.type", "model");
  g_autofree char *name = g_strdup_printf ("mor random %s talker (%s)", c->name, mor_type_name (type));
  mor_gguf_writer_add_string (w, "general.name", name);
  if (!add_talker_part (w, &rng, c, type, mute_end, error) || !add_dit_part (w, &rng, c, error) ||
      !add_bigvgan_part (w, &rng, c, error) || !add_speakers_part (w, &rng, c, error))
    return NULL;
  return g_steal_pointer (&w);
}
