/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for model/types.c: type table, f16/bf16 conversions, hand-built blocks
 * of every quantized type, quantize → dequantize error bounds. */
#include "types.h"

#include <math.h>
#include <string.h>

static guint32
bits (float x)
{
  guint32 u;
  memcpy (&u, &x, 4);
  return u;
}

static float
from_bits (guint32 u)
{
  float x;
  memcpy (&x, &u, 4);
  return x;
}

static void
test_names (void)
{
  static const MorType all[] = { MOR_TYPE_F32, MOR_TYPE_F16, MOR_TYPE_BF16, MOR_TYPE_Q8_0,
                                 MOR_TYPE_Q4_0, MOR_TYPE_Q4_K, MOR_TYPE_Q6_K };
  for (guint i = 0; i < G_N_ELEMENTS (all); i++) {
    MorType t = MOR_TYPE_F32;
    g_assert_true (mor_type_is_supported (all[i]));
    g_assert_true (mor_type_from_name (mor_type_name (all[i]), &t));
    g_assert_cmpint (t, ==, all[i]);
  }
  g_assert_cmpstr (mor_type_name (MOR_TYPE_Q4_K), ==, "q4_K");
  g_assert_cmpstr (mor_type_name (MOR_TYPE_BF16), ==, "bf16");
  g_assert_cmpstr (mor_type_name (3), ==, "unknown");   /* ggml's Q4_1: not supported */
  g_assert_false (mor_type_is_supported (3));
  g_assert_false (mor_type_is_supported (1000));

  MorType t;
  g_assert_true (mor_type_from_name ("Q6_K", &t));
  g_assert_cmpint (t, ==, MOR_TYPE_Q6_K);
  g_assert_false (mor_type_from_name ("q5_K", &t));
}

static void
test_block_sizes (void)
{
  g_assert_cmpuint (mor_type_block_size (MOR_TYPE_F32), ==, 1);
  g_assert_cmpuint (mor_type_block_bytes (MOR_TYPE_F32), ==, 4);
  g_assert_cmpuint (mor_type_block_bytes (MOR_TYPE_F16), ==, 2);
  g_assert_cmpuint (mor_type_block_bytes (MOR_TYPE_BF16), ==, 2);
  g_assert_cmpuint (mor_type_block_size (MOR_TYPE_Q8_0), ==, 32);
  g_assert_cmpuint (mor_type_block_bytes (MOR_TYPE_Q8_0), ==, 34);
  g_assert_cmpuint (mor_type_block_size (MOR_TYPE_Q4_0), ==, 32);
  g_assert_cmpuint (mor_type_block_bytes (MOR_TYPE_Q4_0), ==, 18);
  g_assert_cmpuint (mor_type_block_size (MOR_TYPE_Q4_K), ==, 256);
  g_assert_cmpuint (mor_type_block_bytes (MOR_TYPE_Q4_K), ==, 144);
  g_assert_cmpuint (mor_type_block_size (MOR_TYPE_Q6_K), ==, 256);
  g_assert_cmpuint (mor_type_block_bytes (MOR_TYPE_Q6_K), ==, 210);
}

static void
test_row_bytes (void)
{
  g_assert_cmpuint (mor_type_row_bytes (MOR_TYPE_F32, 7), ==, 28);
  g_assert_cmpuint (mor_type_row_bytes (MOR_TYPE_F16, 7), ==, 14);
  g_assert_cmpuint (mor_type_row_bytes (MOR_TYPE_Q8_0, 2048), ==, 64 * 34);
  g_assert_cmpuint (mor_type_row_bytes (MOR_TYPE_Q4_0, 64), ==, 36);
  g_assert_cmpuint (mor_type_row_bytes (MOR_TYPE_Q4_K, 2048), ==, 8 * 144);
  g_assert_cmpuint (mor_type_row_bytes (MOR_TYPE_Q6_K, 151936ull * 2048), ==, 151936ull * 8 * 210);
  g_assert_cmpuint (mor_type_row_bytes (MOR_TYPE_Q8_0, 0), ==, 0);
  /* not a multiple of the block size */
  g_assert_cmpuint (mor_type_row_bytes (MOR_TYPE_Q8_0, 33), ==, 0);
  g_assert_cmpuint (mor_type_row_bytes (MOR_TYPE_Q4_0, 16), ==, 0);
  g_assert_cmpuint (mor_type_row_bytes (MOR_TYPE_Q4_K, 2047), ==, 0);
  g_assert_cmpuint (mor_type_row_bytes (MOR_TYPE_Q6_K, 128), ==, 0);
  /* an unsupported type id (ggml's Q5_K), as a file may hold */
  g_assert_cmpuint (mor_type_row_bytes ((MorType) 13, 256), ==, 0);
  g_assert_cmpuint (mor_type_block_size ((MorType) 13), ==, 0);
  g_assert_cmpuint (mor_type_block_bytes ((MorType) 13), ==, 0);
}

