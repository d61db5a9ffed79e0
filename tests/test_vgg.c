/* The VGG16 prefix: layer table and shapes, workspace layout, and the fast
 * forward pass against the naive one through all 18 layers on a small odd
 * input with seeded random He-scaled weights. Each layer of the fast pass is
 * also spot-checked against a direct computation from the previous layer's
 * output, so the wiring (which input, which weights) is tested on its own. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/vt_common.h"
#include "net/vt_vgg.h"

#include "vt_test.h"


static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static double uniform(void) { /* splitmix64 -> [0, 1) */
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return (double)((z ^ (z >> 31)) >> 11) * 0x1p-53;
}

static float normal(void) { return (float)(sqrt(-2.0 * log(1.0 - uniform())) * cos(6.283185307179586 * uniform())); }

/* He-normal kernels keep ReLU activations at a similar scale through 13
 * layers; small positive biases keep a fair share of units alive. */
static void random_weights(vt_weights *w) {
  memset(w, 0, sizeof *w);
  for (int l = 0; l < VT_VGG16_NLAYERS; l++) {
    const vt_layer_def *d = &vt_vgg16_layers[l];
    if (d->kind != VT_LAYER_CONV) continue;
    vt_conv_weights *c = &w->conv[d->conv_index];
    size_t n = (size_t)9 * d->cin * d->cout;
    c->cin = d->cin, c->cout = d->cout;
    c->kernel = vt_xmalloc(n * sizeof(float));
    c->bias = vt_xmalloc((size_t)d->cout * sizeof(float));
    float std = sqrtf(2.0f / (9.0f * (float)d->cin));
    for (size_t i = 0; i < n; i++) c->kernel[i] = std * normal();
    for (int o = 0; o < d->cout; o++) c->bias[o] = 0.1f * (float)uniform();
    w->n_conv = d->conv_index + 1;
  }
  if (vt_weights_pack(w) < 0) {
    printf("pack: %s\n", vt_failure_reason());
    exit(1);
  }
}

static void test_table(void) {
  int prev_c = 3, next_conv = 0;
  for (int l = 0; l < VT_VGG16_NLAYERS; l++) {
    const vt_layer_def *d = &vt_vgg16_layers[l];
    CHECK(d->cin == prev_c, "%s takes %d channels, the layer before gives %d", d->name, d->cin, prev_c);
    if (d->kind == VT_LAYER_CONV) CHECK(d->conv_index == next_conv++, "%s conv_index", d->name);
    else CHECK(d->conv_index == -1 && d->cout == d->cin, "%s is a pool", d->name);
    CHECK(vt_vgg16_layer_index(d->name) == l, "index of %s", d->name);
    CHECK(vt_vgg16_convs_needed(l) == next_conv, "convs needed for %s", d->name);
    prev_c = d->cout;
  }
  CHECK(next_conv == VT_VGG16_NCONV && prev_c == 512, "13 convs ending at 512 channels");
  CHECK(vt_vgg16_layer_index("block3_pool") == 9 && vt_vgg16_layer_index("block5_conv3") == 16,
        "indices of block3_pool, block5_conv3");
  CHECK(vt_vgg16_layer_index("block6_pool") == -1 && vt_vgg16_layer_index("") == -1 &&
            vt_vgg16_layer_index("block1_pool ") == -1, "unknown names");
  CHECK(vt_vgg16_convs_needed(vt_vgg16_layer_index("block2_pool")) == 4 &&
            vt_vgg16_convs_needed(vt_vgg16_layer_index("block3_conv1")) == 5,
        "convs needed for block2_pool / block3_conv1");
}

static void expect_shape(int layer, int H, int W, int eh, int ew, int ec) {
  int h = -1, w = -1, c = -1;
  int rc = vt_vgg16_layer_shape(layer, H, W, &h, &w, &c);
  CHECK(rc == 0 && h == eh && w == ew && c == ec, "%s on %dx%d: got %dx%dx%d (%s), want %dx%dx%d",
        vt_vgg16_layers[layer].name, H, W, h, w, c, rc < 0 ? vt_failure_reason() : "ok", eh, ew, ec);
}

static void expect_shape_failure(int layer, int H, int W, const char *fragment) {
  int h, w, c;
  int rc = vt_vgg16_layer_shape(layer, H, W, &h, &w, &c);
  printf("shape(%d, %dx%d) -> %d %s\n", layer, H, W, rc, rc < 0 ? vt_failure_reason() : "");
  CHECK(rc == -1 && strstr(vt_failure_reason(), fragment), "layer %d on %dx%d should fail naming \"%s\"",
        layer, H, W, fragment);
}

