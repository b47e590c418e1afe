/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The kernel library: one line per op. Each op NAME lives in three places:
 * shaders/NAME.comp, its dispatch mor_op_NAME() and its C reference
 * mor_ref_NAME() side by side in model/ops/NAME.c, and tests/ops/NAME.c.
 *
 * A dispatch records into a stream (nothing runs until mor_vk_stream_submit()),
 * allocates nothing, and checks shapes with g_return_if_fail (a wrong shape is
 * a programmer error). Views hold f32 unless the argument says otherwise;
 * matrices are row-major, [rows, cols] with cols contiguous. References take
 * plain host arrays with the same shapes and compute in fp32 (fp64 sums). */
#pragma once

#include "vk.h"
#include "types.h"

G_BEGIN_DECLS

/* rms_norm: y[r] = x[r] / sqrt(mean(x[r]²) + eps) · w, rows of n_cols; y may alias x. */
void mor_op_rms_norm (MorVkStream *s, MorVkView x, MorVkView w, MorVkView y, guint32 n_rows, guint32 n_cols, float eps);
void mor_ref_rms_norm (const float *x, const float *w, float *y, guint32 n_rows, guint32 n_cols, float eps);

/* dequantize: y[i] = a[i] as f32, n elements of @type (n a multiple of its block size). */
void mor_op_dequantize (MorVkStream *s, MorType type, MorVkView a, MorVkView y, guint64 n);
void mor_ref_dequantize (MorType type, const void *a, float *y, guint64 n);

/* get_rows: y[i] = table[ids[i]] as f32 (embedding lookup); table [n_rows, n_cols] of @type, ids uint32 on the GPU; an id ≥ n_rows gives a row of zeros. A table larger than one binding is read in windows. */
void mor_op_get_rows (MorVkStream *s, MorType type, MorVkView table, guint32 n_rows, guint32 n_cols, MorVkView ids, guint32 n_ids, MorVkView y);
void mor_ref_get_rows (MorType type, const void *table, guint32 n_rows, guint32 n_cols, const guint32 *ids, guint32 n_ids, float *y);

/* softmax: y[r] = exp(scale·x[r] − max)/Σ over rows of n_cols; −inf entries give 0 and a fully −inf row gives zeros (scale > 0); y may alias x. */
void mor_op_softmax (MorVkStream *s, MorVkView x, MorVkView y, guint32 n_rows, guint32 n_cols, float scale);
void mor_ref_softmax (const float *x, float *y, guint32 n_rows, guint32 n_cols, float scale);

/* kv_store: cache rows pos[0]+r = src rows r < n_rows (row_size f32 each, stored as kv_type F32 or F16) in a cache [max_ctx, row_size]; rows past max_ctx are dropped. */
void mor_op_kv_store (MorVkStream *s, MorVkView src, MorVkView pos, MorVkView cache, guint32 n_rows, guint32 row_size, guint32 max_ctx, MorType kv_type);
void mor_ref_kv_store (const float *src, guint32 p0, void *cache, guint32 n_rows, guint32 row_size, guint32 max_ctx, MorType kv_type);

