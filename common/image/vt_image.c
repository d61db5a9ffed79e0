/* vt_image.c: decodes JPEG (libjpeg-turbo) and PNG (libpng) files to 8-bit RGB.
 *
 * The reference is what Keras load_img does: PIL open + convert('RGB'). JPEGs
 * are decoded with libjpeg's default settings (islow IDCT, fancy upsampling),
 * as PIL does with the same library, so the pixels are bit-identical. Where PIL
 * is not sane (16-bit grey) we take the sane choice and say so below. EXIF
 * orientation is ignored, as PIL's open + convert do: pixels as stored.
 *
 * Every decode reads the header first and refuses images over max_pixels
 * before any pixel memory is allocated. A file's compressed bytes are read a
 * chunk at a time as the decoder asks for them (byte_source), never whole.
 * Library warnings that mean "the data is damaged" (libjpeg's level -1
 * messages, PNG CRC errors) are failures: both libraries would otherwise
 * return partly grey images without a word. */
#include "image/vt_image.h"
#include "base/vt_common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

/* "900000000" -> "900,000,000": limits are easier to read with separators. */
static const char *group_digits(size_t n, char buf[32]) {
  char digits[24];
  int len = snprintf(digits, sizeof digits, "%zu", n), j = 0;
  for (int i = 0; i < len; i++) {
    if (i > 0 && (len - i) % 3 == 0) buf[j++] = ',';
    buf[j++] = digits[i];
  }
  buf[j] = '\0';
  return buf;
}

/* Refuses a header's dimensions if they are zero or over the limit. */
static int check_size(size_t w, size_t h, size_t max_pixels) {
  char a[32], b[32];
  size_t pixels;
  if (w == 0 || h == 0) return vt_fail("image has zero size (%zu x %zu)", w, h);
  if (w > INT_MAX || h > INT_MAX || vt_size_mul(w, h, &pixels) < 0)
    return vt_fail("image is %zu x %zu pixels, too large to address", w, h);
  if (pixels > max_pixels)
    return vt_fail("image is %zu x %zu = %s pixels, over the limit of %s", w, h, group_digits(pixels, a),
                   group_digits(max_pixels, b));
  return 0;
}

/* Checks the header's dimensions and allocates the RGB buffer. Called after
 * the header is read and before any pixel data is decoded. */
static int alloc_rgb(size_t w, size_t h, size_t max_pixels, uint8_t **rgb) {
  size_t bytes;
  if (check_size(w, h, max_pixels) < 0 || vt_size_mul3(w, h, 3, &bytes) < 0) return -1;
  *rgb = malloc(bytes);
  if (!*rgb) return vt_fail("out of memory for a %zu x %zu image", w, h);
  return 0;
}

/* Where decoded rows go: a whole image (vt_image_load), or a resizer that
 * takes them band by band (vt_image_load_resized). begin is called once the
 * output size is known, before any pixel is decoded; on failure after that,
 * sink_discard frees what it holds. */
typedef struct {
  size_t max_pixels;
  int fit_w, fit_h; /* > 0: a JPEG is decoded shrunk in the DCT domain, to no less (draft_factor) */
  int W, H; /* 0: the whole image */
  vt_resize_policy policy;
  int width, height; /* of the decoded image */
  vt_image whole;
  vt_resizer *resizer;
  int mirror;           /* also resize the left-right mirror image of the rows */
  vt_resizer *mirrored; /* ... with this resizer, into ... */
  vt_image mirror_out;  /* ... this result */
} row_sink;

static int sink_begin(row_sink *s, size_t w, size_t h) {
  s->width = (int)w, s->height = (int)h; /* check_size below, or in alloc_rgb, bounds them */
  if (!s->W) {
    if (alloc_rgb(w, h, s->max_pixels, &s->whole.rgb) < 0) return -1;
    s->whole.width = (int)w, s->whole.height = (int)h;
    return 0;
  }
  if (check_size(w, h, s->max_pixels) < 0) return -1;
  s->resizer = vt_resizer_new((int)w, (int)h, s->W, s->H, s->policy);
  if (s->resizer && s->mirror && !(s->mirrored = vt_resizer_new((int)w, (int)h, s->W, s->H, s->policy))) {
    vt_resizer_free(s->resizer);
    s->resizer = NULL;
  }
  return s->resizer ? 0 : -1;
}

