#include "vt_convnet_train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"

/* Seed streams: each random choice has its own, so that e.g. turning
 * mirroring on does not change the batch order. */
enum { STREAM_INIT = 1, STREAM_ORDER = 2, STREAM_DROPOUT = 3, STREAM_MIRROR = 4 };

int vt_mirror_mode_parse(const char *name, vt_mirror_mode *out) {
  if (strcmp(name, "none") == 0) *out = VT_MIRROR_NONE;
  else if (strcmp(name, "stored") == 0) *out = VT_MIRROR_STORED;
  else if (strcmp(name, "flip") == 0) *out = VT_MIRROR_FLIP;
  else return -1;
  return 0;
}

const char *vt_mirror_mode_name(vt_mirror_mode m) {
  return m == VT_MIRROR_STORED ? "stored" : m == VT_MIRROR_FLIP ? "flip" : "none";
}

void vt_convnet_train_config_default(vt_convnet_train_config *c) {
  memset(c, 0, sizeof *c);
  vt_train_config_default(&c->t);
  c->t.epochs = 40;
  c->t.batch_size = 32;
  c->t.patience = 0;
  c->t.label_smoothing = 0.1f;
  c->t.optim.weight_decay = 1e-2f;
  c->threads = 1;
}

/* Reads rows into x [n][h][w][c]: the photo's maps, or for each example
 * with mirror[i] set the mirror's (stored, or flipped here). */
static int read_rows(vt_map_source *src, const int *rows, const uint8_t *mirror,
                     vt_mirror_mode mode, int n, float *x) {
  if (mode == VT_MIRROR_STORED) return src->read(src, rows, mirror, n, x);
  if (src->read(src, rows, NULL, n, x) < 0) return -1;
  if (mode != VT_MIRROR_FLIP || !mirror) return 0;
  size_t len = (size_t)src->h * src->w * src->c;
  for (int i = 0; i < n; i++)
    if (mirror[i]) vt_cn_mirror_maps(x + i * len, x + i * len, 1, src->h, src->w, src->c);
  return 0;
}

/* A batch read by the team's members, each a contiguous part of it (a
 * source that allows it: conversion from float16 is a good part of the
 * work); the failure of a member is the batch's. */
typedef struct {
  vt_map_source *src;
  const int *rows;
  const uint8_t *mirror;
  vt_mirror_mode mode;
  int n;
  float *x;
  int rc[64];
  char why[64][256];
} read_job;

static void read_part(void *ctx, int m, int M) {
  read_job *j = ctx;
  if (m >= 64) return;
  int M64 = M < 64 ? M : 64, i0 = (int)((long)j->n * m / M64), i1 = (int)((long)j->n * (m + 1) / M64);
  size_t len = (size_t)j->src->h * j->src->w * j->src->c;
  j->rc[m] = i1 > i0 ? read_rows(j->src, j->rows + i0, j->mirror ? j->mirror + i0 : NULL, j->mode,
                                 i1 - i0, j->x + (size_t)i0 * len)
                     : 0;
  if (j->rc[m] < 0) snprintf(j->why[m], sizeof j->why[m], "%s", vt_failure_reason());
}

static int read_batch(vt_team *team, vt_map_source *src, const int *rows, const uint8_t *mirror,
                      vt_mirror_mode mode, int n, float *x) {
  if (vt_team_size(team) == 1 || !src->thread_safe) return read_rows(src, rows, mirror, mode, n, x);
  read_job *j = vt_xcalloc(1, sizeof *j);
  *j = (read_job){.src = src, .rows = rows, .mirror = mirror, .mode = mode, .n = n, .x = x};
  vt_team_run(team, read_part, j);
  int rc = 0;
  for (int m = 0; m < vt_team_size(team) && m < 64 && rc == 0; m++)
    if (j->rc[m] < 0) rc = vt_fail("%s", j->why[m]);
  free(j);
  return rc;
}

