/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Random-weight models in the real layouts and shapes, for tests and benchmarks
 * (`mor mkmodel`). Weights are random, so their outputs mean nothing; shapes,
 * keys, tensor names and types are those of the real files. */
#pragma once

#include "gguf.h"

G_BEGIN_DECLS

/* A thinker's shape: Qwen2 decoder hyper-parameters. */
typedef struct {
  const char *name;             /* "tiny", "qwen2.5-0.5b", "qwen2.5-omni-3b", "qwen2.5-omni-7b" */
  const char *architecture;     /* "qwen2", or "qwen2vl" as llama.cpp writes the Omni thinker */
  guint32 hidden_size, num_hidden_layers, num_attention_heads, num_key_value_heads;
  guint32 intermediate_size;
  guint32 vocab_size;           /* 0: the tiny built-in vocabulary's size */
  guint32 max_position_embeddings;
  gboolean tie_word_embeddings;
} MorThinkerShape;

/* The shape named @name, or NULL. */
const MorThinkerShape *mor_mkmodel_thinker_shape (const char *name);
/* The names of all shapes, NULL-terminated. */
const char *const *mor_mkmodel_thinker_shapes (void);

/* A thinker GGUF in llama.cpp's layout with a byte-level BPE vocabulary (the 256
 * byte symbols, a few merges, Qwen's special tokens at the end), 2-D weights of
 * @type (1-D ones f32), drawn from @seed. Fails with MOR_GGUF_ERROR_TYPE when a
 * row length is not a multiple of @type's block size.
 * Returns: (transfer full): a writer ready to write, or NULL. */
MorGgufWriter *mor_mkmodel_thinker (const MorThinkerShape *shape, MorType type, guint64 seed,
                                    GError **error);

G_END_DECLS
