/* vt_resize.c: RGB resizing to the network's input size, matching PIL.
 *
 *   nearest    PIL Image.resize(size, NEAREST), pixel for pixel: what Keras
 *              load_img(target_size=...) does by default.
 *   antialias  a separable triangle (bilinear) filter whose support widens by
 *              the downscale factor, so every source pixel contributes; the
 *              same definition as PIL's BILINEAR, which it matches to +-1.
 *              Both passes are vectorised with AVX-512 (VBMI byte permutes,
 *              16-bit dot products: VNNI's where there) where the compiler
 *              targets it, bitwise equal to the scalar passes
 *              (vt_image_resize_scalar).
 *   dct-antialias  antialias, after the decoder has shrunk a JPEG at least
 *              twice the target size by 2, 4 or 8 in the DCT domain
 *              (vt_image_load_draft; the loader's part, not this file's):
 *              much less work for large photos, slightly different pixels. */
#include "image/vt_resize.h"
#include "base/vt_common.h"

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int vt_resize_policy_parse(const char *name, vt_resize_policy *out) {
  if (strcmp(name, "nearest") == 0) *out = VT_RESIZE_NEAREST;
  else if (strcmp(name, "antialias") == 0) *out = VT_RESIZE_ANTIALIAS;
  else if (strcmp(name, "dct-antialias") == 0) *out = VT_RESIZE_DCT_ANTIALIAS;
  else return vt_fail("unknown resize policy '%s' (expected nearest, antialias or dct-antialias)", name);
  return 0;
}

const char *vt_resize_policy_name(vt_resize_policy p) {
  switch (p) {
  case VT_RESIZE_NEAREST: return "nearest";
  case VT_RESIZE_ANTIALIAS: return "antialias";
  case VT_RESIZE_DCT_ANTIALIAS: return "dct-antialias";
  }
  return "unknown";
}

/* ---- nearest ---- */

/* Output pixel i samples source floor((i + 0.5) * in / out), but computed the
 * way PIL computes it (ImagingScaleAffine): a running double sum of the step.
 * Where (i + 0.5) * in / out is exactly an integer the sum can land a hair
 * below it (256 -> 224, i = 3: exactly 4, PIL takes 3); summing the same way
 * makes us identical to PIL there too. */
static void nearest_source_index(int in, int out, int *idx) {
  double step = (double)in / out, pos = step * 0.5;
  for (int i = 0; i < out; i++, pos += step) {
    int s = (int)pos;
    idx[i] = s < in ? s : in - 1;
  }
}

/* ---- antialias ---- */

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

/* lround(x) for 0 <= x < 2^31, inline: x - floor(x) is exact there, so this
 * rounds halves up as lround does, without its library call (half the cost
 * of triangle_weights). */
static int32_t round_half_up(double x) {
  double f = floor(x);
  return (int32_t)f + (x - f >= 0.5);
}

/* Output pixel i covers source coordinates [i, i+1) * scale, centred at
 * (i + 0.5) * scale. The triangle 1 - |d| is stretched by the downscale factor
 * (never shrunk: upscaling interpolates between the two nearest pixels), and
 * source pixel j sits at j + 0.5. Weights are normalised to sum to 1 because
 * pixels near the borders lose part of the footprint. */
static axis_weights triangle_weights(int in, int out) {
  double scale = (double)in / out, widen = scale > 1 ? scale : 1, support = widen;
  axis_weights a;
  a.taps = 2 * (int)ceil(support) + 1;
  a.first = vt_xmalloc((size_t)out * sizeof *a.first);
  a.count = vt_xmalloc((size_t)out * sizeof *a.count);
  a.w = vt_xcalloc((size_t)out * a.taps, sizeof *a.w);
  double *wf = vt_xmalloc((size_t)a.taps * sizeof *wf);
  for (int i = 0; i < out; i++) {
    double center = (i + 0.5) * scale;
    int lo = (int)floor(center - support + 0.5), hi = (int)floor(center + support + 0.5);
    if (lo < 0) lo = 0;
    if (hi > in) hi = in;
    double sum = 0;
    for (int j = lo; j < hi; j++) {
      double d = fabs(j + 0.5 - center) / widen;
      wf[j - lo] = d < 1 ? 1 - d : 0;
      sum += wf[j - lo];
    }
    a.first[i] = lo;
    a.count[i] = hi - lo;
    for (int j = lo; j < hi; j++) a.w[(size_t)i * a.taps + (j - lo)] = round_half_up(wf[j - lo] / sum * (1 << WEIGHT_BITS));
  }
  free(wf);
  return a;
}

