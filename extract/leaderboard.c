/* leaderboard.c: heads ranked, as a table, a CSV and a page (leaderboard.h). */
#include "leaderboard.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "base/vt_html.h"
#include "base/vt_text.h"
#include "store/vt_head_attrs.h"

static const char *const metric_names[] = {"accuracy", "balanced_accuracy", "macro_f1"};
static const char *const metric_labels[] = {"accuracy", "balanced accuracy", "macro-F1"};

int vt_board_metric_parse(const char *name, vt_board_metric *out) {
  for (int i = 0; i < 3; i++)
    if (!strcmp(name, metric_names[i])) {
      *out = (vt_board_metric)i;
      return 0;
    }
  return -1;
}

const char *vt_board_metric_name(vt_board_metric m) {
  return metric_names[m];
}

static double scored(const vt_board_row *r, vt_board_metric m) {
  return m == VT_BOARD_ACCURACY ? r->accuracy : m == VT_BOARD_BALANCED_ACCURACY ? r->balanced_accuracy : r->macro_f1;
}

static double validated(const vt_board_row *r, vt_board_metric m) {
  return m == VT_BOARD_ACCURACY ? r->val_accuracy
         : m == VT_BOARD_BALANCED_ACCURACY ? r->val_balanced_accuracy : r->val_macro_f1;
}

/* What the ranking uses: NaN (no score) ranks last. */
static double key(const vt_board *b, const vt_board_row *r) {
  return b->on_validation ? validated(r, b->metric) : scored(r, b->metric);
}

/* "test", "val", "train" or "eval" (another store) from metrics.json's eval. */
static const char *scored_kind(const char *s) {
  if (!s || !*s) return "?";
  if (!strncmp(s, "test split", 10)) return "test";
  if (!strncmp(s, "validation split", 16)) return "val";
  if (!strncmp(s, "training rows", 13)) return "train";
  return "eval";
}

/* ---- names ---- */

/* blockN_pool -> bN, in place */
static void abbreviate_taps(char *s) {
  for (char *p = s; (p = strstr(p, "block"));) {
    char *d = p + 5, *e = d;
    while (*e >= '0' && *e <= '9') e++;
    if (e > d && !strncmp(e, "_pool", 5)) {
      *p = 'b';
      memmove(p + 1, d, (size_t)(e - d));
      memmove(p + 1 + (e - d), e + 5, strlen(e + 5) + 1);
    }
    p++;
  }
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !strcmp(s + n - m, suffix);
}

/* Length of the directory part all paths share (up to and with a '/'); for
 * a single head, its directory (its parent's, when it is a head.h5). */
static size_t shared_dir(const vt_board_row *rows, int n) {
  if (n == 1) {
    const char *p = rows[0].path, *slash = strrchr(p, '/');
    if (!slash) return 0;
    if (ends_with(p, "/head.h5")) {
      const char *q = slash;
      while (q > p && q[-1] != '/') q--;
      return (size_t)(q - p);
    }
    return (size_t)(slash - p + 1);
  }
  size_t len = strlen(rows[0].path);
  for (int i = 1; i < n; i++) {
    size_t j = 0;
    while (j < len && rows[i].path[j] == rows[0].path[j]) j++;
    len = j;
  }
  while (len > 0 && rows[0].path[len - 1] != '/') len--;
  return len;
}

static char *short_name(const char *path, size_t skip) {
  char *s = vt_xstrdup(path + skip);
  if (ends_with(s, "/head.h5")) s[strlen(s) - 8] = '\0';
  else if (ends_with(s, ".h5") && strlen(s) > 3) s[strlen(s) - 3] = '\0';
  abbreviate_taps(s);
  return s;
}

/* ---- ranking ---- */

static const vt_board *ranking; /* for qsort's comparison */

static int by_key(const void *a, const void *b) {
  const vt_board_row *x = a, *y = b;
  double kx = key(ranking, x), ky = key(ranking, y);
  if (isnan(kx) != isnan(ky)) return isnan(kx) ? 1 : -1;
  if (!isnan(kx) && kx != ky) return kx > ky ? -1 : 1;
  if (x->params != y->params) return x->params < y->params ? -1 : 1; /* the smaller head first */
  return strcmp(x->path, y->path);
}

