#include "store_merge.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "shard.h"
#include "store_writer.h"
#include "base/vt_common.h"
#include "base/vt_durable.h"
#include "store/vt_h5.h"
#include "store/vt_store_read.h"
#include "store/vt_store_schema.h"
#include "store/vt_vds.h"

/* How many missing shards are listed one by one before "and K more". */
enum { MAX_LISTED = 20 };
/* Rows per block when copying non-chunked datasets (materialising). */
#define COPY_BLOCK_BYTES (64.0 * 1024 * 1024)

typedef struct {
  const char *path;
  hid_t f;
  long long index, count, first, n, global_n;
} shard_file;

/* Every problem found, one per line, so a user fixes them all at once. */
typedef struct {
  char *text;
  size_t len;
  int n;
} problems;

static void VT_PRINTF(2, 3) problem(problems *p, const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  size_t add = strlen(line) + 3;
  p->text = vt_xrealloc(p->text, p->len + add + 1);
  p->len += (size_t)snprintf(p->text + p->len, add + 1, "\n  %s", line);
  p->n++;
}

/* ---- opening and checking the shards ---- */

static int read_int(hid_t f, const char *name, long long *v, const char *path, problems *pr) {
  if (vt_h5_read_int_attr(f, name, v) == 0) return 0;
  problem(pr, "%s: %s", path, vt_failure_reason());
  return -1;
}

/* Opens one shard; on a problem records it and leaves s->f < 0. */
static void open_shard(const char *path, shard_file *s, problems *pr) {
  memset(s, 0, sizeof *s);
  s->path = path;
  s->f = -1;
  struct stat st;
  if (stat(path, &st) != 0) {
    int err = errno;
    char *partial = vt_store_partial_dir(path);
    if (stat(partial, &st) == 0)
      problem(pr, "%s is not finished: %s/ holds the rows done so far; run its vggtap-extract "
                  "command again to complete it", path, partial);
    else
      problem(pr, "%s: %s", path, strerror(err));
    free(partial);
    return;
  }
  if (H5Fis_hdf5(path) <= 0) {
    problem(pr, "%s is not an HDF5 file", path);
    return;
  }
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) {
    problem(pr, "%s: cannot open (corrupt HDF5 file?)", path);
    return;
  }
  char *format = vt_h5_read_str_attr(f, "format");
  int ours = format && strcmp(format, VT_STORE_FORMAT) == 0;
  free(format);
  if (!ours) {
    problem(pr, "%s is not a vggtap store", path);
    H5Fclose(f);
    return;
  }
  if (H5Aexists(f, "shard_count") <= 0) {
    problem(pr, "%s is a whole store, not a shard (made without --shard): it needs no merging",
            path);
    H5Fclose(f);
    return;
  }
  if (read_int(f, "shard_index", &s->index, path, pr) < 0 ||
      read_int(f, "shard_count", &s->count, path, pr) < 0 ||
      read_int(f, "shard_first_row", &s->first, path, pr) < 0 ||
      read_int(f, "n_rows", &s->n, path, pr) < 0 ||
      read_int(f, "global_n_rows", &s->global_n, path, pr) < 0) {
    H5Fclose(f);
    return;
  }
  s->f = f;
}

/* The settings every shard of one run shares (docs/STORE.md). */
static const char *const same_str[] = {"weights_sha256", "taps", "grids", "preprocessing",
                                       "resize", "map_dtype", "compression",
                                       "global_rows_digest", "map_pool", "augment"};
/* Settings older stores do not record: missing means "none". */
static const char *const same_or_none[] = {"map_pool", "augment"};
static const char *const same_int[] = {"format_version", "input_height", "input_width",
                                       "max_pixels", "shard_count", "global_n_rows"};

