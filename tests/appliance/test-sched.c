/* Scheduler: EDF inside a lane, the three readiness rules (full batch, max
 * delay, latest start), EDF across lanes, expiry, bounds on slots and big frame
 * buffers, joined versus per-partition lanes, dropping a closed connection's
 * requests, and a randomized run checked against the invariants. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../appliance/scheduler.h"

#define MS 1000000ull

/* Service estimate: 1 ms per image plus 1 ms, whatever the lane. */
static uint64_t est_linear(void *ctx, int e, int p, int n)
{
	(void)ctx, (void)e, (void)p;
	return (uint64_t)(n + 1) * MS;
}

static struct ap_sched_config base_cfg(void)
{
	struct ap_sched_config c = {
		.max_requests = 64,
		.max_batch = 4,
		.max_delay_ns = 5 * MS,
		.small_frame = 64,
		.big_frame = 1024,
		.big_frames = 2,
		.join = 0,
		.n_exits = 2,
		.exit_len = {5, 8},
		.estimate = est_linear,
	};
	return c;
}

static int push(struct ap_sched *s, uint64_t id, int e, int p, uint64_t arrival, uint64_t deadline,
		void *owner)
{
	int i = ap_sched_alloc(s, 16);
	cr_assert(i >= 0, "alloc: %d", i);
	struct ap_req *r = ap_sched_req(s, i);
	r->request_id = id;
	r->exit = (uint8_t)e;
	r->partition = (uint16_t)p;
	r->arrival_ns = arrival;
	r->deadline_ns = deadline;
	r->owner = owner;
	cr_assert_eq(ap_sched_push(s, i), 0);
	return i;
}

static void give_back(struct ap_sched *s, struct ap_batch *b)
{
	for (int k = 0; k < b->n; k++)
		ap_sched_release(s, b->idx[k]);
	for (int k = 0; k < b->n_expired; k++)
		ap_sched_release(s, b->expired[k]);
}

Test(sched, full_batch_runs_at_once_in_edf_order)
{
	struct ap_sched s;
	struct ap_batch b;
	struct ap_sched_config c = base_cfg();
	cr_assert_eq(ap_sched_init(&s, &c), 0);
	cr_assert_eq(ap_batch_init(&b, &s), 0);
	uint64_t deadlines[] = {90, 40, 70, 50, 60};
	for (int k = 0; k < 5; k++)
		push(&s, (uint64_t)k, 0, 2, 0, deadlines[k] * MS, NULL);
	uint64_t wake;
	cr_assert_eq(ap_sched_next(&s, 0, &b, &wake), 1);
	cr_assert_eq(b.n, 4);
	cr_assert_eq(b.n_expired, 0);
	uint64_t want[] = {1, 3, 4, 2};
	for (int k = 0; k < 4; k++)
		cr_assert_eq(ap_sched_req(&s, b.idx[k])->request_id, want[k], "position %d", k);
	give_back(&s, &b);
	/* one left: not full, not old, not urgent -> waits for max_delay (5 ms) */
	cr_assert_eq(ap_sched_next(&s, 1 * MS, &b, &wake), 0);
	cr_assert_eq(wake, 5 * MS);
	cr_assert_eq(ap_sched_next(&s, 5 * MS, &b, &wake), 1);
	cr_assert_eq(b.n, 1);
	cr_assert_eq(ap_sched_req(&s, b.idx[0])->request_id, 0);
	give_back(&s, &b);
	cr_assert_eq(ap_sched_queued(&s), 0);
	ap_batch_free(&b);
	ap_sched_free(&s);
}

