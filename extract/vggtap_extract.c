/* vggtap-extract: runs the frozen VGG16 prefix over every image once and
 * writes the activations at the chosen taps into an HDF5 feature store. */
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "pipeline.h"
#include "shard.h"
#include "store_lock.h"
#include "store_writer.h"
#include "base/vt_cli.h"
#include "base/vt_common.h"
#include "base/vt_cpu.h"
#include "base/vt_config.h"
#include "net/vt_extract.h"
#include "store/vt_h5.h"
#include "image/vt_inputs.h"
#include "net/vt_weights_find.h"

enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_USAGE = 2, EXIT_ROWS_FAILED = 3, EXIT_INTERRUPTED = 130 };

static const char usage[] =
    "usage: vggtap-extract --weights FILE (--data DIR | --manifest CSV | --files IMAGE|DIR...)\n"
    "                      --tap LAYER[,LAYER...] --out STORE.h5 [options]\n"
    "\n"
    "Runs the frozen Keras VGG16 prefix once over every image and stores the\n"
    "activations at the tapped layers in an HDF5 feature store (docs/STORE.md).\n"
    "\n"
    "Input (one of):\n"
    "  --data DIR            one sub-folder per class; labels = sorted folder names\n"
    "  --manifest CSV        CSV with a header: path,label[,split] (paths relative to the CSV)\n"
    "  --label-column NAME   manifest column holding the label (default: label, else class)\n"
    "  --split-column NAME   manifest column holding the split (default: split, if present)\n"
    "  --files               the remaining arguments are images or folders (unlabelled)\n"
    "\n"
    "Network:\n"
    "  --weights FILE        Keras VGG16 weights .h5 (default: $VGGTAP_WEIGHTS, else the Keras\n"
    "                        cache ~/.keras/models/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5);\n"
    "                        a file holding only the first layers works for taps inside them\n"
    "  --tap LIST            layers to store, e.g. block1_pool,block2_pool (default block1_pool);\n"
    "                        any of block1_conv1 .. block5_conv3, block1_pool .. block5_pool.\n"
    "                        The network runs only as deep as the deepest tap.\n"
    "  --size N|HxW          network input size (default 224)\n"
    "  --resize POLICY       antialias (default: PIL-style antialiased bilinear), nearest\n"
    "                        (what Keras load_img does by default), or dct-antialias: JPEGs\n"
    "                        at least twice the input size are shrunk 2/4/8x while decoding\n"
    "                        (libjpeg DCT scaling, as PIL's draft), then antialias; faster\n"
    "  --preprocess MODE     caffe (default; Keras VGG16: BGR minus [103.939,116.779,123.68])\n"
    "                        or torch (RGB /255, ImageNet mean/std)\n"
    "  --max-pixels N        refuse images larger than N pixels (default 178956970)\n"
    "\n"
    "Store:\n"
    "  --out STORE.h5        the feature store to write (resumed if a run was interrupted)\n"
    "  --store WHAT          pooled (default), maps, or maps,pooled: at block1_pool pooled\n"
    "                        vectors are 11 KB per image (default grids), float32 maps\n"
    "                        3.2 MB (12.8 MB at block1_conv1/2)\n"
    "  --grids LIST          pooling grids for pooled vectors: average and max over a GxG\n"
    "                        grid each (default 1,2,4: GAP/GMP, 2x2 and 4x4, those that fit\n"
    "                        every tap's map)\n"
    "  --map-dtype T         float32 (default) or float16 for stored maps\n"
    "  --compress L          shuffle + deflate level 1-9 for maps (default 0: none)\n"
    "  --overwrite           replace an existing or partial store made with other settings\n"
    "\n"
    "Run:\n"
    "  --config FILE         take options from the [extract] section (and `weights` in\n"
    "                        [vggtap]) of an INI file (docs/CONFIG.md); flags given here win\n"
    "  --threads N           worker threads, one image each (default: all cores)\n"
    "  --shard I/N           extract only shard I of N (0 <= I < N): a fixed contiguous block\n"
    "                        of the rows; vggtap-merge joins the N shard stores into one\n"
    "                        (docs/SCALING.md)\n"
    "  --strict              exit 3 if any image failed (default: only if all failed)\n"
    "  --quiet               no progress output\n"
    "  --help, --version\n"
    "\n"
    "Bad images (truncated, corrupt, unsupported, too large) become failed rows with\n"
    "the reason in /images/error; the run goes on and ends with a summary.\n"
    "Interrupting (Ctrl-C, SIGTERM, or even kill -9) loses at most the last 30 s of\n"
    "work: run the same command again to continue. One extractor per store: a second\n"
    "one on the same --out is refused while the first runs.\n"
    "\n"
    "Exit status: 0 store complete; 1 error (nothing lost: bad weights, store made with\n"
    "other settings, another extractor on the store, a full disk or other I/O error);\n"
    "2 bad usage; 3 store complete but every image failed (or any, with --strict);\n"
    "130 stopped by Ctrl-C or SIGTERM (run again to resume). docs/RELIABILITY.md.\n";

