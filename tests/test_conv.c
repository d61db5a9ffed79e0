/* test_conv.c: the naive kernels against tiny hand-computed cases, then every
 * fast kernel against its naive reference on odd sizes. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "net/vt_conv.h"
#include "net/vt_gemm.h"
#include "net/vt_vgg.h"
#include "net/vt_weights.h"

#include "support/vt_conv_im2col.h"
#include "vt_test.h"


static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float frand(void) { /* uniform in [-1, 1) */
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (float)((rng_state >> 40) * (1.0 / (1 << 23))) - 1.0f;
}
static float *rand_buf(size_t n, float scale) {
  float *p = vt_aligned_alloc(n * sizeof(float) + 64);
  for (size_t i = 0; i < n; i++) p[i] = scale * frand();
  return p;
}

/* max |a - b| / max |b| over n values (0 if b is all zero and a == b). */
static double rel_err(const float *a, const float *b, size_t n) {
  double d = 0, m = 0;
  for (size_t i = 0; i < n; i++) {
    double e = fabs((double)a[i] - b[i]);
    if (!(e <= d)) d = e; /* NaN propagates as failure */
    if (fabs(b[i]) > m) m = fabs(b[i]);
  }
  return m > 0 ? d / m : d;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
  double d = 0;
  for (size_t i = 0; i < n; i++) {
    double e = fabs((double)a[i] - b[i]);
    if (!(e <= d)) d = e;
  }
  return d;
}

static int equal_floats(const float *a, const float *b, size_t n) {
  return memcmp(a, b, n * sizeof(float)) == 0;
}

/* ------------------------------------------------------------------------ */
/* Hand-computed cases for the references. */

