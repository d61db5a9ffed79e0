/* The bf16 3x3 convolution (see vt_conv_bf16.h): rounding, the naive
 * reference, bf16 maps, weight packing and the layer driver, which cuts a
 * layer into bands of rows and blocks of output channels and hands each to
 * the instruction-set kernels of vt_conv_bf16_kernels.h. */
#include "net/vt_conv_bf16.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "base/vt_cpu.h"
#include "net/vt_conv_bf16_kernels.h"

uint16_t vt_bf16_from_float(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
  if ((u & 0x7f800000u) == 0) return (uint16_t)((u >> 16) & 0x8000);        /* zero, subnormal */
  u += 0x7fffu + ((u >> 16) & 1); /* round to nearest, ties to even (overflow gives inf) */
  return (uint16_t)(u >> 16);
}

float vt_bf16_to_float(uint16_t b) {
  uint32_t u = (uint32_t)b << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

int vt_bf16_check(void) {
  vt_isa isa = vt_cpu_isa(), best = vt_cpu_isa_available();
  if (isa >= VT_ISA_AVX512BF16) return 0;
  if (best >= VT_ISA_AVX512BF16)
    return vt_fail("bf16 needs the avx512bf16 or amx kernels, and VGGTAP_ISA=%s caps them below",
                   vt_isa_name(isa));
  return vt_fail("bf16 needs a CPU with AVX512_BF16 or AMX-BF16; this one offers %s at most",
                 vt_isa_name(best));
}

const char *vt_bf16_path(void) {
  vt_isa isa = vt_cpu_isa();
  return isa >= VT_ISA_AVX512BF16 ? vt_isa_name(isa) : NULL;
}

static float round_bf16(float f) { return vt_bf16_to_float(vt_bf16_from_float(f)); }

void vt_conv3x3_relu_bf16_naive(const float *in, int H, int W, int Cin, const float *kernel,
                                const float *bias, int Cout, float *out) {
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      for (int o = 0; o < Cout; o++) {
        float s = 0; /* bf16 x bf16 is exact in float32: only the sum rounds */
        for (int dy = 0; dy < 3; dy++)
          for (int dx = 0; dx < 3; dx++) {
            int iy = y + dy - 1, ix = x + dx - 1;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
            const float *px = in + ((size_t)iy * W + ix) * Cin;
            const float *k = kernel + (size_t)(dy * 3 + dx) * Cin * Cout + o;
            for (int i = 0; i < Cin; i++) s += round_bf16(px[i]) * round_bf16(k[(size_t)i * Cout]);
          }
        s += bias[o];
        out[((size_t)y * W + x) * Cout + o] = s > 0 ? s : 0;
      }
}

/* ------------------------------------------------------------------------ */
/* Maps. */

static int round_up(int n, int m) { return (n + m - 1) / m * m; }

int vt_bf16_channels(int C) { return C <= VT_BF16_ROW_TAPS_MAX ? C : round_up(C, 32); }

size_t vt_bf16_map_elems(int H, int W, int C) {
  size_t px, n;
  if (vt_size_mul((size_t)H + 2, (size_t)W + 2, &px) < 0 || vt_size_add(px, VT_BF16_MAP_SLACK, &px) < 0 ||
      vt_size_mul(px, (size_t)vt_bf16_channels(C), &n) < 0)
    return 0;
  return n;
}

/* Zeroes what the kernels do not write in an h x w map: the border and the
 * slack after it (the padded channels of interior pixels are written as
 * zeros by the epilogue, whose padded outputs have zero weights and bias). */
static void zero_border(uint16_t *map, int h, int w, int Cp) {
  size_t row = (size_t)(w + 2) * Cp;
  memset(map, 0, row * sizeof *map);
  for (int y = 1; y <= h; y++) {
    memset(map + y * row, 0, (size_t)Cp * sizeof *map);
    memset(map + y * row + (size_t)(w + 1) * Cp, 0, (size_t)Cp * sizeof *map);
  }
  memset(map + (h + 1) * row, 0, (row + (size_t)VT_BF16_MAP_SLACK * Cp) * sizeof *map);
}

void vt_bf16_map_from_float(const float *in, int H, int W, int C, uint16_t *map) {
  int Cp = vt_bf16_channels(C);
#if defined(__x86_64__)
  if (Cp == C && vt_cpu_isa() >= VT_ISA_AVX512BF16) { /* rows are contiguous: 16 values a step */
    zero_border(map, H, W, Cp);
    for (int y = 0; y < H; y++)
      vt_bf16_round_avx512bf16(in + (size_t)y * W * C, map + ((size_t)(y + 1) * (W + 2) + 1) * Cp, (size_t)W * C);
    return;
  }
#endif
  memset(map, 0, vt_bf16_map_elems(H, W, C) * sizeof *map);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      uint16_t *dst = map + ((size_t)(y + 1) * (W + 2) + x + 1) * Cp;
      const float *src = in + ((size_t)y * W + x) * C;
      for (int c = 0; c < C; c++) dst[c] = vt_bf16_from_float(src[c]);
    }
}