static void
test_f16 (void)
{
  static const struct { guint32 f; guint16 h; } cases[] = {
    { 0x00000000, 0x0000 },   /* +0 */
    { 0x80000000, 0x8000 },   /* -0 */
    { 0x3f800000, 0x3c00 },   /* 1 */
    { 0xc0000000, 0xc000 },   /* -2 */
    { 0x477fe000, 0x7bff },   /* 65504, largest half */
    { 0x477fefff, 0x7bff },   /* just below 65520 */
    { 0x477ff000, 0x7c00 },   /* 65520: halfway, ties to even → Inf */
    { 0x7f7fffff, 0x7c00 },   /* FLT_MAX → Inf */
    { 0x7f800000, 0x7c00 },   /* Inf */
    { 0xff800000, 0xfc00 },   /* -Inf */
    { 0x38800000, 0x0400 },   /* 2^-14, smallest normal */
    { 0x387fc000, 0x03ff },   /* largest subnormal */
    { 0x387fe000, 0x0400 },   /* halfway between it and 2^-14: rounds up to even */
    { 0x33800000, 0x0001 },   /* 2^-24, smallest subnormal */
    { 0x33000000, 0x0000 },   /* 2^-25: halfway to 0, ties to even → 0 */
    { 0x33000001, 0x0001 },   /* just above 2^-25 → 2^-24 */
    { 0xb3000001, 0x8001 },
    { 0x33c00000, 0x0002 },   /* 3·2^-25: halfway between 1 and 2 → 2 */
    { 0x34200000, 0x0002 },   /* 5·2^-25: halfway between 2 and 3 → 2 */
    { 0x3f801000, 0x3c00 },   /* 1 + 2^-11: halfway, → 1 (even) */
    { 0x3f803000, 0x3c02 },   /* 1 + 3·2^-11: halfway, → 1 + 2^-9 (even) */
    { 0x3f801001, 0x3c01 },   /* just above halfway → up */
    { 0x3f7ff000, 0x3c00 },   /* 1 - 2^-12 rounds to 1 (carry into the exponent) */
    { 0x00000001, 0x0000 },   /* float subnormal → 0 */
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    guint16 h = mor_f32_to_f16 (from_bits (cases[i].f));
    if (h != cases[i].h)
      g_error ("f32 0x%08x → f16 0x%04x, expected 0x%04x", cases[i].f, h, cases[i].h);
  }

  /* NaN stays NaN (quiet), with its sign */
  guint16 n = mor_f32_to_f16 (from_bits (0x7fc00001));
  g_assert_cmpuint (n & 0x7c00, ==, 0x7c00);
  g_assert_cmpuint (n & 0x03ff, !=, 0);
  g_assert_cmpuint (mor_f32_to_f16 (from_bits (0xffa00000)) & 0x8200, ==, 0x8200);
  g_assert_cmpuint (mor_f32_to_f16 (from_bits (0x7f800001)) & 0x7fff, ==, 0x7e00); /* signalling → quiet */
  g_assert_true (isnan (mor_f16_to_f32 (0x7e00)));
  g_assert_true (isnan (mor_f16_to_f32 (0xfc01)));

  g_assert_cmpfloat (mor_f16_to_f32 (0x0001), ==, ldexpf (1.0f, -24));
  g_assert_cmpfloat (mor_f16_to_f32 (0x83ff), ==, -ldexpf (1023.0f, -24));
  g_assert_cmpfloat (mor_f16_to_f32 (0x7bff), ==, 65504.0f);
  g_assert_cmpfloat (mor_f16_to_f32 (0x3555), ==, 0.333251953125f);
  g_assert_true (isinf (mor_f16_to_f32 (0xfc00)) && mor_f16_to_f32 (0xfc00) < 0);
  g_assert_cmpuint (bits (mor_f16_to_f32 (0x8000)), ==, 0x80000000);

  /* every non-NaN half survives the round trip */
  for (guint h = 0; h < 0x10000; h++) {
    float x = mor_f16_to_f32 ((guint16) h);
    if (isnan (x))
      continue;
    g_assert_cmpuint (mor_f32_to_f16 (x), ==, h);
  }
}