void vt_board_rank(vt_board *b, vt_board_row *rows, int n, vt_board_metric metric, const char *root) {
  memset(b, 0, sizeof *b);
  b->n = n, b->rows = rows, b->metric = metric;
  b->on_validation = n > 0;
  for (int i = 0; i < n; i++)
    if (isnan(validated(&rows[i], metric))) b->on_validation = 0;
  ranking = b;
  qsort(rows, (size_t)n, sizeof *rows, by_key);
  ranking = NULL;
  b->names = vt_xcalloc((size_t)n + 1, sizeof *b->names);
  size_t skip = n ? shared_dir(rows, n) : 0, r = root ? strlen(root) : 0;
  while (r > 1 && root[r - 1] == '/') r--;
  for (int i = 0; i < n; i++) {
    int under = root && !strncmp(rows[i].path, root, r) && rows[i].path[r] == '/';
    b->names[i] = short_name(rows[i].path, under ? r + 1 : skip);
  }
}

void vt_board_free(vt_board *b) {
  for (int i = 0; i < b->n; i++) free(b->names[i]);
  free(b->names);
  b->names = NULL;
}

static int has_best(const vt_board *b) {
  return b->n > 0 && !isnan(key(b, &b->rows[0]));
}

/* Which rows chose the best and which the scores come from, one sentence. */
static void ranking_note(const vt_board *b, char *buf, size_t size) {
  if (!has_best(b)) {
    snprintf(buf, size, "no head has a score (no HEAD.report/metrics.json beside it)");
    return;
  }
  const vt_board_row *best = &b->rows[0];
  const char *label = metric_labels[b->metric], *kind = scored_kind(best->scored_on);
  int same = 1;
  for (int i = 1; i < b->n; i++)
    same &= !strcmp(b->rows[i].scored_on ? b->rows[i].scored_on : "", best->scored_on ? best->scored_on : "") &&
            b->rows[i].n_scored == best->n_scored;
  char rows[600];
  snprintf(rows, sizeof rows, "%s%s (%lld rows%s)", strcmp(kind, "eval") ? "" : "store ",
           best->scored_on ? best->scored_on : "?", best->n_scored, same ? "" : " for the best; each row says its own");
  if (!strcmp(kind, "train"))
    snprintf(buf, size, "* the best by its %s on the training rows it was fit to (%lld rows): nothing was "
             "held out, so the scores say little about new photos", label, best->n_scored);
  else if (b->on_validation && strcmp(kind, "val") != 0)
    snprintf(buf, size, "* the best by validation %s (%lld rows); the scores come from the %s, which "
             "chose nothing", label, best->n_val, rows);
  else if (b->on_validation)
    snprintf(buf, size, "* the best by validation %s; the scores come from the %s, the rows that "
             "ranked the heads: the best score is optimistic (hold out a test split with "
             "--test-fraction, or score on another store with --eval)", label, rows);
  else
    snprintf(buf, size, "* the best by its own %s on the %s, the rows its score comes from (not every "
             "head has validation rows): the best score is optimistic", label, rows);
}

/* ---- the terminal table ---- */

static void cell(char *out, size_t n, double v, const char *fmt) {
  if (isnan(v)) snprintf(out, n, "-");
  else snprintf(out, n, fmt, v);
}

static void print_padded(FILE *f, const char *s, int width) {
  int pad = width - vt_text_columns(s);
  fprintf(f, "%s%*s", s, pad > 0 ? pad : 0, "");
}

/* "test 60": the scored rows in a few columns */
static void scored_short(const vt_board_row *r, char *out, size_t n) {
  snprintf(out, n, "%s %lld", scored_kind(r->scored_on), r->n_scored);
}

void vt_board_print(FILE *f, const vt_board *b) {
  static const char *const val_headers[] = {"val acc", "val bal", "val F1"};
  int w = 4;
  for (int i = 0; i < b->n; i++) {
    int c = vt_text_columns(b->names[i]);
    if (c > w) w = c;
  }
  fprintf(f, "   ");
  print_padded(f, "head", w);
  fprintf(f, "  %8s  %10s  %8s  %8s  %8s  %8s  %7s  %s\n", "features", "params", val_headers[b->metric],
          "accuracy", "bal acc", "macro-F1", "train s", "scored on");
  for (int i = 0; i < b->n; i++) {
    const vt_board_row *r = &b->rows[i];
    char v[32], a[32], ba[32], f1[32], s[32], on[64];
    cell(v, sizeof v, validated(r, b->metric), "%.4f");
    cell(a, sizeof a, r->accuracy, "%.4f");
    cell(ba, sizeof ba, r->balanced_accuracy, "%.4f");
    cell(f1, sizeof f1, r->macro_f1, "%.4f");
    cell(s, sizeof s, r->train_seconds, "%.2f");
    scored_short(r, on, sizeof on);
    fprintf(f, "%s  ", i == 0 && has_best(b) ? "*" : " ");
    print_padded(f, b->names[i], w);
    fprintf(f, "  %8lld  %10lld  %8s  %8s  %8s  %8s  %7s  %s\n", r->features, r->params, v, a, ba, f1, s, on);
  }
  char note[1024];
  ranking_note(b, note, sizeof note);
  fprintf(f, "%s\n", note);
}

