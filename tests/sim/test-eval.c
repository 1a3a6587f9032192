/* sim_eval_run over the committed cost model (pi4-est device, edge-x86 edge,
 * branchy-alexnet codec table) and synthetic traces: determinism, oracle vs
 * Edgent on a constant bandwidth, device-only sends nothing, masked offloading,
 * the learners sent to sim_eval_run_policy. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/model.h"
#include "coinfer/sim-eval.h"
#include "traces.h"

#define MODEL COINFER_SOURCE_ROOT "/models/branchy-alexnet.cfm"

static char err[512];
static struct cr_model *m;
static struct cost_model *cm;

static void setup(void)
{
	cr_assert_eq(cr_model_load(MODEL, &m, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cost_load(m, COINFER_SOURCE_ROOT, "pi4-est", "edge-x86", NULL, &cm, err,
				   sizeof(err)), 0, "%s", err);
}

static void teardown(void)
{
	free(cm);
	cr_model_free(m);
}

TestSuite(eval, .init = setup, .fini = teardown);

/* One trace of n samples, dt seconds apart. */
static void synth(struct sim_trace_set *set, const double *mbps, int n, double dt)
{
	set->n = 1;
	set->tr = calloc(1, sizeof(*set->tr));
	cr_assert(set->tr);
	synth_trace(set->tr, mbps, n, dt);
}

static struct sim_eval_result run(const struct sim_trace_set *ts, const struct sim_env_cfg *c,
				  uint64_t seed, const char *algo, int steps)
{
	struct sim_eval_result r;
	cr_assert_eq(sim_eval_run(cm, ts, c, seed, algo, steps, &r, err, sizeof(err)), 0, "%s: %s",
		     algo, err);
	cr_assert_eq(r.steps, steps);
	cr_assert(r.slo_attainment >= 0 && r.slo_attainment <= 1);
	cr_assert(r.mean_accuracy > 0 && r.mean_accuracy <= 1);
	cr_assert(r.p99_latency_ms > 0 && r.decision_us >= 0);
	return r;
}

Test(eval, same_seed_same_results)
{
	static const double bw[] = {0.5, 2, 8, 1, 0.2, 16, 4, 3, 0.8, 12};
	struct sim_trace_set ts;
	synth(&ts, bw, 10, 1.0);
	static const char *const algos[] = {"edgent", "oracle", "device-only", "edge-only"};
	for (int i = 0; i < 4; i++) {
		struct sim_eval_result a = run(&ts, NULL, 9, algos[i], 3000);
		struct sim_eval_result b = run(&ts, NULL, 9, algos[i], 3000);
		/* everything but the timing, bit for bit */
		const double x[] = {a.slo_attainment, a.deadline_attainment, a.energy_attainment,
				    a.mean_accuracy, a.mean_latency_ms, a.p99_latency_ms, a.energy_j,
				    a.mean_bytes};
		const double y[] = {b.slo_attainment, b.deadline_attainment, b.energy_attainment,
				    b.mean_accuracy, b.mean_latency_ms, b.p99_latency_ms, b.energy_j,
				    b.mean_bytes};
		cr_expect_eq(memcmp(x, y, sizeof(x)), 0, "%s differs between runs", algos[i]);
		cr_expect_eq(a.masked, b.masked);
		cr_expect_str_eq(a.algo, algos[i]);
	}
	sim_trace_set_free(&ts);
}

Test(eval, oracle_beats_edgent_on_constant_bandwidth)
{
	static const double deadlines[] = {12, 25, 100};
	static const double rates[] = {0.5, 2, 10};
	for (int r = 0; r < 3; r++) {
		struct sim_trace_set ts;
		synth(&ts, &rates[r], 1, 1.0);
		for (int d = 0; d < 3; d++) {
			struct sim_env_cfg c = sim_env_defaults();
			c.deadline_ms = deadlines[d];
			struct sim_eval_result e = run(&ts, &c, 3, "edgent", 4000);
			struct sim_eval_result o = run(&ts, &c, 3, "oracle", 4000);
			cr_log_info("%g Mbit/s %g ms: edgent slo %g acc %g, oracle slo %g acc %g",
				    rates[r], deadlines[d], e.slo_attainment, e.mean_accuracy,
				    o.slo_attainment, o.mean_accuracy);
			cr_expect_geq(o.slo_attainment, e.slo_attainment, "%g Mbit/s, %g ms: %g < %g",
				      rates[r], deadlines[d], o.slo_attainment, e.slo_attainment);
			cr_expect_geq(o.mean_accuracy, e.mean_accuracy - 1e-12,
				      "%g Mbit/s, %g ms: %g < %g", rates[r], deadlines[d],
				      o.mean_accuracy, e.mean_accuracy);
		}
		sim_trace_set_free(&ts);
	}
}

Test(eval, device_only_sends_nothing)
{
	static const double bw[] = {0.5, 2, 8, 0, 0.2, 16};
	struct sim_trace_set ts;
	synth(&ts, bw, 6, 1.0);
	struct sim_eval_result d = run(&ts, NULL, 5, "device-only", 3000);
	cr_expect_eq(d.mean_bytes, 0);
	cr_expect_eq(d.masked, 0);
	struct sim_eval_result e = run(&ts, NULL, 5, "edge-only", 3000);
	cr_expect_gt(e.mean_bytes, 0);
	cr_expect_gt(e.masked, 0, "the link is down a sixth of the time");
	sim_trace_set_free(&ts);
}

Test(eval, refuses_learners_and_unknown)
{
	static const double bw[] = {5};
	struct sim_trace_set ts;
	synth(&ts, bw, 1, 1.0);
	struct sim_eval_result r;
	cr_expect_eq(sim_eval_run(cm, &ts, NULL, 1, "sacd", 10, &r, err, sizeof(err)), -ENOENT);
	cr_expect(strstr(err, "sim_eval_run_policy"), "%s", err);
	cr_expect_eq(sim_eval_run(cm, &ts, NULL, 1, "dqn", 10, &r, err, sizeof(err)), -ENOENT);
	cr_expect_eq(sim_eval_run(cm, &ts, NULL, 1, "nope", 10, &r, err, sizeof(err)), -ENOENT);
	cr_expect_eq(sim_eval_run(cm, &ts, NULL, 1, "edgent", 0, &r, err, sizeof(err)), -EINVAL);
	sim_trace_set_free(&ts);
}
