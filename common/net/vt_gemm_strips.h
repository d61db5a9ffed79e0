/* vt_gemm_strips.h: the register-blocked vt_sgemm_rows_seg, written once over
 * a few vector operations that each kernel file (vt_gemm_avx2.c,
 * vt_gemm_avx512.c) defines for its registers before including it:
 *   MR, NV, VW              rows of a block, vectors per row, floats per vector
 *   vec_t, mask_t           a vector; the tail mask of a strip's last vector
 *   VZERO() VLOADU(p) VLOAD_TAIL(p, m) VBCAST(p) VFMA(a, b, c) VADD(a, b)
 *   VMAX(a, b) VSTOREU(p, x) VSTORE_TAIL(p, m, x)
 *   strip_mask(nj, &nv)     a strip of nj columns: its last vector's mask, and
 *                           in nv the BLOCK_NV case to run
 *   BLOCK_NV(mr)            a switch over nv calling block() for rows mr
 *   VT_GEMM_NAME            the function's name
 * Column strips of NR = NV * VW outside, row blocks of MR inside, so that the
 * k x NR strip of B stays in cache while every row block of A streams past
 * it. Each output sums its k products in order with one fused multiply-add
 * each, whatever the vector width: the kernels give the same bits. */
enum { NR = NV * VW };

/* mr rows x nv vectors; with `masked`, the last vector's lanes beyond the
 * matrix are left out by `last`. Always inlined with constant mr, nv,
 * masked so that acc[][] lives in registers. */
static inline __attribute__((always_inline)) void block(const int mr, const int nv, const int masked, mask_t last,
                                                        int nseg, int kseg, const float *const *A, size_t lda,
                                                        const float *B, size_t ldb, float *C, size_t ldc,
                                                        const float *bias) {
  vec_t acc[MR][NV];
#pragma GCC unroll 6
  for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++) acc[r][v] = VZERO();
  for (int s = 0; s < nseg; s++) {
    const float *a[MR];
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++) a[r] = A[s] + r * lda;
    for (int p = 0; p < kseg; p++) {
      vec_t b[NV];
#pragma GCC unroll 4
      for (int v = 0; v < nv; v++) b[v] = masked && v == nv - 1 ? VLOAD_TAIL(B + v * VW, last) : VLOADU(B + v * VW);
#pragma GCC unroll 6
      for (int r = 0; r < mr; r++) {
        vec_t x = VBCAST(a[r] + p);
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) acc[r][v] = VFMA(x, b[v], acc[r][v]);
      }
      B += ldb;
    }
  }
  vec_t bv[NV], zero = VZERO();
  if (bias) {
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++)
      bv[v] = masked && v == nv - 1 ? VLOAD_TAIL(bias + v * VW, last) : VLOADU(bias + v * VW);
  }
#pragma GCC unroll 6
  for (int r = 0; r < mr; r++) {
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++) {
      vec_t x = acc[r][v];
      if (bias) x = VMAX(VADD(x, bv[v]), zero);
      if (masked && v == nv - 1)
        VSTORE_TAIL(C + r * ldc + v * VW, last, x);
      else
        VSTOREU(C + r * ldc + v * VW, x);
    }
  }
}

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
