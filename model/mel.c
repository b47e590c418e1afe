/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Qwen2.5-Omni / Whisper log-mel front end on Vulkan, streaming, and its C
 * reference. */
#include "mel.h"

#include <math.h>
#include <string.h>

#include "ops.h"

G_DEFINE_QUARK (mor-mel-error-quark, mor_mel_error)

#define N_BINS (MOR_MEL_N_FFT / 2 + 1)   /* 201 frequency bins */
#define HALF (MOR_MEL_N_FFT / 2)         /* torch.stft(center=True) pads n_fft // 2 */
#define N_EXTRA 2                        /* frames past the end that can overlap the audio */

struct _MorMel {
  MorVkDevice *dev;
  guint32 n_mels;
  guint32 lead;                 /* frames computed before a block and thrown away (see block_window) */
  guint64 align;                /* floats: offsets of views into the block buffers are multiples */
  MorVkBuffer *window;          /* (n_fft) periodic Hann */
  MorVkBuffer *twiddles;        /* (n_fft, 2) cos, sin of 2πm/n_fft */
  MorVkBuffer *filters;         /* (n_mels, n_bins) Slaney mel filter bank */
};

/* ---- the canvas ---- */

guint32
mor_mel_n_frames (guint64 n_samples)
{
  /* feature_attention_mask = attention_mask[:, ::hop_length]: sample mask entries 0, 160, 320, … */
  n_samples = MIN (n_samples, MOR_MEL_MAX_SAMPLES);
  return (guint32) ((n_samples + MOR_MEL_HOP - 1) / MOR_MEL_HOP);
}

/* Samples s0 .. s0+len-1 of the processor's canvas as torch.stft sees it:
 * the utterance x[0..n), zeros up to MOR_MEL_MAX_SAMPLES, and reflect padding
 * by n_fft/2 at both ends (x[-i] = x[i]; past the canvas end x[N-1+i] =
 * x[N-1-i]). Positions outside the padded canvas read zeros; only frames
 * nobody uses read them. */
static void
canvas_window (const float *x, guint64 n, gint64 s0, guint64 len, float *w)
{
  const gint64 N = MOR_MEL_MAX_SAMPLES;
  for (guint64 m = 0; m < len; m++) {
    gint64 p = s0 + (gint64) m, s = p;
    if (s < 0)
      s = -s;
    else if (s >= N)
      s = 2 * (N - 1) - s;
    gboolean inside = p >= -HALF && p < N + HALF && s >= 0 && s < (gint64) n;
    w[m] = inside ? x[s] : 0.0f;
  }
}

/* The STFT op centres frame j of its input at sample j·hop of it and reflects
 * its own input at both ends. A block of frames g0 .. g0+F-1 is therefore
 * computed from the canvas window starting at sample (g0 - lead)·hop: op frame
 * lead + i is canvas frame g0 + i, and lead ≥ 2 keeps the op's own reflection
 * (frames 0 and 1, whose window starts before sample 0) out of the block.
 * lead is also chosen so that frame lead starts at an aligned offset of the
 * power spectrum, where the mel op can bind it. */
static guint64
block_window_length (guint32 lead, guint32 n_frames)
{
  return (guint64) (lead + n_frames - 1) * MOR_MEL_HOP + HALF;
}

static void
block_window (const float *x, guint64 n, guint32 lead, guint32 g0, guint32 n_frames, float *w)
{
  canvas_window (x, n, ((gint64) g0 - lead) * MOR_MEL_HOP, block_window_length (lead, n_frames), w);
}

/* ---- tables ---- */

void
mor_mel_free (MorMel *mel)
{
  if (!mel)
    return;
  g_clear_pointer (&mel->window, mor_vk_buffer_free);
  g_clear_pointer (&mel->twiddles, mor_vk_buffer_free);
  g_clear_pointer (&mel->filters, mor_vk_buffer_free);
  g_clear_pointer (&mel->dev, mor_vk_device_unref);
  g_free (mel);
}

