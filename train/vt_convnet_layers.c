#include "vt_convnet_layers.h"

#include "vt_convnet_simd.h"
#include "vt_convnet_wino.h"

#include <blis.h>
#include <math.h>
#include <string.h>

/* C [m][n] (leading dimension ldc) = beta C + op(A) op(B) on BLIS, one
 * thread (the caller parallelises over images). A and B are given by row
 * and column strides, so a transposed operand is only a swap of strides. */
static void sgemm(int m, int n, int k, const float *a, inc_t rsa, inc_t csa, const float *b,
                  inc_t rsb, inc_t csb, float beta, float *c, inc_t ldc) {
  float one = 1.0f;
  bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, k, &one, (float *)a, rsa, csa, (float *)b,
            rsb, csb, &beta, c, ldc, 1);
}

/* ---- 3x3 convolution ------------------------------------------------------ */

size_t vt_cn_conv3x3_scratch_floats(int H, int W, int Cin, int Cout) {
  size_t fwd = vt_cn_wino_scratch_floats(H, W, Cin, Cout),
         bwd = vt_cn_wino_scratch_floats(H, W, Cout, Cin) + (size_t)9 * Cin * Cout;
  return fwd > bwd ? fwd : bwd;
}

static void add_bias_rows(float *out, const float *bias, size_t rows, int C) {
  for (size_t r = 0; r < rows; r++)
    for (int o = 0; o < C; o++) out[r * C + o] += bias[o];
}

static void add_column_sums(float *dbias, const float *dout, size_t rows, int C) {
  for (size_t r = 0; r < rows; r++)
    for (int o = 0; o < C; o++) dbias[o] += dout[r * C + o];
}

void vt_cn_conv3x3_forward(float *out, const float *in, const float *k, const float *bias, int n,
                           int H, int W, int Cin, int Cout, float *scratch) {
  vt_cn_wino_forward(out, in, k, bias, n, H, W, Cin, Cout, scratch);
}

void vt_cn_conv3x3_backward(float *din, float *dk, float *dbias, const float *dout,
                            const float *in, const float *k, int n, int H, int W, int Cin,
                            int Cout, float *scratch) {
  vt_cn_wino_kernel_grad(dk, dout, in, n, H, W, Cin, Cout, scratch);
  if (dbias) add_column_sums(dbias, dout, (size_t)n * H * W, Cout);
  if (!din) return;
  /* din is the 3x3 conv of dout with the kernel turned 180 degrees and its
   * input and output channels swapped: kf[dy][dx][o][i] = k[2-dy][2-dx][i][o] */
  float *kf = scratch + vt_cn_wino_scratch_floats(H, W, Cout, Cin);
  for (int r = 0; r < 9; r++)
    for (int i = 0; i < Cin; i++)
      for (int o = 0; o < Cout; o++)
        kf[((size_t)r * Cout + o) * Cin + i] = k[((size_t)(8 - r) * Cin + i) * Cout + o];
  vt_cn_wino_forward(din, dout, kf, NULL, n, H, W, Cout, Cin, scratch);
}

void vt_cn_conv3x3_forward_naive(float *out, const float *in, const float *k, const float *bias,
                                 int n, int H, int W, int Cin, int Cout) {
  for (int b = 0; b < n; b++)
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++)
        for (int o = 0; o < Cout; o++) {
          double s = bias ? bias[o] : 0.0;
          for (int dy = 0; dy < 3; dy++)
            for (int dx = 0; dx < 3; dx++) {
              int sy = y + dy - 1, sx = x + dx - 1;
              if (sy < 0 || sy >= H || sx < 0 || sx >= W) continue;
              const float *p = in + (((size_t)b * H + sy) * W + sx) * Cin;
              const float *w = k + (size_t)(dy * 3 + dx) * Cin * Cout + o;
              for (int i = 0; i < Cin; i++) s += (double)p[i] * w[(size_t)i * Cout];
            }
          out[(((size_t)b * H + y) * W + x) * Cout + o] = (float)s;
        }
}

