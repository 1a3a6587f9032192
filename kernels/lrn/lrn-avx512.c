/* LRN with zmm vectors across sixteen pixels of one channel, the last partial
 * vector of a tile masked. beta = 0.75 (AlexNet's, and so the model's) takes
 * a / (sqrt(s) * sqrt(sqrt(s))), all correctly rounded steps; other betas use
 * a * exp(-beta * log(s)) from vmath-avx512.h, with lanes outside log's domain
 * (s zero, negative, inf, NaN) redone by powf so the special cases match the
 * reference. */
#include <float.h>
#include <immintrin.h>

#include "eltwise/vmath-avx512.h"
#include "lrn-common.h"

#define CK_INLINE static inline __attribute__((always_inline))

/* Sixteen outputs at pixel p, the lanes of k. */
CK_INLINE void ck_f32_lrn_ukernel__avx512(const struct ck_lrn_desc *d, const float *x, float *y,
					  size_t hw, int c, int c0, int c1, size_t p, __mmask16 k,
					  int beta75)
{
	__m512 sum = _mm512_setzero_ps();
	for (int j = c0; j <= c1; j++) {
		const __m512 v = _mm512_maskz_loadu_ps(k, x + (size_t)j * hw + p);
		sum = _mm512_add_ps(sum, _mm512_mul_ps(v, v));
	}
	/* product and sum rounded apart (no FMA), as the reference */
	const __m512 s = _mm512_add_ps(_mm512_set1_ps(d->k),
				       _mm512_mul_ps(_mm512_set1_ps(ck_lrn_scale(d)), sum));
	const __m512 a = _mm512_maskz_loadu_ps(k, x + (size_t)c * hw + p);
	__m512 r;
	if (beta75) {
		const __m512 q = _mm512_sqrt_ps(s);
		r = _mm512_div_ps(a, _mm512_mul_ps(q, _mm512_sqrt_ps(q)));
	} else {
		const __m512 pw =
			ck_vexp_avx512(_mm512_mul_ps(_mm512_set1_ps(-d->beta), ck_vlog_avx512(s)));
		r = _mm512_mul_ps(a, pw);
		/* vgetexpps/vgetmantps take subnormals, so only the smallest
		 * positive float bounds the domain from below */
		const __mmask16 ok = _mm512_cmp_ps_mask(s, _mm512_set1_ps(0x1p-149f), _CMP_GE_OQ) &
				     _mm512_cmp_ps_mask(s, _mm512_set1_ps(FLT_MAX), _CMP_LE_OQ);
		const unsigned bad = (unsigned)(k & ~ok);
		if (bad) {
			float av[16], sv[16], rv[16];
			_mm512_storeu_ps(av, a);
			_mm512_storeu_ps(sv, s);
			_mm512_storeu_ps(rv, r);
			for (int i = 0; i < 16; i++)
				if (bad >> i & 1)
					rv[i] = av[i] * powf(sv[i], -d->beta);
			r = _mm512_loadu_ps(rv);
		}
	}
	_mm512_mask_storeu_ps(y + (size_t)c * hw + p, k, r);
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
			for (; p + 16 <= pe; p += 16)
				ck_f32_lrn_ukernel__avx512(d, x, y, hw, c, c0, c1, p, 0xffff,
							   beta75);
			if (p < pe)
				ck_f32_lrn_ukernel__avx512(d, x, y, hw, c, c0, c1, p,
							   (__mmask16)((1u << (pe - p)) - 1),
							   beta75);
		}
	}
}

void ck_lrn__avx512(const struct ck_lrn_desc *d, const float *in, float *out, int n)
{
	const size_t isz = (size_t)d->c * d->h * d->w;
	for (int b = 0; b < n; b++) {
		if (d->beta == 0.75f)
			lrn_image(d, in + b * isz, out + b * isz, 1);
		else
			lrn_image(d, in + b * isz, out + b * isz, 0);
	}
}
