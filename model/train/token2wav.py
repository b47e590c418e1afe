# SPDX-License-Identifier: LGPL-2.1-or-later
"""mor-nano's token2wav: speech codes, a tiny DiT (codes -> mel by flow
matching) and a tiny BigVGAN (mel -> 24 kHz speech), trained on CPU.

    python3 model/train/token2wav.py --data DATA --out OUT [--dit-minutes 12] [--vocoder-minutes 20]
    python3 model/train/token2wav.py --data DATA --out OUT --verify     # compare with mor's runtime

DATA holds responses.json (a list of {"id", "text"}) and resp24/<id>.npy
(float32 mono 24 kHz speech of each text in the nano voice). Everything is
written to OUT and each stage resumes from its checkpoint there, so a rerun
continues where the wall-clock budget stopped it (the budgets are totals over
all runs; raising one continues training, its learning rate following the
cosine of the new total). --verify converts the export with
model/convert/convert_hf.py (inside a tiny checkpoint from
tests/convert/make_checkpoint.py) and compares mor's token2wav, vocode and
ecapa commands with this module's forward on the same codes and noise.

  codes.npz       "codebook" float32 [K, 160] and "c<id>" int32 [n] per response
  dit.ckpt        DiT + speaker vector + optimizer (saved every two minutes)
  vocoder.ckpt    BigVGAN + optimizer
  token2wav.pt    export(): {"state": {HF name: tensor}, "dit_config", "bigvgan_config",
                  "speaker": {"cond": [1, enc_emb_dim], "ref_mel": [1, T, 80]}}

The models are transformers' Qwen2_5OmniToken2WavDiTModel and
Qwen2_5OmniToken2WavBigVGANModel (qwen2_5_omni, 4.57.x) at a tiny size, written
anew with the same computation and the same parameter names, so that the state
converts with model/convert/convert_hf.py and runs unchanged in mor.

Mel (the DiT's output, BigVGAN's input): 24 kHz, frames of 240 samples (100 per
second), periodic Hann window of 1024, the signal reflect-padded by 392 at
each end and not centred (so n samples give exactly n / 240 frames, frame i
centred on sample 240 i + 120), STFT magnitude, 80 Slaney mel bands 0-12 kHz
(Slaney-normalised), natural log of max(., 1e-5).

Speech codes: 50 a second, one per pair of mel frames. A response's audio is
padded with zeros to a multiple of 480 samples, n = len / 480 codes; code i is
the nearest (Euclidean) codebook row to the 160 values [mel frame 2i | mel frame
2i+1]. The codebook is K-means (K - 1 = 255 clusters) over the pairs of all
responses, in rows 1 .. K-1; row 0 (the mean pair) is never a code: the DiT's classifier-free
guidance forms its null condition by replacing every code with 0 (transformers'
DiTCodecEmbedding(drop_code=True)), so id 0 is kept free for that and the
embedding row 0 learns only "no condition". The talker's special ids K .. K+8
have rows too (num_embeds = K + 8); they are never trained and are exported as
copies of row 0, so a stray special code renders as unconditioned sound.

DiT: flow matching from noise (t = 0) to data (t = 1), as transformers'
sample() integrates: x_t = (1 - t) noise + t mel, target velocity mel - noise,
t drawn uniform or from the sway grid's density (1 - cos(pi u / 2), where
sample() places most of its steps). In 10 % of the samples the condition is
dropped as sample()'s null branch drops it: every code 0, speaker cond 0,
reference mel 0. Training windows are 96 frames (4 attention blocks of 24)
starting at any code boundary.

Speaker: one voice, "nano". The ECAPA-TDNN speaker encoder is tiny and its
final fc conv has weight and bias 0, so its output is exactly 0 for any
reference mel: the voice lives in a trained `cond` vector (enc_emb_dim 16) and
in the weights; ref_mel is a real nano mel only because the format wants one.

BigVGAN: no discriminator (too slow here); L1 of multi-resolution log STFT
magnitudes plus mel L1, on random 32-frame segments of the real mels, then for
the last fifth of its budget on a mix of real mels and the DiT's own mels
(same frames, real speech as the target).

Runs on one thread (torch.set_num_threads(1)); progress lines carry the losses.
Debian's torch calls the reference BLAS for nn.Linear, so the linears run as
1x1 convolutions (oneDNN), the block-masked attention is computed block by
block and BigVGAN's 2x upsampler in polyphase form: the same functions, several
times faster to train.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")           # numpy's BLAS: one thread, as torch
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np                                      # noqa: E402
import torch                                            # noqa: E402
import torch.nn as nn                                   # noqa: E402
import torch.nn.functional as F                         # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import speech                                           # noqa: E402

SR, HOP, N_FFT, N_MELS = 24000, 240, 1024, 80
FRAMES_PER_CODE = 2
SAMPLES_PER_CODE = HOP * FRAMES_PER_CODE
LOG_FLOOR = 1e-5
K = 256                                                  # codebook rows; row 0 is the null code
N_SPECIAL = 9                                            # the talker's ids K .. K+8 need DiT rows
DIT_WINDOW = 96                                          # training window, frames (4 blocks)
VOC_SEGMENT = 32                                         # vocoder training segment, frames
CKPT_EVERY = 120.0                                       # seconds between checkpoints

DIT_CONFIG = dict(hidden_size=96, num_hidden_layers=4, num_attention_heads=4, head_dim=24, ff_mult=2, emb_dim=64,
                  rope_theta=10000.0, max_position_embeddings=32768, block_size=24,
                  # Qwen's 22 layers look back in 0 and 20 and ahead in 10: first, last and middle here
                  look_ahead_layers=[2], look_backward_layers=[0, 3], repeats=FRAMES_PER_CODE,
                  num_embeds=K + N_SPECIAL - 1, mel_dim=N_MELS, enc_emb_dim=16, enc_dim=8,
                  enc_channels=[8, 8, 8, 16], enc_kernel_sizes=[5, 3, 3, 1], enc_dilations=[1, 2, 3, 1],
                  enc_attention_channels=8, enc_res2net_scale=2, enc_se_channels=8, dropout=0.0)
BIGVGAN_CONFIG = dict(mel_dim=N_MELS, upsample_initial_channel=32, upsample_rates=[8, 5, 6],
                      upsample_kernel_sizes=[16, 11, 12], resblock_kernel_sizes=[3, 7],
                      resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5]])
DIT_PREFIX = "token2wav.code2wav_dit_model."
BIGVGAN_PREFIX = "token2wav.code2wav_bigvgan_model."


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def lin(layer, x):
    """@layer (an nn.Linear) on @x [..., in] as a 1x1 convolution over a batch of rows: the same values, but
    through oneDNN, about ten times faster than the reference BLAS that Debian's torch calls for addmm."""
    y = F.conv1d(x.reshape(-1, x.shape[-1], 1), layer.weight.unsqueeze(-1), layer.bias)
    return y.reshape(*x.shape[:-1], -1)


