/* Reusable slots of the appliance, reused while something might still refer to
 * them (the invariants are written at the top of conns.h and scheduler.h).
 *
 * Connection slots: a slot is never handed to a new peer while anything of its
 * old life refers to it, and the end-of-turn queues stay bounded and acyclic
 * whatever order close, free and accept come in. The first test is the
 * livelock's sequence within one loop turn: a peer with replies queued for the
 * flush is closed, and a new peer is accepted before the flush runs. The slot
 * table is driven directly, so the order is exact.
 *
 * Request slots: closing a connection while its requests are in a batch being
 * answered frees none of them under the caller, and a slot released twice is
 * not handed out twice. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>

#include "../../appliance/conns.h"
#include "../../appliance/scheduler.h"

/* Drains a queue the way the server's flush does, returning how many live slots
 * it yielded; a queue that yields more than n entries has a cycle. */
static int drain(struct ap_conns *t, enum ap_conns_queue q, int *seen)
{
	int k = 0, i;
	while ((i = ap_conns_pop(t, q)) >= 0) {
		cr_assert_lt(k, t->n, "queue yields more than %d slots: a cycle", t->n);
		cr_assert(ap_conns_live(t, i), "slot %d popped but not live", i);
		if (seen)
			seen[k] = i;
		k++;
	}
	return k;
}

Test(reuse, closed_with_replies_queued_then_accept_in_the_same_turn)
{
	struct ap_conns t;
	cr_assert_eq(ap_conns_init(&t, 4), 0);
	int a = ap_conns_take(&t), b = ap_conns_take(&t);
	cr_assert(a >= 0 && b >= 0 && a != b);
	uint32_t gen_a = t.slot[a].gen;
	ap_conns_want(&t, AP_Q_FLUSH, b);
	ap_conns_want(&t, AP_Q_FLUSH, a);
	ap_conns_want(&t, AP_Q_FLUSH, a); /* a second reply: still once in the queue */
	/* a's peer resets; a new peer arrives in the same turn */
	ap_conns_kill(&t, a);
	int c = ap_conns_take(&t);
	cr_assert(c >= 0);
	cr_assert_neq(c, a, "slot %d reused while still queued for the flush", a);
	ap_conns_want(&t, AP_Q_FLUSH, c);
	/* the flush: b and c are sent, a is skipped and released */
	int seen[4];
	cr_assert_eq(drain(&t, AP_Q_FLUSH, seen), 2);
	cr_assert(seen[0] != a && seen[1] != a);
	cr_assert_eq(t.slot[a].state, AP_SLOT_FREE);
	cr_assert(!ap_conns_current(&t, a, gen_a), "the old life of slot %d is still current", a);
	/* now it may be reused, as a new life */
	int d = ap_conns_take(&t);
	cr_assert_eq(d, a);
	cr_assert(!ap_conns_current(&t, a, gen_a));
	cr_assert(ap_conns_current(&t, a, t.slot[a].gen));
	ap_conns_free(&t);
}

Test(reuse, operation_in_flight_holds_the_slot)
{
	struct ap_conns t;
	cr_assert_eq(ap_conns_init(&t, 2), 0);
	int a = ap_conns_take(&t);
	uint32_t gen = t.slot[a].gen;
	ap_conns_op_begin(&t, a); /* a receive */
	ap_conns_op_begin(&t, a); /* a send */
	ap_conns_kill(&t, a);
	cr_assert_neq(ap_conns_take(&t), a);
	cr_assert_eq(ap_conns_take(&t), -ENOSPC, "only two slots, one still held");
	ap_conns_op_end(&t, a);
	cr_assert_eq(t.slot[a].state, AP_SLOT_DEAD);
	cr_assert(ap_conns_current(&t, a, gen), "a late completion must still match until freed");
	ap_conns_op_end(&t, a);
	cr_assert_eq(t.slot[a].state, AP_SLOT_FREE);
	cr_assert(!ap_conns_current(&t, a, gen));
	cr_assert_eq(ap_conns_take(&t), a);
	ap_conns_free(&t);
}

Test(reuse, rearm_queue_holds_the_slot)
{
	struct ap_conns t;
	cr_assert_eq(ap_conns_init(&t, 2), 0);
	int a = ap_conns_take(&t);
	ap_conns_want(&t, AP_Q_REARM, a);
	ap_conns_kill(&t, a);
	int b = ap_conns_take(&t);
	cr_assert_neq(b, a);
	cr_assert_eq(drain(&t, AP_Q_REARM, NULL), 0, "a dead slot must not be re-armed");
	cr_assert_eq(ap_conns_take(&t), a);
	ap_conns_free(&t);
}

/* Random close/accept/queue/complete sequences against the invariant: a slot
 * taken is never one that something still refers to, every queue drains in at
 * most n pops, and a reference from an old life never matches a new one. */
