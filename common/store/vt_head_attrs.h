/* vt_head_attrs.h: the attributes of a head file (HEAD.h5, docs/HEAD.md)
 * read in one place, for train/vt_head_file.c, which needs them whole, and
 * for vggtap-info, which shows what is there; and the name of the report
 * vggtap-train writes beside a head. */
#ifndef VT_HEAD_ATTRS_H
#define VT_HEAD_ATTRS_H

#include <hdf5.h>
#include <limits.h>

#define VT_HEAD_FORMAT "vggtap-head"
#define VT_HEAD_FORMAT_VERSION 2
#define VT_HEAD_ATTR_ABSENT LLONG_MIN

typedef struct {
  /* malloc'd, NULL when absent */
  char *format, *head, *hidden, *tap, *pooling, *features, *preprocessing, *resize, *weights_sha256, *store,
      *eval_store, *feature_source, *augment, *config, *command;
  /* VT_HEAD_ATTR_ABSENT when absent */
  long long format_version, input_height, input_width, n_features, n_classes, n_layers, n_params, best_epoch;
} vt_head_attrs;

/* Reads every attribute above that f holds. 0, or -1 + reason when one is
 * there but not of its type (a string, an integer); the others are read all
 * the same. Whether an absent one matters is the caller's to say. Free
 * with vt_head_attrs_free in either case. */
int vt_head_attrs_read(hid_t f, vt_head_attrs *a);
void vt_head_attrs_free(vt_head_attrs *a);

/* Where vggtap-train writes the report of the head at `head` by default:
 * HEAD minus .h5, plus .report; with file, that file in it
 * ("head.report/metrics.json"). malloc'd. */
char *vt_head_report_path(const char *head, const char *file);

#endif
