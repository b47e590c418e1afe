/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GGUF files: a reader that validates untrusted files completely at open, and a
 * writer. Layout: shared/reference vulkan-compute.md §3.1 (ggml docs/gguf.md).
 *
 * Reading: mor_gguf_open() maps the file and checks every count, length, offset
 * and type before returning; after that every accessor is O(1) (string arrays
 * have an offset table built at open) and a MorGguf is immutable, so it may be
 * read from several threads at once. Everything a MorGguf hands out (key names,
 * strings, array and tensor data) stays valid as long as a reference to it is
 * held. Numbers in arrays and tensors are little-endian, as in the file.
 *
 * Writing: mor_gguf_writer_new(), add keys and tensors in the order they
 * should appear, then mor_gguf_writer_write_file() or _to_bytes(). The output
 * is GGUF v3, deterministic (same calls, same bytes). */
#pragma once

#include <glib.h>

#include "types.h"

G_BEGIN_DECLS

#define MOR_GGUF_ERROR (mor_gguf_error_quark ())
GQuark mor_gguf_error_quark (void);

typedef enum {
  MOR_GGUF_ERROR_FAILED,       /* anything else */
  MOR_GGUF_ERROR_IO,           /* the file could not be opened, mapped or written */
  MOR_GGUF_ERROR_TRUNCATED,    /* the file ends before something it declares */
  MOR_GGUF_ERROR_BAD_MAGIC,    /* not a GGUF file */
  MOR_GGUF_ERROR_VERSION,      /* GGUF version other than 2 or 3 */
  MOR_GGUF_ERROR_CORRUPT,      /* a value that no valid file holds */
  MOR_GGUF_ERROR_UNSUPPORTED,  /* valid GGUF that libmor cannot use: tensor type, nested arrays */
  MOR_GGUF_ERROR_NOT_FOUND,    /* no such key or tensor */
  MOR_GGUF_ERROR_TYPE,         /* key or tensor of another type or shape than asked for */
} MorGgufError;

/* Value types, as numbered in the file. */
typedef enum {
  MOR_GGUF_VALUE_UINT8 = 0,
  MOR_GGUF_VALUE_INT8 = 1,
  MOR_GGUF_VALUE_UINT16 = 2,
  MOR_GGUF_VALUE_INT16 = 3,
  MOR_GGUF_VALUE_UINT32 = 4,
  MOR_GGUF_VALUE_INT32 = 5,
  MOR_GGUF_VALUE_FLOAT32 = 6,
  MOR_GGUF_VALUE_BOOL = 7,     /* one byte, 0 or 1 */
  MOR_GGUF_VALUE_STRING = 8,
  MOR_GGUF_VALUE_ARRAY = 9,
  MOR_GGUF_VALUE_UINT64 = 10,
  MOR_GGUF_VALUE_INT64 = 11,
  MOR_GGUF_VALUE_FLOAT64 = 12,
} MorGgufValueType;

#define MOR_GGUF_DEFAULT_ALIGNMENT 32
#define MOR_GGUF_MAX_ALIGNMENT (1u << 20)  /* larger general.alignment values are refused */
#define MOR_GGUF_MAX_DIMS 4
#define MOR_GGUF_MAX_NAME 64               /* tensor names are 1..63 bytes (ggml's GGML_MAX_NAME) */

/* "u8", "i32", "f32", "bool", "string", "array", …; "unknown" for other values. */
const char *mor_gguf_value_type_name (MorGgufValueType type);
/* Bytes of one element of a numeric or bool type; 0 for string, array and unknown. */
gsize mor_gguf_value_type_size (MorGgufValueType type);

/* ---- Reader ---- */

typedef struct _MorGguf MorGguf;

typedef struct {
  const char *name;       /* 1..63 bytes of UTF-8, NUL-terminated */
  guint32 n_dims;         /* 1..4, as written in the file */
  guint64 ne[MOR_GGUF_MAX_DIMS]; /* elements per dim, ne[0] fastest; unused dims are 1 */
  MorType type;           /* always mor_type_is_supported() */
  guint64 offset;         /* bytes from the start of the file, a multiple of the alignment
                           * relative to the data section */
  guint64 size;           /* bytes: mor_type_row_bytes (type, ne[0]) · ne[1] · ne[2] · ne[3] */
  const void *data;       /* size bytes, inside the file */
} MorGgufTensor;

