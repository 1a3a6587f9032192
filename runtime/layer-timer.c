/* Layer profiler. One activation buffer of our own carries the real tensor from
 * layer to layer: each position is timed on it, then its output (inside the
 * executor) is copied back in as the next position's input. The executor never
 * writes into a caller's buffer (ReLU is in place only on its own buffers), so
 * every timed run sees the same input. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coinfer/clock.h"
#include "coinfer/layer-timer.h"
#include "coinfer/stats.h"

struct cr_timer {
	const struct cr_model *m;
	struct cr_exec *x;
	int max_batch, max_runs;
	float *cur;
	float *skip; /* the skip operand of an add still to come (one at a time: model.c) */
	double *samples;
	clockid_t clock;
	double overhead_ms;
};

int cr_timer_create(const struct cr_model *m, struct cr_exec *x, int max_batch, int max_runs,
		       struct cr_timer **out)
{
	struct cr_timer *p = NULL;
	*out = NULL;
	if (!m || !x || max_batch < 1 || max_batch > 4096 || max_runs < CR_TIMER_MIN_RUNS ||
	    max_runs > CR_TIMER_MAX_RUNS)
		return -EINVAL;
	size_t most = 0;
	for (int e = 0; e < m->n_exits; e++)
		for (int pos = 0; pos <= m->exit_len[e]; pos++) {
			size_t f = cr_model_boundary_floats(m, e, pos);
			if (f > most)
				most = f;
		}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->m = m;
	p->x = x;
	p->max_batch = max_batch;
	p->max_runs = max_runs;
	if (posix_memalign((void **)&p->cur, 64, most * (size_t)max_batch * sizeof(float)))
		p->cur = NULL;
	if (posix_memalign((void **)&p->skip, 64, most * (size_t)max_batch * sizeof(float)))
		p->skip = NULL;
	p->samples = malloc((size_t)max_runs * sizeof(double));
	if (!p->cur || !p->skip || !p->samples)
		goto err;
	cr_timer_set_clock(p, CR_TIMER_WALL);
	*out = p;
	return 0;
err:
	cr_timer_destroy(p);
	return -ENOMEM;
}

void cr_timer_destroy(struct cr_timer *p)
{
	if (!p)
		return;
	free(p->cur);
	free(p->skip);
	free(p->samples);
	free(p);
}

int cr_timer_set_clock(struct cr_timer *p, enum cr_timer_clock clock)
{
	if (clock != CR_TIMER_WALL && clock != CR_TIMER_THREAD_CPU)
		return -EINVAL;
	p->clock = clock == CR_TIMER_WALL ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID;
	double least = 1e9;
	for (int i = 0; i < 2000; i++) {
		uint64_t t0 = cf_clock_ns(p->clock);
		double t = (double)(cf_clock_ns(p->clock) - t0) * 1e-6;
		if (t < least)
			least = t;
	}
	p->overhead_ms = least;
	return 0;
}

double cr_timer_clock_overhead_ms(const struct cr_timer *p)
{
	return p->overhead_ms;
}

/* Keeps the tensor at boundary pos (in p->cur) aside when an add of exit e
 * reads it later. */
static void keep_skip(struct cr_timer *p, int e, int pos, int batch)
{
	const struct cr_model *m = p->m;
	if (cr_model_feeds_skip(m, e, pos - 1, m->exit_len[e]))
		memcpy(p->skip, p->cur,
		       (size_t)batch * cr_model_boundary_floats(m, e, pos) * sizeof(float));
}

int cr_timer_run(struct cr_timer *p, int e, const float *input, int batch, int warmup,
		    int runs, struct cr_layer_time *out)
{
	const struct cr_model *m = p->m;
	if (e < 0 || e >= m->n_exits || batch < 1 || batch > p->max_batch || warmup < 0 ||
	    runs < CR_TIMER_MIN_RUNS || runs > p->max_runs || !input || !out)
		return -EINVAL;
	memcpy(p->cur, input, (size_t)batch * cr_model_boundary_floats(m, e, 0) * sizeof(float));
	for (int pos = 0; pos < m->exit_len[e]; pos++) {
		const float *o = NULL, *skip = m->exit_skip[e][pos] != CR_NO_SKIP ? p->skip : NULL;
		double sum = 0;
		keep_skip(p, e, pos, batch);
		for (int i = 0; i < warmup + runs; i++) {
			uint64_t t0 = cf_clock_ns(p->clock);
			int r = cr_exec_layer(p->x, e, pos, p->cur, skip, batch, &o);
			double t = (double)(cf_clock_ns(p->clock) - t0) * 1e-6 - p->overhead_ms;
			if (r)
				return r;
			if (i >= warmup) {
				t = t > 0 ? t : 0;
				p->samples[i - warmup] = t;
				sum += t;
			}
		}
		cf_sort_doubles(p->samples, (size_t)runs);
		/* nearest-rank p95: the smallest sample at or above 95% of them */
		int k = (95 * runs + 99) / 100 - 1;
		out[pos].mean_ms = sum / runs;
		out[pos].p95_ms = p->samples[k];
		out[pos].mean_ms_image = out[pos].mean_ms / batch;
		out[pos].p95_ms_image = out[pos].p95_ms / batch;
		if (o != p->cur)
			memcpy(p->cur, o,
			       (size_t)batch * cr_model_boundary_floats(m, e, pos + 1) * sizeof(float));
	}
	return 0;
}
