/* Agent pieces without a network: the bandwidth/RTT estimator, the reconnect
 * backoff, the circuit breaker, the fallback exit choice, time dilation and device-only requests. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>

#include "coinfer/agent.h"
#include "common.h"

/* ---- bandwidth and RTT ---------------------------------------------------------------- */

Test(bw, empty)
{
	struct ag_bw b;
	ag_bw_init(&b, NULL);
	cr_expect_eq(b.bps, 0);
	cr_expect_eq(ag_bw_rtt_base_us(&b), 0);
	cr_expect_eq(b.cfg.alpha, 0.25);
	/* a probe needs a base RTT first */
	cr_expect_eq(ag_bw_probe(&b, 10000, 5000), 0);
	cr_expect_eq(b.skipped, 1);
}

Test(bw, rtt_window_and_ewma)
{
	struct ag_bw b;
	ag_bw_init(&b, NULL);
	ag_bw_rtt(&b, 100);
	cr_expect_float_eq(b.srtt_us, 100, 1e-9);
	ag_bw_rtt(&b, 50);
	cr_expect_float_eq(b.srtt_us, 100 + 0.125 * (50 - 100), 1e-9);
	ag_bw_rtt(&b, 200);
	cr_expect_float_eq(ag_bw_rtt_base_us(&b), 50, 1e-9);
	/* the 50 leaves the window after AG_RTT_WINDOW newer samples */
	for (int i = 0; i < AG_RTT_WINDOW; i++)
		ag_bw_rtt(&b, 300 + i);
	cr_expect_float_eq(ag_bw_rtt_base_us(&b), 300, 1e-9);
	ag_bw_rtt(&b, -1); /* ignored */
	cr_expect_eq(b.rtt_samples, 3 + AG_RTT_WINDOW);
}

Test(bw, upload_subtracts_server_and_rtt)
{
	struct ag_bw b;
	ag_bw_init(&b, NULL);
	ag_bw_rtt(&b, 1000);
	/* 125000 bytes = 1 Mbit in 1 s of transfer, after 5 ms of server time and 1 ms RTT */
	cr_expect_eq(ag_bw_upload(&b, 125000, 1000 + 5000 + 1e6, 5000), 1);
	cr_expect_float_eq(b.bps, 1e6, 1e-3);
	cr_expect_eq(ag_bw_upload(&b, 250000, 1000 + 1e6, 0), 1); /* 2 Mbit/s */
	cr_expect_float_eq(b.bps, 1e6 + 0.25 * 1e6, 1e-3);
	cr_expect_float_eq(b.last_bps, 2e6, 1e-3);
	cr_expect_eq(b.uploads, 2);
}

Test(bw, skips_unmeasurable_and_clamps)
{
	struct ag_bw_config c;
	ag_bw_defaults(&c);
	c.max_bps = 1e8;
	struct ag_bw b;
	ag_bw_init(&b, &c);
	ag_bw_rtt(&b, 100);
	/* loopback: transfer time below min_transfer_us (server + RTT explain it all) */
	cr_expect_eq(ag_bw_upload(&b, 3000, 400, 250), 0);
	cr_expect_eq(ag_bw_upload(&b, 3000, 300, 250), 0); /* negative transfer */
	cr_expect_eq(b.bps, 0);
	cr_expect_eq(b.skipped, 2);
	/* 1 MB in 300 us would be 26.7 Gbit/s: clamped */
	cr_expect_eq(ag_bw_upload(&b, 1e6, 400, 0), 1);
	cr_expect_float_eq(b.bps, 1e8, 1e-3);
}

Test(bw, probe)
{
	struct ag_bw b;
	ag_bw_init(&b, NULL);
	ag_bw_rtt(&b, 2000);
	/* 12500 bytes of padding = 100 kbit, 100 ms more than the base RTT: 1 Mbit/s */
	cr_expect_eq(ag_bw_probe(&b, 12500, 2000 + 100000), 1);
	cr_expect_float_eq(b.bps, 1e6, 1e-3);
	cr_expect_eq(b.probes, 1);
}

