/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `mor answer`: a spoken question in, the spoken answer and the reasoning out,
 * through the same stages as the elements (chain.h), and `mor bench e2e`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "commands.h"
#include "mel.h"
#include "npy.h"
#include "wav.h"

/* Options shared by answer and bench e2e. */
typedef struct {
  char *model, *encoder, *talker, *device, *speaker, *ratio, *schedule, *solver, *system;
  gboolean greedy;
  gint64 seed;
  gint max_tokens, steps, max_codes;
  gdouble cfg;
} ChainArgs;

static void
chain_args_clear (ChainArgs *a)
{
  char **strings[] = { &a->model, &a->encoder, &a->talker, &a->device, &a->speaker, &a->ratio, &a->schedule,
                       &a->solver, &a->system };
  for (guint i = 0; i < G_N_ELEMENTS (strings); i++)
    g_clear_pointer (strings[i], g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (ChainArgs, chain_args_clear)

static void
add_chain_entries (GOptionContext *ctx, ChainArgs *a)
{
  a->max_tokens = 512;
  MorDitSampleParams defaults;
  mor_dit_sample_params_init (&defaults);
  a->steps = defaults.num_steps;
  a->max_codes = 2048;
  a->cfg = defaults.guidance_scale;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &a->model, "Thinker GGUF (or a one-file model)", "FILE" },
    { "encoder", 0, 0, G_OPTION_ARG_FILENAME, &a->encoder, "Audio encoder GGUF (default: --model)", "FILE" },
    { "talker", 0, 0, G_OPTION_ARG_FILENAME, &a->talker, "Talker GGUF (default: --model; \"\": text only)", "FILE" },
    { "ratio", 0, 0, G_OPTION_ARG_STRING, &a->ratio, "p:q response and reasoning tokens a cycle (default: the model's)", "P:Q" },
    { "schedule", 0, 0, G_OPTION_ARG_STRING, &a->schedule, "auto (default), interleaved, think-first, speak-only", "S" },
    { "seed", 's', 0, G_OPTION_ARG_INT64, &a->seed, "Random seed of every stage (default 0)", "N" },
    { "greedy", 0, 0, G_OPTION_ARG_NONE, &a->greedy, "Greedy thinker and talker", NULL },
    { "max-tokens", 'n', 0, G_OPTION_ARG_INT, &a->max_tokens, "Thinker steps at most (default 512)", "N" },
    { "max-codes", 0, 0, G_OPTION_ARG_INT, &a->max_codes, "Talker codes at most (default 2048)", "N" },
    { "speaker", 0, 0, G_OPTION_ARG_STRING, &a->speaker, "Voice (default: the model's)", "NAME" },
    { "system", 0, 0, G_OPTION_ARG_STRING, &a->system, "System prompt (default: Qwen's for speech output)", "TEXT" },
    { "steps", 0, 0, G_OPTION_ARG_INT, &a->steps, "DiT time points (default 10)", "K" },
    { "solver", 0, 0, G_OPTION_ARG_STRING, &a->solver, "DiT solver: rk4 (default) or euler", "S" },
    { "cfg", 0, 0, G_OPTION_ARG_DOUBLE, &a->cfg, "DiT guidance (default 0.5)", "X" },
    { "device", 'd', 0, G_OPTION_ARG_STRING, &a->device, "Vulkan device index or name", "DEV" },
    { NULL }
  };
  GOptionGroup *g = g_option_group_new ("chain", "The model and how it answers", "Model options", NULL, NULL);
  g_option_group_add_entries (g, entries);
  g_option_context_set_main_group (ctx, g);
}