static void axis_weights_free(axis_weights *a) {
  free(a->first);
  free(a->count);
  free(a->w);
}

static uint8_t to_u8(int32_t acc) {
  int32_t v = acc >> WEIGHT_BITS;
  return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Horizontal pass, one pixel at a time, for outputs x0..x1 (exclusive) of
 * every row. */
static void resample_pixels(const uint8_t *in, int in_w, int h, const axis_weights *a, int out_w, int x0, int x1,
                            uint8_t *out) {
  for (int y = 0; y < h; y++) {
    const uint8_t *row = in + (size_t)y * in_w * 3;
    uint8_t *dst = out + (size_t)y * out_w * 3;
    for (int x = x0; x < x1; x++) {
      const int32_t *w = a->w + (size_t)x * a->taps;
      const uint8_t *src = row + (size_t)a->first[x] * 3;
      int32_t r = WEIGHT_HALF, g = WEIGHT_HALF, b = WEIGHT_HALF;
      for (int k = 0; k < a->count[x]; k++) {
        r += w[k] * src[3 * k];
        g += w[k] * src[3 * k + 1];
        b += w[k] * src[3 * k + 2];
      }
      dst[3 * x] = to_u8(r);
      dst[3 * x + 1] = to_u8(g);
      dst[3 * x + 2] = to_u8(b);
    }
  }
}

#if defined(__AVX512VBMI__) && defined(__AVX512BW__)
#define VT_RESIZE_AVX512 1
/* The vectorised passes multiply 8-bit pixels by 22-bit weights with 16-bit
 * pair dot products (vpdpwssd, or vpmaddwd + vpaddd without VNNI): each weight
 * is split as w = wh * 2^SPLIT_BITS + wl, wh in [0, 2^11] (w <= 2^22) and wl
 * in [0, 2^11), both within int16, and
 *   sum(x * w) = 2^SPLIT_BITS * sum(x * wh) + sum(x * wl)
 * holds exactly in int32. Every product is non-negative (triangle weights are
 * >= 0), so each partial sum is at most the scalar pass's full sum, which fits
 * (see WEIGHT_BITS): no step can overflow, and integer sums are exact in any
 * order, so the results are bitwise those of the scalar passes. */
#define SPLIT_BITS 11

/* Two int16 weights (taps k and k+1) in one int32 lane, as the dot product
 * pairs them with (pixel k, pixel k+1). */
static int32_t pair_hi(int32_t w0, int32_t w1) { return (w0 >> SPLIT_BITS) | (w1 >> SPLIT_BITS) << 16; }
static int32_t pair_lo(int32_t w0, int32_t w1) {
  const int32_t m = (1 << SPLIT_BITS) - 1;
  return (w0 & m) | (w1 & m) << 16;
}

/* acc + x.lo16 * w.lo16 + x.hi16 * w.hi16 in each int32 lane */
static inline __m512i dot_pairs(__m512i acc, __m512i x, __m512i w) {
#ifdef __AVX512VNNI__
  return _mm512_dpwssd_epi32(acc, x, w);
#else
  return _mm512_add_epi32(acc, _mm512_madd_epi16(x, w));
#endif
}

/* The sums of 16 outputs, given as their hi and lo parts (the rounding half
 * is in lo), >> WEIGHT_BITS */
static inline __m512i sums_shifted(__m512i hi, __m512i lo) {
  return _mm512_srai_epi32(_mm512_add_epi32(_mm512_slli_epi32(hi, SPLIT_BITS), lo), WEIGHT_BITS);
}

/* to_u8 of four vectors of 16 shifted sums (each in [-512, 511], as any
 * int32 >> 22 is): the saturating packs clamp to [0, 255] as to_u8 does.
 * They work within 128-bit lanes, so byte 16 L + 4 q + j of the result is
 * lane 4 L + j of a_q. */
static inline __m512i pack_u8(__m512i a0, __m512i a1, __m512i a2, __m512i a3) {
  return _mm512_packus_epi16(_mm512_packus_epi32(a0, a1), _mm512_packus_epi32(a2, a3));
}

/* The bytes of p that m selects, zero elsewhere, without touching the others
 * (masked loads are slower: only where m leaves some out) */
static inline __m512i load_bytes(const uint8_t *p, __mmask64 m) {
  return m == ~0ull ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8(m, p);
}

/* A byte permute with this mask zeroes every odd byte: the 16-bit lanes it
 * fills are zero-extended source bytes, ready for dot_pairs. */
#define EVEN_BYTES 0x5555555555555555ull

/* Horizontal pass, 16 outputs (48 bytes of RGB) at a time. Their sources span
 * at most 128 bytes of the row when the downscale is below ~2.5x (the usual
 * photo to 224), so two 64-byte loads hold them, and for each pair of taps
 * and each third of the 48 output bytes, one byte permute picks the two
 * source bytes of each output byte, zero-extended. Only as many taps as the
 * widest output footprint are visited (a->taps leaves room for more).
 *
 * The loop is bound by its loads, so the tables are compact: per block, the
 * permutes of the first pair of taps (the next pair's pick bytes 6 further
 * on: one add), and per pair of taps the 16 pixels' hi and lo weight pairs,
 * which a dword permute spreads over each third's lanes (a pixel's three
 * channels share its weights).
 *
 * Blocks whose sources span more than 128 bytes end the run of blocks; the
 * caller does the rest with resample_pixels. Returns how many outputs per row
 * were done. */
enum { HB = 16 };

/* The tables of one horizontal resampling, built once per image and used
 * for every band of rows. */
typedef struct {
  int n_blocks, pairs;
  size_t per_block; /* 64-byte vectors per block */
  uint8_t *tables, *tab; /* tab: tables aligned to 64 bytes */
  int *src0;             /* [n_blocks] first source byte of each block */
} block_plan;

static block_plan plan_blocks(const axis_weights *a, int out_w) {
  block_plan pl = {0};
  int n_blocks = 0, count = 0;
  for (; n_blocks < out_w / HB; n_blocks++) {
    int x0 = n_blocks * HB, first = a->first[x0], last = first, widest = 0;
    for (int i = 0; i < HB; i++) {
      int end = a->first[x0 + i] + a->count[x0 + i];
      if (end > last) last = end;
      if (a->count[x0 + i] > widest) widest = a->count[x0 + i];
    }
    if ((last - first) * 3 > 128) break;
    if (widest > count) count = widest;
  }
  if (n_blocks == 0) return pl;
  int pairs = (count + 1) / 2;
  /* per block: 3 x 64 permute bytes, then per pair 16 hi and 16 lo weight
   * pairs; in one allocation aligned to 64 bytes, as loads that cross a cache
   * line cost two */
  size_t per_block = 3 + 2 * (size_t)pairs;
  uint8_t *tables = vt_xmalloc((size_t)n_blocks * per_block * 64 + 63);
  uint8_t *tab = (uint8_t *)(((uintptr_t)tables + 63) & ~(uintptr_t)63);
  int *src0 = vt_xmalloc((size_t)n_blocks * sizeof *src0);
  for (int b = 0; b < n_blocks; b++) {
    int x0 = b * HB;
    uint8_t *idx = tab + (size_t)b * per_block * 64;
    int32_t *wt = (int32_t *)(idx + 3 * 64);
    src0[b] = a->first[x0] * 3;
    /* output byte o = 16 t + l is lane l of third t: pixel x0 + o / 3, channel o % 3 */
    for (int o = 0; o < 48; o++) {
      int x = x0 + o / 3, at = 64 * (o / 16) + 4 * (o % 16);
      idx[at] = (uint8_t)((a->first[x] * 3 + o % 3) - src0[b]);
      idx[at + 1] = 0; /* odd bytes: zeroed by the permute's mask */
      idx[at + 2] = (uint8_t)(idx[at] + 3);
      idx[at + 3] = 0;
    }
    for (int q = 0; q < pairs; q++)
      for (int i = 0; i < HB; i++) {
        int x = x0 + i, k = 2 * q;
        /* a tap past this output's count has weight 0: its byte can be any */
        int32_t w0 = k < a->count[x] ? a->w[(size_t)x * a->taps + k] : 0;
        int32_t w1 = k + 1 < a->count[x] ? a->w[(size_t)x * a->taps + k + 1] : 0;
        wt[32 * q + i] = pair_hi(w0, w1);
        wt[32 * q + 16 + i] = pair_lo(w0, w1);
      }
  }
  return (block_plan){n_blocks, pairs, per_block, tables, tab, src0};
}

static void block_plan_free(block_plan *pl) {
  free(pl->tables);
  free(pl->src0);
}

/* Runs the plan over h rows; returns how many outputs per row were done. */
static int resample_blocks(const block_plan *pl, const uint8_t *in, int in_w, int h, int out_w, uint8_t *out) {
  int n_blocks = pl->n_blocks, pairs = pl->pairs;
  size_t per_block = pl->per_block;
  const uint8_t *tab = pl->tab;
  const int *src0 = pl->src0;
  /* output byte 16 t + i is lane i of third t, so byte 16 (i / 4) + 4 t + i % 4 of pack_u8 */
  uint8_t unpack_bytes[64] = {0};
  int32_t pixel_of_lane[3][16];
  for (int o = 0; o < 48; o++) {
    unpack_bytes[o] = (uint8_t)(16 * (o % 16 / 4) + 4 * (o / 16) + o % 4);
    pixel_of_lane[o / 16][o % 16] = o / 3;
  }
  const __m512i half = _mm512_set1_epi32(WEIGHT_HALF), unpack = _mm512_loadu_si512(unpack_bytes);
  const __m512i px0 = _mm512_loadu_si512(pixel_of_lane[0]), px1 = _mm512_loadu_si512(pixel_of_lane[1]),
                px2 = _mm512_loadu_si512(pixel_of_lane[2]), six = _mm512_set1_epi8(6);
  size_t row_bytes = (size_t)in_w * 3;
  for (int y = 0; y < h; y++) {
    const uint8_t *row = in + (size_t)y * row_bytes;
    uint8_t *dst = out + (size_t)y * out_w * 3;
    for (int b = 0; b < n_blocks; b++) {
      /* never read past the row (or the image) */
      size_t left = row_bytes - (size_t)src0[b];
      __mmask64 m0 = left >= 64 ? ~0ull : (1ull << left) - 1;
      __mmask64 m1 = left >= 128 ? ~0ull : left <= 64 ? 0 : (1ull << (left - 64)) - 1;
      __m512i s0 = load_bytes(row + src0[b], m0), s1 = load_bytes(row + src0[b] + 64, m1);
      __m512i hi0 = _mm512_setzero_si512(), hi1 = hi0, hi2 = hi0, lo0 = half, lo1 = half, lo2 = half;
      const uint8_t *tb = tab + (size_t)b * per_block * 64;
      /* pair q's permutes pick bytes 6 q further on; past the 128 loaded
       * bytes they wrap (vpermi2b uses 7 index bits), for taps of weight 0 */
      __m512i i0 = _mm512_load_si512(tb), i1 = _mm512_load_si512(tb + 64), i2 = _mm512_load_si512(tb + 128);
      const int32_t *wt = (const int32_t *)(tb + 3 * 64);
      for (int q = 0; q < pairs; q++, wt += 32) {
        __m512i v0 = _mm512_maskz_permutex2var_epi8(EVEN_BYTES, s0, i0, s1);
        __m512i v1 = _mm512_maskz_permutex2var_epi8(EVEN_BYTES, s0, i1, s1);
        __m512i v2 = _mm512_maskz_permutex2var_epi8(EVEN_BYTES, s0, i2, s1);
        __m512i wh = _mm512_load_si512(wt), wl = _mm512_load_si512(wt + 16);
        hi0 = dot_pairs(hi0, v0, _mm512_permutexvar_epi32(px0, wh));
        lo0 = dot_pairs(lo0, v0, _mm512_permutexvar_epi32(px0, wl));
        hi1 = dot_pairs(hi1, v1, _mm512_permutexvar_epi32(px1, wh));
        lo1 = dot_pairs(lo1, v1, _mm512_permutexvar_epi32(px1, wl));
        hi2 = dot_pairs(hi2, v2, _mm512_permutexvar_epi32(px2, wh));
        lo2 = dot_pairs(lo2, v2, _mm512_permutexvar_epi32(px2, wl));
        i0 = _mm512_add_epi8(i0, six), i1 = _mm512_add_epi8(i1, six), i2 = _mm512_add_epi8(i2, six);
      }
      __m512i a2 = sums_shifted(hi2, lo2);
      __m512i o = pack_u8(sums_shifted(hi0, lo0), sums_shifted(hi1, lo1), a2, a2);
      _mm512_mask_storeu_epi8(dst + (size_t)b * HB * 3, (1ull << 48) - 1, _mm512_permutexvar_epi8(unpack, o));
    }
  }
  return n_blocks * HB;
}
#endif

/* The row loops below run in blocks of 16 so that gcc -O2 vectorises them
 * (its cheap cost model leaves the plain loops scalar: 3x slower here). */
static void fill_row(int32_t *restrict acc, int32_t v, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++) acc[i + j] = v;
  for (; i < n; i++) acc[i] = v;
}

