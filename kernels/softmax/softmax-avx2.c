/* Softmax and its entropy with ymm vectors along the row: a max pass, an exp
 * pass (exp from vmath-avx2.h, ~1 ulp) that also sums, and for softmax a scaling
 * pass. The last partial vector loads masked with -inf in the missing lanes, which
 * exp turns into 0 and so into nothing in either sum. */
#include <immintrin.h>
#include <math.h>

#include "eltwise/vmath-avx2.h"
#include "internal.h"

#define CK_INLINE static inline __attribute__((always_inline))

CK_INLINE __m256i tail_mask(int rem)
{
	return _mm256_cmpgt_epi32(_mm256_set1_epi32(rem),
				  _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

CK_INLINE __m256 load_tail(const float *p, __m256i mask)
{
	return _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), _mm256_maskload_ps(p, mask),
				_mm256_castsi256_ps(mask));
}

CK_INLINE float hsum8(__m256 v)
{
	__m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	a = _mm_add_ps(a, _mm_movehl_ps(a, a));
	return _mm_cvtss_f32(_mm_add_ss(a, _mm_shuffle_ps(a, a, 1)));
}

/* A NaN may be dropped here; it still turns its row's sum, and so the row, NaN. */
static float row_max(const float *x, int classes)
{
	__m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
	int i = 0;
	for (; i + 32 <= classes; i += 32) {
		m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + i));
		m1 = _mm256_max_ps(m1, _mm256_loadu_ps(x + i + 8));
		m2 = _mm256_max_ps(m2, _mm256_loadu_ps(x + i + 16));
		m3 = _mm256_max_ps(m3, _mm256_loadu_ps(x + i + 24));
	}
	for (; i + 8 <= classes; i += 8)
		m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + i));
	if (i < classes)
		m1 = _mm256_max_ps(m1, load_tail(x + i, tail_mask(classes - i)));
	m0 = _mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3));
	__m128 a = _mm_max_ps(_mm256_castps256_ps128(m0), _mm256_extractf128_ps(m0, 1));
	a = _mm_max_ps(a, _mm_movehl_ps(a, a));
	return _mm_cvtss_f32(_mm_max_ss(a, _mm_shuffle_ps(a, a, 1)));
}

void ck_softmax__avx2(const float *in, float *out, int n, int classes)
{
	for (int r = 0; r < n; r++) {
		const float *x = in + (size_t)r * classes;
		float *y = out + (size_t)r * classes;
		const __m256 m = _mm256_set1_ps(row_max(x, classes));
		__m256 s0 = _mm256_setzero_ps(), s1 = s0;
		int i = 0;
		for (; i + 16 <= classes; i += 16) {
			const __m256 e0 = ck_vexp_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
			const __m256 e1 =
				ck_vexp_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), m));
			_mm256_storeu_ps(y + i, e0);
			_mm256_storeu_ps(y + i + 8, e1);
			s0 = _mm256_add_ps(s0, e0);
			s1 = _mm256_add_ps(s1, e1);
		}
		for (; i + 8 <= classes; i += 8) {
			const __m256 e = ck_vexp_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
			_mm256_storeu_ps(y + i, e);
			s0 = _mm256_add_ps(s0, e);
		}
		const __m256i mask = tail_mask(classes - i);
		if (i < classes) {
			const __m256 e = ck_vexp_avx2(_mm256_sub_ps(load_tail(x + i, mask), m));
			_mm256_maskstore_ps(y + i, mask, e);
			s1 = _mm256_add_ps(s1, e);
		}
		/* one reciprocal then products, as torch's softmax does */
		const __m256 inv = _mm256_set1_ps(1.0f / hsum8(_mm256_add_ps(s0, s1)));
		for (i = 0; i + 8 <= classes; i += 8)
			_mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), inv));
		if (i < classes)
			_mm256_maskstore_ps(y + i, mask,
					    _mm256_mul_ps(_mm256_maskload_ps(y + i, mask), inv));
	}
}

/* Entropy terms of one vector of logits: the argument of exp is clamped first so
 * that a -inf logit adds 0 * (-104), not 0 * -inf, to T. */
CK_INLINE void ent8(__m256 x, __m256 m, __m256 *s, __m256 *t)
{
	/* NaN stays in the second operand */
	const __m256 z = _mm256_max_ps(_mm256_set1_ps(CK_EXP_LO), _mm256_sub_ps(x, m));
	const __m256 e = ck_vexp_avx2(z);
	*s = _mm256_add_ps(*s, e);
	*t = _mm256_fmadd_ps(e, z, *t);
}

void ck_softmax_entropy__avx2(const float *in, float *out, int n, int classes)
{
	for (int r = 0; r < n; r++) {
		const float *x = in + (size_t)r * classes;
		const __m256 m = _mm256_set1_ps(row_max(x, classes));
		__m256 s0 = _mm256_setzero_ps(), s1 = s0, t0 = s0, t1 = s0;
		int i = 0;
		for (; i + 16 <= classes; i += 16) {
			ent8(_mm256_loadu_ps(x + i), m, &s0, &t0);
			ent8(_mm256_loadu_ps(x + i + 8), m, &s1, &t1);
		}
		for (; i + 8 <= classes; i += 8)
			ent8(_mm256_loadu_ps(x + i), m, &s0, &t0);
		if (i < classes)
			ent8(load_tail(x + i, tail_mask(classes - i)), m, &s1, &t1);
		const double s = hsum8(_mm256_add_ps(s0, s1)), t = hsum8(_mm256_add_ps(t0, t1));
		out[r] = (float)(log(s) - t / s);
	}
}
