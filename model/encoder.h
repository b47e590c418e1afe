/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The audio encoder of Qwen2.5-Omni (thinker.audio_tower, Whisper-like) on
 * Vulkan, streaming, with its C reference.
 *
 * Phases:
 *  1. load    mor_encoder_load() reads llama.cpp's mmproj layout (projector
 *             `qwen2.5o` or `qwen2a`, keys clip.audio.*, tensors a.* and
 *             mm.a.*): a published mmproj of Qwen2.5-Omni (its vision half is
 *             ignored), the converter's encoder.gguf, or its one-file output.
 *  2. session mor_encoder_session_new() allocates the activations and the
 *             log-mel stream, and records the forward pass of one chunk.
 *  3. stream  mor_encoder_session_push() takes samples as they arrive and
 *             encodes each chunk of 2 s (200 mel frames) as soon as its
 *             samples are in: 50 rows a chunk, 25 a second.
 *             mor_encoder_session_finish() ends the utterance: the tail, then
 *             any chunk whose log-mel changed once the utterance's max was
 *             known is encoded again (mor_encoder_session_first_revised()).
 *             After finish the rows are exactly those of the whole utterance.
 *     or whole: mor_encoder_session_encode_mel() on given features, or
 *             mor_encoder_encode() from samples.
 *  4. free.
 * A MorEncoder may serve several sessions; a session is used by one thread at
 * a time.
 *
 * The forward pass of one chunk (transformers Qwen2_5OmniAudioEncoder): chunks
 * are independent sequences — zero padding of both convolutions at the chunk
 * edges, positions from 0, attention within the chunk; average pooling by 2 runs
 * over the utterance's concatenated chunk outputs, which pools every chunk on
 * its own because a full chunk has an even n_window frames after conv2 (an odd
 * n_window is refused); then ln_post and the projection to the thinker's width.
 */
#pragma once

#include "gguf.h"
#include "mel.h"
#include "vk.h"

G_BEGIN_DECLS

#define MOR_ENCODER_ERROR (mor_encoder_error_quark ())
GQuark mor_encoder_error_quark (void);

typedef enum {
  MOR_ENCODER_ERROR_FAILED,
  MOR_ENCODER_ERROR_PROJECTOR,  /* no clip projector type, or not a Qwen2.5-Omni audio encoder */
  MOR_ENCODER_ERROR_CONFIG,     /* a missing or inconsistent hyper-parameter */
} MorEncoderError;

/* Hyper-parameters, Hugging Face names (Qwen2_5OmniAudioEncoderConfig), read from GGUF. */
typedef struct {
  char projector_type[16];      /* clip.projector_type (or clip.audio.projector_type): qwen2.5o, qwen2a */
  guint32 num_mel_bins;         /* clip.audio.num_mel_bins (128) */
  guint32 d_model;              /* clip.audio.embedding_length (1280) */
  guint32 encoder_ffn_dim;      /* clip.audio.feed_forward_length (5120) */
  guint32 encoder_layers;       /* clip.audio.block_count (32) */
  guint32 encoder_attention_heads; /* clip.audio.attention.head_count (20) */
  guint32 head_dim;             /* d_model / encoder_attention_heads (64) */
  guint32 output_dim;           /* rows of mm.a.fc.weight: the thinker's hidden_size (2048, 3584) */
  guint32 max_source_positions; /* rows of a.position_embd.weight (1500) */
  guint32 n_window;             /* mor.encoder.n_window, default 100: chunks of 2·n_window mel frames */
  float layer_norm_eps;         /* clip.audio.attention.layer_norm_epsilon (1e-5) */
} MorEncoderConfig;

typedef struct _MorEncoder MorEncoder;
typedef struct _MorEncoderSession MorEncoderSession;

MorEncoder *mor_encoder_load (MorVkDevice *dev, MorGguf *gguf, GError **error);
void mor_encoder_free (MorEncoder *enc);
const MorEncoderConfig *mor_encoder_get_config (MorEncoder *enc);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorEncoder, mor_encoder_free)

/* Rows for @n_frames mel frames (transformers _get_feat_extract_output_lengths):
 * a = (n_frames − 1) / 2 + 1 after conv2, then a / 2 after pooling; 0 for
 * fewer than 3 frames (under 321 samples). */
guint32 mor_encoder_n_rows (guint32 n_frames);

/* A session for utterances of at most @max_samples samples (0: the 300-s
 * canvas). Returns: (transfer full): the session, or %NULL with @error set */
MorEncoderSession *mor_encoder_session_new (MorEncoder *enc, guint64 max_samples, GError **error);
void mor_encoder_session_free (MorEncoderSession *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorEncoderSession, mor_encoder_session_free)

/* Forgets the utterance (samples and rows). */
void mor_encoder_session_reset (MorEncoderSession *s);

/* Appends @n samples (16 kHz mono float, [-1, 1]) to the utterance and encodes
 * every chunk they complete (its rows provisional: normalised with the log-mel
 * max so far). Samples past the session's capacity are dropped. Errors: a
 * sample that is not finite (MOR_MEL_ERROR_INPUT, nothing appended), a
 * device error. Programmer error after finish without a reset. */
gboolean mor_encoder_session_push (MorEncoderSession *s, const float *samples, gsize n, GError **error);

/* Ends the utterance: encodes the rest and every earlier chunk whose log-mel
 * the final max changed. Afterwards there are mor_encoder_n_rows (frames) rows,
 * equal bit for bit to encoding the whole utterance at once. */
gboolean mor_encoder_session_finish (MorEncoderSession *s, GError **error);

/* The whole utterance from its log-mel @mel [num_mel_bins, @n_frames] (what
 * mor_mel_compute() gives), replacing the session's rows. */
gboolean mor_encoder_session_encode_mel (MorEncoderSession *s, const float *mel, guint32 n_frames,
                                         GError **error);

/* Rows so far: [n_rows, output_dim], valid until the next call on the session
 * (NULL before the first row). Returns: (transfer none) */
guint32 mor_encoder_session_n_rows (MorEncoderSession *s);
const float *mor_encoder_session_get_rows (MorEncoderSession *s);
/* After finish: rows before this one are exactly those push gave; rows from it
 * on are new or replaced (it is the number of rows push gave when finish only
 * appended). The element re-sends from here, and when it is below what was sent,
 * the thinker must drop those rows from its context first (docs/mel.md). */
guint32 mor_encoder_session_first_revised (MorEncoderSession *s);

/* The whole utterance from samples, in one call (`mor encode`).
 * Returns: (transfer full): [*n_rows, output_dim] floats (NULL for 0 rows or on
 * error; check @error) */
float *mor_encoder_encode (MorEncoder *enc, const float *samples, guint64 n, guint32 *n_rows,
                           GError **error);

/* The C reference forward: the same sequence of ops on the host, chunk by
 * chunk, then pooling, ln_post and the projection over the concatenated chunk
 * outputs as transformers does. @mel [num_mel_bins, @n_frames]; @out
 * [mor_encoder_n_rows (n_frames), output_dim]. Slow; for tests and checks. */
void mor_encoder_reference_forward (MorEncoder *enc, const float *mel, guint32 n_frames, float *out);

G_END_DECLS
