/* test_conv_bf16: the bf16 conv (net/vt_conv_bf16.h) and forward pass
 * (net/vt_vgg_bf16.h).
 *
 *   1. bf16 rounding by hand (ties to even, NaN, overflow, subnormals).
 *   2. The naive bf16 reference against the float32 naive conv, within what
 *      rounding inputs and weights to bf16 allows.
 *   3. Each kernel path against the naive bf16 reference on odd shapes, with
 *      and without the fused pool, float32 outputs and bf16 maps; then the
 *      whole bf16 forward pass against the naive one. The paths are this
 *      program run again with VGGTAP_ISA=avx512bf16 and =amx (the choice is
 *      made once per process), each skipped with the reason where the CPU
 *      lacks it; VGGTAP_ISA=avx512 must refuse bf16 with a message.
 *
 * Tolerances. A bf16 x bf16 product is exact in float32 (8 + 8 significant
 * bits), so the fast kernels and the naive reference add the same products
 * and differ only in the order of their float32 additions. For a sum of n
 * terms in any order, the error is at most (n - 1) u sum|terms| (u = 2^-24,
 * Higham, Accuracy and Stability of Numerical Algorithms, 4.2); two orders
 * differ by at most twice that. With n = 9 Cin + 1 (products and bias) the
 * bound per output is 2 (9 Cin + 1) u (S + |bias|), S = sum |x w| over the
 * rounded values: a wrong tap, channel or bias shows up as an error of the
 * size of one product, far above it. Against float32: rounding x and w to
 * bf16 changes each product by at most (2^-8 + 2^-18) |x w|. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "base/vt_common.h"
#include "base/vt_cpu.h"
#include "net/vt_conv.h"
#include "net/vt_conv_bf16.h"
#include "net/vt_vgg_bf16.h"
#include "vt_test.h"
#include "vt_test_rand.h"

/* n bytes ending (64-byte aligned) just before a page the process may not
 * touch: a kernel reading or writing past a buffer it was given dies with
 * SIGSEGV. The AMX tile loads and stores are invisible to ASan and valgrind,
 * so this is how the maps' slack and the scratch sizes are checked. */
static void *guarded(size_t n) {
  size_t page = 4096, len = (n + 63) & ~(size_t)63, total = (len + page - 1) / page * page + page;
  char *base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED || mprotect(base + total - page, page, PROT_NONE) != 0) {
    perror("mmap");
    exit(1);
  }
  return base + total - page - len;
}

static void guarded_free(void *p, size_t n) {
  size_t page = 4096, len = (n + 63) & ~(size_t)63, total = (len + page - 1) / page * page + page;
  munmap((char *)p + len + page - total, total);
}

