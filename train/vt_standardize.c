#include "vt_standardize.h"

#include <math.h>
#include <stdlib.h>

#include "base/vt_common.h"

void vt_standardize_fit(const float *x, int n, int dim, float *mean, float *std) {
  double *s = vt_xcalloc((size_t)dim, sizeof(double)), *ss = vt_xcalloc((size_t)dim, sizeof(double));
  for (int i = 0; i < n; i++)
    for (int j = 0; j < dim; j++) s[j] += x[(size_t)i * dim + j];
  for (int j = 0; j < dim; j++) s[j] /= n > 0 ? n : 1;
  /* two passes: the one-pass formula loses everything to cancellation when
   * the mean is large against the spread */
  for (int i = 0; i < n; i++)
    for (int j = 0; j < dim; j++) {
      double d = x[(size_t)i * dim + j] - s[j];
      ss[j] += d * d;
    }
  for (int j = 0; j < dim; j++) {
    double sd = sqrt(ss[j] / (n > 0 ? n : 1));
    mean[j] = (float)s[j];
    std[j] = sd > 1e-6 * (1.0 + fabs(s[j])) ? (float)sd : 1.0f;
  }
  free(s);
  free(ss);
}

void vt_standardize_apply(float *x, int n, int dim, const float *mean, const float *std) {
  for (int i = 0; i < n; i++) {
    float *row = x + (size_t)i * dim;
    for (int j = 0; j < dim; j++) row[j] = (row[j] - mean[j]) / std[j];
  }
}
