/* coinfer-policy figures: Niu et al. (2022) Fig. 6 and Edgent (Li et al. 2018) Figs. 6 and 7
 * redrawn on our model. Every point is a decision over the cost model at a given
 * state, so the figures show what each algorithm would choose and what the cost
 * model predicts for it, not measurements of runs. Writes DIR/<figure>.json, the
 * tab-separated series in DIR/data/ and, with gnuplot, DIR/<figure>.png drawn by
 * tools/policy/fig-*.gp. docs/figures.md says what each figure shows. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "coinfer/cli.h"
#include <unistd.h>

#include "coinfer/cost.h"
#include "coinfer/sim.h"
#include "coinfer/policy-learn.h"
#include "common.h"
#include "figures.h"

extern char **environ;

#define MAX_ALGOS 8
#define BPS_PER_MBYTE 8e6 /* Niu et al.'s bandwidth axis is in megabytes per second */

/* Niu et al. (2022) Fig. 6 sweeps 0-10 MB/s; its SAC-d changes its choice below 0.1 MB/s
 * and at 7, 8 and 9 MB/s, and on our model the offloading threshold sits near
 * 0.25-0.5 MB/s: denser there. */
static const double s000_mbyte[] = {0,   0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1,   1.5, 2,  3,
				    4,   5,    6,   7,   7.5, 8,   8.5,  9,   9.5, 10};
/* Edgent (Li et al. 2018) Fig. 6: 50 kbps to 1.5 Mbps at a 1000 ms deadline; 100 to 1000 ms at
 * 500 kbps. Fig. 7: the same deadlines at 400 kbps. */
static const double s002_kbps[] = {50,  100, 200, 300,  400,  500,  600,  700,
				   800, 900, 1000, 1100, 1200, 1300, 1400, 1500};
static const double s002_deadlines[] = {100, 200, 300, 400, 500, 600, 700, 800, 900, 1000};

struct algo {
	const char *name;        /* JSON key and data file name */
	const char *what;        /* how it decides, for the JSON */
	struct cost_optimizer *opt;
	struct pol_policy *pol;  /* or a learned policy (borrowed) */
	const char *source;      /* the policy's file, or "random weights" */
};

struct fig {
	const char *name;        /* file stem: "seed000-fig6" */
	const char *title;
	const char *reproduces;
	const char *classes;     /* why these device and edge classes */
	const struct cost_model *cm;
	unsigned mask;
	int n_algos;
	struct algo al[MAX_ALGOS];
};

enum sweep_var { SWEEP_BANDWIDTH, SWEEP_DEADLINE };

struct sweep {
	const char *name;        /* "bandwidth" or "deadline" */
	enum sweep_var var;
	const char *unit;        /* of x */
	double per_unit;         /* bit/s per unit of x (bandwidth sweeps) */
	const double *x;
	int n;
	struct cost_state base;   /* the fixed parameters */
};

struct figures_opts {
	struct cp_world_opts w; /* Niu et al.'s device and edge, codec, root, model */
	const char *out, *sacd, *dqn, *dev002, *edge002;
	double deadline;
	unsigned mask002;       /* the Edgent figures' bits, of cf_action_bits */
	int random_pols, no_plot;
};

#define F(f) CLI_FIELD(struct figures_opts, f)
static const struct cli_opt figures_table[] = {
	{.name = "out", .kind = CLI_STRING, F(out), .arg = "DIR",
	 .help = "output directory, created"},
	{.name = "sacd", .kind = CLI_STRING, F(sacd), .arg = "FILE",
	 .help = "trained SAC-d policy for Niu et al. (2022) Fig. 6 (its rows\n"
		 "left out when not given)"},
	{.name = "dqn", .kind = CLI_STRING, F(dqn), .arg = "FILE",
	 .help = "trained DQN policy, the same"},
	{.name = "random-policies", .kind = CLI_FLAG, F(random_pols),
	 .help = "random-weight SAC-d and DQN instead of files, to\n"
		 "exercise the plumbing (their choices mean nothing)"},
	{.name = "device", .kind = CLI_STRING, F(w.device), .arg = "CLASS",
	 .help = "Niu et al. (2022) device; pi4-est estimates its Raspberry Pi 4"},
	{.name = "edge", .kind = CLI_STRING, F(w.edge), .arg = "CLASS",
	 .help = "Niu et al. (2022) edge"},
	{.name = "deadline", .kind = CLI_DOUBLE, F(deadline), .lo = 0, .hi = 1e9, .arg = "MS",
	 .help = "Niu et al. (2022) state's deadline (the environment's,\n"
		 "what the learners train with)"},
	{.name = "edgent-device", .kind = CLI_STRING, F(dev002), .arg = "CLASS",
	 .help = "Edgent (Li et al. 2018) device; rpi3-edgent is its Raspberry Pi 3"},
	{.name = "edgent-edge", .kind = CLI_STRING, F(edge002), .arg = "CLASS",
	 .help = "Edgent (Li et al. 2018) edge; pc-edgent is its desktop PC"},
	{.name = "edgent-bits", .kind = CLI_CUSTOM, F(mask002), .parse = cp_parse_bits,
	 .show = cp_show_bits, .arg = "LIST",
	 .help = "bits allowed in the Edgent (Li et al. 2018) figures (seed\n"
		 "002 sends tensors unquantized; 16 is the least lossy)"},
	{.name = "no-plot", .kind = CLI_FLAG, F(no_plot), .help = "write JSON and data only"},
	CP_OPT_CODEC(struct figures_opts, w.codec),
	CLI_OPT_ROOT(struct figures_opts, w.root),
	CLI_OPT_MODEL(struct figures_opts, w.model),
};
#undef F

