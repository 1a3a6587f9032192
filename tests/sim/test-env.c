/* The trace-driven environment over the committed cost model (pi4-est device,
 * edge-x86 edge, branchy-alexnet codec table): determinism, the bandwidth used is
 * the trace's at the step's time, masks, reward shape, SLO mode, queueing. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coinfer/model.h"
#include "coinfer/sim.h"
#include "traces.h"

#define MODEL COINFER_SOURCE_ROOT "/models/branchy-alexnet.cfm"
#define TRACES COINFER_SOURCE_ROOT "/../shared/data/traces"
#define MAXA 1024

static char err[512];
static struct cr_model *m;
static struct cost_model *cm;
static struct sim_trace_set syn; /* synthetic: two traces */

static void setup(void)
{
	cr_assert_eq(cr_model_load(MODEL, &m, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cost_load(m, COINFER_SOURCE_ROOT, "pi4-est", "edge-x86", NULL, &cm, err,
				   sizeof(err)), 0, "%s", err);
	static const double a[] = {0.5, 2, 8, 1, 0.2, 16, 4, 3, 0.8, 12};
	static const double b[] = {1.5, 0.3, 6, 25, 2.5, 0.1, 9};
	syn.n = 2;
	syn.tr = calloc(2, sizeof(*syn.tr));
	synth_trace(&syn.tr[0], a, 10, 1.0);
	synth_trace(&syn.tr[1], b, 7, 0.7);
}

static void teardown(void)
{
	sim_trace_set_free(&syn);
	free(cm);
	cr_model_free(m);
}

TestSuite(env, .init = setup, .fini = teardown);

static struct pol_env *make(const struct sim_env_cfg *c, uint64_t seed)
{
	struct pol_env *e;
	cr_assert_eq(sim_env_create(cm, &syn, c, seed, &e, err, sizeof(err)), 0, "%s", err);
	return e;
}

/* A run: per step, the state, mask, a masked-uniform action and the outcome. */
struct rec {
	float s[POL_ENV_STATE_DIM];
	uint8_t mask[MAXA];
	int a;
	struct sim_env_outcome o;
};

static void run(struct pol_env *e, uint64_t aseed, struct rec *r, int n)
{
	struct pol_rng rng;
	pol_rng_seed(&rng, aseed);
	int na = sim_env_n_actions(e);
	for (int i = 0; i < n; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		cr_assert_eq(sim_env_state(e, r[i].s, POL_ENV_STATE_DIM), POL_ENV_STATE_DIM);
		int valid = sim_env_mask(e, r[i].mask);
		cr_assert_gt(valid, 0);
		float p[MAXA];
		for (int j = 0; j < na; j++)
			p[j] = r[i].mask[j] ? 1.0f : 0.0f;
		cr_assert_eq(pol_rng_categorical(&rng, p, na, &r[i].a), 0);
		cr_assert_eq(sim_env_step(e, r[i].a, &r[i].o), 0);
		for (int j = 0; j < POL_ENV_STATE_DIM; j++)
			cr_assert(isfinite(r[i].s[j]) && fabsf(r[i].s[j]) < 20, "s[%d] = %g", j, r[i].s[j]);
		cr_assert(isfinite(r[i].o.reward));
	}
}

Test(env, actions_and_roundtrip)
{
	struct pol_env *e = make(NULL, 1);
	int na = sim_env_n_actions(e);
	cr_expect_eq(na, 195, "3 exits, N_e 13/15/20, 4 bits + device-only: %d", na);
	for (int i = 0; i < na; i++) {
		struct cf_action a;
		cr_assert_eq(sim_env_action(e, i, &a), 0);
		cr_expect_eq(sim_env_action_index(e, &a), i);
	}
	struct cf_action dev = {2, cm->ex[2].n, 16}; /* bits ignored at p = N_e */
	cr_expect_geq(sim_env_action_index(e, &dev), 0);
	struct cf_action bad = {2, 1, 5};
	cr_expect_eq(sim_env_action_index(e, &bad), -ENOENT);
	cr_expect_eq(sim_env_action(e, na, &dev), -EINVAL);
	float s[POL_ENV_STATE_DIM];
	cr_expect_eq(sim_env_state(e, s, POL_ENV_STATE_DIM - 1), -EINVAL);
	sim_env_free(e);
}

Test(env, deterministic)
{
	enum { N = 700 };
	struct sim_env_cfg c = sim_env_defaults();
	c.episode_steps = 100;
	static struct rec r1[N], r2[N], r3[N];
	struct pol_env *a = make(&c, 42), *b = make(&c, 42), *d = make(&c, 43);
	run(a, 7, r1, N);
	run(b, 7, r2, N);
	run(d, 7, r3, N);
	int dones = 0, diff = 0;
	for (int i = 0; i < N; i++) {
		cr_assert_eq(memcmp(r1[i].s, r2[i].s, sizeof(r1[i].s)), 0, "state differs at %d", i);
		cr_assert_eq(memcmp(r1[i].mask, r2[i].mask, MAXA), 0, "mask differs at %d", i);
		cr_assert_eq(r1[i].a, r2[i].a);
		cr_assert_eq(memcmp(&r1[i].o, &r2[i].o, sizeof(r1[i].o)), 0, "outcome differs at %d", i);
		dones += r1[i].o.done;
		diff += memcmp(r1[i].s, r3[i].s, sizeof(r1[i].s)) != 0;
	}
	cr_expect_eq(dones, N / 100);
	cr_expect_gt(diff, N / 2, "another seed gives other states (%d of %d differ)", diff, N);
	/* reset replays the same sequence */
	sim_env_reset(a, 42);
	run(a, 7, r3, N);
	for (int i = 0; i < N; i++)
		cr_assert_eq(memcmp(&r1[i].o, &r3[i].o, sizeof(r1[i].o)), 0, "after reset, step %d", i);
	sim_env_free(a);
	sim_env_free(b);
	sim_env_free(d);
}

static void check_bandwidth(const struct sim_trace_set *ts, int random_traces)
{
	struct sim_env_cfg c = sim_env_defaults();
	c.episode_steps = 37;
	c.random_traces = random_traces;
	struct pol_env *e;
	cr_assert_eq(sim_env_create(cm, ts, &c, 9, &e, err, sizeof(err)), 0, "%s", err);
	double t0 = 0, prev_true = -1;
	int first = -1, other = 0;
	for (int i = 0; i < 400; i++) {
		struct sim_env_info in;
		sim_env_info(e, &in);
		cr_assert_eq(in.step, i % 37);
		cr_assert_eq(in.episode, i / 37);
		if (!random_traces)
			cr_assert_eq(in.trace, in.episode % ts->n);
		if (first < 0)
			first = in.trace;
		other += in.trace != first;
		const struct sim_trace *t = &ts->tr[in.trace];
		if (in.step == 0)
			t0 = in.trace_time_s;
		double want_t = fmod(t0 + in.step * 0.2, t->duration_s);
		cr_assert_float_eq(in.trace_time_s, want_t, 1e-9, "step %d", i);
		double bw = sim_trace_bw(t, in.trace_time_s);
		cr_assert_eq(in.bw_mbps, bw);
		struct cost_state s;
		sim_env_true_state(e, &s);
		cr_assert_eq(s.bandwidth_bps, fmax(bw, c.min_bw_mbps) * 1e6);
		/* the device's knowledge: the previous step's true rate */
		if (in.step > 0)
			cr_assert_eq(in.bw_last_mbps, prev_true);
		uint8_t mask[MAXA];
		sim_env_mask(e, mask);
		int a = sim_env_n_actions(e) - 1; /* deepest exit on the device: always valid */
		struct sim_env_outcome o;
		cr_assert_eq(sim_env_step(e, a, &o), 0);
		cr_assert_eq(o.bandwidth_bps, s.bandwidth_bps);
		prev_true = bw;
	}
	cr_expect(ts->n == 1 || other > 0, "more than one trace used");
	sim_env_free(e);
}

Test(env, bandwidth_is_the_trace)
{
	check_bandwidth(&syn, 0);
	check_bandwidth(&syn, 1);
	struct stat st;
	if (stat(TRACES, &st) == 0) {
		struct sim_trace_set real;
		cr_assert_eq(sim_trace_dir_load(TRACES, &real, err, sizeof(err)), 0, "%s", err);
		check_bandwidth(&real, 1);
		sim_trace_set_free(&real);
	}
}

Test(env, masks)
{
	struct sim_env_cfg c = sim_env_defaults();
	c.bits_mask = 0x2; /* 8 bits only */
	struct pol_env *e = make(&c, 3);
	uint8_t mask[MAXA];
	int na = sim_env_n_actions(e);
	int valid = sim_env_mask(e, mask);
	int sum_n = cm->ex[0].n + cm->ex[1].n + cm->ex[2].n;
	cr_expect_eq(valid, sum_n + 3, "48 at 8 bits + 3 device-only: %d", valid);
	int devonly = 0;
	for (int i = 0; i < na; i++) {
		struct cf_action a;
		sim_env_action(e, i, &a);
		int dev = a.partition == cm->ex[a.exit].n;
		devonly += dev;
		cr_expect_eq(mask[i], dev || a.bits == 8, "action %d (%d,%d,%d)", i, a.exit, a.partition, a.bits);
		if (!mask[i]) {
			struct sim_env_outcome o;
			cr_expect_eq(sim_env_step(e, i, &o), -EINVAL);
		}
	}
	cr_expect_eq(devonly, 3, "one device-only action per exit");
	sim_env_free(e);

	/* all bits: everything valid while the link is up */
	e = make(NULL, 3);
	cr_expect_eq(sim_env_mask(e, mask), na);
	sim_env_free(e);

	/* a dead link: the device saw 0 Mbit/s, only device-only actions remain */
	struct sim_trace_set dead = {1, calloc(1, sizeof(struct sim_trace))};
	static const double z[] = {0, 0, 0};
	synth_trace(&dead.tr[0], z, 3, 1);
	cr_assert_eq(sim_env_create(cm, &dead, NULL, 1, &e, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(sim_env_mask(e, mask), 3);
	struct cost_state s;
	sim_env_true_state(e, &s);
	cr_expect_eq(s.bandwidth_bps, 0.01e6, "floored at min_bw_mbps");
	sim_env_free(e);
	sim_trace_set_free(&dead);
}

Test(env, reward_shape)
{
	struct sim_env_cfg c = sim_env_defaults();
	c.energy_j = 0.5;
	struct pol_env *e = make(&c, 5);
	struct cost_estimate k = {.latency_ms = 60, .energy_j = 0.1, .accuracy = 0.5};
	struct sim_env_outcome o;
	/* monotone in accuracy, anti-monotone in latency, at several bandwidths */
	static const double bws[] = {0.1e6, 1e6, 5e6, 30e6};
	for (int bi = 0; bi < 4; bi++) {
		float prev = -INFINITY;
		for (double acc = 0; acc <= 1.0001; acc += 0.05) {
			k.accuracy = acc;
			float r = sim_env_reward(e, bws[bi], &k, &o);
			cr_expect_gt(r, prev, "accuracy %g, bw %g", acc, bws[bi]);
			prev = r;
		}
		k.accuracy = 0.7;
		prev = INFINITY;
		for (double lat = 1; lat <= 350; lat += 7) {
			k.latency_ms = lat;
			float r = sim_env_reward(e, bws[bi], &k, &o);
			cr_expect_lt(r, prev, "latency %g, bw %g", lat, bws[bi]);
			prev = r;
		}
		k.latency_ms = 1e9; /* capped, finite */
		cr_expect(isfinite(sim_env_reward(e, bws[bi], &k, &o)));
		k.latency_ms = INFINITY;
		cr_expect(isfinite(sim_env_reward(e, bws[bi], &k, &o)));
		k.latency_ms = 60;
	}
	/* lambda grows with bandwidth (logarithmically), in [0, 1] */
	double prevl = -1;
	for (double b = 0; b <= 40e6; b += 1e6) {
		sim_env_reward(e, b, &k, &o);
		cr_expect(o.lambda >= prevl && o.lambda >= 0.2 && o.lambda <= 0.8);
		prevl = o.lambda;
	}
	sim_env_reward(e, 1e6, &k, &o);
	cr_expect_float_eq(o.lambda, 0.2 + 0.6 * log(2) / log(21), 1e-12);
	/* the energy budget */
	float ok = sim_env_reward(e, 5e6, &k, &o);
	cr_expect(o.energy_met && o.deadline_met);
	k.energy_j = 0.6;
	float over = sim_env_reward(e, 5e6, &k, &o);
	cr_expect(!o.energy_met);
	cr_expect_float_eq(ok - over, 0.5, 1e-6);
	sim_env_free(e);
}

Test(env, slo_mode)
{
	struct sim_env_cfg c = sim_env_defaults();
	c.reward = SIM_REWARD_SLO;
	c.deadline_ms = 50;
	c.energy_j = 0.2;
	struct pol_env *e = make(&c, 5);
	struct cost_estimate k = {.latency_ms = 40, .energy_j = 0.1, .accuracy = 0.7};
	struct sim_env_outcome o;
	cr_expect_float_eq(sim_env_reward(e, 1e6, &k, &o), 0.7, 1e-6);
	k.latency_ms = 50.5;
	cr_expect_eq(sim_env_reward(e, 1e6, &k, &o), -1.0f);
	cr_expect(!o.deadline_met && o.energy_met);
	k.latency_ms = 40, k.energy_j = 0.3;
	cr_expect_eq(sim_env_reward(e, 1e6, &k, &o), -1.0f);
	cr_expect(o.deadline_met && !o.energy_met);
	sim_env_free(e);

	/* the late weight: a slow miss costs more than a near one, capped at lat_cap,
	 * and an energy-only miss is not late */
	c.slo_late_weight = 0.5;
	e = make(&c, 5);
	k.energy_j = 0.1, k.latency_ms = 75; /* 0.5 of the deadline late */
	cr_expect_float_eq(sim_env_reward(e, 1e6, &k, &o), -1.25, 1e-6);
	k.latency_ms = 1e9;
	cr_expect_float_eq(sim_env_reward(e, 1e6, &k, &o), -1 - 0.5 * c.lat_cap, 1e-6);
	k.latency_ms = INFINITY;
	cr_expect_float_eq(sim_env_reward(e, 1e6, &k, &o), -1 - 0.5 * c.lat_cap, 1e-6);
	k.latency_ms = 40, k.energy_j = 0.3;
	cr_expect_eq(sim_env_reward(e, 1e6, &k, &o), -1.0f);
	sim_env_free(e);
	c.slo_late_weight = -1;
	cr_expect_eq(sim_env_create(cm, &syn, &c, 1, &e, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "slo_late_weight"), "%s", err);
	c.slo_late_weight = 0;

	/* through steps: a deadline no action meets is missed every time */
	c.deadline_ms = 0.001;
	c.energy_j = 0;
	e = make(&c, 5);
	uint8_t mask[MAXA];
	for (int i = 0; i < 50; i++) {
		sim_env_mask(e, mask);
		int a = (i * 37) % sim_env_n_actions(e);
		while (!mask[a])
			a = (a + 1) % sim_env_n_actions(e);
		cr_assert_eq(sim_env_step(e, a, &o), 0);
		cr_expect(!o.deadline_met);
		cr_expect_eq(o.reward, -1.0f);
	}
	sim_env_free(e);

	/* a generous SLO drawn from a list: the reward is the accuracy */
	struct cfg_slo slo[2] = {{.app = "slow", .deadline_ms = 100000},
				 {.app = "slow2", .deadline_ms = 50000, .energy_j = 100}};
	int n = 2;
	c.slo = slo, c.n_slo = n, c.episode_steps = 5;
	e = make(&c, 5);
	int apps[2] = {0};
	for (int i = 0; i < 100; i++) {
		struct sim_env_info in;
		sim_env_info(e, &in);
		cr_assert(in.app == 0 || in.app == 1);
		apps[in.app]++;
		cr_expect_eq(in.deadline_ms, slo[in.app].deadline_ms);
		float s[POL_ENV_STATE_DIM];
		sim_env_state(e, s, POL_ENV_STATE_DIM);
		cr_expect_float_eq(s[POL_OBS_DEADLINE], slo[in.app].deadline_ms / 100, 1e-3);
		cr_expect_eq(s[POL_OBS_HAS_BUDGET], in.app == 1 ? 1.0f : 0.0f);
		int a = sim_env_n_actions(e) - 1;
		cr_assert_eq(sim_env_step(e, a, &o), 0);
		cr_expect(o.deadline_met && o.energy_met);
		cr_expect_float_eq(o.reward, (float)cm->ex[2].fp32_accuracy, 1e-6);
	}
	cr_expect(apps[0] > 0 && apps[1] > 0, "both apps drawn: %d %d", apps[0], apps[1]);
	sim_env_free(e);
}

Test(env, queue_grows_with_other_devices)
{
	struct pol_env *e = make(NULL, 1);
	double prev = -1, rho;
	for (int k = 0; k <= 40; k++) {
		double q = sim_env_queue_ms(e, k, &rho);
		cr_expect(q >= prev, "k %d: %g < %g", k, q, prev);
		cr_expect(rho >= 0 && rho <= 0.95 && q <= 1000);
		if (rho < 0.95 && k > 0)
			cr_expect_gt(q, prev);
		prev = q;
	}
	cr_expect_eq(sim_env_queue_ms(e, 0, NULL), 0);
	sim_env_free(e);

	/* fixed numbers of other devices: queue and offloaded latency grow */
	struct sim_env_cfg c = sim_env_defaults();
	c.edge_service_ms = 10;
	double prevq = -1, prevlat = -1;
	for (int k = 0; k <= 16; k += 4) {
		c.others_min = c.others_max = k;
		e = make(&c, 11);
		struct cost_state s;
		sim_env_true_state(e, &s);
		double rho_k = fmin(k * 10 / 200.0, 0.95);
		cr_expect_float_eq(s.queue_ms, 10 * rho_k / (2 * (1 - rho_k)), 1e-9, "k %d", k);
		cr_expect_gt(s.queue_ms, prevq);
		struct cf_action a = {2, 0, 8};
		struct sim_env_outcome o;
		cr_assert_eq(sim_env_step(e, sim_env_action_index(e, &a), &o), 0);
		cr_expect_gt(o.cost.latency_ms, prevlat);
		cr_expect_eq(o.queue_ms, s.queue_ms);
		prevq = s.queue_ms;
		prevlat = o.cost.latency_ms;
		sim_env_free(e);
	}
}

Test(env, step_matches_cost_model_and_oracle)
{
	struct sim_env_cfg c = sim_env_defaults();
	c.energy_j = 0.3;
	struct pol_env *e = make(&c, 21);
	double sum_lat = 0, sum_e = 0;
	for (int i = 0; i < 200; i++) {
		struct cost_state s;
		sim_env_true_state(e, &s);
		cr_assert(s.load >= 1 && s.load <= 3);
		double fr = s.freq_hz / cm->f_hz;
		cr_assert(fabs(fr - 0.6) < 1e-12 || fabs(fr - 0.8) < 1e-12 || fabs(fr - 1) < 1e-12);
		struct cf_action a;
		cr_assert_eq(cost_search_oracle(cm, &s, CF_ACTION_BITS_ALL, &a), 0);
		int idx = sim_env_action_index(e, &a);
		cr_assert_geq(idx, 0);
		struct cost_estimate want;
		cr_assert_eq(cost_eval(cm, &s, &a, &want), 0);
		struct sim_env_outcome o;
		cr_assert_eq(sim_env_step(e, idx, &o), 0);
		cr_assert_eq(memcmp(&o.cost, &want, sizeof(want)), 0);
		sum_lat += o.cost.latency_ms;
		sum_e += o.cost.energy_j;
	}
	struct cost_state s0;
	sim_env_true_state(e, &s0);
	for (int x = 0; x < cm->n_exits; x++) {
		struct cf_action d = {x, cm->ex[x].n, 0}, o8 = {x, 0, 8};
		struct cost_estimate cd, co;
		cost_eval(cm, &s0, &d, &cd);
		cost_eval(cm, &s0, &o8, &co);
		cr_log_info("exit %d: device-only %.2f ms %.5f J; p=0/8b %.2f ms %.5f J", x + 1,
			    cd.latency_ms, cd.energy_j, co.latency_ms, co.energy_j);
	}
	cr_log_info("oracle over 200 steps: mean latency %.2f ms, energy %.4f J", sum_lat / 200,
		    sum_e / 200);
	sim_env_free(e);
}

Test(env, bad_config)
{
	struct pol_env *e;
	struct sim_env_cfg c = sim_env_defaults();
	c.rho_max = 1;
	cr_expect_eq(sim_env_create(cm, &syn, &c, 1, &e, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "rho_max"), "%s", err);
	c = sim_env_defaults();
	c.others_min = 5, c.others_max = 2;
	cr_expect_eq(sim_env_create(cm, &syn, &c, 1, &e, err, sizeof(err)), -EINVAL);
	struct sim_trace_set none = {0, NULL};
	cr_expect_eq(sim_env_create(cm, &none, NULL, 1, &e, err, sizeof(err)), -EINVAL);
}
