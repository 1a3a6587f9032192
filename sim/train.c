/* sim_train: a learner in the trace-driven environment (policy-train.h,
 * docs/policy-train.md). */
#include "coinfer/sim-train.h"
#include "coinfer/errmsg.h"
#include "coinfer/names.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct sim_train_cfg sim_train_defaults(enum pol_algo algo)
{
	struct sim_train_cfg c;
	memset(&c, 0, sizeof(c));
	c.algo = algo;
	c.env_steps = 150000;
	c.warmup_steps = 5000;
	c.update_every = 4;
	c.updates_per_round = 1;
	c.replay_cap = 100000;
	/* the minibatch noise of a constant rate keeps the greedy choice flickering
	 * between near-equal actions late in training: anneal it */
	c.lr_final = 0.1f;
	c.eval_every = 10000;
	c.eval_steps = 5000;
	c.env_seed = 1;
	c.eval_seed = 7;
	c.warmup_seed = 3;
	/* The environment's next state does not depend on the action (bandwidth,
	 * load, frequency and the other devices move by themselves), so a request's
	 * reward is all that an action earns: gamma 0 is the exact objective, and
	 * it spares the critics from chasing their own targets. */
	c.sacd = pol_sacd_defaults(POL_ENV_STATE_DIM, 1);
	c.sacd.gamma = 0;
	c.sacd.lr_actor = c.sacd.lr_critic = 1e-3f;
	c.sacd.lr_alpha = 1e-3f;
	c.sacd.target_entropy_ratio = 0.3f;
	c.sacd.init_alpha = 0.1f;
	c.dqn = pol_dqn_defaults(POL_ENV_STATE_DIM, 1);
	c.dqn.gamma = 0;
	c.dqn.lr = 1e-3f;
	c.dqn.eps_decay_steps = 50000;
	return c;
}

struct trainer {
	const struct sim_train_cfg *cfg;
	struct pol_env *env, *eval_env;
	struct pol_replay *rb;
	struct pol_batch *batch;
	struct pol_sacd *sacd;
	struct pol_dqn *dqn;
	struct pol_rng rng_warm, rng_sample;
	int na;
	float mean[POL_ENV_STATE_DIM], std[POL_ENV_STATE_DIM];
	uint8_t *mask, *mask2;
	struct pol_sacd_stats sst;
	struct pol_dqn_stats dst;
};

static int greedy(struct trainer *t, const float *s, const uint8_t *mask, int *a)
{
	return t->sacd ? pol_sacd_greedy(t->sacd, s, mask, a) : pol_dqn_greedy(t->dqn, s, mask, a);
}

/* The greedy policy over eval_steps steps of the held-out environment. */
static int evaluate(struct trainer *t, struct sim_train_point *pt)
{
	const struct sim_train_cfg *c = t->cfg;
	float raw[POL_ENV_STATE_DIM], s[POL_ENV_STATE_DIM];
	double r = 0, slo = 0, acc = 0, lat = 0;
	sim_env_reset(t->eval_env, c->eval_seed);
	for (int i = 0; i < c->eval_steps; i++) {
		struct sim_env_outcome o;
		int a, rc;
		sim_env_state(t->eval_env, raw, POL_ENV_STATE_DIM);
		pol_normalize(t->mean, t->std, POL_ENV_STATE_DIM, raw, s);
		sim_env_mask(t->eval_env, t->mask);
		if ((rc = greedy(t, s, t->mask, &a)) || (rc = sim_env_step(t->eval_env, a, &o)))
			return rc;
		r += o.reward;
		slo += o.deadline_met && o.energy_met;
		acc += o.cost.accuracy;
		lat += o.cost.latency_ms;
	}
	pt->reward = r / c->eval_steps;
	pt->slo_attainment = slo / c->eval_steps;
	pt->accuracy = acc / c->eval_steps;
	pt->latency_ms = lat / c->eval_steps;
	return 0;
}

static int random_valid(struct pol_rng *rng, const uint8_t *mask, int n)
{
	int valid = 0;
	for (int i = 0; i < n; i++)
		valid += mask[i];
	int k = (int)pol_rng_below(rng, (uint64_t)valid);
	for (int i = 0; i < n; i++)
		if (mask[i] && k-- == 0)
			return i;
	return -1;
}

