/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The BigVGAN vocoder of Qwen2.5-Omni on Vulkan, one window at a time or
 * streamed, and its C reference forward (see bigvgan.h). */
#include "bigvgan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "weight.h"

G_DEFINE_QUARK (mor-bigvgan-error-quark, mor_bigvgan_error)

/* process_mel_spectrogram: amplitude_to_db(exp(mel), -115) - 20, then
 * normalize_spectrogram(db, max_value=1, min_db=-115) (transformers' code). */
#define MEL_MIN_DB (-115.0)
#define MEL_DB_OFFSET 20.0f

typedef struct {
  MorWeight w, b;                  /* (c_in, c_out, k) as PyTorch's ConvTranspose1d [in, out, k], (c_out) */
} Upsampler;

typedef struct {
  guint32 kernel_size;             /* k_r */
  const guint32 *dilations;        /* [3] convs1's dilations */
  MorWeight conv1_w[3], conv1_b[3];   /* (c, c, k), (c) convs1.m, dilation d_m */
  MorWeight conv2_w[3], conv2_b[3];   /* (c, c, k), (c) convs2.m, dilation 1 */
  MorWeight alpha[6], beta[6];     /* (c) activations.m.act.{alpha,beta}, log-scale; act1 of conv m is 2m, act2 2m+1 */
} AmpBlock;

struct _MorBigvgan {
  MorVkDevice *dev;
  MorGguf *gguf;
  MorBigvganConfig config;
  MorWeight pre_w, pre_b;          /* (c0, mel_dim, 7), (c0) conv_pre */
  Upsampler *ups;                  /* n_upsamples */
  AmpBlock *res;                   /* n_upsamples · n_kernels: upsampler i's j-th is res[i·n_kernels + j] */
  MorWeight post_alpha, post_beta; /* (c_last) activation_post.act */
  MorWeight post_w;                /* (1, c_last, 7) conv_post, no bias */
  MorWeight filter;                /* (MOR_BIGVGAN_ACT_TAPS) the Kaiser-sinc filter of up- and downsampling */
};

/* ---- loading ---- */

static gboolean
config_error (GError **error, MorGguf *g, const char *format, ...) G_GNUC_PRINTF (3, 4);

static gboolean
config_error (GError **error, MorGguf *g, const char *format, ...)
{
  va_list ap;
  va_start (ap, format);
  g_autofree char *msg = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_set_error (error, MOR_BIGVGAN_ERROR, MOR_BIGVGAN_ERROR_CONFIG, "%s: %s", mor_gguf_get_name (g), msg);
  return FALSE;
}

/* A u32 array of 1..@max entries, each ≥ 1. */
static gboolean
read_list (MorGguf *g, const char *key, guint32 max, guint32 *out, guint32 *n, GError **error)
{
  guint64 len;
  const guint32 *v = mor_gguf_get_array_data (g, key, MOR_GGUF_VALUE_UINT32, &len, error);
  if (!v)
    return FALSE;
  if (len == 0 || len > max)
    return config_error (error, g, "%s has %" G_GUINT64_FORMAT " entries; libmor takes 1 to %u", key, len, max);
  for (guint32 i = 0; i < len; i++) {
    out[i] = GUINT32_FROM_LE (v[i]);
    if (out[i] == 0)
      return config_error (error, g, "%s[%u] is 0", key, i);
  }
  *n = (guint32) len;
  return TRUE;
}

