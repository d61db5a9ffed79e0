/* The Keras weights reader on the real prefix file (values published in
 * other public code, see data/weights/README.md) and on foreign,
 * truncated and malformed files written here. Every failure must name the file
 * and say why, and HDF5 must print nothing itself. */
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/vt_common.h"
#include "net/vt_weights.h"

#include "vt_test.h"

static char tmpdir[256];

static float kernel_at(const vt_conv_weights *c, int h, int w, int i, int o) {
  return c->kernel[((h * 3 + w) * c->cin + i) * c->cout + o];
}

/* Loading must fail, and the reason must contain every given fragment. */
static void expect_failure(const char *path, int n_conv, const char *a, const char *b, const char *c) {
  vt_weights w;
  int rc = vt_weights_load(path, n_conv, &w);
  const char *why = vt_failure_reason();
  printf("load(%s, %d) -> %d: %s\n", path, n_conv, rc, rc < 0 ? why : "");
  CHECK(rc == -1, "loading %s should fail", path);
  CHECK(w.n_conv == 0 && w.conv[0].kernel == NULL, "a failed load leaves nothing allocated");
  const char *parts[] = {path, a, b, c};
  for (int i = 0; i < 4; i++) CHECK(!parts[i] || strstr(why, parts[i]), "reason lacks \"%s\"", parts[i]);
}

static void write_bytes(const char *path, const void *data, size_t n) {
  FILE *f = vt_fopen_check(path, "wb");
  if (n) fwrite(data, 1, n, f);
  fclose(f);
}

static void test_real_prefix(const char *path) {
  vt_weights w;
  int rc = vt_weights_load(path, 4, &w);
  CHECK(rc == 0, "loading 4 layers: %s", vt_failure_reason());
  if (rc < 0) return;
  CHECK(w.n_conv == 4, "n_conv %d", w.n_conv);
  const int cin[4] = {3, 64, 64, 128}, cout[4] = {64, 64, 128, 128};
  for (int i = 0; i < 4; i++) CHECK(w.conv[i].cin == cin[i] && w.conv[i].cout == cout[i], "layer %d shape", i);
  /* kernel[:, :, 0, 0] of block1_conv1, row-major, exact float32. */
  const float k00[9] = {0.42947057f, 0.373467f, -0.061360113f, 0.27476987f, 0.038680777f,
                        -0.36722335f, -0.05746817f, -0.26224968f, -0.35009676f};
  for (int j = 0; j < 9; j++)
    CHECK(kernel_at(&w.conv[0], j / 3, j % 3, 0, 0) == k00[j], "block1_conv1 kernel[%d,%d,0,0] = %.9g", j / 3,
          j % 3, kernel_at(&w.conv[0], j / 3, j % 3, 0, 0));
  CHECK(kernel_at(&w.conv[0], 0, 0, 1, 0) == 0.55037946f, "block1_conv1 kernel[0,0,1,0]");
  CHECK(kernel_at(&w.conv[0], 0, 0, 2, 0) == 0.4800154f, "block1_conv1 kernel[0,0,2,0] (R = channel 2)");
  CHECK(kernel_at(&w.conv[1], 2, 2, 63, 63) == 0.016082443f, "block1_conv2 kernel[2,2,63,63]");
  CHECK(kernel_at(&w.conv[1], 0, 0, 0, 0) == 0.16621928f, "block1_conv2 kernel[0,0,0,0]");
  CHECK(kernel_at(&w.conv[2], 0, 0, 0, 0) == -0.008902963f, "block2_conv1 kernel[0,0,0,0]");
  CHECK(kernel_at(&w.conv[3], 0, 0, 0, 0) == -0.0023012366f, "block2_conv2 kernel[0,0,0,0]");
  /* Biases are stored to half an LSB of the source's fixed point. */
  CHECK(fabsf(w.conv[0].bias[0] - 0.73429835f) <= 0x1p-13f, "block1_conv1 bias[0] = %.9g", w.conv[0].bias[0]);
  CHECK(fabsf(w.conv[0].bias[1] - 0.093403675f) <= 0x1p-13f, "block1_conv1 bias[1] = %.9g", w.conv[0].bias[1]);
  CHECK(fabsf(w.conv[0].bias[25] - 0.7446502f) <= 0x1p-13f, "block1_conv1 bias[25] = %.9g", w.conv[0].bias[25]);
  CHECK(fabsf(w.conv[2].bias[1] - 0.06440781f) <= 0x1p-15f, "block2_conv1 bias[1] = %.9g", w.conv[2].bias[1]);
  CHECK(strcmp(w.sha256, "0125efb5c0d76fdb66f5d1d09c5f1f95e82262000f736f3190b6532ca28f07be") == 0,
        "sha256 %s", w.sha256);
  printf("real prefix: 4 layers, published values match, sha256 %s\n", w.sha256);
  vt_weights_free(&w);
  CHECK(w.n_conv == 0 && w.conv[0].kernel == NULL, "free clears the struct");

  /* Fewer layers than the file holds: only those are read. */
  rc = vt_weights_load(path, 1, &w);
  CHECK(rc == 0 && w.n_conv == 1 && w.conv[1].kernel == NULL, "loading 1 layer");
  vt_weights_free(&w);

  int n = vt_weights_count(path);
  CHECK(n == 4, "count %d, expected 4", n);
  /* Deeper than the file: the reason names the file, what it holds and the
   * first missing layer (block3_conv1 is the 5th conv). */
  expect_failure(path, 5, "block1_conv1..block2_conv2 only", "block3_conv1 is missing", NULL);
  expect_failure(path, 13, "block1_conv1..block2_conv2 only", "block3_conv1 is missing", NULL);
  expect_failure(path, 0, "1..13", NULL, NULL);
  expect_failure(path, 14, "1..13", NULL, NULL);
}