static void test_conv_naive_by_hand(void) {
  /* 3x3 single-channel input 1..9, all-ones kernel, bias 0: each output is
   * the sum of its in-bounds 3x3 neighbourhood. */
  float in[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  float ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  float zero = 0, out[9];
  float sums[9] = {12, 21, 16, 27, 45, 33, 24, 39, 28};
  vt_conv3x3_relu_naive(in, 3, 3, 1, ones, &zero, 1, out);
  CHECK(equal_floats(out, sums, 9), "all-ones kernel: got %g %g %g / %g %g %g / %g %g %g",
        out[0], out[1], out[2], out[3], out[4], out[5], out[6], out[7], out[8]);

  /* Only k[0][0] = 1: cross-correlation reads in[y-1][x-1] (a flipped
   * convolution would read in[y+1][x+1]). */
  float corner[9] = {1, 0, 0, 0, 0, 0, 0, 0, 0};
  float shifted[9] = {0, 0, 0, 0, 1, 2, 0, 4, 5};
  vt_conv3x3_relu_naive(in, 3, 3, 1, corner, &zero, 1, out);
  CHECK(equal_floats(out, shifted, 9), "k[0][0] kernel is not a down-right shift");

  /* ReLU after bias: bias -30 on the all-ones kernel keeps only 45 and 33,
   * 39 -> 15, 3, 9. */
  float minus30 = -30, relu[9] = {0, 0, 0, 0, 15, 3, 0, 9, 0};
  vt_conv3x3_relu_naive(in, 3, 3, 1, ones, &minus30, 1, out);
  CHECK(equal_floats(out, relu, 9), "bias + ReLU");

  /* Channels: 1x1 image (only the centre tap sees data), Cin 2, Cout 3.
   * k[1][1] = [[1, 2, -1], [10, 20, -10]] (rows: input channel), input
   * (3, 4), bias (1, 2, 3): out = (1+3+40, 2+6+80, relu(3-3-40)) = (44, 88, 0). */
  float kc[9 * 2 * 3] = {0};
  float kcentre[6] = {1, 2, -1, 10, 20, -10};
  memcpy(kc + 4 * 6, kcentre, sizeof(kcentre));
  float px[2] = {3, 4}, b3[3] = {1, 2, 3}, o3[3], want3[3] = {44, 88, 0};
  vt_conv3x3_relu_naive(px, 1, 1, 2, kc, b3, 3, o3);
  CHECK(equal_floats(o3, want3, 3), "channel mixing: got %g %g %g", o3[0], o3[1], o3[2]);
}

static void test_maxpool_naive_by_hand(void) {
  /* 3x5, one channel: the last row and column are dropped. */
  float in[15] = {1, 9, 2, 3, 100,
                  4, 5, 8, 7, 100,
                  100, 100, 100, 100, 100};
  float out[2], want[2] = {9, 8};
  vt_maxpool2x2_naive(in, 3, 5, 1, out);
  CHECK(equal_floats(out, want, 2), "maxpool 3x5: got %g %g", out[0], out[1]);
  /* Two channels, all negative: the max is not clamped at 0. */
  float in2[8] = {-1, -8, -2, -7, -3, -6, -4, -5};
  float out2[2], want2[2] = {-1, -5};
  vt_maxpool2x2_naive(in2, 2, 2, 2, out2);
  CHECK(equal_floats(out2, want2, 2), "maxpool negatives: got %g %g", out2[0], out2[1]);
}

static void test_grid_pool_naive_by_hand(void) {
  /* 5x5 input v[y][x] = 5y + x, g = 2. PyTorch cells: rows 0..2 and 2..4
   * (floor(5/2) = 2, ceil(5/2) = 3), the same for columns; they overlap. */
  float in[25];
  for (int i = 0; i < 25; i++) in[i] = (float)i;
  float avg[4], max[4];
  /* cell (0,0): rows 0-2, cols 0-2: mean = centre v[1][1] = 6, max 12.
   * cell (0,1): cols 2-4: mean 8, max 14. cell (1,0): rows 2-4: mean 16,
   * max 22. cell (1,1): mean 18, max 24. */
  float want_avg[4] = {6, 8, 16, 18}, want_max[4] = {12, 14, 22, 24};
  vt_grid_pool_naive(in, 5, 5, 1, 2, avg, max);
  CHECK(equal_floats(avg, want_avg, 4), "grid avg: got %g %g %g %g", avg[0], avg[1], avg[2],
        avg[3]);
  CHECK(equal_floats(max, want_max, 4), "grid max: got %g %g %g %g", max[0], max[1], max[2],
        max[3]);
  /* 4x3 input, g = 3: rows split 0..1, 1..2, 2..3 (floor(4/3)=1,
   * ceil(4/3)=2; floor(8/3)=2, ceil(8/3)=3), columns one each. v = 3y + x.
   * Row (0, 0): mean of v[0..1][0] = (0 + 3) / 2. */
  float in43[12];
  for (int i = 0; i < 12; i++) in43[i] = (float)i;
  float a9[9], want9[9] = {1.5f, 2.5f, 3.5f, 4.5f, 5.5f, 6.5f, 7.5f, 8.5f, 9.5f};
  vt_grid_pool_naive(in43, 4, 3, 1, 3, a9, NULL);
  CHECK(equal_floats(a9, want9, 9), "grid avg 4x3 g=3");
  /* g = 1 is the global mean / max. */
  vt_grid_pool_naive(in, 5, 5, 1, 1, avg, max);
  CHECK(avg[0] == 12 && max[0] == 24, "global pool: %g %g", avg[0], max[0]);
}

/* ------------------------------------------------------------------------ */
/* Fast kernels against the references. */

/* The conv paths under test: im2col + BLIS (tests/support/) and the packed
 * ones, plain and with the 2x2 max-pool fused (with and without the conv
 * output). */
enum { PATH_BLIS, PATH_GEMM, PATH_WINO, NPATHS };
static const char *path_name[NPATHS] = {"blis", "gemm", "winograd"};
/* Relative to max |ref|, which on a tiny output (2x2, Cout 1) can be small
 * next to the terms summed: direct sums stay well within 5e-5 there.
 * Winograd F(4x4,3x3) trades exactness for 4x fewer multiplies (its
 * transforms scale terms by up to ~100 before they cancel), hence 2e-4. Any
 * indexing bug gives errors of order 1. */
static const double path_tol[NPATHS] = {5e-5, 5e-5, 2e-4};

static double worst_err[NPATHS];

static void conv_fast_vs_naive(int H, int W, int Cin, int Cout) {
  size_t nin = (size_t)H * W * Cin, nout = (size_t)H * W * Cout;
  size_t npool = (size_t)(H / 2) * (W / 2) * Cout;
  float *in = rand_buf(nin, 1.0f);
  float *k = rand_buf((size_t)9 * Cin * Cout, 1.0f / sqrtf(9.0f * Cin));
  float *b = rand_buf((size_t)Cout, 0.2f);
  float *ref = vt_xmalloc(nout * sizeof(float)), *ref_pool = vt_xmalloc((npool + 1) * sizeof(float));
  /* One extra float past the end is a canary for out-of-bounds writes. */
  float *got = vt_xmalloc((nout + 1) * sizeof(float));
  float *got_pool = vt_xmalloc((npool + 1) * sizeof(float));
  vt_conv3x3_relu_naive(in, H, W, Cin, k, b, Cout, ref);
  vt_maxpool2x2_naive(ref, H, W, Cout, ref_pool);
  for (int path = 0; path < NPATHS; path++) {
    vt_conv3x3_packed *p = NULL;
    size_t ns = vt_conv3x3_im2col_scratch_floats(W, Cin);
    if (path != PATH_BLIS) {
      p = vt_conv3x3_pack(k, b, Cin, Cout, path == PATH_GEMM ? VT_CONV_GEMM : VT_CONV_WINOGRAD);
      CHECK(p != NULL, "pack: %s", vt_failure_reason());
      if (!p) continue;
      ns = vt_conv3x3_packed_scratch_floats(p, H, W);
    }
    float *scratch = vt_aligned_alloc(ns * sizeof(float));
    const char *name = path_name[path];
    got[nout] = 12345.0f;
    if (p)
      vt_conv3x3_relu_packed(p, in, H, W, got, scratch);
    else
      vt_conv3x3_relu_im2col(in, H, W, Cin, k, b, Cout, got, scratch);
    double e = rel_err(got, ref, nout);
    CHECK(e < path_tol[path], "%s conv %dx%d Cin %d Cout %d: rel err %g", name, H, W, Cin, Cout, e);
    CHECK(got[nout] == 12345.0f, "%s conv %dx%dx%d->%d wrote past its output", name, H, W, Cin, Cout);
    if (e > worst_err[path]) worst_err[path] = e;
    if (p) {
      /* Fused pool, conv output kept: both as the unfused path computes. */
      float *got2 = vt_xmalloc(nout * sizeof(float));
      got_pool[npool] = 777.0f;
      vt_conv3x3_relu_pool_packed(p, in, H, W, got2, got_pool, 0, scratch);
      CHECK(equal_floats(got2, got, nout), "%s conv+pool %dx%dx%d->%d: conv output differs", name,
            H, W, Cin, Cout);
      e = rel_err(got_pool, ref_pool, npool);
      CHECK(e < path_tol[path], "%s conv+pool %dx%dx%d->%d: pool rel err %g", name, H, W, Cin,
            Cout, e);
      CHECK(got_pool[npool] == 777.0f, "%s conv+pool %dx%dx%d->%d wrote past the pooled output",
            name, H, W, Cin, Cout);
      /* Pooled output only. */
      float *pool2 = vt_xmalloc((npool + 1) * sizeof(float));
      vt_conv3x3_relu_pool_packed(p, in, H, W, NULL, pool2, 0, scratch);
      CHECK(equal_floats(pool2, got_pool, npool), "%s pool-only %dx%dx%d->%d differs", name, H, W,
            Cin, Cout);
      /* Streamed past the caches (into 64-byte aligned memory, where whole
       * vectors take that path): the same values, nothing past the end. */
      float *pool3 = vt_aligned_alloc((npool + 1) * sizeof(float));
      pool3[npool] = 777.0f;
      vt_conv3x3_relu_pool_packed(p, in, H, W, NULL, pool3, 1, scratch);
      CHECK(equal_floats(pool3, got_pool, npool) && pool3[npool] == 777.0f,
            "%s pool-only streamed %dx%dx%d->%d differs", name, H, W, Cin, Cout);
      free(got2), free(pool2), free(pool3);
      vt_conv3x3_packed_free(p);
    }
    free(scratch);
  }
  free(in), free(k), free(b), free(ref), free(ref_pool), free(got), free(got_pool);
}

static void test_conv_fast(void) {
  const int hw[] = {1, 2, 3, 5, 7, 13};
  const int cins[] = {1, 3, 5, 16, 64};
  const int couts[] = {1, 7, 64};
  for (size_t a = 0; a < sizeof hw / sizeof *hw; a++)
    for (size_t bb = 0; bb < sizeof hw / sizeof *hw; bb++)
      for (size_t c = 0; c < sizeof cins / sizeof *cins; c++)
        for (size_t d = 0; d < sizeof couts / sizeof *couts; d++)
          conv_fast_vs_naive(hw[a], hw[bb], cins[c], couts[d]);
  /* Shapes that span several im2col bands or Winograd tile blocks, channel
   * counts that are not multiples of the 16-float vectors, and VGG's deep
   * channel counts. */
  const int big[][4] = {{20, 224, 64, 64}, {17, 30, 512, 16}, {9, 56, 128, 256},
                        {11, 4, 3, 64},    {28, 28, 256, 80}, {14, 14, 512, 512},
                        {22, 19, 37, 33},  {6, 250, 3, 64}};
  for (size_t i = 0; i < sizeof big / sizeof *big; i++)
    conv_fast_vs_naive(big[i][0], big[i][1], big[i][2], big[i][3]);
  for (int p = 0; p < NPATHS; p++)
    printf("conv3x3 %s vs naive: worst rel err %.3g\n", path_name[p], worst_err[p]);
}

/* Two chained convs + pool in row bands against the naive chain: H chosen
 * around the band height (44 rows at W 64, C1 64; one band at small sizes) so
 * that bands end on every kind of row, including a last band of one row. */
static void pair_vs_naive(int H, int W, int Cin, int C1, int Cout) {
  size_t n1 = (size_t)H * W * C1, n2 = (size_t)H * W * Cout, np = (size_t)(H / 2) * (W / 2) * Cout;
  float *in = rand_buf((size_t)H * W * Cin, 1.0f);
  float *ka = rand_buf((size_t)9 * Cin * C1, 1.0f / sqrtf(9.0f * Cin)), *ba = rand_buf((size_t)C1, 0.2f);
  float *kb = rand_buf((size_t)9 * C1 * Cout, 2.0f / sqrtf(9.0f * C1)), *bb = rand_buf((size_t)Cout, 0.2f);
  float *r1 = vt_xmalloc(n1 * sizeof(float)), *r2 = vt_xmalloc(n2 * sizeof(float));
  float *rp = vt_xmalloc((np + 1) * sizeof(float));
  vt_conv3x3_relu_naive(in, H, W, Cin, ka, ba, C1, r1);
  vt_conv3x3_relu_naive(r1, H, W, C1, kb, bb, Cout, r2);
  vt_maxpool2x2_naive(r2, H, W, Cout, rp);
  vt_conv3x3_packed *a = vt_conv3x3_pack(ka, ba, Cin, C1, VT_CONV_AUTO);
  vt_conv3x3_packed *b = vt_conv3x3_pack(kb, bb, C1, Cout, VT_CONV_AUTO);
  float *scratch = vt_aligned_alloc(vt_conv3x3_pair_scratch_floats(a, b, H, W) * sizeof(float));
  float *o1 = vt_xmalloc((n1 + 1) * sizeof(float)), *o2 = vt_xmalloc((n2 + 1) * sizeof(float));
  float *op = vt_xmalloc((np + 1) * sizeof(float)), *op2 = vt_xmalloc((np + 1) * sizeof(float));
  o1[n1] = o2[n2] = op[np] = 55.0f;
  vt_conv3x3_pair_pool_packed(a, b, in, H, W, o1, o2, op, 0, scratch);
  double e1 = rel_err(o1, r1, n1), e2 = rel_err(o2, r2, n2), ep = rel_err(op, rp, np);
  CHECK(e1 < 2e-4 && e2 < 2e-4 && ep < 2e-4, "pair %dx%d %d->%d->%d: rel err %g %g %g", H, W, Cin,
        C1, Cout, e1, e2, ep);
  CHECK(o1[n1] == 55.0f && o2[n2] == 55.0f && op[np] == 55.0f, "pair %dx%d wrote past an output", H, W);
  /* Only the pooled map: the same values. */
  vt_conv3x3_pair_pool_packed(a, b, in, H, W, NULL, NULL, op2, 0, scratch);
  CHECK(equal_floats(op, op2, np), "pair %dx%d pool-only differs", H, W);
  /* Streamed past the caches (aligned, as a store writer's buffer is). */
  float *op3 = vt_aligned_alloc((np + 1) * sizeof(float));
  op3[np] = 55.0f;
  vt_conv3x3_pair_pool_packed(a, b, in, H, W, NULL, NULL, op3, 1, scratch);
  CHECK(equal_floats(op, op3, np) && op3[np] == 55.0f, "pair %dx%d pool-only streamed differs", H, W);
  free(op3);
  vt_conv3x3_packed_free(a), vt_conv3x3_packed_free(b);
  free(in), free(ka), free(ba), free(kb), free(bb), free(r1), free(r2), free(rp);
  free(scratch), free(o1), free(o2), free(op), free(op2);
}

static void test_pair(void) {
  const int shapes[][5] = {{1, 1, 3, 16, 16},  {2, 3, 3, 16, 7},   {5, 7, 16, 16, 32},
                           {13, 9, 3, 64, 64}, {45, 64, 3, 64, 64}, {89, 64, 16, 64, 16},
                           {93, 64, 64, 64, 32}, {44, 64, 3, 64, 64}};
  for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
    pair_vs_naive(shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], shapes[i][4]);
}

