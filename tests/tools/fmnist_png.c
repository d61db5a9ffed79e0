/* fmnist_png: writes a deterministic subset of Fashion-MNIST (Debian package
 * dataset-fashion-mnist) as PNG files in class folders, the demo's data set:
 *
 *   OUT/train/<class>/train_<index>.png   the first N images of each class in
 *                                         train-images-idx3-ubyte order
 *   OUT/test/<class>/t10k_<index>.png     the first M of each class of t10k
 *
 * IDX files are big-endian: a magic number (0x00000803 for 3-D uint8 images,
 * 0x00000801 for 1-D uint8 labels), one uint32 per dimension, then the bytes.
 * The .gz files are read through `gzip -dc`. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/vt_common.h"
#include "plot/vt_png_plot.h"

static const char *const class_names[10] = {"t-shirt_top", "trouser", "pullover", "dress", "coat",
                                            "sandal",      "shirt",   "sneaker",  "bag",   "ankle_boot"};

typedef struct {
  int n, rows, cols; /* rows = cols = 0 for labels */
  uint8_t *data;
} idx_file;

static int read_u32(FILE *f, uint32_t *v) {
  unsigned char b[4];
  if (fread(b, 1, 4, f) != 4) return -1;
  *v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
  return 0;
}

/* Reads a gzip'ed IDX file of uint8 with `dims` dimensions (1 or 3). */
static int read_idx(const char *path, int dims, idx_file *out) {
  memset(out, 0, sizeof *out);
  FILE *probe = fopen(path, "rb");
  if (!probe) return vt_fail("%s: %s (install it: apt-get install dataset-fashion-mnist)", path, strerror(errno));
  fclose(probe);
  char cmd[1200];
  if (strchr(path, '\'')) return vt_fail("%s: quote in path", path);
  snprintf(cmd, sizeof cmd, "gzip -dc '%s'", path);
  FILE *f = popen(cmd, "r");
  if (!f) return vt_fail("cannot run gzip: %s", strerror(errno));
  uint32_t magic, dim[3] = {0, 0, 0};
  int rc = 0;
  if (read_u32(f, &magic) < 0 || magic != (0x800u | (uint32_t)dims)) {
    rc = vt_fail("%s: not an IDX file of %d-D uint8 (magic %08x)", path, dims, magic);
  } else {
    for (int i = 0; i < dims && rc == 0; i++)
      if (read_u32(f, &dim[i]) < 0) rc = vt_fail("%s: truncated header", path);
  }
  size_t size = 0;
  if (rc == 0 && (dim[0] == 0 || dim[0] > 1000000 || (dims == 3 && (dim[1] == 0 || dim[1] > 1024 || dim[2] == 0 || dim[2] > 1024))))
    rc = vt_fail("%s: implausible dimensions %u x %u x %u", path, dim[0], dim[1], dim[2]);
  if (rc == 0 && vt_size_mul3(dim[0], dims == 3 ? dim[1] : 1, dims == 3 ? dim[2] : 1, &size) < 0) rc = -1;
  if (rc == 0) {
    out->data = vt_xmalloc(size);
    if (fread(out->data, 1, size, f) != size) rc = vt_fail("%s: truncated data", path);
  }
  if (pclose(f) != 0 && rc == 0) rc = vt_fail("%s: gzip -dc failed", path);
  if (rc < 0) {
    free(out->data);
    out->data = NULL;
    return -1;
  }
  out->n = (int)dim[0];
  out->rows = (int)dim[1];
  out->cols = (int)dim[2];
  return 0;
}

/* mkdir -p */
static int make_dir(const char *path) {
  char buf[1024];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return vt_fail("path too long: %s", path);
  for (char *p = buf + 1;; p++) {
    if (*p && *p != '/') continue;
    char c = *p;
    *p = '\0';
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) return vt_fail("cannot create %s: %s", buf, strerror(errno));
    if (!c) return 0;
    *p = c;
  }
}

