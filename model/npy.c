/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* NumPy .npy reader and writer (format: npy.h). The reader parses the header
 * dict with a small scanner for exactly what numpy writes: three keys,
 * strings in single or double quotes, True/False, and a tuple of integers. */
#include "npy.h"

#include <string.h>

G_STATIC_ASSERT (G_BYTE_ORDER == G_LITTLE_ENDIAN);

G_DEFINE_QUARK (mor-npy-error-quark, mor_npy_error)

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64                  /* numpy pads the header so that the data starts at a multiple of 64 */
#define NPY_GROWTH_DIGITS 21          /* numpy's GROWTH_AXIS_MAX_DIGITS */

static const struct {
  const char *descr;
  gsize size;
} dtypes[] = {
  [MOR_NPY_U8] = { "|u1", 1 },
  [MOR_NPY_I8] = { "|i1", 1 },
  [MOR_NPY_I32] = { "<i4", 4 },
  [MOR_NPY_U32] = { "<u4", 4 },
  [MOR_NPY_I64] = { "<i8", 8 },
  [MOR_NPY_F16] = { "<f2", 2 },
  [MOR_NPY_F32] = { "<f4", 4 },
  [MOR_NPY_F64] = { "<f8", 8 },
};

const char *
mor_npy_dtype_descr (MorNpyDtype dtype)
{
  g_return_val_if_fail ((guint) dtype < G_N_ELEMENTS (dtypes), "?");
  return dtypes[dtype].descr;
}

gsize
mor_npy_dtype_size (MorNpyDtype dtype)
{
  g_return_val_if_fail ((guint) dtype < G_N_ELEMENTS (dtypes), 0);
  return dtypes[dtype].size;
}

void
mor_npy_free (MorNpy *a)
{
  if (!a)
    return;
  g_free (a->data);
  g_free (a);
}

/* ---- reading ---- */

typedef struct {
  const char *p, *end;
  const char *name;
} Scan;

static void
skip_space (Scan *s)
{
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
    s->p++;
}

static gboolean
bad_header (const Scan *s, GError **error, const char *what)
{
  g_set_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_FORMAT, "%s: malformed .npy header: %s", s->name, what);
  return FALSE;
}

static gboolean
expect_char (Scan *s, char c, GError **error)
{
  skip_space (s);
  if (s->p >= s->end || *s->p != c) {
    g_autofree char *what = g_strdup_printf ("expected '%c'", c);
    return bad_header (s, error, what);
  }
  s->p++;
  return TRUE;
}

/* A quoted string without escapes, into @out (at most @size - 1 bytes). */
static gboolean
scan_string (Scan *s, char *out, gsize size, GError **error)
{
  skip_space (s);
  if (s->p >= s->end || (*s->p != '\'' && *s->p != '"'))
    return bad_header (s, error, "expected a quoted string");
  char quote = *s->p++;
  gsize n = 0;
  while (s->p < s->end && *s->p != quote) {
    if (*s->p == '\\' || n + 1 >= size)
      return bad_header (s, error, "a string that is too long or has escapes");
    out[n++] = *s->p++;
  }
  if (s->p >= s->end)
    return bad_header (s, error, "unterminated string");
  s->p++;
  out[n] = '\0';
  return TRUE;
}

static gboolean
scan_word (Scan *s, const char *word)
{
  gsize n = strlen (word);
  skip_space (s);
  if ((gsize) (s->end - s->p) >= n && memcmp (s->p, word, n) == 0) {
    s->p += n;
    return TRUE;
  }
  return FALSE;
}

