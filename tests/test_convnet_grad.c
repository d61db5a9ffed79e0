/* Gradients of the conv head (train/vt_convnet_layers.h, vt_convnet.h)
 * against central finite differences: every layer alone (loss = a fixed
 * random projection of its output, summed in double), then the whole net's
 * loss with respect to its parameters. Also the fast 3x3 conv against its
 * naive reference, and batch norm over several shards against one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "vt_convnet.h"
#include "vt_rng.h"
#include "vt_test.h"

static vt_rng rng;

static float *rand_buf(size_t n, float lo, float hi) {
  float *p = vt_xmalloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * vt_rng_uniform(&rng);
  return p;
}

static double dot(const float *a, const float *b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
  return s;
}

/* A layer under test: forward(ctx) fills its output; the loss is
 * dot(output, proj). */
typedef struct {
  void (*forward)(void *ctx);
  void *ctx;
  const float *out;
  const float *proj;
  size_t n_out;
  const double *scalar; /* instead of out and proj: a loss the forward computes */
} probe;

static double probe_loss(const probe *p) {
  p->forward(p->ctx);
  return p->scalar ? *p->scalar : dot(p->out, p->proj, p->n_out);
}

/* Compares grad [n] with central differences of the probe's loss in x [n]
 * at up to `checks` entries spread over x; the error is measured against
 * the largest gradient entry. For a function with kinks (max pools, ReLU:
 * `kinky`), an entry whose two one-sided differences disagree by more than
 * tol sits on one (a choice switching within the step) and is skipped; at
 * most 5% may be. */
static void fd_check(const char *name, float *x, size_t n, const float *grad, const probe *p,
                     float h, double tol, int checks, int kinky) {
  double gmax = 1e-12, worst = 0;
  size_t worst_i = 0;
  int tried = 0, kinks = 0;
  for (size_t i = 0; i < n; i++) gmax = fabs(grad[i]) > gmax ? fabs(grad[i]) : gmax;
  double l0 = probe_loss(p);
  size_t step = n > (size_t)checks ? n / checks : 1;
  for (size_t i = step / 2; i < n; i += step) {
    float keep = x[i];
    x[i] = keep + h;
    double lp = probe_loss(p);
    x[i] = keep - h;
    double lm = probe_loss(p);
    x[i] = keep;
    tried++;
    if (kinky && fabs((lp - l0) - (l0 - lm)) / h / gmax > tol) {
      kinks++;
      continue;
    }
    double fd = (lp - lm) / (2.0 * h), err = fabs(fd - grad[i]) / gmax;
    if (err > worst) {
      worst = err;
      worst_i = i;
    }
  }
  probe_loss(p); /* leave the output as at x */
  printf("%-34s max |fd - grad| / max |grad| = %.2e (entry %zu; max |grad| %.3g; %d of %d on "
         "kinks)\n", name, worst, worst_i, gmax, kinks, tried);
  CHECK(worst < tol, "%s: %.3g >= %.3g", name, worst, tol);
  CHECK(kinks * 20 <= tried, "%s: %d of %d differences on kinks", name, kinks, tried);
  CHECK(gmax > 1e-6, "%s: the gradient is zero, the check proves nothing", name);
}

static double max_rel_diff(const float *a, const float *b, size_t n) {
  double m = 1e-12, d = 0;
  for (size_t i = 0; i < n; i++) {
    m = fabs(b[i]) > m ? fabs(b[i]) : m;
    d = fabs(a[i] - b[i]) > d ? fabs(a[i] - b[i]) : d;
  }
  return d / m;
}

/* ---- conv3x3 ---------------------------------------------------------------- */

typedef struct {
  float *out, *in, *k, *bias, *col;
  int n, H, W, Cin, Cout;
} conv_ctx;

static void conv3_fwd(void *p) {
  conv_ctx *c = p;
  vt_cn_conv3x3_forward(c->out, c->in, c->k, c->bias, c->n, c->H, c->W, c->Cin, c->Cout, c->col);
}

/* Winograd's tiles overhang an edge unless H and W are multiples of 4;
 * channel counts off the vector width leave partial vectors. */
