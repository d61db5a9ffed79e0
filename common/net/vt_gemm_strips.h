/* vt_gemm_strips.h: the part of vt_sgemm_rows_seg that every register-blocked
 * kernel shares (vt_gemm_avx2.c, vt_gemm_avx512.c): column strips outside,
 * row blocks inside, so that the k x NR strip of B stays in cache while
 * every row block of A streams past it; each block one call of the kernel's
 * block() inlined for its constant row count. The including file defines
 *   MR, NR                  rows of a block, columns of a strip
 *   mask_t                  its tail-mask type
 *   strip_mask(nj, &nv)     a strip of nj columns: the mask of its last
 *                           vector, and in nv the BLOCK_NV case to run
 *   BLOCK_NV(mr)            a switch over nv calling block() for rows mr
 *   VT_GEMM_NAME            the function's name */

static void block_any(int mr, int nv, mask_t last, int nseg, int kseg, const float *const *A, size_t lda,
                      const float *B, size_t ldb, float *C, size_t ldc, const float *bias) {
  switch (mr) {
  case 1: BLOCK_NV(1) break;
  case 2: BLOCK_NV(2) break;
  case 3: BLOCK_NV(3) break;
  case 4: BLOCK_NV(4) break;
  case 5: BLOCK_NV(5) break;
  default: BLOCK_NV(6) break;
  }
}

void VT_GEMM_NAME(int m, int n, int nseg, int kseg, const float *const *A, size_t lda, const float *B,
                  size_t ldb, float *C, size_t ldc, const float *bias) {
  for (int j0 = 0; j0 < n; j0 += NR) {
    int nj = n - j0 < NR ? n - j0 : NR, nv;
    mask_t last = strip_mask(nj, &nv);
    for (int i0 = 0; i0 < m; i0 += MR) {
      int mr = m - i0 < MR ? m - i0 : MR;
      const float *a[VT_GEMM_MAXSEG];
      for (int s = 0; s < nseg; s++) a[s] = A[s] + i0 * lda;
      block_any(mr, nv, last, nseg, kseg, a, lda, B + j0, ldb, C + i0 * ldc + j0, ldc, bias ? bias + j0 : NULL);
    }
  }
}
