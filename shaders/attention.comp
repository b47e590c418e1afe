#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_16bit_storage : require
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
//     boolean SDPA mask); it is not symmetric: layers 0 and 20 have look_back
//     1, layer 10 look_ahead 1, the others 0 and 0. Blocks count from the
//     first frame of the sequence given (p0 = 0).
// A query that sees no key (only possible with blocks past n_kv) gets zeros.
//
// Bindings: 0 q [n_q, n_heads·HEAD_DIM] f32, 1 k and 2 v [n_kv, n_kv_heads·HEAD_DIM]
//           f32 or (KV_F16) f16 (the KV cache: one row per position),
//           3 pos [1] uint (read only when causal; any buffer otherwise),
//           4 out: n_splits == 1: [n_q, n_heads·HEAD_DIM] f32;
//                  n_splits > 1: partials for attention_reduce.comp, per
//                  (t, h, split): the unnormalised Σ p·v (HEAD_DIM floats) in
//                  [n_q, n_heads, n_splits, HEAD_DIM], then (m, l) pairs in
//                  [n_q, n_heads, n_splits, 2] (running max, Σ exp(s − m);
//                  l = 0 for a split with no keys).
// Grid: one workgroup per (query t, KV head, split), flat over x, y; the G
// query heads of one KV head share each K/V row read. The visible range of
// t is cut into n_splits chunks (whole tiles) that workgroups take in
// parallel (decode: one query, long cache); attention_reduce merges them.
// Per tile of BLOCK_SIZE keys: (1) one invocation a key computes its G
// scores; (2) G·NP invocations take the tile max of a head in NP strided
// parts; (3) they turn scores into exp(s − m_new) and part sums; (4) the
// owners of the G·HEAD_DIM/4 vec4 outputs rescale by exp(m_old − m_new) and
// add Σ p·v, KSPLIT invocations per output taking every KSPLIT-th key when
// there are fewer outputs than invocations.

layout(constant_id = 0) const uint BLOCK_SIZE = 64;  // invocations = keys per tile
layout(constant_id = 1) const uint G = 1;            // query heads per KV head (≤ BLOCK_SIZE)
layout(constant_id = 2) const uint HEAD_DIM = 64;    // a multiple of 4
layout(local_size_x_id = 0) in;

const uint D4 = HEAD_DIM / 4;
const uint OUT4 = G * D4;                                           // vec4 outputs
const uint SLOTS = (OUT4 + BLOCK_SIZE - 1) / BLOCK_SIZE;            // outputs per invocation
const uint KSPLIT = OUT4 >= BLOCK_SIZE ? 1 : BLOCK_SIZE / OUT4;     // invocations per output
const uint NP = BLOCK_SIZE / G >= 8 ? 8 : BLOCK_SIZE / G;           // parts per head in (2), (3)

layout(std430, binding = 0) readonly buffer Q { vec4 q[]; };
#ifdef KV_F16
layout(std430, binding = 1) readonly buffer K { f16vec4 k[]; };
layout(std430, binding = 2) readonly buffer V { f16vec4 v[]; };
#else
layout(std430, binding = 1) readonly buffer K { vec4 k[]; };
layout(std430, binding = 2) readonly buffer V { vec4 v[]; };
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

#include "reduce.glsl"

const float LOWEST = -3.402823466e38;  // running max start: exp(LOWEST − m) = 0, never NaN

shared vec4 qs[OUT4];                   // q rows of the G heads, times scale
shared float sc[G * BLOCK_SIZE];        // scores, then probabilities, of a tile
shared float part_max[G * NP];
shared float part_sum[G * NP];
shared float run_max[2 * G];            // running max per head, double-buffered by tile
shared float run_sum[G];                // running Σ exp(s − max) per head
shared vec4 o_merge[KSPLIT > 1 ? BLOCK_SIZE : 1];

// The running max after the current tile: max(old, the NP part maxima).
float new_max(uint h, float m_old)
{
    float m = m_old;
    for (uint i = 0; i < NP; i++)
        m = max(m, part_max[h * NP + i]);
    return m;
}

