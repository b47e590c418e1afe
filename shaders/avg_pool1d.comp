#version 450
#extension GL_GOOGLE_include_directive : require
// Average pooling over time, PyTorch nn.AvgPool1d(kernel, stride) (no padding,
// floor mode: a tail shorter than the kernel is dropped):
//   y[c, t] = (1/kernel) · Σ_{k<kernel} x[c, t·stride + k],  t_out = (t_in - kernel) / stride + 1
// Qwen2.5-Omni's audio encoder pools its [T, 1280] output with AvgPool1d(2, 2)
// over T; time_major selects that layout ([t, c], channels contiguous) instead
// of [c, t] (time contiguous). y has the layout of x.
// Bindings: 0 x f32, 1 y f32.
// Grid: one invocation per output element, flat over x, y.

layout(constant_id = 0) const uint BLOCK_SIZE = 256;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint n_channels;
    uint t_in;
    uint t_out;
    uint kernel_size;
    uint stride;
    uint time_major;
} p;

void main()
{
    uint idx = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * BLOCK_SIZE
               + gl_LocalInvocationIndex;
    if (idx >= p.n_channels * p.t_out)
        return;
    // Index order follows the memory layout, so neighbours read neighbours.
    uint c, t, in_base, in_step;
    if (p.time_major != 0) {
        c = idx % p.n_channels;
        t = idx / p.n_channels;
        in_base = t * p.stride * p.n_channels + c;
        in_step = p.n_channels;
    } else {
        c = idx / p.t_out;
        t = idx % p.t_out;
        in_base = c * p.t_in + t * p.stride;
        in_step = 1;
    }
    float sum = 0.0;
    for (uint k = 0; k < p.kernel_size; k++)
        sum += x[in_base + k * in_step];
    y[idx] = sum / float(p.kernel_size);
}
