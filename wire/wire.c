/* The wire messages (docs/protocol.md): header parsing, encoders and decoders.
 *
 * Every rule on field values lives in one validator per type that both sides
 * run, so an encoder can never produce a message the decoder refuses; the
 * decoders check the raw bytes that a struct cannot represent (string bytes,
 * string lengths) before copying them. Lengths are bounded by the header before
 * any body byte is read: the header says the type, and the type fixes the body
 * size or its range. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "coinfer/codec-frame.h"
#include "coinfer/codec.h"
#include "coinfer/wire.h"
#include "coinfer/errmsg.h"
#include "coinfer/bytes.h"

static const uint8_t magic[4] = {'C', 'F', 'W', 'P'};

/* Body sizes: fixed parts, and the string-length bytes' positions. */
enum {
	HELLO_FIXED = 21,
	WELCOME_BYTES = 26,
	INFER_FIXED = CW_INFER_FIXED_BYTES,
	RESULT_BYTES = 38,
	ERROR_FIXED = 11,
	PING_FIXED = CW_PING_FIXED_BYTES,
	PONG_BYTES = 24,
	DECIDE_BYTES = 28,
	DECISION_BYTES = 16,
	CHALLENGE_BYTES = CW_SERVER_NONCE_BYTES,
	AUTH_BYTES = CW_AUTH_MAC_BYTES,
	HELLO_MAX = HELLO_FIXED + CW_CLASS_MAX + CW_MODEL_MAX + CW_APP_MAX + CW_CLIENT_NONCE_BYTES,
	MIN_FRAME = CC_FRAME_HEADER_BYTES + CC_FRAME_TRAILER_BYTES,
};
_Static_assert(HELLO_MAX <= CW_SMALL_BODY_MAX,
	       "CW_SMALL_BODY_MAX below HELLO");
_Static_assert(ERROR_FIXED + CW_ERRMSG_MAX == CW_SMALL_BODY_MAX, "CW_SMALL_BODY_MAX is ERROR's");
_Static_assert(sizeof(CW_AUTH_LABEL) - 1 + 1 + CW_SERVER_NONCE_BYTES + HELLO_MAX <=
		       CW_AUTH_TRANSCRIPT_MAX, "CW_AUTH_TRANSCRIPT_MAX below the transcript");
_Static_assert(CW_ERRMSG_MAX <= 255 && CW_MODEL_MAX <= 255, "string lengths are one byte");

#define fail cf_fail

const char *cw_type_name(enum cw_type t)
{
	switch (t) {
	case CW_HELLO: return "hello";
	case CW_WELCOME: return "welcome";
	case CW_INFER: return "infer";
	case CW_RESULT: return "result";
	case CW_ERROR: return "error";
	case CW_PING: return "ping";
	case CW_PONG: return "pong";
	case CW_DECIDE: return "decide";
	case CW_DECISION: return "decision";
	case CW_CHALLENGE: return "challenge";
	case CW_AUTH: return "auth";
	case CW_TYPE_END: break;
	}
	return "unknown";
}

const char *cw_error_name(enum cw_error_code c)
{
	switch (c) {
	case CW_ERR_BUSY: return "busy";
	case CW_ERR_DEADLINE: return "deadline";
	case CW_ERR_BAD_FRAME: return "bad-frame";
	case CW_ERR_BAD_REQUEST: return "bad-request";
	case CW_ERR_VERSION: return "version";
	case CW_ERR_MODEL_MISMATCH: return "model-mismatch";
	case CW_ERR_SHUTDOWN: return "shutdown";
	case CW_ERR_INTERNAL: return "internal";
	case CW_ERR_TOO_LARGE: return "too-large";
	case CW_ERR_NO_SESSION: return "no-session";
	case CW_ERR_UNSUPPORTED: return "unsupported";
	case CW_ERR_UNKNOWN_DEVICE: return "unknown-device";
	case CW_ERR_REVOKED: return "revoked";
	case CW_ERR_AUTH_FAILED: return "auth-failed";
	case CW_ERR_RATE_LIMITED: return "rate-limited";
	case CW_ERR_END: break;
	}
	return "unknown";
}

enum cw_error_code cw_error_for(int ret)
{
	if (ret == -EPROTONOSUPPORT)
		return CW_ERR_VERSION;
	if (ret == -EMSGSIZE)
		return CW_ERR_TOO_LARGE;
	return CW_ERR_BAD_REQUEST;
}

