#include "vt_trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "vt_lbfgs.h"
#include "vt_rng.h"

/* Seed streams, so that e.g. changing the dropout rate does not change the
 * batch order. */
enum { STREAM_INIT = 1, STREAM_ORDER = 2, STREAM_DROPOUT = 3 };

/* Rows per chunk of a full-batch pass (bounds the activation memory). */
enum { CHUNK = 4096 };

void vt_train_config_default(vt_train_config *c) {
  memset(c, 0, sizeof *c);
  c->epochs = 200;
  c->batch_size = 64;
  c->patience = 10;
  c->seed = 0;
  c->lr = 1e-3f;
  c->schedule = VT_LR_CONSTANT;
  c->lr_step_epochs = 30;
  c->optim.kind = VT_OPT_ADAM;
  c->optim.beta1 = 0.9f;
  c->optim.beta2 = 0.999f;
  c->optim.eps = 1e-8f;
  c->optim.momentum = 0.9f;
  c->optim.weight_decay = 1e-4f;
}

size_t vt_train_bytes_per_param(const vt_train_config *c) {
  size_t common = 3 * sizeof(float) + 1; /* params, gradient, best copy; decay mask */
  if (c->optim.kind == VT_OPT_ADAM) return common + 2 * sizeof(float); /* m, v */
  if (c->optim.kind == VT_OPT_SGD) return common + sizeof(float);      /* momentum */
  vt_lbfgs_config lc;
  vt_lbfgs_config_default(&lc);
  /* the iterate, the objective's double accumulator, g, gn, d, xn, and the
   * correction pairs S and Y */
  return common + sizeof(float) + sizeof(double) + 4 * sizeof(float) +
         2 * (size_t)lc.memory * sizeof(float);
}

int vt_argmax(const float *p, int k) {
  int best = 0;
  for (int j = 1; j < k; j++)
    if (p[j] > p[best]) best = j;
  return best;
}

void vt_loss_accuracy(const float *probs, const int *y, int n, int k, double *loss, double *acc) {
  double l = 0;
  long correct = 0;
  for (int i = 0; i < n; i++) {
    const float *p = probs + (size_t)i * k;
    l -= log(p[y[i]] > 1e-30f ? (double)p[y[i]] : 1e-30);
    correct += vt_argmax(p, k) == y[i];
  }
  *loss = n ? l / n : NAN;
  *acc = n ? (double)correct / n : NAN;
}

/* What both training paths share: the head, the data, the loss, and the
 * bookkeeping of epochs, validation and early stopping. */
typedef struct {
  vt_head *h;
  const vt_xy *train, *val;
  const vt_train_config *c;
  vt_train_result *res;
  vt_loss_config lc;
  float *class_weight;
  uint8_t *decay;      /* 1 for weights (decayed), 0 for biases */
  vt_head_work w, wv;  /* training batch / validation work memory */
  float *vprobs;
  float *best;         /* parameters of the best epoch so far */
  double best_loss;
  int best_epoch, since_best;
  /* set by the full-batch objective for the last point it evaluated */
  double data_loss;
  long correct;
} run;

/* Logs epoch e (1-based) and decides whether to stop. */
static int end_epoch(run *r, int e, double lr, double train_loss, double train_acc) {
  vt_epoch_log *log = &r->res->epochs[r->res->n_epochs++];
  log->epoch = e;
  log->lr = lr;
  log->train_loss = train_loss;
  log->train_acc = train_acc;
  log->val_loss = log->val_acc = NAN;
  int k = r->h->dims[r->h->n_layers];
  if (r->val->n) {
    vt_head_predict_mirrored(r->h, &r->wv, r->val->x, r->val->x_mirror, r->val->n, r->vprobs);
    vt_loss_accuracy(r->vprobs, r->val->y, r->val->n, k, &log->val_loss, &log->val_acc);
  }
  /* progress: the first epoch and about 25 more, not hundreds of lines */
  int every = r->c->epochs / 25 > 1 ? r->c->epochs / 25 : 1;
  if (r->c->verbose && (e == 1 || e % every == 0))
    fprintf(stderr, "epoch %3d/%d  %s %.3g  loss %.4f  acc %.4f  val_loss %.4f  val_acc %.4f\n", e,
            r->c->epochs, r->c->optim.kind == VT_OPT_LBFGS ? "step" : "lr", lr, train_loss,
            train_acc, log->val_loss, log->val_acc);
  r->res->best_epoch = e;
  if (!r->val->n || r->c->patience == 0) return 0; /* keep the last epoch */
  if (log->val_loss < r->best_loss) {
    r->best_loss = log->val_loss;
    r->best = r->best ? r->best : vt_xmalloc(r->h->n_params * sizeof(float));
    memcpy(r->best, r->h->params, r->h->n_params * sizeof(float));
    r->best_epoch = e;
    r->since_best = 0;
  } else {
    r->since_best++;
  }
  r->res->best_epoch = r->best_epoch; /* the epoch whose weights are kept */
  return r->since_best >= r->c->patience;
}

