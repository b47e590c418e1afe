/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Qwen2.5-Omni audio encoder on Vulkan, streaming chunk by chunk, and its
 * C reference forward. */
#include "encoder.h"

#include <math.h>
#include <string.h>

#include "ops.h"
#include "weight.h"

G_DEFINE_QUARK (mor-encoder-error-quark, mor_encoder_error)


typedef struct {
  MorWeight ln1_w, ln1_b;          /* (d) self_attn_layer_norm */
  MorWeight wq, bq;                /* (d, d), (d) q_proj */
  MorWeight wk;                    /* (d, d) k_proj, no bias */
  MorWeight wv, bv;                /* (d, d), (d) v_proj */
  MorWeight wo, bo;                /* (d, d), (d) out_proj */
  MorWeight ln2_w, ln2_b;          /* (d) final_layer_norm */
  MorWeight w_up, b_up;            /* (ffn, d), (ffn) fc1 */
  MorWeight w_down, b_down;        /* (d, ffn), (d) fc2 */
} Layer;

struct _MorEncoder {
  MorVkDevice *dev;
  MorGguf *gguf;
  MorEncoderConfig config;
  MorMel *mel;                  /* the log-mel front end for num_mel_bins */
  MorWeight conv1_w, conv1_b;      /* (d, n_mel, 3) F16/BF16/F32, (d) */
  MorWeight conv2_w, conv2_b;      /* (d, d, 3), (d) */
  MorWeight pos;                   /* (max_source_positions, d) sinusoids */
  Layer *layers;                /* encoder_layers */
  MorWeight post_w, post_b;        /* (d) ln_post */
  MorWeight fc_w, fc_b;            /* (output_dim, d), (output_dim) proj */
};

/* ---- loading ---- */

static gboolean
read_config (MorGguf *g, MorEncoderConfig *c, GError **error)
{
  const char *name = mor_gguf_get_name (g), *proj = NULL;
  /* llama.cpp: the file's projector, else the audio encoder's own (files with
   * two encoders of different projectors) */
  if (!mor_gguf_get_string_default (g, "clip.projector_type", NULL, &proj, error) ||
      (!proj && !mor_gguf_get_string_default (g, "clip.audio.projector_type", NULL, &proj, error)))
    return FALSE;
  if (!proj) {
    g_set_error (error, MOR_ENCODER_ERROR, MOR_ENCODER_ERROR_PROJECTOR,
                 "%s: no clip.projector_type key: not an mmproj file of an audio encoder", name);
    return FALSE;
  }
  if (strcmp (proj, "qwen2.5o") != 0 && strcmp (proj, "qwen2a") != 0) {
    g_set_error (error, MOR_ENCODER_ERROR, MOR_ENCODER_ERROR_PROJECTOR,
                 "%s: clip.projector_type is “%s”; the encoder runs Qwen2.5-Omni's “qwen2.5o” (or “qwen2a”)",
                 name, proj);
    return FALSE;
  }
  g_strlcpy (c->projector_type, proj, sizeof c->projector_type);
  gboolean has_audio;
  if (!mor_gguf_get_bool_default (g, "clip.has_audio_encoder", TRUE, &has_audio, error))
    return FALSE;
  if (!has_audio) {
    g_set_error (error, MOR_ENCODER_ERROR, MOR_ENCODER_ERROR_PROJECTOR,
                 "%s: clip.has_audio_encoder is false: the file holds no audio encoder", name);
    return FALSE;
  }
  if (!mor_gguf_get_u32 (g, "clip.audio.num_mel_bins", &c->num_mel_bins, error) ||
      !mor_gguf_get_u32 (g, "clip.audio.embedding_length", &c->d_model, error) ||
      !mor_gguf_get_u32 (g, "clip.audio.feed_forward_length", &c->encoder_ffn_dim, error) ||
      !mor_gguf_get_u32 (g, "clip.audio.block_count", &c->encoder_layers, error) ||
      !mor_gguf_get_u32 (g, "clip.audio.attention.head_count", &c->encoder_attention_heads, error) ||
      !mor_gguf_get_f32_default (g, "clip.audio.attention.layer_norm_epsilon", 1e-5f, &c->layer_norm_eps,
                                 error) ||
      !mor_gguf_get_u32_default (g, "mor.encoder.n_window", 100, &c->n_window, error))
    return FALSE;

  const char *bad = NULL;
  if (c->d_model == 0 || c->encoder_ffn_dim == 0 || c->encoder_layers == 0 || c->num_mel_bins == 0)
    bad = "a zero dimension";
  else if (c->num_mel_bins > MOR_MEL_N_FFT / 2 + 1)
    bad = "clip.audio.num_mel_bins larger than the 201 frequency bins of the STFT";
  else if (c->encoder_attention_heads == 0 || c->d_model % c->encoder_attention_heads != 0)
    bad = "clip.audio.embedding_length not a multiple of clip.audio.attention.head_count";
  else if (c->n_window == 0 || c->n_window % 2 != 0 || c->n_window > MOR_MEL_MAX_FRAMES)
    bad = "mor.encoder.n_window not an even number of frames (chunks would pool across their edges)";
  else if (!(c->layer_norm_eps > 0) || !isfinite (c->layer_norm_eps))
    bad = "clip.audio.attention.layer_norm_epsilon not a positive number";
  if (bad) {
    g_set_error (error, MOR_ENCODER_ERROR, MOR_ENCODER_ERROR_CONFIG, "%s: %s", name, bad);
    return FALSE;
  }
  c->head_dim = c->d_model / c->encoder_attention_heads;
  return TRUE;
}