static const struct cli_prog figures_prog = {
	.name = CP_PROG " figures",
	.head = "usage: " CP_PROG " figures [--out DIR] [--sacd FILE] [--dqn FILE] [options]\n"
		"Niu et al. (2022) Fig. 6 and Edgent (Li et al. 2018) Figs. 6 and 7 on our model: "
		"for every sweep point\n"
		"and algorithm the chosen (exit, partition, bits) with the cost model's predicted\n"
		"latency, accuracy, energy and bytes. Writes DIR/seed000-fig6.json,\n"
		"DIR/seed002-fig6.json, DIR/seed002-fig7.json, their series in DIR/data/ and,\n"
		"with gnuplot, the PNGs of the same names; prints the list of files as JSON.\n"
		"docs/figures.md describes each figure.\n\n",
	.opts = figures_table, .n_opts = CLI_N(figures_table),
	.size = sizeof(struct figures_opts)};

/* ---- files ------------------------------------------------------------------ */

static int mkdirs(const char *path)
{
	char buf[4096];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p)
			continue;
		char c = *p;
		*p = 0;
		if (mkdir(buf, 0777) && errno != EEXIST)
			return -errno;
		*p = c;
		if (!c)
			break;
	}
	struct stat st;
	if (stat(path, &st))
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int write_json(const char *path, cJSON *o)
{
	char *s = cJSON_Print(o);
	if (!s)
		return -ENOMEM;
	FILE *f = fopen(path, "w");
	int rc = 0;
	if (!f) {
		rc = -errno;
	} else {
		if (fputs(s, f) < 0 || fputc('\n', f) < 0)
			rc = -EIO;
		if (fclose(f) && !rc)
			rc = -errno;
	}
	free(s);
	return rc;
}

/* gnuplot reads "NaN" as a missing point; printf's "inf" would be an error */
static void put_num(FILE *f, double v, const char *sep)
{
	if (isfinite(v))
		fprintf(f, "%.9g%s", v, sep);
	else
		fprintf(f, "NaN%s", sep);
}

/* ---- decisions -------------------------------------------------------------- */

static int algo_decide(const struct fig *fg, const struct algo *al, const struct cost_state *s,
		       struct cf_action *a)
{
	if (al->opt)
		return cost_decide(al->opt, s, a);
	/* a learned policy sees what a device would: the bandwidth as its estimate and
	 * last sample, with offloading masked when that is 0 */
	struct pol_obs_in in;
	sim_obs_from_state(fg->cm, s, &in);
	return pol_policy_decide(al->pol, &in, fg->mask, a, NULL);
}

static int meets(const struct cost_state *s, const struct cost_estimate *c)
{
	return (s->deadline_ms <= 0 || c->latency_ms <= s->deadline_ms) &&
	       (s->energy_budget_j <= 0 || c->energy_j <= s->energy_budget_j);
}

/* Edgent (Li et al. 2018) Fig. 7 plots a negative accuracy for a missed deadline. */
static double plotted_accuracy(const struct cost_state *s, const struct cost_estimate *c)
{
	return meets(s, c) ? c->accuracy : -c->accuracy;
}

