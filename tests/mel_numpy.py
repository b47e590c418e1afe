#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The log-mel features the Qwen2.5-Omni processor computes for one utterance
(WhisperFeatureExtractor called with padding="max_length"), taken literally
and independently of libmor: the audio zero-padded to the 300-s canvas,
reflect-padded by n_fft/2, framed, periodic Hann, |rfft|^2 in float64, the
last frame dropped, Slaney mel filters built here from their definition,
log10 with a 1e-10 floor, clamp at the max over the WHOLE canvas minus 8,
(x + 4) / 4, and the first ceil(n / 160) frames kept.

usage: mel_numpy.py SAMPLES.f32 OUT.f32 [N_MELS]
SAMPLES.f32: raw float32 samples at 16 kHz; OUT.f32: float32 [n_mels, frames].
"""
import sys

import numpy as np

SR, N_FFT, HOP, N_SAMPLES = 16000, 400, 160, 4800000


def hz_to_mel(f):
    # Slaney: linear below 1 kHz (3 mel per 200 Hz), logarithmic above (27 mel per factor 6.4)
    f = np.asarray(f, dtype=np.float64)
    return np.where(f < 1000.0, 3.0 * f / 200.0, 15.0 + np.log(np.maximum(f, 1e-12) / 1000.0) * 27.0 / np.log(6.4))


def mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    return np.where(m < 15.0, 200.0 * m / 3.0, 1000.0 * np.exp((m - 15.0) * np.log(6.4) / 27.0))


def mel_filters(n_mels):
    bins = np.linspace(0.0, SR / 2, N_FFT // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(SR / 2), n_mels + 2))
    fb = np.zeros((n_mels, bins.size))
    for m in range(n_mels):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        rise = (bins - lo) / (mid - lo)
        fall = (hi - bins) / (hi - mid)
        fb[m] = np.maximum(0.0, np.minimum(rise, fall)) * (2.0 / (hi - lo))   # area normalisation
    return fb


def main():
    x = np.fromfile(sys.argv[1], dtype=np.float32)[:N_SAMPLES]
    n_mels = int(sys.argv[3]) if len(sys.argv) > 3 else 128
    canvas = np.zeros(N_SAMPLES, dtype=np.float64)
    canvas[:x.size] = x
    padded = np.pad(canvas, N_FFT // 2, mode="reflect")
    n_frames = 1 + (padded.size - N_FFT) // HOP          # 30001
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
    fb = mel_filters(n_mels)
    logmel = np.empty((n_frames - 1, n_mels))           # the last frame is dropped
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    step = 4096
    for f0 in range(0, n_frames - 1, step):
        f1 = min(f0 + step, n_frames - 1)
        power = np.abs(np.fft.rfft(frames[f0:f1] * window, axis=1)) ** 2
        logmel[f0:f1] = np.log10(np.maximum(power @ fb.T, 1e-10))
    logmel = (np.maximum(logmel, logmel.max() - 8.0) + 4.0) / 4.0
    valid = -(-x.size // HOP)
    np.ascontiguousarray(logmel[:valid].T, dtype=np.float32).tofile(sys.argv[2])


if __name__ == "__main__":
    main()
