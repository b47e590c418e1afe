/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GGUF reader and writer. The reader trusts nothing in the file: every count,
 * length, offset and size is checked against the bytes that are left before
 * it is used, with overflow-safe arithmetic, and open fails with a GError that
 * names the file, the key or tensor, what was expected and what was found.
 * Layout: shared/reference vulkan-compute.md §3.1. */
#include "gguf.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gstdio.h>

/* Arrays and tensor data are handed out as they lie in the file, little-endian. */
G_STATIC_ASSERT (G_BYTE_ORDER == G_LITTLE_ENDIAN);

G_DEFINE_QUARK (mor-gguf-error-quark, mor_gguf_error)

#define GGUF_MAGIC "GGUF"
#define GGUF_HEADER_BYTES 24       /* magic, version, tensor count, key count */
#define GGUF_ALIGNMENT_KEY "general.alignment"
/* The smallest key-value pair: u64 key length, a 1-byte key, u32 type, a 1-byte value. */
#define MIN_KV_BYTES (8 + 1 + 4 + 1)
/* The smallest tensor info: u64 name length, 1-byte name, u32 n_dims, one u64 ne, u32 type, u64 offset. */
#define MIN_TENSOR_INFO_BYTES (8 + 1 + 4 + 8 + 4 + 8)

typedef struct {
  const char *key;              /* in MorGguf.strings */
  MorGgufValueType type;
  /* scalars */
  gint64 i;                     /* signed integer types */
  guint64 u;                    /* unsigned integer types and bool */
  double f;                     /* f32 and f64 */
  const char *str;              /* string: NUL-terminated copy in MorGguf.strings */
  gsize str_len;                /* string: bytes, without the NUL */
  /* arrays */
  MorGgufValueType elem_type;
  guint64 n;                    /* elements */
  const void *data;             /* numeric arrays: the elements, aligned (in the file or in @copy) */
  gpointer copy;                /* owned: numeric array that lies misaligned in the file, realigned */
  gsize *offsets;               /* owned: string arrays, file offset of each element's u64 length */
} Kv;

struct _MorGguf {
  gint ref_count;
  char *name;                   /* path, or "<memory>" */
  GBytes *bytes;                /* keeps the file (or its mapping) alive */
  const guint8 *data;
  gsize size;
  guint32 version;
  guint32 alignment;
  guint64 data_offset;
  GStringChunk *strings;        /* key names, tensor names, string values */
  GArray *kvs;                  /* Kv, in file order */
  GHashTable *key_index;        /* key → index + 1 */
  GArray *tensors;              /* MorGgufTensor, in file order */
  GHashTable *tensor_index;     /* name → index + 1 */
};

static const char *const value_type_names[] = {
  "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};

static const guint8 value_type_sizes[] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };

const char *
mor_gguf_value_type_name (MorGgufValueType type)
{
  if ((guint) type >= G_N_ELEMENTS (value_type_names))
    return "unknown";
  return value_type_names[type];
}

gsize
mor_gguf_value_type_size (MorGgufValueType type)
{
  if ((guint) type >= G_N_ELEMENTS (value_type_sizes))
    return 0;
  return value_type_sizes[type];
}

static gboolean
value_type_is_integer (MorGgufValueType type)
{
  switch (type) {
    case MOR_GGUF_VALUE_UINT8: case MOR_GGUF_VALUE_INT8:
    case MOR_GGUF_VALUE_UINT16: case MOR_GGUF_VALUE_INT16:
    case MOR_GGUF_VALUE_UINT32: case MOR_GGUF_VALUE_INT32:
    case MOR_GGUF_VALUE_UINT64: case MOR_GGUF_VALUE_INT64:
      return TRUE;
    default:
      return FALSE;
  }
}

static gboolean
value_type_is_signed (MorGgufValueType type)
{
  return type == MOR_GGUF_VALUE_INT8 || type == MOR_GGUF_VALUE_INT16 ||
         type == MOR_GGUF_VALUE_INT32 || type == MOR_GGUF_VALUE_INT64;
}

/* ---- Reading primitives: no error set, the caller says what was being read ---- */

static gsize
bytes_left (const MorGguf *g, gsize pos)
{
  return g->size - pos;
}

static gboolean
take (const MorGguf *g, gsize *pos, gsize n, const guint8 **p)
{
  if (n > bytes_left (g, *pos))
    return FALSE;
  *p = g->data + *pos;
  *pos += n;
  return TRUE;
}

static gboolean
read_u32 (const MorGguf *g, gsize *pos, guint32 *v)
{
  const guint8 *p = NULL;
  if (!take (g, pos, 4, &p))
    return FALSE;
  memcpy (v, p, 4);
  return TRUE;
}

static gboolean
read_u64 (const MorGguf *g, gsize *pos, guint64 *v)
{
  const guint8 *p = NULL;
  if (!take (g, pos, 8, &p))
    return FALSE;
  memcpy (v, p, 8);
  return TRUE;
}

/* UTF-8 that may hold U+0000 (g_utf8_validate_len() stops at a NUL byte). */
static gboolean
utf8_valid_with_nul (const char *p, gsize len)
{
  const char *end;
  while (!g_utf8_validate_len (p, len, &end)) {
    if (*end != '\0')
      return FALSE;
    len -= (gsize) (end - p) + 1;
    p = end + 1;
  }
  return TRUE;
}

static void G_GNUC_PRINTF (4, 5)
set_error (GError **error, const MorGguf *g, MorGgufError code, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *msg = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, MOR_GGUF_ERROR, code, "“%s”: %s", g->name, msg);
}

/* ---- Parsing ---- */

static void
kv_clear (gpointer data)
{
  Kv *kv = data;
  g_free (kv->copy);
  g_free (kv->offsets);
}

static gboolean
parse_header (MorGguf *g, gsize *pos, guint64 *n_tensors, guint64 *n_kv, GError **error)
{
  const guint8 *magic;
  if (!take (g, pos, 4, &magic)) {
    set_error (error, g, MOR_GGUF_ERROR_TRUNCATED,
               "file is %" G_GSIZE_FORMAT " bytes, too short for a GGUF header (%d bytes)",
               g->size, GGUF_HEADER_BYTES);
    return FALSE;
  }
  if (memcmp (magic, GGUF_MAGIC, 4) != 0) {
    set_error (error, g, MOR_GGUF_ERROR_BAD_MAGIC,
               "not a GGUF file: magic is %02x %02x %02x %02x, expected 47 47 55 46 (“GGUF”)",
               magic[0], magic[1], magic[2], magic[3]);
    return FALSE;
  }
  if (!read_u32 (g, pos, &g->version)) {
    set_error (error, g, MOR_GGUF_ERROR_TRUNCATED,
               "file is %" G_GSIZE_FORMAT " bytes, too short for a GGUF header (%d bytes)",
               g->size, GGUF_HEADER_BYTES);
    return FALSE;
  }
  if (g->version == 1) {
    set_error (error, g, MOR_GGUF_ERROR_VERSION,
               "GGUF version 1 is not supported (expected 2 or 3): convert the model again");
    return FALSE;
  }
  if (GUINT32_SWAP_LE_BE (g->version) == 2 || GUINT32_SWAP_LE_BE (g->version) == 3) {
    set_error (error, g, MOR_GGUF_ERROR_VERSION,
               "big-endian GGUF (version %u byte-swapped) is not supported", GUINT32_SWAP_LE_BE (g->version));
    return FALSE;
  }
  if (g->version != 2 && g->version != 3) {
    set_error (error, g, MOR_GGUF_ERROR_VERSION, "unsupported GGUF version %u (expected 2 or 3)", g->version);
    return FALSE;
  }
  if (!read_u64 (g, pos, n_tensors) || !read_u64 (g, pos, n_kv)) {
    set_error (error, g, MOR_GGUF_ERROR_TRUNCATED,
               "file is %" G_GSIZE_FORMAT " bytes, too short for a GGUF header (%d bytes)",
               g->size, GGUF_HEADER_BYTES);
    return FALSE;
  }
  if (*n_kv > G_MAXINT) {
    set_error (error, g, MOR_GGUF_ERROR_CORRUPT,
               "header declares %" G_GUINT64_FORMAT " keys, more than %d", *n_kv, G_MAXINT);
    return FALSE;
  }
  if (*n_tensors > G_MAXINT) {
    set_error (error, g, MOR_GGUF_ERROR_CORRUPT,
               "header declares %" G_GUINT64_FORMAT " tensors, more than %d", *n_tensors, G_MAXINT);
    return FALSE;
  }
  if (*n_kv > bytes_left (g, *pos) / MIN_KV_BYTES) {
    set_error (error, g, MOR_GGUF_ERROR_TRUNCATED,
               "header declares %" G_GUINT64_FORMAT " keys, but the %" G_GSIZE_FORMAT
               " bytes after it hold at most %" G_GSIZE_FORMAT,
               *n_kv, bytes_left (g, *pos), bytes_left (g, *pos) / MIN_KV_BYTES);
    return FALSE;
  }
  if (*n_tensors > bytes_left (g, *pos) / MIN_TENSOR_INFO_BYTES) {
    set_error (error, g, MOR_GGUF_ERROR_TRUNCATED,
               "header declares %" G_GUINT64_FORMAT " tensors, but the %" G_GSIZE_FORMAT
               " bytes after it hold at most %" G_GSIZE_FORMAT,
               *n_tensors, bytes_left (g, *pos), bytes_left (g, *pos) / MIN_TENSOR_INFO_BYTES);
    return FALSE;
  }
  return TRUE;
}

