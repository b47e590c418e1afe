#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#ifdef USE_SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#ifdef USE_INT64
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#endif
// Scaled dot-product attention with grouped KV heads, fp32, online softmax:
//   out[t, h, :] = Σ_{j visible from t} softmax_j(scale · q[t, h]·k[j, kvh]) · v[j, kvh]
//   kvh = h / G, G = n_heads / n_kv_heads (HF repeat_kv; torch
//   scaled_dot_product_attention(q, k, v, attn_mask, scale=scale)).
//
// Visibility. Query t sits at position qp = p0 + t, p0 = pos[0] when `causal`
// is set (read when the dispatch runs: a recorded decode step follows the
// position on every replay), else 0. Positions fall in blocks of block_size;
// a query in block b = qp / block_size sees the keys j < n_kv in blocks
// [b − look_back, b + look_ahead] (clipped at 0 and n_kv). That is one
// contiguous key range [lo, hi) per query, so no per-key mask is evaluated:
//   - causal with a KV cache: block_size 1, look_back ∞ (0xffffffff),
//     look_ahead 0 → keys 0..qp (HF Qwen2 causal mask);
//   - non-causal: look_back = look_ahead = ∞;
//   - Qwen2.5-Omni audio encoder, block_size = chunk length (100 post-conv
//     frames), look_back = look_ahead = 0: the block-diagonal mask of
//     `_prepare_attention_mask` (cu_seqlens of equal chunks, the last one
//     shorter) for one audio whose chunks start at 0;
//   - Qwen2.5-Omni DiT (token2wav): HF `_create_block_diff` takes
//     block = arange(seq_len) // block_size (24) and DiTDecoderLayer attends
//     where −look_backward_block ≤ block_j − block_i ≤ look_ahead_block (a
//     boolean SDPA mask). It is not symmetric: layers 0 and 20 look back 1
//     block, layer 10 ahead 1, the others neither. Blocks count from the
//     first frame of the sequence given (p0 = 0).
// A query that sees no key (only possible with blocks past n_kv) gets zeros.
//
// Bindings: 0 q [n_q, n_heads·HEAD_DIM] f32, 1 k and 2 v [n_kv, n_kv_heads·HEAD_DIM]
//           f32 or (KV_F16) f16 (the KV cache: one row per position),
//           3 pos [1] uint (read only when causal; any buffer otherwise),
//           4 out: n_splits == 1: [n_q, n_heads·HEAD_DIM] f32;
//                  n_splits > 1: partials for attention_reduce.comp, per
//                  (t, h, split): Σ p·v with p = exp(s − m) (HEAD_DIM floats) in
//                  [n_q, n_heads, n_splits, HEAD_DIM], then (m, l = Σ p) pairs
//                  in [n_q, n_heads, n_splits, 2]; l = 0 for a split without keys.
// Grid: one workgroup per (tile of QT consecutive queries, KV head, split),
// flat over x, y. The keys visible from the tile (the union of its queries'
// ranges) are cut into n_splits chunks that workgroups take in parallel
// (decode: one query, a long cache); attention_reduce merges them.
// A workgroup is one lane group of BLOCK_SIZE invocations (USE_SUBGROUP: one
// subgroup, so BLOCK_SIZE must be the subgroup size). Its lanes split
// HEAD_DIM in vec4s and hold in registers q and the output accumulators of
// the QT·G (query, head) rows that share the KV head; they take the keys in
// batches of KB: partial dot products are summed over the lanes
// (subgroupAdd, or through shared memory), masked per row, an online softmax
// rescales once per batch, and each K and V element is read once per
// workgroup. On a CPU device (lavapipe) every buffer load and subgroup
// reduction costs a scalar loop over the lanes, so the loads are as wide as
// the variant allows, nothing else in the key loop touches memory, and the
// loops have constant trip counts and are unrolled so that the arrays stay
// in registers.
// Variants: USE_SUBGROUP with USE_INT64 (subgroupAdd, 64-bit loads) and the
// portable one (shared-memory sums, 32-bit loads); KV_F16 for an f16 cache.

