/* report.c: the end-of-training report, printed for a person and written as
 * files for tools (JSON, CSV) and for eyes (text table, PNG plots). */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/vt_cli.h"
#include "base/vt_common.h"
#include "plot/vt_png_plot.h"
#include "base/vt_text.h"
#include "report_html.h"

/* ---- formatting helpers ---- */

/* 3305185296 -> "3,305,185,296" */
static const char *with_commas(long v, char buf[32]) {
  char digits[24];
  snprintf(digits, sizeof digits, "%lu", v < 0 ? 0UL - (unsigned long)v : (unsigned long)v);
  int n = (int)strlen(digits), o = 0;
  if (v < 0) buf[o++] = '-';
  for (int i = 0; i < n; i++) {
    if (i > 0 && (n - i) % 3 == 0) buf[o++] = ',';
    buf[o++] = digits[i];
  }
  buf[o] = '\0';
  return buf;
}

static const char *class_name(const vt_report *r, int i, char buf[32]) {
  if (r->class_names && r->class_names[i]) return r->class_names[i];
  snprintf(buf, 32, "class %d", i);
  return buf;
}

/* How many times fewer parameters the head has than what it replaces, one
 * way at every size: whole numbers with thousands separators ("4,789 times
 * fewer", "3,205,123 times fewer"), one decimal below 10 ("2.5 times
 * fewer"), and "times more" for a head larger than that. */
static void ratio_phrase(double ratio, char *buf, size_t size) {
  char num[32];
  const char *word = ratio >= 1 ? "fewer" : "more";
  double r = ratio >= 1 ? ratio : 1 / ratio;
  if (r >= 10) snprintf(buf, size, "%s times %s", with_commas(lround(r), num), word);
  else snprintf(buf, size, "%.1f times %s", r, word);
}

/* ---- which rows each number comes from ---- */

int vt_report_held_out(const vt_report *r) {
  return r->scored == VT_SCORED_EVAL || r->scored == VT_SCORED_TEST ||
         (r->scored == VT_SCORED_VAL && !r->val_chose);
}

void vt_report_score_note(const vt_report *r, char *buf, size_t size) {
  int n = r->metrics->n;
  const char *tn = r->test_note ? r->test_note : "none";
  switch (r->scored) {
  case VT_SCORED_UNSAID:
    snprintf(buf, size, "%d rows of %s", n, r->eval_name ? r->eval_name : "?");
    break;
  case VT_SCORED_EVAL:
    snprintf(buf, size, "the %d rows of %s, another store, which chose nothing", n, r->eval_name);
    break;
  case VT_SCORED_TEST:
    snprintf(buf, size, "the test split's %d rows (%s), which chose nothing", n, tn);
    break;
  case VT_SCORED_VAL:
    if (r->val_chose)
      snprintf(buf, size, "the validation split's %d rows, the same rows that chose %s: an "
               "optimistic score (test rows: %s)", n, r->val_chose, tn);
    else
      snprintf(buf, size, "the validation split's %d rows, which chose nothing in this training "
               "(test rows: %s); a sweep that ranks heads on them makes the best one's score "
               "optimistic", n, tn);
    break;
  case VT_SCORED_TRAIN:
    snprintf(buf, size, "the %d training rows the head was fit to: nothing was held out, so the "
             "score says little about new photos", n);
    break;
  }
}

/* The validation rows' own line, when they are not the scored rows. */
static void print_validation(FILE *f, const vt_report *r) {
  const vt_metrics *v = r->val_metrics;
  if (!v || r->scored == VT_SCORED_VAL) return;
  char kept[32] = "";
  if (r->val_chose && r->kept_epoch > 0) snprintf(kept, sizeof kept, " (epoch %d)", r->kept_epoch);
  fprintf(f, "  validation split: %d rows, chose %s%s: accuracy %.4f, macro-F1 %.4f\n", v->n,
          r->val_chose ? r->val_chose : "nothing", kept, v->accuracy, v->macro_f1);
}

/* ---- terminal summary ---- */

/* Confusion matrix as an aligned table with class indices, then a legend
 * wrapped at about 78 columns. Shared by the summary and confusion.txt. */
