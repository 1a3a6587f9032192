/* What coinfer-fleet asks of the agent library: arrival processes timed from their
 * schedule, a duration and a warm-up, ag_fleet_stop and the progress counts, the
 * per-record callback, in-process link shaping, and the per-agent socket and
 * address hooks. Every time asserted is on a clock the test injects: device-only
 * runs on a clock that moves only by the waits the agents ask for; runs against
 * the scripted edge of peer.h share that clock with it, so the edge's hold and its
 * notes of when each INFER arrived are on the agents' time. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdatomic.h>
#include <time.h>

#include "common.h"
#include "peer.h"

/* ---- the injected clock ---------------------------------------------------------------- */

/* Each reading adds read_ns (1 us: compute takes a little time; 0: none, so a
 * device-only run's times are exact sums of the waits asked). A wait with no
 * socket moves the clock by exactly the wait asked; with sockets, the sockets
 * are really polled for up to 1 ms, and when nothing came the clock moves by the
 * wait asked, at most 1 ms: the edge's replies, which come in real time, find
 * the clock where it was, near enough, and the hold of peer.h runs on it. */
struct vclock {
	_Atomic uint64_t t;
	uint64_t read_ns;
	int mark;    /* 1: the next reading is the fleet's start (ag_fleet_run's first) */
	uint64_t t0; /* that reading */
};

#define V_STEP_NS 1000000ull

static uint64_t v_now(void *ctx)
{
	struct vclock *k = ctx;
	uint64_t t = atomic_fetch_add(&k->t, k->read_ns) + k->read_ns;
	if (k->mark == 1) {
		k->t0 = t;
		k->mark = 2;
	}
	return t;
}

static int v_wait(void *ctx, struct pollfd *fds, nfds_t n, uint64_t timeout_ns)
{
	struct vclock *k = ctx;
	if (!n) {
		atomic_fetch_add(&k->t, timeout_ns);
		return 0;
	}
	uint64_t step = timeout_ns < V_STEP_NS ? timeout_ns : V_STEP_NS;
	struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)step};
	int r = ppoll(fds, n, &ts, NULL);
	if (r == 0)
		atomic_fetch_add(&k->t, step);
	return r;
}

static void use_vclock(struct ag_config *c, struct vclock *k)
{
	atomic_store(&k->t, 1000000000ull);
	k->read_ns = 1000;
	k->mark = 0;
	c->clock = (struct ag_clock){.now_ns = v_now, .wait = v_wait, .ctx = k};
}

/* tc_run, noting the fleet's start on the clock k. */
static int run_marked(const struct ag_config *c, struct vclock *k, struct tc_run *out)
{
	memset(out, 0, sizeof(*out));
	if ((out->ret = ag_fleet_create(c, tc_model, &tc_ds, &out->f, out->err, sizeof(out->err))))
		return out->ret;
	k->mark = 1;
	out->ret = ag_fleet_run(out->f, out->err, sizeof(out->err));
	out->r = ag_fleet_records(out->f, &out->n);
	ag_fleet_summary(out->f, &out->s);
	return out->ret;
}

/* ---- helpers ----------------------------------------------------------------------------- */

/* Agent k's records in request order (ids are 1, 2, ... per agent). */
static size_t records_of(const struct tc_run *r, int agent, const struct ag_record **out,
			 size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++)
		if (r->r[i].agent == agent && r->r[i].id >= 1 && r->r[i].id <= cap)
			out[r->r[i].id - 1] = &r->r[i], n++;
	return n;
}

static void expect_each_once(const struct tc_run *r)
{
	for (size_t i = 0; i < r->n; i++)
		for (size_t j = i + 1; j < r->n; j++)
			cr_expect(r->r[i].agent != r->r[j].agent || r->r[i].id != r->r[j].id,
				  "agent %d request %llu answered twice", r->r[i].agent,
				  (unsigned long long)r->r[i].id);
	cr_expect_eq(r->s.answered, r->s.requests, "answered %llu of %llu started",
		     (unsigned long long)r->s.answered, (unsigned long long)r->s.requests);
}

/* A configuration whose requests run whole on the device (exit 1): no edge;
 * on clock k unless NULL. */
