/* report.h: evaluation metrics and the end-of-training report (printed and
 * written to a directory: metrics.json, per_class.csv, confusion.csv,
 * confusion.txt, confusion.png, curves.png). */
#ifndef VT_REPORT_H
#define VT_REPORT_H

#include <stdio.h>

typedef struct {
  int n_classes, n;          /* classes, evaluated rows */
  double accuracy;           /* correct / n */
  double balanced_accuracy;  /* mean recall over classes with support > 0 */
  double macro_f1;           /* mean F1 over classes with support > 0 */
  double *precision, *recall, *f1; /* [n_classes]; 0 where undefined */
  long *support;             /* [n_classes] true rows per class */
  long *confusion;           /* [n_classes][n_classes], row = true, column = predicted */
} vt_metrics;

/* y_true, y_pred in [0, n_classes). Returns 0 or -1 + reason. */
int vt_metrics_compute(int n_classes, int n, const int *y_true, const int *y_pred, vt_metrics *m);
void vt_metrics_free(vt_metrics *m);

/* One line of the per-epoch log; NaN where a value does not exist (e.g. no
 * validation split). */
typedef struct {
  int epoch;
  double lr, train_loss, train_acc, val_loss, val_acc;
} vt_epoch_log;

typedef struct {
  const char *title;            /* e.g. "block2_pool gap softmax on val split" */
  const char *eval_name;        /* "validation split" or the --eval store path */
  const char *const *class_names; /* [n_classes] */
  const vt_metrics *metrics;
  const vt_epoch_log *epochs;   /* [n_epochs], may be NULL */
  int n_epochs;
  long head_params;             /* parameters of the trained head */
  long dense_params;            /* Flatten+Dense(4096)+Dense(4096)+Dense(K) on the same tap */
  long dense_params_with_convs; /* the same plus the tap's conv layers trained too */
  double train_seconds;
  const char *extra_json;       /* extra members for metrics.json ("\"k\": v, ..."), or NULL */
} vt_report;

/* Human-readable summary: metrics, per-class table, confusion matrix, and the
 * parameter comparison. */
void vt_report_print(FILE *f, const vt_report *r);
/* Checks, creating nothing, that vt_report_write(dir) can create dir (its
 * deepest existing part is a writable directory): run before the work
 * whose report it is. 0 or -1 + reason. */
int vt_report_check_dir(const char *dir);
/* Writes the report files into dir (created if missing). Each file is written
 * to a temporary name and renamed, so nothing is left half-written. */
int vt_report_write(const char *dir, const vt_report *r);

#endif
