/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Vulkan compute runtime of libmor: device, memory, pipelines, command streams.
 *
 * Call order:
 *  1. mor_vk_device_open() picks a device (discrete > integrated > virtual > CPU,
 *     or the one a selector / MOR_VK_DEVICE names) and returns a shared,
 *     refcounted handle: one VkDevice per physical device per process.
 *  2. mor_vk_buffer_new() allocates weights (MOR_VK_MEMORY_DEVICE) and
 *     host-visible buffers (MOR_VK_MEMORY_HOST) for uploads, read-back and the
 *     small per-step parameter buffer; a MorVkArena hands out aligned views of one
 *     buffer for activations.
 *  3. A MorVkStream records dispatches once (op functions in ops.h call
 *     mor_vk_stream_dispatch()); barriers are inserted only where a dispatch
 *     touches a range an earlier, unsynchronised dispatch wrote (or writes a range
 *     one read). mor_vk_stream_end() closes the recording and reports the first
 *     error met while recording; mor_vk_stream_submit() replays it as often as
 *     needed. Values that change between replays live in a host buffer the
 *     shaders read, so a replay never re-records.
 *
 * A VkResult never leaves model/vk/: failures become a GError in MOR_VK_ERROR
 * naming the failing call.
 */
#pragma once

#include <glib.h>
#include <vulkan/vulkan.h>

G_BEGIN_DECLS

#define MOR_VK_ERROR (mor_vk_error_quark ())
GQuark mor_vk_error_quark (void);

typedef enum {
  MOR_VK_ERROR_FAILED,        /* a Vulkan call failed; the message names it */
  MOR_VK_ERROR_NO_DEVICE,     /* no usable device, or the selector matched none */
  MOR_VK_ERROR_UNSUPPORTED,   /* the device lacks a required feature */
  MOR_VK_ERROR_OUT_OF_MEMORY, /* an allocation larger than the device allows, or failed */
} MorVkError;

#define MOR_VK_MAX_BINDINGS 8  /* storage buffers per dispatch (one layout for all) */
#define MOR_VK_TEXEL_BINDING 8 /* layout bindings 8..15: the same views as uniform texel buffers */
#define MOR_VK_MAX_PUSH 128    /* bytes of push constants (the Vulkan minimum) */
#define MOR_VK_MAX_SPEC 8      /* specialization constants per pipeline */

/* What the ops need to know about a device; every limit is read from it. */
typedef struct {
  char name[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE];
  VkPhysicalDeviceType type;
  guint32 vendor_id, device_id, driver_version;
  guint64 max_storage_range;       /* bytes one storage-buffer binding may cover */
  guint64 max_buffer_size;         /* bytes of one VkBuffer / allocation */
  guint64 min_storage_align;       /* binding offsets are multiples of this */
  guint64 max_texel_bytes;         /* bytes one texel-buffer binding may cover (16-byte texels) */
  guint64 min_texel_align;         /* texel-buffer binding offsets are multiples of this */
  guint32 max_shared_memory;       /* bytes of shared memory per workgroup */
  guint32 max_workgroup_invocations;
  guint32 max_workgroup_count[3];
  guint32 subgroup_size;
  gboolean subgroup_arithmetic;    /* subgroupAdd/Max in compute shaders */
  gboolean shader_float16;         /* fp16 arithmetic */
  gboolean storage_8bit;           /* 8-bit storage buffer access */
  gboolean shader_int64;
  gboolean timestamps;             /* the compute queue can write timestamps */
  float timestamp_period_ns;
  gboolean host_visible_device_local; /* weights can be written in place (UMA, lavapipe) */
} MorVkDeviceInfo;

typedef struct _MorVkDevice MorVkDevice;

MorVkDevice *mor_vk_device_open (const char *selector, GError **error);
MorVkDevice *mor_vk_device_ref (MorVkDevice *dev);
void mor_vk_device_unref (MorVkDevice *dev);
const MorVkDeviceInfo *mor_vk_device_get_info (MorVkDevice *dev);
VkDevice mor_vk_device_get_handle (MorVkDevice *dev);
guint mor_vk_device_validation_messages (MorVkDevice *dev);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorVkDevice, mor_vk_device_unref)

/* ---- memory ---- */

typedef enum {
  MOR_VK_MEMORY_DEVICE, /* device-local; mapped too where the device allows it */
  MOR_VK_MEMORY_HOST,   /* host-visible and coherent: staging, read-back, parameters */
} MorVkMemory;

typedef struct {
  MorVkDevice *dev;     /* (transfer none): the buffer holds a reference */
  VkBuffer buffer;
  VkDeviceMemory memory;
  guint64 size;         /* bytes */
  void *mapped;         /* host pointer, or NULL when not host-visible */
} MorVkBuffer;

MorVkBuffer *mor_vk_buffer_new (MorVkDevice *dev, guint64 size, MorVkMemory kind, GError **error);
void mor_vk_buffer_free (MorVkBuffer *buf);
gboolean mor_vk_buffer_upload (MorVkBuffer *buf, guint64 offset, const void *data, guint64 size,
                               GError **error);
gboolean mor_vk_buffer_download (MorVkBuffer *buf, guint64 offset, void *data, guint64 size,
                                 GError **error);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorVkBuffer, mor_vk_buffer_free)

/* A byte range of a buffer, as a dispatch binds it. */
typedef struct {
  MorVkBuffer *buf;
  guint64 offset;       /* bytes; a multiple of min_storage_align when bound */
  guint64 size;         /* bytes */
} MorVkView;

static inline MorVkView
mor_vk_view (MorVkBuffer *buf)
{
  MorVkView v = { buf, 0, buf->size };
  return v;
}