static int train_minibatch(run *r, vt_rng *r_order, vt_rng *r_drop) {
  vt_head *h = r->h;
  const vt_xy *tr = r->train;
  const vt_train_config *c = r->c;
  int dim = h->dims[0], k = h->dims[h->n_layers], n = tr->n, bs = r->w.max_batch;
  vt_optimizer opt;
  vt_optim_init(&opt, &c->optim, h->n_params);
  float *xb = vt_xmalloc(sizeof(float) * (size_t)bs * dim);
  int *yb = vt_xmalloc(sizeof(int) * (size_t)bs);
  int *order = vt_xmalloc(sizeof(int) * (size_t)n);
  for (int i = 0; i < n; i++) order[i] = i;
  int rc = 0;
  for (int e = 0; e < c->epochs; e++) {
    float lr = vt_lr_at(c->schedule, c->lr, e, c->epochs, c->lr_step_epochs);
    vt_rng_shuffle(r_order, order, n);
    double loss_sum = 0;
    long correct = 0;
    for (int i0 = 0; i0 < n; i0 += bs) {
      int b = n - i0 < bs ? n - i0 : bs;
      for (int i = 0; i < b; i++) {
        int row = order[i0 + i];
        memcpy(xb + (size_t)i * dim, tr->x + (size_t)row * dim, sizeof(float) * dim);
        yb[i] = tr->y[row];
      }
      double l = vt_head_loss_grad(h, &r->w, xb, yb, b, &r->lc, r_drop);
      loss_sum += l * b;
      for (int i = 0; i < b; i++)
        correct += vt_argmax(r->w.act[h->n_layers] + (size_t)i * k, k) == yb[i];
      vt_optim_step(&opt, h->params, r->w.grad, r->decay, lr);
    }
    if (!isfinite(loss_sum)) {
      rc = vt_fail("training diverged at epoch %d (loss %g): lower --lr", e + 1, loss_sum / n);
      break;
    }
    if (end_epoch(r, e + 1, lr, loss_sum / n, (double)correct / n)) break;
  }
  free(order);
  free(yb);
  free(xb);
  vt_optim_free(&opt);
  return rc;
}

/* Full-batch objective for L-BFGS: mean (weighted, smoothed) cross-entropy
 * over the training rows + (weight_decay / 2) |W|^2 over the weights. */
static double objective(const float *x, float *g, void *ctx) {
  run *r = ctx;
  vt_head *h = r->h;
  const vt_xy *tr = r->train;
  size_t np = h->n_params;
  int dim = h->dims[0], k = h->dims[h->n_layers], n = tr->n;
  memcpy(h->params, x, np * sizeof(float));
  double *acc = vt_xcalloc(np, sizeof(double));
  double loss = 0;
  long correct = 0;
  for (int i0 = 0; i0 < n; i0 += r->w.max_batch) {
    int b = n - i0 < r->w.max_batch ? n - i0 : r->w.max_batch;
    loss += b * vt_head_loss_grad(h, &r->w, tr->x + (size_t)i0 * dim, tr->y + i0, b, &r->lc, NULL);
    for (size_t i = 0; i < np; i++) acc[i] += (double)b * r->w.grad[i];
    for (int i = 0; i < b; i++)
      correct += vt_argmax(r->w.act[h->n_layers] + (size_t)i * k, k) == tr->y[i0 + i];
  }
  loss /= n;
  r->data_loss = loss;
  r->correct = correct;
  double wd = r->c->optim.weight_decay, penalty = 0;
  for (size_t i = 0; i < np; i++) {
    double gi = acc[i] / n;
    if (r->decay[i]) {
      penalty += (double)x[i] * x[i];
      gi += wd * x[i];
    }
    g[i] = (float)gi;
  }
  free(acc);
  return loss + 0.5 * wd * penalty;
}

