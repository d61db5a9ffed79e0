/* train_options.c: vggtap-train's command line (train_options.h). */
#include "train_options.h"

#include <stdio.h>
#include <string.h>

#include "base/vt_cli.h"
#include "base/vt_common.h"

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
    "  --quiet               no per-epoch progress; the report is still printed, and\n"
    "                        skipped rows and an unconverged L-BFGS are still said\n"
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

enum { O_STORE = VT_OPT_FIRST_FREE, O_TAP, O_POOL, O_OUT, O_EVAL, O_REPORT, O_LOG, O_HIDDEN,
       O_DROPOUT, O_OPT, O_LR, O_MOM, O_WD, O_SCHED, O_LRSTEP, O_BATCH, O_EPOCHS, O_PATIENCE, O_CW,
       O_SMOOTH, O_VALF, O_TESTF, O_SPLIT, O_SEED, O_FEAT, O_QUIET };

static const struct option options[] = {
    {"store", 1, 0, O_STORE}, {"tap", 1, 0, O_TAP}, {"pool", 1, 0, O_POOL},
    {"out", 1, 0, O_OUT}, {"eval", 1, 0, O_EVAL}, {"report", 1, 0, O_REPORT},
    {"log", 1, 0, O_LOG}, {"hidden", 1, 0, O_HIDDEN}, {"dropout", 1, 0, O_DROPOUT},
    {"optimizer", 1, 0, O_OPT}, {"lr", 1, 0, O_LR}, {"momentum", 1, 0, O_MOM},
    {"weight-decay", 1, 0, O_WD}, {"lr-schedule", 1, 0, O_SCHED}, {"lr-step", 1, 0, O_LRSTEP},
    {"batch-size", 1, 0, O_BATCH}, {"epochs", 1, 0, O_EPOCHS}, {"patience", 1, 0, O_PATIENCE},
    {"class-weight", 1, 0, O_CW}, {"label-smoothing", 1, 0, O_SMOOTH},
    {"val-fraction", 1, 0, O_VALF}, {"test-fraction", 1, 0, O_TESTF}, {"split", 1, 0, O_SPLIT}, {"seed", 1, 0, O_SEED},
    {"features", 1, 0, O_FEAT}, {"quiet", 0, 0, O_QUIET}, VT_OPTIONS_HELP_VERSION, {0, 0, 0, 0}};

const vt_program vt_train_program = {"vggtap-train", usage, options, "train"};

/* "256,128" -> widths; "" or NULL: none (softmax regression). */
static int parse_hidden(const char *spec, vt_train_options *o) {
  o->n_hidden = 0;
  if (!spec || !*spec) return 0;
  char buf[256];
  char *items[VT_HEAD_MAX_LAYERS];
  int n = -1;
  if (strlen(spec) < sizeof buf) n = vt_split_commas(strcpy(buf, spec), items, VT_HEAD_MAX_LAYERS - 1);
  for (int i = 0; i < n; i++) {
    long v;
    if (vt_parse_long(items[i], 1, 1 << 16, "--hidden", &v) < 0) n = -1;
    else o->hidden_widths[i] = (int)v;
  }
  if (n < 0)
    return vt_fail("--hidden wants positive widths like 256,128 (at most %d), not '%s'",
                   VT_HEAD_MAX_LAYERS - 1, spec);
  o->n_hidden = n;
  return 0;
}

static const char *const class_weights[] = {"none", "balanced", NULL}, *const splits[] = {"random", "manifest", NULL};

