/* vggtap-train: trains a small head (softmax regression or an MLP on the
 * pooled features of taps of a feature store, or a conv head on a tap's
 * stored maps), and reports how well it does.
 * Everything is checked before anything is written; every output file
 * appears complete or not at all. The command line is train_options.c;
 * main() below is the list of steps. */
#include <blis.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report.h"
#include "report_html.h"
#include "train_conv.h"
#include "train_options.h"
#include "vt_features.h"
#include "vt_head_file.h"
#include "vt_split.h"
#include "vt_standardize.h"
#include "vt_trainer.h"
#include "base/vt_cli.h"
#include "base/vt_common.h"
#include "base/vt_signal_hold.h"
#include "base/vt_text.h"
#include "net/vt_vgg.h"
#include "store/vt_h5.h"
#include "store/vt_store_read.h"
#include "store/vt_store_schema.h"

static const vt_program *const program = &vt_train_program;

/* "HEAD.h5" -> "HEAD" + suffix */
static char *beside(const char *path, const char *suffix) {
  size_t n = strlen(path);
  if (n > 3 && strcmp(path + n - 3, ".h5") == 0) n -= 3;
  char *s = vt_xmalloc(n + strlen(suffix) + 1);
  memcpy(s, path, n);
  strcpy(s + n, suffix);
  return s;
}

/* The per-epoch log (--log), a vt_train_result's epochs as CSV. */
static int write_log(FILE *f, const void *arg) {
  const vt_train_result *r = arg;
  fprintf(f, "epoch,lr,train_loss,train_acc,val_loss,val_acc\n");
  for (int i = 0; i < r->n_epochs; i++) {
    const vt_epoch_log *e = &r->epochs[i];
    fprintf(f, "%d,%.9g,%.9g,%.9g,", e->epoch, e->lr, e->train_loss, e->train_acc);
    if (isnan(e->val_loss)) fprintf(f, ",\n");
    else fprintf(f, "%.9g,%.9g\n", e->val_loss, e->val_acc);
  }
  return 0;
}

/* The rows a head is trained or evaluated on, with their labels. */
typedef struct {
  int n, *rows, *y;
} row_set;

static void row_set_add(row_set *s, int row, int y) {
  s->rows[s->n] = row;
  s->y[s->n++] = y;
}

static void row_set_alloc(row_set *s, int cap) {
  s->n = 0;
  s->rows = vt_xmalloc(sizeof(int) * ((size_t)cap + 1));
  s->y = vt_xmalloc(sizeof(int) * ((size_t)cap + 1));
}

static void row_set_free(row_set *s) {
  free(s->rows);
  free(s->y);
  memset(s, 0, sizeof *s);
}

/* Picks the usable rows of the training store (status ok, labelled) and
 * checks the classes: labels exist, at least two classes, none empty. */
static int usable_rows(const vt_store *s, row_set *all, int *n_failed, int *n_unlabelled) {
  row_set_alloc(all, s->n_rows);
  *n_failed = *n_unlabelled = 0;
  long *count = vt_xcalloc((size_t)s->n_classes + 1, sizeof(long));
  for (int i = 0; i < s->n_rows; i++) {
    if (s->status[i] != VT_ROW_OK) (*n_failed)++;
    else if (s->labels[i] < 0) (*n_unlabelled)++;
    else {
      row_set_add(all, i, s->labels[i]);
      count[s->labels[i]]++;
    }
  }
  int rc = 0;
  if (all->n == 0 && s->n_classes > 0 && *n_failed > 0) {
    rc = vt_fail("%s has no usable rows: %d of its %d rows failed extraction (their reasons are in "
                 "/images/error; vggtap-info summarises them) and %d are unlabelled", s->path,
                 *n_failed, s->n_rows, *n_unlabelled);
  } else if (s->n_classes == 0 || all->n == 0) {
    rc = vt_fail("%s has no labelled rows (%d rows: %d unlabelled, %d failed): train on a store "
                 "made from class folders or a manifest with labels", s->path, s->n_rows,
                 *n_unlabelled, *n_failed);
  } else if (s->n_classes == 1) {
    rc = vt_fail("%s has a single class ('%s'): a classifier needs at least two", s->path,
                 s->classes[0]);
  } else {
    for (int k = 0; k < s->n_classes && rc == 0; k++)
      if (count[k] == 0)
        rc = vt_fail("%s: class '%s' has no usable rows (no labelled row extracted ok); add "
                     "images or remove the class", s->path, s->classes[k]);
  }
  free(count);
  return rc;
}

/* A manifest without test rows: its validation rows give the test rows
 * (vt_split_manifest_test). */
static void move_test_rows(const vt_store *s, double test_fraction, uint64_t seed, row_set *va,
                           row_set *te, char *test_note, size_t note_size) {
  uint8_t *is_test = vt_xmalloc((size_t)va->n + 1);
  vt_split_manifest_test(va->y, va->n, s->n_classes, test_fraction, seed, is_test, test_note, note_size);
  int kept = 0;
  for (int i = 0; i < va->n; i++) {
    if (is_test[i]) row_set_add(te, va->rows[i], va->y[i]);
    else va->rows[kept] = va->rows[i], va->y[kept++] = va->y[i];
  }
  va->n = kept;
  free(is_test);
}

