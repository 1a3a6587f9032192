/* coinfer layer profiling: the per-layer latency table a device class is made of
 * (seed 000 III-A: the mean of repeated measurements of every layer, not a
 * regression). Each layer position of an exit runs alone, on the real tensor that
 * reaches it when a real image batch goes through the exit, so data-dependent
 * kernels see what they see in service. All buffers are sized at creation; a
 * measurement allocates nothing. */
#ifndef COINFER_PROFILE_H
#define COINFER_PROFILE_H

#include "coinfer/exec.h"
#include "coinfer/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fewer samples make the p95 a guess (it would be the largest or second largest). */
#define CF_PROFILE_MIN_RUNS 50
#define CF_PROFILE_MAX_RUNS 100000

struct cf_layer_time {
	double mean_ms, p95_ms;             /* one run of the whole batch */
	double mean_ms_image, p95_ms_image; /* the same per image (divided by the batch) */
};

struct cf_profiler;

/* For model m run by executor x (which must hold batches of max_batch), timing up
 * to max_runs samples per layer. The model and executor must outlive the profiler.
 * Returns 0, -EINVAL or -ENOMEM. */
int cf_profiler_create(const struct cf_model *m, struct cf_exec *x, int max_batch, int max_runs,
		       struct cf_profiler **out);
void cf_profiler_destroy(struct cf_profiler *p);

/* Which clock times the runs: wall time (CLOCK_MONOTONIC, the default), or the
 * calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID), which does not advance while
 * other tenants of a shared machine hold the core: the profile then describes the
 * CPU unloaded, and load is the cost model's load factor. The thread clock is a
 * system call here (about 1-3 us), so the least cost of reading the clock twice,
 * measured when the clock is chosen, is subtracted from every sample. */
enum cf_profile_clock { CF_PROFILE_WALL = 0, CF_PROFILE_THREAD_CPU = 1 };
int cf_profiler_set_clock(struct cf_profiler *p, enum cf_profile_clock clock);
/* The clock-reading cost subtracted from each sample, in ms. */
double cf_profiler_clock_overhead_ms(const struct cf_profiler *p);

/* Times every position of exit e (0-based): warmup untimed runs, then runs timed
 * runs of [pos, pos+1) on batch images. input holds the batch at partition 0
 * (batch * cf_model_boundary_floats(m, e, 0) normalised floats). out receives
 * exit_len[e] entries. Returns 0 or -EINVAL (bad exit, batch above max_batch, runs
 * outside CF_PROFILE_MIN_RUNS..max_runs, negative warmup). */
int cf_profiler_run(struct cf_profiler *p, int e, const float *input, int batch, int warmup,
		    int runs, struct cf_layer_time *out);

#ifdef __cplusplus
}
#endif
#endif
