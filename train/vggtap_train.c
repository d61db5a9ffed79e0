/* vggtap-train: trains a small head (softmax regression or an MLP) on the
 * pooled features of one tap of a feature store, and reports how well it
 * does. Everything is checked before anything is written; every output file
 * appears complete or not at all. */
#include <blis.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report.h"
#include "report_html.h"
#include "base/vt_cli.h"
#include "base/vt_common.h"
#include "base/vt_config.h"
#include "vt_features.h"
#include "store/vt_h5.h"
#include "vt_head_file.h"
#include "base/vt_signal_hold.h"
#include "vt_split.h"
#include "vt_standardize.h"
#include "store/vt_store_read.h"
#include "store/vt_store_schema.h"
#include "vt_trainer.h"
#include "net/vt_vgg.h"

enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_USAGE = 2 };

static const char usage[] =
    "usage: vggtap-train --store STORE.h5 --tap LAYER[,LAYER...] --out HEAD.h5 [options]\n"
    "\n"
    "Trains a head on the pooled features of taps of a feature store (made by\n"
    "vggtap-extract), writes it to HEAD.h5 (docs/HEAD.md) with a per-epoch log,\n"
    "and prints and writes an evaluation report.\n"
    "\n"
    "Data:\n"
    "  --store FILE          feature store to train on (required)\n"
    "  --tap LIST            layers whose features to use, e.g. block2_pool, or\n"
    "                        block1_pool,block2_pool (concatenated in that order; default:\n"
    "                        the store's tap, if it holds only one)\n"
    "  --pool LIST           avgG / maxG for a GxG grid of cells (the store's grids, 1, 2, 4\n"
    "                        by default; any G from stored maps), concatenated in the order\n"
    "                        given: avg1 (= gap, the default: global average), max1\n"
    "                        (= gmp), max4, avg1,avg2,avg4 (a spatial pyramid)... Every\n"
    "                        tap gets every part.\n"
    "  --features SRC        auto (default): stored pooled vectors when present, else pool\n"
    "                        the stored maps (streamed one row at a time); pooled; maps\n"
    "  --split MODE          random (default): stratified, seeded split of the labelled rows;\n"
    "                        manifest: the store's split column (train / val / test)\n"
    "  --val-fraction F      validation share for --split random, of the rows left after the\n"
    "                        test split (default 0.2; 0 = none)\n"
    "  --test-fraction F     share of each class held out as the test split, which chooses\n"
    "                        nothing and gives the reported score: random split, of all rows;\n"
    "                        manifest without test rows, of its validation rows. auto\n"
    "                        (default): 0.2 (random) or 0.5 (manifest) where every class\n"
    "                        gives two test rows and keeps two, else none; none with --eval;\n"
    "                        0 = none\n"
    "  --eval FILE           score on this other store (same taps, preprocessing, resize\n"
    "                        policy, input size and weights); default: the test split, else\n"
    "                        the validation split, and the report says which\n"
    "\n"
    "Head:\n"
    "  --hidden LIST         hidden layer widths, e.g. 256,128 (default: none = softmax\n"
    "                        regression); ReLU activations\n"
    "  --dropout P           dropout on hidden layers while training (default 0)\n"
    "\n"
    "Training:\n"
    "  --optimizer NAME      lbfgs: full-batch L-BFGS, L2 penalty --weight-decay / 2 |W|^2\n"
    "                        (default for softmax regression, which it solves to convergence);\n"
    "                        adam: mini-batch, weight decay decoupled as AdamW (default for\n"
    "                        --hidden); sgd: mini-batch with momentum\n"
    "  --lr X                adam/sgd learning rate (default 0.001 adam, 0.01 sgd)\n"
    "  --momentum X          sgd momentum (default 0.9)\n"
    "  --weight-decay X      on weights, not biases (default 1e-4; lbfgs: 1/n_train, the\n"
    "                        penalty of scikit-learn's LogisticRegression(C=1)); auto: train\n"
    "                        with the default x 0.01, 0.1, 1, 10, 100 and keep the one with\n"
    "                        the lowest validation loss (needs validation rows)\n"
    "  --lr-schedule S       adam/sgd: constant (default), cosine (to 0 over --epochs), step\n"
    "  --lr-step N           step schedule: lr x 0.1 every N epochs (default 30)\n"
    "  --batch-size N        adam/sgd (default 64)\n"
    "  --epochs N            at most N epochs, or lbfgs iterations (default 200; lbfgs 500)\n"
    "  --patience N          stop after N epochs without a lower validation loss and keep\n"
    "                        the best epoch's weights (default 10; lbfgs 0); 0 = never stop\n"
    "                        early, keep the last weights\n"
    "  --class-weight W      none (default) or balanced: weight class k by n / (K n_k)\n"
    "  --label-smoothing S   (default 0)\n"
    "  --seed N              seed of the split, initial weights, batch order and dropout\n"
    "                        (default 0); the same seed gives bitwise the same head\n"
    "\n"
    "Output:\n"
    "  --out FILE            the head file to write (required)\n"
    "  --log FILE            per-epoch CSV log (default: HEAD.log.csv beside the head)\n"
    "  --report DIR          report directory: report.html (one page: scores, curves,\n"
    "                        tables, the photos most confidently wrong), metrics.json,\n"
    "                        per_class.csv, confusion.csv, confusion.txt, confusion.png,\n"
    "                        curves.png (default: HEAD.report beside the head)\n"
    "  --quiet               no per-epoch progress (the report is still printed)\n"
    "  --config FILE         options from the [train] section of an INI file\n"
    "                        (docs/CONFIG.md); flags given here win\n"
    "  --help, --version\n"
    "\n"
    "Rows whose extraction failed and unlabelled rows are skipped and counted.\n"
    "Bad input (a tap the store lacks, an empty or single class, no labels,\n"
    "NaN/inf features, a corrupt or foreign file) stops with a message before\n"
    "anything is written.\n"
    "\n"
    "Exit status: 0 success, 1 error (bad or inconsistent input, I/O), 2 usage.\n";

