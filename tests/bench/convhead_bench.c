/* convhead_bench: trains the conv head on every ok row of a store's maps
 * and prints one line "seconds_per_epoch S epochs E rows N cached C
 * peak_rss_mb M": what bench_convhead.py compares with PyTorch. With
 * --val F, the last F of the rows (in store order) validate instead; with
 * --split, the rows whose split is not "train" do; the line then adds the
 * validation accuracy and loss of the weights kept.
 *
 *   convhead_bench STORE.h5 TAP [--epochs 3] [--threads 2] [--batch 32]
 *       [--convs 64,64] [--augment none|flip|stored --mirror STORE.h5]
 *       [--eval none|flip|stored] [--cache-mb 4096] [--seed 1] [--val F]
 *       [--patience P] [--split] [--lr LR] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "base/vt_common.h"
#include "store/vt_h5.h"
#include "store/vt_store_read.h"
#include "store/vt_store_schema.h"
#include "vt_convnet_train.h"

static int run(int argc, char **argv) {
  if (argc < 3) return vt_fail("usage: convhead_bench STORE.h5 TAP [options] (see the source)");
  const char *convs = "64,64";
  int epochs = 3, threads = 2, batch = 32, patience = 0, by_split = 0;
  float lr = 1e-3f;
  double cache_mb = 4096, val_frac = 0;
  unsigned long long seed = 1;
  vt_mirror_mode augment = VT_MIRROR_NONE, eval = VT_MIRROR_NONE;
  for (int i = 3; i < argc; i++) {
    if (strcmp(argv[i], "--split") == 0) {
      by_split = 1;
      continue;
    }
    const char *a = argv[i], *v = i + 1 < argc ? argv[++i] : NULL;
    if (!v) return vt_fail("%s needs a value", a);
    if (strcmp(a, "--epochs") == 0) epochs = atoi(v);
    else if (strcmp(a, "--threads") == 0) threads = atoi(v);
    else if (strcmp(a, "--batch") == 0) batch = atoi(v);
    else if (strcmp(a, "--convs") == 0) convs = v;
    else if (strcmp(a, "--cache-mb") == 0) cache_mb = atof(v);
    else if (strcmp(a, "--seed") == 0) seed = strtoull(v, NULL, 10);
    else if (strcmp(a, "--val") == 0) val_frac = atof(v);
    else if (strcmp(a, "--patience") == 0) patience = atoi(v);
    else if (strcmp(a, "--lr") == 0) lr = strtof(v, NULL);
    else if (strcmp(a, "--augment") == 0 && vt_mirror_mode_parse(v, &augment) == 0) continue;
    else if (strcmp(a, "--eval") == 0 && vt_mirror_mode_parse(v, &eval) == 0) continue;
    else return vt_fail("bad option %s %s", a, v);
  }
  vt_h5_quiet();
  vt_map_source src;
  int cached;
  double t_load = vt_now();
  int want_mirror = augment == VT_MIRROR_STORED || eval == VT_MIRROR_STORED;
  if (vt_map_source_store(&src, argv[1], argv[2], want_mirror, (size_t)(cache_mb * 1048576.0),
                          &cached) < 0)
    return -1;
  t_load = vt_now() - t_load;
  vt_store st;
  if (vt_store_open(argv[1], &st) < 0) return -1;
  int *rows = vt_xmalloc((size_t)st.n_rows * sizeof(int)), *y = vt_xmalloc((size_t)st.n_rows * sizeof(int));
  int n = 0;
  /* training rows first, then the validation rows */
  for (int pass = 0; pass < (by_split ? 2 : 1); pass++)
    for (int i = 0; i < st.n_rows; i++) {
      int is_train = strcmp(st.splits[i], "train") == 0;
      if (st.status[i] == VT_ROW_OK && st.labels[i] >= 0 && (!by_split || is_train == (pass == 0)))
        rows[n] = i, y[n++] = st.labels[i];
    }
  int n_val = (int)(val_frac * n);
  if (by_split)
    for (int i = n_val = 0; i < n; i++) n_val += strcmp(st.splits[rows[i]], "train") != 0;
  vt_rowset tr = {rows, y, n - n_val}, va = {rows + n - n_val, y + n - n_val, n_val};
  vt_convnet_config cfg;
  vt_convnet net;
  if (vt_convnet_config_default(&cfg, src.h, src.w, src.c, st.n_classes) < 0 ||
      vt_convnet_parse_convs(&cfg, convs) < 0 || vt_convnet_init(&net, &cfg) < 0)
    return -1;
  vt_store_close(&st);
  vt_convnet_train_config c;
  vt_convnet_train_config_default(&c);
  c.t.epochs = epochs;
  c.t.batch_size = batch;
  c.t.seed = seed;
  c.t.patience = patience;
  c.t.lr = lr;
  c.t.verbose = getenv("VERBOSE") != NULL;
  c.threads = threads;
  c.augment = augment;
  c.eval = eval;
  vt_train_result res;
  int rc = vt_convnet_train(&net, &src, &tr, &va, &c, &res);
  if (rc == 0) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("seconds_per_epoch %.4f epochs %d rows %d cached %d load_seconds %.2f peak_rss_mb %.1f "
           "params %zu", res.seconds / res.n_epochs, res.n_epochs, tr.n, cached, t_load,
           ru.ru_maxrss / 1024.0, net.n_params);
    if (n_val)
      printf(" val_acc %.4f val_loss %.4f best_epoch %d", res.epochs[res.best_epoch - 1].val_acc,
             res.epochs[res.best_epoch - 1].val_loss, res.best_epoch);
    printf("\n");
    free(res.epochs);
  }
  vt_convnet_free(&net);
  vt_map_source_close(&src);
  free(rows), free(y);
  return rc;
}

int main(int argc, char **argv) {
  vt_h5_no_close_at_exit();
  if (run(argc, argv) < 0) {
    fprintf(stderr, "convhead_bench: %s\n", vt_failure_reason());
    return 1;
  }
  return 0;
}