void vt_board_brief(FILE *f, const vt_board_row *r) {
  char a[32], v[32];
  cell(a, sizeof a, r->accuracy, "%.4f");
  cell(v, sizeof v, r->val_accuracy, "%.4f");
  fprintf(f, "accuracy %s on %s (%lld rows), validation %s (%lld rows)", a, r->scored_on ? r->scored_on : "?",
          r->n_scored, v, r->n_val);
  if (!isnan(r->train_seconds)) fprintf(f, ", %.2f s", r->train_seconds);
  fputc('\n', f);
}

/* ---- CSV ---- */

static void csv_number(FILE *f, double v, const char *fmt) {
  fputc(',', f);
  if (!isnan(v)) fprintf(f, fmt, v);
}

int vt_board_csv(FILE *f, const void *board) {
  const vt_board *b = board;
  fprintf(f, "rank,best,name,head,tap,pooling,hidden,features,params,ranked_by,val_%s,n_val,accuracy,"
             "balanced_accuracy,macro_f1,scored_on,n_scored,train_seconds\n", metric_names[b->metric]);
  for (int i = 0; i < b->n; i++) {
    const vt_board_row *r = &b->rows[i];
    fprintf(f, "%d,%d,", i + 1, i == 0 && has_best(b));
    vt_csv_field(f, b->names[i]);
    fputc(',', f);
    vt_csv_field(f, r->path);
    fputc(',', f);
    vt_csv_field(f, r->tap);
    fputc(',', f);
    vt_csv_field(f, r->pooling);
    fputc(',', f);
    vt_csv_field(f, r->hidden[0] ? r->hidden : "softmax");
    fprintf(f, ",%lld,%lld,%s%s", r->features, r->params, b->on_validation ? "val_" : "", metric_names[b->metric]);
    csv_number(f, validated(r, b->metric), "%.6f");
    fprintf(f, ",%lld", r->n_val);
    csv_number(f, r->accuracy, "%.6f");
    csv_number(f, r->balanced_accuracy, "%.6f");
    csv_number(f, r->macro_f1, "%.6f");
    fputc(',', f);
    vt_csv_field(f, r->scored_on ? r->scored_on : "");
    fprintf(f, ",%lld", r->n_scored);
    csv_number(f, r->train_seconds, "%.3f");
    fputc('\n', f);
  }
  return 0;
}

/* ---- the page ---- */

/* The absolute, resolved form of dir (malloc'd), NULL if it does not exist. */
static char *resolved(const char *dir) {
  char buf[PATH_MAX];
  return realpath(dir, buf) ? vt_xstrdup(buf) : NULL;
}

static char *dir_of(const char *path) {
  char *d = vt_xstrdup(path), *slash = strrchr(d, '/');
  if (!slash) strcpy(d, ".");
  else if (slash == d) d[1] = '\0';
  else *slash = '\0';
  return d;
}

/* The relative path from folder from to path to, both absolute and
 * resolved (malloc'd): one ../ per folder of from past the shared ones. */
static char *relative(const char *from, const char *to) {
  size_t common = 0; /* length of the shared folders, up to a '/' or the end */
  for (size_t i = 0;; i++) {
    int end_from = from[i] == '\0' || from[i] == '/', end_to = to[i] == '\0' || to[i] == '/';
    if (end_from && end_to) common = i;
    if (!from[i] || !to[i] || from[i] != to[i]) break;
  }
  int ups = 0;
  for (const char *p = from + common; *p; p++) ups += *p == '/';
  const char *rest = to + common + (to[common] == '/');
  char *link = vt_xmalloc(3 * (size_t)ups + strlen(rest) + 1);
  link[0] = '\0';
  for (int i = 0; i < ups; i++) strcat(link, "../");
  strcat(link, rest);
  return link;
}