Test(sched, latest_start_beats_max_delay)
{
	struct ap_sched s;
	struct ap_batch b;
	struct ap_sched_config c = base_cfg();
	c.max_delay_ns = 50 * MS;
	cr_assert_eq(ap_sched_init(&s, &c), 0);
	cr_assert_eq(ap_batch_init(&b, &s), 0);
	/* deadline 10 ms, one image takes 2 ms: must start by 8 ms */
	push(&s, 7, 1, 3, 0, 10 * MS, NULL);
	uint64_t wake;
	cr_assert_eq(ap_sched_next(&s, 0, &b, &wake), 0);
	cr_assert_eq(wake, 8 * MS);
	cr_assert_eq(ap_sched_next(&s, 8 * MS, &b, &wake), 1);
	cr_assert_eq(b.n, 1);
	give_back(&s, &b);
	ap_batch_free(&b);
	ap_sched_free(&s);
}

/* A reload's settings apply to what is queued already; max_batch stays within
 * what the batches were sized for. */
Test(sched, live_settings_apply_to_queued_requests)
{
	struct ap_sched s;
	struct ap_batch b;
	struct ap_sched_config c = base_cfg();
	cr_assert_eq(ap_sched_init(&s, &c), 0);
	cr_assert_eq(ap_batch_init(&b, &s), 0);
	cr_assert_eq(ap_sched_set_live(&s, 5, 5 * MS, 0), -EINVAL);
	cr_assert_eq(ap_sched_set_live(&s, 0, 5 * MS, 0), -EINVAL);
	for (int k = 0; k < 3; k++)
		push(&s, (uint64_t)k, 0, 2, 0, 100 * MS, NULL);
	uint64_t wake;
	cr_assert_eq(ap_sched_next(&s, 1 * MS, &b, &wake), 0);
	cr_assert_eq(wake, 5 * MS);
	/* max_batch 2: two of the three are a full batch now; then 1 ms of delay */
	cr_assert_eq(ap_sched_set_live(&s, 2, 1 * MS, 0), 0);
	cr_assert_eq(ap_sched_next(&s, 0, &b, &wake), 1);
	cr_assert_eq(b.n, 2);
	give_back(&s, &b);
	cr_assert_eq(ap_sched_next(&s, 0, &b, &wake), 0);
	cr_assert_eq(wake, 1 * MS);
	cr_assert_eq(ap_sched_set_live(&s, 4, 5 * MS, 0), 0);
	cr_assert_eq(ap_sched_next(&s, 5 * MS, &b, &wake), 1);
	cr_assert_eq(b.n, 1);
	give_back(&s, &b);
	ap_batch_free(&b);
	ap_sched_free(&s);
}

Test(sched, expired_are_refused_or_run_late)
{
	for (int late = 0; late < 2; late++) {
		struct ap_sched s;
		struct ap_batch b;
		struct ap_sched_config c = base_cfg();
		c.run_late = late;
		cr_assert_eq(ap_sched_init(&s, &c), 0);
		cr_assert_eq(ap_batch_init(&b, &s), 0);
		push(&s, 1, 0, 0, 0, 1 * MS, NULL);   /* cannot make it: 2 ms of work */
		push(&s, 2, 0, 0, 0, 100 * MS, NULL);
		uint64_t wake;
		cr_assert_eq(ap_sched_next(&s, 0, &b, &wake), 1);
		if (late) {
			cr_assert_eq(b.n, 2);
			cr_assert_eq(b.n_expired, 0);
		} else {
			cr_assert_eq(b.n_expired, 1);
			cr_assert_eq(ap_sched_req(&s, b.expired[0])->request_id, 1);
			cr_assert_eq(b.n, 1);
			cr_assert_eq(ap_sched_req(&s, b.idx[0])->request_id, 2);
		}
		give_back(&s, &b);
		cr_assert_eq(s.expired, late ? 0u : 1u);
		ap_batch_free(&b);
		ap_sched_free(&s);
	}
}

