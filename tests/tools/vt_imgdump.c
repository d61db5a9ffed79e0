/* vt_imgdump: decodes an image (and optionally resizes it) with vggtap's code and
 * writes the RGB pixels as a binary PPM (P6) to stdout, so tests can compare
 * them with PIL.
 *
 *   vt_imgdump IMAGE [W H POLICY]      POLICY: nearest | antialias | dct-antialias
 *                                      | draft (the DCT-shrunk decode alone, not resized)
 *
 * On failure prints the reason to stderr and exits 1. */
#include "base/vt_common.h"
#include "image/vt_image.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc != 2 && argc != 5) {
    fprintf(stderr, "usage: %s IMAGE [W H nearest|antialias|dct-antialias|draft]\n", argv[0]);
    return 2;
  }
  vt_image img;
  int draft_only = argc == 5 && strcmp(argv[4], "draft") == 0;
  vt_resize_policy policy;
  if (argc == 5 && !draft_only) { /* as vggtap-extract does it: resized while decoding */
    if (vt_resize_policy_parse(argv[4], &policy) < 0 ||
        vt_image_load_resized(argv[1], SIZE_MAX, atoi(argv[2]), atoi(argv[3]), policy, &img, NULL) < 0) {
      fprintf(stderr, "%s: %s\n", argv[1], vt_failure_reason());
      return 1;
    }
  } else if (vt_image_load_draft(argv[1], SIZE_MAX, draft_only ? atoi(argv[2]) : 0, draft_only ? atoi(argv[3]) : 0,
                                 &img, NULL) < 0) {
    fprintf(stderr, "%s: %s\n", argv[1], vt_failure_reason());
    return 1;
  }
  printf("P6\n%d %d\n255\n", img.width, img.height);
  size_t n = (size_t)img.width * img.height * 3;
  int ok = fwrite(img.rgb, 1, n, stdout) == n && fflush(stdout) == 0;
  free(img.rgb);
  if (!ok) {
    fprintf(stderr, "vt_imgdump: write error\n");
    return 1;
  }
  return 0;
}
