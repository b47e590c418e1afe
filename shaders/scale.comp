#version 450
#extension GL_GOOGLE_include_directive : require
// Scale and shift: y = alpha·x + beta element-wise in fp32 (x * alpha + beta in
// PyTorch; e.g. the 1 + scale of the DiT's AdaLayerNormZero modulation).
// Bindings: 0 x [n] f32, 1 y [n] f32 (y may alias x).
// Grid: one invocation per element, BLOCK_SIZE per workgroup, flat over x, y;
// the last workgroup's invocations past n return.

layout(constant_id = 0) const uint BLOCK_SIZE = 256;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint n;
    float alpha;
    float beta;
} p;

#include "elementwise.glsl"

void main()
{
    uint i = element_index();
    if (i >= p.n)
        return;
    y[i] = p.alpha * x[i] + p.beta;
}