# ---------------------------------------------------------------- mel

_MEL_FB = torch.tensor(speech._slaney_filters(N_MELS, N_FFT, SR), dtype=torch.float32)   # 0 .. SR/2 = 12 kHz
_WINDOW = torch.hann_window(N_FFT, periodic=True)


def log_mel(x):
    """[B, 80, n / 240] natural-log mel of float32 samples @x [B, n] (n a multiple of 240)."""
    pad = (N_FFT - HOP) // 2
    x = F.pad(x.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    spec = torch.stft(x, N_FFT, HOP, N_FFT, _WINDOW, center=False, return_complex=True)
    mag = torch.sqrt(spec.real ** 2 + spec.imag ** 2 + 1e-12)       # the epsilon keeps gradients finite
    return torch.log(torch.clamp(_MEL_FB @ mag, min=LOG_FLOOR))


def pad_audio(x):
    """Zero-pad @x to whole codes (480 samples each)."""
    return np.pad(x.astype(np.float32), (0, -len(x) % SAMPLES_PER_CODE))


# ---------------------------------------------------------------- data and codes

def load_data(data_dir):
    """[(id, audio [n], mel [80, n / 240])] with n a multiple of 480."""
    items = json.load(open(os.path.join(data_dir, "responses.json")))
    out = []
    for it in items:
        path = os.path.join(data_dir, "resp24", f"{it['id']}.npy")
        if not os.path.exists(path):
            continue
        audio = pad_audio(np.load(path))
        with torch.no_grad():
            mel = log_mel(torch.from_numpy(audio)[None])[0].numpy()
        out.append((int(it["id"]), audio, mel))
    log(f"data: {len(out)} responses, {sum(len(a) for _, a, _ in out) / SR / 60:.1f} minutes of speech")
    return out


def code_features(mel):
    """[n_codes, 160]: each pair of mel frames side by side (frame 2i, then 2i+1)."""
    return np.ascontiguousarray(mel.T.reshape(-1, FRAMES_PER_CODE * N_MELS))


def nearest(feats, centroids):
    """Index of the nearest row of @centroids for every row of @feats (in chunks)."""
    c2 = (centroids ** 2).sum(1)
    out = np.empty(len(feats), np.int64)
    for s in range(0, len(feats), 8192):
        f = feats[s:s + 8192]
        out[s:s + 8192] = np.argmin(c2[None] - 2 * f @ centroids.T, axis=1)
    return out


def kmeans(feats, k, iters=25, seed=0):
    """Lloyd's K-means with k-means++ seeding on a sample; empty clusters are re-seeded."""
    rng = np.random.default_rng(seed)
    sample = feats[rng.choice(len(feats), min(len(feats), 20000), replace=False)]
    cent = [sample[rng.integers(len(sample))]]
    d2 = ((sample - cent[0]) ** 2).sum(1)
    for _ in range(1, k):
        cent.append(sample[rng.choice(len(sample), p=d2 / d2.sum())])
        d2 = np.minimum(d2, ((sample - cent[-1]) ** 2).sum(1))
    cent = np.stack(cent).astype(np.float32)
    for it in range(iters):
        idx = nearest(feats, cent)
        counts = np.bincount(idx, minlength=k)
        sums = np.zeros_like(cent)
        np.add.at(sums, idx, feats)
        empty = counts == 0
        cent[~empty] = sums[~empty] / counts[~empty, None]
        cent[empty] = feats[rng.choice(len(feats), empty.sum(), replace=False)]
        err = ((feats - cent[idx]) ** 2).sum(1).mean() / feats.shape[1]
    log(f"k-means: {k} clusters over {len(feats)} code frames, mean squared error {err:.3f} per value")
    return cent


def make_codes(data, out_dir):
    """codes.npz: the codebook (row 0 null, see the docstring) and every response's codes; loaded if present."""
    path = os.path.join(out_dir, "codes.npz")
    if os.path.exists(path):
        z = np.load(path)
        return z["codebook"], {i: z[f"c{i}"] for i, _, _ in data}
    feats = np.concatenate([code_features(m) for _, _, m in data]).astype(np.float32)
    cent = kmeans(feats, K - 1)
    codebook = np.concatenate([feats.mean(0, keepdims=True), cent]).astype(np.float32)
    codes = {i: (nearest(code_features(m), cent) + 1).astype(np.int32) for i, _, m in data}
    np.savez(path + ".tmp.npz", codebook=codebook, **{f"c{i}": c for i, c in codes.items()})
    os.replace(path + ".tmp.npz", path)
    return codebook, codes


# ---------------------------------------------------------------- DiT (transformers' Token2WavDiTModel)
# Attribute paths equal transformers' module paths, so state_dict() gives the checkpoint names.

class Tdnn(nn.Module):
    """Conv1d with "same" reflect padding, then ReLU (TimeDelayNetBlock)."""

    def __init__(self, cin, cout, k, dilation):
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, k, dilation=dilation, padding="same", padding_mode="reflect")

    def forward(self, x):
        return torch.relu(self.conv(x))


