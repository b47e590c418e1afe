// Tensor element types for shaders that read weights: the block layouts of
// model/types.c (ggml's, shared/reference vulkan-compute.md §3.4) and their
// dequantization, checked against mor_ref_dequantize_row().
//
// Contract. Before `#include "types.glsl"` define exactly one of DATA_A_F32,
// DATA_A_F16, DATA_A_BF16, DATA_A_Q8_0, DATA_A_Q4_0, DATA_A_Q4_K, DATA_A_Q6_K,
// and A_BINDING, the binding of the weights. The file then declares
//     layout(std430, binding = A_BINDING) readonly buffer A { A_TYPE data_a[]; };
// and:
//     QUANT_K                elements per data_a[] entry (1, 32 or 256)
//     float dequant1(uint i) element i, counted from the start of the binding
//     vec4 dequant4(uint i)  elements i..i+3; for block types i % 4 == 0 (true
//                            whenever a row of n_cols, a multiple of QUANT_K,
//                            is read in steps of 4); any i for float types
// dequant4 is the fast form: one scale fetch and two 16-bit loads per 4 values.
// Indices are 32-bit, so one binding holds at most 2^32 elements; ops split
// bigger tensors into windows of at most max_storage_range bytes anyway.
//
// Storage: every block is a whole number of 16-bit words (34, 18, 144, 210
// bytes), so blocks are declared with 16-bit members only and read through
// 16-bit storage, which mor requires. 8-bit storage (absent on some GPUs) is
// not needed. Values are widened to 32 bits right after the load (conversions
// only), so neither shaderInt16 nor shaderFloat16 is needed either. Bytes are
// taken out of the words little-endian: byte 2k is the low half of word k.
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types : require

// Q8_0: x = d · qs[j]                                              34 bytes
struct block_q8_0 {
    float16_t d;
    uint16_t qs[16];    // int8 qs[32], two a word
};

// Q4_0: x[j] = d · ((qs[j] & 15) - 8), x[j + 16] = d · ((qs[j] >> 4) - 8)   18 bytes
struct block_q4_0 {
    float16_t d;
    uint16_t qs[8];     // u8 qs[16]
};

// Q4_K: 8 sub-blocks of 32, each with a 6-bit scale sc and min m packed in
// scales[12]; x = d · sc · q - dmin · m. Chunk c (64 elements) takes the low
// nibbles of qs[32c..32c+31] for sub-block 2c, the high ones for 2c + 1.  144 bytes
struct block_q4_k {
    float16_t d;
    float16_t dmin;
    uint16_t scales[6]; // u8 scales[12]
    uint16_t qs[64];    // u8 qs[128]
};

// Q6_K: 16 sub-blocks of 16 with int8 scales; q = 6 bits (4 in ql, 2 in qh)
// minus 32; x = d · scales[i / 16] · q. d comes last.              210 bytes
struct block_q6_k {
    uint16_t ql[64];    // u8 ql[128]
    uint16_t qh[32];    // u8 qh[64]
    uint16_t scales[8]; // int8 scales[16]
    float16_t d;
};

#if defined(DATA_A_F32)
#define A_TYPE float
#define QUANT_K 1
#elif defined(DATA_A_F16)
#define A_TYPE float16_t
#define QUANT_K 1
#elif defined(DATA_A_BF16)
#define A_TYPE uint16_t
#define QUANT_K 1
#elif defined(DATA_A_Q8_0)
#define A_TYPE block_q8_0
#define QUANT_K 32
#elif defined(DATA_A_Q4_0)
#define A_TYPE block_q4_0
#define QUANT_K 32
#elif defined(DATA_A_Q4_K)
#define A_TYPE block_q4_k
#define QUANT_K 256
#elif defined(DATA_A_Q6_K)
#define A_TYPE block_q6_k
#define QUANT_K 256
#else
#error "types.glsl: define one DATA_A_<TYPE>"
#endif

#ifndef A_BINDING
#error "types.glsl: define A_BINDING, the binding of the weights"
#endif

layout(std430, binding = A_BINDING) readonly buffer A { A_TYPE data_a[]; };

// Four bytes, from two consecutive 16-bit words.
#define A_WORD32(arr, w) (uint(arr[w]) | (uint(arr[(w) + 1]) << 16))

// Byte k (0..3) of a 32-bit word as signed int.
int unpack_s8(uint w, uint k)
{
    return bitfieldExtract(int(w), int(8 * k), 8);
}

// The four bytes of w as a vec4 (unsigned).
vec4 unpack_u8x4(uint w)
{
    return vec4(w & 0xffu, (w >> 8) & 0xffu, (w >> 16) & 0xffu, w >> 24);
}

#if defined(DATA_A_F32)

float dequant1(uint i) { return data_a[i]; }
vec4 dequant4(uint i) { return vec4(data_a[i], data_a[i + 1], data_a[i + 2], data_a[i + 3]); }

#elif defined(DATA_A_F16)

float dequant1(uint i) { return float(data_a[i]); }
vec4 dequant4(uint i)
{
    return vec4(float(data_a[i]), float(data_a[i + 1]), float(data_a[i + 2]), float(data_a[i + 3]));
}

#elif defined(DATA_A_BF16)

// (takes the widened word: a uint16_t parameter would need shaderInt16)
float bf16_to_f32(uint h) { return uintBitsToFloat(h << 16); }
float dequant1(uint i) { return bf16_to_f32(uint(data_a[i])); }
vec4 dequant4(uint i)
{
    return vec4(bf16_to_f32(uint(data_a[i])), bf16_to_f32(uint(data_a[i + 1])),
                bf16_to_f32(uint(data_a[i + 2])), bf16_to_f32(uint(data_a[i + 3])));
}

