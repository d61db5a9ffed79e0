#include "vt_features.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "net/vt_conv.h"
#include "net/vt_extract.h"
#include "base/vt_progress.h"

/* "avg4" / "max1" / "gap" / "gmp" -> grid and op; 0 or -1. */
static int parse_part(const char *tok, int *grid, int *is_max) {
  const char *name = strcmp(tok, "gap") == 0 ? "avg1" : strcmp(tok, "gmp") == 0 ? "max1" : tok;
  int g = 0, used = 0;
  *is_max = strncmp(name, "max", 3) == 0;
  if ((!*is_max && strncmp(name, "avg", 3) != 0) || sscanf(name + 3, "%d%n", &g, &used) != 1 ||
      name[3 + used] != '\0' || g < 1 || g > 64)
    return -1;
  *grid = g;
  return 0;
}

int vt_pooling_parse(const char *spec, vt_pooling *p) {
  memset(p, 0, sizeof *p);
  char buf[256];
  if (strlen(spec) >= sizeof buf) return vt_fail("pooling '%.40s...' is too long", spec);
  strcpy(buf, spec);
  for (char *save = NULL, *tok = strtok_r(buf, ",+", &save); tok; tok = strtok_r(NULL, ",+", &save)) {
    int g, is_max;
    if (parse_part(tok, &g, &is_max) < 0)
      return vt_fail("unknown pooling '%s' in '%s' (a comma list of avgG and maxG, G a stored "
                     "grid: avg1 (= gap), max1 (= gmp), avg2, max4, avg1,avg2,avg4 ...)", tok, spec);
    if (p->n == VT_POOLING_MAX_PARTS) return vt_fail("pooling '%s' has too many parts", spec);
    char name[16];
    snprintf(name, sizeof name, "%s%d", is_max ? "max" : "avg", g);
    for (int i = 0; i < p->n; i++)
      if (strcmp(p->part[i], name) == 0) return vt_fail("pooling '%s' repeats %s", spec, name);
    strcpy(p->part[p->n], name);
    p->grid[p->n] = g;
    p->is_max[p->n] = is_max;
    p->n++;
  }
  if (p->n == 0) return vt_fail("empty pooling");
  return 0;
}

void vt_pooling_text(const vt_pooling *p, char *out, size_t n) {
  size_t len = 0;
  out[0] = '\0';
  for (int i = 0; i < p->n && len < n; i++)
    len += (size_t)snprintf(out + len, n - len, "%s%s", i ? "," : "", p->part[i]);
}

int vt_tap_names_parse(const char *list, char taps[][VT_TAP_NAME_MAX], int max) {
  int layers[VT_VGG16_NLAYERS];
  int n = vt_taps_parse(list, layers, max < VT_VGG16_NLAYERS ? max : VT_VGG16_NLAYERS);
  for (int i = 0; i < n; i++) snprintf(taps[i], VT_TAP_NAME_MAX, "%s", vt_vgg16_layers[layers[i]].name);
  return n;
}

static int add_part(vt_recipe *r, const char *tap, int grid, int is_max) {
  if (r->n == VT_RECIPE_MAX_PARTS) return vt_fail("more than %d feature parts", VT_RECIPE_MAX_PARTS);
  vt_feature_part *q = &r->part[r->n];
  if (strlen(tap) >= sizeof q->tap) return vt_fail("tap name '%s' is too long", tap);
  for (int i = 0; i < r->n; i++)
    if (strcmp(r->part[i].tap, tap) == 0 && r->part[i].grid == grid && r->part[i].is_max == is_max)
      return vt_fail("%s/%s%d appears twice", tap, is_max ? "max" : "avg", grid);
  strcpy(q->tap, tap);
  snprintf(q->name, sizeof q->name, "%s%d", is_max ? "max" : "avg", grid);
  q->grid = grid;
  q->is_max = is_max;
  r->n++;
  return 0;
}

int vt_recipe_product(char taps[][VT_TAP_NAME_MAX], int n_taps, const vt_pooling *p,
                      vt_recipe *r) {
  memset(r, 0, sizeof *r);
  for (int t = 0; t < n_taps; t++)
    for (int i = 0; i < p->n; i++)
      if (add_part(r, taps[t], p->grid[i], p->is_max[i]) < 0) return -1;
  return 0;
}

