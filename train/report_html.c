/* report_html.c: the training report as a page (report_html.h). */
#include "report_html.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "base/vt_html.h"
#include "base/vt_text.h"
#include "image/vt_image.h"
#include "plot/vt_png_plot.h"
#include "vt_trainer.h"

/* Photos larger than this are not thumbnailed (the extractor's own default
 * decompression-bomb limit, docs/STORE.md). */
#define THUMB_MAX_PIXELS 178956970

static const char *name_of(const vt_report *r, int c, char buf[32]) {
  if (r->class_names && r->class_names[c]) return r->class_names[c];
  snprintf(buf, 32, "class %d", c);
  return buf;
}

/* ---- which rows ---- */

static void rows_section(FILE *f, const vt_report *r) {
  char note[1024];
  vt_report_score_note(r, note, sizeof note);
  int held = vt_report_held_out(r);
  fprintf(f, "<div class=\"rows%s\" id=\"rows\"><b>Scored on: ", held || r->scored == VT_SCORED_UNSAID ? "" : " warn");
  vt_html_text(f, r->eval_name ? r->eval_name : "?");
  fprintf(f, " (%d rows)</b>. The scores below come from ", r->metrics->n);
  vt_html_text(f, note);
  fputs(".", f);
  if (!held && r->scored != VT_SCORED_UNSAID)
    fputs(" <b>Not a held-out score.</b> Hold out test rows (<code>--test-fraction</code>) or "
          "score on another store (<code>--eval</code>) for one.", f);
  fputs("</div>\n<table id=\"splits\"><tr><th>rows</th><th class=\"n\">count</th><th>role</th></tr>\n", f);
  fprintf(f, "<tr><td>training</td><td class=\"n\">%d</td><td>fit the head</td></tr>\n", r->n_train);
  fprintf(f, "<tr><td>validation</td><td class=\"n\">%d</td><td>", r->n_val);
  if (r->n_val == 0) fputs("none", f);
  else if (r->val_chose) {
    fputs("chose ", f);
    vt_html_text(f, r->val_chose);
    if (r->kept_epoch > 0) fprintf(f, " (epoch %d)", r->kept_epoch);
  } else fputs("monitored only: chose nothing", f);
  fputs("</td></tr>\n<tr><td>test</td><td class=\"n\">", f);
  fprintf(f, "%d</td><td>", r->scored == VT_SCORED_TEST ? r->metrics->n : 0);
  vt_html_text(f, r->test_note ? r->test_note : "none");
  fputs("</td></tr>\n", f);
  if (r->scored == VT_SCORED_EVAL) {
    fprintf(f, "<tr><td>another store</td><td class=\"n\">%d</td><td>", r->metrics->n);
    vt_html_text(f, r->eval_name);
    fputs(" (--eval)</td></tr>\n", f);
  }
  fputs("</table>\n", f);
}

static void score_box(FILE *f, const char *label, double v, const char *sub) {
  fprintf(f, "<div class=\"score\"><span>%s</span><b>%.4f</b><span>", label, v);
  vt_html_text(f, sub);
  fputs("</span></div>", f);
}

static void scores_section(FILE *f, const vt_report *r) {
  const vt_metrics *m = r->metrics, *v = r->val_metrics;
  char sub[300];
  snprintf(sub, sizeof sub, "%s, %d rows", r->eval_name ? r->eval_name : "?", m->n);
  fputs("<div class=\"scores\" id=\"scores\">", f);
  score_box(f, "accuracy", m->accuracy, sub);
  score_box(f, "balanced accuracy", m->balanced_accuracy, sub);
  score_box(f, "macro-F1", m->macro_f1, sub);
  fputs("</div>\n", f);
  if (v && r->scored != VT_SCORED_VAL) {
    fprintf(f, "<p id=\"validation\">On the %d validation rows, which chose ", v->n);
    vt_html_text(f, r->val_chose ? r->val_chose : "nothing");
    fprintf(f, ": accuracy %.4f, balanced accuracy %.4f, macro-F1 %.4f.</p>\n", v->accuracy,
            v->balanced_accuracy, v->macro_f1);
  }
}

/* ---- curves, per class, confusion ---- */

static int curves_png(FILE *mem, const void *r) {
  return vt_report_curves_png(mem, r);
}

