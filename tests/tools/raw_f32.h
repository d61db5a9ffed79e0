/* raw_f32.h: reading a raw float32 file of an exact length, for the test and
 * benchmark programs that take a preprocessed network input. */
#ifndef VT_RAW_F32_H
#define VT_RAW_F32_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/vt_common.h"

/* Reads exactly n float32 values (what = their layout, for the message). */
static inline int read_f32_file(const char *path, float *dst, size_t n, const char *what) {
  FILE *f = fopen(path, "rb");
  if (!f) return vt_fail("%s: cannot open: %s", path, strerror(errno));
  size_t got = fread(dst, sizeof(float), n, f);
  int extra = fgetc(f) != EOF;
  fclose(f);
  if (got != n || extra)
    return vt_fail("%s: expected exactly %zu float32 values (%s), got %s%zu", path, n, what,
                   extra ? "more than " : "", got);
  return 0;
}

#endif
