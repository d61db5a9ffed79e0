/* The trainer on a separable synthetic problem: every head learns it to 100%
 * on train and validation rows; two runs with the same seed give bitwise the
 * same head and log, another seed a different head; early stopping keeps the
 * epoch with the lowest validation loss; the stratified split keeps each
 * class's share; a constant feature is standardised to 0, not NaN. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "vt_rng.h"
#include "vt_split.h"
#include "vt_standardize.h"
#include "vt_trainer.h"

enum { N = 600, D = 12, K = 5 };

static float X[N * D], Xtr[N * D], Xva[N * D];
static int Y[N], Ytr[N], Yva[N];
static int ntr, nva;

static void make_problem(void) {
  vt_rng r;
  vt_rng_seed(&r, 123, 0);
  float centre[K][D];
  for (int k = 0; k < K; k++)
    for (int j = 0; j < D; j++) centre[k][j] = 8.0f * (2 * vt_rng_uniform(&r) - 1);
  for (int i = 0; i < N; i++) {
    Y[i] = i % K;
    for (int j = 0; j < D; j++)
      /* blobs of radius ~0.5 around centres ~8 apart, an offset and a scale per feature */
      X[i * D + j] = (centre[Y[i]][j] + (vt_rng_uniform(&r) - 0.5f)) * (1.0f + j) + 100.0f * j;
  }
  uint8_t is_val[N];
  vt_split_stratified(Y, N, K, 0.25, 9, is_val);
  for (int i = 0; i < N; i++) {
    if (is_val[i]) {
      memcpy(Xva + nva * D, X + i * D, sizeof(float) * D);
      Yva[nva++] = Y[i];
    } else {
      memcpy(Xtr + ntr * D, X + i * D, sizeof(float) * D);
      Ytr[ntr++] = Y[i];
    }
  }
  float mean[D], sd[D];
  vt_standardize_fit(Xtr, ntr, D, mean, sd);
  vt_standardize_apply(Xtr, ntr, D, mean, sd);
  vt_standardize_apply(Xva, nva, D, mean, sd);
}

static int test_split(void) {
  int labels[103];
  for (int i = 0; i < 103; i++) labels[i] = i < 50 ? 0 : i < 100 ? 1 : i < 101 ? 2 : 3;
  uint8_t a[103], b[103];
  vt_split_stratified(labels, 103, 4, 0.2, 5, a);
  vt_split_stratified(labels, 103, 4, 0.2, 5, b);
  int per[4] = {0};
  for (int i = 0; i < 103; i++) per[labels[i]] += a[i];
  /* 20% of 50, of 50, none of a 1-row class, 1 of a 2-row class */
  if (per[0] != 10 || per[1] != 10 || per[2] != 0 || per[3] != 1 || memcmp(a, b, sizeof a)) {
    printf("split: per-class val counts %d %d %d %d, repeatable %d\n", per[0], per[1], per[2],
           per[3], !memcmp(a, b, sizeof a));
    return 1;
  }
  vt_split_stratified(labels, 103, 4, 0.2, 6, b);
  if (!memcmp(a, b, sizeof a)) {
    printf("split: seeds 5 and 6 give the same split\n");
    return 1;
  }
  printf("split: stratified counts ok\n");
  return 0;
}

/* The test split: 20% of each class first, validation 20% of the rest, on
 * its own stream; auto only where every class gives two and keeps two;
 * --test-fraction 0 leaves the validation split as it was; a manifest's
 * validation rows halved. */
