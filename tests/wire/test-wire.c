/* The wire protocol: round trips of every message type with boundary values,
 * every truncation and every bit flip, hostile headers and bodies, and the
 * stream reader fed a long stream in pieces of every size, both ways (recv into
 * the reader, and taking from caller buffers). Decoders always get a heap copy
 * of exactly the bytes under test, so ASan sees any read past them. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/wire.h"
#include "samples.h"

#define MAXS 64
static struct cw_msg samples[MAXS];
static size_t nsamples;
static struct cw_limits lim;
static char err[512], why[256];

static void setup(void)
{
	nsamples = cwt_samples(samples, MAXS);
	cr_assert_leq(nsamples, MAXS);
	lim = cw_limits_default();
}

TestSuite(wire, .init = setup);

/* Encodes m into a fresh buffer of exactly its size. */
static uint8_t *enc(const struct cw_msg *m, size_t *len)
{
	size_t need;
	int r = cw_encode(NULL, 0, m, &need, err, sizeof(err));
	cr_assert_eq(r, -ENOSPC, "%s: sizing returned %d", cw_type_name(m->type), r);
	uint8_t *b = malloc(need);
	cr_assert(b);
	r = cw_encode(b, need, m, len, err, sizeof(err));
	cr_assert_eq(r, 0, "%s: %s", cw_type_name(m->type), err);
	cr_assert_eq(*len, need);
	return b;
}

/* Decodes a heap copy of b[0..n). */
static int dec(const uint8_t *b, size_t n, struct cw_msg *out)
{
	static struct cw_msg scratch;
	uint8_t *c = malloc(n ? n : 1);
	memcpy(c, b, n);
	err[0] = 0;
	int r = cw_decode(c, n, &lim, out ? out : &scratch, err, sizeof(err));
	if (!r && out && out->type == CW_INFER)
		out->infer.frame = b + (out->infer.frame - c); /* the caller's bytes */
	free(c);
	return r;
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> 8 * i);
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << 8 * i;
	return v;
}

/* ---- round trips ----------------------------------------------------------- */

Test(wire, round_trip_every_sample)
{
	int seen[CW_TYPE_END] = {0};
	for (size_t i = 0; i < nsamples; i++) {
		size_t len;
		uint8_t *b = enc(&samples[i], &len);
		struct cw_msg d;
		int r = dec(b, len, &d);
		cr_assert_eq(r, 0, "sample %zu (%s): %s", i, cw_type_name(samples[i].type), err);
		cr_expect(cwt_msg_eq(&samples[i], &d, why, sizeof(why)), "sample %zu: %s", i, why);
		if (d.type == CW_INFER || d.type == CW_RESULT || d.type == CW_ERROR ||
		    d.type == CW_DECIDE || d.type == CW_DECISION)
			cr_expect_eq(d.request_id, rd64(b + CW_HEADER_BYTES));
		else
			cr_expect_eq(d.request_id, 0);
		struct cw_header h;
		cr_expect_eq(cw_parse_header(b, len, &lim, &h, err, sizeof(err)), 0, "%s", err);
		cr_expect_eq(h.msg_len, len);
		cr_expect_eq(h.type, samples[i].type);
		seen[samples[i].type]++;
		free(b);
	}
	for (int t = CW_HELLO; t < CW_TYPE_END; t++)
		cr_expect_geq(seen[t], 2, "type %s has %d samples", cw_type_name(t), seen[t]);
}

/* The per-type encoders and the dispatcher write the same bytes. */
Test(wire, per_type_encoders_match_dispatch)
{
	uint8_t a[8192], b[8192];
	for (size_t i = 0; i < nsamples; i++) {
		const struct cw_msg *m = &samples[i];
		size_t la, lb;
		int r;
		if (m->type == CW_PING && m->ping.padding_len > 4096)
			continue;
		cr_assert_eq(cw_encode(a, sizeof(a), m, &la, err, sizeof(err)), 0, "%s", err);
		switch (m->type) {
		case CW_HELLO: r = cw_encode_hello(b, sizeof(b), &m->hello, &lb, err, sizeof(err)); break;
		case CW_WELCOME: r = cw_encode_welcome(b, sizeof(b), &m->welcome, &lb, err, sizeof(err)); break;
		case CW_INFER: r = cw_encode_infer(b, sizeof(b), &m->infer, &lb, err, sizeof(err)); break;
		case CW_RESULT: r = cw_encode_result(b, sizeof(b), &m->result, &lb, err, sizeof(err)); break;
		case CW_ERROR: r = cw_encode_error(b, sizeof(b), &m->error, &lb, err, sizeof(err)); break;
		case CW_PING: r = cw_encode_ping(b, sizeof(b), &m->ping, &lb, err, sizeof(err)); break;
		case CW_PONG: r = cw_encode_pong(b, sizeof(b), &m->pong, &lb, err, sizeof(err)); break;
		case CW_DECIDE: r = cw_encode_decide(b, sizeof(b), &m->decide, &lb, err, sizeof(err)); break;
		case CW_DECISION: r = cw_encode_decision(b, sizeof(b), &m->decision, &lb, err, sizeof(err)); break;
		case CW_CHALLENGE: r = cw_encode_challenge(b, sizeof(b), &m->challenge, &lb, err, sizeof(err)); break;
		case CW_AUTH: r = cw_encode_auth(b, sizeof(b), &m->auth, &lb, err, sizeof(err)); break;
		default: r = -1; break;
		}
		cr_assert_eq(r, 0, "%s", err);
		cr_assert_eq(la, lb);
		cr_assert(!memcmp(a, b, la), "sample %zu", i);
	}
}