static void device_only(struct ag_config *c, struct vclock *k)
{
	cr_assert_eq(tc_load(), 0);
	tc_config(c, 1);
	c->host = NULL;
	c->action = (struct cf_action){.exit = 0, .partition = tc_model->exit_len[0], .bits = 0};
	c->deadline_ms = 1000;
	if (k)
		use_vclock(c, k);
}

/* ---- arrivals ---------------------------------------------------------------------------- */

Test(arrival, poisson_gaps_average_one_over_the_rate)
{
	struct ag_config c;
	struct vclock k;
	device_only(&c, &k);
	c.agents = 2;
	c.requests = 1500;
	c.inflight = 8; /* a slot is always free: the schedule is kept */
	c.arrival = (struct ag_arrival_config){.kind = AG_ARRIVAL_POISSON, .rate_hz = 200};
	c.seed = 7;
	k.read_ns = 0; /* compute takes no time: every start is exactly on schedule */
	struct tc_run r;
	cr_assert_eq(run_marked(&c, &k, &r), 0, "%s", r.err);
	cr_assert_eq(r.n, 3000);
	expect_each_once(&r);
	static const struct ag_record *x[1500];
	for (int a = 0; a < 2; a++) {
		cr_assert_eq(records_of(&r, a, x, 1500), 1500);
		double sum = 0, sq = 0;
		for (int j = 1; j < 1500; j++) {
			double g = x[j]->t_sched_ms - x[j - 1]->t_sched_ms;
			cr_assert_geq(g, 0);
			sum += g;
			sq += g * g;
		}
		double mean = sum / 1499, sd = sqrt(sq / 1499 - mean * mean);
		/* 1/rate = 5 ms; an exponential's deviation equals its mean */
		cr_expect(fabs(mean - 5.0) < 0.25, "agent %d: mean gap %g ms, want 5 +- 5%%", a,
			  mean);
		cr_expect(fabs(sd - 5.0) < 0.5, "agent %d: gaps' deviation %g ms, want ~5", a, sd);
	}
	cr_expect_eq(r.s.late_starts, 0, "%llu late starts", (unsigned long long)r.s.late_starts);
	cr_expect_eq(r.s.max_sched_lag_ms, 0);
	tc_done(&r);
}

Test(arrival, gaps_are_replayed_in_order_each_agent_from_its_own)
{
	static const double gaps[] = {3, 7, 11, 2};
	struct ag_config c;
	struct vclock k;
	device_only(&c, &k);
	c.agents = 3;
	c.requests = 9;
	c.inflight = 4;
	c.arrival = (struct ag_arrival_config){
		.kind = AG_ARRIVAL_GAPS, .gaps_ms = gaps, .n_gaps = 4};
	k.read_ns = 0; /* the schedule is the sum of whole-ms gaps, exactly */
	struct tc_run r;
	cr_assert_eq(run_marked(&c, &k, &r), 0, "%s", r.err);
	cr_assert_eq(r.n, 27);
	const struct ag_record *x[9];
	for (int a = 0; a < 3; a++) {
		cr_assert_eq(records_of(&r, a, x, 9), 9);
		/* each gap precedes a request: agent a's first after gaps[a] */
		double t = 0;
		for (int j = 0; j < 9; j++) {
			t += gaps[(a + j) % 4];
			cr_expect(x[j]->t_sched_ms == t,
				  "agent %d request %d at %g, want %g", a, j + 1,
				  x[j]->t_sched_ms, t);
		}
	}
	tc_done(&r);
}

Test(arrival, closed_loop_thinks_after_each_answer)
{
	struct ag_config c;
	struct vclock k;
	device_only(&c, &k);
	c.requests = 8;
	c.arrival = (struct ag_arrival_config){.kind = AG_ARRIVAL_CLOSED, .think_ms = 25};
	k.read_ns = 0; /* the answer's time plus the think time, exactly */
	struct tc_run r;
	cr_assert_eq(run_marked(&c, &k, &r), 0, "%s", r.err);
	const struct ag_record *x[8];
	cr_assert_eq(records_of(&r, 0, x, 8), 8);
	for (int j = 1; j < 8; j++) {
		double think = x[j]->t_sched_ms - x[j - 1]->t_ms;
		cr_expect(think == 25, "request %d: %g ms after the answer, want 25", j + 1, think);
		cr_expect_eq(x[j]->sched_lag_ms, 0);
		/* closed loop: the think time is not latency */
		cr_expect_lt(x[j]->latency_ms, 25);
	}
	tc_done(&r);
}

