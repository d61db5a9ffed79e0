/* vt_extract.h: one image path -> network input -> VGG prefix -> tap maps
 * and pooled vectors. Shared by vggtap-extract and vggtap-predict so that
 * both compute features the same way. */
#ifndef VT_EXTRACT_H
#define VT_EXTRACT_H

#include <stddef.h>

#include "image/vt_image.h"
#include "image/vt_preprocess.h"
#include "net/vt_vgg.h"
#include "net/vt_weights.h"

enum { VT_MAX_GRIDS = 4 };

typedef struct {
  int height, width;             /* network input size */
  vt_resize_policy resize;
  vt_preprocess_mode preprocess;
  size_t max_pixels;             /* decompression-bomb guard */
  int n_taps;
  int taps[VT_VGG16_NLAYERS];    /* layer indices, strictly ascending */
  int n_grids;
  int grids[VT_MAX_GRIDS];       /* pooling grids, strictly ascending, e.g. {1, 2, 4} */
} vt_extract_config;

/* Defaults: 224x224, antialias, caffe, 178,956,970 pixels (PIL's limit), grids
 * {1, 2, 4}: GAP/GMP, and the 2x2 and 4x4 layouts that GAP throws away. */
void vt_extract_config_default(vt_extract_config *c);
/* The one reading of a tap list (--tap, a store's taps, a config's taps):
 * "block2_pool,block1_pool" -> the layer indices in the order given. Empty,
 * unknown and repeated names are refused. The count, or -1 + reason. */
int vt_taps_parse(const char *list, int *layers, int max);
/* vt_taps_parse into c->taps, sorted (a store holds its taps in network
 * order). */
int vt_extract_parse_taps(vt_extract_config *c, const char *list);
/* "1,2,4" -> grids. */
int vt_extract_parse_grids(vt_extract_config *c, const char *list);
/* Drops the grids larger than some tap's map (for the default grids, so that
 * small inputs or deep taps still work; explicit --grids are checked instead).
 * Call after the taps and input size are set. */
void vt_extract_fit_grids(vt_extract_config *c);
/* Checks every tap fits the input size and every grid fits every tap. */
int vt_extract_config_check(const vt_extract_config *c);
/* The taps / grids as the canonical comma-separated text recorded in stores. */
void vt_extract_taps_text(const vt_extract_config *c, char *out, size_t n);
void vt_extract_grids_text(const vt_extract_config *c, char *out, size_t n);
/* Conv layers the deepest tap needs (the n_conv for vt_weights_load). */
int vt_extract_convs_needed(const vt_extract_config *c);

/* Per-thread state: workspace and pooled outputs. */
typedef struct {
  const vt_extract_config *cfg;
  const vt_weights *weights;
  vt_vgg_workspace ws;
  /* pooled[t]: for each grid g in order, avg [g*g*c] then max [g*g*c]. */
  float *pooled[VT_VGG16_NLAYERS];
  size_t pooled_len[VT_VGG16_NLAYERS];
  int image_width, image_height; /* the file's own size of the last image */
  vt_image loaded[2];            /* the loaded image resized, and its mirror image */
} vt_extractor;

int vt_extractor_init(vt_extractor *x, const vt_extract_config *cfg, const vt_weights *w);
void vt_extractor_free(vt_extractor *x);
/* Runs one image. On success the tap maps are x->ws.out[cfg->taps[t]] and the
 * pooled vectors are filled. Returns -1 with a reason (not naming the file)
 * for undecodable images. */
int vt_extractor_run_file(vt_extractor *x, const char *path);
/* The same in two steps, for running an image and its mirror image on one
 * decode. load: decodes and resizes path, with mirror also the left-right
 * mirror image of the decoded photo (vt_image_load_resized_mirrored); -1 +
 * reason. forward: runs the loaded image (mirrored = 1: its mirror image)
 * through the prefix and pools it; tap t's map is written straight into
 * maps[t] (h*w*c floats) where maps and maps[t] are not NULL, instead of the
 * extractor's own buffer: the store writer's slots, so a 3.2 MB block1 map
 * is not copied again. unload frees the loaded images (load does too). */
int vt_extractor_load(vt_extractor *x, const char *path, int mirror);
void vt_extractor_forward(vt_extractor *x, int mirrored, float *const maps[]);
void vt_extractor_unload(vt_extractor *x);
/* The pooled vector of tap t for grid index gi (avg or max). */
const float *vt_extractor_pooled(const vt_extractor *x, int t, int gi, int is_max);
/* Length of one map of tap t (h*w*c) and of one pooled vector for grid gi. */
size_t vt_extract_map_len(const vt_extractor *x, int t);
size_t vt_extract_pooled_len(const vt_extractor *x, int t, int gi);

#endif
