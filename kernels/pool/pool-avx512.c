/* Pooling with zmm vectors across sixteen output columns of one row. Each window
 * tap is one strided load: contiguous for stride 1, two loads merged by
 * vpermt2ps for stride 2, a gather otherwise, all masked to the floats the taps
 * need. Small planes go through a padded copy and run whole vectors everywhere
 * (see pool-common.h); large ones are pooled in place, the last partial vector
 * of a row's interior masked, with the reference's per-pixel code at the
 * borders. */
#include <immintrin.h>

#include "pool-common.h"

#define CK_INLINE static inline __attribute__((always_inline))

/* p[0], p[s], ..., p[15s] in the lanes of k; for stride 2, ld masks the 31 (or
 * fewer) floats spanned, so nothing past the last tap is read. */
CK_INLINE __m512 tap16(const float *p, int s, __m512i gidx, __mmask16 k, uint32_t ld)
{
	if (s == 1)
		return _mm512_maskz_loadu_ps(k, p);
	if (s == 2) {
		const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22,
						       24, 26, 28, 30);
		const __m512 a = _mm512_maskz_loadu_ps((__mmask16)ld, p);
		const __m512 b = _mm512_maskz_loadu_ps((__mmask16)(ld >> 16), p + 16);
		return _mm512_permutex2var_ps(a, even, b);
	}
	return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), k, gidx, p, 4);
}

/* Max over rows x kw taps from r (row pitch `pitch`) in the lanes of k. */
CK_INLINE __m512 maxvec(const float *r, size_t pitch, int rows, int kw, int s, __m512i gidx,
			__mmask16 k, uint32_t ld)
{
	__m512 m = _mm512_set1_ps(-INFINITY);
	__mmask16 nan = 0;
	for (int y = 0; y < rows; y++, r += pitch)
		for (int kx = 0; kx < kw; kx++) {
			const __m512 v = tap16(r + kx, s, gidx, k, ld);
			/* v > m ? v : m keeps the earlier of equal taps (the sign of
			 * zero) as torch does; NaN, which vmaxps drops, is tracked aside */
			nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
			m = _mm512_max_ps(v, m);
		}
	return _mm512_mask_mov_ps(m, nan, _mm512_set1_ps(NAN));
}

CK_INLINE __m512 avgvec(const float *r, size_t pitch, int rows, int kw, int s, __m512i gidx,
			__mmask16 k, uint32_t ld, __m512 div)
{
	__m512 sum = _mm512_setzero_ps();
	for (int y = 0; y < rows; y++, r += pitch)
		for (int kx = 0; kx < kw; kx++)
			sum = _mm512_add_ps(sum, tap16(r + kx, s, gidx, k, ld));
	/* divide, not multiply by 1/(kh*kw): torch divides */
	return _mm512_div_ps(sum, div);
}

#define VEC(op, r, pitch, rows, k, ld)                               \
	(op##_is_max ? maxvec(r, pitch, rows, d->kw, s, gidx, k, ld) \
		     : avgvec(r, pitch, rows, d->kw, s, gidx, k, ld, div))
enum { max_is_max = 1, avg_is_max = 0 };

/* Lanes and, for stride 2, spanned floats of a vector of m outputs. */
#define LANES(m) ((__mmask16)((1u << (m)) - 1))
#define SPAN(m) ((1u << (2 * (m) - 1)) - 1)

/* A padded plane (pitch floats per row): every output row by whole vectors, the
 * last one masked. */
#define PADDED_UKERNEL(op)                                                                         \
	CK_INLINE void ck_f32_##op##pool_padded_ukernel__avx512(const struct ck_pool_desc *d,      \
								const float *buf, int pitch,       \
								float *o, int s, __m512i gidx)     \
	{                                                                                          \
		const __m512 div = _mm512_set1_ps((float)(d->kh * d->kw));                         \
		(void)div;                                                                         \
		const int m = d->ow % 16;                                                          \
		for (int oy = 0; oy < d->oh; oy++, o += d->ow) {                                   \
			const float *r = buf + (size_t)oy * d->sh * pitch;                         \
			int ox = 0;                                                                \
			for (; ox + 16 <= d->ow; ox += 16)                                         \
				_mm512_storeu_ps(o + ox, VEC(op, r + ox * s, pitch, d->kh, 0xffff, \
							     0x7fffffff));                         \
			if (ox < d->ow)                                                            \
				_mm512_mask_storeu_ps(                                             \
					o + ox, LANES(m),                                          \
					VEC(op, r + ox * s, pitch, d->kh, LANES(m), SPAN(m)));     \
		}                                                                                  \
	}

