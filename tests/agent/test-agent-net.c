/* The agent's request path over loopback: against the scripted edge of peer.h
 * (answers computed with the real runtime, refusals, silence, garbage, closes, a
 * kill mid-run) and, when the build has it, against coinfer-appliance. */
#include <criterion/criterion.h>
#include <signal.h>
#include <sys/wait.h>

#include "common.h"
#include "peer.h"

#ifndef AG_BUILD_ROOT
#define AG_BUILD_ROOT "."
#endif

static void expect_all_answered(const struct tc_run *r, int n)
{
	cr_expect_eq(r->n, (size_t)n, "answered %zu of %d", r->n, n);
	cr_expect_eq(r->s.answered, (uint64_t)n);
	/* exactly one answer per (agent, id) */
	for (size_t i = 0; i < r->n; i++)
		for (size_t j = i + 1; j < r->n; j++)
			cr_expect(r->r[i].agent != r->r[j].agent || r->r[i].id != r->r[j].id,
				  "agent %d request %llu answered twice", r->r[i].agent,
				  (unsigned long long)r->r[i].id);
}

/* Every device answer is the runtime's label at the exit it chose, from the input. */
static void expect_device_labels(const struct tc_run *r)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct ag_record *x = &r->r[i];
		if (x->where != AG_DEVICE)
			continue;
		int want = tc_local_label(x->image, x->exit, tc_model->exit_len[x->exit], CC_CODEC_RAW32, 0);
		cr_expect_eq(x->label, want, "image %d exit %d: %d, runtime %d", x->image, x->exit + 1,
			     x->label, want);
	}
}

static struct peer P;

static void start_peer(peer_script s)
{
	cr_assert_eq(tc_load(), 0);
	cr_assert_eq(peer_start(&P, tc_model, s, NULL), 0);
	cr_assert_eq(peer_run(&P), 0);
}

static void stop_peer(void)
{
	peer_stop(&P);
	peer_free(&P);
}

Test(net, edge_answers_match_the_runtime)
{
	start_peer(NULL);
	struct {
		int e, p, bits;
		enum cc_codec codec;
	} acts[] = {{2, 8, 8, CC_CODEC_HUFFMAN}, {0, 0, 4, CC_CODEC_HUFFMAN_ZRUN},
		    {1, 12, 12, CC_CODEC_PACKED}, {2, 17, 0, CC_CODEC_RAW16}, {2, 3, 0, CC_CODEC_RAW32}};
	for (size_t k = 0; k < sizeof(acts) / sizeof(acts[0]); k++) {
		struct ag_config c;
		tc_config(&c, P.port);
		c.agents = 2;
		c.requests = 4;
		c.first_image = (int)k * 8;
		/* every answer from the edge is the point: a deadline only a hung
		 * peer misses, not a slow (sanitized, loaded) one */
		c.deadline_ms = 10000;
		c.action = (struct cf_action){.exit = acts[k].e, .partition = acts[k].p,
					      .bits = acts[k].bits};
		c.codec = acts[k].codec;
		c.verify = 1;
		struct tc_run r;
		cr_assert_eq(tc_run(&c, &r), 0, "%s", r.err);
		expect_all_answered(&r, 8);
		cr_expect_eq(r.s.edge, 8, "action %zu: %llu edge answers", k, (unsigned long long)r.s.edge);
		for (size_t i = 0; i < r.n; i++) {
			const struct ag_record *x = &r.r[i];
			int want = tc_local_label(x->image, acts[k].e, acts[k].p, acts[k].codec, acts[k].bits);
			cr_expect_eq(x->label, want, "image %d: edge %d, runtime %d", x->image, x->label, want);
			cr_expect_eq(x->verify_label, x->label);
			cr_expect_eq(x->exit, acts[k].e);
			cr_expect_gt(x->bytes, CW_INFER_PREFIX_BYTES);
			cr_expect_eq(x->batch, 1);
		}
		cr_expect_eq(r.s.verify_mismatches, 0);
		cr_expect_eq(r.s.connects, 2);
		tc_done(&r);
	}
	stop_peer();
}

static enum peer_act all_busy(struct peer *p, uint64_t k)
{
	(void)p;
	return k % 2 ? PEER_BUSY : PEER_DEADLINE;
}