/* A Conv1d weight (out, in, K) of a type the conv op reads. */
static gboolean
load_conv (MorEncoder *enc, MorWeight *w, const char *name, guint32 out, guint32 in, guint32 k, GError **error)
{
  guint64 ne[3] = { k, in, out };
  if (!mor_gguf_check_tensor (enc->gguf, name, 3, ne, &w->t, error))
    return FALSE;
  if (w->t->type != MOR_TYPE_F16 && w->t->type != MOR_TYPE_BF16 && w->t->type != MOR_TYPE_F32) {
    g_set_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE,
                 "%s: tensor %s is %s; expected f16 (as llama.cpp writes it), bf16 or f32",
                 mor_gguf_get_name (enc->gguf), name, mor_type_name (w->t->type));
    return FALSE;
  }
  w->type = w->t->type;
  w->rows = out;
  w->cols = in * k;
  w->host = w->t->data;
  return mor_weight_upload (w, enc->dev, w->t->data, w->t->size, error);
}

void
mor_encoder_free (MorEncoder *enc)
{
  if (!enc)
    return;
  for (guint32 l = 0; enc->layers && l < enc->config.encoder_layers; l++) {
    Layer *L = &enc->layers[l];
    MorWeight *all[] = { &L->ln1_w, &L->ln1_b, &L->wq, &L->bq, &L->wk, &L->wv, &L->bv, &L->wo, &L->bo,
                      &L->ln2_w, &L->ln2_b, &L->w_up, &L->b_up, &L->w_down, &L->b_down };
    for (guint i = 0; i < G_N_ELEMENTS (all); i++)
      mor_weight_clear (all[i]);
  }
  g_free (enc->layers);
  MorWeight *all[] = { &enc->conv1_w, &enc->conv1_b, &enc->conv2_w, &enc->conv2_b, &enc->pos,
                    &enc->post_w, &enc->post_b, &enc->fc_w, &enc->fc_b };
  for (guint i = 0; i < G_N_ELEMENTS (all); i++)
    mor_weight_clear (all[i]);
  mor_mel_free (enc->mel);
  g_clear_pointer (&enc->gguf, mor_gguf_unref);
  g_clear_pointer (&enc->dev, mor_vk_device_unref);
  g_free (enc);
}

/**
 * mor_encoder_load:
 * @dev: the device to run on
 * @gguf: an mmproj GGUF with a Qwen2.5-Omni audio encoder (or a file holding
 *   one among other parts)
 * @error: return location for a #GError, or %NULL
 *
 * Checks every hyper-parameter and tensor shape, then uploads the weights.
 * Errors name the file and the key or tensor: MOR_ENCODER_ERROR_PROJECTOR for
 * another projector, MOR_ENCODER_ERROR_CONFIG for inconsistent keys,
 * MOR_GGUF_ERROR_NOT_FOUND / _TYPE for a missing key or tensor, or one of the
 * wrong type or shape.
 *
 * Returns: (transfer full): the encoder, or %NULL with @error set
 */
