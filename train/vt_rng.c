#include "vt_rng.h"

void vt_rng_seed(vt_rng *r, uint64_t seed, uint64_t stream) {
  r->state = seed ^ (stream * 0xD1B54A32D192ED03ull);
  (void)vt_rng_u64(r); /* decorrelate nearby seeds */
}

uint64_t vt_rng_u64(vt_rng *r) {
  uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

float vt_rng_uniform(vt_rng *r) { return (float)(vt_rng_u64(r) >> 40) * (1.0f / 16777216.0f); }

uint32_t vt_rng_below(vt_rng *r, uint32_t n) {
  /* multiply-shift (Lemire); its bias, about n / 2^32, is negligible at row counts */
  return (uint32_t)(((vt_rng_u64(r) >> 32) * (uint64_t)n) >> 32);
}

void vt_rng_shuffle(vt_rng *r, int *a, int n) {
  for (int i = n - 1; i > 0; i--) {
    int j = (int)vt_rng_below(r, (uint32_t)i + 1);
    int t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}
