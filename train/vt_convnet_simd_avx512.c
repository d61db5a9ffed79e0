/* vt_convnet_simd_avx512.c: the conv head's vector loops on 16-float vectors.
 * Compiled for AVX512 (Makefile); run only when base/vt_cpu.h chooses it. */
#if defined(__x86_64__)
#define VT_CN_SIMD_TABLE vt_cn_simd_avx512
#include "vt_convnet_simd_body.h"
#endif
