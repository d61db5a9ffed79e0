#define _GNU_SOURCE /* O_DIRECT */
#include "map_file.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/vt_common.h"
#include "base/vt_durable.h"
#include "store/vt_h5.h"

enum { BLOCK = 4096 }; /* O_DIRECT alignment of offsets, lengths and buffers */

struct vt_map_file {
  char *path;
  int fd;
  int direct;                        /* fd was opened with O_DIRECT */
  int n_sets;
  size_t row_bytes[VT_STORE_MAX_SETS];
  haddr_t *offset[VT_STORE_MAX_SETS]; /* [n_rows] file offset of each row's chunk */
  void *nan_row[VT_STORE_MAX_SETS];   /* written for failed rows */
};

int vt_map_file_applies(const vt_store_layout *lay) {
  return lay->maps && !lay->deflate && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
}

hid_t vt_map_file_type(const vt_store_layout *lay) {
  return lay->map_half ? vt_h5_half_type() : H5Tcopy(H5T_IEEE_F32LE);
}

hid_t vt_map_dcpl(const vt_store_layout *lay, int t) {
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  hsize_t chunk[4] = {1, (hsize_t)lay->h[t], (hsize_t)lay->w[t], (hsize_t)lay->c[t]};
  H5Pset_chunk(dcpl, 4, chunk);
  float nan = NAN;
  H5Pset_fill_value(dcpl, H5T_NATIVE_FLOAT, &nan);
  if (lay->deflate) {
    H5Pset_shuffle(dcpl);
    H5Pset_deflate(dcpl, (unsigned)lay->deflate);
  }
  return dcpl;
}

int vt_map_attrs(hid_t d, const vt_store_layout *lay, int t) {
  if (vt_h5_write_str_attr(d, "layer", lay->name[t]) < 0) return -1;
  if (lay->map_pool == 1) return 0;
  char reduction[16];
  snprintf(reduction, sizeof reduction, "avg%d", lay->map_pool);
  return vt_h5_write_str_attr(d, "reduction", reduction);
}

static int map_write_failed(const char *path) {
  return vt_fail("cannot write %s: %s", path, vt_h5_os_error("HDF5 write error"));
}

/* Every chunk allocated now (their addresses never change) and none
 * written: the file is sparse until rows arrive, and failed rows get NaN
 * written explicitly. */
static int create_file(const char *path, const vt_store_layout *lay, long long n_rows) {
  char *tmp = vt_xmalloc(strlen(path) + 8);
  sprintf(tmp, "%s.tmp", path);
  /* chunks (every object of a block or more) start on a block boundary */
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_alignment(fapl, BLOCK, BLOCK);
  hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5Pclose(fapl);
  int rc = f < 0 ? map_write_failed(tmp) : 0;
  hid_t lcpl = vt_h5_lcpl();
  for (int t = 0; t < lay->n_sets && rc == 0; t++) {
    hsize_t dims[4] = {(hsize_t)n_rows, (hsize_t)lay->h[t], (hsize_t)lay->w[t], (hsize_t)lay->c[t]};
    hid_t sp = H5Screate_simple(4, dims, NULL), dcpl = vt_map_dcpl(lay, t), ft = vt_map_file_type(lay);
    H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    char name[128];
    snprintf(name, sizeof name, "%sfeatures/%s", lay->group[t], lay->name[t]);
    hid_t d = H5Dcreate2(f, name, ft, sp, lcpl, dcpl, H5P_DEFAULT);
    if (d < 0 || vt_map_attrs(d, lay, t) < 0) rc = map_write_failed(tmp);
    if (d >= 0) H5Dclose(d);
    H5Tclose(ft);
    H5Pclose(dcpl);
    H5Sclose(sp);
  }
  H5Pclose(lcpl);
  if (f >= 0 && H5Fclose(f) < 0 && rc == 0) rc = map_write_failed(tmp);
  if (rc == 0) rc = vt_rename_durable(tmp, path); /* the rows that parts will count as done are in it */
  if (rc < 0) unlink(tmp);
  free(tmp);
  return rc;
}

/* Looks up every row's chunk address, checking the file is what this run
 * would have created. */
