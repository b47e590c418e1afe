/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Token records: the payload of application/x-mor-tokens (docs/elements.md).
 *
 * One record a buffer, little-endian, a 56-byte header then the payload:
 *
 *   off size field
 *    0   4   magic "MORT"
 *    4   2   version (1)
 *    6   2   kind: 1 prompt, 2 token
 *    8   4   header_size: bytes before the payload (56; a reader skips what it does not know)
 *   12   4   dim: floats in one hidden state or embedding (the thinker's hidden size)
 *   16   4   n_rows: prompt rows; 1 for a token
 *   20   4   answer: the answer's number (from 0, per element instance)
 *   24   4   stream: 0 response, 1 reasoning
 *   28   4   index: the token's index in its stream within the answer (0 for a prompt)
 *   32   4   cycle, 36 4 slot: where the token was scheduled (interleave.h; 0 for a prompt)
 *   40   4   token_id: i32 (-1 for a prompt)
 *   44   4   logprob: f32 (0 for a prompt)
 *   48   4   text_len: bytes of UTF-8 text at the end of the payload
 *   52   4   reserved, 0
 *
 * payload, prompt: n_rows i32 token ids (<|AUDIO|> for an audio row), then
 *   n_rows × dim f32 final-normed hidden states, then n_rows × dim f32 input
 *   embeddings (every row of the prompt, in order), then text_len bytes (0).
 * payload, token: dim f32 hidden state, dim f32 input embedding (of the row
 *   where the token was the input), then text_len bytes of its UTF-8 piece
 *   (possibly empty while a character is split across tokens).
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_MOR_RECORD_MAGIC "MORT"
#define GST_MOR_RECORD_VERSION 1
#define GST_MOR_RECORD_HEADER_SIZE 56

typedef enum {
  GST_MOR_RECORD_PROMPT = 1,
  GST_MOR_RECORD_TOKEN = 2,
} GstMorRecordKind;

/* A parsed record. The pointers point into the parsed bytes, which need not
 * be aligned: read values with GST_READ_FLOAT_LE / GST_READ_UINT32_LE or memcpy. */
typedef struct {
  GstMorRecordKind kind;
  guint32 dim, n_rows, answer, stream, index, cycle, slot;
  gint32 token_id;
  float logprob;
  const guint8 *ids;        /* n_rows little-endian i32 (prompt), else NULL */
  const guint8 *hidden;     /* n_rows × dim little-endian f32 */
  const guint8 *embedding;  /* n_rows × dim little-endian f32 */
  const char *text;         /* text_len bytes, not NUL-terminated */
  guint32 text_len;
} GstMorRecord;

/* A token record's buffer: @hidden, @embedding of @dim floats, @text of @text_len bytes. */
GstBuffer *gst_mor_record_new_token (guint32 dim, guint32 answer, guint32 stream, guint32 index, guint32 cycle,
                                     guint32 slot, gint32 token_id, float logprob, const float *hidden,
                                     const float *embedding, const char *text, gsize text_len);
/* A prompt record's buffer of @n_rows rows: @ids (n_rows), @hidden and @embedding (n_rows × dim). */
GstBuffer *gst_mor_record_new_prompt (guint32 dim, guint32 answer, guint32 stream, guint32 n_rows,
                                      const gint32 *ids, const float *hidden, const float *embedding);

/**
 * gst_mor_record_parse:
 * @data: (array length=size): a record, as one buffer holds it
 * @size: its bytes
 * @record: (out): the fields; pointers into @data
 * @error: return location for a #GError, or %NULL
 *
 * Checks the magic, version, kind, header size and that every count fits
 * @size exactly (no overflow, no trailing bytes).
 * Returns: FALSE with GST_STREAM_ERROR_DECODE naming what is wrong.
 */
gboolean gst_mor_record_parse (const guint8 *data, gsize size, GstMorRecord *record, GError **error);

G_END_DECLS
