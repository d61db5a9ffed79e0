/* fuzz_image: the image loader (vt_image_decode: JPEG via libjpeg-turbo, PNG
 * via libpng, format sniffing, size checks), then both resize policies and
 * the preprocessing on whatever decodes. Any crash, sanitizer report or leak
 * is a finding; a failure with a reason is the expected outcome for junk. */
#include <stdint.h>
#include <stdlib.h>

#include "vt_common.h"
#include "vt_image.h"

/* Small enough that the fuzzer's 2 GB memory limit is never the finding. */
enum { MAX_PIXELS = 1 << 22 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  vt_image img;
  if (vt_image_decode(data, size, MAX_PIXELS, &img) < 0) return 0;
  static float input[7 * 5 * 3];
  for (int p = 0; p < 2; p++) {
    vt_image small;
    /* 7x5: not a divisor of anything, so every filter edge case is hit */
    if (vt_image_resize(&img, 7, 5, p == 0 ? VT_RESIZE_NEAREST : VT_RESIZE_ANTIALIAS, &small) < 0) abort();
    vt_preprocess(small.rgb, 7, 5, p == 0 ? VT_PREPROCESS_CAFFE : VT_PREPROCESS_TORCH, input);
    free(small.rgb);
  }
  free(img.rgb);
  return 0;
}
