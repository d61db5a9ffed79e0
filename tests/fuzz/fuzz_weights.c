/* fuzz_weights: the Keras weights reader (vt_weights_count, vt_weights_load of
 * all 13 conv layers: dataset lookup, shape and type checks, kernel packing)
 * on an HDF5 file built from the input by h5_recipe.h (which says why the
 * container itself is not fuzzed). */
#include <stdint.h>

#include "fuzz_file.h"
#include "h5_recipe.h"
#include "base/vt_common.h"
#include "store/vt_h5.h"
#include "net/vt_weights.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  vt_h5_quiet();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file_path(".h5");
  if (h5r_build(data, size, path) < 0) abort();
  int n = vt_weights_count(path);
  fuzz_report("vt_weights_count", n, vt_failure_reason());
  vt_weights w;
  /* one layer more than the well-formed ones, to reach the checks that fail */
  int rc = vt_weights_load(path, n >= 0 && n < VT_VGG16_NCONV ? n + 1 : VT_VGG16_NCONV, &w);
  fuzz_report("vt_weights_load", rc, vt_failure_reason());
  if (rc == 0) vt_weights_free(&w);
  return 0;
}
