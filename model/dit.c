/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The token2wav DiT on Vulkan (fp32), its flow-matching sampler, and its C
 * reference forward. */
#include "dit.h"

#include <math.h>
#include <string.h>

#include "ops.h"
#include "weight.h"

G_DEFINE_QUARK (mor-dit-error-quark, mor_dit_error)

typedef struct {
  MorWeight ada_w, ada_b;          /* (6D, D), (6D) attn_norm.linear: shift, scale, gate (attention), same (MLP) */
  MorWeight wq, bq, wk, bk, wv, bv; /* (I, D), (I) attn.to_q, to_k, to_v */
  MorWeight wo, bo;                /* (D, I), (D) attn.to_out.0 */
  MorWeight w_up, b_up;            /* (FF, D), (FF) ff.ff.0 */
  MorWeight w_down, b_down;        /* (D, FF), (D) ff.ff.3 */
  guint32 look_back, look_ahead;   /* attention blocks seen before / after a frame's own (0 or 1) */
} Layer;

struct _MorDit {
  MorVkDevice *dev;
  MorGguf *gguf;
  MorDitConfig config;
  MorEcapa *ecapa;
  guint32 in_dim;                  /* mel + enc_dim + enc_emb_dim + emb_dim: the projection's input */
  guint32 inner;                   /* I = num_attention_heads · head_dim */
  guint32 ff;                      /* FF = hidden_size · ff_mult */
  MorWeight time_in_w, time_in_b;  /* (D, freq_embed_dim), (D) time_embed.time_mlp.0 */
  MorWeight time_out_w, time_out_b; /* (D, D), (D) time_mlp.2 */
  const MorGgufTensor *code_embd;  /* (num_embeds + 1, emb_dim) text_embed.codec_embed, read on the host */
  MorWeight inp_w, inp_b;          /* (D, in_dim), (D) input_embed.proj */
  MorWeight inv_freq;              /* (head_dim / 2) rotary_embed.inv_freq */
  Layer *layers;                   /* num_hidden_layers */
  MorWeight out_ada_w, out_ada_b;  /* (2D, D), (2D) norm_out.linear: scale, then shift */
  MorWeight out_w, out_b;          /* (mel, D), (mel) proj_out */
};

/* ---- loading ---- */

static gboolean
read_layer_list (MorGguf *g, const char *key, guint32 n_layers, guint32 *list, guint32 *n, GError **error)
{
  guint64 len;
  const guint32 *v = mor_gguf_get_array_data (g, key, MOR_GGUF_VALUE_UINT32, &len, error);
  if (!v)
    return FALSE;
  if (len > MOR_DIT_MAX_LAYER_LIST) {
    g_set_error (error, MOR_DIT_ERROR, MOR_DIT_ERROR_CONFIG, "%s: %s has %" G_GUINT64_FORMAT " entries; at most %d",
                 mor_gguf_get_name (g), key, len, MOR_DIT_MAX_LAYER_LIST);
    return FALSE;
  }
  for (guint64 i = 0; i < len; i++)
    if (v[i] >= n_layers) {
      g_set_error (error, MOR_DIT_ERROR, MOR_DIT_ERROR_CONFIG, "%s: %s names layer %u; the DiT has %u",
                   mor_gguf_get_name (g), key, v[i], n_layers);
      return FALSE;
    }
  memcpy (list, v, len * 4);
  *n = (guint32) len;
  return TRUE;
}

static gboolean
read_config (MorGguf *g, MorDitConfig *c, GError **error)
{
  struct { const char *key; guint32 *v; guint32 max; } dims[] = {
    { "mor.dit.hidden_size", &c->hidden_size, 65536 }, { "mor.dit.num_hidden_layers", &c->num_hidden_layers, 1024 },
    { "mor.dit.num_attention_heads", &c->num_attention_heads, 1024 }, { "mor.dit.head_dim", &c->head_dim, 4096 },
    { "mor.dit.ff_mult", &c->ff_mult, 64 }, { "mor.dit.emb_dim", &c->emb_dim, 65536 },
    { "mor.dit.num_embeds", &c->num_embeds, 1u << 24 }, { "mor.dit.repeats", &c->repeats, 64 },
    { "mor.dit.block_size", &c->block_size, 1u << 20 }, { "mor.dit.mel_dim", &c->mel_dim, 65536 },
    { "mor.dit.enc_emb_dim", &c->enc_emb_dim, 65536 }, { "mor.dit.enc_dim", &c->enc_dim, 65536 },
  };
  const char *name = mor_gguf_get_name (g);
  for (guint i = 0; i < G_N_ELEMENTS (dims); i++) {
    if (!mor_gguf_get_u32 (g, dims[i].key, dims[i].v, error))
      return FALSE;
    if (*dims[i].v == 0 || *dims[i].v > dims[i].max) {
      g_set_error (error, MOR_DIT_ERROR, MOR_DIT_ERROR_CONFIG, "%s: %s is %u; expected 1 to %u", name, dims[i].key,
                   *dims[i].v, dims[i].max);
      return FALSE;
    }
  }
  if (!mor_gguf_get_u32_default (g, "mor.dit.freq_embed_dim", 256, &c->freq_embed_dim, error) ||
      !mor_gguf_get_f32_default (g, "mor.dit.layer_norm_eps", 1e-6f, &c->layer_norm_eps, error) ||
      !mor_gguf_get_f32_default (g, "mor.dit.time_scale", 1000.0f, &c->time_scale, error) ||
      !read_layer_list (g, "mor.dit.look_ahead_layers", c->num_hidden_layers, c->look_ahead_layers,
                        &c->n_look_ahead_layers, error) ||
      !read_layer_list (g, "mor.dit.look_backward_layers", c->num_hidden_layers, c->look_backward_layers,
                        &c->n_look_backward_layers, error))
    return FALSE;
  const char *bad = NULL;
  if (c->head_dim % 4 != 0)
    bad = "mor.dit.head_dim is not a multiple of 4";
  else if (c->freq_embed_dim < 4 || c->freq_embed_dim % 2 != 0 || c->freq_embed_dim > 65536)
    bad = "mor.dit.freq_embed_dim is not an even number from 4 to 65536";
  else if ((guint64) c->num_attention_heads * c->head_dim > 65536 || (guint64) c->hidden_size * c->ff_mult > 1u << 20)
    bad = "mor.dit.num_attention_heads · head_dim over 65536, or hidden_size · ff_mult over 2^20";
  else if (!(c->layer_norm_eps > 0) || !isfinite (c->layer_norm_eps) || !isfinite (c->time_scale))
    bad = "mor.dit.layer_norm_eps not a positive number, or mor.dit.time_scale not finite";
  if (bad) {
    g_set_error (error, MOR_DIT_ERROR, MOR_DIT_ERROR_CONFIG, "%s: %s", name, bad);
    return FALSE;
  }
  return TRUE;
}

