#version 450
#extension GL_GOOGLE_include_directive : require
// Weighted mean and standard deviation of each row in fp32, transformers'
// AttentiveStatisticsPooling._compute_statistics (ECAPA-TDNN's pooling):
//   mean[r] = Σ_t w[r,t]·x[r,t]
//   std[r]  = sqrt(max(Σ_t w[r,t]·(x[r,t] − mean[r])², eps))
// With `uniform` set every weight is 1/n_cols (HF's mask / total over a full
// length) and the w binding is not read. Two passes over the row: the second
// uses the first's mean, as HF does.
// Bindings: 0 x [n_rows, n_cols], 1 w [n_rows, n_cols] (x when uniform),
//           2 y [2·n_rows]: the means, then the standard deviations.
// Grid: one workgroup per row (flat over x, y); BLOCK_SIZE invocations stride the row.

layout(constant_id = 0) const uint BLOCK_SIZE = 256;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint n_rows;
    uint n_cols;
    float eps;
    uint uniform_weights;
} p;

#include "reduce.glsl"

void main()
{
    uint row = flat_group_id();
    if (row >= p.n_rows)
        return;
    uint base = row * p.n_cols;
    float u = 1.0 / float(p.n_cols);
    float s = 0.0;
    for (uint i = gl_LocalInvocationIndex; i < p.n_cols; i += BLOCK_SIZE)
        s += (p.uniform_weights != 0u ? u : w[base + i]) * x[base + i];
    float mean = workgroup_sum(s);
    float ss = 0.0;
    for (uint i = gl_LocalInvocationIndex; i < p.n_cols; i += BLOCK_SIZE) {
        float d = x[base + i] - mean;
        ss += (p.uniform_weights != 0u ? u : w[base + i]) * (d * d);
    }
    float var = workgroup_sum(ss);
    if (gl_LocalInvocationIndex == 0) {
        y[row] = mean;
        y[p.n_rows + row] = sqrt(max(var, p.eps));
    }
}
