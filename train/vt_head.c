#include "vt_head.h"

#include <blis.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"

/* Fills dims[0 .. n_hidden + 1] and counts the parameters. */
static int head_shape(int n_features, int n_hidden, const int *hidden, int n_classes, int *dims,
                      size_t *n) {
  if (n_hidden < 0 || n_hidden > VT_HEAD_MAX_LAYERS - 1)
    return vt_fail("at most %d hidden layers", VT_HEAD_MAX_LAYERS - 1);
  if (n_features < 1 || n_classes < 2) return vt_fail("a head needs features and >= 2 classes");
  dims[0] = n_features;
  for (int l = 0; l < n_hidden; l++) {
    if (hidden[l] < 1) return vt_fail("hidden layer %d has width %d", l + 1, hidden[l]);
    dims[l + 1] = hidden[l];
  }
  dims[n_hidden + 1] = n_classes;
  size_t total = 0;
  for (int l = 0; l <= n_hidden; l++) {
    size_t wl;
    if (vt_size_mul((size_t)dims[l], (size_t)dims[l + 1], &wl) < 0 ||
        vt_size_add(total, wl, &total) < 0 || vt_size_add(total, (size_t)dims[l + 1], &total) < 0)
      return vt_fail_prefix("head parameters");
  }
  *n = total;
  return 0;
}

int vt_head_param_count(int n_features, int n_hidden, const int *hidden, int n_classes, size_t *n) {
  int dims[VT_HEAD_MAX_LAYERS + 1];
  return head_shape(n_features, n_hidden, hidden, n_classes, dims, n);
}

int vt_head_init(vt_head *h, int n_features, int n_hidden, const int *hidden, int n_classes) {
  memset(h, 0, sizeof *h);
  size_t total;
  if (head_shape(n_features, n_hidden, hidden, n_classes, h->dims, &total) < 0) return -1;
  h->n_layers = n_hidden + 1;
  size_t bytes;
  if (vt_size_mul(total, sizeof(float), &bytes) < 0) return -1;
  h->params = vt_aligned_alloc(bytes);
  if (!h->params) return -1;
  memset(h->params, 0, bytes);
  h->n_params = total;
  for (int l = 0; l < h->n_layers; l++) {
    h->W[l] = h->params + vt_head_weight_offset(h, l);
    h->b[l] = h->params + vt_head_bias_offset(h, l);
  }
  return 0;
}

void vt_head_free(vt_head *h) {
  free(h->params);
  memset(h, 0, sizeof *h);
}

size_t vt_head_weight_offset(const vt_head *h, int l) {
  size_t off = 0;
  for (int i = 0; i < l; i++) off += (size_t)h->dims[i] * h->dims[i + 1] + h->dims[i + 1];
  return off;
}

size_t vt_head_bias_offset(const vt_head *h, int l) {
  return vt_head_weight_offset(h, l) + (size_t)h->dims[l] * h->dims[l + 1];
}

void vt_head_init_weights(vt_head *h, vt_rng *r) {
  memset(h->params, 0, h->n_params * sizeof(float));
  if (h->n_layers == 1) return;
  for (int l = 0; l < h->n_layers; l++) {
    int fan_in = h->dims[l], fan_out = h->dims[l + 1];
    int last = l == h->n_layers - 1;
    float limit = last ? sqrtf(6.0f / (float)(fan_in + fan_out)) : sqrtf(6.0f / (float)fan_in);
    size_t n = (size_t)fan_in * fan_out;
    for (size_t i = 0; i < n; i++) h->W[l][i] = (2.0f * vt_rng_uniform(r) - 1.0f) * limit;
  }
}

