/* vt_preprocess_avx512icl.c: the caffe / torch preprocessing of 16 pixels
 * at a time with an AVX-512 byte permute (VBMI), compiled for it alone
 * (Makefile) and run where vt_cpu_avx512icl() says the CPU has it
 * (vt_preprocess.c); bitwise equal to the table of vt_preprocess_scalar. */
#if defined(__x86_64__)
#include "image/vt_preprocess.h"

#include <immintrin.h>

size_t vt_preprocess_blocks_avx512icl(const uint8_t *rgb, size_t n, int caffe, const uint8_t idx[64],
                                      const float mean[48], const float std[48], float *out) {
  const __m512i perm = _mm512_loadu_si512(idx);
  const __m512 v255 = _mm512_set1_ps(255.0f);
  __m512 mv[3], sv[3];
  for (int k = 0; k < 3; k++) mv[k] = _mm512_loadu_ps(mean + 16 * k), sv[k] = _mm512_loadu_ps(std + 16 * k);
  size_t done = 0;
  for (; done + 16 <= n; done += 16, rgb += 48, out += 48) {
    __m512i px = _mm512_permutexvar_epi8(perm, _mm512_maskz_loadu_epi8((1ull << 48) - 1, rgb));
    __m128i bytes[3] = {_mm512_castsi512_si128(px), _mm512_extracti32x4_epi32(px, 1),
                        _mm512_extracti32x4_epi32(px, 2)};
    for (int k = 0; k < 3; k++) {
      __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes[k]));
      v = caffe ? _mm512_sub_ps(v, mv[k]) : _mm512_div_ps(_mm512_sub_ps(_mm512_div_ps(v, v255), mv[k]), sv[k]);
      _mm512_storeu_ps(out + 16 * k, v);
    }
  }
  return done;
}
#endif
