/* vt_fp32_avx512.c: the avx512 path's kernel table (net/vt_kernels.h): the
 * vector kernels of vt_fp32_body.h on 16-float vectors, the AVX-512 GEMM.
 * Compiled for AVX-512 alone (Makefile). */
#if defined(__x86_64__)
#include <immintrin.h>

#include "net/vt_gemm.h"
#include "net/vt_kernels.h"

#define VL 16
#define VT_FP32_GEMM vt_sgemm_rows_seg_avx512
#define VT_FP32_PANEL 64
#define VT_FP32_STREAM(p, v) _mm512_stream_ps((p), (__m512)(v))
#define VT_FP32_FENCE() _mm_sfence()
#include "net/vt_fp32_body.h"

const vt_kernels vt_kernels_avx512 = {VT_ISA_AVX512, vt_sgemm_rows_seg_avx512, VT_FP32_PANEL, winograd4_conv_rows,
                                      sum_max_pixels};
#endif
