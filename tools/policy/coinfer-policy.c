/* coinfer-policy: the offline side of the policy. `profile` measures this
 * machine's per-layer latency table (cost/measure.c: the agent's and the
 * appliance's `profile` too), `fit` fits Edgent's per-layer-type
 * regressions to a profile, `search` runs an optimizer (Edgent's Algorithm 1 by
 * default) over the cost model of a device class and an edge class and prints the
 * chosen action with its predicted latency, energy, accuracy and bytes, or sweeps
 * bandwidth or deadline (Edgent, Li et al. 2018, Fig. 6 a/c). Everything prints JSON on stdout.
 * docs/cost-model.md has the formulas and file formats. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coinfer/clock.h"
#include "coinfer/cost.h"
#include "coinfer/sim-eval.h"
#include "coinfer/cost-profile.h"
#include "coinfer/errmsg.h"
#include "coinfer/policy-learn.h"
#include "common.h"
#include "figures.h"
#include "table2.h"
#include "train-cmd.h"

/* ---- profile ------------------------------------------------------------------------ */

static int cmd_profile(int argc, char **argv)
{
	static const int batches[] = {1, 2, 4, 8, 16, 32};
	const struct cli_profile_cmd c = {CP_PROG, "this machine's", batches, 6};
	return cli_profile_main(argc, argv, &c);
}

/* ---- fit ---------------------------------------------------------------------------- */

struct fit_opts {
	const char *profile, *cls;
	double batch; /* 0: every batch size of the profile */
	struct cp_world_opts w; /* root and model */
};

#define F(f) CLI_FIELD(struct fit_opts, f)
static const struct cli_opt fit_table[] = {
	{.name = "profile", .kind = CLI_STRING, F(profile), .arg = "FILE",
	 .help = "a profile file (checked against the model)"},
	{.name = "class", .kind = CLI_STRING, F(cls), .arg = "NAME",
	 .help = "the profile of a device class in ROOT/conf/devices"},
	{.name = "batch", .kind = CLI_DOUBLE, F(batch), .lo = 1, .hi = 4096, .arg = "B",
	 .help = "fit only this batch size", .dflt = "every one"},
	CLI_OPT_ROOT(struct fit_opts, w.root),
	CLI_OPT_MODEL(struct fit_opts, w.model),
};
#undef F

static const struct cli_prog fit_prog = {
	.name = CP_PROG " fit",
	.head = "usage: " CP_PROG " fit (--profile FILE | --class NAME) [options]\n"
		"Fit Edgent's per-layer-type linear regressions (Table I variables: conv x1 =\n"
		"input bytes, x2 = (filter/stride)^2 * filters; relu, lrn, dropout/flatten: input\n"
		"bytes; pooling, fc: input and output bytes) to a profile, at every batch size\n"
		"(data sizes of the whole batch). Prints coefficients, R^2 and the points per layer\n"
		"type, and each distinct layer's measured and predicted time, as JSON.\n\n",
	.opts = fit_table, .n_opts = CLI_N(fit_table), .size = sizeof(struct fit_opts)};

