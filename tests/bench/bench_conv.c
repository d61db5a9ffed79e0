/* bench_conv.c: per-layer time of the 3x3 conv paths on VGG16's 13 conv
 * shapes, one thread, median of repeats.
 *
 *   bench_conv [-s SIZE] [-r REPS] [-l FIRST-LAST]
 *   bench_conv -p WEIGHTS.h5 [-s SIZE] [-r REPS] [-t THREADS]
 *
 * SIZE is the network input (224: block1 at 224x224 ... block5 at 14x14).
 * For each layer: im2col + BLIS (tests/support/), the direct conv on the
 * path's GEMM kernel (packed GEMM), Winograd F(4x4,3x3) (packed), and the fused
 * Winograd conv + 2x2 max-pool on the layers a pool follows. GFLOP/s counts
 * direct convolution's 2*H*W*9*Cin*Cout for every path, so Winograd's figure
 * is "equivalent". err is max |x - blis| / max |blis| (BLIS differs from the
 * exact result by ~1e-6, so it shows each path's own error).
 *
 * Then the two-conv blocks (block1, block2: conv, conv, pool) three ways:
 * layer by layer (packed conv a to memory, packed conv b + fused pool),
 * chained in row bands writing only the pooled map, and chained writing all
 * three outputs (what a forward pass that must keep every layer does).
 *
 * With -p, the whole forward pass (vt_vgg_forward) up to each pool layer the
 * weights file reaches, keeping every layer's output and keeping only the
 * tap's (what vggtap-extract asks for); -t runs that many threads at once,
 * one image each, as vggtap-extract does, to show how much they slow each
 * other down.
 *
 * Times are CPU time of the thread (the machine is shared). The kernels are
 * those of the path vt_cpu chose (printed first; VGGTAP_ISA=avx2 etc. runs a
 * lower one). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/vt_common.h"
#include "base/vt_cpu.h"
#include "net/vt_conv.h"
#include "net/vt_vgg.h"
#include "net/vt_weights.h"
#include "../support/vt_conv_im2col.h"

static const struct {
  const char *name;
  int scale, cin, cout, pool_after;
} layers[13] = {
    {"block1_conv1", 1, 3, 64, 0},      {"block1_conv2", 1, 64, 64, 1},
    {"block2_conv1", 2, 64, 128, 0},    {"block2_conv2", 2, 128, 128, 1},
    {"block3_conv1", 4, 128, 256, 0},   {"block3_conv2", 4, 256, 256, 0},
    {"block3_conv3", 4, 256, 256, 1},   {"block4_conv1", 8, 256, 512, 0},
    {"block4_conv2", 8, 512, 512, 0},   {"block4_conv3", 8, 512, 512, 1},
    {"block5_conv1", 16, 512, 512, 0},  {"block5_conv2", 16, 512, 512, 0},
    {"block5_conv3", 16, 512, 512, 1},
};

static uint64_t rng = 88172645463325252ull;
static float frand(void) { /* [0, 1) */
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (float)((rng >> 40) * (1.0 / (1 << 24)));
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* CPU time of this thread: on a shared machine, time the other processes
 * take from us does not count (their cache and memory traffic still does). */
static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double rel_diff(const float *a, const float *b, size_t n) {
  double d = 0, m = 0;
  for (size_t i = 0; i < n; i++) {
    if (fabs((double)a[i] - b[i]) > d) d = fabs((double)a[i] - b[i]);
    if (fabs(b[i]) > m) m = fabs(b[i]);
  }
  return m > 0 ? d / m : d;
}

enum { PATH_BLIS, PATH_GEMM, PATH_WINO, PATH_WINO_POOL, NPATHS };
static const char *path_names[NPATHS] = {"blis", "gemm", "wino", "wino+pool"};

typedef struct {
  const float *in, *k, *b;
  int H, W, cin, cout;
  vt_conv3x3_packed *gemm, *wino;
  float *out, *pooled, *scratch;
} job;

