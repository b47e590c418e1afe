#version 450
#extension GL_GOOGLE_include_directive : require
// Second pass of split attention (attention.comp with n_splits > 1): merges
// the per-split online-softmax partials of one (query, head) row:
//   M = max_s m_s over splits with keys (l_s > 0),  w_s = exp(m_s − M),
//   out[d] = Σ_s w_s·o_s[d] / Σ_s w_s·l_s;  zeros when no split saw a key.
// Bindings: 0 partials: [n_rows, n_splits, head_dim] f32 then [n_rows, n_splits, 2]
//           (m, l) f32, n_rows = n_q·n_heads; 1 out [n_rows, head_dim] f32.
// Grid: one workgroup per row (flat over x, y); BLOCK_SIZE invocations stride
// head_dim, each recomputing the split weights (n_splits is small).

layout(constant_id = 0) const uint BLOCK_SIZE = 64;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Part { float part[]; };
layout(std430, binding = 1) writeonly buffer Out { float out_[]; };

layout(push_constant) uniform Push {
    uint n_rows;
    uint head_dim;
    uint n_splits;
} p;

#include "reduce.glsl"

void main()
{
    uint row = flat_group_id();
    if (row >= p.n_rows)
        return;
    uint ml = p.n_rows * p.n_splits * p.head_dim + row * p.n_splits * 2;
    float m = -3.402823466e38;
    for (uint s = 0; s < p.n_splits; s++)
        if (part[ml + 2 * s + 1] > 0.0)
            m = max(m, part[ml + 2 * s]);
    float den = 0.0;
    for (uint s = 0; s < p.n_splits; s++) {
        float l = part[ml + 2 * s + 1];
        if (l > 0.0)
            den += l * exp(part[ml + 2 * s] - m);
    }
    float inv = den > 0.0 ? 1.0 / den : 0.0;
    for (uint d = gl_LocalInvocationIndex; d < p.head_dim; d += BLOCK_SIZE) {
        float num = 0.0;
        for (uint s = 0; s < p.n_splits; s++) {
            float l = part[ml + 2 * s + 1];
            if (l > 0.0)
                num += exp(part[ml + 2 * s] - m) * part[(row * p.n_splits + s) * p.head_dim + d];
        }
        out_[row * p.head_dim + d] = num * inv;
    }
}
