#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# A broadcast overlay: answers the question in IN.wav and writes OUT.webm, a
# video that shows the reasoning (top) and the spoken response (bottom, as the
# talker reads it) as captions over the answer's speech. The video runs for
# 20 s (num-buffers at 25 frames a second; the answer is cut there).
#   pipelines/overlay.sh IN.wav OUT.webm
set -eu
[ $# -eq 2 ] || { echo "usage: $0 IN.wav OUT.webm" >&2; exit 2; }
here=$(cd "$(dirname "$0")/.." && pwd)
models=${MOR_MODEL_DIR:-$here/models/nano}
export GST_PLUGIN_PATH="$here/build/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"

gst-launch-1.0 -q -e filesrc location="$1" ! wavparse ! audioconvert ! audioresample ! \
  morencoder model="$models/encoder.gguf" vad=false ! \
  morthinker name=t model="$models/thinker.gguf" text-mode=cumulative \
  videotestsrc pattern=black num-buffers=500 ! video/x-raw,width=640,height=360,framerate=25/1 ! \
  textoverlay name=reasoning valignment=top wrap-mode=word font-desc="Sans 12" ! \
  textoverlay name=caption valignment=bottom wrap-mode=word font-desc="Sans 18" ! \
  videoconvert ! vp8enc deadline=1 ! queue ! mux. \
  t.reasoning ! queue ! reasoning.text_sink \
  t.response ! queue ! mortalker name=s model="$models/talker.gguf" ! audioconvert ! audioresample ! \
  vorbisenc ! queue ! mux. \
  s.text ! queue ! caption.text_sink \
  webmmux name=mux ! filesink location="$2"