void vt_cn_conv3x3_backward_naive(float *din, float *dk, float *dbias, const float *dout,
                                  const float *in, const float *k, int n, int H, int W, int Cin,
                                  int Cout) {
  for (int dy = 0; dy < 3; dy++)
    for (int dx = 0; dx < 3; dx++)
      for (int i = 0; i < Cin; i++)
        for (int o = 0; o < Cout; o++) {
          double s = 0;
          for (int b = 0; b < n; b++)
            for (int y = 0; y < H; y++)
              for (int x = 0; x < W; x++) {
                int sy = y + dy - 1, sx = x + dx - 1;
                if (sy < 0 || sy >= H || sx < 0 || sx >= W) continue;
                s += (double)in[(((size_t)b * H + sy) * W + sx) * Cin + i] *
                     dout[(((size_t)b * H + y) * W + x) * Cout + o];
              }
          dk[((size_t)(dy * 3 + dx) * Cin + i) * Cout + o] += (float)s;
        }
  if (dbias)
    for (int o = 0; o < Cout; o++) {
      double s = 0;
      for (size_t r = 0; r < (size_t)n * H * W; r++) s += dout[r * Cout + o];
      dbias[o] += (float)s;
    }
  if (!din) return;
  for (int b = 0; b < n; b++)
    for (int sy = 0; sy < H; sy++)
      for (int sx = 0; sx < W; sx++)
        for (int i = 0; i < Cin; i++) {
          double s = 0;
          for (int dy = 0; dy < 3; dy++)
            for (int dx = 0; dx < 3; dx++) {
              int y = sy - dy + 1, x = sx - dx + 1;
              if (y < 0 || y >= H || x < 0 || x >= W) continue;
              const float *d = dout + (((size_t)b * H + y) * W + x) * Cout;
              const float *w = k + ((size_t)(dy * 3 + dx) * Cin + i) * Cout;
              for (int o = 0; o < Cout; o++) s += (double)d[o] * w[o];
            }
          din[(((size_t)b * H + sy) * W + sx) * Cin + i] = (float)s;
        }
}

/* ---- 1x1 convolution / dense ---------------------------------------------- */

void vt_cn_conv1x1_forward(float *out, const float *in, const float *k, const float *bias,
                           int rows, int Cin, int Cout) {
  sgemm(rows, Cout, Cin, in, Cin, 1, k, Cout, 1, 0.0f, out, Cout);
  if (bias) add_bias_rows(out, bias, (size_t)rows, Cout);
}

void vt_cn_conv1x1_backward(float *din, float *dk, float *dbias, const float *dout,
                            const float *in, const float *k, int rows, int Cin, int Cout) {
  sgemm(Cin, Cout, rows, in, 1, Cin, dout, Cout, 1, 1.0f, dk, Cout);
  if (dbias) add_column_sums(dbias, dout, (size_t)rows, Cout);
  if (din) sgemm(rows, Cin, Cout, dout, Cout, 1, k, 1, Cout, 0.0f, din, Cin);
}

/* ---- batch norm ----------------------------------------------------------- */

/* The loops over [rows][C] run on the kernel path's table
 * (vt_convnet_simd_body.h); the sums of batch norm are in double on every
 * path, in the same order. */
void vt_cn_batchnorm_stats(vt_cn_bn_stats *s, const float *x, int rows, int C) {
  vt_cn_simd_chosen()->batchnorm_stats(s, x, rows, C);
}

void vt_cn_batchnorm_forward(float *y, const float *x, const float *mean, const float *invstd,
                             const float *gamma, const float *beta, int rows, int C, int relu) {
  vt_cn_simd_chosen()->batchnorm_forward(y, x, mean, invstd, gamma, beta, rows, C, relu);
}

void vt_cn_batchnorm_backward_sums(double *sum_dy, double *sum_dy_xhat, const float *dout,
                                   const float *relu_out, const float *x, const float *mean,
                                   const float *invstd, int rows, int C) {
  vt_cn_simd_chosen()->batchnorm_backward_sums(sum_dy, sum_dy_xhat, dout, relu_out, x, mean,
                                               invstd, rows, C);
}

