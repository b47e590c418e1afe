#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Evaluates a mor model on mor-nano's held-out spoken questions through the
runtime (`mor answer`: morencoder ! morthinker ! mortalker's stages, on
Vulkan), and writes the figures as JSON.

    /usr/bin/python3 model/train/evaluate.py --models DIR --data DATA [--speech N] [-o report.json]

For every held-out question (voices, names and some wordings never trained):
  accuracy   the last number of the response text equals the exact result;
  ratio      the dumped streams follow p:q cycles (forced pads included);
  drift      the response states no number before the reasoning produced it.
For the first N questions (--speech) also the spoken answer:
  CER        the answer's audio (24 kHz, resampled to 16 kHz) transcribed by the
             same model (system prompt "Transcribe the speech.", speak-only),
             against the response text it spoke;
  first audio, interleaved 2:8 against think-first, same question, same run.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import wave

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import corpus  # noqa: E402
import prepare  # noqa: E402
import schedule  # noqa: E402
import speech  # noqa: E402


def mor(args, mor_bin):
    r = subprocess.run([mor_bin] + args, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"mor {' '.join(args)}: {r.stderr.strip()}")
    return r.stderr


def number(text):
    found = re.findall(r"-?\d+", text)
    return int(found[-1]) if found else None


def edit_distance(a, b):
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def normalize(text):
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9 ]", " ", text.lower())).strip()


def read_wav_f32(path):
    """The float WAV mor answer writes (24 kHz mono, IEEE float), as numpy."""
    with open(path, "rb") as f:
        data = f.read()
    i = data.index(b"data") + 8
    return np.frombuffer(data[i:], "<f4")


def first_ms(log, what):
    m = re.search(rf"first {what} (-?\d+) ms", log)
    return float(m.group(1)) if m else None


def answer(mor_bin, models, wav, work, talker=True, schedule_name="interleaved", system=None, extra=()):
    args = ["answer", wav, "--model", f"{models}/thinker.gguf", "--encoder", f"{models}/encoder.gguf",
            "--schedule", schedule_name, "--response", f"{work}/response.txt", "--reasoning", f"{work}/reasoning.txt"]
    args += ["--talker", f"{models}/talker.gguf", "-o", f"{work}/answer.wav"] if talker else ["--talker", ""]
    if system:
        args += ["--system", system]
    args += list(extra)
    if schedule_name == "interleaved" and not talker and not system:
        args += ["--dump", f"{work}/dump"]
    log = mor(args, mor_bin)
    with open(f"{work}/response.txt") as f:
        response = f.read()
    with open(f"{work}/reasoning.txt") as f:
        reasoning = f.read()
    return response, reasoning, log


def check_streams(work, tok, p, q):
    """(ratio honoured, drift) from the dumped ids and streams."""
    ids = np.load(f"{work}/dump/thinker_ids.npy").astype(int).tolist()
    streams = np.load(f"{work}/dump/thinker_streams.npy").astype(int).tolist()
    ratio_ok = all(s == (0 if i % (p + q) < p else 1) for i, s in enumerate(streams))
    ends = (tok["<|response_end|>"], tok["<|reasoning_end|>"])
    pads = (tok["<|response_pad|>"], tok["<|reasoning_pad|>"])
    return ratio_ok, schedule.drift(ids, streams, tok.decode, ends, pads)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", required=True, help="folder with thinker.gguf, encoder.gguf, talker.gguf")
    ap.add_argument("--data", required=True, help="the data folder of train.py (eval.json, eval/, tokenizer.json)")
    ap.add_argument("--mor", default=os.path.join(os.path.dirname(os.path.dirname(HERE)), "build", "model", "cli", "mor"))
    ap.add_argument("--n", type=int, default=0, help="questions (default all)")
    ap.add_argument("--speech", type=int, default=0, help="questions also spoken, transcribed and timed")
    ap.add_argument("--dit", default="", help="DiT options for the spoken answers, e.g. \"--solver euler\"")
    ap.add_argument("-o", "--output", help="report JSON")
    a = ap.parse_args()
    tok = prepare.load_tokenizer(a.data)
    with open(os.path.join(a.data, "eval.json")) as f:
        items = json.load(f)
    if a.n:
        items = items[:a.n]
    rows, work = [], tempfile.mkdtemp(prefix="mor-eval-")
    for k, it in enumerate(items):
        wav = os.path.join(a.data, it["wav"])
        response, reasoning, _ = answer(a.mor, a.models, wav, work, talker=False)
        ratio_ok, drift = check_streams(work, tok, *prepare.RATIO)
        row = dict(question=it["question"], voice=it["voice"], held_out_wording=it["held_out_wording"],
                   result=it["result"], response=response, reasoning=reasoning, said=number(response),
                   correct=number(response) == it["result"], ratio_ok=ratio_ok, drift=drift)
        if k < a.speech:
            response, _, log = answer(a.mor, a.models, wav, work, extra=a.dit.split())
            row["first_audio_ms"] = first_ms(log, "audio")
            row["first_response_ms"] = first_ms(log, "response token")
            x16 = speech.resample(read_wav_f32(f"{work}/answer.wav"), 24000, 16000)
            prepare.write_wav16(f"{work}/spoken.wav", x16)
            heard, _, _ = answer(a.mor, a.models, f"{work}/spoken.wav", work, talker=False,
                                 schedule_name="speak-only", system=corpus.TRANSCRIBE_SYSTEM)
            ref, hyp = normalize(response), normalize(heard)
            row.update(spoken_response=response, heard=heard, cer=edit_distance(ref, hyp) / max(len(ref), 1))
            _, _, log = answer(a.mor, a.models, wav, work, schedule_name="think-first", extra=a.dit.split())
            row["think_first_first_audio_ms"] = first_ms(log, "audio")
            row["think_first_first_response_ms"] = first_ms(log, "response token")
        rows.append(row)
        print(f"{k + 1}/{len(items)} {'ok ' if row['correct'] else 'BAD'} {it['question']!r} -> {response!r}"
              + (f" cer {row['cer']:.2f}" if "cer" in row else ""), flush=True)

    def mean(key, sel=None):
        vals = [r[key] for r in rows if key in r and r[key] is not None and (sel is None or sel(r))]
        return (sum(vals) / len(vals)) if vals else None

    def median(key):
        vals = sorted(r[key] for r in rows if r.get(key) is not None)
        return vals[len(vals) // 2] if vals else None

    summary = dict(questions=len(rows), accuracy=mean("correct"),
                   accuracy_seen_wordings=mean("correct", lambda r: not r["held_out_wording"]),
                   accuracy_held_out_wordings=mean("correct", lambda r: r["held_out_wording"]),
                   ratio_honoured=mean("ratio_ok"), drift=sum(r["drift"] is not None for r in rows),
                   spoken=sum("cer" in r for r in rows), cer=mean("cer"),
                   first_response_ms_interleaved=median("first_response_ms"),
                   first_response_ms_think_first=median("think_first_first_response_ms"),
                   first_audio_ms_interleaved=median("first_audio_ms"),
                   first_audio_ms_think_first=median("think_first_first_audio_ms"))
    print(json.dumps(summary, indent=1))
    if a.output:
        with open(a.output, "w") as f:
            json.dump(dict(summary=summary, rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
