/* coinfer-fleet's report (design in fleet.h): the run JSON of docs/fleet-json.md
 * (cJSON), the per-request CSV, the human summary and the verdict that sets the
 * exit status. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <xxhash.h>

#include "coinfer/agent.h"
#include "coinfer/errmsg.h"
#include "coinfer/fileio.h"
#include "coinfer/kernels.h"
#include "coinfer/wire.h"
#include "fleet.h"

/* Four decimals are more than any time or rate here is worth, and keep the file short. */
static double rnd(double x)
{
	return round(x * 1e4) / 1e4;
}

static void add_num(cJSON *o, const char *k, double v)
{
	cJSON_AddNumberToObject(o, k, rnd(v));
}

/* What one subset of the samples came to (an application, a class, a group, all). */
struct agg {
	uint64_t n, met, correct, edge;
	double split[5]; /* sums: head (all), uplink, queue, compute, downlink (edge answers) */
	struct fl_latency lat;
};

/* The samples for which keep(s, arg) holds. -ENOMEM, or 0. */
static int aggregate(const struct fl_result *r, int (*keep)(const struct fl_sample *, int),
		     int arg, struct agg *a)
{
	double *v = malloc((r->n_samples ? r->n_samples : 1) * sizeof(*v));
	memset(a, 0, sizeof(*a));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_samples; i++) {
		const struct fl_sample *s = &r->samples[i];
		if (keep && !keep(s, arg))
			continue;
		v[a->n++] = s->latency_ms;
		a->met += !!s->met;
		a->correct += !!s->correct;
		a->split[0] += s->head_ms;
		if (!s->edge)
			continue;
		a->edge++;
		a->split[1] += s->uplink_ms;
		a->split[2] += s->queue_ms;
		a->split[3] += s->compute_ms;
		a->split[4] += s->downlink_ms;
	}
	fl_latency_of(v, a->n, &a->lat);
	free(v);
	return 0;
}

static int by_app(const struct fl_sample *s, int k)
{
	return s->app == k;
}

static int by_cls(const struct fl_sample *s, int k)
{
	return s->cls == k;
}

static int by_group(const struct fl_sample *s, int k)
{
	return s->group == k;
}

static void add_latency(cJSON *o, const struct agg *a)
{
	if (!a->n)
		return; /* absent data: the key is omitted */
	cJSON *l = cJSON_AddObjectToObject(o, "latency_ms");
	add_num(l, "mean", a->lat.mean);
	add_num(l, "p50", a->lat.p50);
	add_num(l, "p90", a->lat.p90);
	add_num(l, "p99", a->lat.p99);
	add_num(l, "p999", a->lat.p999);
	add_num(l, "max", a->lat.max);
}

/* ---- the verdict ---------------------------------------------------------------------- */

/* An application's objective and minimum accuracy against what was measured; an
 * application with no measured request missed (a run that measured nothing of
 * it cannot pass it). */
static void app_verdict(const struct cfg_slo *slo, const struct agg *a, int *obj_met,
			int *acc_met)
{
	double acc = a->n ? (double)a->correct / (double)a->n : 0;
	*obj_met = a->n && fl_attainment(a->met, a->n) >= slo->objective;
	*acc_met = a->n && (!(slo->min_accuracy > 0) || acc >= slo->min_accuracy);
}

/* ---- meta ------------------------------------------------------------------------------ */

/* XXH64 of a file as 16 hex digits; "" when it cannot be read. */
static void file_xxh64(const char *path, char *hex, size_t len)
{
	void *buf;
	size_t n;
	char err[256];
	hex[0] = 0;
	if (cf_read_file(path, 1u << 30, &buf, &n, err, sizeof(err)))
		return;
	snprintf(hex, len, "%016llx", (unsigned long long)XXH64(buf, n, 0));
	free(buf);
}

/* "model name" of /proc/cpuinfo (the first CPU's). */
static void cpu_model(char *buf, size_t len)
{
	char line[512];
	FILE *f = fopen("/proc/cpuinfo", "r");
	snprintf(buf, len, "unknown");
	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		if (strncmp(line, "model name", 10) || !colon)
			continue;
		snprintf(buf, len, "%s", colon + 2);
		buf[strcspn(buf, "\n")] = 0;
		break;
	}
	if (f)
		fclose(f);
}

