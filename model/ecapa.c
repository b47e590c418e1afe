/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The ECAPA-TDNN speaker encoder of the token2wav DiT on Vulkan, and its C
 * reference forward. */
#include "ecapa.h"

#include <math.h>
#include <string.h>

#include "ops.h"
#include "weight.h"

G_DEFINE_QUARK (mor-ecapa-error-quark, mor_ecapa_error)

/* AttentiveStatisticsPooling.eps */
#define STATS_EPS 1e-12f

/* A Conv1d with padding="same", padding_mode="reflect". */
typedef struct {
  MorWeight w, b;               /* (out, in, k) any conv type, (out) */
  guint32 in, out, k, dilation;
} Conv;

/* SqueezeExcitationRes2NetBlock */
typedef struct {
  Conv tdnn1;                   /* (C, C_prev, 1) */
  Conv *res2net;                /* enc_res2net_scale − 1 of (C/s, C/s, k) */
  Conv tdnn2;                   /* (C, C, 1) */
  Conv se1, se2;                /* (se, C, 1), (C, se, 1) */
} Block;

struct _MorEcapa {
  MorVkDevice *dev;
  MorGguf *gguf;
  MorEcapaConfig config;
  Conv blk0;                    /* (C0, mel, k0) */
  Block blocks[MOR_ECAPA_MAX_BLOCKS];  /* 1 … n_blocks − 2 */
  Conv mfa;                     /* (C, C, k_last), C = C_last */
  Conv asp_tdnn, asp_conv;      /* (att, 3C, 1), (C, att, 1) */
  Conv fc;                      /* (enc_dim, 2C, 1) */
};

/* ---- loading ---- */

static gboolean
read_list (MorGguf *g, const char *key, guint32 *list, guint32 *n, GError **error)
{
  guint64 len;
  const guint32 *v = mor_gguf_get_array_data (g, key, MOR_GGUF_VALUE_UINT32, &len, error);
  if (!v)
    return FALSE;
  if (len < 3 || len > MOR_ECAPA_MAX_BLOCKS) {
    g_set_error (error, MOR_ECAPA_ERROR, MOR_ECAPA_ERROR_CONFIG, "%s: %s has %" G_GUINT64_FORMAT
                 " entries; expected 3 to %d", mor_gguf_get_name (g), key, len, MOR_ECAPA_MAX_BLOCKS);
    return FALSE;
  }
  for (guint64 i = 0; i < len; i++)
    if (v[i] == 0 || v[i] > 65536) {
      g_set_error (error, MOR_ECAPA_ERROR, MOR_ECAPA_ERROR_CONFIG, "%s: %s[%" G_GUINT64_FORMAT "] is %u; "
                   "expected 1 to 65536", mor_gguf_get_name (g), key, i, v[i]);
      return FALSE;
    }
  memcpy (list, v, len * 4);
  *n = (guint32) len;
  return TRUE;
}

