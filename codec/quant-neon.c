/* NEON (AArch64) level of quantization and bit packing; bit-exact against
 * quant-scalar.c (semantics in quant-internal.h). Tails use the scalar helpers. */
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "quant-internal.h"

static void minmax1(const float *p, size_t len, float *mn, float *mx)
{
	const float32x4_t pinf = vdupq_n_f32(INFINITY), ninf = vdupq_n_f32(-INFINITY);
	const float32x4_t big = vdupq_n_f32(FLT_MAX);
	float32x4_t lo0 = pinf, lo1 = pinf, hi0 = ninf, hi1 = ninf;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		float32x4_t a = vld1q_f32(p + i), b = vld1q_f32(p + i + 4);
		/* |v| <= FLT_MAX is false for NaN and +-inf: only finite lanes count. */
		uint32x4_t fa = vcaleq_f32(a, big), fb = vcaleq_f32(b, big);
		lo0 = vminq_f32(lo0, vbslq_f32(fa, a, pinf));
		hi0 = vmaxq_f32(hi0, vbslq_f32(fa, a, ninf));
		lo1 = vminq_f32(lo1, vbslq_f32(fb, b, pinf));
		hi1 = vmaxq_f32(hi1, vbslq_f32(fb, b, ninf));
	}
	float lo = vminvq_f32(vminq_f32(lo0, lo1)), hi = vmaxvq_f32(vmaxq_f32(hi0, hi1));
	for (; i < len; i++) {
		float v = p[i];
		if (!cc_finite(v))
			continue;
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	cc_minmax_finish(lo, hi, mn, mx);
}

void cc_minmax__neon(const float *x, size_t channels, size_t plane, int per_channel, float *mn,
		     float *mx)
{
	size_t groups = per_channel ? channels : 1, len = per_channel ? plane : channels * plane;
	for (size_t g = 0; g < groups; g++)
		minmax1(x + g * len, len, &mn[g], &mx[g]);
}

static inline uint32x4_t quant4(float32x4_t x, float32x4_t m, float32x4_t s, float32x4_t lv)
{
	float32x4_t t = vaddq_f32(vmulq_f32(vsubq_f32(x, m), s), vdupq_n_f32(0.5f));
	t = vrndmq_f32(t);
	/* maxnm takes the number over a NaN: NaN -> 0. */
	t = vmaxnmq_f32(t, vdupq_n_f32(0.0f));
	t = vminq_f32(t, lv);
	return vcvtq_u32_f32(t);
}

void cc_quantize__neon(const float *x, size_t channels, size_t plane, int per_channel,
		       const float *mn, const float *mx, int bits, uint16_t *q)
{
	size_t groups = per_channel ? channels : 1, len = per_channel ? plane : channels * plane;
	float lv = cc_levels(bits);
	for (size_t g = 0; g < groups; g++) {
		const float *p = x + g * len;
		uint16_t *o = q + g * len;
		float m = mn[g], s = cc_scale(mn[g], mx[g], bits);
		float32x4_t vm = vdupq_n_f32(m), vs = vdupq_n_f32(s), vl = vdupq_n_f32(lv);
		size_t i = 0;
		for (; i + 8 <= len; i += 8) {
			uint32x4_t a = quant4(vld1q_f32(p + i), vm, vs, vl);
			uint32x4_t b = quant4(vld1q_f32(p + i + 4), vm, vs, vl);
			vst1q_u16(o + i, vcombine_u16(vmovn_u32(a), vmovn_u32(b)));
		}
		for (; i < len; i++)
			o[i] = cc_quant1(p[i], m, s, lv);
	}
}

void cc_dequantize__neon(const uint16_t *q, size_t channels, size_t plane, int per_channel,
			 const float *mn, const float *mx, int bits, float *x)
{
	size_t groups = per_channel ? channels : 1, len = per_channel ? plane : channels * plane;
	for (size_t g = 0; g < groups; g++) {
		const uint16_t *p = q + g * len;
		float *o = x + g * len;
		float m = mn[g], st = cc_step(mn[g], mx[g], bits);
		float32x4_t vm = vdupq_n_f32(m), vs = vdupq_n_f32(st);
		size_t i = 0;
		for (; i + 8 <= len; i += 8) {
			uint16x8_t w = vld1q_u16(p + i);
			float32x4_t a = vcvtq_f32_u32(vmovl_u16(vget_low_u16(w)));
			float32x4_t b = vcvtq_f32_u32(vmovl_high_u16(w));
			vst1q_f32(o + i, vfmaq_f32(vm, a, vs));
			vst1q_f32(o + i + 4, vfmaq_f32(vm, b, vs));
		}
		for (; i < len; i++)
			o[i] = fmaf((float)p[i], st, m);
	}
}

