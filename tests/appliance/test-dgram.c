/* appliance/dgram.c under a scripted transport on the test's clock: HELLO before
 * a session opens a peer and WELCOME names it; an INFER in three fragments,
 * sent in every order with copies of fragments and of the whole message, runs
 * once and every copy after the answer gets the same answer; datagrams naming
 * no session are dropped unread; a HELLO sent again gets the same WELCOME; a
 * silent peer is closed, and its session then names nothing. A request in one
 * fragment answered within the turn gets its answer and no ACK; one that is
 * not gets its ACK at the turn's end (the flush), and never after a close. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "../../appliance/dgram.h"
#include "coinfer/bytes.h"
#include "coinfer/codec-frame.h"
#include "coinfer/model.h"
#include "coinfer/wire.h"

#define MS 1000000ull
#define MAX_OUT 256

static struct cr_model *model;
static struct ap_server_config cfg;
static _Atomic int stop;
static uint64_t clock_ns;

/* what the appliance sent: datagrams whole, with their address */
static struct {
	struct ap_dg_addr to;
	uint8_t b[1600];
	size_t len;
} out[MAX_OUT];
static int n_out;

static uint64_t test_clock(void *ctx)
{
	return clock_ns;
}

static int capture(void *ctx, const struct ap_dg_addr *to, const uint8_t *h, size_t hl,
		   const uint8_t *b, size_t bl)
{
	cr_assert_lt(n_out, MAX_OUT);
	cr_assert_leq(hl + bl, sizeof(out[0].b));
	out[n_out].to = *to;
	memcpy(out[n_out].b, h, hl);
	if (bl)
		memcpy(out[n_out].b + hl, b, bl);
	out[n_out++].len = hl + bl;
	return 0;
}

/* acks_later < 0: the default */
static struct ap_dg *setup_with(int acks_later)
{
	char err[256];
	struct ap_dg_config c;
	struct ap_dg *g;
	if (!model)
		cr_assert_eq(cr_model_load(COINFER_SOURCE_ROOT "/models/branchy-alexnet.cfm",
					   &model, err, sizeof(err)),
			     0, "%s", err);
	ap_server_defaults(&cfg);
	cfg.max_conns = 4;
	cfg.null_model = 1;
	cfg.calibrate_runs = 0;
	cfg.max_delay_us = 0;
	clock_ns = 1000 * MS;
	n_out = 0;
	ap_dg_defaults(&c, &cfg);
	c.sess = (struct ap_sess_config){.cfg = &cfg, .model = model, .stop = &stop,
					 .clock = test_clock};
	c.ops = (struct ap_dg_ops){.send = capture};
	if (acks_later >= 0)
		c.acks_later = acks_later;
	cr_assert_eq(ap_dg_create(&c, &g, err, sizeof(err)), 0, "%s", err);
	return g;
}

static struct ap_dg *setup(void)
{
	return setup_with(-1);
}

static struct ap_dg_addr addr(uint8_t who)
{
	struct ap_dg_addr a = {.len = 6, .b = {10, 0, 0, who, 0x1e, 0xc8}};
	return a;
}

/* Fragment k of msg as a datagram, into the appliance. */
static void frag(struct ap_dg *g, struct ap_dg_addr a, uint64_t session, uint32_t id,
		 const uint8_t *msg, size_t len, uint16_t count, uint16_t k)
{
	struct cw_dg d;
	uint8_t b[1600];
	size_t n;
	cr_assert_eq(cw_dg_data(&d, session, id, msg, (uint32_t)len, count, k), 0);
	cr_assert_eq(cw_dg_encode(b, sizeof(b), &d, &n, NULL, 0), 0);
	ap_dg_input(g, &a, b, n, clock_ns);
}

static void send_msg(struct ap_dg *g, struct ap_dg_addr a, uint64_t session, uint32_t id,
		     const uint8_t *msg, size_t len)
{
	uint16_t count;
	cr_assert_eq(cw_dg_frags((uint32_t)len, CW_DG_DEFAULT_PAYLOAD, &count), 0);
	for (uint16_t k = 0; k < count; k++)
		frag(g, a, session, id, msg, len, count, k);
}

/* Runs what is due and flushes the replies. */
static void turn(struct ap_dg *g)
{
	ap_sess_run(ap_dg_sess(g));
	ap_dg_flush(g, clock_ns);
}