struct cw_limits cw_limits_make(uint32_t max_frame, uint32_t max_padding)
{
	uint64_t body = CW_SMALL_BODY_MAX;
	if ((uint64_t)INFER_FIXED + max_frame > body)
		body = (uint64_t)INFER_FIXED + max_frame;
	if ((uint64_t)PING_FIXED + max_padding > body)
		body = (uint64_t)PING_FIXED + max_padding;
	struct cw_limits l = {body > UINT32_MAX ? UINT32_MAX : (uint32_t)body, max_frame,
			      max_padding};
	return l;
}

struct cw_limits cw_limits_default(void)
{
	return cw_limits_make(CW_DEFAULT_MAX_FRAME, CW_DEFAULT_MAX_PADDING);
}

/* ---- header -------------------------------------------------------------- */

/* The body sizes a type allows under these limits (max may fall below min when
 * the limits leave no room for the type: then every such message is too large). */
static void body_bounds(enum cw_type t, const struct cw_limits *lim, uint64_t *min, uint64_t *max)
{
	switch (t) {
	case CW_HELLO: *min = HELLO_FIXED; *max = HELLO_MAX; break;
	case CW_WELCOME: *min = *max = WELCOME_BYTES; break;
	case CW_INFER: *min = INFER_FIXED + MIN_FRAME; *max = (uint64_t)INFER_FIXED + lim->max_frame; break;
	case CW_RESULT: *min = *max = RESULT_BYTES; break;
	case CW_ERROR: *min = ERROR_FIXED; *max = ERROR_FIXED + CW_ERRMSG_MAX; break;
	case CW_PING: *min = PING_FIXED; *max = (uint64_t)PING_FIXED + lim->max_padding; break;
	case CW_PONG: *min = *max = PONG_BYTES; break;
	case CW_DECIDE: *min = *max = DECIDE_BYTES; break;
	case CW_DECISION: *min = *max = DECISION_BYTES; break;
	case CW_CHALLENGE: *min = *max = CHALLENGE_BYTES; break;
	case CW_AUTH: *min = *max = AUTH_BYTES; break;
	default: *min = 1; *max = 0; break;
	}
	if (*max > lim->max_body)
		*max = lim->max_body;
}

int cw_parse_header(const uint8_t *buf, size_t len, const struct cw_limits *lim,
		    struct cw_header *h, char *err, size_t errlen)
{
	memset(h, 0, sizeof(*h));
	if (!lim || (!buf && len))
		return fail(-EINVAL, err, errlen, "no buffer or limits");
	/* Each field is judged as soon as its bytes are in, so a peer speaking
	 * something else is refused at once rather than after 16 bytes. */
	if (memcmp(buf ? buf : magic, magic, len < 4 ? len : 4))
		return fail(-EBADMSG, err, errlen, "header.magic: not a coinfer wire message");
	if (len < 5)
		return fail(-EAGAIN, err, errlen, "header: %zu of %d bytes", len, CW_HEADER_BYTES);
	if (buf[4] != CW_VERSION)
		return fail(-EPROTONOSUPPORT, err, errlen,
			    "header.version: %u unsupported (this side speaks %d)", buf[4],
			    CW_VERSION);
	if (len < 6)
		return fail(-EAGAIN, err, errlen, "header: %zu of %d bytes", len, CW_HEADER_BYTES);
	const enum cw_type type = (enum cw_type)buf[5];
	if (buf[5] == 0 || buf[5] >= CW_TYPE_END)
		return fail(-EBADMSG, err, errlen, "header.type: %u unknown", buf[5]);
	if (len < 8)
		return fail(-EAGAIN, err, errlen, "header: %zu of %d bytes", len, CW_HEADER_BYTES);
	if (le_rd16(buf + 6))
		return fail(-EBADMSG, err, errlen, "header.flags: 0x%04x, must be 0", le_rd16(buf + 6));
	if (len < 12)
		return fail(-EAGAIN, err, errlen, "header: %zu of %d bytes", len, CW_HEADER_BYTES);
	uint32_t body = le_rd32(buf + 8);
	uint64_t min, max;
	body_bounds(type, lim, &min, &max);
	if (body < min)
		return fail(-EBADMSG, err, errlen,
			    "header.body_len: %u bytes, %s needs at least %llu", body,
			    cw_type_name(type), (unsigned long long)min);
	if (body > max)
		return fail(-EMSGSIZE, err, errlen,
			    "header.body_len: %u bytes exceeds the limit %llu for %s", body,
			    (unsigned long long)max, cw_type_name(type));
	if (len < CW_HEADER_BYTES)
		return fail(-EAGAIN, err, errlen, "header: %zu of %d bytes", len, CW_HEADER_BYTES);
	if (le_rd32(buf + 12))
		return fail(-EBADMSG, err, errlen, "header.reserved: 0x%08x, must be 0",
			    le_rd32(buf + 12));
	h->version = buf[4];
	h->type = type;
	h->flags = 0;
	h->body_len = body;
	h->msg_len = CW_HEADER_BYTES + (size_t)body;
	return 0;
}