Test(bw, tracks_a_step)
{
	struct ag_bw b;
	ag_bw_init(&b, NULL);
	ag_bw_rtt(&b, 0);
	for (int i = 0; i < 20; i++)
		ag_bw_upload(&b, 125000, 1e6, 0); /* 1 Mbit/s */
	cr_expect_float_eq(b.bps, 1e6, 1e-3);
	double prev_err = 9e6;
	for (int k = 1; k <= 16; k++) {
		ag_bw_upload(&b, 125000, 1e5, 0); /* 10 Mbit/s */
		double err = 10e6 - b.bps;
		cr_expect_float_eq(err, 9e6 * pow(0.75, k), 1e-3 * 9e6 * pow(0.75, k) + 1e-3);
		cr_expect_lt(err, prev_err);
		prev_err = err;
	}
}

/* ---- backoff -------------------------------------------------------------------------- */

Test(backoff, doubles_to_the_cap_with_equal_jitter)
{
	struct ag_backoff b;
	ag_backoff_init(&b, 100000, 1000000, 42);
	uint64_t lo[] = {50000, 100000, 200000, 400000, 500000, 500000, 500000};
	uint64_t hi[] = {100000, 200000, 400000, 800000, 1000000, 1000000, 1000000};
	for (int i = 0; i < 7; i++) {
		uint64_t d = ag_backoff_next(&b);
		cr_expect(d >= lo[i] && d <= hi[i], "attempt %d: %llu not in [%llu, %llu]", i,
			  (unsigned long long)d, (unsigned long long)lo[i], (unsigned long long)hi[i]);
	}
	ag_backoff_reset(&b);
	uint64_t d = ag_backoff_next(&b);
	cr_expect(d >= 50000 && d <= 100000);
	/* many attempts do not overflow */
	for (int i = 0; i < 200; i++)
		d = ag_backoff_next(&b);
	cr_expect(d >= 500000 && d <= 1000000);
}

Test(backoff, jitter_spreads_and_is_deterministic)
{
	uint64_t mn = UINT64_MAX, mx = 0;
	for (uint64_t seed = 1; seed <= 2000; seed++) {
		struct ag_backoff b, c;
		ag_backoff_init(&b, 80000, 5000000, seed);
		ag_backoff_init(&c, 80000, 5000000, seed);
		ag_backoff_next(&b), ag_backoff_next(&c);
		uint64_t d = ag_backoff_next(&b);
		cr_assert_eq(d, ag_backoff_next(&c));
		mn = d < mn ? d : mn;
		mx = d > mx ? d : mx;
	}
	/* attempt 1: [80 ms, 160 ms], spread over most of it */
	cr_expect(mn >= 80000 && mn < 85000, "min %llu", (unsigned long long)mn);
	cr_expect(mx <= 160000 && mx > 155000, "max %llu", (unsigned long long)mx);
}

Test(backoff, cap_below_base)
{
	struct ag_backoff b;
	ag_backoff_init(&b, 300000, 1000, 7);
	for (int i = 0; i < 5; i++) {
		uint64_t d = ag_backoff_next(&b);
		cr_expect(d >= 150000 && d <= 300000);
	}
}

/* ---- circuit breaker (the test's clock: plain ns values) ---------------------------------- */

#define BMS 1000000ull /* ns */

static struct ag_breaker breaker(int threshold)
{
	struct ag_breaker_config c = {.threshold = threshold, .base_us = 100000,
				      .cap_us = 800000, .timeout_us = 250000};
	struct ag_breaker b;
	ag_breaker_init(&b, &c, 42);
	return b;
}

