/* vt_weights.h: reads VGG16 conv weights straight from a Keras .h5 file
 * (/<layer>/<layer>/kernel:0 HWIO float32, /<layer>/<layer>/bias:0). */
#ifndef VT_WEIGHTS_H
#define VT_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "net/vt_conv.h"

enum { VT_VGG16_NCONV = 13 };

typedef struct {
  float *kernel; /* [3][3][cin][cout], HWIO as stored by Keras */
  float *bias;   /* [cout] */
  int cin, cout;
  vt_conv3x3_packed *packed; /* the same, pre-transformed for the fast conv (vt_conv.h);
                                what vt_vgg_forward runs (vt_weights_pack) */
} vt_conv_weights;

typedef struct {
  int n_conv;                          /* conv layers loaded: conv[0..n_conv-1] */
  vt_conv_weights conv[VT_VGG16_NCONV];
  char sha256[65];                     /* hex digest of the whole file */
} vt_weights;

/* Loads the first n_conv conv layers (block1_conv1 = 0 ... block5_conv3 = 12),
 * checks their shapes and float type, and records the file's sha256. Fails
 * with a reason naming the file and the layer, e.g.
 *   "w.h5: holds block1_conv1..block2_conv2 only; block3_conv1 is missing"
 *   "w.h5: block1_conv2/kernel:0 has shape (3,3,32,64), expected (3,3,64,64)"
 *   "w.h5: not an HDF5 file"
 * (callers add the tap with vt_fail_prefix). On failure *w holds nothing.
 * Older files naming the datasets "kernel"/"bias" without ":0" load too. */
int vt_weights_load(const char *path, int n_conv, vt_weights *w);
/* Number of leading conv layers present and well-formed in the file (for
 * messages and predict), or -1 + reason if the file is not readable HDF5. */
int vt_weights_count(const char *path);
/* Packs every layer of w that has no packed form yet (vt_weights_load does;
 * weights built by hand, e.g. in tests, call this). 0, or -1 + reason. */
int vt_weights_pack(vt_weights *w);
void vt_weights_free(vt_weights *w);

#endif
