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
    "vggtap-extract), or with --head conv a small conv net on a tap's stored maps,\n"
    "writes it to HEAD.h5 (docs/HEAD.md) with a per-epoch log, and prints and\n"
    "writes an evaluation report.\n"
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
    "  --augment A           mirror images: flip uses the mirrored photos' features that\n"
    "                        vggtap-extract --augment flip stored: each training row's mirror\n"
    "                        image is one more training row (on the same side of the split),\n"
    "                        and every score averages the probabilities of photo and mirror\n"
    "                        (so does vggtap-predict with the head); none; auto (default:\n"
    "                        none for softmax and MLP heads; conv heads: flip when the store\n"
    "                        has mirrors, else none). A conv head takes the photo's or the\n"
    "                        mirror's maps at random for each example; mapflip mirrors the\n"
    "                        maps in memory instead (conv heads only: cheaper, not as good).\n"
    "                        Helps on some sets, hurts on others: sweep it\n"
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
    "  --head KIND           auto (default: softmax, or mlp with --hidden), softmax, mlp, or\n"
    "                        conv: a small convolutional net on the tap's stored maps\n"
    "                        (extract with --keep maps; docs/TRAIN.md, \"The conv head\")\n"
    "  --hidden LIST         hidden layer widths, e.g. 256,128 (default: none = softmax\n"
    "                        regression); ReLU activations\n"
    "  --conv LIST           conv head: its convs' widths, 3x3 unless prefixed 1x1:, each\n"
    "                        with batch norm and ReLU, a 2x2 max pool between them\n"
    "                        (default 64,64; e.g. 1x1:32,64 for a lighter head)\n"
    "  --dropout P           dropout on hidden layers while training (default 0; conv head:\n"
    "                        before its dense layer, default 0.5)\n"

    "  --threads N           conv head: threads (default: every core); the same seed gives\n"
    "                        the same head whatever N\n"
    "  --cache-mb N          conv head: keep the maps in memory when they take at most N MB\n"
    "                        as stored (default: half the memory available), else read them\n"
    "                        from the store row by row; the same head either way\n"
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
    "  --lr-schedule S       adam/sgd: constant (default; conv head: cosine), cosine (to 0\n"
    "                        over --epochs), step\n"
    "  --lr-step N           step schedule: lr x 0.1 every N epochs (default 30)\n"
    "  --batch-size N        adam/sgd (default 64)\n"
    "  --epochs N            at most N epochs, or lbfgs iterations (default 200; lbfgs 500)\n"
    "  --patience N          stop after N epochs without a lower validation loss and keep\n"
    "                        the best epoch's weights (default 10; lbfgs 0); 0 = never stop\n"
    "                        early, keep the last weights\n"
    "  --class-weight W      none (default) or balanced: weight class k by n / (K n_k)\n"
    "  --label-smoothing S   (default 0; conv head 0.1)\n"
    "\n"
    "  The conv head trains with adam (default) or sgd; its defaults: 40 epochs of batch 32,\n"
    "  lr 0.001 on a cosine schedule, weight decay 0.01 on every parameter, label\n"
    "  smoothing 0.1, patience 0.\n"
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
       O_SMOOTH, O_VALF, O_TESTF, O_SPLIT, O_SEED, O_FEAT, O_QUIET, O_HEAD, O_CONV, O_AUGMENT,
       O_THREADS, O_CACHE };

static const struct option options[] = {
    {"store", 1, 0, O_STORE}, {"tap", 1, 0, O_TAP}, {"pool", 1, 0, O_POOL},
    {"out", 1, 0, O_OUT}, {"eval", 1, 0, O_EVAL}, {"report", 1, 0, O_REPORT},
    {"log", 1, 0, O_LOG}, {"hidden", 1, 0, O_HIDDEN}, {"dropout", 1, 0, O_DROPOUT},
    {"optimizer", 1, 0, O_OPT}, {"lr", 1, 0, O_LR}, {"momentum", 1, 0, O_MOM},
    {"weight-decay", 1, 0, O_WD}, {"lr-schedule", 1, 0, O_SCHED}, {"lr-step", 1, 0, O_LRSTEP},
    {"batch-size", 1, 0, O_BATCH}, {"epochs", 1, 0, O_EPOCHS}, {"patience", 1, 0, O_PATIENCE},
    {"class-weight", 1, 0, O_CW}, {"label-smoothing", 1, 0, O_SMOOTH},
    {"val-fraction", 1, 0, O_VALF}, {"test-fraction", 1, 0, O_TESTF}, {"split", 1, 0, O_SPLIT}, {"seed", 1, 0, O_SEED},
    {"features", 1, 0, O_FEAT}, {"quiet", 0, 0, O_QUIET}, {"head", 1, 0, O_HEAD},
    {"conv", 1, 0, O_CONV}, {"augment", 1, 0, O_AUGMENT}, {"threads", 1, 0, O_THREADS}, {"cache-mb", 1, 0, O_CACHE},
    VT_OPTIONS_HELP_VERSION, {0, 0, 0, 0}};

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
static const char *const heads[] = {"auto", "softmax", "mlp", "conv", NULL};
static const char *const augments[] = {"auto", "none", "flip", "mapflip", NULL};

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
    case O_DROPOUT:
      o->dropout_given = 1;
      return vt_parse_float(arg, 0, 0.95, "--dropout", &tc->dropout);
    case O_HEAD:
      if (vt_parse_choice(arg, "--head", heads, &choice) < 0) return -1;
      o->head = heads[choice];
      return 0;
    case O_AUGMENT:
      if (vt_parse_choice(arg, "--augment", augments, &choice) < 0) return -1;
      o->augment = augments[choice];
      return 0;
    case O_CONV: o->conv = arg; return 0;
    case O_THREADS: return vt_parse_int(arg, 1, 1024, "--threads", &o->threads);
    case O_CACHE: return vt_parse_double(arg, 0, 1e9, "--cache-mb", &o->cache_mb);
    case O_MOM: return vt_parse_float(arg, 0, 0.9999, "--momentum", &tc->optim.momentum);
    case O_SMOOTH:
      o->smoothing_given = 1;
      return vt_parse_float(arg, 0, 0.99, "--label-smoothing", &tc->label_smoothing);
    case O_VALF: return vt_parse_double(arg, 0, 0.9, "--val-fraction", &o->val_fraction);
    case O_TESTF:
      o->test_fraction = -1;
      if (strcmp(arg, "auto") == 0) return 0;
      if (vt_parse_double(arg, 0, 0.9, "--test-fraction", &o->test_fraction) < 0)
        return vt_fail("--test-fraction wants auto or a number in 0..0.9, not '%s'", arg);
      return 0;
    case O_LRSTEP: return vt_parse_int(arg, 1, 1000000, "--lr-step", &tc->lr_step_epochs);
    case O_BATCH:
      o->batch_given = 1;
      return vt_parse_int(arg, 1, 1 << 20, "--batch-size", &tc->batch_size);
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
      o->schedule_given = 1;
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