static cJSON *choice_json(const struct cost_model *cm, const struct cost_state *s,
			  const struct cf_action *a, const struct cost_estimate *c)
{
	const struct cost_exit *x = &cm->ex[a->exit];
	int p = a->partition;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "exit", a->exit + 1);
	cJSON_AddNumberToObject(o, "partition", p);
	cJSON_AddNumberToObject(o, "n_layers", x->n);
	/* the last layer run on the device: what is sent, unless p = N_e */
	cJSON_AddStringToObject(o, "layer", x->layer[p]);
	cJSON_AddStringToObject(o, "where", p == 0 ? "edge-only" : p == x->n ? "device-only" : "split");
	cJSON_AddNumberToObject(o, "bits", p == x->n ? 0 : a->bits);
	/* cJSON writes the infinities of a frame sent over no uplink as null */
	cJSON_AddNumberToObject(o, "latency_ms", c->latency_ms);
	cJSON_AddNumberToObject(o, "accuracy", c->accuracy);
	cJSON_AddNumberToObject(o, "energy_j", c->energy_j);
	cJSON_AddNumberToObject(o, "bytes", c->bytes);
	cJSON_AddBoolToObject(o, "meets_deadline", s->deadline_ms <= 0 || c->latency_ms <= s->deadline_ms);
	cJSON_AddNumberToObject(o, "plotted_accuracy", plotted_accuracy(s, c));
	return o;
}

static cJSON *state_json(const struct cost_model *cm, const struct cost_state *s,
			 const struct sweep *sw)
{
	cJSON *o = cJSON_CreateObject();
	if (sw && sw->var == SWEEP_BANDWIDTH)
		cJSON_AddStringToObject(o, "bandwidth_bps", "swept");
	else
		cJSON_AddNumberToObject(o, "bandwidth_bps", s->bandwidth_bps);
	if (sw && sw->var == SWEEP_DEADLINE)
		cJSON_AddStringToObject(o, "deadline_ms", "swept");
	else
		cJSON_AddNumberToObject(o, "deadline_ms", s->deadline_ms);
	cJSON_AddNumberToObject(o, "rtt_ms", s->rtt_ms);
	cJSON_AddNumberToObject(o, "queue_ms", s->queue_ms);
	cJSON_AddNumberToObject(o, "batch", s->batch);
	cJSON_AddNumberToObject(o, "load", s->load);
	cJSON_AddNumberToObject(o, "freq_hz", s->freq_hz > 0 ? s->freq_hz : cm->f_hz);
	cJSON_AddNumberToObject(o, "energy_budget_j", s->energy_budget_j);
	return o;
}

static int run_sweep(const struct fig *fg, const struct sweep *sw, const char *data_dir,
		     cJSON *sweeps)
{
	const struct cost_model *cm = fg->cm;
	FILE *f[MAX_ALGOS] = {0};
	char path[4096];
	int rc = 0;
	cJSON *so = cJSON_CreateObject();
	cJSON_AddItemToArray(sweeps, so);
	cJSON_AddStringToObject(so, "variable", sw->name);
	cJSON_AddStringToObject(so, "unit", sw->unit);
	cJSON_AddItemToObject(so, "fixed", state_json(cm, &sw->base, sw));
	cJSON *pts = cJSON_AddArrayToObject(so, "points");
	for (int k = 0; k < fg->n_algos; k++) {
		snprintf(path, sizeof(path), "%s/%s-%s-%s.tsv", data_dir, fg->name, sw->name,
			 fg->al[k].name);
		if (!(f[k] = fopen(path, "w"))) {
			rc = -errno;
			fprintf(stderr, CP_PROG " figures: cannot write %s: %s\n", path, strerror(errno));
			goto out;
		}
		fprintf(f[k], "# %s, %s, %s sweep (%s); device %s, edge %s\n"
			      "# x\texit\tpartition\tbits\tlatency_ms\taccuracy\tenergy_j\tbytes\tmeets"
			      "\tplotted_accuracy\tn_layers\n",
			fg->title, fg->al[k].name, sw->name, sw->unit, cm->device, cm->edge);
	}
	for (int i = 0; i < sw->n; i++) {
		struct cost_state s = sw->base;
		if (sw->var == SWEEP_BANDWIDTH)
			s.bandwidth_bps = sw->x[i] * sw->per_unit;
		else
			s.deadline_ms = sw->x[i];
		cJSON *po = cJSON_CreateObject(), *ch;
		cJSON_AddItemToArray(pts, po);
		cJSON_AddNumberToObject(po, "x", sw->x[i]);
		cJSON_AddNumberToObject(po, "bandwidth_bps", s.bandwidth_bps);
		cJSON_AddNumberToObject(po, "deadline_ms", s.deadline_ms);
		ch = cJSON_AddObjectToObject(po, "choices");
		for (int k = 0; k < fg->n_algos; k++) {
			struct cf_action a;
			struct cost_estimate c;
			if ((rc = algo_decide(fg, &fg->al[k], &s, &a)) || (rc = cost_eval(cm, &s, &a, &c))) {
				fprintf(stderr, CP_PROG " figures: %s: %s at %s %g %s: %s\n", fg->title,
					fg->al[k].name, sw->name, sw->x[i], sw->unit, strerror(-rc));
				goto out;
			}
			int bits = a.partition == cm->ex[a.exit].n ? 0 : a.bits;
			cJSON_AddItemToObject(ch, fg->al[k].name, choice_json(cm, &s, &a, &c));
			fprintf(f[k], "%.9g\t%d\t%d\t%d\t", sw->x[i], a.exit + 1, a.partition,
				bits);
			put_num(f[k], c.latency_ms, "\t");
			put_num(f[k], c.accuracy, "\t");
			put_num(f[k], c.energy_j, "\t");
			put_num(f[k], c.bytes, "\t");
			fprintf(f[k], "%d\t", meets(&s, &c));
			put_num(f[k], plotted_accuracy(&s, &c), "\t");
			fprintf(f[k], "%d\n", cm->ex[a.exit].n);
		}
	}
out:
	for (int k = 0; k < fg->n_algos; k++)
		if (f[k] && fclose(f[k]) && !rc) {
			rc = -errno;
			fprintf(stderr, CP_PROG " figures: writing %s's data: %s\n", fg->name, strerror(errno));
		}
	return rc;
}

