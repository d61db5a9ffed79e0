/* vt_trainer.h: the training loop: seeded mini-batch epochs, learning-rate
 * schedule, class weights, early stopping on validation loss (keeping the
 * best epoch's weights) and the per-epoch log. */
#ifndef VT_TRAINER_H
#define VT_TRAINER_H

#include <stdint.h>

#include "report.h"
#include "vt_head.h"
#include "vt_optim.h"

typedef struct {
  int epochs, batch_size;
  int patience;           /* stop after this many epochs without a better val loss; 0 = never */
  uint64_t seed;
  float lr;
  vt_lr_schedule schedule;
  int lr_step_epochs;     /* for VT_LR_STEP */
  vt_optim_config optim;
  float label_smoothing, dropout;
  int balanced_class_weights; /* weight class k by n / (classes * n_k) */
  int verbose;            /* one progress line per epoch on stderr */
} vt_train_config;

void vt_train_config_default(vt_train_config *c);

typedef struct {
  const float *x; /* [n][dim], standardised */
  const int *y;   /* [n] */
  int n;
  /* validation only: the same rows' mirror images [n][dim] (--augment flip),
   * whose probabilities are averaged with x's; NULL: none */
  const float *x_mirror;
} vt_xy;

typedef struct {
  vt_epoch_log *epochs; /* [n_epochs], free() it */
  int n_epochs;
  int best_epoch;       /* 1-based epoch whose weights the head holds */
  int iteration_limit;  /* lbfgs stopped at --epochs iterations, not converged */
  double seconds;
} vt_train_result;

/* Trains h (already shaped) on train, early-stopping on val when val->n > 0.
 * The head is initialised here from the seed. Returns 0, or -1 + reason
 * (e.g. the loss diverged). */
int vt_train(vt_head *h, const vt_xy *train, const vt_xy *val, const vt_train_config *c,
             vt_train_result *res);

/* Bytes of memory vt_train keeps per head parameter with config c: the
 * parameters, their gradient, the best epoch's copy, the decay mask and the
 * optimiser's state (L-BFGS's correction pairs make it the largest). A
 * lower bound, to refuse a head that cannot fit before allocating it. */
size_t vt_train_bytes_per_param(const vt_train_config *c);

/* Mean cross-entropy (no smoothing, no weights) and accuracy of probabilities
 * probs [n][k] against y. */
void vt_loss_accuracy(const float *probs, const int *y, int n, int k, double *loss, double *acc);
/* Index of the largest of p[0..k) (the first one on ties). */
int vt_argmax(const float *p, int k);

#endif
