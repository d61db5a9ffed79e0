#include "store_writer.h"

#include <dirent.h>
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/vt_common.h"
#include "base/vt_durable.h"
#include "store/vt_crash_guard.h"
#include "store/vt_h5.h"
#include "store/vt_store_read.h"
#include "store/vt_store_schema.h"
#include "map_file.h"
#include "store_lock.h"

/* A part is closed after max_rows rows or PART_MAX_SECONDS, whichever comes
 * first: a crash loses at most that much work. The pooled vectors of an open
 * part are held in memory, so max_rows also keeps them under
 * PART_POOLED_BYTES (deep taps with fine grids are ~80 KB a row).
 * VGGTAP_PART_ROWS lowers the row count (the resume tests use it to get many
 * parts from few images). */
enum { PART_MAX_ROWS = 2048 };
#define PART_MAX_SECONDS 30.0
#define PART_POOLED_BYTES (64.0 * 1024 * 1024)

struct vt_partial {
  char *dir;                /* OUT.partial */
  vt_store_meta meta;
  vt_store_layout lay;
  int next_part;            /* number for the next part file */
  /* the open part */
  hid_t file;               /* < 0 when no part is open */
  char *tmp_path, *final_path;
  hid_t maps[VT_STORE_MAX_SETS];
  long long n;              /* rows in the open part */
  double opened_at;
  long long *rows;
  uint8_t *status;
  int32_t *width, *height;
  char **errors;
  float *pooled[VT_STORE_MAX_SETS];
  size_t pooled_len[VT_STORE_MAX_SETS]; /* floats per row, all grids, avg + max */
  vt_map_file *mapfile;     /* maps written in place (map_file.h), or NULL */
  long long max_rows;       /* rows per part */
  long long n_safe;         /* rows in finished parts */
};

static long long part_max_rows(const vt_partial *p) {
  double row_bytes = 0;
  for (int t = 0; t < p->lay.n_sets && p->lay.pooled; t++) row_bytes += 4.0 * p->pooled_len[t];
  long long n = PART_MAX_ROWS;
  if (row_bytes > 0 && PART_POOLED_BYTES / row_bytes < n) n = (long long)(PART_POOLED_BYTES / row_bytes);
  const char *env = getenv("VGGTAP_PART_ROWS");
  long long want = env ? atoll(env) : 0;
  if (want > 0 && want < n) n = want;
  return n < 1 ? 1 : n;
}

/* ---- meta ---- */

static uint64_t fnv1a(uint64_t h, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return h;
}

void vt_store_meta_digest_rows(vt_store_meta *m, const vt_inputs *in) {
  uint64_t h = 14695981039346656037ull;
  for (int c = 0; c < in->n_classes; c++) h = fnv1a(h, in->classes[c], strlen(in->classes[c]) + 1);
  h = fnv1a(h, "\n", 1);
  for (int i = 0; i < in->n; i++) {
    char label[16];
    int nl = snprintf(label, sizeof label, "%d", in->label[i]);
    h = fnv1a(h, in->path[i], strlen(in->path[i]) + 1);
    h = fnv1a(h, label, (size_t)nl + 1);
    h = fnv1a(h, in->split[i], strlen(in->split[i]) + 1);
  }
  snprintf(m->rows_digest, sizeof m->rows_digest, "fnv1a64:%016llx", (unsigned long long)h);
  m->n_rows = in->n;
}

static int write_meta(hid_t f, const vt_store_meta *m) {
  int rc = 0;
  rc |= vt_h5_write_str_attr(f, "format", VT_STORE_FORMAT);
  rc |= vt_h5_write_int_attr(f, "format_version", VT_STORE_FORMAT_VERSION);
  rc |= vt_h5_write_str_attr(f, "tool_version", VT_VERSION);
  rc |= vt_h5_write_str_attr(f, "weights_sha256", m->weights_sha256);
  rc |= vt_h5_write_str_attr(f, "weights_file", m->weights_file ? m->weights_file : "");
  rc |= vt_h5_write_str_attr(f, "taps", m->taps);
  rc |= vt_h5_write_str_attr(f, "grids", m->grids);
  rc |= vt_h5_write_str_attr(f, "preprocessing", m->preprocessing);
  rc |= vt_h5_write_str_attr(f, "resize", m->resize);
  rc |= vt_h5_write_int_attr(f, "input_height", m->input_height);
  rc |= vt_h5_write_int_attr(f, "input_width", m->input_width);
  rc |= vt_h5_write_str_attr(f, "map_dtype", m->map_dtype);
  rc |= vt_h5_write_str_attr(f, "compression", m->compression);
  rc |= vt_h5_write_str_attr(f, "map_pool", m->map_pool);
  rc |= vt_h5_write_str_attr(f, "augment", m->augment);
  rc |= vt_h5_write_int_attr(f, "max_pixels", m->max_pixels);
  rc |= vt_h5_write_str_attr(f, "rows_digest", m->rows_digest);
  rc |= vt_h5_write_int_attr(f, "n_rows", m->n_rows);
  rc |= vt_h5_write_str_attr(f, "source", m->source ? m->source : "");
  rc |= vt_h5_write_str_attr(f, "data_root", m->data_root ? m->data_root : "");
  rc |= vt_h5_write_str_attr(f, "command", m->command ? m->command : "");
  if (m->shard_count > 0) {
    rc |= vt_h5_write_int_attr(f, "shard_index", m->shard_index);
    rc |= vt_h5_write_int_attr(f, "shard_count", m->shard_count);
    rc |= vt_h5_write_int_attr(f, "shard_first_row", m->shard_first_row);
    rc |= vt_h5_write_int_attr(f, "global_n_rows", m->global_n_rows);
    rc |= vt_h5_write_str_attr(f, "global_rows_digest", m->global_rows_digest);
  }
  return rc ? -1 : 0;
}

