/* Softmax and softmax entropy: the scalar reference against hand-computed values
 * and an independent double-precision softmax and entropy (H = -sum p log p,
 * not the kernels' log S - T/S) written here; then every SIMD level against the
 * reference over class counts around the vector widths, batches 1/3/32, rows of
 * small and large (+-80) logits, equal logits, one-hot rows, -inf and NaN.
 *
 * Tolerances, p the reference probability, H the reference entropy:
 *  - reference vs double: |dp| <= 1e-6 p + 1e-38 (expf <= 1 ulp, a double sum,
 *    one float reciprocal and product: ~2.5 ulp; the absolute term covers
 *    subnormal p), |dH| <= 1e-6 (1 + H), each plus the cost of rounding
 *    z = x - max to float (see naive()), which the double side does not pay.
 *  - SIMD vs reference (both round z the same way): |dp| <= 2e-6 p + 1e-38 and
 *    |dH| <= 2e-6 (1 + H). The SIMD exp is within 1.5 ulp of exp (vmath
 *    headers) against expf's 1 ulp, and S is a float sum over vector lanes: for
 *    1000 classes NEON adds ~125 terms per lane, a worst case of
 *    125 * 2^-24 = 7.5e-6 relative that random rounding keeps near
 *    sqrt(125) * 2^-25 = 3.3e-7. The worst seen is printed at the end. The
 *    normalised error per row (max |dp| / max p) is also held to 1e-6. */
#include <math.h>
#include <string.h>

#include "coinfer/kernels.h"
#include "harness.h"

static int same(float a, float b)
{
	return a == b || (isnan(a) && isnan(b));
}

/* Independent softmax and entropy in double. tp and th receive each result's
 * tolerance for a float implementation: 1e-6 relative (about 8 ulp) plus what
 * rounding z = x - m to float may cost, |dz| <= |z| 2^-24, which no float
 * softmax (torch's included) avoids: for p_i, (|z_i| + sum_j p_j |z_j|) 2^-24
 * relative; for H, sum_j p_j |z_j| |log p_j + H| 2^-24, as dH/dz_j =
 * -p_j (log p_j + H). */
static void naive(const float *in, float *p, float *h, float *tp, float *th, int n, int classes)
{
	for (int r = 0; r < n; r++) {
		const float *x = in + (size_t)r * classes;
		double m = -INFINITY, s = 0.0, ent = 0.0, zbar = 0.0, dh = 0.0;
		int nan = 0;
		for (int i = 0; i < classes; i++) {
			if (isnan(x[i]))
				nan = 1;
			else if (x[i] > m)
				m = x[i];
		}
		for (int i = 0; i < classes; i++)
			s += exp((double)x[i] - m);
		for (int i = 0; i < classes; i++) {
			const double q = exp((double)x[i] - m) / s;
			if (q > 0) {
				ent -= q * log(q);
				zbar += q * (m - x[i]);
			}
		}
		for (int i = 0; i < classes; i++) {
			const double q = exp((double)x[i] - m) / s;
			p[(size_t)r * classes + i] = nan ? NAN : (float)q;
			tp[(size_t)r * classes + i] =
				(float)(q * (1e-6 + (m - x[i] + zbar) * 0x1p-24) + 1e-38);
			if (q > 0)
				dh += q * (m - x[i]) * fabs(log(q) + ent) * 0x1p-24;
		}
		h[r] = nan ? NAN : (float)ent;
		th[r] = (float)(1e-6 * (1.0 + ent) + dh);
	}
}

/* Worst |got - want| as a fraction of its tolerance, tol[i] absolute (or, with
 * tol NULL, rtol |want| + 1e-38 for p and rtol (1 + want) for H): <= 1 passes.
 * NaN must sit where want has it. */
static double excess(const float *want, const float *got, const float *tol, size_t n, double rtol,
		     int entropy)
{
	double worst = 0.0;
	for (size_t i = 0; i < n; i++) {
		if (isnan(want[i]) || isnan(got[i])) {
			if (!same(want[i], got[i]))
				return INFINITY;
			continue;
		}
		const double w = fabs((double)want[i]);
		const double t = tol ? tol[i] : entropy ? rtol * (1.0 + w) : rtol * w + 1e-38;
		const double e = fabs((double)got[i] - want[i]) / t;
		if (!(e <= worst))
			worst = e;
	}
	return worst;
}

