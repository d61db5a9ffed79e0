/* vt_convnet_wino_body.h: the conv head's Winograd F(4x4, 3x3) forward
 * and kernel gradient (vt_convnet_wino.h), compiled once per kernel path:
 * included by vt_convnet_simd_portable.c, _avx2.c and _avx512.c after
 * vt_vec.h, so its transforms run on 4, 8 or 16-float vectors; the 36
 * products per tile are the path's GEMM (net/vt_gemm.h). */
#include "vt_convnet_wino.h"

#include <string.h>

#include "net/vt_gemm.h"
#include "vt_vec.h"

/* ---- the 1-D transforms, each on values x[0], x[s], x[2s], ... -------------- */

/* B^T (input, 6 -> 6) */
static inline void bt(const vf *x, int s, vf *r, int rs) {
  vf x0 = x[0], x1 = x[s], x2 = x[2 * s], x3 = x[3 * s], x4 = x[4 * s], x5 = x[5 * s];
  vf a = x4 - x2, b = x3 - x1;
  r[0] = 4 * x0 - 5 * x2 + x4;
  r[rs] = x3 + x4 - 4 * (x1 + x2);
  r[2 * rs] = x4 - x3 + 4 * (x1 - x2);
  r[3 * rs] = a + 2 * b;
  r[4 * rs] = a - 2 * b;
  r[5 * rs] = 4 * x1 - 5 * x3 + x5;
}

/* A^T (output, 6 -> 4) */
static inline void at(const vf *x, int s, vf *r, int rs) {
  vf x0 = x[0], x1 = x[s], x2 = x[2 * s], x3 = x[3 * s], x4 = x[4 * s], x5 = x[5 * s];
  vf sum12 = x1 + x2, dif12 = x1 - x2, sum34 = x3 + x4, dif34 = x3 - x4;
  r[0] = x0 + sum12 + sum34;
  r[rs] = dif12 + 2 * dif34;
  r[2 * rs] = sum12 + 4 * sum34;
  r[3 * rs] = dif12 + 8 * dif34 + x5;
}

/* A (output gradient, 4 -> 6): the transpose of at() */
static inline void a6(const vf *y, int s, vf *r, int rs) {
  vf y0 = y[0], y1 = y[s], y2 = y[2 * s], y3 = y[3 * s];
  vf even = y0 + y2, odd = y1 + y3, even4 = y0 + 4 * y2, odd8 = 2 * y1 + 8 * y3;
  r[0] = y0;
  r[rs] = even + odd;
  r[2 * rs] = even - odd;
  r[3 * rs] = even4 + odd8;
  r[4 * rs] = even4 - odd8;
  r[5 * rs] = y3;
}

/* G (kernel, 3 -> 6) */
static inline void g6(const vf *x, int s, vf *r, int rs) {
  vf x0 = x[0], x1 = x[s], x2 = x[2 * s];
  vf even = x0 + x2;
  r[0] = x0 * (1.0f / 4);
  r[rs] = (even + x1) * (-1.0f / 6);
  r[2 * rs] = (even - x1) * (-1.0f / 6);
  r[3 * rs] = x0 * (1.0f / 24) + x1 * (1.0f / 12) + x2 * (1.0f / 6);
  r[4 * rs] = x0 * (1.0f / 24) - x1 * (1.0f / 12) + x2 * (1.0f / 6);
  r[5 * rs] = x2;
}

/* G^T (kernel gradient, 6 -> 3): the transpose of g6() */
static inline void gt(const vf *u, int s, vf *r, int rs) {
  vf u0 = u[0], u1 = u[s], u2 = u[2 * s], u3 = u[3 * s], u4 = u[4 * s], u5 = u[5 * s];
  r[0] = u0 * (1.0f / 4) - (u1 + u2) * (1.0f / 6) + (u3 + u4) * (1.0f / 24);
  r[rs] = (u2 - u1) * (1.0f / 6) + (u3 - u4) * (1.0f / 12);
  r[2 * rs] = (u3 + u4 - u1 - u2) * (1.0f / 6) + u5;
}

