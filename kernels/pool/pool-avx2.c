/* Pooling with ymm vectors across eight output columns of one row. Each window
 * tap is one strided load: contiguous for stride 1, a 16-float load
 * de-interleaved for stride 2, a gather otherwise. Small planes go through a
 * padded copy and run whole vectors everywhere; large ones are pooled in place
 * with the reference's per-pixel code at the borders (see pool-common.h). */
#include <immintrin.h>

#include "pool-common.h"

#define CK_INLINE static inline __attribute__((always_inline))

/* p[0], p[s], ..., p[7s]. Stride 2 reads p[15], one float past the last tap. */
CK_INLINE __m256 tap8(const float *p, int s, __m256i gidx)
{
	if (s == 1)
		return _mm256_loadu_ps(p);
	if (s == 2) {
		const __m256 e = _mm256_shuffle_ps(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8),
						   _MM_SHUFFLE(2, 0, 2, 0));
		/* e holds p0 p2 p8 p10 | p4 p6 p12 p14: put the 64-bit pairs in order */
		return _mm256_castpd_ps(
			_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
	}
	return _mm256_i32gather_ps(p, gidx, 4);
}

/* Max over rows x kw taps from r (row pitch `pitch`) for eight outputs. */
CK_INLINE __m256 maxvec(const float *r, size_t pitch, int rows, int kw, int s, __m256i gidx)
{
	__m256 m = _mm256_set1_ps(-INFINITY), nan = _mm256_setzero_ps();
	for (int y = 0; y < rows; y++, r += pitch)
		for (int kx = 0; kx < kw; kx++) {
			const __m256 v = tap8(r + kx, s, gidx);
			/* v > m ? v : m keeps the earlier of equal taps (the sign of
			 * zero) as torch does; NaN, which vmaxps drops, is tracked aside */
			nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
			m = _mm256_max_ps(v, m);
		}
	return _mm256_or_ps(m, nan); /* all-ones is a NaN */
}

CK_INLINE __m256 avgvec(const float *r, size_t pitch, int rows, int kw, int s, __m256i gidx,
			__m256 div)
{
	__m256 sum = _mm256_setzero_ps();
	for (int y = 0; y < rows; y++, r += pitch)
		for (int kx = 0; kx < kw; kx++)
			sum = _mm256_add_ps(sum, tap8(r + kx, s, gidx));
	/* divide, not multiply by 1/(kh*kw): torch divides */
	return _mm256_div_ps(sum, div);
}

#define VEC(op, r, pitch, rows)                               \
	(op##_is_max ? maxvec(r, pitch, rows, d->kw, s, gidx) \
		     : avgvec(r, pitch, rows, d->kw, s, gidx, div))
enum { max_is_max = 1, avg_is_max = 0 };

/* A padded plane (pitch floats per row): every output row by whole vectors, the
 * last one stored masked. */
#define PADDED_UKERNEL(op)                                                                        \
	CK_INLINE void ck_f32_##op##pool_padded_ukernel__avx2(const struct ck_pool_desc *d,       \
							      const float *buf, int pitch,        \
							      float *o, int s, __m256i gidx)      \
	{                                                                                         \
		const __m256 div = _mm256_set1_ps((float)(d->kh * d->kw));                        \
		(void)div;                                                                        \
		const __m256i tail = _mm256_cmpgt_epi32(                                          \
			_mm256_set1_epi32(d->ow % 8), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); \
		for (int oy = 0; oy < d->oh; oy++, o += d->ow) {                                  \
			const float *r = buf + (size_t)oy * d->sh * pitch;                        \
			int ox = 0;                                                               \
			for (; ox + 8 <= d->ow; ox += 8)                                          \
				_mm256_storeu_ps(o + ox, VEC(op, r + ox * s, pitch, d->kh));      \
			if (ox < d->ow)                                                           \
				_mm256_maskstore_ps(o + ox, tail,                                 \
						    VEC(op, r + ox * s, pitch, d->kh));           \
		}                                                                                 \
	}

/* One row of a plane pooled in place: columns from lo while eight fit below
 * end; returns the first column not done. */
