/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the mor elements share: one-time plugin setup, the Vulkan device
 * GstContext, caps names, the custom events and the token meta. */
#pragma once

#include <gst/gst.h>

#include "gguf.h"
#include "gstmorworker.h"
#include "vk.h"

G_BEGIN_DECLS

GST_DEBUG_CATEGORY_EXTERN (gst_mor_debug);

/* Debug categories, meta and types: once per process, from every element's
 * GST_ELEMENT_REGISTER_DEFINE_WITH_CODE. */
void gst_mor_element_init (GstPlugin *plugin);

/* ---- caps ---- */

/* float32 rows of the thinker's hidden size, 25 a second of audio: field dim (int). */
#define GST_MOR_EMBEDDINGS_CAPS "application/x-mor-embeddings"
/* Token records (gstmorrecord.h): fields dim (int), stream (string: response, reasoning). */
#define GST_MOR_TOKENS_CAPS "application/x-mor-tokens"
#define GST_MOR_TEXT_CAPS "text/x-raw, format=(string)utf8"

/* ---- the device context ---- */

/* GstContext type holding the process's MorVkDevice in field "device"
 * (GST_TYPE_MOR_VK_DEVICE, a boxed type that refs the device). */
#define GST_MOR_VK_DEVICE_CONTEXT "mor.vulkan.device"
#define GST_TYPE_MOR_VK_DEVICE (gst_mor_vk_device_get_type ())
GType gst_mor_vk_device_get_type (void);

/* set_context: takes the device from a mor.vulkan.device context into *@dev
 * (unless one is already there). */
void gst_mor_element_set_context (GstElement *element, GstContext *context, MorVkDevice **dev);
/* GST_QUERY_CONTEXT: answers with @dev; FALSE when not ours or no device yet. */
gboolean gst_mor_element_handle_context_query (GstElement *element, GstQuery *query, MorVkDevice *dev);
/**
 * gst_mor_element_ensure_device:
 * @element: the element
 * @selector: (nullable): the element's `device` property: when set, the device
 *   it names (index or name substring) is opened, and shared by context
 * @dev: (inout): the element's device; left as is when already set
 * @error: return location for a #GError, or %NULL
 *
 * Without @selector: a device already given by set_context, else one a
 * neighbour answers a context query with (downstream, then upstream), else
 * one the application gives on NEED_CONTEXT, else the default device
 * (MOR_VK_DEVICE or the best one). A device it opens is announced with
 * HAVE_CONTEXT so the other mor elements of the pipeline use it.
 */
gboolean gst_mor_element_ensure_device (GstElement *element, const char *selector, MorVkDevice **dev,
                                        GError **error);

/**
 * gst_mor_element_default_model:
 * @part: "thinker", "encoder" or "talker"
 *
 * The bundled model's file for @part (mor-nano, models/nano/PART.gguf): where
 * `meson install` puts it, else in the source tree the plugin was built from.
 * An element whose `model` property is NULL opens this.
 *
 * Returns: (transfer full): the path of the first that exists, else the
 * installed path (the open then fails naming it).
 */
char *gst_mor_element_default_model (const char *part);

/**
 * gst_mor_element_open_model:
 * @element: the element that reads the file
 * @path: (nullable): the GGUF file (its `model` property)
 *
 * Returns: (transfer full) (nullable): the open file, or NULL having posted
 * RESOURCE/NOT_FOUND (no @path, no such file) or RESOURCE/OPEN_READ
 * (unreadable, or not GGUF), each naming @path and the reason.
 */
MorGguf *gst_mor_element_open_model (GstElement *element, const char *path);

/**
 * gst_mor_element_open:
 * @element: the element
 * @path: (nullable): its `model` property
 * @selector: (nullable): its `device` property
 * @gguf: (out): the open file
 * @dev: (inout): the device (see gst_mor_element_ensure_device())
 *
 * What every mor element does first at READY→PAUSED: opens @path
 * (gst_mor_element_open_model()), posts the PROGRESS start, gets the device.
 * Returns: FALSE having posted the error (and the PROGRESS error once started).
 */
gboolean gst_mor_element_open (GstElement *element, const char *path, const char *selector, MorGguf **gguf,
                               MorVkDevice **dev);
typedef gboolean (*GstMorElementStart) (GstElement *element);
typedef void (*GstMorElementStop) (GstElement *element);
/**
 * gst_mor_element_change_state:
 *
 * The state changes of a mor element with a worker: at READY→PAUSED @start
 * (model, sessions, stream state; @stop when it fails), then the worker
 * starts; at PAUSED→READY the worker stops before the pads deactivate (it may
 * be pushing), then @stop releases what @start made. Call from the element's
 * change_state with its parent class.
 */
GstStateChangeReturn gst_mor_element_change_state (GstElement *element, GstStateChange transition,
                                                   GstElementClass *parent_class, GstMorWorker *worker,
                                                   GstMorElementStart start, GstMorElementStop stop);
/* Posts a PROGRESS message (code "loading") about @path: "Loading …" (START),
 * "Loaded …" (COMPLETE) or "Failed to load …" (ERROR). */
void gst_mor_element_progress (GstElement *element, GstProgressType type, const char *path);

/* ---- custom events ---- */

typedef enum {
  GST_MOR_EVENT_NONE,              /* not a mor event */
  GST_MOR_EVENT_UTTERANCE_START,   /* "mor/utterance-start": the user starts speaking */
  GST_MOR_EVENT_UTTERANCE_END,     /* "mor/utterance-end": the user has stopped */
  GST_MOR_EVENT_INTERRUPT,         /* "mor/interrupt": the answer in progress is abandoned (barge-in) */
  GST_MOR_EVENT_ANSWER_END,        /* "mor/answer-end": an answer is complete on this stream */
  GST_MOR_EVENT_ROWS_REVISED,      /* "mor/rows-revised": the utterance's rows from `from` (uint) on come again */
} GstMorEventType;

/* A serialized downstream custom event named for @type, with the fields of
 * @fields (transfer full, nullable) copied into it. Returns: (transfer full). */
GstEvent *gst_mor_event_new (GstMorEventType type, GstStructure *fields);
/* The mor event @event is, or GST_MOR_EVENT_NONE. */
GstMorEventType gst_mor_event_get_mor_type (GstEvent *event);
/* "mor/utterance-start", … */
const char *gst_mor_event_type_name (GstMorEventType type);

/* ---- the token meta ---- */

/* Custom meta "MorTokenMeta" on text buffers: fields stream (string), answer
 * (uint), token-ids, cycles, slots (GstValueArray of int/uint, one per token of
 * the buffer) and log-probs (GstValueArray of float). */
#define GST_MOR_TOKEN_META "MorTokenMeta"
/* Returns: (transfer none): the meta's structure, to fill in. */
GstStructure *gst_mor_buffer_add_token_meta (GstBuffer *buffer);
/* Returns: (transfer none) (nullable): the meta's structure. */
const GstStructure *gst_mor_buffer_get_token_meta (GstBuffer *buffer);

G_END_DECLS
