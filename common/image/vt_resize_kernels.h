/* vt_resize_kernels.h: what vt_resize.c shares with its vectorised passes
 * (vt_resize_avx512icl.c, for CPUs with AVX-512 VBMI and VNNI: vt_cpu.h's
 * vt_cpu_avx512icl), internal to the image layer. */
#ifndef VT_RESIZE_KERNELS_H
#define VT_RESIZE_KERNELS_H

#include <stddef.h>
#include <stdint.h>
/* Weights are fixed point with WEIGHT_BITS fraction bits: the largest sum,
 * 255 * 2^22 plus the rounding half, still fits an int32 accumulator. */
#define WEIGHT_BITS 22
#define WEIGHT_HALF (1 << (WEIGHT_BITS - 1))

/* For each output pixel i along one axis: the first contributing source pixel,
 * how many contribute, and their weights (rows padded to the widest footprint). */
typedef struct {
  int taps;
  int *first, *count; /* [out] */
  int32_t *w;         /* [out][taps] */
} axis_weights;

/* The tables of one horizontal resampling, built once per image and used
 * for every band of rows. */
typedef struct {
  int n_blocks, pairs;
  size_t per_block; /* 64-byte vectors per block */
  uint8_t *tables, *tab; /* tab: tables aligned to 64 bytes */
  int *src0;             /* [n_blocks] first source byte of each block */
} block_plan;

/* The vectorised passes, bitwise equal to vt_resize.c's scalar ones:
 *   plan          the tables of the horizontal pass for one axis (an
 *                 empty plan, n_blocks 0, when no block fits)
 *   plan_free     frees them
 *   horizontal    runs a plan over h rows of in; returns how many outputs
 *                 per row it did (vt_resize.c does the rest)
 *   vertical      the whole vertical pass (resample_rows' job) */
typedef struct {
  block_plan (*plan)(const axis_weights *a, int out_w);
  void (*plan_free)(block_plan *pl);
  int (*horizontal)(const block_plan *pl, const uint8_t *in, int in_w, int h, int out_w, uint8_t *out);
  void (*vertical)(const uint8_t *in, int w, const axis_weights *a, int out_h, uint8_t *out);
} vt_resize_vector;

#if defined(__x86_64__)
extern const vt_resize_vector vt_resize_avx512icl;
#endif

#endif
