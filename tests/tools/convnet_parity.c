/* convnet_parity: what tests/test_convnet_torch.py compares with PyTorch.
 * Builds a conv head from a seed for the maps of TAP in STORE.h5, takes one
 * AdamW step on the store's first BATCH rows, and writes to OUT.h5:
 *
 *   /init/...    the initial net (vt_convnet_write: kernels HWIO, running stats)
 *   /mask        [BATCH][feat] the dropout multipliers the step used
 *   /loss        [1] the step's loss (training mode: batch statistics)
 *   /grad/...    its gradient, laid out as a net
 *   /step/...    the net after the AdamW step (running statistics updated)
 *   /logits      [N][classes] the stepped net's logits on every row, in
 *                evaluation mode (running statistics, no dropout)
 *
 *   convnet_parity STORE.h5 TAP OUT.h5 [--convs 64,64] [--pool 0|1] [--grid G]
 *       [--bias] [--dropout P] [--seed S] [--batch B] [--threads T] [--lr LR]
 *       [--wd WD] [--smoothing S] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "store/vt_h5.h"
#include "store/vt_store_read.h"
#include "vt_convnet_file.h"
#include "vt_convnet_train.h"
#include "vt_optim.h"

static int write_floats(hid_t f, const char *name, const float *x, int rows, int cols) {
  hsize_t dims[2] = {(hsize_t)rows, (hsize_t)cols};
  hid_t sp = H5Screate_simple(2, dims, NULL);
  hid_t d = H5Dcreate2(f, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  int rc = d < 0 || H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) < 0
               ? vt_fail("cannot write %s", name)
               : 0;
  if (d >= 0) H5Dclose(d);
  H5Sclose(sp);
  return rc;
}

static int write_net(hid_t f, const char *group, const vt_convnet *net) {
  hid_t g = H5Gcreate2(f, group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0) return vt_fail("cannot create group %s", group);
  int rc = vt_convnet_write(g, net);
  H5Gclose(g);
  return rc;
}

static int run(int argc, char **argv) {
  if (argc < 4) return vt_fail("usage: convnet_parity STORE.h5 TAP OUT.h5 [options] (see the source)");
  const char *convs = "64,64";
  int pool = -1, grid = 0, bias = 0, batch = 16, threads = 1;
  float dropout = 0.5f, lr = 1e-3f, wd = 1e-2f, smoothing = 0.1f;
  unsigned long long seed = 1;
  for (int i = 4; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--bias") == 0) { bias = 1; continue; }
    if (!v) return vt_fail("%s needs a value", a);
    i++;
    if (strcmp(a, "--convs") == 0) convs = v;
    else if (strcmp(a, "--pool") == 0) pool = atoi(v);
    else if (strcmp(a, "--grid") == 0) grid = atoi(v);
    else if (strcmp(a, "--dropout") == 0) dropout = strtof(v, NULL);
    else if (strcmp(a, "--seed") == 0) seed = strtoull(v, NULL, 10);
    else if (strcmp(a, "--batch") == 0) batch = atoi(v);
    else if (strcmp(a, "--threads") == 0) threads = atoi(v);
    else if (strcmp(a, "--lr") == 0) lr = strtof(v, NULL);
    else if (strcmp(a, "--wd") == 0) wd = strtof(v, NULL);
    else if (strcmp(a, "--smoothing") == 0) smoothing = strtof(v, NULL);
    else return vt_fail("unknown option %s", a);
  }
  vt_h5_quiet();
  vt_map_source src;
  int cached;
  if (vt_map_source_store(&src, argv[1], argv[2], 0, (size_t)1 << 30, &cached) < 0) return -1;
  vt_store st;
  if (vt_store_open(argv[1], &st) < 0) return -1;
  int n = src.n_rows, K = st.n_classes;
  int *y = vt_xmalloc((size_t)n * sizeof(int)), *rows = vt_xmalloc((size_t)n * sizeof(int));
  for (int i = 0; i < n; i++) y[i] = st.labels[i], rows[i] = i;
  vt_store_close(&st);
  if (batch > n) batch = n;

  vt_convnet_config cfg;
  vt_convnet net;
  if (vt_convnet_config_default(&cfg, src.h, src.w, src.c, K) < 0 ||
      vt_convnet_parse_convs(&cfg, convs) < 0)
    return -1;
  if (pool >= 0) cfg.in_pool = pool;
  if (grid > 0) cfg.grid = grid;
  cfg.conv_bias = bias;
  cfg.dropout = dropout;
  if (vt_convnet_init(&net, &cfg) < 0) return -1;
  vt_rng r;
  vt_rng_seed(&r, seed, 1);
  vt_convnet_init_weights(&net, &r);

  size_t len = (size_t)src.h * src.w * src.c;
  float *x = vt_xmalloc((size_t)n * len * sizeof(float));
  float *mask = vt_xmalloc((size_t)batch * net.feat * sizeof(float));
  float *logits = vt_xmalloc((size_t)n * K * sizeof(float));
  if (src.read(&src, rows, NULL, n, x) < 0) return -1;
  for (size_t i = 0; i < (size_t)batch * net.feat; i++)
    mask[i] = vt_rng_uniform(&r) < dropout ? 0.0f : 1.0f / (1.0f - dropout);

  hid_t f = H5Fcreate(argv[3], H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) return vt_fail("cannot create %s", argv[3]);
  int rc = write_net(f, "init", &net);

  vt_team *team = vt_team_start(threads);
  vt_convnet_work w;
  if (rc == 0) rc = vt_convnet_work_init(&w, &net, n > batch ? n : batch, team);
  if (rc == 0) {
    vt_convnet_loss lc = {smoothing, NULL};
    float loss = (float)vt_convnet_train_step(&net, &w, x, y, batch, mask, &lc, NULL);
    vt_convnet grad = net; /* the same shapes, the gradient as its parameters */
    grad.params = w.grad;
    vt_convnet_carve(&net, w.grad, &grad.p);
    rc = write_floats(f, "mask", mask, batch, net.feat);
    if (rc == 0) rc = write_floats(f, "loss", &loss, 1, 1);
    if (rc == 0) rc = write_net(f, "grad", &grad);
    vt_optim_config oc = {VT_OPT_ADAM, 0.9f, 0.999f, 1e-8f, 0.0f, wd};
    vt_optimizer opt;
    vt_optim_init(&opt, &oc, net.n_params);
    uint8_t *decay = vt_xmalloc(net.n_params);
    memset(decay, 1, net.n_params);
    vt_optim_step(&opt, net.params, w.grad, decay, lr);
    free(decay);
    vt_optim_free(&opt);
    if (rc == 0) rc = write_net(f, "step", &net);
    vt_convnet_logits(&net, &w, x, n, logits);
    if (rc == 0) rc = write_floats(f, "logits", logits, n, K);
    vt_convnet_work_free(&w);
  }
  vt_team_stop(team);
  if (H5Fclose(f) < 0 && rc == 0) rc = vt_fail("cannot finish %s", argv[3]);
  printf("%zu parameters, feat %d, %d rows, batch %d\n", net.n_params, net.feat, n, batch);
  vt_convnet_free(&net);
  vt_map_source_close(&src);
  free(x), free(mask), free(logits), free(y), free(rows);
  return rc;
}

int main(int argc, char **argv) {
  vt_h5_no_close_at_exit();
  if (run(argc, argv) < 0) {
    fprintf(stderr, "convnet_parity: %s\n", vt_failure_reason());
    return 1;
  }
  return 0;
}
