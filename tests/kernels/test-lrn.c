/* LRN: the scalar reference against hand-computed values and an independent
 * double-precision LRN written here; then every SIMD level against the reference
 * for beta = 0.75 (the sqrt path) and other betas (the exp/log path), window
 * sizes 1..5 (even ones too, whose window is lopsided), channel counts below and
 * around the window, pixel counts around the vector widths and the 256-pixel
 * tile, batches 1/3/32, mild (AlexNet's alpha 1e-4) and strong (alpha 1)
 * normalisation, and zero, subnormal, inf and NaN special cases.
 *
 * Tolerances, each relative to the element's own magnitude (b/a depends on the
 * window only, so relative error is meaningful even where a is tiny):
 *  - reference vs double: 1e-6. The float sum of <= 5 squares, the scaling and
 *    powf add up to about 5 ulp = 3e-7; powf's own error is libm's (<= 1 ulp in
 *    glibc).
 *  - beta = 0.75 vs reference: 1e-6. Two sqrt, a product and a division, each
 *    correctly rounded, against powf and a product: ~3 ulp; measured 2.8e-7.
 *  - other betas vs reference: 2e-6. exp(-beta*log(s)) inherits the rounding of
 *    y = -beta*log(s), ~|y| * 6e-8, plus ~1 ulp each from exp and log; with
 *    |y| < 6 here, measured 6.4e-7.
 * The test prints the largest differences it saw. The brief's figure,
 * normalised error (max |diff| / max |ref|), is also held to 1e-6. */
#include <math.h>
#include <string.h>

#include "coinfer/kernels.h"
#include "harness.h"

static int same(float a, float b)
{
	return a == b || (isnan(a) && isnan(b));
}

/* Independent LRN in double, straight from the formula
 * b_c = a_c / (k + alpha/size * sum_{c' in window} a_c'^2)^beta. */
static void naive(const struct ck_lrn_desc *d, const float *in, float *out, int n)
{
	const size_t hw = (size_t)d->h * d->w;
	for (int b = 0; b < n; b++)
		for (int c = 0; c < d->c; c++)
			for (size_t p = 0; p < hw; p++) {
				double s = 0.0;
				for (int j = c - d->size / 2; j <= c + (d->size - 1) / 2; j++)
					if (j >= 0 && j < d->c) {
						const double v =
							in[((size_t)b * d->c + j) * hw + p];
						s += v * v;
					}
				const size_t i = ((size_t)b * d->c + c) * hw + p;
				out[i] = (float)(in[i] / pow(d->k + (double)d->alpha / d->size * s,
							     d->beta));
			}
}

/* max over i of |got - want| / |want|, NaN in the same places or else 1. */
static double max_rel(const float *want, const float *got, size_t n)
{
	double m = 0.0;
	for (size_t i = 0; i < n; i++) {
		if (isnan(want[i]) || isnan(got[i])) {
			if (!same(want[i], got[i]))
				return 1.0;
			continue;
		}
		if (want[i] == got[i])
			continue;
		const double r = fabs((double)got[i] - want[i]) / fabs((double)want[i]);
		if (!(r <= m))
			m = r;
	}
	return m;
}

static void hand(void)
{
	const struct ck_kernels *k = ck_kernels_for(CK_ISA_SCALAR);
	const float a[3] = {1.0f, 2.0f, 3.0f};
	float out[3];
	/* size 3, alpha 0.3, k 2: windows {0,1}, {0,1,2}, {1,2}; sums 5, 14, 13 */
	struct ck_lrn_desc d = {
		.c = 3, .h = 1, .w = 1, .size = 3, .alpha = 0.3f, .beta = 0.75f, .k = 2.0f};
	k->lrn(&d, a, out, 1);
	const double want3[3] = {1.0 / pow(2.5, 0.75), 2.0 / pow(3.4, 0.75), 3.0 / pow(3.3, 0.75)};
	for (int i = 0; i < 3; i++)
		TH_CHECK(fabs(out[i] - want3[i]) <= 1e-6 * want3[i],
			 "lrn size 3 [%d] = %.9g, want %.9g", i, out[i], want3[i]);
	/* size 4 reaches two channels back and one ahead: {0,1}, {0,1,2}, {0,1,2} */
	d.size = 4;
	d.beta = 0.5f;
	k->lrn(&d, a, out, 1);
	const double want4[3] = {1.0 / sqrt(2 + 0.075 * 5), 2.0 / sqrt(2 + 0.075 * 14),
				 3.0 / sqrt(2 + 0.075 * 14)};
	for (int i = 0; i < 3; i++)
		TH_CHECK(fabs(out[i] - want4[i]) <= 1e-6 * want4[i],
			 "lrn size 4 [%d] = %.9g, want %.9g", i, out[i], want4[i]);
	/* size 1 is pointwise: a / (k + alpha a^2)^beta */
	d.size = 1;
	d.beta = 1.0f;
	k->lrn(&d, a, out, 1);
	for (int i = 0; i < 3; i++) {
		const double w = a[i] / (2.0 + 0.3 * a[i] * a[i]);
		TH_CHECK(fabs(out[i] - w) <= 1e-6 * w, "lrn size 1 [%d] = %.9g, want %.9g", i,
			 out[i], w);
	}
}

static double worst[2]; /* largest relative difference seen: beta 0.75, other */

