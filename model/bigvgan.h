/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The BigVGAN vocoder of Qwen2.5-Omni's token2wav (code2wav_bigvgan_model) on
 * Vulkan, with its C reference: a mel spectrogram (natural-log amplitude, what
 * the DiT writes) to a waveform at 24 kHz.
 *
 * Phases:
 *  1. load    mor_bigvgan_load() reads the mor.bigvgan.* keys and t2w.bigvgan.*
 *             tensors of a talker.gguf (docs/model-format.md) and computes the
 *             anti-aliasing filter (not in the file).
 *  2. session mor_bigvgan_session_new() allocates the activations for windows
 *             of up to max_frames mel frames.
 *  3. vocode  mor_bigvgan_session_vocode(): one window, [mel_dim, T] → T·hop
 *             samples. Nothing is allocated; the forward pass is recorded
 *             again only when T differs from the previous call's.
 *     or stream mor_bigvgan_session_stream_push(): mel chunks as the DiT makes
 *             them, each vocoded with the frames before it as left context;
 *             returns the samples to play (reference qwen2.5-omni.md §6c).
 *  4. free.
 * A MorBigvgan may serve several sessions; a session is used by one thread at
 * a time.
 *
 * The forward pass (transformers Qwen2_5OmniToken2WavBigVGANModel.forward):
 *   x = process_mel_spectrogram(mel)       dB, normalised to [-1, 1] (host)
 *   x = conv_pre(x)                        Conv1d(mel_dim → c0, k 7, padding 3)
 *   for each upsampler i:
 *     x = ups[i](x)                        ConvTranspose1d(c_i → c_i/2, k_i, rate r_i, padding (k_i − r_i)/2)
 *     x = Σ_j AMPBlock_j(x) / n_kernels    one AMPBlock per resblock kernel size
 *   x = conv_post(act_post(x))             anti-aliased SnakeBeta, Conv1d(c_last → 1, k 7, padding 3, no bias)
 *   y = clamp(x, −1, 1)                    (host, as the samples are read out)
 * AMPBlock(k, dilations d0..d2): for m < 3, x += conv2_m(act(conv1_m(act(x))))
 * with conv1_m of dilation d_m and conv2_m of dilation 1, both "same" padded;
 * act is TorchActivation1d(SnakeBeta): Kaiser-sinc upsampling ×2, SnakeBeta,
 * downsampling ×2 (the fused op fir_snake_beta). The pre-processing and the
 * clamp are the same host code in the Vulkan and the C reference paths.
 */
#pragma once

#include "gguf.h"
#include "vk.h"

G_BEGIN_DECLS

#define MOR_BIGVGAN_ERROR (mor_bigvgan_error_quark ())
GQuark mor_bigvgan_error_quark (void);

typedef enum {
  MOR_BIGVGAN_ERROR_FAILED,
  MOR_BIGVGAN_ERROR_CONFIG,     /* a missing or inconsistent hyper-parameter */
  MOR_BIGVGAN_ERROR_INPUT,      /* a mel window of the wrong size, or with a NaN */
} MorBigvganError;

#define MOR_BIGVGAN_MAX_UPSAMPLES 8   /* upsample_rates entries libmor accepts */
#define MOR_BIGVGAN_MAX_KERNELS 8     /* resblock_kernel_sizes entries libmor accepts */
#define MOR_BIGVGAN_N_DILATIONS 3     /* convs per AMPBlock (transformers builds exactly 3) */

/* Hyper-parameters, Hugging Face names (Qwen2_5OmniBigVGANConfig), read from mor.bigvgan.*. */
typedef struct {
  guint32 mel_dim;                      /* mel bands (80) */
  guint32 upsample_initial_channel;     /* c0, channels after conv_pre (1536); halved by every upsampler */
  guint32 n_upsamples;                  /* len(upsample_rates) (6) */
  guint32 upsample_rates[MOR_BIGVGAN_MAX_UPSAMPLES];        /* [5, 3, 2, 2, 2, 2] */
  guint32 upsample_kernel_sizes[MOR_BIGVGAN_MAX_UPSAMPLES]; /* [11, 7, 4, 4, 4, 4] */
  guint32 n_kernels;                    /* len(resblock_kernel_sizes) (3): AMPBlocks per upsampler */
  guint32 resblock_kernel_sizes[MOR_BIGVGAN_MAX_KERNELS];   /* [3, 7, 11] */
  guint32 resblock_dilation_sizes[MOR_BIGVGAN_MAX_KERNELS][MOR_BIGVGAN_N_DILATIONS]; /* [1, 3, 5] each */
  guint32 hop;                          /* samples per mel frame: the product of upsample_rates (240) */
  guint32 sample_rate;                  /* MOR_BIGVGAN_FRAME_RATE · hop (24000 Hz) */
} MorBigvganConfig;

