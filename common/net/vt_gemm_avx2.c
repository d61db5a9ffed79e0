/* vt_gemm_avx2.c: vt_sgemm_rows_seg for the avx2 path (vt_gemm.h),
 * compiled for AVX2 + FMA alone (Makefile) and run only where the CPU has
 * them (net/vt_kernels.h).
 *
 * The AVX-512 kernel's scheme (vt_gemm_avx512.c) for 16 registers of 8
 * floats: a register block of 6 rows x 2 vectors = 12 accumulators, 2 for
 * the B row and 1 for the broadcast. An FMA has a latency of 4-5 cycles and
 * two issue each cycle, so 12 independent chains keep both pipes busy; each
 * B vector loaded feeds 6 FMAs, each broadcast 2, which the two load ports
 * sustain. Every output is summed over k in the same order, with the same
 * fused multiply-adds, as the AVX-512 kernel: the two give the same bits. */
#if defined(__x86_64__)
#include "net/vt_gemm.h"

#include <immintrin.h>

enum { MR = 6, NV = 2, NR = NV * 8 };

/* mr rows x nv vectors; with `masked`, the last vector's lanes beyond the
 * matrix are left out by `last` (AVX2's masked loads cost more than plain
 * ones, so full strips do without). Always inlined with constant mr, nv,
 * masked so that acc[][] lives in registers. */
static inline __attribute__((always_inline)) void block(const int mr, const int nv, const int masked,
                                                        __m256i last,
                                                        int nseg, int kseg, const float *const *A,
                                                        size_t lda, const float *B, size_t ldb,
                                                        float *C, size_t ldc, const float *bias) {
  __m256 acc[MR][NV];
#pragma GCC unroll 6
  for (int r = 0; r < mr; r++)
#pragma GCC unroll 2
    for (int v = 0; v < nv; v++) acc[r][v] = _mm256_setzero_ps();
  for (int s = 0; s < nseg; s++) {
    const float *a[MR];
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++) a[r] = A[s] + r * lda;
    for (int p = 0; p < kseg; p++) {
      __m256 b[NV];
#pragma GCC unroll 2
      for (int v = 0; v < nv; v++)
        b[v] = masked && v == nv - 1 ? _mm256_maskload_ps(B + v * 8, last) : _mm256_loadu_ps(B + v * 8);
#pragma GCC unroll 6
      for (int r = 0; r < mr; r++) {
        __m256 x = _mm256_broadcast_ss(a[r] + p);
#pragma GCC unroll 2
        for (int v = 0; v < nv; v++) acc[r][v] = _mm256_fmadd_ps(x, b[v], acc[r][v]);
      }
      B += ldb;
    }
  }
  __m256 bv[NV], zero = _mm256_setzero_ps();
  if (bias) {
#pragma GCC unroll 2
    for (int v = 0; v < nv; v++)
      bv[v] = masked && v == nv - 1 ? _mm256_maskload_ps(bias + v * 8, last) : _mm256_loadu_ps(bias + v * 8);
  }
#pragma GCC unroll 6
  for (int r = 0; r < mr; r++) {
#pragma GCC unroll 2
    for (int v = 0; v < nv; v++) {
      __m256 x = acc[r][v];
      if (bias) x = _mm256_max_ps(_mm256_add_ps(x, bv[v]), zero);
      if (masked && v == nv - 1)
        _mm256_maskstore_ps(C + r * ldc + v * 8, last, x);
      else
        _mm256_storeu_ps(C + r * ldc + v * 8, x);
    }
  }
}

/* nv = 0: a full strip of 2 vectors; 1 or 2: the last strip, masked */
#define BLOCK_NV(mr)                                                                 \
  switch (nv) {                                                                      \
  case 0: block(mr, 2, 0, last, nseg, kseg, A, lda, B, ldb, C, ldc, bias); break;    \
  case 1: block(mr, 1, 1, last, nseg, kseg, A, lda, B, ldb, C, ldc, bias); break;    \
  default: block(mr, 2, 1, last, nseg, kseg, A, lda, B, ldb, C, ldc, bias); break;   \
  }

typedef __m256i mask_t;

/* nv 0 for a whole strip; the lanes 0 .. tail-1 of the last vector have
 * their sign bits set */
static mask_t strip_mask(int nj, int *nv) {
  int tail = nj % 8 ? nj % 8 : 8;
  *nv = nj == NR ? 0 : (nj + 7) / 8;
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(tail), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

#define VT_GEMM_NAME vt_sgemm_rows_seg_avx2
#include "net/vt_gemm_strips.h"

#endif
