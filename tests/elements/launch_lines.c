/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Every gst-launch-1.0 line of the documentation parses: README.md, docs/ *.md
 * (in fenced code blocks), every file of pipelines/, and the SECTION examples
 * of gst/ *.c (in |[ ]| blocks); a line goes on over lines ending in a backslash. The
 * SECTION examples also run to EOS, in a folder holding a tiny thinker.gguf,
 * encoder.gguf and talker.gguf and a question.txt.
 *
 * A line naming an element of a plugin not installed here is skipped, and the
 * skips are listed; a missing mor… element fails the test (a misspelt name).
 * The source tree is MOR_SOURCE_ROOT. */
#include <fcntl.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <string.h>
#include <unistd.h>

#include "mkmodel.h"

typedef struct {
  char *where;    /* file:line */
  char *line;     /* from "gst-launch-1.0" on, continuation lines joined */
  gboolean run;   /* a SECTION example */
} Launch;

static void
launch_free (gpointer data)
{
  Launch *l = data;
  g_free (l->where);
  g_free (l->line);
  g_free (l);
}

/* Collects the launch lines of @path. @kind: 'm' Markdown (fenced blocks), 'c' C
 * (SECTION |[ ]| blocks, " * " prefixes), 'p' any line. */
static void
collect (GPtrArray *out, const char *path, const char *rel, char kind)
{
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;
  g_assert_true (g_file_get_contents (path, &text, NULL, &error));
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  gboolean in_block = kind == 'p';
  Launch *cur = NULL;
  for (guint i = 0; lines[i]; i++) {
    char *l = lines[i];
    if (kind == 'c') {
      if (!g_str_has_prefix (l, " *"))
        continue;
      l += strlen (l) >= 3 && l[2] == ' ' ? 3 : 2;
    }
    g_autofree char *trimmed = g_strstrip (g_strdup (l));
    if ((kind == 'm' && g_str_has_prefix (trimmed, "```")) ||
        (kind == 'c' && (g_str_has_prefix (trimmed, "|[") || g_str_has_prefix (trimmed, "]|")))) {
      in_block = kind == 'm' ? !in_block : g_str_has_prefix (trimmed, "|[");
      continue;
    }
    if (!in_block)
      continue;
    const char *start = cur ? trimmed : strstr (trimmed, "gst-launch-1.0");
    if (!start)
      continue;
    gboolean more = g_str_has_suffix (start, "\\");
    g_autofree char *piece = g_strndup (start, strlen (start) - (more ? 1 : 0));
    if (!cur) {
      cur = g_new0 (Launch, 1);
      cur->where = g_strdup_printf ("%s:%u", rel, i + 1);
      cur->line = g_strdup (piece);
      cur->run = kind == 'c';
    } else {
      char *joined = g_strconcat (cur->line, " ", piece, NULL);
      g_free (cur->line);
      cur->line = joined;
    }
    if (!more) {
      g_ptr_array_add (out, cur);
      cur = NULL;
    }
  }
  g_assert_null (cur); /* a continuation at the end of a block */
}

/* Every file of @dir (relative to the source root) whose name ends in @suffix. */
static void
collect_dir (GPtrArray *out, const char *dir, const char *suffix, char kind)
{
  g_autofree char *path = g_build_filename (MOR_SOURCE_ROOT, dir, NULL);
  g_autoptr (GDir) d = g_dir_open (path, 0, NULL);
  if (!d)
    return;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while ((name = g_dir_read_name (d)))
    if (g_str_has_suffix (name, suffix) && name[0] != '.')
      g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, (GCompareFunc) g_strcmp0);
  for (guint i = 0; i < names->len; i++) {
    g_autofree char *rel = g_build_filename (dir, g_ptr_array_index (names, i), NULL);
    g_autofree char *file = g_build_filename (MOR_SOURCE_ROOT, rel, NULL);
    if (g_file_test (file, G_FILE_TEST_IS_REGULAR))
      collect (out, file, rel, kind);
  }
}

static GPtrArray *
all_launch_lines (void)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (launch_free);
  g_autofree char *readme = g_build_filename (MOR_SOURCE_ROOT, "README.md", NULL);
  collect (out, readme, "README.md", 'm');
  collect_dir (out, "docs", ".md", 'm');
  collect_dir (out, "pipelines", "", 'p');
  collect_dir (out, "gst", ".c", 'c');
  return out;
}

/* The pipeline of @l as gst-launch-1.0 would make it: its words after the
 * program's options, up to a shell pipe or redirection. Returns NULL with
 * *@missing set (transfer full) when elements are missing. */
static GstElement *
parse (const Launch *l, GStrv *missing, GError **error)
{
  g_auto (GStrv) argv = NULL;
  g_assert_true (g_shell_parse_argv (l->line + strlen ("gst-launch-1.0"), NULL, &argv, error));
  guint first = 0, n = 0;
  while (argv[first] && argv[first][0] == '-')
    first++;
  while (argv[first + n] && strcmp (argv[first + n], "|") != 0 && argv[first + n][0] != '>' &&
         !g_str_has_prefix (argv[first + n], "2>") && strcmp (argv[first + n], "&&") != 0)
    n++;
  /* A word that is a whole shell expansion (${EXTRA_PROPS:-}) may expand to nothing: drop it. */
  g_autofree char **words = g_new0 (char *, n + 1);
  guint kept = 0;
  for (guint i = 0; i < n; i++)
    if (!(g_str_has_prefix (argv[first + i], "${") && g_str_has_suffix (argv[first + i], "}")))
      words[kept++] = argv[first + i];
  GstParseContext *ctx = gst_parse_context_new ();
  GstElement *pipe = gst_parse_launchv_full ((const char **) words, ctx, GST_PARSE_FLAG_FATAL_ERRORS, error);
  *missing = gst_parse_context_get_missing_elements (ctx);
  gst_parse_context_free (ctx);
  return pipe;
}