static gboolean
read_config (MorGguf *g, MorBigvganConfig *c, GError **error)
{
  guint32 n_kernel_sizes, n_dilations, dil[MOR_BIGVGAN_MAX_KERNELS * MOR_BIGVGAN_N_DILATIONS];
  if (!mor_gguf_get_u32 (g, "mor.bigvgan.mel_dim", &c->mel_dim, error) ||
      !mor_gguf_get_u32 (g, "mor.bigvgan.upsample_initial_channel", &c->upsample_initial_channel, error) ||
      !read_list (g, "mor.bigvgan.upsample_rates", MOR_BIGVGAN_MAX_UPSAMPLES, c->upsample_rates, &c->n_upsamples,
                  error) ||
      !read_list (g, "mor.bigvgan.upsample_kernel_sizes", MOR_BIGVGAN_MAX_UPSAMPLES, c->upsample_kernel_sizes,
                  &n_kernel_sizes, error) ||
      !read_list (g, "mor.bigvgan.resblock_kernel_sizes", MOR_BIGVGAN_MAX_KERNELS, c->resblock_kernel_sizes,
                  &c->n_kernels, error) ||
      !read_list (g, "mor.bigvgan.resblock_dilation_sizes", G_N_ELEMENTS (dil), dil, &n_dilations, error))
    return FALSE;
  if (c->mel_dim == 0 || c->upsample_initial_channel == 0)
    return config_error (error, g, "mor.bigvgan.mel_dim and upsample_initial_channel must not be 0");
  if (n_kernel_sizes != c->n_upsamples)
    return config_error (error, g, "mor.bigvgan.upsample_rates has %u entries but upsample_kernel_sizes %u",
                         c->n_upsamples, n_kernel_sizes);
  if (n_dilations != MOR_BIGVGAN_N_DILATIONS * c->n_kernels)
    return config_error (error, g, "mor.bigvgan.resblock_dilation_sizes has %u entries; expected %u (3 for each "
                         "of the %u resblock_kernel_sizes)", n_dilations, MOR_BIGVGAN_N_DILATIONS * c->n_kernels,
                         c->n_kernels);
  if (c->upsample_initial_channel % (1u << c->n_upsamples) != 0)
    return config_error (error, g, "mor.bigvgan.upsample_initial_channel %u does not halve %u times",
                         c->upsample_initial_channel, c->n_upsamples);
  guint64 hop = 1;
  for (guint32 i = 0; i < c->n_upsamples; i++) {
    guint32 r = c->upsample_rates[i], k = c->upsample_kernel_sizes[i];
    /* ConvTranspose1d(padding=(k - r) // 2) gives (T - 1)·r - 2·((k - r) // 2) + k = T·r samples
     * when k - r is even; anything else would not be a whole number of samples a frame. */
    if (k < r || (k - r) % 2 != 0)
      return config_error (error, g, "upsampler %u: kernel size %u and rate %u; libmor needs k ≥ r and k − r even "
                           "(T frames must give T·rate samples)", i, k, r);
    hop *= r;
  }
  if (hop > 65536)
    return config_error (error, g, "mor.bigvgan.upsample_rates multiply to %" G_GUINT64_FORMAT " samples a frame",
                         hop);
  for (guint32 j = 0; j < c->n_kernels; j++) {
    /* AMPBlock pads (k·d - d) / 2 on both sides: an even k would shorten x and its residual add fail */
    if (c->resblock_kernel_sizes[j] % 2 == 0)
      return config_error (error, g, "mor.bigvgan.resblock_kernel_sizes[%u] is %u; it must be odd", j,
                           c->resblock_kernel_sizes[j]);
    for (guint32 m = 0; m < MOR_BIGVGAN_N_DILATIONS; m++)
      c->resblock_dilation_sizes[j][m] = dil[j * MOR_BIGVGAN_N_DILATIONS + m];
  }
  c->hop = (guint32) hop;
  c->sample_rate = MOR_BIGVGAN_FRAME_RATE * c->hop;
  return TRUE;
}

/* A convolution weight of shape @ne (ggml order: kernel fastest) of a type the conv ops read. */
static gboolean
load_kernel (MorBigvgan *bv, MorWeight *w, const char *name, guint64 ne0, guint64 ne1, guint64 ne2, GError **error)
{
  guint64 ne[3] = { ne0, ne1, ne2 };
  if (!mor_gguf_check_tensor (bv->gguf, name, 3, ne, &w->t, error))
    return FALSE;
  if (w->t->type != MOR_TYPE_F32 && w->t->type != MOR_TYPE_F16) {
    g_set_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE, "%s: tensor %s is %s; expected f32 (or f16)",
                 mor_gguf_get_name (bv->gguf), name, mor_type_name (w->t->type));
    return FALSE;
  }
  w->type = w->t->type;
  w->rows = (guint32) ne2;
  w->cols = (guint32) (ne0 * ne1);
  w->host = w->t->data;
  return mor_weight_upload (w, bv->dev, w->t->data, w->t->size, error);
}

static gboolean
load_vector (MorBigvgan *bv, MorWeight *w, const char *name, guint32 n, GError **error)
{
  return mor_weight_load_vector (w, bv->dev, bv->gguf, name, n, FALSE, error);
}

static void
clear_amp_block (AmpBlock *B)
{
  for (guint m = 0; m < 3; m++) {
    mor_weight_clear (&B->conv1_w[m]);
    mor_weight_clear (&B->conv1_b[m]);
    mor_weight_clear (&B->conv2_w[m]);
    mor_weight_clear (&B->conv2_b[m]);
  }
  for (guint m = 0; m < 6; m++) {
    mor_weight_clear (&B->alpha[m]);
    mor_weight_clear (&B->beta[m]);
  }
}

void
mor_bigvgan_free (MorBigvgan *bv)
{
  if (!bv)
    return;
  const MorBigvganConfig *c = &bv->config;
  for (guint32 i = 0; bv->ups && i < c->n_upsamples; i++) {
    mor_weight_clear (&bv->ups[i].w);
    mor_weight_clear (&bv->ups[i].b);
  }
  for (guint32 j = 0; bv->res && j < c->n_upsamples * c->n_kernels; j++)
    clear_amp_block (&bv->res[j]);
  g_free (bv->ups);
  g_free (bv->res);
  MorWeight *all[] = { &bv->pre_w, &bv->pre_b, &bv->post_alpha, &bv->post_beta, &bv->post_w, &bv->filter };
  for (guint i = 0; i < G_N_ELEMENTS (all); i++)
    mor_weight_clear (all[i]);
  g_clear_pointer (&bv->gguf, mor_gguf_unref);
  g_clear_pointer (&bv->dev, mor_vk_device_unref);
  g_free (bv);
}