/* Rows y..y+n of rgb, each reversed left to right, into the mirror's resizer. */
static void push_mirrored(row_sink *s, const uint8_t *rgb, int y, int n) {
  size_t row = (size_t)s->width * 3;
  for (int k = 0, m; k < n; k += m) {
    uint8_t *dst = vt_resizer_rows(s->mirrored, y + k, &m);
    if (m > n - k) m = n - k;
    for (int i = 0; i < m; i++) {
      const uint8_t *src = rgb + (size_t)(k + i) * row;
      uint8_t *d = dst + (size_t)i * row;
      for (int x = 0, last = s->width - 1; x < s->width; x++) memcpy(d + 3 * x, src + 3 * (last - x), 3);
    }
    vt_resizer_push(s->mirrored, dst, y + k, m);
  }
}

/* Where rows y.. go, *n of them at most. */
static uint8_t *sink_rows(row_sink *s, int y, int *n) {
  if (s->resizer) return vt_resizer_rows(s->resizer, y, n);
  *n = s->whole.height - y;
  return s->whole.rgb + (size_t)y * s->whole.width * 3;
}

/* Rows y..y+n are in rgb. */
static void sink_push(row_sink *s, const uint8_t *rgb, int y, int n) {
  if (s->mirrored) push_mirrored(s, rgb, y, n);
  if (s->resizer) vt_resizer_push(s->resizer, rgb, y, n);
}

static void sink_finish(row_sink *s, vt_image *out) {
  if (s->resizer) vt_resizer_finish(s->resizer, out);
  else *out = s->whole;
  if (s->mirrored) vt_resizer_finish(s->mirrored, &s->mirror_out);
  s->resizer = s->mirrored = NULL;
  s->whole = (vt_image){0, 0, NULL};
}

static void sink_discard(row_sink *s) {
  vt_resizer_free(s->resizer);
  vt_resizer_free(s->mirrored);
  free(s->whole.rgb);
  s->resizer = s->mirrored = NULL;
  s->whole = (vt_image){0, 0, NULL};
}

/* ---- where the compressed bytes come from ---- */

/* The decoders get the compressed bytes SOURCE_CHUNK at a time, from a file
 * or from memory alike: a header declaring too many pixels, or gigabytes
 * after a JPEG's end, cost one chunk, not the file's size; and a file
 * decodes exactly as its bytes do from memory. That needs the same chunks
 * in both: libjpeg-turbo decodes an MCU with its fast Huffman path while 512
 * bytes per block of the MCU (up to 10 blocks: 5 KiB) are buffered, else
 * with its slow path, and only the slow one reports a bad Huffman code (the
 * fast one decodes it as 0), so on damaged data where the chunks end decides
 * between an image and "Corrupt JPEG data". 64 KiB keeps the slow path to
 * the last few KiB of each chunk; most photos fit one chunk (the clothing
 * photos: median 26 KB, 15 of 1441 over 64 KiB). */
#ifndef VT_SOURCE_CHUNK
#define VT_SOURCE_CHUNK (64 * 1024) /* the fuzz build's are tiny: every boundary gets hit */
#endif
enum { SOURCE_CHUNK = VT_SOURCE_CHUNK };

typedef struct {
  const uint8_t *next; /* the current chunk's bytes not yet consumed */
  size_t avail;
  FILE *file;          /* a file's bytes, read into chunk */
  uint8_t *chunk;
  const uint8_t *rest; /* or bytes in memory: those after the current chunk */
  size_t rest_len;
} byte_source;

/* Once the available bytes are consumed: the next chunk. 1 if there are
 * bytes, 0 at the end of the data, -1 (reason given) on a read error. */
static int source_refill(byte_source *s) {
  if (s->file) {
    size_t got = fread(s->chunk, 1, SOURCE_CHUNK, s->file);
    if (got == 0 && ferror(s->file)) return vt_fail("read error: %s", strerror(errno));
    s->next = s->chunk, s->avail = got;
  } else {
    s->next = s->rest, s->avail = s->rest_len < SOURCE_CHUNK ? s->rest_len : SOURCE_CHUNK;
    s->rest += s->avail, s->rest_len -= s->avail;
  }
  return s->avail > 0;
}

/* ---- JPEG ---- */

typedef struct {
  struct jpeg_error_mgr pub;
  jmp_buf jmp;
} jpeg_failure;

/* libjpeg calls this for fatal errors; the reason is recorded here, the
 * cleanup happens after the longjmp. */
