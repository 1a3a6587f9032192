/* Connection slots (the ownership invariant is in conns.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conns.h"

void ap_conns_free(struct ap_conns *t)
{
	free(t->slot);
	free(t->free_stack);
	for (int q = 0; q < AP_Q_COUNT; q++)
		free(t->q[q].idx);
	memset(t, 0, sizeof(*t));
}

int ap_conns_init(struct ap_conns *t, int n)
{
	memset(t, 0, sizeof(*t));
	if (n < 1)
		return -EINVAL;
	t->slot = calloc((size_t)n, sizeof(*t->slot));
	t->free_stack = malloc((size_t)n * sizeof(int));
	int ok = t->slot && t->free_stack;
	for (int q = 0; q < AP_Q_COUNT; q++)
		ok = (t->q[q].idx = malloc((size_t)n * sizeof(int))) && ok;
	if (!ok) {
		ap_conns_free(t);
		return -ENOMEM;
	}
	t->n = n;
	/* slot 0 on top: the first peers get the low slots */
	for (int i = 0; i < n; i++)
		t->free_stack[i] = n - 1 - i;
	t->n_free = n;
	return 0;
}

static void release_if_unreferenced(struct ap_conns *t, int i)
{
	struct ap_slot *s = &t->slot[i];
	if (s->state != AP_SLOT_DEAD || s->ops || s->queued)
		return;
	s->state = AP_SLOT_FREE;
	s->gen++;
	t->free_stack[t->n_free++] = i;
}

int ap_conns_take(struct ap_conns *t)
{
	if (!t->n_free)
		return -ENOSPC;
	int i = t->free_stack[--t->n_free];
	t->slot[i].state = AP_SLOT_LIVE;
	return i;
}

void ap_conns_kill(struct ap_conns *t, int i)
{
	if (t->slot[i].state != AP_SLOT_LIVE)
		return;
	t->slot[i].state = AP_SLOT_DEAD;
	release_if_unreferenced(t, i);
}

void ap_conns_op_begin(struct ap_conns *t, int i)
{
	t->slot[i].ops++;
}

void ap_conns_op_end(struct ap_conns *t, int i)
{
	if (t->slot[i].ops > 0)
		t->slot[i].ops--;
	release_if_unreferenced(t, i);
}

void ap_conns_want(struct ap_conns *t, enum ap_conns_queue q, int i)
{
	struct ap_slot *s = &t->slot[i];
	if (s->state != AP_SLOT_LIVE || (s->queued & 1u << q))
		return;
	s->queued |= (uint8_t)(1u << q);
	t->q[q].idx[t->q[q].n++] = i;
}

int ap_conns_pop(struct ap_conns *t, enum ap_conns_queue q)
{
	while (t->q[q].n) {
		int i = t->q[q].idx[--t->q[q].n];
		t->slot[i].queued &= (uint8_t)~(1u << q);
		if (t->slot[i].state == AP_SLOT_LIVE)
			return i;
		release_if_unreferenced(t, i);
	}
	return -1;
}
