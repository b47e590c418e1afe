/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Token2wav streaming: codes → speech in Qwen's block scheme (see token2wav.h). */
#include "token2wav.h"

#include <string.h>

G_DEFINE_QUARK (mor-token2wav-error-quark, mor_token2wav_error)

/* The longest DiT window (past, chunk, future) and vocoder window (2 overlaps, chunk), in frames. */
#define DIT_WINDOW (MOR_TOKEN2WAV_PAST + MOR_TOKEN2WAV_CHUNK + MOR_TOKEN2WAV_FUTURE)
#define VOCODER_WINDOW (2 * MOR_TOKEN2WAV_VOCODER_OVERLAP + MOR_TOKEN2WAV_CHUNK)

struct _MorToken2Wav {
  MorDit *dit;
  MorBigvgan *bigvgan;
  guint32 repeats, mel_dim;
  GMutex lock;                   /* guards speakers */
  GHashTable *speakers;          /* name ("" for the default) → MorDitSpeaker */
};

struct _MorToken2WavSession {
  MorToken2Wav *t;
  guint32 max_codes;
  MorDitSession *dit;            /* windows of DIT_WINDOW frames */
  MorBigvganSession *vocoder;    /* windows of VOCODER_WINDOW frames */
  MorDitSession *dit_whole;      /* made for the first whole answer, grown as needed */
  MorBigvganSession *vocoder_whole;
  guint32 whole_codes;           /* what the whole-answer sessions hold */

  /* the answer */
  MorToken2WavParams p;
  const MorDitSpeaker *spk;
  guint32 *codes;                /* [max_codes] */
  guint32 n_codes;
  gboolean ended, done;
  guint32 chunk;                 /* the next chunk */
  float *noise;                  /* [repeats·max_codes, mel_dim], frame after frame */
  float *mel;                    /* [mel_dim, repeats·max_codes], channels first: what was made */
  guint32 n_mel;                 /* frames of mel made */
  float *window;                 /* [mel_dim, frames] the DiT's latest window */
};

MorToken2Wav *
mor_token2wav_load (MorVkDevice *dev, MorGguf *gguf, GError **error)
{
  g_autoptr (MorDit) dit = mor_dit_load (dev, gguf, error);
  g_autoptr (MorBigvgan) bigvgan = dit ? mor_bigvgan_load (dev, gguf, error) : NULL;
  if (!bigvgan)
    return NULL;
  const MorDitConfig *dc = mor_dit_get_config (dit);
  if (dc->mel_dim != mor_bigvgan_get_config (bigvgan)->mel_dim) {
    g_set_error (error, MOR_TOKEN2WAV_ERROR, MOR_TOKEN2WAV_ERROR_FAILED, "The DiT makes %u mel bands; BigVGAN "
                 "reads %u", dc->mel_dim, mor_bigvgan_get_config (bigvgan)->mel_dim);
    return NULL;
  }
  if (MOR_TOKEN2WAV_PAST % dc->block_size || MOR_TOKEN2WAV_CHUNK % dc->block_size ||
      MOR_TOKEN2WAV_CHUNK % dc->repeats || MOR_TOKEN2WAV_PAST % dc->repeats || MOR_TOKEN2WAV_FUTURE % dc->repeats) {
    g_set_error (error, MOR_TOKEN2WAV_ERROR, MOR_TOKEN2WAV_ERROR_FAILED, "The DiT's attention blocks of %u "
                 "frames and %u frames a code do not fit the streaming chunks of %d frames", dc->block_size,
                 dc->repeats, MOR_TOKEN2WAV_CHUNK);
    return NULL;
  }
  MorToken2Wav *t = g_new0 (MorToken2Wav, 1);
  t->dit = g_steal_pointer (&dit);
  t->bigvgan = g_steal_pointer (&bigvgan);
  t->repeats = dc->repeats;
  t->mel_dim = dc->mel_dim;
  g_mutex_init (&t->lock);
  t->speakers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) mor_dit_speaker_free);
  return t;
}

void
mor_token2wav_free (MorToken2Wav *t)
{
  if (!t)
    return;
  g_hash_table_unref (t->speakers);
  g_mutex_clear (&t->lock);
  mor_bigvgan_free (t->bigvgan);
  mor_dit_free (t->dit);
  g_free (t);
}

MorDit *
mor_token2wav_get_dit (MorToken2Wav *t)
{
  return t->dit;
}

MorBigvgan *
mor_token2wav_get_bigvgan (MorToken2Wav *t)
{
  return t->bigvgan;
}