static gboolean
load_amp_block (MorBigvgan *bv, AmpBlock *B, guint32 j, guint32 ch, guint32 k, const guint32 *dilations,
                GError **error)
{
  B->kernel_size = k;
  B->dilations = dilations;
  for (guint32 m = 0; m < 3; m++) {
    g_autofree char *w1 = g_strdup_printf ("t2w.bigvgan.res.%u.conv1.%u.weight", j, m);
    g_autofree char *b1 = g_strdup_printf ("t2w.bigvgan.res.%u.conv1.%u.bias", j, m);
    g_autofree char *w2 = g_strdup_printf ("t2w.bigvgan.res.%u.conv2.%u.weight", j, m);
    g_autofree char *b2 = g_strdup_printf ("t2w.bigvgan.res.%u.conv2.%u.bias", j, m);
    if (!load_kernel (bv, &B->conv1_w[m], w1, k, ch, ch, error) || !load_vector (bv, &B->conv1_b[m], b1, ch, error) ||
        !load_kernel (bv, &B->conv2_w[m], w2, k, ch, ch, error) || !load_vector (bv, &B->conv2_b[m], b2, ch, error))
      return FALSE;
  }
  for (guint32 m = 0; m < 6; m++) {
    g_autofree char *a = g_strdup_printf ("t2w.bigvgan.res.%u.act.%u.alpha", j, m);
    g_autofree char *b = g_strdup_printf ("t2w.bigvgan.res.%u.act.%u.beta", j, m);
    if (!load_vector (bv, &B->alpha[m], a, ch, error) || !load_vector (bv, &B->beta[m], b, ch, error))
      return FALSE;
  }
  return TRUE;
}

/**
 * mor_bigvgan_load:
 * @dev: the device to run on
 * @gguf: a talker.gguf (or a one-file model holding it)
 * @error: return location for a #GError, or %NULL
 *
 * Checks every hyper-parameter and tensor shape, then uploads the weights.
 * Errors name the file and the key or tensor: MOR_BIGVGAN_ERROR_CONFIG for
 * inconsistent keys, MOR_GGUF_ERROR_NOT_FOUND / _TYPE for a missing key or
 * tensor, or one of the wrong type or shape.
 *
 * Returns: (transfer full): the vocoder, or %NULL with @error set
 */
MorBigvgan *
mor_bigvgan_load (MorVkDevice *dev, MorGguf *gguf, GError **error)
{
  g_autoptr (MorBigvgan) bv = g_new0 (MorBigvgan, 1);
  bv->dev = mor_vk_device_ref (dev);
  bv->gguf = mor_gguf_ref (gguf);
  MorBigvganConfig *c = &bv->config;
  if (!read_config (gguf, c, error))
    return NULL;
  guint32 ch = c->upsample_initial_channel;
  if (!load_kernel (bv, &bv->pre_w, "t2w.bigvgan.conv_pre.weight", 7, c->mel_dim, ch, error) ||
      !load_vector (bv, &bv->pre_b, "t2w.bigvgan.conv_pre.bias", ch, error))
    return NULL;
  bv->ups = g_new0 (Upsampler, c->n_upsamples);
  bv->res = g_new0 (AmpBlock, c->n_upsamples * c->n_kernels);
  for (guint32 i = 0; i < c->n_upsamples; i++, ch /= 2) {
    g_autofree char *wn = g_strdup_printf ("t2w.bigvgan.ups.%u.weight", i);
    g_autofree char *bn = g_strdup_printf ("t2w.bigvgan.ups.%u.bias", i);
    if (!load_kernel (bv, &bv->ups[i].w, wn, c->upsample_kernel_sizes[i], ch / 2, ch, error) ||
        !load_vector (bv, &bv->ups[i].b, bn, ch / 2, error))
      return NULL;
    for (guint32 r = 0; r < c->n_kernels; r++) {
      guint32 j = i * c->n_kernels + r;
      if (!load_amp_block (bv, &bv->res[j], j, ch / 2, c->resblock_kernel_sizes[r], c->resblock_dilation_sizes[r],
                           error))
        return NULL;
    }
  }
  if (!load_vector (bv, &bv->post_alpha, "t2w.bigvgan.act_post.alpha", ch, error) ||
      !load_vector (bv, &bv->post_beta, "t2w.bigvgan.act_post.beta", ch, error) ||
      !load_kernel (bv, &bv->post_w, "t2w.bigvgan.conv_post.weight", 7, ch, 1, error))
    return NULL;
  /* UpSample1d and DownSample1d of TorchActivation1d build the same filter: kaiser_sinc_filter1d(0.5 / ratio,
   * 0.6 / ratio, kernel_size) */
  MorWeight *f = &bv->filter;
  f->type = MOR_TYPE_F32;
  f->rows = 1;
  f->cols = MOR_BIGVGAN_ACT_TAPS;
  f->host = f->owned = g_new (float, MOR_BIGVGAN_ACT_TAPS);
  mor_kaiser_sinc_filter (f->owned, MOR_BIGVGAN_ACT_TAPS, 0.5 / MOR_BIGVGAN_ACT_RATIO, 0.6 / MOR_BIGVGAN_ACT_RATIO);
  if (!mor_weight_upload (f, bv->dev, f->owned, MOR_BIGVGAN_ACT_TAPS * 4, error))
    return NULL;
  return g_steal_pointer (&bv);
}

