/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The thinker LLM: a Qwen2 decoder on Vulkan, and its C reference forward. */
#include "llm.h"

#include <math.h>
#include <string.h>

#include "ops.h"
#include "weight.h"

G_DEFINE_QUARK (mor-llm-error-quark, mor_llm_error)

typedef struct {
  MorWeight attn_norm;             /* (hidden) */
  MorWeight wq, bq;                /* (n_heads·head_dim, hidden), (n_heads·head_dim) */
  MorWeight wk, bk;                /* (n_kv_heads·head_dim, hidden), (n_kv_heads·head_dim) */
  MorWeight wv, bv;                /* like wk, bk */
  MorWeight wo;                    /* (hidden, n_heads·head_dim), no bias */
  MorWeight ffn_norm;              /* (hidden) */
  MorWeight wg, wu;                /* (intermediate, hidden) */
  MorWeight wd;                    /* (hidden, intermediate) */
} Layer;

struct _MorLlm {
  MorVkDevice *dev;
  MorGguf *gguf;
  MorLlmConfig config;
  char prefix[32];                 /* of every tensor name: "" (thinker) or "<part>." */
  const MorGgufTensor *token_embd; /* (vocab, embedding), read on the host for input rows */
  MorWeight inp_proj, inp_proj_b;  /* (hidden, embedding), (hidden): a part's input projection, or absent */
  Layer *layers;                /* num_hidden_layers */
  MorWeight output_norm;           /* (hidden) */
  MorWeight output;                /* (vocab, hidden): output.weight or token_embd */
  MorVkBuffer *inv_freq;        /* (rope_dim / 2) RoPE frequencies */
};

/* Activations of up to n_batch rows, allocated once per session. */
typedef struct {
  MorVkView in;                 /* (n_batch, embedding) input rows, host-written */
  MorVkView pos;                /* (1) uint: position of the first row */
  MorVkView x;                  /* (n_batch, hidden) residual stream */
  MorVkView xb;                 /* (n_batch, hidden) */
  MorVkView q;                  /* (n_batch, n_heads·head_dim) */
  MorVkView k, v;               /* (n_batch, n_kv_heads·head_dim) */
  MorVkView att;                /* (n_batch, n_heads·head_dim) */
  MorVkView hb, hb2;            /* (n_batch, intermediate) */
  MorVkView scratch;            /* attention scratch */
  MorVkView hidden;             /* (n_batch, hidden) final-normed, host-visible */
  MorVkView last;               /* (hidden) the last row's final-normed hidden */
  MorVkView logits;             /* (n_logit_rows, vocab) host-visible */
} RunState;

struct _MorLlmSession {
  MorLlm *llm;
  guint32 n_ctx, n_batch, n_logit_rows;
  guint32 pos;                  /* next position */
  MorVkBuffer **kcache, **vcache; /* per layer (n_ctx, n_kv_heads·head_dim) f32 */
  MorVkArena *device_arena, *host_arena;
  RunState r;
  MorVkStream *decode;          /* recorded once: one row */
  MorVkStream *prefill;         /* re-recorded when the row count changes */
  guint32 prefill_rows;         /* rows of the prefill recording (0: none) */
  gboolean prefill_all_logits;
  /* Results of the last call. */
  guint32 n_rows;
  float *hidden;                /* (n_rows, hidden) */
  float *embedding;             /* (n_rows, embedding) */
  float *logits;                /* (n_rows or 1, vocab) */
  gboolean logits_all;
};

/* ---- loading ---- */

static gboolean
get_arch_u32 (MorGguf *g, const char *arch, const char *key, guint32 *out, GError **error)
{
  g_autofree char *full = g_strdup_printf ("%s.%s", arch, key);
  return mor_gguf_get_u32 (g, full, out, error);
}

