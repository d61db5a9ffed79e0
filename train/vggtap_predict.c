/* vggtap-predict: top-k classes for images (running only the VGG16 prefix the
 * head needs, through the same pipeline as vggtap-extract) or for the rows of
 * an existing store (no re-extraction). Refuses inputs whose features would
 * not be what the head was trained on, and says why. */
#include <blis.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "base/vt_cpu.h"
#include "base/vt_config.h"
#include "net/vt_extract.h"
#include "vt_features.h"
#include "store/vt_h5.h"
#include "vt_head_file.h"
#include "image/vt_inputs.h"
#include "vt_standardize.h"
#include "store/vt_store_read.h"
#include "store/vt_store_schema.h"
#include "vt_trainer.h"
#include "net/vt_vgg.h"
#include "net/vt_weights_find.h"
#include "base/vt_cli.h"
#include "base/vt_text.h"

enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_USAGE = 2, EXIT_IMAGES_FAILED = 3 };

static const char usage[] =
    "usage: vggtap-predict --weights FILE --head HEAD.h5 [options] IMAGE|DIR...\n"
    "       vggtap-predict --head HEAD.h5 --store STORE.h5 [options]\n"
    "\n"
    "Prints the top-k classes of each image with their probabilities. Runs the\n"
    "Keras VGG16 prefix only up to the head's deepest tap, pools and concatenates\n"
    "the taps as the head was trained (its recipe, e.g. block1_pool/avg1,block2_pool/max4),\n"
    "standardises with the head's statistics and applies the head. With --store,\n"
    "predicts every row of an existing feature store without re-extracting.\n"
    "\n"
    "Input:\n"
    "  IMAGE|DIR...          images (JPEG, PNG) and folders of images (recursive, sorted)\n"
    "  --list FILE           also read image paths from FILE, one per line\n"
    "  --store FILE          predict the rows of this feature store instead\n"
    "\n"
    "Model:\n"
    "  --head FILE           head file written by vggtap-train (required)\n"
    "  --weights FILE        Keras VGG16 weights .h5 (default: $VGGTAP_WEIGHTS, else the Keras\n"
    "                        cache ~/.keras/models/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5);\n"
    "                        must be the file the head's store was extracted with (same sha256)\n"
    "  --size N|HxW, --resize POLICY, --preprocess MODE\n"
    "                        optional: if given, must equal what the head was trained\n"
    "                        with (it records them); a mismatch is refused\n"
    "\n"
    "Output:\n"
    "  --top K               classes per image (default 5, at most the head's classes)\n"
    "  --format F            csv (default) or json\n"
    "  --out FILE            write there (atomically) instead of standard output\n"
    "  --strict              exit 3 if any image failed, or any --store row failed extraction\n"
    "                        (default: only if all did)\n"
    "  --threads N           images predicted in parallel (default: all cores)\n"
    "  --config FILE         options from the [predict] section (and `weights` in [vggtap])\n"
    "                        of an INI file (docs/CONFIG.md); flags given here win\n"
    "  --help, --version\n"
    "\n"
    "CSV columns: path, [true_class (--store),] class_1, probability_1, ...,\n"
    "class_K, probability_K, error (empty unless the image could not be read).\n"
    "\n"
    "Exit status: 0 success, 1 error (bad head, weights, store or a mismatch),\n"
    "2 usage, 3 images failed (all of them, or any with --strict; with --store, rows whose\n"
    "extraction failed).\n";

typedef struct {
  const char *head, *weights, *store, *list, *format, *out, *size, *resize, *preprocess;
  int top, strict, threads;
  int n_inputs;
  char **inputs;
} options;

static int usage_error(const char *fmt, const char *arg) {
  char msg[1024];
  snprintf(msg, sizeof msg, fmt, arg);
  fprintf(stderr, "vggtap-predict: %s\n(see vggtap-predict --help)\n", vt_config_annotate(msg));
  return EXIT_USAGE;
}