static void hand(void)
{
	const struct ck_kernels *k = ck_kernels_for(CK_ISA_SCALAR);
	float p[10], h;

	const float x3[3] = {1.0f, 2.0f, 3.0f};
	const double s3 = exp(-2.0) + exp(-1.0) + 1.0;
	const double p3[3] = {exp(-2.0) / s3, exp(-1.0) / s3, 1.0 / s3};
	double h3 = 0.0;
	for (int i = 0; i < 3; i++)
		h3 -= p3[i] * log(p3[i]);
	k->softmax(x3, p, 1, 3);
	for (int i = 0; i < 3; i++)
		TH_CHECK(fabs(p[i] - p3[i]) <= 1e-6 * p3[i], "softmax(1,2,3)[%d] = %.9g, want %.9g",
			 i, p[i], p3[i]);
	k->softmax_entropy(x3, &h, 1, 3);
	TH_CHECK(fabs(h - h3) <= 1e-6, "H(1,2,3) = %.9g, want %.9g", h, h3);

	const float one = 42.0f;
	k->softmax(&one, p, 1, 1);
	k->softmax_entropy(&one, &h, 1, 1);
	TH_CHECK(p[0] == 1.0f && h == 0.0f, "one class: p %g H %g", p[0], h);

	float eq[10];
	for (int i = 0; i < 10; i++)
		eq[i] = -7.5f;
	k->softmax(eq, p, 1, 10);
	k->softmax_entropy(eq, &h, 1, 10);
	for (int i = 0; i < 10; i++)
		TH_CHECK(fabsf(p[i] - 0.1f) <= 1e-7f, "equal logits p[%d] = %.9g", i, p[i]);
	TH_CHECK(fabs(h - log(10.0)) <= 1e-6, "equal logits H = %.9g, want ln 10", h);

	const float inf2[3] = {0.0f, -INFINITY, 0.0f};
	k->softmax(inf2, p, 1, 3);
	k->softmax_entropy(inf2, &h, 1, 3);
	TH_CHECK(p[0] == 0.5f && p[1] == 0.0f && p[2] == 0.5f, "-inf logit: %g %g %g", p[0], p[1],
		 p[2]);
	TH_CHECK(fabs(h - log(2.0)) <= 1e-6, "-inf logit H = %.9g, want ln 2", h);

	/* +-80: e^-80 = 1.8e-35 is still a normal float, e^-160 is 0 */
	const float big[3] = {80.0f, -80.0f, 0.0f};
	k->softmax(big, p, 1, 3);
	k->softmax_entropy(big, &h, 1, 3);
	TH_CHECK(p[0] == 1.0f && p[1] == 0.0f && fabs(p[2] - exp(-80.0)) <= 1e-6 * exp(-80.0),
		 "+-80: %g %g %g", p[0], p[1], p[2]);
	TH_CHECK(h >= 0.0f && h < 1e-30f, "+-80: H = %g", h);

	const float nan3[3] = {1.0f, NAN, 2.0f};
	k->softmax(nan3, p, 1, 3);
	k->softmax_entropy(nan3, &h, 1, 3);
	TH_CHECK(isnan(p[0]) && isnan(p[1]) && isnan(p[2]) && isnan(h), "NaN logit should spread");
}

enum kind { UNIFORM, WIDE, EQUAL, ONEHOT, PM80, NEGINF, KINDS };

static void fill_row(float *x, int classes, enum kind kind, uint64_t seed)
{
	th_fill(x, (size_t)classes, seed);
	for (int i = 0; i < classes; i++) {
		switch (kind) {
		case UNIFORM:
			break;
		case WIDE:
			x[i] *= 20.0f;
			break;
		case EQUAL:
			x[i] = 3.25f;
			break;
		case ONEHOT:
			x[i] = i == (int)(seed % (uint64_t)classes) ? 80.0f : -80.0f + x[i];
			break;
		case PM80:
			x[i] = x[i] < 0 ? -80.0f - x[i] : 80.0f - x[i];
			break;
		case NEGINF:
			if (i % 3 == 1)
				x[i] = -INFINITY;
			break;
		default:
			break;
		}
	}
}

