/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for model/npy.c: round trips of every dtype and rank, the exact bytes
 * numpy 1.24's np.save() writes (headers copied from its output), headers
 * numpy also accepts, and hostile files (every truncation, every malformed
 * header part) that must fail with the right error code. */
#include "npy.h"

#include <string.h>

#include <glib/gstdio.h>

/* Parses a copy of @len bytes in a buffer of exactly that size, so that ASan
 * sees any read past the end. */
static MorNpy *
parse (const void *data, gsize len, GError **error)
{
  g_autofree guint8 *copy = g_memdup2 (data, len);
  return mor_npy_new_from_data (copy ? copy : (const guint8 *) "", len, "test.npy", error);
}

/* A file made of a version 1.0 preamble, @header as given (no padding added)
 * and @data_len bytes of data. */
static GBytes *
make_file (guint8 major, const char *header, gsize data_len)
{
  gsize hlen = strlen (header), len_bytes = major == 1 ? 2 : 4;
  GByteArray *b = g_byte_array_new ();
  g_byte_array_append (b, (const guint8 *) "\x93NUMPY", 6);
  guint8 v[6] = { major, 0, hlen & 0xff, (hlen >> 8) & 0xff, (hlen >> 16) & 0xff, (hlen >> 24) & 0xff };
  g_byte_array_append (b, v, 2 + len_bytes);
  g_byte_array_append (b, (const guint8 *) header, hlen);
  for (gsize i = 0; i < data_len; i++) {
    guint8 x = (guint8) i;
    g_byte_array_append (b, &x, 1);
  }
  return g_byte_array_free_to_bytes (b);
}

static void
expect_error (const char *header, gsize data_len, gint code)
{
  g_autoptr (GBytes) f = make_file (1, header, data_len);
  g_autoptr (GError) error = NULL;
  g_autoptr (MorNpy) a = parse (g_bytes_get_data (f, NULL), g_bytes_get_size (f), &error);
  if (a || !g_error_matches (error, MOR_NPY_ERROR, code))
    g_error ("header %s + %" G_GSIZE_FORMAT " data bytes: expected error %d, got %s", header, data_len, code,
             error ? error->message : "success");
  g_assert_nonnull (strstr (error->message, "test.npy"));
}

static void
expect_ok (guint8 major, const char *header, gsize data_len, MorNpyDtype dtype, guint ndim, const guint64 *shape)
{
  g_autoptr (GBytes) f = make_file (major, header, data_len);
  g_autoptr (GError) error = NULL;
  g_autoptr (MorNpy) a = parse (g_bytes_get_data (f, NULL), g_bytes_get_size (f), &error);
  g_assert_no_error (error);
  g_assert_cmpint (a->dtype, ==, dtype);
  g_assert_cmpuint (a->ndim, ==, ndim);
  for (guint i = 0; i < ndim; i++)
    g_assert_cmpuint (a->shape[i], ==, shape[i]);
  g_assert_cmpuint (a->n * mor_npy_dtype_size (dtype), ==, data_len);
  for (gsize i = 0; i < data_len; i++)
    g_assert_cmpuint (((const guint8 *) a->data)[i], ==, (guint8) i);
}

/* ---- tests ---- */

static void
test_roundtrip (void)
{
  static const guint64 shapes[][4] = { { 0 }, { 5 }, { 2, 3 }, { 0, 7 }, { 3, 1, 2 }, { 2, 1, 3, 2 } };
  static const guint ndims[] = { 1, 1, 2, 2, 3, 4 };
  for (MorNpyDtype t = MOR_NPY_U8; t <= MOR_NPY_F64; t++) {
    for (guint s = 0; s <= G_N_ELEMENTS (shapes); s++) {
      guint ndim = s < G_N_ELEMENTS (shapes) ? ndims[s] : 0;     /* the last one: a scalar */
      const guint64 *shape = s < G_N_ELEMENTS (shapes) ? shapes[s] : NULL;
      guint64 n = 1;
      for (guint i = 0; i < ndim; i++)
        n *= shape[i];
      gsize bytes = n * mor_npy_dtype_size (t);
      g_autofree guint8 *data = g_malloc (bytes + 1);
      for (gsize i = 0; i < bytes; i++)
        data[i] = (guint8) (i * 37 + t);
      g_autoptr (GBytes) f = mor_npy_to_bytes (t, ndim, shape, data);
      g_assert_cmpuint (g_bytes_get_size (f) % 64, ==, bytes % 64);   /* data starts 64-aligned */
      g_autoptr (GError) error = NULL;
      g_autoptr (MorNpy) a = parse (g_bytes_get_data (f, NULL), g_bytes_get_size (f), &error);
      g_assert_no_error (error);
      g_assert_cmpint (a->dtype, ==, t);
      g_assert_cmpuint (a->ndim, ==, ndim);
      g_assert_cmpuint (a->n, ==, n);
      for (guint i = 0; i < ndim; i++)
        g_assert_cmpuint (a->shape[i], ==, shape[i]);
      if (bytes)
        g_assert_cmpmem (a->data, bytes, data, bytes);
      else
        g_assert_null (a->data);
      g_assert_true (mor_npy_check (a, "x", t, ndim, NULL, &error));
    }
  }
}