static int parse_args(int argc, char **argv, options *o) {
  memset(o, 0, sizeof *o);
  o->top = 5;
  o->format = "csv";
  enum { O_HEAD = 256, O_WEIGHTS, O_STORE, O_LIST, O_TOP, O_FORMAT, O_OUT, O_SIZE, O_RESIZE,
         O_PRE, O_STRICT, O_THREADS, O_HELP, O_VERSION };
  static const struct option longopts[] = {
      {"head", 1, 0, O_HEAD}, {"weights", 1, 0, O_WEIGHTS}, {"store", 1, 0, O_STORE},
      {"list", 1, 0, O_LIST}, {"top", 1, 0, O_TOP}, {"format", 1, 0, O_FORMAT},
      {"out", 1, 0, O_OUT}, {"size", 1, 0, O_SIZE}, {"resize", 1, 0, O_RESIZE},
      {"preprocess", 1, 0, O_PRE}, {"strict", 0, 0, O_STRICT}, {"threads", 1, 0, O_THREADS}, {"help", 0, 0, O_HELP},
      {"version", 0, 0, O_VERSION}, {0, 0, 0, 0}};
  if (vt_config_apply(&argc, &argv, "predict", longopts) < 0) return usage_error("%s", vt_failure_reason());
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case O_HEAD: o->head = optarg; break;
    case O_WEIGHTS: o->weights = optarg; break;
    case O_STORE: o->store = optarg; break;
    case O_LIST: o->list = optarg; break;
    case O_TOP: {
      long v;
      if (vt_parse_long(optarg, 1, 100000, "--top", &v) < 0) return usage_error("%s", vt_failure_reason());
      o->top = (int)v;
      break;
    }
    case O_FORMAT:
      if (strcmp(optarg, "csv") && strcmp(optarg, "json")) return usage_error("--format is csv or json, not '%s'", optarg);
      o->format = optarg;
      break;
    case O_OUT: o->out = optarg; break;
    case O_SIZE: o->size = optarg; break;
    case O_RESIZE: o->resize = optarg; break;
    case O_PRE: o->preprocess = optarg; break;
    case O_STRICT: o->strict = 1; break;
    case O_THREADS: {
      long v;
      if (vt_parse_long(optarg, 1, 1024, "--threads", &v) < 0) return usage_error("%s", vt_failure_reason());
      o->threads = (int)v;
      break;
    }
    case O_HELP: fputs(usage, stdout); return EXIT_OK;
    case O_VERSION: vt_cpu_print_version("vggtap-predict"); return EXIT_OK;
    default: return usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
    }
  }
  o->n_inputs = argc - optind;
  o->inputs = argv + optind;
  if (!o->head) return usage_error("%s", "--head is required");
  if (o->store && (o->n_inputs || o->list)) return usage_error("%s", "--store predicts a store's rows: give no images with it");
  if (!o->store && !o->n_inputs && !o->list) return usage_error("%s", "no images given (IMAGE|DIR..., --list FILE or --store FILE)");
  /* the predictions would replace an input */
  if (o->out && vt_same_file(o->out, o->head)) return usage_error("--out %s is the --head file", o->out);
  if (o->out && o->store && vt_same_file(o->out, o->store)) return usage_error("--out %s is the --store file", o->out);
  if (o->out && o->list && vt_same_file(o->out, o->list)) return usage_error("--out %s is the --list file", o->out);
  return -1;
}

/* One prediction: the top classes of a row, or its error. */
typedef struct {
  const char *path, *error, *true_class; /* error, true_class: NULL unless any */
  int *top;
  float *prob;
} prediction;

/* What write_predictions writes: n predictions of k classes each. */
typedef struct {
  const options *o;
  const vt_head_file *hf;
  const prediction *p;
  int n, k, with_truth; /* with_truth: a true_class column (--store rows) */
} predictions;

