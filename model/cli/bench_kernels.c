/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `mor bench kernels`: matrix × vector GB/s per weight type and matrix ×
 * matrix GFLOP/s at the thinker's shapes, each against the host memory read
 * bandwidth measured in the same run.
 *
 * Method. A kernel is timed by replaying a recorded stream of many dispatches
 * (best of --repeat replays), so recording and pipeline creation are not
 * counted, and per-dispatch overhead is. Two figures per matvec shape:
 *  - stream: every dispatch reads its own copy of W, and the copies together
 *    are at least STREAM_BYTES (far over any L3), so the weights come from
 *    DRAM, as in a decode step, which reads every layer once;
 *  - hot: the same W HOT_DISPATCHES times; W stays in cache where it fits.
 * The 151936-row head is bigger than any cache: both figures stream. */
#include "commands.h"

#include <stdio.h>
#include <string.h>

#include "ops.h"
#include "roofline.h"

#define STREAM_BYTES ((guint64) 256 << 20)
#define HOT_DISPATCHES 20

/* rows × cols of W: the thinker's (Qwen2.5-3B) q/o projections, FFN down
 * (2048 rows of 11008), FFN gate/up, and the output head. */
static const struct { guint32 rows, cols; } matvec_shapes[] = {
  { 2048, 2048 }, { 2048, 11008 }, { 11008, 2048 }, { 151936, 2048 },
};
/* M × K × N tokens: prefill of a 128-token chunk through a projection and an FFN up. */
static const struct { guint32 m, k, n; } matmul_shapes[] = {
  { 2048, 2048, 128 }, { 11008, 2048, 128 },
};

typedef struct {
  MorVkDevice *dev;
  MorVkStream *s;
  guint repeat;
} Bench;

/* A buffer of @copies × @row_bytes·@rows bytes (each copy padded to 256 bytes,
 * so that every copy's view is aligned), filled with @rows rows of valid
 * @type data made from a few random rows. */
static MorVkBuffer *
make_weights (MorVkDevice *dev, MorType type, guint32 rows, guint32 cols, guint copies, guint64 *stride,
              GError **error)
{
  guint64 row_bytes = mor_type_row_bytes (type, cols);
  *stride = (rows * row_bytes + 255) / 256 * 256;
  g_autoptr (MorVkBuffer) buf = mor_vk_buffer_new (dev, *stride * copies, MOR_VK_MEMORY_DEVICE, error);
  if (!buf)
    return NULL;
  const guint n_src = 64;  /* distinct rows; enough that no pattern is cheap to compute */
  g_autofree guint8 *src = g_malloc (n_src * row_bytes);
  g_autofree float *f = g_new (float, cols);
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);
  for (guint r = 0; r < n_src; r++) {
    for (guint32 k = 0; k < cols; k++)
      f[k] = (float) g_rand_double_range (rand, -1, 1);
    mor_quantize_row (type, f, src + r * row_bytes, cols);
  }
  /* upload in chunks of whole source blocks */
  guint64 chunk = n_src * row_bytes;
  for (guint c = 0; c < copies; c++)
    for (guint64 off = 0; off < rows * row_bytes; off += chunk)
      if (!mor_vk_buffer_upload (buf, c * *stride + off, src, MIN (chunk, rows * row_bytes - off), error))
        return NULL;
  return g_steal_pointer (&buf);
}

/* Seconds per replay of the recording in b->s: the best of b->repeat. */
static double
time_stream (Bench *b, GError **error)
{
  if (!mor_vk_stream_end (b->s, error) || !mor_vk_stream_submit (b->s, error))  /* warm-up */
    return -1;
  double best = G_MAXDOUBLE;
  for (guint r = 0; r < b->repeat; r++) {
    gint64 t0 = g_get_monotonic_time ();
    if (!mor_vk_stream_submit (b->s, error))
      return -1;
    best = MIN (best, (g_get_monotonic_time () - t0) / 1e6);
  }
  return best;
}

