/* coinfer-policy train: SAC-d or double DQN in the trace-driven environment,
 * saved as a policy file (docs/policy-train.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/cost.h"
#include "coinfer/sim-eval.h"
#include "coinfer/sim-train.h"
#include "common.h"
#include "train-cmd.h"

struct train_opts {
	struct cp_world_opts w;
	const char *algo, *out;
	int reward; /* index of rewards[] */
	double steps, warmup, every, updates, batch, hidden;
	double penalty, lat_w, late_w, lr, lr_final, gamma, ratio, eval_every, eval_steps, seed;
	int quiet;
};

static const char *const rewards[] = {"slo", "lambda", NULL};

#define F(f) CLI_FIELD(struct train_opts, f)
#define NUM(n, f, l, h, a, text)                                                            \
	{.name = n, .kind = CLI_DOUBLE, F(f), .lo = l, .hi = h, .arg = a, .help = text}
static const struct cli_opt train_table[] = {
	{.name = "algo", .kind = CLI_STRING, F(algo), .arg = "A", .help = "sacd or dqn (required)"},
	{.name = "out", .kind = CLI_STRING, F(out), .arg = "FILE", .help = "policy file",
	 .dflt = "none, report only"},
	{.name = "reward", .kind = CLI_CHOICE, F(reward), .choices = rewards, .arg = "MODE",
	 .help = "slo (accuracy when the SLO is met, else -1) or\n"
		 "lambda (Niu et al. 2022, eqs. 12-13)"},
	NUM("slo-penalty", penalty, 0, 1e3, "X", "SLO mode: the reward of a missed SLO is -X"),
	NUM("latency-weight", lat_w, 0, 10, "W",
	    "SLO mode: a met SLO earns accuracy - W x latency /\n"
	    "deadline (the faster of equals wins)"),
	NUM("late-weight", late_w, 0, 100, "W",
	    "SLO mode: a missed deadline also costs W x (latency /\n"
	    "deadline - 1), capped at 4 (a slow miss costs more\n"
	    "than a near one)"),
	NUM("steps", steps, 1, 1e9, "N", "environment steps"),
	NUM("warmup", warmup, 1, 1e8, "N", "random steps first"),
	NUM("update-every", every, 1, 1e6, "N", "environment steps per update round"),
	NUM("updates", updates, 1, 1e3, "N", "updates per round"),
	NUM("batch", batch, 1, 4096, "N", "minibatch"),
	NUM("hidden", hidden, 1, 4096, "N", "units of each of the two hidden layers"),
	NUM("lr", lr, 1e-7, 1, "X", "learning rate of every network"),
	NUM("lr-final", lr_final, 1e-6, 1, "R", "the rates fall linearly to R x --lr"),
	NUM("gamma", gamma, 0, 1, "X", "discount (0: actions do not move the state)"),
	NUM("target-entropy", ratio, 0, 1, "R",
	    "SAC-d target entropy = R x log(valid actions)"),
	NUM("eval-every", eval_every, 0, 1e9, "N", "held-out evaluation period in steps"),
	NUM("eval-steps", eval_steps, 1, 1e8, "N", "steps per evaluation"),
	NUM("seed", seed, 0, 9007199254740992.0, "N", "seed of the environment and learner"),
	{.name = "quiet", .kind = CLI_FLAG, F(quiet), .help = "no progress lines on stderr"},
	CP_WORLD_OPTS(struct train_opts, w),
};
#undef NUM
#undef F

static const struct cli_prog train_prog = {
	.name = CP_PROG " train",
	.head = "usage: " CP_PROG " train --algo sacd|dqn [--out FILE] [options]\n"
		"Trains a policy in the trace-driven environment (docs/policy-env.md) and saves\n"
		"it (docs/policy-file.md). Deterministic: the same options give the same file.\n"
		"Prints {\"algo\", \"wall_s\", \"converged_s\", \"curve\": [{\"env_steps\",\n"
		"\"updates\", \"wall_s\", \"reward\", \"slo_attainment\", \"accuracy\", ...}]}.\n\n",
	.opts = train_table, .n_opts = CLI_N(train_table), .size = sizeof(struct train_opts)};

static void on_point(void *ctx, const struct sim_train_point *p)
{
	if (!*(int *)ctx)
		fprintf(stderr,
			CP_PROG " train: %7d steps %6llu updates %6.1f s  reward %.4f  slo %.4f  "
			"acc %.4f  lat %.1f ms  loss %.3g  alpha %.3g  H %.2f/%.2f  eps %.3f\n",
			p->env_steps, (unsigned long long)p->updates, p->wall_s, p->reward,
			p->slo_attainment, p->accuracy, p->latency_ms, p->loss, p->alpha, p->entropy,
			p->target_entropy, p->epsilon);
}