static void compare_settings(const shard_file *a, const shard_file *b, problems *pr) {
  for (size_t i = 0; i < sizeof same_str / sizeof *same_str; i++) {
    char *x = vt_h5_read_str_attr(a->f, same_str[i]), *y = vt_h5_read_str_attr(b->f, same_str[i]);
    for (size_t k = 0; k < sizeof same_or_none / sizeof *same_or_none; k++)
      if (!strcmp(same_str[i], same_or_none[k])) {
        if (!x) x = vt_xstrdup("none");
        if (!y) y = vt_xstrdup("none");
      }
    if (!x || !y || strcmp(x, y) != 0)
      problem(pr, "%s: %s has '%s', %s has '%s'", same_str[i], a->path, x ? x : "(missing)",
              b->path, y ? y : "(missing)");
    free(x);
    free(y);
  }
  for (size_t i = 0; i < sizeof same_int / sizeof *same_int; i++) {
    long long x = -1, y = -1;
    if (vt_h5_read_int_attr(a->f, same_int[i], &x) < 0 ||
        vt_h5_read_int_attr(b->f, same_int[i], &y) < 0 || x != y)
      problem(pr, "%s: %s has %lld, %s has %lld", same_int[i], a->path, x, b->path, y);
  }
}

/* Fills slot[0..count) with the shard holding each index; records
 * duplicates, blocks other than the partition's, and missing shards. */
static void check_coverage(shard_file *s, int n, long long count, int *slot, problems *pr) {
  for (long long i = 0; i < count; i++) slot[i] = -1;
  for (int k = 0; k < n; k++) {
    if (s[k].f < 0) continue;
    long long first, rows;
    vt_shard_range(s[k].global_n, (int)s[k].index, (int)count, &first, &rows);
    if (s[k].first != first || s[k].n != rows)
      problem(pr, "%s: shard %lld/%lld holds rows %lld..%lld, the partition gives %lld..%lld",
              s[k].path, s[k].index, count, s[k].first, s[k].first + s[k].n - 1, first,
              first + rows - 1);
    if (slot[s[k].index] >= 0)
      problem(pr, "%s and %s are both shard %lld/%lld", s[slot[s[k].index]].path, s[k].path,
              s[k].index, count);
    else
      slot[s[k].index] = k;
  }
  long long missing = 0;
  for (long long i = 0; i < count; i++) {
    if (slot[i] >= 0) continue;
    if (missing++ < MAX_LISTED) {
      long long first, rows;
      vt_shard_range(s[0].global_n, (int)i, (int)count, &first, &rows);
      problem(pr, "shard %lld/%lld (rows %lld..%lld) is missing: extract it with --shard %lld/%lld",
              i, count, first, first + rows - 1, i, count);
    }
  }
  if (missing > MAX_LISTED) problem(pr, "and %lld more shards are missing", missing - MAX_LISTED);
}

/* /classes equal in every shard, and the shards' rows together are the
 * run's image list (their concatenation has its rows_digest). */
static void check_rows(shard_file *const *ord, int n, problems *pr, char **digest) {
  vt_inputs all = {0};
  int n_cls = 0, ok = 1;
  if (vt_read_string_dataset(ord[0]->f, "classes", &n_cls, &all.classes) < 0) {
    problem(pr, "%s: %s", ord[0]->path, vt_failure_reason());
    return;
  }
  all.n_classes = n_cls;
  long long N = ord[0]->global_n;
  all.path = vt_xcalloc((size_t)N + 1, sizeof *all.path);
  all.split = vt_xcalloc((size_t)N + 1, sizeof *all.split);
  all.label = vt_xcalloc((size_t)N + 1, sizeof *all.label);
  for (int k = 0; k < n && ok; k++) {
    const shard_file *s = ord[k];
    char **cls = NULL, **paths = NULL, **splits = NULL;
    int nc = 0, np = 0, ns = 0;
    if (vt_read_string_dataset(s->f, "classes", &nc, &cls) < 0 ||
        vt_read_string_dataset(s->f, "images/path", &np, &paths) < 0 ||
        vt_read_string_dataset(s->f, "images/split", &ns, &splits) < 0) {
      problem(pr, "%s: %s", s->path, vt_failure_reason());
      ok = 0;
    } else if (np != s->n || ns != s->n) {
      problem(pr, "%s: /images/path has %d rows, its n_rows is %lld", s->path, np, s->n);
      ok = 0;
    } else {
      int same = nc == n_cls;
      for (int c = 0; same && c < nc; c++) same = strcmp(cls[c], all.classes[c]) == 0;
      if (!same) {
        problem(pr, "%s has other classes than %s", s->path, ord[0]->path);
        ok = 0;
      }
      hid_t d = H5Dopen2(s->f, "images/label", H5P_DEFAULT);
      if (ok && (d < 0 || H5Dread(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                  all.label + s->first) < 0)) {
        problem(pr, "%s: cannot read /images/label", s->path);
        ok = 0;
      }
      if (d >= 0) H5Dclose(d);
      for (int i = 0; i < np; i++) {
        all.path[s->first + i] = paths[i];
        all.split[s->first + i] = splits[i];
        paths[i] = splits[i] = NULL;
      }
    }
    vt_free_strings(cls, nc);
    vt_free_strings(paths, np);
    vt_free_strings(splits, ns);
  }
  if (ok) {
    all.n = (int)N;
    vt_store_meta m;
    vt_store_meta_digest_rows(&m, &all);
    char *want = vt_h5_read_str_attr(ord[0]->f, "global_rows_digest");
    if (want && strcmp(want, m.rows_digest) != 0)
      problem(pr, "the shards' rows together (rows_digest %s) are not the image list they were "
                  "made from (%s): a shard is from another data set?", m.rows_digest, want);
    free(want);
    *digest = vt_xstrdup(m.rows_digest);
  }
  all.n = (int)N;
  for (long long r = 0; r < N; r++) {
    free(all.path[r]);
    free(all.split[r]);
  }
  free(all.path);
  free(all.split);
  free(all.label);
  vt_free_strings(all.classes, n_cls);
}

