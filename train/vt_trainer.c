#include "vt_trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_common.h"
#include "vt_rng.h"

/* Seed streams, so that e.g. changing the dropout rate does not change the
 * batch order. */
enum { STREAM_INIT = 1, STREAM_ORDER = 2, STREAM_DROPOUT = 3 };

void vt_train_config_default(vt_train_config *c) {
  memset(c, 0, sizeof *c);
  c->epochs = 100;
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

int vt_train(vt_head *h, const vt_xy *train, const vt_xy *val, const vt_train_config *c,
             vt_train_result *res) {
  memset(res, 0, sizeof *res);
  double t0 = vt_now();
  int dim = h->dims[0], k = h->dims[h->n_layers], n = train->n;
  if (n < 1) return vt_fail("no training rows");
  int bs = c->batch_size < n ? c->batch_size : n;

  vt_rng r_init, r_order, r_drop;
  vt_rng_seed(&r_init, c->seed, STREAM_INIT);
  vt_rng_seed(&r_order, c->seed, STREAM_ORDER);
  vt_rng_seed(&r_drop, c->seed, STREAM_DROPOUT);
  vt_head_init_weights(h, &r_init);

  float *cw = NULL;
  if (c->balanced_class_weights) {
    long *count = vt_xcalloc((size_t)k, sizeof(long));
    for (int i = 0; i < n; i++) count[train->y[i]]++;
    int present = 0;
    for (int j = 0; j < k; j++) present += count[j] > 0;
    cw = vt_xmalloc(sizeof(float) * (size_t)k);
    for (int j = 0; j < k; j++) cw[j] = count[j] ? (float)((double)n / (present * count[j])) : 0.0f;
    free(count);
  }
  vt_loss_config lc = {c->label_smoothing, cw, c->dropout};

  vt_head_work w, wv;
  if (vt_head_work_init(&w, h, bs) < 0) {
    free(cw);
    return -1;
  }
  if (vt_head_work_init(&wv, h, 1024) < 0) {
    vt_head_work_free(&w);
    free(cw);
    return -1;
  }
  uint8_t *decay = vt_xcalloc(h->n_params, 1);
  for (int l = 0; l < h->n_layers; l++)
    memset(decay + vt_head_weight_offset(h, l), 1, (size_t)h->dims[l] * h->dims[l + 1]);
  vt_optimizer opt;
  vt_optim_init(&opt, &c->optim, h->n_params);
  float *best = vt_xmalloc(h->n_params * sizeof(float));
  memcpy(best, h->params, h->n_params * sizeof(float));
  float *xb = vt_xmalloc(sizeof(float) * (size_t)bs * dim);
  int *yb = vt_xmalloc(sizeof(int) * (size_t)bs);
  int *order = vt_xmalloc(sizeof(int) * (size_t)n);
  for (int i = 0; i < n; i++) order[i] = i;
  float *vprobs = val->n ? vt_xmalloc(sizeof(float) * (size_t)val->n * k) : NULL;
  res->epochs = vt_xcalloc((size_t)c->epochs + 1, sizeof(vt_epoch_log));

  double best_loss = INFINITY;
  int since_best = 0, rc = 0;
  for (int e = 0; e < c->epochs; e++) {
    float lr = vt_lr_at(c->schedule, c->lr, e, c->epochs, c->lr_step_epochs);
    vt_rng_shuffle(&r_order, order, n);
    double loss_sum = 0;
    long correct = 0;
    for (int i0 = 0; i0 < n; i0 += bs) {
      int b = n - i0 < bs ? n - i0 : bs;
      for (int i = 0; i < b; i++) {
        int row = order[i0 + i];
        memcpy(xb + (size_t)i * dim, train->x + (size_t)row * dim, sizeof(float) * dim);
        yb[i] = train->y[row];
      }
      double l = vt_head_loss_grad(h, &w, xb, yb, b, &lc, &r_drop);
      loss_sum += l * b;
      for (int i = 0; i < b; i++) correct += vt_argmax(w.act[h->n_layers] + (size_t)i * k, k) == yb[i];
      vt_optim_step(&opt, h->params, w.grad, decay, lr);
    }
    vt_epoch_log *log = &res->epochs[res->n_epochs++];
    log->epoch = e + 1;
    log->lr = lr;
    log->train_loss = loss_sum / n;
    log->train_acc = (double)correct / n;
    log->val_loss = log->val_acc = NAN;
    if (!isfinite(log->train_loss)) {
      rc = vt_fail("training diverged at epoch %d (loss %g): lower --lr", e + 1, log->train_loss);
      break;
    }
    if (val->n) {
      vt_head_predict(h, &wv, val->x, val->n, vprobs);
      vt_loss_accuracy(vprobs, val->y, val->n, k, &log->val_loss, &log->val_acc);
    }
    if (c->verbose)
      fprintf(stderr, "epoch %3d/%d  lr %.3g  loss %.4f  acc %.4f  val_loss %.4f  val_acc %.4f\n",
              e + 1, c->epochs, lr, log->train_loss, log->train_acc, log->val_loss, log->val_acc);
    if (!val->n) {
      res->best_epoch = e + 1;
      continue;
    }
    if (log->val_loss < best_loss) {
      best_loss = log->val_loss;
      res->best_epoch = e + 1;
      memcpy(best, h->params, h->n_params * sizeof(float));
      since_best = 0;
    } else if (c->patience > 0 && ++since_best >= c->patience) {
      break;
    }
  }
  if (rc == 0 && val->n) memcpy(h->params, best, h->n_params * sizeof(float));
  res->seconds = vt_now() - t0;

  free(vprobs);
  free(order);
  free(yb);
  free(xb);
  free(best);
  vt_optim_free(&opt);
  free(decay);
  vt_head_work_free(&wv);
  vt_head_work_free(&w);
  free(cw);
  if (rc < 0) {
    free(res->epochs);
    res->epochs = NULL;
  }
  return rc;
}