int vt_recipe_parse(const char *text, vt_recipe *r) {
  memset(r, 0, sizeof *r);
  char buf[4096];
  if (strlen(text) >= sizeof buf) return vt_fail("feature recipe '%.40s...' is too long", text);
  strcpy(buf, text);
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    char *slash = strchr(tok, '/');
    int g, is_max;
    if (!slash || slash == tok || parse_part(slash + 1, &g, &is_max) < 0)
      return vt_fail("'%s' in feature recipe '%s' is not TAP/avgG or TAP/maxG", tok, text);
    *slash = '\0';
    if (add_part(r, tok, g, is_max) < 0) return vt_fail_prefix("feature recipe '%s'", text);
  }
  if (r->n == 0) return vt_fail("empty feature recipe");
  return 0;
}

void vt_recipe_text(const vt_recipe *r, char *out, size_t n) {
  size_t len = 0;
  out[0] = '\0';
  for (int i = 0; i < r->n && len < n; i++)
    len += (size_t)snprintf(out + len, n - len, "%s%s/%s", i ? "," : "", r->part[i].tap,
                            r->part[i].name);
}

int vt_recipe_taps(const vt_recipe *r, char taps[][VT_TAP_NAME_MAX]) {
  int n = 0;
  for (int i = 0; i < r->n; i++) {
    int seen = 0;
    for (int t = 0; t < n && !seen; t++) seen = strcmp(taps[t], r->part[i].tap) == 0;
    if (!seen) strcpy(taps[n++], r->part[i].tap);
  }
  return n;
}

int vt_feature_source_parse(const char *name, vt_feature_source *out) {
  if (strcmp(name, "auto") == 0) *out = VT_SOURCE_AUTO;
  else if (strcmp(name, "pooled") == 0) *out = VT_SOURCE_POOLED;
  else if (strcmp(name, "maps") == 0) *out = VT_SOURCE_MAPS;
  else return -1;
  return 0;
}

/* Every pooled dataset name the store has for tap, for messages. */
static void list_pooled(const vt_store *s, const char *in, const char *tap, char *out, size_t n) {
  out[0] = '\0';
  char group[160];
  snprintf(group, sizeof group, "%spooled/%s", in, tap);
  if (!vt_link_exists(s->file, group)) {
    snprintf(out, n, "none");
    return;
  }
  hid_t g = H5Gopen2(s->file, group, H5P_DEFAULT);
  H5G_info_t info;
  if (g >= 0 && H5Gget_info(g, &info) >= 0) {
    for (hsize_t i = 0; i < info.nlinks; i++) {
      char name[64];
      if (H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name,
                             H5P_DEFAULT) < 0)
        continue;
      size_t len = strlen(out);
      snprintf(out + len, n - len, "%s%s", len ? ", " : "", name);
    }
  }
  if (g >= 0) H5Gclose(g);
  if (!out[0]) snprintf(out, n, "none");
}

/* Where a recipe's columns come from. */
typedef struct {
  const char *group; /* "" (the photos) or "mirror/" (their mirror images) */
  int dim;
  int width[VT_RECIPE_MAX_PARTS], col[VT_RECIPE_MAX_PARTS]; /* per part */
  int n_taps;
  char taps[VT_RECIPE_MAX_PARTS][VT_TAP_NAME_MAX]; /* distinct, in order of first use */
  int from_maps[VT_RECIPE_MAX_PARTS];              /* per distinct tap */
} layout;

/* Plans the parts of r that read tap: their widths, and whether they come
 * from the stored pooled vectors (all of them stored, unless want is maps) or
 * are pooled from the maps. */