static void print_confusion(FILE *f, const vt_report *r) {
  const vt_metrics *m = r->metrics;
  int k = m->n_classes, width = 4;
  char num[32], name[32];
  for (size_t i = 0; i < (size_t)k * (size_t)k; i++) {
    int w = (int)strlen(with_commas(m->confusion[i], num));
    if (w > width) width = w;
  }
  snprintf(num, sizeof num, "%d", k - 1);
  if ((int)strlen(num) > width) width = (int)strlen(num);
  fprintf(f, "confusion matrix (rows: true class, columns: predicted class)\n");
  fprintf(f, "%9s", "true\\pred");
  for (int j = 0; j < k; j++) fprintf(f, " %*d", width, j);
  fprintf(f, "\n");
  for (int i = 0; i < k; i++) {
    fprintf(f, "%9d", i);
    for (int j = 0; j < k; j++)
      fprintf(f, " %*s", width, with_commas(m->confusion[(size_t)i * k + j], num));
    fprintf(f, "\n");
  }
  int col = fprintf(f, "classes:");
  for (int i = 0; i < k; i++) {
    char item[300];
    int len = snprintf(item, sizeof item, " %d = %s%s", i, class_name(r, i, name), i + 1 < k ? "," : "");
    if (col + len > 78 && col > 8) {
      fprintf(f, "\n       ");
      col = 7;
    }
    col += fprintf(f, "%s", item);
  }
  fprintf(f, "\n");
}

static void print_params(FILE *f, const vt_report *r) {
  char a[32], b[32], c[32], ratio[64];
  if (r->head_params <= 0) return;
  fprintf(f, "head: %s parameters", with_commas(r->head_params, a));
  if (r->dense_params > 0) {
    ratio_phrase((double)r->dense_params / (double)r->head_params, ratio, sizeof ratio);
    fprintf(f, "; replaces Flatten+Dense(4096)+Dense(4096)+Dense(%d) = %s", r->metrics->n_classes,
            with_commas(r->dense_params, b));
    if (r->dense_params_with_convs > r->dense_params)
      fprintf(f, " (%s with the tap's convs trained)", with_commas(r->dense_params_with_convs, c));
    fprintf(f, ": %s", ratio);
  }
  fprintf(f, "\n");
}

void vt_report_print_params(FILE *f, const vt_report *r) {
  print_params(f, r);
}

void vt_report_print(FILE *f, const vt_report *r) {
  const vt_metrics *m = r->metrics;
  char num[32], name[32];
  fprintf(f, "== %s ==\n", r->title ? r->title : "evaluation");
  char note[1024];
  vt_report_score_note(r, note, sizeof note);
  fprintf(f, "scored on: %s (%s rows, %d classes)\n  %s\n", r->eval_name ? r->eval_name : "?",
          with_commas(m->n, num), m->n_classes, note);
  print_validation(f, r);
  fprintf(f, "accuracy %.4f   balanced accuracy %.4f   macro-F1 %.4f\n\n", m->accuracy,
          m->balanced_accuracy, m->macro_f1);

  int sw = 7;
  for (int c = 0; c < m->n_classes; c++) {
    int w = (int)strlen(with_commas(m->support[c], num));
    if (w > sw) sw = w;
  }
  fprintf(f, "class  precision  recall      F1  %*s  name\n", sw, "support");
  for (int c = 0; c < m->n_classes; c++)
    fprintf(f, "%5d  %9.4f  %6.4f  %6.4f  %*s  %s\n", c, m->precision[c], m->recall[c], m->f1[c],
            sw, with_commas(m->support[c], num), class_name(r, c, name));
  fprintf(f, "\n");
  print_confusion(f, r);
  fprintf(f, "\n");
  print_params(f, r);
  if (r->train_seconds > 0 || r->n_epochs > 0)
    fprintf(f, "train time: %.2f s%s", r->train_seconds, r->n_epochs > 0 ? "" : "\n");
  if (r->n_epochs > 0) fprintf(f, " (%d epochs)\n", r->n_epochs);
}

/* ---- files ---- */

