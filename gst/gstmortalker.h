/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortalker: speaks morthinker's response tokens (talker, DiT, BigVGAN). */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_MOR_TALKER (gst_mor_talker_get_type ())
G_DECLARE_FINAL_TYPE (GstMorTalker, gst_mor_talker, GST, MOR_TALKER, GstElement)

/* The DiT's ODE solver (MorDitSolver). */
#define GST_TYPE_MOR_TALKER_SOLVER (gst_mor_talker_solver_get_type ())
GType gst_mor_talker_solver_get_type (void);

GST_ELEMENT_REGISTER_DECLARE (mortalker);

G_END_DECLS
