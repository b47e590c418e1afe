#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Embedding mor in an application (PyGObject): answer the spoken question in a
WAV file, print the response and the reasoning as they come (reading both
pads, with the token ids each reasoning buffer carries in its MorTokenMeta),
collect the speech, and print the per-answer statistics the elements post.

    pipelines/embed.py IN.wav [OUT.wav]

Needs python3-gi, gir1.2-gstreamer-1.0 and gir1.2-gst-plugins-base-1.0. The
models: $MOR_MODEL_DIR/{thinker,encoder,talker}.gguf (default:
models/nano, the bundled mor-nano); $MOR_THINKER_PROPS and
$MOR_TALKER_PROPS add element properties (as in answer-file.sh)."""
import os
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
from gi.repository import GLib, Gst, GstApp  # noqa: E402

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(f"usage: {sys.argv[0]} IN.wav [OUT.wav]")
    models = os.environ.get("MOR_MODEL_DIR", os.path.join(HERE, "models", "nano"))
    os.environ["GST_PLUGIN_PATH"] = os.pathsep.join(
        p for p in (os.path.join(HERE, "build", "gst"), os.environ.get("GST_PLUGIN_PATH")) if p)
    Gst.init(None)

    def model(name):
        return os.path.join(models, name)

    pipeline = Gst.parse_launch(
        f'filesrc location="{sys.argv[1]}" ! wavparse ! audioconvert ! audioresample ! '
        f'morencoder model="{model("encoder.gguf")}" vad=false ! '
        f'morthinker name=t model="{model("thinker.gguf")}" {os.environ.get("MOR_THINKER_PROPS", "")} '
        f't.response ! queue ! mortalker name=s model="{model("talker.gguf")}" '
        f'{os.environ.get("MOR_TALKER_PROPS", "")} ! '
        'appsink name=speech sync=false emit-signals=true '
        's.text ! queue ! appsink name=response sync=false emit-signals=true '
        't.reasoning ! queue ! appsink name=reasoning sync=false emit-signals=true')

    speech = bytearray()

    def on_speech(sink):
        buf = sink.emit("pull-sample").get_buffer()
        speech.extend(buf.extract_dup(0, buf.get_size()))
        return Gst.FlowReturn.OK

    def on_text(sink, label):
        buf = sink.emit("pull-sample").get_buffer()
        text = buf.extract_dup(0, buf.get_size()).decode("utf-8", "replace")
        meta = buf.get_custom_meta("MorTokenMeta")
        ids = meta.get_structure().get_value("token-ids") if meta else None
        print(f"[{label}] {text!r}" + (f" ids={list(ids)}" if ids is not None else ""), flush=True)
        return Gst.FlowReturn.OK

    pipeline.get_by_name("speech").connect("new-sample", on_speech)
    pipeline.get_by_name("response").connect("new-sample", on_text, "response")
    pipeline.get_by_name("reasoning").connect("new-sample", on_text, "reasoning")

    loop = GLib.MainLoop()
    status = 0

    def on_message(bus, msg):
        nonlocal status
        if msg.type == Gst.MessageType.ELEMENT and msg.get_structure().get_name().startswith("mor"):
            print(f"[stats] {msg.get_structure().to_string()}", flush=True)
        elif msg.type == Gst.MessageType.ERROR:
            err, debug = msg.parse_error()
            print(f"error: {err.message} ({debug})", file=sys.stderr)
            status = 1
            loop.quit()
        elif msg.type == Gst.MessageType.EOS:
            loop.quit()

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)
    pipeline.set_state(Gst.State.PLAYING)
    loop.run()
    pipeline.set_state(Gst.State.NULL)
    print(f"speech: {len(speech) // 4} samples at 24 kHz ({len(speech) / 4 / 24000:.2f} s)")
    if len(sys.argv) == 3 and not status:
        write_wav(sys.argv[2], speech)
    sys.exit(status)


def write_wav(path, f32le):
    """A mono 32-bit float WAV at 24 kHz."""
    import struct
    n = len(f32le)
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 4 + 26 + 12 + 8 + n) + b"WAVE")
        f.write(b"fmt " + struct.pack("<IHHIIHH", 16, 3, 1, 24000, 24000 * 4, 4, 32))
        f.write(b"fact" + struct.pack("<II", 4, n // 4))
        f.write(b"data" + struct.pack("<I", n) + f32le)


if __name__ == "__main__":
    main()