static inline MorVkView
mor_vk_view_sub (MorVkView v, guint64 offset, guint64 size)
{
  MorVkView s = { v.buf, v.offset + offset, size };
  return s;
}

/* Bump allocator over one buffer: activations are carved out once per session. */
typedef struct {
  MorVkBuffer *buf;
  guint64 used;
} MorVkArena;

MorVkArena *mor_vk_arena_new (MorVkDevice *dev, guint64 size, MorVkMemory kind, GError **error);
gboolean mor_vk_arena_alloc (MorVkArena *arena, guint64 size, MorVkView *view, GError **error);
void mor_vk_arena_free (MorVkArena *arena);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorVkArena, mor_vk_arena_free)

/* ---- pipelines ---- */

/* A compute pipeline, described statically next to the op that uses it. */
typedef struct {
  const char *name;          /* variant name, e.g. "rms_norm_f32": profiles and errors */
  const guint32 *spv;        /* mor_spv_<name> */
  const gsize *spv_size;     /* &mor_spv_<name>_size */
  guint32 n_bindings;        /* storage buffers 0..n-1: inputs first, output last */
  guint32 write_mask;        /* bit i set: binding i is written */
  guint32 push_size;         /* bytes of push constants */
  guint32 texel_mask;        /* bit i set: binding i is read-only, bound as a uniform texel
                              * buffer of 16-byte texels (R32G32B32A32_UINT) at layout
                              * binding MOR_VK_TEXEL_BINDING + i (see mor_vk_stream_dispatch) */
} MorVkPipelineDesc;

typedef struct _MorVkPipeline MorVkPipeline;

/* Looks up or creates the pipeline for @desc with these specialization constants
 * (constant_id 0..n_spec-1). Owned by the device. */
MorVkPipeline *mor_vk_device_get_pipeline (MorVkDevice *dev, const MorVkPipelineDesc *desc,
                                           const guint32 *spec, guint n_spec, GError **error);

/* ---- command streams ---- */

typedef struct _MorVkStream MorVkStream;

MorVkStream *mor_vk_stream_new (MorVkDevice *dev, GError **error);
void mor_vk_stream_free (MorVkStream *s);
MorVkDevice *mor_vk_stream_get_device (MorVkStream *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorVkStream, mor_vk_stream_free)

/* Starts a new recording, dropping the previous one. */
void mor_vk_stream_begin (MorVkStream *s);

/* Records one dispatch of @desc over @groups workgroups. @bindings[i] is bound
 * to binding i (each view at most max_storage_range bytes, aligned offset).
 * A binding in desc->texel_mask is bound instead to MOR_VK_TEXEL_BINDING + i as
 * a uniform texel buffer (GLSL `utextureBuffer`, texelFetch() returns a uvec4):
 * its view is a multiple of 16 bytes, at most max_texel_bytes, its offset a
 * multiple of min_texel_align. On llvmpipe a texel fetch gathers 16 bytes per
 * lane in a few instructions, where a storage-buffer load loops over the lanes
 * one component at a time (about 10× slower for weight streaming).
 * Errors (pipeline creation) are kept and reported by mor_vk_stream_end(). */
void mor_vk_stream_dispatch (MorVkStream *s, const MorVkPipelineDesc *desc,
                             const guint32 *spec, guint n_spec,
                             const MorVkView *bindings, const void *push,
                             guint32 groups_x, guint32 groups_y, guint32 groups_z);

/* Records a buffer-to-buffer copy, with the same hazard tracking. */
void mor_vk_stream_copy (MorVkStream *s, MorVkView src, MorVkView dst);

/* Records a fill of @dst (size a multiple of 4) with a 32-bit pattern. */
void mor_vk_stream_fill (MorVkStream *s, MorVkView dst, guint32 value);

/* Records an error from an op (for example a size the device cannot bind);
 * the first one is reported by mor_vk_stream_end(). Takes ownership of @error. */
void mor_vk_stream_set_error (MorVkStream *s, GError *error);

/* Ends the recording. FALSE with @error if anything failed while recording. */
gboolean mor_vk_stream_end (MorVkStream *s, GError **error);

/* Submits the recording and waits for it. Host writes to mapped memory made
 * before the call are seen by the shaders; their writes are visible in mapped
 * memory when it returns. */
gboolean mor_vk_stream_submit (MorVkStream *s, GError **error);

/* How many dispatches and barriers the recording holds. */
guint mor_vk_stream_n_dispatches (MorVkStream *s);
guint mor_vk_stream_n_barriers (MorVkStream *s);

/* With MOR_PROFILE=1: prints a table of GPU time per pipeline to stderr,
 * accumulated over every submit since the last print, then clears it. */
void mor_vk_stream_print_profile (MorVkStream *s);

/* Splits @total work items into groups of @per_group over the x and y grid
 * dimensions within the device's limits. Shaders recover the flat group index
 * as gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x and skip indices
 * past the end. */
void mor_vk_grid (MorVkDevice *dev, guint64 total, guint32 per_group,
                  guint32 *groups_x, guint32 *groups_y);

/* internal */
VkPipeline mor_vk_pipeline_get_handle (MorVkPipeline *p);
void mor_vk_pipeline_destroy (MorVkDevice *dev, gpointer pipeline);
VkPhysicalDevice mor_vk_device_get_physical (MorVkDevice *dev);
VkPipelineLayout mor_vk_device_get_layout (MorVkDevice *dev);
VkDescriptorSetLayout mor_vk_device_get_set_layout (MorVkDevice *dev);
VkQueue mor_vk_device_lock_queue (MorVkDevice *dev);
void mor_vk_device_unlock_queue (MorVkDevice *dev);
guint32 mor_vk_device_get_queue_family (MorVkDevice *dev);
gboolean mor_vk_check (VkResult r, const char *call, GError **error);

G_END_DECLS
