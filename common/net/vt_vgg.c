/* The VGG16 convolutional prefix: layer table, shapes, one-allocation
 * workspace, and the forward pass as a plain sequence of kernel calls. */
#include "net/vt_vgg.h"

#include <assert.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "net/vt_conv.h"

const vt_layer_def vt_vgg16_layers[VT_VGG16_NLAYERS] = {
    {"block1_conv1", VT_LAYER_CONV, 3, 64, 0},     {"block1_conv2", VT_LAYER_CONV, 64, 64, 1},
    {"block1_pool", VT_LAYER_POOL, 64, 64, -1},    {"block2_conv1", VT_LAYER_CONV, 64, 128, 2},
    {"block2_conv2", VT_LAYER_CONV, 128, 128, 3},  {"block2_pool", VT_LAYER_POOL, 128, 128, -1},
    {"block3_conv1", VT_LAYER_CONV, 128, 256, 4},  {"block3_conv2", VT_LAYER_CONV, 256, 256, 5},
    {"block3_conv3", VT_LAYER_CONV, 256, 256, 6},  {"block3_pool", VT_LAYER_POOL, 256, 256, -1},
    {"block4_conv1", VT_LAYER_CONV, 256, 512, 7},  {"block4_conv2", VT_LAYER_CONV, 512, 512, 8},
    {"block4_conv3", VT_LAYER_CONV, 512, 512, 9},  {"block4_pool", VT_LAYER_POOL, 512, 512, -1},
    {"block5_conv1", VT_LAYER_CONV, 512, 512, 10}, {"block5_conv2", VT_LAYER_CONV, 512, 512, 11},
    {"block5_conv3", VT_LAYER_CONV, 512, 512, 12}, {"block5_pool", VT_LAYER_POOL, 512, 512, -1},
};

int vt_vgg16_layer_index(const char *name) {
  for (int l = 0; l < VT_VGG16_NLAYERS; l++)
    if (strcmp(vt_vgg16_layers[l].name, name) == 0) return l;
  return -1;
}

int vt_vgg16_convs_needed(int layer) {
  int n = 0;
  for (int l = 0; l <= layer && l < VT_VGG16_NLAYERS; l++) n += vt_vgg16_layers[l].kind == VT_LAYER_CONV;
  return n;
}

int vt_vgg16_layer_shape(int layer, int H, int W, int *oh, int *ow, int *oc) {
  if (layer < 0 || layer >= VT_VGG16_NLAYERS) return vt_fail("VGG16 layer index %d out of range", layer);
  if (H < 1 || W < 1) return vt_fail("input size %dx%d is empty", H, W);
  int h = H, w = W, min_side = 1;
  for (int l = 0; l <= layer; l++) {
    if (vt_vgg16_layers[l].kind != VT_LAYER_POOL) continue;
    h /= 2, w /= 2, min_side *= 2; /* Keras 'valid' pooling drops an odd last row/column */
    if (h == 0 || w == 0)
      return vt_fail("a %dx%d input is too small for %s: %s would output %dx%d (needs at least %dx%d)",
                     H, W, vt_vgg16_layers[layer].name, vt_vgg16_layers[l].name, h, w, min_side,
                     min_side);
  }
  *oh = h, *ow = w, *oc = vt_vgg16_layers[layer].cout;
  return 0;
}

/* Whether layer l starts a block that the forward pass chains (block1,
 * block2: vt_vgg_forward's block_chained), whose scratch the workspace
 * then holds. */
static int chained(int l) { return l == 0 || l == 3; }

/* Floats in an [h][w][c] tensor, rounded up to a multiple of 16 so that every
 * tensor carved after it stays 64-byte aligned. The kernels index with int, so
 * a tensor must also stay below INT_MAX elements. */
static int tensor_floats(int h, int w, int c, const char *name, size_t *n) {
  if (vt_size_mul3((size_t)h, (size_t)w, (size_t)c, n) < 0) return -1;
  if (*n > (size_t)INT_MAX) return vt_fail("%s output %dx%dx%d is too large", name, h, w, c);
  *n = (*n + 15) & ~(size_t)15;
  return 0;
}

int vt_vgg_workspace_init(vt_vgg_workspace *ws, int H, int W, int last_layer) {
  memset(ws, 0, sizeof *ws);
  if (last_layer < 0 || last_layer >= VT_VGG16_NLAYERS)
    return vt_fail("VGG16 layer index %d out of range", last_layer);
  size_t sizes[VT_VGG16_NLAYERS + 2], total = 0; /* input, layers, scratch */
  if (tensor_floats(H, W, 3, "input", &sizes[0]) < 0) return -1;
  size_t scratch = 0;
  for (int l = 0; l <= last_layer; l++) {
    const vt_layer_def *d = &vt_vgg16_layers[l];
    if (vt_vgg16_layer_shape(l, H, W, &ws->oh[l], &ws->ow[l], &ws->oc[l]) < 0) return -1;
    if (tensor_floats(ws->oh[l], ws->ow[l], ws->oc[l], d->name, &sizes[1 + l]) < 0) return -1;
    if (d->kind == VT_LAYER_CONV) {
      size_t s = vt_conv3x3_auto_scratch_floats(ws->oh[l], ws->ow[l], d->cin, d->cout);
      if (chained(l) && l + 2 <= last_layer) {
        size_t sp = vt_conv3x3_pair_auto_scratch_floats(ws->oh[l], ws->ow[l], d->cin, d->cout,
                                                        vt_vgg16_layers[l + 1].cout);
        if (sp > s) s = sp;
      }
      if (s > scratch) scratch = s;
    }
  }
  sizes[1 + last_layer + 1] = (scratch + 15) & ~(size_t)15;
  for (int i = 0; i <= last_layer + 2; i++)
    if (vt_size_add(total, sizes[i], &total) < 0) return -1;
  size_t bytes;
  if (vt_size_mul(total, sizeof(float), &bytes) < 0) return -1;
  float *p = vt_aligned_alloc(bytes);
  if (!p) return -1;
  ws->memory = p;
  ws->H = H, ws->W = W, ws->last_layer = last_layer;
  ws->input = p, p += sizes[0];
  for (int l = 0; l <= last_layer; l++) ws->out[l] = p, p += sizes[1 + l], ws->keep[l] = 1;
  ws->scratch = p;
  return 0;
}

