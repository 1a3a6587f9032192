/* Device identity in the session layer (docs/protocol.md, "Device identity"):
 * only a device that answers CHALLENGE with its own key is ever served an
 * INFER; no key, a wrong key, a replayed AUTH, a revoked key and an unknown
 * device are refused with their ERROR and counted; HELLOs over the rate limit
 * are refused; no reply carries a key. The same over datagrams (appliance/
 * dgram.c): CHALLENGE and AUTH in session 0, an AUTH only from the address of
 * a pending HELLO, copies of HELLO and AUTH answered with the same CHALLENGE
 * and WELCOME. On the test's clock: no wall time. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "auth.h"
#include "dgram.h"
#include "coinfer/codec-frame.h"
#include "coinfer/model.h"
#include "coinfer/wire-keys.h"
#include "coinfer/wire.h"
#include "session.h"

#define MS 1000000ull

static struct cr_model *model;
static struct ap_server_config cfg;
static _Atomic int stop;
static uint64_t clock_ns;
static uint8_t key_good[32], key_revoked[32], key_other[32];
static char keys_path[64];
static struct ap_keys *keys;

static uint64_t test_clock(void *ctx)
{
	(void)ctx;
	return clock_ns;
}

static void test_close(void *ctx, int i)
{
	(void)ctx, (void)i;
}

/* A key file: device 1 good, device 2 revoked (device 3 has none). */
static void write_keys(void)
{
	struct cw_key_entry e[2] = {{.device_id = 1}, {.device_id = 2, .revoked = 1}};
	char line[CW_KEYS_LINE_MAX];
	randombytes_buf(key_good, 32);
	randombytes_buf(key_revoked, 32);
	randombytes_buf(key_other, 32);
	memcpy(e[0].key, key_good, 32);
	memcpy(e[1].key, key_revoked, 32);
	snprintf(keys_path, sizeof(keys_path), "/tmp/coinfer-test-keys-XXXXXX");
	int fd = mkstemp(keys_path); /* mode 0600 */
	cr_assert_geq(fd, 0);
	FILE *f = fdopen(fd, "w");
	fputs("# test fleet\n\n", f);
	for (int i = 0; i < 2; i++) {
		cr_assert_gt(cw_keys_format(&e[i], line, sizeof(line)), 0);
		fputs(line, f);
	}
	fclose(f);
}

/* Over datagrams (dg set): what the tests send goes from address dg_from in
 * session dg_session under message id dg_id, then dg_id counts on; dg_last
 * keeps it to send again as a copy. The appliance's datagrams are captured. */
static struct ap_dg *dg;
static struct ap_dg_addr dg_from;
static uint64_t dg_session;
static uint32_t dg_id = 100;
static struct {
	uint8_t b[16384];
	size_t len;
	uint32_t id;
} dg_last;
static struct {
	struct ap_dg_addr to;
	uint8_t b[1600];
	size_t len;
} dg_out[64];
static int dg_n;

static void dg_send_as(uint32_t id, const uint8_t *b, size_t len)
{
	uint16_t count;
	uint8_t d[1600];
	size_t n;
	struct cw_dg m;
	cr_assert_eq(cw_dg_frags((uint32_t)len, CW_DG_DEFAULT_PAYLOAD, &count), 0);
	for (uint16_t k = 0; k < count; k++) {
		cr_assert_eq(cw_dg_data(&m, dg_session, id, b, (uint32_t)len, count, k), 0);
		cr_assert_eq(cw_dg_encode(d, sizeof(d), &m, &n, NULL, 0), 0);
		ap_dg_input(dg, &dg_from, d, n, clock_ns);
	}
}

static void deliver(struct ap_sess *s, int i, const uint8_t *b, size_t len)
{
	if (!dg) {
		ap_sess_input(s, i, b, len);
		return;
	}
	memcpy(dg_last.b, b, len);
	dg_last.len = len;
	dg_last.id = dg_id;
	dg_send_as(dg_id++, b, len);
}