static gboolean
list_has (const guint32 *list, guint32 n, guint32 v)
{
  for (guint32 i = 0; i < n; i++)
    if (list[i] == v)
      return TRUE;
  return FALSE;
}

/* Linear(in, out): "@prefix.weight" (out, in), "@prefix.bias" (out). */
static gboolean
load_linear (MorDit *dit, MorWeight *w, MorWeight *b, const char *prefix, guint32 out, guint32 in, GError **error)
{
  g_autofree char *wn = g_strdup_printf ("%s.weight", prefix), *bn = g_strdup_printf ("%s.bias", prefix);
  return mor_weight_load_matrix (w, dit->dev, dit->gguf, wn, out, in, error) &&
         mor_weight_load_vector (b, dit->dev, dit->gguf, bn, out, FALSE, error);
}

void
mor_dit_free (MorDit *dit)
{
  if (!dit)
    return;
  for (guint32 l = 0; dit->layers && l < dit->config.num_hidden_layers; l++) {
    Layer *L = &dit->layers[l];
    MorWeight *all[] = { &L->ada_w, &L->ada_b, &L->wq, &L->bq, &L->wk, &L->bk, &L->wv, &L->bv, &L->wo, &L->bo,
                         &L->w_up, &L->b_up, &L->w_down, &L->b_down };
    for (guint i = 0; i < G_N_ELEMENTS (all); i++)
      mor_weight_clear (all[i]);
  }
  g_free (dit->layers);
  MorWeight *all[] = { &dit->time_in_w, &dit->time_in_b, &dit->time_out_w, &dit->time_out_b, &dit->inp_w,
                       &dit->inp_b, &dit->inv_freq, &dit->out_ada_w, &dit->out_ada_b, &dit->out_w, &dit->out_b };
  for (guint i = 0; i < G_N_ELEMENTS (all); i++)
    mor_weight_clear (all[i]);
  mor_ecapa_free (dit->ecapa);
  g_clear_pointer (&dit->gguf, mor_gguf_unref);
  g_clear_pointer (&dit->dev, mor_vk_device_unref);
  g_free (dit);
}

MorDit *
mor_dit_load (MorVkDevice *dev, MorGguf *gguf, GError **error)
{
  g_autoptr (MorDit) dit = g_new0 (MorDit, 1);
  dit->dev = mor_vk_device_ref (dev);
  dit->gguf = mor_gguf_ref (gguf);
  MorDitConfig *c = &dit->config;
  if (!read_config (gguf, c, error) || !(dit->ecapa = mor_ecapa_load (dev, gguf, error)))
    return NULL;
  guint32 D = c->hidden_size, fe = c->freq_embed_dim;
  dit->inner = c->num_attention_heads * c->head_dim;
  dit->ff = D * c->ff_mult;
  dit->in_dim = c->mel_dim + c->enc_dim + c->enc_emb_dim + c->emb_dim;
  guint32 I = dit->inner, FF = dit->ff;
  if (!load_linear (dit, &dit->time_in_w, &dit->time_in_b, "t2w.dit.time_in", D, fe, error) ||
      !load_linear (dit, &dit->time_out_w, &dit->time_out_b, "t2w.dit.time_out", D, D, error) ||
      !load_linear (dit, &dit->inp_w, &dit->inp_b, "t2w.dit.inp_proj", D, dit->in_dim, error) ||
      !mor_weight_load_vector (&dit->inv_freq, dev, gguf, "t2w.dit.rope_inv_freq", c->head_dim / 2, FALSE, error))
    return NULL;
  /* the codec table stays on the host: the input rows are assembled there */
  guint64 ne[2] = { c->emb_dim, (guint64) c->num_embeds + 1 };
  if (!mor_gguf_check_tensor (gguf, "t2w.dit.code_embd.weight", 2, ne, &dit->code_embd, error))
    return NULL;
  if (mor_type_row_bytes (dit->code_embd->type, c->emb_dim) == 0) {
    g_set_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE, "%s: tensor t2w.dit.code_embd.weight is %s; its "
                 "rows of %u are not whole blocks", mor_gguf_get_name (gguf), mor_type_name (dit->code_embd->type),
                 c->emb_dim);
    return NULL;
  }
  dit->layers = g_new0 (Layer, c->num_hidden_layers);
  for (guint32 l = 0; l < c->num_hidden_layers; l++) {
    Layer *L = &dit->layers[l];
    struct { MorWeight *w, *b; const char *name; guint32 out, in; } t[] = {
      { &L->ada_w, &L->ada_b, "adaln", 6 * D, D }, { &L->wq, &L->bq, "attn_q", I, D },
      { &L->wk, &L->bk, "attn_k", I, D }, { &L->wv, &L->bv, "attn_v", I, D },
      { &L->wo, &L->bo, "attn_output", D, I }, { &L->w_up, &L->b_up, "ffn_up", FF, D },
      { &L->w_down, &L->b_down, "ffn_down", D, FF },
    };
    for (guint i = 0; i < G_N_ELEMENTS (t); i++) {
      g_autofree char *prefix = g_strdup_printf ("t2w.dit.blk.%u.%s", l, t[i].name);
      if (!load_linear (dit, t[i].w, t[i].b, prefix, t[i].out, t[i].in, error))
        return NULL;
    }
    /* DiTDecoderLayer(look_ahead_block=1 if i in look_ahead_layers else 0, …) */
    L->look_ahead = list_has (c->look_ahead_layers, c->n_look_ahead_layers, l);
    L->look_back = list_has (c->look_backward_layers, c->n_look_backward_layers, l);
  }
  if (!load_linear (dit, &dit->out_ada_w, &dit->out_ada_b, "t2w.dit.adaln_out", 2 * D, D, error) ||
      !load_linear (dit, &dit->out_w, &dit->out_b, "t2w.dit.output", c->mel_dim, D, error))
    return NULL;
  return g_steal_pointer (&dit);
}

const MorDitConfig *
mor_dit_get_config (MorDit *dit)
{
  return &dit->config;
}

MorEcapa *
mor_dit_get_ecapa (MorDit *dit)
{
  return dit->ecapa;
}

