/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Token records of application/x-mor-tokens: writer and checked reader (layout in gstmorrecord.h). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstmorrecord.h"

#include <string.h>

static GstBuffer *
record_new (GstMorRecordKind kind, guint32 dim, guint32 n_rows, guint32 answer, guint32 stream, guint32 index,
            guint32 cycle, guint32 slot, gint32 token_id, float logprob, gsize text_len, GstMapInfo *map)
{
  gsize ids = kind == GST_MOR_RECORD_PROMPT ? (gsize) n_rows * 4 : 0;
  gsize size = GST_MOR_RECORD_HEADER_SIZE + ids + (gsize) n_rows * dim * 8 + text_len;
  GstBuffer *buf = gst_buffer_new_allocate (NULL, size, NULL);
  gst_buffer_map (buf, map, GST_MAP_WRITE);
  guint8 *h = map->data;
  memcpy (h, GST_MOR_RECORD_MAGIC, 4);
  GST_WRITE_UINT16_LE (h + 4, GST_MOR_RECORD_VERSION);
  GST_WRITE_UINT16_LE (h + 6, kind);
  GST_WRITE_UINT32_LE (h + 8, GST_MOR_RECORD_HEADER_SIZE);
  GST_WRITE_UINT32_LE (h + 12, dim);
  GST_WRITE_UINT32_LE (h + 16, n_rows);
  GST_WRITE_UINT32_LE (h + 20, answer);
  GST_WRITE_UINT32_LE (h + 24, stream);
  GST_WRITE_UINT32_LE (h + 28, index);
  GST_WRITE_UINT32_LE (h + 32, cycle);
  GST_WRITE_UINT32_LE (h + 36, slot);
  GST_WRITE_UINT32_LE (h + 40, (guint32) token_id);
  GST_WRITE_FLOAT_LE (h + 44, logprob);
  GST_WRITE_UINT32_LE (h + 48, (guint32) text_len);
  GST_WRITE_UINT32_LE (h + 52, 0);
  return buf;
}

static guint8 *
write_floats (guint8 *p, const float *x, gsize n)
{
  for (gsize i = 0; i < n; i++, p += 4)
    GST_WRITE_FLOAT_LE (p, x[i]);
  return p;
}

GstBuffer *
gst_mor_record_new_token (guint32 dim, guint32 answer, guint32 stream, guint32 index, guint32 cycle, guint32 slot,
                          gint32 token_id, float logprob, const float *hidden, const float *embedding,
                          const char *text, gsize text_len)
{
  g_return_val_if_fail (hidden != NULL && embedding != NULL, NULL);
  GstMapInfo map;
  GstBuffer *buf = record_new (GST_MOR_RECORD_TOKEN, dim, 1, answer, stream, index, cycle, slot, token_id,
                               logprob, text_len, &map);
  guint8 *p = map.data + GST_MOR_RECORD_HEADER_SIZE;
  p = write_floats (p, hidden, dim);
  p = write_floats (p, embedding, dim);
  if (text_len)
    memcpy (p, text, text_len);
  gst_buffer_unmap (buf, &map);
  return buf;
}

GstBuffer *
gst_mor_record_new_prompt (guint32 dim, guint32 answer, guint32 stream, guint32 n_rows, const gint32 *ids,
                           const float *hidden, const float *embedding)
{
  g_return_val_if_fail (n_rows == 0 || (ids != NULL && hidden != NULL && embedding != NULL), NULL);
  GstMapInfo map;
  GstBuffer *buf = record_new (GST_MOR_RECORD_PROMPT, dim, n_rows, answer, stream, 0, 0, 0, -1, 0.0f, 0, &map);
  guint8 *p = map.data + GST_MOR_RECORD_HEADER_SIZE;
  for (guint32 i = 0; i < n_rows; i++, p += 4)
    GST_WRITE_UINT32_LE (p, (guint32) ids[i]);
  p = write_floats (p, hidden, (gsize) n_rows * dim);
  write_floats (p, embedding, (gsize) n_rows * dim);
  gst_buffer_unmap (buf, &map);
  return buf;
}

gboolean
gst_mor_record_parse (const guint8 *data, gsize size, GstMorRecord *r, GError **error)
{
#define FAIL(...)                                                                  \
  G_STMT_START {                                                                   \
    g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_DECODE, __VA_ARGS__);   \
    return FALSE;                                                                  \
  } G_STMT_END
  if (size < GST_MOR_RECORD_HEADER_SIZE)
    FAIL ("Token record of %" G_GSIZE_FORMAT " bytes is shorter than its %u-byte header", size,
          GST_MOR_RECORD_HEADER_SIZE);
  if (memcmp (data, GST_MOR_RECORD_MAGIC, 4) != 0)
    FAIL ("Token record does not start with “" GST_MOR_RECORD_MAGIC "”");
  guint version = GST_READ_UINT16_LE (data + 4), kind = GST_READ_UINT16_LE (data + 6);
  guint32 header = GST_READ_UINT32_LE (data + 8);
  if (version != GST_MOR_RECORD_VERSION)
    FAIL ("Token record version %u; this reader knows version %u", version, GST_MOR_RECORD_VERSION);
  if (kind != GST_MOR_RECORD_PROMPT && kind != GST_MOR_RECORD_TOKEN)
    FAIL ("Token record kind %u is neither 1 (prompt) nor 2 (token)", kind);
  if (header < GST_MOR_RECORD_HEADER_SIZE || header > size)
    FAIL ("Token record header size %u is outside %u..%" G_GSIZE_FORMAT, header, GST_MOR_RECORD_HEADER_SIZE, size);
  GstMorRecord t = {
    .kind = kind,
    .dim = GST_READ_UINT32_LE (data + 12),
    .n_rows = GST_READ_UINT32_LE (data + 16),
    .answer = GST_READ_UINT32_LE (data + 20),
    .stream = GST_READ_UINT32_LE (data + 24),
    .index = GST_READ_UINT32_LE (data + 28),
    .cycle = GST_READ_UINT32_LE (data + 32),
    .slot = GST_READ_UINT32_LE (data + 36),
    .token_id = (gint32) GST_READ_UINT32_LE (data + 40),
    .logprob = GST_READ_FLOAT_LE (data + 44),
    .text_len = GST_READ_UINT32_LE (data + 48),
  };
  if (t.kind == GST_MOR_RECORD_TOKEN && t.n_rows != 1)
    FAIL ("Token record has %u rows; a token has 1", t.n_rows);
  if (t.stream > 1)
    FAIL ("Token record stream %u is neither 0 (response) nor 1 (reasoning)", t.stream);
  /* 64-bit sums of 32-bit counts cannot overflow. */
  guint64 ids = t.kind == GST_MOR_RECORD_PROMPT ? (guint64) t.n_rows * 4 : 0;
  guint64 rows = (guint64) t.n_rows * t.dim * 4;
  guint64 want = (guint64) header + ids + 2 * rows + t.text_len;
  if (want != size)
    FAIL ("Token record of %u rows of %u floats and %u text bytes takes %" G_GUINT64_FORMAT
          " bytes, the buffer has %" G_GSIZE_FORMAT, t.n_rows, t.dim, t.text_len, want, size);
  const guint8 *p = data + header;
  t.ids = ids ? p : NULL;
  t.hidden = p + ids;
  t.embedding = t.hidden + rows;
  t.text = (const char *) (t.embedding + rows);
  *r = t;
  return TRUE;
#undef FAIL
}
