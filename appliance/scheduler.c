/* Scheduler (design in scheduler.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler.h"

#define FREE_LANE (-1) /* on the free list */
#define HELD (-2)      /* the caller's: allocated, or taken out of its lane */
#define NO_SLOT (-1)

void ap_sched_free(struct ap_sched *s)
{
	free(s->slots);
	free(s->small_mem);
	free(s->big_mem);
	free(s->big_free);
	free(s->lanes);
	free(s->heap_mem);
	memset(s, 0, sizeof(*s));
}

static int lane_of(const struct ap_sched *s, int e, int p)
{
	if (e < 0 || e >= s->cfg.n_exits || p < 0 || p >= s->cfg.exit_len[e])
		return -1;
	if (s->cfg.join)
		return e;
	int l = 0;
	for (int x = 0; x < e; x++)
		l += s->cfg.exit_len[x];
	return l + p;
}

int ap_sched_init(struct ap_sched *s, const struct ap_sched_config *cfg)
{
	memset(s, 0, sizeof(*s));
	if (cfg->max_requests < 1 || cfg->max_batch < 1 || cfg->n_exits < 1 ||
	    cfg->n_exits > AP_MAX_EXITS || cfg->big_frames < 0 || !cfg->estimate ||
	    cfg->small_frame > cfg->big_frame)
		return -EINVAL;
	s->cfg = *cfg;
	s->batch_cap = cfg->max_batch;
	int n_lanes = 0;
	for (int e = 0; e < cfg->n_exits; e++) {
		if (cfg->exit_len[e] < 1 || cfg->exit_len[e] > AP_MAX_POSITIONS)
			return -EINVAL;
		n_lanes += cfg->join ? 1 : cfg->exit_len[e];
	}
	size_t n = (size_t)cfg->max_requests;
	s->slots = calloc(n, sizeof(*s->slots));
	s->small_mem = malloc(n * (cfg->small_frame ? cfg->small_frame : 1));
	s->big_mem = malloc((size_t)(cfg->big_frames ? cfg->big_frames : 1) * cfg->big_frame + 1);
	s->big_free = malloc((size_t)(cfg->big_frames + 1) * sizeof(int));
	s->lanes = calloc((size_t)n_lanes, sizeof(*s->lanes));
	s->heap_mem = malloc((size_t)n_lanes * n * sizeof(int));
	if (!s->slots || !s->small_mem || !s->big_mem || !s->big_free || !s->lanes || !s->heap_mem) {
		ap_sched_free(s);
		return -ENOMEM;
	}
	s->n_lanes = n_lanes;
	for (int e = 0, l = 0; e < cfg->n_exits; e++)
		for (int p = 0; p < (cfg->join ? 1 : cfg->exit_len[e]); p++, l++) {
			struct ap_lane *ln = &s->lanes[l];
			ln->exit = e;
			ln->partition = cfg->join ? -1 : p;
			ln->heap = s->heap_mem + (size_t)l * n;
			ln->oldest = ln->newest = NO_SLOT;
		}
	for (int i = 0; i < cfg->max_requests; i++) {
		s->slots[i].next = i + 1 < cfg->max_requests ? i + 1 : NO_SLOT;
		s->slots[i].lane = FREE_LANE;
		s->slots[i].big = -1;
	}
	s->free_head = 0;
	s->n_free = cfg->max_requests;
	for (int b = 0; b < cfg->big_frames; b++)
		s->big_free[b] = b;
	s->n_big_free = cfg->big_frames;
	return 0;
}

int ap_sched_set_live(struct ap_sched *s, int max_batch, uint64_t max_delay_ns, int run_late)
{
	if (max_batch < 1 || max_batch > s->batch_cap)
		return -EINVAL;
	s->cfg.max_batch = max_batch;
	s->cfg.max_delay_ns = max_delay_ns;
	s->cfg.run_late = run_late;
	return 0;
}

int ap_batch_init(struct ap_batch *b, const struct ap_sched *s)
{
	memset(b, 0, sizeof(*b));
	b->idx = malloc((size_t)s->cfg.max_batch * sizeof(int));
	b->expired = malloc((size_t)s->cfg.max_requests * sizeof(int));
	if (!b->idx || !b->expired) {
		ap_batch_free(b);
		return -ENOMEM;
	}
	return 0;
}