/* acc[i] += w * src[i] */
static void accumulate_row(int32_t *restrict acc, const uint8_t *restrict src, int32_t w, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++) acc[i + j] += w * src[i + j];
  for (; i < n; i++) acc[i] += w * src[i];
}

/* dst[i] = to_u8(acc[i]) */
static void store_row(uint8_t *restrict dst, const int32_t *restrict acc, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++) dst[i + j] = to_u8(acc[i + j]);
  for (; i < n; i++) dst[i] = to_u8(acc[i]);
}

/* Vertical pass, the reference: whole rows are weighted and summed into one
 * accumulator row, so the inner loop runs over contiguous bytes. */
static void resample_rows(const uint8_t *in, int w, const axis_weights *a, int out_h, uint8_t *out) {
  size_t n = (size_t)w * 3;
  int32_t *acc = vt_xmalloc(n * sizeof *acc);
  for (int y = 0; y < out_h; y++) {
    const int32_t *wy = a->w + (size_t)y * a->taps;
    fill_row(acc, WEIGHT_HALF, n);
    for (int k = 0; k < a->count[y]; k++) {
      if (wy[k] == 0) continue;
      accumulate_row(acc, in + (size_t)(a->first[y] + k) * n, wy[k], n);
    }
    store_row(out + (size_t)y * n, acc, n);
  }
  free(acc);
}

