/* Same seed, same data: bit-identical learners (every parameter, the temperature
 * and the optimiser moments, compared with memcmp) and identical policy files;
 * a different seed gives different parameters. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "envs.h"

static int s_sample(void *ag, const float *s, const uint8_t *m, struct pol_rng *r, int *a)
{
	return pol_sacd_sample(ag, s, m, r, a);
}
static int s_greedy(void *ag, const float *s, const uint8_t *m, int *a)
{
	return pol_sacd_greedy(ag, s, m, a);
}
static int s_update(void *ag, const struct pol_batch *b)
{
	return pol_sacd_update(ag, b, NULL);
}
static int d_sample(void *ag, const float *s, const uint8_t *m, struct pol_rng *r, int *a)
{
	return pol_dqn_sample(ag, s, m, r, a);
}
static int d_greedy(void *ag, const float *s, const uint8_t *m, int *a)
{
	return pol_dqn_greedy(ag, s, m, a);
}
static int d_update(void *ag, const struct pol_batch *b)
{
	return pol_dqn_update(ag, b, NULL);
}

struct trained {
	uint8_t *state, *file;
	size_t state_len, file_len;
};

/* A file needs an action table; any valid one will do for comparing files. */
static void set_meta(struct pol_policy *p)
{
	struct cf_action a[ENV_NA];
	for (int i = 0; i < ENV_NA; i++)
		a[i] = (struct cf_action){i / 4, i % 4, i % 4 == 3 ? 0 : 4 * (i % 4 + 1)};
	cr_assert_eq(pol_policy_set_meta(p, a, ENV_NA, "toy", "toy", 1), 0);
}

static struct trained train_sacd(uint64_t seed, uint64_t env_seed)
{
	struct pol_sacd_cfg c = pol_sacd_defaults(ENV_SD, ENV_NA);
	c.hidden[0] = c.hidden[1] = 32, c.batch = 32, c.seed = seed, c.clip_norm = 5.0f;
	struct pol_sacd *ag;
	struct pol_policy *p;
	struct env e = {.steps = 2};
	struct trained t;
	char err[256];
	cr_assert_eq(pol_sacd_create(&c, &ag, err, sizeof(err)), 0, "%s", err);
	struct learner L = {s_sample, s_greedy, s_update, ag};
	cr_assert_eq(env_train(&e, &L, 400, 64, 32, env_seed), 0);
	t.state_len = pol_sacd_state_bytes(ag);
	t.state = malloc(t.state_len);
	pol_sacd_state(ag, t.state);
	cr_assert_eq(pol_sacd_export(ag, NULL, NULL, &p), 0);
	set_meta(p);
	cr_assert_eq(pol_encode(p, &t.file, &t.file_len, err, sizeof(err)), 0, "%s", err);
	pol_policy_free(p);
	pol_sacd_free(ag);
	return t;
}

static struct trained train_dqn(uint64_t seed, uint64_t env_seed)
{
	struct pol_dqn_cfg c = pol_dqn_defaults(ENV_SD, ENV_NA);
	c.hidden[0] = c.hidden[1] = 32, c.batch = 32, c.seed = seed, c.eps_decay_steps = 200;
	c.target_period = 50;
	struct pol_dqn *ag;
	struct pol_policy *p;
	struct env e = {.steps = 2};
	struct trained t;
	char err[256];
	cr_assert_eq(pol_dqn_create(&c, &ag, err, sizeof(err)), 0, "%s", err);
	struct learner L = {d_sample, d_greedy, d_update, ag};
	cr_assert_eq(env_train(&e, &L, 400, 64, 32, env_seed), 0);
	t.state_len = pol_dqn_state_bytes(ag);
	t.state = malloc(t.state_len);
	pol_dqn_state(ag, t.state);
	cr_assert_eq(pol_dqn_export(ag, NULL, NULL, &p), 0);
	set_meta(p);
	cr_assert_eq(pol_encode(p, &t.file, &t.file_len, err, sizeof(err)), 0, "%s", err);
	pol_policy_free(p);
	pol_dqn_free(ag);
	return t;
}

static void expect_same(struct trained a, struct trained b, const char *what)
{
	cr_assert_eq(a.state_len, b.state_len);
	cr_expect(!memcmp(a.state, b.state, a.state_len), "%s: same seed, different state", what);
	cr_expect(a.file_len == b.file_len && !memcmp(a.file, b.file, a.file_len),
		  "%s: same seed, different policy file", what);
}

static void expect_differ(struct trained a, struct trained b, const char *what)
{
	cr_assert_eq(a.state_len, b.state_len);
	cr_expect(memcmp(a.state, b.state, a.state_len), "%s: different seeds, same state", what);
}

static void drop(struct trained t)
{
	free(t.state);
	free(t.file);
}

Test(determinism, sacd)
{
	struct trained a = train_sacd(7, 100), b = train_sacd(7, 100), c = train_sacd(8, 100),
		       d = train_sacd(7, 101);
	expect_same(a, b, "sacd");
	expect_differ(a, c, "sacd agent seed");
	expect_differ(a, d, "sacd data seed");
	drop(a), drop(b), drop(c), drop(d);
}

Test(determinism, dqn)
{
	struct trained a = train_dqn(7, 100), b = train_dqn(7, 100), c = train_dqn(8, 100);
	expect_same(a, b, "dqn");
	expect_differ(a, c, "dqn agent seed");
	drop(a), drop(b), drop(c);
}
