/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of gst/gstmorworker.c: items reach the function in order, one at a
 * time; the queue is bounded; flushing drops what waits (but stream-start and
 * caps) and refuses items until flush-stop; items that start something are counted; stop joins. */
#include <gst/gst.h>

#include "gstmorworker.h"

/* The function's side: records kinds; blocks on item kinds >= 100 until the gate opens. */
typedef struct {
  GMutex lock;
  GCond cond;
  GArray *seen;          /* guint kinds, in order */
  gboolean gate_open;
  gboolean in_blocked;   /* the function waits at the gate */
  gboolean saw_flushing; /* is_flushing() was TRUE at the gate's opening */
  GstMorWorker *worker;
} Rec;

static void
record (GstMorWorkerItem *item, gpointer user_data)
{
  Rec *r = user_data;
  g_mutex_lock (&r->lock);
  g_array_append_val (r->seen, item->kind);
  g_assert_true (item->arrived_us > 0);
  if (item->kind >= 100) {
    r->in_blocked = TRUE;
    g_cond_broadcast (&r->cond);
    while (!r->gate_open)
      g_cond_wait (&r->cond, &r->lock);
    r->in_blocked = FALSE;
    r->saw_flushing = gst_mor_worker_is_flushing (r->worker);
  }
  g_cond_broadcast (&r->cond);
  g_mutex_unlock (&r->lock);
}

static Rec *
rec_new (guint max_queued)
{
  Rec *r = g_new0 (Rec, 1);
  g_mutex_init (&r->lock);
  g_cond_init (&r->cond);
  r->seen = g_array_new (FALSE, FALSE, sizeof (guint));
  r->worker = gst_mor_worker_new ("test-worker", max_queued, record, r);
  gst_mor_worker_start (r->worker);
  return r;
}

static void
rec_free (Rec *r)
{
  gst_mor_worker_free (r->worker);
  g_array_unref (r->seen);
  g_mutex_clear (&r->lock);
  g_cond_clear (&r->cond);
  g_free (r);
}

/* Waits until @n items were seen. */
static void
wait_seen (Rec *r, guint n)
{
  g_mutex_lock (&r->lock);
  while (r->seen->len < n)
    g_cond_wait (&r->cond, &r->lock);
  g_mutex_unlock (&r->lock);
}

static void
wait_blocked (Rec *r)
{
  g_mutex_lock (&r->lock);
  while (!r->in_blocked)
    g_cond_wait (&r->cond, &r->lock);
  g_mutex_unlock (&r->lock);
}

static void
open_gate (Rec *r)
{
  g_mutex_lock (&r->lock);
  r->gate_open = TRUE;
  g_cond_broadcast (&r->cond);
  g_mutex_unlock (&r->lock);
}

static void
test_order (void)
{
  Rec *r = rec_new (4);
  for (guint k = 0; k < 50; k++)
    g_assert_true (gst_mor_worker_push (r->worker, k, NULL, gst_buffer_new (), FALSE));
  wait_seen (r, 50);
  for (guint k = 0; k < 50; k++)
    g_assert_cmpuint (g_array_index (r->seen, guint, k), ==, k);
  rec_free (r);
}

typedef struct {
  GstMorWorker *worker;
  gint done;
} Pusher;

static gpointer
push_one (gpointer data)
{
  Pusher *p = data;
  gst_mor_worker_push (p->worker, 3, NULL, NULL, FALSE);
  g_atomic_int_set (&p->done, 1);
  return NULL;
}

/* A push waits while max_queued items wait. */
static void
test_bounded (void)
{
  Rec *r = rec_new (2);
  gst_mor_worker_push (r->worker, 100, NULL, NULL, FALSE);
  wait_blocked (r);
  gst_mor_worker_push (r->worker, 1, NULL, NULL, FALSE);
  gst_mor_worker_push (r->worker, 2, NULL, NULL, FALSE);
  Pusher p = { r->worker, 0 };
  GThread *t = g_thread_new ("pusher", push_one, &p);
  g_usleep (50000);
  g_assert_cmpint (g_atomic_int_get (&p.done), ==, 0);
  open_gate (r);
  g_thread_join (t);
  wait_seen (r, 4);
  g_assert_cmpuint (g_array_index (r->seen, guint, 3), ==, 3);
  rec_free (r);
}

/* Flushing drops the queue and refuses items; the item in progress sees it;
 * after flush-stop items flow again. starts are counted while queued. */
