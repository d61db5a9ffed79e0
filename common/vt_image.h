/* vt_image.h: decoding (JPEG via libjpeg-turbo, PNG via libpng) to 8-bit RGB,
 * resizing, and preprocessing into the network's float input. */
#ifndef VT_IMAGE_H
#define VT_IMAGE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  int width, height;
  uint8_t *rgb; /* [height][width][3], free() it */
} vt_image;

/* Decodes a JPEG or PNG file (detected by its signature, not its name) to
 * 8-bit RGB. Greyscale is replicated, palette expanded, 16-bit reduced to 8,
 * alpha dropped (as PIL's convert('RGB') does), CMYK/YCCK JPEG converted.
 * Refuses images with more than max_pixels pixels before allocating for them
 * (SIZE_MAX: no limit). Fails (-1 + reason, no path in it: the caller names
 * the file) for truncated, empty, corrupt or unsupported files. Pixels equal
 * PIL's open(path).convert('RGB') except for 16-bit greyscale PNGs (see
 * vt_image.c). The file is read 64 KiB at a time as the decoder needs its
 * bytes, never whole, and decodes exactly as those bytes do from memory.
 * Thread-safe: no state is shared between calls. */
int vt_image_load(const char *path, size_t max_pixels, vt_image *out);
/* The same from memory. */
int vt_image_decode(const uint8_t *data, size_t size, size_t max_pixels, vt_image *out);

/* As vt_image_load / vt_image_decode, but a JPEG is decoded already shrunk
 * in libjpeg's DCT domain, by the largest f of 8, 4, 2, 1 with
 * width / fit_w >= f and height / fit_h >= f (integer division), to
 * ceil(width / f) x ceil(height / f): at least fit_w x fit_h remain. That is
 * PIL's Image.draft('RGB', (fit_w, fit_h)) rule, with the same pixels. A 2x
 * larger photo decodes and resamples ~4x fewer pixels. PNGs decode in full.
 * file_size (may be NULL) gets the file's own width and height; max_pixels
 * applies to that size. */
int vt_image_load_draft(const char *path, size_t max_pixels, int fit_w, int fit_h, vt_image *out,
                        int file_size[2]);
int vt_image_decode_draft(const uint8_t *data, size_t size, size_t max_pixels, int fit_w, int fit_h,
                          vt_image *out, int file_size[2]);

typedef enum {
  VT_RESIZE_NEAREST,   /* "nearest": Keras load_img default (PIL NEAREST) */
  VT_RESIZE_ANTIALIAS, /* "antialias": PIL-style bilinear with antialiasing */
  VT_RESIZE_DCT_ANTIALIAS, /* "dct-antialias": JPEGs shrunk by 2/4/8 while decoding
                            * (vt_image_load_draft), then antialias */
} vt_resize_policy;

/* Name <-> policy. Returns -1 for unknown names. */
int vt_resize_policy_parse(const char *name, vt_resize_policy *out);
const char *vt_resize_policy_name(vt_resize_policy p);

/* Loads and resizes to W x H in one (dct-antialias: the JPEG shrunk while
 * decoding, as vt_image_load_draft), without the whole image in memory:
 * rows are resized as they are decoded (vt_resizer), so a 10000 x 10000
 * photo takes ~7 MB, not 300. The pixels equal vt_image_load(_draft) +
 * vt_image_resize's. file_size (may be NULL) gets the file's own width and
 * height. An interlaced PNG is still decoded whole first (its rows arrive
 * in passes), and libjpeg keeps a progressive JPEG's coefficients for the
 * whole image (2 bytes per sample). */
int vt_image_load_resized(const char *path, size_t max_pixels, int W, int H, vt_resize_policy p, vt_image *out,
                          int file_size[2]);
/* The same from memory. */
int vt_image_decode_resized(const uint8_t *data, size_t size, size_t max_pixels, int W, int H, vt_resize_policy p,
                            vt_image *out, int file_size[2]);

/* Resizing an in_w x in_h image to W x H whose rows arrive in bands (from a
 * decoder): vt_resizer_rows says where the rows from y on go (full RGB rows
 * of in_w pixels) and how many at most; vt_resizer_push hands rows y..y+n
 * over (from there, or from anywhere else); after the last row,
 * vt_resizer_finish gives the result and frees the resizer. NULL + reason
 * for invalid sizes or no memory. */
typedef struct vt_resizer vt_resizer;
vt_resizer *vt_resizer_new(int in_w, int in_h, int W, int H, vt_resize_policy p);
uint8_t *vt_resizer_rows(vt_resizer *r, int y, int *n);
void vt_resizer_push(vt_resizer *r, const uint8_t *rgb, int y, int n);
void vt_resizer_finish(vt_resizer *r, vt_image *out);
void vt_resizer_free(vt_resizer *r); /* to give up before the end */

/* Resizes to W x H (aspect not kept, as Keras load_img(target_size=...)). */
int vt_image_resize(const vt_image *in, int W, int H, vt_resize_policy p, vt_image *out);
/* The same without the vectorised horizontal pass: the reference the tests
 * hold vt_image_resize to, bit for bit. */
int vt_image_resize_scalar(const vt_image *in, int W, int H, vt_resize_policy p, vt_image *out);

typedef enum {
  VT_PREPROCESS_CAFFE, /* "caffe": RGB->BGR, minus [103.939, 116.779, 123.68] */
  VT_PREPROCESS_TORCH, /* "torch": RGB, /255, minus [0.485,0.456,0.406], / [0.229,0.224,0.225] */
} vt_preprocess_mode;

int vt_preprocess_parse(const char *name, vt_preprocess_mode *out);
const char *vt_preprocess_name(vt_preprocess_mode m);

/* rgb [H][W][3] uint8 -> out [H][W][3] float32 network input. */
void vt_preprocess(const uint8_t *rgb, int W, int H, vt_preprocess_mode m, float *out);
/* The same through a lookup table, one pixel at a time: the reference the
 * vectorised path is tested against (bitwise). */
void vt_preprocess_scalar(const uint8_t *rgb, int W, int H, vt_preprocess_mode m, float *out);

#endif