Test(breaker, defaults)
{
	struct ag_breaker_config c;
	ag_breaker_defaults(&c);
	cr_expect_eq(c.threshold, 3);
	cr_expect_eq(c.base_us, 50000);
	cr_expect_eq(c.cap_us, 1000000);
	cr_expect_eq(c.timeout_us, 1000000);
	struct ag_breaker b;
	ag_breaker_init(&b, NULL, 1);
	cr_expect_eq(b.st, AG_BRK_UP);
	cr_expect(ag_breaker_allows(&b));
	cr_expect_eq(ag_breaker_next_ns(&b), UINT64_MAX);
}

Test(breaker, consecutive_failures_open_it)
{
	struct ag_breaker b = breaker(3);
	uint64_t t = 5 * BMS;
	ag_breaker_failure(&b, t);
	ag_breaker_failure(&b, t);
	ag_breaker_success(&b, t); /* not consecutive: the count starts over */
	cr_expect_eq(b.fails, 0);
	ag_breaker_failure(&b, t);
	ag_breaker_failure(&b, t);
	cr_expect(ag_breaker_allows(&b));
	cr_expect_eq(b.ups, 0, "a success while up is no transition");
	ag_breaker_failure(&b, t);
	cr_expect_eq(b.st, AG_BRK_DOWN);
	cr_expect(!ag_breaker_allows(&b));
	cr_expect_eq(b.downs, 1);
	/* the first probe after the first backoff step: [base/2, base] */
	cr_expect(b.t_probe >= t + 50 * BMS && b.t_probe <= t + 100 * BMS, "probe at +%llu ns",
		  (unsigned long long)(b.t_probe - t));
	cr_expect_eq(ag_breaker_next_ns(&b), b.t_probe);
	/* requests sent before it opened time out later: still one transition */
	ag_breaker_failure(&b, t + BMS);
	cr_expect_eq(b.downs, 1);
	cr_expect_eq(b.st, AG_BRK_DOWN);
}

Test(breaker, probe_schedule_backs_off_to_the_cap)
{
	struct ag_breaker b = breaker(1);
	uint64_t t = 0;
	ag_breaker_failure(&b, t);
	/* nominal waits 100, 200, 400, 800, 800 ms, each drawn from [d/2, d] */
	uint64_t nominal[] = {100, 200, 400, 800, 800, 800};
	for (int i = 0; i < 6; i++) {
		uint64_t wait = b.t_probe - t;
		cr_expect(wait >= nominal[i] / 2 * BMS && wait <= nominal[i] * BMS,
			  "probe %d after %llu ns, nominal %llu ms", i, (unsigned long long)wait,
			  (unsigned long long)nominal[i]);
		cr_expect(!ag_breaker_probe_due(&b, b.t_probe - 1));
		t = b.t_probe;
		cr_assert(ag_breaker_probe_due(&b, t));
		ag_breaker_probe_sent(&b, t, 0);
		cr_expect_eq(b.st, AG_BRK_HALF_OPEN);
		cr_expect(!ag_breaker_allows(&b), "half-open: requests stay on the device");
		cr_expect_eq(ag_breaker_next_ns(&b), t + 250 * BMS);
		ag_breaker_tick(&b, t + 250 * BMS - 1);
		cr_expect_eq(b.st, AG_BRK_HALF_OPEN);
		t += 250 * BMS; /* unanswered: down again, a longer wait */
		ag_breaker_tick(&b, t);
		cr_expect_eq(b.st, AG_BRK_DOWN);
	}
	cr_expect_eq(b.probes, 6);
	cr_expect_eq(b.downs, 1, "half-open -> down is no new edge-down transition");
}

