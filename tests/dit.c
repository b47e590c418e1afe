/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/dit.c: the Vulkan DiT against its C reference on the tiny
 * random talker (mor_mkmodel_talker): one velocity evaluation, whole ODE
 * samples with RK4 and Euler, with and without guidance, the block masks'
 * receptive field, sessions re-recorded for other lengths, and errors for bad
 * codes, unknown speakers and bad files. */
#include <math.h>
#include <string.h>

#include "ops/harness.h"
#include "dit.h"
#include "mkmodel.h"

static MorVkDevice *device;

/* ---- tiny models, optionally edited ---- */

typedef struct {
  const char *key;              /* a u32 key, or a u32 array key (then n_values > 0), to replace */
  guint32 value;
  const guint32 *values;
  guint32 n_values;
  const char *drop_tensor;      /* a tensor to leave out */
} Edit;

static void
copy_key (MorGgufWriter *w, MorGguf *g, guint i, const Edit *e)
{
  const char *key = mor_gguf_get_key (g, i);
  if (e && g_strcmp0 (key, e->key) == 0) {
    if (e->n_values)
      mor_gguf_writer_add_array (w, key, MOR_GGUF_VALUE_UINT32, e->values, e->n_values);
    else
      mor_gguf_writer_add_u32 (w, key, e->value);
    return;
  }
  switch (mor_gguf_get_key_type (g, i)) {
  case MOR_GGUF_VALUE_UINT32: {
    guint32 v;
    mor_gguf_get_u32 (g, key, &v, NULL);
    mor_gguf_writer_add_u32 (w, key, v);
    break;
  }
  case MOR_GGUF_VALUE_FLOAT32: {
    float v;
    mor_gguf_get_f32 (g, key, &v, NULL);
    mor_gguf_writer_add_f32 (w, key, v);
    break;
  }
  case MOR_GGUF_VALUE_STRING:
    mor_gguf_writer_add_string (w, key, mor_gguf_get_string (g, key, NULL, NULL));
    break;
  case MOR_GGUF_VALUE_ARRAY: {
    MorGgufValueType type;
    guint64 n;
    mor_gguf_get_array (g, key, &type, &n, NULL);
    if (type == MOR_GGUF_VALUE_STRING) {
      g_autofree char **strv = g_new0 (char *, n + 1);
      for (guint64 j = 0; j < n; j++) {
        gsize len;
        const char *s = mor_gguf_get_array_string (g, key, j, &len);
        strv[j] = g_strndup (s, len);
      }
      mor_gguf_writer_add_string_array (w, key, (const char *const *) strv, (guint) n);
      for (guint64 j = 0; j < n; j++)
        g_free (strv[j]);
    } else {
      g_assert_cmpint (type, ==, MOR_GGUF_VALUE_UINT32);
      mor_gguf_writer_add_array (w, key, type, mor_gguf_get_array_data (g, key, type, &n, NULL), n);
    }
    break;
  }
  default:
    g_assert_not_reached ();
  }
}

static MorGguf *
to_gguf (MorGgufWriter *w)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = mor_gguf_writer_to_bytes (w);
  MorGguf *g = mor_gguf_new_from_bytes (bytes, &error);
  g_assert_no_error (error);
  return g;
}

/* The tiny talker.gguf from @seed, with @edit applied (NULL: none). */
static MorGguf *
tiny_talker (guint64 seed, const Edit *edit)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MorGgufWriter) src = mor_mkmodel_talker (mor_mkmodel_talker_shape ("tiny"), MOR_TYPE_F32, seed, &error);
  g_assert_no_error (error);
  g_autoptr (MorGguf) g = to_gguf (src);
  if (!edit)
    return g_steal_pointer (&g);
  g_autoptr (MorGgufWriter) w = mor_gguf_writer_new ();
  for (guint i = 0; i < mor_gguf_n_keys (g); i++)
    copy_key (w, g, i, edit);
  for (guint i = 0; i < mor_gguf_n_tensors (g); i++) {
    const MorGgufTensor *t = mor_gguf_get_tensor (g, i);
    if (g_strcmp0 (t->name, edit->drop_tensor) != 0)
      mor_gguf_writer_add_tensor (w, t->name, t->type, t->n_dims, t->ne, t->data, t->size);
  }
  return to_gguf (w);
}

