/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Command streams: dispatches recorded once, with barriers only on real
 * hazards, replayed as often as needed; optional per-dispatch GPU timing. */
#include "vk.h"

#include <stdio.h>
#include <string.h>

#define SETS_PER_POOL 256
#define QUERIES_PER_POOL 512 /* two timestamps per dispatch */

typedef struct {
  VkBuffer buffer;
  guint64 start, end; /* bytes [start, end) */
} Range;

typedef struct {
  guint64 count;
  double ns;
} ProfileEntry;

struct _MorVkStream {
  MorVkDevice *dev;
  VkDevice vd;
  VkCommandPool pool;
  VkCommandBuffer cmd;
  VkFence fence;
  gboolean recording;
  gboolean recorded;             /* a finished recording is ready to submit */
  GError *error;                 /* first error met while recording */

  GPtrArray *set_pools;          /* VkDescriptorPool, SETS_PER_POOL sets each */
  GArray *texel_views;           /* VkBufferView of the recording's texel bindings */
  guint set_pool_used;           /* index of the pool being filled */

  /* Ranges read and written since the last barrier. */
  GArray *reads, *writes;
  guint n_dispatches, n_barriers;

  /* MOR_PROFILE=1: timestamps around every dispatch. */
  gboolean profile;
  GPtrArray *query_pools;        /* VkQueryPool, QUERIES_PER_POOL each */
  GPtrArray *dispatch_names;     /* const char *, one per recorded dispatch */
  GHashTable *profile_table;     /* name → ProfileEntry */
};

static void
free_resources (MorVkStream *s)
{
  for (guint i = 0; s->set_pools && i < s->set_pools->len; i++)
    vkDestroyDescriptorPool (s->vd, g_ptr_array_index (s->set_pools, i), NULL);
  for (guint i = 0; s->texel_views && i < s->texel_views->len; i++)
    vkDestroyBufferView (s->vd, g_array_index (s->texel_views, VkBufferView, i), NULL);
  for (guint i = 0; s->query_pools && i < s->query_pools->len; i++)
    vkDestroyQueryPool (s->vd, g_ptr_array_index (s->query_pools, i), NULL);
  if (s->fence)
    vkDestroyFence (s->vd, s->fence, NULL);
  if (s->pool)
    vkDestroyCommandPool (s->vd, s->pool, NULL);
}

/**
 * mor_vk_stream_new:
 * @dev: the device
 * @error: return location for a #GError, or %NULL
 *
 * A stream is used by one thread at a time.
 *
 * Returns: (transfer full): a stream, or %NULL with @error set
 */
MorVkStream *
mor_vk_stream_new (MorVkDevice *dev, GError **error)
{
  MorVkStream *s = g_new0 (MorVkStream, 1);
  s->dev = mor_vk_device_ref (dev);
  s->vd = mor_vk_device_get_handle (dev);
  s->set_pools = g_ptr_array_new ();
  s->texel_views = g_array_new (FALSE, FALSE, sizeof (VkBufferView));
  s->query_pools = g_ptr_array_new ();
  s->dispatch_names = g_ptr_array_new ();
  s->reads = g_array_new (FALSE, FALSE, sizeof (Range));
  s->writes = g_array_new (FALSE, FALSE, sizeof (Range));
  s->profile_table = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  const char *prof = g_getenv ("MOR_PROFILE");
  s->profile = prof && *prof && strcmp (prof, "0") != 0 && mor_vk_device_get_info (dev)->timestamps;

  VkCommandPoolCreateInfo pci = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
    .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
    .queueFamilyIndex = mor_vk_device_get_queue_family (dev),
  };
  VkCommandBufferAllocateInfo cai = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
    .commandBufferCount = 1,
  };
  VkFenceCreateInfo fci = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
  if (!mor_vk_check (vkCreateCommandPool (s->vd, &pci, NULL, &s->pool), "vkCreateCommandPool", error) ||
      (cai.commandPool = s->pool,
       !mor_vk_check (vkAllocateCommandBuffers (s->vd, &cai, &s->cmd), "vkAllocateCommandBuffers", error)) ||
      !mor_vk_check (vkCreateFence (s->vd, &fci, NULL, &s->fence), "vkCreateFence", error)) {
    mor_vk_stream_free (s);
    return NULL;
  }
  return s;
}

