/* Column softmax, the reference: the max, then exp and a sum in double per column
 * (the accurate side of every comparison), then one reciprocal and products, as
 * the row softmax (softmax-scalar.c) does. */
#include <math.h>

#include "attn/attn.h"

void ck_attn_softmax_cols__scalar(float *p, size_t rows, size_t nr)
{
	for (size_t c = 0; c < nr; c++) {
		float m = -INFINITY;
		for (size_t r = 0; r < rows; r++)
			if (p[r * nr + c] > m || isnan(p[r * nr + c]))
				m = p[r * nr + c];
		double s = 0.0;
		for (size_t r = 0; r < rows; r++) {
			p[r * nr + c] = expf(p[r * nr + c] - m);
			s += p[r * nr + c];
		}
		const float inv = (float)(1.0 / s);
		for (size_t r = 0; r < rows; r++)
			p[r * nr + c] *= inv;
	}
}
