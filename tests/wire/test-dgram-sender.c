/* The sender of one message: fragments due at start, on an ACK's gaps (once a
 * round) and on a timeout (all missing), the tries bound, Karn's rule; then
 * sender, RTO and reassembler together over a channel that drops 30% of the
 * datagrams both ways (eRPC's test condition), on an injected clock. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/wire-dgram.h"
#include "dgram-samples.h"

static int drain(struct cw_dg_sender *s, uint16_t *out)
{
	int n = 0;
	uint16_t i;
	while (!cw_dg_sender_next(s, &i))
		out[n++] = i;
	return n;
}

static struct cw_dg ack_of(uint8_t bm, uint16_t count, uint32_t len)
{
	static uint8_t b;
	b = bm;
	return (struct cw_dg){CW_DG_ACK, 1, 1, (uint16_t)__builtin_popcount(bm), count, len, &b, 1};
}

Test(dgram_sender, selective_repeat)
{
	struct cw_dg_sender s;
	uint16_t got[16];
	uint64_t rtt;
	cr_assert_eq(cw_dg_sender_start(&s, 5000, 5, 4, 0, 10), 0);
	cr_assert_eq(drain(&s, got), 5);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(got[i], i);
	/* 1 and 3 arrived: 0 and 2 lie below the highest, so they are lost; 4 may
	 * still be on its way */
	struct cw_dg a = ack_of(0x0a, 5, 5000);
	cr_assert_eq(cw_dg_sender_ack(&s, &a, 3, &rtt), 2);
	cr_assert(drain(&s, got) == 2 && got[0] == 0 && got[1] == 2 && rtt == 0);
	cr_assert_eq(cw_dg_sender_ack(&s, &a, 4, &rtt), 0, "resent twice in one round");
	cr_assert_eq(s.deadline_ns, 13, "progress restarts the timer");
	cr_assert_eq(cw_dg_sender_tick(&s, 12, 20), 0);
	cr_assert_eq(cw_dg_sender_tick(&s, 13, 20), 3);
	cr_assert(drain(&s, got) == 3 && got[0] == 0 && got[1] == 2 && got[2] == 4);
	cr_assert(s.tries == 2 && s.deadline_ns == 33);
	a = ack_of(0x1f, 5, 5000);
	cr_assert_eq(cw_dg_sender_ack(&s, &a, 20, &rtt), 0);
	cr_assert(s.done && rtt == 0, "Karn: no sample after a resend");
	cr_assert_eq(cw_dg_sender_tick(&s, 1000, 20), 0);
	cr_assert_eq(drain(&s, got), 0);
}

Test(dgram_sender, rtt_sample_only_when_nothing_was_resent)
{
	struct cw_dg_sender s;
	uint16_t got[4];
	uint64_t rtt;
	cw_dg_sender_start(&s, 100, 1, 3, 100, 50);
	cr_assert_eq(drain(&s, got), 1);
	struct cw_dg a = {CW_DG_ACK, 1, 1, 1, 1, 100, NULL, 0}; /* a full ACK */
	cr_assert_eq(cw_dg_sender_ack(&s, &a, 130, &rtt), 0);
	cr_assert(s.done && rtt == 30);
	/* a fast resend also spoils the sample */
	cw_dg_sender_start(&s, 300, 3, 3, 0, 50);
	drain(&s, got);
	a = ack_of(0x02, 3, 300);
	cr_assert_eq(cw_dg_sender_ack(&s, &a, 5, &rtt), 1);
	a = ack_of(0x07, 3, 300);
	cr_assert_eq(cw_dg_sender_ack(&s, &a, 9, &rtt), 0);
	cr_assert(s.done && rtt == 0);
}

Test(dgram_sender, tries_are_bounded)
{
	struct cw_dg_sender s;
	uint16_t got[4];
	cw_dg_sender_start(&s, 300, 3, 2, 0, 10);
	drain(&s, got);
	cr_assert_eq(cw_dg_sender_tick(&s, 10, 15), 3);
	cr_assert_eq(cw_dg_sender_tick(&s, 24, 15), 0);
	cr_assert_eq(cw_dg_sender_tick(&s, 25, 22), -ETIMEDOUT);
	cr_assert(s.failed && s.tries == 2);
	cr_assert_eq(cw_dg_sender_tick(&s, 99, 22), -ETIMEDOUT);
	cw_dg_sender_start(&s, 300, 3, 1, 0, 10); /* one try: no retransmission at all */
	cr_assert_eq(cw_dg_sender_tick(&s, 10, 15), -ETIMEDOUT);
}

Test(dgram_sender, refusals)
{
	struct cw_dg_sender s;
	uint64_t rtt;
	cr_assert_eq(cw_dg_sender_start(&s, 10, 6, 3, 0, 1), -EBADMSG);
	cr_assert_eq(cw_dg_sender_start(&s, 10, 5, 0, 0, 1), -EINVAL);
	cw_dg_sender_start(&s, 300, 3, 3, 0, 10);
	struct cw_dg a = ack_of(0x01, 4, 300);
	cr_assert_eq(cw_dg_sender_ack(&s, &a, 1, &rtt), -EBADMSG);
	a = ack_of(0x01, 3, 301);
	cr_assert_eq(cw_dg_sender_ack(&s, &a, 1, &rtt), -EBADMSG);
	a = ack_of(0x01, 3, 300);
	a.kind = CW_DG_DATA;
	cr_assert_eq(cw_dg_sender_ack(&s, &a, 1, &rtt), -EBADMSG);
}

