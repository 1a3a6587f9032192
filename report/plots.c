/* A fleet run's plots (gp.c draws them): the latency CDF per application against
 * its deadline, each application's attainment and p99 per second against the
 * trace bandwidth, the decisions against bandwidth. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/errmsg.h"
#include "rp.h"

/* The index of the records' column name, or -1. */
static int column(const cJSON *records, const char *name)
{
	const cJSON *c;
	int i = 0;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(records, "columns")) {
		if (cJSON_IsString(c) && !strcmp(c->valuestring, name))
			return i;
		i++;
	}
	return -1;
}

static double cell_num(const cJSON *row, int col)
{
	const cJSON *v = cJSON_GetArrayItem(row, col);
	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *cell_str(const cJSON *row, int col)
{
	const cJSON *v = cJSON_GetArrayItem(row, col);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* One block per application: its latencies sorted, against the fraction of its
 * requests at or below each. Returns the blocks written (apps with records). */
static int cdf_data(FILE *f, const cJSON *run, const cJSON *rec, int ca, int cl,
		    unsigned *written, double *xmax)
{
	const cJSON *rows = cJSON_GetObjectItemCaseSensitive(rec, "rows"), *a, *r;
	int cap = cJSON_GetArraySize(rows), i = 0;
	double *v = malloc((size_t)(cap ? cap : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(run, "applications")) {
		const char *name = rp_str(a, "name");
		int n = 0;
		cJSON_ArrayForEach(r, rows) {
			if (!strcmp(cell_str(r, ca), name) && isfinite(cell_num(r, cl)))
				v[n++] = cell_num(r, cl);
		}
		qsort(v, (size_t)n, sizeof(*v), cmp_double);
		fprintf(f, "# %d: %d requests\n0 0 1\n", i, n);
		for (int k = 0; k < n; k++)
			fprintf(f, "%.4f %.6f %.6g\n", v[k], (double)(k + 1) / n,
				(double)(n - k - 1) / n);
		*xmax = n ? fmax(*xmax, v[n - 1]) : *xmax;
		fputs("\n\n", f);
		written[i++] = (unsigned)n;
		if (i == 64)
			break;
	}
	free(v);
	return i;
}

/* The plot commands of one CDF panel: column col (2: CDF, 3: the tail). */
static void cdf_plot_cmd(FILE *f, const cJSON *run, const char *prefix, int apps,
			 const unsigned *n, int col)
{
	const cJSON *a;
	int i = 0;
	fputs("plot ", f);
	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(run, "applications")) {
		double dl = NAN;
		char t[512];
		if (i >= apps)
			break;
		rp_num(a, "deadline_ms", &dl);
		snprintf(t, sizeof(t), "%s (%u requests, deadline %g ms)", rp_str(a, "name"), n[i],
			 dl);
		fprintf(f, "%s'%scdf.dat' index %d using 1:(($%d)>0?$%d:1/0) with steps lw 2 "
			   "lc rgb '%s' ", i ? ", " : "", prefix, i, col, col, RP_COLOUR(i));
		if (col == 2)
			fputs("title ", f), rp_gp_str(f, t);
		else
			fputs("notitle", f);
		i++;
	}
	fputc('\n', f);
}

/* Two panels: the CDF, and its tail (the fraction slower than x, logarithmic)
 * where attainments of 99% and more can be told apart. */
static void cdf_script(FILE *f, const cJSON *run, const char *prefix, int apps,
		       const unsigned *n, double xmax)
{
	const cJSON *a;
	int i = 0;
	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(run, "applications")) {
		double dl;
		if (i < apps && rp_num(a, "deadline_ms", &dl)) {
			fprintf(f, "set arrow from %g, graph 0 to %g, graph 1 nohead dt 2 lw 2 "
				   "lc rgb '%s'\n", dl, dl, RP_COLOUR(i));
			xmax = fmax(xmax, dl);
		}
		i++;
	}
	fprintf(f, "set multiplot layout 2,1\nset xrange [0:%g]\n"
		   "set xlabel 'end-to-end latency (ms)'\nset lmargin 12\n", xmax * 1.05);
	fputs("set title 'Latency CDF per application (dashed: each deadline)'\n"
	      "set ylabel 'fraction answered within'\nset yrange [0:1.02]\n"
	      "set key bottom right box opaque\n", f);
	cdf_plot_cmd(f, run, prefix, apps, n, 2);
	fputs("unset key\nset title 'The tail: fraction of requests slower than x (log scale)'\n"
	      "set ylabel 'fraction slower'\nset logscale y\nset yrange [*:1]\n"
	      "set format y '%g'\n", f);
	cdf_plot_cmd(f, run, prefix, apps, n, 3);
	fputs("unset multiplot\n", f);
}

static int plot_cdf(struct rp_doc *d, const struct rp_plot *pl, const cJSON *run,
		    const char *prefix, char *err, size_t errlen)
{
	const cJSON *rec = cJSON_GetObjectItemCaseSensitive(run, "records");
	int ca = column(rec, "application"), cl = column(rec, "latency_ms"), ret;
	unsigned n[64];
	double xmax = 0;
	char png[256];
	if (ca < 0 || cl < 0) {
		rp_p(d, "No per-request records with application and latency_ms: no latency "
			"CDF.");
		return 0;
	}
	FILE *f = rp_gp_open(pl, prefix, "cdf.dat", err, errlen);
	if (!f)
		return -EIO;
	int apps = cdf_data(f, run, rec, ca, cl, n, &xmax), total = 0;
	if ((ret = rp_gp_close(f, pl, "cdf.dat", err, errlen)) || apps < 0)
		return ret ? ret : cf_fail(apps, err, errlen, "out of memory");
	for (int i = 0; i < apps; i++)
		total += (int)n[i];
	if (!total) {
		rp_p(d, "No records of the applications: no latency CDF.");
		return 0;
	}
	if (!(f = rp_gp_open(pl, prefix, "cdf.gp", err, errlen)))
		return -EIO;
	snprintf(png, sizeof(png), "%scdf.png", prefix);
	rp_gp_head(f, png, 1100, 820);
	cdf_script(f, run, prefix, apps, n, xmax);
	return rp_gp_draw(d, pl, f, prefix, "cdf",
			  "Latency CDF per application: the curve is the fraction of requests "
			  "answered within x ms, and the lower panel the fraction slower than x; "
			  "where a curve crosses its dashed deadline is the application's "
			  "attainment.", err, errlen);
}

int rp_fleet_plots(struct rp_doc *d, const struct rp_plot *pl, const cJSON *run,
		   const char *prefix, char *err, size_t errlen)
{
	int ret = plot_cdf(d, pl, run, prefix, err, errlen);
	if (!ret)
		ret = rp_plot_timelines(d, pl, run, prefix, err, errlen);
	if (!ret)
		ret = rp_plot_decisions(d, pl, run, prefix, err, errlen);
	return ret;
}