static cJSON *fig_json(const struct fig *fg)
{
	const struct cost_model *cm = fg->cm;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "figure", fg->title);
	cJSON_AddStringToObject(o, "reproduces", fg->reproduces);
	cJSON_AddStringToObject(o, "model", cm->model);
	cJSON_AddStringToObject(o, "device", cm->device);
	cJSON_AddStringToObject(o, "edge", cm->edge);
	cJSON_AddStringToObject(o, "classes", fg->classes);
	cJSON_AddStringToObject(o, "predicted_by",
				"the cost model (docs/cost-model.md): no run is measured");
	const struct cost_exit *deep = &cm->ex[cm->n_plain - 1];
	cJSON_AddNumberToObject(o, "device_deepest_exit_ms", deep->dev_ms[deep->n]);
	cJSON *ba = cJSON_AddArrayToObject(o, "bits");
	for (int b = 0; b < CF_ACTION_NBITS; b++)
		if (fg->mask & (1u << b))
			cJSON_AddItemToArray(ba, cJSON_CreateNumber(cf_action_bits[b]));
	cJSON *ex = cJSON_AddArrayToObject(o, "exits");
	for (int e = 0; e < cm->n_exits; e++) {
		cJSON *eo = cJSON_CreateObject();
		cJSON_AddNumberToObject(eo, "exit", e + 1);
		cJSON_AddNumberToObject(eo, "n_layers", cm->ex[e].n);
		cJSON_AddNumberToObject(eo, "fp32_accuracy", cm->ex[e].fp32_accuracy);
		cJSON_AddNumberToObject(eo, "device_ms", cm->ex[e].dev_ms[cm->ex[e].n]);
		cJSON_AddItemToArray(ex, eo);
	}
	cJSON *al = cJSON_AddArrayToObject(o, "algorithms");
	for (int k = 0; k < fg->n_algos; k++) {
		const struct algo *a = &fg->al[k];
		cJSON *ao = cJSON_CreateObject();
		cJSON_AddStringToObject(ao, "name", a->name);
		cJSON_AddStringToObject(ao, "decides", a->what);
		if (a->pol) {
			cJSON_AddStringToObject(ao, "policy", a->source);
			cJSON_AddStringToObject(ao, "policy_device_class", a->pol->device_class);
			cJSON_AddNumberToObject(ao, "policy_updates", (double)a->pol->updates);
		}
		cJSON_AddItemToArray(al, ao);
	}
	return o;
}

/* ---- learned policies ------------------------------------------------------- */

/* A policy decides by index into its own action table: every entry must be an
 * action of this cost model, or a decision could not be evaluated. */
static int check_policy(const struct cost_model *cm, const struct pol_policy *p, const char *what)
{
	if (p->state_dim != POL_ENV_STATE_DIM || !p->actions) {
		fprintf(stderr, CP_PROG " figures: %s: %s (state dimension %d, want %d)\n", what,
			p->actions ? "not an observation of the environment" : "no action table",
			p->state_dim, POL_ENV_STATE_DIM);
		return -EINVAL;
	}
	if (p->obs_spec != POL_OBS_SPEC) {
		fprintf(stderr, CP_PROG " figures: %s: observation layout %u, this build's is %d\n", what,
			(unsigned)p->obs_spec, POL_OBS_SPEC);
		return -EINVAL;
	}
	struct cost_state probe = {.bandwidth_bps = 1e6};
	for (int i = 0; i < p->n_actions; i++) {
		struct cost_estimate c;
		const struct cf_action *a = &p->actions[i];
		if (cost_eval(cm, &probe, a, &c)) {
			fprintf(stderr, CP_PROG " figures: %s: output %d is (exit %d, partition %d, "
					"bits %d), not an action of %s\n",
				what, i, a->exit + 1, a->partition, a->bits, cm->model);
			return -EINVAL;
		}
	}
	if (strcmp(p->device_class, cm->device))
		fprintf(stderr, CP_PROG " figures: warning: %s was trained for device class %s, "
				"the figure uses %s\n",
			what, p->device_class, cm->device);
	return 0;
}