/* ---- datasets ---- */

typedef struct {
  char **name;
  int n;
} name_list;

static herr_t list_dataset(hid_t root, const char *name, const H5L_info_t *info, void *data) {
  name_list *l = data;
  if (info->type != H5L_TYPE_HARD) return 0;
  hid_t o = H5Oopen(root, name, H5P_DEFAULT);
  if (o < 0) return 0;
  if (H5Iget_type(o) == H5I_DATASET) {
    l->name = vt_xrealloc(l->name, (size_t)(l->n + 1) * sizeof *l->name);
    l->name[l->n++] = vt_xstrdup(name);
  }
  H5Oclose(o);
  return 0;
}

/* Shape of a dataset; rank, or -1. */
static int shape(hid_t d, hsize_t *dims) {
  hid_t sp = H5Dget_space(d);
  int r = H5Sget_simple_extent_dims(sp, dims, NULL);
  H5Sclose(sp);
  return r;
}

/* Every shard holds `name` with shard 0's type and per-row shape, and as
 * many rows as the shard. */
static void check_dataset(shard_file *const *ord, int n, const char *name, problems *pr) {
  hid_t d0 = H5Dopen2(ord[0]->f, name, H5P_DEFAULT), t0 = H5Dget_type(d0);
  hsize_t dims0[H5S_MAX_RANK], dims[H5S_MAX_RANK];
  int r0 = shape(d0, dims0);
  for (int k = 0; k < n; k++) {
    const shard_file *s = ord[k];
    if (!vt_link_exists(s->f, name)) {
      problem(pr, "%s has no /%s (%s has)", s->path, name, ord[0]->path);
      continue;
    }
    hid_t d = H5Dopen2(s->f, name, H5P_DEFAULT), t = H5Dget_type(d);
    int r = shape(d, dims), same = r == r0 && r >= 1 && H5Tequal(t, t0) > 0;
    for (int i = 1; same && i < r; i++) same = dims[i] == dims0[i];
    if (!same)
      problem(pr, "/%s: %s stores it with another type or shape than %s", name, s->path,
              ord[0]->path);
    else if (dims[0] != (hsize_t)s->n)
      problem(pr, "/%s in %s has %llu rows, the shard has %lld", name, s->path,
              (unsigned long long)dims[0], s->n);
    H5Tclose(t);
    H5Dclose(d);
  }
  H5Tclose(t0);
  H5Dclose(d0);
}

typedef struct {
  hid_t dst;
  const char *const *skip;
  int rc;
} attr_copy;