/* Splits all into train/val/test; test_note says where the test rows come from. */
static int split_rows(const vt_store *s, const vt_train_options *o, const row_set *all, row_set *tr,
                      row_set *va, row_set *te, char *test_note, size_t note_size) {
  row_set_alloc(tr, all->n);
  row_set_alloc(va, all->n);
  row_set_alloc(te, all->n);
  /* --eval scores on another store: no test rows by default */
  double test_fraction = o->eval && o->test_fraction < 0 ? 0 : o->test_fraction;
  if (strcmp(o->split, "random") == 0) {
    uint8_t *part = vt_xmalloc((size_t)all->n + 1);
    vt_split_random(all->y, all->n, s->n_classes, test_fraction, o->val_fraction, o->tc.seed,
                    part, test_note, note_size);
    for (int i = 0; i < all->n; i++)
      row_set_add(part[i] == VT_PART_TEST ? te : part[i] == VT_PART_VAL ? va : tr, all->rows[i], all->y[i]);
    free(part);
  } else {
    for (int i = 0; i < all->n; i++) {
      int r = all->rows[i];
      const char *sp = s->splits[r];
      if (strcmp(sp, "train") == 0) row_set_add(tr, r, all->y[i]);
      else if (!strcmp(sp, "val") || !strcmp(sp, "valid") || !strcmp(sp, "validation"))
        row_set_add(va, r, all->y[i]);
      else if (strcmp(sp, "test") == 0) row_set_add(te, r, all->y[i]);
      else if (!sp[0])
        return vt_fail("%s: row %d (%s) has no split: --split manifest needs a split column "
                       "(train/val/test) in the manifest the store was made from", s->path, r,
                       s->paths[r]);
      else
        return vt_fail("%s: row %d (%s): split '%s' is not train, val or test", s->path, r,
                       s->paths[r], sp);
    }
    if (te->n > 0 && o->test_fraction > 0)
      return vt_fail("%s: the manifest has test rows already: --test-fraction draws test rows only "
                     "from a manifest without them", s->path);
    if (te->n > 0) snprintf(test_note, note_size, "the manifest's test rows");
    else move_test_rows(s, test_fraction, o->tc.seed, va, te, test_note, note_size);
  }
  if (te->n == 0 && o->eval && o->test_fraction < 0)
    snprintf(test_note, note_size, "none: --eval scores the head on another store");
  long *count = vt_xcalloc((size_t)s->n_classes, sizeof(long));
  for (int i = 0; i < tr->n; i++) count[tr->y[i]]++;
  int rc = 0;
  for (int k = 0; k < s->n_classes && rc == 0; k++)
    if (count[k] == 0)
      rc = vt_fail("%s: class '%s' has no training rows after the split", s->path, s->classes[k]);
  free(count);
  return rc;
}

/* The evaluation store must hold features computed the same way. */
static int check_compatible(const vt_store *train, const vt_store *ev) {
  const char *what = NULL, *a = NULL, *b = NULL;
  if (strcmp(train->preprocessing, ev->preprocessing)) what = "preprocessing", a = train->preprocessing, b = ev->preprocessing;
  else if (strcmp(train->resize, ev->resize)) what = "resize policy", a = train->resize, b = ev->resize;
  else if (strcmp(train->weights_sha256, ev->weights_sha256)) what = "weights (sha256)", a = train->weights_sha256, b = ev->weights_sha256;
  if (what)
    return vt_fail("%s was extracted with %s %s, %s with %s: their features are not comparable",
                   ev->path, what, b, train->path, a);
  if (train->input_height != ev->input_height || train->input_width != ev->input_width)
    return vt_fail("%s was extracted at %dx%d, %s at %dx%d: their features are not comparable",
                   ev->path, ev->input_height, ev->input_width, train->path, train->input_height,
                   train->input_width);
  if (strcmp(train->precision, ev->precision) != 0)
    fprintf(stderr, "vggtap-train: note: %s holds %s features, %s %s ones (they differ by ~1%%; "
                    "the scores are of the %s features)\n", ev->path, ev->precision, train->path,
            train->precision, ev->precision);
  return 0;
}

/* Rows of the evaluation store, labels mapped by class name to the training
 * store's classes. */
static int eval_rows(const vt_store *train, const vt_store *ev, row_set *out, int *n_failed,
                     int *n_unlabelled) {
  int *map = vt_xmalloc(sizeof(int) * ((size_t)ev->n_classes + 1));
  for (int k = 0; k < ev->n_classes; k++) {
    map[k] = -1;
    for (int j = 0; j < train->n_classes; j++)
      if (strcmp(ev->classes[k], train->classes[j]) == 0) map[k] = j;
  }
  row_set_alloc(out, ev->n_rows);
  *n_failed = *n_unlabelled = 0;
  int rc = 0;
  for (int i = 0; i < ev->n_rows && rc == 0; i++) {
    if (ev->status[i] != VT_ROW_OK) (*n_failed)++;
    else if (ev->labels[i] < 0) (*n_unlabelled)++;
    else if (map[ev->labels[i]] < 0)
      rc = vt_fail("%s: row %d (%s) has class '%s', which %s does not have", ev->path, i,
                   ev->paths[i], ev->classes[ev->labels[i]], train->path);
    else
      row_set_add(out, i, map[ev->labels[i]]);
  }
  free(map);
  if (rc == 0 && out->n == 0)
    rc = vt_fail("%s has no labelled rows to evaluate on (%d rows: %d unlabelled, %d failed)",
                 ev->path, ev->n_rows, *n_unlabelled, *n_failed);
  return rc;
}

/* The features of rows rs: the photos' (group "") or their mirror images'
 * ("mirror/"). */
static int load(const vt_store *s, const vt_train_options *o, const vt_recipe *r, const char *group,
                const row_set *rs, vt_features *f) {
  return vt_features_load_in(s, group, r, o->source, rs->rows, rs->n, !o->quiet, f);
}

/* Parameters of Flatten + Dense(4096) x2 + Dense(K) on the taps' maps (all of
 * them flattened side by side), and the same plus the VGG16 convs up to the
 * deepest tap. 0 when a tap is not a VGG16 layer. */
static void baseline_params(const vt_store *s, char taps[][VT_TAP_NAME_MAX], int n_taps, int k,
                            long *dense, long *with_convs) {
  *dense = *with_convs = 0;
  int deepest = -1;
  long long flat = 0;
  for (int t = 0; t < n_taps; t++) {
    int layer = vt_vgg16_layer_index(taps[t]), h, w, c;
    if (layer < 0 || vt_vgg16_layer_shape(layer, s->input_height, s->input_width, &h, &w, &c) < 0)
      return;
    flat += (long long)h * w * c;
    deepest = layer > deepest ? layer : deepest;
  }
  long long d = vt_dense_baseline_params(1, 1, flat, k), convs = 0;
  for (int l = 0; l <= deepest; l++) {
    const vt_layer_def *def = &vt_vgg16_layers[l];
    if (def->kind == VT_LAYER_CONV) convs += 9LL * def->cin * def->cout + def->cout;
  }
  *dense = (long)d;
  *with_convs = (long)(d + convs);
}

