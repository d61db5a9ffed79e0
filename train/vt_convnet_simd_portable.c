/* vt_convnet_simd_portable.c: the conv head's vector loops on the baseline
 * CPU's vectors (SSE on x86-64), and the choice of a path's table. */
#include "vt_convnet_simd.h"

#include "base/vt_cpu.h"

#include <pthread.h>

#define VT_CN_SIMD_TABLE vt_cn_simd_portable
#include "vt_convnet_simd_body.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const vt_cn_simd *chosen = &vt_cn_simd_portable;

static void choose(void) {
#if defined(__x86_64__)
  switch (vt_cpu_isa_fp32()) {
  case VT_ISA_AVX2: chosen = &vt_cn_simd_avx2; break;
  case VT_ISA_AVX512: chosen = &vt_cn_simd_avx512; break;
  default: break;
  }
#endif
}

const vt_cn_simd *vt_cn_simd_chosen(void) {
  pthread_once(&once, choose);
  return chosen;
}
