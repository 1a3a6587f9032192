/* The agent over UDP (agent/dgram.c) against a scripted peer on the test's
 * clock. The peer is a UDP socket on loopback that the agent's injected wait
 * drives: each wait first lets the peer read what the agent sent and answer
 * (as appliance/dgram.c does: ACKs by the receiver's rules, WELCOME naming the
 * session, RESULTs, copies of a request answered again from a cache), then
 * polls the agent's socket; when nothing is there, the clock jumps by the
 * whole timeout. Loopback delivers a datagram within the send, so no wall
 * time enters: retransmissions, timeouts and fallbacks are counted, never
 * timed. The script drops HELLOs, chosen fragments, every INFER, or a share
 * of everything; it duplicates RESULTs; it leaves out the ACK of one-fragment
 * INFERs (their RESULT is the ACK, as the appliance does for one answered
 * within its turn) or sends it after the RESULT, and it takes a service time
 * on the agent's clock that its RESULTs name. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "coinfer/bytes.h"
#include "coinfer/wire-dgram.h"
#include "coinfer/wire-faults.h"
#include "common.h"

#define MAX_ANSWERS 4096

struct upeer {
	int fd, port;
	struct sockaddr_storage to;
	socklen_t tolen;
	uint64_t t; /* the agent's clock */
	uint64_t next_session;
	uint32_t tx_id;
	struct cw_dg_reasm *ra;
	void *ra_mem;
	struct cw_dg_limits lim;
	struct cw_faults faults; /* on what the peer sends */
	int inject;
	/* the script */
	int drop_hellos;       /* the first N HELLO datagrams are lost */
	uint32_t drop_first;   /* bit i: fragment i of each INFER is lost the first time */
	int drop_infers;       /* every INFER datagram is lost */
	int dup_results;       /* each RESULT as two datagrams, then again as a copy's answer */
	int no_acks;           /* one-fragment INFERs: no ACK, the RESULT is it */
	int ack_late;          /* one-fragment INFERs: the ACK after the RESULT */
	uint32_t serve_us;     /* each INFER takes this on the agent's clock, named in its RESULT */
	uint64_t lose_first_from; /* the first copy of each INFER from this request id is lost */
	uint64_t t_lost, t_again; /* the last such: when its first and second copy came */
	/* what it saw and did */
	int hellos, welcomes, infer_dgrams, results;
	uint8_t welcome[CW_HEADER_BYTES + 64]; /* the last, for copies of its HELLO */
	size_t welcome_len;
	uint8_t seen[MAX_ANSWERS][4]; /* per request id: fragments seen once (bits 0..31) */
	uint64_t answered[MAX_ANSWERS];
	uint64_t infer_at[MAX_ANSWERS]; /* per request id: when its first fragment 0 came */
	int mark;    /* 1: the next clock reading is the fleet's start */
	uint64_t t0; /* that reading */
	uint8_t buf[4096];
};

static void peer_sendto(struct upeer *p, const uint8_t *b, size_t n)
{
	struct cw_fault_out out[3];
	int k = 1;
	out[0] = (struct cw_fault_out){b, n};
	if (p->inject)
		k = cw_faults_apply(&p->faults, b, n, out);
	for (int i = 0; i < k; i++)
		sendto(p->fd, out[i].p, out[i].len, 0, (struct sockaddr *)&p->to, p->tolen);
}

/* A message to the agent as fragments of a new message id. */
static void peer_message(struct upeer *p, uint64_t session, const uint8_t *msg, size_t len)
{
	uint16_t count;
	uint8_t dg[CW_DG_HEADER_BYTES + CW_DG_DEFAULT_PAYLOAD];
	struct cw_dg d;
	size_t n;
	cr_assert_eq(cw_dg_frags((uint32_t)len, CW_DG_DEFAULT_PAYLOAD, &count), 0);
	uint32_t id = ++p->tx_id;
	for (uint16_t k = 0; k < count; k++) {
		cr_assert_eq(cw_dg_data(&d, session, id, msg, (uint32_t)len, count, k), 0);
		cr_assert_eq(cw_dg_encode(dg, sizeof(dg), &d, &n, NULL, 0), 0);
		peer_sendto(p, dg, n);
		if (p->dup_results && msg[5] == CW_RESULT)
			peer_sendto(p, dg, n);
	}
}