/* Appends "name: FILE has A, this run asks for B; " when they differ. */
static void diff_str(hid_t f, const char *name, const char *want, char *msg, size_t cap) {
  char *have = vt_h5_read_str_attr(f, name);
  if (!have || strcmp(have, want) != 0) {
    size_t len = strlen(msg);
    snprintf(msg + len, cap - len, "\n  %s: store has '%s', this run asks for '%s'", name,
             have ? have : "(missing)", want);
  }
  free(have);
}

/* As diff_str for a setting older stores do not record: missing means
 * "none". */
static void diff_str_or_none(hid_t f, const char *name, const char *want, char *msg, size_t cap) {
  if (H5Aexists(f, name) > 0) diff_str(f, name, want, msg, cap);
  else if (strcmp(want, "none") != 0) {
    size_t len = strlen(msg);
    snprintf(msg + len, cap - len, "\n  %s: store has 'none' (not recorded), this run asks for '%s'", name, want);
  }
}

static void diff_int(hid_t f, const char *name, long long want, char *msg, size_t cap) {
  long long have = 0;
  if (vt_h5_read_int_attr(f, name, &have) < 0 || have != want) {
    size_t len = strlen(msg);
    snprintf(msg + len, cap - len, "\n  %s: store has %lld, this run asks for %lld", name, have,
             want);
  }
}

/* 0 if the file's settings equal m, else -1 with the list of differences. */
static int compare_meta(const char *path, const vt_store_meta *m) {
  vt_h5_quiet();
  if (H5Fis_hdf5(path) <= 0) return vt_fail("%s exists and is not an HDF5 file", path);
  vt_crash_guard_set(path);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) {
    vt_crash_guard_clear();
    return vt_fail("%s: cannot open (corrupt HDF5 file?)", path);
  }
  char *format = vt_h5_read_str_attr(f, "format");
  int foreign = !format || strcmp(format, VT_STORE_FORMAT) != 0;
  free(format);
  if (foreign) {
    H5Fclose(f);
    vt_crash_guard_clear();
    return vt_fail("%s exists and is not a vggtap store (no format='%s' attribute)", path,
                   VT_STORE_FORMAT);
  }
  char msg[4096] = "";
  diff_str(f, "weights_sha256", m->weights_sha256, msg, sizeof msg);
  diff_str(f, "taps", m->taps, msg, sizeof msg);
  diff_str(f, "grids", m->grids, msg, sizeof msg);
  diff_str(f, "preprocessing", m->preprocessing, msg, sizeof msg);
  diff_str(f, "resize", m->resize, msg, sizeof msg);
  diff_int(f, "input_height", m->input_height, msg, sizeof msg);
  diff_int(f, "input_width", m->input_width, msg, sizeof msg);
  diff_str(f, "map_dtype", m->map_dtype, msg, sizeof msg);
  diff_str(f, "compression", m->compression, msg, sizeof msg);
  diff_str_or_none(f, "map_pool", m->map_pool, msg, sizeof msg);
  diff_str_or_none(f, "augment", m->augment, msg, sizeof msg);
  diff_int(f, "max_pixels", m->max_pixels, msg, sizeof msg);
  diff_int(f, "n_rows", m->n_rows, msg, sizeof msg);
  diff_str(f, "rows_digest", m->rows_digest, msg, sizeof msg);
  if (m->shard_count > 0) {
    diff_int(f, "shard_index", m->shard_index, msg, sizeof msg);
    diff_int(f, "shard_count", m->shard_count, msg, sizeof msg);
    diff_str(f, "global_rows_digest", m->global_rows_digest, msg, sizeof msg);
  }
  H5Fclose(f);
  if (msg[0])
    return vt_fail("%s was made with other settings:%s\n(rows_digest differs when the image list, "
                   "labels or splits changed.) Write to another --out, or pass --overwrite to "
                   "replace it.", path, msg);
  return 0;
}

/* If OUT exists: 1 if it is a complete store made with the same settings,
 * -1 (reason says what differs) otherwise. 0 if OUT does not exist. */
static int check_existing(const char *out, const vt_store_meta *m) {
  struct stat st;
  if (stat(out, &st) != 0) return 0;
  if (S_ISDIR(st.st_mode)) return vt_fail("%s is a directory: --out names the store file to write", out);
  return compare_meta(out, m) < 0 ? -1 : 1;
}

/* ---- files and directories ---- */

static char *path_join(const char *a, const char *b) {
  size_t n = strlen(a) + strlen(b) + 2;
  char *s = vt_xmalloc(n);
  snprintf(s, n, "%s/%s", a, b);
  return s;
}

/* Records that writing `path` failed, with the OS reason behind the HDF5
 * failure (e.g. "No space left on device") when there was one. */
static int write_failed(const char *path) {
  return vt_fail("cannot write %s: %s", path, vt_h5_os_error("HDF5 write error"));
}

/* Removes dir and its files, or with keep_lock only the files other than
 * the lock (store_lock.h) this run holds in it. */
static int remove_dir(const char *dir, int keep_lock) {
  DIR *d = opendir(dir);
  if (!d) return errno == ENOENT ? 0 : vt_fail("%s: %s", dir, strerror(errno));
  int rc = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if (keep_lock && !strcmp(e->d_name, "lock")) continue;
    char *p = path_join(dir, e->d_name);
    if (unlink(p) != 0) rc = vt_fail("cannot remove %s: %s", p, strerror(errno));
    free(p);
  }
  closedir(d);
  if (rc == 0 && !keep_lock && rmdir(dir) != 0) rc = vt_fail("cannot remove %s: %s", dir, strerror(errno));
  return rc;
}

