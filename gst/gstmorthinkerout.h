/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The output side of morthinker: its two src pads (response, reasoning) as
 * the worker drives them (docs/elements.md, morthinker).
 *
 * Per pad: the caps it negotiated (token records or text), its position in
 * the output segment and the GAP events up to the current step, and, for text
 * caps, the text mode's pending text with the MorTokenMeta of each buffer.
 * Across pads: stream-start, the output segment, the answer's clock (a step
 * lasts at least GST_MOR_THINKER_STEP; when upstream is live, at least until
 * the running time), the timeline (the latest time seen, input or output), the
 * flow combiner whose verdict the sink reads, and the pads' upstream events
 * and queries (a SEEK goes upstream once per seqnum; LATENCY adds the
 * element's latency when upstream is live).
 *
 * Threads: the worker thread only, except gst_mor_thinker_out_get_flow() and
 * gst_mor_thinker_out_set_latency() (any thread) and
 * gst_mor_thinker_out_reset_flow() (any thread while the worker is idle). */
#pragma once

#include <gst/gst.h>

#include "gstmorthinker.h"
#include "interleave.h"
#include "prompt.h"

G_BEGIN_DECLS

/* Nominal time of one step (one token of either stream): output timestamps
 * advance by at least this much a step (docs/elements.md, Timestamps). */
#define GST_MOR_THINKER_STEP (40 * GST_MSECOND)

typedef struct _GstMorThinkerOut GstMorThinkerOut;

/**
 * gst_mor_thinker_out_new:
 * @element: the morthinker; outlives the output
 * @sinkpad: its sink pad, where SEEK and LATENCY go upstream
 * @templates: (array fixed-size=2): the response and reasoning src pad templates
 * @query: the element's function for the src pads' queries other than LATENCY
 *
 * Makes the two src pads (fixed caps) and adds them to @element.
 * Returns: (transfer full): the output, to be started by gst_mor_thinker_out_start().
 */
GstMorThinkerOut *gst_mor_thinker_out_new (GstElement *element, GstPad *sinkpad, GstStaticPadTemplate **templates,
                                           GstPadQueryFunction query);
void gst_mor_thinker_out_free (GstMorThinkerOut *out);

/* READY→PAUSED: a fresh output for a thinker of hidden size @dim whose tokens
 * @tok decodes: no stream-start sent yet, a TIME segment from 0, flow OK. */
void gst_mor_thinker_out_start (GstMorThinkerOut *out, MorTokenizer *tok, guint32 dim);
/* PAUSED→READY, once the worker has stopped: drops the decoders. */
void gst_mor_thinker_out_stop (GstMorThinkerOut *out);

/* The flow of the latest push, combined over both pads: NOT_LINKED only when
 * both pads are, EOS only when both are, errors and FLUSHING at once. */
GstFlowReturn gst_mor_thinker_out_get_flow (GstMorThinkerOut *out);
/* FLUSH_STOP: the flow is OK again and the combiner forgets the pads' flows. */
void gst_mor_thinker_out_reset_flow (GstMorThinkerOut *out);
/* The element's own latency, added to upstream's in a LATENCY query when upstream is live. */
void gst_mor_thinker_out_set_latency (GstMorThinkerOut *out, GstClockTime latency);
/* Whether upstream is live (a LATENCY query upstream). */
gboolean gst_mor_thinker_out_is_live (GstMorThinkerOut *out);

/* ---- events ---- */

/* Pushes @event (transfer full) on both pads. */
void gst_mor_thinker_out_push_event (GstMorThinkerOut *out, GstEvent *event);
/* Stream-start on both pads: stream-ids ending in /response and /reasoning,
 * SPARSE, with the group-id of @upstream (nullable, transfer none) if it has one. */
void gst_mor_thinker_out_stream_start (GstMorThinkerOut *out, GstEvent *upstream);
/* Picks caps for each pad from what downstream accepts (text when it takes
 * either) and pushes them, after a stream-start if none went out yet. Without
 * @force, only when a pad was asked to reconfigure. Returns FALSE, having
 * posted CORE/NEGOTIATION naming the pad, when downstream takes neither. */
gboolean gst_mor_thinker_out_negotiate (GstMorThinkerOut *out, gboolean force);
/* Upstream's SEGMENT (transfer none): a TIME segment is kept, any other
 * format becomes a TIME segment from 0; it goes out on both pads with the
 * event's seqnum, and the pads' positions and the timeline move to its start. */
void gst_mor_thinker_out_segment (GstMorThinkerOut *out, GstEvent *segment);

/* ---- time (stream time of the output segment) ---- */

/* Fills each pad's time up to @t with a GAP event (nothing for NONE) and
 * moves the timeline there. */
void gst_mor_thinker_out_fill_gaps (GstMorThinkerOut *out, GstClockTime t);

/* ---- an answer ---- */

/**
 * gst_mor_thinker_out_begin_answer:
 * @out: the output
 * @answer: the answer's number (token records and the meta carry it)
 * @mode: what one text buffer holds during this answer
 * @prompt: (nullable): the finished prompt, which a pad negotiated to tokens
 *   sends as a prompt record (NULL: none)
 * @live: whether upstream is live (the clock then holds the answer back)
 *
 * Starts the answer's clock at the timeline, or at the current running time
 * when @live and that is later, and fills both pads with gaps up to there.
 * Forgets the previous answer's pending text and partial characters.
 * Returns: the combined flow of the prompt records' pushes (OK when none).
 */
GstFlowReturn gst_mor_thinker_out_begin_answer (GstMorThinkerOut *out, guint32 answer, GstMorThinkerTextMode mode,
                                                MorPrompt *prompt, gboolean live);
/* A step was taken (call once per step, emitted or not): the clock moves on by
 * GST_MOR_THINKER_STEP (not for the first), or to the running time when live
 * and later, and both pads get gaps up to there. */
void gst_mor_thinker_out_next_step (GstMorThinkerOut *out);
/* Sends @token (an emitted one) on its stream's pad as a token record, or
 * adds its text to the text mode's pending text and sends what the mode has
 * complete; at the current step, lasting until the stream's next slot.
 * Returns the combined flow of the push, OK when nothing was pushed. */
GstFlowReturn gst_mor_thinker_out_push_token (GstMorThinkerOut *out, const MorInterleaveToken *token);
/* Ends the answer one step after the last: a partial character left in a
 * decoder becomes U+FFFD; with @send, the text held back (an unfinished word
 * or line, U+FFFD) goes out over that step; both pads get gaps to its end. */
void gst_mor_thinker_out_end_answer (GstMorThinkerOut *out, gboolean send);
/* Tokens of @stream sent (or held as text) during the answer. */
guint32 gst_mor_thinker_out_count (GstMorThinkerOut *out, MorInterleaveStream stream);

G_END_DECLS
