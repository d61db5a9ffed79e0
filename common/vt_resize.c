/* vt_resize.c: RGB resizing to the network's input size, matching PIL.
 *
 *   nearest    PIL Image.resize(size, NEAREST), pixel for pixel: what Keras
 *              load_img(target_size=...) does by default.
 *   antialias  a separable triangle (bilinear) filter whose support widens by
 *              the downscale factor, so every source pixel contributes; the
 *              same definition as PIL's BILINEAR, which it matches to +-1.
 *   dct-antialias  antialias, after the decoder has shrunk a JPEG at least
 *              twice the target size by 2, 4 or 8 in the DCT domain
 *              (vt_image_load_draft; the loader's part, not this file's):
 *              much less work for large photos, slightly different pixels. */
#include "vt_image.h"
#include "vt_common.h"

#include <immintrin.h>
#include <math.h>
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

static void resize_nearest(const vt_image *in, vt_image *out) {
  int *xs = vt_xmalloc((size_t)out->width * sizeof *xs);
  int *ys = vt_xmalloc((size_t)out->height * sizeof *ys);
  nearest_source_index(in->width, out->width, xs);
  nearest_source_index(in->height, out->height, ys);
  for (int y = 0; y < out->height; y++) {
    const uint8_t *src = in->rgb + (size_t)ys[y] * in->width * 3;
    uint8_t *dst = out->rgb + (size_t)y * out->width * 3;
    for (int x = 0; x < out->width; x++) memcpy(dst + 3 * x, src + 3 * xs[x], 3);
  }
  free(xs);
  free(ys);
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
    for (int j = lo; j < hi; j++) a.w[(size_t)i * a.taps + (j - lo)] = (int32_t)lround(wf[j - lo] / sum * (1 << WEIGHT_BITS));
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
/* 16 outputs (48 bytes of RGB) at a time. Their sources span at most 128
 * bytes of the row when the downscale is below ~2.5x (the usual photo to
 * 224), so two 64-byte loads hold them, and for each tap one byte permute
 * (vpermi2b) picks the 48 source bytes already in output order: a handful
 * of vector ops instead of 240 scalar multiply-adds. Integer sums are exact
 * in any order, so the result is bitwise that of resample_pixels. Blocks
 * whose sources span more fall back to it. */
enum { HB = 16 };

static int resample_blocks(const uint8_t *in, int in_w, int h, const axis_weights *a, int out_w, uint8_t *out) {
  int n_blocks = out_w / HB, taps = a->taps;
  uint8_t *idx = vt_xcalloc((size_t)n_blocks * taps * 64, 1);
  int32_t *wt = vt_xcalloc((size_t)n_blocks * taps * 48, sizeof *wt);
  int *src0 = vt_xmalloc((size_t)(n_blocks ? n_blocks : 1) * sizeof *src0);
  int done = 0; /* outputs 0..done handled here: a prefix of whole blocks */
  for (int b = 0; b < n_blocks; b++) {
    int x0 = b * HB, first = a->first[x0], last = first;
    for (int i = 0; i < HB; i++)
      if (a->first[x0 + i] + a->count[x0 + i] > last) last = a->first[x0 + i] + a->count[x0 + i];
    if ((last - first) * 3 > 128) break;
    src0[b] = first * 3;
    for (int k = 0; k < taps; k++)
      for (int i = 0; i < HB; i++)
        for (int c = 0; c < 3; c++) {
          int x = x0 + i, j = a->first[x] + k;
          /* a tap past this output's count has weight 0: any byte will do */
          int at = k < a->count[x] ? (j - first) * 3 + c : 0;
          idx[((size_t)b * taps + k) * 64 + 3 * i + c] = (uint8_t)at;
          wt[((size_t)b * taps + k) * 48 + 3 * i + c] = k < a->count[x] ? a->w[(size_t)x * taps + k] : 0;
        }
    done = x0 + HB;
  }
  const __m512i half = _mm512_set1_epi32(WEIGHT_HALF), lo = _mm512_setzero_si512(), hi = _mm512_set1_epi32(255);
  size_t row_bytes = (size_t)in_w * 3;
  for (int y = 0; y < h; y++) {
    const uint8_t *row = in + (size_t)y * row_bytes;
    uint8_t *dst = out + (size_t)y * out_w * 3;
    for (int b = 0; b < done / HB; b++) {
      /* masked loads: never read past the row (or the image) */
      size_t left = row_bytes - (size_t)src0[b];
      __mmask64 m0 = left >= 64 ? ~0ull : (1ull << left) - 1;
      __mmask64 m1 = left >= 128 ? ~0ull : left <= 64 ? 0 : (1ull << (left - 64)) - 1;
      __m512i s0 = _mm512_maskz_loadu_epi8(m0, row + src0[b]);
      __m512i s1 = _mm512_maskz_loadu_epi8(m1, row + src0[b] + 64);
      __m512i acc0 = half, acc1 = half, acc2 = half;
      for (int k = 0; k < taps; k++) {
        const uint8_t *ik = idx + ((size_t)b * taps + k) * 64;
        const int32_t *wk = wt + ((size_t)b * taps + k) * 48;
        __m512i v = _mm512_permutex2var_epi8(s0, _mm512_loadu_si512(ik), s1);
        acc0 = _mm512_add_epi32(acc0, _mm512_mullo_epi32(_mm512_cvtepu8_epi32(_mm512_castsi512_si128(v)),
                                                         _mm512_loadu_si512(wk)));
        acc1 = _mm512_add_epi32(acc1, _mm512_mullo_epi32(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(v, 1)),
                                                         _mm512_loadu_si512(wk + 16)));
        acc2 = _mm512_add_epi32(acc2, _mm512_mullo_epi32(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(v, 2)),
                                                         _mm512_loadu_si512(wk + 32)));
      }
      uint8_t *d = dst + (size_t)b * HB * 3;
#define VT_STORE_U8(acc, at) \
  _mm_storeu_si128((__m128i *)(d + (at)), \
                   _mm512_cvtepi32_epi8(_mm512_min_epi32(_mm512_max_epi32(_mm512_srai_epi32(acc, WEIGHT_BITS), lo), hi)))
      VT_STORE_U8(acc0, 0);
      VT_STORE_U8(acc1, 16);
      VT_STORE_U8(acc2, 32);
#undef VT_STORE_U8
    }
  }
  free(idx);
  free(wt);
  free(src0);
  return done;
}
#endif