#ifdef VT_RESIZE_AVX512
/* Vertical pass, vectorised: the source rows of an output row go in pairs
 * (the last one alone, with a zero-weight partner), 64 bytes of a row at a
 * time: one byte permute per 16 bytes interleaves the two rows' bytes as
 * zero-extended 16-bit pairs, and two dot products (hi and lo weights) add
 * both rows' terms. The 64 outputs' sums stay in registers across all taps. */
static void resample_row_pairs(const uint8_t *in, int w, const axis_weights *a, int out_h, uint8_t *out) {
  size_t n = (size_t)w * 3;
  int pairs_max = (a->taps + 1) / 2;
  const uint8_t **rows = vt_xmalloc((size_t)pairs_max * 2 * sizeof *rows);
  int32_t *whi = vt_xmalloc((size_t)pairs_max * sizeof *whi), *wlo = vt_xmalloc((size_t)pairs_max * sizeof *wlo);
  /* lane i = 4 L + j of quarter q sums byte 16 L + 4 q + j of the two rows,
   * which is where pack_u8 puts it */
  uint8_t sel_bytes[4][64] = {{0}};
  for (int q = 0; q < 4; q++)
    for (int i = 0; i < 16; i++) {
      sel_bytes[q][4 * i] = (uint8_t)(16 * (i / 4) + 4 * q + i % 4);
      sel_bytes[q][4 * i + 2] = (uint8_t)(64 + 16 * (i / 4) + 4 * q + i % 4);
    }
  const __m512i sel0 = _mm512_loadu_si512(sel_bytes[0]), sel1 = _mm512_loadu_si512(sel_bytes[1]),
                sel2 = _mm512_loadu_si512(sel_bytes[2]), sel3 = _mm512_loadu_si512(sel_bytes[3]);
  const __m512i half = _mm512_set1_epi32(WEIGHT_HALF);
  for (int y = 0; y < out_h; y++) {
    const int32_t *wy = a->w + (size_t)y * a->taps;
    int taps = 0, pairs;
    int32_t wt[2] = {0, 0};
    for (int k = 0; k < a->count[y]; k++) {
      if (wy[k] == 0) continue;
      rows[taps] = in + (size_t)(a->first[y] + k) * n;
      wt[taps % 2] = wy[k];
      if (++taps % 2 == 0) {
        whi[taps / 2 - 1] = pair_hi(wt[0], wt[1]);
        wlo[taps / 2 - 1] = pair_lo(wt[0], wt[1]);
      }
    }
    if (taps % 2) { /* the odd one out pairs with itself, at weight 0 */
      rows[taps] = rows[taps - 1];
      whi[taps / 2] = pair_hi(wt[0], 0);
      wlo[taps / 2] = pair_lo(wt[0], 0);
    }
    pairs = (taps + 1) / 2;
    uint8_t *dst = out + (size_t)y * n;
    for (size_t c = 0; c < n; c += 64) {
      __mmask64 m = n - c >= 64 ? ~0ull : (1ull << (n - c)) - 1;
      /* four quarters, each 16 outputs' hi and lo sums, named so they stay in registers */
      __m512i h0 = _mm512_setzero_si512(), h1 = h0, h2 = h0, h3 = h0, l0 = half, l1 = half, l2 = half, l3 = half;
      for (int p = 0; p < pairs; p++) {
        __m512i r0 = load_bytes(rows[2 * p] + c, m), r1 = load_bytes(rows[2 * p + 1] + c, m);
        __m512i vh = _mm512_set1_epi32(whi[p]), vl = _mm512_set1_epi32(wlo[p]);
        __m512i v0 = _mm512_maskz_permutex2var_epi8(EVEN_BYTES, r0, sel0, r1);
        __m512i v1 = _mm512_maskz_permutex2var_epi8(EVEN_BYTES, r0, sel1, r1);
        __m512i v2 = _mm512_maskz_permutex2var_epi8(EVEN_BYTES, r0, sel2, r1);
        __m512i v3 = _mm512_maskz_permutex2var_epi8(EVEN_BYTES, r0, sel3, r1);
        h0 = dot_pairs(h0, v0, vh), l0 = dot_pairs(l0, v0, vl);
        h1 = dot_pairs(h1, v1, vh), l1 = dot_pairs(l1, v1, vl);
        h2 = dot_pairs(h2, v2, vh), l2 = dot_pairs(l2, v2, vl);
        h3 = dot_pairs(h3, v3, vh), l3 = dot_pairs(l3, v3, vl);
      }
      __m512i o = pack_u8(sums_shifted(h0, l0), sums_shifted(h1, l1), sums_shifted(h2, l2), sums_shifted(h3, l3));
      _mm512_mask_storeu_epi8(dst + c, m, o);
    }
  }
  free(rows);
  free(whi);
  free(wlo);
}
#endif

