/* vt_preprocess.c: 8-bit RGB -> the float input a given set of weights expects.
 *
 *   caffe  Keras applications.vgg16.preprocess_input: RGB -> BGR, minus the
 *          ImageNet channel means [103.939, 116.779, 123.68] (BGR), no scaling.
 *   torch  torchvision ToTensor + Normalize: x / 255, minus [0.485, 0.456,
 *          0.406], divided by [0.229, 0.224, 0.225], RGB order.
 *
 * Each output is computed with the same float32 operations, in the same order,
 * as the Python reference, so the values are bit-identical to it. The scalar
 * path looks them up in a table (256 inputs per channel); the vectorised one
 * (vt_preprocess_avx512icl.c, where the CPU has AVX-512 VBMI) computes them,
 * 16 at a time, with those same operations. */
#include "image/vt_preprocess.h"
#include "base/vt_common.h"
#include "base/vt_cpu.h"

#include <string.h>

int vt_preprocess_parse(const char *name, vt_preprocess_mode *out) {
  if (strcmp(name, "caffe") == 0) *out = VT_PREPROCESS_CAFFE;
  else if (strcmp(name, "torch") == 0) *out = VT_PREPROCESS_TORCH;
  else return vt_fail("unknown preprocessing '%s' (expected caffe or torch)", name);
  return 0;
}

const char *vt_preprocess_name(vt_preprocess_mode m) {
  switch (m) {
  case VT_PREPROCESS_CAFFE: return "caffe";
  case VT_PREPROCESS_TORCH: return "torch";
  }
  return "unknown";
}

static const float caffe_mean_bgr[3] = {103.939f, 116.779f, 123.68f};
static const float torch_mean[3] = {0.485f, 0.456f, 0.406f}, torch_std[3] = {0.229f, 0.224f, 0.225f};

/* Which input channel (R=0, G=1, B=2) output channel c reads: caffe is BGR. */
static int source_channel(vt_preprocess_mode m, int c) { return m == VT_PREPROCESS_CAFFE ? 2 - c : c; }

/* lut[c][v]: the value written to output channel c for input byte v, and
 * src[c]: source_channel(m, c). */
static void build_table(vt_preprocess_mode m, float lut[3][256], int src[3]) {
  for (int c = 0; c < 3; c++) {
    src[c] = source_channel(m, c);
    for (int v = 0; v < 256; v++) {
      if (m == VT_PREPROCESS_CAFFE) lut[c][v] = (float)v - caffe_mean_bgr[c];
      else lut[c][v] = ((float)v / 255.0f - torch_mean[c]) / torch_std[c];
    }
  }
}

void vt_preprocess_scalar(const uint8_t *rgb, int W, int H, vt_preprocess_mode m, float *out) {
  float lut[3][256];
  int src[3];
  build_table(m, lut, src);
  size_t n = (size_t)W * H;
  for (size_t i = 0; i < n; i++, rgb += 3, out += 3) {
    out[0] = lut[0][rgb[src[0]]];
    out[1] = lut[1][rgb[src[1]]];
    out[2] = lut[2][rgb[src[2]]];
  }
}

#if defined(__x86_64__)
/* The per-lane tables of vt_preprocess_blocks_avx512icl: 16 pixels (48
 * bytes) at a time, the byte permute putting the channels in output order,
 * then each output float computed with the same float32 operations as
 * build_table, so the values are bitwise the table's (three lookups per
 * pixel cost 4x more there). */
static void lane_tables(vt_preprocess_mode m, uint8_t idx[64], float mean[48], float std[48]) {
  memset(idx, 0, 64);
  for (int i = 0; i < 48; i++) {
    int c = i % 3;
    idx[i] = (uint8_t)(i - c + source_channel(m, c));
    mean[i] = m == VT_PREPROCESS_CAFFE ? caffe_mean_bgr[c] : torch_mean[c];
    std[i] = torch_std[c];
  }
}
#endif

void vt_preprocess(const uint8_t *rgb, int W, int H, vt_preprocess_mode m, float *out) {
  size_t n = (size_t)W * H, done = 0;
#if defined(__x86_64__)
  if (vt_cpu_avx512icl()) {
    uint8_t idx[64];
    float mean[48], std[48];
    lane_tables(m, idx, mean, std);
    done = vt_preprocess_blocks_avx512icl(rgb, n, m == VT_PREPROCESS_CAFFE, idx, mean, std, out);
  }
#endif
  if (done < n) vt_preprocess_scalar(rgb + 3 * done, (int)(n - done), 1, m, out + 3 * done);
}
