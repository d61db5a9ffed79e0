/* vggtap-predict: top-k classes for images (running only the VGG16 prefix the
 * head needs, through the same pipeline as vggtap-extract) or for the rows of
 * an existing store (no re-extraction). Refuses inputs whose features would
 * not be what the head was trained on, and says why. */
#include <blis.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "predict_options.h"
#include "train_conv.h"
#include "vt_convnet_layers.h"
#include "base/vt_common.h"
#include "base/vt_pool.h"
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

static const vt_program *const program = &vt_predict_program;

/* The options, then the operands and what must go together. */
static int read_command_line(int *argc, char ***argv, vt_predict_options *o) {
  if (vt_args_start(program, argc, argv) < 0 || vt_predict_options_parse(*argc, *argv, o) < 0) return -1;
  o->n_inputs = *argc - optind;
  o->inputs = *argv + optind;
  if (!o->head) return vt_fail("--head is required");
  if (o->store && (o->n_inputs || o->list)) return vt_fail("--store predicts a store's rows: give no images with it");
  if (o->store && o->net.precision_given)
    return vt_fail("--precision applies to images: a --store's features are computed already "
                   "(vggtap-info shows in which precision)");
  if (!o->store && !o->n_inputs && !o->list) return vt_fail("no images given (IMAGE|DIR..., --list FILE or --store FILE)");
  /* the predictions would replace an input */
  if (o->out && vt_same_file(o->out, o->head)) return vt_fail("--out %s is the --head file", o->out);
  if (o->out && o->store && vt_same_file(o->out, o->store)) return vt_fail("--out %s is the --store file", o->out);
  if (o->out && o->list && vt_same_file(o->out, o->list)) return vt_fail("--out %s is the --list file", o->out);
  return 0;
}

/* One prediction: the top classes of a row, or its error. */
typedef struct {
  const char *path, *error, *true_class; /* error, true_class: NULL unless any */
  int *top;
  float *prob;
} prediction;

/* What write_predictions writes: n predictions of k classes each. */
typedef struct {
  const vt_predict_options *o;
  const vt_head_file *hf;
  const prediction *p;
  int n, k, with_truth; /* with_truth: a true_class column (--store rows) */
} predictions;

