/* bench_prefix_c: images/s of the VGG16 conv prefix alone (vt_vgg_forward),
 * run the way vggtap-extract runs it: T worker threads, one image per thread,
 * each with its own workspace, all sharing one set of weights (BLIS stays
 * single-threaded unless BLIS_NUM_THREADS is set; leave it unset).
 *
 *   bench_prefix_c WEIGHTS.h5 LAYER [-i INPUT.f32] [-s SIZE] [-t THREADS]
 *                  [-n IMAGES] [-r REPEATS] [-w WARMUP] [-a 0|1]
 *
 * INPUT.f32 is one preprocessed network input, raw float32 [SIZE][SIZE][3]
 * (BGR minus the caffe mean), the same bytes the PyTorch side is fed
 * (tests/bench/bench_prefix.py writes it); without -i a fixed pseudo-random
 * input in the caffe range is used. Only LAYER's output is kept, as
 * vggtap-extract keeps only its taps (the forward pass may then skip writing
 * intermediate maps); -a 1 keeps every layer's. Each repeat runs IMAGES forwards per
 * thread between two barriers, after WARMUP untimed forwards per thread.
 * Prints one line per repeat, then
 *   images_per_s <median> threads <T> layer <LAYER> checksum <sum of the output>
 * (the checksum shows every thread computed the same thing). */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "net/vt_vgg.h"
#include "../tools/raw_f32.h"

typedef struct {
  const vt_weights *w;
  const float *input;
  int size, layer, n_images, n_repeats, n_warmup, keep_all;
  pthread_barrier_t *barrier;
  double checksum;
  int failed;
} worker_arg;

/* Every thread builds its own workspace (first touch on its own core, as the
 * pipeline's workers do), then runs warm-up and repeats in lock step with the
 * timing thread through the barrier. */
static void *worker(void *p) {
  worker_arg *a = p;
  vt_vgg_workspace ws;
  a->failed = vt_vgg_workspace_init(&ws, a->size, a->size, a->layer) < 0;
  if (!a->failed) {
    if (!a->keep_all) {
      memset(ws.keep, 0, sizeof ws.keep);
      ws.keep[a->layer] = 1;
    }
    memcpy(ws.input, a->input, (size_t)a->size * a->size * 3 * sizeof(float));
    for (int i = 0; i < a->n_warmup; i++) vt_vgg_forward(a->w, &ws);
  }
  pthread_barrier_wait(a->barrier); /* warm-up done */
  for (int r = 0; r < a->n_repeats; r++) {
    pthread_barrier_wait(a->barrier); /* start */
    for (int i = 0; i < a->n_images && !a->failed; i++) vt_vgg_forward(a->w, &ws);
    pthread_barrier_wait(a->barrier); /* stop */
  }
  if (!a->failed) {
    size_t n = (size_t)ws.oh[a->layer] * ws.ow[a->layer] * ws.oc[a->layer];
    for (size_t i = 0; i < n; i++) a->checksum += ws.out[a->layer][i];
    vt_vgg_workspace_free(&ws);
  }
  return NULL;
}

