/* Pooling with q registers across four output columns of one row: stride 1 is a
 * plain load, stride 2 an LD2 that de-interleaves for free. Small planes go
 * through a padded copy and run whole vectors everywhere (see pool-common.h);
 * large ones, and strides above 2 (no NEON gather), are pooled in place with
 * the reference's per-pixel code where vectors do not reach. FMAX propagates
 * NaN, so max pooling needs no separate NaN tracking here; it also orders -0
 * below +0, where torch keeps the earlier of the two: only the sign of a zero
 * output can differ from the reference. */
#include <arm_neon.h>

#include "pool-common.h"

#define CK_INLINE static inline __attribute__((always_inline))

/* p[0], p[s], p[2s], p[3s]. Stride 2 reads p[7], one float past the last tap. */
CK_INLINE float32x4_t tap4(const float *p, int s)
{
	if (s == 1)
		return vld1q_f32(p);
	return vld2q_f32(p).val[0];
}

/* Max over rows x kw taps from r (row pitch `pitch`) for four outputs. */
CK_INLINE float32x4_t maxvec(const float *r, size_t pitch, int rows, int kw, int s)
{
	float32x4_t m = vdupq_n_f32(-INFINITY);
	for (int y = 0; y < rows; y++, r += pitch)
		for (int kx = 0; kx < kw; kx++)
			m = vmaxq_f32(m, tap4(r + kx, s));
	return m;
}

CK_INLINE float32x4_t avgvec(const float *r, size_t pitch, int rows, int kw, int s, float32x4_t div)
{
	float32x4_t sum = vdupq_n_f32(0.0f);
	for (int y = 0; y < rows; y++, r += pitch)
		for (int kx = 0; kx < kw; kx++)
			sum = vaddq_f32(sum, tap4(r + kx, s));
	/* divide, not multiply by 1/(kh*kw): torch divides */
	return vdivq_f32(sum, div);
}

#define VEC(op, r, pitch, rows) \
	(op##_is_max ? maxvec(r, pitch, rows, d->kw, s) : avgvec(r, pitch, rows, d->kw, s, div))
enum { max_is_max = 1, avg_is_max = 0 };

/* A padded plane (pitch floats per row): every output row by whole vectors, the
 * last one stored through a buffer. */
#define PADDED_UKERNEL(op)                                                                  \
	CK_INLINE void ck_f32_##op##pool_padded_ukernel__neon(                              \
		const struct ck_pool_desc *d, const float *buf, int pitch, float *o, int s) \
	{                                                                                   \
		const float32x4_t div = vdupq_n_f32((float)(d->kh * d->kw));                \
		(void)div;                                                                  \
		for (int oy = 0; oy < d->oh; oy++, o += d->ow) {                            \
			const float *r = buf + (size_t)oy * d->sh * pitch;                  \
			int ox = 0;                                                         \
			for (; ox + 4 <= d->ow; ox += 4)                                    \
				vst1q_f32(o + ox, VEC(op, r + ox * s, pitch, d->kh));       \
			if (ox < d->ow) {                                                   \
				float t[4];                                                 \
				vst1q_f32(t, VEC(op, r + ox * s, pitch, d->kh));            \
				memcpy(o + ox, t, (size_t)(d->ow - ox) * sizeof(float));    \
			}                                                                   \
		}                                                                           \
	}

/* One row of a plane pooled in place: columns from lo while four fit below end;
 * returns the first column not done. */
#define ROW_UKERNEL(op)                                                                        \
	CK_INLINE int ck_f32_##op##pool_ukernel__neon(const struct ck_pool_desc *d,            \
						      const float *plane, float *orow, int y0, \
						      int y1, int lo, int end, int s)          \
	{                                                                                      \
		const float32x4_t div = vdupq_n_f32((float)(d->kh * d->kw));                   \
		(void)div;                                                                     \
		const float *r = plane + (size_t)y0 * d->w;                                    \
		int ox = lo;                                                                   \
		for (; ox + 4 <= end; ox += 4)                                                 \
			vst1q_f32(orow + ox, VEC(op, r + (ox * s - d->pw), d->w, y1 - y0));    \
		return ox;                                                                     \
	}

PADDED_UKERNEL(max)
PADDED_UKERNEL(avg)
ROW_UKERNEL(max)
ROW_UKERNEL(avg)

/* Where four in-place columns can start without a load leaving the row. */
static int vec_end(const struct ck_pool_desc *d, int hi)
{
	if (d->sw == 1)
		return hi;
	if (d->sw != 2)
		return 0;
	/* the last lane L reads up to 2L - pw + kw, which must stay below w */
	const int num = d->w - 1 - d->kw + d->pw;
	const int end = num < 0 ? 0 : num / 2 + 1;
	return end < hi ? end : hi;
}

#define POOL_DRIVER(op, fill)                                                                      \
	void ck_##op##pool__neon(const struct ck_pool_desc *d, const float *in, float *out, int n) \
	{                                                                                          \
		const size_t planes = (size_t)n * d->c, isz = (size_t)d->h * d->w;                 \
		const size_t osz = (size_t)d->oh * d->ow;                                          \
		const int s = d->sw;                                                               \
		const int pitch = s <= 2 ? ck_pool_pad_pitch(d, 4, s == 2) : 0;                    \
		if (pitch) {                                                                       \
			float buf[CK_POOL_PAD_MAX];                                                \
			ck_pool_pad_fill(d, buf, pitch, fill);                                     \
			for (size_t p = 0; p < planes; p++) {                                      \
				ck_pool_pad_copy(d, in + p * isz, buf, pitch);                     \
				float *o = out + p * osz;                                          \
				if (s == 1)                                                        \
					ck_f32_##op##pool_padded_ukernel__neon(d, buf, pitch, o,   \
									       1);                 \
				else                                                               \
					ck_f32_##op##pool_padded_ukernel__neon(d, buf, pitch, o,   \
									       2);                 \
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
				if (s == 1)                                                        \
					ox = ck_f32_##op##pool_ukernel__neon(d, plane, orow, y0,   \
									     y1, lo, end, 1);      \
				else                                                               \
					ox = ck_f32_##op##pool_ukernel__neon(d, plane, orow, y0,   \
									     y1, lo, end, 2);      \
				for (; ox < d->ow; ox++)                                           \
					orow[ox] = ck_pool_##op##_px(d, plane, y0, y1, ox);        \
			}                                                                          \
		}                                                                                  \
	}

POOL_DRIVER(max, -INFINITY)
POOL_DRIVER(avg, 0.0f)