static float from_bits(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static void test_rounding(void) {
  struct {
    uint32_t in;
    uint16_t out;
  } cases[] = {
      {0x3f800000, 0x3f80}, /* 1 */
      {0x3f808000, 0x3f80}, /* halfway, even below: down */
      {0x3f818000, 0x3f82}, /* halfway, odd below: up */
      {0x3f808001, 0x3f81}, /* just above halfway */
      {0x3f807fff, 0x3f80}, /* just below */
      {0xbf818000, 0xbf82}, /* negative, symmetric */
      {0x7f7fffff, 0x7f80}, /* FLT_MAX rounds to inf */
      {0x7f800000, 0x7f80}, /* inf */
      {0x00400000, 0x0000}, /* subnormal: zero */
      {0x80400000, 0x8000}, /* negative subnormal: -0 */
      {0x00800000, 0x0080}, /* FLT_MIN stays */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    uint16_t got = vt_bf16_from_float(from_bits(cases[i].in));
    CHECK(got == cases[i].out, "bf16(0x%08x) = 0x%04x, expected 0x%04x", cases[i].in, got, cases[i].out);
  }
  /* the same through a map (16 values at a time on a bf16 CPU) */
  enum { N = sizeof cases / sizeof *cases };
  float in[3 * N];
  uint16_t map[(3 + 2) * (N + 2) * 3 + VT_BF16_MAP_SLACK * 3];
  for (int i = 0; i < 3 * N; i++) in[i] = from_bits(cases[i % N].in ^ (i / N == 2 ? 0x80000000u : 0));
  vt_bf16_map_from_float(in, 1, N, 3, map);
  for (int i = 0; i < 3 * N; i++) {
    uint16_t got = map[(size_t)(N + 2 + 1) * 3 + i], want = vt_bf16_from_float(in[i]);
    CHECK(got == want, "map of 0x%08x = 0x%04x, expected 0x%04x", cases[i % N].in, got, want);
  }
  CHECK(isnan(vt_bf16_to_float(vt_bf16_from_float(NAN))), "NaN stays NaN");
  CHECK(isnan(vt_bf16_to_float(vt_bf16_from_float(from_bits(0x7f800001)))),
        "a NaN that rounding would make inf");
  CHECK(vt_bf16_to_float(0x4049) == 3.140625f, "bf16 -> float is the top half");
}

/* S of the tolerance: sum |x w| over the rounded values (the naive bf16 conv
 * of |in| with |kernel|; rounding commutes with |.|), and per output the
 * bound for two summation orders. */
static float *sum_abs(const float *in, int H, int W, int Cin, const float *k, int Cout) {
  size_t nin = (size_t)H * W * Cin, nk = (size_t)9 * Cin * Cout, nout = (size_t)H * W * Cout;
  float *ai = vt_xmalloc(nin * sizeof *ai), *ak = vt_xmalloc(nk * sizeof *ak);
  float *zero = vt_xcalloc((size_t)Cout, sizeof *zero), *s = vt_xmalloc(nout * sizeof *s);
  for (size_t i = 0; i < nin; i++) ai[i] = fabsf(in[i]);
  for (size_t i = 0; i < nk; i++) ak[i] = fabsf(k[i]);
  vt_conv3x3_relu_bf16_naive(ai, H, W, Cin, ak, zero, Cout, s);
  free(ai), free(ak), free(zero);
  return s;
}

static double order_bound(double S, double bias, int Cin) {
  return 2.0 * (9.0 * Cin + 1) * ldexp(1, -24) * (S + fabs(bias)) * 1.0001; /* S's own rounding */
}

static void test_naive_vs_float32(void) {
  const int shapes[][4] = {{5, 7, 3, 20}, {6, 9, 40, 70}, {4, 6, 100, 37}};
  for (size_t t = 0; t < sizeof shapes / sizeof *shapes; t++) {
    int H = shapes[t][0], W = shapes[t][1], Cin = shapes[t][2], Cout = shapes[t][3];
    size_t nout = (size_t)H * W * Cout;
    float *in = rand_buf((size_t)H * W * Cin, 2), *k = rand_buf((size_t)9 * Cin * Cout, 0.3f);
    float *b = rand_buf((size_t)Cout, 0.5f), *ref = vt_xmalloc(nout * sizeof *ref),
          *bf = vt_xmalloc(nout * sizeof *bf);
    vt_conv3x3_relu_naive(in, H, W, Cin, k, b, Cout, ref);
    vt_conv3x3_relu_bf16_naive(in, H, W, Cin, k, b, Cout, bf);
    float *S = sum_abs(in, H, W, Cin, k, Cout);
    int bad = 0, rounded = 0;
    for (size_t i = 0; i < nout; i++) {
      double d = fabs((double)bf[i] - ref[i]), o = i % Cout;
      /* S is over the rounded values: divide out their (1 + 2^-8) at most */
      double bound = (ldexp(1, -8) + ldexp(1, -18)) * S[i] + order_bound(S[i], b[(size_t)o], Cin);
      bad += !(d <= bound);
      rounded += d > order_bound(S[i], b[(size_t)o], Cin);
    }
    CHECK(bad == 0, "%dx%d %d->%d: %d outputs off float32 by more than bf16 rounding allows", H, W, Cin, Cout,
          bad);
    CHECK(rounded > 0, "%dx%d %d->%d: bf16 rounding left no trace (inputs not rounded?)", H, W, Cin, Cout);
    free(in), free(k), free(b), free(ref), free(bf), free(S);
  }
}

/* 2x2 max-pool of a per-output bound: the bound of the pooled outputs. */
static void pool_bound(const double *in, int H, int W, int C, double *out) {
  for (int y = 0; y < H / 2; y++)
    for (int x = 0; x < W / 2; x++)
      for (int c = 0; c < C; c++) {
        double m = 0;
        for (int d = 0; d < 4; d++) {
          double v = in[(((size_t)(2 * y + d / 2)) * W + 2 * x + d % 2) * C + c];
          if (v > m) m = v;
        }
        out[((size_t)y * (W / 2) + x) * C + c] = m;
      }
}

/* The map holds the rounding of out, zeros in its border, padded channels
 * and slack. Returns the number of wrong elements. */
static int check_map(const uint16_t *map, const float *out, int h, int w, int C) {
  int Cp = vt_bf16_channels(C), bad = 0;
  size_t n = vt_bf16_map_elems(h, w, C);
  for (size_t i = 0; i < n; i++) {
    size_t px = i / Cp;
    int c = (int)(i % Cp), y = (int)(px / (w + 2)) - 1, x = (int)(px % (w + 2)) - 1;
    int inside = y >= 0 && y < h && x >= 0 && x < w && c < C;
    uint16_t want = inside ? vt_bf16_from_float(out[((size_t)y * w + x) * C + c]) : 0;
    bad += map[i] != want;
  }
  return bad;
}

static void test_kernel(int H, int W, int Cin, int Cout) {
  size_t nout = (size_t)H * W * Cout;
  float *in = rand_buf((size_t)H * W * Cin, 2), *k = rand_buf((size_t)9 * Cin * Cout, 0.3f);
  float *b = rand_buf((size_t)Cout, 0.5f), *ref = vt_xmalloc(nout * sizeof *ref);
  vt_conv3x3_relu_bf16_naive(in, H, W, Cin, k, b, Cout, ref);
  float *S = sum_abs(in, H, W, Cin, k, Cout);
  double *bound = vt_xmalloc(nout * sizeof *bound), *pbound = vt_xmalloc(nout * sizeof *pbound);
  for (size_t i = 0; i < nout; i++) bound[i] = order_bound(S[i], b[i % Cout], Cin);
  float *pref = vt_xmalloc(nout * sizeof *pref);
  vt_maxpool2x2_naive(ref, H, W, Cout, pref);
  pool_bound(bound, H, W, Cout, pbound);

  vt_conv_bf16 *p = vt_conv_bf16_pack(k, b, Cin, Cout);
  CHECK(p != NULL, "pack: %s", vt_failure_reason());
  size_t inmap_bytes = vt_bf16_map_elems(H, W, Cin) * sizeof(uint16_t);
  size_t scratch_bytes = vt_conv_bf16_scratch_bytes(Cin, Cout, H, W);
  uint16_t *map = guarded(inmap_bytes);
  vt_bf16_map_from_float(in, H, W, Cin, map);
  void *scratch = guarded(scratch_bytes);
  size_t nmap = vt_bf16_map_elems(H, W, Cout);
  uint16_t *omap = guarded(nmap * sizeof *omap);
  float *out = vt_xmalloc(nout * sizeof *out);
  for (int pool = 0; pool <= 1; pool++) {
    int h = pool ? H / 2 : H, w = pool ? W / 2 : W;
    if (h == 0 || w == 0) continue;
    size_t n = (size_t)h * w * Cout;
    for (size_t i = 0; i < n; i++) out[i] = NAN; /* shows an output left unwritten */
    memset(omap, 0xff, nmap * sizeof *omap);     /* and a border or padding left as it was */
    vt_conv3x3_bf16(p, map, H, W, pool, omap, out, 0, scratch);
    const float *r = pool ? pref : ref;
    const double *bd = pool ? pbound : bound;
    int bad = 0;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
      double d = fabs((double)out[i] - r[i]);
      if (!(d <= bd[i])) bad++;
      if (!(d <= worst)) worst = d;
    }
    CHECK(bad == 0, "%s %dx%d %d->%d pool %d: %d outputs beyond the summation-order bound (worst %.3g)",
          vt_bf16_path(), H, W, Cin, Cout, pool, bad, worst);
    CHECK(check_map(omap, out, h, w, Cout) == 0,
          "%s %dx%d %d->%d pool %d: the bf16 map is not the rounded output", vt_bf16_path(), H, W, Cin, Cout,
          pool);
    /* the map alone and the float32 output alone (streamed) give the same values */
    float *out2 = vt_aligned_alloc(n * sizeof *out2 + 64);
    vt_conv3x3_bf16(p, map, H, W, pool, NULL, out2, 1, scratch);
    CHECK(memcmp(out, out2, n * sizeof *out) == 0, "float32 output alone, streamed, differs");
    uint16_t *omap2 = vt_aligned_alloc(nmap * sizeof *omap2);
    vt_conv3x3_bf16(p, map, H, W, pool, omap2, NULL, 0, scratch);
    CHECK(memcmp(omap, omap2, vt_bf16_map_elems(h, w, Cout) * sizeof *omap) == 0, "map alone differs");
    free(out2), free(omap2);
  }
  printf("%s %dx%d %d->%d: ok\n", vt_bf16_path(), H, W, Cin, Cout);
  vt_conv_bf16_free(p);
  free(in), free(k), free(b), free(ref), free(S), free(bound), free(pbound), free(pref);
  guarded_free(map, inmap_bytes), guarded_free(scratch, scratch_bytes),
      guarded_free(omap, nmap * sizeof *omap);
  free(out);
}

