/* Pooling: the scalar reference against hand-computed outputs and against an
 * independent naive pooling written here (padding handled by explicit bounds
 * checks, sums in double); then every SIMD level against the reference.
 *
 * Tolerances: the SIMD levels visit each window in the reference's order, so
 * max and average pooling must agree exactly (NaN for NaN; the sign of a zero is
 * not compared, as NEON's FMAX orders -0 below +0). The reference's average,
 * a float sum of at most kh*kw terms then a division, is held to the rounding
 * bound of that arithmetic, (taps + 1) * 2^-24 * sum |v| / (kh*kw), against the
 * double sum of the naive pooling; the max must match it exactly. */
#include <math.h>
#include <string.h>

#include "coinfer/kernels.h"
#include "harness.h"

static int same(float a, float b)
{
	return a == b || (isnan(a) && isnan(b));
}

static void hand(void)
{
	const struct ck_kernels *k = ck_kernels_for(CK_ISA_SCALAR);
	float x16[16], x9[9], neg9[9], out[16];
	for (int i = 0; i < 16; i++)
		x16[i] = (float)(i + 1);
	for (int i = 0; i < 9; i++) {
		x9[i] = (float)(i + 1);
		neg9[i] = -(float)(i + 1);
	}

	struct ck_pool_desc d = {.c = 1, .h = 4, .w = 4, .kh = 2, .kw = 2, .sh = 2, .sw = 2};
	TH_CHECK(ck_pool_desc_init(&d) == 0 && d.oh == 2 && d.ow == 2, "2x2 s2 on 4x4: %dx%d", d.oh,
		 d.ow);
	k->maxpool(&d, x16, out, 1);
	const float max22[4] = {6, 8, 14, 16};
	TH_CHECK(!memcmp(out, max22, sizeof max22), "maxpool 2x2 s2: %g %g %g %g", out[0], out[1],
		 out[2], out[3]);
	k->avgpool(&d, x16, out, 1);
	const float avg22[4] = {3.5f, 5.5f, 11.5f, 13.5f};
	TH_CHECK(!memcmp(out, avg22, sizeof avg22), "avgpool 2x2 s2: %g %g %g %g", out[0], out[1],
		 out[2], out[3]);

	/* 3x3 s1 p1 on 1..9: padding counts in the average's divisor, never wins the max */
	d = (struct ck_pool_desc){
		.c = 1, .h = 3, .w = 3, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1};
	TH_CHECK(ck_pool_desc_init(&d) == 0 && d.oh == 3 && d.ow == 3, "3x3 s1 p1: %dx%d", d.oh,
		 d.ow);
	k->maxpool(&d, x9, out, 1);
	const float max33[9] = {5, 6, 6, 8, 9, 9, 8, 9, 9};
	for (int i = 0; i < 9; i++)
		TH_CHECK(out[i] == max33[i], "maxpool 3x3 p1 [%d] = %g, want %g", i, out[i],
			 max33[i]);
	k->maxpool(&d, neg9, out, 1);
	const float maxneg[9] = {-1, -1, -2, -1, -1, -2, -4, -4, -5};
	for (int i = 0; i < 9; i++)
		TH_CHECK(out[i] == maxneg[i], "maxpool 3x3 p1 of negatives [%d] = %g, want %g", i,
			 out[i], maxneg[i]);
	k->avgpool(&d, x9, out, 1);
	const float sums[9] = {12, 21, 16, 27, 45, 33, 24, 39, 28};
	for (int i = 0; i < 9; i++)
		TH_CHECK(out[i] == sums[i] / 9.0f, "avgpool 3x3 p1 [%d] = %g, want %g/9", i, out[i],
			 sums[i]);

	/* 3x3 s2 on 5x5 with NaN at (1,1): only the windows holding it turn NaN */
	float x25[25];
	for (int i = 0; i < 25; i++)
		x25[i] = (float)i;
	x25[6] = NAN;
	d = (struct ck_pool_desc){.c = 1, .h = 5, .w = 5, .kh = 3, .kw = 3, .sh = 2, .sw = 2};
	TH_CHECK(ck_pool_desc_init(&d) == 0 && d.oh == 2 && d.ow == 2, "3x3 s2 on 5x5: %dx%d", d.oh,
		 d.ow);
	k->maxpool(&d, x25, out, 1);
	TH_CHECK(isnan(out[0]) && out[1] == 14 && out[2] == 22 && out[3] == 24,
		 "maxpool with NaN: %g %g %g %g", out[0], out[1], out[2], out[3]);
}

/* Independent pooling: walks the whole window, skipping taps in the padding. For
 * the average it also returns in err the bound on a float sum's rounding error,
 * (taps + 1) * 2^-24 * sum |v| / (kh*kw). */
static void naive(const struct ck_pool_desc *d, const float *in, float *out, float *err, int n,
		  int max)
{
	for (int p = 0; p < n * d->c; p++)
		for (int oy = 0; oy < d->oh; oy++)
			for (int ox = 0; ox < d->ow; ox++) {
				double acc = max ? -INFINITY : 0.0, mag = 0.0;
				int nan = 0, taps = 0;
				for (int ky = 0; ky < d->kh; ky++)
					for (int kx = 0; kx < d->kw; kx++) {
						const int y = oy * d->sh - d->ph + ky;
						const int x = ox * d->sw - d->pw + kx;
						if (y < 0 || y >= d->h || x < 0 || x >= d->w)
							continue;
						const float v =
							in[((size_t)p * d->h + y) * d->w + x];
						nan |= isnan(v);
						acc = max ? fmax(acc, v) : acc + v;
						mag += fabs(v);
						taps++;
					}
				const size_t o = ((size_t)p * d->oh + oy) * d->ow + ox;
				out[o] = nan ? NAN : (float)(max ? acc : acc / (d->kh * d->kw));
				err[o] = (float)((taps + 1) * 0x1p-24 * mag / (d->kh * d->kw));
			}
}