/* The forward pass (vt_vgg) on packed weights through block2_pool: keeping
 * every layer (each block still chained, writing all outputs) and keeping
 * only block2_pool (chained, conv outputs never written) must give the same
 * pools bit for bit, and every layer must match the naive forward pass. 90
 * rows at width 64 make three row bands in block1. */
static void test_forward_chained(void) {
  enum { FH = 90, FW = 64, LAST = 5 };
  vt_weights w;
  memset(&w, 0, sizeof w);
  for (int c = 0; c < 4; c++) {
    const vt_layer_def *d = &vt_vgg16_layers[c < 2 ? c : c + 1];
    vt_conv_weights *cw = &w.conv[c];
    cw->cin = d->cin, cw->cout = d->cout;
    cw->kernel = rand_buf((size_t)9 * d->cin * d->cout, 2.0f / sqrtf(9.0f * d->cin));
    cw->bias = rand_buf((size_t)d->cout, 0.1f);
    cw->packed = vt_conv3x3_pack(cw->kernel, cw->bias, d->cin, d->cout, VT_CONV_AUTO);
    w.n_conv = c + 1;
  }
  vt_vgg_workspace all, taps, naive;
  int rc = vt_vgg_workspace_init(&all, FH, FW, LAST) | vt_vgg_workspace_init(&taps, FH, FW, LAST) |
           vt_vgg_workspace_init(&naive, FH, FW, LAST);
  CHECK(rc == 0, "workspace: %s", vt_failure_reason());
  if (rc) return;
  for (size_t i = 0; i < (size_t)FH * FW * 3; i++)
    all.input[i] = taps.input[i] = naive.input[i] = 100.0f * frand();
  memset(taps.keep, 0, sizeof taps.keep);
  taps.keep[LAST] = 1;
  vt_vgg_forward(&w, &all);
  vt_vgg_forward(&w, &taps);
  vt_vgg_forward_naive(&w, &naive);
  for (int l = 0; l <= LAST; l++) {
    size_t n = (size_t)all.oh[l] * all.ow[l] * all.oc[l];
    double e = rel_err(all.out[l], naive.out[l], n);
    CHECK(e < 2e-4, "forward %s: fast vs naive rel err %g", vt_vgg16_layers[l].name, e);
    if (vt_vgg16_layers[l].kind == VT_LAYER_POOL)
      CHECK(equal_floats(all.out[l], taps.out[l], n), "forward %s: keeping only the tap changes it",
            vt_vgg16_layers[l].name);
  }
  vt_vgg_workspace_free(&all), vt_vgg_workspace_free(&taps), vt_vgg_workspace_free(&naive);
  vt_weights_free(&w);
}

