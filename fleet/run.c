/* coinfer-fleet's run (design in fleet.h): one ag_fleet per group, each run by a
 * thread of its own calling ag_fleet_run (the agents' poll threads inside it);
 * the main thread prints the progress line and turns SIGINT into ag_fleet_stop.
 *
 * Ownership: fl_run owns the groups (their configurations, fleets, policies,
 * classes, gaps) and frees them before it returns; what the report needs (the
 * measured samples, the links and the traces they point into) moves into the
 * result, freed by fl_result_free. Samples are appended under one mutex from
 * the agents' threads by the on_record callback, the array doubled outside the
 * agents' own hot path (amortised: one realloc per doubling). */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coinfer/agent-setup.h"
#include "coinfer/cli.h"
#include "coinfer/errmsg.h"
#include "coinfer/fileio.h"
#include "coinfer/policy.h"
#include "fleet.h"
#include "netns.h"

/* What the run shares with the agents' threads. */
struct shared {
	pthread_mutex_t lock;
	struct fl_sample *s;
	size_t n, cap;
	int oom;
	struct fl_hist hist;            /* measured latencies, for the progress line */
	uint64_t measured, met, warm;   /* atomics */
	uint64_t done;                  /* groups whose ag_fleet_run returned (atomic) */
};

struct group_run {
	int index, cls;
	const struct cfg_fleet_group *g;
	struct ag_config cfg;
	struct ag_fleet *f;
	struct ag_policy_ctx pol;
	struct ag_class_setup dc;
	double *gaps;
	struct fl_link *links;          /* the group's devices' (into the result's array) */
	struct fl_netns_slice slice;    /* --netns: the group's devices' namespaces */
	struct shared *sh;
	pthread_t th;
	int started, rc;
	char err[512];
};

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	interrupted = 1;
}

/* ---- shaping and records (the agents' threads) ---------------------------------------- */

/* Both directions at the trace's rate: the traces measure one direction of a
 * link (FCC: download throughput; Oboe: video segment downloads), and neither
 * says how the other differs, so the device's uplink and downlink follow the one
 * trace (docs/fleet.md, shaping). */
static double link_bps(void *ctx, int agent, int dir, double t_s)
{
	const struct group_run *gr = ctx;
	return fl_link_mbps(&gr->links[agent], t_s) * 1e6;
}

static void on_record(void *ctx, const struct ag_record *r)
{
	struct group_run *gr = ctx;
	struct shared *sh = gr->sh;
	if (r->warmup) {
		__atomic_fetch_add(&sh->warm, 1, __ATOMIC_RELAXED);
		return;
	}
	struct fl_sample s = {
		.t_s = r->t_ms / 1000, .latency_ms = r->latency_ms,
		.bw_mbps = r->link_bps > 0 ? r->link_bps / 1e6
					   : fl_link_mbps(&gr->links[r->agent], r->t_ms / 1000),
		.head_ms = r->head_ms + r->encode_ms, .uplink_ms = r->uplink_ms,
		.queue_ms = r->queue_us / 1000.0,
		.compute_ms = (r->decode_us + r->compute_us) / 1000.0,
		.downlink_ms = r->downlink_ms, .lag_ms = r->sched_lag_ms,
		.device = r->device_id, .group = gr->index,
		.app = gr->g->app, .cls = gr->cls, .exit = r->action.exit + 1,
		.partition = r->action.partition, .bits = r->action.bits,
		.met = r->deadline_met, .correct = r->label == r->true_label,
		.edge = r->where == AG_EDGE, .reason = r->reason, .error_code = r->error_code};
	fl_hist_add(&sh->hist, s.latency_ms);
	__atomic_fetch_add(&sh->measured, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&sh->met, (uint64_t)!!s.met, __ATOMIC_RELAXED);
	pthread_mutex_lock(&sh->lock);
	if (sh->n == sh->cap) {
		size_t cap = sh->cap ? 2 * sh->cap : 4096;
		struct fl_sample *p = realloc(sh->s, cap * sizeof(*p));
		if (p) {
			sh->s = p;
			sh->cap = cap;
		}
	}
	if (sh->n < sh->cap)
		sh->s[sh->n++] = s;
	else
		sh->oom = 1;
	pthread_mutex_unlock(&sh->lock);
}

