/* vt_image.h: decoding (JPEG via libjpeg-turbo, PNG via libpng) to 8-bit RGB,
 * whole or resized while decoding (vt_resize.h); encoding RGB as JPEG. */
#ifndef VT_IMAGE_H
#define VT_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "image/vt_resize.h"

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
/* The same, and also the left-right mirror image of the decoded photo
 * (after any DCT shrinking), resized the same way: mirrored equals what
 * vt_image_load_resized gives for a lossless copy of the decoded photo
 * mirrored left to right (a PNG; a mirrored JPEG would be re-encoded). */
int vt_image_load_resized_mirrored(const char *path, size_t max_pixels, int W, int H, vt_resize_policy p,
                                   vt_image *out, vt_image *mirrored, int file_size[2]);
/* The same from memory. */
int vt_image_decode_resized(const uint8_t *data, size_t size, size_t max_pixels, int W, int H, vt_resize_policy p,
                            vt_image *out, int file_size[2]);

/* Encodes im as a baseline JPEG (quality 1..100) into f. 0, or -1 + reason. */
int vt_image_write_jpeg(const vt_image *im, int quality, FILE *f);

#endif