const MorBigvganConfig *
mor_bigvgan_get_config (MorBigvgan *bv)
{
  return &bv->config;
}

/* ---- the forward pass ---- */

/* Qwen2_5OmniToken2WavBigVGANModel.process_mel_spectrogram, in fp32 as torch computes it:
 *   amplitude = exp(mel); db = 20·log10(clamp(amplitude, min=exp(-115/20·ln 10))) - 20
 *   x = clamp(2·((db - (-115)) / 115) - 1, -1, 1)
 * @mel [n_mel, n_frames] with rows of @stride; @x packed [n_mel, n_frames]. */
static void
process_mel (const float *mel, guint32 n_mel, guint32 n_frames, guint32 stride, float *x)
{
  float min_level = expf ((float) (MEL_MIN_DB / 20.0 * log (10.0)));
  for (guint32 m = 0; m < n_mel; m++)
    for (guint32 t = 0; t < n_frames; t++) {
      float amplitude = MAX (expf (mel[(gsize) m * stride + t]), min_level);
      float db = 20.0f * log10f (amplitude) - MEL_DB_OFFSET;
      float v = 2.0f * ((db - (float) MEL_MIN_DB) / (float) -MEL_MIN_DB) - 1.0f;
      x[(gsize) m * n_frames + t] = CLAMP (v, -1.0f, 1.0f);
    }
}

/* torch.clamp(waveform, -1, 1) */
static void
clamp_samples (const float *y, float *out, guint64 n)
{
  for (guint64 i = 0; i < n; i++)
    out[i] = CLAMP (y[i], -1.0f, 1.0f);
}

/* nn.Conv1d(in, out, k, 1, dilation=d, padding=(k·d - d) / 2) over L samples. */
static MorConv1d
conv_same (guint32 in, guint32 out, guint32 L, guint32 k, guint32 d)
{
  guint32 pad = (k * d - d) / 2;
  return (MorConv1d) { 1, in, out, L, k, 1, d, 1, pad, pad, MOR_PAD_ZEROS };
}

/* ups[i]: nn.ConvTranspose1d(in, in / 2, k, stride=r, padding=(k - r) // 2) over L frames. */
static MorConvTranspose1d
conv_up (const MorBigvganConfig *c, guint32 i, guint32 in, guint32 L)
{
  guint32 k = c->upsample_kernel_sizes[i], r = c->upsample_rates[i];
  return (MorConvTranspose1d) { 1, in, in / 2, L, k, r, (k - r) / 2, 0, 1 };
}

/* Floats of the widest activation for windows of T frames: c0·T after conv_pre,
 * c_i·L_i after upsampler i. */
static guint64
widest (const MorBigvganConfig *c, guint32 T)
{
  guint64 ch = c->upsample_initial_channel, L = T, most = ch * L;
  for (guint32 i = 0; i < c->n_upsamples; i++) {
    ch /= 2;
    L *= c->upsample_rates[i];
    most = MAX (most, ch * L);
  }
  return most;
}

/* Activations of one window, allocated once per session for max_frames. */
typedef struct {
  MorVkView in;                    /* (mel_dim, T) the processed mel, host-written */
  MorVkView mel;                   /* (mel_dim, T) its device copy */
  MorVkView h;                     /* (c, L) an upsampler's output: the AMPBlocks' input */
  MorVkView acc;                   /* (c, L) Σ AMPBlocks, then their mean: the next upsampler's input */
  MorVkView xr;                    /* (c, L) the running x of AMPBlocks after the first */
  MorVkView a, b;                  /* (c, L) act and conv outputs inside an AMPBlock; a holds conv_pre's */
  MorVkView y;                     /* (T·hop) conv_post's output, host-visible */
} RunState;

struct _MorBigvganSession {
  MorBigvgan *bv;
  guint32 max_frames;
  MorVkArena *device_arena, *host_arena;
  RunState r;
  MorVkStream *rec;                /* the forward pass for rec_frames frames */
  guint32 rec_frames;              /* 0: nothing recorded */
  float *samples;                  /* (max_frames·hop) the clamped waveform handed out */
  /* streaming */
  float *window;                   /* (mel_dim, max_frames) [context | new frames], rows of max_frames */
  guint32 overlap;                 /* frames of context each side of a kept sample */
  guint32 n_ctx;                   /* frames of context at the start of window */
  guint64 pushed, emitted;         /* frames pushed, frames whose samples were handed out */
  gboolean ended;
};

