#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The README's main job with the bundled model (models/nano, mor-nano): the
# bundled spoken question, made here as tools/setup makes it, answered through
# pipelines/answer-file.sh with every element's default model. The response
# must state the right number (16) and the answer must be spoken.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
command -v espeak-ng >/dev/null || { echo "1..0 # SKIP espeak-ng is not installed (tools/setup installs it)"; exit 0; }
[ -f "$root/models/nano/thinker.gguf" ] || { echo "Bail out! models/nano/thinker.gguf is missing"; exit 1; }
echo "1..2"
espeak-ng -v en-us -s 150 -w "$dir/q.wav" "What is three plus five, times two?"
unset MOR_MODEL_DIR MOR_THINKER_PROPS MOR_TALKER_PROPS
if "$root/pipelines/answer-file.sh" "$dir/q.wav" "$dir/out" >"$dir/log" 2>&1; then
  said=$(grep -o '[0-9][0-9]*' "$dir/out/response.txt" | tail -n 1)
  if [ "$said" = 16 ]; then
    echo "ok 1 - the response states 16: $(cat "$dir/out/response.txt")"
  else
    echo "not ok 1 - the response states “$said”, not 16"; sed 's/^/# /' "$dir/log"; exit 1
  fi
  # 24 kHz float32 mono: 44-byte header, then at least a second of speech
  if [ "$(wc -c < "$dir/out/answer.wav")" -gt 96044 ]; then
    echo "ok 2 - the answer is spoken ($(wc -c < "$dir/out/answer.wav") bytes of WAV)"
  else
    echo "not ok 2 - answer.wav holds less than a second"; exit 1
  fi
else
  echo "not ok 1 - answer-file.sh failed"; sed 's/^/# /' "$dir/log"; exit 1
fi