static gboolean
read_config (MorGguf *g, MorLlmConfig *c, GError **error)
{
  const char *arch = NULL;
  if (!mor_gguf_get_string_default (g, "general.architecture", NULL, &arch, error))
    return FALSE;
  if (!arch || (strcmp (arch, "qwen2") != 0 && strcmp (arch, "qwen2vl") != 0)) {
    g_set_error (error, MOR_LLM_ERROR, MOR_LLM_ERROR_ARCHITECTURE,
                 "%s: general.architecture is “%s”; the thinker runs “qwen2” and “qwen2vl”",
                 mor_gguf_get_name (g), arch ? arch : "(missing)");
    return FALSE;
  }
  g_strlcpy (c->architecture, arch, sizeof c->architecture);
  g_autofree char *k_eps = g_strdup_printf ("%s.attention.layer_norm_rms_epsilon", arch);
  g_autofree char *k_theta = g_strdup_printf ("%s.rope.freq_base", arch);
  g_autofree char *k_ctx = g_strdup_printf ("%s.context_length", arch);
  g_autofree char *k_rot = g_strdup_printf ("%s.rope.dimension_count", arch);
  if (!get_arch_u32 (g, arch, "embedding_length", &c->hidden_size, error) ||
      !get_arch_u32 (g, arch, "feed_forward_length", &c->intermediate_size, error) ||
      !get_arch_u32 (g, arch, "block_count", &c->num_hidden_layers, error) ||
      !get_arch_u32 (g, arch, "attention.head_count", &c->num_attention_heads, error) ||
      !get_arch_u32 (g, arch, "attention.head_count_kv", &c->num_key_value_heads, error) ||
      !mor_gguf_get_f32 (g, k_eps, &c->rms_norm_eps, error) ||
      !mor_gguf_get_f32_default (g, k_theta, 10000.0f, &c->rope_theta, error) ||
      !mor_gguf_get_u32_default (g, k_ctx, 32768, &c->max_position_embeddings, error))
    return FALSE;

  const char *bad = NULL;
  if (c->hidden_size == 0 || c->num_hidden_layers == 0 || c->intermediate_size == 0)
    bad = "a zero dimension";
  else if (c->num_attention_heads == 0 || c->hidden_size % c->num_attention_heads != 0)
    bad = "embedding_length not a multiple of attention.head_count";
  else if (c->num_key_value_heads == 0 || c->num_attention_heads % c->num_key_value_heads != 0)
    bad = "attention.head_count not a multiple of attention.head_count_kv";
  if (bad) {
    g_set_error (error, MOR_LLM_ERROR, MOR_LLM_ERROR_CONFIG, "%s: %s", mor_gguf_get_name (g), bad);
    return FALSE;
  }
  c->embedding_size = c->hidden_size;
  c->head_dim = c->hidden_size / c->num_attention_heads;
  if (!mor_gguf_get_u32_default (g, k_rot, c->head_dim, &c->rope_dim, error))
    return FALSE;
  if (c->rope_dim == 0 || c->rope_dim > c->head_dim || c->rope_dim % 2 != 0) {
    g_set_error (error, MOR_LLM_ERROR, MOR_LLM_ERROR_CONFIG,
                 "%s: %s is %u; expected an even number up to the head size %u",
                 mor_gguf_get_name (g), k_rot, c->rope_dim, c->head_dim);
    return FALSE;
  }
  return TRUE;
}

/* mor's layout (talker.gguf): keys mor.<part>.<Hugging Face name>. */
static gboolean
read_part_config (MorGguf *g, const char *part, MorLlmConfig *c, GError **error)
{
  struct { const char *name; guint32 *out; } u32s[] = {
    { "vocab_size", &c->vocab_size }, { "embedding_size", &c->embedding_size },
    { "hidden_size", &c->hidden_size }, { "intermediate_size", &c->intermediate_size },
    { "num_hidden_layers", &c->num_hidden_layers }, { "num_attention_heads", &c->num_attention_heads },
    { "num_key_value_heads", &c->num_key_value_heads }, { "head_dim", &c->head_dim },
    { "max_position_embeddings", &c->max_position_embeddings },
  };
  g_strlcpy (c->architecture, part, sizeof c->architecture);
  for (guint i = 0; i < G_N_ELEMENTS (u32s); i++) {
    g_autofree char *key = g_strdup_printf ("mor.%s.%s", part, u32s[i].name);
    if (!mor_gguf_get_u32 (g, key, u32s[i].out, error))
      return FALSE;
    if (*u32s[i].out == 0) {
      g_set_error (error, MOR_LLM_ERROR, MOR_LLM_ERROR_CONFIG, "%s: %s is 0", mor_gguf_get_name (g), key);
      return FALSE;
    }
  }
  g_autofree char *k_eps = g_strdup_printf ("mor.%s.rms_norm_eps", part);
  g_autofree char *k_theta = g_strdup_printf ("mor.%s.rope_theta", part);
  g_autofree char *k_mrope = g_strdup_printf ("mor.%s.mrope_section", part);
  if (!mor_gguf_get_f32 (g, k_eps, &c->rms_norm_eps, error) ||
      !mor_gguf_get_f32 (g, k_theta, &c->rope_theta, error))
    return FALSE;
  if ((guint64) c->num_attention_heads * c->head_dim > (1u << 20)) {
    g_set_error (error, MOR_LLM_ERROR, MOR_LLM_ERROR_CONFIG,
                 "%s: mor.%s.num_attention_heads × head_dim is %" G_GUINT64_FORMAT "; expected at most %u",
                 mor_gguf_get_name (g), part, (guint64) c->num_attention_heads * c->head_dim, 1u << 20);
    return FALSE;
  }
  if (c->num_attention_heads % c->num_key_value_heads != 0 || c->head_dim % 2 != 0) {
    g_set_error (error, MOR_LLM_ERROR, MOR_LLM_ERROR_CONFIG,
                 "%s: mor.%s.num_attention_heads (%u) is not a multiple of num_key_value_heads (%u), or "
                 "head_dim (%u) is odd", mor_gguf_get_name (g), part, c->num_attention_heads,
                 c->num_key_value_heads, c->head_dim);
    return FALSE;
  }
  /* M-RoPE with t = h = w (audio and text positions) is 1-D RoPE over the
   * dimensions its sections cover: they must cover the whole head. */
  c->rope_dim = c->head_dim;
  if (mor_gguf_find_key (g, k_mrope) >= 0) {
    guint64 n = 0, sum = 0;
    const guint32 *sec = mor_gguf_get_array_data (g, k_mrope, MOR_GGUF_VALUE_UINT32, &n, error);
    if (!sec)
      return FALSE;
    for (guint64 i = 0; i < n; i++)
      sum += sec[i];
    if (sum * 2 != c->head_dim) {
      g_set_error (error, MOR_LLM_ERROR, MOR_LLM_ERROR_CONFIG,
                   "%s: %s sums to %" G_GUINT64_FORMAT "; expected head_dim / 2 = %u",
                   mor_gguf_get_name (g), k_mrope, sum, c->head_dim / 2);
      return FALSE;
    }
  }
  return TRUE;
}