static int curves_section(FILE *f, const vt_report *r) {
  if (!r->epochs || r->n_epochs <= 0) return 0;
  fputs("<h2>Learning curves</h2>\n", f);
  if (vt_html_img(f, "image/png", curves_png, r, "loss and accuracy per epoch, train and validation",
                  "class=\"plot\" width=\"1000\" height=\"480\"") < 0)
    return -1;
  fprintf(f, "\n<p>%d epochs run", r->n_epochs);
  if (r->kept_epoch > 0) fprintf(f, "; the head holds the weights of epoch %d%s", r->kept_epoch,
                                 r->kept_epoch == r->epochs[r->n_epochs - 1].epoch ? " (the last)" : " (marked)");
  fputs(".</p>\n", f);
  return 0;
}

static void per_class_section(FILE *f, const vt_report *r) {
  const vt_metrics *m = r->metrics;
  char buf[32];
  fputs("<h2>Per class</h2>\n<table id=\"per-class\"><tr><th class=\"n\">#</th><th>class</th>"
        "<th class=\"n\">precision</th><th class=\"n\">recall</th><th class=\"n\">F1</th>"
        "<th class=\"n\">support</th></tr>\n", f);
  for (int c = 0; c < m->n_classes; c++) {
    fprintf(f, "<tr><td class=\"n\">%d</td><td>", c);
    vt_html_text(f, name_of(r, c, buf));
    fprintf(f, "</td><td class=\"n\">%.4f</td><td class=\"n\">%.4f</td><td class=\"n\">%.4f</td>"
               "<td class=\"n\">%ld</td></tr>\n", m->precision[c], m->recall[c], m->f1[c], m->support[c]);
  }
  fputs("</table>\n", f);
}

/* Cells shaded by their share of the row (the colours of confusion.png). */
static void confusion_section(FILE *f, const vt_report *r) {
  const vt_metrics *m = r->metrics;
  int k = m->n_classes;
  char buf[32];
  fputs("<h2>Confusion matrix</h2>\n<p>Rows: true class; columns: predicted class (numbered as "
        "in the per-class table); shade: the share of the row.</p>\n<table class=\"cm\" "
        "id=\"confusion\"><tr><th>true \\ predicted</th>", f);
  for (int j = 0; j < k; j++) {
    fprintf(f, "<th title=\"");
    vt_html_text(f, name_of(r, j, buf));
    fprintf(f, "\">%d</th>", j);
  }
  fputs("</tr>\n", f);
  for (int i = 0; i < k; i++) {
    long row = 0;
    for (int j = 0; j < k; j++) row += m->confusion[(size_t)i * k + j];
    fprintf(f, "<tr><th>%d ", i);
    vt_html_text(f, name_of(r, i, buf));
    fputs("</th>", f);
    for (int j = 0; j < k; j++) {
      long v = m->confusion[(size_t)i * k + j];
      double share = row > 0 ? (double)v / (double)row : 0;
      vt_color col = vt_heatmap_color(share);
      fprintf(f, "<td style=\"background:#%06x;color:%s\">%ld</td>", (unsigned)col,
              share > 0.5 ? "#fff" : "#222", v);
    }
    fputs("</tr>\n", f);
  }
  fputs("</table>\n", f);
}

/* ---- the gallery ---- */

static int write_jpeg(FILE *mem, const void *im) {
  return vt_image_write_jpeg(im, 85, mem);
}

/* The photo shrunk to fit VT_REPORT_THUMB x VT_REPORT_THUMB, its aspect
 * kept; a JPEG decoded already shrunk (vt_image_load_draft). */
static int thumbnail(const char *path, vt_image *out) {
  vt_image full;
  if (vt_image_load_draft(path, THUMB_MAX_PIXELS, VT_REPORT_THUMB, VT_REPORT_THUMB, &full, NULL) < 0)
    return -1;
  double s = fmin(1.0, (double)VT_REPORT_THUMB / (full.width > full.height ? full.width : full.height));
  int w = (int)lround(full.width * s), h = (int)lround(full.height * s);
  int rc = vt_image_resize(&full, w < 1 ? 1 : w, h < 1 ? 1 : h, VT_RESIZE_ANTIALIAS, out);
  free(full.rgb);
  return rc;
}