Test(sched, lanes_by_partition_or_joined)
{
	for (int join = 0; join < 2; join++) {
		struct ap_sched s;
		struct ap_batch b;
		struct ap_sched_config c = base_cfg();
		c.join = join;
		cr_assert_eq(ap_sched_init(&s, &c), 0);
		cr_assert_eq(ap_batch_init(&b, &s), 0);
		cr_assert_eq(s.n_lanes, join ? 2 : 13);
		/* four requests of exit 1 at two partitions: one full batch only when joined */
		for (int k = 0; k < 4; k++)
			push(&s, (uint64_t)k, 1, k % 2 ? 6 : 3, 0, 100 * MS, NULL);
		uint64_t wake;
		int ran = ap_sched_next(&s, 0, &b, &wake);
		cr_assert_eq(ran, join, "join %d", join);
		if (ran) {
			cr_assert_eq(b.n, 4);
			cr_assert_eq(b.exit, 1);
			give_back(&s, &b);
		}
		ap_batch_free(&b);
		ap_sched_free(&s);
	}
}

Test(sched, earliest_deadline_across_lanes)
{
	struct ap_sched s;
	struct ap_batch b;
	struct ap_sched_config c = base_cfg();
	c.max_batch = 2;
	cr_assert_eq(ap_sched_init(&s, &c), 0);
	cr_assert_eq(ap_batch_init(&b, &s), 0);
	push(&s, 10, 0, 1, 0, 80 * MS, NULL);
	push(&s, 11, 0, 1, 0, 90 * MS, NULL);
	push(&s, 20, 1, 4, 0, 30 * MS, NULL);
	push(&s, 21, 1, 4, 0, 95 * MS, NULL);
	uint64_t wake;
	cr_assert_eq(ap_sched_next(&s, 0, &b, &wake), 1);
	cr_assert_eq(b.exit, 1);
	cr_assert_eq(ap_sched_req(&s, b.idx[0])->request_id, 20);
	give_back(&s, &b);
	cr_assert_eq(ap_sched_next(&s, 0, &b, &wake), 1);
	cr_assert_eq(b.exit, 0);
	give_back(&s, &b);
	ap_batch_free(&b);
	ap_sched_free(&s);
}

Test(sched, bounds_on_slots_and_big_frames)
{
	struct ap_sched s;
	struct ap_sched_config c = base_cfg();
	c.max_requests = 3;
	cr_assert_eq(ap_sched_init(&s, &c), 0);
	cr_assert_eq(ap_sched_alloc(&s, 1025), -EMSGSIZE);
	int a = ap_sched_alloc(&s, 1024), b = ap_sched_alloc(&s, 65);
	cr_assert(a >= 0 && b >= 0);
	cr_assert_eq(ap_sched_alloc(&s, 100), -EBUSY, "third big frame with two buffers");
	int small = ap_sched_alloc(&s, 64);
	cr_assert(small >= 0);
	cr_assert_eq(ap_sched_alloc(&s, 1), -EBUSY, "fourth slot");
	/* frames never overlap */
	memset(ap_sched_req(&s, a)->frame, 0xA1, 1024);
	memset(ap_sched_req(&s, b)->frame, 0xB2, 1024);
	memset(ap_sched_req(&s, small)->frame, 0xC3, 64);
	cr_assert_eq(ap_sched_req(&s, a)->frame[1023], 0xA1);
	ap_sched_release(&s, a);
	cr_assert(ap_sched_alloc(&s, 1000) >= 0, "a released big buffer is reused");
	ap_sched_free(&s);
}

Test(sched, bad_exit_or_partition_refused)
{
	struct ap_sched s;
	struct ap_sched_config c = base_cfg();
	cr_assert_eq(ap_sched_init(&s, &c), 0);
	int i = ap_sched_alloc(&s, 1);
	ap_sched_req(&s, i)->exit = 0;
	ap_sched_req(&s, i)->partition = 5; /* exit 0 has positions 0..4 */
	cr_assert_eq(ap_sched_push(&s, i), -EINVAL);
	ap_sched_req(&s, i)->exit = 2;
	ap_sched_req(&s, i)->partition = 0;
	cr_assert_eq(ap_sched_push(&s, i), -EINVAL);
	ap_sched_release(&s, i);
	cr_assert_eq(ap_sched_queued(&s), 0);
	ap_sched_free(&s);
}