static gboolean
read_config (MorGguf *g, MorEcapaConfig *c, GError **error)
{
  const char *name = mor_gguf_get_name (g);
  guint32 n_k, n_d;
  if (!mor_gguf_get_u32 (g, "mor.dit.mel_dim", &c->mel_dim, error) ||
      !mor_gguf_get_u32 (g, "mor.dit.enc_dim", &c->enc_dim, error) ||
      !mor_gguf_get_u32 (g, "mor.dit.enc_attention_channels", &c->enc_attention_channels, error) ||
      !mor_gguf_get_u32 (g, "mor.dit.enc_res2net_scale", &c->enc_res2net_scale, error) ||
      !mor_gguf_get_u32 (g, "mor.dit.enc_se_channels", &c->enc_se_channels, error) ||
      !read_list (g, "mor.dit.enc_channels", c->enc_channels, &c->n_blocks, error) ||
      !read_list (g, "mor.dit.enc_kernel_sizes", c->enc_kernel_sizes, &n_k, error) ||
      !read_list (g, "mor.dit.enc_dilations", c->enc_dilations, &n_d, error))
    return FALSE;
  guint32 n = c->n_blocks, s = c->enc_res2net_scale, sum = 0;
  const char *bad = NULL;
  for (guint32 i = 1; i + 1 < n; i++)
    sum += c->enc_channels[i];
  if (n_k != n || n_d != n)
    bad = "mor.dit.enc_channels, enc_kernel_sizes and enc_dilations differ in length";
  else if (c->mel_dim == 0 || c->enc_dim == 0 || c->enc_attention_channels == 0 || c->enc_se_channels == 0 ||
           c->mel_dim > 65536 || c->enc_dim > 65536 || c->enc_attention_channels > 65536 ||
           c->enc_se_channels > 65536)
    bad = "a dimension of mor.dit.mel_dim, enc_dim, enc_attention_channels, enc_se_channels is 0 or over 65536";
  else if (s == 0 || s > 64)
    bad = "mor.dit.enc_res2net_scale is not 1 to 64";
  else if (sum != c->enc_channels[n - 1])
    bad = "the last of mor.dit.enc_channels is not the sum of the SE-Res2Net blocks' channels (feature aggregation)";
  for (guint32 i = 1; !bad && i + 1 < n; i++)
    if (c->enc_channels[i] % s != 0)
      bad = "an SE-Res2Net block's mor.dit.enc_channels entry is not a multiple of enc_res2net_scale";
    else if (c->enc_channels[i] != c->enc_channels[i - 1])
      bad = "an SE-Res2Net block changes the width of mor.dit.enc_channels (its residual needs equal widths)";
  if (bad) {
    g_set_error (error, MOR_ECAPA_ERROR, MOR_ECAPA_ERROR_CONFIG, "%s: %s", name, bad);
    return FALSE;
  }
  return TRUE;
}

static gboolean
load_conv (MorEcapa *e, Conv *cv, const char *prefix, guint32 in, guint32 out, guint32 k, guint32 dilation,
           GError **error)
{
  g_autofree char *wname = g_strdup_printf ("%s.weight", prefix), *bname = g_strdup_printf ("%s.bias", prefix);
  guint64 ne[3] = { k, in, out };
  MorWeight *w = &cv->w;
  cv->in = in;
  cv->out = out;
  cv->k = k;
  cv->dilation = dilation;
  if (!mor_gguf_check_tensor (e->gguf, wname, 3, ne, &w->t, error))
    return FALSE;
  if (w->t->type != MOR_TYPE_F32 && w->t->type != MOR_TYPE_F16 && w->t->type != MOR_TYPE_BF16) {
    g_set_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE, "%s: tensor %s is %s; expected f32 (or f16, bf16)",
                 mor_gguf_get_name (e->gguf), wname, mor_type_name (w->t->type));
    return FALSE;
  }
  w->type = w->t->type;
  w->rows = out;
  w->cols = in * k;
  w->host = w->t->data;
  return mor_weight_upload (w, e->dev, w->t->data, w->t->size, error) &&
         mor_weight_load_vector (&cv->b, e->dev, e->gguf, bname, out, FALSE, error);
}

static void
clear_conv (Conv *cv)
{
  mor_weight_clear (&cv->w);
  mor_weight_clear (&cv->b);
}

void
mor_ecapa_free (MorEcapa *e)
{
  if (!e)
    return;
  clear_conv (&e->blk0);
  for (guint32 i = 1; i + 1 < e->config.n_blocks; i++) {
    Block *B = &e->blocks[i];
    for (guint32 j = 0; B->res2net && j + 1 < e->config.enc_res2net_scale; j++)
      clear_conv (&B->res2net[j]);
    g_free (B->res2net);
    clear_conv (&B->tdnn1);
    clear_conv (&B->tdnn2);
    clear_conv (&B->se1);
    clear_conv (&B->se2);
  }
  clear_conv (&e->mfa);
  clear_conv (&e->asp_tdnn);
  clear_conv (&e->asp_conv);
  clear_conv (&e->fc);
  g_clear_pointer (&e->gguf, mor_gguf_unref);
  g_clear_pointer (&e->dev, mor_vk_device_unref);
  g_free (e);
}

