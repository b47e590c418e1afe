/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/token2wav.c on tiny random talker files (mor_mkmodel_talker):
 * when each chunk's audio becomes available, that the stream covers every
 * frame exactly once, that the whole-answer path is the DiT and BigVGAN run
 * once (bit for bit), and how far the streamed mel and audio are from the
 * whole answer's for the same noise (the block scheme's approximation). */
#include <math.h>
#include <string.h>

#include "ops/harness.h"
#include "mkmodel.h"
#include "token2wav.h"

static MorVkDevice *device;
static MorGguf *file;

#define HOP_PER_CODE 480

/* 3 RK4 steps with guidance (every path of the sampler), or with @fast one
 * Euler step without (where only the schedule matters). */
static void
params (MorToken2WavParams *p, gboolean whole, gboolean fast)
{
  *p = (MorToken2WavParams) { .seed = 7, .whole = whole };
  mor_dit_sample_params_init (&p->dit);
  p->dit.num_steps = fast ? 2 : 4;
  if (fast) {
    p->dit.solver = MOR_DIT_SOLVER_EULER;
    p->dit.guidance_scale = 0;
  }
}

static void
codes_of (gint32 *codes, guint32 n)
{
  for (guint32 i = 0; i < n; i++)
    codes[i] = (i * 37 + 11) % 64;
}

/* Streams @n codes one at a time; returns the audio, and in @first_at the
 * codes pushed when the first audio came. */
static GArray *
stream (MorToken2WavSession *s, const gint32 *codes, guint32 n, guint32 *first_at)
{
  g_autoptr (GError) error = NULL;
  GArray *audio = g_array_new (FALSE, FALSE, sizeof (float));
  *first_at = 0;
  for (guint32 i = 0; i <= n; i++) {
    if (i < n)
      g_assert_true (mor_token2wav_session_push (s, codes + i, 1, &error));
    else
      mor_token2wav_session_end (s);
    for (;;) {
      guint64 got;
      const float *x = mor_token2wav_session_pull (s, &got, &error);
      g_assert_no_error (error);
      g_assert_nonnull (x);
      if (got == 0)
        break;
      if (audio->len == 0)
        *first_at = i + 1;
      g_array_append_vals (audio, x, got);
    }
  }
  g_assert_true (mor_token2wav_session_is_done (s));
  return audio;
}

static double
rms (const float *x, gsize n)
{
  double s = 0;
  for (gsize i = 0; i < n; i++)
    s += (double) x[i] * x[i];
  return sqrt (s / MAX (n, 1));
}

static double
rms_diff (const float *a, const float *b, gsize n)
{
  double s = 0;
  for (gsize i = 0; i < n; i++)
    s += ((double) a[i] - b[i]) * ((double) a[i] - b[i]);
  return sqrt (s / MAX (n, 1));
}

/* The first audio needs 48 codes (96 frames: the first chunk and its 24
 * frames of future); every frame comes out once: 480 samples a code. */
static void
test_schedule (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MorToken2Wav) t = mor_token2wav_load (device, file, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (mor_token2wav_sample_rate (t), ==, 24000);
  g_assert_cmpuint (mor_token2wav_samples_per_code (t), ==, HOP_PER_CODE);
  g_autoptr (MorToken2WavSession) s = mor_token2wav_session_new (t, 200, &error);
  g_assert_no_error (error);
  MorToken2WavParams p;
  params (&p, FALSE, TRUE);
  guint32 lengths[] = { 1, 47, 48, 85 };
  gint32 codes[200];
  codes_of (codes, 200);
  for (guint i = 0; i < G_N_ELEMENTS (lengths); i++) {
    g_assert_true (mor_token2wav_session_begin (s, NULL, &p, &error));
    guint32 first_at;
    g_autoptr (GArray) audio = stream (s, codes, lengths[i], &first_at);
    g_assert_cmpuint (audio->len, ==, lengths[i] * HOP_PER_CODE);
    /* before 48 codes nothing comes until the end */
    g_assert_cmpuint (first_at, ==, lengths[i] >= 48 ? 48 : lengths[i] + 1);
  }
  /* No codes: no audio, and done. */
  g_assert_true (mor_token2wav_session_begin (s, NULL, &p, &error));
  guint32 first_at;
  g_autoptr (GArray) none = stream (s, codes, 0, &first_at);
  g_assert_cmpuint (none->len, ==, 0);
}