/* JSON has no NaN or infinity: those become null. */
static json_t *json_number(double v) { return isfinite(v) ? json_real(v) : json_null(); }

/* metrics.json, built with libjansson: string escaping, UTF-8 and number
 * formatting are the library's (10 significant digits). */
static int write_json(FILE *f, const vt_report *r) {
  const vt_metrics *m = r->metrics;
  char name[32];
  json_t *per_class = json_array(), *confusion = json_array(), *epochs = json_array();
  for (int c = 0; c < m->n_classes; c++)
    json_array_append_new(per_class, json_pack("{s:o, s:o, s:o, s:o, s:I}", "name", vt_json_text(class_name(r, c, name)),
                                               "precision", json_number(m->precision[c]),
                                               "recall", json_number(m->recall[c]), "f1", json_number(m->f1[c]),
                                               "support", (json_int_t)m->support[c]));
  for (int i = 0; i < m->n_classes; i++) {
    json_t *row = json_array();
    for (int j = 0; j < m->n_classes; j++)
      json_array_append_new(row, json_integer(m->confusion[(size_t)i * m->n_classes + j]));
    json_array_append_new(confusion, row);
  }
  for (int e = 0; e < r->n_epochs && r->epochs; e++) {
    const vt_epoch_log *l = &r->epochs[e];
    json_array_append_new(epochs, json_pack("{s:i, s:o, s:o, s:o, s:o, s:o}", "epoch", l->epoch,
                                            "lr", json_number(l->lr), "train_loss", json_number(l->train_loss),
                                            "train_acc", json_number(l->train_acc),
                                            "val_loss", json_number(l->val_loss), "val_acc", json_number(l->val_acc)));
  }
  json_t *root = json_pack(
      "{s:o, s:o, s:i, s:i, s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:I, s:o}", "title",
      vt_json_text(r->title), "eval", vt_json_text(r->eval_name), "n", m->n,
      "n_classes", m->n_classes, "accuracy", json_number(m->accuracy), "balanced_accuracy",
      json_number(m->balanced_accuracy), "macro_f1", json_number(m->macro_f1), "per_class", per_class,
      "confusion", confusion, "head_params", (json_int_t)r->head_params, "dense_params",
      (json_int_t)r->dense_params, "dense_params_with_convs", (json_int_t)r->dense_params_with_convs,
      "train_seconds", json_number(r->train_seconds));
  char note[1024];
  vt_report_score_note(r, note, sizeof note);
  const vt_metrics *v = r->val_metrics;
  json_object_update_new(
      root, json_pack("{s:b, s:o, s:o, s:o, s:i, s:i, s:i, s:o, s:o, s:o, s:o}", "held_out", vt_report_held_out(r),
                      "score_note", vt_json_text(note), "test_rows", vt_json_text(r->test_note),
                      "val_chose", vt_json_text(r->val_chose), "n_train", r->n_train, "n_val", r->n_val,
                      "kept_epoch", r->kept_epoch, "val_accuracy", json_number(v ? v->accuracy : NAN),
                      "val_balanced_accuracy", json_number(v ? v->balanced_accuracy : NAN),
                      "val_macro_f1", json_number(v ? v->macro_f1 : NAN), "epochs", epochs));
  if (r->extra) json_object_update(root, r->extra);
  int rc = vt_json_write(f, root);
  json_decref(root);
  return rc;
}

static int write_per_class_csv(FILE *f, const vt_report *r) {
  const vt_metrics *m = r->metrics;
  char name[32];
  fprintf(f, "class,name,precision,recall,f1,support\n");
  for (int c = 0; c < m->n_classes; c++) {
    fprintf(f, "%d,", c);
    vt_csv_field(f, class_name(r, c, name));
    fprintf(f, ",%.10g,%.10g,%.10g,%ld\n", m->precision[c], m->recall[c], m->f1[c], m->support[c]);
  }
  return 0;
}

