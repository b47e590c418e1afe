#version 450
#extension GL_GOOGLE_include_directive : require
// SwiGLU gate of the Qwen2 MLP: y = silu(gate) · up, element-wise in fp32.
//   HF Qwen2MLP: down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x)), act_fn = silu
// Bindings: 0 gate [n] f32, 1 up [n] f32, 2 y [n] f32 (y may alias gate or up).
// Grid: one invocation per element, BLOCK_SIZE per workgroup, flat over x, y;
// the last workgroup's invocations past n return.

layout(constant_id = 0) const uint BLOCK_SIZE = 256;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Gate { float gate[]; };
layout(std430, binding = 1) readonly buffer Up { float up[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint n;
} p;

#include "elementwise.glsl"

void main()
{
    uint i = element_index();
    if (i >= p.n)
        return;
    y[i] = silu(gate[i]) * up[i];
}
