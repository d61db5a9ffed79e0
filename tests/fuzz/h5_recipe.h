/* h5_recipe.h: turns fuzz input into a well-formed HDF5 file, for the
 * harnesses of our HDF5 readers (weights, store).
 *
 * Why not fuzz the file's bytes: libhdf5 1.10 itself is not robust to damaged
 * containers (within a minute of byte-level fuzzing it over-reads in
 * H5HG_read and leaks on failed opens, inside the library), so byte-level
 * fuzzing tests libhdf5, not us, and fails CI on bugs we cannot fix. Here the
 * input is a recipe of groups, datasets and attributes, written with
 * libhdf5's writer: every file is a valid container, and what varies is what
 * our readers must check (which objects exist, their names, types, ranks,
 * shapes, string contents, attribute types and values, NaNs).
 *
 * Recipe: a sequence of operations; reading past the end yields zeros.
 *   op % 3 == 0  group     PATH
 *   op % 3 == 1  dataset   PATH type rank dims[rank] fill [values]
 *   op % 3 == 2  attribute PATH name kind value...
 * PATH is a depth byte (1 + d % 3) and that many indexes into h5r_names.
 * tests/fuzz/make_seeds.sh encodes the seed files with the same tables
 * (tests/fuzz/h5_recipe.py reads them from this header). */
#ifndef H5_RECIPE_H
#define H5_RECIPE_H

#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/vt_h5.h"

/* Object names our readers look up (and a few they do not). */
static const char *const h5r_names[] = {
    "images", "pooled", "features", "classes", "path", "label", "split", "status", "error", "width",
    "height", "block1_pool", "block2_pool", "block1_conv1", "block1_conv2", "block2_conv1",
    "block2_conv2", "avg1", "max1", "avg2", "max2", "kernel:0", "bias:0", "kernel", "bias", "input_1",
};
/* Attribute names. */
static const char *const h5r_attrs[] = {
    "format", "format_version", "taps", "grids", "input_height", "input_width", "preprocessing",
    "resize", "map_dtype", "weights_sha256", "tool_version", "source", "data_root", "command",
    "compression", "rows_digest", "layer_names", "weight_names", "backend", "op", "grid", "layer",
    "max_pixels",
};
/* String values (index 0 is replaced by raw input bytes). */
static const char *const h5r_strings[] = {
    "", "vggtap-store", "block1_pool", "block1_pool,block2_pool", "1,2", "1", "caffe", "torch",
    "antialias", "nearest", "float32", "float16", "none", "avg", "max", "tensorflow",
    "block1_conv1/kernel:0", "block1_conv1/bias:0", "block1_conv1", "0.1.0", "cat", "dog",
    "block9_pool", ",", "deflate-4", "folders",
};
/* Integer values. */
static const long long h5r_ints[] = {0, 1, 2, 3, -1, 4, 8, 16, 32, 64, 224, 100000, 2147483647, -2147483647 - 1};
/* Dimension sizes. */
static const hsize_t h5r_dims[] = {0, 1, 2, 3, 4, 5, 8, 16, 64, 128, 256};

enum { H5R_MAX_ELEMENTS = 300000, H5R_MAX_OPS = 64 };

#define H5R_COUNT(a) (sizeof(a) / sizeof *(a))

typedef struct {
  const uint8_t *p;
  size_t n, at;
} h5r_input;

static unsigned h5r_byte(h5r_input *in) { return in->at < in->n ? in->p[in->at++] : 0; }

static void h5r_path(h5r_input *in, char *path, size_t size) {
  int depth = 1 + (int)(h5r_byte(in) % 3);
  path[0] = '\0';
  for (int i = 0; i < depth; i++) {
    size_t len = strlen(path);
    snprintf(path + len, size - len, "%s%s", i ? "/" : "", h5r_names[h5r_byte(in) % H5R_COUNT(h5r_names)]);
  }
}

/* A string value: from the table, or up to 12 raw input bytes (any bytes,
 * not necessarily UTF-8, no NUL). */
static void h5r_string(h5r_input *in, char out[16]) {
  unsigned k = h5r_byte(in) % H5R_COUNT(h5r_strings);
  if (k) {
    snprintf(out, 16, "%s", h5r_strings[k]);
    return;
  }
  unsigned len = h5r_byte(in) % 13;
  for (unsigned i = 0; i < len; i++) out[i] = (char)(h5r_byte(in) | 1);
  out[len] = '\0';
}

static hid_t h5r_str_type(int fixed) {
  if (!fixed) return vt_h5_str_type();
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, 16);
  return t;
}