static int write_predictions(FILE *f, const void *arg) {
  const predictions *w = arg;
  const options *o = w->o;
  const vt_head_file *hf = w->hf;
  const prediction *p = w->p;
  int n = w->n, k = w->k, with_truth = w->with_truth;
  if (strcmp(o->format, "csv") == 0) {
    fprintf(f, "path%s", with_truth ? ",true_class" : "");
    for (int j = 1; j <= k; j++) fprintf(f, ",class_%d,probability_%d", j, j);
    fprintf(f, ",error\n");
    for (int i = 0; i < n; i++) {
      vt_csv_field(f, p[i].path);
      if (with_truth) {
        fputc(',', f);
        vt_csv_field(f, p[i].true_class ? p[i].true_class : "");
      }
      for (int j = 0; j < k; j++) {
        if (p[i].error) {
          fputs(",,", f);
          continue;
        }
        fputc(',', f);
        vt_csv_field(f, hf->classes[p[i].top[j]]);
        fprintf(f, ",%.6f", p[i].prob[j]);
      }
      fputc(',', f);
      vt_csv_field(f, p[i].error ? p[i].error : "");
      fputc('\n', f);
    }
    return 0;
  }
  fprintf(f, "{\n  \"head\": ");
  vt_json_string(f, o->head);
  fprintf(f, ",\n  \"tap\": ");
  vt_json_string(f, hf->tap);
  fprintf(f, ",\n  \"pooling\": ");
  vt_json_string(f, hf->pooling);
  fprintf(f, ",\n  \"features\": ");
  vt_json_string(f, hf->features);
  fprintf(f, ",\n  \"predictions\": [");
  for (int i = 0; i < n; i++) {
    fprintf(f, "%s\n    {\"path\": ", i ? "," : "");
    vt_json_string(f, p[i].path);
    if (with_truth) {
      fprintf(f, ", \"true_class\": ");
      if (p[i].true_class) vt_json_string(f, p[i].true_class);
      else fprintf(f, "null");
    }
    if (p[i].error) {
      fprintf(f, ", \"error\": ");
      vt_json_string(f, p[i].error);
      fputc('}', f);
      continue;
    }
    fprintf(f, ", \"top\": [");
    for (int j = 0; j < k; j++) {
      fprintf(f, "%s{\"class\": ", j ? ", " : "");
      vt_json_string(f, hf->classes[p[i].top[j]]);
      fprintf(f, ", \"probability\": %.6f}", p[i].prob[j]);
    }
    fprintf(f, "]}");
  }
  fprintf(f, "\n  ]\n}\n");
  return 0;
}

/* Writes to o->out atomically, or to stdout. */
static int emit(const options *o, const vt_head_file *hf, const prediction *p, int n, int k,
                int with_truth) {
  predictions w = {o, hf, p, n, k, with_truth};
  if (o->out) return vt_write_file_atomic(o->out, write_predictions, &w);
  write_predictions(stdout, &w);
  return fflush(stdout) == 0 ? 0 : vt_fail("cannot write standard output");
}

enum { FAILURES_LISTED = 10 };

/* After the output is written: how many inputs failed, and the first few
 * by name with their reason (the error column has them all). */
static void report_failures(const options *o, const prediction *p, int n, int n_failed) {
  if (!n_failed) return;
  if (o->store)
    fprintf(stderr, "vggtap-predict: %d of %d rows of %s failed extraction (see the error column):\n",
            n_failed, n, o->store);
  else
    fprintf(stderr, "vggtap-predict: %d of %d images could not be read (see the error column):\n",
            n_failed, n);
  for (int i = 0, listed = 0; i < n && listed < FAILURES_LISTED; i++)
    if (p[i].error) {
      fprintf(stderr, "  %s: %s\n", p[i].path, p[i].error);
      listed++;
    }
  if (n_failed > FAILURES_LISTED) fprintf(stderr, "  ... and %d more\n", n_failed - FAILURES_LISTED);
}

/* Sorts class indices by probability (ties: lower index first) and keeps k. */
static void top_k(const float *probs, int n_classes, int k, int *top, float *prob) {
  for (int j = 0; j < k; j++) {
    int best = -1;
    for (int c = 0; c < n_classes; c++) {
      int used = 0;
      for (int i = 0; i < j; i++) used |= top[i] == c;
      if (!used && (best < 0 || probs[c] > probs[best])) best = c;
    }
    top[j] = best;
    prob[j] = probs[best];
  }
}

