/* coinfer-policy: the offline side of the policy. `profile` measures this
 * machine's per-layer latency table (cost/measure.c: the agent's and the
 * appliance's `profile` too), `fit` fits Edgent's per-layer-type
 * regressions to a profile, `search` runs an optimizer (Edgent's Algorithm 1 by
 * default) over the cost model of a device class and an edge class and prints the
 * chosen action with its predicted latency, energy, accuracy and bytes, or sweeps
 * bandwidth or deadline (Edgent, Li et al. 2018, Fig. 6 a/c). Everything prints JSON on stdout.
 * docs/cost-model.md has the formulas and file formats. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coinfer/clock.h"
#include "coinfer/cost.h"
#include "coinfer/sim-eval.h"
#include "coinfer/cost-profile.h"
#include "coinfer/policy-learn.h"
#include "common.h"
#include "figures.h"
#include "train-cmd.h"

/* ---- profile ------------------------------------------------------------------------ */

static int cmd_profile(int argc, char **argv)
{
	static const int batches[] = {1, 2, 4, 8, 16, 32};
	const struct cli_profile_cmd c = {CP_PROG, "this machine's", batches, 6};
	return cli_profile_main(argc, argv, &c);
}

/* ---- fit ---------------------------------------------------------------------------- */

static void usage_fit(FILE *f)
{
	fprintf(f,
		"usage: " CP_PROG " fit (--profile FILE | --class NAME) [options]\n"
		"Fit Edgent's per-layer-type linear regressions (Table I variables: conv x1 =\n"
		"input bytes, x2 = (filter/stride)^2 * filters; relu, lrn, dropout/flatten: input\n"
		"bytes; pooling, fc: input and output bytes) to a profile, at every batch size\n"
		"(data sizes of the whole batch). Prints coefficients, R^2 and the points per layer\n"
		"type, and each distinct layer's measured and predicted time, as JSON.\n\n"
		"  --profile FILE   a profile file (checked against the model)\n"
		"  --class NAME     the profile of a device class in ROOT/conf/devices\n"
		"  --batch B        fit only this batch size\n"
		"  --root DIR       repository root for classes (default: . or the source tree)\n"
		"  --model PATH     model file (default: the bundled one)\n"
		"  --help           this text\n");
}

