#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#ifdef USE_SUBGROUP
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#endif
// Matrix product of weights and activations (prefill, encoders):
//   y[n, m] = Σ_k x[n, k] · w[m, k] (+ bias[m]), fp32 accumulation.
//   PyTorch: y = torch.nn.functional.linear(x, w, bias) (nn.Linear), with w
//   dequantized as mor_ref_dequantize_row() does.
// Bindings: 0 w: rows m0 .. m0 + M - 1 of the weights, [M, K] of the type
//             DATA_A_<TYPE> (types.glsl), quant blocks along K; one window of
//             a matrix that may be larger than one binding
//           1 x [N, K] f32
//           2 bias [m0 + M] f32 (read at m0 + m; any f32 view when has_bias == 0)
//           3 y [N, ldy] f32: this dispatch writes columns m0 .. m0 + M - 1
// Two variants, chosen at load time (model/ops/matmul.c):
//  - shared memory (default): a workgroup computes a BM × BN tile of y,
//    stepping K by BK; the w tile is dequantized into shared memory, the x
//    tile copied there, and each invocation keeps a TM × TN register tile
//    (rows strided by BM / TM, columns by BN / TN).
//    Grid: (⌈M / BM⌉, ⌈N / BN⌉).
//  - USE_SUBGROUP, for CPU devices (lavapipe): no shared memory. On llvmpipe
//    a subgroup is one SIMD vector; every buffer or shared-memory load costs
//    a scalar insert per lane and component (of any width up to 64 bits),
//    while arithmetic and subgroupShuffleXor are vector instructions. So
//    each lane loads distinct values only, 64 bits at a time (matmul.glsl),
//    and the subgroup shares them by shuffles: lane l holds w rows l + SG·i
//    (i < TM) and x columns l + SG·j (j < TN) for 4 values of K; shuffling
//    the x values by lane ^ s (s < SG) gives it every column of the
//    subgroup's SG·TM × SG·TN tile. Quant scales are loaded once per group of
//    GROUP_K values. A workgroup stacks WG_SIZE / SG subgroups along M.
//    Grid: (⌈M / (WG_SIZE·TM)⌉, ⌈N / (SG·TN)⌉).
// Edges: rows and columns past M, N are clamped on load and skipped on store.
// K is a multiple of the block size for block types; the shared-memory
// variant takes any K (elements past K read as 0), the subgroup variant
// needs K % 4 == 0, w and x views that start 8-byte aligned, and a w view
// whose size is a multiple of 8 bytes.

layout(constant_id = 0) const uint WG_SIZE = 256;
layout(local_size_x_id = 0) in;

#define A_BINDING 0
#include "types.glsl"

layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint M;         // rows of w in this window (columns of y written)
    uint K;
    uint N;         // rows of x and y
    uint ldy;       // row stride of y, elements
    uint m0;        // first row of the window: column offset in y, index in bias
    uint has_bias;
} p;

#include "matmul.glsl"

#ifdef USE_SUBGROUP

layout(constant_id = 1) const uint SG = 8;      // subgroup size, a power of two
layout(constant_id = 2) const uint TM = 8;      // w rows per lane
layout(constant_id = 3) const uint TN = 4;      // x columns per lane

