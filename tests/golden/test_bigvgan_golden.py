#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""libmor's BigVGAN vocoder against golden waveforms computed by transformers
4.57.6 (bigvgan/README.md).

    test_bigvgan_golden.py [unittest options]

Regenerates the tiny checkpoint (tests/convert/make_checkpoint.py), converts
its talker part (talker.gguf, with token2wav's BigVGAN) with
model/convert/convert_hf.py --outtype f32, writes the golden mel spectrograms
(mel() below), runs bigvgan-golden ($MOR_BIGVGAN_GOLDEN) on them and compares
with bigvgan/*.npy:
  - the waveform of each whole mel (Qwen2_5OmniToken2WavBigVGANModel.forward)
    from the device and from libmor's C reference;
  - the waveform streamed in Qwen's chunks (72 frames, 20 frames of overlap)
    against the same scheme run on transformers' model.

Needs python3 with numpy and a Vulkan device; no torch, no transformers.
Exit status 77 (skip) where bigvgan-golden finds no device (never under CI).
"""

import hashlib
import json
import os
import struct
import sys
import unittest

import numpy as np

import golden_common  # not "from …": unittest would collect the base class as a test

GOLDEN = os.path.join(golden_common.HERE, "bigvgan")

# sha256 over the checkpoint's bigvgan_config and token2wav.code2wav_bigvgan_model.*
# tensors (name, dtype, shape, bytes, in name order: bigvgan_digest()) that the
# golden waveforms were computed from (make_checkpoint.py at the time, bigvgan/README.md).
BIGVGAN_SHA256 = "21993aca13eaa76b0080425526c596b6aa095ec7dd2db90ef02a154c1aa77474"

# Mel spectrograms: frames -> seed.
CASES = {1: 1, 7: 2, 33: 3, 150: 4}
STREAM_CASES = (150,)
CHUNK, OVERLAP = 72, 20      # reference qwen2.5-omni.md §6c

# Waveforms: float32 on both sides, different summation orders, the device's
# own sin/exp in SnakeBeta; samples in [-1, 1]. Measured ≤ 7.5e-7 (README).
ATOL = 5e-6


def mel(T, seed):
    """float32 [8, T] natural-log mel amplitudes: uniform in [-12.5, 3], beyond
    both ends of the range process_mel_spectrogram maps to [-1, 1] (-10.94 and
    2.30), so its clamps are exercised."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-12.5, 3.0, (8, T)).astype(np.float32)


def bigvgan_digest(ckpt):
    """sha256 of the BigVGAN part of the checkpoint: its config and tensors."""
    h = hashlib.sha256()
    with open(os.path.join(ckpt, "config.json")) as f:
        cfg = json.load(f)["token2wav_config"]["bigvgan_config"]
    h.update(json.dumps(cfg, sort_keys=True).encode())
    with open(os.path.join(ckpt, "model.safetensors.index.json")) as f:
        index = json.load(f)["weight_map"]
    prefix = "token2wav.code2wav_bigvgan_model."
    for name in sorted(k for k in index if k.startswith(prefix)):
        with open(os.path.join(ckpt, index[name]), "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            info = json.loads(f.read(n))[name]
            f.seek(8 + n + info["data_offsets"][0])
            data = f.read(info["data_offsets"][1] - info["data_offsets"][0])
        h.update(f"{name} {info['dtype']} {info['shape']}\n".encode())
        h.update(data)
    return h.hexdigest()


class BigVGAN(golden_common.GoldenCase):
    TOOL_ENV = "MOR_BIGVGAN_GOLDEN"
    PART = "talker"
    README = "tests/golden/bigvgan/README.md"

    @classmethod
    def prepare(cls):
        mels = []
        for T, seed in CASES.items():
            mels.append(os.path.join(cls.tmp, f"mel_{T}.npy"))
            np.save(mels[-1], mel(T, seed))
        cls.out = os.path.join(cls.tmp, "out")
        cls.run_tool([cls.gguf, cls.out, str(CHUNK), str(OVERLAP)] + mels)

    def load(self, name):
        return np.load(os.path.join(self.out, name))

    def test_bigvgan_weights(self):
        """make_checkpoint.py still writes the BigVGAN the golden values were computed from."""
        self.assertEqual(bigvgan_digest(self.ckpt), BIGVGAN_SHA256,
                         f"make_checkpoint.py writes another BigVGAN than the golden values were made from: "
                         f"make them again ({self.README})")

    def compare(self, got, want, what):
        self.assertEqual(got.shape, want.shape, f"{what}: samples")
        diff = np.abs(got.astype(np.float64) - want)
        print(f"{what}: max |Δ| {diff.max():.3g} (max |golden| {np.abs(want).max():.3g})", file=sys.stderr)
        self.assertLessEqual(diff.max(), ATOL, f"{what}: sample {int(diff.argmax())}")

    def test_waveforms(self):
        for T in CASES:
            want = np.load(os.path.join(GOLDEN, f"wav_{T}.npy")).astype(np.float64)
            self.assertEqual(want.shape, (T * 6,))
            for prefix, what in (("", "Vulkan"), ("ref_", "C reference")):
                self.compare(self.load(f"{prefix}wav_{T}.npy"), want, f"{T} frames, {what}")

    def test_stream(self):
        for T in STREAM_CASES:
            want = np.load(os.path.join(GOLDEN, f"stream_wav_{T}.npy")).astype(np.float64)
            self.compare(self.load(f"stream_wav_{T}.npy"), want, f"{T} frames streamed, Vulkan")


if __name__ == "__main__":
    unittest.main()
