#include "vt_split.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "vt_rng.h"

void vt_split_stratified(const int *labels, int n, int n_classes, double val_fraction,
                         uint64_t seed, uint8_t *is_val) {
  memset(is_val, 0, (size_t)n);
  int *rows = vt_xmalloc(sizeof(int) * ((size_t)n + 1));
  for (int k = 0; k < n_classes; k++) {
    int nk = 0;
    for (int i = 0; i < n; i++)
      if (labels[i] == k) rows[nk++] = i;
    int nv = (int)floor(val_fraction * nk + 0.5);
    if (val_fraction > 0 && nk >= 2 && nv < 1) nv = 1;
    if (nv > nk - 1) nv = nk - 1;
    if (nv <= 0) continue;
    vt_rng r;
    vt_rng_seed(&r, seed, 1000 + (uint64_t)k); /* one stream per class */
    vt_rng_shuffle(&r, rows, nk);
    for (int j = 0; j < nv; j++) is_val[rows[j]] = 1;
  }
  free(rows);
}