static int check_source(const vt_convnet *net, const vt_map_source *src, vt_mirror_mode m) {
  const vt_convnet_config *c = &net->cfg;
  if (src->h != c->in_h || src->w != c->in_w || src->c != c->in_c)
    return vt_fail("the maps are %dx%dx%d, the conv head takes %dx%dx%d", src->h, src->w, src->c,
                   c->in_h, c->in_w, c->in_c);
  if (m == VT_MIRROR_STORED && !src->has_mirror)
    return vt_fail("no stored maps of the mirrored photos to use (mirroring 'stored')");
  return 0;
}

/* Probabilities of rows in batches of w->max_batch (+ the mirrors', averaged). */
static int predict_with(const vt_convnet *net, vt_convnet_work *w, vt_map_source *src,
                        const int *rows, int n, vt_mirror_mode mirror, float *probs, float *x) {
  int K = net->cfg.classes, bs = w->max_batch;
  float *pm = vt_xmalloc((size_t)bs * K * sizeof(float));
  uint8_t *all = vt_xmalloc((size_t)bs);
  memset(all, 1, (size_t)bs);
  int rc = 0;
  for (int i0 = 0; i0 < n && rc == 0; i0 += bs) {
    int b = n - i0 < bs ? n - i0 : bs;
    float *p = probs + (size_t)i0 * K;
    if ((rc = read_batch(w->team, src, rows + i0, NULL, mirror, b, x)) < 0) break;
    vt_convnet_predict(net, w, x, b, p);
    if (mirror == VT_MIRROR_NONE) continue;
    if ((rc = read_batch(w->team, src, rows + i0, all, mirror, b, x)) < 0) break;
    vt_convnet_predict(net, w, x, b, pm);
    for (size_t j = 0; j < (size_t)b * K; j++) p[j] = 0.5f * (p[j] + pm[j]);
  }
  free(all);
  free(pm);
  return rc;
}

int vt_convnet_predict_rows(const vt_convnet *net, vt_map_source *src, const int *rows, int n,
                            vt_mirror_mode mirror, int batch, int threads, float *probs) {
  if (check_source(net, src, mirror) < 0) return -1;
  vt_team *team = vt_team_start(threads);
  if (!team) return -1;
  vt_convnet_work w;
  int rc = vt_convnet_work_init(&w, net, batch, team);
  if (rc == 0) {
    size_t len = (size_t)src->h * src->w * src->c;
    float *x = vt_aligned_alloc((size_t)batch * len * sizeof(float));
    rc = x ? predict_with(net, &w, src, rows, n, mirror, probs, x) : -1;
    free(x);
    vt_convnet_work_free(&w);
  }
  vt_team_stop(team);
  return rc;
}

/* Everything one training run holds. */
typedef struct {
  vt_convnet *net;
  vt_map_source *src;
  const vt_rowset *train, *val;
  const vt_convnet_train_config *c;
  vt_team *team;
  vt_convnet_work w, wv; /* training batches / validation batches */
  float *x, *mask, *probs, *vprobs, *class_weight;
  int *rows, *y, *order;
  uint8_t *mirror, *decay;
  float *best_params, *best_state;
} run;

static void run_free(run *r) {
  vt_convnet_work_free(&r->w);
  vt_convnet_work_free(&r->wv);
  vt_team_stop(r->team);
  void *p[] = {r->x, r->mask, r->probs, r->vprobs, r->class_weight, r->rows, r->y,
               r->order, r->mirror, r->decay, r->best_params, r->best_state};
  for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) free(p[i]);
}

/* weight class k by n / (present classes * n_k), as vt_train */
static float *balanced_weights(const vt_rowset *t, int K) {
  long *count = vt_xcalloc((size_t)K, sizeof(long));
  for (int i = 0; i < t->n; i++) count[t->y[i]]++;
  int present = 0;
  for (int k = 0; k < K; k++) present += count[k] > 0;
  float *w = vt_xmalloc((size_t)K * sizeof(float));
  for (int k = 0; k < K; k++) w[k] = count[k] ? (float)((double)t->n / (present * count[k])) : 0.0f;
  free(count);
  return w;
}

