/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* get_rows: embedding lookup from a table of any element type, dispatch and C
 * reference. */
#include "ops.h"

#include <string.h>
#include "mor-spv.h"

typedef struct {
  guint32 n_cols;
  guint32 n_ids;
  guint32 row_first;    /* first table row in this dispatch's window */
  guint32 row_count;    /* rows in the window */
  guint32 n_rows;       /* rows in the whole table: ids ≥ n_rows give zeros */
} GetRowsPush;
G_STATIC_ASSERT (sizeof (GetRowsPush) == 20);

#define GET_ROWS_DESC(name) \
  { #name, mor_spv_##name, &mor_spv_##name##_size, 3, 1u << 2, sizeof (GetRowsPush) }
static const MorVkPipelineDesc get_rows_f32 = GET_ROWS_DESC (get_rows_f32);
static const MorVkPipelineDesc get_rows_f16 = GET_ROWS_DESC (get_rows_f16);
static const MorVkPipelineDesc get_rows_bf16 = GET_ROWS_DESC (get_rows_bf16);
static const MorVkPipelineDesc get_rows_q8_0 = GET_ROWS_DESC (get_rows_q8_0);
static const MorVkPipelineDesc get_rows_q4_0 = GET_ROWS_DESC (get_rows_q4_0);
static const MorVkPipelineDesc get_rows_q4_K = GET_ROWS_DESC (get_rows_q4_K);
static const MorVkPipelineDesc get_rows_q6_K = GET_ROWS_DESC (get_rows_q6_K);

static guint64
gcd (guint64 a, guint64 b)
{
  while (b) {
    guint64 t = a % b;
    a = b;
    b = t;
  }
  return a;
}

static const MorVkPipelineDesc *
get_rows_desc (MorType type)
{
  switch (type) {
    case MOR_TYPE_F32: return &get_rows_f32;
    case MOR_TYPE_F16: return &get_rows_f16;
    case MOR_TYPE_BF16: return &get_rows_bf16;
    case MOR_TYPE_Q8_0: return &get_rows_q8_0;
    case MOR_TYPE_Q4_0: return &get_rows_q4_0;
    case MOR_TYPE_Q4_K: return &get_rows_q4_K;
    case MOR_TYPE_Q6_K: return &get_rows_q6_K;
  }
  return NULL;
}

void
mor_op_get_rows (MorVkStream *s, MorType type, MorVkView table, guint32 n_rows, guint32 n_cols,
                 MorVkView ids, guint32 n_ids, MorVkView y)
{
  g_return_if_fail (mor_type_is_supported (type));
  g_return_if_fail (n_rows > 0 && n_cols > 0 && n_ids > 0);
  guint64 row_bytes = mor_type_row_bytes (type, n_cols);
  g_return_if_fail (row_bytes > 0 && table.size >= row_bytes * n_rows);
  g_return_if_fail (ids.size >= (guint64) n_ids * 4 && y.size >= (guint64) n_ids * n_cols * 4);
  MorVkDevice *dev = mor_vk_stream_get_device (s);
  const MorVkDeviceInfo *info = mor_vk_device_get_info (dev);
  /* The table is bound in windows of whole rows, each at most one binding
   * (lavapipe: 128 MiB) and a multiple of `step` rows so that every window
   * starts aligned; one dispatch per window, each skipping the other ids. */
  guint64 step = info->min_storage_align / gcd (row_bytes, info->min_storage_align);
  guint64 per = MIN (info->max_storage_range / row_bytes, G_MAXUINT32 / n_cols) / step * step;
  if (per == 0) {
    mor_vk_stream_set_error (s, g_error_new (MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED,
        "get_rows: cannot bind a %s table with rows of %u columns (%" G_GUINT64_FORMAT " bytes): a window "
        "of %" G_GUINT64_FORMAT " row(s), the fewest that keep windows %" G_GUINT64_FORMAT "-byte aligned, "
        "exceeds the %" G_GUINT64_FORMAT " bytes one storage binding may cover (maxStorageBufferRange)",
        mor_type_name (type), n_cols, row_bytes, step, info->min_storage_align, info->max_storage_range));
    return;
  }
  guint32 spec[] = { 64 };
  guint32 gx, gy;
  mor_vk_grid (dev, n_ids, 1, &gx, &gy);
  for (guint64 first = 0; first < n_rows; first += per) {
    guint32 count = (guint32) MIN (per, n_rows - first);
    GetRowsPush pc = { n_cols, n_ids, (guint32) first, count, n_rows };
    MorVkView b[] = {
      mor_vk_view_sub (table, first * row_bytes, count * row_bytes),
      mor_vk_view_sub (ids, 0, (guint64) n_ids * 4),
      mor_vk_view_sub (y, 0, (guint64) n_ids * n_cols * 4),
    };
    mor_vk_stream_dispatch (s, get_rows_desc (type), spec, G_N_ELEMENTS (spec), b, &pc, gx, gy, 1);
  }
}

void
mor_ref_get_rows (MorType type, const void *table, guint32 n_rows, guint32 n_cols,
                  const guint32 *ids, guint32 n_ids, float *y)
{
  guint64 row_bytes = mor_type_row_bytes (type, n_cols);
  for (guint32 i = 0; i < n_ids; i++) {
    float *yi = y + (gsize) i * n_cols;
    if (ids[i] < n_rows)
      mor_ref_dequantize_row (type, (const guint8 *) table + ids[i] * row_bytes, yi, n_cols);
    else
      memset (yi, 0, (gsize) n_cols * sizeof (float));
  }
}