static gboolean
scan_shape (Scan *s, MorNpy *a, GError **error)
{
  if (!expect_char (s, '(', error))
    return FALSE;
  gboolean comma = FALSE;             /* a comma after the last element */
  a->ndim = 0;
  for (;;) {
    skip_space (s);
    if (s->p < s->end && *s->p == ')') {
      s->p++;
      break;
    }
    if (a->ndim > 0 && !comma)
      return bad_header (s, error, "shape: expected ',' or ')'");
    if (s->p >= s->end || !g_ascii_isdigit (*s->p))
      return bad_header (s, error, "shape: expected a non-negative integer");
    guint64 v = 0;
    while (s->p < s->end && g_ascii_isdigit (*s->p)) {
      if (!g_uint64_checked_mul (&v, v, 10) || !g_uint64_checked_add (&v, v, (guint64) (*s->p - '0')))
        return bad_header (s, error, "shape: a dimension too large");
      s->p++;
    }
    if (s->p < s->end && (*s->p == 'L' || *s->p == 'l'))   /* Python 2's long suffix */
      s->p++;
    if (a->ndim == MOR_NPY_MAX_DIMS) {
      g_set_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_UNSUPPORTED, "%s: more than %d dimensions", s->name,
                   MOR_NPY_MAX_DIMS);
      return FALSE;
    }
    a->shape[a->ndim++] = v;
    skip_space (s);
    comma = s->p < s->end && *s->p == ',';
    if (comma)
      s->p++;
  }
  /* "(5)" is an int in Python, not a tuple */
  if (a->ndim == 1 && !comma)
    return bad_header (s, error, "shape: a one-element tuple needs a comma");
  return TRUE;
}

static gboolean
parse_header (Scan *s, MorNpy *a, GError **error)
{
  gboolean have_descr = FALSE, have_order = FALSE, have_shape = FALSE;
  char descr[16];
  if (!expect_char (s, '{', error))
    return FALSE;
  for (;;) {
    skip_space (s);
    if (s->p < s->end && *s->p == '}') {
      s->p++;
      break;
    }
    char key[32];
    if (!scan_string (s, key, sizeof key, error) || !expect_char (s, ':', error))
      return FALSE;
    if (strcmp (key, "descr") == 0 && !have_descr) {
      skip_space (s);
      if (s->p < s->end && (*s->p == '[' || *s->p == '{')) {
        g_set_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_UNSUPPORTED, "%s: structured dtype: only plain "
                     "numeric arrays are read", s->name);
        return FALSE;
      }
      if (!scan_string (s, descr, sizeof descr, error))
        return FALSE;
      have_descr = TRUE;
    } else if (strcmp (key, "fortran_order") == 0 && !have_order) {
      if (scan_word (s, "True")) {
        g_set_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_UNSUPPORTED, "%s: Fortran-order array: only C order "
                     "is read (save np.ascontiguousarray(a))", s->name);
        return FALSE;
      }
      if (!scan_word (s, "False"))
        return bad_header (s, error, "fortran_order: expected True or False");
      have_order = TRUE;
    } else if (strcmp (key, "shape") == 0 && !have_shape) {
      if (!scan_shape (s, a, error))
        return FALSE;
      have_shape = TRUE;
    } else {
      g_autofree char *what = g_strdup_printf ("unexpected or repeated key '%s'", key);
      return bad_header (s, error, what);
    }
    skip_space (s);
    if (s->p < s->end && *s->p == ',') {
      s->p++;
      continue;
    }
    if (!expect_char (s, '}', error))
      return FALSE;
    break;
  }
  skip_space (s);
  if (s->p != s->end)
    return bad_header (s, error, "bytes after the dict");
  if (!have_descr || !have_order || !have_shape)
    return bad_header (s, error, "missing 'descr', 'fortran_order' or 'shape'");

  /* byte order: '<' little, '|' not applicable (1 byte), '=' native (little here); '>' big */
  char order = descr[0];
  const char *code = descr + 1;
  if (order != '<' && order != '|' && order != '=' && order != '>') {
    order = '=';
    code = descr;
  }
  for (guint t = 0; t < G_N_ELEMENTS (dtypes); t++) {
    if (strcmp (code, dtypes[t].descr + 1) != 0)
      continue;
    if (order == '>' && dtypes[t].size > 1) {
      g_set_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_UNSUPPORTED, "%s: big-endian dtype '%s'", s->name, descr);
      return FALSE;
    }
    a->dtype = t;
    return TRUE;
  }
  g_set_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_UNSUPPORTED, "%s: dtype '%s' is not one libmor reads "
               "(u1 i1 i4 u4 i8 f2 f4 f8)", s->name, descr);
  return FALSE;
}

