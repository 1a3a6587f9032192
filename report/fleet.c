/* A fleet run's tables (docs/fleet-json.md): the verdict, totals, applications
 * against their SLOs, device classes, groups, decisions, errors and fallbacks,
 * and where the run came from (machine, commit, files and their hashes, seed,
 * command). A key the run omits (not measured) prints as "-". */
#include <stdlib.h>
#include <string.h>

#include "rp.h"

#define MAX_COLS 16
#define CELL 256

struct row {
	char c[MAX_COLS][CELL];
	const char *p[MAX_COLS];
	int n;
};

static void row_reset(struct row *r)
{
	r->n = 0;
}

static char *row_next(struct row *r)
{
	r->p[r->n] = r->c[r->n];
	return r->c[r->n++];
}

static void add_s(struct row *r, const char *s)
{
	snprintf(row_next(r), CELL, "%s", s ? s : "-");
}

/* The number at key as a number or (pct) a percentage; "-" when absent. */
static void add_val(struct row *r, const cJSON *obj, const char *key, int pct)
{
	double v;
	char *c = row_next(r);
	if (!rp_num(obj, key, &v))
		snprintf(c, CELL, "-");
	else if (pct)
		rp_fmt_pct(c, CELL, v);
	else
		rp_fmt(c, CELL, v);
}

static void add_num(struct row *r, const cJSON *obj, const char *key)
{
	add_val(r, obj, key, 0);
}

static void add_pct(struct row *r, const cJSON *obj, const char *key)
{
	add_val(r, obj, key, 1);
}

/* PASS or MISS from a boolean key, "-" when absent. */
static void add_verdict(struct row *r, const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	add_s(r, cJSON_IsBool(v) ? (cJSON_IsTrue(v) ? "PASS" : "MISS") : "-");
}

static const char *const lat_keys[] = {"mean", "p50", "p90", "p99", "p999", "max"};

static void add_latency(struct row *r, const cJSON *obj)
{
	const cJSON *l = cJSON_GetObjectItemCaseSensitive(obj, "latency_ms");
	for (int i = 0; i < 6; i++)
		add_num(r, l, lat_keys[i]);
}

static const cJSON *get(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static void verdict(struct rp_doc *d, const cJSON *run)
{
	const cJSON *v = get(run, "verdict"), *m;
	const cJSON *passed = get(v, "passed");
	if (!cJSON_IsBool(passed))
		return;
	if (cJSON_IsTrue(passed)) {
		rp_p(d, "Verdict: PASS. Every application met its SLO objective and minimum "
			"accuracy.");
		return;
	}
	char list[1024] = "";
	size_t len = 0;
	cJSON_ArrayForEach(m, get(v, "missed")) {
		if (cJSON_IsString(m) && len < sizeof(list))
			len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
						len ? ", " : "", m->valuestring);
	}
	rp_p(d, "Verdict: MISS. Missed their objective or minimum accuracy: %s.", list);
}

static void totals(struct rp_doc *d, const cJSON *run, struct row *r)
{
	static const char *const h[] = {"requests", "answered", "by the edge", "on the device",
					 "throughput (req/s)", "accuracy", "late starts",
					 "max lag (ms)"};
	const cJSON *t = get(run, "totals"), *s = get(t, "schedule");
	rp_h(d, 3, "Totals");
	row_reset(r);
	add_num(r, t, "requests");
	add_num(r, t, "answered");
	add_num(r, t, "edge");
	add_num(r, t, "device");
	add_num(r, t, "throughput_rps");
	add_pct(r, t, "accuracy");
	add_num(r, s, "late_starts");
	add_num(r, s, "max_lag_ms");
	rp_table(d, r->n, h);
	rp_row(d, r->n, r->p);
	rp_table_end(d);
	if (get(s, "late_starts"))
		rp_p(d, "Late starts: open-loop sends that left later than scheduled (latency is "
			"timed from the scheduled time all the same).");
}

