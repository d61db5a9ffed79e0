#include "vt_convnet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"

/* ---- configuration -------------------------------------------------------- */

int vt_convnet_config_default(vt_convnet_config *c, int h, int w, int ch, int classes) {
  memset(c, 0, sizeof *c);
  c->in_h = h;
  c->in_w = w;
  c->in_c = ch;
  c->in_pool = h >= 56 && w >= 56;
  c->n_convs = 2;
  c->ksize[0] = c->ksize[1] = 3;
  c->width[0] = c->width[1] = 64;
  c->dropout = 0.5f;
  c->classes = classes;
  c->bn_eps = 1e-5f;
  c->bn_momentum = 0.1f;
  int s = (c->in_pool ? (h < w ? h : w) / 2 : (h < w ? h : w)) / 2;
  if (s < 1) return vt_fail("a %dx%d map is too small for the default conv head (two convs "
                            "with a 2x2 max pool between)", h, w);
  c->grid = s < 4 ? s : 4;
  return 0;
}

int vt_convnet_parse_convs(vt_convnet_config *c, const char *spec) {
  char buf[256];
  if (strlen(spec) >= sizeof buf) return vt_fail("conv list '%.40s...' is too long", spec);
  strcpy(buf, spec);
  char *items[VT_CONVNET_MAX_CONVS + 1];
  int n = vt_split_commas(buf, items, VT_CONVNET_MAX_CONVS);
  if (n < 0) return vt_fail("conv list '%s' has more than %d convs", spec, VT_CONVNET_MAX_CONVS);
  for (int i = 0; i < n; i++) {
    const char *p = items[i];
    int k = 3, width = 0, used = 0;
    if (strncmp(p, "1x1:", 4) == 0 || strncmp(p, "3x3:", 4) == 0) {
      k = p[0] - '0';
      p += 4;
    }
    if (sscanf(p, "%d%n", &width, &used) != 1 || p[used] != '\0' || width < 1 || width > 4096)
      return vt_fail("'%s' in conv list '%s' is not a width (1-4096), optionally after 1x1: or "
                     "3x3: (e.g. 64,64 or 1x1:32,64)", items[i], spec);
    c->ksize[i] = k;
    c->width[i] = width;
  }
  c->n_convs = n;
  return 0;
}

void vt_convnet_convs_text(const vt_convnet_config *c, char *out, size_t n) {
  size_t len = 0;
  out[0] = '\0';
  for (int l = 0; l < c->n_convs && len < n; l++)
    len += (size_t)snprintf(out + len, n - len, "%s%s%d", l ? "," : "",
                            c->ksize[l] == 1 ? "1x1:" : "", c->width[l]);
}

/* ---- parameters ------------------------------------------------------------ */

/* Walks the parameter layout: conv l's kernel, its bias (if any), gamma and
 * beta, ..., then the dense kernel and bias. With base == NULL it only
 * counts. */
static size_t layout(const vt_convnet *net, float *base, vt_convnet_tensors *t) {
  const vt_convnet_config *c = &net->cfg;
  size_t off = 0;
#define TAKE(dst, count)                 \
  do {                                   \
    if (t) (dst) = base ? base + off : NULL; \
    off += (count);                      \
  } while (0)
  for (int l = 0; l < c->n_convs; l++) {
    size_t co = (size_t)c->width[l];
    TAKE(t->conv_k[l], (size_t)c->ksize[l] * c->ksize[l] * net->cin[l] * co);
    if (c->conv_bias) TAKE(t->conv_b[l], co);
    else if (t) t->conv_b[l] = NULL;
    TAKE(t->bn_gamma[l], co);
    TAKE(t->bn_beta[l], co);
  }
  TAKE(t->fc_k, (size_t)net->feat * c->classes);
  TAKE(t->fc_b, (size_t)c->classes);
#undef TAKE
  return off;
}

void vt_convnet_carve(const vt_convnet *net, float *base, vt_convnet_tensors *t) {
  memset(t, 0, sizeof *t);
  layout(net, base, t);
}