static MorDit *
load (MorGguf *g)
{
  g_autoptr (GError) error = NULL;
  MorDit *dit = mor_dit_load (device, g, &error);
  g_assert_no_error (error);
  return dit;
}

/* The default speaker with ECAPA from the C reference, so that GPU and reference
 * runs below start from the same conditioning. */
static MorDitSpeaker *
speaker (MorDit *dit, const char *name)
{
  g_autoptr (GError) error = NULL;
  const float *cond, *ref_mel;
  guint32 n;
  g_assert_true (mor_dit_find_speaker (dit, name, &cond, &ref_mel, &n, &error));
  MorDitSpeaker *spk = mor_dit_speaker_new (dit, cond, ref_mel, n, TRUE, &error);
  g_assert_no_error (error);
  return spk;
}

static MorDitSession *
session (MorDit *dit, guint32 max_codes)
{
  g_autoptr (GError) error = NULL;
  MorDitSession *s = mor_dit_session_new (dit, max_codes, &error);
  g_assert_no_error (error);
  return s;
}

/* Codes 0 … num_embeds (every row of the tiny codec table) in a fixed order. */
static guint32 *
random_codes (MorDit *dit, guint32 n, guint32 seed)
{
  guint32 *codes = g_new (guint32, n);
  g_autoptr (GRand) r = g_rand_new_with_seed (seed);
  for (guint32 i = 0; i < n; i++)
    codes[i] = g_rand_int_range (r, 0, mor_dit_get_config (dit)->num_embeds + 1);
  return codes;
}

static float *
noise (MorDit *dit, guint32 n_codes, guint64 seed)
{
  const MorDitConfig *c = mor_dit_get_config (dit);
  gsize n = (gsize) n_codes * c->repeats * c->mel_dim;
  float *x = g_new (float, n);
  mor_dit_noise (seed, x, n);
  return x;
}

/* max |got − want| over n, against max |want|. */
static double
max_diff (const float *got, const float *want, gsize n, double *max_val)
{
  double d = 0, m = 0;
  for (gsize i = 0; i < n; i++) {
    g_assert_true (isfinite (got[i]));
    d = MAX (d, fabs ((double) got[i] - want[i]));
    m = MAX (m, fabs (want[i]));
  }
  if (max_val)
    *max_val = m;
  return d;
}

/* ---- tests ---- */

/* The sway-warped grid of transformers' sample() for 10 points (reference §6a). */
static void
test_time_points (void)
{
  static const double want[] = { 0, .01519, .06031, .13397, .23396, .35721, .5, .65798, .82635, 1 };
  float t[10];
  mor_dit_time_points (10, -1.0f, t);
  for (guint i = 0; i < 10; i++)
    g_assert_cmpfloat_with_epsilon (t[i], want[i], 1e-5);
  g_assert_cmpfloat (t[0], ==, 0.0f);
  g_assert_cmpfloat (t[9], ==, 1.0f);
  /* no sway: linspace */
  mor_dit_time_points (5, 0.0f, t);
  for (guint i = 0; i < 5; i++)
    g_assert_cmpfloat (t[i], ==, i * 0.25f);
}

/* Same seed, same noise; roughly standard normal. */
static void
test_noise (void)
{
  gsize n = 100001;
  g_autofree float *a = g_new (float, n), *b = g_new (float, n);
  mor_dit_noise (7, a, n);
  mor_dit_noise (7, b, n);
  g_assert_cmpmem (a, n * 4, b, n * 4);
  double s = 0, ss = 0;
  for (gsize i = 0; i < n; i++) {
    s += a[i];
    ss += (double) a[i] * a[i];
  }
  g_assert_cmpfloat (fabs (s / n), <, 0.02);
  g_assert_cmpfloat (fabs (ss / n - 1), <, 0.02);
  mor_dit_noise (8, b, n);
  g_assert_cmpint (memcmp (a, b, n * 4), !=, 0);
}

