/* vt_resize.c: RGB resizing to the network's input size, matching PIL.
 *
 *   nearest    PIL Image.resize(size, NEAREST), pixel for pixel: what Keras
 *              load_img(target_size=...) does by default.
 *   antialias  a separable triangle (bilinear) filter whose support widens by
 *              the downscale factor, so every source pixel contributes; the
 *              same definition as PIL's BILINEAR, which it matches to +-1.
 *              Both passes are vectorised with AVX-512 (VBMI byte permutes,
 *              VNNI 16-bit dot products) where the CPU has them
 *              (vt_resize_avx512icl.c), bitwise equal to the scalar passes
 *              (vt_image_resize_scalar).
 *   dct-antialias  antialias, after the decoder has shrunk a JPEG at least
 *              twice the target size by 2, 4 or 8 in the DCT domain
 *              (vt_image_load_draft; the loader's part, not this file's):
 *              much less work for large photos, slightly different pixels. */
#include "image/vt_resize.h"
#include "base/vt_common.h"
#include "base/vt_cpu.h"
#include "image/vt_resize_kernels.h"

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

/* The vectorised passes this CPU runs (vt_resize_kernels.h), or NULL */
static const vt_resize_vector *vector_passes(void) {
#if defined(__x86_64__)
  if (vt_cpu_avx512icl()) return &vt_resize_avx512icl;
#endif
  return NULL;
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
  int in_w, in_h, W, H;
  const vt_resize_vector *vec; /* the vectorised passes, or NULL for the scalar ones */
  vt_resize_policy policy;
  uint8_t *out;    /* [H][W][3] */
  uint8_t *narrow; /* antialias: [in_h][W][3] after the horizontal pass; out when in_h == H */
  uint8_t *band;   /* [BAND_ROWS][in_w][3] for a decoder's rows; NULL when they go straight to narrow,
                    * or when the caller pushes rows of its own (vt_image_resize) */
  int band_rows;
  axis_weights ax; /* antialias, when the width changes */
  block_plan plan; /* ax's for vec->horizontal */
  int *xs, *ys;    /* nearest: the source column of each output column, row of each output row */
  int next_row;    /* nearest: the first output row not filled yet */
};

void vt_resizer_free(vt_resizer *r) {
  if (!r) return;
  if (r->narrow != r->out) free(r->narrow);
  free(r->out);
  free(r->band);
  if (r->ax.w) axis_weights_free(&r->ax);
  if (r->vec) r->vec->plan_free(&r->plan);
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
  *r = (vt_resizer){.in_w = in_w, .in_h = in_h, .W = W, .H = H, .vec = scalar ? NULL : vector_passes(), .policy = p};
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
      if (r->vec) r->plan = r->vec->plan(&r->ax, W);
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
  int done = r->vec && r->plan.n_blocks ? r->vec->horizontal(&r->plan, rgb, r->in_w, n, r->W, dst) : 0;
  resample_pixels(rgb, r->in_w, n, &r->ax, r->W, done, r->W, dst);
}

void vt_resizer_finish(vt_resizer *r, vt_image *out) {
  if (r->policy != VT_RESIZE_NEAREST && r->H != r->in_h) {
    axis_weights ay = triangle_weights(r->in_h, r->H);
    if (r->vec) r->vec->vertical(r->narrow, r->W, &ay, r->H, r->out);
    else resample_rows(r->narrow, r->W, &ay, r->H, r->out);
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