/* AMPBlock.forward on x_in (c, L), result in x: for m < 3,
 *   residual = x; x = act1(x); x = convs1[m](x); x = act2(x); x = convs2[m](x); x = residual + x
 * Same sequence as ref_amp_block(). */
static void
record_amp_block (MorBigvganSession *s, MorVkStream *st, const AmpBlock *B, guint32 c, guint32 L, MorVkView x_in,
                  MorVkView x)
{
  const MorBigvgan *bv = s->bv;
  const RunState *r = &s->r;
  MorVkView f = mor_weight_view (&bv->filter);
  for (guint32 m = 0; m < 3; m++) {
    MorVkView src = m == 0 ? x_in : x;
    MorConv1d conv1 = conv_same (c, c, L, B->kernel_size, B->dilations[m]);
    MorConv1d conv2 = conv_same (c, c, L, B->kernel_size, 1);
    mor_op_fir_snake_beta (st, src, mor_weight_view (&B->alpha[2 * m]), mor_weight_view (&B->beta[2 * m]), f, r->a,
                           c, L, MOR_BIGVGAN_ACT_TAPS, MOR_BIGVGAN_ACT_RATIO);
    mor_op_conv1d (st, &conv1, B->conv1_w[m].type, r->a, mor_weight_view (&B->conv1_w[m]),
                   mor_weight_view (&B->conv1_b[m]), r->b);
    mor_op_fir_snake_beta (st, r->b, mor_weight_view (&B->alpha[2 * m + 1]), mor_weight_view (&B->beta[2 * m + 1]),
                           f, r->a, c, L, MOR_BIGVGAN_ACT_TAPS, MOR_BIGVGAN_ACT_RATIO);
    mor_op_conv1d (st, &conv2, B->conv2_w[m].type, r->a, mor_weight_view (&B->conv2_w[m]),
                   mor_weight_view (&B->conv2_b[m]), r->b);
    mor_op_binary (st, MOR_BINARY_ADD, src, r->b, x, c, L, MOR_BROADCAST_NONE);
  }
}

/* Records the forward pass of a window of T frames, processed mel in r->in,
 * samples to r->y. Same sequence of ops as mor_bigvgan_reference_forward(). */
static void
record_forward (MorBigvganSession *s, MorVkStream *st, guint32 T)
{
  const MorBigvgan *bv = s->bv;
  const MorBigvganConfig *c = &bv->config;
  const RunState *r = &s->r;
  guint32 ch = c->upsample_initial_channel, L = T, nk = c->n_kernels;

  mor_vk_stream_copy (st, mor_vk_view_sub (r->in, 0, (guint64) c->mel_dim * T * 4),
                      mor_vk_view_sub (r->mel, 0, (guint64) c->mel_dim * T * 4));
  // conv_pre: Conv1d(mel_dim, c0, 7, 1, padding=3)
  MorConv1d pre = conv_same (c->mel_dim, ch, T, 7, 1);
  mor_op_conv1d (st, &pre, bv->pre_w.type, r->mel, mor_weight_view (&bv->pre_w), mor_weight_view (&bv->pre_b), r->a);
  MorVkView x = r->a;
  for (guint32 i = 0; i < c->n_upsamples; i++) {
    // x = ups[i][0](x)
    MorConvTranspose1d up = conv_up (c, i, ch, L);
    mor_op_conv_transpose1d (st, &up, bv->ups[i].w.type, x, mor_weight_view (&bv->ups[i].w),
                             mor_weight_view (&bv->ups[i].b), r->h);
    ch /= 2;
    L *= c->upsample_rates[i];
    // x = sum(resblocks[i·nk + j](x) for j < nk) / nk
    for (guint32 j = 0; j < nk; j++) {
      record_amp_block (s, st, &bv->res[i * nk + j], ch, L, r->h, j == 0 ? r->acc : r->xr);
      if (j > 0)
        mor_op_binary (st, MOR_BINARY_ADD, r->acc, r->xr, r->acc, ch, L, MOR_BROADCAST_NONE);
    }
    mor_op_scale (st, r->acc, r->acc, ch * L, 1.0f / nk, 0.0f);
    x = r->acc;
  }
  // activation_post (anti-aliased SnakeBeta), conv_post: Conv1d(c_last, 1, 7, 1, padding=3, bias=False)
  MorConv1d post = conv_same (ch, 1, L, 7, 1);
  mor_op_fir_snake_beta (st, x, mor_weight_view (&bv->post_alpha), mor_weight_view (&bv->post_beta),
                         mor_weight_view (&bv->filter), r->a, ch, L, MOR_BIGVGAN_ACT_TAPS, MOR_BIGVGAN_ACT_RATIO);
  mor_op_conv1d (st, &post, bv->post_w.type, r->a, mor_weight_view (&bv->post_w), (MorVkView) { 0 }, r->y);
}