/* The GEMM kernel on its own, against its reference. */
static void test_sgemm_rows(void) {
  const int ms[] = {1, 5, 6, 7, 13}, ns[] = {1, 7, 16, 17, 64, 65, 130}, ks[] = {1, 3, 27, 64};
  double worst = 0;
  for (size_t a = 0; a < sizeof ms / sizeof *ms; a++)
    for (size_t b = 0; b < sizeof ns / sizeof *ns; b++)
      for (size_t c = 0; c < sizeof ks / sizeof *ks; c++)
        for (int with_bias = 0; with_bias < 2; with_bias++) {
          int m = ms[a], n = ns[b], k = ks[c];
          /* Leading dimensions larger than the block, to catch stride mix-ups. */
          size_t lda = (size_t)k + 3, ldb = (size_t)n + 5, ldc = (size_t)n + 2;
          float *A = rand_buf((size_t)m * lda, 1.0f), *B = rand_buf((size_t)k * ldb, 1.0f);
          float *bias = rand_buf((size_t)n, 1.0f);
          float *ref = vt_xmalloc((size_t)m * ldc * sizeof(float));
          float *got = vt_xmalloc((size_t)m * ldc * sizeof(float));
          for (size_t i = 0; i < (size_t)m * ldc; i++) ref[i] = got[i] = -3.5f;
          vt_sgemm_rows_naive(m, n, k, A, lda, B, ldb, ref, ldc, with_bias ? bias : NULL);
          vt_sgemm_rows(m, n, k, A, lda, B, ldb, got, ldc, with_bias ? bias : NULL);
          double e = rel_err(got, ref, (size_t)m * ldc); /* padding must stay -3.5 too */
          CHECK(e < 1e-6, "sgemm %dx%dx%d bias %d: rel err %g", m, n, k, with_bias, e);
          if (e > worst) worst = e;
          free(A), free(B), free(bias), free(ref), free(got);
        }
  printf("sgemm_rows vs naive: worst rel err %.3g\n", worst);
}

