/* vt_fp32_portable.c: the portable path's kernel table (net/vt_kernels.h):
 * the vector kernels of vt_fp32_body.h on 4-float vectors (the baseline
 * CPU's: SSE on x86-64, NEON on aarch64, scalar code where there are none),
 * the plain C GEMM. No intrinsics: builds and runs on any CPU. */
#include "net/vt_gemm.h"
#include "net/vt_kernels.h"

#define VL 4
#define VT_FP32_GEMM vt_sgemm_rows_seg_portable
#define VT_FP32_PANEL 8
#include "net/vt_fp32_body.h"

const vt_kernels vt_kernels_portable = {VT_ISA_PORTABLE, vt_sgemm_rows_seg_portable, VT_FP32_PANEL, winograd4_conv_rows,
                                        sum_max_pixels};
