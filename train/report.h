/* report.h: the end-of-training report (printed and
 * written to a directory: metrics.json, per_class.csv, confusion.csv,
 * confusion.txt, confusion.png, curves.png, and report.html, the page of
 * report_html.h). */
#ifndef VT_REPORT_H
#define VT_REPORT_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "metrics.h"

/* One line of the per-epoch log; NaN where a value does not exist (e.g. no
 * validation split). */
typedef struct {
  int epoch;
  double lr, train_loss, train_acc, val_loss, val_acc;
} vt_epoch_log;

/* Which rows the reported scores come from (docs/TRAIN.md, "Honest scores"). */
typedef enum {
  VT_SCORED_UNSAID, /* not said (a report made outside vggtap-train) */
  VT_SCORED_EVAL,  /* another store (--eval) */
  VT_SCORED_TEST,  /* the test split */
  VT_SCORED_VAL,   /* the validation split */
  VT_SCORED_TRAIN, /* the training rows: nothing was held out */
} vt_scored_set;

/* A scored row the head got wrong, for the report page's gallery. */
typedef struct {
  const char *image;    /* the photo on disk, as the store row names it under its data root */
  int true_class, pred_class;
  double prob, prob_true; /* the head's probability of pred_class, and of true_class */
} vt_report_example;

typedef struct {
  const char *title;            /* e.g. "block2_pool gap softmax on val split" */
  const char *eval_name;        /* "test split", "validation split" or the --eval store path */
  const char *const *class_names; /* [n_classes] */
  const vt_metrics *metrics;
  const vt_epoch_log *epochs;   /* [n_epochs], may be NULL */
  int n_epochs;
  long head_params;             /* parameters of the trained head */
  long dense_params;            /* Flatten+Dense(4096)+Dense(4096)+Dense(K) on the same tap */
  long dense_params_with_convs; /* the same plus the tap's conv layers trained too */
  double train_seconds;
  json_t *extra;                /* more members for metrics.json (an object), or NULL */
  const char *settings;         /* the training settings, "key=value" lines (the page shows them); NULL */
  /* where each number comes from */
  vt_scored_set scored;
  int n_train, n_val;           /* the rows the head was fit on, and validated on */
  const char *val_chose;        /* what the validation rows chose ("the kept epoch"); NULL: nothing */
  const char *test_note;        /* how the test rows were drawn, or why there are none; NULL: not said */
  const vt_metrics *val_metrics; /* the kept weights on the validation rows; NULL if there are none */
  int kept_epoch;               /* the epoch whose weights the head holds; 0: not known */
  /* the scored rows the head got most confidently wrong, surest first */
  const vt_report_example *wrong;
  int n_wrong;
} vt_report;

/* 1 if the scored rows chose nothing: not the validation rows when they
 * chose something, not the training rows. */
int vt_report_held_out(const vt_report *r);
/* One sentence saying which rows the scores come from and what they chose
 * (terminal, metrics.json's score_note, report.html). */
void vt_report_score_note(const vt_report *r, char *buf, size_t size);
/* The head's parameter count beside the dense head it replaces, one line
 * (nothing when the count is not known). */
void vt_report_print_params(FILE *f, const vt_report *r);
/* The learning curves (curves.png): loss and accuracy per epoch, the kept
 * epoch marked. 0 or -1 + reason. */
int vt_report_curves_png(FILE *f, const vt_report *r);

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