static void test_conv3x3(int n, int H, int W, int Cin, int Cout) {
  printf("conv3x3 %d x %dx%dx%d -> %d:\n", n, H, W, Cin, Cout);
  conv_ctx c = {.n = n, .H = H, .W = W, .Cin = Cin, .Cout = Cout};
  size_t ni = (size_t)c.n * c.H * c.W * c.Cin, no = (size_t)c.n * c.H * c.W * c.Cout,
         nk = 9 * (size_t)c.Cin * c.Cout;
  c.in = rand_buf(ni, -1, 1);
  c.k = rand_buf(nk, -1, 1);
  c.bias = rand_buf((size_t)c.Cout, -1, 1);
  c.out = vt_xmalloc(no * sizeof(float));
  c.col = vt_xmalloc(vt_cn_conv3x3_scratch_floats(c.H, c.W, c.Cin, c.Cout) * sizeof(float));
  float *proj = rand_buf(no, -1, 1), *ref = vt_xmalloc(no * sizeof(float));

  conv3_fwd(&c);
  vt_cn_conv3x3_forward_naive(ref, c.in, c.k, c.bias, c.n, c.H, c.W, c.Cin, c.Cout);
  double e = max_rel_diff(c.out, ref, no);
  printf("conv3x3 forward fast vs naive: %.2e\n", e);
  CHECK(e < 1e-5, "conv3x3 forward %.3g", e);

  float *din = vt_xcalloc(ni, sizeof(float)), *dk = vt_xcalloc(nk, sizeof(float)),
        *db = vt_xcalloc((size_t)c.Cout, sizeof(float));
  float *rdin = vt_xcalloc(ni, sizeof(float)), *rdk = vt_xcalloc(nk, sizeof(float)),
        *rdb = vt_xcalloc((size_t)c.Cout, sizeof(float));
  vt_cn_conv3x3_backward(din, dk, db, proj, c.in, c.k, c.n, c.H, c.W, c.Cin, c.Cout, c.col);
  vt_cn_conv3x3_backward_naive(rdin, rdk, rdb, proj, c.in, c.k, c.n, c.H, c.W, c.Cin, c.Cout);
  e = max_rel_diff(din, rdin, ni);
  double e2 = max_rel_diff(dk, rdk, nk), e3 = max_rel_diff(db, rdb, (size_t)c.Cout);
  printf("conv3x3 backward fast vs naive: din %.2e dk %.2e dbias %.2e\n", e, e2, e3);
  CHECK(e < 1e-5 && e2 < 1e-5 && e3 < 1e-5, "conv3x3 backward %.3g %.3g %.3g", e, e2, e3);

  probe p = {.forward = conv3_fwd, .ctx = &c, .out = c.out, .proj = proj, .n_out = no};
  fd_check("conv3x3 d input", c.in, ni, din, &p, 0.1f, 1e-3, 400, 0);
  fd_check("conv3x3 d kernel", c.k, nk, dk, &p, 0.1f, 1e-3, 400, 0);
  fd_check("conv3x3 d bias", c.bias, (size_t)c.Cout, db, &p, 0.1f, 1e-3, 400, 0);
  /* the kernel gradient accumulates: a second call adds the same again */
  vt_cn_conv3x3_backward(NULL, dk, NULL, proj, c.in, c.k, c.n, c.H, c.W, c.Cin, c.Cout, c.col);
  for (size_t i = 0; i < nk; i++) rdk[i] *= 2;
  e = max_rel_diff(dk, rdk, nk);
  CHECK(e < 1e-5, "conv3x3 backward does not accumulate dk: %.3g", e);
  free(c.in), free(c.k), free(c.bias), free(c.out), free(c.col), free(proj), free(ref);
  free(din), free(dk), free(db), free(rdin), free(rdk), free(rdb);
}

/* ---- conv1x1 / dense ----------------------------------------------------------- */

static void conv1_fwd(void *p) {
  conv_ctx *c = p;
  vt_cn_conv1x1_forward(c->out, c->in, c->k, c->bias, c->n, c->Cin, c->Cout);
}

