/* Portable bodies of the im2col packer and the depthwise plane kernel. Each ISA's
 * translation unit includes this so the loops are compiled (and auto-vectorised) with
 * that ISA's flags; only the SIMD-critical parts get hand-written variants. */
#ifndef CK_GEMM_INLINE_H
#define CK_GEMM_INLINE_H

#include "gemm.h"

/* Rows of the K block [k0, k0 + kc) that belong to one tap: k = ci * taps + tap for
 * ci in [*ci0, *ci0 + return value). Packers walk tap by tap and run by run, then
 * down the channels, so a run's padding mask is worked out once per tap and K block
 * rather than once per row. */
static inline size_t ck_im2col_tap_rows(const struct ck_im2col_panel *p, size_t k0, size_t kc,
					int tap, size_t *ci0)
{
	const size_t taps = (size_t)p->taps, t = (size_t)tap;
	const size_t kend = k0 + kc < p->kdata ? k0 + kc : p->kdata;
	const size_t first = k0 > t ? (k0 - t + taps - 1) / taps : 0;
	*ci0 = first;
	if (first * taps + t >= kend)
		return 0;
	return (kend - t + taps - 1) / taps - first;
}

static inline void ck_im2col_ones_row(const struct ck_im2col_panel *p, size_t k0, size_t kc,
				      float *dst)
{
	if (p->kdata >= k0 && p->kdata < k0 + kc)
		for (int j = 0; j < p->nr; j++)
			dst[(p->kdata - k0) * (size_t)p->nr + (size_t)j] = 1.0f;
}

/* Runs BODY for each output-row segment [lane, lane + n) of run r, with lane, n, lo
 * and hi bound: lanes [lane + lo, lane + hi) read input for tap (ky, kx), the rest of
 * the segment is padding. */
#define CK_IM2COL_SEGMENTS(p, r, ky, kx, BODY)                                                     \
	do {                                                                                       \
		int lane_ = 0, n_ = (r)->first, iy_ = (r)->iy0 + (ky), ix_ = (r)->ix0 + (kx);      \
		while (lane_ < (r)->len) {                                                         \
			if (n_ > (r)->len - lane_)                                                 \
				n_ = (r)->len - lane_;                                             \
			int lo_ = 0, hi_ = 0;                                                      \
			if (iy_ >= 0 && iy_ < (p)->h) {                                            \
				const int sw_ = (p)->sw;                                           \
				lo_ = ix_ < 0 ? (-ix_ + sw_ - 1) / sw_ : 0;                        \
				hi_ = ix_ < (p)->w ? ((p)->w - 1 - ix_) / sw_ + 1 : 0;             \
				if (hi_ > n_)                                                      \
					hi_ = n_;                                                  \
				if (lo_ > hi_)                                                     \
					lo_ = hi_;                                                 \
			}                                                                          \
			{                                                                          \
				const int lane = lane_, n = n_, lo = lo_, hi = hi_;                \
				BODY;                                                              \
			}                                                                          \
			lane_ += n_;                                                               \
			n_ = (p)->ow;                                                              \
			iy_ += (p)->sh;                                                            \
			ix_ = (kx) - (p)->pw;                                                      \
		}                                                                                  \
	} while (0)

/* Stride-1 lane mask of run r for tap (ky, kx): bit l set iff lane l reads input. */
static inline uint64_t ck_im2col_mask_s1(const struct ck_im2col_panel *p,
					 const struct ck_im2col_run *r, int ky, int kx)
{
	uint64_t m = 0;
	CK_IM2COL_SEGMENTS(p, r, ky, kx, {
		(void)n;
		m |= ((1ull << (lane + hi)) - 1) & ~((1ull << (lane + lo)) - 1);
	});
	return m;
}

static inline void ck_im2col_pack_body(const struct ck_im2col_panel *p, size_t k0, size_t kc,
				       float *dst)
{
	const ptrdiff_t sw = p->sw;
	const size_t cs = p->chan_stride, rstride = (size_t)p->taps * (size_t)p->nr;
	for (int tap = 0; tap < p->taps; tap++) {
		const int ky = tap / p->kw, kx = tap % p->kw;
		size_t ci0;
		const size_t nci = ck_im2col_tap_rows(p, k0, kc, tap, &ci0);
		if (!nci)
			continue;
		float *drow = dst + (ci0 * (size_t)p->taps + (size_t)tap - k0) * (size_t)p->nr;
		const float *src = p->in + ci0 * cs;
		for (int i = 0; i < p->nruns; i++) {
			const struct ck_im2col_run *r = &p->runs[i];
			CK_IM2COL_SEGMENTS(p, r, ky, kx, {
				float *d = drow + r->col + lane;
				/* address the first real lane: lane 0 may lie before the input */
				const float *s = src;
				if (lo < hi)
					s += r->off + (ptrdiff_t)ky * p->w + kx + (lane + lo) * sw;
				for (size_t c = 0; c < nci; c++, d += rstride, s += cs) {
					int l = 0;
					for (; l < lo; l++)
						d[l] = 0.0f;
					if (sw == 1)
						for (; l < hi; l++)
							d[l] = s[l - lo];
					else
						for (; l < hi; l++)
							d[l] = s[(l - lo) * sw];
					for (; l < n; l++)
						d[l] = 0.0f;
				}
			});
		}
	}
	ck_im2col_ones_row(p, k0, kc, dst);
}

static inline void ck_dw_plane_body(const float *in, int h, int w, const float *wt, float bias,
				    int kh, int kw, int sh, int sw, int ph, int pw, float *out,
				    int oh, int ow)
{
	for (int oy = 0; oy < oh; oy++) {
		float *o = out + (size_t)oy * (size_t)ow;
		for (int ox = 0; ox < ow; ox++)
			o[ox] = bias;
		for (int ky = 0; ky < kh; ky++) {
			const int iy = oy * sh - ph + ky;
			if (iy < 0 || iy >= h)
				continue;
			const float *row = in + (size_t)iy * (size_t)w;
			for (int kx = 0; kx < kw; kx++) {
				const float wv = wt[ky * kw + kx];
				/* ix = ox * sw + ix0 must land in [0, w) */
				const int ix0 = kx - pw;
				const int lo = ix0 < 0 ? (-ix0 + sw - 1) / sw : 0;
				int hi = ix0 <= w - 1 ? (w - 1 - ix0) / sw + 1 : 0;
				if (hi > ow)
					hi = ow;
				if (sw == 1)
					for (int ox = lo; ox < hi; ox++)
						o[ox] += wv * row[ox + ix0];
				else
					for (int ox = lo; ox < hi; ox++)
						o[ox] += wv * row[ox * sw + ix0];
			}
		}
	}
}

#endif
