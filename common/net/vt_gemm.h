/* vt_gemm.h: the small single-threaded sgemm under the fast convolutions
 * (Winograd's 36 per-position products, the direct Cin=3 conv). Row-major,
 * strided operands, no packing: A is read by broadcasting scalars from 6 rows
 * at a time, B by vectors from one row at a time. One kernel per path
 * (net/vt_kernels.h): AVX-512 (vt_gemm_avx512.c), AVX2 + FMA
 * (vt_gemm_avx2.c), portable C (vt_gemm.c). */
#ifndef VT_GEMM_H
#define VT_GEMM_H

#include <stddef.h>

/* C[m][n] = A[m][k] * B[k][n]; with bias != NULL, C = max(0, C + bias[n])
 * (the conv epilogue). Any m, n, k >= 1; reads and writes only the m x n
 * (m x k, k x n) elements given. The kernel of vt_kernels_fp32(). */
void vt_sgemm_rows(int m, int n, int k, const float *A, size_t lda, const float *B, size_t ldb,
                   float *C, size_t ldc, const float *bias);

/* The same with K in nseg segments of kseg: row i of A is the concatenation
 * of A[s][i*lda .. i*lda + kseg-1] over s, and B has nseg*kseg rows. A direct
 * 3x3 conv is this with one segment per kernel row dy, each reading an input
 * row in place (lda = Cin, kseg = 3*Cin): no im2col copy. */
enum { VT_GEMM_MAXSEG = 3 };
void vt_sgemm_rows_seg(int m, int n, int nseg, int kseg, const float *const *A, size_t lda,
                       const float *B, size_t ldb, float *C, size_t ldc, const float *bias);

/* C[m][n] = A[m][k] * B[k][n] by plain loops (accumulating in double), the
 * reference the fast one is tested against. */
void vt_sgemm_rows_naive(int m, int n, int k, const float *A, size_t lda, const float *B,
                         size_t ldb, float *C, size_t ldc, const float *bias);

/* vt_sgemm_rows_seg of each path. The AVX2 and AVX-512 ones sum every
 * output's products in the same order with fused multiply-adds, so they give
 * bitwise the same results; the portable one rounds each product. */
void vt_sgemm_rows_seg_portable(int m, int n, int nseg, int kseg, const float *const *A, size_t lda,
                                const float *B, size_t ldb, float *C, size_t ldc, const float *bias);
void vt_sgemm_rows_seg_avx2(int m, int n, int nseg, int kseg, const float *const *A, size_t lda,
                            const float *B, size_t ldb, float *C, size_t ldc, const float *bias);
void vt_sgemm_rows_seg_avx512(int m, int n, int nseg, int kseg, const float *const *A, size_t lda,
                              const float *B, size_t ldb, float *C, size_t ldc, const float *bias);

#endif