/* GB/s of weights of @n_disp matvecs of one shape: @copies distinct weights used in turn. */
static double
bench_matvec (Bench *b, MorType type, guint32 rows, guint32 cols, guint copies, guint n_disp, GError **error)
{
  guint64 stride, y_stride = (rows * 4 + 255) / 256 * 256;
  g_autoptr (MorVkBuffer) w = make_weights (b->dev, type, rows, cols, copies, &stride, error);
  g_autoptr (MorVkBuffer) x = w ? mor_vk_buffer_new (b->dev, cols * 4, MOR_VK_MEMORY_DEVICE, error) : NULL;
  g_autoptr (MorVkBuffer) y = x ? mor_vk_buffer_new (b->dev, y_stride * n_disp, MOR_VK_MEMORY_DEVICE, error) : NULL;
  if (!y)
    return -1;
  g_autofree float *xv = g_new (float, cols);
  for (guint32 k = 0; k < cols; k++)
    xv[k] = (float) ((k * 7919u) % 1000) / 1000.0f - 0.5f;
  if (!mor_vk_buffer_upload (x, 0, xv, cols * 4, error))
    return -1;
  MorVkView none = { NULL, 0, 0 };
  mor_vk_stream_begin (b->s);
  /* each dispatch writes its own y, so that no barrier separates them */
  for (guint d = 0; d < n_disp; d++)
    mor_op_matvec (b->s, type, mor_vk_view_sub (mor_vk_view (w), d % copies * stride, stride), mor_vk_view (x),
                   none, mor_vk_view_sub (mor_vk_view (y), d * y_stride, rows * 4), rows, cols, 1);
  double s = time_stream (b, error);
  return s < 0 ? -1 : (double) mor_type_row_bytes (type, cols) * rows * n_disp / s / 1e9;
}

/* GFLOP/s of one matmul. */
static double
bench_matmul (Bench *b, MorType type, guint32 m, guint32 k, guint32 n, GError **error)
{
  guint64 stride;
  g_autoptr (MorVkBuffer) w = make_weights (b->dev, type, m, k, 1, &stride, error);
  g_autoptr (MorVkBuffer) x = w ? mor_vk_buffer_new (b->dev, (guint64) n * k * 4, MOR_VK_MEMORY_DEVICE, error) : NULL;
  g_autoptr (MorVkBuffer) y = x ? mor_vk_buffer_new (b->dev, (guint64) n * m * 4, MOR_VK_MEMORY_DEVICE, error) : NULL;
  if (!y)
    return -1;
  g_autofree float *xv = g_new (float, (gsize) n * k);
  for (gsize i = 0; i < (gsize) n * k; i++)
    xv[i] = (float) ((i * 7919u) % 1000) / 1000.0f - 0.5f;
  if (!mor_vk_buffer_upload (x, 0, xv, (guint64) n * k * 4, error))
    return -1;
  MorVkView none = { NULL, 0, 0 };
  mor_vk_stream_begin (b->s);
  mor_op_matmul (b->s, type, mor_vk_view (w), mor_vk_view (x), none, mor_vk_view (y), m, k, n);
  double s = time_stream (b, error);
  return s < 0 ? -1 : 2.0 * m * k * n / s / 1e9;
}

static gboolean
parse_types (const char *list, GArray *types, GError **error)
{
  if (g_strcmp0 (list, "all") == 0)
    list = "f32,f16,bf16,q8_0,q4_0,q4_K,q6_K";
  g_auto (GStrv) names = g_strsplit (list, ",", -1);
  for (guint i = 0; names[i]; i++) {
    MorType t;
    if (!mor_type_from_name (g_strstrip (names[i]), &t)) {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--types: unknown type “%s”", names[i]);
      return FALSE;
    }
    g_array_append_val (types, t);
  }
  return TRUE;
}