static void test_conv1x1(void) {
  conv_ctx c = {.n = 13, .Cin = 7, .Cout = 5}; /* n = rows */
  size_t ni = (size_t)c.n * c.Cin, no = (size_t)c.n * c.Cout, nk = (size_t)c.Cin * c.Cout;
  c.in = rand_buf(ni, -1, 1);
  c.k = rand_buf(nk, -1, 1);
  c.bias = rand_buf((size_t)c.Cout, -1, 1);
  c.out = vt_xmalloc(no * sizeof(float));
  float *proj = rand_buf(no, -1, 1);
  float *din = vt_xmalloc(ni * sizeof(float)), *dk = vt_xcalloc(nk, sizeof(float)),
        *db = vt_xcalloc((size_t)c.Cout, sizeof(float));
  vt_cn_conv1x1_backward(din, dk, db, proj, c.in, c.k, c.n, c.Cin, c.Cout);
  probe p = {.forward = conv1_fwd, .ctx = &c, .out = c.out, .proj = proj, .n_out = no};
  fd_check("conv1x1 d input", c.in, ni, din, &p, 0.1f, 1e-3, 400, 0);
  fd_check("conv1x1 d kernel", c.k, nk, dk, &p, 0.1f, 1e-3, 400, 0);
  fd_check("conv1x1 d bias", c.bias, (size_t)c.Cout, db, &p, 0.1f, 1e-3, 400, 0);
  free(c.in), free(c.k), free(c.bias), free(c.out), free(proj), free(din), free(dk), free(db);
}

/* ---- batch norm, training mode, over several shards -------------------------------- */

typedef struct {
  float *x, *y, *gamma, *beta;
  int rows, C, shards, relu;
  float mean[8], invstd[8], var_u[8];
  vt_cn_bn_stats st[4];
  double st_mean[4][8], st_m2[4][8];
} bn_ctx;

/* the shards take rows in equal consecutive parts (the last one smaller) */
static int shard_rows(const bn_ctx *b, int s, int *first) {
  int per = (b->rows + b->shards - 1) / b->shards;
  *first = s * per;
  int n = b->rows - *first;
  return n < per ? n : per;
}

static void bn_fwd(void *p) {
  bn_ctx *b = p;
  for (int s = 0; s < b->shards; s++) {
    int f, n = shard_rows(b, s, &f);
    vt_cn_batchnorm_stats(&b->st[s], b->x + (size_t)f * b->C, n, b->C);
  }
  vt_cn_batchnorm_combine(b->mean, b->invstd, b->var_u, b->st, b->shards, b->C, 1e-5f);
  vt_cn_batchnorm_forward(b->y, b->x, b->mean, b->invstd, b->gamma, b->beta, b->rows, b->C,
                          b->relu);
}

static void bn_backward(bn_ctx *b, const float *dy, float *dx, float *dgamma, float *dbeta) {
  double sd[4][8], sdx[4][8];
  float tot_dy[8] = {0}, tot_dyx[8] = {0};
  for (int s = 0; s < b->shards; s++) {
    int f, n = shard_rows(b, s, &f);
    size_t o = (size_t)f * b->C;
    vt_cn_batchnorm_backward_sums(sd[s], sdx[s], dy + o, b->relu ? b->y + o : NULL, b->x + o,
                                  b->mean, b->invstd, n, b->C);
  }
  for (int c = 0; c < b->C; c++) {
    double a = 0, d = 0;
    for (int s = 0; s < b->shards; s++) a += sd[s][c], d += sdx[s][c];
    tot_dy[c] = dbeta[c] = (float)a;
    tot_dyx[c] = dgamma[c] = (float)d;
  }
  for (int s = 0; s < b->shards; s++) {
    int f, n = shard_rows(b, s, &f);
    size_t o = (size_t)f * b->C;
    vt_cn_batchnorm_backward(dx + o, dy + o, b->relu ? b->y + o : NULL, b->x + o, b->mean,
                             b->invstd, b->gamma, tot_dy, tot_dyx, b->rows, n, b->C);
  }
}