struct cfg {
	int kh, kw, sh, sw, ph, pw;
};

static const struct cfg cfgs[] = {
	{2, 2, 2, 2, 0, 0}, {3, 3, 2, 2, 1, 1}, {3, 3, 1, 1, 1, 1}, {1, 1, 1, 1, 0, 0},
	{3, 3, 2, 2, 0, 0}, {2, 3, 1, 2, 1, 1}, {3, 2, 2, 1, 0, 1}, {1, 3, 1, 3, 0, 1},
	{5, 5, 3, 3, 2, 2}, {2, 2, 1, 1, 0, 0}, {3, 3, 3, 3, 0, 0}, {1, 2, 1, 2, 0, 0},
};
static const int widths[] = {1,  2,  3,  4,  5,  7,  8,  9,  15, 16, 17,
			     18, 31, 32, 33, 34, 35, 47, 63, 64, 65, 100};
static const int heights[] = {1, 3, 6, 13};

/* Runs one shape through the reference, the naive pooling and every SIMD level. */
static void run(const struct ck_pool_desc *d0, int n, int with_nan, uint64_t seed)
{
	struct ck_pool_desc d = *d0;
	if (ck_pool_desc_init(&d))
		return; /* kernel larger than the padded input */
	const size_t isz = (size_t)n * d.c * d.h * d.w, osz = (size_t)n * d.c * d.oh * d.ow;
	float *in = th_alloc(isz * sizeof(float)), *want = th_alloc(osz * sizeof(float));
	float *got = th_alloc((osz + 1) * sizeof(float)), *err = th_alloc(osz * sizeof(float));
	th_fill(in, isz, seed);
	if (with_nan)
		for (size_t i = seed % 7; i < isz; i += 97)
			in[i] = NAN;
	const struct ck_kernels *ref = ck_kernels_for(CK_ISA_SCALAR);
	for (int max = 0; max < 2; max++) {
		(max ? ref->maxpool : ref->avgpool)(&d, in, want, n);
		naive(&d, in, got, err, n, max);
		size_t bad = 0;
		for (size_t i = 0; i < osz; i++)
			if (max ? !same(want[i], got[i])
				: !(isnan(want[i]) ? isnan(got[i])
						   : fabsf(want[i] - got[i]) <= err[i]))
				bad++;
		TH_CHECK(!bad,
			 "scalar %s c%d %dx%d k%dx%d s%dx%d p%dx%d n%d: %zu of %zu off the naive",
			 max ? "max" : "avg", d.c, d.h, d.w, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, n,
			 bad, osz);
		for (int isa = 1; isa < CK_ISA_COUNT; isa++) {
			const struct ck_kernels *k = ck_kernels_for((enum ck_isa)isa);
			if (!k)
				continue;
			/* a stale result from the previous level must not pass */
			for (size_t i = 0; i <= osz; i++)
				got[i] = 777.0f;
			(max ? k->maxpool : k->avgpool)(&d, in, got, n);
			bad = 0;
			for (size_t i = 0; i < osz; i++)
				bad += !same(want[i], got[i]);
			TH_CHECK(!bad && got[osz] == 777.0f,
				 "%s %s c%d %dx%d k%dx%d s%dx%d p%dx%d n%d: %zu of %zu differ",
				 k->name, max ? "max" : "avg", d.c, d.h, d.w, d.kh, d.kw, d.sh,
				 d.sw, d.ph, d.pw, n, bad, osz);
		}
	}
	free(in);
	free(want);
	free(got);
	free(err);
}

int main(void)
{
	hand();
	static const int batches[] = {1, 3, 32};
	static const int chans[] = {1, 3, 2, 5};
	uint64_t seed = 1;
	for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++)
		for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++)
			for (size_t hi = 0; hi < sizeof heights / sizeof heights[0]; hi++, seed++) {
				const struct cfg *g = &cfgs[c];
				const int n = batches[seed % 3];
				struct ck_pool_desc d = {.c = n == 32 ? 1 : chans[seed % 4],
							 .h = heights[hi],
							 .w = widths[wi],
							 .kh = g->kh,
							 .kw = g->kw,
							 .sh = g->sh,
							 .sw = g->sw,
							 .ph = g->ph,
							 .pw = g->pw};
				run(&d, n, seed % 5 == 0, seed);
			}
	/* planes above the SIMD levels' 4096-float padded copy, pooled in place */
	static const int bigw[] = {61, 64, 65, 100};
	for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++)
		for (size_t wi = 0; wi < 4; wi++, seed++) {
			const struct cfg *g = &cfgs[c];
			struct ck_pool_desc d = {.c = 2,
						 .h = 67,
						 .w = bigw[wi],
						 .kh = g->kh,
						 .kw = g->kw,
						 .sh = g->sh,
						 .sw = g->sw,
						 .ph = g->ph,
						 .pw = g->pw};
			run(&d, 1, seed % 3 == 0, seed);
		}
	/* AlexNet's pools, full size */
	const struct ck_pool_desc alex1 = {
		.c = 96, .h = 55, .w = 55, .kh = 3, .kw = 3, .sh = 2, .sw = 2};
	const struct ck_pool_desc alex2 = {
		.c = 256, .h = 27, .w = 27, .kh = 3, .kw = 3, .sh = 2, .sw = 2};
	run(&alex1, 1, 0, 7);
	run(&alex2, 1, 1, 8);
	return th_finish("kernel-pool");
}