MorNpy *
mor_npy_new_from_data (const guint8 *data, gsize size, const char *name, GError **error)
{
  g_return_val_if_fail (data != NULL || size == 0, NULL);
  if (!name)
    name = "<memory>";
  if (size < NPY_MAGIC_LEN + 2 || memcmp (data, NPY_MAGIC, NPY_MAGIC_LEN) != 0) {
    g_set_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_FORMAT, "%s: not a .npy file (no \\x93NUMPY magic)", name);
    return NULL;
  }
  guint major = data[6], minor = data[7];
  if (major < 1 || major > 3 || minor != 0) {
    g_set_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_UNSUPPORTED, "%s: .npy version %u.%u (1.0, 2.0 and 3.0 "
                 "are read)", name, major, minor);
    return NULL;
  }
  gsize len_bytes = major == 1 ? 2 : 4;
  if (size < 8 + len_bytes) {
    g_set_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_FORMAT, "%s: truncated .npy header", name);
    return NULL;
  }
  guint64 header_len = data[8] | (guint64) data[9] << 8;
  if (len_bytes == 4)
    header_len |= (guint64) data[10] << 16 | (guint64) data[11] << 24;
  gsize header_start = 8 + len_bytes;
  if (header_len > size - header_start) {
    g_set_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_FORMAT, "%s: the header (%" G_GUINT64_FORMAT " bytes) runs "
                 "past the end of the file (%" G_GSIZE_FORMAT " bytes)", name, header_len, size);
    return NULL;
  }
  const char *header = (const char *) data + header_start;
  if (memchr (header, '\0', header_len)) {
    g_set_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_FORMAT, "%s: malformed .npy header: a NUL byte", name);
    return NULL;
  }

  g_autoptr (MorNpy) a = g_new0 (MorNpy, 1);
  Scan s = { header, header + header_len, name };
  if (!parse_header (&s, a, error))
    return NULL;

  guint64 n = 1, bytes;
  for (guint i = 0; i < a->ndim; i++)
    if (!g_uint64_checked_mul (&n, n, a->shape[i])) {
      g_set_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_FORMAT, "%s: the shape's element count overflows", name);
      return NULL;
    }
  gsize data_start = header_start + header_len;
  if (!g_uint64_checked_mul (&bytes, n, dtypes[a->dtype].size) || bytes != size - data_start) {
    g_autofree char *shape = g_strdup ("");
    for (guint i = 0; i < a->ndim; i++) {
      char *t = g_strdup_printf ("%s%s%" G_GUINT64_FORMAT, shape, i ? ", " : "", a->shape[i]);
      g_free (shape);
      shape = t;
    }
    g_set_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_FORMAT, "%s: shape (%s) of '%s' needs %" G_GUINT64_FORMAT
                 " elements but %" G_GSIZE_FORMAT " data bytes follow the header", name, shape,
                 dtypes[a->dtype].descr, n, size - data_start);
    return NULL;
  }
  a->n = n;
  if (bytes > 0) {
    a->data = g_try_malloc (bytes);
    if (!a->data) {
      g_set_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_FAILED, "%s: out of memory for %" G_GUINT64_FORMAT
                   " bytes", name, bytes);
      return NULL;
    }
    memcpy (a->data, data + data_start, bytes);
  }
  return g_steal_pointer (&a);
}

MorNpy *
mor_npy_load (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_autoptr (GError) local = NULL;
  g_autoptr (GMappedFile) f = g_mapped_file_new (path, FALSE, &local);
  if (!f) {
    g_set_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_IO, "%s", local->message);
    return NULL;
  }
  const guint8 *data = (const guint8 *) g_mapped_file_get_contents (f);
  gsize size = g_mapped_file_get_length (f);
  static const guint8 empty[1];
  return mor_npy_new_from_data (data ? data : empty, data ? size : 0, path, error);
}

