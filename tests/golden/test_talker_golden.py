#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""libmor's talker against golden values computed by transformers 4.57.6
(talker/README.md).

    test_talker_golden.py [unittest options]

Regenerates the tiny checkpoint (tests/convert/make_checkpoint.py), converts
its talker with model/convert/convert_hf.py --outtype f32, runs talker-golden
($MOR_TALKER_GOLDEN) on the golden prompt and reply rows and compares with
talker/*.npy: the greedy codes of Qwen2_5OmniTalkerForConditionalGeneration
.generate (repetition penalty 1.05, start code suppressed, the last token
dropped), with the reply rows given all at once and one at a time, and the
logits of every step, from the device and from libmor's C reference.

Needs python3 with numpy and a Vulkan device; no torch, no transformers.
Exit status 77 (skip) where talker-golden finds no device (never under CI).
"""

import os
import sys
import unittest

import numpy as np

import golden_common  # not "from …": unittest would collect the base class as a test

GOLDEN = os.path.join(golden_common.HERE, "talker")

# The files the golden values were computed from (make_checkpoint.py at the
# time, talker/README.md): the talker's shard, the thinker's shard (its input
# embedding gives the text and speaker rows), the speakers and the config.
TALKER_SHA256 = {
    "config.json": "0ed825eacf22ae6cc3e052ead5401982d49f67f65dcd4b0c570fb31961c1839a",
    "model-00001-of-00002.safetensors": "932a9157187e96ae8f13485c02251df8b4e0d4c82a89fad88c1b946e3c39aa9b",
    "model-00002-of-00002.safetensors": "c1666d7252ae5f3cb38a075447f8e5d3e51795bb87add8c342f467f36ad07ce1",
    "spk_dict.pt": "8e65235ecbea6586b2d843d4eda03bf6af16984dd19c874d92e9477077dbf7b0",
}

# generate(max_new_tokens=MAX_NEW): "limit" runs to the limit, "end" stops at an end code.
MAX_NEW = 40
CASES = ("limit", "end")
END_CODES = (32, 34)   # tts_codec_pad, tts_codec_end of the tiny talker

# float32 on both sides, different summation orders; every logit within RTOL of
# the largest |golden| logit (about 2.5 here). Measured ~6e-7 (README).
RTOL = 1e-5


class Talker(golden_common.GoldenCase):
    TOOL_ENV = "MOR_TALKER_GOLDEN"
    PART = "talker"
    README = "tests/golden/talker/README.md"
    CHECKPOINT_SHA256 = TALKER_SHA256

    @classmethod
    def prepare(cls):
        cls.out = os.path.join(cls.tmp, "out")
        cls.run_tool([cls.gguf, GOLDEN, cls.out, str(MAX_NEW)] + list(CASES))

    def gold(self, what, case):
        return np.load(os.path.join(GOLDEN, f"{what}_{case}.npy"))

    def got(self, what, case):
        return np.load(os.path.join(self.out, f"{what}_{case}.npy"))

    def assert_close(self, got, want, what):
        self.assertEqual(got.shape, want.shape, what)
        err = float(np.max(np.abs(got - want)))
        scale = float(np.max(np.abs(want)))
        print(f"{what}: max |Δ| {err:.3g} (of {scale:.3g})", file=sys.stderr)
        self.assertLessEqual(err, RTOL * scale, what)

    def test_golden_files(self):
        """The committed cases are what the README says: one to the limit, one to an end code."""
        for case in CASES:
            tokens, codes = self.gold("tokens", case), self.gold("codes", case)
            self.assertTrue(np.array_equal(codes, tokens[:-1]), case)
            self.assertEqual(self.gold("logits", case).shape, (len(tokens), 40), case)
        self.assertEqual(len(self.gold("tokens", "limit")), MAX_NEW)
        self.assertIn(int(self.gold("tokens", "end")[-1]), END_CODES)

    def test_codes(self):
        """Greedy codes identical to generate's, rows given all at once or when asked for."""
        for case in CASES:
            want = self.gold("codes", case)
            self.assertTrue(np.array_equal(self.got("codes", case), want), case)
            self.assertTrue(np.array_equal(self.got("stream_codes", case), want), case)

    def test_logits(self):
        """The logits each code was drawn from (device), and of every token (C reference)."""
        for case in CASES:
            want = self.gold("logits", case)
            n = len(self.gold("codes", case))
            self.assert_close(self.got("logits", case), want[:n], f"{case}: device logits")
            self.assert_close(self.got("ref_logits", case), want, f"{case}: reference logits")


if __name__ == "__main__":
    unittest.main()