MorGguf *mor_gguf_open (const char *path, GError **error);
MorGguf *mor_gguf_new_from_bytes (GBytes *bytes, GError **error);
MorGguf *mor_gguf_ref (MorGguf *g);
void mor_gguf_unref (MorGguf *g);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorGguf, mor_gguf_unref)

/* The path given to mor_gguf_open(), or "<memory>". */
const char *mor_gguf_get_name (MorGguf *g);
/* 2 or 3. */
guint32 mor_gguf_get_version (MorGguf *g);
/* general.alignment, or MOR_GGUF_DEFAULT_ALIGNMENT. */
guint32 mor_gguf_get_alignment (MorGguf *g);
/* Offset of the data section from the start of the file. */
guint64 mor_gguf_get_data_offset (MorGguf *g);

/* Keys, in file order: index 0 … n_keys - 1. */
guint mor_gguf_n_keys (MorGguf *g);
const char *mor_gguf_get_key (MorGguf *g, guint index);
MorGgufValueType mor_gguf_get_key_type (MorGguf *g, guint index);
/* The index of @key, or -1 if the file has no such key. */
gint mor_gguf_find_key (MorGguf *g, const char *key);

/* Typed getters. Missing key: MOR_GGUF_ERROR_NOT_FOUND. Another type:
 * MOR_GGUF_ERROR_TYPE, with the key, the expected and the found type in the
 * message. Integer getters take any integer type whose value fits (a u8 for
 * get_u32, an i64 of 7 for get_u32; not an i32 of -1); float getters take f32
 * and f64 (an f64 outside the float range fails). */
gboolean mor_gguf_get_u32 (MorGguf *g, const char *key, guint32 *out, GError **error);
gboolean mor_gguf_get_i32 (MorGguf *g, const char *key, gint32 *out, GError **error);
gboolean mor_gguf_get_u64 (MorGguf *g, const char *key, guint64 *out, GError **error);
gboolean mor_gguf_get_i64 (MorGguf *g, const char *key, gint64 *out, GError **error);
gboolean mor_gguf_get_f32 (MorGguf *g, const char *key, float *out, GError **error);
gboolean mor_gguf_get_f64 (MorGguf *g, const char *key, double *out, GError **error);
gboolean mor_gguf_get_bool (MorGguf *g, const char *key, gboolean *out, GError **error);
/* Returns: (transfer none): the value, NUL-terminated, owned by @g; NULL on
 * error. @len (optional) gets its length in bytes (the value may hold NULs). */
const char *mor_gguf_get_string (MorGguf *g, const char *key, gsize *len, GError **error);

/* The same, but a missing key gives @def (a key of another type is still an error). */
gboolean mor_gguf_get_u32_default (MorGguf *g, const char *key, guint32 def, guint32 *out, GError **error);
gboolean mor_gguf_get_i32_default (MorGguf *g, const char *key, gint32 def, gint32 *out, GError **error);
gboolean mor_gguf_get_u64_default (MorGguf *g, const char *key, guint64 def, guint64 *out, GError **error);
gboolean mor_gguf_get_f32_default (MorGguf *g, const char *key, float def, float *out, GError **error);
gboolean mor_gguf_get_bool_default (MorGguf *g, const char *key, gboolean def, gboolean *out, GError **error);
gboolean mor_gguf_get_string_default (MorGguf *g, const char *key, const char *def, const char **out,
                                      GError **error);

/* Arrays. get_array: element type and count of any array. */
gboolean mor_gguf_get_array (MorGguf *g, const char *key, MorGgufValueType *elem_type, guint64 *n,
                             GError **error);
/* The elements of an array of @elem_type (numeric or bool; exactly that type,
 * else MOR_GGUF_ERROR_TYPE). Returns: (transfer none): @n elements, aligned for
 * the type, little-endian, owned by @g; NULL on error (never for n = 0). */
const void *mor_gguf_get_array_data (MorGguf *g, const char *key, MorGgufValueType elem_type, guint64 *n,
                                     GError **error);
/* Checks that @key is an array of strings and gives its length. */
gboolean mor_gguf_get_string_array (MorGguf *g, const char *key, guint64 *n, GError **error);
/* String @index of the string array @key, in O(1). @key must be a string array
 * and @index < its length (programmer errors otherwise: check with
 * mor_gguf_get_string_array() first). Returns: (transfer none): @len bytes of
 * UTF-8 inside the file, NOT NUL-terminated. */
const char *mor_gguf_get_array_string (MorGguf *g, const char *key, guint64 index, gsize *len);

