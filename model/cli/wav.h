/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* WAV files for the command line: RIFF/WAVE with PCM 16-bit or IEEE float 32-bit. */
#pragma once

#include <glib.h>

/* Reads @path as mono float samples in [-1, 1]: channels are averaged; the
 * rate must be @rate (mor does not resample: use sox or ffmpeg). Every chunk
 * size is checked against the file. Returns: (transfer full): the samples
 * (g_free), @n of them; NULL with @error on a bad or unsupported file. */
float *mor_wav_read (const char *path, guint32 rate, guint64 *n, GError **error);

/* Writes @n mono float samples at @rate as a 32-bit IEEE float WAV file. */
gboolean mor_wav_write (const char *path, guint32 rate, const float *samples, guint64 n, GError **error);