/* Checks tensor prefix + @suffix is [rows, cols] (a vector when rows == 0) and uploads it. */
static gboolean
load_weight (MorLlm *llm, MorWeight *w, const char *suffix, guint32 rows, guint32 cols, gboolean optional,
             GError **error)
{
  g_autofree char *name = g_strconcat (llm->prefix, suffix, NULL);
  if (rows == 0)
    return mor_weight_load_vector (w, llm->dev, llm->gguf, name, cols, optional, error);
  return mor_weight_load_matrix (w, llm->dev, llm->gguf, name, rows, cols, error);
}

void
mor_llm_free (MorLlm *llm)
{
  if (!llm)
    return;
  for (guint32 l = 0; llm->layers && l < llm->config.num_hidden_layers; l++) {
    Layer *L = &llm->layers[l];
    MorWeight *all[] = { &L->attn_norm, &L->wq, &L->bq, &L->wk, &L->bk, &L->wv, &L->bv, &L->wo,
                      &L->ffn_norm, &L->wg, &L->wu, &L->wd };
    for (guint i = 0; i < G_N_ELEMENTS (all); i++)
      mor_weight_clear (all[i]);
  }
  g_free (llm->layers);
  mor_weight_clear (&llm->output_norm);
  mor_weight_clear (&llm->output);
  mor_weight_clear (&llm->inp_proj);
  mor_weight_clear (&llm->inp_proj_b);
  g_clear_pointer (&llm->inv_freq, mor_vk_buffer_free);
  g_clear_pointer (&llm->gguf, mor_gguf_unref);
  g_clear_pointer (&llm->dev, mor_vk_device_unref);
  g_free (llm);
}

/* The thinker (@part NULL) or a part in mor's layout. */
static MorLlm *
load (MorVkDevice *dev, MorGguf *gguf, const char *part, GError **error)
{
  g_autoptr (MorLlm) llm = g_new0 (MorLlm, 1);
  llm->dev = mor_vk_device_ref (dev);
  llm->gguf = mor_gguf_ref (gguf);
  MorLlmConfig *c = &llm->config;
  if (part)
    g_snprintf (llm->prefix, sizeof llm->prefix, "%s.", part);
  if (part ? !read_part_config (gguf, part, c, error) : !read_config (gguf, c, error))
    return NULL;

  g_autofree char *embd_name = g_strconcat (llm->prefix, "token_embd.weight", NULL);
  llm->token_embd = mor_gguf_find_tensor (gguf, embd_name);
  if (part) {
    guint64 ne[2] = { c->embedding_size, c->vocab_size };
    if (!mor_gguf_check_tensor (gguf, embd_name, 2, ne, &llm->token_embd, error))
      return NULL;
  } else if (!llm->token_embd || llm->token_embd->n_dims != 2 || llm->token_embd->ne[0] != c->hidden_size) {
    g_set_error (error, MOR_GGUF_ERROR, llm->token_embd ? MOR_GGUF_ERROR_TYPE : MOR_GGUF_ERROR_NOT_FOUND,
                 "%s: tensor token_embd.weight %s; expected [%u, vocab]", mor_gguf_get_name (gguf),
                 llm->token_embd ? "has the wrong shape" : "is missing", c->hidden_size);
    return NULL;
  } else {
    c->vocab_size = (guint32) llm->token_embd->ne[1];
  }
  /* A part's rows are projected from the thinker's width (thinker_to_talker_proj). */
  if (part && (!load_weight (llm, &llm->inp_proj, "inp_proj.weight", c->hidden_size, c->embedding_size, FALSE,
                             error) ||
               !load_weight (llm, &llm->inp_proj_b, "inp_proj.bias", 0, c->hidden_size, FALSE, error)))
    return NULL;

  guint32 dim = c->hidden_size, q_dim = c->num_attention_heads * c->head_dim;
  guint32 kv_dim = c->num_key_value_heads * c->head_dim, ff = c->intermediate_size;
  llm->layers = g_new0 (Layer, c->num_hidden_layers);
  for (guint32 l = 0; l < c->num_hidden_layers; l++) {
    Layer *L = &llm->layers[l];
#define W(field, suffix, rows, cols, optional)                                              \
    G_STMT_START {                                                                           \
      g_autofree char *name = g_strdup_printf ("blk.%u.%s", l, suffix);                       \
      if (!load_weight (llm, &L->field, name, rows, cols, optional, error))                   \
        return NULL;                                                                         \
    } G_STMT_END
    W (attn_norm, "attn_norm.weight", 0, dim, FALSE);
    W (wq, "attn_q.weight", q_dim, dim, FALSE);
    W (bq, "attn_q.bias", 0, q_dim, TRUE);
    W (wk, "attn_k.weight", kv_dim, dim, FALSE);
    W (bk, "attn_k.bias", 0, kv_dim, TRUE);
    W (wv, "attn_v.weight", kv_dim, dim, FALSE);
    W (bv, "attn_v.bias", 0, kv_dim, TRUE);
    W (wo, "attn_output.weight", dim, q_dim, FALSE);
    W (ffn_norm, "ffn_norm.weight", 0, dim, FALSE);
    W (wg, "ffn_gate.weight", ff, dim, FALSE);
    W (wu, "ffn_up.weight", ff, dim, FALSE);
    W (wd, "ffn_down.weight", dim, ff, FALSE);
#undef W
  }
  if (!load_weight (llm, &llm->output_norm, "output_norm.weight", 0, dim, FALSE, error))
    return NULL;
  c->tie_word_embeddings = !part && mor_gguf_find_tensor (gguf, "output.weight") == NULL;
  if (!load_weight (llm, &llm->output, c->tie_word_embeddings ? "token_embd.weight" : "output.weight",
                    c->vocab_size, dim, FALSE, error))
    return NULL;

  g_autofree float *inv_freq = g_new (float, c->rope_dim / 2);
  mor_rope_inv_freq (c->rope_theta, c->rope_dim, inv_freq);
  if (!(llm->inv_freq = mor_vk_buffer_new (dev, c->rope_dim / 2 * 4, MOR_VK_MEMORY_DEVICE, error)) ||
      !mor_vk_buffer_upload (llm->inv_freq, 0, inv_freq, c->rope_dim / 2 * 4, error))
    return NULL;
  return g_steal_pointer (&llm);
}