/* ---- sessions ---- */

void
mor_bigvgan_session_free (MorBigvganSession *s)
{
  if (!s)
    return;
  mor_vk_stream_free (s->rec);
  mor_vk_arena_free (s->device_arena);
  mor_vk_arena_free (s->host_arena);
  g_free (s->samples);
  g_free (s->window);
  g_free (s);
}

/**
 * mor_bigvgan_session_new:
 * @bv: the vocoder (outlives the session)
 * @max_frames: the longest window, in mel frames (≥ 1)
 * @error: return location for a #GError, or %NULL
 *
 * Allocates the activations for windows of up to @max_frames frames. Fails
 * (MOR_VK_ERROR) where the device cannot hold or bind them.
 *
 * Returns: (transfer full): the session, or %NULL with @error set
 */
MorBigvganSession *
mor_bigvgan_session_new (MorBigvgan *bv, guint32 max_frames, GError **error)
{
  g_return_val_if_fail (max_frames > 0, NULL);
  const MorBigvganConfig *c = &bv->config;
  guint64 n_samples = (guint64) max_frames * c->hop, S = widest (c, max_frames);
  guint64 mel_bytes = (guint64) c->mel_dim * max_frames * 4;
  if (n_samples > G_MAXUINT32 || S > G_MAXUINT32) {
    g_set_error (error, MOR_BIGVGAN_ERROR, MOR_BIGVGAN_ERROR_INPUT,
                 "bigvgan: windows of %u frames (%" G_GUINT64_FORMAT " samples) are too long", max_frames,
                 n_samples);
    return NULL;
  }
  g_autoptr (MorBigvganSession) s = g_new0 (MorBigvganSession, 1);
  s->bv = bv;
  s->max_frames = max_frames;
  guint64 align = mor_vk_device_get_info (bv->dev)->min_storage_align;
  RunState *r = &s->r;
  MorVkArena *da, *ha;
  if (!(da = s->device_arena = mor_vk_arena_new (bv->dev, mel_bytes + 5 * S * 4 + 8 * align, MOR_VK_MEMORY_DEVICE,
                                                 error)) ||
      !(ha = s->host_arena = mor_vk_arena_new (bv->dev, mel_bytes + n_samples * 4 + 4 * align, MOR_VK_MEMORY_HOST,
                                               error)) ||
      !mor_vk_arena_alloc (ha, mel_bytes, &r->in, error) ||
      !mor_vk_arena_alloc (ha, n_samples * 4, &r->y, error) ||
      !mor_vk_arena_alloc (da, mel_bytes, &r->mel, error) ||
      !mor_vk_arena_alloc (da, S * 4, &r->h, error) ||
      !mor_vk_arena_alloc (da, S * 4, &r->acc, error) ||
      !mor_vk_arena_alloc (da, S * 4, &r->xr, error) ||
      !mor_vk_arena_alloc (da, S * 4, &r->a, error) ||
      !mor_vk_arena_alloc (da, S * 4, &r->b, error) ||
      !(s->rec = mor_vk_stream_new (bv->dev, error)))
    return NULL;
  s->samples = g_new (float, n_samples);
  s->window = g_new (float, (gsize) c->mel_dim * max_frames);
  /* Record the longest window now: a size the device cannot bind fails here, not mid-stream. */
  mor_vk_stream_begin (s->rec);
  record_forward (s, s->rec, max_frames);
  if (!mor_vk_stream_end (s->rec, error))
    return NULL;
  s->rec_frames = max_frames;
  mor_bigvgan_session_stream_reset (s, 0);
  return g_steal_pointer (&s);
}

guint32
mor_bigvgan_session_max_frames (MorBigvganSession *s)
{
  return s->max_frames;
}

/**
 * mor_bigvgan_session_vocode:
 * @s: a session
 * @mel: (array): [mel_dim, @n_frames] natural-log mel amplitudes, rows of @mel_stride
 * @n_frames: frames, 1 to the session's max_frames
 * @mel_stride: floats from one band's first frame to the next band's (≥ @n_frames)
 * @error: return location for a #GError, or %NULL
 *
 * Returns: (transfer none): n_frames·hop samples, valid until the next call on
 * @s; %NULL with @error set
 */
