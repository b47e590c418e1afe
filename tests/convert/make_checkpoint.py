#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writes a tiny synthetic Qwen2.5-Omni checkpoint in the exact Hugging Face layout.

    make_checkpoint.py DIR [--tokenizer-json]

config.json with every sub-config (thinker text + audio encoder + vision stub,
talker, token2wav DiT + BigVGAN), safetensors in two shards with an index (the
thinker in BF16; the talker in BF16 with an F16 codec head; token2wav in F32, as
the released checkpoint stores it), a torch-format spk_dict.pt written without
torch (a zip holding a protocol-2 pickle with the persistent ids torch.save
writes), and the tokenizer files. Tensor names are transformers'
(modeling_qwen2_5_omni.py) module paths.

The tokenizer is a real byte-level BPE (256 byte tokens and a few merges), far
smaller than Qwen's 151643 regular tokens, so the special tokens cannot sit at
their real ids (151643 <|endoftext|> ... 151872): they follow the regular tokens
in the same order, and every id in config.json and spk_dict.pt that refers to one
(audio_token_index, tts_text_*, the speakers' bos_token) uses the mapped id. The
last ids of the vocabulary are left without a token, as Qwen's padded vocab is.

Imported by test_convert.py, which uses make() to learn the exact values written.
"""

import collections
import json
import os
import pickle
import struct
import sys
import types
import zipfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "model", "train"))
from tokenizer import byte_alphabet  # noqa: E402  GPT-2's byte alphabet (pure python, no torch)

# ---- tiny dimensions ----
TEXT = dict(vocab_size=320, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-6, rope_theta=1000000.0,
            rope_scaling={"mrope_section": [2, 3, 3], "rope_type": "default", "type": "default"},
            hidden_act="silu", tie_word_embeddings=False, use_sliding_window=False, sliding_window=256,
            max_window_layers=2, model_type="qwen2_5_omni_text")
AUDIO = dict(num_mel_bins=16, encoder_layers=2, encoder_attention_heads=4, encoder_ffn_dim=128, d_model=64,
             max_source_positions=1500, n_window=100, output_dim=64, activation_function="gelu",
             scale_embedding=False, model_type="qwen2_5_omni_audio_encoder")
TALKER = dict(vocab_size=40, embedding_size=64, hidden_size=48, intermediate_size=64, num_hidden_layers=2,
              num_attention_heads=3, num_key_value_heads=1, head_dim=16, max_position_embeddings=256,
              rms_norm_eps=1e-6, rope_theta=1000000.0,
              rope_scaling={"mrope_section": [4, 4, 0], "rope_type": "default", "type": "default"},
              tts_codec_pad_token_id=32, tts_codec_start_token_id=33, tts_codec_end_token_id=34,
              tts_codec_mask_token_id=36, model_type="qwen2_5_omni_talker")
DIT = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, head_dim=16, ff_mult=2, emb_dim=16,
           rope_theta=10000.0, max_position_embeddings=1024, block_size=4, look_ahead_layers=[1],
           look_backward_layers=[0, 2], repeats=2, num_embeds=32, mel_dim=8, enc_emb_dim=8, enc_dim=8,
           enc_channels=[16, 16, 16, 32], enc_kernel_sizes=[5, 3, 3, 1], enc_dilations=[1, 2, 3, 1],
           enc_attention_channels=8, enc_res2net_scale=2, enc_se_channels=8,
           # the released config also carries these aliases, which transformers ignores
           dim=32, depth=3, heads=2)
BIGVGAN = dict(mel_dim=8, upsample_initial_channel=32, resblock_kernel_sizes=[3, 5],
               resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5]], upsample_rates=[2, 3], upsample_kernel_sizes=[4, 7])

# ---- tokenizer: byte tokens, merges, then the special tokens in Qwen's order ----
MERGES = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("e", "r"), ("o", "n"), ("Ġ", "s"),
          ("r", "e"), ("Ġ", "w"), ("a", "t"), ("e", "n"), ("Ġ", "c"), ("i", "s"), ("Ġ", "o"), ("o", "r")]
# (content, special): Qwen ids 151643.. in order, then the tts and speaker tokens, then
# a user-defined token and the thinking-in-speaking control tokens of a fine-tune.
SPECIALS = [("<|endoftext|>", True), ("<|im_start|>", True), ("<|im_end|>", True), ("<|AUDIO|>", True),
            ("<|audio_bos|>", True), ("<|audio_eos|>", True), ("<|vision_bos|>", True),
            ("<|vision_eos|>", True), ("<|vision_pad|>", True), ("<|IMAGE|>", True), ("<|VIDEO|>", True),
            ("<tts_pad>", True), ("<tts_text_bos>", True), ("<tts_text_eod>", True),
            ("<|spk_ethan|>", True), ("<|spk_chelsie|>", True), ("<think>", False),
            ("<resp_end>", True), ("<reason_end>", True), ("<resp_pad>", True), ("<reason_pad>", True)]
CHAT_TEMPLATE = ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
                 "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def vocabulary():
    vocab = {}
    for b, ch in sorted(byte_alphabet().items()):
        vocab[ch] = b
    for a, c in MERGES:
        vocab[a + c] = len(vocab)
    specials = {content: len(vocab) + i for i, (content, _) in enumerate(SPECIALS)}
    return vocab, specials


VOCAB, SPECIAL_IDS = vocabulary()
N_REGULAR = len(VOCAB)


def tid(content):
    return SPECIAL_IDS[content]


# ---- values ----

def bf16_round(x):
    """float32 rounded to the nearest bfloat16 (ties to even), as float32."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    r = ((u + (np.uint32(0x7FFF) + ((u >> 16) & np.uint32(1)))) >> 16) << 16
    return r.astype(np.uint32).view(np.float32)


class Tensors:
    """The checkpoint's tensors: name -> (stored dtype, exact float32 values)."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.t = {}

    def add(self, name, shape, dtype="BF16", scale=0.1, values=None):
        v = values if values is not None else self.rng.standard_normal(shape).astype(np.float32) * np.float32(scale)
        v = np.asarray(v, dtype=np.float32).reshape(shape)
        if dtype == "BF16":
            v = bf16_round(v)
        elif dtype == "F16":
            v = v.astype(np.float16).astype(np.float32)
        self.t[name] = (dtype, v)

    def linear(self, name, rows, cols, bias=True, dtype="BF16"):
        self.add(name + ".weight", (rows, cols), dtype)
        if bias:
            self.add(name + ".bias", (rows,), dtype, scale=0.02)


def qwen2_layers(T, prefix, n_layers, hidden, n_head, n_kv, head_dim, ff, dtype="BF16"):
    for i in range(n_layers):
        p = f"{prefix}layers.{i}."
        T.add(p + "input_layernorm.weight", (hidden,), dtype, values=1 + 0.1 * T.rng.standard_normal(hidden))
        T.linear(p + "self_attn.q_proj", n_head * head_dim, hidden, dtype=dtype)
        T.linear(p + "self_attn.k_proj", n_kv * head_dim, hidden, dtype=dtype)
        T.linear(p + "self_attn.v_proj", n_kv * head_dim, hidden, dtype=dtype)
        T.linear(p + "self_attn.o_proj", hidden, n_head * head_dim, bias=False, dtype=dtype)
        T.add(p + "post_attention_layernorm.weight", (hidden,), dtype,
              values=1 + 0.1 * T.rng.standard_normal(hidden))
        T.linear(p + "mlp.gate_proj", ff, hidden, bias=False, dtype=dtype)
        T.linear(p + "mlp.up_proj", ff, hidden, bias=False, dtype=dtype)
        T.linear(p + "mlp.down_proj", hidden, ff, bias=False, dtype=dtype)


def q8_edge_block():
    """32 values where ggml's roundf (half away from zero) and round-half-even
    differ: amax = 127/128 gives d = 1/128 exactly, so x = (n + 0.5)/128 lands on ties."""
    v = np.array([127, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 3.5, 63.5, -63.5, 126.5, -126.5, 0, 1, -1, 100.5]
                 + [k + 0.5 for k in range(16)], dtype=np.float32)
    return v / np.float32(128.0)


def build_tensors():
    T = Tensors(7)
    # thinker LLM
    t = TEXT
    hd = t["hidden_size"] // t["num_attention_heads"]
    T.add("thinker.model.embed_tokens.weight", (t["vocab_size"], t["hidden_size"]))
    qwen2_layers(T, "thinker.model.", t["num_hidden_layers"], t["hidden_size"], t["num_attention_heads"],
                 t["num_key_value_heads"], hd, t["intermediate_size"])
    up = T.t["thinker.model.layers.0.mlp.up_proj.weight"][1].copy()
    up.reshape(-1)[:32] = q8_edge_block()
    up.reshape(-1)[32:64] = 0.0                       # an all-zero block: d = 0
    T.add("thinker.model.layers.0.mlp.up_proj.weight", up.shape, values=up)
    T.add("thinker.model.norm.weight", (t["hidden_size"],), values=1 + 0.1 * T.rng.standard_normal(t["hidden_size"]))
    T.add("thinker.lm_head.weight", (t["vocab_size"], t["hidden_size"]))
    # audio encoder
    a = AUDIO
    d, ff, mel = a["d_model"], a["encoder_ffn_dim"], a["num_mel_bins"]
    T.add("thinker.audio_tower.conv1.weight", (d, mel, 3))
    T.add("thinker.audio_tower.conv1.bias", (d,), scale=0.02)
    T.add("thinker.audio_tower.conv2.weight", (d, d, 3))
    T.add("thinker.audio_tower.conv2.bias", (d,), scale=0.02)
    for i in range(a["encoder_layers"]):
        p = f"thinker.audio_tower.layers.{i}."
        T.add(p + "self_attn_layer_norm.weight", (d,), values=1 + 0.1 * T.rng.standard_normal(d))
        T.add(p + "self_attn_layer_norm.bias", (d,), scale=0.02)
        T.linear(p + "self_attn.q_proj", d, d)
        T.linear(p + "self_attn.k_proj", d, d, bias=False)
        T.linear(p + "self_attn.v_proj", d, d)
        T.linear(p + "self_attn.out_proj", d, d)
        T.add(p + "final_layer_norm.weight", (d,), values=1 + 0.1 * T.rng.standard_normal(d))
        T.add(p + "final_layer_norm.bias", (d,), scale=0.02)
        T.linear(p + "fc1", ff, d)
        T.linear(p + "fc2", d, ff)
    T.add("thinker.audio_tower.ln_post.weight", (d,), values=1 + 0.1 * T.rng.standard_normal(d))
    T.add("thinker.audio_tower.ln_post.bias", (d,), scale=0.02)
    T.linear("thinker.audio_tower.proj", a["output_dim"], d)
    T.add("thinker.audio_tower.audio_bos_eos_token.weight", (2, a["output_dim"]))
    # a vision stub: present in the real checkpoint, not converted
    T.add("thinker.visual.patch_embed.proj.weight", (32, 3, 2, 14, 14))
    T.add("thinker.visual.merger.ln_q.weight", (32,))
    # talker
    k = TALKER
    T.linear("talker.thinker_to_talker_proj", k["hidden_size"], k["embedding_size"])
    T.add("talker.model.embed_tokens.weight", (k["vocab_size"], k["embedding_size"]))
    qwen2_layers(T, "talker.model.", k["num_hidden_layers"], k["hidden_size"], k["num_attention_heads"],
                 k["num_key_value_heads"], k["head_dim"], k["intermediate_size"])
    T.add("talker.model.norm.weight", (k["hidden_size"],), values=1 + 0.1 * T.rng.standard_normal(k["hidden_size"]))
    T.add("talker.codec_head.weight", (k["vocab_size"], k["hidden_size"]), "F16")
    # token2wav DiT, float32
    c = DIT
    D, inner, FF = c["hidden_size"], c["num_attention_heads"] * c["head_dim"], c["hidden_size"] * c["ff_mult"]
    h = "token2wav.code2wav_dit_model."
    T.linear(h + "time_embed.time_mlp.0", D, 256, dtype="F32")
    T.linear(h + "time_embed.time_mlp.2", D, D, dtype="F32")
    T.add(h + "text_embed.codec_embed.weight", (c["num_embeds"] + 1, c["emb_dim"]), "F32")
    T.linear(h + "input_embed.proj", D, c["mel_dim"] + c["enc_dim"] + c["enc_emb_dim"] + c["emb_dim"], dtype="F32")
    inv = bf16_round(1.0 / 10000.0 ** (np.arange(0, c["head_dim"], 2) / c["head_dim"]))
    T.add(h + "rotary_embed.inv_freq", (c["head_dim"] // 2,), "F32", values=inv)
    for i in range(c["num_hidden_layers"]):
        p = f"{h}transformer_blocks.{i}."
        T.linear(p + "attn_norm.linear", 6 * D, D, dtype="F32")
        T.linear(p + "attn.to_q", inner, D, dtype="F32")
        T.linear(p + "attn.to_k", inner, D, dtype="F32")
        T.linear(p + "attn.to_v", inner, D, dtype="F32")
        T.linear(p + "attn.to_out.0", D, inner, dtype="F32")
        T.linear(p + "ff.ff.0", FF, D, dtype="F32")
        T.linear(p + "ff.ff.3", D, FF, dtype="F32")
    T.linear(h + "norm_out.linear", 2 * D, D, dtype="F32")
    T.linear(h + "proj_out", c["mel_dim"], D, dtype="F32")
    e = h + "input_embed.spk_encoder."
    ch, ks, s = c["enc_channels"], c["enc_kernel_sizes"], c["enc_res2net_scale"]

    def conv(name, cout, cin, kk):
        T.add(e + name + ".weight", (cout, cin, kk), "F32")
        T.add(e + name + ".bias", (cout,), "F32", scale=0.02)

    conv("blocks.0.conv", ch[0], c["mel_dim"], ks[0])
    for i in range(1, len(ch) - 1):
        conv(f"blocks.{i}.tdnn1.conv", ch[i], ch[i - 1], 1)
        for j in range(s - 1):
            conv(f"blocks.{i}.res2net_block.blocks.{j}.conv", ch[i] // s, ch[i] // s, ks[i])
        conv(f"blocks.{i}.tdnn2.conv", ch[i], ch[i], 1)
        conv(f"blocks.{i}.se_block.conv1", c["enc_se_channels"], ch[i], 1)
        conv(f"blocks.{i}.se_block.conv2", ch[i], c["enc_se_channels"], 1)
    conv("mfa.conv", ch[-1], ch[-1], ks[-1])
    conv("asp.tdnn.conv", c["enc_attention_channels"], 3 * ch[-1], 1)
    conv("asp.conv", ch[-1], c["enc_attention_channels"], 1)
    conv("fc", c["enc_dim"], 2 * ch[-1], 1)
    # token2wav BigVGAN, float32
    g = BIGVGAN
    h = "token2wav.code2wav_bigvgan_model."
    c0, nk = g["upsample_initial_channel"], len(g["resblock_kernel_sizes"])
    T.add(h + "conv_pre.weight", (c0, g["mel_dim"], 7), "F32")
    T.add(h + "conv_pre.bias", (c0,), "F32", scale=0.02)
    for i, kk in enumerate(g["upsample_kernel_sizes"]):
        cin, cout = c0 >> i, c0 >> (i + 1)
        T.add(h + f"ups.{i}.0.weight", (cin, cout, kk), "F32")
        T.add(h + f"ups.{i}.0.bias", (cout,), "F32", scale=0.02)
        for r, kr in enumerate(g["resblock_kernel_sizes"]):
            j = i * nk + r
            for n in (1, 2):
                for m in range(3):
                    T.add(h + f"resblocks.{j}.convs{n}.{m}.weight", (cout, cout, kr), "F32")
                    T.add(h + f"resblocks.{j}.convs{n}.{m}.bias", (cout,), "F32", scale=0.02)
            for m in range(6):
                T.add(h + f"resblocks.{j}.activations.{m}.act.alpha", (cout,), "F32")
                T.add(h + f"resblocks.{j}.activations.{m}.act.beta", (cout,), "F32")
    last = c0 >> len(g["upsample_rates"])
    T.add(h + "activation_post.act.alpha", (last,), "F32")
    T.add(h + "activation_post.act.beta", (last,), "F32")
    T.add(h + "conv_post.weight", (1, last, 7), "F32")
    return T.t


def config():
    thinker = dict(model_type="qwen2_5_omni_thinker", text_config=TEXT, audio_config=AUDIO,
                   vision_config=dict(model_type="qwen2_5_omni_vision_encoder", depth=1, hidden_size=32,
                                      intermediate_size=64, num_heads=2, in_channels=3, patch_size=14,
                                      spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=64,
                                      fullatt_block_indexes=[0], window_size=112),
                   audio_token_index=tid("<|AUDIO|>"), image_token_index=tid("<|IMAGE|>"),
                   video_token_index=tid("<|VIDEO|>"), audio_start_token_id=tid("<|audio_bos|>"),
                   audio_end_token_id=tid("<|audio_eos|>"), vision_start_token_id=tid("<|vision_bos|>"),
                   vision_end_token_id=tid("<|vision_eos|>"), position_id_per_seconds=25,
                   seconds_per_chunk=2, user_token_id=77, bos_token_id=tid("<|endoftext|>"),
                   eos_token_id=tid("<|im_end|>"), pad_token_id=tid("<|endoftext|>"))
    talker = dict(TALKER, audio_token_index=tid("<|AUDIO|>"), image_token_index=tid("<|IMAGE|>"),
                  video_token_index=tid("<|VIDEO|>"), tts_text_start_token_id=tid("<tts_text_bos>"),
                  tts_text_end_token_id=tid("<tts_text_eod>"), tts_text_pad_token_id=tid("<tts_pad>"),
                  vision_start_token_id=tid("<|vision_bos|>"), vision_end_token_id=tid("<|vision_eos|>"),
                  audio_start_token_id=tid("<|audio_bos|>"), audio_end_token_id=tid("<|audio_eos|>"),
                  position_id_per_seconds=25, seconds_per_chunk=2)
    return dict(architectures=["Qwen2_5OmniModel"], model_type="qwen2_5_omni", enable_audio_output=True,
                enable_talker=True, torch_dtype="bfloat16", transformers_version="4.52.0.dev0",
                thinker_config=thinker, talker_config=talker,
                token2wav_config=dict(model_type="qwen2_5_omni_token2wav", dit_config=DIT, bigvgan_config=BIGVGAN))


# ---- files ----

_ST = {"BF16": ("<u2", 2), "F16": ("<f2", 2), "F32": ("<f4", 4)}


def stored_bytes(dtype, values):
    if dtype == "BF16":
        return (values.view(np.uint32) >> 16).astype("<u2").tobytes()
    return values.astype(_ST[dtype][0]).tobytes()


def write_safetensors(path, tensors):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        dtype, values = tensors[name]
        data = stored_bytes(dtype, values)
        header[name] = {"dtype": dtype, "shape": list(values.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


class _FakeStorage:
    def __init__(self, cls, key, data):
        self.cls, self.key, self.data = cls, key, data


class _FakeTensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __reduce_ex__(self, protocol):
        return (_FAKE_TORCH["rebuild"], (self.storage, self.offset, self.size, self.stride, False,
                                         collections.OrderedDict()))


_FAKE_TORCH = {}


def _fake_torch_modules():
    """Stand-ins for torch.FloatStorage, torch.BFloat16Storage and
    torch._utils._rebuild_tensor_v2, so that pickle names them as torch.save does."""
    if _FAKE_TORCH:
        return _FAKE_TORCH
    torch_mod, utils_mod = types.ModuleType("torch"), types.ModuleType("torch._utils")
    for name in ("FloatStorage", "BFloat16Storage", "LongStorage"):
        cls = type(name, (), {"__module__": "torch"})
        setattr(torch_mod, name, cls)
        _FAKE_TORCH[name] = cls

    def _rebuild_tensor_v2(*args):
        raise RuntimeError("stand-in")
    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils_mod._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch_mod._utils = utils_mod
    _FAKE_TORCH["rebuild"] = _rebuild_tensor_v2
    _FAKE_TORCH["modules"] = {"torch": torch_mod, "torch._utils": utils_mod}
    return _FAKE_TORCH


class _TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _FakeStorage):
            item = {"BFloat16Storage": 2, "FloatStorage": 4, "LongStorage": 8}[obj.cls.__name__]
            return ("storage", obj.cls, obj.key, "cpu", len(obj.data) // item)
        return None


def torch_zip(path, pickle_bytes, storages, prefix="archive"):
    """A torch.save zip: PREFIX/data.pkl, PREFIX/byteorder, PREFIX/data/KEY, PREFIX/version.
    Entries carry a fixed date so the file is the same bytes on every run."""
    def put(z, name, data):
        z.writestr(zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0)), data)

    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        put(z, f"{prefix}/data.pkl", pickle_bytes)
        put(z, f"{prefix}/byteorder", "little")
        for key, data in storages.items():
            put(z, f"{prefix}/data/{key}", data)
        put(z, f"{prefix}/version", "3\n")
        put(z, f"{prefix}/.data/serialization_id", "0123456789")


def speakers():
    """name -> (bos id, cond [1, enc_emb_dim], ref_mel [1, T, mel_dim]), exact float32 values."""
    rng = np.random.default_rng(11)
    D, M = DIT["enc_emb_dim"], DIT["mel_dim"]
    return collections.OrderedDict([
        ("Chelsie", (tid("<|spk_chelsie|>"), bf16_round(rng.standard_normal((1, D)).astype(np.float32)),
                     bf16_round(rng.standard_normal((1, 10, M)).astype(np.float32)))),
        ("Ethan", (tid("<|spk_ethan|>"), rng.standard_normal((1, D)).astype(np.float32),
                   rng.standard_normal((1, 12, M)).astype(np.float32))),
    ])


def write_speakers(path):
    """Chelsie in BFloat16Storage with an int bos_token; Ethan in FloatStorage
    with a storage offset (cond), a transposed view (ref_mel) and a bos_token
    saved as a 0-d int64 tensor: as torch.save would write them."""
    fake = _fake_torch_modules()
    saved = {k: sys.modules.get(k) for k in fake["modules"]}
    sys.modules.update(fake["modules"])
    try:
        obj, storages = {}, {}
        for name, (bos, cond, ref) in speakers().items():
            entry = {"bos_token": bos}
            if name == "Chelsie":
                for k, v in (("cond", cond), ("ref_mel", ref)):
                    key = str(len(storages))
                    data = (v.reshape(-1).view(np.uint32) >> 16).astype("<u2").tobytes()
                    st = _FakeStorage(fake["BFloat16Storage"], key, data)
                    storages[key] = data
                    entry[k] = _FakeTensor(st, 0, v.shape, tuple(s // 4 for s in v.strides))
            else:
                key = str(len(storages))
                storages[key] = np.array([bos], "<i8").tobytes()
                entry["bos_token"] = _FakeTensor(_FakeStorage(fake["LongStorage"], key, storages[key]), 0, (), ())
                key = str(len(storages))
                data = np.concatenate([np.full(3, 9.0, np.float32), cond.reshape(-1),
                                       np.full(2, 9.0, np.float32)]).astype("<f4").tobytes()
                storages[key] = data
                entry["cond"] = _FakeTensor(_FakeStorage(fake["FloatStorage"], key, data), 3, cond.shape,
                                            (cond.shape[1], 1))
                key = str(len(storages))
                T, M = ref.shape[1], ref.shape[2]
                data = np.ascontiguousarray(ref[0].T).astype("<f4").tobytes()   # [M, T] in memory
                storages[key] = data
                entry["ref_mel"] = _FakeTensor(_FakeStorage(fake["FloatStorage"], key, data), 0, ref.shape,
                                               (T * M, 1, T))
            obj[name] = entry
        import io
        buf = io.BytesIO()
        _TorchPickler(buf, protocol=2).dump(obj)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    torch_zip(path, buf.getvalue(), storages)


def write_tokenizer(directory, with_tokenizer_json):
    with open(os.path.join(directory, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(VOCAB, f, ensure_ascii=False)
    with open(os.path.join(directory, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in MERGES:
            f.write(f"{a} {b}\n")
    decoder = {str(tid(c)): {"content": c, "lstrip": False, "normalized": False, "rstrip": False,
                             "single_word": False, "special": s} for c, s in SPECIALS}
    tc = {"add_bos_token": False, "add_prefix_space": False, "added_tokens_decoder": decoder,
          "additional_special_tokens": [c for c, s in SPECIALS if s], "bos_token": None,
          "chat_template": CHAT_TEMPLATE, "clean_up_tokenization_spaces": False, "eos_token": "<|im_end|>",
          "errors": "replace", "model_max_length": 32768, "pad_token": "<|endoftext|>",
          "split_special_tokens": False, "tokenizer_class": "Qwen2Tokenizer", "unk_token": None}
    with open(os.path.join(directory, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(tc, f, ensure_ascii=False, indent=2)
    if with_tokenizer_json:
        tj = {"version": "1.0", "added_tokens": [dict(id=tid(c), content=c, single_word=False, lstrip=False,
                                                      rstrip=False, normalized=False, special=s)
                                                 for c, s in SPECIALS],
              "normalizer": {"type": "NFC"}, "pre_tokenizer": {"type": "ByteLevel"},
              "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False},
              "decoder": {"type": "ByteLevel"},
              "model": {"type": "BPE", "dropout": None, "unk_token": None, "byte_fallback": False,
                        "vocab": VOCAB, "merges": [[a, b] for a, b in MERGES]}}
        with open(os.path.join(directory, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tj, f, ensure_ascii=False)


def make(directory, tokenizer_json=False, shards=True):
    """Writes the checkpoint; returns {name: (stored dtype, exact float32 values)}."""
    os.makedirs(directory, exist_ok=True)
    tensors = build_tensors()
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config(), f, indent=2)
    if shards:
        split = {"model-00001-of-00002.safetensors": {k: v for k, v in tensors.items() if k.startswith("thinker.")},
                 "model-00002-of-00002.safetensors": {k: v for k, v in tensors.items()
                                                      if not k.startswith("thinker.")}}
        for fname, part in split.items():
            write_safetensors(os.path.join(directory, fname), part)
        total = sum(v.size * _ST[d][1] for d, v in tensors.values())
        index = {"metadata": {"total_size": total},
                 "weight_map": {k: f for f, part in split.items() for k in sorted(part)}}
        with open(os.path.join(directory, "model.safetensors.index.json"), "w") as f:
            json.dump(index, f, indent=2)
    else:
        write_safetensors(os.path.join(directory, "model.safetensors"), tensors)
    write_speakers(os.path.join(directory, "spk_dict.pt"))
    write_tokenizer(directory, tokenizer_json)
    return tensors


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--tokenizer-json", action="store_true", help="also write tokenizer.json")
    ap.add_argument("--single-file", action="store_true", help="one model.safetensors instead of two shards")
    a = ap.parse_args()
    make(a.dir, a.tokenizer_json, not a.single_file)
