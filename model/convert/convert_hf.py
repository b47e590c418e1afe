#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Convert a Hugging Face Qwen2.5-Omni checkpoint to GGUF (python3 + numpy only).

    convert_hf.py CHECKPOINT_DIR --outdir DIR [--single] [--outtype f32|f16|bf16|q8_0]
                  [--parts thinker,encoder,talker] [--name NAME]
                  [--interleave-ratio P:Q --response-end S --reasoning-end S
                   --response-pad S --reasoning-pad S]

Writes (docs/model-format.md):
  thinker.gguf  the thinker LLM in llama.cpp's layout (arch qwen2vl), tokenizer included
  encoder.gguf  the audio encoder in llama.cpp's mmproj layout (projector qwen2.5o)
  talker.gguf   talker, token2wav (DiT with ECAPA, BigVGAN) and speakers, mor's layout
or, with --single, all of them in model.gguf.
"""

import argparse
import math
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

try:
    import numpy as np
except ImportError:
    sys.exit(f"convert_hf.py: error: {sys.executable} has no numpy: run the converter with a python3 that has it "
             "(Debian: apt install python3-numpy, then /usr/bin/python3)")

import gguf_writer as gw  # noqa: E402
from hf_checkpoint import Checkpoint, ConvertError, Tokenizer, load_json, load_speakers  # noqa: E402

MAX_POSITIONS = 1 << 16     # a larger audio max_source_positions is refused (the table is generated)

OUTTYPES = {"f32": gw.F32, "f16": gw.F16, "bf16": gw.BF16, "q8_0": gw.Q8_0}
FILE_TYPES = {gw.F32: 0, gw.F16: 1, gw.Q8_0: 7, gw.BF16: 32}   # llama.cpp LlamaFileType
PARTS = ("thinker", "encoder", "talker")
FILE_NAMES = {"thinker": "thinker.gguf", "encoder": "encoder.gguf", "talker": "talker.gguf"}
SINGLE_NAME = "model.gguf"


# ---- configuration, resolved as transformers resolves it ----

class Section:
    """One sub-config of config.json: values by their Hugging Face name, with the
    class default of transformers' configuration_qwen2_5_omni.py when absent."""

    def __init__(self, name, d, defaults, aliases=None):
        if d is None:
            d = {}
        if not isinstance(d, dict):
            raise ConvertError(f"config.json: {name} is not an object")
        self.name, self.d, self.defaults = name, d, defaults
        for canonical, alias in (aliases or {}).items():
            if canonical not in d and alias in d:
                d[canonical] = d[alias]

    def raw(self, key):
        return self.d.get(key, self.defaults.get(key))

    def int(self, key, minimum=1):
        v = self.raw(key)
        if not isinstance(v, int) or isinstance(v, bool) or not minimum <= v < 1 << 31:
            raise ConvertError(f"config.json: {self.name}.{key} = {v!r}, expected an integer from {minimum} "
                               "to 2^31 - 1")
        return v

    def float(self, key):
        v = self.raw(key)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            raise ConvertError(f"config.json: {self.name}.{key} = {v!r}, expected a number")
        return float(v)

    def ints(self, key, length=None, minimum=0):
        v = self.raw(key)
        if (not isinstance(v, (list, tuple)) or (length is not None and len(v) != length)
                or not all(isinstance(x, int) and not isinstance(x, bool) and minimum <= x < 1 << 31 for x in v)):
            want = f"{length} integers" if length else "a list of integers"
            raise ConvertError(f"config.json: {self.name}.{key} = {v!r}, expected {want} >= {minimum}")
        return list(v)

    def rope(self, key):
        """rope_theta / mrope_section, in rope_scaling (transformers 4.x) or rope_parameters (5.x)."""
        for holder in ("rope_parameters", "rope_scaling"):
            h = self.d.get(holder)
            if isinstance(h, dict) and key in h:
                return h[key]
        return self.raw(key)


TEXT_DEFAULTS = dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                     num_attention_heads=28, num_key_value_heads=4, max_position_embeddings=32768,
                     rms_norm_eps=1e-6, rope_theta=1000000.0)
AUDIO_DEFAULTS = dict(num_mel_bins=128, encoder_layers=32, encoder_attention_heads=20, encoder_ffn_dim=5120,
                      d_model=1280, max_source_positions=1500, n_window=100, output_dim=3584)
AUDIO_ALIASES = dict(encoder_layers="num_hidden_layers", d_model="hidden_size",
                     encoder_attention_heads="num_attention_heads", encoder_ffn_dim="intermediate_size")
TALKER_DEFAULTS = dict(vocab_size=8448, embedding_size=3584, hidden_size=3584, intermediate_size=18944,
                       num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4, head_dim=128,
                       max_position_embeddings=32768, rms_norm_eps=1e-6, rope_theta=1000000.0,
                       tts_text_start_token_id=151860, tts_text_end_token_id=151861,
                       tts_text_pad_token_id=151859, tts_codec_start_token_id=8293,
                       tts_codec_end_token_id=8294, tts_codec_pad_token_id=8292,
                       tts_codec_mask_token_id=8296, audio_token_index=151646)
TALKER_ALIASES = dict(audio_token_index="audio_token_id")
DIT_DEFAULTS = dict(hidden_size=1024, num_hidden_layers=22, num_attention_heads=16, ff_mult=2, emb_dim=512,
                    head_dim=64, rope_theta=10000.0, max_position_embeddings=32768, block_size=24,
                    look_ahead_layers=[10], look_backward_layers=[0, 20], repeats=2, num_embeds=8193,
                    mel_dim=80, enc_emb_dim=192, enc_dim=128, enc_channels=[256, 256, 256, 256, 768],
                    enc_kernel_sizes=[5, 3, 3, 3, 1], enc_dilations=[1, 2, 3, 4, 1],
                    enc_attention_channels=64, enc_res2net_scale=2, enc_se_channels=64)