static void jpeg_on_error(j_common_ptr cinfo) {
  jpeg_failure *f = (jpeg_failure *)cinfo->err;
  if (f->pub.msg_code == JWRN_JPEG_EOF) {
    vt_fail("truncated JPEG data");
  } else {
    char msg[JMSG_LENGTH_MAX];
    f->pub.format_message(cinfo, msg);
    vt_fail("JPEG: %s", msg);
  }
  longjmp(f->jmp, 1);
}

/* Level -1 is a warning about the data ("Premature end of JPEG file",
 * "Corrupt JPEG data: ..."): libjpeg would go on and fill the rest with grey,
 * so we stop. Higher levels are trace messages. */
static void jpeg_on_message(j_common_ptr cinfo, int level) {
  if (level == -1) jpeg_on_error(cinfo);
}

/* A byte_source as libjpeg's data source (its jpeg_mem_src and
 * jpeg_stdio_src read a buffer or a FILE; ours reads either). */
typedef struct {
  struct jpeg_source_mgr pub;
  byte_source *bytes;
} jpeg_source;

static void jpeg_source_nothing(j_decompress_ptr cinfo) {} /* init_source, term_source */

static boolean jpeg_source_fill(j_decompress_ptr cinfo) {
  static const JOCTET fake_eoi[2] = {0xFF, JPEG_EOI};
  jpeg_source *src = (jpeg_source *)cinfo->src;
  int more = source_refill(src->bytes);
  if (more < 0) longjmp(((jpeg_failure *)cinfo->err)->jmp, 1); /* the read error is the reason */
  if (more) {
    src->pub.next_input_byte = src->bytes->next, src->pub.bytes_in_buffer = src->bytes->avail;
    return TRUE;
  }
  /* The end of the data: what libjpeg's own sources do, a warning (which
   * jpeg_on_message makes "truncated JPEG data") and an EOI marker for a
   * decoder that would go on. */
  WARNMS(cinfo, JWRN_JPEG_EOF);
  src->pub.next_input_byte = fake_eoi, src->pub.bytes_in_buffer = sizeof fake_eoi;
  return TRUE;
}

/* Skips a marker segment we do not use (APPn, COM), refilling as needed. */
static void jpeg_source_skip(j_decompress_ptr cinfo, long n) {
  struct jpeg_source_mgr *src = cinfo->src;
  while (n > 0 && (size_t)n > src->bytes_in_buffer) {
    n -= (long)src->bytes_in_buffer;
    src->fill_input_buffer(cinfo);
  }
  if (n > 0) src->next_input_byte += n, src->bytes_in_buffer -= (size_t)n;
}

/* CMYK -> RGB as PIL does it, which is also the usual "no colour management"
 * formula: R = (255 - C) * (255 - K) / 255, rounded, with C, M, Y, K the ink
 * amounts. Photoshop (and libjpeg for YCCK) store CMYK inverted, s = 255 - ink,
 * and that is what reaches us here, so R = sC * sK / 255. Every 4-channel JPEG
 * is taken to be inverted, as PIL does (it always opens CMYK as "CMYK;I"):
 * the Adobe marker cannot tell inverted from plain data, and plain CMYK JPEGs
 * are rare in practice.
 * p * q / 255 is never exactly halfway between integers, so +127 rounds. */
static void cmyk_inverted_to_rgb(const uint8_t *cmyk, int w, uint8_t *rgb) {
  for (int x = 0; x < w; x++, cmyk += 4, rgb += 3) {
    unsigned k = cmyk[3];
    rgb[0] = (uint8_t)((cmyk[0] * k + 127) / 255);
    rgb[1] = (uint8_t)((cmyk[1] * k + 127) / 255);
    rgb[2] = (uint8_t)((cmyk[2] * k + 127) / 255);
  }
}

/* Replicates an 8-bit grey row, stored at the start of the RGB row, in place
 * (back to front, so no value is overwritten before it is read). */
static void grey_to_rgb_inplace(uint8_t *row, int w) {
  for (int x = w - 1; x >= 0; x--) {
    uint8_t v = row[x];
    row[3 * x] = row[3 * x + 1] = row[3 * x + 2] = v;
  }
}

/* PIL's Image.draft rule: the largest of 8, 4, 2, 1 not over either
 * integer ratio, so at least fit_w x fit_h pixels remain. */
