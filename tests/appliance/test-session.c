/* The session layer (appliance/session.h) driven by a scripted transport on the
 * test's clock: the order of opens, bytes, closes and flushes is exact, so the
 * cases that a real loop hits only by chance are hit every time.
 *
 * - a peer with replies queued is closed and a new peer arrives before the
 *   flush (the livelock's turn): the new peer gets a fresh slot, the old
 *   replies go nowhere, and the old slot comes back only after the flush;
 * - a send in flight holds the slot and its reply bytes across a close;
 * - the same messages split at every byte boundary give the same replies;
 * - broken framing is answered, then closed once the answer is out, with the
 *   transport told to close exactly once;
 * - a peer silent mid-message is swept when the clock passes the idle limit. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../appliance/session.h"
#include "coinfer/model.h"
#include "coinfer/wire.h"

#define MS 1000000ull

static struct cr_model *model;
static struct ap_server_config cfg;
static _Atomic int stop;
static uint64_t clock_ns;
static int closes[64];

static uint64_t test_clock(void *ctx)
{
	(void)ctx;
	return clock_ns;
}

static void test_close(void *ctx, int i)
{
	(void)ctx;
	closes[i]++;
}

static struct ap_sess *setup(void)
{
	char err[256];
	if (!model)
		cr_assert_eq(cr_model_load(COINFER_SOURCE_ROOT "/models/branchy-alexnet.cfm", &model,
					   err, sizeof(err)), 0, "%s", err);
	ap_server_defaults(&cfg);
	cfg.max_conns = 4;
	cfg.null_model = 1;
	cfg.calibrate_runs = 0;
	cfg.reassembly_buffers = 2;
	cfg.idle_timeout_ms = 1000;
	memset(closes, 0, sizeof(closes));
	clock_ns = 1000 * MS;
	struct ap_sess_config sc = {.cfg = &cfg, .model = model, .stop = &stop,
				    .transport = {.close = test_close}, .clock = test_clock};
	struct ap_sess *s;
	cr_assert_eq(ap_sess_create(&sc, &s, err, sizeof(err)), 0, "%s", err);
	return s;
}

static size_t hello(uint8_t *buf, size_t cap)
{
	struct cw_hello h = {.device_id = 7, .model_checksum = model->checksum, .max_inflight = 4};
	snprintf(h.device_class, sizeof(h.device_class), "test");
	snprintf(h.model, sizeof(h.model), "%s", model->name);
	size_t len;
	cr_assert_eq(cw_encode_hello(buf, cap, &h, &len, NULL, 0), 0);
	return len;
}

static size_t ping(uint8_t *buf, size_t cap, uint64_t nonce)
{
	struct cw_ping p = {.nonce = nonce, .timestamp = 99};
	size_t len;
	cr_assert_eq(cw_encode_ping(buf, cap, &p, &len, NULL, 0), 0);
	return len;
}

/* The transport's end of turn: every queued peer's bytes, appended to out[i]
 * (when out is given), all taken. Returns how many peers had bytes. */
static int flush(struct ap_sess *s, uint8_t out[][1024], size_t *out_len)
{
	int i, n = 0;
	while ((i = ap_conns_pop(ap_sess_slots(s), AP_Q_FLUSH)) >= 0) {
		const uint8_t *p;
		size_t len;
		if (!ap_sess_tx(s, i, &p, &len))
			continue;
		if (out) {
			cr_assert_leq(out_len[i] + len, 1024);
			memcpy(out[i] + out_len[i], p, len);
			out_len[i] += len;
		}
		ap_sess_sent(s, i, len);
		n++;
	}
	return n;
}

/* The types of the messages in bytes, in order. */
static int types(const uint8_t *b, size_t n, enum cw_type *t, int max)
{
	struct cw_limits lim = cw_limits_make(cfg.max_frame, CW_DEFAULT_MAX_PADDING);
	int k = 0;
	while (n && k < max) {
		struct cw_msg m;
		struct cw_header h;
		cr_assert_eq(cw_parse_header(b, n, &lim, &h, NULL, 0), 0);
		cr_assert_eq(cw_decode(b, h.msg_len, &lim, &m, NULL, 0), 0);
		t[k++] = m.type;
		b += h.msg_len;
		n -= h.msg_len;
	}
	return k;
}