static int plan_tap(const vt_store *s, const vt_recipe *r, const char *tap,
                    vt_feature_source want, layout *L, int *from_maps) {
  const char *in = L->group;
  char maps_path[160], pooled_group[160];
  snprintf(maps_path, sizeof maps_path, "%sfeatures/%s", in, tap);
  snprintf(pooled_group, sizeof pooled_group, "%spooled/%s", in, tap);
  if (!vt_store_has_tap(s, tap) && !vt_link_exists(s->file, maps_path) &&
      !vt_link_exists(s->file, pooled_group))
    return vt_fail("%s: tap %s is not in the store (it holds: %s)", s->path, tap,
                   s->taps[0] ? s->taps : "no taps");
  int missing = -1;
  for (int i = 0; i < r->n; i++) {
    if (strcmp(r->part[i].tap, tap) != 0) continue;
    int rc = vt_store_pooled_dim_in(s, in, tap, r->part[i].name, &L->width[i]);
    if (rc < 0) return -1;
    if (rc == 0 && missing < 0) missing = i;
  }
  if (want != VT_SOURCE_MAPS && missing < 0) {
    *from_maps = 0;
    return 0;
  }
  if (want == VT_SOURCE_POOLED) {
    char have[512];
    list_pooled(s, in, tap, have, sizeof have);
    return vt_fail("%s: /%spooled/%s/%s is not stored (stored for %s: %s)", s->path, in, tap,
                   r->part[missing].name, tap, have);
  }
  vt_store_maps m;
  int rc = vt_store_maps_open_in(s, in, tap, &m);
  if (rc < 0) return -1;
  if (rc == 0) {
    char have[512];
    list_pooled(s, in, tap, have, sizeof have);
    if (want == VT_SOURCE_MAPS)
      return vt_fail("%s: the store holds no maps of %s (/%sfeatures/%s) to pool", s->path, tap, in, tap);
    return vt_fail("%s: /%spooled/%s/%s is not stored and there are no maps of %s to pool it "
                   "from (stored poolings: %s; re-extract with --grids or --keep maps)",
                   s->path, in, tap, r->part[missing].name, tap, have);
  }
  if (m.reduction[0]) {
    vt_store_maps_close(&m);
    return vt_fail("%s: the maps of %s are stored reduced (%s, --map-pool): pooling them would not "
                   "give the poolings of the full maps; use the pooled vectors the store holds "
                   "(--features pooled), or re-extract with --keep maps,pooled without --map-pool",
                   s->path, tap, m.reduction);
  }
  for (int i = 0; i < r->n; i++) {
    if (strcmp(r->part[i].tap, tap) != 0) continue;
    int g = r->part[i].grid;
    if (g > m.h || g > m.w) {
      vt_store_maps_close(&m);
      return vt_fail("%s: grid %d does not fit the %dx%d maps of %s", s->path, g, m.h, m.w, tap);
    }
    L->width[i] = g * g * m.c;
  }
  vt_store_maps_close(&m);
  *from_maps = 1;
  return 0;
}

static int plan(const vt_store *s, const vt_recipe *r, vt_feature_source want, const char *group,
                layout *L, const char **source) {
  memset(L, 0, sizeof *L);
  L->group = group;
  if (r->n < 1) return vt_fail("internal: empty feature recipe");
  L->n_taps = vt_recipe_taps(r, L->taps);
  int n_maps = 0;
  for (int t = 0; t < L->n_taps; t++) {
    if (plan_tap(s, r, L->taps[t], want, L, &L->from_maps[t]) < 0) return -1;
    n_maps += L->from_maps[t];
  }
  long long dim = 0;
  for (int i = 0; i < r->n; i++) {
    L->col[i] = (int)dim;
    dim += L->width[i];
    if (dim > (1 << 28)) return vt_fail("%s: the features would be %lld wide", s->path, dim);
  }
  L->dim = (int)dim;
  *source = n_maps == 0 ? "pooled" : n_maps == L->n_taps ? "maps" : "pooled+maps";
  return 0;
}

int vt_features_plan(const vt_store *s, const vt_recipe *r, vt_feature_source want, int *dim,
                     const char **source) {
  return vt_features_plan_in(s, "", r, want, dim, source);
}

int vt_features_plan_in(const vt_store *s, const char *group, const vt_recipe *r, vt_feature_source want,
                        int *dim, const char **source) {
  layout L;
  if (plan(s, r, want, group, &L, source) < 0) return -1;
  *dim = L.dim;
  return 0;
}

/* Copies the requested rows of one pooled dataset into columns [col, col +
 * d) of x, reading the store in blocks of rows. */
static int load_pooled_part(const vt_store *s, const char *group, const char *tap, const char *part,
                            int d, const int *rows, int n, float *x, int dim, int col) {
  enum { BLOCK = 2048 };
  float *buf = vt_xmalloc(sizeof(float) * BLOCK * (size_t)d);
  int i = 0, rc = 0;
  while (i < n) {
    int r0 = rows[i], nb = s->n_rows - r0 < BLOCK ? s->n_rows - r0 : BLOCK;
    if (vt_store_pooled_read_in(s, group, tap, part, r0, nb, d, buf) < 0) {
      rc = -1;
      break;
    }
    for (; i < n && rows[i] < r0 + nb; i++)
      memcpy(x + (size_t)i * dim + col, buf + (size_t)(rows[i] - r0) * d, sizeof(float) * d);
  }
  free(buf);
  return rc;
}

