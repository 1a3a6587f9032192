/* Measuring a profile on this machine (seed 000 III-A), and the `profile`
 * command that coinfer-policy, coinfer-agent and coinfer-appliance share. It runs
 * the executor and reads CIFAR-10, so it is a library of its own
 * (coinfer_profile_run) and the policy library keeps to the model's metadata.
 * stdio only: the agent's aarch64 build profiles the device. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coinfer/dataset.h"
#include "coinfer/exec.h"
#include "coinfer/kernels.h"
#include "coinfer/policy-profile.h"
#include "coinfer/profile.h"
#include "internal.h"

static double clock_s(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The same exit run whole after its layers one by one: how far the isolated
 * layers' sum is from a pipeline whose activations stay in cache. */
static int report_whole(const struct pol_profile_opts *o, struct cf_exec *x,
			const struct cf_model *m, int e, const float *input, int batch, double sum)
{
	clockid_t ck = o->cpu_clock ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC;
	const float *out;
	double w0 = clock_s(ck);
	for (int i = 0; i < o->runs; i++) {
		int r = cf_exec_run(x, e, 0, m->exit_len[e], input, batch, &out);
		if (r)
			return r;
	}
	double whole = (clock_s(ck) - w0) / o->runs * 1e3;
	fprintf(o->progress,
		"exit %d batch %2d: layers sum %8.3f ms (%.3f ms/image), whole exit %8.3f ms, ratio %.3f\n",
		e + 1, batch, sum, sum / batch, whole, sum / whole);
	return 0;
}

int pol_profile_measure(const struct cf_model *m, const struct ck_kernels *k,
			const struct pol_profile_opts *o, struct pol_profile *p, char *err,
			size_t errlen)
{
	struct cf_dataset ds = {0};
	struct cf_exec *x = NULL;
	struct cf_profiler *pr = NULL;
	struct cf_layer_time *lt = NULL;
	float *input = NULL;
	const char *dir = o->data_dir;
	char name[POL_NAME_LEN];
	int r;
	if (!k)
		k = ck_kernels();
	if (o->runs < CF_PROFILE_MIN_RUNS || o->runs > CF_PROFILE_MAX_RUNS)
		return cf_fail(-EINVAL, err, errlen, "%d timed runs: %d..%d make a p95", o->runs,
				CF_PROFILE_MIN_RUNS, CF_PROFILE_MAX_RUNS);
	if (o->warmup < 0)
		return cf_fail(-EINVAL, err, errlen, "%d warm-up runs: not a count", o->warmup);
	if (o->only_exit < 0 || o->only_exit > m->n_exits)
		return cf_fail(-EINVAL, err, errlen, "exit %d: model %s has exits 1..%d", o->only_exit,
				m->name, m->n_exits);
	snprintf(name, sizeof(name), "local-%s", k->name);
	if ((r = pol_profile_init(p, m, o->device_class ? o->device_class : name, o->batches,
				  o->n_batches, err, errlen)))
		return r;
	snprintf(p->isa, sizeof(p->isa), "%s", k->name);
	snprintf(p->clock, sizeof(p->clock), "%s", o->cpu_clock ? "thread-cpu" : "wall");
	if (!dir && !(dir = cf_cifar10_default_dir()))
		return cf_fail(-ENOENT, err, errlen,
				"CIFAR-10 not found; run scripts/fetch-cifar10.sh or pass --data");
	if ((r = cf_cifar10_load(dir, "test_batch.bin", &ds, err, errlen)))
		return r;
	int maxb = o->batches[o->n_batches - 1];
	if (ds.n < maxb || ds.c != m->in_c || ds.h != m->in_h || ds.w != m->in_w) {
		r = cf_fail(-EINVAL, err, errlen,
			     "%s: %d images of %dx%dx%d; the largest batch needs %d of the model's %dx%dx%d",
			     dir, ds.n, ds.c, ds.h, ds.w, maxb, m->in_c, m->in_h, m->in_w);
		goto out;
	}
	size_t per = cf_model_boundary_floats(m, 0, 0);
	input = malloc((size_t)maxb * per * sizeof(float));
	lt = malloc(sizeof(*lt) * POL_MAX_POS);
	if (!input || !lt) {
		r = cf_fail(-ENOMEM, err, errlen, "out of memory for a batch of %d images", maxb);
		goto out;
	}
	cf_model_normalize(m, ds.images, input, maxb);
	if ((r = cf_exec_create(m, k, maxb, &x)) || (r = cf_profiler_create(m, x, maxb, o->runs, &pr))) {
		cf_fail(r, err, errlen, "cannot set up the executor and profiler for batch %d: %s", maxb,
			 strerror(-r));
		goto out;
	}
	if (o->cpu_clock && (r = cf_profiler_set_clock(pr, CF_PROFILE_THREAD_CPU))) {
		cf_fail(r, err, errlen, "cannot time with the thread's CPU clock");
		goto out;
	}
	double t0 = clock_s(CLOCK_MONOTONIC);
	for (int e = 0; e < m->n_exits; e++) {
		if (o->only_exit && e != o->only_exit - 1)
			continue;
		for (int b = 0; b < o->n_batches; b++) {
			int n = o->batches[b];
			if ((r = cf_profiler_run(pr, e, input, n, o->warmup, o->runs, lt))) {
				cf_fail(r, err, errlen, "profiling exit %d batch %d: %s", e + 1, n, strerror(-r));
				goto out;
			}
			double sum = 0;
			for (int pos = 0; pos < m->exit_len[e]; pos++) {
				p->exits[e].layers[pos].mean_ms[b] = lt[pos].mean_ms;
				p->exits[e].layers[pos].p95_ms[b] = lt[pos].p95_ms;
				sum += lt[pos].mean_ms;
			}
			if (o->progress && (r = report_whole(o, x, m, e, input, n, sum))) {
				cf_fail(r, err, errlen, "running exit %d whole at batch %d: %s", e + 1, n,
					 strerror(-r));
				goto out;
			}
		}
	}
	if (o->only_exit) {
		p->exits[0] = p->exits[o->only_exit - 1];
		p->n_exits = 1;
	}
	if (o->progress)
		fprintf(o->progress,
			"profiled in %.1f s (%s, %d runs, %d warm-up, %s clock, %.3f us reading cost subtracted)\n",
			clock_s(CLOCK_MONOTONIC) - t0, k->name, o->runs, o->warmup, p->clock,
			cf_profiler_clock_overhead_ms(pr) * 1e3);
	r = 0;
out:
	cf_profiler_destroy(pr);
	cf_exec_destroy(x);
	cf_dataset_free(&ds);
	free(input);
	free(lt);
	return r;
}