/* One evaluation, conditional and null branches, against the reference: 1
 * code (2 frames), 13 codes (a block and a bit), 40 codes (80 frames, four
 * blocks, so every mask shape matters), at t = 0, 0.37 and 1. */
static void
test_velocity (void)
{
  g_autoptr (MorGguf) g = tiny_talker (1, NULL);
  g_autoptr (MorDit) dit = load (g);
  g_autoptr (MorDitSpeaker) spk = speaker (dit, NULL);
  g_autoptr (MorDitSession) s = session (dit, 40);
  guint32 mel = mor_dit_get_config (dit)->mel_dim;
  static const guint32 lengths[] = { 1, 13, 40 };
  static const float times[] = { 0.0f, 0.37f, 1.0f };
  g_autoptr (GError) error = NULL;
  for (guint i = 0; i < G_N_ELEMENTS (lengths); i++)
    for (guint j = 0; j < G_N_ELEMENTS (times); j++) {
      guint32 n = lengths[i];
      gsize size = (gsize) 2 * n * mel;
      g_autofree guint32 *codes = random_codes (dit, n, i);
      g_autofree float *x = noise (dit, n, 10 + i);
      g_autofree float *vc = g_new (float, size), *vn = g_new (float, size);
      g_autofree float *wc = g_new (float, size), *wn = g_new (float, size), *vc1 = g_new (float, size);
      g_assert_true (mor_dit_reference_velocity (dit, spk, codes, n, x, times[j], wc, wn, &error));
      g_assert_true (mor_dit_session_velocity (s, spk, codes, n, x, times[j], vc, vn, &error));
      g_assert_no_error (error);
      double mc, mn, dc = max_diff (vc, wc, size, &mc), dn = max_diff (vn, wn, size, &mn);
      g_test_message ("%u codes, t %.2f: cond max |Δ| %.3g (max |v| %.3g), null %.3g (%.3g)", n, times[j], dc, mc,
                      dn, mn);
      /* velocities of order 1 after 3 blocks of width 64: fp32 sums in another order */
      g_assert_cmpfloat (dc, <, 1e-4 * MAX (mc, 1));
      g_assert_cmpfloat (dn, <, 1e-4 * MAX (mn, 1));
      g_assert_cmpfloat (max_diff (vc, vn, size, NULL), >, 1e-3);   /* the branches differ */
      /* the conditional branch alone gives the same */
      g_assert_true (mor_dit_session_velocity (s, spk, codes, n, x, times[j], vc1, NULL, &error));
      g_assert_cmpfloat (max_diff (vc1, vc, size, NULL), <, 1e-5 * MAX (mc, 1));
    }
}

/* Whole samples against the reference: RK4 and Euler, with guidance and
 * without; a session re-recorded for other lengths gives the same again. */