void main()
{
    const uint lane = gl_SubgroupInvocationID;
    const uint m_base = gl_WorkGroupID.x * (WG_SIZE * TM) + gl_SubgroupID * (SG * TM);
    const uint n_base = gl_WorkGroupID.y * (SG * TN);
    if (m_base >= p.M)
        return;

    uint w_row[TM];     // first element of each row this lane loads
    [[unroll]] for (uint i = 0; i < TM; i++)
        w_row[i] = min(m_base + SG * i + lane, p.M - 1) * p.K;
    uint x_row[TN];
    [[unroll]] for (uint j = 0; j < TN; j++)
        x_row[j] = min(n_base + SG * j + lane, p.N - 1) * p.K;

    // acc[(i·TN + j)·SG + s]: row m_base + SG·i + lane, column n_base + SG·j + (lane ^ s)
    float acc[TM * TN * SG];
    [[unroll]] for (uint t = 0; t < TM * TN * SG; t++)
        acc[t] = 0.0;

    for (uint kg = 0; kg < p.K; kg += GROUP_K) {
        vec2 scale[TM];
        [[unroll]] for (uint i = 0; i < TM; i++)
            scale[i] = group_scale(w_row[i] + kg);
        [[dont_unroll]] for (uint k = kg; k < kg + GROUP_K; k += 4) {
            vec4 a[TM];
            [[unroll]] for (uint i = 0; i < TM; i++)
                a[i] = w4_group(w_row[i] + k, scale[i]);
            vec4 b[TN];
            [[unroll]] for (uint j = 0; j < TN; j++)
                b[j] = x4_packed(x_row[j] + k);
            [[unroll]] for (uint j = 0; j < TN; j++) {
                [[unroll]] for (uint s = 0; s < SG; s++) {
                    vec4 bs = subgroupShuffleXor(b[j], s);
                    [[unroll]] for (uint i = 0; i < TM; i++)
                        acc[(i * TN + j) * SG + s] += dot(a[i], bs);
                }
            }
        }
    }

    [[unroll]] for (uint i = 0; i < TM; i++) {
        const uint m = m_base + SG * i + lane;
        const float bm = row_bias(m);
        [[unroll]] for (uint j = 0; j < TN; j++) {
            [[unroll]] for (uint s = 0; s < SG; s++) {
                const uint n = n_base + SG * j + (lane ^ s);
                if (m < p.M && n < p.N)
                    y[n * p.ldy + p.m0 + m] = acc[(i * TN + j) * SG + s] + bm;
            }
        }
    }
}

#else

layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;     // a multiple of 4
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;      // WG_SIZE = (BM / TM)·(BN / TN)

// k-major tiles: buf_w[k·BM + r] = w[tile row r, k], buf_x[k·BN + c] = x[tile column c, k]
shared float buf_w[BK * BM];
shared float buf_x[BK * BN];

void main()
{
    const uint t = gl_LocalInvocationIndex;
    const uint m_base = gl_WorkGroupID.x * BM;
    const uint n_base = gl_WorkGroupID.y * BN;
    const uint tr = t % (BM / TM);      // rows tr + (BM / TM)·i
    const uint tc = t / (BM / TM);      // columns tc + (BN / TN)·j

    float acc[TM * TN];
    [[unroll]] for (uint q = 0; q < TM * TN; q++)
        acc[q] = 0.0;

    for (uint k0 = 0; k0 < p.K; k0 += BK) {
        // Load: each invocation takes 4 consecutive k of one row at a time.
        for (uint q = t; q < BM * BK / 4; q += WG_SIZE) {
            const uint r = q / (BK / 4), kq = 4 * (q % (BK / 4));
            const uint m = m_base + r;
            const vec4 v = m < p.M ? w4_checked(m * p.K, k0 + kq) : vec4(0.0);
            [[unroll]] for (uint c = 0; c < 4; c++)
                buf_w[(kq + c) * BM + r] = v[c];
        }
        for (uint q = t; q < BN * BK / 4; q += WG_SIZE) {
            const uint r = q / (BK / 4), kq = 4 * (q % (BK / 4));
            const uint n = n_base + r;
            const vec4 v = n < p.N ? x4_checked(n * p.K, k0 + kq) : vec4(0.0);
            [[unroll]] for (uint c = 0; c < 4; c++)
                buf_x[(kq + c) * BN + r] = v[c];
        }
        barrier();

        for (uint kk = 0; kk < BK; kk++) {
            float a[TM], b[TN];
            [[unroll]] for (uint i = 0; i < TM; i++)
                a[i] = buf_w[kk * BM + tr + (BM / TM) * i];
            [[unroll]] for (uint j = 0; j < TN; j++)
                b[j] = buf_x[kk * BN + tc + (BN / TN) * j];
            [[unroll]] for (uint i = 0; i < TM; i++)
                [[unroll]] for (uint j = 0; j < TN; j++)
                    acc[i * TN + j] = fma(a[i], b[j], acc[i * TN + j]);
        }
        barrier();
    }

    [[unroll]] for (uint i = 0; i < TM; i++) {
        const uint m = m_base + tr + (BM / TM) * i;
        const float bm = row_bias(m);
        [[unroll]] for (uint j = 0; j < TN; j++) {
            const uint n = n_base + tc + (BN / TN) * j;
            if (m < p.M && n < p.N)
                y[n * p.ldy + p.m0 + m] = acc[i * TN + j] + bm;
        }
    }
}

#endif