Test(arrival, bad_arrivals_are_refused)
{
	struct ag_config c;
	device_only(&c, NULL);
	struct ag_fleet *f = NULL;
	char err[256];
	c.arrival = (struct ag_arrival_config){.kind = AG_ARRIVAL_POISSON, .rate_hz = 0};
	cr_expect_neq(ag_fleet_create(&c, tc_model, &tc_ds, &f, err, sizeof(err)), 0);
	cr_expect(strstr(err, "rate_hz"), "%s", err);
	static const double zero[] = {0, 0};
	c.arrival = (struct ag_arrival_config){
		.kind = AG_ARRIVAL_GAPS, .gaps_ms = zero, .n_gaps = 2};
	cr_expect_neq(ag_fleet_create(&c, tc_model, &tc_ds, &f, err, sizeof(err)), 0);
	c.arrival = (struct ag_arrival_config){.kind = AG_ARRIVAL_FIXED};
	cr_expect_neq(ag_fleet_create(&c, tc_model, &tc_ds, &f, err, sizeof(err)), 0);
	c.arrival = (struct ag_arrival_config){0};
	c.duration_s = -1;
	cr_expect_neq(ag_fleet_create(&c, tc_model, &tc_ds, &f, err, sizeof(err)), 0);
	cr_expect_null(f);
}

/* ---- duration, warm-up, stop, progress, the callback ------------------------------------ */

struct seen {
	atomic_int n, warm;
	struct ag_fleet *stop_f; /* stop it after stop_after records */
	int stop_after;
};

static void on_rec(void *ctx, const struct ag_record *r)
{
	struct seen *s = ctx;
	int n = atomic_fetch_add(&s->n, 1) + 1;
	atomic_fetch_add(&s->warm, r->warmup);
	if (s->stop_f && n == s->stop_after)
		ag_fleet_stop(s->stop_f);
}

Test(duration, starts_stop_at_the_duration_and_each_is_answered_once)
{
	struct ag_config c;
	struct vclock k;
	device_only(&c, &k);
	c.agents = 3;
	c.requests = 0; /* no cap */
	c.inflight = 4;
	c.duration_s = 3;
	c.warmup_s = 1;
	c.arrival = (struct ag_arrival_config){.kind = AG_ARRIVAL_POISSON, .rate_hz = 100};
	struct seen s = {0};
	c.on_record = on_rec;
	c.record_ctx = &s;
	struct tc_run r;
	cr_assert_eq(run_marked(&c, &k, &r), 0, "%s", r.err);
	expect_each_once(&r);
	cr_expect_eq((size_t)atomic_load(&s.n), r.n, "callback saw %d of %zu", atomic_load(&s.n),
		     r.n);
	int warm = 0;
	double last = 0;
	for (size_t i = 0; i < r.n; i++) {
		cr_expect_lt(r.r[i].t_sched_ms, 3000.0, "scheduled at %g ms", r.r[i].t_sched_ms);
		cr_expect_eq(r.r[i].warmup, r.r[i].t_sched_ms < 1000.0);
		warm += r.r[i].warmup;
		if (r.r[i].t_sched_ms > last)
			last = r.r[i].t_sched_ms;
	}
	cr_expect_eq(atomic_load(&s.warm), warm);
	/* about 300 a device; the last within a few gaps of the end */
	cr_expect(r.n > 700 && r.n < 1100, "%zu requests in 3 s from 3 devices at 100/s", r.n);
	cr_expect_gt(last, 2950.0);
	struct ag_progress p;
	ag_fleet_progress(r.f, &p);
	cr_expect_eq(p.started, r.n);
	cr_expect_eq(p.answered, r.n);
	cr_expect_eq(p.device, r.n);
	cr_expect_eq(p.edge, 0);
	cr_expect_eq(p.deadline_met, r.s.deadline_met);
	tc_done(&r);

	/* a cap still caps */
	c.requests = 5;
	c.on_record = NULL;
	use_vclock(&c, &k);
	cr_assert_eq(run_marked(&c, &k, &r), 0, "%s", r.err);
	cr_expect_eq(r.n, 15);
	tc_done(&r);
}

