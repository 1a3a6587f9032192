/* The trace-driven environment (include/coinfer/sim.h,
 * docs/policy-env.md). Every random draw comes from one struct pol_rng in a fixed
 * order, so a seed fixes the whole sequence of states, masks and rewards. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/sim.h"
#include "coinfer/errmsg.h"

#define MAX_ACTIONS (COST_MAX_EXITS * (COST_MAX_POS * CF_ACTION_NBITS + 1))

struct pol_env {
	const struct cost_model *cm;
	const struct sim_trace_set *tr;
	struct sim_env_cfg cfg;
	struct pol_rng rng;
	int n_actions;
	struct cf_action act[MAX_ACTIONS];
	double dev_class_ms, service_ms, best_acc;
	/* episode */
	int episode, step, trace, app;
	double offset_s, deadline_ms, energy_j;
	/* dynamics */
	double load;
	int freq_level, others;
	double bw_est, bw_last; /* Mbit/s, as measured by the device */
	double last_queue_ms;
};

/* every failure here is a bad configuration */
#define fail(err, errlen, ...) cf_fail(-EINVAL, err, errlen, __VA_ARGS__)

struct sim_env_cfg sim_env_defaults(void)
{
	struct sim_env_cfg c;
	memset(&c, 0, sizeof(c));
	c.bits_mask = CF_ACTION_BITS_ALL;
	c.interval_ms = 200;
	c.episode_steps = 200;
	c.random_traces = 1;
	c.min_bw_mbps = 0.01;
	c.bw_ewma_alpha = 0.3;
	c.rtt_ms = 5;
	c.load_max = 3;
	c.load_sigma = 0.05;
	c.n_freq = 3;
	c.freq_levels[0] = 0.6, c.freq_levels[1] = 0.8, c.freq_levels[2] = 1.0;
	c.freq_stay = 0.95;
	c.others_min = 0, c.others_max = 16;
	c.others_move = 0.1;
	c.others_interval_ms = 200;
	c.edge_service_ms = 0;
	c.rho_max = 0.95;
	c.queue_cap_ms = 1000;
	c.deadline_ms = 100;
	c.energy_j = 0;
	c.reward = SIM_REWARD_LAMBDA;
	c.lambda_beta_mbps = 1;
	c.lambda_bmax_mbps = 20;
	c.lambda_min = 0.2, c.lambda_max = 0.8;
	c.lat_cap = 4;
	c.lat_ref_ms = 100;
	c.energy_penalty = 0.5;
	c.slo_penalty = 1;
	c.mask_offload_when_down = 1;
	return c;
}

