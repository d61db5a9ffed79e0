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
 * vector arithmetic (GCC vector extensions: AVX-512 with -march=native,
 * narrower vectors elsewhere). */
#include "net/vt_winograd.h"

#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "net/vt_gemm.h"

/* One vector of channels: as wide as the target's registers, so that no
 * vector value crosses a function boundary wider than the ABI allows. */
#if defined(__AVX512F__)
enum { VL = 16 };
#elif defined(__AVX__)
enum { VL = 8 };
#else
enum { VL = 4 };
#endif
typedef float vf __attribute__((vector_size(VL * sizeof(float))));
typedef int vi __attribute__((vector_size(VL * sizeof(float))));

static inline vf load_n(const float *p, int n) {
  vf v = {0};
  memcpy(&v, p, (size_t)n * sizeof(float));
  return v;
}
static inline vf load_full(const float *p) {
  vf v;
  memcpy(&v, p, sizeof v);
  return v;
}
/* n of the vector's floats; the full-vector case is a plain store (a memcpy of
 * variable size would be a call). */
static inline void store_n(float *p, vf v, int n) {
  if (n == VL)
    memcpy(p, &v, sizeof v);
  else
    memcpy(p, &v, (size_t)n * sizeof(float));
}
/* store_n past the caches where a whole aligned vector allows (AVX-512); the
 * caller fences once the stores are done. */
static inline void store_n_stream(float *p, vf v, int n) {
#ifdef __AVX512F__
  if (n == VL && ((uintptr_t)p & 63) == 0) {
    _mm512_stream_ps(p, (__m512)v);
    return;
  }
#endif
  store_n(p, v, n);
}

static inline vf vmax(vf a, vf b) {
  vi m = a > b;
  return (vf)(((vi)a & m) | ((vi)b & ~m));
}

/* ---- kernel transform: U = G g G^T, once per layer ---------------------- */

static const double G[6][3] = {
    {1.0 / 4, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6},
    {1.0 / 24, -1.0 / 12, 1.0 / 6},
    {0, 0, 1},
};

void vt_winograd4_transform_kernel(const float *kernel, int Cin, int Cout, int Coutp, float *u) {
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
        for (int p0 = 0; p0 < Cout; p0 += VT_WG_PANEL) {
          int pw = Coutp - p0 < VT_WG_PANEL ? Coutp - p0 : VT_WG_PANEL;
          int pe = Cout - p0 < VT_WG_PANEL ? Cout : p0 + VT_WG_PANEL;
          float *dst = u + (size_t)(a * 6 + b) * Cin * Coutp + (size_t)p0 * Cin + (size_t)i * pw - p0;
          for (int o = p0; o < pe; o++) dst[o] = (float)(t0[o] * G[b][0] + t1[o] * G[b][1] + t2[o] * G[b][2]);
        }
      }
  }
  free(t);
}

/* ---- input transform: V = B^T d B ---------------------------------------- */

/* One application of B^T to x[0], x[s], ..., x[5s]. */
static inline void bt6(const vf *x, int s, vf r[6]) {
  vf x0 = x[0], x1 = x[s], x2 = x[2 * s], x3 = x[3 * s], x4 = x[4 * s], x5 = x[5 * s];
  r[0] = 4 * x0 - 5 * x2 + x4;
  r[1] = (x3 + x4) - 4 * (x1 + x2);
  r[2] = (x4 - x3) + 4 * (x1 - x2);
  r[3] = (x4 - x2) + 2 * (x3 - x1);
  r[4] = (x4 - x2) - 2 * (x3 - x1);
  r[5] = 4 * x1 - 5 * x3 + x5;
}

/* V[xi][t][Cin] for tiles t0 .. t0+nt-1 of the row-major grid of tiles whose
 * first row is y0. `in` holds input rows in_y0 .. in_y1-1; taps on any other
 * row (or column) read `zeros` (Cin zero floats), so no tap branches. */
static void input_transform(const float *in, int in_y0, int in_y1, int W, int Cin, int y0,
                            int tiles_x, int t0, int nt, const float *zeros, float *V,
                            size_t xi_stride) {
  for (int t = 0; t < nt; t++) {
    int ty = (t0 + t) / tiles_x, tx = (t0 + t) % tiles_x;
    const float *p[36];
    for (int i = 0; i < 6; i++)
      for (int j = 0; j < 6; j++) {
        int y = y0 + 4 * ty - 1 + i, x = 4 * tx - 1 + j;
        p[i * 6 + j] = y >= in_y0 && y < in_y1 && x >= 0 && x < W
                           ? in + ((size_t)(y - in_y0) * W + x) * Cin
                           : zeros;
      }
    float *v = V + (size_t)t * Cin;
    for (int c = 0; c < Cin; c += VL) {
      int n = Cin - c < VL ? Cin - c : VL;
      vf d[36], col[36];
      if (n == VL)
#pragma GCC unroll 36
        for (int k = 0; k < 36; k++) d[k] = load_full(p[k] + c);
      else
        for (int k = 0; k < 36; k++) d[k] = load_n(p[k] + c, n);
#pragma GCC unroll 6
      for (int j = 0; j < 6; j++) { /* columns: col[a*6 + j] = (B^T d)[a][j] */
        vf r[6];
        bt6(d + j, 6, r);
#pragma GCC unroll 6
        for (int a = 0; a < 6; a++) col[a * 6 + j] = r[a];
      }
#pragma GCC unroll 6
      for (int a = 0; a < 6; a++) { /* rows: V[a][b] = (B^T d B)[a][b] */
        vf r[6];
        bt6(col + a * 6, 1, r);
#pragma GCC unroll 6
        for (int b = 0; b < 6; b++) {
          store_n(v + (size_t)(a * 6 + b) * xi_stride + c, r[b], n);
        }
      }
    }
  }
}

