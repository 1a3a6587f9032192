/* The agent on the device's architecture (the aarch64 suite, under qemu-user):
 * its estimators and fallback choice, one request fully on the device, and
 * requests over loopback against the scripted edge of peer.h (an answer that
 * must equal the runtime's, and a refusal answered on the device). A plain
 * program (harness.h): criterion is not installed for arm64. */
#include "tests/harness.h"

#include "common.h"
#include "peer.h"

static void units(void)
{
	struct ag_bw b;
	ag_bw_init(&b, NULL);
	ag_bw_rtt(&b, 1000);
	TH_CHECK(ag_bw_upload(&b, 125000, 1000 + 5000 + 1e6, 5000) == 1, "upload used");
	TH_CHECK(fabs(b.bps - 1e6) < 1e-3, "bps %g", b.bps);
	TH_CHECK(ag_bw_upload(&b, 3000, 1100, 0) == 0, "loopback sample skipped");
	TH_CHECK(ag_bw_probe(&b, 12500, 1000 + 100000) == 1, "probe used");

	struct ag_backoff bo;
	ag_backoff_init(&bo, 100000, 1000000, 42);
	uint64_t lo[] = {50000, 100000, 200000, 400000, 500000}, hi[] = {100000, 200000, 400000, 800000, 1000000};
	for (int i = 0; i < 5; i++) {
		uint64_t d = ag_backoff_next(&bo);
		TH_CHECK(d >= lo[i] && d <= hi[i], "backoff %d: %llu", i, (unsigned long long)d);
	}

	struct ag_times t;
	TH_CHECK(ag_times_init(&t, tc_model) == 0, "times");
	for (int e = 0; e < 3; e++)
		for (int p = 0; p < t.len[e]; p++)
			t.ms[e][p] = 1;
	struct ag_choice c;
	ag_fallback_choose(&t, 2, 12, 7.9, &c);
	TH_CHECK(c.exit == 1 && c.from == 10, "fallback exit %d from %d", c.exit, c.from);
	ag_fallback_choose(&t, 2, 12, 4, &c);
	TH_CHECK(c.exit == 0 && c.from == 8 && !c.fits, "fallback exit %d from %d", c.exit, c.from);
}

static enum peer_act busy(struct peer *p, uint64_t k)
{
	(void)p, (void)k;
	return PEER_BUSY;
}

int main(void)
{
	if (tc_load())
		return 77;
	units();

	/* all on the device, exit 1 */
	struct ag_config c;
	tc_config(&c, 1);
	c.action = (struct cf_action){.exit = 0, .partition = tc_model->exit_len[0]};
	c.requests = 2;
	c.deadline_ms = 10000;
	struct tc_run r;
	TH_CHECK(tc_run(&c, &r) == 0, "device-only run: %s", r.err);
	TH_CHECK(r.n == 2, "answers %zu", r.n);
	for (size_t i = 0; i < r.n; i++)
		TH_CHECK(r.r[i].where == AG_DEVICE &&
				 r.r[i].label == tc_local_label(r.r[i].image, 0, 13, CC_CODEC_RAW32, 0),
			 "device answer %zu", i);
	tc_done(&r);

	/* over loopback: answered by the scripted edge, then refused */
	for (int mode = 0; mode < 2; mode++) {
		static struct peer p;
		if (peer_start(&p, tc_model, mode ? busy : NULL, NULL) || peer_run(&p)) {
			TH_CHECK(0, "peer start");
			break;
		}
		tc_config(&c, p.port);
		c.action = (struct cf_action){.exit = 0, .partition = 8, .bits = 8};
		c.codec = CC_CODEC_HUFFMAN;
		c.requests = 2;
		c.deadline_ms = 10000;
		c.connect_wait_ms = 10000;
		c.connect_timeout_ms = 10000;
		c.verify = 1;
		TH_CHECK(tc_run(&c, &r) == 0, "run: %s", r.err);
		TH_CHECK(r.n == 2, "answers %zu", r.n);
		for (size_t i = 0; i < r.n; i++) {
			const struct ag_record *x = &r.r[i];
			if (!mode) {
				int want = tc_local_label(x->image, 0, 8, CC_CODEC_HUFFMAN, 8);
				TH_CHECK(x->where == AG_EDGE && x->label == want && x->verify_label == want,
					 "edge answer %zu: where %d label %d want %d", i, x->where, x->label, want);
			} else {
				int want = tc_local_label(x->image, x->exit, tc_model->exit_len[x->exit],
							  CC_CODEC_RAW32, 0);
				TH_CHECK(x->where == AG_DEVICE && x->reason == AG_FB_BUSY && x->from == 8 &&
						 x->label == want,
					 "busy answer %zu: where %d reason %d from %d", i, x->where, x->reason,
					 x->from);
			}
		}
		tc_done(&r);
		peer_stop(&p);
		peer_free(&p);
	}
	return th_finish("agent-aarch64");
}
