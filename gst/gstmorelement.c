/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the mor elements share: one-time setup, the device context, events, meta. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstmorelement.h"

GST_DEBUG_CATEGORY (gst_mor_debug);
#define GST_CAT_DEFAULT gst_mor_debug

static gboolean token_meta_transform (GstBuffer *dest, GstCustomMeta *meta, GstBuffer *src, GQuark type,
                                      gpointer data, gpointer user_data);

void
gst_mor_element_init (GstPlugin *plugin)
{
  static gsize done = 0;
  if (g_once_init_enter (&done)) {
    GST_DEBUG_CATEGORY_INIT (gst_mor_debug, "mor", 0, "mor plugin: device context, events, meta");
    static const gchar *tags[] = { NULL };
    gst_meta_register_custom (GST_MOR_TOKEN_META, tags, token_meta_transform, NULL, NULL);
    g_type_ensure (GST_TYPE_MOR_VK_DEVICE);
    g_once_init_leave (&done, 1);
  }
}

/* ---- the device context ---- */

GType
gst_mor_vk_device_get_type (void)
{
  static gsize type = 0;
  if (g_once_init_enter (&type)) {
    GType t = g_boxed_type_register_static ("GstMorVkDevice", (GBoxedCopyFunc) mor_vk_device_ref,
                                            (GBoxedFreeFunc) mor_vk_device_unref);
    g_once_init_leave (&type, t);
  }
  return type;
}

static MorVkDevice *
device_from_context (GstContext *context)
{
  MorVkDevice *dev = NULL;
  if (g_strcmp0 (gst_context_get_context_type (context), GST_MOR_VK_DEVICE_CONTEXT) != 0)
    return NULL;
  const GstStructure *s = gst_context_get_structure (context);
  if (!gst_structure_get (s, "device", GST_TYPE_MOR_VK_DEVICE, &dev, NULL))
    return NULL;
  return dev;
}

static GstContext *
context_new (MorVkDevice *dev)
{
  GstContext *context = gst_context_new (GST_MOR_VK_DEVICE_CONTEXT, TRUE);
  GstStructure *s = gst_context_writable_structure (context);
  gst_structure_set (s, "device", GST_TYPE_MOR_VK_DEVICE, dev, "name", G_TYPE_STRING,
                     mor_vk_device_get_info (dev)->name, NULL);
  return context;
}

void
gst_mor_element_set_context (GstElement *element, GstContext *context, MorVkDevice **dev)
{
  MorVkDevice *d = device_from_context (context);
  if (!d)
    return;
  GST_OBJECT_LOCK (element);
  if (*dev == NULL) {
    *dev = d;
    d = NULL;
    GST_DEBUG_OBJECT (element, "device “%s” from a context", mor_vk_device_get_info (*dev)->name);
  }
  GST_OBJECT_UNLOCK (element);
  if (d)
    mor_vk_device_unref (d);
}

gboolean
gst_mor_element_handle_context_query (GstElement *element, GstQuery *query, MorVkDevice *dev)
{
  const char *type;
  if (!dev || !gst_query_parse_context_type (query, &type) || g_strcmp0 (type, GST_MOR_VK_DEVICE_CONTEXT) != 0)
    return FALSE;
  GstContext *context = context_new (dev);
  gst_query_set_context (query, context);
  gst_context_unref (context);
  return TRUE;
}

static gboolean
query_peer (const GValue *item, GValue *ret, gpointer user_data)
{
  GstPad *pad = g_value_get_object (item);
  GstQuery *query = user_data;
  if (gst_pad_peer_query (pad, query)) {
    g_value_set_boolean (ret, TRUE);
    return FALSE;
  }
  return TRUE;
}

/* Asks the neighbours on one side for a context; TRUE and *@dev set if one answered. */
static gboolean
ask_neighbours (GstElement *element, GstPadDirection dir, MorVkDevice **dev)
{
  GstQuery *query = gst_query_new_context (GST_MOR_VK_DEVICE_CONTEXT);
  GstIterator *it = dir == GST_PAD_SRC ? gst_element_iterate_src_pads (element)
                                       : gst_element_iterate_sink_pads (element);
  GValue res = G_VALUE_INIT;
  g_value_init (&res, G_TYPE_BOOLEAN);
  g_value_set_boolean (&res, FALSE);
  while (gst_iterator_fold (it, query_peer, &res, query) == GST_ITERATOR_RESYNC)
    gst_iterator_resync (it);
  gst_iterator_free (it);
  GstContext *context = NULL;
  if (g_value_get_boolean (&res)) {
    gst_query_parse_context (query, &context);
    if (context)
      gst_mor_element_set_context (element, context, dev);
  }
  gst_query_unref (query);
  return *dev != NULL;
}

