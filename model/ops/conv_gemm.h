/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tile choice of the implicit GEMM in shaders/conv_gemm.glsl, shared by the
 * ops built on it (conv1d, conv_transpose1d). */
#pragma once

#include "vk.h"

/* Of the tiles (BM output channels × BN outputs, 256 invocations of 4 × 4
 * outputs, BK = 16) that fit in shared memory, the one that wastes the least
 * work on an m × n output. */
void mor_conv_gemm_pick_tile (const MorVkDeviceInfo *info, guint32 m, guint32 n, guint32 *bm, guint32 *bn);
