/* float16 conversion against the compiler's own _Float16 (an independent
 * implementation) on every half value and on many float32 values, including
 * rounding ties, subnormals, overflow and NaN. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/vt_half.h"

static uint16_t ref_half(float f) {
  _Float16 h = (_Float16)f;
  uint16_t u;
  memcpy(&u, &h, 2);
  return u;
}

int main(void) {
  long bad = 0;
  /* Every half round-trips through float exactly. */
  for (uint32_t u = 0; u < 65536; u++) {
    _Float16 h;
    uint16_t hu = (uint16_t)u;
    memcpy(&h, &hu, 2);
    float ref = (float)h, got = vt_half_to_float(hu);
    if (isnan(ref) ? !isnan(got) : memcmp(&ref, &got, 4) != 0) bad++;
    if (!isnan(ref) && vt_float_to_half(got) != hu) bad++;
  }
  /* Float32 -> half on a dense sweep of bit patterns (every 97th), covering
   * ties, subnormal halves and overflow. */
  for (uint64_t u = 0; u < 0x100000000ull; u += 97) {
    uint32_t x = (uint32_t)u;
    float f;
    memcpy(&f, &x, 4);
    uint16_t got = vt_float_to_half(f), ref = ref_half(f);
    if (isnan(f)) {
      if ((got & 0x7c00) != 0x7c00 || (got & 0x3ff) == 0) bad++;
    } else if (got != ref) {
      if (bad < 5) fprintf(stderr, "float %a: got %04x, want %04x\n", (double)f, got, ref);
      bad++;
    }
  }
  printf("half conversion mismatches: %ld\n", bad);
  return bad != 0;
}