static gboolean
parse_scalar (MorGguf *g, gsize *pos, Kv *kv, GError **error)
{
  const guint8 *p = NULL;
  if (!take (g, pos, mor_gguf_value_type_size (kv->type), &p)) {
    set_error (error, g, MOR_GGUF_ERROR_TRUNCATED, "key “%s”: file ends inside its %s value",
               kv->key, mor_gguf_value_type_name (kv->type));
    return FALSE;
  }
  switch (kv->type) {
    case MOR_GGUF_VALUE_UINT8: kv->u = p[0]; break;
    case MOR_GGUF_VALUE_INT8: kv->i = (gint8) p[0]; break;
    case MOR_GGUF_VALUE_UINT16: { guint16 v; memcpy (&v, p, 2); kv->u = v; break; }
    case MOR_GGUF_VALUE_INT16: { gint16 v; memcpy (&v, p, 2); kv->i = v; break; }
    case MOR_GGUF_VALUE_UINT32: { guint32 v; memcpy (&v, p, 4); kv->u = v; break; }
    case MOR_GGUF_VALUE_INT32: { gint32 v; memcpy (&v, p, 4); kv->i = v; break; }
    case MOR_GGUF_VALUE_UINT64: memcpy (&kv->u, p, 8); break;
    case MOR_GGUF_VALUE_INT64: memcpy (&kv->i, p, 8); break;
    case MOR_GGUF_VALUE_FLOAT32: { float v; memcpy (&v, p, 4); kv->f = v; break; }
    case MOR_GGUF_VALUE_FLOAT64: memcpy (&kv->f, p, 8); break;
    case MOR_GGUF_VALUE_BOOL:
      if (p[0] > 1) {
        set_error (error, g, MOR_GGUF_ERROR_CORRUPT, "key “%s”: bool value is %u, expected 0 or 1",
                   kv->key, p[0]);
        return FALSE;
      }
      kv->u = p[0];
      break;
    default:
      g_assert_not_reached ();
  }
  return TRUE;
}

static gboolean
parse_string_value (MorGguf *g, gsize *pos, Kv *kv, GError **error)
{
  guint64 len;
  const guint8 *p = NULL;
  if (!read_u64 (g, pos, &len)) {
    set_error (error, g, MOR_GGUF_ERROR_TRUNCATED, "key “%s”: file ends inside its string value", kv->key);
    return FALSE;
  }
  if (len > bytes_left (g, *pos)) {
    set_error (error, g, MOR_GGUF_ERROR_TRUNCATED,
               "key “%s”: string value of %" G_GUINT64_FORMAT " bytes runs past the end of the file (%"
               G_GSIZE_FORMAT " bytes left)", kv->key, len, bytes_left (g, *pos));
    return FALSE;
  }
  take (g, pos, len, &p);
  if (!utf8_valid_with_nul ((const char *) p, len)) {
    set_error (error, g, MOR_GGUF_ERROR_CORRUPT, "key “%s”: string value is not valid UTF-8", kv->key);
    return FALSE;
  }
  kv->str = g_string_chunk_insert_len (g->strings, (const char *) p, len);
  kv->str_len = len;
  return TRUE;
}