/* The settings the head was trained with must equal what we are given. */
static int check_setting(const char *what, const char *given, const char *head_has) {
  if (given && strcmp(given, head_has) != 0)
    return vt_fail("the head was trained on features with %s %s; --%s %s was given: refusing "
                   "(predictions would be meaningless)", what, head_has, what, given);
  return 0;
}

/* --size, --resize and --preprocess, where given, must be the head's, whether
 * the features come from images or from a --store. */
static int check_given_settings(const options *o, const vt_head_file *hf) {
  if (o->size) {
    int h, w;
    if (vt_parse_size(o->size, "--size", &h, &w) < 0) return -1;
    if (h != hf->input_height || w != hf->input_width)
      return vt_fail("the head was trained on %dx%d inputs; --size %s was given: refusing",
                     hf->input_height, hf->input_width, o->size);
  }
  if (check_setting("resize", o->resize, hf->resize) < 0 ||
      check_setting("preprocess", o->preprocess, hf->preprocessing) < 0)
    return -1;
  return 0;
}

static int head_config(const options *o, const vt_head_file *hf, const vt_recipe *r,
                       vt_extract_config *cfg) {
  vt_extract_config_default(cfg);
  char taps[VT_RECIPE_MAX_PARTS][VT_TAP_NAME_MAX], list[VT_RECIPE_MAX_PARTS * VT_TAP_NAME_MAX] = "";
  int n_taps = vt_recipe_taps(r, taps);
  for (int t = 0; t < n_taps; t++) {
    if (vt_vgg16_layer_index(taps[t]) < 0)
      return vt_fail("the head's tap '%s' is not a VGG16 layer", taps[t]);
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", t ? "," : "", taps[t]);
  }
  if (vt_extract_parse_taps(cfg, list) < 0) return -1;
  cfg->height = hf->input_height;
  cfg->width = hf->input_width;
  if (vt_resize_policy_parse(hf->resize, &cfg->resize) < 0)
    return vt_fail("the head's resize policy '%s' is unknown", hf->resize);
  if (vt_preprocess_parse(hf->preprocessing, &cfg->preprocess) < 0)
    return vt_fail("the head's preprocessing '%s' is unknown", hf->preprocessing);
  /* the distinct grids of the recipe, ascending */
  cfg->n_grids = 0;
  for (int g = 1; g <= 64; g++)
    for (int i = 0; i < r->n; i++)
      if (r->part[i].grid == g) {
        if (cfg->n_grids == VT_MAX_GRIDS) return vt_fail("the head's pooling uses too many grids");
        cfg->grids[cfg->n_grids++] = g;
        break;
      }
  return vt_extract_config_check(cfg);
}

static int read_list(const char *path, int *n, char ***items) {
  FILE *f = fopen(path, "r");
  if (!f) return vt_fail("cannot open --list %s: %s", path, strerror(errno));
  char line[4096];
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = '\0';
    if (!line[0]) continue;
    *items = vt_xrealloc(*items, sizeof(char *) * ((size_t)*n + 1));
    (*items)[(*n)++] = vt_xstrdup(line);
  }
  fclose(f);
  return 0;
}

/* Images are predicted by worker threads, one image at a time each (as the
 * extractor parallelises), taking the next index from a shared counter;
 * results land in p[i], so the output order is the input order. */
typedef struct {
  const vt_head_file *hf;
  const vt_recipe *recipe;
  /* part k of the recipe is the extractor's tap part_tap[k], grid part_grid[k] */
  int part_tap[VT_RECIPE_MAX_PARTS], part_grid[VT_RECIPE_MAX_PARTS];
  const vt_extract_config *cfg;
  const vt_inputs *in;
  prediction *p;
  int top;
  atomic_int next;
} shared;

typedef struct {
  shared *sh;
  pthread_t thread;
  vt_extractor x;
  vt_head_work hw;
  float *feat, *probs;
  int ready;
} worker;

