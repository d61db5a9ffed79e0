/* vt_vec.h: a vector of floats as wide as the target's registers (GCC
 * vector extensions: AVX-512, AVX or SSE code from the same source), for
 * the conv head's loops over channels. Header-only, internal to train/. */
#ifndef VT_VEC_H
#define VT_VEC_H

#include <string.h>

#if defined(__AVX512F__)
enum { VL = 16 };
#elif defined(__AVX__)
enum { VL = 8 };
#else
enum { VL = 4 };
#endif
typedef float vf __attribute__((vector_size(VL * sizeof(float))));
typedef int vi __attribute__((vector_size(VL * sizeof(int))));

/* n <= VL floats; the rest of the vector 0. The whole-vector case is a
 * constant-size copy, a plain load (a variable-size memcpy is a call). */
static inline vf vload(const float *p, int n) {
  vf v = {0};
  if (n == VL) memcpy(&v, p, sizeof v);
  else memcpy(&v, p, (size_t)n * sizeof(float));
  return v;
}

static inline void vstore(float *p, vf v, int n) {
  if (n == VL) memcpy(p, &v, sizeof v);
  else memcpy(p, &v, (size_t)n * sizeof(float));
}

/* a where mask, else b */
static inline vf vselect(vi mask, vf a, vf b) { return (vf)((mask & (vi)a) | (~mask & (vi)b)); }

static inline vf vmax0(vf a) { return vselect(a > 0, a, (vf){0}); }

#endif
