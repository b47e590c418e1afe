/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Device memory: buffers, uploads and read-back through staging, and arenas. */
#include "vk.h"

#include <string.h>

#define STAGING_CHUNK (64u << 20) /* bytes copied per staging round trip */

static gint
find_memory_type (VkPhysicalDeviceMemoryProperties *mp, guint32 allowed, VkMemoryPropertyFlags want)
{
  for (guint32 i = 0; i < mp->memoryTypeCount; i++)
    if ((allowed & (1u << i)) && (mp->memoryTypes[i].propertyFlags & want) == want)
      return i;
  return -1;
}

/**
 * mor_vk_buffer_new:
 * @dev: the device
 * @size: bytes (at most the device's max_buffer_size)
 * @kind: %MOR_VK_MEMORY_DEVICE for weights and activations, %MOR_VK_MEMORY_HOST
 *   for staging, read-back and per-step parameters (always mapped)
 * @error: return location for a #GError, or %NULL
 *
 * Returns: (transfer full): a buffer usable as storage buffer and copy source
 *   and destination, or %NULL with @error set
 */
MorVkBuffer *
mor_vk_buffer_new (MorVkDevice *dev, guint64 size, MorVkMemory kind, GError **error)
{
  const MorVkDeviceInfo *info = mor_vk_device_get_info (dev);
  VkDevice vd = mor_vk_device_get_handle (dev);
  size = MAX (size, 4);
  if (size > info->max_buffer_size) {
    g_set_error (error, MOR_VK_ERROR, MOR_VK_ERROR_OUT_OF_MEMORY,
                 "A buffer of %" G_GUINT64_FORMAT " bytes is larger than “%s” allows "
                 "(%" G_GUINT64_FORMAT " bytes)", size, info->name, info->max_buffer_size);
    return NULL;
  }

  g_autoptr (MorVkBuffer) buf = g_new0 (MorVkBuffer, 1);
  buf->dev = mor_vk_device_ref (dev);
  buf->size = size;
  VkBufferCreateInfo bci = {
    .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
    .size = size,
    .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT |
             VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
    .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
  };
  if (!mor_vk_check (vkCreateBuffer (vd, &bci, NULL, &buf->buffer), "vkCreateBuffer", error))
    return NULL;

  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements (vd, buf->buffer, &req);
  VkPhysicalDeviceMemoryProperties mp;
  vkGetPhysicalDeviceMemoryProperties (mor_vk_device_get_physical (dev), &mp);

  const VkMemoryPropertyFlags local = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
  const VkMemoryPropertyFlags mapped = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  gint type = -1;
  if (kind == MOR_VK_MEMORY_DEVICE) {
    /* Where device-local memory is also mappable and not scarce (UMA, CPU
     * devices), weights are written in place without a staging copy. */
    if (info->host_visible_device_local)
      type = find_memory_type (&mp, req.memoryTypeBits, local | mapped);
    if (type < 0)
      type = find_memory_type (&mp, req.memoryTypeBits, local);
    if (type < 0)
      type = find_memory_type (&mp, req.memoryTypeBits, 0);
  } else {
    type = find_memory_type (&mp, req.memoryTypeBits, mapped | VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
    if (type < 0)
      type = find_memory_type (&mp, req.memoryTypeBits, mapped);
  }
  if (type < 0) {
    g_set_error (error, MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED,
                 "“%s” has no suitable memory type for a %s buffer", info->name,
                 kind == MOR_VK_MEMORY_DEVICE ? "device" : "host");
    return NULL;
  }
  VkMemoryAllocateInfo mai = {
    .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
    .allocationSize = req.size,
    .memoryTypeIndex = type,
  };
  if (!mor_vk_check (vkAllocateMemory (vd, &mai, NULL, &buf->memory), "vkAllocateMemory", error) ||
      !mor_vk_check (vkBindBufferMemory (vd, buf->buffer, buf->memory, 0), "vkBindBufferMemory", error))
    return NULL;
  if ((mp.memoryTypes[type].propertyFlags & mapped) == mapped &&
      !mor_vk_check (vkMapMemory (vd, buf->memory, 0, VK_WHOLE_SIZE, 0, &buf->mapped), "vkMapMemory", error))
    return NULL;
  return g_steal_pointer (&buf);
}

void
mor_vk_buffer_free (MorVkBuffer *buf)
{
  if (!buf)
    return;
  VkDevice vd = mor_vk_device_get_handle (buf->dev);
  if (buf->buffer)
    vkDestroyBuffer (vd, buf->buffer, NULL);
  if (buf->memory)
    vkFreeMemory (vd, buf->memory, NULL);
  mor_vk_device_unref (buf->dev);
  g_free (buf);
}

/* One copy on the queue, waited for: uploads and read-backs of memory that is
 * not mapped. Not a hot path (weights load once; activations stay on the device). */
static gboolean
copy_and_wait (MorVkDevice *dev, VkBuffer src, guint64 src_off, VkBuffer dst, guint64 dst_off,
               guint64 size, GError **error)
{
  VkDevice vd = mor_vk_device_get_handle (dev);
  VkCommandPool pool = VK_NULL_HANDLE;
  VkFence fence = VK_NULL_HANDLE;
  VkCommandBuffer cmd;
  gboolean ok = FALSE;
  VkCommandPoolCreateInfo pci = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
    .flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT,
    .queueFamilyIndex = mor_vk_device_get_queue_family (dev),
  };
  VkCommandBufferAllocateInfo cai = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
    .commandBufferCount = 1,
  };
  VkFenceCreateInfo fci = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
  VkCommandBufferBeginInfo bi = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
    .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
  };
  if (!mor_vk_check (vkCreateCommandPool (vd, &pci, NULL, &pool), "vkCreateCommandPool", error))
    goto out;
  cai.commandPool = pool;
  if (!mor_vk_check (vkAllocateCommandBuffers (vd, &cai, &cmd), "vkAllocateCommandBuffers", error) ||
      !mor_vk_check (vkCreateFence (vd, &fci, NULL, &fence), "vkCreateFence", error) ||
      !mor_vk_check (vkBeginCommandBuffer (cmd, &bi), "vkBeginCommandBuffer", error))
    goto out;
  /* Order the copy after any earlier work on these buffers, and make its
   * result visible to later shaders and to the host. */
  VkMemoryBarrier before = {
    .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
    .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
    .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
  };
  vkCmdPipelineBarrier (cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                        VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &before, 0, NULL, 0, NULL);
  VkBufferCopy region = { src_off, dst_off, size };
  vkCmdCopyBuffer (cmd, src, dst, 1, &region);
  VkMemoryBarrier after = {
    .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
    .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
    .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_HOST_READ_BIT |
                     VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
  };
  vkCmdPipelineBarrier (cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
                        VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_HOST_BIT |
                        VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &after, 0, NULL, 0, NULL);
  if (!mor_vk_check (vkEndCommandBuffer (cmd), "vkEndCommandBuffer", error))
    goto out;
  VkSubmitInfo si = {
    .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
    .commandBufferCount = 1,
    .pCommandBuffers = &cmd,
  };
  VkQueue q = mor_vk_device_lock_queue (dev);
  VkResult r = vkQueueSubmit (q, 1, &si, fence);
  mor_vk_device_unlock_queue (dev);
  if (!mor_vk_check (r, "vkQueueSubmit", error) ||
      !mor_vk_check (vkWaitForFences (vd, 1, &fence, VK_TRUE, UINT64_MAX), "vkWaitForFences", error))
    goto out;
  ok = TRUE;
