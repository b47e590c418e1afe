/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Vulkan device selection and the shared, refcounted device handle. */
#include "vk.h"

#include <string.h>

G_DEFINE_QUARK (mor-vk-error-quark, mor_vk_error)

struct _MorVkDevice {
  gint ref_count;
  guint index;                      /* physical device index, the registry key */
  VkPhysicalDevice physical;
  VkDevice device;
  VkQueue queue;
  guint32 queue_family;
  GMutex queue_lock;                /* vkQueueSubmit needs the queue externally synchronised */
  MorVkDeviceInfo info;
  VkDescriptorSetLayout set_layout; /* MOR_VK_MAX_BINDINGS storage buffers, for every pipeline */
  VkPipelineLayout layout;          /* set_layout + MOR_VK_MAX_PUSH bytes of push constants */
  VkPipelineCache cache;
  char *cache_path;                 /* on-disk copy of the pipeline cache, or NULL */
  gboolean cache_dirty;
  GMutex pipelines_lock;
  GHashTable *pipelines;            /* "name|spec,…" → MorVkPipeline */
};

/* The instance lives for the whole process; devices are shared per physical device. */
static GMutex registry_lock;
static VkInstance instance;
static VkDebugUtilsMessengerEXT messenger;
static GHashTable *open_devices;    /* index → MorVkDevice (weak: removed on last unref) */
static gint validation_messages;

static const char *
vk_result_name (VkResult r)
{
  switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_NOT_READY: return "VK_NOT_READY";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_INCOMPLETE: return "VK_INCOMPLETE";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_OUT_OF_POOL_MEMORY: return "VK_ERROR_OUT_OF_POOL_MEMORY";
    default: return "VkResult";
  }
}