/* relu: batch norm followed by ReLU in the same calls, as the head runs it */
static void test_batchnorm(int relu) {
  bn_ctx b = {.rows = 23, .C = 5, .shards = 3, .relu = relu};
  for (int s = 0; s < 4; s++) b.st[s] = (vt_cn_bn_stats){0, b.st_mean[s], b.st_m2[s]};
  size_t n = (size_t)b.rows * b.C;
  b.x = rand_buf(n, -2, 3);
  for (size_t i = 0; i < n; i += b.C) b.x[i] += 10.0f; /* a channel far from 0 mean */
  b.y = vt_xmalloc(n * sizeof(float));
  b.gamma = rand_buf((size_t)b.C, 0.5f, 1.5f);
  b.beta = rand_buf((size_t)b.C, -1, 1);
  float *proj = rand_buf(n, -1, 1), *dx = vt_xmalloc(n * sizeof(float));
  float dgamma[8], dbeta[8];

  /* three shards give the statistics of one */
  bn_fwd(&b);
  float mean3[8], invstd3[8], var3[8];
  memcpy(mean3, b.mean, sizeof mean3), memcpy(invstd3, b.invstd, sizeof invstd3);
  memcpy(var3, b.var_u, sizeof var3);
  b.shards = 1;
  bn_fwd(&b);
  for (int c = 0; c < b.C; c++) {
    double m = 0, v = 0;
    for (int r = 0; r < b.rows; r++) m += b.x[r * b.C + c];
    m /= b.rows;
    for (int r = 0; r < b.rows; r++) v += (b.x[r * b.C + c] - m) * (b.x[r * b.C + c] - m);
    CHECK(fabs(mean3[c] - m) < 1e-5 * (1 + fabs(m)) && fabs(b.mean[c] - m) < 1e-5 * (1 + fabs(m)),
          "mean of channel %d: %g (3 shards) %g (1) vs %g", c, mean3[c], b.mean[c], m);
    CHECK(fabs(var3[c] - v / (b.rows - 1)) < 1e-5 * v, "unbiased variance of channel %d", c);
    CHECK(fabs(invstd3[c] - 1.0 / sqrt(v / b.rows + 1e-5)) < 1e-5 * invstd3[c],
          "invstd of channel %d", c);
  }
  b.shards = 3;
  bn_fwd(&b);
  bn_backward(&b, proj, dx, dgamma, dbeta);
  probe p = {.forward = bn_fwd, .ctx = &b, .out = b.y, .proj = proj, .n_out = n};
  fd_check(relu ? "batchnorm + relu (train, 3 shards) d x" : "batchnorm (train, 3 shards) d x",
           b.x, n, dx, &p, 1e-3f, 2e-3, 400, relu);
  fd_check(relu ? "batchnorm + relu d gamma" : "batchnorm d gamma", b.gamma, (size_t)b.C, dgamma,
           &p, 1e-3f, 2e-3, 400, relu);
  fd_check(relu ? "batchnorm + relu d beta" : "batchnorm d beta", b.beta, (size_t)b.C, dbeta, &p,
           1e-3f, 2e-3, 400, relu);
  if (relu) {
    int zeros = 0;
    for (size_t i = 0; i < n; i++) zeros += b.y[i] == 0.0f;
    CHECK(zeros > 0 && zeros < (int)n, "the ReLU cut %d of %zu values: not a test of it", zeros, n);
  }

  float rm[5] = {0}, rv[5] = {1, 1, 1, 1, 1};
  vt_cn_batchnorm_update_running(rm, rv, b.mean, b.var_u, b.C, 0.1f);
  CHECK(fabs(rm[0] - 0.1f * b.mean[0]) < 1e-6 && fabs(rv[0] - (0.9f + 0.1f * b.var_u[0])) < 1e-5,
        "running statistics: PyTorch's momentum rule");
  free(b.x), free(b.y), free(b.gamma), free(b.beta), free(proj), free(dx);
}

/* ---- pools, dropout ----------------------------------------------------------- */