static gboolean
parse_string_array (MorGguf *g, gsize *pos, Kv *kv, GError **error)
{
  /* n ≤ bytes left / 8, so the table is never larger than the file. */
  if (kv->n > bytes_left (g, *pos) / 8) {
    set_error (error, g, MOR_GGUF_ERROR_TRUNCATED,
               "key “%s”: array of %" G_GUINT64_FORMAT " strings runs past the end of the file (%"
               G_GSIZE_FORMAT " bytes left)", kv->key, kv->n, bytes_left (g, *pos));
    return FALSE;
  }
  kv->offsets = g_new (gsize, MAX (kv->n, 1));
  for (guint64 j = 0; j < kv->n; j++) {
    guint64 len;
    const guint8 *p = NULL;
    kv->offsets[j] = *pos;
    if (!read_u64 (g, pos, &len) || len > bytes_left (g, *pos)) {
      set_error (error, g, MOR_GGUF_ERROR_TRUNCATED,
                 "key “%s”: string %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                 " runs past the end of the file (at byte %" G_GSIZE_FORMAT ")",
                 kv->key, j, kv->n, kv->offsets[j]);
      return FALSE;
    }
    take (g, pos, len, &p);
    if (!utf8_valid_with_nul ((const char *) p, len)) {
      set_error (error, g, MOR_GGUF_ERROR_CORRUPT, "key “%s”: string %" G_GUINT64_FORMAT " is not valid UTF-8",
                 kv->key, j);
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
parse_array (MorGguf *g, gsize *pos, Kv *kv, GError **error)
{
  guint32 elem_type;
  if (!read_u32 (g, pos, &elem_type) || !read_u64 (g, pos, &kv->n)) {
    set_error (error, g, MOR_GGUF_ERROR_TRUNCATED, "key “%s”: file ends inside its array header", kv->key);
    return FALSE;
  }
  if (elem_type > MOR_GGUF_VALUE_FLOAT64) {
    set_error (error, g, MOR_GGUF_ERROR_CORRUPT, "key “%s”: unknown array element type %u", kv->key, elem_type);
    return FALSE;
  }
  kv->elem_type = elem_type;
  if (elem_type == MOR_GGUF_VALUE_ARRAY) {
    set_error (error, g, MOR_GGUF_ERROR_UNSUPPORTED, "key “%s”: arrays of arrays are not supported", kv->key);
    return FALSE;
  }
  if (elem_type == MOR_GGUF_VALUE_STRING)
    return parse_string_array (g, pos, kv, error);

  gsize esize = mor_gguf_value_type_size (elem_type);
  const guint8 *p = NULL;
  if (kv->n > bytes_left (g, *pos) / esize) {
    set_error (error, g, MOR_GGUF_ERROR_TRUNCATED,
               "key “%s”: array of %" G_GUINT64_FORMAT " %s runs past the end of the file (%"
               G_GSIZE_FORMAT " bytes left)", kv->key, kv->n, mor_gguf_value_type_name (elem_type),
               bytes_left (g, *pos));
    return FALSE;
  }
  take (g, pos, kv->n * esize, &p);
  if (elem_type == MOR_GGUF_VALUE_BOOL) {
    for (guint64 j = 0; j < kv->n; j++) {
      if (p[j] > 1) {
        set_error (error, g, MOR_GGUF_ERROR_CORRUPT,
                   "key “%s”: bool %" G_GUINT64_FORMAT " is %u, expected 0 or 1", kv->key, j, p[j]);
        return FALSE;
      }
    }
  }
  /* Callers read the elements through typed pointers: give them aligned ones. */
  static const guint64 empty[1];
  if (kv->n == 0) {
    p = (const guint8 *) empty;
  } else if (GPOINTER_TO_SIZE (p) % esize != 0) {
    kv->copy = g_memdup2 (p, kv->n * esize);
    p = kv->copy;
  }
  kv->data = p;
  return TRUE;
}

static gboolean
parse_kv (MorGguf *g, gsize *pos, guint index, guint n_kv, GError **error)
{
  Kv kv = { 0 };
  guint64 len;
  const guint8 *p = NULL;
  gsize start = *pos;
  guint32 type;

  if (!read_u64 (g, pos, &len)) {
    set_error (error, g, MOR_GGUF_ERROR_TRUNCATED, "file ends inside key %u of %u (at byte %" G_GSIZE_FORMAT ")",
               index, n_kv, start);
    return FALSE;
  }
  if (len == 0) {
    set_error (error, g, MOR_GGUF_ERROR_CORRUPT, "key %u of %u (at byte %" G_GSIZE_FORMAT ") is empty",
               index, n_kv, start);
    return FALSE;
  }
  if (len > bytes_left (g, *pos)) {
    set_error (error, g, MOR_GGUF_ERROR_TRUNCATED,
               "key %u of %u (at byte %" G_GSIZE_FORMAT "): length %" G_GUINT64_FORMAT
               " runs past the end of the file (%" G_GSIZE_FORMAT " bytes left)",
               index, n_kv, start, len, bytes_left (g, *pos));
    return FALSE;
  }
  take (g, pos, len, &p);
  if (!g_utf8_validate_len ((const char *) p, len, NULL)) {
    set_error (error, g, MOR_GGUF_ERROR_CORRUPT, "key %u of %u (at byte %" G_GSIZE_FORMAT ") is not valid UTF-8",
               index, n_kv, start);
    return FALSE;
  }
  kv.key = g_string_chunk_insert_len (g->strings, (const char *) p, len);
  if (g_hash_table_contains (g->key_index, kv.key)) {
    set_error (error, g, MOR_GGUF_ERROR_CORRUPT, "duplicate key “%s” (key %u, at byte %" G_GSIZE_FORMAT ")",
               kv.key, index, start);
    return FALSE;
  }
  if (!read_u32 (g, pos, &type)) {
    set_error (error, g, MOR_GGUF_ERROR_TRUNCATED, "key “%s”: file ends before its value type", kv.key);
    return FALSE;
  }
  if (type > MOR_GGUF_VALUE_FLOAT64) {
    set_error (error, g, MOR_GGUF_ERROR_CORRUPT, "key “%s”: unknown value type %u", kv.key, type);
    return FALSE;
  }
  kv.type = type;

  gboolean ok;
  if (type == MOR_GGUF_VALUE_STRING)
    ok = parse_string_value (g, pos, &kv, error);
  else if (type == MOR_GGUF_VALUE_ARRAY)
    ok = parse_array (g, pos, &kv, error);
  else
    ok = parse_scalar (g, pos, &kv, error);
  if (!ok) {
    kv_clear (&kv);
    return FALSE;
  }
  g_array_append_val (g->kvs, kv);
  g_hash_table_insert (g->key_index, (gpointer) kv.key, GUINT_TO_POINTER (g->kvs->len));
  return TRUE;
}

static gboolean
parse_alignment (MorGguf *g, GError **error)
{
  gint index = mor_gguf_find_key (g, GGUF_ALIGNMENT_KEY);
  if (index < 0) {
    g->alignment = MOR_GGUF_DEFAULT_ALIGNMENT;
    return TRUE;
  }
  const Kv *kv = &g_array_index (g->kvs, Kv, index);
  if (kv->type != MOR_GGUF_VALUE_UINT32) {
    set_error (error, g, MOR_GGUF_ERROR_CORRUPT, "key “" GGUF_ALIGNMENT_KEY "” has type %s, expected u32",
               mor_gguf_value_type_name (kv->type));
    return FALSE;
  }
  if (kv->u == 0 || (kv->u & (kv->u - 1)) != 0 || kv->u > MOR_GGUF_MAX_ALIGNMENT) {
    set_error (error, g, MOR_GGUF_ERROR_CORRUPT,
               "key “" GGUF_ALIGNMENT_KEY "” is %" G_GUINT64_FORMAT ", expected a power of two up to %u",
               kv->u, MOR_GGUF_MAX_ALIGNMENT);
    return FALSE;
  }
  g->alignment = (guint32) kv->u;
  return TRUE;
}

/* Reads one tensor info; t->offset is relative to the data section until parse() places it. */
static gboolean
parse_tensor_info (MorGguf *g, gsize *pos, guint index, guint n_tensors, GError **error)
{
  MorGgufTensor t = { .ne = { 1, 1, 1, 1 } };
  guint64 len;
  const guint8 *p = NULL;
  gsize start = *pos;
  guint32 type;

  if (!read_u64 (g, pos, &len)) {
    set_error (error, g, MOR_GGUF_ERROR_TRUNCATED,
               "file ends inside tensor info %u of %u (at byte %" G_GSIZE_FORMAT ")", index, n_tensors, start);
    return FALSE;
  }
  if (len == 0) {
    set_error (error, g, MOR_GGUF_ERROR_CORRUPT,
               "tensor %u of %u (at byte %" G_GSIZE_FORMAT ") has an empty name", index, n_tensors, start);
    return FALSE;
  }
  if (len >= MOR_GGUF_MAX_NAME) {
    set_error (error, g, MOR_GGUF_ERROR_CORRUPT,
               "tensor %u of %u (at byte %" G_GSIZE_FORMAT "): name of %" G_GUINT64_FORMAT
               " bytes is too long (at most %d)", index, n_tensors, start, len, MOR_GGUF_MAX_NAME - 1);
    return FALSE;
  }
  if (!take (g, pos, len, &p)) {
    set_error (error, g, MOR_GGUF_ERROR_TRUNCATED,
               "tensor %u of %u (at byte %" G_GSIZE_FORMAT "): name runs past the end of the file",
               index, n_tensors, start);
    return FALSE;
  }
  if (!g_utf8_validate_len ((const char *) p, len, NULL)) {
    set_error (error, g, MOR_GGUF_ERROR_CORRUPT,
               "tensor %u of %u (at byte %" G_GSIZE_FORMAT "): name is not valid UTF-8", index, n_tensors, start);
    return FALSE;
  }
  t.name = g_string_chunk_insert_len (g->strings, (const char *) p, len);
  if (g_hash_table_contains (g->tensor_index, t.name)) {
    set_error (error, g, MOR_GGUF_ERROR_CORRUPT, "duplicate tensor “%s” (tensor %u, at byte %" G_GSIZE_FORMAT ")",
               t.name, index, start);
    return FALSE;
  }
  if (!read_u32 (g, pos, &t.n_dims)) {
    set_error (error, g, MOR_GGUF_ERROR_TRUNCATED, "tensor “%s”: file ends inside its info", t.name);
    return FALSE;
  }
  if (t.n_dims == 0 || t.n_dims > MOR_GGUF_MAX_DIMS) {
    set_error (error, g, MOR_GGUF_ERROR_CORRUPT, "tensor “%s”: %u dimensions, expected 1 to %d",
               t.name, t.n_dims, MOR_GGUF_MAX_DIMS);
    return FALSE;
  }
  guint64 n_elements = 1;
  for (guint d = 0; d < t.n_dims; d++) {
    if (!read_u64 (g, pos, &t.ne[d])) {
      set_error (error, g, MOR_GGUF_ERROR_TRUNCATED, "tensor “%s”: file ends inside its info", t.name);
      return FALSE;
    }
    if (t.ne[d] == 0 || t.ne[d] > (guint64) G_MAXINT64) {
      set_error (error, g, MOR_GGUF_ERROR_CORRUPT,
                 "tensor “%s”: dimension %u is %" G_GUINT64_FORMAT ", expected 1 to 2^63 - 1", t.name, d, t.ne[d]);
      return FALSE;
    }
    if (!g_uint64_checked_mul (&n_elements, n_elements, t.ne[d]) || n_elements > (guint64) G_MAXINT64) {
      set_error (error, g, MOR_GGUF_ERROR_CORRUPT,
                 "tensor “%s”: %" G_GUINT64_FORMAT " × %" G_GUINT64_FORMAT " × %" G_GUINT64_FORMAT " × %"
                 G_GUINT64_FORMAT " elements overflow 63 bits", t.name, t.ne[0], t.ne[1], t.ne[2], t.ne[3]);
      return FALSE;
    }
  }
  if (!read_u32 (g, pos, &type)) {
    set_error (error, g, MOR_GGUF_ERROR_TRUNCATED, "tensor “%s”: file ends inside its info", t.name);
    return FALSE;
  }
  if (!mor_type_is_supported (type)) {
    set_error (error, g, MOR_GGUF_ERROR_UNSUPPORTED, "tensor “%s” has type id %u, which libmor does not support",
               t.name, type);
    return FALSE;
  }
  t.type = type;
  guint32 block = mor_type_block_size (t.type);
  if (t.ne[0] % block != 0) {
    set_error (error, g, MOR_GGUF_ERROR_CORRUPT,
               "tensor “%s”: rows of %" G_GUINT64_FORMAT " elements are not a multiple of the %s block size %u",
               t.name, t.ne[0], mor_type_name (t.type), block);
    return FALSE;
  }
  if (!g_uint64_checked_mul (&t.size, t.ne[0] / block, mor_type_block_bytes (t.type)) ||
      !g_uint64_checked_mul (&t.size, t.size, t.ne[1]) ||
      !g_uint64_checked_mul (&t.size, t.size, t.ne[2]) ||
      !g_uint64_checked_mul (&t.size, t.size, t.ne[3])) {
    set_error (error, g, MOR_GGUF_ERROR_CORRUPT, "tensor “%s”: byte size of %" G_GUINT64_FORMAT
               " %s elements overflows 64 bits", t.name, n_elements, mor_type_name (t.type));
    return FALSE;
  }
  if (!read_u64 (g, pos, &t.offset)) {
    set_error (error, g, MOR_GGUF_ERROR_TRUNCATED, "tensor “%s”: file ends inside its info", t.name);
    return FALSE;
  }
  if (t.offset % g->alignment != 0) {
    set_error (error, g, MOR_GGUF_ERROR_CORRUPT,
               "tensor “%s”: data offset %" G_GUINT64_FORMAT " is not a multiple of the alignment %u",
               t.name, t.offset, g->alignment);
    return FALSE;
  }
  g_array_append_val (g->tensors, t);
  g_hash_table_insert (g->tensor_index, (gpointer) t.name, GUINT_TO_POINTER (g->tensors->len));
  return TRUE;
}

typedef struct {
  guint64 start, end;
  guint index;
} Extent;

static int
compare_extents (const void *a, const void *b)
{
  const Extent *x = a, *y = b;
  if (x->start != y->start)
    return x->start < y->start ? -1 : 1;
  return x->index < y->index ? -1 : x->index > y->index;
}

/* Turns relative offsets into file offsets and checks that every tensor lies
 * inside the file and that no two overlap. */
static gboolean
place_tensors (MorGguf *g, GError **error)
{
  guint n = g->tensors->len;
  g_autofree Extent *extents = g_new (Extent, MAX (n, 1));

  for (guint i = 0; i < n; i++) {
    MorGgufTensor *t = &g_array_index (g->tensors, MorGgufTensor, i);
    guint64 start, end;
    if (!g_uint64_checked_add (&start, g->data_offset, t->offset) ||
        !g_uint64_checked_add (&end, start, t->size)) {
      set_error (error, g, MOR_GGUF_ERROR_CORRUPT,
                 "tensor “%s”: data offset %" G_GUINT64_FORMAT " + %" G_GUINT64_FORMAT " bytes overflows 64 bits",
                 t->name, t->offset, t->size);
      return FALSE;
    }
    if (end > g->size) {
      set_error (error, g, MOR_GGUF_ERROR_TRUNCATED,
                 "tensor “%s”: data at bytes [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
                 ") runs past the end of the file (%" G_GSIZE_FORMAT " bytes)", t->name, start, end, g->size);
      return FALSE;
    }
    t->offset = start;
    t->data = g->data + start;
    extents[i] = (Extent) { start, end, i };
  }

  qsort (extents, n, sizeof (Extent), compare_extents);
  for (guint i = 1; i < n; i++) {
    if (extents[i - 1].end > extents[i].start) {
      const MorGgufTensor *a = &g_array_index (g->tensors, MorGgufTensor, extents[i - 1].index);
      const MorGgufTensor *b = &g_array_index (g->tensors, MorGgufTensor, extents[i].index);
      set_error (error, g, MOR_GGUF_ERROR_CORRUPT,
                 "tensors “%s” at bytes [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT ") and “%s” at [%"
                 G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT ") overlap",
                 a->name, extents[i - 1].start, extents[i - 1].end, b->name, extents[i].start, extents[i].end);
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
parse (MorGguf *g, GError **error)
{
  gsize pos = 0;
  guint64 n_tensors, n_kv;

  if (!parse_header (g, &pos, &n_tensors, &n_kv, error))
    return FALSE;
  for (guint i = 0; i < n_kv; i++)
    if (!parse_kv (g, &pos, i, (guint) n_kv, error))
      return FALSE;
  if (!parse_alignment (g, error))
    return FALSE;
  for (guint i = 0; i < n_tensors; i++)
    if (!parse_tensor_info (g, &pos, i, (guint) n_tensors, error))
      return FALSE;
  /* pos ≤ size and alignment ≤ 1 MiB: no overflow. The data section may be
   * absent (a file without tensors need not pad its header). */
  g->data_offset = ((guint64) pos + g->alignment - 1) / g->alignment * g->alignment;
  return place_tensors (g, error);
}

static MorGguf *
gguf_new (GBytes *bytes, const char *name, GError **error)
{
  g_autoptr (MorGguf) g = g_new0 (MorGguf, 1);
  g->ref_count = 1;
  g->name = g_strdup (name);
  g->bytes = g_bytes_ref (bytes);
  g->data = g_bytes_get_data (bytes, &g->size);
  g->strings = g_string_chunk_new (4096);
  g->kvs = g_array_new (FALSE, FALSE, sizeof (Kv));
  g_array_set_clear_func (g->kvs, kv_clear);
  g->key_index = g_hash_table_new (g_str_hash, g_str_equal);
  g->tensors = g_array_new (FALSE, FALSE, sizeof (MorGgufTensor));
  g->tensor_index = g_hash_table_new (g_str_hash, g_str_equal);
  g->alignment = MOR_GGUF_DEFAULT_ALIGNMENT;

  if (!parse (g, error))
    return NULL;
  return g_steal_pointer (&g);
}

/**
 * mor_gguf_new_from_bytes:
 * @bytes: a whole GGUF file (transfer none: a reference is kept as long as the MorGguf)
 * @error: return location for a #GError, or %NULL
 *
 * Parses and validates @bytes. Error messages name the file “<memory>”.
 *
 * Returns: (transfer full): the file, or %NULL with @error set (domain
 * MOR_GGUF_ERROR) if it is not a valid GGUF v2/v3 file that libmor can use.
 */
MorGguf *
mor_gguf_new_from_bytes (GBytes *bytes, GError **error)
{
  g_return_val_if_fail (bytes != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  return gguf_new (bytes, "<memory>", error);
}

/**
 * mor_gguf_open:
 * @path: file name
 * @error: return location for a #GError, or %NULL
 *
 * Maps @path read-only and parses it as mor_gguf_new_from_bytes() does. The
 * mapping lives as long as the MorGguf.
 *
 * Returns: (transfer full): the file, or %NULL with @error set:
 * MOR_GGUF_ERROR_IO if it cannot be mapped, another MOR_GGUF_ERROR code if it
 * is not valid.
 */
MorGguf *
mor_gguf_open (const char *path, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (GMappedFile) mapped = NULL;
  g_autoptr (GBytes) bytes = NULL;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  mapped = g_mapped_file_new (path, FALSE, &local);
  if (mapped == NULL) {
    /* "Failed to open file “path”: open() failed: No such file or directory" */
    g_set_error_literal (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_IO, local->message);
    return NULL;
  }
  bytes = g_mapped_file_get_bytes (mapped);
  return gguf_new (bytes, path, error);
}

MorGguf *
mor_gguf_ref (MorGguf *g)
{
  g_return_val_if_fail (g != NULL, NULL);
  g_atomic_int_inc (&g->ref_count);
  return g;
}

void
mor_gguf_unref (MorGguf *g)
{
  g_return_if_fail (g != NULL);
  if (!g_atomic_int_dec_and_test (&g->ref_count))
    return;
  g_hash_table_unref (g->tensor_index);
  g_array_unref (g->tensors);
  g_hash_table_unref (g->key_index);
  g_array_unref (g->kvs);
  g_string_chunk_free (g->strings);
  g_bytes_unref (g->bytes);
  g_free (g->name);
  g_free (g);
}

const char *
mor_gguf_get_name (MorGguf *g)
{
  g_return_val_if_fail (g != NULL, NULL);
  return g->name;
}

guint32
mor_gguf_get_version (MorGguf *g)
{
  g_return_val_if_fail (g != NULL, 0);
  return g->version;
}

guint32
mor_gguf_get_alignment (MorGguf *g)
{
  g_return_val_if_fail (g != NULL, 0);
  return g->alignment;
}

guint64
mor_gguf_get_data_offset (MorGguf *g)
{
  g_return_val_if_fail (g != NULL, 0);
  return g->data_offset;
}

/* ---- Keys and values ---- */

guint
mor_gguf_n_keys (MorGguf *g)
{
  g_return_val_if_fail (g != NULL, 0);
  return g->kvs->len;
}

/**
 * mor_gguf_get_key:
 * @g: a file
 * @index: 0 … mor_gguf_n_keys() - 1
 *
 * Returns: (transfer none): the name of key @index, valid UTF-8, owned by @g.
 */
const char *
mor_gguf_get_key (MorGguf *g, guint index)
{
  g_return_val_if_fail (g != NULL, NULL);
  g_return_val_if_fail (index < g->kvs->len, NULL);
  return g_array_index (g->kvs, Kv, index).key;
}

MorGgufValueType
mor_gguf_get_key_type (MorGguf *g, guint index)
{
  g_return_val_if_fail (g != NULL, MOR_GGUF_VALUE_UINT8);
  g_return_val_if_fail (index < g->kvs->len, MOR_GGUF_VALUE_UINT8);
  return g_array_index (g->kvs, Kv, index).type;
}

gint
mor_gguf_find_key (MorGguf *g, const char *key)
{
  g_return_val_if_fail (g != NULL, -1);
  g_return_val_if_fail (key != NULL, -1);
  return (gint) GPOINTER_TO_UINT (g_hash_table_lookup (g->key_index, key)) - 1;
}

static const Kv *
lookup (MorGguf *g, const char *key, GError **error)
{
  gint index = mor_gguf_find_key (g, key);
  if (index < 0) {
    g_set_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_NOT_FOUND, "“%s”: key “%s” not found", g->name, key);
    return NULL;
  }
  return &g_array_index (g->kvs, Kv, index);
}

static void
set_type_error (MorGguf *g, const Kv *kv, const char *expected, GError **error)
{
  if (kv->type == MOR_GGUF_VALUE_ARRAY)
    g_set_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE, "“%s”: key “%s”: expected %s, found array of %s",
                 g->name, kv->key, expected, mor_gguf_value_type_name (kv->elem_type));
  else
    g_set_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE, "“%s”: key “%s”: expected %s, found %s",
                 g->name, kv->key, expected, mor_gguf_value_type_name (kv->type));
}

/* The integer @key if its value lies in [min, max]. */
static const Kv *
lookup_integer (MorGguf *g, const char *key, const char *expected, gint64 min, guint64 max, GError **error)
{
  const Kv *kv = lookup (g, key, error);
  if (kv == NULL)
    return NULL;
  if (!value_type_is_integer (kv->type)) {
    set_type_error (g, kv, expected, error);
    return NULL;
  }
  if (value_type_is_signed (kv->type) && (kv->i < min || (kv->i > 0 && (guint64) kv->i > max))) {
    g_set_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE,
                 "“%s”: key “%s”: expected %s, found %s %" G_GINT64_FORMAT ", which does not fit",
                 g->name, key, expected, mor_gguf_value_type_name (kv->type), kv->i);
    return NULL;
  }
  if (!value_type_is_signed (kv->type) && kv->u > max) {
    g_set_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE,
                 "“%s”: key “%s”: expected %s, found %s %" G_GUINT64_FORMAT ", which does not fit",
                 g->name, key, expected, mor_gguf_value_type_name (kv->type), kv->u);
    return NULL;
  }
  return kv;
}

/**
 * mor_gguf_get_u32:
 * @g: a file
 * @key: the key
 * @out: (out): the value (undefined on error)
 * @error: return location for a #GError, or %NULL
 *
 * Reads an integer key whose value fits a guint32, whatever its integer type
 * in the file. The other integer getters work the same way.
 *
 * Returns: TRUE, or FALSE with MOR_GGUF_ERROR_NOT_FOUND (no such key) or
 * MOR_GGUF_ERROR_TYPE (not an integer, or out of range).
 */
gboolean
mor_gguf_get_u32 (MorGguf *g, const char *key, guint32 *out, GError **error)
{
  g_return_val_if_fail (g != NULL && key != NULL && out != NULL, FALSE);
  const Kv *kv = lookup_integer (g, key, "u32", 0, G_MAXUINT32, error);
  if (kv == NULL)
    return FALSE;
  *out = value_type_is_signed (kv->type) ? (guint32) kv->i : (guint32) kv->u;
  return TRUE;
}

gboolean
mor_gguf_get_i32 (MorGguf *g, const char *key, gint32 *out, GError **error)
{
  g_return_val_if_fail (g != NULL && key != NULL && out != NULL, FALSE);
  const Kv *kv = lookup_integer (g, key, "i32", G_MININT32, G_MAXINT32, error);
  if (kv == NULL)
    return FALSE;
  *out = value_type_is_signed (kv->type) ? (gint32) kv->i : (gint32) kv->u;
  return TRUE;
}

gboolean
mor_gguf_get_u64 (MorGguf *g, const char *key, guint64 *out, GError **error)
{
  g_return_val_if_fail (g != NULL && key != NULL && out != NULL, FALSE);
  const Kv *kv = lookup_integer (g, key, "u64", 0, G_MAXUINT64, error);
  if (kv == NULL)
    return FALSE;
  *out = value_type_is_signed (kv->type) ? (guint64) kv->i : kv->u;
  return TRUE;
}

gboolean
mor_gguf_get_i64 (MorGguf *g, const char *key, gint64 *out, GError **error)
{
  g_return_val_if_fail (g != NULL && key != NULL && out != NULL, FALSE);
  const Kv *kv = lookup_integer (g, key, "i64", G_MININT64, G_MAXINT64, error);
  if (kv == NULL)
    return FALSE;
  *out = value_type_is_signed (kv->type) ? kv->i : (gint64) kv->u;
  return TRUE;
}

static const Kv *
lookup_float (MorGguf *g, const char *key, const char *expected, GError **error)
{
  const Kv *kv = lookup (g, key, error);
  if (kv == NULL)
    return NULL;
  if (kv->type != MOR_GGUF_VALUE_FLOAT32 && kv->type != MOR_GGUF_VALUE_FLOAT64) {
    set_type_error (g, kv, expected, error);
    return NULL;
  }
  return kv;
}

/* Accepts f32 and f64; an f64 beyond the float range is an error (NaN and ±inf pass). */
gboolean
mor_gguf_get_f32 (MorGguf *g, const char *key, float *out, GError **error)
{
  g_return_val_if_fail (g != NULL && key != NULL && out != NULL, FALSE);
  const Kv *kv = lookup_float (g, key, "f32", error);
  if (kv == NULL)
    return FALSE;
  if (isfinite (kv->f) && fabs (kv->f) > G_MAXFLOAT) {
    g_set_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE,
                 "“%s”: key “%s”: expected f32, found f64 %g, which does not fit", g->name, key, kv->f);
    return FALSE;
  }
  *out = (float) kv->f;
  return TRUE;
}

gboolean
mor_gguf_get_f64 (MorGguf *g, const char *key, double *out, GError **error)
{
  g_return_val_if_fail (g != NULL && key != NULL && out != NULL, FALSE);
  const Kv *kv = lookup_float (g, key, "f64", error);
  if (kv == NULL)
    return FALSE;
  *out = kv->f;
  return TRUE;
}

gboolean
mor_gguf_get_bool (MorGguf *g, const char *key, gboolean *out, GError **error)
{
  g_return_val_if_fail (g != NULL && key != NULL && out != NULL, FALSE);
  const Kv *kv = lookup (g, key, error);
  if (kv == NULL)
    return FALSE;
  if (kv->type != MOR_GGUF_VALUE_BOOL) {
    set_type_error (g, kv, "bool", error);
    return FALSE;
  }
  *out = kv->u != 0;
  return TRUE;
}

/**
 * mor_gguf_get_string:
 * @g: a file
 * @key: the key
 * @len: (out) (optional): length of the value in bytes, without the NUL
 * @error: return location for a #GError, or %NULL
 *
 * Returns: (transfer none): the UTF-8 value, NUL-terminated, owned by @g; or
 * %NULL with MOR_GGUF_ERROR_NOT_FOUND or MOR_GGUF_ERROR_TYPE.
 */
const char *
mor_gguf_get_string (MorGguf *g, const char *key, gsize *len, GError **error)
{
  g_return_val_if_fail (g != NULL && key != NULL, NULL);
  const Kv *kv = lookup (g, key, error);
  if (kv == NULL)
    return NULL;
  if (kv->type != MOR_GGUF_VALUE_STRING) {
    set_type_error (g, kv, "string", error);
    return NULL;
  }
  if (len)
    *len = kv->str_len;
  return kv->str;
}

gboolean
mor_gguf_get_u32_default (MorGguf *g, const char *key, guint32 def, guint32 *out, GError **error)
{
  g_return_val_if_fail (g != NULL && key != NULL && out != NULL, FALSE);
  if (mor_gguf_find_key (g, key) < 0) {
    *out = def;
    return TRUE;
  }
  return mor_gguf_get_u32 (g, key, out, error);
}

gboolean
mor_gguf_get_i32_default (MorGguf *g, const char *key, gint32 def, gint32 *out, GError **error)
{
  g_return_val_if_fail (g != NULL && key != NULL && out != NULL, FALSE);
  if (mor_gguf_find_key (g, key) < 0) {
    *out = def;
    return TRUE;
  }
  return mor_gguf_get_i32 (g, key, out, error);
}

gboolean
mor_gguf_get_u64_default (MorGguf *g, const char *key, guint64 def, guint64 *out, GError **error)
{
  g_return_val_if_fail (g != NULL && key != NULL && out != NULL, FALSE);
  if (mor_gguf_find_key (g, key) < 0) {
    *out = def;
    return TRUE;
  }
  return mor_gguf_get_u64 (g, key, out, error);
}

gboolean
mor_gguf_get_f32_default (MorGguf *g, const char *key, float def, float *out, GError **error)
{
  g_return_val_if_fail (g != NULL && key != NULL && out != NULL, FALSE);
  if (mor_gguf_find_key (g, key) < 0) {
    *out = def;
    return TRUE;
  }
  return mor_gguf_get_f32 (g, key, out, error);
}

gboolean
mor_gguf_get_bool_default (MorGguf *g, const char *key, gboolean def, gboolean *out, GError **error)
{
  g_return_val_if_fail (g != NULL && key != NULL && out != NULL, FALSE);
  if (mor_gguf_find_key (g, key) < 0) {
    *out = def;
    return TRUE;
  }
  return mor_gguf_get_bool (g, key, out, error);
}

/* @out: (transfer none): the value owned by @g, or @def (which may be NULL). */
gboolean
mor_gguf_get_string_default (MorGguf *g, const char *key, const char *def, const char **out, GError **error)
{
  g_return_val_if_fail (g != NULL && key != NULL && out != NULL, FALSE);
  if (mor_gguf_find_key (g, key) < 0) {
    *out = def;
    return TRUE;
  }
  *out = mor_gguf_get_string (g, key, NULL, error);
  return *out != NULL;
}

gboolean
mor_gguf_get_array (MorGguf *g, const char *key, MorGgufValueType *elem_type, guint64 *n, GError **error)
{
  g_return_val_if_fail (g != NULL && key != NULL, FALSE);
  const Kv *kv = lookup (g, key, error);
  if (kv == NULL)
    return FALSE;
  if (kv->type != MOR_GGUF_VALUE_ARRAY) {
    set_type_error (g, kv, "array", error);
    return FALSE;
  }
  if (elem_type)
    *elem_type = kv->elem_type;
  if (n)
    *n = kv->n;
  return TRUE;
}

/**
 * mor_gguf_get_array_data:
 * @g: a file
 * @key: the key
 * @elem_type: the element type the caller reads: numeric or bool
 * @n: (out) (optional): number of elements
 * @error: return location for a #GError, or %NULL
 *
 * Returns: (transfer none): the elements, aligned for @elem_type,
 * little-endian, owned by @g (non-NULL also for an empty array); or %NULL with
 * MOR_GGUF_ERROR_NOT_FOUND or MOR_GGUF_ERROR_TYPE (not an array of exactly
 * @elem_type).
 */
const void *
mor_gguf_get_array_data (MorGguf *g, const char *key, MorGgufValueType elem_type, guint64 *n, GError **error)
{
  g_return_val_if_fail (g != NULL && key != NULL, NULL);
  g_return_val_if_fail (mor_gguf_value_type_size (elem_type) > 0, NULL);
  const Kv *kv = lookup (g, key, error);
  if (kv == NULL)
    return NULL;
  if (kv->type != MOR_GGUF_VALUE_ARRAY || kv->elem_type != elem_type) {
    g_autofree char *expected = g_strdup_printf ("array of %s", mor_gguf_value_type_name (elem_type));
    set_type_error (g, kv, expected, error);
    return NULL;
  }
  if (n)
    *n = kv->n;
  return kv->data;
}

gboolean
mor_gguf_get_string_array (MorGguf *g, const char *key, guint64 *n, GError **error)
{
  g_return_val_if_fail (g != NULL && key != NULL, FALSE);
  const Kv *kv = lookup (g, key, error);
  if (kv == NULL)
    return FALSE;
  if (kv->type != MOR_GGUF_VALUE_ARRAY || kv->elem_type != MOR_GGUF_VALUE_STRING) {
    set_type_error (g, kv, "array of string", error);
    return FALSE;
  }
  if (n)
    *n = kv->n;
  return TRUE;
}

/**
 * mor_gguf_get_array_string:
 * @g: a file
 * @key: a key that mor_gguf_get_string_array() accepted
 * @index: less than the length that call gave
 * @len: (out): length of the string in bytes
 *
 * O(1): the offsets of the elements are tabled at open. Asking for a key that
 * is not a string array, or past its end, is a programmer error (critical, NULL).
 *
 * Returns: (transfer none): @len bytes of UTF-8 inside the file, owned by @g and
 * NOT NUL-terminated.
 */
const char *
mor_gguf_get_array_string (MorGguf *g, const char *key, guint64 index, gsize *len)
{
  g_return_val_if_fail (g != NULL && key != NULL && len != NULL, NULL);
  gint i = mor_gguf_find_key (g, key);
  g_return_val_if_fail (i >= 0, NULL);
  const Kv *kv = &g_array_index (g->kvs, Kv, i);
  g_return_val_if_fail (kv->type == MOR_GGUF_VALUE_ARRAY && kv->elem_type == MOR_GGUF_VALUE_STRING, NULL);
  g_return_val_if_fail (index < kv->n, NULL);

  guint64 n;
  memcpy (&n, g->data + kv->offsets[index], 8);
  *len = (gsize) n;
  return (const char *) g->data + kv->offsets[index] + 8;
}

/* ---- Tensors ---- */

guint
mor_gguf_n_tensors (MorGguf *g)
{
  g_return_val_if_fail (g != NULL, 0);
  return g->tensors->len;
}

/**
 * mor_gguf_get_tensor:
 * @g: a file
 * @index: 0 … mor_gguf_n_tensors() - 1
 *
 * Returns: (transfer none): tensor @index, owned by @g; its data lies in the
 * file, inside the file's bounds, and overlaps no other tensor.
 */
const MorGgufTensor *
mor_gguf_get_tensor (MorGguf *g, guint index)
{
  g_return_val_if_fail (g != NULL, NULL);
  g_return_val_if_fail (index < g->tensors->len, NULL);
  return &g_array_index (g->tensors, MorGgufTensor, index);
}

/**
 * mor_gguf_find_tensor:
 * @g: a file
 * @name: tensor name
 *
 * Returns: (transfer none) (nullable): the tensor, owned by @g, or %NULL if the
 * file has none of that name (mor_gguf_check_tensor() gives an error instead).
 */
const MorGgufTensor *
mor_gguf_find_tensor (MorGguf *g, const char *name)
{
  g_return_val_if_fail (g != NULL && name != NULL, NULL);
  guint index = GPOINTER_TO_UINT (g_hash_table_lookup (g->tensor_index, name));
  return index > 0 ? &g_array_index (g->tensors, MorGgufTensor, index - 1) : NULL;
}

/* "[2048, 151936]" */
static char *
shape_to_string (guint32 n_dims, const guint64 *ne)
{
  GString *s = g_string_new ("[");
  for (guint d = 0; d < n_dims; d++)
    g_string_append_printf (s, d ? ", %" G_GUINT64_FORMAT : "%" G_GUINT64_FORMAT, ne[d]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

/**
 * mor_gguf_check_tensor:
 * @g: a file
 * @name: tensor name
 * @n_dims: dims of @ne, 1..4
 * @ne: (array length=n_dims): the expected shape, ne[0] fastest
 * @tensor: (out) (optional) (transfer none): the tensor
 * @error: return location for a #GError, or %NULL
 *
 * Dims that the file has past @n_dims must be 1, and dims past the file's
 * n_dims count as 1: a file tensor [n, 1] passes for [n] and the other way round.
 *
 * Returns: TRUE, or FALSE with MOR_GGUF_ERROR_NOT_FOUND or MOR_GGUF_ERROR_TYPE
 * (the message names the tensor and both shapes).
 */
gboolean
mor_gguf_check_tensor (MorGguf *g, const char *name, guint32 n_dims, const guint64 *ne,
                       const MorGgufTensor **tensor, GError **error)
{
  g_return_val_if_fail (g != NULL && name != NULL && ne != NULL, FALSE);
  g_return_val_if_fail (n_dims >= 1 && n_dims <= MOR_GGUF_MAX_DIMS, FALSE);

  const MorGgufTensor *t = mor_gguf_find_tensor (g, name);
  if (t == NULL) {
    g_set_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_NOT_FOUND, "“%s”: tensor “%s” not found", g->name, name);
    return FALSE;
  }
  guint64 want[MOR_GGUF_MAX_DIMS] = { 1, 1, 1, 1 };
  memcpy (want, ne, n_dims * sizeof (guint64));
  if (memcmp (want, t->ne, sizeof want) != 0) {
    g_autofree char *found = shape_to_string (t->n_dims, t->ne);
    g_autofree char *expected = shape_to_string (n_dims, ne);
    g_set_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE, "“%s”: tensor “%s” has shape %s, expected %s",
                 g->name, name, found, expected);
    return FALSE;
  }
  if (tensor)
    *tensor = t;
  return TRUE;
}

gboolean
mor_gguf_check_tensor_type (MorGguf *g, const char *name, MorType type, guint32 n_dims, const guint64 *ne,
                            const MorGgufTensor **tensor, GError **error)
{
  const MorGgufTensor *t;
  if (!mor_gguf_check_tensor (g, name, n_dims, ne, &t, error))
    return FALSE;
  if (t->type != type) {
    g_set_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE, "“%s”: tensor “%s” has type %s, expected %s",
                 g->name, name, mor_type_name (t->type), mor_type_name (type));
    return FALSE;
  }
  if (tensor)
    *tensor = t;
  return TRUE;
}

