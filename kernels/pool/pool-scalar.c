#include "pool-common.h"

void ck_maxpool__scalar(const struct ck_pool_desc *d, const float *in, float *out, int n)
{
	const size_t planes = (size_t)n * d->c, isz = (size_t)d->h * d->w;
	for (size_t p = 0; p < planes; p++) {
		const float *plane = in + p * isz;
		float *o = out + p * d->oh * d->ow;
		for (int oy = 0; oy < d->oh; oy++) {
			int y0, y1;
			ck_pool_span(oy, d->kh, d->sh, d->ph, d->h, &y0, &y1);
			for (int ox = 0; ox < d->ow; ox++)
				*o++ = ck_pool_max_px(d, plane, y0, y1, ox);
		}
	}
}

void ck_avgpool__scalar(const struct ck_pool_desc *d, const float *in, float *out, int n)
{
	const size_t planes = (size_t)n * d->c, isz = (size_t)d->h * d->w;
	for (size_t p = 0; p < planes; p++) {
		const float *plane = in + p * isz;
		float *o = out + p * d->oh * d->ow;
		for (int oy = 0; oy < d->oh; oy++) {
			int y0, y1;
			ck_pool_span(oy, d->kh, d->sh, d->ph, d->h, &y0, &y1);
			for (int ox = 0; ox < d->ow; ox++)
				*o++ = ck_pool_avg_px(d, plane, y0, y1, ox);
		}
	}
}
