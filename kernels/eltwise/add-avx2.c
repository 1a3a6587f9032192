/* Residual add, 8 lanes; a masked load/store finishes the tail so nothing past
 * count is touched. vaddps rounds as the scalar addss does: bit-exact. */
#include <immintrin.h>

#include "internal.h"

void ck_add__avx2(const float *a, const float *b, float *out, size_t count)
{
	size_t i = 0;
	for (; i + 32 <= count; i += 32) {
		/* all loads before the stores: out == a or out == b is allowed */
		const __m256 s0 = _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
		const __m256 s1 = _mm256_add_ps(_mm256_loadu_ps(a + i + 8),
						_mm256_loadu_ps(b + i + 8));
		const __m256 s2 = _mm256_add_ps(_mm256_loadu_ps(a + i + 16),
						_mm256_loadu_ps(b + i + 16));
		const __m256 s3 = _mm256_add_ps(_mm256_loadu_ps(a + i + 24),
						_mm256_loadu_ps(b + i + 24));
		_mm256_storeu_ps(out + i, s0);
		_mm256_storeu_ps(out + i + 8, s1);
		_mm256_storeu_ps(out + i + 16, s2);
		_mm256_storeu_ps(out + i + 24, s3);
	}
	for (; i + 8 <= count; i += 8)
		_mm256_storeu_ps(out + i,
				 _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
	if (i < count) {
		const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(count - i)),
							_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
		_mm256_maskstore_ps(out + i, mask,
				    _mm256_add_ps(_mm256_maskload_ps(a + i, mask),
						  _mm256_maskload_ps(b + i, mask)));
	}
}
