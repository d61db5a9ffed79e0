/* vt_conv.h: the compute kernels of the VGG prefix, each with a *_naive
 * reference beside the fast version. All tensors are NHWC for one image
 * ([H][W][C], C fastest), float32. */
#ifndef VT_CONV_H
#define VT_CONV_H

#include <stddef.h>

/* 3x3 convolution, stride 1, zero padding 1, + bias, then ReLU.
 * in [H][W][Cin], kernel [3][3][Cin][Cout] (Keras HWIO, cross-correlation:
 * out[y][x][o] = b[o] + sum k[dy][dx][i][o] * in[y+dy-1][x+dx-1][i]),
 * bias [Cout], out [H][W][Cout]. */
void vt_conv3x3_relu_naive(const float *in, int H, int W, int Cin, const float *kernel,
                           const float *bias, int Cout, float *out);

/* Fast version (BLIS GEMM). scratch must hold vt_conv3x3_scratch_floats(W, Cin)
 * floats, 64-byte aligned. Uses BLIS single-threaded: parallelism is per image. */
size_t vt_conv3x3_scratch_floats(int W, int Cin);
void vt_conv3x3_relu(const float *in, int H, int W, int Cin, const float *kernel,
                     const float *bias, int Cout, float *out, float *scratch);

/* 2x2 max-pool, stride 2 (Keras 'valid': odd trailing row/column dropped).
 * in [H][W][C] -> out [H/2][W/2][C]. */
void vt_maxpool2x2_naive(const float *in, int H, int W, int C, float *out);
void vt_maxpool2x2(const float *in, int H, int W, int C, float *out);

/* Grid pooling over a g x g grid of cells, as PyTorch's AdaptiveAvgPool2d /
 * AdaptiveMaxPool2d: cell (i, j) covers rows floor(i*H/g) .. ceil((i+1)*H/g)-1
 * and the same for columns. avg and max are [g][g][C] (either may be NULL).
 * g = 1 is global average / max pooling. Requires g <= H and g <= W. */
void vt_grid_pool_naive(const float *in, int H, int W, int C, int g, float *avg, float *max);
void vt_grid_pool(const float *in, int H, int W, int C, int g, float *avg, float *max);

#endif