static void add_machine(cJSON *meta)
{
	char host[256] = "unknown", cpu[256], kernel[300];
	struct utsname u;
	cJSON *m = cJSON_AddObjectToObject(meta, "machine");
	gethostname(host, sizeof(host) - 1);
	cpu_model(cpu, sizeof(cpu));
	if (!uname(&u))
		snprintf(kernel, sizeof(kernel), "%s %s", u.sysname, u.release);
	else
		snprintf(kernel, sizeof(kernel), "unknown");
	cJSON_AddStringToObject(m, "hostname", host);
	cJSON_AddStringToObject(m, "cpu", cpu);
	cJSON_AddNumberToObject(m, "cores", (double)sysconf(_SC_NPROCESSORS_ONLN));
	cJSON_AddStringToObject(m, "kernel", kernel);
	cJSON_AddStringToObject(m, "isa", ck_isa_name(ck_kernels()->isa));
}

static void add_meta(cJSON *root, const struct fl_result *r)
{
	const struct fl_opts *o = r->o;
	char hex[24], edge[300];
	cJSON *meta = cJSON_AddObjectToObject(root, "meta");
	cJSON_AddStringToObject(meta, "command", o->command);
	cJSON_AddStringToObject(meta, "commit", fl_commit);
	add_machine(meta);
	cJSON_AddStringToObject(meta, "started", r->started);
	cJSON_AddStringToObject(meta, "fleet_file", o->fleet_path);
	file_xxh64(o->fleet_path, hex, sizeof(hex));
	cJSON_AddStringToObject(meta, "fleet_xxh64", hex);
	cJSON_AddStringToObject(meta, "slo_file", r->fleet->slo_path);
	file_xxh64(r->fleet->slo_path, hex, sizeof(hex));
	cJSON_AddStringToObject(meta, "slo_xxh64", hex);
	cJSON_AddNumberToObject(meta, "seed", (double)r->fleet->seed);
	snprintf(edge, sizeof(edge), strchr(o->host, ':') ? "[%s]:%d" : "%s:%d", o->host, o->port);
	cJSON_AddStringToObject(meta, "edge", edge);
	if (o->udp_port) {
		snprintf(edge, sizeof(edge), strchr(o->udp_host, ':') ? "[%s]:%d" : "%s:%d",
			 o->udp_host, o->udp_port);
		cJSON_AddStringToObject(meta, "edge_udp", edge);
	}
	cJSON_AddStringToObject(meta, "shaping", r->o->netns ? "netns" : "process");
	add_num(meta, "duration_s", o->duration_s);
	add_num(meta, "warmup_s", o->warmup_s);
	cJSON_AddNumberToObject(meta, "devices", r->fleet->devices);
}

/* ---- totals, applications, classes, groups ------------------------------------------------ */

static int add_totals(cJSON *root, const struct fl_result *r)
{
	struct agg a;
	if (aggregate(r, NULL, 0, &a))
		return -ENOMEM;
	cJSON *t = cJSON_AddObjectToObject(root, "totals");
	cJSON_AddNumberToObject(t, "requests", (double)r->requests);
	cJSON_AddNumberToObject(t, "answered", (double)a.n);
	cJSON_AddNumberToObject(t, "edge", (double)a.edge);
	cJSON_AddNumberToObject(t, "device", (double)(a.n - a.edge));
	if (r->measured_s > 0)
		add_num(t, "throughput_rps", (double)a.n / r->measured_s);
	cJSON_AddNumberToObject(t, "correct", (double)a.correct);
	if (a.n)
		add_num(t, "accuracy", (double)a.correct / (double)a.n);
	add_latency(t, &a);
	cJSON *s = cJSON_AddObjectToObject(t, "schedule");
	cJSON_AddNumberToObject(s, "late_starts", (double)r->late_starts);
	add_num(s, "max_lag_ms", r->max_lag_ms);
	return 0;
}

