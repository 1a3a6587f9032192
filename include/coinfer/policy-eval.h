/* coinfer policy evaluation: runs a decision-maker over the trace-driven
 * environment (policy-env.h) and aggregates what `coinfer-policy eval` prints
 * (DESIGN.md, "Interfaces"). Non-learned optimizers only for now: "edgent",
 * "device-only" and "edge-only" decide from the state a device can estimate (its
 * EWMA of measured bandwidth, the last reported edge queue, its own load, frequency
 * and SLO); "oracle" decides from the true state the step is evaluated under.
 * Plain C, builds everywhere. */
#ifndef COINFER_POLICY_EVAL_H
#define COINFER_POLICY_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "coinfer/policy-env.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pol_eval_result {
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
};

/* The estimated state: the true state's rtt, load, frequency, SLO and batch with
 * the device's bandwidth estimate (0 when offloading is masked because the last
 * sample was 0) and the last reported edge queue. */
void pol_env_est_state(const struct pol_env *env, struct pol_state *s);

/* A fresh environment (cfg NULL: pol_env_defaults(); seed) over traces, steps
 * steps of algo. -ENOENT for an unknown algo (or "sacd"/"dqn": not trained yet),
 * -EINVAL for bad arguments, -ENOMEM; message in err. */
int pol_eval_run(const struct pol_cost_model *cm, const struct pol_trace_set *traces,
		 const struct pol_env_cfg *cfg, uint64_t seed, const char *algo, int steps,
		 struct pol_eval_result *out, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