/* ---- validation shared by both directions --------------------------------- */

/* Printable ASCII only: keeps NUL (so the C strings round-trip), control
 * characters and terminal escapes out of logs, and needs no UTF-8 decoder. */
static int check_str(const char *s, size_t n, size_t max, const char *field, char *err,
		     size_t errlen)
{
	if (n > max)
		return fail(-EBADMSG, err, errlen, "%s: %zu bytes, at most %zu", field, n, max);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c > 0x7e)
			return fail(-EBADMSG, err, errlen,
				    "%s: byte %zu is 0x%02x, not printable ASCII", field, i, c);
	}
	return 0;
}

/* The ranges the bytes hold (exit u8, partition u16): only an encoder can be
 * handed more. */
static int check_action(const struct cf_action *a, const char *field, char *err, size_t errlen)
{
	if (a->exit < 0 || a->exit > UINT8_MAX)
		return fail(-EBADMSG, err, errlen, "%s.exit: index %d, must be 0..%d (one byte)",
			    field, a->exit, UINT8_MAX);
	if (a->partition < 0 || a->partition > UINT16_MAX)
		return fail(-EBADMSG, err, errlen, "%s.partition: %d, must be 0..%d (two bytes)",
			    field, a->partition, UINT16_MAX);
	if (a->bits && (a->bits < CC_BITS_MIN || a->bits > CC_BITS_MAX))
		return fail(-EBADMSG, err, errlen, "%s.bits: %d, must be 0 or %d..%d", field,
			    a->bits, CC_BITS_MIN, CC_BITS_MAX);
	return 0;
}

static int v_hello(const struct cw_hello *m, char *err, size_t errlen)
{
	if (!m->max_inflight)
		return fail(-EBADMSG, err, errlen, "hello.max_inflight: 0, must be >= 1");
	if (m->has_nonce > 1)
		return fail(-EBADMSG, err, errlen, "hello.has_nonce: %u, must be 0 or 1",
			    m->has_nonce);
	return 0;
}

static int v_welcome(const struct cw_welcome *m, char *err, size_t errlen)
{
	if (!m->max_inflight)
		return fail(-EBADMSG, err, errlen, "welcome.max_inflight: 0, must be >= 1");
	return 0;
}

static int v_infer(const struct cw_infer *m, char *err, size_t errlen)
{
	if (m->flags & ~CW_INFER_SUGGEST)
		return fail(-EBADMSG, err, errlen, "infer.flags: 0x%08x has unknown bits", m->flags);
	if (m->frame_len < MIN_FRAME || m->frame_len > UINT32_MAX - INFER_FIXED)
		return fail(-EBADMSG, err, errlen, "infer.frame: %zu bytes, must be %d..2^32-%d",
			    m->frame_len, MIN_FRAME, 1 + INFER_FIXED);
	return check_action(&m->action, "infer.action", err, errlen);
}

static int v_result(const struct cw_result *m, char *err, size_t errlen)
{
	if (!(m->confidence >= 0.0f && m->confidence <= 1.0f))
		return fail(-EBADMSG, err, errlen, "result.confidence: %g outside 0..1",
			    (double)m->confidence);
	if (!m->batch)
		return fail(-EBADMSG, err, errlen, "result.batch: 0, must be >= 1");
	if (m->flags & ~CW_RESULT_NEXT_VALID)
		return fail(-EBADMSG, err, errlen, "result.flags: 0x%02x has unknown bits", m->flags);
	if (!(m->flags & CW_RESULT_NEXT_VALID)) {
		/* one encoding per message: no stale suggestion rides along */
		if (m->next.exit || m->next.bits || m->next.partition)
			return fail(-EBADMSG, err, errlen,
				    "result.next: set although the valid flag is not");
		return 0;
	}
	return check_action(&m->next, "result.next", err, errlen);
}

