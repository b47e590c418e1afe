#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The scripts of pipelines/ as users run them, on tiny random models made here:
# answer-file.sh (WAV in, answer.wav, response.txt, reasoning.txt out) and
# embed.py (PyGObject; skipped without python3-gi). MOR is the mor command.
set -u
mor=$1
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0
ok () { echo "ok - $1"; }
bad () { echo "not ok - $1"; fail=1; }

"$mor" mkmodel --kind thinker --preset tiny --ratio 2:8 --context 400 -o "$dir/thinker.gguf" &&
  "$mor" mkmodel --kind encoder --preset tiny -o "$dir/encoder.gguf" &&
  "$mor" mkmodel --kind talker --preset tiny -o "$dir/talker.gguf" || { echo "Bail out! mkmodel"; exit 1; }
gst-launch-1.0 -q audiotestsrc num-buffers=12 samplesperbuffer=2205 wave=saw freq=150 volume=0.3 ! \
  audio/x-raw,rate=22050,channels=1,format=S16LE ! wavenc ! filesink location="$dir/q.wav" ||
  { echo "Bail out! no audiotestsrc/wavenc"; exit 1; }
export MOR_MODEL_DIR="$dir"
# fast and bounded: the cheapest DiT, a short answer (random weights rarely end on their own)
export MOR_THINKER_PROPS="max-tokens=60" MOR_TALKER_PROPS="max-codes=60 dit-steps=2 dit-solver=euler cfg=0"

if "$root/pipelines/answer-file.sh" "$dir/q.wav" "$dir/out" >"$dir/log" 2>&1 &&
   [ -s "$dir/out/answer.wav" ] && [ -f "$dir/out/response.txt" ] && [ -f "$dir/out/reasoning.txt" ] &&
   ! grep -qi "warn\|error\|critical" "$dir/log"; then
  ok "answer-file.sh writes answer.wav, response.txt and reasoning.txt"
else
  bad "answer-file.sh"; sed 's/^/# /' "$dir/log"
fi

if /usr/bin/python3 -c 'import gi; gi.require_version("GstApp", "1.0")' 2>/dev/null; then
  if /usr/bin/python3 "$root/pipelines/embed.py" "$dir/q.wav" "$dir/embed.wav" >"$dir/log" 2>&1 &&
     grep -q "^\[stats\] morthinker/answer" "$dir/log" && grep -q "^\[stats\] mortalker/answer" "$dir/log" &&
     grep -q "^speech: " "$dir/log" && [ -s "$dir/embed.wav" ]; then
    ok "embed.py reads both pads and the answer messages"
  else
    bad "embed.py"; sed 's/^/# /' "$dir/log"
  fi
else
  echo "ok - embed.py # SKIP python3-gi with GstApp is not installed"
fi
exit $fail
