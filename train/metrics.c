/* metrics.c: classification metrics from true/predicted labels. Conventions
 * follow scikit-learn with zero_division=0: a class nobody predicted has
 * precision 0, a class with no true rows has recall 0, and the macro averages
 * (balanced accuracy, macro-F1) skip classes with no true rows. */
#include "metrics.h"

#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"

int vt_metrics_compute(int n_classes, int n, const int *y_true, const int *y_pred, vt_metrics *m) {
  memset(m, 0, sizeof *m);
  if (n_classes <= 0) return vt_fail("metrics: %d classes", n_classes);
  if (n <= 0) return vt_fail("metrics: no rows to evaluate");
  size_t k = (size_t)n_classes, kk;
  if (vt_size_mul(k, k, &kk) < 0) return -1;
  for (int i = 0; i < n; i++) {
    if (y_true[i] < 0 || y_true[i] >= n_classes || y_pred[i] < 0 || y_pred[i] >= n_classes)
      return vt_fail("metrics: row %d has label %d / prediction %d outside [0, %d)", i, y_true[i],
                     y_pred[i], n_classes);
  }
  m->n_classes = n_classes;
  m->n = n;
  m->precision = vt_xcalloc(k, sizeof(double));
  m->recall = vt_xcalloc(k, sizeof(double));
  m->f1 = vt_xcalloc(k, sizeof(double));
  m->support = vt_xcalloc(k, sizeof(long));
  m->confusion = vt_xcalloc(kk, sizeof(long));
  for (int i = 0; i < n; i++) m->confusion[(size_t)y_true[i] * k + (size_t)y_pred[i]]++;

  long correct = 0;
  int present = 0;
  double recall_sum = 0, f1_sum = 0;
  for (size_t c = 0; c < k; c++) {
    long tp = m->confusion[c * k + c], support = 0, predicted = 0;
    for (size_t j = 0; j < k; j++) {
      support += m->confusion[c * k + j];
      predicted += m->confusion[j * k + c];
    }
    correct += tp;
    m->support[c] = support;
    double p = predicted ? (double)tp / (double)predicted : 0.0;
    double r = support ? (double)tp / (double)support : 0.0;
    m->precision[c] = p;
    m->recall[c] = r;
    m->f1[c] = p + r > 0 ? 2 * p * r / (p + r) : 0.0;
    if (support) {
      present++;
      recall_sum += r;
      f1_sum += m->f1[c];
    }
  }
  m->accuracy = (double)correct / (double)n;
  m->balanced_accuracy = recall_sum / present; /* present >= 1 because n >= 1 */
  m->macro_f1 = f1_sum / present;
  return 0;
}

void vt_metrics_free(vt_metrics *m) {
  free(m->precision);
  free(m->recall);
  free(m->f1);
  free(m->support);
  free(m->confusion);
  memset(m, 0, sizeof *m);
}