static int v_error(const struct cw_error *m, char *err, size_t errlen)
{
	if (m->code == 0 || m->code >= CW_ERR_END)
		return fail(-EBADMSG, err, errlen, "error.code: %u unknown", m->code);
	return 0;
}

static int v_decide(const struct cw_decide *m, char *err, size_t errlen)
{
	if (m->load_permille > 1000)
		return fail(-EBADMSG, err, errlen, "decide.load_permille: %u above 1000",
			    m->load_permille);
	return 0;
}

static int v_decision(const struct cw_decision *m, char *err, size_t errlen)
{
	return check_action(&m->action, "decision.action", err, errlen);
}

/* ---- encoding ------------------------------------------------------------- */

/* Checks the room for header + body and writes the header; the body follows. */
static int put_header(uint8_t *buf, size_t cap, enum cw_type t, uint64_t body, size_t *len,
		      char *err, size_t errlen)
{
	if (body > UINT32_MAX)
		return fail(-EINVAL, err, errlen, "%s: body of %llu bytes does not fit a u32",
			    cw_type_name(t), (unsigned long long)body);
	size_t need = CW_HEADER_BYTES + (size_t)body;
	if (!buf || cap < need) {
		*len = need;
		return fail(-ENOSPC, err, errlen, "%s: buffer of %zu bytes, %zu needed",
			    cw_type_name(t), cap, need);
	}
	memcpy(buf, magic, 4);
	buf[4] = CW_VERSION;
	buf[5] = (uint8_t)t;
	le_wr16(buf + 6, 0);
	le_wr32(buf + 8, (uint32_t)body);
	le_wr32(buf + 12, 0);
	*len = need;
	return 0;
}

/* An action's 4 bytes: exit index, bits, partition (check_action has held them
 * to those widths). */
static void put_action(uint8_t *b, const struct cf_action *a)
{
	b[0] = (uint8_t)a->exit;
	b[1] = (uint8_t)a->bits;
	le_wr16(b + 2, (uint16_t)a->partition);
}

/* Validators speak for the decoder (-EBADMSG); for an encoder the same finding
 * is a bad argument. */
static int as_einval(int ret)
{
	return ret == -EBADMSG ? -EINVAL : ret;
}

static int enc_str(const char *s, size_t max, const char *field, size_t *n, char *err,
		   size_t errlen)
{
	*n = strnlen(s, max + 1);
	return as_einval(check_str(s, *n, max, field, err, errlen));
}

int cw_encode_hello(uint8_t *buf, size_t cap, const struct cw_hello *m, size_t *len, char *err,
		    size_t errlen)
{
	size_t cl, ml, al;
	int ret;
	*len = 0;
	if ((ret = as_einval(v_hello(m, err, errlen))) ||
	    (ret = enc_str(m->device_class, CW_CLASS_MAX, "hello.device_class", &cl, err, errlen)) ||
	    (ret = enc_str(m->model, CW_MODEL_MAX, "hello.model", &ml, err, errlen)) ||
	    (ret = enc_str(m->app, CW_APP_MAX, "hello.app", &al, err, errlen)) ||
	    (ret = put_header(buf, cap, CW_HELLO,
			      HELLO_FIXED + cl + ml + al + (m->has_nonce ? CW_CLIENT_NONCE_BYTES : 0),
			      len, err, errlen)))
		return ret;
	uint8_t *b = buf + CW_HEADER_BYTES;
	le_wr64(b, m->device_id);
	le_wr64(b + 8, m->model_checksum);
	le_wr16(b + 16, m->max_inflight);
	b[18] = (uint8_t)cl;
	b[19] = (uint8_t)ml;
	b[20] = (uint8_t)al;
	memcpy(b + HELLO_FIXED, m->device_class, cl);
	memcpy(b + HELLO_FIXED + cl, m->model, ml);
	memcpy(b + HELLO_FIXED + cl + ml, m->app, al);
	if (m->has_nonce)
		memcpy(b + HELLO_FIXED + cl + ml + al, m->nonce, CW_CLIENT_NONCE_BYTES);
	return 0;
}