/* ---- speakers ---- */

static gboolean
valid_speaker_name (const char *name)
{
  gsize n = strlen (name);
  if (n < 1 || n > 32)
    return FALSE;
  for (gsize i = 0; i < n; i++)
    if (!g_ascii_isalnum (name[i]) && name[i] != '_' && name[i] != '-')
      return FALSE;
  return TRUE;
}

/* ", "-separated names of mor.speakers.names, or "none listed". */
static char *
speaker_list (MorGguf *g)
{
  guint64 n;
  if (mor_gguf_find_key (g, "mor.speakers.names") < 0 || !mor_gguf_get_string_array (g, "mor.speakers.names", &n, NULL))
    return g_strdup ("none listed");
  GString *s = g_string_new (NULL);
  for (guint64 i = 0; i < n; i++) {
    gsize len;
    const char *v = mor_gguf_get_array_string (g, "mor.speakers.names", i, &len);
    g_string_append_printf (s, "%s%.*s", i ? ", " : "", (int) MIN (len, 64), v);
  }
  return g_string_free (s, FALSE);
}

gboolean
mor_dit_find_speaker (MorDit *dit, const char *name, const float **cond, const float **ref_mel, guint32 *n_frames,
                      GError **error)
{
  const MorDitConfig *c = &dit->config;
  MorGguf *g = dit->gguf;
  const char *file = mor_gguf_get_name (g);
  if (!name) {
    if (!mor_gguf_get_string_default (g, "mor.speakers.default", NULL, &name, error))
      return FALSE;
    if (!name) {
      g_set_error (error, MOR_DIT_ERROR, MOR_DIT_ERROR_SPEAKER, "%s: no speaker named and no mor.speakers.default",
                   file);
      return FALSE;
    }
  }
  if (!valid_speaker_name (name)) {
    g_set_error (error, MOR_DIT_ERROR, MOR_DIT_ERROR_SPEAKER,
                 "speaker name “%s” is not 1 to 32 letters, digits, '_' or '-'", name);
    return FALSE;
  }
  g_autofree char *cname = g_strdup_printf ("spk.%s.cond", name), *rname = g_strdup_printf ("spk.%s.ref_mel", name);
  const MorGgufTensor *tc = mor_gguf_find_tensor (g, cname), *tr = mor_gguf_find_tensor (g, rname);
  if (!tc || !tr) {
    g_autofree char *list = speaker_list (g);
    g_set_error (error, MOR_DIT_ERROR, MOR_DIT_ERROR_SPEAKER, "%s: no speaker “%s” (no tensor %s); speakers: %s",
                 file, name, tc ? rname : cname, list);
    return FALSE;
  }
  guint64 ne_c[1] = { c->enc_emb_dim }, ne_r[2] = { c->mel_dim, tr->n_dims == 2 ? tr->ne[1] : 1 };
  if (!mor_gguf_check_tensor_type (g, cname, MOR_TYPE_F32, 1, ne_c, NULL, error) ||
      !mor_gguf_check_tensor_type (g, rname, MOR_TYPE_F32, 2, ne_r, NULL, error))
    return FALSE;
  if (ne_r[1] == 0 || ne_r[1] > G_MAXUINT32 / c->mel_dim) {
    g_set_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE, "%s: tensor %s has %" G_GUINT64_FORMAT " frames",
                 file, rname, ne_r[1]);
    return FALSE;
  }
  *cond = tc->data;
  *ref_mel = tr->data;
  *n_frames = (guint32) ne_r[1];
  return TRUE;
}

void
mor_dit_speaker_free (MorDitSpeaker *spk)
{
  if (!spk)
    return;
  g_free (spk->cond);
  g_free (spk->spk);
  g_free (spk->spk_null);
  g_free (spk);
}

MorDitSpeaker *
mor_dit_speaker_new (MorDit *dit, const float *cond, const float *ref_mel, guint32 n_frames, gboolean reference,
                     GError **error)
{
  const MorDitConfig *c = &dit->config;
  g_autoptr (MorDitSpeaker) spk = g_new0 (MorDitSpeaker, 1);
  spk->cond = g_memdup2 (cond, (gsize) c->enc_emb_dim * 4);
  spk->spk = g_new (float, c->enc_dim);
  spk->spk_null = g_new (float, c->enc_dim);
  /* DiTInputEmbedding with apply_cfg: the null branch's reference mel is zeros_like(ref_mel) */
  if (!mor_ecapa_check_input (dit->ecapa, ref_mel, n_frames, error))
    return NULL;
  g_autofree float *zeros = g_new0 (float, (gsize) n_frames * c->mel_dim);
  if (reference) {
    mor_ecapa_reference_forward (dit->ecapa, ref_mel, n_frames, spk->spk);
    mor_ecapa_reference_forward (dit->ecapa, zeros, n_frames, spk->spk_null);
  } else if (!mor_ecapa_compute (dit->ecapa, ref_mel, n_frames, spk->spk, error) ||
             !mor_ecapa_compute (dit->ecapa, zeros, n_frames, spk->spk_null, error)) {
    return NULL;
  }
  return g_steal_pointer (&spk);
}

MorDitSpeaker *
mor_dit_speaker_load (MorDit *dit, const char *name, GError **error)
{
  const float *cond, *ref_mel;
  guint32 n_frames;
  if (!mor_dit_find_speaker (dit, name, &cond, &ref_mel, &n_frames, error))
    return NULL;
  return mor_dit_speaker_new (dit, cond, ref_mel, n_frames, FALSE, error);
}

/* ---- inputs ---- */

static gboolean
check_codes (MorDit *dit, const guint32 *codes, guint32 n_codes, guint32 max_codes, GError **error)
{
  const MorDitConfig *c = &dit->config;
  if (n_codes == 0 || n_codes > max_codes) {
    g_set_error (error, MOR_DIT_ERROR, MOR_DIT_ERROR_INPUT, "%u codes; the DiT takes 1 to %u here", n_codes,
                 max_codes);
    return FALSE;
  }
  for (guint32 i = 0; i < n_codes; i++)
    if (codes[i] > c->num_embeds) {
      g_set_error (error, MOR_DIT_ERROR, MOR_DIT_ERROR_INPUT, "code %u (position %u) has no row in the DiT's codec "
                   "embedding t2w.dit.code_embd.weight (%u rows)", codes[i], i, c->num_embeds + 1);
      return FALSE;
    }
  return TRUE;
}

