/* fuzz_image: the image loader (vt_image_decode: JPEG via libjpeg-turbo, PNG
 * via libpng, format sniffing, size checks), then both resize policies and
 * the preprocessing on whatever decodes; and the DCT-scaled decode of the
 * dct-antialias policy (vt_image_decode_draft), which must succeed wherever
 * the full decode does, report the file's own size and never come out
 * larger than it; and the decode that resizes rows as they come
 * (vt_image_decode_resized), which must fail where the full decode fails and
 * otherwise equal decoding whole and resizing, byte for byte, with every
 * policy; and the same bytes read from a file (vt_image_load, in the fuzz
 * build's 61-byte chunks), which must decode exactly as they do from memory
 * or fail with the same reason. Any crash, sanitizer report or leak
 * is a finding; a failure with a reason is the expected outcome for junk. */
#define _GNU_SOURCE /* memfd_create */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/vt_common.h"
#include "image/vt_image.h"
#include "image/vt_preprocess.h"

/* Small enough that the fuzzer's 2 GB memory limit is never the finding. */
enum { MAX_PIXELS = 1 << 22 };

/* Resized while decoding must be what decoding whole and resizing gives. */
static void check_resized(const uint8_t *data, size_t size, const vt_image *img, vt_resize_policy p) {
  vt_image whole = *img, ref, got;
  int file_size[2];
  if (p == VT_RESIZE_DCT_ANTIALIAS && vt_image_decode_draft(data, size, MAX_PIXELS, 7, 5, &whole, NULL) < 0) abort();
  if (vt_image_resize(&whole, 7, 5, p, &ref) < 0) abort();
  if (whole.rgb != img->rgb) free(whole.rgb);
  if (vt_image_decode_resized(data, size, MAX_PIXELS, 7, 5, p, &got, file_size) < 0) abort();
  if (memcmp(got.rgb, ref.rgb, 7 * 5 * 3) != 0 || file_size[0] != img->width || file_size[1] != img->height) abort();
  free(ref.rgb);
  free(got.rgb);
}

/* Read from a file, the bytes give what they gave from memory: the image
 * (img, if ok) or the same failure reason (why). */
static void check_file(const uint8_t *data, size_t size, int ok, const vt_image *img, const char *why) {
  int fd = memfd_create("fuzz_image", 0);
  if (fd < 0 || write(fd, data, size) != (ssize_t)size) abort();
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  vt_image got;
  int loaded = vt_image_load(path, MAX_PIXELS, &got) == 0;
  close(fd);
  if (loaded != ok) abort();
  if (!ok && strcmp(vt_failure_reason(), why) != 0) abort();
  if (ok && (got.width != img->width || got.height != img->height ||
             memcmp(got.rgb, img->rgb, (size_t)img->width * img->height * 3) != 0))
    abort();
  if (ok) free(got.rgb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  vt_image img;
  if (vt_image_decode(data, size, MAX_PIXELS, &img) < 0) {
    char why[512];
    snprintf(why, sizeof why, "%s", vt_failure_reason());
    check_file(data, size, 0, NULL, why);
    vt_image got;
    if (vt_image_decode_resized(data, size, MAX_PIXELS, 7, 5, VT_RESIZE_ANTIALIAS, &got, NULL) == 0) abort();
    return 0;
  }
  check_file(data, size, 1, &img, NULL);
  static float input[7 * 5 * 3];
  for (int p = 0; p < 2; p++) {
    vt_image small;
    /* 7x5: not a divisor of anything, so every filter edge case is hit */
    if (vt_image_resize(&img, 7, 5, p == 0 ? VT_RESIZE_NEAREST : VT_RESIZE_ANTIALIAS, &small) < 0) abort();
    vt_preprocess(small.rgb, 7, 5, p == 0 ? VT_PREPROCESS_CAFFE : VT_PREPROCESS_TORCH, input);
    free(small.rgb);
  }
  for (int p = 0; p < 3; p++) check_resized(data, size, &img, (vt_resize_policy)p);
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