#define ROW_UKERNEL(op)                                                                            \
	CK_INLINE int ck_f32_##op##pool_ukernel__avx2(                                             \
		const struct ck_pool_desc *d, const float *plane, float *orow, int y0, int y1,     \
		int lo, int end, int s, __m256i gidx)                                              \
	{                                                                                          \
		const __m256 div = _mm256_set1_ps((float)(d->kh * d->kw));                         \
		(void)div;                                                                         \
		const float *r = plane + (size_t)y0 * d->w;                                        \
		int ox = lo;                                                                       \
		for (; ox + 8 <= end; ox += 8)                                                     \
			_mm256_storeu_ps(orow + ox, VEC(op, r + (ox * s - d->pw), d->w, y1 - y0)); \
		return ox;                                                                         \
	}

PADDED_UKERNEL(max)
PADDED_UKERNEL(avg)
ROW_UKERNEL(max)
ROW_UKERNEL(avg)

/* Where eight in-place columns can start without a load leaving the row. */
static int vec_end(const struct ck_pool_desc *d, int hi)
{
	if (d->sw != 2)
		return hi;
	/* the last lane L reads up to 2L - pw + kw, which must stay below w */
	const int num = d->w - 1 - d->kw + d->pw;
	const int end = num < 0 ? 0 : num / 2 + 1;
	return end < hi ? end : hi;
}

/* The stride is passed as a literal where it is 1 or 2 so that tap8 folds. */
#define BY_STRIDE(call_s)          \
	do {                       \
		if (s == 1)        \
			call_s(1); \
		else if (s == 2)   \
			call_s(2); \
		else               \
			call_s(s); \
	} while (0)

#define POOL_DRIVER(op, fill)                                                                      \
	void ck_##op##pool__avx2(const struct ck_pool_desc *d, const float *in, float *out, int n) \
	{                                                                                          \
		const size_t planes = (size_t)n * d->c, isz = (size_t)d->h * d->w;                 \
		const size_t osz = (size_t)d->oh * d->ow;                                          \
		const int s = d->sw;                                                               \
		const __m256i gidx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), \
							_mm256_set1_epi32(s));                     \
		const int pitch = ck_pool_pad_pitch(d, 8, s == 2);                                 \
		if (pitch) {                                                                       \
			float buf[CK_POOL_PAD_MAX];                                                \
			ck_pool_pad_fill(d, buf, pitch, fill);                                     \
			for (size_t p = 0; p < planes; p++) {                                      \
				ck_pool_pad_copy(d, in + p * isz, buf, pitch);                     \
				float *o = out + p * osz;                                          \
				BY_STRIDE(PADDED_CALL_##op);                                       \
			}                                                                          \
			return;                                                                    \
		}                                                                                  \
		int lo, hi;                                                                        \
		ck_pool_interior(d, &lo, &hi);                                                     \
		const int end = vec_end(d, hi);                                                    \
		for (size_t p = 0; p < planes; p++) {                                              \
			const float *plane = in + p * isz;                                         \
			for (int oy = 0; oy < d->oh; oy++) {                                       \
				float *orow = out + p * osz + (size_t)oy * d->ow;                  \
				int y0, y1, ox;                                                    \
				ck_pool_span(oy, d->kh, d->sh, d->ph, d->h, &y0, &y1);             \
				for (ox = 0; ox < lo; ox++)                                        \
					orow[ox] = ck_pool_##op##_px(d, plane, y0, y1, ox);        \
				BY_STRIDE(ROW_CALL_##op);                                          \
				for (; ox < d->ow; ox++)                                           \
					orow[ox] = ck_pool_##op##_px(d, plane, y0, y1, ox);        \
			}                                                                          \
		}                                                                                  \
	}

#define PADDED_CALL_max(sv) ck_f32_maxpool_padded_ukernel__avx2(d, buf, pitch, o, sv, gidx)
#define PADDED_CALL_avg(sv) ck_f32_avgpool_padded_ukernel__avx2(d, buf, pitch, o, sv, gidx)
#define ROW_CALL_max(sv) \
	ox = ck_f32_maxpool_ukernel__avx2(d, plane, orow, y0, y1, lo, end, sv, gidx)
#define ROW_CALL_avg(sv) \
	ox = ck_f32_avgpool_ukernel__avx2(d, plane, orow, y0, y1, lo, end, sv, gidx)

POOL_DRIVER(max, -INFINITY)
POOL_DRIVER(avg, 0.0f)