static void test_shapes(void) {
  /* Keras VGG16(include_top=False, input_shape=(224, 224, 3)).summary(). */
  const int side224[VT_VGG16_NLAYERS] = {224, 224, 112, 112, 112, 56, 56, 56, 56,
                                         28,  28,  28,  28,  14,  14, 14, 14, 7};
  for (int l = 0; l < VT_VGG16_NLAYERS; l++) expect_shape(l, 224, 224, side224[l], side224[l], vt_vgg16_layers[l].cout);
  /* Odd sizes: each pool floors. */
  const int h37[5] = {18, 9, 4, 2, 1}, w45[5] = {22, 11, 5, 2, 1};
  const char *pools[5] = {"block1_pool", "block2_pool", "block3_pool", "block4_pool", "block5_pool"};
  const int channels[5] = {64, 128, 256, 512, 512};
  for (int p = 0; p < 5; p++) expect_shape(vt_vgg16_layer_index(pools[p]), 37, 45, h37[p], w45[p], channels[p]);
  expect_shape(vt_vgg16_layer_index("block4_conv3"), 37, 45, 4, 5, 512);
  expect_shape(vt_vgg16_layer_index("block5_pool"), 32, 32, 1, 1, 512);
  expect_shape(vt_vgg16_layer_index("block4_pool"), 16, 16, 1, 1, 512);
  expect_shape(vt_vgg16_layer_index("block5_conv3"), 16, 16, 1, 1, 512);
  expect_shape(vt_vgg16_layer_index("block1_conv1"), 1, 1, 1, 1, 64);
  /* Maps that would vanish. */
  expect_shape_failure(vt_vgg16_layer_index("block5_pool"), 16, 16, "block5_pool");
  expect_shape_failure(vt_vgg16_layer_index("block5_pool"), 31, 640, "at least 32x32");
  expect_shape_failure(vt_vgg16_layer_index("block2_pool"), 3, 100, "block2_pool");
  expect_shape_failure(vt_vgg16_layer_index("block1_pool"), 1, 1, "block1_pool");
  expect_shape_failure(0, 0, 10, "empty");
  expect_shape_failure(-1, 10, 10, "out of range");
  expect_shape_failure(VT_VGG16_NLAYERS, 10, 10, "out of range");
}

static void test_workspace_layout(void) {
  vt_vgg_workspace ws;
  int last = vt_vgg16_layer_index("block5_pool");
  CHECK(vt_vgg_workspace_init(&ws, 16, 16, last) == -1 && strstr(vt_failure_reason(), "block5_pool"),
        "a 16x16 input cannot reach block5_pool: %s", vt_failure_reason());
  CHECK(vt_vgg_workspace_init(&ws, 224, 224, VT_VGG16_NLAYERS) == -1, "layer 18 does not exist");
  CHECK(vt_vgg_workspace_init(&ws, 1 << 20, 1 << 20, 0) == -1, "a 2^20 x 2^20 input is refused: %s",
        vt_failure_reason());
  int tap = vt_vgg16_layer_index("block3_conv1");
  CHECK(vt_vgg_workspace_init(&ws, 37, 45, tap) == 0, "workspace: %s", vt_failure_reason());
  const char *end = (const char *)ws.input + sizeof(float) * 37 * 45 * 3;
  for (int l = 0; l < VT_VGG16_NLAYERS; l++) {
    if (l > tap) {
      CHECK(ws.out[l] == NULL, "out[%d] past the last layer is NULL", l);
      continue;
    }
    CHECK(((uintptr_t)ws.out[l] & 63) == 0, "out[%d] is 64-byte aligned", l);
    CHECK((const char *)ws.out[l] >= end, "out[%d] does not overlap the tensor before it", l);
    end = (const char *)ws.out[l] + sizeof(float) * (size_t)ws.oh[l] * ws.ow[l] * ws.oc[l];
  }
  CHECK(((uintptr_t)ws.scratch & 63) == 0 && (const char *)ws.scratch >= end, "scratch after the tensors");
  vt_vgg_workspace_free(&ws);
}

static float max_abs(const float *x, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; i++) m = fmaxf(m, fabsf(x[i]));
  return m;
}

/* Layer l's output at (y, x, c) computed here, in double, from the previous
 * layer's output in ws. */