/* Columns [lo, hi) of one row of a plane pooled in place. */
#define ROW_UKERNEL(op)                                                                           \
	CK_INLINE void ck_f32_##op##pool_ukernel__avx512(                                         \
		const struct ck_pool_desc *d, const float *plane, float *orow, int y0, int y1,    \
		int lo, int hi, int s, __m512i gidx)                                              \
	{                                                                                         \
		const __m512 div = _mm512_set1_ps((float)(d->kh * d->kw));                        \
		(void)div;                                                                        \
		const float *r = plane + (size_t)y0 * d->w;                                       \
		int ox = lo;                                                                      \
		for (; ox + 16 <= hi; ox += 16)                                                   \
			_mm512_storeu_ps(orow + ox, VEC(op, r + (ox * s - d->pw), d->w, y1 - y0,  \
							0xffff, 0x7fffffff));                     \
		if (ox < hi) {                                                                    \
			const int m = hi - ox;                                                    \
			_mm512_mask_storeu_ps(                                                    \
				orow + ox, LANES(m),                                              \
				VEC(op, r + (ox * s - d->pw), d->w, y1 - y0, LANES(m), SPAN(m))); \
		}                                                                                 \
	}

PADDED_UKERNEL(max)
PADDED_UKERNEL(avg)
ROW_UKERNEL(max)
ROW_UKERNEL(avg)

/* The stride is passed as a literal where it is 1 or 2 so that tap16 folds. */
#define BY_STRIDE(call_s)          \
	do {                       \
		if (s == 1)        \
			call_s(1); \
		else if (s == 2)   \
			call_s(2); \
		else               \
			call_s(s); \
	} while (0)

#define POOL_DRIVER(op, fill)                                                                    \
	void ck_##op##pool__avx512(const struct ck_pool_desc *d, const float *in, float *out,    \
				   int n)                                                        \
	{                                                                                        \
		const size_t planes = (size_t)n * d->c, isz = (size_t)d->h * d->w;               \
		const size_t osz = (size_t)d->oh * d->ow;                                        \
		const int s = d->sw;                                                             \
		const __m512i gidx = _mm512_mullo_epi32(                                         \
			_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), \
			_mm512_set1_epi32(s));                                                   \
		/* masked loads need no slack columns */                                         \
		const int pitch = ck_pool_pad_pitch(d, 1, 0);                                    \
		if (pitch) {                                                                     \
			float buf[CK_POOL_PAD_MAX];                                              \
			ck_pool_pad_fill(d, buf, pitch, fill);                                   \
			for (size_t p = 0; p < planes; p++) {                                    \
				ck_pool_pad_copy(d, in + p * isz, buf, pitch);                   \
				float *o = out + p * osz;                                        \
				BY_STRIDE(PADDED_CALL_##op);                                     \
			}                                                                        \
			return;                                                                  \
		}                                                                                \
		int lo, hi;                                                                      \
		ck_pool_interior(d, &lo, &hi);                                                   \
		for (size_t p = 0; p < planes; p++) {                                            \
			const float *plane = in + p * isz;                                       \
			for (int oy = 0; oy < d->oh; oy++) {                                     \
				float *orow = out + p * osz + (size_t)oy * d->ow;                \
				int y0, y1;                                                      \
				ck_pool_span(oy, d->kh, d->sh, d->ph, d->h, &y0, &y1);           \
				for (int ox = 0; ox < lo; ox++)                                  \
					orow[ox] = ck_pool_##op##_px(d, plane, y0, y1, ox);      \
				BY_STRIDE(ROW_CALL_##op);                                        \
				for (int ox = hi; ox < d->ow; ox++)                              \
					orow[ox] = ck_pool_##op##_px(d, plane, y0, y1, ox);      \
			}                                                                        \
		}                                                                                \
	}

#define PADDED_CALL_max(sv) ck_f32_maxpool_padded_ukernel__avx512(d, buf, pitch, o, sv, gidx)
#define PADDED_CALL_avg(sv) ck_f32_avgpool_padded_ukernel__avx512(d, buf, pitch, o, sv, gidx)
#define ROW_CALL_max(sv) ck_f32_maxpool_ukernel__avx512(d, plane, orow, y0, y1, lo, hi, sv, gidx)
#define ROW_CALL_avg(sv) ck_f32_avgpool_ukernel__avx512(d, plane, orow, y0, y1, lo, hi, sv, gidx)

POOL_DRIVER(max, -INFINITY)
POOL_DRIVER(avg, 0.0f)
