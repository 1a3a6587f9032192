/* Adam (Kingma and Ba 2015) with bias correction and optional clipping of the
 * gradient's global L2 norm, applied on the fly so the caller's gradient stays
 * as computed. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/policy-nn.h"

struct pol_adam_cfg pol_adam_defaults(float lr)
{
	return (struct pol_adam_cfg){.lr = lr, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
}

int pol_adam_init(struct pol_adam *a, size_t n, const struct pol_adam_cfg *cfg)
{
	memset(a, 0, sizeof(*a));
	if (!(cfg->lr > 0.0f) || !(cfg->beta1 >= 0.0f && cfg->beta1 < 1.0f) ||
	    !(cfg->beta2 >= 0.0f && cfg->beta2 < 1.0f) || !(cfg->eps > 0.0f) ||
	    !(cfg->clip_norm >= 0.0f) || n == 0)
		return -EINVAL;
	a->cfg = *cfg;
	a->n = n;
	a->b1t = a->b2t = 1.0;
	a->m = calloc(n, sizeof(float));
	a->v = calloc(n, sizeof(float));
	if (!a->m || !a->v) {
		pol_adam_free(a);
		return -ENOMEM;
	}
	return 0;
}

void pol_adam_free(struct pol_adam *a)
{
	free(a->m);
	free(a->v);
	a->m = a->v = NULL;
}

double pol_l2norm(const float *x, size_t n)
{
	double s[4] = {0};
	size_t i = 0;
	for (; i + 4 <= n; i += 4)
		for (int k = 0; k < 4; k++)
			s[k] += (double)x[i + k] * x[i + k];
	double t = (s[0] + s[2]) + (s[1] + s[3]);
	for (; i < n; i++)
		t += (double)x[i] * x[i];
	return sqrt(t);
}

void pol_adam_step(struct pol_adam *a, float *params, const float *grads, float *norm)
{
	const float b1 = a->cfg.beta1, b2 = a->cfg.beta2, lr = a->cfg.lr, eps = a->cfg.eps;
	float scale = 1.0f;
	if (norm || a->cfg.clip_norm > 0.0f) {
		double g = pol_l2norm(grads, a->n);
		if (norm)
			*norm = (float)g;
		if (a->cfg.clip_norm > 0.0f && g > a->cfg.clip_norm)
			scale = (float)(a->cfg.clip_norm / g);
	}
	a->t++;
	a->b1t *= b1;
	a->b2t *= b2;
	const float c1 = (float)(1.0 / (1.0 - a->b1t)), c2 = (float)(1.0 / (1.0 - a->b2t));
	float *m = a->m, *v = a->v;
	for (size_t i = 0; i < a->n; i++) {
		float g = grads[i] * scale;
		m[i] = b1 * m[i] + (1.0f - b1) * g;
		v[i] = b2 * v[i] + (1.0f - b2) * (g * g);
		params[i] -= lr * (m[i] * c1) / (sqrtf(v[i] * c2) + eps);
	}
}