/* ---- Writer ---- */

typedef struct {
  char *name;
  MorType type;
  guint32 n_dims;
  guint64 ne[MOR_GGUF_MAX_DIMS];
  GBytes *data;
} WriterTensor;

struct _MorGgufWriter {
  GByteArray *kv;               /* the key-value pairs, serialized in order */
  guint n_kv;
  GHashTable *keys;             /* owned key names */
  guint32 alignment;
  GArray *tensors;              /* WriterTensor, in order */
  GHashTable *tensor_names;     /* names, owned by the WriterTensor */
};

static void
writer_tensor_clear (gpointer data)
{
  WriterTensor *t = data;
  g_free (t->name);
  g_bytes_unref (t->data);
}

/**
 * mor_gguf_writer_new:
 *
 * Returns: (transfer full): an empty writer (no keys, no tensors, alignment 32);
 * free with mor_gguf_writer_free().
 */
MorGgufWriter *
mor_gguf_writer_new (void)
{
  MorGgufWriter *w = g_new0 (MorGgufWriter, 1);
  w->kv = g_byte_array_new ();
  w->keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  w->alignment = MOR_GGUF_DEFAULT_ALIGNMENT;
  w->tensors = g_array_new (FALSE, FALSE, sizeof (WriterTensor));
  g_array_set_clear_func (w->tensors, writer_tensor_clear);
  w->tensor_names = g_hash_table_new (g_str_hash, g_str_equal);
  return w;
}

