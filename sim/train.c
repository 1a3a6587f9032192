/* sim_train: a learner in the trace-driven environment (sim-train.h,
 * docs/policy-train.md). */
#include "coinfer/sim-train.h"
#include "coinfer/clock.h"
#include "coinfer/errmsg.h"
#include "coinfer/names.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* What training does with a learner. SAC-d and double DQN differ only in these,
 * so the algorithm is chosen once rather than at every step. */
union learner_stats {
	struct pol_sacd_stats sacd;
	struct pol_dqn_stats dqn;
};

struct learner_ops {
	/* the learner for states of sd floats and na actions; *batch is its minibatch */
	int (*create)(const struct sim_train_cfg *c, int sd, int na, void **ag, int *batch,
		      char *err, size_t errlen);
	void (*free)(void *ag);
	int (*sample)(void *ag, const float *s, const uint8_t *mask, struct pol_rng *rng, int *a);
	int (*greedy)(void *ag, const float *s, const uint8_t *mask, int *a);
	void (*set_lr_scale)(void *ag, float scale);
	int (*update)(void *ag, const struct pol_batch *b, union learner_stats *st);
	/* an evaluation point's update count and the learner's own numbers */
	void (*report)(const void *ag, const union learner_stats *st, struct sim_train_point *pt);
	int (*export)(void *ag, const float *mean, const float *std, struct pol_policy **out);
};

static int sacd_create(const struct sim_train_cfg *c, int sd, int na, void **ag, int *batch,
		       char *err, size_t errlen)
{
	struct pol_sacd_cfg sc = c->sacd;
	struct pol_sacd *p = NULL;
	sc.state_dim = sd, sc.n_actions = na;
	int rc = pol_sacd_create(&sc, &p, err, errlen);
	*ag = p;
	*batch = c->sacd.batch;
	return rc;
}

static void sacd_free(void *ag)
{
	pol_sacd_free(ag);
}

static int sacd_sample(void *ag, const float *s, const uint8_t *mask, struct pol_rng *rng, int *a)
{
	return pol_sacd_sample(ag, s, mask, rng, a);
}

static int sacd_greedy(void *ag, const float *s, const uint8_t *mask, int *a)
{
	return pol_sacd_greedy(ag, s, mask, a);
}

static void sacd_set_lr_scale(void *ag, float scale)
{
	pol_sacd_set_lr_scale(ag, scale);
}

static int sacd_update(void *ag, const struct pol_batch *b, union learner_stats *st)
{
	return pol_sacd_update(ag, b, &st->sacd);
}

static void sacd_report(const void *ag, const union learner_stats *st, struct sim_train_point *pt)
{
	pt->updates = pol_sacd_updates(ag);
	pt->alpha = st->sacd.alpha;
	pt->entropy = st->sacd.entropy;
	pt->target_entropy = st->sacd.target_entropy;
	pt->loss = st->sacd.q_loss;
}

static int sacd_export(void *ag, const float *mean, const float *std, struct pol_policy **out)
{
	return pol_sacd_export(ag, mean, std, out);
}

static const struct learner_ops sacd_ops = {
	.create = sacd_create, .free = sacd_free, .sample = sacd_sample, .greedy = sacd_greedy,
	.set_lr_scale = sacd_set_lr_scale, .update = sacd_update, .report = sacd_report,
	.export = sacd_export,
};

static int dqn_create(const struct sim_train_cfg *c, int sd, int na, void **ag, int *batch,
		      char *err, size_t errlen)
{
	struct pol_dqn_cfg dc = c->dqn;
	struct pol_dqn *p = NULL;
	dc.state_dim = sd, dc.n_actions = na;
	int rc = pol_dqn_create(&dc, &p, err, errlen);
	*ag = p;
	*batch = c->dqn.batch;
	return rc;
}

static void dqn_free(void *ag)
{
	pol_dqn_free(ag);
}

static int dqn_sample(void *ag, const float *s, const uint8_t *mask, struct pol_rng *rng, int *a)
{
	return pol_dqn_sample(ag, s, mask, rng, a);
}

