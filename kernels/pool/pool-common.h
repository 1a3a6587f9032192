/* Window arithmetic shared by the pooling variants. The SIMD variants vectorise
 * along the output columns of a row. A plane that fits CK_POOL_PAD_MAX floats
 * once padded (all of the model's) is first copied into a stack buffer with its
 * padding materialised (-inf for max, 0 for average) and slack columns on the
 * right, so that every output, borders and row tails included, is computed by
 * whole vectors. Larger planes are pooled in place: vectors over the columns
 * whose window lies inside the row, the per-pixel functions here for the rest.
 * Either way a window is visited in the reference's order (rows outer, columns
 * inner); adding a padding 0 leaves a float sum unchanged (the sum starts at +0
 * and so is never -0), so average pooling sums identically and every ISA
 * agrees bit for bit with the reference. */
#ifndef CK_POOL_COMMON_H
#define CK_POOL_COMMON_H

#include <math.h>
#include <string.h>

#include "internal.h"

/* Floats of the padded-plane buffer: 16 KiB of stack. */
#define CK_POOL_PAD_MAX 4096

/* Input rows [*a, *b) that output row o covers, clipped to [0, n). Never empty:
 * ck_pool_desc_init keeps the pad below the kernel size. */
static inline void ck_pool_span(int o, int k, int s, int p, int n, int *a, int *b)
{
	const int i0 = o * s - p;
	*a = i0 < 0 ? 0 : i0;
	*b = i0 + k < n ? i0 + k : n;
}

/* Output columns [*lo, *hi) whose window lies entirely inside the row. */
static inline void ck_pool_interior(const struct ck_pool_desc *d, int *lo, int *hi)
{
	const int s = d->sw, last = d->w + d->pw - d->kw; /* ox*s may not exceed last */
	*lo = (d->pw + s - 1) / s;
	*hi = last < 0 ? 0 : last / s + 1;
	if (*hi > d->ow)
		*hi = d->ow;
	if (*hi < *lo)
		*hi = *lo;
}

/* torch.max_pool2d: padding never wins, NaN does. */
static inline float ck_pool_max_px(const struct ck_pool_desc *d, const float *plane, int y0, int y1,
				   int ox)
{
	int x0, x1;
	ck_pool_span(ox, d->kw, d->sw, d->pw, d->w, &x0, &x1);
	float m = -INFINITY;
	for (int y = y0; y < y1; y++)
		for (int x = x0; x < x1; x++) {
			const float v = plane[(size_t)y * d->w + x];
			if (v > m || isnan(v))
				m = v;
		}
	return m;
}

/* torch.avg_pool2d with count_include_pad: padding adds nothing but counts in the
 * divisor. */
static inline float ck_pool_avg_px(const struct ck_pool_desc *d, const float *plane, int y0, int y1,
				   int ox)
{
	int x0, x1;
	ck_pool_span(ox, d->kw, d->sw, d->pw, d->w, &x0, &x1);
	float s = 0.0f;
	for (int y = y0; y < y1; y++)
		for (int x = x0; x < x1; x++)
			s += plane[(size_t)y * d->w + x];
	return s / (float)(d->kh * d->kw);
}

/* Row pitch of a padded copy of one plane in which vectors of v outputs may run
 * over every output column, each tap reading up to `over` floats past its last
 * lane; 0 when the copy would not fit CK_POOL_PAD_MAX. */
static inline int ck_pool_pad_pitch(const struct ck_pool_desc *d, int v, int over)
{
	const int vecs = (d->ow + v - 1) / v;
	const int need = (vecs * v - 1) * d->sw + d->kw + over;
	const int pitch = need > d->w + 2 * d->pw ? need : d->w + 2 * d->pw;
	return (long)(d->h + 2 * d->ph) * pitch <= CK_POOL_PAD_MAX ? pitch : 0;
}

/* Fill a padded buffer: once per call, as every plane leaves the padding and
 * slack as they were. */
static inline void ck_pool_pad_fill(const struct ck_pool_desc *d, float *buf, int pitch, float fill)
{
	const size_t n = (size_t)(d->h + 2 * d->ph) * pitch;
	for (size_t i = 0; i < n; i++)
		buf[i] = fill;
}

/* Copy one plane inside the padding of a filled buffer. */
static inline void ck_pool_pad_copy(const struct ck_pool_desc *d, const float *plane, float *buf,
				    int pitch)
{
	float *b = buf + (size_t)d->ph * pitch + d->pw;
	for (int y = 0; y < d->h; y++, b += pitch, plane += d->w)
		memcpy(b, plane, (size_t)d->w * sizeof(float));
}

#endif
