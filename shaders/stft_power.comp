#version 450
#extension GL_GOOGLE_include_directive : require
// Power spectrogram of a 1-D signal, torch.stft(x, n_fft, hop, window=w, center=True,
// pad_mode="reflect", return_complex=True).abs() ** 2, as WhisperFeatureExtractor uses it:
//   P[f, k] = |Σ_{j<N} w[j] · xp[f·hop + j] · e^{-2πi·jk/N}|²,  k = 0..N/2
//   xp[i] = x[reflect(i - N/2)] (x[-i] = x[i], x[n-1+i] = x[n-1-i]; N/2 < n_samples)
// The DFT is split as N = n1·n2 (n = a·n2 + b, k = c + n1·d) so every sum has only
// n1 or n2 terms, which keeps the fp32 rounding error near an FFT's:
//   A[c, b] = Σ_a v[a·n2 + b] · W^{(a·n2·c) mod N}       (W = e^{-2πi/N})
//   X[k]    = Σ_b A[k mod n1, b] · W^{(b·k) mod N}
// (n·k ≡ a·n2·c + b·k mod N). A prime N runs with n1 = 1: a plain DFT.
// Whisper pads the audio with zeros to its 300 s canvas before the STFT, so
// only the start is reflected: to match it, pass the audio followed by at least
// N/2 zeros past the last frame wanted. Whisper then drops the last frame.
// Twiddles come from a table tw[m] = (cos 2πm/N, sin 2πm/N) (mor_dft_twiddles(),
// computed in fp64), so no GPU sin/cos is involved.
// Bindings: 0 x [n_samples] f32, 1 w [N] f32, 2 tw [N] vec2, 3 P [n_frames, N/2 + 1] f32.
// Grid: FRAMES frames per workgroup, flat over x, y; shared memory holds the
//   twiddles and, per frame, the windowed samples and A.

layout(constant_id = 0) const uint BLOCK_SIZE = 256;
layout(constant_id = 1) const uint FRAMES = 4;
layout(constant_id = 2) const uint N_FFT = 400;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) readonly buffer Tw { vec2 tw_in[]; };
layout(std430, binding = 3) writeonly buffer P { float power[]; };

layout(push_constant) uniform Push {
    uint n_samples;
    uint hop;
    uint n_frames;
    uint n1;
    uint n2;
} p;

shared vec2 tw[N_FFT];
shared float v[FRAMES * N_FFT];
shared vec2 a[FRAMES * N_FFT];

void main()
{
    uint tid = gl_LocalInvocationIndex;
    uint frame0 = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * FRAMES;
    if (frame0 >= p.n_frames)
        return;
    for (uint m = tid; m < N_FFT; m += BLOCK_SIZE)
        tw[m] = tw_in[m];
    int n = int(p.n_samples);
    for (uint e = tid; e < FRAMES * N_FFT; e += BLOCK_SIZE) {
        uint f = e / N_FFT, j = e % N_FFT;
        float s = 0.0;
        if (frame0 + f < p.n_frames) {
            int pos = int((frame0 + f) * p.hop + j) - int(N_FFT / 2);
            pos = pos < 0 ? -pos : pos >= n ? 2 * (n - 1) - pos : pos;
            s = x[pos] * w[j];
        }
        v[e] = s;
    }
    barrier();
    // A[c, b] for c < n1, b < n2, stored at c·n2 + b.
    for (uint e = tid; e < FRAMES * N_FFT; e += BLOCK_SIZE) {
        uint f = e / N_FFT, cb = e % N_FFT;
        uint c = cb / p.n2, b = cb % p.n2;
        uint step = (p.n2 * c) % N_FFT, m = 0;
        vec2 acc = vec2(0.0);
        for (uint i = 0; i < p.n1; i++) {
            float s = v[f * N_FFT + i * p.n2 + b];
            acc += s * vec2(tw[m].x, -tw[m].y);
            m += step;
            m = m >= N_FFT ? m - N_FFT : m;
        }
        a[e] = acc;
    }
    barrier();
    const uint n_bins = N_FFT / 2 + 1;
    for (uint e = tid; e < FRAMES * n_bins; e += BLOCK_SIZE) {
        uint f = e / n_bins, k = e % n_bins;
        if (frame0 + f >= p.n_frames)
            continue;
        uint base = f * N_FFT + (k % p.n1) * p.n2;
        uint m = 0;
        vec2 acc = vec2(0.0);
        for (uint b = 0; b < p.n2; b++) {
            vec2 z = a[base + b], t = tw[m];
            // z · W^m = z · (cos - i sin)
            acc += vec2(z.x * t.x + z.y * t.y, z.y * t.x - z.x * t.y);
            m += k;
            m = m >= N_FFT ? m - N_FFT : m;
        }
        power[(frame0 + f) * n_bins + k] = acc.x * acc.x + acc.y * acc.y;
    }
}
