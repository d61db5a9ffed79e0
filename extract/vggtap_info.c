/* vggtap-info: what a feature store or a head file holds, at a glance (rows
 * per class, failures grouped by reason, taps with shapes and types,
 * provenance, size on disk), and a one-line-per-head comparison table for
 * sweeps. h5ls/h5dump stay the low-level view. */
#define _XOPEN_SOURCE 700 /* wcwidth */
#include <errno.h>
#include <hdf5.h>
#include <jansson.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wchar.h>

#include "base/vt_args.h"
#include "base/vt_cli.h"
#include "base/vt_common.h"
#include "store/vt_h5.h"
#include "store/vt_head_attrs.h"
#include "store/vt_store_read.h"
#include "store/vt_store_schema.h"
#include "base/vt_text.h"
#include "leaderboard.h"

static const char usage[] =
    "usage: vggtap-info FILE.h5...                    describe stores and heads\n"
    "       vggtap-info --table [--sort METRIC] [--csv OUT] [--html OUT] HEAD.h5...\n"
    "                                                 compare heads, one line each\n"
    "\n"
    "For a feature store (vggtap-extract): rows ok/failed per class and split, the\n"
    "failure reasons grouped, every tap's datasets with shapes and types, how the\n"
    "features were made (weights sha256, preprocessing, resize, input size), and the\n"
    "size on disk. For a head (vggtap-train): its layers and parameters, tap and\n"
    "pooling, classes, provenance, and the scores in its report (HEAD.report/\n"
    "metrics.json beside it) when present.\n"
    "\n"
    "  --table       one line per head, best first: short name (b2/max4/softmax), feature\n"
    "                width, parameters, the validation score it is ranked by, accuracy,\n"
    "                balanced accuracy, macro-F1 and the rows they come from, training\n"
    "                seconds (read from each head's report); the best is marked *\n"
    "  --sort METRIC accuracy (default), balanced_accuracy or macro_f1: ranked by its\n"
    "                value on the validation rows when every head has them (so that the\n"
    "                scores shown, on test rows or --eval, chose nothing), else on the\n"
    "                scored rows, and the table says so\n"
    "  --csv OUT     with --table, also write the table as CSV to OUT\n"
    "  --html OUT    with --table, also write it as a page (self-contained) linking each\n"
    "                head's report.html\n"
    "  --relative-to DIR  with --table, name heads by their path under DIR (default:\n"
    "                under the folder they all share)\n"
    "  --brief       with --table, one line of scores per head, in the order given\n"
    "  --failures N  show at most N failure reasons (default 10)\n"
    "  --help, --version\n"
    "\n"
    "Exit status: 0 success, 1 a file is unreadable or not a vggtap file, 2 usage.\n";

enum { O_TABLE = VT_OPT_FIRST_FREE, O_CSV, O_FAILURES, O_SORT, O_HTML, O_BRIEF, O_RELATIVE_TO };

static const struct option options[] = {
    {"table", no_argument, 0, O_TABLE},         {"csv", required_argument, 0, O_CSV},
    {"failures", required_argument, 0, O_FAILURES}, {"sort", required_argument, 0, O_SORT},
    {"html", required_argument, 0, O_HTML},     {"brief", no_argument, 0, O_BRIEF},
    {"relative-to", required_argument, 0, O_RELATIVE_TO}, VT_OPTIONS_HELP_VERSION, {0, 0, 0, 0}};

static const vt_program program = {"vggtap-info", usage, options, NULL};

/* ---- small helpers ---- */

static void print_size(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) return;
  double b = (double)st.st_size;
  const char *unit = "bytes";
  if (b >= 1024.0 * 1024 * 1024) b /= 1024.0 * 1024 * 1024, unit = "GiB";
  else if (b >= 1024.0 * 1024) b /= 1024.0 * 1024, unit = "MiB";
  else if (b >= 1024.0) b /= 1024.0, unit = "KiB";
  if (st.st_size < 1024) printf("  size on disk   %lld bytes\n", (long long)st.st_size);
  else printf("  size on disk   %.1f %s (%lld bytes)\n", b, unit, (long long)st.st_size);
}

static char *str_attr_or(hid_t f, const char *name, const char *fallback) {
  char *s = vt_h5_read_str_attr(f, name);
  return s ? s : vt_xstrdup(fallback);
}