typedef struct {
  float *in, *out, *mask;
  uint8_t *arg8;
  int32_t *arg32;
  int n, H, W, C, G;
  int kind;
} simple_ctx;

enum { AVGPOOL, MAXPOOL, ADAPTIVE, DROPOUT };

static size_t simple_out(const simple_ctx *s) {
  switch (s->kind) {
  case AVGPOOL:
  case MAXPOOL:
    return (size_t)s->n * (s->H / 2) * (s->W / 2) * s->C;
  case ADAPTIVE:
    return (size_t)s->n * s->G * s->G * s->C;
  default:
    return (size_t)s->n * s->H * s->W * s->C;
  }
}

static void simple_fwd(void *p) {
  simple_ctx *s = p;
  size_t count = (size_t)s->n * s->H * s->W * s->C;
  switch (s->kind) {
  case AVGPOOL: vt_cn_avgpool2_forward(s->out, s->in, s->n, s->H, s->W, s->C); break;
  case MAXPOOL: vt_cn_maxpool2_forward(s->out, s->arg8, s->in, s->n, s->H, s->W, s->C); break;
  case ADAPTIVE:
    vt_cn_adaptive_maxpool_forward(s->out, s->arg32, s->in, s->n, s->H, s->W, s->C, s->G);
    break;
  case DROPOUT: vt_cn_dropout_forward(s->out, s->in, s->mask, count); break;
  }
}

static void test_simple(const char *name, int kind, int H, int W, int G) {
  simple_ctx s = {.n = 2, .H = H, .W = W, .C = 3, .G = G, .kind = kind};
  size_t ni = (size_t)s.n * H * W * s.C;
  /* distinct values at least 0.01 apart, none near 0: no kink within h */
  s.in = vt_xmalloc(ni * sizeof(float));
  for (size_t i = 0; i < ni; i++) s.in[i] = 0.05f * (float)i + 0.02f;
  for (size_t i = ni - 1; i > 0; i--) { /* shuffle the values */
    size_t j = vt_rng_below(&rng, (uint32_t)i + 1);
    float t = s.in[i];
    s.in[i] = s.in[j], s.in[j] = t;
  }
  for (size_t i = 0; i < ni; i += 2) s.in[i] = -s.in[i];
  size_t no = simple_out(&s);
  s.out = vt_xmalloc(no * sizeof(float));
  s.arg8 = vt_xmalloc(no);
  s.arg32 = vt_xmalloc(no * sizeof(int32_t));
  s.mask = vt_xmalloc(ni * sizeof(float));
  for (size_t i = 0; i < ni; i++) s.mask[i] = vt_rng_uniform(&rng) < 0.3f ? 0.0f : 1.0f / 0.7f;
  float *proj = rand_buf(no, -1, 1), *din = vt_xmalloc(ni * sizeof(float));
  simple_fwd(&s);
  switch (kind) {
  case AVGPOOL: vt_cn_avgpool2_backward(din, proj, s.n, H, W, s.C); break;
  case MAXPOOL: vt_cn_maxpool2_backward(din, proj, s.arg8, s.n, H, W, s.C); break;
  case ADAPTIVE: vt_cn_adaptive_maxpool_backward(din, proj, s.arg32, s.n, H, W, s.C, G); break;
  case DROPOUT: vt_cn_dropout_backward(din, proj, s.mask, ni); break;
  }
  probe p = {.forward = simple_fwd, .ctx = &s, .out = s.out, .proj = proj, .n_out = no};
  fd_check(name, s.in, ni, din, &p, 1e-3f, 1e-3, 1000, kind == MAXPOOL || kind == ADAPTIVE);
  free(s.in), free(s.out), free(s.arg8), free(s.arg32), free(s.mask), free(proj), free(din);
}