/* Mean and standard deviation of the warm-up states; a feature that does not
 * vary (the device class, a single SLO) keeps std 1 so that a policy serving
 * another class sees a finite, centred input rather than a division by ~0. */
static void fit_norm(struct trainer *t, const float *states, int n)
{
	for (int j = 0; j < POL_ENV_STATE_DIM; j++) {
		double m = 0, v = 0;
		for (int i = 0; i < n; i++)
			m += states[(size_t)i * POL_ENV_STATE_DIM + j];
		m /= n;
		for (int i = 0; i < n; i++) {
			double d = states[(size_t)i * POL_ENV_STATE_DIM + j] - m;
			v += d * d;
		}
		double sd = sqrt(v / n);
		t->mean[j] = (float)m;
		t->std[j] = sd > 1e-3 ? (float)sd : 1.0f;
	}
}

static void trainer_free(struct trainer *t)
{
	sim_env_free(t->env);
	sim_env_free(t->eval_env);
	pol_replay_free(t->rb);
	pol_batch_free(t->batch);
	pol_sacd_free(t->sacd);
	pol_dqn_free(t->dqn);
	free(t->mask);
	free(t->mask2);
}

int sim_train(const struct cost_model *cm, const struct sim_trace_set *traces,
	      const struct sim_env_cfg *env_cfg, const struct sim_train_cfg *cfg,
	      const char *device_class, const char *model,
	      void (*progress)(void *ctx, const struct sim_train_point *pt), void *ctx,
	      struct pol_policy **out, struct sim_train_report *rep, char *err, size_t errlen)
{
	struct trainer t;
	struct pol_policy *pol = NULL;
	float *warm = NULL, *warm2 = NULL, *warm_r = NULL;
	int32_t *warm_a = NULL;
	uint8_t *warm_m = NULL, *warm_m2 = NULL, *warm_d = NULL;
	struct cf_action *table = NULL;
	const struct sim_train_cfg *c = cfg;
	int rc;

	memset(&t, 0, sizeof(t));
	*out = NULL;
	memset(rep, 0, sizeof(*rep));
	t.cfg = c;
	if (!cm || !traces || !cfg || (c->algo != POL_ALGO_SACD && c->algo != POL_ALGO_DQN))
		return cf_fail(-EINVAL, err, errlen, "train: needs a cost model, traces and algo sacd or dqn");
	if (c->env_steps < 1 || c->warmup_steps < 1 || c->warmup_steps > c->env_steps ||
	    c->update_every < 1 || c->updates_per_round < 1 || c->replay_cap < c->warmup_steps ||
	    c->eval_every < 0 || c->eval_steps < 1 || !(c->lr_final > 0 && c->lr_final <= 1))
		return cf_fail(-EINVAL, err, errlen,
			    "train: need 1 <= warmup_steps <= env_steps, replay_cap >= warmup_steps, "
			    "update_every, updates_per_round, eval_steps >= 1, eval_every >= 0, "
			    "0 < lr_final <= 1");
	if (c->eval_every > 0 && c->env_steps / c->eval_every + 1 > SIM_TRAIN_MAX_POINTS)
		return cf_fail(-EINVAL, err, errlen, "train: more than %d evaluation points",
			    SIM_TRAIN_MAX_POINTS);
	if ((rc = sim_env_create(cm, traces, env_cfg, c->env_seed, &t.env, err, errlen)) ||
	    (rc = sim_env_create(cm, traces, env_cfg, c->eval_seed, &t.eval_env, err, errlen)))
		goto out;
	t.na = sim_env_n_actions(t.env);
	const int sd = POL_ENV_STATE_DIM, na = t.na, W = c->warmup_steps;
	if (c->algo == POL_ALGO_SACD) {
		struct pol_sacd_cfg sc = c->sacd;
		sc.state_dim = sd, sc.n_actions = na;
		rc = pol_sacd_create(&sc, &t.sacd, err, errlen);
	} else {
		struct pol_dqn_cfg dc = c->dqn;
		dc.state_dim = sd, dc.n_actions = na;
		rc = pol_dqn_create(&dc, &t.dqn, err, errlen);
	}
	if (rc)
		goto out;
	int bcap = c->algo == POL_ALGO_SACD ? c->sacd.batch : c->dqn.batch;
	if ((rc = pol_replay_create(c->replay_cap, sd, na, &t.rb)) ||
	    (rc = pol_batch_create(bcap, sd, na, &t.batch))) {
		cf_fail(rc, err, errlen, "train: replay buffer of %d: %s", c->replay_cap, strerror(-rc));
		goto out;
	}
	t.mask = malloc((size_t)na);
	t.mask2 = malloc((size_t)na);
	warm = malloc((size_t)W * sd * sizeof(float));
	warm2 = malloc((size_t)W * sd * sizeof(float));
	warm_r = malloc((size_t)W * sizeof(float));
	warm_a = malloc((size_t)W * sizeof(int32_t));
	warm_m = malloc((size_t)W * na);
	warm_m2 = malloc((size_t)W * na);
	warm_d = malloc((size_t)W);
	table = malloc((size_t)na * sizeof(*table));
	if (!t.mask || !t.mask2 || !warm || !warm2 || !warm_r || !warm_a || !warm_m || !warm_m2 ||
	    !warm_d || !table) {
		rc = cf_fail(-ENOMEM, err, errlen, "train: out of memory");
		goto out;
	}
	pol_rng_seed(&t.rng_warm, c->warmup_seed);
	pol_rng_seed(&t.rng_sample, c->warmup_seed ^ 0x9e3779b97f4a7c15ull);

