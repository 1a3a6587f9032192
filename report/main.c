/* coinfer-report IN.json... --out DIR: fleet runs (docs/fleet-json.md) and
 * benchmark JSON into DIR/report.html (self-contained: inline CSS, the plots as
 * data URIs) and DIR/report.md (the plots beside it as PNG files), with the
 * gnuplot scripts and data that drew them (docs/report.md). A malformed or
 * unknown input is an error naming the file, exit 2, before anything is written. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coinfer/cli.h"
#include "rp.h"

#define PROG "coinfer-report"
#define MAX_INPUTS 256

struct report_opts {
	const char *out, *title, *gnuplot;
	int no_plots, max_rows;
};

#define F(f) CLI_FIELD(struct report_opts, f)
static const struct cli_opt opts[] = {
	{.name = "out", .kind = CLI_STRING, F(out), .arg = "DIR",
	 .help = "where report.html, report.md, the PNGs and their gnuplot files go\n"
		 "(created if missing)"},
	{.name = "title", .kind = CLI_STRING, F(title), .arg = "TEXT", .help = "the page's title"},
	{.name = "gnuplot", .kind = CLI_STRING, F(gnuplot), .arg = "PATH",
	 .help = "the gnuplot to run"},
	{.name = "no-plots", .kind = CLI_FLAG, F(no_plots), .help = "tables only: no gnuplot"},
	{.name = "max-rows", .kind = CLI_INT, F(max_rows), .lo = 1, .hi = 1000000, .arg = "N",
	 .help = "rows at most per benchmark table"},
};
static const struct cli_prog prog = {
	.name = PROG,
	.head = "usage: " PROG " IN.json... --out DIR [options]\n"
		"Fleet runs (coinfer-fleet --out) and benchmark JSON (coinfer-bench-*) into\n"
		"one self-contained HTML page and a Markdown file with PNG plots (gnuplot).\n"
		"Several fleet runs are load levels: throughput against p99. See docs/report.md.\n",
	.opts = opts, .n_opts = CLI_N(opts), .size = sizeof(struct report_opts)};

/* Splits argv into the options (and their values) and the input files, since
 * the option parser takes no operands. */
static int split_args(int argc, char **argv, char **optv, int *optc, const char **files,
		      int *nfiles)
{
	int only_files = 0;
	*optc = 1;
	*nfiles = 0;
	optv[0] = argv[0];
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!only_files && !strcmp(a, "--")) {
			only_files = 1;
		} else if (!only_files && a[0] == '-' && a[1]) {
			optv[(*optc)++] = argv[i];
			for (int k = 0; k < CLI_N(opts); k++)
				if (opts[k].kind != CLI_FLAG && !strncmp(a, "--", 2) &&
				    !strcmp(a + 2, opts[k].name) && i + 1 < argc)
					optv[(*optc)++] = argv[++i];
		} else if (*nfiles < MAX_INPUTS) {
			files[(*nfiles)++] = a;
		} else {
			fprintf(stderr, PROG ": more than %d inputs\n", MAX_INPUTS);
			return 2;
		}
	}
	return 0;
}

/* The command line as one string, for the provenance table. */
static void command_line(int argc, char **argv, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = 0;
	for (int i = 0; i < argc && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, strpbrk(argv[i], " \t'\"") ? "%s'%s'"
										: "%s%s",
				      i ? " " : "", argv[i]);
}

static void inputs_table(struct rp_doc *d, const struct rp_input *in, int n, const char *cmd)
{
	static const char *const h[] = {"file", "kind", "bytes", "XXH64"};
	char bytes[32], hash[32];
	rp_h(d, 2, "Inputs");
	rp_p(d, "Made by: %s", cmd);
	rp_table(d, 4, h);
	for (int i = 0; i < n; i++) {
		const char *c[4] = {in[i].path, in[i].is_fleet ? "fleet run" : "benchmark", bytes,
				    hash};
		snprintf(bytes, sizeof(bytes), "%zu", in[i].bytes);
		snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)in[i].xxh64);
		rp_row(d, 4, c);
	}
	rp_table_end(d);
}

/* One line per fleet run before the details: what a reader looks at first. */
static void summary(struct rp_doc *d, const struct rp_input *in, int n)
{
	static const char *const h[] = {"run", "file", "requests", "throughput (req/s)",
					"p99 (ms)", "accuracy", "verdict", "missed"};
	char c[8][256];
	const char *p[8];
	int k = 0;
	for (int i = 0; i < n; i++) {
		const cJSON *run = in[i].docs[0], *t, *v, *m;
		double x;
		if (!in[i].is_fleet)
			continue;
		if (!k)
			rp_h(d, 2, "Summary"), rp_table(d, 8, h);
		t = cJSON_GetObjectItemCaseSensitive(run, "totals");
		v = cJSON_GetObjectItemCaseSensitive(run, "verdict");
		for (int j = 0; j < 8; j++)
			p[j] = strcpy(c[j], "-");
		snprintf(c[0], sizeof(c[0]), "%d", ++k);
		snprintf(c[1], sizeof(c[1]), "%s", in[i].path);
		if (rp_num(t, "requests", &x))
			rp_fmt(c[2], sizeof(c[2]), x);
		if (rp_num(t, "throughput_rps", &x))
			rp_fmt(c[3], sizeof(c[3]), x);
		if (rp_num(cJSON_GetObjectItemCaseSensitive(t, "latency_ms"), "p99", &x))
			rp_fmt(c[4], sizeof(c[4]), x);
		if (rp_num(t, "accuracy", &x))
			rp_fmt_pct(c[5], sizeof(c[5]), x);
		if (rp_num(v, "passed", &x))
			strcpy(c[6], x ? "PASS" : "MISS");
		c[7][0] = 0;
		cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(v, "missed")) {
			size_t len = strlen(c[7]);
			if (cJSON_IsString(m) && len < sizeof(c[7]))
				snprintf(c[7] + len, sizeof(c[7]) - len, "%s%s", len ? ", " : "",
					 m->valuestring);
		}
		rp_row(d, 8, p);
	}
	if (k)
		rp_table_end(d);
}