Test(duration, stop_ends_the_starts_and_the_outstanding_finish)
{
	struct ag_config c;
	struct vclock k;
	device_only(&c, &k);
	c.agents = 2;
	c.requests = 0;
	c.inflight = 2;
	c.duration_s = 3600;
	c.interval_ms = 10; /* FIXED, the old way */
	struct seen s = {.stop_after = 20};
	c.on_record = on_rec;
	c.record_ctx = &s;
	struct tc_run r;
	memset(&r, 0, sizeof(r));
	cr_assert_eq(ag_fleet_create(&c, tc_model, &tc_ds, &r.f, r.err, sizeof(r.err)), 0, "%s",
		     r.err);
	s.stop_f = r.f;
	cr_assert_eq(ag_fleet_run(r.f, r.err, sizeof(r.err)), 0, "%s", r.err);
	r.r = ag_fleet_records(r.f, &r.n);
	ag_fleet_summary(r.f, &r.s);
	expect_each_once(&r);
	/* the one that saw the 20th stops; the other starts at most one more */
	cr_expect(r.n >= 20 && r.n <= 24, "%zu answered after a stop at 20", r.n);
	tc_done(&r);
}

/* ---- against a scripted edge on the shared clock -------------------------------------- */

static struct peer P;

static void start_vpeer(peer_script s, struct vclock *k, int hold_ms)
{
	cr_assert_eq(tc_load(), 0);
	cr_assert_eq(peer_start(&P, tc_model, s, NULL), 0);
	P.vclock = &k->t;
	P.delay_ms = hold_ms;
	cr_assert_eq(peer_run(&P), 0);
}

static void stop_peer(void)
{
	peer_stop(&P);
	peer_free(&P);
}

/* The INFER of request id as the edge saw it arrive (0: never). */
static uint64_t arrival_of(uint64_t id)
{
	int n = atomic_load(&P.n_arr);
	for (int i = 0; i < n; i++)
		if (P.arr_id[i] == id)
			return P.arr_ns[i];
	return 0;
}

static void edge_config(struct ag_config *c, struct vclock *k)
{
	tc_config(c, P.port);
	use_vclock(c, k);
	c->action = (struct cf_action){.exit = 2, .partition = 4, .bits = 8};
	c->codec = CC_CODEC_HUFFMAN;
	c->deadline_ms = 5000; /* every answer from the edge */
	c->breaker.threshold = 0;
}

Test(edge, a_stalled_edge_shows_in_latency_from_the_schedule, .timeout = 60)
{
	struct vclock k;
	start_vpeer(NULL, &k, 30);
	struct ag_config c;
	edge_config(&c, &k);
	c.requests = 6;
	c.inflight = 1;
	c.arrival = (struct ag_arrival_config){.kind = AG_ARRIVAL_FIXED};
	c.interval_ms = 10; /* a request every 10 ms, each held 30 ms: the slot is busy */
	struct tc_run r;
	cr_assert_eq(run_marked(&c, &k, &r), 0, "%s", r.err);
	expect_each_once(&r);
	cr_assert_eq(r.n, 6);
	cr_expect_eq(r.s.edge, 6);
	const struct ag_record *x[6];
	cr_assert_eq(records_of(&r, 0, x, 6), 6);
	for (int j = 0; j < 6; j++) {
		cr_expect(fabs(x[j]->t_sched_ms - 10.0 * j) < 1e-6, "request %d scheduled at %g",
			  j + 1, x[j]->t_sched_ms);
		/* started lag after its schedule, held 30 ms from then at least */
		cr_expect_geq(x[j]->latency_ms, 30 + x[j]->sched_lag_ms,
			      "request %d: %g ms, lag %g", j + 1, x[j]->latency_ms,
			      x[j]->sched_lag_ms);
		if (j > 0) /* the previous one held the slot 30 ms, 10 ms apart */
			cr_expect_geq(x[j]->sched_lag_ms, 20.0 * j - 1, "request %d: lag %g", j + 1,
				      x[j]->sched_lag_ms);
	}
	cr_expect_geq(r.s.late_starts, 5);
	cr_expect_geq(r.s.max_sched_lag_ms, 99.0);
	tc_done(&r);
	stop_peer();
}