/* Derives every layer's shape; fails naming the layer that does not fit. */
static int shapes(vt_convnet *net) {
  const vt_convnet_config *c = &net->cfg;
  if (c->in_h < 1 || c->in_w < 1 || c->in_c < 1 || c->in_h > 4096 || c->in_w > 4096 ||
      c->in_c > 65536)
    return vt_fail("conv head: bad input map %dx%dx%d", c->in_h, c->in_w, c->in_c);
  if (c->classes < 2) return vt_fail("conv head: needs at least 2 classes (%d)", c->classes);
  if (c->n_convs < 1 || c->n_convs > VT_CONVNET_MAX_CONVS)
    return vt_fail("conv head: 1 to %d convs, not %d", VT_CONVNET_MAX_CONVS, c->n_convs);
  if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
    return vt_fail("conv head: dropout %g is not in [0, 1)", c->dropout);
  net->h0 = c->in_pool ? c->in_h / 2 : c->in_h;
  net->w0 = c->in_pool ? c->in_w / 2 : c->in_w;
  if (net->h0 < 1 || net->w0 < 1)
    return vt_fail("conv head: a %dx%d map is too small for the input pool", c->in_h, c->in_w);
  int h = net->h0, w = net->w0, ch = c->in_c;
  for (int l = 0; l < c->n_convs; l++) {
    if (c->ksize[l] != 1 && c->ksize[l] != 3)
      return vt_fail("conv head: conv %d has a %dx%d kernel (1x1 or 3x3)", l + 1, c->ksize[l],
                     c->ksize[l]);
    if (c->width[l] < 1 || c->width[l] > 4096)
      return vt_fail("conv head: conv %d has width %d", l + 1, c->width[l]);
    if (h < 1 || w < 1)
      return vt_fail("conv head: the map is down to %dx%d before conv %d (%dx%d input, %d "
                     "convs with a 2x2 max pool between each): use fewer convs", h, w, l + 1,
                     c->in_h, c->in_w, c->n_convs);
    net->h[l] = h;
    net->w[l] = w;
    net->cin[l] = ch;
    ch = c->width[l];
    if (l + 1 < c->n_convs) {
      h /= 2;
      w /= 2;
    }
  }
  if (c->grid < 1 || c->grid > h || c->grid > w)
    return vt_fail("conv head: grid %d does not fit the last conv's %dx%d map", c->grid, h, w);
  net->feat = c->grid * c->grid * ch;
  return 0;
}

int vt_convnet_init(vt_convnet *net, const vt_convnet_config *c) {
  memset(net, 0, sizeof *net);
  net->cfg = *c;
  if (shapes(net) < 0) return -1;
  net->n_params = layout(net, NULL, NULL);
  net->params = vt_aligned_alloc(net->n_params * sizeof(float));
  size_t n_state = 0;
  for (int l = 0; l < c->n_convs; l++) n_state += 2 * (size_t)c->width[l];
  net->n_state = n_state;
  net->state = vt_aligned_alloc(n_state * sizeof(float));
  if (!net->params || !net->state) {
    vt_convnet_free(net);
    return vt_fail_prefix("conv head of %zu parameters", layout(net, NULL, NULL));
  }
  memset(net->params, 0, net->n_params * sizeof(float));
  vt_convnet_carve(net, net->params, &net->p);
  float *s = net->state;
  for (int l = 0; l < c->n_convs; l++) {
    net->bn_mean[l] = s;
    net->bn_var[l] = s + c->width[l];
    s += 2 * (size_t)c->width[l];
    for (int j = 0; j < c->width[l]; j++) {
      net->bn_mean[l][j] = 0.0f;
      net->bn_var[l][j] = 1.0f;
    }
  }
  return 0;
}

void vt_convnet_free(vt_convnet *net) {
  free(net->params);
  free(net->state);
  memset(net, 0, sizeof *net);
}

static void uniform(float *p, size_t n, float bound, vt_rng *r) {
  for (size_t i = 0; i < n; i++) p[i] = (2.0f * vt_rng_uniform(r) - 1.0f) * bound;
}

