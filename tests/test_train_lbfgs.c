/* The L-BFGS minimiser on problems with known minima: the Rosenbrock valley
 * (curved, badly scaled) and an ill-conditioned quadratic (condition number
 * 1e4, like correlated pooled features); Adam-free proof that the full-batch
 * path solves what it is given. */
#include <math.h>
#include <stdio.h>

#include "vt_lbfgs.h"

static double rosenbrock(const float *x, float *g, void *ctx) {
  (void)ctx;
  double a = x[0], b = x[1];
  g[0] = (float)(-2 * (1 - a) - 400 * a * (b - a * a));
  g[1] = (float)(200 * (b - a * a));
  return (1 - a) * (1 - a) + 100 * (b - a * a) * (b - a * a);
}

enum { N = 20 };

/* f = 1/2 sum_i c_i (x_i - i/10)^2 with c_i from 1 to 1e4 */
static double quadratic(const float *x, float *g, void *ctx) {
  (void)ctx;
  double f = 0;
  for (int i = 0; i < N; i++) {
    double c = pow(1e4, (double)i / (N - 1)), d = x[i] - i / 10.0;
    f += 0.5 * c * d * d;
    g[i] = (float)(c * d);
  }
  return f;
}

static int iterations_seen;
static int count(int it, double f, double step, const float *x, void *ctx) {
  (void)f, (void)step, (void)x, (void)ctx;
  iterations_seen = it;
  return 0;
}

int main(void) {
  int fails = 0;
  vt_lbfgs_config c;
  vt_lbfgs_config_default(&c);
  c.max_iter = 1000;
  float x[N] = {-1.2f, 1.0f};
  const char *why;
  int it = vt_lbfgs(rosenbrock, count, NULL, x, 2, &c, &why);
  int ok = it > 0 && it == iterations_seen && fabsf(x[0] - 1) < 2e-3f && fabsf(x[1] - 1) < 4e-3f;
  printf("rosenbrock: %d iterations (%s), x = (%.5f, %.5f)%s\n", it, why, x[0], x[1], ok ? "" : "  FAIL");
  fails += !ok;

  for (int i = 0; i < N; i++) x[i] = 0;
  it = vt_lbfgs(quadratic, NULL, NULL, x, N, &c, &why);
  double err = 0;
  for (int i = 0; i < N; i++) { /* not fmax(): Debian's aarch64 gcc 12.2 crashes vectorising that */
    double e = fabs(x[i] - i / 10.0);
    if (!(e <= err)) err = e; /* a NaN makes err NaN: not ok below */
  }
  ok = it > 0 && it < c.max_iter && err < 1e-3;
  printf("quadratic, condition 1e4: %d iterations (%s), max error %.2e%s\n", it, why, err, ok ? "" : "  FAIL");
  fails += !ok;
  return fails ? 1 : 0;
}