/* The link from the page's folder to a head's report.html (malloc'd), NULL
 * when that page does not exist. */
static char *report_link(const char *html_path, const char *head) {
  char *page = vt_head_report_path(head, "report.html");
  char *page_dir = dir_of(html_path), *from = resolved(page_dir), *to = resolved(page), *link = NULL;
  if (from && to) link = relative(strcmp(from, "/") ? from : "", to);
  free(page_dir);
  free(from);
  free(to);
  free(page);
  return link;
}

static void td_number(FILE *f, double v, const char *fmt) {
  fputs("<td class=\"n\">", f);
  if (isnan(v)) fputs("-", f);
  else fprintf(f, fmt, v);
  fputs("</td>", f);
}

static void td_text(FILE *f, const char *s) {
  fputs("<td>", f);
  vt_html_text(f, s);
  fputs("</td>", f);
}

int vt_board_html(FILE *f, const void *board) {
  const vt_board *b = board;
  char note[1024];
  ranking_note(b, note, sizeof note);
  const char *label = metric_labels[b->metric];
  vt_html_begin(f, "vggtap: heads compared");
  fprintf(f, "<h1>Heads compared</h1>\n<p class=\"sub\">%d heads, ranked by %s%s; the best is marked "
             "&#9733;. Names read tap/pooling/head (bN: blockN_pool; a number: the hidden widths of an "
             "MLP); each links to its head's report.</p>\n", b->n, b->on_validation ? "validation " : "", label);
  int optimistic = has_best(b) && !(b->on_validation && strcmp(scored_kind(b->rows[0].scored_on), "val") &&
                                    strcmp(scored_kind(b->rows[0].scored_on), "train"));
  fprintf(f, "<div class=\"rows%s\" id=\"rows\">", optimistic ? " warn" : "");
  char *sentence = note + (note[0] == '*' ? 2 : 0);
  if (*sentence >= 'a' && *sentence <= 'z') *sentence = (char)(*sentence - 'a' + 'A');
  vt_html_text(f, sentence);
  fputs(".</div>\n<table id=\"leaderboard\"><tr><th class=\"n\">#</th><th>head</th>"
        "<th class=\"n\">features</th><th class=\"n\">params</th>", f);
  fprintf(f, "<th class=\"n\">validation<br>%s</th><th class=\"n\">accuracy</th><th class=\"n\">balanced<br>"
             "accuracy</th><th class=\"n\">macro-F1</th><th>scores on</th><th class=\"n\">train s</th></tr>\n",
          label);
  for (int i = 0; i < b->n; i++) {
    const vt_board_row *r = &b->rows[i];
    int best = i == 0 && has_best(b);
    fprintf(f, "<tr%s><td class=\"n\">%s%d</td><td>", best ? " class=\"best\"" : "", best ? "&#9733; " : "", i + 1);
    char *link = b->html_path ? report_link(b->html_path, r->path) : NULL, what[600];
    snprintf(what, sizeof what, "%s, %s, %s", r->tap, r->pooling, r->hidden[0] ? r->hidden : "softmax");
    fputs("<span title=\"", f);
    vt_html_text(f, what);
    fputs("\">", f);
    if (link) {
      fputs("<a href=\"", f);
      vt_html_text(f, link);
      fputs("\">", f);
    }
    vt_html_text(f, b->names[i]);
    fputs(link ? "</a></span>" : "</span> (no report page)", f);
    free(link);
    fputs("</td>", f);
    fprintf(f, "<td class=\"n\">%lld</td><td class=\"n\">%lld</td>", r->features, r->params);
    td_number(f, validated(r, b->metric), "%.4f");
    td_number(f, r->accuracy, "%.4f");
    td_number(f, r->balanced_accuracy, "%.4f");
    td_number(f, r->macro_f1, "%.4f");
    char on[600];
    snprintf(on, sizeof on, "%s (%lld)", r->scored_on && *r->scored_on ? r->scored_on : "?", r->n_scored);
    td_text(f, on);
    td_number(f, r->train_seconds, "%.2f");
    fputs("</tr>\n", f);
  }
  fputs("</table>\n<p>Validation: the rows each head was validated on (early stopping, and this "
        "ranking). Accuracy, balanced accuracy and macro-F1: on the rows in <i>scores on</i>.</p>\n"
        "<footer>Written by vggtap-info --table --html; the CSV beside it holds the same rows.</footer>\n", f);
  vt_html_end(f);
  return 0;
}