/* The banded two-conv block gives bitwise what the two calls give (same
 * sums in the same order), on shapes with several bands, a partial last
 * band and odd sizes. */
static void test_pair(int H, int W, int Cin, int C1, int Cout) {
  float *in = rand_buf((size_t)H * W * Cin, 2);
  float *ka = rand_buf((size_t)9 * Cin * C1, 0.3f), *ba = rand_buf((size_t)C1, 0.5f);
  float *kb = rand_buf((size_t)9 * C1 * Cout, 0.1f), *bb = rand_buf((size_t)Cout, 0.5f);
  vt_conv_bf16 *a = vt_conv_bf16_pack(ka, ba, Cin, C1), *b = vt_conv_bf16_pack(kb, bb, C1, Cout);
  uint16_t *map = vt_aligned_alloc(vt_bf16_map_elems(H, W, Cin) * sizeof *map);
  uint16_t *mid = vt_aligned_alloc(vt_bf16_map_elems(H, W, C1) * sizeof *mid);
  size_t nmap = vt_bf16_map_elems(H / 2, W / 2, Cout), n = (size_t)(H / 2) * (W / 2) * Cout;
  uint16_t *m1 = vt_aligned_alloc(nmap * sizeof *m1), *m2 = vt_aligned_alloc(nmap * sizeof *m2);
  float *o1 = vt_xmalloc(n * sizeof *o1 + 4), *o2 = vt_aligned_alloc(n * sizeof *o2 + 64);
  size_t sa = vt_conv_bf16_scratch_bytes(Cin, C1, H, W), sb = vt_conv_bf16_scratch_bytes(C1, Cout, H, W);
  size_t s2_bytes = vt_conv_bf16_pair_scratch_bytes(Cin, C1, Cout, H, W);
  void *s1 = vt_aligned_alloc(sa > sb ? sa : sb), *s2 = guarded(s2_bytes);
  vt_bf16_map_from_float(in, H, W, Cin, map);
  vt_conv3x3_bf16(a, map, H, W, 0, mid, NULL, 0, s1);
  vt_conv3x3_bf16(b, mid, H, W, 1, m1, o1, 0, s1);
  memset(m2, 0xff, nmap * sizeof *m2);
  for (size_t i = 0; i < n; i++) o2[i] = NAN;
  vt_conv3x3_bf16_pair_pool(a, b, map, H, W, m2, o2, 1, s2);
  CHECK(memcmp(o1, o2, n * sizeof *o1) == 0, "%s pair %dx%d %d->%d->%d: pooled outputs differ from two calls",
        vt_bf16_path(), H, W, Cin, C1, Cout);
  CHECK(memcmp(m1, m2, nmap * sizeof *m1) == 0, "%s pair %dx%d: pooled maps differ", vt_bf16_path(), H, W);
  printf("%s pair %dx%d %d->%d->%d: ok\n", vt_bf16_path(), H, W, Cin, C1, Cout);
  vt_conv_bf16_free(a), vt_conv_bf16_free(b);
  free(in), free(ka), free(ba), free(kb), free(bb), free(map), free(mid), free(m1), free(m2), free(o1),
      free(o2);
  free(s1), guarded_free(s2, s2_bytes);
}