static void
test_bf16 (void)
{
  static const struct { guint32 f; guint16 h; } cases[] = {
    { 0x00000000, 0x0000 },
    { 0x80000000, 0x8000 },
    { 0x3f800000, 0x3f80 },   /* 1 */
    { 0x3f808000, 0x3f80 },   /* halfway, even stays */
    { 0x3f818000, 0x3f82 },   /* halfway, odd rounds up */
    { 0x3f808001, 0x3f81 },
    { 0x3f807fff, 0x3f80 },
    { 0x7f7fffff, 0x7f80 },   /* FLT_MAX rounds to Inf */
    { 0x7f800000, 0x7f80 },
    { 0xff800000, 0xff80 },
    { 0x00008000, 0x0000 },   /* subnormal, halfway to even 0 */
    { 0x00018000, 0x0002 },   /* subnormal, halfway to even 2 */
    { 0x00010001, 0x0001 },
    { 0x007fffff, 0x0080 },   /* largest float subnormal rounds to the smallest normal */
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    guint16 h = mor_f32_to_bf16 (from_bits (cases[i].f));
    if (h != cases[i].h)
      g_error ("f32 0x%08x → bf16 0x%04x, expected 0x%04x", cases[i].f, h, cases[i].h);
  }
  guint16 n = mor_f32_to_bf16 (from_bits (0x7f800001));   /* signalling NaN, payload in low bits */
  g_assert_cmpuint (n, ==, 0x7fc0);
  g_assert_cmpuint (mor_f32_to_bf16 (from_bits (0xffc12345)), ==, 0xffc1);
  g_assert_cmpfloat (mor_bf16_to_f32 (0x3f80), ==, 1.0f);
  g_assert_cmpfloat (mor_bf16_to_f32 (0xc049), ==, -3.140625f);

  for (guint h = 0; h < 0x10000; h++) {
    float x = mor_bf16_to_f32 ((guint16) h);
    if (isnan (x))
      continue;
    g_assert_cmpuint (mor_f32_to_bf16 (x), ==, h);
  }
}

static void
test_float_rows (void)
{
  const guint8 f16[] = { 0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00 };
  const guint8 b16[] = { 0x80, 0x3f, 0x49, 0xc0 };
  const float f32[] = { 1.5f, -0.25f };
  float out[4];

  mor_ref_dequantize_row (MOR_TYPE_F16, f16, out, 4);
  g_assert_cmpfloat (out[0], ==, 1.0f);
  g_assert_cmpfloat (out[1], ==, -2.0f);
  g_assert_cmpfloat (out[2], ==, 65504.0f);
  g_assert_cmpfloat (out[3], ==, ldexpf (1.0f, -24));
  mor_ref_dequantize_row (MOR_TYPE_BF16, b16, out, 2);
  g_assert_cmpfloat (out[0], ==, 1.0f);
  g_assert_cmpfloat (out[1], ==, -3.140625f);
  mor_ref_dequantize_row (MOR_TYPE_F32, f32, out, 2);
  g_assert_cmpfloat (out[0], ==, 1.5f);
  g_assert_cmpfloat (out[1], ==, -0.25f);

  guint8 q[8];
  const float in[4] = { 1.0f, -2.0f, 65504.0f, 1e-9f };
  mor_quantize_row (MOR_TYPE_F16, in, q, 4);
  g_assert_cmpmem (q, 6, f16, 6);
  g_assert_cmpuint (q[6] | q[7] << 8, ==, 0);
}

/* Q8_0: d = 0.5 (f16 0x3800), qs[j] = 4j - 64 (wrapping into int8 at j = 48 is
 * avoided: j < 32, so qs runs -64..60). */
static void
test_block_q8_0 (void)
{
  guint8 b[2 * 34];
  float y[64];

  for (int k = 0; k < 2; k++) {
    b[34 * k + 0] = 0x00;
    b[34 * k + 1] = k == 0 ? 0x38 : 0xc0;   /* 0.5, then -2 */
    for (int j = 0; j < 32; j++)
      b[34 * k + 2 + j] = (guint8) (gint8) (4 * j - 64);
  }
  mor_ref_dequantize_row (MOR_TYPE_Q8_0, b, y, 64);
  for (int j = 0; j < 32; j++) {
    g_assert_cmpfloat (y[j], ==, 0.5f * (4 * j - 64));
    g_assert_cmpfloat (y[32 + j], ==, -2.0f * (4 * j - 64));
  }
  g_assert_cmpfloat (y[0], ==, -32.0f);
  g_assert_cmpfloat (y[63], ==, -120.0f);
}

