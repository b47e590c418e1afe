# SPDX-License-Identifier: LGPL-2.1-or-later
"""Interleaving a response and a reasoning stream into p:q cycles, as
libmor's scheduler runs them (model/interleave.h), and the check against
anticipation drift.

A cycle is p response slots then q reasoning slots. Each stream is its
tokens then its end token; once a stream has ended, its slots hold its pad
token, forced by the runtime (never sampled, so never trained). The answer
ends at the step where the second stream samples its end.
"""
import re

RESPONSE, REASONING = 0, 1


def interleave(response, reasoning, p, q, ends, pads):
    """(tokens, trained, streams): the answer's steps; @trained is False on forced pads.
    @response, @reasoning: token ids without end tokens; @ends, @pads: (response id, reasoning id)."""
    queues = [list(response) + [ends[RESPONSE]], list(reasoning) + [ends[REASONING]]]
    tokens, trained, streams = [], [], []
    step = 0
    while queues[RESPONSE] or queues[REASONING]:
        stream = RESPONSE if step % (p + q) < p else REASONING
        if queues[stream]:
            tokens.append(queues[stream].pop(0))
            trained.append(True)
        else:
            tokens.append(pads[stream])
            trained.append(False)
        streams.append(stream)
        step += 1
    return tokens, trained, streams


def deinterleave(tokens, streams, decode, ends, pads):
    """Per step, the text each stream has produced so far: [(response text, reasoning text)]."""
    seen = [[], []]
    out = []
    for t, s in zip(tokens, streams):
        if t not in ends and t not in pads:
            seen[s].append(t)
        out.append((decode(seen[RESPONSE]), decode(seen[REASONING])))
    return out


def drift(tokens, streams, decode, ends, pads):
    """The first number the response states before the reasoning has produced it (a
    result after '='), or None. A number is stated once the response holds it whole:
    the next response text no longer extends its digits."""
    history = deinterleave(tokens, streams, decode, ends, pads)
    final_response = history[-1][0] if history else ""
    for m in re.finditer(r"\d+", final_response):
        number, end = m.group(), m.end()
        for response, reasoning in history:
            if len(response) >= end:
                produced = re.findall(r"=(\d+)", reasoning)
                if number not in produced:
                    return int(number)
                break
    return None