/* The options from @a; FALSE (printed) when one is wrong. */
static gboolean
chain_options (const ChainArgs *a, MorChainOptions *o, const char *cmd)
{
  mor_chain_options_init (o);
  guint32 p, q;
  if (a->ratio) {
    if (!mor_interleave_parse_ratio (a->ratio, &p, &q)) {
      fprintf (stderr, "mor %s: --ratio “%s”: expected p:q with p ≥ 1\n", cmd, a->ratio);
      return FALSE;
    }
    o->response_tokens = p;
    o->reasoning_tokens = q;
  }
  static const MorInterleaveSchedule schedules[] = { MOR_INTERLEAVE_AUTO, MOR_INTERLEAVE_INTERLEAVED,
                                                     MOR_INTERLEAVE_THINK_FIRST, MOR_INTERLEAVE_SPEAK_ONLY };
  guint i = 0;
  while (a->schedule && i < G_N_ELEMENTS (schedules) &&
         strcmp (a->schedule, mor_interleave_schedule_name (schedules[i])) != 0)
    i++;
  if (i == G_N_ELEMENTS (schedules)) {
    fprintf (stderr, "mor %s: --schedule “%s”: one of auto, interleaved, think-first, speak-only\n", cmd,
             a->schedule);
    return FALSE;
  }
  o->schedule = a->schedule ? schedules[i] : MOR_INTERLEAVE_AUTO;
  if (a->solver && strcmp (a->solver, "rk4") != 0 && strcmp (a->solver, "euler") != 0) {
    fprintf (stderr, "mor %s: --solver “%s”: rk4 or euler\n", cmd, a->solver);
    return FALSE;
  }
  if (a->max_tokens < 1 || a->max_codes < 2 || a->steps < 2 || a->cfg < 0) {
    fprintf (stderr, "mor %s: --max-tokens, --max-codes, --steps or --cfg out of range\n", cmd);
    return FALSE;
  }
  o->max_tokens = a->max_tokens;
  o->thinker_sampling.seed = a->seed;
  if (a->greedy)
    o->thinker_sampling.temperature = 0;
  o->talker_greedy = a->greedy;
  o->speaker = a->speaker;
  if (a->system)
    o->system_prompt = a->system;
  o->wave.seed = a->seed;
  o->wave.dit.num_steps = a->steps;
  o->wave.dit.solver = a->solver && strcmp (a->solver, "euler") == 0 ? MOR_DIT_SOLVER_EULER : MOR_DIT_SOLVER_RK4;
  o->wave.dit.guidance_scale = a->cfg;
  return TRUE;
}

static gboolean
write_text (const char *path, const GString *text, GError **error)
{
  return !path || g_file_set_contents (path, text->str, text->len, error);
}

static gboolean
save (const char *dir, const char *name, MorNpyDtype dtype, guint n_dims, guint64 d0, guint64 d1,
      gconstpointer data, GError **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  guint64 shape[2] = { d0, d1 };
  return mor_npy_save (path, dtype, n_dims, shape, data, error);
}

/* Every intermediate of the answer as .npy in @dir. */
static gboolean
dump (MorChain *c, const char *dir, const float *samples, guint64 n, const float *rows, guint32 n_rows,
      const MorChainResult *r, GError **error)
{
  if (g_mkdir_with_parents (dir, 0755) != 0) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "Cannot create %s", dir);
    return FALSE;
  }
  guint32 n_mels = mor_encoder_get_config (c->enc)->num_mel_bins, dim = mor_llm_get_config (c->llm)->hidden_size;
  guint32 n_frames = mor_mel_n_frames (n);
  g_autoptr (MorMel) mel = mor_mel_new (c->dev, n_mels, error);
  g_autofree float *features = g_new (float, MAX ((gsize) n_mels * n_frames, 1));
  if (!mel || !mor_mel_compute (mel, samples, n, features, error) ||
      !save (dir, "mel.npy", MOR_NPY_F32, 2, n_mels, n_frames, features, error) ||
      !save (dir, "audio_rows.npy", MOR_NPY_F32, 2, n_rows, dim, rows, error) ||
      !save (dir, "thinker_ids.npy", MOR_NPY_I32, 1, r->ids->len, 0, r->ids->data, error) ||
      !save (dir, "thinker_streams.npy", MOR_NPY_U8, 1, r->streams->len, 0, r->streams->data, error) ||
      !save (dir, "thinker_emitted.npy", MOR_NPY_U8, 1, r->emitted->len, 0, r->emitted->data, error) ||
      !save (dir, "thinker_hidden.npy", MOR_NPY_F32, 2, r->ids->len, dim, r->hidden->data, error) ||
      !save (dir, "thinker_embeddings.npy", MOR_NPY_F32, 2, r->ids->len, dim, r->embeddings->data, error))
    return FALSE;
  if (!c->talker)
    return TRUE;
  guint32 n_mel_frames = 0;
  g_autofree float *dit_mel = mor_token2wav_session_dup_mel (c->wave, &n_mel_frames);
  guint32 mel_dim = mor_dit_get_config (mor_token2wav_get_dit (c->t2w))->mel_dim;
  return save (dir, "codes.npy", MOR_NPY_I32, 1, r->codes->len, 0, r->codes->data, error) &&
         save (dir, "dit_mel.npy", MOR_NPY_F32, 2, mel_dim, n_mel_frames, dit_mel, error);
}