static void peer_ack(struct upeer *p, const struct cw_dg *d, uint16_t received,
		     const uint8_t *bitmap)
{
	uint8_t b[CW_DG_HEADER_BYTES + CW_DG_BITMAP_MAX];
	struct cw_dg a = {.kind = CW_DG_ACK, .session = d->session, .msg_id = d->msg_id,
			  .index = received, .count = d->count, .msg_len = d->msg_len,
			  .payload = bitmap, .payload_len = cw_dg_bitmap_bytes(d->count)};
	size_t n;
	cr_assert_eq(cw_dg_encode(b, sizeof(b), &a, &n, NULL, 0), 0);
	peer_sendto(p, b, n);
}

static void peer_result(struct upeer *p, uint64_t session, const struct cw_infer *in)
{
	struct cw_result r = {.request_id = in->request_id, .label = 3, .confidence = 0.5f,
			      .exit = (uint8_t)in->action.exit, .batch = 1,
			      .compute_us = p->serve_us};
	uint8_t b[CW_HEADER_BYTES + 64];
	size_t n;
	cr_assert_eq(cw_encode_result(b, sizeof(b), &r, &n, NULL, 0), 0);
	p->results++;
	if (in->request_id < MAX_ANSWERS)
		p->answered[in->request_id] = 1;
	peer_message(p, session, b, n);
	if (p->dup_results) /* as if a copy of the request were answered from the cache */
		peer_message(p, session, b, n);
}

/* A whole message from the agent. */
static void peer_on_message(struct upeer *p, uint64_t session, const uint8_t *m, size_t len)
{
	struct cw_msg msg;
	struct cw_limits lim = cw_limits_make(1u << 20, 1u << 20);
	uint8_t b[CW_HEADER_BYTES + 64];
	size_t n;
	cr_assert_eq(cw_decode(m, len, &lim, &msg, NULL, 0), 0);
	if (msg.type == CW_HELLO) {
		struct cw_welcome w = {.session_id = ++p->next_session,
				       .model_checksum = msg.hello.model_checksum,
				       .max_frame = 1u << 20, .max_padding = 1u << 20,
				       .max_inflight = 16};
		cr_assert_eq(cw_encode_welcome(p->welcome, sizeof(p->welcome), &w, &p->welcome_len,
					       NULL, 0), 0);
		p->welcomes++;
		peer_message(p, w.session_id, p->welcome, p->welcome_len);
	} else if (msg.type == CW_INFER) {
		p->t += (uint64_t)p->serve_us * 1000;
		peer_result(p, session, &msg.infer);
	} else if (msg.type == CW_PING) {
		struct cw_pong po = {.nonce = msg.ping.nonce, .timestamp = msg.ping.timestamp,
				     .padding_len = msg.ping.padding_len};
		cr_assert_eq(cw_encode_pong(b, sizeof(b), &po, &n, NULL, 0), 0);
		peer_message(p, session, b, n);
	}
}

/* The script's losses; 1 when datagram d never reached the peer. */
static int peer_loses(struct upeer *p, const struct cw_dg *d)
{
	int type = d->index == 0 && d->payload_len > 5 ? d->payload[5] : 0;
	if (type == CW_HELLO) {
		p->hellos++;
		return p->hellos <= p->drop_hellos;
	}
	if (!d->session)
		return 0;
	p->infer_dgrams++;
	if (p->drop_infers)
		return 1;
	uint64_t id = type == CW_INFER ? le_rd64(d->payload + CW_HEADER_BYTES) : 0;
	if (id && id < MAX_ANSWERS && !p->infer_at[id])
		p->infer_at[id] = p->t;
	if (p->lose_first_from && id >= p->lose_first_from) {
		if (p->t_lost && id == p->lose_first_from) {
			p->t_again = p->t;
			return 0;
		}
		p->lose_first_from = id;
		p->t_lost = p->t;
		return 1;
	}
	uint32_t key = d->msg_id % MAX_ANSWERS;
	if (d->index < 32 && (p->drop_first >> d->index & 1) &&
	    !(p->seen[key][d->index / 8] >> d->index % 8 & 1)) {
		p->seen[key][d->index / 8] |= (uint8_t)(1u << d->index % 8);
		return 1;
	}
	return 0;
}