/* Shape "[a,b,c]" and element type ("float32", "float16", "int32", "string") of a dataset. */
static int describe_dataset(hid_t loc, const char *path, char *shape, size_t ns, char *type, size_t nt) {
  hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
  if (d < 0) return vt_fail("cannot open /%s", path);
  hid_t sp = H5Dget_space(d), t = H5Dget_type(d);
  hsize_t dims[H5S_MAX_RANK]; /* H5Sget_simple_extent_dims writes every dimension */
  int rank = H5Sget_simple_extent_dims(sp, dims, NULL);
  if (rank < 0) rank = 0;
  size_t len = snprintf(shape, ns, "[");
  for (int i = 0; i < rank && len < ns; i++)
    len += snprintf(shape + len, ns - len, "%s%llu", i ? "," : "", (unsigned long long)dims[i]);
  if (len < ns) snprintf(shape + len, ns - len, "]");
  H5T_class_t cls = H5Tget_class(t);
  size_t size = H5Tget_size(t);
  if (cls == H5T_FLOAT) snprintf(type, nt, "float%zu", size * 8);
  else if (cls == H5T_INTEGER) snprintf(type, nt, "%sint%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "u" : "", size * 8);
  else if (cls == H5T_STRING) snprintf(type, nt, "string");
  else snprintf(type, nt, "other");
  H5Tclose(t);
  H5Sclose(sp);
  H5Dclose(d);
  return 0;
}

/* Length of a 1-D dataset, -1 if absent. */
static long long dataset_len(hid_t loc, const char *path) {
  if (!vt_link_exists(loc, path)) return -1;
  hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
  if (d < 0) return -1;
  hid_t sp = H5Dget_space(d);
  hsize_t dims[1] = {0};
  long long n = H5Sget_simple_extent_ndims(sp) == 1 && H5Sget_simple_extent_dims(sp, dims, NULL) == 1 ? (long long)dims[0] : -1;
  H5Sclose(sp);
  H5Dclose(d);
  return n;
}

/* The filters of a dataset, e.g. "shuffle+deflate-4", or "" for none. */
static void describe_filters(hid_t loc, const char *path, char *out, size_t n) {
  out[0] = '\0';
  hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
  if (d < 0) return;
  hid_t pl = H5Dget_create_plist(d);
  int nf = H5Pget_nfilters(pl);
  size_t len = 0;
  for (int i = 0; i < nf && len < n; i++) {
    unsigned flags, cd[8];
    size_t ncd = 8;
    char name[64];
    H5Z_filter_t id = H5Pget_filter2(pl, (unsigned)i, &flags, &ncd, cd, sizeof name, name, NULL);
    const char *sep = len ? "+" : "";
    if (id == H5Z_FILTER_DEFLATE) len += snprintf(out + len, n - len, "%sdeflate-%u", sep, ncd ? cd[0] : 0);
    else if (id == H5Z_FILTER_SHUFFLE) len += snprintf(out + len, n - len, "%sshuffle", sep);
    else len += snprintf(out + len, n - len, "%s%s", sep, name);
  }
  H5Pclose(pl);
  H5Dclose(d);
}

/* Names of the members of a group, sorted (HDF5 iterates in name order). */
typedef struct {
  int n;
  char *name[64];
} names;

static herr_t add_name(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  names *ns = data;
  if (ns->n < 64) ns->name[ns->n++] = vt_xstrdup(name);
  return 0;
}

static void list_group(hid_t f, const char *path, names *ns) {
  ns->n = 0;
  if (!vt_link_exists(f, path)) return;
  hid_t g = H5Gopen2(f, path, H5P_DEFAULT);
  if (g < 0) return;
  H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, add_name, ns);
  H5Gclose(g);
}

static void free_names(names *ns) {
  for (int i = 0; i < ns->n; i++) free(ns->name[i]);
  ns->n = 0;
}

/* ---- stores ---- */

typedef struct {
  const char *reason;
  int count, example; /* example: the first row with it */
} reason_count;

static int by_count(const void *a, const void *b) {
  const reason_count *x = a, *y = b;
  if (x->count != y->count) return y->count - x->count;
  return x->example - y->example;
}

