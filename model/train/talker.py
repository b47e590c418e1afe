# SPDX-License-Identifier: LGPL-2.1-or-later
"""Trains mor-nano's talker (stage 3 of train.py), the thinker frozen.

The talker reads rows of the thinker's width, exactly as libmor's talker
(model/talker.h) and transformers' generate build them:
  0 .. P-1   h_i + e_i of the thinker's prompt (e zero at <|AUDIO|>);
  P          E(<|spk_nano|>) + E_codec(pad);
  P+1        R[0] + E_codec(start)            -> code c_0;
  P+1+k      R[k] + E_codec(c_{k-1})          -> code c_k, and after the last code, end;
R: h + e of each response token the thinker emits (teacher-forced here: the
training answer, interleaved p:q, through the trained thinker), then
E(<|tts_text_eod|>), then E(<|tts_pad|>) for ever.
The codes are the speech codes of the response in the nano voice
(token2wav.py: 50 a second). Resumable: DIR/talker.ckpt.
"""
import os
import random
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import nano
import prepare
import schedule
import thinker as thinker_stage

N_CODES = 256
CODEC = dict(pad=256, start=257, end=258, mask=260)
VOCAB = 264


class Talker(nn.Module):
    """`talker.*`: thinker_to_talker_proj, model (codec embeddings of the thinker's width), codec_head."""

    def __init__(self, embedding_size):
        super().__init__()
        self.thinker_to_talker_proj = nn.Linear(embedding_size, nano.TALKER["hidden_size"])
        self.model = nano.Qwen2Model(nano.TALKER, VOCAB, embedding_size)
        self.codec_head = nn.Linear(nano.TALKER["hidden_size"], VOCAB, bias=False)

    def forward(self, rows, lengths):
        return self.codec_head(self.model(self.thinker_to_talker_proj(rows), lengths))


def config(tok):
    c = nano.TALKER
    return dict(model_type="qwen2_5_omni_talker", vocab_size=VOCAB, embedding_size=nano.TEXT["hidden_size"],
                hidden_size=c["hidden_size"], intermediate_size=c["intermediate_size"],
                num_hidden_layers=c["num_hidden_layers"], num_attention_heads=c["num_attention_heads"],
                num_key_value_heads=c["num_key_value_heads"], head_dim=c["head_dim"],
                max_position_embeddings=c["max_position_embeddings"], rms_norm_eps=c["rms_norm_eps"],
                rope_theta=c["rope_theta"], hidden_act="silu",
                rope_scaling={"mrope_section": c["mrope_section"], "rope_type": "default", "type": "default"},
                tts_codec_pad_token_id=CODEC["pad"], tts_codec_start_token_id=CODEC["start"],
                tts_codec_end_token_id=CODEC["end"], tts_codec_mask_token_id=CODEC["mask"],
                tts_text_pad_token_id=tok["<|tts_pad|>"], tts_text_start_token_id=tok["<|tts_text_bos|>"],
                tts_text_end_token_id=tok["<|tts_text_eod|>"], audio_token_index=tok["<|AUDIO|>"],
                use_sliding_window=False, sliding_window=4096, max_window_layers=c["num_hidden_layers"])


def sample_rows(th, samples, q, codes, codec_embed):
    """(rows [n, E], targets [n]) of one training question answered by the frozen thinker."""
    tok = samples.tok
    mel = np.asarray(samples.q_mel[:, q["mel"][0]:q["mel"][1]], np.float32)
    head = tok.prompt(prepare.QWEN_SYSTEM, n_audio=nano.AudioEncoder.rows(mel.shape[1]))
    ans, trained, streams = schedule.interleave(tok.encode(q["response"]), tok.encode(q["reasoning"]),
                                                *prepare.RATIO, samples.ends, samples.pads)
    ids = torch.tensor([head + ans])
    with torch.no_grad():
        e = th.embed(ids, [torch.from_numpy(mel)])[0]
        h = th.model(e[None])[0]
        e = e.masked_fill((ids[0] == tok["<|AUDIO|>"])[:, None], 0.0)
        E = th.model.embed_tokens.weight
    P = len(head)
    reply = [P + i for i, (t, tr, s) in enumerate(zip(ans, trained, streams))
             if tr and s == schedule.RESPONSE and t != samples.ends[0]]
    n = len(codes)
    R = [h[j] + e[j] for j in reply] + [E[tok["<|tts_text_eod|>"]]]
    R += [E[tok["<|tts_pad|>"]]] * max(0, n + 1 - len(R))
    prev = [CODEC["start"]] + list(codes)
    rows = torch.cat([h[:P] + e[:P], (E[tok["<|spk_nano|>"]] + codec_embed(torch.tensor(CODEC["pad"])))[None],
                      torch.stack(R[:n + 1]) + codec_embed(torch.tensor(prev))])
    targets = torch.tensor([-100] * (P + 1) + list(codes) + [CODEC["end"]])
    return rows, targets


def train(data, out, th, tok, codes_by_response, minutes=20, batch_size=8, lr=2e-3, seed=0, log=print):
    torch.manual_seed(seed)
    samples = thinker_stage.Samples(data, tok)
    text_to_id = {r["text"]: r["id"] for r in samples.responses}
    questions = [q for q in samples.questions if f"c{text_to_id[q['response']]}" in codes_by_response]
    model = Talker(nano.TEXT["hidden_size"])
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "talker.ckpt")
    state = dict(spent=0.0, step=0)
    if os.path.exists(path):
        ck = torch.load(path)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        state = ck["state"]
    rng = random.Random(seed + state["step"])
    start, saved = time.time() - state["spent"], time.time()
    budget = minutes * 60
    th.eval()
    while time.time() - start < budget:
        rows, targets = [], []
        for q in rng.sample(questions, batch_size):
            codes = codes_by_response[f"c{text_to_id[q['response']]}"].tolist()
            r, t = sample_rows(th, samples, q, codes, model.model.embed_tokens)
            rows.append(r)
            targets.append(t)
        T = max(len(t) for t in targets)
        x = torch.stack([F.pad(r, (0, 0, 0, T - len(r))) for r in rows])
        y = torch.stack([F.pad(t, (0, T - len(t)), value=-100) for t in targets])
        lengths = torch.tensor([len(t) for t in targets])
        thinker_stage.set_lr(opt, lr, state["step"], (time.time() - start) / budget)
        logits = model(x, lengths)
        loss = F.cross_entropy(logits.view(-1, VOCAB), y.view(-1))
        thinker_stage.update(opt, list(model.parameters()), loss)
        state["step"] += 1
        state["spent"] = time.time() - start
        if state["step"] % 25 == 0:
            m = y != -100
            acc = (logits.argmax(-1)[m] == y[m]).float().mean().item()
            log(f"talker step {state['step']} {state['spent']/60:.1f} min loss {loss.item():.4f} code acc {acc:.3f}")
        if time.time() - saved > 180:
            torch.save(dict(model=model.state_dict(), opt=opt.state_dict(), state=state), path)
            saved = time.time()
    torch.save(dict(model=model.state_dict(), opt=opt.state_dict(), state=state), path)
    return model
