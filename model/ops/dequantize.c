/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dequantize: a tensor of any element type to f32, dispatch and C reference. */
#include "ops.h"

#include "mor-spv.h"

typedef struct {
  guint32 n;            /* elements in this dispatch */
} DequantizePush;
G_STATIC_ASSERT (sizeof (DequantizePush) == 4);

#define DEQUANTIZE_DESC(name) \
  { #name, mor_spv_##name, &mor_spv_##name##_size, 2, 1u << 1, sizeof (DequantizePush) }
static const MorVkPipelineDesc dequantize_f32 = DEQUANTIZE_DESC (dequantize_f32);
static const MorVkPipelineDesc dequantize_f16 = DEQUANTIZE_DESC (dequantize_f16);
static const MorVkPipelineDesc dequantize_bf16 = DEQUANTIZE_DESC (dequantize_bf16);
static const MorVkPipelineDesc dequantize_q8_0 = DEQUANTIZE_DESC (dequantize_q8_0);
static const MorVkPipelineDesc dequantize_q4_0 = DEQUANTIZE_DESC (dequantize_q4_0);
static const MorVkPipelineDesc dequantize_q4_K = DEQUANTIZE_DESC (dequantize_q4_K);
static const MorVkPipelineDesc dequantize_q6_K = DEQUANTIZE_DESC (dequantize_q6_K);

static const MorVkPipelineDesc *
dequantize_desc (MorType type)
{
  switch (type) {
    case MOR_TYPE_F32: return &dequantize_f32;
    case MOR_TYPE_F16: return &dequantize_f16;
    case MOR_TYPE_BF16: return &dequantize_bf16;
    case MOR_TYPE_Q8_0: return &dequantize_q8_0;
    case MOR_TYPE_Q4_0: return &dequantize_q4_0;
    case MOR_TYPE_Q4_K: return &dequantize_q4_K;
    case MOR_TYPE_Q6_K: return &dequantize_q6_K;
  }
  return NULL;
}

void
mor_op_dequantize (MorVkStream *s, MorType type, MorVkView a, MorVkView y, guint64 n)
{
  g_return_if_fail (mor_type_is_supported (type));
  g_return_if_fail (n > 0 && mor_type_row_bytes (type, n) > 0);
  g_return_if_fail (a.size >= mor_type_row_bytes (type, n) && y.size >= n * 4);
  MorVkDevice *dev = mor_vk_stream_get_device (s);
  const MorVkDeviceInfo *info = mor_vk_device_get_info (dev);
  guint64 bs = mor_type_block_size (type), bb = mor_type_block_bytes (type);
  /* A tensor larger than one binding goes in chunks; a chunk is a multiple of
   * bs · align elements, so that both views of every chunk start aligned. */
  guint64 unit = bs * info->min_storage_align;
  guint64 chunk = MIN (info->max_storage_range / bb * bs, info->max_storage_range / 4);
  chunk = MIN (chunk, G_MAXUINT32 / 2) / unit * unit;
  guint32 spec[] = { 256 };
  for (guint64 first = 0; first < n; first += chunk) {
    guint64 m = MIN (chunk, n - first);
    DequantizePush pc = { (guint32) m };
    MorVkView b[] = {
      mor_vk_view_sub (a, first / bs * bb, m / bs * bb),
      mor_vk_view_sub (y, first * 4, m * 4),
    };
    guint32 gx, gy;
    mor_vk_grid (dev, (m + 3) / 4, spec[0], &gx, &gy);
    mor_vk_stream_dispatch (s, dequantize_desc (type), spec, G_N_ELEMENTS (spec), b, &pc, gx, gy, 1);
  }
}

void
mor_ref_dequantize (MorType type, const void *a, float *y, guint64 n)
{
  mor_ref_dequantize_row (type, a, y, n);
}