static void test_pools_fast(void) {
  const int hw[] = {1, 2, 3, 5, 7, 13, 16};
  const int cs[] = {1, 3, 64};
  for (size_t a = 0; a < sizeof hw / sizeof *hw; a++)
    for (size_t b = 0; b < sizeof hw / sizeof *hw; b++)
      for (size_t c = 0; c < sizeof cs / sizeof *cs; c++) {
        int H = hw[a], W = hw[b], C = cs[c];
        float *in = rand_buf((size_t)H * W * C, 3.0f);
        size_t nmp = (size_t)(H / 2) * (W / 2) * C;
        float *r = vt_xmalloc((nmp + 1) * sizeof(float)), *f = vt_xmalloc((nmp + 1) * sizeof(float));
        vt_maxpool2x2_naive(in, H, W, C, r);
        f[nmp] = 777.0f;
        vt_maxpool2x2(in, H, W, C, f);
        CHECK(equal_floats(r, f, nmp), "maxpool %dx%dx%d differs", H, W, C);
        CHECK(f[nmp] == 777.0f, "maxpool %dx%dx%d wrote past its output", H, W, C);
        free(r), free(f);
        for (int g = 1; g <= 4; g++) {
          if (g > H || g > W) continue;
          size_t n = (size_t)g * g * C;
          float *ra = vt_xmalloc(n * sizeof(float)), *rm = vt_xmalloc(n * sizeof(float));
          float *fa = vt_xmalloc(n * sizeof(float)), *fm = vt_xmalloc(n * sizeof(float));
          vt_grid_pool_naive(in, H, W, C, g, ra, rm);
          vt_grid_pool(in, H, W, C, g, fa, fm);
          CHECK(equal_floats(rm, fm, n), "grid max %dx%dx%d g %d differs", H, W, C, g);
          /* A mean of values in [-3, 3] can be near 0: compare at the inputs' scale. */
          double e = max_abs_diff(fa, ra, n);
          CHECK(e < 3e-6, "grid avg %dx%dx%d g %d: abs err %g", H, W, C, g, e);
          /* Either output may be NULL. */
          memset(fa, 0, n * sizeof(float));
          vt_grid_pool(in, H, W, C, g, fa, NULL);
          CHECK(max_abs_diff(fa, ra, n) < 3e-6, "grid avg alone %dx%dx%d g %d", H, W, C, g);
          vt_grid_pool(in, H, W, C, g, NULL, fm);
          CHECK(equal_floats(rm, fm, n), "grid max alone %dx%dx%d g %d", H, W, C, g);
          free(ra), free(rm), free(fa), free(fm);
        }
        free(in);
      }
  /* A 224x224x64 global average: float row sums must not drift. */
  float *in = rand_buf((size_t)224 * 224 * 64, 1.0f);
  for (size_t i = 0; i < (size_t)224 * 224 * 64; i++) in[i] += 2.0f; /* post-ReLU-like, mean 2 */
  float ra[64], fa[64];
  vt_grid_pool_naive(in, 224, 224, 64, 1, ra, NULL);
  vt_grid_pool(in, 224, 224, 64, 1, fa, NULL);
  double e = rel_err(fa, ra, 64);
  CHECK(e < 1e-6, "224x224 global avg: rel err %g", e);
  free(in);
}

