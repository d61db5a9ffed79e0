/* vt_preprocess.h: 8-bit RGB -> the network's float input, by a named
 * preprocessing mode (recorded in stores and heads). */
#ifndef VT_PREPROCESS_H
#define VT_PREPROCESS_H

#include <stdint.h>

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