#elif defined(DATA_A_Q8_0)

float dequant1(uint i)
{
    uint ib = i / 32, j = i % 32;
    return float(data_a[ib].d) * float(unpack_s8(uint(data_a[ib].qs[j / 2]), j % 2));
}

vec4 dequant4(uint i)
{
    uint ib = i / 32, j = i % 32;
    uint w = A_WORD32(data_a[ib].qs, j / 2);
    return float(data_a[ib].d) * vec4(unpack_s8(w, 0), unpack_s8(w, 1), unpack_s8(w, 2), unpack_s8(w, 3));
}

#elif defined(DATA_A_Q4_0)

float dequant1(uint i)
{
    uint ib = i / 32, j = i % 32;
    uint b = j % 16;
    uint q = (uint(data_a[ib].qs[b / 2]) >> (8 * (b % 2) + 4 * (j / 16))) & 0xfu;
    return float(data_a[ib].d) * (float(q) - 8.0);
}

vec4 dequant4(uint i)
{
    uint ib = i / 32, j = i % 32;
    // elements j..j+3 are the low (j < 16) or high nibbles of bytes j % 16 ..
    uint w = (A_WORD32(data_a[ib].qs, (j % 16) / 2) >> (4 * (j / 16))) & 0x0f0f0f0fu;
    return float(data_a[ib].d) * (unpack_u8x4(w) - 8.0);
}

#elif defined(DATA_A_Q4_K)

// Byte k of scales[12].
uint q4_k_scale_byte(uint ib, uint k)
{
    return (uint(data_a[ib].scales[k / 2]) >> (8 * (k % 2))) & 0xffu;
}

// Scale and min of sub-block j (0..7): j < 4: the low 6 bits of bytes j and
// j + 4; j ≥ 4: a nibble of byte j + 4 under the top 2 bits of byte j - 4
// (scale) or j (min).
void q4_k_scale_min(uint ib, uint j, out float sc, out float m)
{
    if (j < 4) {
        sc = float(q4_k_scale_byte(ib, j) & 63u);
        m = float(q4_k_scale_byte(ib, j + 4) & 63u);
    } else {
        uint b = q4_k_scale_byte(ib, j + 4);
        sc = float((b & 15u) | ((q4_k_scale_byte(ib, j - 4) >> 6) << 4));
        m = float((b >> 4) | ((q4_k_scale_byte(ib, j) >> 6) << 4));
    }
}

float dequant1(uint i)
{
    uint ib = i / 256, j = i % 256;
    uint c = j / 64, hi = (j / 32) % 2, l = j % 32;
    float sc, m;
    q4_k_scale_min(ib, 2 * c + hi, sc, m);
    uint b = 32 * c + l;
    uint q = (uint(data_a[ib].qs[b / 2]) >> (8 * (b % 2) + 4 * hi)) & 0xfu;
    return float(data_a[ib].d) * sc * float(q) - float(data_a[ib].dmin) * m;
}

vec4 dequant4(uint i)
{
    uint ib = i / 256, j = i % 256;
    uint c = j / 64, hi = (j / 32) % 2, l = j % 32;
    float sc, m;
    q4_k_scale_min(ib, 2 * c + hi, sc, m);
    uint w = (A_WORD32(data_a[ib].qs, (32 * c + l) / 2) >> (4 * hi)) & 0x0f0f0f0fu;
    return float(data_a[ib].d) * sc * unpack_u8x4(w) - float(data_a[ib].dmin) * m;
}

#elif defined(DATA_A_Q6_K)

// Element j of a block: half h = j / 128; in it p = j % 128 is l + 32k. The low
// 4 bits are the low (k < 2) or high nibble of ql[64h + l + 32 (k & 1)], the top
// 2 bits are bits 2k..2k+1 of qh[32h + l].
float q6_k_scale(uint ib, uint s)
{
    return float(unpack_s8(uint(data_a[ib].scales[s / 2]), s % 2));
}

float dequant1(uint i)
{
    uint ib = i / 256, j = i % 256;
    uint h = j / 128, k = (j % 128) / 32, l = j % 32;
    uint bl = 64 * h + 32 * (k % 2) + l, bh = 32 * h + l;
    uint lo = (uint(data_a[ib].ql[bl / 2]) >> (8 * (bl % 2) + 4 * (k / 2))) & 0xfu;
    uint up = (uint(data_a[ib].qh[bh / 2]) >> (8 * (bh % 2) + 2 * k)) & 0x3u;
    return float(data_a[ib].d) * q6_k_scale(ib, j / 16) * (float(lo | (up << 4)) - 32.0);
}

vec4 dequant4(uint i)
{
    uint ib = i / 256, j = i % 256;
    uint h = j / 128, k = (j % 128) / 32, l = j % 32;
    uint lo = (A_WORD32(data_a[ib].ql, (64 * h + 32 * (k % 2) + l) / 2) >> (4 * (k / 2))) & 0x0f0f0f0fu;
    uint up = (A_WORD32(data_a[ib].qh, (32 * h + l) / 2) >> (2 * k)) & 0x03030303u;
    return float(data_a[ib].d) * q6_k_scale(ib, j / 16) * (unpack_u8x4(lo | (up << 4)) - 32.0);
}

#endif
