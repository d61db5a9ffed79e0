#include "vt_features.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_common.h"
#include "vt_conv.h"
#include "vt_progress.h"

int vt_pooling_parse(const char *spec, vt_pooling *p) {
  memset(p, 0, sizeof *p);
  char buf[256];
  if (strlen(spec) >= sizeof buf) return vt_fail("pooling '%.40s...' is too long", spec);
  strcpy(buf, spec);
  for (char *save = NULL, *tok = strtok_r(buf, "+", &save); tok; tok = strtok_r(NULL, "+", &save)) {
    const char *name = strcmp(tok, "gap") == 0 ? "avg1" : strcmp(tok, "gmp") == 0 ? "max1" : tok;
    int g = 0, used = 0;
    int is_max = strncmp(name, "max", 3) == 0;
    if ((!is_max && strncmp(name, "avg", 3) != 0) || sscanf(name + 3, "%d%n", &g, &used) != 1 ||
        name[3 + used] != '\0' || g < 1 || g > 64)
      return vt_fail("unknown pooling '%s' in '%s' (use gap, gmp, gap+gmp, or stored names "
                     "like avg2, max1, avg2+max2)", tok, spec);
    if (p->n == VT_POOLING_MAX_PARTS) return vt_fail("pooling '%s' has too many parts", spec);
    for (int i = 0; i < p->n; i++)
      if (strcmp(p->part[i], name) == 0) return vt_fail("pooling '%s' repeats %s", spec, name);
    snprintf(p->part[p->n], sizeof p->part[0], "%s%d", is_max ? "max" : "avg", g);
    p->grid[p->n] = g;
    p->is_max[p->n] = is_max;
    p->n++;
  }
  if (p->n == 0) return vt_fail("empty pooling");
  return 0;
}

int vt_feature_source_parse(const char *name, vt_feature_source *out) {
  if (strcmp(name, "auto") == 0) *out = VT_SOURCE_AUTO;
  else if (strcmp(name, "pooled") == 0) *out = VT_SOURCE_POOLED;
  else if (strcmp(name, "maps") == 0) *out = VT_SOURCE_MAPS;
  else return -1;
  return 0;
}