static int dg_capture(void *ctx, const struct ap_dg_addr *to, const uint8_t *h, size_t hl,
		      const uint8_t *b, size_t bl)
{
	(void)ctx;
	cr_assert_lt(dg_n, 64);
	dg_out[dg_n].to = *to;
	memcpy(dg_out[dg_n].b, h, hl);
	if (bl)
		memcpy(dg_out[dg_n].b + hl, b, bl);
	dg_out[dg_n++].len = hl + bl;
	return 0;
}

static struct ap_sess *setup(void)
{
	char err[256];
	cr_assert_geq(sodium_init(), 0);
	if (!model)
		cr_assert_eq(cr_model_load(COINFER_SOURCE_ROOT "/models/branchy-alexnet.cfm",
					   &model, err, sizeof(err)), 0, "%s", err);
	write_keys();
	cr_assert_eq(ap_keys_load(keys_path, &keys, err, sizeof(err)), 0, "%s", err);
	ap_server_defaults(&cfg);
	cfg.max_conns = 16;
	cfg.null_model = 1;
	cfg.calibrate_runs = 0;
	cfg.max_delay_us = 0; /* a batch runs at once */
	cfg.auth = 1;
	cfg.keys = keys;
	clock_ns = 1000 * MS;
	struct ap_sess_config sc = {.cfg = &cfg, .model = model, .stop = &stop,
				    .transport = {.close = test_close}, .clock = test_clock};
	struct ap_sess *s;
	if (dg) { /* the datagram layer makes the session, its transport */
		struct ap_dg_config c;
		ap_dg_defaults(&c, &cfg);
		c.sess = sc;
		c.ops = (struct ap_dg_ops){.send = dg_capture};
		cr_assert_eq(ap_dg_create(&c, &dg, err, sizeof(err)), 0, "%s", err);
		return ap_dg_sess(dg);
	}
	cr_assert_eq(ap_sess_create(&sc, &s, err, sizeof(err)), 0, "%s", err);
	return s;
}

static void teardown(struct ap_sess *s)
{
	if (dg)
		ap_dg_destroy(dg);
	else
		ap_sess_destroy(s);
	dg = NULL;
	ap_keys_free(keys);
	unlink(keys_path);
}

static struct cw_hello hello_of(uint64_t id, int nonce)
{
	struct cw_hello h = {.device_id = id, .model_checksum = model->checksum, .max_inflight = 4,
			     .has_nonce = (uint8_t)nonce};
	snprintf(h.device_class, sizeof(h.device_class), "rpi4");
	snprintf(h.model, sizeof(h.model), "%s", model->name);
	if (nonce)
		randombytes_buf(h.nonce, sizeof(h.nonce));
	return h;
}

static void send_hello(struct ap_sess *s, int i, const struct cw_hello *h)
{
	uint8_t b[256];
	size_t len;
	cr_assert_eq(cw_encode_hello(b, sizeof(b), h, &len, NULL, 0), 0);
	deliver(s, i, b, len);
}

/* The device's side of AUTH: HMAC-SHA-256 under key over the transcript. */
static void send_auth(struct ap_sess *s, int i, const struct cw_hello *h, const uint8_t *snonce,
		      const uint8_t *key, struct cw_auth *sent)
{
	uint8_t t[CW_AUTH_TRANSCRIPT_MAX], b[64];
	size_t tlen, len;
	struct cw_auth a;
	cr_assert_eq(cw_auth_transcript(t, sizeof(t), h, snonce, &tlen), 0);
	crypto_auth_hmacsha256(a.mac, t, tlen, key);
	if (sent)
		*sent = a;
	cr_assert_eq(cw_encode_auth(b, sizeof(b), &a, &len, NULL, 0), 0);
	deliver(s, i, b, len);
}

static void send_raw_auth(struct ap_sess *s, int i, const struct cw_auth *a)
{
	uint8_t b[64];
	size_t len;
	cr_assert_eq(cw_encode_auth(b, sizeof(b), a, &len, NULL, 0), 0);
	deliver(s, i, b, len);
}

