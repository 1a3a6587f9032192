/* libFuzzer target: datagrams on untrusted bytes.
 *
 * 1. The input as one datagram: whatever decodes must encode back to the
 *    input's bytes (one encoding per datagram).
 * 2. The input as a sequence of records, [ctl u8][len u16 LE][len bytes],
 *    each a datagram for a small reassembler (16 KiB, 8 slots, 20 ms): ctl
 *    bits 0-1 the peer, 2-4 milliseconds to advance the clock, 5 release the
 *    oldest held message, 6 make the header's magic, version and kind those
 *    of a DATA (so mutations reach the fields), 7 expire. After every call:
 *    bytes in use within the bound; a completed message equals the bytes of
 *    the fragments accepted for it; a held message is unchanged when
 *    released; at the end everything released and expired frees all. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/wire-dgram.h"

#define MAX_BYTES (16u << 10)
#define MAX_LOG 4096
#define MAX_HELD 16
#define MS 1000000ull

static const struct cw_dg_limits lim = {1u << 16, 64};
static const struct cw_dg_reasm_config cfg = {MAX_BYTES, 8, 20 * MS, 42};
static void *mem;
static uint8_t enc[CW_DG_HEADER_BYTES + (1u << 16)];

struct frag {
	uint64_t peer;
	uint32_t id;
	uint16_t index;
	const uint8_t *bytes;
	uint32_t len;
	int live;
};

struct held {
	uint64_t ref, hash;
	const uint8_t *msg;
	uint32_t len;
};

static struct frag log_[MAX_LOG];
static size_t nlog;
static struct held held[MAX_HELD];
static size_t nheld;

static uint64_t fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static void one_datagram(const uint8_t *data, size_t size)
{
	struct cw_dg d;
	size_t len;
	int ret = cw_dg_decode(data, size, &lim, &d, NULL, 0);
	if (ret) {
		if (ret != -EBADMSG && ret != -EMSGSIZE && ret != -EPROTONOSUPPORT)
			abort();
		return;
	}
	if (cw_dg_encode(enc, sizeof(enc), &d, &len, NULL, 0) || len != size ||
	    memcmp(enc, data, size))
		abort(); /* decoded, but not the one encoding of it */
}

/* A completed message against the fragments accepted for its key since it
 * started (a timed-out try of the same key is marked dead by then). */
static void check_complete(uint64_t peer, const struct cw_dg *d, const struct cw_dg_result *res)
{
	uint32_t off, len;
	if (res->len != d->msg_len)
		abort();
	for (size_t i = 0; i < nlog; i++) {
		struct frag *f = &log_[i];
		if (!f->live || f->peer != peer || f->id != d->msg_id)
			continue;
		if (cw_dg_frag(d->msg_len, d->count, f->index, &off, &len) || len != f->len ||
		    memcmp(res->msg + off, f->bytes, len))
			abort();
		f->live = 0;
	}
}

static void forget(uint64_t peer, uint32_t id)
{
	for (size_t i = 0; i < nlog; i++)
		if (log_[i].peer == peer && log_[i].id == id)
			log_[i].live = 0;
}

static void release_oldest(struct cw_dg_reasm *r)
{
	if (!nheld)
		return;
	if (fnv(held[0].msg, held[0].len) != held[0].hash)
		abort(); /* the arena wrote over a held message */
	if (cw_dg_reasm_release(r, held[0].ref) || cw_dg_reasm_release(r, held[0].ref) != -ESTALE)
		abort();
	memmove(held, held + 1, --nheld * sizeof(held[0]));
}

static void add(struct cw_dg_reasm *r, uint64_t peer, const struct cw_dg *d, uint64_t now)
{
	struct cw_dg_result res;
	int ret = cw_dg_reasm_add(r, peer, d, now, &res);
	if (ret && ret != -EALREADY && ret != -ENOBUFS && ret != -EBADMSG)
		abort();
	if (ret)
		return;
	if (res.received == 1)
		forget(peer, d->msg_id); /* a new try of this key */
	if (nlog < MAX_LOG)
		log_[nlog++] = (struct frag){peer, d->msg_id, d->index, d->payload, d->payload_len,
					     1};
	if (!res.complete)
		return;
	if (d->count == 1 && res.msg != d->payload)
		abort(); /* a one-fragment message is never copied */
	check_complete(peer, d, &res);
	if (res.ref) {
		if (nheld == MAX_HELD)
			release_oldest(r);
		held[nheld++] = (struct held){res.ref, fnv(res.msg, res.len), res.msg, res.len};
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cw_dg_reasm *r;
	struct cw_dg_reasm_stats st;
	static uint8_t dg[CW_DG_HEADER_BYTES + (1u << 16)];
	size_t need = cw_dg_reasm_bytes(&cfg);
	if (!mem && !(mem = malloc(need)))
		abort();
	if (cw_dg_reasm_init(&r, mem, need, &cfg))
		abort();
	one_datagram(data, size);
	nlog = nheld = 0;
	uint64_t now = 0;
	for (size_t pos = 0; pos + 3 <= size;) {
		uint8_t ctl = data[pos];
		size_t len = (size_t)(data[pos + 1] | data[pos + 2] << 8);
		const uint8_t *at = data + pos + 3;
		pos += 3;
		if (len > size - pos)
			len = size - pos;
		memcpy(dg, at, len);
		pos += len;
		if (ctl & 0x40 && len >= 4)
			memcpy(dg, "CD\x01\x01", 4);
		now += (ctl >> 2 & 7) * MS;
		if (ctl & 0x20)
			release_oldest(r);
		struct cw_dg d;
		if (!cw_dg_decode(dg, len, &lim, &d, NULL, 0) && d.kind == CW_DG_DATA) {
			d.payload = at + (d.payload - dg); /* the input's bytes: they outlive dg */
			add(r, ctl & 3, &d, now);
		}
		if (ctl & 0x80)
			cw_dg_reasm_expire(r, now);
		cw_dg_reasm_stats(r, &st);
		if (st.bytes_in_use > MAX_BYTES || st.partial + st.held > cfg.max_msgs)
			abort();
	}
	while (nheld)
		release_oldest(r);
	cw_dg_reasm_expire(r, now + 1000 * MS);
	cw_dg_reasm_stats(r, &st);
	if (st.bytes_in_use || st.partial || st.held || st.done)
		abort();
	return 0;
}