MorEncoder *
mor_encoder_load (MorVkDevice *dev, MorGguf *gguf, GError **error)
{
  g_autoptr (MorEncoder) enc = g_new0 (MorEncoder, 1);
  enc->dev = mor_vk_device_ref (dev);
  enc->gguf = mor_gguf_ref (gguf);
  MorEncoderConfig *c = &enc->config;
  const char *name = mor_gguf_get_name (gguf);
  if (!read_config (gguf, c, error))
    return NULL;
  guint32 d = c->d_model, ff = c->encoder_ffn_dim, nm = c->num_mel_bins;

  /* The width of the thinker comes from the projection; the key, where
   * present, must agree. */
  const MorGgufTensor *fc = mor_gguf_find_tensor (gguf, "mm.a.fc.weight");
  if (fc && fc->n_dims == 2)
    c->output_dim = (guint32) fc->ne[1];
  guint32 proj_dim;
  if (!mor_gguf_get_u32_default (gguf, "clip.audio.projection_dim", c->output_dim, &proj_dim, error))
    return NULL;
  if (fc && proj_dim != c->output_dim) {
    g_set_error (error, MOR_ENCODER_ERROR, MOR_ENCODER_ERROR_CONFIG,
                 "%s: clip.audio.projection_dim is %u but mm.a.fc.weight projects to %u", name, proj_dim,
                 c->output_dim);
    return NULL;
  }
  MorVkDevice *dv = enc->dev;
  if (!mor_weight_load_matrix (&enc->fc_w, dv, gguf, "mm.a.fc.weight", c->output_dim ? c->output_dim : 1, d, error) ||
      !mor_weight_load_vector (&enc->fc_b, dv, gguf, "mm.a.fc.bias", c->output_dim, FALSE, error))
    return NULL;

  /* The sinusoid table: rows of d, at least the n_window positions of a chunk. */
  const MorGgufTensor *pos = mor_gguf_find_tensor (gguf, "a.position_embd.weight");
  c->max_source_positions = pos && pos->n_dims == 2 ? (guint32) pos->ne[1] : 0;
  guint64 pos_ne[2] = { d, MAX (c->max_source_positions, 1) };
  if (!mor_gguf_check_tensor (gguf, "a.position_embd.weight", 2, pos_ne, &enc->pos.t, error))
    return NULL;
  if (c->max_source_positions < c->n_window) {
    g_set_error (error, MOR_ENCODER_ERROR, MOR_ENCODER_ERROR_CONFIG,
                 "%s: a.position_embd.weight has %u positions; a chunk needs %u (mor.encoder.n_window)", name,
                 c->max_source_positions, c->n_window);
    return NULL;
  }
  MorWeight *p = &enc->pos;
  p->type = MOR_TYPE_F32;
  p->rows = c->max_source_positions;
  p->cols = d;
  p->host = p->owned = g_new (float, (gsize) p->rows * d);
  mor_ref_dequantize_row (p->t->type, p->t->data, p->owned, (guint64) p->rows * d);
  if (!mor_weight_upload (p, enc->dev, p->owned, (guint64) p->rows * d * 4, error))
    return NULL;

  if (!load_conv (enc, &enc->conv1_w, "a.conv1d.1.weight", d, nm, 3, error) ||
      !mor_weight_load_vector (&enc->conv1_b, dv, gguf, "a.conv1d.1.bias", d, FALSE, error) ||
      !load_conv (enc, &enc->conv2_w, "a.conv1d.2.weight", d, d, 3, error) ||
      !mor_weight_load_vector (&enc->conv2_b, dv, gguf, "a.conv1d.2.bias", d, FALSE, error))
    return NULL;
  enc->layers = g_new0 (Layer, c->encoder_layers);
  for (guint32 l = 0; l < c->encoder_layers; l++) {
    Layer *L = &enc->layers[l];
#define M(field, suffix, rows, cols)                                                       \
    G_STMT_START {                                                                          \
      g_autofree char *tname = g_strdup_printf ("a.blk.%u.%s", l, suffix);                  \
      if (!mor_weight_load_matrix (&L->field, dv, gguf, tname, rows, cols, error))          \
        return NULL;                                                                        \
    } G_STMT_END
#define V(field, suffix, n)                                                                 \
    G_STMT_START {                                                                          \
      g_autofree char *tname = g_strdup_printf ("a.blk.%u.%s", l, suffix);                  \
      if (!mor_weight_load_vector (&L->field, dv, gguf, tname, n, FALSE, error))            \
        return NULL;                                                                        \
    } G_STMT_END
    V (ln1_w, "ln1.weight", d);
    V (ln1_b, "ln1.bias", d);
    M (wq, "attn_q.weight", d, d);
    V (bq, "attn_q.bias", d);
    M (wk, "attn_k.weight", d, d);
    M (wv, "attn_v.weight", d, d);
    V (bv, "attn_v.bias", d);
    M (wo, "attn_out.weight", d, d);
    V (bo, "attn_out.bias", d);
    V (ln2_w, "ln2.weight", d);
    V (ln2_b, "ln2.bias", d);
    M (w_up, "ffn_up.weight", ff, d);
    V (b_up, "ffn_up.bias", ff);
    M (w_down, "ffn_down.weight", d, ff);
    V (b_down, "ffn_down.bias", d);
#undef M
#undef V
  }
  if (!mor_weight_load_vector (&enc->post_w, dv, gguf, "a.post_ln.weight", d, FALSE, error) ||
      !mor_weight_load_vector (&enc->post_b, dv, gguf, "a.post_ln.bias", d, FALSE, error))
    return NULL;
  if (!(enc->mel = mor_mel_new (dev, nm, error)))
    return NULL;
  return g_steal_pointer (&enc);
}

const MorEncoderConfig *
mor_encoder_get_config (MorEncoder *enc)
{
  return &enc->config;
}