static int dqn_greedy(void *ag, const float *s, const uint8_t *mask, int *a)
{
	return pol_dqn_greedy(ag, s, mask, a);
}

static void dqn_set_lr_scale(void *ag, float scale)
{
	pol_dqn_set_lr_scale(ag, scale);
}

static int dqn_update(void *ag, const struct pol_batch *b, union learner_stats *st)
{
	return pol_dqn_update(ag, b, &st->dqn);
}

static void dqn_report(const void *ag, const union learner_stats *st, struct sim_train_point *pt)
{
	pt->updates = pol_dqn_updates(ag);
	pt->epsilon = pol_dqn_epsilon(ag);
	pt->loss = st->dqn.loss;
}

static int dqn_export(void *ag, const float *mean, const float *std, struct pol_policy **out)
{
	return pol_dqn_export(ag, mean, std, out);
}

static const struct learner_ops dqn_ops = {
	.create = dqn_create, .free = dqn_free, .sample = dqn_sample, .greedy = dqn_greedy,
	.set_lr_scale = dqn_set_lr_scale, .update = dqn_update, .report = dqn_report,
	.export = dqn_export,
};

/* The warm-up transitions, kept raw until their states fix the normalisation. */
struct warmup {
	float *s, *s2, *r;
	int32_t *a;
	uint8_t *m, *m2, *d;
};

struct trainer {
	const struct sim_train_cfg *cfg;
	const struct learner_ops *ops;
	void *ag;
	union learner_stats st; /* of the last update */
	int bcap;               /* the learner's minibatch */
	struct pol_env *env, *eval_env;
	struct pol_replay *rb;
	struct pol_batch *batch;
	struct pol_rng rng_warm, rng_sample;
	int na;
	float mean[POL_ENV_STATE_DIM], std[POL_ENV_STATE_DIM];
	uint8_t *mask, *mask2;
	struct warmup warm;
	struct cf_action *table;
	/* the learning curve */
	struct sim_train_report *rep;
	void (*progress)(void *ctx, const struct sim_train_point *pt);
	void *ctx;
	double t0;
	int next_eval;
};

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
		if ((rc = t->ops->greedy(t->ag, s, t->mask, &a)) ||
		    (rc = sim_env_step(t->eval_env, a, &o)))
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
	struct warmup *w = &t->warm;
	sim_env_free(t->env);
	sim_env_free(t->eval_env);
	pol_replay_free(t->rb);
	pol_batch_free(t->batch);
	if (t->ag)
		t->ops->free(t->ag);
	free(t->mask);
	free(t->mask2);
	free(w->s);
	free(w->s2);
	free(w->r);
	free(w->a);
	free(w->m);
	free(w->m2);
	free(w->d);
	free(t->table);
}

static int check_cfg(const struct cost_model *cm, const struct sim_trace_set *traces,
		     const struct sim_train_cfg *c, char *err, size_t errlen)
{
	if (!cm || !traces || !c || (c->algo != POL_ALGO_SACD && c->algo != POL_ALGO_DQN))
		return cf_fail(-EINVAL, err, errlen,
			       "train: needs a cost model, traces and algo sacd or dqn");
	if (c->env_steps < 1 || c->warmup_steps < 1 || c->warmup_steps > c->env_steps ||
	    c->update_every < 1 || c->updates_per_round < 1 || c->replay_cap < c->warmup_steps ||
	    c->eval_every < 0 || c->eval_steps < 1 || !(c->lr_final > 0 && c->lr_final <= 1))
		return cf_fail(-EINVAL, err, errlen,
			       "train: need 1 <= warmup_steps <= env_steps, "
			       "replay_cap >= warmup_steps, update_every, updates_per_round, "
			       "eval_steps >= 1, eval_every >= 0, 0 < lr_final <= 1");
	if (c->eval_every > 0 && c->env_steps / c->eval_every + 1 > SIM_TRAIN_MAX_POINTS)
		return cf_fail(-EINVAL, err, errlen, "train: more than %d evaluation points",
			       SIM_TRAIN_MAX_POINTS);
	return 0;
}