/* Headers exactly as numpy 1.24 np.save() writes them (python3 -c "import
 * numpy as np, io; b = io.BytesIO(); np.save(b, np.arange(6, dtype='<f4')
 * .reshape(2, 3)); print(b.getvalue()[:128])"), padded for growth of the
 * first dimension and to 64 bytes. */
static void
test_numpy_bytes (void)
{
  static const struct {
    MorNpyDtype dtype;
    guint ndim;
    guint64 shape[2];
    const char *header;
  } cases[] = {
    { MOR_NPY_F32, 2, { 2, 3 }, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" },
    { MOR_NPY_I32, 1, { 5 }, "{'descr': '<i4', 'fortran_order': False, 'shape': (5,), }" },
    { MOR_NPY_I64, 0, { 0 }, "{'descr': '<i8', 'fortran_order': False, 'shape': (), }" },
  };
  for (guint c = 0; c < G_N_ELEMENTS (cases); c++) {
    guint64 n = 1;
    for (guint i = 0; i < cases[c].ndim; i++)
      n *= cases[c].shape[i];
    gsize bytes = n * mor_npy_dtype_size (cases[c].dtype);
    g_autofree guint8 *data = g_malloc0 (bytes);
    g_autoptr (GBytes) f = mor_npy_to_bytes (cases[c].dtype, cases[c].ndim, cases[c].shape, data);
    gsize size;
    const guint8 *p = g_bytes_get_data (f, &size);
    g_assert_cmpuint (size, ==, 128 + bytes);
    g_assert_cmpmem (p, 10, "\x93NUMPY\x01\x00v\x00", 10);        /* header length 118 */
    gsize hlen = strlen (cases[c].header);
    g_assert_cmpmem (p + 10, hlen, cases[c].header, hlen);
    for (gsize i = 10 + hlen; i < 127; i++)
      g_assert_cmpint (p[i], ==, ' ');
    g_assert_cmpint (p[127], ==, '\n');
  }
}

/* Headers numpy writes or reads that differ from what mor_npy_to_bytes() writes. */
static void
test_accepted (void)
{
  const guint64 s23[] = { 2, 3 }, s5[] = { 5 }, s0[] = { 0 };
  expect_ok (1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 24, MOR_NPY_F32, 2, s23);
  /* version 2.0 (u32 header length), double quotes, keys in another order, no spaces, no trailing comma */
  expect_ok (2, "{\"shape\":(2,3),\"fortran_order\":False,\"descr\":\"<i4\"}", 24, MOR_NPY_I32, 2, s23);
  expect_ok (3, "{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }   \n", 40, MOR_NPY_F64, 1, s5);
  /* Python 2's long suffix, '|' and '=' byte orders */
  expect_ok (1, "{'descr': '|u1', 'fortran_order': False, 'shape': (5L,), }", 5, MOR_NPY_U8, 1, s5);
  expect_ok (1, "{'descr': '<i1', 'fortran_order': False, 'shape': (5,), }", 5, MOR_NPY_I8, 1, s5);
  expect_ok (1, "{'descr': '=f2', 'fortran_order': False, 'shape': (5,), }", 10, MOR_NPY_F16, 1, s5);
  expect_ok (1, "{'descr': '>u1', 'fortran_order': False, 'shape': (5,), }", 5, MOR_NPY_U8, 1, s5);
  expect_ok (1, "{'descr': '<u4', 'fortran_order': False, 'shape': (0,), }", 0, MOR_NPY_U32, 1, s0);
}

static void
test_hostile (void)
{
  /* malformed headers */
  expect_error ("", 0, MOR_NPY_ERROR_FORMAT);
  expect_error ("{}", 0, MOR_NPY_ERROR_FORMAT);
  expect_error ("{'descr': '<f4', 'fortran_order': False}", 4, MOR_NPY_ERROR_FORMAT);
  expect_error ("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", 4, MOR_NPY_ERROR_FORMAT);
  expect_error ("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", 4,
                MOR_NPY_ERROR_FORMAT);
  expect_error ("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", 4, MOR_NPY_ERROR_FORMAT);
  expect_error ("{'descr': '<f4', 'fortran_order': False, 'shape': (5)}", 20, MOR_NPY_ERROR_FORMAT);
  expect_error ("{'descr': '<f4', 'fortran_order': False, 'shape': (2 3)}", 24, MOR_NPY_ERROR_FORMAT);
  expect_error ("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", 4, MOR_NPY_ERROR_FORMAT);
  expect_error ("{'descr': '<f4', 'fortran_order': False, 'shape': [1]}", 4, MOR_NPY_ERROR_FORMAT);
  expect_error ("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", 4, MOR_NPY_ERROR_FORMAT);
  expect_error ("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", 4, MOR_NPY_ERROR_FORMAT);
  expect_error ("{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}", 4, MOR_NPY_ERROR_FORMAT);
  expect_error ("{'descr': 'aaaaaaaaaaaaaaaaaaaaaaaa', 'fortran_order': False, 'shape': (1,)}", 4,
                MOR_NPY_ERROR_FORMAT);
  expect_error ("{'descr': '<f\\x34', 'fortran_order': False, 'shape': (1,)}", 4, MOR_NPY_ERROR_FORMAT);
  /* sizes: overflow of a dimension, of the element count, of the bytes; data too short or too long */
  expect_error ("{'descr': '<f4', 'fortran_order': False, 'shape': (18446744073709551616,)}", 4,
                MOR_NPY_ERROR_FORMAT);
  expect_error ("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}", 4,
                MOR_NPY_ERROR_FORMAT);
  expect_error ("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904,)}", 4,
                MOR_NPY_ERROR_FORMAT);
  expect_error ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", 23, MOR_NPY_ERROR_FORMAT);
  expect_error ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", 25, MOR_NPY_ERROR_FORMAT);
  expect_error ("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3)}", 1, MOR_NPY_ERROR_FORMAT);
  /* valid .npy that libmor does not read */
  expect_error ("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3)}", 24, MOR_NPY_ERROR_UNSUPPORTED);
  expect_error ("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3)}", 24, MOR_NPY_ERROR_UNSUPPORTED);
  expect_error ("{'descr': '<c8', 'fortran_order': False, 'shape': (1,)}", 8, MOR_NPY_ERROR_UNSUPPORTED);
  expect_error ("{'descr': '|O', 'fortran_order': False, 'shape': (1,)}", 8, MOR_NPY_ERROR_UNSUPPORTED);
  expect_error ("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}", 4,
                MOR_NPY_ERROR_UNSUPPORTED);
  expect_error ("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1)}", 4,
                MOR_NPY_ERROR_UNSUPPORTED);

  /* the preamble: magic, version, header length; a NUL in the header */
  g_autoptr (GError) error = NULL;
  g_assert_null (parse ("\x93NUMPZ\x01\x00\x00\x00", 10, &error));
  g_assert_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_FORMAT);
  g_clear_error (&error);
  g_assert_null (parse ("\x93NUMPY\x04\x00\x00\x00", 10, &error));
  g_assert_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_UNSUPPORTED);
  g_clear_error (&error);
  g_assert_null (parse ("\x93NUMPY\x01\x01\x00\x00", 10, &error));
  g_assert_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_UNSUPPORTED);
  g_clear_error (&error);
  g_assert_null (parse ("\x93NUMPY\x01\x00\x05\x00{}", 12, &error));
  g_assert_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_FORMAT);
  g_clear_error (&error);
  g_assert_null (parse ("\x93NUMPY\x02\x00\x02\x00", 10, &error));
  g_assert_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_FORMAT);
  g_clear_error (&error);
  g_assert_null (parse ("\x93NUMPY\x01\x00\x03\x00{\0}", 13, &error));
  g_assert_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_FORMAT);
  g_clear_error (&error);

  /* every truncation of a valid file */
  const guint64 shape[] = { 3, 5 };
  float data[15] = { 0 };
  g_autoptr (GBytes) f = mor_npy_to_bytes (MOR_NPY_F32, 2, shape, data);
  gsize size;
  const guint8 *p = g_bytes_get_data (f, &size);
  for (gsize len = 0; len < size; len++) {
    g_autoptr (MorNpy) a = parse (p, len, &error);
    g_assert_null (a);
    g_assert_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_FORMAT);
    g_clear_error (&error);
  }
  /* every byte of the header changed: fails cleanly or still parses to something consistent */
  g_autofree guint8 *copy = g_memdup2 (p, size);
  for (gsize i = 0; i < 128; i++) {
    for (guint v = 0; v < 256; v += 7) {
      guint8 saved = copy[i];
      copy[i] = (guint8) v;
      g_autoptr (MorNpy) a = parse (copy, size, &error);
      if (a)
        g_assert_cmpuint (a->n * mor_npy_dtype_size (a->dtype), <=, size);
      else
        g_assert_nonnull (error);
      g_clear_error (&error);
      copy[i] = saved;
    }
  }
}