/* One option's value into o: 0, or -1 + reason. */
static int parse_option(vt_train_options *o, int c, const char *arg) {
  vt_train_config *tc = &o->tc;
  long seed;
  int choice;
  switch (c) {
    case O_STORE: o->store = arg; return 0;
    case O_TAP: o->tap = arg; return 0;
    case O_POOL: o->pool = arg; return 0;
    case O_OUT: o->out = arg; return 0;
    case O_EVAL: o->eval = arg; return 0;
    case O_REPORT: o->report = arg; return 0;
    case O_LOG: o->log = arg; return 0;
    case O_HIDDEN: o->hidden = arg[0] ? arg : NULL; return 0; /* "" = softmax */
    case O_DROPOUT: return vt_parse_float(arg, 0, 0.95, "--dropout", &tc->dropout);
    case O_MOM: return vt_parse_float(arg, 0, 0.9999, "--momentum", &tc->optim.momentum);
    case O_SMOOTH: return vt_parse_float(arg, 0, 0.99, "--label-smoothing", &tc->label_smoothing);
    case O_VALF: return vt_parse_double(arg, 0, 0.9, "--val-fraction", &o->val_fraction);
    case O_TESTF:
      o->test_fraction = -1;
      if (strcmp(arg, "auto") == 0) return 0;
      if (vt_parse_double(arg, 0, 0.9, "--test-fraction", &o->test_fraction) < 0)
        return vt_fail("--test-fraction wants auto or a number in 0..0.9, not '%s'", arg);
      return 0;
    case O_LRSTEP: return vt_parse_int(arg, 1, 1000000, "--lr-step", &tc->lr_step_epochs);
    case O_BATCH: return vt_parse_int(arg, 1, 1 << 20, "--batch-size", &tc->batch_size);
    case O_LR:
      o->lr_given = 1;
      return vt_parse_float(arg, 1e-9, 100, "--lr", &tc->lr);
    case O_EPOCHS:
      o->epochs_given = 1;
      return vt_parse_int(arg, 1, 1000000, "--epochs", &tc->epochs);
    case O_PATIENCE:
      o->patience_given = 1;
      return vt_parse_int(arg, 0, 1000000, "--patience", &tc->patience);
    case O_SEED:
      if (vt_parse_long(arg, 0, 2147483647L, "--seed", &seed) < 0) return -1;
      tc->seed = (uint64_t)seed;
      return 0;
    case O_WD:
      o->wd_auto = strcmp(arg, "auto") == 0;
      if (o->wd_auto) return 0;
      o->wd_given = 1;
      if (vt_parse_float(arg, 0, 10, "--weight-decay", &tc->optim.weight_decay) < 0)
        return vt_fail("--weight-decay wants auto or a number in 0..10, not '%s'", arg);
      return 0;
    case O_OPT:
      if (vt_optimizer_parse(arg, &tc->optim.kind) < 0)
        return vt_fail("--optimizer is lbfgs, adam or sgd, not '%s'", arg);
      o->optimizer_given = 1;
      return 0;
    case O_SCHED:
      if (vt_lr_schedule_parse(arg, &tc->schedule) < 0)
        return vt_fail("--lr-schedule is constant, cosine or step, not '%s'", arg);
      return 0;
    case O_CW:
      if (vt_parse_choice(arg, "--class-weight", class_weights, &choice) < 0) return -1;
      o->class_weight = class_weights[choice];
      tc->balanced_class_weights = choice == 1;
      return 0;
    case O_SPLIT:
      if (vt_parse_choice(arg, "--split", splits, &choice) < 0) return -1;
      o->split = splits[choice];
      return 0;
    case O_FEAT:
      if (vt_feature_source_parse(arg, &o->source) < 0)
        return vt_fail("--features is auto, pooled or maps, not '%s'", arg);
      o->features = arg;
      return 0;
    case O_QUIET:
      o->quiet = 1;
      tc->verbose = 0;
      return 0;
    default: return -1; /* VT_OPT_BAD: the reason is set */
  }
}

int vt_train_options_parse(int argc, char **argv, vt_train_options *o) {
  memset(o, 0, sizeof *o);
  vt_train_config_default(&o->tc);
  o->tc.verbose = 1;
  o->pool = "gap";
  o->split = "random";
  o->features = "auto";
  o->class_weight = "none";
  o->val_fraction = 0.2;
  o->test_fraction = -1;
  vt_feature_source_parse(o->features, &o->source);
  for (int c; (c = vt_args_next(&vt_train_program, argc, argv)) != -1;)
    if (parse_option(o, c, optarg) < 0) return -1;
  if (parse_hidden(o->hidden, o) < 0) return -1;
  if (vt_pooling_parse(o->pool, &o->pooling) < 0) return vt_fail_prefix("--pool");
  if (o->tap && (o->n_taps = vt_taps_parse(o->tap, o->taps, VT_RECIPE_MAX_TAPS)) < 0)
    return vt_fail_prefix("--tap");
  /* defaults that depend on the head: softmax regression is convex, so run
   * full-batch L-BFGS to convergence; MLPs train with Adam and early stopping */
  if (!o->optimizer_given) o->tc.optim.kind = o->hidden ? VT_OPT_ADAM : VT_OPT_LBFGS;
  if (o->tc.optim.kind == VT_OPT_LBFGS) {
    if (!o->epochs_given) o->tc.epochs = 500;
    if (!o->patience_given) o->tc.patience = 0;
  }
  if (!o->lr_given && o->tc.optim.kind == VT_OPT_SGD) o->tc.lr = 0.01f;
  return 0;
}