MorEcapa *
mor_ecapa_load (MorVkDevice *dev, MorGguf *gguf, GError **error)
{
  g_autoptr (MorEcapa) e = g_new0 (MorEcapa, 1);
  e->dev = mor_vk_device_ref (dev);
  e->gguf = mor_gguf_ref (gguf);
  MorEcapaConfig *c = &e->config;
  if (!read_config (gguf, c, error))
    return NULL;
  const guint32 *ch = c->enc_channels, *ks = c->enc_kernel_sizes, *dl = c->enc_dilations;
  guint32 n = c->n_blocks, s = c->enc_res2net_scale, C = ch[n - 1];
  if (!load_conv (e, &e->blk0, "t2w.dit.ecapa.blk.0", c->mel_dim, ch[0], ks[0], dl[0], error))
    return NULL;
  for (guint32 i = 1; i + 1 < n; i++) {
    Block *B = &e->blocks[i];
    g_autofree char *p = g_strdup_printf ("t2w.dit.ecapa.blk.%u", i);
    g_autofree char *tdnn1 = g_strdup_printf ("%s.tdnn1", p), *tdnn2 = g_strdup_printf ("%s.tdnn2", p);
    g_autofree char *se1 = g_strdup_printf ("%s.se1", p), *se2 = g_strdup_printf ("%s.se2", p);
    B->res2net = g_new0 (Conv, s);
    if (!load_conv (e, &B->tdnn1, tdnn1, ch[i - 1], ch[i], 1, 1, error))
      return NULL;
    for (guint32 j = 0; j + 1 < s; j++) {
      g_autofree char *res = g_strdup_printf ("%s.res2net.%u", p, j);
      if (!load_conv (e, &B->res2net[j], res, ch[i] / s, ch[i] / s, ks[i], dl[i], error))
        return NULL;
    }
    if (!load_conv (e, &B->tdnn2, tdnn2, ch[i], ch[i], 1, 1, error) ||
        !load_conv (e, &B->se1, se1, ch[i], c->enc_se_channels, 1, 1, error) ||
        !load_conv (e, &B->se2, se2, c->enc_se_channels, ch[i], 1, 1, error))
      return NULL;
  }
  if (!load_conv (e, &e->mfa, "t2w.dit.ecapa.mfa", C, C, ks[n - 1], dl[n - 1], error) ||
      !load_conv (e, &e->asp_tdnn, "t2w.dit.ecapa.asp_tdnn", 3 * C, c->enc_attention_channels, 1, 1, error) ||
      !load_conv (e, &e->asp_conv, "t2w.dit.ecapa.asp_conv", c->enc_attention_channels, C, 1, 1, error) ||
      !load_conv (e, &e->fc, "t2w.dit.ecapa.fc", 2 * C, c->enc_dim, 1, 1, error))
    return NULL;
  return g_steal_pointer (&e);
}

const MorEcapaConfig *
mor_ecapa_get_config (MorEcapa *e)
{
  return &e->config;
}

/* nn.Conv1d(in, out, k, dilation=d, padding="same", padding_mode="reflect") over T frames. */
static MorConv1d
geometry (const Conv *cv, guint32 T)
{
  MorConv1d c = { 1, cv->in, cv->out, T, cv->k, 1, cv->dilation, 1, 0, 0, MOR_PAD_REFLECT };
  mor_conv1d_same_padding (&c);
  return c;
}

guint32
mor_ecapa_min_frames (MorEcapa *e)
{
  const MorEcapaConfig *c = &e->config;
  guint32 need = 1;
  for (guint32 i = 0; i < c->n_blocks; i++) {
    Conv cv = { .in = 1, .out = 1, .k = c->enc_kernel_sizes[i], .dilation = c->enc_dilations[i] };
    MorConv1d g = geometry (&cv, 1);
    need = MAX (need, g.pad_right + 1);
  }
  return need;
}

/* ---- the forward pass on the device ---- */