void vt_bf16_map_to_float(const uint16_t *map, int H, int W, int C, float *out) {
  int Cp = vt_bf16_channels(C);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      for (int c = 0; c < C; c++)
        out[((size_t)y * W + x) * C + c] =
            vt_bf16_to_float(map[((size_t)(y + 1) * (W + 2) + x + 1) * Cp + c]);
}


/* ------------------------------------------------------------------------ */
/* Packing. */

struct vt_conv_bf16 {
  int cin, cout;
  int cp;        /* input channels per map pixel: vt_bf16_channels(cin) */
  int coutp;     /* cout rounded up to 32 */
  int row_taps;  /* cin <= VT_BF16_ROW_TAPS_MAX: a K step is a row of 3 taps (below) */
  int steps;     /* K steps of 32: 9 * cp / 32, or 3 */
  int n32_block; /* output blocks of 32 per pass over a band: their weights fit the L2 */
  uint16_t *w;   /* [coutp / 32][steps][VT_BF16_STEP] */
  float *bias;   /* [coutp], zero past cout */
};

/* Weights of one pass over the input stay within this, so a band's rows and
 * those weights share the L2 (2 MB on the Xeon and Zen 4/5 machines). */
enum { WEIGHT_BLOCK_BYTES = 640 * 1024, RAW_BAND_BYTES = 512 * 1024 };

/* The layout of a Cin -> Cout layer, from its shape alone. K steps run
 * tap by tap, 32 channels at a time within a tap (measured 7% faster than
 * putting the three taps of a row innermost, whose steps would read the
 * same input lines shifted by a pixel). With few channels (the RGB input)
 * a step is a whole row of taps instead: pixels are cin apart in the map,
 * so 32 values from pixel (y + dy, x) are its row's 3 pixels x cin
 * channels followed by values of the next pixels, which meet zero weights
 * (a 3x32 K for a 27-long dot product, but no im2col copy). */
static void plan(int Cin, int Cout, vt_conv_bf16 *p) {
  p->cin = Cin, p->cout = Cout, p->cp = vt_bf16_channels(Cin), p->coutp = round_up(Cout, 32);
  p->row_taps = Cin <= VT_BF16_ROW_TAPS_MAX;
  p->steps = p->row_taps ? 3 : 9 * p->cp / 32;
  int per_block = WEIGHT_BLOCK_BYTES / (p->steps * VT_BF16_STEP * 2);
  p->n32_block = per_block < 1 ? 1 : per_block > p->coutp / 32 ? p->coutp / 32 : per_block;
}

vt_conv_bf16 *vt_conv_bf16_pack(const float *kernel, const float *bias, int Cin, int Cout) {
  vt_conv_bf16 *p = calloc(1, sizeof *p);
  if (!p) return vt_fail("out of memory packing a %d -> %d bf16 conv", Cin, Cout), NULL;
  plan(Cin, Cout, p);
  size_t n = (size_t)(p->coutp / 32) * p->steps * VT_BF16_STEP;
  p->w = vt_aligned_alloc(n * sizeof *p->w);
  p->bias = vt_aligned_alloc((size_t)p->coutp * sizeof *p->bias);
  if (!p->w || !p->bias) {
    vt_conv_bf16_free(p);
    return vt_fail("out of memory packing a %d -> %d bf16 conv", Cin, Cout), NULL;
  }
  memset(p->w, 0, n * sizeof *p->w);
  for (int o = 0; o < p->coutp; o++) p->bias[o] = o < Cout ? bias[o] : 0;
  for (int tap = 0; tap < 9; tap++)
    for (int ci = 0; ci < Cin; ci++) {
      /* the K step and position within it that input ci of this tap is */
      int s = p->row_taps ? tap / 3 : tap * (p->cp / 32) + ci / 32;
      int k = p->row_taps ? tap % 3 * Cin + ci : ci % 32;
      const float *src = kernel + ((size_t)tap * Cin + ci) * Cout;
      for (int o = 0; o < Cout; o++) {
        uint16_t *tile = p->w + ((size_t)(o / 32) * p->steps + s) * VT_BF16_STEP + (o % 32 / 16) * 512;
        tile[(k / 2) * 32 + (o % 16) * 2 + k % 2] = vt_bf16_from_float(src[o]);
      }
    }
  return p;
}