class Res2Net(nn.Module):
    def __init__(self, ch, scale, k, dilation):
        super().__init__()
        self.scale = scale
        self.blocks = nn.ModuleList(Tdnn(ch // scale, ch // scale, k, dilation) for _ in range(scale - 1))

    def forward(self, x):
        parts, prev = [], None
        for i, part in enumerate(torch.chunk(x, self.scale, dim=1)):
            # part 0 passes through; part i > 1 also receives the previous part's output
            prev = part if i == 0 else self.blocks[i - 1](part if i == 1 else part + prev)
            parts.append(prev)
        return torch.cat(parts, dim=1)


class SqueezeExcite(nn.Module):
    def __init__(self, ch, se):
        super().__init__()
        self.conv1 = nn.Conv1d(ch, se, 1)
        self.conv2 = nn.Conv1d(se, ch, 1)

    def forward(self, x):
        w = torch.sigmoid(self.conv2(torch.relu(self.conv1(x.mean(dim=2, keepdim=True)))))
        return x * w


class SeRes2NetBlock(nn.Module):
    def __init__(self, cin, cout, scale, se, k, dilation):
        super().__init__()
        self.tdnn1 = Tdnn(cin, cout, 1, 1)
        self.res2net_block = Res2Net(cout, scale, k, dilation)
        self.tdnn2 = Tdnn(cout, cout, 1, 1)
        self.se_block = SqueezeExcite(cout, se)

    def forward(self, x):
        return x + self.se_block(self.tdnn2(self.res2net_block(self.tdnn1(x))))


def _weighted_stats(x, w):
    mean = (w * x).sum(2)
    std = torch.sqrt((w * (x - mean.unsqueeze(2)) ** 2).sum(2).clamp(min=1e-12))
    return mean, std


class StatsPool(nn.Module):
    """Attentive statistics pooling: attention over time from [x | mean | std], then weighted mean and std."""

    def __init__(self, ch, att):
        super().__init__()
        self.tdnn = Tdnn(3 * ch, att, 1, 1)
        self.conv = nn.Conv1d(att, ch, 1)

    def forward(self, x):
        T = x.shape[2]
        mean, std = _weighted_stats(x, torch.full_like(x[:, :1], 1.0 / T))
        ctx = torch.cat([x, mean.unsqueeze(2).expand(-1, -1, T), std.unsqueeze(2).expand(-1, -1, T)], dim=1)
        att = torch.softmax(self.conv(torch.tanh(self.tdnn(ctx))), dim=2)
        mean, std = _weighted_stats(x, att)
        return torch.cat([mean, std], dim=1).unsqueeze(2)


class Ecapa(nn.Module):
    """ECAPA-TDNN speaker encoder: ref_mel [B, T, mel] -> [B, enc_dim]."""

    def __init__(self, c):
        super().__init__()
        ch, ks, dil = c["enc_channels"], c["enc_kernel_sizes"], c["enc_dilations"]
        self.blocks = nn.ModuleList([Tdnn(c["mel_dim"], ch[0], ks[0], dil[0])])
        for i in range(1, len(ch) - 1):
            self.blocks.append(SeRes2NetBlock(ch[i - 1], ch[i], c["enc_res2net_scale"], c["enc_se_channels"],
                                              ks[i], dil[i]))
        self.mfa = Tdnn(ch[-1], ch[-1], ks[-1], dil[-1])
        self.asp = StatsPool(ch[-1], c["enc_attention_channels"])
        self.fc = nn.Conv1d(2 * ch[-1], c["enc_dim"], 1)

    def forward(self, ref_mel):
        x, outs = ref_mel.transpose(1, 2), []
        for blk in self.blocks:
            x = blk(x)
            outs.append(x)
        x = self.mfa(torch.cat(outs[1:], dim=1))
        return self.fc(self.asp(x)).squeeze(-1)


class TimeEmbed(nn.Module):
    """Sinusoid of 1000 t (256 values: sin, then cos) -> Linear -> SiLU -> Linear."""

    def __init__(self, D, freq_dim=256):
        super().__init__()
        self.freq_dim = freq_dim
        self.time_mlp = nn.ModuleList([nn.Linear(freq_dim, D), nn.SiLU(), nn.Linear(D, D)])

    def forward(self, t):
        half = self.freq_dim // 2
        f = torch.exp(torch.arange(half, dtype=torch.float32) * -(math.log(10000.0) / (half - 1)))
        a = (1000.0 * t).unsqueeze(1) * f.unsqueeze(0)
        h = torch.cat([a.sin(), a.cos()], dim=-1)
        for layer in self.time_mlp:
            h = lin(layer, h) if isinstance(layer, nn.Linear) else layer(h)
        return h


class CodeEmbed(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.repeats = c["repeats"]
        self.codec_embed = nn.Embedding(c["num_embeds"] + 1, c["emb_dim"])

    def forward(self, codes):
        return torch.repeat_interleave(self.codec_embed(codes), self.repeats, dim=1)


class InputEmbed(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.proj = nn.Linear(c["mel_dim"] + c["enc_dim"] + c["enc_emb_dim"] + c["emb_dim"], c["hidden_size"])
        self.spk_encoder = Ecapa(c)


class Rotary(nn.Module):
    def __init__(self, c):
        super().__init__()
        hd = c["head_dim"]
        self.register_buffer("inv_freq", 1.0 / c["rope_theta"] ** (torch.arange(0, hd, 2).float() / hd))

    def forward(self, T):
        f = torch.arange(T, dtype=torch.float32).unsqueeze(1) * self.inv_freq.unsqueeze(0)
        f = torch.repeat_interleave(f, 2, dim=1)               # interleaved pairs: f0 f0 f1 f1 ...
        return f.cos(), f.sin()


def rope(x, cos, sin):
    """Rotates interleaved pairs (x0, x1) -> (x0 cos - x1 sin, x1 cos + x0 sin)."""
    pairs = x.reshape(*x.shape[:-1], -1, 2)
    rot = torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1).reshape(x.shape)
    return x * cos + rot * sin


class AdaNorm(nn.Module):
    def __init__(self, D, n):
        super().__init__()
        self.linear = nn.Linear(D, n * D)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        D, inner = c["hidden_size"], c["num_attention_heads"] * c["head_dim"]
        self.heads = c["num_attention_heads"]
        self.to_q, self.to_k, self.to_v = nn.Linear(D, inner), nn.Linear(D, inner), nn.Linear(D, inner)
        self.to_out = nn.ModuleList([nn.Linear(inner, D)])

    def forward(self, x, cos, sin, window):
        B, T, _ = x.shape
        q, k, v = (lin(p, x).view(B, T, self.heads, -1).transpose(1, 2) for p in (self.to_q, self.to_k, self.to_v))
        # Qwen applies RoPE to the first head only
        q = torch.cat([rope(q[:, :1], cos, sin), q[:, 1:]], dim=1)
        k = torch.cat([rope(k[:, :1], cos, sin), k[:, 1:]], dim=1)
        a = block_attention(q, k, v, *window)
        return lin(self.to_out[0], a.transpose(1, 2).reshape(B, T, -1))


class FeedForward(nn.Module):
    def __init__(self, D, mult):
        super().__init__()
        # index 2 is transformers' Dropout (p = 0 here), so the linears keep the names ff.ff.0 and ff.ff.3
        self.ff = nn.ModuleList([nn.Linear(D, D * mult), nn.GELU(approximate="tanh"), nn.Identity(),
                                 nn.Linear(D * mult, D)])

    def forward(self, x):
        for layer in self.ff:
            x = lin(layer, x) if isinstance(layer, nn.Linear) else layer(x)
        return x


def block_attention(q, k, v, block, back, ahead):
    """Softmax attention [B, H, T, d] where a frame in block n (= frame // block) sees the frames of blocks
    n - back .. n + ahead: transformers' block_diff mask, computed block by block (each block's queries
    against its window of keys) so that the masked-out scores cost nothing."""
    B, H, T, d = q.shape
    nb = -(-T // block)
    q, k, v = (F.pad(t, (0, 0, 0, nb * block - T)).view(B, H, nb, block, d) for t in (q, k, v))

    def windows(t):        # [B, H, nb, (back + 1 + ahead) block, d]: blocks n - back .. n + ahead side by side
        t = F.pad(t, (0, 0, 0, 0, back, ahead))
        return torch.cat([t[:, :, o:o + nb] for o in range(back + ahead + 1)], dim=3)

    key = (torch.arange(nb)[:, None] - back) * block + torch.arange((back + ahead + 1) * block)[None]
    valid = (key >= 0) & (key < T)                              # [nb, window]: keys inside the sequence
    s = (q @ windows(k).transpose(-1, -2)) / math.sqrt(d)
    s = s.masked_fill(~valid[:, None, :], float("-inf"))
    a = torch.softmax(s, dim=-1) @ windows(v)
    return a.reshape(B, H, nb * block, d)[:, :, :T]


def layer_norm(x):
    return F.layer_norm(x, x.shape[-1:], eps=1e-6)


class DitBlock(nn.Module):
    def __init__(self, c, back, ahead):
        super().__init__()
        self.block, self.back, self.ahead = c["block_size"], back, ahead
        self.attn_norm = AdaNorm(c["hidden_size"], 6)
        self.attn = Attention(c)
        self.ff = FeedForward(c["hidden_size"], c["ff_mult"])

    def forward(self, x, temb, cos, sin):
        shift_a, scale_a, gate_a, shift_f, scale_f, gate_f = \
            lin(self.attn_norm.linear, F.silu(temb)).unsqueeze(1).chunk(6, dim=-1)
        x = x + gate_a * self.attn(layer_norm(x) * (1 + scale_a) + shift_a, cos, sin,
                                   (self.block, self.back, self.ahead))
        return x + gate_f * self.ff(layer_norm(x) * (1 + scale_f) + shift_f)


class Dit(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.time_embed = TimeEmbed(c["hidden_size"])
        self.text_embed = CodeEmbed(c)
        self.input_embed = InputEmbed(c)
        self.rotary_embed = Rotary(c)
        self.transformer_blocks = nn.ModuleList(
            DitBlock(c, int(i in c["look_backward_layers"]), int(i in c["look_ahead_layers"]))
            for i in range(c["num_hidden_layers"]))
        self.norm_out = AdaNorm(c["hidden_size"], 2)
        self.proj_out = nn.Linear(c["hidden_size"], c["mel_dim"])
        self._init()

    def _init(self):
        # AdaLN-Zero: every block starts as the identity, the output at 0; ECAPA's fc at 0 makes its
        # speaker vector 0 for any reference mel (frozen: the voice is in cond)
        for blk in self.transformer_blocks:
            nn.init.zeros_(blk.attn_norm.linear.weight)
            nn.init.zeros_(blk.attn_norm.linear.bias)
        for layer in (self.norm_out.linear, self.proj_out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        nn.init.normal_(self.text_embed.codec_embed.weight, std=0.3)
        fc = self.input_embed.spk_encoder.fc
        nn.init.zeros_(fc.weight)
        nn.init.zeros_(fc.bias)
        for p in self.input_embed.spk_encoder.parameters():
            p.requires_grad_(False)

    def forward(self, x, t, codes, cond, ref_mel):
        """Velocity [B, T, mel] at state @x [B, T, mel], time @t [B], codes [B, T / repeats],
        speaker cond [B, enc_emb_dim], reference mel [B, T_ref, mel]; a null sample has codes 0,
        cond 0 and ref_mel 0."""
        B, T, _ = x.shape
        temb = self.time_embed(t)
        spk = self.input_embed.spk_encoder(ref_mel).unsqueeze(1).expand(-1, T, -1)
        h = lin(self.input_embed.proj, torch.cat([x, spk, self.text_embed(codes),
                                                  cond.unsqueeze(1).expand(-1, T, -1)], dim=-1))
        cos, sin = self.rotary_embed(T)
        for layer in self.transformer_blocks:
            h = layer(h, temb, cos, sin)
        scale, shift = lin(self.norm_out.linear, F.silu(temb)).unsqueeze(1).chunk(2, dim=-1)
        return lin(self.proj_out, layer_norm(h) * (1 + scale) + shift)


def time_grid(steps, sway):
    t = torch.linspace(0, 1, steps, dtype=torch.float32)
    if sway is not None:
        t = t + sway * (torch.cos(torch.pi / 2 * t) - 1 + t)
    return t


@torch.no_grad()
def sample(dit, codes, cond, ref_mel, noise, steps=10, cfg=0.5, sway=-1.0, solver="rk4"):
    """transformers' Token2WavDiTModel.sample on one utterance: mel [T, mel] from @codes [n],
    starting at @noise [T, mel]; RK4 (3/8 rule) or Euler over the swayed grid, guidance @cfg."""
    codes = torch.as_tensor(codes, dtype=torch.long)[None]
    cond, ref_mel = torch.as_tensor(cond).reshape(1, -1), torch.as_tensor(ref_mel).reshape(1, -1, N_MELS)

    def velocity(t, x):
        tt = t.reshape(1)
        if cfg < 1e-5:
            return dit(x, tt, codes, cond, ref_mel)
        v = dit(torch.cat([x, x]), tt.repeat(2), torch.cat([codes, torch.zeros_like(codes)]),
                torch.cat([cond, torch.zeros_like(cond)]), torch.cat([ref_mel, torch.zeros_like(ref_mel)]))
        return v[:1] + (v[:1] - v[1:]) * cfg

    x = torch.as_tensor(noise, dtype=torch.float32)[None]
    grid = time_grid(steps, sway)
    for t0, t1 in zip(grid[:-1], grid[1:]):
        dt = t1 - t0
        k1 = velocity(t0, x)
        if solver == "euler":
            x = x + dt * k1
            continue
        k2 = velocity(t0 + dt / 3, x + dt * k1 / 3)
        k3 = velocity(t0 + dt * 2 / 3, x + dt * (k2 - k1 / 3))
        k4 = velocity(t1, x + dt * (k1 - k2 + k3))
        x = x + (k1 + 3 * (k2 + k3) + k4) * dt / 8
    return x[0]


# ---------------------------------------------------------------- BigVGAN (transformers' Token2WavBigVGANModel)

def kaiser_sinc(cutoff=0.25, half_width=0.3, taps=12):
    """The anti-aliasing low-pass: Kaiser-windowed sinc, even length, normalised to sum 1."""
    half = taps // 2
    atten = 2.285 * (half - 1) * math.pi * 4 * half_width + 7.95
    beta = 0.1102 * (atten - 8.7) if atten > 50 else \
        0.5842 * (atten - 21) ** 0.4 + 0.07886 * (atten - 21) if atten >= 21 else 0.0
    win = torch.kaiser_window(taps, periodic=False, beta=beta, dtype=torch.float32)
    n = torch.arange(-half, half) + 0.5
    f = 2 * cutoff * win * torch.sinc(2 * cutoff * n)
    return (f / f.sum()).view(1, 1, taps)


class SnakeBeta(nn.Module):
    """x + sin^2(x e^alpha) / (e^beta + 1e-9), alpha and beta per channel, stored as logs."""

    def __init__(self, ch):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(ch))
        self.beta = nn.Parameter(torch.zeros(ch))

    def forward(self, x):
        a, b = self.alpha.exp()[None, :, None], self.beta.exp()[None, :, None]
        return x + torch.sin(x * a) ** 2 / (b + 1e-9)


class AliasFreeAct(nn.Module):
    """SnakeBeta at twice the rate: 2x up (replicate pad 5, transposed conv with the 12-tap filter
    times 2, crop 15 each side), activation, 2x down (replicate pad 5 / 6, strided conv).

    The upsampler is computed in its polyphase form, one ordinary depthwise convolution that
    yields the even and the odd output samples as two channels (7 taps over the input padded by
    3 each side: even [f11 f9 .. f1 0], odd [0 f10 f8 .. f0]); it gives the same values as the
    transposed convolution (up to rounding) and trains faster on CPU."""

    def __init__(self, ch):
        super().__init__()
        self.act = SnakeBeta(ch)
        f = kaiser_sinc()
        fr, z = f[0, 0].flip(0), torch.zeros(1)
        phases = torch.stack([torch.cat([fr[0::2], z]), torch.cat([z, fr[1::2]])]).unsqueeze(1)   # [2, 1, 7]
        self.register_buffer("up_filter", phases.repeat(ch, 1, 1), persistent=False)
        self.register_buffer("down_filter", f.expand(ch, -1, -1).contiguous(), persistent=False)

    def forward(self, x):
        B, C, L = x.shape
        y = F.conv1d(F.pad(x, (3, 3), mode="replicate"), self.up_filter, groups=C)       # [B, 2C, L]
        x = 2 * y.view(B, C, 2, L).transpose(2, 3).reshape(B, C, 2 * L)
        x = self.act(x)
        return F.conv1d(F.pad(x, (5, 6), mode="replicate"), self.down_filter, stride=2, groups=C)


class AmpBlock(nn.Module):
    def __init__(self, ch, k, dilations):
        super().__init__()
        self.convs1 = nn.ModuleList(nn.Conv1d(ch, ch, k, dilation=d, padding=(k * d - d) // 2) for d in dilations)
        self.convs2 = nn.ModuleList(nn.Conv1d(ch, ch, k, padding=(k - 1) // 2) for _ in dilations)
        self.activations = nn.ModuleList(AliasFreeAct(ch) for _ in range(2 * len(dilations)))

    def forward(self, x):
        for m, (c1, c2) in enumerate(zip(self.convs1, self.convs2)):
            x = x + c2(self.activations[2 * m + 1](c1(self.activations[2 * m](x))))
        return x


class BigVgan(nn.Module):
    def __init__(self, c):
        super().__init__()
        c0 = c["upsample_initial_channel"]
        self.n_res = len(c["resblock_kernel_sizes"])
        self.conv_pre = nn.Conv1d(c["mel_dim"], c0, 7, padding=3)
        self.ups = nn.ModuleList(
            nn.ModuleList([nn.ConvTranspose1d(c0 >> i, c0 >> (i + 1), k, r, padding=(k - r) // 2)])
            for i, (r, k) in enumerate(zip(c["upsample_rates"], c["upsample_kernel_sizes"])))
        self.resblocks = nn.ModuleList(
            AmpBlock(c0 >> (i + 1), k, d) for i in range(len(self.ups))
            for k, d in zip(c["resblock_kernel_sizes"], c["resblock_dilation_sizes"]))
        last = c0 >> len(self.ups)
        self.activation_post = AliasFreeAct(last)
        self.conv_post = nn.Conv1d(last, 1, 7, padding=3, bias=False)
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)):
                nn.init.normal_(m.weight, std=0.01 if m is not self.conv_pre else 0.05)

    @staticmethod
    def preprocess(mel):
        """Natural-log amplitude -> dB - 20 (floor -115 dB) -> [-1, 1] (process_mel_spectrogram)."""
        db = 20 * torch.log10(torch.clamp(torch.exp(mel), min=10 ** (-115 / 20))) - 20
        return torch.clamp(2 * (db + 115) / 115 - 1, -1, 1)

    def forward(self, mel, clamp=True):
        """[B, 80, T] natural-log mel -> [B, T * 240] samples (clamped to [-1, 1] as transformers,
        unclamped for training so the loss keeps its gradient)."""
        x = self.conv_pre(self.preprocess(mel))
        for i, up in enumerate(self.ups):
            x = up[0](x)
            x = sum(self.resblocks[i * self.n_res + r](x) for r in range(self.n_res)) / self.n_res
        y = self.conv_post(self.activation_post(x)).squeeze(1)
        return torch.clamp(y, -1, 1) if clamp else y


# ---------------------------------------------------------------- training helpers

class Budget:
    """Wall-clock budget across resumed runs: @spent comes from the checkpoint."""

    def __init__(self, minutes, spent):
        self.total, self.start, self.spent0 = minutes * 60.0, time.time(), spent
        self.last_save = time.time()

    def spent(self):
        return self.spent0 + time.time() - self.start

    def frac(self):
        return min(self.spent() / self.total, 1.0) if self.total > 0 else 1.0

    def done(self):
        return self.spent() >= self.total

    def save_due(self):
        if time.time() - self.last_save >= CKPT_EVERY:
            self.last_save = time.time()
            return True
        return False


def lr_at(frac, peak, warm=0.03):
    """Linear warm-up, then a cosine to a tenth of the peak."""
    if frac < warm:
        return peak * (0.1 + 0.9 * frac / warm)
    return peak * (0.1 + 0.45 * (1 + math.cos(math.pi * (frac - warm) / (1 - warm))))


def save(path, obj):
    torch.save(obj, path + ".tmp")
    os.replace(path + ".tmp", path)


def split(data):
    """Every 50th response is held out of training for the measurements."""
    train = [d for k, d in enumerate(data) if k % 50 != 49] or data
    held = [d for k, d in enumerate(data) if k % 50 == 49] or data[:2]
    return train, held


def reference_mel(data):
    """The speaker's ref_mel [1, T, 80]: the first response's mel (at most 300 frames)."""
    return torch.from_numpy(data[0][2][:, :300].T.copy())[None]


# ---------------------------------------------------------------- DiT training

def dit_batch(train, codes, rng, batch, window=DIT_WINDOW):
    """Random windows starting at a code boundary: mel [B, W, 80], codes [B, W / 2]."""
    mels, cs = [], []
    long = [d for d in train if d[2].shape[1] >= window]
    for _ in range(batch):
        i, _, mel = long[rng.integers(len(long))]
        s = FRAMES_PER_CODE * rng.integers((mel.shape[1] - window) // FRAMES_PER_CODE + 1)
        mels.append(mel[:, s:s + window].T)
        cs.append(codes[i][s // FRAMES_PER_CODE:(s + window) // FRAMES_PER_CODE])
    return torch.from_numpy(np.stack(mels)), torch.from_numpy(np.stack(cs).astype(np.int64))


def dit_loss(dit, cond, ref_mel, mel, codes, rng, p_drop=0.1):
    """Flow matching: x_t = (1 - t) noise + t mel, predict mel - noise; conditions dropped as sample()'s
    null branch drops them."""
    B = mel.shape[0]
    u = torch.from_numpy(rng.random(B).astype(np.float32))
    swayed = torch.from_numpy(rng.random(B) < 0.5)
    t = torch.where(swayed, 1 - torch.cos(math.pi / 2 * u), u)
    noise = torch.randn_like(mel)
    x = (1 - t)[:, None, None] * noise + t[:, None, None] * mel
    keep = torch.from_numpy(rng.random(B) >= p_drop)
    codes = torch.where(keep[:, None], codes, torch.zeros_like(codes))
    c = cond.expand(B, -1) * keep[:, None]
    r = ref_mel.expand(B, -1, -1) * keep[:, None, None]
    v = dit(x, t, codes, c, r)
    return F.mse_loss(v, mel - noise)


def init_code_embedding(dit, codebook):
    """Rows 1 .. K-1 start as the codebook's principal components (codes that sound alike start close);
    row 0, the null condition, starts at 0."""
    c = codebook[1:] - codebook[1:].mean(0)
    _, _, vt = np.linalg.svd(c, full_matrices=False)
    proj = c @ vt[:DIT_CONFIG["emb_dim"]].T
    w = dit.text_embed.codec_embed.weight.data
    w[1:K] = torch.from_numpy(proj / proj.std() * 0.3).float()
    w[0] = 0


def train_dit(data, codes, codebook, out_dir, minutes, batch=16, peak_lr=1e-3):
    path = os.path.join(out_dir, "dit.ckpt")
    torch.manual_seed(0)
    dit = Dit(DIT_CONFIG)
    init_code_embedding(dit, codebook)
    cond = nn.Parameter(torch.zeros(1, DIT_CONFIG["enc_emb_dim"]))
    params = [p for p in dit.parameters() if p.requires_grad] + [cond]
    opt = torch.optim.AdamW(params, lr=peak_lr, weight_decay=0.01)
    state = dict(step=0, spent=0.0, ema=None)
    if os.path.exists(path):
        ck = torch.load(path)
        dit.load_state_dict(ck["model"])
        cond.data.copy_(ck["cond"])
        opt.load_state_dict(ck["opt"])
        state = ck["state"]
    budget = Budget(minutes, state["spent"])
    train, _ = split(data)
    rng = np.random.default_rng(1000 + state["step"])
    ref = reference_mel(data)

    def checkpoint():
        state["spent"] = budget.spent()
        save(path, dict(model=dit.state_dict(), cond=cond.data, opt=opt.state_dict(), state=state))

    while not budget.done():
        for g in opt.param_groups:
            g["lr"] = lr_at(budget.frac(), peak_lr)
        mel, cs = dit_batch(train, codes, rng, batch)
        loss = dit_loss(dit, cond, ref, mel, cs, rng)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        state["step"] += 1
        state["ema"] = loss.item() if state["ema"] is None else 0.98 * state["ema"] + 0.02 * loss.item()
        if state["step"] % 100 == 0:
            log(f"dit step {state['step']} loss {state['ema']:.4f} lr {opt.param_groups[0]['lr']:.2e} "
                f"{budget.spent() / 60:.1f}/{minutes:g} min")
        if budget.save_due():
            checkpoint()
    checkpoint()
    return dit, cond.data.clone()


def load_dit(out_dir):
    ck = torch.load(os.path.join(out_dir, "dit.ckpt"))
    dit = Dit(DIT_CONFIG)
    dit.load_state_dict(ck["model"])
    return dit.eval(), ck["cond"]


def dit_mels(dit, cond, ref_mel, items, codes, seed=0):
    """The DiT's mels [80, T] for @items with the runtime's defaults (RK4, 10 points, guidance 0.5)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for i, _, mel in items:
        noise = torch.randn(mel.shape[1], N_MELS, generator=g)
        out[i] = sample(dit, codes[i], cond, ref_mel, noise).T.numpy()
    return out


# ---------------------------------------------------------------- BigVGAN training

STFT_RES = [(256, 64), (512, 128), (1024, 256), (2048, 512)]


def stft_loss(y, target):
    """Mean over resolutions of L1 between log magnitudes."""
    total = 0.0
    for n_fft, hop in STFT_RES:
        w = torch.hann_window(n_fft)
        a = torch.stft(y, n_fft, hop, n_fft, w, return_complex=True).abs()
        b = torch.stft(target, n_fft, hop, n_fft, w, return_complex=True).abs()
        total = total + F.l1_loss(torch.log(a.clamp(min=1e-5)), torch.log(b.clamp(min=1e-5)))
    return total / len(STFT_RES)


def voc_batch(items, mels, rng, batch, seg=VOC_SEGMENT):
    """Random segments: input mel [B, 80, seg] (from @mels: id -> mel) and the real audio [B, seg * 240]."""
    xs, ys = [], []
    for _ in range(batch):
        i, audio, mel = items[rng.integers(len(items))]
        m = mels.get(i, mel) if mels is not None else mel
        s = rng.integers(mel.shape[1] - seg + 1)
        xs.append(m[:, s:s + seg])
        ys.append(audio[s * HOP:(s + seg) * HOP])
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))


def voc_loss(voc, mel, audio):
    y = voc(mel, clamp=False)
    lm = F.l1_loss(log_mel(y), log_mel(audio))
    ls = stft_loss(y, audio)
    return lm + ls, lm.item(), ls.item()


def train_vocoder(data, codes, out_dir, minutes, batch=8, peak_lr=2e-3, finetune_from=0.8):
    path = os.path.join(out_dir, "vocoder.ckpt")
    torch.manual_seed(0)
    voc = BigVgan(BIGVGAN_CONFIG)
    opt = torch.optim.AdamW(voc.parameters(), lr=peak_lr, betas=(0.8, 0.99), weight_decay=0.0)
    state = dict(step=0, spent=0.0, ema=None)
    if os.path.exists(path):
        ck = torch.load(path)
        voc.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        state = ck["state"]
    budget = Budget(minutes, state["spent"])
    train, _ = split(data)
    train = [d for d in train if d[2].shape[1] >= VOC_SEGMENT]
    rng = np.random.default_rng(2000 + state["step"])
    generated = None

    def checkpoint():
        state["spent"] = budget.spent()
        save(path, dict(model=voc.state_dict(), opt=opt.state_dict(), state=state))

    while not budget.done():
        if generated is None and budget.frac() >= finetune_from and os.path.exists(os.path.join(out_dir, "dit.ckpt")):
            generated = generated_mels(data, codes, out_dir)
        for g in opt.param_groups:
            g["lr"] = lr_at(budget.frac(), peak_lr)
        # the fine-tune mixes the DiT's mels (half the batch) with real ones
        if generated is not None:
            m1, a1 = voc_batch(train, generated, rng, batch // 2)
            m2, a2 = voc_batch(train, None, rng, batch - batch // 2)
            mel, audio = torch.cat([m1, m2]), torch.cat([a1, a2])
        else:
            mel, audio = voc_batch(train, None, rng, batch)
        loss, lm, ls = voc_loss(voc, mel, audio)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(voc.parameters(), 5.0)
        opt.step()
        state["step"] += 1
        e = np.array([lm, ls])
        state["ema"] = e if state["ema"] is None else 0.95 * state["ema"] + 0.05 * e
        if state["step"] % 25 == 0:
            log(f"vocoder step {state['step']} mel L1 {state['ema'][0]:.4f} stft L1 {state['ema'][1]:.4f} "
                f"lr {opt.param_groups[0]['lr']:.2e}{' (DiT mels)' if generated else ''} "
                f"{budget.spent() / 60:.1f}/{minutes:g} min")
        if budget.save_due():
            checkpoint()
    checkpoint()
    return voc


def generated_mels(data, codes, out_dir, limit=60):
    """The DiT's mels of up to @limit training responses, cached in OUT/dit_mels.npz."""
    path = os.path.join(out_dir, "dit_mels.npz")
    if os.path.exists(path):
        z = np.load(path)
        return {int(k[1:]): z[k] for k in z.files}
    dit, cond = load_dit(out_dir)
    train, _ = split(data)
    t0 = time.time()
    mels = dit_mels(dit, cond, reference_mel(data), train[:limit], codes, seed=1)
    log(f"vocoder fine-tune: {len(mels)} DiT mels in {time.time() - t0:.0f} s")
    np.savez(path + ".tmp.npz", **{f"m{i}": m for i, m in mels.items()})
    os.replace(path + ".tmp.npz", path)
    return mels


def load_vocoder(out_dir):
    voc = BigVgan(BIGVGAN_CONFIG)
    voc.load_state_dict(torch.load(os.path.join(out_dir, "vocoder.ckpt"))["model"])
    return voc.eval()


# ---------------------------------------------------------------- export

def hf_config(c, keys):
    return {k: c[k] for k in keys}


DIT_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "head_dim", "ff_mult", "emb_dim",
            "rope_theta", "max_position_embeddings", "block_size", "look_ahead_layers", "look_backward_layers",
            "repeats", "num_embeds", "mel_dim", "enc_emb_dim", "enc_dim", "enc_channels", "enc_kernel_sizes",
            "enc_dilations", "enc_attention_channels", "enc_res2net_scale", "enc_se_channels", "dropout")


def export(out_dir):
    """{"state": {HF tensor name: float32 tensor}, "dit_config", "bigvgan_config", "speaker": {"cond", "ref_mel"}}
    from OUT's checkpoints (also written to OUT/token2wav.pt by the CLI)."""
    dit, cond = load_dit(out_dir)
    voc = load_vocoder(out_dir)
    ref = torch.load(os.path.join(out_dir, "ref_mel.pt"))
    dstate = {k: v.detach().clone().float() for k, v in dit.state_dict().items()}
    emb = dstate["text_embed.codec_embed.weight"]
    emb[K:] = emb[0]                                      # the untrained special ids render as the null condition
    state = {DIT_PREFIX + k: v for k, v in dstate.items()}
    state.update({BIGVGAN_PREFIX + k: v.detach().clone().float() for k, v in voc.state_dict().items()})
    assert not state[DIT_PREFIX + "input_embed.spk_encoder.fc.weight"].any()
    return {"state": state, "dit_config": hf_config(DIT_CONFIG, DIT_KEYS), "bigvgan_config": dict(BIGVGAN_CONFIG),
            "speaker": {"cond": cond.reshape(1, -1).clone().float(), "ref_mel": ref.clone().float()}}


# ---------------------------------------------------------------- measurements

def mel_l1(a, b):
    n = min(a.shape[-1], b.shape[-1])
    return float(np.abs(a[..., :n] - b[..., :n]).mean())


def measure(data, codes, codebook, out_dir):
    """Listening proxies on the held-out responses: the codebook's own mel L1 (the codes' ceiling), the DiT's
    mel L1 (runtime defaults), and the mel L1 of the vocoded real and DiT mels, all against the real mel."""
    _, held = split(data)
    dit, cond = load_dit(out_dir)
    voc = load_vocoder(out_dir)
    ref = reference_mel(data)
    gen = dit_mels(dit, cond, ref, held, codes, seed=7)
    r = dict(codebook=[], dit=[], vocoded_real=[], vocoded_dit=[])
    with torch.no_grad():
        for i, audio, mel in held:
            r["codebook"].append(mel_l1(codebook[codes[i]].reshape(-1, N_MELS).T, mel))
            r["dit"].append(mel_l1(gen[i], mel))
            for key, m in (("vocoded_real", mel), ("vocoded_dit", gen[i])):
                y = voc(torch.from_numpy(m)[None])
                r[key].append(mel_l1(log_mel(y)[0].numpy(), mel))
    out = {k: float(np.mean(v)) for k, v in r.items()}
    log(f"held-out mel L1 ({len(held)} responses): " + ", ".join(f"{k} {v:.3f}" for k, v in out.items()))
    return out


# ---------------------------------------------------------------- verification against mor

def repo_root():
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write_checkpoint(exp, ckpt_dir):
    """A whole tiny HF checkpoint (tests/convert/make_checkpoint.py) with our token2wav and speaker in it."""
    sys.path.insert(0, os.path.join(repo_root(), "tests", "convert"))
    import make_checkpoint as mc
    mc.DIT, mc.BIGVGAN = dict(exp["dit_config"]), dict(exp["bigvgan_config"])
    base = mc.build_tensors
    ours = {k: ("F32", v.numpy().astype(np.float32)) for k, v in exp["state"].items()}
    mc.build_tensors = lambda: dict({k: v for k, v in base().items() if not k.startswith("token2wav.")}, **ours)
    mc.make(ckpt_dir)
    mc.build_tensors = base
    spk = {"nano": {"bos_token": mc.tid("<|spk_chelsie|>"), "cond": exp["speaker"]["cond"],
                    "ref_mel": exp["speaker"]["ref_mel"]}}
    torch.save(spk, os.path.join(ckpt_dir, "spk_dict.pt"))


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr}")
    return r.stdout + r.stderr


def verify(data, codes, out_dir, n_codes=150):
    """Converts the export with convert_hf.py and compares `mor token2wav` (fixed noise; RK4 + CFG and Euler
    without CFG) and `mor vocode` with this module's forward; prints the largest differences."""
    root = repo_root()
    mor = os.path.join(root, "build", "model", "cli", "mor")
    exp = export(out_dir)
    work = tempfile.mkdtemp(prefix="t2w-verify-")
    write_checkpoint(exp, os.path.join(work, "ckpt"))
    run([sys.executable, os.path.join(root, "model", "convert", "convert_hf.py"), os.path.join(work, "ckpt"),
         "--outdir", os.path.join(work, "gguf"), "--parts", "talker", "--outtype", "f32"])
    gguf = os.path.join(work, "gguf", "talker.gguf")
    dit, cond = load_dit(out_dir)
    dit.text_embed.codec_embed.weight.data.copy_(exp["state"][DIT_PREFIX + "text_embed.codec_embed.weight"])
    voc = load_vocoder(out_dir)
    _, held = split(data)
    i, audio, mel = held[0]
    c = codes[i][:n_codes].astype(np.int32)
    c[:3] = [K, K + 8, 1]                                  # the special rows are accepted too
    noise = torch.randn(2 * len(c), N_MELS, generator=torch.Generator().manual_seed(3))
    np.save(os.path.join(work, "codes.npy"), c)
    np.save(os.path.join(work, "noise.npy"), noise.numpy())
    result = {}
    ecapa = os.path.join(work, "ecapa.npy")
    run([mor, "ecapa", "-m", gguf, "-o", ecapa])
    result["ecapa max |out|"] = float(np.abs(np.load(ecapa)).max())
    for name, opts, kw in (("dit rk4 cfg 0.5", [], {}),
                           ("dit euler no cfg", ["--solver", "euler", "--cfg", "0"], dict(solver="euler", cfg=0.0))):
        outp = os.path.join(work, "mel.npy")
        run([mor, "token2wav", "-m", gguf, "-c", os.path.join(work, "codes.npy"), "--noise",
             os.path.join(work, "noise.npy"), "-o", outp] + opts)
        ours = sample(dit, c, exp["speaker"]["cond"], exp["speaker"]["ref_mel"], noise, **kw).T.numpy()
        theirs = np.load(outp).reshape(N_MELS, -1)
        result[name + " max |diff|"] = float(np.abs(ours - theirs).max())
        result[name + " max |mel|"] = float(np.abs(ours).max())
    for name, m in (("vocode real mel", mel[:, :400]), ("vocode dit mel", theirs)):
        np.save(os.path.join(work, "in.npy"), np.ascontiguousarray(m, dtype=np.float32))
        run([mor, "vocode", "-m", gguf, "--mel", os.path.join(work, "in.npy"), "-o", os.path.join(work, "y.npy")])
        with torch.no_grad():
            ours = voc(torch.from_numpy(np.ascontiguousarray(m))[None])[0].numpy()
        theirs = np.load(os.path.join(work, "y.npy")).reshape(-1)
        result[name + " samples"] = [len(ours), len(theirs)]
        result[name + " max |diff|"] = float(np.abs(ours - theirs).max())
        result[name + " rms"] = float(np.sqrt((ours ** 2).mean()))
    for k, v in result.items():
        log(f"verify: {k} = {v}")
    log(f"verify: files in {work}")
    return result, gguf


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="directory with responses.json and resp24/<id>.npy")
    ap.add_argument("--out", required=True, help="output directory (checkpoints, codes.npz, token2wav.pt)")
    ap.add_argument("--dit-minutes", type=float, default=12.0, help="wall-clock budget of the DiT (total)")
    ap.add_argument("--vocoder-minutes", type=float, default=20.0, help="wall-clock budget of BigVGAN (total)")
    ap.add_argument("--no-measure", action="store_true", help="skip the held-out mel L1 measurements")
    ap.add_argument("--verify", action="store_true", help="only compare the trained models with mor's runtime")
    a = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(a.out, exist_ok=True)
    if a.verify:
        data = load_data(a.data)
        verify(data, make_codes(data, a.out)[1], a.out)
        return
    train(a.data, a.out, a.dit_minutes, a.vocoder_minutes, measure_after=not a.no_measure)


def train(data_dir, out_dir, dit_minutes=12.0, vocoder_minutes=20.0, measure_after=False):
    """Codes, DiT and BigVGAN (each resumed from OUT), then OUT/token2wav.pt; returns export()."""
    os.makedirs(out_dir, exist_ok=True)
    data = load_data(data_dir)
    codebook, codes = make_codes(data, out_dir)
    ref_path = os.path.join(out_dir, "ref_mel.pt")
    if not os.path.exists(ref_path):
        torch.save(reference_mel(data), ref_path)
    train_dit(data, codes, codebook, out_dir, dit_minutes)
    train_vocoder(data, codes, out_dir, vocoder_minutes)
    exp = export(out_dir)
    save(os.path.join(out_dir, "token2wav.pt"), exp)
    log(f"wrote {os.path.join(out_dir, 'token2wav.pt')}: {len(exp['state'])} tensors")
    if measure_after:
        measure(data, codes, codebook, out_dir)
    return exp


if __name__ == "__main__":
    main()