/* Activations for T frames; C = C_last, Cb the widest SE-Res2Net block. */
typedef struct {
  MorVkView in;                 /* (mel, T) host-written, channels first */
  MorVkView x;                  /* (mel, T) */
  MorVkView h0;                 /* (C0, T) */
  MorVkView cat;                /* (C, T) the blocks' outputs, one after another */
  MorVkView t1, r, t2;          /* (Cb, T) */
  MorVkView tmp;                /* (Cb / s, T) */
  MorVkView m, s1, s2;          /* (Cb), (se), (Cb) squeeze-excitation */
  MorVkView mf;                 /* (C, T) feature aggregation */
  MorVkView stats;              /* (2C) mean, std of mf */
  MorVkView acat;               /* (3C, T) cat(mf, mean, std) */
  MorVkView a1;                 /* (att, T) */
  MorVkView a2;                 /* (C, T) attention */
  MorVkView pooled;             /* (2C) attentive mean, std */
  MorVkView out;                /* (enc_dim) host-visible */
} RunState;

static MorVkView
wview (const MorWeight *w)
{
  return mor_weight_view (w);
}

/* y = conv(x), then ReLU where @relu: TimeDelayNetBlock. */
static void
tdnn (MorVkStream *st, const Conv *cv, guint32 T, MorVkView x, MorVkView y, gboolean relu)
{
  MorConv1d g = geometry (cv, T);
  mor_op_conv1d (st, &g, cv->w.type, x, wview (&cv->w), wview (&cv->b), y);
  if (relu)
    mor_op_unary (st, MOR_UNARY_RELU, y, y, cv->out * T);
}

static MorVkView
rows (MorVkView v, guint64 row0, guint64 n_rows, guint32 T)
{
  return mor_vk_view_sub (v, row0 * T * 4, n_rows * T * 4);
}

/* Records ECAPA_TimeDelayNet on r->in (T frames) to r->out; the same
 * sequence of ops as mor_ecapa_reference_forward(). */
static void
record (MorEcapa *e, MorVkStream *st, const RunState *r, guint32 T)
{
  const MorEcapaConfig *c = &e->config;
  guint32 n = c->n_blocks, s = c->enc_res2net_scale, C = c->enc_channels[n - 1];
  mor_vk_stream_copy (st, r->in, r->x);
  // blocks[0]: TDNN
  tdnn (st, &e->blk0, T, r->x, r->h0, TRUE);
  MorVkView prev = r->h0;
  guint32 row = 0;
  for (guint32 i = 1; i + 1 < n; i++) {
    const Block *B = &e->blocks[i];
    guint32 Ci = c->enc_channels[i], P = Ci / s;
    MorVkView out = rows (r->cat, row, Ci, T);
    // SqueezeExcitationRes2NetBlock: tdnn1
    tdnn (st, &B->tdnn1, T, prev, r->t1, TRUE);
    // Res2NetBlock: y0 = x0; y1 = TDNN(x1); yj = TDNN(xj + yj-1)
    mor_vk_stream_copy (st, rows (r->t1, 0, P, T), rows (r->r, 0, P, T));
    for (guint32 j = 1; j < s; j++) {
      MorVkView src = rows (r->t1, (guint64) j * P, P, T);
      if (j > 1) {
        mor_op_binary (st, MOR_BINARY_ADD, src, rows (r->r, (guint64) (j - 1) * P, P, T), r->tmp, P, T,
                       MOR_BROADCAST_NONE);
        src = r->tmp;
      }
      tdnn (st, &B->res2net[j - 1], T, src, rows (r->r, (guint64) j * P, P, T), TRUE);
    }
    // tdnn2
    tdnn (st, &B->tdnn2, T, r->r, r->t2, TRUE);
    // SqueezeExcitationBlock: x · sigmoid(conv2(relu(conv1(mean_T x))))
    mor_op_avg_pool1d (st, r->t2, r->m, Ci, T, T, T, FALSE);
    tdnn (st, &B->se1, 1, r->m, r->s1, TRUE);
    tdnn (st, &B->se2, 1, r->s1, r->s2, FALSE);
    mor_op_unary (st, MOR_UNARY_SIGMOID, r->s2, r->s2, Ci);
    mor_op_binary (st, MOR_BINARY_MUL, r->t2, r->s2, r->t2, Ci, T, MOR_BROADCAST_COL);
    // + residual, into its rows of cat(hidden_states_list[1:])
    mor_op_binary (st, MOR_BINARY_ADD, r->t2, prev, out, Ci, T, MOR_BROADCAST_NONE);
    prev = out;
    row += Ci;
  }
  // mfa: TDNN over the concatenated block outputs
  tdnn (st, &e->mfa, T, r->cat, r->mf, TRUE);
  // AttentiveStatisticsPooling: cat(x, mean, std repeated over T), weights 1/T
  mor_op_weighted_stats (st, r->mf, (MorVkView) { 0 }, r->stats, C, T, STATS_EPS);
  mor_vk_stream_copy (st, r->mf, rows (r->acat, 0, C, T));
  mor_vk_stream_fill (st, rows (r->acat, C, 2 * C, T), 0);
  mor_op_binary (st, MOR_BINARY_ADD, rows (r->acat, C, C, T), mor_vk_view_sub (r->stats, 0, C * 4),
                 rows (r->acat, C, C, T), C, T, MOR_BROADCAST_COL);
  mor_op_binary (st, MOR_BINARY_ADD, rows (r->acat, 2 * C, C, T), mor_vk_view_sub (r->stats, C * 4, C * 4),
                 rows (r->acat, 2 * C, C, T), C, T, MOR_BROADCAST_COL);
  // attention = softmax_T(conv(tanh(tdnn(attention))))
  tdnn (st, &e->asp_tdnn, T, r->acat, r->a1, TRUE);
  mor_op_unary (st, MOR_UNARY_TANH, r->a1, r->a1, c->enc_attention_channels * T);
  tdnn (st, &e->asp_conv, T, r->a1, r->a2, FALSE);
  mor_op_softmax (st, r->a2, r->a2, C, T, 1.0f);
  // attentive mean and std: pooled_stats (2C, 1)
  mor_op_weighted_stats (st, r->mf, r->a2, r->pooled, C, T, STATS_EPS);
  // fc
  tdnn (st, &e->fc, 1, r->pooled, r->out, FALSE);
}

