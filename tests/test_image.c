/* Image decoding, resizing and preprocessing on images the test writes itself
 * with libpng and libjpeg into a temporary directory:
 *   - every PNG colour type x bit depth, plain and Adam7, with tRNS and alpha:
 *     decoded values must equal the expected 8-bit RGB exactly;
 *   - JPEG baseline 4:4:4 / 4:2:0 (odd size), RGB-coded, greyscale,
 *     progressive, Adobe CMYK and YCCK: close to the source (lossy), grey
 *     replicated exactly, CMYK inks converted to the expected RGB;
 *   - bad inputs: each fails with its specific reason and no path in it;
 *   - resize: nearest against the exact index formula, antialias against a
 *     naive double-precision reference, identity copy, constant images,
 *     upscaling, a checkerboard that antialiasing must average; the
 *     vectorised antialias bitwise equal to the scalar one on synthetic
 *     sizes and on 100 real photos of data/clothing-30;
 *   - resizing rows as they are decoded (vt_image_load_resized) bitwise equal
 *     to decoding whole and resizing, for every file above, every policy
 *     and real photos; failing the same way on every bad input;
 *   - a file read a chunk at a time (vt_image_load*) bitwise equal to its
 *     bytes decoded from memory (vt_image_decode*), whole, drafted and
 *     resized, for every file above, and for JPEGs and PNGs of several
 *     64 KiB chunks (a marker segment across a chunk boundary, progressive,
 *     Adam7); failing the same way from memory on every bad input; 1 TB
 *     sparse files: a JPEG or PNG header over the pixel limit refused, a
 *     JPEG or PNG followed by 1 TB of zeros decoded as without them (the
 *     bytes after its end are never read);
 *   - preprocess: caffe and torch values and channel order. */
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>

#include "base/vt_common.h"
#include "image/vt_image.h"
#include "image/vt_preprocess.h"
#include "image/vt_inputs.h"

#include "vt_test.h"

static char dir[64];

static uint32_t rng_state = 12345;
static uint32_t rng(void) { /* xorshift32: deterministic test data */
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

static const char *temp_path(const char *name) {
  static char path[4][256];
  static int next = 0;
  char *p = path[next++ % 4];
  snprintf(p, 256, "%s/%s", dir, name);
  return p;
}

static void write_bytes(const char *path, const void *data, size_t n) {
  FILE *f = vt_fopen_check(path, "wb");
  if (n && fwrite(data, 1, n, f) != n) abort();
  fclose(f);
}

static uint8_t *read_bytes(const char *path, size_t *n) {
  FILE *f = vt_fopen_check(path, "rb");
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *data = vt_xmalloc(*n);
  if (fread(data, 1, *n, f) != *n) abort();
  fclose(f);
  return data;
}

/* Decodes path and checks that it fails with a reason containing want (and
 * not the path: callers add it). */
static void expect_failure(const char *what, const char *path, size_t max_pixels, const char *want) {
  vt_image img;
  int rc = vt_image_load(path, max_pixels, &img);
  const char *why = vt_failure_reason();
  CHECK(rc == -1 && img.rgb == NULL, "%s: decoded, expected failure '%s'", what, want);
  if (rc == -1) {
    CHECK(strstr(why, want) != NULL, "%s: reason '%s' lacks '%s'", what, why, want);
    CHECK(strstr(why, dir) == NULL, "%s: reason '%s' contains the path", what, why);
    printf("ok   %-40s -> %s\n", what, why);
  }
  free(img.rgb);
  /* resized while decoding: the same failure, nothing kept (ASan: no leak) */
  for (int p = 0; p < 3; p++) {
    char reason[512];
    snprintf(reason, sizeof reason, "%s", rc == -1 ? why : "");
    rc = vt_image_load_resized(path, max_pixels, 7, 5, (vt_resize_policy)p, &img, NULL);
    CHECK(rc == -1 && img.rgb == NULL && !strcmp(vt_failure_reason(), reason),
          "%s, resized while decoding (%s): '%s', not '%s'", what, vt_resize_policy_name((vt_resize_policy)p),
          rc == -1 ? vt_failure_reason() : "decoded", reason);
    free(img.rgb);
  }
  /* the same bytes from memory: the same reason (a file that cannot be read,
   * or is too large to read here, has no bytes to compare) */
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (1 << 24)) return;
  char reason[512];
  snprintf(reason, sizeof reason, "%s", rc == -1 ? vt_failure_reason() : "");
  size_t n;
  uint8_t *data = read_bytes(path, &n);
  rc = vt_image_decode(data, n, max_pixels, &img);
  CHECK(rc == -1 && img.rgb == NULL && !strcmp(vt_failure_reason(), reason), "%s, from memory: '%s', not '%s'",
        what, rc == -1 ? vt_failure_reason() : "decoded", reason);
  free(img.rgb);
  free(data);
}

static int same_image(const vt_image *a, const vt_image *b) {
  return a->width == b->width && a->height == b->height &&
         !memcmp(a->rgb, b->rgb, (size_t)a->width * a->height * 3);
}

/* The file's bytes decoded from memory against the file read a chunk at a
 * time: got (from the file) must equal want (decoded from memory, returning
 * rc), bit for bit. */
static int memory_cases, memory_equal;

static void check_memory(const char *what, const vt_image *got, int rc, const vt_image *want) {
  memory_cases++;
  int same = rc == 0 && same_image(got, want);
  CHECK(same, "%s: from memory %s", what, rc < 0 ? vt_failure_reason() : "differs from the file read in chunks");
  memory_equal += same;
}

/* vt_image_load_resized (rows resized as they are decoded) against decoding
 * the whole image and resizing it, bit for bit, with every policy, to sizes
 * that shrink, grow, keep the width, keep the height, keep both. */
static int streamed_cases, streamed_equal;

static void check_streamed(const char *what, const char *path) {
  vt_image whole, mem;
  int w0, h0;
  if (vt_image_load(path, SIZE_MAX, &whole) < 0) {
    CHECK(0, "%s: %s", what, vt_failure_reason());
    return;
  }
  w0 = whole.width, h0 = whole.height;
  size_t size;
  uint8_t *data = read_bytes(path, &size);
  check_memory(what, &whole, vt_image_decode(data, size, SIZE_MAX, &mem), &mem);
  free(mem.rgb);
  free(whole.rgb);
  const int targets[][2] = {{7, 5}, {224, 224}, {w0, h0}, {w0, h0 / 2 + 1}, {w0 * 2 / 3 + 1, h0}, {97, 61}};
  for (size_t t = 0; t < sizeof targets / sizeof *targets; t++)
    for (int p = 0; p < 3; p++) {
      int W = targets[t][0], H = targets[t][1], fit = p == VT_RESIZE_DCT_ANTIALIAS, ref_size[2], got_size[2];
      vt_image dec, ref, got;
      if (vt_image_load_draft(path, SIZE_MAX, fit ? W : 0, fit ? H : 0, &dec, ref_size) < 0 ||
          vt_image_resize(&dec, W, H, (vt_resize_policy)p, &ref) < 0) {
        CHECK(0, "%s: %s", what, vt_failure_reason());
        free(data);
        return;
      }
      if (fit) {
        check_memory(what, &dec, vt_image_decode_draft(data, size, SIZE_MAX, W, H, &mem, NULL), &mem);
        free(mem.rgb);
      }
      free(dec.rgb);
      streamed_cases++;
      if (vt_image_load_resized(path, SIZE_MAX, W, H, (vt_resize_policy)p, &got, got_size) < 0) {
        CHECK(0, "%s resized while decoding to %dx%d: %s", what, W, H, vt_failure_reason());
        free(ref.rgb);
        continue;
      }
      check_memory(what, &got,
                   vt_image_decode_resized(data, size, SIZE_MAX, W, H, (vt_resize_policy)p, &mem, NULL), &mem);
      free(mem.rgb);
      size_t n = (size_t)W * H * 3, at = 0;
      while (at < n && got.rgb[at] == ref.rgb[at]) at++;
      int ok = got.width == W && got.height == H && at == n && got_size[0] == ref_size[0] &&
               got_size[1] == ref_size[1] && got_size[0] == w0 && got_size[1] == h0;
      CHECK(ok, "%s %dx%d -> %dx%d %s: resized while decoding differs at byte %zu of %zu (file size %dx%d vs %dx%d)",
            what, w0, h0, W, H, vt_resize_policy_name((vt_resize_policy)p), at, n, got_size[0], got_size[1],
            ref_size[0], ref_size[1]);
      streamed_equal += ok;
      free(ref.rgb);
      free(got.rgb);
    }
  free(data);
}