void vt_convnet_init_weights(vt_convnet *net, vt_rng *r) {
  const vt_convnet_config *c = &net->cfg;
  for (int l = 0; l < c->n_convs; l++) {
    int k = c->ksize[l], co = c->width[l];
    float bound = 1.0f / sqrtf((float)(k * k * net->cin[l]));
    uniform(net->p.conv_k[l], (size_t)k * k * net->cin[l] * co, bound, r);
    if (net->p.conv_b[l]) uniform(net->p.conv_b[l], (size_t)co, bound, r);
    for (int j = 0; j < co; j++) {
      net->p.bn_gamma[l][j] = 1.0f;
      net->p.bn_beta[l][j] = 0.0f;
      net->bn_mean[l][j] = 0.0f;
      net->bn_var[l][j] = 1.0f;
    }
  }
  float bound = 1.0f / sqrtf((float)net->feat);
  uniform(net->p.fc_k, (size_t)net->feat * c->classes, bound, r);
  uniform(net->p.fc_b, (size_t)c->classes, bound, r);
}

/* ---- working memory ---------------------------------------------------------- */

/* One shard's activations and scratch, for up to VT_CONVNET_GRAIN examples. */
struct vt_convnet_shard {
  int n, first;       /* examples first .. first+n-1 of the current batch */
  const float *x;     /* its input maps [n][H][W][C] */
  float *x0;          /* after the input pool [n][h0][w0][C] (NULL without) */
  float *conv[VT_CONVNET_MAX_CONVS]; /* conv output = batch norm input */
  float *act[VT_CONVNET_MAX_CONVS];  /* ReLU(batch norm) */
  float *pool[VT_CONVNET_MAX_CONVS]; /* its 2x2 max pool (NULL after the last conv) */
  uint8_t *pool_arg[VT_CONVNET_MAX_CONVS];
  float *gp;          /* adaptive max pool [n][G][G][C] */
  int32_t *gp_arg;
  float *drop;        /* after dropout [n][feat] */
  float *logits, *probs, *dlogits; /* [n][classes] */
  float *da, *db;     /* gradient ping-pong, the largest activation */
  float *scratch;     /* the 3x3 convs' (Winograd) */
  /* batch norm of conv l: this shard's partials (its statistics are
   * vt_convnet_work.stats[l][shard]), and the batch's values (every shard
   * combines all partials itself, in shard order) */
  double *stat_mean[VT_CONVNET_MAX_CONVS], *stat_m2[VT_CONVNET_MAX_CONVS];
  double *sum_dy[VT_CONVNET_MAX_CONVS], *sum_dy_xhat[VT_CONVNET_MAX_CONVS];
  float *mean[VT_CONVNET_MAX_CONVS], *invstd[VT_CONVNET_MAX_CONVS],
      *var_unbiased[VT_CONVNET_MAX_CONVS], *tot_dy[VT_CONVNET_MAX_CONVS],
      *tot_dy_xhat[VT_CONVNET_MAX_CONVS];
  float *grad;        /* this shard's parameter gradient [n_params] */
  double loss;
  void *memory;
};

static size_t max_z(size_t a, size_t b) { return a > b ? a : b; }

/* Carves (or, with base NULL, sizes) one shard's memory. Each piece is
 * rounded to 64 bytes. */