static void print_failures(const vt_store *s, int max_reasons) {
  reason_count *rc = vt_xcalloc((size_t)s->n_rows + 1, sizeof *rc);
  int n = 0, total = 0;
  for (int r = 0; r < s->n_rows; r++) {
    if (s->status[r] != VT_ROW_FAILED) continue;
    total++;
    int j = 0;
    while (j < n && strcmp(rc[j].reason, s->errors[r])) j++;
    if (j == n) rc[n++] = (reason_count){s->errors[r], 0, r};
    rc[j].count++;
  }
  if (total) {
    qsort(rc, (size_t)n, sizeof *rc, by_count);
    printf("  failures       %d %s, %d distinct %s:\n", total, vt_plural(total, "row", "rows"), n,
           vt_plural(n, "reason", "reasons"));
    for (int j = 0; j < n && j < max_reasons; j++)
      printf("    %6d  %s  (e.g. %s)\n", rc[j].count, rc[j].reason[0] ? rc[j].reason : "(no reason recorded)",
             s->paths[rc[j].example]);
    if (n > max_reasons) printf("    ... %d more reasons (h5dump -d /images/error)\n", n - max_reasons);
  }
  free(rc);
}

static void print_padded(const char *s, int width) {
  int pad = width - vt_text_columns(s);
  printf("%s%*s", s, pad > 0 ? pad : 0, "");
}

static void print_rows(const vt_store *s) {
  int ok = 0, failed = 0, unlabelled = 0;
  for (int r = 0; r < s->n_rows; r++) {
    if (s->status[r] == VT_ROW_OK) ok++;
    else failed++;
    if (s->labels[r] < 0) unlabelled++;
  }
  printf("  rows           %d: %d ok, %d failed\n", s->n_rows, ok, failed);
  if (s->n_classes) {
    int width = unlabelled ? (int)strlen("(unlabelled)") : 5;
    for (int k = 0; k < s->n_classes; k++) {
      int cols = vt_text_columns(s->classes[k]);
      if (cols > width) width = cols;
    }
    printf("  classes        %d\n    ", s->n_classes);
    print_padded("class", width);
    printf("  %7s  %7s\n", "ok", "failed");
    for (int k = -1; k < s->n_classes; k++) {
      int kok = 0, kfail = 0;
      for (int r = 0; r < s->n_rows; r++)
        if (s->labels[r] == k) (s->status[r] == VT_ROW_OK ? kok++ : kfail++);
      if (k < 0 && !kok && !kfail) continue;
      printf("    ");
      print_padded(k < 0 ? "(unlabelled)" : s->classes[k], width);
      printf("  %7d  %7d\n", kok, kfail);
    }
  } else {
    printf("  classes        none (unlabelled input: %d rows)\n", unlabelled);
  }
  /* splits, when a manifest gave them */
  const char *seen[16];
  int count[16] = {0}, n_splits = 0, other = 0;
  for (int r = 0; r < s->n_rows; r++) {
    if (!s->splits[r][0]) continue;
    int j = 0;
    while (j < n_splits && strcmp(seen[j], s->splits[r])) j++;
    if (j == n_splits) {
      if (n_splits == 16) {
        other++;
        continue;
      }
      seen[n_splits++] = s->splits[r];
    }
    count[j]++;
  }
  if (n_splits) {
    printf("  splits        ");
    for (int j = 0; j < n_splits; j++) printf(" %s %d%s", seen[j], count[j], j + 1 < n_splits ? "," : "");
    if (other) printf(", %d rows in other splits", other);
    printf("\n");
  }
}

static void print_taps(const vt_store *s) {
  printf("  taps           %s\n", s->taps);
  char *taps = vt_xstrdup(s->taps), *items[32];
  int nt = vt_split_commas(taps, items, 32);
  for (int t = 0; t < nt; t++) {
    char path[256], shape[96], type[32], filters[96];
    printf("    %s\n", items[t]);
    snprintf(path, sizeof path, "features/%s", items[t]);
    if (vt_link_exists(s->file, path) && describe_dataset(s->file, path, shape, sizeof shape, type, sizeof type) == 0) {
      describe_filters(s->file, path, filters, sizeof filters);
      printf("      maps     %-20s %s%s%s\n", shape, type, filters[0] ? ", " : "", filters);
    } else {
      printf("      maps     not stored\n");
    }
    names ns;
    snprintf(path, sizeof path, "pooled/%s", items[t]);
    list_group(s->file, path, &ns);
    for (int i = 0; i < ns.n; i++) {
      char dpath[320];
      snprintf(dpath, sizeof dpath, "pooled/%s/%s", items[t], ns.name[i]);
      if (describe_dataset(s->file, dpath, shape, sizeof shape, type, sizeof type) == 0)
        printf("      %-8s %-20s %s\n", ns.name[i], shape, type);
    }
    if (!ns.n) printf("      pooled   none\n");
    free_names(&ns);
  }
  free(taps);
}