static void add_split(cJSON *o, const struct agg *a)
{
	static const char *const names[] = {"head", "uplink", "queue", "compute", "downlink"};
	if (!a->n)
		return;
	cJSON *s = cJSON_AddObjectToObject(o, "split_ms");
	add_num(s, names[0], a->split[0] / (double)a->n);
	for (int i = 1; i < 5 && a->edge; i++)
		add_num(s, names[i], a->split[i] / (double)a->edge);
}

/* The applications the groups run, in the SLO file's order; *missed counts those
 * whose objective or minimum accuracy was missed, named in `missed_list`. */
static int add_apps(cJSON *root, const struct fl_result *r, cJSON *missed_list)
{
	cJSON *arr = cJSON_AddArrayToObject(root, "applications");
	for (int k = 0; k < r->fleet->n_slo; k++) {
		const struct cfg_slo *slo = &r->fleet->slo[k];
		int used = 0, obj_met, acc_met;
		struct agg a;
		for (int g = 0; g < r->fleet->n_groups; g++)
			used |= r->fleet->groups[g].app == k;
		if (!used)
			continue;
		if (aggregate(r, by_app, k, &a))
			return -ENOMEM;
		app_verdict(slo, &a, &obj_met, &acc_met);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddItemToArray(arr, o);
		cJSON_AddStringToObject(o, "name", slo->app);
		add_num(o, "deadline_ms", slo->deadline_ms);
		add_num(o, "objective", slo->objective);
		add_num(o, "window_s", slo->window_s);
		add_num(o, "min_accuracy", slo->min_accuracy);
		cJSON_AddNumberToObject(o, "requests", (double)a.n);
		cJSON_AddNumberToObject(o, "within_deadline", (double)a.met);
		if (a.n)
			add_num(o, "attainment", fl_attainment(a.met, a.n));
		cJSON_AddBoolToObject(o, "objective_met", obj_met);
		if (a.n)
			add_num(o, "accuracy", (double)a.correct / (double)a.n);
		cJSON_AddBoolToObject(o, "accuracy_met", acc_met);
		add_latency(o, &a);
		add_split(o, &a);
		if (!obj_met || !acc_met)
			cJSON_AddItemToArray(missed_list, cJSON_CreateString(slo->app));
	}
	return 0;
}

static int add_classes(cJSON *root, const struct fl_result *r)
{
	cJSON *arr = cJSON_AddArrayToObject(root, "classes");
	for (int c = 0; c < r->n_cls; c++) {
		struct agg a;
		if (aggregate(r, by_cls, c, &a))
			return -ENOMEM;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddItemToArray(arr, o);
		cJSON_AddStringToObject(o, "name", r->cls_names[c]);
		cJSON_AddNumberToObject(o, "requests", (double)a.n);
		add_latency(o, &a);
	}
	return 0;
}

static void arrival_text(const struct cfg_fleet_group *g, char *buf, size_t len)
{
	if (g->arrival == CFG_ARRIVAL_POISSON)
		snprintf(buf, len, "poisson %g Hz", g->rate_hz);
	else if (g->arrival == CFG_ARRIVAL_CLOSED)
		snprintf(buf, len, "closed, think %g ms", g->think_ms);
	else
		snprintf(buf, len, "gaps %s", g->gaps);
}

static int add_groups(cJSON *root, const struct fl_result *r)
{
	cJSON *arr = cJSON_AddArrayToObject(root, "groups");
	for (int k = 0; k < r->fleet->n_groups; k++) {
		const struct cfg_fleet_group *g = &r->fleet->groups[k];
		char arrival[4200];
		struct agg a;
		if (aggregate(r, by_group, k, &a))
			return -ENOMEM;
		arrival_text(g, arrival, sizeof(arrival));
		cJSON *o = cJSON_CreateObject();
		cJSON_AddItemToArray(arr, o);
		cJSON_AddStringToObject(o, "name", g->name);
		cJSON_AddNumberToObject(o, "count", g->count);
		cJSON_AddStringToObject(o, "class", g->device_class);
		cJSON_AddStringToObject(o, "application", r->fleet->slo[g->app].app);
		cJSON_AddStringToObject(o, "transport", g->transport == CFG_TRANSPORT_UDP ? "udp"
											: "tcp");
		cJSON_AddStringToObject(o, "arrival", arrival);
		cJSON_AddNumberToObject(o, "requests", (double)a.n);
		if (a.n)
			add_num(o, "attainment", fl_attainment(a.met, a.n));
	}
	return 0;
}

