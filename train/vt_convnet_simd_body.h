/* vt_convnet_simd_body.h: the conv head's vector loops over channels (batch
 * norm, ReLU, 2x2 pools), compiled once per kernel path: included by
 * vt_convnet_simd_portable.c, _avx2.c and _avx512.c, each built for its
 * instruction set (Makefile), so vt_vec.h's vectors are 4, 8 or 16 floats
 * wide. The includer defines VT_CN_SIMD_TABLE, the name of its table
 * (vt_convnet_simd.h). Lane by lane every path computes the same thing; the
 * paths differ only by FMA contraction (float rounding). */
#include "vt_convnet_simd.h"
#include "vt_vec.h"

#include <string.h>

/* Loops over [rows][C] go one vector of channels at a time (vt_vec.h), the
 * sums of batch norm in double. */
typedef double vd __attribute__((vector_size(VL * sizeof(double))));
/* vd is twice vf's width (AVX-sized on the SSE baseline): GCC notes that
 * passing it would change the ABI, which these static inline helpers never
 * cross. */
#pragma GCC diagnostic ignored "-Wpsabi"

static inline vd widen(vf v) { return __builtin_convertvector(v, vd); }

static inline void vstore_d(double *p, vd v, int n) {
  if (n == VL) memcpy(p, &v, sizeof v);
  else memcpy(p, &v, (size_t)n * sizeof(double));
}

static void batchnorm_stats(vt_cn_bn_stats *s, const float *x, int rows, int C) {
  /* one pass, sum and sum of squares in double: with float inputs the
   * difference sumsq - sum^2 / n loses nothing that matters unless a
   * channel's mean is ~1e6 times its deviation */
  s->count = rows;
  for (int c = 0; c < C; c += VL) {
    int nc = C - c < VL ? C - c : VL;
    vd sum = {0}, sq = {0};
    for (size_t r = 0; r < (size_t)rows; r++) {
      vd v = widen(vload(x + r * C + c, nc));
      sum += v;
      sq += v * v;
    }
    vd mean = rows ? sum / (double)rows : sum, m2 = sq - mean * sum;
    vstore_d(s->mean + c, mean, nc);
    vstore_d(s->m2 + c, m2, nc);
  }
  for (int c = 0; c < C; c++) s->m2[c] = s->m2[c] > 0 ? s->m2[c] : 0.0;
}

static void batchnorm_forward(float *y, const float *x, const float *mean, const float *invstd,
                             const float *gamma, const float *beta, int rows, int C, int relu) {
  for (int c = 0; c < C; c += VL) {
    int nc = C - c < VL ? C - c : VL;
    vf m = vload(mean + c, nc), a = vload(invstd + c, nc) * vload(gamma + c, nc),
       b = vload(beta + c, nc);
    for (size_t r = 0; r < (size_t)rows; r++) {
      vf v = (vload(x + r * C + c, nc) - m) * a + b;
      vstore(y + r * C + c, relu ? vmax0(v) : v, nc);
    }
  }
}

/* dout where the ReLU let the value through (relu_out > 0), all of it
 * without ReLU */
static inline vf through_relu(const float *dout, const float *relu_out, size_t at, int nc) {
  vf d = vload(dout + at, nc);
  return relu_out ? vselect(vload(relu_out + at, nc) > 0, d, (vf){0}) : d;
}

static void batchnorm_backward_sums(double *sum_dy, double *sum_dy_xhat, const float *dout,
                                   const float *relu_out, const float *x, const float *mean,
                                   const float *invstd, int rows, int C) {
  for (int c = 0; c < C; c += VL) {
    int nc = C - c < VL ? C - c : VL;
    vf m = vload(mean + c, nc);
    vd sd = {0}, sdx = {0};
    for (size_t r = 0; r < (size_t)rows; r++) {
      vf d = through_relu(dout, relu_out, r * C + c, nc);
      sd += widen(d);
      sdx += widen(d * (vload(x + r * C + c, nc) - m));
    }
    vstore_d(sum_dy + c, sd, nc);
    vstore_d(sum_dy_xhat + c, sdx * widen(vload(invstd + c, nc)), nc);
  }
}

static void batchnorm_backward(float *dx, const float *dout, const float *relu_out, const float *x,
                              const float *mean, const float *invstd, const float *gamma,
                              const float *sum_dy, const float *sum_dy_xhat, double count,
                              int rows, int C) {
  float inv_count = (float)(1.0 / count);
  for (int c = 0; c < C; c += VL) {
    int nc = C - c < VL ? C - c : VL;
    /* dx = k (dy - sum_dy / count - xhat sum_dy_xhat / count), k = gamma invstd */
    vf is = vload(invstd + c, nc), k = vload(gamma + c, nc) * is, m = vload(mean + c, nc);
    vf a = vload(sum_dy + c, nc) * inv_count, b = is * vload(sum_dy_xhat + c, nc) * inv_count;
    for (size_t r = 0; r < (size_t)rows; r++) {
      vf d = through_relu(dout, relu_out, r * C + c, nc), xm = vload(x + r * C + c, nc) - m;
      vstore(dx + r * C + c, k * (d - a - xm * b), nc);
    }
  }
}

static void avgpool2_forward(float *out, const float *in, int n, int H, int W, int C) {
  int Ho = H / 2, Wo = W / 2;
  for (int b = 0; b < n; b++)
    for (int y = 0; y < Ho; y++)
      for (int x = 0; x < Wo; x++) {
        const float *p = in + (((size_t)b * H + 2 * y) * W + 2 * x) * C, *q = p + (size_t)W * C;
        float *o = out + (((size_t)b * Ho + y) * Wo + x) * C;
        for (int c = 0; c < C; c += VL) {
          int nc = C - c < VL ? C - c : VL;
          vf s = (vload(p + c, nc) + vload(p + C + c, nc)) + (vload(q + c, nc) + vload(q + C + c, nc));
          vstore(o + c, 0.25f * s, nc);
        }
      }
}

static void maxpool2_forward(float *out, uint8_t *arg, const float *in, int n, int H, int W, int C) {
  int Ho = H / 2, Wo = W / 2;
  for (int b = 0; b < n; b++)
    for (int y = 0; y < Ho; y++)
      for (int x = 0; x < Wo; x++) {
        const float *p = in + (((size_t)b * H + 2 * y) * W + 2 * x) * C;
        size_t o = (((size_t)b * Ho + y) * Wo + x) * C;
        const float *v[4] = {p, p + C, p + (size_t)W * C, p + (size_t)W * C + C};
        for (int c = 0; c < C; c += VL) {
          int nc = C - c < VL ? C - c : VL;
          vf m = vload(v[0] + c, nc);
          vi a = {0};
          for (int j = 1; j < 4; j++) { /* strictly greater: the first maximum wins */
            vf e = vload(v[j] + c, nc);
            vi gt = e > m;
            m = vselect(gt, e, m);
            a = (gt & j) | (~gt & a);
          }
          vstore(out + o + c, m, nc);
          for (int k = 0; k < nc; k++) arg[o + c + k] = (uint8_t)a[k];
        }
      }
}


const vt_cn_simd VT_CN_SIMD_TABLE = {batchnorm_stats,   batchnorm_forward, batchnorm_backward_sums,
                                     batchnorm_backward, avgpool2_forward,  maxpool2_forward};