Test(net, busy_and_deadline_fall_back_reusing_the_head)
{
	start_peer(all_busy);
	struct ag_config c;
	tc_config(&c, P.port);
	c.requests = 6;
	/* the deepest exit fits, and the deadline is met, unless the fallback of
	 * one image takes seconds: a defect, not a loaded host */
	c.deadline_ms = 10000;
	c.action = (struct cf_action){.exit = 2, .partition = 12, .bits = 8};
	c.codec = CC_CODEC_HUFFMAN;
	struct tc_run r;
	cr_assert_eq(tc_run(&c, &r), 0, "%s", r.err);
	expect_all_answered(&r, 6);
	cr_expect_eq(r.s.device, 6);
	cr_expect_eq(r.s.fallbacks[AG_FB_BUSY], 3);
	cr_expect_eq(r.s.fallbacks[AG_FB_DEADLINE], 3);
	for (size_t i = 0; i < r.n; i++) {
		cr_expect_eq(r.r[i].exit, 2); /* 10 s: the deepest fits */
		cr_expect_eq(r.r[i].from, 12); /* resumed where the head stopped */
		cr_expect(r.r[i].error_code == CW_ERR_BUSY || r.r[i].error_code == CW_ERR_DEADLINE);
		cr_expect(r.r[i].deadline_met);
	}
	expect_device_labels(&r);
	cr_expect_eq(r.s.connects, 1);
	tc_done(&r);
	stop_peer();
}

static enum peer_act silent(struct peer *p, uint64_t k)
{
	(void)p, (void)k;
	return PEER_SILENT;
}

/* A clock for runs against a silent edge: the agent's time moves only when its
 * loop waits and nothing arrives, and then by exactly the wait it asked for;
 * each reading adds 1 us. The sockets are really polled (for up to the wait
 * asked, 1 s at most), so the connection and WELCOME happen as they do, but no
 * stall of this host shows in the agent's timers or latencies: a reply timeout
 * fires at its due time to the nanosecond. */
struct quiet_clock {
	uint64_t t;
};

static uint64_t quiet_now(void *ctx)
{
	struct quiet_clock *k = ctx;
	return k->t += 1000;
}

static int quiet_wait(void *ctx, struct pollfd *fds, nfds_t n, uint64_t timeout_ns)
{
	struct quiet_clock *k = ctx;
	uint64_t real = timeout_ns < 1000000000ull ? timeout_ns : 1000000000ull;
	struct timespec ts = {.tv_sec = (time_t)(real / 1000000000ull),
			      .tv_nsec = (long)(real % 1000000000ull)};
	int r = ppoll(fds, n, &ts, NULL);
	if (r == 0)
		k->t += timeout_ns;
	return r;
}

Test(net, silence_times_out_within_the_deadline)
{
	start_peer(silent);
	struct ag_config c;
	tc_config(&c, P.port);
	c.requests = 4;
	c.deadline_ms = 400;
	c.margin_ms = 200;
	c.breaker.threshold = 0; /* the timeout itself, every time */
	c.action = (struct cf_action){.exit = 2, .partition = 4, .bits = 8};
	c.codec = CC_CODEC_HUFFMAN;
	struct quiet_clock k = {.t = 1000000000ull};
	c.clock = (struct ag_clock){.now_ns = quiet_now, .wait = quiet_wait, .ctx = &k};
	struct tc_run r;
	cr_assert_eq(tc_run(&c, &r), 0, "%s", r.err);
	expect_all_answered(&r, 4);
	cr_expect_eq(r.s.fallbacks[AG_FB_TIMEOUT], 4);
	/* on this clock the reply timeout fires at start + deadline - reserve, the
	 * reserve at most 1.1 x the quickest fallback + margin + a quarter of the
	 * deadline (timer lateness, none here): no latency is below that, and the
	 * local answer after it meets the deadline, whatever the host's load */
	double reserve = 1.1 * ag_fallback_reserve_ms(ag_fleet_emulated(r.f), 2, 4) + c.margin_ms +
			 0.25 * c.deadline_ms;
	int met = 0;
	for (size_t i = 0; i < r.n; i++) {
		cr_expect_geq(r.r[i].latency_ms, c.deadline_ms - reserve, "latency %g, timeout at %g",
			      r.r[i].latency_ms, c.deadline_ms - reserve);
		met += r.r[i].deadline_met;
		cr_expect_eq(r.r[i].from, 4); /* every exit shares the first 4 layers */
	}
	cr_expect_eq(met, 4, "%d of 4 within the deadline", met);
	expect_device_labels(&r);
	tc_done(&r);
	stop_peer();
}

