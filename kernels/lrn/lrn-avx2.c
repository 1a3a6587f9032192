/* LRN with ymm vectors across eight pixels of one channel. beta = 0.75 (AlexNet's,
 * and so the model's) takes a / (sqrt(s) * sqrt(sqrt(s))), all correctly rounded
 * steps; other betas use a * exp(-beta * log(s)) from vmath-avx2.h, with lanes
 * outside log's domain (s zero, negative, subnormal, inf, NaN) redone by powf so
 * the special cases match the reference. */
#include <float.h>
#include <immintrin.h>

#include "eltwise/vmath-avx2.h"
#include "lrn-common.h"

#define CK_INLINE static inline __attribute__((always_inline))

CK_INLINE __m256 ld8(const float *p, int full, __m256i mask)
{
	return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask);
}

/* Eight outputs at pixel p (the lanes of mask unless full). */
CK_INLINE void ck_f32_lrn_ukernel__avx2(const struct ck_lrn_desc *d, const float *x, float *y,
					size_t hw, int c, int c0, int c1, size_t p, int full,
					__m256i mask, int beta75)
{
	__m256 sum = _mm256_setzero_ps();
	for (int j = c0; j <= c1; j++) {
		const __m256 v = ld8(x + (size_t)j * hw + p, full, mask);
		sum = _mm256_add_ps(sum, _mm256_mul_ps(v, v));
	}
	/* product and sum rounded apart (no FMA), as the reference */
	const __m256 s = _mm256_add_ps(_mm256_set1_ps(d->k),
				       _mm256_mul_ps(_mm256_set1_ps(ck_lrn_scale(d)), sum));
	const __m256 a = ld8(x + (size_t)c * hw + p, full, mask);
	__m256 r;
	if (beta75) {
		const __m256 q = _mm256_sqrt_ps(s);
		r = _mm256_div_ps(a, _mm256_mul_ps(q, _mm256_sqrt_ps(q)));
	} else {
		const __m256 pw =
			ck_vexp_avx2(_mm256_mul_ps(_mm256_set1_ps(-d->beta), ck_vlog_avx2(s)));
		r = _mm256_mul_ps(a, pw);
		const __m256 ok =
			_mm256_and_ps(_mm256_cmp_ps(s, _mm256_set1_ps(FLT_MIN), _CMP_GE_OQ),
				      _mm256_cmp_ps(s, _mm256_set1_ps(FLT_MAX), _CMP_LE_OQ));
		const int bad = ~_mm256_movemask_ps(ok) & 0xff;
		if (bad) {
			float av[8], sv[8], rv[8];
			_mm256_storeu_ps(av, a);
			_mm256_storeu_ps(sv, s);
			_mm256_storeu_ps(rv, r);
			for (int i = 0; i < 8; i++)
				if (bad >> i & 1)
					rv[i] = av[i] * powf(sv[i], -d->beta);
			r = _mm256_loadu_ps(rv);
		}
	}
	if (full)
		_mm256_storeu_ps(y + (size_t)c * hw + p, r);
	else
		_mm256_maskstore_ps(y + (size_t)c * hw + p, mask, r);
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
			for (; p + 8 <= pe; p += 8)
				ck_f32_lrn_ukernel__avx2(d, x, y, hw, c, c0, c1, p, 1,
							 _mm256_setzero_si256(), beta75);
			if (p < pe) {
				const __m256i mask = _mm256_cmpgt_epi32(
					_mm256_set1_epi32((int)(pe - p)),
					_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
				ck_f32_lrn_ukernel__avx2(d, x, y, hw, c, c0, c1, p, 0, mask,
							 beta75);
			}
		}
	}
}

void ck_lrn__avx2(const struct ck_lrn_desc *d, const float *in, float *out, int n)
{
	const size_t isz = (size_t)d->c * d->h * d->w;
	for (int b = 0; b < n; b++) {
		if (d->beta == 0.75f)
			lrn_image(d, in + b * isz, out + b * isz, 1);
		else
			lrn_image(d, in + b * isz, out + b * isz, 0);
	}
}
