// Tiled fp32 matrix product for the convolution-like ops (conv1d, conv_transpose1d,
// mel): C[m, n] = Σ_r A[m, r]·B[r, n] for one BM × BN tile of C per workgroup.
// The reduction runs in chunks of BK staged in shared memory; each invocation
// keeps a TM × TN block of C in registers, its rows and columns strided by
// BM/TM and BN/TN so that neighbouring invocations read neighbouring shared
// words and write neighbouring outputs.
//
// Contract. Before including, define
//     float gemm_a(uint m, uint r)   A, called only for m < M, r < R
//     float gemm_b(uint r, uint n)   B, called only for r < R, n < N
// then call gemm_tile(M, N, R, m0, n0): afterwards gemm_acc[i·TN + j] = C[m0 + gemm_row(i)][n0 + gemm_col(j)]
// (zero where the row or column is past M or N). (A global, not an out
// parameter: glslang copies spec-constant-sized array parameters with invalid SPIR-V.) Every invocation of the
// workgroup must call it (it has barriers). The workgroup size BLOCK_SIZE is
// (BM/TM)·(BN/TN); BM, BN multiples of TM, TN.

layout(constant_id = 0) const uint BLOCK_SIZE = 256;
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;
layout(local_size_x_id = 0) in;

// tile_a rows are padded by one word: the A loads store r-major runs of one m,
// which would otherwise all hit one bank.
shared float tile_a[BK * (BM + 1)];   // [r][m]
shared float tile_b[BK * BN];   // [r][n]
float gemm_acc[TM * TN];

uint gemm_row(uint i)
{
    return gl_LocalInvocationIndex / (BN / TN) + i * (BM / TM);
}

uint gemm_col(uint j)
{
    return gl_LocalInvocationIndex % (BN / TN) + j * (BN / TN);
}

void gemm_tile(uint M, uint N, uint R, uint m0, uint n0)
{
    uint tid = gl_LocalInvocationIndex;
    uint ty = tid / (BN / TN), tx = tid % (BN / TN);
    for (uint i = 0; i < TM * TN; i++)
        gemm_acc[i] = 0.0;
    for (uint r0 = 0; r0 < R; r0 += BK) {
        // A tile: consecutive invocations take consecutive r of one row (the
        // weights of one output channel are contiguous in r).
        for (uint e = tid; e < BM * BK; e += BLOCK_SIZE) {
            uint m = e / BK, r = e % BK;
            float v = 0.0;
            if (m0 + m < M && r0 + r < R)
                v = gemm_a(m0 + m, r0 + r);
            tile_a[r * (BM + 1) + m] = v;
        }
        // B tile: consecutive invocations take consecutive n (time).
        for (uint e = tid; e < BK * BN; e += BLOCK_SIZE) {
            uint r = e / BN, n = e % BN;
            float v = 0.0;
            if (n0 + n < N && r0 + r < R)
                v = gemm_b(r0 + r, n0 + n);
            tile_b[e] = v;
        }
        barrier();
        for (uint r = 0; r < BK; r++) {
            float a[TM], b[TN];
            for (uint i = 0; i < TM; i++)
                a[i] = tile_a[r * (BM + 1) + ty + i * (BM / TM)];
            for (uint j = 0; j < TN; j++)
                b[j] = tile_b[r * BN + tx + j * (BN / TN)];
            for (uint i = 0; i < TM; i++)
                for (uint j = 0; j < TN; j++)
                    gemm_acc[i * TN + j] += a[i] * b[j];
        }
        barrier();
    }
}
