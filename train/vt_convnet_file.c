#include "vt_convnet_file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "store/vt_h5.h"
#include "store/vt_store_read.h"

static int write_double_attr(hid_t obj, const char *name, double v) {
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
  int rc = a < 0 || H5Awrite(a, H5T_NATIVE_DOUBLE, &v) < 0
               ? vt_fail("cannot write attribute %s: %s", name, vt_h5_os_error("HDF5 error"))
               : 0;
  if (a >= 0) H5Aclose(a);
  H5Sclose(sp);
  return rc;
}

static int read_double_attr(hid_t obj, const char *name, double *v) {
  if (H5Aexists(obj, name) <= 0) return vt_fail("attribute '%s' is missing", name);
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT), t = H5Aget_type(a), sp = H5Aget_space(a);
  int ok = H5Tget_class(t) == H5T_FLOAT && H5Sget_simple_extent_npoints(sp) == 1 &&
           H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0;
  H5Sclose(sp);
  H5Tclose(t);
  H5Aclose(a);
  return ok ? 0 : vt_fail("attribute '%s' is not a number", name);
}

/* A float32 array of the given shape (rank 1 to 4). */
static int write_array(hid_t loc, const char *name, const float *data, int rank,
                       const hsize_t *dims) {
  hid_t sp = H5Screate_simple(rank, dims, NULL), lcpl = vt_h5_lcpl();
  hid_t d = H5Dcreate2(loc, name, H5T_IEEE_F32LE, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  int rc = 0;
  if (d < 0 || H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    rc = vt_fail("cannot write dataset %s: %s", name, vt_h5_os_error("HDF5 error"));
  if (d >= 0 && H5Dclose(d) < 0)
    rc = vt_fail("cannot write dataset %s: %s", name, vt_h5_os_error("HDF5 error"));
  H5Pclose(lcpl);
  H5Sclose(sp);
  return rc;
}

/* Reads a float array that must have exactly the given shape and finite values. */
static int read_array(hid_t loc, const char *name, float *out, int rank, const hsize_t *dims) {
  if (!vt_link_exists(loc, name)) return vt_fail("dataset %s is missing", name);
  hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
  if (d < 0) return vt_fail("cannot open dataset %s", name);
  hid_t sp = H5Dget_space(d), t = H5Dget_type(d);
  hsize_t have[4] = {0};
  int ok = H5Tget_class(t) == H5T_FLOAT && H5Sget_simple_extent_ndims(sp) == rank;
  if (ok) H5Sget_simple_extent_dims(sp, have, NULL);
  size_t n = 1;
  for (int i = 0; i < rank; i++) {
    ok = ok && have[i] == dims[i];
    n *= dims[i];
  }
  H5Sclose(sp);
  H5Tclose(t);
  int rc = 0;
  if (!ok) {
    char shape[96] = "";
    for (int i = 0; i < rank; i++)
      snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%llu", i ? " x " : "",
               (unsigned long long)dims[i]);
    rc = vt_fail("dataset %s must be a float array of shape %s", name, shape);
  } else if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
    rc = vt_fail("cannot read dataset %s", name);
  }
  H5Dclose(d);
  for (size_t i = 0; rc == 0 && i < n; i++)
    if (!isfinite(out[i])) rc = vt_fail("dataset %s holds a non-finite value at %zu", name, i);
  return rc;
}

/* Every dataset of the net: name, data, shape. */
typedef struct {
  char name[48];
  float *data;
  int rank;
  hsize_t dims[4];
} array_desc;

