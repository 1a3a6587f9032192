/* coinfer-fleet's aggregation (fleet/stats.c) on known lists: nearest-rank
 * percentiles, attainment, the per-second timeline, the live histogram and a
 * device's trace lookup from its seeded offset. No network, no clock. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "fleet.h"

Test(fleet_stats, nearest_rank_percentiles)
{
	double v[100];
	for (int i = 0; i < 100; i++)
		v[i] = i + 1; /* 1..100 */
	cr_expect_eq(fl_percentile(v, 100, 0.50), 50);
	cr_expect_eq(fl_percentile(v, 100, 0.90), 90);
	cr_expect_eq(fl_percentile(v, 100, 0.99), 99);
	cr_expect_eq(fl_percentile(v, 100, 0.999), 100);
	cr_expect_eq(fl_percentile(v, 100, 1.0), 100);
	cr_expect_eq(fl_percentile(v, 100, 0.0), 1);
	double one = 7;
	cr_expect_eq(fl_percentile(&one, 1, 0.99), 7);
	cr_expect_eq(fl_percentile(NULL, 0, 0.99), 0);
	/* ten values: p50 is the 5th, p90 the 9th, p99 the 10th */
	cr_expect_eq(fl_percentile(v, 10, 0.50), 5);
	cr_expect_eq(fl_percentile(v, 10, 0.90), 9);
	cr_expect_eq(fl_percentile(v, 10, 0.99), 10);
}

Test(fleet_stats, latency_sorts_and_summarises)
{
	double v[] = {30, 10, 20, 40};
	struct fl_latency l;
	fl_latency_of(v, 4, &l);
	cr_expect_eq(l.n, 4);
	cr_expect_float_eq(l.mean, 25, 1e-12);
	cr_expect_eq(l.p50, 20);
	cr_expect_eq(l.p90, 40);
	cr_expect_eq(l.max, 40);
	cr_expect_eq(v[0], 10); /* sorted in place */
	fl_latency_of(v, 0, &l);
	cr_expect_eq(l.n, 0);
	cr_expect_eq(l.p99, 0);
}

Test(fleet_stats, attainment)
{
	cr_expect_float_eq(fl_attainment(99, 100), 0.99, 1e-12);
	cr_expect_eq(fl_attainment(0, 10), 0);
	cr_expect_eq(fl_attainment(0, 0), 1); /* nothing missed */
}

Test(fleet_stats, timeline_buckets_by_second_and_application)
{
	struct fl_sample s[] = {
		{.t_s = 5.2, .app = 1, .latency_ms = 10, .met = 1},
		{.t_s = 5.9, .app = 0, .latency_ms = 30, .met = 0},
		{.t_s = 5.0, .app = 1, .latency_ms = 20, .met = 1},
		{.t_s = 6.1, .app = 1, .latency_ms = 40, .met = 0},
		{.t_s = 5.99, .app = 1, .latency_ms = 5, .met = 1},
	};
	struct fl_bucket *b;
	size_t n;
	cr_assert_eq(fl_timeline(s, 5, &b, &n), 0);
	cr_assert_eq(n, 3);
	cr_expect_eq(b[0].t_s, 5);
	cr_expect_eq(b[0].app, 0);
	cr_expect_eq(b[0].requests, 1);
	cr_expect_eq(b[0].met, 0);
	cr_expect_eq(b[0].p99_ms, 30);
	cr_expect_eq(b[1].t_s, 5);
	cr_expect_eq(b[1].app, 1);
	cr_expect_eq(b[1].requests, 3);
	cr_expect_eq(b[1].met, 3);
	cr_expect_eq(b[1].p99_ms, 20);
	cr_expect_eq(b[2].t_s, 6);
	cr_expect_eq(b[2].requests, 1);
	cr_expect_eq(b[2].p99_ms, 40);
	free(b);
	cr_assert_eq(fl_timeline(s, 0, &b, &n), 0);
	cr_expect_eq(n, 0);
	cr_expect_null(b);
}