Test(breaker, an_answer_closes_it_and_resets_the_backoff)
{
	struct ag_breaker b = breaker(2);
	uint64_t t = 0;
	ag_breaker_failure(&b, t), ag_breaker_failure(&b, t);
	for (int i = 0; i < 3; i++) { /* three unanswered probes: the wait has grown */
		t = b.t_probe;
		ag_breaker_probe_sent(&b, t, 0);
		ag_breaker_tick(&b, t + 250 * BMS);
	}
	t = b.t_probe;
	ag_breaker_probe_sent(&b, t, t + 10 * BMS); /* a reconnect: its own expiry */
	cr_expect_eq(ag_breaker_next_ns(&b), t + 10 * BMS);
	ag_breaker_success(&b, t + BMS); /* a request answered */
	cr_expect_eq(b.st, AG_BRK_UP);
	cr_expect(ag_breaker_allows(&b));
	cr_expect_eq(b.ups, 1);
	cr_expect_eq(b.probes, 4);
	/* open again: the schedule starts at the base */
	t += 2 * BMS;
	ag_breaker_failure(&b, t), ag_breaker_failure(&b, t);
	cr_expect_eq(b.downs, 2);
	cr_expect(b.t_probe - t <= 100 * BMS, "after a reset, %llu ns", (unsigned long long)(b.t_probe - t));
	/* an answer while down (a late RESULT) closes it as well as the probe's */
	ag_breaker_success(&b, t + 1);
	cr_expect_eq(b.st, AG_BRK_UP);
	cr_expect_eq(b.ups, 2);
}

Test(breaker, a_pong_closes_it_on_probation)
{
	struct ag_breaker b = breaker(3);
	uint64_t t = 0;
	for (int i = 0; i < 3; i++)
		ag_breaker_failure(&b, t);
	uint64_t nominal = 100; /* ms: the first wait */
	for (int round = 0; round < 4; round++) {
		t = b.t_probe;
		ag_breaker_probe_sent(&b, t, 0);
		ag_breaker_probe_answered(&b, t + BMS); /* a PONG: the edge reads */
		cr_expect_eq(b.st, AG_BRK_UP);
		cr_expect_eq(b.ups, (uint64_t)round + 1);
		/* an overloaded edge: PINGs answered, requests not. One timeout
		 * reopens it, and each round waits longer */
		t += 2 * BMS;
		ag_breaker_failure(&b, t);
		cr_expect_eq(b.st, AG_BRK_DOWN, "round %d", round);
		nominal = nominal * 2 > 800 ? 800 : nominal * 2;
		cr_expect(b.t_probe - t >= nominal / 2 * BMS && b.t_probe - t <= nominal * BMS,
			  "round %d: %llu ns, nominal %llu ms", round,
			  (unsigned long long)(b.t_probe - t), (unsigned long long)nominal);
	}
	cr_expect_eq(b.downs, 5);
	/* a request answered ends the probation: the threshold counts again */
	t = b.t_probe;
	ag_breaker_probe_sent(&b, t, 0);
	ag_breaker_probe_answered(&b, t);
	ag_breaker_success(&b, t);
	ag_breaker_failure(&b, t), ag_breaker_failure(&b, t);
	cr_expect_eq(b.st, AG_BRK_UP);
	ag_breaker_probe_answered(&b, t); /* a PONG while up changes nothing */
	cr_expect_eq(b.fails, 2);
}

Test(breaker, trip_and_failure_while_half_open)
{
	struct ag_breaker b = breaker(5);
	ag_breaker_trip(&b, 0); /* an unanswered PING: at once */
	cr_expect_eq(b.st, AG_BRK_DOWN);
	cr_expect_eq(b.downs, 1);
	ag_breaker_probe_sent(&b, b.t_probe, 0);
	uint64_t t = b.t_probe + BMS;
	ag_breaker_failure(&b, t); /* the reconnect that was the probe failed */
	cr_expect_eq(b.st, AG_BRK_DOWN);
	cr_expect_gt(b.t_probe, t);
	ag_breaker_trip(&b, t); /* down already: the schedule stands */
	cr_expect_eq(b.downs, 1);
}