/* The environment of the world with the reward of the options. */
static struct sim_env_cfg train_env(const struct train_opts *o, const struct cp_world *w)
{
	struct sim_env_cfg ec = cp_world_env(w);
	ec.reward = o->reward == 0 ? SIM_REWARD_SLO : SIM_REWARD_LAMBDA;
	ec.slo_penalty = o->penalty;
	ec.slo_latency_weight = o->lat_w;
	ec.slo_late_weight = o->late_w;
	return ec;
}

/* The learner's settings from the options. */
static struct sim_train_cfg train_cfg(const struct train_opts *o)
{
	struct sim_train_cfg tc =
		sim_train_defaults(!strcmp(o->algo, "sacd") ? POL_ALGO_SACD : POL_ALGO_DQN);
	uint64_t sd = (uint64_t)o->seed;
	tc.env_steps = (int)o->steps;
	tc.warmup_steps = (int)o->warmup;
	tc.update_every = (int)o->every;
	tc.updates_per_round = (int)o->updates;
	tc.eval_every = (int)o->eval_every;
	tc.eval_steps = (int)o->eval_steps;
	if (tc.replay_cap < tc.warmup_steps)
		tc.replay_cap = tc.warmup_steps;
	tc.env_seed = sd;
	tc.eval_seed = sd + 1000003;
	tc.warmup_seed = sd + 2000003;
	tc.sacd.seed = tc.dqn.seed = sd;
	tc.sacd.batch = tc.dqn.batch = (int)o->batch;
	tc.sacd.hidden[0] = tc.sacd.hidden[1] = tc.dqn.hidden[0] = tc.dqn.hidden[1] = (int)o->hidden;
	tc.sacd.lr_actor = tc.sacd.lr_critic = tc.sacd.lr_alpha = tc.dqn.lr = (float)o->lr;
	tc.sacd.gamma = tc.dqn.gamma = (float)o->gamma;
	tc.lr_final = (float)o->lr_final;
	tc.sacd.target_entropy_ratio = (float)o->ratio;
	return tc;
}

/* What was trained, on what, and how long it took. */
static cJSON *train_head_json(const struct train_opts *o, const struct cp_world *w,
			      const struct sim_train_cfg *tc, const struct sim_train_report *rep)
{
	const struct cost_model *cm = w->cm;
	cJSON *out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "algo", o->algo);
	cJSON_AddStringToObject(out, "model", cm->model);
	cJSON_AddStringToObject(out, "device", cm->device);
	cJSON_AddStringToObject(out, "edge", cm->edge);
	cJSON_AddStringToObject(out, "reward", rewards[o->reward]);
	cJSON_AddNumberToObject(out, "slo_penalty", o->penalty);
	cJSON_AddNumberToObject(out, "latency_weight", o->lat_w);
	cJSON_AddNumberToObject(out, "late_weight", o->late_w);
	if (o->w.slo)
		cJSON_AddStringToObject(out, "slo", o->w.slo);
	cJSON_AddNumberToObject(out, "traces", w->ts.n);
	cJSON_AddNumberToObject(out, "env_steps", tc->env_steps);
	cJSON_AddNumberToObject(out, "hidden", o->hidden);
	cJSON_AddNumberToObject(out, "batch", o->batch);
	cJSON_AddNumberToObject(out, "gamma", o->gamma);
	cJSON_AddNumberToObject(out, "lr", o->lr);
	cJSON_AddNumberToObject(out, "lr_final", o->lr_final);
	if (tc->algo == POL_ALGO_SACD)
		cJSON_AddNumberToObject(out, "target_entropy_ratio", o->ratio);
	cJSON_AddNumberToObject(out, "seed", o->seed);
	cJSON_AddNumberToObject(out, "wall_s", rep->wall_s);
	const struct sim_train_point *cp = &rep->pt[rep->converged_point];
	cJSON_AddNumberToObject(out, "converged_s", cp->wall_s);
	cJSON_AddNumberToObject(out, "converged_env_steps", cp->env_steps);
	cJSON_AddNumberToObject(out, "converge_tol", rep->converge_tol);
	if (o->out)
		cJSON_AddStringToObject(out, "policy", o->out);
	return out;
}

/* The curve's yardsticks: the same held-out steps under the oracle, Edgent and
 * the device alone, into refs. 0, or -1 (said). */