/* ---- output transform: Y = A^T M A, + bias, ReLU, optional 2x2 max-pool ---- */

static inline void at4(const vf *x, int s, vf r[4]) {
  vf x0 = x[0], x1 = x[s], x2 = x[2 * s], x3 = x[3 * s], x4 = x[4 * s], x5 = x[5 * s];
  vf p12 = x1 + x2, m12 = x1 - x2, p34 = x3 + x4, m34 = x3 - x4;
  r[0] = x0 + p12 + p34;
  r[1] = m12 + 2 * m34;
  r[2] = p12 + 4 * p34;
  r[3] = m12 + 8 * m34 + x5;
}

/* Output rows 0 .. rows-1 of the tile grid (relative to its first row, which
 * for pooling must be an even image row): out + (y * W + x) * Cout and
 * pooled + (y/2 * W/2 + x/2) * Cout. */
static void output_transform(const float *M, size_t xi_stride, int Coutp, const float *bias,
                             int Cout, int rows, int W, int tiles_x, int t0, int nt, float *out,
                             float *pooled, int stream) {
  int ph = rows / 2, pw = W / 2;
  for (int t = 0; t < nt; t++) {
    int ty = (t0 + t) / tiles_x, tx = (t0 + t) % tiles_x;
    int ny = rows - 4 * ty < 4 ? rows - 4 * ty : 4, nx = W - 4 * tx < 4 ? W - 4 * tx : 4;
    const float *m = M + (size_t)t * Coutp;
    for (int c = 0; c < Cout; c += VL) {
      int n = Cout - c < VL ? Cout - c : VL;
      vf col[24], y[16], zero = {0};
#pragma GCC unroll 6
      for (int j = 0; j < 6; j++) { /* columns: col[a*6 + j] = (A^T M)[a][j] */
        vf x[6], r[4];
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++) x[i] = load_full(m + (size_t)(i * 6 + j) * xi_stride + c);
        at4(x, 1, r);
#pragma GCC unroll 4
        for (int a = 0; a < 4; a++) col[a * 6 + j] = r[a];
      }
#pragma GCC unroll 4
      for (int a = 0; a < 4; a++) at4(col + a * 6, 1, y + a * 4);
      /* Bias and ReLU commute with the max-pool (the same bias over the
       * window, ReLU monotone): the pool takes the raw sums, so that a
       * pooled-only call adds the bias to 4 values, not 16. */
      vf b = load_full(bias + c);
      if (out)
        for (int a = 0; a < ny; a++)
          for (int k = 0; k < nx; k++)
            store_n(out + ((size_t)(4 * ty + a) * W + 4 * tx + k) * Cout + c,
                    vmax(y[a * 4 + k] + b, zero), n);
      if (pooled)
        for (int a = 0; a < 2 && 2 * ty + a < ph; a++)
          for (int k = 0; k < 2 && 2 * tx + k < pw; k++) {
            const vf *q = y + 2 * a * 4 + 2 * k;
            vf mx = vmax(vmax(q[0], q[1]), vmax(q[4], q[5]));
            float *dst = pooled + ((size_t)(2 * ty + a) * pw + 2 * tx + k) * Cout + c;
            if (stream) store_n_stream(dst, vmax(mx + b, zero), n);
            else store_n(dst, vmax(mx + b, zero), n);
          }
    }
  }
}

/* ---- driver --------------------------------------------------------------- */

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

size_t vt_winograd4_scratch_floats(int rows, int W, int Cin, int Coutp) {
  int tiles = ((rows + 3) / 4) * ((W + 3) / 4);
  size_t T = (size_t)block_tiles(tiles, Cin, Coutp);
  return round16((size_t)Cin) + VT_WG_POS * (xi_stride((int)T, Cin) + xi_stride((int)T, Coutp));
}

void vt_winograd4_conv_rows(const float *u, const float *bias, int Cin, int Cout, int Coutp, int W,
                            const float *in, int in_y0, int in_y1, int y0, int y1, float *out,
                            float *pooled, int stream, float *scratch) {
  int tiles_x = (W + 3) / 4, tiles = ((y1 - y0 + 3) / 4) * tiles_x;
  int T = block_tiles(tiles, Cin, Coutp);
  float *zeros = scratch;
  float *V = zeros + round16((size_t)Cin);
  size_t vs = xi_stride(T, Cin), ms = xi_stride(T, Coutp);
  float *M = V + VT_WG_POS * vs;
  memset(zeros, 0, (size_t)Cin * sizeof(float));
  for (int t0 = 0; t0 < tiles; t0 += T) {
    int nt = tiles - t0 < T ? tiles - t0 : T;
    input_transform(in, in_y0, in_y1, W, Cin, y0, tiles_x, t0, nt, zeros, V, vs);
    for (int xi = 0; xi < VT_WG_POS; xi++)
      for (int p0 = 0; p0 < Coutp; p0 += VT_WG_PANEL) {
        int pw = Coutp - p0 < VT_WG_PANEL ? Coutp - p0 : VT_WG_PANEL;
        vt_sgemm_rows(nt, pw, Cin, V + xi * vs, (size_t)Cin,
                      u + (size_t)xi * Cin * Coutp + (size_t)p0 * Cin, (size_t)pw, M + xi * ms + p0,
                      (size_t)Coutp, NULL);
      }
    output_transform(M, ms, Coutp, bias, Cout, y1 - y0, W, tiles_x, t0, nt, out, pooled, stream);
  }
#ifdef __AVX512F__
  if (stream) _mm_sfence(); /* the streamed stores, ordered before whatever hands the rows on */
#endif
}
