/* LRN with q registers across four pixels of one channel; the last pixels of a
 * tile go through the reference's code. beta = 0.75 (AlexNet's, and so the
 * model's) takes a / (sqrt(s) * sqrt(sqrt(s))), all correctly rounded steps;
 * other betas use a * exp(-beta * log(s)) from vmath-neon.h, with lanes outside
 * log's domain (s zero, negative, subnormal, inf, NaN) redone by powf so the
 * special cases match the reference. */
#include <arm_neon.h>
#include <float.h>

#include "eltwise/vmath-neon.h"
#include "lrn-common.h"

#define CK_INLINE static inline __attribute__((always_inline))

CK_INLINE void ck_f32_lrn_ukernel__neon(const struct ck_lrn_desc *d, const float *x, float *y,
					size_t hw, int c, int c0, int c1, size_t p, int beta75)
{
	float32x4_t sum = vdupq_n_f32(0.0f);
	for (int j = c0; j <= c1; j++) {
		const float32x4_t v = vld1q_f32(x + (size_t)j * hw + p);
		/* FMUL then FADD, not FMLA: the reference rounds both */
		sum = vaddq_f32(sum, vmulq_f32(v, v));
	}
	const float32x4_t s = vaddq_f32(vdupq_n_f32(d->k), vmulq_n_f32(sum, ck_lrn_scale(d)));
	const float32x4_t a = vld1q_f32(x + (size_t)c * hw + p);
	float32x4_t r;
	if (beta75) {
		const float32x4_t q = vsqrtq_f32(s);
		r = vdivq_f32(a, vmulq_f32(q, vsqrtq_f32(q)));
	} else {
		r = vmulq_f32(a, ck_vexp_neon(vmulq_n_f32(ck_vlog_neon(s), -d->beta)));
		const uint32x4_t ok = vandq_u32(vcgeq_f32(s, vdupq_n_f32(FLT_MIN)),
						vcleq_f32(s, vdupq_n_f32(FLT_MAX)));
		if (vminvq_u32(ok) == 0) {
			float av[4], sv[4], rv[4];
			uint32_t okv[4];
			vst1q_f32(av, a);
			vst1q_f32(sv, s);
			vst1q_f32(rv, r);
			vst1q_u32(okv, ok);
			for (int i = 0; i < 4; i++)
				if (!okv[i])
					rv[i] = av[i] * powf(sv[i], -d->beta);
			r = vld1q_f32(rv);
		}
	}
	vst1q_f32(y + (size_t)c * hw + p, r);
}

CK_INLINE void lrn_image(const struct ck_lrn_desc *d, const float *x, float *y, int beta75)
{
	const size_t hw = (size_t)d->h * d->w;
	for (size_t p0 = 0; p0 < hw; p0 += CK_LRN_TILE) {
		const size_t pe = p0 + CK_LRN_TILE < hw ? p0 + CK_LRN_TILE : hw;
		for (int c = 0; c < d->c; c++) {
			int c0, c1;
			ck_lrn_window(d, c, &c0, &c1);
			size_t p = p0;
			for (; p + 4 <= pe; p += 4)
				ck_f32_lrn_ukernel__neon(d, x, y, hw, c, c0, c1, p, beta75);
			for (; p < pe; p++)
				y[(size_t)c * hw + p] = ck_lrn_px(d, x, hw, c, c0, c1, p);
		}
	}
}

void ck_lrn__neon(const struct ck_lrn_desc *d, const float *in, float *out, int n)
{
	const size_t isz = (size_t)d->c * d->h * d->w;
	for (int b = 0; b < n; b++) {
		if (d->beta == 0.75f)
			lrn_image(d, in + b * isz, out + b * isz, 1);
		else
			lrn_image(d, in + b * isz, out + b * isz, 0);
	}
}
