/* A fleet run's plots over time and over bandwidth: per application, SLO
 * attainment and p99 per second against the devices' mean trace bandwidth (a
 * second y axis), and the decisions (exit, partition, bits) of every recorded
 * request against the bandwidth it saw. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/errmsg.h"
#include "rp.h"

#define MAX_APPS 64

static const cJSON *get(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* A number for a data file: "?" (gnuplot's missing) when the key is absent. */
static void put(FILE *f, const cJSON *o, const char *key, double scale)
{
	double v;
	if (rp_num(o, key, &v))
		fprintf(f, " %.6g", v * scale);
	else
		fputs(" ?", f);
}

/* The application's seconds into a data file (t, attainment %, p99 ms,
 * bandwidth); the lowest attainment into *lo. The count of seconds. */
static int timeline_data(FILE *f, const cJSON *run, const char *app, double *lo)
{
	const cJSON *e;
	int n = 0;
	cJSON_ArrayForEach(e, get(run, "timeline")) {
		const char *a = rp_str(e, "application");
		double att;
		if (!a || strcmp(a, app))
			continue;
		put(f, e, "t_s", 1);
		put(f, e, "attainment", 100);
		put(f, e, "p99_ms", 1);
		put(f, e, "bandwidth_mbps", 1);
		fputc('\n', f);
		if (rp_num(e, "attainment", &att) && att * 100 < *lo)
			*lo = att * 100;
		n++;
	}
	return n;
}

static void timeline_script(FILE *f, const cJSON *a, const char *dat, int i, double lo)
{
	double obj = NAN, dl = NAN;
	rp_num(a, "objective", &obj);
	rp_num(a, "deadline_ms", &dl);
	if (isfinite(obj) && obj * 100 < lo)
		lo = obj * 100;
	lo = fmax(0, floor((lo - 1) / 5) * 5);
	fputs("set datafile missing '?'\nset multiplot layout 2,1 title ", f);
	rp_gp_str(f, rp_str(a, "name"));
	fputs(" font ',14'\nset xlabel 'time since the run started (s)'\n"
	      "set y2label 'mean trace bandwidth (Mbit/s)'\nset ytics nomirror\nset y2tics\n"
	      "set y2range [0:*]\nset autoscale xfix\nset key below horizontal\n"
	      "set lmargin 10\nset rmargin 10\n", f);
	fprintf(f, "set title 'SLO attainment per second'\nset ylabel 'within deadline (%%)'\n"
		   "set yrange [%g:100.5]\n", lo);
	fprintf(f, "plot '%s' using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '%s' "
		   "title 'attainment in that second'", dat, RP_COLOUR(i));
	if (isfinite(obj))
		fprintf(f, ", %g with lines dt 2 lw 2 lc rgb '#000000' title 'objective %g%%'",
			obj * 100, obj * 100);
	fprintf(f, ", '%s' using 1:4 axes x1y2 with lines lw 1.5 lc rgb '#999999' "
		   "title 'bandwidth (right axis)'\n", dat);
	fputs("set title 'p99 latency per second'\nset ylabel 'p99 latency (ms)'\n"
	      "set yrange [0:*]\n", f);
	fprintf(f, "plot '%s' using 1:3 with linespoints pt 7 ps 0.5 lw 2 lc rgb '%s' "
		   "title 'p99 in that second'", dat, RP_COLOUR(i));
	if (isfinite(dl))
		fprintf(f, ", %g with lines dt 2 lw 2 lc rgb '#000000' title 'deadline %g ms'", dl,
			dl);
	fprintf(f, ", '%s' using 1:4 axes x1y2 with lines lw 1.5 lc rgb '#999999' "
		   "title 'bandwidth (right axis)'\nunset multiplot\n", dat);
}

/* One PNG per application: prefix-timeline-<i>.png (numbered: names are the
 * user's and stay out of file names). */