/* ---- PNG ---- */

typedef struct {
  int w, h, color_type, depth, interlace;
  const uint16_t *samples; /* [h][w][channels], values < 2^depth */
  int npalette;
  const uint8_t *palette; /* [npalette][3] */
  int ntrans;             /* tRNS: palette alphas, or one colour for grey/RGB */
  const uint8_t *trans_alpha;
  png_color_16 trans_color;
  int text_chunk; /* adds a tEXt chunk before the image data */
} png_spec;

static int png_channels(int color_type) {
  switch (color_type) {
  case PNG_COLOR_TYPE_GRAY: return 1;
  case PNG_COLOR_TYPE_RGB: return 3;
  case PNG_COLOR_TYPE_PALETTE: return 1;
  case PNG_COLOR_TYPE_GRAY_ALPHA: return 2;
  default: return 4;
  }
}

static void write_png(const char *path, const png_spec *s) {
  FILE *f = vt_fopen_check(path, "wb");
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    fprintf(stderr, "libpng failed writing %s\n", path);
    exit(1);
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, s->w, s->h, s->depth, s->color_type, s->interlace, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (s->npalette) png_set_PLTE(png, info, (png_const_colorp)s->palette, s->npalette);
  if (s->ntrans) png_set_tRNS(png, info, s->trans_alpha, s->ntrans, &s->trans_color);
  if (s->text_chunk) {
    png_text text = {.compression = PNG_TEXT_COMPRESSION_NONE, .key = "Comment", .text = "vggtap test"};
    png_set_text(png, info, &text, 1);
  }
  png_write_info(png, info);
  /* Rows packed by hand (MSB-first sub-byte samples, big-endian 16-bit) so
   * the file layout does not depend on libpng's transforms. */
  int ch = png_channels(s->color_type);
  size_t row_bytes = ((size_t)s->w * ch * s->depth + 7) / 8;
  png_bytep *rows = vt_xmalloc(s->h * sizeof *rows);
  for (int y = 0; y < s->h; y++) {
    rows[y] = vt_xcalloc(row_bytes, 1);
    const uint16_t *v = s->samples + (size_t)y * s->w * ch;
    for (int i = 0; i < s->w * ch; i++) {
      if (s->depth == 16) {
        rows[y][2 * i] = v[i] >> 8;
        rows[y][2 * i + 1] = v[i] & 255;
      } else {
        int bit = i * s->depth;
        rows[y][bit / 8] |= (uint8_t)(v[i] << (8 - s->depth - bit % 8));
      }
    }
  }
  png_write_image(png, rows);
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  fclose(f);
  for (int y = 0; y < s->h; y++) free(rows[y]);
  free(rows);
}

/* The RGB that PIL's convert('RGB') gives (high byte for 16-bit; see
 * vt_image.c for the one case, 16-bit grey, where PIL clips instead). */
static void png_expected_rgb(const png_spec *s, uint8_t *rgb) {
  int ch = png_channels(s->color_type), max = (1 << s->depth) - 1;
  for (int i = 0; i < s->w * s->h; i++) {
    const uint16_t *v = s->samples + (size_t)i * ch;
    uint8_t c8[4];
    for (int c = 0; c < ch; c++) c8[c] = s->depth == 16 ? v[c] >> 8 : (uint8_t)(v[c] * 255 / max);
    if (s->color_type == PNG_COLOR_TYPE_PALETTE) memcpy(rgb + 3 * i, s->palette + 3 * v[0], 3);
    else if (ch <= 2) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = c8[0];
    else memcpy(rgb + 3 * i, c8, 3);
  }
}

static void check_png(const char *what, const png_spec *s) {
  const char *path = temp_path("t.png");
  write_png(path, s);
  vt_image img;
  if (vt_image_load(path, SIZE_MAX, &img) < 0) {
    CHECK(0, "%s: %s", what, vt_failure_reason());
    return;
  }
  uint8_t *want = vt_xmalloc((size_t)s->w * s->h * 3);
  png_expected_rgb(s, want);
  int bad = 0;
  for (size_t i = 0; i < (size_t)s->w * s->h * 3; i++) bad += img.rgb[i] != want[i];
  CHECK(img.width == s->w && img.height == s->h, "%s: size %dx%d", what, img.width, img.height);
  CHECK(bad == 0, "%s: %d of %d values differ", what, bad, s->w * s->h * 3);
  if (!bad) printf("ok   %s\n", what);
  free(want);
  free(img.rgb);
  check_streamed(what, path);
}

static void test_png_formats(void) {
  static const struct {
    int color_type, depth;
  } formats[] = {{0, 1}, {0, 2}, {0, 4}, {0, 8}, {0, 16}, {2, 8}, {2, 16}, {3, 1},
                 {3, 2}, {3, 4}, {3, 8}, {4, 8}, {4, 16}, {6, 8}, {6, 16}};
  const int w = 13, h = 11; /* odd sizes: partial bytes and partial Adam7 passes */
  uint16_t samples[13 * 11 * 4];
  uint8_t palette[256 * 3], trans_alpha[256];
  for (int i = 0; i < 256 * 3; i++) palette[i] = (uint8_t)rng();
  for (int i = 0; i < 256; i++) trans_alpha[i] = (uint8_t)rng();
  for (size_t f = 0; f < sizeof formats / sizeof *formats; f++) {
    for (int interlace = 0; interlace < 2; interlace++) {
      for (int trns = 0; trns < 2; trns++) {
        int ct = formats[f].color_type, depth = formats[f].depth;
        if (trns && (ct & PNG_COLOR_MASK_ALPHA)) continue; /* tRNS is not allowed with an alpha channel */
        png_spec s = {.w = w, .h = h, .color_type = ct, .depth = depth, .samples = samples,
                      .interlace = interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE};
        int levels = ct == PNG_COLOR_TYPE_PALETTE ? (depth == 8 ? 200 : 1 << depth) : 1 << depth;
        for (int i = 0; i < w * h * png_channels(ct); i++) samples[i] = (uint16_t)(rng() % levels);
        if (ct == PNG_COLOR_TYPE_PALETTE) {
          s.npalette = levels;
          s.palette = palette;
        }
        if (trns) {
          if (ct == PNG_COLOR_TYPE_PALETTE) {
            s.ntrans = levels < 7 ? levels : 7;
            s.trans_alpha = trans_alpha;
          } else {
            s.ntrans = 1; /* mark the first pixel's colour transparent */
            s.trans_color.gray = samples[0];
            s.trans_color.red = samples[0];
            s.trans_color.green = samples[1];
            s.trans_color.blue = samples[2];
          }
        }
        char what[96];
        snprintf(what, sizeof what, "PNG colour type %d, %2d-bit%s%s", ct, depth, interlace ? ", Adam7" : "",
                 trns ? ", tRNS" : "");
        check_png(what, &s);
      }
    }
  }
}

