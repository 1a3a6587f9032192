/* Discrete Soft Actor-Critic (Christodoulou 2019, "Soft Actor-Critic for
 * Discrete Action Settings"): the policy's outputs are the probabilities of every
 * action, so the soft state value and the actor's objective are exact sums over
 * the valid actions instead of sampled estimates, and no reparameterisation is
 * needed. Twin critics with Polyak-averaged targets, and the temperature learned
 * towards a target entropy that scales with the number of valid actions. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/policy-learn.h"
#include "internal.h"

enum { ACTOR, Q1, Q2, Q1T, Q2T, NETS };

struct pol_sacd {
	struct pol_sacd_cfg cfg;
	struct pol_mlp *net[NETS];
	struct pol_adam opt[3]; /* actor, Q1, Q2 */
	struct pol_adam opt_alpha;
	float log_alpha, g_log_alpha;
	uint64_t updates;
	float *p, *logp, *dz, *y; /* batch x actions (y: batch) */
};

struct pol_sacd_cfg pol_sacd_defaults(int state_dim, int n_actions)
{
	return (struct pol_sacd_cfg){
		.state_dim = state_dim, .n_actions = n_actions,
		.n_hidden = 2, .hidden = {128, 128}, .batch = 64,
		.gamma = 0.99f, .tau = 0.005f,
		.lr_actor = 3e-4f, .lr_critic = 3e-4f, .lr_alpha = 3e-4f,
		.init_alpha = 1.0f, .learn_alpha = 1,
		.target_entropy_ratio = 0.5f, .seed = 1,
	};
}

void pol_sacd_free(struct pol_sacd *ag)
{
	if (!ag)
		return;
	for (int i = 0; i < NETS; i++)
		pol_mlp_free(ag->net[i]);
	for (int i = 0; i < 3; i++)
		pol_adam_free(&ag->opt[i]);
	pol_adam_free(&ag->opt_alpha);
	free(ag->p);
	free(ag->logp);
	free(ag->dz);
	free(ag->y);
	free(ag);
}

int pol_net_sizes(int state_dim, int n_actions, int n_hidden, const int *hidden, int batch,
		  int *sizes, char *err, size_t errlen)
{
	if (batch < 1 || batch > POL_MLP_MAX_BATCH)
		return cf_fail(-EINVAL, err, errlen, "batch %d outside 1..%d", batch, POL_MLP_MAX_BATCH);
	if (state_dim < 1 || state_dim > POL_FILE_MAX_STATE)
		return cf_fail(-EINVAL, err, errlen, "state_dim %d outside 1..%d", state_dim,
				POL_FILE_MAX_STATE);
	if (n_actions < 1 || n_actions > POL_FILE_MAX_ACTIONS)
		return cf_fail(-EINVAL, err, errlen, "n_actions %d outside 1..%d", n_actions,
				POL_FILE_MAX_ACTIONS);
	if (n_hidden < 0 || n_hidden > POL_MAX_HIDDEN)
		return cf_fail(-EINVAL, err, errlen, "n_hidden %d outside 0..%d", n_hidden,
				POL_MAX_HIDDEN);
	sizes[0] = state_dim;
	for (int i = 0; i < n_hidden; i++) {
		if (hidden[i] < 1 || hidden[i] > POL_MLP_MAX_WIDTH)
			return cf_fail(-EINVAL, err, errlen, "hidden[%d] = %d outside 1..%d", i,
					hidden[i], POL_MLP_MAX_WIDTH);
		sizes[i + 1] = hidden[i];
	}
	sizes[n_hidden + 1] = n_actions;
	return n_hidden + 2;
}