void vt_cn_batchnorm_backward(float *dx, const float *dout, const float *relu_out, const float *x,
                              const float *mean, const float *invstd, const float *gamma,
                              const float *sum_dy, const float *sum_dy_xhat, double count,
                              int rows, int C) {
  vt_cn_simd_chosen()->batchnorm_backward(dx, dout, relu_out, x, mean, invstd, gamma, sum_dy,
                                          sum_dy_xhat, count, rows, C);
}

void vt_cn_batchnorm_combine(float *mean, float *invstd, float *var_unbiased,
                             const vt_cn_bn_stats *s, int n, int C, float eps) {
  for (int c = 0; c < C; c++) {
    double cnt = 0, mu = 0, m2 = 0;
    for (int j = 0; j < n; j++) {
      double nb = s[j].count;
      if (nb == 0) continue;
      double tot = cnt + nb, delta = s[j].mean[c] - mu;
      mu += delta * nb / tot;
      m2 += s[j].m2[c] + delta * delta * cnt * nb / tot;
      cnt = tot;
    }
    mean[c] = (float)mu;
    invstd[c] = (float)(1.0 / sqrt(m2 / cnt + eps));
    if (var_unbiased) var_unbiased[c] = (float)(cnt > 1 ? m2 / (cnt - 1) : m2);
  }
}

void vt_cn_batchnorm_update_running(float *run_mean, float *run_var, const float *mean,
                                    const float *var_unbiased, int C, float momentum) {
  for (int c = 0; c < C; c++) {
    run_mean[c] = (1.0f - momentum) * run_mean[c] + momentum * mean[c];
    run_var[c] = (1.0f - momentum) * run_var[c] + momentum * var_unbiased[c];
  }
}

/* ---- 2x2 pools ------------------------------------------------------------ */

void vt_cn_avgpool2_forward(float *out, const float *in, int n, int H, int W, int C) {
  vt_cn_simd_chosen()->avgpool2_forward(out, in, n, H, W, C);
}

void vt_cn_avgpool2_backward(float *din, const float *dout, int n, int H, int W, int C) {
  int Ho = H / 2, Wo = W / 2;
  memset(din, 0, (size_t)n * H * W * C * sizeof(float));
  for (int b = 0; b < n; b++)
    for (int y = 0; y < Ho; y++)
      for (int x = 0; x < Wo; x++) {
        float *p = din + (((size_t)b * H + 2 * y) * W + 2 * x) * C, *q = p + (size_t)W * C;
        const float *d = dout + (((size_t)b * Ho + y) * Wo + x) * C;
        for (int c = 0; c < C; c++) p[c] = p[C + c] = q[c] = q[C + c] = 0.25f * d[c];
      }
}

void vt_cn_maxpool2_forward(float *out, uint8_t *arg, const float *in, int n, int H, int W, int C) {
  vt_cn_simd_chosen()->maxpool2_forward(out, arg, in, n, H, W, C);
}

void vt_cn_maxpool2_backward(float *din, const float *dout, const uint8_t *arg, int n, int H, int W,
                             int C) {
  int Ho = H / 2, Wo = W / 2;
  memset(din, 0, (size_t)n * H * W * C * sizeof(float));
  for (int b = 0; b < n; b++)
    for (int y = 0; y < Ho; y++)
      for (int x = 0; x < Wo; x++) {
        size_t o = (((size_t)b * Ho + y) * Wo + x) * C;
        float *p = din + (((size_t)b * H + 2 * y) * W + 2 * x) * C;
        for (int c = 0; c < C; c++) {
          int a = arg[o + c];
          p[((size_t)(a >> 1) * W + (a & 1)) * C + c] = dout[o + c];
        }
      }
}

/* ---- adaptive max pool ---------------------------------------------------- */

