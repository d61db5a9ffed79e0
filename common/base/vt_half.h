/* vt_half.h: float32 <-> IEEE 754 binary16 (the store's float16 maps). */
#ifndef VT_HALF_H
#define VT_HALF_H

#include <stddef.h>
#include <stdint.h>

/* Round to nearest even; overflow -> inf, NaN stays NaN. */
uint16_t vt_float_to_half(float f);
float vt_half_to_float(uint16_t h);
void vt_float_to_half_n(const float *in, uint16_t *out, size_t n);

#endif