static int worker_init(worker *w, const vt_weights *weights) {
  const shared *sh = w->sh;
  if (vt_extractor_init(&w->x, sh->cfg, weights) < 0) return -1;
  w->ready = 1;
  /* the recipe's parts, in order, must make up the head's input */
  size_t dim = 0;
  for (int k = 0; k < sh->recipe->n; k++)
    dim += vt_extract_pooled_len(&w->x, sh->part_tap[k], sh->part_grid[k]);
  if (dim != (size_t)sh->hf->head.dims[0])
    return vt_fail("the head expects %d features, %s gives %zu", sh->hf->head.dims[0],
                   sh->hf->features, dim);
  if (vt_head_work_init(&w->hw, &sh->hf->head, 1) < 0) return -1;
  w->feat = vt_xmalloc(sizeof(float) * dim);
  w->probs = vt_xmalloc(sizeof(float) * (size_t)sh->hf->n_classes);
  return 0;
}

static void worker_free(worker *w) {
  if (w->ready) vt_extractor_free(&w->x);
  vt_head_work_free(&w->hw);
  free(w->feat);
  free(w->probs);
}

static void *worker_run(void *arg) {
  worker *w = arg;
  shared *sh = w->sh;
  const vt_head_file *hf = sh->hf;
  int dim = hf->head.dims[0];
  for (;;) {
    int i = atomic_fetch_add(&sh->next, 1);
    if (i >= sh->in->n) break;
    prediction *p = &sh->p[i];
    p->path = vt_xstrdup(sh->in->full[i]);
    if (vt_extractor_run_file(&w->x, sh->in->full[i]) < 0) {
      p->error = vt_xstrdup(vt_failure_reason());
      continue;
    }
    size_t col = 0;
    for (int k = 0; k < sh->recipe->n; k++) {
      int t = sh->part_tap[k], gi = sh->part_grid[k];
      size_t len = vt_extract_pooled_len(&w->x, t, gi);
      memcpy(w->feat + col, vt_extractor_pooled(&w->x, t, gi, sh->recipe->part[k].is_max),
             len * sizeof(float));
      col += len;
    }
    vt_standardize_apply(w->feat, 1, dim, hf->mean, hf->std);
    vt_head_predict(&hf->head, &w->hw, w->feat, 1, w->probs);
    p->top = vt_xmalloc(sizeof(int) * (size_t)sh->top);
    p->prob = vt_xmalloc(sizeof(float) * (size_t)sh->top);
    top_k(w->probs, hf->n_classes, sh->top, p->top, p->prob);
  }
  return NULL;
}

