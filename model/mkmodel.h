/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Random-weight models in the real layouts and shapes, for tests and benchmarks
 * (`mor mkmodel`). Weights are random, so their outputs mean nothing; shapes,
 * keys, tensor names and types are those of the real files. */
#pragma once

#include "gguf.h"

G_BEGIN_DECLS

/* A thinker's shape: Qwen2 decoder hyper-parameters. */
typedef struct {
  const char *name;             /* "tiny", "qwen2.5-0.5b", "qwen2.5-omni-3b", "qwen2.5-omni-7b" */
  const char *architecture;     /* "qwen2", or "qwen2vl" as llama.cpp writes the Omni thinker */
  guint32 hidden_size, num_hidden_layers, num_attention_heads, num_key_value_heads;
  guint32 intermediate_size;
  guint32 vocab_size;           /* 0: the tiny built-in vocabulary's size */
  guint32 max_position_embeddings;
  gboolean tie_word_embeddings;
} MorThinkerShape;

/* The shape named @name, or NULL. */
const MorThinkerShape *mor_mkmodel_thinker_shape (const char *name);
/* The names of all shapes, NULL-terminated. */
const char *const *mor_mkmodel_thinker_shapes (void);

/* A thinker GGUF in llama.cpp's layout with a byte-level BPE vocabulary (the 256
 * byte symbols, a few merges, Qwen's special tokens at the end), 2-D weights of
 * @type (1-D ones f32), drawn from @seed. Fails with MOR_GGUF_ERROR_TYPE when a
 * row length is not a multiple of @type's block size.
 * Returns: (transfer full): a writer ready to write, or NULL. */
MorGgufWriter *mor_mkmodel_thinker (const MorThinkerShape *shape, MorType type, guint64 seed,
                                    GError **error);

/* Extras of a test thinker (docs/interleave.md). */
typedef struct {
  /* p:q > 0:0 adds the thinking-in-speaking control tokens <|response_end|>,
   * <|reasoning_end|>, <|response_pad|>, <|reasoning_pad|> (CONTROL, after
   * Qwen's) and the mor.interleave.* keys naming them with this ratio. */
  guint32 response_tokens, reasoning_tokens;
  /* Zero the output-head rows of every CONTROL token: their logit is then
   * exactly 0 while the others are random, so greedy decoding or top-k < ~vocab/2
   * never picks one and an answer runs until max-tokens (untied head only). */
  gboolean mute_control;
} MorMkmodelThinkerOptions;

/* As mor_mkmodel_thinker(), with @options (NULL: none). */
MorGgufWriter *mor_mkmodel_thinker_full (const MorThinkerShape *shape, MorType type, guint64 seed,
                                         const MorMkmodelThinkerOptions *options, GError **error);

/* An audio encoder's shape: Qwen2_5OmniAudioEncoderConfig hyper-parameters. */
typedef struct {
  const char *name;             /* "tiny", "qwen2.5-omni-3b", "qwen2.5-omni-7b" */
  guint32 num_mel_bins, d_model, encoder_layers, encoder_attention_heads, encoder_ffn_dim;
  guint32 output_dim;           /* the thinker's hidden_size */
  guint32 max_source_positions, n_window;
} MorEncoderShape;

/* The encoder shape named @name, or NULL. */
const MorEncoderShape *mor_mkmodel_encoder_shape (const char *name);
/* The names of all encoder shapes, NULL-terminated. */
const char *const *mor_mkmodel_encoder_shapes (void);

/* An audio encoder GGUF in llama.cpp's mmproj layout, as the converter writes
 * it (docs/model-format.md): clip.* keys with projector qwen2.5o and
 * mor.encoder.n_window; conv weights F16, conv biases [C, 1], the sinusoid
 * position table F32, other 2-D weights of @type, vectors F32; drawn from
 * @seed. Fails with MOR_GGUF_ERROR_TYPE when a row length is not a multiple
 * of @type's block size.
 * Returns: (transfer full): a writer ready to write, or NULL. */
MorGgufWriter *mor_mkmodel_encoder (const MorEncoderShape *shape, MorType type, guint64 seed, GError **error);

/* The shape of a talker file (docs/model-format.md "talker.gguf"): the talker
 * (talker_config), the token2wav DiT with its ECAPA-TDNN (dit_config), BigVGAN
 * (bigvgan_config) and the speakers. Lists of sizes end at their first 0. */
typedef struct {
  const char *name;             /* "tiny", "qwen2.5-omni-3b", "qwen2.5-omni-7b" */
  /* talker_config */
  guint32 vocab_size, embedding_size, hidden_size, intermediate_size, num_hidden_layers;
  guint32 num_attention_heads, num_key_value_heads, head_dim, max_position_embeddings;
  guint32 codec_pad, codec_start, codec_end, codec_mask;  /* tts_codec_*_token_id */
  guint32 text_start, text_end, text_pad;                 /* tts_text_*_token_id (thinker vocabulary) */
  guint32 audio_token_index;    /* 0: the id of <|AUDIO|> in the tiny thinker's vocabulary */
  /* dit_config */
  guint32 dit_hidden_size, dit_num_hidden_layers, dit_num_attention_heads, dit_head_dim, ff_mult, emb_dim;
  guint32 num_embeds, mel_dim, enc_emb_dim, enc_dim, block_size, enc_attention_channels, enc_res2net_scale;
  guint32 enc_se_channels;
  guint32 n_look_ahead, look_ahead_layers[4], n_look_backward, look_backward_layers[4];
  guint32 enc_channels[8], enc_kernel_sizes[8], enc_dilations[8];
  /* bigvgan_config (resblock dilations [1, 3, 5] for every kernel, as released) */
  guint32 upsample_initial_channel, upsample_rates[8], upsample_kernel_sizes[8], resblock_kernel_sizes[4];
  guint32 ref_mel_frames;       /* frames of each speaker's reference mel */
} MorTalkerShape;

/* The talker shape named @name, or NULL. */
const MorTalkerShape *mor_mkmodel_talker_shape (const char *name);
/* The names of all talker shapes, NULL-terminated. */
const char *const *mor_mkmodel_talker_shapes (void);

/* A talker.gguf in mor's layout as the converter writes it: the talker's 2-D
 * weights of @type (vectors F32), everything t2w.* and spk.* F32, two speakers
 * (Chelsie, the default, and Ethan) with their cond, reference mel and thinker
 * bos row, and talker.text_embd (the thinker rows of tts_text_start, _end,
 * _pad); drawn from @seed. Fails with MOR_GGUF_ERROR_TYPE when a row length is
 * not a multiple of @type's block size.
 * Returns: (transfer full): a writer ready to write, or NULL. */
MorGgufWriter *mor_mkmodel_talker (const MorTalkerShape *shape, MorType type, guint64 seed, GError **error);
/* As mor_mkmodel_talker(); with @mute_end the codec head rows of every id from
 * tts_codec_pad on (pad, start, end, mask, …) are zero: their logit is exactly 0
 * while the codes' are random, so a greedy talker never ends on its own and
 * runs to its length limit (tests that need a known number of codes). */
MorGgufWriter *mor_mkmodel_talker_full (const MorTalkerShape *shape, MorType type, guint64 seed, gboolean mute_end,
                                        GError **error);

G_END_DECLS
