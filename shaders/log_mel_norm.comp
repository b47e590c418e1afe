#version 450
#extension GL_GOOGLE_include_directive : require
// Whisper log-mel normalisation (WhisperFeatureExtractor._torch_extract_fbank_features):
//   L = log10(max(mel, 1e-10));  L = max(L, max(L) - 8.0);  y = (L + 4.0) / 4.0
// with max(L) over all n elements. Two passes:
//   MAX_PASS: each workgroup reduces its elements and atomicMax-es the result,
//     as an order-preserving uint key, into gmax[0] (zeroed by the caller's stream).
//   otherwise: y[i] from mel[i] and the key in gmax[0].
// Bindings: 0 mel [n] f32, 1 gmax [1] uint (MAX_PASS: written), 2 y [n] f32 (apply pass only; may alias mel).
// Grid: one invocation per element, flat over x, y.

layout(constant_id = 0) const uint BLOCK_SIZE = 256;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Mel { float mel[]; };
#ifdef MAX_PASS
layout(std430, binding = 1) buffer Gmax { uint gmax[]; };
#else
layout(std430, binding = 1) readonly buffer Gmax { uint gmax[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
#endif

layout(push_constant) uniform Push {
    uint n;
} p;

#include "reduce.glsl"

float log10_mel(float v)
{
    return log2(max(v, 1e-10)) * 0.301029995663981195;
}

void main()
{
    uint idx = flat_group_id() * BLOCK_SIZE + gl_LocalInvocationIndex;
#ifdef MAX_PASS
    // Every invocation takes part in the reduction; those past n bring -inf.
    float v = idx < p.n ? log10_mel(mel[idx]) : uintBitsToFloat(0xff800000u);   // -inf
    float m = workgroup_max(v);
    if (gl_LocalInvocationIndex == 0) {
        uint bits = floatBitsToUint(m);
        atomicMax(gmax[0], (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u);
    }
#else
    if (idx >= p.n)
        return;
    uint key = gmax[0];
    float m = uintBitsToFloat((key & 0x80000000u) != 0 ? key & 0x7fffffffu : ~key);
    y[idx] = (max(log10_mel(mel[idx]), m - 8.0) + 4.0) / 4.0;
#endif
}
