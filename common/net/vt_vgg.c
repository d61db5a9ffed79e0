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

/* Whether layer l starts a block of two convs and a pool (block1, block2:
 * big activations, small transformed kernels, so chaining the block in row
 * bands keeps the activations in cache at the price of streaming the second
 * kernel once per band; deeper blocks' kernels are too big for that). */
static int starts_pair(int l) {
  return (l == 0 || vt_vgg16_layers[l - 1].kind == VT_LAYER_POOL) && l + 2 < VT_VGG16_NLAYERS &&
         vt_vgg16_layers[l + 1].kind == VT_LAYER_CONV && vt_vgg16_layers[l + 2].kind == VT_LAYER_POOL;
}

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
      size_t s = vt_conv3x3_scratch_floats(ws->ow[l], d->cin);
      size_t sp = vt_conv3x3_auto_scratch_floats(ws->oh[l], ws->ow[l], d->cin, d->cout);
      if (sp > s) s = sp;
      if (starts_pair(l) && l + 2 <= last_layer) {
        sp = vt_conv3x3_pair_auto_scratch_floats(ws->oh[l], ws->ow[l], d->cin, d->cout,
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

/* The forward pass below is written once for both kernel sets. */
typedef struct {
  void (*conv)(const float *in, int H, int W, int Cin, const float *kernel, const float *bias,
               int Cout, float *out, float *scratch);
  void (*pool)(const float *in, int H, int W, int C, float *out);
} kernels;

static void conv_naive(const float *in, int H, int W, int Cin, const float *kernel,
                       const float *bias, int Cout, float *out, float *scratch) {
  vt_conv3x3_relu_naive(in, H, W, Cin, kernel, bias, Cout, out);
}

static const kernels fast = {vt_conv3x3_relu, vt_maxpool2x2};
static const kernels naive = {conv_naive, vt_maxpool2x2_naive};

/* The fast pass on packed weights runs such a block as one chained call when
 * the workspace reaches its pool; the layers it covers are then done already
 * when the forward pass gets to them. */
static int chain(const vt_weights *w, vt_vgg_workspace *ws, int l) {
  if (!starts_pair(l) || l + 2 > ws->last_layer) return 0;
  const vt_conv_weights *a = &w->conv[vt_vgg16_layers[l].conv_index], *b = a + 1;
  if (!a->packed || !b->packed) return 0;
  const float *in = l == 0 ? ws->input : ws->out[l - 1];
  vt_conv3x3_pair_pool_packed(a->packed, b->packed, in, ws->oh[l], ws->ow[l],
                              ws->keep[l] ? ws->out[l] : NULL, ws->keep[l + 1] ? ws->out[l + 1] : NULL,
                              ws->out[l + 2], ws->stream[l + 2], ws->scratch);
  return 1;
}

/* Runs layer l on the output of layer l-1 (or the input); returns whether the
 * forward pass continues past it. *done: the last layer already computed. */
static int conv(const kernels *k, const vt_weights *w, vt_vgg_workspace *ws, int l, int *done) {
  const vt_conv_weights *cw = &w->conv[vt_vgg16_layers[l].conv_index];
  const float *in = l == 0 ? ws->input : ws->out[l - 1];
  assert(vt_vgg16_layers[l].conv_index < w->n_conv && cw->cin == vt_vgg16_layers[l].cin);
  if (l <= *done) return l < ws->last_layer;
  if (k == &fast && chain(w, ws, l)) {
    *done = l + 2;
  } else if (k == &fast && cw->packed) {
    /* Packed weights (Winograd); a 2x2 max-pool right after is fused in. */
    float *pooled = l < ws->last_layer && vt_vgg16_layers[l + 1].kind == VT_LAYER_POOL ? ws->out[l + 1] : NULL;
    vt_conv3x3_relu_pool_packed(cw->packed, in, ws->oh[l], ws->ow[l], ws->out[l], pooled,
                                pooled && ws->stream[l + 1], ws->scratch);
  } else {
    k->conv(in, ws->oh[l], ws->ow[l], cw->cin, cw->kernel, cw->bias, cw->cout, ws->out[l], ws->scratch);
  }
  return l < ws->last_layer;
}

static int pool(const kernels *k, const vt_weights *w, vt_vgg_workspace *ws, int l, int *done) {
  const vt_conv_weights *before = &w->conv[vt_vgg16_layers[l - 1].conv_index];
  if (l > *done && !(k == &fast && before->packed)) /* else conv() has pooled already */
    k->pool(ws->out[l - 1], ws->oh[l - 1], ws->ow[l - 1], ws->oc[l - 1], ws->out[l]);
  return l < ws->last_layer;
}

static void forward(const kernels *k, const vt_weights *w, vt_vgg_workspace *ws) {
  int done = -1;
  /* Shapes for an H x W input; pools floor-halve (Keras 'valid'). */
  if (!conv(k, w, ws, 0, &done)) return;  /* block1_conv1  [H][W][3]         -> [H][W][64]        */
  if (!conv(k, w, ws, 1, &done)) return;  /* block1_conv2  [H][W][64]        -> [H][W][64]        */
  if (!pool(k, w, ws, 2, &done)) return;  /* block1_pool   [H][W][64]        -> [H/2][W/2][64]    */
  if (!conv(k, w, ws, 3, &done)) return;  /* block2_conv1  [H/2][W/2][64]    -> [H/2][W/2][128]   */
  if (!conv(k, w, ws, 4, &done)) return;  /* block2_conv2  [H/2][W/2][128]   -> [H/2][W/2][128]   */
  if (!pool(k, w, ws, 5, &done)) return;  /* block2_pool   [H/2][W/2][128]   -> [H/4][W/4][128]   */
  if (!conv(k, w, ws, 6, &done)) return;  /* block3_conv1  [H/4][W/4][128]   -> [H/4][W/4][256]   */
  if (!conv(k, w, ws, 7, &done)) return;  /* block3_conv2  [H/4][W/4][256]   -> [H/4][W/4][256]   */
  if (!conv(k, w, ws, 8, &done)) return;  /* block3_conv3  [H/4][W/4][256]   -> [H/4][W/4][256]   */
  if (!pool(k, w, ws, 9, &done)) return;  /* block3_pool   [H/4][W/4][256]   -> [H/8][W/8][256]   */
  if (!conv(k, w, ws, 10, &done)) return; /* block4_conv1  [H/8][W/8][256]   -> [H/8][W/8][512]   */
  if (!conv(k, w, ws, 11, &done)) return; /* block4_conv2  [H/8][W/8][512]   -> [H/8][W/8][512]   */
  if (!conv(k, w, ws, 12, &done)) return; /* block4_conv3  [H/8][W/8][512]   -> [H/8][W/8][512]   */
  if (!pool(k, w, ws, 13, &done)) return; /* block4_pool   [H/8][W/8][512]   -> [H/16][W/16][512] */
  if (!conv(k, w, ws, 14, &done)) return; /* block5_conv1  [H/16][W/16][512] -> [H/16][W/16][512] */
  if (!conv(k, w, ws, 15, &done)) return; /* block5_conv2  [H/16][W/16][512] -> [H/16][W/16][512] */
  if (!conv(k, w, ws, 16, &done)) return; /* block5_conv3  [H/16][W/16][512] -> [H/16][W/16][512] */
  pool(k, w, ws, 17, &done);              /* block5_pool   [H/16][W/16][512] -> [H/32][W/32][512] */
}

void vt_vgg_forward(const vt_weights *w, vt_vgg_workspace *ws) { forward(&fast, w, ws); }

void vt_vgg_forward_naive(const vt_weights *w, vt_vgg_workspace *ws) { forward(&naive, w, ws); }
