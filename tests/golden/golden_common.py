# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the golden tests share: the tiny checkpoint made and converted once per
test class, the checks that it is still what the golden values were computed
from, and running a libmor tool that may skip (exit 77) without a device."""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
MAKE = os.environ.get("MOR_MAKE_CHECKPOINT") or os.path.join(ROOT, "tests", "convert", "make_checkpoint.py")
CONVERT = os.environ.get("MOR_CONVERT_HF") or os.path.join(ROOT, "model", "convert", "convert_hf.py")


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=240)


class GoldenCase(unittest.TestCase):
    """Subclasses set TOOL_ENV (the environment variable naming their tool), PART
    (the converter's --parts), CHECKPOINT_SHA256 and README, and prepare() from
    cls.tmp, cls.ckpt and cls.gguf (the converted file)."""

    TOOL_ENV = PART = README = None
    CHECKPOINT_SHA256 = {}

    @classmethod
    def setUpClass(cls):
        cls.tool = os.environ.get(cls.TOOL_ENV)
        if not cls.tool:
            raise unittest.SkipTest(f"{cls.TOOL_ENV} is not set (run through meson test)")
        cls.tmp = tempfile.mkdtemp(prefix=f"mor-golden-{cls.PART}-")
        try:
            cls.ckpt = os.path.join(cls.tmp, "ckpt")
            r = run([sys.executable, MAKE, cls.ckpt])
            assert r.returncode == 0, f"make_checkpoint.py failed: {r.stderr}"
            r = run([sys.executable, CONVERT, cls.ckpt, "--outdir", os.path.join(cls.tmp, "gguf"),
                     "--outtype", "f32", "--parts", cls.PART, "-q"])
            assert r.returncode == 0, f"convert_hf.py failed: {r.stderr}"
            cls.gguf = os.path.join(cls.tmp, "gguf", f"{cls.PART}.gguf")
            cls.prepare()
        except BaseException:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "tmp"):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def run_tool(cls, args):
        """Runs the tool; exits 77 (skip) where it finds no Vulkan device."""
        r = run([cls.tool] + args)
        if r.returncode == 77:
            print(r.stderr.strip(), file=sys.stderr)
            sys.exit(77)
        assert r.returncode == 0, f"{os.path.basename(cls.tool)} failed ({r.returncode}): {r.stderr}"

    def test_checkpoint(self):
        """make_checkpoint.py still writes what the golden values were computed from, deterministically."""
        for name, want in self.CHECKPOINT_SHA256.items():
            self.assertEqual(sha256(os.path.join(self.ckpt, name)), want,
                             f"make_checkpoint.py writes another {name} than the golden values were made from: "
                             f"make them again ({self.README})")
        again = os.path.join(self.tmp, "again")
        r = run([sys.executable, MAKE, again])
        self.assertEqual(r.returncode, 0, r.stderr)
        for name in sorted(os.listdir(self.ckpt)):
            with open(os.path.join(self.ckpt, name), "rb") as a, open(os.path.join(again, name), "rb") as b:
                self.assertEqual(a.read(), b.read(), f"{name} differs between two runs of make_checkpoint.py")
