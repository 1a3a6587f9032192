/* coinfer-policy train: SAC-d or double DQN in the trace-driven environment,
 * saved as a policy file (docs/policy-train.md). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/exec.h"
#include "coinfer/cost.h"
#include "coinfer/sim-eval.h"
#include "coinfer/sim-train.h"
#include "common.h"
#include "train-cmd.h"

static void usage_train(FILE *f)
{
	fprintf(f,
		"usage: " CP_PROG " train --algo sacd|dqn [--out FILE] [options]\n"
		"Trains a policy in the trace-driven environment (docs/policy-env.md) and saves\n"
		"it (docs/policy-file.md). Deterministic: the same options give the same file.\n"
		"Prints {\"algo\", \"wall_s\", \"converged_s\", \"curve\": [{\"env_steps\",\n"
		"\"updates\", \"wall_s\", \"reward\", \"slo_attainment\", \"accuracy\", ...}]}.\n\n"
		"  --algo A            sacd or dqn (required)\n"
		"  --out FILE          policy file (default: none, report only)\n"
		"  --traces DIR        bandwidth traces (default: $COINFER_TRACES, else\n"
		"                      ../shared/data/traces next to the source tree)\n"
		"  --slo FILE          SLO file (one app drawn per episode); default: 100 ms\n"
		"  --reward MODE       slo (accuracy when the SLO is met, else -1; default) or\n"
		"                      lambda (Niu et al. 2022, eqs. 12-13)\n"
		"  --slo-penalty X     SLO mode: the reward of a missed SLO is -X (default 1)\n"
		"  --latency-weight W  SLO mode: a met SLO earns accuracy - W x latency /\n"
		"                      deadline (default 0.01: the faster of equals)\n"
		"  --late-weight W     SLO mode: a missed deadline also costs W x (latency /\n"
		"                      deadline - 1), capped at 4 (default 1: a slow miss\n"
		"                      costs more than a near one)\n"
		"  --device CLASS      device class (default pi4-est)\n"
		"  --edge CLASS        edge class (default edge-x86)\n"
		"  --steps N           environment steps (default 150000)\n"
		"  --warmup N          random steps first (default 5000)\n"
		"  --update-every N    environment steps per update round (default 4)\n"
		"  --updates N         updates per round (default 1)\n"
		"  --batch N           minibatch (default 64)\n"
		"  --hidden N          units of each of the two hidden layers (default 128)\n"
		"  --lr X              learning rate of every network (default 1e-3)\n"
		"  --lr-final R        the rates fall linearly to R x --lr (default 0.1)\n"
		"  --gamma X           discount (default 0: actions do not move the state)\n"
		"  --target-entropy R  SAC-d target entropy = R x log(valid actions) (default 0.3)\n"
		"  --eval-every N      held-out evaluation period in steps (default 10000)\n"
		"  --eval-steps N      steps per evaluation (default 5000)\n"
		"  --seed N            seed of the environment and learner (default 1)\n"
		"  --codec FILE, --root DIR, --model PATH   as for eval\n"
		"  --quiet             no progress lines on stderr\n");
}

static void on_point(void *ctx, const struct sim_train_point *p)
{
	if (!*(int *)ctx)
		fprintf(stderr,
			CP_PROG " train: %7d steps %6llu updates %6.1f s  reward %.4f  slo %.4f  acc %.4f"
			"  lat %.1f ms  loss %.3g  alpha %.3g  H %.2f/%.2f  eps %.3f\n",
			p->env_steps, (unsigned long long)p->updates, p->wall_s, p->reward,
			p->slo_attainment, p->accuracy, p->latency_ms, p->loss, p->alpha, p->entropy,
			p->target_entropy, p->epsilon);
}

int cmd_train(int argc, char **argv)
{
	const char *traces_dir = NULL, *slo_path = NULL, *out_path = NULL;
	const char *device = "pi4-est", *edge = "edge-x86", *root = NULL, *model_path = NULL;
	const char *codec = NULL, *algo = NULL, *reward = "slo";
	double steps = 150000, warmup = 5000, every = 4, upd = 1, batch = 64, hidden = 128;
	double penalty = 1, lat_w = 0.01, late_w = 1, lr = 1e-3, lr_final = 0.1, gamma = 0, ratio = 0.3, eval_every = 10000, eval_steps = 5000, seed = 1;
	int quiet = 0;
	static const struct option opts[] = {
		{"algo", required_argument, 0, 'A'}, {"out", required_argument, 0, 'o'},
		{"traces", required_argument, 0, 't'}, {"slo", required_argument, 0, 's'},
		{"reward", required_argument, 0, 'r'}, {"device", required_argument, 0, 'D'},
		{"edge", required_argument, 0, 'E'}, {"steps", required_argument, 0, 'n'},
		{"warmup", required_argument, 0, 'w'}, {"update-every", required_argument, 0, 'u'},
		{"updates", required_argument, 0, 'U'}, {"batch", required_argument, 0, 'b'},
		{"hidden", required_argument, 0, 'H'}, {"lr", required_argument, 0, 'l'},
		{"slo-penalty", required_argument, 0, 'P'}, {"latency-weight", required_argument, 0, 'W'},
		{"late-weight", required_argument, 0, 'Y'}, {"lr-final", required_argument, 0, 'L'}, {"gamma", required_argument, 0, 'g'}, {"target-entropy", required_argument, 0, 'T'},
		{"eval-every", required_argument, 0, 'e'}, {"eval-steps", required_argument, 0, 'x'},
		{"seed", required_argument, 0, 'S'}, {"codec", required_argument, 0, 'c'},
		{"root", required_argument, 0, 'R'}, {"model", required_argument, 0, 'm'},
		{"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		int bad = 0;
		switch (c) {
		case 'A': algo = optarg; break;
		case 'o': out_path = optarg; break;
		case 't': traces_dir = optarg; break;
		case 's': slo_path = optarg; break;
		case 'r': reward = optarg; break;
		case 'D': device = optarg; break;
		case 'E': edge = optarg; break;
		case 'n': bad = cp_parse_num("steps", optarg, 1, 1e9, &steps); break;
		case 'w': bad = cp_parse_num("warmup", optarg, 1, 1e8, &warmup); break;
		case 'u': bad = cp_parse_num("update-every", optarg, 1, 1e6, &every); break;
		case 'U': bad = cp_parse_num("updates", optarg, 1, 1e3, &upd); break;
		case 'b': bad = cp_parse_num("batch", optarg, 1, 4096, &batch); break;
		case 'H': bad = cp_parse_num("hidden", optarg, 1, 4096, &hidden); break;
		case 'l': bad = cp_parse_num("lr", optarg, 1e-7, 1, &lr); break;
		case 'P': bad = cp_parse_num("slo-penalty", optarg, 0, 1e3, &penalty); break;
		case 'W': bad = cp_parse_num("latency-weight", optarg, 0, 10, &lat_w); break;
		case 'Y': bad = cp_parse_num("late-weight", optarg, 0, 100, &late_w); break;
		case 'L': bad = cp_parse_num("lr-final", optarg, 1e-6, 1, &lr_final); break;
		case 'g': bad = cp_parse_num("gamma", optarg, 0, 1, &gamma); break;
		case 'T': bad = cp_parse_num("target-entropy", optarg, 0, 1, &ratio); break;
		case 'e': bad = cp_parse_num("eval-every", optarg, 0, 1e9, &eval_every); break;
		case 'x': bad = cp_parse_num("eval-steps", optarg, 1, 1e8, &eval_steps); break;
		case 'S': bad = cp_parse_num("seed", optarg, 0, 9007199254740992.0, &seed); break;
		case 'c': codec = optarg; break;
		case 'R': root = optarg; break;
		case 'm': model_path = optarg; break;
		case 'q': quiet = 1; break;
		case 'h': usage_train(stdout); return 0;
		default: usage_train(stderr); return 2;
		}
		if (bad)
			return 2;
	}
	if (optind < argc) {
		fprintf(stderr, CP_PROG " train: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!algo || (strcmp(algo, "sacd") && strcmp(algo, "dqn"))) {
		fprintf(stderr, CP_PROG " train: --algo sacd or --algo dqn is needed\n");
		return 2;
	}
	if (strcmp(reward, "slo") && strcmp(reward, "lambda")) {
		fprintf(stderr, CP_PROG " train: --reward is slo or lambda, not '%s'\n", reward);
		return 2;
	}
	char err[512];
	int ret = 1;
	struct cp_world *w = malloc(sizeof(*w));
	struct pol_policy *pol = NULL;
	struct sim_train_report *rep = malloc(sizeof(*rep));
	cJSON *out = NULL;
	if (!rep || !w) {
		fprintf(stderr, CP_PROG " train: out of memory\n");
		free(rep);
		free(w);
		return 1;
	}
	const struct cp_world_opts wo = {traces_dir ? traces_dir : "", slo_path, device, edge,
					 codec, root ? root : cli_default_root(), model_path};
	if (cp_world_load(w, &wo))
		goto done;
	struct cost_model *cm = w->cm;
	struct sim_env_cfg ec = cp_world_env(w);
	ec.reward = !strcmp(reward, "slo") ? SIM_REWARD_SLO : SIM_REWARD_LAMBDA;
	ec.slo_penalty = penalty;
	ec.slo_latency_weight = lat_w;
	ec.slo_late_weight = late_w;
	struct sim_train_cfg tc = sim_train_defaults(!strcmp(algo, "sacd") ? POL_ALGO_SACD : POL_ALGO_DQN);
	tc.env_steps = (int)steps;
	tc.warmup_steps = (int)warmup;
	tc.update_every = (int)every;
	tc.updates_per_round = (int)upd;
	tc.eval_every = (int)eval_every;
	tc.eval_steps = (int)eval_steps;
	if (tc.replay_cap < tc.warmup_steps)
		tc.replay_cap = tc.warmup_steps;
	uint64_t sd = (uint64_t)seed;
	tc.env_seed = sd;
	tc.eval_seed = sd + 1000003;
	tc.warmup_seed = sd + 2000003;
	tc.sacd.seed = tc.dqn.seed = sd;
	tc.sacd.batch = tc.dqn.batch = (int)batch;
	tc.sacd.hidden[0] = tc.sacd.hidden[1] = tc.dqn.hidden[0] = tc.dqn.hidden[1] = (int)hidden;
	tc.sacd.lr_actor = tc.sacd.lr_critic = tc.sacd.lr_alpha = tc.dqn.lr = (float)lr;
	tc.sacd.gamma = tc.dqn.gamma = (float)gamma;
	tc.lr_final = (float)lr_final;
	tc.sacd.target_entropy_ratio = (float)ratio;
	if (sim_train(cm, &w->ts, &ec, &tc, device, cm->model, on_point, &quiet, &pol, rep, err,
		      sizeof(err))) {
		fprintf(stderr, CP_PROG ": %s\n", err);
		goto done;
	}
	if (out_path && pol_save(pol, out_path, err, sizeof(err))) {
		fprintf(stderr, CP_PROG ": %s\n", err);
		goto done;
	}
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "algo", algo);
	cJSON_AddStringToObject(out, "model", cm->model);
	cJSON_AddStringToObject(out, "device", cm->device);
	cJSON_AddStringToObject(out, "edge", cm->edge);
	cJSON_AddStringToObject(out, "reward", reward);
	cJSON_AddNumberToObject(out, "slo_penalty", penalty);
	cJSON_AddNumberToObject(out, "latency_weight", lat_w);
	cJSON_AddNumberToObject(out, "late_weight", late_w);
	if (slo_path)
		cJSON_AddStringToObject(out, "slo", slo_path);
	cJSON_AddNumberToObject(out, "traces", w->ts.n);
	cJSON_AddNumberToObject(out, "env_steps", tc.env_steps);
	cJSON_AddNumberToObject(out, "hidden", hidden);
	cJSON_AddNumberToObject(out, "batch", batch);
	cJSON_AddNumberToObject(out, "gamma", gamma);
	cJSON_AddNumberToObject(out, "lr", lr);
	cJSON_AddNumberToObject(out, "lr_final", lr_final);
	if (tc.algo == POL_ALGO_SACD)
		cJSON_AddNumberToObject(out, "target_entropy_ratio", ratio);
	cJSON_AddNumberToObject(out, "seed", seed);
	cJSON_AddNumberToObject(out, "wall_s", rep->wall_s);
	const struct sim_train_point *cp = &rep->pt[rep->converged_point];
	cJSON_AddNumberToObject(out, "converged_s", cp->wall_s);
	cJSON_AddNumberToObject(out, "converged_env_steps", cp->env_steps);
	cJSON_AddNumberToObject(out, "converge_tol", rep->converge_tol);
	if (out_path)
		cJSON_AddStringToObject(out, "policy", out_path);
	/* the curve's yardsticks: the same held-out steps under the oracle and Edgent */
	cJSON *refs = cJSON_AddObjectToObject(out, "held_out_reference");
	static const char *const ref_algos[] = {"oracle", "edgent", "device-only"};
	for (int i = 0; i < 3; i++) {
		struct sim_eval_result r;
		if (sim_eval_run(cm, &w->ts, &ec, tc.eval_seed, ref_algos[i], tc.eval_steps, &r, err,
				 sizeof(err))) {
			fprintf(stderr, CP_PROG ": %s\n", err);
			goto done;
		}
		cJSON *o = cJSON_AddObjectToObject(refs, ref_algos[i]);
		cJSON_AddNumberToObject(o, "slo_attainment", r.slo_attainment);
		cJSON_AddNumberToObject(o, "accuracy", r.mean_accuracy);
		cJSON_AddNumberToObject(o, "latency_ms", r.mean_latency_ms);
		if (!quiet)
			fprintf(stderr, CP_PROG " train: held-out %-11s slo %.4f  acc %.4f  lat %.1f ms\n",
				ref_algos[i], r.slo_attainment, r.mean_accuracy, r.mean_latency_ms);
	}
	cJSON *arr = cJSON_AddArrayToObject(out, "curve");
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
		if (tc.algo == POL_ALGO_SACD) {
			cJSON_AddNumberToObject(o, "alpha", p->alpha);
			cJSON_AddNumberToObject(o, "entropy", p->entropy);
			cJSON_AddNumberToObject(o, "target_entropy", p->target_entropy);
		} else {
			cJSON_AddNumberToObject(o, "epsilon", p->epsilon);
		}
		cJSON_AddItemToArray(arr, o);
	}
	ret = cp_print_json(out);
done:
	cJSON_Delete(out);
	pol_policy_free(pol);
	free(rep);
	cp_world_free(w);
	free(w);
	return ret;
}
