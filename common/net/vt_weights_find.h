/* vt_weights_find.h: where the Keras VGG16 weights file is, found the same way
 * by every program, pipeline.mk and `make demo`. */
#ifndef VT_WEIGHTS_FIND_H
#define VT_WEIGHTS_FIND_H

/* The official file, as Keras downloads it (keras/src/applications/vgg16.py:
 * WEIGHTS_PATH_NO_TOP and its file_hash, an md5). */
#define VT_KERAS_WEIGHTS_NAME "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
#define VT_KERAS_WEIGHTS_URL \
  "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/" VT_KERAS_WEIGHTS_NAME
#define VT_KERAS_WEIGHTS_MD5 "6d6bbae143d832006294945121d1f1fc"
#define VT_KERAS_WEIGHTS_BYTES 58889256

/* The weights that ship with vggtap, data/weights/vgg16_keras_prefix.h5
 * (its README.md): the real Keras weights of the first 4 conv layers,
 * block1_conv1 .. block2_conv2, enough for every tap up to block2_pool. */
#define VT_BUNDLED_WEIGHTS_CONVS 4

/* The weights path, first found of:
 *   1. given: the --weights flag or the config's `weights` key (the config
 *      key arrives as the flag, and a flag on the command line wins over it);
 *   2. $VGGTAP_WEIGHTS;
 *   3. Keras's own cache: $KERAS_HOME/models/<name>, else ~/.keras/models/<name>;
 *   4. the bundled file, only when n_conv (how many conv layers the caller's
 *      taps need, vt_vgg16_convs_needed) is at most VT_BUNDLED_WEIGHTS_CONVS.
 *      Its path is compiled in (the Makefile passes the checkout's data/
 *      folder as VT_DATA_DIR, and rebuilds this when the checkout moves).
 * A path given by 1 or 2 must exist: it never falls through to the next.
 * Returns the path (given, the environment's, or a static string), or NULL +
 * a reason that says how to get the file and where to put it. config_key:
 * whether the program reads a config's `weights` key (all but vggtap-mosaic),
 * so that the reason offers it only where it exists. */
const char *vt_weights_find(const char *given, int config_key, int n_conv);

#endif