gboolean
mor_vk_check (VkResult r, const char *call, GError **error)
{
  if (r == VK_SUCCESS)
    return TRUE;
  g_set_error (error, MOR_VK_ERROR,
               (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
                   ? MOR_VK_ERROR_OUT_OF_MEMORY : MOR_VK_ERROR_FAILED,
               "%s() failed: %s (%d)", call, vk_result_name (r), (int) r);
  return FALSE;
}

/* Any validation message is a bug: it is logged as a warning, which the test
 * harness (g_test_init) makes fatal. */
static VKAPI_ATTR VkBool32 VKAPI_CALL
on_validation_message (VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                       VkDebugUtilsMessageTypeFlagsEXT types,
                       const VkDebugUtilsMessengerCallbackDataEXT *data, void *user_data)
{
  g_atomic_int_inc (&validation_messages);
  g_warning ("Vulkan validation: %s", data->pMessage);
  return VK_FALSE;
}

static gboolean
validation_requested (void)
{
  const char *v = g_getenv ("MOR_VK_VALIDATION");
  return v && *v && strcmp (v, "0") != 0;
}

static gboolean
has_layer (const char *name)
{
  guint32 n = 0;
  vkEnumerateInstanceLayerProperties (&n, NULL);
  g_autofree VkLayerProperties *layers = g_new0 (VkLayerProperties, n ? n : 1);
  vkEnumerateInstanceLayerProperties (&n, layers);
  for (guint32 i = 0; i < n; i++)
    if (strcmp (layers[i].layerName, name) == 0)
      return TRUE;
  return FALSE;
}

/* Called with registry_lock held. */
static gboolean
ensure_instance (GError **error)
{
  if (instance)
    return TRUE;

  guint32 api = 0;
  if (vkEnumerateInstanceVersion (&api) != VK_SUCCESS || api < VK_API_VERSION_1_2) {
    g_set_error (error, MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED,
                 "The Vulkan loader supports version %u.%u; mor needs 1.2",
                 VK_API_VERSION_MAJOR (api), VK_API_VERSION_MINOR (api));
    return FALSE;
  }

  VkApplicationInfo app = {
    .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
    .pApplicationName = "mor",
    .pEngineName = "libmor",
    .apiVersion = VK_API_VERSION_1_2,
  };
  const char *layers[] = { "VK_LAYER_KHRONOS_validation" };
  const char *exts[] = { VK_EXT_DEBUG_UTILS_EXTENSION_NAME };
  /* Synchronization validation checks that the barriers the streams insert
   * (only on real hazards) are enough. */
  VkValidationFeatureEnableEXT enables[] = { VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT };
  VkValidationFeaturesEXT features = {
    .sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
    .enabledValidationFeatureCount = G_N_ELEMENTS (enables),
    .pEnabledValidationFeatures = enables,
  };
  VkDebugUtilsMessengerCreateInfoEXT dbg = {
    .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
    .pNext = &features,
    .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
    .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                   VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                   VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
    .pfnUserCallback = on_validation_message,
  };
  VkInstanceCreateInfo ci = {
    .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
    .pApplicationInfo = &app,
  };
  gboolean validate = validation_requested ();
  if (validate) {
    if (!has_layer (layers[0])) {
      g_set_error (error, MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED,
                   "MOR_VK_VALIDATION is set but %s is not installed "
                   "(Debian: vulkan-validationlayers)", layers[0]);
      return FALSE;
    }
    ci.pNext = &dbg;
    ci.enabledLayerCount = 1;
    ci.ppEnabledLayerNames = layers;
    ci.enabledExtensionCount = 1;
    ci.ppEnabledExtensionNames = exts;
  }
  if (!mor_vk_check (vkCreateInstance (&ci, NULL, &instance), "vkCreateInstance", error)) {
    instance = VK_NULL_HANDLE;
    return FALSE;
  }
  if (validate) {
    dbg.pNext = NULL;
    PFN_vkCreateDebugUtilsMessengerEXT create = (PFN_vkCreateDebugUtilsMessengerEXT)
        vkGetInstanceProcAddr (instance, "vkCreateDebugUtilsMessengerEXT");
    if (create)
      create (instance, &dbg, NULL, &messenger);
  }
  return TRUE;
}

/* Features mor reads from a physical device. */
typedef struct {
  VkPhysicalDeviceFeatures2 f;
  VkPhysicalDeviceVulkan11Features v11;
  VkPhysicalDeviceVulkan12Features v12;
} Features;

static void
query_features (VkPhysicalDevice pd, Features *ft)
{
  memset (ft, 0, sizeof *ft);
  ft->f.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
  ft->v11.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES;
  ft->v12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
  ft->f.pNext = &ft->v11;
  ft->v11.pNext = &ft->v12;
  vkGetPhysicalDeviceFeatures2 (pd, &ft->f);
}

static gint
compute_queue_family (VkPhysicalDevice pd)
{
  guint32 n = 0;
  vkGetPhysicalDeviceQueueFamilyProperties (pd, &n, NULL);
  g_autofree VkQueueFamilyProperties *q = g_new0 (VkQueueFamilyProperties, n ? n : 1);
  vkGetPhysicalDeviceQueueFamilyProperties (pd, &n, q);
  gint any = -1;
  /* Prefer a compute queue without graphics: it is the one meant for compute. */
  for (guint32 i = 0; i < n; i++) {
    if (!(q[i].queueFlags & VK_QUEUE_COMPUTE_BIT))
      continue;
    if (!(q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT))
      return i;
    if (any < 0)
      any = i;
  }
  return any;
}

/* Why @pd cannot run mor, or NULL if it can. */
static const char *
unusable_reason (VkPhysicalDevice pd)
{
  VkPhysicalDeviceProperties p;
  vkGetPhysicalDeviceProperties (pd, &p);
  if (p.apiVersion < VK_API_VERSION_1_2)
    return "it supports Vulkan 1.1 or older; mor needs 1.2";
  Features ft;
  query_features (pd, &ft);
  if (!ft.v11.storageBuffer16BitAccess)
    return "it lacks storageBuffer16BitAccess";
  if (compute_queue_family (pd) < 0)
    return "it has no compute queue";
  return NULL;
}

static int
type_rank (VkPhysicalDeviceType t)
{
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
  }
}

static gboolean
is_index (const char *s)
{
  if (!*s)
    return FALSE;
  for (; *s; s++)
    if (!g_ascii_isdigit (*s))
      return FALSE;
  return TRUE;
}

/* Picks the physical device: @selector (index or case-insensitive name
 * substring) or else the best-ranked usable one. Registry lock held. */
