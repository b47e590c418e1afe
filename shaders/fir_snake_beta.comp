#version 450
#extension GL_GOOGLE_include_directive : require
// Anti-aliased SnakeBeta, fused: HF Qwen2.5-Omni TorchActivation1d(SnakeBeta(C)) =
// DownSample1d(ratio, K)(SnakeBeta(UpSample1d(ratio, K)(x))), with the same
// filter f[K] for both (HF builds them from equal arguments). Formulas as in
// fir_resample.comp and snake_beta.glsl:
//   u[c, s] = ratio · Σ_{k ≡ s + crop (mod ratio)} f[k] · x[c, clamp((s + crop - k)/ratio - pad_up)]
//   z[c, s] = u + sin²(u · e^alpha[c]) / (e^beta[c] + 1e-9),          s < ratio · t_in
//   y[c, t] = Σ_k f[k] · z[c, clamp(t·ratio + k - pad_down)]
// The upsampled signal never leaves shared memory.
// Bindings: 0 x [n_channels, t_in] f32, 1 alpha [n_channels] f32, 2 beta [n_channels] f32,
//           3 f [K] f32, 4 y [n_channels, t_out] f32.
// Grid: one workgroup per channel and BLOCK_SIZE outputs (tile = t_tile + tiles_t · c),
//   flat over x, y; it first fills z for the (BLOCK_SIZE - 1)·ratio + K positions
//   its outputs read, then each invocation writes one output.

layout(constant_id = 0) const uint BLOCK_SIZE = 256;
layout(constant_id = 1) const uint Z_SIZE = 522;    // (BLOCK_SIZE - 1)·ratio + K
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Alpha { float alpha[]; };
layout(std430, binding = 2) readonly buffer Beta { float beta[]; };
layout(std430, binding = 3) readonly buffer F { float f[]; };
layout(std430, binding = 4) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint n_channels;
    uint t_in;
    uint t_out;
    uint n_taps;
    uint ratio;
    uint pad_up;        // UpSample1d: replicate padding of x
    uint crop;          // UpSample1d: samples cropped from the transposed convolution
    uint pad_down;      // DownSample1d: replicate padding of z on the left
    uint tiles_t;
} p;

#include "snake_beta.glsl"

shared float z[Z_SIZE];

void main()
{
    uint tile = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (tile >= p.tiles_t * p.n_channels)
        return;
    uint c = tile / p.tiles_t, t0 = (tile % p.tiles_t) * BLOCK_SIZE;
    uint row = c * p.t_in;
    int n_up = int(p.ratio * p.t_in);
    float a = snake_alpha(alpha[c]), inv_b = snake_inv_beta(beta[c]);
    int s0 = int(t0 * p.ratio) - int(p.pad_down);
    for (uint i = gl_LocalInvocationIndex; i < Z_SIZE; i += BLOCK_SIZE) {
        uint s = uint(clamp(s0 + int(i), 0, n_up - 1));      // DownSample1d's replicate pad
        uint q = s + p.crop;
        float u = 0.0;
        for (uint k = q % p.ratio; k < p.n_taps && k <= q; k += p.ratio) {
            int j = clamp(int((q - k) / p.ratio) - int(p.pad_up), 0, int(p.t_in) - 1);
            u += f[k] * x[row + uint(j)];
        }
        z[i] = snake_beta(u * float(p.ratio), a, inv_b);
    }
    barrier();
    uint t = t0 + gl_LocalInvocationIndex;
    if (t >= p.t_out)
        return;
    uint base = gl_LocalInvocationIndex * p.ratio;
    float acc = 0.0;
    for (uint k = 0; k < p.n_taps; k++)
        acc += f[k] * z[base + k];
    y[c * p.t_out + t] = acc;
}