static void
test_sample (void)
{
  g_autoptr (MorGguf) g = tiny_talker (2, NULL);
  g_autoptr (MorDit) dit = load (g);
  g_autoptr (MorDitSpeaker) spk = speaker (dit, "Ethan");
  g_autoptr (MorDitSession) s = session (dit, 30);
  guint32 mel = mor_dit_get_config (dit)->mel_dim, n = 30;
  gsize size = (gsize) 2 * n * mel;
  g_autofree guint32 *codes = random_codes (dit, n, 3);
  g_autofree float *x0 = noise (dit, n, 4);
  struct { guint32 steps; float cfg; MorDitSolver solver; } runs[] = {
    { 4, 0.5f, MOR_DIT_SOLVER_RK4 }, { 5, 0.5f, MOR_DIT_SOLVER_EULER }, { 3, 0.0f, MOR_DIT_SOLVER_RK4 },
    { 10, 0.0f, MOR_DIT_SOLVER_EULER },
  };
  g_autoptr (GError) error = NULL;
  g_autofree float *first = NULL;
  for (guint i = 0; i < G_N_ELEMENTS (runs); i++) {
    MorDitSampleParams p;
    mor_dit_sample_params_init (&p);
    p.num_steps = runs[i].steps;
    p.guidance_scale = runs[i].cfg;
    p.solver = runs[i].solver;
    g_autofree float *got = g_new (float, size), *want = g_new (float, size);
    g_assert_true (mor_dit_reference_sample (dit, spk, codes, n, x0, &p, want, &error));
    g_assert_true (mor_dit_session_sample (s, spk, codes, n, x0, &p, got, &error));
    g_assert_no_error (error);
    double m, d = max_diff (got, want, size, &m);
    g_test_message ("%s, %u points, guidance %.1f: max |Δ| %.3g (max |mel| %.3g)",
                    runs[i].solver == MOR_DIT_SOLVER_RK4 ? "RK4" : "Euler", runs[i].steps, runs[i].cfg, d, m);
    g_assert_cmpfloat (d, <, 2e-4 * MAX (m, 1));
    g_assert_cmpfloat (max_diff (got, x0, size, NULL), >, 0.1);   /* it moved */
    if (i == 0)
      first = g_steal_pointer (&got);
  }
  /* another length re-records the stream; then the first again, bit for bit */
  g_autofree float *other = g_new (float, (gsize) 2 * 7 * mel), *again = g_new (float, size);
  g_assert_true (mor_dit_session_sample (s, spk, codes, 7, x0, NULL, other, &error));
  MorDitSampleParams p;
  mor_dit_sample_params_init (&p);
  p.num_steps = 4;
  g_assert_true (mor_dit_session_sample (s, spk, codes, n, x0, &p, again, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (again, size * 4, first, size * 4);
}

/* The tiny DiT looks 1 block back in layers 0 and 2 and 1 ahead in layer 1: a
 * frame's velocity depends on blocks b − 2 … b + 1 only (24 frames a block).
 * A change anywhere else leaves it bit for bit unchanged; a change inside
 * changes it. */
static void
test_block_mask (void)
{
  g_autoptr (MorGguf) g = tiny_talker (3, NULL);
  g_autoptr (MorDit) dit = load (g);
  g_autoptr (MorDitSpeaker) spk = speaker (dit, NULL);
  const MorDitConfig *c = mor_dit_get_config (dit);
  g_assert_cmpuint (c->block_size, ==, 24);
  guint32 n = 72, T = 2 * n, mel = c->mel_dim, B = 24;  /* 6 blocks */
  g_autoptr (MorDitSession) s = session (dit, n);
  g_autofree guint32 *codes = random_codes (dit, n, 5);
  g_autofree float *x = noise (dit, n, 6);
  gsize size = (gsize) T * mel;
  g_autofree float *v0 = g_new (float, size), *v1 = g_new (float, size), *r0 = g_new (float, size);
  g_autofree float *r1 = g_new (float, size);
  g_autoptr (GError) error = NULL;
  g_assert_true (mor_dit_session_velocity (s, spk, codes, n, x, 0.4f, v0, NULL, &error));
  g_assert_true (mor_dit_reference_velocity (dit, spk, codes, n, x, 0.4f, r0, NULL, &error));
  /* change block 5's noise and block 0's codes */
  g_autofree float *x2 = g_memdup2 (x, size * 4);
  g_autofree guint32 *codes2 = g_memdup2 (codes, n * 4);
  for (gsize i = 5 * B * mel; i < 6 * B * mel; i++)
    x2[i] += 1.0f;
  for (guint32 i = 0; i < B / 2; i++)
    codes2[i] = (codes2[i] + 1) % (c->num_embeds + 1);
  g_assert_true (mor_dit_session_velocity (s, spk, codes2, n, x2, 0.4f, v1, NULL, &error));
  g_assert_true (mor_dit_reference_velocity (dit, spk, codes2, n, x2, 0.4f, r1, NULL, &error));
  g_assert_no_error (error);
  for (guint32 b = 0; b < T / B; b++) {
    gsize off = (gsize) b * B * mel, len = (gsize) B * mel;
    /* blocks 3 and 4 see neither block 0 nor block 5; 0, 1, 2 see block 0, 4 and 5 see 5 */
    gboolean same = b == 3;
    gboolean gpu_same = memcmp (v0 + off, v1 + off, len * 4) == 0, ref_same = memcmp (r0 + off, r1 + off, len * 4) == 0;
    g_test_message ("block %u: GPU %s, reference %s", b, gpu_same ? "unchanged" : "changed",
                    ref_same ? "unchanged" : "changed");
    g_assert_true (gpu_same == same);
    g_assert_true (ref_same == same);
  }
}

/* Codes past the codec table, too many codes, bad noise and parameters. */
static void
test_bad_input (void)
{
  g_autoptr (MorGguf) g = tiny_talker (4, NULL);
  g_autoptr (MorDit) dit = load (g);
  g_autoptr (MorDitSpeaker) spk = speaker (dit, NULL);
  g_autoptr (MorDitSession) s = session (dit, 8);
  const MorDitConfig *c = mor_dit_get_config (dit);
  guint32 codes[9] = { 1, 2, 3, c->num_embeds, 0, 5, 6, 7, 8 };
  g_autofree float *x = noise (dit, 9, 1), *out = g_new (float, (gsize) 18 * c->mel_dim);
  g_autoptr (GError) error = NULL;
  g_assert_true (mor_dit_session_sample (s, spk, codes, 8, x, NULL, out, &error));   /* the last row is fine */
  g_assert_no_error (error);
  codes[3] = c->num_embeds + 1;   /* a random talker can sample it */
  g_assert_false (mor_dit_session_sample (s, spk, codes, 8, x, NULL, out, &error));
  g_assert_error (error, MOR_DIT_ERROR, MOR_DIT_ERROR_INPUT);
  g_test_message ("%s", error->message);
  g_clear_error (&error);
  g_assert_false (mor_dit_session_velocity (s, spk, codes, 8, x, 0.5f, out, NULL, &error));
  g_assert_error (error, MOR_DIT_ERROR, MOR_DIT_ERROR_INPUT);
  g_clear_error (&error);
  g_assert_false (mor_dit_reference_sample (dit, spk, codes, 8, x, NULL, out, &error));
  g_assert_error (error, MOR_DIT_ERROR, MOR_DIT_ERROR_INPUT);
  g_clear_error (&error);
  codes[3] = 4;
  g_assert_false (mor_dit_session_sample (s, spk, codes, 9, x, NULL, out, &error));   /* past max_codes */
  g_assert_error (error, MOR_DIT_ERROR, MOR_DIT_ERROR_INPUT);
  g_clear_error (&error);
  g_assert_false (mor_dit_session_sample (s, spk, codes, 0, x, NULL, out, &error));
  g_assert_error (error, MOR_DIT_ERROR, MOR_DIT_ERROR_INPUT);
  g_clear_error (&error);
  x[5] = INFINITY;
  g_assert_false (mor_dit_session_sample (s, spk, codes, 8, x, NULL, out, &error));
  g_assert_error (error, MOR_DIT_ERROR, MOR_DIT_ERROR_INPUT);
  g_clear_error (&error);
  x[5] = 0;
  MorDitSampleParams p;
  mor_dit_sample_params_init (&p);
  p.num_steps = 1;
  g_assert_false (mor_dit_session_sample (s, spk, codes, 8, x, &p, out, &error));
  g_assert_error (error, MOR_DIT_ERROR, MOR_DIT_ERROR_INPUT);
}

/* Speakers by name: the default, the other, unknown and malformed names; the
 * device's ECAPA matches the reference's. */
static void
test_speakers (void)
{
  g_autoptr (MorGguf) g = tiny_talker (5, NULL);
  g_autoptr (MorDit) dit = load (g);
  const MorDitConfig *c = mor_dit_get_config (dit);
  const float *cond, *ref_mel, *cond2, *ref_mel2;
  guint32 n, n2;
  g_autoptr (GError) error = NULL;
  g_assert_true (mor_dit_find_speaker (dit, NULL, &cond, &ref_mel, &n, &error));
  g_assert_true (mor_dit_find_speaker (dit, "Chelsie", &cond2, &ref_mel2, &n2, &error));
  g_assert_no_error (error);
  g_assert_true (cond == cond2 && ref_mel == ref_mel2 && n == n2);
  g_assert_true (mor_dit_find_speaker (dit, "Ethan", &cond2, &ref_mel2, &n2, &error));
  g_assert_true (cond != cond2);
  const char *bad[] = { "Nobody", "bad name", "", "x/../y" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_assert_false (mor_dit_find_speaker (dit, bad[i], &cond, &ref_mel, &n, &error));
    g_assert_error (error, MOR_DIT_ERROR, MOR_DIT_ERROR_SPEAKER);
    g_test_message ("%s", error->message);
    g_clear_error (&error);
  }
  g_assert_null (mor_dit_speaker_load (dit, "Nobody", &error));
  g_assert_error (error, MOR_DIT_ERROR, MOR_DIT_ERROR_SPEAKER);
  g_clear_error (&error);
  g_autoptr (MorDitSpeaker) gpu = mor_dit_speaker_load (dit, "Ethan", &error);
  g_assert_no_error (error);
  g_autoptr (MorDitSpeaker) ref = speaker (dit, "Ethan");
  g_assert_cmpmem (gpu->cond, c->enc_emb_dim * 4, ref->cond, c->enc_emb_dim * 4);
  g_assert_cmpfloat (max_diff (gpu->spk, ref->spk, c->enc_dim, NULL), <, 1e-4);
  g_assert_cmpfloat (max_diff (gpu->spk_null, ref->spk_null, c->enc_dim, NULL), <, 1e-4);
  g_assert_cmpfloat (max_diff (gpu->spk, gpu->spk_null, c->enc_dim, NULL), >, 1e-3);
}

static void
expect_load_error (const Edit *edit, GQuark domain, gint code, const char *needle)
{
  g_autoptr (MorGguf) g = tiny_talker (6, edit);
  g_autoptr (GError) error = NULL;
  g_autoptr (MorDit) dit = mor_dit_load (device, g, &error);
  g_assert_null (dit);
  g_assert_error (error, domain, code);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, needle));
}