/* A copy of a request already whole: its answer again (the cache); of a
 * HELLO: its WELCOME again. */
static void peer_copy(struct upeer *p, const struct cw_dg *d)
{
	struct cw_infer in = {0};
	if (!d->session && !d->index && d->payload_len > 5 && d->payload[5] == CW_HELLO &&
	    p->welcome_len) {
		peer_message(p, le_rd64(p->welcome + CW_HEADER_BYTES), p->welcome, p->welcome_len);
		return;
	}
	if (d->index || d->payload_len < CW_HEADER_BYTES + 8 || d->payload[5] != CW_INFER)
		return;
	in.request_id = le_rd64(d->payload + CW_HEADER_BYTES);
	if (in.request_id < MAX_ANSWERS && p->answered[in.request_id])
		peer_result(p, d->session, &in);
}

static void peer_on_dgram(struct upeer *p, const uint8_t *b, size_t n)
{
	struct cw_dg d;
	struct cw_dg_result res;
	if (cw_dg_decode(b, n, &p->lim, &d, NULL, 0) || d.kind == CW_DG_ACK || peer_loses(p, &d))
		return;
	int r = cw_dg_reasm_add(p->ra, d.session ? d.session : 1, &d, p->t, &res);
	/* a new one-fragment INFER: its ACK left out, or sent after the RESULT */
	int later = r == 0 && res.ack && d.count == 1 && d.session && d.payload[5] == CW_INFER &&
		    (p->no_acks || p->ack_late);
	if ((r == 0 || r == -EALREADY) && res.ack && !later)
		peer_ack(p, &d, res.received, res.bitmap);
	if (r == -EALREADY)
		peer_copy(p, &d);
	if (r || !res.complete)
		return;
	peer_on_message(p, d.session, res.msg, res.len);
	if (later && p->ack_late)
		peer_ack(p, &d, res.received, res.bitmap);
	if (res.ref)
		cw_dg_reasm_release(p->ra, res.ref);
}

/* Everything the agent sent so far; 1 when the peer sent something back. */
static int peer_pump(struct upeer *p)
{
	int before = p->tx_id, acks = 0;
	for (;;) {
		p->tolen = sizeof(p->to);
		ssize_t n = recvfrom(p->fd, p->buf, sizeof(p->buf), MSG_DONTWAIT,
				     (struct sockaddr *)&p->to, &p->tolen);
		if (n < 0)
			break;
		acks++;
		peer_on_dgram(p, p->buf, (size_t)n);
	}
	struct cw_fault_out held;
	if (p->inject && cw_faults_flush(&p->faults, &held))
		sendto(p->fd, held.p, held.len, 0, (struct sockaddr *)&p->to, p->tolen);
	cw_dg_reasm_expire(p->ra, p->t);
	return acks > 0 || p->tx_id != (uint32_t)before;
}

static uint64_t upeer_now(void *ctx)
{
	struct upeer *p = ctx;
	p->t += 1000; /* a reading: 1 us */
	if (p->mark == 1) {
		p->t0 = p->t;
		p->mark = 2;
	}
	return p->t;
}

static int upeer_wait(void *ctx, struct pollfd *fds, nfds_t n, uint64_t timeout_ns)
{
	struct upeer *p = ctx;
	/* what the peer sent is in the agent's socket when sendto returns; the
	 * real timeout only guards against a host that delays loopback */
	int busy = peer_pump(p);
	int r = ppoll(fds, n, &(struct timespec){0, busy ? 20000000 : 0}, NULL);
	if (r == 0)
		p->t += timeout_ns;
	return r;
}