static void run(const job *j, int path) {
  switch (path) {
  case PATH_BLIS:
    vt_conv3x3_relu_im2col(j->in, j->H, j->W, j->cin, j->k, j->b, j->cout, j->out, j->scratch);
    break;
  case PATH_GEMM: vt_conv3x3_relu_packed(j->gemm, j->in, j->H, j->W, j->out, j->scratch); break;
  case PATH_WINO: vt_conv3x3_relu_packed(j->wino, j->in, j->H, j->W, j->out, j->scratch); break;
  case PATH_WINO_POOL:
    vt_conv3x3_relu_pool_packed(j->wino, j->in, j->H, j->W, NULL, j->pooled, 0, j->scratch);
    break;
  }
}

static double median_ms(double *times, int reps) {
  qsort(times, (size_t)reps, sizeof(double), cmp_double);
  return 1e3 * times[reps / 2];
}

static void bench_pairs(int size, int reps, double *times) {
  printf("\nblock (conv, conv, pool)   layer by layer   chained, pool only   chained, all outputs\n");
  for (int blk = 0; blk < 2; blk++) {
    int la = 2 * blk, H = size / layers[la].scale, W = H;
    int cin = layers[la].cin, c1 = layers[la].cout, cout = layers[la + 1].cout;
    size_t nin = (size_t)H * W * cin, n1 = (size_t)H * W * c1, n2 = (size_t)H * W * cout;
    float *in = vt_aligned_alloc(nin * sizeof(float));
    for (size_t i = 0; i < nin; i++) in[i] = frand();
    float *ka = vt_xmalloc((size_t)9 * cin * c1 * sizeof(float)), *kb = vt_xmalloc((size_t)9 * c1 * cout * sizeof(float));
    float *ba = vt_xmalloc((size_t)c1 * sizeof(float)), *bb = vt_xmalloc((size_t)cout * sizeof(float));
    for (size_t i = 0; i < (size_t)9 * cin * c1; i++) ka[i] = sqrtf(6.0f / (9.0f * cin)) * (2 * frand() - 1);
    for (size_t i = 0; i < (size_t)9 * c1 * cout; i++) kb[i] = sqrtf(6.0f / (9.0f * c1)) * (2 * frand() - 1);
    for (int i = 0; i < c1; i++) ba[i] = 0.1f * (2 * frand() - 1);
    for (int i = 0; i < cout; i++) bb[i] = 0.1f * (2 * frand() - 1);
    vt_conv3x3_packed *a = vt_conv3x3_pack(ka, ba, cin, c1, VT_CONV_AUTO);
    vt_conv3x3_packed *b = vt_conv3x3_pack(kb, bb, c1, cout, VT_CONV_AUTO);
    size_t ns = vt_conv3x3_pair_scratch_floats(a, b, H, W), s;
    if ((s = vt_conv3x3_packed_scratch_floats(a, H, W)) > ns) ns = s;
    if ((s = vt_conv3x3_packed_scratch_floats(b, H, W)) > ns) ns = s;
    float *scratch = vt_aligned_alloc(ns * sizeof(float));
    float *o1 = vt_aligned_alloc(n1 * sizeof(float)), *o2 = vt_aligned_alloc(n2 * sizeof(float));
    float *pooled = vt_aligned_alloc((n2 / 4 + 16) * sizeof(float));
    printf("block%d %3dx%-3d %3d->%3d->%3d", blk + 1, H, W, cin, c1, cout);
    for (int mode = 0; mode < 3; mode++) {
      for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
        double t0 = cpu_now();
        if (mode == 0) {
          vt_conv3x3_relu_packed(a, in, H, W, o1, scratch);
          vt_conv3x3_relu_pool_packed(b, o1, H, W, o2, pooled, 0, scratch);
        } else {
          vt_conv3x3_pair_pool_packed(a, b, in, H, W, mode == 2 ? o1 : NULL, mode == 2 ? o2 : NULL,
                                      pooled, 0, scratch);
        }
        if (r >= 0) times[r] = cpu_now() - t0;
      }
      printf("   %8.2f ms       ", median_ms(times, reps));
    }
    printf("\n");
    vt_conv3x3_packed_free(a), vt_conv3x3_packed_free(b);
    free(in), free(ka), free(kb), free(ba), free(bb), free(scratch), free(o1), free(o2), free(pooled);
  }
}

