/* The VGG16 prefix in bf16: packed weights, the one-allocation workspace and
 * the forward pass as a plain sequence of layer calls. */
#include "net/vt_vgg_bf16.h"

#include <assert.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "net/vt_conv.h"

int vt_vgg_bf16_pack(const vt_weights *w, vt_vgg_bf16_weights *out) {
  memset(out, 0, sizeof *out);
  for (int i = 0; i < w->n_conv; i++) {
    const vt_conv_weights *c = &w->conv[i];
    if (!(out->conv[i] = vt_conv_bf16_pack(c->kernel, c->bias, c->cin, c->cout))) {
      vt_vgg_bf16_weights_free(out);
      return -1;
    }
    out->n_conv = i + 1;
  }
  return 0;
}

void vt_vgg_bf16_weights_free(vt_vgg_bf16_weights *bw) {
  for (int i = 0; i < bw->n_conv; i++) vt_conv_bf16_free(bw->conv[i]);
  memset(bw, 0, sizeof *bw);
}

/* Bytes of n elements of size each, rounded up to 64 so that every part
 * carved after it stays aligned; the kernels index with int, so a tensor
 * also stays below INT_MAX elements. */
static int part_bytes(size_t n, size_t size, const char *name, size_t *bytes) {
  if (n == 0 || n > (size_t)INT_MAX) return vt_fail("%s is too large", name);
  if (vt_size_mul(n, size, bytes) < 0 || vt_size_add(*bytes, 63, bytes) < 0) return -1;
  *bytes &= ~(size_t)63;
  return 0;
}

/* Whether layer l starts a block of two convs and a pool whose pool the
 * pass reaches (block1, block2: large maps and small weights, which
 * vt_conv3x3_bf16_pair_pool runs in bands of rows). */
static int pair_at(int l, int last) {
  const vt_layer_def *d = vt_vgg16_layers;
  return l + 2 <= last && d[l + 1].kind == VT_LAYER_CONV && d[l + 2].kind == VT_LAYER_POOL &&
         (l == 0 || d[l - 1].kind == VT_LAYER_POOL);
}

int vt_vgg_bf16_workspace_init(vt_vgg_bf16_workspace *ws, int H, int W, int last_layer) {
  memset(ws, 0, sizeof *ws);
  if (last_layer < 0 || last_layer >= VT_VGG16_NLAYERS)
    return vt_fail("VGG16 layer index %d out of range", last_layer);
  size_t n, in_bytes, out_bytes[VT_VGG16_NLAYERS], map_bytes, scratch = 0, total;
  if (vt_size_mul3((size_t)H, (size_t)W, 3, &n) < 0 ||
      part_bytes(n, sizeof(float), "the input", &in_bytes) < 0 ||
      part_bytes(vt_bf16_map_elems(H, W, 3), sizeof(uint16_t), "the input map", &map_bytes) < 0)
    return -1;
  for (int l = 0; l <= last_layer; l++) {
    const vt_layer_def *d = &vt_vgg16_layers[l];
    size_t mb, sb;
    if (vt_vgg16_layer_shape(l, H, W, &ws->oh[l], &ws->ow[l], &ws->oc[l]) < 0 ||
        vt_size_mul3((size_t)ws->oh[l], (size_t)ws->ow[l], (size_t)ws->oc[l], &n) < 0 ||
        part_bytes(n, sizeof(float), d->name, &out_bytes[l]) < 0 ||
        part_bytes(vt_bf16_map_elems(ws->oh[l], ws->ow[l], ws->oc[l]), sizeof(uint16_t), d->name, &mb) < 0)
      return -1;
    if (mb > map_bytes) map_bytes = mb;
    if (d->kind == VT_LAYER_CONV &&
        (sb = vt_conv_bf16_scratch_bytes(d->cin, d->cout, ws->oh[l], ws->ow[l])) > scratch)
      scratch = sb;
    if (pair_at(l, last_layer) &&
        (sb = vt_conv_bf16_pair_scratch_bytes(d->cin, d->cout, vt_vgg16_layers[l + 1].cout, ws->oh[l],
                                              ws->ow[l])) > scratch)
      scratch = sb;
  }
  total = in_bytes + scratch;
  for (int l = 0; l <= last_layer; l++)
    if (vt_size_add(total, out_bytes[l], &total) < 0) return -1;
  if (vt_size_add(total, 2 * map_bytes, &total) < 0) return -1;
  char *p = vt_aligned_alloc(total);
  if (!p) return -1;
  ws->memory = p;
  ws->H = H, ws->W = W, ws->last_layer = last_layer;
  ws->input = (float *)p, p += in_bytes;
  for (int l = 0; l <= last_layer; l++) ws->out[l] = (float *)p, p += out_bytes[l], ws->keep[l] = 1;
  ws->map[0] = (uint16_t *)p, p += map_bytes;
  ws->map[1] = (uint16_t *)p, p += map_bytes;
  ws->scratch = p;
  return 0;
}