int
mor_cli_answer (int argc, char **argv)
{
  g_auto (ChainArgs) a = { 0 };
  g_autofree char *out = NULL, *reasoning = NULL, *response = NULL, *dump_dir = NULL;
  GOptionEntry entries[] = {
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, "The spoken answer (24 kHz float WAV)", "OUT.wav" },
    { "reasoning", 0, 0, G_OPTION_ARG_FILENAME, &reasoning, "Where to write the reasoning text", "FILE" },
    { "response", 0, 0, G_OPTION_ARG_FILENAME, &response, "Where to write the response text (default: stdout)", "FILE" },
    { "dump", 0, 0, G_OPTION_ARG_FILENAME, &dump_dir, "Write every intermediate as .npy into DIR", "DIR" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("IN.wav — answer a spoken question (16 kHz WAV) out loud, "
                                                         "as morencoder ! morthinker ! mortalker do");
  add_chain_entries (ctx, &a);
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 2 || !a.model)
    return mor_cli_usage (ctx, error);
  MorChainOptions o;
  if (!chain_options (&a, &o, "answer"))
    return 2;
  gboolean speak = !(a.talker && !*a.talker);
  if (speak && !out) {
    fprintf (stderr, "mor answer: --output OUT.wav is needed (or --talker \"\" for text only)\n");
    return 2;
  }

  guint64 n;
  g_autofree float *samples = mor_wav_read (argv[1], 16000, &n, &error);
  g_auto (MorChain) c = { 0 };
  if (!samples || !mor_chain_open (&c, a.model, a.encoder, a.talker, a.device, a.max_codes, &error))
    return mor_cli_fail (error);
  guint32 n_rows = 0;
  g_autofree float *rows = mor_encoder_encode (c.enc, samples, n, &n_rows, &error);
  if (!rows && error)
    return mor_cli_fail (error);
  g_auto (MorChainResult) r;
  mor_chain_result_init (&r);
  if (!mor_chain_begin (&c, &o, NULL, 0, &error) || !mor_chain_answer (&c, rows, n_rows, 0, &o, &r, &error))
    return mor_cli_fail (error);

  if (response) {
    if (!write_text (response, r.response, &error))
      return mor_cli_fail (error);
  } else {
    printf ("%s\n", r.response->str);
  }
  if (!write_text (reasoning, r.reasoning, &error) ||
      (speak && !mor_wav_write (out, mor_token2wav_sample_rate (c.t2w), (const float *) r.audio->data,
                                r.audio->len, &error)) ||
      (dump_dir && !dump (&c, dump_dir, samples, n, rows, n_rows, &r, &error)))
    return mor_cli_fail (error);
  fprintf (stderr, "mor answer: %u audio rows, %u thinker steps (%s), %u codes, %.2f s of speech; first "
           "response token %.0f ms, first audio %.0f ms after the question's rows\n", n_rows, r.ids->len,
           r.thinker_end, r.codes->len, speak ? (double) r.audio->len / mor_token2wav_sample_rate (c.t2w) : 0.0,
           r.first_response_ms, r.first_audio_ms);
  return 0;
}

/* ---- mor bench e2e ---- */

/* A speech-like question of @seconds: a gliding voiced tone in syllables,
 * loudest in its first syllable, so that the log-mel max (and with it every
 * early chunk's rows) is settled before the end, as in most speech. */
static float *
question (double seconds, guint64 *n)
{
  *n = (guint64) (seconds * 16000);
  float *x = g_new (float, MAX (*n, 1));
  double phase = 0;
  for (guint64 i = 0; i < *n; i++) {
    double t = i / 16000.0, f0 = 140 + 30 * sin (2 * G_PI * 0.7 * t);
    phase += 2 * G_PI * f0 / 16000.0;
    double env = 0.5 + 0.5 * sin (2 * G_PI * 4 * t);
    double v = 0;
    for (int h = 1; h <= 6; h++)
      v += sin (h * phase) / h;
    x[i] = (float) ((t < 0.25 ? 0.3 : 0.2) * env * v);
  }
  return x;
}

