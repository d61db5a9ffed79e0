/* fuzz_store: the feature-store reader (vt_store_open: format attributes, the
 * row index, classes; then every pooled dataset and full map the store's
 * `taps` and `grids` attributes name, read through the public API as
 * vggtap-train and vggtap-info do) on an HDF5 file built from the input by
 * h5_recipe.h (which says why the container itself is not fuzzed). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_file.h"
#include "h5_recipe.h"
#include "base/vt_common.h"
#include "store/vt_h5.h"
#include "store/vt_store_read.h"

/* Reads are bounded so that a store declaring a huge shape is not an
 * out-of-memory finding of the harness itself. */
enum { MAX_FLOATS = 1 << 20 };

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  vt_h5_quiet();
  return 0;
}

static void read_tap(const vt_store *s, const char *tap) {
  static const char *const names[] = {"avg1", "max1", "avg2", "max2", "avg4", "max4"};
  for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
    int dim;
    if (vt_store_pooled_dim(s, tap, names[k], &dim) != 1 || dim <= 0 || s->n_rows <= 0) continue;
    int rows = s->n_rows < 4 ? s->n_rows : 4;
    if ((size_t)dim * rows > MAX_FLOATS) continue;
    float *out = malloc((size_t)dim * rows * sizeof *out);
    if (!out) abort();
    for (int r = 0; r < s->n_rows; r += rows) {
      int n = s->n_rows - r < rows ? s->n_rows - r : rows;
      if (vt_store_pooled_read(s, tap, names[k], r, n, dim, out) < 0) break;
    }
    free(out);
  }
  vt_store_maps m;
  if (vt_store_maps_open(s, tap, &m) == 1) {
    size_t len = (size_t)m.h * m.w * m.c;
    if (len > 0 && len <= MAX_FLOATS) {
      float *out = malloc(len * sizeof *out);
      if (!out) abort();
      for (int r = 0; r < m.n && r < 4; r++)
        if (vt_store_maps_read(&m, r, out) < 0) break;
      free(out);
    }
    vt_store_maps_close(&m);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file_path(".h5");
  if (h5r_build(data, size, path) < 0) abort();
  vt_store s;
  int rc = vt_store_open(path, &s);
  fuzz_report("vt_store_open", rc, vt_failure_reason());
  if (rc < 0) return 0;
  char *taps = vt_xstrdup(s.taps ? s.taps : "");
  char *items[16];
  int n = vt_split_commas(taps, items, 16);
  for (int i = 0; i < n; i++)
    if (vt_store_has_tap(&s, items[i])) read_tap(&s, items[i]);
  free(taps);
  vt_store_close(&s);
  return 0;
}