int pol_sacd_create(const struct pol_sacd_cfg *cfg, struct pol_sacd **out, char *err,
		    size_t errlen)
{
	int sizes[POL_MLP_MAX_LAYERS + 1], ret;
	struct pol_sacd *ag = NULL;
	*out = NULL;
	int ns = pol_net_sizes(cfg->state_dim, cfg->n_actions, cfg->n_hidden, cfg->hidden,
			       cfg->batch, sizes, err, errlen);
	if (ns < 0)
		return ns;
	if (!(cfg->gamma >= 0.0f && cfg->gamma <= 1.0f) || !(cfg->tau > 0.0f && cfg->tau <= 1.0f))
		return cf_fail(-EINVAL, err, errlen, "gamma %g must be in [0,1], tau %g in (0,1]",
				cfg->gamma, cfg->tau);
	if (!(cfg->init_alpha > 0.0f) || !pol_finite(cfg->init_alpha) ||
	    !(cfg->target_entropy_ratio >= 0.0f && cfg->target_entropy_ratio <= 1.0f))
		return cf_fail(-EINVAL, err, errlen,
				"init_alpha %g must be > 0, target_entropy_ratio %g in [0,1]",
				cfg->init_alpha, cfg->target_entropy_ratio);
	if (!(cfg->lr_actor > 0.0f) || !(cfg->lr_critic > 0.0f) || !(cfg->lr_alpha > 0.0f) ||
	    !(cfg->clip_norm >= 0.0f))
		return cf_fail(-EINVAL, err, errlen, "learning rates must be > 0, clip_norm >= 0");
	ag = calloc(1, sizeof(*ag));
	if (!ag) {
		ret = -ENOMEM;
		goto err;
	}
	ag->cfg = *cfg;
	struct pol_rng rng;
	pol_rng_seed(&rng, cfg->seed);
	for (int i = 0; i < Q1T; i++)
		if ((ret = pol_mlp_create(sizes, ns, cfg->batch, &rng, &ag->net[i])))
			goto err;
	for (int i = Q1T; i < NETS; i++) /* targets start as copies */
		if ((ret = pol_mlp_clone(ag->net[i - 2], cfg->batch, &ag->net[i])))
			goto err;
	float lrs[3] = {cfg->lr_actor, cfg->lr_critic, cfg->lr_critic};
	for (int i = 0; i < 3; i++) {
		struct pol_adam_cfg ac = pol_adam_defaults(lrs[i]);
		ac.clip_norm = cfg->clip_norm;
		if ((ret = pol_adam_init(&ag->opt[i], ag->net[i]->n_params, &ac)))
			goto err;
	}
	struct pol_adam_cfg aa = pol_adam_defaults(cfg->lr_alpha);
	if ((ret = pol_adam_init(&ag->opt_alpha, 1, &aa)))
		goto err;
	ag->log_alpha = logf(cfg->init_alpha);
	size_t rows = (size_t)cfg->batch * cfg->n_actions;
	ag->p = malloc(rows * sizeof(float));
	ag->logp = malloc(rows * sizeof(float));
	ag->dz = malloc(rows * sizeof(float));
	ag->y = malloc((size_t)cfg->batch * sizeof(float));
	if (!ag->p || !ag->logp || !ag->dz || !ag->y) {
		ret = -ENOMEM;
		goto err;
	}
	*out = ag;
	return 0;
err:
	cf_fail(ret, err, errlen, "cannot create the agent: %s",
		 ret == -E2BIG ? "networks exceed the parameter limit" : "out of memory");
	pol_sacd_free(ag);
	return ret;
}

struct pol_mlp *pol_sacd_net(struct pol_sacd *ag, enum pol_sacd_net which)
{
	return (unsigned)which < NETS ? ag->net[which] : NULL;
}

float pol_sacd_log_alpha(const struct pol_sacd *ag)
{
	return ag->log_alpha;
}

void pol_sacd_set_log_alpha(struct pol_sacd *ag, float log_alpha)
{
	ag->log_alpha = log_alpha;
}

void pol_sacd_set_lr_scale(struct pol_sacd *ag, float scale)
{
	ag->opt[ACTOR].cfg.lr = ag->cfg.lr_actor * scale;
	ag->opt[1].cfg.lr = ag->opt[2].cfg.lr = ag->cfg.lr_critic * scale;
	ag->opt_alpha.cfg.lr = ag->cfg.lr_alpha * scale;
}

uint64_t pol_sacd_updates(const struct pol_sacd *ag)
{
	return ag->updates;
}

int pol_batch_check(const struct pol_batch *b, int state_dim, int n_actions, int max_rows)
{
	if (b->n < 1 || b->n > max_rows || b->state_dim != state_dim || b->n_actions != n_actions)
		return -EINVAL;
	for (int i = 0; i < b->n; i++) {
		const uint8_t *m = b->mask + (size_t)i * n_actions;
		if (b->a[i] < 0 || b->a[i] >= n_actions || !m[b->a[i]])
			return -EINVAL;
		if (!b->done[i] && !pol_mask_count(b->mask2 + (size_t)i * n_actions, n_actions))
			return -EINVAL;
	}
	return 0;
}

