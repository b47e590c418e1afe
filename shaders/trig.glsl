// sin and cos of an fp32 angle to about 1 ulp, for angles far outside [−π, π].
// Vulkan bounds GLSL's sin/cos only on [−π, π] (absolute error 2^-11), and
// RoPE angles reach pos·inv_freq ≈ 32768 rad; a plain sin(a) there may be off
// by far more than the rotation tolerates.
// Reduction: k = nearest integer to a·2/π, r = a − k·π/2 (|r| ≤ π/4) with π/2
// split into C1 + C2 + C3 (Cody–Waite); C1 and C2 have at most 8 significant
// bits, so k·C1 and k·C2 are exact for |k| < 2^16 (|a| < ~102900) and each
// subtraction is exact; `precise` keeps the compiler from regrouping it.
// Then Taylor polynomials on |r| ≤ π/4 (truncation < 3e-8: sin to r⁹, cos to r¹⁰)
// and the quadrant k mod 4. Max |error| against fp64 for every angle p·inv_freq,
// p ≤ 70000, of RoPE dims 64/128 and theta 1e4/1e6: 8.4e-8 (libm sinf: 3.3e-8).

vec2 sincos_f32(float a)    // (sin a, cos a)
{
    precise float k = roundEven(a * 0.636619747);
    precise float r = a - k * 1.5703125;
    r = r - k * 0.000484466552734375;
    r = r - k * -6.39757843e-07;
    float s = r * r;
    float sn = r + r * s * (-1.0 / 6.0 + s * (1.0 / 120.0 + s * (-1.0 / 5040.0 + s * (1.0 / 362880.0))));
    float cs = 1.0 + s * (-0.5 + s * (1.0 / 24.0 + s * (-1.0 / 720.0 + s * (1.0 / 40320.0 - s * (1.0 / 3628800.0)))));
    uint q = uint(int(k)) & 3u;
    if (q == 0u)
        return vec2(sn, cs);
    if (q == 1u)
        return vec2(cs, -sn);
    if (q == 2u)
        return vec2(-sn, -cs);
    return vec2(-cs, sn);
}