static int monitor(int it, double f, double step, const float *x, void *ctx) {
  run *r = ctx;
  (void)f;
  /* the objective's last evaluation was at the accepted point x */
  memcpy(r->h->params, x, r->h->n_params * sizeof(float));
  return end_epoch(r, it, step, r->data_loss, (double)r->correct / r->train->n);
}

static int train_lbfgs(run *r) {
  if (r->c->dropout > 0)
    return vt_fail("dropout needs --optimizer adam or sgd (lbfgs is full-batch and deterministic)");
  vt_lbfgs_config lc;
  vt_lbfgs_config_default(&lc);
  lc.max_iter = r->c->epochs;
  float *x = vt_xmalloc(r->h->n_params * sizeof(float));
  memcpy(x, r->h->params, r->h->n_params * sizeof(float));
  const char *why = NULL;
  int it = vt_lbfgs(objective, monitor, r, x, r->h->n_params, &lc, &why);
  free(x);
  if (it < 0) return -1;
  r->res->iteration_limit = !strcmp(why, "iteration limit");
  if (r->c->verbose) fprintf(stderr, "lbfgs: %d iterations, stopped: %s\n", it, why);
  return 0;
}

int vt_train(vt_head *h, const vt_xy *train, const vt_xy *val, const vt_train_config *c,
             vt_train_result *res) {
  memset(res, 0, sizeof *res);
  double t0 = vt_now();
  int k = h->dims[h->n_layers], n = train->n;
  if (n < 1) return vt_fail("no training rows");
  int lbfgs = c->optim.kind == VT_OPT_LBFGS;

  vt_rng r_init, r_order, r_drop;
  vt_rng_seed(&r_init, c->seed, STREAM_INIT);
  vt_rng_seed(&r_order, c->seed, STREAM_ORDER);
  vt_rng_seed(&r_drop, c->seed, STREAM_DROPOUT);
  vt_head_init_weights(h, &r_init);

  run r;
  memset(&r, 0, sizeof r);
  r.h = h;
  r.train = train;
  r.val = val;
  r.c = c;
  r.res = res;
  r.best_loss = INFINITY;
  if (c->balanced_class_weights) {
    long *count = vt_xcalloc((size_t)k, sizeof(long));
    for (int i = 0; i < n; i++) count[train->y[i]]++;
    int present = 0;
    for (int j = 0; j < k; j++) present += count[j] > 0;
    r.class_weight = vt_xmalloc(sizeof(float) * (size_t)k);
    for (int j = 0; j < k; j++)
      r.class_weight[j] = count[j] ? (float)((double)n / (present * count[j])) : 0.0f;
    free(count);
  }
  r.lc = (vt_loss_config){c->label_smoothing, r.class_weight, c->dropout};
  int bs = lbfgs ? CHUNK : c->batch_size;
  bs = bs < n ? bs : n;
  int rc = 0;
  if (vt_head_work_init(&r.w, h, bs) < 0 || vt_head_work_init(&r.wv, h, CHUNK) < 0) {
    rc = -1;
    goto done;
  }
  r.decay = vt_xcalloc(h->n_params, 1);
  for (int l = 0; l < h->n_layers; l++)
    memset(r.decay + vt_head_weight_offset(h, l), 1, (size_t)h->dims[l] * h->dims[l + 1]);
  r.vprobs = val->n ? vt_xmalloc(sizeof(float) * (size_t)val->n * k) : NULL;
  res->epochs = vt_xcalloc((size_t)c->epochs + 1, sizeof(vt_epoch_log));

  rc = lbfgs ? train_lbfgs(&r) : train_minibatch(&r, &r_order, &r_drop);
  if (rc == 0 && r.best) memcpy(h->params, r.best, h->n_params * sizeof(float));
  res->seconds = vt_now() - t0;

done:
  free(r.best);
  free(r.vprobs);
  free(r.decay);
  vt_head_work_free(&r.wv);
  vt_head_work_free(&r.w);
  free(r.class_weight);
  if (rc < 0) {
    free(res->epochs);
    res->epochs = NULL;
    res->n_epochs = 0;
  }
  return rc;
}