void vt_vgg_workspace_free(vt_vgg_workspace *ws) {
  free(ws->memory);
  memset(ws, 0, sizeof *ws);
}

/* ---------------------------------------------------------------------------
 * The forward pass. Each VGG block is one call, and what runs in it is
 * written there: which layers are fused, which outputs are written. The
 * calls take the packed layers (conv[i] for conv layer i), each of which
 * carries the kernels of the path (and precision) it was packed for. */

static const float *input_of(const vt_vgg_workspace *ws, int l) { return l == 0 ? ws->input : ws->out[l - 1]; }

/* Layer l's output buffer if the caller keeps it, else NULL: a fused call
 * then never writes the map. */
static float *kept(const vt_vgg_workspace *ws, int l) { return ws->keep[l] ? ws->out[l] : NULL; }

/* A block's convs one after the other, the pool fused into the last one's
 * output transform; layers first .. first+n-1 are the convs, first+n the
 * pool. A pass that ends inside the block stops at its last layer. Returns
 * whether the pass goes on after the block. */
static int block_convs(const vt_conv3x3_packed *const conv[], vt_vgg_workspace *ws, int first, int n) {
  int pool = first + n, last = ws->last_layer;
  for (int l = first; l < pool && l <= last; l++) {
    const vt_conv3x3_packed *p = conv[vt_vgg16_layers[l].conv_index];
    if (l == pool - 1 && pool <= last) /* conv, ReLU, pool in one pass over the tiles */
      vt_conv3x3_relu_pool_packed(p, input_of(ws, l), ws->oh[l], ws->ow[l], kept(ws, l), ws->out[pool],
                                  ws->stream[pool], ws->scratch);
    else
      vt_conv3x3_relu_packed(p, input_of(ws, l), ws->oh[l], ws->ow[l], ws->out[l], ws->scratch);
  }
  return pool < last;
}

/* A block of two convs and the pool chained in row bands (block1, block2:
 * big maps, small kernels), so that the first conv's output stays in cache
 * and, unless kept, neither conv's map is written at all. A pass that ends
 * inside the block runs it conv by conv. */
static int block_chained(const vt_conv3x3_packed *const conv[], vt_vgg_workspace *ws, int first) {
  int pool = first + 2;
  if (ws->last_layer < pool) return block_convs(conv, ws, first, 2);
  const vt_conv3x3_packed *a = conv[vt_vgg16_layers[first].conv_index];
  const vt_conv3x3_packed *b = conv[vt_vgg16_layers[first + 1].conv_index];
  vt_conv3x3_pair_pool_packed(a, b, input_of(ws, first), ws->oh[first], ws->ow[first], kept(ws, first),
                              kept(ws, first + 1), ws->out[pool], ws->stream[pool], ws->scratch);
  return pool < ws->last_layer;
}

void vt_vgg_forward(const vt_weights *w, vt_vgg_workspace *ws) {
  const vt_conv3x3_packed *conv[VT_VGG16_NCONV] = {0};
  for (int i = 0; i < vt_vgg16_convs_needed(ws->last_layer); i++) {
    assert(i < w->n_conv && w->conv[i].packed);
    conv[i] = w->conv[i].packed;
  }
  /* Layers 0..17; shapes for an H x W input, each pool floor-halving it. */
  if (!block_chained(conv, ws, 0)) return;   /* block1 [H][W][3]       -> 64, 64    -> [H/2][W/2][64]    */
  if (!block_chained(conv, ws, 3)) return;   /* block2 [H/2][W/2][64]  -> 128, 128  -> [H/4][W/4][128]   */
  if (!block_convs(conv, ws, 6, 3)) return;  /* block3 [H/4][W/4][128] -> 256 x 3   -> [H/8][W/8][256]   */
  if (!block_convs(conv, ws, 10, 3)) return; /* block4 [H/8][W/8][256] -> 512 x 3   -> [H/16][W/16][512] */
  block_convs(conv, ws, 14, 3);              /* block5 [H/16][W/16]    -> 512 x 3   -> [H/32][W/32][512] */
}

/* The reference: every layer in turn with the naive kernels, each output
 * written. */
void vt_vgg_forward_naive(const vt_weights *w, vt_vgg_workspace *ws) {
  for (int l = 0; l <= ws->last_layer; l++) {
    const vt_layer_def *d = &vt_vgg16_layers[l];
    if (d->kind == VT_LAYER_CONV) {
      const vt_conv_weights *cw = &w->conv[d->conv_index];
      assert(d->conv_index < w->n_conv && cw->cin == d->cin && cw->cout == d->cout);
      vt_conv3x3_relu_naive(input_of(ws, l), ws->oh[l], ws->ow[l], d->cin, cw->kernel, cw->bias, d->cout,
                            ws->out[l]);
    } else {
      vt_maxpool2x2_naive(ws->out[l - 1], ws->oh[l - 1], ws->ow[l - 1], d->cin, ws->out[l]);
    }
  }
}
