/* Gradients of every head against central finite differences of a
 * double-precision reference loss written independently here, with and
 * without hidden layers, dropout, label smoothing and class weights. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "vt_head.h"

/* The loss of the head in double precision, using the dropout multipliers the
 * float pass drew (keep may be NULL: no dropout). */
static double ref_loss(const vt_head *h, const double *params, const float *x, const int *y,
                       int n, const vt_loss_config *c, float *const *keep) {
  int L = h->n_layers, k = h->dims[L];
  double loss = 0;
  double *a = malloc(sizeof(double) * 1024), *z = malloc(sizeof(double) * 1024);
  for (int i = 0; i < n; i++) {
    int din = h->dims[0];
    for (int j = 0; j < din; j++) a[j] = x[(size_t)i * din + j];
    for (int l = 0; l < L; l++) {
      int dout = h->dims[l + 1];
      const double *W = params + vt_head_weight_offset(h, l), *b = params + vt_head_bias_offset(h, l);
      for (int o = 0; o < dout; o++) {
        double s = b[o];
        for (int j = 0; j < din; j++) s += a[j] * W[(size_t)j * dout + o];
        z[o] = s;
      }
      if (l + 1 < L)
        for (int o = 0; o < dout; o++) {
          z[o] = z[o] > 0 ? z[o] : 0;
          if (keep) z[o] *= keep[l + 1][(size_t)i * dout + o];
        }
      memcpy(a, z, sizeof(double) * dout);
      din = dout;
    }
    double mx = a[0], sum = 0;
    for (int j = 1; j < k; j++) mx = a[j] > mx ? a[j] : mx;
    for (int j = 0; j < k; j++) sum += exp(a[j] - mx);
    double ce = 0, s = c->label_smoothing;
    for (int j = 0; j < k; j++) {
      double t = (j == y[i] ? 1 - s : 0) + s / k;
      ce -= t * (a[j] - mx - log(sum));
    }
    loss += (c->class_weight ? c->class_weight[y[i]] : 1.0) * ce;
  }
  free(a);
  free(z);
  return loss / n;
}

static int check(const char *name, int n_hidden, const int *hidden, float smoothing,
                 int weighted, float dropout) {
  const int D = 7, K = 4, N = 9;
  vt_head h;
  vt_head_work w;
  vt_rng r;
  vt_rng_seed(&r, 42, 0);
  if (vt_head_init(&h, D, n_hidden, hidden, K) < 0 || vt_head_work_init(&w, &h, N) < 0) {
    printf("%s: init: %s\n", name, vt_failure_reason());
    return 1;
  }
  for (size_t i = 0; i < h.n_params; i++) h.params[i] = 0.8f * (2 * vt_rng_uniform(&r) - 1);
  float x[9 * 7];
  int y[9];
  for (int i = 0; i < N * D; i++) x[i] = 2 * vt_rng_uniform(&r) - 1;
  for (int i = 0; i < N; i++) y[i] = (int)vt_rng_below(&r, K);
  float cw[4] = {1.0f, 2.5f, 0.5f, 1.2f};
  vt_loss_config c = {smoothing, weighted ? cw : NULL, dropout};
  vt_rng dr;
  vt_rng_seed(&dr, 7, 1);
  double loss = vt_head_loss_grad(&h, &w, x, y, N, &c, dropout > 0 ? &dr : NULL);

  double *p = malloc(sizeof(double) * h.n_params);
  for (size_t i = 0; i < h.n_params; i++) p[i] = h.params[i];
  float *const *keep = dropout > 0 ? w.keep : NULL;
  double ref = ref_loss(&h, p, x, y, N, &c, keep);
  int bad = 0;
  if (fabs(loss - ref) > 1e-5 * fabs(ref) + 1e-6) {
    printf("%s: loss %.9g, reference %.9g\n", name, loss, ref);
    bad++;
  }
  double eps = 1e-5, worst = 0;
  for (size_t i = 0; i < h.n_params; i++) {
    double save = p[i];
    p[i] = save + eps;
    double lp = ref_loss(&h, p, x, y, N, &c, keep);
    p[i] = save - eps;
    double lm = ref_loss(&h, p, x, y, N, &c, keep);
    p[i] = save;
    double fd = (lp - lm) / (2 * eps), g = w.grad[i], err = fabs(g - fd);
    if (err > worst) worst = err;
    if (err > 1e-5 + 1e-3 * fabs(fd)) {
      if (bad < 5) printf("%s: param %zu: gradient %.8g, finite difference %.8g\n", name, i, g, fd);
      bad++;
    }
  }
  printf("%-34s %5zu params, loss %.6f, max |grad - fd| %.2e%s\n", name, h.n_params, loss, worst,
         bad ? "  FAIL" : "");
  free(p);
  vt_head_work_free(&w);
  vt_head_free(&h);
  return bad != 0;
}

int main(void) {
  int h1[] = {6}, h2[] = {6, 5};
  int fails = 0;
  fails += check("softmax", 0, NULL, 0.0f, 0, 0.0f);
  fails += check("softmax + smoothing + weights", 0, NULL, 0.1f, 1, 0.0f);
  fails += check("mlp 6", 1, h1, 0.0f, 0, 0.0f);
  fails += check("mlp 6,5 + smoothing + weights", 2, h2, 0.2f, 1, 0.0f);
  fails += check("mlp 6,5 + dropout 0.3", 2, h2, 0.0f, 0, 0.3f);
  fails += check("mlp 6 + all of them", 1, h1, 0.1f, 1, 0.5f);
  return fails ? 1 : 0;
}