static int predict_images(const options *o, const vt_head_file *hf, const vt_recipe *recipe,
                          int *n_failed_out, int *n_total_out) {
  vt_extract_config cfg;
  if (head_config(o, hf, recipe, &cfg) < 0) return -1;
  int need = vt_extract_convs_needed(&cfg);
  vt_weights w;
  if (vt_weights_load(o->weights, need, &w) < 0)
    return vt_fail_prefix("the head's tap %s cannot be computed", hf->tap);
  if (strcmp(w.sha256, hf->weights_sha256) != 0) {
    vt_fail("%s (sha256 %.12s...) is not the weights file the head's features were extracted "
            "with (sha256 %.12s...): refusing", o->weights, w.sha256, hf->weights_sha256);
    vt_weights_free(&w);
    return -1;
  }
  /* the inputs: arguments (files, folders) then --list lines */
  int n_args = o->n_inputs;
  char **args = vt_xmalloc(sizeof(char *) * ((size_t)n_args + 1));
  for (int i = 0; i < n_args; i++) args[i] = vt_xstrdup(o->inputs[i]);
  if (o->list && read_list(o->list, &n_args, &args) < 0) {
    vt_free_strings(args, n_args);
    vt_weights_free(&w);
    return -1;
  }
  vt_inputs in;
  int rc = vt_inputs_from_files(n_args, args, &in);
  vt_free_strings(args, n_args);
  if (rc < 0) {
    vt_weights_free(&w);
    return -1;
  }
  int threads = o->threads > 0 ? o->threads : vt_cpu_count();
  if (threads > in.n) threads = in.n > 0 ? in.n : 1;
  int top = o->top < hf->n_classes ? o->top : hf->n_classes;
  prediction *p = vt_xcalloc((size_t)in.n + 1, sizeof *p);
  worker *wk = vt_xcalloc((size_t)threads, sizeof *wk);
  shared sh = {.hf = hf, .recipe = recipe, .cfg = &cfg, .in = &in, .p = p, .top = top};
  for (int k = 0; k < recipe->n; k++) {
    int layer = vt_vgg16_layer_index(recipe->part[k].tap), t = 0, gi = 0;
    while (cfg.taps[t] != layer) t++;
    while (cfg.grids[gi] != recipe->part[k].grid) gi++;
    sh.part_tap[k] = t;
    sh.part_grid[k] = gi;
  }
  atomic_init(&sh.next, 0);
  int started = 0;
  for (int t = 0; t < threads && rc == 0; t++) {
    wk[t].sh = &sh;
    if (worker_init(&wk[t], &w) < 0) {
      rc = -1;
      break;
    }
    started++;
  }
  /* the first worker runs on this thread */
  for (int t = 1; t < started && rc == 0; t++)
    if (pthread_create(&wk[t].thread, NULL, worker_run, &wk[t]) != 0) {
      started = t; /* the ones not started leave their images to the others */
      break;
    }
  if (rc == 0) {
    worker_run(&wk[0]);
    for (int t = 1; t < started; t++) pthread_join(wk[t].thread, NULL);
  }
  for (int t = 0; t < threads; t++) worker_free(&wk[t]);
  free(wk);
  int n_failed = 0;
  for (int i = 0; i < in.n; i++) n_failed += p[i].error != NULL;
  if (rc == 0) rc = emit(o, hf, p, in.n, top, 0);
  if (rc == 0) report_failures(o, p, in.n, n_failed);
  for (int i = 0; i < in.n; i++) {
    free((char *)p[i].path);
    free((char *)p[i].error);
    free(p[i].top);
    free(p[i].prob);
  }
  free(p);
  *n_failed_out = n_failed;
  *n_total_out = in.n;
  vt_inputs_free(&in);
  vt_weights_free(&w);
  return rc;
}

/* Rows whose extraction failed count as images that could not be read, as
 * in predict_images (their error column, the exit status, --strict). */
