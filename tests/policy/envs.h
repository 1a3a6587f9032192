/* Small environments with known optima for the learning tests, and a generic
 * train / evaluate loop over either learner.
 *
 * Bandit ("co-inference in miniature"): state (bandwidth b in [0,1], device
 * class c in {0,1}, a distractor in [-1,1]); 12 actions a = 4 g + j, g a
 * "group" with peak reward {0, 0.3, 0.6}, j a position whose ideal bandwidth is
 * 0.125 + 0.25 j; r = peak[g] - 4 |b - centre[j]|. The class decides which
 * actions are valid (actions 10 and 11 never are); each class has three
 * switch points in b, so a policy must read both b and the mask.
 *
 * Two-step MDP: step 1 is the bandit paying 1 + r(b, a), but step 0 first
 * decides whether step 1 has any choice. Step 0 (every action valid): "spend"
 * (a = 0) pays 0.4 now and leaves step 1 a single valid action worth 0; "save"
 * (a = 1) pays 0.1 and keeps the bandit's mask at step 1; anything else pays
 * -0.3 and keeps the mask. With gamma 0.9 saving is worth
 * 0.1 + 0.9 (1 + max_a r(b, a)) >= 0.68 > 0.4: only a learner that bootstraps
 * through the done flag and the next-state mask gets step 0 right.
 *
 * Continuing bandit: the bandit without terminal states, each next state drawn
 * afresh; with gamma near 1 every soft value carries alpha H / (1 - gamma), the
 * setting where the temperature's target entropy matters most. */
#ifndef COINFER_TEST_ENVS_H
#define COINFER_TEST_ENVS_H

#include <math.h>
#include <errno.h>
#include <string.h>

#include "coinfer/policy-learn.h"

#define ENV_NA 12
#define ENV_SD 5 /* b, c, distractor, step, budget */
#define MDP_GAMMA 0.9f

static const float peak[3] = {0.0f, 0.3f, 0.6f};

static inline float bandit_reward(float b, int a)
{
	return peak[a / 4] - 4.0f * fabsf(b - (0.125f + 0.25f * (float)(a % 4)));
}

static inline void bandit_mask(int cls, uint8_t *m)
{
	static const uint8_t m0[ENV_NA] = {1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0};
	static const uint8_t m1[ENV_NA] = {1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0};
	memcpy(m, cls ? m1 : m0, ENV_NA);
}

static inline float bandit_value(float b, const uint8_t *m, int *best)
{
	float v = -INFINITY;
	for (int a = 0; a < ENV_NA; a++)
		if (m[a] && bandit_reward(b, a) > v) {
			v = bandit_reward(b, a);
			*best = a;
		}
	return v;
}

struct env {
	int steps;           /* 1: bandit, 2: two-step MDP, 0: continuing bandit */
	struct pol_rng draw; /* the continuing bandit's next states */
};

static inline void env_reset(const struct env *e, struct pol_rng *r, float *s, uint8_t *m)
{
	s[0] = pol_rng_uniform(r);
	s[1] = (float)(pol_rng_next(r) >> 63);
	s[2] = 2.0f * pol_rng_uniform(r) - 1.0f;
	s[3] = 0.0f;
	s[4] = 1.0f;
	if (e->steps <= 1)
		bandit_mask((int)s[1], m);
	else
		memset(m, 1, ENV_NA);
}

/* Returns done. */
static inline int env_step(struct env *e, const float *s, int a, float *s2, uint8_t *m2,
			   float *r)
{
	if (e->steps == 0) {
		*r = bandit_reward(s[0], a);
		env_reset(e, &e->draw, s2, m2);
		return 0;
	}
	memcpy(s2, s, ENV_SD * sizeof(float));
	if (e->steps == 1 || s[3] == 1.0f) {
		*r = s[4] == 0.0f ? 0.0f : (e->steps == 1 ? 0.0f : 1.0f) + bandit_reward(s[0], a);
		memset(m2, 0, ENV_NA);
		return 1;
	}
	*r = a == 0 ? 0.4f : a == 1 ? 0.1f : -0.3f;
	s2[3] = 1.0f;
	s2[4] = a == 0 ? 0.0f : 1.0f;
	if (a == 0) {
		memset(m2, 0, ENV_NA);
		m2[0] = 1;
	} else {
		bandit_mask((int)s[1], m2);
	}
	return 0;
}