typedef struct {
  const char *store, *tap, *pool, *out, *eval, *report, *log, *hidden, *split, *features;
  const char *class_weight;
  double val_fraction, test_fraction; /* test_fraction < 0: auto */
  int quiet, lr_given, optimizer_given, epochs_given, patience_given, wd_given, wd_auto;
  vt_train_config tc;
} options;

static int usage_error(const char *fmt, const char *arg) {
  char msg[1024];
  snprintf(msg, sizeof msg, fmt, arg);
  fprintf(stderr, "vggtap-train: %s\n(see vggtap-train --help)\n", vt_config_annotate(msg));
  return EXIT_USAGE;
}

/* Parses argv into o; returns -1 to continue, else an exit status. */
static int parse_args(int argc, char **argv, options *o) {
  memset(o, 0, sizeof *o);
  vt_train_config_default(&o->tc);
  o->tc.verbose = 1;
  o->pool = "gap";
  o->split = "random";
  o->features = "auto";
  o->class_weight = "none";
  o->val_fraction = 0.2;
  o->test_fraction = -1;
  enum { O_STORE = 256, O_TAP, O_POOL, O_OUT, O_EVAL, O_REPORT, O_LOG, O_HIDDEN, O_DROPOUT,
         O_OPT, O_LR, O_MOM, O_WD, O_SCHED, O_LRSTEP, O_BATCH, O_EPOCHS, O_PATIENCE, O_CW,
         O_SMOOTH, O_VALF, O_TESTF, O_SPLIT, O_SEED, O_FEAT, O_QUIET, O_HELP, O_VERSION };
  static const struct option longopts[] = {
      {"store", 1, 0, O_STORE}, {"tap", 1, 0, O_TAP}, {"pool", 1, 0, O_POOL},
      {"out", 1, 0, O_OUT}, {"eval", 1, 0, O_EVAL}, {"report", 1, 0, O_REPORT},
      {"log", 1, 0, O_LOG}, {"hidden", 1, 0, O_HIDDEN}, {"dropout", 1, 0, O_DROPOUT},
      {"optimizer", 1, 0, O_OPT}, {"lr", 1, 0, O_LR}, {"momentum", 1, 0, O_MOM},
      {"weight-decay", 1, 0, O_WD}, {"lr-schedule", 1, 0, O_SCHED}, {"lr-step", 1, 0, O_LRSTEP},
      {"batch-size", 1, 0, O_BATCH}, {"epochs", 1, 0, O_EPOCHS}, {"patience", 1, 0, O_PATIENCE},
      {"class-weight", 1, 0, O_CW}, {"label-smoothing", 1, 0, O_SMOOTH},
      {"val-fraction", 1, 0, O_VALF}, {"test-fraction", 1, 0, O_TESTF}, {"split", 1, 0, O_SPLIT}, {"seed", 1, 0, O_SEED},
      {"features", 1, 0, O_FEAT}, {"quiet", 0, 0, O_QUIET}, {"help", 0, 0, O_HELP},
      {"version", 0, 0, O_VERSION}, {0, 0, 0, 0}};
  if (vt_config_apply(&argc, &argv, "train", longopts) < 0) return usage_error("%s", vt_failure_reason());
  int c;
  long iv;
  double fv;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case O_STORE: o->store = optarg; break;
    case O_TAP: o->tap = optarg; break;
    case O_POOL: o->pool = optarg; break;
    case O_OUT: o->out = optarg; break;
    case O_EVAL: o->eval = optarg; break;
    case O_REPORT: o->report = optarg; break;
    case O_LOG: o->log = optarg; break;
    case O_HIDDEN: o->hidden = optarg[0] ? optarg : NULL; break; /* "" = softmax */
    case O_DROPOUT:
      if (vt_parse_double(optarg, 0, 0.95, "--dropout", &fv) < 0) return usage_error("%s", vt_failure_reason());
      o->tc.dropout = (float)fv;
      break;
    case O_OPT:
      if (vt_optimizer_parse(optarg, &o->tc.optim.kind) < 0)
        return usage_error("--optimizer is lbfgs, adam or sgd, not '%s'", optarg);
      o->optimizer_given = 1;
      break;
    case O_LR:
      if (vt_parse_double(optarg, 1e-9, 100, "--lr", &fv) < 0) return usage_error("%s", vt_failure_reason());
      o->tc.lr = (float)fv;
      o->lr_given = 1;
      break;
    case O_MOM:
      if (vt_parse_double(optarg, 0, 0.9999, "--momentum", &fv) < 0) return usage_error("%s", vt_failure_reason());
      o->tc.optim.momentum = (float)fv;
      break;
    case O_WD:
      if (strcmp(optarg, "auto") == 0) {
        o->wd_auto = 1;
        break;
      }
      if (vt_parse_double(optarg, 0, 10, "--weight-decay", &fv) < 0)
        return usage_error("--weight-decay wants auto or a number in 0..10, not '%s'", optarg);
      o->tc.optim.weight_decay = (float)fv;
      o->wd_given = 1;
      o->wd_auto = 0;
      break;
    case O_SCHED:
      if (vt_lr_schedule_parse(optarg, &o->tc.schedule) < 0)
        return usage_error("--lr-schedule is constant, cosine or step, not '%s'", optarg);
      break;
    case O_LRSTEP:
      if (vt_parse_long(optarg, 1, 1000000, "--lr-step", &iv) < 0) return usage_error("%s", vt_failure_reason());
      o->tc.lr_step_epochs = (int)iv;
      break;
    case O_BATCH:
      if (vt_parse_long(optarg, 1, 1 << 20, "--batch-size", &iv) < 0) return usage_error("%s", vt_failure_reason());
      o->tc.batch_size = (int)iv;
      break;
    case O_EPOCHS:
      if (vt_parse_long(optarg, 1, 1000000, "--epochs", &iv) < 0) return usage_error("%s", vt_failure_reason());
      o->tc.epochs = (int)iv;
      o->epochs_given = 1;
      break;
    case O_PATIENCE:
      if (vt_parse_long(optarg, 0, 1000000, "--patience", &iv) < 0) return usage_error("%s", vt_failure_reason());
      o->tc.patience = (int)iv;
      o->patience_given = 1;
      break;
    case O_CW:
      if (strcmp(optarg, "balanced") && strcmp(optarg, "none"))
        return usage_error("--class-weight is balanced or none, not '%s'", optarg);
      o->class_weight = optarg;
      o->tc.balanced_class_weights = strcmp(optarg, "balanced") == 0;
      break;
    case O_SMOOTH:
      if (vt_parse_double(optarg, 0, 0.99, "--label-smoothing", &fv) < 0) return usage_error("%s", vt_failure_reason());
      o->tc.label_smoothing = (float)fv;
      break;
    case O_VALF:
      if (vt_parse_double(optarg, 0, 0.9, "--val-fraction", &fv) < 0) return usage_error("%s", vt_failure_reason());
      o->val_fraction = fv;
      break;
    case O_TESTF:
      if (strcmp(optarg, "auto") == 0) {
        o->test_fraction = -1;
        break;
      }
      if (vt_parse_double(optarg, 0, 0.9, "--test-fraction", &fv) < 0)
        return usage_error("--test-fraction wants auto or a number in 0..0.9, not '%s'", optarg);
      o->test_fraction = fv;
      break;
    case O_SPLIT:
      if (strcmp(optarg, "random") && strcmp(optarg, "manifest"))
        return usage_error("--split is random or manifest, not '%s'", optarg);
      o->split = optarg;
      break;
    case O_SEED:
      if (vt_parse_long(optarg, 0, 2147483647L, "--seed", &iv) < 0) return usage_error("%s", vt_failure_reason());
      o->tc.seed = (uint64_t)iv;
      break;
    case O_FEAT: {
      vt_feature_source s;
      if (vt_feature_source_parse(optarg, &s) < 0)
        return usage_error("--features is auto, pooled or maps, not '%s'", optarg);
      o->features = optarg;
      break;
    }
    case O_QUIET: o->quiet = 1; o->tc.verbose = 0; break;
    case O_HELP: fputs(usage, stdout); return EXIT_OK;
    case O_VERSION: printf("vggtap-train %s\n", VT_VERSION); return EXIT_OK;
    default: return usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc) return usage_error("unexpected argument '%s'", argv[optind]);
  if (!o->store) return usage_error("%s", "--store is required");
  if (!o->out) return usage_error("%s", "--out is required");
  /* defaults that depend on the head: softmax regression is convex, so run
   * full-batch L-BFGS to convergence; MLPs train with Adam and early stopping */
  if (!o->optimizer_given) o->tc.optim.kind = o->hidden ? VT_OPT_ADAM : VT_OPT_LBFGS;
  if (o->tc.optim.kind == VT_OPT_LBFGS) {
    if (!o->epochs_given) o->tc.epochs = 500;
    if (!o->patience_given) o->tc.patience = 0;
  }
  if (!o->lr_given && o->tc.optim.kind == VT_OPT_SGD) o->tc.lr = 0.01f;
  return -1;
}

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
static int split_rows(const vt_store *s, const options *o, const row_set *all, row_set *tr,
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

static int load(const vt_store *s, const options *o, const vt_recipe *r, const row_set *rs,
                vt_features *f) {
  vt_feature_source src;
  vt_feature_source_parse(o->features, &src);
  return vt_features_load(s, r, src, rs->rows, rs->n, !o->quiet, f);
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

static char *config_text(const options *o, const vt_head *h, const char *taps,
                         const char *pooling) {
  char *s = vt_xmalloc(4096), test_fraction[32] = "auto";
  const vt_train_config *c = &o->tc;
  if (o->test_fraction >= 0) snprintf(test_fraction, sizeof test_fraction, "%g", o->test_fraction);
  snprintf(s, 4096,
           "tap=%s\npool=%s\npooling=%s\nhead=%s\nhidden=%s\ndropout=%g\noptimizer=%s\nlr=%g\n"
           "momentum=%g\nweight_decay=%g\nlr_schedule=%s\nlr_step=%d\nbatch_size=%d\nepochs=%d\n"
           "patience=%d\nclass_weight=%s\nlabel_smoothing=%g\nsplit=%s\nval_fraction=%g\ntest_fraction=%s\n"
           "weight_decay_auto=%d\n"
           "seed=%llu\nfeatures=%s\n",
           taps, o->pool, pooling, vt_head_kind(h), o->hidden ? o->hidden : "", c->dropout,
           vt_optimizer_name(c->optim.kind), c->lr, c->optim.momentum, c->optim.weight_decay,
           vt_lr_schedule_name(c->schedule), c->lr_step_epochs, c->batch_size, c->epochs,
           c->patience, o->class_weight, c->label_smoothing, o->split, o->val_fraction, test_fraction,
           o->wd_auto,
           (unsigned long long)c->seed, o->features);
  return s;
}

/* --weight-decay auto: the default penalty times 10^-2 .. 10^2, each trained
 * in full; keeps the one whose final weights have the lowest validation loss
 * (the same criterion early stopping uses). */
static int choose_weight_decay(vt_head *h, const vt_xy *tr, const vt_xy *va, options *o) {
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
static int check_head_fits(const options *o, int dim, int n_hidden, const int *hidden, int k) {
  size_t n, need, per_param = vt_train_bytes_per_param(&o->tc);
  if (vt_head_param_count(dim, n_hidden, hidden, k, &n) < 0) return -1;
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

static int parse_hidden(const char *spec, int *hidden) {
  if (!spec || !*spec) return 0;
  char buf[256];
  if (strlen(spec) >= sizeof buf) return -1;
  strcpy(buf, spec);
  char *items[VT_HEAD_MAX_LAYERS];
  int n = vt_split_commas(buf, items, VT_HEAD_MAX_LAYERS - 1);
  if (n < 0) return -1;
  for (int i = 0; i < n; i++) {
    long v;
    if (vt_parse_long(items[i], 1, 1 << 16, "--hidden", &v) < 0) return -1;
    hidden[i] = (int)v;
  }
  return n;
}

/* The head's probabilities probs [rs->n][k] on features fx, and its metrics. */
static int score(const vt_head *h, const vt_features *fx, const row_set *rs, int k, float *probs,
                 vt_metrics *m) {
  vt_head_work w;
  if (vt_head_work_init(&w, h, 1024) < 0) return -1;
  vt_head_predict(h, &w, fx->x, rs->n, probs);
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

static int run(int argc, char **argv, const options *o0) {
  options opts = *o0, *o = &opts;
  vt_store st, ev;
  int have_ev = 0, rc = EXIT_ERROR;
  row_set all = {0}, tr = {0}, va = {0}, te = {0}, er = {0};
  vt_features ftr = {0}, fva = {0}, fte = {0}, fev = {0};
  vt_head_file hf;
  memset(&hf, 0, sizeof hf);
  vt_train_result res = {0};
  vt_metrics m = {0}, vm = {0};
  vt_report_example *wrong = NULL;
  int n_wrong = 0;
  char *log_path = NULL, *report_dir = NULL, *tap_owned = NULL, *cmd = NULL, *config = NULL;
  char *staged = NULL; /* the head's temporary file until it is renamed to --out */
  float *probs = NULL;
  double t0 = vt_now();

  int hidden[VT_HEAD_MAX_LAYERS];
  int n_hidden = parse_hidden(o->hidden, hidden);
  if (n_hidden < 0) {
    char msg[256];
    snprintf(msg, sizeof msg, "--hidden wants positive widths like 256,128 (at most %d), not '%%s'",
             VT_HEAD_MAX_LAYERS - 1);
    return usage_error(msg, o->hidden);
  }
  vt_pooling pooling;
  if (vt_pooling_parse(o->pool, &pooling) < 0) return usage_error("--pool: %s", vt_failure_reason());
  char pooling_name[256], taps_name[VT_RECIPE_MAX_TAPS * VT_TAP_NAME_MAX], recipe_text[4096];
  char taps[VT_RECIPE_MAX_TAPS][VT_TAP_NAME_MAX];
  vt_pooling_text(&pooling, pooling_name, sizeof pooling_name);
  int n_taps = 0;
  if (o->tap && (n_taps = vt_taps_parse(o->tap, taps, VT_RECIPE_MAX_TAPS)) < 0)
    return usage_error("--tap: %s", vt_failure_reason());
  vt_recipe recipe;
  log_path = o->log ? vt_xstrdup(o->log) : beside(o->out, ".log.csv");
  report_dir = o->report ? vt_xstrdup(o->report) : beside(o->out, ".report");
  /* two outputs on one path: the later one would replace the earlier (a
   * --log naming the head destroyed the existing head) */
  const char *clash = NULL, *clashing = NULL;
  if (vt_same_file(log_path, o->out)) clash = "--log %s is the head file (--out)", clashing = log_path;
  else if (vt_same_file(report_dir, o->out)) clash = "--report %s is the head file (--out)", clashing = report_dir;
  else if (vt_same_file(report_dir, log_path)) clash = "--report %s is the log file (--log)", clashing = report_dir;
  if (clash) {
    rc = usage_error(clash, clashing);
    free(log_path);
    free(report_dir);
    return rc;
  }

  if (vt_store_open(o->store, &st) < 0) goto fail_noclose;
  if (!o->tap) {
    if (!st.taps[0] || strchr(st.taps, ',')) {
      vt_fail("%s holds taps %s: say which with --tap", st.path, st.taps[0] ? st.taps : "(none)");
      goto fail;
    }
    o->tap = tap_owned = vt_xstrdup(st.taps);
    n_taps = vt_taps_parse(o->tap, taps, VT_RECIPE_MAX_TAPS);
    if (n_taps < 0) goto fail;
  }
  if (vt_recipe_product(taps, n_taps, &pooling, &recipe) < 0) goto fail;
  vt_recipe_text(&recipe, recipe_text, sizeof recipe_text);
  taps_name[0] = '\0';
  for (int t = 0; t < n_taps; t++)
    snprintf(taps_name + strlen(taps_name), sizeof taps_name - strlen(taps_name), "%s%s",
             t ? "," : "", taps[t]);
  int n_failed, n_unlabelled, dim;
  vt_feature_source src;
  const char *got;
  vt_feature_source_parse(o->features, &src);
  if (vt_features_plan(&st, &recipe, src, &dim, &got) < 0) goto fail;
  if (usable_rows(&st, &all, &n_failed, &n_unlabelled) < 0) goto fail;
  char test_note[256] = "";
  if (split_rows(&st, o, &all, &tr, &va, &te, test_note, sizeof test_note) < 0) goto fail;
  if (check_head_fits(o, dim, n_hidden, hidden, st.n_classes) < 0) goto fail;

  int ev_failed = 0, ev_unlabelled = 0;
  if (o->eval) {
    if (vt_store_open(o->eval, &ev) < 0) goto fail;
    have_ev = 1;
    int edim;
    const char *egot;
    if (check_compatible(&st, &ev) < 0 || eval_rows(&st, &ev, &er, &ev_failed, &ev_unlabelled) < 0 ||
        vt_features_plan(&ev, &recipe, src, &edim, &egot) < 0)
      goto fail;
    if (edim != dim) {
      vt_fail("%s: %s features of %s are %d wide, %d in %s", ev.path, pooling_name, taps_name, edim,
              dim, st.path);
      goto fail;
    }
  }
  if (vt_check_writable(o->out) < 0 || vt_check_writable(log_path) < 0 ||
      vt_report_check_dir(report_dir) < 0)
    goto fail;

  if (!o->quiet)
    fprintf(stderr,
            "%s: %d rows: %d labelled ok (train %d, val %d, test %d: %s), %d failed and %d "
            "unlabelled skipped; %d classes; %s %s, %d features (%s)\n",
            st.path, st.n_rows, all.n, tr.n, va.n, te.n, test_note, n_failed, n_unlabelled, st.n_classes,
            taps_name, pooling_name, dim,
            !strcmp(got, "pooled") ? "stored pooled vectors" : !strcmp(got, "maps") ? "pooled from the maps"
                                   : "stored pooled vectors and pooled maps");
  if (load(&st, o, &recipe, &tr, &ftr) < 0 || load(&st, o, &recipe, &va, &fva) < 0 ||
      load(&st, o, &recipe, &te, &fte) < 0 || (have_ev && vt_features_load(&ev, &recipe, src, er.rows, er.n, !o->quiet, &fev) < 0))
    goto fail;

  hf.mean = vt_xmalloc(sizeof(float) * (size_t)dim);
  hf.std = vt_xmalloc(sizeof(float) * (size_t)dim);
  vt_standardize_fit(ftr.x, ftr.n, dim, hf.mean, hf.std);
  vt_standardize_apply(ftr.x, ftr.n, dim, hf.mean, hf.std);
  vt_standardize_apply(fva.x, fva.n, dim, hf.mean, hf.std);
  vt_standardize_apply(fte.x, fte.n, dim, hf.mean, hf.std);
  if (have_ev) vt_standardize_apply(fev.x, fev.n, dim, hf.mean, hf.std);

  bli_thread_set_num_threads(1); /* small products: one thread is fastest */
  if (vt_head_init(&hf.head, dim, n_hidden, hidden, st.n_classes) < 0) goto fail;
  vt_xy xtr = {ftr.x, tr.y, tr.n}, xva = {fva.x, va.y, va.n};
  /* lbfgs solves the penalised loss exactly, so the penalty matters more than
   * with early-stopped Adam: default to scikit-learn's C = 1, lambda = 1/n */
  if (o->tc.optim.kind == VT_OPT_LBFGS && !o->wd_given) o->tc.optim.weight_decay = 1.0f / (float)tr.n;
  if (o->wd_auto && choose_weight_decay(&hf.head, &xtr, &xva, o) < 0) goto fail;
  if (vt_train(&hf.head, &xtr, &xva, &o->tc, &res) < 0) goto fail;

  /* evaluation set: --eval store, else the manifest's test rows, else validation, else train */
  const vt_features *fe = have_ev ? &fev : te.n ? &fte : va.n ? &fva : &ftr;
  const row_set *re = have_ev ? &er : te.n ? &te : va.n ? &va : &tr;
  char eval_name[512];
  if (have_ev) snprintf(eval_name, sizeof eval_name, "%s", o->eval);
  else snprintf(eval_name, sizeof eval_name, "%s", te.n ? "test split" : va.n ? "validation split" : "training rows (nothing held out)");
  int k = st.n_classes;
  probs = vt_xmalloc(sizeof(float) * ((size_t)re->n * k + 1));
  if (score(&hf.head, fe, re, k, probs, &m) < 0) goto fail;
  /* the validation rows' own scores, and what they chose */
  if (va.n > 0 && re != &va) {
    float *vp = vt_xmalloc(sizeof(float) * ((size_t)va.n * k + 1));
    int vrc = score(&hf.head, &fva, &va, k, vp, &vm);
    free(vp);
    if (vrc < 0) goto fail;
  }
  const char *chose = !va.n ? NULL : o->tc.patience > 0 && o->wd_auto ? "the kept epoch and the weight decay"
                      : o->tc.patience > 0 ? "the kept epoch" : o->wd_auto ? "the weight decay" : NULL;
  n_wrong = gallery(have_ev ? &ev : &st, re, probs, k, &wrong);

  /* the head file */
  cmd = vt_join_args(argc, argv);
  config = config_text(o, &hf.head, taps_name, pooling_name);
  hf.n_classes = k;
  hf.classes = st.classes;
  hf.tap = taps_name;
  hf.pooling = pooling_name;
  hf.features = recipe_text;
  hf.preprocessing = st.preprocessing;
  hf.resize = st.resize;
  hf.weights_sha256 = st.weights_sha256;
  hf.input_height = st.input_height;
  hf.input_width = st.input_width;
  hf.store = (char *)o->store;
  hf.eval_store = (char *)(o->eval ? o->eval : "");
  hf.feature_source = (char *)ftr.source;
  hf.config = config;
  hf.command = cmd;
  hf.best_epoch = res.best_epoch;
  hf.n_train = tr.n;
  hf.train_rows = tr.rows;
  hf.n_val = va.n;
  hf.val_rows = va.rows;
  hf.n_test = te.n;
  hf.test_rows = te.rows;
  /* the head is staged first (the largest file: a full disk shows here) and
   * renamed over --out last, so that a failure on the way leaves an
   * existing head as it was; an interrupt waits until all is renamed (or
   * removed, on a failure), so it leaves the old outputs or the new ones */
  vt_signal_hold();
  if (!(staged = vt_head_file_stage(o->out, &hf)) || vt_write_file_atomic(log_path, write_log, &res) < 0) goto fail;

  long dense, dense_convs;
  baseline_params(&st, taps, n_taps, k, &dense, &dense_convs);
  char title[512], extra[2048];
  snprintf(title, sizeof title, "%s %s %s%s%s", taps_name, pooling_name, vt_head_kind(&hf.head),
           o->hidden ? " " : "", o->hidden ? o->hidden : "");
  snprintf(extra, sizeof extra,
           "\"tap\": \"%s\", \"pooling\": \"%s\", \"head\": \"%s\", \"hidden\": \"%s\", "
           "\"features\": %d, \"feature_source\": \"%s\", "
           "\"n_test\": %d, \"n_eval\": %d, \"skipped_failed\": %d, \"skipped_unlabelled\": %d, "
           "\"eval_skipped_failed\": %d, \"eval_skipped_unlabelled\": %d, \"best_epoch\": %d, "
           "\"epochs_run\": %d, \"seed\": %llu",
           taps_name, pooling_name, vt_head_kind(&hf.head), o->hidden ? o->hidden : "", dim,
           ftr.source, te.n, re->n, n_failed, n_unlabelled, ev_failed, ev_unlabelled,
           res.best_epoch, res.n_epochs, (unsigned long long)o->tc.seed);
  vt_report rep = {
      .title = title, .eval_name = eval_name, .class_names = (const char *const *)st.classes,
      .metrics = &m, .epochs = res.epochs, .n_epochs = res.n_epochs,
      .head_params = (long)hf.head.n_params, .dense_params = dense,
      .dense_params_with_convs = dense_convs, .train_seconds = res.seconds, .extra_json = extra,
      .scored = have_ev ? VT_SCORED_EVAL : te.n ? VT_SCORED_TEST : va.n ? VT_SCORED_VAL : VT_SCORED_TRAIN,
      .n_train = tr.n, .n_val = va.n, .val_chose = chose, .test_note = test_note,
      .val_metrics = va.n ? (re == &va ? &m : &vm) : NULL, .kept_epoch = res.best_epoch,
      .wrong = wrong, .n_wrong = n_wrong, .settings = config};
  if (vt_report_write(report_dir, &rep) < 0) goto fail;
  int committed = vt_head_file_commit(staged, o->out);
  staged = NULL;
  if (committed < 0) goto fail;
  vt_signal_release();
  vt_report_print(stdout, &rep);
  printf("best epoch %d of %d run; head: %s, log: %s, report: %s/ (%.1f s in all)\n",
         res.best_epoch, res.n_epochs, o->out, log_path, report_dir, vt_now() - t0);
  rc = EXIT_OK;
  goto done;

fail:
  fprintf(stderr, "vggtap-train: %s\n", vt_failure_reason());
done:
  if (have_ev) vt_store_close(&ev);
  vt_store_close(&st);
  goto cleanup;
fail_noclose:
  fprintf(stderr, "vggtap-train: %s\n", vt_failure_reason());
cleanup:
  if (staged) {
    unlink(staged);
    free(staged);
  }
  vt_signal_release(); /* if a failure came while held */
  vt_metrics_free(&m);
  vt_metrics_free(&vm);
  for (int i = 0; i < n_wrong; i++) free((char *)wrong[i].image);
  free(wrong);
  vt_head_free(&hf.head);
  free(hf.mean);
  free(hf.std);
  free(res.epochs);
  vt_features_free(&ftr);
  vt_features_free(&fva);
  vt_features_free(&fte);
  vt_features_free(&fev);
  row_set_free(&all);
  row_set_free(&tr);
  row_set_free(&va);
  row_set_free(&te);
  row_set_free(&er);
  free(probs);
  free(log_path);
  free(report_dir);
  free(tap_owned);
  free(cmd);
  free(config);
  return rc;
}

int main(int argc, char **argv) {
  vt_h5_no_close_at_exit();
  options o;
  int rc = parse_args(argc, argv, &o);
  if (rc >= 0) return rc;
  vt_h5_quiet();
  return run(argc, argv, &o);
}
