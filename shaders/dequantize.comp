#version 450
#extension GL_GOOGLE_include_directive : require
// Dequantize: y[i] = a[i] as f32 for i < n, a of the type DATA_A_<TYPE> (see
// types.glsl), exactly as mor_ref_dequantize_row() / ggml's dequantize_row_*.
// Bindings: 0 a (n elements, a whole number of blocks), 1 y [n] f32.
// Grid: flat over x, y (mor_vk_grid); each invocation writes 4 consecutive
// elements; the one at the end writes the n % 4 left (float types only: for
// block types n % 4 == 0). Invocations past n do nothing.

layout(constant_id = 0) const uint BLOCK_SIZE = 256;
layout(local_size_x_id = 0) in;

#define A_BINDING 0
#include "types.glsl"

layout(std430, binding = 1) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint n;
} p;

void main()
{
    uint group = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    uint i = 4 * (group * BLOCK_SIZE + gl_LocalInvocationIndex);
    if (i + 4 <= p.n) {
        vec4 v = dequant4(i);
        y[i] = v.x;
        y[i + 1] = v.y;
        y[i + 2] = v.z;
        y[i + 3] = v.w;
    } else {
        for (; i < p.n; i++)
            y[i] = dequant1(i);
    }
}
