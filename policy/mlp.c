/* Fully connected networks with hand-written backward passes, in the spirit of
 * kann: one contiguous parameter vector, plain loops, no allocation after create.
 *
 * Every output is summed in one fixed order (bias first, then inputs in index
 * order), whatever the batch size or compiler vectorisation, so a row's result is
 * the same alone or in a batch and the same seed always gives the same bits. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/policy-nn.h"
#include "internal.h"

#define TILE 32 /* outputs accumulated in registers across all inputs */

static float *falloc(size_t n)
{
	void *p = NULL;
	if (posix_memalign(&p, 64, (n ? n : 1) * sizeof(float)))
		return NULL;
	memset(p, 0, (n ? n : 1) * sizeof(float));
	return p;
}

void pol_mlp_free(struct pol_mlp *m)
{
	if (!m)
		return;
	free(m->params);
	free(m->grads);
	for (int l = 0; l <= m->n_layers; l++)
		free(m->act[l]);
	free(m->delta[0]);
	free(m->delta[1]);
	free(m);
}

int pol_mlp_alloc(const int *sizes, int n_sizes, int max_batch, struct pol_mlp **out)
{
	*out = NULL;
	if (!sizes || n_sizes < 2 || n_sizes > POL_MLP_MAX_LAYERS + 1 || max_batch < 1 ||
	    max_batch > POL_MLP_MAX_BATCH)
		return -EINVAL;
	uint64_t np = 0;
	int widest = 0;
	for (int l = 0; l < n_sizes; l++) {
		if (sizes[l] < 1 || sizes[l] > POL_MLP_MAX_WIDTH)
			return -EINVAL;
		widest = sizes[l] > widest ? sizes[l] : widest;
		if (l)
			np += (uint64_t)sizes[l - 1] * sizes[l] + sizes[l];
	}
	if (np > POL_MLP_MAX_PARAMS)
		return -E2BIG;
	struct pol_mlp *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->n_layers = n_sizes - 1;
	memcpy(m->sizes, sizes, (size_t)n_sizes * sizeof(int));
	m->max_batch = max_batch;
	m->n_params = (size_t)np;
	m->params = falloc(m->n_params);
	m->grads = falloc(m->n_params);
	m->delta[0] = falloc((size_t)max_batch * widest);
	m->delta[1] = falloc((size_t)max_batch * widest);
	int ok = m->params && m->grads && m->delta[0] && m->delta[1];
	for (int l = 0; l < n_sizes; l++)
		ok = (m->act[l] = falloc((size_t)max_batch * sizes[l])) && ok;
	if (!ok) {
		pol_mlp_free(m);
		return -ENOMEM;
	}
	size_t off = 0;
	for (int l = 0; l < m->n_layers; l++) {
		size_t nw = (size_t)sizes[l] * sizes[l + 1];
		m->w[l] = m->params + off, m->gw[l] = m->grads + off;
		off += nw;
		m->b[l] = m->params + off, m->gb[l] = m->grads + off;
		off += (size_t)sizes[l + 1];
	}
	*out = m;
	return 0;
}

int pol_mlp_create(const int *sizes, int n_sizes, int max_batch, struct pol_rng *rng,
		   struct pol_mlp **out)
{
	if (!rng) {
		*out = NULL;
		return -EINVAL;
	}
	int ret = pol_mlp_alloc(sizes, n_sizes, max_batch, out);
	if (ret)
		return ret;
	struct pol_mlp *m = *out;
	for (int l = 0; l < m->n_layers; l++) {
		int in = m->sizes[l], o = m->sizes[l + 1];
		size_t nw = (size_t)in * o;
		if (l + 1 < m->n_layers) { /* He: keeps the variance through ReLU */
			float sd = sqrtf(2.0f / (float)in);
			for (size_t k = 0; k < nw; k++)
				m->w[l][k] = sd * pol_rng_normal(rng);
		} else { /* Glorot: small outputs, near-uniform initial softmax */
			float a = sqrtf(6.0f / (float)(in + o));
			for (size_t k = 0; k < nw; k++)
				m->w[l][k] = a * (2.0f * pol_rng_uniform(rng) - 1.0f);
		}
	}
	return 0;
}

