/* The cost model on a hand-built two-exit model whose every number is chosen by
 * hand: latency and energy at p = 0, in the middle and at p = N_e equal the
 * formula worked out on paper; batch interpolation, load and frequency scale as
 * documented; Edgent's search, the oracle and the fixed baselines pick what a
 * hand enumeration picks and respect deadline and energy budget. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/cost.h"

static char err[512];

static void near(double got, double want, const char *what)
{
	double tol = 1e-9 * (fabs(want) > 1 ? fabs(want) : 1);
	cr_expect(fabs(got - want) <= tol, "%s: got %.17g, want %.17g", what, got, want);
}

/* Exit 1: A (conv) B (relu) C (fc); exit 2: A B D (conv) E (fc).
 * Tensors: A in 1000 floats, A/B out 2000, D out 4000, C/E out 10. */
struct spec {
	const char *name;
	enum cr_layer_type type;
	double in, out;           /* floats */
	double dev;               /* ms, batch 1 */
	double edge1, edge4;      /* ms, batches 1 and 4 */
};
static const struct spec ex1[] = {
	{"A", CR_LAYER_CONV, 1000, 2000, 10, 1, 2},
	{"B", CR_LAYER_RELU, 2000, 2000, 2, 0.2, 0.5},
	{"C", CR_LAYER_FC, 2000, 10, 3, 0.3, 0.6},
};
static const struct spec ex2[] = {
	{"A", CR_LAYER_CONV, 1000, 2000, 10, 1, 2},
	{"B", CR_LAYER_RELU, 2000, 2000, 2, 0.2, 0.5},
	{"D", CR_LAYER_CONV, 2000, 4000, 40, 4, 10},
	{"E", CR_LAYER_FC, 4000, 10, 5, 0.5, 1.0},
};

static void fill_profile(struct cost_profile *p, int edge)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->device_class, sizeof(p->device_class), edge ? "hand-edge" : "hand-dev");
	snprintf(p->model, sizeof(p->model), "hand");
	p->model_checksum = 0x1234;
	p->n_batches = edge ? 2 : 1;
	p->batches[0] = 1, p->batches[1] = 4;
	p->n_exits = 2;
	for (int e = 0; e < 2; e++) {
		const struct spec *s = e ? ex2 : ex1;
		int n = e ? 4 : 3;
		p->exits[e].n_layers = n;
		for (int i = 0; i < n; i++) {
			struct cost_profile_layer *L = &p->exits[e].layers[i];
			L->pos = i;
			snprintf(L->name, sizeof(L->name), "%s", s[i].name);
			L->type = s[i].type;
			L->in_bytes = 4 * s[i].in;
			L->out_bytes = 4 * s[i].out;
			L->flops = 100 * s[i].in;
			L->mean_ms[0] = L->p95_ms[0] = edge ? s[i].edge1 : s[i].dev;
			L->mean_ms[1] = L->p95_ms[1] = s[i].edge4;
		}
	}
}

static void fill_class(struct cost_device_class *c, const char *name)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->f_hz = 1e9;
	c->kappa = 1e-27;
	c->cycles_from_profile = 1;
	c->tx_power_w = 0.5;
	c->sinr_db = 10 * log10(3.0); /* log2(1 + SINR) = 2 */
	for (int b = 0; b < CF_ACTION_NBITS; b++) {
		c->codec.enc_ns_per_elem[b] = b + 1;             /* 1, 2, 3, 4 ns */
		c->codec.enc_us_per_frame[b] = 10.0 * (b + 1);   /* 10 .. 40 us */
		c->codec.dec_ns_per_elem[b] = 0.5 * (b + 1);
		c->codec.dec_us_per_frame[b] = 5;
	}
}

/* bytes per (p, bits index) by partition; accuracies per bits index */
static const double bytes_at[4][4] = {
	{300, 600, 900, 1200}, {500, 1000, 1500, 2000}, {250, 500, 750, 1000}, {1000, 2000, 3000, 4000}};