/* Pools every part of r that reads tap from its maps, one row at a time. */
static int load_from_maps(const vt_store *s, const char *tap, const vt_recipe *r,
                          const layout *L, const int *rows, int n, int verbose, float *x) {
  vt_store_maps m;
  if (vt_store_maps_open_in(s, L->group, tap, &m) <= 0)
    return vt_fail("%s: cannot open /%sfeatures/%s", s->path, L->group, tap);
  size_t hw = (size_t)m.h * m.w, len = hw * m.c;
  float *map = vt_aligned_alloc(len * sizeof(float));
  int gmax = 1;
  for (int i = 0; i < r->n; i++)
    if (strcmp(r->part[i].tap, tap) == 0 && r->part[i].grid > gmax) gmax = r->part[i].grid;
  size_t cell = (size_t)gmax * gmax * m.c;
  float *out = vt_xmalloc(cell * sizeof(float));
  vt_progress prog;
  char what[200];
  snprintf(what, sizeof what, "pooling %s maps", tap);
  vt_progress_start(&prog, what, "rows", n, 0, !verbose);
  int rc = 0;
  for (int i = 0; i < n && map; i++) {
    if (vt_store_maps_read(&m, rows[i], map) < 0) {
      rc = vt_fail_prefix("%s: row %d (%s)", s->path, rows[i], s->paths[rows[i]]);
      break;
    }
    for (size_t j = 0; j < len; j++)
      if (!isfinite(map[j])) {
        rc = vt_fail("%s: row %d (%s): its %s map holds %s at [%zu][%zu][%zu]", s->path, rows[i],
                     s->paths[rows[i]], tap, isnan(map[j]) ? "NaN" : "inf", j / m.c / m.w,
                     j / m.c % m.w, j % m.c);
        break;
      }
    if (rc < 0) break;
    for (int k = 0; k < r->n; k++) {
      const vt_feature_part *q = &r->part[k];
      if (strcmp(q->tap, tap) != 0) continue;
      vt_grid_pool(map, m.h, m.w, m.c, q->grid, q->is_max ? NULL : out, q->is_max ? out : NULL);
      memcpy(x + (size_t)i * L->dim + L->col[k], out, (size_t)L->width[k] * sizeof(float));
    }
    vt_progress_update(&prog, i + 1, 0);
  }
  if (!map) rc = -1;
  vt_progress_finish(&prog);
  free(out);
  free(map);
  vt_store_maps_close(&m);
  return rc;
}

int vt_features_load(const vt_store *s, const vt_recipe *r, vt_feature_source src,
                     const int *rows, int n, int verbose, vt_features *out) {
  return vt_features_load_in(s, "", r, src, rows, n, verbose, out);
}

int vt_features_load_in(const vt_store *s, const char *group, const vt_recipe *r, vt_feature_source src,
                        const int *rows, int n, int verbose, vt_features *out) {
  memset(out, 0, sizeof *out);
  layout L;
  const char *source;
  if (plan(s, r, src, group, &L, &source) < 0) return -1;
  for (int i = 0; i < n; i++) {
    if (rows[i] < 0 || rows[i] >= s->n_rows || (i && rows[i] <= rows[i - 1]))
      return vt_fail("internal: feature rows must be ascending store rows");
  }
  int dim = L.dim;
  size_t bytes;
  if (vt_size_mul3((size_t)n, (size_t)dim, sizeof(float), &bytes) < 0) return -1;
  float *x = vt_aligned_alloc(bytes);
  if (!x) return vt_fail_prefix("features of %d rows x %d", n, dim);
  int rc = 0;
  for (int t = 0; t < L.n_taps && rc == 0; t++) {
    const char *tap = L.taps[t];
    if (L.from_maps[t]) {
      rc = load_from_maps(s, tap, r, &L, rows, n, verbose, x);
      continue;
    }
    for (int k = 0; k < r->n && rc == 0; k++)
      if (strcmp(r->part[k].tap, tap) == 0)
        rc = load_pooled_part(s, group, tap, r->part[k].name, L.width[k], rows, n, x, dim, L.col[k]);
    for (int i = 0; i < n && rc == 0; i++)
      for (int k = 0; k < r->n && rc == 0; k++) {
        if (strcmp(r->part[k].tap, tap) != 0) continue;
        const float *v = x + (size_t)i * dim + L.col[k];
        for (int j = 0; j < L.width[k]; j++)
          if (!isfinite(v[j])) {
            rc = vt_fail("%s: row %d (%s) is marked ok but its %s features hold %s (%s, "
                         "feature %d)", s->path, rows[i], s->paths[rows[i]], tap,
                         isnan(v[j]) ? "NaN" : "inf", r->part[k].name, j);
            break;
          }
      }
  }
  if (rc < 0) {
    free(x);
    return -1;
  }
  out->n = n;
  out->dim = dim;
  out->x = x;
  out->source = source;
  return 0;
}

void vt_features_free(vt_features *f) {
  free(f->x);
  memset(f, 0, sizeof *f);
}