/* The settings the head was trained with, one key=value a line (the head's
 * config attribute, which vggtap-info shows): only those that applied, so
 * an L-BFGS head has no learning rate and a softmax head no dropout. */
static char *config_text(const vt_train_options *o, const char *kind, const char *conv,
                         const char *mirror, const char *taps, const char *pooling) {
  const vt_train_config *c = &o->tc;
  int lbfgs = c->optim.kind == VT_OPT_LBFGS;
  char test_fraction[32] = "auto";
  if (o->test_fraction >= 0) snprintf(test_fraction, sizeof test_fraction, "%g", o->test_fraction);
  char *s = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&s, &len); /* grows: a long --features is not cut */
  if (!f) {
    fprintf(stderr, "vggtap-train: out of memory\n");
    exit(EXIT_FAILURE);
  }
  fprintf(f, "tap=%s\npooling=%s\nfeatures=%s\naugment=%s\nhead=%s\nhidden=%s\noptimizer=%s\n", taps, pooling,
          o->features, o->augment, kind, o->hidden ? o->hidden : "", vt_optimizer_name(c->optim.kind));
  if (o->is_conv) fprintf(f, "conv=%s\nmirror=%s\n", conv, mirror);
  if (!lbfgs) {
    fprintf(f, "lr=%g\n", c->lr);
    if (c->optim.kind == VT_OPT_SGD) fprintf(f, "momentum=%g\n", c->optim.momentum);
    fprintf(f, "lr_schedule=%s\n", vt_lr_schedule_name(c->schedule));
    if (c->schedule == VT_LR_STEP) fprintf(f, "lr_step=%d\n", c->lr_step_epochs);
    fprintf(f, "batch_size=%d\n", c->batch_size);
    if (o->hidden || o->is_conv) fprintf(f, "dropout=%g\n", c->dropout);
  }
  fprintf(f,
          "weight_decay=%g\nweight_decay_auto=%d\nepochs=%d\npatience=%d\nclass_weight=%s\n"
          "label_smoothing=%g\nsplit=%s\nval_fraction=%g\ntest_fraction=%s\nseed=%llu\n",
          c->optim.weight_decay, o->wd_auto, c->epochs, c->patience, o->class_weight, c->label_smoothing, o->split,
          o->val_fraction, test_fraction, (unsigned long long)c->seed);
  fclose(f);
  return s;
}

/* --weight-decay auto: the default penalty times 10^-2 .. 10^2, each trained
 * in full; keeps the one whose final weights have the lowest validation loss
 * (the same criterion early stopping uses). */
static int choose_weight_decay(vt_head *h, const vt_xy *tr, const vt_xy *va, vt_train_options *o) {
  if (va->n == 0) return vt_fail("--weight-decay auto needs validation rows (--val-fraction > 0)");
  static const float scale[] = {0.01f, 0.1f, 1.0f, 10.0f, 100.0f};
  float base = o->tc.optim.weight_decay, best = base;
  double best_loss = INFINITY;
  vt_train_config c = o->tc;
  c.verbose = 0;
  for (size_t i = 0; i < sizeof scale / sizeof scale[0]; i++) {
    c.optim.weight_decay = base * scale[i];
    vt_train_result r;
    if (vt_train(h, tr, va, &c, &r) < 0) return -1;
    /* the validation loss of the weights vt_train kept */
    double loss = r.epochs[r.best_epoch - 1].val_loss;
    if (!o->quiet)
      fprintf(stderr, "weight decay %.3g: validation loss %.4f, accuracy %.4f (epoch %d)\n",
              c.optim.weight_decay, loss, r.epochs[r.best_epoch - 1].val_acc, r.best_epoch);
    if (loss < best_loss) {
      best_loss = loss;
      best = c.optim.weight_decay;
    }
    free(r.epochs);
  }
  o->tc.optim.weight_decay = best;
  if (!o->quiet) fprintf(stderr, "weight decay: %.3g chosen\n", best);
  return 0;
}

/* A head far wider than memory would be allocated lazily by the kernel and
 * then killed mid-training: refuse it first, with the figures. */
static int check_head_fits(const vt_train_options *o, int dim, int k) {
  size_t n, need, per_param = vt_train_bytes_per_param(&o->tc);
  if (vt_head_param_count(dim, o->n_hidden, o->hidden_widths, k, &n) < 0) return -1;
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return 0; /* unknown: let the allocations tell */
  double have = (double)pages * (double)page;
  if (vt_size_mul(n, per_param, &need) == 0 && (double)need <= have) return 0;
  return vt_fail("a head of %zu parameters (%d features, --hidden %s, %d classes) needs at least "
                 "%.1f GB of memory to train with %s; this machine has %.1f GB: use narrower "
                 "--hidden layers", n, dim, o->hidden ? o->hidden : "none", k,
                 (double)n * (double)per_param / 1e9,
                 vt_optimizer_name(o->tc.optim.kind), have / 1e9);
}

/* The head's probabilities probs [rs->n][k] on features fx (averaged with
 * those on their mirror images fm, unless fm is NULL), and its metrics. */
static int score(const vt_head *h, const vt_features *fx, const vt_features *fm, const row_set *rs, int k,
                 float *probs, vt_metrics *m) {
  vt_head_work w;
  if (vt_head_work_init(&w, h, 1024) < 0) return -1;
  vt_head_predict_mirrored(h, &w, fx->x, fm ? fm->x : NULL, rs->n, probs);
  vt_head_work_free(&w);
  int *pred = vt_xmalloc(sizeof(int) * ((size_t)rs->n + 1));
  for (int i = 0; i < rs->n; i++) pred[i] = vt_argmax(probs + (size_t)i * k, k);
  int rc = vt_metrics_compute(k, rs->n, rs->y, pred, m);
  free(pred);
  return rc;
}