static void send_infer(struct ap_sess *s, int i, uint64_t id)
{
	static float img[3 * 32 * 32];
	static uint8_t buf[16384];
	const uint32_t dims[3] = {3, 32, 32};
	size_t flen, len;
	cr_assert_eq(cc_frame_encode(img, 3, dims, CC_CODEC_RAW16, 0, 0,
				     buf + CW_INFER_PREFIX_BYTES, sizeof(buf) - CW_INFER_PREFIX_BYTES,
				     &flen, NULL, 0), 0);
	struct cw_infer in = {.request_id = id, .deadline_us = 5000000, .frame_len = flen};
	cr_assert_eq(cw_encode_infer_header(buf, sizeof(buf), &in, &len, NULL, 0), 0);
	deliver(s, i, buf, len);
}

/* Replies of the turn, decoded; the raw bytes are scanned for the keys. */
struct replies {
	struct cw_msg m[16];
	int n;
};

static int key_in(const uint8_t *p, size_t len)
{
	const uint8_t *k[3] = {key_good, key_revoked, key_other};
	char hex[65];
	for (int j = 0; j < 3; j++) {
		for (int b = 0; b < 32; b++)
			snprintf(hex + 2 * b, 3, "%02x", k[j][b]);
		if (memmem(p, len, k[j], 32) || memmem(p, len, hex, 64))
			return 1;
	}
	return 0;
}

static void take(struct ap_sess *s, int want, struct replies *r)
{
	static uint8_t copy[1 << 16];
	struct cw_limits lim = cw_limits_default();
	const uint8_t *p;
	size_t len;
	int i;
	r->n = 0;
	ap_sess_run(s);
	while ((i = ap_conns_pop(ap_sess_slots(s), AP_Q_FLUSH)) >= 0) {
		if (!ap_sess_tx(s, i, &p, &len))
			continue;
		cr_assert(!key_in(p, len), "a reply carries a device key");
		memcpy(copy, p, len);
		ap_sess_sent(s, i, len);
		if (i != want)
			continue;
		for (size_t off = 0; off < len && r->n < 16;) {
			struct cw_header h;
			cr_assert_eq(cw_parse_header(copy + off, len - off, &lim, &h, NULL, 0), 0);
			cr_assert_eq(cw_decode(copy + off, h.msg_len, &lim, &r->m[r->n++], NULL, 0), 0);
			off += h.msg_len;
		}
	}
}

static int count(const struct replies *r, enum cw_type t)
{
	int n = 0;
	for (int k = 0; k < r->n; k++)
		n += r->m[k].type == t;
	return n;
}

static void expect_error(const struct replies *r, int code)
{
	cr_assert_geq(r->n, 1);
	cr_assert_eq(r->m[0].type, CW_ERROR);
	cr_assert_eq(r->m[0].error.code, code, "ERROR %s: %s", cw_error_name(r->m[0].error.code),
		     r->m[0].error.msg);
}

/* After a refusal, an INFER on the connection is never served. */
static void infer_refused(struct ap_sess *s, int i)
{
	struct replies r;
	send_infer(s, i, 99);
	take(s, i, &r);
	cr_assert_eq(count(&r, CW_RESULT), 0);
}

/* A new connection's HELLO of device id (with a client nonce or not) is
 * refused with code, and an INFER after it is not served. */
static void refused_at_hello(struct ap_sess *s, uint64_t id, int nonce, int code)
{
	struct replies r;
	int i = ap_sess_open(s);
	struct cw_hello h = hello_of(id, nonce);
	send_hello(s, i, &h);
	take(s, i, &r);
	expect_error(&r, code);
	infer_refused(s, i);
}