out:
  if (fence)
    vkDestroyFence (vd, fence, NULL);
  if (pool)
    vkDestroyCommandPool (vd, pool, NULL);
  return ok;
}

static gboolean
check_range (MorVkBuffer *buf, guint64 offset, guint64 size, const char *what, GError **error)
{
  if (offset > buf->size || size > buf->size - offset) {
    g_set_error (error, MOR_VK_ERROR, MOR_VK_ERROR_FAILED,
                 "%s of %" G_GUINT64_FORMAT " bytes at %" G_GUINT64_FORMAT
                 " is outside a buffer of %" G_GUINT64_FORMAT " bytes", what, size, offset, buf->size);
    return FALSE;
  }
  return TRUE;
}

/* Copies @size bytes from @data into @buf at @offset: a memcpy when the buffer
 * is mapped, else through a staging buffer. The device must not be using this
 * range at the time. */
gboolean
mor_vk_buffer_upload (MorVkBuffer *buf, guint64 offset, const void *data, guint64 size, GError **error)
{
  if (!check_range (buf, offset, size, "An upload", error))
    return FALSE;
  if (buf->mapped) {
    memcpy ((char *) buf->mapped + offset, data, size);
    return TRUE;
  }
  g_autoptr (MorVkBuffer) staging = mor_vk_buffer_new (buf->dev, MIN (size, STAGING_CHUNK), MOR_VK_MEMORY_HOST, error);
  if (!staging)
    return FALSE;
  for (guint64 done = 0; done < size; done += STAGING_CHUNK) {
    guint64 n = MIN (STAGING_CHUNK, size - done);
    memcpy (staging->mapped, (const char *) data + done, n);
    if (!copy_and_wait (buf->dev, staging->buffer, 0, buf->buffer, offset + done, n, error))
      return FALSE;
  }
  return TRUE;
}

