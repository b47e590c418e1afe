/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/encoder.c: the Vulkan audio encoder against its C reference
 * forward on tiny random encoders (mor_mkmodel_encoder), streaming chunk by
 * chunk against the whole utterance, the row count, and load errors that name
 * what is wrong. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/harness.h"
#include "encoder.h"
#include "mkmodel.h"

static MorVkDevice *device;

static MorGgufWriter *
make_writer (MorType type, guint64 seed)
{
  g_autoptr (GError) error = NULL;
  MorGgufWriter *w = mor_mkmodel_encoder (mor_mkmodel_encoder_shape ("tiny"), type, seed, &error);
  g_assert_no_error (error);
  return w;
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

static MorEncoder *
load (MorGguf *g)
{
  g_autoptr (GError) error = NULL;
  MorEncoder *enc = mor_encoder_load (device, g, &error);
  g_assert_no_error (error);
  return enc;
}

static MorEncoder *
tiny_encoder (MorType type, guint64 seed, MorGguf **gguf)
{
  g_autoptr (MorGgufWriter) w = make_writer (type, seed);
  g_autoptr (MorGguf) g = to_gguf (w);
  if (gguf)
    *gguf = mor_gguf_ref (g);
  return load (g);
}

/* Speech-like samples: harmonics of a gliding f0 with syllables, a noise floor,
 * a stretch of digital silence, the loudest part at @peak_s. */
static float *
speech_like (guint64 n, guint32 seed, double peak_s)
{
  float *x = g_new (float, MAX (n, 1));
  g_autoptr (GRand) r = g_rand_new_with_seed (seed);
  for (guint64 i = 0; i < n; i++) {
    double t = i / 16000.0, v = 0;
    for (int h = 1; h <= 8; h++)
      v += sin (2 * G_PI * h * (140 * t + 20 * sin (2 * G_PI * 0.5 * t))) / h;
    double env = (0.5 + 0.5 * sin (2 * G_PI * 4 * t)) * (0.2 + 0.8 * exp (-pow ((t - peak_s) / 0.3, 2)));
    x[i] = (float) (0.2 * env * v + 3e-4 * (g_rand_double (r) * 2 - 1));
    if (t > 0.3 && t < 0.45)
      x[i] = 0;
  }
  return x;
}

static void
test_n_rows (void)
{
  /* T_audio = ((L - 1) // 2 + 1 - 2) // 2 + 1, Python floor division */
  for (gint64 L = 0; L <= 1000; L++) {
    gint64 a = (gint64) floor ((L - 1) / 2.0) + 1, t = (gint64) floor ((a - 2) / 2.0) + 1;
    g_assert_cmpint (mor_encoder_n_rows ((guint32) L), ==, MAX (t, 0));
  }
  g_assert_cmpuint (mor_encoder_n_rows (100), ==, 25);     /* 1 s */
  g_assert_cmpuint (mor_encoder_n_rows (200), ==, 50);     /* a chunk */
  g_assert_cmpuint (mor_encoder_n_rows (201), ==, 50);     /* a 1-frame tail adds nothing */
  g_assert_cmpuint (mor_encoder_n_rows (203), ==, 51);
  g_assert_cmpuint (mor_encoder_n_rows (MOR_MEL_MAX_FRAMES), ==, 7500);
}

/* Frame counts: the shortest with a row, a chunk less a frame, one chunk,
 * chunk + 1 and + 2 (tails whose single conv2 frame pooling drops), chunk + 3,
 * and three chunks with an odd tail. */
static const guint32 frame_counts[] = { 3, 4, 199, 200, 201, 202, 203, 457 };

/* The GPU against the reference on the same (quantized) weights, on the log-mel
 * of a speech-like signal: only fp32 summation orders differ. */
static void
check_forward (gconstpointer data)
{
  MorType type = GPOINTER_TO_INT (data);
  g_autoptr (MorEncoder) enc = tiny_encoder (type, 1, NULL);
  const MorEncoderConfig *c = mor_encoder_get_config (enc);
  g_autoptr (GError) error = NULL;
  g_autoptr (MorEncoderSession) s = mor_encoder_session_new (enc, 10 * 16000, &error);
  g_assert_no_error (error);
  g_autoptr (MorMel) mel = mor_mel_new (device, c->num_mel_bins, &error);
  for (guint i = 0; i < G_N_ELEMENTS (frame_counts); i++) {
    guint32 L = frame_counts[i], P = mor_encoder_n_rows (L);
    guint64 n = (guint64) L * 160;
    g_autofree float *x = speech_like (n, 5 + i, 0.5);
    g_autofree float *feat = g_new (float, (gsize) c->num_mel_bins * L);
    g_assert_true (mor_mel_compute (mel, x, n, feat, &error));
    g_autofree float *want = g_new (float, (gsize) MAX (P, 1) * c->output_dim);
    mor_encoder_reference_forward (enc, feat, L, want);
    g_assert_true (mor_encoder_session_encode_mel (s, feat, L, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (mor_encoder_session_n_rows (s), ==, P);
    const float *got = mor_encoder_session_get_rows (s);
    double max_err = 0, max_val = 0;
    for (gsize j = 0; j < (gsize) P * c->output_dim; j++) {
      max_err = MAX (max_err, fabs (got[j] - want[j]));
      max_val = MAX (max_val, fabs (want[j]));
    }
    /* rows are O(1) (ln_post, then a projection of 64 inputs): a different
     * fp32 summation order costs ~1e-6 */
    g_test_message ("%s, %u frames, %u rows: max |Δ| %.3g (max |row| %.3g)", mor_type_name (type), L, P,
                    max_err, max_val);
    g_assert_cmpfloat (max_err, <, 1e-4);
  }
}

/* Pushed in irregular pieces, chunks encoded as they complete; after finish
 * the rows equal the whole utterance's bit for bit; rows before first_revised
 * are those push gave. */
static void
test_stream (void)
{
  g_autoptr (MorEncoder) enc = tiny_encoder (MOR_TYPE_F16, 2, NULL);
  const MorEncoderConfig *c = mor_encoder_get_config (enc);
  g_autoptr (GError) error = NULL;
  g_autoptr (MorEncoderSession) s = mor_encoder_session_new (enc, 6 * 16000, &error);
  g_assert_no_error (error);
  static const struct { guint64 n; double peak_s; gboolean revised; } cases[] = {
    { 5 * 16000 + 321, 4.2, TRUE },       /* the loudest part last: chunks 0 and 1 change */
    { 4 * 16000 + 40, 0.7, FALSE },       /* loudest in chunk 0; two chunks just in time, no tail */
    { 2 * 16000 + 1, 1.0, FALSE },        /* a 1-frame tail: no row from it */
    { 100, 0.0, FALSE },                  /* one frame: no rows at all */
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    guint64 n = cases[i].n;
    g_autofree float *x = speech_like (n, 11 + i, cases[i].peak_s);
    guint32 n_whole;
    g_autofree float *whole = mor_encoder_encode (enc, x, n, &n_whole, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (n_whole, ==, mor_encoder_n_rows (mor_mel_n_frames (n)));

    mor_encoder_session_reset (s);
    g_autoptr (GRand) r = g_rand_new_with_seed (i);
    g_autofree float *early = g_new (float, (gsize) (n / 640 + 1) * c->output_dim);
    guint32 n_early = 0;
    for (guint64 at = 0; at < n;) {
      guint64 piece = (guint64) g_rand_int_range (r, 1, 12000), m = MIN (n - at, piece);
      g_assert_true (mor_encoder_session_push (s, x + at, m, &error));
      g_assert_no_error (error);
      at += m;
      /* a chunk is encoded as soon as its samples are in: 40 past its end */
      g_assert_cmpuint (mor_encoder_session_n_rows (s), ==, at < 40 ? 0 : 50 * ((at - 40) / 32000));
      n_early = mor_encoder_session_n_rows (s);
      if (n_early > 0)
        memcpy (early, mor_encoder_session_get_rows (s), (gsize) n_early * c->output_dim * 4);
    }
    g_assert_true (mor_encoder_session_finish (s, &error));
    g_assert_no_error (error);
    guint32 rows = mor_encoder_session_n_rows (s), first = mor_encoder_session_first_revised (s);
    g_assert_cmpuint (rows, ==, n_whole);
    if (rows)
      g_assert_cmpmem (mor_encoder_session_get_rows (s), (gsize) rows * c->output_dim * 4, whole,
                       (gsize) n_whole * c->output_dim * 4);
    g_assert_cmpuint (first, <=, n_early);
    if (first > 0)
      g_assert_cmpmem (mor_encoder_session_get_rows (s), (gsize) first * c->output_dim * 4, early,
                       (gsize) first * c->output_dim * 4);
    if (first < n_early)   /* a revised chunk differs in its first row */
      g_assert_true (memcmp (early + (gsize) first * c->output_dim,
                             mor_encoder_session_get_rows (s) + (gsize) first * c->output_dim,
                             c->output_dim * 4) != 0);
    g_test_message ("%" G_GUINT64_FORMAT " samples: %u rows, %u from push, revised from row %u", n, rows,
                    n_early, first);
    g_assert_cmpint (first < n_early, ==, cases[i].revised);
  }
}

/* 25 rows a second, and the row count of every short utterance. */
static void
test_rows_per_second (void)
{
  g_autoptr (MorEncoder) enc = tiny_encoder (MOR_TYPE_F32, 3, NULL);
  static const guint64 ns[] = { 0, 1, 160, 320, 321, 481, 3199, 16000, 32000, 32001, 48000 };
  g_autofree float *x = speech_like (48000, 9, 1.0);
  for (guint i = 0; i < G_N_ELEMENTS (ns); i++) {
    g_autoptr (GError) error = NULL;
    guint32 rows;
    g_autofree float *out = mor_encoder_encode (enc, x, ns[i], &rows, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (rows, ==, mor_encoder_n_rows (mor_mel_n_frames (ns[i])));
    g_assert_true ((out != NULL) == (rows > 0));
    if (ns[i] % 16000 == 0)
      g_assert_cmpuint (rows, ==, 25 * ns[i] / 16000);
  }
}

/* ---- load errors ---- */

typedef struct {
  const char *drop_key;         /* a key left out */
  const char *set_key;          /* a key whose value is replaced */
  const char *set_string;       /*   by this string */
  guint32 set_u32;              /*   or this number (set_string NULL) */
  const char *drop_tensor;      /* a tensor left out */
  const char *reshape_tensor;   /* a 2-D tensor given one row less */
  gboolean llama_cpp;           /* as a published mmproj: vision keys and tensors, no mor.* key */
  gboolean single;              /* as the converter's one file: thinker keys first, architecture qwen2vl */
} Edit;

/* The tiny encoder rewritten with one change. */
static MorGguf *
edited (const Edit *e)
{
  g_autoptr (MorGgufWriter) src = make_writer (MOR_TYPE_F32, 6);
  g_autoptr (MorGguf) g = to_gguf (src);
  g_autoptr (MorGgufWriter) w = mor_gguf_writer_new ();
  if (e->single) {
    mor_gguf_writer_add_string (w, "general.architecture", "qwen2vl");
    mor_gguf_writer_add_u32 (w, "qwen2vl.block_count", 2);
  }
  if (e->set_key && mor_gguf_find_key (g, e->set_key) < 0) {
    if (e->set_string)
      mor_gguf_writer_add_string (w, e->set_key, e->set_string);
    else
      mor_gguf_writer_add_u32 (w, e->set_key, e->set_u32);
  }
  for (guint i = 0; i < mor_gguf_n_keys (g); i++) {
    const char *key = mor_gguf_get_key (g, i);
    MorGgufValueType t = mor_gguf_get_key_type (g, i);
    if (g_strcmp0 (key, e->drop_key) == 0 || (e->llama_cpp && g_str_has_prefix (key, "mor.")) ||
        (e->single && strcmp (key, "general.architecture") == 0))
      continue;
    if (g_strcmp0 (key, e->set_key) == 0) {
      if (e->set_string)
        mor_gguf_writer_add_string (w, key, e->set_string);
      else
        mor_gguf_writer_add_u32 (w, key, e->set_u32);
    } else if (t == MOR_GGUF_VALUE_UINT32) {
      guint32 v;
      mor_gguf_get_u32 (g, key, &v, NULL);
      mor_gguf_writer_add_u32 (w, key, v);
    } else if (t == MOR_GGUF_VALUE_FLOAT32) {
      float v;
      mor_gguf_get_f32 (g, key, &v, NULL);
      mor_gguf_writer_add_f32 (w, key, v);
    } else if (t == MOR_GGUF_VALUE_BOOL) {
      gboolean v;
      mor_gguf_get_bool (g, key, &v, NULL);
      mor_gguf_writer_add_bool (w, key, v);
    } else if (t == MOR_GGUF_VALUE_STRING) {
      mor_gguf_writer_add_string (w, key, mor_gguf_get_string (g, key, NULL, NULL));
    }
  }
  if (e->llama_cpp) {
    mor_gguf_writer_add_bool (w, "clip.has_vision_encoder", TRUE);
    mor_gguf_writer_add_u32 (w, "clip.vision.embedding_length", 32);
    float v[32] = { 0 };
    guint64 ne[2] = { 32, 1 };
    mor_gguf_writer_add_tensor (w, "v.patch_embd.weight", MOR_TYPE_F32, 2, ne, v, sizeof v);
  }
  for (guint i = 0; i < mor_gguf_n_tensors (g); i++) {
    const MorGgufTensor *t = mor_gguf_get_tensor (g, i);
    if (g_strcmp0 (t->name, e->drop_tensor) == 0)
      continue;
    guint64 ne[4] = { t->ne[0], t->ne[1], t->ne[2], t->ne[3] };
    gsize size = t->size;
    guint32 n_dims = t->n_dims;
    if (g_strcmp0 (t->name, e->reshape_tensor) == 0) {
      ne[1] -= 1;
      size = (gsize) mor_type_row_bytes (t->type, ne[0]) * ne[1];
    }
    /* a llama.cpp conv bias [1, C] may also come as a plain vector [C] */
    if (e->llama_cpp && n_dims == 2 && ne[0] == 1) {
      ne[0] = ne[1];
      ne[1] = 1;
      n_dims = 1;
    }
    mor_gguf_writer_add_tensor (w, t->name, t->type, n_dims, ne, t->data, size);
  }
  return to_gguf (w);
}

static void
expect_error (const Edit *e, GQuark domain, gint code, const char *needle)
{
  g_autoptr (MorGguf) g = edited (e);
  g_autoptr (GError) error = NULL;
  g_autoptr (MorEncoder) enc = mor_encoder_load (device, g, &error);
  g_assert_null (enc);
  g_assert_error (error, domain, code);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, needle));
}

static void
test_load_errors (void)
{
  expect_error (&(Edit) { .set_key = "clip.projector_type", .set_string = "qwen2vl_merger" }, MOR_ENCODER_ERROR,
                MOR_ENCODER_ERROR_PROJECTOR, "qwen2vl_merger");
  expect_error (&(Edit) { .drop_key = "clip.projector_type" }, MOR_ENCODER_ERROR, MOR_ENCODER_ERROR_PROJECTOR,
                "clip.projector_type");
  expect_error (&(Edit) { .drop_key = "clip.audio.block_count" }, MOR_GGUF_ERROR, MOR_GGUF_ERROR_NOT_FOUND,
                "clip.audio.block_count");
  expect_error (&(Edit) { .set_key = "clip.audio.block_count", .set_string = "two" }, MOR_GGUF_ERROR,
                MOR_GGUF_ERROR_TYPE, "clip.audio.block_count");
  expect_error (&(Edit) { .set_key = "clip.audio.attention.head_count", .set_u32 = 5 }, MOR_ENCODER_ERROR,
                MOR_ENCODER_ERROR_CONFIG, "head_count");
  expect_error (&(Edit) { .set_key = "mor.encoder.n_window", .set_u32 = 99 }, MOR_ENCODER_ERROR,
                MOR_ENCODER_ERROR_CONFIG, "n_window");
  expect_error (&(Edit) { .set_key = "clip.audio.projection_dim", .set_u32 = 2048 }, MOR_ENCODER_ERROR,
                MOR_ENCODER_ERROR_CONFIG, "projection_dim");
  expect_error (&(Edit) { .drop_tensor = "a.blk.1.ffn_up.weight" }, MOR_GGUF_ERROR, MOR_GGUF_ERROR_NOT_FOUND,
                "a.blk.1.ffn_up.weight");
  expect_error (&(Edit) { .drop_tensor = "a.position_embd.weight" }, MOR_GGUF_ERROR, MOR_GGUF_ERROR_NOT_FOUND,
                "a.position_embd.weight");
  expect_error (&(Edit) { .reshape_tensor = "a.blk.0.attn_k.weight" }, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE,
                "a.blk.0.attn_k.weight");
  expect_error (&(Edit) { .reshape_tensor = "a.conv1d.1.bias" }, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE,
                "a.conv1d.1.bias");
  expect_error (&(Edit) { .drop_tensor = "mm.a.fc.bias" }, MOR_GGUF_ERROR, MOR_GGUF_ERROR_NOT_FOUND,
                "mm.a.fc.bias");
}

/* The layouts that must load: a published llama.cpp mmproj (vision keys and
 * tensors beside the audio ones, conv biases as plain vectors, no mor.* key:
 * n_window 100) and the converter's one file (general.architecture of the
 * thinker); `qwen2a` as the audio projector key of a two-projector file. */
static void
test_layouts (void)
{
  const Edit edits[] = {
    { .llama_cpp = TRUE },
    { .single = TRUE },
    { .drop_key = "clip.projector_type", .set_key = "clip.audio.projector_type", .set_string = "qwen2a" },
  };
  g_autoptr (MorEncoder) plain = tiny_encoder (MOR_TYPE_F32, 6, NULL);
  g_autofree float *x = speech_like (40000, 4, 1.0);
  g_autoptr (GError) error = NULL;
  guint32 n_want;
  g_autofree float *want = mor_encoder_encode (plain, x, 40000, &n_want, &error);
  for (guint i = 0; i < G_N_ELEMENTS (edits); i++) {
    g_autoptr (MorGguf) g = edited (&edits[i]);
    g_autoptr (MorEncoder) enc = load (g);
    const MorEncoderConfig *c = mor_encoder_get_config (enc);
    g_assert_cmpuint (c->n_window, ==, 100);
    g_assert_cmpuint (c->output_dim, ==, 256);
    g_assert_cmpuint (c->max_source_positions, ==, 1500);
    g_assert_cmpfloat (c->layer_norm_eps, ==, 1e-5f);
    guint32 n_got;
    g_autofree float *got = mor_encoder_encode (enc, x, 40000, &n_got, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (n_got, ==, n_want);
    g_assert_cmpmem (got, (gsize) n_got * c->output_dim * 4, want, (gsize) n_want * c->output_dim * 4);
  }
}

/* The shapes of the real encoders. */
static void
test_shapes (void)
{
  const MorEncoderShape *s3 = mor_mkmodel_encoder_shape ("qwen2.5-omni-3b");
  const MorEncoderShape *s7 = mor_mkmodel_encoder_shape ("qwen2.5-omni-7b");
  g_assert_nonnull (s3);
  g_assert_nonnull (s7);
  g_assert_cmpuint (s3->d_model, ==, 1280);
  g_assert_cmpuint (s3->encoder_layers, ==, 32);
  g_assert_cmpuint (s3->encoder_attention_heads, ==, 20);
  g_assert_cmpuint (s3->encoder_ffn_dim, ==, 5120);
  g_assert_cmpuint (s3->output_dim, ==, 2048);
  g_assert_cmpuint (s7->output_dim, ==, 3584);
  g_assert_null (mor_mkmodel_encoder_shape ("qwen2.5-omni-1b"));
  g_assert_cmpstr (mor_mkmodel_encoder_shapes ()[0], ==, "tiny");
  g_autoptr (GError) error = NULL;
  g_autoptr (MorGgufWriter) w = mor_mkmodel_encoder (mor_mkmodel_encoder_shape ("tiny"), MOR_TYPE_Q4_K, 1, &error);
  g_assert_null (w);
  g_assert_error (error, MOR_GGUF_ERROR, MOR_GGUF_ERROR_TYPE);
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  device = harness_device ();
  g_test_add_func ("/encoder/n-rows", test_n_rows);
  g_test_add_data_func ("/encoder/forward/f32", GINT_TO_POINTER (MOR_TYPE_F32), check_forward);
  g_test_add_data_func ("/encoder/forward/f16", GINT_TO_POINTER (MOR_TYPE_F16), check_forward);
  g_test_add_data_func ("/encoder/forward/q8_0", GINT_TO_POINTER (MOR_TYPE_Q8_0), check_forward);
  g_test_add_func ("/encoder/stream", test_stream);
  g_test_add_func ("/encoder/rows-per-second", test_rows_per_second);
  g_test_add_func ("/encoder/load-errors", test_load_errors);
  g_test_add_func ("/encoder/layouts", test_layouts);
  g_test_add_func ("/encoder/shapes", test_shapes);
  return g_test_run ();
}