void
mor_gguf_writer_free (MorGgufWriter *w)
{
  if (w == NULL)
    return;
  g_hash_table_unref (w->tensor_names);
  g_array_unref (w->tensors);
  g_hash_table_unref (w->keys);
  g_byte_array_unref (w->kv);
  g_free (w);
}

static void
put (GByteArray *a, const void *p, gsize n)
{
  if (n > 0)
    g_byte_array_append (a, p, (guint) n);
}

static void
put_u32 (GByteArray *a, guint32 v)
{
  put (a, &v, 4);
}

static void
put_u64 (GByteArray *a, guint64 v)
{
  put (a, &v, 8);
}

static void
put_string (GByteArray *a, const char *s, gsize len)
{
  put_u64 (a, len);
  put (a, s, len);
}

/* Writes the key and its value type; FALSE (after a critical) on a programmer error. */
static gboolean
begin_kv (MorGgufWriter *w, const char *key, MorGgufValueType type)
{
  g_return_val_if_fail (w != NULL, FALSE);
  g_return_val_if_fail (key != NULL && key[0] != '\0' && g_utf8_validate (key, -1, NULL), FALSE);
  g_return_val_if_fail (!g_hash_table_contains (w->keys, key), FALSE);
  g_return_val_if_fail (strcmp (key, GGUF_ALIGNMENT_KEY) != 0 || type == MOR_GGUF_VALUE_UINT32, FALSE);

  g_hash_table_add (w->keys, g_strdup (key));
  w->n_kv++;
  put_string (w->kv, key, strlen (key));
  put_u32 (w->kv, type);
  return TRUE;
}