Test(auth, only_the_device_that_proves_its_key_is_served)
{
	struct ap_sess *s = setup();
	struct replies r;
	struct cw_auth recorded;

	/* a good device: CHALLENGE, AUTH, WELCOME, then its INFER runs */
	int good = ap_sess_open(s);
	struct cw_hello h = hello_of(1, 1);
	send_hello(s, good, &h);
	take(s, good, &r);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(r.m[0].type, CW_CHALLENGE);
	uint8_t snonce[32];
	memcpy(snonce, r.m[0].challenge.nonce, 32);
	send_auth(s, good, &h, snonce, key_good, &recorded);
	take(s, good, &r);
	cr_assert_eq(count(&r, CW_WELCOME), 1);
	send_infer(s, good, 1);
	take(s, good, &r);
	cr_assert_eq(count(&r, CW_RESULT), 1);

	/* the same AUTH again on the served connection: the nonce is spent */
	send_raw_auth(s, good, &recorded);
	take(s, good, &r);
	expect_error(&r, CW_ERR_NO_SESSION);

	/* no key: a HELLO without a client nonce */
	refused_at_hello(s, 1, 0, CW_ERR_AUTH_FAILED);

	/* a wrong key */
	clock_ns += 1000 * MS; /* the device id's HELLO budget refills */
	int wrong = ap_sess_open(s);
	struct cw_hello hw = hello_of(1, 1);
	send_hello(s, wrong, &hw);
	take(s, wrong, &r);
	cr_assert_eq(r.m[0].type, CW_CHALLENGE);
	send_auth(s, wrong, &hw, r.m[0].challenge.nonce, key_other, NULL);
	take(s, wrong, &r);
	expect_error(&r, CW_ERR_AUTH_FAILED);
	infer_refused(s, wrong);

	/* a replay: the good device's HELLO and AUTH recorded, played again */
	clock_ns += 1000 * MS;
	int replay = ap_sess_open(s);
	send_hello(s, replay, &h);
	take(s, replay, &r);
	cr_assert_eq(r.m[0].type, CW_CHALLENGE);
	cr_assert_neq(memcmp(r.m[0].challenge.nonce, snonce, 32), 0, "a server nonce came twice");
	send_raw_auth(s, replay, &recorded);
	take(s, replay, &r);
	expect_error(&r, CW_ERR_AUTH_FAILED);
	infer_refused(s, replay);

	/* an INFER while the CHALLENGE waits is not served either */
	clock_ns += 1000 * MS;
	int early = ap_sess_open(s);
	struct cw_hello he = hello_of(1, 1);
	send_hello(s, early, &he);
	take(s, early, &r);
	infer_refused(s, early);

	/* revoked, unknown */
	refused_at_hello(s, 2, 1, CW_ERR_REVOKED);
	refused_at_hello(s, 3, 1, CW_ERR_UNKNOWN_DEVICE);

	const struct ap_stats *st = ap_sess_stats(s);
	cr_assert_eq(st->requests, 1, "only the good device's INFER was queued");
	cr_assert_eq(st->results, 1);
	cr_assert_eq(st->auth_ok, 1);
	cr_assert_eq(st->auth_failed, 3);
	cr_assert_eq(st->auth_revoked, 1);
	cr_assert_eq(st->auth_unknown, 1);
	teardown(s);
}

Test(auth, an_expired_challenge_fails)
{
	struct ap_sess *s = setup();
	struct replies r;
	int i = ap_sess_open(s);
	struct cw_hello h = hello_of(1, 1);
	send_hello(s, i, &h);
	take(s, i, &r);
	clock_ns += (uint64_t)cfg.auth_timeout_ms * MS + 1;
	send_auth(s, i, &h, r.m[0].challenge.nonce, key_good, NULL);
	take(s, i, &r);
	expect_error(&r, CW_ERR_AUTH_FAILED);
	cr_assert(strstr(r.m[0].error.msg, "expired"), "%s", r.m[0].error.msg);
	teardown(s);
}

Test(auth, hellos_over_the_rate_are_refused_and_counted)
{
	struct ap_sess *s = setup();
	struct replies r;
	int limited = 0;
	/* one device id, one instant: the burst (2 x auth_rate_device) passes */
	for (int k = 0; k < 10; k++) {
		int i = ap_sess_open(s);
		struct cw_hello h = hello_of(1, 1);
		send_hello(s, i, &h);
		take(s, i, &r);
		limited += r.m[0].type == CW_ERROR && r.m[0].error.code == CW_ERR_RATE_LIMITED;
		ap_sess_close(s, i);
	}
	cr_assert_eq(limited, 10 - 2 * (int)cfg.auth_rate_device);
	cr_assert_eq(ap_sess_stats(s)->auth_rate_limited, (uint64_t)limited);
	/* a second later the budget is back */
	clock_ns += 1000 * MS;
	int i = ap_sess_open(s);
	struct cw_hello h = hello_of(1, 1);
	send_hello(s, i, &h);
	take(s, i, &r);
	cr_assert_eq(r.m[0].type, CW_CHALLENGE);
	teardown(s);
}

