#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""libmor's log-mel front end and audio encoder against golden values computed
by transformers 4.57.6 (encoder/README.md).

    test_encoder_golden.py [unittest options]

Regenerates the tiny checkpoint (tests/convert/make_checkpoint.py), converts
its audio encoder with model/convert/convert_hf.py --outtype f32, writes the
golden signals (signal() below), runs encoder-golden ($MOR_ENCODER_GOLDEN) on
them and compares with encoder/*.npy:
  - the 128-band log-mel features (WhisperFeatureExtractor as
    Qwen2_5OmniProcessor calls it: the 300-s canvas) of four short utterances,
    from the device and from libmor's C reference;
  - the encoder rows (processor + Qwen2_5OmniAudioEncoder, as
    get_audio_features calls it) of four utterances: whole utterance on the
    device, streamed chunk by chunk, and the C reference.

Needs python3 with numpy and a Vulkan device; no torch, no transformers.
Exit status 77 (skip) where encoder-golden finds no device (never under CI).
"""

import os
import sys
import unittest

import numpy as np

import golden_common  # not "from …": unittest would collect the base class as a test

GOLDEN = os.path.join(golden_common.HERE, "encoder")

# The shard holding thinker.audio_tower.* and the config the golden rows were
# computed from (make_checkpoint.py at the time, encoder/README.md).
ENCODER_SHA256 = {
    "model-00001-of-00002.safetensors": "932a9157187e96ae8f13485c02251df8b4e0d4c82a89fad88c1b946e3c39aa9b",
}

# Utterances: samples -> (seed, loudest at, s). Odd seeds end on a 30-sample click,
# which frames past the last valid one see best (docs/mel.md).
SIGNALS = {1: (1, 0.0), 160: (2, 0.0), 3199: (3, 0.1), 32000: (4, 1.0), 32001: (5, 1.5), 80123: (8, 4.0)}
MEL_CASES = (1, 160, 3199, 32001)
ROW_CASES = (3199, 32000, 32001, 80123)

# Encoder rows: float32 on both sides, different summation orders; every value
# within RTOL of the largest |golden| (about 3 here). Measured ~2e-6 (README).
RTOL = 2e-5


def signal(n, seed, peak_s):
    """Voiced speech-like samples: 8 harmonics of a gliding 140 Hz f0, syllables
    at 4 Hz, a noise floor, 150 ms of digital silence; float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000.0
    v = sum(np.sin(2 * np.pi * h * (140 * t + 20 * np.sin(2 * np.pi * 0.5 * t))) / h for h in range(1, 9))
    env = (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) * (0.2 + 0.8 * np.exp(-((t - peak_s) / 0.3) ** 2))
    x = 0.2 * env * v + 3e-4 * (rng.random(n) * 2 - 1)
    x[(t > 0.3) & (t < 0.45)] = 0
    if n > 40:
        x[-30:] = np.where(np.arange(30) % 2, 0.9, -0.9) * (seed % 2)
    return x.astype(np.float32)


class Encoder(golden_common.GoldenCase):
    TOOL_ENV = "MOR_ENCODER_GOLDEN"
    PART = "encoder"
    README = "tests/golden/encoder/README.md"
    CHECKPOINT_SHA256 = ENCODER_SHA256

    @classmethod
    def prepare(cls):
        xs = []
        for n, (seed, peak) in SIGNALS.items():
            xs.append(os.path.join(cls.tmp, f"x_{n}.npy"))
            np.save(xs[-1], signal(n, seed, peak))
        cls.out = os.path.join(cls.tmp, "out")
        cls.run_tool([cls.gguf, cls.out] + xs)

    def load(self, name):
        return np.load(os.path.join(self.out, name))

    def test_mel(self):
        """128-band features: an fp32 STFT (torch's as libmor's) errs by ~1e-7 of a frame's
        peak amplitude on every bin, so a value r = 10^((max - L)/2) times below the max
        amplitude is allowed 1e-6·(1 + r) in normalised units (tests/mel.c)."""
        for n in MEL_CASES:
            want = np.load(os.path.join(GOLDEN, f"mel128_{n}.npy")).astype(np.float64)
            tol = 1e-6 * (1 + 10.0 ** (2 * (want.max() - want)))
            for prefix, what in (("", "Vulkan"), ("ref_", "C reference")):
                got = self.load(f"{prefix}mel128_{n}.npy")
                self.assertEqual(got.shape, want.shape, f"{n} samples: frames")
                ratio = np.abs(got - want) / tol
                worst = np.unravel_index(int(ratio.argmax()), ratio.shape)
                print(f"mel128, {n} samples, {what}: max |Δ| {np.abs(got - want).max():.3g}, "
                      f"worst |Δ| / tolerance {ratio.max():.3f}", file=sys.stderr)
                self.assertLessEqual(ratio.max(), 1.0, f"mel128, {n} samples, {what}: band {worst[0]} frame "
                                     f"{worst[1]}: got {got[worst]!r}, golden {want[worst]!r}")

    def test_rows(self):
        for n in ROW_CASES:
            want = np.load(os.path.join(GOLDEN, f"rows_{n}.npy")).astype(np.float64)
            scale = float(np.abs(want).max())
            for prefix, what in (("", "Vulkan"), ("stream_", "Vulkan, streamed"), ("ref_", "C reference")):
                got = self.load(f"{prefix}rows_{n}.npy")
                self.assertEqual(got.shape, want.shape, f"{n} samples, {what}: rows")
                diff = np.abs(got - want)
                print(f"rows, {n} samples, {what}: max |Δ| {diff.max():.3g} (relative to max |golden| {scale:.3g}: "
                      f"{diff.max() / scale:.3g})", file=sys.stderr)
                self.assertLessEqual(diff.max(), RTOL * scale, f"rows, {n} samples, {what}")

    def test_stream_equals_whole(self):
        for n in ROW_CASES:
            self.assertTrue(np.array_equal(self.load(f"stream_rows_{n}.npy"), self.load(f"rows_{n}.npy")),
                            f"{n} samples: streamed rows differ from the whole utterance's")


if __name__ == "__main__":
    unittest.main()