BIGVGAN_DEFAULTS = dict(mel_dim=80, upsample_initial_channel=1536, resblock_kernel_sizes=[3, 7, 11],
                        resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5], [1, 3, 5]],
                        upsample_rates=[5, 3, 2, 2, 2, 2], upsample_kernel_sizes=[11, 7, 4, 4, 4, 4])
# Values fixed in transformers' code rather than in the config; written as keys
# so that no runtime has them as constants.
DIT_FIXED = dict(layer_norm_eps=1e-6, freq_embed_dim=256, time_scale=1000.0)
ENCODER_LAYER_NORM_EPS = 1e-5       # nn.LayerNorm's default, as llama.cpp writes it


class OmniConfig:
    def __init__(self, path):
        c = load_json(path)
        if not isinstance(c, dict):
            raise ConvertError(f"{path}: not a JSON object")
        mt = c.get("model_type")
        if mt != "qwen2_5_omni":
            raise ConvertError(f"{path}: unknown model_type {mt!r}: this converter reads qwen2_5_omni "
                               "(Qwen2.5-Omni and fine-tunes of it)")
        self.top = c
        thinker = c.get("thinker_config") or {}
        if not isinstance(thinker, dict):
            raise ConvertError(f"{path}: thinker_config is not an object")
        t2w = c.get("token2wav_config") or {}
        if not isinstance(t2w, dict):
            raise ConvertError(f"{path}: token2wav_config is not an object")
        self.text = Section("thinker_config.text_config", thinker.get("text_config"), TEXT_DEFAULTS)
        self.audio = Section("thinker_config.audio_config", thinker.get("audio_config"), AUDIO_DEFAULTS,
                             AUDIO_ALIASES)
        self.talker = Section("talker_config", c.get("talker_config"), TALKER_DEFAULTS, TALKER_ALIASES)
        self.dit = Section("token2wav_config.dit_config", t2w.get("dit_config"), DIT_DEFAULTS)
        self.bigvgan = Section("token2wav_config.bigvgan_config", t2w.get("bigvgan_config"), BIGVGAN_DEFAULTS)


# ---- what to write ----

class Spec:
    """One output tensor: its GGUF name, where its values come from (a checkpoint
    tensor checked against @hf_shape, or a generated array), the shape it is
    written with (numpy order) and its type."""

    def __init__(self, name, ggml_type, shape, hf=None, hf_shape=None, array=None):
        self.name, self.ggml_type, self.shape = name, ggml_type, tuple(shape)
        self.hf, self.hf_shape, self.array = hf, tuple(hf_shape) if hf_shape else None, array


class Part:
    def __init__(self, name):
        self.name = name
        self.keys = []          # (method, key, value[, elem type])
        self.specs = []

    def key(self, method, key, *args):
        self.keys.append((method, key) + args)


def weight_type(name, shape, outtype):
    """llama.cpp's choice (ModelBase.prepare_tensors): 1-D tensors, norms and
    anything not named *.weight stay F32; other weights get the output type, and
    Q8_0 falls back to F16 when a row is not a whole number of blocks."""
    if len(shape) <= 1 or name.endswith("_norm.weight") or not name.endswith(".weight"):
        return gw.F32
    if outtype == gw.Q8_0 and shape[-1] % gw.QK8_0:
        return gw.F16
    return outtype


class Builder:
    def __init__(self, ckpt, outtype):
        self.ckpt = ckpt
        self.outtype = outtype
        self.used = set()

    def tensor(self, part, name, hf, hf_shape, ggml_type=None, shape=None, optional=False):
        """Adds checkpoint tensor @hf as @name after checking its shape."""
        if hf not in self.ckpt:
            if optional:
                return False
            raise ConvertError(f"checkpoint: missing tensor {hf} (needed for {name})")
        found = self.ckpt.shape(hf)
        if tuple(found) != tuple(hf_shape):
            raise ConvertError(f"checkpoint: tensor {hf} has shape {list(found)}, but config.json implies "
                               f"{list(hf_shape)}")
        self.used.add(hf)
        shape = tuple(shape) if shape is not None else tuple(hf_shape)
        if ggml_type is None:
            ggml_type = weight_type(name, shape, self.outtype)
        part.specs.append(Spec(name, ggml_type, shape, hf=hf, hf_shape=hf_shape))
        return True

    def f32(self, part, name, hf, hf_shape, shape=None, optional=False):
        return self.tensor(part, name, hf, hf_shape, gw.F32, shape, optional)


def qwen2_blocks(b, part, out, hf, n_layers, hidden, n_head, n_kv, head_dim, ff):
    """The tensors of Qwen2 decoder layers under llama.cpp's block names."""
    q, kv = n_head * head_dim, n_kv * head_dim
    for i in range(n_layers):
        h, o = f"{hf}layers.{i}.", f"{out}blk.{i}."
        b.tensor(part, o + "attn_norm.weight", h + "input_layernorm.weight", [hidden])
        for proj, rows in (("q", q), ("k", kv), ("v", kv)):
            b.tensor(part, o + f"attn_{proj}.weight", h + f"self_attn.{proj}_proj.weight", [rows, hidden])
            b.tensor(part, o + f"attn_{proj}.bias", h + f"self_attn.{proj}_proj.bias", [rows])
        b.tensor(part, o + "attn_output.weight", h + "self_attn.o_proj.weight", [hidden, q])
        b.tensor(part, o + "ffn_norm.weight", h + "post_attention_layernorm.weight", [hidden])
        b.tensor(part, o + "ffn_gate.weight", h + "mlp.gate_proj.weight", [ff, hidden])
        b.tensor(part, o + "ffn_up.weight", h + "mlp.up_proj.weight", [ff, hidden])
        b.tensor(part, o + "ffn_down.weight", h + "mlp.down_proj.weight", [hidden, ff])