Test(session, closed_with_replies_queued_then_a_new_peer_in_the_same_turn)
{
	struct ap_sess *s = setup();
	struct ap_conns *t = ap_sess_slots(s);
	uint8_t msg[256];
	int a = ap_sess_open(s);
	uint32_t gen_a = t->slot[a].gen;
	ap_sess_input(s, a, msg, hello(msg, sizeof(msg)));
	ap_sess_input(s, a, msg, ping(msg, sizeof(msg), 1)); /* WELCOME and PONG queued */
	ap_sess_close(s, a);                                  /* the peer resets */
	cr_assert_eq(closes[a], 1);
	int b = ap_sess_open(s);                              /* a new peer, same turn */
	cr_assert(b >= 0 && b != a, "slot %d reused while queued for the flush", a);
	ap_sess_input(s, b, msg, hello(msg, sizeof(msg)));
	uint8_t out[4][1024];
	size_t out_len[4] = {0};
	cr_assert_eq(flush(s, out, out_len), 1, "only the live peer has bytes to send");
	cr_assert_eq(out_len[a], 0);
	enum cw_type ty[4];
	cr_assert_eq(types(out[b], out_len[b], ty, 4), 1);
	cr_assert_eq(ty[0], CW_WELCOME);
	/* the flush released a: it is reused now, as a new life */
	cr_assert(!ap_conns_current(t, a, gen_a));
	int c = ap_sess_open(s), d = ap_sess_open(s), e = ap_sess_open(s);
	cr_assert(c == a || d == a || e == a);
	cr_assert_eq(ap_sess_open(s), -ENOSPC, "4 slots, every one live");
	cr_assert_eq(closes[a], 1, "one close per life");
	ap_sess_destroy(s);
}

Test(session, send_in_flight_holds_the_slot_and_its_bytes)
{
	struct ap_sess *s = setup();
	struct ap_conns *t = ap_sess_slots(s);
	uint8_t msg[256];
	int a = ap_sess_open(s);
	ap_sess_input(s, a, msg, hello(msg, sizeof(msg)));
	cr_assert_eq(ap_conns_pop(t, AP_Q_FLUSH), a);
	const uint8_t *p;
	size_t len;
	cr_assert(ap_sess_tx(s, a, &p, &len));
	uint8_t copy[256];
	memcpy(copy, p, len);
	ap_conns_op_begin(t, a); /* the kernel reads p now */
	ap_sess_close(s, a);
	for (int k = 0; k < 3; k++)
		cr_assert(ap_sess_open(s) != a, "slot reused under a send in flight");
	cr_assert_eq(memcmp(p, copy, len), 0, "the bytes a send in flight reads were touched");
	ap_conns_op_end(t, a);
	cr_assert_eq(ap_sess_open(s), a);
	ap_sess_destroy(s);
}

Test(session, messages_split_at_every_byte_give_the_same_replies)
{
	uint8_t in[512];
	size_t n = 0;
	struct ap_sess *s = setup();
	n += hello(in, sizeof(in));
	n += ping(in + n, sizeof(in) - n, 5);
	n += ping(in + n, sizeof(in) - n, 6);
	ap_sess_destroy(s);
	uint8_t want[4][1024];
	size_t want_len[4] = {0};
	for (size_t cut = 0; cut <= n; cut++) {
		s = setup();
		int a = ap_sess_open(s);
		ap_sess_input(s, a, in, cut);
		ap_sess_input(s, a, in + cut, n - cut);
		uint8_t out[4][1024];
		size_t out_len[4] = {0};
		flush(s, out, out_len);
		/* each session keys its ids afresh: WELCOME's session id differs */
		cr_assert_geq(out_len[a], CW_HEADER_BYTES + 8);
		memset(out[a] + CW_HEADER_BYTES, 0, 8);
		if (!cut) {
			memcpy(want, out, sizeof(want));
			memcpy(want_len, out_len, sizeof(want_len));
			enum cw_type ty[4];
			cr_assert_eq(types(out[a], out_len[a], ty, 4), 3);
			cr_assert(ty[0] == CW_WELCOME && ty[1] == CW_PONG && ty[2] == CW_PONG);
		}
		cr_assert_eq(out_len[a], want_len[a], "cut at %zu", cut);
		cr_assert_eq(memcmp(out[a], want[a], out_len[a]), 0, "cut at %zu", cut);
		cr_assert_eq(closes[a], 0);
		ap_sess_destroy(s);
	}
}