/* Horizontal pass: rows of in_w pixels -> rows of out_w pixels. */
static void resample_horizontal(const uint8_t *in, int in_w, int h, const axis_weights *a, int out_w, int scalar,
                                uint8_t *out) {
  int done = 0;
#if defined(__AVX512VBMI__) && defined(__AVX512BW__)
  if (!scalar) done = resample_blocks(in, in_w, h, a, out_w, out);
#else
  (void)scalar;
#endif
  resample_pixels(in, in_w, h, a, out_w, done, out_w, out);
}

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

/* Vertical pass: whole rows are weighted and summed into one accumulator row,
 * so the inner loop runs over contiguous bytes. */
static void resample_vertical(const uint8_t *in, int w, const axis_weights *a, int out_h, uint8_t *out) {
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

/* Horizontal then vertical, rounding to 8 bits after each pass (as PIL does).
 * An axis whose size does not change is not resampled, so a same-size resize
 * is an exact copy. */
static int resize_antialias(const vt_image *in, vt_image *out, int scalar) {
  const uint8_t *src = in->rgb;
  uint8_t *tmp = NULL;
  int w = in->width;
  if (out->width != in->width) {
    size_t bytes;
    if (vt_size_mul3((size_t)in->height, (size_t)out->width, 3, &bytes) < 0) return -1;
    if (out->height == in->height) {
      tmp = out->rgb; /* the horizontal pass is the whole job */
    } else if (!(tmp = malloc(bytes))) {
      return vt_fail("out of memory resizing to %d x %d", out->width, out->height);
    }
    axis_weights ax = triangle_weights(in->width, out->width);
    resample_horizontal(in->rgb, in->width, in->height, &ax, out->width, scalar, tmp);
    axis_weights_free(&ax);
    src = tmp;
    w = out->width;
  }
  if (out->height != in->height) {
    axis_weights ay = triangle_weights(in->height, out->height);
    resample_vertical(src, w, &ay, out->height, out->rgb);
    axis_weights_free(&ay);
  } else if (out->width == in->width) {
    memcpy(out->rgb, in->rgb, (size_t)in->width * in->height * 3);
  }
  if (tmp != out->rgb) free(tmp);
  return 0;
}

static int resize(const vt_image *in, int W, int H, vt_resize_policy p, int scalar, vt_image *out) {
  *out = (vt_image){0, 0, NULL};
  if (W <= 0 || H <= 0) return vt_fail("invalid resize target %d x %d", W, H);
  if (!in->rgb || in->width <= 0 || in->height <= 0) return vt_fail("resize of an empty image");
  size_t bytes;
  if (vt_size_mul3((size_t)W, (size_t)H, 3, &bytes) < 0) return -1;
  uint8_t *rgb = malloc(bytes);
  if (!rgb) return vt_fail("out of memory resizing to %d x %d", W, H);
  *out = (vt_image){W, H, rgb};
  int rc = 0;
  switch (p) {
  case VT_RESIZE_NEAREST: resize_nearest(in, out); break;
  case VT_RESIZE_ANTIALIAS:
  case VT_RESIZE_DCT_ANTIALIAS: rc = resize_antialias(in, out, scalar); break;
  default: rc = vt_fail("unknown resize policy %d", (int)p); break;
  }
  if (rc < 0) {
    free(rgb);
    *out = (vt_image){0, 0, NULL};
  }
  return rc;
}

int vt_image_resize(const vt_image *in, int W, int H, vt_resize_policy p, vt_image *out) {
  return resize(in, W, H, p, 0, out);
}

int vt_image_resize_scalar(const vt_image *in, int W, int H, vt_resize_policy p, vt_image *out) {
  return resize(in, W, H, p, 1, out);
}