static int remove_partial(const char *out, int keep_lock) {
  char *dir = vt_store_partial_dir(out);
  int rc = remove_dir(dir, keep_lock);
  free(dir);
  return rc;
}

/* Removes OUT and what OUT.partial/ holds but the lock (for --overwrite). */
static int remove_store(const char *out) {
  if (unlink(out) != 0 && errno != ENOENT) return vt_fail("cannot remove %s: %s", out, strerror(errno));
  return remove_partial(out, 1);
}

/* 0 if OUT.partial/ certainly does not exist, else 1 (also when that cannot
 * be told: the caller then takes the locked path). */
static int partial_exists(const char *out) {
  char *dir = vt_store_partial_dir(out);
  struct stat st;
  int absent = lstat(dir, &st) != 0 && errno == ENOENT;
  free(dir);
  return !absent;
}

/* Removes OUT.partial/ if it holds nothing but the lock: what a run refused
 * before any work leaves (vt_store_lock created it), so a refusal leaves no
 * trace; a partial run's rows are kept. The caller holds the lock. */
static void remove_lock_only_partial(const char *out) {
  char *dir = vt_store_partial_dir(out);
  DIR *d = opendir(dir);
  int only_lock = d != NULL;
  for (struct dirent *e; d && only_lock && (e = readdir(d));)
    only_lock = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, "lock");
  if (d) closedir(d);
  if (only_lock) remove_dir(dir, 0); /* best effort: a leftover empty folder harms nothing */
  free(dir);
}

int vt_store_begin(const char *out, const vt_store_meta *m, int overwrite, int *lock) {
  *lock = -1;
  /* Checking a store only reads it, so without OUT.partial/ (no run going
   * on or stopped) it comes before the lock: a rerun on a complete store in
   * a directory this user cannot write (a read-only share) has nothing to
   * do, and one with other settings is refused naming them. */
  int existing = overwrite || partial_exists(out) ? 0 : check_existing(out, m);
  if (existing != 0) return existing;
  *lock = vt_store_lock(out); /* the caller keeps it until exit */
  if (*lock < 0) return -1;
  if (overwrite && remove_store(out) < 0) return -1;
  existing = check_existing(out, m);
  if (existing < 0) remove_lock_only_partial(out); /* a refusal touches nothing */
  if (existing == 1) remove_partial(out, 0); /* left if killed just after the rename */
  return existing;
}

/* Names of the finished parts, sorted. */
static int list_parts(const char *dir, char ***names, int *n) {
  DIR *d = opendir(dir);
  if (!d) return vt_fail("%s: %s", dir, strerror(errno));
  *names = NULL;
  *n = 0;
  int cap = 0;
  for (struct dirent *e; (e = readdir(d));) {
    size_t len = strlen(e->d_name);
    if (strncmp(e->d_name, "part-", 5) != 0 || len < 4 || strcmp(e->d_name + len - 3, ".h5") != 0)
      continue;
    if (*n == cap) *names = vt_xrealloc(*names, (size_t)(cap = cap ? 2 * cap : 16) * sizeof **names);
    (*names)[(*n)++] = vt_xstrdup(e->d_name);
  }
  closedir(d);
  for (int i = 1; i < *n; i++) /* insertion sort: parts are few */
    for (int j = i; j > 0 && strcmp((*names)[j - 1], (*names)[j]) > 0; j--) {
      char *t = (*names)[j];
      (*names)[j] = (*names)[j - 1];
      (*names)[j - 1] = t;
    }
  return 0;
}

static void remove_tmp_debris(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  for (struct dirent *e; (e = readdir(d));) {
    size_t len = strlen(e->d_name);
    if (len > 4 && strcmp(e->d_name + len - 4, ".tmp") == 0) {
      char *p = path_join(dir, e->d_name);
      unlink(p);
      free(p);
    }
  }
  closedir(d);
}

/* Reads a 1-D dataset of n elements of a native type into a new buffer. */
static void *read_1d(hid_t f, const char *name, hid_t type, size_t elem, long long *n) {
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  if (d < 0) {
    vt_fail("dataset %s is missing", name);
    return NULL;
  }
  hid_t sp = H5Dget_space(d);
  hsize_t dim = 0;
  size_t bytes;
  void *buf = NULL;
  /* H5S_ALL reads every element: a damaged part of another rank or size
   * would overflow a buffer sized from the first dimension */
  if (H5Sget_simple_extent_ndims(sp) != 1 || H5Sget_simple_extent_dims(sp, &dim, NULL) != 1 ||
      vt_size_mul((size_t)dim, elem, &bytes) < 0) {
    vt_fail("dataset %s is not a 1-D array", name);
  } else {
    buf = vt_xmalloc(bytes);
    if (dim && H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
      free(buf);
      buf = NULL;
      vt_fail("cannot read dataset %s", name);
    }
  }
  *n = (long long)dim;
  H5Sclose(sp);
  H5Dclose(d);
  return buf;
}

/* 1 if dataset name in f has the given rank and dims; dims[0] < 0 means
 * "at least -dims[0]" (an extendible map dataset). */
static int has_shape(hid_t f, const char *name, int rank, const long long *dims) {
  if (H5Lexists(f, name, H5P_DEFAULT) <= 0) return 0;
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  if (d < 0) return 0;
  hid_t sp = H5Dget_space(d);
  hsize_t got[4] = {0};
  int ok = rank <= 4 && H5Sget_simple_extent_ndims(sp) == rank && H5Sget_simple_extent_dims(sp, got, NULL) == rank;
  for (int k = 0; ok && k < rank; k++)
    ok = dims[k] < 0 ? got[k] >= (hsize_t)-dims[k] : got[k] == (hsize_t)dims[k];
  H5Sclose(sp);
  H5Dclose(d);
  return ok;
}

