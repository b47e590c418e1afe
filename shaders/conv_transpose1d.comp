#version 450
#extension GL_GOOGLE_include_directive : require
// Transposed 1-D convolution, PyTorch nn.ConvTranspose1d / F.conv_transpose1d
// (dilation 1): every input sample i scatters w[c, o, k]·x[c, i] to output i·stride + k - padding:
//   y[b, o, t] = bias[o] + Σ_{c<c_in_g} Σ_{k, i: i·stride + k = t + padding} w[g·c_in_g + c, o % c_out_g, k] · x[b, g·c_in_g + c, i]
// with g = o / c_out_g; t_out = (t_in - 1)·stride - 2·padding + K + output_padding.
// Gathered per output phase ρ = (t + padding) mod stride: with Q = (t + padding) / stride
// the taps are k = ρ + j·stride, i = Q - j (j < taps = ceil(K / stride)), so the
// outputs of one phase are an ordinary convolution (implicit GEMM, r = c·taps + j,
// the weights of k ≥ K read as zero).
// Weights of the type DATA_A_* (types.glsl).
// Bindings: 0 x [n_batch, groups·c_in_g, t_in] f32, 1 w [groups·c_in_g, c_out_g, K],
//           2 bias [groups·c_out_g] f32 (read only if has_bias), 3 y [n_batch, groups·c_out_g, t_out] f32.
// Grid: gl_WorkGroupID.z = (b·groups + g)·stride + ρ; one BM × BN tile of (o, Q)
//   per workgroup, tiles flat over x, y (tile = q_tile + tiles_n · o_tile).

#define A_BINDING 1
#include "types.glsl"

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint c_in_g;        // input channels per group
    uint c_out_g;       // output channels per group
    uint groups;
    uint t_in;
    uint t_out;
    uint kernel_size;
    uint stride;
    uint padding;
    uint taps;          // ceil(kernel_size / stride)
    uint has_bias;
    uint tiles_n;       // tiles along Q
    uint n_tiles;       // tiles per (batch, group, phase)
} p;

uint group_g;       // this workgroup's group
uint phase;         // ρ
uint q0;            // first Q whose output t = Q·stride + ρ - padding is ≥ 0
uint x_base;        // first input row of the group

float gemm_a(uint m, uint r)
{
    uint c = r / p.taps, k = phase + (r % p.taps) * p.stride;
    if (k >= p.kernel_size)
        return 0.0;
    return dequant1(((group_g * p.c_in_g + c) * p.c_out_g + m) * p.kernel_size + k);
}

float gemm_b(uint r, uint n)
{
    uint c = r / p.taps, j = r % p.taps;
    int i = int(q0 + n) - int(j);
    if (i < 0 || i >= int(p.t_in))
        return 0.0;
    return x[x_base + c * p.t_in + uint(i)];
}

#include "conv_gemm.glsl"

void main()
{
    uint tile = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (tile >= p.n_tiles)
        return;
    uint bg = gl_WorkGroupID.z / p.stride;      // b · groups + g
    phase = gl_WorkGroupID.z % p.stride;
    group_g = bg % p.groups;
    x_base = bg * p.c_in_g * p.t_in;
    q0 = phase >= p.padding ? 0 : (p.padding - phase + p.stride - 1) / p.stride;
    // Outputs of this phase: t = (q0 + n)·stride + ρ - padding < t_out.
    uint t_first = q0 * p.stride + phase - p.padding;
    uint n_phase = t_first < p.t_out ? (p.t_out - t_first + p.stride - 1) / p.stride : 0;
    uint n0 = (tile % p.tiles_n) * BN;
    uint m0 = (tile / p.tiles_n) * BM;
    if (n0 >= n_phase)
        return;
    gemm_tile(p.c_out_g, n_phase, p.c_in_g * p.taps, m0, n0);
    uint y_base = bg * p.c_out_g * p.t_out;
    for (uint i = 0; i < TM; i++) {
        uint m = m0 + gemm_row(i);
        if (m >= p.c_out_g)
            continue;
        float b = 0.0;
        if (p.has_bias != 0)
            b = bias[group_g * p.c_out_g + m];
        for (uint j = 0; j < TN; j++) {
            uint n = n0 + gemm_col(j);
            if (n < n_phase)
                y[y_base + m * p.t_out + t_first + n * p.stride] = gemm_acc[i * TN + j] + b;
        }
    }
}