static int run_init(run *r) {
  const vt_convnet_train_config *c = r->c;
  const vt_convnet *net = r->net;
  int K = net->cfg.classes, bs = c->t.batch_size < r->train->n ? c->t.batch_size : r->train->n;
  if (bs < 1) return vt_fail("batch size %d", c->t.batch_size);
  for (int i = 0; i < r->train->n; i++)
    if (r->train->y[i] < 0 || r->train->y[i] >= K)
      return vt_fail("training row %d has label %d (classes 0..%d)", r->train->rows[i],
                     r->train->y[i], K - 1);
  r->team = vt_team_start(c->threads);
  if (!r->team) return -1;
  /* validation in batches of at least 64: no batch statistics there */
  int vbs = bs > 64 ? bs : 64;
  if (vt_convnet_work_init(&r->w, net, bs, r->team) < 0 ||
      vt_convnet_work_init(&r->wv, net, vbs, r->team) < 0)
    return -1;
  size_t len = (size_t)r->src->h * r->src->w * r->src->c, xb;
  if (vt_size_mul3((size_t)vbs, len, sizeof(float), &xb) < 0) return -1;
  r->x = vt_aligned_alloc(xb);
  if (!r->x) return vt_fail_prefix("a batch of %d maps", vbs);
  r->mask = vt_xmalloc((size_t)bs * net->feat * sizeof(float));
  r->probs = vt_xmalloc((size_t)bs * K * sizeof(float));
  r->vprobs = vt_xmalloc(((size_t)r->val->n + 1) * K * sizeof(float));
  r->rows = vt_xmalloc((size_t)bs * sizeof(int));
  r->y = vt_xmalloc((size_t)bs * sizeof(int));
  r->mirror = vt_xmalloc((size_t)bs);
  r->order = vt_xmalloc((size_t)r->train->n * sizeof(int));
  for (int i = 0; i < r->train->n; i++) r->order[i] = i;
  /* PyTorch's AdamW(model.parameters()) decays every parameter, batch
   * norm's and biases included: so does this head (issue 24's recipe) */
  r->decay = vt_xmalloc(net->n_params);
  memset(r->decay, 1, net->n_params);
  if (c->t.balanced_class_weights) r->class_weight = balanced_weights(r->train, K);
  return 0;
}

/* One epoch over the shuffled training rows; its mean loss and accuracy. */
static int train_epoch(run *r, vt_optimizer *opt, float lr, vt_rng *r_order, vt_rng *r_drop,
                       vt_rng *r_mirror, double *loss, double *acc) {
  const vt_convnet_train_config *c = r->c;
  vt_convnet *net = r->net;
  const vt_rowset *t = r->train;
  int K = net->cfg.classes, bs = r->w.max_batch, feat = net->feat;
  float p = net->cfg.dropout, keep = 1.0f / (1.0f - p);
  vt_convnet_loss lc = {c->t.label_smoothing, r->class_weight};
  vt_rng_shuffle(r_order, r->order, t->n);
  double loss_sum = 0;
  long correct = 0;
  for (int i0 = 0; i0 < t->n; i0 += bs) {
    int b = t->n - i0 < bs ? t->n - i0 : bs;
    for (int i = 0; i < b; i++) {
      r->rows[i] = t->rows[r->order[i0 + i]];
      r->y[i] = t->y[r->order[i0 + i]];
      r->mirror[i] = c->augment != VT_MIRROR_NONE && vt_rng_uniform(r_mirror) < 0.5f;
    }
    if (read_batch(r->team, r->src, r->rows, r->mirror, c->augment, b, r->x) < 0) return -1;
    for (size_t i = 0; p > 0.0f && i < (size_t)b * feat; i++)
      r->mask[i] = vt_rng_uniform(r_drop) < p ? 0.0f : keep;
    double l = vt_convnet_train_step(net, &r->w, r->x, r->y, b, p > 0.0f ? r->mask : NULL, &lc,
                                     r->probs);
    loss_sum += l * b;
    for (int i = 0; i < b; i++) correct += vt_argmax(r->probs + (size_t)i * K, K) == r->y[i];
    vt_optim_step(opt, net->params, r->w.grad, r->decay, lr);
  }
  *loss = loss_sum / t->n;
  *acc = (double)correct / t->n;
  return 0;
}