/* Mel frames per second: the DiT's 50 codes a second, each repeated twice. */
#define MOR_BIGVGAN_FRAME_RATE 100

/* The anti-aliased SnakeBeta of transformers' TorchActivation1d: ratio 2 up and
 * down, 12-tap Kaiser-sinc filter (cutoff 0.5/ratio, half-width 0.6/ratio);
 * fixed in its code, not in the config. */
#define MOR_BIGVGAN_ACT_RATIO 2
#define MOR_BIGVGAN_ACT_TAPS 12

typedef struct _MorBigvgan MorBigvgan;
typedef struct _MorBigvganSession MorBigvganSession;

MorBigvgan *mor_bigvgan_load (MorVkDevice *dev, MorGguf *gguf, GError **error);
void mor_bigvgan_free (MorBigvgan *bv);
const MorBigvganConfig *mor_bigvgan_get_config (MorBigvgan *bv);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorBigvgan, mor_bigvgan_free)

/* A session for windows of at most @max_frames mel frames (≥ 1).
 * Returns: (transfer full): the session, or %NULL with @error set */
MorBigvganSession *mor_bigvgan_session_new (MorBigvgan *bv, guint32 max_frames, GError **error);
void mor_bigvgan_session_free (MorBigvganSession *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorBigvganSession, mor_bigvgan_session_free)
guint32 mor_bigvgan_session_max_frames (MorBigvganSession *s);

/* Vocodes @n_frames frames of @mel [mel_dim, n_frames], band m's frames at
 * mel + m·@mel_stride (mel_stride ≥ n_frames; n_frames for a packed array).
 * Errors: MOR_BIGVGAN_ERROR_INPUT for 0 frames, more than the session's
 * max_frames, or a NaN (nothing is computed); a device error.
 * Returns: (transfer none): n_frames·hop samples in [-1, 1], valid until the
 * next call on the session; %NULL with @error set on failure */
const float *mor_bigvgan_session_vocode (MorBigvganSession *s, const float *mel, guint32 n_frames,
                                         guint32 mel_stride, GError **error);

/* Streaming, reference qwen2.5-omni.md §6c (Qwen's official chunking: overlap
 * 20). Each push vocodes [up to 2·overlap frames pushed before | the new
 * frames] and returns the samples from where the previous push stopped to
 * @overlap frames before the window's end (to its end when @last): every
 * sample but the utterance's first and last frames' is computed with at least
 * @overlap frames of context on both sides. For chunks of N frames the session
 * needs max_frames ≥ N + 2·overlap. The concatenation differs from vocoding the
 * whole utterance at once (a window sees finite context; tests/bigvgan.c
 * measures it). */
void mor_bigvgan_session_stream_reset (MorBigvganSession *s, guint32 overlap);
/* Pushes @n_frames new frames (layout as for vocode; 0 allowed with @last).
 * After @last the stream must be reset before the next push.
 * Returns: (transfer none): *@n_samples samples (possibly 0; then a pointer
 * that must not be read), valid until the next call; %NULL with @error set
 * (the stream is then unchanged) */
const float *mor_bigvgan_session_stream_push (MorBigvganSession *s, const float *mel, guint32 n_frames,
                                              guint32 mel_stride, gboolean last, guint64 *n_samples,
                                              GError **error);

/* The C reference forward: the same ops on the host. @mel as for vocode (no
 * checks: 1 ≤ n_frames, no NaN); @out [n_frames·hop]. Slow; for tests. */
void mor_bigvgan_reference_forward (MorBigvgan *bv, const float *mel, guint32 n_frames, guint32 mel_stride,
                                    float *out);

/* The real-time factor (wall time of a vocode call / the audio it makes, at
 * sample_rate) for windows of @n_frames random frames: the median of @n_runs
 * calls after one warm-up; @ms_per_window (optional) gets that median in ms. */
gboolean mor_bigvgan_measure_rtf (MorBigvgan *bv, guint32 n_frames, guint n_runs, double *rtf,
                                  double *ms_per_window, GError **error);

G_END_DECLS