static int random_policy(const struct cost_model *cm, enum pol_algo kind, struct pol_policy **out)
{
	int n = cost_actions(cm, CF_ACTION_BITS_ALL, NULL, 0), rc;
	struct cf_action *acts = malloc((size_t)n * sizeof(*acts));
	char err[256] = "";
	*out = NULL;
	if (!acts)
		return -ENOMEM;
	cost_actions(cm, CF_ACTION_BITS_ALL, acts, n);
	if (kind == POL_ALGO_SACD) {
		struct pol_sacd_cfg c = pol_sacd_defaults(POL_ENV_STATE_DIM, n);
		struct pol_sacd *ag = NULL;
		c.seed = 1;
		if (!(rc = pol_sacd_create(&c, &ag, err, sizeof(err))))
			rc = pol_sacd_export(ag, NULL, NULL, out);
		pol_sacd_free(ag);
	} else {
		struct pol_dqn_cfg c = pol_dqn_defaults(POL_ENV_STATE_DIM, n);
		struct pol_dqn *ag = NULL;
		c.seed = 2;
		if (!(rc = pol_dqn_create(&c, &ag, err, sizeof(err))))
			rc = pol_dqn_export(ag, NULL, NULL, out);
		pol_dqn_free(ag);
	}
	const struct cost_exit *deep = &cm->ex[cm->n_plain - 1];
	if (!rc)
		rc = pol_policy_set_meta(*out, acts, n, cm->device, cm->model, deep->dev_ms[deep->n]);
	if (rc) {
		fprintf(stderr, CP_PROG " figures: random %s policy: %s\n",
			kind == POL_ALGO_SACD ? "SAC-d" : "DQN",
			*err ? err : strerror(-rc));
		pol_policy_free(*out);
		*out = NULL;
	}
	free(acts);
	return rc;
}

/* ---- plots ------------------------------------------------------------------ */

/* gnuplot's single-quoted strings double an embedded quote */
static int gp_quote(char *dst, size_t len, const char *s)
{
	size_t j = 0;
	for (; *s; s++) {
		if (j + 3 >= len)
			return -ENAMETOOLONG;
		if (*s == '\'')
			dst[j++] = '\'';
		dst[j++] = *s;
	}
	dst[j] = 0;
	return 0;
}

static int find_script(const char *root, const char *name, char *path, size_t len)
{
	snprintf(path, len, "%s/tools/policy/%s", root, name);
	if (!access(path, R_OK))
		return 0;
	snprintf(path, len, "%s/tools/policy/%s", cli_source_root(), name);
	return access(path, R_OK) ? -ENOENT : 0;
}

#define NO_GNUPLOT                                                                         \
	CP_PROG " figures: gnuplot not found (Debian: apt-get install gnuplot-nox, or "      \
		"scripts/install-deps.sh): PNGs not drawn, JSON and data written\n"

/* 0 when drawn; -ENOENT when gnuplot is not installed (message printed). */
static int gnuplot(const char *script, const char *assign)
{
	char *argv[] = {"gnuplot", "-e", (char *)assign, (char *)script, NULL};
	pid_t pid;
	int st, rc = posix_spawnp(&pid, "gnuplot", NULL, NULL, argv, environ);
	if (rc) {
		if (rc == ENOENT)
			fputs(NO_GNUPLOT, stderr);
		else
			fprintf(stderr, CP_PROG " figures: cannot run gnuplot: %s\n", strerror(rc));
		return -rc;
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
		fputs(NO_GNUPLOT, stderr);
		return -ENOENT;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, CP_PROG " figures: gnuplot failed on %s\n", script);
		return -EIO;
	}
	return 0;
}

static int plot(const char *root, const char *script_name, const char *out, const struct fig *fg,
		const char *extra)
{
	char script[4096], q_out[4096], assign[8192], algos[256] = "";
	if (find_script(root, script_name, script, sizeof(script))) {
		fprintf(stderr, CP_PROG " figures: %s not found under %s/tools/policy or the source tree\n",
			script_name, root);
		return -ENOENT;
	}
	if (gp_quote(q_out, sizeof(q_out), out))
		return -ENAMETOOLONG;
	for (int k = 0; k < fg->n_algos; k++)
		snprintf(algos + strlen(algos), sizeof(algos) - strlen(algos), "%s%s", k ? " " : "",
			 fg->al[k].name);
	int n = snprintf(assign, sizeof(assign),
			 "data='%s/data/%s'; out='%s/%s.png'; algos='%s'; device='%s'; edge='%s'; %s",
			 q_out, fg->name, q_out, fg->name, algos, fg->cm->device, fg->cm->edge,
			 extra ? extra : "");
	if (n < 0 || n >= (int)sizeof(assign)) {
		fprintf(stderr, CP_PROG " figures: output path too long for gnuplot: %s\n", out);
		return -ENAMETOOLONG;
	}
	return gnuplot(script, assign);
}

