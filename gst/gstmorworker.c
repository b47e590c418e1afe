/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A worker thread behind a sink pad: a bounded queue of buffers and events (see gstmorworker.h). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstmorworker.h"

struct _GstMorWorker {
  char *name;
  guint max_queued;
  GstMorWorkerFunc func;
  gpointer user_data;
  GThread *thread;

  /* under lock */
  GMutex lock;
  GCond cond;
  GQueue queue;                  /* GstMorWorkerItem */
  GQueue kept;                   /* STREAM_START and CAPS items a flush took out of the queue */
  guint n_starts;                /* queued items with starts */
  gboolean flushing, stopping;
  gboolean busy;                 /* the function is running */
};

static void
item_free (GstMorWorkerItem *item)
{
  gst_clear_event (&item->event);
  gst_clear_buffer (&item->buffer);
  g_free (item);
}

/* Under lock. Drops the queue; with @keep_sticky its STREAM_START and CAPS
 * events go to w->kept (a flush does not undo them: upstream never sends them
 * again, and the element must still see them). */
static void
clear_queue (GstMorWorker *w, gboolean keep_sticky)
{
  GstMorWorkerItem *item;
  while ((item = g_queue_pop_head (&w->queue))) {
    GstEventType type = item->event ? GST_EVENT_TYPE (item->event) : GST_EVENT_UNKNOWN;
    if (keep_sticky && (type == GST_EVENT_STREAM_START || type == GST_EVENT_CAPS)) {
      item->starts = FALSE;
      g_queue_push_tail (&w->kept, item);
    } else {
      item_free (item);
    }
  }
  w->n_starts = 0;
}

GstMorWorker *
gst_mor_worker_new (const char *name, guint max_queued, GstMorWorkerFunc func, gpointer user_data)
{
  g_return_val_if_fail (max_queued > 0 && func != NULL, NULL);
  GstMorWorker *w = g_new0 (GstMorWorker, 1);
  w->name = g_strdup (name);
  w->max_queued = max_queued;
  w->func = func;
  w->user_data = user_data;
  g_mutex_init (&w->lock);
  g_cond_init (&w->cond);
  g_queue_init (&w->queue);
  w->stopping = w->flushing = TRUE;
  return w;
}

void
gst_mor_worker_free (GstMorWorker *w)
{
  gst_mor_worker_stop (w);
  g_mutex_clear (&w->lock);
  g_cond_clear (&w->cond);
  g_free (w->name);
  g_free (w);
}

static gpointer
run (gpointer data)
{
  GstMorWorker *w = data;
  g_mutex_lock (&w->lock);
  for (;;) {
    w->busy = FALSE;
    g_cond_broadcast (&w->cond);
    while (!w->stopping && g_queue_is_empty (&w->queue))
      g_cond_wait (&w->cond, &w->lock);
    if (w->stopping)
      break;
    GstMorWorkerItem *item = g_queue_pop_head (&w->queue);
    w->n_starts -= item->starts;
    w->busy = TRUE;
    g_cond_broadcast (&w->cond);
    g_mutex_unlock (&w->lock);
    w->func (item, w->user_data);
    item_free (item);
    g_mutex_lock (&w->lock);
  }
  w->busy = FALSE;
  g_cond_broadcast (&w->cond);
  g_mutex_unlock (&w->lock);
  return NULL;
}

void
gst_mor_worker_start (GstMorWorker *w)
{
  g_return_if_fail (w->thread == NULL);
  g_mutex_lock (&w->lock);
  w->flushing = w->stopping = w->busy = FALSE;
  g_mutex_unlock (&w->lock);
  w->thread = g_thread_new (w->name, run, w);
}

void
gst_mor_worker_stop (GstMorWorker *w)
{
  g_mutex_lock (&w->lock);
  w->stopping = w->flushing = TRUE;
  clear_queue (w, FALSE);
  g_cond_broadcast (&w->cond);
  g_mutex_unlock (&w->lock);
  if (w->thread)
    g_thread_join (w->thread);
  w->thread = NULL;
  g_mutex_lock (&w->lock);
  clear_queue (w, FALSE);
  GstMorWorkerItem *item;
  while ((item = g_queue_pop_head (&w->kept)))
    item_free (item);
  g_mutex_unlock (&w->lock);
}

gboolean
gst_mor_worker_push (GstMorWorker *w, guint kind, GstEvent *event, GstBuffer *buffer, gboolean starts)
{
  gint64 arrived_us = g_get_monotonic_time ();
  g_mutex_lock (&w->lock);
  while (!w->flushing && g_queue_get_length (&w->queue) >= w->max_queued)
    g_cond_wait (&w->cond, &w->lock);
  if (w->flushing) {
    g_mutex_unlock (&w->lock);
    gst_clear_event (&event);
    gst_clear_buffer (&buffer);
    return FALSE;
  }
  GstMorWorkerItem *item = g_new0 (GstMorWorkerItem, 1);
  *item = (GstMorWorkerItem) { kind, event, buffer, starts, arrived_us };
  w->n_starts += starts;
  g_queue_push_tail (&w->queue, item);
  g_cond_broadcast (&w->cond);
  g_mutex_unlock (&w->lock);
  return TRUE;
}

void
gst_mor_worker_flush_start (GstMorWorker *w)
{
  g_mutex_lock (&w->lock);
  w->flushing = TRUE;
  clear_queue (w, TRUE);
  g_cond_broadcast (&w->cond);
  g_mutex_unlock (&w->lock);
}

void
gst_mor_worker_flush_stop (GstMorWorker *w)
{
  g_mutex_lock (&w->lock);
  while (w->busy)
    g_cond_wait (&w->cond, &w->lock);
  clear_queue (w, TRUE);
  /* The kept sticky events first, in their order: the items after the flush come after them. */
  GstMorWorkerItem *item;
  while ((item = g_queue_pop_tail (&w->kept)))
    g_queue_push_head (&w->queue, item);
  if (!g_queue_is_empty (&w->queue))
    g_cond_broadcast (&w->cond);
  w->flushing = w->stopping;
  g_mutex_unlock (&w->lock);
}

gboolean
gst_mor_worker_is_flushing (GstMorWorker *w)
{
  g_mutex_lock (&w->lock);
  gboolean flushing = w->flushing || w->stopping;
  g_mutex_unlock (&w->lock);
  return flushing;
}

guint
gst_mor_worker_n_starts (GstMorWorker *w)
{
  g_mutex_lock (&w->lock);
  guint n = w->n_starts;
  g_mutex_unlock (&w->lock);
  return n;
}