static cJSON *fit_types_json(const struct cost_regression *rg)
{
	cJSON *types = cJSON_CreateArray();
	for (int k = 0; k < COST_REG_KINDS; k++) {
		const struct cost_reg_line *ln = &rg->line[k];
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
	return types;
}

/* Each distinct layer of a fitted type: its measured and predicted time at the
 * profile's batch size bi. */
static cJSON *fit_layers_json(const struct cost_profile *p, const struct cost_regression *rg,
			      int bi)
{
	cJSON *layers = cJSON_CreateArray();
	for (int e = 0; e < p->n_exits; e++)
		for (int pos = 0; pos < p->exits[e].n_layers; pos++) {
			const struct cost_profile_layer *L = &p->exits[e].layers[pos];
			int dup = 0;
			for (int e2 = 0; e2 < e && !dup; e2++)
				for (int q = 0; q < p->exits[e2].n_layers && !dup; q++)
					dup = !strcmp(p->exits[e2].layers[q].name, L->name);
			if (dup || !rg->line[cost_reg_kind_of(L->type)].present)
				continue;
			cJSON *lo = cJSON_CreateObject();
			cJSON_AddStringToObject(lo, "name", L->name);
			cJSON_AddStringToObject(lo, "type", cost_layer_type_name(L->type));
			cJSON_AddNumberToObject(lo, "measured_ms", L->mean_ms[bi]);
			cJSON_AddNumberToObject(lo, "predicted_ms",
						cost_regress_predict(rg, L, p->batches[bi]));
			cJSON_AddItemToArray(layers, lo);
		}
	return layers;
}

/* The fit at the profile's batch size bi, into fits: 0, or -1 (said). */
static int fit_batch(const struct cost_profile *p, int bi, cJSON *fits)
{
	char err[512], note[1024];
	struct cost_regression rg;
	if (cost_regress_fit(p, bi, &rg, note, sizeof(note), err, sizeof(err))) {
		fprintf(stderr, CP_PROG ": %s\n", err);
		return -1;
	}
	cJSON *fo = cJSON_CreateObject();
	cJSON_AddItemToArray(fits, fo);
	cJSON_AddNumberToObject(fo, "batch", p->batches[bi]);
	cJSON_AddItemToObject(fo, "types", fit_types_json(&rg));
	cJSON_AddStringToObject(fo, "note", note);
	cJSON_AddItemToObject(fo, "layers", fit_layers_json(p, &rg, bi));
	return 0;
}

/* The model and the profile of --profile or --class: 0, or the exit status
 * (said): 2 for a bad class file, as for a bad option. */
static int fit_load(const struct fit_opts *o, struct cr_model **m, struct cost_profile *p)
{
	char err[1024];
	struct cost_device_class *dc = NULL;
	int r = cli_model_load(o->w.model, m, err, sizeof(err)), status = 1;
	if (!r && o->profile) {
		r = cost_profile_load(o->profile, *m, p, err, sizeof(err));
	} else if (!r) {
		if (!(dc = malloc(sizeof(*dc))))
			r = cf_fail(-ENOMEM, err, sizeof(err), "out of memory");
		else if ((r = cost_class_load(o->w.root, o->cls, dc, err, sizeof(err))))
			status = 2;
		else
			r = cost_class_profile(o->w.root, dc, *m, p, err, sizeof(err));
	}
	free(dc);
	if (r)
		fprintf(stderr, CP_PROG ": %s\n", err);
	return r ? status : 0;
}

static int cmd_fit(int argc, char **argv)
{
	struct fit_opts o = {.w = cp_world_defaults()};
	struct cr_model *m = NULL;
	struct cost_profile *p = NULL;
	cJSON *out = NULL;
	int ret = cli_args(&fit_prog, &o, argc, argv), fitted = 0;
	if (ret != CLI_GO)
		return ret;
	if (!o.profile == !o.cls) {
		fprintf(stderr, CP_PROG " fit: give exactly one of --profile and --class\n");
		return 2;
	}
	ret = 1;
	if (!(p = malloc(sizeof(*p))) || (ret = fit_load(&o, &m, p)))
		goto done;
	ret = 1;
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "device_class", p->device_class);
	cJSON_AddStringToObject(out, "source", cost_profile_source_name(p->source));
	cJSON_AddStringToObject(out, "isa", p->isa);
	cJSON_AddStringToObject(out, "units", "ms; x1, x2 in bytes of the whole batch "
					      "(conv x2: (k/s)^2 * filters)");
	cJSON *fits = cJSON_AddArrayToObject(out, "fits");
	for (int bi = 0; bi < p->n_batches; bi++) {
		if (o.batch && p->batches[bi] != (int)o.batch)
			continue;
		if (fit_batch(p, bi, fits))
			goto done;
		fitted++;
	}
	if (!fitted) {
		fprintf(stderr, CP_PROG ": --batch %g is not in the profile\n", o.batch);
		goto done;
	}
	ret = cp_print_json(out);
done:
	cJSON_Delete(out);
	free(p);
	cr_model_free(m);
	return ret;
}

