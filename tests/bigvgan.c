/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/bigvgan.c: the Vulkan vocoder against its C reference forward
 * on tiny random BigVGANs (awkward frame counts), the output length and clamp,
 * re-recording between window sizes, streaming against the whole utterance
 * (measured), and errors for bad windows and bad models. */
#include <math.h>
#include <string.h>

#include "ops/harness.h"
#include "bigvgan.h"
#include "mkmodel.h"

static MorVkDevice *device;

/* A BigVGAN written the way the converter writes it (docs/model-format.md), and
 * what to spoil in it. Lists end at their first 0. */
typedef struct {
  guint32 mel_dim, c0, rates[8], kernels[8], res_kernels[8], dilations[24];
  float post_scale;              /* conv_post weights times this (0: 0.05, for samples well inside ±1) */
  gboolean f16;                  /* convolution weights in F16 */
  const char *drop_key, *drop_tensor, *reshape_tensor, *bf16_tensor;
} Spec;

/* tests/convert/make_checkpoint.py's BigVGAN, with other dilations */
static const Spec tiny = { 8, 32, { 2, 3 }, { 4, 7 }, { 3, 5 }, { 1, 3, 5, 1, 2, 1 } };

static guint32
list_len (const guint32 *v, guint32 max)
{
  guint32 n = 0;
  while (n < max && v[n])
    n++;
  return n;
}

static void
add (MorGgufWriter *w, const Spec *s, GRand *rng, const char *name, guint32 n_dims, guint64 ne0, guint64 ne1,
     guint64 ne2, float std)
{
  if (g_strcmp0 (name, s->drop_tensor) == 0)
    return;
  guint64 ne[3] = { ne0, ne1, ne2 };
  if (g_strcmp0 (name, s->reshape_tensor) == 0)
    ne[n_dims - 1] += 1;
  gsize n = ne[0] * ne[1] * ne[2];
  g_autofree float *v = g_new (float, n);
  for (gsize i = 0; i < n; i++) {
    /* Box–Muller */
    double u = g_rand_double_range (rng, 1e-12, 1.0), t = g_rand_double (rng);
    v[i] = (float) (std * sqrt (-2 * log (u)) * cos (2 * G_PI * t));
  }
  if (s->f16 && n_dims == 3) {
    g_autofree guint16 *h = g_new (guint16, n);
    for (gsize i = 0; i < n; i++)
      h[i] = mor_f32_to_f16 (v[i]);
    mor_gguf_writer_add_tensor (w, name, MOR_TYPE_F16, n_dims, ne, h, n * 2);
    return;
  }
  if (g_strcmp0 (name, s->bf16_tensor) == 0) {
    g_autofree guint16 *h = g_new (guint16, n);
    for (gsize i = 0; i < n; i++)
      h[i] = mor_f32_to_bf16 (v[i]);
    mor_gguf_writer_add_tensor (w, name, MOR_TYPE_BF16, n_dims, ne, h, n * 2);
    return;
  }
  mor_gguf_writer_add_tensor (w, name, MOR_TYPE_F32, n_dims, ne, v, n * 4);
}

static void
add_list (MorGgufWriter *w, const Spec *s, const char *key, const guint32 *v, guint32 n)
{
  if (g_strcmp0 (key, s->drop_key) != 0)
    mor_gguf_writer_add_array (w, key, MOR_GGUF_VALUE_UINT32, v, n);
}

