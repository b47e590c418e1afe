# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writes mor-nano as a Hugging Face Qwen2.5-Omni checkpoint (config.json,
model.safetensors, spk_dict.pt, vocab.json, merges.txt, tokenizer_config.json)
and converts it with our converter (model/convert/convert_hf.py) into
thinker.gguf, encoder.gguf and talker.gguf: the layout every runtime path
reads, so nothing in libmor knows mor-nano apart.
"""
import json
import wave
import os
import subprocess
import sys

import numpy as np
import torch

import nano
import talker as talker_stage

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CHAT_TEMPLATE = ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
                 "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
SPEAKER = "nano"


def config(tok, vocab, t2w):
    a, t = nano.AUDIO, nano.TEXT
    audio = dict(model_type="qwen2_5_omni_audio_encoder", num_mel_bins=a["num_mel_bins"], d_model=a["d_model"],
                 encoder_layers=a["encoder_layers"], encoder_attention_heads=a["encoder_attention_heads"],
                 encoder_ffn_dim=a["encoder_ffn_dim"], n_window=a["n_window"],
                 max_source_positions=a["max_source_positions"], output_dim=t["hidden_size"],
                 activation_function="gelu", scale_embedding=False)
    text = dict(model_type="qwen2_5_omni_text", vocab_size=vocab, hidden_size=t["hidden_size"],
                intermediate_size=t["intermediate_size"], num_hidden_layers=t["num_hidden_layers"],
                num_attention_heads=t["num_attention_heads"], num_key_value_heads=t["num_key_value_heads"],
                max_position_embeddings=t["max_position_embeddings"], rms_norm_eps=t["rms_norm_eps"],
                rope_theta=t["rope_theta"], hidden_act="silu", tie_word_embeddings=False,
                use_sliding_window=False, sliding_window=t["max_position_embeddings"],
                max_window_layers=t["num_hidden_layers"],
                rope_scaling={"mrope_section": t["mrope_section"], "rope_type": "default", "type": "default"})
    thinker = dict(model_type="qwen2_5_omni_thinker", text_config=text, audio_config=audio,
                   audio_token_index=tok["<|AUDIO|>"], audio_start_token_id=tok["<|audio_bos|>"],
                   audio_end_token_id=tok["<|audio_eos|>"], bos_token_id=tok["<|endoftext|>"],
                   eos_token_id=tok["<|im_end|>"], pad_token_id=tok["<|endoftext|>"],
                   position_id_per_seconds=25, seconds_per_chunk=2)
    return dict(architectures=["Qwen2_5OmniModel"], model_type="qwen2_5_omni", enable_audio_output=True,
                enable_talker=True, torch_dtype="float32", thinker_config=thinker,
                talker_config=talker_stage.config(tok),
                token2wav_config=dict(model_type="qwen2_5_omni_token2wav", dit_config=t2w["dit_config"],
                                      bigvgan_config=t2w["bigvgan_config"]))


def write_safetensors(path, tensors):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        data = tensors[name].detach().float().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for b in blobs:
            f.write(b)


def export(ckpt_dir, out_dir, thinker_model, tok, vocab, talker_model, t2w, name="mor-nano"):
    """The checkpoint in @ckpt_dir, the three GGUFs in @out_dir."""
    os.makedirs(ckpt_dir, exist_ok=True)
    tensors = {"thinker." + k: v for k, v in thinker_model.state_dict().items()}
    tensors.update({"talker." + k: v for k, v in talker_model.state_dict().items()})
    tensors.update(t2w["state"])
    write_safetensors(os.path.join(ckpt_dir, "model.safetensors"), tensors)
    with open(os.path.join(ckpt_dir, "config.json"), "w") as f:
        json.dump(config(tok, vocab, t2w), f, indent=1)
    sp = t2w["speaker"]
    torch.save({SPEAKER: {"bos_token": tok["<|spk_nano|>"], "cond": sp["cond"].float().contiguous(),
                          "ref_mel": sp["ref_mel"].float().contiguous()}}, os.path.join(ckpt_dir, "spk_dict.pt"))
    tok.save(ckpt_dir, CHAT_TEMPLATE)
    subprocess.run([sys.executable, os.path.join(REPO, "model", "convert", "convert_hf.py"), ckpt_dir,
                    "--outdir", out_dir, "--outtype", "f16", "--name", name, "--interleave-ratio", "2:8",
                    "--response-end", "<|response_end|>", "--reasoning-end", "<|reasoning_end|>",
                    "--response-pad", "<|response_pad|>", "--reasoning-pad", "<|reasoning_pad|>"], check=True)


def check(models, thinker_model, tok, wav, mor_bin):
    """Max differences between libmor and this PyTorch model, raising when they are
    larger than f16 weights explain: the thinker's logits of a text prompt (which
    also checks that both tokenize alike) and the encoder's rows of @wav."""
    import tempfile
    import numpy as np
    import prepare
    import speech
    work = tempfile.mkdtemp(prefix="mor-nano-check-")
    text = "What is 3 plus 5, times 2?"
    prompt = (f"<|im_start|>system\n{prepare.QWEN_SYSTEM}<|im_end|>\n<|im_start|>user\n{text}<|im_end|>\n"
              "<|im_start|>assistant\n")
    subprocess.run([mor_bin, "logits", "-m", f"{models}/thinker.gguf", "-p", prompt, "-o", f"{work}/logits.npy"],
                   check=True, capture_output=True)
    ids = tok.prompt(prepare.QWEN_SYSTEM, text=text)
    ours = np.load(f"{work}/logits.npy")
    with torch.no_grad():
        ref = thinker_model(torch.tensor([ids]), [], None)[0][0].numpy()
    if ours.shape != ref.shape:
        raise RuntimeError(f"thinker: libmor gives {ours.shape} logits, PyTorch {ref.shape}: the tokenizers differ")
    d_logits = float(np.abs(ours - ref).max() / np.abs(ref).max())
    subprocess.run([mor_bin, "encode", "-m", f"{models}/encoder.gguf", wav, "-o", f"{work}/rows.npy"],
                   check=True, capture_output=True)
    with wave.open(wav) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768.0
    with torch.no_grad():
        rows = thinker_model.audio_tower([torch.from_numpy(speech.log_mel(x))])[0].numpy()
    d_rows = float(np.abs(np.load(f"{work}/rows.npy") - rows).max() / np.abs(rows).max())
    if d_logits > 2e-2 or d_rows > 2e-2:
        raise RuntimeError(f"libmor and PyTorch differ: logits {d_logits:.2e}, encoder rows {d_rows:.2e}")
    return dict(thinker_logits=d_logits, encoder_rows=d_rows)