/**
 * mor_llm_load:
 * @dev: the device to run on
 * @gguf: a thinker GGUF (llama.cpp layout, `qwen2` or `qwen2vl`)
 * @error: return location for a #GError, or %NULL
 *
 * Checks every hyper-parameter and tensor shape, then uploads the weights.
 * Errors name the file and the key or tensor: MOR_LLM_ERROR_ARCHITECTURE for
 * another architecture, MOR_GGUF_ERROR_NOT_FOUND / _TYPE for a missing tensor
 * or one of the wrong shape.
 *
 * Returns: (transfer full): the model, or %NULL with @error set
 */
MorLlm *
mor_llm_load (MorVkDevice *dev, MorGguf *gguf, GError **error)
{
  return load (dev, gguf, NULL, error);
}

/**
 * mor_llm_load_part:
 * @dev: the device to run on
 * @gguf: a file in mor's layout (docs/model-format.md), e.g. talker.gguf
 * @part: the part's name, e.g. "talker"
 * @error: return location for a #GError, or %NULL
 *
 * As mor_llm_load(), for the decoder whose keys are `mor.<part>.*` (Hugging
 * Face names) and whose tensors are `<part>.*`, with the input projection
 * `<part>.inp_proj` from embedding_size to hidden_size. Errors: MOR_GGUF_ERROR
 * naming a missing or mistyped key or tensor, MOR_LLM_ERROR_CONFIG.
 *
 * Returns: (transfer full): the model, or %NULL with @error set
 */
MorLlm *
mor_llm_load_part (MorVkDevice *dev, MorGguf *gguf, const char *part, GError **error)
{
  g_return_val_if_fail (part && strlen (part) < sizeof ((MorLlm *) NULL)->prefix - 1, NULL);
  return load (dev, gguf, part, error);
}

const MorLlmConfig *
mor_llm_get_config (MorLlm *llm)
{
  return &llm->config;
}

MorGguf *
mor_llm_get_gguf (MorLlm *llm)
{
  return llm->gguf;
}

void
mor_llm_embed_token (MorLlm *llm, guint32 id, float *out)
{
  g_return_if_fail (id < llm->config.vocab_size);
  guint64 row = mor_type_row_bytes (llm->token_embd->type, llm->config.embedding_size);
  mor_ref_dequantize_row (llm->token_embd->type, (const guint8 *) llm->token_embd->data + row * id, out,
                          llm->config.embedding_size);
}

/* ---- the forward pass ---- */

/* y = W·x + b for n rows: matrix-vector for one row (decode), else matrix-matrix. */
static void
linear (MorVkStream *st, const MorWeight *w, const MorWeight *b, MorVkView x, MorVkView y, guint32 n)
{
  if (n == 1)
    mor_op_matvec (st, w->type, mor_weight_view (w), x, mor_weight_view (b), y, w->rows, w->cols, 1);
  else
    mor_op_matmul (st, w->type, mor_weight_view (w), x, mor_weight_view (b), y, w->rows, w->cols, n);
}

/* Records the forward pass of n rows (n <= n_batch) starting at the position
 * in r->pos; the input rows are in r->in. Logits for every row (all_logits) or
 * for the last one. Same sequence of ops as reference_rows(). */
