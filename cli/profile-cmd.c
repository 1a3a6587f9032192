/* The `profile` command shared by coinfer-policy, coinfer-agent and
 * coinfer-appliance: options, the measurement (cost/measure.c), the file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/cli.h"
#include "coinfer/cost-profile.h"
#include "coinfer/errmsg.h"
#include "coinfer/kernels.h"
#include "coinfer/layer-timer.h"
#include "coinfer/model.h"

/* ---- the command -------------------------------------------------------------------- */

#define STR_(x) #x
#define STR(x) STR_(x)

struct profile_args {
	struct cost_profile_opts o;
	const char *model, *isa, *out;
};

static const char *const clocks[] = {"wall", "cpu", NULL};

#define F(f) CLI_FIELD(struct profile_args, f)
static const struct cli_opt opts[] = {
	{.name = "class", .kind = CLI_STRING, F(o.device_class), .arg = "NAME",
	 .help = "device_class recorded in the file;\n--device-class NAME is the same",
	 .dflt = "local-ISA"},
	{.name = "device-class", .kind = CLI_STRING, F(o.device_class)},
	{.name = "exit", .kind = CLI_INT, F(o.only_exit), .lo = 1, .hi = COST_MAX_EXITS, .arg = "E",
	 .help = "measure exit E only (a partial profile, for inspection)", .dflt = "every exit"},
	{.name = "batches", .kind = CLI_LIST, F(o.batches), .max = COST_MAX_BATCHES, .lo = 1,
	 .hi = 4096, .count_off = offsetof(struct profile_args, o.n_batches),
	 .help = "batch sizes, ascending"},
	{.name = "runs", .kind = CLI_INT, F(o.runs), .lo = CR_TIMER_MIN_RUNS,
	 .hi = CR_TIMER_MAX_RUNS,
	 .help = "timed runs per layer and batch, >= " STR(CR_TIMER_MIN_RUNS)},
	{.name = "warmup", .kind = CLI_INT, F(o.warmup), .lo = 0, .hi = 100000,
	 .help = "untimed runs first"},
	{.name = "isa", .kind = CLI_STRING, F(isa), .help = "kernels: scalar, avx2, avx512, neon",
	 .dflt = "the best here"},
	{.name = "clock", .kind = CLI_CHOICE, F(o.cpu_clock), .choices = clocks, .arg = "C",
	 .help = "wall, or cpu: the thread's CPU time, for a shared\n"
		 "machine (time others hold the core is not counted)"},
	{.name = "out", .kind = CLI_STRING, F(out), .arg = "FILE",
	 .help = "write the profile there (atomically) instead of stdout", .dflt = ""},
	CLI_OPT_MODEL(struct profile_args, model),
	CLI_OPT_DATA(struct profile_args, o.data_dir),
};

static const char head[] =
	"usage: %s profile [options]\n"
	"Measure %s per-layer latency table (Niu et al. 2022, III-A): every layer of\n"
	"every exit runs alone on the real tensor of a CIFAR-10 test batch, warm-up runs\n"
	"untimed, then RUNS timed runs; mean and p95 per batch size. Prints the profile\n"
	"JSON (docs/cost-model.md) to stdout or --out; a summary to stderr.\n\n";

/* The kernels of --isa, or the best here; NULL (said) when this machine or
 * build has none of that name. */
static const struct ck_kernels *pick_isa(const char *prog, const char *isa)
{
	enum ck_isa want;
	const struct ck_kernels *k = NULL;
	if (!isa)
		return ck_kernels();
	if (ck_isa_parse(isa, &want) || !(k = ck_kernels_for(want)))
		fprintf(stderr, "%s profile: ISA '%s' is not available on this machine/build\n",
			prog, isa);
	return k;
}

/* Loads the model, measures, writes: the exit status, 0 or 1. */
static int measure(const char *prog, struct profile_args *a, const struct ck_kernels *k)
{
	char err[512];
	struct cr_model *m = NULL;
	struct cost_profile *p = malloc(sizeof(*p));
	int ret = 1;
	if (!p) {
		fprintf(stderr, "%s profile: out of memory\n", prog);
		return 1;
	}
	if (cli_data_dir(&a->o.data_dir, err, sizeof(err))) {
		fprintf(stderr, "%s profile: %s\n", prog, err);
		goto out;
	}
	if (cli_model_load(a->model, &m, err, sizeof(err))) {
		fprintf(stderr, "%s profile: %s\n", prog, err);
		goto out;
	}
	if (cost_profile_measure(m, k, &a->o, p, err, sizeof(err)) ||
	    (a->out ? cost_profile_save(p, a->out, err, sizeof(err))
		    : cost_profile_write(p, stdout, err, sizeof(err)))) {
		fprintf(stderr, "%s profile: %s\n", prog, err);
		goto out;
	}
	ret = 0;
out:
	cr_model_free(m);
	free(p);
	return ret;
}

int cli_profile_main(int argc, char **argv, const struct cli_profile_cmd *c)
{
	struct profile_args a = {.o = {.runs = 100, .warmup = 10, .progress = stderr}};
	char name[64], text[1024];
	const struct cli_prog prog = {.name = name, .head = text, .opts = opts,
				      .n_opts = CLI_N(opts), .size = sizeof(a)};
	const struct ck_kernels *k;
	memcpy(a.o.batches, c->batches, (size_t)c->n_batches * sizeof(int));
	a.o.n_batches = c->n_batches;
	snprintf(name, sizeof(name), "%s profile", c->prog);
	snprintf(text, sizeof(text), head, c->prog, c->what);
	int st = cli_args(&prog, &a, argc, argv);
	if (st != CLI_GO)
		return st;
	if (!(k = pick_isa(c->prog, a.isa)))
		return 2;
	return measure(c->prog, &a, k);
}