int vt_head_work_init(vt_head_work *w, const vt_head *h, int max_batch) {
  memset(w, 0, sizeof *w);
  w->max_batch = max_batch;
  /* one allocation: act[1..L], keep[1..L-1], delta[1..L], grad */
  size_t floats = h->n_params, rows = (size_t)max_batch;
  for (int l = 1; l <= h->n_layers; l++) floats += 2 * rows * h->dims[l];
  for (int l = 1; l < h->n_layers; l++) floats += rows * h->dims[l];
  size_t bytes;
  if (vt_size_mul(floats + 16 * (VT_HEAD_MAX_LAYERS + 1), sizeof(float), &bytes) < 0) return -1;
  float *p = vt_aligned_alloc(bytes);
  if (!p) return -1;
  w->memory = p;
  /* keep each buffer 64-byte aligned */
#define CARVE(dst, count)                  \
  do {                                     \
    (dst) = p;                             \
    p += ((count) + 15) / 16 * 16;         \
  } while (0)
  for (int l = 1; l <= h->n_layers; l++) {
    CARVE(w->act[l], rows * h->dims[l]);
    CARVE(w->delta[l], rows * h->dims[l]);
  }
  for (int l = 1; l < h->n_layers; l++) CARVE(w->keep[l], rows * h->dims[l]);
  CARVE(w->grad, h->n_params);
#undef CARVE
  return 0;
}

void vt_head_work_free(vt_head_work *w) {
  free(w->memory);
  memset(w, 0, sizeof *w);
}

/* C[m][n] (row-major, leading dimension ldc) = beta * C + A B, where A and B
 * are given by row and column strides so transposes cost nothing. */
static void gemm(int m, int n, int k, const float *a, inc_t rsa, inc_t csa, const float *b,
                 inc_t rsb, inc_t csb, float beta, float *c, inc_t ldc) {
  float one = 1.0f;
  bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, k, &one, (float *)a, rsa, csa, (float *)b,
            rsb, csb, &beta, c, ldc, 1);
}

/* Softmax of each row of z [n][k] in place. */
static void softmax_rows(float *z, int n, int k) {
  for (int i = 0; i < n; i++) {
    float *row = z + (size_t)i * k, mx = row[0];
    for (int j = 1; j < k; j++) mx = row[j] > mx ? row[j] : mx;
    double sum = 0;
    for (int j = 0; j < k; j++) {
      row[j] = expf(row[j] - mx);
      sum += row[j];
    }
    float inv = (float)(1.0 / sum);
    for (int j = 0; j < k; j++) row[j] *= inv;
  }
}

/* Forward of n rows; with r (training) draws dropout masks for hidden layers.
 * Leaves probabilities in act[L]. */
static void forward(const vt_head *h, vt_head_work *w, const float *x, int n, float dropout,
                    vt_rng *r) {
  const float *in = x;
  for (int l = 0; l < h->n_layers; l++) {
    int din = h->dims[l], dout = h->dims[l + 1];
    float *out = w->act[l + 1];
    gemm(n, dout, din, in, din, 1, h->W[l], dout, 1, 0.0f, out, dout);
    for (int i = 0; i < n; i++)
      for (int j = 0; j < dout; j++) out[(size_t)i * dout + j] += h->b[l][j];
    if (l + 1 < h->n_layers) {
      size_t m = (size_t)n * dout;
      for (size_t i = 0; i < m; i++) out[i] = out[i] > 0.0f ? out[i] : 0.0f;
      if (r && dropout > 0.0f) {
        float scale = 1.0f / (1.0f - dropout), *keep = w->keep[l + 1];
        for (size_t i = 0; i < m; i++) {
          keep[i] = vt_rng_uniform(r) < dropout ? 0.0f : scale;
          out[i] *= keep[i];
        }
      }
    }
    in = out;
  }
  softmax_rows(w->act[h->n_layers], n, h->dims[h->n_layers]);
}

void vt_head_predict(const vt_head *h, vt_head_work *w, const float *x, int n, float *probs) {
  int k = h->dims[h->n_layers];
  for (int i0 = 0; i0 < n; i0 += w->max_batch) {
    int b = n - i0 < w->max_batch ? n - i0 : w->max_batch;
    forward(h, w, x + (size_t)i0 * h->dims[0], b, 0.0f, NULL);
    memcpy(probs + (size_t)i0 * k, w->act[h->n_layers], (size_t)b * k * sizeof(float));
  }
}