guint32
mor_encoder_n_rows (guint32 n_frames)
{
  /* input_lengths = (input_lengths - 1) // 2 + 1; output_lengths = (input_lengths - 2) // 2 + 1 */
  if (n_frames == 0)
    return 0;
  guint32 a = (n_frames - 1) / 2 + 1;
  return a / 2;
}

/* ---- the forward pass of one chunk ---- */

/* Activations of one chunk of up to B = 2·n_window mel frames, T2 = n_window
 * frames after conv2, allocated once per session. */
typedef struct {
  MorVkView in;                 /* (n_mel, B) the chunk's log-mel, host-written */
  MorVkView mel;                /* (n_mel, B) its device copy */
  MorVkView c1;                 /* (d, B) conv1 output */
  MorVkView c2;                 /* (d, T2) conv2 output */
  MorVkView eye, eye_tail;      /* (T2, T2) identities of a full chunk's and the tail's size */
  MorVkView x, xb;              /* (T2, d) residual stream, normed / projected */
  MorVkView q, k, v, att;       /* (T2, d) */
  MorVkView hb;                 /* (T2, ffn) */
  MorVkView pooled;             /* (T2 / 2, d) */
  MorVkView out;                /* (T2 / 2, output_dim) rows, host-visible */
} RunState;

struct _MorEncoderSession {
  MorEncoder *enc;
  guint32 chunk_frames;         /* B */
  MorMelStream *mel;
  MorVkArena *device_arena, *host_arena;
  RunState r;
  MorVkStream *full;            /* a full chunk, recorded once */
  MorVkStream *tail;            /* the last, partial chunk, recorded for tail_frames */
  guint32 tail_frames;
  /* the utterance */
  float *rows;                  /* (rows_alloc, output_dim) */
  guint32 n_rows, rows_alloc;
  guint32 n_pushed;             /* chunks encoded by push */
  guint32 first_revised;
  gboolean finished;
};

static MorVkView
wview (const MorWeight *w)
{
  if (!w || !w->buf)
    return (MorVkView) { NULL, 0, 0 };
  return mor_vk_view (w->buf);
}

/* F.linear: y = W·x + b for n rows. */
static void
linear (MorVkStream *st, const MorWeight *w, const MorWeight *b, MorVkView x, MorVkView y, guint32 n)
{
  mor_op_matmul (st, w->type, wview (w), x, wview (b), y, w->rows, w->cols, n);
}

static void
conv_geometry (MorConv1d *c, guint32 in, guint32 out, guint32 length, guint32 stride)
{
  /* nn.Conv1d(in, out, kernel_size=3, stride, padding=1) */
  *c = (MorConv1d) { 1, in, out, length, 3, stride, 1, 1, 1, 1, MOR_PAD_ZEROS };
}

/* Records the encoder on one chunk of T mel frames (3 ≤ T ≤ B) in r->in, its
 * T2/2 rows to r->out. Same sequence of ops as reference_chunk() and the head
 * of mor_encoder_reference_forward(). */