Test(auth, a_key_file_others_can_read_is_refused_naming_it)
{
	char err[256];
	struct ap_keys *k;
	cr_assert_geq(sodium_init(), 0);
	write_keys();
	chmod(keys_path, 0644);
	cr_assert_eq(ap_keys_load(keys_path, &k, err, sizeof(err)), -EPERM);
	cr_assert(strstr(err, keys_path) && strstr(err, "0644"), "%s", err);
	unlink(keys_path);
}

Test(auth, a_malformed_key_line_names_the_file_and_line_not_the_key)
{
	struct cw_key_entry e;
	char err[256];
	const char *bad = "12 00112233 revoked";
	cr_assert_eq(cw_keys_line(bad, strlen(bad), "f.keys", 4, &e, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "f.keys:4: key"), "%s", err);
	cr_assert_null(strstr(err, "00112233"), "%s", err);
	const char *state = "12 0000000000000000000000000000000000000000000000000000000000000000 x";
	cr_assert_eq(cw_keys_line(state, strlen(state), "f.keys", 5, &e, err, sizeof(err)),
		     -EINVAL);
	cr_assert_eq(cw_keys_line("# c", 3, "f.keys", 6, &e, err, sizeof(err)), 0);
}

/* ---- over datagrams ------------------------------------------------------ */

static struct ap_dg_addr dg_addr(uint8_t who)
{
	struct ap_dg_addr a = {.len = 6, .b = {10, 0, 0, who, 0x1e, 0xc8}};
	return a;
}

/* The turn's messages to the current address (one fragment each), decoded;
 * the session of the last DATA in *session. */
static void dg_take(struct replies *r, uint64_t *session)
{
	struct cw_limits lim = cw_limits_default();
	struct cw_dg_limits dl = {1 << 20, CW_DG_MAX_FRAGS};
	ap_sess_run(ap_dg_sess(dg));
	ap_dg_flush(dg, clock_ns);
	r->n = 0;
	for (int k = 0; k < dg_n; k++) {
		struct cw_dg d;
		cr_assert(!key_in(dg_out[k].b, dg_out[k].len), "a datagram carries a device key");
		cr_assert_eq(cw_dg_decode(dg_out[k].b, dg_out[k].len, &dl, &d, NULL, 0), 0);
		if (d.kind != CW_DG_DATA || memcmp(&dg_out[k].to, &dg_from, sizeof(dg_from)) ||
		    r->n == 16)
			continue;
		cr_assert_eq(d.count, 1);
		cr_assert_eq(cw_decode(d.payload, d.payload_len, &lim, &r->m[r->n++], NULL, 0), 0);
		if (session)
			*session = d.session;
	}
	dg_n = 0;
}

/* From address who, a HELLO of device id: the replies to it. */
static void dg_hello(struct ap_sess *s, uint8_t who, const struct cw_hello *h, struct replies *r)
{
	dg_from = dg_addr(who);
	dg_session = 0;
	send_hello(s, -1, h);
	dg_take(r, NULL);
}

/* An INFER from the current address in session: never served. A refused
 * device has no session: session 0 cannot carry an INFER (the encoder refuses
 * it), so it tries a guessed one. */
#define GUESS 0x5eed5eed5eed5eedull
static void dg_infer_refused(struct ap_sess *s, uint64_t session)
{
	struct replies r;
	dg_session = session;
	send_infer(s, -1, 99);
	dg_take(&r, NULL);
	cr_assert_eq(count(&r, CW_RESULT), 0);
}