void vt_head_predict_mirrored(const vt_head *h, vt_head_work *w, const float *x, const float *x_mirror,
                              int n, float *probs) {
  int k = h->dims[h->n_layers];
  for (int i0 = 0; i0 < n; i0 += w->max_batch) {
    int b = n - i0 < w->max_batch ? n - i0 : w->max_batch;
    float *p = probs + (size_t)i0 * k;
    forward(h, w, x + (size_t)i0 * h->dims[0], b, 0.0f, NULL);
    memcpy(p, w->act[h->n_layers], (size_t)b * k * sizeof(float));
    if (!x_mirror) continue;
    forward(h, w, x_mirror + (size_t)i0 * h->dims[0], b, 0.0f, NULL);
    for (size_t j = 0; j < (size_t)b * k; j++) p[j] = 0.5f * (p[j] + w->act[h->n_layers][j]);
  }
}

double vt_head_loss_grad(const vt_head *h, vt_head_work *w, const float *x, const int *y, int n,
                         const vt_loss_config *c, vt_rng *r) {
  int L = h->n_layers, k = h->dims[L];
  int use_dropout = r && c->dropout > 0.0f;
  forward(h, w, x, n, c->dropout, use_dropout ? r : NULL);

  /* loss and d loss / d logits = weight * (p - target) / n */
  const float *p = w->act[L];
  float *d = w->delta[L];
  float s = c->label_smoothing, off = s / (float)k, on = 1.0f - s + off;
  double loss = 0;
  for (int i = 0; i < n; i++) {
    const float *pi = p + (size_t)i * k;
    float *di = d + (size_t)i * k;
    float wt = c->class_weight ? c->class_weight[y[i]] : 1.0f;
    double ce = 0;
    for (int j = 0; j < k; j++) {
      float t = j == y[i] ? on : off;
      /* log of a probability that underflowed to 0: clamp rather than -inf */
      if (t > 0.0f) ce -= t * log(pi[j] > 1e-30f ? (double)pi[j] : 1e-30);
      di[j] = wt * (pi[j] - t) / (float)n;
    }
    loss += wt * ce;
  }

  for (int l = L - 1; l >= 0; l--) {
    int din = h->dims[l], dout = h->dims[l + 1];
    const float *in = l == 0 ? x : w->act[l];
    float *dz = w->delta[l + 1];
    float *gW = w->grad + vt_head_weight_offset(h, l), *gb = w->grad + vt_head_bias_offset(h, l);
    /* gW [din][dout] = in^T dz */
    gemm(din, dout, n, in, 1, din, dz, dout, 1, 0.0f, gW, dout);
    for (int j = 0; j < dout; j++) gb[j] = 0.0f;
    for (int i = 0; i < n; i++)
      for (int j = 0; j < dout; j++) gb[j] += dz[(size_t)i * dout + j];
    if (l == 0) break;
    /* d in [n][din] = dz W^T, then through dropout and ReLU (act > 0 exactly
     * where the unit was active and kept) */
    float *da = w->delta[l];
    gemm(n, din, dout, dz, dout, 1, h->W[l], 1, dout, 0.0f, da, din);
    const float *a = w->act[l], *keep = w->keep[l];
    size_t m = (size_t)n * din;
    for (size_t i = 0; i < m; i++) da[i] = a[i] > 0.0f ? (use_dropout ? da[i] * keep[i] : da[i]) : 0.0f;
  }
  return loss / n;
}

long long vt_dense_baseline_params(long long h, long long w, long long c, long long classes) {
  long long flat = h * w * c;
  return flat * 4096 + 4096 + 4096LL * 4096 + 4096 + 4096 * classes + classes;
}