/* Binding offsets the recording takes inside one activation: each must be a
 * multiple of the device's storage alignment (always so at the real widths). */
static gboolean
check_offsets (MorEcapa *e, guint32 T, GError **error)
{
  const MorEcapaConfig *c = &e->config;
  guint64 align = mor_vk_device_get_info (e->dev)->min_storage_align;
  guint32 n = c->n_blocks, C = c->enc_channels[n - 1], row = 0;
  gboolean ok = ((guint64) C * 4) % align == 0 && ((guint64) C * T * 4) % align == 0;
  for (guint32 i = 1; i + 1 < n; i++) {
    ok = ok && ((guint64) c->enc_channels[i] / c->enc_res2net_scale * T * 4) % align == 0 &&
         ((guint64) row * T * 4) % align == 0;
    row += c->enc_channels[i];
  }
  if (!ok)
    g_set_error (error, MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED,
                 "%s: ECAPA-TDNN channel groups over %u frames do not start at multiples of %s's storage "
                 "alignment (%" G_GUINT64_FORMAT " bytes)", mor_gguf_get_name (e->gguf), T,
                 mor_vk_device_get_info (e->dev)->name, align);
  return ok;
}

gboolean
mor_ecapa_check_input (MorEcapa *e, const float *ref_mel, guint32 n_frames, GError **error)
{
  guint32 need = mor_ecapa_min_frames (e);
  if (n_frames < need) {
    g_set_error (error, MOR_ECAPA_ERROR, MOR_ECAPA_ERROR_INPUT,
                 "reference mel of %u frames; the speaker encoder's reflect padding needs at least %u",
                 n_frames, need);
    return FALSE;
  }
  for (gsize i = 0; i < (gsize) n_frames * e->config.mel_dim; i++)
    if (!isfinite (ref_mel[i])) {
      g_set_error (error, MOR_ECAPA_ERROR, MOR_ECAPA_ERROR_INPUT,
                   "reference mel value %" G_GSIZE_FORMAT " (frame %" G_GSIZE_FORMAT ") is not finite", i,
                   i / e->config.mel_dim);
      return FALSE;
    }
  return TRUE;
}