Test(session, broken_framing_is_answered_then_closed_once)
{
	struct ap_sess *s = setup();
	uint8_t garbage[64];
	memset(garbage, 0xA5, sizeof(garbage));
	int a = ap_sess_open(s);
	ap_sess_input(s, a, garbage, sizeof(garbage));
	cr_assert(!ap_sess_reading(s, a), "a peer whose framing broke is not read any more");
	cr_assert_eq(closes[a], 0, "the answer goes out first");
	uint8_t out[4][1024];
	size_t out_len[4] = {0};
	cr_assert_eq(flush(s, out, out_len), 1);
	enum cw_type ty[2];
	cr_assert_eq(types(out[a], out_len[a], ty, 2), 1);
	cr_assert_eq(ty[0], CW_ERROR);
	cr_assert_eq(closes[a], 1);
	ap_sess_close(s, a); /* the transport's own close after: no second callback */
	cr_assert_eq(closes[a], 1);
	cr_assert_eq(ap_sess_stats(s)->protocol_errors, 1);
	ap_sess_destroy(s);
}

Test(session, silent_mid_message_is_swept_on_the_clock)
{
	struct ap_sess *s = setup();
	uint8_t msg[256];
	size_t n = hello(msg, sizeof(msg));
	int a = ap_sess_open(s), b = ap_sess_open(s);
	ap_sess_input(s, a, msg, n);
	ap_sess_input(s, b, msg, n);
	ap_sess_input(s, a, msg, 5); /* half a header, then nothing */
	clock_ns += 1000 * MS;
	ap_sess_sweep(s);
	cr_assert_eq(closes[a], 0, "at the limit, not past it");
	clock_ns += 1;
	ap_sess_sweep(s);
	cr_assert_eq(closes[a], 1);
	cr_assert_eq(closes[b], 0, "an idle peer between messages is kept");
	ap_sess_destroy(s);
}

/* Session ids name a session in a datagram by themselves (appliance/dgram.h):
 * never 0, never repeated, and not a counter one could step along. */
Test(session, session_ids_are_unique_and_not_a_sequence)
{
	enum { N = 2000 };
	static uint64_t id[N];
	uint8_t in[256];
	struct ap_sess *s = setup(); /* loads the model HELLO names */
	size_t n = hello(in, sizeof(in));
	int steps_equal = 0;
	for (int k = 0; k < N; k++) {
		uint8_t out[4][1024];
		size_t out_len[4] = {0};
		int a = ap_sess_open(s);
		cr_assert_geq(a, 0);
		ap_sess_input(s, a, in, n);
		flush(s, out, out_len);
		cr_assert_geq(out_len[a], CW_HEADER_BYTES + 8);
		cr_assert_eq(out[a][5], CW_WELCOME);
		memcpy(&id[k], out[a] + CW_HEADER_BYTES, 8);
		cr_assert_neq(id[k], 0);
		for (int j = 0; j < k; j++)
			cr_assert_neq(id[j], id[k], "session id repeated");
		if (k >= 2)
			steps_equal += id[k] - id[k - 1] == id[k - 1] - id[k - 2];
		ap_sess_close(s, a);
		flush(s, NULL, NULL);
	}
	cr_assert_lt(steps_equal, 2, "the ids step evenly: a counter");
	ap_sess_destroy(s);
}
