/* vt_convnet_simd.h: the conv head's vector loops (batch norm, ReLU, 2x2
 * pools, float16 maps to float32; vt_convnet_simd_body.h) and its
 * Winograd convolutions (vt_convnet_wino_body.h) as one table per kernel
 * path, so that a baseline build runs them on the widest vectors the CPU
 * has. The path is base/vt_cpu.h's float32 one (VGGTAP_ISA caps it, as
 * for the prefix's kernels). The functions are those of
 * vt_convnet_layers.h, vt_convnet_wino.h and vt_map_source.h, same names
 * without the vt_ / vt_cn_ prefix. Internal to train/. */
#ifndef VT_CONVNET_SIMD_H
#define VT_CONVNET_SIMD_H

#include "vt_convnet_layers.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
  void (*batchnorm_stats)(vt_cn_bn_stats *s, const float *x, int rows, int C);
  void (*batchnorm_forward)(float *y, const float *x, const float *mean, const float *invstd,
                            const float *gamma, const float *beta, int rows, int C, int relu);
  void (*batchnorm_backward_sums)(double *sum_dy, double *sum_dy_xhat, const float *dout,
                                  const float *relu_out, const float *x, const float *mean,
                                  const float *invstd, int rows, int C);
  void (*batchnorm_backward)(float *dx, const float *dout, const float *relu_out, const float *x,
                             const float *mean, const float *invstd, const float *gamma,
                             const float *sum_dy, const float *sum_dy_xhat, double count, int rows,
                             int C);
  void (*avgpool2_forward)(float *out, const float *in, int n, int H, int W, int C);
  void (*maxpool2_forward)(float *out, uint8_t *arg, const float *in, int n, int H, int W, int C);
  void (*wino_forward)(float *out, const float *in, const float *k, const float *bias, int n, int H,
                       int W, int Cin, int Cout, float *scratch);
  void (*wino_kernel_grad)(float *dk, const float *dout, const float *in, int n, int H, int W,
                           int Cin, int Cout, float *scratch);
  /* vt_halves_to_floats (vt_map_source.h) */
  void (*halves_to_floats)(const uint16_t *in, size_t n, float *out);
} vt_cn_simd;

extern const vt_cn_simd vt_cn_simd_portable, vt_cn_simd_avx2, vt_cn_simd_avx512;

/* The table of the float32 path in use (decided once, thread-safe). */
const vt_cn_simd *vt_cn_simd_chosen(void);

#endif
