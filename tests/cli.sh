#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Tests of the `mor` command (model/cli/): each subcommand on a tiny random
# model, and the errors a user sees. Usage: cli.sh PATH-TO-MOR
set -u
mor=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
failures=0
pass=0

check () {  # check NAME COMMAND... : the command must succeed
  local name=$1; shift
  if "$@" >"$dir/out" 2>"$dir/err"; then pass=$((pass + 1)); echo "ok - $name"
  else failures=$((failures + 1)); echo "not ok - $name"; sed 's/^/# /' "$dir/err" "$dir/out"; fi
}
refuse () {  # refuse NAME STATUS PATTERN COMMAND... : must exit STATUS and print PATTERN on stderr
  local name=$1 status=$2 pattern=$3; shift 3
  "$@" >"$dir/out" 2>"$dir/err"; local rc=$?
  if [ "$rc" -eq "$status" ] && grep -q -- "$pattern" "$dir/err"; then pass=$((pass + 1)); echo "ok - $name"
  else failures=$((failures + 1)); echo "not ok - $name (exit $rc)"; sed 's/^/# /' "$dir/err"; fi
}

check "mkmodel tiny q8_0" "$mor" mkmodel --kind thinker --preset tiny --type q8_0 --seed 3 -o "$dir/tiny.gguf"
check "info lists keys and tensors" "$mor" info "$dir/tiny.gguf"
"$mor" info "$dir/tiny.gguf" > "$dir/info"
check "info shows the architecture" grep -q 'general.architecture .*qwen2vl' "$dir/info"
check "info shows the q8_0 weights" grep -q 'blk.1.ffn_down.weight *q8_0 *\[512, 256\]' "$dir/info"
check "generate streams text" "$mor" generate --model "$dir/tiny.gguf" --prompt "what is the answer" -n 12 --greedy --dump "$dir/dump"
check "generate --dump writes ids" test -s "$dir/dump/ids.npy"
check "generate --dump writes hidden states" test -s "$dir/dump/hidden.npy"
check "generate --chat samples with a seed" "$mor" generate --model "$dir/tiny.gguf" --chat --prompt "hello" -n 8 --seed 5 --temperature 0.9 --top-k 20
"$mor" generate --model "$dir/tiny.gguf" --chat --prompt "hello" -n 8 --seed 5 --temperature 0.9 > "$dir/a" 2>&1
"$mor" generate --model "$dir/tiny.gguf" --chat --prompt "hello" -n 8 --seed 5 --temperature 0.9 > "$dir/b" 2>&1
check "the same seed gives the same text" cmp "$dir/a" "$dir/b"
check "logits of token ids" "$mor" logits --model "$dir/tiny.gguf" --tokens 1,2,3,300 -o "$dir/l.npy"
# 4 rows of the 308-token vocabulary, float32, after numpy's 128-byte header.
check "logits are [4, vocab] float32" test "$(stat -c %s "$dir/l.npy")" -eq $((128 + 4 * 308 * 4))
check "logits of a prompt" "$mor" logits --model "$dir/tiny.gguf" --prompt "<|im_start|>user" -o "$dir/p.npy"