gboolean
gst_mor_element_ensure_device (GstElement *element, const char *selector, MorVkDevice **dev, GError **error)
{
  g_return_val_if_fail (dev != NULL, FALSE);
  gboolean have;
  GST_OBJECT_LOCK (element);
  have = *dev != NULL;
  GST_OBJECT_UNLOCK (element);
  gboolean chosen = selector && *selector;
  if (have && !chosen)
    return TRUE;
  if (!chosen) {
    if (ask_neighbours (element, GST_PAD_SRC, dev) || ask_neighbours (element, GST_PAD_SINK, dev))
      return TRUE;
    /* The application may answer from a sync bus handler with gst_element_set_context(). */
    gst_element_post_message (element, gst_message_new_need_context (GST_OBJECT (element),
                                                                     GST_MOR_VK_DEVICE_CONTEXT));
    GST_OBJECT_LOCK (element);
    have = *dev != NULL;
    GST_OBJECT_UNLOCK (element);
    if (have)
      return TRUE;
  }
  MorVkDevice *d = mor_vk_device_open (selector, error);
  if (!d)
    return FALSE;
  GST_OBJECT_LOCK (element);
  MorVkDevice *old = *dev;
  *dev = d;
  GST_OBJECT_UNLOCK (element);
  if (old)
    mor_vk_device_unref (old);
  GST_INFO_OBJECT (element, "opened device “%s”", mor_vk_device_get_info (d)->name);
  GstContext *context = context_new (d);
  gst_element_set_context (element, context);
  gst_element_post_message (element, gst_message_new_have_context (GST_OBJECT (element), context));
  return TRUE;
}

char *
gst_mor_element_default_model (const char *part)
{
  g_autofree char *name = g_strconcat (part, ".gguf", NULL);
  g_autofree char *installed = g_build_filename (MOR_MODEL_DIR, name, NULL);
  g_autofree char *source = g_build_filename (MOR_SOURCE_MODEL_DIR, name, NULL);
  if (!g_file_test (installed, G_FILE_TEST_EXISTS) && g_file_test (source, G_FILE_TEST_EXISTS))
    return g_steal_pointer (&source);
  return g_steal_pointer (&installed);
}

MorGguf *
gst_mor_element_open_model (GstElement *element, const char *path)
{
  g_autoptr (GError) error = NULL;
  if (!path) {
    GST_ELEMENT_ERROR (element, RESOURCE, NOT_FOUND, ("No model file: set the “model” property"), (NULL));
    return NULL;
  }
  MorGguf *gguf = mor_gguf_open (path, &error);
  if (gguf)
    return gguf;
  if (g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT) || !g_file_test (path, G_FILE_TEST_EXISTS))
    GST_ELEMENT_ERROR (element, RESOURCE, NOT_FOUND, ("Model file “%s” not found", path), ("%s", error->message));
  else
    GST_ELEMENT_ERROR (element, RESOURCE, OPEN_READ, ("Model file “%s” cannot be read: %s", path, error->message),
                       ("%s", error->message));
  return NULL;
}

void
gst_mor_element_progress (GstElement *element, GstProgressType type, const char *path)
{
  const char *what = type == GST_PROGRESS_TYPE_START      ? "Loading"
                     : type == GST_PROGRESS_TYPE_COMPLETE ? "Loaded"
                                                          : "Failed to load";
  g_autofree char *text = g_strdup_printf ("%s %s", what, path);
  gst_element_post_message (element, gst_message_new_progress (GST_OBJECT (element), type, "loading", text));
}

