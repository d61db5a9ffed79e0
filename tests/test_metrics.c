/* vt_metrics_compute on hand-computed cases (including a class nobody
 * predicted and a class with no true rows), on invariants over random labels,
 * and on bad input. scikit-learn comparisons are in test_metrics.py. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "base/vt_common.h"

#include "vt_test.h"


#define NEAR(a, b) CHECK(fabs((a) - (b)) < 1e-12)

int main(void) {
  vt_metrics m;

  /* confusion [[2,1,0],[0,1,1],[0,0,1]]: precision 1, 1/2, 1/2; recall 2/3,
   * 1/2, 1; F1 4/5, 1/2, 2/3 */
  {
    int t[] = {0, 0, 0, 1, 1, 2}, p[] = {0, 0, 1, 1, 2, 2};
    CHECK(vt_metrics_compute(3, 6, t, p, &m) == 0);
    long want[9] = {2, 1, 0, 0, 1, 1, 0, 0, 1};
    CHECK(memcmp(m.confusion, want, sizeof want) == 0);
    CHECK(m.n == 6 && m.n_classes == 3);
    CHECK(m.support[0] == 3 && m.support[1] == 2 && m.support[2] == 1);
    NEAR(m.precision[0], 1); NEAR(m.precision[1], 0.5); NEAR(m.precision[2], 0.5);
    NEAR(m.recall[0], 2.0 / 3); NEAR(m.recall[1], 0.5); NEAR(m.recall[2], 1);
    NEAR(m.f1[0], 0.8); NEAR(m.f1[1], 0.5); NEAR(m.f1[2], 2.0 / 3);
    NEAR(m.accuracy, 4.0 / 6);
    NEAR(m.balanced_accuracy, 13.0 / 18);
    NEAR(m.macro_f1, 59.0 / 90);
    vt_metrics_free(&m);
    CHECK(m.confusion == NULL);
  }
  /* class 2 has no true rows but is predicted once: all zeros, and left out
   * of the macro averages */
  {
    int t[] = {0, 0, 1, 1}, p[] = {0, 2, 1, 1};
    CHECK(vt_metrics_compute(3, 4, t, p, &m) == 0);
    CHECK(m.support[2] == 0);
    NEAR(m.precision[2], 0); NEAR(m.recall[2], 0); NEAR(m.f1[2], 0);
    NEAR(m.f1[0], 2.0 / 3); NEAR(m.f1[1], 1);
    NEAR(m.accuracy, 0.75);
    NEAR(m.balanced_accuracy, 0.75);
    NEAR(m.macro_f1, 5.0 / 6);
    vt_metrics_free(&m);
  }
  /* class 1 is never predicted: precision 0 (not NaN), F1 0, still averaged */
  {
    int t[] = {0, 1, 1}, p[] = {0, 0, 0};
    CHECK(vt_metrics_compute(2, 3, t, p, &m) == 0);
    NEAR(m.precision[1], 0); NEAR(m.recall[1], 0); NEAR(m.f1[1], 0);
    NEAR(m.precision[0], 1.0 / 3); NEAR(m.f1[0], 0.5);
    NEAR(m.accuracy, 1.0 / 3);
    NEAR(m.balanced_accuracy, 0.5);
    NEAR(m.macro_f1, 0.25);
    vt_metrics_free(&m);
  }
  /* invariants on random labels */
  srand(7);
  for (int trial = 0; trial < 200; trial++) {
    int k = 1 + rand() % 12, n = 1 + rand() % 300;
    int *t = malloc(sizeof(int) * n), *p = malloc(sizeof(int) * n);
    long correct = 0;
    for (int i = 0; i < n; i++) {
      t[i] = rand() % k;
      p[i] = rand() % 3 ? t[i] : rand() % k;
      correct += t[i] == p[i];
    }
    CHECK(vt_metrics_compute(k, n, t, p, &m) == 0);
    long total = 0, trace = 0;
    for (int i = 0; i < k; i++) {
      long row = 0;
      for (int j = 0; j < k; j++) row += m.confusion[i * k + j];
      CHECK(row == m.support[i]);
      total += row;
      trace += m.confusion[i * k + i];
      CHECK(m.f1[i] >= 0 && m.f1[i] <= 1 && m.precision[i] >= 0 && m.recall[i] <= 1);
      CHECK(m.f1[i] <= fmax(m.precision[i], m.recall[i]) + 1e-15);
    }
    CHECK(total == n && trace == correct);
    NEAR(m.accuracy, (double)correct / n);
    CHECK(m.balanced_accuracy >= 0 && m.balanced_accuracy <= 1);
    vt_metrics_free(&m);
    free(t);
    free(p);
  }
  /* bad input fails with a reason and leaves nothing to free */
  {
    int t[] = {0, 3}, p[] = {0, 1};
    CHECK(vt_metrics_compute(3, 2, t, p, &m) == -1);
    CHECK(strstr(vt_failure_reason(), "row 1") != NULL);
    CHECK(m.confusion == NULL);
    int t2[] = {0, 1}, p2[] = {-1, 1};
    CHECK(vt_metrics_compute(3, 2, t2, p2, &m) == -1);
    CHECK(vt_metrics_compute(3, 0, t2, p2, &m) == -1);
    CHECK(vt_metrics_compute(0, 2, t2, p2, &m) == -1);
    vt_metrics_free(&m);
  }
  if (failures) fprintf(stderr, "%d checks failed\n", failures);
  else printf("metrics: all checks passed\n");
  return failures ? 1 : 0;
}