int cw_encode_welcome(uint8_t *buf, size_t cap, const struct cw_welcome *m, size_t *len,
		      char *err, size_t errlen)
{
	int ret;
	*len = 0;
	if ((ret = as_einval(v_welcome(m, err, errlen))) ||
	    (ret = put_header(buf, cap, CW_WELCOME, WELCOME_BYTES, len, err, errlen)))
		return ret;
	uint8_t *b = buf + CW_HEADER_BYTES;
	le_wr64(b, m->session_id);
	le_wr64(b + 8, m->model_checksum);
	le_wr32(b + 16, m->max_frame);
	le_wr32(b + 20, m->max_padding);
	le_wr16(b + 24, m->max_inflight);
	return 0;
}

int cw_encode_infer_header(uint8_t *buf, size_t cap, const struct cw_infer *m, size_t *len,
			   char *err, size_t errlen)
{
	int ret;
	*len = 0;
	if ((ret = as_einval(v_infer(m, err, errlen))))
		return ret;
	/* Room for the prefix only: the frame is the caller's, already in place. */
	if (!buf || cap < CW_INFER_PREFIX_BYTES) {
		*len = CW_INFER_PREFIX_BYTES + m->frame_len;
		return fail(-ENOSPC, err, errlen, "infer: buffer of %zu bytes, %d needed", cap,
			    CW_INFER_PREFIX_BYTES);
	}
	if ((ret = put_header(buf, SIZE_MAX, CW_INFER, (uint64_t)INFER_FIXED + m->frame_len, len,
			      err, errlen)))
		return ret;
	uint8_t *b = buf + CW_HEADER_BYTES;
	le_wr64(b, m->request_id);
	le_wr32(b + 8, m->deadline_us);
	le_wr32(b + 12, m->device_us);
	le_wr32(b + 16, m->flags);
	put_action(b + 20, &m->action);
	return 0;
}

int cw_encode_infer(uint8_t *buf, size_t cap, const struct cw_infer *m, size_t *len, char *err,
		    size_t errlen)
{
	int ret;
	*len = 0;
	if (!m->frame)
		return fail(-EINVAL, err, errlen, "infer.frame: none");
	if ((ret = as_einval(v_infer(m, err, errlen))) ||
	    (ret = put_header(buf, cap, CW_INFER, (uint64_t)INFER_FIXED + m->frame_len, len, err,
			      errlen)))
		return ret;
	memmove(buf + CW_INFER_PREFIX_BYTES, m->frame, m->frame_len);
	return cw_encode_infer_header(buf, cap, m, len, err, errlen);
}

int cw_encode_result(uint8_t *buf, size_t cap, const struct cw_result *m, size_t *len,
		     char *err, size_t errlen)
{
	int ret;
	*len = 0;
	if ((ret = as_einval(v_result(m, err, errlen))) ||
	    (ret = put_header(buf, cap, CW_RESULT, RESULT_BYTES, len, err, errlen)))
		return ret;
	uint8_t *b = buf + CW_HEADER_BYTES;
	le_wr64(b, m->request_id);
	le_wrf(b + 8, m->confidence);
	le_wr16(b + 12, m->label);
	le_wr16(b + 14, m->batch);
	le_wr32(b + 16, m->queue_us);
	le_wr32(b + 20, m->decode_us);
	le_wr32(b + 24, m->compute_us);
	le_wr32(b + 28, m->queue_delay_us);
	b[32] = m->exit;
	b[33] = m->flags;
	put_action(b + 34, &m->next);
	return 0;
}

int cw_encode_error(uint8_t *buf, size_t cap, const struct cw_error *m, size_t *len, char *err,
		    size_t errlen)
{
	size_t n;
	int ret;
	*len = 0;
	if ((ret = as_einval(v_error(m, err, errlen))) ||
	    (ret = enc_str(m->msg, CW_ERRMSG_MAX, "error.msg", &n, err, errlen)) ||
	    (ret = put_header(buf, cap, CW_ERROR, ERROR_FIXED + n, len, err, errlen)))
		return ret;
	uint8_t *b = buf + CW_HEADER_BYTES;
	le_wr64(b, m->request_id);
	le_wr16(b + 8, m->code);
	b[10] = (uint8_t)n;
	memcpy(b + ERROR_FIXED, m->msg, n);
	return 0;
}

int cw_encode_ping(uint8_t *buf, size_t cap, const struct cw_ping *m, size_t *len, char *err,
		   size_t errlen)
{
	int ret;
	*len = 0;
	if ((ret = put_header(buf, cap, CW_PING, (uint64_t)PING_FIXED + m->padding_len, len, err,
			      errlen)))
		return ret;
	uint8_t *b = buf + CW_HEADER_BYTES;
	le_wr64(b, m->nonce);
	le_wr64(b + 8, m->timestamp);
	memset(b + PING_FIXED, 0, m->padding_len);
	return 0;
}

