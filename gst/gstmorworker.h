/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A worker thread behind a sink pad, so that model work never blocks the
 * streaming thread: the streaming thread queues buffers and serialized events
 * in order (a bounded queue: it waits while the queue is full), the worker
 * hands each to the element's function, one at a time.
 *
 * Flushing: gst_mor_worker_flush_start() drops the queue (but its STREAM_START
 * and CAPS events, which a flush does not undo and upstream does not send
 * again: they are queued again at flush_stop) and refuses new items; the
 * element's function sees gst_mor_worker_is_flushing() and leaves long work
 * early. gst_mor_worker_flush_stop() waits until the worker is idle, then
 * accepts items again. gst_mor_worker_stop() joins the thread.
 *
 * Threads: push, flush_start and flush_stop from the streaming thread;
 * start and stop from state changes; is_flushing and n_starts from the
 * element's function (any thread). */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef struct {
  guint kind;                    /* the element's own item kinds */
  GstEvent *event;               /* (nullable) */
  GstBuffer *buffer;             /* (nullable) */
  gboolean starts;               /* the item starts something new (counted by gst_mor_worker_n_starts()) */
  gint64 arrived_us;             /* g_get_monotonic_time() when it was pushed */
} GstMorWorkerItem;

/* Handles @item in the worker thread; may steal its event and buffer (the
 * worker frees what is left). */
typedef void (*GstMorWorkerFunc) (GstMorWorkerItem *item, gpointer user_data);

typedef struct _GstMorWorker GstMorWorker;

/* A worker named @name (the thread's name) that calls @func with @user_data;
 * at most @max_queued items wait. Returns: (transfer full). */
GstMorWorker *gst_mor_worker_new (const char *name, guint max_queued, GstMorWorkerFunc func, gpointer user_data);
/* Stops the worker first if it runs. */
void gst_mor_worker_free (GstMorWorker *worker);

/* Starts the thread, not flushing. */
void gst_mor_worker_start (GstMorWorker *worker);
/* Flushes, drops the queue and joins the thread (the item in progress runs
 * to where it checks gst_mor_worker_is_flushing()). */
void gst_mor_worker_stop (GstMorWorker *worker);

/* Queues an item (@event, @buffer: transfer full, nullable). Returns FALSE,
 * having dropped them, while flushing or stopped. */
gboolean gst_mor_worker_push (GstMorWorker *worker, guint kind, GstEvent *event, GstBuffer *buffer,
                              gboolean starts);

/* FLUSH_START: drops the queue, wakes a waiting push, refuses items. */
void gst_mor_worker_flush_start (GstMorWorker *worker);
/* FLUSH_STOP: waits until the item in progress is done, drops the queue,
 * accepts items again. */
void gst_mor_worker_flush_stop (GstMorWorker *worker);

/* Whether the item in progress should be left: flushing or stopping. */
gboolean gst_mor_worker_is_flushing (GstMorWorker *worker);
/* Queued items pushed with @starts (not yet handed to the function). */
guint gst_mor_worker_n_starts (GstMorWorker *worker);

G_END_DECLS