static void upeer_start(struct upeer *p)
{
	memset(p, 0, sizeof(*p));
	p->t = 1000000000ull;
	p->next_session = 0x5e550000;
	struct cw_limits lim = cw_limits_make(1u << 20, 1u << 20);
	p->lim = cw_dg_limits_for(&lim);
	struct cw_dg_reasm_config rc = {.max_bytes = 1u << 20, .max_msgs = 256,
					.timeout_ns = 500000000ull, .seed = 1};
	size_t bytes = cw_dg_reasm_bytes(&rc);
	p->ra_mem = malloc(bytes);
	cr_assert_eq(cw_dg_reasm_init(&p->ra, p->ra_mem, bytes, &rc), 0);
	p->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	cr_assert(p->fd >= 0 && !bind(p->fd, (struct sockaddr *)&a, sizeof(a)) &&
		  !getsockname(p->fd, (struct sockaddr *)&a, &al));
	p->port = ntohs(a.sin_port);
}

static void upeer_stop(struct upeer *p)
{
	close(p->fd);
	free(p->ra_mem);
}

static struct ag_times calib; /* fixed per-layer times: the emulation is the test's */

static void udp_config(struct ag_config *c, struct upeer *p, int requests)
{
	cr_assert_eq(tc_load(), 0);
	tc_config(c, p->port);
	c->transport = AG_TRANSPORT_UDP;
	c->requests = requests;
	c->deadline_ms = 1000;
	c->clock = (struct ag_clock){.now_ns = upeer_now, .wait = upeer_wait, .ctx = p};
	cr_assert_eq(ag_times_init(&calib, tc_model), 0);
	for (int e = 0; e < calib.n_exits; e++)
		for (int k = 0; k < calib.len[e]; k++)
			calib.ms[e][k] = 0.05;
	c->calibration = &calib;
}

/* Every request ended once: one record per id. */
static void expect_each_once(const struct tc_run *r, int n)
{
	if (getenv("AG_TEST_LOG"))
		ag_summary_json(&r->s, stderr);
	cr_expect_eq(r->n, (size_t)n, "%zu records of %d requests", r->n, n);
	for (size_t i = 0; i < r->n; i++)
		for (size_t j = i + 1; j < r->n; j++)
			cr_expect(r->r[i].agent != r->r[j].agent || r->r[i].id != r->r[j].id,
				  "request %llu ended twice", (unsigned long long)r->r[i].id);
}

Test(udp, hello_is_sent_again_until_welcome)
{
	struct upeer p;
	struct ag_config c;
	struct tc_run r;
	upeer_start(&p);
	p.drop_hellos = 3;
	udp_config(&c, &p, 4);
	cr_assert_eq(tc_run(&c, &r), 0, "%s", r.err);
	expect_each_once(&r, 4);
	cr_expect_eq(r.s.edge, 4);
	cr_expect_eq(r.s.connects, 1);
	cr_expect_eq(p.hellos, 4, "HELLO datagrams %d", p.hellos);
	cr_expect_eq(p.welcomes, 1);
	cr_expect(r.s.udp);
	cr_expect_eq(r.s.udp_stats.timeouts, 3, "%llu RTO expiries",
		     (unsigned long long)r.s.udp_stats.timeouts);
	cr_expect_eq(r.s.udp_stats.retransmissions, 3);
	cr_expect_eq(r.s.udp_stats.fallbacks_after_retries, 0);
	tc_done(&r);
	upeer_stop(&p);
}