static void
test_flush (void)
{
  Rec *r = rec_new (8);
  gst_mor_worker_push (r->worker, 100, gst_event_new_eos (), NULL, TRUE);
  wait_blocked (r);
  g_assert_cmpuint (gst_mor_worker_n_starts (r->worker), ==, 0);
  for (guint k = 1; k <= 3; k++)
    gst_mor_worker_push (r->worker, k, NULL, gst_buffer_new (), k != 2);
  g_assert_cmpuint (gst_mor_worker_n_starts (r->worker), ==, 2);
  g_assert_false (gst_mor_worker_is_flushing (r->worker));
  gst_mor_worker_flush_start (r->worker);
  g_assert_cmpuint (gst_mor_worker_n_starts (r->worker), ==, 0);
  g_assert_false (gst_mor_worker_push (r->worker, 4, NULL, gst_buffer_new (), TRUE));
  open_gate (r);
  gst_mor_worker_flush_stop (r->worker);
  g_assert_true (r->saw_flushing);
  g_assert_false (gst_mor_worker_is_flushing (r->worker));
  g_assert_true (gst_mor_worker_push (r->worker, 5, NULL, NULL, FALSE));
  wait_seen (r, 2);
  g_assert_cmpuint (r->seen->len, ==, 2);
  g_assert_cmpuint (g_array_index (r->seen, guint, 1), ==, 5);
  rec_free (r);
}

/* A flush keeps the queued stream-start and caps (upstream does not send them
 * again): they reach the function first after flush-stop, in their order;
 * the buffers and other events are dropped. */
static void
test_flush_keeps_sticky (void)
{
  Rec *r = rec_new (8);
  gst_mor_worker_push (r->worker, 100, gst_event_new_eos (), NULL, FALSE);
  wait_blocked (r);
  gst_mor_worker_push (r->worker, 1, gst_event_new_stream_start ("s"), NULL, FALSE);
  gst_mor_worker_push (r->worker, 2, NULL, gst_buffer_new (), TRUE);
  GstCaps *caps = gst_caps_new_empty_simple ("audio/x-raw");
  gst_mor_worker_push (r->worker, 3, gst_event_new_caps (caps), NULL, FALSE);
  gst_caps_unref (caps);
  GstSegment seg;
  gst_segment_init (&seg, GST_FORMAT_TIME);
  gst_mor_worker_push (r->worker, 4, gst_event_new_segment (&seg), NULL, FALSE);
  gst_mor_worker_flush_start (r->worker);
  open_gate (r);
  gst_mor_worker_flush_stop (r->worker);
  g_assert_true (gst_mor_worker_push (r->worker, 5, NULL, gst_buffer_new (), FALSE));
  wait_seen (r, 4);
  guint want[] = { 100, 1, 3, 5 };
  g_assert_cmpuint (r->seen->len, ==, G_N_ELEMENTS (want));
  for (guint i = 0; i < G_N_ELEMENTS (want); i++)
    g_assert_cmpuint (g_array_index (r->seen, guint, i), ==, want[i]);
  rec_free (r);
}

/* Stop joins the thread; a stopped worker refuses items and starts again. */
static void
test_stop (void)
{
  Rec *r = rec_new (8);
  gst_mor_worker_push (r->worker, 1, NULL, NULL, FALSE);
  wait_seen (r, 1);
  gst_mor_worker_stop (r->worker);
  g_assert_true (gst_mor_worker_is_flushing (r->worker));
  g_assert_false (gst_mor_worker_push (r->worker, 2, NULL, gst_buffer_new (), FALSE));
  gst_mor_worker_flush_stop (r->worker); /* a FLUSH_STOP while stopped leaves it refusing */
  g_assert_false (gst_mor_worker_push (r->worker, 2, NULL, NULL, FALSE));
  gst_mor_worker_start (r->worker);
  g_assert_true (gst_mor_worker_push (r->worker, 3, NULL, NULL, FALSE));
  wait_seen (r, 2);
  g_assert_cmpuint (g_array_index (r->seen, guint, 1), ==, 3);
  rec_free (r);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  gst_init (&argc, &argv);
  g_test_add_func ("/morworker/order", test_order);
  g_test_add_func ("/morworker/bounded", test_bounded);
  g_test_add_func ("/morworker/flush", test_flush);
  g_test_add_func ("/morworker/flush-keeps-sticky", test_flush_keeps_sticky);
  g_test_add_func ("/morworker/stop", test_stop);
  int ret = g_test_run ();
  gst_deinit ();
  return ret;
}