guint32
mor_token2wav_sample_rate (MorToken2Wav *t)
{
  return mor_bigvgan_get_config (t->bigvgan)->sample_rate;
}

guint32
mor_token2wav_samples_per_code (MorToken2Wav *t)
{
  return t->repeats * mor_bigvgan_get_config (t->bigvgan)->hop;
}

/* The speaker @name (NULL: the default), its ECAPA vectors computed on first use. */
static const MorDitSpeaker *
speaker (MorToken2Wav *t, const char *name, GError **error)
{
  const char *key = name ? name : "";
  g_mutex_lock (&t->lock);
  MorDitSpeaker *spk = g_hash_table_lookup (t->speakers, key);
  if (!spk && (spk = mor_dit_speaker_load (t->dit, name, error)))
    g_hash_table_insert (t->speakers, g_strdup (key), spk);
  g_mutex_unlock (&t->lock);
  return spk;
}

MorToken2WavSession *
mor_token2wav_session_new (MorToken2Wav *t, guint32 max_codes, GError **error)
{
  g_return_val_if_fail (max_codes > 0, NULL);
  g_autoptr (MorDitSession) dit = mor_dit_session_new (t->dit, DIT_WINDOW / t->repeats, error);
  g_autoptr (MorBigvganSession) vocoder = dit ? mor_bigvgan_session_new (t->bigvgan, VOCODER_WINDOW, error) : NULL;
  if (!vocoder)
    return NULL;
  MorToken2WavSession *s = g_new0 (MorToken2WavSession, 1);
  gsize frames = (gsize) t->repeats * max_codes;
  s->t = t;
  s->max_codes = max_codes;
  s->dit = g_steal_pointer (&dit);
  s->vocoder = g_steal_pointer (&vocoder);
  s->codes = g_new (guint32, max_codes);
  s->noise = g_new (float, frames * t->mel_dim);
  s->mel = g_new (float, frames * t->mel_dim);
  s->window = g_new (float, (gsize) MAX (DIT_WINDOW, frames) * t->mel_dim);
  s->done = TRUE;
  return s;
}

void
mor_token2wav_session_free (MorToken2WavSession *s)
{
  if (!s)
    return;
  g_clear_pointer (&s->vocoder_whole, mor_bigvgan_session_free);
  g_clear_pointer (&s->dit_whole, mor_dit_session_free);
  mor_bigvgan_session_free (s->vocoder);
  mor_dit_session_free (s->dit);
  g_free (s->codes);
  g_free (s->noise);
  g_free (s->mel);
  g_free (s->window);
  g_free (s);
}

gboolean
mor_token2wav_session_begin (MorToken2WavSession *s, const char *name, const MorToken2WavParams *params,
                             GError **error)
{
  const MorDitSpeaker *spk = speaker (s->t, name, error);
  if (!spk)
    return FALSE;
  s->spk = spk;
  s->p = *params;
  s->n_codes = s->chunk = s->n_mel = 0;
  s->ended = s->done = FALSE;
  /* transformers: randn([1, 30000, mel])[:, :2n], the same values whatever n. */
  mor_dit_noise (params->seed, s->noise, (gsize) s->t->repeats * s->max_codes * s->t->mel_dim);
  mor_bigvgan_session_stream_reset (s->vocoder, MOR_TOKEN2WAV_VOCODER_OVERLAP);
  return TRUE;
}

gboolean
mor_token2wav_session_push (MorToken2WavSession *s, const gint32 *codes, guint32 n, GError **error)
{
  g_return_val_if_fail (!s->ended, FALSE);
  guint32 num_embeds = mor_dit_get_config (s->t->dit)->num_embeds;
  if (n > s->max_codes - s->n_codes) {
    g_set_error (error, MOR_TOKEN2WAV_ERROR, MOR_TOKEN2WAV_ERROR_LENGTH, "The answer has more than the %u codes "
                 "the session was made for", s->max_codes);
    return FALSE;
  }
  for (guint32 i = 0; i < n; i++)
    if (codes[i] < 0 || (guint32) codes[i] > num_embeds) {
      g_set_error (error, MOR_DIT_ERROR, MOR_DIT_ERROR_INPUT, "Code %d has no row in the DiT's codec embedding "
                   "(codes 0 … %u)", codes[i], num_embeds);
      return FALSE;
    }
  for (guint32 i = 0; i < n; i++)
    s->codes[s->n_codes++] = codes[i];
  return TRUE;
}

