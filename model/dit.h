/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The token2wav DiT of Qwen2.5-Omni (token2wav.code2wav_dit_model): codec
 * codes → natural-log mel spectrogram by flow matching, on Vulkan in fp32,
 * with its C reference.
 *
 * Phases:
 *  1. load     mor_dit_load() reads keys mor.dit.* and tensors t2w.dit.* of a
 *              talker.gguf (docs/model-format.md), with the ECAPA-TDNN speaker
 *              encoder (ecapa.h).
 *  2. speaker  mor_dit_speaker_load() turns spk.<name>.cond and .ref_mel into a
 *              MorDitSpeaker: ECAPA runs twice (on the reference mel and, for
 *              the guidance's null branch, on zeros of its length), once per
 *              speaker; keep it.
 *  3. session  mor_dit_session_new() allocates the activations for up to
 *              max_codes codes (2 branches: conditional and null).
 *  4. sample   mor_dit_session_sample() integrates the flow ODE from the noise
 *              the caller gives (mor_dit_noise() makes some from a seed) to a
 *              mel [mel_dim, repeats·n_codes]. It runs on whatever codes it is
 *              given: streaming passes a window of codes with the same slice
 *              of the utterance's noise (token2wav.h); positions and attention
 *              blocks then count from the window's start, as Qwen's official
 *              chunked token2wav does.
 *     or mor_dit_session_velocity(): one evaluation of the network.
 *  5. free.
 * A MorDit serves several sessions; a session is used by one thread at a time.
 *
 * One evaluation (transformers Qwen2_5OmniToken2WavDiTModel.forward, batch of
 * 2 with apply_cfg: row 0 conditional, row 1 null), T = repeats·n_codes frames:
 *   temb = W₂·SiLU(W₁·sinusoid(1000·t) + b₁) + b₂                 (time_embed)
 *   h    = W_in·[x_t | ECAPA(ref_mel) | code_embd[code(f / repeats)] | cond] + b
 *          (null branch: ECAPA(zeros), code 0, cond 0)
 *   per block (AdaLN-Zero): shift, scale, gate ×2 = W·SiLU(temb) + b
 *          h += gate_msa · Attn(LN(h)·(1 + scale_msa) + shift_msa)
 *          h += gate_mlp · FF(LN(h)·(1 + scale_mlp) + shift_mlp)
 *        Attn: RoPE (interleaved pairs, stored inv_freq) on head 0 of q and k
 *        only; frame i sees frame j when −back ≤ j/24 − i/24 ≤ ahead, back and
 *        ahead 1 on the layers listed in look_backward_layers /
 *        look_ahead_layers, else 0. FF: W₂·GELU_tanh(W₁·x + b₁) + b₂.
 *   v    = W_out·(LN(h)·(1 + scale) + shift) + b                     (norm_out, proj_out)
 * Sampling (sample()): time points linspace(0, 1, num_steps) warped by sway
 * t += s·(cos(πt/2) − 1 + t); RK4 with the 3/8 rule (4 evaluations a step) or
 * Euler (1); guided velocity v_c + (v_c − v_null)·guidance_scale. Everything in
 * fp32 in transformers' order of operations.
 */
#pragma once

#include "ecapa.h"
#include "gguf.h"
#include "vk.h"

G_BEGIN_DECLS

#define MOR_DIT_ERROR (mor_dit_error_quark ())
GQuark mor_dit_error_quark (void);

typedef enum {
  MOR_DIT_ERROR_FAILED,
  MOR_DIT_ERROR_CONFIG,       /* a missing or inconsistent hyper-parameter */
  MOR_DIT_ERROR_SPEAKER,      /* no such speaker in the file, or a bad name */
  MOR_DIT_ERROR_INPUT,        /* a code the codec embedding has no row for, too many codes, bad noise */
} MorDitError;

#define MOR_DIT_MAX_LAYER_LIST 64  /* entries of look_ahead_layers, look_backward_layers */

/* Hyper-parameters, Hugging Face names (Qwen2_5OmniDiTConfig), from mor.dit.*. */
typedef struct {
  guint32 hidden_size;          /* D (1024) */
  guint32 num_hidden_layers;    /* 22 */
  guint32 num_attention_heads;  /* 16 */
  guint32 head_dim;             /* 64 */
  guint32 ff_mult;              /* FF width D·ff_mult (2) */
  guint32 emb_dim;              /* codec embedding width (512) */
  guint32 num_embeds;           /* codes 0 … num_embeds: num_embeds + 1 rows (8193) */
  guint32 repeats;              /* mel frames per code (2) */
  guint32 block_size;           /* attention block in frames (24) */
  guint32 mel_dim;              /* 80 */
  guint32 enc_emb_dim;          /* speaker cond width (192) */
  guint32 enc_dim;              /* ECAPA output width (128) */
  guint32 freq_embed_dim;       /* time sinusoid width (256) */
  float layer_norm_eps;         /* 1e-6 */
  float time_scale;             /* 1000 */
  guint32 n_look_ahead_layers, look_ahead_layers[MOR_DIT_MAX_LAYER_LIST];        /* [10] */
  guint32 n_look_backward_layers, look_backward_layers[MOR_DIT_MAX_LAYER_LIST];  /* [0, 20] */
} MorDitConfig;

typedef struct _MorDit MorDit;
typedef struct _MorDitSession MorDitSession;

/**
 * mor_dit_load:
 * @dev: the device to run on
 * @gguf: a talker.gguf (or one-file model)
 * @error: return location for a #GError, or %NULL
 *
 * Checks every key (MOR_DIT_ERROR_CONFIG, or the ECAPA's) and tensor shape
 * (MOR_GGUF_ERROR_NOT_FOUND / _TYPE naming the tensor) and uploads the weights.
 *
 * Returns: (transfer full): the DiT, or %NULL with @error set
 */
MorDit *mor_dit_load (MorVkDevice *dev, MorGguf *gguf, GError **error);
void mor_dit_free (MorDit *dit);
const MorDitConfig *mor_dit_get_config (MorDit *dit);
/* Returns: (transfer none): the speaker encoder */
MorEcapa *mor_dit_get_ecapa (MorDit *dit);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorDit, mor_dit_free)

