/* vt_conv.c: 3x3 conv + bias + ReLU, 2x2 max-pool and grid pooling, each as
 * a naive reference (direct loops, the algorithm as written in vt_conv.h) and
 * a fast version. */
#include "net/vt_conv.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "net/vt_kernels.h"
#include "net/vt_winograd.h"

/* ---------------------------------------------------------------------------
 * 3x3 conv: naive reference. Accumulates in double so that it is a truer
 * reference than any fp32 fast path it checks. */

void vt_conv3x3_relu_naive(const float *in, int H, int W, int Cin, const float *kernel,
                           const float *bias, int Cout, float *out) {
  double *acc = vt_xmalloc((size_t)Cout * sizeof(double));
  for (int y = 0; y < H; y++) {
    for (int x = 0; x < W; x++) {
      for (int o = 0; o < Cout; o++) acc[o] = bias[o];
      for (int dy = 0; dy < 3; dy++) {
        int sy = y + dy - 1;
        if (sy < 0 || sy >= H) continue;
        for (int dx = 0; dx < 3; dx++) {
          int sx = x + dx - 1;
          if (sx < 0 || sx >= W) continue;
          const float *px = in + ((size_t)sy * W + sx) * Cin;
          const float *k = kernel + (size_t)(dy * 3 + dx) * Cin * Cout;
          for (int i = 0; i < Cin; i++)
            for (int o = 0; o < Cout; o++) acc[o] += (double)k[(size_t)i * Cout + o] * px[i];
        }
      }
      float *dst = out + ((size_t)y * W + x) * Cout;
      for (int o = 0; o < Cout; o++) dst[o] = acc[o] > 0 ? (float)acc[o] : 0.0f;
    }
  }
  free(acc);
}

/* ---------------------------------------------------------------------------
 * Packed weights: Winograd, or the direct path (for Cin < 16, where
 * Winograd's transforms cost more than they save): the path's GEMM reading
 * zero-padded input rows in place, bias and ReLU fused into its stores. */

struct vt_conv3x3_packed {
  const vt_kernels *k;  /* the path's kernels, chosen when packing */
  vt_conv_algo algo;
  int cin, cout, coutp; /* coutp: cout rounded up to 16 (Winograd's M rows) */
  float *bias;          /* [coutp], zero padded */
  float *weights;       /* GEMM: [9*cin][cout] (the HWIO kernel); Winograd: [36][cin][coutp] */
};

static vt_conv_algo auto_algo(int Cin) { return Cin >= 16 ? VT_CONV_WINOGRAD : VT_CONV_GEMM; }
static int padded_cout(int Cout) { return (Cout + 15) & ~15; }

vt_conv3x3_packed *vt_conv3x3_pack(const float *kernel, const float *bias, int Cin, int Cout,
                                   vt_conv_algo algo) {
  if (algo == VT_CONV_AUTO) algo = auto_algo(Cin);
  int coutp = padded_cout(Cout);
  size_t nw;
  if (vt_size_mul3(algo == VT_CONV_WINOGRAD ? VT_WG_POS : 9, (size_t)Cin,
                   (size_t)(algo == VT_CONV_WINOGRAD ? coutp : Cout), &nw) < 0)
    return NULL;
  vt_conv3x3_packed *p = vt_xcalloc(1, sizeof *p);
  p->k = vt_kernels_fp32();
  p->algo = algo, p->cin = Cin, p->cout = Cout, p->coutp = coutp;
  p->bias = vt_aligned_alloc((size_t)coutp * sizeof(float));
  p->weights = vt_aligned_alloc(nw * sizeof(float));
  if (!p->bias || !p->weights) {
    vt_conv3x3_packed_free(p);
    return NULL;
  }
  memset(p->bias, 0, (size_t)coutp * sizeof(float));
  memcpy(p->bias, bias, (size_t)Cout * sizeof(float));
  if (algo == VT_CONV_WINOGRAD)
    vt_winograd4_transform_kernel(kernel, Cin, Cout, coutp, p->k->winograd_panel, p->weights);
  else
    memcpy(p->weights, kernel, nw * sizeof(float));
  return p;
}

void vt_conv3x3_packed_free(vt_conv3x3_packed *p) {
  if (!p) return;
  free(p->bias);
  free(p->weights);
  free(p);
}

vt_conv_algo vt_conv3x3_packed_algo(const vt_conv3x3_packed *p) { return p->algo; }