def positive(sec, key):
    """A positive finite number from the config (rope_theta: also in rope_scaling / rope_parameters)."""
    v = sec.rope(key)
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 < v < math.inf:
        raise ConvertError(f"config.json: {sec.name}.{key} = {v!r}, expected a positive number")
    return float(v)


def general_keys(part, arch, name, outtype, gguf_type="model"):
    part.key("add_string", "general.architecture", arch)
    part.key("add_string", "general.type", gguf_type)
    part.key("add_string", "general.name", name)
    part.key("add_u32", "general.file_type", FILE_TYPES[outtype])
    part.key("add_u32", "general.quantization_version", 2)


def build_thinker(b, cfg, args):
    """llama.cpp's Qwen2VLModel conversion of the thinker: arch qwen2vl."""
    t = cfg.text
    p = Part("thinker")
    hidden, n_layers = t.int("hidden_size"), t.int("num_hidden_layers")
    n_head, n_kv = t.int("num_attention_heads"), t.int("num_key_value_heads")
    if "head_dim" not in t.d and hidden % n_head:
        raise ConvertError(f"config.json: {t.name}.hidden_size {hidden} is not a multiple of "
                           f"num_attention_heads {n_head}")
    head_dim = t.int("head_dim") if "head_dim" in t.d else hidden // n_head
    ff, vocab = t.int("intermediate_size"), t.int("vocab_size")
    sections = t.rope("mrope_section")
    if (not isinstance(sections, list) or not 1 <= len(sections) <= 4
            or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in sections)):
        raise ConvertError(f"config.json: {t.name}.rope_scaling.mrope_section = {sections!r}, "
                           "expected up to 4 integers")
    if sum(sections) * 2 != head_dim:
        raise ConvertError(f"config.json: {t.name} mrope_section {sections} covers {2 * sum(sections)} "
                           f"rotary dims, the head has {head_dim}")
    theta = positive(t, "rope_theta")

    general_keys(p, "qwen2vl", args.name, b.outtype)
    a = "qwen2vl."
    p.key("add_u32", a + "block_count", n_layers)
    p.key("add_u32", a + "context_length", t.int("max_position_embeddings"))
    p.key("add_u32", a + "embedding_length", hidden)
    p.key("add_u32", a + "feed_forward_length", ff)
    p.key("add_u32", a + "attention.head_count", n_head)
    p.key("add_u32", a + "attention.head_count_kv", n_kv)
    p.key("add_f32", a + "rope.freq_base", float(theta))
    p.key("add_f32", a + "attention.layer_norm_rms_epsilon", t.float("rms_norm_eps"))
    if "head_dim" in t.d:
        p.key("add_u32", a + "attention.key_length", head_dim)
        p.key("add_u32", a + "attention.value_length", head_dim)
    p.key("add_array", a + "rope.dimension_sections", gw.INT32, (sections + [0, 0, 0, 0])[:4])

    b.tensor(p, "token_embd.weight", "thinker.model.embed_tokens.weight", [vocab, hidden])
    qwen2_blocks(b, p, "", "thinker.model.", n_layers, hidden, n_head, n_kv, head_dim, ff)
    b.tensor(p, "output_norm.weight", "thinker.model.norm.weight", [hidden])
    b.tensor(p, "output.weight", "thinker.lm_head.weight", [vocab, hidden], optional=True)
    # the vocabulary size is now known to match the embedding
    p.tok = Tokenizer(args.checkpoint, vocab, cfg.top)
    tokenizer_keys(p, p.tok)
    return p


def tokenizer_keys(p, tok):
    p.key("add_string", "tokenizer.ggml.model", "gpt2")
    p.key("add_string", "tokenizer.ggml.pre", "qwen2")
    p.key("add_array", "tokenizer.ggml.tokens", gw.STRING, tok.tokens)
    p.key("add_array", "tokenizer.ggml.token_type", gw.INT32, tok.types)
    if tok.merges:
        p.key("add_array", "tokenizer.ggml.merges", gw.STRING, tok.merges)
    names = dict(bos="bos_token_id", eos="eos_token_id", unk="unknown_token_id", sep="seperator_token_id",
                 pad="padding_token_id", cls="cls_token_id", mask="mask_token_id")
    for typ, tid in tok.special.items():
        p.key("add_u32", "tokenizer.ggml." + names[typ], tid)
    for typ, value in tok.add_special.items():
        p.key("add_bool", f"tokenizer.ggml.add_{typ}_token", value)
    ct = tok.chat_template
    if isinstance(ct, list):
        # named templates: tokenizer.chat_template.NAME, listed in tokenizer.chat_templates
        default, names_ = None, []
        for choice in ct:
            if not isinstance(choice, dict) or not isinstance(choice.get("template"), str):
                continue
            name = re.sub(r"[^A-Za-z0-9]", "_", str(choice.get("name", "")))
            if name == "default":
                default = choice["template"]
            elif name:
                names_.append(name)
                p.key("add_string", "tokenizer.chat_template." + name, choice["template"])
        if names_:
            p.key("add_array", "tokenizer.chat_templates", gw.STRING, names_)
        ct = default
    if isinstance(ct, str):
        p.key("add_string", "tokenizer.chat_template", ct)


def sinusoids(length, channels, max_timescale=10000.0):
    """SinusoidsPositionEmbedding (transformers) / llama.cpp's generated
    a.position_embd: row t = [sin(t * inv), cos(t * inv)], inv_i =
    exp(-i * ln(max_timescale) / (channels/2 - 1)). The arguments are rounded to
    float32 as torch computes them; sin, cos and exp are evaluated in float64 and
    rounded once (torch's float32 functions are within an ulp of that)."""
    half = channels // 2
    inc = np.float32(np.log(max_timescale) / (half - 1))
    arg = (-inc) * np.arange(half, dtype=np.float32)
    inv = np.exp(arg.astype(np.float64)).astype(np.float32)
    scaled = np.arange(length, dtype=np.float32)[:, None] * inv[None, :]
    s = scaled.astype(np.float64)
    return np.concatenate([np.sin(s), np.cos(s)], axis=1).astype(np.float32)