static void
record_forward (MorLlmSession *s, MorVkStream *st, guint32 n, gboolean all_logits)
{
  const MorLlm *llm = s->llm;
  const MorLlmConfig *c = &llm->config;
  const RunState *r = &s->r;
  guint32 dim = c->hidden_size, hd = c->head_dim, nh = c->num_attention_heads;
  guint32 nkv = c->num_key_value_heads, ff = c->intermediate_size;
  float scale = 1.0f / sqrtf ((float) hd);

  if (llm->inp_proj.t)
    // thinker_to_talker_proj: x = W·in + b
    linear (st, &llm->inp_proj, &llm->inp_proj_b, r->in, r->x, n);
  else
    mor_vk_stream_copy (st, mor_vk_view_sub (r->in, 0, (guint64) n * dim * 4),
                        mor_vk_view_sub (r->x, 0, (guint64) n * dim * 4));
  for (guint32 l = 0; l < c->num_hidden_layers; l++) {
    const Layer *L = &llm->layers[l];
    MorVkView kc = mor_vk_view (s->kcache[l]), vc = mor_vk_view (s->vcache[l]);
    // Qwen2Attention: xb = RMSNorm(x); q,k,v = W·xb + b
    mor_op_rms_norm (st, r->x, mor_weight_view (&L->attn_norm), r->xb, n, dim, c->rms_norm_eps);
    linear (st, &L->wq, &L->bq, r->xb, r->q, n);
    linear (st, &L->wk, &L->bk, r->xb, r->k, n);
    linear (st, &L->wv, &L->bv, r->xb, r->v, n);
    // apply_rotary_pos_emb (rotate_half: NeoX pairs) on q and k at positions pos..pos+n-1
    mor_op_rope (st, MOR_ROPE_NEOX, r->q, mor_vk_view (llm->inv_freq), r->pos, r->q, n, nh, hd, c->rope_dim, nh);
    mor_op_rope (st, MOR_ROPE_NEOX, r->k, mor_vk_view (llm->inv_freq), r->pos, r->k, n, nkv, hd, c->rope_dim, nkv);
    // past_key_values.update: append k, v to the cache
    mor_op_kv_store (st, r->k, r->pos, kc, n, nkv * hd, s->n_ctx, MOR_TYPE_F32);
    mor_op_kv_store (st, r->v, r->pos, vc, n, nkv * hd, s->n_ctx, MOR_TYPE_F32);
    // softmax(q·kᵀ/√d + causal mask)·v, GQA
    mor_op_attention_cached (st, r->q, kc, vc, r->pos, r->scratch, r->att, n, s->n_ctx, nh, nkv, hd, scale,
                             MOR_TYPE_F32);
    // o_proj (no bias), residual
    linear (st, &L->wo, NULL, r->att, r->xb, n);
    mor_op_binary (st, MOR_BINARY_ADD, r->x, r->xb, r->x, n, dim, MOR_BROADCAST_NONE);
    // Qwen2MLP: down(silu(gate(xb)) · up(xb)), residual
    mor_op_rms_norm (st, r->x, mor_weight_view (&L->ffn_norm), r->xb, n, dim, c->rms_norm_eps);
    linear (st, &L->wg, NULL, r->xb, r->hb, n);
    linear (st, &L->wu, NULL, r->xb, r->hb2, n);
    mor_op_swiglu (st, r->hb, r->hb2, r->hb, n * ff);
    linear (st, &L->wd, NULL, r->hb, r->xb, n);
    mor_op_binary (st, MOR_BINARY_ADD, r->x, r->xb, r->x, n, dim, MOR_BROADCAST_NONE);
  }
  // model.norm, then lm_head
  mor_op_rms_norm (st, r->x, mor_weight_view (&llm->output_norm), r->hidden, n, dim, c->rms_norm_eps);
  if (all_logits) {
    linear (st, &llm->output, NULL, r->hidden, r->logits, n);
  } else {
    mor_vk_stream_copy (st, mor_vk_view_sub (r->hidden, (guint64) (n - 1) * dim * 4, dim * 4), r->last);
    linear (st, &llm->output, NULL, r->last, r->logits, 1);
  }
}

/* ---- sessions ---- */

void
mor_llm_session_free (MorLlmSession *s)
{
  if (!s)
    return;
  for (guint32 l = 0; l < s->llm->config.num_hidden_layers; l++) {
    if (s->kcache)
      mor_vk_buffer_free (s->kcache[l]);
    if (s->vcache)
      mor_vk_buffer_free (s->vcache[l]);
  }
  g_free (s->kcache);
  g_free (s->vcache);
  mor_vk_stream_free (s->decode);
  mor_vk_stream_free (s->prefill);
  mor_vk_arena_free (s->device_arena);
  mor_vk_arena_free (s->host_arena);
  g_free (s->hidden);
  g_free (s->embedding);
  g_free (s->logits);
  g_free (s);
}

/**
 * mor_llm_session_new:
 * @llm: the model
 * @n_ctx: positions the session can hold (at most the model's context length)
 * @error: return location for a #GError, or %NULL
 *
 * Allocates the KV cache and the activations, and records the decode step.
 *
 * Returns: (transfer full): the session, or %NULL with @error set
 */
