/* metrics.h: evaluation metrics of a classifier from true and predicted
 * labels: accuracy, balanced accuracy, per-class precision / recall / F1,
 * macro-F1 and the confusion matrix. */
#ifndef VT_METRICS_H
#define VT_METRICS_H

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

#endif
