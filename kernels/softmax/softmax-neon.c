/* Softmax and its entropy with q registers along the row: a max pass, an exp
 * pass (exp from vmath-neon.h, ~1 ulp) that also sums, and for softmax a scaling
 * pass. The last partial vector is copied into a -inf padded buffer, which exp
 * turns into 0 and so into nothing in either sum. */
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "eltwise/vmath-neon.h"
#include "internal.h"

#define CK_INLINE static inline __attribute__((always_inline))

CK_INLINE float32x4_t load_tail(const float *p, int rem)
{
	float b[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
	memcpy(b, p, (size_t)rem * sizeof(float));
	return vld1q_f32(b);
}

/* FMAX propagates NaN, so a NaN logit makes the whole row NaN. */
static float row_max(const float *x, int classes)
{
	float32x4_t m0 = vdupq_n_f32(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
	int i = 0;
	for (; i + 16 <= classes; i += 16) {
		m0 = vmaxq_f32(m0, vld1q_f32(x + i));
		m1 = vmaxq_f32(m1, vld1q_f32(x + i + 4));
		m2 = vmaxq_f32(m2, vld1q_f32(x + i + 8));
		m3 = vmaxq_f32(m3, vld1q_f32(x + i + 12));
	}
	for (; i + 4 <= classes; i += 4)
		m0 = vmaxq_f32(m0, vld1q_f32(x + i));
	if (i < classes)
		m1 = vmaxq_f32(m1, load_tail(x + i, classes - i));
	return vmaxvq_f32(vmaxq_f32(vmaxq_f32(m0, m1), vmaxq_f32(m2, m3)));
}

void ck_softmax__neon(const float *in, float *out, int n, int classes)
{
	for (int r = 0; r < n; r++) {
		const float *x = in + (size_t)r * classes;
		float *y = out + (size_t)r * classes;
		const float32x4_t m = vdupq_n_f32(row_max(x, classes));
		float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
		int i = 0;
		for (; i + 8 <= classes; i += 8) {
			const float32x4_t e0 = ck_vexp_neon(vsubq_f32(vld1q_f32(x + i), m));
			const float32x4_t e1 = ck_vexp_neon(vsubq_f32(vld1q_f32(x + i + 4), m));
			vst1q_f32(y + i, e0);
			vst1q_f32(y + i + 4, e1);
			s0 = vaddq_f32(s0, e0);
			s1 = vaddq_f32(s1, e1);
		}
		for (; i + 4 <= classes; i += 4) {
			const float32x4_t e = ck_vexp_neon(vsubq_f32(vld1q_f32(x + i), m));
			vst1q_f32(y + i, e);
			s0 = vaddq_f32(s0, e);
		}
		const int rem = classes - i;
		if (rem) {
			float b[4];
			const float32x4_t e = ck_vexp_neon(vsubq_f32(load_tail(x + i, rem), m));
			vst1q_f32(b, e);
			memcpy(y + i, b, (size_t)rem * sizeof(float));
			s1 = vaddq_f32(s1, e);
		}
		/* one reciprocal then products, as torch's softmax does */
		const float inv = 1.0f / vaddvq_f32(vaddq_f32(s0, s1));
		for (i = 0; i + 4 <= classes; i += 4)
			vst1q_f32(y + i, vmulq_n_f32(vld1q_f32(y + i), inv));
		for (; i < classes; i++)
			y[i] *= inv;
	}
}

/* Entropy terms of one vector of logits: the argument of exp is clamped first so
 * that a -inf logit adds 0 * (-104), not 0 * -inf, to T. */
CK_INLINE void ent4(float32x4_t x, float32x4_t m, float32x4_t *s, float32x4_t *t)
{
	const float32x4_t z = vmaxq_f32(vsubq_f32(x, m), vdupq_n_f32(CK_EXP_LO));
	const float32x4_t e = ck_vexp_neon(z);
	*s = vaddq_f32(*s, e);
	*t = vfmaq_f32(*t, e, z);
}

void ck_softmax_entropy__neon(const float *in, float *out, int n, int classes)
{
	for (int r = 0; r < n; r++) {
		const float *x = in + (size_t)r * classes;
		const float32x4_t m = vdupq_n_f32(row_max(x, classes));
		float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, t0 = s0, t1 = s0;
		int i = 0;
		for (; i + 8 <= classes; i += 8) {
			ent4(vld1q_f32(x + i), m, &s0, &t0);
			ent4(vld1q_f32(x + i + 4), m, &s1, &t1);
		}
		for (; i + 4 <= classes; i += 4)
			ent4(vld1q_f32(x + i), m, &s0, &t0);
		if (i < classes)
			ent4(load_tail(x + i, classes - i), m, &s1, &t1);
		const double s = vaddvq_f32(vaddq_f32(s0, s1)), t = vaddvq_f32(vaddq_f32(t0, t1));
		out[r] = (float)(log(s) - t / s);
	}
}
