/* Residual add, 16 lanes; a masked load/store finishes the tail so nothing past
 * count is touched. vaddps rounds as the scalar addss does: bit-exact. */
#include <immintrin.h>

#include "internal.h"

void ck_add__avx512(const float *a, const float *b, float *out, size_t count)
{
	size_t i = 0;
	for (; i + 64 <= count; i += 64) {
		/* all loads before the stores: out == a or out == b is allowed */
		const __m512 s0 = _mm512_add_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
		const __m512 s1 = _mm512_add_ps(_mm512_loadu_ps(a + i + 16),
						_mm512_loadu_ps(b + i + 16));
		const __m512 s2 = _mm512_add_ps(_mm512_loadu_ps(a + i + 32),
						_mm512_loadu_ps(b + i + 32));
		const __m512 s3 = _mm512_add_ps(_mm512_loadu_ps(a + i + 48),
						_mm512_loadu_ps(b + i + 48));
		_mm512_storeu_ps(out + i, s0);
		_mm512_storeu_ps(out + i + 16, s1);
		_mm512_storeu_ps(out + i + 32, s2);
		_mm512_storeu_ps(out + i + 48, s3);
	}
	for (; i + 16 <= count; i += 16)
		_mm512_storeu_ps(out + i,
				 _mm512_add_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)));
	if (i < count) {
		const __mmask16 k = (__mmask16)((1u << (count - i)) - 1);
		_mm512_mask_storeu_ps(out + i, k,
				      _mm512_add_ps(_mm512_maskz_loadu_ps(k, a + i),
						    _mm512_maskz_loadu_ps(k, b + i)));
	}
}