/* Tensors, in file order. */
guint mor_gguf_n_tensors (MorGguf *g);
const MorGgufTensor *mor_gguf_get_tensor (MorGguf *g, guint index);
/* NULL if there is no tensor @name. */
const MorGgufTensor *mor_gguf_find_tensor (MorGguf *g, const char *name);
/* Finds tensor @name and checks that its shape is @ne[0..n_dims-1] (dims past
 * @n_dims must be 1 in the file; a [n, 1] tensor passes for [n]). Errors:
 * MOR_GGUF_ERROR_NOT_FOUND, MOR_GGUF_ERROR_TYPE naming the tensor and both
 * shapes. @tensor (optional) receives the tensor. */
gboolean mor_gguf_check_tensor (MorGguf *g, const char *name, guint32 n_dims, const guint64 *ne,
                                const MorGgufTensor **tensor, GError **error);
/* The same, and the tensor must be of @type. */
gboolean mor_gguf_check_tensor_type (MorGguf *g, const char *name, MorType type, guint32 n_dims,
                                     const guint64 *ne, const MorGgufTensor **tensor, GError **error);

/* ---- Writer ---- */

typedef struct _MorGgufWriter MorGgufWriter;

MorGgufWriter *mor_gguf_writer_new (void);
void mor_gguf_writer_free (MorGgufWriter *w);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorGgufWriter, mor_gguf_writer_free)

/* Keys are written in the order they are added. Adding a key twice is a
 * programmer error. Adding general.alignment (u32, a power of two up to
 * MOR_GGUF_MAX_ALIGNMENT) sets the alignment of the data. */
void mor_gguf_writer_add_u8 (MorGgufWriter *w, const char *key, guint8 value);
void mor_gguf_writer_add_i8 (MorGgufWriter *w, const char *key, gint8 value);
void mor_gguf_writer_add_u16 (MorGgufWriter *w, const char *key, guint16 value);
void mor_gguf_writer_add_i16 (MorGgufWriter *w, const char *key, gint16 value);
void mor_gguf_writer_add_u32 (MorGgufWriter *w, const char *key, guint32 value);
void mor_gguf_writer_add_i32 (MorGgufWriter *w, const char *key, gint32 value);
void mor_gguf_writer_add_u64 (MorGgufWriter *w, const char *key, guint64 value);
void mor_gguf_writer_add_i64 (MorGgufWriter *w, const char *key, gint64 value);
void mor_gguf_writer_add_f32 (MorGgufWriter *w, const char *key, float value);
void mor_gguf_writer_add_f64 (MorGgufWriter *w, const char *key, double value);
void mor_gguf_writer_add_bool (MorGgufWriter *w, const char *key, gboolean value);
/* @value: NUL-terminated UTF-8, copied. */
void mor_gguf_writer_add_string (MorGgufWriter *w, const char *key, const char *value);
/* @n elements of numeric or bool @elem_type at @data (host order, copied). */
void mor_gguf_writer_add_array (MorGgufWriter *w, const char *key, MorGgufValueType elem_type,
                                const void *data, guint64 n);
/* @n UTF-8 strings (copied); @n < 0: @strv is NULL-terminated. */
void mor_gguf_writer_add_string_array (MorGgufWriter *w, const char *key, const char *const *strv,
                                       gssize n);

/* Tensors are written in the order they are added, each at the next aligned
 * offset. @ne: @n_dims (1..4) sizes, ne[0] fastest and a multiple of the block
 * size; @size must be the tensor's byte size. add_tensor copies @data;
 * add_tensor_bytes keeps a reference to @data (transfer none) instead. */
void mor_gguf_writer_add_tensor (MorGgufWriter *w, const char *name, MorType type, guint32 n_dims,
                                 const guint64 *ne, const void *data, gsize size);
void mor_gguf_writer_add_tensor_bytes (MorGgufWriter *w, const char *name, MorType type, guint32 n_dims,
                                       const guint64 *ne, GBytes *data);

/* Writes the file (replacing @path). Returns: FALSE with MOR_GGUF_ERROR_IO set
 * if it cannot be written. */
gboolean mor_gguf_writer_write_file (MorGgufWriter *w, const char *path, GError **error);
/* Returns: (transfer full): the whole file, in memory (under 4 GiB). */
GBytes *mor_gguf_writer_to_bytes (MorGgufWriter *w);

G_END_DECLS
