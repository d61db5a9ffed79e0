/* The AMX kernel of the bf16 conv (vt_conv_bf16_kernels.h): the implicit
 * GEMM on tdpbf16ps tiles. Compiled with -mamx-tile -mamx-bf16; nothing on
 * other CPUs. base/vt_cpu.c has asked Linux for the tile state
 * (arch_prctl) before vt_cpu_isa() says "amx". */
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "net/vt_conv_bf16_kernels.h"

/* Eight tiles of 16 rows x 64 bytes: C 0-3 (a 32 x 32 float block of
 * sums), A 4-5 (32 pixels x 32 input channels), B 6-7 (32 inputs x 32
 * outputs as two 16-output halves). Four tile loads feed four products; the
 * second A tile loads while the first two products run (Intel's
 * optimization manual's order for 2x2 blocking; 1-3% faster than loading
 * all four first, measured on block1-5 shapes). */
static void tile_config(void) {
  struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
  } __attribute__((aligned(64))) cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int t = 0; t < 8; t++) cfg.colsb[t] = 64, cfg.rows[t] = 16;
  _tile_loadconfig(&cfg);
}

void vt_bf16_gemm_amx(const vt_bf16_gemm *g) {
  tile_config();
  long sa = g->lda * (long)sizeof(uint16_t), sc = g->ldc * (long)sizeof(float);
  /* The next block's B is fetched into the L2 while this one runs, spread
   * over its row blocks: with few rows (block4/5: 7-25 blocks of 32 pixels)
   * B is reused little and would otherwise come from L3 at the first one
   * (+3-7% on those layers in an isolated benchmark). */
  long blocks = (g->m + 31) / 32;
  int per_step = (int)((32 + blocks - 1) / blocks); /* 64-byte lines per K step */
  size_t b_bytes = (size_t)g->steps * VT_BF16_STEP * sizeof(uint16_t);
  for (int j = 0; j < g->n32; j++) {
    const uint16_t *next = j + 1 < g->n32 ? g->b + (size_t)(j + 1) * g->steps * VT_BF16_STEP : g->b_next;
    const char *pf = (const char *)next, *pf_end = next ? pf + b_bytes : pf;
    for (long i = 0; i < g->m; i += 32) {
      const uint16_t *a = g->a + i * g->lda, *b = g->b + (size_t)j * g->steps * VT_BF16_STEP;
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      for (int s = 0; s < g->steps; s++, b += VT_BF16_STEP) {
        for (int q = 0; q < per_step && pf < pf_end; q++, pf += 64) _mm_prefetch(pf, _MM_HINT_T1);
        _tile_loadd(4, a + g->aoff[s], sa);
        _tile_loadd(6, b, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_loadd(7, b + 512, 64);
        _tile_dpbf16ps(1, 4, 7);
        _tile_loadd(5, a + 16 * g->lda + g->aoff[s], sa);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
      }
      float *c = g->c + i * g->ldc + j * 32;
      _tile_stored(0, c, sc);
      _tile_stored(1, c + 16, sc);
      _tile_stored(2, c + 16 * g->ldc, sc);
      _tile_stored(3, c + 16 * g->ldc + 16, sc);
    }
  }
  _tile_release(); /* the OS then saves no tile state for this thread */
}
#endif
