#version 450
#extension GL_GOOGLE_include_directive : require
// Rotary position embedding of x [n_tokens, n_heads, head_dim] in fp32, as
// Hugging Face applies it: y = x·cos + rotate(x)·sin on the first rot_dim dims of
// heads 0 .. n_rot_heads−1; the remaining dims and heads pass through.
// Token t is at position pos[0] + t, read when the dispatch runs (a recorded
// decode step replays at the current position). Pair k (k < rot_dim/2) turns by
//   angle = float(pos) · inv_freq[k]     (one fp32 product, as HF's fp32 matmul)
// with cos and sin of that fp32 angle (trig.glsl), for
//   NeoX (default)  elements (k, k + rot_dim/2): rotate_half, cos = cat(freqs, freqs)
//                   (Qwen2 / Qwen2.5-Omni thinker and talker apply_rotary_pos_emb)
//   INTERLEAVED     elements (2k, 2k+1): rotate_half_codec, cos = [f0, f0, f1, f1, …]
//                   (Qwen2.5-Omni DiT, transformers 4.57, which rotates head 0 only)
// both (x0, x1) → (x0·cos − x1·sin, x1·cos + x0·sin).
// Bindings: 0 x, 1 inv_freq [rot_dim/2] f32, 2 pos [1] uint, 3 y (y may alias x).
// Grid: one invocation per pair slot of a (token, head) row, BLOCK_SIZE per
// workgroup, flat over x, y. With copy_rest, every head and ceil(head_dim/2)
// slots a row, slot k ≥ rot_dim/2 (or any slot of a head ≥ n_rot_heads) copying
// elements 2k, 2k+1; without (in place), only the rotated pairs of heads
// < n_rot_heads. Invocations past the last row return.

layout(constant_id = 0) const uint BLOCK_SIZE = 256;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer InvFreq { float inv_freq[]; };
layout(std430, binding = 2) readonly buffer Pos { uint pos[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint n_tokens;
    uint n_heads;
    uint head_dim;
    uint rot_dim;
    uint n_rot_heads;
    uint copy_rest;     // 1: write the pass-through dims and heads too (y is not x)
} p;

#include "elementwise.glsl"
#include "trig.glsl"

uvec2 pair_elements(uint k)
{
#ifdef INTERLEAVED
    return uvec2(2u * k, 2u * k + 1u);
#else
    return uvec2(k, k + p.rot_dim / 2u);
#endif
}

void main()
{
    uint n_grid_heads = p.copy_rest != 0u ? p.n_heads : p.n_rot_heads;
    uint n_slots = p.copy_rest != 0u ? (p.head_dim + 1u) / 2u : p.rot_dim / 2u;
    uint i = element_index();
    uint row = i / n_slots;
    if (row >= p.n_tokens * n_grid_heads)
        return;
    uint k = i - row * n_slots;
    uint t = row / n_grid_heads;
    uint h = row - t * n_grid_heads;
    uint base = (t * p.n_heads + h) * p.head_dim;
    if (h < p.n_rot_heads && k < p.rot_dim / 2u) {
        // `precise`: the product is rounded to fp32 before it is reduced, as HF
        // rounds it; a fused multiply-add here would shift angles near 32768 by
        // up to 2^-10 rad.
        precise float angle = float(pos[0] + t) * inv_freq[k];
        vec2 sc = sincos_f32(angle);
        uvec2 e = pair_elements(k);
        float x0 = x[base + e.x], x1 = x[base + e.y];
        y[base + e.x] = x0 * sc.y - x1 * sc.x;
        y[base + e.y] = x1 * sc.y + x0 * sc.x;
    } else {
        y[base + 2u * k] = x[base + 2u * k];
        if (2u * k + 1u < p.head_dim)
            y[base + 2u * k + 1u] = x[base + 2u * k + 1u];
    }
}
