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
                   "them with --keep maps (e.g. vggtap-extract --taps %s --keep maps)", s->path,
                   tap, tap, tap);
  snprintf(out, n, "none");
  hid_t d = H5Dopen2(s->file, path, H5P_DEFAULT);
  if (d < 0) return vt_fail("%s: cannot open /%s", s->path, path);
  int rc = 0;
  if (H5Aexists(d, "reduce") > 0) {
    char *r = vt_h5_read_str_attr(d, "reduce");
    if (!r) rc = vt_fail_prefix("%s: /%s", s->path, path);
    else if (strcmp(r, "none") && strcmp(r, "avg2"))
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

void vt_conv_reduce_map(const char *reduce, const float *map, int h, int w, int c, float *out,
                        int *oh, int *ow) {
  if (strcmp(reduce, "avg2") == 0) {
    vt_cn_avgpool2_forward(out, map, 1, h, w, c);
    *oh = h / 2;
    *ow = w / 2;
  } else {
    memcpy(out, map, sizeof(float) * (size_t)h * w * c);
    *oh = h;
    *ow = w;
  }
}
