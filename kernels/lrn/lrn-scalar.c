#include "lrn-common.h"

void ck_lrn__scalar(const struct ck_lrn_desc *d, const float *in, float *out, int n)
{
	const size_t hw = (size_t)d->h * d->w, isz = (size_t)d->c * hw;
	for (int b = 0; b < n; b++) {
		const float *x = in + b * isz;
		float *y = out + b * isz;
		for (int c = 0; c < d->c; c++) {
			int c0, c1;
			ck_lrn_window(d, c, &c0, &c1);
			for (size_t p = 0; p < hw; p++)
				y[(size_t)c * hw + p] = ck_lrn_px(d, x, hw, c, c0, c1, p);
		}
	}
}
