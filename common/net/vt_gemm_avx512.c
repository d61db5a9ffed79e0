/* vt_gemm_avx512.c: vt_sgemm_rows_seg for the avx512 path (vt_gemm.h),
 * compiled for AVX-512 alone (Makefile) and run only where the CPU has it
 * (net/vt_kernels.h).
 *
 * Register block: 6 rows x 4 vectors of 16 floats = 24 of the 32 zmm
 * registers as accumulators, 4 for the B row, 1 for the broadcast. A 512-bit
 * FMA has a latency of 4 cycles and issues twice per cycle here, so 24
 * independent chains keep both pipes busy, and each B vector loaded feeds 6
 * FMAs. Masked loads and stores cost no more than plain ones, so a strip's
 * last vector is always masked (all lanes when n is a multiple of 16). */
#if defined(__x86_64__)
#include "net/vt_gemm.h"

#include <immintrin.h>

enum { MR = 6, NV = 4, VW = 16 };
typedef __m512 vec_t;
typedef __mmask16 mask_t;
#define VZERO() _mm512_setzero_ps()
#define VLOADU(p) _mm512_loadu_ps(p)
#define VLOAD_TAIL(p, m) _mm512_maskz_loadu_ps((m), (p))
#define VBCAST(p) _mm512_set1_ps(*(p))
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define VADD(a, b) _mm512_add_ps((a), (b))
#define VMAX(a, b) _mm512_max_ps((a), (b))
#define VSTOREU(p, x) _mm512_storeu_ps((p), (x))
#define VSTORE_TAIL(p, m, x) _mm512_mask_storeu_ps((p), (m), (x))

static mask_t strip_mask(int nj, int *nv) {
  *nv = (nj + 15) / 16;
  return (mask_t)(nj % 16 ? (1u << (nj % 16)) - 1 : 0xFFFFu);
}

#define BLOCK_NV(mr)                                                                 \
  switch (nv) {                                                                      \
  case 1: block(mr, 1, 1, last, nseg, kseg, A, lda, B, ldb, C, ldc, bias); break;    \
  case 2: block(mr, 2, 1, last, nseg, kseg, A, lda, B, ldb, C, ldc, bias); break;    \
  case 3: block(mr, 3, 1, last, nseg, kseg, A, lda, B, ldb, C, ldc, bias); break;    \
  default: block(mr, 4, 1, last, nseg, kseg, A, lda, B, ldb, C, ldc, bias); break;   \
  }

#define VT_GEMM_NAME vt_sgemm_rows_seg_avx512
#include "net/vt_gemm_strips.h"

#endif
