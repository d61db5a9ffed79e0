/* vt_convnet_file.h: a conv head (vt_convnet.h) in HDF5, inside a group of
 * a head file (or any HDF5 location), readable by h5py. Layout
 * (docs/HEAD.md, "The conv head"):
 *
 *   attributes  in_height, in_width, in_channels, in_pool, convs ("64,64",
 *               "1x1:32,64"), conv_bias, grid, classes, n_params (int);
 *               dropout, bn_eps, bn_momentum (float64)
 *   conv/<l>/kernel            [k][k][Cin][Cout]  HWIO, as Keras
 *   conv/<l>/bias              [Cout]             only with conv_bias
 *   conv/<l>/bn_gamma, bn_beta [Cout]
 *   conv/<l>/bn_running_mean, bn_running_var [Cout]
 *   dense/kernel               [G*G*C][classes]   rows in [gy][gx][c] order
 *   dense/bias                 [classes]
 */
#ifndef VT_CONVNET_FILE_H
#define VT_CONVNET_FILE_H

#include <hdf5.h>

#include "vt_convnet.h"

/* 0, or -1 + reason naming the dataset. */
int vt_convnet_write(hid_t loc, const vt_convnet *net);
/* Reads and checks (shapes from the attributes, every value finite) a conv
 * head written by vt_convnet_write, allocating net. 0, or -1 + reason. */
int vt_convnet_read(hid_t loc, vt_convnet *net);

#endif
