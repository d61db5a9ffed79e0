/* vt_kernels.c: which float32 kernel table runs (see vt_kernels.h). */
#include "net/vt_kernels.h"

#include <pthread.h>

const vt_kernels *vt_kernels_for(vt_isa isa) {
  switch (isa) {
  case VT_ISA_PORTABLE: return &vt_kernels_portable;
#if defined(__x86_64__)
  case VT_ISA_AVX2: return &vt_kernels_avx2;
  case VT_ISA_AVX512: return &vt_kernels_avx512;
#endif
  default: return NULL;
  }
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const vt_kernels *chosen;

static void choose(void) {
  /* vt_cpu_isa_fp32() never names a path above what the CPU runs, and on
   * other CPUs than x86-64 that is portable */
  chosen = vt_kernels_for(vt_cpu_isa_fp32());
  if (!chosen) chosen = &vt_kernels_portable;
}

const vt_kernels *vt_kernels_fp32(void) {
  pthread_once(&once, choose);
  return chosen;
}
