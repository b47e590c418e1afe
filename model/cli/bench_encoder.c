/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `mor bench encoder`: speed of an audio encoder GGUF on a synthetic
 * speech-like signal, whole-utterance and streaming.
 *
 * Method. S seconds of a deterministic 16 kHz signal (a voiced source with a
 * gliding pitch, three formant-like harmonic bumps, a 4 Hz syllable envelope
 * and a little noise) are encoded once as a warm-up (records the streams and
 * builds every pipeline), then:
 *  - whole: log-mel of the whole utterance (mor_mel_compute) and the encoder
 *    over it (mor_encoder_session_encode_mel) on a reused session → seconds of
 *    audio per second (real-time factor);
 *  - streaming: the samples pushed in 20-ms buffers, as the element receives
 *    them; the push after which a chunk's rows are there is the one that
 *    brought the chunk's last sample (its mel frames need a few samples past
 *    the 2-s boundary), and its duration is the chunk's latency: from its last
 *    sample pushed to its rows available. Median and max over the full chunks;
 *    finish (the tail and any re-encoded chunk) is timed on its own.
 * The roofline is compute, not host read bandwidth: at 50 rows a chunk every
 * weight is reused 100 times, so the figure is GFLOP/s (encoder_flops()). */
#include "commands.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "encoder.h"
#include "mel.h"

#define PUSH_SAMPLES 320        /* 20 ms */

/* FLOPs (2 per multiply-add) of the forward pass of one chunk of T = 2·n_window
 * mel frames; T2 = T/2 frames after conv2, T2/2 rows after pooling:
 *   conv1    2·T ·3·mels·d        (kernel 3, stride 1)
 *   conv2    2·T2·3·d·d           (kernel 3, stride 2)
 *   layers   L·[2·T2·(4·d² + 2·d·ffn)   q, k, v, o and fc1, fc2
 *              + 2·2·T2²·d]              scores Q·Kᵀ and weights·V, all heads
 *   proj     2·(T2/2)·d·out       (after pooling)
 * Norms, GELU, softmax, position add and pooling are O(T·d) and left out. */
static double
encoder_flops (const MorEncoderConfig *c)
{
  double T = 2.0 * c->n_window, T2 = T / 2, d = c->d_model;
  double conv = 2 * T * 3 * c->num_mel_bins * d + 2 * T2 * 3 * d * d;
  double layer = 2 * T2 * (4 * d * d + 2 * d * c->encoder_ffn_dim) + 4 * T2 * T2 * d;
  return conv + c->encoder_layers * layer + 2 * (T2 / 2) * d * c->output_dim;
}

static void
synth_speech (float *x, guint64 n)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (5);
  const double formants[3] = { 700, 1200, 2600 }, widths[3] = { 130, 200, 300 };
  double phase = 0;
  for (guint64 i = 0; i < n; i++) {
    double t = i / (double) MOR_MEL_SAMPLE_RATE;
    double f0 = 140 + 30 * sin (2 * G_PI * 0.7 * t) + 15 * sin (2 * G_PI * 3.1 * t);
    phase += 2 * G_PI * f0 / MOR_MEL_SAMPLE_RATE;
    double v = 0;
    for (int h = 1; h * f0 < 4000; h++) {
      double a = 0;
      for (int k = 0; k < 3; k++) {
        double z = (h * f0 - formants[k] * (1 + 0.15 * sin (2 * G_PI * 0.9 * t + k))) / widths[k];
        a += exp (-0.5 * z * z);
      }
      v += (a + 0.05) / h * sin (h * phase);
    }
    double env = 0.5 - 0.5 * cos (2 * G_PI * 4 * t);  /* syllables */
    x[i] = (float) (0.15 * env * v + 0.01 * g_rand_double_range (rand, -1, 1));
  }
}

