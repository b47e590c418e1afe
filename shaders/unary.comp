#version 450
#extension GL_GOOGLE_include_directive : require
// Unary activations, y = f(x) element-wise in fp32, f by -DUNARY_OP=<name>:
//   silu       F.silu / nn.SiLU:                x·σ(x)
//   gelu_erf   nn.GELU() (PyTorch's default):   0.5·x·(1 + erf(x/√2))
//   gelu_tanh  nn.GELU(approximate="tanh"):     0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³)))
//   relu       nn.ReLU:                         max(x, 0)
//   tanh_f32   nn.Tanh:                         tanh(x)
//   sigmoid    nn.Sigmoid:                      1 / (1 + exp(−x))
// (the functions and their numerics are in elementwise.glsl).
// Bindings: 0 x [n] f32, 1 y [n] f32 (y may alias x).
// Grid: one invocation per element, BLOCK_SIZE per workgroup, flat over x, y;
// the last workgroup's invocations past n return.

layout(constant_id = 0) const uint BLOCK_SIZE = 256;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint n;
} p;

#include "elementwise.glsl"

void main()
{
    uint i = element_index();
    if (i >= p.n)
        return;
    y[i] = UNARY_OP(x[i]);
}