/* A shard's place in its run, or where a merged store's features are. */
static void print_sharding(hid_t f) {
  long long i, n, first, rows, total;
  if (vt_h5_read_int_attr(f, "shard_index", &i) == 0 && vt_h5_read_int_attr(f, "shard_count", &n) == 0 &&
      vt_h5_read_int_attr(f, "shard_first_row", &first) == 0 &&
      vt_h5_read_int_attr(f, "n_rows", &rows) == 0 && vt_h5_read_int_attr(f, "global_n_rows", &total) == 0)
    printf("    shard          %lld/%lld: rows %lld..%lld of %lld (vggtap-merge joins the %lld shards)\n",
           i, n, first, first + rows - 1, total, n);
  if (vt_h5_read_int_attr(f, "merged_shards", &n) == 0) {
    char *how = str_attr_or(f, "merged_features", "?");
    if (strcmp(how, "virtual") == 0)
      printf("    merged         from %lld shards; features are virtual datasets read from the shard "
             "files (not counted in the size above): keep them beside this file\n", n);
    else
      printf("    merged         from %lld shards; features %s into this file\n", n, how);
    free(how);
  }
}

static int describe_store(const char *path, int max_reasons) {
  vt_store s;
  if (vt_store_open(path, &s) < 0) return -1;
  char *weights_file = str_attr_or(s.file, "weights_file", "?");
  char *compression = str_attr_or(s.file, "compression", "?");
  char *map_pool = str_attr_or(s.file, "map_pool", "none");
  char *augment = str_attr_or(s.file, "augment", "none");
  printf("%s: vggtap feature store, format_version %d, written by vggtap %s\n", path,
         s.format_version, s.tool_version);
  print_size(path);
  print_rows(&s);
  print_failures(&s, max_reasons);
  print_taps(&s);
  printf("  provenance\n");
  printf("    weights        sha256 %s\n                   (%s)\n", s.weights_sha256, weights_file);
  printf("    preprocessing  %s\n", s.preprocessing);
  printf("    resize         %s\n", s.resize);
  printf("    precision      %s\n", s.precision);
  printf("    input size     %dx%d (height x width)\n", s.input_height, s.input_width);
  printf("    maps           %s, compression %s", s.map_dtype, compression);
  if (strcmp(map_pool, "none") != 0) printf(", stored %s-reduced (--map-pool: k x k averages)", map_pool);
  printf("\n");
  if (strcmp(augment, "flip") == 0)
    printf("    augment        flip: /mirror/pooled (and /mirror/features) hold the mirrored photos'\n"
           "                   features, same shapes and rows\n");
  else
    printf("    augment        none\n");
  printf("    pooling grids  %s\n", s.grids[0] ? s.grids : "none");
  printf("    source         %s %s\n", s.source, s.data_root);
  printf("    command        %s\n", s.command);
  print_sharding(s.file);
  free(weights_file);
  free(compression);
  free(map_pool);
  free(augment);
  vt_store_close(&s);
  return 0;
}

/* ---- heads ---- */

/* A top-level string of metrics.json (malloc'd; "" if absent). */
static char *report_string(const json_t *report, const char *key) {
  const char *v = json_string_value(json_object_get(report, key));
  return vt_xstrdup(v ? v : "");
}

