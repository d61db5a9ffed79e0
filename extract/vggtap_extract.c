/* vggtap-extract: runs the frozen VGG16 prefix over every image once and
 * writes the activations at the chosen taps into an HDF5 feature store.
 * The command line is extract_options.c; the store's start (existing store,
 * lock, resume) and its writing are store_writer.h; the threads pipeline.h. */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extract_options.h"
#include "pipeline.h"
#include "shard.h"
#include "store_writer.h"
#include "base/vt_cli.h"
#include "base/vt_common.h"
#include "image/vt_inputs.h"
#include "net/vt_extract.h"
#include "net/vt_weights_find.h"
#include "store/vt_h5.h"

static const vt_program *const program = &vt_extract_program;

/* Atomic, not volatile sig_atomic_t: the handler runs on whichever thread
 * the signal lands on (often a worker) and the writer thread reads the flag;
 * volatile only orders a handler against its own thread (ThreadSanitizer
 * reported the race). A lock-free atomic is also safe in a handler. */
static atomic_int stop_requested;

static void on_signal(int sig) {
  atomic_store(&stop_requested, 1);
  signal(sig, SIG_DFL); /* a second Ctrl-C kills at once; the parts are safe */
}

/* Everything a run holds, released by extraction_free. */
typedef struct {
  vt_inputs in;
  vt_weights w;
  char *command;
  vt_store_meta meta;
  vt_store_layout lay;
  int n_all;        /* rows of the whole run, all shards */
  int lock;         /* store_lock.h, held until exit */
  vt_partial *partial;
  uint8_t *done;    /* [in.n] rows already in OUT.partial/ */
  long long n_done;
  long long *jobs;  /* the rows still to extract */
  long long n_jobs;
} extraction;

static void extraction_free(extraction *x) {
  if (x->lock >= 0) close(x->lock);
  vt_partial_free(x->partial);
  free(x->jobs);
  free(x->done);
  free(x->command);
  vt_weights_free(&x->w);
  vt_inputs_free(&x->in);
}

/* The options, and then the operands: exactly one input, and --out. */
static int read_command_line(int *argc, char ***argv, vt_extract_options *o) {
  if (vt_args_start(program, argc, argv) < 0 || vt_extract_options_parse(*argc, *argv, o) < 0) return -1;
  int sources = !!o->data + !!o->manifest + (o->files || optind < *argc);
  if (sources != 1) return vt_fail("give exactly one input: --data DIR, --manifest CSV or --files IMAGES...");
  if ((o->data || o->manifest) && optind < *argc)
    return vt_fail("unexpected argument '%s'", (*argv)[optind]);
  if (!o->out) return vt_fail("--out STORE.h5 is required");
  /* Caught here, not after the whole extraction failed to rename onto it. */
  if (!o->out[0] || o->out[strlen(o->out) - 1] == '/')
    return vt_fail("--out '%s': give the store's file name, e.g. --out features.h5", o->out);
  return 0;
}

/* What listing the images passed over, each worth a line unless --quiet. */
static void print_input_notes(const vt_inputs *in) {
  const char *name = program->name;
  if (in->n_ignored)
    fprintf(stderr, "%s: note: %d non-image %s ignored (not .jpg/.jpeg/.png/...)\n", name, in->n_ignored,
            vt_plural(in->n_ignored, "file", "files"));
  if (in->n_empty_classes)
    fprintf(stderr, "%s: note: %d %s without image files %s (%s%s)\n", name, in->n_empty_classes,
            vt_plural(in->n_empty_classes, "folder", "folders"),
            vt_plural(in->n_empty_classes, "is not a class", "are not classes"), in->first_empty_class,
            in->n_empty_classes > 1 ? ", ..." : "");
  if (in->n_unreadable_entries)
    fprintf(stderr, "%s: note: %d %s of %s cannot be read, so %s (%s%s)\n", name,
            in->n_unreadable_entries, vt_plural(in->n_unreadable_entries, "entry", "entries"), in->root,
            vt_plural(in->n_unreadable_entries, "is not a class", "are not classes"), in->first_unreadable_entry,
            in->n_unreadable_entries > 1 ? ", ..." : "");
  if (in->n_root_images)
    fprintf(stderr, "%s: note: %d image %s directly in %s ignored (--data takes one sub-folder of "
                    "images per class)\n", name, in->n_root_images,
            vt_plural(in->n_root_images, "file", "files"), in->root);
  if (in->unused_columns)
    fprintf(stderr, "%s: note: %s has no 'label' or 'class' column: every row is unlabelled "
                    "(--label-column NAME names another)\n", name, in->root);
  if (in->n_cycles)
    fprintf(stderr, "%s: note: %d symbolic %s back to a folder being listed not followed\n", name,
            in->n_cycles, vt_plural(in->n_cycles, "link", "links"));
}

