#version 450
#extension GL_GOOGLE_include_directive : require
// Mel filterbank product (WhisperFeatureExtractor: mel_spec = mel_filters.T @ magnitudes):
//   y[m, t] = Σ_{k<n_bins} filters[m, k] · power[t, k]
// power in stft_power's layout [n_frames, n_bins]; y [n_mel, n_frames] is the
// [C, T] signal the audio encoder's first conv1d reads. The log10 / clamp /
// normalisation is log_mel_norm's (its max is global).
// Bindings: 0 power [n_frames, n_bins] f32, 1 filters [n_mel, n_bins] f32, 2 y [n_mel, n_frames] f32.
// Grid: GEMM tiles (conv_gemm.glsl) of BM mels × BN frames, flat over x, y
//   (tile = t_tile + tiles_n · m_tile).

layout(std430, binding = 0) readonly buffer P { float power[]; };
layout(std430, binding = 1) readonly buffer Fb { float filters[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint n_frames;
    uint n_bins;
    uint n_mel;
    uint tiles_n;
    uint n_tiles;
} p;

float gemm_a(uint m, uint r)
{
    return filters[m * p.n_bins + r];
}

float gemm_b(uint r, uint n)
{
    return power[n * p.n_bins + r];
}

#include "conv_gemm.glsl"

void main()
{
    uint tile = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (tile >= p.n_tiles)
        return;
    uint n0 = (tile % p.tiles_n) * BN;
    uint m0 = (tile / p.tiles_n) * BM;
    gemm_tile(p.n_mel, p.n_frames, p.n_bins, m0, n0);
    for (uint i = 0; i < TM; i++) {
        uint m = m0 + gemm_row(i);
        for (uint j = 0; j < TN; j++) {
            uint n = n0 + gemm_col(j);
            if (m < p.n_mel && n < p.n_frames)
                y[m * p.n_frames + n] = gemm_acc[i * TN + j];
        }
    }
}
