/* pol_eval_run: one decision-maker over the trace-driven environment
 * (policy-eval.h). */
#define _POSIX_C_SOURCE 200809L
#include "coinfer/policy-eval.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

void pol_env_est_state(const struct pol_env *env, struct pol_state *s)
{
	struct pol_env_info in;
	pol_env_true_state(env, s);
	pol_env_info(env, &in);
	s->bandwidth_bps = in.bw_est_mbps * 1e6;
	s->queue_ms = in.last_queue_ms;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

int pol_eval_run(const struct pol_cost_model *cm, const struct pol_trace_set *traces,
		 const struct pol_env_cfg *cfg, uint64_t seed, const char *algo, int steps,
		 struct pol_eval_result *out, char *err, size_t errlen)
{
	if (!cm || !traces || traces->n < 1 || !algo || !out || steps < 1)
		return fail(err, errlen, -EINVAL, "eval: needs a cost model, traces and steps >= 1");
	if (!strcmp(algo, "sacd") || !strcmp(algo, "dqn"))
		return fail(err, errlen, -ENOENT, "eval: %s: not trained yet", algo);
	if (strcmp(algo, "edgent") && strcmp(algo, "oracle") && strcmp(algo, "device-only") &&
	    strcmp(algo, "edge-only"))
		return fail(err, errlen, -ENOENT,
			    "eval: unknown algo '%s' (edgent, oracle, device-only, edge-only)", algo);
	int oracle = !strcmp(algo, "oracle");
	struct pol_env_cfg c = cfg ? *cfg : pol_env_defaults();
	struct pol_env *env = NULL;
	struct pol_optimizer *opt = NULL;
	uint8_t *mask = NULL;
	double *lat = malloc((size_t)steps * sizeof(double));
	int rc;
	if (!lat)
		return fail(err, errlen, -ENOMEM, "eval: out of memory");
	if ((rc = pol_env_create(cm, traces, &c, seed, &env, err, errlen)))
		goto done;
	struct pol_opt_cfg oc = {.cm = cm, .bits_mask = c.bits_mask ? c.bits_mask : POL_BITS_ALL};
	if ((rc = pol_optimizer_create(algo, &oc, &opt, err, errlen)))
		goto done;
	int na = pol_env_n_actions(env);
	if (!(mask = malloc((size_t)na))) {
		rc = fail(err, errlen, -ENOMEM, "eval: out of memory");
		goto done;
	}
	memset(out, 0, sizeof(*out));
	snprintf(out->algo, sizeof(out->algo), "%s", algo);
	out->steps = steps;
	double slo = 0, dl = 0, en = 0, acc = 0, lsum = 0, esum = 0, bsum = 0, dus = 0;
	for (int i = 0; i < steps; i++) {
		struct pol_state s;
		struct pol_action a;
		struct pol_env_outcome o;
		if (oracle)
			pol_env_true_state(env, &s);
		else
			pol_env_est_state(env, &s);
		pol_env_mask(env, mask);
		double t0 = now_us();
		rc = pol_decide(opt, &s, &a);
		dus += now_us() - t0;
		if (rc) {
			fail(err, errlen, rc, "eval: %s: decision failed at step %d", algo, i);
			goto done;
		}
		int idx = pol_env_action_index(env, &a);
		if (idx < 0 || !mask[idx]) {
			/* offloading is masked (the link was down): decide with no uplink,
			 * and run on the device when the optimizer still offloads */
			out->masked++;
			s.bandwidth_bps = 0;
			if (pol_decide(opt, &s, &a) || (idx = pol_env_action_index(env, &a)) < 0 ||
			    !mask[idx]) {
				if (pol_search_device_only(cm, &s, &a) ||
				    (idx = pol_env_action_index(env, &a)) < 0 || !mask[idx]) {
					rc = fail(err, errlen, -EINVAL,
						  "eval: %s: no valid action at step %d", algo, i);
					goto done;
				}
			}
		}
		if ((rc = pol_env_step(env, idx, &o))) {
			fail(err, errlen, rc, "eval: %s: step %d failed", algo, i);
			goto done;
		}
		slo += o.deadline_met && o.energy_met;
		dl += o.deadline_met;
		en += o.energy_met;
		acc += o.cost.accuracy;
		lat[i] = o.cost.latency_ms;
		lsum += o.cost.latency_ms;
		esum += o.cost.energy_j;
		bsum += o.cost.bytes;
	}
	out->slo_attainment = slo / steps;
	out->deadline_attainment = dl / steps;
	out->energy_attainment = en / steps;
	out->mean_accuracy = acc / steps;
	out->mean_latency_ms = lsum / steps;
	out->energy_j = esum / steps;
	out->mean_bytes = bsum / steps;
	out->decision_us = dus / steps;
	qsort(lat, (size_t)steps, sizeof(double), cmp_double);
	/* nearest rank */
	int k = (int)ceil(0.99 * steps) - 1;
	out->p99_latency_ms = lat[k < 0 ? 0 : k];
	rc = 0;
done:
	free(mask);
	free(lat);
	pol_optimizer_free(opt);
	pol_env_free(env);
	return rc;
}
