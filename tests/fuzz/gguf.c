/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the GGUF reader (model/gguf.c): parses the input and,
 * when it is accepted, reads every key, value, array element and tensor byte,
 * and asks each key for every type so that the error paths run too. Any crash,
 * sanitizer report or GLib critical is a bug. Seeds: run tests/gguf.c with
 * MOR_GGUF_CORPUS_DIR set. */
#include "gguf.h"

#include <string.h>

/* Unlike g_assert(), never compiled out; the abort is what libFuzzer reports. */
#define CHECK(x) G_STMT_START { if (!(x)) g_error ("%s:%d: check failed: %s", __FILE__, __LINE__, #x); } G_STMT_END

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  /* a g_return_if_fail in the reader means it handed out something inconsistent */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  return 0;
}

/* Every typed getter on @key: exactly the right ones succeed, the others set an error. */
static void
try_getters (MorGguf *g, const char *key)
{
  guint32 u32;
  gint32 i32;
  guint64 u64;
  gint64 i64;
  float f32;
  double f64;
  gboolean b;
  const char *s;
  MorGgufValueType elem;
  guint64 n;
  GError *error = NULL;

#define TRY(call)                                                 \
  if (!(call)) {                                                  \
    CHECK (error != NULL && error->domain == MOR_GGUF_ERROR);     \
    g_clear_error (&error);                                       \
  }
  TRY (mor_gguf_get_u32 (g, key, &u32, &error));
  TRY (mor_gguf_get_i32 (g, key, &i32, &error));
  TRY (mor_gguf_get_u64 (g, key, &u64, &error));
  TRY (mor_gguf_get_i64 (g, key, &i64, &error));
  TRY (mor_gguf_get_f32 (g, key, &f32, &error));
  TRY (mor_gguf_get_f64 (g, key, &f64, &error));
  TRY (mor_gguf_get_bool (g, key, &b, &error));
  TRY (mor_gguf_get_string (g, key, NULL, &error) != NULL);
  TRY (mor_gguf_get_string_default (g, key, "x", &s, &error));
  TRY (mor_gguf_get_u32_default (g, key, 1, &u32, &error));
  TRY (mor_gguf_get_array (g, key, &elem, &n, &error));
  TRY (mor_gguf_get_string_array (g, key, &n, &error));
  TRY (mor_gguf_get_array_data (g, key, MOR_GGUF_VALUE_UINT32, &n, &error) != NULL);
#undef TRY
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  GBytes *bytes = g_bytes_new_static (data, size);
  GError *error = NULL;
  MorGguf *g = mor_gguf_new_from_bytes (bytes, &error);
  g_bytes_unref (bytes);
  if (g == NULL) {
    CHECK (error != NULL && error->domain == MOR_GGUF_ERROR && error->code != MOR_GGUF_ERROR_FAILED);
    g_error_free (error);
    return 0;
  }
  CHECK (error == NULL);

  volatile guint64 sum = 0;
  for (guint i = 0; i < mor_gguf_n_keys (g); i++) {
    const char *key = mor_gguf_get_key (g, i);
    CHECK (mor_gguf_find_key (g, key) == (gint) i);
    try_getters (g, key);
    MorGgufValueType type = mor_gguf_get_key_type (g, i);
    if (type == MOR_GGUF_VALUE_STRING) {
      gsize len;
      const char *s = mor_gguf_get_string (g, key, &len, NULL);
      CHECK (s != NULL && s[len] == '\0');
      for (gsize j = 0; j < len; j++)
        sum += (guint8) s[j];
    } else if (type == MOR_GGUF_VALUE_ARRAY) {
      MorGgufValueType elem;
      guint64 n;
      gboolean ok = mor_gguf_get_array (g, key, &elem, &n, NULL);
      CHECK (ok);
      if (elem == MOR_GGUF_VALUE_STRING) {
        for (guint64 j = 0; j < n; j++) {
          gsize len;
          const char *s = mor_gguf_get_array_string (g, key, j, &len);
          CHECK (g_utf8_validate_len (s, len, NULL) || memchr (s, 0, len) != NULL);
          for (gsize k = 0; k < len; k++)
            sum += (guint8) s[k];
        }
      } else {
        gsize esize = mor_gguf_value_type_size (elem);
        const guint8 *p = mor_gguf_get_array_data (g, key, elem, &n, NULL);
        CHECK (p != NULL && GPOINTER_TO_SIZE (p) % esize == 0);
        for (guint64 j = 0; j < n * esize; j++)
          sum += p[j];
      }
    }
  }

  guint64 data_offset = mor_gguf_get_data_offset (g);
  CHECK (data_offset % mor_gguf_get_alignment (g) == 0);
  for (guint i = 0; i < mor_gguf_n_tensors (g); i++) {
    const MorGgufTensor *t = mor_gguf_get_tensor (g, i);
    CHECK (mor_gguf_find_tensor (g, t->name) == t);
    CHECK (t->offset >= data_offset && (t->offset - data_offset) % mor_gguf_get_alignment (g) == 0);
    CHECK (t->offset + t->size <= size && (const guint8 *) t->data == data + t->offset);
    CHECK (t->size == mor_type_row_bytes (t->type, t->ne[0]) * t->ne[1] * t->ne[2] * t->ne[3]);
    gboolean ok = mor_gguf_check_tensor (g, t->name, t->n_dims, t->ne, NULL, NULL);
    CHECK (ok);
    for (guint64 j = 0; j < t->size; j++)
      sum += ((const guint8 *) t->data)[j];
  }
  (void) sum;
  mor_gguf_unref (g);
  return 0;
}
