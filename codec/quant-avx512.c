/* AVX-512 (F/BW/DQ/VL) level of quantization and bit packing; bit-exact against
 * quant-scalar.c (semantics in quant-internal.h). Masked loads and stores finish
 * the float loops without a scalar tail and without touching memory past the end. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "quant-internal.h"

static inline __mmask16 tail16(size_t r)
{
	return (__mmask16)((1u << r) - 1);
}

static inline __mmask32 tail32(size_t r)
{
	return (__mmask32)((1ull << r) - 1);
}

static void minmax1(const float *p, size_t len, float *mn, float *mx)
{
	const __m512 pinf = _mm512_set1_ps(INFINITY), ninf = _mm512_set1_ps(-INFINITY);
	const __m512 big = _mm512_set1_ps(FLT_MAX);
	__m512 lo0 = pinf, lo1 = pinf, hi0 = ninf, hi1 = ninf;
	size_t i = 0;
	for (; i + 32 <= len; i += 32) {
		__m512 a = _mm512_loadu_ps(p + i), b = _mm512_loadu_ps(p + i + 16);
		/* |v| <= FLT_MAX is false for NaN and +-inf: only finite lanes count. */
		__mmask16 ka = _mm512_cmp_ps_mask(_mm512_abs_ps(a), big, _CMP_LE_OQ);
		__mmask16 kb = _mm512_cmp_ps_mask(_mm512_abs_ps(b), big, _CMP_LE_OQ);
		lo0 = _mm512_mask_min_ps(lo0, ka, lo0, a);
		hi0 = _mm512_mask_max_ps(hi0, ka, hi0, a);
		lo1 = _mm512_mask_min_ps(lo1, kb, lo1, b);
		hi1 = _mm512_mask_max_ps(hi1, kb, hi1, b);
	}
	for (; i < len; i += 16) {
		__mmask16 t = len - i >= 16 ? (__mmask16)0xFFFF : tail16(len - i);
		__m512 a = _mm512_maskz_loadu_ps(t, p + i);
		__mmask16 ka = _mm512_mask_cmp_ps_mask(t, _mm512_abs_ps(a), big, _CMP_LE_OQ);
		lo0 = _mm512_mask_min_ps(lo0, ka, lo0, a);
		hi0 = _mm512_mask_max_ps(hi0, ka, hi0, a);
	}
	float lo = _mm512_reduce_min_ps(_mm512_min_ps(lo0, lo1));
	float hi = _mm512_reduce_max_ps(_mm512_max_ps(hi0, hi1));
	cc_minmax_finish(lo, hi, mn, mx);
}

void cc_minmax__avx512(const float *x, size_t channels, size_t plane, int per_channel,
		       float *mn, float *mx)
{
	size_t groups = per_channel ? channels : 1, len = per_channel ? plane : channels * plane;
	for (size_t g = 0; g < groups; g++)
		minmax1(x + g * len, len, &mn[g], &mx[g]);
}

static inline __m512i quant16(__m512 x, __m512 m, __m512 s, __m512 lv)
{
	__m512 t = _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(x, m), s), _mm512_set1_ps(0.5f));
	t = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
	/* maxps returns its second operand when one is NaN: NaN -> 0. */
	t = _mm512_max_ps(t, _mm512_setzero_ps());
	t = _mm512_min_ps(t, lv);
	return _mm512_cvttps_epi32(t);
}

void cc_quantize__avx512(const float *x, size_t channels, size_t plane, int per_channel,
			 const float *mn, const float *mx, int bits, uint16_t *q)
{
	size_t groups = per_channel ? channels : 1, len = per_channel ? plane : channels * plane;
	__m512 vl = _mm512_set1_ps(cc_levels(bits));
	for (size_t g = 0; g < groups; g++) {
		const float *p = x + g * len;
		uint16_t *o = q + g * len;
		__m512 vm = _mm512_set1_ps(mn[g]), vs = _mm512_set1_ps(cc_scale(mn[g], mx[g], bits));
		size_t i = 0;
		for (; i + 32 <= len; i += 32) {
			__m512i a = quant16(_mm512_loadu_ps(p + i), vm, vs, vl);
			__m512i b = quant16(_mm512_loadu_ps(p + i + 16), vm, vs, vl);
			_mm256_storeu_si256((__m256i *)(o + i), _mm512_cvtepi32_epi16(a));
			_mm256_storeu_si256((__m256i *)(o + i + 16), _mm512_cvtepi32_epi16(b));
		}
		for (; i < len; i += 16) {
			__mmask16 t = len - i >= 16 ? (__mmask16)0xFFFF : tail16(len - i);
			__m512i a = quant16(_mm512_maskz_loadu_ps(t, p + i), vm, vs, vl);
			_mm512_mask_cvtepi32_storeu_epi16(o + i, t, a);
		}
	}
}

void cc_dequantize__avx512(const uint16_t *q, size_t channels, size_t plane, int per_channel,
			   const float *mn, const float *mx, int bits, float *x)
{
	size_t groups = per_channel ? channels : 1, len = per_channel ? plane : channels * plane;
	for (size_t g = 0; g < groups; g++) {
		const uint16_t *p = q + g * len;
		float *o = x + g * len;
		__m512 vm = _mm512_set1_ps(mn[g]), vs = _mm512_set1_ps(cc_step(mn[g], mx[g], bits));
		size_t i = 0;
		for (; i + 32 <= len; i += 32) {
			__m512i w = _mm512_loadu_si512(p + i);
			__m512i a = _mm512_cvtepu16_epi32(_mm512_castsi512_si256(w));
			__m512i b = _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(w, 1));
			_mm512_storeu_ps(o + i, _mm512_fmadd_ps(_mm512_cvtepi32_ps(a), vs, vm));
			_mm512_storeu_ps(o + i + 16, _mm512_fmadd_ps(_mm512_cvtepi32_ps(b), vs, vm));
		}
		for (; i < len; i += 16) {
			__mmask16 t = len - i >= 16 ? (__mmask16)0xFFFF : tail16(len - i);
			__m512i a = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(t, p + i));
			_mm512_mask_storeu_ps(o + i, t, _mm512_fmadd_ps(_mm512_cvtepi32_ps(a), vs, vm));
		}
	}
}

