/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tensor element types: names, block sizes, f16/bf16 conversions and the C
 * reference (de)quantization. The block layouts are ggml's (ggml-common.h),
 * the dequantization follows ggml-quants.c's reference functions exactly;
 * shared/reference vulkan-compute.md §3.4 describes each block. Blocks are read
 * byte by byte (little-endian), so a source pointer needs no alignment. */
#include "types.h"

#include <math.h>
#include <string.h>

/* Byte layout of one block (offsets in bytes):
 *   Q8_0  34 B: d f16 @0, qs int8[32] @2
 *   Q4_0  18 B: d f16 @0, qs u8[16] @2          (low nibble: j, high nibble: j + 16)
 *   Q4_K 144 B: d f16 @0, dmin f16 @2, scales u8[12] @4, qs u8[128] @16
 *   Q6_K 210 B: ql u8[128] @0, qh u8[64] @128, scales int8[16] @192, d f16 @208 */
#define Q8_0_BYTES 34
#define Q4_0_BYTES 18
#define Q4_K_BYTES 144
#define Q6_K_BYTES 210

static const struct {
  MorType type;
  const char *name;
  guint32 block_size;
  guint32 block_bytes;
} type_table[] = {
  { MOR_TYPE_F32, "f32", 1, 4 },
  { MOR_TYPE_F16, "f16", 1, 2 },
  { MOR_TYPE_Q4_0, "q4_0", MOR_QK8_0, Q4_0_BYTES },
  { MOR_TYPE_Q8_0, "q8_0", MOR_QK8_0, Q8_0_BYTES },
  { MOR_TYPE_Q4_K, "q4_K", MOR_QK_K, Q4_K_BYTES },
  { MOR_TYPE_Q6_K, "q6_K", MOR_QK_K, Q6_K_BYTES },
  { MOR_TYPE_BF16, "bf16", 1, 2 },
};

static int
type_index (guint32 type)
{
  for (guint i = 0; i < G_N_ELEMENTS (type_table); i++)
    if ((guint32) type_table[i].type == type)
      return (int) i;
  return -1;
}

gboolean
mor_type_is_supported (guint32 type)
{
  return type_index (type) >= 0;
}

const char *
mor_type_name (guint32 type)
{
  int i = type_index (type);
  return i >= 0 ? type_table[i].name : "unknown";
}

gboolean
mor_type_from_name (const char *name, MorType *type)
{
  g_return_val_if_fail (name != NULL, FALSE);

  for (guint i = 0; i < G_N_ELEMENTS (type_table); i++) {
    if (g_ascii_strcasecmp (name, type_table[i].name) == 0) {
      if (type)
        *type = type_table[i].type;
      return TRUE;
    }
  }
  return FALSE;
}

guint32
mor_type_block_size (MorType type)
{
  int i = type_index (type);
  return i >= 0 ? type_table[i].block_size : 0;
}

guint32
mor_type_block_bytes (MorType type)
{
  int i = type_index (type);
  return i >= 0 ? type_table[i].block_bytes : 0;
}

guint64
mor_type_row_bytes (MorType type, guint64 n)
{
  int i = type_index (type);
  if (i < 0 || n % type_table[i].block_size != 0)
    return 0;
  return n / type_table[i].block_size * type_table[i].block_bytes;
}

/* ---- f16 / bf16 ---- */

static guint32
f32_bits (float x)
{
  guint32 u;
  memcpy (&u, &x, 4);
  return u;
}

static float
bits_f32 (guint32 u)
{
  float x;
  memcpy (&x, &u, 4);
  return x;
}

/* Shifts @m right by @shift (1..31), rounding to nearest, ties to even. */
static guint32
shift_rne (guint32 m, guint shift)
{
  guint32 r = m >> shift;
  guint32 rem = m & ((1u << shift) - 1);
  guint32 half = 1u << (shift - 1);
  if (rem > half || (rem == half && (r & 1)))
    r++;
  return r;
}

