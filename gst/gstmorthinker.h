/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* morthinker: the thinker LLM with thinking-in-speaking (p:q) interleave. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_MOR_THINKER (gst_mor_thinker_get_type ())
G_DECLARE_FINAL_TYPE (GstMorThinker, gst_mor_thinker, GST, MOR_THINKER, GstElement)

/* What the text caps carry in each buffer. */
typedef enum {
  GST_MOR_THINKER_TEXT_TOKEN,       /* one buffer per token (whole UTF-8 characters only) */
  GST_MOR_THINKER_TEXT_WORD,        /* one buffer per word (split before a piece starting with a space) */
  GST_MOR_THINKER_TEXT_LINE,        /* one buffer per line (up to and including '\n') */
  GST_MOR_THINKER_TEXT_CUMULATIVE,  /* the stream's whole text of the answer so far, per token */
} GstMorThinkerTextMode;

#define GST_TYPE_MOR_THINKER_TEXT_MODE (gst_mor_thinker_text_mode_get_type ())
GType gst_mor_thinker_text_mode_get_type (void);

GST_ELEMENT_REGISTER_DECLARE (morthinker);

G_END_DECLS