/* ---- decisions, errors, fallbacks ---------------------------------------------------------- */

#define DEC_INDEX(e, p, b) ((((size_t)(e) * (AG_MAX_POS + 1)) + (size_t)(p)) * 17 + (size_t)(b))

static int add_decisions(cJSON *root, const struct fl_result *r)
{
	size_t n = DEC_INDEX(AG_MAX_EXITS, 0, 0);
	uint64_t *c = calloc(n, sizeof(*c));
	if (!c)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_samples; i++) {
		const struct fl_sample *s = &r->samples[i];
		if (s->exit >= 1 && s->exit <= AG_MAX_EXITS && s->partition >= 0 &&
		    s->partition <= AG_MAX_POS && s->bits >= 0 && s->bits <= 16)
			c[DEC_INDEX(s->exit - 1, s->partition, s->bits)]++;
	}
	cJSON *arr = cJSON_AddArrayToObject(root, "decisions");
	for (size_t i = 0; i < n; i++) {
		if (!c[i])
			continue;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddItemToArray(arr, o);
		cJSON_AddNumberToObject(o, "exit", (double)(i / 17 / (AG_MAX_POS + 1) + 1));
		cJSON_AddNumberToObject(o, "partition", (double)(i / 17 % (AG_MAX_POS + 1)));
		cJSON_AddNumberToObject(o, "bits", (double)(i % 17));
		cJSON_AddNumberToObject(o, "count", (double)c[i]);
	}
	free(c);
	return 0;
}

static int add_errors(cJSON *root, const struct fl_result *r)
{
	uint64_t *c = calloc(65536, sizeof(*c)), fb[AG_FB_COUNT] = {0};
	if (!c)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_samples; i++) {
		const struct fl_sample *s = &r->samples[i];
		if (s->error_code)
			c[s->error_code & 0xffff]++;
		if (s->reason > AG_FB_NONE && s->reason < AG_FB_COUNT)
			fb[s->reason]++;
	}
	cJSON *e = cJSON_AddObjectToObject(root, "errors");
	for (int k = 1; k < 65536; k++) {
		char name[32];
		const char *nm = cw_error_name((enum cw_error_code)k);
		if (!c[k])
			continue;
		if (!nm || !strcmp(nm, "unknown")) {
			snprintf(name, sizeof(name), "code-%d", k);
			nm = name;
		}
		cJSON_AddNumberToObject(e, nm, (double)c[k]);
	}
	cJSON *f = cJSON_AddObjectToObject(root, "fallbacks");
	for (int k = AG_FB_NONE + 1; k < AG_FB_COUNT; k++)
		if (fb[k])
			cJSON_AddNumberToObject(f, ag_reason_name((enum ag_reason)k),
						(double)fb[k]);
	free(c);
	return 0;
}

/* ---- timeline and records ---------------------------------------------------------------- */

/* The mean trace rate at t of the devices of the groups running application app. */
static double app_bandwidth(const struct fl_result *r, int app, double t)
{
	double sum = 0;
	int n = 0;
	for (int g = 0; g < r->fleet->n_groups; g++) {
		if (r->fleet->groups[g].app != app)
			continue;
		for (int d = 0; d < r->fleet->groups[g].count; d++, n++)
			sum += fl_link_mbps(&r->links[r->link_base[g] + d], t);
	}
	return n ? sum / n : 0;
}

static int add_timeline(cJSON *root, const struct fl_result *r)
{
	struct fl_bucket *b;
	size_t n;
	if (fl_timeline(r->samples, r->n_samples, &b, &n))
		return -ENOMEM;
	cJSON *arr = cJSON_AddArrayToObject(root, "timeline");
	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddItemToArray(arr, o);
		cJSON_AddNumberToObject(o, "t_s", b[i].t_s);
		cJSON_AddStringToObject(o, "application", r->fleet->slo[b[i].app].app);
		cJSON_AddNumberToObject(o, "requests", (double)b[i].requests);
		add_num(o, "attainment", fl_attainment(b[i].met, b[i].requests));
		add_num(o, "p99_ms", b[i].p99_ms);
		/* the middle of the second: its mean is what a step trace shows there */
		add_num(o, "bandwidth_mbps", app_bandwidth(r, b[i].app, b[i].t_s + 0.5));
	}
	free(b);
	return 0;
}

