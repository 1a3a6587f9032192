/* Stream reassembly of wire messages in a caller buffer (docs/protocol.md,
 * "Reading a stream").
 *
 * The buffer holds header + max_body, and a header is validated (length against
 * the limits included) before any of its body is waited for, so once a header is
 * accepted the whole message is known to fit. Unconsumed bytes move to the front
 * only when new bytes are about to be written, which is what keeps every message
 * returned since the last write valid. */
#include <errno.h>
#include <string.h>

#include "coinfer/wire.h"
#include "coinfer/errmsg.h"

size_t cw_reader_bytes(const struct cw_limits *lim)
{
	return CW_HEADER_BYTES + (size_t)lim->max_body;
}

int cw_reader_init(struct cw_reader *r, uint8_t *buf, size_t cap, const struct cw_limits *lim)
{
	if (!r || !buf || !lim || lim->max_body < CW_SMALL_BODY_MAX || cap < cw_reader_bytes(lim))
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->buf = buf;
	r->cap = cap;
	r->lim = *lim;
	return 0;
}

void cw_reader_reset(struct cw_reader *r)
{
	r->start = r->end = 0;
	r->failed = 0;
}

size_t cw_reader_buffered(const struct cw_reader *r)
{
	return r->end - r->start;
}

int cw_reader_failed(const struct cw_reader *r)
{
	return r->failed;
}

static void compact(struct cw_reader *r)
{
	if (r->start) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
}

uint8_t *cw_reader_space(struct cw_reader *r, size_t *avail)
{
	if (r->failed) {
		*avail = 0;
		return NULL;
	}
	compact(r);
	*avail = r->cap - r->end;
	return r->buf + r->end;
}

int cw_reader_commit(struct cw_reader *r, size_t n)
{
	if (n > r->cap - r->end)
		return -EINVAL;
	r->end += n;
	return 0;
}

static int failed(const struct cw_reader *r, char *err, size_t errlen)
{
	return cf_fail(r->failed, err, errlen, "stream already failed (error %d)", -r->failed);
}

int cw_reader_next(struct cw_reader *r, struct cw_msg *out, char *err, size_t errlen)
{
	struct cw_header h;
	memset(out, 0, sizeof(*out));
	if (r->failed)
		return failed(r, err, errlen);
	const size_t have = r->end - r->start;
	const uint8_t *p = r->buf + r->start;
	int ret = cw_parse_header(p, have, &r->lim, &h, err, errlen);
	if (ret == -EAGAIN)
		return ret;
	if (ret) {
		r->failed = ret; /* framing lost: nothing after this can be trusted */
		return ret;
	}
	if (have < h.msg_len)
		return cf_fail(-EAGAIN, err, errlen, "%s: %zu of %zu bytes", cw_type_name(h.type),
				have, h.msg_len);
	r->start += h.msg_len;
	if (r->start == r->end) /* moves nothing: returned messages stay put */
		r->start = r->end = 0;
	/* The header was good, so a bad body costs this message only. */
	return cw_decode(p, h.msg_len, &r->lim, out, err, errlen);
}

int cw_reader_take(struct cw_reader *r, const uint8_t **data, size_t *len, struct cw_msg *out,
		   char *err, size_t errlen)
{
	struct cw_header h;
	int ret;
	memset(out, 0, sizeof(*out));
	if (r->failed)
		return failed(r, err, errlen);
	if (r->start == r->end && *len) {
		/* Nothing pending: a message lying whole in the caller's buffer is
		 * decoded where it is. */
		r->start = r->end = 0;
		ret = cw_parse_header(*data, *len, &r->lim, &h, err, errlen);
		if (ret && ret != -EAGAIN) {
			r->failed = ret;
			return ret;
		}
		if (!ret && *len >= h.msg_len) {
			const uint8_t *p = *data;
			*data += h.msg_len;
			*len -= h.msg_len;
			return cw_decode(p, h.msg_len, &r->lim, out, err, errlen);
		}
	}
	/* Copy only up to the end of the current message, so the rest of the
	 * caller's buffer can still be decoded in place. */
	for (;;) {
		const size_t have = r->end - r->start;
		size_t want;
		ret = cw_parse_header(r->buf + r->start, have, &r->lim, &h, err, errlen);
		if (ret == -EAGAIN) {
			want = CW_HEADER_BYTES - have;
		} else if (ret) {
			r->failed = ret;
			return ret;
		} else if (have >= h.msg_len) {
			return cw_reader_next(r, out, err, errlen);
		} else {
			want = h.msg_len - have;
		}
		if (!*len)
			return cf_fail(-EAGAIN, err, errlen, "%zu bytes of a message held", have);
		size_t n = want < *len ? want : *len;
		if (r->cap - r->end < n)
			compact(r); /* then it fits: the message is at most cap bytes */
		memcpy(r->buf + r->end, *data, n);
		r->end += n;
		*data += n;
		*len -= n;
	}
}