int pol_sacd_critic_loss(struct pol_sacd *ag, const struct pol_batch *b, float *loss)
{
	const int n = b->n, na = ag->cfg.n_actions;
	const float alpha = expf(ag->log_alpha), gamma = ag->cfg.gamma;
	const float *logits, *qa, *qb;
	int ret = pol_batch_check(b, ag->cfg.state_dim, na, ag->cfg.batch);
	if (ret)
		return ret;
	/* y = r + gamma (1 - done) sum_a pi(a|s2) [min Qtarg(s2, a) - alpha log pi(a|s2)];
	 * with gamma 0 that is r, and the three passes over s2 would be a quarter of
	 * the update's work for nothing */
	if (gamma == 0.0f) {
		for (int i = 0; i < n; i++)
			ag->y[i] = b->r[i];
		goto critics;
	}
	pol_mlp_forward(ag->net[ACTOR], b->s2, n, &logits);
	for (int i = 0; i < n; i++) {
		size_t o = (size_t)i * na;
		if (!b->done[i])
			pol_softmax_masked(logits + o, b->mask2 + o, na, ag->p + o, ag->logp + o);
	}
	pol_mlp_forward(ag->net[Q1T], b->s2, n, &qa);
	pol_mlp_forward(ag->net[Q2T], b->s2, n, &qb);
	for (int i = 0; i < n; i++) {
		size_t o = (size_t)i * na;
		double v = 0;
		if (!b->done[i])
			for (int a = 0; a < na; a++)
				if (b->mask2[o + a]) {
					float q = qa[o + a] < qb[o + a] ? qa[o + a] : qb[o + a];
					v += (double)ag->p[o + a] * (q - alpha * ag->logp[o + a]);
				}
		ag->y[i] = b->r[i] + gamma * (float)v;
	}
critics:;
	double total = 0;
	for (int k = Q1; k <= Q2; k++) {
		struct pol_mlp *q = ag->net[k];
		const float *qs;
		pol_mlp_zero_grad(q);
		pol_mlp_forward(q, b->s, n, &qs);
		memset(ag->dz, 0, (size_t)n * na * sizeof(float));
		for (int i = 0; i < n; i++) {
			size_t j = (size_t)i * na + b->a[i];
			float d = qs[j] - ag->y[i];
			total += 0.5 * (double)d * d;
			ag->dz[j] = d / (float)n;
		}
		pol_mlp_backward(q, ag->dz, NULL);
	}
	*loss = (float)(total / n);
	return 0;
}

int pol_sacd_actor_loss(struct pol_sacd *ag, const struct pol_batch *b, float *loss,
			float *alpha_loss, float *dlog_alpha)
{
	const int n = b->n, na = ag->cfg.n_actions;
	const float alpha = expf(ag->log_alpha);
	const float *logits, *qa, *qb;
	float dp[POL_FILE_MAX_ACTIONS], dlogp[POL_FILE_MAX_ACTIONS];
	int ret = pol_batch_check(b, ag->cfg.state_dim, na, ag->cfg.batch);
	if (ret)
		return ret;
	struct pol_mlp *actor = ag->net[ACTOR];
	pol_mlp_forward(ag->net[Q1], b->s, n, &qa);
	pol_mlp_forward(ag->net[Q2], b->s, n, &qb);
	pol_mlp_forward(actor, b->s, n, &logits);
	double total = 0, gap = 0;
	for (int i = 0; i < n; i++) {
		size_t o = (size_t)i * na;
		const uint8_t *m = b->mask + o;
		float *p = ag->p + o, *lp = ag->logp + o;
		int valid = pol_softmax_masked(logits + o, m, na, p, lp);
		double li = 0, h = 0;
		for (int a = 0; a < na; a++) {
			if (!m[a]) {
				dp[a] = dlogp[a] = 0.0f;
				continue;
			}
			float q = qa[o + a] < qb[o + a] ? qa[o + a] : qb[o + a];
			float t = alpha * lp[a] - q;
			li += (double)p[a] * t;
			h -= (double)p[a] * lp[a];
			/* L_i = sum_a p_a t_a: through p, dL/dp_a = t_a; through log p,
			 * alpha p_a, whose contribution sums to zero (sum_a p_a dlog p_a = 0)
			 * but is kept so the code stays the loss's derivative */
			dp[a] = t / (float)n;
			dlogp[a] = alpha * p[a] / (float)n;
		}
		pol_softmax_masked_backward(p, m, na, dp, dlogp, ag->dz + o);
		total += li;
		gap += ag->cfg.target_entropy_ratio * log((double)valid) - h;
	}
	pol_mlp_zero_grad(actor);
	pol_mlp_backward(actor, ag->dz, NULL);
	*loss = (float)(total / n);
	if (alpha_loss)
		*alpha_loss = (float)(-ag->log_alpha * gap / n);
	if (dlog_alpha)
		*dlog_alpha = (float)(-gap / n);
	return 0;
}

