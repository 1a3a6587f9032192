/* sim_eval_run: one decision-maker over the trace-driven environment
 * (sim-eval.h). */
#define _POSIX_C_SOURCE 200809L
#include "coinfer/sim-eval.h"
#include "coinfer/clock.h"
#include "coinfer/errmsg.h"
#include "coinfer/names.h"
#include "coinfer/stats.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sim_env_est_state(const struct pol_env *env, struct cost_state *s)
{
	struct sim_env_info in;
	sim_env_true_state(env, s);
	sim_env_info(env, &in);
	s->bandwidth_bps = in.bw_est_mbps * 1e6;
	s->queue_ms = in.last_queue_ms;
}

/* One decision: the action index to step with (valid in mask). */
typedef int (*decide_fn)(void *ctx, struct pol_env *env, const uint8_t *mask, int *idx,
			 int *masked);

struct opt_ctx {
	const struct cost_model *cm;
	struct cost_optimizer *opt;
	int oracle;
};

static int opt_decide(void *ctx, struct pol_env *env, const uint8_t *mask, int *idx, int *masked)
{
	struct opt_ctx *c = ctx;
	struct cost_state s;
	struct cf_action a;
	if (c->oracle)
		sim_env_true_state(env, &s);
	else
		sim_env_est_state(env, &s);
	int rc = cost_decide(c->opt, &s, &a);
	if (rc)
		return rc;
	*idx = sim_env_action_index(env, &a);
	if (*idx >= 0 && mask[*idx])
		return 0;
	/* offloading is masked (the link was down): decide with no uplink, and run
	 * on the device when the optimizer still offloads */
	(*masked)++;
	s.bandwidth_bps = 0;
	if (!cost_decide(c->opt, &s, &a) && (*idx = sim_env_action_index(env, &a)) >= 0 && mask[*idx])
		return 0;
	if (!cost_search_device_only(c->cm, &s, &a) && (*idx = sim_env_action_index(env, &a)) >= 0 &&
	    mask[*idx])
		return 0;
	return -EINVAL;
}

static int policy_decide(void *ctx, struct pol_env *env, const uint8_t *mask, int *idx,
			 int *masked)
{
	struct pol_policy *p = ctx;
	float s[POL_ENV_STATE_DIM];
	(void)masked;
	sim_env_state(env, s, POL_ENV_STATE_DIM);
	return pol_act(p, s, mask, idx);
}

/* Running sums over an evaluation's steps. */
struct tally {
	double slo, dl, en, acc, lsum, esum, bsum, dus;
};

static void tally_step(struct tally *t, struct sim_eval_result *out,
		       const struct sim_env_outcome *o)
{
	t->slo += o->deadline_met && o->energy_met;
	t->dl += o->deadline_met;
	t->en += o->energy_met;
	t->acc += o->cost.accuracy;
	t->lsum += o->cost.latency_ms;
	t->esum += o->cost.energy_j;
	t->bsum += o->cost.bytes;
	if (o->bandwidth_bps >= SIM_EVAL_FAST_BPS) {
		out->fast.steps++;
		out->fast.mean_latency_ms += o->cost.latency_ms;
		out->fast.mean_accuracy += o->cost.accuracy;
		out->fast.slo_attainment += o->deadline_met && o->energy_met;
	}
}

static void tally_finish(const struct tally *t, int steps, struct sim_eval_result *out)
{
	if (out->fast.steps) {
		out->fast.mean_latency_ms /= out->fast.steps;
		out->fast.mean_accuracy /= out->fast.steps;
		out->fast.slo_attainment /= out->fast.steps;
	}
	out->slo_attainment = t->slo / steps;
	out->deadline_attainment = t->dl / steps;
	out->energy_attainment = t->en / steps;
	out->mean_accuracy = t->acc / steps;
	out->mean_latency_ms = t->lsum / steps;
	out->energy_j = t->esum / steps;
	out->mean_bytes = t->bsum / steps;
	out->decision_us = t->dus / steps;
}

/* The SIM_EVAL_TOP most chosen actions, most first (count is consumed). */
static void top_actions(const struct cf_action *table, int *count, int na,
			struct sim_eval_result *out)
{
	for (out->n_top = 0; out->n_top < SIM_EVAL_TOP; out->n_top++) {
		int best = -1;
		for (int i = 0; i < na; i++)
			if (count[i] > 0 && (best < 0 || count[i] > count[best]))
				best = i;
		if (best < 0)
			break;
		out->top[out->n_top].action = table[best];
		out->top[out->n_top].count = count[best];
		count[best] = 0;
	}
}