Test(udp, dropped_fragments_are_sent_again_selectively)
{
	struct upeer p;
	struct ag_config c;
	struct tc_run r;
	upeer_start(&p);
	p.drop_first = 1u << 2 | 1u << 5; /* two of each INFER's 9 fragments, once */
	udp_config(&c, &p, 3);
	c.action = (struct cf_action){.exit = 2, .partition = 0, .bits = 0};
	c.codec = CC_CODEC_RAW32; /* 3072 floats: 9 fragments */
	cr_assert_eq(tc_run(&c, &r), 0, "%s", r.err);
	expect_each_once(&r, 3);
	cr_expect_eq(r.s.edge, 3);
	for (size_t i = 0; i < r.n; i++)
		cr_expect_gt(r.r[i].bytes, 8 * CW_DG_DEFAULT_PAYLOAD);
	/* the ACKs' gaps name fragments 2 and 5: those two again, nothing else,
	 * and no RTO had to fire */
	cr_expect_eq(r.s.udp_stats.retransmissions, 6, "%llu fragments again",
		     (unsigned long long)r.s.udp_stats.retransmissions);
	cr_expect_eq(r.s.udp_stats.timeouts, 0);
	cr_expect_eq(p.results, 3);
	tc_done(&r);
	upeer_stop(&p);
}

Test(udp, out_of_tries_the_request_runs_on_the_device)
{
	struct upeer p;
	struct ag_config c;
	struct tc_run r;
	upeer_start(&p);
	p.drop_infers = 1;
	udp_config(&c, &p, 2);
	c.action = (struct cf_action){.exit = 2, .partition = 0, .bits = 8};
	c.codec = CC_CODEC_PACKED; /* 3072 bytes: 3 fragments */
	c.udp_tries = 4;
	c.breaker.threshold = 0; /* every request tries */
	cr_assert_eq(tc_run(&c, &r), 0, "%s", r.err);
	expect_each_once(&r, 2);
	cr_expect_eq(r.s.device, 2);
	cr_expect_eq(r.s.fallbacks[AG_FB_TIMEOUT], 2);
	cr_expect_eq(r.s.udp_stats.fallbacks_after_retries, 2);
	/* 4 rounds each: 3 timeouts that resend all 3 fragments, the 4th gives up */
	cr_expect_eq(r.s.udp_stats.timeouts, 6);
	cr_expect_eq(r.s.udp_stats.retransmissions, 18);
	cr_expect_eq(p.infer_dgrams, 24, "INFER datagrams %d", p.infer_dgrams);
	/* each gave up because its tries ran out, not because its deadline did
	 * (a count, not a time: the head's real compute time enters latency_ms) */
	for (size_t i = 0; i < r.n; i++) {
		cr_expect_eq(r.r[i].where, AG_DEVICE);
		cr_expect_eq(r.r[i].reason, AG_FB_TIMEOUT, "request %zu fell back for %d", i,
			     (int)r.r[i].reason);
	}
	cr_expect_eq(r.s.fallbacks[AG_FB_NO_TIME] + r.s.fallbacks[AG_FB_DEADLINE], 0);
	tc_done(&r);
	upeer_stop(&p);
}

Test(udp, a_duplicated_result_counts_once)
{
	struct upeer p;
	struct ag_config c;
	struct tc_run r;
	upeer_start(&p);
	p.dup_results = 1;
	udp_config(&c, &p, 5);
	cr_assert_eq(tc_run(&c, &r), 0, "%s", r.err);
	expect_each_once(&r, 5);
	cr_expect_eq(r.s.edge, 5);
	cr_expect_eq(r.s.late_replies, 0);
	/* each RESULT came as a message and again as a new one (a copy's answer),
	 * each in two datagrams: two duplicate fragments, one duplicate reply */
	cr_expect_eq(r.s.udp_stats.duplicate_datagrams, 10, "%llu",
		     (unsigned long long)r.s.udp_stats.duplicate_datagrams);
	cr_expect_eq(r.s.udp_stats.duplicate_replies, 5, "%llu",
		     (unsigned long long)r.s.udp_stats.duplicate_replies);
	tc_done(&r);
	upeer_stop(&p);
}