static int read_offsets(vt_map_file *m, const vt_store_layout *lay, long long n_rows) {
  hid_t f = H5Fopen(m->path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return vt_fail("cannot open %s", m->path);
  int rc = 0;
  for (int t = 0; t < lay->n_sets && rc == 0; t++) {
    char name[128];
    snprintf(name, sizeof name, "%sfeatures/%s", lay->group[t], lay->name[t]);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    hid_t sp = d >= 0 ? H5Dget_space(d) : -1;
    hsize_t dims[4] = {0};
    if (sp < 0 || H5Sget_simple_extent_ndims(sp) != 4 || H5Sget_simple_extent_dims(sp, dims, NULL) < 0 ||
        dims[0] != (hsize_t)n_rows || dims[1] != (hsize_t)lay->h[t] || dims[2] != (hsize_t)lay->w[t] ||
        dims[3] != (hsize_t)lay->c[t])
      rc = vt_fail("%s: /%s is missing or has another shape than this run's", m->path, name);
    m->offset[t] = vt_xmalloc((size_t)(n_rows ? n_rows : 1) * sizeof(haddr_t));
    for (long long i = 0; i < n_rows && rc == 0; i++) {
      hsize_t at[4] = {(hsize_t)i, 0, 0, 0}, size = 0;
      unsigned mask = 0;
      if (H5Dget_chunk_info_by_coord(d, at, &mask, &m->offset[t][i], &size) < 0 ||
          m->offset[t][i] == HADDR_UNDEF || size != m->row_bytes[t])
        rc = vt_fail("%s: the chunk of row %lld of /%s is not allocated as expected", m->path, i, name);
    }
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
  }
  H5Fclose(f);
  return rc;
}

vt_map_file *vt_map_file_open(const char *dir, const vt_store_layout *lay, long long n_rows) {
  vt_map_file *m = vt_xcalloc(1, sizeof *m);
  m->fd = -1;
  m->n_sets = lay->n_sets;
  m->path = vt_xmalloc(strlen(dir) + sizeof "/" VT_MAP_FILE_NAME);
  sprintf(m->path, "%s/" VT_MAP_FILE_NAME, dir);
  size_t elem = lay->map_half ? 2 : 4;
  for (int t = 0; t < lay->n_sets; t++) {
    size_t n = (size_t)lay->h[t] * lay->w[t] * lay->c[t];
    m->row_bytes[t] = n * elem;
    m->nan_row[t] = vt_xpage_alloc(m->row_bytes[t]);
    for (size_t k = 0; k < n; k++) {
      if (lay->map_half) ((uint16_t *)m->nan_row[t])[k] = 0x7E00; /* half quiet NaN */
      else ((float *)m->nan_row[t])[k] = NAN;
    }
  }
  struct stat st;
  if ((stat(m->path, &st) != 0 && create_file(m->path, lay, n_rows) < 0) ||
      read_offsets(m, lay, n_rows) < 0) {
    vt_map_file_close(m);
    return NULL;
  }
  m->direct = 1;
  for (int t = 0; t < lay->n_sets; t++) {
    m->direct &= m->row_bytes[t] % BLOCK == 0;
    for (long long i = 0; i < n_rows && m->direct; i++) m->direct &= m->offset[t][i] % BLOCK == 0;
  }
  /* tmpfs and some others refuse O_DIRECT: then write through the page cache */
  m->fd = m->direct ? open(m->path, O_WRONLY | O_CLOEXEC | O_DIRECT) : -1;
  if (m->fd < 0) {
    m->direct = 0;
    m->fd = open(m->path, O_WRONLY | O_CLOEXEC);
  }
  if (m->fd < 0) {
    vt_fail("cannot open %s: %s", m->path, strerror(errno));
    vt_map_file_close(m);
    return NULL;
  }
  return m;
}

int vt_map_file_write(vt_map_file *m, int t, long long row, const void *data) {
  const char *p = data ? data : m->nan_row[t];
  if (m->direct && (uintptr_t)p % BLOCK)
    return vt_fail("internal error: map buffer for %s not page-aligned", m->path);
  size_t left = m->row_bytes[t];
  off_t at = (off_t)m->offset[t][row];
  while (left > 0) {
    ssize_t n = pwrite(m->fd, p, left, at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return vt_fail("cannot write %s: %s", m->path, n < 0 ? strerror(errno) : "nothing written");
    p += n, at += n, left -= (size_t)n;
  }
  return 0;
}

int vt_map_file_sync(vt_map_file *m) {
  /* the chunks were allocated when the file was made: no metadata to sync */
  if (fdatasync(m->fd) != 0 && errno != EINVAL) return vt_fail("cannot sync %s to disk: %s", m->path, strerror(errno));
  return 0;
}

const char *vt_map_file_path(const vt_map_file *m) { return m->path; }

void vt_map_file_close(vt_map_file *m) {
  if (!m) return;
  if (m->fd >= 0) close(m->fd);
  for (int t = 0; t < m->n_sets; t++) {
    free(m->offset[t]);
    free(m->nan_row[t]);
  }
  free(m->path);
  free(m);
}

int vt_map_file_reset(const char *path) {
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  if (f < 0) return vt_fail("cannot open %s", path);
  int rc = H5Lexists(f, "features", H5P_DEFAULT) > 0 ? 0 : vt_fail("%s has no /features", path);
  /* /mirror/features (--augment flip) stays beside /features */
  int mirror = H5Lexists(f, "mirror", H5P_DEFAULT) > 0;
  static const char *added[] = {"classes", "images", "pooled", "mirror/pooled"};
  for (size_t i = 0; i < sizeof added / sizeof *added && rc == 0; i++)
    if ((mirror || strncmp(added[i], "mirror/", 7) != 0) && H5Lexists(f, added[i], H5P_DEFAULT) > 0 &&
        H5Ldelete(f, added[i], H5P_DEFAULT) < 0)
      rc = vt_fail("cannot remove /%s from %s", added[i], path);
  /* the root attributes are written again by the next assembly */
  while (rc == 0 && H5Adelete_by_idx(f, ".", H5_INDEX_NAME, H5_ITER_INC, 0, H5P_DEFAULT) >= 0) {
  }
  if (H5Fclose(f) < 0 && rc == 0) rc = map_write_failed(path);
  return rc;
}
