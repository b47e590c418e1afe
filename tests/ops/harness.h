/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the op tests: one device, buffers from host arrays, random data,
 * comparison against the C reference with a stated tolerance. */
#pragma once

#include "ops.h"

/* g_test_init() plus the device. Without a Vulkan device the test is skipped
 * (exit 77) with the reason, except under CI (env CI set), where it fails. */
void harness_init (int *argc, char ***argv);
MorVkDevice *harness_device (void);

/* A device buffer holding a copy of @data (@size bytes). */
MorVkBuffer *harness_upload (const void *data, gsize size);
/* A device buffer of @size bytes filled with NaN bit patterns, so an element
 * an op forgets to write is caught. */
MorVkBuffer *harness_output (gsize size);
/* Copies @size bytes of @buf to a new host array (g_free it). */
gpointer harness_download (MorVkBuffer *buf, gsize size);

/* A stream ready to record. */
MorVkStream *harness_stream (void);
/* Ends the recording and submits it; fails the test on any error. */
void harness_run (MorVkStream *s);

/* @n uniform random floats in [lo, hi) from @seed. */
float *harness_random (gsize n, float lo, float hi, guint32 seed);

/* Fails unless |got - want| <= atol + rtol·|want| for every element; names the
 * first bad index. NaN in @got always fails. */
void harness_assert_close (const char *what, const float *got, const float *want, gsize n,
                           float atol, float rtol);
/* Normalised mean squared error Σ(got-want)² / Σwant². */
double harness_nmse (const float *got, const float *want, gsize n);
