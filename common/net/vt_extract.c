#include "net/vt_extract.h"

#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "net/vt_conv.h"

void vt_extract_config_default(vt_extract_config *c) {
  memset(c, 0, sizeof *c);
  c->height = c->width = 224;
  c->resize = VT_RESIZE_ANTIALIAS;
  c->preprocess = VT_PREPROCESS_CAFFE;
  c->max_pixels = 178956970; /* PIL's MAX_IMAGE_PIXELS: a familiar bound */
  c->n_grids = 3;
  c->grids[0] = 1;
  c->grids[1] = 2;
  c->grids[2] = 4;
}

static int cmp_int(const void *a, const void *b) {
  return *(const int *)a - *(const int *)b;
}

int vt_taps_parse(const char *list, int *layers, int max) {
  const char *p = list;
  for (int n = 0;; n++) {
    size_t len = strcspn(p, ",");
    char name[32] = "";
    if (len < sizeof name) memcpy(name, p, len), name[len] = '\0';
    int l = len < sizeof name ? vt_vgg16_layer_index(name) : -1;
    if (len == 0) return vt_fail("empty tap name in '%s'", list);
    if (l < 0)
      return vt_fail("unknown tap '%.*s' (layers are block1_conv1, block1_conv2, block1_pool, "
                     "block2_conv1 ... block5_conv3, block5_pool)", (int)len, p);
    for (int i = 0; i < n; i++)
      if (layers[i] == l) return vt_fail("tap '%s' given twice in '%s'", name, list);
    if (n == max) return vt_fail("more than %d taps in '%s'", max, list);
    layers[n] = l;
    if (!p[len]) return n + 1;
    p += len + 1;
  }
}

int vt_extract_parse_taps(vt_extract_config *c, const char *list) {
  int n = vt_taps_parse(list, c->taps, VT_VGG16_NLAYERS);
  if (n < 0) return -1;
  qsort(c->taps, (size_t)n, sizeof *c->taps, cmp_int);
  c->n_taps = n;
  return 0;
}

int vt_extract_parse_grids(vt_extract_config *c, const char *list) {
  char buf[256], *items[VT_MAX_GRIDS + 1];
  if (strlen(list) >= sizeof buf) return vt_fail("--grids list too long");
  strcpy(buf, list);
  int n = vt_split_commas(buf, items, VT_MAX_GRIDS + 1);
  if (n < 0) return vt_fail("at most %d pooling grids, got '%s'", VT_MAX_GRIDS, list);
  for (int i = 0; i < n; i++) {
    char *end;
    long g = strtol(items[i], &end, 10);
    if (*end || end == items[i] || g < 1 || g > 64)
      return vt_fail("bad pooling grid '%s' (a whole number 1..64)", items[i]);
    c->grids[i] = (int)g;
  }
  qsort(c->grids, (size_t)n, sizeof *c->grids, cmp_int);
  for (int i = 1; i < n; i++)
    if (c->grids[i] == c->grids[i - 1]) return vt_fail("pooling grid %d given twice", c->grids[i]);
  c->n_grids = n;
  return 0;
}

int vt_extract_config_check(const vt_extract_config *c) {
  if (c->n_taps < 1) return vt_fail("no tap given (--tap LAYER[,LAYER...])");
  if (c->n_grids < 1) return vt_fail("no pooling grid given");
  for (int t = 0; t < c->n_taps; t++) {
    int h, w, ch;
    if (vt_vgg16_layer_shape(c->taps[t], c->height, c->width, &h, &w, &ch) < 0) return -1;
    int gmax = c->grids[c->n_grids - 1];
    if (gmax > h || gmax > w)
      return vt_fail("pooling grid %d does not fit tap %s (%dx%d at input %dx%d)", gmax,
                     vt_vgg16_layers[c->taps[t]].name, h, w, c->height, c->width);
  }
  return 0;
}

void vt_extract_fit_grids(vt_extract_config *c) {
  int n = 0;
  for (int i = 0; i < c->n_grids; i++) {
    int fits = 1;
    for (int t = 0; t < c->n_taps; t++) {
      int h, w, ch;
      if (vt_vgg16_layer_shape(c->taps[t], c->height, c->width, &h, &w, &ch) < 0) return;
      fits &= c->grids[i] <= h && c->grids[i] <= w;
    }
    if (fits) c->grids[n++] = c->grids[i];
  }
  /* grid 1 fits any map; keep it so the check below names a real problem */
  c->n_grids = n ? n : 1;
  if (!n) c->grids[0] = 1;
}

void vt_extract_taps_text(const vt_extract_config *c, char *out, size_t n) {
  size_t len = 0;
  out[0] = '\0';
  for (int t = 0; t < c->n_taps && len < n; t++)
    len += (size_t)snprintf(out + len, n - len, "%s%s", t ? "," : "", vt_vgg16_layers[c->taps[t]].name);
}

