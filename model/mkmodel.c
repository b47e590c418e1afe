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
add_random (MorGgufWriter *w, Rng *rng, const char *name, MorType type, guint32 rows, guint32 cols,
            float mean, float std, GError **error)
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
    mor_quantize_row (type, row, data + (gsize) r * row_bytes, cols);
  }
  guint64 ne[2] = { cols, rows };
  g_autoptr (GBytes) bytes = g_bytes_new_take (data, (gsize) row_bytes * rows);
  mor_gguf_writer_add_tensor_bytes (w, name, type, rows > 1 ? 2 : 1, ne, bytes);
  return TRUE;
}

/* The tiny vocabulary: the 256 byte symbols, merges spelling a few words, and
 * Qwen's special tokens; padded with unused rows up to @n_vocab if larger. */
static guint32
add_vocabulary (MorGgufWriter *w, guint32 n_vocab)
{
  static const char *const words[] = { "the", "and", "is", "what", "plus", "minus", "times",
                                        "equals", "okay", "let", "me", "think", "answer" };
  static const char *const specials[] = { "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|AUDIO|>",
                                          "<|audio_bos|>", "<|audio_eos|>" };
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
  return add_vocabulary (w, 0);
}

MorGgufWriter *
mor_mkmodel_thinker (const MorThinkerShape *c, MorType type, guint64 seed, GError **error)
{
  g_return_val_if_fail (c != NULL, NULL);
  g_autoptr (MorGgufWriter) w = mor_gguf_writer_new ();
  const char *arch = c->architecture;
  guint32 head_dim = c->hidden_size / c->num_attention_heads;
  guint32 q_dim = c->num_attention_heads * head_dim, kv_dim = c->num_key_value_heads * head_dim;
  guint32 vocab = c->vocab_size ? c->vocab_size : tiny_vocab_size ();
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
  add_vocabulary (w, vocab);

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
      !add_random (w, &rng, "output.weight", type, vocab, c->hidden_size, 0, std, error))
    return NULL;
  return g_steal_pointer (&w);
}