/* Truncated copies of the real file must fail cleanly at any cut. */
static void test_truncated(const char *real) {
  FILE *f = fopen(real, "rb");
  CHECK(f != NULL, "open %s", real);
  if (!f) return;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *buf = vt_xmalloc((size_t)size);
  CHECK(fread(buf, 1, (size_t)size, f) == (size_t)size, "read %s", real);
  fclose(f);
  const long cuts[] = {8, 100, 2048, size / 2, size - 1};
  char path[512];
  snprintf(path, sizeof path, "%s/truncated.h5", tmpdir);
  for (int i = 0; i < 5; i++) {
    write_bytes(path, buf, (size_t)cuts[i]);
    expect_failure(path, 4, NULL, NULL, NULL);
    CHECK(vt_weights_count(path) == -1, "count of a file cut at %ld", cuts[i]);
  }
  unlink(path);
  free(buf);
}

/* A small HDF5 file in Keras layout written with the HDF5 API; the caller
 * breaks one layer at a time. */
static hid_t create_h5(const char *path) {
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) {
    printf("cannot create %s\n", path);
    exit(1);
  }
  return f;
}

static void put(hid_t f, const char *name, hid_t type, int rank, const hsize_t *dims, double fill) {
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t space = H5Screate_simple(rank, dims, NULL);
  hid_t d = H5Dcreate2(f, name, type, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  size_t n = 1;
  for (int i = 0; i < rank; i++) n *= dims[i];
  double *v = vt_xmalloc(n * sizeof *v);
  for (size_t i = 0; i < n; i++) v[i] = fill + 1e-3 * (double)(i % 97);
  H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
  free(v);
  H5Dclose(d);
  H5Sclose(space);
  H5Pclose(lcpl);
}

static void put_block1_conv1(hid_t f, const char *suffix, hid_t type) {
  char k[64], b[64];
  snprintf(k, sizeof k, "block1_conv1/block1_conv1/kernel%s", suffix);
  snprintf(b, sizeof b, "block1_conv1/block1_conv1/bias%s", suffix);
  put(f, k, type, 4, (hsize_t[]){3, 3, 3, 64}, 0.5);
  put(f, b, type, 1, (hsize_t[]){64}, -0.25);
}

static void test_synthetic(void) {
  char path[512];
  snprintf(path, sizeof path, "%s/w.h5", tmpdir);
  vt_weights w;

  /* Wrong kernel shape in the second layer. */
  hid_t f = create_h5(path);
  put_block1_conv1(f, ":0", H5T_IEEE_F32LE);
  put(f, "block1_conv2/block1_conv2/kernel:0", H5T_IEEE_F32LE, 4, (hsize_t[]){3, 3, 32, 64}, 0);
  put(f, "block1_conv2/block1_conv2/bias:0", H5T_IEEE_F32LE, 1, (hsize_t[]){64}, 0);
  H5Fclose(f);
  CHECK(vt_weights_count(path) == 1, "count with a bad 2nd layer: %d", vt_weights_count(path));
  CHECK(vt_weights_load(path, 1, &w) == 0 && w.conv[0].kernel[1] == 0.501f && w.conv[0].bias[0] == -0.25f,
        "first layer of a file whose second is malformed: %s", vt_failure_reason());
  vt_weights_free(&w);
  expect_failure(path, 2, "block1_conv2/kernel:0 has shape (3,3,32,64), expected (3,3,64,64)", NULL, NULL);

  /* Bias of the wrong rank, integer kernel, a layer group without datasets. */
  f = create_h5(path);
  put(f, "block1_conv1/block1_conv1/kernel:0", H5T_IEEE_F32LE, 4, (hsize_t[]){3, 3, 3, 64}, 0);
  put(f, "block1_conv1/block1_conv1/bias:0", H5T_IEEE_F32LE, 2, (hsize_t[]){64, 1}, 0);
  H5Fclose(f);
  expect_failure(path, 1, "block1_conv1/bias:0 has shape (64,1), expected (64,)", NULL, NULL);
  f = create_h5(path);
  put(f, "block1_conv1/block1_conv1/kernel:0", H5T_STD_I32LE, 4, (hsize_t[]){3, 3, 3, 64}, 0);
  put(f, "block1_conv1/block1_conv1/bias:0", H5T_IEEE_F32LE, 1, (hsize_t[]){64}, 0);
  H5Fclose(f);
  expect_failure(path, 1, "block1_conv1/kernel:0 holds integer values", NULL, NULL);
  f = create_h5(path);
  H5Gclose(H5Gcreate2(f, "block1_conv1", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  H5Fclose(f);
  expect_failure(path, 1, "block1_conv1/kernel:0 is missing", NULL, NULL);
  CHECK(vt_weights_count(path) == 0, "count of a file with an empty block1_conv1");

  /* An HDF5 file that is not a Keras weights file at all. */
  f = create_h5(path);
  put(f, "features/block1_pool", H5T_IEEE_F32LE, 1, (hsize_t[]){4}, 0);
  H5Fclose(f);
  CHECK(vt_weights_count(path) == 0, "count of a non-Keras HDF5 file");
  expect_failure(path, 1, "holds no VGG16 conv layers", "block1_conv1 is missing", NULL);

  /* A NaN must not load silently. */
  f = create_h5(path);
  put(f, "block1_conv1/block1_conv1/kernel:0", H5T_IEEE_F32LE, 4, (hsize_t[]){3, 3, 3, 64}, NAN);
  put(f, "block1_conv1/block1_conv1/bias:0", H5T_IEEE_F32LE, 1, (hsize_t[]){64}, 0);
  H5Fclose(f);
  expect_failure(path, 1, "block1_conv1/kernel:0 holds a non-finite value", NULL, NULL);

  /* Older Keras names without ":0", stored as float64: read and converted. */
  f = create_h5(path);
  put_block1_conv1(f, "", H5T_IEEE_F64BE);
  H5Fclose(f);
  CHECK(vt_weights_load(path, 1, &w) == 0, "old names, float64: %s", vt_failure_reason());
  CHECK(w.conv[0].kernel[0] == 0.5f && w.conv[0].kernel[96] == 0.596f && w.conv[0].bias[63] == -0.25f + 0.063f,
        "float64 values converted");
  vt_weights_free(&w);
  unlink(path);
}

static void test_foreign(void) {
  char path[512];
  expect_failure("/nonexistent/vgg16.h5", 1, "cannot open", "No such file", NULL);
  CHECK(vt_weights_count("/nonexistent/vgg16.h5") == -1, "count of a missing file");
  snprintf(path, sizeof path, "%s/empty.h5", tmpdir);
  write_bytes(path, "", 0);
  expect_failure(path, 1, "not an HDF5 file", NULL, NULL);
  CHECK(vt_weights_count(path) == -1, "count of an empty file");
  unlink(path);
  /* The start of a real PNG: signature and IHDR of a 1x1 RGB image. */
  static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D',
                                      'R', 0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0, 0x90, 0x77, 0x53, 0xde};
  snprintf(path, sizeof path, "%s/photo.png", tmpdir);
  write_bytes(path, png, sizeof png);
  expect_failure(path, 4, "not an HDF5 file", NULL, NULL);
  unlink(path);
  /* A directory. */
  expect_failure(tmpdir, 1, "is a directory", NULL, NULL);
}

int main(void) {
  char real[4096];
  vt_test_data(real, sizeof real, "weights/vgg16_keras_prefix.h5");
  snprintf(tmpdir, sizeof tmpdir, "%s/vt_test_weights_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  /* HDF5 must stay silent: everything it would print goes to stderr, which is
   * captured here and must be empty at the end. */
  char errpath[512];
  snprintf(errpath, sizeof errpath, "%s/stderr.txt", tmpdir);
  fflush(stderr);
  int saved = dup(2);
  if (!freopen(errpath, "w", stderr)) return 1;

  test_real_prefix(real);
  test_truncated(real);
  test_synthetic();
  test_foreign();
  /* Every file and dataset the reader opened is closed again. */
  ssize_t open_ids = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
  CHECK(open_ids == 0, "%zd HDF5 objects left open", open_ids);

  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  FILE *e = fopen(errpath, "rb");
  char line[512];
  int printed = 0;
  while (e && fgets(line, sizeof line, e)) printf("stderr: %s", line), printed = 1;
  if (e) fclose(e);
  CHECK(!printed, "something was printed to stderr");
  unlink(errpath);
  rmdir(tmpdir);
  printf("%s\n", failures ? "FAILED" : "all passed");
  return failures ? 1 : 0;
}
