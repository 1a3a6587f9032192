/* The appliance under hostile peers, as a separate process on loopback:
 * coinfer-appliance (2 workers, idle timeout 2 s) while 64 good agents send
 * CIFAR-10 requests (the agent library in this process, --verify on) and
 * hostile-peers.h holds 512 idle connections and churns through garbage,
 * truncated and lying messages, 4 GB length prefixes, one-byte-a-second
 * senders, resets, peers that never read, and HELLO floods.
 *
 * usage: test-hostile APPLIANCE [--seconds N] [--soak] [--minutes N]
 *
 * Test (default; about a minute, the length the standards ask of CI): a
 * warm-up round (64 agents x 4 requests), then main rounds (64 x 16 each, a
 * new fleet of new device ids every round: devices leave and others connect)
 * until --seconds (50) have passed, all under the whole mix. It passes
 * only if
 *   - every good request is answered correctly: by the edge with the class
 *     the local runtime gives for the frame sent, or by the device's fallback
 *     (the runtime's class) where the edge refused it (busy, deadline); none
 *     lost, none timed out;
 *   - after the clients leave the appliance goes idle (its CPU time, not the
 *     wall clock: one of six 500 ms windows grows by at most 3 ticks), its open
 *     fds equal the start-up count, jemalloc's allocated bytes are within
 *     JE_SLACK of the warm-up's end and JE_FIRST_LOAD of start-up, its RSS
 *     within RSS_SLACK of the warm-up's end;
 *   - SIGTERM stops it within 2 s, exit status 0.
 * A hang guard (no answer for STALL_S while requests are out, or the whole
 * run past --seconds + BUDGET_EXTRA_S) reports the appliance's per-thread CPU, tries SIGTERM,
 * kills it and fails.
 *
 * Soak (--soak, scripts/soak.sh; not a registered test): rounds of the same
 * mix for --minutes (10), a new fleet each round (devices connect, leave,
 * reconnect), and one appliance restart on the same port halfway (SIGTERM;
 * the agents ride through by falling back on the device). A line per round
 * (sent, edge, fallback, lost) and per sample (RSS, fds, jemalloc bytes);
 * exit 1 when a request is lost or answered wrongly, or the end checks fail.
 *
 * Exit status: 0 pass, 1 fail, 77 without CIFAR-10 (meson's skip). */
#include <math.h>
#include <stdarg.h>

#include "coinfer/cli.h"
#include "coinfer/agent.h"
#include "coinfer/dataset.h"
#include "coinfer/exec.h"
#include "hostile-peers.h"

#define AGENTS 64
#define IDLE_CONNS 512
#define STALL_S 10.0
/* The hang guard's bound on the test's whole run: the main rounds' seconds
 * plus this for the warm-up, the settling and the end checks. */
#define BUDGET_EXTRA_S 60.0
/* The appliance allocates its buffers at start and nothing per connection or
 * request; the first load adds a little once (about 170 KiB: scratch sized by
 * the first batches, thread caches; sometimes given back later). So jemalloc's
 * allocated bytes after the main round may exceed the warm-up's end by at most
 * JE_SLACK (the scrape in flight, allocator bookkeeping) and start-up by at
 * most JE_FIRST_LOAD, where a
 * leak of a few bytes per connection over the ~30,000 connections of the main
 * round would already break the first. */
#define JE_SLACK (64.0 * 1024)
#define JE_FIRST_LOAD (1024.0 * 1024)
/* RSS is compared with the end of the warm-up round, not with start-up: the
 * first load touches pages of buffers allocated at start (receive rings,
 * reassembly and frame pools), which is not a leak. After that the same mix
 * touches the same buffers; 8 MiB absorbs allocator and page-cache settling,
 * while a leak the main round would show is its ~100,000 connections times
 * any per-connection residue. */
#define RSS_SLACK (8.0 * 1024 * 1024)

struct totals {
	uint64_t sent, edge, refused, other, lost, wrong;
};