static unsigned draft_factor(unsigned w, unsigned h, int fit_w, int fit_h) {
  unsigned rw = w / (unsigned)fit_w, rh = h / (unsigned)fit_h, r = rw < rh ? rw : rh;
  return r >= 8 ? 8 : r >= 4 ? 4 : r >= 2 ? 2 : 1;
}

static int decode_jpeg(byte_source *bytes, row_sink *sink, int file_size[2]) {
  struct jpeg_decompress_struct cinfo;
  jpeg_failure failure;
  jpeg_source src = {.pub = {.next_input_byte = bytes->next,
                             .bytes_in_buffer = bytes->avail,
                             .init_source = jpeg_source_nothing,
                             .fill_input_buffer = jpeg_source_fill,
                             .skip_input_data = jpeg_source_skip,
                             .resync_to_restart = jpeg_resync_to_restart,
                             .term_source = jpeg_source_nothing},
                     .bytes = bytes};

  cinfo.err = jpeg_std_error(&failure.pub);
  failure.pub.error_exit = jpeg_on_error;
  failure.pub.emit_message = jpeg_on_message;
  if (setjmp(failure.jmp)) {
    jpeg_destroy_decompress(&cinfo);
    sink_discard(sink);
    return -1;
  }
  jpeg_create_decompress(&cinfo);
  cinfo.src = &src.pub;
  jpeg_read_header(&cinfo, TRUE);

  int cmyk = 0;
  switch (cinfo.jpeg_color_space) {
  case JCS_GRAYSCALE: cinfo.out_color_space = JCS_GRAYSCALE; break;
  case JCS_CMYK:
  case JCS_YCCK: cinfo.out_color_space = JCS_CMYK; cmyk = 1; break;
  default: cinfo.out_color_space = JCS_RGB; break;
  }
  /* The limit is on the file's own size, so which rows fail does not depend
   * on the resize policy. */
  if (check_size(cinfo.image_width, cinfo.image_height, sink->max_pixels) < 0) {
    jpeg_destroy_decompress(&cinfo);
    return -1;
  }
  if (file_size) file_size[0] = (int)cinfo.image_width, file_size[1] = (int)cinfo.image_height;
  if (sink->fit_w > 0 && sink->fit_h > 0) {
    cinfo.scale_num = 1;
    cinfo.scale_denom = draft_factor(cinfo.image_width, cinfo.image_height, sink->fit_w, sink->fit_h);
  }
  jpeg_calc_output_dimensions(&cinfo);
  if (sink_begin(sink, cinfo.output_width, cinfo.output_height) < 0) {
    jpeg_destroy_decompress(&cinfo);
    return -1;
  }
  jpeg_start_decompress(&cinfo);

  int w = (int)cinfo.output_width, h = (int)cinfo.output_height;
  JSAMPARRAY cmyk_row = NULL; /* freed by libjpeg with the decompressor */
  if (cmyk) cmyk_row = cinfo.mem->alloc_sarray((j_common_ptr)&cinfo, JPOOL_IMAGE, cinfo.output_width * 4, 1);
  while ((int)cinfo.output_scanline < h) {
    int y = (int)cinfo.output_scanline, n;
    uint8_t *band = sink_rows(sink, y, &n);
    for (int i = 0; i < n; i++) {
      JSAMPROW row = band + (size_t)i * w * 3;
      if (cmyk) {
        jpeg_read_scanlines(&cinfo, cmyk_row, 1);
        cmyk_inverted_to_rgb(cmyk_row[0], w, row);
      } else {
        jpeg_read_scanlines(&cinfo, &row, 1);
        if (cinfo.out_color_space == JCS_GRAYSCALE) grey_to_rgb_inplace(row, w);
      }
    }
    sink_push(sink, band, y, n);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return 0;
}

/* ---- PNG ---- */

static void png_read_source(png_structp png, png_bytep dst, size_t n) {
  byte_source *bytes = png_get_io_ptr(png);
  for (size_t k; n > 0; dst += k, n -= k) {
    if (bytes->avail == 0) {
      int more = source_refill(bytes);
      if (more < 0) png_longjmp(png, 1); /* the read error is the reason */
      if (!more) png_error(png, "truncated PNG data");
    }
    k = n < bytes->avail ? n : bytes->avail;
    memcpy(dst, bytes->next, k);
    bytes->next += k, bytes->avail -= k;
  }
}

static void png_on_error(png_structp png, png_const_charp msg) {
  if (strcmp(msg, "truncated PNG data") == 0) vt_fail("%s", msg);
  else vt_fail("PNG: %s", msg);
  png_longjmp(png, 1);
}

/* Warnings concern ancillary chunks we do not use (bad iCCP profiles, text
 * chunks); PIL ignores them too. CRC errors are made fatal separately. */
static void png_on_warning(png_structp png, png_const_charp msg) {}

/* The transforms reproduce PIL's convert('RGB'): palette expanded; 1/2/4-bit
 * grey scaled to 8 bits by bit replication (0xF -> 0xFF, as PIL's L;4);
 * alpha and tRNS dropped, not composited; gAMA/iCCP ignored; 16 bits reduced
 * to their high byte (png_set_strip_16), which is what PIL does for 16-bit
 * RGB(A) and grey+alpha. For 16-bit grey PIL differs: it opens the image as
 * 32-bit mode "I" and convert('RGB') clips each value to 0..255, so a 16-bit
 * value of 1000 becomes white. We keep the high byte there too (1000 -> 3). */
static int png_set_rgb8_transforms(png_structp png, png_infop info) {
  int color_type = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (!(color_type & PNG_COLOR_MASK_COLOR) && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16) png_set_strip_16(png);
  png_set_strip_alpha(png);
  if (!(color_type & PNG_COLOR_MASK_COLOR)) png_set_gray_to_rgb(png);
  int passes = png_set_interlace_handling(png);
  png_read_update_info(png, info);
  return passes;
}

/* png_read_info reads on to the first IDAT, so a header declaring a huge
 * image with little behind it would fail as truncated, not as too large. The
 * IHDR must be the first chunk: check its size before libpng starts (libpng
 * still validates the header, CRC included, afterwards). */
static int png_check_ihdr_size(const uint8_t *data, size_t size, size_t max_pixels) {
  if (size < 24 || memcmp(data + 12, "IHDR", 4) != 0) return 0; /* libpng will say what is wrong */
  const uint8_t *p = data + 16;
  size_t w = (size_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
  size_t h = (size_t)p[4] << 24 | p[5] << 16 | p[6] << 8 | p[7];
  return check_size(w, h, max_pixels);
}

static int decode_png(byte_source *bytes, row_sink *sink) {
  /* the first chunk holds the IHDR, unless the data is shorter */
  if (png_check_ihdr_size(bytes->next, bytes->avail, sink->max_pixels) < 0) return -1;
  png_infop info = NULL;
  uint8_t *volatile whole = NULL;    /* volatile: assigned after setjmp, */
  png_bytep *volatile rows = NULL;   /* freed after a longjmp */

  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, png_on_error, png_on_warning);
  if (!png) return vt_fail("out of memory starting the PNG decoder");
  info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, NULL, NULL);
    return vt_fail("out of memory starting the PNG decoder");
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    free(whole);
    sink_discard(sink);
    return -1;
  }
  png_set_read_fn(png, bytes, png_read_source);
  /* libpng refuses widths or heights over 1,000,000 by default ("Invalid
   * IHDR data"), which would fail a valid 1,000,001 x 1 strip that PIL reads.
   * The pixel limit is ours (png_check_ihdr_size): lift libpng's to the
   * format's own maximum, 2^31 - 1. */
  png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
  /* Default: critical chunks fail, ancillary ones are dropped with a warning.
   * A bad CRC anywhere means a damaged file, so we fail for both. */
  png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
  png_read_info(png, info);

  size_t w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  if (sink_begin(sink, w, h) < 0) {
    png_destroy_read_struct(&png, &info, NULL);
    return -1;
  }
  int interlaced = png_set_rgb8_transforms(png, info) > 1;
  if (png_get_rowbytes(png, info) != w * 3) png_error(png, "unexpected row size after conversion to RGB");

  if (!interlaced) {
    for (int y = 0, n; y < (int)h; y += n) {
      uint8_t *band = sink_rows(sink, y, &n);
      for (int i = 0; i < n; i++) png_read_row(png, band + (size_t)i * w * 3, NULL);
      sink_push(sink, band, y, n);
    }
  } else {
    /* Each pass adds pixels to every row: the image is whole before any row
     * is final. Into the sink's own image, or one of ours. */
    int n;
    uint8_t *buf = sink->resizer ? NULL : sink_rows(sink, 0, &n);
    if (!buf) {
      if (alloc_rgb(w, h, sink->max_pixels, &buf) < 0) {
        char why[256];
        snprintf(why, sizeof why, "%s", vt_failure_reason());
        png_error(png, why);
      }
      whole = buf;
    }
    png_bytep *r = malloc(h * sizeof *r); /* h * 3 bytes were just allocated: no overflow */
    if (!r) png_error(png, "out of memory");
    rows = r;
    for (size_t y = 0; y < h; y++) r[y] = buf + y * w * 3;
    png_read_image(png, r);
    sink_push(sink, buf, 0, (int)h);
  }
  png_read_end(png, NULL); /* checks the chunks after the pixels (CRCs, IEND) */
  png_destroy_read_struct(&png, &info, NULL);
  free(rows);
  free(whole);
  return 0;
}

