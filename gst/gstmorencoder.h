/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* morencoder: 16-kHz speech to the thinker's audio rows, with energy-VAD endpointing. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_MOR_ENCODER (gst_mor_encoder_get_type ())
G_DECLARE_FINAL_TYPE (GstMorEncoder, gst_mor_encoder, GST, MOR_ENCODER, GstElement)

GST_ELEMENT_REGISTER_DECLARE (morencoder);

G_END_DECLS
