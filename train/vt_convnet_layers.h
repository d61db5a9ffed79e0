/* vt_convnet_layers.h: the layers of the convolutional head (vt_convnet.h),
 * each a vt_cn_*_forward / vt_cn_*_backward pair in the style of llm.c's train_gpt2.c.
 *
 * Tensors are float32, NHWC and batch-major: a batch of n maps is
 * [n][H][W][C], C fastest. Kernels are HWIO ([kh][kw][Cin][Cout], Keras), a
 * dense kernel is [in][out]. Every *_backward writes (=, not +=) the
 * gradient of its input and accumulates (+=) the gradients of its
 * parameters, so a caller can sum a batch's images in a fixed order.
 *
 * Batch norm is split at its batch-wide reductions: each shard of a batch
 * computes partial sums, the shards' partials are combined in a fixed order
 * (vt_convnet.c runs the shards on threads), then each shard normalises its
 * rows. With one shard the calls make ordinary batch norm. */
#ifndef VT_CONVNET_LAYERS_H
#define VT_CONVNET_LAYERS_H

#include <stddef.h>
#include <stdint.h>

/* ---- 3x3 convolution, stride 1, zero padding 1 (cross-correlation) -------
 * out[y][x][o] = sum k[dy][dx][i][o] * in[y+dy-1][x+dx-1][i] (+ bias[o]). */

/* Floats of the scratch the fast path needs (for any number of images). */
size_t vt_cn_conv3x3_scratch_floats(int H, int W, int Cin, int Cout);
/* in [n][H][W][Cin], k [3][3][Cin][Cout], bias [Cout] or NULL -> out [n][H][W][Cout].
 * Winograd F(4x4, 3x3) (vt_convnet_wino.h), and so are the kernel gradient
 * and the input gradient (a conv with the kernel turned 180 degrees). */
void vt_cn_conv3x3_forward(float *out, const float *in, const float *k, const float *bias, int n, int H,
                     int W, int Cin, int Cout, float *scratch);
/* dk [3][3][Cin][Cout] += ..., dbias [Cout] += ... (if not NULL), din [n][H][W][Cin] = ...
 * (if not NULL: the first layer's input needs no gradient), from dout [n][H][W][Cout]. */
void vt_cn_conv3x3_backward(float *din, float *dk, float *dbias, const float *dout, const float *in,
                      const float *k, int n, int H, int W, int Cin, int Cout, float *scratch);
/* Plain loops accumulating in double: the references of the two above. */
void vt_cn_conv3x3_forward_naive(float *out, const float *in, const float *k, const float *bias, int n,
                           int H, int W, int Cin, int Cout);
void vt_cn_conv3x3_backward_naive(float *din, float *dk, float *dbias, const float *dout,
                            const float *in, const float *k, int n, int H, int W, int Cin,
                            int Cout);

/* ---- 1x1 convolution: a dense layer applied at every position -------------
 * in [n][H][W][Cin], k [Cin][Cout], bias [Cout] or NULL -> out [n][H][W][Cout].
 * The dense layer is the same with H = W = 1. */
void vt_cn_conv1x1_forward(float *out, const float *in, const float *k, const float *bias, int rows,
                     int Cin, int Cout);
/* rows = n*H*W; din (if not NULL) = dout k^T, dk += in^T dout, dbias += column sums */
void vt_cn_conv1x1_backward(float *din, float *dk, float *dbias, const float *dout, const float *in,
                      const float *k, int rows, int Cin, int Cout);

/* ---- batch norm over the rows of x [rows][C] (rows = n*H*W) ---------------
 * Training: y = gamma (x - mean) / sqrt(var + eps) + beta with the batch's
 * mean and biased variance (PyTorch's BatchNorm2d). */

typedef struct {
  double count;
  double *mean, *m2; /* [C]: mean and sum of squared deviations */
} vt_cn_bn_stats;

/* A shard's partial statistics of x [rows][C], two passes in double. */
void vt_cn_batchnorm_stats(vt_cn_bn_stats *s, const float *x, int rows, int C);
/* The batch's from the shards' s[0..n) combined in that order (Chan et
 * al.'s pairwise update): mean [C], and invstd [C] = 1/sqrt(var + eps);
 * var_unbiased [C] (for the running variance) if not NULL. */
void vt_cn_batchnorm_combine(float *mean, float *invstd, float *var_unbiased, const vt_cn_bn_stats *s, int n,
                       int C, float eps);
