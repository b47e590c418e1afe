# SPDX-License-Identifier: LGPL-2.1-or-later
"""Trains mor-nano's audio encoder and thinker (stages 1 and 2 of train.py).

Every sample is what libmor's prompt (model/prompt.c, Tokenizer.prompt) prefills, token for
token, followed by the answer interleaved p:q (schedule.py); the loss is on
the answer tokens the runtime samples (not on its forced pads).

  stage 1  text: the typed question, answer interleaved (learns the format and
           the arithmetic), the encoder unused;
  stage 2  encoder: the encoder alone learns the words (CTC, below), cheaply;
  stage 3  speech: the spoken question (encoder and thinker together), mixed
           with typed questions, a few think-first answers (the baseline
           schedule mor bench e2e compares with) and the transcription task (system prompt
           "Transcribe the speech.": the words heard as the response, run
           speak-only: no reasoning stream) on spoken questions and on the nano voice's responses.

Every speech sample also trains the encoder directly: a CTC loss of its rows
against the words spoken (a linear head over the data's ~150 words, numbers
spelled as said, used in training only), with a batch of speech through the
encoder alone at each step of stage 3.

Resumable: DIR/thinker.ckpt holds the model, the optimizer and the step.
"""
import json
import math
import os
import random
import re
import time

import numpy as np
import torch
import torch.nn.functional as F