static int write_predictions(FILE *f, const void *arg) {
  const predictions *w = arg;
  const vt_predict_options *o = w->o;
  const vt_head_file *hf = w->hf;
  const prediction *p = w->p;
  int n = w->n, k = w->k, with_truth = w->with_truth;
  if (!o->json) {
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
  json_t *list = json_array();
  for (int i = 0; i < n; i++) {
    json_t *q = json_pack("{s:o}", "path", vt_json_text(p[i].path));
    if (with_truth) json_object_set_new(q, "true_class", p[i].true_class ? vt_json_text(p[i].true_class) : json_null());
    if (p[i].error) {
      json_object_set_new(q, "error", vt_json_text(p[i].error));
    } else {
      json_t *top = json_array();
      for (int j = 0; j < k; j++) /* the same 6 decimals as the CSV */
        json_array_append_new(top, json_pack("{s:o, s:f}", "class", vt_json_text(hf->classes[p[i].top[j]]),
                                             "probability", round(p[i].prob[j] * 1e6) / 1e6));
      json_object_set_new(q, "top", top);
    }
    json_array_append_new(list, q);
  }
  json_t *root = json_pack("{s:o, s:o, s:o, s:o, s:o}", "head", vt_json_text(o->head), "tap", vt_json_text(hf->tap),
                           "pooling", vt_json_text(hf->pooling), "features", vt_json_text(hf->features),
                           "predictions", list);
  int rc = vt_json_write(f, root);
  json_decref(root);
  return rc;
}

/* Writes to o->out atomically, or to stdout. */
static int emit(const vt_predict_options *o, const vt_head_file *hf, const prediction *p, int n, int k,
                int with_truth) {
  predictions w = {o, hf, p, n, k, with_truth};
  if (o->out) return vt_write_file_atomic(o->out, write_predictions, &w);
  write_predictions(stdout, &w);
  return fflush(stdout) == 0 ? 0 : vt_fail("cannot write standard output");
}

enum { FAILURES_LISTED = 10 };

/* After the output is written: how many inputs failed, and the first few
 * by name with their reason (the error column has them all). */
static void report_failures(const vt_predict_options *o, const prediction *p, int n, int n_failed) {
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
/* A head trained with --augment flip averages the probabilities of each
 * photo and its mirror image. */
static int head_mirrors(const vt_head_file *hf) { return hf->augment && !strcmp(hf->augment, "flip"); }

static int check_setting(const char *what, const char *given, const char *head_has) {
  if (given && strcmp(given, head_has) != 0)
    return vt_fail("the head was trained on features with %s %s; --%s %s was given: refusing "
                   "(predictions would be meaningless)", what, head_has, what, given);
  return 0;
}

/* --size, --resize and --preprocess, where given, must be the head's, whether
 * the features come from images or from a --store. */
static int check_given_settings(const vt_predict_options *o, const vt_head_file *hf) {
  const vt_net_options *n = &o->net;
  if (n->size_given && (n->cfg.height != hf->input_height || n->cfg.width != hf->input_width))
    return vt_fail("the head was trained on %dx%d inputs; --size %dx%d was given: refusing",
                   hf->input_height, hf->input_width, n->cfg.height, n->cfg.width);
  if (check_setting("resize", n->resize_given ? vt_resize_policy_name(n->cfg.resize) : NULL, hf->resize) < 0 ||
      check_setting("preprocess", n->preprocess_given ? vt_preprocess_name(n->cfg.preprocess) : NULL,
                    hf->preprocessing) < 0)
    return -1;
  return 0;
}

static int head_config(const vt_predict_options *o, const vt_head_file *hf, const vt_recipe *r,
                       vt_extract_config *cfg) {
  vt_extract_config_default(cfg);
  if (hf->is_conv) { /* the tap's map, no pooled vectors but the cheapest */
    if (vt_vgg16_layer_index(hf->tap) < 0) return vt_fail("the head's tap '%s' is not a VGG16 layer", hf->tap);
    if (vt_extract_parse_taps(cfg, hf->tap) < 0) return -1;
    cfg->height = hf->input_height;
    cfg->width = hf->input_width;
    cfg->n_grids = 1;
    cfg->grids[0] = 1;
    if (vt_resize_policy_parse(hf->resize, &cfg->resize) < 0 ||
        vt_preprocess_parse(hf->preprocessing, &cfg->preprocess) < 0)
      return vt_fail("the head's resize policy '%s' or preprocessing '%s' is unknown", hf->resize,
                     hf->preprocessing);
    return vt_extract_config_check(cfg);
  }
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
  if (vt_precision_parse(hf->precision, &cfg->precision) < 0) return vt_fail_prefix("the head");
  /* --precision may differ from the head's: the features then differ by
   * ~1% (docs/PERFORMANCE.md), not in kind, and a bf16 head stays usable
   * on a CPU without bf16 */
  if (o->net.precision_given && o->net.cfg.precision != cfg->precision) {
    fprintf(stderr, "%s: note: the head was trained on %s features, these are %s (they differ by ~1%%)\n",
            program->name, hf->precision, vt_precision_name(o->net.cfg.precision));
    cfg->precision = o->net.cfg.precision;
  }
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

/* Images are predicted by the worker pool (base/vt_pool.h), one image at a
 * time per worker (as the extractor parallelises); results land in p[i], so
 * the output order is the input order. */
typedef struct {
  const vt_head_file *hf;
  const vt_recipe *recipe;
  /* part k of the recipe is the extractor's tap part_tap[k], grid part_grid[k] */
  int part_tap[VT_RECIPE_MAX_PARTS], part_grid[VT_RECIPE_MAX_PARTS];
  const vt_extract_config *cfg;
  const vt_weights *weights;
  const vt_vgg_bf16_weights *bf16; /* bf16 precision: the packed layers */
  const vt_inputs *in;
  prediction *p;
  int top;
  int mirror; /* the head averages photo and mirror image (trained with --augment flip) */
} shared;

typedef struct {
  vt_extractor x;
  vt_head_work hw;
  vt_convnet_work cw; /* a conv head's: the map and its mirror's in one batch */
  float *feat, *feat_mirror, *probs; /* feat_mirror: the mirror image's, or NULL */
  int ready;
} worker;

static void worker_free(void *ctx, void *arg) {
  worker *w = arg;
  if (w->ready) vt_extractor_free(&w->x);
  vt_head_work_free(&w->hw);
  vt_convnet_work_free(&w->cw);
  free(w->feat);
  free(w->feat_mirror);
  free(w->probs);
}

/* A conv head's worker: the tap's map, reduced as the store's were, must
 * be the head's input. */
static int conv_worker_init(const shared *sh, worker *w) {
  const vt_head_file *hf = sh->hf;
  const vt_convnet_config *c = &hf->conv.cfg;
  int l = sh->cfg->taps[0], h = w->x.ws.oh[l], wd = w->x.ws.ow[l], ch = w->x.ws.oc[l];
  int k = vt_conv_reduce_factor(hf->map_reduce);
  if (k > 1) h /= k, wd /= k;
  if (h != c->in_h || wd != c->in_w || ch != c->in_c)
    return vt_fail("the head takes %dx%dx%d maps; %s (reduced: %s) gives %dx%dx%d", c->in_h,
                   c->in_w, c->in_c, hf->tap, hf->map_reduce, h, wd, ch);
  if (vt_convnet_work_init(&w->cw, &hf->conv, 2, NULL) < 0) return -1;
  w->feat = vt_aligned_alloc(sizeof(float) * 2 * (size_t)c->in_h * c->in_w * c->in_c);
  w->probs = vt_xmalloc(sizeof(float) * 2 * (size_t)hf->n_classes);
  return w->feat ? 0 : vt_fail("out of memory for a map");
}

/* A conv head's probabilities of the image the extractor has loaded (with
 * its mirror image when stored): averaged with the mirror's as trained. */
static void conv_probs(const shared *sh, worker *w, int stored) {
  const vt_head_file *hf = sh->hf;
  const vt_convnet_config *c = &hf->conv.cfg;
  int l = sh->cfg->taps[0], h = w->x.ws.oh[l], wd = w->x.ws.ow[l], ch = w->x.ws.oc[l], oh, ow, n = 1;
  size_t len = (size_t)c->in_h * c->in_w * c->in_c;
  vt_extractor_forward(&w->x, 0, NULL);
  vt_conv_reduce_map(hf->map_reduce, w->x.ws.out[l], h, wd, ch, w->feat, &oh, &ow);
  if (!strcmp(hf->mirror, "flip")) {
    vt_cn_mirror_maps(w->feat + len, w->feat, 1, oh, ow, ch);
    n = 2;
  } else if (stored) {
    vt_extractor_forward(&w->x, 1, NULL);
    vt_conv_reduce_map(hf->map_reduce, w->x.ws.out[l], h, wd, ch, w->feat + len, &oh, &ow);
    n = 2;
  }
  int K = hf->n_classes;
  vt_convnet_predict(&hf->conv, &w->cw, w->feat, n, w->probs);
  for (int k = 0; n == 2 && k < K; k++) w->probs[k] = 0.5f * (w->probs[k] + w->probs[K + k]);
}

static int worker_init(void *ctx, void *arg) {
  const shared *sh = ctx;
  worker *w = arg;
  if (vt_extractor_init(&w->x, sh->cfg, sh->weights, sh->bf16) < 0) return -1;
  w->ready = 1;
  if (sh->hf->is_conv) {
    int rc = conv_worker_init(sh, w);
    if (rc < 0) worker_free(ctx, w); /* the pool frees only what it set up */
    return rc;
  }
  /* the recipe's parts, in order, must make up the head's input */
  size_t dim = 0;
  for (int k = 0; k < sh->recipe->n; k++)
    dim += vt_extract_pooled_len(&w->x, sh->part_tap[k], sh->part_grid[k]);
  int rc = 0;
  if (dim != (size_t)sh->hf->head.dims[0])
    rc = vt_fail("the head expects %d features, %s gives %zu", sh->hf->head.dims[0], sh->hf->features, dim);
  else if (vt_head_work_init(&w->hw, &sh->hf->head, 1) < 0)
    rc = -1;
  w->feat = vt_xmalloc(sizeof(float) * dim);
  if (sh->mirror) w->feat_mirror = vt_xmalloc(sizeof(float) * dim);
  w->probs = vt_xmalloc(sizeof(float) * (size_t)sh->hf->n_classes);
  if (rc < 0) worker_free(ctx, w); /* the pool frees only what it set up */
  return rc;
}

/* The head's input from the extractor's pooled vectors of the image it ran,
 * standardised. */
static void head_input(const shared *sh, const worker *w, float *feat) {
  size_t col = 0;
  for (int k = 0; k < sh->recipe->n; k++) {
    int t = sh->part_tap[k], gi = sh->part_grid[k];
    size_t len = vt_extract_pooled_len(&w->x, t, gi);
    memcpy(feat + col, vt_extractor_pooled(&w->x, t, gi, sh->recipe->part[k].is_max), len * sizeof(float));
    col += len;
  }
  vt_standardize_apply(feat, 1, sh->hf->head.dims[0], sh->hf->mean, sh->hf->std);
}

static void worker_run(void *ctx, void *arg, long long i, int slot) {
  const shared *sh = ctx;
  worker *w = arg;
  const vt_head_file *hf = sh->hf;
  prediction *p = &sh->p[i];
  p->path = vt_xstrdup(sh->in->full[i]);
  int conv = hf->is_conv, conv_stored = conv && !strcmp(hf->mirror, "stored");
  if (vt_extractor_load(&w->x, sh->in->full[i], conv ? conv_stored : sh->mirror) < 0) {
    p->error = vt_xstrdup(vt_failure_reason());
    return;
  }
  if (conv) {
    conv_probs(sh, w, conv_stored);
    vt_extractor_unload(&w->x);
    p->top = vt_xmalloc(sizeof(int) * (size_t)sh->top);
    p->prob = vt_xmalloc(sizeof(float) * (size_t)sh->top);
    top_k(w->probs, hf->n_classes, sh->top, p->top, p->prob);
    return;
  }
  vt_extractor_forward(&w->x, 0, NULL);
  head_input(sh, w, w->feat);
  if (sh->mirror) {
    vt_extractor_forward(&w->x, 1, NULL);
    head_input(sh, w, w->feat_mirror);
  }
  vt_extractor_unload(&w->x);
  vt_head_predict_mirrored(&hf->head, &w->hw, w->feat, w->feat_mirror, 1, w->probs);
  p->top = vt_xmalloc(sizeof(int) * (size_t)sh->top);
  p->prob = vt_xmalloc(sizeof(float) * (size_t)sh->top);
  top_k(w->probs, hf->n_classes, sh->top, p->top, p->prob);
}

static int predict_images(const vt_predict_options *o, const vt_head_file *hf, const vt_recipe *recipe,
                          int *n_failed_out, int *n_total_out) {
  vt_extract_config cfg;
  if (head_config(o, hf, recipe, &cfg) < 0) return -1;
  int need = vt_extract_convs_needed(&cfg);
  vt_weights w;
  /* found once the head says how deep its tap is: the bundled block1-block2
   * file serves only the shallow taps */
  const char *weights = vt_weights_find(o->net.weights, 1, need);
  if (!weights) return -1;
  int in_bf16 = cfg.precision == VT_PRECISION_BF16; /* which packs its own copy */
  if ((in_bf16 ? vt_weights_load_unpacked : vt_weights_load)(weights, need, &w) < 0)
    return vt_fail_prefix("the head's tap %s cannot be computed", hf->tap);
  if (strcmp(w.sha256, hf->weights_sha256) != 0) {
    vt_fail("%s (sha256 %.12s...) is not the weights file the head's features were extracted "
            "with (sha256 %.12s...): refusing", weights, w.sha256, hf->weights_sha256);
    vt_weights_free(&w);
    return -1;
  }
  vt_vgg_bf16_weights bf16;
  if (vt_extract_prepare(&cfg, &w, &bf16) < 0) {
    if (!o->net.precision_given)
      vt_fail("the head was trained on bf16 features and %s; --precision fp32 computes float32 "
              "ones instead (within ~1%%)", vt_failure_reason());
    vt_weights_free(&w);
    return -1;
  }
  /* the inputs: arguments (files, folders) then --list lines */
  int n_args = o->n_inputs;
  char **args = vt_xmalloc(sizeof(char *) * ((size_t)n_args + 1));
  for (int i = 0; i < n_args; i++) args[i] = vt_xstrdup(o->inputs[i]);
  vt_inputs in;
  int rc = o->list ? read_list(o->list, &n_args, &args) : 0;
  if (rc == 0) rc = vt_inputs_from_files(n_args, args, &in);
  vt_free_strings(args, n_args);
  if (rc < 0) {
    vt_vgg_bf16_weights_free(&bf16);
    vt_weights_free(&w);
    return -1;
  }
  int threads = o->net.threads > 0 ? o->net.threads : vt_cpu_count();
  if (threads > in.n) threads = in.n > 0 ? in.n : 1;
  int top = o->top < hf->n_classes ? o->top : hf->n_classes;
  prediction *p = vt_xcalloc((size_t)in.n + 1, sizeof *p);
  shared sh = {.hf = hf, .recipe = recipe, .cfg = &cfg, .weights = &w, .bf16 = &bf16, .in = &in, .p = p,
               .top = top, .mirror = head_mirrors(hf)};
  for (int k = 0; k < recipe->n; k++) {
    int layer = vt_vgg16_layer_index(recipe->part[k].tap), t = 0, gi = 0;
    while (cfg.taps[t] != layer) t++;
    while (cfg.grids[gi] != recipe->part[k].grid) gi++;
    sh.part_tap[k] = t;
    sh.part_grid[k] = gi;
  }
  vt_pool pool = {.n_threads = threads, .n_slots = 2 * threads, .n_jobs = in.n, .ctx = &sh,
                  .worker_size = sizeof(worker), .init = worker_init, .fini = worker_free,
                  .work = worker_run};
  long long done;
  rc = vt_pool_run(&pool, &done);
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
  vt_vgg_bf16_weights_free(&bf16);
  vt_weights_free(&w);
  return rc;
}

/* A store's maps must be what a conv head was trained on. */
static int conv_store_check(const vt_store *s, const vt_head_file *hf) {
  char reduce[16];
  if (vt_conv_store_reduction(s, hf->tap, reduce, sizeof reduce) < 0) return -1;
  if (strcmp(reduce, hf->map_reduce))
    return vt_fail("%s's maps of %s are reduced by %s, the head's by %s: refusing", s->path,
                   hf->tap, reduce, hf->map_reduce);
  if (!strcmp(hf->mirror, "stored") && !vt_conv_store_has_mirrors(s, hf->tap))
    return vt_fail("the head averages each photo with its mirror image's maps; %s holds none "
                   "(/mirror/features/%s): extract it with --augment flip, or predict on the "
                   "images", s->path, hf->tap);
  return 0;
}

/* A conv head's probabilities of rows of the store (its maps, streamed). */
static int conv_store_probs(const vt_predict_options *o, const vt_store *s, const vt_head_file *hf,
                            const int *rows, int n, float *probs) {
  vt_mirror_mode mode = VT_MIRROR_NONE;
  vt_mirror_mode_parse(hf->mirror, &mode);
  vt_map_source src;
  int cached;
  if (vt_conv_open_maps(s->path, hf->tap, mode == VT_MIRROR_STORED, -1, &src, &cached) < 0) return -1;
  int threads = o->net.threads > 0 ? o->net.threads : vt_cpu_count();
  int rc = vt_convnet_predict_rows(&hf->conv, &src, rows, n, mode, 64, threads, probs);
  vt_map_source_close(&src);
  return rc;
}

/* A dense head's probabilities of rows of the store (pooled features),
 * averaged with the mirror images' (mirror) as the head was trained. */
static int dense_store_probs(const vt_store *s, const vt_head_file *hf, const vt_recipe *recipe,
                             int dim, int mirror, const int *rows, int n, float *probs) {
  vt_features f, fm = {0};
  vt_head_work hw = {0};
  int rc = 0;
  if (vt_features_load(s, recipe, VT_SOURCE_AUTO, rows, n, 0, &f) < 0 ||
      (mirror && vt_features_load_in(s, "mirror/", recipe, VT_SOURCE_AUTO, rows, n, 0, &fm) < 0) ||
      vt_head_work_init(&hw, &hf->head, 1024) < 0) {
    rc = -1;
  } else {
    vt_standardize_apply(f.x, f.n, dim, hf->mean, hf->std);
    vt_standardize_apply(fm.x, fm.n, dim, hf->mean, hf->std);
    vt_head_predict_mirrored(&hf->head, &hw, f.x, fm.x, n, probs);
  }
  vt_head_work_free(&hw);
  vt_features_free(&f);
  vt_features_free(&fm);
  return rc;
}

/* Rows whose extraction failed count as images that could not be read, as
 * in predict_images (their error column, the exit status, --strict). */
static int predict_store(const vt_predict_options *o, const vt_head_file *hf, const vt_recipe *recipe,
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
  if (rc == 0 && strcmp(s.precision, hf->precision) != 0)
    fprintf(stderr, "%s: note: the head was trained on %s features, %s holds %s ones (they differ "
                    "by ~1%%)\n", program->name, hf->precision, s.path, s.precision);
  int dim = 0;
  const char *got;
  int mirror = !hf->is_conv && head_mirrors(hf);
  if (rc == 0 && mirror && !vt_store_has_mirror(&s))
    rc = vt_fail("%s holds no mirror images, and the head (trained with --augment flip) averages "
                 "the probabilities of each photo and its mirror image: extract the store with "
                 "--augment flip, or predict on the images", s.path);
  if (hf->is_conv) {
    if (rc == 0) rc = conv_store_check(&s, hf);
  } else if (rc == 0 && vt_features_plan(&s, recipe, VT_SOURCE_AUTO, &dim, &got) < 0) {
    rc = -1;
  }
  if (rc == 0 && !hf->is_conv && dim != hf->head.dims[0])
    rc = vt_fail("%s: the %s features are %d wide, the head expects %d", s.path, hf->features,
                 dim, hf->head.dims[0]);
  if (rc < 0) {
    vt_store_close(&s);
    return -1;
  }
  int *rows = vt_xmalloc(sizeof(int) * ((size_t)s.n_rows + 1)), n_ok = 0;
  for (int i = 0; i < s.n_rows; i++)
    if (s.status[i] == VT_ROW_OK) rows[n_ok++] = i;
  int k = hf->n_classes, top = o->top < k ? o->top : k;
  float *probs = vt_xmalloc(sizeof(float) * ((size_t)n_ok * k + 1));
  if ((hf->is_conv ? conv_store_probs(o, &s, hf, rows, n_ok, probs)
                   : dense_store_probs(&s, hf, recipe, dim, mirror, rows, n_ok, probs)) < 0) {
    free(probs);
    free(rows);
    vt_store_close(&s);
    return -1;
  }
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
  free(rows);
  vt_store_close(&s);
  return rc;
}

int main(int argc, char **argv) {
  vt_h5_no_close_at_exit();
  vt_predict_options o;
  if (read_command_line(&argc, &argv, &o) < 0) return vt_exit_usage(program);
  vt_h5_quiet();
  bli_thread_set_num_threads(1);
  vt_head_file hf;
  if (vt_head_file_read(o.head, &hf) < 0) return vt_exit_error(program);
  vt_recipe recipe = {0};
  int n_failed = 0, n_total = 0, rc;
  if (!hf.is_conv && vt_recipe_parse(hf.features, &recipe) < 0) {
    rc = vt_fail_prefix("%s: features", o.head);
  } else if (check_given_settings(&o, &hf) < 0) {
    rc = -1;

  } else if (o.out && vt_check_writable(o.out) < 0) {
    rc = -1; /* before the images are run, not after */
  } else {
    rc = o.store ? predict_store(&o, &hf, &recipe, &n_failed, &n_total)
                 : predict_images(&o, &hf, &recipe, &n_failed, &n_total);
  }
  vt_head_file_free(&hf);
  if (rc < 0) return vt_exit_error(program);
  return n_failed && (o.strict || n_failed == n_total) ? VT_EXIT_INPUTS_FAILED : VT_EXIT_OK;
}