layout(constant_id = 0) const uint BLOCK_SIZE = 8;   // lanes (USE_SUBGROUP: the subgroup size)
layout(constant_id = 1) const uint G = 1;            // query heads per KV head
layout(constant_id = 2) const uint HEAD_DIM = 64;    // a multiple of 4
layout(constant_id = 3) const uint KB = 4;           // keys per batch (portable: a multiple of 4)
layout(constant_id = 4) const uint QT = 1;           // queries per workgroup
layout(local_size_x_id = 0) in;

const uint D4 = HEAD_DIM / 4;
const uint R = QT * G;                               // (query, head) rows: r = qi·G + h
const uint VPL = (D4 + BLOCK_SIZE - 1) / BLOCK_SIZE; // vec4s per lane: dims 4·(lane + i·BLOCK_SIZE) + 0..3

layout(std430, binding = 0) readonly buffer Q { vec4 q[]; };
// K and V are read four dims (one vec4) at a time. The narrower the loaded
// components, the more a CPU device pays (one scalar load and one stall per
// component and lane): USE_INT64 loads 64-bit words (two f32 or four f16).
#if defined(KV_F16) && defined(USE_INT64)
layout(std430, binding = 1) readonly buffer K { uint64_t k[]; };
layout(std430, binding = 2) readonly buffer V { uint64_t v[]; };
vec4 unpack4(uint64_t w) { uvec2 u = unpackUint2x32(w); return vec4(unpackHalf2x16(u.x), unpackHalf2x16(u.y)); }
#elif defined(KV_F16)
layout(std430, binding = 1) readonly buffer K { uvec2 k[]; };
layout(std430, binding = 2) readonly buffer V { uvec2 v[]; };
vec4 unpack4(uvec2 u) { return vec4(unpackHalf2x16(u.x), unpackHalf2x16(u.y)); }
#elif defined(USE_INT64)
layout(std430, binding = 1) readonly buffer K { u64vec2 k[]; };
layout(std430, binding = 2) readonly buffer V { u64vec2 v[]; };
vec4 unpack4(u64vec2 w) { return uintBitsToFloat(uvec4(unpackUint2x32(w.x), unpackUint2x32(w.y))); }
#else
layout(std430, binding = 1) readonly buffer K { vec4 k[]; };
layout(std430, binding = 2) readonly buffer V { vec4 v[]; };
vec4 unpack4(vec4 w) { return w; }
#endif
vec4 load_k(uint i) { return unpack4(k[i]); }
vec4 load_v(uint i) { return unpack4(v[i]); }
layout(std430, binding = 3) readonly buffer Pos { uint pos[]; };
layout(std430, binding = 4) writeonly buffer Out { float out_[]; };

layout(push_constant) uniform Push {
    uint n_q;
    uint n_kv;
    uint n_heads;
    uint n_kv_heads;
    float scale;
    uint block_size;
    uint look_back;     // 0xffffffff: unbounded
    uint look_ahead;    // ≥ n_kv: unbounded
    uint causal;        // 1: p0 = pos[0]
    uint n_splits;
} p;

const float LOWEST = -3.402823466e38;  // running max start: exp(LOWEST − m) = 0, never NaN

#ifndef USE_SUBGROUP
// Lane sums through shared memory, four scores at a time (KB·R is a multiple of 4).
const uint NS4 = KB * R / 4;
shared vec4 red_in[BLOCK_SIZE * NS4];   // [lane][score/4]
shared vec4 red_out[NS4];
#endif

