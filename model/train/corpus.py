# SPDX-License-Identifier: LGPL-2.1-or-later
"""mor-nano's problems: one- and two-step arithmetic word problems with exact
answers, each as a spoken-style question, a terse reasoning trace and a short
spoken response.

The response opens with words chosen by the kind of problem only (never by
its result: a listener can hear them before the reasoning is done) and states
the result at its end. Wordings, names and voices are split: the held-out
evaluation set uses names, wordings and espeak-ng voices that training never
sees (HELD_OUT_*).
"""
import random

NAMES = ["Anna", "Ben", "Carla", "David", "Emma", "Frank", "Grace", "Henry", "Ivy", "Jack", "Kate", "Leo",
         "Mia", "Noah", "Olivia", "Paul", "Rosa", "Sam", "Tom", "Uma", "Victor", "Wendy", "Max", "Zoe"]
HELD_OUT_NAMES = ["Lucy", "Oscar", "Nina", "Hugo", "Ella", "Peter"]
OBJECTS = ["apples", "pens", "coins", "books", "cards", "stickers", "marbles", "cookies", "shells", "stamps"]

# (kind, template, arity); {n} a name, {o} an object, {a} {b} {c} the numbers.
WORDINGS = [
    ("add", "What is {a} plus {b}?"), ("add", "Add {a} and {b}."), ("add", "What is the sum of {a} and {b}?"),
    ("add", "{n} has {a} {o} and gets {b} more. How many {o} does {n} have now?"),
    ("sub", "What is {a} minus {b}?"), ("sub", "Take {b} away from {a}."),
    ("sub", "{n} had {a} {o} and gave away {b}. How many are left?"),
    ("mul", "What is {a} times {b}?"), ("mul", "Multiply {a} by {b}."),
    ("mul", "{n} has {a} bags with {b} {o} in each. How many {o} are there in all?"),
    ("add_mul", "What is {a} plus {b}, times {c}?"), ("mul_add", "What is {a} times {b}, plus {c}?"),
    ("sub_mul", "What is {a} minus {b}, times {c}?"), ("mul_sub", "What is {a} times {b}, minus {c}?"),
    ("add_sub", "{n} has {a} {o}, buys {b} more, then gives away {c}. How many are left?"),
    ("mul_sub", "{n} buys {a} packs of {b} {o} and loses {c}. How many are left?"),
]
HELD_OUT_WORDINGS = [
    ("add", "How much is {a} plus {b}?"), ("mul", "How much is {a} times {b}?"),
    ("sub", "{n} baked {a} {o} and sold {b}. How many {o} remain?"),
    ("add_mul", "Add {a} and {b}, then multiply by {c}."),
]

# Openers by kind: they do not depend on the result.
OPENERS = {
    "add": ["Okay, let me add those up.", "Sure, adding them together.", "Let me count them up."],
    "sub": ["Okay, let me take that away.", "Sure, let me subtract.", "Let me work out what is left."],
    "mul": ["Okay, let me multiply those.", "Sure, let me work out the product.", "Let me multiply them."],
    "two": ["Okay, there are two steps here.", "Let me work through this step by step.",
            "Alright, let me do this in two steps."],
}
# A careless writer's responses state the result at once; the verification rejects them (anticipation drift).
DIRECT = ["It is {r}, of course.", "{r}. That is the answer."]
SYMBOL = {"add": "+", "sub": "-", "mul": "*"}
# Transcription: the instruction is the system prompt; the response is the words heard.
TRANSCRIBE_SYSTEM = "Transcribe the speech."


def _numbers(kind, rng):
    if kind == "add":
        return rng.randint(1, 20), rng.randint(1, 20), None
    if kind == "sub":
        a = rng.randint(2, 20)
        return a, rng.randint(1, a), None
    if kind == "mul":
        return rng.randint(2, 10), rng.randint(2, 10), None
    first, second = kind.split("_")
    if first == "mul":
        a, b = rng.randint(2, 9), rng.randint(2, 9)
    elif first == "sub":
        a = rng.randint(3, 15)
        b = rng.randint(1, a - 1)
    else:
        a, b = rng.randint(1, 10), rng.randint(1, 10)
    r = _apply(first, a, b)
    if second == "mul":
        c = rng.randint(2, 5)
    elif second == "sub":
        c = rng.randint(1, r)
    else:
        c = rng.randint(1, 20)
    return a, b, c


def _apply(op, x, y):
    return x + y if op == "add" else x - y if op == "sub" else x * y


def solve(kind, a, b, c):
    """(result, reasoning trace): '3+5=8' or '3+5=8, 8*2=16'."""
    ops = kind.split("_")
    r = _apply(ops[0], a, b)
    steps = [f"{a}{SYMBOL[ops[0]]}{b}={r}"]
    if len(ops) == 2:
        r2 = _apply(ops[1], r, c)
        steps.append(f"{r}{SYMBOL[ops[1]]}{c}={r2}")
        r = r2
    return r, ", ".join(steps)


def problem(rng, held_out=False):
    """A dict: kind, question, reasoning, response, result."""
    wordings = HELD_OUT_WORDINGS + WORDINGS if held_out else WORDINGS
    if held_out and rng.random() < 0.6:
        wordings = WORDINGS          # held-out voices and names, seen wordings
    kind, template = rng.choice(wordings)
    a, b, c = _numbers(kind, rng)
    result, reasoning = solve(kind, a, b, c)
    name = rng.choice(HELD_OUT_NAMES if held_out else NAMES)
    question = template.format(a=a, b=b, c=c, n=name, o=rng.choice(OBJECTS))
    group = "two" if "_" in kind else kind
    if rng.random() < 0.04:
        response = rng.choice(DIRECT).format(r=result)
    else:
        response = f"{rng.choice(OPENERS[group])} The answer is {result}."
    return dict(kind=kind, question=question, reasoning=reasoning, response=response,
                result=result, wording=template, held_out_wording=(kind, template) in HELD_OUT_WORDINGS)


# espeak-ng voices: (voice, speed range, pitch range). Held-out: other accents and variants.
VOICES = ["en-us", "en", "en-gb-x-rp", "en-029", "en-us+m3", "en-us+f2", "en+m2", "en+f3", "en-gb-scotland"]
HELD_OUT_VOICES = ["en-us+f4", "en-gb-x-gbclan", "en+m4"]
# The voice the talker learns to speak with, and its speed and pitch.
NANO_VOICE = ("en-us+f2", 165, 55)


def voice(rng, held_out=False):
    return (rng.choice(HELD_OUT_VOICES if held_out else VOICES), rng.randint(140, 190), rng.randint(35, 70))


def texts_for_tokenizer(rng, n=4000):
    """Every kind of text the thinker reads or writes, for training the BPE merges."""
    out = []
    for _ in range(n):
        p = problem(rng, held_out=rng.random() < 0.1)
        out += [p["question"], p["reasoning"], p["response"]]
    return out
