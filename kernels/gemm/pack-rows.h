/* Packing of row-major data into MR-row A panels (ap[k * MR + r]), shared by the
 * drivers that pack an activation operand at run time (fc's batch rows, attention's
 * values). A transposition, so rows go four at a time through 4x4 register
 * transposes (SSE on x86-64 and NEON on aarch64, both baseline there, so this
 * compiles without ISA flags); elsewhere a plain loop. */
#ifndef CK_GEMM_PACK_ROWS_H
#define CK_GEMM_PACK_ROWS_H

#include <stddef.h>

#if defined(__SSE2__)
#include <xmmintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

/* Columns [k, k + 4) of rows x0..x3 into d[0..3], d[MR..MR+3], ... */
static inline void ck_pack_4x4(const float *x0, const float *x1, const float *x2,
			       const float *x3, size_t MR, float *d)
{
#if defined(__SSE2__)
	__m128 a0 = _mm_loadu_ps(x0), a1 = _mm_loadu_ps(x1);
	__m128 a2 = _mm_loadu_ps(x2), a3 = _mm_loadu_ps(x3);
	_MM_TRANSPOSE4_PS(a0, a1, a2, a3);
	_mm_storeu_ps(d, a0);
	_mm_storeu_ps(d + MR, a1);
	_mm_storeu_ps(d + 2 * MR, a2);
	_mm_storeu_ps(d + 3 * MR, a3);
#elif defined(__aarch64__)
	const float32x4_t t0 = vtrn1q_f32(vld1q_f32(x0), vld1q_f32(x1));
	const float32x4_t t1 = vtrn2q_f32(vld1q_f32(x0), vld1q_f32(x1));
	const float64x2_t t2 = vreinterpretq_f64_f32(vtrn1q_f32(vld1q_f32(x2), vld1q_f32(x3)));
	const float64x2_t t3 = vreinterpretq_f64_f32(vtrn2q_f32(vld1q_f32(x2), vld1q_f32(x3)));
	const float64x2_t u0 = vreinterpretq_f64_f32(t0), u1 = vreinterpretq_f64_f32(t1);
	vst1q_f32(d, vreinterpretq_f32_f64(vtrn1q_f64(u0, t2)));
	vst1q_f32(d + MR, vreinterpretq_f32_f64(vtrn1q_f64(u1, t3)));
	vst1q_f32(d + 2 * MR, vreinterpretq_f32_f64(vtrn2q_f64(u0, t2)));
	vst1q_f32(d + 3 * MR, vreinterpretq_f32_f64(vtrn2q_f64(u1, t3)));
#else
	for (size_t k = 0; k < 4; k++) {
		d[k * MR] = x0[k];
		d[k * MR + 1] = x1[k];
		d[k * MR + 2] = x2[k];
		d[k * MR + 3] = x3[k];
	}
#endif
}

/* Transpose mr rows of x (row-major, k long, ld apart) into ap[kk * MR + r]. Rows
 * mr..MR-1 are left as they are: the mr-row microkernels never use them. */
static inline void ck_pack_rows(const float *x, size_t ld, size_t k, size_t mr, size_t MR,
				float *ap)
{
	size_t r = 0;
	for (; r + 4 <= mr; r += 4) {
		const float *x0 = x + r * ld, *x1 = x0 + ld, *x2 = x1 + ld, *x3 = x2 + ld;
		size_t kk = 0;
		for (; kk + 4 <= k; kk += 4)
			ck_pack_4x4(x0 + kk, x1 + kk, x2 + kk, x3 + kk, MR, ap + kk * MR + r);
		for (; kk < k; kk++)
			for (size_t i = 0; i < 4; i++)
				ap[kk * MR + r + i] = x[(r + i) * ld + kk];
	}
	for (; r < mr; r++)
		for (size_t kk = 0; kk < k; kk++)
			ap[kk * MR + r] = x[r * ld + kk];
}

#endif