static void stats_entropy(struct pol_sacd *ag, const struct pol_batch *b, struct pol_sacd_stats *st)
{
	const int n = b->n, na = ag->cfg.n_actions;
	double h = 0, t = 0;
	for (int i = 0; i < n; i++) {
		size_t o = (size_t)i * na;
		for (int a = 0; a < na; a++)
			h -= (double)ag->p[o + a] * ag->logp[o + a];
		t += ag->cfg.target_entropy_ratio * log((double)pol_mask_count(b->mask + o, na));
	}
	st->entropy = (float)(h / n);
	st->target_entropy = (float)(t / n);
}

int pol_sacd_update(struct pol_sacd *ag, const struct pol_batch *b, struct pol_sacd_stats *st)
{
	float qloss, aloss, alpha_loss, dla;
	int ret = pol_sacd_critic_loss(ag, b, &qloss);
	if (ret)
		return ret;
	for (int k = Q1; k <= Q2; k++)
		pol_adam_step(&ag->opt[k], ag->net[k]->params, ag->net[k]->grads, NULL);
	/* the actor improves against the critics just updated */
	pol_sacd_actor_loss(ag, b, &aloss, &alpha_loss, &dla);
	pol_adam_step(&ag->opt[ACTOR], ag->net[ACTOR]->params, ag->net[ACTOR]->grads, NULL);
	if (st) {
		stats_entropy(ag, b, st);
		st->q_loss = qloss;
		st->actor_loss = aloss;
		st->alpha_loss = alpha_loss;
		double qm = 0;
		const float *q1 = ag->net[Q1]->act[ag->net[Q1]->n_layers];
		for (int i = 0; i < b->n; i++)
			qm += q1[(size_t)i * ag->cfg.n_actions + b->a[i]];
		st->q_mean = (float)(qm / b->n);
	}
	if (ag->cfg.learn_alpha) {
		ag->g_log_alpha = dla;
		pol_adam_step(&ag->opt_alpha, &ag->log_alpha, &ag->g_log_alpha, NULL);
	}
	if (st)
		st->alpha = expf(ag->log_alpha);
	pol_mlp_polyak(ag->net[Q1T], ag->net[Q1], ag->cfg.tau);
	pol_mlp_polyak(ag->net[Q2T], ag->net[Q2], ag->cfg.tau);
	ag->updates++;
	return 0;
}

int pol_sacd_probs(struct pol_sacd *ag, const float *s, const uint8_t *mask, float *p)
{
	const float *logits;
	int ret = pol_mlp_forward(ag->net[ACTOR], s, 1, &logits);
	if (ret)
		return ret;
	ret = pol_softmax_masked(logits, mask, ag->cfg.n_actions, p, NULL);
	return ret < 0 ? ret : 0;
}

int pol_sacd_sample(struct pol_sacd *ag, const float *s, const uint8_t *mask, struct pol_rng *rng,
		    int *action)
{
	int ret = pol_sacd_probs(ag, s, mask, ag->p);
	return ret ? ret : pol_rng_categorical(rng, ag->p, ag->cfg.n_actions, action);
}

int pol_sacd_greedy(struct pol_sacd *ag, const float *s, const uint8_t *mask, int *action)
{
	const float *logits;
	int ret = pol_mlp_forward(ag->net[ACTOR], s, 1, &logits);
	return ret ? ret : pol_argmax_masked(logits, mask, ag->cfg.n_actions, action);
}

static size_t adam_bytes(const struct pol_adam *a)
{
	return sizeof(a->t) + 2 * a->n * sizeof(float);
}

static uint8_t *put(uint8_t *o, const void *p, size_t n)
{
	memcpy(o, p, n);
	return o + n;
}

static uint8_t *put_adam(uint8_t *o, const struct pol_adam *a)
{
	o = put(o, &a->t, sizeof(a->t));
	o = put(o, a->m, a->n * sizeof(float));
	return put(o, a->v, a->n * sizeof(float));
}

size_t pol_sacd_state_bytes(const struct pol_sacd *ag)
{
	size_t n = sizeof(ag->log_alpha) + adam_bytes(&ag->opt_alpha);
	for (int i = 0; i < NETS; i++)
		n += ag->net[i]->n_params * sizeof(float);
	for (int i = 0; i < 3; i++)
		n += adam_bytes(&ag->opt[i]);
	return n;
}

void pol_sacd_state(const struct pol_sacd *ag, uint8_t *o)
{
	for (int i = 0; i < NETS; i++)
		o = put(o, ag->net[i]->params, ag->net[i]->n_params * sizeof(float));
	o = put(o, &ag->log_alpha, sizeof(ag->log_alpha));
	for (int i = 0; i < 3; i++)
		o = put_adam(o, &ag->opt[i]);
	put_adam(o, &ag->opt_alpha);
}
