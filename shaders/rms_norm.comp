#version 450
#extension GL_GOOGLE_include_directive : require
// RMSNorm (Qwen2RMSNorm): y = x / sqrt(mean(x²) + eps) · w, in fp32.
//   HF: variance = hidden_states.pow(2).mean(-1, keepdim=True)
//       hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
//       return self.weight * hidden_states.to(input_dtype)
// Bindings: 0 x [n_rows, n_cols] f32, 1 w [n_cols] f32, 2 y [n_rows, n_cols] f32
//           (y may alias x).
// Grid: one workgroup per row (flat over x, y); BLOCK_SIZE invocations stride the row.

layout(constant_id = 0) const uint BLOCK_SIZE = 256;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint n_cols;
    uint n_rows;
    float eps;
} p;

#include "reduce.glsl"

void main()
{
    uint row = flat_group_id();
    if (row >= p.n_rows)
        return;
    uint base = row * p.n_cols;
    float ss = 0.0;
    for (uint i = gl_LocalInvocationIndex; i < p.n_cols; i += BLOCK_SIZE)
        ss += x[base + i] * x[base + i];
    float scale = inversesqrt(workgroup_sum(ss) / float(p.n_cols) + p.eps);
    for (uint i = gl_LocalInvocationIndex; i < p.n_cols; i += BLOCK_SIZE)
        y[base + i] = x[base + i] * scale * w[i];
}