static int test_test_split(void) {
  enum { R = 207 };
  int labels[R], bad = 0;
  for (int i = 0; i < R; i++) labels[i] = i < 100 ? 0 : i < 200 ? 1 : 2; /* 100, 100, 7 */
  uint8_t part[R], again[R], is_val[R];
  char note[256];
  vt_split_random(labels, 200, 2, -1, 0.2, 5, part, note, sizeof note); /* the two big classes */
  vt_split_random(labels, 200, 2, -1, 0.2, 5, again, note, sizeof note);
  int per[2][3] = {{0}};
  for (int i = 0; i < 200; i++) per[labels[i]][part[i]]++;
  if (per[0][VT_PART_TEST] != 20 || per[0][VT_PART_VAL] != 16 || per[0][VT_PART_TRAIN] != 64 ||
      per[1][VT_PART_TEST] != 20 || per[1][VT_PART_VAL] != 16 || memcmp(part, again, 200) ||
      strcmp(note, "20% of each class, drawn at random with seed 5")) {
    printf("test split: class 0 test/val/train %d/%d/%d, repeatable %d, note '%s'\n", per[0][2], per[0][1],
           per[0][0], !memcmp(part, again, 200), note);
    bad = 1;
  }
  vt_split_random(labels, R, 3, -1, 0.2, 5, part, note, sizeof note); /* a class of 7: none by default */
  int tests = 0;
  for (int i = 0; i < R; i++) tests += part[i] == VT_PART_TEST;
  if (tests || strncmp(note, "none: a class has too few rows", 30)) {
    printf("test split: auto with a class of 7 rows held out %d rows ('%s')\n", tests, note);
    bad = 1;
  }
  vt_split_random(labels, R, 3, 0.2, 0.2, 5, part, note, sizeof note); /* asked for: 1 of 7 */
  tests = 0;
  for (int i = 200; i < R; i++) tests += part[i] == VT_PART_TEST;
  vt_split_random(labels, R, 3, 0, 0.2, 5, part, note, sizeof note);
  vt_split_stratified(labels, R, 3, 0.2, 5, is_val);
  int same = 1;
  for (int i = 0; i < R; i++) same &= (part[i] == VT_PART_VAL) == is_val[i] && part[i] != VT_PART_TEST;
  if (tests != 1 || !same || strcmp(note, "none (--test-fraction 0)")) {
    printf("test split: explicit 0.2 took %d of 7; fraction 0 same as the old split %d ('%s')\n", tests, same, note);
    bad = 1;
  }
  uint8_t is_test[R];
  vt_split_manifest_test(labels, 200, 2, -1, 5, is_test, note, sizeof note); /* as validation rows */
  int half = 0;
  for (int i = 0; i < 100; i++) half += is_test[i];
  if (half != 50 || !strstr(note, "50% of each class's validation rows") || !strstr(note, "no test rows")) {
    printf("test split: manifest validation rows halved: %d of 100 ('%s')\n", half, note);
    bad = 1;
  }
  if (!bad) printf("test split: counts, auto, fraction 0 and manifest ok\n");
  return bad;
}

/* A column constant on the training rows (a dead ReLU channel at 0, or any
 * other value) gets std 1, not 0 (docs/HEAD.md): standardised it is exactly
 * 0 there and finite elsewhere, never NaN or infinite. */
static int test_standardize_constant(void) {
  enum { R = 20, C = 3 };
  float x[R * C], mean[C], sd[C], other[C] = {0.5f, 2.0f, -7.0f};
  for (int i = 0; i < R; i++) {
    x[i * C] = (float)i;
    x[i * C + 1] = 0.0f;
    x[i * C + 2] = 1234.5f;
  }
  vt_standardize_fit(x, R, C, mean, sd);
  vt_standardize_apply(x, R, C, mean, sd);
  vt_standardize_apply(other, 1, C, mean, sd);
  int ok = sd[1] == 1.0f && sd[2] == 1.0f && mean[1] == 0.0f && mean[2] == 1234.5f && sd[0] > 5.0f;
  for (int i = 0; i < R; i++) ok &= x[i * C + 1] == 0.0f && x[i * C + 2] == 0.0f && isfinite(x[i * C]);
  ok &= other[1] == 2.0f && other[2] == -1241.5f;
  printf("standardise: constant columns %s (std %g %g, mean %g %g)\n", ok ? "ok" : "FAILED", sd[1], sd[2],
         mean[1], mean[2]);
  return !ok;
}

static double accuracy(const vt_head *h, const float *x, const int *y, int n) {
  vt_head_work w;
  if (vt_head_work_init(&w, h, 64) < 0) return -1;
  float *p = malloc(sizeof(float) * n * K);
  vt_head_predict(h, &w, x, n, p);
  double loss, acc;
  vt_loss_accuracy(p, y, n, K, &loss, &acc);
  free(p);
  vt_head_work_free(&w);
  return acc;
}

static int run(const char *name, int n_hidden, const int *hidden, vt_train_config *c,
               vt_head *h, vt_train_result *res) {
  if (vt_head_init(h, D, n_hidden, hidden, K) < 0) return -1;
  vt_xy tr = {Xtr, Ytr, ntr, NULL}, va = {Xva, Yva, nva, NULL};
  if (vt_train(h, &tr, &va, c, res) < 0) {
    printf("%s: %s\n", name, vt_failure_reason());
    return -1;
  }
  return 0;
}