gboolean
gst_mor_element_open (GstElement *element, const char *path, const char *selector, MorGguf **gguf,
                      MorVkDevice **dev)
{
  g_autoptr (GError) error = NULL;
  if (!(*gguf = gst_mor_element_open_model (element, path)))
    return FALSE;
  gst_mor_element_progress (element, GST_PROGRESS_TYPE_START, path);
  if (gst_mor_element_ensure_device (element, selector, dev, &error))
    return TRUE;
  GST_ELEMENT_ERROR (element, RESOURCE, NOT_FOUND, ("No Vulkan device for %s", GST_OBJECT_NAME (element)),
                     ("%s", error->message));
  gst_mor_element_progress (element, GST_PROGRESS_TYPE_ERROR, path);
  return FALSE;
}

GstStateChangeReturn
gst_mor_element_change_state (GstElement *element, GstStateChange transition, GstElementClass *parent_class,
                              GstMorWorker *worker, GstMorElementStart start, GstMorElementStop stop)
{
  switch (transition) {
  case GST_STATE_CHANGE_READY_TO_PAUSED:
    if (!start (element)) {
      stop (element);
      return GST_STATE_CHANGE_FAILURE;
    }
    gst_mor_worker_start (worker);
    break;
  case GST_STATE_CHANGE_PAUSED_TO_READY:
    gst_mor_worker_stop (worker);
    break;
  default:
    break;
  }
  GstStateChangeReturn ret = parent_class->change_state (element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY ||
      (transition == GST_STATE_CHANGE_READY_TO_PAUSED && ret == GST_STATE_CHANGE_FAILURE)) {
    gst_mor_worker_stop (worker);
    stop (element);
  }
  return ret;
}

/* ---- custom events ---- */

static const char *const event_names[] = {
  NULL, "mor/utterance-start", "mor/utterance-end", "mor/interrupt", "mor/answer-end", "mor/rows-revised",
};

const char *
gst_mor_event_type_name (GstMorEventType type)
{
  return (guint) type < G_N_ELEMENTS (event_names) ? event_names[type] : NULL;
}

GstEvent *
gst_mor_event_new (GstMorEventType type, GstStructure *fields)
{
  g_return_val_if_fail (type > GST_MOR_EVENT_NONE && type < G_N_ELEMENTS (event_names), NULL);
  GstStructure *s;
  if (fields) {
    s = fields;
    gst_structure_set_name (s, event_names[type]);
  } else {
    s = gst_structure_new_empty (event_names[type]);
  }
  return gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM, s);
}

GstMorEventType
gst_mor_event_get_mor_type (GstEvent *event)
{
  if (GST_EVENT_TYPE (event) != GST_EVENT_CUSTOM_DOWNSTREAM)
    return GST_MOR_EVENT_NONE;
  const GstStructure *s = gst_event_get_structure (event);
  for (guint i = 1; s && i < G_N_ELEMENTS (event_names); i++)
    if (gst_structure_has_name (s, event_names[i]))
      return (GstMorEventType) i;
  return GST_MOR_EVENT_NONE;
}

/* ---- the token meta ---- */

static gboolean
copy_field (GQuark field, const GValue *value, gpointer user_data)
{
  gst_structure_id_set_value (user_data, field, value);
  return TRUE;
}

/* Copies the meta along with the buffer (the data it describes is unchanged);
 * other transforms (a cut, a conversion) would make the token list wrong. */
static gboolean
token_meta_transform (GstBuffer *dest, GstCustomMeta *meta, GstBuffer *src, GQuark type, gpointer data,
                      gpointer user_data)
{
  if (!GST_META_TRANSFORM_IS_COPY (type))
    return FALSE;
  GstMetaTransformCopy *copy = data;
  if (copy->region)
    return FALSE;
  GstStructure *to = gst_mor_buffer_add_token_meta (dest);
  gst_structure_foreach (gst_custom_meta_get_structure (meta), copy_field, to);
  return TRUE;
}

GstStructure *
gst_mor_buffer_add_token_meta (GstBuffer *buffer)
{
  GstCustomMeta *meta = gst_buffer_add_custom_meta (buffer, GST_MOR_TOKEN_META);
  g_return_val_if_fail (meta != NULL, NULL);
  return gst_custom_meta_get_structure (meta);
}

const GstStructure *
gst_mor_buffer_get_token_meta (GstBuffer *buffer)
{
  GstCustomMeta *meta = gst_buffer_get_custom_meta (buffer, GST_MOR_TOKEN_META);
  return meta ? gst_custom_meta_get_structure (meta) : NULL;
}
