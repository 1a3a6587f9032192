/* The `profile` command shared by coinfer-policy, coinfer-agent and
 * coinfer-appliance: options, the measurement (cost/measure.c), the file. */
#include <errno.h>
#include <getopt.h>
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

static void usage(FILE *f, const struct cli_profile_cmd *c)
{
	char dflt[8 * COST_MAX_BATCHES] = "";
	size_t used = 0;
	for (int i = 0; i < c->n_batches && used < sizeof(dflt); i++)
		used += (size_t)snprintf(dflt + used, sizeof(dflt) - used, "%s%d", i ? "," : "",
					 c->batches[i]);
	fprintf(f,
		"usage: %s profile [options]\n"
		"Measure %s per-layer latency table (Niu et al. 2022, III-A): every layer of\n"
		"every exit runs alone on the real tensor of a CIFAR-10 test batch, warm-up runs\n"
		"untimed, then RUNS timed runs; mean and p95 per batch size. Prints the profile\n"
		"JSON (docs/cost-model.md) to stdout or --out; a summary to stderr.\n\n"
		"  --class NAME     device_class recorded in the file (default: local-ISA);\n"
		"                   --device-class NAME is the same\n"
		"  --exit E         measure exit E only (a partial profile, for inspection)\n"
		"  --batches LIST   batch sizes, ascending (default: %s)\n"
		"  --runs N         timed runs per layer and batch, >= %d (default: 100)\n"
		"  --warmup N       untimed runs first (default: 10)\n"
		"  --isa NAME       kernels: scalar, avx2, avx512, neon (default: the best here)\n"
		"  --clock C        wall (default) or cpu: the thread's CPU time, for a shared\n"
		"                   machine (time others hold the core is not counted)\n"
		"  --out FILE       write the profile there (atomically) instead of stdout\n"
		"  --model PATH     model file (default: the bundled models/branchy-alexnet.cfm)\n"
		"  --data DIR       CIFAR-10 binary directory (default: ../shared/data/cifar10)\n"
		"  --help           this text\n",
		c->prog, c->what, dflt, CR_TIMER_MIN_RUNS);
}

/* An integer in [lo, hi], or a message naming the option. */
static int int_arg(const struct cli_profile_cmd *c, const char *opt, const char *s, long lo,
		   long hi, int *out)
{
	char *end = NULL;
	long v = strtol(s, &end, 10);
	if (!*s || *end || v < lo || v > hi) {
		fprintf(stderr, "%s profile: --%s needs an integer in [%ld, %ld], got '%s'\n", c->prog,
			opt, lo, hi, s);
		return -EINVAL;
	}
	*out = (int)v;
	return 0;
}

/* "1,2,4": ascending order is cost_profile_init's check. */
static int batches_arg(const struct cli_profile_cmd *c, const char *s, int *out, int *n)
{
	char buf[256], *end;
	*n = 0;
	if (snprintf(buf, sizeof(buf), "%s", s) < (int)sizeof(buf))
		for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			long v = strtol(t, &end, 10);
			if (*n == COST_MAX_BATCHES || *end || v < 1 || v > 4096) {
				*n = 0;
				break;
			}
			out[(*n)++] = (int)v;
		}
	if (*n)
		return 0;
	fprintf(stderr, "%s profile: --batches takes 1 to %d comma-separated integers in [1, 4096], got '%s'\n",
		c->prog, COST_MAX_BATCHES, s);
	return -EINVAL;
}

