/* Gradient-check helpers: a double-precision reference of pol_mlp's forward
 * (written from the definition, not from policy/mlp.c) and the comparison the
 * checks state their tolerance against. */
#ifndef COINFER_TEST_GRADCHECK_H
#define COINFER_TEST_GRADCHECK_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/policy-nn.h"

/* Tolerance of every check: per component,
 *   |analytic - numeric| / max(|numeric|, 1e-2 * max_j |numeric_j|) <= 1e-3,
 * i.e. relative error 1e-3, with components below 1% of the largest one measured
 * against that 1% (float rounding in a sum of many terms is absolute, not
 * relative, to the small ones). Numeric gradients are central differences of a
 * double-precision reference with step GC_H. */
#define GC_TOL 1e-3
#define GC_H 1e-5

static inline double gc_err(const float *analytic, const double *numeric, size_t n, size_t *worst)
{
	double top = 0, err = 0;
	for (size_t i = 0; i < n; i++)
		top = fabs(numeric[i]) > top ? fabs(numeric[i]) : top;
	double floor = 1e-2 * top > 1e-12 ? 1e-2 * top : 1e-12;
	for (size_t i = 0; i < n; i++) {
		double s = fabs(numeric[i]) > floor ? fabs(numeric[i]) : floor;
		double e = fabs((double)analytic[i] - numeric[i]) / s;
		if (!(e <= err)) { /* NaN counts as the worst */
			err = e;
			if (worst)
				*worst = i;
		}
	}
	return err;
}

/* Index of the largest |x|. */
static inline size_t gc_argmax_abs(const double *x, size_t n)
{
	size_t k = 0;
	for (size_t i = 1; i < n; i++)
		if (fabs(x[i]) > fabs(x[k]))
			k = i;
	return k;
}

/* y[n x out] = reference forward of m's architecture with parameters p (double,
 * same layout as pol_mlp.params) on x[n x in]. */
static inline void ref_forward(const struct pol_mlp *m, const double *p, const double *x, int n,
			       double *y)
{
	int widest = 0;
	for (int l = 0; l <= m->n_layers; l++)
		widest = m->sizes[l] > widest ? m->sizes[l] : widest;
	double *a = malloc(sizeof(double) * widest), *b = malloc(sizeof(double) * widest);
	for (int r = 0; r < n; r++) {
		memcpy(a, x + (size_t)r * m->sizes[0], sizeof(double) * m->sizes[0]);
		size_t off = 0;
		for (int l = 0; l < m->n_layers; l++) {
			int in = m->sizes[l], out = m->sizes[l + 1];
			const double *W = p + off, *B = p + off + (size_t)in * out;
			for (int o = 0; o < out; o++) {
				double s = B[o];
				for (int i = 0; i < in; i++)
					s += a[i] * W[(size_t)i * out + o];
				b[o] = (l + 1 < m->n_layers && s < 0) ? 0 : s;
			}
			off += (size_t)in * out + out;
			memcpy(a, b, sizeof(double) * out);
		}
		memcpy(y + (size_t)r * m->sizes[m->n_layers], a, sizeof(double) * m->sizes[m->n_layers]);
	}
	free(a);
	free(b);
}

static inline double *to_double(const float *x, size_t n)
{
	double *d = malloc(sizeof(double) * (n ? n : 1));
	for (size_t i = 0; i < n; i++)
		d[i] = x[i];
	return d;
}

/* Reference masked log-softmax in double; masked entries get p = logp = 0. */
static inline void ref_softmax(const double *z, const uint8_t *mask, int n, double *p, double *lp)
{
	double mx = -INFINITY, s = 0;
	for (int i = 0; i < n; i++)
		if ((!mask || mask[i]) && z[i] > mx)
			mx = z[i];
	for (int i = 0; i < n; i++)
		if (!mask || mask[i])
			s += exp(z[i] - mx);
	for (int i = 0; i < n; i++) {
		int ok = !mask || mask[i];
		lp[i] = ok ? z[i] - mx - log(s) : 0;
		p[i] = ok ? exp(lp[i]) : 0;
	}
}

#endif