/* attention_scratch_size: bytes of scratch mor_op_attention_cached() needs on @dev for n_q queries (0: none, any view will do). */
guint64 mor_op_attention_scratch_size (MorVkDevice *dev, guint32 n_q, guint32 n_heads, guint32 n_kv_heads, guint32 head_dim);
/* attention_cached: out[t,h] = Σ_{j ≤ pos[0]+t} softmax_j(scale·q[t,h]·k[j,h/G]) v[j,h/G], G = n_heads/n_kv_heads; q, out [n_q, n_heads·head_dim] f32; k, v caches [max_ctx, n_kv_heads·head_dim] of kv_type (F32/F16); scratch ≥ mor_op_attention_scratch_size(). */
void mor_op_attention_cached (MorVkStream *s, MorVkView q, MorVkView k, MorVkView v, MorVkView pos, MorVkView scratch, MorVkView out, guint32 n_q, guint32 max_ctx, guint32 n_heads, guint32 n_kv_heads, guint32 head_dim, float scale, MorType kv_type);
void mor_ref_attention_cached (const float *q, const void *k, const void *v, guint32 p0, float *out, guint32 n_q, guint32 max_ctx, guint32 n_heads, guint32 n_kv_heads, guint32 head_dim, float scale, MorType kv_type);
/* attention: the same, non-causal over n_kv keys (f32); block_size > 0: query t sees keys j with −look_back ≤ j/block_size − t/block_size ≤ look_ahead (Qwen2.5-Omni audio encoder, DiT); no visible key gives zeros. */
void mor_op_attention (MorVkStream *s, MorVkView q, MorVkView k, MorVkView v, MorVkView out, guint32 n_q, guint32 n_kv, guint32 n_heads, guint32 n_kv_heads, guint32 head_dim, float scale, guint32 block_size, guint32 look_back, guint32 look_ahead);
void mor_ref_attention (const float *q, const float *k, const float *v, float *out, guint32 n_q, guint32 n_kv, guint32 n_heads, guint32 n_kv_heads, guint32 head_dim, float scale, guint32 block_size, guint32 look_back, guint32 look_ahead);

/* Padding of a convolution's input, PyTorch padding_mode: zeros; reflect (x[-i] = x[i], the edge not repeated; pad < length); replicate (x[-i] = x[0]). */
typedef enum { MOR_PAD_ZEROS, MOR_PAD_REFLECT, MOR_PAD_REPLICATE } MorPadMode;
/* nn.Conv1d geometry: x [n_batch, in_channels, length] → y [n_batch, out_channels, mor_conv1d_out_length()]; padding=p is pad_left = pad_right = p. */
typedef struct { guint32 n_batch, in_channels, out_channels, length, kernel_size, stride, dilation, groups, pad_left, pad_right; MorPadMode pad_mode; } MorConv1d;
/* conv1d: y = nn.Conv1d(x), weight w [out_channels, in_channels/groups, K] of w_type (F32, F16, BF16), bias [out_channels] or bias.buf NULL for none. */
void mor_op_conv1d (MorVkStream *s, const MorConv1d *c, MorType w_type, MorVkView x, MorVkView w, MorVkView bias, MorVkView y);
void mor_ref_conv1d (const MorConv1d *c, MorType w_type, const float *x, const void *w, const float *bias, float *y);
/* PyTorch's output length: (length + pad_left + pad_right - dilation·(K-1) - 1) / stride + 1. */
guint32 mor_conv1d_out_length (const MorConv1d *c);
/* padding="same" (stride 1): pad_left = dilation·(K-1)/2, pad_right the rest, as torch pads it. */
void mor_conv1d_same_padding (MorConv1d *c);

/* nn.ConvTranspose1d geometry (dilation 1): x [n_batch, in_channels, length] → y [n_batch, out_channels, (length-1)·stride - 2·padding + K + output_padding]. */
typedef struct { guint32 n_batch, in_channels, out_channels, length, kernel_size, stride, padding, output_padding, groups; } MorConvTranspose1d;
/* conv_transpose1d: y = nn.ConvTranspose1d(x), weight w [in_channels, out_channels/groups, K] of w_type (F32, F16), bias [out_channels] or bias.buf NULL. */
void mor_op_conv_transpose1d (MorVkStream *s, const MorConvTranspose1d *c, MorType w_type, MorVkView x, MorVkView w, MorVkView bias, MorVkView y);
void mor_ref_conv_transpose1d (const MorConvTranspose1d *c, MorType w_type, const float *x, const void *w, const float *bias, float *y);
guint32 mor_conv_transpose1d_out_length (const MorConvTranspose1d *c);

/* avg_pool1d: y[c, t] = mean(x[c, t·stride .. t·stride + kernel)), nn.AvgPool1d (the tail is dropped); time_major: x, y are [length, n_channels] rows instead of [n_channels, length]. */
void mor_op_avg_pool1d (MorVkStream *s, MorVkView x, MorVkView y, guint32 n_channels, guint32 length, guint32 kernel_size, guint32 stride, gboolean time_major);
void mor_ref_avg_pool1d (const float *x, float *y, guint32 n_channels, guint32 length, guint32 kernel_size, guint32 stride, gboolean time_major);
/* (length - kernel_size) / stride + 1, 0 when length < kernel_size. */
guint32 mor_avg_pool1d_out_length (guint32 length, guint32 kernel_size, guint32 stride);