/* whole: exactly the DiT on all codes then BigVGAN on the whole mel. */
static void
test_whole (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MorToken2Wav) t = mor_token2wav_load (device, file, &error);
  g_autoptr (MorToken2WavSession) s = mor_token2wav_session_new (t, 64, &error);
  g_assert_no_error (error);
  MorToken2WavParams p;
  params (&p, TRUE, FALSE);
  const guint32 n = 30, frames = 2 * n, mel_dim = 80;
  gint32 codes[30];
  codes_of (codes, n);
  g_assert_true (mor_token2wav_session_begin (s, "Ethan", &p, &error));
  guint32 first_at;
  g_autoptr (GArray) audio = stream (s, codes, n, &first_at);
  g_assert_cmpuint (first_at, ==, n + 1);  /* only at the end */
  g_assert_cmpuint (audio->len, ==, n * HOP_PER_CODE);

  /* The same by hand. */
  MorDit *dit = mor_token2wav_get_dit (t);
  g_autoptr (MorDitSpeaker) spk = mor_dit_speaker_load (dit, "Ethan", &error);
  g_autoptr (MorDitSession) ds = mor_dit_session_new (dit, n, &error);
  g_autofree float *noise = g_new (float, 64 * 2 * mel_dim), *mel = g_new (float, frames * mel_dim);
  mor_dit_noise (p.seed, noise, 64 * 2 * mel_dim);
  guint32 ucodes[30];
  for (guint32 i = 0; i < n; i++)
    ucodes[i] = codes[i];
  g_assert_true (mor_dit_session_sample (ds, spk, ucodes, n, noise, &p.dit, mel, &error));
  guint32 n_mel;
  g_autofree float *streamed_mel = mor_token2wav_session_dup_mel (s, &n_mel);
  g_assert_cmpuint (n_mel, ==, frames);
  g_assert_cmpmem (streamed_mel, frames * mel_dim * 4, mel, frames * mel_dim * 4);
  g_autoptr (MorBigvganSession) bs = mor_bigvgan_session_new (mor_token2wav_get_bigvgan (t), frames, &error);
  const float *wave = mor_bigvgan_session_vocode (bs, mel, frames, frames, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (audio->data, audio->len * 4, wave, (gsize) n * HOP_PER_CODE * 4);
}

/* Streamed against whole, same codes and noise: the first chunk's DiT window
 * holds all of a short answer's frames, so an answer of at most 48 codes is
 * the same mel up to float rounding; past that, frames see less than the ODE's compounded context.
 * The figures are printed (docs/elements.md quotes them). */