static const double acc1[4] = {0.70, 0.79, 0.80, 0.80}, acc2[4] = {0.85, 0.89, 0.90, 0.90};

static void fill_codec(struct cost_codec_table *t)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->model, sizeof(t->model), "hand");
	t->images = 100;
	t->n_exits = 2;
	t->fp32_accuracy[0] = 0.80, t->fp32_accuracy[1] = 0.90;
	for (int e = 0; e < COST_MAX_EXITS; e++)
		for (int p = 0; p < COST_MAX_POS; p++)
			for (int b = 0; b < CF_ACTION_NBITS; b++)
				t->bytes[e][p][b] = -1;
	for (int e = 0; e < 2; e++) {
		const struct spec *s = e ? ex2 : ex1;
		t->n_part[e] = e ? 4 : 3;
		for (int p = 0; p < t->n_part[e]; p++) {
			snprintf(t->layer[e][p], sizeof(t->layer[e][p]), "%s", p ? s[p - 1].name : "input");
			for (int b = 0; b < CF_ACTION_NBITS; b++) {
				t->bytes[e][p][b] = bytes_at[p][b];
				t->accuracy[e][p][b] = e ? acc2[b] : acc1[b];
			}
		}
	}
}

static struct cost_model *hand_model(void)
{
	struct cost_profile *dp = malloc(sizeof(*dp)), *ep = malloc(sizeof(*ep));
	struct cost_device_class dc, ec;
	struct cost_codec_table *ct = malloc(sizeof(*ct));
	struct cost_model *cm = malloc(sizeof(*cm));
	fill_profile(dp, 0);
	fill_profile(ep, 1);
	fill_class(&dc, "hand-dev");
	fill_class(&ec, "hand-edge");
	fill_codec(ct);
	cr_assert_eq(cost_build(cm, dp, &dc, ep, &ec, ct, err, sizeof(err)), 0, "%s", err);
	free(dp);
	free(ep);
	free(ct);
	return cm;
}

static const struct cost_state base = {.bandwidth_bps = 1e6, .rtt_ms = 2, .queue_ms = 1, .batch = 1,
				      .load = 1};

static struct cost_estimate eval(const struct cost_model *cm, const struct cost_state *s, int e, int p,
			    int bits)
{
	struct cf_action a = {e, p, bits};
	struct cost_estimate c;
	cr_assert_eq(cost_eval(cm, s, &a, &c), 0, "eval (%d, %d, %d)", e, p, bits);
	return c;
}

static void expect_action(struct cf_action a, int e, int p, int bits, const char *what)
{
	cr_expect(a.exit == e && a.partition == p && a.bits == bits, "%s: got (%d, %d, %d), want (%d, %d, %d)",
		  what, a.exit, a.partition, a.bits, e, p, bits);
}