void
mor_gguf_writer_add_u8 (MorGgufWriter *w, const char *key, guint8 value)
{
  if (begin_kv (w, key, MOR_GGUF_VALUE_UINT8))
    put (w->kv, &value, 1);
}

void
mor_gguf_writer_add_i8 (MorGgufWriter *w, const char *key, gint8 value)
{
  if (begin_kv (w, key, MOR_GGUF_VALUE_INT8))
    put (w->kv, &value, 1);
}

void
mor_gguf_writer_add_u16 (MorGgufWriter *w, const char *key, guint16 value)
{
  if (begin_kv (w, key, MOR_GGUF_VALUE_UINT16))
    put (w->kv, &value, 2);
}

void
mor_gguf_writer_add_i16 (MorGgufWriter *w, const char *key, gint16 value)
{
  if (begin_kv (w, key, MOR_GGUF_VALUE_INT16))
    put (w->kv, &value, 2);
}

void
mor_gguf_writer_add_u32 (MorGgufWriter *w, const char *key, guint32 value)
{
  if (key != NULL && strcmp (key, GGUF_ALIGNMENT_KEY) == 0) {
    g_return_if_fail (value != 0 && (value & (value - 1)) == 0 && value <= MOR_GGUF_MAX_ALIGNMENT);
    if (begin_kv (w, key, MOR_GGUF_VALUE_UINT32))
      w->alignment = value;
    else
      return;
  } else if (!begin_kv (w, key, MOR_GGUF_VALUE_UINT32)) {
    return;
  }
  put_u32 (w->kv, value);
}