static void
test_check (void)
{
  const guint64 shape[] = { 4, 6 };
  float data[24] = { 0 };
  g_autoptr (GBytes) f = mor_npy_to_bytes (MOR_NPY_F32, 2, shape, data);
  g_autoptr (GError) error = NULL;
  g_autoptr (MorNpy) a = parse (g_bytes_get_data (f, NULL), g_bytes_get_size (f), &error);
  g_assert_no_error (error);
  const gint64 any_by_6[] = { -1, 6 }, four_by_5[] = { 4, 5 };
  g_assert_true (mor_npy_check (a, "a.npy", MOR_NPY_F32, 2, any_by_6, &error));
  g_assert_true (mor_npy_check (a, "a.npy", MOR_NPY_F32, 2, NULL, &error));
  g_assert_false (mor_npy_check (a, "a.npy", MOR_NPY_F32, 2, four_by_5, &error));
  g_assert_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_TYPE);
  g_assert_cmpstr (error->message, ==, "a.npy: expected a '<f4' array of shape (4, 5), got '<f4' (4, 6)");
  g_clear_error (&error);
  g_assert_false (mor_npy_check (a, "a.npy", MOR_NPY_I32, 1, NULL, &error));
  g_assert_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_TYPE);
  g_assert_cmpstr (error->message, ==, "a.npy: expected a '<i4' array of shape (?), got '<f4' (4, 6)");
}