/* Every fleet run: its tables and plots, and its point of the load plot. */
static int fleet_sections(struct rp_doc *d, const struct rp_plot *pl, const struct rp_input *in,
			  int n, int plots, struct rp_load_point **pts, int *npts, int *nfleet,
			  char *err, size_t errlen)
{
	for (int i = 0; i < n; i++) {
		const cJSON *run = in[i].docs[0], *t;
		char title[512], prefix[32];
		double rps, p99;
		if (!in[i].is_fleet)
			continue;
		++*nfleet;
		snprintf(title, sizeof(title), "Fleet run %d: %s", *nfleet, in[i].path);
		snprintf(prefix, sizeof(prefix), "run%d-", *nfleet);
		rp_h(d, 2, title);
		rp_fleet_tables(d, &in[i]);
		int ret = plots ? rp_fleet_plots(d, pl, run, prefix, err, errlen) : 0;
		if (ret)
			return ret;
		t = cJSON_GetObjectItemCaseSensitive(run, "totals");
		if (rp_num(t, "throughput_rps", &rps) &&
		    rp_num(cJSON_GetObjectItemCaseSensitive(t, "latency_ms"), "p99", &p99)) {
			struct rp_load_point *p = realloc(*pts, (size_t)(*npts + 1) * sizeof(*p));
			if (!p)
				return -ENOMEM;
			*pts = p;
			p[*npts] = (struct rp_load_point){.rps = rps, .p99_ms = p99, .order = -1,
							  .series = "fleet runs"};
			++*npts;
		}
	}
	return 0;
}

static int write_report(const struct report_opts *o, struct rp_input *in, int n,
			const char *cmd, char *err, size_t errlen)
{
	struct rp_doc d;
	struct rp_plot pl = {.dir = o->out, .gnuplot = o->gnuplot};
	struct rp_load_point *pts = NULL;
	int npts = 0, nfleet = 0, ret = rp_doc_open(&d, o->out, o->title, err, errlen);
	if (ret)
		return ret;
	summary(&d, in, n);
	ret = fleet_sections(&d, &pl, in, n, !o->no_plots, &pts, &npts, &nfleet, err, errlen);
	for (int i = 0; i < n && !ret; i++)
		if (!in[i].is_fleet)
			ret = rp_bench_load_points(&in[i], &pts, &npts);
	if (!ret && !o->no_plots) {
		rp_h(&d, 2, "Throughput against p99 across load levels");
		ret = rp_load_plot(&d, &pl, pts, npts, nfleet, err, errlen);
	}
	for (int i = 0; i < n && !ret; i++) {
		char title[512];
		if (in[i].is_fleet)
			continue;
		snprintf(title, sizeof(title), "Benchmark: %s", in[i].path);
		rp_h(&d, 2, title);
		rp_bench_tables(&d, &in[i], o->max_rows);
	}
	inputs_table(&d, in, n, cmd);
	free(pts);
	int cret = rp_doc_close(&d, ret ? NULL : err, errlen);
	return ret ? ret : cret;
}

int main(int argc, char **argv)
{
	struct report_opts o = {.title = "coinfer report", .gnuplot = "gnuplot", .max_rows = 200};
	static struct rp_input in[MAX_INPUTS];
	const char *files[MAX_INPUTS];
	char **optv = calloc((size_t)argc + 1, sizeof(*optv)), err[1024], cmd[4096];
	int optc, n = 0, st = 2, ret;
	if (!optv || split_args(argc, argv, optv, &optc, files, &n))
		goto out;
	if ((st = cli_args(&prog, &o, optc, optv)) != CLI_GO)
		goto out;
	st = 2;
	if (!n || !o.out) {
		fprintf(stderr, PROG ": %s (--help)\n", n ? "say --out DIR" : "no input files");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		if ((ret = rp_input_load(&in[i], files[i], err, sizeof(err)))) {
			fprintf(stderr, PROG ": %s\n", err);
			n = i + 1;
			goto out;
		}
	}
	if (mkdir(o.out, 0755) && errno != EEXIST) {
		fprintf(stderr, PROG ": %s: %s\n", o.out, strerror(errno));
		st = 1;
		goto out;
	}
	command_line(argc, argv, cmd, sizeof(cmd));
	if ((ret = write_report(&o, in, n, cmd, err, sizeof(err)))) {
		fprintf(stderr, PROG ": %s\n", err);
		st = 1;
		goto out;
	}
	printf(PROG ": wrote %s/report.html and %s/report.md from %d input%s\n", o.out, o.out, n,
	       n == 1 ? "" : "s");
	st = 0;
out:
	for (int i = 0; i < n; i++)
		rp_input_free(&in[i]);
	free(optv);
	return st;
}
