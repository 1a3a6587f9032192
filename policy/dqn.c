/* Double DQN (van Hasselt et al. 2016): the online network picks the next
 * action, the target network values it, which removes most of the max operator's
 * overestimation. Huber loss, epsilon-greedy acting on a linear schedule, and
 * invalid actions masked out of every max and every random choice. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/policy-learn.h"
#include "internal.h"

struct pol_dqn {
	struct pol_dqn_cfg cfg;
	struct pol_mlp *q, *qt; /* online, target */
	struct pol_adam opt;
	uint64_t updates, acted;
	float *y, *dq;
	int *valid; /* scratch list of valid actions for random choices */
};

struct pol_dqn_cfg pol_dqn_defaults(int state_dim, int n_actions)
{
	return (struct pol_dqn_cfg){
		.state_dim = state_dim, .n_actions = n_actions,
		.n_hidden = 2, .hidden = {128, 128}, .batch = 64,
		.gamma = 0.99f, .lr = 3e-4f, .huber_delta = 1.0f, .tau = 0.005f,
		.eps_start = 1.0f, .eps_end = 0.05f, .eps_decay_steps = 10000, .seed = 1,
	};
}

void pol_dqn_free(struct pol_dqn *ag)
{
	if (!ag)
		return;
	pol_mlp_free(ag->q);
	pol_mlp_free(ag->qt);
	pol_adam_free(&ag->opt);
	free(ag->y);
	free(ag->dq);
	free(ag->valid);
	free(ag);
}

int pol_dqn_create(const struct pol_dqn_cfg *cfg, struct pol_dqn **out, char *err, size_t errlen)
{
	int sizes[POL_MLP_MAX_LAYERS + 1], ret;
	struct pol_dqn *ag = NULL;
	*out = NULL;
	int ns = pol_net_sizes(cfg->state_dim, cfg->n_actions, cfg->n_hidden, cfg->hidden,
			       cfg->batch, sizes, err, errlen);
	if (ns < 0)
		return ns;
	if (!(cfg->gamma >= 0.0f && cfg->gamma <= 1.0f) || !(cfg->lr > 0.0f) ||
	    !(cfg->clip_norm >= 0.0f) || !(cfg->huber_delta > 0.0f))
		return cf_fail(-EINVAL, err, errlen,
				"gamma %g must be in [0,1], lr %g and huber_delta %g > 0, clip_norm >= 0",
				cfg->gamma, cfg->lr, cfg->huber_delta);
	if (cfg->target_period < 0 || (cfg->target_period == 0 && !(cfg->tau > 0.0f && cfg->tau <= 1.0f)))
		return cf_fail(-EINVAL, err, errlen,
				"need target_period > 0 or tau in (0,1] (got %d, %g)",
				cfg->target_period, cfg->tau);
	if (!(cfg->eps_start >= 0.0f && cfg->eps_start <= 1.0f) ||
	    !(cfg->eps_end >= 0.0f && cfg->eps_end <= 1.0f) || cfg->eps_decay_steps < 0)
		return cf_fail(-EINVAL, err, errlen,
				"epsilons %g, %g must be in [0,1], eps_decay_steps >= 0",
				cfg->eps_start, cfg->eps_end);
	ag = calloc(1, sizeof(*ag));
	if (!ag) {
		ret = -ENOMEM;
		goto err;
	}
	ag->cfg = *cfg;
	struct pol_rng rng;
	pol_rng_seed(&rng, cfg->seed);
	if ((ret = pol_mlp_create(sizes, ns, cfg->batch, &rng, &ag->q)) ||
	    (ret = pol_mlp_clone(ag->q, cfg->batch, &ag->qt)))
		goto err;
	struct pol_adam_cfg ac = pol_adam_defaults(cfg->lr);
	ac.clip_norm = cfg->clip_norm;
	if ((ret = pol_adam_init(&ag->opt, ag->q->n_params, &ac)))
		goto err;
	ag->y = malloc((size_t)cfg->batch * sizeof(float));
	ag->dq = malloc((size_t)cfg->batch * cfg->n_actions * sizeof(float));
	ag->valid = malloc((size_t)cfg->n_actions * sizeof(int));
	if (!ag->y || !ag->dq || !ag->valid) {
		ret = -ENOMEM;
		goto err;
	}
	*out = ag;
	return 0;
err:
	cf_fail(ret, err, errlen, "cannot create the agent: %s",
		 ret == -E2BIG ? "network exceeds the parameter limit" : "out of memory");
	pol_dqn_free(ag);
	return ret;
}

struct pol_mlp *pol_dqn_net(struct pol_dqn *ag, int target)
{
	return target ? ag->qt : ag->q;
}

void pol_dqn_set_lr_scale(struct pol_dqn *ag, float scale)
{
	ag->opt.cfg.lr = ag->cfg.lr * scale;
}

uint64_t pol_dqn_updates(const struct pol_dqn *ag)
{
	return ag->updates;
}