static int describe(const vt_convnet *net, array_desc *a) {
  const vt_convnet_config *c = &net->cfg;
  int n = 0;
  for (int l = 0; l < c->n_convs; l++) {
    hsize_t k = (hsize_t)c->ksize[l], co = (hsize_t)c->width[l];
    a[n] = (array_desc){"", net->p.conv_k[l], 4, {k, k, (hsize_t)net->cin[l], co}};
    snprintf(a[n++].name, sizeof a->name, "conv/%d/kernel", l);
    const char *names[] = {"bias", "bn_gamma", "bn_beta", "bn_running_mean", "bn_running_var"};
    float *data[] = {net->p.conv_b[l], net->p.bn_gamma[l], net->p.bn_beta[l], net->bn_mean[l],
                     net->bn_var[l]};
    for (int i = 0; i < 5; i++) {
      if (!data[i]) continue;
      a[n] = (array_desc){"", data[i], 1, {co}};
      snprintf(a[n++].name, sizeof a->name, "conv/%d/%s", l, names[i]);
    }
  }
  a[n++] = (array_desc){"dense/kernel", net->p.fc_k, 2, {(hsize_t)net->feat, (hsize_t)c->classes}};
  a[n++] = (array_desc){"dense/bias", net->p.fc_b, 1, {(hsize_t)c->classes}};
  return n;
}

int vt_convnet_write(hid_t loc, const vt_convnet *net) {
  const vt_convnet_config *c = &net->cfg;
  char convs[256];
  vt_convnet_convs_text(c, convs, sizeof convs);
  struct { const char *k; long long v; } ints[] = {
      {"in_height", c->in_h}, {"in_width", c->in_w}, {"in_channels", c->in_c},
      {"in_pool", c->in_pool}, {"conv_bias", c->conv_bias}, {"grid", c->grid},
      {"classes", c->classes}, {"n_params", (long long)net->n_params}};
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
    if (vt_h5_write_int_attr(loc, ints[i].k, ints[i].v) < 0) return -1;
  if (vt_h5_write_str_attr(loc, "convs", convs) < 0 ||
      write_double_attr(loc, "dropout", c->dropout) < 0 ||
      write_double_attr(loc, "bn_eps", c->bn_eps) < 0 ||
      write_double_attr(loc, "bn_momentum", c->bn_momentum) < 0)
    return -1;
  array_desc a[6 * VT_CONVNET_MAX_CONVS + 2];
  int n = describe(net, a);
  for (int i = 0; i < n; i++)
    if (write_array(loc, a[i].name, a[i].data, a[i].rank, a[i].dims) < 0) return -1;
  return 0;
}

int vt_convnet_read(hid_t loc, vt_convnet *net) {
  memset(net, 0, sizeof *net);
  vt_convnet_config c;
  memset(&c, 0, sizeof c);
  const char *ikeys[] = {"in_height", "in_width", "in_channels", "in_pool", "conv_bias", "grid",
                         "classes"};
  int *ivals[] = {&c.in_h, &c.in_w, &c.in_c, &c.in_pool, &c.conv_bias, &c.grid, &c.classes};
  for (int i = 0; i < 7; i++) {
    long long v;
    if (vt_h5_read_int_attr(loc, ikeys[i], &v) < 0) return -1;
    if (v < 0 || v > 1 << 20) return vt_fail("attribute %s = %lld is out of range", ikeys[i], v);
    *ivals[i] = (int)v;
  }
  double dropout, eps, momentum;
  if (read_double_attr(loc, "dropout", &dropout) < 0 || read_double_attr(loc, "bn_eps", &eps) < 0 ||
      read_double_attr(loc, "bn_momentum", &momentum) < 0)
    return -1;
  c.dropout = (float)dropout;
  c.bn_eps = (float)eps;
  c.bn_momentum = (float)momentum;
  char *convs = vt_h5_read_str_attr(loc, "convs");
  if (!convs) return -1;
  int rc = vt_convnet_parse_convs(&c, convs);
  free(convs);
  if (rc < 0 || vt_convnet_init(net, &c) < 0) return -1;
  array_desc a[6 * VT_CONVNET_MAX_CONVS + 2];
  int n = describe(net, a);
  for (int i = 0; i < n; i++)
    if (read_array(loc, a[i].name, a[i].data, a[i].rank, a[i].dims) < 0) {
      vt_convnet_free(net);
      return -1;
    }
  return 0;
}