/* snake_beta: y[c, t] = x + sin²(x·e^alpha[c]) / (e^beta[c] + 1e-9) over [n_channels, length], alpha/beta log-scale as stored (BigVGAN SnakeBeta); y may alias x. */
void mor_op_snake_beta (MorVkStream *s, MorVkView x, MorVkView alpha, MorVkView beta, MorVkView y, guint32 n_channels, guint32 length);
void mor_ref_snake_beta (const float *x, const float *alpha, const float *beta, float *y, guint32 n_channels, guint32 length);

/* fir_upsample: HF UpSample1d(ratio, n_taps) with filter [n_taps] on every channel: replicate pad, ratio × conv_transpose1d, crop; x [n_channels, length] → y [n_channels, ratio·length]. */
void mor_op_fir_upsample (MorVkStream *s, MorVkView x, MorVkView filter, MorVkView y, guint32 n_channels, guint32 length, guint32 n_taps, guint32 ratio);
void mor_ref_fir_upsample (const float *x, const float *filter, float *y, guint32 n_channels, guint32 length, guint32 n_taps, guint32 ratio);
/* fir_downsample: HF DownSample1d(ratio, n_taps): replicate pad (K/2 - (K even), K/2), strided conv1d with filter; y [n_channels, mor_fir_downsample_out_length()]. */
void mor_op_fir_downsample (MorVkStream *s, MorVkView x, MorVkView filter, MorVkView y, guint32 n_channels, guint32 length, guint32 n_taps, guint32 ratio);
void mor_ref_fir_downsample (const float *x, const float *filter, float *y, guint32 n_channels, guint32 length, guint32 n_taps, guint32 ratio);
/* (length - (K even)) / ratio + 1: ceil(length / 2) for ratio 2 and an even K. */
guint32 mor_fir_downsample_out_length (guint32 length, guint32 n_taps, guint32 ratio);
/* HF kaiser_sinc_filter1d(cutoff, half_width, n_taps) in fp64, sum 1; BigVGAN ratio 2: (0.25, 0.3, 12). */
void mor_kaiser_sinc_filter (float *filter, guint32 n_taps, double cutoff, double half_width);
/* fir_snake_beta: HF TorchActivation1d(SnakeBeta) = fir_downsample(snake_beta(fir_upsample(x))) with one filter [n_taps], fused; x [n_channels, length] → y [n_channels, mor_fir_snake_beta_out_length()] (= length for BigVGAN's 12 taps, ratio 2). */
void mor_op_fir_snake_beta (MorVkStream *s, MorVkView x, MorVkView alpha, MorVkView beta, MorVkView filter, MorVkView y, guint32 n_channels, guint32 length, guint32 n_taps, guint32 ratio);
void mor_ref_fir_snake_beta (const float *x, const float *alpha, const float *beta, const float *filter, float *y, guint32 n_channels, guint32 length, guint32 n_taps, guint32 ratio);
guint32 mor_fir_snake_beta_out_length (guint32 length, guint32 n_taps, guint32 ratio);

/* stft_power: P[f, k] = |STFT|² for k ≤ n_fft/2, torch.stft(center=True, pad_mode="reflect") of x [n_samples] with window [n_fft] and twiddles [n_fft][2] (mor_dft_twiddles); P [n_frames, n_fft/2 + 1]. Whisper drops the last frame: the caller's job. */
void mor_op_stft_power (MorVkStream *s, MorVkView x, MorVkView window, MorVkView twiddles, MorVkView power, guint32 n_samples, guint32 n_fft, guint32 hop);
void mor_ref_stft_power (const float *x, const float *window, float *power, guint32 n_samples, guint32 n_fft, guint32 hop);
/* 1 + (n_samples + 2·(n_fft/2) - n_fft) / hop. */
guint32 mor_stft_n_frames (guint32 n_samples, guint32 n_fft, guint32 hop);
/* torch.hann_window(n), periodic: 0.5 - 0.5·cos(2πi/n), computed in fp64. */
void mor_hann_window (float *window, guint32 n);
/* twiddles[m] = (cos 2πm/n_fft, sin 2πm/n_fft) for m < n_fft, computed in fp64. */
void mor_dft_twiddles (float *twiddles, guint32 n_fft);

