/* Scalar reference of quantization and bit packing: the definition the SIMD levels
 * are tested against bit for bit (semantics in quant-internal.h). */
#include <math.h>
#include <string.h>

#include "quant-internal.h"

void cc_minmax__scalar(const float *x, size_t channels, size_t plane, int per_channel,
		       float *mn, float *mx)
{
	size_t groups = per_channel ? channels : 1, len = per_channel ? plane : channels * plane;
	for (size_t g = 0; g < groups; g++) {
		const float *p = x + g * len;
		float lo = INFINITY, hi = -INFINITY;
		for (size_t i = 0; i < len; i++) {
			float v = p[i];
			if (!cc_finite(v))
				continue;
			lo = v < lo ? v : lo;
			hi = v > hi ? v : hi;
		}
		cc_minmax_finish(lo, hi, &mn[g], &mx[g]);
	}
}

void cc_quantize__scalar(const float *x, size_t channels, size_t plane, int per_channel,
			 const float *mn, const float *mx, int bits, uint16_t *q)
{
	size_t groups = per_channel ? channels : 1, len = per_channel ? plane : channels * plane;
	float lv = cc_levels(bits);
	for (size_t g = 0; g < groups; g++) {
		float m = mn[g], s = cc_scale(mn[g], mx[g], bits);
		for (size_t i = 0; i < len; i++)
			q[g * len + i] = cc_quant1(x[g * len + i], m, s, lv);
	}
}

void cc_dequantize__scalar(const uint16_t *q, size_t channels, size_t plane, int per_channel,
			   const float *mn, const float *mx, int bits, float *x)
{
	size_t groups = per_channel ? channels : 1, len = per_channel ? plane : channels * plane;
	for (size_t g = 0; g < groups; g++) {
		/* fmaf is a single rounding everywhere: an instruction with FMA hardware,
		 * glibc's correctly rounded libm routine without. */
		float m = mn[g], st = cc_step(mn[g], mx[g], bits);
		for (size_t i = 0; i < len; i++)
			x[g * len + i] = fmaf((float)q[g * len + i], st, m);
	}
}

void cc_pack__scalar(const uint16_t *q, size_t n, int bits, uint8_t *out)
{
	uint32_t mask = (1u << bits) - 1;
	uint64_t acc = 0;
	unsigned nb = 0;
	for (size_t i = 0; i < n; i++) {
		acc |= (uint64_t)(q[i] & mask) << nb;
		nb += (unsigned)bits;
		while (nb >= 8) {
			*out++ = (uint8_t)acc;
			acc >>= 8;
			nb -= 8;
		}
	}
	if (nb)
		*out = (uint8_t)acc; /* the zero padding comes from acc's clear high bits */
}

void cc_unpack__scalar(const uint8_t *in, size_t n, int bits, uint16_t *q)
{
	uint32_t mask = (1u << bits) - 1;
	uint64_t acc = 0;
	unsigned nb = 0;
	/* Fetching only while a symbol is short of bits reads exactly
	 * ceil(n * bits / 8) bytes, never the byte after the stream. */
	for (size_t i = 0; i < n; i++) {
		while (nb < (unsigned)bits) {
			acc |= (uint64_t)*in++ << nb;
			nb += 8;
		}
		q[i] = (uint16_t)(acc & mask);
		acc >>= bits;
		nb -= (unsigned)bits;
	}
}
