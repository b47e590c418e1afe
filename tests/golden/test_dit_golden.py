#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""libmor's token2wav DiT and its ECAPA-TDNN speaker encoder against golden
values computed by transformers 4.57.6 (dit/README.md).

    test_dit_golden.py [unittest options]

Regenerates the tiny checkpoint (tests/convert/make_checkpoint.py), converts
its talker part (which holds token2wav and the speakers) with
model/convert/convert_hf.py --outtype f32, runs dit-golden ($MOR_DIT_GOLDEN)
and compares with dit/*.npy, from the device and from libmor's C reference:
  - the ECAPA-TDNN vector of each speaker's reference mel, and of zeros like it
    (the guidance's null branch);
  - one evaluation of Qwen2_5OmniToken2WavDiTModel.forward (apply_cfg: the
    conditional and the null branch) on given noise, time and codes;
  - sample() from given noise (torch.randn patched to return it): the mel;
  - the time grid (linspace warped by sway), bit for bit.

Needs python3 with numpy and a Vulkan device; no torch, no transformers.
Exit status 77 (skip) where dit-golden finds no device (never under CI).
"""

import os
import sys
import unittest

import numpy as np

import golden_common  # not "from …": unittest would collect the base class as a test

GOLDEN = os.path.join(golden_common.HERE, "dit")

# The files the golden values were computed from (make_checkpoint.py at the
# time, dit/README.md): the config, the shard holding token2wav.*, the speakers.
DIT_SHA256 = {
    "config.json": "0ed825eacf22ae6cc3e052ead5401982d49f67f65dcd4b0c570fb31961c1839a",
    "model-00002-of-00002.safetensors": "c1666d7252ae5f3cb38a075447f8e5d3e51795bb87add8c342f467f36ad07ce1",
    "spk_dict.pt": "8e65235ecbea6586b2d843d4eda03bf6af16984dd19c874d92e9477077dbf7b0",
}

SPEAKERS = ("Chelsie", "Ethan")
SAMPLES = ("Chelsie_13_10", "Ethan_20_5")   # speaker, codes, time points

# float32 on both sides, different summation orders (and torch's exp an ulp away
# from libm's in the time sinusoid): every value within RTOL of the largest
# |golden| value of its array, 10 to 30 times what was measured (dit/README.md).
RTOL = {"ecapa": 1e-5, "velocity": 3e-5, "sample": 1e-5}


class Dit(golden_common.GoldenCase):
    TOOL_ENV = "MOR_DIT_GOLDEN"
    PART = "talker"
    README = "tests/golden/dit/README.md"
    CHECKPOINT_SHA256 = DIT_SHA256

    @classmethod
    def prepare(cls):
        cls.out = os.path.join(cls.tmp, "out")
        cls.run_tool([cls.gguf, GOLDEN, cls.out] + list(SAMPLES))

    def compare(self, name, kind):
        want = np.load(os.path.join(GOLDEN, name)).astype(np.float64)
        scale = float(np.abs(want).max())
        for prefix, what in (("", "Vulkan"), ("ref_", "C reference")):
            got = np.load(os.path.join(self.out, prefix + name))
            self.assertEqual(got.shape, want.shape, f"{name}, {what}: shape")
            diff = np.abs(got - want)
            print(f"{name}, {what}: max |Δ| {diff.max():.3g} (relative to max |golden| {scale:.3g}: "
                  f"{diff.max() / scale:.3g})", file=sys.stderr)
            self.assertLessEqual(diff.max(), RTOL[kind] * scale, f"{name}, {what}")

    def test_ecapa(self):
        for s in SPEAKERS:
            self.compare(f"ecapa_{s}.npy", "ecapa")
            self.compare(f"ecapa_{s}_zeros.npy", "ecapa")

    def test_velocity(self):
        self.compare("velocity.npy", "velocity")

    def test_sample(self):
        for case in SAMPLES:
            self.compare(f"sample_{case}.npy", "sample")

    def test_time_points(self):
        want = np.load(os.path.join(GOLDEN, "time_points.npy"))
        got = np.load(os.path.join(self.out, "time_points.npy"))
        self.assertTrue(np.array_equal(got, want), f"time points: {got} against {want}")


if __name__ == "__main__":
    unittest.main()
