/* Datagrams (docs/protocol.md, "Datagrams (UDP)"): the header, fragment
 * geometry, encode and decode.
 *
 * As in wire.c, one validator speaks for both sides, so an encoder never
 * writes what the decoder refuses. The payload's length is not a field: it
 * follows from the message length and the fragment count, so a datagram whose
 * payload is not exactly its fragment (a lying count or length, a cut or
 * padded datagram) is refused before any byte of it is used. */
#include <errno.h>
#include <string.h>

#include "coinfer/wire-dgram.h"
#include "coinfer/errmsg.h"
#include "coinfer/bytes.h"

#define fail cf_fail

static const uint8_t magic[2] = {'C', 'D'};

/* The bounds of the protocol itself, for encoders: every receiver's are within. */
static const struct cw_dg_limits proto_lim = {UINT32_MAX, CW_DG_MAX_FRAGS};

struct cw_dg_limits cw_dg_limits_for(const struct cw_limits *lim)
{
	return (struct cw_dg_limits){CW_HEADER_BYTES + lim->max_body, CW_DG_MAX_FRAGS};
}

int cw_dg_frags(uint32_t msg_len, uint32_t max_payload, uint16_t *count)
{
	if (!msg_len || !max_payload)
		return -EINVAL;
	if (msg_len <= max_payload) { /* most messages: no division */
		*count = 1;
		return 0;
	}
	uint32_t n = (uint32_t)(((uint64_t)msg_len + max_payload - 1) / max_payload);
	if (n > CW_DG_MAX_FRAGS)
		return -EMSGSIZE;
	*count = (uint16_t)n;
	return 0;
}

int cw_dg_frag(uint32_t msg_len, uint16_t count, uint16_t index, uint32_t *off, uint32_t *len)
{
	if (!count || index >= count || !msg_len)
		return -EBADMSG;
	if (count == 1) { /* a one-fragment message, asked about several times
			   * per datagram: spare the division */
		*off = 0;
		*len = msg_len;
		return 0;
	}
	/* S = ceil(L / N) for all but the last; the last must not be empty
	 * (L = 10, N = 6 gives S = 2 and nothing left for fragment 5). */
	uint64_t s = ((uint64_t)msg_len + count - 1) / count;
	uint64_t before_last = s * (count - 1u);
	if (before_last >= msg_len)
		return -EBADMSG;
	*off = (uint32_t)(s * index);
	*len = index + 1u == count ? (uint32_t)(msg_len - before_last) : (uint32_t)s;
	return 0;
}

static unsigned popcount8(uint8_t b)
{
	return (unsigned)__builtin_popcount(b);
}

/* An ACK's bitmap (NULL: the full one an encoder writes). */
static int check_bitmap(const struct cw_dg *d, char *err, size_t errlen)
{
	uint32_t n = cw_dg_bitmap_bytes(d->count), ones = 0;
	if (d->index < 1 || d->index > d->count)
		return fail(-EBADMSG, err, errlen, "ack.received: %u, not in 1..count %u", d->index,
			    d->count);
	if (!d->payload)
		return d->index == d->count ? 0
		       : fail(-EBADMSG, err, errlen, "ack.received: %u of %u with a full bitmap",
			      d->index, d->count);
	if (d->payload_len != n)
		return fail(-EBADMSG, err, errlen, "ack.bitmap: %u bytes, %u for %u fragments",
			    d->payload_len, n, d->count);
	uint8_t past = (uint8_t)(d->count % 8 ? 0xffu << d->count % 8 : 0);
	if (d->payload[n - 1] & past)
		return fail(-EBADMSG, err, errlen, "ack.bitmap: bits set past fragment %u",
			    d->count - 1);
	for (uint32_t i = 0; i < n; i++)
		ones += popcount8(d->payload[i]);
	if (ones != d->index)
		return fail(-EBADMSG, err, errlen, "ack.received: %u, the bitmap holds %u",
			    d->index, ones);
	return 0;
}

/* A DATA's payload against its fragment; before WELCOME only HELLO and PING. */
/* What may travel before WELCOME names a session: the handshake (HELLO,
 * CHALLENGE, AUTH, WELCOME), its refusals (ERROR) and probes (PING, PONG);
 * never a request or its answer, which belong to a session. */
static int session0_type(uint8_t type)
{
	return type == CW_HELLO || type == CW_WELCOME || type == CW_ERROR || type == CW_PING ||
	       type == CW_PONG || type == CW_CHALLENGE || type == CW_AUTH;
}

static int check_data(const struct cw_dg *d, char *err, size_t errlen)
{
	uint32_t off, len;
	if (d->index >= d->count)
		return fail(-EBADMSG, err, errlen, "data.index: %u, count %u", d->index, d->count);
	cw_dg_frag(d->msg_len, d->count, d->index, &off, &len); /* check_dg: it exists */
	if (d->payload_len != len)
		return fail(-EBADMSG, err, errlen,
			    "data.payload: %u bytes, fragment %u of %u of a %u-byte message has %u",
			    d->payload_len, d->index, d->count, d->msg_len, len);
	if (d->session || d->index)
		return 0;
	/* Fragment 0 carries the message's type (byte 5 of its CW header). The
	 * other fragments of a session-0 message cannot show it: the session
	 * layer refuses the message once whole, as over TCP. */
	if (len < 6 || !d->payload || !session0_type(d->payload[5]))
		return fail(-EBADMSG, err, errlen,
			    "data.session: 0 for a message that is not HELLO, CHALLENGE, AUTH, "
			    "WELCOME, ERROR, PING or PONG");
	return 0;
}

