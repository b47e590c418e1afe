/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rope: rotary position embedding (NeoX half-split and interleaved pairs), dispatch, C reference
 * and the frequencies of HF's default rope init. */
#include "ops.h"

#include <math.h>
#include "mor-spv.h"

typedef struct {
  guint32 n_tokens;
  guint32 n_heads;
  guint32 head_dim;
  guint32 rot_dim;
  guint32 n_rot_heads;
  guint32 copy_rest;
} RopePush;
G_STATIC_ASSERT (sizeof (RopePush) == 24);

static const MorVkPipelineDesc rope_f32[] = {
  [MOR_ROPE_NEOX] = { "rope_neox_f32", mor_spv_rope_neox_f32, &mor_spv_rope_neox_f32_size, 4, 1u << 3,
                      sizeof (RopePush) },
  [MOR_ROPE_INTERLEAVED] = { "rope_interleaved_f32", mor_spv_rope_interleaved_f32,
                             &mor_spv_rope_interleaved_f32_size, 4, 1u << 3, sizeof (RopePush) },
};

void
mor_op_rope (MorVkStream *s, MorRopeMode mode, MorVkView x, MorVkView inv_freq, MorVkView pos, MorVkView y,
             guint32 n_tokens, guint32 n_heads, guint32 head_dim, guint32 rot_dim, guint32 n_rot_heads)
{
  g_return_if_fail (mode < G_N_ELEMENTS (rope_f32));
  g_return_if_fail (n_tokens > 0 && n_heads > 0 && head_dim > 0);
  g_return_if_fail (rot_dim > 0 && rot_dim % 2 == 0 && rot_dim <= head_dim);
  g_return_if_fail (n_rot_heads > 0 && n_rot_heads <= n_heads);
  g_return_if_fail ((guint64) n_tokens * n_heads * head_dim <= G_MAXUINT32);
  guint64 bytes = (guint64) n_tokens * n_heads * head_dim * 4;
  g_return_if_fail (x.size >= bytes && y.size >= bytes);
  g_return_if_fail (x.buf != y.buf || x.offset == y.offset || x.offset + bytes <= y.offset ||
                    y.offset + bytes <= x.offset);
  g_return_if_fail (inv_freq.size >= rot_dim / 2 * 4 && pos.size >= 4);
  MorVkDevice *dev = mor_vk_stream_get_device (s);
  const MorVkDeviceInfo *info = mor_vk_device_get_info (dev);
  if (bytes > info->max_storage_range) {
    mor_vk_stream_set_error (s, g_error_new (MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED,
        "%s: %u tokens × %u heads × %u floats are more than the %" G_GUINT64_FORMAT " bytes one storage "
        "binding may cover on %s", rope_f32[mode].name, n_tokens, n_heads, head_dim, info->max_storage_range,
        info->name));
    return;
  }
  /* In place, only the rotated pairs are touched; otherwise y gets every element. */
  gboolean in_place = x.buf == y.buf && x.offset == y.offset;
  RopePush pc = { n_tokens, n_heads, head_dim, rot_dim, n_rot_heads, !in_place };
  guint64 rows = (guint64) n_tokens * (in_place ? n_rot_heads : n_heads);
  guint32 slots = in_place ? rot_dim / 2 : (head_dim + 1) / 2;
  guint32 spec[] = { 256 };
  guint32 gx, gy;
  mor_vk_grid (dev, rows * slots, spec[0], &gx, &gy);
  MorVkView b[] = { mor_vk_view_sub (x, 0, bytes), mor_vk_view_sub (inv_freq, 0, rot_dim / 2 * 4),
                    mor_vk_view_sub (pos, 0, 4), mor_vk_view_sub (y, 0, bytes) };
  mor_vk_stream_dispatch (s, &rope_f32[mode], spec, G_N_ELEMENTS (spec), b, &pc, gx, gy, 1);
}

/* HF, literally: cos = emb.cos(), sin = emb.sin() with emb = cat(freqs, freqs) (NeoX) or
 * stack((freqs, freqs), -1).reshape (interleaved), freqs = pos · inv_freq in fp32;
 * x_embed = (x * cos) + (rotate_half(x) * sin) over the first rot_dim dims. */
void
mor_ref_rope (MorRopeMode mode, const float *x, const float *inv_freq, guint32 pos0, float *y,
              guint32 n_tokens, guint32 n_heads, guint32 head_dim, guint32 rot_dim, guint32 n_rot_heads)
{
  guint32 half = rot_dim / 2;
  g_autofree float *cos_emb = g_new (float, rot_dim);
  g_autofree float *sin_emb = g_new (float, rot_dim);
  g_autofree float *rot = g_new (float, rot_dim);
  for (guint32 t = 0; t < n_tokens; t++) {
    for (guint32 i = 0; i < rot_dim; i++) {
      guint32 k = mode == MOR_ROPE_NEOX ? i % half : i / 2;
      float angle = (float) (pos0 + t) * inv_freq[k];
      cos_emb[i] = cosf (angle);
      sin_emb[i] = sinf (angle);
    }
    for (guint32 h = 0; h < n_heads; h++) {
      const float *xh = x + ((gsize) t * n_heads + h) * head_dim;
      float *yh = y + ((gsize) t * n_heads + h) * head_dim;
      guint32 n_rot = h < n_rot_heads ? rot_dim : 0;
      for (guint32 i = 0; i < n_rot; i++) {
        if (mode == MOR_ROPE_NEOX)      /* rotate_half: cat((-x2, x1)) */
          rot[i] = i < half ? -xh[i + half] : xh[i - half];
        else                            /* rotate_half_codec: (x0, x1) → (-x1, x0) */
          rot[i] = i % 2 == 0 ? -xh[i + 1] : xh[i - 1];
      }
      for (guint32 i = 0; i < n_rot; i++)
        yh[i] = xh[i] * cos_emb[i] + rot[i] * sin_emb[i];
      for (guint32 i = n_rot; i < head_dim; i++)
        yh[i] = xh[i];
    }
  }
}

void
mor_rope_inv_freq (float theta, guint32 rot_dim, float *inv_freq)
{
  /* HF _compute_default_rope_parameters, all fp32:
   * 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim)) */
  for (guint32 i = 0; i < rot_dim / 2; i++)
    inv_freq[i] = 1.0f / powf (theta, (float) (2 * i) / (float) rot_dim);
}