/* ---- the command ------------------------------------------------------------ */

static int add_opt(struct fig *fg, const char *name, const char *optname, const char *what,
		   const struct cf_action *fixed)
{
	char err[512];
	struct algo *a = &fg->al[fg->n_algos];
	struct cost_opt_cfg cfg = {.cm = fg->cm, .bits_mask = fg->mask};
	if (fixed)
		cfg.fixed = *fixed;
	int rc = cost_optimizer_create(optname, &cfg, &a->opt, err, sizeof(err));
	if (rc) {
		fprintf(stderr, CP_PROG " figures: %s\n", err);
		return rc;
	}
	a->name = name;
	a->what = what;
	fg->n_algos++;
	return 0;
}

static void free_fig(struct fig *fg)
{
	for (int k = 0; k < fg->n_algos; k++)
		cost_optimizer_free(fg->al[k].opt);
	fg->n_algos = 0;
}

/* What the three figures are drawn from, and what they are. */
struct figures {
	struct cr_model *m;
	struct cost_model *cm000, *cm002; /* Niu et al.'s classes, Edgent's */
	struct pol_policy *sacd, *dqn;
	struct fig fig[3];
	cJSON *js[3];
};

static void figures_free(struct figures *fs)
{
	for (int i = 0; i < 3; i++) {
		cJSON_Delete(fs->js[i]);
		free_fig(&fs->fig[i]);
	}
	pol_policy_free(fs->sacd);
	pol_policy_free(fs->dqn);
	free(fs->cm000);
	free(fs->cm002);
	cr_model_free(fs->m);
}

/* A learned policy of --sacd or --dqn, checked against the cost model: 0 or -1 (said). */
static int load_policy(const struct cost_model *cm, const char *opt, const char *path,
		       struct pol_policy **p)
{
	char err[512];
	if (pol_load(path, p, err, sizeof(err))) {
		fprintf(stderr, CP_PROG " figures: --%s: %s\n", opt, err);
		return -1;
	}
	return check_policy(cm, *p, path) ? -1 : 0;
}

/* The model, both cost models and the policies: 0, or -1 (said). */
static int figures_load(const struct figures_opts *o, struct figures *fs)
{
	char err[512];
	const struct cp_world_opts *w = &o->w;
	if (cli_model_load(w->model, &fs->m, err, sizeof(err)) ||
	    cost_load(fs->m, w->root, w->device, w->edge, w->codec, &fs->cm000, err, sizeof(err)) ||
	    cost_load(fs->m, w->root, o->dev002, o->edge002, w->codec, &fs->cm002, err,
		      sizeof(err))) {
		fprintf(stderr, CP_PROG ": %s\n", err);
		return -1;
	}
	if (o->random_pols && (random_policy(fs->cm000, POL_ALGO_SACD, &fs->sacd) ||
			       random_policy(fs->cm000, POL_ALGO_DQN, &fs->dqn)))
		return -1;
	if ((o->sacd && load_policy(fs->cm000, "sacd", o->sacd, &fs->sacd)) ||
	    (o->dqn && load_policy(fs->cm000, "dqn", o->dqn, &fs->dqn)))
		return -1;
	return 0;
}

/* Niu et al. (2022) Fig. 6: the learned policies against the network run whole on
 * the device, with Edgent and the oracle for reference, at the state the learners
 * train in with only the bandwidth moving. 0, or -1 (said). */
