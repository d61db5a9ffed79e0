#include "store/vt_vds.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/vt_common.h"
#include "store/vt_h5.h"
#include "store/vt_store_read.h"

char *vt_relative_path(const char *target, const char *base_dir) {
  char t[PATH_MAX], b[PATH_MAX];
  if (!realpath(target, t)) {
    vt_fail("%s: %s", target, strerror(errno));
    return NULL;
  }
  if (!realpath(base_dir, b)) {
    vt_fail("%s: %s", base_dir, strerror(errno));
    return NULL;
  }
  /* Longest common prefix ending on a component boundary. */
  size_t common = 0;
  for (size_t i = 0;; i++) {
    int t_end = t[i] == '\0' || t[i] == '/', b_end = b[i] == '\0' || b[i] == '/';
    if (t_end && b_end) common = i;
    if (t[i] != b[i] || t[i] == '\0') break;
  }
  size_t ups = 0; /* one "../" per component of base below the common prefix */
  if (strcmp(b, "/") != 0)
    for (const char *p = b + common; *p; p++)
      if (*p == '/') ups++;
  const char *rest = t + common + (t[common] == '/');
  size_t n = ups * 3 + strlen(rest) + 1;
  char *out = vt_xmalloc(n);
  out[0] = '\0';
  for (size_t i = 0; i < ups; i++) strcat(out, "../");
  strcat(out, rest);
  return out;
}

typedef struct {
  const char *store;
  hid_t file; /* the merged store */
  char *dir; /* the store's directory */
  int n_virtual, failed;
  /* source files opened so far: each is opened once, however many datasets
   * map into it (a merged store has one mapping per shard per dataset) */
  char **open_path;
  hid_t *open_file;
  int n_open;
} check_ctx;

/* The settings a shard shares with the store merged from it (vggtap-merge
 * copies them): a shard file re-extracted since the merge with other
 * settings, or from other images, would otherwise be read as if it were
 * the one merged. */
static const char *const same_str[] = {"weights_sha256", "taps", "grids", "preprocessing",
                                       "resize", "precision", "map_dtype", "compression"};
static const char *const same_int[] = {"input_height", "input_width"};

/* A reason for source file f not being the shard of ctx->file whose rows
 * start at first_row (a description for "which ..."), or NULL if it is. */
static char *not_the_shard(const check_ctx *ctx, hid_t f, long long first_row) {
  char why[512] = "";
  long long a, b;
  char *x = vt_h5_read_str_attr(f, "global_rows_digest"), *y = NULL;
  if (!x) {
    snprintf(why, sizeof why, "is not a shard store (made without --shard)");
  } else if (!(y = vt_h5_read_str_attr(ctx->file, "rows_digest")) || strcmp(x, y) != 0) {
    snprintf(why, sizeof why, "is a shard of another image list (global_rows_digest %s, the "
             "merged store's rows_digest %s)", x, y ? y : "(missing)");
  } else if (vt_h5_read_int_attr(f, "shard_first_row", &a) < 0) {
    snprintf(why, sizeof why, "has no integer shard_first_row attribute");
  } else if (a != first_row) {
    snprintf(why, sizeof why, "is the shard starting at row %lld, not %lld", a, first_row);
  }
  free(x);
  free(y);
  for (size_t i = 0; !why[0] && i < sizeof same_str / sizeof *same_str; i++) {
    x = vt_store_setting(f, same_str[i]);
    y = vt_store_setting(ctx->file, same_str[i]);
    if (!x || !y || strcmp(x, y) != 0)
      snprintf(why, sizeof why, "has %s '%s', the merged store '%s'", same_str[i],
               x ? x : "(missing)", y ? y : "(missing)");
    free(x);
    free(y);
  }
  for (size_t i = 0; !why[0] && i < sizeof same_int / sizeof *same_int; i++) {
    a = b = -1;
    if (vt_h5_read_int_attr(f, same_int[i], &a) < 0 ||
        vt_h5_read_int_attr(ctx->file, same_int[i], &b) < 0 || a != b)
      snprintf(why, sizeof why, "has %s %lld, the merged store %lld", same_int[i], a, b);
  }
  return why[0] ? vt_xstrdup(why) : NULL;
}

/* The source file at path, opened read-only (cached) and checked to be the
 * shard whose rows start at first_row, or -1 + reason. */
