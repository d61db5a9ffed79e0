/* vt_kernels.h: the float32 kernels that exist once per instruction set, as
 * one table per path (portable C, AVX2 + FMA, AVX-512; base/vt_cpu.h), and
 * the table this CPU runs.
 *
 * Each path's kernels live in files named for it (vt_gemm_avx2.c,
 * vt_fp32_avx512.c, ...), which the Makefile compiles for that instruction
 * set alone; everything else is built for the baseline CPU and reaches them
 * only through these tables. The table is chosen once, on the first call of
 * vt_kernels_fp32(), from vt_cpu_isa_fp32(): a packed conv layer keeps the
 * table it was packed with (vt_conv.c). */
#ifndef VT_KERNELS_H
#define VT_KERNELS_H

#include <stddef.h>

#include "base/vt_cpu.h"

typedef struct {
  vt_isa isa;
  /* vt_sgemm_rows_seg (net/vt_gemm.h) */
  void (*sgemm_rows_seg)(int m, int n, int nseg, int kseg, const float *const *A, size_t lda,
                         const float *B, size_t ldb, float *C, size_t ldc, const float *bias);
  /* vt_winograd4_conv_rows (net/vt_winograd.h), on a kernel transformed
   * into panels of winograd_panel columns */
  int winograd_panel;
  void (*winograd4_conv_rows)(const float *u, const float *bias, int Cin, int Cout, int Coutp,
                              int W, const float *in, int in_y0, int in_y1, int y0, int y1,
                              float *out, float *pooled, int stream, float *scratch);
  /* Grid pooling's inner loop: for each of c channels, rs[k] += and m[k] =
   * max over the n pixels of px ([n][c]), the pixels in order, so that every
   * path sums bitwise alike. */
  void (*sum_max_pixels)(const float *px, int n, size_t c, float *rs, float *m);
} vt_kernels;

/* The table of vt_cpu_isa_fp32(), chosen on the first call (thread-safe). */
const vt_kernels *vt_kernels_fp32(void);
/* The table of one path, or NULL if this build has none for it (avx2 and
 * avx512 exist on x86-64 only). Does not check that the CPU can run it. */
const vt_kernels *vt_kernels_for(vt_isa isa);

/* The tables themselves, defined in each path's vt_fp32_*.c. */
extern const vt_kernels vt_kernels_portable;
#if defined(__x86_64__)
extern const vt_kernels vt_kernels_avx2, vt_kernels_avx512;
#endif

#endif