const float *
mor_bigvgan_session_vocode (MorBigvganSession *s, const float *mel, guint32 n_frames, guint32 mel_stride,
                            GError **error)
{
  g_return_val_if_fail (mel_stride >= n_frames, NULL);
  const MorBigvganConfig *c = &s->bv->config;
  if (n_frames == 0 || n_frames > s->max_frames) {
    g_set_error (error, MOR_BIGVGAN_ERROR, MOR_BIGVGAN_ERROR_INPUT,
                 "bigvgan: a window of %u mel frames; this session takes 1 to %u", n_frames, s->max_frames);
    return NULL;
  }
  for (guint32 m = 0; m < c->mel_dim; m++)
    for (guint32 t = 0; t < n_frames; t++)
      if (isnan (mel[(gsize) m * mel_stride + t])) {
        g_set_error (error, MOR_BIGVGAN_ERROR, MOR_BIGVGAN_ERROR_INPUT,
                     "bigvgan: the mel value of band %u, frame %u is NaN", m, t);
        return NULL;
      }
  RunState *r = &s->r;
  process_mel (mel, c->mel_dim, n_frames, mel_stride, (float *) ((char *) r->in.buf->mapped + r->in.offset));
  if (s->rec_frames != n_frames) {
    s->rec_frames = 0;
    mor_vk_stream_begin (s->rec);
    record_forward (s, s->rec, n_frames);
    if (!mor_vk_stream_end (s->rec, error))
      return NULL;
    s->rec_frames = n_frames;
  }
  if (!mor_vk_stream_submit (s->rec, error))
    return NULL;
  clamp_samples ((const float *) ((const char *) r->y.buf->mapped + r->y.offset), s->samples,
                 (guint64) n_frames * c->hop);
  return s->samples;
}

void
mor_bigvgan_session_stream_reset (MorBigvganSession *s, guint32 overlap)
{
  s->overlap = overlap;
  s->n_ctx = 0;
  s->pushed = s->emitted = 0;
  s->ended = FALSE;
}

/**
 * mor_bigvgan_session_stream_push:
 * @s: a session, after mor_bigvgan_session_stream_reset()
 * @mel: (array): [mel_dim, @n_frames] the new frames, rows of @mel_stride
 * @n_frames: new frames
 * @mel_stride: as for mor_bigvgan_session_vocode()
 * @last: whether these are the utterance's last frames
 * @n_samples: (out): samples returned
 * @error: return location for a #GError, or %NULL
 *
 * Errors: MOR_BIGVGAN_ERROR_INPUT when the context (up to 2·overlap frames)
 * and the new frames are more than the session's max_frames, or for a NaN.
 *
 * Returns: (transfer none): the samples to play next, valid until the next
 * call on @s; %NULL with @error set
 */
const float *
mor_bigvgan_session_stream_push (MorBigvganSession *s, const float *mel, guint32 n_frames, guint32 mel_stride,
                                 gboolean last, guint64 *n_samples, GError **error)
{
  g_return_val_if_fail (!s->ended && mel_stride >= n_frames, NULL);
  const MorBigvganConfig *c = &s->bv->config;
  guint32 M = s->max_frames, T = s->n_ctx + n_frames;
  *n_samples = 0;
  if (T == 0 || (n_frames == 0 && !last)) {
    s->ended = last;
    return s->samples;
  }
  if ((guint64) s->n_ctx + n_frames > M) {
    g_set_error (error, MOR_BIGVGAN_ERROR, MOR_BIGVGAN_ERROR_INPUT,
                 "bigvgan: %u new mel frames after %u frames of context are more than the %u frames this session "
                 "takes", n_frames, s->n_ctx, M);
    return NULL;
  }
  /* window = [the last n_ctx frames pushed | the new frames] */
  for (guint32 m = 0; m < c->mel_dim; m++)
    memcpy (s->window + (gsize) m * M + s->n_ctx, mel + (gsize) m * mel_stride, (gsize) n_frames * 4);
  const float *y = mor_bigvgan_session_vocode (s, s->window, T, M, error);
  if (!y)
    return NULL;
  /* Keep frames [emitted, end): end stops overlap frames short of the window's end, but never goes back. */
  guint64 start = s->pushed - s->n_ctx, end = s->pushed + n_frames;
  if (!last)
    end = end >= s->emitted + s->overlap ? end - s->overlap : s->emitted;
  g_assert (s->emitted >= start && end >= s->emitted);
  y += (s->emitted - start) * c->hop;
  *n_samples = (end - s->emitted) * c->hop;
  s->pushed += n_frames;
  s->emitted = end;
  s->ended = last;
  /* The next window's context: the last 2·overlap frames of this one. */
  guint32 keep = MIN (2 * s->overlap, T);
  for (guint32 m = 0; m < c->mel_dim && keep < T; m++)
    memmove (s->window + (gsize) m * M, s->window + (gsize) m * M + (T - keep), (gsize) keep * 4);
  s->n_ctx = keep;
  return y;
}

/* ---- the C reference ---- */

/* Host buffers of the reference forward, like RunState. */
typedef struct {
  float *h, *acc, *xr, *a, *b;
} RefState;