static void
record_chunk (MorEncoderSession *s, MorVkStream *st, guint32 T)
{
  const MorEncoder *e = s->enc;
  const MorEncoderConfig *c = &e->config;
  const RunState *r = &s->r;
  guint32 d = c->d_model, nm = c->num_mel_bins, ff = c->encoder_ffn_dim;
  guint32 nh = c->encoder_attention_heads, hd = c->head_dim;
  guint32 T2 = (T - 1) / 2 + 1, P = T2 / 2;
  float scale = 1.0f / sqrtf ((float) hd);
  MorConv1d conv1, conv2;
  conv_geometry (&conv1, nm, d, T, 1);
  conv_geometry (&conv2, d, d, T, 2);

  mor_vk_stream_copy (st, mor_vk_view_sub (r->in, 0, (guint64) nm * T * 4),
                      mor_vk_view_sub (r->mel, 0, (guint64) nm * T * 4));
  // gelu(conv1(x)): the chunk alone, zero padded at both edges
  mor_op_conv1d (st, &conv1, e->conv1_w.type, r->mel, wview (&e->conv1_w), wview (&e->conv1_b), r->c1);
  mor_op_unary (st, MOR_UNARY_GELU_ERF, r->c1, r->c1, d * T);
  // gelu(conv2(x)), stride 2: T2 = (T - 1) // 2 + 1 frames
  mor_op_conv1d (st, &conv2, e->conv2_w.type, r->c1, wview (&e->conv2_w), wview (&e->conv2_b), r->c2);
  mor_op_unary (st, MOR_UNARY_GELU_ERF, r->c2, r->c2, d * T2);
  // .transpose(1, 2) to rows [T2, d], as F.linear(I, c2): each value times 1, plus zeros: exact
  mor_op_matmul (st, MOR_TYPE_F32, r->c2, T == s->chunk_frames ? r->eye : r->eye_tail, (MorVkView) { 0 }, r->x,
                 d, T2, T2);
  // + positional_embedding[:T2]: positions restart at 0 in every chunk
  mor_op_binary (st, MOR_BINARY_ADD, r->x, mor_vk_view_sub (wview (&e->pos), 0, (guint64) T2 * d * 4), r->x, T2,
                 d, MOR_BROADCAST_NONE);
  for (guint32 l = 0; l < c->encoder_layers; l++) {
    const Layer *L = &e->layers[l];
    // Qwen2_5OmniAudioAttention: xb = LN(x); q = W_q·xb + b_q, k = W_k·xb, v = W_v·xb + b_v
    mor_op_layer_norm (st, r->x, wview (&L->ln1_w), wview (&L->ln1_b), r->xb, T2, d, c->layer_norm_eps);
    linear (st, &L->wq, &L->bq, r->xb, r->q, T2);
    linear (st, &L->wk, NULL, r->xb, r->k, T2);
    linear (st, &L->wv, &L->bv, r->xb, r->v, T2);
    // softmax(q·kᵀ·head_dim^-0.5)·v over the chunk (the block-diagonal mask's block), no causal mask
    mor_op_attention (st, r->q, r->k, r->v, r->att, T2, T2, nh, nh, hd, scale, 0, 0, 0);
    // out_proj, residual
    linear (st, &L->wo, &L->bo, r->att, r->xb, T2);
    mor_op_binary (st, MOR_BINARY_ADD, r->x, r->xb, r->x, T2, d, MOR_BROADCAST_NONE);
    // fc2(gelu(fc1(LN(x)))), residual
    mor_op_layer_norm (st, r->x, wview (&L->ln2_w), wview (&L->ln2_b), r->xb, T2, d, c->layer_norm_eps);
    linear (st, &L->w_up, &L->b_up, r->xb, r->hb, T2);
    mor_op_unary (st, MOR_UNARY_GELU_ERF, r->hb, r->hb, T2 * ff);
    linear (st, &L->w_down, &L->b_down, r->hb, r->xb, T2);
    mor_op_binary (st, MOR_BINARY_ADD, r->x, r->xb, r->x, T2, d, MOR_BROADCAST_NONE);
  }
  // avg_pooler: AvgPool1d(2, stride=2) over time (an odd last frame dropped)
  mor_op_avg_pool1d (st, r->x, r->pooled, d, T2, 2, 2, TRUE);
  // ln_post, proj
  mor_op_layer_norm (st, r->pooled, wview (&e->post_w), wview (&e->post_b), r->pooled, P, d, c->layer_norm_eps);
  linear (st, &e->fc_w, &e->fc_b, r->pooled, r->out, P);
}

/* ---- sessions ---- */

void
mor_encoder_session_free (MorEncoderSession *s)
{
  if (!s)
    return;
  mor_mel_stream_free (s->mel);
  mor_vk_stream_free (s->full);
  mor_vk_stream_free (s->tail);
  mor_vk_arena_free (s->device_arena);
  mor_vk_arena_free (s->host_arena);
  g_free (s->rows);
  g_free (s);
}

static void
fill_identity (MorVkView v, guint32 n)
{
  float *m = (float *) ((char *) v.buf->mapped + v.offset);
  memset (m, 0, (gsize) n * n * 4);
  for (guint32 i = 0; i < n; i++)
    m[(gsize) i * n + i] = 1.0f;
}

/**
 * mor_encoder_session_new:
 * @enc: the encoder (outlives the session)
 * @max_samples: the longest utterance in samples; 0 for the processor's 300 s
 * @error: return location for a #GError, or %NULL
 *
 * Allocates the activations of one chunk and the log-mel stream, and records
 * the forward pass of a full chunk.
 *
 * Returns: (transfer full): the session, or %NULL with @error set
 */
