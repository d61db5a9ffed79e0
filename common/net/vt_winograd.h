/* vt_winograd.h: 3x3 conv + bias + ReLU by Winograd F(4x4, 3x3), the fast
 * path behind vt_conv3x3_relu_packed for Cin >= 16. Internal to vt_conv.c. */
#ifndef VT_WINOGRAD_H
#define VT_WINOGRAD_H

#include <stddef.h>

/* A 4x4 output tile is computed from a 6x6 input tile: 36 "positions" xi,
 * each a [tiles][Cin] x [Cin][Cout] product. */
enum { VT_WG_POS = 36 };

/* u = G g G^T of every (input, output) channel pair of an HWIO kernel,
 * computed in double, zero for the outputs Cout..Coutp-1. Layout: for each
 * of the 36 positions, panels of `panel` output channels (the last one
 * narrower), each [Cin][panel]: the column strip the path's GEMM kernel
 * works on (vt_kernels.winograd_panel: 64, 16 or 8), so that it streams
 * each strip as one contiguous block (read from memory in strips of a
 * wider panel, block5's 38 MB of u took 1.6x longer with AVX2). */
void vt_winograd4_transform_kernel(const float *kernel, int Cin, int Cout, int Coutp, int panel, float *u);

/* Scratch for a call that computes `rows` output rows of width W. */
size_t vt_winograd4_scratch_floats(int rows, int W, int Cin, int Coutp);

/* How a call on `tiles` tiles goes: T tiles per block; the scratch holds
 * `zeros` floats (Cin zeros, rounded up), then V, 36 matrices [T][Cin] vs
 * floats apart, then M, 36 matrices [T][Coutp] ms floats apart. */
typedef struct {
  int T;
  size_t zeros, vs, ms;
} vt_winograd4_blocking;
vt_winograd4_blocking vt_winograd4_blocks(int tiles, int Cin, int Coutp);

/* vt_kernels.winograd4_conv_rows (one per path, net/vt_fp32_body.h):
 * output rows y0 .. y1-1 of ReLU(conv(in) + bias) for an image of width W,
 * from the transformed kernel u. `in` holds input rows in_y0 .. in_y1-1 (row
 * in_y0 first), which must cover rows y0-1 .. y1 where they exist in the
 * image (rows outside the image are the zero padding; leave them out of
 * in_y0 .. in_y1). out (if not NULL) gets rows y0 .. y1-1 (row y0 first),
 * [W][Cout] each. pooled (if not NULL) gets the 2x2 max-pool of those rows,
 * rows y0/2 .. y1/2-1 (row y0/2 first, [W/2][Cout] each); y0 must then be
 * even. stream: write pooled with non-temporal stores, past the caches (see
 * vt_vgg_workspace.stream). bias has Coutp floats. scratch:
 * vt_winograd4_scratch_floats(y1 - y0, W, Cin, Coutp). */

#endif
