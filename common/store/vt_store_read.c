#include "store/vt_store_read.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/vt_common.h"
#include "base/vt_text.h"
#include "store/vt_crash_guard.h"
#include "store/vt_h5.h"
#include "store/vt_store_schema.h"
#include "store/vt_vds.h"

/* ---- HDF5 helpers ---- */

int vt_link_exists(hid_t loc, const char *path) {
  /* H5Lexists fails (rather than answering 0) when an intermediate group is
   * missing, so walk the path one component at a time. */
  char buf[512];
  size_t n = strlen(path);
  if (n >= sizeof buf) return 0;
  memcpy(buf, path, n + 1);
  for (char *p = buf;; p++) {
    if (*p == '/' || *p == '\0') {
      char c = *p;
      *p = '\0';
      if (buf[0] && H5Lexists(loc, buf, H5P_DEFAULT) <= 0) return 0;
      if (c == '\0') return 1;
      *p = c;
    }
  }
}

void vt_free_strings(char **s, int n) {
  if (!s) return;
  for (int i = 0; i < n; i++) free(s[i]);
  free(s);
}

/* Opens a 1-D dataset of the given type class; returns its length in *n. */
static hid_t open_1d(hid_t loc, const char *path, H5T_class_t cls, const char *what, int *n) {
  if (!vt_link_exists(loc, path)) {
    vt_fail("dataset /%s is missing", path);
    return -1;
  }
  hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
  if (d < 0) {
    vt_fail("cannot open dataset /%s", path);
    return -1;
  }
  hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
  hsize_t dims[1];
  int ok = H5Tget_class(t) == cls && H5Sget_simple_extent_ndims(sp) == 1;
  if (ok) H5Sget_simple_extent_dims(sp, dims, NULL);
  H5Sclose(sp);
  H5Tclose(t);
  if (!ok) {
    H5Dclose(d);
    vt_fail("dataset /%s is not a 1-D array of %s", path, what);
    return -1;
  }
  if (dims[0] > INT_MAX) {
    H5Dclose(d);
    vt_fail("dataset /%s has too many entries (%llu)", path, (unsigned long long)dims[0]);
    return -1;
  }
  *n = (int)dims[0];
  return d;
}

int vt_read_string_dataset(hid_t loc, const char *path, int *n_out, char ***out) {
  int n;
  *out = NULL;
  hid_t d = open_1d(loc, path, H5T_STRING, "strings", &n);
  if (d < 0) return -1;
  hid_t t = H5Dget_type(d), mem = H5Tcopy(H5T_C_S1);
  char **s = vt_xcalloc((size_t)n + 1, sizeof *s);
  int ret = 0;
  if (n == 0) {
    /* nothing to read (HDF5 rejects reads of empty selections on some types) */
  } else if (H5Tis_variable_str(t) > 0) {
    char **raw = vt_xcalloc((size_t)n, sizeof *raw);
    H5Tset_size(mem, H5T_VARIABLE);
    if (H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) < 0) {
      ret = vt_fail("cannot read /%s", path);
    } else {
      for (int i = 0; i < n; i++) s[i] = vt_h5_utf8_dup(raw[i] ? raw[i] : "");
      hid_t sp = H5Dget_space(d);
      H5Dvlen_reclaim(mem, sp, H5P_DEFAULT, raw);
      H5Sclose(sp);
    }
    free(raw);
  } else {
    size_t sz = H5Tget_size(t), total;
    if (vt_size_mul((size_t)n, sz, &total) < 0) {
      ret = vt_fail_prefix("/%s", path);
    } else {
      char *raw = vt_xcalloc(total + 1, 1);
      H5Tset_size(mem, sz);
      H5Tset_strpad(mem, H5T_STR_NULLPAD);
      if (H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) < 0) {
        ret = vt_fail("cannot read /%s", path);
      } else {
        for (int i = 0; i < n; i++) {
          char *fixed = vt_xcalloc(sz + 1, 1);
          memcpy(fixed, raw + (size_t)i * sz, sz);
          s[i] = vt_h5_utf8_dup(fixed);
          free(fixed);
        }
      }
      free(raw);
    }
  }
  H5Tclose(mem);
  H5Tclose(t);
  H5Dclose(d);
  if (ret < 0) {
    vt_free_strings(s, n);
    return -1;
  }
  *n_out = n;
  *out = s;
  return 0;
}

