// Loads for matmul.comp: the bias, and 4 consecutive values along K of one w
// row or x row as each variant reads them. Include after types.glsl, the X
// and Bias bindings and the push constants p (M, K, m0, has_bias).

// bias[m0 + m], or 0 without a bias (m may be past M: clamped, unused).
float row_bias(uint m)
{
    return p.has_bias != 0 ? bias[p.m0 + min(m, p.M - 1)] : 0.0;
}

#ifndef USE_SUBGROUP
// Shared-memory variant: types.glsl's dequant4, element by element at the
// end of a row whose K is not a multiple of 4.

// w[row, k..k+3] (row_elem = row·K) as f32; elements at k ≥ K read as 0. For
// block types K is a multiple of the block size, so the 4 are all in or all out.
vec4 w4_checked(uint row_elem, uint k)
{
    if (k + 4 <= p.K)
        return dequant4(row_elem + k);
#if QUANT_K == 1
    vec4 v = vec4(0.0);
    [[unroll]] for (uint c = 0; c < 4; c++)
        if (k + c < p.K)
            v[c] = dequant1(row_elem + k + c);
    return v;
#else
    return vec4(0.0);
#endif
}

// x[row, k..k+3] (row_elem = row·K), 0 past K.
vec4 x4_checked(uint row_elem, uint k)
{
    vec4 v = vec4(0.0);
    [[unroll]] for (uint c = 0; c < 4; c++)
        if (k + c < p.K)
            v[c] = x[row_elem + k + c];
    return v;
}

#else
// Weight loads for the subgroup variant (see matmul.comp). On llvmpipe a load
// costs the same per lane for 16, 32 or 64 bits, so they go 64 bits at a time
// where the layout allows: f16/bf16 weights 4 values a load, f32 weights and
// x 2; quant values 4 to a load (one 64-bit word, two where the 4 bytes
// straddle words), and the scales of each GROUP_K values once per group
// rather than per value: group_scale() then w4_group() for each 4 values.
// e = row·K + k counts elements from the start of the binding, k % 4 == 0,
// K % 4 == 0; the views start 8-byte aligned and w's size is a multiple of 8.

layout(std430, binding = 0) readonly buffer A64 { uint64_t a64[]; };
layout(std430, binding = 1) readonly buffer X64 { uint64_t x64[]; };

vec2 f32x2(uint64_t v) { return uintBitsToFloat(unpackUint2x32(v)); }

// The 4 bytes of w as signed / unsigned values, byte 0 first.
vec4 s8x4(uint w) { return vec4(ivec4(uvec4(w) << uvec4(24, 16, 8, 0)) >> 24); }
vec4 u8x4(uint w) { return vec4((uvec4(w) >> uvec4(0, 8, 16, 24)) & 0xffu); }

vec4 x4_packed(uint e)
{
    return vec4(f32x2(x64[e / 2]), f32x2(x64[e / 2 + 1]));
}

// Up to 4 bytes of w from byte offset b of the binding that stay within one
// 64-bit word, little-endian, in the low bits.
uint w_word_bytes(uint b)
{
    return uint(a64[b / 8] >> (8 * (b % 8)));
}

// The f16 at byte offset b (even) of w.
float w_half(uint b)
{
    return unpackHalf2x16(w_word_bytes(b)).x;
}

// The 4 bytes of w at byte offset b (even) of the binding, little-endian.
uint w_bytes4(uint b)
{
    const uint sh = 8 * (b % 8);
    uint64_t v = a64[b / 8] >> sh;
    if (sh > 32)
        v |= a64[b / 8 + 1] << (64 - sh);
    return uint(v);
}

#if QUANT_K == 1
#define GROUP_K p.K     // float types: no scales
vec2 group_scale(uint e) { return vec2(0.0); }

vec4 w4_group(uint e, vec2 scale)
{
#if defined(DATA_A_F32)
    return vec4(f32x2(a64[e / 2]), f32x2(a64[e / 2 + 1]));
#elif defined(DATA_A_F16)
    uvec2 u = unpackUint2x32(a64[e / 4]);
    return vec4(unpackHalf2x16(u.x), unpackHalf2x16(u.y));
#else // DATA_A_BF16
    uvec2 u = unpackUint2x32(a64[e / 4]);
    return uintBitsToFloat(uvec4(u.x << 16, u.x & 0xffff0000u, u.y << 16, u.y & 0xffff0000u));
#endif
}

