/* vt_conv_bf16.h: the VGG 3x3 convolution in bfloat16 (bf16 weights and
 * activations, float32 accumulation), on CPUs with AVX512_BF16 dot products
 * (vdpbf16ps: Zen 4/5, Cooper Lake and later Xeons) or AMX-BF16 tiles
 * (tdpbf16ps: Sapphire Rapids and later), chosen at run time by
 * base/vt_cpu.h. A bf16 value is a uint16_t: the top half of a float32.
 *
 * Activations between layers live in a "bf16 map": one image, NHWC, with a
 * zero border of one pixel around it and the channels padded with zeros to
 * vt_bf16_channels(C):
 *   map[(y + 1) * (W + 2) + (x + 1)][c]  holds pixel (y, x), channel c,
 * followed by VT_BF16_MAP_SLACK zero pixels. The kernels read every 3x3
 * neighbourhood in place from it as one implicit GEMM per layer (no im2col):
 * output pixel q = y * (W + 2) + x of the padded grid is a row of A, and tap
 * (dy, dx) is the same rows shifted by dy * (W + 2) + dx pixels (the two
 * padding columns per row are computed and thrown away).
 *
 * Rounding: inputs and weights to bf16 by round-to-nearest-even (a subnormal
 * to zero, as the dot-product instructions read them), sums in float32, then
 * + bias, ReLU and an optional 2x2 max-pool; float32 outputs are those sums,
 * and the next layer's bf16 map their rounding. */
#ifndef VT_CONV_BF16_H
#define VT_CONV_BF16_H

#include <stddef.h>
#include <stdint.h>

/* float32 -> bf16, round to nearest even, subnormals to signed zero, NaN
 * stays NaN; and back (exact). */
uint16_t vt_bf16_from_float(float f);
float vt_bf16_to_float(uint16_t b);

/* Whether this process runs bf16 kernels: 0, or -1 + a reason naming what
 * the CPU (or $VGGTAP_ISA) offers instead. */
int vt_bf16_check(void);
/* "amx" or "avx512bf16": the kernels vt_conv3x3_bf16 runs (NULL where
 * vt_bf16_check fails). */
const char *vt_bf16_path(void);

/* 3x3 convolution, stride 1, zero padding 1, + bias, ReLU, with in and
 * kernel rounded to bf16 first and sums in float32 (the reference the bf16
 * kernels are tested against; any CPU). Shapes and layouts as
 * vt_conv3x3_relu_naive (net/vt_conv.h): in [H][W][Cin], kernel
 * [3][3][Cin][Cout] (Keras HWIO), out [H][W][Cout]. */
void vt_conv3x3_relu_bf16_naive(const float *in, int H, int W, int Cin, const float *kernel,
                                const float *bias, int Cout, float *out);

/* --- bf16 maps ---------------------------------------------------------- */

enum { VT_BF16_MAP_SLACK = 64, VT_BF16_ROW_TAPS_MAX = 10 };
/* Channels stored per pixel: C rounded up to 32 (one AMX tile row), or C
 * itself up to VT_BF16_ROW_TAPS_MAX (the network's RGB input: 3 pixels x C
 * channels then fit one 32-value row, see vt_conv_bf16.c). */
int vt_bf16_channels(int C);
/* uint16_t elements of an H x W x C map (padded; 0 on overflow). */
size_t vt_bf16_map_elems(int H, int W, int C);
/* in [H][W][C] float32 -> map, borders and padding included. */
void vt_bf16_map_from_float(const float *in, int H, int W, int C, uint16_t *map);
/* map -> out [H][W][C] float32 (tests). */
void vt_bf16_map_to_float(const uint16_t *map, int H, int W, int C, float *out);

/* --- packed layers ------------------------------------------------------ */

/* One conv layer's weights in bf16, laid out once for the kernels (AMX B
 * tiles, which are also the AVX512_BF16 kernel's rows) and then read-only:
 * one packed layer serves every thread. */
typedef struct vt_conv_bf16 vt_conv_bf16;

/* kernel [3][3][Cin][Cout], bias [Cout] as vt_conv3x3_relu_naive; neither is
 * referenced after the call. NULL + reason on allocation failure. Packing
 * works on any CPU; running needs vt_bf16_check() == 0. */
vt_conv_bf16 *vt_conv_bf16_pack(const float *kernel, const float *bias, int Cin, int Cout);
void vt_conv_bf16_free(vt_conv_bf16 *p);
int vt_conv_bf16_cin(const vt_conv_bf16 *p);
int vt_conv_bf16_cout(const vt_conv_bf16 *p);

/* Scratch bytes for one call of a Cin -> Cout layer at H x W (allocate
 * them 64-byte aligned, e.g. vt_aligned_alloc). */
size_t vt_conv_bf16_scratch_bytes(int Cin, int Cout, int H, int W);

/* One layer on an H x W map in (Cin channels): ReLU(conv(in) + bias), then
 * with pool the 2x2 max-pool (Keras 'valid': an odd last row/column
 * dropped). The output, H x W or H/2 x W/2, goes to out_map (a bf16 map of
 * Cout channels, borders written too) and to out [h][w][Cout] float32;
 * either may be NULL. stream: out is written past the caches (non-temporal
 * stores), for memory the CPU will not read soon, such as a store writer's
 * buffer; the values are the same. in and out_map must not overlap.
 * Single-threaded; needs vt_bf16_check() == 0. */
void vt_conv3x3_bf16(const vt_conv_bf16 *p, const uint16_t *in, int H, int W, int pool, uint16_t *out_map,
                     float *out, int stream, void *scratch);

/* Two convs then the 2x2 max-pool (a VGG block of two convs: a Cin -> C1,
 * b C1 -> Cout), in bands of rows so that a's output stays in the L2
 * instead of going through memory (a 224x224 block1 map is 6.5 MB in
 * bf16); a's halo rows are computed twice. Outputs as vt_conv3x3_bf16 with
 * pool (either may be NULL); the values are the same as the two calls. */
size_t vt_conv_bf16_pair_scratch_bytes(int Cin, int C1, int Cout, int H, int W);
void vt_conv3x3_bf16_pair_pool(const vt_conv_bf16 *a, const vt_conv_bf16 *b, const uint16_t *in, int H, int W,
                               uint16_t *pooled_map, float *pooled, int stream, void *scratch);

#endif
