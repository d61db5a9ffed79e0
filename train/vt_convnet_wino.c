/* vt_convnet_wino.c: the conv head's Winograd convolutions on the kernel
 * path's table (vt_convnet_simd.h; the code is vt_convnet_wino_body.h). */
#include "vt_convnet_wino.h"

#include "vt_convnet_simd.h"

size_t vt_cn_wino_scratch_floats(int H, int W, int Cin, int Cout) {
  size_t T = (size_t)((H + 3) / 4) * ((W + 3) / 4);
  return (size_t)37 * Cin * Cout + (size_t)36 * T * (Cin + Cout) + (size_t)Cin;
}

void vt_cn_wino_forward(float *out, const float *in, const float *k, const float *bias, int n,
                        int H, int W, int Cin, int Cout, float *scratch) {
  vt_cn_simd_chosen()->wino_forward(out, in, k, bias, n, H, W, Cin, Cout, scratch);
}

void vt_cn_wino_kernel_grad(float *dk, const float *dout, const float *in, int n, int H, int W,
                            int Cin, int Cout, float *scratch) {
  vt_cn_simd_chosen()->wino_kernel_grad(dk, dout, in, n, H, W, Cin, Cout, scratch);
}
