/* Reassembly: every order (forward, reverse, seeded random) with duplicates at
 * 1, 2, 3, N-1 and N fragments and odd sizes; the ACK rules; the memory and
 * slot bounds under a seeded random load with losses, timeouts and releases;
 * timeouts on an injected clock; a slot reused while a stale ref and a stale
 * message id still point at it. Fragments are fed from heap copies freed
 * right after, so a reassembler that kept a pointer to one is caught by ASan. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/wire-dgram.h"
#include "dgram-samples.h"

static void *mem;

static void teardown(void)
{
	free(mem);
	mem = NULL;
}

TestSuite(dgram_reasm, .fini = teardown);

static struct cw_dg_reasm *make(size_t max_bytes, uint32_t max_msgs, uint64_t timeout_ns)
{
	struct cw_dg_reasm_config cfg = {max_bytes, max_msgs, timeout_ns, 0x5eed};
	struct cw_dg_reasm *r;
	size_t n = cw_dg_reasm_bytes(&cfg);
	cr_assert(n);
	free(mem);
	mem = malloc(n);
	cr_assert_eq(cw_dg_reasm_init(&r, mem, n - 1, &cfg), -EINVAL);
	cr_assert_eq(cw_dg_reasm_init(&r, mem, n, &cfg), 0);
	return r;
}

/* Adds fragment i of msg[0..len) in count fragments, from a copy freed after
 * (kept for a one-fragment message, whose result points into it: *keep). */
static int add(struct cw_dg_reasm *r, uint64_t peer, uint32_t id, const uint8_t *msg,
	       uint32_t len, uint16_t count, uint16_t i, uint64_t now, struct cw_dg_result *res,
	       uint8_t **keep)
{
	struct cw_dg d;
	cr_assert_eq(cw_dg_data(&d, 1, id, msg, len, count, i), 0);
	uint8_t *c = malloc(d.payload_len);
	memcpy(c, d.payload, d.payload_len);
	d.payload = c;
	int ret = cw_dg_reasm_add(r, peer, &d, now, res);
	if (keep)
		*keep = c;
	else
		free(c);
	return ret;
}

static struct cw_dg_reasm_stats stats(const struct cw_dg_reasm *r)
{
	struct cw_dg_reasm_stats s;
	cw_dg_reasm_stats(r, &s);
	return s;
}

/* ---- orders ------------------------------------------------------------------ */

enum { FORWARD, REVERSE, RANDOM };

static void order(uint16_t *idx, uint16_t n, int how, uint32_t *seed)
{
	for (uint16_t i = 0; i < n; i++)
		idx[i] = how == REVERSE ? (uint16_t)(n - 1 - i) : i;
	for (uint16_t i = n; how == RANDOM && i > 1; i--) {
		uint16_t j = (uint16_t)(cdt_rng(seed) % i), t = idx[i - 1];
		idx[i - 1] = idx[j];
		idx[j] = t;
	}
}

/* One message of len bytes in count fragments, in an order, with a duplicate
 * after every third fragment: complete exactly at its last new fragment. */
static void one_message(struct cw_dg_reasm *r, uint32_t len, uint16_t count, int how,
			uint32_t seed)
{
	static uint16_t idx[CW_DG_MAX_FRAGS];
	uint8_t *msg = malloc(len), *keep = NULL;
	struct cw_dg_result res;
	struct cw_dg_reasm_stats before = stats(r);
	uint32_t dups = 0;
	const uint32_t id = seed;
	cdt_fill(msg, len, seed);
	order(idx, count, how, &seed);
	for (uint16_t k = 0; k < count; k++) {
		int ret = add(r, 7, id, msg, len, count, idx[k], 100, &res,
			      count == 1 ? &keep : NULL);
		cr_assert_eq(ret, 0, "len %u count %u order %d step %u", len, count, how, k);
		cr_assert_eq(res.received, k + 1);
		cr_assert_eq(res.complete, k + 1 == count);
		if (k % 3 == 2 && k + 1 < count) {
			uint16_t again = idx[cdt_rng(&seed) % (k + 1)];
			cr_assert_eq(add(r, 7, id, msg, len, count, again, 100, &res, NULL),
				     -EALREADY);
			cr_assert(res.ack && res.received == k + 1 && res.bitmap);
			dups++;
		}
	}
	cr_assert(res.complete && res.ack && res.len == len);
	cr_assert_eq(memcmp(res.msg, msg, len), 0, "len %u count %u order %d", len, count, how);
	if (count > 1) {
		cr_assert_eq(cw_dg_reasm_release(r, res.ref), 0);
		cr_assert_eq(add(r, 7, id, msg, len, count, 0, 100, &res, NULL), -EALREADY,
			     "a fragment of a completed message");
		dups++;
	}
	struct cw_dg_reasm_stats after = stats(r);
	cr_assert_eq(after.completed, before.completed + 1);
	cr_assert_eq(after.duplicates, before.duplicates + dups);
	cr_assert_eq(after.bytes_in_use, 0);
	free(keep);
	free(msg);
}