/* The masks, the warm-up store and the action table: 0 or -ENOMEM. */
static int trainer_alloc(struct trainer *t)
{
	const size_t sd = POL_ENV_STATE_DIM, na = (size_t)t->na, W = (size_t)t->cfg->warmup_steps;
	struct warmup *w = &t->warm;
	t->mask = malloc(na);
	t->mask2 = malloc(na);
	w->s = malloc(W * sd * sizeof(float));
	w->s2 = malloc(W * sd * sizeof(float));
	w->r = malloc(W * sizeof(float));
	w->a = malloc(W * sizeof(int32_t));
	w->m = malloc(W * na);
	w->m2 = malloc(W * na);
	w->d = malloc(W);
	t->table = malloc(na * sizeof(*t->table));
	if (!t->mask || !t->mask2 || !w->s || !w->s2 || !w->r || !w->a || !w->m || !w->m2 ||
	    !w->d || !t->table)
		return -ENOMEM;
	return 0;
}

/* The environments, the learner, the replay buffer and the generators; what is
 * made before a failure is for trainer_free. */
static int trainer_init(struct trainer *t, const struct cost_model *cm,
			const struct sim_trace_set *traces, const struct sim_env_cfg *env_cfg,
			char *err, size_t errlen)
{
	const struct sim_train_cfg *c = t->cfg;
	int rc;
	if ((rc = sim_env_create(cm, traces, env_cfg, c->env_seed, &t->env, err, errlen)) ||
	    (rc = sim_env_create(cm, traces, env_cfg, c->eval_seed, &t->eval_env, err, errlen)))
		return rc;
	t->na = sim_env_n_actions(t->env);
	const int sd = POL_ENV_STATE_DIM, na = t->na;
	if ((rc = t->ops->create(c, sd, na, &t->ag, &t->bcap, err, errlen)))
		return rc;
	if ((rc = pol_replay_create(c->replay_cap, sd, na, &t->rb)) ||
	    (rc = pol_batch_create(t->bcap, sd, na, &t->batch)))
		return cf_fail(rc, err, errlen, "train: replay buffer of %d: %s", c->replay_cap,
			       strerror(-rc));
	if ((rc = trainer_alloc(t)))
		return cf_fail(rc, err, errlen, "train: out of memory");
	pol_rng_seed(&t->rng_warm, c->warmup_seed);
	pol_rng_seed(&t->rng_sample, c->warmup_seed ^ 0x9e3779b97f4a7c15ull);
	return 0;
}

/* This step's action: a uniformly random valid one during warm-up (whose raw
 * state is kept: the normalisation is fitted when warm-up ends), the learner's
 * after, on the normalised state it leaves in s. */
static int act(struct trainer *t, int step, const float *raw, float *s, int *a)
{
	const int sd = POL_ENV_STATE_DIM, na = t->na;
	if (step < t->cfg->warmup_steps) {
		*a = random_valid(&t->rng_warm, t->mask, na);
		memcpy(t->warm.s + (size_t)step * sd, raw, sizeof(float) * sd);
		memcpy(t->warm.m + (size_t)step * na, t->mask, (size_t)na);
		return 0;
	}
	pol_normalize(t->mean, t->std, sd, raw, s);
	return t->ops->sample(t->ag, s, t->mask, &t->rng_sample, a);
}

/* At the end of warm-up: the normalisation from the warm-up states, then every
 * warm-up transition, normalised, into the replay buffer. */
static int push_warmup(struct trainer *t, char *err, size_t errlen)
{
	const int sd = POL_ENV_STATE_DIM, na = t->na, W = t->cfg->warmup_steps;
	const struct warmup *w = &t->warm;
	float s[POL_ENV_STATE_DIM], s2[POL_ENV_STATE_DIM];
	fit_norm(t, w->s, W);
	for (int i = 0; i < W; i++) {
		int rc;
		pol_normalize(t->mean, t->std, sd, w->s + (size_t)i * sd, s);
		pol_normalize(t->mean, t->std, sd, w->s2 + (size_t)i * sd, s2);
		struct pol_transition tr = {
			.s = s, .s2 = s2, .mask = w->m + (size_t)i * na,
			.mask2 = w->m2 + (size_t)i * na, .a = w->a[i],
			.r = w->r[i], .done = w->d[i]};
		if ((rc = pol_replay_push(t->rb, &tr)))
			return cf_fail(rc, err, errlen, "train: bad warm-up transition %d", i);
	}
	return 0;
}

