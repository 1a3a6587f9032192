/* Cross-channel LRN, b_c = a_c (k + alpha/size * sum_{c' in window} a_c'^2)^-beta,
 * with the window [c - size/2, c + (size-1)/2] of torch.nn.LocalResponseNorm.
 * The arithmetic follows the order of LRNFn in tools/train/net.py, the function
 * the model was trained with: the window summed upwards, s = k + (alpha/size) * sum
 * with alpha/size rounded once to float, then a * s^-beta.
 * The SIMD variants vectorise across the pixels of one channel and sum the
 * window directly (no running sum, so no drift), in the reference's order, so
 * s is bit-identical everywhere and only the power differs. */
#ifndef CK_LRN_COMMON_H
#define CK_LRN_COMMON_H

#include <math.h>

#include "internal.h"

/* Pixels per tile: the SIMD variants sweep all channels over one tile so the
 * window's planes stay in L1 (size x 1 KiB). */
#define CK_LRN_TILE 256

/* Channels [*c0, *c1] in the window of channel c. */
static inline void ck_lrn_window(const struct ck_lrn_desc *d, int c, int *c0, int *c1)
{
	const int a = c - d->size / 2, b = c + (d->size - 1) / 2;
	*c0 = a < 0 ? 0 : a;
	*c1 = b > d->c - 1 ? d->c - 1 : b;
}

/* alpha/size as the trainer forms it: in double, then rounded to float. */
static inline float ck_lrn_scale(const struct ck_lrn_desc *d)
{
	return (float)((double)d->alpha / d->size);
}

/* One output, exactly the reference's arithmetic. */
static inline float ck_lrn_px(const struct ck_lrn_desc *d, const float *x, size_t hw, int c, int c0,
			      int c1, size_t p)
{
	float sum = 0.0f;
	for (int j = c0; j <= c1; j++) {
		const float v = x[(size_t)j * hw + p];
		sum += v * v;
	}
	const float s = d->k + ck_lrn_scale(d) * sum;
	return x[(size_t)c * hw + p] * powf(s, -d->beta);
}

#endif