static const char *const columns[] = {"t_s", "device", "application", "class", "latency_ms",
				      "deadline_met", "where", "exit", "partition", "bits",
				      "bandwidth_mbps", "correct"};
#define N_COLUMNS (int)(sizeof(columns) / sizeof(columns[0]))

static void add_records(cJSON *root, const struct fl_result *r)
{
	size_t n = r->n_samples;
	size_t max = (size_t)r->o->max_records;
	cJSON *rec = cJSON_AddObjectToObject(root, "records");
	cJSON_AddItemToObject(rec, "columns", cJSON_CreateStringArray(columns, N_COLUMNS));
	cJSON *rows = cJSON_AddArrayToObject(rec, "rows");
	for (size_t i = 0; i < n && i < max; i++) {
		const struct fl_sample *s = &r->samples[i];
		cJSON *row = cJSON_CreateArray();
		cJSON_AddItemToArray(rows, row);
		cJSON_AddItemToArray(row, cJSON_CreateNumber(rnd(s->t_s)));
		cJSON_AddItemToArray(row, cJSON_CreateNumber((double)s->device));
		cJSON_AddItemToArray(row, cJSON_CreateString(r->fleet->slo[s->app].app));
		cJSON_AddItemToArray(row, cJSON_CreateString(r->cls_names[s->cls]));
		cJSON_AddItemToArray(row, cJSON_CreateNumber(rnd(s->latency_ms)));
		cJSON_AddItemToArray(row, cJSON_CreateNumber(!!s->met));
		cJSON_AddItemToArray(row, cJSON_CreateString(s->edge ? "edge" : "device"));
		cJSON_AddItemToArray(row, cJSON_CreateNumber(s->exit));
		cJSON_AddItemToArray(row, cJSON_CreateNumber(s->partition));
		cJSON_AddItemToArray(row, cJSON_CreateNumber(s->bits));
		cJSON_AddItemToArray(row, cJSON_CreateNumber(rnd(s->bw_mbps)));
		cJSON_AddItemToArray(row, cJSON_CreateNumber(!!s->correct));
	}
	cJSON_AddBoolToObject(rec, "truncated", n > max);
}

/* ---- the CSV, the summary, the whole report -------------------------------------------- */

static int write_csv(const struct fl_result *r, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return cf_fail(-errno, err, errlen, "--csv %s: %s", path, strerror(errno));
	for (int c = 0; c < N_COLUMNS; c++)
		fprintf(f, "%s%s", columns[c], c + 1 < N_COLUMNS ? "," : "\n");
	for (size_t i = 0; i < r->n_samples; i++) {
		const struct fl_sample *s = &r->samples[i];
		fprintf(f, "%.4f,%llu,%s,%s,%.4f,%d,%s,%d,%d,%d,%.4f,%d\n", s->t_s,
			(unsigned long long)s->device, r->fleet->slo[s->app].app,
			r->cls_names[s->cls], s->latency_ms, !!s->met, s->edge ? "edge" : "device",
			s->exit, s->partition, s->bits, s->bw_mbps, !!s->correct);
	}
	if (fclose(f))
		return cf_fail(-EIO, err, errlen, "--csv %s: cannot write", path);
	return 0;
}

/* A number of o, 0 when absent. */
static double num(const cJSON *o, const char *k)
{
	double v = cJSON_GetNumberValue(cJSON_GetObjectItem(o, k));
	return v == v ? v : 0;
}

/* A few lines a person reads: what was answered, each application against its
 * objective, the tail, the accuracy, where the JSON went. */
