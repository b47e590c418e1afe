/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The whole chain as users run it (pipelines/answer-file.sh): a WAV file in,
 * morencoder ! morthinker ! mortalker, the answer's audio, its response text
 * and its reasoning out, on tiny random models (mor_mkmodel_*). The thinker's
 * control tokens and the talker's end codes are muted, so a greedy answer runs
 * to max-tokens in whole 2:8 cycles and the talker to max-codes: the counts
 * are known. Checked: the ratio on the reasoning buffers and in both answer
 * messages, the audio's length against the codes, and not one warning. */
#include <glib/gstdio.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <string.h>

#include "gstmorelement.h"
#include "mkmodel.h"

#define MAX_TOKENS 50   /* 5 cycles of 2 response + 8 reasoning tokens */
#define MAX_CODES 60

static char *
write_model (const char *dir, const char *name, MorGgufWriter *w)
{
  g_autoptr (GError) error = NULL;
  g_assert_nonnull (w);
  char *path = g_build_filename (dir, name, NULL);
  g_assert_true (mor_gguf_writer_write_file (w, path, &error));
  g_assert_no_error (error);
  mor_gguf_writer_free (w);
  return path;
}

/* What the three sinks received, gathered as it arrives (an appsink holds EOS
 * back until its queue is read). */
typedef struct {
  gsize samples;                 /* audio */
  GString *response;             /* the text pad's text */
  gsize reasoning_tokens;        /* from the reasoning buffers' meta */
} Received;

static GstFlowReturn
on_audio (GstAppSink *sink, gpointer data)
{
  Received *r = data;
  GstSample *sample = gst_app_sink_pull_sample (sink);
  r->samples += gst_buffer_get_size (gst_sample_get_buffer (sample)) / 4;
  gst_sample_unref (sample);
  return GST_FLOW_OK;
}

static GstFlowReturn
on_response (GstAppSink *sink, gpointer data)
{
  Received *r = data;
  GstSample *sample = gst_app_sink_pull_sample (sink);
  GstMapInfo map;
  gst_buffer_map (gst_sample_get_buffer (sample), &map, GST_MAP_READ);
  g_string_append_len (r->response, (const char *) map.data, map.size);
  gst_buffer_unmap (gst_sample_get_buffer (sample), &map);
  gst_sample_unref (sample);
  return GST_FLOW_OK;
}

/* Every reasoning token sits in a reasoning slot of its 2:8 cycle (slots 0, 1
 * respond, 2 … 9 reason). */
static GstFlowReturn
on_reasoning (GstAppSink *sink, gpointer data)
{
  Received *r = data;
  GstSample *sample = gst_app_sink_pull_sample (sink);
  const GstStructure *meta = gst_mor_buffer_get_token_meta (gst_sample_get_buffer (sample));
  g_assert_nonnull (meta);
  g_assert_cmpstr (gst_structure_get_string (meta, "stream"), ==, "reasoning");
  const GValue *slots = gst_structure_get_value (meta, "slots");
  for (guint k = 0; k < gst_value_array_get_size (slots); k++) {
    guint slot = g_value_get_uint (gst_value_array_get_value (slots, k));
    g_assert_cmpuint (slot, >=, 2);
    g_assert_cmpuint (slot, <, 10);
  }
  r->reasoning_tokens += gst_value_array_get_size (slots);
  gst_sample_unref (sample);
  return GST_FLOW_OK;
}

/* Runs @pipe to EOS; fails on any warning or error message. Returns the
 * element messages posted on the way (the bus drops what a filtered pop skips). */