gboolean
mor_ecapa_compute (MorEcapa *e, const float *ref_mel, guint32 n_frames, float *out, GError **error)
{
  const MorEcapaConfig *c = &e->config;
  if (!mor_ecapa_check_input (e, ref_mel, n_frames, error) || !check_offsets (e, n_frames, error))
    return FALSE;
  guint32 n = c->n_blocks, C = c->enc_channels[n - 1], T = n_frames, nm = c->mel_dim;
  guint32 Cb = 0;
  for (guint32 i = 1; i + 1 < n; i++)
    Cb = MAX (Cb, c->enc_channels[i]);
  const MorVkDeviceInfo *info = mor_vk_device_get_info (e->dev);
  guint64 align = MAX (info->min_storage_align, info->min_texel_align);
  RunState r;
  struct { MorVkView *v; guint64 n_floats; } views[] = {
    { &r.x, (guint64) nm * T }, { &r.h0, (guint64) c->enc_channels[0] * T }, { &r.cat, (guint64) C * T },
    { &r.t1, (guint64) Cb * T }, { &r.r, (guint64) Cb * T }, { &r.t2, (guint64) Cb * T },
    { &r.tmp, (guint64) Cb / c->enc_res2net_scale * T }, { &r.m, Cb }, { &r.s1, c->enc_se_channels },
    { &r.s2, Cb }, { &r.mf, (guint64) C * T }, { &r.stats, 2ull * C }, { &r.acat, 3ull * C * T },
    { &r.a1, (guint64) c->enc_attention_channels * T }, { &r.a2, (guint64) C * T }, { &r.pooled, 2ull * C },
  };
  guint64 dev_size = 0;
  for (guint i = 0; i < G_N_ELEMENTS (views); i++)
    dev_size += views[i].n_floats * 4 + align;
  g_autoptr (MorVkArena) da = mor_vk_arena_new (e->dev, dev_size, MOR_VK_MEMORY_DEVICE, error);
  g_autoptr (MorVkArena) ha = da ? mor_vk_arena_new (e->dev, ((guint64) nm * T + c->enc_dim) * 4 + 4 * align,
                                                     MOR_VK_MEMORY_HOST, error) : NULL;
  if (!ha || !mor_vk_arena_alloc (ha, (guint64) nm * T * 4, &r.in, error) ||
      !mor_vk_arena_alloc (ha, (guint64) c->enc_dim * 4, &r.out, error))
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (views); i++)
    if (!mor_vk_arena_alloc (da, views[i].n_floats * 4, views[i].v, error))
      return FALSE;
  /* [T, mel] → channels first [mel, T] */
  float *in = (float *) ((char *) r.in.buf->mapped + r.in.offset);
  for (guint32 t = 0; t < T; t++)
    for (guint32 m = 0; m < nm; m++)
      in[(gsize) m * T + t] = ref_mel[(gsize) t * nm + m];
  g_autoptr (MorVkStream) st = mor_vk_stream_new (e->dev, error);
  if (!st)
    return FALSE;
  mor_vk_stream_begin (st);
  record (e, st, &r, T);
  if (!mor_vk_stream_end (st, error) || !mor_vk_stream_submit (st, error))
    return FALSE;
  memcpy (out, (const char *) r.out.buf->mapped + r.out.offset, (gsize) c->enc_dim * 4);
  return TRUE;
}

/* ---- the C reference ---- */

static void
ref_tdnn (const Conv *cv, guint32 T, const float *x, float *y, gboolean relu)
{
  MorConv1d g = geometry (cv, T);
  mor_ref_conv1d (&g, cv->w.type, x, cv->w.host, cv->b.host, y);
  if (relu)
    mor_ref_unary (MOR_UNARY_RELU, y, y, cv->out * T);
}

