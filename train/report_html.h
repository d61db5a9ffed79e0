/* report_html.h: report.html, the training report as one self-contained page
 * (images inline, no scripts, no network): which rows each number comes
 * from, the scores, the learning curves with the kept epoch marked, the
 * per-class table, the confusion matrix, and thumbnails of the scored
 * photos the head got most confidently wrong. */
#ifndef VT_REPORT_HTML_H
#define VT_REPORT_HTML_H

#include <stdio.h>

#include "report.h"

/* Thumbnails in the gallery are at most this many pixels on a side. */
#define VT_REPORT_THUMB 160

/* Writes the page to f. A photo that can no longer be read is shown as a
 * note saying why, not a failure. 0, or -1 + reason. */
int vt_report_html(FILE *f, const vt_report *r);

/* The n_out (at most max_out) rows of n (probabilities probs[n][k], true
 * classes y) whose predicted class is wrong, the surest first (ties: the
 * earlier row): their indices into out. */
int vt_report_pick_wrong(const float *probs, const int *y, int n, int k, int max_out, int *out);

#endif
