/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* swiglu: the Qwen2 MLP gate silu(gate) · up, dispatch and C reference. */
#include "ops.h"

#include <math.h>
#include "mor-spv.h"

typedef struct {
  guint32 n;
} SwigluPush;
G_STATIC_ASSERT (sizeof (SwigluPush) == 4);

static const MorVkPipelineDesc swiglu_f32 = {
  "swiglu_f32", mor_spv_swiglu_f32, &mor_spv_swiglu_f32_size, 3, 1u << 2, sizeof (SwigluPush)
};

void
mor_op_swiglu (MorVkStream *s, MorVkView gate, MorVkView up, MorVkView y, guint32 n)
{
  g_return_if_fail (n > 0);
  guint64 bytes = (guint64) n * 4;
  g_return_if_fail (gate.size >= bytes && up.size >= bytes && y.size >= bytes);
  MorVkDevice *dev = mor_vk_stream_get_device (s);
  const MorVkDeviceInfo *info = mor_vk_device_get_info (dev);
  if (bytes > info->max_storage_range) {
    mor_vk_stream_set_error (s, g_error_new (MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED,
        "swiglu: %u floats are more than the %" G_GUINT64_FORMAT " bytes one storage binding may cover on %s",
        n, info->max_storage_range, info->name));
    return;
  }
  SwigluPush pc = { n };
  guint32 spec[] = { 256 };
  guint32 gx, gy;
  mor_vk_grid (dev, n, spec[0], &gx, &gy);
  MorVkView b[] = { mor_vk_view_sub (gate, 0, bytes), mor_vk_view_sub (up, 0, bytes), mor_vk_view_sub (y, 0, bytes) };
  mor_vk_stream_dispatch (s, &swiglu_f32, spec, G_N_ELEMENTS (spec), b, &pc, gx, gy, 1);
}

void
mor_ref_swiglu (const float *gate, const float *up, float *y, guint32 n)
{
  /* HF Qwen2MLP: self.act_fn(self.gate_proj(x)) * self.up_proj(x), act_fn = silu = x / (1 + exp(-x)) */
  for (guint32 i = 0; i < n; i++)
    y[i] = gate[i] / (1.0f + expf (-gate[i])) * up[i];
}