/* The CW messages among the captured datagrams from index from on (replies are
 * one fragment each here), by type; the last one's bytes in *last. */
static int count_type(int from, int type, const uint8_t **last)
{
	int n = 0;
	for (int i = from; i < n_out; i++) {
		struct cw_dg d;
		struct cw_dg_limits lim = {1 << 20, CW_DG_MAX_FRAGS};
		cr_assert_eq(cw_dg_decode(out[i].b, out[i].len, &lim, &d, NULL, 0), 0);
		if (d.kind == CW_DG_DATA && d.count == 1 && d.payload[5] == type) {
			n++;
			if (last)
				*last = d.payload;
		}
	}
	return n;
}

/* The ACKs among the captured datagrams from index from on, of message msg_id
 * of session (msg_id 0: of any message of it). */
static int count_acks(int from, uint64_t session, uint32_t msg_id)
{
	int n = 0;
	for (int i = from; i < n_out; i++) {
		struct cw_dg d;
		struct cw_dg_limits lim = {1 << 20, CW_DG_MAX_FRAGS};
		cr_assert_eq(cw_dg_decode(out[i].b, out[i].len, &lim, &d, NULL, 0), 0);
		n += d.kind == CW_DG_ACK && d.session == session && (!msg_id || d.msg_id == msg_id);
	}
	return n;
}

static size_t hello_msg(uint8_t *b, size_t cap)
{
	struct cw_hello h = {.device_id = 7, .model_checksum = model->checksum, .max_inflight = 4};
	size_t len;
	snprintf(h.device_class, sizeof(h.device_class), "test");
	snprintf(h.model, sizeof(h.model), "%s", model->name);
	cr_assert_eq(cw_encode_hello(b, cap, &h, &len, NULL, 0), 0);
	return len;
}

static uint64_t hello_session(struct ap_dg *g, struct ap_dg_addr a)
{
	uint8_t b[256];
	size_t len = hello_msg(b, sizeof(b));
	const uint8_t *w = NULL;
	int from = n_out;
	send_msg(g, a, 0, 1, b, len);
	turn(g);
	cr_assert_eq(count_type(from, CW_WELCOME, &w), 1);
	uint64_t s = le_rd64(w + CW_HEADER_BYTES);
	cr_assert_neq(s, 0);
	cr_assert_eq(le_rd64(out[n_out - 1].b + 4), s, "WELCOME's datagram names the session");
	cr_assert_eq(memcmp(&out[n_out - 1].to, &a, sizeof(a)), 0);
	return s;
}

/* An INFER with a 3x32x32 frame at 8 bits: a few thousand bytes, 3 fragments. */
static size_t infer(uint8_t *buf, size_t cap, uint64_t id)
{
	static float img[3 * 32 * 32];
	const uint32_t dims[3] = {3, 32, 32};
	size_t flen, len;
	for (int i = 0; i < 3 * 32 * 32; i++)
		img[i] = (float)((i * 7919) % 255) / 255.0f;
	cr_assert_eq(cc_frame_encode(img, 3, dims, CC_CODEC_RAW16, 0, 0,
				     buf + CW_INFER_PREFIX_BYTES, cap - CW_INFER_PREFIX_BYTES,
				     &flen, NULL, 0),
		     0);
	struct cw_infer in = {.request_id = id, .deadline_us = 5000000, .frame_len = flen,
			      .action = {.exit = 0, .partition = 0, .bits = 0}};
	cr_assert_eq(cw_encode_infer_header(buf, cap, &in, &len, NULL, 0), 0);
	return len;
}

Test(dgram, hello_opens_a_session_and_a_hello_again_gets_the_same_welcome)
{
	struct ap_dg *g = setup();
	struct ap_dg_addr a = addr(1);
	uint64_t s = hello_session(g, a);
	uint8_t b[256];
	size_t len = hello_msg(b, sizeof(b));
	const uint8_t *w;
	int from = n_out;
	send_msg(g, a, 0, 1, b, len); /* the same message again: its WELCOME was lost */
	turn(g);
	cr_assert_eq(count_type(from, CW_WELCOME, &w), 1);
	cr_assert_eq(le_rd64(w + CW_HEADER_BYTES), s);
	ap_dg_destroy(g);
}

