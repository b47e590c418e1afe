#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_samplerless_texture_functions : require
// Matrix × vector: y[v][r] = Σ_k W[r][k] · x[v][k] (+ b[r]), fp32 accumulation.
//   PyTorch: torch.nn.functional.linear(x, W, b) for one token (HF nn.Linear in
//   Qwen2Attention / Qwen2MLP / lm_head during decode), W dequantized on the fly.
// Bindings: 0 W [n_rows, n_cols] in the type of DATA_A_<TYPE>, a uniform texel
//             buffer of 16-byte units (layout binding 8, see vk.h): the view
//             extends to a multiple of 16 bytes;
//           1 x [n_vecs, n_cols] f32, a texel buffer too (layout binding 9);
//           2 b [n_rows] f32 (read only when has_bias);
//           3 y [n_vecs, y_stride] f32 (this window's rows start at y[0]);
//           this dispatch does vectors v0 .. v0 + NUM_VECS - 1.
// Grid: one workgroup per NUM_ROWS rows (flat over x, y); the BLOCK_SIZE
//   invocations split each row's columns into groups of GROUP_K elements,
//   group g going to invocation g % BLOCK_SIZE, and each invocation keeps
//   NUM_ROWS × NUM_VECS partial sums, reduced across the workgroup at the end.
//
// Why texel buffers of 16-byte units and not types.glsl's 16-bit storage
// loads: on llvmpipe every storage-buffer access is a loop over the 8 SIMD
// lanes, one scalar load per lane and component (about 20 cycles each, so
// about 1 GB/s whatever the kernel), while a texel fetch gathers 16 bytes a
// lane in a few vector instructions (10× faster). On GPUs a 16-byte fetch per
// invocation is as wide as a load gets. Quant blocks are not
// 16-byte aligned (34, 18, 210 bytes), so a group is read as the units that
// cover it and shifted into block-aligned words (load_group below), unless
// ALIGNED_GROUPS says every group starts on a unit.
// Each x value is loaded once per group and used for all NUM_ROWS rows (x is
// f32: 4 bytes a column, more than the weights of any quantized type).
// Loops over vectors are unrolled (x of a group lives in registers); the loop
// over rows is not (it would multiply the code by NUM_ROWS: llvmpipe's compile
// time grows faster than the code).

layout(constant_id = 0) const uint BLOCK_SIZE = 32;     // invocations per workgroup (power of two)
layout(constant_id = 1) const uint NUM_ROWS = 4;        // rows per workgroup
layout(constant_id = 2) const uint NUM_VECS = 1;        // vectors per dispatch (1..8)
layout(local_size_x_id = 0) in;

layout(binding = 8) uniform utextureBuffer w_units;  // binding 0 as a texel buffer
layout(binding = 9) uniform utextureBuffer x_units;  // binding 1 as a texel buffer
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint n_rows;     // rows in this window (W, b and y start at its first row)
    uint n_cols;
    uint row_bytes;  // bytes of one row of W
    uint y_stride;   // elements from one vector's y to the next
    uint has_bias;
    uint v0;         // first vector of this dispatch
} p;

// Per type: GROUP_K elements per group, GROUP_BYTES bytes, MAX_UNITS units
// that cover a group wherever it starts (an even byte offset).
#if defined(DATA_A_F32)
#define GROUP_K 4
#define GROUP_BYTES 16
#elif defined(DATA_A_F16) || defined(DATA_A_BF16)
#define GROUP_K 8
#define GROUP_BYTES 16
#elif defined(DATA_A_Q8_0)
#define BLOCK_BYTES 34
#elif defined(DATA_A_Q4_0)
#define BLOCK_BYTES 18
#elif defined(DATA_A_Q4_K)
#define GROUP_K 256
#define GROUP_BYTES 144
#elif defined(DATA_A_Q6_K)
#define GROUP_K 256
#define GROUP_BYTES 210
#else
#error "matvec.comp: define one DATA_A_<TYPE>"
#endif
#ifdef BLOCK_BYTES  // Q8_0 / Q4_0: GROUP_BLOCKS blocks of 32 a group (1, or 8 to make 16-byte units)
#ifndef GROUP_BLOCKS
#define GROUP_BLOCKS 1
#endif
#define GROUP_K (32 * GROUP_BLOCKS)
#define GROUP_BYTES (BLOCK_BYTES * GROUP_BLOCKS)
#endif
// With 16-byte groups (float types, Q4_K, eight Q8_0 / Q4_0 blocks) and rows
// of whole groups, every group starts on a unit; otherwise at any even offset.
#define ALIGNED_GROUPS (GROUP_BYTES % 16 == 0)
#define MAX_UNITS ((GROUP_BYTES + 14 + 15) / 16)
#define GROUP_WORDS ((GROUP_BYTES + 3) / 4)

