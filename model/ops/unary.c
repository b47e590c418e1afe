/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* unary: element-wise activations (SiLU, GELU erf and tanh forms, ReLU, tanh, sigmoid), dispatch and C reference. */
#include "ops.h"

#include <math.h>
#include "mor-spv.h"

typedef struct {
  guint32 n;
} UnaryPush;
G_STATIC_ASSERT (sizeof (UnaryPush) == 4);

static const MorVkPipelineDesc unary_f32[] = {
  [MOR_UNARY_SILU] = { "unary_silu_f32", mor_spv_unary_silu_f32, &mor_spv_unary_silu_f32_size, 2, 1u << 1,
                       sizeof (UnaryPush) },
  [MOR_UNARY_GELU_ERF] = { "unary_gelu_erf_f32", mor_spv_unary_gelu_erf_f32, &mor_spv_unary_gelu_erf_f32_size,
                           2, 1u << 1, sizeof (UnaryPush) },
  [MOR_UNARY_GELU_TANH] = { "unary_gelu_tanh_f32", mor_spv_unary_gelu_tanh_f32,
                            &mor_spv_unary_gelu_tanh_f32_size, 2, 1u << 1, sizeof (UnaryPush) },
  [MOR_UNARY_RELU] = { "unary_relu_f32", mor_spv_unary_relu_f32, &mor_spv_unary_relu_f32_size, 2, 1u << 1,
                       sizeof (UnaryPush) },
  [MOR_UNARY_TANH] = { "unary_tanh_f32", mor_spv_unary_tanh_f32, &mor_spv_unary_tanh_f32_size, 2, 1u << 1,
                       sizeof (UnaryPush) },
  [MOR_UNARY_SIGMOID] = { "unary_sigmoid_f32", mor_spv_unary_sigmoid_f32, &mor_spv_unary_sigmoid_f32_size, 2,
                          1u << 1, sizeof (UnaryPush) },
};

void
mor_op_unary (MorVkStream *s, MorUnaryOp op, MorVkView x, MorVkView y, guint32 n)
{
  g_return_if_fail (op < G_N_ELEMENTS (unary_f32));
  g_return_if_fail (n > 0);
  guint64 bytes = (guint64) n * 4;
  g_return_if_fail (x.size >= bytes && y.size >= bytes);
  MorVkDevice *dev = mor_vk_stream_get_device (s);
  const MorVkDeviceInfo *info = mor_vk_device_get_info (dev);
  if (bytes > info->max_storage_range) {
    mor_vk_stream_set_error (s, g_error_new (MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED,
        "%s: %u floats are more than the %" G_GUINT64_FORMAT " bytes one storage binding may cover on %s",
        unary_f32[op].name, n, info->max_storage_range, info->name));
    return;
  }
  UnaryPush pc = { n };
  guint32 spec[] = { 256 };
  guint32 gx, gy;
  mor_vk_grid (dev, n, spec[0], &gx, &gy);
  MorVkView b[] = { mor_vk_view_sub (x, 0, bytes), mor_vk_view_sub (y, 0, bytes) };
  mor_vk_stream_dispatch (s, &unary_f32[op], spec, G_N_ELEMENTS (spec), b, &pc, gx, gy, 1);
}

void
mor_ref_unary (MorUnaryOp op, const float *x, float *y, guint32 n)
{
  for (guint32 i = 0; i < n; i++) {
    float v = x[i];
    switch (op) {
    case MOR_UNARY_SILU:        /* PyTorch: x / (1 + exp(-x)) */
      y[i] = v / (1.0f + expf (-v));
      break;
    case MOR_UNARY_GELU_ERF:    /* PyTorch: x * 0.5 * (1 + erf(x * M_SQRT1_2)) */
      y[i] = v * 0.5f * (1.0f + erff (v * (float) M_SQRT1_2));
      break;
    case MOR_UNARY_GELU_TANH:   /* PyTorch: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))) */
      y[i] = 0.5f * v * (1.0f + tanhf ((float) (M_SQRT2 * M_2_SQRTPI * 0.5) * (v + 0.044715f * v * v * v)));
      break;
    case MOR_UNARY_RELU:        /* PyTorch: max(x, 0) */
      y[i] = v > 0.0f ? v : 0.0f;
      break;
    case MOR_UNARY_TANH:
      y[i] = tanhf (v);
      break;
    case MOR_UNARY_SIGMOID:     /* PyTorch: 1 / (1 + exp(-x)) */
      y[i] = 1.0f / (1.0f + expf (-v));
      break;
    }
  }
}