Test(dgram, an_infer_runs_once_whatever_the_copies)
{
	static uint8_t msg[1 << 16];
	struct ap_dg *g = setup();
	struct ap_dg_addr a = addr(2);
	uint64_t s = hello_session(g, a);
	size_t len = infer(msg, sizeof(msg), 42);
	uint16_t count;
	cr_assert_eq(cw_dg_frags((uint32_t)len, CW_DG_DEFAULT_PAYLOAD, &count), 0);
	cr_assert_geq(count, 3, "a %zu-byte INFER", len);
	int from = n_out;
	/* the message twice under one id, then twice under another (the agent sent
	 * it whole again), each time in another order (forward, backward, rotated
	 * by one and by two) with its first fragment copied */
	for (int r = 0; r < 4; r++) {
		for (int k = 0; k < count; k++) {
			int at = r == 1 ? count - 1 - k : (k + (r > 1 ? r - 1 : 0)) % count;
			frag(g, a, s, 2 + (uint32_t)(r / 2), msg, len, count, (uint16_t)at);
			if (k == 0)
				frag(g, a, s, 2 + (uint32_t)(r / 2), msg, len, count, (uint16_t)at);
		}
		turn(g);
	}
	const uint8_t *res = NULL, *first = NULL;
	cr_assert_geq(count_type(from, CW_RESULT, &first), 1);
	cr_assert_eq(le_rd64(first + CW_HEADER_BYTES), 42);
	const struct ap_stats *st = ap_sess_stats(ap_dg_sess(g));
	cr_assert_eq(atomic_load(&st->requests), 1, "the request ran once");
	/* after the answer: a copy gets the same answer, byte for byte */
	int before = count_type(from, CW_RESULT, NULL);
	send_msg(g, a, s, 9, msg, len);
	turn(g);
	cr_assert_eq(count_type(from, CW_RESULT, &res), before + 1);
	cr_assert_eq(memcmp(res, first, CW_HEADER_BYTES + le_rd32(first + 8)), 0);
	cr_assert_eq(atomic_load(&st->requests), 1);
	struct ap_dg_stats ds;
	ap_dg_stats(g, &ds);
	cr_assert_geq(ds.copies_answered, 1);
	cr_assert_geq(ds.acks_out, 1, "a message in fragments is acknowledged");
	ap_dg_destroy(g);
}

Test(dgram, datagrams_of_no_session_are_dropped)
{
	static uint8_t msg[1 << 16];
	struct ap_dg *g = setup();
	struct ap_dg_addr a = addr(3);
	uint64_t s = hello_session(g, a);
	size_t len = infer(msg, sizeof(msg), 7);
	int from = n_out;
	send_msg(g, a, s ^ 1, 2, msg, len); /* a guessed session */
	uint8_t junk[40] = "not a datagram at all";
	ap_dg_input(g, &a, junk, sizeof(junk), clock_ns);
	turn(g);
	cr_assert_eq(n_out, from, "nothing answered");
	struct ap_dg_stats ds;
	ap_dg_stats(g, &ds);
	uint16_t count;
	cr_assert_eq(cw_dg_frags((uint32_t)len, CW_DG_DEFAULT_PAYLOAD, &count), 0);
	cr_assert_eq(ds.unknown_session, count, "every fragment dropped");
	cr_assert_eq(ds.malformed, 1);
	cr_assert_eq(atomic_load(&ap_sess_stats(ap_dg_sess(g))->requests), 0);
	ap_dg_destroy(g);
}

Test(dgram, a_silent_peer_is_closed)
{
	static uint8_t msg[1 << 16];
	struct ap_dg *g = setup();
	struct ap_dg_addr a = addr(4);
	uint64_t s = hello_session(g, a);
	clock_ns += 31000 * MS;
	ap_dg_tick(g, clock_ns);
	struct ap_dg_stats ds;
	ap_dg_stats(g, &ds);
	cr_assert_eq(ds.idle_closed, 1);
	size_t len = infer(msg, sizeof(msg), 8);
	send_msg(g, a, s, 2, msg, len);
	turn(g);
	ap_dg_stats(g, &ds);
	uint16_t count;
	cr_assert_eq(cw_dg_frags((uint32_t)len, CW_DG_DEFAULT_PAYLOAD, &count), 0);
	cr_assert_eq(ds.unknown_session, count, "the closed session names nothing");
	/* and the slot serves a new device */
	hello_session(g, addr(5));
	ap_dg_destroy(g);
}

