// Workgroup reductions. Include after declaring `BLOCK_SIZE` (constant_id 0,
// the workgroup size, a power of two). With USE_SUBGROUP defined the sum goes
// through subgroupAdd and one shared slot per subgroup; without it, a
// shared-memory tree. Every invocation gets the result; callable repeatedly.
#ifdef USE_SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

shared float reduce_buf[BLOCK_SIZE];

float workgroup_sum(float v)
{
#ifdef USE_SUBGROUP
    v = subgroupAdd(v);
    if (gl_SubgroupInvocationID == 0)
        reduce_buf[gl_SubgroupID] = v;
    barrier();
    float total = 0.0;
    for (uint i = 0; i < gl_NumSubgroups; i++)
        total += reduce_buf[i];
    barrier();
    return total;
#else
    uint tid = gl_LocalInvocationIndex;
    reduce_buf[tid] = v;
    barrier();
    for (uint s = BLOCK_SIZE / 2; s > 0; s >>= 1) {
        if (tid < s)
            reduce_buf[tid] += reduce_buf[tid + s];
        barrier();
    }
    float total = reduce_buf[0];
    barrier();
    return total;
#endif
}

float workgroup_max(float v)
{
#ifdef USE_SUBGROUP
    v = subgroupMax(v);
    if (gl_SubgroupInvocationID == 0)
        reduce_buf[gl_SubgroupID] = v;
    barrier();
    float m = reduce_buf[0];
    for (uint i = 1; i < gl_NumSubgroups; i++)
        m = max(m, reduce_buf[i]);
    barrier();
    return m;
#else
    uint tid = gl_LocalInvocationIndex;
    reduce_buf[tid] = v;
    barrier();
    for (uint s = BLOCK_SIZE / 2; s > 0; s >>= 1) {
        if (tid < s)
            reduce_buf[tid] = max(reduce_buf[tid], reduce_buf[tid + s]);
        barrier();
    }
    float m = reduce_buf[0];
    barrier();
    return m;
#endif
}

// Flat workgroup index over a 2-D grid (see mor_vk_grid()).
uint flat_group_id()
{
    return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
}
