/* wire/faults.c: the injected faults happen as often as asked (counted over many
 * datagrams, within 6 standard deviations of the binomial), the same seed gives
 * the same faults, one probability does not move the others' draws, a reorder
 * swaps a pair and never loses or invents a datagram, and the held datagram's
 * buffer is reused only after its pointer has been handed out. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "coinfer/wire-faults.h"

#define N 200000

static struct cw_faults F;

static void init(double drop, double dup, double reorder, uint64_t seed)
{
	struct cw_fault_config c = {drop, dup, reorder, seed};
	cr_assert_eq(cw_faults_init(&F, &c, NULL, 0), 0);
}

/* Feeds datagrams 0..n-1 (each 4 bytes: its index) and records what came out. */
static size_t feed(uint32_t n, uint32_t *got, size_t cap)
{
	size_t k = 0;
	struct cw_fault_out out[3], o;
	for (uint32_t i = 0; i < n; i++) {
		int m = cw_faults_apply(&F, (const uint8_t *)&i, sizeof(i), out);
		cr_assert(m >= 0 && m <= 3);
		for (int j = 0; j < m && k < cap; j++) {
			cr_assert_eq(out[j].len, 4);
			memcpy(&got[k++], out[j].p, 4);
		}
	}
	if (cw_faults_flush(&F, &o) && k < cap)
		memcpy(&got[k++], o.p, 4);
	return k;
}

static void expect_rate(uint64_t count, double p, const char *what)
{
	double mean = p * N, sd = sqrt(N * p * (1 - p));
	cr_expect(fabs((double)count - mean) <= 6 * sd + 1, "%s: %llu, expected %.0f +- %.0f",
		  what, (unsigned long long)count, mean, 6 * sd);
}

Test(faults, rates_are_the_probabilities)
{
	static uint32_t got[3 * N];
	init(0.05, 0.02, 0.03, 42);
	size_t k = feed(N, got, 3 * N);
	expect_rate(F.n.dropped, 0.05, "dropped");
	/* a duplicate or a reorder needs the datagram not dropped (and a reorder
	 * nothing held already), so their rates are conditional */
	expect_rate(F.n.duplicated, 0.02 * 0.95 * (1 - 0.03), "duplicated");
	expect_rate(F.n.reordered, 0.03 * 0.95 * (1 - 0.03), "reordered");
	cr_expect_eq(F.n.seen, N);
	cr_expect_eq(k, N - F.n.dropped + F.n.duplicated);
}

Test(faults, nothing_lost_or_invented_without_drops)
{
	static uint32_t got[3 * N];
	static uint8_t seen[N];
	init(0, 0.1, 0.3, 7);
	size_t k = feed(N, got, 3 * N);
	cr_assert_eq(k, N + F.n.duplicated);
	for (size_t i = 0; i < k; i++) {
		cr_assert_lt(got[i], N);
		seen[got[i]]++;
	}
	for (uint32_t i = 0; i < N; i++)
		cr_assert(seen[i] == 1 || seen[i] == 2, "datagram %u came out %d times", i,
			  seen[i]);
	/* a reorder moves a datagram at most one place back */
	for (size_t i = 1; i < k; i++)
		cr_assert(got[i] + 2 >= got[i - 1], "%u after %u", got[i], got[i - 1]);
}

Test(faults, same_seed_same_faults)
{
	static uint32_t a[3 * 1000], b[3 * 1000];
	init(0.3, 0.3, 0.3, 99);
	size_t ka = feed(1000, a, 3000);
	init(0.3, 0.3, 0.3, 99);
	size_t kb = feed(1000, b, 3000);
	cr_assert_eq(ka, kb);
	cr_assert_eq(memcmp(a, b, ka * 4), 0);
	init(0.3, 0.3, 0.3, 100);
	kb = feed(1000, b, 3000);
	cr_expect(ka != kb || memcmp(a, b, ka * 4), "another seed, the same faults");
}

/* Each datagram draws the same three numbers whatever the probabilities: with
 * drops added, the datagrams not dropped are duplicated exactly as before. */
Test(faults, drops_do_not_shift_the_other_draws)
{
	static uint8_t dup_a[N];
	struct cw_fault_out out[3];
	init(0, 0.2, 0, 5);
	for (uint32_t i = 0; i < N; i++)
		dup_a[i] = cw_faults_apply(&F, (const uint8_t *)&i, 4, out) == 2;
	init(0.5, 0.2, 0, 5);
	for (uint32_t i = 0; i < N; i++) {
		int m = cw_faults_apply(&F, (const uint8_t *)&i, 4, out);
		if (m)
			cr_assert_eq(m == 2, dup_a[i], "datagram %u", i);
	}
}

Test(faults, swap_and_hold_limits)
{
	uint8_t big[CW_FAULT_HOLD_MAX + 1], a = 'a', b = 'b';
	struct cw_fault_out out[3], o;
	memset(big, 'x', sizeof(big));
	init(0, 0, 1, 1);
	/* too large to hold: passes as it is */
	cr_assert_eq(cw_faults_apply(&F, big, sizeof(big), out), 1);
	cr_assert_eq(out[0].p, big);
	/* held, then sent behind the next, which cannot be held while one is */
	cr_assert_eq(cw_faults_apply(&F, &a, 1, out), 0);
	cr_assert_eq(cw_faults_apply(&F, &b, 1, out), 2);
	cr_assert(out[0].p[0] == 'b' && out[1].p[0] == 'a');
	/* the held buffer is reused by the next hold, after its pointer was used */
	cr_assert_eq(cw_faults_apply(&F, &b, 1, out), 0);
	cr_assert_eq(cw_faults_flush(&F, &o), 1);
	cr_assert_eq(o.p[0], 'b');
	cr_assert_eq(cw_faults_flush(&F, &o), 0);
	/* an empty datagram is never held */
	cr_assert_eq(cw_faults_apply(&F, &a, 0, out), 1);
}

Test(faults, probabilities_are_checked)
{
	char err[128];
	struct cw_fault_config c = {0, 1.5, 0, 0};
	cr_assert_eq(cw_faults_init(&F, &c, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "dup 1.5"), "%s", err);
	c = (struct cw_fault_config){NAN, 0, 0, 0};
	cr_assert_eq(cw_faults_init(&F, &c, err, sizeof(err)), -EINVAL);
	c = (struct cw_fault_config){0, 0, 0, 0};
	cr_assert(cw_faults_none(&c));
	c.reorder = 1e-9;
	cr_assert_not(cw_faults_none(&c));
}
