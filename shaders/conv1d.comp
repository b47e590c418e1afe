#version 450
#extension GL_GOOGLE_include_directive : require
// 1-D convolution, PyTorch nn.Conv1d / F.conv1d (cross-correlation, no flip):
//   y[b, o, t] = bias[o] + Σ_{c<c_in_g} Σ_{k<K} w[o, c, k] · xp[b, g·c_in_g + c, t·stride + k·dilation]
// with g = o / c_out_g, and xp = x padded by pad_left (and on the right, which
// only sets t_out) in pad_mode: 0 zeros, 1 reflect (torch "reflect": x[-i] = x[i],
// the edge sample is not repeated; pad < t_in), 2 replicate (x[-i] = x[0]).
// Weights of the type DATA_A_* (types.glsl): f32, f16 or bf16.
// Bindings: 0 x [n_batch, groups·c_in_g, t_in] f32, 1 w [groups·c_out_g, c_in_g, K],
//           2 bias [groups·c_out_g] f32 (read only if has_bias), 3 y [n_batch, groups·c_out_g, t_out] f32.
// Grid, tiled (default): an implicit GEMM per (batch, group) = gl_WorkGroupID.z:
//   C[o, t] = Σ_r W[o, r]·X[r, t] with r = c·K + k; one BM × BN tile of (o, t)
//   per workgroup, tiles flat over x, y (tile = t_tile + tiles_n · o_tile).
// Grid, DIRECT (few output channels per group, e.g. depthwise): one invocation
//   per output element, flat over x, y.

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
    uint dilation;
    uint pad_left;
    uint pad_mode;      // 0 zeros, 1 reflect, 2 replicate
    uint has_bias;
    uint tiles_n;       // tiled: tiles along t; direct: unused
    uint n_tiles;       // tiled: tiles per (batch, group); direct: output elements
} p;

// Input sample `pos` (may be in the padding) of the row starting at `row`.
float sample_x(uint row, int pos)
{
    int n = int(p.t_in);
    if (pos < 0 || pos >= n) {
        if (p.pad_mode == 0)
            return 0.0;
        if (p.pad_mode == 1)
            pos = pos < 0 ? -pos : 2 * (n - 1) - pos;
        else
            pos = clamp(pos, 0, n - 1);
    }
    return x[row + uint(pos)];
}

#ifdef DIRECT

layout(constant_id = 0) const uint BLOCK_SIZE = 256;
layout(local_size_x_id = 0) in;

void main()
{
    uint idx = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * BLOCK_SIZE
               + gl_LocalInvocationIndex;
    if (idx >= p.n_tiles)
        return;
    uint c_out = p.groups * p.c_out_g;
    uint t = idx % p.t_out;
    uint o = (idx / p.t_out) % c_out;
    uint b = idx / (p.t_out * c_out);
    uint g = o / p.c_out_g;
    uint row = (b * p.groups + g) * p.c_in_g * p.t_in;
    uint w_row = o * p.c_in_g * p.kernel_size;
    int pos0 = int(t * p.stride) - int(p.pad_left);
    float acc = 0.0;
    for (uint c = 0; c < p.c_in_g; c++)
        for (uint k = 0; k < p.kernel_size; k++)
            acc += dequant1(w_row + c * p.kernel_size + k)
                   * sample_x(row + c * p.t_in, pos0 + int(k * p.dilation));
    if (p.has_bias != 0)
        acc += bias[o];
    y[idx] = acc;
}

#else

uint group_g;       // this workgroup's group
uint x_base;        // its first input row

float gemm_a(uint m, uint r)
{
    return dequant1((group_g * p.c_out_g + m) * p.c_in_g * p.kernel_size + r);
}

float gemm_b(uint r, uint n)
{
    uint c = r / p.kernel_size, k = r % p.kernel_size;
    int pos = int(n * p.stride + k * p.dilation) - int(p.pad_left);
    return sample_x(x_base + c * p.t_in, pos);
}

#include "conv_gemm.glsl"

void main()
{
    uint tile = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (tile >= p.n_tiles)
        return;
    uint bg = gl_WorkGroupID.z;         // b · groups + g
    group_g = bg % p.groups;
    x_base = bg * p.c_in_g * p.t_in;
    uint n0 = (tile % p.tiles_n) * BN;
    uint m0 = (tile / p.tiles_n) * BM;
    gemm_tile(p.c_out_g, p.t_out, p.c_in_g * p.kernel_size, m0, n0);
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
            if (n < p.t_out)
                y[y_base + m * p.t_out + n] = gemm_acc[i * TN + j] + b;
        }
    }
}

#endif