/* The transition from s (normalised; unused in warm-up) by a to raw: into the
 * warm-up store, which goes to the replay buffer at its last step, or into the
 * replay buffer. */
static int record(struct trainer *t, int step, const float *s, const float *raw, int a,
		  const struct sim_env_outcome *o, char *err, size_t errlen)
{
	const int sd = POL_ENV_STATE_DIM, na = t->na, W = t->cfg->warmup_steps;
	struct warmup *w = &t->warm;
	if (step >= W) {
		float s2[POL_ENV_STATE_DIM];
		pol_normalize(t->mean, t->std, sd, raw, s2);
		struct pol_transition tr = {.s = s, .s2 = s2, .mask = t->mask, .mask2 = t->mask2,
					    .a = a, .r = o->reward, .done = o->done};
		int rc = pol_replay_push(t->rb, &tr);
		return rc ? cf_fail(rc, err, errlen, "train: bad transition at step %d", step) : 0;
	}
	memcpy(w->s2 + (size_t)step * sd, raw, sizeof(float) * sd);
	memcpy(w->m2 + (size_t)step * na, t->mask2, (size_t)na);
	w->r[step] = o->reward;
	w->a[step] = a;
	w->d[step] = (uint8_t)o->done;
	return step == W - 1 ? push_warmup(t, err, errlen) : 0;
}

/* An update round every update_every steps from the last warm-up step, at
 * learning rates falling linearly to lr_final x theirs by the last step. */
static int update_round(struct trainer *t, int step, char *err, size_t errlen)
{
	const struct sim_train_cfg *c = t->cfg;
	const int W = c->warmup_steps;
	if (step < W - 1 || (step - (W - 1)) % c->update_every != 0)
		return 0;
	float frac = c->env_steps > W ? (float)(step - (W - 1)) / (float)(c->env_steps - W) : 1;
	float scale = 1 - (1 - c->lr_final) * (frac > 1 ? 1 : frac);
	t->ops->set_lr_scale(t->ag, scale);
	for (int u = 0; u < c->updates_per_round; u++) {
		int rc;
		if ((rc = pol_replay_sample(t->rb, &t->rng_sample, t->bcap, t->batch)) ||
		    (rc = t->ops->update(t->ag, t->batch, &t->st)))
			return cf_fail(rc, err, errlen, "train: update failed at step %d", step);
	}
	return 0;
}

/* A point of the learning curve when one is due after step: every eval_every
 * steps from the end of warm-up, and at the last step. */
static int eval_point(struct trainer *t, int step, char *err, size_t errlen)
{
	const struct sim_train_cfg *c = t->cfg;
	struct sim_train_report *rep = t->rep;
	int rc;
	if (step + 1 != t->next_eval && step + 1 != c->env_steps)
		return 0;
	struct sim_train_point *pt = &rep->pt[rep->n_points];
	memset(pt, 0, sizeof(*pt));
	pt->env_steps = step + 1;
	if ((rc = evaluate(t, pt)))
		return cf_fail(rc, err, errlen, "train: evaluation failed at step %d", step);
	pt->wall_s = cf_now_s() - t->t0;
	t->ops->report(t->ag, &t->st, pt);
	rep->n_points++;
	if (t->progress)
		t->progress(t->ctx, pt);
	if (c->eval_every > 0)
		while (t->next_eval <= step + 1)
			t->next_eval += c->eval_every;
	if (rep->n_points >= SIM_TRAIN_MAX_POINTS)
		t->next_eval = c->env_steps;
	return 0;
}

