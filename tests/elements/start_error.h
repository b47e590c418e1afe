/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* For the element tests: a start that must fail, and the error it posts. */
#pragma once

#include <gst/gst.h>
#include <string.h>

/* Makes a @factory element with model @model and the properties given as
 * NULL-terminated name/value pairs from @first, and asserts that READY→PAUSED
 * fails with an error of @domain / @code whose message names @needle. */
static inline void
check_start_error (const char *factory, const char *model, GQuark domain, gint code, const char *needle,
                   const char *first, ...)
{
  GstElement *el = gst_element_factory_make (factory, NULL);
  g_assert_nonnull (el);
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (el, bus);
  g_object_set (el, "model", model, NULL);
  va_list args;
  va_start (args, first);
  g_object_set_valist (G_OBJECT (el), first, args);
  va_end (args);
  g_assert_cmpint (gst_element_set_state (el, GST_STATE_PAUSED), ==, GST_STATE_CHANGE_FAILURE);
  GstMessage *m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  g_assert_nonnull (m);
  GError *error = NULL;
  gst_message_parse_error (m, &error, NULL);
  g_assert_error (error, domain, code);
  if (!strstr (error->message, needle))
    g_error ("“%s” does not name “%s”", error->message, needle);
  g_error_free (error);
  gst_message_unref (m);
  gst_element_set_state (el, GST_STATE_NULL);
  gst_element_set_bus (el, NULL);
  gst_object_unref (bus);
  gst_object_unref (el);
}