static size_t carve_shard(const vt_convnet *net, vt_convnet_shard *s, char *base) {
  const vt_convnet_config *c = &net->cfg;
  size_t off = 0, n = VT_CONVNET_GRAIN, K = (size_t)c->classes;
#define PIECE(dst, count, type)                                 \
  do {                                                          \
    (dst) = base ? (type *)(void *)(base + off) : NULL;         \
    off += ((count) * sizeof(type) + 63) / 64 * 64;             \
  } while (0)
  /* the gradient ping-pong holds a conv's output gradient, and its input
   * gradient from the second conv on (the maps need none) */
  size_t largest = 0, col = 0;
  if (c->in_pool) PIECE(s->x0, n * net->h0 * net->w0 * c->in_c, float);
  else s->x0 = NULL;
  for (int l = 0; l < c->n_convs; l++) {
    size_t co = (size_t)c->width[l], plane = (size_t)net->h[l] * net->w[l];
    PIECE(s->conv[l], n * plane * co, float);
    PIECE(s->act[l], n * plane * co, float);
    largest = max_z(largest, n * plane * (l > 0 ? max_z(co, (size_t)net->cin[l]) : co));
    if (c->ksize[l] == 3)
      col = max_z(col, vt_cn_conv3x3_scratch_floats(net->h[l], net->w[l],
                                                         net->cin[l], (int)co));
    if (l + 1 < c->n_convs) {
      size_t pooled = n * (net->h[l] / 2) * (net->w[l] / 2) * co;
      PIECE(s->pool[l], pooled, float);
      PIECE(s->pool_arg[l], pooled, uint8_t);
    } else {
      s->pool[l] = NULL;
      s->pool_arg[l] = NULL;
    }
    PIECE(s->stat_mean[l], co, double);
    PIECE(s->stat_m2[l], co, double);
    PIECE(s->sum_dy[l], co, double);
    PIECE(s->sum_dy_xhat[l], co, double);
    PIECE(s->mean[l], co, float);
    PIECE(s->invstd[l], co, float);
    PIECE(s->var_unbiased[l], co, float);
    PIECE(s->tot_dy[l], co, float);
    PIECE(s->tot_dy_xhat[l], co, float);
  }
  PIECE(s->gp, n * net->feat, float);
  PIECE(s->gp_arg, n * net->feat, int32_t);
  PIECE(s->drop, n * net->feat, float);
  PIECE(s->logits, n * K, float);
  PIECE(s->probs, n * K, float);
  PIECE(s->dlogits, n * K, float);
  PIECE(s->da, largest, float);
  PIECE(s->db, largest, float);
  PIECE(s->scratch, col, float);
  PIECE(s->grad, net->n_params, float);
#undef PIECE
  return off;
}

int vt_convnet_work_init(vt_convnet_work *w, const vt_convnet *net, int max_batch, vt_team *team) {
  memset(w, 0, sizeof *w);
  if (max_batch < 1) return vt_fail("internal: batch of %d", max_batch);
  w->max_batch = max_batch;
  w->n_shards = (max_batch + VT_CONVNET_GRAIN - 1) / VT_CONVNET_GRAIN;
  w->team = team;
  w->shards = vt_xcalloc((size_t)w->n_shards, sizeof *w->shards);
  w->grad = vt_aligned_alloc(net->n_params * sizeof(float));
  size_t bytes = carve_shard(net, &w->shards[0], NULL);
  for (int i = 0; i < w->n_shards && w->grad; i++) {
    vt_convnet_shard *s = &w->shards[i];
    s->memory = vt_aligned_alloc(bytes);
    if (!s->memory) break;
    carve_shard(net, s, s->memory);
  }
  for (int l = 0; l < net->cfg.n_convs; l++) {
    w->stats[l] = vt_xcalloc((size_t)w->n_shards, sizeof(vt_cn_bn_stats));
    for (int i = 0; i < w->n_shards && w->shards[i].memory; i++) {
      w->stats[l][i].mean = w->shards[i].stat_mean[l];
      w->stats[l][i].m2 = w->shards[i].stat_m2[l];
    }
  }
  if (!w->grad || !w->shards[w->n_shards - 1].memory) {
    vt_convnet_work_free(w);
    return vt_fail_prefix("conv head working memory (%d shards of %zu bytes)", w->n_shards, bytes);
  }
  return 0;
}

void vt_convnet_work_free(vt_convnet_work *w) {
  for (int i = 0; w->shards && i < w->n_shards; i++) free(w->shards[i].memory);
  free(w->shards);
  for (int l = 0; l < VT_CONVNET_MAX_CONVS; l++) free(w->stats[l]);
  free(w->grad);
  memset(w, 0, sizeof *w);
}

/* ---- forward and backward of a batch ------------------------------------------ */

/* What a team job needs: the batch and what to do with it. */
typedef struct {
  const vt_convnet *net;
  vt_convnet_work *w;
  int n_shards;          /* shards holding examples of this batch */
  int training;          /* batch statistics, dropout, backward */
  const float *mask;     /* [n][feat] or NULL */
  const int *y;
  const vt_convnet_loss *loss;
  int n;
} batch_job;

