/* Throughput against p99 across load levels: each fleet run given is one level
 * (totals.throughput_rps against totals.latency_ms.p99), and any benchmark
 * object that carries both a throughput and a p99 is a point of its file's
 * series (coinfer-bench-appliance's runs: requests_per_s, latency_us.p99). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/errmsg.h"
#include "rp.h"

/* The object's throughput (requests/s) and p99 (ms), when it has both. */
static int load_point(const cJSON *o, double *rps, double *p99)
{
	static const char *const tk[] = {"throughput_rps", "requests_per_s", "throughput"};
	const cJSON *lm = cJSON_GetObjectItemCaseSensitive(o, "latency_ms");
	const cJSON *lu = cJSON_GetObjectItemCaseSensitive(o, "latency_us");
	int t = 0;
	for (int i = 0; i < 3 && !t; i++)
		t = rp_num(o, tk[i], rps);
	if (!t)
		return 0;
	if (rp_num(o, "p99_ms", p99) || rp_num(lm, "p99", p99))
		return 1;
	if (rp_num(o, "p99_us", p99) || rp_num(lu, "p99", p99)) {
		*p99 /= 1000;
		return 1;
	}
	return 0;
}

static int add(struct rp_load_point **pts, int *n, double rps, double p99, const char *series)
{
	struct rp_load_point *p = realloc(*pts, (size_t)(*n + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	*pts = p;
	p[*n].rps = rps;
	p[*n].p99_ms = p99;
	p[*n].order = *n;
	snprintf(p[*n].series, sizeof(p[*n].series), "%s", series);
	++*n;
	return 0;
}

static int walk(const cJSON *v, const char *file, struct rp_load_point **pts, int *n)
{
	const cJSON *c;
	double rps, p99;
	int ret = 0;
	if (cJSON_IsObject(v) && load_point(v, &rps, &p99) && isfinite(rps) && isfinite(p99)) {
		const char *who = rp_str(v, "server");
		char series[96];
		if (!who)
			who = rp_str(v, "transport");
		snprintf(series, sizeof(series), "%s%s%s", file, who ? ": " : "", who ? who : "");
		return add(pts, n, rps, p99, series);
	}
	cJSON_ArrayForEach(c, ((cJSON_IsObject(v) || cJSON_IsArray(v)) ? v : NULL)) {
		if ((ret = walk(c, file, pts, n)))
			return ret;
	}
	return 0;
}

int rp_bench_load_points(const struct rp_input *in, struct rp_load_point **pts, int *n)
{
	const char *base = strrchr(in->path, '/');
	base = base ? base + 1 : in->path;
	for (int i = 0; i < in->n_docs; i++) {
		int ret = walk(in->docs[i], base, pts, n);
		if (ret)
			return ret;
	}
	return 0;
}

static int by_series_rps(const void *a, const void *b)
{
	const struct rp_load_point *x = a, *y = b;
	int c = strcmp(x->series, y->series);
	if (c)
		return c;
	if (x->order >= 0 && y->order >= 0)
		return (x->order > y->order) - (x->order < y->order);
	return (x->rps > y->rps) - (x->rps < y->rps);
}

/* The data, a block per series; the ranges into lo/hi (x: rps, y: p99). */
static int series_data(FILE *f, const struct rp_load_point *p, int n, double lo[2],
		       double hi[2])
{
	int blocks = 0;
	lo[0] = lo[1] = INFINITY;
	hi[0] = hi[1] = 0;
	for (int i = 0; i < n; i++) {
		if (i && strcmp(p[i].series, p[i - 1].series))
			fputs("\n\n", f);
		blocks += !i || strcmp(p[i].series, p[i - 1].series);
		fprintf(f, "%.6g %.6g\n", p[i].rps, p[i].p99_ms);
		lo[0] = fmin(lo[0], p[i].rps);
		hi[0] = fmax(hi[0], p[i].rps);
		lo[1] = fmin(lo[1], p[i].p99_ms);
		hi[1] = fmax(hi[1], p[i].p99_ms);
	}
	return blocks;
}

static void load_script(FILE *f, const struct rp_load_point *p, int n, const double lo[2],
			const double hi[2], int nfleet)
{
	int b = 0;
	fputs("set title 'Throughput against p99 latency across load levels'\n"
	      "set xlabel 'throughput (answered requests/s)'\nset ylabel 'p99 latency (ms)'\n"
	      "set key top left box opaque\n", f);
	/* Fleet runs and the appliance's null-model runs differ by orders of magnitude:
	 * logarithmic axes keep both readable. */
	if (lo[0] > 0 && hi[0] / lo[0] > 20)
		fputs("set logscale x\nset format x '%g'\n", f);
	if (lo[1] > 0 && hi[1] / lo[1] > 20)
		fputs("set logscale y\nset format y '%g'\n", f);
	/* One value on an axis (one point): a range around it, which gnuplot would
	 * otherwise widen with a warning. */
	if (lo[0] == hi[0])
		fprintf(f, "set xrange [%g:%g]\n", 0.0, hi[0] > 0 ? hi[0] * 1.5 : 1);
	if (lo[1] == hi[1])
		fprintf(f, "set yrange [%g:%g]\n", 0.0, hi[1] > 0 ? hi[1] * 1.5 : 1);
	if (nfleet == 1)
		fputs("set label 1 'one fleet run: one load level (give several runs for a "
		      "curve)' at graph 0.5, graph 0.92 center\n", f);
	fputs("set offsets graph 0.05, graph 0.05, graph 0.1, graph 0.1\nplot ", f);
	for (int i = 0; i < n; i++) {
		if (i && !strcmp(p[i].series, p[i - 1].series))
			continue;
		fprintf(f, "%s'load.dat' index %d using 1:2 with linespoints pt 7 ps 1.2 lw 2 "
			   "lc rgb '%s' title ", b ? ", " : "", b, RP_COLOUR(b));
		rp_gp_str(f, p[i].series);
		b++;
	}
	fputc('\n', f);
}

int rp_load_plot(struct rp_doc *d, const struct rp_plot *pl, struct rp_load_point *pts, int n,
		 int nfleet, char *err, size_t errlen)
{
	double lo[2], hi[2];
	int ret;
	if (!n) {
		rp_p(d, "No fleet run and no benchmark line with both a throughput and a p99: "
			"no throughput-against-p99 plot.");
		return 0;
	}
	qsort(pts, (size_t)n, sizeof(*pts), by_series_rps);
	FILE *f = rp_gp_open(pl, "", "load.dat", err, errlen);
	if (!f)
		return -EIO;
	series_data(f, pts, n, lo, hi);
	if ((ret = rp_gp_close(f, pl, "load.dat", err, errlen)))
		return ret;
	if (!(f = rp_gp_open(pl, "", "load.gp", err, errlen)))
		return -EIO;
	rp_gp_head(f, "load.png", 1100, 560);
	load_script(f, pts, n, lo, hi, nfleet);
	return rp_gp_draw(d, pl, f, "", "load",
			  "Throughput against p99: one point per load level (a fleet run, or a "
			  "benchmark run); fleet runs joined in order of throughput, a "
			  "benchmark's runs in its own order; where a curve turns up, queueing "
			  "has started.", err, errlen);
}
