/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* conv_transpose1d: PyTorch nn.ConvTranspose1d (dilation 1) over [n_batch,
 * channels, time], dispatch and C reference. */
#include "ops.h"
#include "conv_gemm.h"

#include "mor-spv.h"

typedef struct {
  guint32 c_in_g, c_out_g, groups;
  guint32 t_in, t_out;
  guint32 kernel_size, stride, padding, taps, has_bias;
  guint32 tiles_n, n_tiles;
} ConvTranspose1dPush;
G_STATIC_ASSERT (sizeof (ConvTranspose1dPush) == 48);

#define CONV_TRANSPOSE1D_DESC(name) \
  { #name, mor_spv_##name, &mor_spv_##name##_size, 4, 1u << 3, sizeof (ConvTranspose1dPush) }
static const MorVkPipelineDesc conv_transpose1d_f32 = CONV_TRANSPOSE1D_DESC (conv_transpose1d_f32);
static const MorVkPipelineDesc conv_transpose1d_f16 = CONV_TRANSPOSE1D_DESC (conv_transpose1d_f16);

guint32
mor_conv_transpose1d_out_length (const MorConvTranspose1d *c)
{
  gint64 n = ((gint64) c->length - 1) * c->stride - 2 * (gint64) c->padding + c->kernel_size + c->output_padding;
  return n < 0 ? 0 : (guint32) n;
}

void
mor_op_conv_transpose1d (MorVkStream *s, const MorConvTranspose1d *c, MorType w_type, MorVkView x, MorVkView w,
                         MorVkView bias, MorVkView y)
{
  g_return_if_fail (w_type == MOR_TYPE_F32 || w_type == MOR_TYPE_F16);
  g_return_if_fail (c->n_batch > 0 && c->groups > 0 && c->kernel_size > 0 && c->stride > 0 && c->length > 0);
  g_return_if_fail (c->in_channels % c->groups == 0 && c->out_channels % c->groups == 0);
  g_return_if_fail (c->in_channels > 0 && c->out_channels > 0);
  g_return_if_fail (c->output_padding < c->stride);   /* PyTorch's rule (dilation 1) */
  guint32 t_out = mor_conv_transpose1d_out_length (c);
  guint32 c_in_g = c->in_channels / c->groups, c_out_g = c->out_channels / c->groups;
  g_return_if_fail (t_out > 0);
  guint64 x_bytes = (guint64) c->n_batch * c->in_channels * c->length * 4;
  guint64 w_bytes = (guint64) c->in_channels * c_out_g * c->kernel_size * (w_type == MOR_TYPE_F32 ? 4 : 2);
  guint64 y_bytes = (guint64) c->n_batch * c->out_channels * t_out * 4;
  g_return_if_fail (x.size >= x_bytes && w.size >= w_bytes && y.size >= y_bytes);
  g_return_if_fail (!bias.buf || bias.size >= (guint64) c->out_channels * 4);
  MorVkDevice *dev = mor_vk_stream_get_device (s);
  const MorVkDeviceInfo *info = mor_vk_device_get_info (dev);
  if (MAX (MAX (x_bytes, w_bytes), y_bytes) > info->max_storage_range) {
    mor_vk_stream_set_error (s, g_error_new (MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED,
        "conv_transpose1d: x %" G_GUINT64_FORMAT ", w %" G_GUINT64_FORMAT ", y %" G_GUINT64_FORMAT " bytes: "
        "more than the %" G_GUINT64_FORMAT " bytes one storage binding may cover", x_bytes, w_bytes, y_bytes,
        info->max_storage_range));
    return;
  }
  /* Outputs per phase: at most ceil(t_out / stride). */
  guint32 n_phase = (t_out + c->stride - 1) / c->stride;
  guint32 bm, bn;
  mor_conv_gemm_pick_tile (info, c_out_g, n_phase, &bm, &bn);
  guint32 tiles_n = (n_phase + bn - 1) / bn;
  ConvTranspose1dPush pc = { c_in_g, c_out_g, c->groups, c->length, t_out, c->kernel_size, c->stride, c->padding,
                             (c->kernel_size + c->stride - 1) / c->stride, bias.buf != NULL,
                             tiles_n, tiles_n * ((c_out_g + bm - 1) / bm) };
  guint64 gz = (guint64) c->n_batch * c->groups * c->stride;
  g_return_if_fail (gz <= info->max_workgroup_count[2]);
  /* Without a bias, x stands in for it at binding 2 (never read). */
  MorVkView xv = mor_vk_view_sub (x, 0, x_bytes);
  MorVkView b[] = { xv, mor_vk_view_sub (w, 0, w_bytes),
                    bias.buf ? mor_vk_view_sub (bias, 0, (guint64) c->out_channels * 4) : xv,
                    mor_vk_view_sub (y, 0, y_bytes) };
  guint32 spec[] = { 256, bm, bn, 16, 4, 4 };
  guint32 gx, gy;
  mor_vk_grid (dev, pc.n_tiles, 1, &gx, &gy);
  mor_vk_stream_dispatch (s, w_type == MOR_TYPE_F32 ? &conv_transpose1d_f32 : &conv_transpose1d_f16,
                          spec, G_N_ELEMENTS (spec), b, &pc, gx, gy, (guint32) gz);
}

void
mor_ref_conv_transpose1d (const MorConvTranspose1d *c, MorType w_type, const float *x, const void *w,
                          const float *bias, float *y)
{
  guint32 t_out = mor_conv_transpose1d_out_length (c);
  guint32 c_in_g = c->in_channels / c->groups, c_out_g = c->out_channels / c->groups;
  for (guint32 b = 0; b < c->n_batch; b++)
    for (guint32 o = 0; o < c->out_channels; o++) {
      guint32 g = o / c_out_g;
      for (guint32 t = 0; t < t_out; t++) {
        double acc = bias ? bias[o] : 0.0;
        for (guint32 ci = g * c_in_g; ci < (g + 1) * c_in_g; ci++)
          for (guint32 k = 0; k < c->kernel_size; k++) {
            /* i·stride + k = t + padding */
            gint64 u = (gint64) t + c->padding - k;
            if (u < 0 || u % c->stride != 0 || u / c->stride >= c->length)
              continue;
            gsize wi = ((gsize) ci * c_out_g + o % c_out_g) * c->kernel_size + k;
            float wv = w_type == MOR_TYPE_F16 ? mor_f16_to_f32 (((const guint16 *) w)[wi]) : ((const float *) w)[wi];
            acc += (double) wv * x[((gsize) b * c->in_channels + ci) * c->length + u / c->stride];
          }
        y[((gsize) b * c->out_channels + o) * t_out + t] = (float) acc;
      }
    }
}
