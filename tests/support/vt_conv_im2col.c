/* vt_conv_im2col.c: 3x3 conv + bias + ReLU by im2col + BLIS sgemm, a band
 * of image rows at a time: the textbook fast convolution, kept for the tests
 * and benchmarks that compare the project's kernels with it (it is not in
 * libvggtap.a: no program runs it).
 *
 * The HWIO kernel read as row-major [9*Cin][Cout] is exactly the GEMM's B,
 * and an im2col row for pixel (y, x) lists its 3x3 neighbourhood in the same
 * (dy, dx, i) order, so C = A * B is [pixels][Cout]: NHWC output, written in
 * place. The band keeps the im2col buffer to a few MB instead of 9x the
 * input (115 MB per image at block1_conv2). */
#include "vt_conv_im2col.h"

#include <blis.h>
#include <string.h>

/* Floats of im2col per band; the band is at least one image row. */
enum { IM2COL_BAND_FLOATS = 1 << 20 };

static int band_rows(int W, int Cin) {
  size_t row = (size_t)W * 9 * (size_t)Cin;
  size_t rows = IM2COL_BAND_FLOATS / row;
  return rows < 1 ? 1 : (int)rows;
}

size_t vt_conv3x3_im2col_scratch_floats(int W, int Cin) {
  return (size_t)band_rows(W, Cin) * (size_t)W * 9 * (size_t)Cin;
}

/* One im2col row per pixel of rows y0..y1-1: [dy][dx][Cin], zeros outside. */
static void im2col_band(const float *in, int H, int W, int Cin, int y0, int y1, float *col) {
  size_t cin = (size_t)Cin;
  for (int y = y0; y < y1; y++) {
    for (int x = 0; x < W; x++) {
      float *dst = col + ((size_t)(y - y0) * W + x) * 9 * cin;
      for (int dy = 0; dy < 3; dy++) {
        int sy = y + dy - 1;
        if (sy < 0 || sy >= H) {
          memset(dst + (size_t)dy * 3 * cin, 0, 3 * cin * sizeof(float));
          continue;
        }
        const float *src_row = in + (size_t)sy * W * cin;
        float *d = dst + (size_t)dy * 3 * cin;
        /* The three source pixels x-1..x+1 are contiguous in NHWC unless the
         * window hangs over the left or right edge. */
        if (x >= 1 && x + 1 < W) {
          memcpy(d, src_row + (size_t)(x - 1) * cin, 3 * cin * sizeof(float));
        } else {
          for (int dx = 0; dx < 3; dx++) {
            int sx = x + dx - 1;
            if (sx < 0 || sx >= W)
              memset(d + dx * cin, 0, cin * sizeof(float));
            else
              memcpy(d + dx * cin, src_row + (size_t)sx * cin, cin * sizeof(float));
          }
        }
      }
    }
  }
}

static void bias_relu(float *out, size_t pixels, const float *bias, int Cout) {
  for (size_t p = 0; p < pixels; p++) {
    float *row = out + p * Cout;
    for (int o = 0; o < Cout; o++) {
      float v = row[o] + bias[o];
      row[o] = v > 0.0f ? v : 0.0f;
    }
  }
}

/* sgemm C[m][n] = A[m][k] * B[k][n], row-major, on one BLIS thread: the
 * caller runs one image per thread, so BLIS must not spawn its own. The rntm_t
 * is local, so concurrent calls share nothing. */
static void sgemm_rowmajor_1t(int m, int n, int k, const float *A, const float *B, float *C) {
  rntm_t rntm = BLIS_RNTM_INITIALIZER;
  bli_rntm_set_num_threads(1, &rntm);
  float one = 1.0f, zero = 0.0f;
  bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, k, &one, (float *)A, k, 1, (float *)B,
               n, 1, &zero, C, n, 1, NULL, &rntm);
}

void vt_conv3x3_relu_im2col(const float *in, int H, int W, int Cin, const float *kernel,
                            const float *bias, int Cout, float *out, float *scratch) {
  int rows = band_rows(W, Cin);
  for (int y0 = 0; y0 < H; y0 += rows) {
    int y1 = y0 + rows < H ? y0 + rows : H;
    int pixels = (y1 - y0) * W;
    float *dst = out + (size_t)y0 * W * Cout;
    im2col_band(in, H, W, Cin, y0, y1, scratch);
    sgemm_rowmajor_1t(pixels, Cout, 9 * Cin, scratch, kernel, dst);
    bias_relu(dst, (size_t)pixels, bias, Cout);
  }
}