/* The projection's input rows for @nb branches of @T frames, @stride rows
 * apart: [x_t | ECAPA | code_embd[code] | cond] (DiTInputEmbedding's cat),
 * branch 0 conditional, branch 1 null (ECAPA of zeros, code 0, cond 0); the
 * x_t columns and rows past T are left 0. */
static void
fill_input (MorDit *dit, const MorDitSpeaker *spk, const guint32 *codes, guint32 T, guint32 nb, guint32 stride,
            float *X)
{
  const MorDitConfig *c = &dit->config;
  guint32 in = dit->in_dim, mel = c->mel_dim;
  guint64 row_bytes = mor_type_row_bytes (dit->code_embd->type, c->emb_dim);
  memset (X, 0, (gsize) nb * stride * in * 4);
  for (guint32 b = 0; b < nb; b++)
    for (guint32 f = 0; f < T; f++) {
      float *row = X + ((gsize) b * stride + f) * in;
      guint32 code = b == 0 ? codes[f / c->repeats] : 0;   /* repeat_interleave(code_embed, repeats) */
      memcpy (row + mel, b == 0 ? spk->spk : spk->spk_null, (gsize) c->enc_dim * 4);
      mor_ref_dequantize_row (dit->code_embd->type, (const guint8 *) dit->code_embd->data + code * row_bytes,
                              row + mel + c->enc_dim, c->emb_dim);
      if (b == 0)
        memcpy (row + mel + c->enc_dim + c->emb_dim, spk->cond, (gsize) c->enc_emb_dim * 4);
    }
}

/* The state x_t [T, mel] into the first columns of every branch's rows. */
static void
put_x (MorDit *dit, const float *x, guint32 T, guint32 nb, guint32 stride, float *X)
{
  guint32 mel = dit->config.mel_dim;
  for (guint32 b = 0; b < nb; b++)
    for (guint32 f = 0; f < T; f++)
      memcpy (X + ((gsize) b * stride + f) * dit->in_dim, x + (gsize) f * mel, (gsize) mel * 4);
}

/* SinusPositionEmbedding(freq_embed_dim)(t, scale=time_scale), fp32 as torch:
 * f_i = exp(i · −ln(10⁴)/(half − 1)), a = (scale·t)·f_i, [sin a | cos a]. */
static void
time_sinusoid (const MorDitConfig *c, float t, float *emb)
{
  guint32 half = c->freq_embed_dim / 2;
  float step = (float) -(log (10000.0) / (half - 1)), st = c->time_scale * t;
  for (guint32 i = 0; i < half; i++) {
    float a = st * expf ((float) i * step);
    emb[i] = sinf (a);
    emb[half + i] = cosf (a);
  }
}

/* ---- the forward pass on the device ---- */

/* Activations for R = 2 branches × stride rows, allocated once per session. */
typedef struct {
  MorVkView x_in;               /* (R, in_dim) host: the projection's input */
  MorVkView t_in;               /* (freq_embed_dim) host: the time sinusoid */
  MorVkView pos;                /* (4) host: RoPE position 0 */
  MorVkView out;                /* (R, mel) host: velocities */
  MorVkView x;                  /* (R, in_dim) */
  MorVkView tf;                 /* (freq_embed_dim) */
  MorVkView tmid;               /* (D) */
  MorVkView temb;               /* (D) SiLU(time embedding): what every AdaLN reads */
  MorVkView mod;                /* (6D) one block's shift, scale, gate ×2; norm_out's scale, shift */
  MorVkView h, n;               /* (R, D) residual stream; normed, projected */
  MorVkView q, k, v, att;       /* (R, I) */
  MorVkView u;                  /* (R, FF) */
} RunState;

struct _MorDitSession {
  MorDit *dit;
  guint32 max_codes;
  MorVkArena *device_arena, *host_arena;
  RunState r;
  MorVkStream *stream;
  guint32 rec_frames, rec_branches;  /* what the stream holds (0: nothing) */
  guint32 n_frames, n_branches, stride;  /* the input in r.x_in */
  float *vb;                    /* (2, T, mel) branch velocities, host */
};

static MorVkView
wview (const MorWeight *w)
{
  return mor_weight_view (w);
}

static MorVkView
part (MorVkView v, guint64 i, guint64 n_floats)
{
  return mor_vk_view_sub (v, i * n_floats * 4, n_floats * 4);
}

/* F.linear over n rows. */
static void
linear (MorVkStream *st, const MorWeight *w, const MorWeight *b, MorVkView x, MorVkView y, guint32 n)
{
  mor_op_matmul (st, w->type, wview (w), x, wview (b), y, w->rows, w->cols, n);
}

/* F.linear of one vector (the time embedding and the modulations): the
 * matrix-vector kernel where rows suit it (it streams the weights; matmul's
 * tiles would be mostly empty). */
static void
linear1 (MorVkStream *st, const MorWeight *w, const MorWeight *b, MorVkView x, MorVkView y)
{
  if (w->cols % 8 == 0)
    mor_op_matvec (st, w->type, wview (w), x, wview (b), y, w->rows, w->cols, 1);
  else
    mor_op_matmul (st, w->type, wview (w), x, wview (b), y, w->rows, w->cols, 1);
}

/* Branch rows: T frames of @stride, so that every branch's q, k, v views start
 * at a binding offset the device allows. */
static guint32
branch_stride (MorDit *dit, guint32 T)
{
  guint64 align = mor_vk_device_get_info (dit->dev)->min_storage_align, a = align, b = (guint64) dit->inner * 4;
  while (b) {
    guint64 t = a % b;
    a = b;
    b = t;
  }
  guint32 step = (guint32) (align / a);
  return (T + step - 1) / step * step;
}

/* Records one evaluation on @nb branches of T frames (rows @stride apart) from
 * r->x_in and r->t_in to r->out. The same sequence of ops as reference_forward(). */
