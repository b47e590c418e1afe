#version 450
#extension GL_GOOGLE_include_directive : require
// Softmax over rows, numerically stable, in fp32:
//   y[r, i] = exp(scale·x[r, i] − m) / Σ_j exp(scale·x[r, j] − m),  m = max_j scale·x[r, j]
//   PyTorch: torch.softmax(scale * x, dim=-1).
// −inf entries (masked) contribute 0. A row whose entries are all −inf gives
// zeros (PyTorch gives NaN there); no input row ever gives NaN unless it holds
// NaN or +inf.
// Bindings: 0 x [n_rows, n_cols] f32, 1 y [n_rows, n_cols] f32 (y may alias x).
// Grid: one workgroup per row (flat over x, y); BLOCK_SIZE invocations stride
// the row. Pass 1 keeps a running (max, sum) per invocation (online softmax),
// merged over the workgroup; pass 2 writes.

layout(constant_id = 0) const uint BLOCK_SIZE = 256;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint n_cols;
    uint n_rows;
    float scale;
} p;

#include "reduce.glsl"

// The most negative finite float: the running max starts here so that no
// difference of two starting values (−inf − −inf = NaN) is ever taken.
const float LOWEST = -3.402823466e38;

void main()
{
    uint row = flat_group_id();
    if (row >= p.n_rows)
        return;
    uint base = row * p.n_cols;

    float m = LOWEST, s = 0.0;
    for (uint i = gl_LocalInvocationIndex; i < p.n_cols; i += BLOCK_SIZE) {
        float v = p.scale * x[base + i];
        if (v > m) {
            s = s * exp(m - v) + 1.0;
            m = v;
        } else if (v > LOWEST) {
            s += exp(v - m);
        }
    }
    float row_max = workgroup_max(m);
    // An invocation that saw only −inf has s = 0, and exp() of a finite
    // argument keeps it 0.
    float row_sum = workgroup_sum(s * exp(m - row_max));
    // row_sum >= 1 whenever one entry is finite; 0 for a fully masked row.
    float inv = row_sum > 0.0 ? 1.0 / row_sum : 0.0;
    for (uint i = gl_LocalInvocationIndex; i < p.n_cols; i += BLOCK_SIZE) {
        float v = p.scale * x[base + i];
        y[base + i] = v > LOWEST ? exp(v - row_max) * inv : 0.0;
    }
}
