#include "vt_lbfgs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"

void vt_lbfgs_config_default(vt_lbfgs_config *c) {
  c->memory = 10;
  c->max_iter = 500;
  c->gtol = 1e-5;
  c->ftol = 1e-9;
}

static double dot(const float *a, const float *b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
  return s;
}

static double max_abs(const float *a, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) m = fabs(a[i]) > m ? fabs(a[i]) : m;
  return m;
}

int vt_lbfgs(vt_objective f, vt_lbfgs_monitor monitor, void *ctx, float *x, size_t n,
             const vt_lbfgs_config *c, const char **why) {
  int m = c->memory;
  float *g = vt_xmalloc(n * sizeof(float)), *gn = vt_xmalloc(n * sizeof(float));
  float *d = vt_xmalloc(n * sizeof(float)), *xn = vt_xmalloc(n * sizeof(float));
  float *S = vt_xmalloc((size_t)m * n * sizeof(float)), *Y = vt_xmalloc((size_t)m * n * sizeof(float));
  double *rho = vt_xmalloc((size_t)m * sizeof(double)), *alpha = vt_xmalloc((size_t)m * sizeof(double));
  int stored = 0, head = 0, it = 0;
  const char *reason = "iteration limit";
  double fx = f(x, g, ctx);
  if (!isfinite(fx)) {
    it = vt_fail("the loss is not finite at the start (%g)", fx);
    reason = "error";
    goto done;
  }
  while (it < c->max_iter) {
    if (max_abs(g, n) <= c->gtol) {
      reason = "gradient below tolerance";
      break;
    }
    /* d = -H g by the two-loop recursion, newest pair first */
    for (size_t i = 0; i < n; i++) d[i] = -g[i];
    for (int k = 0; k < stored; k++) {
      int j = (head - 1 - k + m) % m;
      alpha[j] = rho[j] * dot(S + (size_t)j * n, d, n);
      const float *yj = Y + (size_t)j * n;
      for (size_t i = 0; i < n; i++) d[i] -= (float)alpha[j] * yj[i];
    }
    if (stored) {
      int j = (head - 1 + m) % m;
      const float *yj = Y + (size_t)j * n;
      double gamma = 1.0 / (rho[j] * dot(yj, yj, n));
      for (size_t i = 0; i < n; i++) d[i] *= (float)gamma;
    }
    for (int k = stored - 1; k >= 0; k--) {
      int j = (head - 1 - k + m) % m;
      double beta = rho[j] * dot(Y + (size_t)j * n, d, n);
      const float *sj = S + (size_t)j * n;
      for (size_t i = 0; i < n; i++) d[i] += (float)(alpha[j] - beta) * sj[i];
    }
    double gd = dot(g, d, n);
    if (!(gd < 0)) { /* not a descent direction: restart from steepest descent */
      stored = 0;
      for (size_t i = 0; i < n; i++) d[i] = -g[i];
      gd = dot(g, d, n);
    }
    /* first step: scale so the move is modest; later steps try the full step */
    double t = stored ? 1.0 : fmin(1.0, 1.0 / sqrt(-gd)), fn = 0;
    int accepted = 0;
    for (int tries = 0; tries < 40; tries++, t *= 0.5) {
      for (size_t i = 0; i < n; i++) xn[i] = x[i] + (float)t * d[i];
      fn = f(xn, gn, ctx);
      if (isfinite(fn) && fn <= fx + 1e-4 * t * gd) {
        accepted = 1;
        break;
      }
    }
    if (!accepted) {
      reason = "line search found no decrease (converged to float precision)";
      break;
    }
    it++;
    int j = head;
    float *sj = S + (size_t)j * n, *yj = Y + (size_t)j * n;
    for (size_t i = 0; i < n; i++) {
      sj[i] = xn[i] - x[i];
      yj[i] = gn[i] - g[i];
    }
    double sy = dot(sj, yj, n);
    if (sy > 1e-12 * dot(yj, yj, n) && sy > 0) { /* keep only pairs with positive curvature */
      rho[j] = 1.0 / sy;
      head = (head + 1) % m;
      if (stored < m) stored++;
    }
    double fprev = fx;
    memcpy(x, xn, n * sizeof(float));
    memcpy(g, gn, n * sizeof(float));
    fx = fn;
    if (monitor && monitor(it, fx, t, x, ctx)) {
      reason = "stopped by the monitor";
      break;
    }
    if (fprev - fx <= c->ftol * fmax(1.0, fabs(fx))) {
      reason = "loss change below tolerance";
      break;
    }
  }
done:
  if (why) *why = reason;
  free(g);
  free(gn);
  free(d);
  free(xn);
  free(S);
  free(Y);
  free(rho);
  free(alpha);
  return it;
}