/* ---- layout -------------------------------------------------------------------- */

/* Tiles of 4x4 outputs covering an H x W image (the last row and column
 * of tiles may hang over the edge); T = tiles_y * tiles_x, numbered row-
 * major. Images go one at a time, so that V and M stay in the L2 cache
 * between the transforms and the products. The scratch holds U [36][Cin]
 * [Cout], V [T][36][Cin], M [T][36][Cout], Cin zeros and Cin * Cout
 * floats more for the kernel gradient: a tile's 36 positions
 * together, so that the transforms read and write one block per tile (36
 * planes far apart made every tile touch 36 pages), and the products of
 * position xi read rows 36 * C apart. */
typedef struct {
  int ty, tx;
  size_t T;
  float *U, *V, *M, *zeros;
} tiling;

static tiling tile(int H, int W, int Cin, int Cout, float *scratch) {
  tiling t;
  t.ty = (H + 3) / 4;
  t.tx = (W + 3) / 4;
  t.T = (size_t)t.ty * t.tx;
  t.U = scratch;
  t.V = t.U + (size_t)36 * Cin * Cout;
  t.M = t.V + (size_t)36 * t.T * Cin;
  t.zeros = t.M + (size_t)36 * t.T * Cout + (size_t)Cin * Cout;
  memset(t.zeros, 0, (size_t)Cin * sizeof(float));
  return t;
}

/* V = B^T d B for every tile and input channel. Taps outside the image
 * read `zeros` (Cin zero floats), so the channel loop has no branch. */
static void input_transform(const tiling *t, const float *in, int H, int W, int Cin,
                            const float *zeros) {
  size_t tile_no = 0;
  for (int y0 = -1; y0 < 4 * t->ty - 1; y0 += 4)
      for (int x0 = -1; x0 < 4 * t->tx - 1; x0 += 4, tile_no++) {
        const float *p[36];
        for (int i = 0; i < 6; i++)
          for (int j = 0; j < 6; j++) {
            int y = y0 + i, x = x0 + j;
            p[i * 6 + j] = y >= 0 && y < H && x >= 0 && x < W ? in + ((size_t)y * W + x) * Cin
                                                               : zeros;
          }
        float *v = t->V + tile_no * 36 * Cin;
        for (int c = 0; c < Cin; c += VL) {
          int nc = Cin - c < VL ? Cin - c : VL;
          vf d[36], tmp[36];
#pragma GCC unroll 36
          for (int k = 0; k < 36; k++) d[k] = vload(p[k] + c, nc);
#pragma GCC unroll 6
          for (int j = 0; j < 6; j++) bt(d + j, 6, tmp + j, 6); /* columns */
#pragma GCC unroll 6
          for (int i = 0; i < 6; i++) bt(tmp + 6 * i, 1, d + 6 * i, 1); /* rows */
#pragma GCC unroll 36
          for (int xi = 0; xi < 36; xi++) vstore(v + (size_t)xi * Cin + c, d[xi], nc);
        }
      }
}