Test(sched, drop_owner)
{
	struct ap_sched s;
	struct ap_batch b;
	struct ap_sched_config c = base_cfg();
	cr_assert_eq(ap_sched_init(&s, &c), 0);
	cr_assert_eq(ap_batch_init(&b, &s), 0);
	int x, y;
	for (int k = 0; k < 6; k++)
		push(&s, (uint64_t)k, k % 2, 1, 0, 100000 * MS, k % 3 ? (void *)&x : (void *)&y);
	cr_assert_eq(ap_sched_drop_owner(&s, &x), 4);
	cr_assert_eq(ap_sched_queued(&s), 2);
	uint64_t wake;
	int seen = 0;
	while (ap_sched_next(&s, 1000 * MS, &b, &wake)) {
		for (int k = 0; k < b.n; k++)
			cr_assert_eq(ap_sched_req(&s, b.idx[k])->owner, (void *)&y);
		seen += b.n;
		give_back(&s, &b);
	}
	cr_assert_eq(seen, 2);
	ap_batch_free(&b);
	ap_sched_free(&s);
}

/* Random arrivals over time: every request leaves exactly once, batches respect
 * max_batch and EDF order, nothing runs early unless its batch is full, and no
 * request that ran was already past its deadline by the estimate. */
Test(sched, randomized_invariants)
{
	for (int join = 0; join < 2; join++) {
		struct ap_sched s;
		struct ap_batch b;
		struct ap_sched_config c = base_cfg();
		c.join = join;
		c.max_requests = 256;
		c.max_batch = 8;
		cr_assert_eq(ap_sched_init(&s, &c), 0);
		cr_assert_eq(ap_batch_init(&b, &s), 0);
		static int seen[100000];
		memset(seen, 0, sizeof(seen));
		uint64_t now = 0, rng = 12345;
		int pushed = 0, out = 0;
		for (int step = 0; step < 20000; step++) {
			rng = rng * 6364136223846793005ull + 1442695040888963407ull;
			now += (rng >> 33) % (300 * 1000); /* up to 0.3 ms apart */
			if (pushed < 100000 && ap_sched_queued(&s) < 250 && (rng >> 20) % 3) {
				int e = (int)((rng >> 40) % 2), p = (int)((rng >> 45) % c.exit_len[e]);
				uint64_t budget = (2 + (rng >> 50) % 40) * MS;
				push(&s, (uint64_t)pushed, e, p, now, now + budget, NULL);
				pushed++;
			}
			uint64_t wake;
			while (ap_sched_next(&s, now, &b, &wake)) {
				cr_assert_leq(b.n, c.max_batch);
				for (int k = 0; k < b.n; k++) {
					struct ap_req *r = ap_sched_req(&s, b.idx[k]);
					cr_assert_eq(r->exit, b.exit);
					if (k)
						cr_assert_geq(r->deadline_ns,
							      ap_sched_req(&s, b.idx[k - 1])->deadline_ns);
					cr_assert_leq(now + est_linear(NULL, 0, 0, k + 1), r->deadline_ns);
					seen[r->request_id]++;
				}
				for (int k = 0; k < b.n_expired; k++)
					seen[ap_sched_req(&s, b.expired[k])->request_id]++;
				out += b.n + b.n_expired;
				give_back(&s, &b);
			}
			cr_assert(wake > now, "a due lane left behind");
		}
		uint64_t wake;
		while (ap_sched_next(&s, UINT64_MAX / 2, &b, &wake)) {
			for (int k = 0; k < b.n; k++)
				seen[ap_sched_req(&s, b.idx[k])->request_id]++;
			for (int k = 0; k < b.n_expired; k++)
				seen[ap_sched_req(&s, b.expired[k])->request_id]++;
			out += b.n + b.n_expired;
			give_back(&s, &b);
		}
		cr_assert_eq(out, pushed);
		for (int k = 0; k < pushed; k++)
			cr_assert_eq(seen[k], 1, "request %d left %d times", k, seen[k]);
		cr_assert_eq(ap_sched_queued(&s), 0);
		ap_batch_free(&b);
		ap_sched_free(&s);
	}
}
