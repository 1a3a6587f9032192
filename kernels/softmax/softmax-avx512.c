/* Softmax and its entropy with zmm vectors along the row: a max pass, an exp
 * pass (exp from vmath-avx512.h, ~1 ulp) that also sums, and for softmax a
 * scaling pass. The last partial vector loads masked with -inf in the missing
 * lanes, which exp turns into 0 and so into nothing in either sum. */
#include <immintrin.h>
#include <math.h>

#include "eltwise/vmath-avx512.h"
#include "internal.h"

#define CK_INLINE static inline __attribute__((always_inline))

CK_INLINE __m512 load_tail(const float *p, __mmask16 k)
{
	return _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), k, p);
}

/* A NaN may be dropped here; it still turns its row's sum, and so the row, NaN. */
static float row_max(const float *x, int classes)
{
	__m512 m0 = _mm512_set1_ps(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
	int i = 0;
	for (; i + 64 <= classes; i += 64) {
		m0 = _mm512_max_ps(m0, _mm512_loadu_ps(x + i));
		m1 = _mm512_max_ps(m1, _mm512_loadu_ps(x + i + 16));
		m2 = _mm512_max_ps(m2, _mm512_loadu_ps(x + i + 32));
		m3 = _mm512_max_ps(m3, _mm512_loadu_ps(x + i + 48));
	}
	for (; i + 16 <= classes; i += 16)
		m0 = _mm512_max_ps(m0, _mm512_loadu_ps(x + i));
	if (i < classes)
		m1 = _mm512_max_ps(m1, load_tail(x + i, (__mmask16)((1u << (classes - i)) - 1)));
	return _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3)));
}

void ck_softmax__avx512(const float *in, float *out, int n, int classes)
{
	for (int r = 0; r < n; r++) {
		const float *x = in + (size_t)r * classes;
		float *y = out + (size_t)r * classes;
		const __m512 m = _mm512_set1_ps(row_max(x, classes));
		__m512 s0 = _mm512_setzero_ps(), s1 = s0;
		int i = 0;
		for (; i + 32 <= classes; i += 32) {
			const __m512 e0 = ck_vexp_avx512(_mm512_sub_ps(_mm512_loadu_ps(x + i), m));
			const __m512 e1 =
				ck_vexp_avx512(_mm512_sub_ps(_mm512_loadu_ps(x + i + 16), m));
			_mm512_storeu_ps(y + i, e0);
			_mm512_storeu_ps(y + i + 16, e1);
			s0 = _mm512_add_ps(s0, e0);
			s1 = _mm512_add_ps(s1, e1);
		}
		for (; i + 16 <= classes; i += 16) {
			const __m512 e = ck_vexp_avx512(_mm512_sub_ps(_mm512_loadu_ps(x + i), m));
			_mm512_storeu_ps(y + i, e);
			s0 = _mm512_add_ps(s0, e);
		}
		const __mmask16 k = (__mmask16)((1u << (classes - i)) - 1);
		if (i < classes) {
			const __m512 e = ck_vexp_avx512(_mm512_sub_ps(load_tail(x + i, k), m));
			_mm512_mask_storeu_ps(y + i, k, e);
			s1 = _mm512_add_ps(s1, e);
		}
		/* one reciprocal then products, as torch's softmax does */
		const __m512 inv =
			_mm512_set1_ps(1.0f / _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)));
		for (i = 0; i + 16 <= classes; i += 16)
			_mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_loadu_ps(y + i), inv));
		if (i < classes)
			_mm512_mask_storeu_ps(y + i, k,
					      _mm512_mul_ps(_mm512_maskz_loadu_ps(k, y + i), inv));
	}
}

/* Entropy terms of one vector of logits: the argument of exp is clamped first so
 * that a -inf logit adds 0 * (-104), not 0 * -inf, to T. */
CK_INLINE void ent16(__m512 x, __m512 m, __m512 *s, __m512 *t)
{
	/* NaN stays in the second operand */
	const __m512 z = _mm512_max_ps(_mm512_set1_ps(CK_EXP_LO), _mm512_sub_ps(x, m));
	const __m512 e = ck_vexp_avx512(z);
	*s = _mm512_add_ps(*s, e);
	*t = _mm512_fmadd_ps(e, z, *t);
}

void ck_softmax_entropy__avx512(const float *in, float *out, int n, int classes)
{
	for (int r = 0; r < n; r++) {
		const float *x = in + (size_t)r * classes;
		const __m512 m = _mm512_set1_ps(row_max(x, classes));
		__m512 s0 = _mm512_setzero_ps(), s1 = s0, t0 = s0, t1 = s0;
		int i = 0;
		for (; i + 32 <= classes; i += 32) {
			ent16(_mm512_loadu_ps(x + i), m, &s0, &t0);
			ent16(_mm512_loadu_ps(x + i + 16), m, &s1, &t1);
		}
		for (; i + 16 <= classes; i += 16)
			ent16(_mm512_loadu_ps(x + i), m, &s0, &t0);
		if (i < classes)
			ent16(load_tail(x + i, (__mmask16)((1u << (classes - i)) - 1)), m, &s1,
			      &t1);
		const double s = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
		const double t = _mm512_reduce_add_ps(_mm512_add_ps(t0, t1));
		out[r] = (float)(log(s) - t / s);
	}
}
