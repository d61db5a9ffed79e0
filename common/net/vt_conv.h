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

/* Packed weights: the kernel transformed once into the layout of the fastest
 * algorithm for its shape, then read-only, so one packed layer serves every
 * thread. VT_CONV_AUTO picks Winograd F(4x4,3x3) for Cin >= 16 and the direct
 * GEMM (a register-blocked kernel reading input rows in place) below that;
 * the others force one (tests, benchmarks). A packed layer runs the kernels
 * of the path chosen for this CPU when it was packed (net/vt_kernels.h). */
typedef enum { VT_CONV_AUTO, VT_CONV_GEMM, VT_CONV_WINOGRAD } vt_conv_algo;
typedef struct vt_conv3x3_packed vt_conv3x3_packed;

/* Returns NULL + reason on allocation failure. kernel/bias as above; neither
 * is referenced after the call. */
vt_conv3x3_packed *vt_conv3x3_pack(const float *kernel, const float *bias, int Cin, int Cout,
                                   vt_conv_algo algo);
void vt_conv3x3_packed_free(vt_conv3x3_packed *p);
vt_conv_algo vt_conv3x3_packed_algo(const vt_conv3x3_packed *p);

/* Scratch for one call at H x W, in floats (64-byte aligned). The second
 * form needs only the shape: what a layer packed with VT_CONV_AUTO needs. */
size_t vt_conv3x3_packed_scratch_floats(const vt_conv3x3_packed *p, int H, int W);
size_t vt_conv3x3_auto_scratch_floats(int H, int W, int Cin, int Cout);

/* out [H][W][Cout] = ReLU(conv(in) + bias), as vt_conv3x3_relu_naive. */
void vt_conv3x3_relu_packed(const vt_conv3x3_packed *p, const float *in, int H, int W,
                            float *out, float *scratch);

/* The same followed by the 2x2 max-pool, fused: pooled [H/2][W/2][Cout] and,
 * unless out is NULL, the conv output too. stream: pooled is written with
 * non-temporal stores, past the caches, for memory the CPU will not read
 * soon (vt_vgg_workspace.stream); the values are the same. */
void vt_conv3x3_relu_pool_packed(const vt_conv3x3_packed *p, const float *in, int H, int W,
                                 float *out, float *pooled, int stream, float *scratch);

/* Two convs then the 2x2 max-pool (a VGG block of two convs), in bands of
 * rows so that the first conv's output never leaves the cache: a: Cin ->
 * C1, b: C1 -> Cout (b's Cin must be a's Cout). pooled [H/2][W/2][Cout];
 * out_a [H][W][C1] and out_b [H][W][Cout] are written too unless NULL;
 * stream as above. */
size_t vt_conv3x3_pair_scratch_floats(const vt_conv3x3_packed *a, const vt_conv3x3_packed *b,
                                      int H, int W);
size_t vt_conv3x3_pair_auto_scratch_floats(int H, int W, int Cin, int C1, int Cout);
void vt_conv3x3_pair_pool_packed(const vt_conv3x3_packed *a, const vt_conv3x3_packed *b,
                                 const float *in, int H, int W, float *out_a, float *out_b,
                                 float *pooled, int stream, float *scratch);

/* 2x2 max-pool, stride 2 (Keras 'valid': odd trailing row/column dropped).
 * in [H][W][C] -> out [H/2][W/2][C]. */
void vt_maxpool2x2_naive(const float *in, int H, int W, int C, float *out);
void vt_maxpool2x2(const float *in, int H, int W, int C, float *out);

/* k x k average pooling, stride k (PyTorch's nn.AvgPool2d(k): a trailing
 * H % k rows and W % k columns are dropped): out [H/k][W/k][C]. What
 * `vggtap-extract --map-pool avgK` stores in place of a tap's map. */
void vt_avgpool_k(const float *in, int H, int W, int C, int k, float *out);

/* Grid pooling over a g x g grid of cells, as PyTorch's AdaptiveAvgPool2d /
 * AdaptiveMaxPool2d: cell (i, j) covers rows floor(i*H/g) .. ceil((i+1)*H/g)-1
 * and the same for columns. avg and max are [g][g][C] (either may be NULL).
 * g = 1 is global average / max pooling. Requires g <= H and g <= W. */
void vt_grid_pool_naive(const float *in, int H, int W, int C, int g, float *avg, float *max);
void vt_grid_pool(const float *in, int H, int W, int C, int g, float *avg, float *max);

/* Every grid of grids[0..n) at once, into out laid out per grid in the given
 * order as avg [g][g][C] then max [g][g][C] (the extractor's pooled layout).
 * Grids dividing the map's fine grid (4, 2 or 1, the largest dividing H and
 * W: grids 1, 2, 4 at block1_pool..block4_pool) come from one pass over the
 * map; others pool cell by cell. Each grid's values are bitwise those of
 * vt_grid_pool for it alone. */
void vt_grid_pool_all(const float *in, int H, int W, int C, const int *grids, int n, float *out);

#endif
