/* exp and log over __m512 lanes, shared by the LRN and softmax kernels. Same
 * reductions and Cephes polynomials as vmath-avx2.h (and so the same error
 * bounds); AVX-512 scales by 2^n with vscalefps, which rounds into the
 * subnormals once, and splits x with vgetexpps/vgetmantps, which also take
 * subnormal inputs. */
#ifndef CK_VMATH_AVX512_H
#define CK_VMATH_AVX512_H

#include <immintrin.h>

#define CK_EXP_LO -104.0f /* expf rounds to 0 below -103.97 */
#define CK_EXP_HI 89.0f /* expf overflows above 88.73 */

static inline __m512 ck_vexp_avx512(__m512 x)
{
	/* max/min return their second operand when either is NaN: keep x there */
	x = _mm512_min_ps(_mm512_set1_ps(CK_EXP_HI), _mm512_max_ps(_mm512_set1_ps(CK_EXP_LO), x));
	const __m512 n =
		_mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
				     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
	r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
	__m512 p = _mm512_set1_ps(1.9875691500e-4f);
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
	p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
	p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
	return _mm512_scalef_ps(p, n);
}

/* Valid for positive finite x, subnormals included. */
static inline __m512 ck_vlog_avx512(__m512 x)
{
	/* x = 2^e * m with m in [1, 2), then m halved above sqrt(2) so the
	 * polynomial sees |m - 1| <= 0.414 */
	__m512 e = _mm512_getexp_ps(x);
	__m512 m = _mm512_getmant_ps(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);
	const __mmask16 big =
		_mm512_cmp_ps_mask(m, _mm512_set1_ps(1.41421356237309505f), _CMP_GE_OQ);
	m = _mm512_mask_mul_ps(m, big, m, _mm512_set1_ps(0.5f));
	e = _mm512_mask_add_ps(e, big, e, _mm512_set1_ps(1.0f));
	const __m512 f = _mm512_sub_ps(m, _mm512_set1_ps(1.0f));
	const __m512 z = _mm512_mul_ps(f, f);
	__m512 y = _mm512_set1_ps(7.0376836292e-2f);
	y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(-1.1514610310e-1f));
	y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(1.1676998740e-1f));
	y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(-1.2420140846e-1f));
	y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(1.4249322787e-1f));
	y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(-1.6668057665e-1f));
	y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(2.0000714765e-1f));
	y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(-2.4999993993e-1f));
	y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(3.3333331174e-1f));
	y = _mm512_mul_ps(_mm512_mul_ps(y, f), z);
	y = _mm512_fmadd_ps(e, _mm512_set1_ps(-2.12194440e-4f), y);
	y = _mm512_fnmadd_ps(z, _mm512_set1_ps(0.5f), y);
	return _mm512_fmadd_ps(e, _mm512_set1_ps(0.693359375f), _mm512_add_ps(f, y));
}

#endif