static MorGguf *
write_model (const Spec *s, guint32 seed)
{
  g_autoptr (MorGgufWriter) w = mor_gguf_writer_new ();
  g_autoptr (GRand) rng = g_rand_new_with_seed (seed);
  guint32 n_ups = list_len (s->rates, 8), n_res = list_len (s->res_kernels, 8), c0 = s->c0;
  mor_gguf_writer_add_string (w, "general.architecture", "mor");
  if (g_strcmp0 (s->drop_key, "mor.bigvgan.mel_dim") != 0)
    mor_gguf_writer_add_u32 (w, "mor.bigvgan.mel_dim", s->mel_dim);
  mor_gguf_writer_add_u32 (w, "mor.bigvgan.upsample_initial_channel", c0);
  add_list (w, s, "mor.bigvgan.upsample_rates", s->rates, n_ups);
  add_list (w, s, "mor.bigvgan.upsample_kernel_sizes", s->kernels, list_len (s->kernels, 8));
  add_list (w, s, "mor.bigvgan.resblock_kernel_sizes", s->res_kernels, n_res);
  add_list (w, s, "mor.bigvgan.resblock_dilation_sizes", s->dilations, list_len (s->dilations, 24));
  /* Conv1d(in, out, k): [k, in, out] with N(0, 1/(in·k)) weights, so activations keep their scale */
  add (w, s, rng, "t2w.bigvgan.conv_pre.weight", 3, 7, s->mel_dim, c0, 1.0f / sqrtf (7.0f * s->mel_dim));
  add (w, s, rng, "t2w.bigvgan.conv_pre.bias", 1, c0, 1, 1, 0.1f);
  for (guint32 i = 0; i < n_ups; i++) {
    guint32 cin = c0 >> i, cout = c0 >> (i + 1), k = s->kernels[i];
    g_autofree char *wn = g_strdup_printf ("t2w.bigvgan.ups.%u.weight", i);
    g_autofree char *bn = g_strdup_printf ("t2w.bigvgan.ups.%u.bias", i);
    add (w, s, rng, wn, 3, k, cout, cin, sqrtf ((float) s->rates[i] / (cin * k)));
    add (w, s, rng, bn, 1, cout, 1, 1, 0.1f);
    for (guint32 r = 0; r < n_res; r++) {
      guint32 j = i * n_res + r, kr = s->res_kernels[r];
      for (guint32 n = 1; n <= 2; n++)
        for (guint32 m = 0; m < 3; m++) {
          g_autofree char *cw = g_strdup_printf ("t2w.bigvgan.res.%u.conv%u.%u.weight", j, n, m);
          g_autofree char *cb = g_strdup_printf ("t2w.bigvgan.res.%u.conv%u.%u.bias", j, n, m);
          add (w, s, rng, cw, 3, kr, cout, cout, 1.0f / sqrtf ((float) cout * kr));
          add (w, s, rng, cb, 1, cout, 1, 1, 0.1f);
        }
      for (guint32 a = 0; a < 6; a++) {
        g_autofree char *an = g_strdup_printf ("t2w.bigvgan.res.%u.act.%u.alpha", j, a);
        g_autofree char *bn2 = g_strdup_printf ("t2w.bigvgan.res.%u.act.%u.beta", j, a);
        add (w, s, rng, an, 1, cout, 1, 1, 0.3f);
        add (w, s, rng, bn2, 1, cout, 1, 1, 0.3f);
      }
    }
  }
  guint32 last = c0 >> n_ups;
  add (w, s, rng, "t2w.bigvgan.act_post.alpha", 1, last, 1, 1, 0.3f);
  add (w, s, rng, "t2w.bigvgan.act_post.beta", 1, last, 1, 1, 0.3f);
  add (w, s, rng, "t2w.bigvgan.conv_post.weight", 3, 7, last, 1,
       (s->post_scale ? s->post_scale : 0.05f) / sqrtf (7.0f * last));
  g_autoptr (GBytes) bytes = mor_gguf_writer_to_bytes (w);
  g_autoptr (GError) error = NULL;
  MorGguf *g = mor_gguf_new_from_bytes (bytes, &error);
  g_assert_no_error (error);
  return g;
}

static MorBigvgan *
load_spec (const Spec *s, guint32 seed)
{
  g_autoptr (MorGguf) g = write_model (s, seed);
  g_autoptr (GError) error = NULL;
  MorBigvgan *bv = mor_bigvgan_load (device, g, &error);
  g_assert_no_error (error);
  return bv;
}

/* Natural-log mel amplitudes as a DiT writes them: about -11 to 2. */
static float *
random_mel (guint32 n_mel, guint32 n_frames, guint32 seed)
{
  return harness_random ((gsize) n_mel * n_frames, -11.0f, 2.0f, seed);
}

static MorBigvganSession *
session (MorBigvgan *bv, guint32 max_frames)
{
  g_autoptr (GError) error = NULL;
  MorBigvganSession *s = mor_bigvgan_session_new (bv, max_frames, &error);
  g_assert_no_error (error);
  return s;
}