Test(auth_dgram, only_the_device_that_proves_its_key_is_served)
{
	dg = (struct ap_dg *)1; /* setup makes the datagram layer */
	struct ap_sess *s = setup();
	struct replies r;
	struct cw_auth recorded;
	uint64_t session = 0;

	/* a good device; a copy of its HELLO gets the same CHALLENGE again */
	struct cw_hello h = hello_of(1, 1);
	dg_hello(s, 1, &h, &r);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(r.m[0].type, CW_CHALLENGE);
	uint8_t snonce[32];
	memcpy(snonce, r.m[0].challenge.nonce, 32);
	dg_send_as(dg_last.id, dg_last.b, dg_last.len);
	dg_take(&r, NULL);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(r.m[0].type, CW_CHALLENGE);
	cr_assert_eq(memcmp(r.m[0].challenge.nonce, snonce, 32), 0);

	/* AUTH: WELCOME naming the session in its datagram; a copy: the same */
	send_auth(s, -1, &h, snonce, key_good, &recorded);
	dg_take(&r, &session);
	cr_assert_eq(count(&r, CW_WELCOME), 1);
	cr_assert_eq(r.m[0].welcome.session_id, session);
	cr_assert_neq(session, 0);
	dg_send_as(dg_last.id, dg_last.b, dg_last.len);
	dg_take(&r, NULL);
	cr_assert_eq(count(&r, CW_WELCOME), 1);
	cr_assert_eq(r.m[0].welcome.session_id, session);
	cr_assert_eq(count(&r, CW_ERROR), 0);

	/* the recorded AUTH again under a new id, from its address: dropped */
	send_raw_auth(s, -1, &recorded);
	dg_take(&r, NULL);
	cr_assert_eq(r.n, 0);
	dg_session = session;
	send_infer(s, -1, 1);
	dg_take(&r, NULL);
	cr_assert_eq(count(&r, CW_RESULT), 1);

	/* the recorded AUTH from an address with no HELLO: no peer, no answer */
	dg_from = dg_addr(2);
	dg_session = 0;
	send_raw_auth(s, -1, &recorded);
	dg_take(&r, NULL);
	cr_assert_eq(r.n, 0);

	/* replayed: the good device's HELLO and AUTH from another address */
	clock_ns += 1000 * MS; /* the device id's HELLO budget refills */
	dg_hello(s, 3, &h, &r);
	cr_assert_eq(r.m[0].type, CW_CHALLENGE);
	cr_assert_neq(memcmp(r.m[0].challenge.nonce, snonce, 32), 0, "a server nonce came twice");
	send_raw_auth(s, -1, &recorded);
	dg_take(&r, NULL);
	expect_error(&r, CW_ERR_AUTH_FAILED);
	dg_infer_refused(s, GUESS);

	/* a wrong key */
	clock_ns += 1000 * MS;
	struct cw_hello hw = hello_of(1, 1);
	dg_hello(s, 4, &hw, &r);
	cr_assert_eq(r.m[0].type, CW_CHALLENGE);
	send_auth(s, -1, &hw, r.m[0].challenge.nonce, key_other, NULL);
	dg_take(&r, NULL);
	expect_error(&r, CW_ERR_AUTH_FAILED);
	dg_infer_refused(s, GUESS);

	/* no key, revoked, unknown */
	struct cw_hello hn = hello_of(1, 0), hr = hello_of(2, 1), hu = hello_of(3, 1);
	dg_hello(s, 5, &hn, &r);
	expect_error(&r, CW_ERR_AUTH_FAILED);
	dg_infer_refused(s, GUESS);
	dg_hello(s, 6, &hr, &r);
	expect_error(&r, CW_ERR_REVOKED);
	dg_infer_refused(s, GUESS);
	dg_hello(s, 7, &hu, &r);
	expect_error(&r, CW_ERR_UNKNOWN_DEVICE);
	dg_infer_refused(s, GUESS);

	const struct ap_stats *st = ap_sess_stats(s);
	cr_assert_eq(st->auth_ok, 1);
	cr_assert_eq(st->auth_failed, 3);
	cr_assert_eq(st->auth_revoked, 1);
	cr_assert_eq(st->auth_unknown, 1);
	teardown(s);
}
