/* Double DQN learns the environments of envs.h (>= 95% greedy-optimal on
 * held-out states), explores only valid actions, and follows its epsilon
 * schedule. */
#include <criterion/criterion.h>
#include <errno.h>
#include <criterion/logging.h>

#include "envs.h"

static struct pol_dqn_stats last;

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
	return pol_dqn_update(ag, b, &last);
}

static struct pol_dqn *agent(int decay, uint64_t seed)
{
	struct pol_dqn_cfg c = pol_dqn_defaults(ENV_SD, ENV_NA);
	c.hidden[0] = c.hidden[1] = 64;
	c.lr = 1e-3f;
	c.gamma = MDP_GAMMA;
	c.tau = 0.01f;
	c.eps_decay_steps = decay;
	c.seed = seed;
	struct pol_dqn *ag;
	char err[256];
	cr_assert_eq(pol_dqn_create(&c, &ag, err, sizeof(err)), 0, "%s", err);
	return ag;
}

static double run(int steps_per_episode, int train_steps, double *acc1)
{
	struct env e = {.steps = steps_per_episode};
	struct pol_dqn *ag = agent(train_steps / 2, 1);
	struct learner L = {d_sample, d_greedy, d_update, ag};
	cr_assert_eq(env_train(&e, &L, train_steps, 256, 64, 11), 0, "training failed");
	double acc0 = env_eval(&e, &L, 0, 2000, 12345);
	if (acc1)
		*acc1 = env_eval(&e, &L, 1, 2000, 54321);
	cr_log_info("dqn %d-step: %.1f%% optimal%s, loss %.4f, epsilon %.3f\n", steps_per_episode,
		    100 * acc0, steps_per_episode > 1 ? " at step 0" : "", last.loss, last.epsilon);
	pol_dqn_free(ag);
	return acc0;
}

Test(dqn, untrained_is_poor)
{
	struct env e = {.steps = 1};
	struct pol_dqn *ag = agent(1000, 1);
	struct learner L = {d_sample, d_greedy, d_update, ag};
	double acc = env_eval(&e, &L, 0, 2000, 12345);
	cr_expect(acc < 0.5, "an untrained network already scores %.2f: the test could not fail", acc);
	pol_dqn_free(ag);
}

Test(dqn, solves_masked_bandit)
{
	double acc = run(1, 4000, NULL);
	cr_expect(acc >= 0.95, "greedy optimal in %.1f%% of held-out states", 100 * acc);
}

Test(dqn, solves_two_step_mdp)
{
	double acc1, acc0 = run(2, 6000, &acc1);
	cr_expect(acc0 >= 0.95, "step 0 (needs bootstrapping): %.1f%% optimal", 100 * acc0);
	cr_expect(acc1 >= 0.95, "step 1: %.1f%% optimal", 100 * acc1);
}

Test(dqn, epsilon_schedule_and_valid_exploration)
{
	struct pol_dqn *ag = agent(100, 2);
	struct pol_rng rng;
	pol_rng_seed(&rng, 3);
	float s[ENV_SD] = {0.5f, 1, 0, 0, 1};
	uint8_t m[ENV_NA] = {0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1}, none[ENV_NA] = {0};
	int hist[ENV_NA] = {0}, a;
	cr_expect_float_eq(pol_dqn_epsilon(ag), 1.0f, 1e-6);
	for (int t = 0; t < 50; t++)
		cr_assert_eq(pol_dqn_sample(ag, s, m, &rng, &a), 0);
	cr_expect_float_eq(pol_dqn_epsilon(ag), 1.0f + 0.5f * (0.05f - 1.0f), 1e-6);
	for (int t = 0; t < 3000; t++) {
		cr_assert_eq(pol_dqn_sample(ag, s, m, &rng, &a), 0);
		hist[a]++;
	}
	cr_expect_float_eq(pol_dqn_epsilon(ag), 0.05f, 1e-6);
	for (int k = 0; k < ENV_NA; k++)
		if (!m[k])
			cr_expect_eq(hist[k], 0, "masked action %d taken", k);
	cr_expect_eq(pol_dqn_sample(ag, s, none, &rng, &a), -EINVAL);
	pol_dqn_free(ag);
}