static double worst_p, worst_h;

static void run(int n, int classes, uint64_t seed)
{
	const size_t sz = (size_t)n * classes;
	float *in = th_alloc(sz * sizeof(float)), *want = th_alloc(sz * sizeof(float));
	float *got = th_alloc((sz + 1) * sizeof(float)), *hw = th_alloc(n * sizeof(float));
	float *hg = th_alloc((n + 1) * sizeof(float)), *tp = th_alloc(sz * sizeof(float));
	float *th = th_alloc(n * sizeof(float));
	for (int r = 0; r < n; r++)
		fill_row(in + (size_t)r * classes, classes, (enum kind)((seed + r) % KINDS),
			 seed * 131 + r);
	if (n == 3)
		in[(size_t)classes + seed % classes] = NAN; /* row 1 only */
	const struct ck_kernels *ref = ck_kernels_for(CK_ISA_SCALAR);
	ref->softmax(in, want, n, classes);
	ref->softmax_entropy(in, hw, n, classes);
	naive(in, got, hg, tp, th, n, classes);
	double e = excess(got, want, tp, sz, 0, 0);
	TH_CHECK(e <= 1.0, "scalar softmax n%d classes %d: %.3g x tol", n, classes, e);
	e = excess(hg, hw, th, (size_t)n, 0, 1);
	TH_CHECK(e <= 1.0, "scalar entropy n%d classes %d: %.3g x tol", n, classes, e);
	for (int isa = 1; isa < CK_ISA_COUNT; isa++) {
		const struct ck_kernels *k = ck_kernels_for((enum ck_isa)isa);
		if (!k)
			continue;
		/* a stale result from the previous level must not pass */
		for (size_t i = 0; i <= sz; i++)
			got[i] = 777.0f;
		for (int i = 0; i <= n; i++)
			hg[i] = 777.0f;
		k->softmax(in, got, n, classes);
		k->softmax_entropy(in, hg, n, classes);
		const double ep = excess(want, got, NULL, sz, 2e-6, 0);
		const double eh = excess(hw, hg, NULL, (size_t)n, 2e-6, 1);
		if (ep > worst_p)
			worst_p = ep;
		if (eh > worst_h)
			worst_h = eh;
		TH_CHECK(ep <= 1.0 && got[sz] == 777.0f, "%s softmax n%d classes %d: %.3g x tol",
			 k->name, n, classes, ep);
		TH_CHECK(eh <= 1.0 && hg[n] == 777.0f, "%s entropy n%d classes %d: %.3g x tol",
			 k->name, n, classes, eh);
		for (int r = 0; r < n; r++) {
			const float *w = want + (size_t)r * classes;
			if (isnan(w[0]))
				continue;
			const double ne = th_nerr(w, got + (size_t)r * classes, (size_t)classes);
			TH_CHECK(ne <= 1e-6, "%s softmax row %d classes %d: normalised %.3g",
				 k->name, r, classes, ne);
		}
		/* in place gives the same bits */
		float *inplace = th_alloc(sz * sizeof(float));
		memcpy(inplace, in, sz * sizeof(float));
		k->softmax(inplace, inplace, n, classes);
		TH_CHECK(!memcmp(inplace, got, sz * sizeof(float)), "%s softmax in place differs",
			 k->name);
		free(inplace);
	}
	free(in);
	free(want);
	free(got);
	free(hw);
	free(hg);
	free(tp);
	free(th);
}

int main(void)
{
	hand();
	static const int classes[] = {1,  2,  3,  4,  5,  7,  8,  9,   10,   15,  16,
				      17, 31, 32, 33, 63, 64, 65, 100, 1000, 1001};
	static const int batches[] = {1, 3, 32};
	uint64_t seed = 1;
	for (size_t c = 0; c < sizeof classes / sizeof classes[0]; c++)
		for (size_t b = 0; b < 3; b++, seed++)
			run(batches[b], classes[c], seed);
	printf("worst SIMD excess over the reference, as a fraction of the tolerance: "
	       "softmax %.3g, entropy %.3g\n",
	       worst_p, worst_h);
	return th_finish("kernel-softmax");
}