static int check_cfg(const struct sim_env_cfg *c, char *err, size_t errlen)
{
#define REQ(cond, ...) do { if (!(cond)) return fail(err, errlen, __VA_ARGS__); } while (0)
	REQ((c->bits_mask & ~CF_ACTION_BITS_ALL) == 0, "bits_mask 0x%x outside 0x%x", c->bits_mask, CF_ACTION_BITS_ALL);
	REQ(isfinite(c->interval_ms) && c->interval_ms > 0, "interval_ms must be > 0");
	REQ(c->episode_steps >= 1, "episode_steps must be >= 1");
	REQ(isfinite(c->min_bw_mbps) && c->min_bw_mbps > 0, "min_bw_mbps must be > 0");
	REQ(c->bw_ewma_alpha > 0 && c->bw_ewma_alpha <= 1, "bw_ewma_alpha must be in (0, 1]");
	REQ(isfinite(c->rtt_ms) && c->rtt_ms >= 0, "rtt_ms must be >= 0");
	REQ(isfinite(c->load_max) && c->load_max >= 1, "load_max must be >= 1");
	REQ(isfinite(c->load_sigma) && c->load_sigma >= 0, "load_sigma must be >= 0");
	REQ(c->n_freq >= 1 && c->n_freq <= 8, "n_freq must be 1..8");
	for (int i = 0; i < c->n_freq; i++)
		REQ(isfinite(c->freq_levels[i]) && c->freq_levels[i] > 0, "freq_levels[%d] must be > 0", i);
	REQ(c->freq_stay >= 0 && c->freq_stay <= 1, "freq_stay must be in [0, 1]");
	REQ(c->others_min >= 0 && c->others_max >= c->others_min && c->others_max <= 100000,
	    "others_min/others_max must satisfy 0 <= min <= max <= 100000");
	REQ(c->others_move >= 0 && c->others_move <= 1, "others_move must be in [0, 1]");
	REQ(isfinite(c->others_interval_ms) && c->others_interval_ms > 0, "others_interval_ms must be > 0");
	REQ(isfinite(c->edge_service_ms) && c->edge_service_ms >= 0, "edge_service_ms must be >= 0");
	REQ(c->rho_max >= 0 && c->rho_max < 1, "rho_max must be in [0, 1)");
	REQ(isfinite(c->queue_cap_ms) && c->queue_cap_ms >= 0, "queue_cap_ms must be >= 0");
	REQ(c->n_slo >= 0 && c->n_slo <= SIM_SLO_MAX && (c->n_slo == 0 || c->slo), "bad SLO list");
	for (int i = 0; i < c->n_slo; i++)
		REQ(isfinite(c->slo[i].deadline_ms) && c->slo[i].deadline_ms > 0 &&
		    isfinite(c->slo[i].energy_j) && c->slo[i].energy_j >= 0, "SLO %d out of range", i);
	REQ(isfinite(c->deadline_ms) && c->deadline_ms >= 0, "deadline_ms must be >= 0 (0: none)");
	REQ(isfinite(c->energy_j) && c->energy_j >= 0, "energy_j must be >= 0 (0: none)");
	REQ(c->reward == SIM_REWARD_LAMBDA || c->reward == SIM_REWARD_SLO, "unknown reward mode");
	REQ(isfinite(c->lambda_beta_mbps) && c->lambda_beta_mbps > 0, "lambda_beta_mbps must be > 0");
	REQ(isfinite(c->lambda_bmax_mbps) && c->lambda_bmax_mbps > 0, "lambda_bmax_mbps must be > 0");
	REQ(c->lambda_min >= 0 && c->lambda_max <= 1 && c->lambda_min <= c->lambda_max,
	    "need 0 <= lambda_min <= lambda_max <= 1");
	REQ(isfinite(c->lat_cap) && c->lat_cap > 0, "lat_cap must be > 0");
	REQ(isfinite(c->lat_ref_ms) && c->lat_ref_ms > 0, "lat_ref_ms must be > 0");
	REQ(isfinite(c->energy_penalty) && c->energy_penalty >= 0, "energy_penalty must be >= 0");
	REQ(isfinite(c->slo_penalty) && c->slo_penalty >= 0, "slo_penalty must be >= 0");
	REQ(isfinite(c->slo_latency_weight) && c->slo_latency_weight >= 0,
	    "slo_latency_weight must be >= 0");
	REQ(isfinite(c->slo_late_weight) && c->slo_late_weight >= 0, "slo_late_weight must be >= 0");
#undef REQ
	return 0;
}

static double trace_time(const struct pol_env *env)
{
	const struct sim_trace *t = &env->tr->tr[env->trace];
	double x = fmod(env->offset_s + env->step * (env->cfg.interval_ms / 1e3), t->duration_s);
	return x < 0 ? x + t->duration_s : x;
}

static double true_bw_mbps(const struct pol_env *env)
{
	double b = sim_trace_bw(&env->tr->tr[env->trace], trace_time(env));
	return b < env->cfg.min_bw_mbps ? env->cfg.min_bw_mbps : b;
}

double sim_env_queue_ms(const struct pol_env *env, int k, double *rho_out)
{
	const struct sim_env_cfg *c = &env->cfg;
	double S = env->service_ms;
	double rho = k * S / c->others_interval_ms;
	if (rho > c->rho_max)
		rho = c->rho_max;
	double q = rho > 0 ? S * rho / (2 * (1 - rho)) : 0;
	if (q > c->queue_cap_ms)
		q = c->queue_cap_ms;
	if (rho_out)
		*rho_out = rho;
	return q;
}

