// SnakeBeta (BigVGAN, Qwen2.5-Omni token2wav), with log-scale parameters as the
// checkpoint stores them (HF SnakeBeta.forward):
//   alpha = exp(alpha); beta = exp(beta)
//   x + (1.0 / (beta + 1e-9)) * sin(x * alpha)^2
// exp and sin are evaluated here rather than with GLSL's exp()/sin(): Vulkan
// only promises 3 + 2|x| ulp for exp and 2^-11 absolute for sin on [-π, π]
// (and nothing outside), while x·α reaches tens of radians. Both are range
// reduced with Cody-Waite constants (exact with fma) and finished with the
// Cephes single-precision polynomials: about 1 ulp for |x·α| below ~1e5.

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

// sin²(u): u = n·π/2 + r, |r| ≤ π/4; sin² u is sin² r for even n, cos² r for odd n.
float snake_sin2(float u)
{
    float n = round(u * 0.636619772367581343);
    float r = fma(-n, 1.5703125, u);
    r = fma(-n, 4.837512969970703125e-4, r);
    r = fma(-n, 7.54978995489188216e-8, r);
    float z = r * r;
    float v;
    if ((int(n) & 1) == 0)
        v = fma(fma(fma(-1.9515295891e-4, z, 8.3321608736e-3), z, -1.6666654611e-1), z * r, r);
    else
        v = fma(fma(fma(2.443315711809948e-5, z, -1.388731625493765e-3), z, 4.166664568298827e-2), z * z,
                fma(-0.5, z, 1.0));
    return v * v;
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