/* The report page's gallery: the scored rows of store s the head got most
 * confidently wrong, with their photos' paths. Returns how many. */
static int gallery(const vt_store *s, const row_set *rs, const float *probs, int k,
                   vt_report_example **out) {
  enum { GALLERY = 24 };
  int idx[GALLERY];
  int n = vt_report_pick_wrong(probs, rs->y, rs->n, k, GALLERY, idx);
  vt_report_example *e = vt_xcalloc((size_t)n + 1, sizeof *e);
  for (int j = 0; j < n; j++) {
    const float *p = probs + (size_t)idx[j] * k;
    int pred = vt_argmax(p, k), truth = rs->y[idx[j]];
    e[j] = (vt_report_example){vt_store_image_path(s, rs->rows[idx[j]]), truth, pred, p[pred], p[truth]};
  }
  *out = e;
  return n;
}

/* Everything one training holds, released by training_free. */
typedef struct {
  vt_train_options o;           /* a copy: the store may supply --tap, the data the weight decay */
  char *log_path, *report_dir;  /* --log and --report, or their defaults beside --out */
  vt_store st, ev;              /* the training store, the --eval store */
  int st_open, ev_open;
  vt_recipe recipe;             /* the taps x the poolings, in the order of the features */
  char taps_name[VT_RECIPE_MAX_TAPS * VT_TAP_NAME_MAX], pooling_name[256], recipe_text[4096];
  int dim;                      /* features per row */
  const char *got;              /* where the features come from: pooled, maps, or both */
  row_set all, tr, va, te, er;  /* usable rows; train, validation, test; --eval rows */
  int n_failed, n_unlabelled, ev_failed, ev_unlabelled; /* rows skipped */
  vt_features ftr, fva, fte, fev;
  int mirror;                   /* --augment flip: the mirror images' features too: */
  vt_features mtr, mva, mte, mev;
  float *xtr;                   /* the training rows then their mirror images [2 tr.n][dim] */
  int *ytr;                     /* ... and their labels */
  vt_head_file hf;              /* the head, its standardisation and provenance */
  /* the conv head: the maps of the training and --eval stores, the mirrors */
  vt_map_source src, esrc;
  int src_open, esrc_open, cached, ecached, has_mirrors;
  vt_mirror_mode cmirror; /* the conv head's mirroring */
  char map_reduce[16], mirror_note[160], convs[128];
  vt_train_result res;
  const vt_features *fe, *me;   /* what the report scores: --eval, else test, else validation;
                                 * its mirror images' features, or NULL */
  const row_set *re;
  char eval_name[512], test_note[256]; /* test_note: where the test rows come from */
  vt_metrics m, vm;             /* the scored rows' metrics; the validation rows' own */
  const char *val_chose;        /* what the validation rows chose, or NULL */
  vt_report_example *wrong;     /* the scored rows most confidently wrong */
  int n_wrong;
  char *cmd, *config, *staged;  /* staged: the head's temporary file until renamed to --out */
} training;

static void training_free(training *t) {
  if (t->staged) {
    unlink(t->staged);
    free(t->staged);
  }
  vt_signal_release(); /* if a failure came while held */
  if (t->ev_open) vt_store_close(&t->ev);
  if (t->st_open) vt_store_close(&t->st);
  vt_metrics_free(&t->m);
  vt_metrics_free(&t->vm);
  if (t->src_open) vt_map_source_close(&t->src);
  if (t->esrc_open) vt_map_source_close(&t->esrc);
  if (t->hf.is_conv) vt_convnet_free(&t->hf.conv);
  for (int i = 0; i < t->n_wrong; i++) free((char *)t->wrong[i].image);
  free(t->wrong);
  vt_head_free(&t->hf.head);
  free(t->hf.mean);
  free(t->hf.std);
  free(t->res.epochs);
  vt_features_free(&t->ftr);
  vt_features_free(&t->fva);
  vt_features_free(&t->fte);
  vt_features_free(&t->fev);
  vt_features_free(&t->mtr);
  vt_features_free(&t->mva);
  vt_features_free(&t->mte);
  vt_features_free(&t->mev);
  free(t->xtr);
  free(t->ytr);
  row_set_free(&t->all);
  row_set_free(&t->tr);
  row_set_free(&t->va);
  row_set_free(&t->te);
  row_set_free(&t->er);
  free(t->log_path);
  free(t->report_dir);
  free(t->cmd);
  free(t->config);
}

/* The options, then what must be there: a usage error otherwise. */
static int read_command_line(int *argc, char ***argv, vt_train_options *o) {
  if (vt_args_start(program, argc, argv) < 0 || vt_train_options_parse(*argc, *argv, o) < 0) return -1;
  if (optind < *argc) return vt_fail("unexpected argument '%s'", (*argv)[optind]);
  if (!o->store) return vt_fail("--store is required");
  if (!o->out) return vt_fail("--out is required");
  return 0;
}

/* Where the log and report go; two outputs on one path would replace each
 * other (a --log naming the head destroyed the existing head): a usage error. */
static int plan_outputs(training *t) {
  const vt_train_options *o = &t->o;
  t->log_path = o->log ? vt_xstrdup(o->log) : beside(o->out, ".log.csv");
  t->report_dir = o->report ? vt_xstrdup(o->report) : vt_head_report_path(o->out, NULL);
  if (vt_same_file(t->log_path, o->out)) return vt_fail("--log %s is the head file (--out)", t->log_path);
  if (vt_same_file(t->report_dir, o->out)) return vt_fail("--report %s is the head file (--out)", t->report_dir);
  if (vt_same_file(t->report_dir, t->log_path)) return vt_fail("--report %s is the log file (--log)", t->report_dir);
  return 0;
}

/* The conv head's training store: one tap's maps (and the mirrors'), the
 * usable rows and their split. */