/* ---- search ------------------------------------------------------------------------- */

enum { SWEEP_NONE, SWEEP_BANDWIDTH, SWEEP_DEADLINE };

struct search_opts {
	struct cp_world_opts w; /* device, edge, codec, root, model */
	struct cost_state st;   /* bandwidth and deadline < 0 until given */
	unsigned mask;          /* of cf_action_bits */
	const char *algo;
	int sweep;              /* SWEEP_*: which of st moves */
	double from, to;
	int count;
};

static int parse_sweep(void *opts, const struct cli_opt *o, const char *arg, int use, char *err,
		       size_t errlen)
{
	struct search_opts *s = opts;
	if (s->sweep)
		return cf_fail(-EINVAL, err, errlen, "one sweep at a time");
	s->sweep = !strcmp(o->name, "sweep-bandwidth") ? SWEEP_BANDWIDTH : SWEEP_DEADLINE;
	return cli_arg_sweep(o->name, arg, 0, 1e12, 10000, &s->from, &s->to, &s->count, err,
			     errlen);
}

#define F(f) CLI_FIELD(struct search_opts, f)
#define NUM(n, f, l, h, a, text)                                                            \
	{.name = n, .kind = CLI_DOUBLE, F(f), .lo = l, .hi = h, .arg = a, .help = text}
static const struct cli_opt search_table[] = {
	CP_COST_OPTS(struct search_opts, w),
	{.name = "bandwidth", .kind = CLI_DOUBLE, F(st.bandwidth_bps), .lo = 1, .hi = 1e12,
	 .arg = "BPS", .help = "uplink bandwidth in bit/s (e.g. 1e6)", .dflt = ""},
	{.name = "deadline", .kind = CLI_DOUBLE, F(st.deadline_ms), .lo = 0, .hi = 1e9,
	 .arg = "MS", .help = "latency requirement (0: none)", .dflt = ""},
	{.name = "bits", .kind = CLI_CUSTOM, F(mask), .parse = cp_parse_bits, .show = cp_show_bits,
	 .arg = "LIST", .help = "allowed bits, e.g. 8 or 4,8"},
	NUM("rtt", st.rtt_ms, 0, 1e7, "MS", "round-trip time"),
	NUM("queue", st.queue_ms, 0, 1e7, "MS", "edge queueing delay"),
	NUM("batch", st.batch, 1, 4096, "N", "expected batch size at the edge"),
	NUM("load", st.load, 0.01, 1000, "X", "device load factor, multiplies device time"),
	{.name = "freq", .kind = CLI_DOUBLE, F(st.freq_hz), .lo = 1e6, .hi = 1e11, .arg = "HZ",
	 .help = "device CPU frequency", .dflt = "the class's"},
	{.name = "energy", .kind = CLI_DOUBLE, F(st.energy_budget_j), .lo = 0, .hi = 1e9,
	 .arg = "J", .help = "device energy budget per request", .dflt = "none"},
	{.name = "algo", .kind = CLI_STRING, F(algo), .arg = "NAME",
	 .help = "edgent, oracle, device-only, edge-only"},
	{.name = "sweep-bandwidth", .kind = CLI_CUSTOM, .parse = parse_sweep, .arg = "A:B:N",
	 .help = "N bandwidths from A to B bit/s"},
	{.name = "sweep-deadline", .kind = CLI_CUSTOM, .parse = parse_sweep, .arg = "A:B:N",
	 .help = "N deadlines from A to B ms"},
};
#undef NUM
#undef F