/* Random VGG16 weights (He-normal-like scale, so activations keep their
 * size through the layers) for the first n_conv layers. */
static void random_weights(vt_weights *w, int n_conv) {
  memset(w, 0, sizeof *w);
  w->n_conv = n_conv;
  for (int l = 0, i = 0; i < n_conv; l++) {
    if (vt_vgg16_layers[l].kind != VT_LAYER_CONV) continue;
    vt_conv_weights *c = &w->conv[i++];
    c->cin = vt_vgg16_layers[l].cin, c->cout = vt_vgg16_layers[l].cout;
    c->kernel = rand_buf((size_t)9 * c->cin * c->cout, (float)sqrt(6.0 / (9.0 * c->cin)));
    c->bias = rand_buf((size_t)c->cout, 0.1f);
  }
}

/* The bf16 forward pass against the naive one through every layer, keeping
 * all outputs and only the last one. Layers after the first see inputs
 * that were rounded to bf16 from sums that differ by the order bound, which
 * can flip a rounding: one bf16 step (2^-8 relative) in an input, so the
 * bound here is bf16-sized: 2^-6 of the layer's largest output. */
static void test_forward(int H, int W) {
  int last = VT_VGG16_NLAYERS - 1;
  vt_weights w;
  random_weights(&w, VT_VGG16_NCONV);
  vt_vgg_bf16_weights bw;
  CHECK(vt_vgg_bf16_pack(&w, &bw) == 0, "%s", vt_failure_reason());
  vt_vgg_bf16_workspace ref, ws;
  CHECK(vt_vgg_bf16_workspace_init(&ref, H, W, last) == 0, "%s", vt_failure_reason());
  CHECK(vt_vgg_bf16_workspace_init(&ws, H, W, last) == 0, "%s", vt_failure_reason());
  for (size_t i = 0; i < (size_t)H * W * 3; i++) ref.input[i] = ws.input[i] = 120 * frand();
  vt_vgg_forward_bf16_naive(&w, &ref);
  for (int mode = 0; mode < 3; mode++) { /* keep all; the last only (streamed); every pool only */
    ws.stream[last] = mode == 1;
    for (int l = 0; l <= last; l++) {
      ws.keep[l] = mode == 0 || l == last || (mode == 2 && vt_vgg16_layers[l].kind == VT_LAYER_POOL);
      for (size_t i = 0; i < (size_t)ws.oh[l] * ws.ow[l] * ws.oc[l]; i++) ws.out[l][i] = NAN;
    }
    vt_vgg_forward_bf16(&bw, &ws);
    for (int l = 0; l <= last; l++) {
      if (!ws.keep[l]) continue;
      size_t n = (size_t)ws.oh[l] * ws.ow[l] * ws.oc[l];
      double d = 0, m = 0;
      for (size_t i = 0; i < n; i++) {
        double e = fabs((double)ws.out[l][i] - ref.out[l][i]);
        if (!(e <= d)) d = e;
        if (fabs(ref.out[l][i]) > m) m = fabs(ref.out[l][i]);
      }
      CHECK(m > 0, "%s: all zero (a dead test)", vt_vgg16_layers[l].name);
      CHECK(d <= m / 64, "%s %dx%d keep mode %d, %s: max |fast - naive| = %.3g of max %.3g", vt_bf16_path(),
            H, W, mode, vt_vgg16_layers[l].name, d, m);
    }
  }
  printf("%s forward %dx%d to block5_pool: ok\n", vt_bf16_path(), H, W);
  vt_vgg_bf16_workspace_free(&ref);
  vt_vgg_bf16_workspace_free(&ws);
  vt_vgg_bf16_weights_free(&bw);
  for (int i = 0; i < w.n_conv; i++) free(w.conv[i].kernel), free(w.conv[i].bias);
}

