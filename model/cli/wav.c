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