/* ---- the whole loop over a lossy channel -------------------------------------- */

#define QCAP 128
#define DGMAX (CW_DG_HEADER_BYTES + CW_DG_DEFAULT_PAYLOAD)

struct queue {
	uint8_t dg[QCAP][DGMAX];
	size_t len[QCAP];
	int n;
};

static uint32_t chan_seed = 2024;
static uint64_t sent_total, dropped;

/* Sends d through the channel: 30% never arrive. */
static void post(struct queue *q, const struct cw_dg *d)
{
	sent_total++;
	if (cdt_rng(&chan_seed) % 100 < 30) {
		dropped++;
		return;
	}
	cr_assert_lt(q->n, QCAP);
	cr_assert_eq(cw_dg_encode(q->dg[q->n], DGMAX, d, &q->len[q->n], NULL, 0), 0);
	q->n++;
}

/* The receiver: every datagram of q into the reassembler, ACKs out to back. */
static int receive(struct cw_dg_reasm *r, struct queue *q, struct queue *back, uint64_t now,
		   const uint8_t *msg)
{
	const struct cw_dg_limits lim = {1 << 20, CW_DG_MAX_FRAGS};
	struct cw_dg_result res;
	struct cw_dg d;
	int completed = 0;
	for (int i = 0; i < q->n; i++) {
		cr_assert_eq(cw_dg_decode(q->dg[i], q->len[i], &lim, &d, NULL, 0), 0);
		int ret = cw_dg_reasm_add(r, 1, &d, now, &res);
		cr_assert(ret == 0 || ret == -EALREADY, "%d", ret);
		if (res.complete) {
			cr_assert_eq(memcmp(res.msg, msg, res.len), 0);
			if (res.ref)
				cr_assert_eq(cw_dg_reasm_release(r, res.ref), 0);
			completed++;
		}
		if (res.ack) {
			struct cw_dg a = {CW_DG_ACK, d.session, d.msg_id, res.received, d.count,
					  d.msg_len, res.bitmap,
					  res.bitmap ? cw_dg_bitmap_bytes(d.count) : 0};
			post(back, &a);
		}
	}
	q->n = 0;
	return completed;
}

Test(dgram_sender, every_message_arrives_once_at_30_percent_loss)
{
	const uint64_t step = 1000000; /* 1 ms a step; one way takes one step */
	const uint16_t tries = 16;
	/* The receiver remembers a message as long as a sender may retry it (tries x
	 * the RTO's cap): then it reassembles each exactly once. */
	struct cw_dg_reasm_config cfg = {1 << 20, 16, tries * 200 * step, 1};
	size_t need = cw_dg_reasm_bytes(&cfg);
	void *mem = malloc(need);
	struct cw_dg_reasm *r;
	struct cw_dg_rto rto;
	static struct queue to_rx, to_tx;
	static uint8_t msg[20000];
	uint32_t seed = 99, rounds = 0;
	uint64_t now = 0, rtt, minimum = 0;
	cr_assert_eq(cw_dg_reasm_init(&r, mem, need, &cfg), 0);
	cw_dg_rto_init(&rto, 0, 200 * step, 0);
	for (uint32_t id = 1; id <= 300; id++) {
		struct cw_dg_sender s;
		uint32_t len = 16 + cdt_rng(&seed) % (sizeof(msg) - 16);
		uint16_t count, i;
		int delivered = 0;
		cdt_fill(msg, len, id);
		cr_assert_eq(cw_dg_frags(len, CW_DG_DEFAULT_PAYLOAD, &count), 0);
		minimum += count + 1u;
		cr_assert_eq(cw_dg_sender_start(&s, len, count, tries, now, rto.rto), 0);
		while (!s.done) {
			struct cw_dg d;
			int due = cw_dg_sender_tick(&s, now, rto.rto);
			cr_assert_neq(due, -ETIMEDOUT, "message %u: out of tries", id);
			if (due > 0) {
				cw_dg_rto_backoff(&rto);
				rounds++;
			}
			while (!cw_dg_sender_next(&s, &i)) {
				cr_assert_eq(cw_dg_data(&d, 3, id, msg, len, count, i), 0);
				post(&to_rx, &d);
			}
			now += step;
			delivered += receive(r, &to_rx, &to_tx, now, msg);
			for (int k = 0; k < to_tx.n; k++) {
				const struct cw_dg_limits lim = {1 << 20, CW_DG_MAX_FRAGS};
				cr_assert_eq(cw_dg_decode(to_tx.dg[k], to_tx.len[k], &lim, &d,
							  NULL, 0), 0);
				cr_assert_geq(cw_dg_sender_ack(&s, &d, now + step, &rtt), 0);
				if (rtt)
					cw_dg_rto_sample(&rto, rtt);
			}
			to_tx.n = 0;
			now += step;
			cw_dg_reasm_expire(r, now);
		}
		cr_assert_eq(delivered, 1, "message %u (%u fragments) delivered %d times", id,
			     count, delivered);
		to_rx.n = 0;
	}
	struct cw_dg_reasm_stats st;
	cw_dg_reasm_stats(r, &st);
	cr_assert_eq(st.completed, 300);
	cr_assert_eq(st.bytes_in_use, 0);
	cr_assert_gt(dropped, sent_total / 4);
	/* selective repeat: under 30% loss, well under three times the minimum */
	cr_assert_lt(sent_total, 3 * minimum, "%llu datagrams for %llu",
		     (unsigned long long)sent_total, (unsigned long long)minimum);
	cr_assert_gt(rounds, 0);
	free(mem);
}