Test(edge, the_emulated_uplink_serialises_and_queues, .timeout = 60)
{
	struct vclock k;
	start_vpeer(NULL, &k, 0);
	struct ag_config c;
	edge_config(&c, &k);
	double rate = 2e6;
	c.requests = 6;
	c.inflight = 3;
	c.interval_ms = 2; /* back to back: each INFER takes ~10 ms at 2 Mbit/s */
	c.link_bps = tc_const_rate;
	c.link_ctx = &rate;
	struct tc_run r;
	cr_assert_eq(run_marked(&c, &k, &r), 0, "%s", r.err);
	expect_each_once(&r);
	cr_assert_eq(r.s.edge, 6);
	const struct ag_record *x[6];
	cr_assert_eq(records_of(&r, 0, x, 6), 6);
	double prev_ready = -1, prev_ser = 0;
	for (int j = 0; j < 6; j++) {
		const struct ag_record *q = x[j];
		double ser = (double)q->bytes * 8 / rate * 1e3; /* ms, headers not counted */
		cr_expect_gt(q->bytes, 1000);
		cr_expect_eq(q->link_bps, rate);
		cr_expect_geq(q->uplink_ms, ser,
			      "request %d: %g ms in the uplink, %zu bytes take %g", j + 1,
			      q->uplink_ms, q->bytes, ser);
		cr_expect_gt(q->downlink_ms, 0);
		cr_expect_geq(q->latency_ms,
			      q->head_ms + q->encode_ms + q->uplink_ms + q->downlink_ms);
		/* the edge saw it no earlier than its carriage after it was ready */
		double ready = q->t_sched_ms + q->sched_lag_ms + q->head_ms + q->encode_ms;
		uint64_t at = arrival_of(q->id);
		cr_assert_neq(at, 0, "request %d never reached the edge", j + 1);
		double arrived = (double)(at - k.t0) / 1e6;
		cr_expect_geq(arrived, ready + ser, "request %d arrived at %g, ready at %g + %g",
			      j + 1, arrived, ready, ser);
		/* behind the one before it on the link */
		if (prev_ready >= 0)
			cr_expect_geq(arrived, prev_ready + prev_ser + ser,
				      "request %d arrived at %g: not queued behind %d", j + 1,
				      arrived, j);
		prev_ready = ready;
		prev_ser = ser;
	}
	tc_done(&r);
	stop_peer();
}

/* ---- the network hooks ------------------------------------------------------------------- */

struct hooks {
	atomic_int opens[4], hosts[4];
};

static int open_hook(void *ctx, int agent, int domain, int type, int protocol)
{
	struct hooks *h = ctx;
	if (agent >= 0 && agent < 4)
		atomic_fetch_add(&h->opens[agent], 1);
	int fd = socket(domain, type, protocol);
	return fd < 0 ? -errno : fd;
}

static const char *host_hook(void *ctx, int agent)
{
	struct hooks *h = ctx;
	if (agent >= 0 && agent < 4)
		atomic_fetch_add(&h->hosts[agent], 1);
	return agent % 2 ? "127.0.0.1" : NULL; /* NULL: the fleet's host */
}

static enum peer_act close_second(struct peer *p, uint64_t k)
{
	(void)p;
	return k == 1 ? PEER_CLOSE : PEER_ANSWER;
}

Test(hooks, open_socket_per_agent_and_reconnect_host_of_per_agent, .timeout = 60)
{
	cr_assert_eq(tc_load(), 0);
	cr_assert_eq(peer_start(&P, tc_model, close_second, NULL), 0);
	cr_assert_eq(peer_run(&P), 0);
	struct ag_config c;
	tc_config(&c, P.port);
	c.agents = 2;
	c.requests = 4;
	c.action = (struct cf_action){.exit = 2, .partition = 4, .bits = 8};
	c.deadline_ms = 5000;
	struct hooks h = {0};
	c.open_socket = open_hook;
	c.host_of = host_hook;
	c.net_ctx = &h;
	struct tc_run r;
	cr_assert_eq(tc_run(&c, &r), 0, "%s", r.err);
	expect_each_once(&r);
	cr_expect_eq(r.n, 8);
	int opens = 0;
	for (int a = 0; a < 2; a++) {
		cr_expect_eq(atomic_load(&h.hosts[a]), 1, "host_of of agent %d: %d calls", a,
			     atomic_load(&h.hosts[a]));
		cr_expect_geq(atomic_load(&h.opens[a]), 1);
		opens += atomic_load(&h.opens[a]);
	}
	/* one connection was closed under its agent: it opened another */
	cr_expect_eq(r.s.reconnects, 1);
	cr_expect_eq(opens, 3);
	tc_done(&r);
	stop_peer();
}