/* Reads a 1-D integer dataset of exactly n entries as mem_type into buf. */
static int read_ints(hid_t loc, const char *path, int n, hid_t mem_type, void *buf) {
  int len;
  hid_t d = open_1d(loc, path, H5T_INTEGER, "integers", &len);
  if (d < 0) return -1;
  int ret = 0;
  if (len != n)
    ret = vt_fail("/%s has %d rows, /images/path has %d", path, len, n);
  else if (n > 0 && H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
    ret = vt_fail("cannot read /%s", path);
  H5Dclose(d);
  return ret;
}

/* Optional per-row strings: "" for every row when absent. */
static int read_row_strings(hid_t f, const char *path, int n, char ***out) {
  if (!vt_link_exists(f, path)) {
    *out = vt_xcalloc((size_t)n + 1, sizeof **out);
    for (int i = 0; i < n; i++) (*out)[i] = vt_xstrdup("");
    return 0;
  }
  int len;
  if (vt_read_string_dataset(f, path, &len, out) < 0) return -1;
  if (len != n) {
    vt_free_strings(*out, len);
    *out = NULL;
    return vt_fail("/%s has %d rows, /images/path has %d", path, len, n);
  }
  return 0;
}

static int str_attr(hid_t f, const char *name, char **out) {
  *out = vt_h5_read_str_attr(f, name);
  return *out ? 0 : -1;
}

static int optional_str_attr(hid_t f, const char *name, char **out) {
  if (H5Aexists(f, name) <= 0) {
    *out = vt_xstrdup("");
    return 0;
  }
  return str_attr(f, name, out);
}

static int int_attr(hid_t f, const char *name, int *out) {
  long long v;
  if (vt_h5_read_int_attr(f, name, &v) < 0) return -1;
  if (v < INT_MIN || v > INT_MAX) return vt_fail("attribute '%s' is out of range (%lld)", name, v);
  *out = (int)v;
  return 0;
}

/* ---- the store ---- */

static int check_format(vt_store *s) {
  hid_t f = s->file;
  char *format = NULL;
  if (H5Aexists(f, "format") <= 0)
    return vt_fail("not a vggtap store (no 'format' attribute: a Keras weights file, a head "
                   "file or some other HDF5 file?)");
  if (str_attr(f, "format", &format) < 0) return -1;
  int ours = strcmp(format, VT_STORE_FORMAT) == 0;
  if (!ours) {
    vt_fail("not a vggtap store (format is '%.100s', expected '%s')", format, VT_STORE_FORMAT);
    free(format);
    return -1;
  }
  free(format);
  if (int_attr(f, "format_version", &s->format_version) < 0) return -1;
  if (s->format_version > VT_STORE_FORMAT_VERSION)
    return vt_fail("format_version %d is newer than this vggtap reads (%d): update vggtap",
                   s->format_version, VT_STORE_FORMAT_VERSION);
  if (s->format_version < 1) return vt_fail("invalid format_version %d", s->format_version);
  return 0;
}

static int read_attrs(vt_store *s) {
  hid_t f = s->file;
  if (str_attr(f, "taps", &s->taps) < 0 || str_attr(f, "preprocessing", &s->preprocessing) < 0 ||
      str_attr(f, "resize", &s->resize) < 0 ||
      str_attr(f, "weights_sha256", &s->weights_sha256) < 0 ||
      int_attr(f, "input_height", &s->input_height) < 0 ||
      int_attr(f, "input_width", &s->input_width) < 0 ||
      optional_str_attr(f, "tool_version", &s->tool_version) < 0 ||
      optional_str_attr(f, "map_dtype", &s->map_dtype) < 0 ||
      optional_str_attr(f, "grids", &s->grids) < 0 ||
      optional_str_attr(f, "source", &s->source) < 0 ||
      optional_str_attr(f, "data_root", &s->data_root) < 0 ||
      optional_str_attr(f, "command", &s->command) < 0)
    return -1;
  if (s->input_height < 1 || s->input_width < 1)
    return vt_fail("invalid input size %dx%d", s->input_height, s->input_width);
  return 0;
}

static int read_index(vt_store *s) {
  hid_t f = s->file;
  int n;
  if (vt_read_string_dataset(f, "classes", &s->n_classes, &s->classes) < 0) return -1;
  if (vt_read_string_dataset(f, "images/path", &n, &s->paths) < 0) return -1;
  s->n_rows = n;
  s->labels = vt_xmalloc((size_t)n * sizeof *s->labels + 1);
  s->status = vt_xmalloc((size_t)n + 1);
  if (read_ints(f, "images/label", n, H5T_NATIVE_INT32, s->labels) < 0) return -1;
  if (read_ints(f, "images/status", n, H5T_NATIVE_UINT8, s->status) < 0) return -1;
  if (read_row_strings(f, "images/split", n, &s->splits) < 0) return -1;
  if (read_row_strings(f, "images/error", n, &s->errors) < 0) return -1;
  for (int i = 0; i < n; i++) {
    if (s->labels[i] < -1 || s->labels[i] >= s->n_classes)
      return vt_fail("row %d (%s): label %d is outside the %d classes", i, s->paths[i],
                     (int)s->labels[i], s->n_classes);
    if (s->status[i] == VT_ROW_PENDING)
      return vt_fail("row %d (%s) is still pending: the store is incomplete", i, s->paths[i]);
    if (s->status[i] != VT_ROW_OK && s->status[i] != VT_ROW_FAILED)
      return vt_fail("row %d (%s): invalid status %d", i, s->paths[i], s->status[i]);
  }
  return 0;
}

char *vt_store_partial_dir(const char *out) {
  size_t n = strlen(out) + sizeof ".partial";
  char *dir = vt_xmalloc(n);
  snprintf(dir, n, "%s.partial", out);
  return dir;
}

int vt_store_fail_unopenable(const char *path, int err) {
  /* vggtap-extract writes OUT.partial/ and renames OUT into place only
   * when every row is done: say so rather than just "no such file" */
  struct stat st;
  char *partial = vt_store_partial_dir(path);
  if (err == ENOENT && stat(partial, &st) == 0)
    vt_fail("%s is not finished: its extraction is still running or was interrupted (%s/ "
            "holds the rows done so far); run its vggtap-extract command again to complete it",
            path, partial);
  else
    vt_fail("%s: cannot open: %s", path, strerror(err));
  free(partial);
  return -1;
}

int vt_store_open(const char *path, vt_store *s) {
  memset(s, 0, sizeof *s);
  s->file = -1;
  s->path = vt_xstrdup(path);
  FILE *probe = fopen(path, "rb");
  if (!probe) {
    vt_store_fail_unopenable(path, errno);
    goto fail_noprefix;
  }
  fclose(probe);
  if (H5Fis_hdf5(path) <= 0) {
    vt_fail("%s: not an HDF5 file (corrupt, truncated, or not a vggtap store)", path);
    goto fail_noprefix;
  }
  vt_crash_guard_set(path);
  s->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (s->file < 0) {
    vt_crash_guard_clear();
    vt_fail("%s: cannot open as HDF5 (corrupt or truncated?)", path);
    goto fail_noprefix;
  }
  /* A merged store (vggtap-merge) reads missing shard files as fill values
   * without an error: check that they are all there first. */
  int rc = check_format(s) < 0 || read_attrs(s) < 0 || read_index(s) < 0 ||
           vt_vds_check_sources(s->file, path, NULL) < 0;
  vt_crash_guard_clear();
  if (rc) goto fail;
  return 0;
fail:
  vt_fail_prefix("%s", path);
fail_noprefix:
  vt_store_close(s);
  return -1;
}

void vt_store_close(vt_store *s) {
  if (s->file >= 0) H5Fclose(s->file);
  vt_free_strings(s->classes, s->n_classes);
  vt_free_strings(s->paths, s->n_rows);
  vt_free_strings(s->splits, s->n_rows);
  vt_free_strings(s->errors, s->n_rows);
  free(s->labels);
  free(s->status);
  char **attrs[] = {&s->path, &s->tool_version, &s->weights_sha256, &s->taps, &s->preprocessing,
                    &s->resize, &s->map_dtype, &s->grids, &s->source, &s->data_root, &s->command};
  for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) free(*attrs[i]);
  memset(s, 0, sizeof *s);
  s->file = -1;
}