static void wino_forward(float *out, const float *in, const float *k, const float *bias, int n,
                         int H, int W, int Cin, int Cout, float *scratch) {
  tiling t = tile(H, W, Cin, Cout, scratch);
  /* U = G g G^T for every (input, output) channel pair */
  for (int i = 0; i < Cin; i++)
    for (int o = 0; o < Cout; o += VL) {
      int no = Cout - o < VL ? Cout - o : VL;
      vf g[9], tmp[18], u[36];
      for (int r = 0; r < 9; r++) g[r] = vload(k + ((size_t)r * Cin + i) * Cout + o, no);
      for (int s = 0; s < 3; s++) g6(g + s, 3, tmp + s, 3);         /* tmp [6][3] = G g */
      for (int a = 0; a < 6; a++) g6(tmp + 3 * a, 1, u + 6 * a, 1); /* u [6][6] = tmp G^T */
      for (int xi = 0; xi < 36; xi++) vstore(t.U + ((size_t)xi * Cin + i) * Cout + o, u[xi], no);
    }
  for (int b = 0; b < n; b++) {
    const float *src = in + (size_t)b * H * W * Cin;
    float *dst = out + (size_t)b * H * W * Cout;
    input_transform(&t, src, H, W, Cin, t.zeros);
    for (int xi = 0; xi < 36; xi++)
      vt_sgemm_rows((int)t.T, Cout, Cin, t.V + (size_t)xi * Cin, (size_t)36 * Cin,
                    t.U + (size_t)xi * Cin * Cout, (size_t)Cout, t.M + (size_t)xi * Cout,
                    (size_t)36 * Cout, NULL);
    /* Y = A^T M A, the part of each tile inside the image */
    size_t tile_no = 0;
    for (int y0 = 0; y0 < H; y0 += 4)
      for (int x0 = 0; x0 < W; x0 += 4, tile_no++)
        for (int o = 0; o < Cout; o += VL) {
          int no = Cout - o < VL ? Cout - o : VL;
          vf m[36], tmp[24], y[16];
#pragma GCC unroll 36
          for (int xi = 0; xi < 36; xi++) m[xi] = vload(t.M + (tile_no * 36 + xi) * Cout + o, no);
#pragma GCC unroll 6
          for (int j = 0; j < 6; j++) at(m + j, 6, tmp + j, 6); /* tmp [4][6] */
#pragma GCC unroll 4
          for (int i = 0; i < 4; i++) at(tmp + 6 * i, 1, y + 4 * i, 1); /* y [4][4] */
          vf bv = bias ? vload(bias + o, no) : (vf){0};
          for (int i = 0; i < 4 && y0 + i < H; i++)
            for (int j = 0; j < 4 && x0 + j < W; j++)
              vstore(dst + ((size_t)(y0 + i) * W + x0 + j) * Cout + o, y[4 * i + j] + bv, no);
        }
  }
}

#if defined(__AVX512F__) /* VL == 16 (vt_vec.h) */
#include <immintrin.h>
/* r [16][16] transposed in place: four butterfly stages, each swapping the
 * off-diagonal blocks of size s between rows i and i + s (two-source
 * permutes, one vpermt2ps each; the intrinsic, as clang, which builds the
 * fuzzers, lacks GCC's __builtin_shuffle). */
static inline void transpose16(vf *r) {
#pragma GCC unroll 4
  for (int s = 8; s >= 1; s /= 2) {
    vi lo, hi;
#pragma GCC unroll 16
    for (int l = 0; l < 16; l++) {
      lo[l] = l & s ? 16 + l - s : l;
      hi[l] = l & s ? 16 + l : l + s;
    }
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
      if (!(i & s)) {
        vf a = r[i], b = r[i + s];
        r[i] = (vf)_mm512_permutex2var_ps((__m512)a, (__m512i)lo, (__m512)b);
        r[i + s] = (vf)_mm512_permutex2var_ps((__m512)a, (__m512i)hi, (__m512)b);
      }
  }
}
#endif