static void
ref_amp_block (const MorBigvgan *bv, RefState *r, const AmpBlock *B, guint32 c, guint32 L, const float *x_in,
               float *x)
{
  const float *f = bv->filter.host;
  for (guint32 m = 0; m < 3; m++) {
    const float *src = m == 0 ? x_in : x;
    MorConv1d conv1 = conv_same (c, c, L, B->kernel_size, B->dilations[m]);
    MorConv1d conv2 = conv_same (c, c, L, B->kernel_size, 1);
    mor_ref_fir_snake_beta (src, B->alpha[2 * m].host, B->beta[2 * m].host, f, r->a, c, L, MOR_BIGVGAN_ACT_TAPS,
                            MOR_BIGVGAN_ACT_RATIO);
    mor_ref_conv1d (&conv1, B->conv1_w[m].type, r->a, B->conv1_w[m].host, B->conv1_b[m].host, r->b);
    mor_ref_fir_snake_beta (r->b, B->alpha[2 * m + 1].host, B->beta[2 * m + 1].host, f, r->a, c, L,
                            MOR_BIGVGAN_ACT_TAPS, MOR_BIGVGAN_ACT_RATIO);
    mor_ref_conv1d (&conv2, B->conv2_w[m].type, r->a, B->conv2_w[m].host, B->conv2_b[m].host, r->b);
    mor_ref_binary (MOR_BINARY_ADD, src, r->b, x, c, L, MOR_BROADCAST_NONE);
  }
}

void
mor_bigvgan_reference_forward (MorBigvgan *bv, const float *mel, guint32 n_frames, guint32 mel_stride, float *out)
{
  const MorBigvganConfig *c = &bv->config;
  guint32 ch = c->upsample_initial_channel, L = n_frames, nk = c->n_kernels, T = n_frames;
  gsize S = widest (c, n_frames);
  g_autofree float *in = g_new (float, (gsize) c->mel_dim * T), *y = g_new (float, (gsize) T * c->hop);
  g_autofree float *h = g_new (float, S), *acc = g_new (float, S), *xr = g_new (float, S);
  g_autofree float *a = g_new (float, S), *b = g_new (float, S);
  RefState r = { h, acc, xr, a, b };

  process_mel (mel, c->mel_dim, T, mel_stride, in);
  MorConv1d pre = conv_same (c->mel_dim, ch, T, 7, 1);
  mor_ref_conv1d (&pre, bv->pre_w.type, in, bv->pre_w.host, bv->pre_b.host, r.a);
  const float *x = r.a;
  for (guint32 i = 0; i < c->n_upsamples; i++) {
    MorConvTranspose1d up = conv_up (c, i, ch, L);
    mor_ref_conv_transpose1d (&up, bv->ups[i].w.type, x, bv->ups[i].w.host, bv->ups[i].b.host, r.h);
    ch /= 2;
    L *= c->upsample_rates[i];
    for (guint32 j = 0; j < nk; j++) {
      ref_amp_block (bv, &r, &bv->res[i * nk + j], ch, L, r.h, j == 0 ? r.acc : r.xr);
      if (j > 0)
        mor_ref_binary (MOR_BINARY_ADD, r.acc, r.xr, r.acc, ch, L, MOR_BROADCAST_NONE);
    }
    mor_ref_scale (r.acc, r.acc, ch * L, 1.0f / nk, 0.0f);
    x = r.acc;
  }
  MorConv1d post = conv_same (ch, 1, L, 7, 1);
  mor_ref_fir_snake_beta (x, bv->post_alpha.host, bv->post_beta.host, bv->filter.host, r.a, ch, L,
                          MOR_BIGVGAN_ACT_TAPS, MOR_BIGVGAN_ACT_RATIO);
  mor_ref_conv1d (&post, bv->post_w.type, r.a, bv->post_w.host, NULL, y);
  clamp_samples (y, out, (guint64) T * c->hop);
}

/* ---- speed ---- */

static int
cmp_double (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

gboolean
mor_bigvgan_measure_rtf (MorBigvgan *bv, guint32 n_frames, guint n_runs, double *rtf, double *ms_per_window,
                         GError **error)
{
  g_return_val_if_fail (n_frames > 0 && n_runs > 0, FALSE);
  const MorBigvganConfig *c = &bv->config;
  g_autoptr (MorBigvganSession) s = mor_bigvgan_session_new (bv, n_frames, error);
  if (!s)
    return FALSE;
  /* log-amplitudes in the range a DiT writes (about -11 to 2) */
  g_autoptr (GRand) rand = g_rand_new_with_seed (1);
  g_autofree float *mel = g_new (float, (gsize) c->mel_dim * n_frames);
  for (gsize i = 0; i < (gsize) c->mel_dim * n_frames; i++)
    mel[i] = (float) g_rand_double_range (rand, -11.0, 2.0);
  g_autofree double *ms = g_new (double, n_runs);
  for (guint i = 0; i <= n_runs; i++) {
    gint64 t0 = g_get_monotonic_time ();
    if (!mor_bigvgan_session_vocode (s, mel, n_frames, n_frames, error))
      return FALSE;
    if (i > 0)                  /* the first is the warm-up */
      ms[i - 1] = (g_get_monotonic_time () - t0) / 1000.0;
  }
  qsort (ms, n_runs, sizeof (double), cmp_double);
  double median = ms[n_runs / 2];
  *rtf = median / 1000.0 / ((double) n_frames * c->hop / c->sample_rate);
  if (ms_per_window)
    *ms_per_window = median;
  return TRUE;
}