/* ---- entry points ---- */

static int starts_with(const uint8_t *data, size_t size, const char *magic, size_t n) {
  return size >= n && memcmp(data, magic, n) == 0;
}

static const char png_magic[8] = "\x89PNG\r\n\x1a\n";

static int is_jpeg_or_png(const uint8_t *data, size_t size) {
  return starts_with(data, size, "\xff\xd8\xff", 3) || starts_with(data, size, png_magic, 8);
}

/* Sniffs the signature in the first chunk and decodes. */
static int decode(byte_source *bytes, row_sink *sink, vt_image *out, int file_size[2]) {
  const uint8_t *data = bytes->next;
  size_t size = bytes->avail;
  *out = (vt_image){0, 0, NULL};
  if (size == 0) return vt_fail("empty file");
  if (is_jpeg_or_png(data, size)) {
    int png = starts_with(data, size, png_magic, 8);
    if ((png ? decode_png(bytes, sink) : decode_jpeg(bytes, sink, file_size)) < 0) return -1;
    if (png && file_size) file_size[0] = sink->width, file_size[1] = sink->height;
    sink_finish(sink, out);
    return 0;
  }
  if (size < 8 && memcmp(data, png_magic, size) == 0) return vt_fail("truncated PNG data");
  /* Name the common formats we do not read, so the user knows what to convert. */
  const char *kind = NULL;
  if (starts_with(data, size, "GIF8", 4)) kind = "GIF";
  else if (size >= 12 && starts_with(data, size, "RIFF", 4) && memcmp(data + 8, "WEBP", 4) == 0) kind = "WebP";
  else if (starts_with(data, size, "II*\0", 4) || starts_with(data, size, "MM\0*", 4)) kind = "TIFF";
  else if (size >= 12 && memcmp(data + 4, "ftyp", 4) == 0) kind = "HEIF/AVIF";
  else if (size >= 10 && starts_with(data, size, "BM", 2) && memcmp(data + 6, "\0\0\0\0", 4) == 0)
    kind = "BMP"; /* "BM", the file size, then 4 reserved bytes that are zero */
  if (kind) return vt_fail("a %s file: only JPEG and PNG are supported", kind);
  return vt_fail("not a JPEG or PNG file");
}