#elif defined(DATA_A_Q8_0)
#define GROUP_K 32u     // a block: x = d · q
vec2 group_scale(uint e) { return vec2(w_half(34 * (e / 32)), 0.0); }

vec4 w4_group(uint e, vec2 scale)
{
    uint w = w_bytes4(34 * (e / 32) + 2 + e % 32);
    return scale.x * s8x4(w);
}

#elif defined(DATA_A_Q4_0)
#define GROUP_K 32u     // a block: x = d · (q - 8), q the low nibbles of bytes 0..15, then the high
vec2 group_scale(uint e) { return vec2(w_half(18 * (e / 32)), 0.0); }

vec4 w4_group(uint e, vec2 scale)
{
    uint j = e % 32;
    uint w = (w_bytes4(18 * (e / 32) + 2 + j % 16) >> (4 * (j / 16))) & 0x0f0f0f0fu;
    return scale.x * (u8x4(w) - 8.0);
}

#elif defined(DATA_A_Q4_K)
#define GROUP_K 32u     // a sub-block: x = (d·sc) · q - dmin·m
// Blocks of 144 bytes stay 8-aligned: word 0 holds d, dmin and scales[0..3],
// word 1 scales[4..11]. Sub-block j's 6-bit scale sc and min m: j < 4: the
// low 6 bits of scales[j] and [j + 4]; j ≥ 4: the low / high nibble of
// scales[j + 4] under the top 2 bits of scales[j - 4] / [j].
vec2 group_scale(uint e)
{
    uint b = 144 * (e / 256), j = (e % 256) / 32;
    uvec2 w0 = unpackUint2x32(a64[b / 8]);
    uint64_t s = uint64_t(w0.y) | (a64[b / 8 + 1] << 32);   // scales[0..7]
    uint hi = uint(a64[b / 8 + 1] >> 32);                   // scales[8..11]
    uint sc, m;
    if (j < 4) {
        sc = uint(s >> (8 * j)) & 63u;
        m = uint(s >> (8 * j + 32)) & 63u;
    } else {
        uint q = hi >> (8 * (j - 4));
        sc = (q & 15u) | ((uint(s >> (8 * j - 32)) >> 6 & 3u) << 4);
        m = (q >> 4 & 15u) | ((uint(s >> (8 * j)) >> 6 & 3u) << 4);
    }
    vec2 dm = unpackHalf2x16(w0.x);
    return vec2(dm.x * float(sc), dm.y * float(m));
}

vec4 w4_group(uint e, vec2 scale)
{
    uint j = e % 256;
    // qs bytes 32c + l of 64-element chunk c; blocks of 144 bytes keep them 4-aligned in a word
    uint b = 144 * (e / 256) + 16 + 32 * (j / 64) + j % 32;
    uint w = (w_word_bytes(b) >> (4 * ((j / 32) % 2))) & 0x0f0f0f0fu;
    return scale.x * u8x4(w) - scale.y;
}

#elif defined(DATA_A_Q6_K)
#define GROUP_K 16u     // a sub-block: x = (d·scale) · (q - 32)
// d at byte 208 of the block, the int8 scale of sub-block s at byte 192 + s.
vec2 group_scale(uint e)
{
    uint b = 210 * (e / 256);
    int sc = bitfieldExtract(int(w_word_bytes(b + 192 + (e % 256) / 16)), 0, 8);
    return vec2(w_half(b + 208) * float(sc), 0.0);
}

vec4 w4_group(uint e, vec2 scale)
{
    uint ib = e / 256, j = e % 256;
    uint h = j / 128, k = (j % 128) / 32, l = j % 32;   // as types.glsl's dequant4
    uint lo = (w_bytes4(210 * ib + 64 * h + 32 * (k % 2) + l) >> (4 * (k / 2))) & 0x0f0f0f0fu;
    uint up = (w_bytes4(210 * ib + 128 + 32 * h + l) >> (2 * k)) & 0x03030303u;
    return scale.x * (u8x4(lo | (up << 4)) - 32.0);
}
#endif
#endif