/* Vertical pass: rows of w pixels, in->height of them -> out_h rows. */
static void resample_vertical(const uint8_t *in, int w, const axis_weights *a, int out_h, int scalar, uint8_t *out) {
#ifdef VT_RESIZE_AVX512
  if (!scalar) {
    resample_row_pairs(in, w, a, out_h, out);
    return;
  }
#else
  (void)scalar;
#endif
  resample_rows(in, w, a, out_h, out);
}

/* ---- resizing an image that arrives in bands of rows ---- */

/* A decoder hands its rows over in bands as it produces them. Each band is
 * resampled horizontally at once, while it is in cache, and only the narrow
 * result is kept (source height x W pixels), so a large image never needs to
 * be whole in memory: a 10000 x 10000 photo takes 300 MB decoded, its rows
 * at width 224 7 MB. When the last row is in, the vertical pass runs. The
 * pixels are those of resizing the whole image: the horizontal pass treats
 * each row alone, and PIL too rounds to 8 bits between the passes.
 * An axis whose size does not change is not resampled, so a same-size
 * resize is an exact copy (and its rows are decoded straight into it). */
enum { BAND_ROWS = 16 };

struct vt_resizer {
  int in_w, in_h, W, H, scalar;
  vt_resize_policy policy;
  uint8_t *out;    /* [H][W][3] */
  uint8_t *narrow; /* antialias: [in_h][W][3] after the horizontal pass; out when in_h == H */
  uint8_t *band;   /* [BAND_ROWS][in_w][3] for a decoder's rows; NULL when they go straight to narrow,
                    * or when the caller pushes rows of its own (vt_image_resize) */
  int band_rows;
  axis_weights ax; /* antialias, when the width changes */
#ifdef VT_RESIZE_AVX512
  block_plan plan;
#endif
  int *xs, *ys;    /* nearest: the source column of each output column, row of each output row */
  int next_row;    /* nearest: the first output row not filled yet */
};