/* New episode: trace, offset, SLO, then the device and edge dynamics' start. */
static void new_episode(struct pol_env *env, int first)
{
	const struct sim_env_cfg *c = &env->cfg;
	if (!first)
		env->episode++;
	env->step = 0;
	int nt = env->tr->n;
	env->trace = c->random_traces ? (int)pol_rng_below(&env->rng, nt) : env->episode % nt;
	const struct sim_trace *t = &env->tr->tr[env->trace];
	env->offset_s = pol_rng_uniform(&env->rng) * t->duration_s;
	if (c->n_slo > 0) {
		env->app = (int)pol_rng_below(&env->rng, c->n_slo);
		env->deadline_ms = c->slo[env->app].deadline_ms;
		env->energy_j = c->slo[env->app].energy_j;
	} else {
		env->app = -1;
		env->deadline_ms = c->deadline_ms;
		env->energy_j = c->energy_j;
	}
	env->load = 1 + pol_rng_uniform(&env->rng) * (c->load_max - 1);
	env->freq_level = (int)pol_rng_below(&env->rng, c->n_freq);
	env->others = c->others_min + (int)pol_rng_below(&env->rng, c->others_max - c->others_min + 1);
	/* the device measured the link one interval before the episode starts */
	double b = sim_trace_bw(t, env->offset_s - c->interval_ms / 1e3);
	env->bw_est = env->bw_last = b;
	env->last_queue_ms = sim_env_queue_ms(env, env->others, NULL);
}

void sim_env_reset(struct pol_env *env, uint64_t seed)
{
	pol_rng_seed(&env->rng, seed);
	env->episode = 0;
	new_episode(env, 1);
}

int sim_env_create(const struct cost_model *cm, const struct sim_trace_set *traces,
		   const struct sim_env_cfg *cfg, uint64_t seed, struct pol_env **out, char *err,
		   size_t errlen)
{
	*out = NULL;
	if (!cm || cm->n_exits < 1 || cm->n_exits > COST_MAX_EXITS)
		return fail(err, errlen, "no cost model");
	if (!traces || traces->n < 1)
		return fail(err, errlen, "no traces");
	for (int i = 0; i < traces->n; i++)
		if (traces->tr[i].n < 1 || !(traces->tr[i].duration_s > 0))
			return fail(err, errlen, "trace %d is empty", i);
	struct sim_env_cfg c = cfg ? *cfg : sim_env_defaults();
	if (c.bits_mask == 0)
		c.bits_mask = CF_ACTION_BITS_ALL;
	int rc = check_cfg(&c, err, errlen);
	if (rc)
		return rc;
	struct pol_env *env = calloc(1, sizeof(*env));
	if (!env)
		return -ENOMEM;
	env->cm = cm;
	env->tr = traces;
	env->cfg = c;
	env->n_actions = cost_actions(cm, CF_ACTION_BITS_ALL, env->act, MAX_ACTIONS);
	if (env->n_actions < 1 || env->n_actions > MAX_ACTIONS) {
		int na = env->n_actions;
		free(env);
		return fail(err, errlen, "cost model has %d actions", na);
	}
	const struct cost_exit *deep = &cm->ex[cm->n_plain - 1];
	env->dev_class_ms = deep->dev_ms[deep->n];
	env->service_ms = c.edge_service_ms > 0 ? c.edge_service_ms
						: cost_edge_ms(cm, cm->n_plain - 1, 0, 1);
	if (!(env->service_ms > 0) || !isfinite(env->service_ms)) {
		double S = env->service_ms;
		free(env);
		return fail(err, errlen, "edge service time %g ms is not positive", S);
	}
	env->best_acc = 0;
	for (int e = 0; e < cm->n_exits; e++)
		if (cm->ex[e].fp32_accuracy > env->best_acc)
			env->best_acc = cm->ex[e].fp32_accuracy;
	if (!(env->best_acc > 0))
		env->best_acc = 1;
	sim_env_reset(env, seed);
	*out = env;
	return 0;
}

void sim_env_free(struct pol_env *env)
{
	free(env);
}

int sim_env_n_actions(const struct pol_env *env)
{
	return env->n_actions;
}

int sim_env_action(const struct pol_env *env, int index, struct cf_action *a)
{
	if (index < 0 || index >= env->n_actions)
		return -EINVAL;
	*a = env->act[index];
	return 0;
}