/* Q4_0: d = 2 (0x4000); qs[j] = j | (15 - j) << 4, so element j is 2 (j - 8) and
 * element j + 16 is 2 (7 - j). */
static void
test_block_q4_0 (void)
{
  guint8 b[18] = { 0x00, 0x40 };
  float y[32];

  for (int j = 0; j < 16; j++)
    b[2 + j] = (guint8) (j | (15 - j) << 4);
  mor_ref_dequantize_row (MOR_TYPE_Q4_0, b, y, 32);
  for (int j = 0; j < 16; j++) {
    g_assert_cmpfloat (y[j], ==, 2.0f * (j - 8));
    g_assert_cmpfloat (y[16 + j], ==, 2.0f * (7 - j));
  }
  g_assert_cmpfloat (y[0], ==, -16.0f);
  g_assert_cmpfloat (y[16], ==, 14.0f);
}

/* Q4_K: d = 1 (0x3c00), dmin = 0.5 (0x3800), 6-bit scales and mins
 *   sc = { 1, 2, 3, 4, 17, 33, 50, 63 },  m = { 0, 5, 10, 20, 40, 1, 63, 16 }
 * packed by hand (bytes 0..3: sc[j] | sc[j+4]>>4 << 6; bytes 4..7: m[j] |
 * m[j+4]>>4 << 6; bytes 8..11: sc[j+4]&15 | (m[j+4]&15) << 4).
 * qs[32c + l] = (l & 15) | (15 - (l & 15)) << 4. */
static void
test_block_q4_k (void)
{
  static const int sc[8] = { 1, 2, 3, 4, 17, 33, 50, 63 };
  static const int m[8] = { 0, 5, 10, 20, 40, 1, 63, 16 };
  static const guint8 scales[12] = { 0x41, 0x82, 0xc3, 0xc4, 0x80, 0x05, 0xca, 0x54,
                                     0x81, 0x11, 0xf2, 0x0f };
  guint8 b[144] = { 0x00, 0x3c, 0x00, 0x38 };
  float y[256];

  memcpy (b + 4, scales, 12);
  for (int i = 0; i < 128; i++)
    b[16 + i] = (guint8) ((i & 15) | (15 - (i & 15)) << 4);
  mor_ref_dequantize_row (MOR_TYPE_Q4_K, b, y, 256);
  for (int c = 0; c < 4; c++) {
    for (int l = 0; l < 32; l++) {
      int lo = l & 15, hi = 15 - lo;
      g_assert_cmpfloat (y[64 * c + l], ==, 1.0f * sc[2 * c] * lo - 0.5f * m[2 * c]);
      g_assert_cmpfloat (y[64 * c + 32 + l], ==, 1.0f * sc[2 * c + 1] * hi - 0.5f * m[2 * c + 1]);
    }
  }
  g_assert_cmpfloat (y[0], ==, 0.0f);
  g_assert_cmpfloat (y[32], ==, 30.0f - 2.5f);     /* sc 2 · 15 - 0.5 · 5 */
  g_assert_cmpfloat (y[255], ==, 0.0f - 8.0f);     /* sc 63 · 0 - 0.5 · 16 */
  g_assert_cmpfloat (y[192 + 1], ==, 50.0f - 31.5f);
}

/* Q6_K: d = 0.25 (0x3400, stored last), scales[k] = 2k - 15; ql[64h + i] = i,
 * qh[32h + l] = 0xe4 (h = 0) or 0x1b (h = 1). Element l + 32k of half h has
 * the nibble (k < 2: low, else high) of ql[64h + l + 32 (k & 1)], bits 2k..2k+1 of
 * qh on top, minus 32, times the scale of its 16-element sub-block. */