/* vt_grid_pool_all against the naive pooling of each grid, on the maps the
 * extractor pools (112 = block1_pool, 56, 7 = block5_pool, where the grids
 * do not nest) and on sizes where only some grid sets nest. */
static void test_grid_pool_all(void) {
  static const int sizes[][3] = {{112, 112, 64}, {56, 56, 128}, {7, 7, 512}, {8, 12, 3}, {5, 6, 16}, {4, 4, 1}};
  static const int sets[][4] = {{3, 1, 2, 4}, {2, 1, 2}, {1, 4, 0}, {3, 4, 2, 1}, {3, 1, 2, 3}, {2, 2, 4}};
  for (size_t a = 0; a < sizeof sizes / sizeof *sizes; a++)
    for (size_t b = 0; b < sizeof sets / sizeof *sets; b++) {
      int H = sizes[a][0], W = sizes[a][1], C = sizes[a][2], n = sets[b][0];
      const int *grids = sets[b] + 1;
      size_t total = 0;
      for (int i = 0; i < n; i++) total += 2 * (size_t)grids[i] * grids[i] * C;
      float *in = rand_buf((size_t)H * W * C, 3.0f);
      for (size_t i = 0; i < (size_t)H * W * C; i++) in[i] += 3.0f; /* post-ReLU-like */
      float *out = vt_xmalloc((total + 1) * sizeof(float));
      out[total] = 777.0f;
      vt_grid_pool_all(in, H, W, C, grids, n, out);
      CHECK(out[total] == 777.0f, "grid_pool_all %dx%dx%d wrote past its output", H, W, C);
      const float *at = out;
      for (int i = 0; i < n; i++) {
        int g = grids[i];
        size_t len = (size_t)g * g * C;
        float *ra = vt_xmalloc(len * sizeof(float)), *rm = vt_xmalloc(len * sizeof(float));
        vt_grid_pool_naive(in, H, W, C, g, ra, rm);
        double e = rel_err(at, ra, len);
        CHECK(e < 1e-6, "grid_pool_all %dx%dx%d grid %d (set %zu) avg: rel err %g", H, W, C, g, b, e);
        CHECK(equal_floats(at + len, rm, len), "grid_pool_all %dx%dx%d grid %d (set %zu) max differs", H, W, C, g, b);
        /* bitwise what the trainer gets pooling this grid alone from stored maps */
        vt_grid_pool(in, H, W, C, g, ra, rm);
        CHECK(equal_floats(at, ra, len) && equal_floats(at + len, rm, len),
              "grid_pool_all %dx%dx%d grid %d (set %zu) differs from vt_grid_pool alone", H, W, C, g, b);
        at += 2 * len;
        free(ra), free(rm);
      }
      free(in), free(out);
    }
}