static void
test_load_errors (void)
{
  static const guint32 past[] = { 3 };
  expect_load_error (&(Edit) { .key = "mor.dit.look_ahead_layers", .values = past, .n_values = 1 }, MOR_DIT_ERROR,
                     MOR_DIT_ERROR_CONFIG, "look_ahead_layers");
  expect_load_error (&(Edit) { .key = "mor.dit.head_dim", .value = 14 }, MOR_DIT_ERROR, MOR_DIT_ERROR_CONFIG,
                     "head_dim");
  expect_load_error (&(Edit) { .key = "mor.dit.hidden_size", .value = 0 }, MOR_DIT_ERROR, MOR_DIT_ERROR_CONFIG,
                     "hidden_size");
  expect_load_error (&(Edit) { .key = "mor.dit.num_embeds", .value = 80 }, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE,
                     "t2w.dit.code_embd.weight");
  expect_load_error (&(Edit) { .drop_tensor = "t2w.dit.blk.1.attn_q.weight" }, MOR_GGUF_ERROR,
                     MOR_GGUF_ERROR_NOT_FOUND, "t2w.dit.blk.1.attn_q.weight");
  expect_load_error (&(Edit) { .drop_tensor = "t2w.dit.ecapa.fc.bias" }, MOR_GGUF_ERROR, MOR_GGUF_ERROR_NOT_FOUND,
                     "t2w.dit.ecapa.fc.bias");
  expect_load_error (&(Edit) { .drop_tensor = "t2w.dit.rope_inv_freq" }, MOR_GGUF_ERROR, MOR_GGUF_ERROR_NOT_FOUND,
                     "t2w.dit.rope_inv_freq");
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  device = harness_device ();
  g_test_add_func ("/dit/time-points", test_time_points);
  g_test_add_func ("/dit/noise", test_noise);
  g_test_add_func ("/dit/velocity", test_velocity);
  g_test_add_func ("/dit/sample", test_sample);
  g_test_add_func ("/dit/block-mask", test_block_mask);
  g_test_add_func ("/dit/bad-input", test_bad_input);
  g_test_add_func ("/dit/speakers", test_speakers);
  g_test_add_func ("/dit/load-errors", test_load_errors);
  return g_test_run ();
}
