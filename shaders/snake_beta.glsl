// SnakeBeta (BigVGAN, Qwen2.5-Omni token2wav), with log-scale parameters as the
// checkpoint stores them (HF SnakeBeta.forward):
//   alpha = exp(alpha); beta = exp(beta)
//   x + (1.0 / (beta + 1e-9)) * sin(x * alpha)^2
// exp and sin are not GLSL's exp()/sin(): Vulkan only promises 3 + 2|x| ulp for
// exp and 2^-11 absolute for sin on [-π, π] (nothing outside), while x·α
// reaches tens of radians. sin is trig.glsl's sincos_f32 (~1 ulp for |x·α|
// below ~1e5); exp is range reduced here with Cody-Waite constants (exact with
// fma) and finished with the Cephes single-precision polynomial (~1 ulp).

#include "trig.glsl"

// e^a: a = n·ln2 + r, |r| ≤ ln2/2, e^r = 1 + r + r²·P(r), scaled by 2^n.
float snake_exp(float a)
{
    float n = round(a * 1.44269504088896341);
    float r = fma(-n, 0.693359375, a);
    r = fma(-n, -2.12194440e-4, r);
    float q = 1.9875691500e-4;
    q = fma(q, r, 1.3981999507e-3);
    q = fma(q, r, 8.3334519073e-3);
    q = fma(q, r, 4.1665795894e-2);
    q = fma(q, r, 1.6666665459e-1);
    q = fma(q, r, 5.0000001201e-1);
    return ldexp(fma(q, r * r, r) + 1.0, int(n));
}

float snake_sin2(float u)
{
    float s = sincos_f32(u).x;
    return s * s;
}

// y = x + inv_beta · sin²(x · alpha) with alpha = e^log_alpha, inv_beta = 1 / (e^log_beta + 1e-9).
float snake_beta(float x, float alpha, float inv_beta)
{
    return x + inv_beta * snake_sin2(x * alpha);
}

float snake_alpha(float log_alpha)
{
    return snake_exp(log_alpha);
}

float snake_inv_beta(float log_beta)
{
    return 1.0 / (snake_exp(log_beta) + 1e-9);
}
