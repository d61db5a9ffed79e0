/* vt_features.h: the feature matrix a head trains on, read from a store: the
 * pooled vectors written during extraction when they exist, otherwise pooled
 * here from the full maps, one row at a time (bounded memory whatever the
 * store's size). */
#ifndef VT_FEATURES_H
#define VT_FEATURES_H

#include "vt_store_read.h"

enum { VT_POOLING_MAX_PARTS = 8 };

/* A pooling: the stored pooled datasets concatenated, in order. */
typedef struct {
  int n;
  char part[VT_POOLING_MAX_PARTS][16]; /* "avg1", "max2", ... */
  int grid[VT_POOLING_MAX_PARTS];
  int is_max[VT_POOLING_MAX_PARTS];
} vt_pooling;

/* "gap" (= avg1), "gmp" (= max1), "gap+gmp", or stored names joined by '+'
 * ("avg2", "avg1+max2", ...). 0 or -1 + reason. */
int vt_pooling_parse(const char *spec, vt_pooling *p);

typedef enum { VT_SOURCE_AUTO, VT_SOURCE_POOLED, VT_SOURCE_MAPS } vt_feature_source;
int vt_feature_source_parse(const char *name, vt_feature_source *out);

typedef struct {
  int n, dim;
  float *x;           /* [n][dim] */
  const char *source; /* "pooled" or "maps": where they came from */
} vt_features;

/* Width of the pooling's vectors for tap and where they will be read from
 * (auto: pooled when every part is stored, else maps). Fails with a reason
 * naming what is missing (the tap, a pooled dataset and the maps). */
int vt_features_plan(const vt_store *s, const char *tap, const vt_pooling *p,
                     vt_feature_source want, int *dim, vt_feature_source *got);

/* Reads the features of store rows rows[0..n) (ascending, status ok). Fails,
 * naming the row, on a NaN or infinite value. verbose: progress on stderr
 * while pooling maps. */
int vt_features_load(const vt_store *s, const char *tap, const vt_pooling *p,
                     vt_feature_source src, const int *rows, int n, int verbose,
                     vt_features *out);
void vt_features_free(vt_features *f);

#endif
