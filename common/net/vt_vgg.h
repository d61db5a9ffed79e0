/* vt_vgg.h: the VGG16 convolutional prefix: its layer table and a forward
 * pass that runs only as deep as needed. */
#ifndef VT_VGG_H
#define VT_VGG_H

#include <stddef.h>

#include "net/vt_weights.h"

enum { VT_VGG16_NLAYERS = 18 }; /* block1_conv1 .. block5_pool */

typedef enum { VT_LAYER_CONV, VT_LAYER_POOL } vt_layer_kind;

typedef struct {
  const char *name; /* Keras layer name, e.g. "block2_pool" */
  vt_layer_kind kind;
  int cin, cout; /* channels (pool: cin == cout) */
  int conv_index; /* index into vt_weights.conv for conv layers, -1 for pools */
} vt_layer_def;

extern const vt_layer_def vt_vgg16_layers[VT_VGG16_NLAYERS];

/* Index of the layer with this name, or -1. */
int vt_vgg16_layer_index(const char *name);

/* Number of conv layers among layers 0..layer: how many vt_weights_load must
 * read to run up to `layer`. */
int vt_vgg16_convs_needed(int layer);

/* Output shape of layer `layer` for an input of H x W: returns 0, or -1 with a
 * reason if the map would become empty. */
int vt_vgg16_layer_shape(int layer, int H, int W, int *oh, int *ow, int *oc);

/* Per-thread working memory for one forward pass: every layer's output up to
 * the deepest one, carved from one allocation (llm.c style), plus the conv
 * scratch. */
typedef struct {
  int H, W, last_layer;
  float *input;                       /* [H][W][3], preprocessed; fill before forward */
  float *out[VT_VGG16_NLAYERS];       /* out[l]: [h][w][c] of layer l (NULL past last_layer) */
  unsigned char keep[VT_VGG16_NLAYERS]; /* out[l] is wanted after vt_vgg_forward: all set by
                                           init; clear the ones you never read, and the fast
                                           pass may leave those of convs whose output feeds
                                           a fused pool unwritten (block1 and block2 then
                                           run in row bands, in cache) */
  /* stream[l] (pool layers; 0 from init): out[l] is memory the CPU will not
   * read soon, e.g. a store writer's buffer, so the fast pass writes it past
   * the caches: 3.2 MB a block1 map without each line's read for ownership */
  unsigned char stream[VT_VGG16_NLAYERS];
  int oh[VT_VGG16_NLAYERS], ow[VT_VGG16_NLAYERS], oc[VT_VGG16_NLAYERS];
  float *scratch;
  void *memory;
} vt_vgg_workspace;

/* Plans for layers 0..last_layer on an H x W input. Returns 0 or -1 + reason. */
int vt_vgg_workspace_init(vt_vgg_workspace *ws, int H, int W, int last_layer);
void vt_vgg_workspace_free(vt_vgg_workspace *ws);

/* Runs layers 0..ws->last_layer on ws->input with the fast kernels, block by
 * block (vt_vgg.c says which layers each call fuses). w must hold every conv
 * layer up to last_layer, packed (vt_weights_load packs them;
 * vt_weights_pack weights built by hand). */
void vt_vgg_forward(const vt_weights *w, vt_vgg_workspace *ws);
/* The same with the naive kernels, layer by layer, every output written: the
 * reference (tests only). Needs only kernel and bias. */
void vt_vgg_forward_naive(const vt_weights *w, vt_vgg_workspace *ws);

#endif
