/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The log-mel front end of Qwen2.5-Omni (WhisperFeatureExtractor as its
 * processor calls it) on Vulkan, whole-utterance and streaming, with its C
 * reference. The reasoning behind every choice here is in docs/mel.md.
 *
 * What the processor computes for an utterance of n samples at 16 kHz:
 *  - the audio is zero-padded on the right to a 300-s canvas of 4 800 000
 *    samples (longer audio is truncated), framed by torch.stft(center=True):
 *    reflect padding of 200 samples at both ends of the canvas, a periodic
 *    400-point Hann window every 160 samples; power |X|², the last of the
 *    30 001 frames dropped;
 *  - 128 Slaney mel bands over 0–8000 Hz (Slaney area normalisation);
 *  - L = log10(max(mel, 1e-10)); y = (max(L, max(L) − 8) + 4) / 4, with the
 *    max over every band and frame of the canvas;
 *  - the model sees the first ceil(n / 160) frames only.
 * Frames past ceil(n / 160) whose window still overlaps the audio (one or two)
 * can raise the max; every later frame is all zeros, L = −10, and cannot
 * (L ≥ −10 everywhere). So mor computes frames 0 .. ceil(n / 160) + 1 and
 * gets exactly the processor's features without the canvas.
 *
 * Phases:
 *  1. mor_mel_new() uploads the window, DFT twiddles and mel filters.
 *  2. Whole utterance: mor_mel_compute() → [n_mels, ceil(n / 160)].
 *     Streaming (the element): a MorMelStream takes samples as they come;
 *     mor_mel_stream_next_chunk() hands out each complete chunk of
 *     chunk_frames frames normalised with the max seen so far (provisional);
 *     mor_mel_stream_finish() ends the utterance, normalises every chunk with
 *     the final max — the whole-utterance result, bit for bit — and tells which
 *     chunks handed out earlier changed (mor_mel_stream_chunk_revised()).
 *  3. mor_mel_stream_reset() for the next utterance; free.
 *
 * Frames are computed in blocks of chunk_frames, each block's STFT from its
 * own window of samples, and every block of an utterance is normalised by one
 * log_mel_norm over all of them; the whole-utterance path is the streaming
 * path without provisional chunks, so both give the same bits.
 */
#pragma once

#include "vk.h"

G_BEGIN_DECLS

#define MOR_MEL_SAMPLE_RATE 16000
#define MOR_MEL_N_FFT 400          /* 25 ms window */
#define MOR_MEL_HOP 160            /* 10 ms: 100 frames a second */
#define MOR_MEL_MAX_SAMPLES 4800000 /* the processor's canvas: n_samples (chunk_length 300 s) */
#define MOR_MEL_MAX_FRAMES 30000   /* nb_max_frames: canvas frames after the last is dropped */

#define MOR_MEL_ERROR (mor_mel_error_quark ())
GQuark mor_mel_error_quark (void);

typedef enum {
  MOR_MEL_ERROR_FAILED,
  MOR_MEL_ERROR_INPUT,          /* a sample that is not a finite number */
} MorMelError;

typedef struct _MorMel MorMel;
typedef struct _MorMelStream MorMelStream;

MorMel *mor_mel_new (MorVkDevice *dev, guint32 n_mels, GError **error);
void mor_mel_free (MorMel *mel);
guint32 mor_mel_get_n_mels (MorMel *mel);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorMel, mor_mel_free)

/* Frames the model sees for @n_samples: ceil(min(n, MOR_MEL_MAX_SAMPLES) / 160)
 * (the processor's feature_attention_mask, the sample mask taken every 160th). */
guint32 mor_mel_n_frames (guint64 n_samples);

/* The whole utterance on the device: @out [n_mels, mor_mel_n_frames (n)]
 * (Hugging Face's input_features[0, :, :n_frames]). Samples past 300 s are
 * dropped as the processor truncates them. */
gboolean mor_mel_compute (MorMel *mel, const float *samples, guint64 n, float *out, GError **error);

/* The C reference of mor_mel_compute(): the same blocks and the same op
 * sequence on the host (mor_ref_stft_power, mor_ref_mel, mor_ref_log_mel_norm). */
void mor_mel_reference (guint32 n_mels, const float *samples, guint64 n, float *out);

/* ---- streaming ---- */

/* A stream of utterances of at most @max_samples samples (0: the 300-s canvas)
 * cut into chunks of @chunk_frames frames (the encoder's 200). Buffers are
 * allocated here, once. @mel must outlive the stream. */
MorMelStream *mor_mel_stream_new (MorMel *mel, guint32 chunk_frames, guint64 max_samples, GError **error);
void mor_mel_stream_free (MorMelStream *ms);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorMelStream, mor_mel_stream_free)

/* Forgets the utterance: the next samples start a new one. */
void mor_mel_stream_reset (MorMelStream *ms);

/* Appends @n samples (float, [-1, 1] full scale). Samples past the stream's
 * capacity are dropped (the processor truncates at 300 s). A NaN or infinite
 * sample fails with MOR_MEL_ERROR_INPUT and nothing is appended. Programmer
 * error after finish without a reset. */
gboolean mor_mel_stream_push (MorMelStream *ms, const float *samples, gsize n, GError **error);
/* Samples of the utterance so far (after the drop). */
guint64 mor_mel_stream_n_samples (MorMelStream *ms);

/* The next complete chunk (every sample its frames read has arrived: 40 past
 * its end), normalised with the max of everything computed so far.
 * Returns: (transfer none): [n_mels, chunk_frames], valid until the next reset,
 * with @chunk (optional) set to its index; NULL with no error when no chunk
 * is complete yet, NULL with @error on a device error. */
const float *mor_mel_stream_next_chunk (MorMelStream *ms, guint32 *chunk, GError **error);

/* Ends the utterance: the remaining frames and the one or two past its end,
 * then every chunk normalised with the final max. */
gboolean mor_mel_stream_finish (MorMelStream *ms, GError **error);

/* After finish: frames (mor_mel_n_frames of the samples) and chunks (the last
 * may be partial). */
guint32 mor_mel_stream_n_frames (MorMelStream *ms);
guint32 mor_mel_stream_n_chunks (MorMelStream *ms);
/* Chunk @k as finally normalised, [n_mels, *n_frames]. Returns: (transfer none),
 * valid until the next reset. */
const float *mor_mel_stream_get_chunk (MorMelStream *ms, guint32 k, guint32 *n_frames);
/* Whether chunk @k was handed out by next_chunk and its final values differ
 * in any bit (the final max is higher and some value of the chunk lies below
 * it − 8). */
gboolean mor_mel_stream_chunk_revised (MorMelStream *ms, guint32 k);

G_END_DECLS
