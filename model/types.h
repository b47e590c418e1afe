/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tensor element types: GGUF/ggml type ids, block layouts, and the C reference
 * (de)quantization that every shader's dequantization is checked against.
 * Block layouts: shared/reference vulkan-compute.md §3.4 (ggml-common.h). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Values are the ggml type ids written in GGUF tensor infos. */
typedef enum {
  MOR_TYPE_F32 = 0,
  MOR_TYPE_F16 = 1,
  MOR_TYPE_Q4_0 = 2,
  MOR_TYPE_Q8_0 = 8,
  MOR_TYPE_Q4_K = 12,
  MOR_TYPE_Q6_K = 14,
  MOR_TYPE_BF16 = 30,
} MorType;

#define MOR_QK8_0 32   /* elements per Q8_0 / Q4_0 block */
#define MOR_QK_K 256   /* elements per K-quant super-block */

/* TRUE for the types libmor can load and compute with. */
gboolean mor_type_is_supported (guint32 type);
/* "f32", "q4_K", …; "unknown" for an unsupported id. */
const char *mor_type_name (guint32 type);
/* Parses a name as mor_type_name() writes it (case-insensitive); FALSE if unknown. */
gboolean mor_type_from_name (const char *name, MorType *type);
/* Elements per block (1 for float types); 0 for an unsupported type. */
guint32 mor_type_block_size (MorType type);
/* Bytes per block; 0 for an unsupported type. */
guint32 mor_type_block_bytes (MorType type);
/* Bytes of @n elements, @n a multiple of the block size; 0 if it is not, or
 * if @type is unsupported (a type id read from a file may be anything). */
guint64 mor_type_row_bytes (MorType type, guint64 n);

/* IEEE half and bfloat16 conversions (round to nearest even). */
guint16 mor_f32_to_f16 (float x);
float mor_f16_to_f32 (guint16 h);
guint16 mor_f32_to_bf16 (float x);
float mor_bf16_to_f32 (guint16 h);

/* C reference: @n elements (a multiple of the block size) of @type at @src to float. */
void mor_ref_dequantize_row (MorType type, const void *src, float *dst, guint64 n);
/* Quantizes @n floats into @type at @dst (mor_type_row_bytes(type, n) bytes). For
 * tests, tools and the writer; the same blocks ggml's reference quantizers make
 * for Q8_0/Q4_0, and valid, close K-quant blocks for Q4_K/Q6_K. */
void mor_quantize_row (MorType type, const float *src, void *dst, guint64 n);

G_END_DECLS