int pol_dqn_loss(struct pol_dqn *ag, const struct pol_batch *b, float *loss)
{
	const int n = b->n, na = ag->cfg.n_actions;
	const float delta = ag->cfg.huber_delta;
	const float *q2, *qt2, *q;
	int ret = pol_batch_check(b, ag->cfg.state_dim, na, ag->cfg.batch);
	if (ret)
		return ret;
	/* online on s2 first: its outputs are used up before the forward on s,
	 * which backward needs, overwrites them */
	pol_mlp_forward(ag->q, b->s2, n, &q2);
	pol_mlp_forward(ag->qt, b->s2, n, &qt2);
	for (int i = 0; i < n; i++) {
		size_t o = (size_t)i * na;
		int best = 0;
		float v = 0.0f;
		if (!b->done[i]) {
			pol_argmax_masked(q2 + o, b->mask2 + o, na, &best);
			v = qt2[o + best];
		}
		ag->y[i] = b->r[i] + ag->cfg.gamma * v;
	}
	pol_mlp_zero_grad(ag->q);
	pol_mlp_forward(ag->q, b->s, n, &q);
	memset(ag->dq, 0, (size_t)n * na * sizeof(float));
	double total = 0;
	for (int i = 0; i < n; i++) {
		size_t j = (size_t)i * na + b->a[i];
		float d = q[j] - ag->y[i], ad = fabsf(d);
		total += ad <= delta ? 0.5 * (double)d * d : (double)delta * (ad - 0.5 * delta);
		ag->dq[j] = (ad <= delta ? d : copysignf(delta, d)) / (float)n;
	}
	pol_mlp_backward(ag->q, ag->dq, NULL);
	*loss = (float)(total / n);
	return 0;
}

int pol_dqn_update(struct pol_dqn *ag, const struct pol_batch *b, struct pol_dqn_stats *st)
{
	float loss;
	int ret = pol_dqn_loss(ag, b, &loss);
	if (ret)
		return ret;
	if (st) {
		double qm = 0;
		const float *q = ag->q->act[ag->q->n_layers];
		for (int i = 0; i < b->n; i++)
			qm += q[(size_t)i * ag->cfg.n_actions + b->a[i]];
		st->loss = loss;
		st->q_mean = (float)(qm / b->n);
		st->epsilon = pol_dqn_epsilon(ag);
	}
	pol_adam_step(&ag->opt, ag->q->params, ag->q->grads, NULL);
	ag->updates++;
	if (ag->cfg.target_period > 0) {
		if (ag->updates % (uint64_t)ag->cfg.target_period == 0)
			pol_mlp_copy_params(ag->qt, ag->q);
	} else {
		pol_mlp_polyak(ag->qt, ag->q, ag->cfg.tau);
	}
	return 0;
}

float pol_dqn_epsilon(const struct pol_dqn *ag)
{
	const struct pol_dqn_cfg *c = &ag->cfg;
	if (ag->acted >= (uint64_t)c->eps_decay_steps)
		return c->eps_end;
	float f = (float)ag->acted / (float)c->eps_decay_steps;
	return c->eps_start + f * (c->eps_end - c->eps_start);
}

int pol_dqn_greedy(struct pol_dqn *ag, const float *s, const uint8_t *mask, int *action)
{
	const float *q;
	int ret = pol_mlp_forward(ag->q, s, 1, &q);
	return ret ? ret : pol_argmax_masked(q, mask, ag->cfg.n_actions, action);
}

int pol_dqn_sample(struct pol_dqn *ag, const float *s, const uint8_t *mask, struct pol_rng *rng,
		   int *action)
{
	const int na = ag->cfg.n_actions;
	float eps = pol_dqn_epsilon(ag);
	int nv = 0;
	for (int a = 0; a < na; a++)
		if (!mask || mask[a])
			ag->valid[nv++] = a;
	if (!nv)
		return -EINVAL;
	ag->acted++;
	if (pol_rng_uniform(rng) < eps) {
		*action = ag->valid[pol_rng_below(rng, (uint32_t)nv)];
		return 0;
	}
	return pol_dqn_greedy(ag, s, mask, action);
}

size_t pol_dqn_state_bytes(const struct pol_dqn *ag)
{
	return 2 * ag->q->n_params * sizeof(float) + sizeof(ag->opt.t) +
	       2 * ag->opt.n * sizeof(float) + sizeof(ag->acted);
}

void pol_dqn_state(const struct pol_dqn *ag, uint8_t *o)
{
	size_t np = ag->q->n_params * sizeof(float);
	memcpy(o, ag->q->params, np), o += np;
	memcpy(o, ag->qt->params, np), o += np;
	memcpy(o, &ag->opt.t, sizeof(ag->opt.t)), o += sizeof(ag->opt.t);
	memcpy(o, ag->opt.m, np), o += np;
	memcpy(o, ag->opt.v, np), o += np;
	memcpy(o, &ag->acted, sizeof(ag->acted));
}
