/* The seeded RNG: reproducible streams, and distributions within a few standard
 * errors of what they claim (fixed seeds, so these cannot flake). */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>

#include "coinfer/policy-nn.h"

Test(rng, reference_stream)
{
	/* xoshiro256** from the authors' reference with state {1, 2, 3, 4} */
	struct pol_rng r = {.s = {1, 2, 3, 4}};
	static const uint64_t want[] = {11520, 0, 1509978240, 1215971899390074240ull};
	for (int i = 0; i < 4; i++)
		cr_expect_eq(pol_rng_next(&r), want[i], "output %d", i);
}

Test(rng, seeding)
{
	struct pol_rng a, b, c;
	pol_rng_seed(&a, 42);
	pol_rng_seed(&b, 42);
	pol_rng_seed(&c, 43);
	int same = 0;
	for (int i = 0; i < 1000; i++) {
		uint64_t x = pol_rng_next(&a), y = pol_rng_next(&b), z = pol_rng_next(&c);
		cr_assert_eq(x, y);
		same += x == z;
	}
	cr_expect_eq(same, 0);
	pol_rng_seed(&a, 0); /* splitmix64 never yields the all-zero state */
	cr_expect(a.s[0] | a.s[1] | a.s[2] | a.s[3]);
}

Test(rng, uniform_and_below)
{
	struct pol_rng r;
	pol_rng_seed(&r, 1);
	enum { N = 200000 };
	double s = 0;
	int hist[7] = {0};
	for (int i = 0; i < N; i++) {
		float u = pol_rng_uniform(&r);
		cr_assert(u >= 0.0f && u < 1.0f);
		s += u;
		uint32_t k = pol_rng_below(&r, 7);
		cr_assert_lt(k, 7u);
		hist[k]++;
	}
	cr_expect(fabs(s / N - 0.5) < 5 * sqrt(1.0 / 12 / N), "mean %g", s / N);
	for (int k = 0; k < 7; k++) /* 5 sigma of a binomial(N, 1/7) */
		cr_expect(fabs(hist[k] - N / 7.0) < 5 * sqrt(N * (1 / 7.0) * (6 / 7.0)), "bin %d: %d", k,
			  hist[k]);
	cr_expect_eq(pol_rng_below(&r, 1), 0u);
}

Test(rng, normal)
{
	struct pol_rng r;
	pol_rng_seed(&r, 2);
	enum { N = 200000 };
	double s = 0, s2 = 0, s4 = 0;
	for (int i = 0; i < N; i++) {
		double x = pol_rng_normal(&r);
		cr_assert(isfinite(x));
		s += x, s2 += x * x, s4 += x * x * x * x;
	}
	double m = s / N, v = s2 / N - m * m;
	cr_expect(fabs(m) < 5 / sqrt(N), "mean %g", m);
	cr_expect(fabs(v - 1) < 5 * sqrt(2.0 / N), "variance %g", v);
	cr_expect(fabs(s4 / N - 3) < 0.1, "fourth moment %g", s4 / N);
}

Test(rng, categorical)
{
	struct pol_rng r;
	pol_rng_seed(&r, 3);
	float p[6] = {0.1f, 0.0f, 0.5f, 0.0f, 0.4f, -1.0f};
	int hist[6] = {0}, a;
	enum { N = 100000 };
	for (int i = 0; i < N; i++) {
		cr_assert_eq(pol_rng_categorical(&r, p, 6, &a), 0);
		hist[a]++;
	}
	cr_expect(hist[1] == 0 && hist[3] == 0 && hist[5] == 0, "zero-probability entries drawn");
	for (int k = 0; k < 6; k++)
		if (p[k] > 0)
			cr_expect(fabs(hist[k] - N * p[k]) < 5 * sqrt(N * p[k] * (1 - p[k])), "bin %d: %d",
				  k, hist[k]);
	float none[3] = {0, 0, 0};
	cr_expect_eq(pol_rng_categorical(&r, none, 3, &a), -EINVAL);
	float one[3] = {0, 1e-30f, 0};
	cr_expect_eq(pol_rng_categorical(&r, one, 3, &a), 0);
	cr_expect_eq(a, 1);
}