# Audio: 3 s of a 16 kHz tone → 300 mel frames, 75 encoder rows.
if gst-launch-1.0 -q audiotestsrc num-buffers=30 samplesperbuffer=1600 ! \
     audio/x-raw,rate=16000,channels=1,format=S16LE ! wavenc ! filesink location="$dir/a.wav" 2>/dev/null; then
  check "mel of a WAV file" "$mor" mel "$dir/a.wav" -o "$dir/mel.npy"
  check "mel is [128, 300] float32" test "$(stat -c %s "$dir/mel.npy")" -eq $((128 + 128 * 300 * 4))
  check "mkmodel encoder" "$mor" mkmodel --kind encoder --preset tiny --type f32 -o "$dir/enc.gguf"
  check "encode a WAV file" "$mor" encode --model "$dir/enc.gguf" "$dir/a.wav" -o "$dir/emb.npy"
  check "encoder rows are [75, 256] float32" test "$(stat -c %s "$dir/emb.npy")" -eq $((128 + 75 * 256 * 4))
  check "bench encoder on 1 s" "$mor" bench encoder --model "$dir/enc.gguf" --seconds 1
  # The whole chain without GStreamer, on tiny random models.
  "$mor" mkmodel --kind thinker --preset tiny --ratio 2:8 --context 300 -o "$dir/il.gguf" 2>/dev/null
  "$mor" mkmodel --kind talker --preset tiny -o "$dir/tk.gguf" 2>/dev/null
  fast="--max-tokens 30 --max-codes 40 --steps 2 --solver euler --cfg 0"
  check "answer a WAV file" "$mor" answer --model "$dir/il.gguf" --encoder "$dir/enc.gguf" --talker "$dir/tk.gguf" \
    "$dir/a.wav" -o "$dir/ans.wav" --reasoning "$dir/r.txt" --response "$dir/s.txt" --dump "$dir/dump" $fast
  check "answer writes a 24 kHz float WAV" sh -c "head -c 28 '$dir/ans.wav' | od -An -tu4 -j24 | grep -q 24000"
  check "answer dumps every stage" test -s "$dir/dump/codes.npy" -a -s "$dir/dump/dit_mel.npy" -a -s "$dir/dump/mel.npy" -a -s "$dir/dump/thinker_emitted.npy" \
    -a -s "$dir/dump/thinker_hidden.npy" -a -s "$dir/dump/audio_rows.npy"
  check "answer text only" "$mor" answer --model "$dir/il.gguf" --encoder "$dir/enc.gguf" --talker "" "$dir/a.wav" $fast
  check "bench e2e" "$mor" bench e2e --model "$dir/il.gguf" --encoder "$dir/enc.gguf" --talker "$dir/tk.gguf" \
    --seconds 1 $fast
  refuse "answer refuses a thinker as talker" 1 "talker" "$mor" answer --model "$dir/il.gguf" --encoder "$dir/enc.gguf" \
    --talker "$dir/il.gguf" "$dir/a.wav" -o "$dir/x.wav"
  gst-launch-1.0 -q audiotestsrc num-buffers=3 ! audio/x-raw,rate=44100,channels=1,format=S16LE ! wavenc ! \
    filesink location="$dir/cd.wav" 2>/dev/null
  refuse "mel refuses another sample rate" 1 "16000 Hz" "$mor" mel "$dir/cd.wav" -o "$dir/x.npy"
  refuse "encode refuses a thinker file" 1 "projector" "$mor" encode --model "$dir/tiny.gguf" "$dir/a.wav" -o "$dir/x.npy"
else
  echo "# SKIP: no audiotestsrc/wavenc to make a WAV file"
fi

check "mkmodel talker" "$mor" mkmodel --kind talker --preset tiny --type q8_0 -o "$dir/talker.gguf"
check "info lists the talker's speakers" sh -c "'$mor' info '$dir/talker.gguf' | grep -q 'mor.speakers.names.*Chelsie'"
# The tiny thinker's rows (width 256) as the talker's prompt and reply rows.
check "talker codes from thinker rows" "$mor" talker --model "$dir/talker.gguf" --prompt-rows "$dir/dump/hidden.npy" \
  --reply-rows "$dir/dump/embeddings.npy" --greedy --max-codes 20 -o "$dir/codes.npy" --logits "$dir/cl.npy"
check "talker codes are int32" sh -c "head -c 128 '$dir/codes.npy' | grep -q \"'<i4'\""
refuse "talker names an unknown speaker" 1 "no speaker" "$mor" talker --model "$dir/talker.gguf" \
  --prompt-rows "$dir/dump/hidden.npy" --reply-rows "$dir/dump/hidden.npy" --speaker Nobody -o "$dir/x.npy"
# A mel spectrogram of zeros as .npy (numpy's 128-byte header, then the floats) for the vocoder.
npy_f32 () {  # npy_f32 ROWS COLS
  printf '\x93NUMPY\x01\x00\x76\x00%-117s\n' "{'descr': '<f4', 'fortran_order': False, 'shape': ($1, $2), }"
  head -c $(($1 * $2 * 4)) /dev/zero
}
npy_f32 80 10 > "$dir/zmel.npy"
npy_f32 79 10 > "$dir/zmel79.npy"
check "vocode a mel spectrogram" "$mor" vocode --model "$dir/talker.gguf" --mel "$dir/zmel.npy" -o "$dir/speech.wav"
# 10 frames · 240 samples, float32, after the 56-byte RIFF/fmt/fact/data header.
check "vocode writes 2400 float samples" test "$(stat -c %s "$dir/speech.wav")" -eq $((56 + 2400 * 4))
check "vocode streams in chunks" "$mor" vocode --model "$dir/talker.gguf" --mel "$dir/zmel.npy" --chunk 4 \
  --overlap 2 -o "$dir/speech.npy"