static int write_confusion_csv(FILE *f, const vt_report *r) {
  const vt_metrics *m = r->metrics;
  char name[32];
  fprintf(f, "true\\pred");
  for (int j = 0; j < m->n_classes; j++) {
    fputc(',', f);
    vt_csv_field(f, class_name(r, j, name));
  }
  fputc('\n', f);
  for (int i = 0; i < m->n_classes; i++) {
    vt_csv_field(f, class_name(r, i, name));
    for (int j = 0; j < m->n_classes; j++) fprintf(f, ",%ld", m->confusion[(size_t)i * m->n_classes + j]);
    fputc('\n', f);
  }
  return 0;
}

static int write_confusion_txt(FILE *f, const vt_report *r) {
  print_confusion(f, r);
  return 0;
}

static int write_confusion_png(FILE *f, const vt_report *r) {
  const vt_metrics *m = r->metrics;
  const char **names = vt_xmalloc((size_t)m->n_classes * sizeof *names);
  for (int c = 0; c < m->n_classes; c++)
    names[c] = r->class_names && r->class_names[c] ? r->class_names[c] : "";
  vt_heatmap hm = {.title = "Confusion matrix", .xlabel = "predicted class", .ylabel = "true class",
                   .n = m->n_classes, .counts = m->confusion, .labels = names};
  vt_canvas c;
  int rc = vt_plot_heatmap(&c, &hm);
  free(names);
  if (rc < 0) return -1;
  rc = vt_canvas_write_png(&c, f);
  vt_canvas_free(&c);
  return rc;
}

#define TRAIN_COLOR 0x1F77B4u
#define VAL_COLOR 0xE8710Au

/* Loss and accuracy side by side, train vs validation; a series that is NaN
 * throughout (no validation split) is left out. The kept epoch is marked
 * when it is not the last. */
int vt_report_curves_png(FILE *f, const vt_report *r) {
  int n = r->n_epochs;
  double *v = vt_xmalloc((size_t)n * 5 * sizeof(double));
  double *x = v, *tl = v + n, *ta = v + 2 * n, *vl = v + 3 * n, *va = v + 4 * n;
  int has[4] = {0};
  for (int e = 0; e < n; e++) {
    const vt_epoch_log *l = &r->epochs[e];
    x[e] = l->epoch;
    tl[e] = l->train_loss, ta[e] = l->train_acc, vl[e] = l->val_loss, va[e] = l->val_acc;
    has[0] |= isfinite(tl[e]), has[1] |= isfinite(vl[e]);
    has[2] |= isfinite(ta[e]), has[3] |= isfinite(va[e]);
  }
  vt_plot_series loss[2], acc[2];
  int nl = 0, na = 0;
  if (has[0]) loss[nl++] = (vt_plot_series){"train", tl, TRAIN_COLOR};
  if (has[1]) loss[nl++] = (vt_plot_series){"validation", vl, VAL_COLOR};
  if (has[2]) acc[na++] = (vt_plot_series){"train", ta, TRAIN_COLOR};
  if (has[3]) acc[na++] = (vt_plot_series){"validation", va, VAL_COLOR};
  vt_canvas c;
  if (vt_canvas_init(&c, 1000, 480, 0xFFFFFFu) < 0) {
    free(v);
    return -1;
  }
  const char *title = r->title ? r->title : "learning curves";
  vt_canvas_text(&c, (c.w - vt_text_width(title, 2)) / 2, 10, title, 2, 0x222222u);
  /* the kept epoch, when it is not simply the last one run */
  char mark[32];
  snprintf(mark, sizeof mark, "kept: epoch %d", r->kept_epoch);
  const char *mark_label = r->kept_epoch > 0 && r->kept_epoch != r->epochs[n - 1].epoch ? mark : NULL;
  vt_line_chart lc = {.title = "Loss", .xlabel = "epoch", .ylabel = "cross-entropy", .n = n, .x = x,
                      .n_series = nl, .series = loss, .y_lo = 0, .y_hi = NAN, .integer_x = 1,
                      .mark_x = r->kept_epoch, .mark_label = mark_label};
  vt_line_chart ac = {.title = "Accuracy", .xlabel = "epoch", .ylabel = "accuracy", .n = n, .x = x,
                      .n_series = na, .series = acc, .y_lo = 0, .y_hi = 1, .integer_x = 1,
                      .mark_x = r->kept_epoch, .mark_label = mark_label};
  vt_plot_line_chart(&c, 0, 30, 500, 450, &lc);
  vt_plot_line_chart(&c, 500, 30, 500, 450, &ac);
  int rc = vt_canvas_write_png(&c, f);
  vt_canvas_free(&c);
  free(v);
  return rc;
}