void
mor_token2wav_session_end (MorToken2WavSession *s)
{
  s->ended = TRUE;
}

gboolean
mor_token2wav_session_is_done (MorToken2WavSession *s)
{
  return s->done;
}

/* Copies @n frames of the packed window [mel_dim, @stride] from frame @from
 * into the answer's mel at frame @to. */
static void
keep_frames (MorToken2WavSession *s, guint32 stride, guint32 from, guint32 to, guint32 n)
{
  gsize frames = (gsize) s->t->repeats * s->max_codes;
  for (guint32 m = 0; m < s->t->mel_dim; m++)
    memcpy (s->mel + m * frames + to, s->window + (gsize) m * stride + from, n * sizeof (float));
  s->n_mel = MAX (s->n_mel, to + n);
}

/* The whole answer at once, exactly transformers' token2wav. */
static const float *
pull_whole (MorToken2WavSession *s, guint64 *n_samples, GError **error)
{
  guint32 frames = s->t->repeats * s->n_codes;
  if (s->n_codes > s->whole_codes) {
    g_clear_pointer (&s->vocoder_whole, mor_bigvgan_session_free);
    g_clear_pointer (&s->dit_whole, mor_dit_session_free);
    if (!(s->dit_whole = mor_dit_session_new (s->t->dit, s->n_codes, error)) ||
        !(s->vocoder_whole = mor_bigvgan_session_new (s->t->bigvgan, frames, error)))
      return NULL;
    s->whole_codes = s->n_codes;
  }
  if (!mor_dit_session_sample (s->dit_whole, s->spk, s->codes, s->n_codes, s->noise, &s->p.dit, s->window, error))
    return NULL;
  keep_frames (s, frames, 0, 0, frames);
  const float *samples = mor_bigvgan_session_vocode (s->vocoder_whole, s->window, frames, frames, error);
  if (!samples)
    return NULL;
  s->done = TRUE;
  *n_samples = (guint64) frames * mor_bigvgan_get_config (s->t->bigvgan)->hop;
  return samples;
}

/* The next chunk (§6c): the DiT on [C·i − past, C·(i+1) + future) of the noise,
 * the chunk's frames kept and streamed through the vocoder. */
static const float *
pull_chunk (MorToken2WavSession *s, guint64 *n_samples, GError **error)
{
  const guint32 C = MOR_TOKEN2WAV_CHUNK, r = s->t->repeats;
  guint32 total = r * s->n_codes, start = C * s->chunk, need = start + C + MOR_TOKEN2WAV_FUTURE;
  if (!s->ended && total < need)
    return s->window;  /* waits for codes; *n_samples is 0 */
  guint32 a = start > MOR_TOKEN2WAV_PAST ? start - MOR_TOKEN2WAV_PAST : 0, b = MIN (need, total);
  gboolean last = s->ended && start + C >= total;
  if (!mor_dit_session_sample (s->dit, s->spk, s->codes + a / r, (b - a) / r, s->noise + (gsize) a * s->t->mel_dim,
                               &s->p.dit, s->window, error))
    return NULL;
  guint32 kept = MIN (start + C, total) - start;
  keep_frames (s, b - a, start - a, start, kept);
  gsize frames = (gsize) r * s->max_codes;
  const float *samples = mor_bigvgan_session_stream_push (s->vocoder, s->mel + start, kept, frames, last,
                                                          n_samples, error);
  if (!samples)
    return NULL;
  s->chunk++;
  s->done = last;
  return samples;
}

const float *
mor_token2wav_session_pull (MorToken2WavSession *s, guint64 *n_samples, GError **error)
{
  *n_samples = 0;
  if (s->done)
    return s->window;
  if (s->ended && s->n_codes == 0) {
    s->done = TRUE;
    return s->window;
  }
  if (s->p.whole)
    return s->ended ? pull_whole (s, n_samples, error) : s->window;
  return pull_chunk (s, n_samples, error);
}

float *
mor_token2wav_session_dup_mel (MorToken2WavSession *s, guint32 *n_frames)
{
  gsize frames = (gsize) s->t->repeats * s->max_codes;
  float *out = g_new (float, MAX ((gsize) s->n_mel * s->t->mel_dim, 1));
  for (guint32 m = 0; m < s->t->mel_dim; m++)
    memcpy (out + (gsize) m * s->n_mel, s->mel + m * frames, s->n_mel * sizeof (float));
  *n_frames = s->n_mel;
  return out;
}
