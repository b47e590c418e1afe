# SPDX-License-Identifier: LGPL-2.1-or-later
"""mor-nano in PyTorch: Qwen2.5-Omni's audio encoder, thinker and talker at
tiny sizes, module for module as transformers 4.57's qwen2_5_omni computes
them for audio and text (reference qwen2.5-omni.md sections 1-5), with the
checkpoint's tensor names, so that a state_dict is the Hugging Face layout.

Only what audio-and-text input needs is here: with no image or video the
thinker's and talker's M-RoPE positions are the same in all three sections,
which is 1-D RoPE over the whole head (NeoX half-split).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---- sizes ----
AUDIO = dict(num_mel_bins=128, d_model=128, encoder_layers=3, encoder_attention_heads=4, encoder_ffn_dim=512,
             n_window=100, max_source_positions=1500)
TEXT = dict(hidden_size=192, num_hidden_layers=4, num_attention_heads=6, num_key_value_heads=2,
            intermediate_size=512, rope_theta=1000000.0, rms_norm_eps=1e-6, max_position_embeddings=2048,
            mrope_section=[4, 6, 6])
TALKER = dict(hidden_size=128, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2, head_dim=32,
              intermediate_size=384, rope_theta=1000000.0, rms_norm_eps=1e-6, max_position_embeddings=4096,
              mrope_section=[4, 6, 6])


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rope(x, positions, theta):
    """NeoX rotation of x [B, H, T, D] at @positions [T] (or [B, T])."""
    d = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
    ang = positions.float()[..., None] * inv
    cos, sin = torch.cat([ang, ang], -1).cos(), torch.cat([ang, ang], -1).sin()
    if cos.dim() == 3:
        cos, sin = cos[:, None], sin[:, None]
    x1, x2 = x[..., :d // 2], x[..., d // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def attend(q, k, v, mask):
    """softmax(q k^T / sqrt(d) + mask) v, with k and v repeated for GQA."""
    if k.shape[1] != q.shape[1]:
        k = k.repeat_interleave(q.shape[1] // k.shape[1], 1)
        v = v.repeat_interleave(q.shape[1] // v.shape[1], 1)
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    return torch.softmax(s + mask, -1) @ v


class Qwen2Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.h, self.kv = c["num_attention_heads"], c["num_key_value_heads"]
        self.d = c.get("head_dim") or c["hidden_size"] // self.h
        self.theta = c["rope_theta"]
        self.q_proj = nn.Linear(c["hidden_size"], self.h * self.d)
        self.k_proj = nn.Linear(c["hidden_size"], self.kv * self.d)
        self.v_proj = nn.Linear(c["hidden_size"], self.kv * self.d)
        self.o_proj = nn.Linear(self.h * self.d, c["hidden_size"], bias=False)

    def forward(self, x, positions, mask):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.h, self.d).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.kv, self.d).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.kv, self.d).transpose(1, 2)
        q, k = rope(q, positions, self.theta), rope(k, positions, self.theta)
        return self.o_proj(attend(q, k, v, mask).transpose(1, 2).reshape(B, T, -1))


class Qwen2MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gate_proj = nn.Linear(c["hidden_size"], c["intermediate_size"], bias=False)
        self.up_proj = nn.Linear(c["hidden_size"], c["intermediate_size"], bias=False)
        self.down_proj = nn.Linear(c["intermediate_size"], c["hidden_size"], bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Qwen2Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.self_attn = Qwen2Attention(c)
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.mlp = Qwen2MLP(c)

    def forward(self, x, positions, mask):
        x = x + self.self_attn(self.input_layernorm(x), positions, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class Qwen2Model(nn.Module):
    """embed_tokens, layers, norm: the thinker's and the talker's decoder (`model.*`)."""

    def __init__(self, c, vocab, embedding_size=None):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, embedding_size or c["hidden_size"])
        self.layers = nn.ModuleList(Qwen2Layer(c) for _ in range(c["num_hidden_layers"]))
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])

    def forward(self, x, lengths=None):
        """Final-normed hidden states of input rows x [B, T, hidden], causal; right padding beyond @lengths."""
        T = x.shape[1]
        mask = torch.full((T, T), float("-inf")).triu(1)
        if lengths is not None:
            pad = torch.arange(T)[None, :] >= lengths[:, None]
            mask = mask[None, None] + torch.where(pad, float("-inf"), 0.0)[:, None, None, :]
            mask = mask.clamp(min=-1e30)
        positions = torch.arange(T)
        for layer in self.layers:
            x = layer(x, positions, mask)
        return self.norm(x)


def sinusoids(length, channels):
    inc = math.log(10000) / (channels // 2 - 1)
    inv = torch.exp(-inc * torch.arange(channels // 2, dtype=torch.float32))
    t = torch.arange(length, dtype=torch.float32)[:, None] * inv[None, :]
    return torch.cat([t.sin(), t.cos()], 1)


class EncoderAttention(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.q_proj, self.k_proj = nn.Linear(d, d), nn.Linear(d, d, bias=False)
        self.v_proj, self.out_proj = nn.Linear(d, d), nn.Linear(d, d)

    def forward(self, x, mask):
        B, T, d = x.shape
        q, k, v = (p(x).view(B, T, self.h, -1).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))
        return self.out_proj(attend(q, k, v, mask).transpose(1, 2).reshape(B, T, d))


class EncoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["d_model"]
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.self_attn = EncoderAttention(d, c["encoder_attention_heads"])
        self.final_layer_norm = nn.LayerNorm(d)
        self.fc1, self.fc2 = nn.Linear(d, c["encoder_ffn_dim"]), nn.Linear(c["encoder_ffn_dim"], d)

    def forward(self, x, mask):
        x = x + self.self_attn(self.self_attn_layer_norm(x), mask)
        return x + self.fc2(F.gelu(self.fc1(self.final_layer_norm(x))))


class AudioEncoder(nn.Module):
    """`thinker.audio_tower`: every 2·n_window mel frames an independent chunk (own
    zero padding, positions from 0, attention inside the chunk), then per utterance
    the chunks' rows in order, pooled by 2, ln_post and proj to the thinker width."""

    def __init__(self, c, out_dim):
        super().__init__()
        d = c["d_model"]
        self.chunk = 2 * c["n_window"]
        self.conv1 = nn.Conv1d(c["num_mel_bins"], d, 3, padding=1)
        self.conv2 = nn.Conv1d(d, d, 3, stride=2, padding=1)
        self.register_buffer("positional_embedding", sinusoids(c["max_source_positions"], d), persistent=False)
        self.layers = nn.ModuleList(EncoderLayer(c) for _ in range(c["encoder_layers"]))
        self.ln_post = nn.LayerNorm(d)
        self.proj = nn.Linear(d, out_dim)
        self.audio_bos_eos_token = nn.Embedding(2, out_dim)   # in the checkpoint; transformers never uses it

    @staticmethod
    def rows(n_frames):
        """Rows the encoder gives for @n_frames mel frames (transformers' formula)."""
        return ((n_frames - 1) // 2 + 1 - 2) // 2 + 1

    def forward(self, mels):
        """mels: list of [n_mel, L] tensors → list of [rows(L), out_dim]."""
        chunks, owner = [], []
        for i, m in enumerate(mels):
            for s in range(0, m.shape[1], self.chunk):
                chunks.append(m[:, s:s + self.chunk])
                owner.append(i)
        lengths = torch.tensor([c.shape[1] for c in chunks])
        Lc = int(lengths.max())
        x = torch.stack([F.pad(c, (0, Lc - c.shape[1])) for c in chunks])
        x = F.gelu(self.conv1(x)) * (torch.arange(Lc)[None, :] < lengths[:, None])[:, None, :]
        x = F.gelu(self.conv2(x)).transpose(1, 2)
        out_len = (lengths - 1) // 2 + 1
        T = x.shape[1]
        x = x + self.positional_embedding[:T]
        pad = torch.arange(T)[None, :] >= out_len[:, None]
        mask = torch.where(pad, -1e30, 0.0)[:, None, None, :]
        for layer in self.layers:
            x = layer(x, mask)
        out = []
        for i in range(len(mels)):
            rows = torch.cat([x[j, :out_len[j]] for j in range(len(chunks)) if owner[j] == i])
            n = rows.shape[0] // 2
            pooled = rows[:2 * n].view(n, 2, -1).mean(1)
            out.append(self.proj(self.ln_post(pooled)))
        return out


class Thinker(nn.Module):
    """`thinker.*`: audio_tower, model, lm_head."""

    def __init__(self, vocab, audio_id):
        super().__init__()
        self.audio_id = audio_id
        self.audio_tower = AudioEncoder(AUDIO, TEXT["hidden_size"])
        self.model = Qwen2Model(TEXT, vocab)
        self.lm_head = nn.Linear(TEXT["hidden_size"], vocab, bias=False)

    def embed(self, ids, mels=None, audio=None):
        """Input rows: token embeddings, the audio rows (the encoder's of @mels, or
        given as @audio, a list) in place of <|AUDIO|>, in order."""
        e = self.model.embed_tokens(ids)
        if mels:
            audio = self.audio_tower(mels)
        if audio:
            e = e.masked_scatter((ids == self.audio_id)[..., None], torch.cat(audio))
        return e

    def forward(self, ids, mels, lengths, audio=None):
        e = self.embed(ids, mels, audio)
        h = self.model(e, lengths)
        return self.lm_head(h), h, e
