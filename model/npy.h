/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* NumPy .npy files: arrays in and out of the tools (`mor … -o OUT.npy`) and
 * the golden-value tests, readable by numpy.load() and written by numpy.save().
 *
 * Format (numpy/lib/format.py): "\x93NUMPY", version major.minor (1.0, 2.0 or
 * 3.0), a little-endian header length (u16 for 1.x, u32 after), a header that
 * is a Python dict literal {'descr': '<f4', 'fortran_order': False,
 * 'shape': (2, 3), } padded with spaces and a newline, then the elements in C
 * order.
 *
 * Reading trusts nothing in the file: the header is parsed, not evaluated;
 * every dimension and the data size are checked with overflow-safe arithmetic;
 * the data must be exactly as long as the shape says. Only plain numeric
 * little-endian dtypes in C order are read (no structured, object or Fortran-
 * order arrays). Writing produces the bytes numpy.save() writes (version
 * 1.0, header padded to 64 bytes) and replaces the file only once complete. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define MOR_NPY_ERROR (mor_npy_error_quark ())
GQuark mor_npy_error_quark (void);

typedef enum {
  MOR_NPY_ERROR_FAILED,       /* anything else */
  MOR_NPY_ERROR_IO,           /* the file could not be read or written */
  MOR_NPY_ERROR_FORMAT,       /* not a .npy file, or a malformed or truncated one */
  MOR_NPY_ERROR_UNSUPPORTED,  /* valid .npy that libmor does not read: dtype, byte order, Fortran order */
  MOR_NPY_ERROR_TYPE,         /* an array of another dtype or shape than asked for */
} MorNpyError;

typedef enum {
  MOR_NPY_U8,    /* '|u1' */
  MOR_NPY_I8,    /* '|i1' */
  MOR_NPY_I32,   /* '<i4' */
  MOR_NPY_U32,   /* '<u4' */
  MOR_NPY_I64,   /* '<i8' */
  MOR_NPY_F16,   /* '<f2' */
  MOR_NPY_F32,   /* '<f4' */
  MOR_NPY_F64,   /* '<f8' */
} MorNpyDtype;

#define MOR_NPY_MAX_DIMS 8

/* An array as read: elements in C order, little-endian (the host's order). */
typedef struct {
  MorNpyDtype dtype;
  guint ndim;                        /* 0 for a scalar */
  guint64 shape[MOR_NPY_MAX_DIMS];
  guint64 n;                         /* elements: the product of shape (1 for a scalar) */
  gpointer data;                     /* n elements, owned, aligned for any type (NULL if n is 0) */
} MorNpy;

/* numpy's descr ("<f4", …) and element size of @dtype. */
const char *mor_npy_dtype_descr (MorNpyDtype dtype);
gsize mor_npy_dtype_size (MorNpyDtype dtype);

/* Reads @path. Errors: IO, FORMAT, UNSUPPORTED; the message names the file. */
MorNpy *mor_npy_load (const char *path, GError **error);
/* The same from bytes in memory; @name is used in messages. */
MorNpy *mor_npy_new_from_data (const guint8 *data, gsize size, const char *name, GError **error);
void mor_npy_free (MorNpy *a);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorNpy, mor_npy_free)

/* Checks that @a has @dtype and @ndim dimensions, and, where @shape is not
 * NULL, each shape[i] that is not -1. MOR_NPY_ERROR_TYPE otherwise, the
 * message starting with @what (e.g. the file name). */
gboolean mor_npy_check (const MorNpy *a, const char *what, MorNpyDtype dtype, guint ndim, const gint64 *shape,
                        GError **error);

/* The complete file for an array of @dtype, @ndim dimensions of @shape (C
 * order; @data holds their product of elements). */
GBytes *mor_npy_to_bytes (MorNpyDtype dtype, guint ndim, const guint64 *shape, gconstpointer data);
/* Writes it to @path (written beside it, then renamed). Error: IO. */
gboolean mor_npy_save (const char *path, MorNpyDtype dtype, guint ndim, const guint64 *shape, gconstpointer data,
                       GError **error);

G_END_DECLS