struct run {
	const char *exe;
	int soak;
	double minutes, t0;
	double seconds, budget_s; /* the test's main rounds; the hang guard's bound */
	struct cr_model *m;
	struct ds_dataset ds;
	struct cr_exec *local;
	pthread_mutex_t lock; /* app, across a restart */
	struct hp_app app;
	int port, failed;
	struct hx_mix mix;
	struct totals tot;
	_Atomic int fleet_running, restarting, restart_req, dog_quiet, dog_stop;
	uint64_t reasons[AG_FB_COUNT];
	pthread_t dog;
};

static void say(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct run *r, const char *fmt, ...)
{
	va_list ap;
	printf("[%6.1f s] ", cf_now_s() - r->t0);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void fail(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct run *r, const char *fmt, ...)
{
	va_list ap;
	printf("[%6.1f s] FAIL: ", cf_now_s() - r->t0);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	r->failed = 1;
}

/* ---- the hang guard and the samples ----------------------------------------- */

/* The appliance stopped answering (or the run overran): what its threads are
 * doing, whether SIGTERM still works, then out. The agents are mid-run, so
 * this exits the process rather than unwinding them. */
static void give_up(struct run *r, const char *why, double cpu_rate)
{
	char threads[1024];
	pid_t pid = r->app.pid;
	int status;
	double took;
	hp_thread_cpu(pid, threads, sizeof(threads));
	fail(r, "%s; the appliance used %.0f %% of a core over the last seconds; per thread "
		"(name/tid:ticks of 1/%ld s:state:wchan): %s", why, cpu_rate * 100, sysconf(_SC_CLK_TCK), threads);
	int ret = hp_app_stop(&r->app, 2000, &status, &took);
	say(r, "SIGTERM: %s after %.0f ms", ret ? "still running (killed)" : "exited", took);
	hx_stop(&r->mix);
	_exit(1);
}

struct dog_state {
	double last_t, last_answers, change_t, last_line;
	long long last_ticks;
	pid_t pid; /* whose ticks: a restart starts the count over */
};

static void dog_turn(struct run *r, struct dog_state *d)
{
	struct hp_gauges g;
	double now = cf_now_s();
	pthread_mutex_lock(&r->lock);
	int ok = !atomic_load(&r->restarting) && !hp_gauges(r->app.metrics_port, &g);
	long long ticks = ok ? hp_app_ticks(r->app.pid) : -1;
	pthread_mutex_unlock(&r->lock);
	if (ok && r->app.pid != d->pid)
		d->pid = r->app.pid, d->last_ticks = -1;
	if (!ok || ticks < 0) {
		d->change_t = now; /* a restart is not a stall */
		d->last_ticks = -1;
		return;
	}
	double rate = d->last_ticks >= 0 ? (double)(ticks - d->last_ticks) / sysconf(_SC_CLK_TCK) /
						   (now - d->last_t)
					 : 0;
	double answers = g.results + g.errors;
	if (answers != d->last_answers || !atomic_load(&r->fleet_running))
		d->change_t = now;
	d->last_answers = answers, d->last_t = now, d->last_ticks = ticks;
	if (now - d->last_line >= (r->soak ? 10 : 5)) {
		say(r, "sample rss_mib=%.1f fds=%.0f jemalloc_mib=%.2f connected=%.0f results=%.0f "
		       "errors=%.0f accepted=%.0f cpu=%.0f%%", g.rss / 1048576, g.fds, g.je / 1048576,
		    g.connected, g.results, g.errors, g.accepted, rate * 100);
		d->last_line = now;
	}
	if (now - d->change_t > STALL_S) {
		char why[160];
		snprintf(why, sizeof(why), "no answer from the appliance for %.0f s with requests out "
			 "(%.0f answered before)", STALL_S, answers);
		give_up(r, why, rate);
	}
	if (!r->soak && now - r->t0 > r->budget_s)
		give_up(r, "the run overran its budget", rate);
}

/* The appliance restart (soak), run by the hang guard's thread: a child dies
 * with the thread that forked it (PR_SET_PDEATHSIG), so it must be one that
 * lives as long as the appliance. */
static void restart(struct run *r)
{
	int status;
	double took;
	pthread_mutex_lock(&r->lock);
	atomic_store(&r->restarting, 1);
	int ret = hp_app_stop(&r->app, 2000, &status, &took);
	if (ret || !WIFEXITED(status) || WEXITSTATUS(status))
		fail(r, "restart: SIGTERM did not stop the appliance cleanly within 2 s (%.0f ms, "
			"exit status %d)", took, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	else
		say(r, "restart: SIGTERM stopped it in %.0f ms", took);
	hp_sleep_ms(500); /* the agents meanwhile: refused, down, on the device */
	if ((ret = hp_app_start(&r->app, r->exe, r->port, 2000)))
		fail(r, "restart on port %d: %s", r->port, strerror(-ret));
	else
		say(r, "restart: listening again on port %d", r->app.port);
	atomic_store(&r->restarting, 0);
	pthread_mutex_unlock(&r->lock);
}

static void *dog_main(void *arg)
{
	struct run *r = arg;
	struct dog_state d = {.last_t = cf_now_s(), .change_t = cf_now_s(), .last_ticks = -1};
	double asked = 0;
	/* bounded by the soak's minutes (and a day) */
	for (int i = 0; i < 2 * 86400 && !atomic_load(&r->dog_stop); i++) {
		if (atomic_load(&r->restart_req) && !asked)
			asked = cf_now_s();
		/* a second into the round: the agents are mid-flight */
		if (asked && cf_now_s() - asked >= 1) {
			restart(r);
			asked = 0;
			atomic_store(&r->restart_req, 0);
		}
		if (!atomic_load(&r->dog_quiet))
			dog_turn(r, &d);
		hp_sleep_ms(500);
	}
	return NULL;
}

/* ---- the good agents ----------------------------------------------------------- */

/* The runtime's class for image i run whole to exit e here. */
static int local_label(struct run *r, int i, int e)
{
	static float in[3 * 32 * 32];
	const float *o;
	size_t per = (size_t)r->ds.c * r->ds.h * r->ds.w;
	if (per > sizeof(in) / sizeof(in[0]))
		return -1;
	cr_model_normalize(r->m, r->ds.images + (size_t)i * per, in, 1);
	if (cr_exec_run(r->local, e, 0, r->m->exit_len[e], in, 1, &o))
		return -1;
	int best = 0;
	for (int k = 1; k < r->m->n_classes; k++)
		best = o[k] > o[best] ? k : best;
	return best;
}

/* Edge answers: the class the runtime gives for the frame sent (--verify).
 * Device answers: the runtime's class at the exit chosen; a refusal (busy,
 * deadline, the edge's in-flight limit) is fine anywhere, another reason only
 * where the appliance was restarted on purpose (soak). */
static void tally(struct run *r, const struct ag_record *rec, size_t n, struct totals *t)
{
	for (size_t i = 0; i < n; i++) {
		const struct ag_record *x = &rec[i];
		int want = x->where == AG_EDGE ? x->verify_label : local_label(r, x->image, x->exit);
		if (x->where != AG_EDGE && x->reason < AG_FB_COUNT)
			r->reasons[x->reason]++;
		if (x->where == AG_EDGE)
			t->edge++;
		else if (x->reason == AG_FB_BUSY || x->reason == AG_FB_DEADLINE ||
			 x->reason == AG_FB_LIMIT)
			t->refused++;
		else
			t->other++;
		if (x->label != want || want < 0) {
			if (t->wrong++ < 5)
				fail(r, "agent %d request %llu image %d: class %d by the %s, runtime %d",
				     x->agent, (unsigned long long)x->id, x->image, x->label,
				     x->where == AG_EDGE ? "edge" : "device", want);
		}
		if (x->where != AG_EDGE && !r->soak &&
		    !(x->reason == AG_FB_BUSY || x->reason == AG_FB_DEADLINE || x->reason == AG_FB_LIMIT) &&
		    t->other <= 5)
			fail(r, "agent %d request %llu fell back for %s, not a refusal by the edge",
			     x->agent, (unsigned long long)x->id, ag_reason_name(x->reason));
	}
}

static void fleet_config(struct run *r, int round, int requests, struct ag_config *c)
{
	ag_config_defaults(c);
	c->host = "127.0.0.1";
	c->port = r->port;
	c->agents = AGENTS;
	c->threads = 2;
	c->requests = requests;
	c->first_image = round * AGENTS * requests % r->ds.n;
	/* generous: a refusal comes back at once, only a silent edge times out */
	c->deadline_ms = 5000;
	c->interval_ms = r->soak ? 20 : 0;
	c->action = (struct cf_action){.exit = 0, .partition = 3, .bits = 8};
	c->codec = CC_CODEC_HUFFMAN_ZRUN;
	c->verify = 1;
	c->calib_runs = 1;
	c->connect_timeout_ms = 5000;
	c->connect_wait_ms = 20000;
	c->ping_ms = 0;
	c->backoff_base_us = 20000;
	c->backoff_cap_us = 500000;
	c->device_id_base = (uint64_t)round * 1000 + 1;
	c->seed = (uint64_t)round + 1;
}

/* ---- a round: the mix, and a fleet under it --------------------------------------- */

static int round_run(struct run *r, int round, int requests, int restart)
{
	struct ag_config c;
	struct ag_fleet *f = NULL;
	struct totals t = {0};
	char err[256];
	size_t n;
	int ret;
	double t0 = cf_now_s();

	fleet_config(r, round, requests, &c);
	if ((ret = ag_fleet_create(&c, r->m, &r->ds, &f, err, sizeof(err)))) {
		fail(r, "fleet: %s", err);
		return ret;
	}
	if ((ret = hx_start(&r->mix, r->port, IDLE_CONNS, r->soak ? 600 : r->budget_s))) {
		fail(r, "hostile threads: %s", strerror(-ret));
		goto out;
	}
	atomic_store(&r->fleet_running, 1);
	atomic_store(&r->restart_req, restart);
	ret = ag_fleet_run(f, err, sizeof(err));
	atomic_store(&r->fleet_running, 0);
	/* a restart asked for happens, fleet done or not (bounded wait) */
	for (int i = 0; i < 1200 && atomic_load(&r->restart_req); i++)
		hp_sleep_ms(50);
	hx_stop(&r->mix);
	if (ret) {
		fail(r, "fleet run: %s", err);
		goto out;
	}
	const struct ag_record *rec = ag_fleet_records(f, &n);
	t.sent = (uint64_t)AGENTS * (uint64_t)requests;
	t.lost = t.sent > n ? t.sent - n : 0;
	tally(r, rec, n, &t);
	r->tot.sent += t.sent, r->tot.edge += t.edge, r->tot.refused += t.refused;
	r->tot.other += t.other, r->tot.lost += t.lost, r->tot.wrong += t.wrong;
	say(r, "round %d: sent=%llu edge=%llu fallback=%llu (refused %llu, other %llu) lost=%llu "
	       "wrong=%llu in %.1f s; totals sent=%llu edge=%llu fallback=%llu lost=%llu", round,
	    (unsigned long long)t.sent, (unsigned long long)t.edge,
	    (unsigned long long)(t.refused + t.other), (unsigned long long)t.refused,
	    (unsigned long long)t.other, (unsigned long long)t.lost, (unsigned long long)t.wrong,
	    cf_now_s() - t0, (unsigned long long)r->tot.sent, (unsigned long long)r->tot.edge,
	    (unsigned long long)(r->tot.refused + r->tot.other), (unsigned long long)r->tot.lost);
	if (t.lost)
		fail(r, "round %d: %llu requests lost", round, (unsigned long long)t.lost);
	ret = t.lost || t.wrong || (!r->soak && t.other) ? -EPROTO : 0;
out:
	ag_fleet_destroy(f);
	return ret;
}

/* ---- after the clients leave ---------------------------------------------------------- */

/* Waits (bounded) until no device is connected and, when want_fds >= 0, the
 * fds are back to that count: the appliance closes what the peers left. */
static int settle(struct run *r, double want_fds, struct hp_gauges *g)
{
	int ret = -ETIMEDOUT;
	for (int i = 0; i < 200; i++) {
		if (!hp_gauges(r->app.metrics_port, g) && g->connected == 0 &&
		    (want_fds < 0 || g->fds == want_fds)) {
			ret = 0;
			break;
		}
		hp_sleep_ms(100);
	}
	say(r, "settled%s: rss_mib=%.1f fds=%.0f jemalloc_bytes=%.0f connected=%.0f",
	    ret ? " (not quite)" : "", g->rss / 1048576, g->fds, g->je, g->connected);
	return ret;
}

/* Idle: CPU time (not wall time) that stops growing. A window of 500 ms in
 * which it grows by 3 ticks or less (30 ms at 100 Hz; the idle loops wake 20
 * times a second and do next to nothing); a spinning worker, even given a
 * fraction of a loaded core, takes far more in every window. */
static int idle_check(struct run *r)
{
	long long best = -1;
	for (int i = 0; i < 6; i++) {
		long long a = hp_app_ticks(r->app.pid);
		hp_sleep_ms(500);
		long long d = hp_app_ticks(r->app.pid) - a;
		if (best < 0 || d < best)
			best = d;
		if (a >= 0 && d <= 3)
			break;
	}
	say(r, "idle: CPU time grew by %lld ticks in the quietest 500 ms window", best);
	return best >= 0 && best <= 3 ? 0 : -EBUSY;
}

static void end_checks(struct run *r, const struct hp_gauges *start, const struct hp_gauges *warm)
{
	struct hp_gauges g;
	char threads[1024];
	settle(r, start->fds, &g);
	if (idle_check(r)) {
		hp_thread_cpu(r->app.pid, threads, sizeof(threads));
		fail(r, "the appliance does not go idle; per-thread ticks: %s", threads);
	}
	if (g.fds != start->fds)
		fail(r, "open fds %.0f, %.0f at start-up", g.fds, start->fds);
	/* one-sided: the first load's extra may be given back, which is no leak */
	if (g.je > warm->je + JE_SLACK || g.je > start->je + JE_FIRST_LOAD)
		fail(r, "jemalloc allocated %.0f bytes, %.0f after the warm-up (slack %.0f), %.0f at "
			"start-up (slack %.0f)", g.je, warm->je, JE_SLACK, start->je, JE_FIRST_LOAD);
	if (g.rss > warm->rss + RSS_SLACK)
		fail(r, "RSS %.1f MiB, %.1f MiB after the warm-up (slack %.0f MiB)", g.rss / 1048576,
		     warm->rss / 1048576, RSS_SLACK / 1048576);
	say(r, "end: fds %.0f (start-up %.0f), jemalloc %+.0f bytes from the warm-up (%+.0f from "
	       "start-up), RSS %+.1f MiB from the warm-up", g.fds, start->fds, g.je - warm->je,
	    g.je - start->je, (g.rss - warm->rss) / 1048576);
}

/* SIGTERM: gone within 2 s (its stop drains for at most 200 ms), status 0. */
static void stop_check(struct run *r)
{
	int status;
	double took;
	int ret = hp_app_stop(&r->app, 2000, &status, &took);
	if (ret)
		fail(r, "SIGTERM did not stop the appliance within 2 s (killed)");
	else if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail(r, "the appliance exited with status %d", status);
	else
		say(r, "SIGTERM: exited 0 in %.0f ms; %s", took, r->app.line);
}

/* ---- main -------------------------------------------------------------------------------- */

static int load(struct run *r)
{
	char err[256];
	const char *path = cli_default_model_path(), *dir = cli_cifar10_default_dir();
	if (!path || cr_model_load(path, &r->m, err, sizeof(err))) {
		fprintf(stderr, "test-hostile: no model: %s\n", path ? err : "none found");
		return 1;
	}
	if (!dir || ds_cifar10_load(dir, "test_batch.bin", &r->ds, err, sizeof(err))) {
		printf("CIFAR-10 not found: skipping\n");
		return 77;
	}
	if (cr_exec_create(r->m, NULL, 1, &r->local) || hx_messages(&r->mix, r->m)) {
		fprintf(stderr, "test-hostile: cannot set up the local runtime or messages\n");
		return 1;
	}
	return 0;
}

static int args(struct run *r, int argc, char **argv)
{
	r->minutes = 10;
	r->seconds = 50;
	if (argc < 2 || !strcmp(argv[1], "--help")) {
		fprintf(stderr, "usage: test-hostile APPLIANCE [--seconds N] [--soak] [--minutes N]\n");
		return 2;
	}
	r->exe = argv[1];
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--soak"))
			r->soak = 1;
		else if (!strcmp(argv[i], "--minutes") && i + 1 < argc)
			r->minutes = atof(argv[++i]);
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			r->seconds = atof(argv[++i]);
		else
			return fprintf(stderr, "test-hostile: unknown argument %s\n", argv[i]), 2;
	}
	r->budget_s = r->seconds + BUDGET_EXTRA_S;
	return r->minutes > 0 && r->seconds >= 0 ? 0 : 2;
}

/* Rounds until the minutes are up, the appliance restarted in the first round
 * past half time. The end checks compare with the (re)started appliance at
 * rest (base) and after its first round (warm). */
static void soak(struct run *r, const struct hp_gauges *start)
{
	struct hp_gauges base = *start, warm = {0};
	double end = r->t0 + r->minutes * 60;
	int restarted = 0, need_warm = 1;
	for (int round = 1; round < 100000 && cf_now_s() < end; round++) {
		int restart = !restarted && cf_now_s() > r->t0 + r->minutes * 30;
		round_run(r, round, 20, restart);
		if (restart) {
			restarted = 1, need_warm = 1;
			settle(r, -1, &base);
		} else if (need_warm) {
			need_warm = settle(r, base.fds, &warm) != 0;
		}
	}
	if (need_warm)
		settle(r, base.fds, &warm);
	atomic_store(&r->dog_quiet, 1);
	end_checks(r, &base, &warm);
}

static void test(struct run *r, const struct hp_gauges *start)
{
	struct hp_gauges warm;
	round_run(r, 1, 4, 0);
	settle(r, start->fds, &warm);
	double end = cf_now_s() + r->seconds;
	int round = 2;
	do
		round_run(r, round++, 16, 0);
	while (cf_now_s() < end && !r->failed);
	atomic_store(&r->dog_quiet, 1);
	end_checks(r, start, &warm);
}

int main(int argc, char **argv)
{
	static struct run r;
	struct hp_gauges start;
	int ret;
	if ((ret = args(&r, argc, argv)) || (ret = load(&r)))
		return ret;
	r.t0 = cf_now_s();
	pthread_mutex_init(&r.lock, NULL);
	if ((ret = hp_app_start(&r.app, r.exe, 0, 2000))) {
		fprintf(stderr, "test-hostile: %s did not start: %s\n", r.exe, strerror(-ret));
		return 1;
	}
	r.port = r.app.port;
	say(&r, "appliance pid %d on 127.0.0.1:%d, metrics on port %d", (int)r.app.pid, r.port,
	    r.app.metrics_port);
	if (settle(&r, -1, &start)) {
		fail(&r, "no metrics from the appliance");
		hp_app_stop(&r.app, 2000, &ret, &(double){0});
		return 1;
	}
	pthread_create(&r.dog, NULL, dog_main, &r);
	if (r.soak)
		soak(&r, &start);
	else
		test(&r, &start);
	stop_check(&r);
	atomic_store(&r.dog_stop, 1);
	pthread_join(r.dog, NULL);
	printf("fallback reasons:");
	for (int k = 1; k < AG_FB_COUNT; k++)
		if (r.reasons[k])
			printf(" %s %llu", ag_reason_name((enum ag_reason)k),
			       (unsigned long long)r.reasons[k]);
	printf("\n");
	printf("%s: sent %llu, by the edge %llu, by fallback %llu (refused %llu, other %llu), "
	       "lost %llu, wrong %llu; hostile connections:", r.failed ? "FAIL" : "PASS",
	       (unsigned long long)r.tot.sent, (unsigned long long)r.tot.edge,
	       (unsigned long long)(r.tot.refused + r.tot.other), (unsigned long long)r.tot.refused,
	       (unsigned long long)r.tot.other, (unsigned long long)r.tot.lost,
	       (unsigned long long)r.tot.wrong);
	for (int k = 0; k < HX_KINDS; k++)
		printf(" %s %llu", hx_names[k], (unsigned long long)atomic_load(&r.mix.conns[k]));
	printf(", refused %llu\n", (unsigned long long)atomic_load(&r.mix.refused));
	return r.failed || r.tot.lost || r.tot.wrong ? 1 : 0;
}
