/* vt_lbfgs.h: limited-memory BFGS with a backtracking (Armijo) line search,
 * for the full-batch, L2-regularised head losses: on softmax regression (a
 * convex loss over strongly correlated pooled features) it converges in tens
 * to hundreds of steps where Adam or SGD crawl. Deterministic: plain loops in
 * a fixed order, dot products in double. */
#ifndef VT_LBFGS_H
#define VT_LBFGS_H

#include <stddef.h>

/* Objective: returns f(x) and writes its gradient into g [n]. */
typedef double (*vt_objective)(const float *x, float *g, void *ctx);
/* Called after every accepted step (iteration it, 1-based) with the current
 * point; returns nonzero to stop (e.g. early stopping). */
typedef int (*vt_lbfgs_monitor)(int it, double f, double step, const float *x, void *ctx);

typedef struct {
  int memory;        /* correction pairs kept (default 10) */
  int max_iter;
  double gtol;       /* stop when max |g_i| <= gtol */
  double ftol;       /* stop when (f_prev - f) <= ftol * max(1, |f|) */
} vt_lbfgs_config;

void vt_lbfgs_config_default(vt_lbfgs_config *c);

/* Minimises from x (updated in place). Returns the number of iterations
 * done, or -1 + reason if the objective is not finite at the start. *why
 * (may be NULL) names the stopping reason. */
int vt_lbfgs(vt_objective f, vt_lbfgs_monitor monitor, void *ctx, float *x, size_t n,
             const vt_lbfgs_config *c, const char **why);

#endif
