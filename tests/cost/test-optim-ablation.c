/* Edgent (Li et al. 2018) Fig. 7's ablations, "partition-only" and "right-sizing-only", on a
 * two-exit cost model written straight into struct cost_model (no files, no
 * codec or network extras), so every latency below is a sum done by hand:
 *
 *   exit 1: conv A (device 20 ms, edge 2), fc C (5, 0.5)            N = 2, fp32 0.70
 *   exit 2: conv A (20, 2), conv D (60, 6), fc E (5, 0.5)           N = 3, fp32 0.90
 *   frame bytes at 4/8/12/16 bits: input 1000 x k, after A 500 x k, after D 250 x k
 *
 * Bandwidth B in bit/s makes 8 bytes / B the transmit time; no RTT, queue or
 * codec time. Device energy: 1e9 cycles per second of device time at kappa f^2 =
 * 1e-9 J per cycle (1 J per second), transmission P x airtime with P = 10 W. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "coinfer/cost.h"

static char err[256];

static void set_exit(struct cost_exit *x, int n, double acc, const char *const *names,
		     const double *dev, const double *edge, const double *bytes)
{
	memset(x, 0, sizeof(*x));
	x->n = n;
	x->fp32_accuracy = acc;
	snprintf(x->layer[0], sizeof(x->layer[0]), "input");
	for (int p = 0; p < n; p++) {
		x->dev_ms[p + 1] = x->dev_ms[p] + dev[p];
		x->dev_cycles[p + 1] = x->dev_ms[p + 1] * 1e-3 * 1e9;
		snprintf(x->layer[p + 1], sizeof(x->layer[p + 1]), "%s", names[p]);
		x->elems[p] = 1000;
		for (int b = 0; b < CF_ACTION_NBITS; b++) {
			x->bytes[p][b] = bytes[p] * (b + 1);
			/* a coarser code loses a little accuracy */
			x->accuracy[p][b] = acc - 0.01 * (CF_ACTION_NBITS - 1 - b);
		}
	}
	for (int b = 0; b < CF_ACTION_NBITS; b++)
		x->accuracy[n][b] = acc;
	for (int p = n - 1; p >= 0; p--)
		x->edge_ms[p][0] = x->edge_ms[p + 1][0] + edge[p];
}

static void hand_model(struct cost_model *cm)
{
	static const char *const n1[] = {"A", "C"}, *const n2[] = {"A", "D", "E"};
	static const double dev1[] = {20, 5}, edge1[] = {2, 0.5}, bytes1[] = {1000, 500};
	static const double dev2[] = {20, 60, 5}, edge2[] = {2, 6, 0.5}, bytes2[] = {1000, 500, 250};
	memset(cm, 0, sizeof(*cm));
	snprintf(cm->model, sizeof(cm->model), "hand");
	snprintf(cm->device, sizeof(cm->device), "hand-dev");
	snprintf(cm->edge, sizeof(cm->edge), "hand-edge");
	cm->n_exits = cm->n_plain = 2;
	cm->n_batches = 1;
	cm->batches[0] = 1;
	cm->f_hz = 1e9;
	cm->kappa = 1e-27;
	cm->tx_power_w = 10;
	cm->sinr_db = 0; /* log2(1 + SINR) = 1: P x airtime */
	set_exit(&cm->ex[0], 2, 0.70, n1, dev1, edge1, bytes1);
	set_exit(&cm->ex[1], 3, 0.90, n2, dev2, edge2, bytes2);
}

static void expect_action(struct cf_action a, int e, int p, int bits, const char *what)
{
	cr_expect(a.exit == e && a.partition == p && a.bits == bits,
		  "%s: got (%d, %d, %d), want (%d, %d, %d)", what, a.exit, a.partition, a.bits, e, p,
		  bits);
}

static struct cost_state at(double bps, double deadline_ms)
{
	return (struct cost_state){.bandwidth_bps = bps, .deadline_ms = deadline_ms, .batch = 1,
				  .load = 1};
}

Test(ablation, hand_sums_hold)
{
	/* guards the arithmetic the other tests rely on */
	struct cost_model cm;
	struct cost_estimate c;
	hand_model(&cm);
	struct cost_state s = at(1e5, 0);
	cr_assert_eq(cost_eval(&cm, &s, &(struct cf_action){1, 1, 4}, &c), 0);
	cr_expect(fabs(c.latency_ms - (20 + 40 + 6.5)) < 1e-9, "exit 2 p 1 4 bits: %g ms", c.latency_ms);
	cr_expect(fabs(c.energy_j - (0.02 + 0.4)) < 1e-9, "energy %g J", c.energy_j);
}