static void summary(const cJSON *root, const struct fl_result *r, FILE *f)
{
	const cJSON *t = cJSON_GetObjectItem(root, "totals"), *a;
	const cJSON *lat = cJSON_GetObjectItem(t, "latency_ms");
	const char *edge = cJSON_GetStringValue(
		cJSON_GetObjectItem(cJSON_GetObjectItem(root, "meta"), "edge"));
	fprintf(f, "coinfer-fleet: %d devices in %d group%s against %s for %g s (%g s warm-up)%s\n",
		r->fleet->devices, r->fleet->n_groups, r->fleet->n_groups > 1 ? "s" : "", edge,
		r->o->duration_s, r->o->warmup_s, r->interrupted ? ", interrupted" : "");
	fprintf(f, "answered %.0f of %.0f (edge %.0f, device %.0f), %.1f requests/s, "
		   "accuracy %.4f\n",
		num(t, "answered"), num(t, "requests"), num(t, "edge"), num(t, "device"),
		num(t, "throughput_rps"), num(t, "accuracy"));
	if (lat)
		fprintf(f, "latency p50 %.1f ms, p99 %.1f ms, max %.1f ms; late starts %.0f\n",
			num(lat, "p50"), num(lat, "p99"), num(lat, "max"),
			num(cJSON_GetObjectItem(t, "schedule"), "late_starts"));
	cJSON_ArrayForEach(a, cJSON_GetObjectItem(root, "applications")) {
		int pass = cJSON_IsTrue(cJSON_GetObjectItem(a, "objective_met")) &&
			   cJSON_IsTrue(cJSON_GetObjectItem(a, "accuracy_met"));
		fprintf(f, "  %-12s %6.2f%% within %g ms (objective %g%%), p99 %.1f ms, accuracy "
			   "%.4f  %s\n", cJSON_GetStringValue(cJSON_GetObjectItem(a, "name")),
			100 * num(a, "attainment"), num(a, "deadline_ms"),
			100 * num(a, "objective"),
			num(cJSON_GetObjectItem(a, "latency_ms"), "p99"), num(a, "accuracy"),
			pass ? "PASS" : "MISS");
	}
	if (!r->connected)
		fprintf(f, "the edge at %s was never reached\n", r->o->host);
	fprintf(f, "run JSON: %s\n", r->o->out ? r->o->out : "not written (--out FILE)");
}

static int build(cJSON *root, const struct fl_result *r, cJSON *missed)
{
	cJSON_AddStringToObject(root, "kind", "coinfer-fleet");
	cJSON_AddNumberToObject(root, "version", 1);
	add_meta(root, r);
	if (add_totals(root, r) || add_apps(root, r, missed) || add_classes(root, r) ||
	    add_groups(root, r) || add_decisions(root, r) || add_errors(root, r) ||
	    add_timeline(root, r))
		return -ENOMEM;
	add_records(root, r);
	cJSON *v = cJSON_AddObjectToObject(root, "verdict");
	cJSON_AddBoolToObject(v, "passed", !cJSON_GetArraySize(missed));
	cJSON_AddItemToObject(v, "missed", missed);
	return 0;
}

static int write_text(const char *path, const char *text, char *err, size_t errlen)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return cf_fail(-errno, err, errlen, "--out %s: %s", path, strerror(errno));
	fputs(text, f);
	fputc('\n', f);
	if (fclose(f))
		return cf_fail(-EIO, err, errlen, "--out %s: cannot write", path);
	return 0;
}

int fl_report(const struct fl_result *r, char *err, size_t errlen)
{
	cJSON *root = cJSON_CreateObject(), *missed = cJSON_CreateArray();
	char *text = NULL;
	int ret;
	if (!root || !missed || build(root, r, missed)) {
		cJSON_Delete(missed); /* build attaches it only when it succeeds */
		ret = cf_fail(-ENOMEM, err, errlen, "out of memory");
		goto out;
	}
	if (!(text = cJSON_Print(root))) {
		ret = cf_fail(-ENOMEM, err, errlen, "out of memory");
		goto out;
	}
	if ((r->o->out && (ret = write_text(r->o->out, text, err, errlen))) ||
	    (r->o->csv && (ret = write_csv(r, r->o->csv, err, errlen))))
		goto out;
	if (r->o->json)
		printf("%s\n", text);
	else
		summary(root, r, stdout);
	fflush(stdout);
	ret = !r->connected ? 3 : cJSON_GetArraySize(missed) ? 1 : 0;
out:
	free(text);
	cJSON_Delete(root);
	return ret;
}
