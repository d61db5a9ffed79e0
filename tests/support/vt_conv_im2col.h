/* vt_conv_im2col.h: 3x3 conv + bias + ReLU by im2col + BLIS sgemm, for tests
 * and benchmarks only (tests/support/ is linked into tests/ and tools/, not
 * into the programs). Same contract as vt_conv3x3_relu_naive (net/vt_conv.h).
 * scratch must hold vt_conv3x3_im2col_scratch_floats(W, Cin) floats, 64-byte
 * aligned. Runs BLIS on one thread: callers run one image per thread. */
#ifndef VT_CONV_IM2COL_H
#define VT_CONV_IM2COL_H

#include <stddef.h>

size_t vt_conv3x3_im2col_scratch_floats(int W, int Cin);
void vt_conv3x3_relu_im2col(const float *in, int H, int W, int Cin, const float *kernel,
                            const float *bias, int Cout, float *out, float *scratch);

#endif
