/* train_conv.h: what vggtap-train and vggtap-predict need around the conv
 * head (vt_convnet_train.h): a store's maps and mirrors for a tap, how they
 * were reduced, the --augment choice, and a map from an image reduced as the
 * store's were. */
#ifndef VT_TRAIN_CONV_H
#define VT_TRAIN_CONV_H

#include <stddef.h>

#include "store/vt_store_read.h"
#include "vt_convnet_train.h"
#include "vt_map_source.h"

/* 1 if the store holds the mirrored photos' maps of tap (/mirror/features/<tap>). */
int vt_conv_store_has_mirrors(const vt_store *s, const char *tap);
/* How the store's maps of tap were reduced from the tap's own (the
 * dataset's `reduction` attribute, vggtap-extract --map-pool): "none",
 * "avg2" or "avg4" into out; 0, or -1 +
 * reason (an unknown reduction, or no maps: saying to extract with --keep
 * maps). */
int vt_conv_store_reduction(const vt_store *s, const char *tap, char *out, size_t n);
/* --augment (auto, none, flip, mapflip) for a conv head on a store with
 * or without mirrors: the mode of training and of evaluation; note says
 * what was chosen and why. 0, or -1 + reason (flip without mirrors). */
int vt_conv_choose_mirror(const char *augment, int has_mirrors, const char *store,
                          vt_mirror_mode *mode, char *note, size_t n);
/* vt_map_source_store with a cache budget of cache_mb MB, or when negative
 * half the memory available now. */
int vt_conv_open_maps(const char *path, const char *tap, int want_mirror, double cache_mb,
                      vt_map_source *src, int *cached);
/* 1, 2 or 4 for a reduction "none", "avg2", "avg4"; -1 for another. */
int vt_conv_reduce_factor(const char *reduce);
/* A tap's map [h][w][c] reduced as `reduce` says ("none": copied; "avgK":
 * KxK average pool to [h/K][w/K][c], trailing rows and columns dropped, as
 * the extractor's --map-pool) into out; its shape in *oh, *ow. */
void vt_conv_reduce_map(const char *reduce, const float *map, int h, int w, int c, float *out,
                        int *oh, int *ow);

#endif