void vt_extract_grids_text(const vt_extract_config *c, char *out, size_t n) {
  size_t len = 0;
  out[0] = '\0';
  for (int i = 0; i < c->n_grids && len < n; i++)
    len += (size_t)snprintf(out + len, n - len, "%s%d", i ? "," : "", c->grids[i]);
}

int vt_extract_convs_needed(const vt_extract_config *c) {
  return vt_vgg16_convs_needed(c->taps[c->n_taps - 1]);
}

int vt_extractor_init(vt_extractor *x, const vt_extract_config *cfg, const vt_weights *w) {
  memset(x, 0, sizeof *x);
  x->cfg = cfg;
  x->weights = w;
  if (vt_vgg_workspace_init(&x->ws, cfg->height, cfg->width, cfg->taps[cfg->n_taps - 1]) < 0)
    return -1;
  /* Only the taps are read: the forward pass may leave the other layers unwritten. */
  memset(x->ws.keep, 0, sizeof x->ws.keep);
  for (int t = 0; t < cfg->n_taps; t++) x->ws.keep[cfg->taps[t]] = 1;
  for (int t = 0; t < cfg->n_taps; t++) {
    size_t len = 0;
    for (int gi = 0; gi < cfg->n_grids; gi++) len += 2 * vt_extract_pooled_len(x, t, gi);
    x->pooled_len[t] = len;
    x->pooled[t] = vt_xmalloc(len * sizeof(float));
  }
  return 0;
}

void vt_extractor_free(vt_extractor *x) {
  vt_extractor_unload(x);
  for (int t = 0; t < VT_VGG16_NLAYERS; t++) free(x->pooled[t]);
  vt_vgg_workspace_free(&x->ws);
  memset(x, 0, sizeof *x);
}

size_t vt_extract_map_len(const vt_extractor *x, int t) {
  int l = x->cfg->taps[t];
  return (size_t)x->ws.oh[l] * (size_t)x->ws.ow[l] * (size_t)x->ws.oc[l];
}

size_t vt_extract_pooled_len(const vt_extractor *x, int t, int gi) {
  int g = x->cfg->grids[gi];
  return (size_t)g * (size_t)g * (size_t)x->ws.oc[x->cfg->taps[t]];
}

const float *vt_extractor_pooled(const vt_extractor *x, int t, int gi, int is_max) {
  size_t off = 0;
  for (int i = 0; i < gi; i++) off += 2 * vt_extract_pooled_len(x, t, i);
  return x->pooled[t] + off + (is_max ? vt_extract_pooled_len(x, t, gi) : 0);
}

int vt_extractor_load(vt_extractor *x, const char *path, int mirror) {
  const vt_extract_config *c = x->cfg;
  vt_extractor_unload(x);
  int file_size[2];
  int rc = mirror ? vt_image_load_resized_mirrored(path, c->max_pixels, c->width, c->height, c->resize,
                                                   &x->loaded[0], &x->loaded[1], file_size)
                  : vt_image_load_resized(path, c->max_pixels, c->width, c->height, c->resize, &x->loaded[0],
                                          file_size);
  if (rc < 0) return -1;
  x->image_width = file_size[0];
  x->image_height = file_size[1];
  return 0;
}

void vt_extractor_unload(vt_extractor *x) {
  for (int i = 0; i < 2; i++) {
    free(x->loaded[i].rgb);
    x->loaded[i] = (vt_image){0, 0, NULL};
  }
}

void vt_extractor_forward(vt_extractor *x, int mirrored, float *const maps[]) {
  const vt_extract_config *c = x->cfg;
  float *own[VT_VGG16_NLAYERS];
  for (int t = 0; t < c->n_taps; t++) {
    own[t] = x->ws.out[c->taps[t]];
    if (maps && maps[t]) x->ws.out[c->taps[t]] = maps[t];
  }
  /* The deepest tap's map goes to the writer (by DMA) and is read once more,
   * by the grid pooling: written past the caches it costs less (+4% images/s
   * at block1 with maps, docs/PERFORMANCE.md). A shallower tap's map is the
   * next layer's input, wanted in cache. */
  int last = x->ws.last_layer; /* the deepest tap, taps[n_taps - 1] */
  x->ws.stream[last] = maps && maps[c->n_taps - 1] != NULL;

  vt_preprocess(x->loaded[mirrored].rgb, c->width, c->height, c->preprocess, x->ws.input);
  vt_vgg_forward(x->weights, &x->ws);
  for (int t = 0; t < c->n_taps; t++) {
    int l = c->taps[t];
    vt_grid_pool_all(x->ws.out[l], x->ws.oh[l], x->ws.ow[l], x->ws.oc[l], c->grids, c->n_grids,
                     x->pooled[t]);
  }

  x->ws.stream[last] = 0;
  for (int t = 0; t < c->n_taps; t++) x->ws.out[c->taps[t]] = own[t];
}

int vt_extractor_run_file(vt_extractor *x, const char *path) {
  if (vt_extractor_load(x, path, 0) < 0) return -1;
  vt_extractor_forward(x, 0, NULL);
  vt_extractor_unload(x);
  return 0;
}
