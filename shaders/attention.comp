#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#ifdef USE_SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
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
// Grid: one workgroup per (query t, KV head, split), flat over x, y. The
// visible range of t is cut into n_splits chunks that workgroups take in
// parallel (decode: one query, a long cache); attention_reduce merges them.
// Inside a workgroup, lane groups of LANES invocations (USE_SUBGROUP: one
// subgroup, LANES = its size; otherwise single invocations) take batches of
// KB keys in turn; the lanes of a group split HEAD_DIM, hold q and the output
// accumulators of the G query heads in registers, and add their partial dot
// products with subgroupAdd. Each K and V element is read once per workgroup,
// and nothing in the key loop touches shared memory (on a CPU device every
// buffer or shared access costs a scalar load per lane). The groups' running
// (max, sum, Σ p·v) merge through shared memory at the end.

layout(constant_id = 0) const uint BLOCK_SIZE = 8;   // a multiple of LANES
layout(constant_id = 1) const uint G = 1;            // query heads per KV head
layout(constant_id = 2) const uint HEAD_DIM = 64;    // a multiple of 4
layout(constant_id = 3) const uint LANES = 1;        // invocations per lane group
layout(constant_id = 4) const uint KB = 8;           // keys per batch
layout(local_size_x_id = 0) in;

const uint D4 = HEAD_DIM / 4;
const uint VPL = (D4 + LANES - 1) / LANES;           // vec4s per lane: dims 4·(lane + i·LANES) + 0..3
const uint NGROUPS = BLOCK_SIZE / LANES;

layout(std430, binding = 0) readonly buffer Q { vec4 q[]; };
#ifdef KV_F16
// Four halves as two 32-bit words: one load per word, unpacked in registers.
layout(std430, binding = 1) readonly buffer K { uvec2 k[]; };
layout(std430, binding = 2) readonly buffer V { uvec2 v[]; };
vec4 load_k(uint i) { uvec2 w = k[i]; return vec4(unpackHalf2x16(w.x), unpackHalf2x16(w.y)); }
vec4 load_v(uint i) { uvec2 w = v[i]; return vec4(unpackHalf2x16(w.x), unpackHalf2x16(w.y)); }
#else
layout(std430, binding = 1) readonly buffer K { vec4 k[]; };
layout(std430, binding = 2) readonly buffer V { vec4 v[]; };
vec4 load_k(uint i) { return k[i]; }
vec4 load_v(uint i) { return v[i]; }
#endif
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

shared float grp_max[NGROUPS * G];
shared float grp_sum[NGROUPS * G];
shared float merged[G * HEAD_DIM];

float lane_sum(float x)
{
#ifdef USE_SUBGROUP
    return LANES > 1 ? subgroupAdd(x) : x;
#else
    return x;
#endif
}

