/* vt_gemm_avx512.c: vt_sgemm_rows_seg for the avx512 path (vt_gemm.h),
 * compiled for AVX-512 alone (Makefile) and run only where the CPU has it
 * (net/vt_kernels.h). */
#if defined(__x86_64__)
#include "net/vt_gemm.h"

#include <immintrin.h>

/* Register block: 6 rows x 4 vectors of 16 floats = 24 of the 32 zmm
 * registers as accumulators, 4 for the B row, 1 for the broadcast. A 512-bit
 * FMA has a latency of 4 cycles and issues twice per cycle here, so 24
 * independent chains keep both pipes busy, and each B vector loaded feeds 6
 * FMAs. */
enum { MR = 6, NV = 4, NR = NV * 16 };

/* mr rows x nv vectors; the last vector is masked by `last` (all ones when n
 * is a multiple of 16). Always inlined with constant mr, nv so that acc[][]
 * lives in registers. */
static inline __attribute__((always_inline)) void block(const int mr, const int nv, __mmask16 last,
                                                        int nseg, int kseg, const float *const *A,
                                                        size_t lda, const float *B, size_t ldb,
                                                        float *C, size_t ldc, const float *bias) {
  __m512 acc[MR][NV];
#pragma GCC unroll 6
  for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++) acc[r][v] = _mm512_setzero_ps();
  for (int s = 0; s < nseg; s++) {
    const float *a[MR];
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++) a[r] = A[s] + r * lda;
    for (int p = 0; p < kseg; p++) {
      __m512 b[NV];
#pragma GCC unroll 4
      for (int v = 0; v < nv; v++)
        b[v] = v == nv - 1 ? _mm512_maskz_loadu_ps(last, B + v * 16) : _mm512_loadu_ps(B + v * 16);
#pragma GCC unroll 6
      for (int r = 0; r < mr; r++) {
        __m512 x = _mm512_set1_ps(a[r][p]);
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) acc[r][v] = _mm512_fmadd_ps(x, b[v], acc[r][v]);
      }
      B += ldb;
    }
  }
  __m512 bv[NV], zero = _mm512_setzero_ps();
  if (bias) {
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++)
      bv[v] = v == nv - 1 ? _mm512_maskz_loadu_ps(last, bias + v * 16) : _mm512_loadu_ps(bias + v * 16);
  }
#pragma GCC unroll 6
  for (int r = 0; r < mr; r++) {
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++) {
      __m512 x = acc[r][v];
      if (bias) x = _mm512_max_ps(_mm512_add_ps(x, bv[v]), zero);
      if (v == nv - 1)
        _mm512_mask_storeu_ps(C + r * ldc + v * 16, last, x);
      else
        _mm512_storeu_ps(C + r * ldc + v * 16, x);
    }
  }
}

#define BLOCK_NV(mr)                                                                 \
  switch (nv) {                                                                      \
  case 1: block(mr, 1, last, nseg, kseg, A, lda, B, ldb, C, ldc, bias); break;       \
  case 2: block(mr, 2, last, nseg, kseg, A, lda, B, ldb, C, ldc, bias); break;       \
  case 3: block(mr, 3, last, nseg, kseg, A, lda, B, ldb, C, ldc, bias); break;       \
  default: block(mr, 4, last, nseg, kseg, A, lda, B, ldb, C, ldc, bias); break;      \
  }

typedef __mmask16 mask_t;

static mask_t strip_mask(int nj, int *nv) {
  *nv = (nj + 15) / 16;
  return (mask_t)(nj % 16 ? (1u << (nj % 16)) - 1 : 0xFFFFu);
}

#define VT_GEMM_NAME vt_sgemm_rows_seg_avx512
#include "net/vt_gemm_strips.h"

#endif