/* Every packed conv runs on a range of output rows, reading only the input
 * rows it needs, so that two convs can be chained through a band buffer
 * (vt_conv3x3_pair_pool_packed). Conventions as vt_winograd4_conv_rows: `in`
 * holds rows in_y0..in_y1-1, out gets rows y0..y1-1, pooled rows y0/2... */

/* Direct path: sub-bands of an even number of rows (so a fused pool never
 * straddles two of them). A sub-band's input rows are copied with a zero
 * pixel on either side (and zero rows above and below the image), so that
 * every output row is one vt_sgemm_rows_seg call reading its three input
 * rows in place. Its conv output goes to `out`, or to scratch when only the
 * pooled map is wanted. About 256 KB of scratch. */
enum { DIRECT_BAND_FLOATS = 64 * 1024 };

static int packed_band_rows(int W, int Cin, int Cout) {
  int rows = DIRECT_BAND_FLOATS / ((W + 2) * Cin + W * Cout);
  return rows < 2 ? 2 : rows & ~1;
}

static size_t padded_rows_floats(int rows, int W, int Cin) {
  return ((size_t)(rows + 2) * (W + 2) * Cin + 15) & ~(size_t)15;
}

static size_t scratch_floats(vt_conv_algo algo, int rows, int W, int Cin, int Cout) {
  if (algo == VT_CONV_WINOGRAD) return vt_winograd4_scratch_floats(rows, W, Cin, padded_cout(Cout));
  int band = packed_band_rows(W, Cin, Cout);
  return padded_rows_floats(band, W, Cin) + (size_t)band * W * Cout;
}

size_t vt_conv3x3_packed_scratch_floats(const vt_conv3x3_packed *p, int H, int W) {
  return scratch_floats(p->algo, H, W, p->cin, p->cout);
}

size_t vt_conv3x3_auto_scratch_floats(int H, int W, int Cin, int Cout) {
  return scratch_floats(auto_algo(Cin), H, W, Cin, Cout);
}

static void gemm_conv_rows(const vt_conv3x3_packed *p, int W, const float *in, int in_y0,
                           int in_y1, int y0, int y1, float *out, float *pooled, float *scratch) {
  int Cin = p->cin, Cout = p->cout, rows = packed_band_rows(W, Cin, Cout);
  size_t prow = (size_t)(W + 2) * Cin; /* floats per padded row */
  float *padded = scratch;
  float *band = padded + padded_rows_floats(rows, W, Cin);
  for (int b0 = y0; b0 < y1; b0 += rows) {
    int b1 = b0 + rows < y1 ? b0 + rows : y1;
    for (int y = b0 - 1; y <= b1; y++) { /* padded row y - (b0 - 1) */
      float *dst = padded + (size_t)(y - b0 + 1) * prow;
      memset(dst, 0, (size_t)Cin * sizeof(float));
      memset(dst + (size_t)(W + 1) * Cin, 0, (size_t)Cin * sizeof(float));
      if (y >= in_y0 && y < in_y1)
        memcpy(dst + Cin, in + (size_t)(y - in_y0) * W * Cin, (size_t)W * Cin * sizeof(float));
      else
        memset(dst + Cin, 0, (size_t)W * Cin * sizeof(float));
    }
    float *dst = out ? out + (size_t)(b0 - y0) * W * Cout : band;
    for (int y = b0; y < b1; y++) {
      const float *a[3];
      for (int dy = 0; dy < 3; dy++) a[dy] = padded + (size_t)(y - b0 + dy) * prow;
      p->k->sgemm_rows_seg(W, Cout, 3, 3 * Cin, a, (size_t)Cin, p->weights, (size_t)Cout,
                           dst + (size_t)(y - b0) * W * Cout, (size_t)Cout, p->bias);
    }
    if (pooled) vt_maxpool2x2(dst, b1 - b0, W, Cout, pooled + (size_t)((b0 - y0) / 2) * (W / 2) * Cout);
  }
}

/* stream: the Winograd path's pooled rows go past the caches (the direct
 * path, for Cin < 16, is never a block's last conv in VGG16 and ignores it) */
static void conv_rows(const vt_conv3x3_packed *p, int W, const float *in, int in_y0, int in_y1,
                      int y0, int y1, float *out, float *pooled, int stream, float *scratch) {
  if (p->algo == VT_CONV_WINOGRAD)
    p->k->winograd4_conv_rows(p->weights, p->bias, p->cin, p->cout, p->coutp, W, in, in_y0, in_y1,
                              y0, y1, out, pooled, stream, scratch);
  else
    gemm_conv_rows(p, W, in, in_y0, in_y1, y0, y1, out, pooled, scratch);
}