static int open_conv_store(training *t) {
  vt_train_options *o = &t->o;
  if (o->n_taps != 1)
    return vt_fail("--head conv takes the maps of one tap, not %d (--tap %s)", o->n_taps, o->tap);
  snprintf(t->taps_name, sizeof t->taps_name, "%s", o->taps[0]);
  snprintf(t->pooling_name, sizeof t->pooling_name, "maps");
  snprintf(t->recipe_text, sizeof t->recipe_text, "%s/maps", o->taps[0]);
  t->got = "maps";
  t->has_mirrors = vt_conv_store_has_mirrors(&t->st, o->taps[0]);
  if (vt_conv_store_reduction(&t->st, o->taps[0], t->map_reduce, sizeof t->map_reduce) < 0 ||
      vt_conv_choose_mirror(o->augment, t->has_mirrors, t->st.path, &t->cmirror, t->mirror_note,
                            sizeof t->mirror_note) < 0 ||
      usable_rows(&t->st, &t->all, &t->n_failed, &t->n_unlabelled) < 0)
    return -1;
  return split_rows(&t->st, o, &t->all, &t->tr, &t->va, &t->te, t->test_note, sizeof t->test_note);
}

/* --augment flip: store s must hold the mirror images' features of the
 * recipe (vggtap-extract --augment flip), the training store and --eval's. */
static int plan_mirrors(training *t, const vt_store *s) {
  if (!strcmp(t->o.augment, "auto")) t->o.augment = "none"; /* softmax and MLP heads */
  t->mirror = !strcmp(t->o.augment, "flip");
  if (!t->mirror) return 0;
  if (!vt_store_has_mirror(s))
    return vt_fail("%s holds no mirror images, which --augment flip trains and scores on: extract "
                   "it again with vggtap-extract --augment flip (or train with --augment none)", s->path);
  int dim;
  const char *got;
  return vt_features_plan_in(s, "mirror/", &t->recipe, t->o.source, &dim, &got);
}

/* The training store: its taps and poolings as features, the usable rows
 * and their split; refuses a head too large for this machine. */
static int open_training_store(training *t) {
  vt_train_options *o = &t->o;
  if (vt_store_open(o->store, &t->st) < 0) return -1;
  t->st_open = 1;
  if (!o->n_taps) {
    if (!t->st.taps[0] || strchr(t->st.taps, ','))
      return vt_fail("%s holds taps %s: say which with --tap", t->st.path, t->st.taps[0] ? t->st.taps : "(none)");
    if ((o->n_taps = vt_tap_names_parse(t->st.taps, o->taps, VT_RECIPE_MAX_TAPS)) < 0) return -1;
  }
  if (o->is_conv) return open_conv_store(t);
  if (vt_recipe_product(o->taps, o->n_taps, &o->pooling, &t->recipe) < 0) return -1;
  vt_recipe_text(&t->recipe, t->recipe_text, sizeof t->recipe_text);
  vt_pooling_text(&o->pooling, t->pooling_name, sizeof t->pooling_name);
  for (int i = 0; i < o->n_taps; i++)
    snprintf(t->taps_name + strlen(t->taps_name), sizeof t->taps_name - strlen(t->taps_name), "%s%s",
             i ? "," : "", o->taps[i]);
  if (vt_features_plan(&t->st, &t->recipe, o->source, &t->dim, &t->got) < 0 ||
      usable_rows(&t->st, &t->all, &t->n_failed, &t->n_unlabelled) < 0 ||
      split_rows(&t->st, o, &t->all, &t->tr, &t->va, &t->te, t->test_note, sizeof t->test_note) < 0 ||
      plan_mirrors(t, &t->st) < 0)
    return -1;
  return check_head_fits(o, t->dim, t->st.n_classes);
}

/* --eval: a store of the same features, classes mapped by name. */
static int open_eval_store(training *t) {
  if (!t->o.eval) return 0;
  if (vt_store_open(t->o.eval, &t->ev) < 0) return -1;
  t->ev_open = 1;
  int edim;
  const char *egot;
  if (t->o.is_conv) {
    char reduce[16];
    if (check_compatible(&t->st, &t->ev) < 0 ||
        eval_rows(&t->st, &t->ev, &t->er, &t->ev_failed, &t->ev_unlabelled) < 0 ||
        vt_conv_store_reduction(&t->ev, t->taps_name, reduce, sizeof reduce) < 0)
      return -1;
    if (strcmp(reduce, t->map_reduce))
      return vt_fail("%s's maps of %s are reduced by %s, %s's by %s: not comparable", t->ev.path,
                     t->taps_name, reduce, t->st.path, t->map_reduce);
    if (t->cmirror == VT_MIRROR_STORED && !vt_conv_store_has_mirrors(&t->ev, t->taps_name))
      return vt_fail("%s holds no maps of the mirrored photos, which the head averages with "
                     "(%s): extract it with --augment flip", t->ev.path, t->mirror_note);
    return 0;
  }
  if (check_compatible(&t->st, &t->ev) < 0 ||
      eval_rows(&t->st, &t->ev, &t->er, &t->ev_failed, &t->ev_unlabelled) < 0 ||
      vt_features_plan(&t->ev, &t->recipe, t->o.source, &edim, &egot) < 0 || plan_mirrors(t, &t->ev) < 0)
    return -1;
  if (edim != t->dim)
    return vt_fail("%s: %s features of %s are %d wide, %d in %s", t->ev.path, t->pooling_name,
                   t->taps_name, edim, t->dim, t->st.path);
  return 0;
}

static void print_skipped(const char *store, int n_failed) {
  fprintf(stderr, "%s: %s: %d %s whose extraction failed skipped (vggtap-info %s lists the reasons)\n",
          program->name, store, n_failed, vt_plural(n_failed, "row", "rows"), store);
}

/* The rows used and skipped; without --quiet the whole line, with it only
 * the rows skipped, which a pipeline's log must still show. */