void
mor_vk_stream_free (MorVkStream *s)
{
  if (!s)
    return;
  if (s->profile && g_hash_table_size (s->profile_table))
    mor_vk_stream_print_profile (s);
  free_resources (s);
  g_ptr_array_free (s->set_pools, TRUE);
  g_ptr_array_free (s->query_pools, TRUE);
  g_ptr_array_free (s->dispatch_names, TRUE);
  g_array_free (s->reads, TRUE);
  g_array_free (s->writes, TRUE);
  g_array_free (s->texel_views, TRUE);
  g_hash_table_destroy (s->profile_table);
  g_clear_error (&s->error);
  mor_vk_device_unref (s->dev);
  g_free (s);
}

MorVkDevice *
mor_vk_stream_get_device (MorVkStream *s)
{
  return s->dev;
}

void
mor_vk_stream_set_error (MorVkStream *s, GError *error)
{
  if (!s->error)
    s->error = error;
  else
    g_error_free (error);
}

/* A global memory barrier between all compute and transfer work. */
static void
full_barrier (VkCommandBuffer cmd)
{
  VkMemoryBarrier mb = {
    .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
    .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
    .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                     VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
  };
  const VkPipelineStageFlags st = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
  vkCmdPipelineBarrier (cmd, st, st, 0, 1, &mb, 0, NULL, 0, NULL);
}

void
mor_vk_stream_begin (MorVkStream *s)
{
  g_return_if_fail (!s->recording);
  g_clear_error (&s->error);
  vkResetCommandBuffer (s->cmd, 0);
  for (guint i = 0; i < s->set_pools->len; i++)
    vkResetDescriptorPool (s->vd, g_ptr_array_index (s->set_pools, i), 0);
  s->set_pool_used = 0;
  for (guint i = 0; i < s->texel_views->len; i++)
    vkDestroyBufferView (s->vd, g_array_index (s->texel_views, VkBufferView, i), NULL);
  g_array_set_size (s->texel_views, 0);
  g_array_set_size (s->reads, 0);
  g_array_set_size (s->writes, 0);
  g_ptr_array_set_size (s->dispatch_names, 0);
  s->n_dispatches = s->n_barriers = 0;
  s->recorded = FALSE;

  VkCommandBufferBeginInfo bi = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO };
  GError *err = NULL;
  if (!mor_vk_check (vkBeginCommandBuffer (s->cmd, &bi), "vkBeginCommandBuffer", &err)) {
    mor_vk_stream_set_error (s, err);
    return;
  }
  s->recording = TRUE;
  for (guint i = 0; i < s->query_pools->len; i++)
    vkCmdResetQueryPool (s->cmd, g_ptr_array_index (s->query_pools, i), 0, QUERIES_PER_POOL);
  /* Each replay starts after the previous submit's writes (pipeline barriers
   * order against all earlier work in submission order). */
  full_barrier (s->cmd);
}

static gboolean
overlaps (GArray *ranges, const Range *r)
{
  for (guint i = 0; i < ranges->len; i++) {
    const Range *o = &g_array_index (ranges, Range, i);
    if (o->buffer == r->buffer && o->start < r->end && r->start < o->end)
      return TRUE;
  }
  return FALSE;
}

/* Adds a barrier if touching @n ranges (@written: mask of those written)
 * would race with what was recorded since the last barrier: read-after-write,
 * write-after-read and write-after-write. Then notes the ranges. */
static void
track (MorVkStream *s, const Range *r, guint n, guint32 written)
{
  gboolean hazard = s->profile && s->n_dispatches > 0; /* profile: one op at a time */
  for (guint i = 0; i < n && !hazard; i++)
    hazard = overlaps (s->writes, &r[i]) || ((written >> i & 1) && overlaps (s->reads, &r[i]));
  if (hazard) {
    full_barrier (s->cmd);
    s->n_barriers++;
    g_array_set_size (s->reads, 0);
    g_array_set_size (s->writes, 0);
  }
  for (guint i = 0; i < n; i++)
    g_array_append_val ((written >> i & 1) ? s->writes : s->reads, r[i]);
}