/* An agent awaiting a lost reply sends fragment 0 again, on a timer that may
 * outlast the reassembler's memory of the message: a fragment 0 that starts
 * the message over still gets the answer from the cache, and runs nothing. */
Test(dgram, fragment_0_of_a_forgotten_request_gets_its_answer)
{
	static uint8_t msg[1 << 16];
	struct ap_dg *g = setup();
	struct ap_dg_addr a = addr(6);
	uint64_t s = hello_session(g, a);
	size_t len = infer(msg, sizeof(msg), 77);
	uint16_t count;
	cr_assert_eq(cw_dg_frags((uint32_t)len, CW_DG_DEFAULT_PAYLOAD, &count), 0);
	cr_assert_gt(count, 1);
	int from = n_out;
	send_msg(g, a, s, 2, msg, len);
	turn(g);
	const uint8_t *first = NULL, *again = NULL;
	cr_assert_eq(count_type(from, CW_RESULT, &first), 1);
	clock_ns += 2000 * MS; /* past the reassembly timeout: message 2 is forgotten */
	ap_dg_tick(g, clock_ns);
	from = n_out;
	frag(g, a, s, 2, msg, len, count, 0);
	turn(g);
	cr_assert_eq(count_type(from, CW_RESULT, &again), 1, "fragment 0 again: no answer");
	cr_assert_eq(memcmp(again, first, CW_HEADER_BYTES + le_rd32(first + 8)), 0);
	cr_assert_eq(atomic_load(&ap_sess_stats(ap_dg_sess(g))->requests), 1);
	ap_dg_destroy(g);
}

/* An INFER of the model's smallest tensor between layers: one fragment. */
static size_t small_infer(uint8_t *buf, size_t cap, uint64_t id)
{
	static float x[4096];
	int be = 0, bp = 1;
	for (int e = 0; e < model->n_exits; e++)
		for (int p = 1; p < model->exit_len[e]; p++)
			if (cr_model_boundary_floats(model, e, p) <
			    cr_model_boundary_floats(model, be, bp))
				be = e, bp = p;
	uint32_t n = (uint32_t)cr_model_boundary_floats(model, be, bp);
	size_t flen, len;
	cr_assert_leq(n, sizeof(x) / sizeof(x[0]));
	cr_assert_eq(cc_frame_encode(x, 1, &n, CC_CODEC_RAW16, 0, 0, buf + CW_INFER_PREFIX_BYTES,
				     cap - CW_INFER_PREFIX_BYTES, &flen, NULL, 0),
		     0);
	struct cw_infer in = {.request_id = id, .deadline_us = 5000000, .frame_len = flen,
			      .action = {.exit = (uint8_t)be, .partition = (uint8_t)bp}};
	cr_assert_eq(cw_encode_infer_header(buf, cap, &in, &len, NULL, 0), 0);
	cr_assert_leq(len, CW_DG_DEFAULT_PAYLOAD, "one fragment");
	return len;
}

static uint64_t acks_skipped(struct ap_dg *g)
{
	struct ap_dg_stats ds;
	ap_dg_stats(g, &ds);
	return ds.acks_deferred_answered;
}

/* A session from address who and its one-fragment INFER id, sent as message 2
 * (the turn not flushed yet); from: the captured datagrams before the INFER. */
struct one {
	struct ap_dg *g;
	struct ap_dg_addr a;
	uint64_t s;
	uint8_t msg[2048];
	size_t len;
	int from;
};

static void one_request(struct one *o, int acks_later, uint8_t who, uint64_t id)
{
	o->g = setup_with(acks_later);
	o->a = addr(who);
	o->s = hello_session(o->g, o->a);
	o->len = small_infer(o->msg, sizeof(o->msg), id);
	o->from = n_out;
	frag(o->g, o->a, o->s, 2, o->msg, o->len, 1, 0);
}

Test(dgram, a_one_fragment_request_answered_in_the_turn_gets_no_ack)
{
	struct one o;
	one_request(&o, -1, 7, 11);
	cr_assert_eq(n_out, o.from, "its ACK waits for the end of the turn");
	turn(o.g);
	cr_assert_eq(count_type(o.from, CW_RESULT, NULL), 1);
	cr_assert_eq(count_acks(o.from, o.s, 0), 0, "the RESULT is the ACK");
	cr_assert_eq(acks_skipped(o.g), 1);
	ap_dg_destroy(o.g);
}