/* The map sizes VGG16 taps have at a 224 input (7 .. 224) and odd ones that
 * no grid divides, against the naive reference for every stored grid: the
 * cells then overlap or differ in size, where an off-by-one would show. */
static void test_grid_pool_tap_sizes(void) {
  const int hw[][2] = {{7, 7}, {14, 14}, {28, 28}, {56, 56}, {112, 112}, {224, 224},
                       {9, 13}, {57, 55}, {111, 113}};
  const int C = 8;
  for (size_t a = 0; a < sizeof hw / sizeof *hw; a++) {
    int H = hw[a][0], W = hw[a][1];
    float *in = rand_buf((size_t)H * W * C, 3.0f);
    for (int g = 1; g <= 4; g *= 2) {
      size_t n = (size_t)g * g * C;
      float ra[16 * 8], rm[16 * 8], fa[16 * 8], fm[16 * 8];
      vt_grid_pool_naive(in, H, W, C, g, ra, rm);
      vt_grid_pool(in, H, W, C, g, fa, fm);
      CHECK(equal_floats(rm, fm, n), "grid max %dx%dx%d g %d differs from naive", H, W, C, g);
      double e = max_abs_diff(fa, ra, n);
      CHECK(e < 3e-6, "grid avg %dx%dx%d g %d: abs err %g against naive", H, W, C, g, e);
    }
    /* grids 1, 2, 4 in one pass, as the extractor pools them */
    static const int grids[3] = {1, 2, 4};
    float all[2 * 21 * 8];
    vt_grid_pool_all(in, H, W, C, grids, 3, all);
    const float *at = all;
    for (int i = 0; i < 3; i++) {
      int g = grids[i];
      size_t n = (size_t)g * g * C;
      float ra[16 * 8], rm[16 * 8];
      vt_grid_pool_naive(in, H, W, C, g, ra, rm);
      CHECK(max_abs_diff(at, ra, n) < 3e-6 && equal_floats(at + n, rm, n),
            "grid_pool_all %dx%dx%d grid %d differs from naive", H, W, C, g);
      at += 2 * n;
    }
    free(in);
  }
}

