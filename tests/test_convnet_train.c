/* Training the conv head (train/vt_convnet_train.h) on synthetic maps:
 *  - a problem only a spatial model can learn (the class is the band of
 *    rows holding a blob; every map has the same blob, so global average
 *    and max pooling see the same thing in every class) is learned to high
 *    validation accuracy, while a softmax on the pooled vectors stays near
 *    chance;
 *  - seeded runs are bitwise identical on 1 and 2 threads, and a different
 *    seed gives different weights;
 *  - stored mirrors that are exactly the flipped maps train the same bits as
 *    flipping in memory;
 *  - early stopping keeps the best epoch's weights and statistics. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/vt_common.h"
#include "base/vt_half.h"
#include "store/vt_h5.h"
#include "vt_convnet_file.h"
#include "vt_convnet_train.h"
#include "vt_head.h"
#include "vt_test.h"
#include "vt_trainer.h"

enum { H = 12, W = 12, C = 4, K = 4, N_TRAIN = 480, N_VAL = 160 };

/* Row band k of 4 holds a 3x3 blob at a random column; channels 0-1 carry
 * the blob, 2-3 are noise; background noise everywhere. */
static void make_maps(float *maps, int *y, int n, uint64_t seed) {
  vt_rng r;
  vt_rng_seed(&r, seed, 0);
  for (int i = 0; i < n; i++) {
    float *m = maps + (size_t)i * H * W * C;
    for (int j = 0; j < H * W * C; j++) m[j] = 0.3f * vt_rng_uniform(&r);
    int k = (int)vt_rng_below(&r, K);
    y[i] = k;
    int y0 = k * (H / K) + (int)vt_rng_below(&r, H / K - 2), x0 = (int)vt_rng_below(&r, W - 2);
    for (int dy = 0; dy < 3; dy++)
      for (int dx = 0; dx < 3; dx++) {
        float *p = m + ((size_t)(y0 + dy) * W + x0 + dx) * C;
        p[0] += 1.0f;
        p[1] += dy == 1 && dx == 1 ? 2.0f : 0.5f;
      }
  }
}

static vt_convnet_config small_config(void) {
  vt_convnet_config cfg;
  if (vt_convnet_config_default(&cfg, H, W, C, K) < 0 || vt_convnet_parse_convs(&cfg, "8,8") < 0)
    printf("config: %s\n", vt_failure_reason());
  cfg.dropout = 0.2f;
  return cfg;
}

static int *iota(int n, int from) {
  int *a = vt_xmalloc((size_t)n * sizeof(int));
  for (int i = 0; i < n; i++) a[i] = from + i;
  return a;
}

/* Trains a fresh net; returns its params + state concatenated (malloc'd). */
static float *train(vt_map_source *src, const vt_rowset *tr, const vt_rowset *va,
                    const vt_convnet_train_config *c, vt_convnet *net, vt_train_result *res) {
  vt_convnet_config cfg = small_config();
  if (vt_convnet_init(net, &cfg) < 0 || vt_convnet_train(net, src, tr, va, c, res) < 0) {
    CHECK(0, "train: %s", vt_failure_reason());
    return NULL;
  }
  float *all = vt_xmalloc((net->n_params + net->n_state) * sizeof(float));
  memcpy(all, net->params, net->n_params * sizeof(float));
  memcpy(all + net->n_params, net->state, net->n_state * sizeof(float));
  return all;
}

static double accuracy(const float *probs, const int *y, int n) {
  double loss, acc;
  vt_loss_accuracy(probs, y, n, K, &loss, &acc);
  return acc;
}

/* vt_convnet_write then vt_convnet_read: the same config, weights and
 * statistics, bitwise; a missing dataset is named. */