int
mor_cli_bench_kernels (int argc, char **argv)
{
  g_autofree char *device = NULL, *type_list = NULL;
  gint repeat = 3, threads = 2;
  gboolean no_matmul = FALSE;
  GOptionEntry entries[] = {
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, "Vulkan device index or name", "DEV" },
    { "types", 't', 0, G_OPTION_ARG_STRING, &type_list, "Weight types, or “all” (default f16,q8_0,q4_K)", "LIST" },
    { "repeat", 'r', 0, G_OPTION_ARG_INT, &repeat, "Replays of each recording; the best counts (default 3)", "N" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "Threads for the host bandwidth measurement (default 2)", "N" },
    { "no-matmul", 0, 0, G_OPTION_ARG_NONE, &no_matmul, "Skip the matrix × matrix figures", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("— matvec and matmul speed per weight type");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) types = g_array_new (FALSE, FALSE, sizeof (MorType));
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 1 || repeat < 1 || threads < 1 ||
      threads > 64 || !parse_types (type_list ? type_list : "f16,q8_0,q4_K", types, &error))
    return mor_cli_usage (ctx, error);

  g_autoptr (MorVkDevice) dev = mor_vk_device_open (device, &error);
  g_autoptr (MorVkStream) s = dev ? mor_vk_stream_new (dev, &error) : NULL;
  if (!s)
    return mor_cli_fail (error);
  Bench b = { dev, s, repeat };
  double host = mor_host_read_bandwidth (threads, (gsize) 1 << 30, 3);
  printf ("device:     %s\n", mor_vk_device_get_info (dev)->name);
  printf ("host read:  %.1f GB/s (%d threads summing 1 GiB, best of 3): the roofline\n\n", host, threads);

  printf ("matvec, GB/s of weights (%% of host read). stream: distinct weights, >= %" G_GUINT64_FORMAT
          " MiB a replay (from DRAM); hot: one weight %d times (cached if it fits)\n",
          STREAM_BYTES >> 20, HOT_DISPATCHES);
  printf ("%-5s %15s %9s %16s %16s\n", "type", "rows x cols", "MiB", "stream", "hot");
  for (guint t = 0; t < types->len; t++) {
    MorType type = g_array_index (types, MorType, t);
    for (guint i = 0; i < G_N_ELEMENTS (matvec_shapes); i++) {
      guint32 rows = matvec_shapes[i].rows, cols = matvec_shapes[i].cols;
      guint64 bytes = mor_type_row_bytes (type, cols) * rows;
      guint copies = (guint) MAX (1, (STREAM_BYTES + bytes - 1) / bytes);
      double stream = bench_matvec (&b, type, rows, cols, copies, MAX (copies, 2), &error);
      double hot = stream < 0 ? -1 : bytes >= STREAM_BYTES ? stream
                 : bench_matvec (&b, type, rows, cols, 1, HOT_DISPATCHES, &error);
      if (hot < 0)
        return mor_cli_fail (error);
      printf ("%-5s %8u x %-6u %9.1f %8.2f (%3.0f%%) %8.2f (%3.0f%%)\n", mor_type_name (type), rows, cols,
              bytes / 1048576.0, stream, 100 * stream / host, hot, 100 * hot / host);
      fflush (stdout);
    }
  }

  if (no_matmul)
    return 0;
  printf ("\nmatmul (prefill), one M x K weight times N tokens: GFLOP/s, and weight GB/s (%% of host read)\n");
  printf ("%-5s %22s %9s %16s\n", "type", "M x K x N", "GFLOP/s", "weights");
  for (guint t = 0; t < types->len; t++) {
    MorType type = g_array_index (types, MorType, t);
    for (guint i = 0; i < G_N_ELEMENTS (matmul_shapes); i++) {
      guint32 m = matmul_shapes[i].m, k = matmul_shapes[i].k, n = matmul_shapes[i].n;
      double gflops = bench_matmul (&b, type, m, k, n, &error);
      if (gflops < 0)
        return mor_cli_fail (error);
      double gbs = gflops * 1e9 / (2.0 * k * n) * mor_type_row_bytes (type, k) / 1e9;
      printf ("%-5s %8u x %5u x %4u %9.1f %8.2f (%3.0f%%)\n", mor_type_name (type), m, k, n, gflops, gbs,
              100 * gbs / host);
      fflush (stdout);
    }
  }
  return 0;
}