void vt_resizer_free(vt_resizer *r) {
  if (!r) return;
  if (r->narrow != r->out) free(r->narrow);
  free(r->out);
  free(r->band);
  if (r->ax.w) axis_weights_free(&r->ax);
#ifdef VT_RESIZE_AVX512
  block_plan_free(&r->plan);
#endif
  free(r->xs);
  free(r->ys);
  free(r);
}

/* Allocates bytes = a * b * 3, or fails naming the resize. */
static uint8_t *alloc_pixels(const vt_resizer *r, size_t a, size_t b) {
  size_t bytes;
  if (vt_size_mul3(a, b, 3, &bytes) < 0) return NULL;
  uint8_t *p = malloc(bytes);
  if (!p) vt_fail("out of memory resizing %d x %d to %d x %d", r->in_w, r->in_h, r->W, r->H);
  return p;
}

static vt_resizer *resizer_new(int in_w, int in_h, int W, int H, vt_resize_policy p, int scalar, int decoder) {
  if (W <= 0 || H <= 0) return vt_fail("invalid resize target %d x %d", W, H), NULL;
  if (in_w <= 0 || in_h <= 0) return vt_fail("resize of an empty image"), NULL;
  if (p != VT_RESIZE_NEAREST && p != VT_RESIZE_ANTIALIAS && p != VT_RESIZE_DCT_ANTIALIAS)
    return vt_fail("unknown resize policy %d", (int)p), NULL;
  vt_resizer *r = vt_xcalloc(1, sizeof *r);
  *r = (vt_resizer){.in_w = in_w, .in_h = in_h, .W = W, .H = H, .scalar = scalar, .policy = p};
  int ok = (r->out = alloc_pixels(r, (size_t)W, (size_t)H)) != NULL;
  int via_band = decoder && (p == VT_RESIZE_NEAREST || W != in_w);
  if (ok && via_band) {
    r->band_rows = in_h < BAND_ROWS ? in_h : BAND_ROWS;
    ok = (r->band = alloc_pixels(r, (size_t)r->band_rows, (size_t)in_w)) != NULL;
  }
  if (ok && p == VT_RESIZE_NEAREST) {
    r->xs = vt_xmalloc((size_t)W * sizeof *r->xs);
    r->ys = vt_xmalloc((size_t)H * sizeof *r->ys);
    nearest_source_index(in_w, W, r->xs);
    nearest_source_index(in_h, H, r->ys);
  } else if (ok) {
    r->narrow = in_h == H ? r->out : alloc_pixels(r, (size_t)in_h, (size_t)W);
    ok = r->narrow != NULL;
    if (ok && W != in_w) {
      r->ax = triangle_weights(in_w, W);
#ifdef VT_RESIZE_AVX512
      if (!scalar) r->plan = plan_blocks(&r->ax, W);
#endif
    }
  }
  if (!ok) {
    vt_resizer_free(r);
    return NULL;
  }
  return r;
}

