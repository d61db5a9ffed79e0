#include "vt_map_source.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "store/vt_h5.h"
#include "store/vt_store_read.h"
#include "vt_convnet_simd.h"
#include "vt_vec.h"

void vt_map_source_close(vt_map_source *s) {
  if (s->close) s->close(s);
  memset(s, 0, sizeof *s);
}

/* ---- in memory ---------------------------------------------------------------- */

typedef struct {
  const float *maps, *mirrors;
} memory_ctx;

static int memory_read(vt_map_source *s, const int *rows, const uint8_t *mirror, int n,
                       float *out) {
  memory_ctx *m = s->ctx;
  size_t len = (size_t)s->h * s->w * s->c;
  for (int i = 0; i < n; i++) {
    if (rows[i] < 0 || rows[i] >= s->n_rows)
      return vt_fail("map row %d is out of range (%d rows)", rows[i], s->n_rows);
    const float *src = mirror && mirror[i] ? m->mirrors : m->maps;
    if (!src) return vt_fail("no mirrored maps to read row %d from", rows[i]);
    memcpy(out + i * len, src + rows[i] * len, len * sizeof(float));
  }
  return 0;
}

static void free_ctx(vt_map_source *s) { free(s->ctx); }

void vt_map_source_memory(vt_map_source *s, const float *maps, const float *mirrors, int n_rows,
                          int h, int w, int c) {
  memory_ctx *m = vt_xmalloc(sizeof *m);
  *m = (memory_ctx){maps, mirrors};
  *s = (vt_map_source){n_rows, h, w, c, mirrors != NULL, 1, memory_read, free_ctx, m};
}

/* ---- a store's maps ------------------------------------------------------------- */

/* One dataset of maps, /features/<tap> or /mirror/features/<tap>: read a
 * row as stored (2- or 4-byte floats). */
typedef struct {
  const vt_store *store;
  vt_store_maps maps;
  int half;         /* float16 in the file */
  hid_t mem_type;   /* the file's type as read: half or native float */
  unsigned char *cache; /* every row as stored, or NULL: read from the file */
} store_maps;

typedef struct {
  vt_store store;
  store_maps photo, mirror;
  int has_mirror;
  size_t row_values;
  void *row_buf;    /* one row as stored, for uncached reads */
} store_ctx;

static size_t value_bytes(const store_maps *m) { return m->half ? 2 : 4; }

static void store_maps_close(store_maps *m) {
  free(m->cache);
  if (m->mem_type >= 0 && m->half) H5Tclose(m->mem_type);
  vt_store_maps_close(&m->maps);
}

/* opened: what vt_store_maps_open returned (1 opened, 0 absent, -1 failed) */
static int store_maps_set(store_maps *m, const vt_store *s, int opened) {
  m->store = s;
  if (opened <= 0) return -1;
  hid_t t = H5Dget_type(m->maps.dset);
  m->half = t >= 0 && H5Tget_size(t) == 2;
  if (t >= 0) H5Tclose(t);
  m->mem_type = m->half ? vt_h5_half_type() : H5T_NATIVE_FLOAT;
  return 0;
}