/* Why a finished part (n rows, their indexes `rows`) cannot be assembled
 * into a store of n_rows rows, or NULL if it can. Parts are renamed into
 * place only when complete, so this is a part damaged or edited on disk:
 * assembly trusts the shapes and indexes checked here. */
static const char *part_problem(const vt_partial *p, hid_t f, const long long *rows, long long n,
                                long long n_rows) {
  const vt_store_layout *lay = &p->lay;
  for (long long i = 0; i < n; i++)
    if (rows[i] < 0 || rows[i] >= n_rows) return "a row index out of range";
  static const char *const per_row[] = {"status", "width", "height", "error"};
  for (size_t k = 0; k < sizeof per_row / sizeof *per_row; k++)
    if (!has_shape(f, per_row[k], 1, &n)) return "a per-row table of another length";
  char name[128];
  for (int t = 0; t < lay->n_sets; t++) {
    snprintf(name, sizeof name, "%spooled/%s", lay->group[t], lay->name[t]);
    long long pooled[2] = {n, (long long)p->pooled_len[t]};
    if (lay->pooled && !has_shape(f, name, 2, pooled)) return "pooled vectors of another shape";
    snprintf(name, sizeof name, "%sfeatures/%s", lay->group[t], lay->name[t]);
    long long maps[4] = {-n, lay->h[t], lay->w[t], lay->c[t]};
    if (lay->maps && !p->mapfile && !has_shape(f, name, 4, maps)) return "maps of another shape";
  }
  return NULL;
}

/* ---- opening ---- */

static int write_plan(const char *dir, const vt_store_meta *m) {
  char *tmp = path_join(dir, "plan.h5.tmp"), *fin = path_join(dir, "plan.h5");
  int rc = -1;
  hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) {
    write_failed(tmp);
  } else {
    rc = write_meta(f, m);
    if (H5Fclose(f) < 0 || rc < 0) rc = write_failed(tmp);
    if (rc == 0) rc = vt_rename_durable(tmp, fin);
  }
  free(tmp);
  free(fin);
  return rc;
}

/* Marker of an assembly into the in-place maps file (map_file.h). */
#define ASSEMBLING "assembling"

/* Opens (or creates) the in-place maps file. After a kill during assembly
 * it first removes what that assembly added; if the file cannot be trusted,
 * or is missing, no part's rows have their maps: the parts are discarded
 * and every row is redone. */
static int open_map_file(vt_partial *p) {
  char *maps = path_join(p->dir, VT_MAP_FILE_NAME), *marker = path_join(p->dir, ASSEMBLING);
  struct stat st;
  int have_maps = stat(maps, &st) == 0;
  if (have_maps && stat(marker, &st) == 0 && vt_map_file_reset(maps) < 0) {
    fprintf(stderr, "vggtap-extract: warning: an interrupted assembly left %s unusable (%s); extracting every row again\n",
            maps, vt_failure_reason());
    unlink(maps);
    have_maps = 0;
  }
  unlink(marker);
  char **names;
  int n_names, rc = 0;
  if (!have_maps && list_parts(p->dir, &names, &n_names) == 0) {
    for (int i = 0; i < n_names; i++) {
      char *path = path_join(p->dir, names[i]);
      unlink(path);
      free(path);
      free(names[i]);
    }
    free(names);
  }
  p->mapfile = vt_map_file_open(p->dir, &p->lay, p->meta.n_rows);
  if (!p->mapfile) rc = -1;
  free(maps);
  free(marker);
  return rc;
}

vt_partial *vt_partial_open(const char *out, const vt_store_meta *m, const vt_store_layout *lay,
                            uint8_t *done, long long *n_done) {
  vt_h5_quiet();
  vt_partial *p = vt_xcalloc(1, sizeof *p);
  p->dir = vt_store_partial_dir(out);
  p->meta = *m;
  p->lay = *lay;
  p->file = -1;
  for (int t = 0; t < lay->n_sets; t++)
    for (int gi = 0; gi < lay->n_grids; gi++)
      p->pooled_len[t] += 2 * (size_t)lay->grids[gi] * lay->grids[gi] * (size_t)lay->c[t];
  p->max_rows = part_max_rows(p);
  *n_done = 0;
  memset(done, 0, (size_t)m->n_rows);

  char *plan = path_join(p->dir, "plan.h5");
  struct stat st;
  int resuming = stat(plan, &st) == 0;
  if (resuming) {
    if (compare_meta(plan, m) < 0) {
      vt_fail_prefix("cannot resume %s", out);
      goto fail;
    }
    remove_tmp_debris(p->dir);
  } else {
    if (mkdir(p->dir, 0777) != 0 && errno != EEXIST) {
      vt_fail("cannot create %s: %s", p->dir, strerror(errno));
      goto fail;
    }
    remove_tmp_debris(p->dir);
    if (write_plan(p->dir, m) < 0) goto fail;
  }
  if (vt_map_file_applies(lay) && open_map_file(p) < 0) goto fail;
  char **names;
  int n_names;
  if (list_parts(p->dir, &names, &n_names) < 0) goto fail;
  for (int i = 0; i < n_names; i++) {
    char *path = path_join(p->dir, names[i]);
    int num = atoi(names[i] + 5);
    if (num >= p->next_part) p->next_part = num + 1;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    long long n = 0;
    long long *rows = f >= 0 ? read_1d(f, "rows", H5T_NATIVE_LLONG, sizeof(long long), &n) : NULL;
    const char *problem = rows ? part_problem(p, f, rows, n, m->n_rows) : NULL;
    if (f >= 0) H5Fclose(f);
    if (!rows || problem) { /* unreadable (e.g. the disk was full) or damaged: redo its rows */
      fprintf(stderr, "vggtap-extract: warning: discarding %s %s%s%s\n", problem ? "damaged" : "unreadable", path,
              problem ? ": " : "", problem ? problem : "");
      unlink(path);
      free(rows);
      rows = NULL;
    }
    for (long long j = 0; rows && j < n; j++)
      if (rows[j] >= 0 && rows[j] < m->n_rows && !done[rows[j]]) {
        done[rows[j]] = 1;
        (*n_done)++;
      }
    free(rows);
    free(path);
    free(names[i]);
  }
  free(names);
  free(plan);
  p->n_safe = *n_done;
  return p;
fail:
  free(plan);
  vt_partial_free(p);
  return NULL;
}

