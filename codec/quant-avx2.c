/* AVX2 level of quantization and bit packing; bit-exact against quant-scalar.c
 * (semantics in quant-internal.h). Tails go through the shared scalar helpers. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "quant-internal.h"

static inline __m256 finite_or(__m256 v, __m256 fill)
{
	const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
	__m256 fin = _mm256_cmp_ps(_mm256_and_ps(v, absm), _mm256_set1_ps(FLT_MAX), _CMP_LE_OQ);
	return _mm256_blendv_ps(fill, v, fin);
}

static void minmax1(const float *p, size_t len, float *mn, float *mx)
{
	const __m256 pinf = _mm256_set1_ps(INFINITY), ninf = _mm256_set1_ps(-INFINITY);
	/* Two accumulators per side hide the min/max latency. */
	__m256 lo0 = pinf, lo1 = pinf, hi0 = ninf, hi1 = ninf;
	size_t i = 0;
	for (; i + 16 <= len; i += 16) {
		__m256 a = _mm256_loadu_ps(p + i), b = _mm256_loadu_ps(p + i + 8);
		lo0 = _mm256_min_ps(lo0, finite_or(a, pinf));
		hi0 = _mm256_max_ps(hi0, finite_or(a, ninf));
		lo1 = _mm256_min_ps(lo1, finite_or(b, pinf));
		hi1 = _mm256_max_ps(hi1, finite_or(b, ninf));
	}
	float l[8], h[8];
	_mm256_storeu_ps(l, _mm256_min_ps(lo0, lo1));
	_mm256_storeu_ps(h, _mm256_max_ps(hi0, hi1));
	float lo = INFINITY, hi = -INFINITY;
	for (int k = 0; k < 8; k++) {
		lo = l[k] < lo ? l[k] : lo;
		hi = h[k] > hi ? h[k] : hi;
	}
	for (; i < len; i++) {
		float v = p[i];
		if (!cc_finite(v))
			continue;
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	cc_minmax_finish(lo, hi, mn, mx);
}

void cc_minmax__avx2(const float *x, size_t channels, size_t plane, int per_channel, float *mn,
		     float *mx)
{
	size_t groups = per_channel ? channels : 1, len = per_channel ? plane : channels * plane;
	for (size_t g = 0; g < groups; g++)
		minmax1(x + g * len, len, &mn[g], &mx[g]);
}

static inline __m256i quant8(__m256 x, __m256 m, __m256 s, __m256 lv)
{
	__m256 t = _mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(x, m), s), _mm256_set1_ps(0.5f));
	t = _mm256_floor_ps(t);
	/* maxps returns its second operand when one is NaN: NaN -> 0. */
	t = _mm256_max_ps(t, _mm256_setzero_ps());
	t = _mm256_min_ps(t, lv);
	return _mm256_cvttps_epi32(t);
}

void cc_quantize__avx2(const float *x, size_t channels, size_t plane, int per_channel,
		       const float *mn, const float *mx, int bits, uint16_t *q)
{
	size_t groups = per_channel ? channels : 1, len = per_channel ? plane : channels * plane;
	float lv = cc_levels(bits);
	for (size_t g = 0; g < groups; g++) {
		const float *p = x + g * len;
		uint16_t *o = q + g * len;
		float m = mn[g], s = cc_scale(mn[g], mx[g], bits);
		__m256 vm = _mm256_set1_ps(m), vs = _mm256_set1_ps(s), vl = _mm256_set1_ps(lv);
		size_t i = 0;
		for (; i + 16 <= len; i += 16) {
			__m256i a = quant8(_mm256_loadu_ps(p + i), vm, vs, vl);
			__m256i b = quant8(_mm256_loadu_ps(p + i + 8), vm, vs, vl);
			/* packus works per 128-bit lane; the permute restores order. */
			__m256i w = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xD8);
			_mm256_storeu_si256((__m256i *)(o + i), w);
		}
		for (; i < len; i++)
			o[i] = cc_quant1(p[i], m, s, lv);
	}
}

void cc_dequantize__avx2(const uint16_t *q, size_t channels, size_t plane, int per_channel,
			 const float *mn, const float *mx, int bits, float *x)
{
	size_t groups = per_channel ? channels : 1, len = per_channel ? plane : channels * plane;
	for (size_t g = 0; g < groups; g++) {
		const uint16_t *p = q + g * len;
		float *o = x + g * len;
		float m = mn[g], st = cc_step(mn[g], mx[g], bits);
		__m256 vm = _mm256_set1_ps(m), vs = _mm256_set1_ps(st);
		size_t i = 0;
		for (; i + 16 <= len; i += 16) {
			__m256i w = _mm256_loadu_si256((const __m256i *)(p + i));
			__m256i a = _mm256_cvtepu16_epi32(_mm256_castsi256_si128(w));
			__m256i b = _mm256_cvtepu16_epi32(_mm256_extracti128_si256(w, 1));
			_mm256_storeu_ps(o + i, _mm256_fmadd_ps(_mm256_cvtepi32_ps(a), vs, vm));
			_mm256_storeu_ps(o + i + 8, _mm256_fmadd_ps(_mm256_cvtepi32_ps(b), vs, vm));
		}
		for (; i < len; i++)
			o[i] = fmaf((float)p[i], st, m);
	}
}

