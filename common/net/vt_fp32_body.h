/* vt_fp32_body.h: the float32 kernels written once over vectors of VL
 * floats (GCC vector extensions), included by each path's file
 * (vt_fp32_portable.c, vt_fp32_avx2.c, vt_fp32_avx512.c), which defines
 * before the #include:
 *   VL                  floats per vector (4, 8, 16)
 *   VT_FP32_GEMM        its vt_sgemm_rows_seg (net/vt_gemm.h)
 *   VT_FP32_PANEL       the column strip that GEMM works on: the width of
 *                       the transformed kernel's panels (vt_winograd.h)
 *   VT_FP32_STREAM(p,v) optional: a non-temporal store of a whole vector to
 *                       p (aligned to a vector), and VT_FP32_FENCE() after
 * and then its table (net/vt_kernels.h) from the static functions here:
 *   winograd4_conv_rows  Winograd F(4x4, 3x3) on a range of rows: input
 *                        transform, 36 GEMMs, output transform with bias,
 *                        ReLU and the fused max-pool (vt_winograd.c has the
 *                        kernel transform and the algorithm's description)
 *   sum_max_pixels       grid pooling's inner loop
 * Every lane computes what the scalar code would, in the same order, so the
 * transforms give the same bits on every path; only the GEMM's rounding
 * differs (net/vt_gemm.h). */
#include <stdint.h>
#include <string.h>

#include "net/vt_winograd.h"

/* One vector of channels, VL floats: as wide as the path's registers, so
 * that no vector value crosses a function boundary wider than the ABI
 * allows. */
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
/* store_n past the caches where the path can (VT_FP32_STREAM: a whole
 * aligned vector); the caller fences once the stores are done. */
static inline void store_n_stream(float *p, vf v, int n) {
#ifdef VT_FP32_STREAM
  if (n == VL && ((uintptr_t)p & (sizeof(vf) - 1)) == 0) {
    VT_FP32_STREAM(p, v);
    return;
  }
#endif
  store_n(p, v, n);
}

static inline vf vmax(vf a, vf b) {
  vi m = a > b;
  return (vf)(((vi)a & m) | ((vi)b & ~m));
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

/* vt_kernels.winograd4_conv_rows (vt_winograd.h) on this path's vectors and GEMM */
static void winograd4_conv_rows(const float *u, const float *bias, int Cin, int Cout, int Coutp, int W,
                                const float *in, int in_y0, int in_y1, int y0, int y1, float *out,
                                float *pooled, int stream, float *scratch) {
  int tiles_x = (W + 3) / 4, tiles = ((y1 - y0 + 3) / 4) * tiles_x;
  vt_winograd4_blocking b = vt_winograd4_blocks(tiles, Cin, Coutp);
  int T = b.T;
  size_t vs = b.vs, ms = b.ms;
  float *zeros = scratch;
  float *V = zeros + b.zeros;
  float *M = V + VT_WG_POS * vs;
  memset(zeros, 0, (size_t)Cin * sizeof(float));
  for (int t0 = 0; t0 < tiles; t0 += T) {
    int nt = tiles - t0 < T ? tiles - t0 : T;
    input_transform(in, in_y0, in_y1, W, Cin, y0, tiles_x, t0, nt, zeros, V, vs);
    for (int xi = 0; xi < VT_WG_POS; xi++)
      for (int p0 = 0; p0 < Coutp; p0 += VT_FP32_PANEL) {
        int pw = Coutp - p0 < VT_FP32_PANEL ? Coutp - p0 : VT_FP32_PANEL;
        const float *a = V + xi * vs;
        VT_FP32_GEMM(nt, pw, 1, Cin, &a, (size_t)Cin, u + (size_t)xi * Cin * Coutp + (size_t)p0 * Cin,
                     (size_t)pw, M + xi * ms + p0, (size_t)Coutp, NULL);
      }
    output_transform(M, ms, Coutp, bias, Cout, y1 - y0, W, tiles_x, t0, nt, out, pooled, stream);
  }
#ifdef VT_FP32_STREAM
  if (stream) VT_FP32_FENCE(); /* the streamed stores, ordered before whatever hands the rows on */
#endif
}

/* ---- grid pooling ----------------------------------------------------------- */

/* Per channel k: rs[k] += px[0][k] + ... + px[n-1][k] and m[k] = the max of
 * m[k] and those, added and compared pixel by pixel in order. gcc -O2 does
 * not vectorise the plain loop (it would need alias checks), and this is the
 * extractor's whole pooling cost. */
static void sum_max_pixels(const float *px, int n, size_t c, float *rs, float *m) {
  size_t k = 0;
  for (; k + 4 * VL <= c; k += 4 * VL) {
    vf s[4], mx[4];
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) s[j] = load_full(rs + k + j * VL), mx[j] = load_full(m + k + j * VL);
    for (int x = 0; x < n; x++) {
      const float *p = px + (size_t)x * c + k;
#pragma GCC unroll 4
      for (int j = 0; j < 4; j++) {
        vf v = load_full(p + j * VL);
        s[j] += v;
        mx[j] = vmax(mx[j], v);
      }
    }
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) store_n(rs + k + j * VL, s[j], VL), store_n(m + k + j * VL, mx[j], VL);
  }
  for (; k < c; k++) {
    float sk = rs[k], mk = m[k];
    for (int x = 0; x < n; x++) {
      float v = px[(size_t)x * c + k];
      sk += v;
      mk = v > mk ? v : mk;
    }
    rs[k] = sk, m[k] = mk;
  }
}
