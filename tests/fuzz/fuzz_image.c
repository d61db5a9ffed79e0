/* fuzz_image: the image loader (vt_image_decode: JPEG via libjpeg-turbo, PNG
 * via libpng, format sniffing, size checks), then both resize policies and
 * the preprocessing on whatever decodes; and the DCT-scaled decode of the
 * dct-antialias policy (vt_image_decode_draft), which must succeed wherever
 * the full decode does, report the file's own size and never come out
 * larger than it. Any crash, sanitizer report or leak
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
  /* fit 2x2 so even small images take the 2/4/8x shrink */
  vt_image draft;
  int file_size[2];
  if (vt_image_decode_draft(data, size, MAX_PIXELS, 2, 2, &draft, file_size) < 0) abort();
  if (file_size[0] != img.width || file_size[1] != img.height || draft.width > img.width ||
      draft.height > img.height || draft.width < 1 || draft.height < 1)
    abort();
  free(draft.rgb);
  free(img.rgb);
  return 0;
}