void vt_conv3x3_relu_packed(const vt_conv3x3_packed *p, const float *in, int H, int W,
                            float *out, float *scratch) {
  conv_rows(p, W, in, 0, H, 0, H, out, NULL, 0, scratch);
}

void vt_conv3x3_relu_pool_packed(const vt_conv3x3_packed *p, const float *in, int H, int W,
                                 float *out, float *pooled, int stream, float *scratch) {
  conv_rows(p, W, in, 0, H, 0, H, out, pooled, stream, scratch);
}

/* Two convs and a pool in bands of R rows of the second conv's output. Band j
 * needs rows jR-1 .. (j+1)R of the first conv's output; the band buffer holds
 * exactly those, the first two carried over from band j-1 (its last two), the
 * other R computed now. So each conv computes every row once, and the first
 * conv's output only ever lives in the band buffer (and in out_a if asked).
 * R: a band buffer of at most 768 KB (most of the L2), in whole Winograd
 * tile rows: 8 rows at block1 and block2 of a 224x224 input. */
enum { PAIR_BAND_FLOATS = 192 * 1024 };

static int pair_band_rows(int W, int C) {
  int r = PAIR_BAND_FLOATS / (W * C) - 2;
  r &= ~3;
  return r < 4 ? 4 : r;
}

static size_t pair_scratch_floats(vt_conv_algo algo_a, vt_conv_algo algo_b, int W, int Cin, int C1,
                                  int Cout) {
  int R = pair_band_rows(W, C1);
  size_t buf = ((size_t)(R + 2) * W * C1 + 15) & ~(size_t)15;
  size_t sa = scratch_floats(algo_a, R + 1, W, Cin, C1);
  size_t sb = scratch_floats(algo_b, R, W, C1, Cout);
  return buf + (sa > sb ? sa : sb);
}

size_t vt_conv3x3_pair_scratch_floats(const vt_conv3x3_packed *a, const vt_conv3x3_packed *b,
                                      int H, int W) {
  return pair_scratch_floats(a->algo, b->algo, W, a->cin, a->cout, b->cout);
}

size_t vt_conv3x3_pair_auto_scratch_floats(int H, int W, int Cin, int C1, int Cout) {
  return pair_scratch_floats(auto_algo(Cin), auto_algo(C1), W, Cin, C1, Cout);
}

void vt_conv3x3_pair_pool_packed(const vt_conv3x3_packed *a, const vt_conv3x3_packed *b,
                                 const float *in, int H, int W, float *out_a, float *out_b,
                                 float *pooled, int stream, float *scratch) {
  int R = pair_band_rows(W, a->cout);
  size_t row_a = (size_t)W * a->cout;
  float *buf = scratch;
  float *rest = buf + (((size_t)(R + 2) * row_a + 15) & ~(size_t)15);
  int have0 = 0, have1 = 0; /* the buffer holds rows have0..have1-1 of conv a */
  for (int y0 = 0; y0 < H; y0 += R) {
    int y1 = y0 + R < H ? y0 + R : H;
    int need0 = y0 > 0 ? y0 - 1 : 0, need1 = y1 < H ? y1 + 1 : H;
    /* Carry rows need0..have1-1 to the top, then compute have1..need1-1. */
    memmove(buf, buf + (size_t)(need0 - have0) * row_a, (size_t)(have1 - need0) * row_a * sizeof(float));
    conv_rows(a, W, in, 0, H, have1, need1, buf + (size_t)(have1 - need0) * row_a, NULL, 0, rest);
    if (out_a)
      memcpy(out_a + (size_t)have1 * row_a, buf + (size_t)(have1 - need0) * row_a,
             (size_t)(need1 - have1) * row_a * sizeof(float));
    have0 = need0, have1 = need1;
    conv_rows(b, W, buf, have0, have1, y0, y1, out_b ? out_b + (size_t)y0 * W * b->cout : NULL,
              pooled ? pooled + (size_t)(y0 / 2) * (W / 2) * b->cout : NULL, stream, rest);
  }
}

/* ---------------------------------------------------------------------------
 * 2x2 max-pool, stride 2, floor. */

void vt_maxpool2x2_naive(const float *in, int H, int W, int C, float *out) {
  int oh = H / 2, ow = W / 2;
  for (int y = 0; y < oh; y++)
    for (int x = 0; x < ow; x++)
      for (int c = 0; c < C; c++) {
        float m = -FLT_MAX;
        for (int dy = 0; dy < 2; dy++)
          for (int dx = 0; dx < 2; dx++) {
            float v = in[((size_t)(2 * y + dy) * W + (2 * x + dx)) * C + c];
            if (v > m) m = v;
          }
        out[((size_t)y * ow + x) * C + c] = m;
      }
}

