#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""libmor's stages against golden values computed by transformers (README.md here).

    test_golden.py thinker [unittest options]

thinker: regenerates the tiny checkpoint (tests/convert/make_checkpoint.py),
  converts its thinker with model/convert/convert_hf.py --outtype f32 (the BF16
  weights stay exact), runs libmor's thinker on the golden ids with
  thinker-golden ($MOR_THINKER_GOLDEN) and compares with thinker/*.npy:
  prefill logits and final-normed hidden states of every position, the greedy
  continuation (identical ids) and the logits of each greedy step. libmor's C
  reference forward is compared too, which tells a shader bug (only the Vulkan
  values off) from a model or converter bug (both off).

Needs python3 with numpy and a Vulkan device; no torch, no transformers.
Exit status 77 (skip) where thinker-golden finds no device (never under CI).
"""

import os
import sys
import unittest

import numpy as np

import golden_common  # not "from …": unittest would collect the base class as a test

GOLDEN = os.path.join(golden_common.HERE, "thinker")

# sha256 of the files of the checkpoint that the golden values were computed
# from (make_checkpoint.py at the time, README.md): the thinker's shard and the
# tokenizer. If make_checkpoint.py changes them, the golden values must be
# made again, as README.md says.
THINKER_SHA256 = {
    "model-00001-of-00002.safetensors": "932a9157187e96ae8f13485c02251df8b4e0d4c82a89fad88c1b946e3c39aa9b",
    "vocab.json": "a3e79a973bc81dedfcae0cece8d8bf755faeadef821debc9b5abf6736468b96c",
    "merges.txt": "d6a2a5756708b212cf6d211ed04c033cced4844f989486a85e5d426bc843c02f",
}

# float32 on both sides with different summation orders (and exp/sin/cos from
# different libraries): every value within RTOL of the largest magnitude of its
# array (|logits| < 3, |hidden| < 4 here). Measured: about 1e-6 (README.md).
RTOL = 2e-5


class Thinker(golden_common.GoldenCase):
    """One checkpoint, one conversion, one run of thinker-golden for all the checks."""

    TOOL_ENV = "MOR_THINKER_GOLDEN"
    PART = "thinker"
    README = "tests/golden/README.md"
    CHECKPOINT_SHA256 = THINKER_SHA256

    @classmethod
    def prepare(cls):
        cls.gold = {n: np.load(os.path.join(GOLDEN, n + ".npy"))
                    for n in ("ids", "logits", "hidden", "greedy", "greedy_logits")}
        cls.out = os.path.join(cls.tmp, "out")
        cls.run_tool([cls.gguf, os.path.join(GOLDEN, "ids.npy"), str(len(cls.gold["greedy"])), cls.out,
                      os.path.join(GOLDEN, "prompt.txt")])
        cls.got = {n[:-4]: np.load(os.path.join(cls.out, n)) for n in os.listdir(cls.out)}

    def close(self, name, got, want, what):
        """got ≈ want within RTOL of max |want|; the worst element is named on failure."""
        self.assertEqual(got.dtype, np.float32, name)
        self.assertEqual(got.shape, want.shape, f"{name}: shape")
        self.assertTrue(np.isfinite(got).all(), f"{name}: not finite")
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
        scale = float(np.abs(want).max())
        worst = np.unravel_index(int(diff.argmax()), diff.shape)
        print(f"{name}: max |Δ| {diff.max():.3g} (relative to max |golden| {scale:.3g}: {diff.max() / scale:.3g}), "
              f"worst at [{', '.join(map(str, worst))}]", file=sys.stderr)
        self.assertLessEqual(diff.max(), RTOL * scale,
                             f"{name} ({what}): max |Δ| {diff.max():.3g} > {RTOL:g} × {scale:.3g} at "
                             f"[{', '.join(map(str, worst))}]: got {got[worst]!r}, golden {want[worst]!r}; "
                             f"max |Δ| per row: {np.array2string(diff.max(axis=-1), precision=2)}")

    def test_tokenizer(self):
        """libmor's tokenizer encodes the golden prompt text to the ids transformers' Qwen2Tokenizer gave."""
        self.assertEqual(self.got["prompt_ids"].tolist(), self.gold["ids"].tolist())

    def test_prefill_logits(self):
        self.close("logits", self.got["logits"], self.gold["logits"], "Vulkan prefill, every position")

    def test_prefill_hidden(self):
        self.close("hidden", self.got["hidden"], self.gold["hidden"], "Vulkan prefill, after model.norm")

    def test_greedy_ids(self):
        self.assertEqual(self.got["greedy"].tolist(), self.gold["greedy"].tolist(),
                         "greedy continuation (prefill, then one decode step per token)")

    def test_greedy_logits(self):
        n = min(len(self.got["greedy_logits"]), len(self.gold["greedy_logits"]))
        self.close("greedy_logits", self.got["greedy_logits"][:n], self.gold["greedy_logits"][:n],
                   "Vulkan decode steps")

    def test_reference_forward(self):
        """libmor's C reference forward against transformers."""
        self.close("ref_logits", self.got["ref_logits"], self.gold["logits"], "C reference, prompt")
        self.close("ref_hidden", self.got["ref_hidden"], self.gold["hidden"], "C reference, prompt")
        n = min(len(self.got["ref_greedy_logits"]), len(self.gold["greedy_logits"]))
        self.close("ref_greedy_logits", self.got["ref_greedy_logits"][:n], self.gold["greedy_logits"][:n],
                   "C reference over prompt + greedy ids")


if __name__ == "__main__":
    stages = {"thinker": Thinker}
    if len(sys.argv) < 2 or sys.argv[1] not in stages:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(stages)} [unittest options]")
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(stages[sys.argv[1]])
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stderr).run(suite)
    sys.exit(0 if result.wasSuccessful() else 1)
