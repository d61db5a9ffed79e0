/* The AVX512_BF16 kernels of the bf16 conv (vt_conv_bf16_kernels.h): the
 * implicit GEMM on vdpbf16ps, and the epilogue (pool, bias, ReLU, rounding
 * to bf16) that the AMX path shares. Compiled with -mavx512bf16; nothing on
 * other CPUs. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "net/vt_conv_bf16_kernels.h"

/* 12 pixels x 32 outputs: 24 accumulators. Per pair of input channels it
 * loads 2 weight vectors and broadcasts 12 pixels' pairs (each a 32-bit
 * memory operand), for 24 vdpbf16ps: the dot products, not the loads, bound
 * it. */
enum { MR = 12 };

static inline __m512bh pair_of(const uint16_t *a) {
  int32_t v;
  memcpy(&v, a, sizeof v);
  return (__m512bh)_mm512_set1_epi32(v);
}

static void block(const vt_bf16_gemm *g, long i, int j) {
  __m512 acc[MR][2];
  for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  const uint16_t *bj = g->b + (size_t)j * g->steps * VT_BF16_STEP;
  for (int s = 0; s < g->steps; s++) {
    const uint16_t *a = g->a + i * g->lda + g->aoff[s], *b = bj + (size_t)s * VT_BF16_STEP;
    for (int p = 0; p < 16; p++) {
      __m512bh w0 = (__m512bh)_mm512_loadu_si512(b + p * 32);
      __m512bh w1 = (__m512bh)_mm512_loadu_si512(b + 512 + p * 32);
#pragma GCC unroll 12
      for (int r = 0; r < MR; r++) {
        __m512bh x = pair_of(a + r * g->lda + 2 * p);
        acc[r][0] = _mm512_dpbf16_ps(acc[r][0], x, w0);
        acc[r][1] = _mm512_dpbf16_ps(acc[r][1], x, w1);
      }
    }
  }
  for (int r = 0; r < MR; r++) {
    float *c = g->c + (i + r) * g->ldc + j * 32;
    _mm512_storeu_ps(c, acc[r][0]);
    _mm512_storeu_ps(c + 16, acc[r][1]);
  }
}

void vt_bf16_gemm_avx512bf16(const vt_bf16_gemm *g) {
  for (long i = 0; i < g->m; i += MR)
    for (int j = 0; j < g->n32; j++) block(g, i, j);
}

void vt_bf16_round_avx512bf16(const float *in, uint16_t *out, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256((__m256i *)(out + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(in + i)));
  if (i < n) {
    __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
    _mm256_mask_storeu_epi16(out + i, k, (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(k, in + i)));
  }
}

void vt_bf16_epilogue_avx512bf16(const vt_bf16_epilogue *e) {
  int pool = e->pool, Wo = pool ? e->W / 2 : e->W, Ho = pool ? e->rows / 2 : e->rows;
  long down = (long)e->Wp * e->ldr; /* one row further in raw */
  const __m512 zero = _mm512_setzero_ps();
  for (int y = 0; y < Ho; y++)
    for (int x = 0; x < Wo; x++) {
      const float *r0 = e->raw + ((long)(pool ? 2 * y : y) * e->Wp + (pool ? 2 * x : x)) * e->ldr;
      float *out = e->out ? e->out + y * e->out_row + x * e->out_px : NULL;
      uint16_t *map = e->map ? e->map + y * e->map_row + x * e->map_px : NULL;
      for (int c = 0; c < e->nb; c += 16) {
        __m512 v = _mm512_loadu_ps(r0 + c);
        if (pool) {
          v = _mm512_max_ps(v, _mm512_loadu_ps(r0 + e->ldr + c));
          v = _mm512_max_ps(v, _mm512_loadu_ps(r0 + down + c));
          v = _mm512_max_ps(v, _mm512_loadu_ps(r0 + down + e->ldr + c));
        }
        v = _mm512_max_ps(_mm512_add_ps(v, _mm512_loadu_ps(e->bias + c)), zero);
        if (out && c < e->nvalid) {
          __mmask16 k = e->nvalid - c >= 16 ? 0xffff : (__mmask16)((1u << (e->nvalid - c)) - 1);
          if (e->stream && k == 0xffff && ((uintptr_t)(out + c) & 63) == 0)
            _mm512_stream_ps(out + c, v);
          else
            _mm512_mask_storeu_ps(out + c, k, v);
        }
        if (map && c < e->nmap) {
          __m256i h = (__m256i)_mm512_cvtneps_pbh(v);
          if (e->nmap - c >= 16)
            _mm256_storeu_si256((__m256i *)(map + c), h);
          else
            _mm256_mask_storeu_epi16(map + c, (__mmask16)((1u << (e->nmap - c)) - 1), h);
        }
      }
    }
  if (e->stream) _mm_sfence(); /* the streamed stores are seen before anything after */
}
#endif