static void
test_files (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("mor-npy-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *path = g_build_filename (dir, "a.npy", NULL);
  const guint64 shape[] = { 3 };
  const gint32 data[] = { 7, -1, 151645 };
  g_assert_true (mor_npy_save (path, MOR_NPY_I32, 1, shape, data, &error));
  g_assert_no_error (error);
  g_autoptr (MorNpy) a = mor_npy_load (path, &error);
  g_assert_no_error (error);
  g_assert_true (mor_npy_check (a, path, MOR_NPY_I32, 1, NULL, &error));
  g_assert_cmpmem (a->data, sizeof data, data, sizeof data);

  g_autofree char *missing = g_build_filename (dir, "missing.npy", NULL);
  g_assert_null (mor_npy_load (missing, &error));
  g_assert_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_IO);
  g_clear_error (&error);
  g_autofree char *empty = g_build_filename (dir, "empty.npy", NULL);
  g_assert_true (g_file_set_contents (empty, "", 0, NULL));
  g_assert_null (mor_npy_load (empty, &error));
  g_assert_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_FORMAT);
  g_clear_error (&error);
  g_autofree char *nodir = g_build_filename (dir, "no", "such", "dir.npy", NULL);
  g_assert_false (mor_npy_save (nodir, MOR_NPY_I32, 1, shape, data, &error));
  g_assert_error (error, MOR_NPY_ERROR, MOR_NPY_ERROR_IO);

  g_assert_cmpint (g_unlink (path), ==, 0);
  g_assert_cmpint (g_unlink (empty), ==, 0);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/npy/roundtrip", test_roundtrip);
  g_test_add_func ("/npy/numpy-bytes", test_numpy_bytes);
  g_test_add_func ("/npy/accepted", test_accepted);
  g_test_add_func ("/npy/hostile", test_hostile);
  g_test_add_func ("/npy/check", test_check);
  g_test_add_func ("/npy/files", test_files);
  return g_test_run ();
}