/* A top-level number of metrics.json; NaN if absent or null. */
static double report_number(const json_t *report, const char *key) {
  const json_t *v = json_object_get(report, key);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

typedef struct {
  vt_head_attrs a; /* absent strings read "?" or "", absent numbers -1 or 0 */
  char *evaluated_on;
  double accuracy, macro_f1, balanced_accuracy, train_seconds;
  double val_accuracy, val_balanced_accuracy, val_macro_f1, n_scored, n_val;
  int have_report;
} head_info;

static void head_info_free(head_info *h) {
  vt_head_attrs_free(&h->a);
  free(h->evaluated_on);
}

static void str_or(char **s, const char *fallback) {
  if (!*s) *s = vt_xstrdup(fallback);
}

static void int_or(long long *v, long long fallback) {
  if (*v == VT_HEAD_ATTR_ABSENT) *v = fallback;
}

/* Shows what is there: an attribute missing or of the wrong type reads as
 * "?" (a head too broken to use is still described). */
static void read_head(const char *path, hid_t f, head_info *h) {
  memset(h, 0, sizeof *h);
  vt_head_attrs *a = &h->a;
  vt_head_attrs_read(f, a);
  str_or(&a->head, "?");
  str_or(&a->hidden, "");
  str_or(&a->tap, "?");
  str_or(&a->pooling, "?");
  str_or(&a->features, ""); /* format_version 2 */
  str_or(&a->preprocessing, "?");
  str_or(&a->resize, "?");
  str_or(&a->precision, "fp32"); /* heads made before it was recorded */
  str_or(&a->weights_sha256, "?");
  str_or(&a->store, "?");
  str_or(&a->eval_store, "");
  str_or(&a->feature_source, "?");
  str_or(&a->config, "");
  int_or(&a->format_version, 0);
  int_or(&a->input_height, 0);
  int_or(&a->input_width, 0);
  int_or(&a->n_params, -1);
  int_or(&a->n_features, -1);
  int_or(&a->n_classes, -1);
  int_or(&a->n_layers, -1);
  int_or(&a->best_epoch, -1);
  char *json_path = vt_head_report_path(path, "metrics.json");
  json_error_t err;
  json_t *json = json_load_file(json_path, 0, &err);
  h->have_report = json != NULL;
  if (!json && access(json_path, F_OK) == 0) /* there, but not a report */
    fprintf(stderr, "vggtap-info: %s: line %d: %s\n", json_path, err.line, err.text);
  h->accuracy = report_number(json, "accuracy");
  h->balanced_accuracy = report_number(json, "balanced_accuracy");
  h->macro_f1 = report_number(json, "macro_f1");
  h->train_seconds = report_number(json, "train_seconds");
  h->evaluated_on = report_string(json, "eval");
  h->n_scored = report_number(json, "n");
  h->n_val = report_number(json, "n_val");
  h->val_accuracy = report_number(json, "val_accuracy");
  h->val_balanced_accuracy = report_number(json, "val_balanced_accuracy");
  h->val_macro_f1 = report_number(json, "val_macro_f1");
  json_decref(json);
  free(json_path);
}

/* An integer attribute of the conv head's group, 0 when absent or not one. */
static long long conv_int(hid_t g, const char *name) {
  long long v = 0;
  return H5Aexists(g, name) > 0 && vt_h5_read_int_attr(g, name, &v) == 0 ? v : 0;
}

/* A conv head (docs/HEAD.md): its maps, its layers, how it is evaluated. */
static void print_conv(hid_t f, const head_info *h) {
  hid_t g = vt_link_exists(f, "convnet") ? H5Gopen2(f, "convnet", H5P_DEFAULT) : -1;
  long long in_h = 0, in_w = 0, in_c = 0, in_pool = 0, grid = 0;
  double dropout = -1;
  if (g >= 0) {
    in_h = conv_int(g, "in_height"), in_w = conv_int(g, "in_width"), in_c = conv_int(g, "in_channels");
    in_pool = conv_int(g, "in_pool"), grid = conv_int(g, "grid");
    hid_t a = H5Aexists(g, "dropout") > 0 ? H5Aopen(g, "dropout", H5P_DEFAULT) : -1;
    if (a >= 0 && H5Aread(a, H5T_NATIVE_DOUBLE, &dropout) < 0) dropout = -1;
    if (a >= 0) H5Aclose(a);
    H5Gclose(g);
  }
  char *reduce = str_attr_or(f, "map_reduce", "?"), *mirror = str_attr_or(f, "mirror", "?");
  printf("  head           conv %s: %lldx%lldx%lld maps -> %lld classes, %lld parameters\n", h->a.hidden,
         in_h, in_w, in_c, h->a.n_classes, h->a.n_params);
  printf("    layers       %sconvs %s (batch norm, ReLU; 2x2 max pools between), adaptive max "
         "pool %lldx%lld, dropout %.2g, dense\n", in_pool ? "2x2 average pool, " : "", h->a.hidden,
         grid, grid, dropout);
  printf("    maps         stored maps reduced: %s; mirror average at evaluation: %s\n", reduce, mirror);
  free(reduce);
  free(mirror);
}

static int describe_head(const char *path, hid_t f) {
  head_info h;
  read_head(path, f, &h);
  printf("%s: vggtap head, format_version %lld\n", path, h.a.format_version);
  print_size(path);
  if (strcmp(h.a.head, "conv") == 0)
    print_conv(f, &h);
  else
    printf("  head           %s%s%s: %lld features -> %lld classes, %lld dense layer%s, %lld parameters\n",
           h.a.head, h.a.hidden[0] ? " " : "", h.a.hidden, h.a.n_features, h.a.n_classes, h.a.n_layers,
           h.a.n_layers == 1 ? "" : "s", h.a.n_params);
  printf("  features       tap %s, pooling %s (%s)\n", h.a.tap, h.a.pooling, h.a.feature_source);
  if (h.a.features[0]) printf("    in order     %s\n", h.a.features);
  int n_classes = 0;
  char **classes = NULL;
  if (vt_read_string_dataset(f, "classes", &n_classes, &classes) == 0) {
    printf("  classes        ");
    for (int k = 0; k < n_classes; k++) printf("%s%s", k ? ", " : "", classes[k]);
    printf("\n");
    vt_free_strings(classes, n_classes);
  }
  printf("  trained on     %s: %lld training rows, %lld validation rows, best epoch %lld\n", h.a.store,
         dataset_len(f, "training/train_rows"), dataset_len(f, "training/val_rows"), h.a.best_epoch);
  if (dataset_len(f, "training/test_rows") > 0)
    printf("  test split     %lld rows of it, held out for the score\n", dataset_len(f, "training/test_rows"));
  if (h.a.eval_store[0]) printf("  evaluated on   %s\n", h.a.eval_store);
  if (h.a.augment && !strcmp(h.a.augment, "flip"))
    printf("  augment        flip: trained on the rows' mirror images too; predictions average photo "
           "and mirror\n");
  printf("  provenance\n");
  printf("    weights        sha256 %s\n", h.a.weights_sha256);
  printf("    preprocessing  %s\n    resize         %s\n    precision      %s\n"
         "    input size     %lldx%lld (height x width)\n",
         h.a.preprocessing, h.a.resize, h.a.precision, h.a.input_height, h.a.input_width);
  char *json_path = vt_head_report_path(path, "metrics.json");
  if (h.have_report)
    printf("  report         %s\n    on %s: accuracy %.4f, balanced accuracy %.4f, macro-F1 %.4f, "
           "trained in %.2f s\n", json_path, h.evaluated_on[0] ? h.evaluated_on : "?", h.accuracy,
           h.balanced_accuracy, h.macro_f1, h.train_seconds);
  else
    printf("  report         none at %s\n", json_path);
  free(json_path);
  if (h.a.config[0]) {
    printf("  training configuration\n    ");
    for (const char *c = h.a.config; *c; c++) {
      putchar(*c);
      if (*c == '\n' && c[1]) printf("    ");
    }
    if (h.a.config[strlen(h.a.config) - 1] != '\n') putchar('\n');
  }
  head_info_free(&h);
  return 0;
}

/* ---- files ---- */

/* Opens path and tells which kind of vggtap file it is: 1 store, 2 head. */
static hid_t open_vggtap(const char *path, int *kind) {
  struct stat st;
  if (stat(path, &st) != 0) return vt_store_fail_unopenable(path, errno);
  if (S_ISDIR(st.st_mode)) return vt_fail("%s: is a directory, not a store or head file", path);
  if (H5Fis_hdf5(path) <= 0) return vt_fail("%s: not an HDF5 file", path);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return vt_fail("%s: cannot open (corrupt HDF5 file?)", path);
  char *format = vt_h5_read_str_attr(f, "format");
  *kind = !format ? 0 : !strcmp(format, VT_STORE_FORMAT) ? 1 : !strcmp(format, VT_HEAD_FORMAT) ? 2 : 0;
  free(format);
  if (!*kind) {
    H5Fclose(f);
    return vt_fail("%s: not a vggtap store or head (no format attribute 'vggtap-store' or "
                   "'vggtap-head'); h5ls -r shows what it holds", path);
  }
  return f;
}

static int describe(const char *path, int max_reasons) {
  int kind;
  hid_t f = open_vggtap(path, &kind);
  if (f < 0) return -1;
  int rc;
  if (kind == 1) {
    H5Fclose(f); /* vt_store_open opens and validates it itself */
    rc = describe_store(path, max_reasons);
  } else {
    rc = describe_head(path, f);
    H5Fclose(f);
  }
  return rc;
}

/* The heads compared (leaderboard.h): --table, and with --brief one line each. */
static int table(int n, char **paths, const char *metric, const char *root, const char *csv_path,
                 const char *html_path, int brief) {
  head_info *h = vt_xcalloc((size_t)n + 1, sizeof *h);
  vt_board_row *rows = vt_xcalloc((size_t)n + 1, sizeof *rows);
  int rc = 0, read = 0;
  for (int i = 0; i < n && rc == 0; i++, read++) {
    int kind;
    hid_t f = open_vggtap(paths[i], &kind);
    if (f < 0) {
      rc = -1;
      break;
    }
    if (kind != 2) {
      H5Fclose(f);
      rc = vt_fail("%s: --table compares heads; this is a feature store", paths[i]);
      break;
    }
    read_head(paths[i], f, &h[i]);
    H5Fclose(f);
    rows[i] = (vt_board_row){paths[i], h[i].a.tap, h[i].a.pooling, h[i].a.hidden, h[i].a.n_features, h[i].a.n_params,
                             h[i].accuracy, h[i].balanced_accuracy, h[i].macro_f1, h[i].train_seconds,
                             h[i].evaluated_on, isnan(h[i].n_scored) ? 0 : (long long)h[i].n_scored,
                             h[i].val_accuracy, h[i].val_balanced_accuracy, h[i].val_macro_f1,
                             isnan(h[i].n_val) ? 0 : (long long)h[i].n_val};
  }
  vt_board_metric m = VT_BOARD_ACCURACY;
  vt_board_metric_parse(metric, &m);
  vt_board b;
  vt_board_rank(&b, rows, rc == 0 ? n : 0, m, root);
  b.html_path = html_path;
  if (rc == 0 && brief)
    for (int i = 0; i < n; i++) vt_board_brief(stdout, &rows[i]);
  else if (rc == 0)
    vt_board_print(stdout, &b);
  /* Written beside and renamed, so a reader never sees half a table. */
  if (rc == 0 && csv_path) rc = vt_write_file_atomic(csv_path, vt_board_csv, &b);
  if (rc == 0 && html_path) rc = vt_write_file_atomic(html_path, vt_board_html, &b);
  vt_board_free(&b);
  for (int i = 0; i < read; i++) head_info_free(&h[i]);
  free(h);
  free(rows);
  return rc;
}

typedef struct {
  int as_table, max_reasons, brief;
  const char *csv, *html, *sort, *root;
} info_options;

static int parse_options(int argc, char **argv, info_options *o) {
  *o = (info_options){.max_reasons = 10, .sort = "accuracy"};
  if (vt_args_start(&program, &argc, &argv) < 0) return -1;
  for (int c; (c = vt_args_next(&program, argc, argv)) != -1;) {
    switch (c) {
      case O_TABLE: o->as_table = 1; break;
      case O_CSV: o->csv = optarg; break;
      case O_HTML: o->html = optarg; break;
      case O_BRIEF: o->brief = 1; break;
      case O_RELATIVE_TO: o->root = optarg; break;
      case O_SORT: {
        vt_board_metric m;
        if (vt_board_metric_parse(optarg, &m) < 0)
          return vt_fail("--sort is accuracy, balanced_accuracy or macro_f1, not '%s'", optarg);
        o->sort = optarg;
        break;
      }
      case O_FAILURES:
        if (vt_parse_int(optarg, 0, 1000000, "--failures", &o->max_reasons) < 0) return -1;
        break;
      default: return -1; /* VT_OPT_BAD: the reason is set */
    }
  }
  if (optind == argc) return vt_fail("give one or more store or head files");
  if (!o->as_table && (o->csv || o->html || o->brief || o->root))
    return vt_fail("%s goes with --table", o->csv ? "--csv" : o->html ? "--html" : o->brief ? "--brief" : "--relative-to");
  return 0;
}

int main(int argc, char **argv) {
  vt_h5_no_close_at_exit();
  info_options o;
  if (parse_options(argc, argv, &o) < 0) return vt_exit_usage(&program);
  vt_h5_quiet();
  if (o.as_table)
    return table(argc - optind, argv + optind, o.sort, o.root, o.csv, o.html, o.brief) < 0 ? vt_exit_error(&program)
                                                                                            : VT_EXIT_OK;
  int rc = VT_EXIT_OK;
  for (int i = optind; i < argc; i++) {
    if (i > optind) printf("\n");
    if (describe(argv[i], o.max_reasons) < 0) rc = vt_exit_error(&program);
  }
  return rc;
}
