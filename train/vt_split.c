#include "vt_split.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "vt_rng.h"

/* The rows of each class to hold out: round(fraction * n_k), at least one
 * when fraction > 0 and n_k >= 2, never all. */
static int held_out_count(double fraction, int nk) {
  int nv = (int)floor(fraction * nk + 0.5);
  if (fraction > 0 && nk >= 2 && nv < 1) nv = 1;
  if (nv > nk - 1) nv = nk - 1;
  return nv < 0 ? 0 : nv;
}

/* Marks out[i] for the held-out rows among those with from[i] (NULL: all);
 * class k shuffles on stream stream0 + k. */
static void draw(const int *labels, const uint8_t *from, int n, int n_classes, double fraction,
                 uint64_t seed, uint64_t stream0, uint8_t *out) {
  memset(out, 0, (size_t)n);
  int *rows = vt_xmalloc(sizeof(int) * ((size_t)n + 1));
  for (int k = 0; k < n_classes; k++) {
    int nk = 0;
    for (int i = 0; i < n; i++)
      if (labels[i] == k && (!from || from[i])) rows[nk++] = i;
    int nv = held_out_count(fraction, nk);
    if (nv <= 0) continue;
    vt_rng r;
    vt_rng_seed(&r, seed, stream0 + (uint64_t)k); /* one stream per class */
    vt_rng_shuffle(&r, rows, nk);
    for (int j = 0; j < nv; j++) out[rows[j]] = 1;
  }
  free(rows);
}

void vt_split_stratified(const int *labels, int n, int n_classes, double val_fraction,
                         uint64_t seed, uint8_t *is_val) {
  draw(labels, NULL, n, n_classes, val_fraction, seed, 1000, is_val);
}

void vt_split_test(const int *labels, const uint8_t *from, int n, int n_classes, double fraction,
                   uint64_t seed, uint8_t *is_test) {
  draw(labels, from, n, n_classes, fraction, seed, 2000, is_test);
}

int vt_split_test_fits(const int *labels, const uint8_t *from, int n, int n_classes, double fraction) {
  int *count = vt_xcalloc((size_t)n_classes + 1, sizeof(int));
  for (int i = 0; i < n; i++)
    if (!from || from[i]) count[labels[i]]++;
  int fits = 1;
  for (int k = 0; k < n_classes && fits; k++) {
    int nt = held_out_count(fraction, count[k]);
    fits = nt >= 2 && count[k] - nt >= 2;
  }
  free(count);
  return fits;
}

/* The fraction to draw (test_fraction < 0: auto) and the note saying so. */
static double test_share(const int *labels, int n, int n_classes, double test_fraction,
                         double auto_fraction, const char *of, const char *pool, const char *why,
                         uint64_t seed, char *note, size_t note_size) {
  double f = test_fraction;
  if (f < 0) f = vt_split_test_fits(labels, NULL, n, n_classes, auto_fraction) ? auto_fraction : 0;
  if (f > 0)
    snprintf(note, note_size, "%g%% of %s, drawn at random with seed %llu%s", 100 * f, of,
             (unsigned long long)seed, why);
  else if (test_fraction == 0)
    snprintf(note, note_size, "none (--test-fraction 0)");
  else
    snprintf(note, note_size, "none: a class has too few %s to give two test rows and keep two", pool);
  return f;
}

void vt_split_random(const int *labels, int n, int n_classes, double test_fraction,
                     double val_fraction, uint64_t seed, uint8_t *part, char *note, size_t note_size) {
  double f = test_share(labels, n, n_classes, test_fraction, VT_TEST_FRACTION_RANDOM,
                        "each class", "rows", "", seed, note, note_size);
  uint8_t *flag = vt_xmalloc((size_t)n + 1);
  int *rest = vt_xmalloc(sizeof(int) * ((size_t)n + 1)), *rest_y = vt_xmalloc(sizeof(int) * ((size_t)n + 1));
  vt_split_test(labels, NULL, n, n_classes, f, seed, flag);
  int m = 0;
  for (int i = 0; i < n; i++) {
    part[i] = flag[i] ? VT_PART_TEST : VT_PART_TRAIN;
    if (!flag[i]) rest[m] = i, rest_y[m++] = labels[i];
  }
  vt_split_stratified(rest_y, m, n_classes, val_fraction, seed, flag);
  for (int j = 0; j < m; j++)
    if (flag[j]) part[rest[j]] = VT_PART_VAL;
  free(flag);
  free(rest);
  free(rest_y);
}

void vt_split_manifest_test(const int *labels, int n, int n_classes, double test_fraction,
                            uint64_t seed, uint8_t *is_test, char *note, size_t note_size) {
  double f = test_share(labels, n, n_classes, test_fraction, VT_TEST_FRACTION_MANIFEST,
                        "each class's validation rows", "validation rows",
                        ": the manifest has no test rows", seed, note, note_size);
  vt_split_test(labels, NULL, n, n_classes, f, seed, is_test);
}