static int timeline_one(struct rp_doc *d, const struct rp_plot *pl, const cJSON *run,
			const cJSON *a, const char *prefix, int i, char *err, size_t errlen)
{
	char dat[64], path[128], name[64], gp[80], png[256], cap[512];
	double lo = 100;
	snprintf(dat, sizeof(dat), "timeline-%d.dat", i + 1);
	snprintf(path, sizeof(path), "%s%s", prefix, dat);
	snprintf(name, sizeof(name), "timeline-%d", i + 1);
	snprintf(gp, sizeof(gp), "%s.gp", name);
	snprintf(png, sizeof(png), "%s%s.png", prefix, name);
	FILE *f = rp_gp_open(pl, prefix, dat, err, errlen);
	if (!f)
		return -EIO;
	int n = timeline_data(f, run, rp_str(a, "name"), &lo), ret;
	if ((ret = rp_gp_close(f, pl, dat, err, errlen)) || !n)
		return ret;
	if (!(f = rp_gp_open(pl, prefix, gp, err, errlen)))
		return -EIO;
	rp_gp_head(f, png, 1100, 760);
	timeline_script(f, a, path, i, lo);
	snprintf(cap, sizeof(cap),
		 "%s over time: the share of each second's requests answered within the "
		 "deadline (top) and their p99 (bottom), with the devices' mean trace bandwidth "
		 "in that second (grey, right axis).", rp_str(a, "name"));
	return rp_gp_draw(d, pl, f, prefix, name, cap, err, errlen);
}

int rp_plot_timelines(struct rp_doc *d, const struct rp_plot *pl, const cJSON *run,
		      const char *prefix, char *err, size_t errlen)
{
	const cJSON *a;
	int i = 0, ret;
	if (!cJSON_GetArraySize(get(run, "timeline"))) {
		rp_p(d, "No timeline in this run: no attainment over time.");
		return 0;
	}
	cJSON_ArrayForEach(a, get(run, "applications")) {
		if ((ret = timeline_one(d, pl, run, a, prefix, i++, err, errlen)))
			return ret;
	}
	return 0;
}

/* A deterministic jitter in [-0.5, 0.5) for row k, so that the points of one
 * decision spread into a visible cloud and the plot is the same every time. */
static double jitter(unsigned k)
{
	return (double)((k * 2654435761u) >> 16 & 0xffff) / 65536.0 - 0.5;
}

struct dec_cols {
	int app, bw, exit, part, bits;
};

/* One block per application: bandwidth, exit, partition, bits (jittered). */
static int decisions_data(FILE *f, const cJSON *run, const struct dec_cols *c, int *count)
{
	const cJSON *rows = get(get(run, "records"), "rows"), *a, *r;
	int i = 0, total = 0;
	cJSON_ArrayForEach(a, get(run, "applications")) {
		const char *name = rp_str(a, "name");
		unsigned k = 0;
		count[i] = 0;
		cJSON_ArrayForEach(r, rows) {
			const cJSON *an = cJSON_GetArrayItem(r, c->app);
			double v[4];
			int cols[4] = {c->bw, c->exit, c->part, c->bits}, ok = 1;
			k++;
			if (!cJSON_IsString(an) || strcmp(an->valuestring, name))
				continue;
			for (int j = 0; j < 4; j++) {
				const cJSON *x = cJSON_GetArrayItem(r, cols[j]);
				ok &= cJSON_IsNumber(x);
				v[j] = ok ? x->valuedouble : 0;
			}
			if (!ok)
				continue;
			fprintf(f, "%.4g %.3f %.3f %.3f\n", v[0], v[1] + 0.5 * jitter(k),
				v[2] + 0.6 * jitter(k * 3 + 1), v[3] + 1.2 * jitter(k * 7 + 2));
			count[i]++;
		}
		fprintf(f, "%s\n\n", count[i] ? "" : "0 ? ? ?");
		total += count[i];
		if (++i == MAX_APPS)
			break;
	}
	return total;
}

/* The legend of the first panel: a large point per application, drawn from NaN
 * (the clouds' own points are too small to read in a key). */