/* ---- speakers ---- */

/* What the DiT needs of a speaker, computed once. */
typedef struct {
  float *cond;                  /* [enc_emb_dim] the raw speaker vector (spk_dict "cond") */
  float *spk;                   /* [enc_dim] ECAPA(ref_mel) */
  float *spk_null;              /* [enc_dim] ECAPA(zeros like ref_mel): the null branch's */
} MorDitSpeaker;

/* The stored spk.<name>.cond [enc_emb_dim] and spk.<name>.ref_mel [n_frames,
 * mel_dim] (F32, inside the mapped file) of speaker @name, or of
 * mor.speakers.default when @name is NULL. MOR_DIT_ERROR_SPEAKER for a name
 * that is not 1–32 letters, digits, '_' or '-', or that the file lacks (the
 * message lists the file's speakers); MOR_GGUF_ERROR_TYPE for a bad tensor. */
gboolean mor_dit_find_speaker (MorDit *dit, const char *name, const float **cond, const float **ref_mel,
                               guint32 *n_frames, GError **error);
/* A speaker from its cond and reference mel, ECAPA run on the device (or with
 * the C reference when @reference). Returns: (transfer full) or %NULL with
 * @error set (ECAPA's errors). */
MorDitSpeaker *mor_dit_speaker_new (MorDit *dit, const float *cond, const float *ref_mel, guint32 n_frames,
                                    gboolean reference, GError **error);
/* mor_dit_find_speaker() then mor_dit_speaker_new() on the device. */
MorDitSpeaker *mor_dit_speaker_load (MorDit *dit, const char *name, GError **error);
void mor_dit_speaker_free (MorDitSpeaker *spk);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorDitSpeaker, mor_dit_speaker_free)