static void check_file_roundtrip(const vt_convnet *net) {
  char path[] = "/tmp/vt_convnet_fileXXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  close(fd);
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t g = H5Gcreate2(f, "conv_head", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  CHECK(vt_convnet_write(g, net) == 0, "%s", vt_failure_reason());
  vt_convnet back;
  CHECK(vt_convnet_read(g, &back) == 0, "%s", vt_failure_reason());
  CHECK(back.n_params == net->n_params && back.feat == net->feat &&
            memcmp(back.params, net->params, net->n_params * sizeof(float)) == 0 &&
            memcmp(back.state, net->state, net->n_state * sizeof(float)) == 0 &&
            back.cfg.dropout == net->cfg.dropout && back.cfg.grid == net->cfg.grid,
        "the conv head read back differs");
  vt_convnet_free(&back);
  H5Ldelete(g, "conv/1/bn_running_var", H5P_DEFAULT);
  CHECK(vt_convnet_read(g, &back) < 0 && strstr(vt_failure_reason(), "conv/1/bn_running_var"),
        "a missing dataset: %s", vt_failure_reason());
  H5Gclose(g);
  H5Fclose(f);
  unlink(path);
}

/* The store source's float16 conversion: every one of the 65536 values. */
static void check_halves(void) {
  uint16_t *h = vt_xmalloc(65536 * sizeof(uint16_t));
  float *f = vt_xmalloc(65536 * sizeof(float));
  for (int i = 0; i < 65536; i++) h[i] = (uint16_t)i;
  vt_halves_to_floats(h, 65536, f);
  int bad = 0;
  for (int i = 0; i < 65536; i++) {
    float r = vt_half_to_float(h[i]);
    if (isnan(r) ? !isnan(f[i]) : memcmp(&r, &f[i], sizeof r) != 0) bad++;
  }
  CHECK(bad == 0, "%d of 65536 halves converted otherwise than vt_half_to_float", bad);
  free(h), free(f);
}

int main(void) {
  vt_h5_quiet();
  check_halves();
  int n = N_TRAIN + N_VAL;
  size_t len = (size_t)H * W * C;
  float *maps = vt_xmalloc((size_t)n * len * sizeof(float)),
        *flipped = vt_xmalloc((size_t)n * len * sizeof(float));
  int *y = vt_xmalloc((size_t)n * sizeof(int));
  make_maps(maps, y, n, 11);
  vt_cn_mirror_maps(flipped, maps, n, H, W, C);
  int *tr_rows = iota(N_TRAIN, 0), *va_rows = iota(N_VAL, N_TRAIN);
  vt_rowset tr = {tr_rows, y, N_TRAIN}, va = {va_rows, y + N_TRAIN, N_VAL}, none = {NULL, NULL, 0};
  vt_map_source src, src_m;
  vt_map_source_memory(&src, maps, NULL, n, H, W, C);
  vt_map_source_memory(&src_m, maps, flipped, n, H, W, C);

  /* 1. the spatial problem is learned */
  vt_convnet_train_config c;
  vt_convnet_train_config_default(&c);
  c.t.epochs = 12;
  c.t.seed = 5;
  c.threads = 2;
  c.augment = VT_MIRROR_FLIP;
  c.eval = VT_MIRROR_FLIP;
  vt_convnet net;
  vt_train_result res;
  float *w_flip = train(&src, &tr, &va, &c, &net, &res);
  float *probs = vt_xmalloc((size_t)N_VAL * K * sizeof(float));
  CHECK(vt_convnet_predict_rows(&net, &src, va_rows, N_VAL, VT_MIRROR_NONE, 32, 2, probs) == 0);
  double acc_conv = accuracy(probs, va.y, N_VAL);
  printf("conv head: validation accuracy %.3f after %d epochs (last logged %.3f, %.1f s)\n",
         acc_conv, res.n_epochs, res.epochs[res.n_epochs - 1].val_acc, res.seconds);
  CHECK(acc_conv >= 0.9, "the conv head did not learn the spatial problem: %.3f", acc_conv);
  CHECK(res.n_epochs == 12 && res.best_epoch == 12, "no early stopping: all epochs, the last kept");
  free(res.epochs);
  vt_convnet_free(&net);

  /* ... which pooled vectors cannot: softmax on global average + max */
  float *pooled = vt_xmalloc((size_t)n * 2 * C * sizeof(float));
  for (int i = 0; i < n; i++)
    for (int ch = 0; ch < C; ch++) {
      double s = 0;
      float mx = -1e30f;
      for (int p = 0; p < H * W; p++) {
        float v = maps[(size_t)i * len + (size_t)p * C + ch];
        s += v;
        mx = v > mx ? v : mx;
      }
      pooled[(size_t)i * 2 * C + ch] = (float)(s / (H * W));
      pooled[(size_t)i * 2 * C + C + ch] = mx;
    }
  vt_head h;
  CHECK(vt_head_init(&h, 2 * C, 0, NULL, K) == 0);
  vt_train_config tc;
  vt_train_config_default(&tc);
  tc.epochs = 100;
  vt_xy xtr = {pooled, y, N_TRAIN, NULL}, xva = {pooled + (size_t)N_TRAIN * 2 * C, y + N_TRAIN, N_VAL, NULL};
  vt_train_result hres;
  CHECK(vt_train(&h, &xtr, &xva, &tc, &hres) == 0, "%s", vt_failure_reason());
  vt_head_work hw;
  CHECK(vt_head_work_init(&hw, &h, N_VAL) == 0);
  vt_head_predict(&h, &hw, xva.x, N_VAL, probs);
  double acc_pooled = accuracy(probs, va.y, N_VAL);
  printf("softmax on global avg + max pooled vectors: validation accuracy %.3f\n", acc_pooled);
  CHECK(acc_pooled < 0.45, "the pooled vectors should not see the band: %.3f", acc_pooled);
  vt_head_work_free(&hw);
  vt_head_free(&h);
  free(hres.epochs);

  /* 2. bitwise the same on 1 and 2 threads; another seed differs */
  c.t.epochs = 2;
  float *w2 = train(&src, &tr, &va, &c, &net, &res);
  size_t total = net.n_params + net.n_state;
  free(res.epochs);
  vt_convnet_free(&net);
  c.threads = 1;
  float *w1 = train(&src, &tr, &va, &c, &net, &res);
  free(res.epochs);
  vt_convnet_free(&net);
  CHECK(w1 && w2 && memcmp(w1, w2, total * sizeof(float)) == 0,
        "1 and 2 threads give different weights");
  c.t.seed = 6;
  float *w_other = train(&src, &tr, &va, &c, &net, &res);
  free(res.epochs);
  vt_convnet_free(&net);
  CHECK(w_other && memcmp(w1, w_other, total * sizeof(float)) != 0, "seed 6 = seed 5?");

  /* 3. stored mirrors equal to the flipped maps: the same bits as flipping */
  c.t.seed = 5;
  c.augment = c.eval = VT_MIRROR_STORED;
  c.threads = 2;
  float *w_stored = train(&src_m, &tr, &va, &c, &net, &res);
  free(res.epochs);
  vt_convnet_free(&net);
  CHECK(w_stored && memcmp(w1, w_stored, total * sizeof(float)) == 0,
        "stored mirrors = flipped maps should train the same head as flipping");
  vt_convnet_config cfg = small_config();
  CHECK(vt_convnet_init(&net, &cfg) == 0);
  CHECK(vt_convnet_train(&net, &src, &tr, &va, &c, &res) < 0, "'stored' without mirrors");
  printf("stored mirrors without any: %s\n", vt_failure_reason());
  vt_convnet_free(&net);

  /* 4. early stopping: the weights kept are the best epoch's */
  c.augment = c.eval = VT_MIRROR_NONE;
  c.t.epochs = 30;
  c.t.patience = 3;
  c.t.lr = 3e-3f;
  float *w_es = train(&src, &tr, &va, &c, &net, &res);
  double best = INFINITY;
  for (int e = 0; e < res.n_epochs; e++) best = fmin(best, res.epochs[e].val_loss);
  printf("early stopping: %d epochs run, best %d (val loss %.4f)\n", res.n_epochs, res.best_epoch,
         best);
  CHECK(res.best_epoch >= 1 && res.epochs[res.best_epoch - 1].val_loss == best,
        "best epoch %d is not the lowest validation loss", res.best_epoch);
  CHECK(res.n_epochs == 30 || res.n_epochs == res.best_epoch + 3, "stopped %d epochs after best",
        res.n_epochs - res.best_epoch);
  CHECK(vt_convnet_predict_rows(&net, &src, va_rows, N_VAL, VT_MIRROR_NONE, 64, 1, probs) == 0);
  double vl, vacc;
  vt_loss_accuracy(probs, va.y, N_VAL, K, &vl, &vacc);
  CHECK(vl == best, "the kept weights give validation loss %.9g, the best epoch logged %.9g", vl,
        best);
  check_file_roundtrip(&net);
  free(res.epochs);
  vt_convnet_free(&net);

  /* no validation rows: trains, keeps the last epoch */
  c.t.epochs = 1;
  float *w_noval = train(&src, &tr, &none, &c, &net, &res);
  CHECK(w_noval && res.n_epochs == 1 && isnan(res.epochs[0].val_loss), "training without validation");
  free(res.epochs);
  vt_convnet_free(&net);

  vt_map_source_close(&src);
  vt_map_source_close(&src_m);
  free(maps), free(flipped), free(y), free(tr_rows), free(va_rows), free(probs), free(pooled);
  free(w_flip), free(w1), free(w2), free(w_other), free(w_stored), free(w_es), free(w_noval);
  printf("%s\n", failures ? "FAILED" : "ok");
  return failures != 0;
}