static guint64
gcd64 (guint64 a, guint64 b)
{
  while (b) {
    guint64 t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/**
 * mor_mel_new:
 * @dev: the device
 * @n_mels: mel bands (128 for Qwen2.5-Omni; the encoder's num_mel_bins)
 * @error: return location for a #GError, or %NULL
 *
 * Returns: (transfer full): the front end, or %NULL with @error set
 */
MorMel *
mor_mel_new (MorVkDevice *dev, guint32 n_mels, GError **error)
{
  g_return_val_if_fail (n_mels > 0, NULL);
  const MorVkDeviceInfo *info = mor_vk_device_get_info (dev);
  g_autoptr (MorMel) mel = g_new0 (MorMel, 1);
  mel->dev = mor_vk_device_ref (dev);
  mel->n_mels = n_mels;
  guint64 align = MAX (info->min_storage_align, 16);
  mel->align = align / 4;
  guint64 step = align / gcd64 ((guint64) N_BINS * 4, align);   /* frames per aligned power offset */
  mel->lead = (guint32) ((2 + step - 1) / step * step);

  float window[MOR_MEL_N_FFT], twiddles[2 * MOR_MEL_N_FFT];
  g_autofree float *filters = g_new (float, (gsize) n_mels * N_BINS);
  mor_hann_window (window, MOR_MEL_N_FFT);
  mor_dft_twiddles (twiddles, MOR_MEL_N_FFT);
  mor_mel_filter_bank (filters, N_BINS, n_mels, 0.0, MOR_MEL_SAMPLE_RATE / 2, MOR_MEL_SAMPLE_RATE);
  if (!(mel->window = mor_vk_buffer_new (dev, sizeof window, MOR_VK_MEMORY_DEVICE, error)) ||
      !mor_vk_buffer_upload (mel->window, 0, window, sizeof window, error) ||
      !(mel->twiddles = mor_vk_buffer_new (dev, sizeof twiddles, MOR_VK_MEMORY_DEVICE, error)) ||
      !mor_vk_buffer_upload (mel->twiddles, 0, twiddles, sizeof twiddles, error) ||
      !(mel->filters = mor_vk_buffer_new (dev, (guint64) n_mels * N_BINS * 4, MOR_VK_MEMORY_DEVICE, error)) ||
      !mor_vk_buffer_upload (mel->filters, 0, filters, (guint64) n_mels * N_BINS * 4, error))
    return NULL;
  return g_steal_pointer (&mel);
}

guint32
mor_mel_get_n_mels (MorMel *mel)
{
  return mel->n_mels;
}

/* ---- streams ---- */

/* Raw mel blocks (before log and normalisation) live in one buffer, and their
 * normalised values at the same offsets in another:
 *
 *   [extra: N_EXTRA frames past the end][chunk 0][chunk 1] … [last chunk]
 *
 * each region [n_mels, frames] and starting at an aligned offset; the gaps
 * between regions hold zeros, whose log is the floor −10 and so never raises
 * the max. One log_mel_norm over the regions in use normalises every chunk
 * with the max over all of them. The extra region holds zeros until finish. */
struct _MorMelStream {
  MorMel *mel;
  guint32 chunk_frames;         /* B: frames a chunk */
  guint64 max_samples;          /* capacity */
  guint32 max_chunks;
  guint64 extra_stride;         /* floats from the extra region to chunk 0 */
  guint64 chunk_stride;         /* floats from one chunk's region to the next */
  /* the utterance */
  float *samples;               /* (max_samples) */
  guint64 n;                    /* samples so far */
  guint32 n_computed;           /* chunks whose raw block is computed */
  guint32 n_emitted;            /* chunks handed out by next_chunk */
  float *emitted;               /* (max_chunks, n_mels·B): the values handed out */
  gboolean finished;
  guint32 n_frames;             /* after finish */
  /* device */
  MorVkBuffer *win;             /* (window length of a chunk) host-written samples */
  MorVkBuffer *power;           /* (lead + B + 1, n_bins) */
  MorVkBuffer *raw;             /* (extra_stride + max_chunks·chunk_stride) mel */
  MorVkBuffer *norm;            /* the same, normalised; host-visible */
  MorVkBuffer *gmax;            /* log_mel_norm scratch */
  MorVkStream *st;
};

void
mor_mel_stream_free (MorMelStream *ms)
{
  if (!ms)
    return;
  mor_vk_stream_free (ms->st);
  mor_vk_buffer_free (ms->win);
  mor_vk_buffer_free (ms->power);
  mor_vk_buffer_free (ms->raw);
  mor_vk_buffer_free (ms->norm);
  mor_vk_buffer_free (ms->gmax);
  g_free (ms->samples);
  g_free (ms->emitted);
  g_free (ms);
}

/**
 * mor_mel_stream_new:
 * @mel: the front end (outlives the stream)
 * @chunk_frames: frames a chunk (the encoder's 2·n_window, 200)
 * @max_samples: the longest utterance, at most MOR_MEL_MAX_SAMPLES; 0 for that
 * @error: return location for a #GError, or %NULL
 *
 * Allocates every buffer an utterance of @max_samples needs (for 300 s and 128
 * mels: 15 MiB of device memory, 15 MiB host-visible, 19 MiB for the samples).
 *
 * Returns: (transfer full): the stream, or %NULL with @error set
 */
MorMelStream *
mor_mel_stream_new (MorMel *mel, guint32 chunk_frames, guint64 max_samples, GError **error)
{
  g_return_val_if_fail (chunk_frames > 0, NULL);
  if (max_samples == 0 || max_samples > MOR_MEL_MAX_SAMPLES)
    max_samples = MOR_MEL_MAX_SAMPLES;
  g_autoptr (MorMelStream) ms = g_new0 (MorMelStream, 1);
  guint32 nm = mel->n_mels, B = chunk_frames;
  ms->mel = mel;
  ms->chunk_frames = B;
  ms->max_samples = max_samples;
  ms->max_chunks = MAX (1, (mor_mel_n_frames (max_samples) + B - 1) / B);
  ms->extra_stride = ((guint64) N_EXTRA * nm + mel->align - 1) / mel->align * mel->align;
  ms->chunk_stride = ((guint64) B * nm + mel->align - 1) / mel->align * mel->align;
  ms->samples = g_new (float, max_samples);
  ms->emitted = g_new (float, (gsize) ms->max_chunks * nm * B);
  guint64 blocks = (ms->extra_stride + ms->max_chunks * ms->chunk_stride) * 4;
  guint32 frames = MAX (B, N_EXTRA);
  if (!(ms->win = mor_vk_buffer_new (mel->dev, block_window_length (mel->lead, frames) * 4, MOR_VK_MEMORY_HOST,
                                     error)) ||
      !(ms->power = mor_vk_buffer_new (mel->dev, (guint64) (mel->lead + frames + 1) * N_BINS * 4,
                                       MOR_VK_MEMORY_DEVICE, error)) ||
      !(ms->raw = mor_vk_buffer_new (mel->dev, blocks, MOR_VK_MEMORY_DEVICE, error)) ||
      !(ms->norm = mor_vk_buffer_new (mel->dev, blocks, MOR_VK_MEMORY_HOST, error)) ||
      !(ms->gmax = mor_vk_buffer_new (mel->dev, 16, MOR_VK_MEMORY_DEVICE, error)) ||
      !(ms->st = mor_vk_stream_new (mel->dev, error)))
    return NULL;
  /* Zeros in every gap, once: nothing ever writes them. */
  mor_vk_stream_begin (ms->st);
  mor_vk_stream_fill (ms->st, mor_vk_view (ms->raw), 0);
  if (!mor_vk_stream_end (ms->st, error) || !mor_vk_stream_submit (ms->st, error))
    return NULL;
  return g_steal_pointer (&ms);
}

void
mor_mel_stream_reset (MorMelStream *ms)
{
  ms->n = 0;
  ms->n_computed = 0;
  ms->n_emitted = 0;
  ms->finished = FALSE;
  ms->n_frames = 0;
}

gboolean
mor_mel_stream_push (MorMelStream *ms, const float *samples, gsize n, GError **error)
{
  g_return_val_if_fail (!ms->finished, FALSE);
  g_return_val_if_fail (samples != NULL || n == 0, FALSE);
  for (gsize i = 0; i < n; i++)
    if (!isfinite (samples[i])) {
      g_set_error (error, MOR_MEL_ERROR, MOR_MEL_ERROR_INPUT,
                   "Sample %" G_GUINT64_FORMAT " of the utterance is %g; expected a finite number",
                   ms->n + i, samples[i]);
      return FALSE;
    }
  guint64 keep = MIN ((guint64) n, ms->max_samples - ms->n);
  if (keep > 0)
    memcpy (ms->samples + ms->n, samples, keep * 4);
  ms->n += keep;
  return TRUE;
}

guint64
mor_mel_stream_n_samples (MorMelStream *ms)
{
  return ms->n;
}

static guint64
chunk_offset (MorMelStream *ms, guint32 k)
{
  return ms->extra_stride + (guint64) k * ms->chunk_stride;
}

/* Records frames g0 .. g0+F-1 of the utterance as raw mel [n_mels, F] at
 * float offset @at of the raw buffer: stft_power over the block's window, mel
 * over the frames after the lead. */
static void
record_block (MorMelStream *ms, guint32 g0, guint32 F, guint64 at)
{
  MorMel *mel = ms->mel;
  guint64 len = block_window_length (mel->lead, F);
  block_window (ms->samples, ms->n, mel->lead, g0, F, ms->win->mapped);
  // torch.stft(center=True, pad_mode="reflect") → |X|²
  mor_op_stft_power (ms->st, mor_vk_view (ms->win), mor_vk_view (mel->window), mor_vk_view (mel->twiddles),
                     mor_vk_view (ms->power), (guint32) len, MOR_MEL_N_FFT, MOR_MEL_HOP);
  // mel_filters.T @ magnitudes
  MorVkView frames = mor_vk_view_sub (mor_vk_view (ms->power), (guint64) mel->lead * N_BINS * 4,
                                      (guint64) F * N_BINS * 4);
  mor_op_mel (ms->st, frames, mor_vk_view (mel->filters),
              mor_vk_view_sub (mor_vk_view (ms->raw), at * 4, (guint64) F * mel->n_mels * 4), F, N_BINS,
              mel->n_mels);
}

/* Records log10, clamp to max − 8 and (x + 4) / 4 over the first @n floats. */
static void
record_normalise (MorMelStream *ms, guint64 n)
{
  mor_op_log_mel_norm (ms->st, mor_vk_view_sub (mor_vk_view (ms->raw), 0, n * 4), mor_vk_view (ms->gmax),
                       mor_vk_view_sub (mor_vk_view (ms->norm), 0, n * 4), (guint32) n);
}

/* Computes the raw block of one chunk (one submit; the window buffer is reused). */
static gboolean
compute_chunk (MorMelStream *ms, guint32 k, guint32 F, GError **error)
{
  mor_vk_stream_begin (ms->st);
  record_block (ms, k * ms->chunk_frames, F, chunk_offset (ms, k));
  return mor_vk_stream_end (ms->st, error) && mor_vk_stream_submit (ms->st, error);
}

const float *
mor_mel_stream_next_chunk (MorMelStream *ms, guint32 *chunk, GError **error)
{
  g_return_val_if_fail (!ms->finished, NULL);
  guint32 k = ms->n_emitted, B = ms->chunk_frames, nm = ms->mel->n_mels;
  /* Its last frame reads samples up to (k+1)·B·hop − hop + n_fft/2. */
  guint64 need = (guint64) ((k + 1) * B - 1) * MOR_MEL_HOP + HALF;
  if (k >= ms->max_chunks || (guint64) (k + 1) * B > MOR_MEL_MAX_FRAMES || ms->n < need)
    return NULL;
  g_assert (ms->n_computed == k);
  mor_vk_stream_begin (ms->st);
  record_block (ms, k * B, B, chunk_offset (ms, k));
  /* the extra region holds zeros until finish (the previous utterance's may be there) */
  mor_vk_stream_fill (ms->st, mor_vk_view_sub (mor_vk_view (ms->raw), 0, ms->extra_stride * 4), 0);
  record_normalise (ms, chunk_offset (ms, k) + (guint64) B * nm);
  if (!mor_vk_stream_end (ms->st, error) || !mor_vk_stream_submit (ms->st, error))
    return NULL;
  float *out = ms->emitted + (gsize) k * nm * B;
  memcpy (out, (const float *) ms->norm->mapped + chunk_offset (ms, k), (gsize) nm * B * 4);
  ms->n_computed = ms->n_emitted = k + 1;
  if (chunk)
    *chunk = k;
  return out;
}

gboolean
mor_mel_stream_finish (MorMelStream *ms, GError **error)
{
  g_return_val_if_fail (!ms->finished, FALSE);
  guint32 B = ms->chunk_frames, nm = ms->mel->n_mels;
  guint32 L = mor_mel_n_frames (ms->n), n_chunks = (L + B - 1) / B;
  for (guint32 k = ms->n_computed; k < n_chunks; k++)
    if (!compute_chunk (ms, k, MIN (B, L - k * B), error))
      return FALSE;
  ms->n_computed = n_chunks;
  /* The frames past the end whose window may still overlap the audio: canvas
   * frames L and L + 1 (frame L always starts within n_fft/2 of the end; L+1
   * when L·hop < n + n_fft/2 - hop). Later frames are all zeros. The canvas
   * has MOR_MEL_MAX_FRAMES frames once the last is dropped. */
  guint32 n_extra = MIN (N_EXTRA, MOR_MEL_MAX_FRAMES - L);
  mor_vk_stream_begin (ms->st);
  mor_vk_stream_fill (ms->st, mor_vk_view_sub (mor_vk_view (ms->raw), 0, ms->extra_stride * 4), 0);
  if (n_extra > 0)
    record_block (ms, L, n_extra, 0);
  // log_spec.max() over the canvas; everything normalised with it
  guint64 used = n_chunks ? chunk_offset (ms, n_chunks - 1) + (guint64) (L - (n_chunks - 1) * B) * nm
                          : ms->extra_stride;
  record_normalise (ms, used);
  if (!mor_vk_stream_end (ms->st, error) || !mor_vk_stream_submit (ms->st, error))
    return FALSE;
  ms->n_frames = L;
  ms->finished = TRUE;
  return TRUE;
}

guint32
mor_mel_stream_n_frames (MorMelStream *ms)
{
  g_return_val_if_fail (ms->finished, 0);
  return ms->n_frames;
}

guint32
mor_mel_stream_n_chunks (MorMelStream *ms)
{
  g_return_val_if_fail (ms->finished, 0);
  return (ms->n_frames + ms->chunk_frames - 1) / ms->chunk_frames;
}

const float *
mor_mel_stream_get_chunk (MorMelStream *ms, guint32 k, guint32 *n_frames)
{
  g_return_val_if_fail (ms->finished && k < mor_mel_stream_n_chunks (ms), NULL);
  if (n_frames)
    *n_frames = MIN (ms->chunk_frames, ms->n_frames - k * ms->chunk_frames);
  return (const float *) ms->norm->mapped + chunk_offset (ms, k);
}

gboolean
mor_mel_stream_chunk_revised (MorMelStream *ms, guint32 k)
{
  g_return_val_if_fail (ms->finished, FALSE);
  if (k >= ms->n_emitted)
    return FALSE;
  gsize size = (gsize) ms->mel->n_mels * ms->chunk_frames * 4;
  return memcmp (ms->emitted + size / 4 * k, mor_mel_stream_get_chunk (ms, k, NULL), size) != 0;
}

/* ---- whole utterances ---- */

/* Chunks [n_mels, len] into out [n_mels, L]. */
static void
gather_chunk (const float *chunk, guint32 n_mels, guint32 len, guint32 t0, guint32 L, float *out)
{
  for (guint32 m = 0; m < n_mels; m++)
    memcpy (out + (gsize) m * L + t0, chunk + (gsize) m * len, (gsize) len * 4);
}

/**
 * mor_mel_compute:
 * @mel: the front end
 * @samples: (array length=n): 16 kHz mono, [-1, 1] full scale
 * @n: samples
 * @out: (out caller-allocates): [n_mels, mor_mel_n_frames (n)] floats
 * @error: return location for a #GError, or %NULL
 *
 * The processor's log-mel features of one utterance (frames 0 ..
 * mor_mel_n_frames (n) − 1); an empty utterance gives none. Errors: a sample
 * that is not finite (MOR_MEL_ERROR_INPUT), a device error.
 */
gboolean
mor_mel_compute (MorMel *mel, const float *samples, guint64 n, float *out, GError **error)
{
  n = MIN (n, MOR_MEL_MAX_SAMPLES);
  g_autoptr (MorMelStream) ms = mor_mel_stream_new (mel, 200, MAX (n, 1), error);
  if (!ms || !mor_mel_stream_push (ms, samples, n, error) || !mor_mel_stream_finish (ms, error))
    return FALSE;
  guint32 L = ms->n_frames;
  for (guint32 k = 0; k < mor_mel_stream_n_chunks (ms); k++) {
    guint32 len;
    const float *c = mor_mel_stream_get_chunk (ms, k, &len);
    gather_chunk (c, mel->n_mels, len, k * ms->chunk_frames, L, out);
  }
  return TRUE;
}

/* The same blocks as a stream with chunks of 200 frames and the same ops:
 * raw blocks in one array [extra | chunk 0 | …] (without gaps: there the
 * device's zeros change nothing), one normalisation over all of it. */
void
mor_mel_reference (guint32 n_mels, const float *samples, guint64 n, float *out)
{
  const guint32 B = 200, lead = 2;
  n = MIN (n, MOR_MEL_MAX_SAMPLES);
  guint32 L = mor_mel_n_frames (n), n_extra = MIN (N_EXTRA, MOR_MEL_MAX_FRAMES - L);
  float window[MOR_MEL_N_FFT];
  mor_hann_window (window, MOR_MEL_N_FFT);
  g_autofree float *filters = g_new (float, (gsize) n_mels * N_BINS);
  mor_mel_filter_bank (filters, N_BINS, n_mels, 0.0, MOR_MEL_SAMPLE_RATE / 2, MOR_MEL_SAMPLE_RATE);
  g_autofree float *win = g_new (float, block_window_length (lead, B));
  g_autofree float *power = g_new (float, (gsize) (lead + B + 1) * N_BINS);
  gsize n_raw = (gsize) (n_extra + L) * n_mels;
  g_autofree float *raw = g_new (float, MAX (n_raw, 1)), *norm = g_new (float, MAX (n_raw, 1));

  /* blocks: the extra frames first, then the chunks */
  for (guint32 b = 0; b <= (L + B - 1) / B; b++) {
    guint32 g0 = b == 0 ? L : (b - 1) * B, F = b == 0 ? n_extra : MIN (B, L - g0);
    float *y = b == 0 ? raw : raw + (gsize) (n_extra + g0) * n_mels;
    if (F == 0)
      continue;
    guint64 len = block_window_length (lead, F);
    block_window (samples, n, lead, g0, F, win);
    mor_ref_stft_power (win, window, power, (guint32) len, MOR_MEL_N_FFT, MOR_MEL_HOP);
    mor_ref_mel (power + (gsize) lead * N_BINS, filters, y, F, N_BINS, n_mels);
  }
  if (n_raw == 0)
    return;
  mor_ref_log_mel_norm (raw, norm, (guint32) n_raw);
  for (guint32 k = 0; k * B < L; k++) {
    guint32 len = MIN (B, L - k * B);
    gather_chunk (norm + (gsize) (n_extra + k * B) * n_mels, n_mels, len, k * B, L, out);
  }
}
