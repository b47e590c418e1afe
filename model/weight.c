/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Model weights: checked, uploaded, kept for the C reference (see weight.h). */
#include "weight.h"

gboolean
mor_weight_upload (MorWeight *w, MorVkDevice *dev, const void *data, guint64 size, GError **error)
{
  return (w->buf = mor_vk_buffer_new (dev, (size + 15) / 16 * 16, MOR_VK_MEMORY_DEVICE, error)) &&
         mor_vk_buffer_upload (w->buf, 0, data, size, error);
}

gboolean
mor_weight_load_matrix (MorWeight *w, MorVkDevice *dev, MorGguf *g, const char *name, guint32 rows,
                        guint32 cols, GError **error)
{
  guint64 ne[2] = { cols, rows };
  if (!mor_gguf_check_tensor (g, name, 2, ne, &w->t, error))
    return FALSE;
  w->type = w->t->type;
  w->rows = rows;
  w->cols = cols;
  w->host = w->t->data;
  return mor_weight_upload (w, dev, w->t->data, w->t->size, error);
}

gboolean
mor_weight_load_vector (MorWeight *w, MorVkDevice *dev, MorGguf *g, const char *name, guint32 n,
                        gboolean optional, GError **error)
{
  const MorGgufTensor *t = mor_gguf_find_tensor (g, name);
  if (!t && optional)
    return TRUE;
  guint64 ne[2] = { 1, n };
  gboolean column = t && t->n_dims == 2 && t->ne[0] == 1;
  if (!mor_gguf_check_tensor (g, name, column ? 2 : 1, column ? ne : ne + 1, &w->t, error))
    return FALSE;
  w->type = MOR_TYPE_F32;
  w->rows = 1;
  w->cols = n;
  w->host = w->t->data;
  if (w->t->type != MOR_TYPE_F32) {
    /* Norms and biases are f32 in the ops; convert the odd file that stores them otherwise. */
    w->host = w->owned = g_new (float, n);
    mor_ref_dequantize_row (w->t->type, w->t->data, w->owned, n);
  }
  return mor_weight_upload (w, dev, w->host, (guint64) n * 4, error);
}

MorVkView
mor_weight_view (const MorWeight *w)
{
  if (!w || !w->buf)
    return (MorVkView) { NULL, 0, 0 };
  return mor_vk_view (w->buf);
}

void
mor_weight_clear (MorWeight *w)
{
  g_clear_pointer (&w->buf, mor_vk_buffer_free);
  g_clear_pointer (&w->owned, g_free);
}