void sim_env_action_table(const struct pol_env *env, struct cf_action *a)
{
	for (int i = 0; i < env->n_actions; i++) {
		a[i] = env->act[i];
		if (a[i].partition == env->cm->ex[a[i].exit].n)
			a[i].bits = 0;
	}
}

int sim_env_action_index(const struct pol_env *env, const struct cf_action *a)
{
	for (int i = 0; i < env->n_actions; i++) {
		const struct cf_action *b = &env->act[i];
		if (b->exit != a->exit || b->partition != a->partition)
			continue;
		if (b->partition == env->cm->ex[b->exit].n || b->bits == a->bits)
			return i;
	}
	return -ENOENT;
}

void sim_obs_from_state(const struct cost_model *cm, const struct cost_state *st,
			struct pol_obs_in *in)
{
	const struct cost_exit *deep = &cm->ex[cm->n_plain - 1];
	memset(in, 0, sizeof(*in));
	in->bw_ewma_mbps = in->bw_last_mbps = st->bandwidth_bps / 1e6;
	in->deadline_ms = st->deadline_ms > 0 ? st->deadline_ms : 0;
	in->energy_j = st->energy_budget_j > 0 ? st->energy_budget_j : 0;
	in->load = st->load > 0 ? st->load : 1;
	in->freq_ratio = st->freq_hz > 0 && cm->f_hz > 0 ? st->freq_hz / cm->f_hz : 1;
	in->dev_class_ms = deep->dev_ms[deep->n];
	in->queue_ms = st->queue_ms;
}

int sim_env_state(const struct pol_env *env, float *s, int n)
{
	struct pol_obs_in in = {
		.bw_ewma_mbps = env->bw_est,
		.bw_last_mbps = env->bw_last,
		.deadline_ms = env->deadline_ms,
		.energy_j = env->energy_j,
		.load = env->load,
		.freq_ratio = env->cfg.freq_levels[env->freq_level],
		.dev_class_ms = env->dev_class_ms,
		.queue_ms = env->last_queue_ms,
	};
	return pol_obs_make(&in, s, n);
}

int sim_env_mask(const struct pol_env *env, uint8_t *mask)
{
	int valid = 0;
	int down = env->cfg.mask_offload_when_down && !(env->bw_last > 0);
	for (int i = 0; i < env->n_actions; i++) {
		const struct cf_action *a = &env->act[i];
		int ok;
		if (a->partition == env->cm->ex[a->exit].n)
			ok = 1;
		else {
			int bi = -1;
			for (int b = 0; b < CF_ACTION_NBITS; b++)
				if (cf_action_bits[b] == a->bits)
					bi = b;
			ok = bi >= 0 && (env->cfg.bits_mask >> bi & 1) && !down;
		}
		mask[i] = (uint8_t)ok;
		valid += ok;
	}
	return valid;
}

void sim_env_true_state(const struct pol_env *env, struct cost_state *s)
{
	memset(s, 0, sizeof(*s));
	s->bandwidth_bps = true_bw_mbps(env) * 1e6;
	s->rtt_ms = env->cfg.rtt_ms;
	s->queue_ms = sim_env_queue_ms(env, env->others, NULL);
	s->batch = 1;
	s->load = env->load;
	s->freq_hz = env->cfg.freq_levels[env->freq_level] * env->cm->f_hz;
	s->energy_budget_j = env->energy_j;
	s->deadline_ms = env->deadline_ms;
}

void sim_env_info(const struct pol_env *env, struct sim_env_info *in)
{
	memset(in, 0, sizeof(*in));
	in->episode = env->episode;
	in->step = env->step;
	in->trace = env->trace;
	in->trace_time_s = trace_time(env);
	in->bw_mbps = sim_trace_bw(&env->tr->tr[env->trace], in->trace_time_s);
	in->bw_est_mbps = env->bw_est;
	in->bw_last_mbps = env->bw_last;
	in->load = env->load;
	in->freq_hz = env->cfg.freq_levels[env->freq_level] * env->cm->f_hz;
	in->others = env->others;
	in->queue_ms = sim_env_queue_ms(env, env->others, &in->rho);
	in->last_queue_ms = env->last_queue_ms;
	in->app = env->app;
	in->deadline_ms = env->deadline_ms;
	in->energy_j = env->energy_j;
}