static const float *
vocode (MorBigvganSession *s, const float *mel, guint32 n_frames, guint32 stride)
{
  g_autoptr (GError) error = NULL;
  const float *y = mor_bigvgan_session_vocode (s, mel, n_frames, stride, &error);
  g_assert_no_error (error);
  g_assert_nonnull (y);
  return y;
}

/* Vulkan against the C reference on windows of awkward sizes: fp32 on both
 * sides, different summation orders (fp64 in the reference) and the device's
 * own sin/exp in SnakeBeta. The error grows with the hidden values (about 1e-6
 * of the largest); in these models they stay below ~10 and |y| below ~0.7:
 * measured max |Δ| 6e-7 on lavapipe. */
#define ATOL 2e-6f
#define RTOL 1e-5f

static void
check_against_reference (MorBigvgan *bv, MorBigvganSession *s, guint32 T, guint32 seed, float atol,
                         const char *what)
{
  const MorBigvganConfig *c = mor_bigvgan_get_config (bv);
  g_autofree float *mel = random_mel (c->mel_dim, T, seed);
  guint64 n = (guint64) T * c->hop;
  g_autofree float *want = g_new (float, n);
  mor_bigvgan_reference_forward (bv, mel, T, T, want);
  const float *got = vocode (s, mel, T, T);
  double max_d = 0, peak = 0;
  for (guint64 i = 0; i < n; i++) {
    g_assert_cmpfloat (fabsf (got[i]), <=, 1.0f);
    max_d = MAX (max_d, fabs (got[i] - want[i]));
    peak = MAX (peak, fabs (want[i]));
  }
  g_autofree char *msg = g_strdup_printf ("%s T=%u", what, T);
  g_test_message ("%s: %" G_GUINT64_FORMAT " samples, max |Δ| %.3g, max |y| %.3g", msg, n, max_d, peak);
  g_assert_cmpfloat (peak, >, 0.01);   /* not a silent model */
  harness_assert_close (msg, got, want, n, atol, RTOL);
}

static void
test_forward (void)
{
  g_autoptr (MorBigvgan) bv = load_spec (&tiny, 1);
  const MorBigvganConfig *c = mor_bigvgan_get_config (bv);
  g_assert_cmpuint (c->mel_dim, ==, 8);
  g_assert_cmpuint (c->n_upsamples, ==, 2);
  g_assert_cmpuint (c->n_kernels, ==, 2);
  g_assert_cmpuint (c->hop, ==, 6);
  g_assert_cmpuint (c->sample_rate, ==, 600);
  g_assert_cmpuint (c->resblock_dilation_sizes[1][1], ==, 2);
  g_autoptr (MorBigvganSession) s = session (bv, 40);
  static const guint32 frames[] = { 1, 7, 33, 40, 7 };
  for (guint i = 0; i < G_N_ELEMENTS (frames); i++)
    check_against_reference (bv, s, frames[i], 10 + i, ATOL, "tiny");
}

/* Convolution weights in F16 (the conv ops' other weight type). */
static void
test_forward_f16 (void)
{
  Spec half = tiny;
  half.f16 = TRUE;
  g_autoptr (MorBigvgan) bv = load_spec (&half, 14);
  g_autoptr (MorBigvganSession) s = session (bv, 33);
  check_against_reference (bv, s, 7, 15, ATOL, "f16");
  check_against_reference (bv, s, 33, 16, ATOL, "f16");
}

/* Three upsamplers of odd rates and kernel sizes, three resblock kernels (one of
 * size 1), odd channel counts after halving, one mel band. */
static void
test_forward_odd (void)
{
  static const Spec odd = { 1, 24, { 3, 1, 5 }, { 5, 1, 9 }, { 1, 3, 7 }, { 1, 1, 1, 2, 4, 1, 1, 3, 5 } };
  g_autoptr (MorBigvgan) bv = load_spec (&odd, 2);
  g_assert_cmpuint (mor_bigvgan_get_config (bv)->hop, ==, 15);
  g_autoptr (MorBigvganSession) s = session (bv, 9);
  for (guint32 T = 1; T <= 9; T += 4)
    check_against_reference (bv, s, T, 20 + T, ATOL, "odd");
}

/* The tiny talker.gguf of mor_mkmodel_talker(): 80 mel bands, 240 samples a
 * frame. Its random weights compound to hidden values of tens before
 * conv_post (most samples clamp): the tolerance scales with that (measured
 * max |Δ| 2e-5; 7.6e-5 with the 6-upsampler tiny talker of before). */