void vt_vgg_bf16_workspace_free(vt_vgg_bf16_workspace *ws) {
  free(ws->memory);
  memset(ws, 0, sizeof *ws);
}

/* One forward pass: the weights, the workspace, which of the two maps
 * holds the activations the next layer reads, and the last layer done. */
typedef struct {
  const vt_vgg_bf16_weights *w;
  vt_vgg_bf16_workspace *ws;
  int cur, done;
} pass;

static int pool_follows(const vt_vgg_bf16_workspace *ws, int l) {
  return l < ws->last_layer && vt_vgg16_layers[l + 1].kind == VT_LAYER_POOL;
}

/* Layer l on the current map; returns whether the pass goes on. A pool right
 * after is fused in unless the conv's own output is kept, and a block of two
 * convs runs as one banded call unless either conv's output is kept. */
static int conv(pass *ps, int l) {
  vt_vgg_bf16_workspace *ws = ps->ws;
  const vt_layer_def *d = &vt_vgg16_layers[l];
  assert(d->conv_index < ps->w->n_conv && vt_conv_bf16_cin(ps->w->conv[d->conv_index]) == d->cin);
  const vt_conv_bf16 *p = ps->w->conv[d->conv_index];
  const uint16_t *in = ws->map[ps->cur];
  uint16_t *next = ws->map[!ps->cur];
  if (l <= ps->done) return l < ws->last_layer;
  if (pair_at(l, ws->last_layer) && !ws->keep[l] && !ws->keep[l + 1]) {
    int after = l + 2 < ws->last_layer;
    vt_conv3x3_bf16_pair_pool(p, ps->w->conv[d->conv_index + 1], in, ws->oh[l], ws->ow[l],
                              after ? next : NULL, ws->keep[l + 2] ? ws->out[l + 2] : NULL, ws->stream[l + 2],
                              ws->scratch);
    ps->cur ^= after;
    ps->done = l + 2;
  } else if (pool_follows(ws, l) && !ws->keep[l]) {
    int after = l + 1 < ws->last_layer; /* a layer reads the pooled map */
    vt_conv3x3_bf16(p, in, ws->oh[l], ws->ow[l], 1, after ? next : NULL,
                    ws->keep[l + 1] ? ws->out[l + 1] : NULL, ws->stream[l + 1], ws->scratch);
    ps->cur ^= after;
  } else if (pool_follows(ws, l)) { /* pool() pools out[l] */
    vt_conv3x3_bf16(p, in, ws->oh[l], ws->ow[l], 0, NULL, ws->out[l], 0, ws->scratch);
  } else {
    int after = l < ws->last_layer;
    vt_conv3x3_bf16(p, in, ws->oh[l], ws->ow[l], 0, after ? next : NULL, ws->keep[l] ? ws->out[l] : NULL,
                    ws->stream[l], ws->scratch);
    ps->cur ^= after;
  }
  return l < ws->last_layer;
}