static void
test_block_q6_k (void)
{
  guint8 b[210];
  float y[256];

  for (int h = 0; h < 2; h++) {
    for (int i = 0; i < 64; i++)
      b[64 * h + i] = (guint8) i;
    for (int l = 0; l < 32; l++)
      b[128 + 32 * h + l] = h == 0 ? 0xe4 : 0x1b;
  }
  for (int k = 0; k < 16; k++)
    b[192 + k] = (guint8) (gint8) (2 * k - 15);
  b[208] = 0x00;
  b[209] = 0x34;
  mor_ref_dequantize_row (MOR_TYPE_Q6_K, b, y, 256);

  for (int i = 0; i < 256; i++) {
    int h = i / 128, p = i % 128, k = p / 32, l = p % 32;
    int byte = l + 32 * (k & 1);
    int nib = k < 2 ? byte & 15 : byte >> 4;
    int qh = ((h == 0 ? 0xe4 : 0x1b) >> (2 * k)) & 3;
    int q = (nib | qh << 4) - 32;
    g_assert_cmpfloat (y[i], ==, 0.25f * (2 * (i / 16) - 15) * q);
  }
  g_assert_cmpfloat (y[0], ==, 120.0f);       /* 0.25 · -15 · (0 | 0 - 32) */
  g_assert_cmpfloat (y[255], ==, -108.75f);   /* 0.25 · 15 · (3 | 0 - 32) */
}

static float
next_random (guint32 *state)
{
  *state = *state * 1664525u + 1013904223u;
  return (float) (*state >> 8) / (float) (1u << 24) * 2.0f - 1.0f;
}

/* Quantizes rows of assorted distributions, dequantizes, and checks every
 * element against @rel_bound × (largest magnitude of its block) + @abs_bound
 * (the f16 subnormal spacing where a value or a scale can be that small), and
 * the whole row's relative RMS error against @rms_bound. */
static void
check_round_trip (MorType type, float rel_bound, float abs_bound, float rms_bound)
{
  const guint64 n = 4096;
  guint32 seed = 1234 + type;
  float *x = g_new (float, n), *y = g_new (float, n);
  guint8 *q = g_malloc (mor_type_row_bytes (type, n));
  guint32 bs = mor_type_block_size (type);

  for (int dist = 0; dist < 5; dist++) {
    for (guint64 i = 0; i < n; i++) {
      float r = next_random (&seed);
      switch (dist) {
        case 0: x[i] = r; break;                                 /* uniform ±1 */
        case 1: x[i] = 0.01f + 0.5f * fabsf (r); break;          /* positive only */
        case 2: x[i] = -3.0f - 100.0f * fabsf (r); break;        /* negative only */
        case 3: x[i] = r * r * r * (i % 97 == 0 ? 50.0f : 0.02f); break; /* outliers */
        default: x[i] = (i / 16) % 3 == 0 ? 0.0f : r * ldexpf (1.0f, (int) (i / 512) - 4); break;
      }
    }
    mor_quantize_row (type, x, q, n);
    mor_ref_dequantize_row (type, q, y, n);

    double se = 0.0, sx = 0.0;
    for (guint64 b = 0; b < n / bs; b++) {
      float amax = 0.0f;
      for (guint32 j = 0; j < bs; j++)
        amax = MAX (amax, fabsf (x[b * bs + j]));
      for (guint32 j = 0; j < bs; j++) {
        guint64 i = b * bs + j;
        float err = fabsf (y[i] - x[i]);
        if (!(err <= rel_bound * amax + abs_bound))
          g_error ("%s dist %d element %" G_GUINT64_FORMAT ": %g -> %g (block max %g)",
                   mor_type_name (type), dist, i, x[i], y[i], amax);
        se += (double) err * err;
        sx += (double) x[i] * x[i];
      }
    }
    g_assert_cmpfloat (sqrt (se / sx), <=, rms_bound);
  }

  /* an all-zero row stays zero */
  memset (x, 0, n * sizeof (float));
  mor_quantize_row (type, x, q, n);
  mor_ref_dequantize_row (type, q, y, n);
  for (guint64 i = 0; i < n; i++)
    g_assert_cmpfloat (y[i], ==, 0.0f);

  g_free (x);
  g_free (y);
  g_free (q);
}

/* Bounds (derivations in model/types.c): Q8_0 half a step amax/254 plus f16
 * rounding of d; Q4_0 one step amax/8 (the value opposite the largest one maps to
 * +8 and is clamped to 7); Q4_K half a sub-block step, which is at most
 * ~(2·amax/15)/2 ≈ 0.068·amax; Q6_K one step amax/32 (+ scale rounding). */
static void
test_round_trip_q8_0 (void)
{
  check_round_trip (MOR_TYPE_Q8_0, 0.5f / 127.0f + 1.0f / 1024.0f, 0.0f, 0.01f);
}

