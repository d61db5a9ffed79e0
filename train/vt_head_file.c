#include "vt_head_file.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/vt_cli.h"
#include "base/vt_common.h"
#include "base/vt_durable.h"
#include "store/vt_crash_guard.h"
#include "vt_convnet_file.h"
#include "store/vt_head_attrs.h"
#include "vt_features.h"
#include "store/vt_h5.h"
#include "store/vt_store_read.h"

const char *vt_head_kind(const vt_head *h) { return h->n_layers == 1 ? "softmax" : "mlp"; }

const char *vt_head_file_kind(const vt_head_file *hf) {
  return hf->is_conv ? "conv" : vt_head_kind(&hf->head);
}

static int write_2d(hid_t loc, const char *name, const float *data, int rows, int cols) {
  hsize_t dims[2] = {(hsize_t)rows, (hsize_t)cols};
  hid_t sp = H5Screate_simple(2, dims, NULL), lcpl = vt_h5_lcpl();
  hid_t d = H5Dcreate2(loc, name, H5T_IEEE_F32LE, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  int rc = 0;
  if (d < 0 || H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    rc = vt_fail("cannot write dataset %s: %s", name, vt_h5_os_error("HDF5 error"));
  if (d >= 0 && H5Dclose(d) < 0) /* closing flushes */
    rc = vt_fail("cannot write dataset %s: %s", name, vt_h5_os_error("HDF5 error"));
  H5Pclose(lcpl);
  H5Sclose(sp);
  return rc;
}

static const char *or_empty(const char *s) { return s ? s : ""; }

/* The conv head's part: the net in group /convnet, its input's recipe. */
static int write_conv(hid_t f, const vt_head_file *hf) {
  if (vt_h5_write_str_attr(f, "map_reduce", hf->map_reduce) < 0 ||
      vt_h5_write_str_attr(f, "mirror", hf->mirror) < 0)
    return -1;
  hid_t lcpl = vt_h5_lcpl(), g = H5Gcreate2(f, "convnet", lcpl, H5P_DEFAULT, H5P_DEFAULT);
  H5Pclose(lcpl);
  if (g < 0) return vt_fail("cannot create group /convnet: %s", vt_h5_os_error("HDF5 error"));
  int rc = vt_convnet_write(g, &hf->conv);
  H5Gclose(g);
  return rc;
}

static int write_contents(hid_t f, const vt_head_file *hf) {
  const vt_head *h = &hf->head;
  const vt_convnet_config *cc = &hf->conv.cfg;
  char hidden[256] = "";
  if (hf->is_conv) vt_convnet_convs_text(cc, hidden, sizeof hidden);
  for (int l = 1; l < h->n_layers; l++) {
    size_t len = strlen(hidden);
    snprintf(hidden + len, sizeof hidden - len, "%s%d", l > 1 ? "," : "", h->dims[l]);
  }
  struct { const char *k, *v; } strs[] = {
      {"format", VT_HEAD_FORMAT},
      {"tool_version", VT_VERSION},
      {"head", vt_head_file_kind(hf)},
      {"hidden", hidden},
      {"activation", "relu"},
      {"tap", hf->tap},
      {"pooling", hf->pooling},
      {"features", hf->features},
      {"preprocessing", hf->preprocessing},
      {"resize", hf->resize},
      {"precision", hf->precision ? hf->precision : "fp32"},
      {"weights_sha256", hf->weights_sha256},
      {"store", or_empty(hf->store)},
      {"eval_store", or_empty(hf->eval_store)},
      {"feature_source", or_empty(hf->feature_source)},
      {"augment", hf->augment ? hf->augment : "none"},
      {"config", or_empty(hf->config)},
      {"command", or_empty(hf->command)},
  };
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
    if (vt_h5_write_str_attr(f, strs[i].k, strs[i].v) < 0) return -1;
  struct { const char *k; long long v; } ints[] = {
      {"format_version", VT_HEAD_FORMAT_VERSION},
      {"input_height", hf->input_height},
      {"input_width", hf->input_width},
      {"n_features", hf->is_conv ? (long long)cc->in_h * cc->in_w * cc->in_c : h->dims[0]},
      {"n_classes", hf->n_classes},
      {"n_layers", hf->is_conv ? hf->conv.cfg.n_convs + 1 : h->n_layers},
      {"n_params", (long long)(hf->is_conv ? hf->conv.n_params : h->n_params)},
      {"best_epoch", hf->best_epoch},
  };
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
    if (vt_h5_write_int_attr(f, ints[i].k, ints[i].v) < 0) return -1;
  if (vt_h5_write_strings(f, "classes", (const char *const *)hf->classes, (size_t)hf->n_classes) < 0)
    return -1;
  if (hf->is_conv && write_conv(f, hf) < 0) return -1;
  if (!hf->is_conv && (vt_h5_write_1d(f, "standardize/mean", H5T_NATIVE_FLOAT, hf->mean, (size_t)h->dims[0]) < 0 ||
                       vt_h5_write_1d(f, "standardize/std", H5T_NATIVE_FLOAT, hf->std, (size_t)h->dims[0]) < 0))
    return -1;
  for (int l = 0; !hf->is_conv && l < h->n_layers; l++) {
    char name[64];
    snprintf(name, sizeof name, "layers/%d/kernel", l);
    if (write_2d(f, name, h->W[l], h->dims[l], h->dims[l + 1]) < 0) return -1;
    snprintf(name, sizeof name, "layers/%d/bias", l);
    if (vt_h5_write_1d(f, name, H5T_NATIVE_FLOAT, h->b[l], (size_t)h->dims[l + 1]) < 0) return -1;
  }
  if (vt_h5_write_1d(f, "training/train_rows", H5T_NATIVE_INT, hf->train_rows,
                     (size_t)hf->n_train) < 0 ||
      vt_h5_write_1d(f, "training/val_rows", H5T_NATIVE_INT, hf->val_rows, (size_t)hf->n_val) < 0 ||
      vt_h5_write_1d(f, "training/test_rows", H5T_NATIVE_INT, hf->test_rows, (size_t)hf->n_test) < 0)
    return -1;
  return 0;
}

char *vt_head_file_stage(const char *path, const vt_head_file *hf) {
  char *tmp = vt_temp_name(path);
  hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  int rc;
  if (f < 0) {
    rc = vt_fail("cannot create %s: %s", tmp, vt_h5_os_error("HDF5 error"));
  } else {
    rc = write_contents(f, hf);
    if (H5Fclose(f) < 0 && rc == 0)
      rc = vt_fail("cannot finish writing %s: %s", tmp, vt_h5_os_error("HDF5 error"));
  }
  if (rc < 0) {
    unlink(tmp); /* HDF5 may have created it before failing */
    free(tmp);
    vt_fail_prefix("%s", path);
    return NULL;
  }
  return tmp;
}

int vt_head_file_commit(char *staged, const char *path) {
  int rc = 0;
  if (vt_rename_durable(staged, path) < 0) {
    rc = -1;
    unlink(staged); /* (gone already if only the directory could not be synced) */
  }
  free(staged);
  return rc;
}

/* Reads a float dataset of exactly the given shape (rank 1 or 2). */
static int read_floats(hid_t f, const char *name, int rank, int d0, int d1, float *out) {
  if (!vt_link_exists(f, name)) return vt_fail("dataset /%s is missing", name);
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  if (d < 0) return vt_fail("cannot open /%s", name);
  hid_t sp = H5Dget_space(d), t = H5Dget_type(d);
  hsize_t dims[2] = {0, 0};
  int ok = H5Tget_class(t) == H5T_FLOAT && H5Sget_simple_extent_ndims(sp) == rank;
  if (ok) H5Sget_simple_extent_dims(sp, dims, NULL);
  ok = ok && dims[0] == (hsize_t)d0 && (rank == 1 || dims[1] == (hsize_t)d1);
  int rc = 0;
  if (!ok)
    rc = rank == 1 ? vt_fail("/%s must be a float array of %d values", name, d0)
                   : vt_fail("/%s must be a float array of shape %d x %d", name, d0, d1);
  else if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
    rc = vt_fail("cannot read /%s", name);
  size_t n = (size_t)d0 * (rank == 2 ? (size_t)d1 : 1);
  for (size_t i = 0; rc == 0 && i < n; i++)
    if (!isfinite(out[i])) rc = vt_fail("/%s holds a non-finite value at %zu", name, i);
  H5Tclose(t);
  H5Sclose(sp);
  H5Dclose(d);
  return rc;
}

/* Shape of a rank-2 dataset. */
static int dims_2d(hid_t f, const char *name, int *d0, int *d1) {
  if (!vt_link_exists(f, name)) return vt_fail("dataset /%s is missing", name);
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  if (d < 0) return vt_fail("cannot open /%s", name);
  hid_t sp = H5Dget_space(d);
  hsize_t dims[2];
  int rc = 0;
  if (H5Sget_simple_extent_ndims(sp) != 2) {
    rc = vt_fail("/%s is not a 2-D array", name);
  } else {
    H5Sget_simple_extent_dims(sp, dims, NULL);
    if (dims[0] < 1 || dims[1] < 1 || dims[0] > INT_MAX || dims[1] > INT_MAX)
      rc = vt_fail("/%s has an invalid shape", name);
    *d0 = (int)dims[0];
    *d1 = (int)dims[1];
  }
  H5Sclose(sp);
  H5Dclose(d);
  return rc;
}

/* A required attribute that vt_head_attrs_read found absent. */
static int missing(const char *name) { return vt_fail("attribute '%s' is missing", name); }

static int int_attr(const char *name, long long v, int *out) {
  if (v == VT_HEAD_ATTR_ABSENT) return missing(name);
  if (v < INT_MIN || v > INT_MAX) return vt_fail("attribute '%s' is out of range", name);
  *out = (int)v;
  return 0;
}

/* Moves a string out of the attributes read: "" when absent. */
static char *take(char **s) {
  char *v = *s ? *s : vt_xstrdup("");
  *s = NULL;
  return v;
}

static int read_rows(hid_t f, const char *name, int *n, int **out) {
  *n = 0;
  *out = NULL;
  if (!vt_link_exists(f, name)) return 0;
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  if (d < 0) return vt_fail("cannot open /%s", name);
  hid_t sp = H5Dget_space(d);
  hssize_t len = H5Sget_simple_extent_npoints(sp);
  int rc = 0;
  if (len < 0 || len > INT_MAX) {
    rc = vt_fail("/%s has an invalid size", name);
  } else {
    *out = vt_xmalloc(sizeof(int) * ((size_t)len + 1));
    if (len && H5Dread(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out) < 0)
      rc = vt_fail("cannot read /%s", name);
    *n = (int)len;
  }
  H5Sclose(sp);
  H5Dclose(d);
  return rc;
}

/* The attributes: the format, then what every head has, then the
 * provenance (optional). */
static int read_attrs(hid_t f, vt_head_file *hf, int *n_layers, int *n_features) {
  if (H5Aexists(f, "format") <= 0) return vt_fail("not a vggtap head file (no 'format' attribute)");
  vt_head_attrs a;
  int rc = vt_head_attrs_read(f, &a), version = 0;
  if (rc == 0 && strcmp(a.format, VT_HEAD_FORMAT) != 0)
    rc = vt_fail("not a vggtap head file (format is '%.100s', expected '%s')", a.format, VT_HEAD_FORMAT);
  if (rc == 0 && int_attr("format_version", a.format_version, &version) < 0) rc = -1;
  if (rc == 0 && version > VT_HEAD_FORMAT_VERSION)
    rc = vt_fail("format_version %d is newer than this vggtap reads (%d)", version, VT_HEAD_FORMAT_VERSION);
  const struct { const char *name; const char *v; } strs[] = {
      {"tap", a.tap}, {"pooling", a.pooling}, {"preprocessing", a.preprocessing},
      {"resize", a.resize}, {"weights_sha256", a.weights_sha256}};
  for (size_t i = 0; rc == 0 && i < sizeof strs / sizeof strs[0]; i++)
    if (!strs[i].v) rc = missing(strs[i].name);
  if (rc == 0 && (int_attr("input_height", a.input_height, &hf->input_height) < 0 ||
                  int_attr("input_width", a.input_width, &hf->input_width) < 0 ||
                  int_attr("n_layers", a.n_layers, n_layers) < 0 ||
                  int_attr("n_features", a.n_features, n_features) < 0 ||
                  (a.best_epoch != VT_HEAD_ATTR_ABSENT && int_attr("best_epoch", a.best_epoch, &hf->best_epoch) < 0)))
    rc = -1;
  if (rc == 0) {
    hf->tap = take(&a.tap), hf->pooling = take(&a.pooling), hf->preprocessing = take(&a.preprocessing);
    hf->resize = take(&a.resize), hf->weights_sha256 = take(&a.weights_sha256);
    hf->store = take(&a.store), hf->eval_store = take(&a.eval_store);
    hf->feature_source = take(&a.feature_source), hf->config = take(&a.config), hf->command = take(&a.command);
    hf->augment = take(&a.augment);
    /* heads written before the precision was recorded are all fp32 */
    hf->precision = a.precision ? take(&a.precision) : vt_xstrdup("fp32");
  }
  hf->is_conv = a.head && strcmp(a.head, "conv") == 0;
  if (rc == 0 && hf->is_conv) { /* "<tap>/maps": no pooled recipe */
    if (!a.features) rc = missing("features");
    else hf->features = take(&a.features);
  } else if (rc == 0 && version >= 2) {
    vt_recipe r;
    if (!a.features || vt_recipe_parse(a.features, &r) < 0)
      rc = a.features ? vt_fail_prefix("attribute 'features'") : missing("features");
    else
      hf->features = take(&a.features);
  } else if (rc == 0) {
    /* format_version 1: one tap, stored pooled names joined by '+' */
    vt_pooling p;
    vt_recipe r;
    char taps[1][VT_TAP_NAME_MAX], text[4096];
    if (strlen(hf->tap) >= VT_TAP_NAME_MAX) {
      rc = vt_fail("tap '%s' is too long", hf->tap);
    } else {
      strcpy(taps[0], hf->tap);
      if (vt_pooling_parse(hf->pooling, &p) < 0 || vt_recipe_product(taps, 1, &p, &r) < 0) {
        rc = vt_fail_prefix("attribute 'pooling'");
      } else {
        vt_recipe_text(&r, text, sizeof text);
        hf->features = vt_xstrdup(text);
      }
    }
  }
  vt_head_attrs_free(&a);
  return rc;
}

static int read_split_rows(hid_t f, vt_head_file *hf) {
  return read_rows(f, "training/train_rows", &hf->n_train, &hf->train_rows) < 0 ||
                 read_rows(f, "training/val_rows", &hf->n_val, &hf->val_rows) < 0 ||
                 read_rows(f, "training/test_rows", &hf->n_test, &hf->test_rows) < 0
             ? -1
             : 0;
}

/* A conv head: the net in /convnet and how its maps are made. */
static int read_conv(hid_t f, vt_head_file *hf) {
  hf->map_reduce = H5Aexists(f, "map_reduce") > 0 ? vt_h5_read_str_attr(f, "map_reduce") : NULL;
  hf->mirror = H5Aexists(f, "mirror") > 0 ? vt_h5_read_str_attr(f, "mirror") : NULL;
  if (!hf->map_reduce) return missing("map_reduce");
  if (!hf->mirror) return missing("mirror");
  if (strcmp(hf->map_reduce, "none") && strcmp(hf->map_reduce, "avg2") && strcmp(hf->map_reduce, "avg4"))
    return vt_fail("attribute 'map_reduce' is '%s', not none, avg2 or avg4", hf->map_reduce);
  if (strcmp(hf->mirror, "none") && strcmp(hf->mirror, "stored") && strcmp(hf->mirror, "flip"))
    return vt_fail("attribute 'mirror' is '%s', not none, stored or flip", hf->mirror);
  if (vt_read_string_dataset(f, "classes", &hf->n_classes, &hf->classes) < 0) return -1;
  if (!vt_link_exists(f, "convnet")) return vt_fail("group /convnet is missing");
  hid_t g = H5Gopen2(f, "convnet", H5P_DEFAULT);
  if (g < 0) return vt_fail("cannot open group /convnet");
  int rc = vt_convnet_read(g, &hf->conv);
  H5Gclose(g);
  if (rc < 0) return vt_fail_prefix("/convnet");
  if (hf->conv.cfg.classes != hf->n_classes)
    return vt_fail("/convnet has %d classes, /classes %d", hf->conv.cfg.classes, hf->n_classes);
  return read_split_rows(f, hf);
}

static int read_contents(hid_t f, vt_head_file *hf) {
  int n_layers = 0, n_features = 0;
  if (read_attrs(f, hf, &n_layers, &n_features) < 0) return -1;
  if (hf->is_conv) return read_conv(f, hf);
  if (n_layers < 1 || n_layers > VT_HEAD_MAX_LAYERS)
    return vt_fail("n_layers %d is out of range 1..%d", n_layers, VT_HEAD_MAX_LAYERS);
  if (vt_read_string_dataset(f, "classes", &hf->n_classes, &hf->classes) < 0) return -1;

  /* layer shapes must chain: features -> hidden... -> classes */
  int dims[VT_HEAD_MAX_LAYERS + 1];
  for (int l = 0; l < n_layers; l++) {
    char name[64];
    snprintf(name, sizeof name, "layers/%d/kernel", l);
    int a = 0, b = 0;
    if (dims_2d(f, name, &a, &b) < 0) return -1;
    if (l == 0) dims[0] = a;
    if (a != dims[l]) return vt_fail("/%s has %d inputs, the layer before has %d outputs", name, a, dims[l]);
    dims[l + 1] = b;
  }
  if (dims[0] != n_features)
    return vt_fail("/layers/0/kernel has %d inputs, n_features is %d", dims[0], n_features);
  if (dims[n_layers] != hf->n_classes)
    return vt_fail("the last layer has %d outputs for %d classes", dims[n_layers], hf->n_classes);
  if (vt_head_init(&hf->head, dims[0], n_layers - 1, dims + 1, dims[n_layers]) < 0) return -1;
  for (int l = 0; l < n_layers; l++) {
    char name[64];
    snprintf(name, sizeof name, "layers/%d/kernel", l);
    if (read_floats(f, name, 2, dims[l], dims[l + 1], hf->head.W[l]) < 0) return -1;
    snprintf(name, sizeof name, "layers/%d/bias", l);
    if (read_floats(f, name, 1, dims[l + 1], 0, hf->head.b[l]) < 0) return -1;
  }
  hf->mean = vt_xmalloc(sizeof(float) * (size_t)dims[0]);
  hf->std = vt_xmalloc(sizeof(float) * (size_t)dims[0]);
  if (read_floats(f, "standardize/mean", 1, dims[0], 0, hf->mean) < 0 ||
      read_floats(f, "standardize/std", 1, dims[0], 0, hf->std) < 0)
    return -1;
  for (int j = 0; j < dims[0]; j++)
    if (!(hf->std[j] > 0)) return vt_fail("/standardize/std[%d] is not positive", j);
  return read_split_rows(f, hf);
}

int vt_head_file_read(const char *path, vt_head_file *hf) {
  memset(hf, 0, sizeof *hf);
  FILE *probe = fopen(path, "rb");
  if (!probe) return vt_fail("%s: cannot open: %s", path, strerror(errno));
  fclose(probe);
  if (H5Fis_hdf5(path) <= 0) return vt_fail("%s: not an HDF5 file (not a head.h5)", path);
  vt_crash_guard_set(path);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  int rc = f < 0 ? -1 : read_contents(f, hf);
  if (f >= 0) H5Fclose(f);
  vt_crash_guard_clear();
  if (f < 0) return vt_fail("%s: cannot open as HDF5 (corrupt or truncated?)", path);
  if (rc < 0) {
    vt_head_file_free(hf);
    return vt_fail_prefix("%s", path);
  }
  return 0;
}

void vt_head_file_free(vt_head_file *hf) {
  vt_head_free(&hf->head);
  if (hf->is_conv) vt_convnet_free(&hf->conv);
  free(hf->map_reduce);
  free(hf->mirror);
  free(hf->mean);
  free(hf->std);
  vt_free_strings(hf->classes, hf->n_classes);
  char *strs[] = {hf->tap, hf->pooling, hf->features, hf->preprocessing, hf->resize, hf->weights_sha256,
                  hf->store, hf->eval_store, hf->feature_source, hf->config, hf->command, hf->augment,
                  hf->precision};
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) free(strs[i]);
  free(hf->train_rows);
  free(hf->val_rows);
  free(hf->test_rows);
  memset(hf, 0, sizeof *hf);
}
