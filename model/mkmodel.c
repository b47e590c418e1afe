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
  for (guint32 l = 0; l < c->num_hidden_layers; l++) {
    struct { const char *name; guint32 rows, cols; gboolean vector; float mean; } t[] = {
      { "attn_norm.weight", 1, c->hidden_size, TRUE, 1.0f },
      { "attn_q.weight", q_dim, c->hidden_size, FALSE, 0 },
      { "attn_q.bias", 1, q_dim, TRUE, 0 },
      { "attn_k.weight", kv_dim, c->hidden_size, FALSE, 0 },
      { "attn_k.bias", 1, kv_dim, TRUE, 0 },
      { "attn_v.weight", kv_dim, c->hidden_size, FALSE, 0 },
      { "attn_v.bias", 1, kv_dim, TRUE, 0 },
      { "attn_output.weight", c->hidden_size, q_dim, FALSE, 0 },
      { "ffn_norm.weight", 1, c->hidden_size, TRUE, 1.0f },
      { "ffn_gate.weight", c->intermediate_size, c->hidden_size, FALSE, 0 },
      { "ffn_up.weight", c->intermediate_size, c->hidden_size, FALSE, 0 },
      { "ffn_down.weight", c->hidden_size, c->intermediate_size, FALSE, 0 },
    };
    for (guint i = 0; i < G_N_ELEMENTS (t); i++) {
      g_autofree char *tname = g_strdup_printf ("blk.%u.%s", l, t[i].name);
      if (!add_random (w, &rng, tname, t[i].vector ? MOR_TYPE_F32 : type, t[i].rows, t[i].cols, t[i].mean,
                       t[i].vector ? 0.1f : std, error))
        return NULL;
    }
  }
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