static int test_head(const char *name, int n_hidden, const int *hidden, vt_optimizer_kind opt,
                     float dropout) {
  vt_train_config c;
  vt_train_config_default(&c);
  c.epochs = 100;
  c.patience = 0;
  c.seed = 17;
  c.optim.kind = opt;
  if (opt == VT_OPT_SGD) c.lr = 0.05f;
  if (opt == VT_OPT_LBFGS) c.label_smoothing = 0.0f;
  c.dropout = dropout;
  c.label_smoothing = 0.05f;
  c.balanced_class_weights = 1;
  c.schedule = VT_LR_COSINE;
  vt_head a, b, d;
  vt_train_result ra, rb, rd;
  if (run(name, n_hidden, hidden, &c, &a, &ra) < 0 || run(name, n_hidden, hidden, &c, &b, &rb) < 0)
    return 1;
  c.seed = 18;
  if (run(name, n_hidden, hidden, &c, &d, &rd) < 0) return 1;
  int fails = 0;
  double acc_tr = accuracy(&a, Xtr, Ytr, ntr), acc_va = accuracy(&a, Xva, Yva, nva);
  if (acc_tr != 1.0 || acc_va != 1.0) fails++;
  int same = memcmp(a.params, b.params, a.n_params * sizeof(float)) == 0 &&
             ra.n_epochs == rb.n_epochs &&
             memcmp(ra.epochs, rb.epochs, sizeof(vt_epoch_log) * ra.n_epochs) == 0;
  /* softmax regression by L-BFGS starts from zeros and uses every row each
   * step: nothing in it is random, so the seed must not matter */
  int seedless = opt == VT_OPT_LBFGS && n_hidden == 0;
  int differs = memcmp(a.params, d.params, a.n_params * sizeof(float)) != 0;
  fails += !same + (differs == seedless);
  printf("%-24s train acc %.4f, val acc %.4f, same seed bitwise equal: %s, other seed %s: %s%s\n",
         name, acc_tr, acc_va, same ? "yes" : "NO", seedless ? "identical" : "differs",
         differs != seedless ? "yes" : "NO", fails ? "  FAIL" : "");
  vt_head_free(&a);
  vt_head_free(&b);
  vt_head_free(&d);
  free(ra.epochs);
  free(rb.epochs);
  free(rd.epochs);
  return fails;
}

/* With early stopping the head must hold the weights of the logged epoch with
 * the lowest validation loss, not the last epoch's. */
static int test_early_stopping(void) {
  vt_train_config c;
  vt_train_config_default(&c);
  c.epochs = 200;
  c.patience = 3;
  c.lr = 0.5f; /* large and constant: validation loss goes up and down */
  c.optim.kind = VT_OPT_SGD;
  int hidden[] = {32};
  vt_head h;
  vt_train_result r;
  if (run("early stopping", 1, hidden, &c, &h, &r) < 0) return 1;
  int best = 0;
  for (int e = 1; e < r.n_epochs; e++)
    if (r.epochs[e].val_loss < r.epochs[best].val_loss) best = e;
  vt_head_work w;
  vt_head_work_init(&w, &h, 64);
  float *p = malloc(sizeof(float) * nva * K);
  vt_head_predict(&h, &w, Xva, nva, p);
  double loss, acc;
  vt_loss_accuracy(p, Yva, nva, K, &loss, &acc);
  int ok = r.best_epoch == best + 1 && r.n_epochs < c.epochs &&
           r.n_epochs - r.best_epoch == c.patience && loss == r.epochs[best].val_loss;
  printf("early stopping: ran %d epochs, best %d (lowest logged val loss at %d), head val loss "
         "%.6g vs logged %.6g%s\n",
         r.n_epochs, r.best_epoch, best + 1, loss, r.epochs[best].val_loss, ok ? "" : "  FAIL");
  free(p);
  vt_head_work_free(&w);
  vt_head_free(&h);
  free(r.epochs);
  return !ok;
}

int main(void) {
  make_problem();
  int h1[] = {16}, h2[] = {24, 12};
  int fails = test_split() + test_test_split() + test_standardize_constant();
  fails += test_head("softmax adam", 0, NULL, VT_OPT_ADAM, 0.0f);
  fails += test_head("softmax sgd", 0, NULL, VT_OPT_SGD, 0.0f);
  fails += test_head("softmax lbfgs", 0, NULL, VT_OPT_LBFGS, 0.0f);
  fails += test_head("mlp 16 lbfgs", 1, h1, VT_OPT_LBFGS, 0.0f);
  fails += test_head("mlp 16 adam", 1, h1, VT_OPT_ADAM, 0.0f);
  fails += test_head("mlp 24,12 dropout 0.3", 2, h2, VT_OPT_ADAM, 0.3f);
  fails += test_early_stopping();
  return fails ? 1 : 0;
}