	double t0 = wall_s();
	float raw[POL_ENV_STATE_DIM], s[POL_ENV_STATE_DIM], s2[POL_ENV_STATE_DIM];
	int next_eval = c->eval_every > 0 ? W : c->env_steps;
	for (int step = 0; step < c->env_steps; step++) {
		struct sim_env_outcome o;
		int a;
		sim_env_state(t.env, raw, sd);
		sim_env_mask(t.env, t.mask);
		if (step < W) {
			/* raw states: the normalisation is fitted when warm-up ends */
			a = random_valid(&t.rng_warm, t.mask, na);
			memcpy(warm + (size_t)step * sd, raw, sizeof(raw));
			memcpy(warm_m + (size_t)step * na, t.mask, (size_t)na);
		} else {
			pol_normalize(t.mean, t.std, sd, raw, s);
			rc = t.sacd ? pol_sacd_sample(t.sacd, s, t.mask, &t.rng_sample, &a)
				    : pol_dqn_sample(t.dqn, s, t.mask, &t.rng_sample, &a);
			if (rc) {
				cf_fail(rc, err, errlen, "train: acting failed at step %d", step);
				goto out;
			}
		}
		if ((rc = sim_env_step(t.env, a, &o))) {
			cf_fail(rc, err, errlen, "train: environment step %d failed", step);
			goto out;
		}
		sim_env_state(t.env, raw, sd);
		sim_env_mask(t.env, t.mask2);
		if (step < W) {
			memcpy(warm2 + (size_t)step * sd, raw, sizeof(raw));
			memcpy(warm_m2 + (size_t)step * na, t.mask2, (size_t)na);
			warm_r[step] = o.reward;
			warm_a[step] = a;
			warm_d[step] = (uint8_t)o.done;
			if (step == W - 1) {
				fit_norm(&t, warm, W);
				for (int i = 0; i < W; i++) {
					pol_normalize(t.mean, t.std, sd, warm + (size_t)i * sd, s);
					pol_normalize(t.mean, t.std, sd, warm2 + (size_t)i * sd, s2);
					struct pol_transition tr = {
						.s = s, .s2 = s2, .mask = warm_m + (size_t)i * na,
						.mask2 = warm_m2 + (size_t)i * na, .a = warm_a[i],
						.r = warm_r[i], .done = warm_d[i]};
					if ((rc = pol_replay_push(t.rb, &tr))) {
						cf_fail(rc, err, errlen, "train: bad warm-up transition %d", i);
						goto out;
					}
				}
			}
		} else {
			pol_normalize(t.mean, t.std, sd, raw, s2);
			struct pol_transition tr = {.s = s, .s2 = s2, .mask = t.mask, .mask2 = t.mask2,
						    .a = a, .r = o.reward, .done = o.done};
			if ((rc = pol_replay_push(t.rb, &tr))) {
				cf_fail(rc, err, errlen, "train: bad transition at step %d", step);
				goto out;
			}
		}
		if (step >= W - 1 && (step - (W - 1)) % c->update_every == 0) {
			float frac = c->env_steps > W ? (float)(step - (W - 1)) / (float)(c->env_steps - W) : 1;
			float scale = 1 - (1 - c->lr_final) * (frac > 1 ? 1 : frac);
			if (t.sacd)
				pol_sacd_set_lr_scale(t.sacd, scale);
			else
				pol_dqn_set_lr_scale(t.dqn, scale);
			for (int u = 0; u < c->updates_per_round; u++) {
				if ((rc = pol_replay_sample(t.rb, &t.rng_sample, bcap, t.batch)) ||
				    (rc = t.sacd ? pol_sacd_update(t.sacd, t.batch, &t.sst)
						 : pol_dqn_update(t.dqn, t.batch, &t.dst))) {
					cf_fail(rc, err, errlen, "train: update failed at step %d", step);
					goto out;
				}
			}
		}
		if (step + 1 == next_eval || step + 1 == c->env_steps) {
			struct sim_train_point *pt = &rep->pt[rep->n_points];
			memset(pt, 0, sizeof(*pt));
			pt->env_steps = step + 1;
			pt->updates = t.sacd ? pol_sacd_updates(t.sacd) : pol_dqn_updates(t.dqn);
			if ((rc = evaluate(&t, pt))) {
				cf_fail(rc, err, errlen, "train: evaluation failed at step %d", step);
				goto out;
			}
			pt->wall_s = wall_s() - t0;
			if (t.sacd) {
				pt->alpha = t.sst.alpha;
				pt->entropy = t.sst.entropy;
				pt->target_entropy = t.sst.target_entropy;
				pt->loss = t.sst.q_loss;
			} else {
				pt->epsilon = pol_dqn_epsilon(t.dqn);
				pt->loss = t.dst.loss;
			}
			rep->n_points++;
			if (progress)
				progress(ctx, pt);
			if (c->eval_every > 0)
				while (next_eval <= step + 1)
					next_eval += c->eval_every;
			if (rep->n_points >= SIM_TRAIN_MAX_POINTS)
				next_eval = c->env_steps;
		}
	}
	rep->wall_s = wall_s() - t0;
	/* converged: from this point on the reward stays within tol of the last */
	const struct sim_train_point *last = &rep->pt[rep->n_points - 1];
	rep->converge_tol = 0.01 * (fabs(last->reward) > 0.1 ? fabs(last->reward) : 0.1);
	rep->converged_point = rep->n_points - 1;
	while (rep->converged_point > 0 &&
	       fabs(rep->pt[rep->converged_point - 1].reward - last->reward) <= rep->converge_tol)
		rep->converged_point--;

	rc = t.sacd ? pol_sacd_export(t.sacd, t.mean, t.std, &pol)
		    : pol_dqn_export(t.dqn, t.mean, t.std, &pol);
	if (rc) {
		cf_fail(rc, err, errlen, "train: export failed");
		goto out;
	}
	sim_env_action_table(t.env, table);
	const struct cost_exit *deep = &cm->ex[cm->n_exits - 1];
	if ((rc = pol_policy_set_meta(pol, table, na, device_class, model, deep->dev_ms[deep->n]))) {
		cf_fail(rc, err, errlen, "train: bad device class '%s' or model '%s' name",
		     device_class ? device_class : "", model ? model : "");
		goto out;
	}
	*out = pol;
	pol = NULL;
out:
	pol_policy_free(pol);
	free(warm);
	free(warm2);
	free(warm_r);
	free(warm_a);
	free(warm_m);
	free(warm_m2);
	free(warm_d);
	free(table);
	trainer_free(&t);
	return rc;
}