static int run(struct pol_env *env, const char *algo, decide_fn decide, void *ctx, int steps,
	       struct sim_eval_result *out, char *err, size_t errlen)
{
	int na = sim_env_n_actions(env), rc;
	uint8_t *mask = malloc((size_t)na);
	double *lat = malloc((size_t)steps * sizeof(double));
	int *count = calloc((size_t)na, sizeof(int));
	struct cf_action *table = malloc((size_t)na * sizeof(*table));
	struct tally t = {0};
	if (!mask || !lat || !count || !table) {
		rc = cf_fail(-ENOMEM, err, errlen, "eval: out of memory");
		goto done;
	}
	memset(out, 0, sizeof(*out));
	snprintf(out->algo, sizeof(out->algo), "%s", algo);
	out->steps = steps;
	for (int i = 0; i < steps; i++) {
		struct sim_env_outcome o;
		int idx = -1;
		sim_env_mask(env, mask);
		uint64_t t0 = cf_now_ns();
		rc = decide(ctx, env, mask, &idx, &out->masked);
		t.dus += (double)(cf_now_ns() - t0) * 1e-3;
		if (rc) {
			cf_fail(rc, err, errlen, "eval: %s: no valid decision at step %d", algo, i);
			goto done;
		}
		if ((rc = sim_env_step(env, idx, &o))) {
			cf_fail(rc, err, errlen, "eval: %s: step %d failed", algo, i);
			goto done;
		}
		count[idx]++;
		lat[i] = o.cost.latency_ms;
		tally_step(&t, out, &o);
	}
	tally_finish(&t, steps, out);
	sim_env_action_table(env, table);
	top_actions(table, count, na, out);
	cf_sort_doubles(lat, (size_t)steps);
	/* nearest rank */
	int k = (int)ceil(0.99 * steps) - 1;
	out->p99_latency_ms = lat[k < 0 ? 0 : k];
	rc = 0;
done:
	free(mask);
	free(lat);
	free(count);
	free(table);
	return rc;
}

int sim_eval_run(const struct cost_model *cm, const struct sim_trace_set *traces,
		 const struct sim_env_cfg *cfg, uint64_t seed, const char *algo, int steps,
		 struct sim_eval_result *out, char *err, size_t errlen)
{
	if (!cm || !traces || traces->n < 1 || !algo || !out || steps < 1)
		return cf_fail(-EINVAL, err, errlen, "eval: needs a cost model, traces and steps >= 1");
	if (!strcmp(algo, "sacd") || !strcmp(algo, "dqn"))
		return cf_fail(-ENOENT, err, errlen, "eval: %s: needs a trained policy (sim_eval_run_policy)",
			    algo);
	struct sim_env_cfg c = cfg ? *cfg : sim_env_defaults();
	struct pol_env *env = NULL;
	struct opt_ctx oc = {.cm = cm, .oracle = !strcmp(algo, "oracle")};
	struct cost_opt_cfg ocfg = {.cm = cm, .bits_mask = c.bits_mask ? c.bits_mask : CF_ACTION_BITS_ALL};
	int rc = cost_optimizer_create(algo, &ocfg, &oc.opt, err, errlen);
	if (rc)
		return rc;
	if (!(rc = sim_env_create(cm, traces, &c, seed, &env, err, errlen)))
		rc = run(env, algo, opt_decide, &oc, steps, out, err, errlen);
	cost_optimizer_free(oc.opt);
	sim_env_free(env);
	return rc;
}

int sim_eval_run_policy(const struct cost_model *cm, const struct sim_trace_set *traces,
			const struct sim_env_cfg *cfg, uint64_t seed, const char *name,
			struct pol_policy *p, int steps, struct sim_eval_result *out, char *err,
			size_t errlen)
{
	if (!cm || !traces || traces->n < 1 || !name || !p || !out || steps < 1)
		return cf_fail(-EINVAL, err, errlen, "eval: needs a cost model, traces, a policy and steps >= 1");
	struct sim_env_cfg c = cfg ? *cfg : sim_env_defaults();
	struct pol_env *env = NULL;
	struct cf_action *table = NULL;
	int rc = sim_env_create(cm, traces, &c, seed, &env, err, errlen);
	if (rc)
		return rc;
	int na = sim_env_n_actions(env);
	if (p->state_dim != POL_ENV_STATE_DIM || p->obs_spec != POL_OBS_SPEC || p->n_actions != na ||
	    !p->actions) {
		rc = cf_fail(-EINVAL, err, errlen,
			  "eval: %s: the policy (%d inputs, observation spec %u, %d actions) does not "
			  "fit this environment (%d, %u, %d)",
			  name, p->state_dim, p->obs_spec, p->n_actions, POL_ENV_STATE_DIM,
			  POL_OBS_SPEC, na);
		goto done;
	}
	if (!(table = malloc((size_t)na * sizeof(*table)))) {
		rc = cf_fail(-ENOMEM, err, errlen, "eval: out of memory");
		goto done;
	}
	sim_env_action_table(env, table);
	for (int i = 0; i < na; i++)
		if (table[i].exit != p->actions[i].exit ||
		    table[i].partition != p->actions[i].partition || table[i].bits != p->actions[i].bits) {
			rc = cf_fail(-EINVAL, err, errlen,
				  "eval: %s: action %d of the policy is (%d, %d, %d), the model's is "
				  "(%d, %d, %d): trained for another model",
				  name, i, p->actions[i].exit + 1, p->actions[i].partition,
				  p->actions[i].bits, table[i].exit + 1, table[i].partition,
				  table[i].bits);
			goto done;
		}
	rc = run(env, name, policy_decide, p, steps, out, err, errlen);
done:
	free(table);
	sim_env_free(env);
	return rc;
}
