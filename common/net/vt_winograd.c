/* vt_winograd.c: 3x3 conv + bias + ReLU (+ 2x2 max-pool) by Winograd
 * F(4x4, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural
 * Networks", 2015).
 *
 * Each 4x4 output tile is A^T [ (G g G^T) . (B^T d B) ] A for its 6x6 input
 * tile d. Summed over input channels, the elementwise product becomes 36
 * independent GEMMs, one per position xi of the 6x6 transformed tile:
 * M[xi][tile][o] = sum_i V[xi][tile][i] * U[xi][i][o]. That is 36 multiplies
 * per 16 outputs instead of 144: a quarter of direct convolution's FMAs.
 *
 * The tiles are processed in blocks small enough that a block's V and M stay
 * in cache between the input transform, the GEMMs and the output transform.
 * In NHWC every transform works on a vector of channels at once with plain
 * vector arithmetic (GCC vector extensions), written once in vt_fp32_body.h
 * and compiled for each path's vectors. This file has what every path
 * shares: the kernel transform, and how the tiles are split into blocks. */
#include "net/vt_winograd.h"

#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"


/* ---- kernel transform: U = G g G^T, once per layer ---------------------- */

static const double G[6][3] = {
    {1.0 / 4, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6},
    {1.0 / 24, -1.0 / 12, 1.0 / 6},
    {0, 0, 1},
};

void vt_winograd4_transform_kernel(const float *kernel, int Cin, int Cout, int Coutp, int panel, float *u) {
  memset(u, 0, (size_t)VT_WG_POS * Cin * Coutp * sizeof(float));
  /* Output channels innermost, so that every loop reads and writes
   * contiguous rows: t[a][s][o] = (G g)[a][s] for one input channel. */
  double *t = vt_xmalloc((size_t)18 * Cout * sizeof(double));
  for (int i = 0; i < Cin; i++) {
    const float *g[3][3];
    for (int r = 0; r < 3; r++)
      for (int s = 0; s < 3; s++) g[r][s] = kernel + ((size_t)(r * 3 + s) * Cin + i) * Cout;
    for (int a = 0; a < 6; a++)
      for (int s = 0; s < 3; s++) {
        double *ta = t + (size_t)(a * 3 + s) * Cout;
        for (int o = 0; o < Cout; o++)
          ta[o] = G[a][0] * g[0][s][o] + G[a][1] * g[1][s][o] + G[a][2] * g[2][s][o];
      }
    for (int a = 0; a < 6; a++)
      for (int b = 0; b < 6; b++) {
        const double *t0 = t + (size_t)(a * 3) * Cout, *t1 = t0 + Cout, *t2 = t1 + Cout;
        for (int p0 = 0; p0 < Cout; p0 += panel) {
          int pw = Coutp - p0 < panel ? Coutp - p0 : panel;
          int pe = Cout - p0 < panel ? Cout : p0 + panel;
          float *dst = u + (size_t)(a * 6 + b) * Cin * Coutp + (size_t)p0 * Cin + (size_t)i * pw - p0;
          for (int o = p0; o < pe; o++) dst[o] = (float)(t0[o] * G[b][0] + t1[o] * G[b][1] + t2[o] * G[b][2]);
        }
      }
  }
  free(t);
}

/* ---- blocks of tiles ------------------------------------------------------ */

/* Tiles per block: enough that V and M of a block fill about half of a 1 MB
 * L2, in multiples of the GEMM's 6-row register block. Each block streams all
 * of U through the cache, though, which pays while U is at most half the L3
 * (block3: 9 MB); beyond that (block4/5, 19-38 MB) the layer runs as one
 * block, streaming U once, and V and M live in the L3 (at a 224x224 input, 49
 * tiles in block4, 16 in block5). Measured: block3_conv2 5.9 -> 5.2 ms with
 * the 16 MB limit instead of 8 MB; 32 MB makes block4_conv1 1.7x slower. */
enum { BLOCK_FLOATS = 128 * 1024, U_BIG_FLOATS = 4 * 1024 * 1024 };

static int block_tiles(int tiles, int Cin, int Coutp) {
  if ((size_t)VT_WG_POS * Cin * Coutp > U_BIG_FLOATS) return tiles;
  size_t per_tile = (size_t)VT_WG_POS * (size_t)(Cin + Coutp);
  size_t t = BLOCK_FLOATS / per_tile / 6 * 6;
  if (t < 6) t = 6;
  return t < (size_t)tiles ? (int)t : tiles;
}

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Floats from one position's matrix to the next in V and M: a block's rows,
 * plus one cache line so that the 36 positions of a tile, read or written
 * together by the transforms, do not all fall into the same L1 sets (with
 * power-of-two strides such as 24 tiles x 64 channels x 4 bytes they did,
 * and the transforms ran at a third of their speed). */
static size_t xi_stride(int T, int C) { return round16((size_t)T * C) + 16; }

vt_winograd4_blocking vt_winograd4_blocks(int tiles, int Cin, int Coutp) {
  int T = block_tiles(tiles, Cin, Coutp);
  return (vt_winograd4_blocking){T, round16((size_t)Cin), xi_stride(T, Cin), xi_stride(T, Coutp)};
}

size_t vt_winograd4_scratch_floats(int rows, int W, int Cin, int Coutp) {
  vt_winograd4_blocking b = vt_winograd4_blocks(((rows + 3) / 4) * ((W + 3) / 4), Cin, Coutp);
  return b.zeros + VT_WG_POS * (b.vs + b.ms);
}