static int decode_memory(const uint8_t *data, size_t size, row_sink *sink, vt_image *out, int file_size[2]) {
  byte_source bytes = {.rest = data, .rest_len = size};
  source_refill(&bytes);
  return decode(&bytes, sink, out, file_size);
}

/* The sink of a resize to W x H, from the JPEG shrunk while decoding for
 * dct-antialias; -1 + reason for an invalid target. */
static int resize_sink(size_t max_pixels, int W, int H, vt_resize_policy p, row_sink *s) {
  if (W <= 0 || H <= 0) return vt_fail("invalid resize target %d x %d", W, H);
  int fit = p == VT_RESIZE_DCT_ANTIALIAS;
  *s = (row_sink){.max_pixels = max_pixels, .fit_w = fit ? W : 0, .fit_h = fit ? H : 0, .W = W, .H = H, .policy = p};
  return 0;
}

int vt_image_decode(const uint8_t *data, size_t size, size_t max_pixels, vt_image *out) {
  row_sink whole = {.max_pixels = max_pixels};
  return decode_memory(data, size, &whole, out, NULL);
}

int vt_image_decode_draft(const uint8_t *data, size_t size, size_t max_pixels, int fit_w, int fit_h,
                          vt_image *out, int file_size[2]) {
  row_sink whole = {.max_pixels = max_pixels, .fit_w = fit_w, .fit_h = fit_h};
  return decode_memory(data, size, &whole, out, file_size);
}