Test(breaker, threshold_zero_never_opens)
{
	struct ag_breaker b = breaker(0);
	for (int i = 0; i < 100; i++)
		ag_breaker_failure(&b, (uint64_t)i * BMS);
	ag_breaker_trip(&b, 200 * BMS);
	cr_expect(ag_breaker_allows(&b));
	cr_expect_eq(b.downs, 0);
	ag_breaker_probe_sent(&b, 0, 0); /* nothing to probe while up */
	cr_expect_eq(b.probes, 0);
	cr_expect_str_eq(ag_breaker_state_name(AG_BRK_HALF_OPEN), "half-open");
}

Test(breaker, jitter_is_the_seeds)
{
	uint64_t first[2];
	for (int k = 0; k < 2; k++) {
		struct ag_breaker_config c = {.threshold = 1, .base_us = 100000, .cap_us = 800000,
					      .timeout_us = 1000};
		struct ag_breaker b, same;
		ag_breaker_init(&b, &c, 7 + (uint64_t)k);
		ag_breaker_init(&same, &c, 7 + (uint64_t)k);
		ag_breaker_failure(&b, 0), ag_breaker_failure(&same, 0);
		cr_expect_eq(b.t_probe, same.t_probe);
		first[k] = b.t_probe;
	}
	cr_expect_neq(first[0], first[1], "two seeds, two schedules");
}

/* ---- fallback choice -------------------------------------------------------------------- */

/* The bundled model's shape: exits of 13, 15 and 20 positions sharing 8 and 10. */
static void shape(struct ag_times *t, double ms)
{
	memset(t, 0, sizeof(*t));
	t->n_exits = 3;
	t->len[0] = 13, t->len[1] = 15, t->len[2] = 20;
	int common[3][3] = {{13, 8, 8}, {8, 15, 10}, {8, 10, 20}};
	for (int a = 0; a < 3; a++)
		for (int b = 0; b < 3; b++)
			t->common[a][b] = common[a][b];
	for (int e = 0; e < 3; e++)
		for (int p = 0; p < t->len[e]; p++)
			t->ms[e][p] = ms;
}

Test(fallback, deepest_that_fits)
{
	struct ag_times t;
	shape(&t, 1.0);
	struct ag_choice c;
	ag_fallback_choose(&t, 2, 12, 100, &c); /* exit 3 head to 12: 8 layers left */
	cr_expect_eq(c.exit, 2);
	cr_expect_eq(c.from, 12);
	cr_expect_float_eq(c.need_ms, 8, 1e-9);
	cr_expect(c.fits);
	ag_fallback_choose(&t, 2, 12, 7.9, &c); /* exit 2 resumes at 10: 5 left */
	cr_expect_eq(c.exit, 1);
	cr_expect_eq(c.from, 10);
	cr_expect_float_eq(c.need_ms, 5, 1e-9);
	ag_fallback_choose(&t, 2, 12, 8, &c); /* exactly fits */
	cr_expect_eq(c.exit, 2);
}

Test(fallback, nothing_fits_takes_the_quickest)
{
	struct ag_times t;
	shape(&t, 1.0);
	struct ag_choice c;
	/* from 12: exit 1 needs 5 (from 8), exit 2 needs 5 (from 10), exit 3 needs 8 */
	ag_fallback_choose(&t, 2, 12, 4, &c);
	cr_expect_eq(c.exit, 0); /* tie: the shallowest */
	cr_expect_eq(c.from, 8);
	cr_expect(!c.fits);
	cr_expect_float_eq(ag_fallback_reserve_ms(&t, 2, 12), 5, 1e-9);
	/* exit 3 head to 18: only fc7 + relu left, quicker than any branch */
	ag_fallback_choose(&t, 2, 18, 1, &c);
	cr_expect_eq(c.exit, 2);
	cr_expect_eq(c.from, 18);
	cr_expect(!c.fits);
}

