/* vt_features.h: the feature matrix a head trains on, read from a store: for
 * each tap of a recipe, the pooled vectors written during extraction when they
 * exist, otherwise pooled here from the full maps, one row at a time (bounded
 * memory whatever the store's size). */
#ifndef VT_FEATURES_H
#define VT_FEATURES_H

#include <stddef.h>

#include "store/vt_store_read.h"

enum { VT_POOLING_MAX_PARTS = 8, VT_RECIPE_MAX_TAPS = 8, VT_RECIPE_MAX_PARTS = 64,
       VT_TAP_NAME_MAX = 32 };

/* A pooling: stored pooled datasets of one tap concatenated, in order. */
typedef struct {
  int n;
  char part[VT_POOLING_MAX_PARTS][16]; /* "avg1", "max2", ... */
  int grid[VT_POOLING_MAX_PARTS];
  int is_max[VT_POOLING_MAX_PARTS];
} vt_pooling;

/* A comma list of avgG / maxG (G a grid, e.g. "avg1,avg2,avg4"); "gap" is
 * avg1 and "gmp" max1. '+' separates too ("gap+gmp", the older form).
 * 0 or -1 + reason. */
int vt_pooling_parse(const char *spec, vt_pooling *p);
/* The canonical text: stored names joined by ',' ("avg1,max4"). */
void vt_pooling_text(const vt_pooling *p, char *out, size_t n);

/* The exact features of a head: parts (tap, pooled dataset) concatenated in
 * order. Written as text "block1_pool/avg1,block2_pool/max4" (the store paths
 * under /pooled). */
typedef struct {
  char tap[VT_TAP_NAME_MAX];
  char name[16]; /* "avg4" */
  int grid, is_max;
} vt_feature_part;

typedef struct {
  int n;
  vt_feature_part part[VT_RECIPE_MAX_PARTS];
} vt_recipe;

/* vt_taps_parse (net/vt_extract.h) giving the names, in the order given:
 * the order of a head's features. The count or -1 + reason. */
int vt_tap_names_parse(const char *list, char taps[][VT_TAP_NAME_MAX], int max);
/* Every tap with every part of the pooling, tap-major: the order of
 * `--tap A,B --pool avg1,max4` is A/avg1, A/max4, B/avg1, B/max4. */
int vt_recipe_product(char taps[][VT_TAP_NAME_MAX], int n_taps, const vt_pooling *p,
                      vt_recipe *r);
/* "block1_pool/avg1,block2_pool/max4" -> r. 0 or -1 + reason. */
int vt_recipe_parse(const char *text, vt_recipe *r);
void vt_recipe_text(const vt_recipe *r, char *out, size_t n);
/* The distinct taps of r in order of first use; returns their count. */
int vt_recipe_taps(const vt_recipe *r, char taps[][VT_TAP_NAME_MAX]);

typedef enum { VT_SOURCE_AUTO, VT_SOURCE_POOLED, VT_SOURCE_MAPS } vt_feature_source;
int vt_feature_source_parse(const char *name, vt_feature_source *out);

typedef struct {
  int n, dim;
  float *x;           /* [n][dim] */
  const char *source; /* "pooled", "maps" or "pooled+maps" (taps differ): where they came from */
} vt_features;

/* Width of the recipe's vectors and where they will be read from (auto: a
 * tap's stored pooled vectors when all its parts are stored, else its maps):
 * "pooled", "maps" or "pooled+maps". Fails with a reason naming what is
 * missing (the tap, a pooled dataset and the maps). */
int vt_features_plan(const vt_store *s, const vt_recipe *r, vt_feature_source want, int *dim,
                     const char **source);

/* Reads the features of store rows rows[0..n) (ascending, status ok). Fails,
 * naming the row, on a NaN or infinite value. verbose: progress on stderr
 * while pooling maps. */
int vt_features_load(const vt_store *s, const vt_recipe *r, vt_feature_source src,
                     const int *rows, int n, int verbose, vt_features *out);
/* The same for a group of the store's datasets: "" (the photos, as above)
 * or "mirror/" (their mirror images: vggtap-extract --augment flip). */
int vt_features_plan_in(const vt_store *s, const char *group, const vt_recipe *r, vt_feature_source want,
                        int *dim, const char **source);
int vt_features_load_in(const vt_store *s, const char *group, const vt_recipe *r, vt_feature_source src,
                        const int *rows, int n, int verbose, vt_features *out);
void vt_features_free(vt_features *f);

#endif