static VkDescriptorSet
alloc_set (MorVkStream *s)
{
  VkDescriptorSetLayout layout = mor_vk_device_get_set_layout (s->dev);
  for (;;) {
    if (s->set_pool_used == s->set_pools->len) {
      VkDescriptorPoolSize sizes[] = {
        { VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, SETS_PER_POOL * MOR_VK_MAX_BINDINGS },
        { VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, SETS_PER_POOL * MOR_VK_MAX_BINDINGS },
      };
      VkDescriptorPoolCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
        .maxSets = SETS_PER_POOL,
        .poolSizeCount = G_N_ELEMENTS (sizes),
        .pPoolSizes = sizes,
      };
      VkDescriptorPool pool;
      GError *err = NULL;
      if (!mor_vk_check (vkCreateDescriptorPool (s->vd, &ci, NULL, &pool), "vkCreateDescriptorPool", &err)) {
        mor_vk_stream_set_error (s, err);
        return VK_NULL_HANDLE;
      }
      g_ptr_array_add (s->set_pools, pool);
    }
    VkDescriptorSetAllocateInfo ai = {
      .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
      .descriptorPool = g_ptr_array_index (s->set_pools, s->set_pool_used),
      .descriptorSetCount = 1,
      .pSetLayouts = &layout,
    };
    VkDescriptorSet set;
    VkResult r = vkAllocateDescriptorSets (s->vd, &ai, &set);
    if (r == VK_SUCCESS)
      return set;
    if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL) {
      GError *err = NULL;
      mor_vk_check (r, "vkAllocateDescriptorSets", &err);
      mor_vk_stream_set_error (s, err);
      return VK_NULL_HANDLE;
    }
    s->set_pool_used++;
  }
}

/* Timestamp query slot for the dispatch being recorded, or FALSE. */
static gboolean
query_slot (MorVkStream *s, VkQueryPool *pool, guint32 *first)
{
  guint idx = s->n_dispatches * 2;
  guint p = idx / QUERIES_PER_POOL;
  if (p == s->query_pools->len) {
    /* A new pool must be reset before use: reset it here, in the recording. */
    VkQueryPoolCreateInfo ci = {
      .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
      .queryType = VK_QUERY_TYPE_TIMESTAMP,
      .queryCount = QUERIES_PER_POOL,
    };
    VkQueryPool qp;
    if (vkCreateQueryPool (s->vd, &ci, NULL, &qp) != VK_SUCCESS)
      return FALSE;
    vkCmdResetQueryPool (s->cmd, qp, 0, QUERIES_PER_POOL);
    g_ptr_array_add (s->query_pools, qp);
  }
  *pool = g_ptr_array_index (s->query_pools, p);
  *first = idx % QUERIES_PER_POOL;
  return TRUE;
}