static void
record (MorDitSession *s, MorVkStream *st, guint32 T, guint32 nb, guint32 stride)
{
  MorDit *dit = s->dit;
  const MorDitConfig *c = &dit->config;
  const RunState *r = &s->r;
  guint32 D = c->hidden_size, I = dit->inner, FF = dit->ff, nh = c->num_attention_heads, hd = c->head_dim;
  guint32 R = nb * stride;
  float scale = 1.0f / sqrtf ((float) hd);
  mor_vk_stream_copy (st, part (r->x_in, 0, (guint64) R * dit->in_dim), part (r->x, 0, (guint64) R * dit->in_dim));
  mor_vk_stream_copy (st, r->t_in, r->tf);
  if (stride > T)   /* attention leaves the padding rows alone: keep them finite */
    mor_vk_stream_fill (st, part (r->att, 0, (guint64) R * I), 0);
  // DiTTimestepEmbedding: time_mlp(sinusoid); every AdaLN then takes SiLU of it
  linear1 (st, &dit->time_in_w, &dit->time_in_b, r->tf, r->tmid);
  mor_op_unary (st, MOR_UNARY_SILU, r->tmid, r->tmid, D);
  linear1 (st, &dit->time_out_w, &dit->time_out_b, r->tmid, r->temb);
  mor_op_unary (st, MOR_UNARY_SILU, r->temb, r->temb, D);
  // DiTInputEmbedding: proj(cat(x_t, ECAPA, code_embed, cond))
  linear (st, &dit->inp_w, &dit->inp_b, r->x, r->h, R);
  for (guint32 l = 0; l < c->num_hidden_layers; l++) {
    const Layer *L = &dit->layers[l];
    // Qwen2_5_OmniAdaLayerNormZero: shift, scale, gate (msa), shift, scale, gate (mlp) = linear(silu(temb))
    linear1 (st, &L->ada_w, &L->ada_b, r->temb, r->mod);
    mor_op_scale (st, part (r->mod, 1, D), part (r->mod, 1, D), D, 1.0f, 1.0f);   // 1 + scale_msa
    mor_op_scale (st, part (r->mod, 4, D), part (r->mod, 4, D), D, 1.0f, 1.0f);   // 1 + scale_mlp
    // norm = LN(h)·(1 + scale_msa) + shift_msa
    mor_op_layer_norm (st, r->h, part (r->mod, 1, D), part (r->mod, 0, D), r->n, R, D, c->layer_norm_eps);
    // DiTAttention: q, k, v; RoPE on head 0 only; block-masked SDPA per branch
    linear (st, &L->wq, &L->bq, r->n, r->q, R);
    linear (st, &L->wk, &L->bk, r->n, r->k, R);
    linear (st, &L->wv, &L->bv, r->n, r->v, R);
    for (guint32 b = 0; b < nb; b++) {
      MorVkView qb = part (r->q, b, (guint64) stride * I), kb = part (r->k, b, (guint64) stride * I);
      mor_op_rope (st, MOR_ROPE_INTERLEAVED, qb, wview (&dit->inv_freq), r->pos, qb, T, nh, hd, hd, 1);
      mor_op_rope (st, MOR_ROPE_INTERLEAVED, kb, wview (&dit->inv_freq), r->pos, kb, T, nh, hd, hd, 1);
      mor_op_attention (st, qb, kb, part (r->v, b, (guint64) stride * I), part (r->att, b, (guint64) stride * I), T,
                        T, nh, nh, hd, scale, c->block_size, L->look_back, L->look_ahead);
    }
    linear (st, &L->wo, &L->bo, r->att, r->n, R);
    // h = h + gate_msa · attn
    mor_op_binary (st, MOR_BINARY_MUL, r->n, part (r->mod, 2, D), r->n, R, D, MOR_BROADCAST_ROW);
    mor_op_binary (st, MOR_BINARY_ADD, r->h, r->n, r->h, R, D, MOR_BROADCAST_NONE);
    // h = h + gate_mlp · ff(LN(h)·(1 + scale_mlp) + shift_mlp), ff = Linear, GELU(tanh), Linear
    mor_op_layer_norm (st, r->h, part (r->mod, 4, D), part (r->mod, 3, D), r->n, R, D, c->layer_norm_eps);
    linear (st, &L->w_up, &L->b_up, r->n, r->u, R);
    mor_op_unary (st, MOR_UNARY_GELU_TANH, r->u, r->u, R * FF);
    linear (st, &L->w_down, &L->b_down, r->u, r->n, R);
    mor_op_binary (st, MOR_BINARY_MUL, r->n, part (r->mod, 5, D), r->n, R, D, MOR_BROADCAST_ROW);
    mor_op_binary (st, MOR_BINARY_ADD, r->h, r->n, r->h, R, D, MOR_BROADCAST_NONE);
  }
  // norm_out (Qwen2_5_OmniAdaLayerNormZero_Final): scale, shift = linear(silu(temb)); LN(h)·(1 + scale) + shift
  linear1 (st, &dit->out_ada_w, &dit->out_ada_b, r->temb, r->mod);
  mor_op_scale (st, part (r->mod, 0, D), part (r->mod, 0, D), D, 1.0f, 1.0f);
  mor_op_layer_norm (st, r->h, part (r->mod, 0, D), part (r->mod, 1, D), r->n, R, D, c->layer_norm_eps);
  // proj_out
  linear (st, &dit->out_w, &dit->out_b, r->n, r->out, R);
}

void
mor_dit_session_free (MorDitSession *s)
{
  if (!s)
    return;
  mor_vk_stream_free (s->stream);
  mor_vk_arena_free (s->device_arena);
  mor_vk_arena_free (s->host_arena);
  g_free (s->vb);
  g_free (s);
}

