/* vt_rng.h: a small seeded random generator (splitmix64) for everything the
 * trainer draws: initial weights, the split, batch order, dropout masks. The
 * same seed gives the same stream on every machine, which is what makes a
 * seeded training run bitwise reproducible. */
#ifndef VT_RNG_H
#define VT_RNG_H

#include <stdint.h>

typedef struct {
  uint64_t state;
} vt_rng;

/* Seeds an independent stream: the same (seed, stream) always gives the same
 * sequence, different streams are unrelated. */
void vt_rng_seed(vt_rng *r, uint64_t seed, uint64_t stream);
uint64_t vt_rng_u64(vt_rng *r);
/* Uniform in [0, 1) with 24 random bits (exact in float). */
float vt_rng_uniform(vt_rng *r);
/* Uniform integer in [0, n), n >= 1. */
uint32_t vt_rng_below(vt_rng *r, uint32_t n);
/* Fisher-Yates shuffle of a[0..n). */
void vt_rng_shuffle(vt_rng *r, int *a, int n);

#endif