void cc_pack__avx2(const uint16_t *q, size_t n, int bits, uint8_t *out)
{
	size_t i = 0;
	switch (bits) {
	case 16:
		if (n)
			memcpy(out, q, n * 2); /* little-endian u16 is the 16-bit stream */
		return;
	case 8: {
		const __m256i m8 = _mm256_set1_epi16(0xFF);
		for (; i + 32 <= n; i += 32) {
			__m256i a = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(q + i)), m8);
			__m256i b =
				_mm256_and_si256(_mm256_loadu_si256((const __m256i *)(q + i + 16)), m8);
			__m256i r = _mm256_permute4x64_epi64(_mm256_packus_epi16(a, b), 0xD8);
			_mm256_storeu_si256((__m256i *)(out + i), r);
		}
		break;
	}
	case 4: {
		const __m256i lo = _mm256_set1_epi32(0xF), hi = _mm256_set1_epi32(0xF0);
		const __m256i gather = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1,
							-1, -1, -1, 0, 4, 8, 12, -1, -1, -1, -1, -1,
							-1, -1, -1, -1, -1, -1, -1);
		for (; i + 16 <= n; i += 16) {
			/* A symbol pair is one 32-bit lane: even in bits 0-3, odd in 16-19. */
			__m256i v = _mm256_loadu_si256((const __m256i *)(q + i));
			__m256i t = _mm256_or_si256(_mm256_and_si256(v, lo),
						    _mm256_and_si256(_mm256_srli_epi32(v, 12), hi));
			t = _mm256_shuffle_epi8(t, gather);
			__m128i r = _mm_unpacklo_epi32(_mm256_castsi256_si128(t),
						       _mm256_extracti128_si256(t, 1));
			_mm_storel_epi64((__m128i *)(out + i / 2), r);
		}
		break;
	}
	case 12: {
		const __m256i m12 = _mm256_set1_epi32(0x0FFF0FFF), lo = _mm256_set1_epi32(0xFFF);
		const __m256i mid = _mm256_set1_epi32(0xFFF000); /* odd symbol, bits 12-23 */
		const __m256i gather = _mm256_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1,
							-1, -1, 0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14,
							-1, -1, -1, -1);
		size_t nb = cc_packed_bytes(n, bits);
		/* Each lane stores 16 bytes of which 12 count; the second store overlaps,
		 * so stay 28 bytes clear of the end and let the scalar tail finish. */
		for (; i + 16 <= n && i / 2 * 3 + 28 <= nb; i += 16) {
			__m256i v = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(q + i)), m12);
			__m256i t = _mm256_or_si256(_mm256_and_si256(v, lo),
						    _mm256_and_si256(_mm256_srli_epi32(v, 4), mid));
			t = _mm256_shuffle_epi8(t, gather);
			uint8_t *o = out + i / 2 * 3;
			_mm_storeu_si128((__m128i *)o, _mm256_castsi256_si128(t));
			_mm_storeu_si128((__m128i *)(o + 12), _mm256_extracti128_si256(t, 1));
		}
		break;
	}
	default:
		break;
	}
	/* Fast paths stop on a symbol whose first bit starts a byte. */
	if (i < n)
		cc_pack__scalar(q + i, n - i, bits, out + i * (size_t)bits / 8);
}

void cc_unpack__avx2(const uint8_t *in, size_t n, int bits, uint16_t *q)
{
	size_t i = 0;
	switch (bits) {
	case 16:
		if (n)
			memcpy(q, in, n * 2);
		return;
	case 8:
		for (; i + 16 <= n; i += 16) {
			__m128i b = _mm_loadu_si128((const __m128i *)(in + i));
			_mm256_storeu_si256((__m256i *)(q + i), _mm256_cvtepu8_epi16(b));
		}
		break;
	case 4: {
		const __m256i lo = _mm256_set1_epi32(0xF), hi = _mm256_set1_epi32(0xF0000);
		for (; i + 16 <= n; i += 16) {
			/* One byte per 32-bit lane becomes a symbol pair in that lane. */
			__m256i d = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(in + i / 2)));
			__m256i r = _mm256_or_si256(_mm256_and_si256(d, lo),
						    _mm256_and_si256(_mm256_slli_epi32(d, 12), hi));
			_mm256_storeu_si256((__m256i *)(q + i), r);
		}
		break;
	}
	case 12: {
		/* Per lane, 4 pairs of 3 bytes: word 2k = bytes 3k,3k+1; 2k+1 = 3k+1,3k+2. */
		const __m256i spread = _mm256_setr_epi8(0, 1, 1, 2, 3, 4, 4, 5, 6, 7, 7, 8, 9, 10, 10,
							11, 0, 1, 1, 2, 3, 4, 4, 5, 6, 7, 7, 8, 9, 10,
							10, 11);
		const __m256i m12 = _mm256_set1_epi16(0x0FFF);
		size_t nb = cc_packed_bytes(n, bits);
		for (; i + 16 <= n && i / 2 * 3 + 28 <= nb; i += 16) {
			const uint8_t *p = in + i / 2 * 3;
			__m256i v = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)(p + 12)),
						     _mm_loadu_si128((const __m128i *)p));
			v = _mm256_shuffle_epi8(v, spread);
			v = _mm256_blend_epi16(_mm256_and_si256(v, m12), _mm256_srli_epi16(v, 4), 0xAA);
			_mm256_storeu_si256((__m256i *)(q + i), v);
		}
		break;
	}
	default:
		break;
	}
	if (i < n)
		cc_unpack__scalar(in + i * (size_t)bits / 8, n - i, bits, q + i);
}