MorDitSession *
mor_dit_session_new (MorDit *dit, guint32 max_codes, GError **error)
{
  const MorDitConfig *c = &dit->config;
  const MorVkDeviceInfo *info = mor_vk_device_get_info (dit->dev);
  g_return_val_if_fail (max_codes > 0, NULL);
  if ((guint64) max_codes * c->repeats > 1u << 20) {
    g_set_error (error, MOR_DIT_ERROR, MOR_DIT_ERROR_INPUT, "a DiT session for %u codes: at most %u", max_codes,
                 (1u << 20) / c->repeats);
    return NULL;
  }
  guint32 D = c->hidden_size;
  if (((guint64) D * 4) % info->min_storage_align != 0) {
    g_set_error (error, MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED, "the DiT's hidden_size %u: rows of %u bytes do not "
                 "start at multiples of %s's storage alignment (%" G_GUINT64_FORMAT " bytes)", D, D * 4, info->name,
                 info->min_storage_align);
    return NULL;
  }
  g_autoptr (MorDitSession) s = g_new0 (MorDitSession, 1);
  s->dit = dit;
  s->max_codes = max_codes;
  guint32 T = max_codes * c->repeats;
  guint64 R = 2ull * branch_stride (dit, T), align = MAX (info->min_storage_align, info->min_texel_align);
  guint64 in = dit->in_dim, fe = c->freq_embed_dim, I = dit->inner, mel = c->mel_dim;
  RunState *r = &s->r;
  struct { MorVkView *v; guint64 n_floats; } host[] = {
    { &r->x_in, R * in }, { &r->t_in, fe }, { &r->pos, 4 }, { &r->out, R * mel },
  }, dev[] = {
    { &r->x, R * in }, { &r->tf, fe }, { &r->tmid, D }, { &r->temb, D }, { &r->mod, 6ull * D },
    { &r->h, R * D }, { &r->n, R * D }, { &r->q, R * I }, { &r->k, R * I }, { &r->v, R * I }, { &r->att, R * I },
    { &r->u, R * dit->ff },
  };
  guint64 host_size = 0, dev_size = 0;
  for (guint i = 0; i < G_N_ELEMENTS (host); i++)
    host_size += host[i].n_floats * 4 + align;
  for (guint i = 0; i < G_N_ELEMENTS (dev); i++)
    dev_size += dev[i].n_floats * 4 + align;
  if (!(s->device_arena = mor_vk_arena_new (dit->dev, dev_size, MOR_VK_MEMORY_DEVICE, error)) ||
      !(s->host_arena = mor_vk_arena_new (dit->dev, host_size, MOR_VK_MEMORY_HOST, error)))
    return NULL;
  for (guint i = 0; i < G_N_ELEMENTS (host); i++)
    if (!mor_vk_arena_alloc (s->host_arena, host[i].n_floats * 4, host[i].v, error))
      return NULL;
  for (guint i = 0; i < G_N_ELEMENTS (dev); i++)
    if (!mor_vk_arena_alloc (s->device_arena, dev[i].n_floats * 4, dev[i].v, error))
      return NULL;
  memset ((char *) r->pos.buf->mapped + r->pos.offset, 0, 16);
  if (!(s->stream = mor_vk_stream_new (dit->dev, error)))
    return NULL;
  s->vb = g_new (float, 2 * (gsize) T * mel);
  return g_steal_pointer (&s);
}

static float *
host_floats (MorVkView v)
{
  return (float *) ((char *) v.buf->mapped + v.offset);
}

/* Checks the codes and writes the constant part of the input rows for @nb branches. */
static gboolean
session_prepare (MorDitSession *s, const MorDitSpeaker *spk, const guint32 *codes, guint32 n_codes, guint32 nb,
                 GError **error)
{
  MorDit *dit = s->dit;
  if (!check_codes (dit, codes, n_codes, s->max_codes, error))
    return FALSE;
  s->n_frames = n_codes * dit->config.repeats;
  s->n_branches = nb;
  s->stride = branch_stride (dit, s->n_frames);
  fill_input (dit, spk, codes, s->n_frames, nb, s->stride, host_floats (s->r.x_in));
  if (s->rec_frames != s->n_frames || s->rec_branches != nb) {
    s->rec_frames = 0;
    mor_vk_stream_begin (s->stream);
    record (s, s->stream, s->n_frames, nb, s->stride);
    if (!mor_vk_stream_end (s->stream, error))
      return FALSE;
    s->rec_frames = s->n_frames;
    s->rec_branches = nb;
  }
  return TRUE;
}

/* One evaluation on the prepared input: the branches' velocities to s->vb. */
static gboolean
session_eval (MorDitSession *s, const float *x, float t, GError **error)
{
  MorDit *dit = s->dit;
  guint32 T = s->n_frames, mel = dit->config.mel_dim;
  time_sinusoid (&dit->config, t, host_floats (s->r.t_in));
  put_x (dit, x, T, s->n_branches, s->stride, host_floats (s->r.x_in));
  if (!mor_vk_stream_submit (s->stream, error))
    return FALSE;
  const float *out = host_floats (s->r.out);
  for (guint32 b = 0; b < s->n_branches; b++)
    memcpy (s->vb + (gsize) b * T * mel, out + (gsize) b * s->stride * mel, (gsize) T * mel * 4);
  return TRUE;
}

gboolean
mor_dit_session_velocity (MorDitSession *s, const MorDitSpeaker *spk, const guint32 *codes, guint32 n_codes,
                          const float *x, float t, float *v_cond, float *v_null, GError **error)
{
  if (!session_prepare (s, spk, codes, n_codes, v_null ? 2 : 1, error) || !session_eval (s, x, t, error))
    return FALSE;
  gsize n = (gsize) s->n_frames * s->dit->config.mel_dim;
  memcpy (v_cond, s->vb, n * 4);
  if (v_null)
    memcpy (v_null, s->vb + n, n * 4);
  return TRUE;
}

/* ---- the C reference ---- */

static void
ref_linear (const MorWeight *w, const MorWeight *b, const float *x, float *y, guint32 n)
{
  mor_ref_matmul (w->type, w->host, x, b->host, y, w->rows, w->cols, n);
}

static void
ref_linear1 (const MorWeight *w, const MorWeight *b, const float *x, float *y)
{
  if (w->cols % 8 == 0)
    mor_ref_matvec (w->type, w->host, x, b->host, y, w->rows, w->cols, 1);
  else
    mor_ref_matmul (w->type, w->host, x, b->host, y, w->rows, w->cols, 1);
}

