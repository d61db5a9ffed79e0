/* vt_convnet.h: the convolutional head trained on stored maps (issue 24):
 *
 *   map [H][W][C] -> (optional 2x2 average pool)
 *     -> for each conv l: conv (3x3 pad 1, or 1x1) -> batch norm -> ReLU
 *                         -> 2x2 max pool (every conv but the last)
 *     -> adaptive max pool to G x G -> dropout -> dense -> softmax
 *
 * The model in llm.c's style: one parameter buffer carved into named
 * tensors (and the gradient buffer carved the same way), the forward pass a
 * straight sequence of layer calls (vt_convnet_layers.h). A batch is cut
 * into shards of VT_CONVNET_GRAIN examples; the members of a thread team
 * each take a fixed set of shards, and everything the shards share (batch
 * norm's batch statistics, parameter gradients) is combined shard by shard
 * in shard order. So the same inputs give bitwise the same outputs whatever
 * the number of threads. */
#ifndef VT_CONVNET_H
#define VT_CONVNET_H

#include <stddef.h>
#include <stdint.h>

#include "vt_convnet_layers.h"
#include "vt_rng.h"
#include "vt_team.h"

enum { VT_CONVNET_MAX_CONVS = 8, VT_CONVNET_GRAIN = 8 };

typedef struct {
  int in_h, in_w, in_c; /* the stored map */
  int in_pool;          /* 1: 2x2 average pool of the map first */
  int n_convs;
  int ksize[VT_CONVNET_MAX_CONVS]; /* 3 or 1 */
  int width[VT_CONVNET_MAX_CONVS]; /* output channels */
  int conv_bias;        /* convs have a bias (batch norm makes it redundant: default 0) */
  int grid;             /* G of the adaptive max pool */
  float dropout;        /* drop probability before the dense layer (training) */
  int classes;
  float bn_eps, bn_momentum; /* PyTorch's 1e-5 and 0.1 */
} vt_convnet_config;

/* The default head for a map of h x w x c (issue 24's recipe, adapted to
 * the map's size): a 2x2 average pool first when the map is at least 56
 * wide and high (block2_pool's 56x56 -> 28x28; a 28x28 map is used as is),
 * convs 3x3 64 and 3x3 64 (a max pool between), G = min(4, the last
 * conv's map size), dropout 0.5, no conv bias. 0, or -1 + reason when the
 * map is too small for two convs and a pool. */
int vt_convnet_config_default(vt_convnet_config *c, int h, int w, int ch, int classes);
/* Sets the convs from a comma list of widths, each optionally prefixed by
 * its kernel: "64,64" (two 3x3 convs), "1x1:32,64" (issue 24's lighter
 * head: a 1x1 conv to 32 channels, then a 3x3 conv to 64). Checks nothing
 * but the syntax; vt_convnet_init checks the shapes. 0 or -1 + reason. */
int vt_convnet_parse_convs(vt_convnet_config *c, const char *spec);
/* The convs as vt_convnet_parse_convs reads them ("1x1:32,64"). */
void vt_convnet_convs_text(const vt_convnet_config *c, char *out, size_t n);

/* Named views of a parameter-shaped buffer (the parameters, or a gradient). */
typedef struct {
  float *conv_k[VT_CONVNET_MAX_CONVS];   /* [k][k][Cin][Cout] (HWIO) */
  float *conv_b[VT_CONVNET_MAX_CONVS];   /* [Cout], NULL without conv bias */
  float *bn_gamma[VT_CONVNET_MAX_CONVS]; /* [Cout] */
  float *bn_beta[VT_CONVNET_MAX_CONVS];  /* [Cout] */
  float *fc_k;                           /* [G*G*C][classes], rows in [gy][gx][c] order */
  float *fc_b;                           /* [classes] */
} vt_convnet_tensors;

typedef struct {
  vt_convnet_config cfg;
  /* shapes: conv l reads [h[l]][w[l]][cin[l]] and writes [h[l]][w[l]][width[l]] */
  int h0, w0; /* after the input pool */
  int h[VT_CONVNET_MAX_CONVS], w[VT_CONVNET_MAX_CONVS], cin[VT_CONVNET_MAX_CONVS];
  int feat;   /* G*G*C of the last conv: the dense layer's input */
  size_t n_params;
  float *params; /* one allocation, carved into p */
  vt_convnet_tensors p;
  /* batch norm's running statistics: state, not parameters (not trained) */
  float *bn_mean[VT_CONVNET_MAX_CONVS], *bn_var[VT_CONVNET_MAX_CONVS];
  size_t n_state;
  float *state;
} vt_convnet;

/* Checks the config's shapes and allocates the net: parameters zero, running
 * means 0 and variances 1. 0 or -1 + reason (naming the layer that does not
 * fit). */
int vt_convnet_init(vt_convnet *net, const vt_convnet_config *c);
void vt_convnet_free(vt_convnet *net);
/* Carves a buffer of net->n_params floats into named tensors. */
void vt_convnet_carve(const vt_convnet *net, float *base, vt_convnet_tensors *t);
/* PyTorch's default initialisation: conv and dense weights and biases
 * uniform in +-1/sqrt(fan_in), batch norm gamma 1 and beta 0; running
 * statistics reset. */
void vt_convnet_init_weights(vt_convnet *net, vt_rng *r);

/* The working memory of batches of up to max_batch examples, and the team
 * that runs them (NULL: the calling thread alone). */
typedef struct vt_convnet_shard vt_convnet_shard;
typedef struct {
  int max_batch, n_shards;
  vt_convnet_shard *shards;
  vt_team *team;
  float *grad; /* [n_params]: the batch's gradient, carved as the params */
  vt_cn_bn_stats *stats[VT_CONVNET_MAX_CONVS]; /* [n_shards]: batch norm partials of conv l */
} vt_convnet_work;

int vt_convnet_work_init(vt_convnet_work *w, const vt_convnet *net, int max_batch, vt_team *team);
void vt_convnet_work_free(vt_convnet_work *w);

typedef struct {
  float label_smoothing;
  const float *class_weight; /* [classes] or NULL */
} vt_convnet_loss;

/* One training evaluation of a batch of n <= max_batch maps x [n][H][W][C]
 * with labels y: forward in training mode (batch statistics; dropout
 * multipliers from mask [n][feat], each 0 or 1/(1-p), or NULL for none),
 * the loss (1/n) sum_i w[y_i] CE(smoothed target_i, softmax(logits_i))
 * returned, its gradient in w->grad, the running statistics updated, and
 * the batch's probabilities in probs [n][classes] (if not NULL). */
double vt_convnet_train_step(vt_convnet *net, vt_convnet_work *w, const float *x, const int *y,
                             int n, const float *mask, const vt_convnet_loss *loss, float *probs);
/* Class probabilities of n <= max_batch maps in evaluation mode (running
 * statistics, no dropout). */
void vt_convnet_predict(const vt_convnet *net, vt_convnet_work *w, const float *x, int n,
                        float *probs);
/* The same, logits instead of probabilities. */
void vt_convnet_logits(const vt_convnet *net, vt_convnet_work *w, const float *x, int n,
                       float *logits);

#endif