Test(dgram_reasm, every_order_count_and_odd_size)
{
	struct cw_dg_reasm *r = make(2u << 20, 4, 1000000000);
	static const uint16_t counts[] = {1, 2, 3, 63, 64};
	static const uint32_t sizes[] = {1, 7, 1447, 1448};
	uint32_t seed = 1;
	/* the last fragment as short as can be (1 byte) and as long (S) */
	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++)
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
			for (int full = 0; full <= (sizes[s] > 1); full++)
				for (int how = FORWARD; how <= RANDOM; how++) {
					uint32_t last = full ? sizes[s] : 1;
					one_message(r, sizes[s] * (counts[c] - 1u) + last,
						    counts[c], how, seed++);
				}
	/* the protocol's largest count, at the default payload */
	one_message(r, CW_DG_DEFAULT_PAYLOAD * 1023u + 5, CW_DG_MAX_FRAGS, RANDOM, seed++);
	cr_assert_eq(stats(r).refused, 0);
}

Test(dgram_reasm, a_count_above_the_limit_never_reaches_it)
{
	static uint8_t msg[65], dg[128];
	struct cw_dg d;
	struct cw_dg_limits lim = {1024, 64};
	size_t len;
	cr_assert_eq(cw_dg_data(&d, 1, 1, msg, 65, 65, 0), 0);
	cr_assert_eq(cw_dg_encode(dg, sizeof(dg), &d, &len, NULL, 0), 0);
	cr_assert_eq(cw_dg_decode(dg, len, &lim, &d, NULL, 0), -EMSGSIZE);
	cr_assert_eq(cw_dg_data(&d, 1, 1, msg, 64, 64, 0), 0);
	cr_assert_eq(cw_dg_encode(dg, sizeof(dg), &d, &len, NULL, 0), 0);
	cr_assert_eq(cw_dg_decode(dg, len, &lim, &d, NULL, 0), 0);
}

Test(dgram_reasm, one_fragment_completes_in_place)
{
	struct cw_dg_reasm *r = make(4096, 1, 1000);
	uint8_t msg[100];
	struct cw_dg d;
	struct cw_dg_result res;
	cdt_fill(msg, sizeof(msg), 3);
	cr_assert_eq(cw_dg_data(&d, 1, 1, msg, sizeof(msg), 1, 0), 0);
	cr_assert_eq(cw_dg_reasm_add(r, 1, &d, 0, &res), 0);
	cr_assert(res.complete && res.ack && res.received == 1 && !res.bitmap);
	cr_assert_eq(res.msg, msg, "copied: the fast path must not copy");
	cr_assert_eq(res.ref, 0);
	cr_assert_eq(cw_dg_reasm_release(r, 0), -ESTALE);
	struct cw_dg_reasm_stats s = stats(r);
	cr_assert(s.completed == 1 && s.bytes_in_use == 0 && s.partial == 0 && s.done == 1);
	/* remembered without its bytes: the retransmission is a duplicate */
	cr_assert_eq(cw_dg_reasm_add(r, 1, &d, 10, &res), -EALREADY);
	cr_assert(res.ack && res.received == 1 && !res.complete);
	cr_assert_eq(cw_dg_reasm_expire(r, 1000), 0);
	cr_assert_eq(stats(r).done, 0);
	cr_assert_eq(cw_dg_reasm_add(r, 1, &d, 1000, &res), 0);
	cr_assert(res.complete && res.msg == msg);
}

/* ---- the receiver's ACK rules ----------------------------------------------- */