MorEncoderSession *
mor_encoder_session_new (MorEncoder *enc, guint64 max_samples, GError **error)
{
  const MorEncoderConfig *c = &enc->config;
  g_autoptr (MorEncoderSession) s = g_new0 (MorEncoderSession, 1);
  s->enc = enc;
  s->chunk_frames = 2 * c->n_window;
  guint32 B = s->chunk_frames, T2 = c->n_window, d = c->d_model, nm = c->num_mel_bins;
  guint64 align = mor_vk_device_get_info (enc->dev)->min_storage_align;
  guint64 dev_size = ((guint64) nm * B + (guint64) d * B + (guint64) d * T2 + 6ull * T2 * d +
                      (guint64) T2 * c->encoder_ffn_dim + (guint64) T2 / 2 * d) * 4 + 16 * align;
  guint64 host_size = ((guint64) nm * B + 2ull * T2 * T2 + (guint64) T2 / 2 * c->output_dim) * 4 + 8 * align;
  RunState *r = &s->r;
  MorVkArena *da, *ha;
  if (!(s->mel = mor_mel_stream_new (enc->mel, B, max_samples, error)) ||
      !(da = s->device_arena = mor_vk_arena_new (enc->dev, dev_size, MOR_VK_MEMORY_DEVICE, error)) ||
      !(ha = s->host_arena = mor_vk_arena_new (enc->dev, host_size, MOR_VK_MEMORY_HOST, error)) ||
      !mor_vk_arena_alloc (ha, (guint64) nm * B * 4, &r->in, error) ||
      !mor_vk_arena_alloc (ha, (guint64) T2 * T2 * 4, &r->eye, error) ||
      !mor_vk_arena_alloc (ha, (guint64) T2 * T2 * 4, &r->eye_tail, error) ||
      !mor_vk_arena_alloc (ha, (guint64) T2 / 2 * c->output_dim * 4, &r->out, error) ||
      !mor_vk_arena_alloc (da, (guint64) nm * B * 4, &r->mel, error) ||
      !mor_vk_arena_alloc (da, (guint64) d * B * 4, &r->c1, error) ||
      !mor_vk_arena_alloc (da, (guint64) d * T2 * 4, &r->c2, error) ||
      !mor_vk_arena_alloc (da, (guint64) T2 * d * 4, &r->x, error) ||
      !mor_vk_arena_alloc (da, (guint64) T2 * d * 4, &r->xb, error) ||
      !mor_vk_arena_alloc (da, (guint64) T2 * d * 4, &r->q, error) ||
      !mor_vk_arena_alloc (da, (guint64) T2 * d * 4, &r->k, error) ||
      !mor_vk_arena_alloc (da, (guint64) T2 * d * 4, &r->v, error) ||
      !mor_vk_arena_alloc (da, (guint64) T2 * d * 4, &r->att, error) ||
      !mor_vk_arena_alloc (da, (guint64) T2 * c->encoder_ffn_dim * 4, &r->hb, error) ||
      !mor_vk_arena_alloc (da, (guint64) T2 / 2 * d * 4, &r->pooled, error))
    return NULL;
  fill_identity (r->eye, T2);
  if (!(s->full = mor_vk_stream_new (enc->dev, error)) || !(s->tail = mor_vk_stream_new (enc->dev, error)))
    return NULL;
  mor_vk_stream_begin (s->full);
  record_chunk (s, s->full, B);
  if (!mor_vk_stream_end (s->full, error))
    return NULL;
  return g_steal_pointer (&s);
}

void
mor_encoder_session_reset (MorEncoderSession *s)
{
  mor_mel_stream_reset (s->mel);
  s->n_rows = 0;
  s->n_pushed = 0;
  s->first_revised = 0;
  s->finished = FALSE;
}

static void
ensure_rows (MorEncoderSession *s, guint32 n)
{
  if (n <= s->rows_alloc)
    return;
  s->rows_alloc = MAX (n, 2 * s->rows_alloc);
  s->rows = g_renew (float, s->rows, (gsize) s->rows_alloc * s->enc->config.output_dim);
}

/* Runs the chunk of T frames now in r->in and stores its rows from @row0. */
static gboolean
run_chunk (MorEncoderSession *s, guint32 T, guint32 row0, GError **error)
{
  guint32 P = mor_encoder_n_rows (T), out_dim = s->enc->config.output_dim;
  if (P == 0)           /* under 3 frames: the one conv2 frame is the odd one pooling drops */
    return TRUE;
  MorVkStream *st = s->full;
  if (T != s->chunk_frames) {
    st = s->tail;
    if (s->tail_frames != T) {
      fill_identity (s->r.eye_tail, (T - 1) / 2 + 1);
      mor_vk_stream_begin (st);
      record_chunk (s, st, T);
      s->tail_frames = 0;
      if (!mor_vk_stream_end (st, error))
        return FALSE;
      s->tail_frames = T;
    }
  }
  if (!mor_vk_stream_submit (st, error))
    return FALSE;
  ensure_rows (s, row0 + P);
  memcpy (s->rows + (gsize) row0 * out_dim, (const char *) s->r.out.buf->mapped + s->r.out.offset,
          (gsize) P * out_dim * 4);
  return TRUE;
}

/* Copies chunk [n_mel, T] (rows of @stride floats) into r->in and runs it. */
static gboolean
encode_chunk (MorEncoderSession *s, const float *mel, guint32 stride, guint32 T, guint32 row0, GError **error)
{
  guint32 nm = s->enc->config.num_mel_bins;
  float *in = (float *) ((char *) s->r.in.buf->mapped + s->r.in.offset);
  for (guint32 m = 0; m < nm; m++)
    memcpy (in + (gsize) m * T, mel + (gsize) m * stride, (gsize) T * 4);
  return run_chunk (s, T, row0, error);
}