/* Writes a small valid 8-bit RGB PNG (optionally with a tEXt chunk), for the
 * damaged-file tests. */
static void write_small_png(const char *path, int text_chunk) {
  uint16_t samples[16 * 16 * 3];
  for (int i = 0; i < 16 * 16 * 3; i++) samples[i] = (uint16_t)(rng() & 255);
  png_spec s = {.w = 16, .h = 16, .color_type = PNG_COLOR_TYPE_RGB, .depth = 8, .samples = samples,
                .interlace = PNG_INTERLACE_NONE, .text_chunk = text_chunk};
  write_png(path, &s);
}

/* Offset of a chunk's type field in a PNG file, or 0. */
static size_t find_chunk(const uint8_t *png, size_t n, const char *type) {
  for (size_t i = 8; i + 8 <= n;) {
    uint32_t len = (uint32_t)png[i] << 24 | png[i + 1] << 16 | png[i + 2] << 8 | png[i + 3];
    if (memcmp(png + i + 4, type, 4) == 0) return i + 4;
    i += 12 + (size_t)len;
  }
  return 0;
}

static uint32_t crc32_naive(const uint8_t *p, size_t n) { /* bitwise CRC-32 of PNG chunks */
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
  }
  return c ^ 0xffffffffu;
}

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = v >> 24;
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* A PNG that is only a signature and an IHDR declaring w x h 8-bit RGB. */
static void write_png_header_only(const char *path, uint32_t w, uint32_t h) {
  uint8_t b[33] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
  put_be32(b + 16, w);
  put_be32(b + 20, h);
  b[24] = 8; /* depth */
  b[25] = 2; /* RGB */
  put_be32(b + 29, crc32_naive(b + 12, 17));
  write_bytes(path, b, sizeof b);
}

/* ---- JPEG ---- */

typedef struct {
  int w, h, components;
  J_COLOR_SPACE in_space, file_space;
  int h0, v0; /* sampling factors of the first component (2,2 = 4:2:0) */
  int progressive;
  const uint8_t *pixels;
  unsigned app_bytes; /* > 0: an APP9 segment of that many zeros, which the decoder skips */
} jpeg_spec;

static void write_jpeg(const char *path, const jpeg_spec *s) {
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr err;
  c.err = jpeg_std_error(&err); /* exits on error: fine in a test */
  jpeg_create_compress(&c);
  FILE *f = vt_fopen_check(path, "wb");
  jpeg_stdio_dest(&c, f);
  c.image_width = s->w;
  c.image_height = s->h;
  c.input_components = s->components;
  c.in_color_space = s->in_space;
  jpeg_set_defaults(&c);
  jpeg_set_colorspace(&c, s->file_space); /* writes the Adobe marker for RGB/CMYK/YCCK */
  jpeg_set_quality(&c, 95, TRUE);
  for (int i = 0; i < c.num_components; i++) c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
  c.comp_info[0].h_samp_factor = s->h0;
  c.comp_info[0].v_samp_factor = s->v0;
  if (s->progressive) jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  if (s->app_bytes) {
    uint8_t *app = vt_xcalloc(s->app_bytes, 1);
    jpeg_write_marker(&c, JPEG_APP0 + 9, app, s->app_bytes);
    free(app);
  }
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = (JSAMPROW)s->pixels + (size_t)c.next_scanline * s->w * s->components;
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  fclose(f);
}

/* Smooth content, so a q95 JPEG reproduces it within a few levels. */
static void smooth_rgb(int w, int h, uint8_t *rgb) {
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      uint8_t *p = rgb + 3 * ((size_t)y * w + x);
      p[0] = (uint8_t)(30 + 190 * x / (w - 1));
      p[1] = (uint8_t)(30 + 190 * y / (h - 1));
      p[2] = (uint8_t)(128 + 90 * sin(0.1 * (x + y)));
    }
}

static int max_abs_diff(const uint8_t *a, const uint8_t *b, size_t n, double *mean) {
  int m = 0;
  double sum = 0;
  for (size_t i = 0; i < n; i++) {
    int d = abs(a[i] - b[i]);
    if (d > m) m = d;
    sum += d;
  }
  *mean = sum / n;
  return m;
}

/* Lossy: a q95 JPEG of smooth content stays within 10 levels (measured: 6 at
 * 4:4:4, 9 at 4:2:0 on the sine channel); a wrong colour conversion or
 * upsampling would be off by tens. */
static void check_jpeg_rgb(const char *what, int w, int h, J_COLOR_SPACE file_space, int h0, int v0, int progressive) {
  const int max_err = 10;
  uint8_t *src = vt_xmalloc((size_t)w * h * 3);
  smooth_rgb(w, h, src);
  jpeg_spec s = {w, h, 3, JCS_RGB, file_space, h0, v0, progressive, src, 0};
  const char *path = temp_path("t.jpg");
  write_jpeg(path, &s);
  vt_image img;
  if (vt_image_load(path, SIZE_MAX, &img) < 0) {
    CHECK(0, "%s: %s", what, vt_failure_reason());
  } else {
    double mean;
    int m = max_abs_diff(img.rgb, src, (size_t)w * h * 3, &mean);
    CHECK(img.width == w && img.height == h, "%s: size %dx%d", what, img.width, img.height);
    CHECK(m <= max_err && mean < 1.5, "%s: max error %d (limit %d), mean %.2f", what, m, max_err, mean);
    printf("ok   %-40s max error %d, mean %.2f\n", what, m, mean);
    free(img.rgb);
    check_streamed(what, path);
  }
  free(src);
}

static void test_jpeg_grey(void) {
  const int w = 40, h = 24;
  uint8_t src[40 * 24];
  for (int i = 0; i < w * h; i++) src[i] = (uint8_t)(20 + 200 * (i % w) / (w - 1));
  jpeg_spec s = {w, h, 1, JCS_GRAYSCALE, JCS_GRAYSCALE, 1, 1, 0, src, 0};
  const char *path = temp_path("grey.jpg");
  write_jpeg(path, &s);
  vt_image img;
  if (vt_image_load(path, SIZE_MAX, &img) < 0) {
    CHECK(0, "grey JPEG: %s", vt_failure_reason());
    return;
  }
  int unequal = 0, m = 0;
  for (int i = 0; i < w * h; i++) {
    const uint8_t *p = img.rgb + 3 * i;
    unequal += p[0] != p[1] || p[1] != p[2];
    if (abs(p[0] - src[i]) > m) m = abs(p[0] - src[i]);
  }
  CHECK(unequal == 0, "grey JPEG: %d pixels with R, G, B not equal", unequal);
  CHECK(m <= 3, "grey JPEG: max error %d", m);
  printf("ok   %-40s replicated, max error %d\n", "JPEG greyscale", m);
  free(img.rgb);
  check_streamed("JPEG greyscale", path);
}

/* Four 32x32 blocks of flat ink, stored the Adobe way (255 - ink) as
 * Photoshop writes them; file_space JCS_CMYK or JCS_YCCK. */
