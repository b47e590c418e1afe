#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_16bit_storage : require
// KV-cache store: cache[p0 + r, i] = src[r, i] for r < n_rows, i < row_size,
// where p0 = pos[0] is read when the dispatch runs, so that a recorded decode
// step appends at the current position on every replay. Rows p0 + r ≥ max_ctx
// are dropped (never written out of bounds).
// This is what HF's DynamicCache.update does with torch.cat along the sequence
// axis; the cache layout here is [max_ctx, n_kv_heads·head_dim] (one contiguous
// row per position, heads side by side), stored as f32 or (KV_F16) f16.
// Bindings: 0 src [n_rows, row_size] f32, 1 pos [1] uint,
//           2 cache [max_ctx, row_size] f32 or f16.
// Grid: one invocation per element, BLOCK_SIZE per workgroup, flat over x, y;
// the last workgroup's invocations past n_rows·row_size return.

layout(constant_id = 0) const uint BLOCK_SIZE = 256;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Src { float src[]; };
layout(std430, binding = 1) readonly buffer Pos { uint pos[]; };
#ifdef KV_F16
layout(std430, binding = 2) writeonly buffer Cache { float16_t cache[]; };
#else
layout(std430, binding = 2) writeonly buffer Cache { float cache[]; };
#endif

layout(push_constant) uniform Push {
    uint n_rows;
    uint row_size;
    uint max_ctx;
} p;

void main()
{
    uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * BLOCK_SIZE + gl_LocalInvocationIndex;
    uint r = i / p.row_size;
    if (r >= p.n_rows)
        return;
    uint dst = pos[0] + r;
    if (dst >= p.max_ctx || dst < r)   // past the cache, or pos[0] + r wrapped around
        return;
#ifdef KV_F16
    cache[dst * p.row_size + (i - r * p.row_size)] = float16_t(src[i]);
#else
    cache[dst * p.row_size + (i - r * p.row_size)] = src[i];
#endif
}