void ap_batch_free(struct ap_batch *b)
{
	free(b->idx);
	free(b->expired);
	memset(b, 0, sizeof(*b));
}

int ap_sched_alloc(struct ap_sched *s, size_t frame_len)
{
	if (frame_len > s->cfg.big_frame)
		return -EMSGSIZE;
	if (!s->n_free)
		return -EBUSY;
	int big = -1;
	if (frame_len > s->cfg.small_frame) {
		if (!s->n_big_free)
			return -EBUSY;
		big = s->big_free[--s->n_big_free];
	}
	int i = s->free_head;
	struct ap_req *r = &s->slots[i];
	s->free_head = r->next;
	s->n_free--;
	memset(r, 0, sizeof(*r));
	r->lane = HELD;
	r->heap_pos = -1;
	r->prev = r->next = NO_SLOT;
	r->big = big;
	r->frame = big >= 0 ? s->big_mem + (size_t)big * s->cfg.big_frame
			    : s->small_mem + (size_t)i * s->cfg.small_frame;
	return i;
}

static void lane_remove(struct ap_sched *s, int i);

void ap_sched_release(struct ap_sched *s, int i)
{
	struct ap_req *r = &s->slots[i];
	if (r->lane == FREE_LANE)
		return; /* released already: a second push would share the slot */
	if (r->lane >= 0)
		lane_remove(s, i);
	if (r->big >= 0)
		s->big_free[s->n_big_free++] = r->big;
	r->big = -1;
	r->lane = FREE_LANE;
	r->next = s->free_head;
	s->free_head = i;
	s->n_free++;
}

/* ---- the EDF heap of a lane ---------------------------------------------- */

static inline int earlier(const struct ap_sched *s, int a, int b)
{
	const struct ap_req *x = &s->slots[a], *y = &s->slots[b];
	/* ties by arrival keep the order fair and deterministic */
	return x->deadline_ns < y->deadline_ns ||
	       (x->deadline_ns == y->deadline_ns && x->arrival_ns < y->arrival_ns);
}

static void heap_set(struct ap_sched *s, struct ap_lane *ln, int pos, int i)
{
	ln->heap[pos] = i;
	s->slots[i].heap_pos = pos;
}

static void heap_up(struct ap_sched *s, struct ap_lane *ln, int pos)
{
	int i = ln->heap[pos];
	while (pos > 0) {
		int parent = (pos - 1) / 2;
		if (!earlier(s, i, ln->heap[parent]))
			break;
		heap_set(s, ln, pos, ln->heap[parent]);
		pos = parent;
	}
	heap_set(s, ln, pos, i);
}

static void heap_down(struct ap_sched *s, struct ap_lane *ln, int pos)
{
	int i = ln->heap[pos];
	for (;;) {
		int c = 2 * pos + 1;
		if (c >= ln->count)
			break;
		if (c + 1 < ln->count && earlier(s, ln->heap[c + 1], ln->heap[c]))
			c++;
		if (!earlier(s, ln->heap[c], i))
			break;
		heap_set(s, ln, pos, ln->heap[c]);
		pos = c;
	}
	heap_set(s, ln, pos, i);
}

/* Unlinks slot i from its lane (heap and arrival list). */
static void lane_remove(struct ap_sched *s, int i)
{
	struct ap_req *r = &s->slots[i];
	struct ap_lane *ln = &s->lanes[r->lane];
	int pos = r->heap_pos, last = ln->heap[--ln->count];
	if (pos != ln->count) {
		heap_set(s, ln, pos, last);
		if (pos > 0 && earlier(s, last, ln->heap[(pos - 1) / 2]))
			heap_up(s, ln, pos);
		else
			heap_down(s, ln, pos);
	}
	if (r->prev != NO_SLOT)
		s->slots[r->prev].next = r->next;
	else
		ln->oldest = r->next;
	if (r->next != NO_SLOT)
		s->slots[r->next].prev = r->prev;
	else
		ln->newest = r->prev;
	r->prev = r->next = NO_SLOT;
	r->heap_pos = -1;
	r->lane = HELD;
}