/* ---- sampling ---- */

typedef enum {
  MOR_DIT_SOLVER_RK4,           /* transformers' RungeKutta4ODESolver (3/8 rule): 4 evaluations a step */
  MOR_DIT_SOLVER_EULER,         /* x += dt·v(t, x): 1 evaluation a step (cheaper runtimes' choice) */
} MorDitSolver;

typedef struct {
  guint32 num_steps;            /* time points, ≥ 2 (10: 9 steps) */
  float guidance_scale;         /* classifier-free guidance (0.5); below 1e-5 the conditional branch alone */
  float sway_coefficient;       /* time warp (−1) */
  MorDitSolver solver;
} MorDitSampleParams;

/* transformers' defaults: 10 points, guidance 0.5, sway −1, RK4. */
void mor_dit_sample_params_init (MorDitSampleParams *p);

/* The @n time points in fp32 as sample() computes them. */
void mor_dit_time_points (guint32 n, float sway_coefficient, float *t);

/* @n standard normal floats from @seed (splitmix64 + Box–Muller; the same on
 * every platform). torch.randn's sequence cannot be reproduced: to match
 * transformers, pass its noise instead. */
void mor_dit_noise (guint64 seed, float *out, gsize n);

/**
 * mor_dit_session_new:
 * @dit: the DiT (outlives the session)
 * @max_codes: the most codes one call takes (frames: repeats·max_codes)
 * @error: return location for a #GError, or %NULL
 *
 * Returns: (transfer full): the session, or %NULL with @error set
 */
MorDitSession *mor_dit_session_new (MorDit *dit, guint32 max_codes, GError **error);
void mor_dit_session_free (MorDitSession *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorDitSession, mor_dit_session_free)

/**
 * mor_dit_session_sample:
 * @s: a session
 * @spk: the speaker
 * @codes: (array length=n_codes): codec ids, each ≤ num_embeds
 * @n_codes: 1 … the session's max_codes
 * @noise: (array): the initial state x₀ [repeats·n_codes, mel_dim], frame after
 *   frame (transformers: randn([1, 30000, mel])[:, :2n])
 * @p: (nullable): sampling parameters, %NULL for the defaults
 * @mel: (out caller-allocates): [mel_dim, repeats·n_codes], channels first
 *   (transformers' [1, 80, T]): natural-log amplitude
 * @error: return location for a #GError, or %NULL
 *
 * Errors: MOR_DIT_ERROR_INPUT for a code past the codec embedding (a random
 * talker can sample one), too many codes, or a noise value that is not
 * finite; a device error.
 *
 * Returns: TRUE on success
 */
gboolean mor_dit_session_sample (MorDitSession *s, const MorDitSpeaker *spk, const guint32 *codes, guint32 n_codes,
                                 const float *noise, const MorDitSampleParams *p, float *mel, GError **error);

/* One evaluation of the network at time @t on state @x [T, mel_dim]
 * (T = repeats·n_codes): the conditional velocity @v_cond [T, mel_dim] and,
 * when @v_null is not NULL, the null branch's, in one batch. Errors as
 * mor_dit_session_sample(). */
gboolean mor_dit_session_velocity (MorDitSession *s, const MorDitSpeaker *spk, const guint32 *codes,
                                   guint32 n_codes, const float *x, float t, float *v_cond, float *v_null,
                                   GError **error);

/* The C reference of both: the same sequence of ops on the host. Slow; for
 * tests and checks. Errors as above (no device errors). */
gboolean mor_dit_reference_velocity (MorDit *dit, const MorDitSpeaker *spk, const guint32 *codes, guint32 n_codes,
                                     const float *x, float t, float *v_cond, float *v_null, GError **error);
gboolean mor_dit_reference_sample (MorDit *dit, const MorDitSpeaker *spk, const guint32 *codes, guint32 n_codes,
                                   const float *noise, const MorDitSampleParams *p, float *mel, GError **error);

G_END_DECLS