/* PyTorch's adaptive cells on a 7-wide map to 3: [0,3), [2,5), [4,7) */
static void test_adaptive_cells(void) {
  float in[7], out[3];
  int32_t arg[3];
  for (int x = 0; x < 7; x++) in[x] = (float)(x == 2 ? 9 : x == 4 ? 8 : 0);
  vt_cn_adaptive_maxpool_forward(out, arg, in, 1, 1, 7, 1, 1);
  CHECK(out[0] == 9 && arg[0] == 2, "1 cell: the whole row");
  float in2[49];
  for (int i = 0; i < 49; i++) in2[i] = (float)(i % 7 == 2 ? 9 : i % 7 == 4 ? 8 : 0);
  float out2[9];
  int32_t arg2[9];
  vt_cn_adaptive_maxpool_forward(out2, arg2, in2, 1, 7, 7, 1, 3);
  CHECK(out2[0] == 9 && out2[1] == 9 && out2[2] == 8, "cells [0,3) [2,5) [4,7): %g %g %g", out2[0],
        out2[1], out2[2]);
  CHECK(arg2[1] == 2, "ties and overlap: the first maximum in row order (%d)", arg2[1]);
}

/* ---- softmax cross-entropy ------------------------------------------------------------ */

typedef struct {
  float *logits, *probs;
  int *y;
  int n, K;
  float smoothing;
  const float *cw;
  double loss;
} xent_ctx;

static void xent_fwd(void *p) {
  xent_ctx *x = p;
  x->loss = vt_cn_softmax_xent_forward_backward(NULL, x->probs, x->logits, x->y, x->n, x->K,
                                                x->smoothing, x->cw, 1.0);
}

static void test_xent(float smoothing, int weighted) {
  xent_ctx x = {.n = 6, .K = 4, .smoothing = smoothing};
  float cw[4] = {1.0f, 2.5f, 0.5f, 1.2f};
  x.cw = weighted ? cw : NULL;
  size_t nl = (size_t)x.n * x.K;
  x.logits = rand_buf(nl, -3, 3);
  x.probs = vt_xmalloc(nl * sizeof(float));
  int y[6];
  for (int i = 0; i < x.n; i++) y[i] = (int)vt_rng_below(&rng, (uint32_t)x.K);
  x.y = y;
  float *d = vt_xmalloc(nl * sizeof(float));
  double loss = vt_cn_softmax_xent_forward_backward(d, x.probs, x.logits, y, x.n, x.K, smoothing,
                                                    x.cw, 1.0);
  /* the loss against a direct formula */
  double ref = 0;
  for (int i = 0; i < x.n; i++) {
    double mx = -1e30, s = 0;
    for (int j = 0; j < x.K; j++) mx = fmax(mx, x.logits[i * x.K + j]);
    for (int j = 0; j < x.K; j++) s += exp(x.logits[i * x.K + j] - mx);
    for (int j = 0; j < x.K; j++) {
      double t = (j == y[i] ? 1 - smoothing : 0) + smoothing / x.K;
      ref -= (weighted ? cw[y[i]] : 1) * t * (x.logits[i * x.K + j] - mx - log(s));
    }
  }
  CHECK(fabs(loss - ref) < 1e-9 * fabs(ref), "xent loss %.9g vs %.9g", loss, ref);
  probe p = {.forward = xent_fwd, .ctx = &x, .scalar = &x.loss};
  char name[64];
  snprintf(name, sizeof name, "softmax xent (s %.1f%s) d logits", smoothing,
           weighted ? ", weighted" : "");
  fd_check(name, x.logits, nl, d, &p, 1e-3f, 2e-3, 100, 0);
  free(x.logits), free(x.probs), free(d);
}

/* ---- the whole net ---------------------------------------------------------------------- */

typedef struct {
  vt_convnet *net;
  vt_convnet_work *w;
  const float *x, *mask;
  const int *y;
  int n;
  vt_convnet_loss loss;
  double value;
} net_ctx;

static void net_fwd(void *p) {
  net_ctx *c = p;
  c->value = vt_convnet_train_step(c->net, c->w, c->x, c->y, c->n, c->mask, &c->loss, NULL);
}

