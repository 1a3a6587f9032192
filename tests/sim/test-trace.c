/* Bandwidth traces: the real FCC and Oboe traces load (skipped
 * when ../shared/data/traces is absent), broken files fail with an error naming
 * file and line, the step-wise rate and its wrap-around, the statistics. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coinfer/sim.h"

#define TRACES COINFER_SOURCE_ROOT "/../shared/data/traces"

static char err[512];
static char dir[] = "/tmp/coinfer-test-trace-XXXXXX";

static void mkdir_tmp(void)
{
	cr_assert(mkdtemp(dir));
}

static void rm_tmp(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

static const char *write_file(const char *name, const char *text)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	char *slash = strrchr(path, '/');
	*slash = 0;
	mkdir(path, 0700);
	*slash = '/';
	FILE *f = fopen(path, "w");
	cr_assert(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static int have_traces(void)
{
	struct stat st;
	return stat(TRACES, &st) == 0 && S_ISDIR(st.st_mode);
}

TestSuite(trace, .init = mkdir_tmp, .fini = rm_tmp);

Test(trace, real_files)
{
	if (!have_traces())
		cr_skip_test("no %s", TRACES);
	struct sim_trace t;
	const char *p = TRACES "/oboe/oboe_trace_0.txt";
	cr_assert_eq(sim_trace_load(p, &t, err, sizeof(err)), 0, "%s", err);
	cr_expect_gt(t.n, 10);
	cr_expect_eq(t.t[0], 0);
	cr_expect(t.min_mbps >= 0 && t.min_mbps <= t.mean_mbps && t.mean_mbps <= t.max_mbps);
	cr_expect_eq(sim_trace_bw(&t, 0), t.mbps[0]);
	sim_trace_free(&t);

	struct sim_trace_set set;
	cr_assert_eq(sim_trace_dir_load(TRACES, &set, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(set.n, 414, "fcc 71 + oboe 343, LICENSE skipped: got %d", set.n);
	for (int i = 1; i < set.n; i++)
		cr_expect_lt(strcmp(set.tr[i - 1].name, set.tr[i].name), 0, "sorted by name");
	cr_expect(strstr(set.tr[0].name, "/fcc/"), "fcc sorts first: %s", set.tr[0].name);
	double mean = 0;
	for (int i = 0; i < set.n; i++) {
		const struct sim_trace *x = &set.tr[i];
		cr_expect(x->duration_s > x->t[x->n - 1]);
		for (int j = 1; j < x->n; j++)
			cr_expect_gt(x->t[j], x->t[j - 1]);
		mean += x->mean_mbps / set.n;
	}
	cr_expect(mean > 0.5 && mean < 10, "mean of means %g Mbit/s", mean);
	sim_trace_set_free(&set);
	cr_expect_eq(set.n, 0);
}

Test(trace, step_wise_and_wraps)
{
	const char *p = write_file("a.log", "# a comment\n10.0 1.0\n12.0\t4.0\n\n16.0 2.0\n");
	struct sim_trace t;
	cr_assert_eq(sim_trace_load(p, &t, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(t.n, 3);
	/* times from 0: 0, 2, 6; mean interval 3: duration 9 */
	cr_expect_eq(t.duration_s, 9);
	cr_expect_eq(sim_trace_bw(&t, 0), 1);
	cr_expect_eq(sim_trace_bw(&t, 1.999), 1);
	cr_expect_eq(sim_trace_bw(&t, 2), 4);
	cr_expect_eq(sim_trace_bw(&t, 5.9), 4);
	cr_expect_eq(sim_trace_bw(&t, 6), 2);
	cr_expect_eq(sim_trace_bw(&t, 8.99), 2);
	cr_expect_eq(sim_trace_bw(&t, 9), 1);        /* wraps */
	cr_expect_eq(sim_trace_bw(&t, 9 + 2.5), 4);
	cr_expect_eq(sim_trace_bw(&t, 90 + 6.5), 2);
	cr_expect_eq(sim_trace_bw(&t, -1), 2);       /* 8 */
	cr_expect_eq(t.min_mbps, 1);
	cr_expect_eq(t.max_mbps, 4);
	cr_expect_float_eq(t.mean_mbps, (1 * 2 + 4 * 4 + 2 * 3) / 9.0, 1e-12);
	sim_trace_free(&t);
}

static void expect_bad(const char *text, int line, const char *what)
{
	const char *p = write_file("bad.log", text);
	struct sim_trace t;
	int rc = sim_trace_load(p, &t, err, sizeof(err));
	cr_expect_eq(rc, -EINVAL, "%s: rc %d", what, rc);
	char want[300];
	snprintf(want, sizeof(want), "%s:%d: ", p, line);
	cr_expect(strstr(err, want), "%s: error '%s' lacks '%s'", what, err, want);
	cr_expect_null(t.t);
}

Test(trace, broken_files)
{
	expect_bad("0 1\n1\n2 3\n", 2, "truncated line");
	expect_bad("0 1\n1 2\nabc def\n", 3, "text");
	expect_bad("0 1\n1 2x\n", 2, "trailing junk");
	expect_bad("0 1\n1 -0.5\n", 2, "negative");
	expect_bad("0 1\n2 1\n1 1\n", 3, "time going back");
	expect_bad("0 1\n0 1\n", 2, "time repeated");
	expect_bad("0 1\n1 nan\n", 2, "nan");
	expect_bad("0 1\n1 inf\n", 2, "inf");
	expect_bad("0 1 2\n", 1, "three columns");
	char longline[400];
	memset(longline, '1', sizeof(longline) - 2);
	longline[sizeof(longline) - 2] = '\n';
	longline[sizeof(longline) - 1] = 0;
	expect_bad(longline, 1, "long line");
	cr_expect(strstr(err, "longer"), "%s", err);

	struct sim_trace t;
	const char *p = write_file("empty.log", "# nothing\n\n");
	cr_expect_eq(sim_trace_load(p, &t, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "no samples"), "%s", err);
	cr_expect_eq(sim_trace_load("/nonexistent/x.log", &t, err, sizeof(err)), -ENOENT);
	cr_expect(strstr(err, "/nonexistent/x.log"), "%s", err);
}

Test(trace, dir_sorted_skips_and_fails_whole)
{
	write_file("b/2.log", "0 2\n");
	write_file("a/z.txt", "0 1\n");
	write_file("b/10.log", "0 3\n");
	write_file("LICENSE", "MIT\n");
	write_file("notes.md", "# x\n");
	write_file(".hidden", "junk\n");
	struct sim_trace_set s;
	cr_assert_eq(sim_trace_dir_load(dir, &s, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(s.n, 3);
	cr_expect_eq(s.tr[0].mbps[0], 1); /* a/z.txt */
	cr_expect_eq(s.tr[1].mbps[0], 3); /* b/10.log < b/2.log */
	cr_expect_eq(s.tr[2].mbps[0], 2);
	cr_expect_eq(s.tr[0].duration_s, 1);
	sim_trace_set_free(&s);

	write_file("b/3.log", "0 1\nx y\n");
	cr_expect_eq(sim_trace_dir_load(dir, &s, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "b/3.log:2:"), "%s", err);
	cr_expect_eq(s.n, 0);
	cr_expect_null(s.tr);
	char empty[300];
	snprintf(empty, sizeof(empty), "%s/none", dir);
	mkdir(empty, 0700);
	cr_expect_eq(sim_trace_dir_load(empty, &s, err, sizeof(err)), -ENOENT);
}
