/* bench_conv_bf16.c: per-layer time of the bf16 conv (vt_conv3x3_bf16) on
 * VGG16's 13 conv shapes against the float32 packed conv that vt_vgg_forward
 * runs (vt_conv3x3_relu_pool_packed, VT_CONV_AUTO), one thread, thread CPU
 * time, median of repeats (the machine is shared).
 *
 *   bench_conv_bf16 [-s SIZE] [-r REPS]
 *
 * The bf16 kernels are the path vt_cpu_isa() chooses: run it with
 * VGGTAP_ISA=avx512bf16 for the AVX512_BF16 one on an AMX machine. Each
 * layer is timed as the forward pass runs it: a layer that a pool follows
 * with the pool fused (bf16: pooled bf16 map only; float32: pooled output),
 * others writing their output map. GFLOP/s counts direct convolution's
 * 2*H*W*9*Cin*Cout for both (Winograd's figure is "equivalent"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/vt_common.h"
#include "net/vt_conv.h"
#include "net/vt_conv_bf16.h"
#include "net/vt_vgg.h"

static double thread_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmp_double(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

static float *rand_floats(size_t n, float scale, uint64_t seed) {
  float *p = vt_aligned_alloc(n * sizeof *p);
  if (!p) exit(1);
  for (size_t i = 0; i < n; i++) {
    seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
    p[i] = scale * ((float)((seed >> 40) * (1.0 / (1 << 23))) - 1.0f);
  }
  return p;
}

int main(int argc, char **argv) {
  int size = 224, reps = 7;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "-s"))
      size = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "-r"))
      reps = atoi(argv[i + 1]);
  }
  if (size < 32 || reps < 1 || reps > 99) {
    fprintf(stderr, "usage: bench_conv_bf16 [-s SIZE (>= 32)] [-r REPS (1-99)]\n");
    return 2;
  }
  if (vt_bf16_check() < 0) {
    fprintf(stderr, "bench_conv_bf16: %s\n", vt_failure_reason());
    return 1;
  }
  printf("bf16 path: %s; %dx%d input; thread CPU time, median of %d\n\n", vt_bf16_path(), size, size, reps);
  printf("| layer | GFLOP | fp32 packed ms (GFLOP/s) | bf16 ms (GFLOP/s) | fp32 / bf16 "
         "|\n|---|---:|---:|---:|---:|\n");
  double tot32 = 0, tot16 = 0;
  for (int l = 0; l < VT_VGG16_NLAYERS; l++) {
    const vt_layer_def *d = &vt_vgg16_layers[l];
    if (d->kind != VT_LAYER_CONV) continue;
    int H, W, C;
    vt_vgg16_layer_shape(l, size, size, &H, &W, &C);
    int pool = l + 1 < VT_VGG16_NLAYERS && vt_vgg16_layers[l + 1].kind == VT_LAYER_POOL;
    size_t nin = (size_t)H * W * d->cin, nout = (size_t)H * W * d->cout;
    float *in = rand_floats(nin, 1, 88172645463325252ull + l),
          *k = rand_floats((size_t)9 * d->cin * d->cout, 0.05f, 7 + l);
    float *b = rand_floats((size_t)d->cout, 0.1f, 11 + l), *out = vt_aligned_alloc(nout * sizeof *out);
    float *pooled = vt_aligned_alloc(nout * sizeof *pooled + 64);
    vt_conv3x3_packed *p32 = vt_conv3x3_pack(k, b, d->cin, d->cout, VT_CONV_AUTO);
    float *s32 = vt_aligned_alloc(vt_conv3x3_packed_scratch_floats(p32, H, W) * sizeof(float) + 64);
    vt_conv_bf16 *p16 = vt_conv_bf16_pack(k, b, d->cin, d->cout);
    uint16_t *map = vt_aligned_alloc(vt_bf16_map_elems(H, W, d->cin) * sizeof *map);
    uint16_t *omap = vt_aligned_alloc(vt_bf16_map_elems(H, W, d->cout) * sizeof *omap);
    void *s16 = vt_aligned_alloc(vt_conv_bf16_scratch_bytes(d->cin, d->cout, H, W));
    if (!out || !pooled || !p32 || !s32 || !p16 || !map || !omap || !s16) return 1;
    vt_bf16_map_from_float(in, H, W, d->cin, map);
    double t32[99], t16[99];
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
      double t = thread_seconds();
      vt_conv3x3_relu_pool_packed(p32, in, H, W, out, pool ? pooled : NULL, 0, s32);
      double u = thread_seconds();
      vt_conv3x3_bf16(p16, map, H, W, pool, omap, NULL, 0, s16);
      double v = thread_seconds();
      if (r >= 0) t32[r] = u - t, t16[r] = v - u;
    }
    qsort(t32, (size_t)reps, sizeof *t32, cmp_double);
    qsort(t16, (size_t)reps, sizeof *t16, cmp_double);
    double gf = 2.0 * H * W * 9.0 * d->cin * d->cout / 1e9, m32 = t32[reps / 2], m16 = t16[reps / 2];
    tot32 += m32, tot16 += m16;
    printf("| %s%s | %.3f | %.2f (%.0f) | %.2f (%.0f) | %.2fx |\n", d->name, pool ? " + pool" : "", gf,
           1e3 * m32, gf / m32, 1e3 * m16, gf / m16, m32 / m16);
    free(in), free(k), free(b), free(out), free(pooled), free(s32), free(map), free(omap), free(s16);
    vt_conv3x3_packed_free(p32);
    vt_conv_bf16_free(p16);
  }
  printf("| total | 30.7 | %.2f | %.2f | %.2fx |\n", 1e3 * tot32, 1e3 * tot16, tot32 / tot16);
  return 0;
}
