/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of model/ops/rope.c against its C reference (HF's formula, literally). */
#include "harness.h"

#include <math.h>

/* Both sides rotate by cos and sin of the same fp32 angle pos·inv_freq: the
 * reference with libm, the shader with trig.glsl's (≤ 8.4e-8 off in fp64
 * terms, libm ≤ 3.3e-8); outputs are x0·cos ± x1·sin with |x| ≤ 2, so errors
 * stay near 2·(1.2e-7 + ulp): 1e-6 absolute. Pass-through elements are copies. */
#define ATOL 1e-6f

static const char *mode_names[] = { "neox", "interleaved" };

typedef struct {
  MorRopeMode mode;
  guint32 n_tokens, n_heads, head_dim, rot_dim, n_rot_heads, pos0;
  gboolean in_place;
  const float *inv_freq;  /* rot_dim / 2 */
} Case;

static void
check (const Case *c, guint32 seed)
{
  gsize n = (gsize) c->n_tokens * c->n_heads * c->head_dim;
  g_autofree float *x = harness_random (n, -2, 2, seed);
  g_autofree float *want = g_new (float, n);
  mor_ref_rope (c->mode, x, c->inv_freq, c->pos0, want, c->n_tokens, c->n_heads, c->head_dim, c->rot_dim,
                c->n_rot_heads);
  g_autoptr (MorVkBuffer) bx = harness_upload (x, n * 4);
  g_autoptr (MorVkBuffer) bf = harness_upload (c->inv_freq, c->rot_dim / 2 * 4);
  g_autoptr (MorVkBuffer) bp = harness_upload (&c->pos0, 4);
  g_autoptr (MorVkBuffer) by = c->in_place ? NULL : harness_output (n * 4);
  MorVkBuffer *out = c->in_place ? bx : by;
  g_autoptr (MorVkStream) s = harness_stream ();
  mor_op_rope (s, c->mode, mor_vk_view (bx), mor_vk_view (bf), mor_vk_view (bp), mor_vk_view (out),
               c->n_tokens, c->n_heads, c->head_dim, c->rot_dim, c->n_rot_heads);
  harness_run (s);
  g_autofree float *got = harness_download (out, n * 4);
  g_autofree char *what = g_strdup_printf ("rope %s tokens %u heads %u/%u dim %u/%u pos %u%s",
                                           mode_names[c->mode], c->n_tokens, c->n_rot_heads, c->n_heads,
                                           c->rot_dim, c->head_dim, c->pos0, c->in_place ? " in place" : "");
  harness_assert_close (what, got, want, n, ATOL, 0);
}

/* Every combination of pairing, head_dim (64, 128, 80 = 5·16, and an odd 81
 * whose last dim always passes through), rot_dim (all even dims, or fewer: a
 * partial rotary), heads (1, 3, 14; all rotated or only the
 * first), in place or not, at positions from 0 and ending at 32768 (angles up
 * to 32768 rad, where an fp32 angle has an ulp of 2^-9); theta 1e6 (Qwen2.5)
 * and 1e4 in turn. */
static void
test_combinations (void)
{
  static const guint32 head_dims[] = { 64, 128, 80, 81 };
  static const guint32 heads[] = { 1, 3, 14 };
  guint32 seed = 0;
  for (MorRopeMode mode = MOR_ROPE_NEOX; mode <= MOR_ROPE_INTERLEAVED; mode++)
    for (guint d = 0; d < G_N_ELEMENTS (head_dims); d++)
      for (int partial = 0; partial <= 1; partial++) {
        guint32 head_dim = head_dims[d];
        guint32 rot_dim = partial ? (head_dim % 64 == 0 ? head_dim / 2 : 34) : head_dim & ~1u;
        float theta = seed % 2 ? 1e4f : 1e6f;
        g_autofree float *inv_freq = g_new (float, rot_dim / 2);
        mor_rope_inv_freq (theta, rot_dim, inv_freq);
        for (guint h = 0; h < G_N_ELEMENTS (heads); h++)
          for (int first_only = 0; first_only <= (heads[h] > 1); first_only++)
            for (int in_place = 0; in_place <= 1; in_place++)
              for (int late = 0; late <= 1; late++) {
                Case c = { mode, late ? 9 : 5, heads[h], head_dim, rot_dim, first_only ? 1 : heads[h],
                           late ? 32768 - 8 : 0, in_place, inv_freq };
                check (&c, ++seed);
              }
      }
}

/* The two real layouts: the Qwen2.5-Omni-3B thinker (16 heads × 128, NeoX,
 * theta 1e6) over a 37-token prefill chunk at 1000; the DiT (16 heads × 64,
 * interleaved, head 0 only, in place) over 96 frames from 0 with inv_freq
 * rounded to bf16 as the checkpoint stores it. */
static void
test_models (void)
{
  float thinker_freq[64], dit_freq[32];
  mor_rope_inv_freq (1e6f, 128, thinker_freq);
  mor_rope_inv_freq (1e4f, 64, dit_freq);
  for (guint i = 0; i < 32; i++)
    dit_freq[i] = mor_bf16_to_f32 (mor_f32_to_bf16 (dit_freq[i]));
  Case thinker = { MOR_ROPE_NEOX, 37, 16, 128, 128, 16, 1000, FALSE, thinker_freq };
  check (&thinker, 500);
  Case kv = { MOR_ROPE_NEOX, 37, 2, 128, 128, 2, 1000, TRUE, thinker_freq };
  check (&kv, 501);
  Case dit = { MOR_ROPE_INTERLEAVED, 96, 16, 64, 64, 1, 0, TRUE, dit_freq };
  check (&dit, 502);
}

/* HF's frequencies: inv_freq[0] is 1, and each value is the fp32 formula. */
static void
test_inv_freq (void)
{
  float f[64];
  mor_rope_inv_freq (1e6f, 128, f);
  g_assert_cmpfloat (f[0], ==, 1.0f);
  for (guint i = 0; i < 64; i++)
    g_assert_cmpfloat_with_epsilon (f[i], pow (1e6, -2.0 * i / 128), 1e-6 * pow (1e6, -2.0 * i / 128));
}

/* A decode step recorded once and replayed at positions 5, 6, 32767: the
 * position comes from the buffer, not from the recording. */
static void
test_replay (void)
{
  guint32 n_heads = 14, head_dim = 64;
  gsize n = (gsize) n_heads * head_dim;
  float inv_freq[32];
  mor_rope_inv_freq (1e6f, head_dim, inv_freq);
  g_autoptr (GError) error = NULL;
  g_autoptr (MorVkBuffer) bp = mor_vk_buffer_new (harness_device (), 4, MOR_VK_MEMORY_HOST, &error);
  g_assert_no_error (error);
  g_autoptr (MorVkBuffer) bf = harness_upload (inv_freq, sizeof inv_freq);
  g_autoptr (MorVkBuffer) bx = harness_output (n * 4);
  g_autoptr (MorVkBuffer) by = harness_output (n * 4);
  g_autoptr (MorVkStream) s = harness_stream ();
  mor_op_rope (s, MOR_ROPE_NEOX, mor_vk_view (bx), mor_vk_view (bf), mor_vk_view (bp), mor_vk_view (by),
               1, n_heads, head_dim, head_dim, n_heads);
  mor_vk_stream_end (s, &error);
  g_assert_no_error (error);
  static const guint32 positions[] = { 5, 6, 32767 };
  for (guint r = 0; r < G_N_ELEMENTS (positions); r++) {
    g_autofree float *x = harness_random (n, -2, 2, 600 + r);
    g_autofree float *want = g_new (float, n);
    mor_ref_rope (MOR_ROPE_NEOX, x, inv_freq, positions[r], want, 1, n_heads, head_dim, head_dim, n_heads);
    mor_vk_buffer_upload (bx, 0, x, n * 4, &error);
    g_assert_no_error (error);
    mor_vk_buffer_upload (bp, 0, &positions[r], 4, &error);
    g_assert_no_error (error);
    mor_vk_stream_submit (s, &error);
    g_assert_no_error (error);
    g_autofree float *got = harness_download (by, n * 4);
    harness_assert_close ("rope replay", got, want, n, ATOL, 0);
  }
}

int
main (int argc, char **argv)
{
  harness_init (&argc, &argv);
  g_test_add_func ("/ops/rope/combinations", test_combinations);
  g_test_add_func ("/ops/rope/models", test_models);
  g_test_add_func ("/ops/rope/inv-freq", test_inv_freq);
  g_test_add_func ("/ops/rope/replay", test_replay);
  return g_test_run ();
}