def build_encoder(b, cfg, args):
    """llama.cpp's Qwen25OmniModel (mmproj) conversion of the audio tower, audio only."""
    au, text = cfg.audio, cfg.text
    p = Part("encoder")
    d, n_layers = au.int("d_model"), au.int("encoder_layers")
    n_head, ff, n_mel = au.int("encoder_attention_heads"), au.int("encoder_ffn_dim"), au.int("num_mel_bins")
    n_pos, out_dim = au.int("max_source_positions"), au.int("output_dim")
    if n_pos > MAX_POSITIONS:
        raise ConvertError(f"config.json: audio_config.max_source_positions {n_pos} is larger than {MAX_POSITIONS}")
    n_embd_text = text.int("hidden_size")
    if out_dim != n_embd_text:
        raise ConvertError(f"config.json: audio_config.output_dim {out_dim} differs from the thinker's "
                           f"hidden_size {n_embd_text}")
    if d % n_head or d % 2:
        raise ConvertError(f"config.json: audio_config.d_model {d} is not a multiple of its "
                           f"{n_head} heads (or not even)")
    general_keys(p, "clip", args.name, b.outtype, "mmproj")
    p.key("add_bool", "clip.has_audio_encoder", True)
    p.key("add_u32", "clip.audio.projection_dim", n_embd_text)
    p.key("add_u32", "clip.audio.embedding_length", d)
    p.key("add_u32", "clip.audio.feed_forward_length", ff)
    p.key("add_u32", "clip.audio.block_count", n_layers)
    p.key("add_u32", "clip.audio.attention.head_count", n_head)
    p.key("add_string", "clip.projector_type", "qwen2.5o")
    p.key("add_u32", "clip.audio.num_mel_bins", n_mel)
    p.key("add_f32", "clip.audio.attention.layer_norm_epsilon",
          au.float("layer_norm_eps") if "layer_norm_eps" in au.d else ENCODER_LAYER_NORM_EPS)
    p.key("add_u32", "mor.encoder.n_window", au.int("n_window"))

    h = "thinker.audio_tower."
    # conv weights F16 whatever the output type, biases as [C, 1] (llama.cpp)
    b.tensor(p, "a.conv1d.1.weight", h + "conv1.weight", [d, n_mel, 3], gw.F16)
    b.f32(p, "a.conv1d.1.bias", h + "conv1.bias", [d], shape=[d, 1])
    b.tensor(p, "a.conv1d.2.weight", h + "conv2.weight", [d, d, 3], gw.F16)
    b.f32(p, "a.conv1d.2.bias", h + "conv2.bias", [d], shape=[d, 1])
    p.specs.append(Spec("a.position_embd.weight", gw.F32, [n_pos, d], array=lambda: sinusoids(n_pos, d)))
    for i in range(n_layers):
        l, o = f"{h}layers.{i}.", f"a.blk.{i}."
        b.tensor(p, o + "ln1.weight", l + "self_attn_layer_norm.weight", [d])
        b.tensor(p, o + "ln1.bias", l + "self_attn_layer_norm.bias", [d])
        b.tensor(p, o + "attn_q.weight", l + "self_attn.q_proj.weight", [d, d])
        b.tensor(p, o + "attn_q.bias", l + "self_attn.q_proj.bias", [d])
        b.tensor(p, o + "attn_k.weight", l + "self_attn.k_proj.weight", [d, d])
        b.tensor(p, o + "attn_v.weight", l + "self_attn.v_proj.weight", [d, d])
        b.tensor(p, o + "attn_v.bias", l + "self_attn.v_proj.bias", [d])
        b.tensor(p, o + "attn_out.weight", l + "self_attn.out_proj.weight", [d, d])
        b.tensor(p, o + "attn_out.bias", l + "self_attn.out_proj.bias", [d])
        b.tensor(p, o + "ln2.weight", l + "final_layer_norm.weight", [d])
        b.tensor(p, o + "ln2.bias", l + "final_layer_norm.bias", [d])
        b.tensor(p, o + "ffn_up.weight", l + "fc1.weight", [ff, d])
        b.tensor(p, o + "ffn_up.bias", l + "fc1.bias", [ff])
        b.tensor(p, o + "ffn_down.weight", l + "fc2.weight", [d, ff])
        b.tensor(p, o + "ffn_down.bias", l + "fc2.bias", [d])
    b.tensor(p, "a.post_ln.weight", h + "ln_post.weight", [d])
    b.tensor(p, "a.post_ln.bias", h + "ln_post.bias", [d])
    b.tensor(p, "mm.a.fc.weight", h + "proj.weight", [out_dim, d])
    b.tensor(p, "mm.a.fc.bias", h + "proj.bias", [out_dim])
    b.used.add(h + "audio_bos_eos_token.weight")     # unused by transformers; llama.cpp drops it too
    return p


def build_talker(b, cfg, speakers, args):
    """Talker, token2wav and speakers in mor's own layout (docs/model-format.md)."""
    p = Part("talker")
    general_keys(p, "mor", args.name, b.outtype)
    talker_tensors(b, p, cfg.talker, cfg.text)
    dit_tensors(b, p, cfg.dit)
    bigvgan_tensors(b, p, cfg.bigvgan, cfg.dit)
    speaker_tensors(b, p, speakers, cfg.dit, cfg.text, os.path.join(args.checkpoint, "spk_dict.pt"))
    return p