MorLlmSession *
mor_llm_session_new (MorLlm *llm, guint32 n_ctx, GError **error)
{
  const MorLlmConfig *c = &llm->config;
  const MorVkDeviceInfo *info = mor_vk_device_get_info (llm->dev);
  if (n_ctx == 0 || n_ctx > c->max_position_embeddings) {
    g_set_error (error, MOR_LLM_ERROR, MOR_LLM_ERROR_CONTEXT,
                 "A context of %u positions was asked for; the model allows 1 to %u", n_ctx,
                 c->max_position_embeddings);
    return NULL;
  }
  g_autoptr (MorLlmSession) s = g_new0 (MorLlmSession, 1);
  s->llm = llm;
  s->n_ctx = n_ctx;
  guint32 dim = c->hidden_size, q_dim = c->num_attention_heads * c->head_dim;
  guint32 kv_dim = c->num_key_value_heads * c->head_dim, ff = c->intermediate_size, emb = c->embedding_size;
  guint64 kv_bytes = (guint64) n_ctx * kv_dim * 4;
  if (kv_bytes > info->max_storage_range) {
    g_set_error (error, MOR_LLM_ERROR, MOR_LLM_ERROR_CONTEXT,
                 "A KV cache of %u positions takes %" G_GUINT64_FORMAT " bytes a layer, more than "
                 "“%s” can bind (%" G_GUINT64_FORMAT ")", n_ctx, kv_bytes, info->name,
                 info->max_storage_range);
    return NULL;
  }
  /* Rows per prefill chunk: bounded so that every activation fits one binding. */
  guint64 widest = MAX (MAX (MAX (dim, q_dim), ff), emb) * 4;
  s->n_batch = (guint32) MIN (MIN ((guint64) n_ctx, 256), info->max_storage_range / widest);
  s->n_logit_rows = (guint32) MAX (1, MIN ((guint64) s->n_batch, info->max_storage_range / ((guint64) c->vocab_size * 4)));

  s->kcache = g_new0 (MorVkBuffer *, c->num_hidden_layers);
  s->vcache = g_new0 (MorVkBuffer *, c->num_hidden_layers);
  for (guint32 l = 0; l < c->num_hidden_layers; l++)
    if (!(s->kcache[l] = mor_vk_buffer_new (llm->dev, kv_bytes, MOR_VK_MEMORY_DEVICE, error)) ||
        !(s->vcache[l] = mor_vk_buffer_new (llm->dev, kv_bytes, MOR_VK_MEMORY_DEVICE, error)))
      return NULL;

  guint32 nb = s->n_batch;
  guint64 align = info->min_storage_align;
  /* Enough for any row count a recording may use (decode splits keys differently). */
  guint64 scratch = 4;
  for (guint32 n_q = 1; n_q <= nb; n_q++)
    scratch = MAX (scratch, mor_op_attention_scratch_size (llm->dev, n_q, c->num_attention_heads,
                                                           c->num_key_value_heads, c->head_dim));
  guint64 dev_size = ((guint64) nb * (2 * dim + 2 * q_dim + 2 * kv_dim + 2 * ff) * 4) + scratch + 16 * align;
  guint64 host_size = ((guint64) nb * (emb + dim) * 4) + 4 + (guint64) dim * 4 +
                      (guint64) s->n_logit_rows * c->vocab_size * 4 + 8 * align;
  RunState *r = &s->r;
  if (!(s->device_arena = mor_vk_arena_new (llm->dev, dev_size, MOR_VK_MEMORY_DEVICE, error)) ||
      !(s->host_arena = mor_vk_arena_new (llm->dev, host_size, MOR_VK_MEMORY_HOST, error)) ||
      !mor_vk_arena_alloc (s->device_arena, (guint64) nb * dim * 4, &r->x, error) ||
      !mor_vk_arena_alloc (s->device_arena, (guint64) nb * dim * 4, &r->xb, error) ||
      !mor_vk_arena_alloc (s->device_arena, (guint64) nb * q_dim * 4, &r->q, error) ||
      !mor_vk_arena_alloc (s->device_arena, (guint64) nb * kv_dim * 4, &r->k, error) ||
      !mor_vk_arena_alloc (s->device_arena, (guint64) nb * kv_dim * 4, &r->v, error) ||
      !mor_vk_arena_alloc (s->device_arena, (guint64) nb * q_dim * 4, &r->att, error) ||
      !mor_vk_arena_alloc (s->device_arena, (guint64) nb * ff * 4, &r->hb, error) ||
      !mor_vk_arena_alloc (s->device_arena, (guint64) nb * ff * 4, &r->hb2, error) ||
      !mor_vk_arena_alloc (s->device_arena, scratch, &r->scratch, error) ||
      !mor_vk_arena_alloc (s->host_arena, (guint64) nb * emb * 4, &r->in, error) ||
      !mor_vk_arena_alloc (s->host_arena, 4, &r->pos, error) ||
      !mor_vk_arena_alloc (s->host_arena, (guint64) nb * dim * 4, &r->hidden, error) ||
      !mor_vk_arena_alloc (s->host_arena, (guint64) dim * 4, &r->last, error) ||
      !mor_vk_arena_alloc (s->host_arena, (guint64) s->n_logit_rows * c->vocab_size * 4, &r->logits, error))
    return NULL;

  if (!(s->decode = mor_vk_stream_new (llm->dev, error)) || !(s->prefill = mor_vk_stream_new (llm->dev, error)))
    return NULL;
  mor_vk_stream_begin (s->decode);
  record_forward (s, s->decode, 1, FALSE);
  if (!mor_vk_stream_end (s->decode, error))
    return NULL;
  return g_steal_pointer (&s);
}

guint32
mor_llm_session_get_pos (MorLlmSession *s)
{
  return s->pos;
}

void
mor_llm_session_truncate (MorLlmSession *s, guint32 pos)
{
  s->pos = MIN (s->pos, pos);
}

static gboolean
check_room (MorLlmSession *s, guint32 n, GError **error)
{
  if (n > s->n_ctx - s->pos) {
    g_set_error (error, MOR_LLM_ERROR, MOR_LLM_ERROR_CONTEXT,
                 "The context is full: %u rows asked at position %u of a %u-position session",
                 n, s->pos, s->n_ctx);
    return FALSE;
  }
  return TRUE;
}