void vt_cn_adaptive_maxpool_forward(float *out, int32_t *arg, const float *in, int n, int H, int W,
                                    int C, int G) {
  for (int b = 0; b < n; b++)
    for (int gy = 0; gy < G; gy++)
      for (int gx = 0; gx < G; gx++) {
        int y0 = gy * H / G, y1 = ((gy + 1) * H + G - 1) / G;
        int x0 = gx * W / G, x1 = ((gx + 1) * W + G - 1) / G;
        size_t o = (((size_t)b * G + gy) * G + gx) * C;
        const float *img = in + (size_t)b * H * W * C;
        for (int c = 0; c < C; c++) {
          float m = img[((size_t)y0 * W + x0) * C + c];
          int32_t a = y0 * W + x0;
          for (int y = y0; y < y1; y++)
            for (int x = x0; x < x1; x++) {
              float v = img[((size_t)y * W + x) * C + c];
              if (v > m) {
                m = v;
                a = y * W + x;
              }
            }
          out[o + c] = m;
          arg[o + c] = a;
        }
      }
}

void vt_cn_adaptive_maxpool_backward(float *din, const float *dout, const int32_t *arg, int n,
                                     int H, int W, int C, int G) {
  memset(din, 0, (size_t)n * H * W * C * sizeof(float));
  for (int b = 0; b < n; b++) {
    float *img = din + (size_t)b * H * W * C;
    size_t o = (size_t)b * G * G * C;
    /* cells may overlap (PyTorch's rule), so one input can gather from two */
    for (int g = 0; g < G * G; g++)
      for (int c = 0; c < C; c++) img[(size_t)arg[o + g * C + c] * C + c] += dout[o + g * C + c];
  }
}

/* ---- dropout -------------------------------------------------------------- */

void vt_cn_dropout_forward(float *out, const float *in, const float *mask, size_t count) {
  for (size_t i = 0; i < count; i++) out[i] = in[i] * mask[i];
}

void vt_cn_dropout_backward(float *din, const float *dout, const float *mask, size_t count) {
  for (size_t i = 0; i < count; i++) din[i] = dout[i] * mask[i];
}

/* ---- softmax cross-entropy -------------------------------------------------- */

double vt_cn_softmax_xent_forward_backward(float *dlogits, float *probs, const float *logits,
                                           const int *y, int n, int K, float smoothing,
                                           const float *class_weight, double scale) {
  float off = smoothing / (float)K, on = 1.0f - smoothing + off;
  double loss = 0;
  for (int i = 0; i < n; i++) {
    const float *z = logits + (size_t)i * K;
    float *p = probs + (size_t)i * K, mx = z[0];
    for (int j = 1; j < K; j++) mx = z[j] > mx ? z[j] : mx;
    double sum = 0;
    for (int j = 0; j < K; j++) sum += exp((double)z[j] - mx);
    double log_sum = log(sum), ce = 0;
    for (int j = 0; j < K && !y; j++) p[j] = (float)exp((double)z[j] - mx - log_sum);
    if (!y) continue;
    float wt = class_weight ? class_weight[y[i]] : 1.0f;
    for (int j = 0; j < K; j++) {
      double logp = (double)z[j] - mx - log_sum;
      float t = j == y[i] ? on : off;
      p[j] = (float)exp(logp);
      ce -= t * logp;
      if (dlogits) dlogits[(size_t)i * K + j] = (float)(wt * (p[j] - t) / scale);
    }
    loss += wt * ce;
  }
  return loss;
}

void vt_cn_mirror_maps(float *out, const float *in, int n, int H, int W, int C) {
  for (size_t r = 0; r < (size_t)n * H; r++) {
    const float *a = in + r * W * C;
    float *b = out + r * W * C;
    for (int x = 0; x < (W + 1) / 2; x++) /* pairs swapped: out may be in */
      for (int c = 0; c < C; c++) {
        float left = a[(size_t)x * C + c];
        b[(size_t)x * C + c] = a[(size_t)(W - 1 - x) * C + c];
        b[(size_t)(W - 1 - x) * C + c] = left;
      }
  }
}
