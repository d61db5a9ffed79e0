/* vt_forward_dump: runs the VGG16 prefix on one preprocessed input and writes
 * one layer's output, so that other implementations (tests/test_vgg_torch.py)
 * can be compared with ours.
 *
 *   vt_forward_dump WEIGHTS.h5 INPUT.f32 H W LAYER OUT.f32 [--naive]
 *
 * INPUT.f32 is raw float32 [H][W][3] (BGR, mean subtracted); OUT.f32 gets the
 * raw float32 [h][w][c] output of LAYER (e.g. block2_pool), and "h w c" is
 * printed on stdout. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "net/vt_vgg.h"
#include "raw_f32.h"

static int write_output(const char *path, const float *src, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return vt_fail("%s: cannot create: %s", path, strerror(errno));
  size_t put = fwrite(src, sizeof(float), n, f);
  if (fclose(f) != 0 || put != n) return vt_fail("%s: write failed", path);
  return 0;
}

static int run(int argc, char **argv) {
  if (argc < 7 || argc > 8 || (argc == 8 && strcmp(argv[7], "--naive") != 0))
    return vt_fail("usage: vt_forward_dump WEIGHTS.h5 INPUT.f32 H W LAYER OUT.f32 [--naive]");
  int H = atoi(argv[3]), W = atoi(argv[4]), layer = vt_vgg16_layer_index(argv[5]);
  if (layer < 0) return vt_fail("unknown layer '%s' (block1_conv1 .. block5_pool)", argv[5]);
  vt_weights w;
  vt_vgg_workspace ws;
  if (vt_vgg_workspace_init(&ws, H, W, layer) < 0) return -1;
  int rc = vt_weights_load(argv[1], vt_vgg16_convs_needed(layer), &w);
  if (rc < 0) vt_fail_prefix("tap %s", argv[5]);
  if (rc == 0) rc = read_f32_file(argv[2], ws.input, (size_t)H * W * 3, "[H][W][3]");
  if (rc == 0) {
    if (argc == 8) vt_vgg_forward_naive(&w, &ws);
    else vt_vgg_forward(&w, &ws);
    rc = write_output(argv[6], ws.out[layer], (size_t)ws.oh[layer] * ws.ow[layer] * ws.oc[layer]);
  }
  if (rc == 0) printf("%d %d %d\n", ws.oh[layer], ws.ow[layer], ws.oc[layer]);
  vt_weights_free(&w);
  vt_vgg_workspace_free(&ws);
  return rc;
}

int main(int argc, char **argv) {
  if (run(argc, argv) < 0) {
    fprintf(stderr, "vt_forward_dump: %s\n", vt_failure_reason());
    return 1;
  }
  return 0;
}
