/* vt_convnet_simd_body.h: the conv head's vector loops over channels (batch
 * norm, ReLU, 2x2 pools) and, from vt_convnet_wino_body.h, its Winograd
 * convolutions, compiled once per kernel path: included by
 * vt_convnet_simd_portable.c, _avx2.c and _avx512.c, each built for its
 * instruction set (Makefile), so vt_vec.h's vectors are 4, 8 or 16 floats
 * wide. The includer defines VT_CN_SIMD_TABLE, the name of its table
 * (vt_convnet_simd.h). Lane by lane every path computes the same thing; the
 * paths differ only by FMA contraction (float rounding). */
#include "vt_convnet_simd.h"
#include "vt_convnet_wino_body.h"
#include "vt_vec.h"

#include <string.h>

#include "base/vt_half.h"
#if defined(__AVX512F__) || defined(__F16C__)
#include <immintrin.h>
#endif

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

/* Batch norm walks x [rows][C] row by row, a block of up to NB vectors of
 * channels at a time with their constants and sums in registers: one pass
 * over the rows per block (C = 64 is one block on AVX-512) instead of one
 * strided pass per vector. Each channel still sums its rows in row order.
 * `nb` vectors from channel c, the last holding `nl` channels; the block
 * functions are always inlined with constant nb, so the arrays stay in
 * registers. */
enum { NB = 4 };
#define INLINE static inline __attribute__((always_inline))
#define EACH_BLOCK(C, call)                                                         \
  do {                                                                              \
    int c_ = 0;                                                                     \
    for (; c_ + NB * VL <= (C); c_ += NB * VL) call(NB, VL, c_);                    \
    for (; c_ < (C); c_ += VL) call(1, (C) - c_ < VL ? (C) - c_ : VL, c_);          \
  } while (0)
#define LANES(v) ((v) == nb - 1 ? nl : VL) /* floats of vector v of a block */

INLINE void stats_block(const int nb, int nl, int c, vt_cn_bn_stats *s, const float *x, int rows,
                        int C) {
  vd sum[NB], sq[NB];
  for (int v = 0; v < nb; v++) sum[v] = sq[v] = (vd){0};
  for (size_t r = 0; r < (size_t)rows; r++)
#pragma GCC unroll 4
    for (int v = 0; v < nb; v++) {
      vd t = widen(vload(x + r * C + c + v * VL, LANES(v)));
      sum[v] += t;
      sq[v] += t * t;
    }
  for (int v = 0; v < nb; v++) {
    vd mean = rows ? sum[v] / (double)rows : sum[v], m2 = sq[v] - mean * sum[v];
    vstore_d(s->mean + c + v * VL, mean, LANES(v));
    vstore_d(s->m2 + c + v * VL, m2, LANES(v));
  }
}

static void batchnorm_stats(vt_cn_bn_stats *s, const float *x, int rows, int C) {
  /* one pass, sum and sum of squares in double: with float inputs the
   * difference sumsq - sum^2 / n loses nothing that matters unless a
   * channel's mean is ~1e6 times its deviation */
  s->count = rows;
#define STATS(nb, nl, c) stats_block(nb, nl, c, s, x, rows, C)
  EACH_BLOCK(C, STATS);
#undef STATS
  for (int c = 0; c < C; c++) s->m2[c] = s->m2[c] > 0 ? s->m2[c] : 0.0;
}

INLINE void forward_block(const int nb, int nl, int c, float *y, const float *x, const float *mean,
                          const float *invstd, const float *gamma, const float *beta, int rows,
                          int C, int relu) {
  vf m[NB], a[NB], b[NB];
  for (int v = 0; v < nb; v++) {
    int o = c + v * VL;
    m[v] = vload(mean + o, LANES(v));
    a[v] = vload(invstd + o, LANES(v)) * vload(gamma + o, LANES(v));
    b[v] = vload(beta + o, LANES(v));
  }
  for (size_t r = 0; r < (size_t)rows; r++)
#pragma GCC unroll 4
    for (int v = 0; v < nb; v++) {
      size_t at = r * C + c + v * VL;
      vf t = (vload(x + at, LANES(v)) - m[v]) * a[v] + b[v];
      vstore(y + at, relu ? vmax0(t) : t, LANES(v));
    }
}

static void batchnorm_forward(float *y, const float *x, const float *mean, const float *invstd,
                              const float *gamma, const float *beta, int rows, int C, int relu) {
#define FORWARD(nb, nl, c) forward_block(nb, nl, c, y, x, mean, invstd, gamma, beta, rows, C, relu)
  EACH_BLOCK(C, FORWARD);
#undef FORWARD
}

/* dout where the ReLU let the value through (relu_out > 0), all of it
 * without ReLU */
static inline vf through_relu(const float *dout, const float *relu_out, size_t at, int nc) {
  vf d = vload(dout + at, nc);
  return relu_out ? vselect(vload(relu_out + at, nc) > 0, d, (vf){0}) : d;
}