import corpus
import nano
import prepare
import schedule


ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def spoken_number(n):
    """The words espeak-ng says for 0 <= n < 1000."""
    if n >= 100:
        rest = n % 100
        return [ONES[n // 100], "hundred"] + (["and"] + spoken_number(rest) if rest else [])
    if n >= 20:
        return [TENS[n // 10]] + ([ONES[n % 10]] if n % 10 else [])
    return [ONES[n]]


class SpokenWords:
    """The CTC targets: the words as spoken (numbers as words), over the closed
    vocabulary of the data. Spoken order matters: "15" is said five-teen, so digit
    tokens would not align monotonically with the sound."""

    def __init__(self, texts):
        self.index = {}
        for t in texts:
            for w in self.split(t):
                self.index.setdefault(w, len(self.index))

    @staticmethod
    def split(text):
        out = []
        for w in re.findall(r"[A-Za-z]+|\d+", text):
            out += spoken_number(int(w)) if w.isdigit() else [w.lower()]
        return out

    def ids(self, text):
        return [self.index[w] for w in self.split(text) if w in self.index]


class Samples:
    """Token sequences and mels of the training tasks."""

    def __init__(self, data, tok):
        self.tok = tok
        with open(os.path.join(data, "questions.json")) as f:
            self.questions = json.load(f)
        with open(os.path.join(data, "responses.json")) as f:
            self.responses = json.load(f)
        self.q_mel = np.load(os.path.join(data, "questions.mel.npy"), mmap_mode="r")
        self.r_mel = np.load(os.path.join(data, "responses.mel.npy"), mmap_mode="r")
        self.words = SpokenWords([q["question"] for q in self.questions] + [r["text"] for r in self.responses])
        self.ends = (tok["<|response_end|>"], tok["<|reasoning_end|>"])
        self.pads = (tok["<|response_pad|>"], tok["<|reasoning_pad|>"])

    def answer(self, response, reasoning, think_first=False):
        response, reasoning = self.tok.encode(response), self.tok.encode(reasoning) if reasoning is not None else None
        if reasoning is None:   # speak-only: response slots only, as transcription runs
            return response + [self.ends[0]], [True] * (len(response) + 1)
        if think_first:   # the runtime's baseline: every slot to reasoning until it ends, then the response
            ids = reasoning + [self.ends[1]] + response + [self.ends[0]]
            return ids, [True] * len(ids)
        return schedule.interleave(response, reasoning, *prepare.RATIO, self.ends, self.pads)[:2]

    def make(self, task, rng, augment=True):
        """(ids, trained mask, mel or None)."""
        mel = None
        if task in ("text", "audio", "audio_tf", "asr_q"):
            q = rng.choice(self.questions)
            if task != "text":
                mel = np.asarray(self.q_mel[:, q["mel"][0]:q["mel"][1]], np.float32)
        else:
            r = rng.choice(self.responses)
            mel = np.asarray(self.r_mel[:, r["mel"][0]:r["mel"][1]], np.float32)
        if task == "text":
            head = self.tok.prompt(prepare.QWEN_SYSTEM, text=q["question"])
            ans, trained = self.answer(q["response"], q["reasoning"])
        elif task in ("audio", "audio_tf"):
            head = self.tok.prompt(prepare.QWEN_SYSTEM, n_audio=nano.AudioEncoder.rows(mel.shape[1]))
            ans, trained = self.answer(q["response"], q["reasoning"], think_first=task == "audio_tf")
        else:
            head = self.tok.prompt(corpus.TRANSCRIBE_SYSTEM, n_audio=nano.AudioEncoder.rows(mel.shape[1]))
            ans, trained = self.answer(q["question"] if task == "asr_q" else r["text"], None)
        if mel is not None and augment:
            mel = spec_augment(mel, rng)
        heard = None if mel is None else self.words.ids(r["text"] if task == "asr_r" else q["question"])
        return head + ans, [False] * len(head) + trained, mel, heard


def spec_augment(mel, rng):
    """One band and one short span set to the floor: robustness to voices the data lacks."""
    mel = mel.copy()
    floor = mel.min()
    f = rng.randint(0, 12)
    f0 = rng.randint(0, mel.shape[0] - f)
    mel[f0:f0 + f] = floor
    t = rng.randint(0, min(15, mel.shape[1] // 8))
    t0 = rng.randint(0, mel.shape[1] - t)
    mel[:, t0:t0 + t] = floor
    return mel


def batch(samples):
    """ids [B, T], targets [B, T] (-100 where untrained), lengths, mels (in order), and
    the words each mel holds (token ids), for the CTC loss."""
    T = max(len(s[0]) for s in samples)
    ids = torch.zeros(len(samples), T, dtype=torch.long)
    targets = torch.full((len(samples), T), -100, dtype=torch.long)
    for i, (seq, trained, _, _) in enumerate(samples):
        ids[i, :len(seq)] = torch.tensor(seq)
        for j in range(1, len(seq)):
            if trained[j]:
                targets[i, j - 1] = seq[j]
    lengths = torch.tensor([len(s[0]) for s in samples])
    mels = [torch.from_numpy(s[2]) for s in samples if s[2] is not None]
    return ids, targets, lengths, mels, [s[3] for s in samples if s[2] is not None]


def ctc_loss(head, audio, heard, blank):
    """CTC of the encoder's rows against the words they hold: a direct signal for the
    encoder, which the answer's loss reaches only through the thinker. Training only:
    the head is not part of the model."""
    T = max(a.shape[0] for a in audio)
    logp = torch.stack([F.pad(head(a), (0, 0, 0, T - a.shape[0])) for a in audio]).log_softmax(-1)
    targets = torch.tensor([t for h in heard for t in h])
    return F.ctc_loss(logp.transpose(0, 1), targets, torch.tensor([a.shape[0] for a in audio]),
                      torch.tensor([len(h) for h in heard]), blank=blank, zero_infinity=True)


STAGES = [("text", {"text": 1.0}),
          ("encoder", {"asr_q": 0.5, "asr_r": 0.5}),
          ("speech", {"audio": 0.5, "audio_tf": 0.07, "text": 0.08, "asr_q": 0.15, "asr_r": 0.2})]


CTC_WEIGHT = 0.5


def set_lr(opt, peak, step, frac):
    """Warm-up over 100 steps, then a half cosine from @peak to 0.1 @peak over the stage."""
    for g in opt.param_groups:
        g["lr"] = peak * min(1.0, (step + 1) / 100) * (0.55 + 0.45 * math.cos(math.pi * frac))


def update(opt, params, loss):
    """One clipped step; none when the gradient is not finite (CTC on a nearly
    infeasible alignment can overflow it)."""
    opt.zero_grad()
    loss.backward()
    if torch.isfinite(torch.nn.utils.clip_grad_norm_(params, 1.0)):
        opt.step()


def vocab_size(tok):
    return (tok.size + 63) // 64 * 64


def train(data, out, minutes=(6, 12, 40), batch_size=16, lr=2e-3, seed=0, log=print):
    torch.manual_seed(seed)
    tok = prepare.load_tokenizer(data)
    samples = Samples(data, tok)
    model = nano.Thinker(vocab_size(tok), tok["<|AUDIO|>"])
    blank = len(samples.words.index)
    ctc_head = torch.nn.Linear(nano.TEXT["hidden_size"], blank + 1)
    params = list(model.parameters()) + list(ctc_head.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "thinker.ckpt")
    state = dict(stage=0, spent=0.0, step=0)
    if os.path.exists(path):
        ck = torch.load(path)
        model.load_state_dict(ck["model"])
        if "ctc" in ck and ck["ctc"]["weight"].shape == ctc_head.weight.shape:   # else a fresh optimizer
            ctc_head.load_state_dict(ck["ctc"])
            opt.load_state_dict(ck["opt"])
        state = ck["state"]
    rng = random.Random(seed + state["step"])
    saved = time.time()

    def save():
        torch.save(dict(model=model.state_dict(), ctc=ctc_head.state_dict(), opt=opt.state_dict(), state=state), path)
    while state["stage"] < len(STAGES):
        name, mix = STAGES[state["stage"]]
        budget = minutes[state["stage"]] * 60
        start = time.time() - state["spent"]
        model.train()
        while time.time() - start < budget:
            if time.time() - saved > 180:
                save()
                saved = time.time()
            frac = (time.time() - start) / budget
            set_lr(opt, lr, state["step"], frac)
            tasks = rng.choices(list(mix), weights=list(mix.values()), k=batch_size * (2 if name == "encoder" else 1))
            ids, targets, lengths, mels, heard = batch([samples.make(t, rng) for t in tasks])
            if name == "encoder":   # the encoder alone, CTC only: 4 times cheaper a sample than the whole
                loss = ctc_loss(ctc_head, model.audio_tower(mels), heard, blank)
                update(opt, params, loss)
                state["step"] += 1
                state["spent"] = time.time() - start
                if state["step"] % 25 == 0:
                    log(f"thinker {name} step {state['step']} {state['spent']/60:.1f} min ctc {loss.item():.4f}")
                continue
            audio = model.audio_tower(mels) if mels else None
            logits, _, _ = model(ids, None, lengths, audio)
            loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))
            if audio:
                loss = loss + CTC_WEIGHT * ctc_loss(ctc_head, audio, heard, blank)
            if name == "speech":   # and more speech for the encoder alone
                _, _, _, mels, heard = batch([samples.make(rng.choice(("asr_q", "asr_r")), rng)
                                              for _ in range(batch_size)])
                loss = loss + CTC_WEIGHT * ctc_loss(ctc_head, model.audio_tower(mels), heard, blank)
            update(opt, params, loss)
            state["step"] += 1
            state["spent"] = time.time() - start
            if state["step"] % 25 == 0:
                with torch.no_grad():
                    pred = logits.argmax(-1)
                    m = targets != -100
                    seq_ok = ((pred == targets) | ~m).all(1).float().mean().item()
                log(f"thinker {name} step {state['step']} {state['spent']/60:.1f} min loss {loss.item():.4f} "
                    f"token acc {(pred[m] == targets[m]).float().mean().item():.3f} whole answers {seq_ok:.2f}")
        state["stage"] += 1
        state["spent"] = 0.0
        save()
    return model, tok