void vt_conv_bf16_free(vt_conv_bf16 *p) {
  if (!p) return;
  free(p->w);
  free(p->bias);
  free(p);
}

int vt_conv_bf16_cin(const vt_conv_bf16 *p) { return p->cin; }
int vt_conv_bf16_cout(const vt_conv_bf16 *p) { return p->cout; }

/* ------------------------------------------------------------------------ */
/* The layer driver. */

/* Output rows per band: as many as keep the band's raw sums within
 * RAW_BAND_BYTES, even (a pool needs row pairs), at least 2, at most rows. */
static int band_rows(const vt_conv_bf16 *p, int rows, int W) {
  long per_row = (long)(W + 2) * p->n32_block * 32 * (long)sizeof(float);
  int r = (int)(RAW_BAND_BYTES / per_row) & ~1;
  if (r < 2) r = 2;
  return r < rows ? r : rows;
}

/* Raw rows for a band of r output rows: every kernel rounds m up to at most
 * 32 rows past it. */
static size_t raw_pixels(int r, int W) { return (size_t)r * (W + 2) + 32; }

size_t vt_conv_bf16_scratch_bytes(int Cin, int Cout, int H, int W) {
  vt_conv_bf16 shape, *p = &shape;
  plan(Cin, Cout, p);
  int r = band_rows(p, H, W);
  size_t raw = raw_pixels(r, W) * (size_t)p->n32_block * 32 * sizeof(float);
  size_t offs = (size_t)p->steps * sizeof(long);
  return ((raw + 63) & ~(size_t)63) + ((offs + 63) & ~(size_t)63);
}

/* vt_conv3x3_bf16; borders: also zero out_map's border (else the caller
 * has, and out_map may point into a larger map at a band's first row). */
static void conv(const vt_conv_bf16 *p, const uint16_t *in, int H, int W, int pool, uint16_t *out_map,
                 float *out, int stream, void *scratch, int borders) {
#if defined(__x86_64__)
  void (*gemm)(const vt_bf16_gemm *) =
      vt_cpu_isa() == VT_ISA_AMX ? vt_bf16_gemm_amx : vt_bf16_gemm_avx512bf16;
  int Wp = W + 2, rows = pool ? H / 2 * 2 : H, Wo = pool ? W / 2 : W, Ho = pool ? H / 2 : H;
  int cpo = vt_bf16_channels(p->cout), R = band_rows(p, rows, W);
  if (out_map && borders) zero_border(out_map, Ho, Wo, cpo);

  char *s = scratch;
  size_t raw_bytes = raw_pixels(R, W) * (size_t)p->n32_block * 32 * sizeof(float);
  float *raw = (float *)s;
  s += (raw_bytes + 63) & ~(size_t)63;
  long *aoff = (long *)s;
  for (int st = 0; st < p->steps; st++) {
    int chunks = p->row_taps ? 1 : p->cp / 32, tap = st / chunks;
    aoff[st] =
        p->row_taps ? (long)st * Wp * p->cp : ((long)(tap / 3) * Wp + tap % 3) * p->cp + st % chunks * 32;
  }

  for (int n0 = 0; n0 < p->coutp; n0 += p->n32_block * 32) {
    int n32 = (p->coutp - n0) / 32 < p->n32_block ? (p->coutp - n0) / 32 : p->n32_block;
    for (int y0 = 0; y0 < rows; y0 += R) {
      int r = rows - y0 < R ? rows - y0 : R, m = r * Wp;
      vt_bf16_gemm g = {.a = in + (size_t)y0 * Wp * p->cp,
                        .lda = p->cp,
                        .aoff = aoff,
                        .steps = p->steps,
                        .b = p->w + (size_t)(n0 / 32) * p->steps * VT_BF16_STEP,
                        .n32 = n32,
                        .m = m,
                        .c = raw,
                        .ldc = n32 * 32};
      if (y0 + R >= rows && n0 + n32 * 32 < p->coutp) /* the last band: the next call starts the next block */
        g.b_next = p->w + (size_t)(n0 / 32 + n32) * p->steps * VT_BF16_STEP;
      gemm(&g);
      int yo = pool ? y0 / 2 : y0, nvalid = p->cout - n0 < n32 * 32 ? p->cout - n0 : n32 * 32;
      vt_bf16_epilogue e = {.raw = raw,
                            .ldr = n32 * 32,
                            .Wp = Wp,
                            .rows = r,
                            .W = W,
                            .pool = pool,
                            .bias = p->bias + n0,
                            .nb = n32 * 32,
                            .nvalid = nvalid,
                            .nmap = cpo - n0 < n32 * 32 ? cpo - n0 : n32 * 32};
      if (out)
        e.out = out + (size_t)yo * Wo * p->cout + n0, e.out_px = p->cout, e.out_row = (long)Wo * p->cout,
        e.stream = stream;
      if (out_map)
        e.map = out_map + ((size_t)(yo + 1) * (Wo + 2) + 1) * cpo + n0, e.map_px = cpo,
        e.map_row = (long)(Wo + 2) * cpo;
      vt_bf16_epilogue_avx512bf16(&e);
    }
  }
#else
  (void)p, (void)in, (void)H, (void)W, (void)pool, (void)out_map, (void)out, (void)stream, (void)scratch,
      (void)borders;
  abort(); /* vt_bf16_check() fails on every other CPU: callers check it first */
#endif
}

