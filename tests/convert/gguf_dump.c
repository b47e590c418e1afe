/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gguf_dump: reads a GGUF file with libmor (model/gguf.h) and prints what it
 * holds, one JSON object a line, for tests/convert/test_convert.py:
 *
 *   gguf_dump FILE [--data DIR]
 *     {"key": K, "type": "u32", "value": V}           a key (arrays: "array[u32]", a list)
 *     {"tensor": N, "type": "q8_0", "ne": [..], "offset": O, "size": S}
 *     with --data, every tensor dequantized by mor_ref_dequantize_row() into
 *     DIR/<name>.f32 (raw little-endian float32);
 *
 *   gguf_dump --quantize TYPE IN OUT
 *     quantizes the raw float32 file IN with mor_quantize_row() into OUT, to
 *     compare the converter's quantization with libmor's (ggml's reference). */
#include "gguf.h"
#include "types.h"

#include <stdio.h>
#include <string.h>

static void
print_json_string (const char *s, gsize len)
{
  putchar ('"');
  for (gsize i = 0; i < len; i++) {
    unsigned char c = (unsigned char) s[i];
    if (c == '"' || c == '\\')
      printf ("\\%c", c);
    else if (c < 0x20)
      printf ("\\u%04x", c);
    else
      putchar (c);
  }
  putchar ('"');
}

static void
print_number (MorGgufValueType type, const guint8 *p)
{
  switch (type) {
    case MOR_GGUF_VALUE_UINT8: printf ("%u", *p); break;
    case MOR_GGUF_VALUE_INT8: printf ("%d", *(const gint8 *) p); break;
    case MOR_GGUF_VALUE_UINT16: printf ("%u", *(const guint16 *) p); break;
    case MOR_GGUF_VALUE_INT16: printf ("%d", *(const gint16 *) p); break;
    case MOR_GGUF_VALUE_UINT32: printf ("%u", *(const guint32 *) p); break;
    case MOR_GGUF_VALUE_INT32: printf ("%d", *(const gint32 *) p); break;
    case MOR_GGUF_VALUE_UINT64: printf ("%" G_GUINT64_FORMAT, *(const guint64 *) p); break;
    case MOR_GGUF_VALUE_INT64: printf ("%" G_GINT64_FORMAT, *(const gint64 *) p); break;
    case MOR_GGUF_VALUE_FLOAT32: printf ("%.9g", *(const float *) p); break;
    case MOR_GGUF_VALUE_FLOAT64: printf ("%.17g", *(const double *) p); break;
    case MOR_GGUF_VALUE_BOOL: printf ("%s", *p ? "true" : "false"); break;
    default: printf ("null"); break;
  }
}

static gboolean
print_key (MorGguf *g, guint i, GError **error)
{
  const char *key = mor_gguf_get_key (g, i);
  MorGgufValueType type = mor_gguf_get_key_type (g, i);
  printf ("{\"key\": ");
  print_json_string (key, strlen (key));
  if (type == MOR_GGUF_VALUE_ARRAY) {
    MorGgufValueType elem;
    guint64 n;
    if (!mor_gguf_get_array (g, key, &elem, &n, error))
      return FALSE;
    printf (", \"type\": \"array[%s]\", \"value\": [", mor_gguf_value_type_name (elem));
    if (elem == MOR_GGUF_VALUE_STRING) {
      for (guint64 j = 0; j < n; j++) {
        gsize len;
        const char *s = mor_gguf_get_array_string (g, key, j, &len);
        printf (j ? ", " : "");
        print_json_string (s, len);
      }
    } else if (n > 0) {
      const guint8 *data = mor_gguf_get_array_data (g, key, elem, &n, error);
      if (!data)
        return FALSE;
      for (guint64 j = 0; j < n; j++) {
        printf (j ? ", " : "");
        print_number (elem, data + j * mor_gguf_value_type_size (elem));
      }
    }
    printf ("]}\n");
    return TRUE;
  }
  printf (", \"type\": \"%s\", \"value\": ", mor_gguf_value_type_name (type));
  if (type == MOR_GGUF_VALUE_STRING) {
    gsize len;
    const char *s = mor_gguf_get_string (g, key, &len, error);
    if (!s)
      return FALSE;
    print_json_string (s, len);
  } else {
    union { guint64 u; gint64 i; double d; float f; gboolean b; guint8 bytes[8]; } v;
    gboolean ok;
    switch (type) {
      case MOR_GGUF_VALUE_FLOAT32: ok = mor_gguf_get_f32 (g, key, &v.f, error); break;
      case MOR_GGUF_VALUE_FLOAT64: ok = mor_gguf_get_f64 (g, key, &v.d, error); break;
      case MOR_GGUF_VALUE_BOOL: ok = mor_gguf_get_bool (g, key, &v.b, error); break;
      case MOR_GGUF_VALUE_INT8: case MOR_GGUF_VALUE_INT16: case MOR_GGUF_VALUE_INT32: case MOR_GGUF_VALUE_INT64:
        ok = mor_gguf_get_i64 (g, key, &v.i, error);
        break;
      default: ok = mor_gguf_get_u64 (g, key, &v.u, error); break;
    }
    if (!ok)
      return FALSE;
    if (type == MOR_GGUF_VALUE_FLOAT32)
      printf ("%.9g", v.f);
    else if (type == MOR_GGUF_VALUE_FLOAT64)
      printf ("%.17g", v.d);
    else if (type == MOR_GGUF_VALUE_BOOL)
      printf ("%s", v.b ? "true" : "false");
    else if (type == MOR_GGUF_VALUE_INT8 || type == MOR_GGUF_VALUE_INT16 || type == MOR_GGUF_VALUE_INT32
             || type == MOR_GGUF_VALUE_INT64)
      printf ("%" G_GINT64_FORMAT, v.i);
    else
      printf ("%" G_GUINT64_FORMAT, v.u);
  }
  printf ("}\n");
  return TRUE;
}

static gboolean
write_tensor (const MorGgufTensor *t, const char *dir, GError **error)
{
  guint64 n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
  g_autofree float *values = g_new (float, MAX (n, 1));
  mor_ref_dequantize_row (t->type, t->data, values, n);
  g_autofree char *file = g_strconcat (t->name, ".f32", NULL);
  g_autofree char *path = g_build_filename (dir, file, NULL);
  return g_file_set_contents (path, (const char *) values, (gssize) (n * sizeof (float)), error);
}

static int
dump (const char *path, const char *data_dir)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MorGguf) g = mor_gguf_open (path, &error);
  if (!g) {
    g_printerr ("gguf_dump: %s\n", error->message);
    return 1;
  }
  for (guint i = 0; i < mor_gguf_n_keys (g); i++) {
    if (!print_key (g, i, &error)) {
      g_printerr ("gguf_dump: %s\n", error->message);
      return 1;
    }
  }
  for (guint i = 0; i < mor_gguf_n_tensors (g); i++) {
    const MorGgufTensor *t = mor_gguf_get_tensor (g, i);
    printf ("{\"tensor\": ");
    print_json_string (t->name, strlen (t->name));
    printf (", \"type\": \"%s\", \"ne\": [", mor_type_name (t->type));
    for (guint32 d = 0; d < t->n_dims; d++)
      printf ("%s%" G_GUINT64_FORMAT, d ? ", " : "", t->ne[d]);
    printf ("], \"offset\": %" G_GUINT64_FORMAT ", \"size\": %" G_GUINT64_FORMAT "}\n",
            t->offset - mor_gguf_get_data_offset (g), t->size);
    if (data_dir && !write_tensor (t, data_dir, &error)) {
      g_printerr ("gguf_dump: %s\n", error->message);
      return 1;
    }
  }
  return 0;
}