/* The checks of one path, in a process whose VGGTAP_ISA chose it. */
static int run_path(void) {
  if (vt_bf16_check() < 0) {
    printf("refused: %s\n", vt_failure_reason());
    return 3;
  }
  printf("path %s\n", vt_bf16_path());
  static const int shapes[][4] = {
      {5, 7, 3, 20},                       /* RGB input (im2col), Cout not a multiple of 16 */
      {9, 11, 3, 64},                      /* the network's first layer on an odd image */
      {7, 5, 17, 33},                      /* Cin, Cout past a multiple of 16 and 32 */
      {6, 9, 40, 70},                      /* several 32-channel steps and output blocks */
      {13, 3, 64, 64},                     /* narrow, odd height */
      {1, 1, 5, 3},                        /* one pixel; no pooled output */
      {3, 2, 7, 4},                        /* small Cout: a map of 4 channels */
      {8, 7, 10, 11},    {7, 8, 11, 10},   /* the last row-of-taps Cin, the first 32-padded one */
      {4, 6, 100, 37},   {3, 5, 520, 100}, /* several output blocks of one layer */
      {23, 200, 64, 64},                   /* several bands of rows, odd height */
  };
  for (size_t t = 0; t < sizeof shapes / sizeof *shapes; t++)
    test_kernel(shapes[t][0], shapes[t][1], shapes[t][2], shapes[t][3]);
  test_pair(37, 45, 3, 20, 33); /* three bands, the last of 4 rows; odd H */
  test_pair(34, 9, 40, 64, 70); /* even H: the last band ends at the image */
  test_pair(16, 5, 3, 64, 64);  /* exactly one band */
  test_pair(3, 7, 3, 8, 8);     /* one pooled row */
  test_forward(37, 45);
  return failures != 0;
}

