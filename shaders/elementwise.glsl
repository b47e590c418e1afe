// Element-wise shaders: the flat element index and the activation functions.
// Include after declaring `BLOCK_SIZE` (constant_id 0, the workgroup size).
// Grid: one invocation per element, BLOCK_SIZE per workgroup, workgroups flat
// over x, y (mor_vk_grid()); callers return when the index is past the end.

uint element_index()
{
    return (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * BLOCK_SIZE + gl_LocalInvocationIndex;
}

// SiLU x·σ(x) (F.silu: x / (1 + exp(-x))). With t = exp(-|x|) ∈ (0, 1] both
// branches divide by 1 + t ∈ (1, 2]: no exp overflow, no inf/inf = NaN, and no
// division by a huge value (Vulkan's division precision holds only for
// |divisor| < 2^126).
float silu(float x)
{
    float t = exp(-abs(x));
    return x >= 0.0 ? x / (1.0 + t) : x * t / (1.0 + t);
}

// erf(x) in fp32 (GLSL has none). |x| < 1: x·P(x²), P of degree 7; 1 ≤ |x| <
// 3.95: 1 − exp(Q(u)) with Q ≈ log(erfc|x|) of degree 11 in u = (|x| − 2.475)/1.475;
// beyond, ±1 (erfc(3.95) < 2^-25, so erff rounds to ±1 too). Both are our own
// Chebyshev interpolants. Max |error| against erf in fp64, over every fp32 in
// [0, 6) with a correctly rounded exp: 1.6e-7 (≈ 3 ulp near 1; libm erff: 5.8e-8);
// a device exp within Vulkan's 3 + 2·|x| ulp adds at most ~1e-7.
float erf_f32(float x)
{
    float ax = abs(x);
    if (ax < 1.0) {
        float s = x * x;
        float r = -9.66704556e-06;
        r = r * s + 0.000112659596;
        r = r * s - 0.000848408032;
        r = r * s + 0.00522103161;
        r = r * s - 0.0268654302;
        r = r * s + 0.112837821;
        r = r * s - 0.376126379;
        r = r * s + 1.12837923;
        return x * r;
    }
    if (ax >= 3.95)
        return sign(x);
    float u = (ax - 2.475) * 0.677966102;
    float q = 1.3275444e-06;
    q = q * u - 2.1992762e-06;
    q = q * u - 5.57153999e-06;
    q = q * u + 4.21016885e-05;
    q = q * u - 0.000198901864;
    q = q * u + 0.000815674313;
    q = q * u - 0.00302073406;
    q = q * u + 0.0105026634;
    q = q * u - 0.0355474912;
    q = q * u - 2.05176926;
    q = q * u - 7.82562208;
    q = q * u - 7.6735878;
    return sign(x) * (1.0 - exp(q));
}

// GELU, erf form (nn.GELU(), PyTorch's default): x·0.5·(1 + erf(x/√2)).
float gelu_erf(float x)
{
    return x * 0.5 * (1.0 + erf_f32(x * 0.707106781));
}

// GELU, tanh form (nn.GELU(approximate="tanh")): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
// GLSL's tanh is allowed to be (e^u − e^-u)/(e^u + e^-u), inf/inf for large |u|;
// here tanh|u| = (1 − e^-2|u|)/(1 + e^-2|u|) with |u| clamped to 20, where
// tanh is 1 in fp32 (this also absorbs x³ overflowing to inf).
float gelu_tanh(float x)
{
    float u = 0.797884561 * (x + 0.044715 * x * x * x);
    float t = exp(-2.0 * min(abs(u), 20.0));
    float th = (1.0 - t) / (1.0 + t);
    return 0.5 * x * (1.0 + (u >= 0.0 ? th : -th));
}

// ReLU (nn.ReLU): max(x, 0).
float relu(float x)
{
    return x > 0.0 ? x : 0.0;
}

// tanh (nn.Tanh) as (1 − e^-2|x|)/(1 + e^-2|x|) with the sign of x, |x| clamped
// to 20 where tanh is 1 in fp32: no inf/inf as GLSL's tanh may give. Absolute
// error a few 1e-8 near 0, where 1 − e^-2|x| cancels.
float tanh_f32(float x)
{
    float t = exp(-2.0 * min(abs(x), 20.0));
    float th = (1.0 - t) / (1.0 + t);
    return x >= 0.0 ? th : -th;
}

// Sigmoid (nn.Sigmoid, 1/(1 + exp(-x))) with t = exp(-|x|) ∈ (0, 1], as silu:
// no exp overflow and a divisor in (1, 2].
float sigmoid(float x)
{
    float t = exp(-abs(x));
    return x >= 0.0 ? 1.0 / (1.0 + t) : t / (1.0 + t);
}