void
mor_gguf_writer_add_i32 (MorGgufWriter *w, const char *key, gint32 value)
{
  if (begin_kv (w, key, MOR_GGUF_VALUE_INT32))
    put (w->kv, &value, 4);
}

void
mor_gguf_writer_add_u64 (MorGgufWriter *w, const char *key, guint64 value)
{
  if (begin_kv (w, key, MOR_GGUF_VALUE_UINT64))
    put_u64 (w->kv, value);
}

void
mor_gguf_writer_add_i64 (MorGgufWriter *w, const char *key, gint64 value)
{
  if (begin_kv (w, key, MOR_GGUF_VALUE_INT64))
    put (w->kv, &value, 8);
}

void
mor_gguf_writer_add_f32 (MorGgufWriter *w, const char *key, float value)
{
  if (begin_kv (w, key, MOR_GGUF_VALUE_FLOAT32))
    put (w->kv, &value, 4);
}

void
mor_gguf_writer_add_f64 (MorGgufWriter *w, const char *key, double value)
{
  if (begin_kv (w, key, MOR_GGUF_VALUE_FLOAT64))
    put (w->kv, &value, 8);
}

void
mor_gguf_writer_add_bool (MorGgufWriter *w, const char *key, gboolean value)
{
  guint8 b = value ? 1 : 0;
  if (begin_kv (w, key, MOR_GGUF_VALUE_BOOL))
    put (w->kv, &b, 1);
}

void
mor_gguf_writer_add_string (MorGgufWriter *w, const char *key, const char *value)
{
  g_return_if_fail (value != NULL && g_utf8_validate (value, -1, NULL));
  if (begin_kv (w, key, MOR_GGUF_VALUE_STRING))
    put_string (w->kv, value, strlen (value));
}

