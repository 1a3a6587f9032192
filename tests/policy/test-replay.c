/* The replay buffer: ring overwrite, stored fields, uniform sampling, and the
 * transitions it must refuse. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "coinfer/policy-nn.h"

enum { SD = 3, NA = 5 };

static struct pol_transition tr(float *s, float *s2, uint8_t *m, uint8_t *m2, int a, float r)
{
	return (struct pol_transition){.s = s, .s2 = s2, .mask = m, .mask2 = m2, .a = a, .r = r};
}

Test(replay, ring_and_fields)
{
	struct pol_replay *b;
	struct pol_batch *bt;
	struct pol_rng rng;
	pol_rng_seed(&rng, 1);
	cr_assert_eq(pol_replay_create(4, SD, NA, &b), 0);
	cr_assert_eq(pol_batch_create(64, SD, NA, &bt), 0);
	cr_expect_eq(pol_replay_sample(b, &rng, 1, bt), -EINVAL, "empty buffer");
	uint8_t m[NA] = {1, 1, 0, 1, 1}, m2[NA] = {0, 0, 1, 0, 0};
	for (int k = 0; k < 6; k++) {
		float s[SD] = {(float)k, 0, 0}, s2[SD] = {(float)k + 0.5f, 1, 1};
		struct pol_transition t = tr(s, s2, m, k % 2 ? m2 : NULL, k % 2 ? 3 : 4, 10.0f * k);
		t.done = k == 5;
		cr_assert_eq(pol_replay_push(b, &t), 0);
	}
	cr_expect_eq(b->count, 4);
	cr_expect_eq(b->pushed, 6u);
	/* the two oldest (k = 0, 1) are gone; each row is consistent */
	int seen[6] = {0};
	cr_assert_eq(pol_replay_sample(b, &rng, 64, bt), 0);
	cr_expect_eq(bt->n, 64);
	for (int i = 0; i < 64; i++) {
		int k = (int)bt->s[i * SD];
		cr_assert(k >= 2 && k <= 5, "row %d comes from transition %d", i, k);
		seen[k]++;
		cr_expect_eq(bt->s2[i * SD], k + 0.5f);
		cr_expect_eq(bt->r[i], 10.0f * k);
		cr_expect_eq(bt->a[i], k % 2 ? 3 : 4);
		cr_expect_eq(bt->done[i], k == 5);
		cr_expect(!memcmp(bt->mask + i * NA, m, NA));
		for (int a = 0; a < NA; a++)
			cr_expect_eq(bt->mask2[i * NA + a], k % 2 ? m2[a] : 1, "NULL mask2 means all valid");
	}
	for (int k = 2; k < 6; k++)
		cr_expect(seen[k] > 0, "transition %d never sampled", k);
	pol_replay_free(b);
	pol_batch_free(bt);
}

Test(replay, uniform)
{
	enum { CAP = 10, DRAWS = 100000 };
	struct pol_replay *b;
	struct pol_batch *bt;
	struct pol_rng rng;
	pol_rng_seed(&rng, 2);
	cr_assert_eq(pol_replay_create(CAP, SD, NA, &b), 0);
	cr_assert_eq(pol_batch_create(100, SD, NA, &bt), 0);
	for (int k = 0; k < CAP; k++) {
		float s[SD] = {(float)k}, s2[SD] = {0};
		struct pol_transition t = tr(s, s2, NULL, NULL, 0, 0);
		cr_assert_eq(pol_replay_push(b, &t), 0);
	}
	int hist[CAP] = {0};
	for (int d = 0; d < DRAWS / 100; d++) {
		cr_assert_eq(pol_replay_sample(b, &rng, 100, bt), 0);
		for (int i = 0; i < 100; i++)
			hist[(int)bt->s[i * SD]]++;
	}
	for (int k = 0; k < CAP; k++)
		cr_expect(fabs((double)hist[k] - DRAWS / CAP) < 5 * sqrt(DRAWS * 0.1 * 0.9), "slot %d: %d", k,
			  hist[k]);
	pol_replay_free(b);
	pol_batch_free(bt);
}

Test(replay, refuses)
{
	struct pol_replay *b;
	struct pol_batch *bt, *other;
	struct pol_rng rng;
	pol_rng_seed(&rng, 3);
	cr_expect_eq(pol_replay_create(0, SD, NA, &b), -EINVAL);
	cr_expect_eq(pol_replay_create(4, 0, NA, &b), -EINVAL);
	cr_assert_eq(pol_replay_create(4, SD, NA, &b), 0);
	float s[SD] = {0}, s2[SD] = {0}, nan[SD] = {0, NAN, 0};
	uint8_t m[NA] = {1, 0, 1, 1, 1}, none[NA] = {0};
	struct pol_transition t = tr(s, s2, m, NULL, 1, 0);
	cr_expect_eq(pol_replay_push(b, &t), -EINVAL, "action masked where taken");
	t.a = NA;
	cr_expect_eq(pol_replay_push(b, &t), -EINVAL, "action out of range");
	t.a = -1;
	cr_expect_eq(pol_replay_push(b, &t), -EINVAL);
	t = tr(s, s2, m, none, 0, 0);
	cr_expect_eq(pol_replay_push(b, &t), -EINVAL, "bootstrap from a state with no valid action");
	t.done = 1;
	cr_expect_eq(pol_replay_push(b, &t), 0, "terminal next state may have none");
	t = tr(s, nan, m, NULL, 0, 0);
	cr_expect_eq(pol_replay_push(b, &t), -EINVAL);
	t = tr(s, s2, m, NULL, 0, INFINITY);
	cr_expect_eq(pol_replay_push(b, &t), -EINVAL);
	cr_expect_eq(b->count, 1);
	cr_assert_eq(pol_batch_create(2, SD, NA, &bt), 0);
	cr_assert_eq(pol_batch_create(2, SD + 1, NA, &other), 0);
	cr_expect_eq(pol_replay_sample(b, &rng, 3, bt), -EINVAL, "more rows than the batch holds");
	cr_expect_eq(pol_replay_sample(b, &rng, 2, other), -EINVAL, "shape mismatch");
	pol_replay_free(b);
	pol_batch_free(bt);
	pol_batch_free(other);
}