static gboolean
check_token (MorLlmSession *s, guint32 id, GError **error)
{
  if (id >= s->llm->config.vocab_size) {
    g_set_error (error, MOR_LLM_ERROR, MOR_LLM_ERROR_INPUT,
                 "Token id %u is outside the vocabulary of %u", id, s->llm->config.vocab_size);
    return FALSE;
  }
  return TRUE;
}

/* Runs n rows whose input is already in r->in; appends the results at row @at
 * of the result arrays. */
static gboolean
run_rows (MorLlmSession *s, MorVkStream *st, guint32 n, guint32 at, gboolean all_logits, GError **error)
{
  const MorLlmConfig *c = &s->llm->config;
  const RunState *r = &s->r;
  *(guint32 *) ((char *) r->pos.buf->mapped + r->pos.offset) = s->pos;
  if (!mor_vk_stream_submit (st, error))
    return FALSE;
  s->pos += n;
  memcpy (s->hidden + (gsize) at * c->hidden_size, (char *) r->hidden.buf->mapped + r->hidden.offset,
          (gsize) n * c->hidden_size * 4);
  gsize logit_rows = all_logits ? n : 1;
  memcpy (s->logits + (all_logits ? (gsize) at * c->vocab_size : 0),
          (char *) r->logits.buf->mapped + r->logits.offset, logit_rows * c->vocab_size * 4);
  return TRUE;
}

static void
resize_results (MorLlmSession *s, guint32 n, gboolean all_logits)
{
  const MorLlmConfig *c = &s->llm->config;
  s->n_rows = n;
  s->logits_all = all_logits;
  s->hidden = g_renew (float, s->hidden, (gsize) n * c->hidden_size);
  s->embedding = g_renew (float, s->embedding, (gsize) n * c->embedding_size);
  s->logits = g_renew (float, s->logits, (gsize) (all_logits ? n : 1) * c->vocab_size);
}

gboolean
mor_llm_session_prefill (MorLlmSession *s, const guint32 *ids, const float *embeds,
                         const gboolean *is_embed, guint32 n, gboolean all_logits, GError **error)
{
  g_return_val_if_fail (n > 0, FALSE);
  const MorLlmConfig *c = &s->llm->config;
  if (!check_room (s, n, error))
    return FALSE;
  for (guint32 i = 0; i < n; i++)
    if (!(embeds && is_embed && is_embed[i]) && !check_token (s, ids[i], error))
      return FALSE;
  resize_results (s, n, all_logits);
  for (guint32 i = 0; i < n; i++) {
    float *e = s->embedding + (gsize) i * c->embedding_size;
    if (embeds && is_embed && is_embed[i])
      memcpy (e, embeds + (gsize) i * c->embedding_size, c->embedding_size * 4);
    else
      mor_llm_embed_token (s->llm, ids[i], e);
  }

  guint32 chunk = all_logits ? s->n_logit_rows : s->n_batch;
  for (guint32 done = 0; done < n;) {
    guint32 m = MIN (chunk, n - done);
    /* The last chunk's logits row is the answer's; others need none, but
     * recording one shape for every chunk is simpler than two. */
    if (s->prefill_rows != m || s->prefill_all_logits != all_logits) {
      mor_vk_stream_begin (s->prefill);
      record_forward (s, s->prefill, m, all_logits);
      s->prefill_rows = 0;
      if (!mor_vk_stream_end (s->prefill, error))
        return FALSE;
      s->prefill_rows = m;
      s->prefill_all_logits = all_logits;
    }
    memcpy ((char *) s->r.in.buf->mapped + s->r.in.offset, s->embedding + (gsize) done * c->embedding_size,
            (gsize) m * c->embedding_size * 4);
    if (!run_rows (s, s->prefill, m, done, all_logits, error))
      return FALSE;
    done += m;
  }
  return TRUE;
}

gboolean
mor_llm_session_decode (MorLlmSession *s, guint32 id, GError **error)
{
  const MorLlmConfig *c = &s->llm->config;
  if (!check_room (s, 1, error) || !check_token (s, id, error))
    return FALSE;
  resize_results (s, 1, FALSE);
  mor_llm_embed_token (s->llm, id, s->embedding);
  memcpy ((char *) s->r.in.buf->mapped + s->r.in.offset, s->embedding, c->embedding_size * 4);
  return run_rows (s, s->decode, 1, 0, FALSE, error);
}

gboolean
mor_llm_session_decode_row (MorLlmSession *s, const float *row, GError **error)
{
  const MorLlmConfig *c = &s->llm->config;
  if (!check_room (s, 1, error))
    return FALSE;
  resize_results (s, 1, FALSE);
  memcpy (s->embedding, row, c->embedding_size * 4);
  memcpy ((char *) s->r.in.buf->mapped + s->r.in.offset, row, c->embedding_size * 4);
  return run_rows (s, s->decode, 1, 0, FALSE, error);
}

guint32
mor_llm_session_n_rows (MorLlmSession *s)
{
  return s->n_rows;
}

const float *
mor_llm_session_get_logits (MorLlmSession *s, guint32 row)
{
  g_return_val_if_fail (row < s->n_rows, NULL);
  g_return_val_if_fail (s->logits_all || row == s->n_rows - 1, NULL);
  return s->logits + (s->logits_all ? (gsize) row * s->llm->config.vocab_size : 0);
}