void vt_conv3x3_bf16(const vt_conv_bf16 *p, const uint16_t *in, int H, int W, int pool, uint16_t *out_map,
                     float *out, int stream, void *scratch) {
  conv(p, in, H, W, pool, out_map, out, stream, scratch, 1);
}

/* Rows of b's output per band of a pair: a's band map (PAIR_ROWS + 4 rows)
 * then stays in the L2 with b's raw sums and weights (578 KB for block1 at
 * 224 pixels, 584 KB for block2). */
enum { PAIR_ROWS = 16 };

static size_t band_map_elems(int W, int C1) {
  return ((size_t)(PAIR_ROWS + 4) * (W + 2) + VT_BF16_MAP_SLACK) * vt_bf16_channels(C1);
}

size_t vt_conv_bf16_pair_scratch_bytes(int Cin, int C1, int Cout, int H, int W) {
  size_t sa = vt_conv_bf16_scratch_bytes(Cin, C1, PAIR_ROWS + 2 < H ? PAIR_ROWS + 2 : H, W);
  size_t sb = vt_conv_bf16_scratch_bytes(C1, Cout, PAIR_ROWS < H ? PAIR_ROWS : H, W);
  return ((band_map_elems(W, C1) * sizeof(uint16_t) + 63) & ~(size_t)63) + (sa > sb ? sa : sb);
}

/* Band by band: a's output rows y0 - 1 .. y0 + r (the halo recomputed) into
 * a band map whose row 1 is a's row y0 - 1, then b on that band with the
 * pool. A band map's rows past the image are a's zero padding: a sub-map
 * written by conv() zeroes its own top and bottom border rows, so the first
 * band's sub-map starts one row down (its top border is a's row -1) and the
 * last one ends early (its bottom border is a's row H). */
void vt_conv3x3_bf16_pair_pool(const vt_conv_bf16 *a, const vt_conv_bf16 *b, const uint16_t *in, int H, int W,
                               uint16_t *pooled_map, float *pooled, int stream, void *scratch) {
  int Wp = W + 2, rows = H / 2 * 2, ca = vt_bf16_channels(a->cin), c1 = vt_bf16_channels(a->cout);
  int cpo = vt_bf16_channels(b->cout), Wo = W / 2;
  uint16_t *band = scratch;
  void *s = (char *)scratch + ((band_map_elems(W, a->cout) * sizeof(uint16_t) + 63) & ~(size_t)63);
  if (pooled_map) zero_border(pooled_map, H / 2, Wo, cpo);
  for (int y0 = 0; y0 < rows; y0 += PAIR_ROWS) {
    int r = rows - y0 < PAIR_ROWS ? rows - y0 : PAIR_ROWS;
    int lo = y0 > 0 ? y0 - 1 : 0, hi = y0 + r < H - 1 ? y0 + r : H - 1;
    conv(a, in + (size_t)lo * Wp * ca, hi - lo + 1, W, 0, band + (size_t)(lo - y0 + 1) * Wp * c1, NULL, 0, s,
         1);
    conv(b, band + (size_t)Wp * c1, r, W, 1, pooled_map ? pooled_map + (size_t)y0 / 2 * (Wo + 2) * cpo : NULL,
         pooled ? pooled + (size_t)y0 / 2 * Wo * b->cout : NULL, stream, s, 0);
  }
}