/* mkdir -p */
static int make_dirs(const char *dir) {
  if (!*dir) return vt_fail("report: empty directory name");
  char *p = vt_xstrdup(dir);
  for (char *s = p + 1;; s++) {
    if (*s != '/' && *s != '\0') continue;
    char saved = *s;
    *s = '\0';
    if (mkdir(p, 0777) < 0 && errno != EEXIST) {
      vt_fail("cannot create directory %s: %s", p, strerror(errno));
      free(p);
      return -1;
    }
    *s = saved;
    if (!saved) break;
  }
  free(p);
  struct stat st;
  if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) return vt_fail("%s is not a directory", dir);
  return 0;
}

int vt_report_check_dir(const char *dir) {
  if (!*dir) return vt_fail("report: empty directory name");
  /* the deepest part of dir that exists: dir itself, or the folder
   * make_dirs would create it in */
  char *p = vt_xstrdup(dir);
  size_t n = strlen(p);
  while (n > 1 && p[n - 1] == '/') p[--n] = '\0';
  struct stat st;
  while (stat(p, &st) != 0) {
    if (!strcmp(p, ".") || !strcmp(p, "/")) { /* e.g. a working directory we may not search */
      int rc = vt_fail("cannot write the report into %s: %s: %s", dir, p, strerror(errno));
      free(p);
      return rc;
    }
    char *slash = strrchr(p, '/');
    if (!slash) strcpy(p, ".");
    else if (slash == p) p[1] = '\0';
    else *slash = '\0';
  }
  int rc = 0;
  if (!S_ISDIR(st.st_mode)) {
    rc = vt_fail("cannot write the report into %s: %s is not a directory", dir, p);
  } else {
    size_t len = strlen(p) + 48;
    char *probe = vt_xmalloc(len);
    snprintf(probe, len, "%s/.vggtap-report-probe%ld", p, (long)getpid());
    int err = vt_try_create(probe);
    if (err) rc = vt_fail("cannot write the report into %s: %s: %s", dir, p, strerror(err));
    free(probe);
  }
  free(p);
  return rc;
}

/* A report file's writer and what it writes, for vt_write_file_atomic. */
typedef struct {
  int (*writer)(FILE *, const vt_report *);
  const vt_report *r;
} report_file;

static int write_report_file(FILE *f, const void *arg) {
  const report_file *rf = arg;
  return rf->writer(f, rf->r);
}

/* Writes dir/name atomically (vt_write_file_atomic). */
static int write_file(const char *dir, const char *name, int (*writer)(FILE *, const vt_report *),
                      const vt_report *r) {
  size_t len = strlen(dir) + strlen(name) + 2;
  char *path = vt_xmalloc(len);
  snprintf(path, len, "%s/%s", dir, name);
  report_file rf = {writer, r};
  int rc = vt_write_file_atomic(path, write_report_file, &rf);
  free(path);
  return rc;
}

int vt_report_write(const char *dir, const vt_report *r) {
  if (!r->metrics || r->metrics->n_classes <= 0) return vt_fail("report: no metrics");
  if (make_dirs(dir) < 0) return -1;
  if (write_file(dir, "metrics.json", write_json, r) < 0 ||
      write_file(dir, "per_class.csv", write_per_class_csv, r) < 0 ||
      write_file(dir, "confusion.csv", write_confusion_csv, r) < 0 ||
      write_file(dir, "confusion.txt", write_confusion_txt, r) < 0 ||
      write_file(dir, "confusion.png", write_confusion_png, r) < 0)
    return -1;
  if (r->epochs && r->n_epochs > 0 && write_file(dir, "curves.png", vt_report_curves_png, r) < 0) return -1;
  return write_file(dir, "report.html", vt_report_html, r);
}