Test(dgram, a_one_fragment_request_not_answered_in_the_turn_gets_its_ack_at_the_flush)
{
	struct one o;
	one_request(&o, -1, 8, 12);
	ap_dg_flush(o.g, clock_ns); /* a turn whose batches did not run */
	cr_assert_eq(count_acks(o.from, o.s, 2), 1);
	cr_assert_eq(count_type(o.from, CW_RESULT, NULL), 0);
	turn(o.g);
	cr_assert_eq(count_type(o.from, CW_RESULT, NULL), 1);
	cr_assert_eq(count_acks(o.from, o.s, 0), 1, "ACKed once, then answered");
	cr_assert_eq(acks_skipped(o.g), 0);
	ap_dg_destroy(o.g);
}

/* Copies: the same message again (the reassembler remembers it) and under a new
 * id (it does not): each ACKed and answered from the cache, never run again; a
 * copy while the request runs is ACKed once. */
Test(dgram, copies_of_a_one_fragment_request_get_the_cache_s_answer)
{
	struct one o;
	const uint8_t *first = NULL, *again = NULL;
	one_request(&o, -1, 9, 13);
	struct ap_dg *g = o.g;
	turn(g);
	cr_assert_eq(count_type(o.from, CW_RESULT, &first), 1);
	for (uint32_t id = 2; id <= 3; id++) {
		int from = n_out;
		frag(g, o.a, o.s, id, o.msg, o.len, 1, 0);
		turn(g);
		cr_assert_eq(count_type(from, CW_RESULT, &again), 1);
		cr_assert_eq(memcmp(again, first, CW_HEADER_BYTES + le_rd32(first + 8)), 0);
		cr_assert_eq(count_acks(from, o.s, id), 1, "a copy is ACKed at once");
	}
	size_t len = small_infer(o.msg, sizeof(o.msg), 14);
	int from = n_out;
	frag(g, o.a, o.s, 4, o.msg, len, 1, 0);
	ap_dg_flush(g, clock_ns);
	frag(g, o.a, o.s, 5, o.msg, len, 1, 0);
	cr_assert_eq(count_acks(from, o.s, 5), 1, "a copy while it runs: one ACK");
	turn(g);
	cr_assert_eq(count_type(from, CW_RESULT, NULL), 1);
	cr_assert_eq(atomic_load(&ap_sess_stats(ap_dg_sess(g))->requests), 2);
	ap_dg_destroy(g);
}

Test(dgram, beyond_the_acks_left_for_later_a_request_is_acked_at_once)
{
	struct one o;
	one_request(&o, 2, 10, 20);
	for (uint32_t k = 1; k < 3; k++) {
		size_t len = small_infer(o.msg, sizeof(o.msg), 20 + k);
		frag(o.g, o.a, o.s, 2 + k, o.msg, len, 1, 0);
	}
	cr_assert_eq(count_acks(o.from, o.s, 4), 1, "the third: no room left, ACKed at once");
	cr_assert_eq(n_out, o.from + 1);
	turn(o.g);
	cr_assert_eq(count_type(o.from, CW_RESULT, NULL), 3);
	cr_assert_eq(count_acks(o.from, o.s, 0), 1);
	cr_assert_eq(acks_skipped(o.g), 2);
	ap_dg_destroy(o.g);
}

Test(dgram, a_peer_closed_before_the_flush_gets_no_ack)
{
	struct one o;
	one_request(&o, -1, 11, 30);
	struct ap_dg *g = o.g;
	struct ap_dg_addr a = o.a;
	int from = o.from;
	clock_ns += 31000 * MS; /* a turn long enough for its peer to fall silent */
	ap_dg_tick(g, clock_ns);
	turn(g);
	cr_assert_eq(n_out, from, "nothing to a closed peer");
	/* a device that started over (a new HELLO) in the same turn: its slot
	 * holds another session at the flush */
	uint64_t s = hello_session(g, a);
	from = n_out;
	frag(g, a, s, 2, o.msg, o.len, 1, 0);
	uint8_t b[256];
	send_msg(g, a, 0, 99, b, hello_msg(b, sizeof(b)));
	turn(g);
	cr_assert_eq(count_acks(from, s, 0), 0, "the old session is not ACKed");
	cr_assert_eq(count_type(from, CW_WELCOME, NULL), 1);
	ap_dg_destroy(g);
}