static int fig_seed000(const struct figures_opts *o, struct figures *fs, const char *data_dir)
{
	struct fig *f = &fs->fig[0];
	const struct cost_model *cm = fs->cm000;
	const struct cf_action whole = {cm->n_plain - 1, cm->ex[cm->n_plain - 1].n, 0};
	*f = (struct fig){
		.name = "seed000-fig6", .title = "Niu et al. (2022) Fig. 6",
		.reproduces = "(a) latency and (b) accuracy against the uplink bandwidth, 0-10 MB/s, "
			      "for SAC-d, DQN and the network run whole on the device; (c) the "
			      "exit, partition and bits SAC-d chooses",
		.classes = "Niu et al. ran a Raspberry Pi 4 against a laptop (i7-10710U): device "
			   "pi4-est (our Pi 4 estimate), edge edge-x86 (this machine's measured "
			   "profile, the nearest class to a laptop core)",
		.cm = cm, .mask = CF_ACTION_BITS_ALL,
	};
	if (fs->sacd)
		f->al[f->n_algos++] = (struct algo){
			"sacd", "the SAC-d actor's most probable valid action", NULL, fs->sacd,
			o->sacd ? o->sacd : "random weights"};
	if (fs->dqn)
		f->al[f->n_algos++] = (struct algo){"dqn", "the double DQN's highest valid Q-value",
						    NULL, fs->dqn, o->dqn ? o->dqn : "random weights"};
	if (add_opt(f, "on-device", "fixed", "the deepest exit whole on the device, no early exit "
					     "(Niu et al.'s \"On Device\")", &whole) ||
	    add_opt(f, "edgent", "edgent", "Edgent's search (Li et al. 2018, Algorithm 1) over the cost model", NULL) ||
	    add_opt(f, "oracle", "oracle", "the most accurate action within the deadline "
					   "(exhaustive)", NULL))
		return -1;
	const struct sweep sw = {
		.name = "bandwidth", .var = SWEEP_BANDWIDTH, .unit = "MB/s", .per_unit = BPS_PER_MBYTE,
		.x = s000_mbyte, .n = (int)(sizeof(s000_mbyte) / sizeof(s000_mbyte[0])),
		.base = {.deadline_ms = o->deadline, .rtt_ms = sim_env_defaults().rtt_ms, .batch = 1,
			 .load = 1},
	};
	fs->js[0] = fig_json(f);
	cJSON_AddNumberToObject(fs->js[0], "bytes_per_MB", 1e6);
	return run_sweep(f, &sw, data_dir, cJSON_AddArrayToObject(fs->js[0], "sweeps"));
}

/* Edgent (Li et al. 2018) Fig. 6: Edgent's choices over bandwidth and over
 * deadlines. Its Algorithm 1 has no round trip or queue term: both 0. */
static int fig_seed002_6(const struct figures_opts *o, struct figures *fs, const char *data_dir)
{
	struct fig *f = &fs->fig[1];
	*f = (struct fig){
		.name = "seed002-fig6", .title = "Li et al. (2018) Fig. 6",
		.reproduces = "Edgent's chosen exit and partition (a) against the bandwidth, 50 "
			      "kbps-1.5 Mbps, at a 1000 ms deadline and (c) against the deadline, "
			      "100-1000 ms, at 500 kbps; (b) the predicted latency",
		.classes = "Li et al. ran a Raspberry Pi 3 against a desktop PC (quad-core Intel, "
			   "3.4 GHz): device rpi3-edgent and edge pc-edgent, its Table II "
			   "regressions applied to our layers",
		.cm = fs->cm002, .mask = o->mask002,
	};
	if (add_opt(f, "edgent", "edgent", "Edgent's search (Li et al. 2018, Algorithm 1) over the cost model", NULL))
		return -1;
	const struct sweep bw = {
		.name = "bandwidth", .var = SWEEP_BANDWIDTH, .unit = "kbps", .per_unit = 1e3,
		.x = s002_kbps, .n = (int)(sizeof(s002_kbps) / sizeof(s002_kbps[0])),
		.base = {.deadline_ms = 1000, .batch = 1, .load = 1},
	};
	const struct sweep dl = {
		.name = "deadline", .var = SWEEP_DEADLINE, .unit = "ms", .per_unit = 1,
		.x = s002_deadlines, .n = (int)(sizeof(s002_deadlines) / sizeof(s002_deadlines[0])),
		.base = {.bandwidth_bps = 500e3, .batch = 1, .load = 1},
	};
	fs->js[1] = fig_json(f);
	cJSON *sweeps = cJSON_AddArrayToObject(fs->js[1], "sweeps");
	return run_sweep(f, &bw, data_dir, sweeps) || run_sweep(f, &dl, data_dir, sweeps) ? -1 : 0;
}

/* Edgent (Li et al. 2018) Fig. 7: accuracy under deadlines at 400 kbps, Edgent
 * against its two knobs alone and the two extremes. */