gboolean
mor_npy_check (const MorNpy *a, const char *what, MorNpyDtype dtype, guint ndim, const gint64 *shape, GError **error)
{
  g_return_val_if_fail (a != NULL, FALSE);
  gboolean ok = a->dtype == dtype && a->ndim == ndim;
  for (guint i = 0; ok && shape && i < ndim; i++)
    ok = shape[i] < 0 || a->shape[i] == (guint64) shape[i];
  if (ok)
    return TRUE;
  GString *got = g_string_new (NULL), *want = g_string_new (NULL);
  for (guint i = 0; i < a->ndim; i++)
    g_string_append_printf (got, "%s%" G_GUINT64_FORMAT, i ? ", " : "", a->shape[i]);
  for (guint i = 0; i < ndim; i++) {
    if (shape && shape[i] >= 0)
      g_string_append_printf (want, "%s%" G_GINT64_FORMAT, i ? ", " : "", shape[i]);
    else
      g_string_append_printf (want, "%s?", i ? ", " : "");
  }
  g_set_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_TYPE, "%s: expected a '%s' array of shape (%s), got '%s' (%s)",
               what ? what : "array", dtypes[dtype].descr, want->str, dtypes[a->dtype].descr, got->str);
  g_string_free (got, TRUE);
  g_string_free (want, TRUE);
  return FALSE;
}

/* ---- writing ---- */

GBytes *
mor_npy_to_bytes (MorNpyDtype dtype, guint ndim, const guint64 *shape, gconstpointer data)
{
  g_return_val_if_fail ((guint) dtype < G_N_ELEMENTS (dtypes), NULL);
  g_return_val_if_fail (ndim <= MOR_NPY_MAX_DIMS, NULL);
  g_return_val_if_fail (ndim == 0 || shape != NULL, NULL);
  guint64 n = 1, bytes;
  for (guint i = 0; i < ndim; i++)
    g_return_val_if_fail (g_uint64_checked_mul (&n, n, shape[i]), NULL);
  g_return_val_if_fail (g_uint64_checked_mul (&bytes, n, dtypes[dtype].size) && bytes <= G_MAXSIZE / 2, NULL);
  g_return_val_if_fail (bytes == 0 || data != NULL, NULL);

  GString *h = g_string_new (NULL);
  g_string_append_printf (h, "{'descr': '%s', 'fortran_order': False, 'shape': (", dtypes[dtype].descr);
  for (guint i = 0; i < ndim; i++)
    g_string_append_printf (h, "%s%" G_GUINT64_FORMAT, i ? ", " : "", shape[i]);
  g_string_append (h, ndim == 1 ? ",), }" : "), }");
  /* As numpy (format.py _write_array_header, _wrap_header) writes it, byte for
   * byte: room for the first dimension to grow to 21 digits, then spaces and
   * a newline up to a multiple of 64 for magic (6) + version (2) + u16 length
   * + header (a whole 64 more when already there). */
  if (ndim > 0) {
    char digits[24];
    int len = g_snprintf (digits, sizeof digits, "%" G_GUINT64_FORMAT, shape[0]);
    for (int i = len; i < NPY_GROWTH_DIGITS; i++)
      g_string_append_c (h, ' ');
  }
  gsize pad = NPY_ALIGN - (10 + h->len + 1) % NPY_ALIGN;
  for (gsize i = 0; i < pad; i++)
    g_string_append_c (h, ' ');
  g_string_append_c (h, '\n');
  g_assert (h->len <= G_MAXUINT16);

  gsize size = 10 + h->len + (gsize) bytes;
  guint8 *out = g_malloc (size);
  memcpy (out, NPY_MAGIC, NPY_MAGIC_LEN);
  out[6] = 1;
  out[7] = 0;
  out[8] = h->len & 0xff;
  out[9] = h->len >> 8;
  memcpy (out + 10, h->str, h->len);
  if (bytes)
    memcpy (out + 10 + h->len, data, bytes);
  g_string_free (h, TRUE);
  return g_bytes_new_take (out, size);
}

gboolean
mor_npy_save (const char *path, MorNpyDtype dtype, guint ndim, const guint64 *shape, gconstpointer data,
              GError **error)
{
  g_return_val_if_fail (path != NULL, FALSE);
  g_autoptr (GBytes) b = mor_npy_to_bytes (dtype, ndim, shape, data);
  g_return_val_if_fail (b != NULL, FALSE);
  gsize size;
  const char *p = g_bytes_get_data (b, &size);
  g_autoptr (GError) local = NULL;
  if (!g_file_set_contents_full (path, p, (gssize) size, G_FILE_SET_CONTENTS_CONSISTENT, 0666, &local)) {
    g_set_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_IO, "%s", local->message);
    return FALSE;
  }
  return TRUE;
}