static void test_net(const char *convs, int in_pool, int conv_bias, int threads) {
  vt_convnet_config cfg;
  CHECK(vt_convnet_config_default(&cfg, 12, 10, 5, 3) == 0);
  cfg.in_pool = in_pool;
  cfg.conv_bias = conv_bias;
  CHECK(vt_convnet_parse_convs(&cfg, convs) == 0, "%s", vt_failure_reason());
  cfg.grid = 2;
  vt_convnet net;
  if (vt_convnet_init(&net, &cfg) < 0) {
    CHECK(0, "init %s: %s", convs, vt_failure_reason());
    return;
  }
  vt_rng r;
  vt_rng_seed(&r, 3, 0);
  vt_convnet_init_weights(&net, &r);
  for (int l = 0; l < cfg.n_convs; l++) /* gamma and beta off their initial 1 and 0 */
    for (int j = 0; j < cfg.width[l]; j++) {
      net.p.bn_gamma[l][j] = 0.5f + vt_rng_uniform(&r);
      net.p.bn_beta[l][j] = vt_rng_uniform(&r) - 0.5f;
    }
  int n = 11; /* two shards, the second partial */
  vt_team *team = vt_team_start(threads);
  vt_convnet_work w;
  CHECK(vt_convnet_work_init(&w, &net, n, team) == 0);
  size_t nx = (size_t)n * cfg.in_h * cfg.in_w * cfg.in_c;
  float *x = rand_buf(nx, 0, 2), *mask = vt_xmalloc((size_t)n * net.feat * sizeof(float));
  for (size_t i = 0; i < (size_t)n * net.feat; i++)
    mask[i] = vt_rng_uniform(&r) < 0.25f ? 0.0f : 1.0f / 0.75f;
  int y[11];
  for (int i = 0; i < n; i++) y[i] = (int)vt_rng_below(&r, 3);
  float cw[3] = {1.0f, 2.0f, 0.5f};
  net_ctx c = {&net, &w, x, mask, y, n, {0.1f, cw}, 0};
  net_fwd(&c);
  float *grad = vt_xmalloc(net.n_params * sizeof(float));
  memcpy(grad, w.grad, net.n_params * sizeof(float));
  probe p = {.forward = net_fwd, .ctx = &c, .scalar = &c.value};
  char name[96];
  snprintf(name, sizeof name, "net %s%s%s, %d thread%s", convs, in_pool ? " pool" : "",
           conv_bias ? " bias" : "", threads, threads > 1 ? "s" : "");
  /* a small step, so that few differences straddle a kink (a max pool's
   * choice or a ReLU switching), and so a larger tolerance for the float
   * pipeline's rounding */
  fd_check(name, net.params, net.n_params, grad, &p, 1e-4f, 5e-3, 300, 1);
  vt_convnet_work_free(&w);
  vt_team_stop(team);
  vt_convnet_free(&net);
  free(x), free(mask), free(grad);
}

int main(void) {
  vt_rng_seed(&rng, 1234, 0);
  test_conv3x3(2, 5, 6, 3, 4);
  test_conv3x3(3, 9, 8, 32, 40);
  test_conv3x3(1, 4, 4, 17, 16);
  test_conv1x1();
  test_batchnorm(0);
  test_batchnorm(1);
  test_simple("avgpool2 (odd 5x7)", AVGPOOL, 5, 7, 0);
  test_simple("maxpool2 (odd 5x7)", MAXPOOL, 5, 7, 0);
  test_simple("adaptive maxpool 7x5 -> 3", ADAPTIVE, 7, 5, 3);
  test_simple("adaptive maxpool 8x8 -> 4", ADAPTIVE, 8, 8, 4);
  test_simple("dropout", DROPOUT, 4, 5, 0);
  test_adaptive_cells();
  test_xent(0.0f, 0);
  test_xent(0.1f, 1);
  test_net("3,4", 0, 0, 1);
  test_net("3,4", 1, 1, 2);
  test_net("1x1:3,4", 0, 0, 2);
  test_net("4,3,4", 0, 0, 1);
  /* last, so that the kink counts above see the draws they were tuned on:
   * 25 tiles, a whole block of 16 in the kernel gradient's transposed copy */
  test_conv3x3(1, 17, 18, 5, 20);
  printf("%s\n", failures ? "FAILED" : "all gradient checks passed");
  return failures != 0;
}
