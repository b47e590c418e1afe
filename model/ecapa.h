/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The ECAPA-TDNN speaker encoder of Qwen2.5-Omni's token2wav DiT
 * (input_embed.spk_encoder) on Vulkan, with its C reference.
 *
 * It turns a speaker's reference mel [T, mel_dim] into one enc_dim vector that
 * conditions every DiT frame. It runs once per speaker (the caller caches the
 * result, see MorDitSpeaker in dit.h), so a call allocates and records its
 * own buffers.
 *
 * Phases: mor_ecapa_load() (keys mor.dit.enc_*, tensors t2w.dit.ecapa.*) →
 * mor_ecapa_compute() per reference mel → mor_ecapa_free().
 *
 * The forward pass (transformers ECAPA_TimeDelayNet), channels first [C, T],
 * every Conv1d with padding "same" in reflect mode:
 *   TDNN(x)        = ReLU(conv(x))
 *   h0             = TDNN_k0(mel)
 *   hᵢ (i ≥ 1)     = SE(TDNN₁(Res2Net(TDNN₁(hᵢ₋₁)))) + hᵢ₋₁, Res2Net: channel
 *                    parts y₀ = x₀, y₁ = TDNN(x₁), y_j = TDNN(x_j + y_j₋₁);
 *                    SE(x) = x · σ(conv(ReLU(conv(mean_T x))))
 *   m              = TDNN(cat(h₁ … h_{n−2}))           (multi-layer aggregation)
 *   attentive statistics pooling: a = softmax_T(conv(tanh(TDNN(cat(m, μ, σ)))))
 *                    with μ, σ the plain mean and std of m over T; out (μₐ, σₐ)
 *   speaker vector = conv₁(μₐ, σₐ)                       [enc_dim]
 */
#pragma once

#include "gguf.h"
#include "vk.h"

G_BEGIN_DECLS

#define MOR_ECAPA_ERROR (mor_ecapa_error_quark ())
GQuark mor_ecapa_error_quark (void);

typedef enum {
  MOR_ECAPA_ERROR_FAILED,
  MOR_ECAPA_ERROR_CONFIG,     /* a missing or inconsistent hyper-parameter */
  MOR_ECAPA_ERROR_INPUT,      /* a reference mel too short for the reflect padding, or not finite */
} MorEcapaError;

#define MOR_ECAPA_MAX_BLOCKS 8  /* entries of enc_channels */

/* Hyper-parameters, Hugging Face names (Qwen2_5OmniDiTConfig), read from mor.dit.*. */
typedef struct {
  guint32 mel_dim;                                /* mel bands of the reference mel (80) */
  guint32 enc_dim;                                /* output width (128) */
  guint32 n_blocks;                               /* entries of the three lists below (5) */
  guint32 enc_channels[MOR_ECAPA_MAX_BLOCKS];     /* [256, 256, 256, 256, 768] */
  guint32 enc_kernel_sizes[MOR_ECAPA_MAX_BLOCKS]; /* [5, 3, 3, 3, 1] */
  guint32 enc_dilations[MOR_ECAPA_MAX_BLOCKS];    /* [1, 2, 3, 4, 1] */
  guint32 enc_attention_channels;                 /* 64 */
  guint32 enc_res2net_scale;                      /* 2 */
  guint32 enc_se_channels;                        /* 64 */
} MorEcapaConfig;

typedef struct _MorEcapa MorEcapa;

/**
 * mor_ecapa_load:
 * @dev: the device to run on
 * @gguf: a talker.gguf (or one-file model) holding the DiT
 * @error: return location for a #GError, or %NULL
 *
 * Checks the keys (MOR_ECAPA_ERROR_CONFIG) and every tensor's shape
 * (MOR_GGUF_ERROR_NOT_FOUND / _TYPE, naming the tensor), then uploads them.
 *
 * Returns: (transfer full): the encoder, or %NULL with @error set
 */
MorEcapa *mor_ecapa_load (MorVkDevice *dev, MorGguf *gguf, GError **error);
void mor_ecapa_free (MorEcapa *e);
const MorEcapaConfig *mor_ecapa_get_config (MorEcapa *e);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorEcapa, mor_ecapa_free)

/* The fewest frames a reference mel needs: PyTorch's reflect padding wants
 * every pad shorter than the input. */
guint32 mor_ecapa_min_frames (MorEcapa *e);

/* Checks a reference mel [n_frames, mel_dim]: MOR_ECAPA_ERROR_INPUT for fewer
 * than mor_ecapa_min_frames() frames or a value that is not finite. */
gboolean mor_ecapa_check_input (MorEcapa *e, const float *ref_mel, guint32 n_frames, GError **error);

/**
 * mor_ecapa_compute:
 * @e: the encoder
 * @ref_mel: (array): [n_frames, mel_dim] floats, frame after frame (the layout
 *   of spk.<name>.ref_mel and of transformers' [1, T, 80])
 * @n_frames: frames, at least mor_ecapa_min_frames()
 * @out: (out caller-allocates): [enc_dim] floats
 * @error: return location for a #GError, or %NULL
 *
 * The speaker vector on the device. Errors: MOR_ECAPA_ERROR_INPUT for too few
 * frames or a value that is not finite; a device error.
 *
 * Returns: TRUE on success
 */
gboolean mor_ecapa_compute (MorEcapa *e, const float *ref_mel, guint32 n_frames, float *out, GError **error);

/* The C reference: the same sequence of ops on the host, on input that
 * mor_ecapa_check_input() accepted. */
void mor_ecapa_reference_forward (MorEcapa *e, const float *ref_mel, guint32 n_frames, float *out);

G_END_DECLS
