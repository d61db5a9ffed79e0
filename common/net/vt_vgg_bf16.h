/* vt_vgg_bf16.h: the VGG16 prefix in bf16 (net/vt_conv_bf16.h): bf16
 * weights and activations, float32 sums, float32 outputs where the caller
 * reads them. The layer table and shapes are vt_vgg.h's. */
#ifndef VT_VGG_BF16_H
#define VT_VGG_BF16_H

#include <stdint.h>

#include "net/vt_conv_bf16.h"
#include "net/vt_vgg.h"
#include "net/vt_weights.h"

/* The conv layers of a vt_weights, packed for the bf16 kernels; read-only
 * once made, shared by every thread. */
typedef struct {
  int n_conv;
  vt_conv_bf16 *conv[VT_VGG16_NCONV];
} vt_vgg_bf16_weights;

/* Packs w's n_conv layers. 0, or -1 + reason (out of memory; *out then
 * holds nothing). Works on any CPU; running needs vt_bf16_check() == 0. */
int vt_vgg_bf16_pack(const vt_weights *w, vt_vgg_bf16_weights *out);
void vt_vgg_bf16_weights_free(vt_vgg_bf16_weights *bw);

/* Per-thread working memory for one forward pass, one allocation: the input,
 * a float32 output per layer, two bf16 maps the layers pass between them,
 * and the conv scratch. */
typedef struct {
  int H, W, last_layer;
  float *input;                         /* [H][W][3], preprocessed; fill before forward */
  float *out[VT_VGG16_NLAYERS];         /* out[l]: [h][w][c] float32 of layer l */
  unsigned char keep[VT_VGG16_NLAYERS]; /* out[l] is written: all set by init; clear the
                                           ones you never read (a conv followed by a pool
                                           then runs with the pool fused, its own output
                                           never leaving the kernel) */
  /* stream[l] (0 from init): out[l] is memory the CPU will not read soon,
   * e.g. a store writer's buffer, so it is written past the caches */
  unsigned char stream[VT_VGG16_NLAYERS];
  int oh[VT_VGG16_NLAYERS], ow[VT_VGG16_NLAYERS], oc[VT_VGG16_NLAYERS];
  uint16_t *map[2]; /* bf16 maps (vt_conv_bf16.h), used in turn */
  void *scratch;
  void *memory;
} vt_vgg_bf16_workspace;

/* Plans layers 0..last_layer on an H x W input. 0 or -1 + reason. */
int vt_vgg_bf16_workspace_init(vt_vgg_bf16_workspace *ws, int H, int W, int last_layer);
void vt_vgg_bf16_workspace_free(vt_vgg_bf16_workspace *ws);

/* Runs layers 0..ws->last_layer on ws->input with the bf16 kernels; w must
 * hold every conv layer up to last_layer. Needs vt_bf16_check() == 0. */
void vt_vgg_forward_bf16(const vt_vgg_bf16_weights *w, vt_vgg_bf16_workspace *ws);

/* The same on vt_conv3x3_relu_bf16_naive and vt_maxpool2x2_naive from the
 * float32 weights, writing every out[l] (tests; any CPU). */
void vt_vgg_forward_bf16_naive(const vt_weights *w, vt_vgg_bf16_workspace *ws);

#endif
