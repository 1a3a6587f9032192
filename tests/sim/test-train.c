/* sim_train over the committed cost model (pi4-est device, edge-x86 edge) and a
 * synthetic trace that alternates a good link and a poor one: the same seed gives
 * the same policy bit for bit, another seed another one; a short SAC-d and DQN
 * run learns to act near the clairvoyant oracle (where an untrained network is far
 * from it); the exported policy carries the environment's action table and is
 * accepted by sim_eval_run_policy, a mismatched one refused; bad settings
 * refused with a message. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/model.h"
#include "coinfer/sim-eval.h"
#include "coinfer/sim-train.h"
#include "traces.h"

#define MODEL COINFER_SOURCE_ROOT "/models/branchy-alexnet.cfm"

static char err[512];
static struct cr_model *m;
static struct cost_model *cm;
static struct sim_trace_set ts;

/* 10 s at 20 Mbit/s, 10 s at 0.3 Mbit/s, 10 s at 3 Mbit/s, repeated */
static void setup(void)
{
	cr_assert_eq(cr_model_load(MODEL, &m, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cost_load(m, COINFER_SOURCE_ROOT, "pi4-est", "edge-x86", NULL, &cm, err,
				   sizeof(err)), 0, "%s", err);
	double rate[30];
	for (int i = 0; i < 30; i++)
		rate[i] = i < 10 ? 20 : i < 20 ? 0.3 : 3;
	ts.n = 1;
	ts.tr = calloc(1, sizeof(*ts.tr));
	cr_assert(ts.tr);
	synth_trace(ts.tr, rate, 30, 1.0);
}

static void teardown(void)
{
	sim_trace_set_free(&ts);
	free(cm);
	cr_model_free(m);
}

TestSuite(train, .init = setup, .fini = teardown);

static struct sim_env_cfg env_cfg(void)
{
	struct sim_env_cfg c = sim_env_defaults();
	c.reward = SIM_REWARD_SLO;
	c.deadline_ms = 20;
	return c;
}

static struct sim_train_cfg small(enum pol_algo algo, int steps, uint64_t seed)
{
	struct sim_train_cfg c = sim_train_defaults(algo);
	c.env_steps = steps;
	c.warmup_steps = 1000;
	c.update_every = 2;
	c.eval_every = 0;
	c.eval_steps = 500;
	c.env_seed = seed;
	c.sacd.seed = c.dqn.seed = seed;
	c.sacd.hidden[0] = c.sacd.hidden[1] = 32;
	c.dqn.hidden[0] = c.dqn.hidden[1] = 32;
	c.sacd.batch = c.dqn.batch = 32;
	c.dqn.eps_decay_steps = steps / 2;
	return c;
}

static struct pol_policy *train(const struct sim_train_cfg *c, struct sim_train_report *rep)
{
	struct sim_env_cfg e = env_cfg();
	struct pol_policy *p = NULL;
	int rc = sim_train(cm, &ts, &e, c, "pi4-est", "branchy-alexnet", NULL, NULL, &p, rep, err,
			   sizeof(err));
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert(p);
	return p;
}

static int same_policy(const struct pol_policy *a, const struct pol_policy *b)
{
	return a->net->n_params == b->net->n_params &&
	       !memcmp(a->net->params, b->net->params, a->net->n_params * sizeof(float)) &&
	       !memcmp(a->mean, b->mean, POL_ENV_STATE_DIM * sizeof(float)) &&
	       !memcmp(a->std, b->std, POL_ENV_STATE_DIM * sizeof(float));
}

static struct sim_train_report rep1, rep2;

Test(train, same_seed_same_policy)
{
	for (int algo = POL_ALGO_SACD; algo <= POL_ALGO_DQN; algo++) {
		struct sim_train_cfg c = small((enum pol_algo)algo, 2000, 5);
		struct pol_policy *a = train(&c, &rep1), *b = train(&c, &rep2);
		cr_expect(same_policy(a, b), "algo %d: the same seed gave different weights", algo);
		cr_expect_eq(rep1.pt[rep1.n_points - 1].reward, rep2.pt[rep2.n_points - 1].reward);
		c.env_seed = c.sacd.seed = c.dqn.seed = 6;
		struct pol_policy *d = train(&c, &rep2);
		cr_expect(!same_policy(a, d), "algo %d: another seed gave the same weights", algo);
		pol_policy_free(a);
		pol_policy_free(b);
		pol_policy_free(d);
	}
}

static struct sim_eval_result eval_policy(struct pol_policy *p, const char *name)
{
	struct sim_env_cfg e = env_cfg();
	struct sim_eval_result r;
	cr_assert_eq(sim_eval_run_policy(cm, &ts, &e, 99, name, p, 3000, &r, err, sizeof(err)), 0,
		     "%s", err);
	return r;
}

static struct sim_eval_result eval_algo(const char *algo)
{
	struct sim_env_cfg e = env_cfg();
	struct sim_eval_result r;
	cr_assert_eq(sim_eval_run(cm, &ts, &e, 99, algo, 3000, &r, err, sizeof(err)), 0, "%s", err);
	return r;
}

/* Learning, measured against the oracle on held-out steps: the untrained network
 * is checked to be far from it so the test can fail. */
static void learns(enum pol_algo algo, int steps, double tol)
{
	struct sim_eval_result o = eval_algo("oracle");
	struct sim_train_cfg c = small(algo, 1000, 11);
	struct pol_policy *p0 = train(&c, &rep1); /* warm-up only: no learning yet */
	struct sim_eval_result r0 = eval_policy(p0, "untrained");
	c = small(algo, steps, 11);
	struct pol_policy *p = train(&c, &rep1);
	struct sim_eval_result r = eval_policy(p, algo == POL_ALGO_SACD ? "sacd" : "dqn");
	double score0 = r0.slo_attainment * r0.mean_accuracy, score = r.slo_attainment * r.mean_accuracy;
	double best = o.slo_attainment * o.mean_accuracy;
	cr_log_info("%s after %d steps: slo %.4f acc %.4f (untrained %.4f %.4f, oracle %.4f %.4f)\n",
		    r.algo, steps, r.slo_attainment, r.mean_accuracy, r0.slo_attainment,
		    r0.mean_accuracy, o.slo_attainment, o.mean_accuracy);
	cr_expect(best - score0 > 2 * tol, "the untrained policy is already near the oracle (%.4f vs %.4f)",
		  score0, best);
	cr_expect(score >= best - tol, "%s: slo x accuracy %.4f, oracle %.4f (tolerance %.3f)", r.algo,
		  score, best, tol);
	pol_policy_free(p0);
	pol_policy_free(p);
}

/* timeouts guard against a hang: sanitized on a loaded host these take minutes */
Test(train, sacd_learns, .timeout = 600)
{
	learns(POL_ALGO_SACD, 16000, 0.03);
}

Test(train, dqn_learns, .timeout = 600)
{
	learns(POL_ALGO_DQN, 16000, 0.05);
}

Test(train, exported_policy_fits_the_environment)
{
	struct sim_train_cfg c = small(POL_ALGO_SACD, 1500, 2);
	struct pol_policy *p = train(&c, &rep1);
	struct pol_env *env;
	struct sim_env_cfg e = env_cfg();
	cr_assert_eq(sim_env_create(cm, &ts, &e, 1, &env, err, sizeof(err)), 0, "%s", err);
	int na = sim_env_n_actions(env);
	cr_assert_eq(p->n_actions, na);
	cr_assert_eq(p->state_dim, POL_ENV_STATE_DIM);
	cr_expect_eq(p->obs_spec, POL_OBS_SPEC);
	cr_expect_str_eq(p->device_class, "pi4-est");
	cr_expect_str_eq(p->model, "branchy-alexnet");
	cr_expect(p->dev_class_ms > 0);
	struct cf_action *t = malloc(na * sizeof(*t));
	cr_assert(t);
	sim_env_action_table(env, t);
	int device_only = 0;
	for (int i = 0; i < na; i++) {
		cr_expect(t[i].exit == p->actions[i].exit && t[i].partition == p->actions[i].partition &&
			  t[i].bits == p->actions[i].bits, "action %d differs", i);
		device_only += p->actions[i].bits == 0;
	}
	cr_expect_eq(device_only, cm->n_exits);
	/* a policy for another action list is refused with a message */
	p->actions[3].partition++;
	struct sim_eval_result r;
	cr_expect_eq(sim_eval_run_policy(cm, &ts, &e, 1, "bad", p, 10, &r, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "another model"), "%s", err);
	free(t);
	sim_env_free(env);
	pol_policy_free(p);
}

Test(train, bad_settings_refused)
{
	struct pol_policy *p = NULL;
	struct sim_env_cfg e = env_cfg();
	struct sim_train_cfg c = small(POL_ALGO_SACD, 1000, 1);
	c.warmup_steps = 2000; /* more than env_steps */
	cr_expect_eq(sim_train(cm, &ts, &e, &c, "pi4-est", "m", NULL, NULL, &p, &rep1, err,
			       sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "warmup_steps"), "%s", err);
	c = small(POL_ALGO_SACD, 1000, 1);
	c.algo = (enum pol_algo)7;
	cr_expect_eq(sim_train(cm, &ts, &e, &c, "pi4-est", "m", NULL, NULL, &p, &rep1, err,
			       sizeof(err)), -EINVAL);
	c = small(POL_ALGO_SACD, 1000, 1);
	cr_expect_eq(sim_train(cm, &ts, &e, &c, "bad name!", "m", NULL, NULL, &p, &rep1, err,
			       sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "bad name!"), "%s", err);
	cr_expect_null(p);
}
