#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Answers the spoken question in a WAV file (any rate, any channels):
#   pipelines/answer-file.sh IN.wav [OUTDIR]
# writes OUTDIR/answer.wav (the spoken answer, 24 kHz), OUTDIR/response.txt
# (what it says) and OUTDIR/reasoning.txt (what it thought), and prints the
# response. The models: $MOR_MODEL_DIR/{thinker,encoder,talker}.gguf (default:
# models/nano, the bundled mor-nano). $MOR_THINKER_PROPS and
# $MOR_TALKER_PROPS add element properties, e.g. MOR_TALKER_PROPS="speaker=Ethan
# dit-steps=5" (mor-nano has one voice, nano).
set -eu
[ $# -ge 1 ] || { echo "usage: $0 IN.wav [OUTDIR]" >&2; exit 2; }
in=$1
out=${2:-.}
here=$(cd "$(dirname "$0")/.." && pwd)
models=${MOR_MODEL_DIR:-$here/models/nano}
export GST_PLUGIN_PATH="$here/build/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
mkdir -p "$out"

gst-launch-1.0 -q -e filesrc location="$in" ! wavparse ! audioconvert ! audioresample ! \
  morencoder model="$models/encoder.gguf" vad=false ! \
  morthinker name=t model="$models/thinker.gguf" ${MOR_THINKER_PROPS:-} \
  t.response ! queue ! mortalker name=s model="$models/talker.gguf" ${MOR_TALKER_PROPS:-} ! wavenc ! filesink location="$out/answer.wav" \
  s.text ! queue ! filesink location="$out/response.txt" \
  t.reasoning ! queue ! filesink location="$out/reasoning.txt"

echo "response:  $(cat "$out/response.txt")"
echo "reasoning: $(cat "$out/reasoning.txt")"
echo "speech:    $out/answer.wav"