void
mor_gguf_writer_add_array (MorGgufWriter *w, const char *key, MorGgufValueType elem_type, const void *data,
                           guint64 n)
{
  gsize esize = mor_gguf_value_type_size (elem_type);
  g_return_if_fail (esize > 0);
  g_return_if_fail (data != NULL || n == 0);
  g_return_if_fail (n <= G_MAXUINT / esize);   /* GByteArray holds at most 4 GiB */
  if (!begin_kv (w, key, MOR_GGUF_VALUE_ARRAY))
    return;
  put_u32 (w->kv, elem_type);
  put_u64 (w->kv, n);
  if (elem_type == MOR_GGUF_VALUE_BOOL) {
    for (guint64 i = 0; i < n; i++) {
      guint8 b = ((const guint8 *) data)[i] ? 1 : 0;
      put (w->kv, &b, 1);
    }
  } else {
    put (w->kv, data, n * esize);
  }
}

void
mor_gguf_writer_add_string_array (MorGgufWriter *w, const char *key, const char *const *strv, gssize n)
{
  g_return_if_fail (strv != NULL || n == 0);
  if (n < 0)
    n = g_strv_length ((char **) strv);
  for (gssize i = 0; i < n; i++)
    g_return_if_fail (strv[i] != NULL && g_utf8_validate (strv[i], -1, NULL));
  if (!begin_kv (w, key, MOR_GGUF_VALUE_ARRAY))
    return;
  put_u32 (w->kv, MOR_GGUF_VALUE_STRING);
  put_u64 (w->kv, (guint64) n);
  for (gssize i = 0; i < n; i++)
    put_string (w->kv, strv[i], strlen (strv[i]));
}

/**
 * mor_gguf_writer_add_tensor_bytes:
 * @w: a writer
 * @name: 1..63 bytes of UTF-8, not yet added
 * @type: a supported tensor type
 * @n_dims: 1..4
 * @ne: (array length=n_dims): elements per dim, ne[0] fastest and a multiple of
 *   the block size of @type
 * @data: (transfer none): exactly the tensor's bytes; the writer keeps a
 *   reference, no copy
 *
 * Any argument out of range is a programmer error (critical, nothing added).
 */
void
mor_gguf_writer_add_tensor_bytes (MorGgufWriter *w, const char *name, MorType type, guint32 n_dims,
                                  const guint64 *ne, GBytes *data)
{
  g_return_if_fail (w != NULL);
  g_return_if_fail (name != NULL && name[0] != '\0' && strlen (name) < MOR_GGUF_MAX_NAME);
  g_return_if_fail (g_utf8_validate (name, -1, NULL));
  g_return_if_fail (!g_hash_table_contains (w->tensor_names, name));
  g_return_if_fail (mor_type_is_supported (type));
  g_return_if_fail (n_dims >= 1 && n_dims <= MOR_GGUF_MAX_DIMS && ne != NULL);
  g_return_if_fail (data != NULL);

  WriterTensor t = { .type = type, .n_dims = n_dims, .ne = { 1, 1, 1, 1 } };
  guint64 size = mor_type_block_bytes (type);
  for (guint d = 0; d < n_dims; d++) {
    g_return_if_fail (ne[d] > 0 && ne[d] <= (guint64) G_MAXINT64);
    t.ne[d] = ne[d];
  }
  g_return_if_fail (t.ne[0] % mor_type_block_size (type) == 0);
  gboolean ok = g_uint64_checked_mul (&size, size, t.ne[0] / mor_type_block_size (type));
  for (guint d = 1; d < MOR_GGUF_MAX_DIMS; d++)
    ok = ok && g_uint64_checked_mul (&size, size, t.ne[d]);
  g_return_if_fail (ok && size == g_bytes_get_size (data));

  t.name = g_strdup (name);
  t.data = g_bytes_ref (data);
  g_array_append_val (w->tensors, t);
  g_hash_table_add (w->tensor_names, t.name);
}

/* As mor_gguf_writer_add_tensor_bytes(), copying @size bytes of @data. */
void
mor_gguf_writer_add_tensor (MorGgufWriter *w, const char *name, MorType type, guint32 n_dims,
                            const guint64 *ne, const void *data, gsize size)
{
  g_return_if_fail (data != NULL);
  g_autoptr (GBytes) bytes = g_bytes_new (data, size);
  mor_gguf_writer_add_tensor_bytes (w, name, type, n_dims, ne, bytes);
}

static guint64
align_up (guint64 x, guint32 alignment)
{
  return (x + alignment - 1) / alignment * alignment;
}

typedef gboolean (*WriteFunc) (gpointer ctx, const void *p, gsize n);

static gboolean
write_padding (WriteFunc write, gpointer ctx, gsize n)
{
  static const guint8 zeros[4096];
  while (n > 0) {
    gsize k = MIN (n, sizeof zeros);
    if (!write (ctx, zeros, k))
      return FALSE;
    n -= k;
  }
  return TRUE;
}

/* The whole file through @write: header, keys, tensor infos, padding, then each tensor padded. */
static gboolean
writer_emit (MorGgufWriter *w, WriteFunc write, gpointer ctx)
{
  g_autoptr (GByteArray) head = g_byte_array_new ();
  guint64 offset = 0;

  put (head, GGUF_MAGIC, 4);
  put_u32 (head, 3);
  put_u64 (head, w->tensors->len);
  put_u64 (head, w->n_kv);
  put (head, w->kv->data, w->kv->len);
  for (guint i = 0; i < w->tensors->len; i++) {
    const WriterTensor *t = &g_array_index (w->tensors, WriterTensor, i);
    put_string (head, t->name, strlen (t->name));
    put_u32 (head, t->n_dims);
    for (guint d = 0; d < t->n_dims; d++)
      put_u64 (head, t->ne[d]);
    put_u32 (head, t->type);
    put_u64 (head, offset);
    offset = align_up (offset + g_bytes_get_size (t->data), w->alignment);
  }
  if (!write (ctx, head->data, head->len))
    return FALSE;
  if (w->tensors->len == 0)
    return TRUE;
  if (!write_padding (write, ctx, align_up (head->len, w->alignment) - head->len))
    return FALSE;
  for (guint i = 0; i < w->tensors->len; i++) {
    const WriterTensor *t = &g_array_index (w->tensors, WriterTensor, i);
    gsize size;
    const void *data = g_bytes_get_data (t->data, &size);
    if (!write (ctx, data, size) || !write_padding (write, ctx, align_up (size, w->alignment) - size))
      return FALSE;
  }
  return TRUE;
}

static gboolean
write_to_array (gpointer ctx, const void *p, gsize n)
{
  put (ctx, p, n);
  return TRUE;
}

static gboolean
write_to_file (gpointer ctx, const void *p, gsize n)
{
  return n == 0 || fwrite (p, 1, n, ctx) == n;
}

/**
 * mor_gguf_writer_to_bytes:
 * @w: a writer
 *
 * For files that fit in memory (GByteArray: under 4 GiB); see
 * mor_gguf_writer_write_file() for large ones.
 *
 * Returns: (transfer full): the file (GGUF v3), in memory.
 */
GBytes *
mor_gguf_writer_to_bytes (MorGgufWriter *w)
{
  g_return_val_if_fail (w != NULL, NULL);
  GByteArray *out = g_byte_array_new ();
  writer_emit (w, write_to_array, out);
  return g_byte_array_free_to_bytes (out);
}

/**
 * mor_gguf_writer_write_file:
 * @w: a writer
 * @path: file to create or replace
 * @error: return location for a #GError, or %NULL
 *
 * Writes the file (GGUF v3), streaming tensor data from the writer. A file
 * left half-written by a failure is removed.
 *
 * Returns: TRUE, or FALSE with MOR_GGUF_ERROR_IO.
 */
gboolean
mor_gguf_writer_write_file (MorGgufWriter *w, const char *path, GError **error)
{
  g_return_val_if_fail (w != NULL && path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  FILE *f = g_fopen (path, "wb");
  if (f == NULL) {
    int saved = errno;
    g_set_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_IO, "Failed to create file “%s”: fopen() failed: %s",
                 path, g_strerror (saved));
    return FALSE;
  }
  if (!writer_emit (w, write_to_file, f)) {
    int saved = errno;
    fclose (f);
    g_remove (path);
    g_set_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_IO, "Failed to write file “%s”: fwrite() failed: %s",
                 path, g_strerror (saved));
    return FALSE;
  }
  if (fclose (f) != 0) {
    int saved = errno;
    g_remove (path);
    g_set_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_IO, "Failed to write file “%s”: fclose() failed: %s",
                 path, g_strerror (saved));
    return FALSE;
  }
  return TRUE;
}
