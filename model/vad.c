/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The energy-based voice activity detector: 10-ms frame energies, a
 * three-state machine (silence → candidate burst → utterance), exact sample
 * positions. See vad.h for the rules. */
#include "vad.h"

#include <math.h>

G_DEFINE_QUARK (mor-vad-error-quark, mor_vad_error)

#define ENERGY_FLOOR 1e-12      /* mean(x²) of digital silence becomes −120 dBFS, not −inf */

typedef enum {
  STATE_SILENCE,
  STATE_CANDIDATE,              /* loud frames, fewer than min_frames so far */
  STATE_SPEECH,                 /* a start was reported */
} State;

struct _MorVad {
  MorVadParams params;
  guint min_frames;             /* frames: ceil(min_speech_ms / 10), ≥ 1 */
  guint silence_frames;         /* frames: ceil(silence_ms / 10), ≥ 1 */
  guint64 max_samples;          /* samples: round(max_utterance_s · 16000) */
  guint64 pre_roll;             /* samples: pre_roll_ms · 16 */

  guint64 pos;                  /* samples pushed since the last reset */
  guint frame_n;                /* samples in the current frame, < MOR_VAD_FRAME */
  double frame_sumsq;           /* Σ x² over them, non-finite samples left out */

  State state;
  guint64 cand_start;           /* first sample of the first loud frame of the burst */
  guint cand_frames;            /* loud frames in the burst */
  guint64 utt_start;            /* first sample of the open utterance */
  guint64 last_loud_end;        /* one past the last loud frame of the open utterance */
  guint quiet_frames;           /* consecutive quiet frames since */
  guint64 prev_end;             /* end of the previous utterance: a pre-roll stops there */
};

gboolean
mor_vad_params_validate (const MorVadParams *p, GError **error)
{
  g_return_val_if_fail (p != NULL, FALSE);

  if (!isfinite (p->threshold_db) || p->threshold_db < -120.0 || p->threshold_db > 0.0) {
    g_set_error (error, MOR_VAD_ERROR, MOR_VAD_ERROR_PARAMS,
        "VAD threshold_db: expected a number of dBFS in [-120, 0], found %g", p->threshold_db);
    return FALSE;
  }
  if (p->silence_ms < 10) {
    g_set_error (error, MOR_VAD_ERROR, MOR_VAD_ERROR_PARAMS,
        "VAD silence_ms: expected at least 10 (one frame), found %u", p->silence_ms);
    return FALSE;
  }
  if (!isfinite (p->max_utterance_s) || p->max_utterance_s <= 0.0 || p->max_utterance_s > 86400.0) {
    g_set_error (error, MOR_VAD_ERROR, MOR_VAD_ERROR_PARAMS,
        "VAD max_utterance_s: expected seconds in (0, 86400], found %g", p->max_utterance_s);
    return FALSE;
  }
  /* The shortest utterance is its pre-roll plus min-speech; the cut must come
   * at least one frame later, or every utterance would be cut at its start. */
  guint64 min_frames = MAX (1, ((guint64) p->min_speech_ms + 9) / 10);
  guint64 need = (guint64) p->pre_roll_ms * 16 + (min_frames + 1) * MOR_VAD_FRAME;
  guint64 max_samples = (guint64) llround (p->max_utterance_s * MOR_VAD_SAMPLE_RATE);
  if (max_samples < need) {
    g_set_error (error, MOR_VAD_ERROR, MOR_VAD_ERROR_PARAMS,
        "VAD max_utterance_s: expected at least pre_roll_ms + min_speech_ms + 10 ms = %g s, found %g s",
        (double) need / MOR_VAD_SAMPLE_RATE, p->max_utterance_s);
    return FALSE;
  }
  return TRUE;
}

MorVad *
mor_vad_new (const MorVadParams *params, GError **error)
{
  g_return_val_if_fail (params != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!mor_vad_params_validate (params, error))
    return NULL;

  MorVad *vad = g_new0 (MorVad, 1);
  vad->params = *params;
  vad->min_frames = MAX (1, (params->min_speech_ms + 9) / 10);
  vad->silence_frames = (params->silence_ms + 9) / 10;
  vad->max_samples = (guint64) llround (params->max_utterance_s * MOR_VAD_SAMPLE_RATE);
  vad->pre_roll = (guint64) params->pre_roll_ms * (MOR_VAD_SAMPLE_RATE / 1000);
  mor_vad_reset (vad);
  return vad;
}

void
mor_vad_free (MorVad *vad)
{
  g_free (vad);
}

void
mor_vad_reset (MorVad *vad)
{
  g_return_if_fail (vad != NULL);

  vad->pos = 0;
  vad->frame_n = 0;
  vad->frame_sumsq = 0.0;
  vad->state = STATE_SILENCE;
  vad->cand_start = vad->cand_frames = 0;
  vad->utt_start = vad->last_loud_end = 0;
  vad->quiet_frames = 0;
  vad->prev_end = 0;
}