int vt_image_decode_resized(const uint8_t *data, size_t size, size_t max_pixels, int W, int H, vt_resize_policy p,
                            vt_image *out, int file_size[2]) {
  row_sink resize;
  *out = (vt_image){0, 0, NULL};
  return resize_sink(max_pixels, W, H, p, &resize) < 0 ? -1 : decode_memory(data, size, &resize, out, file_size);
}

/* What a path that is not a regular file is, for the failure reason. */
static const char *file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "is a directory, not an image file";
  if (S_ISFIFO(mode)) return "not a regular file (a FIFO)";
  if (S_ISSOCK(mode)) return "not a regular file (a socket)";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "not a regular file (a device)";
  return "not a regular file";
}

static int load(const char *path, row_sink *sink, vt_image *out, int file_size[2]) {
  *out = (vt_image){0, 0, NULL};
  /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer
   * forever; for a regular file the flag changes nothing. */
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return vt_fail("cannot open: %s", strerror(errno));
  struct stat st;
  int rc = fstat(fd, &st) != 0 ? vt_fail("cannot stat: %s", strerror(errno))
           : !S_ISREG(st.st_mode) ? vt_fail("%s", file_kind(st.st_mode))
                                  : 0;
  if (rc < 0) {
    close(fd);
    return -1;
  }
  FILE *f = fdopen(fd, "rb");
  if (!f) {
    close(fd);
    return vt_fail("cannot open: %s", strerror(errno));
  }
  /* The first chunk says what the file is (a 6 GB video named .jpg is
   * refused from it: read whole, it took 6 GB and 26 s); the decoder reads
   * the rest as it needs it. */
  byte_source bytes = {.file = f, .chunk = malloc(SOURCE_CHUNK)};
  rc = !bytes.chunk                ? vt_fail("out of memory for a read buffer")
       : source_refill(&bytes) < 0 ? -1
                                   : decode(&bytes, sink, out, file_size);
  free(bytes.chunk);
  fclose(f);
  return rc;
}

int vt_image_load(const char *path, size_t max_pixels, vt_image *out) {
  row_sink whole = {.max_pixels = max_pixels};
  return load(path, &whole, out, NULL);
}

int vt_image_load_draft(const char *path, size_t max_pixels, int fit_w, int fit_h, vt_image *out,
                        int file_size[2]) {
  row_sink whole = {.max_pixels = max_pixels, .fit_w = fit_w, .fit_h = fit_h};
  return load(path, &whole, out, file_size);
}

int vt_image_load_resized(const char *path, size_t max_pixels, int W, int H, vt_resize_policy p, vt_image *out,
                          int file_size[2]) {
  row_sink resize;
  *out = (vt_image){0, 0, NULL};
  return resize_sink(max_pixels, W, H, p, &resize) < 0 ? -1 : load(path, &resize, out, file_size);
}

int vt_image_load_resized_mirrored(const char *path, size_t max_pixels, int W, int H, vt_resize_policy p,
                                   vt_image *out, vt_image *mirrored, int file_size[2]) {
  row_sink resize;
  *out = *mirrored = (vt_image){0, 0, NULL};
  if (resize_sink(max_pixels, W, H, p, &resize) < 0) return -1;
  resize.mirror = 1;
  if (load(path, &resize, out, file_size) < 0) return -1;
  *mirrored = resize.mirror_out;
  return 0;
}

/* ---- encoding (the report page's thumbnails) ---- */

int vt_image_write_jpeg(const vt_image *im, int quality, FILE *f) {
  struct jpeg_compress_struct cinfo;
  jpeg_failure failure;
  cinfo.err = jpeg_std_error(&failure.pub);
  failure.pub.error_exit = jpeg_on_error;
  failure.pub.emit_message = jpeg_on_message;
  if (setjmp(failure.jmp)) {
    jpeg_destroy_compress(&cinfo);
    return -1;
  }
  jpeg_create_compress(&cinfo);
  jpeg_stdio_dest(&cinfo, f);
  cinfo.image_width = (JDIMENSION)im->width;
  cinfo.image_height = (JDIMENSION)im->height;
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = im->rgb + (size_t)cinfo.next_scanline * (size_t)im->width * 3;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  if (ferror(f)) return vt_fail("cannot write the JPEG: %s", strerror(errno));
  return 0;
}