static int cmd_fit(int argc, char **argv)
{
	const char *profile_path = NULL, *cls = NULL, *root = NULL, *model_path = NULL;
	double only_batch = 0;
	static const struct option opts[] = {
		{"profile", required_argument, 0, 'p'}, {"class", required_argument, 0, 'c'},
		{"batch", required_argument, 0, 'b'},   {"root", required_argument, 0, 'R'},
		{"model", required_argument, 0, 'm'},   {"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': profile_path = optarg; break;
		case 'c': cls = optarg; break;
		case 'b':
			if (cp_parse_num("batch", optarg, 1, 4096, &only_batch))
				return 2;
			break;
		case 'R': root = optarg; break;
		case 'm': model_path = optarg; break;
		case 'h': usage_fit(stdout); return 0;
		default: usage_fit(stderr); return 2;
		}
	}
	if (optind < argc || !profile_path == !cls) {
		fprintf(stderr, CP_PROG " fit: give exactly one of --profile and --class\n");
		return 2;
	}
	if (!root)
		root = cli_default_root();
	char err[512], note[1024];
	struct cr_model *m = NULL;
	struct cost_profile *p = malloc(sizeof(*p));
	struct cost_device_class *dc = malloc(sizeof(*dc));
	struct cost_regression rg;
	cJSON *out = NULL;
	int ret = 1, r;
	if (!p || !dc)
		goto done;
	if (cli_model_load(model_path, &m, err, sizeof(err))) {
		fprintf(stderr, CP_PROG ": %s\n", err);
		goto done;
	}
	if (profile_path)
		r = cost_profile_load(profile_path, m, p, err, sizeof(err));
	else if (!(r = cost_class_load(root, cls, dc, err, sizeof(err))))
		r = cost_class_profile(root, dc, m, p, err, sizeof(err));
	if (r) {
		fprintf(stderr, CP_PROG ": %s\n", err);
		goto done;
	}
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "device_class", p->device_class);
	cJSON_AddStringToObject(out, "source", cost_profile_source_name(p->source));
	cJSON_AddStringToObject(out, "isa", p->isa);
	cJSON_AddStringToObject(out, "units", "ms; x1, x2 in bytes of the whole batch (conv x2: (k/s)^2 * filters)");
	cJSON *fits = cJSON_AddArrayToObject(out, "fits");
	int fitted = 0;
	for (int bi = 0; bi < p->n_batches; bi++) {
		if (only_batch && p->batches[bi] != (int)only_batch)
			continue;
		if ((r = cost_regress_fit(p, bi, &rg, note, sizeof(note), err, sizeof(err)))) {
			fprintf(stderr, CP_PROG ": %s\n", err);
			goto done;
		}
		fitted++;
		cJSON *fo = cJSON_CreateObject(), *types, *layers;
		cJSON_AddItemToArray(fits, fo);
		cJSON_AddNumberToObject(fo, "batch", p->batches[bi]);
		types = cJSON_AddArrayToObject(fo, "types");
		for (int k = 0; k < COST_REG_KINDS; k++) {
			const struct cost_reg_line *ln = &rg.line[k];
			if (!ln->present)
				continue;
			cJSON *t = cJSON_CreateObject();
			cJSON_AddStringToObject(t, "type", cost_reg_kind_name((enum cost_reg_kind)k));
			cJSON_AddNumberToObject(t, "vars", ln->nvar);
			cJSON_AddNumberToObject(t, "c1", ln->c1);
			cJSON_AddNumberToObject(t, "c2", ln->c2);
			cJSON_AddNumberToObject(t, "c0", ln->c0);
			cJSON_AddNumberToObject(t, "r2", ln->r2);
			cJSON_AddNumberToObject(t, "n", ln->n);
			cJSON_AddItemToArray(types, t);
		}
		cJSON_AddStringToObject(fo, "note", note);
		layers = cJSON_AddArrayToObject(fo, "layers");
		for (int e = 0; e < p->n_exits; e++)
			for (int pos = 0; pos < p->exits[e].n_layers; pos++) {
				const struct cost_profile_layer *L = &p->exits[e].layers[pos];
				int dup = 0;
				for (int e2 = 0; e2 < e && !dup; e2++)
					for (int q = 0; q < p->exits[e2].n_layers && !dup; q++)
						dup = !strcmp(p->exits[e2].layers[q].name, L->name);
				if (dup || !rg.line[cost_reg_kind_of(L->type)].present)
					continue;
				cJSON *lo = cJSON_CreateObject();
				cJSON_AddStringToObject(lo, "name", L->name);
				cJSON_AddStringToObject(lo, "type", cost_layer_type_name(L->type));
				cJSON_AddNumberToObject(lo, "measured_ms", L->mean_ms[bi]);
				cJSON_AddNumberToObject(lo, "predicted_ms",
							cost_regress_predict(&rg, L, p->batches[bi]));
				cJSON_AddItemToArray(layers, lo);
			}
	}
	if (!fitted) {
		fprintf(stderr, CP_PROG ": --batch %g is not in the profile\n", only_batch);
		goto done;
	}
	ret = cp_print_json(out);
done:
	cJSON_Delete(out);
	free(dc);
	free(p);
	cr_model_free(m);
	return ret;
}

/* ---- search ------------------------------------------------------------------------- */

static void usage_search(FILE *f)
{
	fprintf(f,
		"usage: " CP_PROG " search --device CLASS --edge CLASS --bandwidth BPS --deadline MS [options]\n"
		"Choose (exit, partition, bits) with an optimizer over the cost model of a device\n"
		"class and an edge class (ROOT/conf/devices) and the codec table; print the action\n"
		"and its predicted latency, energy, accuracy and bytes as JSON, with the decision\n"
		"time in microseconds. Sweeps print one row per point (Edgent, Li et al. 2018, Fig. 6 a/c).\n\n"
		"  --device CLASS, --edge CLASS\n"
		"  --bandwidth BPS        uplink bandwidth in bit/s (e.g. 1e6)\n"
		"  --deadline MS          latency requirement (0: none)\n"
		"  --bits LIST            allowed bits, e.g. 8 or 4,8 (default: 4,8,12,16)\n"
		"  --rtt MS               round-trip time (default 0)\n"
		"  --queue MS             edge queueing delay (default 0)\n"
		"  --batch N              expected batch size at the edge (default 1)\n"
		"  --load X               device load factor, multiplies device time (default 1)\n"
		"  --freq HZ              device CPU frequency (default: the class's)\n"
		"  --energy J             device energy budget per request (default: none)\n"
		"  --algo NAME            edgent (default), oracle, device-only, edge-only\n"
		"  --sweep-bandwidth A:B:N  N bandwidths from A to B bit/s\n"
		"  --sweep-deadline A:B:N   N deadlines from A to B ms\n"
		"  --codec FILE           codec table (default: ROOT/models/<model>.codec.json)\n"
		"  --root DIR             repository root (default: . or the source tree)\n"
		"  --model PATH           model file (default: the bundled one)\n"
		"  --help                 this text\n");
}