Test(fleet_stats, histogram_quantile_within_a_bucket)
{
	static struct fl_hist h;
	for (int i = 1; i <= 1000; i++)
		fl_hist_add(&h, i * 0.1); /* 0.1 .. 100 ms */
	double q = fl_hist_quantile(&h, 0.99), step = pow(10, 1.0 / FL_HIST_PER_DECADE);
	/* the 990th value is 99 ms: the upper edge of its bucket, one bucket wide at most */
	cr_expect(q >= 99 && q <= 99 * step * 1.0001, "p99 %g", q);
	cr_expect(fl_hist_quantile(&h, 0.5) >= 50);
	static struct fl_hist empty;
	cr_expect_eq(fl_hist_quantile(&empty, 0.99), 0);
	fl_hist_add(&empty, 0); /* below the first edge: bucket 0 */
	cr_expect_float_eq(fl_hist_quantile(&empty, 0.99), FL_HIST_MIN_MS, 1e-12);
}

/* A trace of 1 s steps: 1, 2, 3, 4 Mbit/s, then again (4 s long). */
static void steps(struct sim_trace *t, double *ts, double *mbps)
{
	for (int i = 0; i < 4; i++) {
		ts[i] = i;
		mbps[i] = i + 1;
	}
	*t = (struct sim_trace){.n = 4, .t = ts, .mbps = mbps};
	sim_trace_finish(t);
}

Test(fleet_stats, trace_lookup_with_offsets)
{
	double ts[4], mbps[4];
	struct sim_trace t;
	steps(&t, ts, mbps);
	cr_assert_float_eq(t.duration_s, 4, 1e-12);
	struct fl_link a = {&t, 0}, b = {&t, 2.5};
	cr_expect_eq(fl_link_mbps(&a, 0.5), 1);
	cr_expect_eq(fl_link_mbps(&a, 3.5), 4);
	cr_expect_eq(fl_link_mbps(&a, 4.5), 1); /* wraps */
	cr_expect_eq(fl_link_mbps(&b, 0), 3);   /* 2.5 s in */
	cr_expect_eq(fl_link_mbps(&b, 1.6), 1); /* 4.1: wrapped */
	mbps[1] = 0; /* a zero rate counts as the floor: the emulated link never stalls */
	cr_expect_eq(fl_link_mbps(&a, 1.5), FL_MIN_MBPS);
}

Test(fleet_stats, offsets_seeded_in_range_and_distinct)
{
	double seen[64];
	for (int d = 0; d < 64; d++) {
		double o = fl_trace_offset(7, d, 100);
		cr_expect(o >= 0 && o < 100);
		cr_expect_eq(o, fl_trace_offset(7, d, 100)); /* the seed decides */
		for (int e = 0; e < d; e++)
			cr_expect_neq(o, seen[e]);
		seen[d] = o;
	}
	cr_expect_neq(fl_trace_offset(7, 0, 100), fl_trace_offset(8, 0, 100));
}

Test(fleet_stats, gap_files)
{
	double *g;
	int n;
	char err[256];
	cr_assert_eq(fl_gaps_parse("# gaps in ms\n100\n\n 50.5 \r\n200", "g.txt", &g, &n, err,
				   sizeof(err)), 0, "%s", err);
	cr_assert_eq(n, 3);
	cr_expect_eq(g[0], 100);
	cr_expect_eq(g[1], 50.5);
	cr_expect_eq(g[2], 200);
	free(g);
	cr_expect_eq(fl_gaps_parse("100\nabc\n", "g.txt", &g, &n, err, sizeof(err)), -EINVAL);
	cr_expect_str_eq(err, "g.txt:2: a gap is a number of ms > 0");
	cr_expect_null(g);
	cr_expect_eq(fl_gaps_parse("1\n0\n", "g.txt", &g, &n, err, sizeof(err)), -EINVAL);
	cr_expect_eq(fl_gaps_parse("1 2\n", "g.txt", &g, &n, err, sizeof(err)), -EINVAL);
	cr_expect_eq(fl_gaps_parse("nan\n", "g.txt", &g, &n, err, sizeof(err)), -EINVAL);
	cr_expect_eq(fl_gaps_parse("# none\n\n", "g.txt", &g, &n, err, sizeof(err)), -EINVAL);
	cr_expect_str_eq(err, "g.txt: no gaps");
}