/* One worker of the -p benchmark: its own workspace, reps forwards, the
 * median CPU time per forward into *ms. */
typedef struct {
  const vt_weights *w;
  int size, layer, keep_all, reps, failed;
  double ms;
} prefix_job;

static void *prefix_worker(void *arg) {
  prefix_job *j = arg;
  vt_vgg_workspace ws;
  if (vt_vgg_workspace_init(&ws, j->size, j->size, j->layer) < 0) {
    j->failed = 1;
    return NULL;
  }
  if (!j->keep_all) {
    memset(ws.keep, 0, sizeof ws.keep);
    ws.keep[j->layer] = 1;
  }
  /* Deterministic, caffe-range input; frand's state is not thread-safe. */
  for (size_t i = 0; i < (size_t)j->size * j->size * 3; i++) ws.input[i] = (float)(i * 7919 % 241) - 120;
  double *times = vt_xmalloc((size_t)j->reps * sizeof(double));
  for (int r = -1; r < j->reps; r++) {
    double t0 = cpu_now();
    vt_vgg_forward(j->w, &ws);
    if (r >= 0) times[r] = cpu_now() - t0;
  }
  j->ms = median_ms(times, j->reps);
  free(times);
  vt_vgg_workspace_free(&ws);
  return NULL;
}

static int bench_prefix(const char *path, int size, int reps, int threads) {
  int n_conv = vt_weights_count(path);
  vt_weights w;
  if (n_conv < 1 || vt_weights_load(path, n_conv, &w) < 0) {
    fprintf(stderr, "%s\n", vt_failure_reason());
    return 1;
  }
  printf("forward pass, %dx%d input, %d thread(s) at once, each on its own image; median of %d,\n"
         "ms of CPU time per image (of the first thread)\n", size, size, threads, reps);
  printf("%-13s %10s %10s\n", "up to", "keep all", "keep tap");
  for (int l = 0; l < VT_VGG16_NLAYERS && vt_vgg16_convs_needed(l) <= n_conv; l++) {
    if (vt_vgg16_layers[l].kind != VT_LAYER_POOL) continue;
    printf("%-13s", vt_vgg16_layers[l].name);
    for (int keep_all = 1; keep_all >= 0; keep_all--) {
      prefix_job jobs[8];
      pthread_t th[8];
      for (int t = 0; t < threads; t++) {
        jobs[t] = (prefix_job){&w, size, l, keep_all, reps, 0, 0};
        int err = pthread_create(&th[t], NULL, prefix_worker, &jobs[t]);
        if (err) {
          fprintf(stderr, "bench_conv: cannot start thread %d of %d: %s\n", t + 1, threads, strerror(err));
          exit(1);
        }
      }
      for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
      if (jobs[0].failed) {
        fprintf(stderr, "workspace: %s\n", vt_failure_reason());
        return 1;
      }
      printf(" %10.2f", jobs[0].ms);
    }
    printf("\n");
  }
  vt_weights_free(&w);
  return 0;
}

