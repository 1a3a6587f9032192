/* coinfer simulator, evaluation: runs a decision-maker over the trace-driven
 * environment (sim.h) and aggregates what `coinfer-policy eval` prints
 * (DESIGN.md, "Interfaces"). Optimizers: "edgent",
 * "device-only" and "edge-only" decide from the state a device can estimate (its
 * EWMA of measured bandwidth, the last reported edge queue, its own load, frequency
 * and SLO); "oracle" decides from the true state the step is evaluated under.
 * Learned policies ("sacd", "dqn") act on the observation they were trained on.
 * Plain C, builds everywhere. */
#ifndef COINFER_SIM_EVAL_H
#define COINFER_SIM_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "coinfer/sim.h"
#include "coinfer/policy-learn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SIM_EVAL_TOP 6

struct sim_eval_result {
	char algo[32];
	int steps;
	double slo_attainment;      /* fraction of steps with deadline and energy met */
	double deadline_attainment, energy_attainment;
	double mean_accuracy;       /* cost-model accuracy of the chosen actions */
	double mean_latency_ms, p99_latency_ms;
	double energy_j;            /* mean device energy per request */
	double mean_bytes;          /* mean bytes sent per request */
	double decision_us;         /* mean time of one decision (clock_gettime) */
	int masked;                 /* decisions the env's mask refused: re-decided
				       with no uplink (device-only) */
	/* the steps whose true bandwidth was at least SIM_EVAL_FAST_BPS (Niu et al.'s
	 * headline compares latency there) */
	struct {
		int steps;
		double mean_latency_ms, mean_accuracy, slo_attainment;
	} fast;
	/* the most frequent choices, most frequent first (bits 0: device-only) */
	int n_top;
	struct {
		struct cf_action action;
		int count;
	} top[SIM_EVAL_TOP];
};

#define SIM_EVAL_FAST_BPS 8e6 /* 1 MB/s */

/* The estimated state: the true state's rtt, load, frequency, SLO and batch with
 * the device's bandwidth estimate (0 when offloading is masked because the last
 * sample was 0) and the last reported edge queue. */
void sim_env_est_state(const struct pol_env *env, struct cost_state *s);

/* A fresh environment (cfg NULL: sim_env_defaults(); seed) over traces, steps
 * steps of algo. -ENOENT for an unknown algo (and for "sacd"/"dqn": see sim_eval_run_policy),
 * -EINVAL for bad arguments, -ENOMEM; message in err. */
int sim_eval_run(const struct cost_model *cm, const struct sim_trace_set *traces,
		 const struct sim_env_cfg *cfg, uint64_t seed, const char *algo, int steps,
		 struct sim_eval_result *out, char *err, size_t errlen);

/* A trained policy (named name in the result) over a fresh environment like
 * sim_eval_run's: it decides from the environment's observation and mask, as in
 * training. -EINVAL when its inputs, observation spec or action table do not
 * match this cost model's environment. */
int sim_eval_run_policy(const struct cost_model *cm, const struct sim_trace_set *traces,
			const struct sim_env_cfg *cfg, uint64_t seed, const char *name,
			struct pol_policy *p, int steps, struct sim_eval_result *out, char *err,
			size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
