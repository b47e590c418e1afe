#version 450
#extension GL_GOOGLE_include_directive : require
// LayerNorm over rows (nn.LayerNorm / F.layer_norm) in fp32:
//   y = (x − mean) / sqrt(var + eps) · w + b,  var the biased variance (÷ n_cols);
// w and b are each optional (elementwise_affine=False: neither; the DiT's
// AdaLayerNormZero is LN(x)·(1 + scale) + shift, i.e. w = 1 + scale, b = shift).
// Two passes over the row, both on values shifted by the row's first element
// x0: m = mean(x − x0), var = mean(((x − x0) − m)²). The shift keeps the sums
// small when the mean is large against the spread (x − mean is never formed
// from an fp32-rounded mean of large magnitude), and the second pass avoids
// the cancellation of E[x²] − mean².
// Bindings: 0 x [n_rows, n_cols], 1 w [n_cols], 2 b [n_cols], 3 y [n_rows, n_cols]
//           (y may alias x; an unused w or b binding is bound to x and not read).
// Grid: one workgroup per row (flat over x, y); BLOCK_SIZE invocations stride the row.

layout(constant_id = 0) const uint BLOCK_SIZE = 256;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) readonly buffer B { float b[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint n_cols;
    uint n_rows;
    float eps;
    uint affine;    // bit 0: multiply by w, bit 1: add b
} p;

#include "reduce.glsl"

void main()
{
    uint row = flat_group_id();
    if (row >= p.n_rows)
        return;
    uint base = row * p.n_cols;
    float x0 = x[base];
    float s = 0.0;
    for (uint i = gl_LocalInvocationIndex; i < p.n_cols; i += BLOCK_SIZE)
        s += x[base + i] - x0;
    float m = workgroup_sum(s) / float(p.n_cols);
    float ss = 0.0;
    for (uint i = gl_LocalInvocationIndex; i < p.n_cols; i += BLOCK_SIZE) {
        float d = (x[base + i] - x0) - m;
        ss += d * d;
    }
    float rstd = inversesqrt(workgroup_sum(ss) / float(p.n_cols) + p.eps);
    bool use_w = (p.affine & 1u) != 0u, use_b = (p.affine & 2u) != 0u;
    for (uint i = gl_LocalInvocationIndex; i < p.n_cols; i += BLOCK_SIZE) {
        float v = ((x[base + i] - x0) - m) * rstd;
        if (use_w)
            v *= w[i];
        if (use_b)
            v += b[i];
        y[base + i] = v;
    }
}