static herr_t copy_attr(hid_t src, const char *name, const H5A_info_t *info, void *data) {
  attr_copy *c = data;
  for (const char *const *s = c->skip; s && *s; s++)
    if (strcmp(*s, name) == 0) return 0;
  hid_t a = H5Aopen(src, name, H5P_DEFAULT), t = H5Aget_type(a), sp = H5Aget_space(a);
  hssize_t n = H5Sget_simple_extent_npoints(sp);
  size_t bytes = H5Tget_size(t) * (size_t)(n > 0 ? n : 1);
  void *buf = vt_xcalloc(bytes, 1);
  hid_t b = -1;
  if (H5Aread(a, t, buf) < 0 || (b = H5Acreate2(c->dst, name, t, sp, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
      H5Awrite(b, t, buf) < 0)
    c->rc = vt_fail("cannot copy attribute %s", name);
  if (H5Tdetect_class(t, H5T_VLEN) > 0 || H5Tis_variable_str(t) > 0)
    H5Dvlen_reclaim(t, sp, H5P_DEFAULT, buf);
  free(buf);
  if (b >= 0) H5Aclose(b);
  H5Sclose(sp);
  H5Tclose(t);
  H5Aclose(a);
  return c->rc < 0 ? -1 : 0;
}

static int copy_attrs(hid_t src, hid_t dst, const char *const *skip) {
  attr_copy c = {dst, skip, 0};
  hsize_t idx = 0;
  if (H5Aiterate2(src, H5_INDEX_NAME, H5_ITER_INC, &idx, copy_attr, &c) < 0 && c.rc == 0)
    c.rc = vt_fail("cannot list attributes");
  return c.rc;
}

static int finish_dataset(hid_t d, hid_t src, const char *name) {
  if (d < 0) return vt_fail("cannot create /%s", name);
  int rc = copy_attrs(src, d, NULL);
  H5Dclose(d);
  return rc;
}

/* A small per-row dataset: the shards' rows concatenated into a real one. */
static int concat_rows(shard_file *const *ord, int n, const char *name, hid_t out, long long N) {
  hid_t d0 = H5Dopen2(ord[0]->f, name, H5P_DEFAULT), t = H5Dget_type(d0);
  hsize_t dims[H5S_MAX_RANK];
  int rank = shape(d0, dims);
  size_t row = H5Tget_size(t), total;
  for (int i = 1; i < rank; i++) row *= dims[i];
  int rc = vt_size_mul((size_t)N, row, &total);
  char *buf = rc == 0 ? vt_xcalloc(total + 1, 1) : NULL;
  for (int k = 0; k < n && rc == 0; k++) {
    hid_t d = H5Dopen2(ord[k]->f, name, H5P_DEFAULT);
    if (ord[k]->n && H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf + (size_t)ord[k]->first * row) < 0)
      rc = vt_fail("%s: cannot read /%s", ord[k]->path, name);
    H5Dclose(d);
  }
  dims[0] = (hsize_t)N;
  hid_t sp = H5Screate_simple(rank, dims, NULL), lcpl = vt_h5_lcpl();
  if (rc == 0) {
    hid_t d = H5Dcreate2(out, name, t, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (d >= 0 && N && H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
      rc = vt_fail("cannot write /%s (disk full?)", name);
    if (rc == 0) rc = finish_dataset(d, d0, name);
    else if (d >= 0) H5Dclose(d);
  }
  if (buf && (H5Tdetect_class(t, H5T_VLEN) > 0 || H5Tis_variable_str(t) > 0))
    H5Dvlen_reclaim(t, sp, H5P_DEFAULT, buf);
  free(buf);
  H5Pclose(lcpl);
  H5Sclose(sp);
  H5Tclose(t);
  H5Dclose(d0);
  return rc;
}

/* A feature dataset as an HDF5 virtual dataset: shard k's rows map to
 * [first_k, first_k + n_k) in the file named rel[k]. Unmapped or unreadable
 * values read as NaN, never as plausible zeros. */
static int map_virtual(shard_file *const *ord, int n, char *const *rel, const char *name,
                       hid_t out, long long N) {
  hid_t d0 = H5Dopen2(ord[0]->f, name, H5P_DEFAULT), t = H5Dget_type(d0);
  hsize_t dims[H5S_MAX_RANK], start[H5S_MAX_RANK] = {0};
  int rank = shape(d0, dims), rc = 0;
  dims[0] = (hsize_t)N;
  hid_t vs = H5Screate_simple(rank, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (H5Tget_class(t) == H5T_FLOAT) {
    float nan = NAN;
    H5Pset_fill_value(dcpl, H5T_NATIVE_FLOAT, &nan);
  }
  char src_name[512];
  snprintf(src_name, sizeof src_name, "/%s", name);
  for (int k = 0; k < n && rc == 0; k++) {
    hsize_t count[H5S_MAX_RANK];
    memcpy(count, dims, sizeof count);
    count[0] = (hsize_t)ord[k]->n;
    start[0] = (hsize_t)ord[k]->first;
    hid_t ss = H5Screate_simple(rank, count, NULL);
    if (H5Sselect_hyperslab(vs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
        H5Pset_virtual(dcpl, vs, rel[k], src_name, ss) < 0)
      rc = vt_fail("cannot map /%s to %s", name, rel[k]);
    H5Sclose(ss);
  }
  if (rc == 0) {
    H5Sselect_all(vs);
    hid_t lcpl = vt_h5_lcpl();
    rc = finish_dataset(H5Dcreate2(out, name, t, vs, lcpl, dcpl, H5P_DEFAULT), d0, name);
    H5Pclose(lcpl);
  }
  H5Pclose(dcpl);
  H5Sclose(vs);
  H5Tclose(t);
  H5Dclose(d0);
  return rc;
}

/* Copies shard rows one chunk (= one row) at a time, raw: compressed maps
 * are not re-encoded. Every chunk the shard holds is copied as it is (a
 * failed row's NaN map included); a failed row without a chunk reads as the
 * fill value (NaN) and stays so. */
static int copy_chunks(const shard_file *s, hid_t src, hid_t dst, const char *name,
                       const uint8_t *status) {
  void *buf = NULL;
  size_t cap = 0;
  int rc = 0;
  for (long long i = 0; i < s->n && rc == 0; i++) {
    hsize_t from[H5S_MAX_RANK] = {(hsize_t)i}, to[H5S_MAX_RANK] = {(hsize_t)(s->first + i)}, nbytes = 0;
    uint32_t mask = 0;
    if (H5Dget_chunk_storage_size(src, from, &nbytes) < 0 || nbytes == 0) {
      if (status[s->first + i] != VT_ROW_OK) continue;
      rc = vt_fail("%s: /%s has no data for row %lld, whose image is ok", s->path, name, i);
      break;
    }
    if (nbytes > cap) buf = vt_xrealloc(buf, cap = (size_t)nbytes);
    if (H5Dread_chunk(src, H5P_DEFAULT, from, &mask, buf) < 0 ||
        H5Dwrite_chunk(dst, H5P_DEFAULT, mask, to, (size_t)nbytes, buf) < 0)
      rc = vt_fail("cannot copy row %lld of /%s from %s (disk full?)", i, name, s->path);
  }
  free(buf);
  return rc;
}

/* Copies shard rows through memory, in blocks of about COPY_BLOCK_BYTES. */
static int copy_blocks(const shard_file *s, hid_t src, hid_t dst, const char *name, hid_t t,
                       int rank, const hsize_t *dims) {
  size_t row = H5Tget_size(t);
  for (int i = 1; i < rank; i++) row *= dims[i];
  long long block = (long long)(COPY_BLOCK_BYTES / (double)row);
  if (block < 1) block = 1;
  if (block > s->n) block = s->n;
  size_t bytes;
  if (vt_size_mul((size_t)block, row, &bytes) < 0) return -1;
  char *buf = vt_xmalloc(bytes + 1);
  hid_t fs = H5Dget_space(src), ts = H5Dget_space(dst);
  int rc = 0;
  for (long long a = 0; a < s->n && rc == 0; a += block) {
    hsize_t count[H5S_MAX_RANK], from[H5S_MAX_RANK] = {(hsize_t)a}, to[H5S_MAX_RANK] = {(hsize_t)(s->first + a)};
    memcpy(count, dims, (size_t)rank * sizeof *count);
    count[0] = (hsize_t)(a + block <= s->n ? block : s->n - a);
    hid_t ms = H5Screate_simple(rank, count, NULL);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, from, NULL, count, NULL);
    H5Sselect_hyperslab(ts, H5S_SELECT_SET, to, NULL, count, NULL);
    if (H5Dread(src, t, ms, fs, H5P_DEFAULT, buf) < 0 || H5Dwrite(dst, t, ms, ts, H5P_DEFAULT, buf) < 0)
      rc = vt_fail("cannot copy rows %lld.. of /%s from %s (disk full?)", a, name, s->path);
    H5Sclose(ms);
  }
  H5Sclose(fs);
  H5Sclose(ts);
  free(buf);
  return rc;
}

/* A feature dataset as a real one, with shard 0's storage settings (chunks,
 * filters, fill value). */
static int materialize(shard_file *const *ord, int n, const char *name, hid_t out, long long N,
                       const uint8_t *status) {
  hid_t d0 = H5Dopen2(ord[0]->f, name, H5P_DEFAULT), t = H5Dget_type(d0), dcpl = H5Dget_create_plist(d0);
  hsize_t dims[H5S_MAX_RANK], chunk[H5S_MAX_RANK];
  int rank = shape(d0, dims);
  /* one row per chunk (how maps are stored): copy the chunks raw */
  int row_chunks = H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, rank, chunk) == rank &&
                   chunk[0] == 1;
  for (int i = 1; row_chunks && i < rank; i++) row_chunks = chunk[i] == dims[i];
  dims[0] = (hsize_t)N;
  hid_t sp = H5Screate_simple(rank, dims, NULL), lcpl = vt_h5_lcpl();
  hid_t d = H5Dcreate2(out, name, t, sp, lcpl, dcpl, H5P_DEFAULT);
  int rc = d < 0 ? vt_fail("cannot create /%s", name) : 0;
  for (int k = 0; k < n && rc == 0; k++) {
    hid_t src = H5Dopen2(ord[k]->f, name, H5P_DEFAULT);
    rc = row_chunks ? copy_chunks(ord[k], src, d, name, status)
                    : copy_blocks(ord[k], src, d, name, t, rank, dims);
    H5Dclose(src);
  }
  if (rc == 0) rc = finish_dataset(d, d0, name);
  else if (d >= 0) H5Dclose(d);
  H5Pclose(lcpl);
  H5Sclose(sp);
  H5Pclose(dcpl);
  H5Tclose(t);
  H5Dclose(d0);
  return rc;
}

/* ---- the merge ---- */

static const char *const root_skip[] = {"shard_index", "shard_count", "shard_first_row",
                                        "global_n_rows", "global_rows_digest", "n_rows",
                                        "rows_digest", "command", NULL};

static int write_root(hid_t out, const shard_file *s0, const char *digest, int n_shards,
                      const vt_merge_options *o) {
  if (copy_attrs(s0->f, out, root_skip) < 0) return vt_fail_prefix("%s", s0->path);
  int rc = 0;
  rc |= vt_h5_write_int_attr(out, "n_rows", s0->global_n);
  rc |= vt_h5_write_str_attr(out, "rows_digest", digest);
  rc |= vt_h5_write_str_attr(out, "command", o->command ? o->command : "");
  rc |= vt_h5_write_int_attr(out, "merged_shards", n_shards);
  rc |= vt_h5_write_str_attr(out, "merged_features", o->materialize ? "copied" : "virtual");
  return rc ? -1 : 0;
}

/* Writes every dataset of the merged store into out. */
static int write_datasets(shard_file *const *ord, int n, char *const *rel, hid_t out,
                          const name_list *names, const vt_merge_options *o, vt_merge_result *res) {
  long long N = ord[0]->global_n;
  uint8_t *status = NULL;
  int rc = 0;
  for (int i = 0; i < names->n && rc == 0; i++) {
    const char *name = names->name[i];
    if (strcmp(name, "classes") == 0) {
      hid_t lcpl = vt_h5_lcpl();
      if (H5Ocopy(ord[0]->f, name, out, name, H5P_DEFAULT, lcpl) < 0) rc = vt_fail("cannot copy /classes");
      H5Pclose(lcpl);
    } else if (strncmp(name, "images/", 7) == 0) {
      rc = concat_rows(ord, n, name, out, N);
    } else if (!o->materialize) {
      rc = map_virtual(ord, n, rel, name, out, N);
      res->n_virtual++;
    } else {
      if (!status) {
        status = vt_xmalloc((size_t)N + 1);
        hid_t d = H5Dopen2(out, "images/status", H5P_DEFAULT);
        if (d < 0 || H5Dread(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, status) < 0)
          rc = vt_fail("cannot read back /images/status");
        if (d >= 0) H5Dclose(d);
      }
      if (rc == 0) rc = materialize(ord, n, name, out, N, status);
      res->n_copied++;
    }
  }
  free(status);
  return rc;
}

/* "images/..." sort before features: materialising reads /images/status
 * back from the output first. */
static int images_first(const void *a, const void *b) {
  const char *x = *(const char *const *)a, *y = *(const char *const *)b;
  int xi = strncmp(x, "images/", 7) == 0 || strcmp(x, "classes") == 0;
  int yi = strncmp(y, "images/", 7) == 0 || strcmp(y, "classes") == 0;
  return xi != yi ? yi - xi : strcmp(x, y);
}

int vt_store_merge(const char *out, char *const *paths, int n, const vt_merge_options *o,
                   vt_merge_result *res) {
  memset(res, 0, sizeof *res);
  vt_h5_quiet();
  problems pr = {0};
  int n_files = n;
  shard_file *s = vt_xcalloc((size_t)n, sizeof *s);
  for (int k = 0; k < n; k++) open_shard(paths[k], &s[k], &pr);
  int first_ok = -1;
  for (int k = 0; k < n && first_ok < 0; k++)
    if (s[k].f >= 0) first_ok = k;
  shard_file **ord = NULL;
  int *slot = NULL, rc = -1;
  char *digest = NULL, **rel = NULL, *tmp = NULL, *dir = NULL;
  name_list names = {0};
  hid_t f = -1;
  if (first_ok >= 0) {
    int before = pr.n; /* unreadable files: still worth listing missing shards */
    for (int k = 0; k < n; k++)
      if (s[k].f >= 0 && k != first_ok) compare_settings(&s[first_ok], &s[k], &pr);
    long long count = s[first_ok].count;
    if (pr.n == before) {
      slot = vt_xmalloc((size_t)count * sizeof *slot);
      check_coverage(s, n, count, slot, &pr);
    }
    if (pr.n == 0) {
      ord = vt_xmalloc((size_t)count * sizeof *ord);
      for (long long i = 0; i < count; i++) ord[i] = &s[slot[i]];
      n = (int)count; /* from here on: the shards in index order */
      check_rows(ord, n, &pr, &digest);
    }
    if (pr.n == 0) {
      H5Lvisit(ord[0]->f, H5_INDEX_NAME, H5_ITER_INC, list_dataset, &names);
      qsort(names.name, (size_t)names.n, sizeof *names.name, images_first);
      for (int i = 0; i < names.n; i++)
        if (strcmp(names.name[i], "classes") != 0) check_dataset(ord, n, names.name[i], &pr);
    }
  }
  if (pr.n) {
    vt_fail("cannot merge %d file%s into %s:%s", n_files, n_files == 1 ? "" : "s", out, pr.text);
    goto done;
  }
  /* Relative names for the shards, from the merged store's directory. */
  dir = vt_xdirname(out);
  rel = vt_xcalloc((size_t)n, sizeof *rel);
  for (int k = 0; k < n && !o->materialize; k++)
    if (!(rel[k] = vt_relative_path(ord[k]->path, dir))) goto done;
  size_t tl = strlen(out) + 8;
  tmp = vt_xmalloc(tl);
  snprintf(tmp, tl, "%s.tmp", out);
  f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) {
    vt_fail("cannot create %s", tmp);
    goto done;
  }
  if (write_root(f, ord[0], digest, n, o) < 0 || write_datasets(ord, n, rel, f, &names, o, res) < 0) {
    vt_fail_prefix("%s", tmp);
    goto done;
  }
  herr_t e = H5Fclose(f);
  f = -1;
  if (e < 0) {
    vt_fail("cannot finish %s (disk full?)", tmp);
    goto done;
  }
  if (vt_rename_durable(tmp, out) < 0) goto done;
  res->n_rows = ord[0]->global_n;
  res->n_shards = n;
  rc = 0;
done:
  if (f >= 0) H5Fclose(f);
  if (rc < 0 && tmp) remove(tmp);
  free(tmp);
  free(dir);
  for (int k = 0; rel && k < n; k++) free(rel[k]);
  free(rel);
  for (int i = 0; i < names.n; i++) free(names.name[i]);
  free(names.name);
  free(digest);
  free(ord);
  free(slot);
  for (int k = 0; k < n_files; k++)
    if (s[k].f >= 0) H5Fclose(s[k].f);
  free(s);
  free(pr.text);
  return rc;
}