check "vocode writes .npy" test "$(stat -c %s "$dir/speech.npy")" -eq $((128 + 2400 * 4))
refuse "vocode refuses a mel of 79 bands" 1 "shape (80, ?)" "$mor" vocode --model "$dir/talker.gguf" \
  --mel "$dir/zmel79.npy" -o "$dir/x.wav"
# Codes as int32 .npy for the DiT: 12 zeros (24 mel frames); a 0 and a 255, past the tiny table's 72 rows.
npy_i32 () {  # npy_i32 N
  printf '\x93NUMPY\x01\x00\x76\x00%-117s\n' "{'descr': '<i4', 'fortran_order': False, 'shape': ($1,), }"
}
{ npy_i32 12; head -c 48 /dev/zero; } > "$dir/zcodes.npy"
{ npy_i32 2; printf '\x00\x00\x00\x00\xff\x00\x00\x00'; } > "$dir/badcodes.npy"
check "token2wav makes a mel from codes" "$mor" token2wav --model "$dir/talker.gguf" --codes "$dir/zcodes.npy" \
  --steps 3 --seed 1 -o "$dir/tmel.npy"
check "token2wav writes [80, 24] float32" test "$(stat -c %s "$dir/tmel.npy")" -eq $((128 + 80 * 24 * 4))
check "token2wav with Euler, no guidance" "$mor" token2wav --model "$dir/talker.gguf" --codes "$dir/zcodes.npy" \
  --steps 4 --solver euler --cfg 0 --speaker Ethan -o "$dir/tmel2.npy"
check "vocode the DiT's mel" "$mor" vocode --model "$dir/talker.gguf" --mel "$dir/tmel.npy" -o "$dir/t.wav"
refuse "token2wav refuses a code past the codec table" 1 "no row" "$mor" token2wav --model "$dir/talker.gguf" \
  --codes "$dir/badcodes.npy" -o "$dir/x.npy"
refuse "token2wav names an unknown speaker" 1 "no speaker" "$mor" token2wav --model "$dir/talker.gguf" \
  --codes "$dir/zcodes.npy" --speaker Nobody -o "$dir/x.npy"
check "ecapa of a speaker" "$mor" ecapa --model "$dir/talker.gguf" --speaker Ethan -o "$dir/spk.npy"
check "ecapa writes [32] float32" test "$(stat -c %s "$dir/spk.npy")" -eq $((128 + 32 * 4))
check "bench dit on a short window" "$mor" bench dit --model "$dir/talker.gguf" --frames 48 --chunk 24 --runs 1
refuse "mkmodel names unknown kinds" 2 "unknown --kind" "$mor" mkmodel --kind vocoder -o "$dir/x.gguf"

echo "not a model" > "$dir/bad.gguf"
refuse "info refuses a non-GGUF file" 1 "not a GGUF file" "$mor" info "$dir/bad.gguf"
refuse "info names a missing file" 1 "missing.gguf" "$mor" info "$dir/missing.gguf"
refuse "generate needs --model" 1 "model" "$mor" generate --prompt hi
refuse "logits refuses an id outside the vocabulary" 1 "outside the vocabulary" "$mor" logits --model "$dir/tiny.gguf" --tokens 5000 -o "$dir/x.npy"
refuse "mkmodel names unknown presets" 2 "unknown --preset" "$mor" mkmodel --preset huge -o "$dir/x.gguf"
refuse "mkmodel refuses K-quants of odd rows" 1 "multiple" "$mor" mkmodel --preset qwen2.5-0.5b --type q4_K -o "$dir/x.gguf"
refuse "unknown commands" 2 "unknown command" "$mor" frobnicate

echo "$pass passed, $failures failed"
[ "$failures" -eq 0 ]