int vt_store_has_tap(const vt_store *s, const char *tap) {
  size_t n = strlen(tap);
  for (const char *p = s->taps; p && *p;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == n && strncmp(p, tap, n) == 0) return 1;
    if (!end) break;
    p = end + 1;
  }
  return 0;
}

/* Opens a float dataset of rank `rank` whose first dimension is the row count. */
static hid_t open_rows(const vt_store *s, const char *path, int rank, hsize_t *dims) {
  hid_t d = H5Dopen2(s->file, path, H5P_DEFAULT);
  if (d < 0) {
    vt_fail("%s: cannot open /%s", s->path, path);
    return -1;
  }
  hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
  int ok = H5Tget_class(t) == H5T_FLOAT && H5Sget_simple_extent_ndims(sp) == rank;
  if (ok) H5Sget_simple_extent_dims(sp, dims, NULL);
  H5Sclose(sp);
  H5Tclose(t);
  if (!ok) {
    H5Dclose(d);
    vt_fail("%s: /%s is not a %d-D float array", s->path, path, rank);
    return -1;
  }
  if (dims[0] != (hsize_t)s->n_rows) {
    H5Dclose(d);
    vt_fail("%s: /%s has %llu rows, the store has %d", s->path, path,
            (unsigned long long)dims[0], s->n_rows);
    return -1;
  }
  return d;
}