/* Atomic, not volatile sig_atomic_t: the handler runs on whichever thread
 * the signal lands on (often a worker) and the writer thread reads the flag;
 * volatile only orders a handler against its own thread (ThreadSanitizer
 * reported the race). A lock-free atomic is also safe in a handler. */
static atomic_int stop_requested;

static void on_signal(int sig) {
  atomic_store(&stop_requested, 1);
  signal(sig, SIG_DFL); /* a second Ctrl-C kills at once; the parts are safe */
}

typedef struct {
  const char *weights, *data, *manifest, *out, *taps, *store, *grids, *map_dtype, *label_col,
      *split_col;
  int files, threads, compress, overwrite, strict, quiet;
  int shard_index, shard_count; /* shard_count 0: the whole run */
  vt_extract_config cfg;
} options;

/* At file scope: vt_config_apply checks config keys against it too. */
static const struct option longopts[] = {
    {"weights", required_argument, 0, 'w'}, {"data", required_argument, 0, 'd'},
    {"manifest", required_argument, 0, 'm'}, {"files", no_argument, 0, 'F'},
    {"tap", required_argument, 0, 't'}, {"out", required_argument, 0, 'o'},
    {"store", required_argument, 0, 's'}, {"grids", required_argument, 0, 'g'},
    {"map-dtype", required_argument, 0, 'D'}, {"compress", required_argument, 0, 'z'},
    {"size", required_argument, 0, 'S'}, {"resize", required_argument, 0, 'r'},
    {"preprocess", required_argument, 0, 'p'}, {"max-pixels", required_argument, 0, 'M'},
    {"threads", required_argument, 0, 'j'}, {"overwrite", no_argument, 0, 'O'},
    {"strict", no_argument, 0, 'T'}, {"quiet", no_argument, 0, 'q'},
    {"label-column", required_argument, 0, 'L'}, {"split-column", required_argument, 0, 'P'},
    {"shard", required_argument, 0, 'H'}, {"help", no_argument, 0, 'h'},
    {"version", no_argument, 0, 'V'}, {0, 0, 0, 0}};