float sim_env_reward(const struct pol_env *env, double bandwidth_bps, const struct cost_estimate *c,
		     struct sim_env_outcome *out)
{
	const struct sim_env_cfg *cf = &env->cfg;
	double lat = c->latency_ms;
	out->deadline_met = env->deadline_ms <= 0 || lat <= env->deadline_ms;
	out->energy_met = env->energy_j <= 0 || c->energy_j <= env->energy_j;
	double B = bandwidth_bps / 1e6;
	double lam = log1p((B > 0 ? B : 0) / cf->lambda_beta_mbps) /
		     log1p(cf->lambda_bmax_mbps / cf->lambda_beta_mbps);
	lam = lam < 0 ? 0 : lam > 1 ? 1 : lam;
	lam = cf->lambda_min + (cf->lambda_max - cf->lambda_min) * lam;
	out->lambda = lam;
	double r;
	if (cf->reward == SIM_REWARD_SLO) {
		if (out->deadline_met && out->energy_met) {
			double ref = env->deadline_ms > 0 ? env->deadline_ms : cf->lat_ref_ms;
			r = c->accuracy - cf->slo_latency_weight * lat / ref;
		} else {
			r = -cf->slo_penalty;
			if (!out->deadline_met) {
				double late = lat / env->deadline_ms - 1;
				if (!(late <= cf->lat_cap)) /* NaN or infinite too */
					late = cf->lat_cap;
				r -= cf->slo_late_weight * late;
			}
		}
	} else {
		double ref = env->deadline_ms > 0 ? env->deadline_ms : cf->lat_ref_ms;
		double ln = lat / ref;
		if (!(ln <= cf->lat_cap)) /* NaN or infinite too */
			ln = cf->lat_cap;
		double an = c->accuracy / env->best_acc;
		r = lam * an - (1 - lam) * ln;
		if (!out->energy_met)
			r -= cf->energy_penalty;
	}
	out->reward = (float)r;
	return out->reward;
}

/* One interval on: the device dynamics and the other devices move. Draw order:
 * load, frequency, other devices. */
static void advance(struct pol_env *env, double used_bw_mbps)
{
	const struct sim_env_cfg *c = &env->cfg;
	/* what the device measured on this request becomes its knowledge */
	env->bw_last = used_bw_mbps;
	env->bw_est = c->bw_ewma_alpha * used_bw_mbps + (1 - c->bw_ewma_alpha) * env->bw_est;
	env->last_queue_ms = sim_env_queue_ms(env, env->others, NULL);
	double l = env->load + c->load_sigma * pol_rng_normal(&env->rng);
	env->load = l < 1 ? 1 : l > c->load_max ? c->load_max : l;
	if (pol_rng_uniform(&env->rng) >= c->freq_stay && c->n_freq > 1) {
		int up = pol_rng_below(&env->rng, 2);
		int f = env->freq_level + (up ? 1 : -1);
		if (f < 0)
			f = 1;
		if (f >= c->n_freq)
			f = c->n_freq - 2;
		env->freq_level = f;
	}
	if (pol_rng_uniform(&env->rng) < c->others_move) {
		int k = env->others + (pol_rng_below(&env->rng, 2) ? 1 : -1);
		if (k >= c->others_min && k <= c->others_max)
			env->others = k;
	}
	env->step++;
}

int sim_env_step(struct pol_env *env, int action, struct sim_env_outcome *out)
{
	if (action < 0 || action >= env->n_actions)
		return -EINVAL;
	uint8_t mask[MAX_ACTIONS];
	sim_env_mask(env, mask);
	if (!mask[action])
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	struct cost_state s;
	sim_env_true_state(env, &s);
	out->action = env->act[action];
	int rc = cost_eval(env->cm, &s, &out->action, &out->cost);
	if (rc)
		return rc;
	out->bandwidth_bps = s.bandwidth_bps;
	out->queue_ms = s.queue_ms;
	sim_env_reward(env, s.bandwidth_bps, &out->cost, out);
	/* the device measures the raw trace rate (0 when the link is down) */
	advance(env, sim_trace_bw(&env->tr->tr[env->trace], trace_time(env)));
	if (env->step >= env->cfg.episode_steps) {
		out->done = 1;
		new_episode(env, 0);
	}
	return 0;
}