int pol_mlp_clone(const struct pol_mlp *m, int max_batch, struct pol_mlp **out)
{
	int ret = pol_mlp_alloc(m->sizes, m->n_layers + 1, max_batch, out);
	if (!ret)
		memcpy((*out)->params, m->params, m->n_params * sizeof(float));
	return ret;
}

static int same_shape(const struct pol_mlp *a, const struct pol_mlp *b)
{
	if (a->n_layers != b->n_layers)
		return 0;
	for (int l = 0; l <= a->n_layers; l++)
		if (a->sizes[l] != b->sizes[l])
			return 0;
	return 1;
}

int pol_mlp_copy_params(struct pol_mlp *dst, const struct pol_mlp *src)
{
	if (!same_shape(dst, src))
		return -EINVAL;
	memcpy(dst->params, src->params, src->n_params * sizeof(float));
	return 0;
}

void pol_mlp_zero_grad(struct pol_mlp *m)
{
	memset(m->grads, 0, m->n_params * sizeof(float));
}

int pol_mlp_polyak(struct pol_mlp *target, const struct pol_mlp *src, float tau)
{
	if (!same_shape(target, src) || !(tau >= 0.0f && tau <= 1.0f))
		return -EINVAL;
	if (tau == 1.0f) /* t + (s - t) need not round to s */
		return pol_mlp_copy_params(target, src);
	float *t = target->params;
	const float *s = src->params;
	for (size_t i = 0; i < src->n_params; i++)
		t[i] += tau * (s[i] - t[i]);
	return 0;
}

/* Outputs [o, o + t) of y = b + x W for one row, t <= TILE, accumulated in a
 * small array the compiler keeps in registers when t is a constant. Inputs equal
 * to zero (half of them after a ReLU) are skipped: adding 0 * w changes nothing
 * but the sign of a zero sum. */
static inline __attribute__((always_inline)) void dense_tile(const float *x, int in,
							    const float *w, const float *b,
							    int out, int o, int t, float *y)
{
	float acc[TILE];
	for (int k = 0; k < t; k++)
		acc[k] = b[o + k];
	for (int i = 0; i < in; i++) {
		float xi = x[i];
		if (xi == 0.0f)
			continue;
		const float *wr = w + (size_t)i * out + o;
		for (int k = 0; k < t; k++)
			acc[k] += xi * wr[k];
	}
	memcpy(y + o, acc, (size_t)t * sizeof(float));
}

/* y = b + x W for one row: wide tiles, then narrow ones, then the rest; each
 * output sums in the same order whichever tile it falls in. */
static void dense_row(const float *x, int in, const float *w, const float *b, int out, float *y)
{
	int o = 0;
	for (; o + TILE <= out; o += TILE)
		dense_tile(x, in, w, b, out, o, TILE, y);
	for (; o + 8 <= out; o += 8)
		dense_tile(x, in, w, b, out, o, 8, y);
	if (o < out)
		dense_tile(x, in, w, b, out, o, out - o, y);
}

int pol_mlp_forward(struct pol_mlp *m, const float *x, int n, const float **y)
{
	if (n < 1 || n > m->max_batch)
		return -EINVAL;
	m->batch = n;
	memcpy(m->act[0], x, (size_t)n * m->sizes[0] * sizeof(float));
	for (int l = 0; l < m->n_layers; l++) {
		int in = m->sizes[l], out = m->sizes[l + 1], relu = l + 1 < m->n_layers;
		for (int r = 0; r < n; r++) {
			float *yr = m->act[l + 1] + (size_t)r * out;
			dense_row(m->act[l] + (size_t)r * in, in, m->w[l], m->b[l], out, yr);
			if (relu)
				for (int o = 0; o < out; o++)
					yr[o] = yr[o] > 0.0f ? yr[o] : 0.0f;
		}
	}
	*y = m->act[m->n_layers];
	return 0;
}