static enum peer_act garbage_first(struct peer *p, uint64_t k)
{
	(void)p;
	return k == 0 ? PEER_GARBAGE : k == 3 ? PEER_BADRESULT : PEER_ANSWER;
}

Test(net, malformed_input_drops_and_reconnects)
{
	start_peer(garbage_first);
	struct ag_config c;
	tc_config(&c, P.port);
	c.requests = 12;
	c.verify = 1;
	/* requests 30 ms apart, reconnects after 2.5..5 ms: a request goes
	 * unreachable only while a connection is being remade, however fast this
	 * machine answers locally (closed loop, a fast one ran out of requests
	 * before it reconnected) */
	c.interval_ms = 30;
	c.deadline_ms = 10000;
	struct tc_run r;
	cr_assert_eq(tc_run(&c, &r), 0, "%s", r.err);
	expect_all_answered(&r, 12);
	cr_expect_eq(r.r[0].where, AG_DEVICE);
	cr_expect_eq(r.r[0].reason, AG_FB_DISCONNECTED);
	cr_expect_geq(r.s.drops, 2);
	cr_expect_geq(r.s.connects, 3);
	cr_expect_geq(atomic_load(&P.conns), 3);
	cr_expect_geq(r.s.edge, 4);
	/* while down, requests run locally at once */
	for (size_t i = 0; i < r.n; i++)
		cr_expect(r.r[i].where == AG_EDGE || r.r[i].reason == AG_FB_DISCONNECTED ||
			  r.r[i].reason == AG_FB_UNREACHABLE);
	expect_device_labels(&r);
	cr_expect_eq(r.s.verify_mismatches, 0);
	tc_done(&r);
	stop_peer();
}

static enum peer_act shutdown_third(struct peer *p, uint64_t k)
{
	(void)p;
	return k == 2 ? PEER_SHUTDOWN : k == 5 ? PEER_CLOSE : PEER_ANSWER;
}

Test(net, shutdown_and_close)
{
	start_peer(shutdown_third);
	struct ag_config c;
	tc_config(&c, P.port);
	c.requests = 10;
	/* reconnecting takes 2.5..5 ms: 40 ms leaves it time on a loaded host */
	c.interval_ms = 40;
	c.deadline_ms = 10000;
	struct tc_run r;
	cr_assert_eq(tc_run(&c, &r), 0, "%s", r.err);
	expect_all_answered(&r, 10);
	cr_expect_eq(r.s.fallbacks[AG_FB_SHUTDOWN], 1);
	cr_expect_eq(r.s.fallbacks[AG_FB_DISCONNECTED], 1);
	cr_expect_geq(r.s.connects, 3);
	cr_expect_geq(r.s.edge, 5);
	expect_device_labels(&r);
	tc_done(&r);
	stop_peer();
}

Test(net, model_mismatch_is_refused)
{
	start_peer(NULL);
	P.checksum ^= 1;
	struct ag_config c;
	tc_config(&c, P.port);
	c.requests = 5;
	c.connect_wait_ms = 60;
	c.interval_ms = 50;
	struct tc_run r;
	cr_assert_eq(tc_run(&c, &r), 0, "%s", r.err);
	expect_all_answered(&r, 5);
	cr_expect_eq(r.s.device, 5);
	cr_expect_eq(r.s.fallbacks[AG_FB_UNREACHABLE], 5);
	cr_expect_eq(r.s.connects, 0);
	/* it kept trying, with backoff: the second attempt comes 2.5..5 ms after
	 * the first, the run lasts 200 ms and more */
	cr_expect_geq(atomic_load(&P.hellos), 2);
	expect_device_labels(&r);
	tc_done(&r);
	stop_peer();
}