int
mor_cli_bench_encoder (int argc, char **argv)
{
  g_autofree char *model = NULL, *device = NULL;
  gdouble seconds = 10;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model, "Audio encoder GGUF (make one with `mor mkmodel --kind encoder`)", "FILE" },
    { "seconds", 's', 0, G_OPTION_ARG_DOUBLE, &seconds, "Seconds of audio (default 10)", "S" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, "Vulkan device index or name", "DEV" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("— audio encoder speed, whole utterance and streaming");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 1 || !model || !(seconds >= 0.1) ||
      seconds > MOR_MEL_MAX_SAMPLES / (double) MOR_MEL_SAMPLE_RATE)
    return mor_cli_usage (ctx, error);

  g_autoptr (MorGguf) g = mor_gguf_open (model, &error);
  g_autoptr (MorVkDevice) dev = g ? mor_vk_device_open (device, &error) : NULL;
  g_autoptr (MorEncoder) enc = dev ? mor_encoder_load (dev, g, &error) : NULL;
  if (!enc)
    return mor_cli_fail (error);
  const MorEncoderConfig *c = mor_encoder_get_config (enc);
  g_autoptr (MorMel) mel = mor_mel_new (dev, c->num_mel_bins, &error);
  guint64 n = (guint64) llround (seconds * MOR_MEL_SAMPLE_RATE);
  g_autoptr (MorEncoderSession) s = mel ? mor_encoder_session_new (enc, n, &error) : NULL;
  if (!s)
    return mor_cli_fail (error);
  g_autofree float *x = g_new (float, n);
  synth_speech (x, n);
  guint32 n_frames = mor_mel_n_frames (n);
  g_autofree float *features = g_new (float, MAX ((gsize) c->num_mel_bins * n_frames, 1));

  /* Warm-up: every pipeline, the whole path and the streaming path once. */
  if (!mor_mel_compute (mel, x, n, features, &error) ||
      !mor_encoder_session_encode_mel (s, features, n_frames, &error))
    return mor_cli_fail (error);
  mor_encoder_session_reset (s);
  if (!mor_encoder_session_push (s, x, n, &error) || !mor_encoder_session_finish (s, &error))
    return mor_cli_fail (error);
  mor_encoder_session_reset (s);

  /* Whole utterance. */
  gint64 t0 = g_get_monotonic_time ();
  if (!mor_mel_compute (mel, x, n, features, &error))
    return mor_cli_fail (error);
  gint64 t1 = g_get_monotonic_time ();
  if (!mor_encoder_session_encode_mel (s, features, n_frames, &error))
    return mor_cli_fail (error);
  double mel_s = (t1 - t0) / 1e6, whole_s = (g_get_monotonic_time () - t0) / 1e6;
  guint32 rows = mor_encoder_session_n_rows (s);

  /* Streaming. */
  mor_encoder_session_reset (s);
  guint32 per_chunk = mor_encoder_n_rows (2 * c->n_window);
  guint n_chunks_max = n / (2 * c->n_window * MOR_MEL_HOP) + 1, n_lat = 0;
  g_autofree double *lat = g_new (double, n_chunks_max);
  double push_total = 0;
  for (guint64 i = 0; i < n; i += PUSH_SAMPLES) {
    guint32 before = mor_encoder_session_n_rows (s);
    gint64 p0 = g_get_monotonic_time ();
    if (!mor_encoder_session_push (s, x + i, MIN (PUSH_SAMPLES, n - i), &error))
      return mor_cli_fail (error);
    double dt = (g_get_monotonic_time () - p0) / 1e6;
    push_total += dt;
    if (mor_encoder_session_n_rows (s) > before && n_lat < n_chunks_max)
      lat[n_lat++] = dt;
  }
  t0 = g_get_monotonic_time ();
  if (!mor_encoder_session_finish (s, &error))
    return mor_cli_fail (error);
  double finish_s = (g_get_monotonic_time () - t0) / 1e6;
  guint32 first_revised = mor_encoder_session_first_revised (s);

  double flops = encoder_flops (c);
  double n_chunks = (double) rows / per_chunk;  /* the last may be partial: counted pro rata */
  printf ("device:            %s\n", mor_vk_device_get_info (dev)->name);
  printf ("model:             %s (%u layers, d_model %u, ffn %u, %u heads, → %u)\n", model,
          c->encoder_layers, c->d_model, c->encoder_ffn_dim, c->encoder_attention_heads, c->output_dim);
  printf ("audio:             %.2f s synthetic speech, %u mel frames, %u rows (%u a %.0f-s chunk)\n",
          n / (double) MOR_MEL_SAMPLE_RATE, n_frames, rows, per_chunk, 2.0 * c->n_window / 100);
  printf ("compute:           %.2f GFLOP a chunk (convs, attention, FFN, projection)\n", flops / 1e9);
  printf ("whole:             %.3f s (mel %.3f s) = %.2f× real time, %.2f GFLOP/s\n", whole_s, mel_s,
          seconds / whole_s, flops * n_chunks / (whole_s - mel_s) / 1e9);
  if (n_lat > 0) {
    double med = mor_cli_median (lat, n_lat);
    printf ("streaming:         %u chunks, last sample → rows: median %.1f ms, max %.1f ms, %.2f GFLOP/s\n",
            n_lat, 1e3 * med, 1e3 * lat[n_lat - 1], flops / med / 1e9);
  } else {
    printf ("streaming:         no full %.0f-s chunk in %.2f s of audio\n", 2.0 * c->n_window / 100, seconds);
  }
  printf ("streaming total:   pushes %.3f s, finish %.3f s (rows revised from %u of %u)\n", push_total,
          finish_s, first_revised, mor_encoder_session_n_rows (s));
  return 0;
}