/* mel: y[m, t] = Σ_k filters[m, k]·power[t, k]; power [n_frames, n_bins] (stft_power's), filters [n_mel, n_bins], y [n_mel, n_frames] (the encoder's [C, T]). */
void mor_op_mel (MorVkStream *s, MorVkView power, MorVkView filters, MorVkView y, guint32 n_frames, guint32 n_bins, guint32 n_mel);
void mor_ref_mel (const float *power, const float *filters, float *y, guint32 n_frames, guint32 n_bins, guint32 n_mel);
/* filters [n_mel, n_bins] = transformers mel_filter_bank(n_bins, n_mel, f_min, f_max, sample_rate, norm="slaney", mel_scale="slaney") transposed; fp64, rounded. */
void mor_mel_filter_bank (float *filters, guint32 n_bins, guint32 n_mel, double f_min, double f_max, guint32 sample_rate);

/* log_mel_norm: L = log10(max(mel, 1e-10)), y = (max(L, max(L) - 8) + 4) / 4 with the max over all n (Whisper); scratch ≥ 4 bytes; y may alias mel. */
void mor_op_log_mel_norm (MorVkStream *s, MorVkView mel, MorVkView scratch, MorVkView y, guint32 n);
void mor_ref_log_mel_norm (const float *mel, float *y, guint32 n);

/* layer_norm: y[r] = (x[r] − mean) / sqrt(var + eps) · w + b over rows of n_cols (nn.LayerNorm, biased var); w and b optional (a view with buf NULL; NULL in the reference); y may alias x. */
void mor_op_layer_norm (MorVkStream *s, MorVkView x, MorVkView w, MorVkView b, MorVkView y, guint32 n_rows, guint32 n_cols, float eps);
void mor_ref_layer_norm (const float *x, const float *w, const float *b, float *y, guint32 n_rows, guint32 n_cols, float eps);

/* Element-wise activations: SiLU x·σ(x); GELU 0.5·x·(1 + erf(x/√2)) (nn.GELU()); GELU tanh form (nn.GELU(approximate="tanh")); ReLU max(x, 0); tanh; sigmoid σ(x) = 1/(1 + e^−x) (ECAPA-TDNN). */
typedef enum { MOR_UNARY_SILU, MOR_UNARY_GELU_ERF, MOR_UNARY_GELU_TANH, MOR_UNARY_RELU, MOR_UNARY_TANH, MOR_UNARY_SIGMOID } MorUnaryOp;
/* unary: y[i] = op(x[i]) for n elements; y may alias x. */
void mor_op_unary (MorVkStream *s, MorUnaryOp op, MorVkView x, MorVkView y, guint32 n);
void mor_ref_unary (MorUnaryOp op, const float *x, float *y, guint32 n);

/* The second operand of a binary op: b [n_rows, n_cols] like a; one row [n_cols] for every row (bias, per-channel scale of [T, C]); one value per row [n_rows] (per-channel of [C, T]). */
typedef enum { MOR_BINARY_ADD, MOR_BINARY_MUL } MorBinaryOp;
typedef enum { MOR_BROADCAST_NONE, MOR_BROADCAST_ROW, MOR_BROADCAST_COL } MorBroadcast;
/* binary: y = a + b or a · b, a and y [n_rows, n_cols], b broadcast as @bcast says; y may alias a (and b for MOR_BROADCAST_NONE). */
void mor_op_binary (MorVkStream *s, MorBinaryOp op, MorVkView a, MorVkView b, MorVkView y, guint32 n_rows, guint32 n_cols, MorBroadcast bcast);
void mor_ref_binary (MorBinaryOp op, const float *a, const float *b, float *y, guint32 n_rows, guint32 n_cols, MorBroadcast bcast);

