/* vt_fp32_avx2.c: the avx2 path's kernel table (net/vt_kernels.h): the
 * vector kernels of vt_fp32_body.h on 8-float vectors, the AVX2 + FMA GEMM.
 * Compiled for AVX2 alone (Makefile). */
#if defined(__x86_64__)
#include <immintrin.h>

#include "net/vt_gemm.h"
#include "net/vt_kernels.h"

#define VL 8
#define VT_FP32_GEMM vt_sgemm_rows_seg_avx2
#define VT_FP32_PANEL 16
#define VT_FP32_STREAM(p, v) _mm256_stream_ps((p), (__m256)(v))
#define VT_FP32_FENCE() _mm_sfence()
#include "net/vt_fp32_body.h"

const vt_kernels vt_kernels_avx2 = {VT_ISA_AVX2, vt_sgemm_rows_seg_avx2, VT_FP32_PANEL, winograd4_conv_rows,
                                    sum_max_pixels};
#endif