static void check_jpeg_cmyk(const char *what, J_COLOR_SPACE file_space) {
  static const uint8_t inks[4][4] = {{0, 255, 255, 0}, {255, 0, 0, 0}, {0, 0, 0, 128}, {40, 100, 160, 60}};
  uint8_t src[64 * 64 * 4];
  for (int y = 0; y < 64; y++)
    for (int x = 0; x < 64; x++)
      for (int c = 0; c < 4; c++) src[(y * 64 + x) * 4 + c] = 255 - inks[(y / 32) * 2 + x / 32][c];
  jpeg_spec s = {64, 64, 4, JCS_CMYK, file_space, 1, 1, 0, src, 0};
  const char *path = temp_path("cmyk.jpg");
  write_jpeg(path, &s);
  vt_image img;
  if (vt_image_load(path, SIZE_MAX, &img) < 0) {
    CHECK(0, "%s: %s", what, vt_failure_reason());
    return;
  }
  int m = 0;
  for (int b = 0; b < 4; b++) {
    const uint8_t *ink = inks[b];
    const uint8_t *p = img.rgb + 3 * ((size_t)(b / 2 * 32 + 16) * 64 + b % 2 * 32 + 16);
    for (int c = 0; c < 3; c++) {
      int want = (int)lround((255.0 - ink[c]) * (255.0 - ink[3]) / 255.0);
      if (abs(p[c] - want) > m) m = abs(p[c] - want);
    }
  }
  CHECK(m <= 2, "%s: block centres off by up to %d", what, m);
  printf("ok   %-40s block centres within %d\n", what, m);
  free(img.rgb);
  check_streamed(what, path);
}

static void test_jpeg(void) {
  check_jpeg_rgb("JPEG baseline 4:4:4", 64, 48, JCS_YCbCr, 1, 1, 0);
  check_jpeg_rgb("JPEG baseline 4:2:0, 37x23", 37, 23, JCS_YCbCr, 2, 2, 0);
  check_jpeg_rgb("JPEG progressive 4:2:0", 64, 48, JCS_YCbCr, 2, 2, 1);
  check_jpeg_rgb("JPEG stored as RGB (no YCbCr)", 64, 48, JCS_RGB, 1, 1, 0);
  check_jpeg_rgb("JPEG 4:2:0, 1003x701 (many bands of rows)", 1003, 701, JCS_YCbCr, 2, 2, 0);
  test_jpeg_grey();
  check_jpeg_cmyk("JPEG CMYK (Adobe, inverted)", JCS_CMYK);
  check_jpeg_cmyk("JPEG YCCK (Adobe)", JCS_YCCK);
}

/* ---- damaged and unsupported files ---- */

/* Makes path 1 TB long, sparse (no disk used); 0, or -1 with a note where
 * the file system cannot hold such a file. */
static int make_1tb(const char *path) {
  if (truncate(path, (off_t)1 << 40) == 0) return 0;
  printf("note: no 1 TB sparse file here; a huge-file case is skipped\n");
  return -1;
}

/* A valid image followed by 1 TB of zeros decodes (whole, and resized
 * while decoding) exactly as the image alone: the decoder stops at its end
 * and nothing after it is read (reading it would take hours, or all memory
 * if read whole). */
static void check_tail_ignored(const char *what, const char *path, const char *tailed) {
  size_t n;
  uint8_t *data = read_bytes(path, &n);
  write_bytes(tailed, data, n);
  free(data);
  if (make_1tb(tailed) < 0) return;
  for (int resized = 0; resized < 2; resized++) {
    vt_image a, b;
    int ra = resized ? vt_image_load_resized(path, SIZE_MAX, 7, 5, VT_RESIZE_ANTIALIAS, &a, NULL)
                     : vt_image_load(path, SIZE_MAX, &a);
    int rb = resized ? vt_image_load_resized(tailed, SIZE_MAX, 7, 5, VT_RESIZE_ANTIALIAS, &b, NULL)
                     : vt_image_load(tailed, SIZE_MAX, &b);
    CHECK(ra == 0 && rb == 0 && same_image(&a, &b), "%s%s: %s", what, resized ? ", resized" : "",
          ra == 0 && rb == 0 ? "pixels differ from the image alone" : vt_failure_reason());
    free(a.rgb);
    free(b.rgb);
  }
  printf("ok   %-40s decodes as the image alone\n", what);
  unlink(tailed);
}

