# SPDX-License-Identifier: LGPL-2.1-or-later
"""Speech for mor-nano's data: espeak-ng synthesis, resampling, and the
Whisper log-mel features that morencoder computes.

synth() runs espeak-ng (22050 Hz, 16-bit) and resamples with an FFT to the
rate asked: 16 kHz for questions (the encoder's input), 24 kHz for the
answers the talker learns to speak.

log_mel() equals the Qwen2.5-Omni processor (tests/mel_numpy.py; reference
qwen2.5-omni.md section 1) without its 300-s canvas: the canvas only adds
all-zero frames whose log floor (-10) never raises the clamp's maximum, so
padding the signal with one FFT window of zeros gives the same maximum and
the same first ceil(n / 160) frames.
"""
import io
import subprocess
import wave

import numpy as np

ESPEAK_RATE = 22050
SR, N_FFT, HOP, N_MELS = 16000, 400, 160, 128


def _read_wav(data):
    with wave.open(io.BytesIO(data)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    return pcm.astype(np.float32) / 32768.0, rate


def resample(x, rate_in, rate_out):
    """Band-limited resampling of a whole clip by zero-padding or cutting its spectrum."""
    if rate_in == rate_out:
        return x.astype(np.float32)
    n_out = int(round(len(x) * rate_out / rate_in))
    spec = np.fft.rfft(x.astype(np.float64))
    want = n_out // 2 + 1
    if want <= len(spec):
        spec = spec[:want]
    else:
        spec = np.concatenate([spec, np.zeros(want - len(spec), spec.dtype)])
    return (np.fft.irfft(spec, n_out) * (n_out / len(x))).astype(np.float32)


def trim_silence(x, rate, threshold=1e-3, keep_ms=60):
    """espeak-ng pads its output with silence; keep a little of it at each end."""
    loud = np.flatnonzero(np.abs(x) > threshold)
    if len(loud) == 0:
        return x
    keep = int(rate * keep_ms / 1000)
    return x[max(loud[0] - keep, 0):loud[-1] + keep]


def synth(text, voice="en-us", speed=160, pitch=50, rate=SR):
    """float32 mono samples of @text spoken by espeak-ng, at @rate Hz."""
    out = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text],
                         check=True, capture_output=True).stdout
    x, r = _read_wav(out)
    x = trim_silence(x, r)
    return resample(x, r, rate)


def _hz_to_mel(f):
    f = np.asarray(f, np.float64)
    return np.where(f < 1000.0, 3.0 * f / 200.0, 15.0 + np.log(np.maximum(f, 1e-12) / 1000.0) * 27.0 / np.log(6.4))


def _mel_to_hz(m):
    m = np.asarray(m, np.float64)
    return np.where(m < 15.0, 200.0 * m / 3.0, 1000.0 * np.exp((m - 15.0) * np.log(6.4) / 27.0))


def _slaney_filters(n_mels=N_MELS, n_fft=N_FFT, sr=SR):
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    pts = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2), n_mels + 2))
    fb = np.zeros((n_mels, len(freqs)))
    for i in range(n_mels):
        lo, c, hi = pts[i], pts[i + 1], pts[i + 2]
        fb[i] = np.maximum(0, np.minimum((freqs - lo) / (c - lo), (hi - freqs) / (hi - c))) * 2.0 / (hi - lo)
    return fb


_FILTERS = _slaney_filters()
_WINDOW = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)   # periodic Hann


def log_mel(x):
    """[128, ceil(n / 160)] float32 Whisper log-mel of 16 kHz samples @x."""
    n = len(x)
    padded = np.concatenate([x.astype(np.float64), np.zeros(N_FFT)])
    padded = np.pad(padded, N_FFT // 2, mode="reflect")
    n_frames = 1 + (len(padded) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
    power = np.abs(np.fft.rfft(padded[idx] * _WINDOW, axis=1)) ** 2
    mel = np.log10(np.maximum(_FILTERS @ power[:-1].T, 1e-10))
    mel = np.maximum(mel, mel.max() - 8.0)
    return ((mel + 4.0) / 4.0)[:, :(n + HOP - 1) // HOP].astype(np.float32)
