#include "train_conv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/vt_common.h"
#include "store/vt_h5.h"
#include "vt_convnet_layers.h"

int vt_conv_store_has_mirrors(const vt_store *s, const char *tap) {
  char path[256];
  snprintf(path, sizeof path, "mirror/features/%s", tap);
  return vt_link_exists(s->file, path);
}

int vt_conv_store_reduction(const vt_store *s, const char *tap, char *out, size_t n) {
  char path[256];
  snprintf(path, sizeof path, "features/%s", tap);
  if (!vt_link_exists(s->file, path))
    return vt_fail("%s holds no maps of %s (/features/%s): the conv head trains on maps; extract "
                   "them with --keep maps (e.g. vggtap-extract --tap %s --keep maps,pooled)", s->path,
                   tap, tap, tap);
  snprintf(out, n, "none");
  hid_t d = H5Dopen2(s->file, path, H5P_DEFAULT);
  if (d < 0) return vt_fail("%s: cannot open /%s", s->path, path);
  int rc = 0;
  if (H5Aexists(d, "reduction") > 0) {
    char *r = vt_h5_read_str_attr(d, "reduction");
    if (!r) rc = vt_fail_prefix("%s: /%s", s->path, path);
    else if (vt_conv_reduce_factor(r) < 0)
      rc = vt_fail("%s: /%s was reduced by '%s', which this vggtap does not know", s->path, path, r);
    else snprintf(out, n, "%s", r);
    free(r);
  }
  H5Dclose(d);
  return rc;
}

int vt_conv_choose_mirror(const char *augment, int has_mirrors, const char *store,
                          vt_mirror_mode *mode, char *note, size_t n) {
  if (!strcmp(augment, "mapflip")) {
    *mode = VT_MIRROR_FLIP;
    snprintf(note, n, "mirrors: the maps mirrored in memory (--augment mapflip)");
  } else if (!strcmp(augment, "flip") || (!strcmp(augment, "auto") && has_mirrors)) {
    if (!has_mirrors)
      return vt_fail("--augment flip: %s holds no maps of the mirrored photos: extract it with "
                     "--augment flip, or use --augment mapflip", store);
    *mode = VT_MIRROR_STORED;
    snprintf(note, n, "mirrors: the mirrored photos' stored maps (--augment %s)", augment);
  } else {
    *mode = VT_MIRROR_NONE;
    snprintf(note, n, "mirrors: none (--augment %s%s)", augment,
             strcmp(augment, "auto") ? "" : ": the store has no mirrored photos' maps");
  }
  return 0;
}

int vt_conv_open_maps(const char *path, const char *tap, int want_mirror, double cache_mb,
                      vt_map_source *src, int *cached) {
  long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  size_t budget = pages > 0 && page > 0 ? (size_t)pages * (size_t)page / 2 : (size_t)1 << 30;
  if (cache_mb >= 0) budget = (size_t)(cache_mb * 1048576.0);
  return vt_map_source_store(src, path, tap, want_mirror, budget, cached);
}

int vt_conv_reduce_factor(const char *reduce) {
  return !strcmp(reduce, "none") ? 1 : !strcmp(reduce, "avg2") ? 2 : !strcmp(reduce, "avg4") ? 4 : -1;
}

void vt_conv_reduce_map(const char *reduce, const float *map, int h, int w, int c, float *out,
                        int *oh, int *ow) {
  int k = vt_conv_reduce_factor(reduce);
  if (k == 2) {
    vt_cn_avgpool2_forward(out, map, 1, h, w, c);
  } else if (k == 4) { /* the 4x4 average is the 2x2 average of 2x2 averages */
    float *half = vt_xmalloc(sizeof(float) * (size_t)(h / 2) * (w / 2) * c + 1);
    vt_cn_avgpool2_forward(half, map, 1, h, w, c);
    vt_cn_avgpool2_forward(out, half, 1, h / 2, w / 2, c);
    free(half);
  } else {
    memcpy(out, map, sizeof(float) * (size_t)h * w * c);
  }
  *oh = k > 1 ? h / k : h;
  *ow = k > 1 ? w / k : w;
}
