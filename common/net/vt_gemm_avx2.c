/* vt_gemm_avx2.c: vt_sgemm_rows_seg for the avx2 path (vt_gemm.h),
 * compiled for AVX2 + FMA alone (Makefile) and run only where the CPU has
 * them (net/vt_kernels.h).
 *
 * The AVX-512 kernel's scheme (vt_gemm_avx512.c) for 16 registers of 8
 * floats: a register block of 6 rows x 2 vectors = 12 accumulators, 2 for
 * the B row and 1 for the broadcast. An FMA has a latency of 4-5 cycles and
 * two issue each cycle, so 12 independent chains keep both pipes busy; each
 * B vector loaded feeds 6 FMAs, each broadcast 2, which the two load ports
 * sustain. AVX2's masked loads cost more than plain ones, so only a last
 * strip narrower than 16 columns uses them. */
#if defined(__x86_64__)
#include "net/vt_gemm.h"

#include <immintrin.h>

enum { MR = 6, NV = 2, VW = 8 };
typedef __m256 vec_t;
typedef __m256i mask_t;
#define VZERO() _mm256_setzero_ps()
#define VLOADU(p) _mm256_loadu_ps(p)
#define VLOAD_TAIL(p, m) _mm256_maskload_ps((p), (m))
#define VBCAST(p) _mm256_broadcast_ss(p)
#define VFMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define VADD(a, b) _mm256_add_ps((a), (b))
#define VMAX(a, b) _mm256_max_ps((a), (b))
#define VSTOREU(p, x) _mm256_storeu_ps((p), (x))
#define VSTORE_TAIL(p, m, x) _mm256_maskstore_ps((p), (m), (x))

/* nv 0 for a whole strip; the lanes 0 .. tail-1 of the last vector have
 * their sign bits set */
static mask_t strip_mask(int nj, int *nv) {
  int tail = nj % 8 ? nj % 8 : 8;
  *nv = nj == NV * VW ? 0 : (nj + 7) / 8;
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(tail), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* nv = 0: a whole strip of 2 vectors; 1 or 2: a last strip, masked */
#define BLOCK_NV(mr)                                                                 \
  switch (nv) {                                                                      \
  case 0: block(mr, 2, 0, last, nseg, kseg, A, lda, B, ldb, C, ldc, bias); break;    \
  case 1: block(mr, 1, 1, last, nseg, kseg, A, lda, B, ldb, C, ldc, bias); break;    \
  default: block(mr, 2, 1, last, nseg, kseg, A, lda, B, ldb, C, ldc, bias); break;   \
  }

#define VT_GEMM_NAME vt_sgemm_rows_seg_avx2
#include "net/vt_gemm_strips.h"

#endif