int cli_profile_main(int argc, char **argv, const struct cli_profile_cmd *c)
{
	const char *model_path = NULL, *isa = NULL, *out_path = NULL;
	struct cost_profile_opts o = {.runs = 100, .warmup = 10, .progress = stderr};
	enum { O_CLASS = 256, O_EXIT, O_BATCHES, O_RUNS, O_WARMUP, O_ISA, O_OUT, O_MODEL, O_DATA,
	       O_CLOCK };
	static const struct option opts[] = {
		{"class", required_argument, 0, O_CLASS}, {"device-class", required_argument, 0, O_CLASS},
		{"exit", required_argument, 0, O_EXIT}, {"batches", required_argument, 0, O_BATCHES},
		{"runs", required_argument, 0, O_RUNS}, {"warmup", required_argument, 0, O_WARMUP},
		{"isa", required_argument, 0, O_ISA}, {"out", required_argument, 0, O_OUT},
		{"model", required_argument, 0, O_MODEL}, {"data", required_argument, 0, O_DATA},
		{"clock", required_argument, 0, O_CLOCK}, {"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	memcpy(o.batches, c->batches, (size_t)c->n_batches * sizeof(int));
	o.n_batches = c->n_batches;
	int opt;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case O_CLASS: o.device_class = optarg; break;
		case O_CLOCK:
			if (strcmp(optarg, "wall") && strcmp(optarg, "cpu")) {
				fprintf(stderr, "%s profile: --clock is wall or cpu, got '%s'\n", c->prog,
					optarg);
				return 2;
			}
			o.cpu_clock = !strcmp(optarg, "cpu");
			break;
		case O_EXIT:
			if (int_arg(c, "exit", optarg, 1, COST_MAX_EXITS, &o.only_exit))
				return 2;
			break;
		case O_BATCHES:
			if (batches_arg(c, optarg, o.batches, &o.n_batches))
				return 2;
			break;
		case O_RUNS:
			if (int_arg(c, "runs", optarg, CR_TIMER_MIN_RUNS, CR_TIMER_MAX_RUNS, &o.runs))
				return 2;
			break;
		case O_WARMUP:
			if (int_arg(c, "warmup", optarg, 0, 100000, &o.warmup))
				return 2;
			break;
		case O_ISA: isa = optarg; break;
		case O_OUT: out_path = optarg; break;
		case O_MODEL: model_path = optarg; break;
		case O_DATA: o.data_dir = optarg; break;
		case 'h': usage(stdout, c); return 0;
		default: usage(stderr, c); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s profile: unexpected argument '%s'\n", c->prog, argv[optind]);
		return 2;
	}
	const struct ck_kernels *k = ck_kernels();
	if (isa) {
		enum ck_isa want;
		if (ck_isa_parse(isa, &want) || !(k = ck_kernels_for(want))) {
			fprintf(stderr, "%s profile: ISA '%s' is not available on this machine/build\n",
				c->prog, isa);
			return 2;
		}
	}
	char err[512];
	struct cr_model *m = NULL;
	struct cost_profile *p = malloc(sizeof(*p));
	int ret = 1;
	if (!p) {
		fprintf(stderr, "%s profile: out of memory\n", c->prog);
		return 1;
	}
	if (!model_path && !(model_path = cli_default_model_path())) {
		fprintf(stderr, "%s profile: no model given and models/branchy-alexnet.cfm not found\n",
			c->prog);
		goto out;
	}
	if (!o.data_dir && !(o.data_dir = cli_cifar10_default_dir())) {
		fprintf(stderr, "%s profile: CIFAR-10 not found; run scripts/fetch-cifar10.sh or pass --data\n",
			c->prog);
		goto out;
	}
	if (cr_model_load(model_path, &m, err, sizeof(err))) {
		fprintf(stderr, "%s profile: %s: %s\n", c->prog, model_path, err);
		goto out;
	}
	if (cost_profile_measure(m, k, &o, p, err, sizeof(err)) ||
	    (out_path ? cost_profile_save(p, out_path, err, sizeof(err))
		      : cost_profile_write(p, stdout, err, sizeof(err)))) {
		fprintf(stderr, "%s profile: %s\n", c->prog, err);
		goto out;
	}
	ret = 0;
out:
	cr_model_free(m);
	free(p);
	return ret;
}