Test(fallback, nothing_computed)
{
	struct ag_times t;
	shape(&t, 2.0);
	struct ag_choice c;
	ag_fallback_choose(&t, 2, 0, 35, &c); /* 40, 30, 26 ms */
	cr_expect_eq(c.exit, 1);
	cr_expect_eq(c.from, 0);
	ag_fallback_choose(&t, 2, 0, 40, &c);
	cr_expect_eq(c.exit, 2);
	ag_fallback_choose(&t, 2, 0, 1, &c);
	cr_expect_eq(c.exit, 0);
	cr_expect_float_eq(ag_fallback_reserve_ms(&t, 1, 0), 26, 1e-9);
}

Test(fallback, uneven_layers)
{
	struct ag_times t;
	shape(&t, 0.1);
	t.ms[2][10] = 30; /* conv4: the expensive one */
	struct ag_choice c;
	ag_fallback_choose(&t, 2, 8, 5, &c);
	cr_expect_eq(c.exit, 1); /* exit 3 would need 30+ ms */
	ag_fallback_choose(&t, 2, 11, 5, &c); /* past conv4 */
	cr_expect_eq(c.exit, 2);
	cr_expect_float_eq(c.need_ms, 0.9, 1e-9);
}

Test(fallback, model_shape)
{
	cr_assert_eq(tc_load(), 0);
	struct ag_times t;
	cr_assert_eq(ag_times_init(&t, tc_model), 0);
	cr_expect_eq(t.n_exits, 3);
	cr_expect_eq(t.len[0], 13);
	cr_expect_eq(t.len[1], 15);
	cr_expect_eq(t.len[2], 20);
	cr_expect_eq(t.common[0][2], 8);
	cr_expect_eq(t.common[1][2], 10);
	cr_expect_eq(t.common[0][1], 8);
	cr_expect_eq(t.common[2][2], 20);
	cr_expect_eq(ag_resume_pos(&t, 2, 12, 0), 8);
	cr_expect_eq(ag_resume_pos(&t, 2, 4, 0), 4);
	cr_expect_eq(ag_resume_pos(&t, 0, 12, 2), 8);
}

/* ---- on the device ------------------------------------------------------------------------ */

Test(device, only_matches_the_runtime)
{
	cr_assert_eq(tc_load(), 0);
	for (int e = 0; e < 3; e++) {
		struct ag_config c;
		tc_config(&c, 1);
		c.action.exit = e;
		c.action.partition = tc_model->exit_len[e];
		c.requests = 5;
		c.first_image = 100;
		struct tc_run r;
		cr_assert_eq(tc_run(&c, &r), 0, "%s", r.err);
		cr_assert_eq(r.n, 5);
		for (size_t i = 0; i < r.n; i++) {
			cr_expect_eq(r.r[i].where, AG_DEVICE);
			cr_expect_eq(r.r[i].reason, AG_FB_NONE);
			cr_expect_eq(r.r[i].exit, e);
			cr_expect_eq(r.r[i].image, 100 + (int)r.r[i].id - 1);
			cr_expect_eq(r.r[i].label, tc_local_label(r.r[i].image, e, tc_model->exit_len[e],
								  CC_CODEC_RAW32, 0));
		}
		cr_expect_eq(r.s.connects, 0);
		tc_done(&r);
	}
}

Test(device, dilation_stretches_compute)
{
	cr_assert_eq(tc_load(), 0);
	struct ag_config c;
	tc_config(&c, 1);
	c.action.exit = 0;
	c.action.partition = tc_model->exit_len[0];
	c.requests = 4;
	c.slowdown = 20;
	c.deadline_ms = 1000;
	struct tc_run r;
	cr_assert_eq(tc_run(&c, &r), 0, "%s", r.err);
	for (size_t i = 0; i < r.n; i++) {
		const struct ag_record *x = &r.r[i];
		cr_expect_float_eq(x->head_ms, 20 * x->head_real_ms, 1e-9 + 1e-6 * x->head_ms);
		cr_expect_geq(x->latency_ms, x->head_ms * 0.999);
		/* the real figure is what the request took without the dilation */
		cr_expect_geq(x->latency_real_ms, x->head_real_ms * 0.999, "real %g, head %g, latency %g",
			      x->latency_real_ms, x->head_real_ms, x->latency_ms);
		cr_expect_geq(x->latency_ms - x->latency_real_ms, 19 * x->head_real_ms * 0.999);
	}
	const struct ag_times *me = ag_fleet_measured(r.f), *em = ag_fleet_emulated(r.f);
	for (int p = 0; p < tc_model->exit_len[2]; p++)
		cr_expect_float_eq(em->ms[2][p], 20 * me->ms[2][p], 1e-12);
	tc_done(&r);
}

