#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# A spoken conversation: microphone → answer → speaker, with echo
# cancellation (webrtcdsp, fed by webrtcechoprobe in front of the speaker) so
# that the answer coming out of the speaker does not trigger barge-in on
# itself, and voice activity detection ending each question. The reasoning is
# printed as it is thought. Needs gstreamer1.0-plugins-bad (webrtcdsp).
#   pipelines/live.sh
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
models=${MOR_MODEL_DIR:-$here/models/nano}
export GST_PLUGIN_PATH="$here/build/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"

gst-launch-1.0 autoaudiosrc ! audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=1 ! \
  webrtcdsp echo-cancel=true noise-suppression=true ! audioconvert ! audioresample ! \
  morencoder model="$models/encoder.gguf" vad=true ! \
  morthinker name=t model="$models/thinker.gguf" barge-in=true \
  t.response ! mortalker model="$models/talker.gguf" ! audioconvert ! audioresample ! \
  audio/x-raw,rate=48000,channels=1 ! webrtcechoprobe ! autoaudiosink \
  t.reasoning ! queue ! fdsink