static void print_rows(const training *t) {
  if (!t->o.quiet && t->o.is_conv) {
    const vt_map_source *m = &t->src;
    fprintf(stderr,
            "%s: %d rows: %d labelled ok (train %d, val %d, test %d: %s), %d failed and %d "
            "unlabelled skipped; %d classes; conv head on the maps of %s, %dx%dx%d (reduced: %s), "
            "%s; %s\n",
            t->st.path, t->st.n_rows, t->all.n, t->tr.n, t->va.n, t->te.n, t->test_note, t->n_failed,
            t->n_unlabelled, t->st.n_classes, t->taps_name, m->h, m->w, m->c, t->map_reduce,
            t->cached ? "cached in memory" : "read from the file row by row (more than the cache budget)",
            t->mirror_note);
  } else if (!t->o.quiet) {
    fprintf(stderr,
            "%s: %d rows: %d labelled ok (train %d, val %d, test %d: %s), %d failed and %d "
            "unlabelled skipped; %d classes; %s %s, %d features (%s)%s\n",
            t->st.path, t->st.n_rows, t->all.n, t->tr.n, t->va.n, t->te.n, t->test_note, t->n_failed,
            t->n_unlabelled,
            t->st.n_classes, t->taps_name, t->pooling_name, t->dim,
            !strcmp(t->got, "pooled") ? "stored pooled vectors" : !strcmp(t->got, "maps") ? "pooled from the maps"
                                      : "stored pooled vectors and pooled maps",
            t->mirror ? "; and every row's mirror image (--augment flip): training rows twice, scores "
                        "averaging photo and mirror" : "");
  } else if (t->n_failed) {
    print_skipped(t->st.path, t->n_failed);
  }
  if (t->ev_failed) print_skipped(t->ev.path, t->ev_failed);
}

/* The conv head's maps: opened (cached when they fit), not loaded. */
static int open_maps(training *t) {
  int mirrors = t->cmirror == VT_MIRROR_STORED;
  if (vt_conv_open_maps(t->st.path, t->taps_name, mirrors, t->o.cache_mb, &t->src, &t->cached) < 0) return -1;
  t->src_open = 1;
  t->dim = t->src.h * t->src.w * t->src.c;
  if (!t->ev_open) return 0;
  if (vt_conv_open_maps(t->ev.path, t->taps_name, mirrors, t->o.cache_mb, &t->esrc, &t->ecached) < 0) return -1;
  t->esrc_open = 1;
  if (t->esrc.h != t->src.h || t->esrc.w != t->src.w || t->esrc.c != t->src.c)
    return vt_fail("%s's maps of %s are %dx%dx%d, %s's %dx%dx%d", t->ev.path, t->taps_name,
                   t->esrc.h, t->esrc.w, t->esrc.c, t->st.path, t->src.h, t->src.w, t->src.c);
  return 0;
}

/* The features of one row set of each store, the photos' or (group
 * "mirror/") their mirror images'. */
static int load_sets(training *t, const char *group, vt_features *tr, vt_features *va, vt_features *te,
                     vt_features *ev) {
  const vt_train_options *o = &t->o;
  return load(&t->st, o, &t->recipe, group, &t->tr, tr) < 0 || load(&t->st, o, &t->recipe, group, &t->va, va) < 0 ||
                 load(&t->st, o, &t->recipe, group, &t->te, te) < 0 ||
                 (t->ev_open && load(&t->ev, o, &t->recipe, group, &t->er, ev) < 0)
             ? -1
             : 0;
}

/* The features of every row set (and with --augment flip of their mirror
 * images), standardised by the training rows (and their mirror images).
 * The training matrix: the training rows, then their mirror images. */
static int load_features(training *t) {
  if (t->o.is_conv) return 0; /* the conv head reads its maps from t->src */
  if (load_sets(t, "", &t->ftr, &t->fva, &t->fte, &t->fev) < 0 ||
      (t->mirror && load_sets(t, "mirror/", &t->mtr, &t->mva, &t->mte, &t->mev) < 0))
    return -1;
  int dim = t->dim, n = t->tr.n * (1 + t->mirror);
  size_t row = sizeof(float) * (size_t)dim;
  t->xtr = vt_xmalloc(row * (size_t)n + 1);
  t->ytr = vt_xmalloc(sizeof(int) * (size_t)n);
  memcpy(t->xtr, t->ftr.x, row * (size_t)t->tr.n);
  memcpy(t->ytr, t->tr.y, sizeof(int) * (size_t)t->tr.n);
  if (t->mirror) {
    memcpy(t->xtr + (size_t)t->tr.n * dim, t->mtr.x, row * (size_t)t->tr.n);
    memcpy(t->ytr + t->tr.n, t->tr.y, sizeof(int) * (size_t)t->tr.n);
  }
  t->hf.mean = vt_xmalloc(sizeof(float) * (size_t)dim);
  t->hf.std = vt_xmalloc(sizeof(float) * (size_t)dim);
  vt_standardize_fit(t->xtr, n, dim, t->hf.mean, t->hf.std);
  vt_standardize_apply(t->xtr, n, dim, t->hf.mean, t->hf.std);
  vt_features *sets[] = {&t->ftr, &t->fva, &t->fte, &t->fev, &t->mtr, &t->mva, &t->mte, &t->mev};
  for (int i = 0; i < 8; i++) vt_standardize_apply(sets[i]->x, sets[i]->n, dim, t->hf.mean, t->hf.std);
  return 0;
}

/* The conv head: shaped for the maps (--conv), trained on the team. */
static int fit_conv(training *t) {
  vt_train_options *o = &t->o;
  vt_convnet_config cc;
  if (vt_convnet_config_default(&cc, t->src.h, t->src.w, t->src.c, t->st.n_classes) < 0 ||
      (o->conv && vt_convnet_parse_convs(&cc, o->conv) < 0))
    return vt_fail_prefix("--conv");
  /* the grid: at most 4 x 4, and no larger than the last conv's map */
  int side = cc.in_pool ? (cc.in_h < cc.in_w ? cc.in_h : cc.in_w) / 2 : (cc.in_h < cc.in_w ? cc.in_h : cc.in_w);
  for (int l = 0; l + 1 < cc.n_convs; l++) side /= 2;
  if (side < 1)
    return vt_fail("--conv %s: %d convs with a 2x2 max pool between each are too many for %dx%d maps",
                   o->conv, cc.n_convs, t->src.h, t->src.w);
  cc.grid = side < 4 ? side : 4;
  cc.dropout = o->tc.dropout;
  if (vt_convnet_init(&t->hf.conv, &cc) < 0) return vt_fail_prefix("--conv");
  t->hf.is_conv = 1;
  vt_convnet_convs_text(&cc, t->convs, sizeof t->convs);
  vt_convnet_train_config c;
  vt_convnet_train_config_default(&c);
  c.t = o->tc;
  c.threads = o->threads > 0 ? o->threads : vt_cpu_count();
  c.augment = c.eval = t->cmirror;
  vt_rowset tr = {t->tr.rows, t->tr.y, t->tr.n}, va = {t->va.rows, t->va.y, t->va.n};
  if (!o->quiet)
    fprintf(stderr, "conv head %s: %zu parameters, %d threads\n", t->convs, t->hf.conv.n_params,
            c.threads);
  return vt_convnet_train(&t->hf.conv, &t->src, &tr, &va, &c, &t->res);
}