Test(net, unreachable_edge)
{
	cr_assert_eq(tc_load(), 0);
	/* a port nobody listens on */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	getsockname(fd, (struct sockaddr *)&a, &al);
	struct ag_config c;
	tc_config(&c, ntohs(a.sin_port));
	close(fd);
	c.requests = 5;
	c.connect_wait_ms = 50;
	c.interval_ms = 20;
	/* answered locally at once: met unless one image takes a second here */
	c.deadline_ms = 1000;
	c.action = (struct cf_action){.exit = 2, .partition = 8, .bits = 8};
	c.codec = CC_CODEC_HUFFMAN;
	struct tc_run r;
	cr_assert_eq(tc_run(&c, &r), 0, "%s", r.err);
	expect_all_answered(&r, 5);
	cr_expect_eq(r.s.fallbacks[AG_FB_UNREACHABLE], 5);
	cr_expect_geq(r.s.drops, 2); /* attempts that failed */
	cr_expect_eq(r.s.deadline_met, 5);
	expect_device_labels(&r);
	tc_done(&r);
}

struct killer {
	struct peer *p;
	uint64_t after;
	atomic_int killed;
	double t_ms;
};

static void *kill_after(void *arg)
{
	struct killer *k = arg;
	while (atomic_load(&k->p->infers) < k->after)
		usleep(200);
	peer_stop(k->p);
	atomic_store(&k->killed, 1);
	return NULL;
}

Test(net, edge_killed_mid_run_loses_nothing, .timeout = 60)
{
	start_peer(NULL);
	P.delay_ms = 20; /* requests are outstanding when it dies */
	struct killer k = {.p = &P, .after = 40};
	pthread_t t;
	pthread_create(&t, NULL, kill_after, &k);
	struct ag_config c;
	tc_config(&c, P.port);
	c.agents = 16;
	c.threads = 2;
	c.requests = 12;
	c.inflight = 2;
	c.interval_ms = 10;
	c.deadline_ms = 300;
	/* a cheap tail (exit 1 from lrn2) keeps the scripted edge quick under sanitizers */
	c.action = (struct cf_action){.exit = 0, .partition = 8, .bits = 8};
	c.codec = CC_CODEC_HUFFMAN;
	struct tc_run r;
	cr_assert_eq(tc_run(&c, &r), 0, "%s", r.err);
	pthread_join(t, NULL);
	cr_assert(atomic_load(&k.killed));
	if (getenv("AG_TEST_LOG"))
		ag_summary_json(&r.s, stderr);
	expect_all_answered(&r, 16 * 12);
	cr_expect_gt(r.s.edge, 0);
	cr_expect_gt(r.s.fallbacks[AG_FB_DISCONNECTED], 0, "requests outstanding at the kill");
	cr_expect_gt(r.s.fallbacks[AG_FB_UNREACHABLE], 0, "requests after the kill");
	cr_expect_eq(r.s.fallbacks[AG_FB_LIMIT] + r.s.fallbacks[AG_FB_ERROR], 0,
		     "timeout %llu no-time %llu limit %llu error %llu",
		     (unsigned long long)r.s.fallbacks[AG_FB_TIMEOUT],
		     (unsigned long long)r.s.fallbacks[AG_FB_NO_TIME],
		     (unsigned long long)r.s.fallbacks[AG_FB_LIMIT],
		     (unsigned long long)r.s.fallbacks[AG_FB_ERROR]);
	cr_expect_eq(r.s.edge + r.s.device, 16 * 12);
	expect_device_labels(&r);
	tc_done(&r);
	peer_free(&P);
}

/* ---- a frozen edge: the circuit breaker ------------------------------------------------------ */

/* Freezes the peer after `after` INFERs; thaws it once the agent has decided
 * `down_decisions` requests with the edge marked down (seen through the decide
 * callback, which hears connected = 0 while the breaker is open). Everything is
 * sequenced by events, none by elapsed time. */
struct freezer {
	struct peer *p;
	uint64_t after;
	int down_decisions, close_all;
	atomic_int decided_down, frozen, thawed;
};

static int note_decision(void *ctx, const struct ag_state *s, struct cf_action *a)
{
	struct freezer *z = ctx;
	(void)a;
	if (!s->connected && atomic_load(&z->frozen))
		atomic_fetch_add(&z->decided_down, 1);
	return 1; /* the configured action */
}

static void *freeze_then_thaw(void *arg)
{
	struct freezer *z = arg;
	while (atomic_load(&z->p->infers) < z->after)
		usleep(200);
	peer_freeze(z->p);
	atomic_store(&z->frozen, 1);
	while (atomic_load(&z->decided_down) < z->down_decisions)
		usleep(200);
	peer_thaw(z->p, z->close_all);
	atomic_store(&z->thawed, 1);
	return NULL;
}