static int
quantize (const char *type_name, const char *in, const char *out)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *data = NULL;
  gsize len;
  MorType type;
  if (!mor_type_from_name (type_name, &type)) {
    g_printerr ("gguf_dump: unknown type %s\n", type_name);
    return 1;
  }
  if (!g_file_get_contents (in, &data, &len, &error)) {
    g_printerr ("gguf_dump: %s\n", error->message);
    return 1;
  }
  guint64 n = len / sizeof (float);
  guint64 bytes = mor_type_row_bytes (type, n);
  if (len % sizeof (float) || bytes == 0) {
    g_printerr ("gguf_dump: %s: %" G_GSIZE_FORMAT " bytes is not a whole number of %s blocks\n", in, len,
                type_name);
    return 1;
  }
  g_autofree guint8 *q = g_malloc (bytes);
  mor_quantize_row (type, (const float *) data, q, n);
  if (!g_file_set_contents (out, (const char *) q, (gssize) bytes, &error)) {
    g_printerr ("gguf_dump: %s\n", error->message);
    return 1;
  }
  return 0;
}

int
main (int argc, char **argv)
{
  if (argc == 5 && strcmp (argv[1], "--quantize") == 0)
    return quantize (argv[2], argv[3], argv[4]);
  if (argc == 2)
    return dump (argv[1], NULL);
  if (argc == 4 && strcmp (argv[2], "--data") == 0)
    return dump (argv[1], argv[3]);
  g_printerr ("usage: gguf_dump FILE [--data DIR]\n       gguf_dump --quantize TYPE IN.f32 OUT\n");
  return 2;
}