int cw_encode_pong(uint8_t *buf, size_t cap, const struct cw_pong *m, size_t *len, char *err,
		   size_t errlen)
{
	int ret;
	*len = 0;
	if ((ret = put_header(buf, cap, CW_PONG, PONG_BYTES, len, err, errlen)))
		return ret;
	uint8_t *b = buf + CW_HEADER_BYTES;
	le_wr64(b, m->nonce);
	le_wr64(b + 8, m->timestamp);
	le_wr32(b + 16, m->padding_len);
	le_wr32(b + 20, m->hold_us);
	return 0;
}

int cw_encode_decide(uint8_t *buf, size_t cap, const struct cw_decide *m, size_t *len,
		     char *err, size_t errlen)
{
	int ret;
	*len = 0;
	if ((ret = as_einval(v_decide(m, err, errlen))) ||
	    (ret = put_header(buf, cap, CW_DECIDE, DECIDE_BYTES, len, err, errlen)))
		return ret;
	uint8_t *b = buf + CW_HEADER_BYTES;
	le_wr64(b, m->request_id);
	le_wr64(b + 8, m->bandwidth_bps);
	le_wr32(b + 16, m->deadline_us);
	le_wr32(b + 20, m->energy_uj);
	le_wr16(b + 24, m->class_id);
	le_wr16(b + 26, m->load_permille);
	return 0;
}

int cw_encode_decision(uint8_t *buf, size_t cap, const struct cw_decision *m, size_t *len,
		       char *err, size_t errlen)
{
	int ret;
	*len = 0;
	if ((ret = as_einval(v_decision(m, err, errlen))) ||
	    (ret = put_header(buf, cap, CW_DECISION, DECISION_BYTES, len, err, errlen)))
		return ret;
	uint8_t *b = buf + CW_HEADER_BYTES;
	le_wr64(b, m->request_id);
	le_wr32(b + 8, m->queue_delay_us);
	put_action(b + 12, &m->action);
	return 0;
}

int cw_encode_challenge(uint8_t *buf, size_t cap, const struct cw_challenge *m, size_t *len,
			char *err, size_t errlen)
{
	int ret = put_header(buf, cap, CW_CHALLENGE, CHALLENGE_BYTES, len, err, errlen);
	if (!ret)
		memcpy(buf + CW_HEADER_BYTES, m->nonce, CHALLENGE_BYTES);
	return ret;
}

int cw_encode_auth(uint8_t *buf, size_t cap, const struct cw_auth *m, size_t *len, char *err,
		   size_t errlen)
{
	int ret = put_header(buf, cap, CW_AUTH, AUTH_BYTES, len, err, errlen);
	if (!ret)
		memcpy(buf + CW_HEADER_BYTES, m->mac, AUTH_BYTES);
	return ret;
}

int cw_auth_transcript(uint8_t *buf, size_t cap, const struct cw_hello *h,
		       const uint8_t snonce[CW_SERVER_NONCE_BYTES], size_t *len)
{
	const size_t pre = sizeof(CW_AUTH_LABEL) - 1 + 1 + CW_SERVER_NONCE_BYTES;
	uint8_t msg[CW_HEADER_BYTES + HELLO_MAX];
	size_t mlen;
	*len = 0;
	if (!h->has_nonce || cap < CW_AUTH_TRANSCRIPT_MAX ||
	    cw_encode_hello(msg, sizeof(msg), h, &mlen, NULL, 0))
		return -EINVAL;
	memcpy(buf, CW_AUTH_LABEL, sizeof(CW_AUTH_LABEL) - 1);
	buf[sizeof(CW_AUTH_LABEL) - 1] = CW_VERSION;
	memcpy(buf + sizeof(CW_AUTH_LABEL), snonce, CW_SERVER_NONCE_BYTES);
	memcpy(buf + pre, msg + CW_HEADER_BYTES, mlen - CW_HEADER_BYTES);
	*len = pre + mlen - CW_HEADER_BYTES;
	return 0;
}

