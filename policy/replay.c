/* Replay buffer: a preallocated ring of transitions, stored field by field so a
 * sampled minibatch is a set of row copies. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/policy-nn.h"
#include "internal.h"

struct fields {
	float **s, **s2, **r;
	int32_t **a;
	uint8_t **mask, **mask2, **done;
};

static int alloc_fields(struct fields f, size_t rows, int sd, int na)
{
	*f.s = calloc(rows * sd, sizeof(float));
	*f.s2 = calloc(rows * sd, sizeof(float));
	*f.r = calloc(rows, sizeof(float));
	*f.a = calloc(rows, sizeof(int32_t));
	*f.mask = calloc(rows * na, 1);
	*f.mask2 = calloc(rows * na, 1);
	*f.done = calloc(rows, 1);
	return *f.s && *f.s2 && *f.r && *f.a && *f.mask && *f.mask2 && *f.done ? 0 : -ENOMEM;
}

static void free_fields(struct fields f)
{
	free(*f.s);
	free(*f.s2);
	free(*f.r);
	free(*f.a);
	free(*f.mask);
	free(*f.mask2);
	free(*f.done);
}

#define FIELDS(x) ((struct fields){&(x)->s, &(x)->s2, &(x)->r, &(x)->a, &(x)->mask, &(x)->mask2, &(x)->done})

static int shape_ok(int rows, int max_rows, int sd, int na)
{
	return rows >= 1 && rows <= max_rows && sd >= 1 && sd <= POL_MLP_MAX_WIDTH && na >= 1 &&
	       na <= POL_MLP_MAX_WIDTH;
}

int pol_replay_create(int capacity, int state_dim, int n_actions, struct pol_replay **out)
{
	*out = NULL;
	if (!shape_ok(capacity, POL_REPLAY_MAX, state_dim, n_actions))
		return -EINVAL;
	struct pol_replay *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->cap = capacity, b->state_dim = state_dim, b->n_actions = n_actions;
	if (alloc_fields(FIELDS(b), (size_t)capacity, state_dim, n_actions)) {
		pol_replay_free(b);
		return -ENOMEM;
	}
	*out = b;
	return 0;
}

void pol_replay_free(struct pol_replay *b)
{
	if (!b)
		return;
	free_fields(FIELDS(b));
	free(b);
}

int pol_batch_create(int cap, int state_dim, int n_actions, struct pol_batch **out)
{
	*out = NULL;
	if (!shape_ok(cap, POL_MLP_MAX_BATCH, state_dim, n_actions))
		return -EINVAL;
	struct pol_batch *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->cap = cap, b->state_dim = state_dim, b->n_actions = n_actions;
	if (alloc_fields(FIELDS(b), (size_t)cap, state_dim, n_actions)) {
		pol_batch_free(b);
		return -ENOMEM;
	}
	*out = b;
	return 0;
}

void pol_batch_free(struct pol_batch *b)
{
	if (!b)
		return;
	free_fields(FIELDS(b));
	free(b);
}

static void put_mask(uint8_t *dst, const uint8_t *m, int n)
{
	for (int i = 0; i < n; i++)
		dst[i] = !m || m[i];
}

int pol_replay_push(struct pol_replay *b, const struct pol_transition *t)
{
	const int sd = b->state_dim, na = b->n_actions;
	if (!t->s || !t->s2 || t->a < 0 || t->a >= na || (t->mask && !t->mask[t->a]) ||
	    !pol_finite(t->r))
		return -EINVAL;
	for (int i = 0; i < sd; i++)
		if (!pol_finite(t->s[i]) || !pol_finite(t->s2[i]))
			return -EINVAL;
	if (!t->done && pol_mask_count(t->mask2, na) == 0)
		return -EINVAL;
	size_t h = (size_t)b->head;
	memcpy(b->s + h * sd, t->s, sd * sizeof(float));
	memcpy(b->s2 + h * sd, t->s2, sd * sizeof(float));
	put_mask(b->mask + h * na, t->mask, na);
	put_mask(b->mask2 + h * na, t->mask2, na);
	b->a[h] = t->a;
	b->r[h] = t->r;
	b->done[h] = t->done != 0;
	b->head = b->head + 1 == b->cap ? 0 : b->head + 1;
	b->count += b->count < b->cap;
	b->pushed++;
	return 0;
}

int pol_replay_sample(const struct pol_replay *b, struct pol_rng *rng, int n, struct pol_batch *out)
{
	const int sd = b->state_dim, na = b->n_actions;
	if (b->count < 1 || n < 1 || n > out->cap || out->state_dim != sd || out->n_actions != na)
		return -EINVAL;
	for (int k = 0; k < n; k++) {
		size_t j = pol_rng_below(rng, (uint32_t)b->count), kk = (size_t)k;
		memcpy(out->s + kk * sd, b->s + j * sd, sd * sizeof(float));
		memcpy(out->s2 + kk * sd, b->s2 + j * sd, sd * sizeof(float));
		memcpy(out->mask + kk * na, b->mask + j * na, na);
		memcpy(out->mask2 + kk * na, b->mask2 + j * na, na);
		out->a[k] = b->a[j];
		out->r[k] = b->r[j];
		out->done[k] = b->done[j];
	}
	out->n = n;
	return 0;
}
