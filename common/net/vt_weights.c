/* Reads VGG16 conv weights straight from a Keras .h5 file: the dataset
 * /<layer>/<layer>/kernel:0 (HWIO float32) and bias:0 for each conv layer.
 * Layers are found by name, so the official notop and full files, and any file
 * holding a leading prefix of the layers, all work. HDF5's own error printing
 * is silenced; every failure becomes one vt_fail reason naming the file and
 * the layer. */
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/vt_common.h"
#include "net/vt_vgg.h"
#include "net/vt_weights.h"
#include "base/vt_sha256.h"

static const vt_layer_def *conv_def(int conv_index) {
  for (int l = 0; l < VT_VGG16_NLAYERS; l++)
    if (vt_vgg16_layers[l].conv_index == conv_index) return &vt_vgg16_layers[l];
  return NULL;
}

/* The innermost HDF5 error message (where the error was first detected, e.g.
 * "truncated file: eof = ..."), which says far more than the API-level one. */
static herr_t keep_innermost(unsigned n, const H5E_error2_t *e, void *data) {
  if (n == 0) snprintf(data, 256, "%s", e->desc ? e->desc : "");
  return 0;
}

static const char *hdf5_reason(char buf[256]) {
  buf[0] = '\0';
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, keep_innermost, buf);
  return buf[0] ? buf : "unknown HDF5 error";
}

/* Opens path read-only, or fails with "not an HDF5 file" and the like (the
 * caller adds the path). */
static hid_t open_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return vt_fail("cannot open: %s", strerror(errno));
  struct stat st;
  int is_dir = fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode);
  fclose(f);
  if (is_dir) return vt_fail("is a directory, not a weights file");
  char why[256];
  htri_t is = H5Fis_hdf5(path);
  if (is == 0) return vt_fail("not an HDF5 file");
  if (is < 0) return vt_fail("not a readable HDF5 file (%s)", hdf5_reason(why));
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0) return vt_fail("corrupt or truncated HDF5 file (%s)", hdf5_reason(why));
  return file;
}

static int link_exists(hid_t loc, const char *name) { return H5Lexists(loc, name, H5P_DEFAULT) > 0; }

static void format_dims(char *buf, size_t n, int rank, const hsize_t *dims) {
  size_t used = (size_t)snprintf(buf, n, "(");
  for (int i = 0; i < rank && used < n; i++)
    used += (size_t)snprintf(buf + used, n - used, "%s%llu", i ? "," : "", (unsigned long long)dims[i]);
  if (used < n) snprintf(buf + used, n - used, "%s)", rank == 1 ? "," : "");
}

/* Opens /<layer>/<layer>/<what>:0 (or <what> without ":0", older Keras) and
 * checks that it is a float dataset of exactly this shape. Its short name
 * ("<layer>/<what>:0") goes to name for messages, also those of the caller. */
static hid_t open_weight(hid_t file, const char *layer, const char *what, int rank,
                         const hsize_t *want, char name[64]) {
  char path[128], why[256];
  snprintf(path, sizeof path, "%s/%s/%s:0", layer, layer, what);
  snprintf(name, 64, "%s/%s:0", layer, what);
  if (!link_exists(file, path)) {
    snprintf(path, sizeof path, "%s/%s/%s", layer, layer, what);
    if (!link_exists(file, path))
      return vt_fail("%s is missing (no dataset /%s/%s/%s:0)", name, layer, layer, what);
    snprintf(name, 64, "%s/%s", layer, what);
  }
  hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
  if (d < 0) return vt_fail("%s is not a readable dataset (%s)", name, hdf5_reason(why));
  hid_t type = H5Dget_type(d), space = H5Dget_space(d);
  H5T_class_t cls = type < 0 ? H5T_NO_CLASS : H5Tget_class(type);
  int got_rank = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
  hsize_t dims[H5S_MAX_RANK];
  int ok = cls == H5T_FLOAT && got_rank == rank;
  if (got_rank >= 0) H5Sget_simple_extent_dims(space, dims, NULL);
  for (int i = 0; ok && i < rank; i++) ok = dims[i] == want[i];
  if (type >= 0) H5Tclose(type);
  if (space >= 0) H5Sclose(space);
  if (ok) return d;
  H5Dclose(d);
  if (got_rank < 0) return vt_fail("%s has an unreadable dataspace", name);
  if (cls != H5T_FLOAT)
    return vt_fail("%s holds %s values, expected floating point", name,
                   cls == H5T_INTEGER ? "integer" : cls == H5T_STRING ? "string" : "non-numeric");
  char got_s[256], want_s[128];
  format_dims(got_s, sizeof got_s, got_rank, dims);
  format_dims(want_s, sizeof want_s, rank, want);
  return vt_fail("%s has shape %s, expected %s", name, got_s, want_s);
}

/* A conv layer's two datasets, open, with their names for messages. */
typedef struct {
  hid_t kernel, bias;
  char kernel_name[64], bias_name[64];
} layer_datasets;

/* Checks conv layer i: 1 = present and well-formed (datasets left open in d),
 * 0 = the layer's group is absent, -1 = present but malformed (with a
 * reason). */
