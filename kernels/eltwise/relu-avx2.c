/* max(0, x) in that operand order: vmaxps returns its second operand when the
 * compare fails, so NaN and -0 pass through unchanged like the reference. */
#include <immintrin.h>

#include "internal.h"

void ck_relu__avx2(const float *in, float *out, size_t count)
{
	const __m256 zero = _mm256_setzero_ps();
	size_t i = 0;
	for (; i + 32 <= count; i += 32) {
		/* all loads before the stores: in == out is allowed */
		const __m256 a = _mm256_loadu_ps(in + i), b = _mm256_loadu_ps(in + i + 8);
		const __m256 c = _mm256_loadu_ps(in + i + 16), d = _mm256_loadu_ps(in + i + 24);
		_mm256_storeu_ps(out + i, _mm256_max_ps(zero, a));
		_mm256_storeu_ps(out + i + 8, _mm256_max_ps(zero, b));
		_mm256_storeu_ps(out + i + 16, _mm256_max_ps(zero, c));
		_mm256_storeu_ps(out + i + 24, _mm256_max_ps(zero, d));
	}
	for (; i + 8 <= count; i += 8)
		_mm256_storeu_ps(out + i, _mm256_max_ps(zero, _mm256_loadu_ps(in + i)));
	if (i < count) {
		const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(count - i)),
							_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
		_mm256_maskstore_ps(out + i, mask,
				    _mm256_max_ps(zero, _mm256_maskload_ps(in + i, mask)));
	}
}
