/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kv_store: append K or V rows to a KV cache at a position read on the GPU, dispatch and C reference. */
#include "ops.h"

#include "mor-spv.h"

typedef struct {
  guint32 n_rows;
  guint32 row_size;
  guint32 max_ctx;
} KvStorePush;
G_STATIC_ASSERT (sizeof (KvStorePush) == 12);

static const MorVkPipelineDesc kv_store_f32 = {
  "kv_store_f32", mor_spv_kv_store_f32, &mor_spv_kv_store_f32_size, 3, 1u << 2, sizeof (KvStorePush)
};
static const MorVkPipelineDesc kv_store_f16 = {
  "kv_store_f16", mor_spv_kv_store_f16, &mor_spv_kv_store_f16_size, 3, 1u << 2, sizeof (KvStorePush)
};

void
mor_op_kv_store (MorVkStream *s, MorVkView src, MorVkView pos, MorVkView cache, guint32 n_rows,
                 guint32 row_size, guint32 max_ctx, MorType kv_type)
{
  g_return_if_fail (kv_type == MOR_TYPE_F32 || kv_type == MOR_TYPE_F16);
  g_return_if_fail (n_rows > 0 && row_size > 0 && max_ctx > 0);
  g_return_if_fail ((guint64) n_rows * row_size <= G_MAXUINT32 && (guint64) max_ctx * row_size <= G_MAXUINT32);
  guint64 elt = kv_type == MOR_TYPE_F16 ? 2 : 4;
  g_return_if_fail (src.size >= (guint64) n_rows * row_size * 4 && pos.size >= 4);
  g_return_if_fail (cache.size >= (guint64) max_ctx * row_size * elt);
  MorVkDevice *dev = mor_vk_stream_get_device (s);
  const MorVkDeviceInfo *info = mor_vk_device_get_info (dev);
  MorVkView c = mor_vk_view_sub (cache, 0, (guint64) max_ctx * row_size * elt);
  if (c.size > info->max_storage_range) {
    mor_vk_stream_set_error (s, g_error_new (MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED,
        "kv_store: a cache of %u rows of %u %s values is %" G_GUINT64_FORMAT " bytes, more than the "
        "%" G_GUINT64_FORMAT " bytes one binding may cover on %s", max_ctx, row_size,
        mor_type_name (kv_type), c.size, info->max_storage_range, info->name));
    return;
  }
  KvStorePush pc = { n_rows, row_size, max_ctx };
  guint32 spec[] = { 256 };
  guint32 gx, gy;
  mor_vk_grid (dev, (guint64) n_rows * row_size, spec[0], &gx, &gy);
  MorVkView b[] = { src, pos, c };
  mor_vk_stream_dispatch (s, kv_type == MOR_TYPE_F16 ? &kv_store_f16 : &kv_store_f32,
                          spec, G_N_ELEMENTS (spec), b, &pc, gx, gy, 1);
}

void
mor_ref_kv_store (const float *src, guint32 p0, void *cache, guint32 n_rows, guint32 row_size,
                  guint32 max_ctx, MorType kv_type)
{
  for (guint32 r = 0; r < n_rows && (guint64) p0 + r < max_ctx; r++)
    for (guint32 i = 0; i < row_size; i++) {
      gsize dst = (gsize) (p0 + r) * row_size + i, at = (gsize) r * row_size + i;
      if (kv_type == MOR_TYPE_F16)
        ((guint16 *) cache)[dst] = mor_f32_to_f16 (src[at]);
      else
        ((float *) cache)[dst] = src[at];
    }
}