Test(ablation, partition_only_keeps_the_deepest_exit)
{
	struct cost_model cm;
	struct cf_action a;
	hand_model(&cm);
	/* 1 Mbit/s: exit 2 from the input at 4 bits, 8 + 8.5 = 16.5 ms, beats after
	 * A (20 + 4 + 6.5) and the device (85) */
	struct cost_state s = at(1e6, 0);
	cr_assert_eq(cost_search_partition_only(&cm, &s, CF_ACTION_BITS_ALL, &a), 0);
	expect_action(a, 1, 0, 4, "1 Mbit/s");
	/* 100 kbit/s: the input costs 80 ms to send; after A 20 + 40 + 6.5 = 66.5
	 * beats the input (88.5), after D (100.5) and the device (85) */
	s = at(1e5, 0);
	cr_assert_eq(cost_search_partition_only(&cm, &s, CF_ACTION_BITS_ALL, &a), 0);
	expect_action(a, 1, 1, 4, "100 kbit/s: a middle partition");
	/* 50 kbit/s: nothing beats the whole of exit 2 on the device (85 ms) */
	s = at(5e4, 0);
	cr_assert_eq(cost_search_partition_only(&cm, &s, CF_ACTION_BITS_ALL, &a), 0);
	expect_action(a, 1, 3, 0, "50 kbit/s");
	/* no uplink: the device, not an infinite latency */
	s = at(0, 0);
	cr_assert_eq(cost_search_partition_only(&cm, &s, CF_ACTION_BITS_ALL, &a), 0);
	expect_action(a, 1, 3, 0, "no uplink");
	/* a deadline exit 2 cannot meet does not move it to exit 1 (Edgent would:
	 * exit 1 on the device takes 25 ms) */
	s = at(5e4, 30);
	cr_assert_eq(cost_search_partition_only(&cm, &s, CF_ACTION_BITS_ALL, &a), 0);
	expect_action(a, 1, 3, 0, "deadline ignored");
	cr_assert_eq(cost_search_edgent(&cm, &s, CF_ACTION_BITS_ALL, &a), 0);
	expect_action(a, 0, 2, 0, "edgent right-sizes instead");
	/* the bits mask: 8 bits only, the input at 16 + 8.5 = 24.5 ms */
	s = at(1e6, 0);
	cr_assert_eq(cost_search_partition_only(&cm, &s, 1u << 1, &a), 0);
	expect_action(a, 1, 0, 8, "8 bits only");
}

Test(ablation, partition_only_respects_the_energy_budget)
{
	struct cost_model cm;
	struct cf_action a;
	hand_model(&cm);
	/* 1 Mbit/s at 10 W: the input frame costs 0.08 J; after A 0.02 + 0.04 =
	 * 0.06 J; the device 0.085 J. A 0.07 J budget leaves after A. */
	struct cost_state s = at(1e6, 0);
	s.energy_budget_j = 0.07;
	cr_assert_eq(cost_search_partition_only(&cm, &s, CF_ACTION_BITS_ALL, &a), 0);
	expect_action(a, 1, 1, 4, "budget 0.07 J");
	/* nothing within 0.01 J: the fastest overall */
	s.energy_budget_j = 0.01;
	cr_assert_eq(cost_search_partition_only(&cm, &s, CF_ACTION_BITS_ALL, &a), 0);
	expect_action(a, 1, 0, 4, "nothing within the budget");
}

Test(ablation, right_sizing_only_stays_on_the_device)
{
	struct cost_model cm;
	struct cf_action a;
	hand_model(&cm);
	/* exit 2 whole on the device takes 85 ms, exit 1 25 ms; the uplink is fast
	 * enough for exit 2 from the input in 16.5 ms, and it is never used */
	struct cost_state s = at(1e6, 100);
	cr_assert_eq(cost_search_right_sizing_only(&cm, &s, &a), 0);
	expect_action(a, 1, 3, 0, "deadline 100");
	s.deadline_ms = 50;
	cr_assert_eq(cost_search_right_sizing_only(&cm, &s, &a), 0);
	expect_action(a, 0, 2, 0, "deadline 50");
	s.deadline_ms = 0;
	cr_assert_eq(cost_search_right_sizing_only(&cm, &s, &a), 0);
	expect_action(a, 1, 3, 0, "no deadline");
	/* nothing fits 10 ms: the fastest exit */
	s.deadline_ms = 10;
	cr_assert_eq(cost_search_right_sizing_only(&cm, &s, &a), 0);
	expect_action(a, 0, 2, 0, "nothing fits");
	/* exit 2 costs 0.085 J, exit 1 0.025 J */
	s.deadline_ms = 100;
	s.energy_budget_j = 0.05;
	cr_assert_eq(cost_search_right_sizing_only(&cm, &s, &a), 0);
	expect_action(a, 0, 2, 0, "budget 0.05 J");
	s.energy_budget_j = 0.01;
	cr_assert_eq(cost_search_right_sizing_only(&cm, &s, &a), 0);
	expect_action(a, 0, 2, 0, "nothing within the budget: the fastest");
}

Test(ablation, right_sizing_ranks_exits_by_accuracy)
{
	struct cost_model cm;
	struct cf_action a;
	hand_model(&cm);
	/* the shallow exit made the more accurate: right-sizing takes it although the
	 * deeper one fits too; device-only goes by depth */
	cm.ex[0].fp32_accuracy = 0.95;
	struct cost_state s = at(1e6, 100);
	cr_assert_eq(cost_search_right_sizing_only(&cm, &s, &a), 0);
	expect_action(a, 0, 2, 0, "most accurate first");
	cr_assert_eq(cost_search_device_only(&cm, &s, &a), 0);
	expect_action(a, 1, 3, 0, "device-only by depth");
}