static int write_png(const char *path, const uint8_t *gray, int w, int h) {
  vt_canvas c;
  if (vt_canvas_init(&c, w, h, 0) < 0) return -1;
  for (int i = 0; i < w * h; i++) c.rgb[3 * i] = c.rgb[3 * i + 1] = c.rgb[3 * i + 2] = gray[i];
  FILE *f = fopen(path, "wb");
  int rc = f ? vt_canvas_write_png(&c, f) : vt_fail("cannot write %s: %s", path, strerror(errno));
  if (f && fclose(f) != 0 && rc == 0) rc = vt_fail("cannot write %s", path);
  vt_canvas_free(&c);
  return rc;
}

/* Writes the first per_class images of each class of one part (train or t10k). */
static int write_part(const char *from, const char *part, const char *out, const char *sub, int per_class,
                      int *written) {
  char ipath[1024], lpath[1024], dir[1024], path[1200];
  snprintf(ipath, sizeof ipath, "%s/%s-images-idx3-ubyte.gz", from, part);
  snprintf(lpath, sizeof lpath, "%s/%s-labels-idx1-ubyte.gz", from, part);
  idx_file img, lab;
  if (read_idx(ipath, 3, &img) < 0) return -1;
  if (read_idx(lpath, 1, &lab) < 0) {
    free(img.data);
    return -1;
  }
  int rc = 0, count[10] = {0};
  if (lab.n != img.n) rc = vt_fail("%s has %d labels for %d images", lpath, lab.n, img.n);
  snprintf(dir, sizeof dir, "%s/%s", out, sub);
  if (rc == 0) rc = make_dir(dir);
  for (int k = 0; k < 10 && rc == 0; k++) {
    snprintf(path, sizeof path, "%s/%s", dir, class_names[k]);
    rc = make_dir(path);
  }
  size_t pixels = (size_t)img.rows * (size_t)img.cols;
  for (int i = 0; i < img.n && rc == 0; i++) {
    int k = lab.data[i];
    if (k > 9) {
      rc = vt_fail("%s: label %d at index %d is not 0..9", lpath, k, i);
      break;
    }
    if (count[k] >= per_class) continue;
    snprintf(path, sizeof path, "%s/%s/%s_%05d.png", dir, class_names[k], part, i);
    rc = write_png(path, img.data + (size_t)i * pixels, img.cols, img.rows);
    count[k]++;
    (*written)++;
  }
  for (int k = 0; k < 10 && rc == 0; k++)
    if (count[k] < per_class) rc = vt_fail("%s: only %d images of class %s", ipath, count[k], class_names[k]);
  free(img.data);
  free(lab.data);
  return rc;
}

static int parse_count(const char *s, int *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*end || end == s || v < 1 || v > 7000) return vt_fail("'%s' is not a count in 1..7000", s);
  *out = (int)v;
  return 0;
}

int main(int argc, char **argv) {
  const char *from = "/usr/share/datasets/fashion-mnist", *out = NULL;
  int n_train = 300, n_test = 100;
  for (int i = 1; i < argc; i++) {
    int more = i + 1 < argc;
    if (!strcmp(argv[i], "--from") && more) from = argv[++i];
    else if (!strcmp(argv[i], "--out") && more) out = argv[++i];
    else if (!strcmp(argv[i], "--train-per-class") && more) {
      if (parse_count(argv[++i], &n_train) < 0) goto usage;
    } else if (!strcmp(argv[i], "--test-per-class") && more) {
      if (parse_count(argv[++i], &n_test) < 0) goto usage;
    } else {
      vt_fail("unknown argument '%s'", argv[i]);
      goto usage;
    }
  }
  if (!out) {
    vt_fail("--out DIR is required");
    goto usage;
  }
  int written = 0;
  if (make_dir(out) < 0 || write_part(from, "train", out, "train", n_train, &written) < 0 ||
      write_part(from, "t10k", out, "test", n_test, &written) < 0) {
    fprintf(stderr, "fmnist_png: %s\n", vt_failure_reason());
    return 1;
  }
  printf("fmnist_png: wrote %d PNGs: %s/train (%d per class), %s/test (%d per class)\n", written, out,
         n_train, out, n_test);
  return 0;
usage:
  fprintf(stderr, "fmnist_png: %s\nusage: fmnist_png --out DIR [--from DIR] [--train-per-class N] "
                  "[--test-per-class M]\n", vt_failure_reason());
  return 2;
}