static int pool(pass *ps, int l) {
  vt_vgg_bf16_workspace *ws = ps->ws;
  if (l > ps->done && ws->keep[l - 1]) { /* not fused: the conv kept its float32 output */
    vt_maxpool2x2(ws->out[l - 1], ws->oh[l - 1], ws->ow[l - 1], ws->oc[l - 1], ws->out[l]);
    if (l < ws->last_layer) {
      vt_bf16_map_from_float(ws->out[l], ws->oh[l], ws->ow[l], ws->oc[l], ws->map[!ps->cur]);
      ps->cur ^= 1;
    }
  }
  return l < ws->last_layer;
}

void vt_vgg_forward_bf16(const vt_vgg_bf16_weights *w, vt_vgg_bf16_workspace *ws) {
  pass ps = {w, ws, 0, -1};
  vt_bf16_map_from_float(ws->input, ws->H, ws->W, 3, ws->map[0]);
  /* Shapes for an H x W input; pools floor-halve (Keras 'valid'). */
  if (!conv(&ps, 0)) return;  /* block1_conv1  [H][W][3]         -> [H][W][64]        */
  if (!conv(&ps, 1)) return;  /* block1_conv2  [H][W][64]        -> [H][W][64]        */
  if (!pool(&ps, 2)) return;  /* block1_pool   [H][W][64]        -> [H/2][W/2][64]    */
  if (!conv(&ps, 3)) return;  /* block2_conv1  [H/2][W/2][64]    -> [H/2][W/2][128]   */
  if (!conv(&ps, 4)) return;  /* block2_conv2  [H/2][W/2][128]   -> [H/2][W/2][128]   */
  if (!pool(&ps, 5)) return;  /* block2_pool   [H/2][W/2][128]   -> [H/4][W/4][128]   */
  if (!conv(&ps, 6)) return;  /* block3_conv1  [H/4][W/4][128]   -> [H/4][W/4][256]   */
  if (!conv(&ps, 7)) return;  /* block3_conv2  [H/4][W/4][256]   -> [H/4][W/4][256]   */
  if (!conv(&ps, 8)) return;  /* block3_conv3  [H/4][W/4][256]   -> [H/4][W/4][256]   */
  if (!pool(&ps, 9)) return;  /* block3_pool   [H/4][W/4][256]   -> [H/8][W/8][256]   */
  if (!conv(&ps, 10)) return; /* block4_conv1  [H/8][W/8][256]   -> [H/8][W/8][512]   */
  if (!conv(&ps, 11)) return; /* block4_conv2  [H/8][W/8][512]   -> [H/8][W/8][512]   */
  if (!conv(&ps, 12)) return; /* block4_conv3  [H/8][W/8][512]   -> [H/8][W/8][512]   */
  if (!pool(&ps, 13)) return; /* block4_pool   [H/8][W/8][512]   -> [H/16][W/16][512] */
  if (!conv(&ps, 14)) return; /* block5_conv1  [H/16][W/16][512] -> [H/16][W/16][512] */
  if (!conv(&ps, 15)) return; /* block5_conv2  [H/16][W/16][512] -> [H/16][W/16][512] */
  if (!conv(&ps, 16)) return; /* block5_conv3  [H/16][W/16][512] -> [H/16][W/16][512] */
  pool(&ps, 17);              /* block5_pool   [H/16][W/16][512] -> [H/32][W/32][512] */
}

void vt_vgg_forward_bf16_naive(const vt_weights *w, vt_vgg_bf16_workspace *ws) {
  for (int l = 0; l <= ws->last_layer; l++) {
    const vt_layer_def *d = &vt_vgg16_layers[l];
    const float *in = l == 0 ? ws->input : ws->out[l - 1];
    if (d->kind == VT_LAYER_CONV) {
      const vt_conv_weights *c = &w->conv[d->conv_index];
      vt_conv3x3_relu_bf16_naive(in, ws->oh[l], ws->ow[l], c->cin, c->kernel, c->bias, c->cout, ws->out[l]);
    } else {
      vt_maxpool2x2_naive(in, ws->oh[l - 1], ws->ow[l - 1], ws->oc[l - 1], ws->out[l]);
    }
  }
}
