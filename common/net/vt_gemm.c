/* vt_gemm.c: small row-major sgemm with the conv epilogue (bias + ReLU)
 * fused into the store, and K in up to three segments (vt_gemm.h): the
 * reference, the portable kernel, and the entry points that run the kernel
 * of this CPU's path. */
#include "net/vt_gemm.h"

#include <string.h>

#include "net/vt_kernels.h"

void vt_sgemm_rows_naive(int m, int n, int k, const float *A, size_t lda, const float *B,
                         size_t ldb, float *C, size_t ldc, const float *bias) {
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      double s = 0;
      for (int p = 0; p < k; p++) s += (double)A[i * lda + p] * B[p * ldb + j];
      if (bias) {
        s += bias[j];
        if (s < 0) s = 0;
      }
      C[i * ldc + j] = (float)s;
    }
}

void vt_sgemm_rows(int m, int n, int k, const float *A, size_t lda, const float *B, size_t ldb,
                   float *C, size_t ldc, const float *bias) {
  vt_kernels_fp32()->sgemm_rows_seg(m, n, 1, k, &A, lda, B, ldb, C, ldc, bias);
}

void vt_sgemm_rows_seg(int m, int n, int nseg, int kseg, const float *const *A, size_t lda,
                       const float *B, size_t ldb, float *C, size_t ldc, const float *bias) {
  vt_kernels_fp32()->sgemm_rows_seg(m, n, nseg, kseg, A, lda, B, ldb, C, ldc, bias);
}

/* Portable: the register blocking of the vector kernels in GCC vector
 * extensions on 4-float vectors (SSE on x86-64, NEON on aarch64): 6 rows x
 * 2 vectors = 12 accumulators, which with the 2 B vectors and the broadcast
 * fit in 16 registers. Columns beyond the last whole strip of 8 go through
 * plain loops. Without fused multiply-adds on the baseline CPU, each product
 * is rounded before it is added. */
typedef float v4 __attribute__((vector_size(16)));
typedef int v4i __attribute__((vector_size(16)));
enum { MR = 6, NV = 2, NR = NV * 4 };

static inline v4 load4(const float *p) {
  v4 v;
  memcpy(&v, p, sizeof v);
  return v;
}

/* mr rows x one strip of NR columns; inlined with constant mr so that
 * acc[][] lives in registers */
static inline __attribute__((always_inline)) void block(const int mr, int nseg, int kseg, const float *const *A,
                                                        size_t lda, const float *B, size_t ldb, float *C,
                                                        size_t ldc, const float *bias) {
  v4 acc[MR][NV] = {{{0}}};
  for (int s = 0; s < nseg; s++)
    for (int p = 0; p < kseg; p++, B += ldb) {
      v4 b[NV];
#pragma GCC unroll 2
      for (int v = 0; v < NV; v++) b[v] = load4(B + 4 * v);
#pragma GCC unroll 6
      for (int r = 0; r < mr; r++) {
        float a = A[s][r * lda + p];
        v4 x = {a, a, a, a};
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) acc[r][v] += x * b[v];
      }
    }
#pragma GCC unroll 6
  for (int r = 0; r < mr; r++)
#pragma GCC unroll 2
    for (int v = 0; v < NV; v++) {
      v4 x = acc[r][v];
      if (bias) {
        x += load4(bias + 4 * v);
        v4 zero = {0};
        x = (v4)((v4i)x & (x > zero)); /* ReLU */
      }
      memcpy(C + r * ldc + 4 * v, &x, sizeof x);
    }
}

/* The columns j0 .. n-1 of rows i0 .. i0+mr-1 (fewer than NR), plainly */
static void columns_left(int mr, int nj, int nseg, int kseg, const float *const *A, size_t lda,
                         const float *B, size_t ldb, float *C, size_t ldc, const float *bias) {
  for (int r = 0; r < mr; r++)
    for (int j = 0; j < nj; j++) {
      float x = 0;
      for (int s = 0; s < nseg; s++)
        for (int p = 0; p < kseg; p++) x += A[s][r * lda + p] * B[((size_t)s * kseg + p) * ldb + j];
      if (bias) x = x + bias[j] > 0 ? x + bias[j] : 0;
      C[r * ldc + j] = x;
    }
}

void vt_sgemm_rows_seg_portable(int m, int n, int nseg, int kseg, const float *const *A, size_t lda,
                                const float *B, size_t ldb, float *C, size_t ldc, const float *bias) {
  for (int j0 = 0; j0 < n; j0 += NR) {
    int nj = n - j0 < NR ? n - j0 : NR;
    for (int i0 = 0; i0 < m; i0 += MR) {
      int mr = m - i0 < MR ? m - i0 : MR;
      const float *a[VT_GEMM_MAXSEG];
      for (int s = 0; s < nseg; s++) a[s] = A[s] + i0 * lda;
      const float *bj = bias ? bias + j0 : NULL;
      float *c = C + i0 * ldc + j0;
      if (nj < NR) {
        columns_left(mr, nj, nseg, kseg, a, lda, B + j0, ldb, c, ldc, bj);
        continue;
      }
      switch (mr) {
      case 1: block(1, nseg, kseg, a, lda, B + j0, ldb, c, ldc, bj); break;
      case 2: block(2, nseg, kseg, a, lda, B + j0, ldb, c, ldc, bj); break;
      case 3: block(3, nseg, kseg, a, lda, B + j0, ldb, c, ldc, bj); break;
      case 4: block(4, nseg, kseg, a, lda, B + j0, ldb, c, ldc, bj); break;
      case 5: block(5, nseg, kseg, a, lda, B + j0, ldb, c, ldc, bj); break;
      default: block(6, nseg, kseg, a, lda, B + j0, ldb, c, ldc, bj); break;
      }
    }
  }
}