static gboolean
choose_physical (const char *selector, guint *index, GError **error)
{
  guint32 n = 0;
  if (!mor_vk_check (vkEnumeratePhysicalDevices (instance, &n, NULL), "vkEnumeratePhysicalDevices", error))
    return FALSE;
  g_autofree VkPhysicalDevice *pds = g_new0 (VkPhysicalDevice, n ? n : 1);
  if (!mor_vk_check (vkEnumeratePhysicalDevices (instance, &n, pds), "vkEnumeratePhysicalDevices", error))
    return FALSE;
  if (n == 0) {
    g_set_error (error, MOR_VK_ERROR, MOR_VK_ERROR_NO_DEVICE,
                 "No Vulkan device found (on a machine without a GPU, install Mesa's "
                 "lavapipe: Debian package mesa-vulkan-drivers)");
    return FALSE;
  }

  if (selector && *selector) {
    g_autofree char *want = g_utf8_casefold (selector, -1);
    for (guint32 i = 0; i < n; i++) {
      VkPhysicalDeviceProperties p;
      vkGetPhysicalDeviceProperties (pds[i], &p);
      g_autofree char *have = g_utf8_casefold (p.deviceName, -1);
      gboolean match = is_index (selector) ? (g_ascii_strtoull (selector, NULL, 10) == i)
                                           : (strstr (have, want) != NULL);
      if (!match)
        continue;
      const char *why = unusable_reason (pds[i]);
      if (why) {
        g_set_error (error, MOR_VK_ERROR, MOR_VK_ERROR_UNSUPPORTED,
                     "Vulkan device %u “%s” (chosen by “%s”) cannot be used: %s",
                     i, p.deviceName, selector, why);
        return FALSE;
      }
      *index = i;
      return TRUE;
    }
    GString *names = g_string_new (NULL);
    for (guint32 i = 0; i < n; i++) {
      VkPhysicalDeviceProperties p;
      vkGetPhysicalDeviceProperties (pds[i], &p);
      g_string_append_printf (names, "%s%u: %s", i ? ", " : "", i, p.deviceName);
    }
    g_set_error (error, MOR_VK_ERROR, MOR_VK_ERROR_NO_DEVICE,
                 "No Vulkan device matches “%s” (devices: %s)", selector, names->str);
    g_string_free (names, TRUE);
    return FALSE;
  }

  gint best = -1, best_rank = G_MAXINT;
  const char *last_reason = NULL;
  for (guint32 i = 0; i < n; i++) {
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties (pds[i], &p);
    const char *why = unusable_reason (pds[i]);
    if (why) {
      last_reason = why;
      continue;
    }
    if (type_rank (p.deviceType) < best_rank) {
      best = i;
      best_rank = type_rank (p.deviceType);
    }
  }
  if (best < 0) {
    g_set_error (error, MOR_VK_ERROR, MOR_VK_ERROR_NO_DEVICE,
                 "None of the %u Vulkan devices can be used (last one: %s)", n, last_reason);
    return FALSE;
  }
  *index = best;
  return TRUE;
}

static VkPhysicalDevice
physical_at (guint index)
{
  guint32 n = 0;
  vkEnumeratePhysicalDevices (instance, &n, NULL);
  g_autofree VkPhysicalDevice *pds = g_new0 (VkPhysicalDevice, n ? n : 1);
  vkEnumeratePhysicalDevices (instance, &n, pds);
  return index < n ? pds[index] : VK_NULL_HANDLE;
}