Test(cost, latency_and_energy_by_hand)
{
	struct cost_model *cm = hand_model();
	/* p = 0, 8 bits: encode 20 us + 2 ns * 1000 = 0.022 ms; 600 bytes at 1 Mbit/s
	 * = 4.8 ms; RTT + queue 3 ms; edge A+B+C at batch 1 = 1.5 ms; decode 5 us +
	 * 1 ns * 1000 = 0.006 ms */
	struct cost_estimate c = eval(cm, &base, 0, 0, 8);
	near(c.latency_ms, 0.022 + 4.8 + 3 + 1.5 + 0.006, "p=0 latency");
	near(c.dev_ms, 0, "p=0 device");
	near(c.bytes, 600, "p=0 bytes");
	near(c.accuracy, 0.79, "p=0 accuracy");
	/* energy: encode 0.022 ms at 1 GHz = 22000 cycles * kappa f^2 (1e-9 J/cycle);
	 * transmission P D / (W log2(1 + SINR)) = 0.5 * 4800 / (1e6 * 2) */
	near(c.energy_comp_j, 22000 * 1e-9, "p=0 computation energy");
	near(c.energy_tx_j, 0.5 * 4800 / 2e6, "p=0 transmission energy");
	near(c.energy_j, 2.2e-5 + 1.2e-3, "p=0 energy");

	/* p = 1 (after A), 4 bits: device 10 ms; encode 10 us + 1 ns * 2000 =
	 * 0.012 ms; 500 bytes = 4 ms; edge B+C = 0.5 ms; decode 5 us + 0.5 * 2000 ns */
	c = eval(cm, &base, 0, 1, 4);
	near(c.latency_ms, 10 + 0.012 + 4 + 3 + 0.5 + 0.006, "p=1 latency");
	near(c.energy_j, (10e6 + 12000) * 1e-9 + 0.5 * 4000 / 2e6, "p=1 energy");

	/* p = N_e = 3: the whole exit on the device, nothing sent */
	c = eval(cm, &base, 0, 3, 0);
	near(c.latency_ms, 15, "p=N latency");
	near(c.energy_j, 15e6 * 1e-9, "p=N energy");
	near(c.bytes, 0, "p=N bytes");
	near(c.accuracy, 0.80, "p=N accuracy is the exit's fp32 accuracy");
	near(c.tx_ms + c.net_ms + c.edge_ms + c.encode_ms + c.decode_ms, 0, "p=N network terms");

	/* exit 2 in the middle (after D), 16 bits: device 52 ms; encode 40 us + 4 ns *
	 * 4000; 4000 bytes = 32 ms; edge E = 0.5 ms; decode 5 us + 2 ns * 4000 */
	c = eval(cm, &base, 1, 3, 16);
	near(c.latency_ms, 52 + 0.056 + 32 + 3 + 0.5 + 0.013, "exit 2 p=3 latency");
	near(c.accuracy, 0.90, "exit 2 p=3 accuracy");
	free(cm);
}

Test(cost, batch_load_frequency)
{
	struct cost_model *cm = hand_model();
	struct cost_state s = base;
	/* edge tail of exit 1 from p = 0: 1.5 ms at batch 1, 3.1 ms at batch 4 */
	near(cost_edge_ms(cm, 0, 0, 1), 1.5, "batch 1");
	near(cost_edge_ms(cm, 0, 0, 2.5), 1.5 + 0.5 * 1.6, "batch 2.5 interpolated");
	near(cost_edge_ms(cm, 0, 0, 8), 3.1 * 2, "batch 8: batch 4's time per image");
	s.batch = 2.5;
	near(eval(cm, &s, 0, 0, 8).edge_ms, 2.3, "state batch");
	/* load 2 at half the nominal frequency: device time x4; energy kappa f^2 C D
	 * with the same cycles at f = 0.5 GHz: a quarter */
	s = base;
	s.load = 2;
	s.freq_hz = 0.5e9;
	struct cost_estimate c = eval(cm, &s, 0, 3, 0);
	near(c.latency_ms, 60, "stretched device time");
	near(c.energy_j, 1e-27 * 0.25e18 * 15e6, "energy at half frequency");
	free(cm);
}