Test(udp, at_30_percent_loss_every_request_ends_once)
{
	struct upeer p;
	struct ag_config c;
	struct tc_run r;
	char err[128];
	upeer_start(&p);
	struct cw_fault_config back = {.drop = 0.3, .dup = 0.05, .reorder = 0.05, .seed = 99};
	cr_assert_eq(cw_faults_init(&p.faults, &back, err, sizeof(err)), 0);
	p.inject = 1;
	udp_config(&c, &p, 40);
	c.inflight = 2;
	c.action = (struct cf_action){.exit = 2, .partition = 0, .bits = 8};
	c.codec = CC_CODEC_PACKED; /* 3 fragments */
	c.faults = (struct cw_fault_config){.drop = 0.3, .dup = 0.05, .reorder = 0.05, .seed = 7};
	c.connect_timeout_ms = 5000;
	c.out = getenv("AG_TEST_LOG") ? stderr : NULL;
	cr_assert_eq(tc_run(&c, &r), 0, "%s", r.err);
	expect_each_once(&r, 40);
	cr_expect_eq(r.s.answered, 40);
	cr_expect_eq(r.s.edge + r.s.device, 40);
	cr_expect_gt(r.s.edge, 0);
	cr_expect_gt(r.s.udp_stats.retransmissions, 0);
	cr_expect_gt(r.s.udp_stats.faults.dropped, 0);
	cr_expect_eq(r.s.udp_stats.malformed, 0);
	tc_done(&r);
	upeer_stop(&p);
}

/* The model's smallest tensor between layers, raw16: a one-fragment INFER. */
static void one_fragment(struct ag_config *c)
{
	int be = 0, bp = 1;
	for (int e = 0; e < tc_model->n_exits; e++)
		for (int k = 1; k < tc_model->exit_len[e]; k++)
			if (cr_model_boundary_floats(tc_model, e, k) <
			    cr_model_boundary_floats(tc_model, be, bp))
				be = e, bp = k;
	c->action = (struct cf_action){.exit = be, .partition = bp, .bits = 0};
	c->codec = CC_CODEC_RAW16;
	cr_assert_lt(2 * cr_model_boundary_floats(tc_model, be, bp) + 128, CW_DG_DEFAULT_PAYLOAD);
}

/* The appliance's rule for a one-fragment request answered within its turn: no
 * ACK, the RESULT is it. Each request ends on its RESULT, sent once: nothing
 * again, no RTO. And against an appliance whose ACK comes after the RESULT. */
Test(udp, a_result_ends_a_request_not_acked)
{
	for (int late = 0; late < 2; late++) {
		struct upeer p;
		struct ag_config c;
		struct tc_run r;
		upeer_start(&p);
		p.no_acks = !late;
		p.ack_late = late;
		udp_config(&c, &p, 6);
		one_fragment(&c);
		cr_assert_eq(tc_run(&c, &r), 0, "%s", r.err);
		expect_each_once(&r, 6);
		cr_expect_eq(r.s.edge, 6);
		cr_expect_eq(p.infer_dgrams, 6, "INFER datagrams %d", p.infer_dgrams);
		cr_expect_eq(r.s.udp_stats.retransmissions, 0);
		cr_expect_eq(r.s.udp_stats.timeouts, 0);
		cr_expect_eq(r.s.udp_stats.acks_in, late ? 7 : 1, "ACKs in %llu (the HELLO's)",
			     (unsigned long long)r.s.udp_stats.acks_in);
		cr_expect_eq(r.s.udp_stats.malformed + r.s.udp_stats.stray, 0);
		tc_done(&r);
		upeer_stop(&p);
	}
}

/* The RTT sample of a request its RESULT ended is the round trip net of the
 * edge's own time: the HELLO lost once (no sample from the WELCOME: Karn), the
 * first request served in 300 ms with no ACK, and the second's first copy lost.
 * The RTO that sends it again is the floor (a round trip of microseconds on the
 * test's clock), not 3 x 300 ms (the RTT with the service time in it) nor the
 * backed-off initial 150 ms (no sample). On the scripted clock, not wall time. */