int ap_sched_push(struct ap_sched *s, int i)
{
	struct ap_req *r = &s->slots[i];
	int l = lane_of(s, r->exit, r->partition);
	if (l < 0 || r->lane != HELD)
		return -EINVAL;
	struct ap_lane *ln = &s->lanes[l];
	r->lane = l;
	r->prev = ln->newest;
	r->next = NO_SLOT;
	if (ln->newest != NO_SLOT)
		s->slots[ln->newest].next = i;
	else
		ln->oldest = i;
	ln->newest = i;
	ln->heap[ln->count++] = i;
	heap_up(s, ln, ln->count - 1);
	s->queued++;
	return 0;
}

/* The partition a lane's batch starts from: the earliest among its requests
 * (with join, the batch runs from there and the others join later). */
static int lane_first_partition(const struct ap_sched *s, const struct ap_lane *ln)
{
	if (ln->partition >= 0)
		return ln->partition;
	int p = AP_MAX_POSITIONS;
	for (int k = 0; k < ln->count; k++) {
		int q = s->slots[ln->heap[k]].partition;
		p = q < p ? q : p;
	}
	return p;
}

/* When lane ln becomes due: now if it is full, else the earlier of its oldest
 * request's max_delay and its most urgent request's latest start. */
static uint64_t lane_due(const struct ap_sched *s, const struct ap_lane *ln)
{
	if (ln->count >= s->cfg.max_batch)
		return 0;
	const struct ap_req *top = &s->slots[ln->heap[0]];
	const struct ap_req *old = &s->slots[ln->oldest];
	int n = ln->count < s->cfg.max_batch ? ln->count : s->cfg.max_batch;
	uint64_t est = s->cfg.estimate(s->cfg.estimate_ctx, ln->exit, lane_first_partition(s, ln), n) +
		       s->cfg.margin_ns;
	uint64_t latest = top->deadline_ns > est ? top->deadline_ns - est : 0;
	uint64_t delayed = old->arrival_ns + s->cfg.max_delay_ns;
	return latest < delayed ? latest : delayed;
}

int ap_sched_next(struct ap_sched *s, uint64_t now_ns, struct ap_batch *b, uint64_t *wake_ns)
{
	int best = -1;
	uint64_t best_deadline = UINT64_MAX, wake = UINT64_MAX;

	b->n = b->n_expired = 0;
	b->lane = b->exit = -1;
	for (int l = 0; l < s->n_lanes; l++) {
		const struct ap_lane *ln = &s->lanes[l];
		if (!ln->count)
			continue;
		uint64_t due = lane_due(s, ln);
		if (due > now_ns) {
			wake = due < wake ? due : wake;
			continue;
		}
		uint64_t d = s->slots[ln->heap[0]].deadline_ns;
		if (d < best_deadline) {
			best_deadline = d;
			best = l;
		}
	}
	if (best < 0) {
		*wake_ns = wake;
		return 0;
	}
	struct ap_lane *ln = &s->lanes[best];
	b->lane = best;
	b->exit = ln->exit;
	/* Take the most urgent first; those that cannot finish in time even now go
	 * to the expired list (unless run_late), the rest fill the batch. The
	 * estimate is for the batch as it will run, so it is redone as it grows. */
	while (ln->count && b->n < s->cfg.max_batch) {
		int i = ln->heap[0];
		struct ap_req *r = &s->slots[i];
		int p = ln->partition >= 0 ? ln->partition : r->partition;
		uint64_t est = s->cfg.estimate(s->cfg.estimate_ctx, ln->exit, p, b->n + 1) +
			       s->cfg.margin_ns;
		lane_remove(s, i);
		if (!s->cfg.run_late && (est > r->deadline_ns || now_ns > r->deadline_ns - est)) {
			b->expired[b->n_expired++] = i;
			s->expired++;
			continue;
		}
		b->idx[b->n++] = i;
	}
	if (b->n) {
		s->batches++;
		s->batched_requests += (uint64_t)b->n;
	}
	*wake_ns = now_ns; /* more may be due at once: the caller asks again */
	return 1;
}

int ap_sched_drop_owner(struct ap_sched *s, const void *owner)
{
	int dropped = 0;
	for (int i = 0; i < s->cfg.max_requests; i++) {
		struct ap_req *r = &s->slots[i];
		if (r->lane >= 0 && r->owner == owner) {
			ap_sched_release(s, i);
			dropped++;
		}
	}
	return dropped;
}
