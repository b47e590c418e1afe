/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The mor plugin: registers its elements. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>

#include "gstmorencoder.h"
#include "gstmortalker.h"
#include "gstmorthinker.h"

static gboolean
plugin_init (GstPlugin *plugin)
{
  gboolean ret = FALSE;
  ret |= GST_ELEMENT_REGISTER (morencoder, plugin);
  ret |= GST_ELEMENT_REGISTER (morthinker, plugin);
  ret |= GST_ELEMENT_REGISTER (mortalker, plugin);
  return ret;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, mor,
                   "Thinking-in-speaking spoken dialogue (Mini-Omni-Reasoner on Qwen2.5-Omni) on Vulkan",
                   plugin_init, VERSION, GST_LICENSE, GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