int vt_store_has_mirror(const vt_store *s) {
  char *augment = vt_h5_read_str_attr(s->file, "augment");
  int yes = augment && strcmp(augment, "flip") == 0;
  free(augment);
  return yes;
}

int vt_store_pooled_dim(const vt_store *s, const char *tap, const char *name, int *dim) {
  return vt_store_pooled_dim_in(s, "", tap, name, dim);
}

int vt_store_pooled_read(const vt_store *s, const char *tap, const char *name, int row0, int n,
                         int dim, float *out) {
  return vt_store_pooled_read_in(s, "", tap, name, row0, n, dim, out);
}

int vt_store_maps_open(const vt_store *s, const char *tap, vt_store_maps *m) {
  return vt_store_maps_open_in(s, "", tap, m);
}

int vt_store_pooled_dim_in(const vt_store *s, const char *group, const char *tap, const char *name,
                           int *dim) {
  char path[256];
  snprintf(path, sizeof path, "%spooled/%s/%s", group, tap, name);
  if (!vt_link_exists(s->file, path)) return 0;
  hsize_t dims[2];
  hid_t d = open_rows(s, path, 2, dims);
  if (d < 0) return -1;
  H5Dclose(d);
  if (dims[1] < 1 || dims[1] > INT_MAX)
    return vt_fail("%s: /%s has invalid width %llu", s->path, path, (unsigned long long)dims[1]);
  *dim = (int)dims[1];
  return 1;
}

int vt_store_pooled_read_in(const vt_store *s, const char *group, const char *tap, const char *name,
                            int row0, int n, int dim, float *out) {
  char path[256];
  snprintf(path, sizeof path, "%spooled/%s/%s", group, tap, name);
  if (row0 < 0 || n < 0 || row0 > s->n_rows - n)
    return vt_fail("%s: rows %d..%d of /%s are out of range", s->path, row0, row0 + n, path);
  if (n == 0) return 0;
  hsize_t dims[2];
  hid_t d = open_rows(s, path, 2, dims);
  if (d < 0) return -1;
  if (dims[1] != (hsize_t)dim) {
    H5Dclose(d);
    return vt_fail("%s: /%s has width %llu, expected %d", s->path, path,
                   (unsigned long long)dims[1], dim);
  }
  hsize_t start[2] = {(hsize_t)row0, 0}, count[2] = {(hsize_t)n, (hsize_t)dim};
  hid_t fs = H5Dget_space(d), ms = H5Screate_simple(2, count, NULL);
  int ret = 0;
  if (H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
      H5Dread(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, out) < 0)
    ret = vt_fail("%s: cannot read rows %d..%d of /%s (corrupt file?)", s->path, row0,
                  row0 + n - 1, path);
  H5Sclose(ms);
  H5Sclose(fs);
  H5Dclose(d);
  return ret;
}

