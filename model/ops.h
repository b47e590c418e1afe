/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The kernel library: one line per op. Each op NAME lives in three places:
 * shaders/NAME.comp, its dispatch mor_op_NAME() and its C reference
 * mor_ref_NAME() side by side in model/ops/NAME.c, and tests/ops/NAME.c.
 *
 * A dispatch records into a stream (nothing runs until mor_vk_stream_submit()),
 * allocates nothing, and checks shapes with g_return_if_fail (a wrong shape is
 * a programmer error). Views hold f32 unless the argument says otherwise;
 * matrices are row-major, [rows, cols] with cols contiguous. References take
 * plain host arrays with the same shapes and compute in fp32 (fp64 sums). */
#pragma once

#include "vk.h"
#include "types.h"

G_BEGIN_DECLS

/* rms_norm: y[r] = x[r] / sqrt(mean(x[r]²) + eps) · w, rows of n_cols; y may alias x. */
void mor_op_rms_norm (MorVkStream *s, MorVkView x, MorVkView w, MorVkView y, guint32 n_rows, guint32 n_cols, float eps);
void mor_ref_rms_norm (const float *x, const float *w, float *y, guint32 n_rows, guint32 n_cols, float eps);

/* dequantize: y[i] = a[i] as f32, n elements of @type (n a multiple of its block size). */
void mor_op_dequantize (MorVkStream *s, MorType type, MorVkView a, MorVkView y, guint64 n);
void mor_ref_dequantize (MorType type, const void *a, float *y, guint64 n);

/* get_rows: y[i] = table[ids[i]] as f32 (embedding lookup); table [n_rows, n_cols] of @type, ids uint32 on the GPU; an id ≥ n_rows gives a row of zeros. A table larger than one binding is read in windows. */
void mor_op_get_rows (MorVkStream *s, MorType type, MorVkView table, guint32 n_rows, guint32 n_cols, MorVkView ids, guint32 n_ids, MorVkView y);
void mor_ref_get_rows (MorType type, const void *table, guint32 n_rows, guint32 n_cols, const guint32 *ids, guint32 n_ids, float *y);

/* softmax: y[r] = exp(scale·x[r] − max)/Σ over rows of n_cols; −inf entries give 0 and a fully −inf row gives zeros (scale > 0); y may alias x. */
void mor_op_softmax (MorVkStream *s, MorVkView x, MorVkView y, guint32 n_rows, guint32 n_cols, float scale);
void mor_ref_softmax (const float *x, float *y, guint32 n_rows, guint32 n_cols, float scale);

/* kv_store: cache rows pos[0]+r = src rows r < n_rows (row_size f32 each, stored as kv_type F32 or F16) in a cache [max_ctx, row_size]; rows past max_ctx are dropped. */
void mor_op_kv_store (MorVkStream *s, MorVkView src, MorVkView pos, MorVkView cache, guint32 n_rows, guint32 row_size, guint32 max_ctx, MorType kv_type);
void mor_ref_kv_store (const float *src, guint32 p0, void *cache, guint32 n_rows, guint32 row_size, guint32 max_ctx, MorType kv_type);

G_END_DECLS