def thinker_rows(b, text, ids, what):
    """A function giving rows @ids of the thinker's input embedding
    (thinker.model.embed_tokens) in float32: the talker's text rows, which it
    would otherwise need the thinker's file for."""
    hf = "thinker.model.embed_tokens.weight"
    vocab, hidden = text.int("vocab_size"), text.int("hidden_size")
    if hf not in b.ckpt:
        raise ConvertError(f"checkpoint: missing tensor {hf} (needed for {what})")
    if tuple(b.ckpt.shape(hf)) != (vocab, hidden):
        raise ConvertError(f"checkpoint: tensor {hf} has shape {list(b.ckpt.shape(hf))}, but config.json implies "
                           f"{[vocab, hidden]}")
    for i in ids:
        if not 0 <= i < vocab:
            raise ConvertError(f"{what}: thinker token id {i} is not below the thinker's vocab_size {vocab}")
    to_f32 = b.ckpt.to_f32(hf)
    return lambda: to_f32(np.asarray(b.ckpt.array(hf)[list(ids)]))


def put_keys(p, prefix, sec, ints=(), floats=(), lists=()):
    for k in ints:
        p.key("add_u32", prefix + k, sec.int(k, minimum=0))
    for k in floats:
        p.key("add_f32", prefix + k, sec.float(k))
    for k in lists:
        p.key("add_array", prefix + k, gw.UINT32, sec.ints(k))


def talker_tensors(b, p, t, text):
    E, H = t.int("embedding_size"), t.int("hidden_size")
    n_layers, n_head, n_kv = t.int("num_hidden_layers"), t.int("num_attention_heads"), t.int("num_key_value_heads")
    head_dim, ff, V = t.int("head_dim"), t.int("intermediate_size"), t.int("vocab_size")
    if E != text.int("hidden_size"):
        raise ConvertError(f"config.json: talker_config.embedding_size {E} differs from the thinker's "
                           f"hidden_size {text.int('hidden_size')}")
    sections = t.rope("mrope_section")
    if (not isinstance(sections, list) or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0
                                                  for x in sections) or sum(sections) * 2 != head_dim):
        raise ConvertError(f"config.json: talker_config.rope_scaling.mrope_section = {sections!r}, expected "
                           f"integers covering head_dim / 2 = {head_dim // 2}")
    theta = positive(t, "rope_theta")
    for k in ("tts_codec_start_token_id", "tts_codec_end_token_id", "tts_codec_pad_token_id",
              "tts_codec_mask_token_id"):
        if t.int(k, minimum=0) >= V:
            raise ConvertError(f"config.json: talker_config.{k} = {t.int(k, minimum=0)} is not below "
                               f"vocab_size {V}")
    put_keys(p, "mor.talker.", t,
             ints=("vocab_size", "embedding_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                   "num_attention_heads", "num_key_value_heads", "head_dim", "max_position_embeddings",
                   "tts_text_start_token_id", "tts_text_end_token_id", "tts_text_pad_token_id",
                   "tts_codec_start_token_id", "tts_codec_end_token_id", "tts_codec_pad_token_id",
                   "tts_codec_mask_token_id", "audio_token_index"),
             floats=("rms_norm_eps",))
    p.key("add_f32", "mor.talker.rope_theta", float(theta))
    p.key("add_array", "mor.talker.mrope_section", gw.UINT32, sections)

    b.tensor(p, "talker.inp_proj.weight", "talker.thinker_to_talker_proj.weight", [H, E])
    b.tensor(p, "talker.inp_proj.bias", "talker.thinker_to_talker_proj.bias", [H])
    b.tensor(p, "talker.token_embd.weight", "talker.model.embed_tokens.weight", [V, E])
    text_ids = [t.int(k, minimum=0) for k in ("tts_text_start_token_id", "tts_text_end_token_id",
                                              "tts_text_pad_token_id")]
    p.specs.append(Spec("talker.text_embd.weight", gw.F32, [3, E],
                        array=thinker_rows(b, text, text_ids, "talker_config.tts_text_*_token_id")))
    qwen2_blocks(b, p, "talker.", "talker.model.", n_layers, H, n_head, n_kv, head_dim, ff)
    b.tensor(p, "talker.output_norm.weight", "talker.model.norm.weight", [H])
    b.tensor(p, "talker.output.weight", "talker.codec_head.weight", [V, H])