static MorBigvgan *
talker_tiny (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MorGgufWriter) w = mor_mkmodel_talker (mor_mkmodel_talker_shape ("tiny"), MOR_TYPE_F32, 3, &error);
  g_assert_no_error (error);
  g_autoptr (GBytes) bytes = mor_gguf_writer_to_bytes (w);
  g_autoptr (MorGguf) g = mor_gguf_new_from_bytes (bytes, &error);
  g_assert_no_error (error);
  MorBigvgan *bv = mor_bigvgan_load (device, g, &error);
  g_assert_no_error (error);
  return bv;
}

static void
test_forward_talker (void)
{
  g_autoptr (MorBigvgan) bv = talker_tiny ();
  const MorBigvganConfig *c = mor_bigvgan_get_config (bv);
  g_assert_cmpuint (c->mel_dim, ==, 80);
  g_assert_cmpuint (c->hop, ==, 240);
  g_assert_cmpuint (c->sample_rate, ==, 24000);
  g_autoptr (MorBigvganSession) s = session (bv, 7);
  check_against_reference (bv, s, 1, 31, 70 * ATOL, "talker tiny");
  check_against_reference (bv, s, 7, 32, 70 * ATOL, "talker tiny");
}

/* A window inside a larger array (mel_stride) gives the same samples as its
 * packed copy; going back to an earlier size re-records and repeats the
 * samples exactly. */
static void
test_stride_and_rerecord (void)
{
  g_autoptr (MorBigvgan) bv = load_spec (&tiny, 4);
  g_autoptr (MorBigvganSession) s = session (bv, 33);
  guint32 N = 50, t0 = 9, T = 33, hop = mor_bigvgan_get_config (bv)->hop;
  g_autofree float *big = random_mel (8, N, 5), *packed = g_new (float, 8 * T);
  for (guint32 m = 0; m < 8; m++)
    memcpy (packed + m * T, big + m * N + t0, T * 4);
  g_autofree float *a = g_memdup2 (vocode (s, packed, T, T), (gsize) T * hop * 4);
  g_autofree float *b = g_memdup2 (vocode (s, big + t0, T, N), (gsize) T * hop * 4);
  g_assert_cmpmem (a, T * hop * 4, b, T * hop * 4);
  vocode (s, packed, 5, T);
  const float *c = vocode (s, packed, T, T);
  g_assert_cmpmem (a, T * hop * 4, c, T * hop * 4);
}

/* torch.clamp(waveform, -1, 1): with conv_post's weights ×40 many samples
 * saturate, at exactly ±1 in both paths (the others 40 times louder, and so
 * their tolerance). */
static void
test_clamp (void)
{
  Spec loud = tiny;
  loud.post_scale = 2;
  g_autoptr (MorBigvgan) bv = load_spec (&loud, 6);
  g_autoptr (MorBigvganSession) s = session (bv, 20);
  g_autofree float *mel = random_mel (8, 20, 7);
  g_autofree float *want = g_new (float, 20 * 6);
  mor_bigvgan_reference_forward (bv, mel, 20, 20, want);
  const float *got = vocode (s, mel, 20, 20);
  guint n_pos = 0, n_neg = 0;
  for (guint i = 0; i < 20 * 6; i++) {
    g_assert_cmpfloat (fabsf (got[i]), <=, 1.0f);
    n_pos += got[i] == 1.0f;
    n_neg += got[i] == -1.0f;
  }
  g_test_message ("%u samples at +1, %u at -1 of %u", n_pos, n_neg, 20 * 6);
  g_assert_cmpuint (n_pos, >, 10);
  g_assert_cmpuint (n_neg, >, 10);
  harness_assert_close ("clamped", got, want, 20 * 6, 40 * ATOL, RTOL);
}

/* Streams @mel [mel_dim, N] in @n_chunks pushes of chunks[i] frames (the last one
 * flagged; chunks sum to N, the last may be 0) into @out; every sample comes
 * out once, in order. */
