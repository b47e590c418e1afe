/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for model/gguf.c: writer → reader round trips of every value and
 * tensor type, the exact bytes of a small file, and a hostile corpus made here
 * from valid files (every truncation, every header field corrupted). With
 * MOR_GGUF_CORPUS_DIR set, every file parsed by the hostile tests (and the valid
 * ones they start from) is also written there, to seed tests/fuzz/gguf.c. */
#include "gguf.h"

#include <math.h>
#include <string.h>

#include <glib/gstdio.h>

/* ---- helpers ---- */

static void
corpus_add (const char *name, const void *data, gsize len)
{
  const char *dir = g_getenv ("MOR_GGUF_CORPUS_DIR");
  if (dir == NULL || dir[0] == '\0')
    return;
  g_autoptr (GError) error = NULL;
  g_autofree char *file = g_strconcat (name, ".gguf", NULL);
  g_autofree char *path = g_build_filename (dir, file, NULL);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_file_set_contents (path, data, (gssize) len, &error);
  g_assert_no_error (error);
}

/* Parses a copy of @len bytes of @data in a buffer of exactly that size, so
 * that ASan sees any read past the end. */
static MorGguf *
parse (const void *data, gsize len, GError **error)
{
  g_autoptr (GBytes) bytes = g_bytes_new (data, len);
  return mor_gguf_new_from_bytes (bytes, error);
}

static MorGguf *
parse_bytes (GBytes *bytes)
{
  g_autoptr (GError) error = NULL;
  MorGguf *g = mor_gguf_new_from_bytes (bytes, &error);
  g_assert_no_error (error);
  g_assert_nonnull (g);
  return g;
}