static void run(const struct ck_lrn_desc *d, int n, float scale, uint64_t seed)
{
	const size_t sz = (size_t)n * d->c * d->h * d->w;
	float *in = th_alloc(sz * sizeof(float)), *want = th_alloc(sz * sizeof(float));
	float *got = th_alloc((sz + 1) * sizeof(float));
	th_fill(in, sz, seed);
	for (size_t i = 0; i < sz; i++)
		in[i] *= scale;
	const struct ck_kernels *ref = ck_kernels_for(CK_ISA_SCALAR);
	ref->lrn(d, in, want, n);
	naive(d, in, got, n);
	double r = max_rel(got, want, sz);
	TH_CHECK(r <= 1e-6, "scalar c%d %dx%d size %d beta %g n%d: %.3g off double", d->c, d->h,
		 d->w, d->size, d->beta, n, r);
	const int fast = d->beta == 0.75f;
	for (int isa = 1; isa < CK_ISA_COUNT; isa++) {
		const struct ck_kernels *k = ck_kernels_for((enum ck_isa)isa);
		if (!k)
			continue;
		/* a stale result from the previous level must not pass */
		for (size_t i = 0; i <= sz; i++)
			got[i] = 777.0f;
		k->lrn(d, in, got, n);
		r = max_rel(want, got, sz);
		if (r > worst[!fast])
			worst[!fast] = r;
		const double nerr = th_nerr(want, got, sz);
		TH_CHECK(r <= (fast ? 1e-6 : 2e-6) && nerr <= 1e-6 && got[sz] == 777.0f,
			 "%s c%d %dx%d size %d beta %g n%d: relative %.3g, normalised %.3g",
			 k->name, d->c, d->h, d->w, d->size, d->beta, n, r, nerr);
	}
	free(in);
	free(want);
	free(got);
}

/* div = 0 (k = 0 over an all-zero window) gives 0/0 = NaN as in torch, and NaN
 * inputs spread over their window: every level must put NaN where the
 * reference does. */
static void special(void)
{
	const struct ck_lrn_desc d = {.c = 6, .h = 5, .w = 7, .size = 3, .alpha = 1e-2f, .k = 0.0f};
	const size_t hw = 35, sz = 6 * hw;
	float in[6 * 35], want[6 * 35], got[6 * 35];
	static const float betas[] = {0.75f, 0.9f};
	for (int bi = 0; bi < 2; bi++) {
		const float beta = betas[bi];
		struct ck_lrn_desc e = d;
		e.beta = beta;
		th_fill(in, sz, 99);
		for (int c = 0; c < 6; c++) {
			in[c * hw + 3] = 0.0f; /* zero through every channel */
			in[c * hw + 20] = 1e-30f; /* squares underflow */
		}
		in[2 * hw + 11] = NAN;
		in[5 * hw + 30] = INFINITY;
		ck_kernels_for(CK_ISA_SCALAR)->lrn(&e, in, want, 1);
		TH_CHECK(isnan(want[3]) && isnan(want[1 * hw + 11]) && !isnan(want[4 * hw + 11]),
			 "reference special values, beta %g", beta);
		for (int isa = 1; isa < CK_ISA_COUNT; isa++) {
			const struct ck_kernels *k = ck_kernels_for((enum ck_isa)isa);
			if (!k)
				continue;
			k->lrn(&e, in, got, 1);
			TH_CHECK(max_rel(want, got, sz) <= 2e-6, "%s special values, beta %g: %.3g",
				 k->name, beta, max_rel(want, got, sz));
		}
	}
}

int main(void)
{
	hand();
	special();
	static const float betas[] = {0.75f, 0.6f, 1.3f};
	static const int sizes[] = {1, 2, 3, 4, 5};
	static const int chans[] = {1, 2, 3, 4, 5, 7, 16, 17};
	static const int pixels[][2] = {{1, 1},  {1, 3},   {1, 7},   {2, 4},  {3, 3}, {3, 5},
					{4, 4},  {1, 17},  {5, 6},   {3, 11}, {4, 8}, {11, 3},
					{5, 51}, {16, 16}, {1, 257}, {15, 20}};
	uint64_t seed = 1;
	for (size_t b = 0; b < sizeof betas / sizeof betas[0]; b++)
		for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
			for (size_t c = 0; c < sizeof chans / sizeof chans[0]; c++)
				for (size_t p = 0; p < sizeof pixels / sizeof pixels[0];
				     p++, seed++) {
					const struct ck_lrn_desc d = {
						.c = chans[c],
						.h = pixels[p][0],
						.w = pixels[p][1],
						.size = sizes[s],
						.beta = betas[b],
						/* mild (AlexNet's) and strong normalisation */
						.alpha = seed & 1 ? 1e-4f : 1.0f,
						.k = seed & 2 ? 2.0f : 1.0f};
					const int n = pixels[p][0] * pixels[p][1] <= 16
							      ? (int[]){1, 3, 32}[seed % 3]
							      : 1 + 2 * (int)(seed % 2);
					run(&d, n, seed & 4 ? 1.0f : 8.0f, seed);
				}
	/* AlexNet's LRN after conv1, full size */
	const struct ck_lrn_desc alex = {
		.c = 96, .h = 55, .w = 55, .size = 5, .alpha = 1e-4f, .beta = 0.75f, .k = 2.0f};
	run(&alex, 1, 30.0f, 5);
	printf("largest relative difference from the reference: beta 0.75 %.3g, other %.3g\n",
	       worst[0], worst[1]);
	return th_finish("kernel-lrn");
}