static const struct cli_prog search_prog = {
	.name = CP_PROG " search",
	.head = "usage: " CP_PROG " search --device CLASS --edge CLASS --bandwidth BPS "
		"--deadline MS [options]\n"
		"Choose (exit, partition, bits) with an optimizer over the cost model of a device\n"
		"class and an edge class (ROOT/conf/devices) and the codec table; print the action\n"
		"and its predicted latency, energy, accuracy and bytes as JSON, with the decision\n"
		"time in microseconds. Sweeps print one row per point (Edgent, Li et al. 2018, "
		"Fig. 6 a/c).\n\n",
	.opts = search_table, .n_opts = CLI_N(search_table), .size = sizeof(struct search_opts)};

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
	cJSON_AddBoolToObject(o, "within_energy",
			      s->energy_budget_j <= 0 || c->energy_j <= s->energy_budget_j);
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

/* The options' checks the table cannot make: 0, or 2 (said). The state's
 * bandwidth and deadline not given are 0. */
static int search_check(struct search_opts *o)
{
	int have_bw = o->st.bandwidth_bps >= 0, have_dl = o->st.deadline_ms >= 0;
	if (!o->w.device || !o->w.edge || (!have_bw && o->sweep != SWEEP_BANDWIDTH) ||
	    (!have_dl && o->sweep != SWEEP_DEADLINE)) {
		fprintf(stderr, CP_PROG " search: --device, --edge, --bandwidth and --deadline are "
				"needed (see --help)\n");
		return 2;
	}
	if (o->sweep == SWEEP_BANDWIDTH && !(o->from >= 1)) {
		fprintf(stderr, CP_PROG " search: swept bandwidths must be >= 1 bit/s\n");
		return 2;
	}
	if (!have_bw)
		o->st.bandwidth_bps = 0;
	if (!have_dl)
		o->st.deadline_ms = 0;
	return 0;
}

/* What every search prints first: the classes, the optimizer, the bits, the state. */
static cJSON *search_head_json(const struct search_opts *o, const struct cost_model *cm,
			       const struct cost_optimizer *opt)
{
	const struct cost_state *st = &o->st;
	cJSON *out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "model", cm->model);
	cJSON_AddStringToObject(out, "device", cm->device);
	cJSON_AddStringToObject(out, "edge", cm->edge);
	cJSON_AddStringToObject(out, "algo", opt->name);
	cJSON *ba = cJSON_AddArrayToObject(out, "bits");
	for (int b = 0; b < CF_ACTION_NBITS; b++)
		if (o->mask & (1u << b))
			cJSON_AddItemToArray(ba, cJSON_CreateNumber(cf_action_bits[b]));
	cJSON *so = cJSON_AddObjectToObject(out, "state");
	cJSON_AddNumberToObject(so, "bandwidth_bps", st->bandwidth_bps);
	cJSON_AddNumberToObject(so, "deadline_ms", st->deadline_ms);
	cJSON_AddNumberToObject(so, "rtt_ms", st->rtt_ms);
	cJSON_AddNumberToObject(so, "queue_ms", st->queue_ms);
	cJSON_AddNumberToObject(so, "batch", st->batch);
	cJSON_AddNumberToObject(so, "load", st->load);
	cJSON_AddNumberToObject(so, "freq_hz", st->freq_hz > 0 ? st->freq_hz : cm->f_hz);
	cJSON_AddNumberToObject(so, "energy_budget_j", st->energy_budget_j);
	return out;
}

/* Algorithm 1's inner step per exit: the fastest (p, b) within the energy budget,
 * whether or not it meets the deadline. */
static cJSON *fastest_per_exit_json(const struct cost_model *cm, const struct cost_state *s,
				    unsigned mask)
{
	cJSON *ex = cJSON_CreateArray();
	for (int e = 0; e < cm->n_exits; e++) {
		struct cf_action best = {0}, t;
		struct cost_estimate bc = {0}, tc;
		int have = 0;
		for (int p = 0; p <= cm->ex[e].n; p++)
			for (int b = 0; b < CF_ACTION_NBITS; b++) {
				int last = p == cm->ex[e].n;
				if (cm->ex[e].in_block[p] || (last ? b != 0 : !(mask & (1u << b))))
					continue;
				t = (struct cf_action){e, p, last ? 0 : cf_action_bits[b]};
				if (cost_eval(cm, s, &t, &tc) ||
				    (s->energy_budget_j > 0 && tc.energy_j > s->energy_budget_j))
					continue;
				if (!have || tc.latency_ms < bc.latency_ms) {
					have = 1;
					best = t;
					bc = tc;
				}
			}
		if (have)
			cJSON_AddItemToArray(ex, action_json(cm, &best, &bc, s));
	}
	return ex;
}