static MorGguf *
parse_writer (MorGgufWriter *w, const char *corpus_name)
{
  g_autoptr (GBytes) bytes = mor_gguf_writer_to_bytes (w);
  corpus_add (corpus_name, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  return parse_bytes (bytes);
}

/* Reads every key, value, array element and tensor byte (as the fuzzer does). */
static void
touch_all (MorGguf *g)
{
  guint64 sum = 0;
  for (guint i = 0; i < mor_gguf_n_keys (g); i++) {
    const char *key = mor_gguf_get_key (g, i);
    MorGgufValueType type = mor_gguf_get_key_type (g, i);
    g_assert_cmpint (mor_gguf_find_key (g, key), ==, (gint) i);
    if (type == MOR_GGUF_VALUE_STRING) {
      gsize len;
      const char *s = mor_gguf_get_string (g, key, &len, NULL);
      g_assert_nonnull (s);
      g_assert_cmpint (s[len], ==, '\0');
      for (gsize j = 0; j < len; j++)
        sum += (guint8) s[j];
    } else if (type == MOR_GGUF_VALUE_ARRAY) {
      MorGgufValueType elem;
      guint64 n;
      g_assert_true (mor_gguf_get_array (g, key, &elem, &n, NULL));
      if (elem == MOR_GGUF_VALUE_STRING) {
        for (guint64 j = 0; j < n; j++) {
          gsize len;
          const char *s = mor_gguf_get_array_string (g, key, j, &len);
          for (gsize k = 0; k < len; k++)
            sum += (guint8) s[k];
        }
      } else {
        const guint8 *p = mor_gguf_get_array_data (g, key, elem, &n, NULL);
        g_assert_nonnull (p);
        g_assert_cmpuint (GPOINTER_TO_SIZE (p) % mor_gguf_value_type_size (elem), ==, 0);
        for (guint64 j = 0; j < n * mor_gguf_value_type_size (elem); j++)
          sum += p[j];
      }
    } else {
      double f;
      gint64 v;
      gboolean b;
      g_assert_true (mor_gguf_get_f64 (g, key, &f, NULL) || mor_gguf_get_i64 (g, key, &v, NULL) ||
                     mor_gguf_get_u64 (g, key, (guint64 *) &v, NULL) || mor_gguf_get_bool (g, key, &b, NULL));
    }
  }
  for (guint i = 0; i < mor_gguf_n_tensors (g); i++) {
    const MorGgufTensor *t = mor_gguf_get_tensor (g, i);
    g_assert_true (mor_gguf_find_tensor (g, t->name) == t);
    for (guint64 j = 0; j < t->size; j++)
      sum += ((const guint8 *) t->data)[j];
  }
  (void) sum;
}

static gsize
find (GBytes *bytes, const char *needle)
{
  gsize len, n = strlen (needle);
  const guint8 *p = g_bytes_get_data (bytes, &len);
  for (gsize i = 0; i + n <= len; i++)
    if (memcmp (p + i, needle, n) == 0)
      return i;
  g_assert_not_reached ();
}

/* Offset of the first byte after the key string @key (its value type). */
static gsize
after_key (GBytes *bytes, const char *key)
{
  return find (bytes, key) + strlen (key);
}

static void
poke_u8 (guint8 *p, gsize at, guint8 v)
{
  p[at] = v;
}

static void
poke_u32 (guint8 *p, gsize at, guint32 v)
{
  memcpy (p + at, &v, 4);
}

static void
poke_u64 (guint8 *p, gsize at, guint64 v)
{
  memcpy (p + at, &v, 8);
}

/* Parses @p (@len bytes), records it in the corpus as @name, and checks that
 * it fails with @code and that the message contains @needle. */
static void
expect_error (const guint8 *p, gsize len, const char *name, MorGgufError code, const char *needle)
{
  g_autoptr (GError) error = NULL;
  corpus_add (name, p, len);
  MorGguf *g = parse (p, len, &error);
  g_assert_error (error, MOR_GGUF_ERROR, (gint) code);
  g_assert_null (g);
  g_assert_nonnull (strstr (error->message, "“<memory>”"));
  if (needle && strstr (error->message, needle) == NULL)
    g_error ("%s: message “%s” lacks “%s”", name, error->message, needle);
}

/* A small valid file with a bit of everything; each hostile test corrupts a copy. */
static GBytes *
make_base (void)
{
  static const float floats[] = { 1.0f, -2.5f, 3.25f };
  static const guint8 bools[] = { 1, 0, 1 };
  static const char *const strs[] = { "hello", "", "wörld", NULL };
  g_autoptr (MorGgufWriter) w = mor_gguf_writer_new ();
  guint8 f32_data[8 * 2 * 4], q8_data[2 * 34];

  mor_gguf_writer_add_u32 (w, "general.alignment", 32);
  mor_gguf_writer_add_string (w, "general.architecture", "qwen2");
  mor_gguf_writer_add_u32 (w, "k.u32", 7);
  mor_gguf_writer_add_bool (w, "k.bool", TRUE);
  mor_gguf_writer_add_array (w, "k.f32s", MOR_GGUF_VALUE_FLOAT32, floats, G_N_ELEMENTS (floats));
  mor_gguf_writer_add_array (w, "k.bools", MOR_GGUF_VALUE_BOOL, bools, G_N_ELEMENTS (bools));
  mor_gguf_writer_add_string_array (w, "k.strs", strs, -1);
  mor_gguf_writer_add_u8 (w, "dup.a", 1);
  mor_gguf_writer_add_u8 (w, "dup.b", 2);
  for (guint i = 0; i < sizeof f32_data; i++)
    f32_data[i] = (guint8) i;
  for (guint i = 0; i < sizeof q8_data; i++)
    q8_data[i] = (guint8) (3 * i);
  mor_gguf_writer_add_tensor (w, "t.a", MOR_TYPE_F32, 2, (const guint64[]) { 8, 2 }, f32_data, sizeof f32_data);
  mor_gguf_writer_add_tensor (w, "t.b", MOR_TYPE_Q8_0, 2, (const guint64[]) { 32, 2 }, q8_data, sizeof q8_data);
  GBytes *bytes = mor_gguf_writer_to_bytes (w);
  corpus_add ("valid-base", g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  return bytes;
}

/* A writable copy of the base file. */
static guint8 *
base_copy (GBytes *base, gsize *len)
{
  return g_memdup2 (g_bytes_get_data (base, NULL), *len = g_bytes_get_size (base));
}

/* Offset of the n_dims field of tensor @name in the base file. */
static gsize
tensor_info (GBytes *base, const char *name)
{
  return find (base, name) + strlen (name);
}

/* ---- round trips ---- */

static void
test_scalars (void)
{
  g_autoptr (MorGgufWriter) w = mor_gguf_writer_new ();
  mor_gguf_writer_add_u8 (w, "v.u8", 250);
  mor_gguf_writer_add_i8 (w, "v.i8", -120);
  mor_gguf_writer_add_u16 (w, "v.u16", 65000);
  mor_gguf_writer_add_i16 (w, "v.i16", -32000);
  mor_gguf_writer_add_u32 (w, "v.u32", G_MAXUINT32);
  mor_gguf_writer_add_i32 (w, "v.i32", G_MININT32);
  mor_gguf_writer_add_u64 (w, "v.u64", G_MAXUINT64);
  mor_gguf_writer_add_i64 (w, "v.i64", G_MININT64);
  mor_gguf_writer_add_f32 (w, "v.f32", 1e-6f);
  mor_gguf_writer_add_f64 (w, "v.f64", -1e300);
  mor_gguf_writer_add_bool (w, "v.true", TRUE);
  mor_gguf_writer_add_bool (w, "v.false", FALSE);
  mor_gguf_writer_add_f32 (w, "v.nan", NAN);
  g_autoptr (MorGguf) g = parse_writer (w, "valid-scalars");

  static const struct {
    const char *key;
    MorGgufValueType type;
  } expected[] = {
    { "v.u8", MOR_GGUF_VALUE_UINT8 }, { "v.i8", MOR_GGUF_VALUE_INT8 }, { "v.u16", MOR_GGUF_VALUE_UINT16 },
    { "v.i16", MOR_GGUF_VALUE_INT16 }, { "v.u32", MOR_GGUF_VALUE_UINT32 }, { "v.i32", MOR_GGUF_VALUE_INT32 },
    { "v.u64", MOR_GGUF_VALUE_UINT64 }, { "v.i64", MOR_GGUF_VALUE_INT64 }, { "v.f32", MOR_GGUF_VALUE_FLOAT32 },
    { "v.f64", MOR_GGUF_VALUE_FLOAT64 }, { "v.true", MOR_GGUF_VALUE_BOOL }, { "v.false", MOR_GGUF_VALUE_BOOL },
    { "v.nan", MOR_GGUF_VALUE_FLOAT32 },
  };
  g_assert_cmpuint (mor_gguf_get_version (g), ==, 3);
  g_assert_cmpuint (mor_gguf_n_keys (g), ==, G_N_ELEMENTS (expected));
  g_assert_cmpuint (mor_gguf_n_tensors (g), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++) {
    g_assert_cmpstr (mor_gguf_get_key (g, i), ==, expected[i].key);
    g_assert_cmpint (mor_gguf_get_key_type (g, i), ==, expected[i].type);
    g_assert_cmpint (mor_gguf_find_key (g, expected[i].key), ==, (gint) i);
  }
  g_assert_cmpint (mor_gguf_find_key (g, "v.none"), ==, -1);

  guint32 u32;
  gint32 i32;
  guint64 u64;
  gint64 i64;
  float f32;
  double f64;
  gboolean b;
  g_assert_true (mor_gguf_get_u32 (g, "v.u8", &u32, NULL));
  g_assert_cmpuint (u32, ==, 250);
  g_assert_true (mor_gguf_get_i32 (g, "v.i8", &i32, NULL));
  g_assert_cmpint (i32, ==, -120);
  g_assert_true (mor_gguf_get_u32 (g, "v.u16", &u32, NULL));
  g_assert_cmpuint (u32, ==, 65000);
  g_assert_true (mor_gguf_get_i32 (g, "v.i16", &i32, NULL));
  g_assert_cmpint (i32, ==, -32000);
  g_assert_true (mor_gguf_get_u32 (g, "v.u32", &u32, NULL));
  g_assert_cmpuint (u32, ==, G_MAXUINT32);
  g_assert_true (mor_gguf_get_i32 (g, "v.i32", &i32, NULL));
  g_assert_cmpint (i32, ==, G_MININT32);
  g_assert_true (mor_gguf_get_u64 (g, "v.u64", &u64, NULL));
  g_assert_cmpuint (u64, ==, G_MAXUINT64);
  g_assert_true (mor_gguf_get_i64 (g, "v.i64", &i64, NULL));
  g_assert_cmpint (i64, ==, G_MININT64);
  g_assert_true (mor_gguf_get_f32 (g, "v.f32", &f32, NULL));
  g_assert_cmpfloat (f32, ==, 1e-6f);
  g_assert_true (mor_gguf_get_f64 (g, "v.f64", &f64, NULL));
  g_assert_cmpfloat (f64, ==, -1e300);
  g_assert_true (mor_gguf_get_f32 (g, "v.nan", &f32, NULL));
  g_assert_true (isnan (f32));
  g_assert_true (mor_gguf_get_bool (g, "v.true", &b, NULL));
  g_assert_true (b);
  g_assert_true (mor_gguf_get_bool (g, "v.false", &b, NULL));
  g_assert_false (b);
}

static void
test_strings (void)
{
  g_autoptr (MorGgufWriter) w = mor_gguf_writer_new ();
  mor_gguf_writer_add_string (w, "s.ascii", "qwen2");
  mor_gguf_writer_add_string (w, "s.empty", "");
  mor_gguf_writer_add_string (w, "s.utf8", "Grüße, 世界 🎧");
  mor_gguf_writer_add_string (w, "s.nul", "a?b");
  g_autoptr (GBytes) bytes = mor_gguf_writer_to_bytes (w);
  gsize len, at;
  g_autofree guint8 *p = base_copy (bytes, &len);
  /* The writer takes C strings; patch a NUL into one: U+0000 is valid UTF-8. */
  at = after_key (bytes, "s.nul") + 4 + 8 + 1;
  g_assert_cmpint (p[at], ==, '?');
  poke_u8 (p, at, 0);
  g_autoptr (MorGguf) g = parse (p, len, NULL);
  g_assert_nonnull (g);

  g_assert_cmpstr (mor_gguf_get_string (g, "s.ascii", &len, NULL), ==, "qwen2");
  g_assert_cmpuint (len, ==, 5);
  g_assert_cmpstr (mor_gguf_get_string (g, "s.empty", &len, NULL), ==, "");
  g_assert_cmpuint (len, ==, 0);
  g_assert_cmpstr (mor_gguf_get_string (g, "s.utf8", NULL, NULL), ==, "Grüße, 世界 🎧");
  const char *s = mor_gguf_get_string (g, "s.nul", &len, NULL);
  g_assert_cmpuint (len, ==, 3);
  g_assert_cmpmem (s, 4, "a\0b\0", 4);
}

static void
test_integer_conversion (void)
{
  g_autoptr (MorGgufWriter) w = mor_gguf_writer_new ();
  mor_gguf_writer_add_i64 (w, "i64.small", 7);
  mor_gguf_writer_add_i64 (w, "i64.big", G_GINT64_CONSTANT (1) << 40);
  mor_gguf_writer_add_i32 (w, "i32.neg", -1);
  mor_gguf_writer_add_u64 (w, "u64.big", G_MAXUINT64);
  mor_gguf_writer_add_u32 (w, "u32.big", G_MAXUINT32);
  mor_gguf_writer_add_f32 (w, "f32", 1.0f);
  g_autoptr (MorGguf) g = parse_writer (w, "valid-integers");
  g_autoptr (GError) error = NULL;
  guint32 u32;
  gint32 i32;
  guint64 u64;
  gint64 i64;

  g_assert_true (mor_gguf_get_u32 (g, "i64.small", &u32, &error));
  g_assert_cmpuint (u32, ==, 7);
  g_assert_true (mor_gguf_get_u64 (g, "i64.big", &u64, &error));
  g_assert_cmpuint (u64, ==, G_GUINT64_CONSTANT (1) << 40);
  g_assert_true (mor_gguf_get_i64 (g, "u32.big", &i64, &error));
  g_assert_cmpint (i64, ==, G_MAXUINT32);
  g_assert_true (mor_gguf_get_i64 (g, "i32.neg", &i64, &error));
  g_assert_cmpint (i64, ==, -1);

  g_assert_false (mor_gguf_get_u32 (g, "i64.big", &u32, &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE);
  g_assert_nonnull (strstr (error->message, "“i64.big”: expected u32, found i64 1099511627776"));
  g_clear_error (&error);
  g_assert_false (mor_gguf_get_u32 (g, "i32.neg", &u32, &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE);
  g_assert_nonnull (strstr (error->message, "found i32 -1"));
  g_clear_error (&error);
  g_assert_false (mor_gguf_get_u64 (g, "i32.neg", &u64, &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE);
  g_clear_error (&error);
  g_assert_false (mor_gguf_get_i32 (g, "u32.big", &i32, &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE);
  g_clear_error (&error);
  g_assert_false (mor_gguf_get_i64 (g, "u64.big", &i64, &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE);
  g_assert_nonnull (strstr (error->message, "found u64 18446744073709551615"));
  g_clear_error (&error);
  g_assert_false (mor_gguf_get_u32 (g, "f32", &u32, &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE);
  g_assert_nonnull (strstr (error->message, "key “f32”: expected u32, found f32"));
}

static void
test_float_conversion (void)
{
  g_autoptr (MorGgufWriter) w = mor_gguf_writer_new ();
  mor_gguf_writer_add_f32 (w, "f32", 0.5f);
  mor_gguf_writer_add_f64 (w, "f64", 1e6);
  mor_gguf_writer_add_f64 (w, "f64.huge", 1e300);
  mor_gguf_writer_add_f64 (w, "f64.inf", INFINITY);
  mor_gguf_writer_add_u32 (w, "u32", 1);
  g_autoptr (MorGguf) g = parse_writer (w, "valid-floats");
  g_autoptr (GError) error = NULL;
  float f;
  double d;

  g_assert_true (mor_gguf_get_f32 (g, "f64", &f, &error));
  g_assert_cmpfloat (f, ==, 1e6f);
  g_assert_true (mor_gguf_get_f64 (g, "f32", &d, &error));
  g_assert_cmpfloat (d, ==, 0.5);
  g_assert_true (mor_gguf_get_f32 (g, "f64.inf", &f, &error));
  g_assert_true (isinf (f));
  g_assert_false (mor_gguf_get_f32 (g, "f64.huge", &f, &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE);
  g_clear_error (&error);
  g_assert_false (mor_gguf_get_f32 (g, "u32", &f, &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE);
  g_assert_nonnull (strstr (error->message, "expected f32, found u32"));
}

static void
test_arrays (void)
{
  static const guint8 u8[] = { 1, 2, 255 };
  static const gint8 i8[] = { -1, 0, 127 };
  static const guint16 u16[] = { 1, 65535 };
  static const gint16 i16[] = { -32768, 5 };
  static const guint32 u32[] = { 0, 1, G_MAXUINT32 };
  static const gint32 i32[] = { G_MININT32, -1, 0, 9 };
  static const float f32[] = { 1.5f, -0.0f };
  static const guint8 bools[] = { 0, 1, 1, 0 };
  static const guint64 u64[] = { G_MAXUINT64, 3 };
  static const gint64 i64[] = { G_MININT64, 4 };
  static const double f64[] = { 3.14159, -2.0 };
  static const struct {
    const char *key;
    MorGgufValueType type;
    const void *data;
    guint64 n;
  } arrays[] = {
    { "a.u8", MOR_GGUF_VALUE_UINT8, u8, G_N_ELEMENTS (u8) },
    { "a.i8", MOR_GGUF_VALUE_INT8, i8, G_N_ELEMENTS (i8) },
    /* key lengths chosen so that some arrays lie misaligned in the file */
    { "a.u16x", MOR_GGUF_VALUE_UINT16, u16, G_N_ELEMENTS (u16) },
    { "a.i16", MOR_GGUF_VALUE_INT16, i16, G_N_ELEMENTS (i16) },
    { "a.u32", MOR_GGUF_VALUE_UINT32, u32, G_N_ELEMENTS (u32) },
    { "a.i32yy", MOR_GGUF_VALUE_INT32, i32, G_N_ELEMENTS (i32) },
    { "a.f32", MOR_GGUF_VALUE_FLOAT32, f32, G_N_ELEMENTS (f32) },
    { "a.bool", MOR_GGUF_VALUE_BOOL, bools, G_N_ELEMENTS (bools) },
    { "a.u64z", MOR_GGUF_VALUE_UINT64, u64, G_N_ELEMENTS (u64) },
    { "a.i64", MOR_GGUF_VALUE_INT64, i64, G_N_ELEMENTS (i64) },
    { "a.f64", MOR_GGUF_VALUE_FLOAT64, f64, G_N_ELEMENTS (f64) },
    { "a.empty", MOR_GGUF_VALUE_UINT32, u32, 0 },
  };
  g_autoptr (MorGgufWriter) w = mor_gguf_writer_new ();
  for (guint i = 0; i < G_N_ELEMENTS (arrays); i++)
    mor_gguf_writer_add_array (w, arrays[i].key, arrays[i].type, arrays[i].data, arrays[i].n);
  g_autoptr (GBytes) bytes = mor_gguf_writer_to_bytes (w);
  g_autoptr (MorGguf) g = parse_bytes (bytes);
  corpus_add ("valid-arrays", g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));

  /* some arrays lie misaligned in the file (the reader realigns those) */
  guint n_misaligned = 0;
  for (guint i = 0; i < G_N_ELEMENTS (arrays); i++) {
    const guint8 *elems = (const guint8 *) g_bytes_get_data (bytes, NULL) + after_key (bytes, arrays[i].key) + 16;
    n_misaligned += GPOINTER_TO_SIZE (elems) % mor_gguf_value_type_size (arrays[i].type) != 0;
  }
  g_assert_cmpuint (n_misaligned, >=, 3);

  for (guint i = 0; i < G_N_ELEMENTS (arrays); i++) {
    MorGgufValueType elem;
    guint64 n;
    gsize esize = mor_gguf_value_type_size (arrays[i].type);
    g_assert_cmpint (mor_gguf_get_key_type (g, i), ==, MOR_GGUF_VALUE_ARRAY);
    g_assert_true (mor_gguf_get_array (g, arrays[i].key, &elem, &n, NULL));
    g_assert_cmpint (elem, ==, arrays[i].type);
    g_assert_cmpuint (n, ==, arrays[i].n);
    const void *p = mor_gguf_get_array_data (g, arrays[i].key, arrays[i].type, &n, NULL);
    g_assert_nonnull (p);
    g_assert_cmpuint (n, ==, arrays[i].n);
    g_assert_cmpuint (GPOINTER_TO_SIZE (p) % esize, ==, 0);
    g_assert_cmpmem (p, n * esize, arrays[i].data, arrays[i].n * esize);
  }
  const gint32 *v = mor_gguf_get_array_data (g, "a.i32yy", MOR_GGUF_VALUE_INT32, NULL, NULL);
  g_assert_cmpint (v[0], ==, G_MININT32);
  g_assert_cmpint (v[3], ==, 9);

  g_autoptr (GError) error = NULL;
  g_assert_null (mor_gguf_get_array_data (g, "a.i32yy", MOR_GGUF_VALUE_UINT32, NULL, &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE);
  g_assert_nonnull (strstr (error->message, "key “a.i32yy”: expected array of u32, found array of i32"));
  g_clear_error (&error);
  g_assert_false (mor_gguf_get_string_array (g, "a.u8", NULL, &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE);
  g_clear_error (&error);
  guint32 x;
  g_assert_false (mor_gguf_get_u32 (g, "a.u32", &x, &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE);
  g_assert_nonnull (strstr (error->message, "expected u32, found array of u32"));
}

static void
test_string_arrays (void)
{
  /* A vocabulary-sized array: every element is reached in O(1) through the offset table. */
  const guint n = 150000;
  g_autoptr (GPtrArray) strv = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < n; i++)
    g_ptr_array_add (strv, i % 1000 == 0 ? g_strdup ("") : g_strdup_printf ("tök%u", i));
  g_ptr_array_add (strv, NULL);

  g_autoptr (MorGgufWriter) w = mor_gguf_writer_new ();
  mor_gguf_writer_add_string_array (w, "tokenizer.ggml.tokens", (const char *const *) strv->pdata, -1);
  mor_gguf_writer_add_string_array (w, "empty", NULL, 0);
  mor_gguf_writer_add_string_array (w, "two", (const char *const[]) { "a", "bc" }, 2);
  g_autoptr (GBytes) bytes = mor_gguf_writer_to_bytes (w);
  g_autoptr (MorGguf) g = parse_bytes (bytes);

  guint64 count;
  MorGgufValueType elem;
  g_assert_true (mor_gguf_get_string_array (g, "tokenizer.ggml.tokens", &count, NULL));
  g_assert_cmpuint (count, ==, n);
  g_assert_true (mor_gguf_get_array (g, "tokenizer.ggml.tokens", &elem, NULL, NULL));
  g_assert_cmpint (elem, ==, MOR_GGUF_VALUE_STRING);
  for (guint i = n; i-- > 0;) {
    gsize len;
    const char *s = mor_gguf_get_array_string (g, "tokenizer.ggml.tokens", i, &len);
    const char *want = g_ptr_array_index (strv, i);
    g_assert_cmpuint (len, ==, strlen (want));
    g_assert_cmpmem (s, len, want, strlen (want));
  }
  g_assert_true (mor_gguf_get_string_array (g, "empty", &count, NULL));
  g_assert_cmpuint (count, ==, 0);
  gsize len;
  g_assert_cmpmem (mor_gguf_get_array_string (g, "two", 1, &len), len, "bc", 2);

  g_autoptr (GError) error = NULL;
  g_assert_null (mor_gguf_get_array_data (g, "two", MOR_GGUF_VALUE_UINT8, NULL, &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE);
  g_assert_nonnull (strstr (error->message, "expected array of u8, found array of string"));
}

static void
test_not_found (void)
{
  g_autoptr (GBytes) base = make_base ();
  g_autoptr (MorGguf) g = parse_bytes (base);
  g_autoptr (GError) error = NULL;
  guint32 u32;
  float f;
  guint64 n;

  g_assert_false (mor_gguf_get_u32 (g, "nope", &u32, &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_NOT_FOUND);
  g_assert_cmpstr (error->message, ==, "“<memory>”: key “nope” not found");
  g_clear_error (&error);
  g_assert_false (mor_gguf_get_f32 (g, "nope", &f, &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_null (mor_gguf_get_string (g, "nope", NULL, &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (mor_gguf_get_array (g, "nope", NULL, &n, &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_null (mor_gguf_find_tensor (g, "nope"));
  g_assert_false (mor_gguf_check_tensor (g, "nope", 1, (const guint64[]) { 8 }, NULL, &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_NOT_FOUND);
  g_assert_cmpstr (error->message, ==, "“<memory>”: tensor “nope” not found");
}

static void
test_type_errors (void)
{
  g_autoptr (GBytes) base = make_base ();
  g_autoptr (MorGguf) g = parse_bytes (base);
  g_autoptr (GError) error = NULL;
  gboolean b;
  guint32 u32;

  g_assert_false (mor_gguf_get_bool (g, "k.u32", &b, &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE);
  g_assert_cmpstr (error->message, ==, "“<memory>”: key “k.u32”: expected bool, found u32");
  g_clear_error (&error);
  g_assert_null (mor_gguf_get_string (g, "k.u32", NULL, &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE);
  g_clear_error (&error);
  g_assert_false (mor_gguf_get_u32 (g, "general.architecture", &u32, &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE);
  g_assert_cmpstr (error->message, ==, "“<memory>”: key “general.architecture”: expected u32, found string");
  g_clear_error (&error);
  g_assert_false (mor_gguf_get_array (g, "k.bool", NULL, NULL, &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE);
}

static void
test_defaults (void)
{
  g_autoptr (GBytes) base = make_base ();
  g_autoptr (MorGguf) g = parse_bytes (base);
  g_autoptr (GError) error = NULL;
  guint32 u32;
  gint32 i32;
  guint64 u64;
  float f;
  gboolean b;
  const char *s;

  g_assert_true (mor_gguf_get_u32_default (g, "missing", 42, &u32, &error));
  g_assert_cmpuint (u32, ==, 42);
  g_assert_true (mor_gguf_get_u32_default (g, "k.u32", 42, &u32, &error));
  g_assert_cmpuint (u32, ==, 7);
  g_assert_true (mor_gguf_get_i32_default (g, "missing", -3, &i32, &error));
  g_assert_cmpint (i32, ==, -3);
  g_assert_true (mor_gguf_get_u64_default (g, "k.u32", 0, &u64, &error));
  g_assert_cmpuint (u64, ==, 7);
  g_assert_true (mor_gguf_get_f32_default (g, "missing", 1e-6f, &f, &error));
  g_assert_cmpfloat (f, ==, 1e-6f);
  g_assert_true (mor_gguf_get_bool_default (g, "k.bool", FALSE, &b, &error));
  g_assert_true (b);
  g_assert_true (mor_gguf_get_string_default (g, "missing", "gpt2", &s, &error));
  g_assert_cmpstr (s, ==, "gpt2");
  g_assert_true (mor_gguf_get_string_default (g, "general.architecture", NULL, &s, &error));
  g_assert_cmpstr (s, ==, "qwen2");
  g_assert_no_error (error);

  /* present with another type: still an error */
  g_assert_false (mor_gguf_get_f32_default (g, "k.u32", 1.0f, &f, &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE);
  g_clear_error (&error);
  g_assert_false (mor_gguf_get_string_default (g, "k.u32", "x", &s, &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE);
}

static void
fill_pattern (guint8 *p, gsize n, guint seed)
{
  guint32 x = seed * 2654435761u + 1;
  for (gsize i = 0; i < n; i++) {
    x = x * 1664525u + 1013904223u;
    p[i] = (guint8) (x >> 24);
  }
}

static void
test_tensors (void)
{
  static const MorType types[] = { MOR_TYPE_F32, MOR_TYPE_F16, MOR_TYPE_BF16, MOR_TYPE_Q8_0,
                                   MOR_TYPE_Q4_0, MOR_TYPE_Q4_K, MOR_TYPE_Q6_K };
  g_autoptr (MorGgufWriter) w = mor_gguf_writer_new ();
  g_autoptr (GPtrArray) datas = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < G_N_ELEMENTS (types); i++) {
    /* shapes of 1 to 4 dims, rows of 1 and 3 blocks */
    guint32 n_dims = 1 + i % MOR_GGUF_MAX_DIMS;
    guint64 ne[4] = { mor_type_block_size (types[i]) * (i % 2 ? 3 : 1), 3, 2, 5 };
    guint64 size = mor_type_row_bytes (types[i], ne[0]);
    for (guint d = 1; d < n_dims; d++)
      size *= ne[d];
    guint8 *data = g_malloc (size);
    fill_pattern (data, size, i);
    g_ptr_array_add (datas, data);
    g_autofree char *name = g_strdup_printf ("blk.%u.%s.weight", i, mor_type_name (types[i]));
    mor_gguf_writer_add_tensor (w, name, types[i], n_dims, ne, data, size);
  }
  /* added by reference: the writer keeps the GBytes */
  g_autoptr (GBytes) shared = g_bytes_new_static ("0123456789abcdef", 16);
  mor_gguf_writer_add_tensor_bytes (w, "ref", MOR_TYPE_F32, 1, (const guint64[]) { 4 }, shared);
  g_autoptr (MorGguf) g = parse_writer (w, "valid-tensors");

  g_assert_cmpuint (mor_gguf_n_tensors (g), ==, G_N_ELEMENTS (types) + 1);
  g_assert_cmpuint (mor_gguf_get_data_offset (g) % 32, ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (types); i++) {
    const MorGgufTensor *t = mor_gguf_get_tensor (g, i);
    g_autofree char *name = g_strdup_printf ("blk.%u.%s.weight", i, mor_type_name (types[i]));
    guint32 n_dims = 1 + i % MOR_GGUF_MAX_DIMS;
    guint64 ne[4] = { mor_type_block_size (types[i]) * (i % 2 ? 3 : 1), 3, 2, 5 };
    guint64 size = mor_type_row_bytes (types[i], ne[0]);
    for (guint d = n_dims; d < 4; d++)
      ne[d] = 1;
    for (guint d = 1; d < 4; d++)
      size *= ne[d];
    g_assert_true (mor_gguf_find_tensor (g, name) == t);
    g_assert_cmpstr (t->name, ==, name);
    g_assert_cmpint (t->type, ==, types[i]);
    g_assert_cmpuint (t->n_dims, ==, n_dims);
    g_assert_cmpmem (t->ne, sizeof t->ne, ne, sizeof ne);
    g_assert_cmpuint (t->size, ==, size);
    g_assert_cmpuint ((t->offset - mor_gguf_get_data_offset (g)) % 32, ==, 0);
    g_assert_true ((const guint8 *) t->data - (const guint8 *) mor_gguf_get_tensor (g, 0)->data ==
                   (gssize) (t->offset - mor_gguf_get_tensor (g, 0)->offset));
    g_assert_cmpmem (t->data, t->size, g_ptr_array_index (datas, i), size);
  }
  const MorGgufTensor *ref = mor_gguf_find_tensor (g, "ref");
  g_assert_cmpmem (ref->data, ref->size, "0123456789abcdef", 16);
}

static void
test_alignment (void)
{
  static const guint32 alignments[] = { 0 /* default */, 1, 64, 4096 };
  for (guint a = 0; a < G_N_ELEMENTS (alignments); a++) {
    g_autoptr (MorGgufWriter) w = mor_gguf_writer_new ();
    guint8 data[3 * 2 * 4];
    guint32 align = alignments[a] ? alignments[a] : MOR_GGUF_DEFAULT_ALIGNMENT;
    fill_pattern (data, sizeof data, a);
    mor_gguf_writer_add_string (w, "general.name", "x");
    if (alignments[a])
      mor_gguf_writer_add_u32 (w, "general.alignment", alignments[a]);
    for (guint i = 0; i < 3; i++) {
      g_autofree char *name = g_strdup_printf ("t%u", i);
      mor_gguf_writer_add_tensor (w, name, MOR_TYPE_F16, 1, (const guint64[]) { 3 + i }, data, 2 * (3 + i));
    }
    g_autofree char *corpus = g_strdup_printf ("valid-alignment-%u", align);
    g_autoptr (MorGguf) g = parse_writer (w, corpus);
    g_assert_cmpuint (mor_gguf_get_alignment (g), ==, align);
    g_assert_cmpuint (mor_gguf_get_data_offset (g) % align, ==, 0);
    for (guint i = 0; i < 3; i++) {
      const MorGgufTensor *t = mor_gguf_get_tensor (g, i);
      g_assert_cmpuint (t->offset % align, ==, 0);
      g_assert_cmpuint (t->size, ==, 2 * (3 + i));
      g_assert_cmpmem (t->data, t->size, data, t->size);
    }
  }
}

static void
test_check_tensor (void)
{
  g_autoptr (GBytes) base = make_base ();
  g_autoptr (MorGguf) g = parse_bytes (base);
  g_autoptr (GError) error = NULL;
  const MorGgufTensor *t = NULL;

  g_assert_true (mor_gguf_check_tensor (g, "t.a", 2, (const guint64[]) { 8, 2 }, &t, &error));
  g_assert_no_error (error);
  g_assert_true (t == mor_gguf_find_tensor (g, "t.a"));
  g_assert_true (mor_gguf_check_tensor (g, "t.a", 4, (const guint64[]) { 8, 2, 1, 1 }, NULL, &error));
  g_assert_true (mor_gguf_check_tensor_type (g, "t.b", MOR_TYPE_Q8_0, 2, (const guint64[]) { 32, 2 }, &t,
                                             &error));
  g_assert_no_error (error);

  g_assert_false (mor_gguf_check_tensor (g, "t.a", 1, (const guint64[]) { 16 }, NULL, &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE);
  g_assert_cmpstr (error->message, ==, "“<memory>”: tensor “t.a” has shape [8, 2], expected [16]");
  g_clear_error (&error);
  g_assert_false (mor_gguf_check_tensor (g, "t.a", 2, (const guint64[]) { 2, 8 }, NULL, &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE);
  g_clear_error (&error);
  g_assert_false (mor_gguf_check_tensor_type (g, "t.a", MOR_TYPE_F16, 2, (const guint64[]) { 8, 2 }, NULL,
                                              &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE);
  g_assert_cmpstr (error->message, ==, "“<memory>”: tensor “t.a” has type f32, expected f16");
}

static void
test_version_2 (void)
{
  g_autoptr (GBytes) base = make_base ();
  gsize len;
  g_autofree guint8 *p = base_copy (base, &len);
  poke_u32 (p, 4, 2);   /* v2 has v3's layout; v3 only added big-endian files */
  corpus_add ("valid-version-2", p, len);
  g_autoptr (MorGguf) g = parse (p, len, NULL);
  g_assert_nonnull (g);
  g_assert_cmpuint (mor_gguf_get_version (g), ==, 2);
  g_assert_cmpuint (mor_gguf_n_keys (g), ==, 9);
  g_assert_cmpuint (mor_gguf_n_tensors (g), ==, 2);
  touch_all (g);
}

static void
test_no_tensors (void)
{
  g_autoptr (MorGgufWriter) w = mor_gguf_writer_new ();
  mor_gguf_writer_add_u8 (w, "x", 1);
  g_autoptr (GBytes) bytes = mor_gguf_writer_to_bytes (w);
  /* header + key, no padding */
  g_assert_cmpuint (g_bytes_get_size (bytes), ==, 24 + 8 + 1 + 4 + 1);
  g_autoptr (MorGguf) g = parse_bytes (bytes);
  g_assert_cmpuint (mor_gguf_n_tensors (g), ==, 0);

  g_autoptr (MorGgufWriter) empty = mor_gguf_writer_new ();
  g_autoptr (GBytes) empty_bytes = mor_gguf_writer_to_bytes (empty);
  g_assert_cmpuint (g_bytes_get_size (empty_bytes), ==, 24);
  g_autoptr (MorGguf) e = parse_bytes (empty_bytes);
  g_assert_cmpuint (mor_gguf_n_keys (e), ==, 0);
}

static void
test_golden_bytes (void)
{
  /* Written by hand from the layout in shared/reference vulkan-compute.md §3.1. */
  static const guint8 expected[128] = {
    'G', 'G', 'U', 'F', 3, 0, 0, 0,                     /* magic, version 3 */
    1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,     /* 1 tensor, 1 key */
    1, 0, 0, 0, 0, 0, 0, 0, 'a', 4, 0, 0, 0, 7, 0, 0, 0, /* "a": u32 7 */
    1, 0, 0, 0, 0, 0, 0, 0, 't', 1, 0, 0, 0,            /* "t", 1 dim */
    2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,                 /* ne[0] = 2, f32 */
    0, 0, 0, 0, 0, 0, 0, 0,                             /* offset 0; byte 74 */
    [96] = 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40, /* data at 96: 1.0f, 2.0f, padded to 128 */
  };
  static const float data[] = { 1.0f, 2.0f };
  g_autoptr (MorGgufWriter) w = mor_gguf_writer_new ();
  mor_gguf_writer_add_u32 (w, "a", 7);
  mor_gguf_writer_add_tensor (w, "t", MOR_TYPE_F32, 1, (const guint64[]) { 2 }, data, sizeof data);
  g_autoptr (GBytes) bytes = mor_gguf_writer_to_bytes (w);
  g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), expected, sizeof expected);

  /* the same calls give the same bytes */
  g_autoptr (GBytes) again = mor_gguf_writer_to_bytes (w);
  g_assert_true (g_bytes_equal (bytes, again));
  g_autoptr (MorGguf) g = parse_bytes (bytes);
  g_assert_cmpuint (mor_gguf_get_data_offset (g), ==, 96);
  g_assert_cmpuint (mor_gguf_get_tensor (g, 0)->offset, ==, 96);
}

static void
test_file (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("mor-gguf-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *path = g_build_filename (dir, "model.gguf", NULL);
  g_autofree char *empty = g_build_filename (dir, "empty.gguf", NULL);
  g_autofree char *contents = NULL;
  gsize len;

  g_autoptr (MorGgufWriter) w = mor_gguf_writer_new ();
  guint8 data[64 * 34];
  fill_pattern (data, sizeof data, 9);
  mor_gguf_writer_add_string (w, "general.architecture", "qwen2");
  mor_gguf_writer_add_tensor (w, "token_embd.weight", MOR_TYPE_Q8_0, 2, (const guint64[]) { 256, 8 }, data,
                              sizeof data);
  g_assert_true (mor_gguf_writer_write_file (w, path, &error));
  g_assert_no_error (error);
  g_autoptr (GBytes) bytes = mor_gguf_writer_to_bytes (w);
  g_assert_true (g_file_get_contents (path, &contents, &len, &error));
  g_assert_cmpmem (contents, len, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));

  MorGguf *g = mor_gguf_open (path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (mor_gguf_get_name (g), ==, path);
  /* the mapping outlives the file's name and every reference but one */
  g_assert_cmpint (g_unlink (path), ==, 0);
  MorGguf *ref = mor_gguf_ref (g);
  mor_gguf_unref (g);
  const MorGgufTensor *t = mor_gguf_find_tensor (ref, "token_embd.weight");
  g_assert_cmpmem (t->data, t->size, data, sizeof data);
  mor_gguf_unref (ref);

  g_assert_null (mor_gguf_open (path, &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_IO);
  g_assert_nonnull (strstr (error->message, path));
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (empty, "", 0, &error));
  g_assert_null (mor_gguf_open (empty, &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TRUNCATED);
  g_assert_nonnull (strstr (error->message, empty));
  g_clear_error (&error);
  g_assert_cmpint (g_unlink (empty), ==, 0);

  g_autofree char *bad = g_build_filename (dir, "no-such-dir", "x.gguf", NULL);
  g_assert_false (mor_gguf_writer_write_file (w, bad, &error));
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "fopen()"));
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

static void
test_writer_misuse (void)
{
  if (g_test_subprocess ()) {
    g_autoptr (MorGgufWriter) w = mor_gguf_writer_new ();
    mor_gguf_writer_add_u32 (w, "k", 1);
    mor_gguf_writer_add_u32 (w, "k", 2);
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*CRITICAL*begin_kv*");
}

static void
test_writer_bad_tensor (void)
{
  if (g_test_subprocess ()) {
    g_autoptr (MorGgufWriter) w = mor_gguf_writer_new ();
    float data[16] = { 0 };
    /* rows of 16 elements are not a multiple of Q8_0's 32 */
    mor_gguf_writer_add_tensor (w, "t", MOR_TYPE_Q8_0, 1, (const guint64[]) { 16 }, data, sizeof data);
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*CRITICAL*mor_gguf_writer_add_tensor_bytes*");
}

/* ---- hostile files ---- */

static void
test_truncated (void)
{
  g_autoptr (GBytes) base = make_base ();
  g_autoptr (MorGguf) full = parse_bytes (base);
  gsize len;
  const guint8 *p = g_bytes_get_data (base, &len);
  guint64 data_end = 0;
  for (guint i = 0; i < mor_gguf_n_tensors (full); i++) {
    const MorGgufTensor *t = mor_gguf_get_tensor (full, i);
    data_end = MAX (data_end, t->offset + t->size);
  }
  g_assert_cmpuint (data_end, <, len);   /* the last tensor's padding */

  for (gsize n = 0; n < len; n++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (MorGguf) g = parse (p, n, &error);
    if (n < data_end) {
      g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TRUNCATED);
      g_assert_null (g);
    } else {
      /* only the padding after the last tensor is missing */
      g_assert_no_error (error);
      touch_all (g);
    }
  }
  corpus_add ("truncated-header", p, 20);
  corpus_add ("truncated-keys", p, 100);
  corpus_add ("truncated-data", p, data_end - 1);
}

static void
test_bad_magic (void)
{
  g_autoptr (GBytes) base = make_base ();
  gsize len;
  g_autofree guint8 *p = base_copy (base, &len);
  poke_u8 (p, 3, 'G');
  expect_error (p, len, "magic-gggg", MOR_GGUF_ERROR_BAD_MAGIC, "magic is 47 47 55 47");
  expect_error ((const guint8 *) "PK\3\4zip", 7, "magic-zip", MOR_GGUF_ERROR_BAD_MAGIC, "not a GGUF file");
  expect_error ((const guint8 *) "GGU", 3, "magic-short", MOR_GGUF_ERROR_TRUNCATED, "too short");
}

static void
test_version (void)
{
  g_autoptr (GBytes) base = make_base ();
  gsize len;
  g_autofree guint8 *p = base_copy (base, &len);
  poke_u32 (p, 4, 1);
  expect_error (p, len, "version-1", MOR_GGUF_ERROR_VERSION, "version 1 is not supported");
  poke_u32 (p, 4, 4);
  expect_error (p, len, "version-4", MOR_GGUF_ERROR_VERSION, "version 4");
  poke_u32 (p, 4, 0);
  expect_error (p, len, "version-0", MOR_GGUF_ERROR_VERSION, "version 0");
  poke_u32 (p, 4, 0x03000000);
  expect_error (p, len, "version-big-endian", MOR_GGUF_ERROR_VERSION, "big-endian");
}

static void
test_counts (void)
{
  g_autoptr (GBytes) base = make_base ();
  gsize len;
  g_autofree guint8 *p = base_copy (base, &len);

  poke_u64 (p, 16, G_GUINT64_CONSTANT (1) << 62);
  expect_error (p, len, "count-kv-absurd", MOR_GGUF_ERROR_CORRUPT, "4611686018427387904 keys");
  poke_u64 (p, 16, 1000000);
  expect_error (p, len, "count-kv-huge", MOR_GGUF_ERROR_TRUNCATED, "1000000 keys");
  poke_u64 (p, 16, 9);

  poke_u64 (p, 8, G_MAXUINT64);
  expect_error (p, len, "count-tensors-absurd", MOR_GGUF_ERROR_CORRUPT, "18446744073709551615 tensors");
  poke_u64 (p, 8, 100000);
  expect_error (p, len, "count-tensors-huge", MOR_GGUF_ERROR_TRUNCATED, "100000 tensors");
}

static void
test_string_past_end (void)
{
  g_autoptr (GBytes) base = make_base ();
  gsize len, at;
  g_autofree guint8 *p = base_copy (base, &len);

  at = find (base, "k.u32") - 8;   /* the key's length */
  poke_u64 (p, at, G_GUINT64_CONSTANT (1) << 40);
  expect_error (p, len, "key-length-huge", MOR_GGUF_ERROR_TRUNCATED, "runs past the end of the file");
  poke_u64 (p, at, G_MAXUINT64);
  expect_error (p, len, "key-length-max", MOR_GGUF_ERROR_TRUNCATED, "runs past the end of the file");
  poke_u64 (p, at, 5);

  at = after_key (base, "general.architecture") + 4;
  poke_u64 (p, at, len);
  expect_error (p, len, "string-value-length", MOR_GGUF_ERROR_TRUNCATED, "key “general.architecture”: string value");
  poke_u64 (p, at, 5);

  at = after_key (base, "k.strs") + 4 + 4 + 8 + 8 + 5;   /* the second string's length */
  poke_u64 (p, at, G_MAXUINT64 - 3);
  expect_error (p, len, "string-array-element-length", MOR_GGUF_ERROR_TRUNCATED, "key “k.strs”: string 1 of 3");
  poke_u64 (p, at, 0);

  /* a name of 60 bytes in a file cut 10 bytes into it */
  at = find (base, "t.b") - 8;
  poke_u64 (p, at, 60);
  expect_error (p, at + 8 + 10, "tensor-name-past-end", MOR_GGUF_ERROR_TRUNCATED, "name runs past the end");
}

static void
test_array_past_end (void)
{
  g_autoptr (GBytes) base = make_base ();
  gsize len, at;
  g_autofree guint8 *p = base_copy (base, &len);

  at = after_key (base, "k.f32s") + 4 + 4;   /* the element count */
  poke_u64 (p, at, G_GUINT64_CONSTANT (1) << 62);   /* × 4 bytes overflows */
  expect_error (p, len, "array-count-overflow", MOR_GGUF_ERROR_TRUNCATED, "array of 4611686018427387904 f32");
  poke_u64 (p, at, len);
  expect_error (p, len, "array-count-huge", MOR_GGUF_ERROR_TRUNCATED, "key “k.f32s”: array of");
  poke_u64 (p, at, 3);

  at = after_key (base, "k.strs") + 4 + 4;
  poke_u64 (p, at, G_MAXUINT64);
  expect_error (p, len, "string-array-count-huge", MOR_GGUF_ERROR_TRUNCATED, "key “k.strs”: array of");
}

static void
test_offset_past_end (void)
{
  g_autoptr (GBytes) base = make_base ();
  gsize len, at;
  g_autofree guint8 *p = base_copy (base, &len);

  at = tensor_info (base, "t.b") + 4 + 2 * 8 + 4;   /* offset field */
  poke_u64 (p, at, 1 << 20);
  expect_error (p, len, "offset-past-end", MOR_GGUF_ERROR_TRUNCATED, "tensor “t.b”: data at bytes");
  poke_u64 (p, at, G_MAXUINT64 - 31);
  expect_error (p, len, "offset-overflow", MOR_GGUF_ERROR_CORRUPT, "overflows 64 bits");
  /* t.b: 68 bytes at 64 in a 160-byte data section; 3 rows (102 bytes) run past it */
  poke_u64 (p, at, 64);
  poke_u64 (p, tensor_info (base, "t.b") + 4 + 8, 3);
  expect_error (p, len, "tensor-size-past-end", MOR_GGUF_ERROR_TRUNCATED, "runs past the end of the file");
}

static void
test_misaligned_offset (void)
{
  g_autoptr (GBytes) base = make_base ();
  gsize len;
  g_autofree guint8 *p = base_copy (base, &len);
  gsize at = tensor_info (base, "t.b") + 4 + 2 * 8 + 4;
  poke_u64 (p, at, 64 + 8);
  expect_error (p, len, "offset-misaligned", MOR_GGUF_ERROR_CORRUPT,
                "tensor “t.b”: data offset 72 is not a multiple of the alignment 32");
}

static void
test_overlap (void)
{
  g_autoptr (GBytes) base = make_base ();
  gsize len;
  g_autofree guint8 *p = base_copy (base, &len);
  /* t.a is 64 bytes at 0, t.b at 64: move t.b onto t.a's second half, then onto t.a */
  gsize at = tensor_info (base, "t.b") + 4 + 2 * 8 + 4;
  poke_u64 (p, at, 32);
  expect_error (p, len, "overlap-partial", MOR_GGUF_ERROR_CORRUPT, "tensors “t.a” at bytes");
  poke_u64 (p, at, 0);
  expect_error (p, len, "overlap-same", MOR_GGUF_ERROR_CORRUPT, "overlap");
  /* and t.a onto t.b: the order in the file does not matter */
  poke_u64 (p, at, 64);
  poke_u64 (p, tensor_info (base, "t.a") + 4 + 2 * 8 + 4, 96);
  expect_error (p, len, "overlap-reversed", MOR_GGUF_ERROR_CORRUPT, "“t.b” at bytes");
}

static void
test_bad_alignment (void)
{
  static const guint32 bad[] = { 0, 3, 48, 1u << 21, G_MAXUINT32 };
  g_autoptr (GBytes) base = make_base ();
  gsize len;
  g_autofree guint8 *p = base_copy (base, &len);
  gsize at = after_key (base, "general.alignment");

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autofree char *name = g_strdup_printf ("alignment-%u", bad[i]);
    poke_u32 (p, at + 4, bad[i]);
    expect_error (p, len, name, MOR_GGUF_ERROR_CORRUPT, "key “general.alignment” is");
  }
  poke_u32 (p, at + 4, 32);
  poke_u32 (p, at, MOR_GGUF_VALUE_INT32);
  expect_error (p, len, "alignment-i32", MOR_GGUF_ERROR_CORRUPT, "has type i32, expected u32");
}

static void
test_bad_utf8 (void)
{
  g_autoptr (GBytes) base = make_base ();
  gsize len, at;
  g_autofree guint8 *p = base_copy (base, &len);

  at = find (base, "k.u32");
  poke_u8 (p, at + 1, 0xff);
  expect_error (p, len, "utf8-key", MOR_GGUF_ERROR_CORRUPT, "is not valid UTF-8");
  poke_u8 (p, at + 1, 0);
  expect_error (p, len, "utf8-key-nul", MOR_GGUF_ERROR_CORRUPT, "is not valid UTF-8");
  poke_u8 (p, at + 1, '.');

  at = find (base, "t.b");
  poke_u8 (p, at, 0xc3);
  poke_u8 (p, at + 1, 0x28);
  expect_error (p, len, "utf8-tensor-name", MOR_GGUF_ERROR_CORRUPT, "name is not valid UTF-8");
  poke_u8 (p, at, 't');
  poke_u8 (p, at + 1, '.');

  at = find (base, "qwen2");
  poke_u8 (p, at + 2, 0x80);
  expect_error (p, len, "utf8-string-value", MOR_GGUF_ERROR_CORRUPT,
                "key “general.architecture”: string value is not valid UTF-8");
  poke_u8 (p, at + 2, 'e');

  at = find (base, "wörld");
  poke_u8 (p, at + 1, 0xc3);
  poke_u8 (p, at + 2, 0xc3);   /* "ö" was c3 b6 */
  expect_error (p, len, "utf8-string-array", MOR_GGUF_ERROR_CORRUPT, "key “k.strs”: string 2 is not valid UTF-8");
}

static void
test_bad_names (void)
{
  g_autoptr (GBytes) base = make_base ();
  gsize len, at;
  g_autofree guint8 *p = base_copy (base, &len);

  at = find (base, "k.u32") - 8;
  poke_u64 (p, at, 0);
  expect_error (p, len, "key-empty", MOR_GGUF_ERROR_CORRUPT, "is empty");
  poke_u64 (p, at, 5);

  at = find (base, "t.a") - 8;
  poke_u64 (p, at, 0);
  expect_error (p, len, "tensor-name-empty", MOR_GGUF_ERROR_CORRUPT, "has an empty name");
  poke_u64 (p, at, MOR_GGUF_MAX_NAME);
  expect_error (p, len, "tensor-name-64", MOR_GGUF_ERROR_CORRUPT, "name of 64 bytes is too long");
}

static void
test_bad_dims (void)
{
  g_autoptr (GBytes) base = make_base ();
  gsize len;
  g_autofree guint8 *p = base_copy (base, &len);
  gsize at = tensor_info (base, "t.a");

  poke_u32 (p, at, 0);
  expect_error (p, len, "dims-0", MOR_GGUF_ERROR_CORRUPT, "tensor “t.a”: 0 dimensions, expected 1 to 4");
  poke_u32 (p, at, 5);
  expect_error (p, len, "dims-5", MOR_GGUF_ERROR_CORRUPT, "tensor “t.a”: 5 dimensions");
  poke_u32 (p, at, G_MAXUINT32);
  expect_error (p, len, "dims-max", MOR_GGUF_ERROR_CORRUPT, "dimensions");
}

static void
test_bad_ne (void)
{
  g_autoptr (GBytes) base = make_base ();
  gsize len;
  g_autofree guint8 *p = base_copy (base, &len);
  gsize ne = tensor_info (base, "t.a") + 4;

  poke_u64 (p, ne, 0);
  expect_error (p, len, "ne-zero", MOR_GGUF_ERROR_CORRUPT, "tensor “t.a”: dimension 0 is 0");
  poke_u64 (p, ne, 8);
  poke_u64 (p, ne + 8, G_GUINT64_CONSTANT (1) << 63);
  expect_error (p, len, "ne-2^63", MOR_GGUF_ERROR_CORRUPT, "dimension 1 is 9223372036854775808");
  poke_u64 (p, ne, G_GUINT64_CONSTANT (1) << 32);
  poke_u64 (p, ne + 8, G_GUINT64_CONSTANT (1) << 32);
  expect_error (p, len, "ne-product-overflow", MOR_GGUF_ERROR_CORRUPT, "elements overflow 63 bits");
  /* 2^62 f32 elements fit 63 bits, their 2^64 bytes do not */
  poke_u64 (p, ne, G_GUINT64_CONSTANT (1) << 61);
  poke_u64 (p, ne + 8, 2);
  expect_error (p, len, "size-overflow", MOR_GGUF_ERROR_CORRUPT, "byte size of 4611686018427387904 f32");
}

static void
test_block_size (void)
{
  g_autoptr (GBytes) base = make_base ();
  gsize len;
  g_autofree guint8 *p = base_copy (base, &len);
  poke_u64 (p, tensor_info (base, "t.b") + 4, 48);
  expect_error (p, len, "block-size", MOR_GGUF_ERROR_CORRUPT,
                "tensor “t.b”: rows of 48 elements are not a multiple of the q8_0 block size 32");
}

static void
test_tensor_type (void)
{
  g_autoptr (GBytes) base = make_base ();
  gsize len;
  g_autofree guint8 *p = base_copy (base, &len);
  gsize at = tensor_info (base, "t.b") + 4 + 2 * 8;

  poke_u32 (p, at, 99);
  expect_error (p, len, "tensor-type-99", MOR_GGUF_ERROR_UNSUPPORTED, "tensor “t.b” has type id 99");
  poke_u32 (p, at, 3);   /* ggml's Q4_1: valid GGUF, not for libmor */
  expect_error (p, len, "tensor-type-q4_1", MOR_GGUF_ERROR_UNSUPPORTED, "type id 3");
}

static void
test_value_type (void)
{
  g_autoptr (GBytes) base = make_base ();
  gsize len, at;
  g_autofree guint8 *p = base_copy (base, &len);

  at = after_key (base, "k.u32");
  poke_u32 (p, at, 13);
  expect_error (p, len, "value-type-13", MOR_GGUF_ERROR_CORRUPT, "key “k.u32”: unknown value type 13");
  poke_u32 (p, at, G_MAXUINT32);
  expect_error (p, len, "value-type-max", MOR_GGUF_ERROR_CORRUPT, "unknown value type 4294967295");
  poke_u32 (p, at, MOR_GGUF_VALUE_UINT32);

  at = after_key (base, "k.f32s") + 4;
  poke_u32 (p, at, 13);
  expect_error (p, len, "array-type-13", MOR_GGUF_ERROR_CORRUPT, "key “k.f32s”: unknown array element type 13");
  poke_u32 (p, at, MOR_GGUF_VALUE_ARRAY);
  expect_error (p, len, "array-nested", MOR_GGUF_ERROR_UNSUPPORTED, "key “k.f32s”: arrays of arrays");
  poke_u32 (p, at, MOR_GGUF_VALUE_FLOAT32);

  at = after_key (base, "k.bool") + 4;
  poke_u8 (p, at, 2);
  expect_error (p, len, "bool-2", MOR_GGUF_ERROR_CORRUPT, "key “k.bool”: bool value is 2");
  poke_u8 (p, at, 1);
  at = after_key (base, "k.bools") + 4 + 4 + 8;
  poke_u8 (p, at + 2, 0xff);
  expect_error (p, len, "bool-array-255", MOR_GGUF_ERROR_CORRUPT, "key “k.bools”: bool 2 is 255");
}

static void
test_duplicates (void)
{
  g_autoptr (GBytes) base = make_base ();
  gsize len, at;
  g_autofree guint8 *p = base_copy (base, &len);

  at = find (base, "dup.b");
  poke_u8 (p, at + 4, 'a');
  expect_error (p, len, "duplicate-key", MOR_GGUF_ERROR_CORRUPT, "duplicate key “dup.a”");
  poke_u8 (p, at + 4, 'b');

  at = find (base, "t.b");
  poke_u8 (p, at + 2, 'a');
  expect_error (p, len, "duplicate-tensor", MOR_GGUF_ERROR_CORRUPT, "duplicate tensor “t.a”");
}

/* Every byte of the header and tensor infos, set to a handful of values: each
 * result is a clean error or a file whose every byte can be read. */
static void
test_mutations (void)
{
  g_autoptr (GBytes) base = make_base ();
  g_autoptr (MorGguf) full = parse_bytes (base);
  gsize len;
  g_autofree guint8 *p = base_copy (base, &len);
  guint n_ok = 0, n_err = 0;

  for (gsize at = 0; at < mor_gguf_get_data_offset (full); at++) {
    guint8 orig = p[at];
    const guint8 values[] = { 0, 1, 0x7f, 0x80, 0xff, orig ^ 1, orig + 1, orig - 1 };
    for (guint v = 0; v < G_N_ELEMENTS (values); v++) {
      g_autoptr (GError) error = NULL;
      p[at] = values[v];
      g_autoptr (MorGguf) g = parse (p, len, &error);
      if (g) {
        g_assert_no_error (error);
        touch_all (g);
        n_ok++;
      } else {
        g_assert_nonnull (error);
        g_assert_true (error->domain == MOR_GGUF_ERROR);
        g_assert_cmpint (error->code, !=, MOR_GGUF_ERROR_FAILED);
        n_err++;
      }
    }
    p[at] = orig;
  }
  g_test_message ("%u mutations parsed, %u refused", n_ok, n_err);
  g_assert_cmpuint (n_ok, >, 0);
  g_assert_cmpuint (n_err, >, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/gguf/scalars", test_scalars);
  g_test_add_func ("/gguf/strings", test_strings);
  g_test_add_func ("/gguf/integer-conversion", test_integer_conversion);
  g_test_add_func ("/gguf/float-conversion", test_float_conversion);
  g_test_add_func ("/gguf/arrays", test_arrays);
  g_test_add_func ("/gguf/string-arrays", test_string_arrays);
  g_test_add_func ("/gguf/not-found", test_not_found);
  g_test_add_func ("/gguf/type-errors", test_type_errors);
  g_test_add_func ("/gguf/defaults", test_defaults);
  g_test_add_func ("/gguf/tensors", test_tensors);
  g_test_add_func ("/gguf/alignment", test_alignment);
  g_test_add_func ("/gguf/check-tensor", test_check_tensor);
  g_test_add_func ("/gguf/version-2", test_version_2);
  g_test_add_func ("/gguf/no-tensors", test_no_tensors);
  g_test_add_func ("/gguf/golden-bytes", test_golden_bytes);
  g_test_add_func ("/gguf/file", test_file);
  g_test_add_func ("/gguf/writer-misuse", test_writer_misuse);
  g_test_add_func ("/gguf/writer-bad-tensor", test_writer_bad_tensor);

  g_test_add_func ("/gguf/hostile/truncated", test_truncated);
  g_test_add_func ("/gguf/hostile/bad-magic", test_bad_magic);
  g_test_add_func ("/gguf/hostile/version", test_version);
  g_test_add_func ("/gguf/hostile/counts", test_counts);
  g_test_add_func ("/gguf/hostile/string-past-end", test_string_past_end);
  g_test_add_func ("/gguf/hostile/array-past-end", test_array_past_end);
  g_test_add_func ("/gguf/hostile/offset-past-end", test_offset_past_end);
  g_test_add_func ("/gguf/hostile/misaligned-offset", test_misaligned_offset);
  g_test_add_func ("/gguf/hostile/overlap", test_overlap);
  g_test_add_func ("/gguf/hostile/bad-alignment", test_bad_alignment);
  g_test_add_func ("/gguf/hostile/bad-utf8", test_bad_utf8);
  g_test_add_func ("/gguf/hostile/bad-names", test_bad_names);
  g_test_add_func ("/gguf/hostile/bad-dims", test_bad_dims);
  g_test_add_func ("/gguf/hostile/bad-ne", test_bad_ne);
  g_test_add_func ("/gguf/hostile/block-size", test_block_size);
  g_test_add_func ("/gguf/hostile/tensor-type", test_tensor_type);
  g_test_add_func ("/gguf/hostile/value-type", test_value_type);
  g_test_add_func ("/gguf/hostile/duplicates", test_duplicates);
  g_test_add_func ("/gguf/hostile/mutations", test_mutations);

  return g_test_run ();
}
