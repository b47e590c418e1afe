/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Token2wav streaming: talker codes → 24 kHz speech in the block scheme of
 * Qwen's official streaming (reference qwen2.5-omni.md §6c), on the DiT
 * (model/dit.h) and BigVGAN (model/bigvgan.h).
 *
 * Each code is 2 mel frames (repeats). Chunk i of C = 72 frames covers frames
 * [C·i, C·(i+1)); the DiT samples the window [C·i − 48, C·(i+1) + 24) (clipped
 * to the utterance) from the utterance's noise at those frames, and the chunk's
 * C frames are kept; BigVGAN vocodes them after up to 40 frames of the chunks
 * before and returns the samples up to 20 frames before the window's end (all
 * of them for the last chunk). So chunk i needs the codes up to frame
 * C·(i+1) + 24 — 48 codes for the first — and its audio leaves before the
 * answer is complete. An answer of no codes makes no audio.
 *
 * The DiT's attention reaches 2 blocks (48 frames) back and 1 block (24) ahead
 * per evaluation, and BigVGAN's convolutions a few frames: a chunk sees enough
 * context for one evaluation but not for the 36 evaluations of the ODE, so the
 * stream differs slightly from token2wav on the whole answer at once (the
 * reference scheme's own approximation; tests/token2wav.c measures it).
 * With MOR_TOKEN2WAV_WHOLE the session waits for the last code and runs once.
 *
 * The noise is drawn once per answer for the session's longest answer
 * (mor_dit_noise(), frame after frame) and sliced, as transformers slices
 * randn([1, 30000, mel]): every window and the whole answer read the same
 * values of a frame, whatever the answer's length.
 */
#pragma once

#include "bigvgan.h"
#include "dit.h"
#include "gguf.h"
#include "vk.h"

G_BEGIN_DECLS

#define MOR_TOKEN2WAV_ERROR (mor_token2wav_error_quark ())
GQuark mor_token2wav_error_quark (void);

typedef enum {
  MOR_TOKEN2WAV_ERROR_FAILED,
  MOR_TOKEN2WAV_ERROR_SPEAKER,  /* no speaker of that name in the file */
  MOR_TOKEN2WAV_ERROR_LENGTH,   /* the answer is longer than the session allows */
} MorToken2WavError;

/* The official streaming constants, in mel frames (§6c). */
#define MOR_TOKEN2WAV_CHUNK 72
#define MOR_TOKEN2WAV_PAST 48
#define MOR_TOKEN2WAV_FUTURE 24
#define MOR_TOKEN2WAV_VOCODER_OVERLAP 20

typedef struct {
  MorDitSampleParams dit;       /* steps, guidance, solver */
  guint64 seed;                 /* the noise */
  gboolean whole;               /* no streaming: one DiT and one vocoder run on the whole answer */
} MorToken2WavParams;

typedef struct _MorToken2Wav MorToken2Wav;
typedef struct _MorToken2WavSession MorToken2WavSession;

/* The DiT (with ECAPA) and BigVGAN of a talker.gguf. */
MorToken2Wav *mor_token2wav_load (MorVkDevice *dev, MorGguf *gguf, GError **error);
void mor_token2wav_free (MorToken2Wav *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorToken2Wav, mor_token2wav_free)
MorDit *mor_token2wav_get_dit (MorToken2Wav *t);
MorBigvgan *mor_token2wav_get_bigvgan (MorToken2Wav *t);
/* Samples a second (24000), samples a code (480). */
guint32 mor_token2wav_sample_rate (MorToken2Wav *t);
guint32 mor_token2wav_samples_per_code (MorToken2Wav *t);

/* A session for answers of at most @max_codes codes. */
MorToken2WavSession *mor_token2wav_session_new (MorToken2Wav *t, guint32 max_codes, GError **error);
void mor_token2wav_session_free (MorToken2WavSession *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorToken2WavSession, mor_token2wav_session_free)

/* Starts an answer in @speaker's voice (NULL: the file's default; its ECAPA
 * vectors are computed once per speaker and kept), forgetting any earlier one. */
gboolean mor_token2wav_session_begin (MorToken2WavSession *s, const char *speaker,
                                      const MorToken2WavParams *params, GError **error);
/* Adds the answer's next @n codes. Errors: _LENGTH past max_codes,
 * MOR_DIT_ERROR_INPUT for a code the DiT has no row for (nothing is added then). */
gboolean mor_token2wav_session_push (MorToken2WavSession *s, const gint32 *codes, guint32 n, GError **error);
/* The codes are complete: the rest of the answer can be made. */
void mor_token2wav_session_end (MorToken2WavSession *s);
/* Makes the next chunk's audio if its codes are in. Returns: (transfer none)
 * *@n_samples samples (0 when nothing is ready or all is done: then a pointer
 * not to read), valid until the next call; NULL with @error set. */
const float *mor_token2wav_session_pull (MorToken2WavSession *s, guint64 *n_samples, GError **error);
/* Whether every sample of an ended answer has been pulled. */
gboolean mor_token2wav_session_is_done (MorToken2WavSession *s);

/* The answer's mel as made so far, [mel_dim, *@n_frames] channels first (for
 * --dump and tests). Returns: (transfer full) */
float *mor_token2wav_session_dup_mel (MorToken2WavSession *s, guint32 *n_frames);

G_END_DECLS
