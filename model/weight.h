/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A model weight: a tensor of the mapped GGUF file, its copy on the device,
 * and the values the C reference reads. Shared by the model stages. */
#pragma once

#include "gguf.h"
#include "vk.h"

G_BEGIN_DECLS

typedef struct {
  const MorGgufTensor *t;       /* in the file; NULL: absent (an optional tensor) */
  MorType type;                 /* as uploaded */
  guint32 rows, cols;           /* [rows, cols], cols contiguous; a vector is [1, cols] */
  const void *host;             /* the uploaded values: the file's data, or owned */
  float *owned;                 /* an f32 copy made at load, if any */
  MorVkBuffer *buf;             /* on the device, rounded up to 16 bytes */
} MorWeight;

/* Uploads @size bytes at @data as @w's device copy (rounded up: the matrix
 * kernels read weights in 8- and 16-byte words). */
gboolean mor_weight_upload (MorWeight *w, MorVkDevice *dev, const void *data, guint64 size, GError **error);
/* Tensor @name must be [rows, cols] (any type); uploaded as stored. */
gboolean mor_weight_load_matrix (MorWeight *w, MorVkDevice *dev, MorGguf *g, const char *name, guint32 rows,
                                 guint32 cols, GError **error);
/* Tensor @name must hold @n values: [n], or [1, n] as llama.cpp stores conv
 * biases; uploaded as f32 (converted if stored otherwise). With @optional a
 * missing tensor leaves @w empty (t NULL) and succeeds. */
gboolean mor_weight_load_vector (MorWeight *w, MorVkDevice *dev, MorGguf *g, const char *name, guint32 n,
                                 gboolean optional, GError **error);
/* The device copy as a view; an empty view (buf NULL) for an absent weight or
 * a NULL @w. */
MorVkView mor_weight_view (const MorWeight *w);
void mor_weight_clear (MorWeight *w);

G_END_DECLS