static double direct(const vt_weights *w, const vt_vgg_workspace *ws, int l, int y, int x, int c) {
  const vt_layer_def *d = &vt_vgg16_layers[l];
  const float *in = l == 0 ? ws->input : ws->out[l - 1];
  int H = l == 0 ? ws->H : ws->oh[l - 1], W = l == 0 ? ws->W : ws->ow[l - 1], C = d->cin;
  if (d->kind == VT_LAYER_POOL) {
    double m = -INFINITY;
    for (int dy = 0; dy < 2; dy++)
      for (int dx = 0; dx < 2; dx++) m = fmax(m, in[((size_t)(2 * y + dy) * W + 2 * x + dx) * C + c]);
    return m;
  }
  const vt_conv_weights *k = &w->conv[d->conv_index];
  double s = k->bias[c];
  for (int dy = 0; dy < 3; dy++)
    for (int dx = 0; dx < 3; dx++) {
      int yy = y + dy - 1, xx = x + dx - 1;
      if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
      for (int i = 0; i < C; i++)
        s += (double)k->kernel[((dy * 3 + dx) * C + i) * d->cout + c] * in[((size_t)yy * W + xx) * C + i];
    }
  return s > 0 ? s : 0;
}

static void test_forward(int H, int W) {
  vt_weights w;
  random_weights(&w);
  int last = VT_VGG16_NLAYERS - 1;
  vt_vgg_workspace fast, naive;
  if (vt_vgg_workspace_init(&fast, H, W, last) < 0 || vt_vgg_workspace_init(&naive, H, W, last) < 0) {
    CHECK(0, "workspace %dx%d: %s", H, W, vt_failure_reason());
    return;
  }
  /* Roughly the range of caffe-preprocessed pixels. */
  for (size_t i = 0; i < (size_t)H * W * 3; i++) fast.input[i] = naive.input[i] = 120.0f * (float)(uniform() - 0.5);
  vt_vgg_forward(&w, &fast);
  vt_vgg_forward_naive(&w, &naive);
  printf("forward %dx%d, fast vs naive, max|diff| / max|naive| per layer:\n", H, W);
  for (int l = 0; l <= last; l++) {
    size_t n = (size_t)fast.oh[l] * fast.ow[l] * fast.oc[l];
    float scale = max_abs(naive.out[l], n), diff = 0;
    size_t nonzero = 0;
    for (size_t i = 0; i < n; i++) diff = fmaxf(diff, fabsf(fast.out[l][i] - naive.out[l][i])), nonzero += naive.out[l][i] > 0;
    double rel = scale > 0 ? diff / scale : INFINITY;
    /* Spot checks of the wiring at a few positions, on the fast pass. */
    double worst = 0;
    for (int s = 0; s < 16; s++) {
      int y = (int)(uniform() * fast.oh[l]), x = (int)(uniform() * fast.ow[l]), c = (int)(uniform() * fast.oc[l]);
      double want = direct(&w, &fast, l, y, x, c);
      float got = fast.out[l][((size_t)y * fast.ow[l] + x) * fast.oc[l] + c];
      worst = fmax(worst, fabs(got - want) / scale);
    }
    printf("  %-13s %3dx%-3dx%-3d  max %9.4g  active %5.1f%%  fast/naive %.2e  direct %.2e\n",
           vt_vgg16_layers[l].name, fast.oh[l], fast.ow[l], fast.oc[l], scale, 100.0 * nonzero / n, rel, worst);
    /* A layer that is all zero would make the comparison empty. */
    CHECK(scale > 1e-3f && nonzero * 20 > n, "%s output should be alive", vt_vgg16_layers[l].name);
    CHECK(rel <= 1e-4, "%s: fast vs naive %.3g", vt_vgg16_layers[l].name, rel);
    CHECK(worst <= 1e-4, "%s: fast vs direct %.3g", vt_vgg16_layers[l].name, worst);
  }
  /* A shallower workspace stops at its last layer and gives the same values. */
  vt_vgg_workspace part;
  int tap = vt_vgg16_layer_index("block2_conv2");
  CHECK(vt_vgg_workspace_init(&part, H, W, tap) == 0, "partial workspace");
  memcpy(part.input, fast.input, sizeof(float) * (size_t)H * W * 3);
  vt_vgg_forward(&w, &part);
  size_t n = (size_t)part.oh[tap] * part.ow[tap] * part.oc[tap];
  CHECK(memcmp(part.out[tap], fast.out[tap], n * sizeof(float)) == 0, "block2_conv2 from a partial pass");
  vt_vgg_workspace_free(&part);
  vt_vgg_workspace_free(&fast);
  vt_vgg_workspace_free(&naive);
  vt_weights_free(&w);
}

int main(void) {
  test_table();
  test_shapes();
  test_workspace_layout();
  test_forward(37, 45);
  printf("%s\n", failures ? "FAILED" : "all passed");
  return failures ? 1 : 0;
}
