#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Trains mor-nano, the default model, from nothing, on the CPU (a GPU is not
used: every stage is small), and writes its three GGUF files.

    /usr/bin/python3 model/train/train.py [--work DIR] [--out DIR] [--scale X]

Stages, each resumed from its checkpoint in DIR when the command is run again:
  1. data      prepare.py: problems, espeak-ng speech, BPE, interleaving, drift check
  2. thinker   thinker.py: text, then speech (with transcription)
  3. token2wav token2wav.py: speech codes, DiT, BigVGAN
  4. talker    talker.py: the thinker frozen
  5. export    export.py: Hugging Face checkpoint, then our converter
--scale multiplies every stage's time budget (1: about 2 hours on 2 cores).
Needs python3 with numpy and torch (Debian: python3-numpy, python3-torch) and espeak-ng.
"""
import argparse
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import export  # noqa: E402
import prepare  # noqa: E402
import talker  # noqa: E402
import thinker  # noqa: E402
import token2wav  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default="build/nano", help="data, checkpoints and logs (default build/nano)")
    ap.add_argument("--out", default="models/nano", help="where the GGUF files go (default models/nano)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies every stage's time budget")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--questions", type=int, default=8000, help="training questions to make (a quick trial: 200)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    data = os.path.join(a.work, "data")
    os.makedirs(data, exist_ok=True)
    log_file = open(os.path.join(a.work, "train.log"), "a")

    def log(msg):
        print(msg, flush=True)
        log_file.write(msg + "\n")
        log_file.flush()

    prepare.prepare(data, a.questions)
    th, tok = thinker.train(data, a.work, minutes=(5 * a.scale, 20 * a.scale, 45 * a.scale), log=log)
    th.eval()
    t2w = token2wav.train(data, a.work, dit_minutes=12 * a.scale, vocoder_minutes=20 * a.scale)
    codes = dict(np.load(os.path.join(a.work, "codes.npz")))
    tk = talker.train(data, a.work, th, tok, codes, minutes=20 * a.scale, log=log)
    export.export(os.path.join(a.work, "checkpoint"), a.out, th, tok, thinker.vocab_size(tok), tk, t2w)
    mor = os.path.join(export.REPO, "build", "model", "cli", "mor")
    if os.path.exists(mor):
        wav = os.path.join(data, "eval", "0000.wav")
        log(f"libmor against PyTorch (relative max difference): {export.check(a.out, th, tok, wav, mor)}")
    log(f"mor-nano written to {a.out}")


if __name__ == "__main__":
    main()