static cJSON *action_json(const struct cost_model *cm, const struct cf_action *a,
			  const struct cost_estimate *c, const struct cost_state *s)
{
	const struct cost_exit *x = &cm->ex[a->exit];
	int b = cf_action_bits_index(a->bits), p = a->partition;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "exit", a->exit + 1);
	cJSON_AddNumberToObject(o, "partition", p);
	cJSON_AddNumberToObject(o, "n_layers", x->n);
	cJSON_AddStringToObject(o, "where", p == 0 ? "edge-only" : p == x->n ? "device-only" : "split");
	cJSON_AddStringToObject(o, "sent", p == x->n ? "nothing" : x->layer[p]);
	cJSON_AddNumberToObject(o, "bits", p == x->n ? 0 : a->bits);
	cJSON_AddNumberToObject(o, "latency_ms", c->latency_ms);
	cJSON_AddNumberToObject(o, "energy_j", c->energy_j);
	cJSON_AddNumberToObject(o, "accuracy", c->accuracy);
	cJSON_AddNumberToObject(o, "bytes", c->bytes);
	cJSON_AddBoolToObject(o, "meets_deadline", s->deadline_ms <= 0 || c->latency_ms <= s->deadline_ms);
	cJSON_AddBoolToObject(o, "within_energy", s->energy_budget_j <= 0 || c->energy_j <= s->energy_budget_j);
	cJSON *t = cJSON_AddObjectToObject(o, "terms_ms");
	cJSON_AddNumberToObject(t, "device", c->dev_ms);
	cJSON_AddNumberToObject(t, "encode", c->encode_ms);
	cJSON_AddNumberToObject(t, "transmit", c->tx_ms);
	cJSON_AddNumberToObject(t, "rtt_queue", c->net_ms);
	cJSON_AddNumberToObject(t, "edge", c->edge_ms);
	cJSON_AddNumberToObject(t, "decode", c->decode_ms);
	cJSON *en = cJSON_AddObjectToObject(o, "energy_terms_j");
	cJSON_AddNumberToObject(en, "computation", c->energy_comp_j);
	cJSON_AddNumberToObject(en, "transmission", c->energy_tx_j);
	if (p < x->n && b >= 0) {
		cJSON *cd = cJSON_AddObjectToObject(o, "codec");
		cJSON_AddNumberToObject(cd, "ratio_fp32", x->bytes[p][b] / (4.0 * x->elems[p]));
		cJSON_AddNumberToObject(cd, "accuracy_loss", x->fp32_accuracy - x->accuracy[p][b]);
		cJSON_AddNumberToObject(cd, "fp32_bytes", 4.0 * x->elems[p]);
	}
	return o;
}

/* Mean microseconds per decision over enough repetitions to fill ~20 ms. */
static double decision_us(struct cost_optimizer *o, const struct cost_state *s)
{
	struct cf_action a;
	int reps = 0;
	double t0 = cf_now_s(), t;
	do {
		for (int i = 0; i < 16; i++)
			cost_decide(o, s, &a);
		reps += 16;
	} while ((t = cf_now_s() - t0) < 0.02);
	return t / reps * 1e6;
}