void cc_pack__neon(const uint16_t *q, size_t n, int bits, uint8_t *out)
{
	size_t i = 0;
	switch (bits) {
	case 16:
		if (n)
			memcpy(out, q, n * 2); /* little-endian u16 is the 16-bit stream */
		return;
	case 8:
		for (; i + 16 <= n; i += 16) {
			uint8x8_t a = vmovn_u16(vld1q_u16(q + i)), b = vmovn_u16(vld1q_u16(q + i + 8));
			vst1q_u8(out + i, vcombine_u8(a, b));
		}
		break;
	case 4: {
		const uint16x8_t m4 = vdupq_n_u16(0xF);
		for (; i + 16 <= n; i += 16) {
			uint16x8x2_t v = vld2q_u16(q + i); /* even and odd symbols apart */
			uint16x8_t b = vorrq_u16(vandq_u16(v.val[0], m4),
						 vshlq_n_u16(vandq_u16(v.val[1], m4), 4));
			vst1_u8(out + i / 2, vmovn_u16(b));
		}
		break;
	}
	case 12: {
		const uint16x8_t m12 = vdupq_n_u16(0xFFF);
		for (; i + 16 <= n; i += 16) {
			uint16x8x2_t v = vld2q_u16(q + i);
			uint16x8_t e = vandq_u16(v.val[0], m12), o = vandq_u16(v.val[1], m12);
			uint8x8x3_t r;
			r.val[0] = vmovn_u16(e);
			r.val[1] = vmovn_u16(vorrq_u16(vshrq_n_u16(e, 8), vshlq_n_u16(o, 4)));
			r.val[2] = vmovn_u16(vshrq_n_u16(o, 4));
			vst3_u8(out + i / 2 * 3, r);
		}
		break;
	}
	default:
		break;
	}
	if (i < n)
		cc_pack__scalar(q + i, n - i, bits, out + i * (size_t)bits / 8);
}

void cc_unpack__neon(const uint8_t *in, size_t n, int bits, uint16_t *q)
{
	size_t i = 0;
	switch (bits) {
	case 16:
		if (n)
			memcpy(q, in, n * 2);
		return;
	case 8:
		for (; i + 16 <= n; i += 16) {
			uint8x16_t b = vld1q_u8(in + i);
			vst1q_u16(q + i, vmovl_u8(vget_low_u8(b)));
			vst1q_u16(q + i + 8, vmovl_high_u8(b));
		}
		break;
	case 4: {
		const uint8x8_t m4 = vdup_n_u8(0xF);
		for (; i + 16 <= n; i += 16) {
			uint8x8_t b = vld1_u8(in + i / 2);
			uint16x8x2_t r;
			r.val[0] = vmovl_u8(vand_u8(b, m4));
			r.val[1] = vmovl_u8(vshr_n_u8(b, 4));
			vst2q_u16(q + i, r); /* interleaves low and high nibbles */
		}
		break;
	}
	case 12: {
		const uint16x8_t m4 = vdupq_n_u16(0xF);
		for (; i + 16 <= n; i += 16) {
			uint8x8x3_t b = vld3_u8(in + i / 2 * 3); /* byte k of each 3-byte pair */
			uint16x8_t b0 = vmovl_u8(b.val[0]), b1 = vmovl_u8(b.val[1]);
			uint16x8_t b2 = vmovl_u8(b.val[2]);
			uint16x8x2_t r;
			r.val[0] = vorrq_u16(b0, vshlq_n_u16(vandq_u16(b1, m4), 8));
			r.val[1] = vorrq_u16(vshrq_n_u16(b1, 4), vshlq_n_u16(b2, 4));
			vst2q_u16(q + i, r);
		}
		break;
	}
	default:
		break;
	}
	if (i < n)
		cc_unpack__scalar(in + i * (size_t)bits / 8, n - i, bits, q + i);
}