static int read_stored_row(store_maps *m, int row, void *out) {
  hsize_t start[4] = {(hsize_t)row, 0, 0, 0};
  hsize_t count[4] = {1, (hsize_t)m->maps.h, (hsize_t)m->maps.w, (hsize_t)m->maps.c};
  if (H5Sselect_hyperslab(m->maps.fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
      H5Dread(m->maps.dset, m->mem_type, m->maps.mspace, m->maps.fspace, H5P_DEFAULT, out) < 0)
    return vt_fail("%s: cannot read the map of row %d (%s; corrupt file?)", m->store->path, row,
                   m->store->paths[row]);
  return 0;
}

void vt_halves_to_floats(const uint16_t *in, size_t n, float *out) {
  vt_cn_simd_chosen()->halves_to_floats(in, n, out);
}

/* A stored row to float32, refusing NaN and infinities. */
static int convert_row(const store_maps *m, int row, const void *in, size_t n, float *out) {
  if (m->half) {
    vt_halves_to_floats(in, n, out);
  } else {
    memcpy(out, in, n * sizeof(float));
  }
  /* x - x is 0 for every finite x and NaN for NaN and infinities: one
   * vectorisable pass, the element found only when there is one */
  vf bad = {0};
  size_t j = 0;
  for (; j + VL <= n; j += VL) {
    vf v = vload(out + j, VL);
    bad += v - v;
  }
  for (; j < n; j++) bad[0] += out[j] - out[j];
  int any = 0;
  for (int k = 0; k < VL; k++) any |= bad[k] != 0.0f;
  if (!any) return 0;
  for (size_t i = 0; i < n; i++)
    if (!isfinite(out[i]))
      return vt_fail("%s: row %d (%s): its map holds %s at value %zu (a failed row? those are "
                     "NaN)", m->store->path, row, m->store->paths[row],
                     isnan(out[i]) ? "NaN" : "inf", i);
  return 0;
}

static int store_read(vt_map_source *s, const int *rows, const uint8_t *mirror, int n,
                      float *out) {
  store_ctx *c = s->ctx;
  for (int i = 0; i < n; i++) {
    int row = rows[i];
    if (row < 0 || row >= s->n_rows)
      return vt_fail("map row %d is out of range (%d rows)", row, s->n_rows);
    store_maps *m = mirror && mirror[i] ? &c->mirror : &c->photo;
    if (m == &c->mirror && !c->has_mirror)
      return vt_fail("no mirrored maps to read row %d from", row);
    const void *src = c->row_buf;
    if (m->cache) src = m->cache + (size_t)row * c->row_values * value_bytes(m);
    else if (read_stored_row(m, row, c->row_buf) < 0) return -1;
    if (convert_row(m, row, src, c->row_values, out + (size_t)i * c->row_values) < 0) return -1;
  }
  return 0;
}

static void store_close(vt_map_source *s) {
  store_ctx *c = s->ctx;
  store_maps_close(&c->photo);
  store_maps_close(&c->mirror);
  vt_store_close(&c->store);
  free(c->row_buf);
  free(c);
}

static int fill_cache(store_maps *m, size_t row_values, void *row_buf) {
  size_t row_bytes = row_values * value_bytes(m), bytes;
  if (vt_size_mul(row_bytes, (size_t)m->maps.n, &bytes) < 0) return -1;
  m->cache = malloc(bytes ? bytes : 1);
  if (!m->cache) return vt_fail("%s: out of memory caching %zu bytes of maps", m->store->path, bytes);
  for (int r = 0; r < m->maps.n; r++) {
    /* failed rows (status 2) hold NaN: cached as they are, refused if read */
    if (read_stored_row(m, r, row_buf) < 0) return -1;
    memcpy(m->cache + (size_t)r * row_bytes, row_buf, row_bytes);
  }
  return 0;
}

/* Opens the photo's maps of tap, and the mirrors' when asked. */
static int store_open_maps(store_ctx *c, const char *tap, int want_mirror) {
  const vt_store *st = &c->store;
  int opened = vt_store_maps_open(st, tap, &c->photo.maps);
  if (opened == 0)
    return vt_fail("%s holds no maps of %s (/features/%s): extract them with --keep maps "
                   "(e.g. vggtap-extract --tap %s --keep maps,pooled)", st->path, tap, tap, tap);
  if (store_maps_set(&c->photo, st, opened) < 0) return -1;
  if (!want_mirror) return 0;
  c->has_mirror = 1;
  opened = vt_store_maps_open_in(st, "mirror/", tap, &c->mirror.maps);
  if (opened == 0)
    return vt_fail("%s holds no maps of the mirrored photos (/mirror/features/%s): extract with "
                   "--augment flip --keep maps", st->path, tap);
  if (store_maps_set(&c->mirror, st, opened) < 0) return -1;
  const vt_store_maps *p = &c->photo.maps, *m = &c->mirror.maps;
  if (m->h != p->h || m->w != p->w || m->c != p->c)
    return vt_fail("%s: /features/%s is %dx%dx%d, /mirror/features/%s %dx%dx%d", st->path, tap,
                   p->h, p->w, p->c, tap, m->h, m->w, m->c);
  return 0;
}

int vt_map_source_store(vt_map_source *s, const char *path, const char *tap, int want_mirror,
                        size_t cache_bytes, int *cached) {
  memset(s, 0, sizeof *s);
  store_ctx *c = vt_xcalloc(1, sizeof *c);
  c->photo.mem_type = c->mirror.mem_type = -1;
  c->photo.maps.dset = c->photo.maps.fspace = c->photo.maps.mspace = -1;
  c->mirror.maps.dset = c->mirror.maps.fspace = c->mirror.maps.mspace = -1;
  *cached = 0;
  if (vt_store_open(path, &c->store) < 0) {
    free(c);
    return -1;
  }
  int rc = store_open_maps(c, tap, want_mirror);
  if (rc == 0) {
    const vt_store_maps *m = &c->photo.maps;
    c->row_values = (size_t)m->h * m->w * m->c;
    c->row_buf = vt_xmalloc(c->row_values * sizeof(float));
    size_t need = c->row_values * (size_t)m->n * value_bytes(&c->photo);
    if (c->has_mirror) need += c->row_values * (size_t)m->n * value_bytes(&c->mirror);
    if (need <= cache_bytes) {
      rc = fill_cache(&c->photo, c->row_values, c->row_buf);
      if (rc == 0 && c->has_mirror) rc = fill_cache(&c->mirror, c->row_values, c->row_buf);
      *cached = rc == 0;
    }
  }
  *s = (vt_map_source){c->photo.maps.n, c->photo.maps.h, c->photo.maps.w, c->photo.maps.c,
                       c->has_mirror, *cached, store_read, store_close, c};
  if (rc < 0) {
    vt_map_source_close(s);
    return -1;
  }
  return 0;
}