static void test_bad_inputs(void) {
  write_bytes(temp_path("empty.jpg"), "", 0);
  expect_failure("empty file", temp_path("empty.jpg"), SIZE_MAX, "empty file");

  uint8_t noise[1000];
  for (size_t i = 0; i < sizeof noise; i++) noise[i] = (uint8_t)rng();
  noise[0] = 0x01; /* not a signature byte of any format we name */
  write_bytes(temp_path("noise.png"), noise, sizeof noise);
  expect_failure("random bytes", temp_path("noise.png"), SIZE_MAX, "not a JPEG or PNG file");

  /* A huge file that is not an image (a video named .jpg) is refused from
   * its first bytes, not read into memory first (a 1 TB sparse file: before,
   * "out of memory reading a 1099511627776-byte file"; a 6 GB one took 6 GB
   * and 26 s). Skipped where the file system cannot hold the sparse file. */
  write_bytes(temp_path("video.jpg"), "GIF89a\0\0\0\0\0\0", 12);
  if (truncate(temp_path("video.jpg"), (off_t)1 << 40) == 0) {
    expect_failure("1 TB GIF named .jpg", temp_path("video.jpg"), SIZE_MAX, "a GIF file: only JPEG and PNG");
    write_bytes(temp_path("zeros.jpg"), "", 0);
    CHECK(truncate(temp_path("zeros.jpg"), (off_t)1 << 40) == 0, "truncate");
    expect_failure("1 TB of zeros named .jpg", temp_path("zeros.jpg"), SIZE_MAX, "not a JPEG or PNG file");
  } else {
    printf("note: no 1 TB sparse file here; the huge non-image case is skipped\n");
  }
  unlink(temp_path("video.jpg"));
  unlink(temp_path("zeros.jpg"));

  const char *csv = "path,class\nimages/a.jpg,cat\n";
  write_bytes(temp_path("text.jpg"), csv, strlen(csv));
  expect_failure("text file", temp_path("text.jpg"), SIZE_MAX, "not a JPEG or PNG file");

  write_bytes(temp_path("anim.png"), "GIF89a\x01\x00\x01\x00", 10);
  expect_failure("GIF file", temp_path("anim.png"), SIZE_MAX, "GIF");
  /* a BMP header (2x2, 24-bit) as Windows tools and PIL write it */
  write_bytes(temp_path("scan.jpg"), "BM\x46\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0", 18);
  expect_failure("BMP file", temp_path("scan.jpg"), SIZE_MAX, "a BMP file: only JPEG and PNG are supported");
  write_bytes(temp_path("bmw.jpg"), "BMW 320d, 2019, diesel\n", 23);
  expect_failure("text starting with BM", temp_path("bmw.jpg"), SIZE_MAX, "not a JPEG or PNG file");

  expect_failure("missing file", temp_path("no-such-file.jpg"), SIZE_MAX, "No such file");
  expect_failure("directory", dir, SIZE_MAX, "is a directory");
  /* a FIFO: opening it blocking would wait for a writer forever */
  CHECK(mkfifo(temp_path("pipe.jpg"), 0600) == 0);
  expect_failure("FIFO", temp_path("pipe.jpg"), SIZE_MAX, "not a regular file (a FIFO)");

  /* Truncated JPEGs: in the entropy data, in the header, progressive. */
  uint8_t rgb[64 * 48 * 3];
  smooth_rgb(64, 48, rgb);
  for (int progressive = 0; progressive < 2; progressive++) {
    jpeg_spec s = {64, 48, 3, JCS_RGB, JCS_YCbCr, 2, 2, progressive, rgb, 0};
    write_jpeg(temp_path("whole.jpg"), &s);
    size_t n;
    uint8_t *jpg = read_bytes(temp_path("whole.jpg"), &n);
    write_bytes(temp_path("cut.jpg"), jpg, n * 2 / 3);
    expect_failure(progressive ? "truncated progressive JPEG" : "truncated JPEG", temp_path("cut.jpg"), SIZE_MAX,
                   "truncated JPEG data");
    if (!progressive) {
      write_bytes(temp_path("cut.jpg"), jpg, 100);
      expect_failure("JPEG cut inside the header", temp_path("cut.jpg"), SIZE_MAX, "truncated JPEG data");
      write_bytes(temp_path("cut.jpg"), jpg, n - 2); /* only the EOI marker missing */
      expect_failure("JPEG without its EOI marker", temp_path("cut.jpg"), SIZE_MAX, "truncated JPEG data");
      /* Oversized and zero-sized JPEG headers: patch the SOF dimensions. */
      size_t sof = 0;
      for (size_t i = 2; i + 9 < n && !sof; i++)
        if (jpg[i] == 0xff && jpg[i + 1] == 0xc0) sof = i;
      CHECK(sof > 0, "no SOF0 marker in the baseline JPEG");
      jpg[sof + 5] = 30000 >> 8, jpg[sof + 6] = 30000 & 255; /* height */
      jpg[sof + 7] = 30000 >> 8, jpg[sof + 8] = 30000 & 255; /* width */
      write_bytes(temp_path("huge.jpg"), jpg, n);
      expect_failure("JPEG declaring 30000x30000", temp_path("huge.jpg"), 100000000,
                     "image is 30000 x 30000 = 900,000,000 pixels, over the limit of 100,000,000");
      /* the same header 1 TB long: refused from the file's first chunk (read
       * whole before: "out of memory reading a 1099511627776-byte file") */
      if (make_1tb(temp_path("huge.jpg")) == 0)
        expect_failure("JPEG declaring 30000x30000, 1 TB long", temp_path("huge.jpg"), 100000000,
                       "image is 30000 x 30000 = 900,000,000 pixels, over the limit of 100,000,000");
      check_tail_ignored("JPEG followed by 1 TB of zeros", temp_path("whole.jpg"), temp_path("tail.jpg"));
      jpg[sof + 5] = jpg[sof + 6] = 0;
      write_bytes(temp_path("zero.jpg"), jpg, n);
      expect_failure("JPEG declaring height 0", temp_path("zero.jpg"), SIZE_MAX, "JPEG: ");
    }
    free(jpg);
  }

  /* Truncated PNG, CRC errors in critical and ancillary chunks. */
  write_small_png(temp_path("whole.png"), 1);
  size_t n;
  uint8_t *png = read_bytes(temp_path("whole.png"), &n);
  write_bytes(temp_path("cut.png"), png, n * 2 / 3);
  expect_failure("truncated PNG", temp_path("cut.png"), SIZE_MAX, "truncated PNG data");
  write_bytes(temp_path("cut.png"), png, 5);
  expect_failure("PNG cut inside the signature", temp_path("cut.png"), SIZE_MAX, "truncated PNG data");
  write_bytes(temp_path("cut.png"), png, n - 12); /* only IEND missing */
  expect_failure("PNG without IEND", temp_path("cut.png"), SIZE_MAX, "truncated PNG data");
  size_t idat = find_chunk(png, n, "IDAT"), text = find_chunk(png, n, "tEXt");
  CHECK(idat && text, "test PNG lacks IDAT or tEXt");
  uint32_t idat_len = (uint32_t)png[idat - 4] << 24 | png[idat - 3] << 16 | png[idat - 2] << 8 | png[idat - 1];
  png[idat + 4 + idat_len] ^= 0x01; /* the IDAT CRC itself */
  write_bytes(temp_path("crc.png"), png, n);
  expect_failure("PNG, IDAT CRC corrupted", temp_path("crc.png"), SIZE_MAX, "PNG: IDAT: CRC error");
  png[idat + 4 + idat_len] ^= 0x01;
  png[idat + 10] ^= 0x01; /* a bit flip in the compressed pixels: zlib or the CRC notices */
  write_bytes(temp_path("crc.png"), png, n);
  expect_failure("PNG, bit flip in IDAT data", temp_path("crc.png"), SIZE_MAX, "PNG: IDAT: ");
  png[idat + 10] ^= 0x01;
  png[text + 6] ^= 0x20; /* "Comment" -> "CoMment" */
  write_bytes(temp_path("crc.png"), png, n);
  expect_failure("PNG, bit flip in tEXt", temp_path("crc.png"), SIZE_MAX, "CRC error");
  free(png);

  write_png_header_only(temp_path("huge.png"), 100000, 100000);
  expect_failure("PNG declaring 100000x100000", temp_path("huge.png"), 100000000,
                 "image is 100000 x 100000 = 10,000,000,000 pixels, over the limit of 100,000,000");
  if (make_1tb(temp_path("huge.png")) == 0)
    expect_failure("PNG declaring 100000x100000, 1 TB long", temp_path("huge.png"), 100000000,
                   "image is 100000 x 100000 = 10,000,000,000 pixels, over the limit of 100,000,000");
  check_tail_ignored("PNG followed by 1 TB of zeros", temp_path("whole.png"), temp_path("tail.png"));
  write_png_header_only(temp_path("limit.png"), 1000, 1000);
  expect_failure("PNG 1000x1000, one pixel over", temp_path("limit.png"), 999999, "over the limit of 999,999");
  expect_failure("PNG 1000x1000 within the limit, no IDAT", temp_path("limit.png"), 1000000, "truncated PNG data");
  write_png_header_only(temp_path("zero.png"), 0, 10);
  expect_failure("PNG declaring width 0", temp_path("zero.png"), SIZE_MAX, "image has zero size (0 x 10)");
}

/* The decoder sniffs the signature: a PNG named .jpg decodes, from memory too. */
static void test_signature_not_name(void) {
  write_small_png(temp_path("really-a-png.jpg"), 0);
  vt_image a, b;
  size_t n;
  int ra = vt_image_load(temp_path("really-a-png.jpg"), SIZE_MAX, &a);
  uint8_t *data = read_bytes(temp_path("really-a-png.jpg"), &n);
  int rb = vt_image_decode(data, n, SIZE_MAX, &b);
  CHECK(ra == 0 && rb == 0, "PNG named .jpg: %s", vt_failure_reason());
  if (ra == 0 && rb == 0) {
    CHECK(a.width == 16 && memcmp(a.rgb, b.rgb, 16 * 16 * 3) == 0, "load and decode from memory differ");
    printf("ok   PNG named .jpg decodes (file and memory agree)\n");
  }
  free(a.rgb);
  free(b.rgb);
  free(data);
}

/* ---- files of several chunks ---- */

/* vt_image_load reads a file 64 KiB at a time. Noise barely compresses, so
 * these files are several chunks long and their entropy-coded data and
 * IDATs cross chunk boundaries: a baseline JPEG with a 65000-byte APP9
 * segment (skipped by libjpeg) across the first boundary, a progressive
 * one, plain and Adam7 PNGs. Each decodes as from memory (check_streamed),
 * and fails as truncated, from the file and from memory, when cut inside
 * its third chunk. */
