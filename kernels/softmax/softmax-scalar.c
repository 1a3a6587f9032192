/* Softmax and its entropy, the reference. Both subtract the row max first so
 * exp never overflows; sums run in double so the reference is the accurate side
 * of every comparison. Entropy uses H = log S - T / S with S = sum e^(z-m) and
 * T = sum e^(z-m) (z-m): both terms are >= 0 (S >= 1, T <= 0), so nothing
 * cancels even for a near one-hot row. */
#include <math.h>

#include "internal.h"

/* NaN anywhere makes the max NaN and so every output NaN, as in torch. */
static float row_max(const float *x, int classes)
{
	float m = -INFINITY;
	for (int i = 0; i < classes; i++)
		if (x[i] > m || isnan(x[i]))
			m = x[i];
	return m;
}

void ck_softmax__scalar(const float *in, float *out, int n, int classes)
{
	for (int r = 0; r < n; r++) {
		const float *x = in + (size_t)r * classes;
		float *y = out + (size_t)r * classes;
		const float m = row_max(x, classes);
		double s = 0.0;
		for (int i = 0; i < classes; i++) {
			y[i] = expf(x[i] - m);
			s += y[i];
		}
		/* one reciprocal then products, as torch's softmax does */
		const float inv = (float)(1.0 / s);
		for (int i = 0; i < classes; i++)
			y[i] *= inv;
	}
}

void ck_softmax_entropy__scalar(const float *in, float *out, int n, int classes)
{
	for (int r = 0; r < n; r++) {
		const float *x = in + (size_t)r * classes;
		const float m = row_max(x, classes);
		double s = 0.0, t = 0.0;
		for (int i = 0; i < classes; i++) {
			const float z = x[i] - m;
			const float e = expf(z);
			s += e;
			/* a -inf logit contributes e = 0 and nothing else, not 0 * -inf */
			if (e != 0.0f)
				t += (double)e * z;
		}
		out[r] = (float)(log(s) - t / s);
	}
}