Test(dgram_reasm, acks_on_gaps_fills_duplicates_and_completion)
{
	struct cw_dg_reasm *r = make(1 << 16, 4, 1000);
	uint8_t msg[600];
	struct cw_dg_result res;
	const uint8_t *bm;
	uint16_t got;
	cdt_fill(msg, sizeof(msg), 5);
	static const struct {
		uint16_t index;
		int ret;
		bool ack;
		uint8_t bitmap;
	} steps[] = {{0, 0, false, 0x01}, {1, 0, false, 0x03}, {3, 0, true, 0x0b},
		     {4, 0, false, 0x1b}, {4, -EALREADY, true, 0x1b}, {2, 0, true, 0x1f}};
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		int ret = add(r, 1, 1, msg, sizeof(msg), 6, steps[k].index, 10, &res, NULL);
		cr_assert_eq(ret, steps[k].ret, "step %zu", k);
		cr_assert_eq(res.ack, steps[k].ack, "step %zu", k);
		cr_assert_eq(res.bitmap[0], steps[k].bitmap, "step %zu", k);
		cr_assert_eq(cw_dg_reasm_bitmap(r, 1, 1, &bm, &got), 0);
		cr_assert(bm[0] == steps[k].bitmap && got == __builtin_popcount(steps[k].bitmap));
	}
	cr_assert_eq(add(r, 1, 1, msg, sizeof(msg), 6, 5, 10, &res, NULL), 0);
	cr_assert(res.complete && res.ack && !res.bitmap && res.received == 6);
	cr_assert_eq(cw_dg_reasm_bitmap(r, 1, 1, &bm, &got), 0);
	cr_assert(!bm && got == 6);
	cr_assert_eq(cw_dg_reasm_bitmap(r, 1, 2, &bm, &got), -ENOENT);
	cr_assert_eq(cw_dg_reasm_bitmap(r, 2, 1, &bm, &got), -ENOENT);
	/* a first fragment that is not fragment 0 opens a gap */
	cr_assert_eq(add(r, 1, 2, msg, sizeof(msg), 6, 2, 10, &res, NULL), 0);
	cr_assert(res.ack && res.bitmap[0] == 0x04);
}

Test(dgram_reasm, a_fragment_unlike_its_message_is_refused)
{
	struct cw_dg_reasm *r = make(1 << 16, 4, 1000);
	uint8_t msg[3000];
	struct cw_dg_result res;
	cdt_fill(msg, sizeof(msg), 9);
	cr_assert_eq(add(r, 1, 1, msg, 3000, 3, 0, 0, &res, NULL), 0);
	/* 2999 bytes: S is still 1000, so fragment 1 decodes; its message differs */
	cr_assert_eq(add(r, 1, 1, msg, 2999, 3, 1, 0, &res, NULL), -EBADMSG);
	cr_assert_eq(add(r, 1, 1, msg, 3000, 4, 1, 0, &res, NULL), -EBADMSG);
	cr_assert_eq(stats(r).inconsistent, 2);
	cr_assert_eq(add(r, 1, 1, msg, 3000, 3, 1, 0, &res, NULL), 0);
	cr_assert_eq(add(r, 1, 1, msg, 3000, 3, 2, 0, &res, NULL), 0);
	cr_assert(res.complete && !memcmp(res.msg, msg, 3000));
	/* and so is one unlike a completed message */
	cr_assert_eq(add(r, 1, 1, msg, 2999, 3, 1, 0, &res, NULL), -EBADMSG);
	/* not a decoded DATA: refused before anything is written */
	struct cw_dg d;
	cw_dg_data(&d, 1, 5, msg, 3000, 3, 1);
	d.payload_len = 1001;
	cr_assert_eq(cw_dg_reasm_add(r, 1, &d, 0, &res), -EINVAL);
	d.payload_len = 1000;
	d.kind = CW_DG_ACK;
	cr_assert_eq(cw_dg_reasm_add(r, 1, &d, 0, &res), -EINVAL);
}

/* ---- timeouts and remembered messages --------------------------------------- */