/* Point i of the sweep (the state itself without one), into out or its rows;
 * *us gets its decision time. 0, or -1 (said). */
static int search_point(const struct search_opts *o, const struct cost_model *cm,
			struct cost_optimizer *opt, int i, cJSON *out, cJSON *rows, double *us)
{
	struct cost_state s = o->st;
	struct cf_action a;
	struct cost_estimate cost;
	int points = o->sweep ? o->count : 1, r;
	double v = points > 1 ? o->from + (o->to - o->from) * i / (points - 1) : o->from;
	if (o->sweep == SWEEP_BANDWIDTH)
		s.bandwidth_bps = v;
	else if (o->sweep == SWEEP_DEADLINE)
		s.deadline_ms = v;
	if ((r = cost_decide(opt, &s, &a)) || (r = cost_eval(cm, &s, &a, &cost))) {
		fprintf(stderr, CP_PROG ": decision failed: %s\n", strerror(-r));
		return -1;
	}
	*us = decision_us(opt, &s);
	cJSON *ao = action_json(cm, &a, &cost, &s);
	if (!o->sweep) {
		cJSON_AddItemToObject(out, "action", ao);
		cJSON_AddNumberToObject(out, "decision_us", *us);
		cJSON_AddItemToObject(out, "fastest_per_exit", fastest_per_exit_json(cm, &s, o->mask));
		return 0;
	}
	cJSON *row = cJSON_CreateObject();
	cJSON_AddNumberToObject(row, "bandwidth_bps", s.bandwidth_bps);
	cJSON_AddNumberToObject(row, "deadline_ms", s.deadline_ms);
	cJSON_AddItemToObject(row, "action", ao);
	cJSON_AddNumberToObject(row, "decision_us", *us);
	cJSON_AddItemToArray(rows, row);
	return 0;
}

static int cmd_search(int argc, char **argv)
{
	struct search_opts o = {.w = cp_world_defaults(), .st = {.batch = 1, .load = 1},
				.mask = CF_ACTION_BITS_ALL, .algo = "edgent"};
	char err[512];
	struct cr_model *m = NULL;
	struct cost_model *cm = NULL;
	struct cost_optimizer *opt = NULL;
	cJSON *out = NULL, *rows = NULL;
	double us, us_sum = 0;
	o.w.device = o.w.edge = NULL; /* no default: both are needed */
	o.st.bandwidth_bps = o.st.deadline_ms = -1;
	int ret = cli_args(&search_prog, &o, argc, argv);
	if (ret != CLI_GO || (ret = search_check(&o)))
		return ret;
	if ((ret = cp_cost_load(&o.w, &m, &cm)))
		goto done;
	ret = 1;
	struct cost_opt_cfg cfg = {.cm = cm, .bits_mask = o.mask};
	if (cost_optimizer_create(o.algo, &cfg, &opt, err, sizeof(err))) {
		fprintf(stderr, CP_PROG ": %s\n", err);
		ret = 2;
		goto done;
	}
	out = search_head_json(&o, cm, opt);
	if (o.sweep)
		rows = cJSON_AddArrayToObject(out, "rows");
	for (int i = 0; i < (o.sweep ? o.count : 1); i++, us_sum += us)
		if (search_point(&o, cm, opt, i, out, rows, &us))
			goto done;
	if (o.sweep)
		cJSON_AddNumberToObject(out, "decision_us_mean", us_sum / o.count);
	ret = cp_print_json(out);
done:
	cJSON_Delete(out);
	cost_optimizer_free(opt);
	free(cm);
	cr_model_free(m);
	return ret;
}

