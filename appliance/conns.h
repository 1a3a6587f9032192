/* Connection slots of one worker: when a slot may be handed to a new peer, and
 * who may still refer to it until then.
 *
 * Ownership invariant. A slot is in one of three states:
 *   FREE  on the free stack, referred to by nothing;
 *   LIVE  owned by one peer;
 *   DEAD  its peer is closed, but something of that life may still refer to it.
 * Three kinds of reference outlive a single call, and each is counted here:
 *   - operations in flight in the transport (ap_conns_op_begin/_end): a
 *     completion names the slot by index and generation;
 *   - the flush queue (replies waiting to be sent at the end of the loop turn);
 *   - the re-arm queue (a receive to restart at the end of the loop turn).
 * A DEAD slot becomes FREE only when all three are gone, and its generation
 * changes then. Anything else that keeps a slot beyond one call (a queued
 * request's owner) keeps the generation with it and compares before use, so a
 * stale reference is recognised, never followed.
 *
 * The queues are arrays with a membership flag per slot, not links inside the
 * slot: a slot is in each queue at most once, so each is bounded by the number of
 * slots and cannot form a cycle, whatever order close, free and accept happen in.
 * (The livelock this replaces: an intrusive dirty list whose links were wiped
 * when a closed slot was freed and re-accepted within one loop turn, which closed
 * the list into a cycle that flush() walked for ever.) */
#ifndef COINFER_APPLIANCE_CONNS_H
#define COINFER_APPLIANCE_CONNS_H

#include <stdint.h>

enum ap_slot_state { AP_SLOT_FREE = 0, AP_SLOT_LIVE, AP_SLOT_DEAD };

/* the end-of-turn queues */
enum ap_conns_queue { AP_Q_FLUSH = 0, AP_Q_REARM, AP_Q_COUNT };

struct ap_slot {
	uint32_t gen;
	uint8_t state;
	uint8_t queued;          /* bit q: in queue q */
	int ops;
};

struct ap_conns {
	int n;
	struct ap_slot *slot;
	int *free_stack, n_free;
	struct {
		int *idx, n;
	} q[AP_Q_COUNT];
};

int ap_conns_init(struct ap_conns *t, int n);
void ap_conns_free(struct ap_conns *t);
/* A FREE slot made LIVE, or -ENOSPC when every slot is taken. */
int ap_conns_take(struct ap_conns *t);
/* LIVE -> DEAD; the slot is freed as soon as nothing refers to it. */
void ap_conns_kill(struct ap_conns *t, int i);
void ap_conns_op_begin(struct ap_conns *t, int i);
void ap_conns_op_end(struct ap_conns *t, int i);
/* Queue a LIVE slot for the end-of-turn flush or receive re-arm (once). */
void ap_conns_want(struct ap_conns *t, enum ap_conns_queue q, int i);
/* Pop the next LIVE slot of a queue, -1 when it is empty; DEAD slots popped on
 * the way are released. */
int ap_conns_pop(struct ap_conns *t, enum ap_conns_queue q);

static inline int ap_conns_live(const struct ap_conns *t, int i)
{
	return t->slot[i].state == AP_SLOT_LIVE;
}

/* Is (i, gen) still the life it named? gen is compared on its low 24 bits,
 * which is what an io_uring completion carries. */
static inline int ap_conns_current(const struct ap_conns *t, int i, uint32_t gen)
{
	return i >= 0 && i < t->n && t->slot[i].state != AP_SLOT_FREE &&
	       ((t->slot[i].gen ^ gen) & 0xFFFFFFu) == 0;
}

#endif