static int predict_store(const options *o, const vt_head_file *hf, const vt_recipe *recipe,
                         int *n_failed_out, int *n_total_out) {
  vt_store s;
  if (vt_store_open(o->store, &s) < 0) return -1;
  int rc = 0;
  const char *what = NULL, *a = NULL, *b = NULL;
  if (strcmp(s.preprocessing, hf->preprocessing)) what = "preprocessing", a = s.preprocessing, b = hf->preprocessing;
  else if (strcmp(s.resize, hf->resize)) what = "resize policy", a = s.resize, b = hf->resize;
  else if (strcmp(s.weights_sha256, hf->weights_sha256)) what = "weights sha256", a = s.weights_sha256, b = hf->weights_sha256;
  if (what)
    rc = vt_fail("%s was extracted with %s %s, the head was trained with %s: refusing", s.path,
                 what, a, b);
  else if (s.input_height != hf->input_height || s.input_width != hf->input_width)
    rc = vt_fail("%s was extracted at %dx%d, the head was trained at %dx%d: refusing", s.path,
                 s.input_height, s.input_width, hf->input_height, hf->input_width);
  int dim = 0;
  const char *got;
  if (rc == 0 && vt_features_plan(&s, recipe, VT_SOURCE_AUTO, &dim, &got) < 0) rc = -1;
  if (rc == 0 && dim != hf->head.dims[0])
    rc = vt_fail("%s: the %s features are %d wide, the head expects %d", s.path, hf->features,
                 dim, hf->head.dims[0]);
  if (rc < 0) {
    vt_store_close(&s);
    return -1;
  }
  int *rows = vt_xmalloc(sizeof(int) * ((size_t)s.n_rows + 1)), n_ok = 0;
  for (int i = 0; i < s.n_rows; i++)
    if (s.status[i] == VT_ROW_OK) rows[n_ok++] = i;
  vt_features f;
  if (vt_features_load(&s, recipe, VT_SOURCE_AUTO, rows, n_ok, 0, &f) < 0) {
    free(rows);
    vt_store_close(&s);
    return -1;
  }
  int k = hf->n_classes, top = o->top < k ? o->top : k;
  vt_standardize_apply(f.x, f.n, dim, hf->mean, hf->std);
  float *probs = vt_xmalloc(sizeof(float) * ((size_t)n_ok * k + 1));
  vt_head_work hw;
  if (vt_head_work_init(&hw, &hf->head, 1024) < 0) {
    free(probs);
    vt_features_free(&f);
    free(rows);
    vt_store_close(&s);
    return -1;
  }
  vt_head_predict(&hf->head, &hw, f.x, n_ok, probs);
  vt_head_work_free(&hw);
  prediction *p = vt_xcalloc((size_t)s.n_rows + 1, sizeof *p);
  for (int i = 0, j = 0; i < s.n_rows; i++) {
    p[i].path = s.paths[i];
    p[i].true_class = s.labels[i] >= 0 ? s.classes[s.labels[i]] : NULL;
    if (s.status[i] != VT_ROW_OK) {
      p[i].error = s.errors[i][0] ? s.errors[i] : "extraction failed";
      continue;
    }
    p[i].top = vt_xmalloc(sizeof(int) * (size_t)top);
    p[i].prob = vt_xmalloc(sizeof(float) * (size_t)top);
    top_k(probs + (size_t)j++ * k, k, top, p[i].top, p[i].prob);
  }
  rc = emit(o, hf, p, s.n_rows, top, 1);
  if (rc == 0) report_failures(o, p, s.n_rows, s.n_rows - n_ok);
  *n_failed_out = s.n_rows - n_ok;
  *n_total_out = s.n_rows;
  for (int i = 0; i < s.n_rows; i++) {
    free(p[i].top);
    free(p[i].prob);
  }
  free(p);
  free(probs);
  vt_features_free(&f);
  free(rows);
  vt_store_close(&s);
  return rc;
}

int main(int argc, char **argv) {
  vt_h5_no_close_at_exit();
  options o;
  int rc = parse_args(argc, argv, &o);
  if (rc >= 0) return rc;
  /* A missing weights file is an error of the setup, not of the command line
   * (exit 1, as vggtap-extract). */
  if (!o.store && !(o.weights = vt_weights_find(o.weights, 1))) {
    fprintf(stderr, "vggtap-predict: %s\n", vt_failure_reason());
    return EXIT_ERROR;
  }
  vt_h5_quiet();
  bli_thread_set_num_threads(1);
  vt_head_file hf;
  if (vt_head_file_read(o.head, &hf) < 0) {
    fprintf(stderr, "vggtap-predict: %s\n", vt_failure_reason());
    return EXIT_ERROR;
  }
  vt_recipe recipe;
  int n_failed = 0, n_total = 0;
  if (vt_recipe_parse(hf.features, &recipe) < 0) {
    vt_fail_prefix("%s: features", o.head);
    rc = -1;
  } else if (check_given_settings(&o, &hf) < 0) {
    rc = -1;
  } else if (o.out && vt_check_writable(o.out) < 0) {
    rc = -1; /* before the images are run, not after */
  } else {
    rc = o.store ? predict_store(&o, &hf, &recipe, &n_failed, &n_total)
                 : predict_images(&o, &hf, &recipe, &n_failed, &n_total);
  }
  vt_head_file_free(&hf);
  if (rc < 0) {
    fprintf(stderr, "vggtap-predict: %s\n", vt_failure_reason());
    return EXIT_ERROR;
  }
  return n_failed && (o.strict || n_failed == n_total) ? EXIT_IMAGES_FAILED : EXIT_OK;
}