/* One evaluation on @nb branches of T frames of X (rows T apart) to out [nb·T, mel]. */
static void
reference_forward (MorDit *dit, const float *X, guint32 T, guint32 nb, float t, float *out)
{
  const MorDitConfig *c = &dit->config;
  guint32 D = c->hidden_size, I = dit->inner, FF = dit->ff, nh = c->num_attention_heads, hd = c->head_dim;
  guint32 R = nb * T;
  float scale = 1.0f / sqrtf ((float) hd);
  const float *inv_freq = dit->inv_freq.host;
  g_autofree float *tf = g_new (float, c->freq_embed_dim), *tmid = g_new (float, D), *temb = g_new (float, D);
  g_autofree float *mod = g_new (float, 6 * D), *h = g_new (float, (gsize) R * D), *n = g_new (float, (gsize) R * D);
  g_autofree float *q = g_new (float, (gsize) R * I), *k = g_new (float, (gsize) R * I);
  g_autofree float *v = g_new (float, (gsize) R * I), *att = g_new (float, (gsize) R * I);
  g_autofree float *u = g_new (float, (gsize) R * FF);

  time_sinusoid (c, t, tf);
  ref_linear1 (&dit->time_in_w, &dit->time_in_b, tf, tmid);
  mor_ref_unary (MOR_UNARY_SILU, tmid, tmid, D);
  ref_linear1 (&dit->time_out_w, &dit->time_out_b, tmid, temb);
  mor_ref_unary (MOR_UNARY_SILU, temb, temb, D);
  ref_linear (&dit->inp_w, &dit->inp_b, X, h, R);
  for (guint32 l = 0; l < c->num_hidden_layers; l++) {
    const Layer *L = &dit->layers[l];
    ref_linear1 (&L->ada_w, &L->ada_b, temb, mod);
    mor_ref_scale (mod + D, mod + D, D, 1.0f, 1.0f);
    mor_ref_scale (mod + 4 * D, mod + 4 * D, D, 1.0f, 1.0f);
    mor_ref_layer_norm (h, mod + D, mod, n, R, D, c->layer_norm_eps);
    ref_linear (&L->wq, &L->bq, n, q, R);
    ref_linear (&L->wk, &L->bk, n, k, R);
    ref_linear (&L->wv, &L->bv, n, v, R);
    for (guint32 b = 0; b < nb; b++) {
      float *qb = q + (gsize) b * T * I, *kb = k + (gsize) b * T * I;
      mor_ref_rope (MOR_ROPE_INTERLEAVED, qb, inv_freq, 0, qb, T, nh, hd, hd, 1);
      mor_ref_rope (MOR_ROPE_INTERLEAVED, kb, inv_freq, 0, kb, T, nh, hd, hd, 1);
      mor_ref_attention (qb, kb, v + (gsize) b * T * I, att + (gsize) b * T * I, T, T, nh, nh, hd, scale,
                         c->block_size, L->look_back, L->look_ahead);
    }
    ref_linear (&L->wo, &L->bo, att, n, R);
    mor_ref_binary (MOR_BINARY_MUL, n, mod + 2 * D, n, R, D, MOR_BROADCAST_ROW);
    mor_ref_binary (MOR_BINARY_ADD, h, n, h, R, D, MOR_BROADCAST_NONE);
    mor_ref_layer_norm (h, mod + 4 * D, mod + 3 * D, n, R, D, c->layer_norm_eps);
    ref_linear (&L->w_up, &L->b_up, n, u, R);
    mor_ref_unary (MOR_UNARY_GELU_TANH, u, u, R * FF);
    ref_linear (&L->w_down, &L->b_down, u, n, R);
    mor_ref_binary (MOR_BINARY_MUL, n, mod + 5 * D, n, R, D, MOR_BROADCAST_ROW);
    mor_ref_binary (MOR_BINARY_ADD, h, n, h, R, D, MOR_BROADCAST_NONE);
  }
  ref_linear1 (&dit->out_ada_w, &dit->out_ada_b, temb, mod);
  mor_ref_scale (mod, mod, D, 1.0f, 1.0f);
  mor_ref_layer_norm (h, mod, mod + D, n, R, D, c->layer_norm_eps);
  ref_linear (&dit->out_w, &dit->out_b, n, out, R);
}

gboolean
mor_dit_reference_velocity (MorDit *dit, const MorDitSpeaker *spk, const guint32 *codes, guint32 n_codes,
                            const float *x, float t, float *v_cond, float *v_null, GError **error)
{
  const MorDitConfig *c = &dit->config;
  if (!check_codes (dit, codes, n_codes, (1u << 20) / c->repeats, error))
    return FALSE;
  guint32 T = n_codes * c->repeats, nb = v_null ? 2 : 1;
  gsize n = (gsize) T * c->mel_dim;
  g_autofree float *X = g_new (float, (gsize) nb * T * dit->in_dim), *out = g_new (float, nb * n);
  fill_input (dit, spk, codes, T, nb, T, X);
  put_x (dit, x, T, nb, T, X);
  reference_forward (dit, X, T, nb, t, out);
  memcpy (v_cond, out, n * 4);
  if (v_null)
    memcpy (v_null, out + n, n * 4);
  return TRUE;
}

/* ---- sampling ---- */

void
mor_dit_sample_params_init (MorDitSampleParams *p)
{
  *p = (MorDitSampleParams) { 10, 0.5f, -1.0f, MOR_DIT_SOLVER_RK4 };
}

void
mor_dit_time_points (guint32 n, float sway_coefficient, float *t)
{
  g_return_if_fail (n >= 2);
  /* torch.linspace(0, 1, n) in fp32 as step·i: torch's CPU kernel gives exactly
   * these for the default 10 points (for some other counts its vectorised loop
   * lands an ulp away at a few points) */
  float step = 1.0f / (float) (n - 1);
  for (guint32 i = 0; i < n; i++)
    t[i] = step * (float) i;
  /* t += sway · (cos(π/2 · t) − 1 + t) */
  for (guint32 i = 0; i < n; i++)
    t[i] += sway_coefficient * ((cosf ((float) (G_PI / 2) * t[i]) - 1.0f) + t[i]);
}

