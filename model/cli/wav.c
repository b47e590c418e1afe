/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A strict WAV reader (see wav.h). */
#include "wav.h"

#include <string.h>

static guint32
u32le (const guint8 *p)
{
  return p[0] | p[1] << 8 | p[2] << 16 | (guint32) p[3] << 24;
}

static guint16
u16le (const guint8 *p)
{
  return p[0] | p[1] << 8;
}

float *
mor_wav_read (const char *path, guint32 rate, guint64 *n, GError **error)
{
  g_autofree guint8 *d = NULL;
  gsize size;
  if (!g_file_get_contents (path, (char **) &d, &size, error))
    return NULL;
  if (size < 12 || memcmp (d, "RIFF", 4) != 0 || memcmp (d + 8, "WAVE", 4) != 0) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "“%s” is not a RIFF/WAVE file", path);
    return NULL;
  }
  guint16 format = 0, channels = 0, bits = 0;
  guint32 file_rate = 0;
  const guint8 *data = NULL;
  gsize data_size = 0;
  for (gsize off = 12; off + 8 <= size;) {
    guint32 len = u32le (d + off + 4);
    if (len > size - off - 8) {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "“%s”: chunk “%.4s” of %u bytes runs past the end of the file", path, d + off, len);
      return NULL;
    }
    const guint8 *body = d + off + 8;
    if (memcmp (d + off, "fmt ", 4) == 0 && len >= 16) {
      format = u16le (body);
      channels = u16le (body + 2);
      file_rate = u32le (body + 4);
      bits = u16le (body + 14);
      if (format == 0xFFFE && len >= 26) /* WAVE_FORMAT_EXTENSIBLE: the sub-format's first two bytes */
        format = u16le (body + 24);
    } else if (memcmp (d + off, "data", 4) == 0) {
      data = body;
      data_size = len;
    }
    off += 8 + len + (len & 1);
  }
  gboolean pcm16 = format == 1 && bits == 16, f32 = format == 3 && bits == 32;
  if (!data || channels == 0 || !(pcm16 || f32)) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                 "“%s”: expected 16-bit PCM or 32-bit float audio (format %u, %u bits, %u channels%s)",
                 path, format, bits, channels, data ? "" : ", no data chunk");
    return NULL;
  }
  if (file_rate != rate) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                 "“%s” is sampled at %u Hz; mor needs %u Hz (e.g. sox IN.wav -r %u OUT.wav)", path, file_rate,
                 rate, rate);
    return NULL;
  }
  gsize frame = (gsize) channels * bits / 8;
  *n = data_size / frame;
  float *out = g_new (float, *n ? *n : 1);
  for (guint64 i = 0; i < *n; i++) {
    float sum = 0;
    for (guint c = 0; c < channels; c++) {
      const guint8 *p = data + i * frame + c * bits / 8;
      if (pcm16) {
        sum += (gint16) u16le (p) / 32768.0f;
      } else {
        float v;
        memcpy (&v, p, 4);
        sum += v;
      }
    }
    out[i] = sum / channels;
  }
  return out;
}

static guint8 *
put_u32 (guint8 *p, guint32 v)
{
  p[0] = v & 0xff, p[1] = (v >> 8) & 0xff, p[2] = (v >> 16) & 0xff, p[3] = v >> 24;
  return p + 4;
}

static guint8 *
put_u16 (guint8 *p, guint16 v)
{
  p[0] = v & 0xff, p[1] = v >> 8;
  return p + 2;
}

static guint8 *
put_tag (guint8 *p, const char *tag)
{
  memcpy (p, tag, 4);
  return p + 4;
}

gboolean
mor_wav_write (const char *path, guint32 rate, const float *samples, guint64 n, GError **error)
{
  guint64 data_size = n * 4;
  if (data_size > G_MAXUINT32 - 64) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%" G_GUINT64_FORMAT " samples do not fit a WAV file", n);
    return FALSE;
  }
  /* RIFF header, fmt (IEEE float, mono, 32-bit), fact (samples; required for non-PCM), data. */
  gsize size = 12 + 8 + 16 + 8 + 4 + 8 + data_size;
  g_autofree guint8 *d = g_malloc (size);
  guint8 *p = put_tag (d, "RIFF");
  p = put_u32 (p, (guint32) (size - 8));
  p = put_tag (put_tag (p, "WAVE"), "fmt ");
  p = put_u32 (p, 16);
  p = put_u16 (p, 3);           /* WAVE_FORMAT_IEEE_FLOAT */
  p = put_u16 (p, 1);           /* channels */
  p = put_u32 (p, rate);
  p = put_u32 (p, rate * 4);    /* bytes a second */
  p = put_u16 (p, 4);           /* block align */
  p = put_u16 (p, 32);          /* bits a sample */
  p = put_u32 (put_tag (p, "fact"), 4);
  p = put_u32 (p, (guint32) n);
  p = put_u32 (put_tag (p, "data"), (guint32) data_size);
  for (guint64 i = 0; i < n; i++) {
    guint32 bits;
    memcpy (&bits, samples + i, 4);
    p = put_u32 (p, bits);
  }
  return g_file_set_contents (path, (const char *) d, size, error);
}
