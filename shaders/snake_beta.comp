#version 450
#extension GL_GOOGLE_include_directive : require
// SnakeBeta activation per channel (HF Qwen2.5-Omni SnakeBeta, BigVGAN):
//   y[c, t] = x[c, t] + 1/(e^beta[c] + 1e-9) · sin²(x[c, t] · e^alpha[c])
// alpha, beta are the checkpoint's log-scale parameters (see snake_beta.glsl).
// Bindings: 0 x [n_channels, length] f32, 1 alpha [n_channels] f32,
//           2 beta [n_channels] f32, 3 y [n_channels, length] f32 (may alias x).
// Grid: one invocation per element, flat over x, y.

layout(constant_id = 0) const uint BLOCK_SIZE = 256;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Alpha { float alpha[]; };
layout(std430, binding = 2) readonly buffer Beta { float beta[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint n_channels;
    uint n_time;
} p;

#include "snake_beta.glsl"

void main()
{
    uint idx = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * BLOCK_SIZE
               + gl_LocalInvocationIndex;
    if (idx >= p.n_channels * p.n_time)
        return;
    uint c = idx / p.n_time;
    y[idx] = snake_beta(x[idx], snake_alpha(alpha[c]), snake_inv_beta(beta[c]));
}