Test(dgram_reasm, timeouts_on_the_injected_clock)
{
	struct cw_dg_reasm *r = make(1 << 16, 4, 100);
	uint8_t msg[2000];
	struct cw_dg_result res;
	cdt_fill(msg, sizeof(msg), 11);
	cr_assert_eq(add(r, 1, 1, msg, 2000, 2, 0, 1000, &res, NULL), 0);
	cr_assert_eq(add(r, 2, 1, msg, 2000, 2, 0, 1050, &res, NULL), 0);
	cr_assert_eq(stats(r).bytes_in_use, 2 * 2048);
	cr_assert_eq(cw_dg_reasm_expire(r, 1099), 0);
	cr_assert_eq(cw_dg_reasm_expire(r, 1100), 1);
	struct cw_dg_reasm_stats s = stats(r);
	cr_assert(s.timeouts == 1 && s.partial == 1 && s.bytes_in_use == 2048);
	/* the late fragment starts the message over */
	cr_assert_eq(add(r, 1, 1, msg, 2000, 2, 1, 1101, &res, NULL), 0);
	cr_assert(!res.complete && res.received == 1);
	cr_assert_eq(cw_dg_reasm_expire(r, 1150), 1);
	cr_assert_eq(cw_dg_reasm_expire(r, 1201), 1);
	s = stats(r);
	cr_assert(s.timeouts == 3 && s.partial == 0 && s.bytes_in_use == 0 && s.done == 0);
}

Test(dgram_reasm, a_completed_message_is_remembered_for_the_timeout)
{
	struct cw_dg_reasm *r = make(1 << 16, 4, 100);
	uint8_t msg[2000];
	struct cw_dg_result res;
	cdt_fill(msg, sizeof(msg), 13);
	add(r, 1, 1, msg, 2000, 2, 0, 0, &res, NULL);
	cr_assert_eq(add(r, 1, 1, msg, 2000, 2, 1, 10, &res, NULL), 0);
	uint64_t ref = res.ref;
	/* held by the caller: a late fragment is a duplicate, answered in full */
	cr_assert_eq(add(r, 1, 1, msg, 2000, 2, 0, 20, &res, NULL), -EALREADY);
	cr_assert(res.ack && res.received == 2 && !res.bitmap);
	cr_assert_eq(cw_dg_reasm_expire(r, 500), 0); /* held messages never expire */
	cr_assert_eq(stats(r).held, 1);
	cr_assert_eq(cw_dg_reasm_release(r, ref), 0);
	cr_assert_eq(cw_dg_reasm_release(r, ref), -ESTALE);
	struct cw_dg_reasm_stats s = stats(r);
	cr_assert(s.held == 0 && s.done == 1 && s.bytes_in_use == 0);
	cr_assert_eq(add(r, 1, 1, msg, 2000, 2, 1, 30, &res, NULL), -EALREADY);
	/* forgotten once expired (from completion at 10): the same id is new again */
	cw_dg_reasm_expire(r, 110);
	cr_assert_eq(stats(r).done, 0);
	cr_assert_eq(add(r, 1, 1, msg, 2000, 2, 1, 120, &res, NULL), 0);
	cr_assert_eq(res.received, 1);
}

/* ---- bounds ------------------------------------------------------------------ */

Test(dgram_reasm, slots_run_out_then_records_are_reclaimed)
{
	struct cw_dg_reasm *r = make(1 << 16, 2, 1000);
	uint8_t msg[2000];
	struct cw_dg_result res;
	cdt_fill(msg, sizeof(msg), 17);
	cr_assert_eq(add(r, 1, 1, msg, 2000, 2, 0, 0, &res, NULL), 0);
	cr_assert_eq(add(r, 1, 2, msg, 2000, 2, 0, 0, &res, NULL), 0);
	cr_assert_eq(add(r, 1, 3, msg, 2000, 2, 0, 0, &res, NULL), -ENOBUFS);
	cr_assert_eq(stats(r).refused, 1);
	/* a one-fragment message needs no slot */
	cr_assert_eq(add(r, 1, 4, msg, 100, 1, 0, 0, &res, NULL), 0);
	cr_assert(res.complete);
	/* complete and release 1: its record goes when a new message needs the slot */
	cr_assert_eq(add(r, 1, 1, msg, 2000, 2, 1, 0, &res, NULL), 0);
	cr_assert_eq(cw_dg_reasm_release(r, res.ref), 0);
	cr_assert_eq(stats(r).done, 1);
	cr_assert_eq(add(r, 1, 3, msg, 2000, 2, 0, 0, &res, NULL), 0);
	struct cw_dg_reasm_stats s = stats(r);
	cr_assert(s.done == 0 && s.partial == 2 && s.refused == 1);
	cr_assert_eq(add(r, 1, 1, msg, 2000, 2, 1, 0, &res, NULL), -ENOBUFS, "forgotten: new");
}