static void h5r_dataset(hid_t file, h5r_input *in, const char *path) {
  unsigned type = h5r_byte(in) % 8; /* f32 f64 f16 i32 u8 i64 vlen-str fixed-str */
  int rank = (int)(h5r_byte(in) % 5);
  hsize_t dims[4];
  size_t n = 1;
  for (int i = 0; i < rank; i++) {
    dims[i] = h5r_dims[h5r_byte(in) % H5R_COUNT(h5r_dims)];
    n *= (size_t)dims[i];
  }
  unsigned fill = h5r_byte(in) % 6; /* zeros, index, input bytes, NaN/inf mix, i % 3, ones */
  if (n > H5R_MAX_ELEMENTS) return;
  hid_t space = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR), lcpl = vt_h5_lcpl();
  if (type >= 6) {
    int fixed = type == 7;
    hid_t t = h5r_str_type(fixed);
    char(*buf)[16] = calloc(n ? n : 1, sizeof *buf);
    const char **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    for (size_t i = 0; i < n; i++) {
      if (fill == 2) h5r_string(in, buf[i]);
      else snprintf(buf[i], 16, "%s", h5r_strings[(i + fill) % H5R_COUNT(h5r_strings)]);
      ptrs[i] = buf[i];
    }
    hid_t d = H5Dcreate2(file, path, t, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (d >= 0) {
      if (n) H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, fixed ? (const void *)buf : (const void *)ptrs);
      H5Dclose(d);
    }
    H5Tclose(t);
    free(buf);
    free(ptrs);
  } else {
    double *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) {
      switch (fill) {
      case 0: v[i] = 0; break;
      case 1: v[i] = (double)i; break;
      case 2: v[i] = (double)(int8_t)h5r_byte(in) / 4; break;
      case 3: v[i] = i % 3 == 0 ? NAN : i % 3 == 1 ? INFINITY : -1e30; break;
      case 4: v[i] = (double)(i % 3); break;
      default: v[i] = 1; break;
      }
      if (type >= 3 && !isfinite(v[i])) v[i] = -1; /* integer types */
    }
    hid_t ft = type == 0 ? H5Tcopy(H5T_IEEE_F32LE) : type == 1 ? H5Tcopy(H5T_IEEE_F64LE)
               : type == 2 ? vt_h5_half_type() : type == 3 ? H5Tcopy(H5T_STD_I32LE)
               : type == 4 ? H5Tcopy(H5T_STD_U8LE) : H5Tcopy(H5T_STD_I64LE);
    hid_t d = H5Dcreate2(file, path, ft, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (d >= 0) {
      /* the library converts (values out of an integer type's range are clipped) */
      if (n) H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
      H5Dclose(d);
    }
    H5Tclose(ft);
    free(v);
  }
  H5Pclose(lcpl);
  H5Sclose(space);
}

static void h5r_attribute(hid_t file, h5r_input *in, const char *path) {
  const char *name = h5r_attrs[h5r_byte(in) % H5R_COUNT(h5r_attrs)];
  unsigned kind = h5r_byte(in) % 5; /* vlen string, int, string array, float, fixed string */
  hid_t obj = H5Oopen(file, path, H5P_DEFAULT);
  if (obj < 0) obj = H5Oopen(file, "/", H5P_DEFAULT);
  if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
  if (kind == 1 || kind == 3) {
    unsigned k = h5r_byte(in);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t t = kind == 1 ? H5Tcopy(H5T_STD_I64LE) : H5Tcopy(H5T_IEEE_F64LE);
    long long iv = h5r_ints[k % H5R_COUNT(h5r_ints)];
    double dv = (double)iv + 0.5;
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) {
      if (kind == 1) H5Awrite(a, H5T_NATIVE_LLONG, &iv);
      else H5Awrite(a, H5T_NATIVE_DOUBLE, &dv);
      H5Aclose(a);
    }
    H5Tclose(t);
    H5Sclose(sp);
  } else {
    hsize_t n = kind == 2 ? h5r_byte(in) % 6 : 1;
    char buf[6][16];
    const char *ptrs[6];
    for (hsize_t i = 0; i < n; i++) {
      h5r_string(in, buf[i]);
      ptrs[i] = buf[i];
    }
    hid_t t = h5r_str_type(kind == 4);
    hid_t sp = kind == 2 ? H5Screate_simple(1, &n, NULL) : H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) {
      if (n) H5Awrite(a, t, kind == 4 ? (const void *)buf[0] : (const void *)ptrs);
      H5Aclose(a);
    }
    H5Tclose(t);
    H5Sclose(sp);
  }
  H5Oclose(obj);
}

/* Writes the file the recipe describes to path; returns 0, or -1 if the
 * file could not be created (a harness problem, not a finding). */
static int h5r_build(const uint8_t *data, size_t size, const char *path) {
  h5r_input in = {data, size, 0};
  hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file < 0) return -1;
  for (int ops = 0; in.at < in.n && ops < H5R_MAX_OPS; ops++) {
    unsigned op = h5r_byte(&in) % 3;
    char p[128];
    h5r_path(&in, p, sizeof p);
    if (op == 0) {
      hid_t lcpl = vt_h5_lcpl(), g = H5Gcreate2(file, p, lcpl, H5P_DEFAULT, H5P_DEFAULT);
      if (g >= 0) H5Gclose(g);
      H5Pclose(lcpl);
    } else if (op == 1) {
      h5r_dataset(file, &in, p);
    } else {
      h5r_attribute(file, &in, p);
    }
  }
  return H5Fclose(file) < 0 ? -1 : 0;
}

#endif