/* The layout of docs/protocol.md, byte for byte (little-endian throughout). */
Test(wire, wire_bytes_are_the_documented_layout)
{
	struct cw_msg m = {.type = CW_RESULT};
	m.result = (struct cw_result){.request_id = 0x0807060504030201ull, .confidence = 0.5f,
				      .label = 0x0201, .batch = 3, .queue_us = 0x11121314,
				      .decode_us = 5, .compute_us = 6, .queue_delay_us = 7,
				      .exit = 2, .flags = 1,
				      .next = {.exit = 1, .partition = 0x0a0b, .bits = 8}};
	static const uint8_t want[] = {
		'C', 'F', 'W', 'P', 1, 4, 0, 0, 38, 0, 0, 0, 0, 0, 0, 0,
		1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0x3f, 0x01, 0x02, 3, 0,
		0x14, 0x13, 0x12, 0x11, 5, 0, 0, 0, 6, 0, 0, 0, 7, 0, 0, 0,
		2, 1, 1, 8, 0x0b, 0x0a};
	uint8_t b[64];
	size_t len;
	cr_assert_eq(cw_encode(b, sizeof(b), &m, &len, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(len, sizeof(want));
	for (size_t i = 0; i < len; i++)
		cr_expect_eq(b[i], want[i], "byte %zu: 0x%02x, want 0x%02x", i, b[i], want[i]);
}

Test(wire, boundaries_of_the_limits)
{
	/* Under small limits: the largest frame and padding pass, one more byte fails
	 * on the header alone. */
	struct cw_limits l = cw_limits_make(1000, 2000);
	cr_expect_eq(l.max_body, 2016);
	cr_expect_eq(cw_reader_bytes(&l), 2032);
	static uint8_t frame[1001], b[4096];
	struct cw_msg m = {.type = CW_INFER}, d;
	m.infer = (struct cw_infer){.request_id = 3, .frame = frame, .frame_len = 1000};
	size_t len;
	cr_assert_eq(cw_encode(b, sizeof(b), &m, &len, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(cw_decode(b, len, &l, &d, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(d.infer.frame, b + CW_INFER_PREFIX_BYTES);
	m.infer.frame_len = 1001;
	cr_assert_eq(cw_encode(b, sizeof(b), &m, &len, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(cw_decode(b, len, &l, &d, err, sizeof(err)), -EMSGSIZE);
	cr_expect_eq(cw_decode(b, 12, &l, &d, err, sizeof(err)), -EMSGSIZE, "at 12 bytes");
	cr_expect(strstr(err, "body_len"), "%s", err);

	m = (struct cw_msg){.type = CW_PING, .ping = {1, 2, 2000}};
	cr_assert_eq(cw_encode(b, sizeof(b), &m, &len, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(cw_decode(b, len, &l, &d, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(d.ping.padding_len, 2000);
	m.ping.padding_len = 2001;
	cr_assert_eq(cw_encode(b, sizeof(b), &m, &len, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(cw_decode(b, len, &l, &d, err, sizeof(err)), -EMSGSIZE);

	/* max_body caps every type, whatever max_frame says */
	l = cw_limits_make(1000, 0);
	l.max_body = 500;
	m = (struct cw_msg){.type = CW_INFER};
	m.infer = (struct cw_infer){.frame = frame, .frame_len = 500 - CW_INFER_FIXED_BYTES};
	cr_assert_eq(cw_encode(b, sizeof(b), &m, &len, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(cw_decode(b, len, &l, &d, err, sizeof(err)), 0, "%s", err);
	m.infer.frame_len++;
	cr_assert_eq(cw_encode(b, sizeof(b), &m, &len, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(cw_decode(b, len, &l, &d, err, sizeof(err)), -EMSGSIZE);

	/* Huge limits clamp max_body to a u32. */
	l = cw_limits_make(UINT32_MAX, UINT32_MAX);
	cr_expect_eq(l.max_body, UINT32_MAX);
}

Test(wire, encoder_space)
{
	for (size_t i = 0; i < nsamples; i++) {
		size_t len, need;
		uint8_t *b = enc(&samples[i], &len);
		uint8_t *c = malloc(len);
		cr_expect_eq(cw_encode(c, len - 1, &samples[i], &need, err, sizeof(err)), -ENOSPC);
		cr_expect_eq(need, len);
		cr_expect(strstr(err, "needed"), "%s", err);
		free(c);
		free(b);
	}
}

/* cw_encode refuses m, naming field_text in its message: the encoder never
 * writes what the decoder would reject. */
static void refuse(const struct cw_msg *m, const char *field_text)
{
	uint8_t b[1024];
	size_t len;
	err[0] = 0;
	cr_expect_eq(cw_encode(b, sizeof(b), m, &len, err, sizeof(err)), -EINVAL, "%s accepted",
		     field_text);
	cr_expect(strstr(err, field_text), "'%s' lacks '%s'", err, field_text);
}

Test(wire, encoder_refuses_a_bad_hello_or_welcome)
{
	struct cw_msg m;
	m = samples[0]; /* HELLO */
	cwt_fill_str(m.hello.device_class, CW_CLASS_MAX + 1, 'a');
	refuse(&m, "hello.device_class");
	m = samples[0];
	strcpy(m.hello.model, "tab\there");
	refuse(&m, "hello.model");
	m = samples[0];
	strcpy(m.hello.app, "caf\xc3\xa9");
	refuse(&m, "hello.app");
	m = samples[0];
	m.hello.app[3] = 0x7f;
	refuse(&m, "hello.app");
	m = samples[0];
	m.hello.max_inflight = 0;
	refuse(&m, "hello.max_inflight");

	m = (struct cw_msg){.type = CW_WELCOME, .welcome = {1, 2, 3, 4, 0}};
	refuse(&m, "welcome.max_inflight");
}

Test(wire, encoder_refuses_a_bad_infer)
{
	struct cw_msg m;
	m = samples[5]; /* INFER */
	cr_assert_eq(m.type, CW_INFER);
	m.infer.flags = 2;
	refuse(&m, "infer.flags");
	m = samples[5];
	m.infer.action.bits = 17;
	refuse(&m, "infer.action.bits");
	m.infer.action.bits = 1;
	refuse(&m, "infer.action.bits");
	/* an action's exit index is one byte, its partition two */
	m = samples[5];
	m.infer.action.exit = 256;
	refuse(&m, "infer.action.exit: index 256, must be 0..255 (one byte)");
	m.infer.action.exit = -1;
	refuse(&m, "infer.action.exit");
	m = samples[5];
	m.infer.action.partition = 65536;
	refuse(&m, "infer.action.partition: 65536, must be 0..65535 (two bytes)");
	m.infer.action.partition = -1;
	refuse(&m, "infer.action.partition");
	m = samples[5];
	m.infer.frame_len = 55;
	refuse(&m, "infer.frame");
	m.infer.frame_len = SIZE_MAX;
	refuse(&m, "infer.frame");
	m = samples[5];
	m.infer.frame = NULL;
	refuse(&m, "infer.frame");
}

Test(wire, encoder_refuses_a_bad_result)
{
	struct cw_msg m;
	m = samples[9]; /* RESULT with a suggestion */
	cr_assert_eq(m.type, CW_RESULT);
	m.result.confidence = NAN;
	refuse(&m, "result.confidence");
	m.result.confidence = 1.0001f;
	refuse(&m, "result.confidence");
	m.result.confidence = -0.01f;
	refuse(&m, "result.confidence");
	m.result.confidence = INFINITY;
	refuse(&m, "result.confidence");
	m = samples[9];
	m.result.batch = 0;
	refuse(&m, "result.batch");
	m = samples[9];
	m.result.flags = 2;
	refuse(&m, "result.flags");
	m = samples[9];
	m.result.next.bits = 3 * 6;
	refuse(&m, "result.next.bits");
	m = samples[9];
	m.result.next.exit = 300;
	refuse(&m, "result.next.exit");
	m = samples[9];
	m.result.flags = 0;
	refuse(&m, "result.next");
}

Test(wire, encoder_refuses_other_bad_messages)
{
	struct cw_msg m;
	m = (struct cw_msg){.type = CW_ERROR, .error = {.code = 0}};
	refuse(&m, "error.code");
	m.error.code = CW_ERR_END;
	refuse(&m, "error.code");
	m.error.code = CW_ERR_BUSY;
	cwt_fill_str(m.error.msg, CW_ERRMSG_MAX + 1, 'x');
	refuse(&m, "error.msg");

	m = (struct cw_msg){.type = CW_DECIDE, .decide = {.load_permille = 1001}};
	refuse(&m, "decide.load_permille");
	m = (struct cw_msg){.type = CW_DECISION, .decision = {.action = {.bits = 20}}};
	refuse(&m, "decision.action.bits");
	m = (struct cw_msg){.type = CW_DECISION, .decision = {.action = {.partition = 1 << 16}}};
	refuse(&m, "decision.action.partition");
	m = (struct cw_msg){.type = (enum cw_type)0};
	refuse(&m, "type");
	m.type = CW_TYPE_END;
	refuse(&m, "type");
	/* PING's body must fit the u32 length */
	m = (struct cw_msg){.type = CW_PING, .ping = {0, 0, UINT32_MAX}};
	refuse(&m, "ping");
}

/* The agent's path: the codec frame is written in place after the prefix. */
Test(wire, infer_header_in_place)
{
	static uint8_t a[8192], b[8192];
	struct cw_infer m = samples[5].infer;
	size_t la, lb;
	cr_assert_eq(cw_encode_infer(a, sizeof(a), &m, &la, err, sizeof(err)), 0, "%s", err);
	memcpy(b + CW_INFER_PREFIX_BYTES, m.frame, m.frame_len);
	m.frame = NULL; /* ignored */
	cr_assert_eq(cw_encode_infer_header(b, sizeof(b), &m, &lb, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(la, lb);
	cr_assert_eq(lb, CW_INFER_PREFIX_BYTES + m.frame_len);
	cr_assert(!memcmp(a, b, la));
	/* cw_encode_infer on a frame already in place (memmove onto itself) */
	m.frame = b + CW_INFER_PREFIX_BYTES;
	cr_assert_eq(cw_encode_infer(b, sizeof(b), &m, &lb, err, sizeof(err)), 0, "%s", err);
	cr_assert(!memcmp(a, b, la));
	/* only the prefix needs room */
	cr_expect_eq(cw_encode_infer_header(b, CW_INFER_PREFIX_BYTES, &m, &lb, err, sizeof(err)), 0);
	cr_expect_eq(cw_encode_infer_header(b, CW_INFER_PREFIX_BYTES - 1, &m, &lb, err,
					    sizeof(err)), -ENOSPC);
	cr_expect_eq(lb, la);
	struct cw_msg d;
	cr_assert_eq(cw_decode(a, la, &lim, &d, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(d.infer.frame, a + CW_INFER_PREFIX_BYTES, "zero-copy frame");
	cr_expect_eq(d.infer.frame_len, m.frame_len);
}

/* ---- damaged input --------------------------------------------------------- */

Test(wire, every_truncation_needs_more)
{
	for (size_t i = 0; i < nsamples; i++) {
		size_t len;
		uint8_t *b = enc(&samples[i], &len);
		/* for the big ones, every byte of the head and the tail */
		for (size_t n = 0; n < len; n++) {
			if (n > 512 && n + 512 < len)
				n = len - 512;
			cr_assert_eq(dec(b, n, NULL), -EAGAIN, "sample %zu cut at %zu of %zu: %s",
				     i, n, len, err);
			struct cw_header h;
			cr_assert_eq(cw_parse_header(b, n, &lim, &h, err, sizeof(err)),
				     n < CW_HEADER_BYTES ? -EAGAIN : 0, "%s", err);
		}
		/* and one byte too many is not the message */
		uint8_t *c = malloc(len + 1);
		memcpy(c, b, len);
		c[len] = 0;
		cr_expect_eq(dec(c, len + 1, NULL), -EBADMSG);
		free(c);
		free(b);
	}
}

static int decode_error_ok(int r)
{
	return r == -EBADMSG || r == -EMSGSIZE || r == -EPROTONOSUPPORT || r == -EAGAIN;
}

/* Every bit of every message: a clean error or a message that round-trips. */
Test(wire, every_bit_flip)
{
	size_t ok = 0, bad = 0;
	for (size_t i = 0; i < nsamples; i++) {
		size_t len;
		uint8_t *b = enc(&samples[i], &len);
		if (len > 8192) { /* the big PINGs: their padding is opaque anyway */
			free(b);
			continue;
		}
		for (size_t k = 0; k < len; k++)
			for (int bit = 0; bit < 8; bit++) {
				b[k] ^= (uint8_t)(1u << bit);
				struct cw_msg d, d2;
				int r = dec(b, len, &d);
				if (r) {
					cr_assert(decode_error_ok(r), "flip %zu.%d: %d %s", k, bit, r, err);
					cr_assert(err[0], "flip %zu.%d: no message", k, bit);
					bad++;
				} else {
					size_t l2;
					uint8_t *e = enc(&d, &l2);
					cr_assert_eq(l2, len);
					cr_assert_eq(dec(e, l2, &d2), 0, "%s", err);
					cr_assert(cwt_msg_eq(&d, &d2, why, sizeof(why)), "%s", why);
					free(e);
					ok++;
				}
				b[k] ^= (uint8_t)(1u << bit);
			}
		/* the header fields can never change silently */
		for (size_t k = 0; k < CW_HEADER_BYTES; k++) {
			if (k >= 8 && k < 12)
				continue; /* body_len: a flip is a truncation or a lie */
			b[k] ^= 0x10;
			cr_expect_neq(dec(b, len, NULL), 0, "header byte %zu", k);
			b[k] ^= 0x10;
		}
		free(b);
	}
	cr_log_info("bit flips: %zu decoded, %zu refused", ok, bad);
	cr_expect_gt(ok, 0);
	cr_expect_gt(bad, 0);
}

/* A message built by hand: header + body of n bytes. */
static size_t raw(uint8_t *b, int version, int type, uint16_t flags, uint32_t body_len,
		  uint32_t reserved)
{
	memcpy(b, "CFWP", 4);
	b[4] = (uint8_t)version;
	b[5] = (uint8_t)type;
	b[6] = (uint8_t)flags;
	b[7] = (uint8_t)(flags >> 8);
	wr32(b + 8, body_len);
	wr32(b + 12, reserved);
	return CW_HEADER_BYTES + body_len;
}

Test(wire, hostile_headers)
{
	static uint8_t b[CW_HEADER_BYTES + 4096];
	struct cw_header h;
	memset(b, 0, sizeof(b));

	for (int v = 0; v < 256; v++) {
		if (v == CW_VERSION)
			continue;
		size_t n = raw(b, v, CW_PONG, 0, 24, 0);
		cr_expect_eq(dec(b, n, NULL), -EPROTONOSUPPORT, "version %d", v);
		cr_expect(strstr(err, "version"), "%s", err);
		/* known from the 5th byte on, before type or length */
		b[5] = 0xff;
		cr_expect_eq(cw_parse_header(b, 5, &lim, &h, err, sizeof(err)), -EPROTONOSUPPORT);
		cr_expect_eq(cw_error_for(-EPROTONOSUPPORT), CW_ERR_VERSION);
	}
	size_t n = raw(b, 1, CW_PONG, 0, 24, 0);
	cr_assert_eq(dec(b, n, NULL), 0, "%s", err);
	/* magic: refused at its first wrong byte */
	for (int k = 0; k < 4; k++) {
		b[k] ^= 0x20;
		cr_expect_eq(cw_parse_header(b, (size_t)k + 1, &lim, &h, err, sizeof(err)), -EBADMSG);
		cr_expect(strstr(err, "magic"), "%s", err);
		b[k] ^= 0x20;
	}
	cr_expect_eq(cw_parse_header((const uint8_t *)"GET / HTTP/1.1\r\n", 16, &lim, &h, err,
				     sizeof(err)), -EBADMSG);
	for (int t = 0; t < 256; t += (t == 0 ? CW_TYPE_END : 1)) {
		n = raw(b, 1, t, 0, 24, 0);
		cr_expect_eq(dec(b, n, NULL), -EBADMSG, "type %d", t);
		cr_expect(strstr(err, "header.type"), "%s", err);
	}
	for (int bit = 0; bit < 16; bit++) {
		n = raw(b, 1, CW_PONG, (uint16_t)(1u << bit), 24, 0);
		cr_expect_eq(dec(b, n, NULL), -EBADMSG, "flag bit %d", bit);
		cr_expect(strstr(err, "header.flags"), "%s", err);
	}
	n = raw(b, 1, CW_PONG, 0, 24, 0x80);
	cr_expect_eq(dec(b, n, NULL), -EBADMSG);
	cr_expect(strstr(err, "header.reserved"), "%s", err);

	/* lengths: past the limit fails from the header's 12th byte on */
	static const uint32_t huge[] = {0xffffffffu, 0x80000000u, 0x10000000u};
	for (int t = CW_HELLO; t < CW_TYPE_END; t++)
		for (size_t k = 0; k < 3; k++) {
			raw(b, 1, t, 0, huge[k], 0);
			for (size_t cut = 12; cut <= CW_HEADER_BYTES; cut++) {
				cr_expect_eq(cw_parse_header(b, cut, &lim, &h, err, sizeof(err)),
					     -EMSGSIZE, "%s len 0x%x", cw_type_name(t), huge[k]);
				cr_expect(strstr(err, "header.body_len"), "%s", err);
			}
			cr_expect_eq(cw_error_for(-EMSGSIZE), CW_ERR_TOO_LARGE);
		}
	raw(b, 1, CW_INFER, 0, lim.max_body + 1, 0);
	cr_expect_eq(cw_parse_header(b, 12, &lim, &h, err, sizeof(err)), -EMSGSIZE);
	/* fixed-size types: one byte off either way */
	static const struct {
		int type;
		uint32_t size;
	} fixed[] = {{CW_WELCOME, 26}, {CW_RESULT, 38}, {CW_PONG, 24}, {CW_DECIDE, 28},
		     {CW_DECISION, 16}, {CW_CHALLENGE, 32}, {CW_AUTH, 32}};
	for (size_t k = 0; k < sizeof(fixed) / sizeof(fixed[0]); k++) {
		raw(b, 1, fixed[k].type, 0, fixed[k].size + 1, 0);
		cr_expect_eq(cw_parse_header(b, 12, &lim, &h, err, sizeof(err)), -EMSGSIZE);
		raw(b, 1, fixed[k].type, 0, fixed[k].size - 1, 0);
		cr_expect_eq(cw_parse_header(b, 12, &lim, &h, err, sizeof(err)), -EBADMSG);
		raw(b, 1, fixed[k].type, 0, 0, 0);
		cr_expect_eq(cw_parse_header(b, 12, &lim, &h, err, sizeof(err)), -EBADMSG);
	}
	raw(b, 1, CW_INFER, 0, CW_INFER_FIXED_BYTES + 55, 0); /* shorter than any codec frame */
	cr_expect_eq(cw_parse_header(b, 12, &lim, &h, err, sizeof(err)), -EBADMSG);
	raw(b, 1, CW_HELLO, 0, 21 + 32 + 64 + 64 + 24 + 1, 0); /* longest with a client nonce */
	cr_expect_eq(cw_parse_header(b, 12, &lim, &h, err, sizeof(err)), -EMSGSIZE);
	raw(b, 1, CW_ERROR, 0, 11 + 201, 0);
	cr_expect_eq(cw_parse_header(b, 12, &lim, &h, err, sizeof(err)), -EMSGSIZE);
	cr_expect_eq(cw_error_for(-EBADMSG), CW_ERR_BAD_REQUEST);
}

/* Encodes sample i, lets f alter it, and expects the decode to fail naming what. */
static void expect_refused(size_t i, void (*f)(uint8_t *body), const char *what)
{
	size_t len;
	uint8_t *b = enc(&samples[i], &len);
	f(b + CW_HEADER_BYTES);
	cr_expect_eq(dec(b, len, NULL), -EBADMSG, "%s accepted", what);
	cr_expect(strstr(err, what), "'%s' lacks '%s'", err, what);
	free(b);
}

static void hello_nul(uint8_t *p) { p[21 + 2] = 0; }
static void hello_ctrl(uint8_t *p) { p[21 + 4 + 1] = '\n'; }
static void hello_utf8(uint8_t *p) { p[21 + 4 + 15 + 3] = 0xc3; }
static void hello_del(uint8_t *p) { p[21] = 0x7f; }
static void hello_count_up(uint8_t *p) { p[18]++; }
static void hello_count_down(uint8_t *p) { p[19]--; }
static void hello_count_swap(uint8_t *p) { p[18] += 5; p[20] -= 5; } /* sum right */
static void hello_inflight(uint8_t *p) { p[16] = p[17] = 0; }
static void hello_over(uint8_t *p) { p[18] = 33; p[19] -= 1; }
static void welcome_inflight(uint8_t *p) { p[24] = p[25] = 0; }
static void infer_bits(uint8_t *p) { p[21] = 1; }
static void infer_flags(uint8_t *p) { p[19] = 0x80; }
static void result_nan(uint8_t *p) { wr32(p + 8, 0x7fc00000); }
static void result_neg(uint8_t *p) { wr32(p + 8, 0xbf800000); }
static void result_batch(uint8_t *p) { p[14] = p[15] = 0; }
static void result_stale(uint8_t *p) { p[33] = 0; }
static void result_flags(uint8_t *p) { p[33] = 3; }
static void error_count(uint8_t *p) { p[10]--; }
static void error_code(uint8_t *p) { p[8] = 0; p[9] = 0; }
static void error_code_hi(uint8_t *p) { p[8] = CW_ERR_END; }
static void error_nul(uint8_t *p) { p[11 + 3] = 0; }
static void decide_load(uint8_t *p) { p[26] = 0xe9; p[27] = 0x03; } /* 1001 */
static void decision_bits(uint8_t *p) { p[13] = 17; }

Test(wire, hostile_bodies)
{
	/* sample indices: 0 and 2 HELLO, 3 WELCOME, 5 INFER, 9 RESULT, 12 ERROR,
	 * 22 DECIDE, 24 DECISION */
	cr_assert_eq(samples[0].type, CW_HELLO);
	cr_assert_eq(samples[3].type, CW_WELCOME);
	cr_assert_eq(samples[12].type, CW_ERROR);
	cr_assert_eq(samples[22].type, CW_DECIDE);
	cr_assert_eq(samples[24].type, CW_DECISION);
	expect_refused(0, hello_nul, "hello.device_class");
	expect_refused(0, hello_ctrl, "hello.model");
	expect_refused(0, hello_utf8, "hello.app");
	expect_refused(0, hello_del, "hello.device_class");
	expect_refused(0, hello_count_up, "string lengths");
	expect_refused(0, hello_count_down, "string lengths");
	expect_refused(0, hello_inflight, "hello.max_inflight");
	expect_refused(2, hello_over, "hello.device_class");
	expect_refused(3, welcome_inflight, "welcome.max_inflight");
	expect_refused(5, infer_bits, "infer.action.bits");
	expect_refused(5, infer_flags, "infer.flags");
	expect_refused(9, result_nan, "result.confidence");
	expect_refused(9, result_neg, "result.confidence");
	expect_refused(9, result_batch, "result.batch");
	expect_refused(9, result_stale, "result.next");
	expect_refused(9, result_flags, "result.flags");
	expect_refused(12, error_count, "error.msg_len");
	expect_refused(12, error_code, "error.code");
	expect_refused(12, error_code_hi, "error.code");
	expect_refused(12, error_nul, "error.msg");
	expect_refused(22, decide_load, "decide.load_permille");
	expect_refused(24, decision_bits, "decision.action.bits");

	/* lengths that move string bytes between fields are still checked per field */
	size_t len;
	uint8_t *b = enc(&samples[0], &len);
	hello_count_swap(b + CW_HEADER_BYTES);
	struct cw_msg d;
	cr_expect_eq(dec(b, len, &d), 0, "%s", err);
	cr_expect_str_eq(d.hello.device_class, "rpi4branc");
	free(b);

	/* a refused body still says which request it was */
	b = enc(&samples[5], &len);
	infer_bits(b + CW_HEADER_BYTES);
	cr_expect_eq(dec(b, len, &d), -EBADMSG);
	cr_expect_eq(d.type, CW_INFER);
	cr_expect_eq(d.request_id, samples[5].infer.request_id);
	free(b);
}

Test(wire, names)
{
	for (int t = CW_HELLO; t < CW_TYPE_END; t++)
		cr_expect_str_neq(cw_type_name(t), "unknown", "type %d", t);
	cr_expect_str_eq(cw_type_name(CW_DECISION), "decision");
	cr_expect_str_eq(cw_type_name(0), "unknown");
	cr_expect_str_eq(cw_type_name(CW_TYPE_END), "unknown");
	for (int c = CW_ERR_BUSY; c < CW_ERR_END; c++)
		cr_expect_str_neq(cw_error_name(c), "unknown", "code %d", c);
	cr_expect_str_eq(cw_error_name(CW_ERR_MODEL_MISMATCH), "model-mismatch");
	cr_expect_str_eq(cw_error_name(0), "unknown");
	cr_expect_str_eq(cw_error_name(CW_ERR_END), "unknown");
}

/* ---- the stream reader ------------------------------------------------------ */

struct stream {
	uint8_t *bytes;
	size_t len, count;
	struct cw_msg *want;
	size_t *offset; /* where each message starts */
};

/* count messages drawn at random from the samples, concatenated. */
static struct stream make_stream(size_t count, uint64_t seed)
{
	struct stream s = {.count = count};
	s.want = calloc(count, sizeof(*s.want));
	s.offset = calloc(count, sizeof(*s.offset));
	size_t cap = 0;
	for (size_t i = 0; i < count; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		s.want[i] = samples[(seed >> 33) % nsamples];
		size_t len;
		uint8_t *b = enc(&s.want[i], &len);
		if (s.len + len > cap) {
			cap = (s.len + len) * 2;
			s.bytes = realloc(s.bytes, cap);
		}
		memcpy(s.bytes + s.len, b, len);
		s.offset[i] = s.len;
		s.len += len;
		free(b);
	}
	return s;
}

static void free_stream(struct stream *s)
{
	free(s->bytes);
	free(s->want);
	free(s->offset);
}

/* chunk 0: random sizes 1..4096; otherwise that size; SIZE_MAX: all that fits */
static size_t next_chunk(size_t chunk, uint64_t *seed)
{
	if (chunk)
		return chunk;
	*seed ^= *seed << 13;
	*seed ^= *seed >> 7;
	*seed ^= *seed << 17;
	return 1 + *seed % 4096;
}

/* recv into the reader: every message of one recv is compared only once the
 * recv has been drained, which checks they all stay valid together. */
static void read_by_space(struct stream *s, size_t chunk, uint64_t seed)
{
	struct cw_reader r;
	size_t cap = cw_reader_bytes(&lim);
	uint8_t *buf = malloc(cap);
	struct cw_msg *got = calloc(s->count, sizeof(*got));
	cr_assert_eq(cw_reader_init(&r, buf, cap, &lim), 0);
	size_t pos = 0, n = 0;
	while (pos < s->len || cw_reader_buffered(&r)) {
		size_t avail;
		uint8_t *p = cw_reader_space(&r, &avail);
		cr_assert(p);
		size_t k = next_chunk(chunk, &seed);
		if (k > avail)
			k = avail;
		if (k > s->len - pos)
			k = s->len - pos;
		memcpy(p, s->bytes + pos, k);
		pos += k;
		cr_assert_eq(cw_reader_commit(&r, k), 0);
		size_t first = n;
		int ret;
		struct cw_msg m;
		while ((ret = cw_reader_next(&r, &m, err, sizeof(err))) == 0) {
			cr_assert_lt(n, s->count, "more messages than sent");
			got[n++] = m;
		}
		cr_assert_eq(ret, -EAGAIN, "chunk %zu: %d %s", chunk, ret, err);
		for (size_t i = first; i < n; i++)
			cr_assert(cwt_msg_eq(&s->want[i], &got[i], why, sizeof(why)),
				  "chunk %zu, message %zu: %s", chunk, i, why);
		if (pos == s->len && n == s->count)
			break;
		cr_assert(k > 0, "stuck at %zu of %zu bytes, %zu messages", pos, s->len, n);
	}
	cr_assert_eq(n, s->count, "chunk %zu: %zu of %zu messages", chunk, n, s->count);
	cr_assert_eq(cw_reader_buffered(&r), 0);
	free(got);
	free(buf);
}

/* Bytes arriving in separate buffers (io_uring provided buffers), each a heap
 * block of exactly its size; whole messages must be decoded in place. */
static void read_by_take(struct stream *s, size_t chunk, uint64_t seed, size_t *in_place)
{
	struct cw_reader r;
	size_t cap = cw_reader_bytes(&lim);
	uint8_t *buf = malloc(cap);
	cr_assert_eq(cw_reader_init(&r, buf, cap, &lim), 0);
	size_t pos = 0, n = 0;
	while (pos < s->len) {
		size_t k = next_chunk(chunk, &seed);
		if (k > s->len - pos)
			k = s->len - pos;
		uint8_t *piece = malloc(k);
		memcpy(piece, s->bytes + pos, k);
		const uint8_t *d = piece;
		size_t left = k;
		struct cw_msg m;
		int ret;
		while ((ret = cw_reader_take(&r, &d, &left, &m, err, sizeof(err))) == 0) {
			cr_assert_lt(n, s->count);
			cr_assert(cwt_msg_eq(&s->want[n], &m, why, sizeof(why)),
				  "chunk %zu, message %zu: %s", chunk, n, why);
			if (m.type == CW_INFER && m.infer.frame >= piece && m.infer.frame < piece + k)
				++*in_place;
			n++;
		}
		cr_assert_eq(ret, -EAGAIN, "chunk %zu: %d %s", chunk, ret, err);
		cr_assert_eq(left, 0);
		free(piece);
		pos += k;
	}
	cr_assert_eq(n, s->count, "chunk %zu: %zu of %zu messages", chunk, n, s->count);
	cr_assert_eq(cw_reader_buffered(&r), 0);
	free(buf);
}

Test(wire, reader_reassembles_any_split)
{
	struct stream s = make_stream(400, 7);
	static const size_t chunks[] = {1, 7, 0, 4096, SIZE_MAX};
	cr_log_info("stream of %zu messages, %zu bytes", s.count, s.len);
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		size_t in_place = 0;
		read_by_space(&s, chunks[c], 99 + c);
		read_by_take(&s, chunks[c], 99 + c, &in_place);
		if (chunks[c] >= 4096)
			cr_expect_gt(in_place, 0, "chunk %zu: nothing decoded in place", chunks[c]);
	}
	free_stream(&s);
}

/* The two ways of feeding one reader can be mixed. */
Test(wire, reader_mixed_feeding)
{
	struct stream s = make_stream(100, 3);
	struct cw_reader r;
	size_t cap = cw_reader_bytes(&lim), pos = 0, n = 0;
	uint8_t *buf = malloc(cap);
	cr_assert_eq(cw_reader_init(&r, buf, cap, &lim), 0);
	uint64_t seed = 5;
	while (pos < s.len) {
		size_t k = next_chunk(0, &seed) % 300 + 1, avail;
		if (k > s.len - pos)
			k = s.len - pos;
		struct cw_msg m;
		int ret;
		if (seed & 1) {
			uint8_t *p = cw_reader_space(&r, &avail);
			if (k > avail)
				k = avail;
			memcpy(p, s.bytes + pos, k);
			cw_reader_commit(&r, k);
			while ((ret = cw_reader_next(&r, &m, err, sizeof(err))) == 0) {
				cr_assert(cwt_msg_eq(&s.want[n], &m, why, sizeof(why)), "%zu: %s", n, why);
				n++;
			}
		} else {
			const uint8_t *d = s.bytes + pos;
			size_t left = k;
			while ((ret = cw_reader_take(&r, &d, &left, &m, err, sizeof(err))) == 0) {
				cr_assert(cwt_msg_eq(&s.want[n], &m, why, sizeof(why)), "%zu: %s", n, why);
				n++;
			}
		}
		cr_assert_eq(ret, -EAGAIN, "%s", err);
		pos += k;
	}
	cr_assert_eq(n, s.count);
	free(buf);
	free_stream(&s);
}

Test(wire, reader_rejects_oversized_length_at_header_time)
{
	struct cw_reader r;
	size_t cap = cw_reader_bytes(&lim), avail;
	uint8_t *buf = malloc(cap), hdr[CW_HEADER_BYTES];
	struct cw_msg m;
	cr_assert_eq(cw_reader_init(&r, buf, cap, &lim), 0);
	raw(hdr, 1, CW_INFER, 0, 0xffffffffu, 0);
	/* byte by byte: -EAGAIN up to the length field, then refused at once */
	for (size_t i = 0; i < 12; i++) {
		uint8_t *p = cw_reader_space(&r, &avail);
		cr_assert(p && avail > 0);
		*p = hdr[i];
		cw_reader_commit(&r, 1);
		int ret = cw_reader_next(&r, &m, err, sizeof(err));
		cr_assert_eq(ret, i < 11 ? -EAGAIN : -EMSGSIZE, "after %zu bytes: %d", i + 1, ret);
	}
	cr_expect(strstr(err, "header.body_len"), "%s", err);
	/* sticky: the stream is lost */
	cr_expect_eq(cw_reader_failed(&r), -EMSGSIZE);
	cr_expect_eq(cw_reader_next(&r, &m, err, sizeof(err)), -EMSGSIZE);
	cr_expect_eq(cw_reader_space(&r, &avail), NULL);
	cr_expect_eq(avail, 0);
	const uint8_t *d = hdr;
	size_t left = sizeof(hdr);
	cr_expect_eq(cw_reader_take(&r, &d, &left, &m, err, sizeof(err)), -EMSGSIZE);

	/* the same through take, and a version refusal */
	cw_reader_reset(&r);
	cr_expect_eq(cw_reader_failed(&r), 0);
	d = hdr;
	left = 12;
	cr_expect_eq(cw_reader_take(&r, &d, &left, &m, err, sizeof(err)), -EMSGSIZE);
	cw_reader_reset(&r);
	raw(hdr, 2, CW_HELLO, 0, 21, 0);
	d = hdr;
	left = 5;
	cr_expect_eq(cw_reader_take(&r, &d, &left, &m, err, sizeof(err)), -EPROTONOSUPPORT);
	cr_expect_eq(cw_reader_failed(&r), -EPROTONOSUPPORT);
	free(buf);
}

Test(wire, reader_skips_a_bad_body)
{
	uint8_t s[4096];
	size_t len, n = 0;
	struct cw_msg bad = samples[5];
	bad.infer.frame_len = 100;
	cr_assert_eq(cw_encode(s, sizeof(s), &samples[13], &len, err, sizeof(err)), 0);
	n += len;
	cr_assert_eq(cw_encode(s + n, sizeof(s) - n, &bad, &len, err, sizeof(err)), 0);
	s[n + CW_HEADER_BYTES + 21] = 33; /* bits */
	n += len;
	cr_assert_eq(cw_encode(s + n, sizeof(s) - n, &samples[20], &len, err, sizeof(err)), 0);
	n += len;
	for (int mode = 0; mode < 2; mode++) {
		struct cw_reader r;
		size_t cap = cw_reader_bytes(&lim), avail;
		uint8_t *buf = malloc(cap);
		struct cw_msg m;
		const uint8_t *d = s;
		size_t left = n;
		cr_assert_eq(cw_reader_init(&r, buf, cap, &lim), 0);
		if (!mode) {
			memcpy(cw_reader_space(&r, &avail), s, n);
			cw_reader_commit(&r, n);
		}
#define NEXT() (mode ? cw_reader_take(&r, &d, &left, &m, err, sizeof(err)) \
		     : cw_reader_next(&r, &m, err, sizeof(err)))
		cr_expect_eq(NEXT(), 0, "%s", err);
		cr_expect(cwt_msg_eq(&m, &samples[13], why, sizeof(why)), "%s", why);
		cr_expect_eq(NEXT(), -EBADMSG);
		cr_expect(strstr(err, "infer.action.bits"), "%s", err);
		cr_expect_eq(m.type, CW_INFER);
		cr_expect_eq(m.request_id, bad.infer.request_id);
		cr_expect_eq(cw_reader_failed(&r), 0);
		cr_expect_eq(NEXT(), 0, "%s", err);
		cr_expect(cwt_msg_eq(&m, &samples[20], why, sizeof(why)), "%s", why);
		cr_expect_eq(NEXT(), -EAGAIN);
#undef NEXT
		free(buf);
	}
}

Test(wire, reader_init_and_eof)
{
	struct cw_reader r;
	size_t cap = cw_reader_bytes(&lim), avail;
	uint8_t *buf = malloc(cap);
	cr_expect_eq(cw_reader_init(&r, buf, cap - 1, &lim), -EINVAL);
	struct cw_limits small = lim;
	small.max_body = CW_SMALL_BODY_MAX - 1;
	cr_expect_eq(cw_reader_init(&r, buf, cap, &small), -EINVAL);
	small.max_body = CW_SMALL_BODY_MAX;
	cr_expect_eq(cw_reader_init(&r, buf, cw_reader_bytes(&small), &small), 0);
	cr_assert_eq(cw_reader_init(&r, buf, cap, &lim), 0);
	uint8_t *p = cw_reader_space(&r, &avail);
	cr_expect_eq(avail, cap);
	cr_expect_eq(cw_reader_commit(&r, cap + 1), -EINVAL);
	/* half a message, then the peer closes */
	size_t len;
	uint8_t *m = enc(&samples[0], &len);
	memcpy(p, m, len / 2);
	cw_reader_commit(&r, len / 2);
	struct cw_msg d;
	cr_expect_eq(cw_reader_next(&r, &d, err, sizeof(err)), -EAGAIN);
	cr_expect_eq(cw_reader_buffered(&r), len / 2);
	/* a full buffer always holds a complete message */
	struct cw_limits l = cw_limits_make(100, 5000);
	cr_assert_eq(l.max_body, CW_PING_FIXED_BYTES + 5000);
	cr_assert_eq(cw_reader_init(&r, buf, cw_reader_bytes(&l), &l), 0);
	struct cw_msg big = {.type = CW_PING, .ping = {1, 2, 5000}};
	p = cw_reader_space(&r, &avail);
	cr_assert_eq(cw_encode(p, avail, &big, &len, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(len, avail);
	cw_reader_commit(&r, len);
	cr_expect_eq(cw_reader_space(&r, &avail), buf + len);
	cr_expect_eq(avail, 0);
	cr_expect_eq(cw_reader_next(&r, &d, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(d.ping.padding_len, 5000);
	cr_expect_eq(cw_reader_next(&r, &d, err, sizeof(err)), -EAGAIN);
	cr_expect_eq(cw_reader_space(&r, &avail), buf);
	cr_expect_eq(avail, len);
	free(m);
	free(buf);
}