void main()
{
    uint wg = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (wg >= p.n_q * p.n_kv_heads * p.n_splits)
        return;
    uint split = wg % p.n_splits;
    uint kvh = (wg / p.n_splits) % p.n_kv_heads;
    uint t = wg / (p.n_splits * p.n_kv_heads);
    uint tid = gl_LocalInvocationIndex;
#ifdef USE_SUBGROUP
    uint lane = LANES > 1 ? gl_SubgroupInvocationID : 0;
    uint grp = LANES > 1 ? gl_SubgroupID : tid;
#else
    uint lane = 0, grp = tid;
#endif

    // Visible keys [lo, hi) of this query (see the contract above).
    uint qp = (p.causal != 0 ? pos[0] : 0) + t;
    uint b = qp / p.block_size;
    uint n_blocks = (p.n_kv + p.block_size - 1) / p.block_size;
    uint lo = b > p.look_back ? (b - p.look_back) * p.block_size : 0;
    uint hi = (p.look_ahead >= n_blocks || b + p.look_ahead + 1 >= n_blocks)
            ? p.n_kv : (b + p.look_ahead + 1) * p.block_size;
    lo = min(lo, hi);
    // This workgroup's chunk of it, in whole rounds of NGROUPS·KB keys.
    const uint ROUND = NGROUPS * KB;
    uint chunk = ((hi - lo + p.n_splits - 1) / p.n_splits + ROUND - 1) / ROUND * ROUND;
    uint c0 = min(hi, lo + split * chunk);
    uint c1 = min(hi, c0 + chunk);

    vec4 qr[G * VPL];           // q of the G heads at this lane's dims, times scale
    vec4 acc[G * VPL];          // Σ p·v at this lane's dims
    float m[G], l[G];           // running max and Σ p per head (same in every lane of a group)
    uint q_base = (t * p.n_heads + kvh * G) * D4;
    [[unroll]] for (uint h = 0; h < G; h++) {
        [[unroll]] for (uint i = 0; i < VPL; i++) {
            uint c = lane + i * LANES;
            qr[h * VPL + i] = c < D4 ? q[q_base + h * D4 + c] * p.scale : vec4(0.0);
            acc[h * VPL + i] = vec4(0.0);
        }
        m[h] = LOWEST;
        l[h] = 0.0;
    }

    // The loops below have constant trip counts and no branches, so that the
    // arrays stay in registers: keys past c1 in the last batch re-read key
    // c1 − 1 and get score LOWEST, hence p = 0.
    uint row4 = p.n_kv_heads * D4;
    for (uint base = c0 + grp * KB; base < c1; base += ROUND) {
        float s[KB * G];
        [[unroll]] for (uint kk = 0; kk < KB; kk++) {
            uint row = min(base + kk, c1 - 1) * row4 + kvh * D4;
            float part[G];
            [[unroll]] for (uint h = 0; h < G; h++)
                part[h] = 0.0;
            [[unroll]] for (uint i = 0; i < VPL; i++) {
                uint c = lane + i * LANES;
                vec4 kc = (D4 % LANES == 0 || c < D4) ? load_k(row + c) : vec4(0.0);
                [[unroll]] for (uint h = 0; h < G; h++)
                    part[h] += dot(qr[h * VPL + i], kc);
            }
            [[unroll]] for (uint h = 0; h < G; h++)
                s[kk * G + h] = base + kk < c1 ? lane_sum(part[h]) : LOWEST;
        }
        // Online softmax over the batch: rescale once, then p = exp(s − m).
        [[unroll]] for (uint h = 0; h < G; h++) {
            float mb = m[h];
            [[unroll]] for (uint kk = 0; kk < KB; kk++)
                mb = max(mb, s[kk * G + h]);
            float alpha = exp(m[h] - mb);
            m[h] = mb;
            l[h] *= alpha;
            [[unroll]] for (uint i = 0; i < VPL; i++)
                acc[h * VPL + i] *= alpha;
            [[unroll]] for (uint kk = 0; kk < KB; kk++) {
                float e = exp(s[kk * G + h] - mb);
                s[kk * G + h] = e;
                l[h] += e;
            }
        }
        [[unroll]] for (uint kk = 0; kk < KB; kk++) {
            uint row = min(base + kk, c1 - 1) * row4 + kvh * D4;
            [[unroll]] for (uint i = 0; i < VPL; i++) {
                uint c = lane + i * LANES;
                vec4 vc = (D4 % LANES == 0 || c < D4) ? load_v(row + c) : vec4(0.0);
                [[unroll]] for (uint h = 0; h < G; h++)
                    acc[h * VPL + i] += s[kk * G + h] * vc;
            }
        }
    }

    // Merge the groups: M = max of the group maxima (groups with keys),
    // L = Σ l·exp(m − M), out = Σ acc·exp(m − M), one group at a time.
    if (lane == 0)
        for (uint h = 0; h < G; h++) {
            grp_max[grp * G + h] = m[h];
            grp_sum[grp * G + h] = l[h];
        }
    barrier();
    float big_m[G], big_l[G];
    for (uint h = 0; h < G; h++) {
        float mm = LOWEST;
        for (uint g = 0; g < NGROUPS; g++)
            if (grp_sum[g * G + h] > 0.0)
                mm = max(mm, grp_max[g * G + h]);
        float ll = 0.0;
        for (uint g = 0; g < NGROUPS; g++)
            if (grp_sum[g * G + h] > 0.0)
                ll += grp_sum[g * G + h] * exp(grp_max[g * G + h] - mm);
        big_m[h] = mm;
        big_l[h] = ll;
    }
    for (uint g = 0; g < NGROUPS; g++) {
        if (grp == g)
            for (uint h = 0; h < G; h++) {
                float w = l[h] > 0.0 ? exp(m[h] - big_m[h]) : 0.0;
                for (uint i = 0; i < VPL; i++) {
                    uint c = lane + i * LANES;
                    if (c < D4)
                        for (uint e = 0; e < 4; e++) {
                            uint at = h * HEAD_DIM + 4 * c + e;
                            merged[at] = (g == 0 ? 0.0 : merged[at]) + acc[h * VPL + i][e] * w;
                        }
                }
            }
        barrier();
    }

    for (uint o = tid; o < G * HEAD_DIM; o += BLOCK_SIZE) {
        uint h = o / HEAD_DIM, d = o % HEAD_DIM;
        uint head = kvh * G + h;
        if (p.n_splits == 1) {
            out_[(t * p.n_heads + head) * HEAD_DIM + d] = big_l[h] > 0.0 ? merged[o] / big_l[h] : 0.0;
        } else {
            uint part = (t * p.n_heads + head) * p.n_splits + split;
            out_[part * HEAD_DIM + d] = merged[o];
            if (d == 0) {
                uint ml = p.n_q * p.n_heads * p.n_splits * HEAD_DIM + 2 * part;
                out_[ml] = big_m[h];
                out_[ml + 1] = big_l[h];
            }
        }
    }
}