static void
fill_info (MorVkDevice *dev, const Features *ft)
{
  MorVkDeviceInfo *info = &dev->info;
  VkPhysicalDeviceSubgroupProperties sub = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES };
  VkPhysicalDeviceMaintenance3Properties m3 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES, .pNext = &sub };
  VkPhysicalDeviceProperties2 p2 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &m3 };
  vkGetPhysicalDeviceProperties2 (dev->physical, &p2);
  const VkPhysicalDeviceLimits *lim = &p2.properties.limits;

  g_strlcpy (info->name, p2.properties.deviceName, sizeof info->name);
  info->type = p2.properties.deviceType;
  info->vendor_id = p2.properties.vendorID;
  info->device_id = p2.properties.deviceID;
  info->driver_version = p2.properties.driverVersion;
  info->max_storage_range = lim->maxStorageBufferRange;
  info->max_buffer_size = m3.maxMemoryAllocationSize;
  info->min_storage_align = MAX (lim->minStorageBufferOffsetAlignment, 4);
  info->max_texel_bytes = (guint64) lim->maxTexelBufferElements * 16;
  info->min_texel_align = MAX (lim->minTexelBufferOffsetAlignment, 4);
  info->max_shared_memory = lim->maxComputeSharedMemorySize;
  info->max_workgroup_invocations = lim->maxComputeWorkGroupInvocations;
  for (int i = 0; i < 3; i++)
    info->max_workgroup_count[i] = lim->maxComputeWorkGroupCount[i];
  info->subgroup_size = sub.subgroupSize;
  /* MOR_VK_DISABLE_SUBGROUP=1 selects the shared-memory variants (tests run both). */
  info->subgroup_arithmetic = (sub.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                              (sub.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
                              !g_getenv ("MOR_VK_DISABLE_SUBGROUP");
  info->shader_float16 = ft->v12.shaderFloat16;
  info->storage_8bit = ft->v12.storageBuffer8BitAccess && ft->v12.shaderInt8;
  info->shader_int64 = ft->f.features.shaderInt64;
  info->timestamp_period_ns = lim->timestampPeriod;

  guint32 nq = 0;
  vkGetPhysicalDeviceQueueFamilyProperties (dev->physical, &nq, NULL);
  g_autofree VkQueueFamilyProperties *q = g_new0 (VkQueueFamilyProperties, nq ? nq : 1);
  vkGetPhysicalDeviceQueueFamilyProperties (dev->physical, &nq, q);
  info->timestamps = lim->timestampComputeAndGraphics || q[dev->queue_family].timestampValidBits > 0;

  VkPhysicalDeviceMemoryProperties mp;
  vkGetPhysicalDeviceMemoryProperties (dev->physical, &mp);
  const VkMemoryPropertyFlags hv = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT |
                                   VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                   VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  for (guint32 i = 0; i < mp.memoryTypeCount; i++)
    if ((mp.memoryTypes[i].propertyFlags & hv) == hv &&
        info->type != VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU)
      info->host_visible_device_local = TRUE;
}

/* The on-disk pipeline cache: $XDG_CACHE_HOME/mor/pipelines-<cache UUID>.bin.
 * The driver validates the blob too; we check its header first so that a
 * truncated or foreign file is never handed to it. */
static void
load_pipeline_cache (MorVkDevice *dev)
{
  VkPhysicalDeviceProperties p;
  vkGetPhysicalDeviceProperties (dev->physical, &p);
  GString *uuid = g_string_new (NULL);
  for (guint i = 0; i < VK_UUID_SIZE; i++)
    g_string_append_printf (uuid, "%02x", p.pipelineCacheUUID[i]);
  g_autofree char *file = g_strdup_printf ("pipelines-%04x-%04x-%s.bin", p.vendorID, p.deviceID, uuid->str);
  g_string_free (uuid, TRUE);
  dev->cache_path = g_build_filename (g_get_user_cache_dir (), "mor", file, NULL);

  g_autofree char *data = NULL;
  gsize len = 0;
  VkPipelineCacheCreateInfo ci = { .sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO };
  if (g_file_get_contents (dev->cache_path, &data, &len, NULL) && len >= 16 + VK_UUID_SIZE) {
    guint32 hdr[4];
    memcpy (hdr, data, sizeof hdr);
    if (hdr[0] >= 16 + VK_UUID_SIZE && hdr[0] <= len &&
        hdr[1] == VK_PIPELINE_CACHE_HEADER_VERSION_ONE && hdr[2] == p.vendorID &&
        hdr[3] == p.deviceID && memcmp (data + 16, p.pipelineCacheUUID, VK_UUID_SIZE) == 0) {
      ci.initialDataSize = len;
      ci.pInitialData = data;
    }
  }
  if (vkCreatePipelineCache (dev->device, &ci, NULL, &dev->cache) != VK_SUCCESS && ci.pInitialData) {
    ci.initialDataSize = 0;
    ci.pInitialData = NULL;
    vkCreatePipelineCache (dev->device, &ci, NULL, &dev->cache);
  }
}

static void
save_pipeline_cache (MorVkDevice *dev)
{
  if (!dev->cache || !dev->cache_dirty || !dev->cache_path)
    return;
  size_t len = 0;
  if (vkGetPipelineCacheData (dev->device, dev->cache, &len, NULL) != VK_SUCCESS || len == 0)
    return;
  g_autofree char *data = g_malloc (len);
  if (vkGetPipelineCacheData (dev->device, dev->cache, &len, data) != VK_SUCCESS)
    return;
  g_autofree char *dir = g_path_get_dirname (dev->cache_path);
  /* A cache that cannot be written only makes the next start slower. */
  if (g_mkdir_with_parents (dir, 0700) == 0)
    g_file_set_contents (dev->cache_path, data, len, NULL);
}

static gboolean
create_device (MorVkDevice *dev, GError **error)
{
  Features have;
  query_features (dev->physical, &have);
  dev->queue_family = compute_queue_family (dev->physical);

  /* Enable what the shaders may use, where present. */
  Features want;
  memset (&want, 0, sizeof want);
  want.f.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
  want.v11.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES;
  want.v12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
  want.f.pNext = &want.v11;
  want.v11.pNext = &want.v12;
  want.f.features.shaderInt64 = have.f.features.shaderInt64;
  want.f.features.shaderInt16 = have.f.features.shaderInt16;
  want.f.features.shaderStorageBufferArrayDynamicIndexing =
      have.f.features.shaderStorageBufferArrayDynamicIndexing;
  want.v11.storageBuffer16BitAccess = VK_TRUE;
  want.v11.uniformAndStorageBuffer16BitAccess = have.v11.uniformAndStorageBuffer16BitAccess;
  want.v11.storagePushConstant16 = have.v11.storagePushConstant16;
  want.v12.storageBuffer8BitAccess = have.v12.storageBuffer8BitAccess;
  want.v12.uniformAndStorageBuffer8BitAccess = have.v12.uniformAndStorageBuffer8BitAccess;
  want.v12.shaderFloat16 = have.v12.shaderFloat16;
  want.v12.shaderInt8 = have.v12.shaderInt8;
  want.v12.hostQueryReset = have.v12.hostQueryReset;

  float prio = 1.0f;
  VkDeviceQueueCreateInfo qci = {
    .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
    .queueFamilyIndex = dev->queue_family,
    .queueCount = 1,
    .pQueuePriorities = &prio,
  };
  VkDeviceCreateInfo dci = {
    .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
    .pNext = &want.f,
    .queueCreateInfoCount = 1,
    .pQueueCreateInfos = &qci,
  };
  if (!mor_vk_check (vkCreateDevice (dev->physical, &dci, NULL, &dev->device), "vkCreateDevice", error))
    return FALSE;
  vkGetDeviceQueue (dev->device, dev->queue_family, 0, &dev->queue);
  fill_info (dev, &have);

  /* bindings 0..7 storage buffers, 8..15 the same slots as uniform texel buffers */
  VkDescriptorSetLayoutBinding b[2 * MOR_VK_MAX_BINDINGS];
  for (guint i = 0; i < 2 * MOR_VK_MAX_BINDINGS; i++)
    b[i] = (VkDescriptorSetLayoutBinding) {
      .binding = i,
      .descriptorType = i < MOR_VK_TEXEL_BINDING ? VK_DESCRIPTOR_TYPE_STORAGE_BUFFER
                                                 : VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER,
      .descriptorCount = 1,
      .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
    };
  VkDescriptorSetLayoutCreateInfo sl = {
    .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
    .bindingCount = 2 * MOR_VK_MAX_BINDINGS,
    .pBindings = b,
  };
  if (!mor_vk_check (vkCreateDescriptorSetLayout (dev->device, &sl, NULL, &dev->set_layout),
                     "vkCreateDescriptorSetLayout", error))
    return FALSE;
  VkPushConstantRange push = { VK_SHADER_STAGE_COMPUTE_BIT, 0, MOR_VK_MAX_PUSH };
  VkPipelineLayoutCreateInfo pl = {
    .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
    .setLayoutCount = 1,
    .pSetLayouts = &dev->set_layout,
    .pushConstantRangeCount = 1,
    .pPushConstantRanges = &push,
  };
  if (!mor_vk_check (vkCreatePipelineLayout (dev->device, &pl, NULL, &dev->layout),
                     "vkCreatePipelineLayout", error))
    return FALSE;
  load_pipeline_cache (dev);
  return TRUE;
}

static void
device_destroy (MorVkDevice *dev)
{
  if (dev->device) {
    vkDeviceWaitIdle (dev->device);
    if (dev->pipelines) {
      GHashTableIter it;
      gpointer p;
      g_hash_table_iter_init (&it, dev->pipelines);
      while (g_hash_table_iter_next (&it, NULL, &p))
        mor_vk_pipeline_destroy (dev, p);
    }
    save_pipeline_cache (dev);
    if (dev->cache)
      vkDestroyPipelineCache (dev->device, dev->cache, NULL);
    if (dev->layout)
      vkDestroyPipelineLayout (dev->device, dev->layout, NULL);
    if (dev->set_layout)
      vkDestroyDescriptorSetLayout (dev->device, dev->set_layout, NULL);
    vkDestroyDevice (dev->device, NULL);
  }
  if (dev->pipelines)
    g_hash_table_destroy (dev->pipelines);
  g_mutex_clear (&dev->queue_lock);
  g_mutex_clear (&dev->pipelines_lock);
  g_free (dev->cache_path);
  g_free (dev);
}

/**
 * mor_vk_device_open:
 * @selector: (nullable): a device index or a case-insensitive substring of its
 *   name; NULL or "" uses $MOR_VK_DEVICE, and if that is unset too, the best
 *   device (discrete > integrated > virtual > CPU)
 * @error: return location for a #GError, or %NULL
 *
 * Opens the device, or returns another reference to it if this process has it
 * open already: every element and library user shares one VkDevice.
 * With MOR_VK_VALIDATION=1 the Khronos validation layer (with synchronization
 * validation) is enabled and every message it prints is a g_warning().
 *
 * Returns: (transfer full): the device, or %NULL with @error set
 */
MorVkDevice *
mor_vk_device_open (const char *selector, GError **error)
{
  if (!selector || !*selector)
    selector = g_getenv ("MOR_VK_DEVICE");

  g_mutex_lock (&registry_lock);
  guint index = 0;
  MorVkDevice *dev = NULL;
  if (!ensure_instance (error) || !choose_physical (selector, &index, error))
    goto out;
  if (!open_devices)
    open_devices = g_hash_table_new (g_direct_hash, g_direct_equal);
  dev = g_hash_table_lookup (open_devices, GUINT_TO_POINTER (index));
  if (dev) {
    g_atomic_int_inc (&dev->ref_count);
    goto out;
  }
  dev = g_new0 (MorVkDevice, 1);
  dev->ref_count = 1;
  dev->index = index;
  dev->physical = physical_at (index);
  g_mutex_init (&dev->queue_lock);
  g_mutex_init (&dev->pipelines_lock);
  dev->pipelines = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  if (!create_device (dev, error)) {
    device_destroy (dev);
    dev = NULL;
    goto out;
  }
  g_hash_table_insert (open_devices, GUINT_TO_POINTER (index), dev);
out:
  g_mutex_unlock (&registry_lock);
  return dev;
}

MorVkDevice *
mor_vk_device_ref (MorVkDevice *dev)
{
  g_return_val_if_fail (dev != NULL, NULL);
  g_atomic_int_inc (&dev->ref_count);
  return dev;
}

void
mor_vk_device_unref (MorVkDevice *dev)
{
  if (!dev)
    return;
  /* The registry lock makes "last unref" and a concurrent open agree. */
  g_mutex_lock (&registry_lock);
  gboolean last = g_atomic_int_dec_and_test (&dev->ref_count);
  if (last)
    g_hash_table_remove (open_devices, GUINT_TO_POINTER (dev->index));
  g_mutex_unlock (&registry_lock);
  if (last)
    device_destroy (dev);
}

const MorVkDeviceInfo *
mor_vk_device_get_info (MorVkDevice *dev)
{
  return &dev->info;
}

VkDevice
mor_vk_device_get_handle (MorVkDevice *dev)
{
  return dev->device;
}

VkPhysicalDevice
mor_vk_device_get_physical (MorVkDevice *dev)
{
  return dev->physical;
}

/* How many validation messages this process has seen (MOR_VK_VALIDATION=1). */
guint
mor_vk_device_validation_messages (MorVkDevice *dev)
{
  return g_atomic_int_get (&validation_messages);
}

VkPipelineLayout
mor_vk_device_get_layout (MorVkDevice *dev)
{
  return dev->layout;
}

VkDescriptorSetLayout
mor_vk_device_get_set_layout (MorVkDevice *dev)
{
  return dev->set_layout;
}

VkQueue
mor_vk_device_lock_queue (MorVkDevice *dev)
{
  g_mutex_lock (&dev->queue_lock);
  return dev->queue;
}

void
mor_vk_device_unlock_queue (MorVkDevice *dev)
{
  g_mutex_unlock (&dev->queue_lock);
}

guint32
mor_vk_device_get_queue_family (MorVkDevice *dev)
{
  return dev->queue_family;
}

/* ---- pipelines (kept here: they are owned by the device) ---- */

struct _MorVkPipeline {
  VkShaderModule module;
  VkPipeline pipeline;
};

VkPipeline
mor_vk_pipeline_get_handle (MorVkPipeline *p)
{
  return p->pipeline;
}

void
mor_vk_pipeline_destroy (MorVkDevice *dev, gpointer data)
{
  MorVkPipeline *p = data;
  if (p->pipeline)
    vkDestroyPipeline (dev->device, p->pipeline, NULL);
  if (p->module)
    vkDestroyShaderModule (dev->device, p->module, NULL);
  g_free (p);
}

MorVkPipeline *
mor_vk_device_get_pipeline (MorVkDevice *dev, const MorVkPipelineDesc *desc,
                            const guint32 *spec, guint n_spec, GError **error)
{
  g_return_val_if_fail (desc && desc->spv && desc->spv_size, NULL);
  g_return_val_if_fail (n_spec <= MOR_VK_MAX_SPEC, NULL);
  g_return_val_if_fail (desc->push_size <= MOR_VK_MAX_PUSH, NULL);
  g_return_val_if_fail (desc->n_bindings <= MOR_VK_MAX_BINDINGS, NULL);

  GString *key = g_string_new (desc->name);
  g_string_append_c (key, '|');
  for (guint i = 0; i < n_spec; i++)
    g_string_append_printf (key, "%u,", spec[i]);

  g_mutex_lock (&dev->pipelines_lock);
  MorVkPipeline *p = g_hash_table_lookup (dev->pipelines, key->str);
  if (p)
    goto out;

  p = g_new0 (MorVkPipeline, 1);
  VkShaderModuleCreateInfo smci = {
    .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
    .codeSize = *desc->spv_size,
    .pCode = desc->spv,
  };
  VkSpecializationMapEntry entries[MOR_VK_MAX_SPEC];
  for (guint i = 0; i < n_spec; i++)
    entries[i] = (VkSpecializationMapEntry) { i, i * sizeof (guint32), sizeof (guint32) };
  VkSpecializationInfo si = { n_spec, entries, n_spec * sizeof (guint32), spec };
  VkComputePipelineCreateInfo pci = {
    .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
    .stage = {
      .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
      .stage = VK_SHADER_STAGE_COMPUTE_BIT,
      .pName = "main",
      .pSpecializationInfo = n_spec ? &si : NULL,
    },
    .layout = dev->layout,
  };
  GError *err = NULL;
  if (!mor_vk_check (vkCreateShaderModule (dev->device, &smci, NULL, &p->module),
                     "vkCreateShaderModule", &err) ||
      (pci.stage.module = p->module,
       !mor_vk_check (vkCreateComputePipelines (dev->device, dev->cache, 1, &pci, NULL, &p->pipeline),
                      "vkCreateComputePipelines", &err))) {
    g_propagate_prefixed_error (error, err, "Pipeline “%s”: ", desc->name);
    mor_vk_pipeline_destroy (dev, p);
    p = NULL;
    goto out;
  }
  dev->cache_dirty = TRUE;
  g_hash_table_insert (dev->pipelines, g_strdup (key->str), p);
out:
  g_mutex_unlock (&dev->pipelines_lock);
  g_string_free (key, TRUE);
  return p;
}

void
mor_vk_grid (MorVkDevice *dev, guint64 total, guint32 per_group, guint32 *groups_x, guint32 *groups_y)
{
  guint64 n = (total + per_group - 1) / per_group;
  guint64 max_x = MIN (dev->info.max_workgroup_count[0], 65535u);
  if (n == 0)
    n = 1;
  *groups_x = (guint32) MIN (n, max_x);
  *groups_y = (guint32) ((n + *groups_x - 1) / *groups_x);
  g_return_if_fail (*groups_y <= dev->info.max_workgroup_count[1]);
}