static int list_inputs(const vt_extract_options *o, int argc, char **argv, extraction *x) {
  int rc = o->data       ? vt_inputs_from_folders(o->data, &x->in)
           : o->manifest ? vt_inputs_from_manifest(o->manifest, o->label_col, o->split_col, &x->in)
                         : vt_inputs_from_files(argc - optind, argv + optind, &x->in);
  if (rc == 0 && !o->quiet) print_input_notes(&x->in);
  return rc;
}

static int load_weights(const vt_extract_options *o, extraction *x) {
  const vt_extract_config *cfg = &o->net.cfg;
  int n_conv = vt_extract_convs_needed(cfg);
  if (vt_weights_load(o->net.weights, n_conv, &x->w) < 0)
    return vt_fail_prefix("tap %s needs the first %d conv layers",
                          vt_vgg16_layers[cfg->taps[cfg->n_taps - 1]].name, n_conv);
  return 0;
}

/* The store's settings (what a resume compares, and provenance) and
 * layout; for a shard, its rows. */
static int plan_store(const vt_extract_options *o, int argc, char **argv, extraction *x) {
  const vt_extract_config *cfg = &o->net.cfg;
  vt_store_meta *m = &x->meta;
  x->command = vt_join_args(argc, argv);
  *m = (vt_store_meta){.input_height = cfg->height, .input_width = cfg->width,
                       .max_pixels = (long long)cfg->max_pixels, .weights_file = o->net.weights,
                       .source = x->in.source, .data_root = x->in.root, .command = x->command};
  snprintf(m->weights_sha256, sizeof m->weights_sha256, "%s", x->w.sha256);
  vt_extract_taps_text(cfg, m->taps, sizeof m->taps);
  if (o->keep_pooled) vt_extract_grids_text(cfg, m->grids, sizeof m->grids);
  snprintf(m->preprocessing, sizeof m->preprocessing, "%s", vt_preprocess_name(cfg->preprocess));
  snprintf(m->resize, sizeof m->resize, "%s", vt_resize_policy_name(cfg->resize));
  snprintf(m->map_dtype, sizeof m->map_dtype, "%s", !o->keep_maps ? "none" : o->map_half ? "float16" : "float32");
  if (o->keep_maps && o->compress) snprintf(m->compression, sizeof m->compression, "deflate-%d", o->compress);
  else snprintf(m->compression, sizeof m->compression, "none");
  if (o->map_pool > 1) snprintf(m->map_pool, sizeof m->map_pool, "avg%d", o->map_pool);
  else snprintf(m->map_pool, sizeof m->map_pool, "none");
  snprintf(m->augment, sizeof m->augment, "%s", o->mirror ? "flip" : "none");
  vt_store_meta_digest_rows(m, &x->in);
  x->n_all = x->in.n;
  if (o->shard_count && vt_shard_select(m, &x->in, o->shard_index, o->shard_count) < 0) return -1;

  vt_store_layout *lay = &x->lay;
  *lay = (vt_store_layout){.n_sets = cfg->n_taps * (1 + o->mirror), .n_grids = o->keep_pooled ? cfg->n_grids : 0,
                           .maps = o->keep_maps, .pooled = o->keep_pooled, .map_half = o->map_half,
                           .map_pool = o->map_pool, .mirror = o->mirror, .deflate = o->compress};
  for (int s = 0; s < lay->n_sets; s++) {
    int t = s % cfg->n_taps;
    lay->name[s] = vt_vgg16_layers[cfg->taps[t]].name;
    lay->group[s] = s < cfg->n_taps ? "" : "mirror/";
    vt_vgg16_layer_shape(cfg->taps[t], cfg->height, cfg->width, &lay->h[s], &lay->w[s], &lay->c[s]);
    lay->h[s] /= o->map_pool;
    lay->w[s] /= o->map_pool;
  }
  memcpy(lay->grids, cfg->grids, sizeof lay->grids);
  return 0;
}

/* Opens OUT.partial/ (resuming what it holds) and lists the rows left. */
static int open_partial(const vt_extract_options *o, extraction *x) {
  x->done = vt_xmalloc((size_t)x->in.n + 1);
  x->partial = vt_partial_open(o->out, &x->meta, &x->lay, x->done, &x->n_done);
  if (!x->partial) return -1;
  x->jobs = vt_xmalloc(((size_t)x->in.n + 1) * sizeof *x->jobs);
  for (long long r = 0; r < x->in.n; r++)
    if (!x->done[r]) x->jobs[x->n_jobs++] = r;
  return 0;
}

