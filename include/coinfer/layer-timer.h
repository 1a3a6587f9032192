/* coinfer layer timer: times each layer of an exit alone, the measurement behind
 * the per-layer latency tables (cost profiles, cost-profile.h) a device class is made of
 * (Niu et al. 2022, III-A: the mean of repeated measurements of every layer, not a
 * regression). Each layer position of an exit runs alone, on the real tensor that
 * reaches it when a real image batch goes through the exit, so data-dependent
 * kernels see what they see in service. All buffers are sized at creation; a
 * measurement allocates nothing. */
#ifndef COINFER_LAYER_TIMER_H
#define COINFER_LAYER_TIMER_H

#include "coinfer/exec.h"
#include "coinfer/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fewer samples make the p95 a guess (it would be the largest or second largest). */
#define CR_TIMER_MIN_RUNS 50
#define CR_TIMER_MAX_RUNS 100000

struct cr_layer_time {
	double mean_ms, p95_ms;             /* one run of the whole batch */
	double mean_ms_image, p95_ms_image; /* the same per image (divided by the batch) */
};

struct cr_timer;

/* For model m run by executor x (which must hold batches of max_batch), timing up
 * to max_runs samples per layer. The model and executor must outlive the profiler.
 * Returns 0, -EINVAL or -ENOMEM. */
int cr_timer_create(const struct cr_model *m, struct cr_exec *x, int max_batch, int max_runs,
		       struct cr_timer **out);
void cr_timer_destroy(struct cr_timer *p);

/* Which clock times the runs: wall time (CLOCK_MONOTONIC, the default), or the
 * calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID), which does not advance while
 * other tenants of a shared machine hold the core: the profile then describes the
 * CPU unloaded, and load is the cost model's load factor. The thread clock is a
 * system call here (about 1-3 us), so the least cost of reading the clock twice,
 * measured when the clock is chosen, is subtracted from every sample. */
enum cr_timer_clock { CR_TIMER_WALL = 0, CR_TIMER_THREAD_CPU = 1 };
int cr_timer_set_clock(struct cr_timer *p, enum cr_timer_clock clock);
/* The clock-reading cost subtracted from each sample, in ms. */
double cr_timer_clock_overhead_ms(const struct cr_timer *p);

/* Times every position of exit e (0-based): warmup untimed runs, then runs timed
 * runs of [pos, pos+1) on batch images. input holds the batch at partition 0
 * (batch * cr_model_boundary_floats(m, e, 0) normalised floats). out receives
 * exit_len[e] entries. Returns 0 or -EINVAL (bad exit, batch above max_batch, runs
 * outside CR_TIMER_MIN_RUNS..max_runs, negative warmup). */
int cr_timer_run(struct cr_timer *p, int e, const float *input, int batch, int warmup,
		    int runs, struct cr_layer_time *out);

#ifdef __cplusplus
}
#endif
#endif
