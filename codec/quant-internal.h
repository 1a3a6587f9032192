/* Per-ISA entry points of the quantization and bit-packing layer, and the scalar
 * pieces every level shares so that they are bit-exact by construction.
 *
 * Semantics every level implements (the scalar file is the reference):
 *  - minmax ignores NaN and +-inf: the range covers the finite values only, so a
 *    stray inf cannot blow the scale up. No finite value (empty, all NaN/inf) gives
 *    mn = mx = 0. Signed zeros are canonicalised to +0 so that the result does not
 *    depend on the order in which a vector reduction met -0 and +0.
 *  - A pair is "degenerate" when !(mx > mn) (equal, reversed or NaN), when mx - mn
 *    overflows to inf (e.g. -FLT_MAX..FLT_MAX) or when s = L / (mx - mn) would
 *    (a range below ~L * 2^-128, tiny subnormal spans); then s = 0 and step = 0:
 *    every value quantizes to 0 and dequantizes to mn, so neither parameter is
 *    ever inf or NaN. Otherwise s = L / (mx - mn), step = (mx - mn) / L in float,
 *    L = 2^bits - 1.
 *  - quantize: t = floor((x - mn) * s + 0.5) with separate sub, mul, add (never
 *    fused); NaN t -> 0, t clamped to [0, L]. So NaN -> 0, -inf -> 0, +inf -> L.
 *  - dequantize: x = fma(q, step, mn), one rounding.
 *  - pack masks each symbol to `bits`; unpack masks too and touches exactly
 *    cc_packed_bytes(n, bits) input bytes and n output symbols. */
#ifndef COINFER_CODEC_QUANT_INTERNAL_H
#define COINFER_CODEC_QUANT_INTERNAL_H

#include <float.h>
#include <stddef.h>
#include <stdint.h>

#include "coinfer/codec.h"

#define CC_DECLARE(sfx)                                                                       \
	void cc_minmax__##sfx(const float *x, size_t channels, size_t plane, int per_channel,   \
			      float *mn, float *mx);                                            \
	void cc_quantize__##sfx(const float *x, size_t channels, size_t plane, int per_channel, \
				const float *mn, const float *mx, int bits, uint16_t *q);       \
	void cc_dequantize__##sfx(const uint16_t *q, size_t channels, size_t plane,             \
				  int per_channel, const float *mn, const float *mx, int bits,  \
				  float *x);                                                    \
	void cc_pack__##sfx(const uint16_t *q, size_t n, int bits, uint8_t *out);               \
	void cc_unpack__##sfx(const uint8_t *in, size_t n, int bits, uint16_t *q);

CC_DECLARE(scalar)
CC_DECLARE(avx2)
CC_DECLARE(avx512)
CC_DECLARE(neon)

static inline float cc_levels(int bits)
{
	return (float)((1u << bits) - 1);
}

static inline int cc_degenerate(float mn, float mx, int bits)
{
	float r = mx - mn;
	return !(mx > mn) || !(r <= FLT_MAX) || !(cc_levels(bits) / r <= FLT_MAX);
}

static inline float cc_scale(float mn, float mx, int bits)
{
	return cc_degenerate(mn, mx, bits) ? 0.0f : cc_levels(bits) / (mx - mn);
}

static inline float cc_step(float mn, float mx, int bits)
{
	return cc_degenerate(mn, mx, bits) ? 0.0f : (mx - mn) / cc_levels(bits);
}

/* One quantized value; SIMD levels use it for their tails. The file including it
 * must be compiled with -ffp-contract=off (codec/meson.build does). */
static inline uint16_t cc_quant1(float x, float mn, float s, float lv)
{
	float t = (x - mn) * s + 0.5f;
	t = __builtin_floorf(t);
	if (!(t > 0.0f))
		return 0;
	return t < lv ? (uint16_t)t : (uint16_t)lv;
}

/* Closing a running (finite-only) min/max; +inf/-inf start values mean "none". */
static inline void cc_minmax_finish(float lo, float hi, float *mn, float *mx)
{
	if (!(lo <= hi)) {
		*mn = *mx = 0.0f;
		return;
	}
	/* -0 + 0 = +0: both orders of a reduction over {-0, +0} agree afterwards. */
	*mn = lo + 0.0f;
	*mx = hi + 0.0f;
}

static inline int cc_finite(float x)
{
	return __builtin_fabsf(x) <= FLT_MAX;
}

#endif