static void
test_stream_vs_whole (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MorToken2Wav) t = mor_token2wav_load (device, file, &error);
  g_autoptr (MorToken2WavSession) s = mor_token2wav_session_new (t, 200, &error);
  g_assert_no_error (error);
  const guint32 mel_dim = 80;
  gint32 codes[200];
  codes_of (codes, 200);
  guint32 lengths[] = { 48, 100 };
  for (guint i = 0; i < G_N_ELEMENTS (lengths); i++) {
    guint32 n = lengths[i], first_at, n_mel[2];
    GArray *audio[2];
    float *mel[2];
    for (guint whole = 0; whole < 2; whole++) {
      MorToken2WavParams p;
      params (&p, whole, FALSE);
      g_assert_true (mor_token2wav_session_begin (s, NULL, &p, &error));
      audio[whole] = stream (s, codes, n, &first_at);
      mel[whole] = mor_token2wav_session_dup_mel (s, &n_mel[whole]);
    }
    g_assert_cmpuint (n_mel[0], ==, n_mel[1]);
    g_assert_cmpuint (audio[0]->len, ==, audio[1]->len);
    gsize nm = (gsize) n_mel[0] * mel_dim;
    double mel_err = rms_diff (mel[0], mel[1], nm) / rms (mel[1], nm);
    double wav_err = rms_diff ((float *) audio[0]->data, (float *) audio[1]->data, audio[0]->len) /
                     MAX (rms ((float *) audio[1]->data, audio[1]->len), 1e-12);
    g_test_message ("%u codes: streamed vs whole, relative RMS difference: mel %.2e, audio %.2e", n, mel_err,
                    wav_err);
    if (n <= 48)  /* one window holds the whole answer: equal but for the float rounding of other tilings */
      g_assert_cmpfloat (mel_err, <, 1e-3);
    else
      g_assert_cmpfloat (mel_err, <, 0.5);   /* close, not equal: the reference scheme's approximation */
    for (guint k = 0; k < 2; k++) {
      g_array_unref (audio[k]);
      g_free (mel[k]);
    }
  }
}

/* Errors: too many codes, a code past the DiT's rows, an unknown speaker. */
static void
test_errors (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MorToken2Wav) t = mor_token2wav_load (device, file, &error);
  g_autoptr (MorToken2WavSession) s = mor_token2wav_session_new (t, 4, &error);
  MorToken2WavParams p;
  params (&p, FALSE, TRUE);
  g_assert_false (mor_token2wav_session_begin (s, "Nobody", &p, &error));
  g_assert_error (error, MOR_DIT_ERROR, MOR_DIT_ERROR_SPEAKER);
  g_clear_error (&error);
  g_assert_true (mor_token2wav_session_begin (s, "Chelsie", &p, &error));
  gint32 bad = 72, ok[5] = { 1, 2, 3, 4, 5 };
  g_assert_false (mor_token2wav_session_push (s, &bad, 1, &error));
  g_assert_error (error, MOR_DIT_ERROR, MOR_DIT_ERROR_INPUT);
  g_clear_error (&error);
  g_assert_false (mor_token2wav_session_push (s, ok, 5, &error));
  g_assert_error (error, MOR_TOKEN2WAV_ERROR, MOR_TOKEN2WAV_ERROR_LENGTH);
  g_clear_error (&error);
  g_assert_true (mor_token2wav_session_push (s, ok, 4, &error));

  /* A thinker file is no talker: the error names what is missing. */
  g_autoptr (MorGgufWriter) w = mor_mkmodel_thinker (mor_mkmodel_thinker_shape ("tiny"), MOR_TYPE_F16, 1, &error);
  g_autoptr (GBytes) bytes = mor_gguf_writer_to_bytes (w);
  g_autoptr (MorGguf) thinker = mor_gguf_new_from_bytes (bytes, &error);
  g_assert_no_error (error);
  g_assert_null (mor_token2wav_load (device, thinker, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "mor.dit"));
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  device = harness_device ();
  g_autoptr (GError) error = NULL;
  g_autoptr (MorGgufWriter) w = mor_mkmodel_talker (mor_mkmodel_talker_shape ("tiny"), MOR_TYPE_F32, 3, &error);
  g_assert_no_error (error);
  g_autoptr (GBytes) bytes = mor_gguf_writer_to_bytes (w);
  file = mor_gguf_new_from_bytes (bytes, &error);
  g_assert_no_error (error);
  g_test_add_func ("/token2wav/schedule", test_schedule);
  g_test_add_func ("/token2wav/whole", test_whole);
  g_test_add_func ("/token2wav/stream-vs-whole", test_stream_vs_whole);
  g_test_add_func ("/token2wav/errors", test_errors);
  int ret = g_test_run ();
  mor_gguf_unref (file);
  return ret;
}