/* ---- eval --------------------------------------------------------------------------- */

struct eval_opts {
	struct cp_world_opts w;
	const char *algos, *sacd, *dqn;
	double steps, seed; /* integers; steps 0: every trace once */
};

static void show_all_traces(const void *opts, const struct cli_opt *o, char *buf, size_t len)
{
	snprintf(buf, len, "every trace once, in order: one episode of %d each",
		 sim_env_defaults().episode_steps);
}

#define F(f) CLI_FIELD(struct eval_opts, f)
static const struct cli_opt eval_table[] = {
	{.name = "algos", .kind = CLI_STRING, F(algos), .arg = "LIST",
	 .help = "sacd,dqn,edgent,oracle,device-only,edge-only",
	 .dflt = "sacd and dqn when their files exist, and the other four"},
	{.name = "sacd", .kind = CLI_STRING, F(sacd), .arg = "FILE", .help = "SAC-d policy",
	 .dflt = "ROOT/models/<model>.<device>.sacd.policy"},
	{.name = "dqn", .kind = CLI_STRING, F(dqn), .arg = "FILE", .help = "DQN policy",
	 .dflt = "ROOT/models/<model>.<device>.dqn.policy"},
	{.name = "steps", .kind = CLI_DOUBLE, F(steps), .lo = 1, .hi = 1e8, .arg = "N",
	 .help = "requests per algo, episodes drawn at random", .show = show_all_traces},
	{.name = "seed", .kind = CLI_DOUBLE, F(seed), .lo = 0, .hi = 9007199254740992.0, .arg = "N",
	 .help = "environment seed"},
	CP_WORLD_OPTS(struct eval_opts, w),
};
#undef F

static const struct cli_prog eval_prog = {
	.name = CP_PROG " eval",
	.head = "usage: " CP_PROG " eval [--traces DIR] [--algos a,b,...] [--slo FILE] [options]\n"
		"Run decision-makers over the trace-driven environment (docs/policy-env.md, its\n"
		"default settings): for each algo a fresh environment with the same seed, STEPS\n"
		"requests. edgent, device-only and edge-only decide from the state a device\n"
		"estimates (EWMA bandwidth, last reported queue); oracle from the true state;\n"
		"sacd and dqn are trained policy files acting on the device's observation.\n"
		"Prints {\"results\": [{\"algo\", \"slo_attainment\", \"mean_accuracy\",\n"
		"\"mean_latency_ms\", \"p99_latency_ms\", \"energy_j\", \"decision_us\", ...}],\n"
		"\"by_trace_set\": [{\"set\", \"traces\", \"results\"}]} (the last when every trace\n"
		"is replayed and DIR has several sets, e.g. fcc and oboe).\n\n",
	.opts = eval_table, .n_opts = CLI_N(eval_table), .size = sizeof(struct eval_opts)};

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

#define EVAL_MAX_ALGOS 16

/* The algos of --algos: their names, and the learned ones' policies and files. */
struct eval_algos {
	int n;
	const char *names[EVAL_MAX_ALGOS], *paths[EVAL_MAX_ALGOS];
	struct pol_policy *pols[EVAL_MAX_ALGOS];
	char list[256], def_sacd[1024], def_dqn[1024], dflt[128];
};

static int eval_known(const char *t)
{
	static const char *const known[] = {"sacd", "dqn", "edgent", "oracle", "device-only",
					    "edge-only"};
	for (int i = 0; i < CLI_N(known); i++)
		if (!strcmp(t, known[i]))
			return 1;
	return 0;
}

/* --algos, by default the learned policies whose files exist and the other four;
 * a learned one's file is given, or the model's for the device class. 0, or -1
 * (said); free the policies whatever it returned. */