/* Same result; the channel loop is innermost over four contiguous source rows
 * of C floats, which the compiler vectorises. */
void vt_maxpool2x2(const float *in, int H, int W, int C, float *out) {
  int oh = H / 2, ow = W / 2;
  size_t c = (size_t)C;
  for (int y = 0; y < oh; y++) {
    const float *r0 = in + (size_t)(2 * y) * W * c;
    const float *r1 = r0 + (size_t)W * c;
    float *dst = out + (size_t)y * ow * c;
    for (int x = 0; x < ow; x++) {
      const float *a = r0 + (size_t)(2 * x) * c, *b = a + c;
      const float *d = r1 + (size_t)(2 * x) * c, *e = d + c;
      float *o = dst + (size_t)x * c;
      for (size_t k = 0; k < c; k++) {
        float m0 = a[k] > b[k] ? a[k] : b[k];
        float m1 = d[k] > e[k] ? d[k] : e[k];
        o[k] = m0 > m1 ? m0 : m1;
      }
    }
  }
}

/* ---------------------------------------------------------------------------
 * Grid (adaptive) pooling, PyTorch's cell boundaries. */

static int cell_start(int i, int n, int g) { return (int)(((long long)i * n) / g); }
static int cell_end(int i, int n, int g) { return (int)(((long long)(i + 1) * n + g - 1) / g); }

void vt_grid_pool_naive(const float *in, int H, int W, int C, int g, float *avg, float *max) {
  for (int i = 0; i < g; i++) {
    int y0 = cell_start(i, H, g), y1 = cell_end(i, H, g);
    for (int j = 0; j < g; j++) {
      int x0 = cell_start(j, W, g), x1 = cell_end(j, W, g);
      for (int c = 0; c < C; c++) {
        double s = 0;
        float m = -FLT_MAX;
        for (int y = y0; y < y1; y++)
          for (int x = x0; x < x1; x++) {
            float v = in[((size_t)y * W + x) * C + c];
            s += v;
            if (v > m) m = v;
          }
        size_t at = ((size_t)i * g + j) * C + c;
        if (avg) avg[at] = (float)(s / ((double)(y1 - y0) * (x1 - x0)));
        if (max) max[at] = m;
      }
    }
  }
}

/* One cell at a time, for grids whose cells are not unions of the fine
 * cells below (odd map sizes, g = 3). Sums are float per row of the cell,
 * then added into a double total per cell, which keeps a 224x224 global
 * average within ~1e-7 relative. */
static void pool_cells(const float *in, int H, int W, int C, int g, float *avg, float *max) {
  const vt_kernels *k = vt_kernels_fp32();
  size_t c = (size_t)C;
  float *rowsum = vt_xmalloc(c * sizeof(float));
  float *scratch_max = max ? NULL : vt_xmalloc(c * sizeof(float));
  double *sum = vt_xmalloc(c * sizeof(double));
  for (int i = 0; i < g; i++) {
    int y0 = cell_start(i, H, g), y1 = cell_end(i, H, g);
    for (int j = 0; j < g; j++) {
      int x0 = cell_start(j, W, g), x1 = cell_end(j, W, g);
      size_t at = ((size_t)i * g + j) * c;
      float *m = max ? max + at : scratch_max;
      for (size_t q = 0; q < c; q++) m[q] = -FLT_MAX, sum[q] = 0;
      for (int y = y0; y < y1; y++) {
        memset(rowsum, 0, c * sizeof(float));
        k->sum_max_pixels(in + ((size_t)y * W + x0) * c, x1 - x0, c, rowsum, m);
        for (size_t q = 0; q < c; q++) sum[q] += rowsum[q];
      }
      if (avg) {
        double inv = 1.0 / ((double)(y1 - y0) * (x1 - x0));
        for (size_t q = 0; q < c; q++) avg[at + q] = (float)(sum[q] * inv);
      }
    }
  }
  free(rowsum);
  free(scratch_max);
  free(sum);
}

/* The fine grid F (4, 2 or 1: the largest dividing both sides) that every
 * grid dividing it is derived from. It depends on the map size only, never
 * on which grids are asked for together, so a grid's averages are bitwise
 * the same whether the extractor pools it with others or the trainer pools
 * it alone from stored maps. */