guint16
mor_f32_to_f16 (float x)
{
  guint32 u = f32_bits (x);
  guint16 sign = (u >> 16) & 0x8000;
  u &= 0x7fffffff;

  if (u > 0x7f800000)                  /* NaN: keep it quiet, keep the top payload bits */
    return sign | 0x7e00 | ((u >> 13) & 0x3ff);
  if (u >= 0x477ff000)                 /* ≥ 65520 (halfway past 65504) and Inf → Inf */
    return sign | 0x7c00;
  if (u >= 0x38800000)                 /* normal half: rebias the exponent 127 → 15 */
    return sign | shift_rne (u - 0x38000000, 13);
  if (u <= 0x33000000)                 /* ≤ 2^-25 (half the smallest subnormal) → ±0 */
    return sign;
  /* Subnormal half: value = m · 2^-24; the float is mant · 2^(e-150). A carry out
   * of the 10 mantissa bits gives 0x400, the smallest normal, as it should. */
  guint32 e = u >> 23;
  guint32 mant = (u & 0x7fffff) | 0x800000;
  return sign | shift_rne (mant, 126 - e);
}

float
mor_f16_to_f32 (guint16 h)
{
  guint32 sign = (guint32) (h & 0x8000) << 16;
  guint32 e = (h >> 10) & 0x1f;
  guint32 m = h & 0x3ff;

  if (e == 0x1f)                       /* Inf / NaN */
    return bits_f32 (sign | 0x7f800000 | (m << 13));
  if (e == 0) {
    /* zero or subnormal: m · 2^-24, exact in float */
    float v = ldexpf ((float) m, -24);
    return sign ? -v : v;
  }
  return bits_f32 (sign | ((e + 112) << 23) | (m << 13));
}

guint16
mor_f32_to_bf16 (float x)
{
  guint32 u = f32_bits (x);
  if ((u & 0x7fffffff) > 0x7f800000)   /* NaN: truncate, force quiet */
    return (u >> 16) | 0x40;
  /* round to nearest even on the dropped 16 bits; overflow carries into Inf */
  return (u + 0x7fff + ((u >> 16) & 1)) >> 16;
}

float
mor_bf16_to_f32 (guint16 h)
{
  return bits_f32 ((guint32) h << 16);
}

static float
load_f16 (const guint8 *p)
{
  return mor_f16_to_f32 ((guint16) (p[0] | (p[1] << 8)));
}

static void
store_f16 (guint8 *p, float x)
{
  guint16 h = mor_f32_to_f16 (x);
  p[0] = h & 0xff;
  p[1] = h >> 8;
}

/* ---- dequantization (ggml-quants.c dequantize_row_*) ---- */

/* Q4_K's 6-bit scale and min of sub-block @j (0..7) from the 12 packed bytes:
 * j < 4: low 6 bits of bytes j (scale) and j + 4 (min); j ≥ 4: the low/high
 * nibble of byte j + 4, topped by the 2 high bits of byte j - 4 (scale) or j (min). */
static void
q4_k_scale_min (int j, const guint8 *s, guint8 *sc, guint8 *m)
{
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0xf) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

static void
dequantize_q8_0 (const guint8 *b, float *y)
{
  float d = load_f16 (b);
  for (int j = 0; j < 32; j++)
    y[j] = d * (float) (gint8) b[2 + j];
}

static void
dequantize_q4_0 (const guint8 *b, float *y)
{
  float d = load_f16 (b);
  const guint8 *qs = b + 2;
  for (int j = 0; j < 16; j++) {
    y[j] = d * (float) ((qs[j] & 0xf) - 8);
    y[j + 16] = d * (float) ((qs[j] >> 4) - 8);
  }
}

static void
dequantize_q4_k (const guint8 *b, float *y)
{
  float d = load_f16 (b);
  float dmin = load_f16 (b + 2);
  const guint8 *scales = b + 4;
  const guint8 *q = b + 16;

  /* 4 chunks of 64: low nibbles of 32 bytes are sub-block 2c, high nibbles 2c + 1 */
  for (int c = 0; c < 4; c++) {
    guint8 sc, m;
    q4_k_scale_min (2 * c, scales, &sc, &m);
    float d1 = d * sc, m1 = dmin * m;
    q4_k_scale_min (2 * c + 1, scales, &sc, &m);
    float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; l++)
      y[l] = d1 * (q[l] & 0xf) - m1;
    for (int l = 0; l < 32; l++)
      y[32 + l] = d2 * (q[l] >> 4) - m2;
    y += 64;
    q += 32;
  }
}