static void decisions_key(FILE *f, const cJSON *run, const int *count)
{
	const cJSON *a;
	int i = 0;
	cJSON_ArrayForEach(a, get(run, "applications")) {
		if (i < MAX_APPS && count[i]) {
			fprintf(f, ", NaN with points pt 7 ps 1.5 lc rgb '%s' title ",
				RP_COLOUR(i));
			rp_gp_str(f, rp_str(a, "name"));
		}
		i++;
	}
}

static void decisions_script(FILE *f, const cJSON *run, const char *dat, const int *count,
			     int total)
{
	static const char *const panels[] = {"exit (1-based)", "partition (layers on the "
					     "device)", "quantization bits"};
	static const char *const ylabels[] = {"exit", "partition", "bits"};
	/* The legend goes in a strip under the three panels, where no point is. */
	fprintf(f, "set multiplot layout 1,3 title 'Decisions against bandwidth (%d requests; "
		   "points jittered, so a cloud is one value)' font ',13'\n"
		   "set xlabel 'bandwidth (Mbit/s)'\nset bmargin 7\n"
		   "set key at screen 0.5, screen 0.02 center bottom horizontal box\n", total);
	for (int p = 0; p < 3; p++) {
		const cJSON *a;
		int i = 0;
		fprintf(f, "set title '%s'\nset ylabel '%s'\n%s\nplot NaN notitle", panels[p],
			ylabels[p], p == 0 ? "set ytics 1, 1, 3\nset yrange [0.5:3.5]"
					   : "set ytics autofreq\nset autoscale y");
		cJSON_ArrayForEach(a, get(run, "applications")) {
			if (i < MAX_APPS && count[i])
				fprintf(f, ", '%s' index %d using 1:%d with points pt 7 ps 0.35 "
					   "lc rgb '#70%s' notitle", dat, i, p + 2,
					RP_COLOUR(i) + 1);
			i++;
		}
		if (p == 0)
			decisions_key(f, run, count);
		fputc('\n', f);
	}
	fputs("unset multiplot\n", f);
}

int rp_plot_decisions(struct rp_doc *d, const struct rp_plot *pl, const cJSON *run,
		      const char *prefix, char *err, size_t errlen)
{
	const cJSON *rec = get(run, "records");
	struct dec_cols c;
	int count[MAX_APPS], ret;
	char dat[256], png[256];
	c.app = -1;
	if (rec) {
		static const char *const names[] = {"application", "bandwidth_mbps", "exit",
						    "partition", "bits"};
		int *idx[] = {&c.app, &c.bw, &c.exit, &c.part, &c.bits};
		for (int j = 0; j < 5; j++) {
			const cJSON *col;
			int k = 0;
			*idx[j] = -1;
			cJSON_ArrayForEach(col, get(rec, "columns")) {
				if (cJSON_IsString(col) && !strcmp(col->valuestring, names[j]))
					*idx[j] = k;
				k++;
			}
			if (*idx[j] < 0)
				c.app = -1;
		}
	}
	if (c.app < 0) {
		rp_p(d, "No per-request records with application, bandwidth_mbps, exit, partition "
			"and bits: no decisions plot.");
		return 0;
	}
	FILE *f = rp_gp_open(pl, prefix, "decisions.dat", err, errlen);
	if (!f)
		return -EIO;
	int total = decisions_data(f, run, &c, count);
	if ((ret = rp_gp_close(f, pl, "decisions.dat", err, errlen)))
		return ret;
	if (!total) {
		rp_p(d, "No records of the applications: no decisions plot.");
		return 0;
	}
	if (!(f = rp_gp_open(pl, prefix, "decisions.gp", err, errlen)))
		return -EIO;
	snprintf(png, sizeof(png), "%sdecisions.png", prefix);
	snprintf(dat, sizeof(dat), "%sdecisions.dat", prefix);
	rp_gp_head(f, png, 1200, 560);
	decisions_script(f, run, dat, count, total);
	return rp_gp_draw(d, pl, f, prefix, "decisions",
			  "Decisions against bandwidth: every recorded request's exit, partition "
			  "and bits at the bandwidth its device's trace gave then; coloured by "
			  "application.", err, errlen);
}