void main()
{
    uint wg = flat_group_id();
    if (wg >= p.n_q * p.n_kv_heads * p.n_splits)
        return;
    uint split = wg % p.n_splits;
    uint kvh = (wg / p.n_splits) % p.n_kv_heads;
    uint t = wg / (p.n_splits * p.n_kv_heads);
    uint tid = gl_LocalInvocationIndex;

    // Visible keys [lo, hi) of this query (see the contract above).
    uint qp = (p.causal != 0 ? pos[0] : 0) + t;
    uint b = qp / p.block_size;
    uint n_blocks = (p.n_kv + p.block_size - 1) / p.block_size;
    uint lo = b > p.look_back ? (b - p.look_back) * p.block_size : 0;
    uint hi = (p.look_ahead >= n_blocks || b + p.look_ahead + 1 >= n_blocks)
            ? p.n_kv : (b + p.look_ahead + 1) * p.block_size;
    lo = min(lo, hi);
    // This workgroup's chunk of it, in whole tiles.
    uint chunk = ((hi - lo + p.n_splits - 1) / p.n_splits + BLOCK_SIZE - 1) / BLOCK_SIZE * BLOCK_SIZE;
    uint c0 = min(hi, lo + split * chunk);
    uint c1 = min(hi, c0 + chunk);

    uint kv_row4 = p.n_kv_heads * D4;   // vec4s per K/V row
    uint kv_off4 = kvh * D4;
    uint q_base4 = t * p.n_heads * D4 + kvh * OUT4;
    for (uint i = tid; i < OUT4; i += BLOCK_SIZE)
        qs[i] = q[q_base4 + i] * p.scale;
    if (tid < G) {
        run_max[tid] = LOWEST;
        run_sum[tid] = 0.0;
    }

    // Outputs of this invocation in (4): vec4 index o = h·D4 + d4.
    uint o_first = KSPLIT > 1 ? tid % OUT4 : tid;
    uint kgroup = KSPLIT > 1 ? tid / OUT4 : 0;
    vec4 acc[SLOTS];
    for (uint s = 0; s < SLOTS; s++)
        acc[s] = vec4(0.0);
    uint cur = 0;   // which half of run_max holds the running max
    barrier();

    for (uint c = c0; c < c1; c += BLOCK_SIZE) {
        uint n = min(BLOCK_SIZE, c1 - c);

        // (1) scores of key c + tid for the G heads
        if (tid < n) {
            uint row = (c + tid) * kv_row4 + kv_off4;
            float s[G];
            for (uint h = 0; h < G; h++)
                s[h] = 0.0;
            for (uint d = 0; d < D4; d++) {
                vec4 kk = vec4(k[row + d]);
                for (uint h = 0; h < G; h++)
                    s[h] += dot(qs[h * D4 + d], kk);
            }
            for (uint h = 0; h < G; h++)
                sc[h * BLOCK_SIZE + tid] = s[h];
        }
        barrier();

        // (2) tile max of head h, part pt
        if (tid < G * NP) {
            uint h = tid / NP, pt = tid % NP;
            float m = LOWEST;
            for (uint j = pt; j < n; j += NP)
                m = max(m, sc[h * BLOCK_SIZE + j]);
            part_max[tid] = m;
        }
        barrier();

        // (3) probabilities relative to the new running max, part sums
        if (tid < G * NP) {
            uint h = tid / NP, pt = tid % NP;
            float m = new_max(h, run_max[cur * G + h]);
            float sum = 0.0;
            for (uint j = pt; j < n; j += NP) {
                float e = exp(sc[h * BLOCK_SIZE + j] - m);
                sc[h * BLOCK_SIZE + j] = e;
                sum += e;
            }
            part_sum[tid] = sum;
        }
        barrier();

        // (4) rescale the accumulators and add this tile's Σ p·v
        for (uint s = 0; s < SLOTS; s++) {
            uint o = o_first + s * BLOCK_SIZE;
            if (o >= OUT4 || kgroup >= KSPLIT)
                continue;
            uint h = o / D4, d = o % D4;
            float m_old = run_max[cur * G + h];
            vec4 a = acc[s] * exp(m_old - new_max(h, m_old));
            for (uint j = kgroup; j < n; j += KSPLIT)
                a += sc[h * BLOCK_SIZE + j] * vec4(v[(c + j) * kv_row4 + kv_off4 + d]);
            acc[s] = a;
        }
        if (tid < G) {
            float m_old = run_max[cur * G + tid];
            float m = new_max(tid, m_old);
            float sum = 0.0;
            for (uint i = 0; i < NP; i++)
                sum += part_sum[tid * NP + i];
            run_sum[tid] = run_sum[tid] * exp(m_old - m) + sum;
            run_max[(cur ^ 1) * G + tid] = m;
        }
        cur ^= 1;
        barrier();
    }

    // Merge the KSPLIT key groups of each output.
    if (KSPLIT > 1) {
        o_merge[tid] = acc[0];
        barrier();
        if (tid < OUT4) {
            vec4 a = vec4(0.0);
            for (uint g = 0; g < KSPLIT; g++)
                a += o_merge[g * OUT4 + tid];
            acc[0] = a;
        }
    }

    uint n_slots = KSPLIT > 1 ? 1 : SLOTS;
    for (uint s = 0; s < n_slots; s++) {
        uint o = tid + s * BLOCK_SIZE;
        if (o >= OUT4)
            continue;
        uint h = o / D4, d = o % D4;
        uint head = kvh * G + h;
        float l = run_sum[h];
        if (p.n_splits == 1) {
            vec4 r = l > 0.0 ? acc[s] / l : vec4(0.0);
            uint at = (t * p.n_heads + head) * HEAD_DIM + 4 * d;
            out_[at] = r.x;
            out_[at + 1] = r.y;
            out_[at + 2] = r.z;
            out_[at + 3] = r.w;
        } else {
            uint part = (t * p.n_heads + head) * p.n_splits + split;
            uint at = part * HEAD_DIM + 4 * d;
            out_[at] = acc[s].x;
            out_[at + 1] = acc[s].y;
            out_[at + 2] = acc[s].z;
            out_[at + 3] = acc[s].w;
            if (d == 0) {
                uint ml = p.n_q * p.n_heads * p.n_splits * HEAD_DIM + 2 * part;
                out_[ml] = run_max[cur * G + h];
                out_[ml + 1] = l;
            }
        }
    }
}