/* weighted_stats: per row of x [n_rows, n_cols], mean = Σ w·x and std = sqrt(max(Σ w·(x − mean)², eps)) with weights w [n_rows, n_cols], or 1/n_cols each when w.buf is NULL (ECAPA-TDNN AttentiveStatisticsPooling); y [2·n_rows]: the means, then the stds. */
void mor_op_weighted_stats (MorVkStream *s, MorVkView x, MorVkView w, MorVkView y, guint32 n_rows, guint32 n_cols, float eps);
void mor_ref_weighted_stats (const float *x, const float *w, float *y, guint32 n_rows, guint32 n_cols, float eps);

/* swiglu: y = silu(gate) · up over n elements (Qwen2MLP: act_fn(gate_proj(x)) * up_proj(x)); y may alias gate or up. */
void mor_op_swiglu (MorVkStream *s, MorVkView gate, MorVkView up, MorVkView y, guint32 n);
void mor_ref_swiglu (const float *gate, const float *up, float *y, guint32 n);

/* scale: y = alpha·x + beta over n elements; y may alias x. */
void mor_op_scale (MorVkStream *s, MorVkView x, MorVkView y, guint32 n, float alpha, float beta);
void mor_ref_scale (const float *x, float *y, guint32 n, float alpha, float beta);

/* RoPE pairing: NeoX half-split (i, i + rot_dim/2), HF rotate_half (Qwen2); interleaved (2i, 2i+1), rotate_half_codec (Qwen2.5-Omni DiT). */
typedef enum { MOR_ROPE_NEOX, MOR_ROPE_INTERLEAVED } MorRopeMode;
/* rope: x [n_tokens, n_heads, head_dim], token t at position pos[0] + t (uint, read on the GPU): pair i of the first rot_dim dims of heads < n_rot_heads turns by fp32 angle pos·inv_freq[i] [rot_dim/2]; the rest passes through; y may alias x. */
void mor_op_rope (MorVkStream *s, MorRopeMode mode, MorVkView x, MorVkView inv_freq, MorVkView pos, MorVkView y, guint32 n_tokens, guint32 n_heads, guint32 head_dim, guint32 rot_dim, guint32 n_rot_heads);
void mor_ref_rope (MorRopeMode mode, const float *x, const float *inv_freq, guint32 pos0, float *y, guint32 n_tokens, guint32 n_heads, guint32 head_dim, guint32 rot_dim, guint32 n_rot_heads);
/* inv_freq[i] = 1 / theta^(2i/rot_dim) for i < rot_dim/2, in fp32 as HF's default rope init computes it (the DiT stores its own, bf16-rounded: use those). */
void mor_rope_inv_freq (float theta, guint32 rot_dim, float *inv_freq);
/* matvec: y[v] = W·x[v] (+ b) for v < n_vecs (1..8); W [n_rows, n_cols] of @type (n_cols a multiple of 8 and of the block size; view padded to 16 bytes; any size: split into windows), x [n_vecs, n_cols] (offset a multiple of min_texel_align), b [n_rows] or buf NULL, y [n_vecs, n_rows]. */
void mor_op_matvec (MorVkStream *s, MorType type, MorVkView w, MorVkView x, MorVkView b, MorVkView y, guint32 n_rows, guint32 n_cols, guint32 n_vecs);
void mor_ref_matvec (MorType type, const void *w, const float *x, const float *b, float *y, guint32 n_rows, guint32 n_cols, guint32 n_vecs);
/* matmul: y[n] = W·x[n] (+ bias) for n < N tokens (F.linear); W [M, K] of @type (K a multiple of its block size; any size: split into windows; on CPU devices the fast path wants K % 4 == 0 and W's view padded to a multiple of 8 bytes), x [N, K], bias [M] or buf NULL, y [N, M]. */
void mor_op_matmul (MorVkStream *s, MorType type, MorVkView w, MorVkView x, MorVkView bias, MorVkView y, guint32 M, guint32 K, guint32 N);
void mor_ref_matmul (MorType type, const void *w, const float *x, const float *bias, float *y, guint32 M, guint32 K, guint32 N);

G_END_DECLS