static void applications(struct rp_doc *d, const cJSON *run, struct row *r)
{
	static const char *const h[] = {"application", "deadline (ms)", "requests",
					"within deadline", "attainment", "objective", "SLO",
					"accuracy", "min accuracy", "accuracy ok"};
	static const char *const hs[] = {"application", "mean", "p50", "p90", "p99", "p99.9",
					 "max", "head", "uplink", "queue", "compute",
					 "downlink"};
	const cJSON *a;
	rp_h(d, 3, "Applications against their SLOs");
	rp_table(d, 10, h);
	cJSON_ArrayForEach(a, get(run, "applications")) {
		row_reset(r);
		add_s(r, rp_str(a, "name"));
		add_num(r, a, "deadline_ms");
		add_num(r, a, "requests");
		add_num(r, a, "within_deadline");
		add_pct(r, a, "attainment");
		add_pct(r, a, "objective");
		add_verdict(r, a, "objective_met");
		add_pct(r, a, "accuracy");
		add_pct(r, a, "min_accuracy");
		add_verdict(r, a, "accuracy_met");
		rp_row(d, r->n, r->p);
	}
	rp_table_end(d);
	rp_h(d, 3, "Latency per application (ms)");
	rp_p(d, "End-to-end latency, then its mean split by stage: head layers on the device, "
		"uplink, queue at the edge, edge compute, downlink.");
	rp_table(d, 12, hs);
	cJSON_ArrayForEach(a, get(run, "applications")) {
		const cJSON *s = get(a, "split_ms");
		row_reset(r);
		add_s(r, rp_str(a, "name"));
		add_latency(r, a);
		for (int i = 7; i < 12; i++)
			add_num(r, s, hs[i]);
		rp_row(d, r->n, r->p);
	}
	rp_table_end(d);
}

static void classes_groups(struct rp_doc *d, const cJSON *run, struct row *r)
{
	static const char *const hc[] = {"device class", "requests", "mean", "p50", "p90",
					 "p99", "p99.9", "max"};
	static const char *const hg[] = {"group", "devices", "class", "application",
					 "transport", "arrival", "requests", "attainment"};
	const cJSON *c;
	rp_h(d, 3, "Latency per device class (ms)");
	rp_table(d, 8, hc);
	row_reset(r);
	add_s(r, "all requests");
	add_num(r, get(run, "totals"), "requests");
	add_latency(r, get(run, "totals"));
	rp_row(d, r->n, r->p);
	if (get(run, "classes")) {
		cJSON_ArrayForEach(c, get(run, "classes")) {
			row_reset(r);
			add_s(r, rp_str(c, "name"));
			add_num(r, c, "requests");
			add_latency(r, c);
			rp_row(d, r->n, r->p);
		}
	}
	rp_table_end(d);
	if (get(run, "groups")) {
		rp_h(d, 3, "Groups");
		rp_table(d, 8, hg);
		cJSON_ArrayForEach(c, get(run, "groups")) {
			row_reset(r);
			add_s(r, rp_str(c, "name"));
			add_num(r, c, "count");
			add_s(r, rp_str(c, "class"));
			add_s(r, rp_str(c, "application"));
			add_s(r, rp_str(c, "transport"));
			add_s(r, rp_str(c, "arrival"));
			add_num(r, c, "requests");
			add_pct(r, c, "attainment");
			rp_row(d, r->n, r->p);
		}
		rp_table_end(d);
	}
}

static int by_count(const void *a, const void *b)
{
	double x = 0, y = 0;
	rp_num(*(const cJSON *const *)a, "count", &x);
	rp_num(*(const cJSON *const *)b, "count", &y);
	return (x < y) - (x > y);
}

/* The ten most frequent (exit, partition, bits), whatever order the run gave. */
static void decisions(struct rp_doc *d, const cJSON *run, struct row *r)
{
	static const char *const h[] = {"exit", "partition", "bits", "requests", "share"};
	const cJSON *a = get(run, "decisions"), *e;
	int n = cJSON_GetArraySize(a), i = 0;
	double total = 0, v;
	if (!n)
		return;
	const cJSON **s = malloc((size_t)n * sizeof(*s));
	if (!s)
		return;
	cJSON_ArrayForEach(e, a) {
		s[i++] = e;
		total += rp_num(e, "count", &v) ? v : 0;
	}
	qsort(s, (size_t)n, sizeof(*s), by_count);
	rp_h(d, 3, n > 10 ? "Decisions (top 10)" : "Decisions");
	rp_table(d, 5, h);
	for (i = 0; i < n && i < 10; i++) {
		row_reset(r);
		add_num(r, s[i], "exit");
		add_num(r, s[i], "partition");
		add_num(r, s[i], "bits");
		add_num(r, s[i], "count");
		if (total > 0 && rp_num(s[i], "count", &v))
			rp_fmt_pct(row_next(r), CELL, v / total);
		else
			add_s(r, NULL);
		rp_row(d, r->n, r->p);
	}
	rp_table_end(d);
	if (n > 10)
		rp_p(d, "%d other decisions not shown.", n - 10);
	free(s);
}

