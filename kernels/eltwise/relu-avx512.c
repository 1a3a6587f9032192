/* max(0, x) in that operand order: vmaxps returns its second operand when the
 * compare fails, so NaN and -0 pass through unchanged like the reference. */
#include <immintrin.h>

#include "internal.h"

void ck_relu__avx512(const float *in, float *out, size_t count)
{
	const __m512 zero = _mm512_setzero_ps();
	size_t i = 0;
	for (; i + 64 <= count; i += 64) {
		/* all loads before the stores: in == out is allowed */
		const __m512 a = _mm512_loadu_ps(in + i), b = _mm512_loadu_ps(in + i + 16);
		const __m512 c = _mm512_loadu_ps(in + i + 32), d = _mm512_loadu_ps(in + i + 48);
		_mm512_storeu_ps(out + i, _mm512_max_ps(zero, a));
		_mm512_storeu_ps(out + i + 16, _mm512_max_ps(zero, b));
		_mm512_storeu_ps(out + i + 32, _mm512_max_ps(zero, c));
		_mm512_storeu_ps(out + i + 48, _mm512_max_ps(zero, d));
	}
	for (; i + 16 <= count; i += 16)
		_mm512_storeu_ps(out + i, _mm512_max_ps(zero, _mm512_loadu_ps(in + i)));
	if (i < count) {
		const __mmask16 k = (__mmask16)((1u << (count - i)) - 1);
		_mm512_mask_storeu_ps(out + i, k,
				      _mm512_max_ps(zero, _mm512_maskz_loadu_ps(k, in + i)));
	}
}
