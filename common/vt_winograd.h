/* vt_winograd.h: 3x3 conv + bias + ReLU by Winograd F(4x4, 3x3), the fast
 * path behind vt_conv3x3_relu_packed for Cin >= 16. Internal to vt_conv.c. */
#ifndef VT_WINOGRAD_H
#define VT_WINOGRAD_H

#include <stddef.h>

/* A 4x4 output tile is computed from a 6x6 input tile: 36 "positions" xi,
 * each a [tiles][Cin] x [Cin][Cout] product. */
enum { VT_WG_POS = 36 };

/* u[36][Cin][Coutp] = G g G^T of every (input, output) channel pair of an HWIO
 * kernel, zero in the columns Cout..Coutp-1. Computed in double. */
void vt_winograd4_transform_kernel(const float *kernel, int Cin, int Cout, int Coutp, float *u);

size_t vt_winograd4_scratch_floats(int H, int W, int Cin, int Coutp);

/* out [H][W][Cout] = ReLU(conv(in) + bias); with pooled != NULL also (or,
 * with out == NULL, only) the 2x2 max-pool [H/2][W/2][Cout] of it. bias has
 * Coutp floats. */
void vt_winograd4_conv(const float *u, const float *bias, int Cin, int Cout, int Coutp,
                       const float *in, int H, int W, float *out, float *pooled, float *scratch);

#endif
