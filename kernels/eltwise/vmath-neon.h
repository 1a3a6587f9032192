/* exp and log over float32x4_t lanes, shared by the LRN and softmax kernels.
 * Same reductions and Cephes polynomials as vmath-avx2.h, and so the same error
 * bounds: exp about 1 ulp with results rounded once into the subnormals, log for
 * positive normal inputs only. */
#ifndef CK_VMATH_NEON_H
#define CK_VMATH_NEON_H

#include <arm_neon.h>

#define CK_EXP_LO -104.0f /* expf rounds to 0 below -103.97 */
#define CK_EXP_HI 89.0f /* expf overflows above 88.73 */

static inline float32x4_t ck_vexp_neon(float32x4_t x)
{
	/* FMAX/FMIN propagate NaN */
	x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(CK_EXP_LO)), vdupq_n_f32(CK_EXP_HI));
	const float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
	float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
	r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
	float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
	p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
	p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
	p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
	p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
	p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
	p = vfmaq_f32(r, p, vmulq_f32(r, r));
	p = vaddq_f32(p, vdupq_n_f32(1.0f));
	/* NaN converts to 0 here; p is NaN already */
	const int32x4_t ni = vcvtq_s32_f32(n);
	const int32x4_t n1 = vshrq_n_s32(ni, 1);
	const int32x4_t n2 = vsubq_s32(ni, n1);
	const int32x4_t bias = vdupq_n_s32(127);
	const float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, bias), 23));
	const float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, bias), 23));
	return vmulq_f32(vmulq_f32(p, s1), s2);
}

/* Valid for positive normal finite x. */
static inline float32x4_t ck_vlog_neon(float32x4_t x)
{
	const uint32x4_t xi = vreinterpretq_u32_f32(x);
	float32x4_t e = vcvtq_f32_s32(
		vsubq_s32(vreinterpretq_s32_u32(vshrq_n_u32(xi, 23)), vdupq_n_s32(126)));
	const float32x4_t m = vreinterpretq_f32_u32(
		vorrq_u32(vandq_u32(xi, vdupq_n_u32(0x007fffff)), vdupq_n_u32(0x3f000000)));
	const uint32x4_t small = vcltq_f32(m, vdupq_n_f32(0.707106781186547524f));
	e = vsubq_f32(e, vreinterpretq_f32_u32(
				 vandq_u32(small, vreinterpretq_u32_f32(vdupq_n_f32(1.0f)))));
	const float32x4_t f =
		vaddq_f32(vsubq_f32(m, vdupq_n_f32(1.0f)),
			  vreinterpretq_f32_u32(vandq_u32(small, vreinterpretq_u32_f32(m))));
	const float32x4_t z = vmulq_f32(f, f);
	float32x4_t y = vdupq_n_f32(7.0376836292e-2f);
	y = vfmaq_f32(vdupq_n_f32(-1.1514610310e-1f), y, f);
	y = vfmaq_f32(vdupq_n_f32(1.1676998740e-1f), y, f);
	y = vfmaq_f32(vdupq_n_f32(-1.2420140846e-1f), y, f);
	y = vfmaq_f32(vdupq_n_f32(1.4249322787e-1f), y, f);
	y = vfmaq_f32(vdupq_n_f32(-1.6668057665e-1f), y, f);
	y = vfmaq_f32(vdupq_n_f32(2.0000714765e-1f), y, f);
	y = vfmaq_f32(vdupq_n_f32(-2.4999993993e-1f), y, f);
	y = vfmaq_f32(vdupq_n_f32(3.3333331174e-1f), y, f);
	y = vmulq_f32(vmulq_f32(y, f), z);
	y = vfmaq_f32(y, e, vdupq_n_f32(-2.12194440e-4f));
	y = vfmsq_f32(y, z, vdupq_n_f32(0.5f));
	return vfmaq_f32(vaddq_f32(f, y), e, vdupq_n_f32(0.693359375f));
}

#endif