void main()
{
    uint wg = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    uint n_tiles = (p.n_q + QT - 1) / QT;
    if (wg >= n_tiles * p.n_kv_heads * p.n_splits)
        return;
    uint split = wg % p.n_splits;
    uint kvh = (wg / p.n_splits) % p.n_kv_heads;
    uint t0 = wg / (p.n_splits * p.n_kv_heads) * QT;
    uint lane = gl_LocalInvocationIndex;

    // Visible keys [lo, hi) of each query of the tile (see the contract
    // above), and their union [c_lo, c_hi).
    uint p0 = p.causal != 0 ? pos[0] : 0;
    uint n_blocks = (p.n_kv + p.block_size - 1) / p.block_size;
    uint lo[QT], hi[QT];
    uint c_lo = p.n_kv, c_hi = 0;
    [[unroll]] for (uint qi = 0; qi < QT; qi++) {
        uint b = (p0 + t0 + qi) / p.block_size;
        uint l0 = b > p.look_back ? (b - p.look_back) * p.block_size : 0;
        uint h0 = (p.look_ahead >= n_blocks || b + p.look_ahead + 1 >= n_blocks)
                ? p.n_kv : (b + p.look_ahead + 1) * p.block_size;
        if (t0 + qi >= p.n_q)   // past the last query: sees nothing
            h0 = 0;
        lo[qi] = min(l0, h0);
        hi[qi] = h0;
        if (lo[qi] < hi[qi]) {
            c_lo = min(c_lo, lo[qi]);
            c_hi = max(c_hi, hi[qi]);
        }
    }
    c_lo = min(c_lo, c_hi);
    // This workgroup's chunk of it, in whole batches.
    uint chunk = ((c_hi - c_lo + p.n_splits - 1) / p.n_splits + KB - 1) / KB * KB;
    uint c0 = min(c_hi, c_lo + split * chunk);
    uint c1 = min(c_hi, c0 + chunk);

    vec4 qr[R * VPL];           // q of the rows at this lane's dims, times scale
    vec4 acc[R * VPL];          // Σ p·v at this lane's dims
    float m[R], l[R];           // running max and Σ p per row (same in every lane)
    [[unroll]] for (uint qi = 0; qi < QT; qi++) {
        uint t = min(t0 + qi, p.n_q - 1);
        uint q_base = (t * p.n_heads + kvh * G) * D4;
        [[unroll]] for (uint h = 0; h < G; h++) {
            uint r = qi * G + h;
            [[unroll]] for (uint i = 0; i < VPL; i++) {
                uint c = lane + i * BLOCK_SIZE;
                qr[r * VPL + i] = c < D4 ? q[q_base + h * D4 + c] * p.scale : vec4(0.0);
                acc[r * VPL + i] = vec4(0.0);
            }
            m[r] = LOWEST;
            l[r] = 0.0;
        }
    }

    // The loops below have constant trip counts and no branches, so that the
    // arrays stay in registers: keys past c1 in the last batch re-read key
    // c1 − 1; keys a row does not see get score LOWEST and p = 0.
    uint row4 = p.n_kv_heads * D4;
    for (uint base = c0; base < c1; base += KB) {
        float s[KB * R];
        [[unroll]] for (uint kk = 0; kk < KB; kk++) {
            uint row = min(base + kk, c1 - 1) * row4 + kvh * D4;
            [[unroll]] for (uint r = 0; r < R; r++)
                s[kk * R + r] = 0.0;
            [[unroll]] for (uint i = 0; i < VPL; i++) {
                uint c = lane + i * BLOCK_SIZE;
                vec4 kc = (D4 % BLOCK_SIZE == 0 || c < D4) ? load_k(row + c) : vec4(0.0);
                [[unroll]] for (uint r = 0; r < R; r++)
                    s[kk * R + r] += dot(qr[r * VPL + i], kc);
            }
        }
        // Sum the partial dot products over the lanes (uniform control flow:
        // one lane group per workgroup).
#ifdef USE_SUBGROUP
        [[unroll]] for (uint i = 0; i < KB * R; i++)
            s[i] = subgroupAdd(s[i]);
#else
        [[unroll]] for (uint i = 0; i < NS4; i++)
            red_in[lane * NS4 + i] = vec4(s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]);
        barrier();
        for (uint i = lane; i < NS4; i += BLOCK_SIZE) {
            vec4 sum = vec4(0.0);
            for (uint j = 0; j < BLOCK_SIZE; j++)
                sum += red_in[j * NS4 + i];
            red_out[i] = sum;
        }
        barrier();
        [[unroll]] for (uint i = 0; i < NS4; i++) {
            vec4 sum = red_out[i];
            s[4 * i] = sum.x;
            s[4 * i + 1] = sum.y;
            s[4 * i + 2] = sum.z;
            s[4 * i + 3] = sum.w;
        }
#endif
        [[unroll]] for (uint kk = 0; kk < KB; kk++) {
            uint j = base + kk;
            [[unroll]] for (uint qi = 0; qi < QT; qi++) {
                bool seen = j < c1 && j >= lo[qi] && j < hi[qi];
                [[unroll]] for (uint h = 0; h < G; h++)
                    s[kk * R + qi * G + h] = seen ? s[kk * R + qi * G + h] : LOWEST;
            }
        }
        // Online softmax over the batch: rescale once, then p = exp(s − m)
        // (0 for unseen keys, also while a row has seen none: m = LOWEST).
        [[unroll]] for (uint r = 0; r < R; r++) {
            float mb = m[r];
            [[unroll]] for (uint kk = 0; kk < KB; kk++)
                mb = max(mb, s[kk * R + r]);
            float alpha = exp(m[r] - mb);
            m[r] = mb;
            l[r] *= alpha;
            [[unroll]] for (uint i = 0; i < VPL; i++)
                acc[r * VPL + i] *= alpha;
            [[unroll]] for (uint kk = 0; kk < KB; kk++) {
                float e = s[kk * R + r] > LOWEST ? exp(s[kk * R + r] - mb) : 0.0;
                s[kk * R + r] = e;
                l[r] += e;
            }
        }
        [[unroll]] for (uint kk = 0; kk < KB; kk++) {
            uint row = min(base + kk, c1 - 1) * row4 + kvh * D4;
            [[unroll]] for (uint i = 0; i < VPL; i++) {
                uint c = lane + i * BLOCK_SIZE;
                vec4 vc = (D4 % BLOCK_SIZE == 0 || c < D4) ? load_v(row + c) : vec4(0.0);
                [[unroll]] for (uint r = 0; r < R; r++)
                    acc[r * VPL + i] += s[kk * R + r] * vc;
            }
        }
    }

    [[unroll]] for (uint qi = 0; qi < QT; qi++) {
        uint t = t0 + qi;
        if (t >= p.n_q)
            break;
        [[unroll]] for (uint h = 0; h < G; h++) {
            uint r = qi * G + h, head = kvh * G + h;
            [[unroll]] for (uint i = 0; i < VPL; i++) {
                uint c = lane + i * BLOCK_SIZE;
                if (c >= D4)
                    continue;
                if (p.n_splits == 1) {
                    vec4 o = l[r] > 0.0 ? acc[r * VPL + i] / l[r] : vec4(0.0);
                    uint at = (t * p.n_heads + head) * HEAD_DIM + 4 * c;
                    out_[at] = o.x;
                    out_[at + 1] = o.y;
                    out_[at + 2] = o.z;
                    out_[at + 3] = o.w;
                } else {
                    uint part = (t * p.n_heads + head) * p.n_splits + split;
                    uint at = part * HEAD_DIM + 4 * c;
                    out_[at] = acc[r * VPL + i].x;
                    out_[at + 1] = acc[r * VPL + i].y;
                    out_[at + 2] = acc[r * VPL + i].z;
                    out_[at + 3] = acc[r * VPL + i].w;
                    if (c == 0) {
                        uint ml = p.n_q * p.n_heads * p.n_splits * HEAD_DIM + 2 * part;
                        out_[ml] = m[r];
                        out_[ml + 1] = l[r];
                    }
                }
            }
        }
    }
}