void cc_pack__avx512(const uint16_t *q, size_t n, int bits, uint8_t *out)
{
	size_t i = 0;
	switch (bits) {
	case 16:
		if (n)
			memcpy(out, q, n * 2); /* little-endian u16 is the 16-bit stream */
		return;
	case 8:
		/* vpmovwb truncates, which is the mask to 8 bits. */
		for (; i < n; i += 32) {
			__mmask32 t = n - i >= 32 ? (__mmask32)0xFFFFFFFF : tail32(n - i);
			_mm512_mask_cvtepi16_storeu_epi8(out + i, t, _mm512_maskz_loadu_epi16(t, q + i));
		}
		return;
	case 4: {
		const __m512i lo = _mm512_set1_epi32(0xF), hi = _mm512_set1_epi32(0xF0);
		for (; i + 32 <= n; i += 32) {
			/* A symbol pair is one 32-bit lane: even in bits 0-3, odd in 16-19. */
			__m512i v = _mm512_loadu_si512(q + i);
			__m512i t = _mm512_or_si512(_mm512_and_si512(v, lo),
						    _mm512_and_si512(_mm512_srli_epi32(v, 12), hi));
			_mm_storeu_si128((__m128i *)(out + i / 2), _mm512_cvtepi32_epi8(t));
		}
		break;
	}
	case 12: {
		const __m512i m12 = _mm512_set1_epi32(0x0FFF0FFF), lo = _mm512_set1_epi32(0xFFF);
		const __m512i mid = _mm512_set1_epi32(0xFFF000); /* odd symbol, bits 12-23 */
		const __m512i gather = _mm512_broadcast_i32x4(
			_mm_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1));
		const __m512i compact =
			_mm512_setr_epi32(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 3, 7, 11, 15);
		for (; i + 32 <= n; i += 32) {
			__m512i v = _mm512_and_si512(_mm512_loadu_si512(q + i), m12);
			__m512i t = _mm512_or_si512(_mm512_and_si512(v, lo),
						    _mm512_and_si512(_mm512_srli_epi32(v, 4), mid));
			t = _mm512_permutexvar_epi32(compact, _mm512_shuffle_epi8(t, gather));
			_mm512_mask_storeu_epi8(out + i / 2 * 3, (__mmask64)0xFFFFFFFFFFFFull, t);
		}
		break;
	}
	default:
		break;
	}
	if (i < n)
		cc_pack__scalar(q + i, n - i, bits, out + i * (size_t)bits / 8);
}

void cc_unpack__avx512(const uint8_t *in, size_t n, int bits, uint16_t *q)
{
	size_t i = 0;
	switch (bits) {
	case 16:
		if (n)
			memcpy(q, in, n * 2);
		return;
	case 8:
		for (; i < n; i += 32) {
			__mmask32 t = n - i >= 32 ? (__mmask32)0xFFFFFFFF : tail32(n - i);
			__m256i b = _mm256_maskz_loadu_epi8(t, in + i);
			_mm512_mask_storeu_epi16(q + i, t, _mm512_cvtepu8_epi16(b));
		}
		return;
	case 4: {
		const __m512i lo = _mm512_set1_epi32(0xF), hi = _mm512_set1_epi32(0xF0000);
		for (; i + 32 <= n; i += 32) {
			/* One byte per 32-bit lane becomes a symbol pair in that lane. */
			__m512i d = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(in + i / 2)));
			__m512i r = _mm512_or_si512(_mm512_and_si512(d, lo),
						    _mm512_and_si512(_mm512_slli_epi32(d, 12), hi));
			_mm512_storeu_si512(q + i, r);
		}
		break;
	}
	case 12: {
		/* 48 bytes, 32 symbols: lane j takes bytes 12j..12j+11 (dwords 3j..3j+2),
		 * then per lane word 2k = bytes 3k,3k+1 and word 2k+1 = bytes 3k+1,3k+2. */
		const __m512i spread_lanes =
			_mm512_setr_epi32(0, 1, 2, 3, 3, 4, 5, 6, 6, 7, 8, 9, 9, 10, 11, 12);
		const __m512i spread = _mm512_broadcast_i32x4(
			_mm_setr_epi8(0, 1, 1, 2, 3, 4, 4, 5, 6, 7, 7, 8, 9, 10, 10, 11));
		const __m512i m12 = _mm512_set1_epi16(0x0FFF);
		for (; i + 32 <= n; i += 32) {
			__m512i v = _mm512_maskz_loadu_epi8((__mmask64)0xFFFFFFFFFFFFull, in + i / 2 * 3);
			v = _mm512_shuffle_epi8(_mm512_permutexvar_epi32(spread_lanes, v), spread);
			v = _mm512_mask_blend_epi16((__mmask32)0xAAAAAAAA, _mm512_and_si512(v, m12),
						    _mm512_srli_epi16(v, 4));
			_mm512_storeu_si512(q + i, v);
		}
		break;
	}
	default:
		break;
	}
	if (i < n)
		cc_unpack__scalar(in + i * (size_t)bits / 8, n - i, bits, q + i);
}