gboolean
mor_encoder_session_push (MorEncoderSession *s, const float *samples, gsize n, GError **error)
{
  g_return_val_if_fail (!s->finished, FALSE);
  if (!mor_mel_stream_push (s->mel, samples, n, error))
    return FALSE;
  guint32 B = s->chunk_frames, per_chunk = mor_encoder_n_rows (B), k;
  GError *local = NULL;
  const float *mel;
  while ((mel = mor_mel_stream_next_chunk (s->mel, &k, &local))) {
    if (!encode_chunk (s, mel, B, B, k * per_chunk, error))
      return FALSE;
    s->n_pushed = k + 1;
    s->n_rows = s->n_pushed * per_chunk;
  }
  if (local) {
    g_propagate_error (error, local);
    return FALSE;
  }
  return TRUE;
}

gboolean
mor_encoder_session_finish (MorEncoderSession *s, GError **error)
{
  g_return_val_if_fail (!s->finished, FALSE);
  if (!mor_mel_stream_finish (s->mel, error))
    return FALSE;
  guint32 B = s->chunk_frames, per_chunk = mor_encoder_n_rows (B);
  guint32 L = mor_mel_stream_n_frames (s->mel), n_chunks = mor_mel_stream_n_chunks (s->mel);
  s->first_revised = s->n_rows;
  for (guint32 k = 0; k < n_chunks; k++) {
    if (k < s->n_pushed && !mor_mel_stream_chunk_revised (s->mel, k))
      continue;
    if (k < s->n_pushed)
      s->first_revised = MIN (s->first_revised, k * per_chunk);
    guint32 T;
    const float *mel = mor_mel_stream_get_chunk (s->mel, k, &T);
    if (!encode_chunk (s, mel, T, T, k * per_chunk, error))
      return FALSE;
  }
  s->n_rows = mor_encoder_n_rows (L);
  ensure_rows (s, s->n_rows);
  s->finished = TRUE;
  return TRUE;
}

gboolean
mor_encoder_session_encode_mel (MorEncoderSession *s, const float *mel, guint32 n_frames, GError **error)
{
  guint32 B = s->chunk_frames, per_chunk = mor_encoder_n_rows (B);
  mor_encoder_session_reset (s);
  s->finished = TRUE;
  for (guint32 k = 0; k * B < n_frames; k++) {
    guint32 T = MIN (B, n_frames - k * B);
    if (!encode_chunk (s, mel + (gsize) k * B, n_frames, T, k * per_chunk, error))
      return FALSE;
  }
  s->n_rows = mor_encoder_n_rows (n_frames);
  ensure_rows (s, s->n_rows);
  return TRUE;
}

guint32
mor_encoder_session_n_rows (MorEncoderSession *s)
{
  return s->n_rows;
}

const float *
mor_encoder_session_get_rows (MorEncoderSession *s)
{
  return s->rows;
}

guint32
mor_encoder_session_first_revised (MorEncoderSession *s)
{
  return s->first_revised;
}

/**
 * mor_encoder_encode:
 * @enc: the encoder
 * @samples: (array length=n): the utterance, 16 kHz mono float
 * @n: samples
 * @n_rows: (out): rows returned (mor_encoder_n_rows (mor_mel_n_frames (n)))
 * @error: return location for a #GError, or %NULL
 *
 * The log-mel features of the whole utterance, then the encoder chunk by chunk:
 * what transformers computes for one audio.
 *
 * Returns: (transfer full): [*n_rows, output_dim] floats; %NULL when there are
 * no rows (@error unset) or on error (@error set)
 */
float *
mor_encoder_encode (MorEncoder *enc, const float *samples, guint64 n, guint32 *n_rows, GError **error)
{
  *n_rows = 0;
  n = MIN (n, MOR_MEL_MAX_SAMPLES);
  g_autoptr (MorEncoderSession) s = mor_encoder_session_new (enc, MAX (n, 1), error);
  /* No provisional chunks: finish encodes every chunk once, with the final max. */
  if (!s || !mor_mel_stream_push (s->mel, samples, n, error) || !mor_encoder_session_finish (s, error))
    return NULL;
  *n_rows = s->n_rows;
  if (s->n_rows == 0)
    return NULL;
  return g_memdup2 (s->rows, (gsize) s->n_rows * enc->config.output_dim * 4);
}

/* ---- the C reference ---- */

static void
ref_linear (const MorWeight *w, const MorWeight *b, const float *x, float *y, guint32 n)
{
  mor_ref_matmul (w->type, w->host, x, b ? b->host : NULL, y, w->rows, w->cols, n);
}