void
mor_vk_stream_dispatch (MorVkStream *s, const MorVkPipelineDesc *desc,
                        const guint32 *spec, guint n_spec,
                        const MorVkView *bindings, const void *push,
                        guint32 groups_x, guint32 groups_y, guint32 groups_z)
{
  g_return_if_fail (s->recording);
  const MorVkDeviceInfo *info = mor_vk_device_get_info (s->dev);
  g_return_if_fail (groups_x > 0 && groups_y > 0 && groups_z > 0);
  g_return_if_fail (groups_x <= info->max_workgroup_count[0] &&
                    groups_y <= info->max_workgroup_count[1] &&
                    groups_z <= info->max_workgroup_count[2]);
  Range ranges[MOR_VK_MAX_BINDINGS];
  VkDescriptorBufferInfo bufs[MOR_VK_MAX_BINDINGS];
  VkBufferView views[MOR_VK_MAX_BINDINGS];
  VkWriteDescriptorSet writes[MOR_VK_MAX_BINDINGS];
  for (guint i = 0; i < desc->n_bindings; i++) {
    const MorVkView *v = &bindings[i];
    g_return_if_fail (v->buf != NULL && v->size > 0);
    g_return_if_fail (v->offset + v->size <= v->buf->size);
    if (desc->texel_mask >> i & 1) {
      g_return_if_fail (!(desc->write_mask >> i & 1));
      g_return_if_fail (v->offset % info->min_texel_align == 0 && v->size % 16 == 0);
      g_return_if_fail (v->size <= info->max_texel_bytes);
    } else {
      g_return_if_fail (v->offset % info->min_storage_align == 0);
      g_return_if_fail (v->size <= info->max_storage_range);
    }
    ranges[i] = (Range) { v->buf->buffer, v->offset, v->offset + v->size };
    bufs[i] = (VkDescriptorBufferInfo) { v->buf->buffer, v->offset, v->size };
  }
  if (s->error)
    return;
  MorVkPipeline *pipe;
  GError *err = NULL;
  if (!(pipe = mor_vk_device_get_pipeline (s->dev, desc, spec, n_spec, &err))) {
    mor_vk_stream_set_error (s, err);
    return;
  }
  VkDescriptorSet set = alloc_set (s);
  if (!set)
    return;
  for (guint i = 0; i < desc->n_bindings; i++) {
    gboolean texel = desc->texel_mask >> i & 1;
    if (texel) {
      VkBufferViewCreateInfo vi = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO,
        .buffer = bufs[i].buffer,
        .format = VK_FORMAT_R32G32B32A32_UINT,
        .offset = bufs[i].offset,
        .range = bufs[i].range,
      };
      if (!mor_vk_check (vkCreateBufferView (s->vd, &vi, NULL, &views[i]), "vkCreateBufferView", &err)) {
        mor_vk_stream_set_error (s, err);
        return;
      }
      g_array_append_val (s->texel_views, views[i]);
    }
    writes[i] = (VkWriteDescriptorSet) {
      .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
      .dstSet = set,
      .dstBinding = texel ? MOR_VK_TEXEL_BINDING + i : i,
      .descriptorCount = 1,
      .descriptorType = texel ? VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
      .pBufferInfo = texel ? NULL : &bufs[i],
      .pTexelBufferView = texel ? &views[i] : NULL,
    };
  }
  vkUpdateDescriptorSets (s->vd, desc->n_bindings, writes, 0, NULL);

  track (s, ranges, desc->n_bindings, desc->write_mask);
  VkPipelineLayout layout = mor_vk_device_get_layout (s->dev);
  vkCmdBindPipeline (s->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, mor_vk_pipeline_get_handle (pipe));
  vkCmdBindDescriptorSets (s->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, layout, 0, 1, &set, 0, NULL);
  if (desc->push_size)
    vkCmdPushConstants (s->cmd, layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, desc->push_size, push);

  VkQueryPool qp = VK_NULL_HANDLE;
  guint32 q = 0;
  gboolean timed = s->profile && query_slot (s, &qp, &q);
  if (timed)
    vkCmdWriteTimestamp (s->cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, qp, q);
  vkCmdDispatch (s->cmd, groups_x, groups_y, groups_z);
  if (timed)
    vkCmdWriteTimestamp (s->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, qp, q + 1);
  g_ptr_array_add (s->dispatch_names, (gpointer) (timed ? desc->name : NULL));
  s->n_dispatches++;
}

void
mor_vk_stream_copy (MorVkStream *s, MorVkView src, MorVkView dst)
{
  g_return_if_fail (s->recording);
  g_return_if_fail (src.size == dst.size && src.size > 0);
  g_return_if_fail (src.offset + src.size <= src.buf->size && dst.offset + dst.size <= dst.buf->size);
  Range r[2] = {
    { src.buf->buffer, src.offset, src.offset + src.size },
    { dst.buf->buffer, dst.offset, dst.offset + dst.size },
  };
  track (s, r, 2, 1u << 1);
  VkBufferCopy region = { src.offset, dst.offset, src.size };
  vkCmdCopyBuffer (s->cmd, src.buf->buffer, dst.buf->buffer, 1, &region);
}

void
mor_vk_stream_fill (MorVkStream *s, MorVkView dst, guint32 value)
{
  g_return_if_fail (s->recording);
  g_return_if_fail (dst.size % 4 == 0 && dst.offset % 4 == 0);
  g_return_if_fail (dst.offset + dst.size <= dst.buf->size);
  Range r = { dst.buf->buffer, dst.offset, dst.offset + dst.size };
  track (s, &r, 1, 1u);
  vkCmdFillBuffer (s->cmd, dst.buf->buffer, dst.offset, dst.size, value);
}

