/* libFuzzer target: the wire protocol on untrusted bytes.
 *
 * 1. The input as one message, and once more with its header made consistent
 *    (magic, version, a known type, body_len = the rest) so that mutations reach
 *    the body checks. Whatever decodes is encoded again: the bytes must be the
 *    input's (one encoding per message; PING padding aside) and decode to the
 *    same values.
 * 2. The input as a stream, through the reader fed two ways with different
 *    splits (recv-style pieces into the reader, and caller buffers taken in
 *    place): both must yield the same sequence of messages and errors. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/wire.h"
#include "../wire/samples.h"

#define MAX_EVENTS 8192

static struct cw_limits lim;
static uint8_t *enc_buf, *reader_buf;
static size_t enc_cap;

struct event {
	int ret;
	enum cw_type type;
	uint64_t request_id, hash;
};

static uint64_t fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

/* A decoded message must encode back to its own bytes (msg, or NULL when they
 * are not at hand) and decode to the same values; returns the encoding's hash. */
static uint64_t check(const struct cw_msg *m, const uint8_t *msg, size_t msg_len)
{
	size_t len;
	char err[256], why[256];
	struct cw_msg d;
	if (cw_encode(enc_buf, enc_cap, m, &len, err, sizeof(err)))
		abort(); /* the decoder accepted what the encoder refuses */
	if (msg) {
		size_t cmp = m->type == CW_PING ? CW_HEADER_BYTES + CW_PING_FIXED_BYTES : len;
		if (len != msg_len || memcmp(enc_buf, msg, cmp))
			abort(); /* two encodings of one message */
	}
	if (cw_decode(enc_buf, len, &lim, &d, err, sizeof(err)) || !cwt_msg_eq(m, &d, why, sizeof(why)))
		abort();
	return fnv(enc_buf, len);
}

static void decode_one(const uint8_t *data, size_t size)
{
	struct cw_msg m;
	char err[256];
	int ret = cw_decode(data, size, &lim, &m, err, sizeof(err));
	if (!ret)
		check(&m, data, size);
	else if (ret != -EAGAIN && ret != -EBADMSG && ret != -EMSGSIZE && ret != -EPROTONOSUPPORT)
		abort();
}

static uint32_t rng(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Piece sizes: mostly small, sometimes large, from a seed of the input. */
static size_t piece(uint32_t *s)
{
	uint32_t r = rng(s);
	return r % 4 ? 1 + r % 17 : 1 + r % 3000;
}

static int record(struct event *ev, size_t *n, int ret, const struct cw_msg *m)
{
	if (*n >= MAX_EVENTS)
		return 0;
	struct event e = {ret, m->type, m->request_id, 0};
	if (!ret)
		e.hash = check(m, NULL, 0);
	ev[(*n)++] = e;
	return 1;
}

static size_t run_space(const uint8_t *data, size_t size, uint32_t seed, struct event *ev)
{
	struct cw_reader r;
	struct cw_msg m;
	size_t pos = 0, n = 0;
	if (cw_reader_init(&r, reader_buf, cw_reader_bytes(&lim), &lim))
		abort();
	while (pos < size) {
		size_t avail, k = piece(&seed);
		uint8_t *p = cw_reader_space(&r, &avail);
		if (!p || !avail)
			abort(); /* an unfailed reader always has room once drained */
		if (k > avail)
			k = avail;
		if (k > size - pos)
			k = size - pos;
		memcpy(p, data + pos, k);
		pos += k;
		if (cw_reader_commit(&r, k))
			abort();
		int ret;
		while ((ret = cw_reader_next(&r, &m, NULL, 0)) != -EAGAIN) {
			if (!record(ev, &n, ret, &m))
				return n;
			if (cw_reader_failed(&r))
				return n;
		}
	}
	return n;
}

static size_t run_take(const uint8_t *data, size_t size, uint32_t seed, struct event *ev)
{
	struct cw_reader r;
	struct cw_msg m;
	size_t pos = 0, n = 0;
	if (cw_reader_init(&r, reader_buf, cw_reader_bytes(&lim), &lim))
		abort();
	while (pos < size) {
		size_t k = piece(&seed);
		if (k > size - pos)
			k = size - pos;
		/* a buffer of its own, so reading past a piece is caught */
		uint8_t *p = malloc(k);
		if (!p)
			return n;
		memcpy(p, data + pos, k);
		const uint8_t *d = p;
		size_t left = k;
		int ret;
		while ((ret = cw_reader_take(&r, &d, &left, &m, NULL, 0)) != -EAGAIN) {
			if (!record(ev, &n, ret, &m) || cw_reader_failed(&r)) {
				free(p);
				return n;
			}
		}
		if (left)
			abort(); /* -EAGAIN means the piece was used up */
		free(p);
		pos += k;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct event a[MAX_EVENTS], b[MAX_EVENTS];
	if (!reader_buf) {
		lim = cw_limits_make(8192, 8192);
		enc_cap = cw_reader_bytes(&lim);
		enc_buf = malloc(enc_cap);
		reader_buf = malloc(cw_reader_bytes(&lim));
		if (!enc_buf || !reader_buf)
			abort();
	}
	decode_one(data, size);
	if (size >= CW_HEADER_BYTES && size - CW_HEADER_BYTES <= UINT32_MAX) {
		uint8_t *c = malloc(size);
		if (!c)
			return 0;
		memcpy(c, data, size);
		memcpy(c, "CFWP", 4);
		c[4] = CW_VERSION;
		c[5] = (uint8_t)(c[5] % (CW_TYPE_END - 1) + 1);
		c[6] = c[7] = 0;
		for (int i = 0; i < 4; i++) {
			c[8 + i] = (uint8_t)((size - CW_HEADER_BYTES) >> 8 * i);
			c[12 + i] = 0;
		}
		decode_one(c, size);
		free(c);
	}
	uint32_t seed = 0x9e3779b9u ^ (uint32_t)size;
	for (size_t i = 0; i < size && i < 8; i++)
		seed = seed * 31 + data[i];
	size_t na = run_space(data, size, seed | 1, a);
	size_t nb = run_take(data, size, (seed * 2654435761u) | 1, b);
	if (na != nb)
		abort();
	for (size_t i = 0; i < na; i++)
		if (a[i].ret != b[i].ret || a[i].type != b[i].type ||
		    a[i].request_id != b[i].request_id || a[i].hash != b[i].hash)
			abort();
	return 0;
}