const float *
mor_llm_session_get_hidden (MorLlmSession *s, guint32 row)
{
  g_return_val_if_fail (row < s->n_rows, NULL);
  return s->hidden + (gsize) row * s->llm->config.hidden_size;
}

const float *
mor_llm_session_get_embedding (MorLlmSession *s, guint32 row)
{
  g_return_val_if_fail (row < s->n_rows, NULL);
  return s->embedding + (gsize) row * s->llm->config.embedding_size;
}

/* ---- the C reference ---- */

static void
ref_linear (const MorWeight *w, const MorWeight *b, const float *x, float *y, guint32 n)
{
  mor_ref_matmul (w->type, w->host, x, b && b->t ? b->host : NULL, y, w->rows, w->cols, n);
}

gboolean
mor_llm_reference_forward (MorLlm *llm, const guint32 *ids, guint32 n, float *logits, float *hidden,
                           GError **error)
{
  const MorLlmConfig *c = &llm->config;
  for (guint32 i = 0; i < n; i++)
    if (ids[i] >= c->vocab_size) {
      g_set_error (error, MOR_LLM_ERROR, MOR_LLM_ERROR_INPUT,
                   "Token id %u is outside the vocabulary of %u", ids[i], c->vocab_size);
      return FALSE;
    }
  g_autofree float *rows = g_new (float, (gsize) n * c->embedding_size);
  for (guint32 i = 0; i < n; i++)
    mor_llm_embed_token (llm, ids[i], rows + (gsize) i * c->embedding_size);
  mor_llm_reference_forward_rows (llm, rows, n, logits, hidden);
  return TRUE;
}

void
mor_llm_reference_forward_rows (MorLlm *llm, const float *rows, guint32 n, float *logits, float *hidden)
{
  const MorLlmConfig *c = &llm->config;
  guint32 dim = c->hidden_size, hd = c->head_dim, nh = c->num_attention_heads;
  guint32 nkv = c->num_key_value_heads, ff = c->intermediate_size, q_dim = nh * hd, kv_dim = nkv * hd;
  float scale = 1.0f / sqrtf ((float) hd);
  g_autofree float *x = g_new (float, (gsize) n * dim), *xb = g_new (float, (gsize) n * dim);
  g_autofree float *q = g_new (float, (gsize) n * q_dim), *att = g_new (float, (gsize) n * q_dim);
  g_autofree float *k = g_new (float, (gsize) n * kv_dim), *v = g_new (float, (gsize) n * kv_dim);
  g_autofree float *kc = g_new (float, (gsize) n * kv_dim), *vc = g_new (float, (gsize) n * kv_dim);
  g_autofree float *hb = g_new (float, (gsize) n * ff), *hb2 = g_new (float, (gsize) n * ff);
  g_autofree float *h = g_new (float, (gsize) n * dim);
  g_autofree float *inv_freq = g_new (float, c->rope_dim / 2);
  mor_rope_inv_freq (c->rope_theta, c->rope_dim, inv_freq);

  if (llm->inp_proj.t)
    ref_linear (&llm->inp_proj, &llm->inp_proj_b, rows, x, n);
  else
    memcpy (x, rows, (gsize) n * dim * 4);
  for (guint32 l = 0; l < c->num_hidden_layers; l++) {
    const Layer *L = &llm->layers[l];
    mor_ref_rms_norm (x, L->attn_norm.host, xb, n, dim, c->rms_norm_eps);
    ref_linear (&L->wq, &L->bq, xb, q, n);
    ref_linear (&L->wk, &L->bk, xb, k, n);
    ref_linear (&L->wv, &L->bv, xb, v, n);
    mor_ref_rope (MOR_ROPE_NEOX, q, inv_freq, 0, q, n, nh, hd, c->rope_dim, nh);
    mor_ref_rope (MOR_ROPE_NEOX, k, inv_freq, 0, k, n, nkv, hd, c->rope_dim, nkv);
    mor_ref_kv_store (k, 0, kc, n, kv_dim, n, MOR_TYPE_F32);
    mor_ref_kv_store (v, 0, vc, n, kv_dim, n, MOR_TYPE_F32);
    mor_ref_attention_cached (q, kc, vc, 0, att, n, n, nh, nkv, hd, scale, MOR_TYPE_F32);
    ref_linear (&L->wo, NULL, att, xb, n);
    mor_ref_binary (MOR_BINARY_ADD, x, xb, x, n, dim, MOR_BROADCAST_NONE);
    mor_ref_rms_norm (x, L->ffn_norm.host, xb, n, dim, c->rms_norm_eps);
    ref_linear (&L->wg, NULL, xb, hb, n);
    ref_linear (&L->wu, NULL, xb, hb2, n);
    mor_ref_swiglu (hb, hb2, hb, n * ff);
    ref_linear (&L->wd, NULL, hb, xb, n);
    mor_ref_binary (MOR_BINARY_ADD, x, xb, x, n, dim, MOR_BROADCAST_NONE);
  }
  mor_ref_rms_norm (x, llm->output_norm.host, h, n, dim, c->rms_norm_eps);
  if (logits)
    ref_linear (&llm->output, NULL, h, logits, n);
  if (hidden)
    memcpy (hidden, h, (gsize) n * dim * 4);
}