/* The test's clock for the device emulation: every reading costs `tick` ns and a
 * wait passes exactly its timeout, so what the agent measures and how long it
 * dilates are fixed numbers on any machine, loaded or not. No sockets: the
 * device-only runs below have none to wait for. */
struct fake_clock {
	uint64_t t, tick, waits;
};

static uint64_t fake_now(void *ctx)
{
	struct fake_clock *k = ctx;
	k->t += k->tick;
	return k->t;
}

static int fake_wait(void *ctx, struct pollfd *fds, nfds_t n, uint64_t timeout_ns)
{
	struct fake_clock *k = ctx;
	(void)fds;
	k->t += timeout_ns;
	k->waits++;
	return n ? -1 : 0; /* no sockets here; one would be a bug of the test */
}

static void use_fake_clock(struct ag_config *c, struct fake_clock *k, uint64_t tick_ns)
{
	*k = (struct fake_clock){.t = 1000000000ull, .tick = tick_ns};
	c->clock = (struct ag_clock){.now_ns = fake_now, .wait = fake_wait, .ctx = k};
}

/* Each layer takes max(profile, this machine's time): with the machine's times
 * given (calibration) and the compute timed by the test's clock, the emulated
 * times are exact. (Timed by the wall clock, a calibration run preempted on a
 * loaded host once made a layer 4 ms "measured", and head 18.4 ms.) */
Test(device, profile_times_are_a_floor)
{
	cr_assert_eq(tc_load(), 0);
	static struct ag_times prof, cal;
	cr_assert_eq(ag_times_init(&prof, tc_model), 0);
	cr_assert_eq(ag_times_init(&cal, tc_model), 0);
	for (int e = 0; e < 3; e++)
		for (int p = 0; p < prof.len[e]; p++) {
			prof.ms[e][p] = 1.0; /* a slow device: 1 ms per layer */
			cal.ms[e][p] = 0.01; /* this machine: faster ... */
		}
	cal.ms[1][3] = 3.0; /* ... but for one layer slower than the device */
	struct ag_config c;
	tc_config(&c, 1);
	c.action.exit = 1;
	c.action.partition = tc_model->exit_len[1];
	c.requests = 3;
	c.profile = &prof;
	c.calibration = &cal;
	struct fake_clock k;
	use_fake_clock(&c, &k, 10000); /* a reading: 10 us */
	struct tc_run r;
	cr_assert_eq(tc_run(&c, &r), 0, "%s", r.err);
	const struct ag_times *em = ag_fleet_emulated(r.f), *me = ag_fleet_measured(r.f);
	for (int e = 0; e < 3; e++)
		for (int p = 0; p < prof.len[e]; p++) {
			cr_expect_eq(me->ms[e][p], cal.ms[e][p]);
			cr_expect_eq(em->ms[e][p], e == 1 && p == 3 ? 3.0 : 1.0, "exit %d layer %d: %g", e + 1,
				     p, em->ms[e][p]);
		}
	cr_assert_eq(r.n, 3);
	for (size_t i = 0; i < r.n; i++) {
		/* exit 2's 15 layers: 14 x 1 ms of profile + 3 ms measured; the
		 * compute read one tick of the clock */
		cr_expect_float_eq(r.r[i].head_real_ms, 0.01, 1e-9);
		cr_expect_float_eq(r.r[i].head_ms, 17.0, 1e-9, "head %g ms", r.r[i].head_ms);
		/* answered once the emulated time passed, plus a few readings */
		cr_expect_geq(r.r[i].latency_ms, 17.0);
		cr_expect_lt(r.r[i].latency_ms, 17.0 + 100 * 0.01, "latency %g ms", r.r[i].latency_ms);
		cr_expect_float_eq(r.r[i].latency_ms - r.r[i].latency_real_ms, 17.0 - 0.01, 1e-6);
	}
	cr_expect_gt(k.waits, 0, "the dilation waited through the injected clock");
	tc_done(&r);

	/* compute slower than the profile (a reading of 30 ms): the measured time */
	use_fake_clock(&c, &k, 30000000);
	cr_assert_eq(tc_run(&c, &r), 0, "%s", r.err);
	for (size_t i = 0; i < r.n; i++) {
		cr_expect_float_eq(r.r[i].head_real_ms, 30.0, 1e-9);
		cr_expect_float_eq(r.r[i].head_ms, 30.0, 1e-9, "head %g ms", r.r[i].head_ms);
	}
	tc_done(&r);

	/* a profile or a calibration of another shape is refused */
	struct ag_fleet *f;
	char err[256];
	cal.len[2] = 19;
	cr_expect_eq(ag_fleet_create(&c, tc_model, &tc_ds, &f, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "calibration's exit 3 has 19 layers"), "%s", err);
	cal.len[2] = 20;
	prof.len[0] = 12;
	cr_expect_eq(ag_fleet_create(&c, tc_model, &tc_ds, &f, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "device profile's exit 1 has 12 layers"), "%s", err);
}