static void *group_thread(void *arg)
{
	struct group_run *gr = arg;
	gr->rc = ag_fleet_run(gr->f, gr->err, sizeof(gr->err));
	__atomic_fetch_add(&gr->sh->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* ---- setting up the groups -------------------------------------------------------------- */

/* A gap file (fl_gaps_parse) read whole. */
static int load_gaps(const char *path, double **gaps, int *n, char *err, size_t errlen)
{
	char *text;
	size_t len;
	int ret = cf_read_text(path, 64u << 20, &text, &len, err, errlen);
	*gaps = NULL;
	*n = 0;
	if (!ret) {
		ret = fl_gaps_parse(text, path, gaps, n, err, errlen);
		free(text);
	}
	return ret;
}

/* The arrival process of a group into its configuration. */
static int set_arrival(struct group_run *gr, char *err, size_t errlen)
{
	struct ag_config *c = &gr->cfg;
	const struct cfg_fleet_group *g = gr->g;
	int n, ret;
	switch (g->arrival) {
	case CFG_ARRIVAL_POISSON:
		c->arrival.kind = AG_ARRIVAL_POISSON;
		c->arrival.rate_hz = g->rate_hz;
		break;
	case CFG_ARRIVAL_CLOSED:
		c->arrival.kind = AG_ARRIVAL_CLOSED;
		c->arrival.think_ms = g->think_ms;
		break;
	case CFG_ARRIVAL_GAPS:
		if ((ret = load_gaps(g->gaps, &gr->gaps, &n, err, errlen)))
			return ret;
		c->arrival.kind = AG_ARRIVAL_GAPS;
		c->arrival.gaps_ms = gr->gaps;
		c->arrival.n_gaps = n;
		break;
	}
	/* open loop: slots enough that a slow answer does not hold the schedule back */
	if (g->arrival != CFG_ARRIVAL_CLOSED)
		c->inflight = 8;
	return 0;
}

/* The policy of --policy for a group: the edge's, the class's trained one, or
 * the configuration's fixed action. */
static int set_policy(struct group_run *gr, const struct fl_opts *o, const struct cr_model *m,
		      char *err, size_t errlen)
{
	char path[4096], perr[512];
	if (o->policy == FL_POLICY_EDGE)
		gr->cfg.edge_decides = 1;
	if (o->policy != FL_POLICY_LOCAL)
		return 0;
	snprintf(path, sizeof(path), "%s/models/%s.%s.sacd.policy", o->root, m->name,
		 gr->g->device_class);
	if (ag_policy_load(path, m, gr->cfg.bw_prior_bps, &gr->pol, perr, sizeof(perr)))
		return cf_fail(-EINVAL, err, errlen, "--policy local: group %s: %s: %s",
			       gr->g->name, path, perr);
	ag_policy_attach(&gr->pol, &gr->cfg);
	return 0;
}

struct setup {
	const struct cfg_fleet *fleet;
	const struct fl_opts *o;
	const struct cr_model *m;
	struct fl_result *res;
	struct shared *sh;
	uint64_t device_base;
	int threads_left, devices_left;
	struct fl_netns *ns;            /* --netns, else NULL */
};

/* The index of a class name in the result's list, added when new. */
static int class_index(struct fl_result *res, const char *name)
{
	for (int i = 0; i < res->n_cls; i++)
		if (!strcmp(res->cls_names[i], name))
			return i;
	snprintf(res->cls_names[res->n_cls], sizeof(res->cls_names[0]), "%s", name);
	return res->n_cls++;
}

/* One group's agent configuration. */
static int group_config(struct setup *su, struct group_run *gr, char *err, size_t errlen)
{
	const struct cfg_fleet_group *g = gr->g;
	struct ag_config *c = &gr->cfg;
	char cerr[512];
	int ret;
	ag_config_defaults(c);
	c->transport = g->transport == CFG_TRANSPORT_UDP ? AG_TRANSPORT_UDP : AG_TRANSPORT_TCP;
	c->host = su->o->host;
	c->port = su->o->port;
	if (c->transport == AG_TRANSPORT_UDP && su->o->udp_port) {
		c->host = su->o->udp_host;
		c->port = su->o->udp_port;
	}
	c->agents = g->count;
	/* the threads in proportion to the devices, at least one a group */
	c->threads = su->threads_left * g->count / su->devices_left;
	c->threads = c->threads < 1 ? 1 : c->threads;
	su->threads_left -= c->threads < su->threads_left ? c->threads : su->threads_left - 1;
	su->devices_left -= g->count;
	c->requests = 0;
	c->duration_s = su->o->duration_s;
	c->warmup_s = su->o->warmup_s;
	c->deadline_ms = su->fleet->slo[g->app].deadline_ms;
	c->app = su->fleet->slo[g->app].app;
	c->seed = g->seed;
	c->device_id_base = su->device_base;
	/* the agents of a group start AG_IMAGE_STRIDE images apart: the groups go on
	 * where the one before ended, so no two devices of the fleet start alike */
	c->first_image = (int)((su->device_base - 1) * AG_IMAGE_STRIDE % 10000);
	su->device_base += (uint64_t)g->count;
	c->key_file = su->o->key_file;
	/* connections come up during the warm-up, which is not measured */
	c->connect_wait_ms = (int)(su->o->warmup_s * 1000);
	c->bw_prior_bps = 10e6;
	if (su->ns) { /* the kernel shapes: each device's sockets in its namespace */
		gr->slice = (struct fl_netns_slice){su->ns, (int)(c->device_id_base - 1)};
		c->open_socket = fl_netns_open_socket;
		c->host_of = fl_netns_host_of;
		c->net_ctx = &gr->slice;
	} else {
		c->link_bps = link_bps;
		c->link_ctx = gr;
	}
	c->on_record = on_record;
	c->record_ctx = gr;
	if ((ret = ag_class_load(su->o->root, g->device_class, su->m, &gr->dc, cerr, sizeof(cerr))))
		return cf_fail(ret, err, errlen, "group %s: class %s: %s", g->name, g->device_class,
			       cerr);
	ag_class_attach(&gr->dc, c);
	gr->cls = class_index(su->res, g->device_class);
	if ((ret = set_arrival(gr, err, errlen)))
		return ret;
	return set_policy(gr, su->o, su->m, err, errlen);
}

/* Group g's traces into res->sets[g], unless an earlier group named the same
 * path: *set is where they are. */
static int group_traces(const struct cfg_fleet *fleet, int g, struct fl_result *res,
			const struct sim_trace_set **set, char *err, size_t errlen)
{
	const struct cfg_fleet_group *gr = &fleet->groups[g];
	struct sim_trace_set *own = &res->sets[g];
	int ret;
	for (int e = 0; e < g; e++)
		if (res->sets[e].n && !strcmp(fleet->groups[e].trace, gr->trace)) {
			*set = &res->sets[e];
			return 0;
		}
	*set = own;
	if (gr->trace_set)
		return sim_trace_dir_load(gr->trace, own, err, errlen);
	if (!(own->tr = calloc(1, sizeof(*own->tr))))
		return cf_fail(-ENOMEM, err, errlen, "out of memory");
	if (!(ret = sim_trace_load(gr->trace, own->tr, err, errlen)))
		own->n = 1;
	return ret;
}

/* The traces of every group (a set loaded once however many groups name it) and
 * each device's link: trace i mod n of its group's set, from a seeded offset. */
static int load_links(const struct cfg_fleet *fleet, struct fl_result *res, char *err,
		      size_t errlen)
{
	int ng = fleet->n_groups, ret = 0, k = 0;
	res->sets = calloc((size_t)ng, sizeof(*res->sets));
	res->link_base = calloc((size_t)ng, sizeof(*res->link_base));
	res->links = calloc((size_t)fleet->devices, sizeof(*res->links));
	if (!res->sets || !res->link_base || !res->links)
		return cf_fail(-ENOMEM, err, errlen, "out of memory");
	res->n_sets = ng;
	for (int g = 0; g < ng && !ret; g++) {
		const struct cfg_fleet_group *gr = &fleet->groups[g];
		const struct sim_trace_set *set;
		if ((ret = group_traces(fleet, g, res, &set, err, errlen)))
			break;
		res->link_base[g] = k;
		for (int d = 0; d < gr->count; d++, k++) {
			const struct sim_trace *tr = &set->tr[d % set->n];
			res->links[k].tr = tr;
			res->links[k].offset_s = fl_trace_offset(gr->seed, d, tr->duration_s);
		}
	}
	return ret;
}

/* Creates every group's fleet; the first one measures this machine's per-layer
 * times, the others take them (calibrating once is enough, and quicker). */
static int create_fleets(struct setup *su, struct group_run *grs, const struct ds_dataset *ds,
			 char *err, size_t errlen)
{
	char gerr[512];
	int ret;
	for (int g = 0; g < su->fleet->n_groups; g++) {
		struct group_run *gr = &grs[g];
		gr->index = g;
		gr->g = &su->fleet->groups[g];
		gr->sh = su->sh;
		gr->links = &su->res->links[su->res->link_base[g]];
		if ((ret = group_config(su, gr, err, errlen)))
			return ret;
		if (g)
			gr->cfg.calibration = ag_fleet_measured(grs[0].f);
		if ((ret = ag_fleet_create(&gr->cfg, su->m, ds, &gr->f, gerr, sizeof(gerr))))
			return cf_fail(ret, err, errlen, "group %s: %s", gr->g->name, gerr);
		if (gr->pol.policy &&
		    (ret = ag_policy_threads(&gr->pol, ag_fleet_threads(gr->f), gerr,
					     sizeof(gerr))))
			return cf_fail(ret, err, errlen, "group %s: %s", gr->g->name, gerr);
	}
	return 0;
}

/* ---- running ------------------------------------------------------------------------ */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The progress line: every second on a terminal (rewritten in place), every 10 s
 * otherwise (a line each); nothing with --quiet. */
static void progress(const struct group_run *grs, int ng, const struct shared *sh, double t,
		     int tty)
{
	struct ag_progress p, sum = {0};
	for (int g = 0; g < ng; g++) {
		ag_fleet_progress(grs[g].f, &p);
		sum.started += p.started;
		sum.answered += p.answered;
	}
	uint64_t n = __atomic_load_n(&sh->measured, __ATOMIC_RELAXED);
	uint64_t met = __atomic_load_n(&sh->met, __ATOMIC_RELAXED);
	fprintf(stderr, "%s%6.1f s  requests %llu  answered %llu  p99 %.1f ms  "
			"SLO attainment %.2f%%%s",
		tty ? "\r" : "", t, (unsigned long long)sum.started,
		(unsigned long long)sum.answered, fl_hist_quantile(&sh->hist, 0.99),
		100 * fl_attainment(met, n), tty ? "   " : "\n");
}

/* --netns: device k's rate at t is its trace's, as link_bps gives it in process
 * (ctx: the result, whose links are all groups' devices in a row). */
static double netns_rate(void *ctx, int device, int dir, double t_s)
{
	const struct fl_result *res = ctx;
	return fl_link_mbps(&res->links[device], t_s) * 1e6;
}

/* --netns: the tbf rates at t (only those a trace step changed); a failure is
 * said once and the run goes on at the rates in force. */
static void netns_step(struct fl_netns *ns, const struct fl_result *res, double t, int *said)
{
	char err[256];
	if (ns && fl_netns_step(ns, t, netns_rate, (void *)res, err, sizeof(err)) && !(*said)++)
		fprintf(stderr, "coinfer-fleet: --netns: %s (the rates stay as they are)\n", err);
}

/* Starts the groups' threads and waits for them, printing progress, stepping
 * --netns's rates and passing SIGINT on as ag_fleet_stop. */
static int run_groups(struct group_run *grs, int ng, struct shared *sh, const struct setup *su,
		      double *elapsed, char *err, size_t errlen)
{
	const struct fl_opts *o = su->o;
	int said = 0;
	struct sigaction sa = {.sa_handler = on_sigint}, old;
	int tty = isatty(2), stopped = 0, ret = 0;
	double t0 = now_s(), next = tty ? 1 : 10, shown = 0;
	sigset_t intr, prev;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old);
	/* SIGINT for this thread only: the agents' threads (which inherit the mask)
	 * never see their waits interrupted */
	sigemptyset(&intr);
	sigaddset(&intr, SIGINT);
	pthread_sigmask(SIG_BLOCK, &intr, &prev);
	netns_step(su->ns, su->res, 0, &said);
	for (int g = 0; g < ng && !ret; g++) {
		if ((ret = -pthread_create(&grs[g].th, NULL, group_thread, &grs[g])))
			cf_fail(ret, err, errlen, "cannot start a thread: %s", strerror(-ret));
		grs[g].started = !ret;
	}
	pthread_sigmask(SIG_SETMASK, &prev, NULL);
	while (!ret && __atomic_load_n(&sh->done, __ATOMIC_ACQUIRE) < (uint64_t)ng) {
		struct timespec nap = {0, 50 * 1000 * 1000};
		nanosleep(&nap, NULL);
		double t = now_s() - t0;
		netns_step(su->ns, su->res, t, &said);
		if (interrupted && !stopped) {
			for (int g = 0; g < ng; g++)
				ag_fleet_stop(grs[g].f);
			stopped = 1;
		}
		if (!o->quiet && t >= next) {
			progress(grs, ng, sh, t, tty);
			next += tty ? 1 : 10;
			shown = t;
		}
	}
	for (int g = 0; g < ng; g++)
		if (grs[g].started)
			pthread_join(grs[g].th, NULL);
	*elapsed = now_s() - t0;
	/* the final count, unless a line just said it */
	if (!o->quiet && !ret && (tty || *elapsed - shown > 0.5)) {
		progress(grs, ng, sh, *elapsed, tty);
		if (tty)
			fputc('\n', stderr);
	}
	sigaction(SIGINT, &old, NULL);
	return ret;
}

/* What the fleets' summaries add to the samples: requests started after the
 * warm-up, whether any agent reached the edge; and the measured requests' lag
 * behind their schedule (the summaries' count the warm-up's too). */
static void collect(struct group_run *grs, int ng, struct shared *sh, struct fl_result *res)
{
	uint64_t all = 0;
	for (int g = 0; g < ng; g++) {
		struct ag_summary s;
		ag_fleet_summary(grs[g].f, &s);
		all += s.requests;
		res->connected |= s.connects > 0;
	}
	for (size_t i = 0; i < sh->n; i++) {
		double lag = sh->s[i].lag_ms;
		res->late_starts += lag > FL_LATE_START_MS;
		res->max_lag_ms = lag > res->max_lag_ms ? lag : res->max_lag_ms;
	}
	res->requests = all - sh->warm;
	res->samples = sh->s;
	res->n_samples = sh->n;
	sh->s = NULL;
}

/* --netns: a namespace per device of the fleet, behind its veth pair. */
static int netns_create(const struct cfg_fleet *fleet, struct fl_netns **ns, char *err,
			size_t errlen)
{
	struct fl_netns_config c;
	char why[400];
	int ret;
	fl_netns_config_defaults(&c);
	c.n_devices = fleet->devices;
	if ((ret = fl_netns_create(&c, ns, why, sizeof(why))))
		return cf_fail(ret, err, errlen, "--netns: %s", why);
	return 0;
}

static void started_now(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int fl_run(const struct cfg_fleet *fleet, const struct fl_opts *o, struct fl_result *res,
	   char *err, size_t errlen)
{
	struct shared sh = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct setup su = {.fleet = fleet, .o = o, .res = res, .sh = &sh, .device_base = 1,
			   .threads_left = o->threads, .devices_left = fleet->devices};
	struct group_run *grs = calloc((size_t)fleet->n_groups, sizeof(*grs));
	struct cr_model *m = NULL;
	struct ds_dataset ds = {0};
	const char *data = o->data;
	double elapsed = 0;
	int ret;
	memset(res, 0, sizeof(*res));
	res->fleet = fleet;
	res->o = o;
	if (!grs) {
		ret = cf_fail(-ENOMEM, err, errlen, "out of memory");
		goto out;
	}
	if ((ret = cli_model_load(o->model, &m, err, errlen)) ||
	    (ret = cli_data_dir(&data, err, errlen)) ||
	    (ret = ds_cifar10_load(data, "test_batch.bin", &ds, err, errlen)))
		goto out;
	su.m = m;
	if ((ret = load_links(fleet, res, err, errlen)) ||
	    (o->netns && (ret = netns_create(fleet, &su.ns, err, errlen))) ||
	    (ret = create_fleets(&su, grs, &ds, err, errlen)))
		goto out;
	started_now(res->started, sizeof(res->started));
	if ((ret = run_groups(grs, fleet->n_groups, &sh, &su, &elapsed, err, errlen)))
		goto out;
	for (int g = 0; g < fleet->n_groups; g++)
		if (grs[g].rc)
			fprintf(stderr, "coinfer-fleet: group %s: %s\n", grs[g].g->name,
				grs[g].err);
	if (sh.oom)
		fprintf(stderr, "coinfer-fleet: out of memory: some requests are not in the "
				"report\n");
	collect(grs, fleet->n_groups, &sh, res);
	res->interrupted = interrupted;
	res->measured_s = (elapsed < o->duration_s ? elapsed : o->duration_s) - o->warmup_s;
out:
	for (int g = 0; grs && g < fleet->n_groups; g++) {
		/* the others took the first's calibration: it goes last */
		struct group_run *gr = &grs[fleet->n_groups - 1 - g];
		ag_fleet_destroy(gr->f);
		ag_policy_free(&gr->pol);
		ag_class_free(&gr->dc);
		free(gr->gaps);
	}
	free(grs);
	fl_netns_free(su.ns); /* after the fleets: their sockets were in the namespaces */
	free(sh.s);
	ds_dataset_free(&ds);
	cr_model_free(m);
	return ret;
}

void fl_result_free(struct fl_result *res)
{
	for (int g = 0; g < res->n_sets; g++)
		sim_trace_set_free(&res->sets[g]);
	free(res->sets);
	free(res->links);
	free(res->link_base);
	free(res->samples);
	memset(res, 0, sizeof(*res));
}