static hid_t open_source(check_ctx *ctx, const char *path, const char *dset, const char *rows,
                         long long first_row) {
  for (int i = 0; i < ctx->n_open; i++)
    if (strcmp(ctx->open_path[i], path) == 0) return ctx->open_file[i];
  hid_t f = -1;
  if (access(path, R_OK) != 0) {
    vt_fail("/%s: %s are in %s, which is missing (%s): a merged store reads its shard files "
            "through paths relative to its own directory; keep them together",
            dset, rows, path, strerror(errno));
    return -1;
  }
  if ((f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) {
    vt_fail("/%s: %s are in %s, which is not a readable HDF5 file", dset, rows, path);
    return -1;
  }
  char *why = not_the_shard(ctx, f, first_row);
  if (why) {
    vt_fail("/%s: %s are in %s, which %s: it has changed since the merge; re-extract it as the "
            "other shards were, or merge again", dset, rows, path, why);
    free(why);
    H5Fclose(f);
    return -1;
  }
  ctx->open_path = vt_xrealloc(ctx->open_path, (size_t)(ctx->n_open + 1) * sizeof *ctx->open_path);
  ctx->open_file = vt_xrealloc(ctx->open_file, (size_t)(ctx->n_open + 1) * sizeof *ctx->open_file);
  ctx->open_path[ctx->n_open] = vt_xstrdup(path);
  ctx->open_file[ctx->n_open++] = f;
  return f;
}

/* The source file's path as HDF5 resolves it for a store in ctx->dir. */
static char *resolve(const check_ctx *ctx, const char *name) {
  if (name[0] == '/') return vt_xstrdup(name);
  size_t n = strlen(ctx->dir) + strlen(name) + 2;
  char *p = vt_xmalloc(n);
  snprintf(p, n, "%s/%s", ctx->dir, name);
  return p;
}

static int check_mapping(check_ctx *ctx, const char *dset, hid_t dcpl, size_t i) {
  ssize_t fl = H5Pget_virtual_filename(dcpl, i, NULL, 0),
          dl = H5Pget_virtual_dsetname(dcpl, i, NULL, 0);
  if (fl < 0 || dl < 0) return vt_fail("/%s: cannot read its virtual mapping %zu", dset, i);
  char *file = vt_xmalloc((size_t)fl + 1), *src = vt_xmalloc((size_t)dl + 1);
  H5Pget_virtual_filename(dcpl, i, file, (size_t)fl + 1);
  H5Pget_virtual_dsetname(dcpl, i, src, (size_t)dl + 1);
  /* The mapped block: rows start..end of the virtual dataset, whole rows.
   * (Its source space's extent is not kept reliably in the file: the block
   * gives the shape the source must have.) */
  hid_t vs = H5Pget_virtual_vspace(dcpl, i);
  hsize_t start[H5S_MAX_RANK], end[H5S_MAX_RANK], want[H5S_MAX_RANK], have[H5S_MAX_RANK];
  H5Sget_select_bounds(vs, start, end);
  int rank = H5Sget_simple_extent_dims(vs, want, NULL);
  want[0] = end[0] - start[0] + 1;
  int rc = 0;
  char rows[64];
  snprintf(rows, sizeof rows, "rows %llu..%llu", (unsigned long long)start[0],
           (unsigned long long)end[0]);
  if (strcmp(file, ".") != 0) {
    char *path = resolve(ctx, file);
    hid_t f = open_source(ctx, path, dset, rows, (long long)start[0]), d = -1;
    if (f < 0) {
      rc = -1;
    } else if ((d = H5Dopen2(f, src, H5P_DEFAULT)) < 0) {
      rc = vt_fail("/%s: %s are in %s, which has no dataset %s", dset, rows, path, src);
    } else {
      hid_t sp = H5Dget_space(d);
      int r = H5Sget_simple_extent_dims(sp, have, NULL);
      H5Sclose(sp);
      int same = r == rank;
      for (int k = 0; same && k < rank; k++) same = have[k] == want[k];
      if (!same)
        rc = vt_fail("/%s: %s are in %s:%s, whose shape changed since the merge (%llu rows, "
                     "expected %llu): merge again", dset, rows, path, src,
                     (unsigned long long)have[0], (unsigned long long)want[0]);
    }
    if (d >= 0) H5Dclose(d);
    free(path);
  }
  H5Sclose(vs);
  free(file);
  free(src);
  return rc;
}

/* H5Lvisit, not H5Ovisit: its unversioned name has the same arguments in
 * HDF5 1.10 and 1.12+. */
static herr_t visit(hid_t root, const char *name, const H5L_info_t *info, void *data) {
  check_ctx *ctx = data;
  if (info->type != H5L_TYPE_HARD) return 0;
  hid_t d = H5Oopen(root, name, H5P_DEFAULT);
  if (d < 0) return 0; /* readers report unreadable objects themselves */
  if (H5Iget_type(d) != H5I_DATASET) {
    H5Oclose(d);
    return 0;
  }
  hid_t dcpl = H5Dget_create_plist(d);
  int rc = 0;
  if (H5Pget_layout(dcpl) == H5D_VIRTUAL) {
    ctx->n_virtual++;
    size_t n = 0;
    if (H5Pget_virtual_count(dcpl, &n) < 0) rc = vt_fail("/%s: cannot read its virtual mappings", name);
    for (size_t i = 0; i < n && rc == 0; i++) rc = check_mapping(ctx, name, dcpl, i);
  }
  H5Pclose(dcpl);
  H5Dclose(d);
  if (rc < 0) ctx->failed = 1;
  return rc < 0 ? 1 : 0; /* 1 stops the visit */
}

int vt_vds_check_sources(hid_t file, const char *path, int *n_virtual) {
  check_ctx ctx = {.store = path, .file = file};
  ctx.dir = vt_xdirname(path);
  herr_t e = H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, visit, &ctx);
  free(ctx.dir);
  for (int i = 0; i < ctx.n_open; i++) {
    H5Fclose(ctx.open_file[i]);
    free(ctx.open_path[i]);
  }
  free(ctx.open_path);
  free(ctx.open_file);
  if (n_virtual) *n_virtual = ctx.n_virtual;
  if (ctx.failed) return -1;
  if (e < 0) return vt_fail("cannot list the datasets");
  return 0;
}