Test(device, bad_actions_are_refused)
{
	cr_assert_eq(tc_load(), 0);
	struct ag_config c;
	struct ag_fleet *f;
	char err[256];
	static const struct {
		struct cf_action a;
		enum cc_codec codec;
	} bad[] = {
		{{.exit = 3, .partition = 0, .bits = 8}, CC_CODEC_HUFFMAN},
		{{.exit = 0, .partition = 14, .bits = 8}, CC_CODEC_HUFFMAN},
		{{.exit = 0, .partition = 4, .bits = 1}, CC_CODEC_HUFFMAN},
		{{.exit = 0, .partition = 4, .bits = 8}, CC_CODEC_RAW32},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tc_config(&c, 1);
		c.action = bad[i].a;
		c.codec = bad[i].codec;
		cr_expect_eq(ag_fleet_create(&c, tc_model, &tc_ds, &f, err, sizeof(err)), -EINVAL,
			     "action %zu", i);
	}
}

Test(json, record_and_summary)
{
	struct ag_record r = {.agent = 3, .device_id = 7, .id = 2, .image = 5, .label = 1,
			      .true_label = 1, .confidence = 0.5f, .where = AG_DEVICE,
			      .reason = AG_FB_TIMEOUT, .exit = 1, .from = 8,
			      .action = {.exit = 2, .partition = 8, .bits = 8},
			      .codec = CC_CODEC_HUFFMAN,
			      .latency_ms = 12.5, .latency_real_ms = 3.25, .bytes = 3000,
			      .bw_bps = NAN, .verify_label = -1};
	char buf[2048];
	cr_assert_gt(ag_record_json(&r, buf, sizeof(buf)), 0);
	cr_expect(strstr(buf, "\"where\": \"device\""));
	cr_expect(strstr(buf, "\"fallback\": \"timeout\""));
	cr_expect(strstr(buf, "\"exit\": 2, \"action\": {\"exit\": 3, \"partition\": 8"));
	cr_expect(strstr(buf, "\"resumed_at\": 8"));
	cr_expect(strstr(buf, "\"latency_ms_real\": 3.25"));
	cr_expect(strstr(buf, "\"bandwidth_bps\": null"));
	cr_expect(buf[strlen(buf) - 1] == '\n');
	cr_expect_eq(ag_record_json(&r, buf, 10), -1);
}