static int eval_algos_load(const struct eval_opts *o, const struct cost_model *cm,
			   struct eval_algos *ea)
{
	char err[512];
	const char *root = o->w.root, *dev = o->w.device, *algos = o->algos;
	snprintf(ea->def_sacd, sizeof(ea->def_sacd), "%s/models/%s.%s.sacd.policy", root, cm->model,
		 dev);
	snprintf(ea->def_dqn, sizeof(ea->def_dqn), "%s/models/%s.%s.dqn.policy", root, cm->model,
		 dev);
	if (!algos) {
		struct stat st;
		int hs = o->sacd || !stat(ea->def_sacd, &st), hd = o->dqn || !stat(ea->def_dqn, &st);
		snprintf(ea->dflt, sizeof(ea->dflt), "%s%sedgent,oracle,device-only,edge-only",
			 hs ? "sacd," : "", hd ? "dqn," : "");
		algos = ea->dflt;
	}
	snprintf(ea->list, sizeof(ea->list), "%s", algos);
	for (char *save = NULL, *t = strtok_r(ea->list, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		if (!eval_known(t)) {
			fprintf(stderr, CP_PROG " eval: unknown algo '%s' (sacd, dqn, edgent, oracle, "
					"device-only, edge-only)\n", t);
			return -1;
		}
		if (ea->n == EVAL_MAX_ALGOS) {
			fprintf(stderr, CP_PROG " eval: at most %d algos\n", EVAL_MAX_ALGOS);
			return -1;
		}
		const char *path = !strcmp(t, "sacd") ? (o->sacd ? o->sacd : ea->def_sacd)
				 : !strcmp(t, "dqn")  ? (o->dqn ? o->dqn : ea->def_dqn) : NULL;
		if (path && pol_load(path, &ea->pols[ea->n], err, sizeof(err))) {
			fprintf(stderr, CP_PROG " eval: %s: %s\n", t, err);
			return -1;
		}
		ea->paths[ea->n] = path;
		ea->names[ea->n++] = t;
	}
	if (!ea->n) {
		fprintf(stderr, CP_PROG " eval: --algos is empty\n");
		return -1;
	}
	return 0;
}

/* Every algo over ts for steps: the results array, or NULL (said). */
static cJSON *eval_results(const struct cost_model *cm, const struct sim_trace_set *ts,
			   const struct sim_env_cfg *cfg, uint64_t seed,
			   const struct eval_algos *ea, int steps)
{
	cJSON *arr = cJSON_CreateArray();
	for (int i = 0; i < ea->n; i++) {
		cJSON *o = eval_json(cm, ts, cfg, seed, ea->names[i], ea->pols[i], ea->paths[i],
				     steps);
		if (!o) {
			cJSON_Delete(arr);
			return NULL;
		}
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

/* The results per trace set (the first folder under the traces: fcc, oboe), every
 * trace once, into sets; nothing with one set. The paths are sorted, so each set
 * is a contiguous run. 0, or -1 (said). */
static int eval_by_set(const struct cp_world *w, const struct sim_env_cfg *cfg, uint64_t seed,
		       const struct eval_algos *ea, cJSON *sets)
{
	const struct sim_trace_set *ts = &w->ts;
	size_t skip = strlen(w->traces_dir) + 1;
	for (int lo = 0, hi; lo < ts->n; lo = hi) {
		const char *n0 = ts->tr[lo].name + (strlen(ts->tr[lo].name) > skip ? skip : 0);
		size_t len = strcspn(n0, "/");
		for (hi = lo + 1; hi < ts->n; hi++) {
			const char *n1 = ts->tr[hi].name + (strlen(ts->tr[hi].name) > skip ? skip : 0);
			if (strncmp(n0, n1, len) || n1[len] != n0[len])
				break;
		}
		if (lo == 0 && hi == ts->n)
			break; /* one set: the results above */
		struct sim_trace_set sub = {.n = hi - lo, .tr = ts->tr + lo};
		cJSON *so = cJSON_CreateObject(), *sr;
		cJSON_AddItemToArray(sets, so);
		char set[64];
		snprintf(set, sizeof(set), "%.*s", (int)(len < 63 ? len : 63), n0);
		cJSON_AddStringToObject(so, "set", set);
		cJSON_AddNumberToObject(so, "traces", sub.n);
		cJSON_AddNumberToObject(so, "steps", sub.n * cfg->episode_steps);
		if (!(sr = eval_results(w->cm, &sub, cfg, seed, ea, sub.n * cfg->episode_steps)))
			return -1;
		cJSON_AddItemToObject(so, "results", sr);
	}
	return 0;
}

/* What the results ran on. */
static cJSON *eval_head_json(const struct eval_opts *o, const struct cp_world *w,
			     const struct sim_env_cfg *cfg, double steps)
{
	const struct cost_model *cm = w->cm;
	cJSON *out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "model", cm->model);
	cJSON_AddStringToObject(out, "device", cm->device);
	cJSON_AddStringToObject(out, "edge", cm->edge);
	cJSON_AddStringToObject(out, "traces_dir", w->traces_dir);
	cJSON_AddNumberToObject(out, "traces", w->ts.n);
	cJSON_AddNumberToObject(out, "steps", steps);
	cJSON_AddStringToObject(out, "episodes", cfg->random_traces ? "random traces"
								    : "every trace once, in order");
	cJSON_AddNumberToObject(out, "seed", o->seed);
	if (o->w.slo)
		cJSON_AddStringToObject(out, "slo", o->w.slo);
	else
		cJSON_AddNumberToObject(out, "deadline_ms", cfg->deadline_ms);
	return out;
}

static int cmd_eval(int argc, char **argv)
{
	struct eval_opts o = {.w = cp_world_defaults(), .seed = 1};
	struct eval_algos ea = {0};
	struct cp_world *w = NULL;
	cJSON *out = NULL, *res;
	int ret = cli_args(&eval_prog, &o, argc, argv);
	if (ret != CLI_GO)
		return ret;
	if (o.steps != floor(o.steps) || o.seed != floor(o.seed)) {
		fprintf(stderr, CP_PROG " eval: --steps and --seed take integers\n");
		return 2;
	}
	ret = 1;
	if (!(w = malloc(sizeof(*w)))) {
		fprintf(stderr, CP_PROG " eval: out of memory\n");
		return 1;
	}
	if ((ret = cp_world_load(w, &o.w)))
		goto done;
	ret = 1;
	if (eval_algos_load(&o, w->cm, &ea))
		goto done;
	struct sim_env_cfg cfg = cp_world_env(w);
	double steps = o.steps;
	if (steps == 0) {
		/* all traces: each one episode, in path order */
		cfg.random_traces = 0;
		steps = (double)w->ts.n * cfg.episode_steps;
	}
	out = eval_head_json(&o, w, &cfg, steps);
	if (!(res = eval_results(w->cm, &w->ts, &cfg, (uint64_t)o.seed, &ea, (int)steps)))
		goto done;
	cJSON_AddItemToObject(out, "results", res);
	if (!cfg.random_traces &&
	    eval_by_set(w, &cfg, (uint64_t)o.seed, &ea, cJSON_AddArrayToObject(out, "by_trace_set")))
		goto done;
	ret = cp_print_json(out);
done:
	for (int i = 0; i < ea.n; i++)
		pol_policy_free(ea.pols[i]);
	cJSON_Delete(out);
	if (w)
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
		"  figures   Niu et al. (2022) Fig. 6 and Edgent (Li et al. 2018) Figs. 6-7 on our "
		"model -> JSON and PNG\n"
		"  train     SAC-d or double DQN in the trace-driven environment -> policy file\n"
		"  table2    seed 003's Table 2: split-only, pruning, codec, both at one bandwidth\n");
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
	/* the command's option parser sees the command word as argv[0] */
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
	if (!strcmp(cmd, "table2"))
		return cmd_table2(argc, argv);
	fprintf(stderr, CP_PROG ": unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
