/* vt_conv_bf16_kernels.h: the instruction-set specific pieces behind
 * vt_conv3x3_bf16 (private to common/net/vt_conv_bf16*.c). Each lives in a
 * file compiled for its instruction set (vt_conv_bf16_amx.c,
 * vt_conv_bf16_avx512bf16.c) and is called only when base/vt_cpu.h says
 * the CPU runs it. */
#ifndef VT_CONV_BF16_KERNELS_H
#define VT_CONV_BF16_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Packed weights: for each block of 32 output channels, for each K step (a
 * 3x3 tap and 32 input channels, or a row of 3 taps x cin channels for a
 * small cin), two 16x32 B tiles (output channels 0-15 and 16-31), each 16 rows of
 * [16 outputs][2 inputs]: row p pairs inputs 2p and 2p+1, the layout of
 * tdpbf16ps's B and of a vdpbf16ps vector. */
enum { VT_BF16_STEP = 1024 }; /* uint16_t per K step and 32 outputs: two 1 KB tiles */

/* C[m][32 * n32] = sum over steps s of A_s[m][32] * B_s[32][32 * n32], raw
 * (no bias), where row i of A_s is a + i * lda + aoff[s] (32 bf16) and B_s
 * of output block j is b + (j * steps + s) * VT_BF16_STEP. m is rounded up
 * to the kernel's block (at most 32 rows): the rows past m are computed
 * too, so A must be readable and C writable that far. */
typedef struct {
  const uint16_t *a;
  long lda;
  const long *aoff;
  int steps;
  const uint16_t *b;
  const uint16_t *b_next; /* the B the next call starts with, NULL if none: prefetched */
  int n32, m;
  float *c;
  long ldc;
} vt_bf16_gemm;

void vt_bf16_gemm_amx(const vt_bf16_gemm *g);
void vt_bf16_gemm_avx512bf16(const vt_bf16_gemm *g);

/* From a band's raw sums to its outputs: raw pixel r * Wp + x holds the
 * sums of output row y0 + r, column x, at raw + (r * Wp + x) * ldr, nb
 * channels (a multiple of 32), of which the first nvalid are real outputs
 * and the first nmap are stored in the map (nvalid rounded up to its
 * channels: the padded ones get zeros).
 * pool: rows is even, and each 2x2 block's maximum is taken before + bias
 * and ReLU (both monotone, so the result is that of pooling after them).
 * out (may be NULL): the band's first output pixel at this block's first
 * channel, pixels out_px floats apart, rows out_row; map (may be NULL): the
 * same in a bf16 map, map_px and map_row uint16_t apart. */
typedef struct {
  const float *raw;
  long ldr;
  int Wp, rows, W, pool;
  const float *bias;
  int nb, nvalid, nmap;
  float *out;
  long out_px, out_row;
  int stream; /* out past the caches (non-temporal stores, fenced) */
  uint16_t *map;
  long map_px, map_row;
} vt_bf16_epilogue;

void vt_bf16_epilogue_avx512bf16(const vt_bf16_epilogue *e);

/* out[i] = bf16(in[i]) for n values, as vt_bf16_from_float (vcvtneps2bf16
 * rounds to nearest even, flushes subnormals, quiets NaN). */
void vt_bf16_round_avx512bf16(const float *in, uint16_t *out, size_t n);

#endif
