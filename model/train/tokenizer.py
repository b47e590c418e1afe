# SPDX-License-Identifier: LGPL-2.1-or-later
"""mor-nano's vocabulary: a byte-level BPE (GPT-2's byte alphabet, Qwen2's
pre-tokenizer) with merges learned from the training texts, then the special
tokens of Qwen2.5-Omni's chat template, the talker's text tokens, the
speaker's token and the four thinking-in-speaking control tokens.

The pre-tokenizer here is Qwen2's expression restricted to ASCII, which is all
mor-nano's texts hold; libmor's tokenizer runs the full expression, so the
ids agree (checked against the converted GGUF by train.py's export check).
"""
import collections
import json
import os
import re

PRETOKENIZE = re.compile(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\nA-Za-z0-9]?[A-Za-z]+|[0-9]| ?[^\sA-Za-z0-9]+[\r\n]*"
                         r"|\s*[\r\n]+|\s+(?!\S)|\s+")

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>",
            "<|tts_pad|>", "<|tts_text_bos|>", "<|tts_text_eod|>", "<|spk_nano|>",
            "<|response_end|>", "<|reasoning_end|>", "<|response_pad|>", "<|reasoning_pad|>"]


def byte_alphabet():
    """GPT-2's map from bytes to printable characters."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTES = byte_alphabet()


def _words(text):
    return ["".join(BYTES[b] for b in w.encode()) for w in PRETOKENIZE.findall(text)]


def learn_merges(texts, n_merges):
    """The @n_merges most frequent pair merges over the pre-tokenized @texts (ties: first seen)."""
    counts = collections.Counter(w for t in texts for w in _words(t))
    words = {w: list(w) for w in counts}
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, syms in words.items():
            for a, b in zip(syms, syms[1:]):
                pairs[a, b] += counts[w]
        if not pairs:
            break
        (a, b), n = max(pairs.items(), key=lambda kv: kv[1])
        if n < 2:
            break
        merges.append((a, b))
        for w, syms in words.items():
            i, out = 0, []
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            words[w] = out
    return merges


class Tokenizer:
    def __init__(self, merges):
        self.merges = [tuple(m) for m in merges]
        self.rank = {m: i for i, m in enumerate(self.merges)}
        self.vocab = {ch: b for b, ch in sorted(BYTES.items())}
        for a, b in self.merges:
            self.vocab.setdefault(a + b, len(self.vocab))
        self.n_regular = len(self.vocab)
        self.special = {s: self.n_regular + i for i, s in enumerate(SPECIALS)}
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        self.id_to_token.update({i: s for s, i in self.special.items()})
        self.size = self.n_regular + len(SPECIALS)
        self._cache = {}

    def _bpe(self, word):
        if word in self._cache:
            return self._cache[word]
        syms = list(word)
        while len(syms) > 1:
            best = min(range(len(syms) - 1), key=lambda i: self.rank.get((syms[i], syms[i + 1]), 1 << 30))
            if (syms[best], syms[best + 1]) not in self.rank:
                break
            syms[best:best + 2] = [syms[best] + syms[best + 1]]
        ids = [self.vocab[s] for s in syms]
        self._cache[word] = ids
        return ids

    def encode(self, text):
        """Ids of plain text (special tokens are never parsed out of it)."""
        return [i for w in _words(text) for i in self._bpe(w)]

    def decode(self, ids):
        inverse = {ch: b for b, ch in BYTES.items()}
        out = bytearray()
        for i in ids:
            t = self.id_to_token[i]
            out += t.encode() if t in self.special else bytes(inverse[c] for c in t)
        return out.decode("utf-8", "replace")

    def prompt(self, system, n_audio=None, text=None):
        """The prompt's ids as model/prompt.c spells them, each text piece encoded on
        its own: the chat template's head, @n_audio <|AUDIO|> rows, typed @text, the tail."""
        t, e = self.special, self.encode
        ids = [t["<|im_start|>"]] + e("system\n") + e(system) + [t["<|im_end|>"]] + e("\n")
        ids += [t["<|im_start|>"]] + e("user\n")
        if n_audio is not None:
            ids += [t["<|audio_bos|>"]] + [t["<|AUDIO|>"]] * n_audio + [t["<|audio_eos|>"]]
        if text:
            ids += e(text)
        return ids + [t["<|im_end|>"]] + e("\n") + [t["<|im_start|>"]] + e("assistant\n")

    def __getitem__(self, special):
        return self.special[special]

    def save(self, directory, chat_template):
        """vocab.json, merges.txt and tokenizer_config.json as Hugging Face's Qwen2Tokenizer reads them."""
        with open(os.path.join(directory, "vocab.json"), "w", encoding="utf-8") as f:
            json.dump(self.vocab, f, ensure_ascii=False)
        with open(os.path.join(directory, "merges.txt"), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in self.merges))
        added = {str(i): dict(content=s, lstrip=False, normalized=False, rstrip=False, single_word=False,
                              special=True) for s, i in self.special.items()}
        config = {"add_bos_token": False, "add_prefix_space": False, "added_tokens_decoder": added,
                  "additional_special_tokens": SPECIALS[1:], "bos_token": None, "chat_template": chat_template,
                  "clean_up_tokenization_spaces": False, "eos_token": "<|im_end|>", "errors": "replace",
                  "model_max_length": 32768, "pad_token": "<|endoftext|>", "split_special_tokens": False,
                  "tokenizer_class": "Qwen2Tokenizer", "unk_token": None}
        with open(os.path.join(directory, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump(config, f, ensure_ascii=False, indent=2)

    def to_json(self):
        return {"merges": [list(m) for m in self.merges]}
