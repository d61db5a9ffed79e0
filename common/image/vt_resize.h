/* vt_resize.h: the 8-bit RGB image type, and resizing it to the network's
 * input size by a named policy, whole or as rows arrive from a decoder. */
#ifndef VT_RESIZE_H
#define VT_RESIZE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  int width, height;
  uint8_t *rgb; /* [height][width][3], free() it */
} vt_image;

typedef enum {
  VT_RESIZE_NEAREST,   /* "nearest": Keras load_img default (PIL NEAREST) */
  VT_RESIZE_ANTIALIAS, /* "antialias": PIL-style bilinear with antialiasing */
  VT_RESIZE_DCT_ANTIALIAS, /* "dct-antialias": JPEGs shrunk by 2/4/8 while decoding
                            * (vt_image_load_draft), then antialias */
} vt_resize_policy;

/* Name <-> policy. Returns -1 for unknown names. */
int vt_resize_policy_parse(const char *name, vt_resize_policy *out);
const char *vt_resize_policy_name(vt_resize_policy p);

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

#endif
