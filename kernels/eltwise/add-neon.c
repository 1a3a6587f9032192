/* Residual add, 4 lanes, scalar tail. FADD rounds as the scalar FADD does:
 * bit-exact with the reference (Linux runs with default-NaN mode off, so NaN
 * operands propagate the same way in both). */
#include <arm_neon.h>

#include "internal.h"

void ck_add__neon(const float *a, const float *b, float *out, size_t count)
{
	size_t i = 0;
	for (; i + 16 <= count; i += 16) {
		/* all loads before the stores: out == a or out == b is allowed */
		const float32x4_t s0 = vaddq_f32(vld1q_f32(a + i), vld1q_f32(b + i));
		const float32x4_t s1 = vaddq_f32(vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
		const float32x4_t s2 = vaddq_f32(vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
		const float32x4_t s3 = vaddq_f32(vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
		vst1q_f32(out + i, s0);
		vst1q_f32(out + i + 4, s1);
		vst1q_f32(out + i + 8, s2);
		vst1q_f32(out + i + 12, s3);
	}
	for (; i + 4 <= count; i += 4)
		vst1q_f32(out + i, vaddq_f32(vld1q_f32(a + i), vld1q_f32(b + i)));
	for (; i < count; i++)
		out[i] = a[i] + b[i];
}