static GPtrArray *
run (GstElement *pipe)
{
  GPtrArray *posted = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_structure_free);
  g_assert_cmpint (gst_element_set_state (pipe, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  GstBus *bus = gst_element_get_bus (pipe);
  for (;;) {
    GstMessage *m = gst_bus_timed_pop (bus, 300 * GST_SECOND);
    g_assert_nonnull (m);
    GstMessageType type = GST_MESSAGE_TYPE (m);
    if (type == GST_MESSAGE_ERROR || type == GST_MESSAGE_WARNING) {
      g_autoptr (GError) error = NULL;
      g_autofree char *debug = NULL;
      if (type == GST_MESSAGE_ERROR)
        gst_message_parse_error (m, &error, &debug);
      else
        gst_message_parse_warning (m, &error, &debug);
      g_error ("%s from %s: %s (%s)", GST_MESSAGE_TYPE_NAME (m), GST_OBJECT_NAME (m->src), error->message, debug);
    }
    if (type == GST_MESSAGE_ELEMENT)
      g_ptr_array_add (posted, gst_structure_copy (gst_message_get_structure (m)));
    gst_message_unref (m);
    if (type == GST_MESSAGE_EOS)
      break;
  }
  gst_object_unref (bus);
  return posted;
}

/* The structures named @name of @posted. */
static GPtrArray *
named (GPtrArray *posted, const char *name)
{
  GPtrArray *out = g_ptr_array_new ();
  for (guint i = 0; i < posted->len; i++)
    if (gst_structure_has_name (posted->pdata[i], name))
      g_ptr_array_add (out, posted->pdata[i]);
  return out;
}

static void
test_chain (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("mor-chain-XXXXXX", &error);
  g_assert_no_error (error);
  MorMkmodelThinkerOptions il = { 2, 8, TRUE };
  g_autofree char *thinker = write_model (dir, "thinker.gguf",
      mor_mkmodel_thinker_full (mor_mkmodel_thinker_shape ("tiny"), MOR_TYPE_F16, 3, &il, &error));
  g_autofree char *encoder = write_model (dir, "encoder.gguf",
      mor_mkmodel_encoder (mor_mkmodel_encoder_shape ("tiny"), MOR_TYPE_F16, 3, &error));
  g_autofree char *talker = write_model (dir, "talker.gguf",
      mor_mkmodel_talker_full (mor_mkmodel_talker_shape ("tiny"), MOR_TYPE_F16, 3, TRUE, &error));

  /* The question: 1.5 s of a voiced tone at 22.05 kHz stereo, as a WAV file (the chain converts it). */
  g_autofree char *wav = g_build_filename (dir, "question.wav", NULL);
  g_autofree char *make = g_strdup_printf ("audiotestsrc num-buffers=15 samplesperbuffer=2205 wave=saw freq=140 "
                                           "volume=0.3 ! audio/x-raw,rate=22050,channels=2,format=S16LE ! wavenc ! "
                                           "filesink location=%s", wav);
  GstElement *pipe = gst_parse_launch (make, &error);
  g_assert_no_error (error);
  g_ptr_array_unref (run (pipe));
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (pipe);

  g_autofree char *desc = g_strdup_printf (
      "filesrc location=%s ! wavparse ! audioconvert ! audioresample ! morencoder model=%s vad=false ! "
      "morthinker name=t model=%s temperature=0 max-tokens=%d ratio=2:8 "
      "t.response ! queue ! mortalker name=s model=%s greedy=true max-codes=%d dit-steps=2 dit-solver=euler cfg=0 "
      "! appsink name=audio sync=false  s.text ! queue ! appsink name=response sync=false "
      "t.reasoning ! queue ! appsink name=reasoning sync=false", wav, encoder, thinker, MAX_TOKENS, talker, MAX_CODES);
  pipe = gst_parse_launch (desc, &error);
  g_assert_no_error (error);
  Received r = { 0, g_string_new (NULL), 0 };
  GstAppSinkCallbacks callbacks[3] = { { .new_sample = on_audio }, { .new_sample = on_response },
                                       { .new_sample = on_reasoning } };
  const char *names[3] = { "audio", "response", "reasoning" };
  for (guint i = 0; i < 3; i++) {
    GstElement *sink = gst_bin_get_by_name (GST_BIN (pipe), names[i]);
    gst_app_sink_set_callbacks (GST_APP_SINK (sink), &callbacks[i], &r, NULL);
    gst_object_unref (sink);
  }
  g_autoptr (GPtrArray) posted = run (pipe);
  g_assert_cmpuint (r.reasoning_tokens, ==, MAX_TOKENS / 10 * 8);

  g_autoptr (GPtrArray) thought = named (posted, "morthinker/answer");
  g_autoptr (GPtrArray) spoke = named (posted, "mortalker/answer");
  g_assert_cmpuint (thought->len, ==, 1);
  g_assert_cmpuint (spoke->len, ==, 1);
  guint resp, reas, codes;
  g_assert_true (gst_structure_get_uint (thought->pdata[0], "response-tokens", &resp));
  g_assert_true (gst_structure_get_uint (thought->pdata[0], "reasoning-tokens", &reas));
  g_assert_cmpuint (resp, ==, MAX_TOKENS / 10 * 2);
  g_assert_cmpuint (reas, ==, MAX_TOKENS / 10 * 8);
  g_assert_true (gst_structure_get_uint (spoke->pdata[0], "codes", &codes));
  g_assert_cmpuint (codes, ==, MAX_CODES);
  g_assert_cmpuint (r.samples, ==, (gsize) codes * 480);  /* 2 mel frames a code, 240 samples a frame */
  g_assert_cmpuint (r.response->len, >, 0);
  g_string_free (r.response, TRUE);

  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (pipe);
  const char *files[] = { thinker, encoder, talker, wav };
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    g_unlink (files[i]);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  gst_init (&argc, &argv);
  g_test_add_func ("/chain/wav-to-answer", test_chain);
  int ret = g_test_run ();
  gst_deinit ();
  return ret;
}
