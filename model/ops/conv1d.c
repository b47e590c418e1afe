/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* conv1d: PyTorch nn.Conv1d over [n_batch, channels, time], dispatch and C reference. */
#include "ops.h"
#include "conv_gemm.h"

#include "mor-spv.h"

typedef struct {
  guint32 c_in_g, c_out_g, groups;
  guint32 t_in, t_out;
  guint32 kernel_size, stride, dilation;
  guint32 pad_left, pad_mode, has_bias;
  guint32 tiles_n, n_tiles;
} Conv1dPush;
G_STATIC_ASSERT (sizeof (Conv1dPush) == 52);

#define CONV1D_DESC(name) \
  { #name, mor_spv_##name, &mor_spv_##name##_size, 4, 1u << 3, sizeof (Conv1dPush) }
static const MorVkPipelineDesc conv1d_f32 = CONV1D_DESC (conv1d_f32);
static const MorVkPipelineDesc conv1d_f16 = CONV1D_DESC (conv1d_f16);
static const MorVkPipelineDesc conv1d_bf16 = CONV1D_DESC (conv1d_bf16);
static const MorVkPipelineDesc conv1d_direct_f32 = CONV1D_DESC (conv1d_direct_f32);
static const MorVkPipelineDesc conv1d_direct_f16 = CONV1D_DESC (conv1d_direct_f16);
static const MorVkPipelineDesc conv1d_direct_bf16 = CONV1D_DESC (conv1d_direct_bf16);

/* Below this many output channels per group a tile would be mostly padding:
 * one invocation per output instead (depthwise convolutions). */
#define CONV1D_DIRECT_MAX_C_OUT_G 4

/* Tiles (BM output channels × BN outputs) of conv_gemm.glsl, 256 invocations of
 * 4 × 4 outputs each (BK = 16). */
static const guint32 conv_gemm_tiles[][2] = { { 64, 64 }, { 32, 128 }, { 16, 256 }, { 128, 32 } };

void
mor_conv_gemm_pick_tile (const MorVkDeviceInfo *info, guint32 m, guint32 n, guint32 *bm, guint32 *bn)
{
  guint64 best = G_MAXUINT64;
  *bm = *bn = 64;
  for (guint i = 0; i < G_N_ELEMENTS (conv_gemm_tiles); i++) {
    guint64 tm = conv_gemm_tiles[i][0], tn = conv_gemm_tiles[i][1];
    guint64 work = (m + tm - 1) / tm * tm * ((n + tn - 1) / tn * tn);
    if (16 * (tm + 1 + tn) * 4 <= info->max_shared_memory && work < best) {
      best = work;
      *bm = (guint32) tm;
      *bn = (guint32) tn;
    }
  }
}

guint32
mor_conv1d_out_length (const MorConv1d *c)
{
  gint64 span = (gint64) c->length + c->pad_left + c->pad_right - (gint64) c->dilation * (c->kernel_size - 1) - 1;
  return span < 0 ? 0 : (guint32) (span / c->stride + 1);
}

void
mor_conv1d_same_padding (MorConv1d *c)
{
  guint32 total = c->dilation * (c->kernel_size - 1);
  c->pad_left = total / 2;
  c->pad_right = total - total / 2;
}

void
mor_op_conv1d (MorVkStream *s, const MorConv1d *c, MorType w_type, MorVkView x, MorVkView w, MorVkView bias,
               MorVkView y)
{
  g_return_if_fail (w_type == MOR_TYPE_F32 || w_type == MOR_TYPE_F16 || w_type == MOR_TYPE_BF16);
  g_return_if_fail (c->n_batch > 0 && c->groups > 0 && c->kernel_size > 0 && c->stride > 0 && c->dilation > 0);
  g_return_if_fail (c->in_channels % c->groups == 0 && c->out_channels % c->groups == 0 && c->out_channels > 0);
  g_return_if_fail (c->pad_mode != MOR_PAD_REFLECT || (c->pad_left < c->length && c->pad_right < c->length));
  guint32 t_out = mor_conv1d_out_length (c), c_in_g = c->in_channels / c->groups;
  g_return_if_fail (c->length > 0 && c_in_g > 0 && t_out > 0);
  guint64 x_bytes = (guint64) c->n_batch * c->in_channels * c->length * 4;
  guint64 w_bytes = (guint64) c->out_channels * c_in_g * c->kernel_size * (w_type == MOR_TYPE_F32 ? 4 : 2);
  guint64 y_bytes = (guint64) c->n_batch * c->out_channels * t_out * 4;
  g_return_if_fail (x.size >= x_bytes && w.size >= w_bytes && y.size >= y_bytes);
  g_return_if_fail (!bias.buf || bias.size >= (guint64) c->out_channels * 4);
  MorVkDevice *dev = mor_vk_stream_get_device (s);
  const MorVkDeviceInfo *info = mor_vk_device_get_info (dev);
  guint64 n_out = (guint64) c->n_batch * c->out_channels * t_out;
  if (MAX (MAX (x_bytes, w_bytes), y_bytes) > info->max_storage_range || n_out > G_MAXUINT32) {
    mor_vk_stream_set_error (s, g_error_new (MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED,
        "conv1d: x %" G_GUINT64_FORMAT ", w %" G_GUINT64_FORMAT ", y %" G_GUINT64_FORMAT " bytes: more "
        "than the %" G_GUINT64_FORMAT " bytes one storage binding may cover", x_bytes, w_bytes, y_bytes,
        info->max_storage_range));
    return;
  }
  Conv1dPush pc = { c_in_g, c->out_channels / c->groups, c->groups, c->length, t_out, c->kernel_size, c->stride,
                    c->dilation, c->pad_left, c->pad_mode, bias.buf != NULL, 0, (guint32) n_out };
  /* Without a bias, x stands in for it at binding 2 (never read). */
  MorVkView xv = mor_vk_view_sub (x, 0, x_bytes);
  MorVkView b[] = { xv, mor_vk_view_sub (w, 0, w_bytes),
                    bias.buf ? mor_vk_view_sub (bias, 0, (guint64) c->out_channels * 4) : xv,
                    mor_vk_view_sub (y, 0, y_bytes) };
  guint32 gx, gy, bm, bn;
  if (pc.c_out_g <= CONV1D_DIRECT_MAX_C_OUT_G) {
    guint32 spec[] = { 256 };
    mor_vk_grid (dev, n_out, 256, &gx, &gy);
    mor_vk_stream_dispatch (s, w_type == MOR_TYPE_F32 ? &conv1d_direct_f32
                               : w_type == MOR_TYPE_F16 ? &conv1d_direct_f16 : &conv1d_direct_bf16,
                            spec, G_N_ELEMENTS (spec), b, &pc, gx, gy, 1);
    return;
  }
  mor_conv_gemm_pick_tile (info, pc.c_out_g, t_out, &bm, &bn);
  pc.tiles_n = (t_out + bn - 1) / bn;
  pc.n_tiles = pc.tiles_n * ((pc.c_out_g + bm - 1) / bm);
  g_return_if_fail (c->n_batch * c->groups <= info->max_workgroup_count[2]);
  guint32 spec[] = { 256, bm, bn, 16, 4, 4 };
  mor_vk_grid (dev, pc.n_tiles, 1, &gx, &gy);
  mor_vk_stream_dispatch (s, w_type == MOR_TYPE_F32 ? &conv1d_f32 : w_type == MOR_TYPE_F16 ? &conv1d_f16 : &conv1d_bf16,
                          spec, G_N_ELEMENTS (spec), b, &pc, gx, gy, c->n_batch * c->groups);
}

static float
weight_at (MorType type, const void *w, gsize i)
{
  if (type == MOR_TYPE_F16)
    return mor_f16_to_f32 (((const guint16 *) w)[i]);
  if (type == MOR_TYPE_BF16)
    return mor_bf16_to_f32 (((const guint16 *) w)[i]);
  return ((const float *) w)[i];
}

/* Index of padded position @pos in a row of @n samples, or -1 for a zero. */
static gint64
pad_index (MorPadMode mode, gint64 pos, gint64 n)
{
  if (pos >= 0 && pos < n)
    return pos;
  if (mode == MOR_PAD_ZEROS)
    return -1;
  if (mode == MOR_PAD_REFLECT)
    return pos < 0 ? -pos : 2 * (n - 1) - pos;
  return CLAMP (pos, 0, n - 1);
}

void
mor_ref_conv1d (const MorConv1d *c, MorType w_type, const float *x, const void *w, const float *bias, float *y)
{
  guint32 t_out = mor_conv1d_out_length (c);
  guint32 c_in_g = c->in_channels / c->groups, c_out_g = c->out_channels / c->groups;
  for (guint32 b = 0; b < c->n_batch; b++)
    for (guint32 o = 0; o < c->out_channels; o++)
      for (guint32 t = 0; t < t_out; t++) {
        double acc = bias ? bias[o] : 0.0;
        for (guint32 ci = 0; ci < c_in_g; ci++) {
          const float *row = x + ((gsize) b * c->in_channels + (gsize) (o / c_out_g) * c_in_g + ci) * c->length;
          for (guint32 k = 0; k < c->kernel_size; k++) {
            gint64 pos = (gint64) t * c->stride + (gint64) k * c->dilation - c->pad_left;
            gint64 i = pad_index (c->pad_mode, pos, c->length);
            if (i >= 0)
              acc += (double) weight_at (w_type, w, ((gsize) o * c_in_g + ci) * c->kernel_size + k) * row[i];
          }
        }
        y[((gsize) b * c->out_channels + o) * t_out + t] = (float) acc;
      }
}