vt_resizer *vt_resizer_new(int in_w, int in_h, int W, int H, vt_resize_policy p) {
  return resizer_new(in_w, in_h, W, H, p, 0, 1);
}

uint8_t *vt_resizer_rows(vt_resizer *r, int y, int *n) {
  if (!r->band) {
    *n = r->in_h - y;
    return r->narrow + (size_t)y * r->W * 3;
  }
  *n = r->in_h - y < r->band_rows ? r->in_h - y : r->band_rows;
  return r->band;
}

/* Nearest: every output row whose source row is among rows y..y+n. */
static void pick_rows(vt_resizer *r, const uint8_t *rgb, int y, int n) {
  for (; r->next_row < r->H && r->ys[r->next_row] < y + n; r->next_row++) {
    const uint8_t *src = rgb + (size_t)(r->ys[r->next_row] - y) * r->in_w * 3;
    uint8_t *dst = r->out + (size_t)r->next_row * r->W * 3;
    for (int x = 0; x < r->W; x++) memcpy(dst + 3 * x, src + 3 * r->xs[x], 3);
  }
}

void vt_resizer_push(vt_resizer *r, const uint8_t *rgb, int y, int n) {
  if (r->policy == VT_RESIZE_NEAREST) {
    pick_rows(r, rgb, y, n);
    return;
  }
  uint8_t *dst = r->narrow + (size_t)y * r->W * 3;
  if (r->W == r->in_w) {
    if (rgb != dst) memcpy(dst, rgb, (size_t)n * r->W * 3);
    return;
  }
  int done = 0;
#ifdef VT_RESIZE_AVX512
  if (!r->scalar && r->plan.n_blocks) done = resample_blocks(&r->plan, rgb, r->in_w, n, r->W, dst);
#endif
  resample_pixels(rgb, r->in_w, n, &r->ax, r->W, done, r->W, dst);
}