static void
stream (MorBigvgan *bv, MorBigvganSession *s, const float *mel, guint32 N, const guint32 *chunks, guint n_chunks, guint32 overlap,
        float *out)
{
  g_autoptr (GError) error = NULL;
  guint32 hop = mor_bigvgan_get_config (bv)->hop;
  mor_bigvgan_session_stream_reset (s, overlap);
  guint64 done = 0;
  guint32 at = 0;
  for (guint i = 0; i < n_chunks; i++) {
    guint64 got;
    const float *y = mor_bigvgan_session_stream_push (s, mel + at, chunks[i], N, i + 1 == n_chunks, &got, &error);
    g_assert_no_error (error);
    g_assert_nonnull (y);
    memcpy (out + done, y, got * 4);
    done += got;
    at += chunks[i];
  }
  g_assert_cmpuint (at, ==, N);
  g_assert_cmpuint (done, ==, (guint64) N * hop);
}

/* rms(a − b) / rms(b) over n samples; the largest |a − b| in *max_d. */
static double
rel_rms (const float *a, const float *b, gsize n, double *max_d)
{
  double se = 0, sb = 0;
  *max_d = 0;
  for (gsize i = 0; i < n; i++) {
    *max_d = MAX (*max_d, fabs (a[i] - b[i]));
    se += (double) (a[i] - b[i]) * (a[i] - b[i]);
    sb += (double) b[i] * b[i];
  }
  return sqrt (se / sb);
}

/* Qwen's scheme (§6c: chunks of 72 frames, 40 frames of context, overlap 20)
 * against the whole utterance of N random frames: every kept sample has ≥ 20
 * frames of context both sides, but BigVGAN's receptive field reaches ~30
 * frames each way (its convolutions' zero padding at a window's edge stands
 * in for the frames beyond), so the stream differs a little. Measured on
 * lavapipe with random weights and mel: tiny (hop 6, 300 frames) max |Δ| 6e-8,
 * rms(Δ)/rms(y) 3e-8; Qwen's shape (hop 240, 150 frames) max |Δ| 4.8e-6,
 * rms(Δ)/rms(y) 5e-7: at float32 noise. With 10 frames of overlap instead
 * of 20 it is not (rms ratio 4e-2 on mor mkmodel's tiny talker, `mor vocode
 * --chunk 72 --overlap 10`): 20 frames cover what matters of the receptive
 * field. */
static void
compare_stream (MorBigvgan *bv, guint32 N, guint32 seed, const char *what)
{
  const MorBigvganConfig *c = mor_bigvgan_get_config (bv);
  guint32 overlap = 20, hop = c->hop;
  g_autoptr (MorBigvganSession) whole_s = session (bv, N);
  g_autoptr (MorBigvganSession) s = session (bv, 72 + 2 * overlap);
  g_autofree float *mel = random_mel (c->mel_dim, N, seed);
  g_autofree float *whole = g_memdup2 (vocode (whole_s, mel, N, N), (gsize) N * hop * 4);
  g_autofree float *streamed = g_new (float, (gsize) N * hop);
  guint32 qwen[16], n_chunks = 0;
  for (guint32 at = 0; at < N; at += 72)
    qwen[n_chunks++] = MIN (72, N - at);
  g_assert_cmpuint (n_chunks, <=, G_N_ELEMENTS (qwen));
  stream (bv, s, mel, N, qwen, n_chunks, overlap, streamed);
  double max_d, rel = rel_rms (streamed, whole, (gsize) N * hop, &max_d);
  g_test_message ("%s: stream (chunks of 72, overlap 20) vs whole, %u frames: max |Δ| %.3g, rms(Δ)/rms(y) %.3g",
                  what, N, max_d, rel);
  g_assert_cmpfloat (rel, <, 1e-3);
  /* The first frames are far from the first window's end: as in the whole. */
  for (guint32 i = 0; i < 5 * hop; i++)
    g_assert_cmpfloat (fabsf (streamed[i] - whole[i]), <=, 1e-6f);
}