int vt_convnet_train(vt_convnet *net, vt_map_source *src, const vt_rowset *train,
                     const vt_rowset *val, const vt_convnet_train_config *c, vt_train_result *res) {
  memset(res, 0, sizeof *res);
  double t0 = vt_now();
  if (train->n < 1) return vt_fail("no training rows");
  if (check_source(net, src, c->augment) < 0 || check_source(net, src, c->eval) < 0) return -1;
  if (c->t.optim.kind == VT_OPT_LBFGS)
    return vt_fail("the conv head trains with adam or sgd (lbfgs is full-batch)");
  vt_rng r_init, r_order, r_drop, r_mirror;
  vt_rng_seed(&r_init, c->t.seed, STREAM_INIT);
  vt_rng_seed(&r_order, c->t.seed, STREAM_ORDER);
  vt_rng_seed(&r_drop, c->t.seed, STREAM_DROPOUT);
  vt_rng_seed(&r_mirror, c->t.seed, STREAM_MIRROR);
  vt_convnet_init_weights(net, &r_init);

  run r = {.net = net, .src = src, .train = train, .val = val, .c = c};
  int rc = run_init(&r);
  vt_optimizer opt;
  vt_optim_init(&opt, &c->t.optim, net->n_params);
  res->epochs = vt_xcalloc((size_t)c->t.epochs + 1, sizeof(vt_epoch_log));
  double best_loss = INFINITY;
  int since_best = 0, best_epoch = 0, K = net->cfg.classes;
  for (int e = 0; rc == 0 && e < c->t.epochs; e++) {
    float lr = vt_lr_at(c->t.schedule, c->t.lr, e, c->t.epochs, c->t.lr_step_epochs);
    vt_epoch_log *log = &res->epochs[res->n_epochs];
    *log = (vt_epoch_log){e + 1, lr, NAN, NAN, NAN, NAN};
    rc = train_epoch(&r, &opt, lr, &r_order, &r_drop, &r_mirror, &log->train_loss, &log->train_acc);
    if (rc < 0) break;
    res->n_epochs++;
    if (!isfinite(log->train_loss)) {
      rc = vt_fail("training diverged at epoch %d (loss %g): lower the learning rate", e + 1,
                   log->train_loss);
      break;
    }
    if (val->n) {
      rc = predict_with(net, &r.wv, src, val->rows, val->n, c->eval, r.vprobs, r.x);
      if (rc < 0) break;
      vt_loss_accuracy(r.vprobs, val->y, val->n, K, &log->val_loss, &log->val_acc);
    }
    if (c->t.verbose)
      fprintf(stderr, "epoch %3d/%d  lr %.3g  loss %.4f  acc %.4f  val_loss %.4f  val_acc %.4f  "
              "(%.1f s)\n", e + 1, c->t.epochs, lr, log->train_loss, log->train_acc,
              log->val_loss, log->val_acc, vt_now() - t0);
    if (!val->n || c->t.patience == 0) continue; /* keep the last epoch */
    if (log->val_loss < best_loss) {
      best_loss = log->val_loss;
      if (!r.best_params) {
        r.best_params = vt_xmalloc(net->n_params * sizeof(float));
        r.best_state = vt_xmalloc(net->n_state * sizeof(float));
      }
      memcpy(r.best_params, net->params, net->n_params * sizeof(float));
      memcpy(r.best_state, net->state, net->n_state * sizeof(float));
      best_epoch = e + 1;
      since_best = 0;
    } else if (++since_best >= c->t.patience) {
      break;
    }
  }
  res->best_epoch = res->n_epochs;
  if (r.best_params) {
    memcpy(net->params, r.best_params, net->n_params * sizeof(float));
    memcpy(net->state, r.best_state, net->n_state * sizeof(float));
    res->best_epoch = best_epoch;
  }
  vt_optim_free(&opt);
  run_free(&r);
  res->seconds = vt_now() - t0;
  if (rc < 0) {
    free(res->epochs);
    res->epochs = NULL;
    res->n_epochs = 0;
  }
  return rc;
}
