/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An energy-based voice activity detector for 16 kHz mono audio: the
 * endpointing morencoder drives (issue 5). Pure C, no device, deterministic.
 *
 * The signal is cut into 10-ms frames of 160 samples, counted from the first
 * sample after mor_vad_new(), mor_vad_reset() or mor_vad_flush(). A frame is
 * loud when its energy 10·log10(mean(x²) + 1e-12) dBFS exceeds threshold_db.
 *
 *  - An utterance starts after min_speech_ms of consecutive loud frames; its
 *    start is the first of those frames less pre_roll_ms, but never before
 *    sample 0 nor before the end of the previous utterance. A shorter burst
 *    is dropped.
 *  - It ends after silence_ms of consecutive quiet frames (MOR_VAD_END_SILENCE),
 *    or when one more frame would make it longer than max_utterance_s
 *    (MOR_VAD_END_MAX_LENGTH), or at mor_vad_flush() (MOR_VAD_END_FLUSH).
 *    Speech that goes on past a cut opens the next utterance as usual
 *    (min-speech, pre-roll); it starts at the cut at the earliest, so
 *    speech without a pause becomes back-to-back utterances.
 *  - An end's sample is always the end of the last loud frame of the
 *    utterance: the trailing silence is not part of it.
 *  - A sample that is NaN or infinite is ignored: it counts as 0 (silence).
 *    Broken upstream data must not open utterances by itself.
 *
 * Positions are sample indices (guint64) from the first sample pushed. Each
 * event also says at which position it was decided (@decided_at ≥ @sample):
 * an element has to hold back at least pre_roll_ms + min_speech_ms of audio
 * to place a start before the samples it belongs to.
 *
 * Phases:
 *  1. MorVadParams p = MOR_VAD_PARAMS_DEFAULT; change fields; mor_vad_new().
 *  2. mor_vad_push() samples in pieces of any size; it consumes as many as it
 *     can report events for (all of them unless @max_events fills up) and
 *     returns the events. Call again with the rest.
 *  3. mor_vad_flush() at the end of the stream ends an open utterance, or
 *     mor_vad_reset() to forget it; both bring back position 0.
 *  4. mor_vad_free().
 *
 * No allocation after mor_vad_new(): the frame energy is a running sum.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define MOR_VAD_SAMPLE_RATE 16000
#define MOR_VAD_FRAME 160          /* samples: 10 ms */
#define MOR_VAD_MAX_EVENTS_PER_FRAME 2 /* a max-length cut: end + start */

#define MOR_VAD_ERROR (mor_vad_error_quark ())
GQuark mor_vad_error_quark (void);

typedef enum {
  MOR_VAD_ERROR_FAILED,
  MOR_VAD_ERROR_PARAMS,         /* a parameter out of range or parameters that contradict each other */
} MorVadError;

typedef struct {
  double threshold_db;          /* dBFS, finite, [-120, 0]: a frame above is loud (default -40) */
  guint min_speech_ms;          /* ms of consecutive loud frames that make an utterance (default 100) */
  guint silence_ms;             /* ms of consecutive quiet frames that end it, ≥ 10 (default 600) */
  double max_utterance_s;       /* s, the longest utterance; longer ones are cut (default 30) */
  guint pre_roll_ms;            /* ms of audio before the first loud frame that belong to the utterance (default 200) */
} MorVadParams;

#define MOR_VAD_PARAMS_DEFAULT ((MorVadParams) { \
    .threshold_db = -40.0, .min_speech_ms = 100, .silence_ms = 600, \
    .max_utterance_s = 30.0, .pre_roll_ms = 200 })

typedef enum {
  MOR_VAD_EVENT_START,
  MOR_VAD_EVENT_END,
} MorVadEventType;

typedef enum {
  MOR_VAD_END_NONE,             /* a start */
  MOR_VAD_END_SILENCE,
  MOR_VAD_END_MAX_LENGTH,
  MOR_VAD_END_FLUSH,
} MorVadEndReason;

typedef struct {
  MorVadEventType type;
  MorVadEndReason reason;       /* MOR_VAD_END_NONE for a start */
  guint64 sample;               /* start: first sample of the utterance (pre-roll included);
                                 * end: one past its last loud frame */
  guint64 decided_at;           /* samples pushed when the event was decided */
} MorVadEvent;

typedef struct _MorVad MorVad;

/**
 * mor_vad_new:
 * @params: the parameters (copied)
 * @error: return location for a #GError, or %NULL
 *
 * Parameters come from element properties and command-line flags, and some
 * limits are relations between fields (an utterance must be able to hold its
 * pre-roll and minimum speech), so a bad value is a MOR_VAD_ERROR_PARAMS, not
 * a programmer error. A NULL @params is one.
 *
 * Returns: (transfer full): a detector at position 0, or %NULL with @error set.
 */
MorVad *mor_vad_new (const MorVadParams *params, GError **error);
void mor_vad_free (MorVad *vad);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MorVad, mor_vad_free)

/* Checks @params as mor_vad_new() does. */
gboolean mor_vad_params_validate (const MorVadParams *params, GError **error);

/**
 * mor_vad_push:
 * @x: (array length=n): samples, full scale ±1
 * @n: how many
 * @n_consumed: (out): how many of @x were taken (all of them unless @events filled up)
 * @events: (out caller-allocates) (array length=max_events): the events, in order
 * @max_events: room in @events, at least MOR_VAD_MAX_EVENTS_PER_FRAME
 *
 * Feeds samples. Pushing the same signal in pieces of any size gives the same
 * events. The push stops after the frame that leaves less than
 * MOR_VAD_MAX_EVENTS_PER_FRAME room; push the rest again.
 *
 * Returns: the number of events written.
 */
guint mor_vad_push (MorVad *vad, const float *x, gsize n, gsize *n_consumed,
    MorVadEvent *events, guint max_events);

/**
 * mor_vad_flush:
 * @events: (out caller-allocates) (array length=max_events)
 * @max_events: at least MOR_VAD_MAX_EVENTS_PER_FRAME
 *
 * The end of the stream: the partial frame counts as a frame (its mean over
 * the samples it has), an utterance still open ends (MOR_VAD_END_FLUSH at its
 * last loud frame; a burst shorter than min-speech is dropped), and the
 * detector is as new, at position 0.
 *
 * Returns: the number of events written (0, 1, or 2 when the partial frame
 * completes a minimum-speech burst: start then end).
 */
guint mor_vad_flush (MorVad *vad, MorVadEvent *events, guint max_events);

/* Forgets everything without events: position 0, no utterance. */
void mor_vad_reset (MorVad *vad);

/* Samples pushed since the last reset or flush. */
guint64 mor_vad_get_position (MorVad *vad);

/* Whether an utterance is open (a start was reported and no end yet). */
gboolean mor_vad_in_utterance (MorVad *vad);

G_END_DECLS