Test(reuse, random_churn_keeps_the_invariant)
{
	enum { N = 6, STEPS = 200000 };
	struct ap_conns t;
	cr_assert_eq(ap_conns_init(&t, N), 0);
	int ops[N] = {0};
	uint32_t life_gen[N];
	unsigned seed = 12345;
	for (int step = 0; step < STEPS; step++) {
		int i = (int)(rand_r(&seed) % N);
		switch (rand_r(&seed) % 8) {
		case 0: {
			int k = ap_conns_take(&t);
			if (k < 0)
				break;
			cr_assert(!ops[k] && !t.slot[k].queued,
				  "step %d: slot %d taken while referred to", step, k);
			life_gen[k] = t.slot[k].gen;
			break;
		}
		case 1:
			ap_conns_kill(&t, i);
			break;
		case 2:
			if (ap_conns_live(&t, i)) {
				ap_conns_op_begin(&t, i);
				ops[i]++;
			}
			break;
		case 3:
			if (ops[i]) {
				ops[i]--;
				ap_conns_op_end(&t, i);
			}
			break;
		case 4:
			ap_conns_want(&t, AP_Q_FLUSH, i);
			break;
		case 5:
			ap_conns_want(&t, AP_Q_REARM, i);
			break;
		case 6:
			drain(&t, AP_Q_FLUSH, NULL);
			break;
		default:
			drain(&t, AP_Q_REARM, NULL);
			break;
		}
		for (int k = 0; k < N; k++)
			if (t.slot[k].state == AP_SLOT_LIVE)
				cr_assert(ap_conns_current(&t, k, life_gen[k]));
		cr_assert_leq(t.q[AP_Q_FLUSH].n, N);
		cr_assert_leq(t.q[AP_Q_REARM].n, N);
	}
	ap_conns_free(&t);
}

/* ---- request slots --------------------------------------------------------- */

static uint64_t est_zero(void *ctx, int e, int p, int n)
{
	(void)ctx, (void)e, (void)p, (void)n;
	return 0;
}

static void sched_setup(struct ap_sched *s, struct ap_batch *b)
{
	struct ap_sched_config c = {.max_requests = 4, .max_batch = 4, .max_delay_ns = 0,
				    .small_frame = 16, .big_frame = 16, .n_exits = 1,
				    .exit_len = {3}, .estimate = est_zero};
	cr_assert_eq(ap_sched_init(s, &c), 0);
	cr_assert_eq(ap_batch_init(b, s), 0);
}

static int sched_push(struct ap_sched *s, void *owner, uint64_t id)
{
	int i = ap_sched_alloc(s, 8);
	cr_assert(i >= 0);
	struct ap_req *r = ap_sched_req(s, i);
	r->owner = owner;
	r->request_id = id;
	r->deadline_ns = 1000000000ull;
	cr_assert_eq(ap_sched_push(s, i), 0);
	return i;
}

/* The server answers a batch one request at a time; an answer can close the
 * connection (its reply buffer full), which drops that connection's requests.
 * The ones in the batch are the caller's until it releases them. */
Test(reuse, close_during_a_batch_frees_only_queued_requests)
{
	struct ap_sched s;
	struct ap_batch b;
	sched_setup(&s, &b);
	int conn, other;
	sched_push(&s, &conn, 1);
	sched_push(&s, &conn, 2);
	uint64_t wake;
	cr_assert_eq(ap_sched_next(&s, 1, &b, &wake), 1);
	cr_assert_eq(b.n, 2);
	int queued = sched_push(&s, &conn, 3);
	sched_push(&s, &other, 4);
	/* answering the first closes the connection */
	cr_assert_eq(ap_sched_drop_owner(&s, &conn), 1, "only the queued request is dropped");
	cr_assert_eq(ap_sched_req(&s, queued)->lane, -1);
	/* the freed slot is handed out again: it must not be one of the batch */
	int again = sched_push(&s, &other, 5);
	cr_assert(again != b.idx[0] && again != b.idx[1]);
	cr_assert_eq(ap_sched_req(&s, b.idx[0])->request_id, 1);
	cr_assert_eq(ap_sched_req(&s, b.idx[1])->request_id, 2);
	for (int k = 0; k < b.n; k++)
		ap_sched_release(&s, b.idx[k]);
	cr_assert_eq(ap_sched_queued(&s), 2);
	ap_batch_free(&b);
	ap_sched_free(&s);
}

Test(reuse, request_slot_released_twice_is_handed_out_once)
{
	struct ap_sched s;
	struct ap_batch b;
	sched_setup(&s, &b);
	int x;
	int i = sched_push(&s, &x, 1);
	ap_sched_release(&s, i); /* queued: unlinked from its lane, then freed */
	ap_sched_release(&s, i);
	cr_assert_eq(ap_sched_queued(&s), 0);
	int seen[4];
	for (int k = 0; k < 4; k++)
		seen[k] = ap_sched_alloc(&s, 8);
	cr_assert_eq(ap_sched_alloc(&s, 8), -EBUSY, "4 slots, 4 handed out");
	for (int k = 0; k < 4; k++)
		for (int j = 0; j < k; j++)
			cr_assert_neq(seen[k], seen[j], "slot %d handed out twice", seen[k]);
	ap_sched_req(&s, seen[0])->deadline_ns = 1000000000ull;
	cr_assert_eq(ap_sched_push(&s, seen[0]), 0);
	cr_assert_eq(ap_sched_push(&s, seen[0]), -EINVAL, "a queued slot cannot be pushed again");
	uint64_t wake;
	cr_assert_eq(ap_sched_next(&s, 1, &b, &wake), 1);
	cr_assert_eq(b.n, 1, "one push, one request");
	ap_batch_free(&b);
	ap_sched_free(&s);
}
