#version 450
#extension GL_GOOGLE_include_directive : require
// Anti-aliased resampling by an integer ratio with an FIR low-pass filter f[K],
// per channel, as HF Qwen2.5-Omni UpSample1d / DownSample1d (alias-free-torch).
// UP (UpSample1d(ratio, K)):
//   xp = F.pad(x, (pad, pad), mode="replicate")                 pad = K/ratio - 1
//   z = ratio · F.conv_transpose1d(xp, f, stride=ratio, groups=C)
//   y = z[..., crop : -crop_right]                               crop = pad·ratio + (K - ratio)/2
//   gathered: y[c, t] = ratio · Σ_{k ≡ t + crop (mod ratio)} f[k] · x[c, clamp((t + crop - k)/ratio - pad)]
//   t_out = ratio · t_in
// DOWN (DownSample1d(ratio, K), LowPassFilter1d):
//   xp = F.pad(x, (pad, K/2), mode="replicate")                   pad = K/2 - (K even)
//   y = F.conv1d(xp, f, stride=ratio, groups=C)
//   y[c, t] = Σ_k f[k] · x[c, clamp(t·ratio + k - pad)],          t_out = (t_in + K/2 + pad - K)/ratio + 1
// clamp(i) = clamp(i, 0, t_in - 1) is the replicate padding.
// Bindings: 0 x [n_channels, t_in] f32, 1 f [K] f32, 2 y [n_channels, t_out] f32.
// Grid: one invocation per output element, flat over x, y.

layout(constant_id = 0) const uint BLOCK_SIZE = 256;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer F { float f[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint n_channels;
    uint t_in;
    uint t_out;
    uint n_taps;
    uint ratio;
    uint pad;       // UP: replicate padding on both sides; DOWN: on the left
    uint crop;      // UP: samples cropped at the start; DOWN: unused
} p;

float sample_x(uint row, int i)
{
    return x[row + uint(clamp(i, 0, int(p.t_in) - 1))];
}

void main()
{
    uint idx = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * BLOCK_SIZE
               + gl_LocalInvocationIndex;
    if (idx >= p.n_channels * p.t_out)
        return;
    uint c = idx / p.t_out, t = idx % p.t_out;
    uint row = c * p.t_in;
    float acc = 0.0;
#ifdef UP
    uint u = t + p.crop;                // position in the transposed convolution's output
    for (uint k = u % p.ratio; k < p.n_taps && k <= u; k += p.ratio)
        acc += f[k] * sample_x(row, int((u - k) / p.ratio) - int(p.pad));
    acc *= float(p.ratio);
#else
    int i0 = int(t * p.ratio) - int(p.pad);
    for (uint k = 0; k < p.n_taps; k++)
        acc += f[k] * sample_x(row, i0 + int(k));
#endif
    y[idx] = acc;
}