static void print_start(const vt_extract_options *o, const extraction *x) {
  const vt_inputs *in = &x->in;
  fprintf(stderr, "%s: %d images%s, %d classes (%s %s), taps %s, %dx%d, %s resize, %s, %d threads\n",
          program->name, in->n, o->mirror ? " and their mirror images" : "", in->n_classes, in->source,
          in->root, x->meta.taps, o->net.cfg.height, o->net.cfg.width, x->meta.resize,
          x->meta.preprocessing, o->net.threads);
  if (o->shard_count)
    fprintf(stderr, "%s: shard %d/%d: rows %lld..%lld of %d\n", program->name, o->shard_index,
            o->shard_count, x->meta.shard_first_row, x->meta.shard_first_row + in->n - 1, x->n_all);
  if (x->n_done)
    fprintf(stderr, "%s: resuming: %lld %s already done\n", program->name, x->n_done,
            vt_plural(x->n_done, "row", "rows"));
}

/* Runs the pipeline over the rows left: 0 done, 1 interrupted, -1 error. */
static int extract_rows(const vt_extract_options *o, extraction *x) {
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  vt_progress prog;
  vt_progress_start(&prog, "extract", "img", x->in.n, x->n_done, o->quiet);
  vt_pipeline pl = {.cfg = &o->net.cfg, .weights = &x->w, .in = &x->in, .lay = &x->lay,
                    .jobs = x->jobs, .n_jobs = x->n_jobs, .n_threads = o->net.threads,
                    .partial = x->partial, .progress = &prog, .stop = &stop_requested};
  long long ok_now, failed_now;
  int rc = vt_pipeline_run(&pl, &ok_now, &failed_now);
  vt_progress_finish(&prog);
  if (rc == 1)
    fprintf(stderr, "%s: interrupted; %lld of %d rows are safe in %s.partial/. Run the same "
                    "command again to continue.\n", program->name, x->n_done + ok_now + failed_now,
            x->in.n, o->out);
  return rc;
}

/* Writes OUT from the parts and says how it went: the exit status. */
static int finish_store(const vt_extract_options *o, extraction *x) {
  long long n_ok, n_failed;
  if (vt_partial_assemble(x->partial, &x->in, o->out, &n_ok, &n_failed) < 0) return -1;
  if (!o->quiet || n_failed)
    fprintf(stderr, "%s: wrote %s: %lld ok, %lld failed of %d %s\n", program->name, o->out, n_ok,
            n_failed, x->in.n, vt_plural(x->in.n, "image", "images"));
  if (n_failed)
    fprintf(stderr, "%s: the failed rows and their reasons are in %s: /images/status, /images/error\n",
            program->name, o->out);
  return n_ok == 0 || (o->strict && n_failed) ? VT_EXIT_INPUTS_FAILED : VT_EXIT_OK;
}

static int run(const vt_extract_options *o, int argc, char **argv, extraction *x) {
  if (list_inputs(o, argc, argv, x) < 0 || load_weights(o, x) < 0 || plan_store(o, argc, argv, x) < 0)
    return -1;
  int begun = vt_store_begin(o->out, &x->meta, o->overwrite, &x->lock);
  if (begun < 0) return -1;
  if (begun == 1) {
    if (!o->quiet) fprintf(stderr, "%s: %s is complete with these settings; nothing to do\n", program->name, o->out);
    return VT_EXIT_OK;
  }
  if (open_partial(o, x) < 0) return -1;
  if (!o->quiet) print_start(o, x);
  int rc = extract_rows(o, x);
  if (rc != 0) return rc < 0 ? -1 : VT_EXIT_INTERRUPTED;
  return finish_store(o, x);
}

int main(int argc, char **argv) {
  vt_h5_no_close_at_exit();
  vt_extract_options o;
  if (read_command_line(&argc, &argv, &o) < 0) return vt_exit_usage(program);
  if (!o.net.threads) o.net.threads = vt_cpu_count();
  /* A missing weights file is an error of the setup, not of the command line. */
  if (!(o.net.weights = vt_weights_find(o.net.weights, 1, vt_extract_convs_needed(&o.net.cfg)))) return vt_exit_error(program);
  extraction x = {.lock = -1};
  int rc = run(&o, argc, argv, &x);
  if (rc < 0) {
    rc = vt_exit_error(program);
    if (x.partial)
      fprintf(stderr, "%s: %lld of %d rows are safe in %s.partial/; fix the cause (e.g. free disk "
                      "space) and run the same command again to continue.\n",
              program->name, vt_partial_rows_safe(x.partial), x.in.n, o.out);
  }
  extraction_free(&x);
  return rc;
}