int pol_mlp_backward(struct pol_mlp *m, const float *dy, float *dx)
{
	int n = m->batch;
	if (n < 1)
		return -EINVAL;
	const float *d = dy;
	for (int l = m->n_layers - 1; l >= 0; l--) {
		int in = m->sizes[l], out = m->sizes[l + 1];
		const float *X = m->act[l];
		float *gw = m->gw[l], *gb = m->gb[l];
		for (int r = 0; r < n; r++) {
			const float *dr = d + (size_t)r * out, *xr = X + (size_t)r * in;
			for (int o = 0; o < out; o++)
				gb[o] += dr[o];
			for (int i = 0; i < in; i++) {
				float xi = xr[i];
				if (xi == 0.0f)
					continue;
				float *g = gw + (size_t)i * out;
				for (int o = 0; o < out; o++)
					g[o] += xi * dr[o];
			}
		}
		if (l == 0 && !dx)
			break;
		/* input gradient; below a hidden layer it passes the ReLU where the
		 * layer's input (the ReLU's output) was positive */
		float *dp = l ? m->delta[l & 1] : dx;
		for (int r = 0; r < n; r++) {
			const float *dr = d + (size_t)r * out, *xr = X + (size_t)r * in;
			float *dpr = dp + (size_t)r * in;
			for (int i = 0; i < in; i++)
				dpr[i] = (l == 0 || xr[i] > 0.0f) ?
						 pol_dot(m->w[l] + (size_t)i * out, dr, out) :
						 0.0f;
		}
		d = dp;
	}
	return 0;
}

/* ---- masked softmax -------------------------------------------------------- */

int pol_mask_count(const uint8_t *mask, int n)
{
	if (!mask)
		return n > 0 ? n : 0;
	int c = 0;
	for (int i = 0; i < n; i++)
		c += mask[i] != 0;
	return c;
}

int pol_argmax_masked(const float *z, const uint8_t *mask, int n, int *out)
{
	int best = -1;
	for (int i = 0; i < n; i++)
		if ((!mask || mask[i]) && (best < 0 || z[i] > z[best]))
			best = i;
	if (best < 0)
		return -EINVAL;
	*out = best;
	return 0;
}

int pol_softmax_masked(const float *z, const uint8_t *mask, int n, float *p, float *logp)
{
	int best;
	if (pol_argmax_masked(z, mask, n, &best))
		return -EINVAL;
	float zmax = z[best];
	double sum = 0;
	int valid = 0;
	for (int i = 0; i < n; i++)
		if (!mask || mask[i]) {
			sum += expf(z[i] - zmax); /* <= 1 each, the max contributes 1 */
			valid++;
		}
	float lse = (float)log(sum);
	for (int i = 0; i < n; i++) {
		int ok = !mask || mask[i];
		float lp = ok ? (z[i] - zmax) - lse : 0.0f;
		if (logp)
			logp[i] = lp;
		if (p)
			p[i] = ok ? expf(lp) : 0.0f;
	}
	return valid;
}

void pol_softmax_masked_backward(const float *p, const uint8_t *mask, int n, const float *dp,
				 const float *dlogp, float *dz)
{
	/* d logp_j / d z_k = [j = k] - p_k;  d p_j / d z_k = p_j ([j = k] - p_k) */
	double pdp = 0, sdl = 0;
	for (int i = 0; i < n; i++)
		if (!mask || mask[i]) {
			if (dp)
				pdp += (double)p[i] * dp[i];
			if (dlogp)
				sdl += dlogp[i];
		}
	for (int i = 0; i < n; i++) {
		if (mask && !mask[i]) {
			dz[i] = 0.0f;
			continue;
		}
		double g = 0;
		if (dp)
			g += p[i] * (dp[i] - pdp);
		if (dlogp)
			g += dlogp[i] - p[i] * sdl;
		dz[i] = (float)g;
	}
}
