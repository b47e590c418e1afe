#version 450
#extension GL_GOOGLE_include_directive : require
// Binary element-wise ops, y = a ∘ b in fp32 (torch.add / torch.mul with
// broadcasting), ∘ by -DBINARY_OP=add or mul. a and y are [n_rows, n_cols];
// b[r, c] is read at r·b_row_stride + c·b_col_stride, which covers
//   b the same shape:        (n_cols, 1)
//   b one row [n_cols]:      (0, 1)   a bias or per-channel scale over [T, C] rows
//   b one column [n_rows]:   (1, 0)   a per-channel value over [C, T] rows
// Bindings: 0 a, 1 b, 2 y (y may alias a, and b when b has y's shape).
// Grid: one invocation per element of y, BLOCK_SIZE per workgroup, flat over
// x, y; the last workgroup's invocations past n_rows·n_cols return.

layout(constant_id = 0) const uint BLOCK_SIZE = 256;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint n_rows;
    uint n_cols;
    uint b_row_stride;
    uint b_col_stride;
} p;

#include "elementwise.glsl"

float add(float u, float v) { return u + v; }
float mul(float u, float v) { return u * v; }

void main()
{
    uint i = element_index();
    uint r = i / p.n_cols;
    if (r >= p.n_rows)
        return;
    uint c = i - r * p.n_cols;
    y[i] = BINARY_OP(a[i], b[r * p.b_row_stride + c * p.b_col_stride]);
}
