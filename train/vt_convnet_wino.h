/* vt_convnet_wino.h: the 3x3 conv of the conv head by Winograd F(4x4, 3x3)
 * (Lavin & Gray 2015), forward and kernel gradient, for a batch of images.
 * Internal to vt_convnet_layers.c, which documents the conv itself.
 *
 * Each 4x4 output tile is A^T [U . V] A with U = G g G^T (the kernel) and
 * V = B^T d B (its 6x6 input tile): summed over input channels, the
 * elementwise product becomes 36 matrix products, one per position xi of
 * the 6x6 tile, with a quarter of direct convolution's multiplies. The
 * kernel gradient is the same chain backwards: dU = sum over tiles of
 * V^T (A dY A^T), 36 products again, and dg = G^T dU G. */
#ifndef VT_CONVNET_WINO_H
#define VT_CONVNET_WINO_H

#include <stddef.h>

/* Floats of scratch for images of H x W (any number: they go one by one). */
size_t vt_cn_wino_scratch_floats(int H, int W, int Cin, int Cout);
/* out [n][H][W][Cout] = conv(in [n][H][W][Cin], k [3][3][Cin][Cout]) (+ bias) */
void vt_cn_wino_forward(float *out, const float *in, const float *k, const float *bias, int n,
                        int H, int W, int Cin, int Cout, float *scratch);
/* dk [3][3][Cin][Cout] += the kernel gradient given dout [n][H][W][Cout] */
void vt_cn_wino_kernel_grad(float *dk, const float *dout, const float *in, int n, int H, int W,
                            int Cin, int Cout, float *scratch);

#endif