/* Member m of M takes shards m, m + M, ...: a fixed set for a given team,
 * and the result does not depend on which member computed a shard. */
#define EACH_SHARD(j, m, M, s)                                                     \
  for (int s##_i = (m); s##_i < (j)->n_shards; s##_i += (M))                       \
    for (vt_convnet_shard *s = &(j)->w->shards[s##_i]; s; s = NULL)

/* The map entering conv l (its input), per shard. */
static const float *conv_input(const vt_convnet *net, const vt_convnet_shard *s, int l) {
  if (l > 0) return s->pool[l - 1] ? s->pool[l - 1] : s->act[l - 1];
  return net->cfg.in_pool ? s->x0 : s->x;
}

static void conv_forward(const vt_convnet *net, vt_convnet_shard *s, int l) {
  const vt_convnet_config *c = &net->cfg;
  const float *in = conv_input(net, s, l);
  if (c->ksize[l] == 3)
    vt_cn_conv3x3_forward(s->conv[l], in, net->p.conv_k[l], net->p.conv_b[l], s->n, net->h[l],
                          net->w[l], net->cin[l], c->width[l], s->scratch);
  else
    vt_cn_conv1x1_forward(s->conv[l], in, net->p.conv_k[l], net->p.conv_b[l],
                          s->n * net->h[l] * net->w[l], net->cin[l], c->width[l]);
}

/* batch norm (with the statistics already in s->mean/invstd) + ReLU, pool */
static void bn_relu_pool_forward(const vt_convnet *net, vt_convnet_shard *s, int l) {
  const vt_convnet_config *c = &net->cfg;
  int rows = s->n * net->h[l] * net->w[l], co = c->width[l];
  vt_cn_batchnorm_forward(s->act[l], s->conv[l], s->mean[l], s->invstd[l], net->p.bn_gamma[l],
                          net->p.bn_beta[l], rows, co, 1);
  if (s->pool[l])
    vt_cn_maxpool2_forward(s->pool[l], s->pool_arg[l], s->act[l], s->n, net->h[l], net->w[l], co);
}

/* adaptive max pool, dropout, dense, softmax (+ the loss and its gradient
 * in training) */
static void head_forward(const vt_convnet *net, vt_convnet_shard *s, const batch_job *j) {
  const vt_convnet_config *c = &net->cfg;
  int L = c->n_convs - 1, feat = net->feat;
  vt_cn_adaptive_maxpool_forward(s->gp, s->gp_arg, s->act[L], s->n, net->h[L], net->w[L],
                                 c->width[L], c->grid);
  const float *f = s->gp;
  if (j->training && j->mask) {
    vt_cn_dropout_forward(s->drop, s->gp, j->mask + (size_t)s->first * feat, (size_t)s->n * feat);
    f = s->drop;
  }
  vt_cn_conv1x1_forward(s->logits, f, net->p.fc_k, net->p.fc_b, s->n, feat, c->classes);
  if (j->training)
    s->loss = vt_cn_softmax_xent_forward_backward(
        s->dlogits, s->probs, s->logits, j->y + s->first, s->n, c->classes,
        j->loss->label_smoothing, j->loss->class_weight, (double)j->n);
}

static void forward_job(void *ctx, int m, int M) {
  batch_job *j = ctx;
  const vt_convnet *net = j->net;
  const vt_convnet_config *c = &net->cfg;
  vt_team *team = j->w->team;
  if (c->in_pool)
    EACH_SHARD(j, m, M, s) vt_cn_avgpool2_forward(s->x0, s->x, s->n, c->in_h, c->in_w, c->in_c);
  for (int l = 0; l < c->n_convs; l++) {
    int co = c->width[l];
    EACH_SHARD(j, m, M, s) {
      conv_forward(net, s, l);
      if (j->training)
        vt_cn_batchnorm_stats(&j->w->stats[l][s_i], s->conv[l], s->n * net->h[l] * net->w[l], co);
    }
    if (j->training) {
      vt_team_sync(team); /* every shard's statistics are in */
      EACH_SHARD(j, m, M, s)
        vt_cn_batchnorm_combine(s->mean[l], s->invstd[l], s->var_unbiased[l], j->w->stats[l],
                                j->n_shards, co, c->bn_eps);
    } else {
      EACH_SHARD(j, m, M, s) for (int i = 0; i < co; i++) {
        s->mean[l][i] = net->bn_mean[l][i];
        s->invstd[l][i] = 1.0f / sqrtf(net->bn_var[l][i] + c->bn_eps);
      }
    }
    EACH_SHARD(j, m, M, s) bn_relu_pool_forward(net, s, l);
  }
  EACH_SHARD(j, m, M, s) head_forward(net, s, j);
}

/* dense, dropout and adaptive max pool backward: leaves d act[L] in s->da */
static void head_backward(const vt_convnet *net, vt_convnet_shard *s, vt_convnet_tensors *g,
                          const batch_job *j) {
  const vt_convnet_config *c = &net->cfg;
  int L = c->n_convs - 1, feat = net->feat;
  const float *f = j->mask ? s->drop : s->gp;
  vt_cn_conv1x1_backward(s->db, g->fc_k, g->fc_b, s->dlogits, f, net->p.fc_k, s->n, feat,
                         c->classes);
  if (j->mask)
    vt_cn_dropout_backward(s->db, s->db, j->mask + (size_t)s->first * feat, (size_t)s->n * feat);
  vt_cn_adaptive_maxpool_backward(s->da, s->db, s->gp_arg, s->n, net->h[L], net->w[L],
                                  c->width[L], c->grid);
}

static void swap(float **a, float **b) {
  float *t = *a;
  *a = *b;
  *b = t;
}

static void backward_job(void *ctx, int m, int M) {
  batch_job *j = ctx;
  const vt_convnet *net = j->net;
  const vt_convnet_config *c = &net->cfg;
  vt_team *team = j->w->team;
  EACH_SHARD(j, m, M, s) {
    memset(s->grad, 0, net->n_params * sizeof(float));
    vt_convnet_tensors g;
    vt_convnet_carve(net, s->grad, &g);
    head_backward(net, s, &g, j);
  }
  for (int l = c->n_convs - 1; l >= 0; l--) {
    int co = c->width[l], rows = net->h[l] * net->w[l];
    EACH_SHARD(j, m, M, s) {
      /* s->da: d of conv l's block output (its pool, or act[l]) */
      if (s->pool[l]) {
        vt_cn_maxpool2_backward(s->db, s->da, s->pool_arg[l], s->n, net->h[l], net->w[l], co);
        swap(&s->da, &s->db);
      }
      vt_cn_batchnorm_backward_sums(s->sum_dy[l], s->sum_dy_xhat[l], s->da, s->act[l], s->conv[l],
                                    s->mean[l], s->invstd[l], s->n * rows, co);
      vt_convnet_tensors g;
      vt_convnet_carve(net, s->grad, &g);
      for (int i = 0; i < co; i++) {
        g.bn_beta[l][i] = (float)s->sum_dy[l][i];
        g.bn_gamma[l][i] = (float)s->sum_dy_xhat[l][i];
      }
    }
    vt_team_sync(team); /* every shard's sums are in */
    EACH_SHARD(j, m, M, s) {
      for (int i = 0; i < co; i++) {
        double a = 0, b = 0;
        for (int k = 0; k < j->n_shards; k++) {
          a += j->w->shards[k].sum_dy[l][i];
          b += j->w->shards[k].sum_dy_xhat[l][i];
        }
        s->tot_dy[l][i] = (float)a;
        s->tot_dy_xhat[l][i] = (float)b;
      }
      double count = (double)j->n * rows;
      vt_cn_batchnorm_backward(s->db, s->da, s->act[l], s->conv[l], s->mean[l], s->invstd[l],
                               net->p.bn_gamma[l], s->tot_dy[l], s->tot_dy_xhat[l], count,
                               s->n * rows, co);
      swap(&s->da, &s->db);
      vt_convnet_tensors g;
      vt_convnet_carve(net, s->grad, &g);
      const float *in = conv_input(net, s, l);
      float *din = l > 0 ? s->db : NULL; /* the maps themselves need no gradient */
      if (c->ksize[l] == 3)
        vt_cn_conv3x3_backward(din, g.conv_k[l], g.conv_b[l], s->da, in, net->p.conv_k[l], s->n,
                               net->h[l], net->w[l], net->cin[l], co, s->scratch);
      else
        vt_cn_conv1x1_backward(din, g.conv_k[l], g.conv_b[l], s->da, in, net->p.conv_k[l],
                               s->n * rows, net->cin[l], co);
      swap(&s->da, &s->db);
    }
  }
  vt_team_sync(team); /* every shard's gradient is in */
  /* the batch's gradient: shard gradients summed in shard order, members
   * taking disjoint ranges of parameters */
  size_t np = net->n_params, per = (np + (size_t)M - 1) / (size_t)M;
  size_t i0 = per * (size_t)m, i1 = i0 + per < np ? i0 + per : np;
  for (size_t i = i0; i < i1; i++) {
    float sum = 0.0f;
    for (int k = 0; k < j->n_shards; k++) sum += j->w->shards[k].grad[i];
    j->w->grad[i] = sum;
  }
}

/* Points the shards at the batch's examples. */
static int assign(const vt_convnet *net, vt_convnet_work *w, const float *x, int n) {
  size_t per = (size_t)net->cfg.in_h * net->cfg.in_w * net->cfg.in_c;
  int used = 0;
  for (int i = 0; i < w->n_shards; i++) {
    vt_convnet_shard *s = &w->shards[i];
    s->first = i * VT_CONVNET_GRAIN;
    s->n = n - s->first < VT_CONVNET_GRAIN ? n - s->first : VT_CONVNET_GRAIN;
    if (s->n <= 0) break;
    s->x = x + (size_t)s->first * per;
    used++;
  }
  return used;
}

double vt_convnet_train_step(vt_convnet *net, vt_convnet_work *w, const float *x, const int *y,
                             int n, const float *mask, const vt_convnet_loss *loss, float *probs) {
  batch_job j = {net, w, assign(net, w, x, n), 1, mask, y, loss, n};
  vt_team_run(w->team, forward_job, &j);
  vt_team_run(w->team, backward_job, &j);
  /* running statistics from the batch's (every shard holds the same) */
  const vt_convnet_shard *s0 = &w->shards[0];
  for (int l = 0; l < net->cfg.n_convs; l++)
    vt_cn_batchnorm_update_running(net->bn_mean[l], net->bn_var[l], s0->mean[l],
                                   s0->var_unbiased[l], net->cfg.width[l], net->cfg.bn_momentum);
  double total = 0;
  int K = net->cfg.classes;
  for (int i = 0; i < j.n_shards; i++) {
    const vt_convnet_shard *s = &w->shards[i];
    total += s->loss;
    if (probs) memcpy(probs + (size_t)s->first * K, s->probs, (size_t)s->n * K * sizeof(float));
  }
  return total / n;
}

static void eval(const vt_convnet *net, vt_convnet_work *w, const float *x, int n, float *out,
                 int want_probs) {
  batch_job j = {net, w, assign(net, w, x, n), 0, NULL, NULL, NULL, n};
  vt_team_run(w->team, forward_job, &j);
  int K = net->cfg.classes;
  for (int i = 0; i < j.n_shards; i++) {
    vt_convnet_shard *s = &w->shards[i];
    float *dst = out + (size_t)s->first * K;
    if (!want_probs) {
      memcpy(dst, s->logits, (size_t)s->n * K * sizeof(float));
      continue;
    }
    vt_cn_softmax_xent_forward_backward(NULL, dst, s->logits, NULL, s->n, K, 0.0f, NULL, 1.0);
  }
}

void vt_convnet_predict(const vt_convnet *net, vt_convnet_work *w, const float *x, int n,
                        float *probs) {
  eval(net, w, x, n, probs, 1);
}

void vt_convnet_logits(const vt_convnet *net, vt_convnet_work *w, const float *x, int n,
                       float *logits) {
  eval(net, w, x, n, logits, 0);
}