static int fig_seed002_7(const struct figures_opts *o, struct figures *fs, const char *data_dir)
{
	struct fig *f = &fs->fig[2];
	const struct cost_model *cm = fs->cm002;
	const struct cf_action whole = {cm->n_plain - 1, cm->ex[cm->n_plain - 1].n, 0};
	*f = (struct fig){
		.name = "seed002-fig7", .title = "Li et al. (2018) Fig. 7",
		.reproduces = "accuracy under deadlines of 100-1000 ms at 400 kbps for Edgent, "
			      "device-only, edge-only, partition-only and right-sizing-only; "
			      "negative when the deadline is missed",
		.classes = fs->fig[1].classes, .cm = cm, .mask = o->mask002,
	};
	if (add_opt(f, "edgent", "edgent", "Edgent's search (Li et al. 2018, Algorithm 1) over the cost model", NULL) ||
	    add_opt(f, "device-only", "fixed", "the deepest exit whole on the device, no early "
					       "exit", &whole) ||
	    add_opt(f, "edge-only", "edge-only", "the deepest exit whole on the edge, the input "
						 "sent", NULL) ||
	    add_opt(f, "partition-only", "partition-only", "the deepest exit at its fastest "
							   "partition (no early exit)", NULL) ||
	    add_opt(f, "right-sizing-only", "right-sizing-only", "the most accurate exit whose "
			    "whole run on the device meets the deadline (no partitioning)", NULL))
		return -1;
	const struct sweep dl = {
		.name = "deadline", .var = SWEEP_DEADLINE, .unit = "ms", .per_unit = 1,
		.x = s002_deadlines, .n = (int)(sizeof(s002_deadlines) / sizeof(s002_deadlines[0])),
		.base = {.bandwidth_bps = 400e3, .batch = 1, .load = 1},
	};
	fs->js[2] = fig_json(f);
	return run_sweep(f, &dl, data_dir, cJSON_AddArrayToObject(fs->js[2], "sweeps"));
}

/* DIR/<figure>.json, their names into files: 0, or -1 (said). */
static int write_figures(const char *out_dir, const struct figures *fs, cJSON *files)
{
	for (int i = 0; i < 3; i++) {
		char path[4096];
		int rc;
		snprintf(path, sizeof(path), "%s/%s.json", out_dir, fs->fig[i].name);
		if ((rc = write_json(path, fs->js[i]))) {
			fprintf(stderr, CP_PROG " figures: cannot write %s: %s\n", path, strerror(-rc));
			return -1;
		}
		cJSON_AddItemToArray(files, cJSON_CreateString(path));
	}
	return 0;
}

/* The PNGs, their names into files: 1 when all three were drawn, else 0 (said). */
static int plot_figures(const struct figures_opts *o, const struct figures *fs, cJSON *files)
{
	/* panels (c) and (d) of Niu et al.'s figure show one algorithm's choices
	 * each: the learners when given, else the oracle and Edgent */
	static const char *const scripts[3] = {"fig-seed000-6.gp", "fig-seed002-6.gp",
					       "fig-seed002-7.gp"};
	char extra[128];
	snprintf(extra, sizeof(extra), "featured1='%s'; featured2='%s'",
		 fs->sacd ? "sacd" : "oracle", fs->dqn ? "dqn" : "edgent");
	for (int i = 0; i < 3; i++) {
		char path[4096];
		if (plot(o->w.root, scripts[i], o->out, &fs->fig[i], i ? NULL : extra))
			return 0;
		snprintf(path, sizeof(path), "%s/%s.png", o->out, fs->fig[i].name);
		cJSON_AddItemToArray(files, cJSON_CreateString(path));
	}
	return 1;
}

int cmd_figures(int argc, char **argv)
{
	struct figures_opts o = {.w = cp_world_defaults(), .out = "build/figures",
				 .dev002 = "rpi3-edgent", .edge002 = "pc-edgent",
				 .deadline = sim_env_defaults().deadline_ms,
				 .mask002 = 1u << cf_action_bits_index(16)};
	struct figures fs = {0};
	char data_dir[4096];
	cJSON *summary = NULL;
	int ret = cli_args(&figures_prog, &o, argc, argv), rc, plotted = 0;
	if (ret != CLI_GO)
		return ret;
	if (o.random_pols && (o.sacd || o.dqn)) {
		fprintf(stderr, CP_PROG " figures: --random-policies replaces --sacd and --dqn; give "
				"one or the other\n");
		return 2;
	}
	ret = 1;
	if (figures_load(&o, &fs))
		goto done;
	snprintf(data_dir, sizeof(data_dir), "%s/data", o.out);
	if ((rc = mkdirs(data_dir))) {
		fprintf(stderr, CP_PROG " figures: cannot create %s: %s\n", data_dir, strerror(-rc));
		goto done;
	}
	if (fig_seed000(&o, &fs, data_dir) || fig_seed002_6(&o, &fs, data_dir) ||
	    fig_seed002_7(&o, &fs, data_dir))
		goto done;
	summary = cJSON_CreateObject();
	cJSON_AddStringToObject(summary, "out", o.out);
	cJSON *files = cJSON_AddArrayToObject(summary, "files");
	if (write_figures(o.out, &fs, files))
		goto done;
	if (!o.no_plot)
		plotted = plot_figures(&o, &fs, files);
	cJSON_AddBoolToObject(summary, "plotted", plotted);
	if (cp_print_json(summary))
		goto done;
	ret = o.no_plot || plotted ? 0 : 1;
done:
	cJSON_Delete(summary);
	figures_free(&fs);
	return ret;
}