/* One environment step: act, step, keep the transition, learn, evaluate. */
static int train_step(struct trainer *t, int step, char *err, size_t errlen)
{
	float raw[POL_ENV_STATE_DIM], s[POL_ENV_STATE_DIM];
	struct sim_env_outcome o;
	int a, rc;
	sim_env_state(t->env, raw, POL_ENV_STATE_DIM);
	sim_env_mask(t->env, t->mask);
	if ((rc = act(t, step, raw, s, &a)))
		return cf_fail(rc, err, errlen, "train: acting failed at step %d", step);
	if ((rc = sim_env_step(t->env, a, &o)))
		return cf_fail(rc, err, errlen, "train: environment step %d failed", step);
	sim_env_state(t->env, raw, POL_ENV_STATE_DIM);
	sim_env_mask(t->env, t->mask2);
	if ((rc = record(t, step, s, raw, a, &o, err, errlen)) ||
	    (rc = update_round(t, step, err, errlen)))
		return rc;
	return eval_point(t, step, err, errlen);
}

/* converged: from this point on the reward stays within tol of the last */
static void find_convergence(struct sim_train_report *rep)
{
	const struct sim_train_point *last = &rep->pt[rep->n_points - 1];
	rep->converge_tol = 0.01 * (fabs(last->reward) > 0.1 ? fabs(last->reward) : 0.1);
	rep->converged_point = rep->n_points - 1;
	while (rep->converged_point > 0 &&
	       fabs(rep->pt[rep->converged_point - 1].reward - last->reward) <= rep->converge_tol)
		rep->converged_point--;
}

/* The learner's network with the normalisation, the action table and the names. */
static int export_policy(struct trainer *t, const struct cost_model *cm, const char *device_class,
			 const char *model, struct pol_policy **out, char *err, size_t errlen)
{
	struct pol_policy *pol = NULL;
	int rc;
	if ((rc = t->ops->export(t->ag, t->mean, t->std, &pol))) {
		cf_fail(rc, err, errlen, "train: export failed");
		goto out;
	}
	sim_env_action_table(t->env, t->table);
	const struct cost_exit *deep = &cm->ex[cm->n_plain - 1];
	if ((rc = pol_policy_set_meta(pol, t->table, t->na, device_class, model,
				      deep->dev_ms[deep->n]))) {
		cf_fail(rc, err, errlen, "train: bad device class '%s' or model '%s' name",
			device_class ? device_class : "", model ? model : "");
		goto out;
	}
	*out = pol;
	pol = NULL;
out:
	pol_policy_free(pol);
	return rc;
}

int sim_train(const struct cost_model *cm, const struct sim_trace_set *traces,
	      const struct sim_env_cfg *env_cfg, const struct sim_train_cfg *cfg,
	      const char *device_class, const char *model,
	      void (*progress)(void *ctx, const struct sim_train_point *pt), void *ctx,
	      struct pol_policy **out, struct sim_train_report *rep, char *err, size_t errlen)
{
	struct trainer t;
	int rc;

	memset(&t, 0, sizeof(t));
	*out = NULL;
	memset(rep, 0, sizeof(*rep));
	if ((rc = check_cfg(cm, traces, cfg, err, errlen)))
		return rc;
	t.cfg = cfg;
	t.ops = cfg->algo == POL_ALGO_SACD ? &sacd_ops : &dqn_ops;
	t.rep = rep;
	t.progress = progress;
	t.ctx = ctx;
	if ((rc = trainer_init(&t, cm, traces, env_cfg, err, errlen)))
		goto out;
	t.t0 = cf_now_s();
	t.next_eval = cfg->eval_every > 0 ? cfg->warmup_steps : cfg->env_steps;
	for (int step = 0; step < cfg->env_steps; step++)
		if ((rc = train_step(&t, step, err, errlen)))
			goto out;
	rep->wall_s = cf_now_s() - t.t0;
	find_convergence(rep);
	rc = export_policy(&t, cm, device_class, model, out, err, errlen);
out:
	trainer_free(&t);
	return rc;
}
