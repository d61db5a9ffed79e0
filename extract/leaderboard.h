/* leaderboard.h: heads compared (vggtap-info --table, a sweep's result):
 * ranked by a chosen metric, the best marked, as a terminal table narrow
 * enough for 120 columns (short head names), a CSV, and a self-contained
 * page linking each head's report.html. Every row says which rows its
 * scores come from, and the ranking says which rows chose the winner: the
 * validation rows when every head has them, so that the scores shown
 * (test split or --eval) chose nothing. */
#ifndef VT_LEADERBOARD_H
#define VT_LEADERBOARD_H

#include <stdio.h>

/* One head, as vggtap-info reads it (its file and its report's metrics.json). */
typedef struct {
  const char *path;                   /* the head file */
  const char *tap, *pooling, *hidden; /* hidden: "" for softmax regression */
  long long features, params;
  /* on the scored rows (NaN: no report) */
  double accuracy, balanced_accuracy, macro_f1, train_seconds;
  const char *scored_on; /* metrics.json's eval: "test split", "validation split", a store... */
  long long n_scored;
  /* on the validation rows (NaN: none) */
  double val_accuracy, val_balanced_accuracy, val_macro_f1;
  long long n_val;
} vt_board_row;

typedef enum { VT_BOARD_ACCURACY, VT_BOARD_BALANCED_ACCURACY, VT_BOARD_MACRO_F1 } vt_board_metric;

/* "accuracy", "balanced_accuracy", "macro_f1"; -1 for anything else. */
int vt_board_metric_parse(const char *name, vt_board_metric *out);
const char *vt_board_metric_name(vt_board_metric m);

typedef struct {
  int n;
  vt_board_row *rows; /* ranked: best first */
  char **names;       /* [n] short names: b2/max4/softmax */
  vt_board_metric metric;
  int on_validation;  /* ranked on the validation rows' metric (every head has them) */
  const char *html_path; /* where the page goes, for its relative links (vt_board_html) */
} vt_board;

/* Ranks rows (reordered in place; the board points into them) by the
 * validation value of metric when every head has one, else by the scored
 * value; the best is rows[0] when it has a score. Names: each path less
 * root/ (NULL or a path not under it: less the directory all share) and a
 * trailing /head.h5 or .h5, blockN_pool as bN. */
void vt_board_rank(vt_board *b, vt_board_row *rows, int n, vt_board_metric metric, const char *root);
void vt_board_free(vt_board *b);

/* The ranked table with the best marked '*', and a note on which rows
 * chose the best and which the scores come from. */
void vt_board_print(FILE *f, const vt_board *b);
/* The same as CSV, for vt_write_file_atomic (ctx: the board). */
int vt_board_csv(FILE *f, const void *board);
/* The page (ctx: the board, html_path set). 0 or -1 + reason. */
int vt_board_html(FILE *f, const void *board);
/* One line for one head, for a sweep's progress: its scores and where
 * they come from. */
void vt_board_brief(FILE *f, const vt_board_row *r);

#endif