/* Runs this program with VGGTAP_ISA=name; its exit status. */
static int run_with(const char *self, const char *name) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "VGGTAP_ISA=%s '%s' --path", name, self);
  fflush(stdout);
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(int argc, char **argv) {
  if (argc == 2 && !strcmp(argv[1], "--path")) return run_path();
  unsetenv("VGGTAP_ISA");
  test_rounding();
  test_naive_vs_float32();
  vt_isa best = vt_cpu_isa_available();
  int ran = 0;
  char skipped[256] = "";
  for (vt_isa isa = VT_ISA_AVX512BF16; isa <= VT_ISA_AMX; isa++) {
    if (isa > best) {
      snprintf(skipped + strlen(skipped), sizeof skipped - strlen(skipped), "%s%s", *skipped ? ", " : "",
               vt_isa_name(isa));
      continue;
    }
    int rc = run_with(argv[0], vt_isa_name(isa));
    CHECK(rc == 0, "VGGTAP_ISA=%s: exit status %d", vt_isa_name(isa), rc);
    ran++;
  }
  if (best >= VT_ISA_AVX512) { /* below bf16: refused with a reason */
    CHECK(run_with(argv[0], "avx512") == 3, "VGGTAP_ISA=avx512 must refuse bf16 (exit 3)");
  }
  if (best < VT_ISA_AVX512BF16)
    CHECK(vt_bf16_check() < 0 && strstr(vt_failure_reason(), "AVX512_BF16"), "refusal");
  if (failures) return 1;
  if (!ran) {
    printf("rounding and the naive reference checked; no bf16 kernel ran: this CPU offers %s at most\n",
           vt_isa_name(best));
    return 77;
  }
  if (*skipped) printf("not run here (the CPU lacks them): %s\n", skipped);
  return 0;
}