/* Runs @pipe until EOS (an error fails), with stdout (fdsink's default) muted. */
static void
run (GstElement *pipe, const char *where)
{
  int saved = dup (1), null = open ("/dev/null", O_WRONLY);
  g_assert_true (saved >= 0 && null >= 0);
  fflush (stdout);
  dup2 (null, 1);
  close (null);
  g_assert_cmpint (gst_element_set_state (pipe, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  GstBus *bus = gst_element_get_bus (pipe);
  GstMessage *m = gst_bus_timed_pop_filtered (bus, 120 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  gst_element_set_state (pipe, GST_STATE_NULL);
  dup2 (saved, 1);
  close (saved);
  g_assert_nonnull (m);
  if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR) {
    g_autoptr (GError) error = NULL;
    g_autofree char *debug = NULL;
    gst_message_parse_error (m, &error, &debug);
    g_error ("%s: the example fails: %s (%s)", where, error->message, debug);
  }
  gst_message_unref (m);
  gst_object_unref (bus);
}

static void
test_launch_lines (void)
{
  /* What the SECTION examples name: a tiny thinker whose context (256) ends the answer soon. */
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("mor-launch-XXXXXX", &error);
  g_assert_no_error (error);
  MorThinkerShape shape = *mor_mkmodel_thinker_shape ("tiny");
  shape.max_position_embeddings = 256;
  g_autoptr (MorGgufWriter) w = mor_mkmodel_thinker_full (&shape, MOR_TYPE_F16, 3, NULL, &error);
  g_assert_no_error (error);
  g_autofree char *model = g_build_filename (dir, "thinker.gguf", NULL);
  g_autofree char *question = g_build_filename (dir, "question.txt", NULL);
  g_assert_true (mor_gguf_writer_write_file (w, model, &error));
  g_assert_true (g_file_set_contents (question, "what is one plus one\n", -1, &error));
  g_autofree char *encoder = g_build_filename (dir, "encoder.gguf", NULL);
  g_autoptr (MorGgufWriter) we = mor_mkmodel_encoder (mor_mkmodel_encoder_shape ("tiny"), MOR_TYPE_F16, 1, &error);
  g_assert_no_error (error);
  g_assert_true (mor_gguf_writer_write_file (we, encoder, &error));
  g_autofree char *talker = g_build_filename (dir, "talker.gguf", NULL);
  g_autoptr (MorGgufWriter) wt = mor_mkmodel_talker (mor_mkmodel_talker_shape ("tiny"), MOR_TYPE_F16, 1, &error);
  g_assert_no_error (error);
  g_assert_true (mor_gguf_writer_write_file (wt, talker, &error));
  g_autofree char *cwd = g_get_current_dir ();
  g_assert_cmpint (g_chdir (dir), ==, 0);

  g_autoptr (GPtrArray) lines = all_launch_lines ();
  g_autoptr (GString) skipped = g_string_new (NULL);
  guint parsed = 0, ran = 0;
  for (guint i = 0; i < lines->len; i++) {
    Launch *l = g_ptr_array_index (lines, i);
    g_auto (GStrv) missing = NULL;
    g_clear_error (&error);
    GstElement *pipe = parse (l, &missing, &error);
    if (!pipe && missing && missing[0]) {
      for (guint k = 0; missing[k]; k++)
        if (g_str_has_prefix (missing[k], "mor"))
          g_error ("%s: no element “%s”: %s", l->where, missing[k], l->line);
      g_autofree char *names = g_strjoinv (", ", missing);
      g_string_append_printf (skipped, "\n  %s (no %s): %s", l->where, names, l->line);
      continue;
    }
    if (!pipe)
      g_error ("%s: does not parse: %s: %s", l->where, error ? error->message : "?", l->line);
    parsed++;
    if (l->run) {
      run (pipe, l->where);
      ran++;
    }
    gst_object_unref (pipe);
  }
  g_assert_cmpint (g_chdir (cwd), ==, 0);
  g_test_message ("%u launch lines, %u parsed, %u run", lines->len, parsed, ran);
  if (skipped->len)
    g_test_message ("skipped, naming elements not here:%s", skipped->str);
  g_assert_cmpuint (ran, >=, 1); /* morthinker's SECTION example */
  g_unlink (model);
  g_unlink (question);
  g_unlink (encoder);
  g_unlink (talker);
  g_autofree char *answer = g_build_filename (dir, "answer.wav", NULL);
  g_unlink (answer);  /* what mortalker's example writes */
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  gst_init (&argc, &argv);
  g_test_add_func ("/launch-lines/all", test_launch_lines);
  int ret = g_test_run ();
  gst_deinit ();
  return ret;
}