gboolean
mor_vk_stream_end (MorVkStream *s, GError **error)
{
  g_return_val_if_fail (s->recording || s->error, FALSE);
  if (s->recording) {
    /* Make the results visible to the host (mapped read-back). */
    VkMemoryBarrier mb = {
      .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
      .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
      .dstAccessMask = VK_ACCESS_HOST_READ_BIT,
    };
    vkCmdPipelineBarrier (s->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                          VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    GError *err = NULL;
    if (!mor_vk_check (vkEndCommandBuffer (s->cmd), "vkEndCommandBuffer", &err))
      mor_vk_stream_set_error (s, err);
    s->recording = FALSE;
  }
  if (s->error) {
    g_propagate_error (error, g_steal_pointer (&s->error));
    return FALSE;
  }
  s->recorded = TRUE;
  return TRUE;
}

static void
collect_profile (MorVkStream *s)
{
  const MorVkDeviceInfo *info = mor_vk_device_get_info (s->dev);
  for (guint i = 0; i < s->dispatch_names->len; i++) {
    const char *name = g_ptr_array_index (s->dispatch_names, i);
    if (!name)
      continue;
    guint64 t[2];
    VkQueryPool qp = g_ptr_array_index (s->query_pools, i * 2 / QUERIES_PER_POOL);
    if (vkGetQueryPoolResults (s->vd, qp, i * 2 % QUERIES_PER_POOL, 2, sizeof t, t, sizeof t[0],
                               VK_QUERY_RESULT_64_BIT) != VK_SUCCESS)
      continue;
    ProfileEntry *e = g_hash_table_lookup (s->profile_table, name);
    if (!e) {
      e = g_new0 (ProfileEntry, 1);
      g_hash_table_insert (s->profile_table, (gpointer) name, e);
    }
    e->count++;
    e->ns += (double) (t[1] - t[0]) * info->timestamp_period_ns;
  }
}

gboolean
mor_vk_stream_submit (MorVkStream *s, GError **error)
{
  g_return_val_if_fail (s->recorded, FALSE);
  VkSubmitInfo si = {
    .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
    .commandBufferCount = 1,
    .pCommandBuffers = &s->cmd,
  };
  if (!mor_vk_check (vkResetFences (s->vd, 1, &s->fence), "vkResetFences", error))
    return FALSE;
  VkQueue q = mor_vk_device_lock_queue (s->dev);
  VkResult r = vkQueueSubmit (q, 1, &si, s->fence);
  mor_vk_device_unlock_queue (s->dev);
  if (!mor_vk_check (r, "vkQueueSubmit", error) ||
      !mor_vk_check (vkWaitForFences (s->vd, 1, &s->fence, VK_TRUE, UINT64_MAX), "vkWaitForFences", error))
    return FALSE;
  if (s->profile)
    collect_profile (s);
  return TRUE;
}

guint
mor_vk_stream_n_dispatches (MorVkStream *s)
{
  return s->n_dispatches;
}

guint
mor_vk_stream_n_barriers (MorVkStream *s)
{
  return s->n_barriers;
}

static gint
by_time (gconstpointer a, gconstpointer b, gpointer table)
{
  const ProfileEntry *ea = g_hash_table_lookup (table, a);
  const ProfileEntry *eb = g_hash_table_lookup (table, b);
  return (ea->ns < eb->ns) - (ea->ns > eb->ns);
}

void
mor_vk_stream_print_profile (MorVkStream *s)
{
  if (!s->profile)
    return;
  GList *names = g_list_sort_with_data (g_hash_table_get_keys (s->profile_table), by_time,
                                        s->profile_table);
  double total = 0;
  for (GList *l = names; l; l = l->next)
    total += ((ProfileEntry *) g_hash_table_lookup (s->profile_table, l->data))->ns;
  fprintf (stderr, "MOR_PROFILE on %s (a barrier before every dispatch)\n",
           mor_vk_device_get_info (s->dev)->name);
  fprintf (stderr, "%-32s %10s %12s %10s %6s\n", "pipeline", "calls", "total ms", "us/call", "%");
  for (GList *l = names; l; l = l->next) {
    const ProfileEntry *e = g_hash_table_lookup (s->profile_table, l->data);
    fprintf (stderr, "%-32s %10" G_GUINT64_FORMAT " %12.3f %10.1f %6.1f\n", (const char *) l->data,
             e->count, e->ns / 1e6, e->ns / 1e3 / e->count, total > 0 ? 100.0 * e->ns / total : 0.0);
  }
  g_list_free (names);
  g_hash_table_remove_all (s->profile_table);
}
