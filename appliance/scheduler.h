/* The appliance's scheduler: bounded request slots, lanes of queued requests,
 * and the rule that turns them into batches.
 *
 * A lane holds the requests that may share a batch: with join on, every request
 * of one exit (a request split at a later partition joins the batch at the first
 * layer it shares with the others); with join off, one lane per (exit, partition),
 * as Triton batches one model input. Inside a lane requests are kept in
 * earliest-deadline-first order (a binary heap) and in arrival order (a list), so
 * that both "the most urgent" and "the one that has waited longest" are O(1).
 *
 * A lane is ready when it holds max_batch requests, when its oldest request has
 * waited max_delay, or when its most urgent request must start now to meet its
 * deadline (deadline - estimated service time). Across ready lanes the one with
 * the earliest deadline runs first. Requests that cannot meet their deadline
 * even if run at once are handed back as expired (answered ERROR deadline), or
 * run anyway when run_late is set.
 *
 * Everything is preallocated at creation; nothing here allocates, locks or makes
 * a system call. One scheduler per worker thread.
 *
 * Ownership of a request slot (r->lane says which):
 *   free (FREE_LANE)  on the free list, referred to by nothing;
 *   held (HELD)       the caller's: between ap_sched_alloc and ap_sched_push,
 *                     and from ap_sched_next handing it out in a batch or as
 *                     expired until the caller's ap_sched_release;
 *   queued (lane >= 0) in a lane's heap and arrival list.
 * ap_sched_drop_owner frees queued slots only, so a batch being answered is
 * never pulled from under its caller when an answer closes a connection; a
 * second release of a slot is ignored, so the free list cannot hold a slot
 * twice. A request's owner is opaque here: the caller keeps its generation in
 * owner_gen and checks it before use (a connection slot is reused once closed). */
#ifndef COINFER_APPLIANCE_SCHEDULER_H
#define COINFER_APPLIANCE_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "coinfer/model.h"

#define AP_MAX_EXITS CR_MODEL_MAX_EXITS
#define AP_MAX_POSITIONS CR_MODEL_MAX_EXIT_LAYERS

struct ap_req {
	uint64_t request_id;
	void *owner;          /* the connection, opaque here */
	uint64_t owner_gen;   /* the connection's generation when queued */
	uint64_t arrival_ns, deadline_ns;
	uint32_t device_us;
	uint16_t partition;
	uint8_t exit, bits;
	uint32_t flags;
	uint8_t *frame;       /* the codec frame, copied into slot memory */
	size_t frame_len;
	/* scheduler links */
	int lane, heap_pos;
	int prev, next;       /* arrival list within the lane; free list */
	int big;              /* index of the big frame buffer in use, or -1 */
};

/* Estimated tail time in ns of n images of exit e from partition p (the caller's
 * calibrated profile). */
typedef uint64_t (*ap_estimate_fn)(void *ctx, int e, int p, int n);

struct ap_sched_config {
	int max_requests;        /* queued requests, all lanes (global bound) */
	int max_batch;           /* images per batch */
	uint64_t max_delay_ns;   /* longest a request waits for its batch to fill */
	size_t small_frame;      /* frame bytes kept inline in every slot */
	size_t big_frame;        /* bytes of each big buffer (the largest frame accepted) */
	int big_frames;          /* big buffers, shared by all slots */
	int join;                /* one lane per exit instead of per (exit, partition) */
	int run_late;            /* run requests past their deadline instead of refusing */
	uint64_t margin_ns;      /* slack added to the estimate when judging deadlines */
	int n_exits;
	int exit_len[AP_MAX_EXITS];
	ap_estimate_fn estimate;
	void *estimate_ctx;
};

struct ap_lane {
	int exit, partition;     /* partition -1: a joined lane */
	int *heap;               /* slot indices by deadline */
	int count;
	int oldest, newest;      /* arrival list */
};

struct ap_sched {
	struct ap_sched_config cfg;
	int batch_cap;           /* max_batch at init: what the batches are sized for */
	struct ap_req *slots;
	uint8_t *small_mem, *big_mem;
	int *big_free, n_big_free;
	int free_head, n_free;
	struct ap_lane *lanes;
	int n_lanes;
	int *heap_mem;
	/* counters, read by the statistics thread */
	uint64_t queued, expired, batches, batched_requests;
};

/* The settings that may change between two ap_sched_next calls (a reload):
 * -EINVAL for max_batch outside 1..batch_cap. Queued requests stay; the next
 * ap_sched_next judges them by the new values. */
int ap_sched_set_live(struct ap_sched *s, int max_batch, uint64_t max_delay_ns, int run_late);

/* What ap_sched_next hands out: up to max_batch requests of one lane, EDF order,
 * plus the ones it found already too late. The caller runs the batch, answers
 * every request, then gives them back with ap_sched_release. */
struct ap_batch {
	int lane, exit;
	int n, n_expired;
	int *idx;                /* max_batch slot indices */
	int *expired;            /* max_requests slot indices */
};

int ap_sched_init(struct ap_sched *s, const struct ap_sched_config *cfg);
void ap_sched_free(struct ap_sched *s);
int ap_batch_init(struct ap_batch *b, const struct ap_sched *s);
void ap_batch_free(struct ap_batch *b);

/* A free slot with room for a frame of frame_len bytes: its index, or -EBUSY
 * when every slot (or, for a big frame, every big buffer) is taken, -EMSGSIZE
 * when frame_len exceeds big_frame. The caller fills the request fields and the
 * frame bytes, then calls ap_sched_push (or ap_sched_release to give it back). */
int ap_sched_alloc(struct ap_sched *s, size_t frame_len);
static inline struct ap_req *ap_sched_req(struct ap_sched *s, int i)
{
	return &s->slots[i];
}
/* Queues held slot i. -EINVAL when its exit or partition is outside the model,
 * or when the slot is not held. */
int ap_sched_push(struct ap_sched *s, int i);
/* Fills b with the batch to run now (b->n > 0) and/or the expired requests
 * (b->n_expired > 0); returns 1 when it did, 0 when nothing is due, and sets
 * *wake_ns to when something next becomes due (UINT64_MAX: nothing queued). */
int ap_sched_next(struct ap_sched *s, uint64_t now_ns, struct ap_batch *b, uint64_t *wake_ns);
/* Drops every queued request of an owner (its connection closed): their slots
 * are freed; returns how many. */
int ap_sched_drop_owner(struct ap_sched *s, const void *owner);
void ap_sched_release(struct ap_sched *s, int i);
static inline int ap_sched_queued(const struct ap_sched *s)
{
	return s->cfg.max_requests - s->n_free;
}

#endif
