/* exp and log over __m256 lanes, shared by the LRN and softmax kernels.
 *
 * exp: Cody-Waite reduction x = n*ln2 + r with |r| <= ln2/2, Cephes' degree-7
 * expf polynomial, then y * 2^n applied as two half-exponent scalings so that n
 * may reach 128 (finite results up to expf's overflow at 88.72) and results below
 * 2^-126 round once into the subnormals as expf's do. Max relative error against
 * double exp, measured over every 22nd float in [-87.3, 88.72]: 8.5e-8 (under
 * 1.5 ulp, the float rounding of the result included); inputs below -104 give 0,
 * above 89 +inf, NaN stays NaN.
 *
 * log: Cephes' logf for positive normal inputs only (callers route zero,
 * subnormals, inf and NaN elsewhere). Measured over every 80th normal float: max
 * relative error 8.1e-8 where |log x| > 0.5, absolute 2.5e-8 nearer x = 1. */
#ifndef CK_VMATH_AVX2_H
#define CK_VMATH_AVX2_H

#include <immintrin.h>

#define CK_EXP_LO -104.0f /* expf rounds to 0 below -103.97 */
#define CK_EXP_HI 89.0f /* expf overflows above 88.73 */

static inline __m256 ck_vexp_avx2(__m256 x)
{
	/* max/min return their second operand when either is NaN: keep x there */
	x = _mm256_min_ps(_mm256_set1_ps(CK_EXP_HI), _mm256_max_ps(_mm256_set1_ps(CK_EXP_LO), x));
	const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
					 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	/* ln2 split so that n*hi is exact for |n| < 2^15 */
	__m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
	r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
	__m256 p = _mm256_set1_ps(1.9875691500e-4f);
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
	p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
	p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
	const __m256i ni = _mm256_cvtps_epi32(n);
	const __m256i n1 = _mm256_srai_epi32(ni, 1);
	const __m256i n2 = _mm256_sub_epi32(ni, n1);
	const __m256i bias = _mm256_set1_epi32(127);
	const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
	const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
	return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

static inline __m256 ck_vlog_avx2(__m256 x)
{
	const __m256i xi = _mm256_castps_si256(x);
	/* x = 2^e * m with m in [0.5, 1) */
	__m256 e = _mm256_cvtepi32_ps(
		_mm256_sub_epi32(_mm256_srli_epi32(xi, 23), _mm256_set1_epi32(126)));
	__m256 m = _mm256_castsi256_ps(
		_mm256_or_si256(_mm256_and_si256(xi, _mm256_set1_epi32(0x007fffff)),
				_mm256_set1_epi32(0x3f000000)));
	/* move m into [sqrt(1/2), sqrt(2)) so the polynomial sees |m - 1| <= 0.414 */
	const __m256 small = _mm256_cmp_ps(m, _mm256_set1_ps(0.707106781186547524f), _CMP_LT_OQ);
	e = _mm256_sub_ps(e, _mm256_and_ps(small, _mm256_set1_ps(1.0f)));
	const __m256 f =
		_mm256_add_ps(_mm256_sub_ps(m, _mm256_set1_ps(1.0f)), _mm256_and_ps(small, m));
	const __m256 z = _mm256_mul_ps(f, f);
	__m256 y = _mm256_set1_ps(7.0376836292e-2f);
	y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(-1.1514610310e-1f));
	y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(1.1676998740e-1f));
	y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(-1.2420140846e-1f));
	y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(1.4249322787e-1f));
	y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(-1.6668057665e-1f));
	y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(2.0000714765e-1f));
	y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(-2.4999993993e-1f));
	y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(3.3333331174e-1f));
	y = _mm256_mul_ps(_mm256_mul_ps(y, f), z);
	y = _mm256_fmadd_ps(e, _mm256_set1_ps(-2.12194440e-4f), y);
	y = _mm256_fnmadd_ps(z, _mm256_set1_ps(0.5f), y);
	return _mm256_fmadd_ps(e, _mm256_set1_ps(0.693359375f), _mm256_add_ps(f, y));
}

#endif