/* Every pooled dataset name the store has for tap, for messages. */
static void list_pooled(const vt_store *s, const char *tap, char *out, size_t n) {
  out[0] = '\0';
  char group[160];
  snprintf(group, sizeof group, "pooled/%s", tap);
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

int vt_features_plan(const vt_store *s, const char *tap, const vt_pooling *p,
                     vt_feature_source want, int *dim, vt_feature_source *got) {
  char maps_path[160], pooled_group[160];
  snprintf(maps_path, sizeof maps_path, "features/%s", tap);
  snprintf(pooled_group, sizeof pooled_group, "pooled/%s", tap);
  if (!vt_store_has_tap(s, tap) && !vt_link_exists(s->file, maps_path) &&
      !vt_link_exists(s->file, pooled_group))
    return vt_fail("%s: tap %s is not in the store (it holds: %s)", s->path, tap,
                   s->taps[0] ? s->taps : "no taps");
  int total = 0, missing = -1;
  for (int i = 0; i < p->n; i++) {
    int d = 0, rc = vt_store_pooled_dim(s, tap, p->part[i], &d);
    if (rc < 0) return -1;
    if (rc == 0) {
      if (missing < 0) missing = i;
      continue;
    }
    total += d;
  }
  if (want != VT_SOURCE_MAPS && missing < 0) {
    *dim = total;
    *got = VT_SOURCE_POOLED;
    return 0;
  }
  if (want == VT_SOURCE_POOLED) {
    char have[512];
    list_pooled(s, tap, have, sizeof have);
    return vt_fail("%s: /pooled/%s/%s is not stored (stored for %s: %s)", s->path, tap,
                   p->part[missing], tap, have);
  }
  vt_store_maps m;
  int rc = vt_store_maps_open(s, tap, &m);
  if (rc < 0) return -1;
  if (rc == 0) {
    char have[512];
    list_pooled(s, tap, have, sizeof have);
    if (want == VT_SOURCE_MAPS)
      return vt_fail("%s: the store holds no maps of %s (/features/%s) to pool", s->path, tap, tap);
    return vt_fail("%s: /pooled/%s/%s is not stored and there are no maps of %s to pool it "
                   "from (stored poolings: %s; re-extract with --grids or --store maps)",
                   s->path, tap, p->part[missing], tap, have);
  }
  total = 0;
  for (int i = 0; i < p->n; i++) {
    if (p->grid[i] > m.h || p->grid[i] > m.w) {
      vt_store_maps_close(&m);
      return vt_fail("%s: grid %d does not fit the %dx%d maps of %s", s->path, p->grid[i], m.w,
                     m.h, tap);
    }
    total += p->grid[i] * p->grid[i] * m.c;
  }
  vt_store_maps_close(&m);
  *dim = total;
  *got = VT_SOURCE_MAPS;
  return 0;
}

/* Copies the requested rows of one pooled dataset into columns [col, col +
 * d) of x, reading the store in blocks of rows. */
static int load_pooled_part(const vt_store *s, const char *tap, const char *part, int d,
                            const int *rows, int n, float *x, int dim, int col) {
  enum { BLOCK = 2048 };
  float *buf = vt_xmalloc(sizeof(float) * BLOCK * (size_t)d);
  int i = 0, rc = 0;
  while (i < n) {
    int r0 = rows[i], nb = s->n_rows - r0 < BLOCK ? s->n_rows - r0 : BLOCK;
    if (vt_store_pooled_read(s, tap, part, r0, nb, d, buf) < 0) {
      rc = -1;
      break;
    }
    for (; i < n && rows[i] < r0 + nb; i++)
      memcpy(x + (size_t)i * dim + col, buf + (size_t)(rows[i] - r0) * d, sizeof(float) * d);
  }
  free(buf);
  return rc;
}

static int load_from_maps(const vt_store *s, const char *tap, const vt_pooling *p,
                          const int *rows, int n, int verbose, float *x, int dim) {
  vt_store_maps m;
  if (vt_store_maps_open(s, tap, &m) <= 0) return vt_fail("%s: cannot open the maps of %s", s->path, tap);
  size_t hw = (size_t)m.h * m.w, len = hw * m.c;
  float *map = vt_aligned_alloc(len * sizeof(float));
  int gmax = 1;
  for (int i = 0; i < p->n; i++) gmax = p->grid[i] > gmax ? p->grid[i] : gmax;
  size_t cell = (size_t)gmax * gmax * m.c;
  float *avg = vt_xmalloc(cell * sizeof(float)), *mx = vt_xmalloc(cell * sizeof(float));
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
    int col = 0;
    for (int k = 0; k < p->n; k++) {
      int g = p->grid[k];
      size_t w = (size_t)g * g * m.c;
      vt_grid_pool(map, m.h, m.w, m.c, g, p->is_max[k] ? NULL : avg, p->is_max[k] ? mx : NULL);
      memcpy(x + (size_t)i * dim + col, p->is_max[k] ? mx : avg, w * sizeof(float));
      col += (int)w;
    }
    vt_progress_update(&prog, i + 1, 0);
  }
  if (!map) rc = -1;
  vt_progress_finish(&prog);
  free(avg);
  free(mx);
  free(map);
  vt_store_maps_close(&m);
  return rc;
}

int vt_features_load(const vt_store *s, const char *tap, const vt_pooling *p,
                     vt_feature_source src, const int *rows, int n, int verbose,
                     vt_features *out) {
  memset(out, 0, sizeof *out);
  int dim;
  vt_feature_source got;
  if (vt_features_plan(s, tap, p, src, &dim, &got) < 0) return -1;
  for (int i = 0; i < n; i++) {
    if (rows[i] < 0 || rows[i] >= s->n_rows || (i && rows[i] <= rows[i - 1]))
      return vt_fail("internal: feature rows must be ascending store rows");
  }
  size_t bytes;
  if (vt_size_mul3((size_t)n, (size_t)dim, sizeof(float), &bytes) < 0) return -1;
  float *x = vt_aligned_alloc(bytes);
  if (!x) return vt_fail_prefix("features of %d rows x %d", n, dim);
  int rc = 0;
  if (got == VT_SOURCE_POOLED) {
    int col = 0;
    for (int k = 0; k < p->n && rc == 0; k++) {
      int d;
      vt_store_pooled_dim(s, tap, p->part[k], &d);
      rc = load_pooled_part(s, tap, p->part[k], d, rows, n, x, dim, col);
      col += d;
    }
    for (int i = 0; i < n && rc == 0; i++)
      for (int j = 0; j < dim; j++)
        if (!isfinite(x[(size_t)i * dim + j])) {
          rc = vt_fail("%s: row %d (%s) is marked ok but its %s features hold %s (feature %d)",
                       s->path, rows[i], s->paths[rows[i]], tap,
                       isnan(x[(size_t)i * dim + j]) ? "NaN" : "inf", j);
          break;
        }
  } else {
    rc = load_from_maps(s, tap, p, rows, n, verbose, x, dim);
  }
  if (rc < 0) {
    free(x);
    return -1;
  }
  out->n = n;
  out->dim = dim;
  out->x = x;
  out->source = got == VT_SOURCE_POOLED ? "pooled" : "maps";
  return 0;
}

void vt_features_free(vt_features *f) {
  free(f->x);
  memset(f, 0, sizeof *f);
}