/* One agent, two in flight, closed loop (an open one would have a backlog from
 * the timeouts that the device clears at once); the breaker opens after 3
 * timeouts and probes every 5..40 ms. */
static void frozen_config(struct ag_config *c, struct freezer *z)
{
	tc_config(c, P.port);
	c->requests = 300;
	c->inflight = 2;
	/* a long deadline: a stall of this loaded machine never passes for a
	 * timeout of a live edge */
	c->deadline_ms = 1000;
	c->breaker.threshold = 3;
	c->breaker.base_us = 5000;
	c->breaker.cap_us = 40000;
	c->breaker.timeout_us = 50000;
	c->action = (struct cf_action){.exit = 0, .partition = 4, .bits = 8};
	c->codec = CC_CODEC_HUFFMAN;
	c->decide = note_decision;
	c->decide_ctx = z;
}

/* The counts of a run whose edge froze: bounded timeouts, the rest on the device
 * at once without an upload, and the edge back once it answers again. */
static void expect_breaker_run(const struct tc_run *r, const struct ag_config *c)
{
	expect_all_answered(r, c->requests);
	cr_expect_leq(r->s.fallbacks[AG_FB_TIMEOUT], (uint64_t)(c->breaker.threshold + c->inflight),
		      "%llu requests waited out their timeout",
		      (unsigned long long)r->s.fallbacks[AG_FB_TIMEOUT]);
	cr_expect_geq(r->s.fallbacks[AG_FB_TIMEOUT], (uint64_t)c->breaker.threshold,
		      "the breaker opened before %d timeouts", c->breaker.threshold);
	cr_expect_geq(r->s.edge_downs, 1);
	cr_expect_geq(r->s.edge_ups, 1);
	cr_expect_geq(r->s.probes, 1);
	cr_expect_gt(r->s.edge_down_requests, 0);
	cr_expect_eq(r->s.edge_down_requests, r->s.fallbacks[AG_FB_EDGE_DOWN]);
	size_t first_down = r->n;
	uint64_t edge_after = 0;
	for (size_t i = 0; i < r->n; i++) {
		const struct ag_record *x = &r->r[i];
		if (x->reason == AG_FB_EDGE_DOWN) {
			cr_expect_eq(x->bytes, 0, "request %llu: uploaded while the edge was down",
				     (unsigned long long)x->id);
			cr_expect_eq(x->from, 0, "nothing computed for the edge");
			first_down = first_down < i ? first_down : i;
		}
		if (i > first_down && x->where == AG_EDGE)
			edge_after++;
	}
	cr_expect_gt(edge_after, 0, "no edge answer after the breaker opened");
	expect_device_labels(r);
}

/* A run of frozen_config whose edge freezes after 10 INFERs and thaws once 20
 * requests were decided with it down (close_all: every connection is closed at
 * the thaw, as a restarted edge would), checked by expect_breaker_run. */
static void run_frozen(int close_all, struct tc_run *r)
{
	start_peer(NULL);
	struct freezer z = {.p = &P, .after = 10, .down_decisions = 20, .close_all = close_all};
	struct ag_config c;
	frozen_config(&c, &z);
	pthread_t t;
	pthread_create(&t, NULL, freeze_then_thaw, &z);
	cr_assert_eq(tc_run(&c, r), 0, "%s", r->err);
	pthread_join(t, NULL);
	cr_assert(atomic_load(&z.thawed));
	if (getenv("AG_TEST_LOG"))
		ag_summary_json(&r->s, stderr);
	expect_breaker_run(r, &c);
}

Test(net, frozen_edge_opens_the_breaker_and_it_closes_again, .timeout = 120)
{
	struct tc_run r;
	run_frozen(0, &r);
	cr_expect_eq(r.s.drops, 0, "the connection outlived the freeze");
	cr_expect_eq(r.s.connects, 1);
	tc_done(&r);
	stop_peer();
}

Test(net, edge_restarted_while_down_reconnects_under_the_probe_backoff, .timeout = 120)
{
	struct tc_run r;
	run_frozen(1, &r);
	cr_expect_geq(r.s.drops, 1);
	cr_expect_geq(r.s.connects, 2, "reconnected after the restart");
	cr_expect_geq(atomic_load(&P.hellos), 2);
	tc_done(&r);
	stop_peer();
}

