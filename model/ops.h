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

G_END_DECLS
