/* FMAX would turn -0 into +0, so clear the lanes that compare below zero
 * instead: NaN and -0 pass through unchanged like the reference. */
#include <arm_neon.h>

#include "internal.h"

static inline float32x4_t relu4(float32x4_t x)
{
	return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(x), vcltzq_f32(x)));
}

void ck_relu__neon(const float *in, float *out, size_t count)
{
	size_t i = 0;
	for (; i + 16 <= count; i += 16) {
		/* all loads before the stores: in == out is allowed */
		const float32x4_t a = vld1q_f32(in + i), b = vld1q_f32(in + i + 4);
		const float32x4_t c = vld1q_f32(in + i + 8), d = vld1q_f32(in + i + 12);
		vst1q_f32(out + i, relu4(a));
		vst1q_f32(out + i + 4, relu4(b));
		vst1q_f32(out + i + 8, relu4(c));
		vst1q_f32(out + i + 12, relu4(d));
	}
	for (; i + 4 <= count; i += 4)
		vst1q_f32(out + i, relu4(vld1q_f32(in + i)));
	for (; i < count; i++)
		out[i] = in[i] < 0.0f ? 0.0f : in[i];
}
