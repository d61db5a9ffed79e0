/* report.h: the end-of-training report (printed and
 * written to a directory: metrics.json, per_class.csv, confusion.csv,
 * confusion.txt, confusion.png, curves.png). */
#ifndef VT_REPORT_H
#define VT_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "metrics.h"

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
  json_t *extra;                /* more members for metrics.json (an object), or NULL */
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