static int check_layer(hid_t file, int i, layer_datasets *d) {
  const vt_layer_def *def = conv_def(i);
  if (!link_exists(file, def->name)) return 0;
  const hsize_t kdims[4] = {3, 3, (hsize_t)def->cin, (hsize_t)def->cout};
  const hsize_t bdims[1] = {(hsize_t)def->cout};
  hid_t kd = open_weight(file, def->name, "kernel", 4, kdims, d->kernel_name);
  if (kd < 0) return -1;
  hid_t bd = open_weight(file, def->name, "bias", 1, bdims, d->bias_name);
  if (bd < 0) {
    H5Dclose(kd);
    return -1;
  }
  d->kernel = kd, d->bias = bd;
  return 1;
}

static void close_layer(layer_datasets *d) {
  H5Dclose(d->kernel);
  H5Dclose(d->bias);
}

/* Reads a checked dataset as native float and rejects NaN/Inf, which would
 * otherwise spread silently through every feature. */
static int read_floats(hid_t d, const char *name, float *out, size_t n) {
  char why[256];
  if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
    return vt_fail("%s: cannot read (%s)", name, hdf5_reason(why));
  for (size_t j = 0; j < n; j++)
    if (!isfinite(out[j])) return vt_fail("%s holds a non-finite value at flat index %zu", name, j);
  return 0;
}

static int load_layer(hid_t file, const char *path, int i, vt_conv_weights *cw) {
  const vt_layer_def *def = conv_def(i);
  layer_datasets d;
  int st = check_layer(file, i, &d);
  if (st < 0) return vt_fail_prefix("%s", path);
  if (st == 0) {
    if (i == 0) return vt_fail("%s: holds no VGG16 conv layers; block1_conv1 is missing", path);
    return vt_fail("%s: holds block1_conv1..%s only; %s is missing", path, conv_def(i - 1)->name,
                   def->name);
  }
  size_t nk = (size_t)9 * (size_t)def->cin * (size_t)def->cout;
  cw->cin = def->cin, cw->cout = def->cout;
  cw->kernel = vt_aligned_alloc(nk * sizeof(float));
  cw->bias = vt_aligned_alloc((size_t)def->cout * sizeof(float));
  int rc = (cw->kernel && cw->bias) ? 0 : -1;
  if (rc == 0) rc = read_floats(d.kernel, d.kernel_name, cw->kernel, nk);
  if (rc == 0) rc = read_floats(d.bias, d.bias_name, cw->bias, (size_t)def->cout);
  close_layer(&d);
  return rc < 0 ? vt_fail_prefix("%s", path) : 0;
}

/* Runs with HDF5's automatic error printing off, restoring the caller's
 * setting afterwards. */
typedef struct {
  H5E_auto2_t func;
  void *data;
} quiet_state;

static void hdf5_quiet(quiet_state *s) {
  H5Eget_auto2(H5E_DEFAULT, &s->func, &s->data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void hdf5_restore(const quiet_state *s) { H5Eset_auto2(H5E_DEFAULT, s->func, s->data); }

int vt_weights_load(const char *path, int n_conv, vt_weights *w) {
  memset(w, 0, sizeof *w);
  if (n_conv < 1 || n_conv > VT_VGG16_NCONV)
    return vt_fail("%s: cannot load %d conv layers (VGG16 has 1..%d)", path, n_conv, VT_VGG16_NCONV);
  quiet_state q;
  hdf5_quiet(&q);
  hid_t file = open_file(path);
  int rc = file < 0 ? vt_fail_prefix("%s", path) : 0;
  for (int i = 0; rc == 0 && i < n_conv; i++) {
    rc = load_layer(file, path, i, &w->conv[i]);
    w->n_conv = i + 1; /* so that vt_weights_free releases a partial load */
  }
  if (file >= 0) H5Fclose(file);
  hdf5_restore(&q);
  if (rc == 0 && vt_weights_pack(w) < 0) rc = vt_fail_prefix("%s", path);
  if (rc == 0) rc = vt_sha256_file(path, w->sha256);
  if (rc < 0) vt_weights_free(w);
  return rc;
}

int vt_weights_pack(vt_weights *w) {
  for (int i = 0; i < w->n_conv; i++) {
    vt_conv_weights *cw = &w->conv[i];
    if (!cw->packed && !(cw->packed = vt_conv3x3_pack(cw->kernel, cw->bias, cw->cin, cw->cout, VT_CONV_AUTO)))
      return vt_fail_prefix("%s", conv_def(i)->name);
  }
  return 0;
}

int vt_weights_count(const char *path) {
  quiet_state q;
  hdf5_quiet(&q);
  hid_t file = open_file(path);
  int n = file < 0 ? vt_fail_prefix("%s", path) : 0;
  layer_datasets d;
  while (n >= 0 && n < VT_VGG16_NCONV && check_layer(file, n, &d) == 1) {
    close_layer(&d);
    n++;
  }
  if (file >= 0) H5Fclose(file);
  hdf5_restore(&q);
  return n;
}

void vt_weights_free(vt_weights *w) {
  for (int i = 0; i < w->n_conv; i++) {
    free(w->conv[i].kernel);
    free(w->conv[i].bias);
    vt_conv3x3_packed_free(w->conv[i].packed);
  }
  memset(w, 0, sizeof *w);
}
