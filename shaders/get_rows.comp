#version 450
#extension GL_GOOGLE_include_directive : require
// get_rows (embedding lookup): y[g] = table[ids[g]] as f32, one row of n_cols
// per id; torch.nn.Embedding / Qwen2Model.embed_tokens (weights dequantized as
// mor_ref_dequantize_row() does).
// Bindings: 0 a: rows row_first .. row_first + row_count - 1 of the table, of the
//             type DATA_A_<TYPE> (see types.glsl): one window of a table that
//             may be larger than one binding; the host dispatches once per window
//           1 ids [n_ids] uint32, read here so that a replay sees new ids
//           2 y [n_ids, n_cols] f32
// An id in this window writes its row; an id ≥ n_rows writes zeros (in the
// window with row_first == 0); any other id is some other window's.
// Grid: one workgroup per id (flat over x, y); BLOCK_SIZE invocations stride
// the row 4 elements at a time, the last partial step element by element.

layout(constant_id = 0) const uint BLOCK_SIZE = 64;
layout(local_size_x_id = 0) in;

#define A_BINDING 0
#include "types.glsl"

layout(std430, binding = 1) readonly buffer Ids { uint ids[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint n_cols;
    uint n_ids;
    uint row_first;
    uint row_count;
    uint n_rows;
} p;

void main()
{
    uint g = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (g >= p.n_ids)
        return;
    uint id = ids[g];
    uint dst = g * p.n_cols;
    if (id - p.row_first < p.row_count) {   // unsigned: also false for id < row_first
        uint src = (id - p.row_first) * p.n_cols;
        for (uint c = 4 * gl_LocalInvocationIndex; c < p.n_cols; c += 4 * BLOCK_SIZE) {
            if (c + 4 <= p.n_cols) {
                vec4 v = dequant4(src + c);
                y[dst + c] = v.x;
                y[dst + c + 1] = v.y;
                y[dst + c + 2] = v.z;
                y[dst + c + 3] = v.w;
            } else {
                for (uint k = c; k < p.n_cols; k++)
                    y[dst + k] = dequant1(src + k);
            }
        }
    } else if (p.row_first == 0 && id >= p.n_rows) {
        for (uint c = gl_LocalInvocationIndex; c < p.n_cols; c += BLOCK_SIZE)
            y[dst + c] = 0.0;
    }
}