static void
test_stream (void)
{
  g_autoptr (MorBigvgan) bv = load_spec (&tiny, 8);
  compare_stream (bv, 300, 9, "tiny");
  /* The same frames in small, uneven chunks and an empty last push: as close;
   * one chunk: the whole; with overlap 0 each chunk is vocoded on its own. */
  guint32 N = 300;
  g_autoptr (MorBigvganSession) s = session (bv, 72 + 40), big = session (bv, N);
  g_autofree float *mel = random_mel (8, N, 9), *other = g_new (float, N * 6);
  g_autofree float *whole = g_memdup2 (vocode (big, mel, N, N), (gsize) N * 6 * 4);
  static const guint32 uneven[] = { 5, 1, 30, 17, 72, 3, 70, 60, 42, 0 };
  stream (bv, s, mel, N, uneven, G_N_ELEMENTS (uneven), 20, other);
  double max_d;
  g_assert_cmpfloat (rel_rms (other, whole, N * 6, &max_d), <, 1e-3);
  static const guint32 single[] = { 300 };
  stream (bv, big, mel, N, single, 1, 20, other);
  g_assert_cmpmem (other, N * 6 * 4, whole, N * 6 * 4);
  static const guint32 halves[] = { 150, 150 };
  stream (bv, big, mel, N, halves, 2, 0, other);
  g_autofree float *half = g_memdup2 (vocode (big, mel + 150, 150, N), 150 * 6 * 4);
  g_assert_cmpmem (other + 150 * 6, 150 * 6 * 4, half, 150 * 6 * 4);
}

/* Qwen2.5-Omni's rates, kernels and dilations (240 samples a frame) at 1/24 of
 * its width. */
static void
test_stream_qwen_shape (void)
{
  static const Spec qwen = { 80, 64, { 5, 3, 2, 2, 2, 2 }, { 11, 7, 4, 4, 4, 4 }, { 3, 7, 11 },
                             { 1, 3, 5, 1, 3, 5, 1, 3, 5 } };
  g_autoptr (MorBigvgan) bv = load_spec (&qwen, 13);
  compare_stream (bv, 150, 10, "qwen shape");
}

/* A window the session cannot take, or with a NaN: an error, and the session
 * still works. A stream chunk that does not fit with its context. */
static void
test_bad_input (void)
{
  g_autoptr (MorBigvgan) bv = load_spec (&tiny, 10);
  g_autoptr (MorBigvganSession) s = session (bv, 10);
  g_autofree float *mel = random_mel (8, 11, 11);
  g_autoptr (GError) error = NULL;
  g_assert_null (mor_bigvgan_session_vocode (s, mel, 0, 11, &error));
  g_assert_error (error, MOR_BIGVGAN_ERROR, MOR_BIGVGAN_ERROR_INPUT);
  g_test_message ("%s", error->message);
  g_clear_error (&error);
  g_assert_null (mor_bigvgan_session_vocode (s, mel, 11, 11, &error));
  g_assert_error (error, MOR_BIGVGAN_ERROR, MOR_BIGVGAN_ERROR_INPUT);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "11"));
  g_clear_error (&error);
  mel[3 * 11 + 4] = NAN;
  g_assert_null (mor_bigvgan_session_vocode (s, mel, 10, 11, &error));
  g_assert_error (error, MOR_BIGVGAN_ERROR, MOR_BIGVGAN_ERROR_INPUT);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "band 3, frame 4"));
  g_clear_error (&error);
  mel[3 * 11 + 4] = -INFINITY;   /* log of a zero amplitude: the floor, as in torch */
  mel[5 * 11 + 2] = INFINITY;
  g_autofree float *want = g_new (float, 10 * 6);
  mor_bigvgan_reference_forward (bv, mel, 10, 11, want);
  harness_assert_close ("after errors", vocode (s, mel, 10, 11), want, 10 * 6, ATOL, RTOL);

  guint64 n;
  mor_bigvgan_session_stream_reset (s, 2);
  g_assert_nonnull (mor_bigvgan_session_stream_push (s, mel, 8, 11, FALSE, &n, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 6 * 6);
  g_assert_null (mor_bigvgan_session_stream_push (s, mel, 7, 11, FALSE, &n, &error));
  g_assert_error (error, MOR_BIGVGAN_ERROR, MOR_BIGVGAN_ERROR_INPUT);
  g_test_message ("%s", error->message);
  g_clear_error (&error);
  g_assert_nonnull (mor_bigvgan_session_stream_push (s, mel, 6, 11, TRUE, &n, &error));
  g_assert_cmpuint (n, ==, 8 * 6);
}

static void
expect_error (const Spec *spec, GQuark domain, gint code, const char *needle)
{
  g_autoptr (MorGguf) g = write_model (spec, 12);
  g_autoptr (GError) error = NULL;
  g_autoptr (MorBigvgan) bv = mor_bigvgan_load (device, g, &error);
  g_assert_null (bv);
  g_assert_error (error, domain, code);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, needle));
}