Test(dgram_reasm, arena_room_runs_out_and_comes_back_whole)
{
	struct cw_dg_reasm *r = make(10000, 8, 1000); /* 9984 usable: 156 granules */
	static uint8_t msg[9984];
	struct cw_dg_result res;
	uint64_t refs[3];
	cdt_fill(msg, sizeof(msg), 19);
	for (uint32_t i = 0; i < 3; i++) {
		cr_assert_eq(add(r, 1, i + 1, msg, 3000, 2, 0, 0, &res, NULL), 0);
		cr_assert_eq(add(r, 1, i + 1, msg, 3000, 2, 1, 0, &res, NULL), 0);
		refs[i] = res.ref;
	}
	cr_assert_eq(stats(r).bytes_in_use, 3 * 3008);
	cr_assert_eq(add(r, 1, 9, msg, 2000, 2, 0, 0, &res, NULL), -ENOBUFS);
	cr_assert_eq(add(r, 1, 9, msg, 960, 2, 0, 0, &res, NULL), 0); /* 960 fits what is left */
	cr_assert_eq(cw_dg_reasm_expire(r, 1000), 1);
	/* freed out of order, the free extents coalesce back into one */
	cr_assert_eq(cw_dg_reasm_release(r, refs[1]), 0);
	cr_assert_eq(cw_dg_reasm_release(r, refs[0]), 0);
	cr_assert_eq(cw_dg_reasm_release(r, refs[2]), 0);
	cr_assert_eq(stats(r).bytes_in_use, 0);
	cr_assert_eq(add(r, 1, 10, msg, sizeof(msg), 2, 0, 1000, &res, NULL), 0);
	cr_assert_eq(add(r, 1, 10, msg, sizeof(msg), 2, 1, 1000, &res, NULL), 0);
	cr_assert(res.complete && !memcmp(res.msg, msg, sizeof(msg)));
	cr_assert_eq(stats(r).bytes_peak, sizeof(msg));
}

/* Many peers, interleaved fragments, 20% lost, random releases, a clock: the
 * bound holds after every call, the counters add up, every message completed
 * is its bytes (also when released long after: nothing wrote over it). */
#define LIVE 24
struct live {
	uint8_t *msg;
	uint32_t len, id;
	uint16_t count, next;
	uint64_t peer, ref;
	const uint8_t *held; /* in the arena */
	int state; /* 0 sending, 1 held, 2 finished */
};

Test(dgram_reasm, the_memory_bound_holds_under_load)
{
	const size_t bound = 64 << 10;
	struct cw_dg_reasm *r = make(bound, 16, 200000000);
	static struct live lv[LIVE];
	uint32_t seed = 77, next_id = 1;
	uint64_t refused = 0, completed = 0, timeouts = 0, now = 0;
	struct cw_dg_result res;
	for (int step = 0; step < 40000; step++, now += 100000) {
		struct live *m = &lv[cdt_rng(&seed) % LIVE];
		if (!m->msg || m->state == 2) { /* a new message */
			free(m->msg);
			*m = (struct live){.len = 1 + cdt_rng(&seed) % 20000, .id = next_id++,
					   .peer = cdt_rng(&seed) % 8};
			m->msg = malloc(m->len);
			cdt_fill(m->msg, m->len, m->id);
			uint32_t payload = 600 + cdt_rng(&seed) % 1000;
			cr_assert_eq(cw_dg_frags(m->len, payload, &m->count), 0);
		}
		if (m->state == 1) { /* held: sometimes released, checked first */
			if (cdt_rng(&seed) % 4 == 0) {
				cr_assert_eq(memcmp(m->held, m->msg, m->len), 0,
					     "overwritten while held");
				cr_assert_eq(cw_dg_reasm_release(r, m->ref), 0);
				m->state = 2;
			}
		} else if (cdt_rng(&seed) % 5 == 0) {
			m->next = (uint16_t)((m->next + 1) % m->count); /* lost */
		} else {
			uint8_t *keep = NULL; /* a one-fragment message is returned in place */
			int ret = add(r, m->peer, m->id, m->msg, m->len, m->count, m->next, now,
				      &res, m->count == 1 ? &keep : NULL);
			cr_assert(ret == 0 || ret == -ENOBUFS || ret == -EALREADY, "%d", ret);
			refused += ret == -ENOBUFS;
			m->next = (uint16_t)((m->next + 1) % m->count);
			if (!ret && res.complete) {
				completed++;
				cr_assert_eq(res.len, m->len);
				cr_assert_eq(memcmp(res.msg, m->msg, m->len), 0);
				m->state = res.ref ? 1 : 2;
				m->ref = res.ref;
				m->held = res.msg;
			}
			free(keep);
		}
		timeouts += cw_dg_reasm_expire(r, now);
		struct cw_dg_reasm_stats s = stats(r);
		cr_assert_leq(s.bytes_in_use, bound);
		cr_assert_leq(s.partial + s.held, 16);
		cr_assert(s.refused == refused && s.completed == completed &&
			  s.timeouts == timeouts);
	}
	cr_assert_gt(refused, 0, "the load never reached the bound");
	cr_assert_gt(completed, 200, "%llu", (unsigned long long)completed);
	cr_assert_gt(timeouts, 0);
	for (int i = 0; i < LIVE; i++) {
		if (lv[i].state == 1)
			cr_assert_eq(cw_dg_reasm_release(r, lv[i].ref), 0);
		free(lv[i].msg);
	}
	cw_dg_reasm_expire(r, now + 200000000);
	struct cw_dg_reasm_stats s = stats(r);
	cr_assert(s.bytes_in_use == 0 && s.partial == 0 && s.held == 0 && s.done == 0);
}