int cw_encode(uint8_t *buf, size_t cap, const struct cw_msg *m, size_t *len, char *err,
	      size_t errlen)
{
	switch (m->type) {
	case CW_HELLO: return cw_encode_hello(buf, cap, &m->hello, len, err, errlen);
	case CW_WELCOME: return cw_encode_welcome(buf, cap, &m->welcome, len, err, errlen);
	case CW_INFER: return cw_encode_infer(buf, cap, &m->infer, len, err, errlen);
	case CW_RESULT: return cw_encode_result(buf, cap, &m->result, len, err, errlen);
	case CW_ERROR: return cw_encode_error(buf, cap, &m->error, len, err, errlen);
	case CW_PING: return cw_encode_ping(buf, cap, &m->ping, len, err, errlen);
	case CW_PONG: return cw_encode_pong(buf, cap, &m->pong, len, err, errlen);
	case CW_DECIDE: return cw_encode_decide(buf, cap, &m->decide, len, err, errlen);
	case CW_DECISION: return cw_encode_decision(buf, cap, &m->decision, len, err, errlen);
	case CW_CHALLENGE: return cw_encode_challenge(buf, cap, &m->challenge, len, err, errlen);
	case CW_AUTH: return cw_encode_auth(buf, cap, &m->auth, len, err, errlen);
	case CW_TYPE_END: break;
	}
	*len = 0;
	return fail(-EINVAL, err, errlen, "type: %d unknown", (int)m->type);
}

/* ---- decoding ------------------------------------------------------------- */

/* A string of n wire bytes at p into a C string of room for max + 1. */
static int get_str(char *dst, const uint8_t *p, size_t n, size_t max, const char *field,
		   char *err, size_t errlen)
{
	int ret = check_str((const char *)p, n, max, field, err, errlen);
	if (ret)
		return ret;
	memcpy(dst, p, n);
	dst[n] = 0;
	return 0;
}

static int dec_hello(const uint8_t *b, size_t n, struct cw_hello *m, char *err, size_t errlen)
{
	size_t cl = b[18], ml = b[19], al = b[20];
	int ret;
	m->device_id = le_rd64(b);
	m->model_checksum = le_rd64(b + 8);
	m->max_inflight = le_rd16(b + 16);
	/* the strings fill the body, or leave exactly a client nonce after them */
	size_t strs = HELLO_FIXED + cl + ml + al;
	if (strs != n && strs + CW_CLIENT_NONCE_BYTES != n)
		return fail(-EBADMSG, err, errlen,
			    "hello: string lengths %zu + %zu + %zu do not match the body of %zu bytes"
			    " (with or without a %d-byte client nonce)",
			    cl, ml, al, n, CW_CLIENT_NONCE_BYTES);
	if (strs != n) {
		m->has_nonce = 1;
		memcpy(m->nonce, b + strs, CW_CLIENT_NONCE_BYTES);
	}
	if ((ret = get_str(m->device_class, b + HELLO_FIXED, cl, CW_CLASS_MAX,
			   "hello.device_class", err, errlen)) ||
	    (ret = get_str(m->model, b + HELLO_FIXED + cl, ml, CW_MODEL_MAX, "hello.model", err,
			   errlen)) ||
	    (ret = get_str(m->app, b + HELLO_FIXED + cl + ml, al, CW_APP_MAX, "hello.app", err,
			   errlen)))
		return ret;
	return v_hello(m, err, errlen);
}

static int dec_welcome(const uint8_t *b, struct cw_welcome *m, char *err, size_t errlen)
{
	m->session_id = le_rd64(b);
	m->model_checksum = le_rd64(b + 8);
	m->max_frame = le_rd32(b + 16);
	m->max_padding = le_rd32(b + 20);
	m->max_inflight = le_rd16(b + 24);
	return v_welcome(m, err, errlen);
}

static void get_action(const uint8_t *b, struct cf_action *a)
{
	*a = (struct cf_action){.exit = b[0], .partition = le_rd16(b + 2), .bits = b[1]};
}

static int dec_infer(const uint8_t *b, size_t n, struct cw_infer *m, char *err, size_t errlen)
{
	m->request_id = le_rd64(b);
	m->deadline_us = le_rd32(b + 8);
	m->device_us = le_rd32(b + 12);
	m->flags = le_rd32(b + 16);
	get_action(b + 20, &m->action);
	m->frame = b + INFER_FIXED;
	m->frame_len = n - INFER_FIXED;
	return v_infer(m, err, errlen);
}

