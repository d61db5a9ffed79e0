/* The store reader on stores written here with the HDF5 C API: the per-row
 * index, classes and attributes come back as written (variable- and
 * fixed-length strings alike), pooled rows are read by range, float16 maps
 * convert exactly, and malformed stores fail with reasons that name the
 * problem. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/vt_common.h"
#include "store/vt_h5.h"
#include "base/vt_half.h"
#include "store/vt_store_read.h"
#include "store/vt_store_schema.h"

#include "vt_test.h"

enum { N = 5, H = 3, W = 4, C = 2 };

/* A 1-D dataset of fixed-length (NUL-padded) strings, as numpy 'S' arrays give. */
static void write_fixed_strings(hid_t f, const char *name, const char *const *s, size_t n) {
  size_t len = 1;
  for (size_t i = 0; i < n; i++) len = strlen(s[i]) > len ? strlen(s[i]) : len;
  char *buf = calloc(n, len);
  for (size_t i = 0; i < n; i++) memcpy(buf + i * len, s[i], strlen(s[i]));
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, len);
  H5Tset_strpad(t, H5T_STR_NULLPAD);
  hsize_t dim = (hsize_t)n;
  hid_t sp = H5Screate_simple(1, &dim, NULL), lcpl = vt_h5_lcpl();
  hid_t d = H5Dcreate2(f, name, t, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  H5Dclose(d);
  H5Pclose(lcpl);
  H5Sclose(sp);
  H5Tclose(t);
  free(buf);
}

