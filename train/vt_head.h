/* vt_head.h: the trainable head on pooled features: softmax regression (one
 * dense layer) or an MLP (dense + ReLU [+ dropout] layers, then a dense layer
 * to the classes), its forward pass, cross-entropy loss and gradients. The
 * matrix products run on BLIS; every other reduction is a plain loop in a
 * fixed order, so the same inputs give bitwise the same outputs. */
#ifndef VT_HEAD_H
#define VT_HEAD_H

#include <stddef.h>

#include "vt_rng.h"

enum { VT_HEAD_MAX_LAYERS = 8 };

typedef struct {
  int n_layers;                     /* dense layers; 1 = softmax regression */
  int dims[VT_HEAD_MAX_LAYERS + 1]; /* dims[0] = features, dims[n_layers] = classes */
  size_t n_params;
  float *params;                    /* every weight and bias, one allocation */
  float *W[VT_HEAD_MAX_LAYERS];     /* W[l]: [dims[l]][dims[l+1]], Keras Dense kernel layout */
  float *b[VT_HEAD_MAX_LAYERS];     /* b[l]: [dims[l+1]] */
} vt_head;

/* The parameters (weights + biases) of such a head, with checked
 * arithmetic, without allocating it: 0, or -1 + reason (bad shape, or a
 * count that overflows). */
int vt_head_param_count(int n_features, int n_hidden, const int *hidden, int n_classes, size_t *n);
/* Allocates a head with n_hidden hidden layers of the given widths (n_hidden
 * = 0: softmax regression), parameters zeroed. 0 or -1 + reason. */
int vt_head_init(vt_head *h, int n_features, int n_hidden, const int *hidden, int n_classes);
void vt_head_free(vt_head *h);
/* Initial weights: zeros for softmax regression (its loss is convex), He
 * uniform for ReLU layers and Glorot uniform for the output layer of an MLP;
 * biases zero. */
void vt_head_init_weights(vt_head *h, vt_rng *r);
/* Offsets of layer l's weights and bias inside a parameter-shaped array. */
size_t vt_head_weight_offset(const vt_head *h, int l);
size_t vt_head_bias_offset(const vt_head *h, int l);

typedef struct {
  float label_smoothing;     /* target = (1 - s) one-hot + s / classes */
  const float *class_weight; /* [classes] loss weight of each true class, or NULL (all 1) */
  float dropout;             /* drop probability of hidden activations in training */
} vt_loss_config;

/* Per-batch working memory (activations, dropout masks, gradients). */
typedef struct {
  int max_batch;
  float *act[VT_HEAD_MAX_LAYERS + 1]; /* act[l], l >= 1: output of layer l; act[n_layers]: probabilities */
  float *keep[VT_HEAD_MAX_LAYERS];    /* dropout multipliers of hidden layer outputs (0 or 1/(1-p)) */
  float *delta[VT_HEAD_MAX_LAYERS + 1]; /* d loss / d (pre-activation of layer l) scratch */
  float *grad;                        /* [n_params], laid out as the head's params */
  void *memory;
} vt_head_work;

int vt_head_work_init(vt_head_work *w, const vt_head *h, int max_batch);
void vt_head_work_free(vt_head_work *w);

/* Class probabilities of n rows x [n][dims[0]] -> probs [n][classes], without
 * dropout. Any n (runs in batches of w->max_batch). */
void vt_head_predict(const vt_head *h, vt_head_work *w, const float *x, int n, float *probs);
/* The same averaged with the probabilities on x_mirror [n][dims[0]], the
 * features of the same rows' mirror images (--augment flip), when x_mirror
 * is not NULL. */
void vt_head_predict_mirrored(const vt_head *h, vt_head_work *w, const float *x, const float *x_mirror,
                              int n, float *probs);

/* One training evaluation on a batch (n <= max_batch): forward with dropout
 * masks drawn from r (r may be NULL when c->dropout is 0), the loss
 *   (1/n) sum_i class_weight[y_i] * CE(smoothed target_i, softmax(logits_i)),
 * returned, and its gradient with respect to every parameter in w->grad. The
 * batch's probabilities are left in w->act[h->n_layers]. */
double vt_head_loss_grad(const vt_head *h, vt_head_work *w, const float *x, const int *y, int n,
                         const vt_loss_config *c, vt_rng *r);

/* Parameters of the head this project replaces: Flatten of an h x w x c map,
 * Dense(4096), Dense(4096), Dense(classes), all with biases. */
long long vt_dense_baseline_params(long long h, long long w, long long c, long long classes);

#endif