static guint64
splitmix64 (guint64 *state)
{
  guint64 z = (*state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

void
mor_dit_noise (guint64 seed, float *out, gsize n)
{
  guint64 state = seed;
  for (gsize i = 0; i < n; i += 2) {
    /* Box–Muller on two uniforms in (0, 1] and [0, 1) with 53 bits each */
    double u1 = ((splitmix64 (&state) >> 11) + 1) * 0x1.0p-53, u2 = (splitmix64 (&state) >> 11) * 0x1.0p-53;
    double r = sqrt (-2.0 * log (u1));
    out[i] = (float) (r * cos (2 * G_PI * u2));
    if (i + 1 < n)
      out[i + 1] = (float) (r * sin (2 * G_PI * u2));
  }
}

/* The guided velocity at (t, x) into v [n]. */
typedef gboolean (*VelocityFunc) (gpointer ctx, const float *x, float t, float *v, GError **error);

/* The branch velocities vb [nb, n] to v: guided + (guided − null)·g with nb 2, else guided. */
static void
guide (const float *vb, guint32 nb, float g, float *v, gsize n)
{
  for (gsize i = 0; i < n; i++)
    v[i] = nb == 2 ? vb[i] + (vb[i] - vb[n + i]) * g : vb[i];
}

/* RungeKutta4ODESolver.integrate (or Euler) over p's time points, y [n] in
 * place, in transformers' fp32 order of operations. */
static gboolean
integrate (VelocityFunc f, gpointer ctx, const MorDitSampleParams *p, float *y, gsize n, GError **error)
{
  g_autofree float *tp = g_new (float, p->num_steps);
  g_autofree float *k1 = g_new (float, n), *k2 = g_new (float, n), *k3 = g_new (float, n);
  g_autofree float *k4 = g_new (float, n), *z = g_new (float, n);
  const float third = (float) (1.0 / 3.0), two_thirds = (float) (2.0 / 3.0);
  mor_dit_time_points (p->num_steps, p->sway_coefficient, tp);
  for (guint32 i = 0; i + 1 < p->num_steps; i++) {
    float t0 = tp[i], t1 = tp[i + 1], dt = t1 - t0;
    if (!f (ctx, y, t0, k1, error))
      return FALSE;
    if (p->solver == MOR_DIT_SOLVER_EULER) {
      for (gsize j = 0; j < n; j++)
        y[j] = y[j] + dt * k1[j];
      continue;
    }
    // k2 = f(t + dt/3, y + dt·k1/3)
    for (gsize j = 0; j < n; j++)
      z[j] = y[j] + dt * k1[j] * third;
    if (!f (ctx, z, t0 + dt * third, k2, error))
      return FALSE;
    // k3 = f(t + 2dt/3, y + dt·(k2 − k1/3))
    for (gsize j = 0; j < n; j++)
      z[j] = y[j] + dt * (k2[j] - k1[j] * third);
    if (!f (ctx, z, t0 + dt * two_thirds, k3, error))
      return FALSE;
    // k4 = f(t + dt, y + dt·(k1 − k2 + k3))
    for (gsize j = 0; j < n; j++)
      z[j] = y[j] + dt * (k1[j] - k2[j] + k3[j]);
    if (!f (ctx, z, t1, k4, error))
      return FALSE;
    // y += (k1 + 3·(k2 + k3) + k4)·dt / 8
    for (gsize j = 0; j < n; j++)
      y[j] = y[j] + (k1[j] + 3.0f * (k2[j] + k3[j]) + k4[j]) * dt / 8.0f;
  }
  return TRUE;
}

static gboolean
check_sample (MorDit *dit, const float *noise, guint32 T, const MorDitSampleParams *p, GError **error)
{
  if (p->num_steps < 2 || p->num_steps > 10000 || !isfinite (p->guidance_scale) || !isfinite (p->sway_coefficient) ||
      (p->solver != MOR_DIT_SOLVER_RK4 && p->solver != MOR_DIT_SOLVER_EULER)) {
    g_set_error (error, MOR_DIT_ERROR, MOR_DIT_ERROR_INPUT, "DiT sampling: %u time points (2 to 10000), guidance "
                 "%g, sway %g, solver %d", p->num_steps, p->guidance_scale, p->sway_coefficient, (int) p->solver);
    return FALSE;
  }
  for (gsize i = 0; i < (gsize) T * dit->config.mel_dim; i++)
    if (!isfinite (noise[i])) {
      g_set_error (error, MOR_DIT_ERROR, MOR_DIT_ERROR_INPUT, "noise value %" G_GSIZE_FORMAT " is not finite", i);
      return FALSE;
    }
  return TRUE;
}

/* y [T, mel] → mel [mel, T] */
static void
to_channels_first (const float *y, guint32 T, guint32 mel, float *out)
{
  for (guint32 f = 0; f < T; f++)
    for (guint32 m = 0; m < mel; m++)
      out[(gsize) m * T + f] = y[(gsize) f * mel + m];
}

typedef struct {
  MorDitSession *s;
  float g;
} SessionCtx;

static gboolean
session_guided (gpointer ctx, const float *x, float t, float *v, GError **error)
{
  SessionCtx *c = ctx;
  if (!session_eval (c->s, x, t, error))
    return FALSE;
  guide (c->s->vb, c->s->n_branches, c->g, v, (gsize) c->s->n_frames * c->s->dit->config.mel_dim);
  return TRUE;
}

gboolean
mor_dit_session_sample (MorDitSession *s, const MorDitSpeaker *spk, const guint32 *codes, guint32 n_codes,
                        const float *noise, const MorDitSampleParams *p, float *mel, GError **error)
{
  MorDitSampleParams defaults;
  if (!p) {
    mor_dit_sample_params_init (&defaults);
    p = &defaults;
  }
  const MorDitConfig *c = &s->dit->config;
  /* sample(): guidance_scale < 1e-5 evaluates the conditional branch alone */
  guint32 nb = p->guidance_scale < 1e-5f ? 1 : 2;
  if (!session_prepare (s, spk, codes, n_codes, nb, error) || !check_sample (s->dit, noise, s->n_frames, p, error))
    return FALSE;
  gsize n = (gsize) s->n_frames * c->mel_dim;
  g_autofree float *y = g_memdup2 (noise, n * 4);
  SessionCtx ctx = { s, p->guidance_scale };
  if (!integrate (session_guided, &ctx, p, y, n, error))
    return FALSE;
  to_channels_first (y, s->n_frames, c->mel_dim, mel);
  return TRUE;
}

typedef struct {
  MorDit *dit;
  float *X, *out;
  guint32 T, nb;
  float g;
} ReferenceCtx;

static gboolean
reference_guided (gpointer ctx, const float *x, float t, float *v, GError **error)
{
  ReferenceCtx *c = ctx;
  put_x (c->dit, x, c->T, c->nb, c->T, c->X);
  reference_forward (c->dit, c->X, c->T, c->nb, t, c->out);
  guide (c->out, c->nb, c->g, v, (gsize) c->T * c->dit->config.mel_dim);
  return TRUE;
}

gboolean
mor_dit_reference_sample (MorDit *dit, const MorDitSpeaker *spk, const guint32 *codes, guint32 n_codes,
                          const float *noise, const MorDitSampleParams *p, float *mel, GError **error)
{
  MorDitSampleParams defaults;
  if (!p) {
    mor_dit_sample_params_init (&defaults);
    p = &defaults;
  }
  const MorDitConfig *c = &dit->config;
  guint32 T = n_codes * c->repeats, nb = p->guidance_scale < 1e-5f ? 1 : 2;
  if (!check_codes (dit, codes, n_codes, (1u << 20) / c->repeats, error) || !check_sample (dit, noise, T, p, error))
    return FALSE;
  gsize n = (gsize) T * c->mel_dim;
  g_autofree float *X = g_new (float, (gsize) nb * T * dit->in_dim), *out = g_new (float, nb * n);
  g_autofree float *y = g_memdup2 (noise, n * 4);
  fill_input (dit, spk, codes, T, nb, T, X);
  ReferenceCtx ctx = { dit, X, out, T, nb, p->guidance_scale };
  if (!integrate (reference_guided, &ctx, p, y, n, error))
    return FALSE;
  to_channels_first (y, T, c->mel_dim, mel);
  return TRUE;
}
