/* vt_resize_avx512icl.c: the antialias resize's horizontal and vertical
 * passes with AVX-512 byte permutes (VBMI) and 16-bit dot products (VNNI),
 * compiled for those alone (Makefile) and run where vt_cpu_avx512icl() says
 * the CPU has them (vt_resize.c); bitwise equal to the scalar passes. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <stdlib.h>

#include "base/vt_common.h"
#include "image/vt_resize_kernels.h"

/* The vectorised passes multiply 8-bit pixels by 22-bit weights with 16-bit
 * pair dot products (VNNI's vpdpwssd): each weight
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
static inline __m512i dot_pairs(__m512i acc, __m512i x, __m512i w) { return _mm512_dpwssd_epi32(acc, x, w); }

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

static void plan_free(block_plan *pl) {
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

const vt_resize_vector vt_resize_avx512icl = {plan_blocks, plan_free, resample_blocks, resample_row_pairs};
#endif