Test(udp, a_result_samples_the_rtt_net_of_the_edge_s_time)
{
	struct upeer p;
	struct ag_config c;
	struct tc_run r;
	upeer_start(&p);
	p.no_acks = 1;
	p.drop_hellos = 1;
	p.serve_us = 300000;
	p.lose_first_from = 2;
	udp_config(&c, &p, 2);
	one_fragment(&c);
	c.deadline_ms = 5000;
	cr_assert_eq(tc_run(&c, &r), 0, "%s", r.err);
	expect_each_once(&r, 2);
	cr_expect_eq(r.s.edge, 2);
	cr_assert(p.t_lost && p.t_again, "request 2 went twice");
	uint64_t rto = p.t_again - p.t_lost;
	cr_expect_geq(rto, CW_DG_RTO_FLOOR_NS);
	cr_expect_lt(rto, 2 * CW_DG_RTO_FLOOR_NS, "sent again after %llu ns",
		     (unsigned long long)rto);
	cr_expect_eq(r.s.udp_stats.timeouts, 2, "the HELLO's and request 2's");
	cr_expect_eq(r.s.udp_stats.retransmissions, 2);
	tc_done(&r);
	upeer_stop(&p);
}

/* Shaped in process over UDP: an INFER's datagrams leave when the emulated
 * uplink has carried them all (its fragments' headers counted), one INFER
 * behind the other. */
Test(udp, the_emulated_uplink_holds_an_infer_s_datagrams)
{
	struct upeer p;
	struct ag_config c;
	struct tc_run r;
	upeer_start(&p);
	udp_config(&c, &p, 4);
	c.action = (struct cf_action){.exit = 2, .partition = 0, .bits = 0};
	c.codec = CC_CODEC_RAW32; /* 9 fragments */
	c.inflight = 2;
	c.interval_ms = 1;
	double rate = 8e6;
	c.link_bps = tc_const_rate;
	c.link_ctx = &rate;
	memset(&r, 0, sizeof(r));
	cr_assert_eq(ag_fleet_create(&c, tc_model, &tc_ds, &r.f, r.err, sizeof(r.err)), 0, "%s",
		     r.err);
	p.mark = 1;
	cr_assert_eq(ag_fleet_run(r.f, r.err, sizeof(r.err)), 0, "%s", r.err);
	r.r = ag_fleet_records(r.f, &r.n);
	ag_fleet_summary(r.f, &r.s);
	expect_each_once(&r, 4);
	cr_expect_eq(r.s.edge, 4);
	double prev_ready = -1, prev_ser = 0;
	for (uint64_t id = 1; id <= 4; id++) {
		const struct ag_record *q = NULL;
		for (size_t i = 0; i < r.n; i++)
			if (r.r[i].id == id)
				q = &r.r[i];
		cr_assert(q);
		/* the message and, per datagram, its fragment header at least */
		double frags = ceil((double)q->bytes / CW_DG_DEFAULT_PAYLOAD);
		double ser = ((double)q->bytes + frags * CW_DG_HEADER_BYTES) * 8 / rate * 1e3;
		cr_expect_geq(q->uplink_ms, ser, "request %llu: %g ms in the uplink, want >= %g",
			      (unsigned long long)id, q->uplink_ms, ser);
		double ready = q->t_sched_ms + q->sched_lag_ms + q->head_ms + q->encode_ms;
		cr_assert_neq(p.infer_at[id], 0);
		double arrived = (double)(p.infer_at[id] - p.t0) / 1e6;
		cr_expect_geq(arrived, ready + ser, "request %llu came at %g, ready at %g + %g",
			      (unsigned long long)id, arrived, ready, ser);
		if (prev_ready >= 0)
			cr_expect_geq(arrived, prev_ready + prev_ser + ser,
				      "request %llu came at %g, not behind the one before",
				      (unsigned long long)id, arrived);
		prev_ready = ready;
		prev_ser = ser;
	}
	tc_done(&r);
	upeer_stop(&p);
}