#include "reduce.glsl"

// Arrays are locals passed as parameters: after inlining, NIR turns local
// arrays read with constant indices into registers. (Parameters have
// constant sizes: glslang mismatches spec-constant-sized ones.)
#define MAX_VECS 8
#define RAW_WORDS (4 * MAX_UNITS + 4)  // the units covering a group (+ a word shifted_word may touch)

// Word j of raw shifted down by s bytes (s even, 0..14): byte 4j + s onward.
uint shifted_word(uint raw[RAW_WORDS], uint j, uint s)
{
    uint q = s / 4;
    // constant indices only: a dynamically indexed local array would leave
    // the registers (see the note on acc in main)
    uint lo = q == 0 ? raw[j] : q == 1 ? raw[j + 1] : q == 2 ? raw[j + 2] : raw[j + 3];
    uint hi = q == 0 ? raw[j + 1] : q == 1 ? raw[j + 2] : q == 2 ? raw[j + 3] : raw[j + 4];
    return (s & 2) == 0 ? lo : (lo >> 16) | (hi << 16);
}

// Fills gw with the GROUP_BYTES bytes at byte offset b of W (b even).
void load_group(uint b, out uint gw[GROUP_WORDS])
{
    uint raw[RAW_WORDS];
    uint u0 = b / 16;
#if ALIGNED_GROUPS
    {
        [[unroll]] for (uint u = 0; u < (GROUP_BYTES + 15) / 16; u++) {
            uvec4 v = texelFetch(w_units, int(u0 + u));
            raw[4 * u] = v.x; raw[4 * u + 1] = v.y; raw[4 * u + 2] = v.z; raw[4 * u + 3] = v.w;
        }
        [[unroll]] for (uint j = 0; j < GROUP_WORDS; j++)
            gw[j] = raw[j];
    }
#else
    {
        uint s = b % 16, last = uint(textureSize(w_units)) - 1;
        // the last unit may lie past the group (and past the binding): clamp
        raw[4 * MAX_UNITS] = 0;
        [[unroll]] for (uint u = 0; u < MAX_UNITS; u++) {
            uvec4 v = texelFetch(w_units, int(min(u0 + u, last)));
            raw[4 * u] = v.x; raw[4 * u + 1] = v.y; raw[4 * u + 2] = v.z; raw[4 * u + 3] = v.w;
        }
        [[unroll]] for (uint j = 0; j < GROUP_WORDS; j++)
            gw[j] = shifted_word(raw, j, s);
    }
#endif
}

// The 4 bytes of group byte offset c (c even, a constant) as one word.
uint gword(uint gw[GROUP_WORDS], uint c)
{
    return (c % 4) == 0 ? gw[c / 4] : (gw[c / 4] >> 16) | (gw[c / 4 + 1] << 16);
}

vec4 sbytes4(uint w)  // the four bytes of w as signed values
{
    return vec4(ivec4(w << 24, w << 16, w << 8, w) >> 24);
}

vec4 nibbles_lo(uint w) { return vec4(uvec4(w, w >> 8, w >> 16, w >> 24) & 15u); }
vec4 nibbles_hi(uint w) { return vec4(uvec4(w >> 4, w >> 12, w >> 20, w >> 28) & 15u); }