Test(cost, refuses_bad_actions_and_tables)
{
	struct cost_model *cm = hand_model();
	struct cost_estimate c;
	struct cf_action bad[] = {{-1, 0, 8}, {2, 0, 8}, {0, 4, 8}, {0, -1, 8}, {0, 1, 7}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(cost_eval(cm, &base, &bad[i], &c), -EINVAL, "action %zu", i);
	struct cost_state nobw = base;
	nobw.bandwidth_bps = 0;
	struct cf_action send = {0, 1, 8}, keep = {0, 3, 0};
	cr_expect_eq(cost_eval(cm, &nobw, &send, &c), 0);
	cr_expect(isinf(c.latency_ms) && isinf(c.energy_j), "no uplink: the frame never arrives");
	cr_expect_eq(cost_eval(cm, &nobw, &keep, &c), 0);
	cr_expect_eq(c.latency_ms, 15, "running locally needs no uplink");
	struct cf_action a;
	nobw.deadline_ms = 100;
	cost_search_edgent(cm, &nobw, CF_ACTION_BITS_ALL, &a);
	expect_action(a, 1, 4, 0, "no uplink: Edgent keeps the deepest exit on the device");
	struct cf_action all[64];
	cr_expect_eq(cost_actions(cm, CF_ACTION_BITS_ALL, all, 64), 3 * 4 + 1 + 4 * 4 + 1);
	cr_expect_eq(cost_actions(cm, 1u << 1, all, 64), 3 + 1 + 4 + 1);
	cr_expect(all[3].exit == 0 && all[3].partition == 3 && all[3].bits == 0);

	struct cost_profile *dp = malloc(sizeof(*dp)), *ep = malloc(sizeof(*ep));
	struct cost_device_class dc, ec;
	struct cost_codec_table *ct = malloc(sizeof(*ct));
	fill_profile(dp, 0);
	fill_profile(ep, 1);
	fill_class(&dc, "hand-dev");
	fill_class(&ec, "hand-edge");
	fill_codec(ct);
	ct->bytes[1][3][3] = -1;
	cr_expect_eq(cost_build(cm, dp, &dc, ep, &ec, ct, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "no entry for exit 2 partition 3 bits 16") != NULL, "%s", err);
	fill_codec(ct);
	snprintf(ct->layer[0][2], sizeof(ct->layer[0][2]), "X");
	cr_expect_eq(cost_build(cm, dp, &dc, ep, &ec, ct, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "exit 1 partition 2 is layer X, the model's is B") != NULL, "%s", err);
	fill_codec(ct);
	ep->model_checksum = 99;
	cr_expect_eq(cost_build(cm, dp, &dc, ep, &ec, ct, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "different models") != NULL, "%s", err);
	/* a cut inside a residual block: no entries there, and no action either */
	fill_codec(ct);
	ep->model_checksum = dp->model_checksum;
	ct->in_block[1][2] = 1;
	for (int b = 0; b < CF_ACTION_NBITS; b++)
		ct->bytes[1][2][b] = -1;
	cr_assert_eq(cost_build(cm, dp, &dc, ep, &ec, ct, err, sizeof(err)), 0, "%s", err);
	struct cf_action at = {1, 2, 8};
	int n = cost_actions(cm, CF_ACTION_BITS_ALL, all, 64);
	cr_expect_eq(n, 3 * 4 + 1 + 3 * 4 + 1);
	for (int i = 0; i < n; i++)
		cr_expect(!(all[i].exit == 1 && all[i].partition == 2), "action %d cuts a block", i);
	cr_expect_eq(cost_eval(cm, &base, &at, &c), -EINVAL);
	cost_search_edgent(cm, &base, CF_ACTION_BITS_ALL, &at);
	cr_expect(!(at.exit == 1 && at.partition == 2));
	free(dp);
	free(ep);
	free(ct);
	free(cm);
}

/* Algorithm 1 written out again, plainly, for the comparison. */
static struct cf_action edgent_by_hand(const struct cost_model *cm, const struct cost_state *s,
				       unsigned mask)
{
	struct cf_action fast = {0}, fast_ok = {0};
	double t_fast = INFINITY, t_ok = INFINITY;
	/* exit 2 has the higher fp32 accuracy */
	for (int e = 1; e >= 0; e--) {
		struct cf_action best = {0};
		double tb = INFINITY;
		for (int p = 0; p <= cm->ex[e].n; p++)
			for (int b = 0; b < 4; b++) {
				int last = p == cm->ex[e].n;
				if (last ? b : !(mask >> b & 1))
					continue;
				struct cost_estimate c = eval(cm, s, e, p, last ? 0 : cf_action_bits[b]);
				struct cf_action a = {e, p, last ? 0 : cf_action_bits[b]};
				int ok = s->energy_budget_j <= 0 || c.energy_j <= s->energy_budget_j;
				if (c.latency_ms < t_fast)
					t_fast = c.latency_ms, fast = a;
				if (ok && c.latency_ms < t_ok)
					t_ok = c.latency_ms, fast_ok = a;
				if (ok && c.latency_ms < tb)
					tb = c.latency_ms, best = a;
			}
		if (tb <= s->deadline_ms)
			return best;
	}
	return t_ok < INFINITY ? fast_ok : fast;
}

Test(search, edgent_by_hand)
{
	struct cost_model *cm = hand_model();
	struct cost_state s = base;
	struct cf_action a;
	/* exit 2's fastest is p = 0 at 4 bits: 0.011 + 2.4 + 3 + 5.7 + 0.0055 = 11.1165 ms */
	s.deadline_ms = 12;
	cr_assert_eq(cost_search_edgent(cm, &s, CF_ACTION_BITS_ALL, &a), 0);
	expect_action(a, 1, 0, 4, "deadline 12");
	/* below that, exit 1's fastest: p = 0 at 4 bits, 6.9165 ms */
	s.deadline_ms = 10;
	cost_search_edgent(cm, &s, CF_ACTION_BITS_ALL, &a);
	expect_action(a, 0, 0, 4, "deadline 10");
	/* nothing meets 5 ms: the fastest action overall */
	s.deadline_ms = 5;
	cost_search_edgent(cm, &s, CF_ACTION_BITS_ALL, &a);
	expect_action(a, 0, 0, 4, "deadline 5");
	/* 8 bits only: exit 2 p = 0 takes 13.528 ms */
	s.deadline_ms = 15;
	cost_search_edgent(cm, &s, 1u << 1, &a);
	expect_action(a, 1, 0, 8, "8 bits, deadline 15");
	/* an energy budget that excludes sending the input: with a frugal CPU
	 * (kappa 1e-30: 1e-12 J/cycle) exit 2 p = 0 at 4 bits costs 6.0e-4 J of
	 * transmission, p = 2 at 4 bits 5.0e-4 + 1.2e-5 J: within 5.5e-4 */
	cm->kappa = 1e-30;
	s.deadline_ms = 25;
	s.energy_budget_j = 5.5e-4;
	cost_search_edgent(cm, &s, CF_ACTION_BITS_ALL, &a);
	expect_action(a, 1, 2, 4, "energy budget");
	struct cost_estimate c = eval(cm, &s, 1, 2, 4);
	near(c.latency_ms, 12 + 0.012 + 2 + 3 + 4.5 + 0.006, "its latency");
	cr_expect(c.energy_j <= 5.5e-4);
	/* and against the plain enumeration over a grid of states */
	for (double bw = 5e4; bw <= 2e7; bw *= 1.7)
		for (double dl = 2; dl <= 120; dl *= 1.4)
			for (int eb = 0; eb < 3; eb++)
				for (unsigned mask = 1; mask <= CF_ACTION_BITS_ALL; mask += 5) {
					struct cost_state t = base;
					t.bandwidth_bps = bw, t.deadline_ms = dl;
					t.energy_budget_j = eb == 0 ? 0 : eb == 1 ? 5.5e-4 : 1e-4;
					struct cf_action want = edgent_by_hand(cm, &t, mask);
					cr_assert_eq(cost_search_edgent(cm, &t, mask, &a), 0);
					expect_action(a, want.exit, want.partition, want.bits, "grid");
				}
	free(cm);
}

Test(search, oracle_and_baselines)
{
	struct cost_model *cm = hand_model();
	struct cost_state s = base;
	struct cf_action a;
	/* within 14 ms the most accurate is exit 2, p = 0 at 8 bits (0.89, 13.528 ms);
	 * Edgent takes that exit's fastest, 4 bits (0.85) */
	s.deadline_ms = 14;
	cost_search_oracle(cm, &s, CF_ACTION_BITS_ALL, &a);
	expect_action(a, 1, 0, 8, "oracle deadline 14");
	cost_search_edgent(cm, &s, CF_ACTION_BITS_ALL, &a);
	expect_action(a, 1, 0, 4, "edgent deadline 14");
	/* 8 bits' 4800-bit frame costs 1.2e-3 J to send: a 1e-3 J budget forbids it */
	s.energy_budget_j = 1e-3;
	cost_search_oracle(cm, &s, CF_ACTION_BITS_ALL, &a);
	expect_action(a, 1, 0, 4, "oracle within energy");
	/* the whole of exit 2 on the device (0.90, 57 ms) once the deadline allows,
	 * with a frugal CPU so the budget does too */
	cm->kappa = 1e-30;
	s.deadline_ms = 60;
	cost_search_oracle(cm, &s, CF_ACTION_BITS_ALL, &a);
	expect_action(a, 1, 4, 0, "oracle deadline 60");
	cm->kappa = 1e-27;
	s.energy_budget_j = 0;
	/* device-only: exit 2 needs 57 ms, exit 1 15 ms */
	s.deadline_ms = 20;
	cost_search_device_only(cm, &s, &a);
	expect_action(a, 0, 3, 0, "device-only 20");
	s.deadline_ms = 57;
	cost_search_device_only(cm, &s, &a);
	expect_action(a, 1, 4, 0, "device-only 57");
	s.deadline_ms = 1;
	cost_search_device_only(cm, &s, &a);
	expect_action(a, 0, 3, 0, "device-only: exit 1 when nothing fits");
	/* edge-only: the deepest exit from the input, 8 bits when allowed */
	cost_search_edge_only(cm, &s, CF_ACTION_BITS_ALL, &a);
	expect_action(a, 1, 0, 8, "edge-only");
	cost_search_edge_only(cm, &s, 1u << 0 | 1u << 3, &a);
	expect_action(a, 1, 0, 16, "edge-only without 8");
	cost_search_edge_only(cm, &s, 1u << 0, &a);
	expect_action(a, 1, 0, 4, "edge-only 4 only");
	free(cm);
}

Test(search, optimizer_interface)
{
	struct cost_model *cm = hand_model();
	struct cost_optimizer *o;
	struct cf_action a;
	struct cost_state s = base;
	s.deadline_ms = 12;
	struct cost_opt_cfg cfg = {.cm = cm};
	const char *names[] = {"edgent", "oracle", "device-only", "edge-only"};
	const struct cf_action want[] = {{1, 0, 4}, {1, 0, 4}, {0, 3, 0}, {1, 0, 8}};
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(cost_optimizer_create(names[i], &cfg, &o, err, sizeof(err)), 0, "%s", err);
		cr_expect_str_eq(o->name, names[i]);
		cr_assert_eq(cost_decide(o, &s, &a), 0);
		expect_action(a, want[i].exit, want[i].partition, want[i].bits, names[i]);
		cost_optimizer_free(o);
	}
	cfg.fixed = (struct cf_action){1, 2, 12};
	cr_assert_eq(cost_optimizer_create("fixed", &cfg, &o, err, sizeof(err)), 0, "%s", err);
	cost_decide(o, &s, &a);
	expect_action(a, 1, 2, 12, "fixed");
	cost_optimizer_free(o);
	cfg.fixed = (struct cf_action){1, 4, 12};
	cr_assert_eq(cost_optimizer_create("fixed", &cfg, &o, err, sizeof(err)), 0, "%s", err);
	cost_decide(o, &s, &a);
	expect_action(a, 1, 4, 0, "fixed on the device reports bits 0");
	cost_optimizer_free(o);
	cfg.fixed = (struct cf_action){2, 0, 8};
	cr_expect_eq(cost_optimizer_create("fixed", &cfg, &o, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "exit 3") != NULL, "%s", err);
	cr_expect_eq(cost_optimizer_create("sacd", &cfg, &o, err, sizeof(err)), -ENOENT);
	cr_expect(strstr(err, "unknown optimizer 'sacd'") != NULL, "%s", err);
	cfg.bits_mask = 0x10;
	cr_expect_eq(cost_optimizer_create("edgent", &cfg, &o, err, sizeof(err)), -EINVAL);
	free(cm);
}