static void
dequantize_q6_k (const guint8 *b, float *y)
{
  const guint8 *ql = b, *qh = b + 128;
  const gint8 *sc = (const gint8 *) (b + 192);
  float d = load_f16 (b + 208);

  /* 2 halves of 128 elements; in a half, element l + 32k (k = 0..3, l < 32) takes
   * the low (k = 0, 1) or high (k = 2, 3) nibble of ql[l + 32 (k & 1)], bits 2k..2k+1
   * of qh[l] on top, minus 32, times the int8 scale of its 16-element sub-block. */
  for (int h = 0; h < 2; h++) {
    for (int l = 0; l < 32; l++) {
      int is = l / 16;
      int q1 = ((ql[l] & 0xf) | (((qh[l] >> 0) & 3) << 4)) - 32;
      int q2 = ((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32;
      int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * sc[is + 0] * q1;
      y[l + 32] = d * sc[is + 2] * q2;
      y[l + 64] = d * sc[is + 4] * q3;
      y[l + 96] = d * sc[is + 6] * q4;
    }
    y += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

void
mor_ref_dequantize_row (MorType type, const void *src, float *dst, guint64 n)
{
  const guint8 *s = src;

  g_return_if_fail (mor_type_is_supported (type));
  g_return_if_fail (n % mor_type_block_size (type) == 0);

  switch (type) {
    case MOR_TYPE_F32:
      memcpy (dst, src, n * sizeof (float));
      break;
    case MOR_TYPE_F16:
      for (guint64 i = 0; i < n; i++)
        dst[i] = load_f16 (s + 2 * i);
      break;
    case MOR_TYPE_BF16:
      for (guint64 i = 0; i < n; i++)
        dst[i] = mor_bf16_to_f32 ((guint16) (s[2 * i] | (s[2 * i + 1] << 8)));
      break;
    case MOR_TYPE_Q8_0:
      for (guint64 i = 0; i < n / 32; i++)
        dequantize_q8_0 (s + i * Q8_0_BYTES, dst + i * 32);
      break;
    case MOR_TYPE_Q4_0:
      for (guint64 i = 0; i < n / 32; i++)
        dequantize_q4_0 (s + i * Q4_0_BYTES, dst + i * 32);
      break;
    case MOR_TYPE_Q4_K:
      for (guint64 i = 0; i < n / 256; i++)
        dequantize_q4_k (s + i * Q4_K_BYTES, dst + i * 256);
      break;
    case MOR_TYPE_Q6_K:
      for (guint64 i = 0; i < n / 256; i++)
        dequantize_q6_k (s + i * Q6_K_BYTES, dst + i * 256);
      break;
  }
}

/* ---- quantization ---- */

/* ggml's quantize_row_q8_0_ref: d = amax / 127, q = round(x / d) (half away from zero). */
static void
quantize_q8_0 (const float *x, guint8 *b)
{
  float amax = 0.0f;
  for (int j = 0; j < 32; j++)
    amax = MAX (amax, fabsf (x[j]));
  float d = amax / 127.0f;
  float id = d != 0.0f ? 1.0f / d : 0.0f;
  store_f16 (b, d);
  for (int j = 0; j < 32; j++)
    b[2 + j] = (guint8) (gint8) roundf (x[j] * id);
}

/* ggml's quantize_row_q4_0_ref: d = max / -8 with max the value of largest
 * magnitude (so it maps to q = 0 exactly), q = min(15, trunc(x / d + 8.5)). */
static void
quantize_q4_0 (const float *x, guint8 *b)
{
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < 32; j++) {
    if (amax < fabsf (x[j])) {
      amax = fabsf (x[j]);
      max = x[j];
    }
  }
  float d = max / -8.0f;
  float id = d != 0.0f ? 1.0f / d : 0.0f;
  store_f16 (b, d);
  for (int j = 0; j < 16; j++) {
    int q0 = MIN (15, (int) (gint8) (x[j] * id + 8.5f));
    int q1 = MIN (15, (int) (gint8) (x[j + 16] * id + 8.5f));
    b[2 + j] = (guint8) (q0 | (q1 << 4));
  }
}

/* Rounds @x to f16 and, if that went below @x, up by one ulp, so that a scale
 * derived as max / 63 still covers max after storing (x ≥ 0, finite). */
static guint16
f16_at_least (float x)
{
  guint16 h = mor_f32_to_f16 (x);
  if (mor_f16_to_f32 (h) < x && h < 0x7bff)
    h++;
  return h;
}

/* A simple Q4_K quantizer (not ggml's iterative search): per 32-element
 * sub-block, the min mn = min(0, min x) and the range to max x; the 6-bit mins
 * and scales are rounded up so that every sub-block's range stays covered, then
 * q = round((x + dmin·m) / (d·sc)) clamped to 0..15. The error is at most half a
 * step d·sc of the sub-block. */
static void
quantize_q4_k (const float *x, guint8 *b)
{
  float mins[8], maxs[8], scales[8];
  float max_min = 0.0f;
  guint8 ms[8], scs[8];

  for (int j = 0; j < 8; j++) {
    float mn = 0.0f, mx = -INFINITY;
    for (int l = 0; l < 32; l++) {
      mn = MIN (mn, x[32 * j + l]);
      mx = MAX (mx, x[32 * j + l]);
    }
    mins[j] = -mn;              /* ≥ 0 */
    maxs[j] = mx;
    max_min = MAX (max_min, mins[j]);
  }

  guint16 dmin_h = f16_at_least (max_min / 63.0f);
  float dmin = mor_f16_to_f32 (dmin_h);
  float max_scale = 0.0f;
  for (int j = 0; j < 8; j++) {
    ms[j] = dmin > 0.0f ? (guint8) MIN (63.0f, ceilf (mins[j] / dmin)) : 0;
    scales[j] = MAX (0.0f, (maxs[j] + dmin * ms[j]) / 15.0f);
    max_scale = MAX (max_scale, scales[j]);
  }

  guint16 d_h = f16_at_least (max_scale / 63.0f);
  float d = mor_f16_to_f32 (d_h);
  for (int j = 0; j < 8; j++)
    scs[j] = d > 0.0f ? (guint8) MIN (63.0f, ceilf (scales[j] / d)) : 0;

  b[0] = d_h & 0xff;
  b[1] = d_h >> 8;
  b[2] = dmin_h & 0xff;
  b[3] = dmin_h >> 8;
  /* the inverse of q4_k_scale_min(): low 6 bits in bytes 0..7 for j < 4, nibbles
   * in bytes 8..11 and the 2 high bits in the top of bytes 0..7 for j ≥ 4 */
  guint8 *s = b + 4;
  for (int j = 0; j < 4; j++) {
    s[j] = scs[j] | ((scs[j + 4] >> 4) << 6);
    s[j + 4] = ms[j] | ((ms[j + 4] >> 4) << 6);
    s[j + 8] = (scs[j + 4] & 0xf) | ((ms[j + 4] & 0xf) << 4);
  }

  guint8 *qs = b + 16;
  for (int c = 0; c < 4; c++) {
    guint8 nib[2][32];
    for (int k = 0; k < 2; k++) {
      int j = 2 * c + k;
      float step = d * scs[j], off = dmin * ms[j];
      float id = step > 0.0f ? 1.0f / step : 0.0f;
      for (int l = 0; l < 32; l++)
        nib[k][l] = (guint8) CLAMP (roundf ((x[32 * j + l] + off) * id), 0.0f, 15.0f);
    }
    for (int l = 0; l < 32; l++)
      qs[32 * c + l] = nib[0][l] | (nib[1][l] << 4);
  }
}

/* A simple Q6_K quantizer: per 16-element sub-block the scale max / -32, with
 * max the value of largest magnitude (as Q4_0 does); the int8 scales are rounded
 * away from zero so that the sub-block stays covered, then q = round(x / (d·sc))
 * clamped to -32..31. The error is at most one step d·|sc| (the one value that
 * reaches +32 is clamped to 31), half a step elsewhere. */
static void
quantize_q6_k (const float *x, guint8 *b)
{
  float sub[16];
  float max_abs = 0.0f;
  gint8 scs[16];
  gint8 q[256];

  for (int j = 0; j < 16; j++) {
    float amax = 0.0f, max = 0.0f;
    for (int l = 0; l < 16; l++) {
      if (amax < fabsf (x[16 * j + l])) {
        amax = fabsf (x[16 * j + l]);
        max = x[16 * j + l];
      }
    }
    sub[j] = max / -32.0f;
    max_abs = MAX (max_abs, amax / 32.0f);
  }

  guint16 d_h = f16_at_least (max_abs / 127.0f);
  float d = mor_f16_to_f32 (d_h);
  for (int j = 0; j < 16; j++) {
    float a = d > 0.0f ? MIN (127.0f, ceilf (fabsf (sub[j]) / d)) : 0.0f;
    scs[j] = (gint8) (sub[j] < 0.0f ? -a : a);
    float step = d * scs[j];
    float id = step != 0.0f ? 1.0f / step : 0.0f;
    for (int l = 0; l < 16; l++)
      q[16 * j + l] = (gint8) CLAMP (roundf (x[16 * j + l] * id), -32.0f, 31.0f);
  }

  /* the inverse of dequantize_q6_k()'s bit layout */
  guint8 *ql = b, *qh = b + 128;
  memset (b, 0, Q6_K_BYTES);
  for (int h = 0; h < 2; h++) {
    for (int l = 0; l < 32; l++) {
      guint8 u[4];
      for (int k = 0; k < 4; k++)
        u[k] = (guint8) (q[128 * h + l + 32 * k] + 32);
      ql[64 * h + l] = (u[0] & 0xf) | ((u[2] & 0xf) << 4);
      ql[64 * h + l + 32] = (u[1] & 0xf) | ((u[3] & 0xf) << 4);
      qh[32 * h + l] = (u[0] >> 4) | ((u[1] >> 4) << 2) | ((u[2] >> 4) << 4) | ((u[3] >> 4) << 6);
    }
  }
  memcpy (b + 192, scs, 16);
  b[208] = d_h & 0xff;
  b[209] = d_h >> 8;
}

void
mor_quantize_row (MorType type, const float *src, void *dst, guint64 n)
{
  guint8 *d = dst;

  g_return_if_fail (mor_type_is_supported (type));
  g_return_if_fail (n % mor_type_block_size (type) == 0);

  switch (type) {
    case MOR_TYPE_F32:
      memcpy (dst, src, n * sizeof (float));
      break;
    case MOR_TYPE_F16:
      for (guint64 i = 0; i < n; i++)
        store_f16 (d + 2 * i, src[i]);
      break;
    case MOR_TYPE_BF16:
      for (guint64 i = 0; i < n; i++) {
        guint16 h = mor_f32_to_bf16 (src[i]);
        d[2 * i] = h & 0xff;
        d[2 * i + 1] = h >> 8;
      }
      break;
    case MOR_TYPE_Q8_0:
      for (guint64 i = 0; i < n / 32; i++)
        quantize_q8_0 (src + i * 32, d + i * Q8_0_BYTES);
      break;
    case MOR_TYPE_Q4_0:
      for (guint64 i = 0; i < n / 32; i++)
        quantize_q4_0 (src + i * 32, d + i * Q4_0_BYTES);
      break;
    case MOR_TYPE_Q4_K:
      for (guint64 i = 0; i < n / 256; i++)
        quantize_q4_k (src + i * 256, d + i * Q4_K_BYTES);
      break;
    case MOR_TYPE_Q6_K:
      for (guint64 i = 0; i < n / 256; i++)
        quantize_q6_k (src + i * 256, d + i * Q6_K_BYTES);
      break;
  }
}