static void counts(struct rp_doc *d, const cJSON *run, struct row *r)
{
	static const char *const h[] = {"what", "name", "count"};
	static const char *const keys[] = {"errors", "fallbacks"};
	const cJSON *e;
	int rows = 0;
	rp_h(d, 3, "Errors and fallbacks");
	for (int k = 0; k < 2; k++) {
		cJSON_ArrayForEach(e, get(run, keys[k])) {
			if (!rows++)
				rp_table(d, 3, h);
			row_reset(r);
			add_s(r, k ? "fallback (answered on the device)" : "error (from the edge)");
			add_s(r, e->string);
			char *c = row_next(r);
			if (cJSON_IsNumber(e))
				rp_fmt(c, CELL, e->valuedouble);
			else
				snprintf(c, CELL, "-");
			rp_row(d, r->n, r->p);
		}
	}
	if (rows)
		rp_table_end(d);
	else
		rp_p(d, "None recorded.");
}

/* A key/value line of the provenance table; numbers formatted, strings as is. */
static void kv(struct rp_doc *d, struct row *r, const char *name, const cJSON *obj,
	       const char *key)
{
	const cJSON *v = get(obj, key);
	if (!v)
		return;
	row_reset(r);
	add_s(r, name);
	if (cJSON_IsString(v))
		add_s(r, v->valuestring);
	else
		add_num(r, obj, key);
	rp_row(d, r->n, r->p);
}

static void kv_file(struct rp_doc *d, struct row *r, const char *name, const cJSON *m,
		    const char *file_key, const char *hash_key)
{
	const char *f = rp_str(m, file_key), *h = rp_str(m, hash_key);
	if (!f && !h)
		return;
	row_reset(r);
	add_s(r, name);
	snprintf(row_next(r), CELL, "%s (XXH64 %s)", f ? f : "-", h ? h : "-");
	rp_row(d, r->n, r->p);
}

static void meta(struct rp_doc *d, const struct rp_input *in, struct row *r)
{
	static const char *const h[] = {"", "value"};
	const cJSON *m = get(in->docs[0], "meta"), *mc = get(m, "machine");
	rp_h(d, 3, "Where this run comes from");
	rp_table_kv(d, h);
	kv(d, r, "command", m, "command");
	kv(d, r, "commit", m, "commit");
	kv(d, r, "started", m, "started");
	kv(d, r, "machine", mc, "hostname");
	kv(d, r, "CPU", mc, "cpu");
	kv(d, r, "cores", mc, "cores");
	kv(d, r, "kernel", mc, "kernel");
	kv(d, r, "kernel ISA", mc, "isa");
	kv_file(d, r, "fleet file", m, "fleet_file", "fleet_xxh64");
	kv_file(d, r, "SLO file", m, "slo_file", "slo_xxh64");
	kv(d, r, "seed", m, "seed");
	kv(d, r, "edge", m, "edge");
	kv(d, r, "shaping", m, "shaping");
	kv(d, r, "duration (s)", m, "duration_s");
	kv(d, r, "warm-up (s)", m, "warmup_s");
	kv(d, r, "devices", m, "devices");
	row_reset(r);
	add_s(r, "this JSON");
	snprintf(row_next(r), CELL, "%s (XXH64 %016llx, %zu bytes)", in->path,
		 (unsigned long long)in->xxh64, in->bytes);
	rp_row(d, r->n, r->p);
	rp_table_end(d);
}

void rp_fleet_tables(struct rp_doc *d, const struct rp_input *in)
{
	struct row *r = malloc(sizeof(*r));
	const cJSON *run = in->docs[0];
	if (!r)
		return;
	verdict(d, run);
	totals(d, run, r);
	applications(d, run, r);
	classes_groups(d, run, r);
	decisions(d, run, r);
	counts(d, run, r);
	meta(d, in, r);
	free(r);
}