void
mor_ecapa_reference_forward (MorEcapa *e, const float *ref_mel, guint32 n_frames, float *out)
{
  const MorEcapaConfig *c = &e->config;
  guint32 n = c->n_blocks, s = c->enc_res2net_scale, C = c->enc_channels[n - 1], T = n_frames, nm = c->mel_dim;
  guint32 Cb = 0, att = c->enc_attention_channels;
  for (guint32 i = 1; i + 1 < n; i++)
    Cb = MAX (Cb, c->enc_channels[i]);
  g_autofree float *x = g_new (float, (gsize) nm * T), *h0 = g_new (float, (gsize) c->enc_channels[0] * T);
  g_autofree float *cat = g_new (float, (gsize) C * T), *t1 = g_new (float, (gsize) Cb * T);
  g_autofree float *rr = g_new (float, (gsize) Cb * T), *t2 = g_new (float, (gsize) Cb * T);
  g_autofree float *tmp = g_new (float, (gsize) Cb / s * T), *m = g_new (float, Cb);
  g_autofree float *s1 = g_new (float, c->enc_se_channels), *s2 = g_new (float, Cb);
  g_autofree float *mf = g_new (float, (gsize) C * T), *stats = g_new (float, 2 * C);
  g_autofree float *acat = g_new (float, (gsize) 3 * C * T), *a1 = g_new (float, (gsize) att * T);
  g_autofree float *a2 = g_new (float, (gsize) C * T), *pooled = g_new (float, 2 * C);
  for (guint32 t = 0; t < T; t++)
    for (guint32 k = 0; k < nm; k++)
      x[(gsize) k * T + t] = ref_mel[(gsize) t * nm + k];

  ref_tdnn (&e->blk0, T, x, h0, TRUE);
  const float *prev = h0;
  guint32 row = 0;
  for (guint32 i = 1; i + 1 < n; i++) {
    const Block *B = &e->blocks[i];
    guint32 Ci = c->enc_channels[i], P = Ci / s;
    float *o = cat + (gsize) row * T;
    ref_tdnn (&B->tdnn1, T, prev, t1, TRUE);
    memcpy (rr, t1, (gsize) P * T * 4);
    for (guint32 j = 1; j < s; j++) {
      const float *src = t1 + (gsize) j * P * T;
      if (j > 1) {
        mor_ref_binary (MOR_BINARY_ADD, src, rr + (gsize) (j - 1) * P * T, tmp, P, T, MOR_BROADCAST_NONE);
        src = tmp;
      }
      ref_tdnn (&B->res2net[j - 1], T, src, rr + (gsize) j * P * T, TRUE);
    }
    ref_tdnn (&B->tdnn2, T, rr, t2, TRUE);
    mor_ref_avg_pool1d (t2, m, Ci, T, T, T, FALSE);
    ref_tdnn (&B->se1, 1, m, s1, TRUE);
    ref_tdnn (&B->se2, 1, s1, s2, FALSE);
    mor_ref_unary (MOR_UNARY_SIGMOID, s2, s2, Ci);
    mor_ref_binary (MOR_BINARY_MUL, t2, s2, t2, Ci, T, MOR_BROADCAST_COL);
    mor_ref_binary (MOR_BINARY_ADD, t2, prev, o, Ci, T, MOR_BROADCAST_NONE);
    prev = o;
    row += Ci;
  }
  ref_tdnn (&e->mfa, T, cat, mf, TRUE);
  mor_ref_weighted_stats (mf, NULL, stats, C, T, STATS_EPS);
  memcpy (acat, mf, (gsize) C * T * 4);
  memset (acat + (gsize) C * T, 0, (gsize) 2 * C * T * 4);
  mor_ref_binary (MOR_BINARY_ADD, acat + (gsize) C * T, stats, acat + (gsize) C * T, C, T, MOR_BROADCAST_COL);
  mor_ref_binary (MOR_BINARY_ADD, acat + (gsize) 2 * C * T, stats + C, acat + (gsize) 2 * C * T, C, T,
                  MOR_BROADCAST_COL);
  ref_tdnn (&e->asp_tdnn, T, acat, a1, TRUE);
  mor_ref_unary (MOR_UNARY_TANH, a1, a1, att * T);
  ref_tdnn (&e->asp_conv, T, a1, a2, FALSE);
  mor_ref_softmax (a2, a2, C, T, 1.0f);
  mor_ref_weighted_stats (mf, a2, pooled, C, T, STATS_EPS);
  ref_tdnn (&e->fc, 1, pooled, out, FALSE);
}