/* ---- a reused slot and stale references -------------------------------------- */

Test(dgram_reasm, a_reused_slot_ignores_stale_refs_and_ids)
{
	struct cw_dg_reasm *r = make(1 << 16, 1, 1000); /* one slot: every message reuses it */
	uint8_t a[2000], b[3000];
	struct cw_dg_result res;
	cdt_fill(a, sizeof(a), 21);
	cdt_fill(b, sizeof(b), 23);
	add(r, 1, 1, a, 2000, 2, 0, 0, &res, NULL);
	cr_assert_eq(add(r, 1, 1, a, 2000, 2, 1, 0, &res, NULL), 0);
	uint64_t ref_a = res.ref;
	cr_assert_eq(cw_dg_reasm_release(r, ref_a), 0);
	/* B takes the slot (A's record is reclaimed) and completes */
	cr_assert_eq(add(r, 1, 2, b, 3000, 3, 2, 5, &res, NULL), 0);
	/* A late fragment of A: a new message, but the one slot is B's */
	cr_assert_eq(add(r, 1, 1, a, 2000, 2, 0, 6, &res, NULL), -ENOBUFS);
	add(r, 1, 2, b, 3000, 3, 0, 7, &res, NULL);
	cr_assert_eq(add(r, 1, 2, b, 3000, 3, 1, 8, &res, NULL), 0);
	cr_assert(res.complete);
	uint64_t ref_b = res.ref;
	cr_assert_eq(ref_a & UINT32_MAX, ref_b & UINT32_MAX, "not the same slot");
	cr_assert_neq(ref_a, ref_b, "the same generation");
	cr_assert_eq(cw_dg_reasm_release(r, ref_a), -ESTALE);
	cr_assert_eq(stats(r).held, 1, "a stale ref released B");
	cr_assert_eq(memcmp(res.msg, b, sizeof(b)), 0);
	cr_assert_eq(cw_dg_reasm_release(r, ref_b ^ (1ull << 40)), -ESTALE);
	cr_assert_eq(cw_dg_reasm_release(r, (ref_b & ~(uint64_t)UINT32_MAX) | 2), -ESTALE);
	cr_assert_eq(cw_dg_reasm_release(r, ref_b), 0);
	cr_assert_eq(cw_dg_reasm_release(r, ref_b), -ESTALE);
	/* A's id comes back only as a new message once B's record is reclaimed */
	cr_assert_eq(add(r, 1, 1, a, 2000, 2, 1, 9, &res, NULL), 0);
	cr_assert(!res.complete && res.received == 1);
	cr_assert_eq(stats(r).bytes_in_use, 2048);
}

Test(dgram_reasm, config_is_checked)
{
	struct cw_dg_reasm_config bad[] = {{63, 1, 1, 0}, {4096, 0, 1, 0}, {4096, 65537, 1, 0},
					   {4096, 1, 0, 0}};
	struct cw_dg_reasm *r;
	char buf[64];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(cw_dg_reasm_bytes(&bad[i]), 0, "config %zu", i);
		cr_assert_eq(cw_dg_reasm_init(&r, buf, sizeof(buf), &bad[i]), -EINVAL);
	}
	cr_assert_eq(cw_dg_reasm_bytes(NULL), 0);
}
