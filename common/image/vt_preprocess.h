/* vt_preprocess.h: 8-bit RGB -> the network's float input, by a named
 * preprocessing mode (recorded in stores and heads). */
#ifndef VT_PREPROCESS_H
#define VT_PREPROCESS_H

#include <stddef.h>
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

/* vt_preprocess's vectorised part (vt_preprocess_avx512icl.c; x86-64 CPUs
 * where vt_cpu_avx512icl() holds): pixels 0 .. n - n % 16 - 1 of rgb, with
 * the per-lane tables vt_preprocess builds (idx: the byte permute putting 16
 * pixels' channels in output order; mean, std: each output lane's). Returns
 * how many pixels it did. */
size_t vt_preprocess_blocks_avx512icl(const uint8_t *rgb, size_t n, int caffe, const uint8_t idx[64],
                                      const float mean[48], const float std[48], float *out);

#endif