Test(ablation, optimizer_interface)
{
	struct cost_model cm;
	struct cost_optimizer *o;
	struct cf_action a;
	hand_model(&cm);
	struct cost_opt_cfg cfg = {.cm = &cm};
	struct cost_state s = at(1e5, 50);
	cr_expect(strstr(pol_optimizer_names, "partition-only") != NULL, "%s", pol_optimizer_names);
	cr_expect(strstr(pol_optimizer_names, "right-sizing-only") != NULL, "%s", pol_optimizer_names);
	cr_assert_eq(cost_optimizer_create("partition-only", &cfg, &o, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(o->name, "partition-only");
	cr_assert_eq(cost_decide(o, &s, &a), 0);
	expect_action(a, 1, 1, 4, "partition-only via the interface");
	cost_optimizer_free(o);
	cr_assert_eq(cost_optimizer_create("right-sizing-only", &cfg, &o, err, sizeof(err)), 0, "%s",
		     err);
	cr_expect_str_eq(o->name, "right-sizing-only");
	cr_assert_eq(cost_decide(o, &s, &a), 0);
	expect_action(a, 0, 2, 0, "right-sizing-only via the interface");
	cost_optimizer_free(o);
	cfg.bits_mask = 0x10;
	cr_expect_eq(cost_optimizer_create("partition-only", &cfg, &o, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "partition-only") != NULL, "%s", err);
}

/* Seed 003's methods: split-only searches the deepest plain exit, a method its
 * variants of that kind (at their split point only), within the accuracy loss. */
Test(ablation, method_search)
{
	struct cost_model cm;
	static const char *const n3[] = {"A", "D", "E"};
	static const double dev3[] = {20, 60, 5}, edge3[] = {2, 6, 0.5}, bytes3[] = {1000, 500, 25};
	hand_model(&cm);
	set_exit(&cm.ex[2], 3, 0.85, n3, dev3, edge3, bytes3);
	cm.ex[2].variant = CR_VARIANT_CODEC, cm.ex[2].of = 1;
	for (int p = 0; p <= 3; p++)
		cm.ex[2].in_block[p] = p != 2;
	cm.n_exits = 3;
	struct cost_state s = at(1e6, 0);
	struct cf_action a;
	cr_assert_eq(cost_search_method(&cm, &s, CR_VARIANT_PLAIN, 0.01, 0, 0, &a), 0);
	cr_expect_eq(a.exit, 1, "split-only stays on the plain exit");
	/* from min_partition on only (the seed's Only Splitting: 1, the input never sent) */
	for (int min = 0; min <= cm.ex[1].n + 1; min++) {
		int r = cost_search_method(&cm, &s, CR_VARIANT_PLAIN, 0.01, 0, min, &a);
		if (min > cm.ex[1].n) {
			cr_expect_eq(r, -ENOENT, "no partition from %d on", min);
			continue;
		}
		cr_assert_eq(r, 0, "min %d", min);
		cr_expect(a.exit == 1 && a.partition >= min, "min %d: (%d, %d)", min, a.exit,
			  a.partition);
	}
	cr_expect_eq(cost_search_method(&cm, &s, CR_VARIANT_PLAIN, 0.01, 0, -1, &a), -EINVAL);
	cr_assert_eq(cost_search_method(&cm, &s, CR_VARIANT_CODEC, 0.1, 0, 0, &a), 0);
	cr_expect(a.exit == 2 && a.partition == 2, "codec at its split: (%d, %d)", a.exit,
		  a.partition);
	cr_expect_eq(a.bits, 4, "the fewest bytes within the loss");
	/* 0.85 is 5 points below 0.90, the variant's own loss: the link may cost 1 point
	 * of its own 0.85, so 12 bits (0.84), not 4 (0.82) nor 16 (0.85, more bytes) */
	cr_assert_eq(cost_search_method(&cm, &s, CR_VARIANT_CODEC, 0.01, 0, 0, &a), 0);
	cr_expect(a.exit == 2 && a.partition == 2 && a.bits == 12, "(%d, %d, %d)", a.exit,
		  a.partition, a.bits);
	/* no bits within 0 of it but 16: exactly its float accuracy */
	cr_assert_eq(cost_search_method(&cm, &s, CR_VARIANT_CODEC, 0, 0, 0, &a), 0);
	cr_expect_eq(a.bits, 16);
	cr_expect_eq(cost_search_method(&cm, &s, CR_VARIANT_PRUNED, 0.01, 0, 0, &a), -ENOENT);
	struct cf_action all[64];
	int n = cost_actions(&cm, CF_ACTION_BITS_ALL, all, 64);
	for (int i = 0; i < n; i++)
		cr_expect(all[i].exit != 2 || all[i].partition == 2, "variant action at p %d",
			  all[i].partition);
}
