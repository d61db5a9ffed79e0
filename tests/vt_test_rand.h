/* vt_test_rand.h: the C tests' random data: a fixed xorshift sequence, so a
 * failing case repeats exactly. */
#ifndef VT_TEST_RAND_H
#define VT_TEST_RAND_H

#include <stdint.h>

#include "base/vt_common.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float frand(void) { /* uniform in [-1, 1) */
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (float)((rng_state >> 40) * (1.0 / (1 << 23))) - 1.0f;
}
/* n values scale * frand(), 64-byte aligned with 64 bytes to spare; free(). */
static float *rand_buf(size_t n, float scale) {
  float *p = vt_aligned_alloc(n * sizeof(float) + 64);
  for (size_t i = 0; i < n; i++) p[i] = scale * frand();
  return p;
}

#endif
