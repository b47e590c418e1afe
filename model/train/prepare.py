# SPDX-License-Identifier: LGPL-2.1-or-later
"""Makes mor-nano's data set in DATA (the first stage of train.py; resumable):

  tokenizer.json      the BPE merges learned from every text the thinker sees
  questions.json      training problems: texts, voice, and where their log-mel lies
  questions.mel.npy   the training questions' log-mels (float16 [128, frames], concatenated)
  eval.json, eval/    held-out problems (unseen voices, names and some wordings) as 16 kHz WAV files
  responses.json      every response text, with its id
  resp24/<id>.npy     the response spoken in the nano voice at 24 kHz (what the talker learns to say)
  responses.mel.npy   the same speech at 16 kHz as log-mels (the transcription task)
  report.json         counts, and how many samples the anticipation-drift check rejected

Samples whose response states a number before the reasoning has produced it
(at the shipped 2:8 ratio) are rejected here and never trained on.
"""
import json
import multiprocessing
import os
import random
import wave

import numpy as np

import corpus
import schedule
import speech
import tokenizer

QWEN_SYSTEM = ("You are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable of perceiving "
               "auditory and visual inputs, as well as generating text and speech.")
RATIO = (2, 8)


def _question_mel(job):
    text, (voice, speed, pitch) = job
    return speech.log_mel(speech.synth(text, voice, speed, pitch)).astype(np.float16)


def _response_audio(job):
    rid, text, directory = job
    voice, speed, pitch = corpus.NANO_VOICE
    x24 = speech.synth(text, voice, speed, pitch, rate=24000)
    np.save(os.path.join(directory, "resp24", f"{rid}.npy"), x24)
    return speech.log_mel(speech.resample(x24, 24000, 16000)).astype(np.float16)


def write_wav16(path, x):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def _save(data, name, items, mels):
    """NAME.mel.npy: the @mels one after another; NAME.json: @items, each with its "mel" span."""
    offsets = np.cumsum([0] + [m.shape[1] for m in mels]).tolist()
    np.save(os.path.join(data, f"{name}.mel.npy"), np.concatenate(mels, axis=1))
    for item, a, b in zip(items, offsets, offsets[1:]):
        item["mel"] = [a, b]
    with open(os.path.join(data, f"{name}.json"), "w") as f:
        json.dump(items, f)


def load_tokenizer(data):
    with open(os.path.join(data, "tokenizer.json")) as f:
        return tokenizer.Tokenizer(json.load(f)["merges"])


def prepare(data, n_train=8000, n_eval=300, seed=1, workers=2):
    if os.path.exists(os.path.join(data, "report.json")):
        return
    os.makedirs(os.path.join(data, "resp24"), exist_ok=True)
    os.makedirs(os.path.join(data, "eval"), exist_ok=True)
    rng = random.Random(seed)
    texts = corpus.texts_for_tokenizer(rng) + [QWEN_SYSTEM, corpus.TRANSCRIBE_SYSTEM, "system\n", "user\n",
                                              "assistant\n"] * 200
    tok = tokenizer.Tokenizer(tokenizer.learn_merges(texts, 500))
    with open(os.path.join(data, "tokenizer.json"), "w") as f:
        json.dump(tok.to_json(), f)
    ends = (tok["<|response_end|>"], tok["<|reasoning_end|>"])
    pads = (tok["<|response_pad|>"], tok["<|reasoning_pad|>"])

    def problems(n, held_out):
        out, rejected = [], 0
        while len(out) < n:
            p = corpus.problem(rng, held_out)
            tokens, _, streams = schedule.interleave(tok.encode(p["response"]), tok.encode(p["reasoning"]),
                                                     *RATIO, ends, pads)
            if schedule.drift(tokens, streams, tok.decode, ends, pads) is not None:
                rejected += 1
                continue
            p["voice"] = corpus.voice(rng, held_out)
            out.append(p)
        return out, rejected

    train, rejected_train = problems(n_train, False)
    held, rejected_eval = problems(n_eval, True)
    with multiprocessing.Pool(workers) as pool:
        _save(data, "questions", train, pool.map(_question_mel, [(p["question"], p["voice"]) for p in train],
                                                 chunksize=64))
        for i, p in enumerate(held):
            p["wav"] = f"eval/{i:04d}.wav"
            write_wav16(os.path.join(data, p["wav"]), speech.synth(p["question"], *p["voice"]))
        with open(os.path.join(data, "eval.json"), "w") as f:
            json.dump(held, f, indent=1)
        responses = sorted({p["response"] for p in train + held})
        resp = [dict(id=i, text=t) for i, t in enumerate(responses)]
        _save(data, "responses", resp, pool.map(_response_audio, [(r["id"], r["text"], data) for r in resp],
                                                chunksize=16))
    report = dict(train=len(train), eval=len(held), responses=len(resp), vocab=tok.size,
                  ratio=f"{RATIO[0]}:{RATIO[1]}", rejected_drift_train=rejected_train,
                  rejected_drift_eval=rejected_eval,
                  question_seconds=sum(p["mel"][1] - p["mel"][0] for p in train) / 100)
    with open(os.path.join(data, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    print("data:", json.dumps(report), flush=True)


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data")
    ap.add_argument("--train", type=int, default=8000)
    a = ap.parse_args()
    prepare(a.data, a.train)