Test(net, fleet_of_64, .timeout = 60)
{
	start_peer(NULL);
	struct ag_config c;
	tc_config(&c, P.port);
	c.agents = 64;
	c.threads = 2;
	c.requests = 5;
	/* one scripted peer computes 64 agents' tails in turn (sanitized: slowly):
	 * a deadline it misses only when hung */
	c.deadline_ms = 20000;
	c.verify = 1;
	struct tc_run r;
	cr_assert_eq(tc_run(&c, &r), 0, "%s", r.err);
	expect_all_answered(&r, 64 * 5);
	cr_expect_eq(r.s.edge, 64 * 5, "%llu edge answers", (unsigned long long)r.s.edge);
	cr_expect_eq(r.s.connects, 64);
	cr_expect_eq(r.s.verify_mismatches, 0);
	cr_expect_eq(atomic_load(&P.conns), 64, "peer: %llu conns, %llu hellos", (unsigned long long)atomic_load(&P.conns), (unsigned long long)atomic_load(&P.hellos));
	/* every agent answered its own images, in order */
	int seen[64] = {0};
	for (size_t i = 0; i < r.n; i++) {
		cr_expect_eq(r.r[i].image, (r.r[i].agent * 5 + (int)r.r[i].id - 1) % tc_ds.n);
		seen[r.r[i].agent]++;
	}
	for (int a = 0; a < 64; a++)
		cr_expect_eq(seen[a], 5);
	tc_done(&r);
	stop_peer();
}

Test(net, pipelined_requests_and_pings)
{
	start_peer(NULL);
	P.delay_ms = 5;
	struct ag_config c;
	tc_config(&c, P.port);
	c.requests = 30;
	c.inflight = 4;
	c.interval_ms = 2;
	c.ping_ms = 5;
	c.ping_pad = 2048;
	c.deadline_ms = 10000; /* every answer from the edge, however loaded the host */
	struct tc_run r;
	cr_assert_eq(tc_run(&c, &r), 0, "%s", r.err);
	expect_all_answered(&r, 30);
	cr_expect_eq(r.s.edge, 30);
	cr_expect_gt(atomic_load(&P.pings), 2);
	/* the PONGs became RTT samples (the mean is NaN without one); how large
	 * they are is this host's load, not the agent's logic */
	cr_expect(isfinite(r.s.rtt_ms_mean), "no RTT sample from %llu PINGs",
		  (unsigned long long)atomic_load(&P.pings));
	cr_expect_eq(r.s.late_replies, 0);
	tc_done(&r);
	stop_peer();
}

/* ---- against the real appliance ---------------------------------------------------------- */

Test(appliance, requests_match_the_runtime, .timeout = 120)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/coinfer-appliance", AG_BUILD_ROOT);
	if (access(path, X_OK))
		cr_skip_test("no %s in this build", path);
	cr_assert_eq(tc_load(), 0);
	int pfd[2];
	cr_assert_eq(pipe(pfd), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		execl(path, path, "--port", "0", "--workers", "1", "--calibrate-runs", "0",
		      "--run-seconds", "100", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	FILE *in = fdopen(pfd[0], "r");
	char line[2048];
	int port = 0;
	while (!port && fgets(line, sizeof(line), in)) {
		char *p = strstr(line, "\"port\": ");
		if (p)
			port = atoi(p + 8);
	}
	cr_assert_gt(port, 0, "the appliance printed no port");
	struct ag_config c;
	tc_config(&c, port);
	c.agents = 4;
	c.requests = 10;
	c.deadline_ms = 20000; /* every answer from the appliance, even sanitized and loaded */
	c.verify = 1;
	c.ping_ms = 20;
	c.action = (struct cf_action){.exit = 2, .partition = 8, .bits = 8};
	c.codec = CC_CODEC_HUFFMAN;
	struct tc_run r;
	int ret = tc_run(&c, &r);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	fclose(in);
	cr_assert_eq(ret, 0, "%s", r.err);
	expect_all_answered(&r, 40);
	cr_expect_eq(r.s.edge, 40);
	for (size_t i = 0; i < r.n; i++) {
		int want = tc_local_label(r.r[i].image, 2, 8, CC_CODEC_HUFFMAN, 8);
		cr_expect_eq(r.r[i].label, want, "image %d: appliance %d, runtime %d", r.r[i].image,
			     r.r[i].label, want);
		cr_expect_eq(r.r[i].verify_label, r.r[i].label);
	}
	tc_done(&r);
}