guint64
mor_vad_get_position (MorVad *vad)
{
  g_return_val_if_fail (vad != NULL, 0);
  return vad->pos;
}

gboolean
mor_vad_in_utterance (MorVad *vad)
{
  g_return_val_if_fail (vad != NULL, FALSE);
  return vad->state == STATE_SPEECH;
}

static MorVadEvent
event (MorVadEventType type, MorVadEndReason reason, guint64 sample, guint64 decided_at)
{
  return (MorVadEvent) { .type = type, .reason = reason, .sample = sample, .decided_at = decided_at };
}

/* Ends the open utterance at its last loud frame. */
static MorVadEvent
end_utterance (MorVad *vad, MorVadEndReason reason, guint64 decided_at)
{
  vad->state = STATE_SILENCE;
  vad->prev_end = vad->last_loud_end;
  return event (MOR_VAD_EVENT_END, reason, vad->last_loud_end, decided_at);
}

/* One frame, samples [@f0, @f1), through the state machine; writes at most
 * MOR_VAD_MAX_EVENTS_PER_FRAME events to @ev. */
static guint
step (MorVad *vad, guint64 f0, guint64 f1, double mean_sq, MorVadEvent *ev)
{
  /* energy = 10·log10(mean(x²) + floor) dBFS */
  gboolean loud = 10.0 * log10 (mean_sq + ENERGY_FLOOR) > vad->params.threshold_db;
  guint k = 0;

  switch (vad->state) {
    case STATE_SILENCE:
      if (!loud)
        break;
      vad->state = STATE_CANDIDATE;
      vad->cand_start = f0;
      vad->cand_frames = 0;
      /* fall through */
    case STATE_CANDIDATE:
      if (!loud) {
        vad->state = STATE_SILENCE;     /* a burst shorter than min-speech */
        break;
      }
      if (++vad->cand_frames < vad->min_frames)
        break;
      {
        /* start = first loud frame − pre-roll, not before 0 or the previous end */
        guint64 start = vad->cand_start > vad->pre_roll ? vad->cand_start - vad->pre_roll : 0;
        start = MAX (start, vad->prev_end);
        vad->state = STATE_SPEECH;
        vad->utt_start = start;
        vad->last_loud_end = f1;
        vad->quiet_frames = 0;
        ev[k++] = event (MOR_VAD_EVENT_START, MOR_VAD_END_NONE, start, f1);
      }
      break;
    case STATE_SPEECH:
      if (loud) {
        vad->last_loud_end = f1;
        vad->quiet_frames = 0;
      } else if (++vad->quiet_frames >= vad->silence_frames) {
        ev[k++] = end_utterance (vad, MOR_VAD_END_SILENCE, f1);
        break;
      }
      /* Cut before one more frame would pass the maximum length. */
      if (f1 + MOR_VAD_FRAME - vad->utt_start > vad->max_samples)
        ev[k++] = end_utterance (vad, MOR_VAD_END_MAX_LENGTH, f1);
      break;
  }
  return k;
}

guint
mor_vad_push (MorVad *vad, const float *x, gsize n, gsize *n_consumed,
    MorVadEvent *events, guint max_events)
{
  g_return_val_if_fail (vad != NULL, 0);
  g_return_val_if_fail (x != NULL || n == 0, 0);
  g_return_val_if_fail (n_consumed != NULL, 0);
  g_return_val_if_fail (events != NULL, 0);
  g_return_val_if_fail (max_events >= MOR_VAD_MAX_EVENTS_PER_FRAME, 0);

  guint k = 0;
  gsize i = 0;
  while (i < n) {
    float s = x[i++];
    if (isfinite (s))                   /* NaN and ±inf count as silence */
      vad->frame_sumsq += (double) s * s;
    vad->pos++;
    if (++vad->frame_n < MOR_VAD_FRAME)
      continue;
    k += step (vad, vad->pos - MOR_VAD_FRAME, vad->pos, vad->frame_sumsq / MOR_VAD_FRAME, events + k);
    vad->frame_n = 0;
    vad->frame_sumsq = 0.0;
    if (max_events - k < MOR_VAD_MAX_EVENTS_PER_FRAME)
      break;
  }
  *n_consumed = i;
  return k;
}

guint
mor_vad_flush (MorVad *vad, MorVadEvent *events, guint max_events)
{
  g_return_val_if_fail (vad != NULL, 0);
  g_return_val_if_fail (events != NULL, 0);
  g_return_val_if_fail (max_events >= MOR_VAD_MAX_EVENTS_PER_FRAME, 0);

  guint k = 0;
  if (vad->frame_n > 0)
    k += step (vad, vad->pos - vad->frame_n, vad->pos, vad->frame_sumsq / vad->frame_n, events);
  /* step wrote at most one event if it ended the utterance, so there is room */
  if (vad->state == STATE_SPEECH)
    events[k++] = end_utterance (vad, MOR_VAD_END_FLUSH, vad->pos);
  mor_vad_reset (vad);
  return k;
}