static int parse_options(int argc, char **argv, options *o) {
  memset(o, 0, sizeof *o);
  vt_extract_config_default(&o->cfg);
  o->taps = "block1_pool";
  o->store = "pooled";
  o->map_dtype = "float32";
  o->threads = vt_cpu_count();
  for (int c; (c = getopt_long(argc, argv, "", longopts, NULL)) != -1;) {
    long v;
    switch (c) {
      case 'w': o->weights = optarg; break;
      case 'd': o->data = optarg; break;
      case 'm': o->manifest = optarg; break;
      case 'F': o->files = 1; break;
      case 't': o->taps = optarg; break;
      case 'o': o->out = optarg; break;
      case 's': o->store = optarg; break;
      case 'g': o->grids = optarg; break;
      case 'D': o->map_dtype = optarg; break;
      case 'L': o->label_col = optarg; break;
      case 'P': o->split_col = optarg; break;
      case 'z':
        if (vt_parse_long(optarg, 0, 9, "--compress", &v) < 0) return -1;
        o->compress = (int)v;
        break;
      case 'S':
        if (vt_parse_size(optarg, "--size", &o->cfg.height, &o->cfg.width) < 0) return -1;
        break;
      case 'r':
        if (vt_resize_policy_parse(optarg, &o->cfg.resize) < 0)
          return vt_fail("--resize: unknown policy '%s' (antialias, nearest or dct-antialias)", optarg);
        break;
      case 'p':
        if (vt_preprocess_parse(optarg, &o->cfg.preprocess) < 0)
          return vt_fail("--preprocess: unknown mode '%s' (caffe or torch)", optarg);
        break;
      case 'M':
        if (vt_parse_long(optarg, 1, 1L << 40, "--max-pixels", &v) < 0) return -1;
        o->cfg.max_pixels = (size_t)v;
        break;
      case 'j':
        if (vt_parse_long(optarg, 1, 256, "--threads", &v) < 0) return -1;
        o->threads = (int)v;
        break;
      case 'H':
        if (vt_shard_parse(optarg, &o->shard_index, &o->shard_count) < 0) return vt_fail_prefix("--shard");
        break;
      case 'O': o->overwrite = 1; break;
      case 'T': o->strict = 1; break;
      case 'q': o->quiet = 1; break;
      case 'h': fputs(usage, stdout); exit(EXIT_OK);
      case 'V': vt_cpu_print_version("vggtap-extract"); exit(EXIT_OK);
      default: return vt_fail("see --help");
    }
  }
  int sources = !!o->data + !!o->manifest + (o->files || optind < argc);
  if (sources != 1) return vt_fail("give exactly one input: --data DIR, --manifest CSV or --files IMAGES...");
  if ((o->data || o->manifest) && optind < argc)
    return vt_fail("unexpected argument '%s'", argv[optind]);
  if (!o->out) return vt_fail("--out STORE.h5 is required");
  /* Caught here, not after the whole extraction failed to rename onto it. */
  if (!o->out[0] || o->out[strlen(o->out) - 1] == '/')
    return vt_fail("--out '%s': give the store's file name, e.g. --out features.h5", o->out);
  if (vt_extract_parse_taps(&o->cfg, o->taps) < 0) return vt_fail_prefix("--tap");
  if (o->grids && vt_extract_parse_grids(&o->cfg, o->grids) < 0) return vt_fail_prefix("--grids");
  if (!o->grids) vt_extract_fit_grids(&o->cfg);
  if (strcmp(o->map_dtype, "float32") && strcmp(o->map_dtype, "float16"))
    return vt_fail("--map-dtype: '%s' is not float32 or float16", o->map_dtype);
  if (strcmp(o->store, "pooled") && strcmp(o->store, "maps") && strcmp(o->store, "maps,pooled") &&
      strcmp(o->store, "pooled,maps"))
    return vt_fail("--store: '%s' is not pooled, maps or maps,pooled", o->store);
  return vt_extract_config_check(&o->cfg);
}

static void print_failures(const char *out, long long n_failed) {
  if (n_failed == 0) return;
  fprintf(stderr, "vggtap-extract: the failed rows and their reasons are in %s: /images/status, "
                  "/images/error\n", out);
}

