/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/ops/log_mel_norm.c against its C reference. */
#include "harness.h"

#include <math.h>

/* Mel power spanning 16 decades (so the max - 8 clamp bites), exact zeros
 * (the 1e-10 floor), sizes around the workgroup and one Whisper-sized array
 * (128 mels × 3000 frames). The shader's log2 is good to ~2^-21 absolute near
 * 1 and 3 ulp elsewhere: 2e-6 on the normalised values, which are O(1). */
static void
test_sizes (void)
{
  static const guint32 sizes[] = { 1, 255, 256, 257, 1000, 128 * 3000 };
  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++) {
    guint32 n = sizes[i];
    g_autofree float *mel = harness_random (n, -14, 2, 1 + i);
    for (guint32 j = 0; j < n; j++)
      mel[j] = j % 17 == 3 ? 0.0f : powf (10, mel[j]);
    g_autofree float *want = g_new (float, n);
    mor_ref_log_mel_norm (mel, want, n);
    g_autoptr (MorVkBuffer) bm = harness_upload (mel, (gsize) n * 4);
    g_autoptr (MorVkBuffer) bs = harness_output (16);
    g_autoptr (MorVkBuffer) by = harness_output ((gsize) n * 4);
    g_autoptr (MorVkStream) s = harness_stream ();
    mor_op_log_mel_norm (s, mor_vk_view (bm), mor_vk_view (bs), mor_vk_view (by), n);
    harness_run (s);
    g_autofree float *got = harness_download (by, (gsize) n * 4);
    harness_assert_close ("log_mel_norm", got, want, n, 2e-6f, 1e-6f);
  }
}

/* All below the floor, negative maxima, in place, and replays (the scratch
 * is cleared by each replay, not only by the first). */
static void
test_in_place_replay (void)
{
  guint32 n = 300;
  g_autoptr (MorVkBuffer) bm = harness_output (n * 4);
  g_autoptr (MorVkBuffer) bs = harness_output (16);
  g_autoptr (MorVkStream) s = harness_stream ();
  mor_op_log_mel_norm (s, mor_vk_view (bm), mor_vk_view (bs), mor_vk_view (bm), n);
  g_autoptr (GError) error = NULL;
  mor_vk_stream_end (s, &error);
  g_assert_no_error (error);
  static const float scale[] = { 1e3f, 1e-12f, 1e-6f };
  for (guint round = 0; round < G_N_ELEMENTS (scale); round++) {
    g_autofree float *mel = harness_random (n, 0, 1, 10 + round);
    for (guint32 j = 0; j < n; j++)
      mel[j] *= scale[round];
    g_autofree float *want = g_new (float, n);
    mor_ref_log_mel_norm (mel, want, n);
    mor_vk_buffer_upload (bm, 0, mel, n * 4, &error);
    g_assert_no_error (error);
    mor_vk_stream_submit (s, &error);
    g_assert_no_error (error);
    g_autofree float *got = harness_download (bm, n * 4);
    harness_assert_close ("log_mel_norm in place", got, want, n, 2e-6f, 1e-6f);
  }
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  g_test_add_func ("/ops/log_mel_norm/sizes", test_sizes);
  g_test_add_func ("/ops/log_mel_norm/in-place-replay", test_in_place_replay);
  return g_test_run ();
}