static void wino_kernel_grad(float *dk, const float *dout, const float *in, int n, int H, int W,
                             int Cin, int Cout, float *scratch) {
  tiling t = tile(H, W, Cin, Cout, scratch);
  /* here M holds dM transposed, [36][Cout][T], and U the sum dU^T [36][Cout][Cin];
   * V's space past one image's tiles takes one position's product [Cout][Cin] */
  float *prod = t.M + (size_t)36 * t.T * Cout;
  enum { TB = 16 };
  vf block[36][TB];
  for (int b = 0; b < n; b++) {
    const float *src = in + (size_t)b * H * W * Cin, *dy = dout + (size_t)b * H * W * Cout;
    input_transform(&t, src, H, W, Cin, t.zeros);
    /* M^T = (A dY A^T)^T, dY zero outside the image: blocks of TB tiles
     * staged in `block` (L1), then copied out one channel at a time, so
     * that the stores of the transposed layout are contiguous runs */
    for (size_t t0 = 0; t0 < t.T; t0 += TB) {
      int nt = t.T - t0 < TB ? (int)(t.T - t0) : TB;
      for (int o = 0; o < Cout; o += VL) {
        int no = Cout - o < VL ? Cout - o : VL;
        for (int tt = 0; tt < nt; tt++) {
          int y0 = (int)((t0 + tt) / t.tx) * 4, x0 = (int)((t0 + tt) % t.tx) * 4;
          vf d[16], tmp[24], m[36];
          for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
              d[4 * i + j] = y0 + i < H && x0 + j < W
                                 ? vload(dy + ((size_t)(y0 + i) * W + x0 + j) * Cout + o, no)
                                 : (vf){0};
#pragma GCC unroll 4
          for (int j = 0; j < 4; j++) a6(d + j, 4, tmp + j, 4); /* tmp [6][4] */
#pragma GCC unroll 6
          for (int i = 0; i < 6; i++) a6(tmp + 4 * i, 1, m + 6 * i, 1); /* m [6][6] */
#pragma GCC unroll 36
          for (int xi = 0; xi < 36; xi++) block[xi][tt] = m[xi];
        }
        for (int xi = 0; xi < 36; xi++) {
          float *dst = t.M + ((size_t)xi * Cout + o) * t.T + t0;
#if defined(__AVX512F__) /* VL == TB == 16: a square block, transposed in registers */
          for (int tt = nt; tt < TB; tt++) block[xi][tt] = (vf){0};
          transpose16(block[xi]);
          for (int c = 0; c < no; c++) vstore(dst + (size_t)c * t.T, block[xi][c], nt);
#else
          for (int c = 0; c < no; c++)
            for (int tt = 0; tt < nt; tt++) dst[(size_t)c * t.T + tt] = block[xi][tt][c];
#endif
        }
      }
    }
    /* dU^T [36][Cout][Cin] += M^T V, position by position: the images of
     * the batch summed in order */
    for (int xi = 0; xi < 36; xi++) {
      float *acc = t.U + (size_t)xi * Cout * Cin, *dst = b ? prod : acc;
      vt_sgemm_rows(Cout, Cin, (int)t.T, t.M + (size_t)xi * Cout * t.T, t.T,
                    t.V + (size_t)xi * Cin, (size_t)36 * Cin, dst, (size_t)Cin, NULL);
      if (b)
        for (size_t j = 0; j < (size_t)Cout * Cin; j += VL) {
          int nj = (size_t)Cout * Cin - j < VL ? (int)((size_t)Cout * Cin - j) : VL;
          vstore(acc + j, vload(acc + j, nj) + vload(prod + j, nj), nj);
        }
    }
  }
  /* dg = G^T dU G, added to dk (vectors over input channels) */
  for (int o = 0; o < Cout; o++)
    for (int i = 0; i < Cin; i += VL) {
      int ni = Cin - i < VL ? Cin - i : VL;
      vf u[36], tmp[18], g[9];
      for (int xi = 0; xi < 36; xi++) u[xi] = vload(t.U + ((size_t)xi * Cout + o) * Cin + i, ni);
      for (int c = 0; c < 6; c++) gt(u + c, 6, tmp + c, 6);          /* tmp [3][6] = G^T u */
      for (int r = 0; r < 3; r++) gt(tmp + 6 * r, 1, g + 3 * r, 1); /* g [3][3] = tmp G */
      for (int r = 0; r < 9; r++)
        for (int c = 0; c < ni; c++) dk[((size_t)r * Cin + i + c) * Cout + o] += g[r][c];
    }
}
