/* Measuring a profile on this machine (Niu et al. 2022, III-A): every layer of
 * every exit timed on a CIFAR-10 batch. It runs the executor and reads CIFAR-10,
 * so it is a library of its own (coinfer_cost_measure) and the rest of the cost
 * model keeps to the model's metadata. The `profile` command around it is in
 * cli/profile-cmd.c. stdio only: the agent's aarch64 build profiles the device. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coinfer/clock.h"
#include "coinfer/dataset.h"
#include "coinfer/exec.h"
#include "coinfer/kernels.h"
#include "coinfer/cost-profile.h"
#include "coinfer/layer-timer.h"
#include "coinfer/errmsg.h"
#include "coinfer/names.h"

/* The same exit run whole after its layers one by one: how far the isolated
 * layers' sum is from a pipeline whose activations stay in cache. */
static int report_whole(const struct cost_profile_opts *o, struct cr_exec *x,
			const struct cr_model *m, int e, const float *input, int batch, double sum)
{
	clockid_t ck = o->cpu_clock ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC;
	const float *out;
	double w0 = cf_clock_s(ck);
	for (int i = 0; i < o->runs; i++) {
		int r = cr_exec_run(x, e, 0, m->exit_len[e], input, batch, &out);
		if (r)
			return r;
	}
	double whole = (cf_clock_s(ck) - w0) / o->runs * 1e3;
	fprintf(o->progress,
		"exit %d batch %2d: layers sum %8.3f ms (%.3f ms/image), whole exit %8.3f ms, ratio %.3f\n",
		e + 1, batch, sum, sum / batch, whole, sum / whole);
	return 0;
}

/* The options a measurement can use, or -EINVAL naming the one it cannot. */
static int check_opts(const struct cr_model *m, const struct cost_profile_opts *o, char *err,
		      size_t errlen)
{
	if (o->runs < CR_TIMER_MIN_RUNS || o->runs > CR_TIMER_MAX_RUNS)
		return cf_fail(-EINVAL, err, errlen, "%d timed runs: %d..%d make a p95", o->runs,
				CR_TIMER_MIN_RUNS, CR_TIMER_MAX_RUNS);
	if (o->warmup < 0)
		return cf_fail(-EINVAL, err, errlen, "%d warm-up runs: not a count", o->warmup);
	if (o->only_exit < 0 || o->only_exit > m->n_exits)
		return cf_fail(-EINVAL, err, errlen, "exit %d: model %s has exits 1..%d", o->only_exit,
				m->name, m->n_exits);
	return 0;
}

/* What timing one exit needs: set up once per measurement. */
struct timed {
	const struct cr_model *m;
	const struct cost_profile_opts *o;
	struct cr_exec *x;
	struct cr_timer *pr;
	const float *input;
	struct cr_layer_time *lt;
};

/* Exit e's per-layer mean and p95 at every batch size into p. */
static int time_exit(const struct timed *t, int e, struct cost_profile *p, char *err,
		     size_t errlen)
{
	const struct cost_profile_opts *o = t->o;
	int r;
	for (int b = 0; b < o->n_batches; b++) {
		int n = o->batches[b];
		if ((r = cr_timer_run(t->pr, e, t->input, n, o->warmup, o->runs, t->lt)))
			return cf_fail(r, err, errlen, "profiling exit %d batch %d: %s", e + 1, n,
					strerror(-r));
		double sum = 0;
		for (int pos = 0; pos < t->m->exit_len[e]; pos++) {
			p->exits[e].layers[pos].mean_ms[b] = t->lt[pos].mean_ms;
			p->exits[e].layers[pos].p95_ms[b] = t->lt[pos].p95_ms;
			sum += t->lt[pos].mean_ms;
		}
		if (o->progress && (r = report_whole(o, t->x, t->m, e, t->input, n, sum)))
			return cf_fail(r, err, errlen, "running exit %d whole at batch %d: %s", e + 1,
					n, strerror(-r));
	}
	return 0;
}

int cost_profile_measure(const struct cr_model *m, const struct ck_kernels *k,
			const struct cost_profile_opts *o, struct cost_profile *p, char *err,
			size_t errlen)
{
	struct ds_dataset ds = {0};
	struct cr_exec *x = NULL;
	struct cr_timer *pr = NULL;
	struct cr_layer_time *lt = NULL;
	float *input = NULL;
	const char *dir = o->data_dir;
	char name[COST_NAME_LEN];
	int r;
	if (!k)
		k = ck_kernels();
	if ((r = check_opts(m, o, err, errlen)))
		return r;
	snprintf(name, sizeof(name), "local-%s", k->name);
	if ((r = cost_profile_init(p, m, o->device_class ? o->device_class : name, o->batches,
				  o->n_batches, err, errlen)))
		return r;
	snprintf(p->isa, sizeof(p->isa), "%s", k->name);
	snprintf(p->clock, sizeof(p->clock), "%s", o->cpu_clock ? "thread-cpu" : "wall");
	if (!dir)
		return cf_fail(-ENOENT, err, errlen,
				"no CIFAR-10 directory given (the programs find one with --data or "
				"cli_cifar10_default_dir)");
	if ((r = ds_cifar10_load(dir, "test_batch.bin", &ds, err, errlen)))
		return r;
	int maxb = o->batches[o->n_batches - 1];
	if (ds.n < maxb || ds.c != m->in_c || ds.h != m->in_h || ds.w != m->in_w) {
		r = cf_fail(-EINVAL, err, errlen,
			     "%s: %d images of %dx%dx%d; the largest batch needs %d of the model's %dx%dx%d",
			     dir, ds.n, ds.c, ds.h, ds.w, maxb, m->in_c, m->in_h, m->in_w);
		goto out;
	}
	size_t per = cr_model_boundary_floats(m, 0, 0);
	input = malloc((size_t)maxb * per * sizeof(float));
	lt = malloc(sizeof(*lt) * COST_MAX_POS);
	if (!input || !lt) {
		r = cf_fail(-ENOMEM, err, errlen, "out of memory for a batch of %d images", maxb);
		goto out;
	}
	cr_model_normalize(m, ds.images, input, maxb);
	if ((r = cr_exec_create(m, k, maxb, &x)) || (r = cr_timer_create(m, x, maxb, o->runs, &pr))) {
		cf_fail(r, err, errlen, "cannot set up the executor and profiler for batch %d: %s", maxb,
			 strerror(-r));
		goto out;
	}
	if (o->cpu_clock && (r = cr_timer_set_clock(pr, CR_TIMER_THREAD_CPU))) {
		cf_fail(r, err, errlen, "cannot time with the thread's CPU clock");
		goto out;
	}
	double t0 = cf_clock_s(CLOCK_MONOTONIC);
	for (int e = 0; e < m->n_exits; e++) {
		if (o->only_exit && e != o->only_exit - 1)
			continue;
		struct timed t = {m, o, x, pr, input, lt};
		if ((r = time_exit(&t, e, p, err, errlen)))
			goto out;
	}
	if (o->only_exit) {
		p->exits[0] = p->exits[o->only_exit - 1];
		p->n_exits = 1;
	}
	if (o->progress)
		fprintf(o->progress,
			"profiled in %.1f s (%s, %d runs, %d warm-up, %s clock, %.3f us reading cost subtracted)\n",
			cf_clock_s(CLOCK_MONOTONIC) - t0, k->name, o->runs, o->warmup, p->clock,
			cr_timer_clock_overhead_ms(pr) * 1e3);
	r = 0;
out:
	cr_timer_destroy(pr);
	cr_exec_destroy(x);
	ds_dataset_free(&ds);
	free(input);
	free(lt);
	return r;
}