int
mor_cli_bench_e2e (int argc, char **argv)
{
  g_auto (ChainArgs) a = { 0 };
  gdouble seconds = 4;
  gint runs = 1;
  GOptionEntry entries[] = {
    { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, "Length of the spoken question (default 4)", "S" },
    { "runs", 0, 0, G_OPTION_ARG_INT, &runs, "Runs of each schedule; the median is reported (default 1)", "N" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("— time from the end of speech to the first response "
                                                         "token and the first audio, interleaved against think-first");
  add_chain_entries (ctx, &a);
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 1 || !a.model || seconds <= 0 || runs < 1)
    return mor_cli_usage (ctx, error);
  MorChainOptions o;
  if (!chain_options (&a, &o, "bench e2e"))
    return 2;
  g_auto (MorChain) c = { 0 };
  if (!mor_chain_open (&c, a.model, a.encoder, a.talker, a.device, a.max_codes, &error))
    return mor_cli_fail (error);
  guint64 n;
  g_autofree float *x = question (seconds, &n);
  g_autoptr (MorEncoderSession) es = mor_encoder_session_new (c.enc, n, &error);
  if (!es)
    return mor_cli_fail (error);

  printf ("device: %s\nquestion: %.1f s of audio; times from the end of speech (the last chunk's encoding "
          "included), median of %d\n", mor_vk_device_get_info (c.dev)->name, seconds, runs);
  printf ("%-12s %6s %18s %14s %8s %8s\n", "schedule", "ratio", "first response ms", "first audio ms", "steps",
          "codes");
  MorInterleaveSchedule schedules[2] = { MOR_INTERLEAVE_INTERLEAVED, MOR_INTERLEAVE_THINK_FIRST };
  for (guint s = 0; s < 2; s++) {
    g_autofree double *first_tok = g_new (double, runs), *first_audio = g_new (double, runs);
    guint steps = 0, codes = 0;
    for (gint run = 0; run < runs; run++) {
      /* The complete chunks are encoded and prefilled while the user speaks; the clock starts at the end,
       * with the tail's encoding and the rows the utterance's final log-mel max revised. */
      MorChainOptions so = o;
      so.schedule = schedules[s];
      mor_encoder_session_reset (es);
      guint32 dim = mor_llm_get_config (c.llm)->hidden_size;
      if (!mor_encoder_session_push (es, x, n, &error) ||
          !mor_chain_begin (&c, &so, mor_encoder_session_get_rows (es), mor_encoder_session_n_rows (es), &error))
        return mor_cli_fail (error);
      guint32 n_early = mor_encoder_session_n_rows (es);
      gint64 t0 = g_get_monotonic_time ();
      if (!mor_encoder_session_finish (es, &error))
        return mor_cli_fail (error);
      if (mor_encoder_session_first_revised (es) < n_early) {
        g_set_error (&error, MOR_ENCODER_ERROR, MOR_ENCODER_ERROR_FAILED, "the question's final log-mel max "
                     "revised rows already prefilled; mor bench e2e does not re-prefill them");
        return mor_cli_fail (error);
      }
      g_auto (MorChainResult) r;
      mor_chain_result_init (&r);
      if (!mor_chain_answer (&c, mor_encoder_session_get_rows (es) + (gsize) n_early * dim,
                             mor_encoder_session_n_rows (es) - n_early, t0, &so, &r, &error))
        return mor_cli_fail (error);
      first_tok[run] = r.first_response_ms;
      first_audio[run] = r.first_audio_ms;
      steps = r.ids->len;
      codes = r.codes->len;
    }
    g_autofree char *ratio = g_strdup_printf ("%d:%d", o.response_tokens > 0 ? o.response_tokens : 2,
                                              o.reasoning_tokens >= 0 ? o.reasoning_tokens : 8);
    /* "none": no response token (or audio) within --max-tokens steps: a random model's reasoning may never end. */
    double tok_ms = mor_cli_median (first_tok, runs), audio_ms = mor_cli_median (first_audio, runs);
    g_autofree char *tok = tok_ms < 0 ? g_strdup ("none") : g_strdup_printf ("%.0f", tok_ms);
    g_autofree char *audio = audio_ms < 0 ? g_strdup ("none") : g_strdup_printf ("%.0f", audio_ms);
    printf ("%-12s %6s %18s %14s %8u %8u\n", mor_interleave_schedule_name (schedules[s]), s == 0 ? ratio : "-",
            tok, audio, steps, codes);
  }
  return 0;
}