def dit_tensors(b, p, c):
    D, n_layers, n_head, head_dim = c.int("hidden_size"), c.int("num_hidden_layers"), \
        c.int("num_attention_heads"), c.int("head_dim")
    FF, inner, mel = D * c.int("ff_mult"), n_head * head_dim, c.int("mel_dim")
    emb, enc_dim, enc_emb = c.int("emb_dim"), c.int("enc_dim"), c.int("enc_emb_dim")
    ch, ks, dil = c.ints("enc_channels", minimum=1), c.ints("enc_kernel_sizes", minimum=1), \
        c.ints("enc_dilations", minimum=1)
    scale, se, att = c.int("enc_res2net_scale"), c.int("enc_se_channels"), c.int("enc_attention_channels")
    if len(ch) < 3 or len(ks) != len(ch) or len(dil) != len(ch):
        raise ConvertError("config.json: dit_config enc_channels, enc_kernel_sizes and enc_dilations need the "
                           f"same length >= 3, found {len(ch)}, {len(ks)}, {len(dil)}")
    if any(x % scale for x in ch[1:-1]) or sum(ch[1:-1]) != ch[-1]:
        raise ConvertError(f"config.json: dit_config enc_channels {ch} do not fit res2net scale {scale} "
                           "and the feature aggregation")
    for k in ("look_ahead_layers", "look_backward_layers"):
        if any(i >= n_layers for i in c.ints(k)):
            raise ConvertError(f"config.json: dit_config.{k} {c.ints(k)} names a layer past {n_layers}")
    put_keys(p, "mor.dit.", c,
             ints=("hidden_size", "num_hidden_layers", "num_attention_heads", "head_dim", "ff_mult", "emb_dim",
                   "max_position_embeddings", "block_size", "repeats", "num_embeds", "mel_dim", "enc_emb_dim",
                   "enc_dim", "enc_attention_channels", "enc_res2net_scale", "enc_se_channels"),
             floats=("rope_theta",),
             lists=("look_ahead_layers", "look_backward_layers", "enc_channels", "enc_kernel_sizes",
                    "enc_dilations"))
    p.key("add_f32", "mor.dit.layer_norm_eps", DIT_FIXED["layer_norm_eps"])
    p.key("add_u32", "mor.dit.freq_embed_dim", DIT_FIXED["freq_embed_dim"])
    p.key("add_f32", "mor.dit.time_scale", DIT_FIXED["time_scale"])
    fe = DIT_FIXED["freq_embed_dim"]

    h, o = "token2wav.code2wav_dit_model.", "t2w.dit."

    def lin(name, hf, rows, cols):
        b.f32(p, o + name + ".weight", h + hf + ".weight", [rows, cols])
        b.f32(p, o + name + ".bias", h + hf + ".bias", [rows])

    lin("time_in", "time_embed.time_mlp.0", D, fe)
    lin("time_out", "time_embed.time_mlp.2", D, D)
    b.f32(p, o + "code_embd.weight", h + "text_embed.codec_embed.weight", [c.int("num_embeds") + 1, emb])
    lin("inp_proj", "input_embed.proj", D, mel + enc_dim + enc_emb + emb)
    if not b.f32(p, o + "rope_inv_freq", h + "rotary_embed.inv_freq", [head_dim // 2], optional=True):
        theta = c.float("rope_theta")
        inv = (1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)).astype(np.float32)
        p.specs.append(Spec(o + "rope_inv_freq", gw.F32, [head_dim // 2], array=lambda: inv))
    for i in range(n_layers):
        l, bo = f"transformer_blocks.{i}.", f"blk.{i}."
        lin(bo + "adaln", l + "attn_norm.linear", 6 * D, D)
        lin(bo + "attn_q", l + "attn.to_q", inner, D)
        lin(bo + "attn_k", l + "attn.to_k", inner, D)
        lin(bo + "attn_v", l + "attn.to_v", inner, D)
        lin(bo + "attn_output", l + "attn.to_out.0", D, inner)
        lin(bo + "ffn_up", l + "ff.ff.0", FF, D)
        lin(bo + "ffn_down", l + "ff.ff.3", D, FF)
    lin("adaln_out", "norm_out.linear", 2 * D, D)
    lin("output", "proj_out", mel, D)

    # ECAPA-TDNN speaker encoder (input_embed.spk_encoder); Conv1d weights [out, in, k]
    e, eo = h + "input_embed.spk_encoder.", o + "ecapa."

    def conv(name, hf, cout, cin, k):
        b.f32(p, eo + name + ".weight", e + hf + ".weight", [cout, cin, k])
        b.f32(p, eo + name + ".bias", e + hf + ".bias", [cout])

    conv("blk.0", "blocks.0.conv", ch[0], mel, ks[0])
    for i in range(1, len(ch) - 1):
        conv(f"blk.{i}.tdnn1", f"blocks.{i}.tdnn1.conv", ch[i], ch[i - 1], 1)
        for k in range(scale - 1):
            conv(f"blk.{i}.res2net.{k}", f"blocks.{i}.res2net_block.blocks.{k}.conv",
                 ch[i] // scale, ch[i] // scale, ks[i])
        conv(f"blk.{i}.tdnn2", f"blocks.{i}.tdnn2.conv", ch[i], ch[i], 1)
        conv(f"blk.{i}.se1", f"blocks.{i}.se_block.conv1", se, ch[i], 1)
        conv(f"blk.{i}.se2", f"blocks.{i}.se_block.conv2", ch[i], se, 1)
    conv("mfa", "mfa.conv", ch[-1], ch[-1], ks[-1])
    conv("asp_tdnn", "asp.tdnn.conv", att, 3 * ch[-1], 1)
    conv("asp_conv", "asp.conv", ch[-1], att, 1)
    conv("fc", "fc", enc_dim, 2 * ch[-1], 1)


def bigvgan_tensors(b, p, c, dit):
    mel, c0 = c.int("mel_dim"), c.int("upsample_initial_channel")
    rates, kernels = c.ints("upsample_rates", minimum=1), c.ints("upsample_kernel_sizes", minimum=1)
    rk = c.ints("resblock_kernel_sizes", minimum=1)
    rd = c.raw("resblock_dilation_sizes")
    if len(rates) != len(kernels) or not rates:
        raise ConvertError(f"config.json: bigvgan_config upsample_rates {rates} and upsample_kernel_sizes "
                           f"{kernels} differ in length")
    if (not isinstance(rd, list) or len(rd) != len(rk)
            or not all(isinstance(r, list) and len(r) == 3 and all(isinstance(x, int) and not isinstance(x, bool)
                                                                    and x >= 1 for x in r) for r in rd)):
        raise ConvertError(f"config.json: bigvgan_config.resblock_dilation_sizes = {rd!r}, expected "
                           f"{len(rk)} lists of 3 dilations")
    if c0 % (1 << len(rates)):
        raise ConvertError(f"config.json: bigvgan_config.upsample_initial_channel {c0} does not halve "
                           f"{len(rates)} times")
    if mel != dit.int("mel_dim"):
        raise ConvertError(f"config.json: bigvgan mel_dim {mel} differs from the DiT's {dit.int('mel_dim')}")
    put_keys(p, "mor.bigvgan.", c, ints=("mel_dim", "upsample_initial_channel"),
             lists=("upsample_rates", "upsample_kernel_sizes", "resblock_kernel_sizes"))
    p.key("add_array", "mor.bigvgan.resblock_dilation_sizes", gw.UINT32, [x for r in rd for x in r])

    h, o = "token2wav.code2wav_bigvgan_model.", "t2w.bigvgan."
    b.f32(p, o + "conv_pre.weight", h + "conv_pre.weight", [c0, mel, 7])
    b.f32(p, o + "conv_pre.bias", h + "conv_pre.bias", [c0])
    for i, k in enumerate(kernels):
        cin, cout = c0 >> i, c0 >> (i + 1)
        # ConvTranspose1d weights are [in, out, k]
        b.f32(p, o + f"ups.{i}.weight", h + f"ups.{i}.0.weight", [cin, cout, k])
        b.f32(p, o + f"ups.{i}.bias", h + f"ups.{i}.0.bias", [cout])
        for r, kr in enumerate(rk):
            j = i * len(rk) + r
            for n in ("1", "2"):
                for m in range(3):
                    b.f32(p, o + f"res.{j}.conv{n}.{m}.weight", h + f"resblocks.{j}.convs{n}.{m}.weight",
                          [cout, cout, kr])
                    b.f32(p, o + f"res.{j}.conv{n}.{m}.bias", h + f"resblocks.{j}.convs{n}.{m}.bias", [cout])
            for a in range(6):
                for ab in ("alpha", "beta"):
                    b.f32(p, o + f"res.{j}.act.{a}.{ab}", h + f"resblocks.{j}.activations.{a}.act.{ab}", [cout])
    last = c0 >> len(rates)
    for ab in ("alpha", "beta"):
        b.f32(p, o + f"act_post.{ab}", h + f"activation_post.act.{ab}", [last])
    b.f32(p, o + "conv_post.weight", h + "conv_post.weight", [1, last, 7])


def speaker_tensors(b, p, speakers, dit, text, path):
    enc_emb, mel = dit.int("enc_emb_dim"), dit.int("mel_dim")
    vocab_size, E = text.int("vocab_size"), text.int("hidden_size")
    names, bos = [], []
    for s in speakers:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", s.name):
            raise ConvertError(f"{path}: speaker name {s.name!r} is not 1..32 letters, digits, _ or -")
        cond = s.cond.reshape(-1) if s.cond.size == enc_emb else None
        if cond is None or s.cond.ndim > 2:
            raise ConvertError(f"{path}: speaker {s.name}: cond has shape {list(s.cond.shape)}, "
                               f"expected [1, {enc_emb}]")
        ref = s.ref_mel
        if ref.ndim == 3 and ref.shape[0] == 1:
            ref = ref[0]
        if ref.ndim != 2 or ref.shape[1] != mel or ref.shape[0] < 1:
            raise ConvertError(f"{path}: speaker {s.name}: ref_mel has shape {list(s.ref_mel.shape)}, "
                               f"expected [1, T, {mel}]")
        if s.bos_token >= vocab_size:
            raise ConvertError(f"{path}: speaker {s.name}: bos_token {s.bos_token} is not below the "
                               f"thinker's vocab_size {vocab_size}")
        names.append(s.name)
        bos.append(s.bos_token)
        p.specs.append(Spec(f"spk.{s.name}.cond", gw.F32, [enc_emb], array=lambda c=cond: c))
        p.specs.append(Spec(f"spk.{s.name}.ref_mel", gw.F32, ref.shape, array=lambda r=ref: r))
        p.specs.append(Spec(f"spk.{s.name}.bos_embd", gw.F32, [E],
                            array=thinker_rows(b, text, [s.bos_token], f"{path}: speaker {s.name}")))
    p.key("add_array", "mor.speakers.names", gw.STRING, names)
    p.key("add_array", "mor.speakers.bos_token_ids", gw.UINT32, bos)
    p.key("add_string", "mor.speakers.default", "Chelsie" if "Chelsie" in names else names[0])


def interleave_keys(p, args, tok):
    opts = dict(response_end=args.response_end, reasoning_end=args.reasoning_end,
                response_pad=args.response_pad, reasoning_pad=args.reasoning_pad)
    given = [k for k, v in opts.items() if v is not None]
    if args.interleave_ratio is None and not given:
        return
    if args.interleave_ratio is None or len(given) != len(opts):
        raise ConvertError("an interleave schedule needs --interleave-ratio, --response-end, --reasoning-end, "
                           "--response-pad and --reasoning-pad together")
    m = re.fullmatch(r"([0-9]{1,4}):([0-9]{1,4})", args.interleave_ratio)
    if not m or int(m.group(1)) < 1:
        raise ConvertError(f"--interleave-ratio {args.interleave_ratio!r}: expected P:Q with P >= 1 "
                           "response and Q >= 0 reasoning tokens a cycle")
    p.key("add_u32", "mor.interleave.response_tokens", int(m.group(1)))
    p.key("add_u32", "mor.interleave.reasoning_tokens", int(m.group(2)))
    for k, text in opts.items():
        p.key("add_string", f"mor.interleave.{k}", text)
        p.key("add_u32", f"mor.interleave.{k}_id", tok.token_id(text, "--" + k.replace("_", "-")))


# ---- writing ----

def log(args, msg):
    if not args.quiet:
        print(f"convert_hf: {msg}", file=sys.stderr, flush=True)


def chunks_for(spec, ckpt):
    if spec.array is not None:
        return gw.array_chunks(lambda: np.asarray(spec.array(), dtype=np.float32).reshape(spec.shape))
    return gw.array_chunks(lambda: ckpt.array(spec.hf), ckpt.to_f32(spec.hf))


def write_file(path, parts, ckpt, args, single=False):
    w = gw.GGUFWriter(path)
    seen = set()
    for part in parts:
        for method, key, *rest in part.keys:
            if key in seen:      # general.* of the later parts of a --single file
                continue
            seen.add(key)
            getattr(w, method)(key, *rest)
    if single:
        w.add_array("mor.parts", gw.STRING, [p.name for p in parts])
    for part in parts:
        for s in part.specs:
            w.add_tensor(gw.Tensor(s.name, s.shape, s.ggml_type, chunks_for(s, ckpt)))
    total = sum(t.nbytes for t in w.tensors)
    log(args, f"writing {path}: {len(w.tensors)} tensors, {total / (1 << 20):.1f} MiB")
    width = len(str(len(w.tensors)))
    state = {"done": 0, "shown": 0}

    def progress(i, n, t):
        if args.verbose:
            log(args, f"  [{i + 1:{width}}/{n}] {t.name} {gw.TYPE_NAMES[t.ggml_type]} {list(reversed(t.shape))}")

    def advance(nbytes):
        state["done"] += nbytes
        tenth = state["done"] * 10 // max(total, 1)
        if total >= 64 << 20 and not args.verbose and tenth > state["shown"]:
            state["shown"] = tenth
            log(args, f"  {tenth * 10}% ({state['done'] >> 20} of {total >> 20} MiB)")
    w.write(progress, advance)


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="convert_hf.py",
        description="Convert a Hugging Face Qwen2.5-Omni checkpoint to GGUF (docs/model-format.md).")
    ap.add_argument("checkpoint", help="checkpoint directory (config.json, *.safetensors, spk_dict.pt, tokenizer)")
    ap.add_argument("--outdir", required=True, help="output directory (created if needed)")
    ap.add_argument("--single", action="store_true", help=f"write everything into one {SINGLE_NAME}")
    ap.add_argument("--outtype", choices=sorted(OUTTYPES), default="f16",
                    help="type of the 2-D weight matrices (default f16); norms, biases and token2wav stay f32")
    ap.add_argument("--parts", default=",".join(PARTS),
                    help="comma-separated parts to convert: thinker, encoder, talker (default all)")
    ap.add_argument("--name", help="general.name (default: the checkpoint directory's name)")
    ap.add_argument("--interleave-ratio", metavar="P:Q", help="thinking-in-speaking schedule: P response "
                    "then Q reasoning tokens a cycle (needs the four control tokens below)")
    ap.add_argument("--response-end", metavar="TOKEN", help="token that ends the response stream")
    ap.add_argument("--reasoning-end", metavar="TOKEN", help="token that ends the reasoning stream")
    ap.add_argument("--response-pad", metavar="TOKEN", help="token filling response slots after its end")
    ap.add_argument("--reasoning-pad", metavar="TOKEN", help="token filling reasoning slots after its end")
    ap.add_argument("-v", "--verbose", action="store_true", help="a line per tensor")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    ap.add_argument("--debug", action="store_true", help="show a traceback on internal errors")
    return ap.parse_args(argv)


def convert(args):
    start = time.monotonic()
    parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    bad = [x for x in parts if x not in PARTS]
    if bad or not parts:
        raise ConvertError(f"--parts {args.parts!r}: expected a list of {', '.join(PARTS)}")
    src = args.checkpoint
    if not os.path.isdir(src):
        raise ConvertError(f"{src}: not a directory")
    if args.name is None:
        args.name = os.path.basename(os.path.normpath(os.path.abspath(src)))
    outtype = OUTTYPES[args.outtype]
    cfg = OmniConfig(os.path.join(src, "config.json"))
    ckpt = Checkpoint(src)
    log(args, f"{src}: {len(ckpt.names())} tensors in {len(ckpt.files)} file(s)")
    b = Builder(ckpt, outtype)
    built = {}
    if "thinker" in parts:
        built["thinker"] = build_thinker(b, cfg, args)
    if "encoder" in parts:
        built["encoder"] = build_encoder(b, cfg, args)
    if "talker" in parts:
        speakers = load_speakers(os.path.join(src, "spk_dict.pt"))
        built["talker"] = build_talker(b, cfg, speakers, args)
    schedule = (args.interleave_ratio, args.response_end, args.reasoning_end, args.response_pad, args.reasoning_pad)
    if any(v is not None for v in schedule):
        host = built.get("thinker")
        if host is None:
            raise ConvertError("an interleave schedule is written into the thinker: add thinker to --parts")
        interleave_keys(host, args, host.tok)

    skipped = ("thinker.visual.",)
    unused = sorted(n for n in ckpt.names() if n not in b.used and not n.startswith(skipped)
                    and any(n.startswith(pre) for pre in prefixes(parts)))
    if unused:
        log(args, f"warning: {len(unused)} checkpoint tensors not converted, e.g. {', '.join(unused[:3])}")

    os.makedirs(args.outdir, exist_ok=True)
    if args.single:
        write_file(os.path.join(args.outdir, SINGLE_NAME), [built[p] for p in parts], ckpt, args, single=True)
    else:
        for p in parts:
            write_file(os.path.join(args.outdir, FILE_NAMES[p]), [built[p]], ckpt, args)
    log(args, f"done in {time.monotonic() - start:.1f} s")


def prefixes(parts):
    out = []
    if "thinker" in parts:
        out += ["thinker.model.", "thinker.lm_head."]
    if "encoder" in parts:
        out += ["thinker.audio_tower."]
    if "talker" in parts:
        out += ["talker.", "token2wav."]
    return out


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        convert(args)
    except ConvertError as e:
        print(f"convert_hf.py: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        name = f"{e.filename}: " if e.filename else ""
        print(f"convert_hf.py: error: {name}{e.strerror or e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("convert_hf.py: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug: one line unless asked for the traceback
        if args.debug:
            raise
        print(f"convert_hf.py: internal error: {type(e).__name__}: {e} (run with --debug for a traceback)",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