static int train_refs(const struct cp_world *w, const struct sim_env_cfg *ec,
		      const struct sim_train_cfg *tc, int quiet, cJSON *refs)
{
	static const char *const ref_algos[] = {"oracle", "edgent", "device-only"};
	char err[512];
	for (int i = 0; i < 3; i++) {
		struct sim_eval_result r;
		if (sim_eval_run(w->cm, &w->ts, ec, tc->eval_seed, ref_algos[i], tc->eval_steps, &r,
				 err, sizeof(err))) {
			fprintf(stderr, CP_PROG ": %s\n", err);
			return -1;
		}
		cJSON *o = cJSON_AddObjectToObject(refs, ref_algos[i]);
		cJSON_AddNumberToObject(o, "slo_attainment", r.slo_attainment);
		cJSON_AddNumberToObject(o, "accuracy", r.mean_accuracy);
		cJSON_AddNumberToObject(o, "latency_ms", r.mean_latency_ms);
		if (!quiet)
			fprintf(stderr, CP_PROG " train: held-out %-11s slo %.4f  acc %.4f  lat %.1f ms\n",
				ref_algos[i], r.slo_attainment, r.mean_accuracy, r.mean_latency_ms);
	}
	return 0;
}

static cJSON *train_curve_json(const struct sim_train_report *rep, enum pol_algo algo)
{
	cJSON *arr = cJSON_CreateArray();
	for (int i = 0; i < rep->n_points; i++) {
		const struct sim_train_point *p = &rep->pt[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "env_steps", p->env_steps);
		cJSON_AddNumberToObject(o, "updates", (double)p->updates);
		cJSON_AddNumberToObject(o, "wall_s", p->wall_s);
		cJSON_AddNumberToObject(o, "reward", p->reward);
		cJSON_AddNumberToObject(o, "slo_attainment", p->slo_attainment);
		cJSON_AddNumberToObject(o, "accuracy", p->accuracy);
		cJSON_AddNumberToObject(o, "latency_ms", p->latency_ms);
		cJSON_AddNumberToObject(o, "loss", p->loss);
		if (algo == POL_ALGO_SACD) {
			cJSON_AddNumberToObject(o, "alpha", p->alpha);
			cJSON_AddNumberToObject(o, "entropy", p->entropy);
			cJSON_AddNumberToObject(o, "target_entropy", p->target_entropy);
		} else {
			cJSON_AddNumberToObject(o, "epsilon", p->epsilon);
		}
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

/* Trains in the loaded world, saves the policy when --out names a file, prints
 * the report: the exit status. */
static int train(const struct train_opts *o, const struct cp_world *w,
		 struct sim_train_report *rep)
{
	char err[512];
	struct pol_policy *pol = NULL;
	struct sim_env_cfg ec = train_env(o, w);
	struct sim_train_cfg tc = train_cfg(o);
	cJSON *out = NULL;
	int ret = 1;
	if (sim_train(w->cm, &w->ts, &ec, &tc, o->w.device, w->cm->model, on_point,
		      (void *)&o->quiet, &pol, rep, err, sizeof(err)) ||
	    (o->out && pol_save(pol, o->out, err, sizeof(err)))) {
		fprintf(stderr, CP_PROG ": %s\n", err);
		goto done;
	}
	out = train_head_json(o, w, &tc, rep);
	if (train_refs(w, &ec, &tc, o->quiet, cJSON_AddObjectToObject(out, "held_out_reference")))
		goto done;
	cJSON_AddItemToObject(out, "curve", train_curve_json(rep, tc.algo));
	ret = cp_print_json(out);
done:
	cJSON_Delete(out);
	pol_policy_free(pol);
	return ret;
}

int cmd_train(int argc, char **argv)
{
	struct train_opts o = {.w = cp_world_defaults(), .steps = 150000, .warmup = 5000,
			       .every = 4, .updates = 1, .batch = 64, .hidden = 128, .penalty = 1,
			       .lat_w = 0.01, .late_w = 1, .lr = 1e-3, .lr_final = 0.1,
			       .ratio = 0.3, .eval_every = 10000, .eval_steps = 5000, .seed = 1};
	int ret = cli_args(&train_prog, &o, argc, argv);
	if (ret != CLI_GO)
		return ret;
	if (!o.algo || (strcmp(o.algo, "sacd") && strcmp(o.algo, "dqn"))) {
		fprintf(stderr, CP_PROG " train: --algo sacd or --algo dqn is needed\n");
		return 2;
	}
	struct cp_world *w = malloc(sizeof(*w));
	struct sim_train_report *rep = malloc(sizeof(*rep));
	ret = 1;
	if (!rep || !w)
		fprintf(stderr, CP_PROG " train: out of memory\n");
	else if (!(ret = cp_world_load(w, &o.w)))
		ret = train(&o, w, rep);
	if (w)
		cp_world_free(w);
	free(w);
	free(rep);
	return ret;
}