static void test_multi_chunk(void) {
  const int w = 600, h = 400, chunk = 64 * 1024;
  uint8_t *rgb = vt_xmalloc((size_t)w * h * 3);
  uint16_t *samples = vt_xmalloc((size_t)w * h * 3 * sizeof *samples);
  for (size_t i = 0; i < (size_t)w * h * 3; i++) samples[i] = rgb[i] = (uint8_t)rng();
  for (int kind = 0; kind < 4; kind++) {
    static const char *names[] = {"JPEG of several chunks, APP9 across one", "progressive JPEG of several chunks",
                                  "PNG of several chunks", "Adam7 PNG of several chunks"};
    const char *path = temp_path(kind < 2 ? "big.jpg" : "big.png");
    if (kind < 2) {
      jpeg_spec s = {w, h, 3, JCS_RGB, JCS_YCbCr, 2, 2, kind == 1, rgb, kind == 0 ? 65000 : 0};
      write_jpeg(path, &s);
    } else {
      png_spec s = {.w = w, .h = h / 2, .color_type = PNG_COLOR_TYPE_RGB, .depth = 8, .samples = samples,
                    .interlace = kind == 3 ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE};
      write_png(path, &s);
    }
    size_t n;
    uint8_t *data = read_bytes(path, &n);
    CHECK(n > 3 * (size_t)chunk, "%s: only %zu bytes", names[kind], n);
    printf("ok   %-40s %zu bytes\n", names[kind], n);
    check_streamed(names[kind], path);
    char what[96];
    snprintf(what, sizeof what, "%s, cut in the third", names[kind]);
    write_bytes(temp_path("cut.img"), data, 2 * (size_t)chunk + 1000);
    expect_failure(what, temp_path("cut.img"), SIZE_MAX, kind < 2 ? "truncated JPEG data" : "truncated PNG data");
    free(data);
  }
  free(rgb);
  free(samples);
}

/* ---- resize ---- */

/* Test image whose pixels encode their own coordinates. */
static vt_image coordinate_image(int w, int h) {
  vt_image img = {w, h, vt_xmalloc((size_t)w * h * 3)};
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      uint8_t *p = img.rgb + 3 * ((size_t)y * w + x);
      p[0] = x & 255;
      p[1] = y & 255;
      p[2] = (uint8_t)((x >> 8) | (y >> 8) << 4);
    }
  return img;
}

/* Nearest must pick floor((i + 0.5) * in / out), except where that is exactly
 * an integer: PIL's running float sum may land just below it there, and we
 * follow PIL, so one less is allowed at exact ties (and only there). */
static void test_nearest(void) {
  static const int sizes[][4] = {{266, 400, 224, 224}, {256, 512, 224, 224}, {28, 28, 224, 224},
                                 {1000, 7, 3, 20},     {224, 224, 224, 224}, {1, 1, 5, 3}};
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
    int iw = sizes[s][0], ih = sizes[s][1], ow = sizes[s][2], oh = sizes[s][3];
    vt_image in = coordinate_image(iw, ih), out;
    if (vt_image_resize(&in, ow, oh, VT_RESIZE_NEAREST, &out) < 0) {
      CHECK(0, "nearest: %s", vt_failure_reason());
      free(in.rgb);
      continue;
    }
    int bad = 0, ties = 0, tie_lower = 0;
    for (int y = 0; y < oh; y++)
      for (int x = 0; x < ow; x++) {
        const uint8_t *p = out.rgb + 3 * ((size_t)y * ow + x);
        int sx = p[0] | (p[2] & 15) << 8, sy = p[1] | (p[2] >> 4) << 8;
        long nx = (2L * x + 1) * iw / (2L * ow), ny = (2L * y + 1) * ih / (2L * oh);
        int tx = (2L * x + 1) * iw % (2L * ow) == 0, ty = (2L * y + 1) * ih % (2L * oh) == 0;
        ties += tx || ty;
        tie_lower += (tx && sx == nx - 1) || (ty && sy == ny - 1);
        bad += !(sx == nx || (tx && sx == nx - 1)) || !(sy == ny || (ty && sy == ny - 1));
      }
    CHECK(bad == 0, "nearest %dx%d -> %dx%d: %d pixels from the wrong source", iw, ih, ow, oh, bad);
    printf("ok   nearest %4dx%-4d -> %3dx%-3d %d pixels at exact ties, %d of them one lower (as PIL)\n", iw, ih, ow,
           oh, ties, tie_lower);
    free(in.rgb);
    free(out.rgb);
  }
}

/* The antialias definition computed directly in double precision: triangle
 * 1 - |d| over all source pixels, stretched by max(scale, 1), normalised,
 * horizontal pass then vertical, rounding to 8 bits after each. */
static void triangle_pass_naive(const uint8_t *in, int n_in, int count, size_t step_in, size_t step_pix,
                                uint8_t *out, int n_out, size_t step_out, size_t out_step_pix) {
  double scale = (double)n_in / n_out, widen = scale > 1 ? scale : 1;
  for (int line = 0; line < count; line++)
    for (int i = 0; i < n_out; i++)
      for (int c = 0; c < 3; c++) {
        double center = (i + 0.5) * scale, sum = 0, wsum = 0;
        for (int j = 0; j < n_in; j++) {
          double d = fabs(j + 0.5 - center) / widen, wgt = d < 1 ? 1 - d : 0;
          sum += wgt * in[line * step_in + j * step_pix + c];
          wsum += wgt;
        }
        double v = floor(sum / wsum + 0.5);
        out[line * step_out + i * out_step_pix + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
      }
}

static vt_image resize_antialias_naive(const vt_image *in, int W, int H) {
  uint8_t *tmp = vt_xmalloc((size_t)W * in->height * 3);
  vt_image out = {W, H, vt_xmalloc((size_t)W * H * 3)};
  triangle_pass_naive(in->rgb, in->width, in->height, (size_t)in->width * 3, 3, tmp, W, (size_t)W * 3, 3);
  triangle_pass_naive(tmp, in->height, W, 3, (size_t)W * 3, out.rgb, H, 3, (size_t)W * 3);
  free(tmp);
  return out;
}

/* vt_image_resize (vectorised where the CPU allows) against
 * vt_image_resize_scalar, antialias: 1 if bitwise equal, else a failed check
 * naming what. */
static int same_as_scalar(const vt_image *in, int ow, int oh, const char *what) {
  vt_image fast, ref;
  if (vt_image_resize(in, ow, oh, VT_RESIZE_ANTIALIAS, &fast) < 0) {
    CHECK(0, "antialias %s: %s", what, vt_failure_reason());
    return 0;
  }
  if (vt_image_resize_scalar(in, ow, oh, VT_RESIZE_ANTIALIAS, &ref) < 0) {
    CHECK(0, "antialias %s (scalar): %s", what, vt_failure_reason());
    free(fast.rgb);
    return 0;
  }
  size_t n = (size_t)ow * oh * 3, at = 0;
  while (at < n && fast.rgb[at] == ref.rgb[at]) at++;
  CHECK(at == n, "antialias %s %dx%d -> %dx%d: vectorised differs from scalar at byte %zu (%d vs %d)", what,
        in->width, in->height, ow, oh, at, at < n ? fast.rgb[at] : 0, at < n ? ref.rgb[at] : 0);
  free(fast.rgb);
  free(ref.rgb);
  return at == n;
}

static vt_image noise_image(int w, int h) {
  vt_image im = {w, h, vt_xmalloc((size_t)w * h * 3)};
  for (size_t i = 0; i < (size_t)w * h * 3; i++) im.rgb[i] = (uint8_t)rng();
  return im;
}

/* The vectorised passes against the scalar ones, bit for bit. Horizontal:
 * widths where its 16-output blocks apply (downscales under ~2.5x), where
 * only some do, where none do (it falls back), out_w not a multiple of 16,
 * upscales, 1-pixel sources. Vertical: rows narrower than one 64-byte chunk,
 * a chunk and a bit, odd and even tap counts, upscales. Then random sizes,
 * and extremes (saturated pixels, a single non-zero pixel). */
static void test_antialias_vectorised(void) {
  static const int sizes[][4] = {
      {400, 533, 224, 224}, {533, 400, 224, 224}, {500, 682, 224, 224}, {266, 400, 224, 224}, {711, 400, 224, 224},
      {1000, 37, 224, 17},  {700, 30, 224, 30},   {31, 5, 17, 5},       {17, 3, 16, 2},       {224, 224, 224, 112},
      {100, 9, 333, 9},     {1, 40, 48, 40},      {4096, 2, 16, 2},     {3000, 7, 224, 7},    {224, 5, 225, 5},
      {225, 6, 224, 5},     {401, 3, 223, 3},     {35, 2, 17, 2},       {1, 1, 224, 224},     {1, 1, 1, 7},
      {2, 2, 1, 1},         {5, 700, 5, 224},     {22, 400, 22, 224},   {43, 301, 43, 300},   {50, 20, 30, 77},
      {16, 16, 16, 3},      {7, 5000, 3, 11},     {300, 1, 224, 1},     {1, 300, 1, 224},     {28, 28, 224, 224}};
  int cases = 0, equal = 0;
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
    vt_image in = noise_image(sizes[s][0], sizes[s][1]);
    equal += same_as_scalar(&in, sizes[s][2], sizes[s][3], "listed size");
    cases++;
    free(in.rgb);
  }
  for (int s = 0; s < 150; s++) {
    int iw = 1 + (int)(rng() % 300), ih = 1 + (int)(rng() % 300);
    int ow = 1 + (int)(rng() % 240), oh = 1 + (int)(rng() % 240);
    vt_image in = noise_image(iw, ih);
    equal += same_as_scalar(&in, ow, oh, "random size");
    cases++;
    free(in.rgb);
  }
  /* all 255: the largest sums there are; and one bright pixel in black */
  vt_image in = noise_image(400, 533);
  memset(in.rgb, 255, (size_t)400 * 533 * 3);
  equal += same_as_scalar(&in, 224, 224, "all 255");
  memset(in.rgb, 0, (size_t)400 * 533 * 3);
  memset(in.rgb + 3 * (200 * 400 + 123), 255, 3);
  equal += same_as_scalar(&in, 224, 224, "one white pixel");
  cases += 2;
  free(in.rgb);
  printf("ok   antialias: vectorised equal to scalar, bit for bit, in %d of %d synthetic cases\n", equal, cases);
}