static void write_nd(hid_t f, const char *name, hid_t ftype, hid_t mtype, int rank,
                     const hsize_t *dims, const void *data) {
  hid_t sp = H5Screate_simple(rank, dims, NULL), lcpl = vt_h5_lcpl();
  hid_t d = H5Dcreate2(f, name, ftype, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  H5Dclose(d);
  H5Pclose(lcpl);
  H5Sclose(sp);
}

typedef enum { GOOD, NO_FORMAT, NEWER, BAD_STATUS, SHORT_STATUS, NO_PATH, POOLED_ROWS } variant;

static void write_store(const char *path, variant v, int fixed_strings) {
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (v != NO_FORMAT) vt_h5_write_str_attr(f, "format", VT_STORE_FORMAT);
  vt_h5_write_int_attr(f, "format_version", v == NEWER ? 7 : 1);
  vt_h5_write_str_attr(f, "taps", "block1_pool,block2_pool");
  vt_h5_write_str_attr(f, "preprocessing", "caffe");
  vt_h5_write_str_attr(f, "resize", "nearest");
  vt_h5_write_str_attr(f, "weights_sha256", "abc123");
  vt_h5_write_int_attr(f, "input_height", 224);
  vt_h5_write_int_attr(f, "input_width", 200);
  const char *classes[] = {"round", "v_neck"};
  const char *paths[N] = {"round/a.jpg", "round/b.jpg", "v_neck/c.jpg", "x/d.png", "v_neck/é.jpg"};
  const char *splits[N] = {"train", "val", "train", "", "test"};
  const char *errors[N] = {"", "", "", "truncated JPEG", ""};
  int32_t labels[N] = {0, 0, 1, -1, 1};
  uint8_t status[N] = {1, 1, v == BAD_STATUS ? 0 : 1, 2, 1};
  if (fixed_strings) {
    write_fixed_strings(f, "classes", classes, 2);
    if (v != NO_PATH) write_fixed_strings(f, "images/path", paths, N);
    write_fixed_strings(f, "images/split", splits, N);
    write_fixed_strings(f, "images/error", errors, N);
  } else {
    vt_h5_write_strings(f, "classes", classes, 2);
    if (v != NO_PATH) vt_h5_write_strings(f, "images/path", paths, N);
    vt_h5_write_strings(f, "images/split", splits, N);
    vt_h5_write_strings(f, "images/error", errors, N);
  }
  vt_h5_write_1d(f, "images/label", H5T_NATIVE_INT32, labels, N);
  vt_h5_write_1d(f, "images/status", H5T_NATIVE_UINT8, status, v == SHORT_STATUS ? N - 1 : N);
  float pooled[N][C];
  for (int i = 0; i < N; i++)
    for (int j = 0; j < C; j++) pooled[i][j] = (float)(10 * i + j);
  hsize_t pdims[2] = {v == POOLED_ROWS ? N + 1 : N, C};
  float *pbuf = calloc((size_t)(N + 1) * C, sizeof(float));
  memcpy(pbuf, pooled, sizeof pooled);
  write_nd(f, "pooled/block1_pool/avg1", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, pdims, pbuf);
  free(pbuf);
  /* float16 maps whose values are exact in half precision */
  uint16_t maps[N * H * W * C];
  for (int i = 0; i < N * H * W * C; i++) maps[i] = vt_float_to_half((float)(i % 97) * 0.25f - 3.0f);
  hsize_t mdims[4] = {N, H, W, C};
  hid_t half = vt_h5_half_type();
  write_nd(f, "features/block1_pool", half, half, 4, mdims, maps);
  H5Tclose(half);
  H5Fclose(f);
}

static void test_good(const char *path, int fixed) {
  write_store(path, GOOD, fixed);
  vt_store s;
  if (vt_store_open(path, &s) < 0) {
    CHECK(0, "open (%s strings): %s", fixed ? "fixed" : "vlen", vt_failure_reason());
    return;
  }
  CHECK(s.n_rows == N && s.n_classes == 2, "rows %d classes %d", s.n_rows, s.n_classes);
  CHECK(!strcmp(s.classes[1], "v_neck"), "class 1 '%s'", s.classes[1]);
  CHECK(!strcmp(s.paths[4], "v_neck/é.jpg"), "UTF-8 path '%s'", s.paths[4]);
  CHECK(!strcmp(s.splits[1], "val") && !strcmp(s.splits[3], ""), "splits '%s' '%s'", s.splits[1], s.splits[3]);
  CHECK(!strcmp(s.errors[3], "truncated JPEG") && !strcmp(s.errors[0], ""), "errors");
  CHECK(s.labels[3] == -1 && s.labels[2] == 1 && s.status[3] == VT_ROW_FAILED, "labels/status");
  CHECK(s.input_height == 224 && s.input_width == 200 && !strcmp(s.resize, "nearest"), "attrs");
  CHECK(!strcmp(s.map_dtype, "") && !strcmp(s.grids, ""), "absent optional attrs read as \"\"");
  CHECK(vt_store_has_tap(&s, "block2_pool") && vt_store_has_tap(&s, "block1_pool") &&
            !vt_store_has_tap(&s, "block1") && !vt_store_has_tap(&s, "block2_poo"),
        "has_tap matches whole names only");
  int dim = 0;
  CHECK(vt_store_pooled_dim(&s, "block1_pool", "avg1", &dim) == 1 && dim == C, "pooled dim %d", dim);
  CHECK(vt_store_pooled_dim(&s, "block1_pool", "max1", &dim) == 0, "absent pooled dataset");
  CHECK(vt_store_pooled_dim(&s, "block9_pool", "avg1", &dim) == 0, "absent tap group");
  float rows[2 * C];
  CHECK(vt_store_pooled_read(&s, "block1_pool", "avg1", 3, 2, C, rows) == 0 && rows[0] == 30 &&
            rows[1] == 31 && rows[2] == 40 && rows[3] == 41,
        "pooled rows 3..4");
  CHECK(vt_store_pooled_read(&s, "block1_pool", "avg1", 4, 2, C, rows) < 0 &&
            strstr(vt_failure_reason(), "out of range"),
        "reading past the end failures: %s", vt_failure_reason());
  vt_store_maps m;
  CHECK(vt_store_maps_open(&s, "block1_pool", &m) == 1 && m.h == H && m.w == W && m.c == C, "maps open");
  float map[H * W * C];
  int exact = vt_store_maps_read(&m, 2, map) == 0;
  for (int i = 0; i < H * W * C && exact; i++)
    exact = map[i] == (float)((2 * H * W * C + i) % 97) * 0.25f - 3.0f;
  CHECK(exact, "float16 map row 2 converts exactly");
  CHECK(vt_store_maps_read(&m, N, map) < 0, "map row past the end failures");
  vt_store_maps_close(&m);
  CHECK(vt_store_maps_open(&s, "block2_pool", &m) == 0, "no maps for block2_pool");
  vt_store_close(&s);
}

static void test_bad(const char *path, variant v, const char *want) {
  write_store(path, v, 0);
  vt_store s;
  int rc = vt_store_open(path, &s);
  CHECK(rc < 0 && strstr(vt_failure_reason(), want) && strstr(vt_failure_reason(), path),
        "variant %d: rc %d, reason '%s', want '%s'", v, rc, vt_failure_reason(), want);
  if (rc == 0) vt_store_close(&s);
}

int main(void) {
  vt_h5_quiet();
  char path[64];
  snprintf(path, sizeof path, "/tmp/vt_store_read_%ld.h5", (long)getpid());
  test_good(path, 0);
  test_good(path, 1);
  test_bad(path, NO_FORMAT, "not a vggtap store");
  test_bad(path, NEWER, "format_version 7 is newer");
  test_bad(path, BAD_STATUS, "row 2 (v_neck/c.jpg) is still pending");
  test_bad(path, SHORT_STATUS, "/images/status has 4 rows");
  test_bad(path, NO_PATH, "/images/path is missing");
  write_store(path, POOLED_ROWS, 0);
  vt_store s;
  int dim;
  if (vt_store_open(path, &s) == 0) {
    CHECK(vt_store_pooled_dim(&s, "block1_pool", "avg1", &dim) < 0 && strstr(vt_failure_reason(), "has 6 rows"),
          "pooled dataset with the wrong row count: %s", vt_failure_reason());
    vt_store_close(&s);
  }
  FILE *f = fopen(path, "wb");
  fputs("path,label\n", f);
  fclose(f);
  CHECK(vt_store_open(path, &s) < 0 && strstr(vt_failure_reason(), "not an HDF5 file"), "CSV: %s",
        vt_failure_reason());
  unlink(path);
  CHECK(vt_store_open("/nonexistent/store.h5", &s) < 0 &&
            strstr(vt_failure_reason(), "cannot open: No such file or directory"),
        "missing file, with the reason: %s", vt_failure_reason());
  /* an extraction still running (or interrupted) has only PATH.partial/ */
  char partial[80];
  snprintf(partial, sizeof partial, "%s.partial", path);
  mkdir(partial, 0777);
  CHECK(vt_store_open(path, &s) < 0 && strstr(vt_failure_reason(), "is not finished") &&
            strstr(vt_failure_reason(), partial),
        "a store still being extracted: %s", vt_failure_reason());
  rmdir(partial);
  printf("%s\n", failures ? "store reader: FAILED" : "store reader: all checks passed");
  return failures ? 1 : 0;
}