static int fine_grid(int H, int W) {
  for (int f = 4; f > 1; f /= 2)
    if (H % f == 0 && W % f == 0) return f;
  return 1;
}

/* One pass over the map: per fine cell a double sum (fed by float sums over
 * one row of the cell) and a max. sum, max: [F][F][C]. */
static void pool_fine(const float *in, int H, int W, int C, int F, double *sum, float *max) {
  const vt_kernels *kern = vt_kernels_fp32();
  size_t c = (size_t)C, cells = (size_t)F * F;
  int ch = H / F, cw = W / F;
  float *rowsum = vt_xmalloc((size_t)F * c * sizeof(float));
  for (size_t k = 0; k < cells * c; k++) sum[k] = 0, max[k] = -FLT_MAX;
  for (int y = 0; y < H; y++) {
    size_t row0 = (size_t)(y / ch) * F * c;
    for (size_t k = 0; k < (size_t)F * c; k++) rowsum[k] = 0;
    const float *px = in + (size_t)y * W * c;
    for (int j = 0; j < F; j++, px += (size_t)cw * c)
      kern->sum_max_pixels(px, cw, c, rowsum + (size_t)j * c, max + row0 + (size_t)j * c);
    for (size_t k = 0; k < (size_t)F * c; k++) sum[row0 + k] += rowsum[k];
  }
  free(rowsum);
}

/* Grid g (dividing F) from the fine cells of an H x W map. */
static void derive_grid(const double *sum, const float *max, int H, int W, int C, int F, int g, float *avg,
                        float *mx) {
  size_t c = (size_t)C;
  int f = F / g;
  double inv = 1.0 / ((double)(H / g) * (W / g));
  for (int a = 0; a < g; a++)
    for (int b = 0; b < g; b++) {
      size_t at = ((size_t)a * g + b) * c;
      for (size_t k = 0; k < c; k++) {
        double s = 0;
        float m = -FLT_MAX;
        for (int u = a * f; u < (a + 1) * f; u++)
          for (int v = b * f; v < (b + 1) * f; v++) {
            size_t fine = ((size_t)u * F + v) * c + k;
            s += sum[fine];
            m = max[fine] > m ? max[fine] : m;
          }
        if (avg) avg[at + k] = (float)(s * inv);
        if (mx) mx[at + k] = m;
      }
    }
}

void vt_avgpool_k(const float *in, int H, int W, int C, int k, float *out) {
  const float scale = 1.0f / (float)(k * k);
  for (int oy = 0; oy < H / k; oy++)
    for (int ox = 0; ox < W / k; ox++) {
      float *o = out + ((size_t)oy * (W / k) + ox) * C;
      for (int c = 0; c < C; c++) o[c] = 0.0f;
      for (int dy = 0; dy < k; dy++)
        for (int dx = 0; dx < k; dx++) {
          const float *p = in + ((size_t)(oy * k + dy) * W + ox * k + dx) * C;
          for (int c = 0; c < C; c++) o[c] += p[c];
        }
      for (int c = 0; c < C; c++) o[c] *= scale;
    }
}

void vt_grid_pool_all(const float *in, int H, int W, int C, const int *grids, int n, float *out) {
  int F = fine_grid(H, W), any_fine = 0;
  for (int i = 0; i < n; i++) any_fine |= F % grids[i] == 0;
  size_t cells = (size_t)F * F * C;
  double *sum = any_fine ? vt_xmalloc(cells * sizeof(double)) : NULL;
  float *max = any_fine ? vt_xmalloc(cells * sizeof(float)) : NULL;
  if (any_fine) pool_fine(in, H, W, C, F, sum, max);
  for (int i = 0; i < n; i++) {
    size_t len = (size_t)grids[i] * grids[i] * C;
    if (F % grids[i] == 0) derive_grid(sum, max, H, W, C, F, grids[i], out, out + len);
    else pool_cells(in, H, W, C, grids[i], out, out + len);
    out += 2 * len;
  }
  free(sum);
  free(max);
}

void vt_grid_pool(const float *in, int H, int W, int C, int g, float *avg, float *max) {
  int F = fine_grid(H, W);
  if (F % g) {
    pool_cells(in, H, W, C, g, avg, max);
    return;
  }
  size_t cells = (size_t)F * F * C;
  double *fsum = vt_xmalloc(cells * sizeof(double));
  float *fmax = vt_xmalloc(cells * sizeof(float));
  pool_fine(in, H, W, C, F, fsum, fmax);
  derive_grid(fsum, fmax, H, W, C, F, g, avg, max);
  free(fsum);
  free(fmax);
}
