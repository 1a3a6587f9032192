/* coinfer-fleet's aggregation (design in fleet.h): pure functions over the
 * measured requests, so tests/fleet/ checks them on known lists. */
#include <errno.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/errmsg.h"
#include "fleet.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double fl_percentile(const double *sorted, size_t n, double p)
{
	if (!n)
		return 0;
	/* the epsilon keeps 0.99 * 100 at rank 99, not 100 through rounding */
	double r = ceil(p * (double)n - 1e-9);
	size_t rank = r < 1 ? 1 : r > (double)n ? n : (size_t)r;
	return sorted[rank - 1];
}

void fl_latency_of(double *v, size_t n, struct fl_latency *out)
{
	double sum = 0;
	memset(out, 0, sizeof(*out));
	if (!n)
		return;
	qsort(v, n, sizeof(*v), cmp_double);
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	out->n = n;
	out->mean = sum / (double)n;
	out->p50 = fl_percentile(v, n, 0.50);
	out->p90 = fl_percentile(v, n, 0.90);
	out->p99 = fl_percentile(v, n, 0.99);
	out->p999 = fl_percentile(v, n, 0.999);
	out->max = v[n - 1];
}

double fl_attainment(uint64_t within, uint64_t requests)
{
	return requests ? (double)within / (double)requests : 1.0;
}

/* Order of the timeline: second, then application. */
static int cmp_bucket_key(const void *a, const void *b)
{
	const struct fl_sample *x = *(const struct fl_sample *const *)a;
	const struct fl_sample *y = *(const struct fl_sample *const *)b;
	int tx = (int)floor(x->t_s), ty = (int)floor(y->t_s);
	if (tx != ty)
		return tx < ty ? -1 : 1;
	if (x->app != y->app)
		return x->app < y->app ? -1 : 1;
	return cmp_double(&x->latency_ms, &y->latency_ms);
}

/* One bucket from the run by[i..j) (sorted by latency within it). */
static void fill_bucket(struct fl_sample **by, size_t i, size_t j, double *lat,
			struct fl_bucket *b)
{
	b->t_s = (int)floor(by[i]->t_s);
	b->app = by[i]->app;
	b->requests = j - i;
	b->met = 0;
	for (size_t k = i; k < j; k++) {
		lat[k - i] = by[k]->latency_ms;
		b->met += !!by[k]->met;
	}
	b->p99_ms = fl_percentile(lat, j - i, 0.99);
}

int fl_timeline(const struct fl_sample *s, size_t n, struct fl_bucket **out, size_t *nout)
{
	struct fl_sample **by = NULL;
	struct fl_bucket *b = NULL;
	double *lat = NULL;
	size_t nb = 0;
	int ret = 0;
	*out = NULL;
	*nout = 0;
	if (!n)
		return 0;
	by = malloc(n * sizeof(*by));
	lat = malloc(n * sizeof(*lat));
	b = malloc(n * sizeof(*b)); /* at most one bucket per sample */
	if (!by || !lat || !b) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		by[i] = (struct fl_sample *)&s[i];
	qsort(by, n, sizeof(*by), cmp_bucket_key);
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && floor(by[j]->t_s) == floor(by[i]->t_s) &&
				by[j]->app == by[i]->app;
		     j++)
			;
		fill_bucket(by, i, j, lat, &b[nb++]);
	}
	*out = b;
	*nout = nb;
	b = NULL;
out:
	free(by);
	free(lat);
	free(b);
	return ret;
}

void fl_hist_add(struct fl_hist *h, double ms)
{
	int i = 0;
	if (ms > FL_HIST_MIN_MS)
		i = 1 + (int)floor(log10(ms / FL_HIST_MIN_MS) * FL_HIST_PER_DECADE);
	if (i >= FL_HIST_N)
		i = FL_HIST_N - 1;
	__atomic_fetch_add(&h->n[i], 1, __ATOMIC_RELAXED);
}

double fl_hist_quantile(const struct fl_hist *h, double q)
{
	uint64_t c[FL_HIST_N], total = 0, acc = 0;
	for (int i = 0; i < FL_HIST_N; i++)
		total += c[i] = __atomic_load_n(&h->n[i], __ATOMIC_RELAXED);
	if (!total)
		return 0;
	double r = ceil(q * (double)total - 1e-9);
	uint64_t rank = r < 1 ? 1 : (uint64_t)r;
	for (int i = 0; i < FL_HIST_N; i++)
		if ((acc += c[i]) >= rank)
			return FL_HIST_MIN_MS * pow(10, (double)i / FL_HIST_PER_DECADE);
	return FL_HIST_MIN_MS * pow(10, (double)(FL_HIST_N - 1) / FL_HIST_PER_DECADE);
}

/* splitmix64: a well-mixed value from a seed and a device index. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

double fl_trace_offset(uint64_t seed, int device, double duration_s)
{
	uint64_t r = mix(mix(seed) ^ (uint64_t)(unsigned)device);
	return (double)(r >> 11) * 0x1p-53 * duration_s;
}

double fl_link_mbps(const struct fl_link *l, double t_s)
{
	double mbps = sim_trace_bw(l->tr, l->offset_s + t_s);
	return mbps > FL_MIN_MBPS ? mbps : FL_MIN_MBPS;
}

/* One line of a gap file: 1 and *v for a gap, 0 for a blank or comment line, -1 when bad. */
static int gap_line(const char *line, size_t len, double *v)
{
	char buf[128], *p = buf, *end;
	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, line, len);
	buf[len] = 0;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p || *p == '#' || *p == '\r')
		return 0;
	*v = strtod(p, &end);
	while (*end == ' ' || *end == '\t' || *end == '\r')
		end++;
	return end != p && !*end && *v > 0 && isfinite(*v) ? 1 : -1;
}

int fl_gaps_parse(const char *text, const char *name, double **gaps, int *n, char *err,
		  size_t errlen)
{
	int cap = 0, lineno = 0, ret = 0;
	*gaps = NULL;
	*n = 0;
	for (const char *line = text; *line && !ret; lineno++) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		double v;
		int k = gap_line(line, len, &v);
		line = nl ? nl + 1 : line + len;
		if (k < 0)
			ret = cf_fail(-EINVAL, err, errlen, "%s:%d: a gap is a number of ms > 0",
				      name, lineno + 1);
		if (k <= 0)
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 256;
			double *p = realloc(*gaps, (size_t)cap * sizeof(*p));
			if (!p) {
				ret = cf_fail(-ENOMEM, err, errlen, "out of memory");
				break;
			}
			*gaps = p;
		}
		(*gaps)[(*n)++] = v;
	}
	if (!ret && !*n)
		ret = cf_fail(-EINVAL, err, errlen, "%s: no gaps", name);
	if (ret) {
		free(*gaps);
		*gaps = NULL;
		*n = 0;
	}
	return ret;
}