static int check_dg(const struct cw_dg *d, const struct cw_dg_limits *lim, char *err,
		    size_t errlen)
{
	uint32_t off, len;
	if (d->kind != CW_DG_DATA && d->kind != CW_DG_ACK)
		return fail(-EBADMSG, err, errlen, "kind: %d, not 1 (data) or 2 (ack)",
			    (int)d->kind);
	if (!d->msg_id)
		return fail(-EBADMSG, err, errlen, "msg_id: 0");
	if (!d->msg_len)
		return fail(-EBADMSG, err, errlen, "msg_len: 0");
	if (d->msg_len > lim->max_msg)
		return fail(-EMSGSIZE, err, errlen, "msg_len: %u above the limit %u", d->msg_len,
			    lim->max_msg);
	if (!d->count)
		return fail(-EBADMSG, err, errlen, "count: 0");
	if (d->count > lim->max_frags || d->count > CW_DG_MAX_FRAGS)
		return fail(-EMSGSIZE, err, errlen, "count: %u above the limit %u", d->count,
			    lim->max_frags < CW_DG_MAX_FRAGS ? lim->max_frags : CW_DG_MAX_FRAGS);
	if (cw_dg_frag(d->msg_len, d->count, 0, &off, &len))
		return fail(-EBADMSG, err, errlen, "count: %u fragments cannot hold %u bytes",
			    d->count, d->msg_len);
	return d->kind == CW_DG_DATA ? check_data(d, err, errlen) : check_bitmap(d, err, errlen);
}

static void put_header(uint8_t *b, const struct cw_dg *d)
{
	memcpy(b, magic, 2);
	b[2] = CW_DG_VERSION;
	b[3] = (uint8_t)d->kind;
	le_wr64(b + 4, d->session);
	le_wr32(b + 12, d->msg_id);
	le_wr16(b + 16, d->index);
	le_wr16(b + 18, d->count);
	le_wr32(b + 20, d->msg_len);
}

static int as_einval(int ret)
{
	return ret ? -EINVAL : 0;
}

int cw_dg_encode_header(uint8_t *buf, size_t cap, const struct cw_dg *d, char *err,
			size_t errlen)
{
	int ret = as_einval(check_dg(d, &proto_lim, err, errlen));
	if (ret)
		return ret;
	if (!buf || cap < CW_DG_HEADER_BYTES)
		return fail(-ENOSPC, err, errlen, "buffer of %zu bytes, %d needed", cap,
			    CW_DG_HEADER_BYTES);
	put_header(buf, d);
	return 0;
}

int cw_dg_encode(uint8_t *buf, size_t cap, const struct cw_dg *d, size_t *len, char *err,
		 size_t errlen)
{
	*len = 0;
	int ret = as_einval(check_dg(d, &proto_lim, err, errlen));
	if (ret)
		return ret;
	if (d->kind == CW_DG_DATA && !d->payload)
		return fail(-EINVAL, err, errlen, "data.payload: none");
	uint32_t n = d->payload ? d->payload_len : cw_dg_bitmap_bytes(d->count);
	if (!buf || cap < CW_DG_HEADER_BYTES + (size_t)n) {
		*len = CW_DG_HEADER_BYTES + (size_t)n;
		return fail(-ENOSPC, err, errlen, "buffer of %zu bytes, %zu needed", cap, *len);
	}
	put_header(buf, d);
	uint8_t *p = buf + CW_DG_HEADER_BYTES;
	if (d->payload) {
		memmove(p, d->payload, n);
	} else { /* the full bitmap of an ACK */
		memset(p, 0xff, n);
		if (d->count % 8)
			p[n - 1] = (uint8_t)((1u << d->count % 8) - 1);
	}
	*len = CW_DG_HEADER_BYTES + (size_t)n;
	return 0;
}

int cw_dg_data(struct cw_dg *d, uint64_t session, uint32_t msg_id, const uint8_t *msg,
	       uint32_t msg_len, uint16_t count, uint16_t index)
{
	uint32_t off, len;
	int ret = cw_dg_frag(msg_len, count, index, &off, &len);
	if (ret)
		return ret;
	*d = (struct cw_dg){CW_DG_DATA, session, msg_id, index, count, msg_len, msg + off, len};
	return 0;
}

int cw_dg_decode(const uint8_t *dg, size_t len, const struct cw_dg_limits *lim,
		 struct cw_dg *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (len < CW_DG_HEADER_BYTES)
		return fail(-EBADMSG, err, errlen, "datagram of %zu bytes, shorter than its header",
			    len);
	if (memcmp(dg, magic, 2))
		return fail(-EBADMSG, err, errlen, "magic: %02x %02x, not \"CD\"", dg[0], dg[1]);
	if (dg[2] != CW_DG_VERSION)
		return fail(-EPROTONOSUPPORT, err, errlen, "version: %u, not %d", dg[2],
			    CW_DG_VERSION);
	if (len - CW_DG_HEADER_BYTES > UINT32_MAX)
		return fail(-EMSGSIZE, err, errlen, "datagram of %zu bytes", len);
	*out = (struct cw_dg){.kind = (enum cw_dg_kind)dg[3], .session = le_rd64(dg + 4),
			      .msg_id = le_rd32(dg + 12), .index = le_rd16(dg + 16),
			      .count = le_rd16(dg + 18), .msg_len = le_rd32(dg + 20),
			      .payload = dg + CW_DG_HEADER_BYTES,
			      .payload_len = (uint32_t)(len - CW_DG_HEADER_BYTES)};
	return check_dg(out, lim, err, errlen);
}