// x of group element 4q..4q+3 for vector v
#define XG(v, q) xg[(v) * (GROUP_K / 4) + (q)]

// part[v] = Σ over the group of w · x[v]: dequantization inline (the layouts
// of model/types.c / shared/reference vulkan-compute.md §3.4), on words.
void dot_group(uint gw[GROUP_WORDS], vec4 xg[MAX_VECS * GROUP_K / 4], out float part[MAX_VECS])
{
    [[unroll]] for (uint v = 0; v < NUM_VECS; v++)
        part[v] = 0.0;
#if defined(DATA_A_F32)
    vec4 a = uintBitsToFloat(uvec4(gw[0], gw[1], gw[2], gw[3]));
    [[unroll]] for (uint v = 0; v < NUM_VECS; v++)
        part[v] = dot(a, XG(v, 0));
#elif defined(DATA_A_F16)
    vec4 a = vec4(unpackHalf2x16(gw[0]), unpackHalf2x16(gw[1]));
    vec4 c = vec4(unpackHalf2x16(gw[2]), unpackHalf2x16(gw[3]));
    [[unroll]] for (uint v = 0; v < NUM_VECS; v++)
        part[v] = dot(a, XG(v, 0)) + dot(c, XG(v, 1));
#elif defined(DATA_A_BF16)
    // bf16 → f32 is the 16 bits moved to the top
    vec4 a = uintBitsToFloat(uvec4(gw[0] << 16, gw[0] & 0xffff0000u, gw[1] << 16, gw[1] & 0xffff0000u));
    vec4 c = uintBitsToFloat(uvec4(gw[2] << 16, gw[2] & 0xffff0000u, gw[3] << 16, gw[3] & 0xffff0000u));
    [[unroll]] for (uint v = 0; v < NUM_VECS; v++)
        part[v] = dot(a, XG(v, 0)) + dot(c, XG(v, 1));
#elif defined(DATA_A_Q8_0)
    // block: f16 d, int8 qs[32]; x = d · qs[j]
    [[unroll]] for (uint blk = 0; blk < GROUP_BLOCKS; blk++) {
        uint o = BLOCK_BYTES * blk;
        float d = unpackHalf2x16(gword(gw, o)).x;
        vec4 q[8];
        [[unroll]] for (uint m = 0; m < 8; m++)
            q[m] = sbytes4(gword(gw, o + 2 + 4 * m));
        [[unroll]] for (uint v = 0; v < NUM_VECS; v++) {
            float s = 0.0;
            [[unroll]] for (uint m = 0; m < 8; m++)
                s += dot(q[m], XG(v, 8 * blk + m));
            part[v] += d * s;
        }
    }
#elif defined(DATA_A_Q4_0)
    // block: f16 d, u8 qs[16]; x[j] = d · ((qs[j] & 15) - 8), x[j + 16] = d · ((qs[j] >> 4) - 8)
    [[unroll]] for (uint blk = 0; blk < GROUP_BLOCKS; blk++) {
        uint o = BLOCK_BYTES * blk;
        float d = unpackHalf2x16(gword(gw, o)).x;
        vec4 lo[4], hi[4];
        [[unroll]] for (uint m = 0; m < 4; m++) {
            uint w = gword(gw, o + 2 + 4 * m);
            lo[m] = nibbles_lo(w) - 8.0;
            hi[m] = nibbles_hi(w) - 8.0;
        }
        [[unroll]] for (uint v = 0; v < NUM_VECS; v++) {
            float s = 0.0;
            [[unroll]] for (uint m = 0; m < 4; m++)
                s += dot(lo[m], XG(v, 8 * blk + m)) + dot(hi[m], XG(v, 8 * blk + 4 + m));
            part[v] += d * s;
        }
    }
#elif defined(DATA_A_Q4_K)
    // block: f16 d, f16 dmin, u8 scales[12], u8 qs[128]; 8 sub-blocks of 32:
    // x = d · sc · q - dmin · m; chunk c (64 elements) takes the low nibbles of
    // qs[32c..32c+31] for sub-block 2c and the high ones for 2c + 1.
    vec2 dm = unpackHalf2x16(gw[0]);
    uint sc_lo = gw[1], sc_mid = gw[2], sc_hi = gw[3];  // scales bytes 0..3, 4..7, 8..11
    [[unroll]] for (uint c = 0; c < 4; c++) {
        // 6-bit scale and min of sub-blocks 2c and 2c + 1 (get_scale_min_k4)
        float sc[2], mn[2];
        [[unroll]] for (uint h = 0; h < 2; h++) {
            uint j = 2 * c + h;
            if (j < 4) {
                sc[h] = float((sc_lo >> (8 * j)) & 63u);
                mn[h] = float((sc_mid >> (8 * j)) & 63u);
            } else {
                uint b = (sc_hi >> (8 * (j - 4))) & 0xffu;
                sc[h] = float((b & 15u) | (((sc_lo >> (8 * (j - 4))) >> 6 & 3u) << 4));
                mn[h] = float((b >> 4) | (((sc_mid >> (8 * (j - 4))) >> 6 & 3u) << 4));
            }
        }
        vec4 lo[8], hi[8];
        [[unroll]] for (uint m = 0; m < 8; m++) {
            uint w = gw[4 + 8 * c + m];
            lo[m] = nibbles_lo(w);
            hi[m] = nibbles_hi(w);
        }
        [[unroll]] for (uint v = 0; v < NUM_VECS; v++) {
            float s0 = 0.0, s1 = 0.0;
            vec4 x0 = vec4(0.0), x1 = vec4(0.0);
            [[unroll]] for (uint m = 0; m < 8; m++) {
                vec4 xa = XG(v, 16 * c + m), xb = XG(v, 16 * c + 8 + m);
                s0 += dot(lo[m], xa);
                s1 += dot(hi[m], xb);
                x0 += xa;
                x1 += xb;
            }
            float xs0 = x0.x + x0.y + x0.z + x0.w, xs1 = x1.x + x1.y + x1.z + x1.w;
            part[v] += dm.x * (sc[0] * s0 + sc[1] * s1) - dm.y * (mn[0] * xs0 + mn[1] * xs1);
        }
    }
#elif defined(DATA_A_Q6_K)
    // block: u8 ql[128], u8 qh[64], int8 scales[16], f16 d; per half h (128
    // elements) and l in 0..31: q(l + 32k) = 4 bits of ql[64h + l + 32(k & 1)]
    // (low nibble for k < 2) | 2 bits (2k) of qh[32h + l] << 4, minus 32;
    // x = d · scales[element / 16] · q.
    float d = unpackHalf2x16(gword(gw, 208)).x;
    [[unroll]] for (uint h = 0; h < 2; h++) {
        [[unroll]] for (uint k = 0; k < 4; k++) {
            // elements 128h + 32k + 0..31: sub-blocks 8h + 2k and 8h + 2k + 1
            vec4 q[8];
            [[unroll]] for (uint m = 0; m < 8; m++) {
                uint l4 = 4 * m;  // l = l4..l4+3
                uint ql = gw[(64 * h + 32 * (k & 1) + l4) / 4] >> (4 * (k / 2)) & 0x0f0f0f0fu;
                uint qh = gw[(128 + 32 * h + l4) / 4] >> (2 * k) & 0x03030303u;
                uint b = ql | (qh << 4);
                q[m] = vec4(uvec4(b, b >> 8, b >> 16, b >> 24) & 63u) - 32.0;
            }
            uint sw = gword(gw, 192 + 8 * h + 2 * k);  // scales[8h + 2k], [8h + 2k + 1] in the low bytes
            float s_a = float(int(sw << 24) >> 24), s_b = float(int(sw << 16) >> 24);
            [[unroll]] for (uint v = 0; v < NUM_VECS; v++) {
                float ta = 0.0, tb = 0.0;
                [[unroll]] for (uint m = 0; m < 4; m++) {
                    ta += dot(q[m], XG(v, 32 * h + 8 * k + m));
                    tb += dot(q[m + 4], XG(v, 32 * h + 8 * k + 4 + m));
                }
                part[v] += d * (s_a * ta + s_b * tb);
            }
        }
    }
#endif
}