static int cmp_double(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

static int usage(void) {
  return vt_fail("usage: bench_prefix_c WEIGHTS.h5 LAYER [-i INPUT.f32] [-s SIZE] [-t THREADS] "
                 "[-n IMAGES] [-r REPEATS] [-w WARMUP] [-a 0|1]");
}

static int run(int argc, char **argv) {
  if (argc < 3) return usage();
  const char *weights = argv[1], *input_path = NULL;
  int layer = vt_vgg16_layer_index(argv[2]);
  if (layer < 0) return vt_fail("unknown layer '%s' (block1_conv1 .. block5_pool)", argv[2]);
  int size = 224, threads = vt_cpu_count(), n_images = 10, n_repeats = 5, n_warmup = 1, keep_all = 0;
  for (int i = 3; i < argc; i++) {
    if (i + 1 >= argc || argv[i][0] != '-' || strlen(argv[i]) != 2) return usage();
    const char *v = argv[++i];
    switch (argv[i - 1][1]) {
    case 'i': input_path = v; break;
    case 's': size = atoi(v); break;
    case 't': threads = atoi(v); break;
    case 'n': n_images = atoi(v); break;
    case 'r': n_repeats = atoi(v); break;
    case 'w': n_warmup = atoi(v); break;
    case 'a': keep_all = atoi(v) != 0; break;
    default: return usage();
    }
  }
  if (size < 32 || size > 4096 || threads < 1 || threads > 256 || n_images < 1 || n_repeats < 1 ||
      n_warmup < 0)
    return vt_fail("out-of-range option (SIZE 32..4096, THREADS 1..256, IMAGES, REPEATS >= 1)");

  size_t n_in = (size_t)size * size * 3;
  float *input = vt_xmalloc(n_in * sizeof(float));
  if (input_path) {
    if (read_f32_file(input_path, input, n_in, "[SIZE][SIZE][3]") < 0) return free(input), -1;
  } else {
    uint64_t s = 88172645463325252ull; /* xorshift: values in [-124, 152), like caffe input */
    for (size_t i = 0; i < n_in; i++) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      input[i] = (float)((s >> 40) * (256.0 / (1 << 24))) - 124.0f;
    }
  }
  vt_weights w;
  if (vt_weights_load(weights, vt_vgg16_convs_needed(layer), &w) < 0) {
    free(input);
    return vt_fail_prefix("layer %s", argv[2]);
  }

  pthread_barrier_t barrier;
  pthread_barrier_init(&barrier, NULL, (unsigned)threads + 1);
  worker_arg *args = vt_xcalloc((size_t)threads, sizeof *args);
  pthread_t *th = vt_xmalloc((size_t)threads * sizeof *th);
  for (int t = 0; t < threads; t++) {
    args[t] = (worker_arg){.w = &w, .input = input, .size = size, .layer = layer,
                           .n_images = n_images, .n_repeats = n_repeats, .n_warmup = n_warmup,
                           .keep_all = keep_all, .barrier = &barrier};
    int err = pthread_create(&th[t], NULL, worker, &args[t]);
    if (err) { /* the barrier waits for every thread: no run without them all */
      fprintf(stderr, "bench_prefix_c: cannot start thread %d of %d: %s\n", t + 1, threads, strerror(err));
      exit(1);
    }
  }
  pthread_barrier_wait(&barrier);
  double *rate = vt_xmalloc((size_t)n_repeats * sizeof *rate);
  for (int r = 0; r < n_repeats; r++) {
    pthread_barrier_wait(&barrier);
    double t0 = vt_now();
    pthread_barrier_wait(&barrier);
    double dt = vt_now() - t0;
    rate[r] = (double)threads * n_images / dt;
    printf("repeat %d: %d images in %.3f s: %.2f images/s\n", r, threads * n_images, dt, rate[r]);
  }
  int failed = 0;
  double checksum = 0;
  for (int t = 0; t < threads; t++) {
    pthread_join(th[t], NULL);
    failed |= args[t].failed;
    if (t == 0) checksum = args[t].checksum;
    else if (fabs(args[t].checksum - checksum) > 1e-6 * fabs(checksum)) failed = 1;
  }
  qsort(rate, (size_t)n_repeats, sizeof *rate, cmp_double);
  double median = n_repeats % 2 ? rate[n_repeats / 2]
                                : 0.5 * (rate[n_repeats / 2 - 1] + rate[n_repeats / 2]);
  if (!failed)
    printf("images_per_s %.3f threads %d layer %s checksum %.6e\n", median, threads, argv[2],
           checksum);
  pthread_barrier_destroy(&barrier);
  free(rate);
  free(th);
  free(args);
  free(input);
  vt_weights_free(&w);
  if (failed) return vt_fail("a worker failed (workspace allocation or differing outputs)");
  return 0;
}

int main(int argc, char **argv) {
  if (run(argc, argv) < 0) {
    fprintf(stderr, "bench_prefix_c: %s\n", vt_failure_reason());
    return 1;
  }
  return 0;
}
