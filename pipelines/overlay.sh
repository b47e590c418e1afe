#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# A broadcast overlay: answers the question in IN.wav and writes OUT.mkv, a
# video that shows the reasoning (top) and the spoken response (bottom, timed
# with the speech) as captions over the answer's audio.
#   pipelines/overlay.sh IN.wav OUT.mkv
set -eu
[ $# -eq 2 ] || { echo "usage: $0 IN.wav OUT.mkv" >&2; exit 2; }
here=$(cd "$(dirname "$0")/.." && pwd)
models=${MOR_MODEL_DIR:-$here/build/models/default}
export GST_PLUGIN_PATH="$here/build/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"

gst-launch-1.0 -e filesrc location="$1" ! wavparse ! audioconvert ! audioresample ! \
  morencoder model="$models/encoder.gguf" vad=false ! \
  morthinker name=t model="$models/thinker.gguf" text-mode=cumulative \
  videotestsrc pattern=black is-live=false ! video/x-raw,width=640,height=360,framerate=25/1 ! \
  textoverlay name=reasoning valignment=top wrap-mode=word font-desc="Sans 14" ! \
  textoverlay name=caption valignment=bottom wrap-mode=word font-desc="Sans 20" ! \
  videoconvert ! x264enc tune=zerolatency ! queue ! mux. \
  t.reasoning ! queue ! reasoning.text_sink \
  t.response ! mortalker name=s model="$models/talker.gguf" ! audioconvert ! vorbisenc ! queue ! mux. \
  s.text ! queue ! caption.text_sink \
  matroskamux name=mux ! filesink location="$2"