/* --head against the options only some heads take. */
static int check_head(const vt_train_options *o) {
  if (o->is_conv && o->hidden) return vt_fail("--hidden is for --head mlp; the conv head takes --conv");
  if (!o->is_conv && o->conv) return vt_fail("--conv is for --head conv, not %s", o->head);
  if (!strcmp(o->head, "mlp") && !o->hidden) return vt_fail("--head mlp needs --hidden widths, e.g. 256");
  if (!strcmp(o->head, "softmax") && o->hidden) return vt_fail("--head softmax has no --hidden layers");
  return 0;
}

/* Issue 24's recipe where not given: adam, 40 epochs of batch 32, weight
 * decay 0.01, label smoothing 0.1, dropout 0.5, no early stopping, plus a
 * cosine schedule: at a constant lr the last epoch's accuracy swung with
 * the seed; decayed to 0 it settles, and higher (docs/TRAIN.md, "The conv
 * head"). */
static int conv_defaults(vt_train_options *o) {
  vt_train_config *c = &o->tc;
  if (!o->optimizer_given) c->optim.kind = VT_OPT_ADAM;
  if (c->optim.kind == VT_OPT_LBFGS)
    return vt_fail("--optimizer lbfgs is full-batch: the conv head trains with adam or sgd");
  if (o->wd_auto) return vt_fail("--weight-decay auto is for softmax and MLP heads");
  if (!o->lr_given) c->lr = c->optim.kind == VT_OPT_SGD ? 0.01f : 1e-3f;
  if (!o->epochs_given) c->epochs = 40;
  if (!o->schedule_given) c->schedule = VT_LR_COSINE;
  if (!o->batch_given) c->batch_size = 32;
  if (!o->patience_given) c->patience = 0;
  if (!o->wd_given) c->optim.weight_decay = 1e-2f;
  if (!o->smoothing_given) c->label_smoothing = 0.1f;
  if (!o->dropout_given) c->dropout = 0.5f;
  return 0;
}

int vt_train_options_parse(int argc, char **argv, vt_train_options *o) {
  memset(o, 0, sizeof *o);
  vt_train_config_default(&o->tc);
  o->tc.verbose = 1;
  o->pool = "gap";
  o->split = "random";
  o->features = "auto";
  o->class_weight = "none";
  o->head = "auto";
  o->augment = "auto";
  o->cache_mb = -1;
  o->val_fraction = 0.2;
  o->test_fraction = -1;
  vt_feature_source_parse(o->features, &o->source);
  for (int c; (c = vt_args_next(&vt_train_program, argc, argv)) != -1;)
    if (parse_option(o, c, optarg) < 0) return -1;
  if (parse_hidden(o->hidden, o) < 0) return -1;
  if (strcmp(o->head, "auto") == 0) o->head = o->conv ? "conv" : o->hidden ? "mlp" : "softmax";
  o->is_conv = strcmp(o->head, "conv") == 0;
  if (check_head(o) < 0) return -1;
  if (vt_pooling_parse(o->pool, &o->pooling) < 0) return vt_fail_prefix("--pool");
  if (o->tap && (o->n_taps = vt_tap_names_parse(o->tap, o->taps, VT_RECIPE_MAX_TAPS)) < 0)
    return vt_fail_prefix("--tap");
  if (o->is_conv) return conv_defaults(o);
  /* defaults that depend on the head: softmax regression is convex, so run
   * full-batch L-BFGS to convergence; MLPs train with Adam and early stopping */
  if (!o->optimizer_given) o->tc.optim.kind = o->hidden ? VT_OPT_ADAM : VT_OPT_LBFGS;
  if (o->tc.optim.kind == VT_OPT_LBFGS) {
    if (!o->epochs_given) o->tc.epochs = 500;
    if (!o->patience_given) o->tc.patience = 0;
  }
  if (!o->lr_given && o->tc.optim.kind == VT_OPT_SGD) o->tc.lr = 0.01f;
  if (!strcmp(o->augment, "mapflip"))
    return vt_fail("--augment mapflip mirrors stored maps, which only a conv head reads; %s head "
                   "takes --augment flip (the mirrored photos' stored features) or none",
                   o->hidden ? "an MLP" : "a softmax");
  return 0;
}