int main(int argc, char **argv) {
  vt_h5_no_close_at_exit();
  options o;
  if (vt_config_apply(&argc, &argv, "extract", longopts) < 0 || parse_options(argc, argv, &o) < 0) {
    fprintf(stderr, "vggtap-extract: %s\n", vt_config_annotate(vt_failure_reason()));
    return EXIT_USAGE;
  }
  /* A missing weights file is an error of the setup, not of the command line. */
  if (!(o.weights = vt_weights_find(o.weights, 1))) {
    fprintf(stderr, "vggtap-extract: %s\n", vt_failure_reason());
    return EXIT_ERROR;
  }
  vt_extract_config *cfg = &o.cfg;
  int store_maps = strstr(o.store, "maps") != NULL, store_pooled = strstr(o.store, "pooled") != NULL;

  vt_inputs in;
  int lrc = o.data       ? vt_inputs_from_folders(o.data, &in)
            : o.manifest ? vt_inputs_from_manifest(o.manifest, o.label_col, o.split_col, &in)
                         : vt_inputs_from_files(argc - optind, argv + optind, &in);
  if (lrc < 0) {
    fprintf(stderr, "vggtap-extract: %s\n", vt_failure_reason());
    return EXIT_ERROR;
  }
  if (in.n_ignored && !o.quiet)
    fprintf(stderr, "vggtap-extract: note: %d non-image files ignored (not .jpg/.jpeg/.png/...)\n",
            in.n_ignored);
  if (in.n_empty_classes && !o.quiet)
    fprintf(stderr, "vggtap-extract: note: %d folders without image files are not classes (%s%s)\n",
            in.n_empty_classes, in.first_empty_class, in.n_empty_classes > 1 ? ", ..." : "");
  if (in.n_unreadable_entries && !o.quiet)
    fprintf(stderr, "vggtap-extract: note: %d entries of %s cannot be read, so are not classes (%s%s)\n",
            in.n_unreadable_entries, in.root, in.first_unreadable_entry,
            in.n_unreadable_entries > 1 ? ", ..." : "");
  if (in.n_root_images && !o.quiet)
    fprintf(stderr, "vggtap-extract: note: %d image files directly in %s ignored (--data takes one "
                    "sub-folder of images per class)\n", in.n_root_images, in.root);
  if (in.unused_columns && !o.quiet)
    fprintf(stderr, "vggtap-extract: note: %s has no 'label' or 'class' column: every row is "
                    "unlabelled (--label-column NAME names another)\n", in.root);
  if (in.n_cycles && !o.quiet)
    fprintf(stderr, "vggtap-extract: note: %d symbolic links back to a folder being listed not followed\n",
            in.n_cycles);

  vt_weights w;
  int n_conv = vt_extract_convs_needed(cfg);
  if (vt_weights_load(o.weights, n_conv, &w) < 0) {
    fprintf(stderr, "vggtap-extract: tap %s needs the first %d conv layers: %s\n",
            vt_vgg16_layers[cfg->taps[cfg->n_taps - 1]].name, n_conv, vt_failure_reason());
    vt_inputs_free(&in);
    return EXIT_ERROR;
  }

  char *command = vt_join_args(argc, argv);
  vt_store_meta meta = {.input_height = cfg->height, .input_width = cfg->width,
                        .max_pixels = (long long)cfg->max_pixels, .weights_file = o.weights,
                        .source = in.source, .data_root = in.root, .command = command};
  snprintf(meta.weights_sha256, sizeof meta.weights_sha256, "%s", w.sha256);
  vt_extract_taps_text(cfg, meta.taps, sizeof meta.taps);
  if (store_pooled) vt_extract_grids_text(cfg, meta.grids, sizeof meta.grids);
  snprintf(meta.preprocessing, sizeof meta.preprocessing, "%s", vt_preprocess_name(cfg->preprocess));
  snprintf(meta.resize, sizeof meta.resize, "%s", vt_resize_policy_name(cfg->resize));
  snprintf(meta.map_dtype, sizeof meta.map_dtype, "%s", store_maps ? o.map_dtype : "none");
  if (store_maps && o.compress) snprintf(meta.compression, sizeof meta.compression, "deflate-%d", o.compress);
  else snprintf(meta.compression, sizeof meta.compression, "none");
  vt_store_meta_digest_rows(&meta, &in);
  int n_all = in.n;
  if (o.shard_count && vt_shard_select(&meta, &in, o.shard_index, o.shard_count) < 0) {
    fprintf(stderr, "vggtap-extract: %s\n", vt_failure_reason());
    free(command);
    vt_weights_free(&w);
    vt_inputs_free(&in);
    return EXIT_ERROR;
  }

  vt_store_layout lay = {.n_taps = cfg->n_taps, .n_grids = store_pooled ? cfg->n_grids : 0,
                         .maps = store_maps, .pooled = store_pooled,
                         .map_half = !strcmp(o.map_dtype, "float16"), .deflate = o.compress};
  for (int t = 0; t < cfg->n_taps; t++) {
    lay.name[t] = vt_vgg16_layers[cfg->taps[t]].name;
    vt_vgg16_layer_shape(cfg->taps[t], cfg->height, cfg->width, &lay.h[t], &lay.w[t], &lay.c[t]);
  }
  memcpy(lay.grids, cfg->grids, sizeof lay.grids);

  int rc = EXIT_ERROR;
  vt_partial *partial = NULL;
  long long *jobs = NULL;
  uint8_t *done = NULL;
  int lock = -1;
  /* Checking a store only reads it, so without OUT.partial/ (no run going
   * on or stopped) it comes before the lock: a rerun on a complete store in
   * a directory this user cannot write (a read-only share) has nothing to
   * do, and one with other settings is refused naming them. */
  int existing = o.overwrite || vt_store_partial_exists(o.out) ? 0 : vt_store_check_existing(o.out, &meta);
  if (existing < 0) goto fail;
  if (existing == 0) {
    lock = vt_store_lock(o.out); /* held until exit */
    if (lock < 0) goto fail;
    if (o.overwrite && vt_store_remove(o.out) < 0) goto fail;
    existing = vt_store_check_existing(o.out, &meta);
    if (existing < 0) {
      vt_store_remove_lock_only_partial(o.out); /* a refusal touches nothing */
      goto fail;
    }
    if (existing == 1) vt_store_remove_partial(o.out); /* left if killed just after the rename */
  }
  if (existing == 1) {
    if (!o.quiet) fprintf(stderr, "vggtap-extract: %s is complete with these settings; nothing to do\n", o.out);
    rc = EXIT_OK;
    goto out;
  }
  done = vt_xmalloc((size_t)in.n);
  long long n_done = 0;
  partial = vt_partial_open(o.out, &meta, &lay, done, &n_done);
  if (!partial) goto fail;
  jobs = vt_xmalloc((size_t)in.n * sizeof *jobs);
  long long n_jobs = 0;
  for (long long r = 0; r < in.n; r++)
    if (!done[r]) jobs[n_jobs++] = r;
  if (!o.quiet) {
    fprintf(stderr, "vggtap-extract: %d images, %d classes (%s %s), taps %s, %dx%d, %s resize, %s, %d threads\n",
            in.n, in.n_classes, in.source, in.root, meta.taps, cfg->height, cfg->width, meta.resize,
            meta.preprocessing, o.threads);
    if (o.shard_count)
      fprintf(stderr, "vggtap-extract: shard %d/%d: rows %lld..%lld of %d\n", o.shard_index,
              o.shard_count, meta.shard_first_row, meta.shard_first_row + in.n - 1, n_all);
    if (n_done) fprintf(stderr, "vggtap-extract: resuming: %lld rows already done\n", n_done);
  }

  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  vt_progress prog;
  vt_progress_start(&prog, "extract", "img", in.n, n_done, o.quiet);
  vt_pipeline pl = {.cfg = cfg, .weights = &w, .in = &in, .lay = &lay, .jobs = jobs,
                    .n_jobs = n_jobs, .n_threads = o.threads, .partial = partial,
                    .progress = &prog, .stop = &stop_requested};
  long long ok_now, failed_now;
  int prc = vt_pipeline_run(&pl, &ok_now, &failed_now);
  vt_progress_finish(&prog);
  if (prc < 0) goto fail;
  if (prc == 1) {
    fprintf(stderr, "vggtap-extract: interrupted; %lld of %d rows are safe in %s.partial/. "
                    "Run the same command again to continue.\n", n_done + ok_now + failed_now, in.n, o.out);
    rc = EXIT_INTERRUPTED;
    goto out;
  }
  long long n_ok, n_failed;
  if (vt_partial_assemble(partial, &in, o.out, &n_ok, &n_failed) < 0) goto fail;
  if (!o.quiet || n_failed) {
    fprintf(stderr, "vggtap-extract: wrote %s: %lld ok, %lld failed of %d images\n", o.out, n_ok,
            n_failed, in.n);
    print_failures(o.out, n_failed);
  }
  rc = (n_ok == 0 || (o.strict && n_failed)) ? EXIT_ROWS_FAILED : EXIT_OK;
  goto out;
fail:
  fprintf(stderr, "vggtap-extract: %s\n", vt_failure_reason());
  if (partial)
    fprintf(stderr, "vggtap-extract: %lld of %d rows are safe in %s.partial/; fix the cause (e.g. "
                    "free disk space) and run the same command again to continue.\n",
            vt_partial_rows_safe(partial), in.n, o.out);
  rc = EXIT_ERROR;
out:
  if (lock >= 0) close(lock);
  vt_partial_free(partial);
  free(jobs);
  free(done);
  free(command);
  vt_weights_free(&w);
  vt_inputs_free(&in);
  return rc;
}
