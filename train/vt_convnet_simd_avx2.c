/* vt_convnet_simd_avx2.c: the conv head's vector loops on 8-float vectors.
 * Compiled for AVX2 (Makefile); run only when base/vt_cpu.h chooses it. */
#if defined(__x86_64__)
#define VT_CN_SIMD_TABLE vt_cn_simd_avx2
#include "vt_convnet_simd_body.h"
#endif
