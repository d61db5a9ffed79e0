/* vt_metrics_cli: runs vt_metrics_compute (and optionally vt_report_write) on
 * labels read from stdin, so tests can compare against scikit-learn.
 *
 *   vt_metrics_cli [--report DIR] [--names a,b,c] < input
 *
 * input:  "K N E", then N lines "true pred", then E lines
 *         "epoch lr train_loss train_acc val_loss val_acc" ("nan" allowed).
 * output: "accuracy x", "balanced_accuracy x", "macro_f1 x", one line
 *         "class c precision recall f1 support" per class, one line
 *         "confusion c counts..." per row; all doubles with %.17g. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "base/vt_common.h"

int main(int argc, char **argv) {
  const char *dir = NULL;
  char *names_arg = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--report") && i + 1 < argc) dir = argv[++i];
    else if (!strcmp(argv[i], "--names") && i + 1 < argc) names_arg = argv[++i];
    else {
      fprintf(stderr, "usage: vt_metrics_cli [--report DIR] [--names a,b,c] < input\n");
      return 2;
    }
  }
  int k, n, e;
  if (scanf("%d %d %d", &k, &n, &e) != 3 || k <= 0 || k > 10000 || n < 0 || e < 0) {
    fprintf(stderr, "vt_metrics_cli: bad header\n");
    return 2;
  }
  int *yt = vt_xmalloc((size_t)(n ? n : 1) * sizeof(int)), *yp = vt_xmalloc((size_t)(n ? n : 1) * sizeof(int));
  for (int i = 0; i < n; i++)
    if (scanf("%d %d", &yt[i], &yp[i]) != 2) {
      fprintf(stderr, "vt_metrics_cli: bad label line %d\n", i + 1);
      return 2;
    }
  vt_epoch_log *log = vt_xcalloc((size_t)(e ? e : 1), sizeof *log);
  for (int i = 0; i < e; i++) {
    char f[5][64];
    vt_epoch_log *l = &log[i];
    if (scanf("%d %63s %63s %63s %63s %63s", &l->epoch, f[0], f[1], f[2], f[3], f[4]) != 6) {
      fprintf(stderr, "vt_metrics_cli: bad epoch line %d\n", i + 1);
      return 2;
    }
    l->lr = strtod(f[0], NULL), l->train_loss = strtod(f[1], NULL), l->train_acc = strtod(f[2], NULL);
    l->val_loss = strtod(f[3], NULL), l->val_acc = strtod(f[4], NULL);
  }
  vt_metrics m;
  if (vt_metrics_compute(k, n, yt, yp, &m) < 0) {
    fprintf(stderr, "vt_metrics_cli: %s\n", vt_failure_reason());
    return 1;
  }
  printf("accuracy %.17g\nbalanced_accuracy %.17g\nmacro_f1 %.17g\n", m.accuracy,
         m.balanced_accuracy, m.macro_f1);
  for (int c = 0; c < k; c++)
    printf("class %d %.17g %.17g %.17g %ld\n", c, m.precision[c], m.recall[c], m.f1[c], m.support[c]);
  for (int i = 0; i < k; i++) {
    printf("confusion %d", i);
    for (int j = 0; j < k; j++) printf(" %ld", m.confusion[(size_t)i * k + j]);
    printf("\n");
  }
  int rc = 0;
  if (dir) {
    char **names = vt_xcalloc((size_t)k, sizeof *names);
    if (names_arg && vt_split_commas(names_arg, names, k) != k) {
      fprintf(stderr, "vt_metrics_cli: --names needs %d names\n", k);
      return 2;
    }
    vt_report r = {.title = "vt_metrics_cli report",
                   .eval_name = "stdin",
                   .class_names = names_arg ? (const char *const *)names : NULL,
                   .metrics = &m,
                   .epochs = log,
                   .n_epochs = e,
                   .head_params = 65L * k,
                   .dense_params = 802816L * 4096 + 4096 + 4096L * 4096 + 4096 + 4096L * k + k,
                   .dense_params_with_convs = 802816L * 4096 + 4096 + 4096L * 4096 + 4096 + 4096L * k + k + 38720,
                   .train_seconds = 1.5,
                   .extra = json_pack("{s:s}", "tool", "vt_metrics_cli")};
    vt_report_print(stderr, &r);
    int written = vt_report_write(dir, &r);
    json_decref(r.extra);
    if (written < 0) {
      fprintf(stderr, "vt_metrics_cli: %s\n", vt_failure_reason());
      rc = 1;
    }
    free(names);
  }
  vt_metrics_free(&m);
  free(yt);
  free(yp);
  free(log);
  return rc;
}