/* Trains the head (after choosing the weight decay with auto). */
static int fit_head(training *t) {
  vt_train_options *o = &t->o;
  bli_thread_set_num_threads(1); /* small products: one thread is fastest */
  if (o->is_conv) return fit_conv(t);
  if (vt_head_init(&t->hf.head, t->dim, o->n_hidden, o->hidden_widths, t->st.n_classes) < 0) return -1;
  vt_xy xtr = {t->xtr, t->ytr, t->tr.n * (1 + t->mirror), NULL},
        xva = {t->fva.x, t->va.y, t->va.n, t->mirror ? t->mva.x : NULL};
  /* lbfgs solves the penalised loss exactly, so the penalty matters more than
   * with early-stopped Adam: default to scikit-learn's C = 1, lambda = 1/n */
  if (o->tc.optim.kind == VT_OPT_LBFGS && !o->wd_given) o->tc.optim.weight_decay = 1.0f / (float)t->tr.n;
  if (o->wd_auto && choose_weight_decay(&t->hf.head, &xtr, &xva, o) < 0) return -1;
  if (vt_train(&t->hf.head, &xtr, &xva, &o->tc, &t->res) < 0) return -1;
  /* said with --quiet too: the head may be short of its optimum */
  if (t->res.iteration_limit)
    fprintf(stderr, "%s: L-BFGS stopped at its iteration limit (%d) without converging; raise it "
                    "with --epochs N\n", program->name, o->tc.epochs);
  return 0;
}

/* The conv head's probabilities of the rows of source src (mirror-averaged
 * as trained), and their metrics. */
static int score_conv(training *t, vt_map_source *src, const row_set *rs, float *probs, vt_metrics *m) {
  int k = t->st.n_classes, threads = t->o.threads > 0 ? t->o.threads : vt_cpu_count();
  if (vt_convnet_predict_rows(&t->hf.conv, src, rs->rows, rs->n, t->cmirror, 64, threads, probs) < 0)
    return -1;
  int *pred = vt_xmalloc(sizeof(int) * ((size_t)rs->n + 1));
  for (int i = 0; i < rs->n; i++) pred[i] = vt_argmax(probs + (size_t)i * k, k);
  int rc = vt_metrics_compute(k, rs->n, rs->y, pred, m);
  free(pred);
  return rc;
}

/* The head's scores of row set rs (features fx, or for a conv head maps
 * from src). */
static int score_rows(training *t, const vt_features *fx, vt_map_source *src, const row_set *rs,
                      float *probs, vt_metrics *m) {
  if (t->hf.is_conv) return score_conv(t, src, rs, probs, m);
  return score(&t->hf.head, fx, NULL, rs, t->st.n_classes, probs, m);
}

/* Scores the head on the --eval rows, else the test rows, else validation,
 * else (nothing held out) the training rows. */
static int evaluate(training *t) {
  int have_ev = t->ev_open;
  t->fe = have_ev ? &t->fev : t->te.n ? &t->fte : t->va.n ? &t->fva : &t->ftr;
  t->me = !t->mirror ? NULL : have_ev ? &t->mev : t->te.n ? &t->mte : t->va.n ? &t->mva : &t->mtr;
  t->re = have_ev ? &t->er : t->te.n ? &t->te : t->va.n ? &t->va : &t->tr;
  snprintf(t->eval_name, sizeof t->eval_name, "%s",
           have_ev ? t->o.eval : t->te.n ? "test split" : t->va.n ? "validation split"
                                                        : "training rows (nothing held out)");
  int k = t->st.n_classes;
  float *probs = vt_xmalloc(sizeof(float) * ((size_t)t->re->n * k + 1));
  int rc = t->hf.is_conv ? score_rows(t, t->fe, have_ev ? &t->esrc : &t->src, t->re, probs, &t->m)
                        : score(&t->hf.head, t->fe, t->me, t->re, k, probs, &t->m);
  /* the validation rows' own scores, and what they chose */
  if (rc == 0 && t->va.n > 0 && t->re != &t->va) {
    float *vp = vt_xmalloc(sizeof(float) * ((size_t)t->va.n * k + 1));
    rc = t->hf.is_conv ? score_rows(t, &t->fva, &t->src, &t->va, vp, &t->vm)
                       : score(&t->hf.head, &t->fva, t->mirror ? &t->mva : NULL, &t->va, k, vp, &t->vm);
    free(vp);
  }
  const vt_train_options *o = &t->o;
  t->val_chose = !t->va.n ? NULL
                 : o->tc.patience > 0 && o->wd_auto ? "the kept epoch and the weight decay"
                 : o->tc.patience > 0               ? "the kept epoch"
                 : o->wd_auto                       ? "the weight decay"
                                                    : NULL;
  if (rc == 0) t->n_wrong = gallery(have_ev ? &t->ev : &t->st, t->re, probs, k, &t->wrong);
  free(probs);
  return rc;
}

/* The head file's contents: the head, its statistics, and what it was
 * trained on and how. */