/* ---- the command -------------------------------------------------------------------- */

static void usage(FILE *f, const struct pol_profile_cmd *c)
{
	char dflt[8 * POL_MAX_BATCHES] = "";
	size_t used = 0;
	for (int i = 0; i < c->n_batches && used < sizeof(dflt); i++)
		used += (size_t)snprintf(dflt + used, sizeof(dflt) - used, "%s%d", i ? "," : "",
					 c->batches[i]);
	fprintf(f,
		"usage: %s profile [options]\n"
		"Measure %s per-layer latency table (seed 000 III-A): every layer of\n"
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
		c->prog, c->what, dflt, CF_PROFILE_MIN_RUNS);
}

/* An integer in [lo, hi], or a message naming the option. */
static int int_arg(const struct pol_profile_cmd *c, const char *opt, const char *s, long lo,
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

/* "1,2,4": ascending order is pol_profile_init's check. */
static int batches_arg(const struct pol_profile_cmd *c, const char *s, int *out, int *n)
{
	char buf[256], *end;
	*n = 0;
	if (snprintf(buf, sizeof(buf), "%s", s) < (int)sizeof(buf))
		for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			long v = strtol(t, &end, 10);
			if (*n == POL_MAX_BATCHES || *end || v < 1 || v > 4096) {
				*n = 0;
				break;
			}
			out[(*n)++] = (int)v;
		}
	if (*n)
		return 0;
	fprintf(stderr, "%s profile: --batches takes 1 to %d comma-separated integers in [1, 4096], got '%s'\n",
		c->prog, POL_MAX_BATCHES, s);
	return -EINVAL;
}

int pol_profile_main(int argc, char **argv, const struct pol_profile_cmd *c)
{
	const char *model_path = NULL, *isa = NULL, *out_path = NULL;
	struct pol_profile_opts o = {.runs = 100, .warmup = 10, .progress = stderr};
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
			if (int_arg(c, "exit", optarg, 1, POL_MAX_EXITS, &o.only_exit))
				return 2;
			break;
		case O_BATCHES:
			if (batches_arg(c, optarg, o.batches, &o.n_batches))
				return 2;
			break;
		case O_RUNS:
			if (int_arg(c, "runs", optarg, CF_PROFILE_MIN_RUNS, CF_PROFILE_MAX_RUNS, &o.runs))
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
	struct cf_model *m = NULL;
	struct pol_profile *p = malloc(sizeof(*p));
	int ret = 1;
	if (!p) {
		fprintf(stderr, "%s profile: out of memory\n", c->prog);
		return 1;
	}
	if (!model_path && !(model_path = cf_default_model_path())) {
		fprintf(stderr, "%s profile: no model given and models/branchy-alexnet.cfm not found\n",
			c->prog);
		goto out;
	}
	if (cf_model_load(model_path, &m, err, sizeof(err))) {
		fprintf(stderr, "%s profile: %s: %s\n", c->prog, model_path, err);
		goto out;
	}
	if (pol_profile_measure(m, k, &o, p, err, sizeof(err)) ||
	    (out_path ? pol_profile_save(p, out_path, err, sizeof(err))
		      : pol_profile_write(p, stdout, err, sizeof(err)))) {
		fprintf(stderr, "%s profile: %s\n", c->prog, err);
		goto out;
	}
	ret = 0;
out:
	cf_model_free(m);
	free(p);
	return ret;
}