/* The same on real photos, every 3rd of data/clothing-30's 300, to the
 * network's 224x224, to a size that upscales one axis, and to an odd one;
 * every other one of them also read in chunks, resized while decoding and
 * decoded from memory (check_streamed). */
static void test_antialias_vectorised_photos(void) {
  static const int targets[][2] = {{224, 224}, {150, 700}, {97, 61}};
  char manifest[4096];
  vt_inputs in;
  if (vt_inputs_from_manifest(vt_test_data(manifest, sizeof manifest, "clothing-30/manifest.csv"), NULL, NULL, &in) <
      0) {
    CHECK(0, "%s", vt_failure_reason());
    return;
  }
  int photos = 0, streamed = 0, equal = 0, cases = 0;
  for (int row = 0; row < in.n; row += 3) {
    vt_image im;
    if (vt_image_load(in.full[row], (size_t)1 << 26, &im) < 0) {
      CHECK(0, "%s", vt_failure_reason());
      continue;
    }
    photos++;
    for (size_t t = 0; t < sizeof targets / sizeof *targets; t++, cases++)
      equal += same_as_scalar(&im, targets[t][0], targets[t][1], in.full[row]);
    free(im.rgb);
    if (row % 6 == 0) {
      check_streamed(in.full[row], in.full[row]);
      streamed++;
    }
  }
  vt_inputs_free(&in);
  CHECK(photos == 100, "only %d photos read", photos);
  printf("ok   antialias on %d real photos: vectorised equal to scalar in %d of %d resizes; %d of them streamed\n",
         photos, equal, cases, streamed);
}

static void test_antialias(void) {
  static const int sizes[][4] = {{97, 61, 40, 30}, {61, 97, 224, 224}, {28, 28, 224, 224}, {300, 20, 7, 41},
                                 {50, 50, 49, 51}, {1, 1, 3, 3},       {9, 1, 2, 1}};
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
    int iw = sizes[s][0], ih = sizes[s][1], ow = sizes[s][2], oh = sizes[s][3];
    vt_image in = {iw, ih, vt_xmalloc((size_t)iw * ih * 3)}, out;
    for (size_t i = 0; i < (size_t)iw * ih * 3; i++) in.rgb[i] = (uint8_t)rng();
    if (vt_image_resize(&in, ow, oh, VT_RESIZE_ANTIALIAS, &out) < 0) {
      CHECK(0, "antialias: %s", vt_failure_reason());
      free(in.rgb);
      continue;
    }
    vt_image ref = resize_antialias_naive(&in, ow, oh);
    double mean;
    int m = max_abs_diff(out.rgb, ref.rgb, (size_t)ow * oh * 3, &mean);
    CHECK(m <= 1, "antialias %dx%d -> %dx%d: differs from the naive reference by %d", iw, ih, ow, oh, m);
    printf("ok   antialias %3dx%-3d -> %3dx%-3d vs naive: max diff %d, mean %.4f\n", iw, ih, ow, oh, m, mean);
    free(ref.rgb);
    free(out.rgb);
    free(in.rgb);
  }

  /* Same size: an exact copy. */
  vt_image in = {37, 23, vt_xmalloc(37 * 23 * 3)}, out;
  for (int i = 0; i < 37 * 23 * 3; i++) in.rgb[i] = (uint8_t)rng();
  int rc = vt_image_resize(&in, 37, 23, VT_RESIZE_ANTIALIAS, &out);
  CHECK(rc == 0 && memcmp(in.rgb, out.rgb, 37 * 23 * 3) == 0, "antialias to the same size is not a copy");
  if (rc == 0) printf("ok   antialias to the same size is an exact copy\n");
  free(out.rgb);
  free(in.rgb);

  /* A constant image stays constant, down and up, both policies. */
  static const int targets[][2] = {{224, 224}, {5, 3}, {1, 1}, {600, 17}};
  in = (vt_image){83, 59, vt_xmalloc(83 * 59 * 3)};
  for (int i = 0; i < 83 * 59; i++) memcpy(in.rgb + 3 * i, "\x11\xc8\xff", 3);
  for (int p = 0; p < 2; p++)
    for (int t = 0; t < 4; t++) {
      int W = targets[t][0], H = targets[t][1], bad = 0;
      if (vt_image_resize(&in, W, H, (vt_resize_policy)p, &out) < 0) {
        CHECK(0, "constant: %s", vt_failure_reason());
        continue;
      }
      for (int i = 0; i < W * H; i++) bad += memcmp(out.rgb + 3 * i, "\x11\xc8\xff", 3) != 0;
      CHECK(bad == 0, "%s of a constant image to %dx%d: %d pixels changed", vt_resize_policy_name(p), W, H, bad);
      free(out.rgb);
    }
  printf("ok   constant images stay constant (both policies, down and up)\n");
  free(in.rgb);

  /* A 1-pixel checkerboard halved: antialias averages (127.5, rounded up),
   * nearest keeps one of the two colours. */
  in = (vt_image){64, 64, vt_xmalloc(64 * 64 * 3)};
  for (int y = 0; y < 64; y++)
    for (int x = 0; x < 64; x++) memset(in.rgb + 3 * (y * 64 + x), (x + y) % 2 ? 255 : 0, 3);
  vt_image near;
  if (vt_image_resize(&in, 32, 32, VT_RESIZE_ANTIALIAS, &out) == 0 &&
      vt_image_resize(&in, 32, 32, VT_RESIZE_NEAREST, &near) == 0) {
    int off = 0, grey = 0;
    for (int y = 1; y < 31; y++)
      for (int x = 1; x < 31; x++) off += out.rgb[3 * (y * 32 + x)] != 128;
    for (int i = 0; i < 32 * 32 * 3; i++) grey += near.rgb[i] != 0 && near.rgb[i] != 255;
    CHECK(off == 0, "antialiased checkerboard: %d interior pixels not 128", off);
    CHECK(grey == 0, "nearest checkerboard: %d values neither 0 nor 255", grey);
    printf("ok   checkerboard halved: antialias gives 128 inside, nearest keeps 0/255\n");
    free(out.rgb);
    free(near.rgb);
  } else {
    CHECK(0, "checkerboard: %s", vt_failure_reason());
  }
  free(in.rgb);

  /* Upscaling a 2-pixel ramp interpolates monotonically between the ends. */
  uint8_t ramp[] = {0, 0, 0, 200, 100, 50};
  in = (vt_image){2, 1, ramp};
  if (vt_image_resize(&in, 8, 1, VT_RESIZE_ANTIALIAS, &out) == 0) {
    int mono = 1;
    for (int x = 1; x < 8; x++) mono &= out.rgb[3 * x] >= out.rgb[3 * (x - 1)];
    CHECK(mono && out.rgb[0] == 0 && out.rgb[21] == 200 && out.rgb[3 * 3] > 0 && out.rgb[3 * 4] < 200,
          "upscaled ramp: %d %d %d %d ... %d", out.rgb[0], out.rgb[3], out.rgb[6], out.rgb[9], out.rgb[21]);
    printf("ok   upscaled ramp 2 -> 8: %d %d %d %d %d %d %d %d\n", out.rgb[0], out.rgb[3], out.rgb[6], out.rgb[9],
           out.rgb[12], out.rgb[15], out.rgb[18], out.rgb[21]);
    free(out.rgb);
  }

  /* Invalid targets and policy names. */
  in = coordinate_image(4, 4);
  CHECK(vt_image_resize(&in, 0, 10, VT_RESIZE_NEAREST, &out) == -1 && out.rgb == NULL, "resize to width 0 accepted");
  CHECK(vt_image_resize(&in, 10, -3, VT_RESIZE_ANTIALIAS, &out) == -1, "resize to height -3 accepted");
  free(in.rgb);
  vt_resize_policy p;
  CHECK(vt_resize_policy_parse("nearest", &p) == 0 && p == VT_RESIZE_NEAREST, "parse nearest");
  CHECK(vt_resize_policy_parse("antialias", &p) == 0 && p == VT_RESIZE_ANTIALIAS, "parse antialias");
  CHECK(vt_resize_policy_parse("bicubic", &p) == -1, "parse bicubic accepted");
  CHECK(strcmp(vt_resize_policy_name(VT_RESIZE_ANTIALIAS), "antialias") == 0, "name antialias");
  CHECK(strcmp(vt_resize_policy_name(VT_RESIZE_NEAREST), "nearest") == 0, "name nearest");
}

