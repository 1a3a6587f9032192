/* appliance/rcache.c against a plain model of its rules: a ring of entries
 * taken in turn, a running entry never evicted, a copy of a running request
 * told so, a copy of an answered one given the answer. 200,000 random
 * operations over few keys (so copies, evictions and full rings all happen)
 * must agree with the model step by step; the answer handed out must be the
 * bytes stored for that very key, also after its entry was reused. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "../../appliance/rcache.h"

#define ENTRIES 8
#define MAXA 16
#define STALE 1000

/* The model: the ring's keys and states in turn order. */
struct mentry {
	uint64_t session, id;
	int state;
	uint8_t answer[MAXA];
	size_t len;
};
static struct mentry ring[ENTRIES];
static int turn;

static int model_find(uint64_t s, uint64_t id)
{
	for (int i = 0; i < ENTRIES; i++)
		if (ring[i].state && ring[i].session == s && ring[i].id == id)
			return i;
	return -1;
}

static int model_admit(uint64_t s, uint64_t id)
{
	int i = model_find(s, id);
	if (i >= 0)
		return ring[i].state;
	if (ring[turn].state == AP_RC_RUNNING)
		return -EBUSY;
	ring[turn] = (struct mentry){s, id, AP_RC_RUNNING, {0}, 0};
	turn = (turn + 1) % ENTRIES;
	return AP_RC_NEW;
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

Test(rcache, agrees_with_the_model)
{
	struct ap_rc *c;
	uint64_t x = 88172645463325252ull;
	cr_assert_eq(ap_rc_create(ENTRIES, MAXA, STALE, &c), 0);
	for (int step = 0; step < 200000; step++) {
		uint64_t s = rnd(&x) % 3 + 1, id = rnd(&x) % 12;
		if (rnd(&x) % 2) {
			const uint8_t *a = NULL;
			size_t len = 0;
			int want = model_admit(s, id), got = ap_rc_admit(c, s, id, 0, &a, &len);
			cr_assert_eq(got, want, "step %d: admit (%llu, %llu): %d, model %d", step,
				     (unsigned long long)s, (unsigned long long)id, got, want);
			if (got == AP_RC_ANSWERED) {
				int i = model_find(s, id);
				cr_assert_eq(len, ring[i].len);
				cr_assert_eq(memcmp(a, ring[i].answer, len), 0, "step %d", step);
			}
			continue;
		}
		/* answer: sometimes a key that does not run */
		uint8_t ans[MAXA];
		size_t len = 1 + rnd(&x) % MAXA;
		memset(ans, (int)(s * 16 + id), len);
		int i = model_find(s, id);
		int want = i >= 0 && ring[i].state == AP_RC_RUNNING ? 0 : -ENOENT;
		cr_assert_eq(ap_rc_answer(c, s, id, ans, len), want, "step %d", step);
		if (!want) {
			ring[i].state = AP_RC_ANSWERED;
			memcpy(ring[i].answer, ans, len);
			ring[i].len = len;
		}
	}
	const struct ap_rc_stats *st = ap_rc_stats(c);
	cr_expect(st->admitted && st->dup_running && st->dup_answered && st->busy && st->evicted &&
		  st->unknown, "every path taken");
	ap_rc_destroy(c);
}

Test(rcache, running_requests_are_never_evicted)
{
	struct ap_rc *c;
	const uint8_t *a;
	size_t len;
	cr_assert_eq(ap_rc_create(2, MAXA, STALE, &c), 0);
	cr_assert_eq(ap_rc_admit(c, 1, 1, 0, &a, &len), AP_RC_NEW);
	cr_assert_eq(ap_rc_admit(c, 1, 2, 0, &a, &len), AP_RC_NEW);
	cr_assert_eq(ap_rc_admit(c, 1, 3, 0, &a, &len), -EBUSY);
	cr_assert_eq(ap_rc_admit(c, 1, 1, 0, &a, &len), AP_RC_RUNNING);
	cr_assert_eq(ap_rc_answer(c, 1, 1, (const uint8_t *)"one", 3), 0);
	cr_assert_eq(ap_rc_admit(c, 1, 1, 0, &a, &len), AP_RC_ANSWERED);
	cr_assert(len == 3 && !memcmp(a, "one", 3));
	/* the answered entry is next in turn: a new request takes it, and with it
	 * goes the promise for (1, 1) */
	cr_assert_eq(ap_rc_admit(c, 2, 1, 0, &a, &len), AP_RC_NEW);
	cr_assert_eq(ap_rc_answer(c, 2, 1, (const uint8_t *)"two", 3), 0);
	cr_assert_eq(ap_rc_admit(c, 2, 1, 0, &a, &len), AP_RC_ANSWERED);
	cr_assert(len == 3 && !memcmp(a, "two", 3), "the reused buffer holds the new answer");
	cr_assert_eq(ap_rc_stats(c)->evicted, 1);
	cr_assert_eq(ap_rc_stats(c)->busy, 1);
	ap_rc_destroy(c);
}

Test(rcache, oversized_answers_and_bad_sizes)
{
	struct ap_rc *c;
	const uint8_t *a;
	size_t len = 99;
	uint8_t big[MAXA + 1] = {0};
	cr_assert_eq(ap_rc_create(0, MAXA, STALE, &c), -EINVAL);
	cr_assert_eq(ap_rc_create(4, 0, STALE, &c), -EINVAL);
	cr_assert_eq(ap_rc_create(4, MAXA, STALE, &c), 0);
	cr_assert_eq(ap_rc_answer(c, 9, 9, big, 1), -ENOENT);
	cr_assert_eq(ap_rc_admit(c, 1, 1, 0, &a, &len), AP_RC_NEW);
	cr_assert_eq(ap_rc_answer(c, 1, 1, big, sizeof(big)), -EMSGSIZE);
	/* answered without bytes: a copy is not run again */
	cr_assert_eq(ap_rc_admit(c, 1, 1, 0, &a, &len), AP_RC_ANSWERED);
	cr_assert_eq(len, 0);
	cr_assert_eq(ap_rc_answer(c, 1, 1, big, 1), -ENOENT, "answered twice");
	cr_assert_eq(ap_rc_stats(c)->too_large, 1);
	ap_rc_destroy(c);
}

Test(rcache, lookup_admits_nothing)
{
	struct ap_rc *c;
	const uint8_t *a;
	size_t len;
	cr_assert_eq(ap_rc_create(1, MAXA, STALE, &c), 0);
	cr_assert_eq(ap_rc_lookup(c, 1, 1, &a, &len), AP_RC_NEW);
	cr_assert_eq(ap_rc_admit(c, 1, 2, 0, &a, &len), AP_RC_NEW, "the one entry is still free");
	cr_assert_eq(ap_rc_lookup(c, 1, 2, &a, &len), AP_RC_RUNNING);
	cr_assert_eq(ap_rc_stats(c)->admitted, 1);
	ap_rc_destroy(c);
}

/* A request that runs far too long (its peer's framing broke and the session
 * dropped it unanswered) gives its entry up once stale. */
Test(rcache, stale_running_entries_are_taken)
{
	struct ap_rc *c;
	const uint8_t *a;
	size_t len;
	cr_assert_eq(ap_rc_create(1, MAXA, STALE, &c), 0);
	cr_assert_eq(ap_rc_admit(c, 1, 1, 100, &a, &len), AP_RC_NEW);
	cr_assert_eq(ap_rc_admit(c, 1, 2, 100 + STALE - 1, &a, &len), -EBUSY);
	cr_assert_eq(ap_rc_admit(c, 1, 2, 100 + STALE, &a, &len), AP_RC_NEW);
	cr_assert_eq(ap_rc_lookup(c, 1, 1, &a, &len), AP_RC_NEW, "the stale one is gone");
	cr_assert_eq(ap_rc_answer(c, 1, 1, (const uint8_t *)"x", 1), -ENOENT);
	cr_assert_eq(ap_rc_stats(c)->stale, 1);
	ap_rc_destroy(c);
}