int vt_store_maps_open_in(const vt_store *s, const char *group, const char *tap, vt_store_maps *m) {
  char path[256];
  snprintf(path, sizeof path, "%sfeatures/%s", group, tap);
  memset(m, 0, sizeof *m);
  m->dset = m->fspace = m->mspace = -1;
  if (!vt_link_exists(s->file, path)) return 0;
  hsize_t dims[4];
  hid_t d = open_rows(s, path, 4, dims);
  if (d < 0) return -1;
  size_t total;
  if (dims[1] < 1 || dims[2] < 1 || dims[3] < 1 || dims[1] > INT_MAX || dims[2] > INT_MAX ||
      dims[3] > INT_MAX || vt_size_mul3(dims[1], dims[2], dims[3], &total) < 0 ||
      total > INT_MAX) {
    H5Dclose(d);
    return vt_fail("%s: /%s has an invalid map shape %llux%llux%llu", s->path, path,
                   (unsigned long long)dims[1], (unsigned long long)dims[2],
                   (unsigned long long)dims[3]);
  }
  m->dset = d;
  m->n = s->n_rows;
  m->h = (int)dims[1];
  m->w = (int)dims[2];
  m->c = (int)dims[3];
  char *reduction = vt_h5_read_str_attr(d, "reduction");
  snprintf(m->reduction, sizeof m->reduction, "%s", reduction ? reduction : "");
  free(reduction);
  m->fspace = H5Dget_space(d);
  hsize_t one[4] = {1, dims[1], dims[2], dims[3]};
  m->mspace = H5Screate_simple(4, one, NULL);
  return 1;
}

int vt_store_maps_read(vt_store_maps *m, int row, float *out) {
  if (row < 0 || row >= m->n) return vt_fail("map row %d is out of range (%d rows)", row, m->n);
  hsize_t start[4] = {(hsize_t)row, 0, 0, 0};
  hsize_t count[4] = {1, (hsize_t)m->h, (hsize_t)m->w, (hsize_t)m->c};
  if (H5Sselect_hyperslab(m->fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
      H5Dread(m->dset, H5T_NATIVE_FLOAT, m->mspace, m->fspace, H5P_DEFAULT, out) < 0)
    return vt_fail("cannot read the map of row %d (corrupt file?)", row);
  return 0;
}

void vt_store_maps_close(vt_store_maps *m) {
  if (m->mspace >= 0) H5Sclose(m->mspace);
  if (m->fspace >= 0) H5Sclose(m->fspace);
  if (m->dset >= 0) H5Dclose(m->dset);
  m->dset = m->fspace = m->mspace = -1;
}

/* The image a store row came from: relative to the data folder, or to the
 * manifest's folder (docs/STORE.md). */
static char *row_image_path(const vt_store *s, int row) {
  const char *p = s->paths[row];
  if (p[0] == '/' || !strcmp(s->source, "files")) return vt_xstrdup(p);
  char *base = vt_xstrdup(s->data_root);
  if (!strcmp(s->source, "manifest")) {
    char *slash = strrchr(base, '/');
    if (slash) *slash = '\0';
    else strcpy(base, ".");
  }
  size_t n = strlen(base) + strlen(p) + 2;
  char *full = vt_xmalloc(n);
  snprintf(full, n, "%s/%s", base, p);
  free(base);
  return full;
}

/* A file name that was not UTF-8 is stored with its stray bytes as \xHH
 * (docs/STORE.md), a name that does not exist: there the file is the name
 * with those bytes put back. Takes path; the stored spelling is kept when
 * neither exists, for the "input not shown" note. */
static char *on_disk(char *path) {
  struct stat st;
  if (stat(path, &st) == 0 || errno != ENOENT) return path;
  char *raw = vt_utf8_unescaped(path);
  if (!raw || stat(raw, &st) != 0) {
    free(raw);
    return path;
  }
  free(path);
  return raw;
}

char *vt_store_image_path(const vt_store *s, int row) {
  return on_disk(row_image_path(s, row));
}