/* ---- preprocess ---- */

static void test_preprocess(void) {
  const uint8_t rgb[] = {10, 20, 30, 0, 128, 255};
  float out[6];
  vt_preprocess(rgb, 2, 1, VT_PREPROCESS_CAFFE, out);
  const double caffe[6] = {30 - 103.939, 20 - 116.779, 10 - 123.68, 255 - 103.939, 128 - 116.779, 0 - 123.68};
  double m = 0;
  for (int i = 0; i < 6; i++) m = fmax(m, fabs(out[i] - caffe[i]));
  CHECK(m < 1e-4, "caffe: off by %g (got %g %g %g)", m, out[0], out[1], out[2]);
  printf("ok   caffe: BGR minus mean, max error %.2g\n", m);

  vt_preprocess(rgb, 2, 1, VT_PREPROCESS_TORCH, out);
  const double mean[3] = {0.485, 0.456, 0.406}, std[3] = {0.229, 0.224, 0.225};
  m = 0;
  for (int i = 0; i < 6; i++) m = fmax(m, fabs(out[i] - (rgb[i] / 255.0 - mean[i % 3]) / std[i % 3]));
  CHECK(m < 1e-5, "torch: off by %g (got %g %g %g)", m, out[0], out[1], out[2]);
  printf("ok   torch: RGB /255, normalised, max error %.2g\n", m);

  /* The vectorised path against the table, bitwise: every byte value in
   * every channel position, pixel counts around its 16-pixel blocks. */
  static const int sizes[][2] = {{1, 1}, {15, 1}, {16, 1}, {17, 1}, {33, 7}, {224, 224}, {256, 3}};
  for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
    for (int mi = 0; mi < 2; mi++) {
      vt_preprocess_mode pm = mi ? VT_PREPROCESS_TORCH : VT_PREPROCESS_CAFFE;
      int W = sizes[k][0], H = sizes[k][1];
      size_t n = (size_t)W * H * 3;
      uint8_t *px = malloc(n);
      float *fast = malloc((n + 1) * sizeof(float)), *ref = malloc(n * sizeof(float));
      for (size_t i = 0; i < n; i++) px[i] = (uint8_t)(i * 7 + i / 768); /* every value at every channel */
      fast[n] = 42.0f;
      vt_preprocess(px, W, H, pm, fast);
      vt_preprocess_scalar(px, W, H, pm, ref);
      CHECK(memcmp(fast, ref, n * sizeof(float)) == 0 && fast[n] == 42.0f,
            "preprocess %s %dx%d: vectorised differs from the table (or wrote past the end)", vt_preprocess_name(pm),
            W, H);
      free(px), free(fast), free(ref);
    }

  vt_preprocess_mode mode;
  CHECK(vt_preprocess_parse("caffe", &mode) == 0 && mode == VT_PREPROCESS_CAFFE, "parse caffe");
  CHECK(vt_preprocess_parse("torch", &mode) == 0 && mode == VT_PREPROCESS_TORCH, "parse torch");
  CHECK(vt_preprocess_parse("tf", &mode) == -1, "parse tf accepted");
  CHECK(strcmp(vt_preprocess_name(VT_PREPROCESS_TORCH), "torch") == 0, "name torch");
  CHECK(strcmp(vt_preprocess_name(VT_PREPROCESS_CAFFE), "caffe") == 0, "name caffe");
}

static void remove_temp_dir(void) {
  static const char *names[] = {"t.png",      "t.jpg",     "grey.jpg",  "cmyk.jpg",  "empty.jpg",        "noise.png",
                                "text.jpg",   "anim.png",  "whole.jpg", "cut.jpg",   "huge.jpg",         "zero.jpg",
                                "whole.png",  "cut.png",   "crc.png",   "huge.png",  "limit.png",        "zero.png",
                                "really-a-png.jpg", "pipe.jpg", "scan.jpg", "bmw.jpg", "tail.jpg", "tail.png",
                                "big.jpg", "big.png", "cut.img"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) unlink(temp_path(names[i]));
  if (rmdir(dir) != 0) printf("note: could not remove %s\n", dir);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/vt_test_image_XXXXXX");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  test_png_formats();
  test_jpeg();
  test_bad_inputs();
  test_signature_not_name();
  test_nearest();
  test_antialias();
  test_antialias_vectorised();
  test_antialias_vectorised_photos();
  test_preprocess();
  test_multi_chunk();
  CHECK(streamed_cases >= 1500, "only %d resizes while decoding compared", streamed_cases);
  printf("ok   resized while decoding equal to decode + resize in %d of %d cases\n", streamed_equal, streamed_cases);
  CHECK(memory_cases >= 2500, "only %d decodes from memory compared", memory_cases);
  printf("ok   files read in chunks equal to their bytes decoded from memory in %d of %d cases\n", memory_equal,
         memory_cases);
  remove_temp_dir();
  printf("%s (%d failures)\n", failures ? "FAILED" : "all passed", failures);
  return failures ? 1 : 0;
}