/* The encoder layers on one chunk of T frames (mel [n_mel, T]): x [T2, d]. */
static void
reference_chunk (MorEncoder *e, const float *mel, guint32 T, float *x)
{
  const MorEncoderConfig *c = &e->config;
  guint32 d = c->d_model, nm = c->num_mel_bins, ff = c->encoder_ffn_dim;
  guint32 nh = c->encoder_attention_heads, hd = c->head_dim;
  guint32 T2 = (T - 1) / 2 + 1;
  float scale = 1.0f / sqrtf ((float) hd);
  MorConv1d conv1, conv2;
  conv_geometry (&conv1, nm, d, T, 1);
  conv_geometry (&conv2, d, d, T, 2);
  g_autofree float *c1 = g_new (float, (gsize) d * T), *c2 = g_new (float, (gsize) d * T2);
  g_autofree float *eye = g_new0 (float, (gsize) T2 * T2);
  g_autofree float *xb = g_new (float, (gsize) T2 * d), *q = g_new (float, (gsize) T2 * d);
  g_autofree float *k = g_new (float, (gsize) T2 * d), *v = g_new (float, (gsize) T2 * d);
  g_autofree float *att = g_new (float, (gsize) T2 * d), *hb = g_new (float, (gsize) T2 * ff);
  for (guint32 i = 0; i < T2; i++)
    eye[(gsize) i * T2 + i] = 1.0f;

  mor_ref_conv1d (&conv1, e->conv1_w.type, mel, e->conv1_w.host, e->conv1_b.host, c1);
  mor_ref_unary (MOR_UNARY_GELU_ERF, c1, c1, d * T);
  mor_ref_conv1d (&conv2, e->conv2_w.type, c1, e->conv2_w.host, e->conv2_b.host, c2);
  mor_ref_unary (MOR_UNARY_GELU_ERF, c2, c2, d * T2);
  mor_ref_matmul (MOR_TYPE_F32, c2, eye, NULL, x, d, T2, T2);
  mor_ref_binary (MOR_BINARY_ADD, x, e->pos.host, x, T2, d, MOR_BROADCAST_NONE);
  for (guint32 l = 0; l < c->encoder_layers; l++) {
    const Layer *L = &e->layers[l];
    mor_ref_layer_norm (x, L->ln1_w.host, L->ln1_b.host, xb, T2, d, c->layer_norm_eps);
    ref_linear (&L->wq, &L->bq, xb, q, T2);
    ref_linear (&L->wk, NULL, xb, k, T2);
    ref_linear (&L->wv, &L->bv, xb, v, T2);
    mor_ref_attention (q, k, v, att, T2, T2, nh, nh, hd, scale, 0, 0, 0);
    ref_linear (&L->wo, &L->bo, att, xb, T2);
    mor_ref_binary (MOR_BINARY_ADD, x, xb, x, T2, d, MOR_BROADCAST_NONE);
    mor_ref_layer_norm (x, L->ln2_w.host, L->ln2_b.host, xb, T2, d, c->layer_norm_eps);
    ref_linear (&L->w_up, &L->b_up, xb, hb, T2);
    mor_ref_unary (MOR_UNARY_GELU_ERF, hb, hb, T2 * ff);
    ref_linear (&L->w_down, &L->b_down, hb, xb, T2);
    mor_ref_binary (MOR_BINARY_ADD, x, xb, x, T2, d, MOR_BROADCAST_NONE);
  }
}

void
mor_encoder_reference_forward (MorEncoder *e, const float *mel, guint32 n_frames, float *out)
{
  const MorEncoderConfig *c = &e->config;
  guint32 d = c->d_model, nm = c->num_mel_bins, B = 2 * c->n_window;
  guint32 total = n_frames ? (n_frames - 1) / 2 + 1 : 0, P = total / 2;
  g_autofree float *h = g_new (float, (gsize) MAX (total, 1) * d);
  g_autofree float *chunk = g_new (float, (gsize) nm * B);
  /* Every chunk on its own; their outputs concatenated: hidden_states [Σ T2, d] */
  guint32 row = 0;
  for (guint32 t0 = 0; t0 < n_frames; t0 += B) {
    guint32 T = MIN (B, n_frames - t0);
    for (guint32 m = 0; m < nm; m++)
      memcpy (chunk + (gsize) m * T, mel + (gsize) m * n_frames + t0, (gsize) T * 4);
    reference_chunk (e, chunk, T, h + (gsize) row * d);
    row += (T - 1) / 2 + 1;
  }
  g_assert (row == total);
  if (P == 0)
    return;
  /* Per audio: avg_pooler over the concatenation, ln_post, proj */
  g_autofree float *pooled = g_new (float, (gsize) P * d);
  mor_ref_avg_pool1d (h, pooled, d, total, 2, 2, TRUE);
  mor_ref_layer_norm (pooled, e->post_w.host, e->post_b.host, pooled, P, d, c->layer_norm_eps);
  ref_linear (&e->fc_w, &e->fc_b, pooled, out, P);
}