// per subgroup (at most BLOCK_SIZE of them), or per invocation for the tree
shared float sums[NUM_ROWS * NUM_VECS][BLOCK_SIZE];

// Value a of the workgroup: row r0 + a / NUM_VECS, vector a % NUM_VECS.
void write_y(uint r0, uint a, float sum)
{
    uint r = r0 + a / NUM_VECS, v = a % NUM_VECS;
    if (r < p.n_rows)
        y[(p.v0 + v) * p.y_stride + r] = sum + (p.has_bias != 0 ? bias[r] : 0.0);
}

void main()
{
    uint r0 = flat_group_id() * NUM_ROWS;
    if (r0 >= p.n_rows)
        return;
    uint tid = gl_LocalInvocationIndex, rows_here = min(NUM_ROWS, p.n_rows - r0);
    float acc[NUM_ROWS * NUM_VECS];  // partial sums: row i, vector v at i * NUM_VECS + v
    vec4 xg[MAX_VECS * GROUP_K / 4];  // x of the current group, per vector (NUM_VECS used)
    uint gw[GROUP_WORDS];             // the current group of a row, as words
    float part[MAX_VECS];             // its dot products
    for (uint a = 0; a < NUM_ROWS * NUM_VECS; a++)
        acc[a] = 0.0;

    uint n_groups = p.n_cols / GROUP_K;
    for (uint g = tid; g < n_groups; g += BLOCK_SIZE) {
        [[unroll]] for (uint v = 0; v < NUM_VECS; v++)
            [[unroll]] for (uint q = 0; q < GROUP_K / 4; q++)
                XG(v, q) = uintBitsToFloat(texelFetch(x_units, int(((p.v0 + v) * p.n_cols + g * GROUP_K) / 4 + q)));
        // a loop of unknown length: NIR would unroll a constant one, multiplying
        // the code by NUM_ROWS (llvmpipe then takes seconds to compile it)
        for (uint i = 0; i < rows_here; i++) {
            load_group((r0 + i) * p.row_bytes + g * GROUP_BYTES, gw);
            dot_group(gw, xg, part);
            [[unroll]] for (uint v = 0; v < NUM_VECS; v++)
                acc[i * NUM_VECS + v] += part[v];
        }
    }

    // acc is read with constant indices: indexing it by tid here would put
    // the whole array in memory on llvmpipe, the hot loop included (-30%)
#ifdef USE_SUBGROUP
    for (uint a = 0; a < NUM_ROWS * NUM_VECS; a++) {
        float s = subgroupAdd(acc[a]);
        if (gl_SubgroupInvocationID == 0)
            sums[a][gl_SubgroupID] = s;
    }
    barrier();
    for (uint a = tid; a < NUM_ROWS * NUM_VECS; a += BLOCK_SIZE) {
        float s = 0.0;
        for (uint sg = 0; sg < gl_NumSubgroups; sg++)
            s += sums[a][sg];
        write_y(r0, a, s);
    }
#else
    for (uint a = 0; a < NUM_ROWS * NUM_VECS; a++)
        sums[a][tid] = acc[a];
    barrier();
    for (uint h = BLOCK_SIZE / 2; h > 0; h >>= 1) {
        if (tid < h)
            for (uint a = 0; a < NUM_ROWS * NUM_VECS; a++)
                sums[a][tid] += sums[a][tid + h];
        barrier();
    }
    for (uint a = tid; a < NUM_ROWS * NUM_VECS; a += BLOCK_SIZE)
        write_y(r0, a, sums[a][0]);
#endif
}