/* Two threads running the fast convs at once must each get the
 * single-thread answer bit for bit (BLIS state is shared, our rntm_t is not;
 * a packed layer is shared read-only). */
typedef struct {
  const float *in, *k, *b;
  const vt_conv3x3_packed *p;
  float *out, *out_packed;
} conv_job;
enum { TH = 37, TW = 41, TCIN = 32, TCOUT = 48 };
static void *conv_thread(void *arg) {
  conv_job *j = arg;
  size_t n1 = vt_conv3x3_im2col_scratch_floats(TW, TCIN), n2 = vt_conv3x3_packed_scratch_floats(j->p, TH, TW);
  float *scratch = vt_aligned_alloc((n1 > n2 ? n1 : n2) * sizeof(float));
  for (int rep = 0; rep < 5; rep++) {
    vt_conv3x3_relu_im2col(j->in, TH, TW, TCIN, j->k, j->b, TCOUT, j->out, scratch);
    vt_conv3x3_relu_packed(j->p, j->in, TH, TW, j->out_packed, scratch);
  }
  free(scratch);
  return NULL;
}
static void test_conv_threads(void) {
  size_t nout = (size_t)TH * TW * TCOUT;
  float *in = rand_buf((size_t)TH * TW * TCIN, 1.0f);
  float *k = rand_buf((size_t)9 * TCIN * TCOUT, 0.1f), *b = rand_buf(TCOUT, 0.1f);
  vt_conv3x3_packed *p = vt_conv3x3_pack(k, b, TCIN, TCOUT, VT_CONV_AUTO);
  CHECK(p && vt_conv3x3_packed_algo(p) == VT_CONV_WINOGRAD, "auto should pick Winograd for Cin 32");
  conv_job jobs[3];
  for (int t = 0; t < 3; t++)
    jobs[t] = (conv_job){in, k, b, p, vt_xmalloc(nout * sizeof(float)), vt_xmalloc(nout * sizeof(float))};
  conv_thread(&jobs[0]);
  pthread_t th[2];
  int started = 0;
  for (; started < 2; started++) {
    int err = pthread_create(&th[started], NULL, conv_thread, &jobs[started + 1]);
    CHECK(!err, "cannot start thread %d: %s", started + 1, strerror(err));
    if (err) break;
  }
  for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
  for (int t = 1; t <= started; t++) {
    CHECK(equal_floats(jobs[0].out, jobs[t].out, nout), "thread %d result differs", t);
    CHECK(equal_floats(jobs[0].out_packed, jobs[t].out_packed, nout), "thread %d packed result differs", t);
  }
  for (int t = 0; t < 3; t++) free(jobs[t].out), free(jobs[t].out_packed);
  vt_conv3x3_packed_free(p);
  free(in), free(k), free(b);
}

int main(void) {
  test_conv_naive_by_hand();
  test_maxpool_naive_by_hand();
  test_grid_pool_naive_by_hand();
  test_sgemm_rows();
  test_conv_fast();
  test_pair();
  test_forward_chained();
  test_pools_fast();
  test_grid_pool_all();
  test_grid_pool_tap_sizes();
  test_conv_threads();
  if (failures) {
    printf("%d check(s) failed\n", failures);
    return 1;
  }
  printf("all conv/pool checks passed\n");
  return 0;
}
