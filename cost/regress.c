/* Per-layer-type least squares (Edgent (Li et al. 2018) Sec. III-B). The variables span five
 * orders of magnitude (bytes against an intercept of 1), so the normal equations
 * would square a condition number near 1e5; instead each row is rotated into a
 * triangular factor by Givens rotations (a QR factorisation that needs no copy of
 * the data) on columns scaled to unit norm. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "coinfer/cost-profile.h"
#include "coinfer/errmsg.h"
#include "coinfer/names.h"

#define MAXK 4

int cost_lsq(const double *x, const double *y, int n, int k, double *coef, double *r2)
{
	int cols = k + 1;
	double scale[MAXK + 1], R[MAXK + 1][MAXK + 2], v[MAXK + 2];
	if (k < 1 || k > MAXK || n < cols || n > COST_LSQ_MAX_ROWS)
		return -EINVAL;
	for (int j = 0; j < k; j++) {
		double s = 0;
		for (int i = 0; i < n; i++) {
			double a = x[(size_t)i * k + j];
			if (!isfinite(a))
				return -EINVAL;
			s += a * a;
		}
		if (s == 0)
			return -EDOM;
		scale[j] = sqrt(s);
	}
	scale[k] = sqrt((double)n);
	for (int i = 0; i < n; i++)
		if (!isfinite(y[i]))
			return -EINVAL;
	memset(R, 0, sizeof(R));
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < k; j++)
			v[j] = x[(size_t)i * k + j] / scale[j];
		v[k] = 1.0 / scale[k];
		v[cols] = y[i];
		for (int j = 0; j < cols; j++) {
			if (v[j] == 0)
				continue;
			double h = hypot(R[j][j], v[j]), c = R[j][j] / h, s = v[j] / h;
			for (int l = j; l <= cols; l++) {
				double t = c * R[j][l] + s * v[l];
				v[l] = c * v[l] - s * R[j][l];
				R[j][l] = t;
			}
		}
	}
	/* Columns have unit norm, so |R_jj| is the distance of column j from the span
	 * of the ones before it: near zero means it adds nothing they do not. */
	for (int j = 0; j < cols; j++)
		if (!(fabs(R[j][j]) > 1e-9))
			return -EDOM;
	double b[MAXK + 1];
	for (int j = cols - 1; j >= 0; j--) {
		double s = R[j][cols];
		for (int l = j + 1; l < cols; l++)
			s -= R[j][l] * b[l];
		b[j] = s / R[j][j];
	}
	for (int j = 0; j < cols; j++)
		coef[j] = b[j] / scale[j];
	/* R^2 from the residuals themselves: the rotated-out remainder loses digits
	 * when the fit is exact. */
	double mean = 0, tss = 0, rss = 0;
	for (int i = 0; i < n; i++)
		mean += y[i];
	mean /= n;
	for (int i = 0; i < n; i++) {
		double pred = coef[k];
		for (int j = 0; j < k; j++)
			pred += coef[j] * x[(size_t)i * k + j];
		rss += (y[i] - pred) * (y[i] - pred);
		tss += (y[i] - mean) * (y[i] - mean);
	}
	if (r2)
		*r2 = tss > 0 ? 1.0 - rss / tss : (rss <= 1e-24 ? 1.0 : 0.0);
	return 0;
}

static void note_add(char *note, size_t notelen, const char *fmt, const char *a, int n)
{
	if (!note || !notelen)
		return;
	size_t used = strlen(note);
	if (used + 1 < notelen)
		snprintf(note + used, notelen - used, fmt, a, n);
}

#define MAX_POINTS (COST_MAX_EXITS * COST_MAX_POS)

int cost_regress_fit(const struct cost_profile *p, int bi, struct cost_regression *out, char *note,
		    size_t notelen, char *err, size_t errlen)
{
	if (bi < 0 || bi >= p->n_batches)
		return cf_fail(-EINVAL, err, errlen, "batch index %d outside the profile's %d batches",
				bi, p->n_batches);
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "fit:%.40s:b%d", p->device_class, p->batches[bi]);
	if (note && notelen)
		note[0] = 0;
	int batch = p->batches[bi];
	for (int kind = 0; kind < COST_REG_KINDS; kind++) {
		double x[MAX_POINTS * 2], y[MAX_POINTS];
		const char *names[MAX_POINTS];
		int n = 0, nv = cost_reg_kind_vars((enum cost_reg_kind)kind);
		for (int e = 0; e < p->n_exits; e++)
			for (int pos = 0; pos < p->exits[e].n_layers; pos++) {
				const struct cost_profile_layer *L = &p->exits[e].layers[pos];
				if ((int)cost_reg_kind_of(L->type) != kind)
					continue;
				int dup = 0;
				for (int i = 0; i < n && !dup; i++)
					dup = !strcmp(names[i], L->name);
				if (dup)
					continue;
				names[n] = L->name;
				x[2 * n] = L->x1 * batch;
				x[2 * n + 1] = kind == COST_REG_CONV ? L->x2 : L->x2 * batch;
				y[n] = L->mean_ms[bi];
				n++;
			}
		if (!n)
			continue;
		const char *kn = cost_reg_kind_name((enum cost_reg_kind)kind);
		struct cost_reg_line *ln = &out->line[kind];
		double coef[3], r2 = 0;
		int r = -EDOM;
		if (nv == 2 && n >= 3) {
			double xx[MAX_POINTS * 2];
			memcpy(xx, x, sizeof(double) * 2 * (size_t)n);
			r = cost_lsq(xx, y, n, 2, coef, &r2);
			if (!r)
				*ln = (struct cost_reg_line){.c1 = coef[0], .c2 = coef[1], .c0 = coef[2],
							    .nvar = 2, .n = n, .r2 = r2, .present = 1};
			else
				note_add(note, notelen, "%s: x2 collinear with x1 over %d layers, fitted on x1 alone; ",
					 kn, n);
		} else if (nv == 2) {
			note_add(note, notelen, "%s: %d distinct layers cannot fit 3 parameters, fitted on x1 alone; ",
				 kn, n);
		}
		if (r) {
			double x1[MAX_POINTS];
			for (int i = 0; i < n; i++)
				x1[i] = x[2 * i];
			if (n >= 2 && !(r = cost_lsq(x1, y, n, 1, coef, &r2)))
				*ln = (struct cost_reg_line){.c1 = coef[0], .c2 = 0, .c0 = coef[1],
							    .nvar = 1, .n = n, .r2 = r2, .present = 1};
			else
				note_add(note, notelen, "%s: %d distinct layer size(s), no fit; ", kn, n);
		}
		if (ln->present && ln->n == ln->nvar + 1)
			note_add(note, notelen, "%s: exact fit (%d points for as many parameters), R^2 = 1 says nothing; ",
				 kn, n);
	}
	return 0;
}