/* y [rows][C] from x with the given mean and invstd (the batch's in
 * training, the running ones in evaluation), then ReLU if relu is set (the
 * two in one pass: every batch norm of the head is followed by a ReLU). */
void vt_cn_batchnorm_forward(float *y, const float *x, const float *mean, const float *invstd,
                             const float *gamma, const float *beta, int rows, int C, int relu);
/* A shard's partial sums for the backward pass: sum_dy [C] = sum dy,
 * sum_dy_xhat [C] = sum dy * xhat, in double, where dy is dout, or with a
 * ReLU after the batch norm (relu_out: the forward's output, else NULL)
 * dout where relu_out > 0 and 0 elsewhere. */
void vt_cn_batchnorm_backward_sums(double *sum_dy, double *sum_dy_xhat, const float *dout,
                                   const float *relu_out, const float *x, const float *mean,
                                   const float *invstd, int rows, int C);
/* dx [rows][C] of a shard, given the batch's totals (count = the batch's
 * rows): dx = gamma invstd (dy - sum_dy / count - xhat sum_dy_xhat / count),
 * dy as above. The parameter gradients are the totals themselves: dgamma =
 * sum_dy_xhat, dbeta = sum_dy. */
void vt_cn_batchnorm_backward(float *dx, const float *dout, const float *relu_out, const float *x,
                              const float *mean, const float *invstd, const float *gamma,
                              const float *sum_dy, const float *sum_dy_xhat, double count,
                              int rows, int C);
/* running = (1 - momentum) running + momentum batch (PyTorch's rule) */
void vt_cn_batchnorm_update_running(float *run_mean, float *run_var, const float *mean,
                              const float *var_unbiased, int C, float momentum);

/* ---- 2x2 pools, stride 2: in [n][H][W][C] -> out [n][H/2][W/2][C] ----------
 * An odd last row or column is dropped (floor, as PyTorch). */
void vt_cn_avgpool2_forward(float *out, const float *in, int n, int H, int W, int C);
void vt_cn_avgpool2_backward(float *din, const float *dout, int n, int H, int W, int C);
/* arg [n][H/2][W/2][C]: which of the 4 inputs (dy*2+dx) was the maximum,
 * the first in row order on ties (as PyTorch). */
void vt_cn_maxpool2_forward(float *out, uint8_t *arg, const float *in, int n, int H, int W, int C);
void vt_cn_maxpool2_backward(float *din, const float *dout, const uint8_t *arg, int n, int H, int W,
                       int C);

/* ---- adaptive max pool to a G x G grid: in [n][H][W][C] -> out [n][G][G][C]
 * Cell i of G covers rows floor(i*H/G) .. ceil((i+1)*H/G)-1 (columns
 * likewise), as PyTorch's AdaptiveMaxPool2d; arg holds the y*W+x of each
 * maximum (the first in row order on ties). */
void vt_cn_adaptive_maxpool_forward(float *out, int32_t *arg, const float *in, int n, int H, int W,
                              int C, int G);
void vt_cn_adaptive_maxpool_backward(float *din, const float *dout, const int32_t *arg, int n, int H,
                               int W, int C, int G);

/* ---- dropout: out = in * mask, mask [count] holding 0 or 1/(1-p) ------------ */
void vt_cn_dropout_forward(float *out, const float *in, const float *mask, size_t count);
void vt_cn_dropout_backward(float *din, const float *dout, const float *mask, size_t count);

/* ---- softmax cross-entropy ------------------------------------------------------
 * logits [n][K] -> probs [n][K]; returns sum_i w[y_i] CE(t_i, probs_i) over
 * the n rows (not divided), with the smoothed target t = (1 - s) onehot(y) +
 * s / K and w = class_weight (NULL: all 1). dlogits (if not NULL) =
 * w[y_i] (probs_i - t_i) / scale: the gradient of that sum / scale, scale
 * being the whole batch's row count. */
double vt_cn_softmax_xent_forward_backward(float *dlogits, float *probs, const float *logits,
                                     const int *y, int n, int K, float smoothing,
                                     const float *class_weight, double scale);

/* Mirror image of maps in [n][H][W][C] along W (x -> W-1-x); out may be in. */
void vt_cn_mirror_maps(float *out, const float *in, int n, int H, int W, int C);

#endif