/* Copies @size bytes of @buf at @offset into @data; the device must have
 * finished writing them (mor_vk_stream_submit() returned). */
gboolean
mor_vk_buffer_download (MorVkBuffer *buf, guint64 offset, void *data, guint64 size, GError **error)
{
  if (!check_range (buf, offset, size, "A download", error))
    return FALSE;
  if (buf->mapped) {
    memcpy (data, (const char *) buf->mapped + offset, size);
    return TRUE;
  }
  g_autoptr (MorVkBuffer) staging = mor_vk_buffer_new (buf->dev, MIN (size, STAGING_CHUNK), MOR_VK_MEMORY_HOST, error);
  if (!staging)
    return FALSE;
  for (guint64 done = 0; done < size; done += STAGING_CHUNK) {
    guint64 n = MIN (STAGING_CHUNK, size - done);
    if (!copy_and_wait (buf->dev, buf->buffer, offset + done, staging->buffer, 0, n, error))
      return FALSE;
    memcpy ((char *) data + done, staging->mapped, n);
  }
  return TRUE;
}

/* ---- arenas ---- */

MorVkArena *
mor_vk_arena_new (MorVkDevice *dev, guint64 size, MorVkMemory kind, GError **error)
{
  MorVkBuffer *buf = mor_vk_buffer_new (dev, size, kind, error);
  if (!buf)
    return NULL;
  MorVkArena *arena = g_new0 (MorVkArena, 1);
  arena->buf = buf;
  return arena;
}

/* Carves @size bytes out of @arena into @view, its offset aligned for a storage
 * or texel binding. */
gboolean
mor_vk_arena_alloc (MorVkArena *arena, guint64 size, MorVkView *view, GError **error)
{
  /* Aligned for either kind of binding: a view may be read as a texel buffer. */
  const MorVkDeviceInfo *info = mor_vk_device_get_info (arena->buf->dev);
  guint64 align = MAX (info->min_storage_align, info->min_texel_align);
  guint64 start = (arena->used + align - 1) / align * align;
  if (start > arena->buf->size || size > arena->buf->size - start) {
    g_set_error (error, MOR_VK_ERROR, MOR_VK_ERROR_OUT_OF_MEMORY,
                 "Arena of %" G_GUINT64_FORMAT " bytes is full: %" G_GUINT64_FORMAT
                 " used, %" G_GUINT64_FORMAT " more asked", arena->buf->size, arena->used, size);
    return FALSE;
  }
  *view = (MorVkView) { arena->buf, start, size };
  arena->used = start + size;
  return TRUE;
}

void
mor_vk_arena_free (MorVkArena *arena)
{
  if (!arena)
    return;
  mor_vk_buffer_free (arena->buf);
  g_free (arena);
}