static int cmd_search(int argc, char **argv)
{
	const char *device = NULL, *edge = NULL, *root = NULL, *model_path = NULL, *codec = NULL;
	const char *algo = "edgent";
	struct cost_state st = {.batch = 1, .load = 1};
	double sw_a = 0, sw_b = 0;
	int sw_n = 0, sweep = 0, have_bw = 0, have_dl = 0; /* sweep: 1 bandwidth, 2 deadline */
	unsigned mask = CF_ACTION_BITS_ALL;
	static const struct option opts[] = {
		{"device", required_argument, 0, 'D'}, {"edge", required_argument, 0, 'E'},
		{"bandwidth", required_argument, 0, 'B'}, {"deadline", required_argument, 0, 'L'},
		{"bits", required_argument, 0, 'b'}, {"rtt", required_argument, 0, 'r'},
		{"queue", required_argument, 0, 'q'}, {"batch", required_argument, 0, 'n'},
		{"load", required_argument, 0, 'l'}, {"freq", required_argument, 0, 'f'},
		{"energy", required_argument, 0, 'j'}, {"algo", required_argument, 0, 'a'},
		{"sweep-bandwidth", required_argument, 0, 'S'}, {"sweep-deadline", required_argument, 0, 'T'},
		{"codec", required_argument, 0, 'c'}, {"root", required_argument, 0, 'R'},
		{"model", required_argument, 0, 'm'}, {"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	int c, bl[CF_ACTION_NBITS], nbits;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		int bad = 0;
		switch (c) {
		case 'D': device = optarg; break;
		case 'E': edge = optarg; break;
		case 'B': bad = cp_parse_num("bandwidth", optarg, 1, 1e12, &st.bandwidth_bps); have_bw = 1; break;
		case 'L': bad = cp_parse_num("deadline", optarg, 0, 1e9, &st.deadline_ms); have_dl = 1; break;
		case 'b':
			mask = 0;
			if (!(bad = cp_parse_list("bits", optarg, 4, 16, bl, CF_ACTION_NBITS, &nbits)))
				for (int i = 0; i < nbits; i++) {
					int k = cf_action_bits_index(bl[i]);
					if (k < 0) {
						fprintf(stderr, CP_PROG ": --bits: %d is not 4, 8, 12 or 16\n", bl[i]);
						bad = 1;
					} else {
						mask |= 1u << k;
					}
				}
			break;
		case 'r': bad = cp_parse_num("rtt", optarg, 0, 1e7, &st.rtt_ms); break;
		case 'q': bad = cp_parse_num("queue", optarg, 0, 1e7, &st.queue_ms); break;
		case 'n': bad = cp_parse_num("batch", optarg, 1, 4096, &st.batch); break;
		case 'l': bad = cp_parse_num("load", optarg, 0.01, 1000, &st.load); break;
		case 'f': bad = cp_parse_num("freq", optarg, 1e6, 1e11, &st.freq_hz); break;
		case 'j': bad = cp_parse_num("energy", optarg, 0, 1e9, &st.energy_budget_j); break;
		case 'a': algo = optarg; break;
		case 'S':
		case 'T':
			if (sweep) {
				fprintf(stderr, CP_PROG ": one sweep at a time\n");
				return 2;
			}
			sweep = c == 'S' ? 1 : 2;
			bad = cp_parse_sweep(c == 'S' ? "sweep-bandwidth" : "sweep-deadline", optarg, &sw_a,
					  &sw_b, &sw_n);
			break;
		case 'c': codec = optarg; break;
		case 'R': root = optarg; break;
		case 'm': model_path = optarg; break;
		case 'h': usage_search(stdout); return 0;
		default: usage_search(stderr); return 2;
		}
		if (bad)
			return 2;
	}
	if (optind < argc) {
		fprintf(stderr, CP_PROG " search: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!device || !edge || (!have_bw && sweep != 1) || (!have_dl && sweep != 2)) {
		fprintf(stderr, CP_PROG " search: --device, --edge, --bandwidth and --deadline are needed (see --help)\n");
		return 2;
	}
	if (sweep == 1 && !(sw_a >= 1)) {
		fprintf(stderr, CP_PROG " search: swept bandwidths must be >= 1 bit/s\n");
		return 2;
	}
	if (!root)
		root = cli_default_root();
	char err[512];
	struct cr_model *m = NULL;
	struct cost_model *cm = NULL;
	struct cost_optimizer *opt = NULL;
	cJSON *out = NULL;
	int ret = 1, r;
	const struct cp_world_opts wo = {.device = device, .edge = edge, .codec = codec,
					 .root = root, .model = model_path};
	if (cp_cost_load(&wo, &m, &cm))
		goto done;
	struct cost_opt_cfg cfg = {.cm = cm, .bits_mask = mask};
	if ((r = cost_optimizer_create(algo, &cfg, &opt, err, sizeof(err)))) {
		fprintf(stderr, CP_PROG ": %s\n", err);
		ret = 2;
		goto done;
	}
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "model", cm->model);
	cJSON_AddStringToObject(out, "device", cm->device);
	cJSON_AddStringToObject(out, "edge", cm->edge);
	cJSON_AddStringToObject(out, "algo", opt->name);
	cJSON *ba = cJSON_AddArrayToObject(out, "bits");
	for (int b = 0; b < CF_ACTION_NBITS; b++)
		if (mask & (1u << b))
			cJSON_AddItemToArray(ba, cJSON_CreateNumber(cf_action_bits[b]));
	cJSON *so = cJSON_AddObjectToObject(out, "state");
	cJSON_AddNumberToObject(so, "bandwidth_bps", st.bandwidth_bps);
	cJSON_AddNumberToObject(so, "deadline_ms", st.deadline_ms);
	cJSON_AddNumberToObject(so, "rtt_ms", st.rtt_ms);
	cJSON_AddNumberToObject(so, "queue_ms", st.queue_ms);
	cJSON_AddNumberToObject(so, "batch", st.batch);
	cJSON_AddNumberToObject(so, "load", st.load);
	cJSON_AddNumberToObject(so, "freq_hz", st.freq_hz > 0 ? st.freq_hz : cm->f_hz);
	cJSON_AddNumberToObject(so, "energy_budget_j", st.energy_budget_j);
	int points = sweep ? sw_n : 1;
	cJSON *rows = sweep ? cJSON_AddArrayToObject(out, "rows") : NULL;
	double us_sum = 0;
	for (int i = 0; i < points; i++) {
		struct cost_state s = st;
		double v = points > 1 ? sw_a + (sw_b - sw_a) * i / (points - 1) : sw_a;
		if (sweep == 1)
			s.bandwidth_bps = v;
		else if (sweep == 2)
			s.deadline_ms = v;
		struct cf_action a;
		struct cost_estimate cost;
		if ((r = cost_decide(opt, &s, &a)) || (r = cost_eval(cm, &s, &a, &cost))) {
			fprintf(stderr, CP_PROG ": decision failed: %s\n", strerror(-r));
			goto done;
		}
		double us = decision_us(opt, &s);
		us_sum += us;
		cJSON *ao = action_json(cm, &a, &cost, &s);
		if (sweep) {
			cJSON *row = cJSON_CreateObject();
			cJSON_AddNumberToObject(row, "bandwidth_bps", s.bandwidth_bps);
			cJSON_AddNumberToObject(row, "deadline_ms", s.deadline_ms);
			cJSON_AddItemToObject(row, "action", ao);
			cJSON_AddNumberToObject(row, "decision_us", us);
			cJSON_AddItemToArray(rows, row);
			continue;
		}
		cJSON_AddItemToObject(out, "action", ao);
		cJSON_AddNumberToObject(out, "decision_us", us);
		/* Algorithm 1's inner step per exit: the fastest (p, b) within the energy
		 * budget, whether or not it meets the deadline */
		cJSON *ex = cJSON_AddArrayToObject(out, "fastest_per_exit");
		for (int e = 0; e < cm->n_exits; e++) {
			struct cf_action best = {0}, t;
			struct cost_estimate bc = {0}, tc;
			int have = 0;
			for (int p = 0; p <= cm->ex[e].n; p++)
				for (int b = 0; b < CF_ACTION_NBITS; b++) {
					int last = p == cm->ex[e].n;
					if (last ? b != 0 : !(mask & (1u << b)))
						continue;
					t = (struct cf_action){e, p, last ? 0 : cf_action_bits[b]};
					if (cost_eval(cm, &s, &t, &tc) ||
					    (s.energy_budget_j > 0 && tc.energy_j > s.energy_budget_j))
						continue;
					if (!have || tc.latency_ms < bc.latency_ms) {
						have = 1;
						best = t;
						bc = tc;
					}
				}
			if (have)
				cJSON_AddItemToArray(ex, action_json(cm, &best, &bc, &s));
		}
	}
	if (sweep)
		cJSON_AddNumberToObject(out, "decision_us_mean", us_sum / points);
	ret = cp_print_json(out);
done:
	cJSON_Delete(out);
	cost_optimizer_free(opt);
	free(cm);
	cr_model_free(m);
	return ret;
}

/* ---- eval --------------------------------------------------------------------------- */

static void usage_eval(FILE *f)
{
	fprintf(f,
		"usage: " CP_PROG " eval [--traces DIR] [--algos a,b,...] [--slo FILE] [options]\n"
		"Run decision-makers over the trace-driven environment (docs/policy-env.md, its\n"
		"default settings): for each algo a fresh environment with the same seed, STEPS\n"
		"requests. edgent, device-only and edge-only decide from the state a device\n"
		"estimates (EWMA bandwidth, last reported queue); oracle from the true state;\n"
		"sacd and dqn are trained policy files acting on the device's observation.\n"
		"Prints {\"results\": [{\"algo\", \"slo_attainment\", \"mean_accuracy\",\n"
		"\"mean_latency_ms\", \"p99_latency_ms\", \"energy_j\", \"decision_us\", ...}],\n"
		"\"by_trace_set\": [{\"set\", \"traces\", \"results\"}]} (the last when every trace\n"
		"is replayed and DIR has several sets, e.g. fcc and oboe).\n\n"
		"  --traces DIR     bandwidth traces (default: $COINFER_TRACES, else\n"
		"                   ../shared/data/traces next to the source tree)\n"
		"  --algos LIST     sacd,dqn,edgent,oracle,device-only,edge-only (default:\n"
		"                   sacd and dqn when their files exist, and the other four)\n"
		"  --sacd FILE      SAC-d policy (default: ROOT/models/<model>.<device>.sacd.policy)\n"
		"  --dqn FILE       DQN policy (default: ROOT/models/<model>.<device>.dqn.policy)\n"
		"  --slo FILE       SLO file (one app drawn per episode); default: deadline\n"
		"                   100 ms, no energy budget\n"
		"  --steps N        requests per algo, episodes drawn at random (default:\n"
		"                   every trace once, in order: one episode of 200 each)\n"
		"  --seed N         environment seed (default 1)\n"
		"  --device CLASS   device class (default pi4-est)\n"
		"  --edge CLASS     edge class (default edge-x86)\n"
		"  --codec FILE     codec table (default: ROOT/models/<model>.codec.json)\n"
		"  --root DIR       repository root (default: . or the source tree)\n"
		"  --model PATH     model file (default: the bundled one)\n"
		"  --help           this text\n");
}

/* One algo over traces: its JSON result, or NULL (message printed). */
static cJSON *eval_json(const struct cost_model *cm, const struct sim_trace_set *ts,
			const struct sim_env_cfg *cfg, uint64_t seed, const char *name,
			struct pol_policy *pol, const char *path, int steps)
{
	char err[512];
	struct sim_eval_result res;
	int r = pol ? sim_eval_run_policy(cm, ts, cfg, seed, name, pol, steps, &res, err, sizeof(err))
		    : sim_eval_run(cm, ts, cfg, seed, name, steps, &res, err, sizeof(err));
	if (r) {
		fprintf(stderr, CP_PROG ": %s\n", err);
		return NULL;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "algo", res.algo);
	cJSON_AddNumberToObject(o, "slo_attainment", res.slo_attainment);
	cJSON_AddNumberToObject(o, "mean_accuracy", res.mean_accuracy);
	cJSON_AddNumberToObject(o, "mean_latency_ms", res.mean_latency_ms);
	cJSON_AddNumberToObject(o, "p99_latency_ms", res.p99_latency_ms);
	cJSON_AddNumberToObject(o, "energy_j", res.energy_j);
	cJSON_AddNumberToObject(o, "decision_us", res.decision_us);
	cJSON_AddNumberToObject(o, "deadline_attainment", res.deadline_attainment);
	cJSON_AddNumberToObject(o, "energy_attainment", res.energy_attainment);
	cJSON_AddNumberToObject(o, "mean_bytes", res.mean_bytes);
	cJSON_AddNumberToObject(o, "masked_decisions", res.masked);
	cJSON *top = cJSON_AddArrayToObject(o, "top_actions");
	for (int k = 0; k < res.n_top; k++) {
		cJSON *t = cJSON_CreateObject();
		cJSON_AddNumberToObject(t, "exit", res.top[k].action.exit + 1);
		cJSON_AddNumberToObject(t, "partition", res.top[k].action.partition);
		cJSON_AddNumberToObject(t, "bits", res.top[k].action.bits);
		cJSON_AddNumberToObject(t, "share", (double)res.top[k].count / res.steps);
		cJSON_AddItemToArray(top, t);
	}
	cJSON *fast = cJSON_AddObjectToObject(o, "at_1MBps");
	cJSON_AddNumberToObject(fast, "steps", res.fast.steps);
	cJSON_AddNumberToObject(fast, "mean_latency_ms", res.fast.mean_latency_ms);
	cJSON_AddNumberToObject(fast, "mean_accuracy", res.fast.mean_accuracy);
	cJSON_AddNumberToObject(fast, "slo_attainment", res.fast.slo_attainment);
	if (pol) {
		cJSON_AddStringToObject(o, "policy", path);
		cJSON_AddStringToObject(o, "trained_for", pol->device_class);
	}
	return o;
}

static int cmd_eval(int argc, char **argv)
{
	const char *traces_dir = NULL, *algos = NULL;
	const char *sacd_path = NULL, *dqn_path = NULL;
	const char *slo_path = NULL, *device = "pi4-est", *edge = "edge-x86", *root = NULL;
	const char *model_path = NULL, *codec = NULL;
	double steps = 0, seed = 1;
	static const struct option opts[] = {
		{"traces", required_argument, 0, 't'}, {"algos", required_argument, 0, 'a'},
		{"slo", required_argument, 0, 's'}, {"steps", required_argument, 0, 'n'},
		{"seed", required_argument, 0, 'S'}, {"device", required_argument, 0, 'D'},
		{"edge", required_argument, 0, 'E'}, {"codec", required_argument, 0, 'c'},
		{"root", required_argument, 0, 'R'}, {"model", required_argument, 0, 'm'},
		{"sacd", required_argument, 0, 'Q'}, {"dqn", required_argument, 0, 'N'},
		{"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		int bad = 0;
		switch (c) {
		case 't': traces_dir = optarg; break;
		case 'a': algos = optarg; break;
		case 'Q': sacd_path = optarg; break;
		case 'N': dqn_path = optarg; break;
		case 's': slo_path = optarg; break;
		case 'n': bad = cp_parse_num("steps", optarg, 1, 1e8, &steps) || steps != floor(steps); break;
		case 'S': bad = cp_parse_num("seed", optarg, 0, 9007199254740992.0, &seed) || seed != floor(seed); break;
		case 'D': device = optarg; break;
		case 'E': edge = optarg; break;
		case 'c': codec = optarg; break;
		case 'R': root = optarg; break;
		case 'm': model_path = optarg; break;
		case 'h': usage_eval(stdout); return 0;
		default: usage_eval(stderr); return 2;
		}
		if (bad) {
			fprintf(stderr, CP_PROG " eval: --steps and --seed take integers\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, CP_PROG " eval: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	char err[512];
	int ret = 1;
	cJSON *out = NULL;
	char list[256], algo_buf[128];
	const char *names[16], *paths[16] = {0};
	struct pol_policy *pols[16] = {0};
	int na = 0;
	struct cp_world *w = malloc(sizeof(*w));
	if (!w) {
		fprintf(stderr, CP_PROG " eval: out of memory\n");
		return 1;
	}
	if (!root)
		root = cli_default_root();
	const struct cp_world_opts wo = {traces_dir ? traces_dir : "", slo_path, device, edge,
					 codec, root, model_path};
	if (cp_world_load(w, &wo))
		goto done;
	struct cost_model *cm = w->cm;
	struct sim_trace_set ts = w->ts;
	traces_dir = w->traces_dir;
	/* learned policies: given, or the model's files for this class when present */
	char def_sacd[1024], def_dqn[1024];
	snprintf(def_sacd, sizeof(def_sacd), "%s/models/%s.%s.sacd.policy", root, cm->model, device);
	snprintf(def_dqn, sizeof(def_dqn), "%s/models/%s.%s.dqn.policy", root, cm->model, device);
	if (!algos) {
		struct stat st;
		int hs = sacd_path || !stat(def_sacd, &st), hd = dqn_path || !stat(def_dqn, &st);
		snprintf(algo_buf, sizeof(algo_buf), "%s%sedgent,oracle,device-only,edge-only",
			 hs ? "sacd," : "", hd ? "dqn," : "");
		algos = algo_buf;
	}
	snprintf(list, sizeof(list), "%s", algos);
	for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (strcmp(t, "sacd") && strcmp(t, "dqn") && strcmp(t, "edgent") && strcmp(t, "oracle") &&
		    strcmp(t, "device-only") && strcmp(t, "edge-only")) {
			fprintf(stderr, CP_PROG " eval: unknown algo '%s' (sacd, dqn, edgent, oracle, device-only, edge-only)\n", t);
			goto done;
		}
		if (na == 16) {
			fprintf(stderr, CP_PROG " eval: at most 16 algos\n");
			goto done;
		}
		const char *path = !strcmp(t, "sacd") ? (sacd_path ? sacd_path : def_sacd)
				 : !strcmp(t, "dqn") ? (dqn_path ? dqn_path : def_dqn) : NULL;
		pols[na] = NULL;
		if (path) {
			if (pol_load(path, &pols[na], err, sizeof(err))) {
				fprintf(stderr, CP_PROG " eval: %s: %s\n", t, err);
				goto done;
			}
			paths[na] = path;
		}
		names[na++] = t;
	}
	if (!na) {
		fprintf(stderr, CP_PROG " eval: --algos is empty\n");
		goto done;
	}
	struct sim_env_cfg cfg = cp_world_env(w);
	if (steps == 0) {
		/* all traces: each one episode, in path order */
		cfg.random_traces = 0;
		steps = (double)ts.n * cfg.episode_steps;
	}
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "model", cm->model);
	cJSON_AddStringToObject(out, "device", cm->device);
	cJSON_AddStringToObject(out, "edge", cm->edge);
	cJSON_AddStringToObject(out, "traces_dir", traces_dir);
	cJSON_AddNumberToObject(out, "traces", ts.n);
	cJSON_AddNumberToObject(out, "steps", steps);
	cJSON_AddStringToObject(out, "episodes", cfg.random_traces ? "random traces" : "every trace once, in order");
	cJSON_AddNumberToObject(out, "seed", seed);
	if (slo_path)
		cJSON_AddStringToObject(out, "slo", slo_path);
	else
		cJSON_AddNumberToObject(out, "deadline_ms", cfg.deadline_ms);
	cJSON *arr = cJSON_AddArrayToObject(out, "results");
	for (int i = 0; i < na; i++) {
		cJSON *o = eval_json(cm, &ts, &cfg, (uint64_t)seed, names[i], pols[i], paths[i],
				     (int)steps);
		if (!o)
			goto done;
		cJSON_AddItemToArray(arr, o);
	}
	/* the same per trace set (the first folder under DIR: fcc, oboe), every
	 * trace once; the paths are sorted, so each set is a contiguous run */
	if (!cfg.random_traces) {
		cJSON *sets = cJSON_AddArrayToObject(out, "by_trace_set");
		size_t skip = strlen(traces_dir) + 1;
		for (int lo = 0, hi; lo < ts.n; lo = hi) {
			const char *n0 = ts.tr[lo].name + (strlen(ts.tr[lo].name) > skip ? skip : 0);
			size_t len = strcspn(n0, "/");
			for (hi = lo + 1; hi < ts.n; hi++) {
				const char *n1 = ts.tr[hi].name + (strlen(ts.tr[hi].name) > skip ? skip : 0);
				if (strncmp(n0, n1, len) || n1[len] != n0[len])
					break;
			}
			if (lo == 0 && hi == ts.n)
				break; /* one set: the results above */
			struct sim_trace_set sub = {.n = hi - lo, .tr = ts.tr + lo};
			cJSON *so = cJSON_CreateObject(), *sr;
			cJSON_AddItemToArray(sets, so);
			char set[64];
			snprintf(set, sizeof(set), "%.*s", (int)(len < 63 ? len : 63), n0);
			cJSON_AddStringToObject(so, "set", set);
			cJSON_AddNumberToObject(so, "traces", sub.n);
			cJSON_AddNumberToObject(so, "steps", sub.n * cfg.episode_steps);
			sr = cJSON_AddArrayToObject(so, "results");
			for (int i = 0; i < na; i++) {
				cJSON *o = eval_json(cm, &sub, &cfg, (uint64_t)seed, names[i], pols[i],
						     paths[i], sub.n * cfg.episode_steps);
				if (!o)
					goto done;
				cJSON_AddItemToArray(sr, o);
			}
		}
	}
	ret = cp_print_json(out);
done:
	for (int i = 0; i < na; i++)
		pol_policy_free(pols[i]);
	cJSON_Delete(out);
	cp_world_free(w);
	free(w);
	return ret;
}

/* ---- dispatch ----------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " CP_PROG " COMMAND [options]   (" CP_PROG " COMMAND --help for each)\n"
		"  profile   measure this machine's per-layer latency table -> profile JSON\n"
		"  fit       Edgent (Li et al. 2018) per-layer-type regressions of a profile, with R^2\n"
		"  search    choose (exit, partition, bits) for a state; sweeps of bandwidth/deadline\n"
		"  eval      baselines over bandwidth traces (SLO attainment, accuracy, latency)\n"
		"  figures   Niu et al. (2022) Fig. 6 and Edgent (Li et al. 2018) Figs. 6-7 on our model -> JSON and PNG\n"
		"  train     SAC-d or double DQN in the trace-driven environment -> policy file\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	/* getopt sees the subcommand as argv[0] */
	argc--;
	argv++;
	if (!strcmp(cmd, "profile"))
		return cmd_profile(argc, argv);
	if (!strcmp(cmd, "fit"))
		return cmd_fit(argc, argv);
	if (!strcmp(cmd, "search"))
		return cmd_search(argc, argv);
	if (!strcmp(cmd, "eval"))
		return cmd_eval(argc, argv);
	if (!strcmp(cmd, "train"))
		return cmd_train(argc, argv);
	if (!strcmp(cmd, "figures"))
		return cmd_figures(argc, argv);
	fprintf(stderr, CP_PROG ": unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