/* ---- writing parts ---- */

static int part_open(vt_partial *p) {
  char name[64];
  snprintf(name, sizeof name, "part-%06d.h5", p->next_part++);
  p->final_path = path_join(p->dir, name);
  p->tmp_path = vt_xmalloc(strlen(p->final_path) + 8);
  sprintf(p->tmp_path, "%s.tmp", p->final_path);
  p->file = H5Fcreate(p->tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (p->file < 0) {
    write_failed(p->tmp_path);
    unlink(p->tmp_path); /* HDF5 may have created it before failing */
    free(p->tmp_path);
    free(p->final_path);
    p->tmp_path = p->final_path = NULL;
    return -1;
  }
  const vt_store_layout *lay = &p->lay;
  for (int t = 0; t < lay->n_sets && lay->maps && !p->mapfile; t++) {
    hsize_t dims[4] = {0, (hsize_t)lay->h[t], (hsize_t)lay->w[t], (hsize_t)lay->c[t]};
    hsize_t maxd[4] = {H5S_UNLIMITED, dims[1], dims[2], dims[3]};
    hid_t sp = H5Screate_simple(4, dims, maxd), dcpl = vt_map_dcpl(lay, t), ft = vt_map_file_type(lay);
    hid_t lcpl = vt_h5_lcpl();
    char dname[128];
    snprintf(dname, sizeof dname, "%sfeatures/%s", lay->group[t], lay->name[t]);
    p->maps[t] = H5Dcreate2(p->file, dname, ft, sp, lcpl, dcpl, H5P_DEFAULT);
    H5Pclose(lcpl);
    H5Tclose(ft);
    H5Pclose(dcpl);
    H5Sclose(sp);
    if (p->maps[t] < 0) return write_failed(p->tmp_path);
  }
  p->n = 0;
  p->opened_at = vt_now();
  p->rows = vt_xmalloc((size_t)p->max_rows * sizeof *p->rows);
  p->status = vt_xmalloc((size_t)p->max_rows);
  p->width = vt_xmalloc((size_t)p->max_rows * sizeof *p->width);
  p->height = vt_xmalloc((size_t)p->max_rows * sizeof *p->height);
  p->errors = vt_xcalloc((size_t)p->max_rows, sizeof *p->errors);
  for (int t = 0; t < lay->n_sets && lay->pooled; t++)
    p->pooled[t] = vt_xmalloc((size_t)p->max_rows * p->pooled_len[t] * sizeof(float));
  return 0;
}

static int write_map_row(vt_partial *p, int t, long long i, const void *data) {
  const vt_store_layout *lay = &p->lay;
  hsize_t dims[4] = {(hsize_t)i + 1, (hsize_t)lay->h[t], (hsize_t)lay->w[t], (hsize_t)lay->c[t]};
  if (H5Dset_extent(p->maps[t], dims) < 0) return write_failed(p->tmp_path);
  if (!data) return 0; /* failed row: stays NaN (fill value) */
  hsize_t start[4] = {(hsize_t)i, 0, 0, 0}, count[4] = {1, dims[1], dims[2], dims[3]};
  hid_t fs = H5Dget_space(p->maps[t]), ms = H5Screate_simple(4, count, NULL);
  H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
  hid_t mt = vt_map_file_type(lay);
  int rc = H5Dwrite(p->maps[t], mt, ms, fs, H5P_DEFAULT, data) < 0 ? write_failed(p->tmp_path) : 0;
  H5Tclose(mt);
  H5Sclose(ms);
  H5Sclose(fs);
  return rc;
}

int vt_partial_add(vt_partial *p, const vt_store_row *r) {
  if (p->file < 0 && part_open(p) < 0) return -1;
  long long i = p->n;
  const vt_store_layout *lay = &p->lay;
  for (int t = 0; t < lay->n_sets && lay->maps; t++) {
    const void *map = r->status == VT_ROW_OK ? r->maps[t] : NULL;
    if ((p->mapfile ? vt_map_file_write(p->mapfile, t, r->row, map) : write_map_row(p, t, i, map)) < 0)
      return -1;
  }
  for (int t = 0; t < lay->n_sets && lay->pooled; t++) {
    float *dst = p->pooled[t] + (size_t)i * p->pooled_len[t];
    if (r->status == VT_ROW_OK)
      memcpy(dst, r->pooled[t], p->pooled_len[t] * sizeof(float));
    else
      for (size_t k = 0; k < p->pooled_len[t]; k++) dst[k] = NAN;
  }
  p->rows[i] = r->row;
  p->status[i] = r->status;
  p->width[i] = r->width;
  p->height[i] = r->height;
  p->errors[i] = vt_xstrdup(r->error ? r->error : "");
  p->n++;
  if (p->n == p->max_rows || vt_now() - p->opened_at > PART_MAX_SECONDS) return vt_partial_commit(p);
  return 0;
}

static void part_release(vt_partial *p) {
  for (long long i = 0; i < p->n; i++) free(p->errors[i]);
  free(p->errors);
  free(p->rows);
  free(p->status);
  free(p->width);
  free(p->height);
  for (int t = 0; t < VT_STORE_MAX_SETS; t++) {
    free(p->pooled[t]);
    p->pooled[t] = NULL;
  }
  free(p->tmp_path);
  free(p->final_path);
  p->errors = NULL, p->rows = NULL, p->status = NULL, p->width = p->height = NULL;
  p->tmp_path = p->final_path = NULL;
}

/* Writes a [n, len] float dataset. */
static int write_2d(hid_t loc, const char *name, const float *data, long long n, size_t len) {
  hsize_t dims[2] = {(hsize_t)n, len};
  hid_t sp = H5Screate_simple(2, dims, NULL), lcpl = vt_h5_lcpl();
  hid_t d = H5Dcreate2(loc, name, H5T_IEEE_F32LE, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  int rc = (d < 0 || H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
               ? vt_fail("cannot write %s", name) : 0;
  if (d >= 0 && H5Dclose(d) < 0) rc = vt_fail("cannot write %s", name); /* close flushes */
  H5Pclose(lcpl);
  H5Sclose(sp);
  return rc;
}

int vt_partial_commit(vt_partial *p) {
  if (p->file < 0) return 0;
  const vt_store_layout *lay = &p->lay;
  int rc = 0;
  rc |= vt_h5_write_1d(p->file, "rows", H5T_NATIVE_LLONG, p->rows, (size_t)p->n);
  rc |= vt_h5_write_1d(p->file, "status", H5T_NATIVE_UINT8, p->status, (size_t)p->n);
  rc |= vt_h5_write_1d(p->file, "width", H5T_NATIVE_INT32, p->width, (size_t)p->n);
  rc |= vt_h5_write_1d(p->file, "height", H5T_NATIVE_INT32, p->height, (size_t)p->n);
  rc |= vt_h5_write_strings(p->file, "error", (const char *const *)p->errors, (size_t)p->n);
  for (int t = 0; t < lay->n_sets && lay->pooled; t++) {
    char name[128];
    snprintf(name, sizeof name, "%spooled/%s", lay->group[t], lay->name[t]);
    rc |= write_2d(p->file, name, p->pooled[t], p->n, p->pooled_len[t]);
  }
  /* Closing a map dataset flushes its cached chunks: on a full disk that is
   * where a row's map is lost, so a failed close must fail the part. */
  for (int t = 0; t < lay->n_sets && lay->maps && !p->mapfile; t++)
    if (H5Dclose(p->maps[t]) < 0) rc = -1;
  if (H5Fclose(p->file) < 0) rc = -1;
  p->file = -1;
  if (rc) {
    write_failed(p->tmp_path);
    unlink(p->tmp_path); /* give back the space; its rows are redone */
  } else if ((p->mapfile && vt_map_file_sync(p->mapfile) < 0) || vt_rename_durable(p->tmp_path, p->final_path) < 0) {
    rc = -1; /* (else a closed part, and the maps of its rows, survive a power cut) */
  } else {
    p->n_safe += p->n;
  }
  part_release(p);
  return rc ? -1 : 0;
}

long long vt_partial_rows_safe(const vt_partial *p) { return p->n_safe; }

void vt_partial_free(vt_partial *p) {
  if (!p) return;
  if (p->file >= 0) { /* abandoned open part: discard */
    for (int t = 0; t < p->lay.n_sets && p->lay.maps && !p->mapfile; t++) H5Dclose(p->maps[t]);
    H5Fclose(p->file);
    unlink(p->tmp_path);
    part_release(p);
  }
  vt_map_file_close(p->mapfile);
  free(p->dir);
  free(p);
}

/* ---- assembly ---- */

typedef struct {
  uint8_t *status;
  int32_t *width, *height;
  char **error;
} row_table;

/* Copies one part's pooled vectors into the store's /pooled datasets, one
 * hyperslab per run of consecutive rows. */
static int copy_pooled(const vt_partial *p, hid_t part, const char *part_path, hid_t out,
                       const char *out_path, const long long *rows, long long n) {
  const vt_store_layout *lay = &p->lay;
  for (int t = 0; t < lay->n_sets; t++) {
    char name[128];
    snprintf(name, sizeof name, "%spooled/%s", lay->group[t], lay->name[t]);
    size_t len = p->pooled_len[t];
    float *buf = vt_xmalloc((size_t)n * len * sizeof(float));
    hid_t d = H5Dopen2(part, name, H5P_DEFAULT);
    int rc = (d < 0 || H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
                 ? vt_fail("cannot read /%s of %s", name, part_path) : 0;
    if (d >= 0) H5Dclose(d);
    size_t off = 0;
    for (int gi = 0; gi < lay->n_grids && rc == 0; gi++) {
      size_t glen = (size_t)lay->grids[gi] * lay->grids[gi] * (size_t)lay->c[t];
      for (int is_max = 0; is_max < 2 && rc == 0; is_max++, off += glen) {
        char dname[160];
        snprintf(dname, sizeof dname, "%spooled/%s/%s%d", lay->group[t], lay->name[t], is_max ? "max" : "avg",
                 lay->grids[gi]);
        hid_t od = H5Dopen2(out, dname, H5P_DEFAULT);
        hid_t fs = H5Dget_space(od);
        hsize_t mdims[2] = {(hsize_t)n, len};
        hid_t ms = H5Screate_simple(2, mdims, NULL);
        for (long long a = 0, b; a < n && rc == 0; a = b) {
          for (b = a + 1; b < n && rows[b] == rows[b - 1] + 1;) b++;
          hsize_t mstart[2] = {(hsize_t)a, off}, fstart[2] = {(hsize_t)rows[a], 0};
          hsize_t count[2] = {(hsize_t)(b - a), glen};
          H5Sselect_hyperslab(ms, H5S_SELECT_SET, mstart, NULL, count, NULL);
          H5Sselect_hyperslab(fs, H5S_SELECT_SET, fstart, NULL, count, NULL);
          if (H5Dwrite(od, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, buf) < 0)
            rc = write_failed(out_path);
        }
        H5Sclose(ms);
        H5Sclose(fs);
        if (H5Dclose(od) < 0 && rc == 0) rc = write_failed(out_path);
      }
    }
    free(buf);
    if (rc) return -1;
  }
  return 0;
}

/* Copies one part's map chunks (already compressed: no re-encoding) into
 * the store, skipping failed rows (they stay NaN). */
static int copy_maps(const vt_partial *p, hid_t part, const char *part_path, hid_t out,
                     const char *out_path, const long long *rows, const uint8_t *status, long long n) {
  const vt_store_layout *lay = &p->lay;
  void *buf = NULL;
  size_t cap = 0;
  int rc = 0;
  for (int t = 0; t < lay->n_sets && rc == 0; t++) {
    char name[128];
    snprintf(name, sizeof name, "%sfeatures/%s", lay->group[t], lay->name[t]);
    hid_t src = H5Dopen2(part, name, H5P_DEFAULT), dst = H5Dopen2(out, name, H5P_DEFAULT);
    if (src < 0 || dst < 0)
      rc = vt_fail("cannot open /%s of %s while assembling", name, src < 0 ? part_path : out_path);
    for (long long i = 0; i < n && rc == 0; i++) {
      if (status[i] != VT_ROW_OK) continue;
      hsize_t from[4] = {(hsize_t)i, 0, 0, 0}, to[4] = {(hsize_t)rows[i], 0, 0, 0}, nbytes = 0;
      uint32_t mask = 0;
      if (H5Dget_chunk_storage_size(src, from, &nbytes) < 0 || nbytes == 0) {
        rc = vt_fail("%s is missing the map of row %lld", part_path, rows[i]);
        break;
      }
      if (nbytes > cap) buf = vt_xrealloc(buf, cap = (size_t)nbytes);
      if (H5Dread_chunk(src, H5P_DEFAULT, from, &mask, buf) < 0)
        rc = vt_fail("cannot read the map of row %lld from %s", rows[i], part_path);
      else if (H5Dwrite_chunk(dst, H5P_DEFAULT, mask, to, (size_t)nbytes, buf) < 0)
        rc = write_failed(out_path);
    }
    if (src >= 0) H5Dclose(src);
    if (dst >= 0 && H5Dclose(dst) < 0 && rc == 0) rc = write_failed(out_path);
  }
  free(buf);
  return rc;
}

static int create_store_datasets(const vt_partial *p, hid_t f, const char *path, long long N) {
  const vt_store_layout *lay = &p->lay;
  hid_t lcpl = vt_h5_lcpl();
  int rc = 0;
  for (int t = 0; t < lay->n_sets && rc == 0; t++) {
    char name[160];
    if (lay->maps && !p->mapfile) {
      hsize_t dims[4] = {(hsize_t)N, (hsize_t)lay->h[t], (hsize_t)lay->w[t], (hsize_t)lay->c[t]};
      hid_t sp = H5Screate_simple(4, dims, NULL), dcpl = vt_map_dcpl(lay, t), ft = vt_map_file_type(lay);
      snprintf(name, sizeof name, "%sfeatures/%s", lay->group[t], lay->name[t]);
      hid_t d = H5Dcreate2(f, name, ft, sp, lcpl, dcpl, H5P_DEFAULT);
      if (d < 0 || vt_map_attrs(d, lay, t) < 0)
        rc = write_failed(path);
      if (d >= 0) H5Dclose(d);
      H5Tclose(ft);
      H5Pclose(dcpl);
      H5Sclose(sp);
    }
    for (int gi = 0; gi < lay->n_grids && lay->pooled && rc == 0; gi++)
      for (int is_max = 0; is_max < 2 && rc == 0; is_max++) {
        hsize_t dims[2] = {(hsize_t)N, (hsize_t)lay->grids[gi] * lay->grids[gi] * lay->c[t]};
        hid_t sp = H5Screate_simple(2, dims, NULL);
        snprintf(name, sizeof name, "%spooled/%s/%s%d", lay->group[t], lay->name[t], is_max ? "max" : "avg",
                 lay->grids[gi]);
        hid_t d = H5Dcreate2(f, name, H5T_IEEE_F32LE, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
        if (d < 0 || vt_h5_write_str_attr(d, "op", is_max ? "max" : "avg") < 0 ||
            vt_h5_write_int_attr(d, "grid", lay->grids[gi]) < 0)
          rc = write_failed(path);
        if (d >= 0) H5Dclose(d);
        H5Sclose(sp);
      }
  }
  H5Pclose(lcpl);
  return rc;
}

/* Reads a part's per-row table and copies its features into the store. */
static int assemble_part(const vt_partial *p, const char *path, hid_t out, const char *out_path,
                         row_table *tab) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return vt_fail("cannot open %s", path);
  long long n = 0, n2;
  long long *rows = read_1d(f, "rows", H5T_NATIVE_LLONG, sizeof(long long), &n);
  uint8_t *status = rows ? read_1d(f, "status", H5T_NATIVE_UINT8, 1, &n2) : NULL;
  int32_t *w = status ? read_1d(f, "width", H5T_NATIVE_INT32, 4, &n2) : NULL;
  int32_t *h = w ? read_1d(f, "height", H5T_NATIVE_INT32, 4, &n2) : NULL;
  char **err = h ? vt_xcalloc((size_t)n ? (size_t)n : 1, sizeof *err) : NULL;
  int rc = err ? 0 : -1;
  if (err && n) {
    hid_t d = H5Dopen2(f, "error", H5P_DEFAULT), st = vt_h5_str_type();
    if (d < 0 || H5Dread(d, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, err) < 0)
      rc = vt_fail("cannot read dataset error");
    if (d >= 0) H5Dclose(d);
    H5Tclose(st);
  }
  if (rc < 0) vt_fail_prefix("%s", path);
  if (rc == 0 && p->lay.pooled) rc = copy_pooled(p, f, path, out, out_path, rows, n);
  if (rc == 0 && p->lay.maps && !p->mapfile) rc = copy_maps(p, f, path, out, out_path, rows, status, n);
  for (long long i = 0; rc == 0 && i < n; i++) {
    long long r = rows[i];
    tab->status[r] = status[i];
    tab->width[r] = w[i];
    tab->height[r] = h[i];
    free(tab->error[r]);
    tab->error[r] = vt_xstrdup(err[i] ? err[i] : "");
  }
  for (long long i = 0; err && i < n; i++) H5free_memory(err[i]);
  free(err);
  free(rows);
  free(status);
  free(w);
  free(h);
  H5Fclose(f);
  return rc;
}

int vt_partial_assemble(vt_partial *p, const vt_inputs *in, const char *out, long long *n_ok,
                        long long *n_failed) {
  if (vt_partial_commit(p) < 0) return -1;
  long long N = p->meta.n_rows;
  row_table tab = {vt_xcalloc((size_t)N, 1), vt_xcalloc((size_t)N, 4), vt_xcalloc((size_t)N, 4),
                   vt_xcalloc((size_t)N, sizeof(char *))};
  char **names = NULL;
  int n_names = 0, rc = -1;
  char *tmp, *marker = path_join(p->dir, ASSEMBLING);
  hid_t f;
  if (p->mapfile) {
    /* The maps are in place: the rest of the store goes into their file.
     * From here until the rename, a rerun first undoes what this added. */
    tmp = vt_xstrdup(vt_map_file_path(p->mapfile));
    FILE *mf = fopen(marker, "w");
    if (!mf || fclose(mf) != 0) {
      vt_fail("cannot create %s: %s", marker, strerror(errno));
      f = -1;
      goto done;
    }
    f = H5Fopen(tmp, H5F_ACC_RDWR, H5P_DEFAULT);
  } else {
    tmp = path_join(p->dir, "assemble.h5.tmp");
    f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  }
  if (f < 0) {
    write_failed(tmp);
    goto done;
  }
  if (write_meta(f, &p->meta) < 0) {
    write_failed(tmp);
    goto done;
  }
  if (create_store_datasets(p, f, tmp, N) < 0 || list_parts(p->dir, &names, &n_names) < 0) goto done;
  for (int i = 0; i < n_names; i++) {
    char *path = path_join(p->dir, names[i]);
    int prc = assemble_part(p, path, f, tmp, &tab);
    free(path);
    if (prc < 0) goto done;
  }
  *n_ok = *n_failed = 0;
  for (long long r = 0; r < N; r++) {
    if (tab.status[r] == VT_ROW_PENDING) {
      vt_fail("row %lld (%s) is in no part", r, in->path[r]);
      goto done;
    }
    if (!tab.error[r]) tab.error[r] = vt_xstrdup("");
    *(tab.status[r] == VT_ROW_OK ? n_ok : n_failed) += 1;
  }
  if (vt_h5_write_strings(f, "classes", (const char *const *)in->classes, (size_t)in->n_classes) < 0 ||
      vt_h5_write_strings(f, "images/path", (const char *const *)in->path, (size_t)N) < 0 ||
      vt_h5_write_1d(f, "images/label", H5T_NATIVE_INT32, in->label, (size_t)N) < 0 ||
      vt_h5_write_strings(f, "images/split", (const char *const *)in->split, (size_t)N) < 0 ||
      vt_h5_write_1d(f, "images/status", H5T_NATIVE_UINT8, tab.status, (size_t)N) < 0 ||
      vt_h5_write_strings(f, "images/error", (const char *const *)tab.error, (size_t)N) < 0 ||
      vt_h5_write_1d(f, "images/width", H5T_NATIVE_INT32, tab.width, (size_t)N) < 0 ||
      vt_h5_write_1d(f, "images/height", H5T_NATIVE_INT32, tab.height, (size_t)N) < 0) {
    write_failed(tmp);
    goto done;
  }
  hid_t st = H5Dopen2(f, "images/status", H5P_DEFAULT);
  vt_h5_write_str_attr(st, "meaning", "1 = ok, 2 = failed (see /images/error)");
  H5Dclose(st);
  rc = H5Fclose(f) < 0 ? write_failed(tmp) : 0;
  f = -1;
  if (rc == 0) rc = vt_rename_durable(tmp, out); /* the store is whole on disk before it has its name */
  if (rc == 0) rc = remove_dir(p->dir, 0);
done:
  if (f >= 0) H5Fclose(f);
  if (rc < 0 && !p->mapfile) unlink(tmp); /* in-place maps stay, for the rerun */
  free(marker);
  for (int i = 0; i < n_names; i++) free(names[i]);
  free(names);
  for (long long r = 0; r < N; r++) free(tab.error[r]);
  free(tab.error);
  free(tab.status);
  free(tab.width);
  free(tab.height);
  free(tmp);
  return rc;
}