static int gallery_section(FILE *f, const vt_report *r) {
  char a[32], b[32];
  fputs("<h2>Most confidently wrong</h2>\n", f);
  if (r->n_wrong == 0) {
    fputs("<p>The head got every scored row right.</p>\n", f);
    return 0;
  }
  fprintf(f, "<p>The %d scored photos (%s) whose wrong prediction had the highest probability, "
             "surest first.</p>\n<div class=\"gallery\" id=\"gallery\">\n", r->n_wrong,
          r->eval_name ? r->eval_name : "?");
  for (int i = 0; i < r->n_wrong; i++) {
    const vt_report_example *e = &r->wrong[i];
    fputs("<figure>", f);
    vt_image t;
    if (e->image && thumbnail(e->image, &t) == 0) {
      char attrs[64];
      snprintf(attrs, sizeof attrs, "width=\"%d\" height=\"%d\"", t.width, t.height);
      int rc = vt_html_img(f, "image/jpeg", write_jpeg, &t, e->image, attrs);
      free(t.rgb);
      if (rc < 0) return -1;
    } else {
      fputs("<div class=\"missing\">photo not readable: ", f);
      vt_html_text(f, e->image ? vt_failure_reason() : "no path");
      fputs("</div>", f);
    }
    fputs("<figcaption>true <b class=\"right\">", f);
    vt_html_text(f, name_of(r, e->true_class, a));
    fprintf(f, "</b> (%.3f)<br>predicted <b class=\"wrong\">", e->prob_true);
    vt_html_text(f, name_of(r, e->pred_class, b));
    fprintf(f, "</b> (%.3f)<div class=\"path\">", e->prob);
    vt_html_text(f, e->image ? e->image : "");
    fputs("</div></figcaption></figure>\n", f);
  }
  fputs("</div>\n", f);
  return 0;
}

/* ---- the page ---- */

int vt_report_html(FILE *f, const vt_report *r) {
  const char *title = r->title ? r->title : "vggtap report";
  vt_html_begin(f, title);
  fputs("<h1>", f);
  vt_html_text(f, title);
  fputs("</h1>\n<p class=\"sub\">vggtap-train report: ", f);
  char *params = NULL;
  size_t n = 0;
  FILE *mem = open_memstream(&params, &n);
  if (mem) {
    vt_report_print_params(mem, r);
    fclose(mem);
    while (n > 0 && params[n - 1] == '\n') params[--n] = '\0';
    vt_html_text(f, params);
    fputs(n > 0 ? ". " : "", f);
    free(params);
  }
  if (r->train_seconds > 0) fprintf(f, "Trained in %.2f s.", r->train_seconds);
  fputs("</p>\n", f);
  rows_section(f, r);
  scores_section(f, r);
  if (curves_section(f, r) < 0) return -1;
  per_class_section(f, r);
  confusion_section(f, r);
  if (gallery_section(f, r) < 0) return -1;
  if (r->settings) {
    fputs("<h2>Settings</h2>\n<pre id=\"settings\">", f);
    vt_html_text(f, r->settings);
    fputs("</pre>\n", f);
  }
  fputs("<footer>Written by vggtap-train; metrics.json, per_class.csv and confusion.csv beside this "
        "page hold the same numbers.</footer>\n", f);
  vt_html_end(f);
  return 0;
}

/* ---- choosing the gallery ---- */

typedef struct {
  float p;
  int i;
} wrong_row;

static int by_confidence(const void *a, const void *b) {
  const wrong_row *x = a, *y = b;
  if (x->p != y->p) return x->p > y->p ? -1 : 1;
  return (x->i > y->i) - (x->i < y->i);
}

int vt_report_pick_wrong(const float *probs, const int *y, int n, int k, int max_out, int *out) {
  wrong_row *w = vt_xmalloc(sizeof *w * ((size_t)n + 1));
  int m = 0;
  for (int i = 0; i < n; i++) {
    const float *p = probs + (size_t)i * k;
    int best = vt_argmax(p, k);
    if (best != y[i]) w[m++] = (wrong_row){p[best], i};
  }
  qsort(w, (size_t)m, sizeof *w, by_confidence);
  int n_out = m < max_out ? m : max_out;
  for (int j = 0; j < n_out; j++) out[j] = w[j].i;
  free(w);
  return n_out;
}