static void
test_load_errors (void)
{
  Spec s = tiny;
  s.drop_key = "mor.bigvgan.mel_dim";
  expect_error (&s, MOR_GGUF_ERROR, MOR_GGUF_ERROR_NOT_FOUND, "mor.bigvgan.mel_dim");
  s = tiny;
  s.drop_key = "mor.bigvgan.resblock_dilation_sizes";
  expect_error (&s, MOR_GGUF_ERROR, MOR_GGUF_ERROR_NOT_FOUND, "resblock_dilation_sizes");
  s = tiny;
  s.dilations[5] = 0;
  expect_error (&s, MOR_BIGVGAN_ERROR, MOR_BIGVGAN_ERROR_CONFIG, "resblock_dilation_sizes");
  s = tiny;
  s.kernels[1] = 6;   /* k − r odd */
  expect_error (&s, MOR_BIGVGAN_ERROR, MOR_BIGVGAN_ERROR_CONFIG, "upsampler 1");
  s = tiny;
  s.kernels[0] = 1;   /* k < r */
  expect_error (&s, MOR_BIGVGAN_ERROR, MOR_BIGVGAN_ERROR_CONFIG, "upsampler 0");
  s = tiny;
  s.kernels[2] = 3;   /* three kernel sizes for two rates */
  expect_error (&s, MOR_BIGVGAN_ERROR, MOR_BIGVGAN_ERROR_CONFIG, "upsample_kernel_sizes");
  s = tiny;
  s.res_kernels[1] = 4;
  expect_error (&s, MOR_BIGVGAN_ERROR, MOR_BIGVGAN_ERROR_CONFIG, "resblock_kernel_sizes[1]");
  s = tiny;
  s.c0 = 36;          /* 36 → 18 → 9 is fine; 3 upsamplers would not be */
  s.rates[2] = 2;
  s.kernels[2] = 4;
  expect_error (&s, MOR_BIGVGAN_ERROR, MOR_BIGVGAN_ERROR_CONFIG, "upsample_initial_channel");
  s = tiny;
  s.drop_tensor = "t2w.bigvgan.res.3.act.5.beta";
  expect_error (&s, MOR_GGUF_ERROR, MOR_GGUF_ERROR_NOT_FOUND, "t2w.bigvgan.res.3.act.5.beta");
  s = tiny;
  s.reshape_tensor = "t2w.bigvgan.ups.1.weight";
  expect_error (&s, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE, "t2w.bigvgan.ups.1.weight");
  s = tiny;
  s.reshape_tensor = "t2w.bigvgan.conv_pre.weight";
  expect_error (&s, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE, "t2w.bigvgan.conv_pre.weight");
  s = tiny;
  s.reshape_tensor = "t2w.bigvgan.res.2.conv2.1.bias";
  expect_error (&s, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE, "t2w.bigvgan.res.2.conv2.1.bias");
  s = tiny;
  s.drop_tensor = "t2w.bigvgan.conv_post.weight";
  expect_error (&s, MOR_GGUF_ERROR, MOR_GGUF_ERROR_NOT_FOUND, "conv_post");
  s = tiny;
  s.bf16_tensor = "t2w.bigvgan.res.0.conv1.2.weight";
  expect_error (&s, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE, "t2w.bigvgan.res.0.conv1.2.weight");
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  device = harness_device ();
  g_test_add_func ("/bigvgan/forward", test_forward);
  g_test_add_func ("/bigvgan/forward-odd", test_forward_odd);
  g_test_add_func ("/bigvgan/forward-f16", test_forward_f16);
  g_test_add_func ("/bigvgan/forward-talker", test_forward_talker);
  g_test_add_func ("/bigvgan/stride-and-rerecord", test_stride_and_rerecord);
  g_test_add_func ("/bigvgan/clamp", test_clamp);
  g_test_add_func ("/bigvgan/stream", test_stream);
  g_test_add_func ("/bigvgan/stream-qwen-shape", test_stream_qwen_shape);
  g_test_add_func ("/bigvgan/bad-input", test_bad_input);
  g_test_add_func ("/bigvgan/load-errors", test_load_errors);
  return g_test_run ();
}