static void
test_round_trip_q4_0 (void)
{
  check_round_trip (MOR_TYPE_Q4_0, 1.0f / 8.0f * 1.002f, 0.0f, 0.15f);
}

static void
test_round_trip_q4_k (void)
{
  check_round_trip (MOR_TYPE_Q4_K, 0.07f, 0.0f, 0.15f);
}

static void
test_round_trip_q6_k (void)
{
  check_round_trip (MOR_TYPE_Q6_K, 0.032f, 0.0f, 0.03f);
}

static void
test_round_trip_float (void)
{
  check_round_trip (MOR_TYPE_F32, 0.0f, 0.0f, 0.0f);
  check_round_trip (MOR_TYPE_F16, 1.0f / 2048.0f, ldexpf (1.0f, -25), 1e-3f);
  check_round_trip (MOR_TYPE_BF16, 1.0f / 256.0f, 0.0f, 4e-3f);
}

/* ggml's quantize_row_q4_0_ref on a known block: x[j] = j - 8 → max 23, d = -23/8
 * = -2.875 (f16 0xc1c0), q = min(15, trunc(x · -8/23 + 8.5)). */
static void
test_quantize_q4_0_exact (void)
{
  float x[32];
  guint8 b[18];

  for (int j = 0; j < 32; j++)
    x[j] = (float) (j - 8);
  mor_quantize_row (MOR_TYPE_Q4_0, x, b, 32);
  g_assert_cmpuint (b[0] | b[1] << 8, ==, 0xc1c0);
  /* j = 0: -8 · -8/23 + 8.5 = 11.28 → 11; j = 16 (x = 8): 5.72 → 5 */
  g_assert_cmpuint (b[2], ==, 11 | 5 << 4);
  /* j = 15 (x = 7): 6.06 → 6; j = 31 (x = 23): 0.5 → 0 */
  g_assert_cmpuint (b[2 + 15], ==, 6 | 0 << 4);
  /* j = 8 (x = 0): 8.5 → 8; j = 24 (x = 16): 2.93 → 2 */
  g_assert_cmpuint (b[2 + 8], ==, 8 | 2 << 4);
}

/* ggml's quantize_row_q8_0_ref: d = amax/127 and roundf (half away from zero). */
static void
test_quantize_q8_0_exact (void)
{
  float x[32] = { 0 };
  guint8 b[34];

  x[0] = 127.0f;
  x[1] = -2.5f;    /* exactly halfway: roundf → -3 */
  x[2] = 0.5f;     /* → 1 */
  x[3] = -127.0f;
  mor_quantize_row (MOR_TYPE_Q8_0, x, b, 32);
  g_assert_cmpuint (b[0] | b[1] << 8, ==, 0x3c00);   /* d = 1 */
  g_assert_cmpint ((gint8) b[2], ==, 127);
  g_assert_cmpint ((gint8) b[3], ==, -3);
  g_assert_cmpint ((gint8) b[4], ==, 1);
  g_assert_cmpint ((gint8) b[5], ==, -127);
  g_assert_cmpint ((gint8) b[6], ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/types/names", test_names);
  g_test_add_func ("/types/block-sizes", test_block_sizes);
  g_test_add_func ("/types/row-bytes", test_row_bytes);
  g_test_add_func ("/types/f16", test_f16);
  g_test_add_func ("/types/bf16", test_bf16);
  g_test_add_func ("/types/float-rows", test_float_rows);
  g_test_add_func ("/types/block/q8_0", test_block_q8_0);
  g_test_add_func ("/types/block/q4_0", test_block_q4_0);
  g_test_add_func ("/types/block/q4_K", test_block_q4_k);
  g_test_add_func ("/types/block/q6_K", test_block_q6_k);
  g_test_add_func ("/types/quantize/q8_0-exact", test_quantize_q8_0_exact);
  g_test_add_func ("/types/quantize/q4_0-exact", test_quantize_q4_0_exact);
  g_test_add_func ("/types/round-trip/float", test_round_trip_float);
  g_test_add_func ("/types/round-trip/q8_0", test_round_trip_q8_0);
  g_test_add_func ("/types/round-trip/q4_0", test_round_trip_q4_0);
  g_test_add_func ("/types/round-trip/q4_K", test_round_trip_q4_k);
  g_test_add_func ("/types/round-trip/q6_K", test_round_trip_q6_k);
  return g_test_run ();
}