static void describe_head(training *t, int argc, char **argv) {
  vt_head_file *hf = &t->hf;
  const vt_store *st = &t->st;
  t->cmd = vt_join_args(argc, argv);
  t->config = config_text(&t->o, vt_head_file_kind(hf), t->convs, vt_mirror_mode_name(t->cmirror),
                          t->taps_name, t->pooling_name);
  hf->map_reduce = t->map_reduce;
  hf->mirror = (char *)vt_mirror_mode_name(t->cmirror);
  hf->n_classes = st->n_classes;
  hf->classes = st->classes;
  hf->tap = t->taps_name;
  hf->pooling = t->pooling_name;
  hf->features = t->recipe_text;
  hf->preprocessing = st->preprocessing;
  hf->resize = st->resize;
  hf->precision = st->precision;
  hf->weights_sha256 = st->weights_sha256;
  hf->input_height = st->input_height;
  hf->input_width = st->input_width;
  hf->store = (char *)t->o.store;
  hf->eval_store = (char *)(t->o.eval ? t->o.eval : "");
  hf->feature_source = (char *)(hf->is_conv ? (t->cached ? "maps (cached)" : "maps (streamed)") : t->ftr.source);
  hf->augment = (char *)t->o.augment;
  hf->config = t->config;
  hf->command = t->cmd;
  hf->best_epoch = t->res.best_epoch;
  hf->n_train = t->tr.n;
  hf->train_rows = t->tr.rows;
  hf->n_val = t->va.n;
  hf->val_rows = t->va.rows;
  hf->n_test = t->te.n;
  hf->test_rows = t->te.rows;
}

/* Writes the head, the log and the report, then prints the report. The
 * head is staged first (the largest file: a full disk shows here) and
 * renamed over --out last, so that a failure on the way leaves an existing
 * head as it was; an interrupt waits until all is renamed (or removed, on a
 * failure), so it leaves the old outputs or the new ones. */
static int write_outputs(training *t, double t0) {
  const vt_train_options *o = &t->o;
  vt_signal_hold(); /* released by training_free */
  if (!(t->staged = vt_head_file_stage(o->out, &t->hf)) || vt_write_file_atomic(t->log_path, write_log, &t->res) < 0)
    return -1;
  long dense, dense_convs;
  baseline_params(&t->st, t->o.taps, t->o.n_taps, t->st.n_classes, &dense, &dense_convs);
  const char *kind = vt_head_file_kind(&t->hf), *hidden = t->hf.is_conv ? t->convs : o->hidden ? o->hidden : "";
  char title[512];
  snprintf(title, sizeof title, "%s %s %s%s%s", t->taps_name, t->pooling_name, kind, *hidden ? " " : "", hidden);
  json_t *extra = json_pack(
      "{s:o, s:o, s:o, s:o, s:i, s:o, s:o, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:I}", "tap",
      vt_json_text(t->taps_name), "pooling", vt_json_text(t->pooling_name), "head", vt_json_text(kind), "hidden",
      vt_json_text(hidden), "features", t->dim, "feature_source", vt_json_text(t->hf.feature_source), "augment",
      vt_json_text(t->o.augment), "n_test", t->te.n,
      "n_eval", t->re->n, "skipped_failed", t->n_failed, "skipped_unlabelled", t->n_unlabelled,
      "eval_skipped_failed", t->ev_failed, "eval_skipped_unlabelled", t->ev_unlabelled, "best_epoch",
      t->res.best_epoch, "epochs_run", t->res.n_epochs, "seed", (json_int_t)o->tc.seed);
  vt_report rep = {
      .title = title, .eval_name = t->eval_name, .class_names = (const char *const *)t->st.classes,
      .metrics = &t->m, .epochs = t->res.epochs, .n_epochs = t->res.n_epochs,
      .head_params = (long)(t->hf.is_conv ? t->hf.conv.n_params : t->hf.head.n_params), .dense_params = dense,
      .dense_params_with_convs = dense_convs, .train_seconds = t->res.seconds, .extra = extra,
      .scored = t->ev_open ? VT_SCORED_EVAL : t->te.n ? VT_SCORED_TEST : t->va.n ? VT_SCORED_VAL : VT_SCORED_TRAIN,
      .n_train = t->tr.n, .n_val = t->va.n, .val_chose = t->val_chose, .test_note = t->test_note,
      .val_metrics = t->va.n ? (t->re == &t->va ? &t->m : &t->vm) : NULL, .kept_epoch = t->res.best_epoch,
      .wrong = t->wrong, .n_wrong = t->n_wrong, .settings = t->config};
  int written = vt_report_write(t->report_dir, &rep);
  json_decref(extra);
  if (written < 0) return -1;
  int committed = vt_head_file_commit(t->staged, o->out);
  t->staged = NULL;
  if (committed < 0) return -1;
  vt_signal_release();
  vt_report_print(stdout, &rep);
  printf("best epoch %d of %d run; head: %s, log: %s, report: %s/ (%.1f s in all)\n", t->res.best_epoch,
         t->res.n_epochs, o->out, t->log_path, t->report_dir, vt_now() - t0);
  return 0;
}

/* Every output can be written: checked before the work, not after. */
static int check_outputs(const training *t) {
  if (vt_check_writable(t->o.out) < 0 || vt_check_writable(t->log_path) < 0) return -1;
  return vt_report_check_dir(t->report_dir);
}

static int run(training *t, int argc, char **argv, double t0) {
  if (open_training_store(t) < 0 || open_eval_store(t) < 0 || check_outputs(t) < 0) return -1;
  if (t->o.is_conv && open_maps(t) < 0) return -1;
  print_rows(t);
  if (load_features(t) < 0 || fit_head(t) < 0 || evaluate(t) < 0) return -1;
  describe_head(t, argc, argv);
  return write_outputs(t, t0);
}

int main(int argc, char **argv) {
  vt_h5_no_close_at_exit();
  double t0 = vt_now();
  training t = {0};
  int rc;
  if (read_command_line(&argc, &argv, &t.o) < 0 || plan_outputs(&t) < 0) {
    rc = vt_exit_usage(program);
  } else {
    vt_h5_quiet();
    rc = run(&t, argc, argv, t0) < 0 ? vt_exit_error(program) : VT_EXIT_OK;
  }
  training_free(&t);
  return rc;
}