int main(int argc, char **argv) {
  int size = 224, reps = 7, first = 0, last = 12, threads = 1;
  const char *weights = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-s") && i + 1 < argc) size = atoi(argv[++i]);
    else if (!strcmp(argv[i], "-r") && i + 1 < argc) reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "-p") && i + 1 < argc) weights = argv[++i];
    else if (!strcmp(argv[i], "-t") && i + 1 < argc) threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "-l") && i + 1 < argc) {
      if (sscanf(argv[++i], "%d-%d", &first, &last) == 1) last = first;
    } else {
      fprintf(stderr, "usage: %s [-s SIZE] [-r REPS] [-l FIRST-LAST] | -p WEIGHTS.h5 [-s SIZE] [-r REPS] [-t THREADS]\n", argv[0]);
      return 2;
    }
  }
  if (size < 16 || reps < 1 || first < 0 || last > 12 || first > last || threads < 1 || threads > 8) {
    fprintf(stderr, "bad arguments\n");
    return 2;
  }
  char isa[256];
  vt_cpu_describe(isa, sizeof isa);
  printf("%s\n", isa);
  if (weights) return bench_prefix(weights, size, reps, threads);
  double *times = vt_xmalloc((size_t)reps * sizeof(double));
  printf("input %dx%d, %d reps, median ms (GFLOP/s direct-equivalent), err vs blis\n", size,
         size, reps);
  printf("%-13s %9s", "layer", "GFLOP");
  for (int p = 0; p < NPATHS; p++) printf(" %19s", path_names[p]);
  printf("  err(gemm) err(wino)\n");
  double total[NPATHS] = {0};
  for (int l = first; l <= last; l++) {
    int H = size / layers[l].scale, W = H, cin = layers[l].cin, cout = layers[l].cout;
    size_t nin = (size_t)H * W * cin, nout = (size_t)H * W * cout, nk = (size_t)9 * cin * cout;
    float *in = vt_aligned_alloc(nin * sizeof(float));
    float *k = vt_xmalloc(nk * sizeof(float)), *b = vt_xmalloc((size_t)cout * sizeof(float));
    for (size_t i = 0; i < nin; i++) in[i] = frand();
    float ks = sqrtf(6.0f / (9.0f * cin));
    for (size_t i = 0; i < nk; i++) k[i] = ks * (2 * frand() - 1);
    for (int i = 0; i < cout; i++) b[i] = 0.1f * (2 * frand() - 1);
    job j = {in, k, b, H, W, cin, cout, NULL, NULL, NULL, NULL, NULL};
    j.gemm = vt_conv3x3_pack(k, b, cin, cout, VT_CONV_GEMM);
    j.wino = vt_conv3x3_pack(k, b, cin, cout, VT_CONV_WINOGRAD);
    if (!j.gemm || !j.wino) {
      fprintf(stderr, "pack: %s\n", vt_failure_reason());
      return 1;
    }
    size_t ns = vt_conv3x3_im2col_scratch_floats(W, cin), s;
    if ((s = vt_conv3x3_packed_scratch_floats(j.gemm, H, W)) > ns) ns = s;
    if ((s = vt_conv3x3_packed_scratch_floats(j.wino, H, W)) > ns) ns = s;
    j.scratch = vt_aligned_alloc(ns * sizeof(float));
    j.out = vt_aligned_alloc(nout * sizeof(float));
    j.pooled = vt_aligned_alloc((nout / 4 + 16) * sizeof(float));
    float *ref = vt_xmalloc(nout * sizeof(float));
    double gflop = 2.0 * H * W * 9.0 * cin * cout * 1e-9, err[NPATHS] = {0};
    printf("%-13s %9.3f", layers[l].name, gflop);
    for (int p = 0; p < NPATHS; p++) {
      if (p == PATH_WINO_POOL && !layers[l].pool_after) {
        printf(" %19s", "-");
        continue;
      }
      run(&j, p); /* warm-up: page faults, BLIS init */
      if (p == PATH_BLIS) memcpy(ref, j.out, nout * sizeof(float));
      else if (p != PATH_WINO_POOL) err[p] = rel_diff(j.out, ref, nout);
      for (int r = 0; r < reps; r++) {
        double t0 = cpu_now();
        run(&j, p);
        times[r] = cpu_now() - t0;
      }
      qsort(times, (size_t)reps, sizeof(double), cmp_double);
      double ms = 1e3 * times[reps / 2];
      if (p != PATH_WINO_POOL) total[p] += ms;
      printf(" %8.2f (%6.1f GF)", ms, gflop / ms * 1e3);
    }
    printf("  %9.1e %9.1e\n", err[PATH_GEMM], err[PATH_WINO]);
    fflush(stdout);
    vt_conv3x3_packed_free(j.gemm);
    vt_conv3x3_packed_free(j.wino);
    free(in), free(k), free(b), free(j.scratch), free(j.out), free(j.pooled), free(ref);
  }
  printf("%-13s %9s", "total conv", "");
  for (int p = 0; p < NPATHS - 1; p++) printf(" %8.2f ms          ", total[p]);
  printf("\n");
  if (first == 0) bench_pairs(size, reps, times);
  free(times);
  return 0;
}