/* The optimal action at s with mask m. */
static inline int env_best(const struct env *e, const float *s, const uint8_t *m)
{
	int best = 0;
	if (e->steps <= 1 || s[3] == 1.0f) {
		if (s[4] == 1.0f)
			bandit_value(s[0], m, &best);
		return best;
	}
	uint8_t bm[ENV_NA];
	bandit_mask((int)s[1], bm);
	float save = 0.1f + MDP_GAMMA * (1.0f + bandit_value(s[0], bm, &best));
	float spend = 0.4f;
	return save > spend ? 1 : 0;
}

/* Either learner behind one interface. */
struct learner {
	int (*sample)(void *ag, const float *s, const uint8_t *m, struct pol_rng *r, int *a);
	int (*greedy)(void *ag, const float *s, const uint8_t *m, int *a);
	int (*update)(void *ag, const struct pol_batch *b);
	void *ag;
};

/* Acts in the environment and updates once per step after `warmup` steps;
 * returns 0 or the first error. Every step's action must be valid. */
static inline int env_train(struct env *e, struct learner *L, int steps, int warmup,
			    int batch, uint64_t seed)
{
	struct pol_replay *rb;
	struct pol_batch *bt;
	struct pol_rng rng;
	float s[ENV_SD], s2[ENV_SD], r;
	uint8_t m[ENV_NA], m2[ENV_NA];
	int ret, a;
	pol_rng_seed(&rng, seed);
	pol_rng_seed(&e->draw, seed + 1);
	if ((ret = pol_replay_create(steps, ENV_SD, ENV_NA, &rb)))
		return ret;
	if ((ret = pol_batch_create(batch, ENV_SD, ENV_NA, &bt))) {
		pol_replay_free(rb);
		return ret;
	}
	env_reset(e, &rng, s, m);
	for (int t = 0; t < steps && !ret; t++) {
		if ((ret = L->sample(L->ag, s, m, &rng, &a)))
			break;
		if (a < 0 || a >= ENV_NA || !m[a]) {
			ret = -EDOM;
			break;
		}
		int done = env_step(e, s, a, s2, m2, &r);
		struct pol_transition tr = {.s = s, .s2 = s2, .mask = m, .mask2 = m2, .a = a, .r = r,
					    .done = done};
		if ((ret = pol_replay_push(rb, &tr)))
			break;
		if (done) {
			env_reset(e, &rng, s, m);
		} else {
			memcpy(s, s2, sizeof(s));
			memcpy(m, m2, sizeof(m));
		}
		if (t >= warmup && !(ret = pol_replay_sample(rb, &rng, batch, bt)))
			ret = L->update(L->ag, bt);
	}
	pol_replay_free(rb);
	pol_batch_free(bt);
	return ret;
}

/* Fraction of n held-out states (at the given step of the episode) where the
 * greedy action is optimal. */
static inline double env_eval(struct env *e, struct learner *L, int step, int n,
			      uint64_t seed)
{
	struct pol_rng rng;
	float s[ENV_SD], s2[ENV_SD], r;
	uint8_t m[ENV_NA], m2[ENV_NA];
	int good = 0, a;
	pol_rng_seed(&rng, seed);
	for (int i = 0; i < n; i++) {
		env_reset(e, &rng, s, m);
		if (step == 1) { /* reach step 1 by saving */
			env_step(e, s, 1, s2, m2, &r);
			memcpy(s, s2, sizeof(s));
			memcpy(m, m2, sizeof(m));
		}
		if (L->greedy(L->ag, s, m, &a) == 0 && a == env_best(e, s, m))
			good++;
	}
	return (double)good / n;
}

#endif