static int dec_result(const uint8_t *b, struct cw_result *m, char *err, size_t errlen)
{
	m->request_id = le_rd64(b);
	m->confidence = le_rdf(b + 8);
	m->label = le_rd16(b + 12);
	m->batch = le_rd16(b + 14);
	m->queue_us = le_rd32(b + 16);
	m->decode_us = le_rd32(b + 20);
	m->compute_us = le_rd32(b + 24);
	m->queue_delay_us = le_rd32(b + 28);
	m->exit = b[32];
	m->flags = b[33];
	get_action(b + 34, &m->next);
	return v_result(m, err, errlen);
}

static int dec_error(const uint8_t *b, size_t n, struct cw_error *m, char *err, size_t errlen)
{
	m->request_id = le_rd64(b);
	m->code = le_rd16(b + 8);
	if ((size_t)ERROR_FIXED + b[10] != n)
		return fail(-EBADMSG, err, errlen,
			    "error.msg_len: %u does not match the body of %zu bytes", b[10], n);
	int ret = get_str(m->msg, b + ERROR_FIXED, b[10], CW_ERRMSG_MAX, "error.msg", err, errlen);
	return ret ? ret : v_error(m, err, errlen);
}

static void dec_ping(const uint8_t *b, size_t n, struct cw_ping *m)
{
	m->nonce = le_rd64(b);
	m->timestamp = le_rd64(b + 8);
	m->padding_len = (uint32_t)(n - PING_FIXED);
}

static void dec_pong(const uint8_t *b, struct cw_pong *m)
{
	m->nonce = le_rd64(b);
	m->timestamp = le_rd64(b + 8);
	m->padding_len = le_rd32(b + 16);
	m->hold_us = le_rd32(b + 20);
}

static int dec_decide(const uint8_t *b, struct cw_decide *m, char *err, size_t errlen)
{
	m->request_id = le_rd64(b);
	m->bandwidth_bps = le_rd64(b + 8);
	m->deadline_us = le_rd32(b + 16);
	m->energy_uj = le_rd32(b + 20);
	m->class_id = le_rd16(b + 24);
	m->load_permille = le_rd16(b + 26);
	return v_decide(m, err, errlen);
}

static int dec_decision(const uint8_t *b, struct cw_decision *m, char *err, size_t errlen)
{
	m->request_id = le_rd64(b);
	m->queue_delay_us = le_rd32(b + 8);
	get_action(b + 12, &m->action);
	return v_decision(m, err, errlen);
}

int cw_decode(const uint8_t *msg, size_t len, const struct cw_limits *lim, struct cw_msg *out,
	      char *err, size_t errlen)
{
	struct cw_header h;
	memset(out, 0, sizeof(*out));
	int ret = cw_parse_header(msg, len, lim, &h, err, errlen);
	if (ret)
		return ret;
	if (len < h.msg_len)
		return fail(-EAGAIN, err, errlen, "%s: %zu of %zu bytes", cw_type_name(h.type), len,
			    h.msg_len);
	if (len > h.msg_len)
		return fail(-EBADMSG, err, errlen, "%s: %zu bytes after the message of %zu",
			    cw_type_name(h.type), len - h.msg_len, h.msg_len);
	const uint8_t *b = msg + CW_HEADER_BYTES;
	const size_t n = h.body_len;
	out->type = h.type;
	switch (h.type) {
	case CW_INFER:
	case CW_RESULT:
	case CW_ERROR:
	case CW_DECIDE:
	case CW_DECISION:
		out->request_id = le_rd64(b); /* every such body is >= 8 bytes (body_bounds) */
		break;
	default: break;
	}
	switch (h.type) {
	case CW_HELLO: return dec_hello(b, n, &out->hello, err, errlen);
	case CW_WELCOME: return dec_welcome(b, &out->welcome, err, errlen);
	case CW_INFER: return dec_infer(b, n, &out->infer, err, errlen);
	case CW_RESULT: return dec_result(b, &out->result, err, errlen);
	case CW_ERROR: return dec_error(b, n, &out->error, err, errlen);
	case CW_PING: dec_ping(b, n, &out->ping); return 0;
	case CW_PONG: dec_pong(b, &out->pong); return 0;
	case CW_DECIDE: return dec_decide(b, &out->decide, err, errlen);
	case CW_DECISION: return dec_decision(b, &out->decision, err, errlen);
	case CW_CHALLENGE: memcpy(out->challenge.nonce, b, CHALLENGE_BYTES); return 0;
	case CW_AUTH: memcpy(out->auth.mac, b, AUTH_BYTES); return 0;
	case CW_TYPE_END: break;
	}
	return fail(-EBADMSG, err, errlen, "header.type: %d unknown", (int)h.type); /* unreachable */
}