void vt_resizer_finish(vt_resizer *r, vt_image *out) {
  if (r->policy != VT_RESIZE_NEAREST && r->H != r->in_h) {
    axis_weights ay = triangle_weights(r->in_h, r->H);
    resample_vertical(r->narrow, r->W, &ay, r->H, r->scalar, r->out);
    axis_weights_free(&ay);
  }
  *out = (vt_image){r->W, r->H, r->out};
  if (r->narrow == r->out) r->narrow = NULL;
  r->out = NULL;
  vt_resizer_free(r);
}

static int resize(const vt_image *in, int W, int H, vt_resize_policy p, int scalar, vt_image *out) {
  *out = (vt_image){0, 0, NULL};
  if (!in->rgb && in->width > 0 && in->height > 0) return vt_fail("resize of an empty image");
  vt_resizer *r = resizer_new(in->width, in->height, W, H, p, scalar, 0);
  if (!r) return -1;
  vt_resizer_push(r, in->rgb, 0, in->height);
  vt_resizer_finish(r, out);
  return 0;
}

int vt_image_resize(const vt_image *in, int W, int H, vt_resize_policy p, vt_image *out) {
  return resize(in, W, H, p, 0, out);
}

int vt_image_resize_scalar(const vt_image *in, int W, int H, vt_resize_policy p, vt_image *out) {
  return resize(in, W, H, p, 1, out);
}
