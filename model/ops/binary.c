/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* binary: element-wise add and mul with row or column broadcasting, dispatch and C reference. */
#include "ops.h"

#include "mor-spv.h"

typedef struct {
  guint32 n_rows;
  guint32 n_cols;
  guint32 b_row_stride;
  guint32 b_col_stride;
} BinaryPush;
G_STATIC_ASSERT (sizeof (BinaryPush) == 16);

static const MorVkPipelineDesc binary_f32[] = {
  [MOR_BINARY_ADD] = { "binary_add_f32", mor_spv_binary_add_f32, &mor_spv_binary_add_f32_size, 3, 1u << 2,
                       sizeof (BinaryPush) },
  [MOR_BINARY_MUL] = { "binary_mul_f32", mor_spv_binary_mul_f32, &mor_spv_binary_mul_f32_size, 3, 1u << 2,
                       sizeof (BinaryPush) },
};

/* Elements of b for each broadcast. */
static guint64
b_count (MorBroadcast bcast, guint32 n_rows, guint32 n_cols)
{
  return bcast == MOR_BROADCAST_ROW ? n_cols : bcast == MOR_BROADCAST_COL ? n_rows : (guint64) n_rows * n_cols;
}

void
mor_op_binary (MorVkStream *s, MorBinaryOp op, MorVkView a, MorVkView b, MorVkView y,
               guint32 n_rows, guint32 n_cols, MorBroadcast bcast)
{
  g_return_if_fail (op < G_N_ELEMENTS (binary_f32) && bcast <= MOR_BROADCAST_COL);
  g_return_if_fail (n_rows > 0 && n_cols > 0 && (guint64) n_rows * n_cols <= G_MAXUINT32);
  guint64 bytes = (guint64) n_rows * n_cols * 4, b_bytes = b_count (bcast, n_rows, n_cols) * 4;
  g_return_if_fail (a.size >= bytes && y.size >= bytes && b.size >= b_bytes);
  MorVkDevice *dev = mor_vk_stream_get_device (s);
  const MorVkDeviceInfo *info = mor_vk_device_get_info (dev);
  if (bytes > info->max_storage_range) {
    mor_vk_stream_set_error (s, g_error_new (MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED,
        "%s: %u × %u floats are more than the %" G_GUINT64_FORMAT " bytes one storage binding may cover on %s",
        binary_f32[op].name, n_rows, n_cols, info->max_storage_range, info->name));
    return;
  }
  BinaryPush pc = { n_rows, n_cols,
                    bcast == MOR_BROADCAST_NONE ? n_cols : bcast == MOR_BROADCAST_COL ? 1 : 0,
                    bcast == MOR_BROADCAST_COL ? 0 : 1 };
  guint32 spec[] = { 256 };
  guint32 gx, gy;
  mor_vk_grid (dev, (guint64) n_rows * n_cols, spec[0], &gx, &gy);
  MorVkView bind[] = { mor_vk_view_sub (a, 0, bytes), mor_vk_view_sub (b, 0, b_bytes), mor_vk_view_sub (y, 0, bytes) };
  mor_vk_stream_dispatch (s, &binary_f32[op], spec, G_N_ELEMENTS (spec), bind, &pc, gx, gy, 1);
}

void
mor_ref_binary (MorBinaryOp op, const float *a, const float *b, float *y, guint32 n_rows, guint32 n_cols,
                MorBroadcast bcast)
{
  for (guint32 r = 0; r < n_rows; r++)
    for (guint32 c = 0; c < n_cols; c++) {
      gsize i = (gsize) r * n_cols + c;
      float bv = bcast == MOR_BROADCAST_ROW ? b[c] : bcast == MOR_BROADCAST_COL ? b[r] : b[i];
      y[i] = op == MOR_BINARY_ADD ? a[i] + bv : a[i] * bv;
    }
}