INLINE void backward_sums_block(const int nb, int nl, int c, double *sum_dy, double *sum_dy_xhat,
                                const float *dout, const float *relu_out, const float *x,
                                const float *mean, const float *invstd, int rows, int C) {
  vf m[NB];
  vd sd[NB], sdx[NB];
  for (int v = 0; v < nb; v++) {
    m[v] = vload(mean + c + v * VL, LANES(v));
    sd[v] = sdx[v] = (vd){0};
  }
  for (size_t r = 0; r < (size_t)rows; r++)
#pragma GCC unroll 4
    for (int v = 0; v < nb; v++) {
      size_t at = r * C + c + v * VL;
      vf d = through_relu(dout, relu_out, at, LANES(v));
      sd[v] += widen(d);
      sdx[v] += widen(d * (vload(x + at, LANES(v)) - m[v]));
    }
  for (int v = 0; v < nb; v++) {
    int o = c + v * VL;
    vstore_d(sum_dy + o, sd[v], LANES(v));
    vstore_d(sum_dy_xhat + o, sdx[v] * widen(vload(invstd + o, LANES(v))), LANES(v));
  }
}

static void batchnorm_backward_sums(double *sum_dy, double *sum_dy_xhat, const float *dout,
                                    const float *relu_out, const float *x, const float *mean,
                                    const float *invstd, int rows, int C) {
#define SUMS(nb, nl, c) \
  backward_sums_block(nb, nl, c, sum_dy, sum_dy_xhat, dout, relu_out, x, mean, invstd, rows, C)
  EACH_BLOCK(C, SUMS);
#undef SUMS
}

INLINE void backward_block(const int nb, int nl, int c, float *dx, const float *dout,
                           const float *relu_out, const float *x, const float *mean,
                           const float *invstd, const float *gamma, const float *sum_dy,
                           const float *sum_dy_xhat, float inv_count, int rows, int C) {
  /* dx = k (dy - sum_dy / count - xhat sum_dy_xhat / count), k = gamma invstd */
  vf k[NB], m[NB], a[NB], b[NB];
  for (int v = 0; v < nb; v++) {
    int o = c + v * VL;
    vf is = vload(invstd + o, LANES(v));
    k[v] = vload(gamma + o, LANES(v)) * is;
    m[v] = vload(mean + o, LANES(v));
    a[v] = vload(sum_dy + o, LANES(v)) * inv_count;
    b[v] = is * vload(sum_dy_xhat + o, LANES(v)) * inv_count;
  }
  for (size_t r = 0; r < (size_t)rows; r++)
#pragma GCC unroll 4
    for (int v = 0; v < nb; v++) {
      size_t at = r * C + c + v * VL;
      vf d = through_relu(dout, relu_out, at, LANES(v)), xm = vload(x + at, LANES(v)) - m[v];
      vstore(dx + at, k[v] * (d - a[v] - xm * b[v]), LANES(v));
    }
}

static void batchnorm_backward(float *dx, const float *dout, const float *relu_out, const float *x,
                               const float *mean, const float *invstd, const float *gamma,
                               const float *sum_dy, const float *sum_dy_xhat, double count,
                               int rows, int C) {
  float inv_count = (float)(1.0 / count);
#define BACKWARD(nb, nl, c)                                                                   \
  backward_block(nb, nl, c, dx, dout, relu_out, x, mean, invstd, gamma, sum_dy, sum_dy_xhat, \
                 inv_count, rows, C)
  EACH_BLOCK(C, BACKWARD);
#undef BACKWARD
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
/* The store's float16 maps to float32 (vt_half_to_float is the reference;
 * test_convnet_train compares all 65536 values): the CPU's conversion
 * instructions where the path has them (AVX-512, F16C with AVX2), exact
 * like the reference; on the baseline, 16 at a time without branches: the
 * exponent rebased from 15 to 127, infinities and NaN moved to 255,
 * subnormals (exponent 0) normalised by the float unit: 2^-14 (1 + m/1024)
 * - 2^-14. */
typedef uint16_t halves __attribute__((vector_size(32)));
typedef uint32_t words __attribute__((vector_size(64)));
typedef float floats __attribute__((vector_size(64)));

static inline void halves_to_floats16(const uint16_t *in, float *out) {
#if defined(__AVX512F__)
  _mm512_storeu_ps(out, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)in)));
#elif defined(__F16C__)
  _mm256_storeu_ps(out, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)in)));
  _mm256_storeu_ps(out + 8, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(in + 8))));
#else
  halves h;
  memcpy(&h, in, sizeof h);
  words x = __builtin_convertvector(h, words);
  words o = (x & 0x7fff) << 13, e = o & 0x0f800000;
  o += 0x38000000 + ((e == 0x0f800000) & 0x38000000) + ((e == 0) & 0x00800000);
  floats f;
  memcpy(&f, &o, sizeof f);
  floats sub = (floats)((words)(e == 0) & 0x38800000); /* 2^-14 where subnormal, else +0 */
  f -= sub;
  memcpy(&o, &f, sizeof o);
  o |= (x & 0x8000) << 16;
  memcpy(out, &o, sizeof o);
#endif
}

static void halves_to_floats(const uint16_t *in, size_t n, float *out) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) halves_to_floats16(in + i, out + i);
  for (; i < n; i++) out[i] = vt_half_to_float(in[i]);
}

const vt_cn_simd VT_CN_SIMD_TABLE = {batchnorm_stats,    batchnorm_forward, batchnorm_backward_sums,
                                     batchnorm_backward, avgpool2_forward,  maxpool2_forward,
                                     wino_forward,       wino_kernel_grad,  halves_to_floats};
