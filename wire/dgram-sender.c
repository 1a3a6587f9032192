/* The sender's view of one outstanding message: selective repeat over its
 * fragments, driven by ACK bitmaps and an injected clock.
 *
 * A fragment is sent again in two cases only. On an ACK, a missing fragment
 * below the highest one acknowledged is taken for lost (the receiver saw later
 * ones; one Wi-Fi hop seldom reorders), once per round, so a burst of ACKs for
 * one gap resends it once (KCP's fast retransmit, without its duplicate-ACK
 * count: our receiver ACKs only on a gap, not per fragment). On a timeout,
 * every fragment not acknowledged goes again: the sender knows nothing newer,
 * and for messages of a few fragments resending them all costs less than
 * another round trip (eRPC (Kalia et al. 2019) resends the unacknowledged
 * window the same way). The rounds are bounded: after max_tries the caller
 * falls back (the agent runs the request on the device). */
#include <errno.h>
#include <string.h>

#include "coinfer/wire-dgram.h"

static bool bit(const uint8_t *b, uint32_t i)
{
	return b[i / 8] >> i % 8 & 1;
}

static void set(uint8_t *b, uint32_t i)
{
	b[i / 8] |= (uint8_t)(1u << i % 8);
}

/* due = every fragment not acknowledged. */
static uint16_t all_missing_due(struct cw_dg_sender *s)
{
	memset(s->due, 0, sizeof(s->due));
	for (uint32_t i = 0; i < s->count; i++)
		if (!bit(s->acked, i))
			set(s->due, i);
	s->next = 0;
	return (uint16_t)(s->count - s->acked_n);
}

int cw_dg_sender_start(struct cw_dg_sender *s, uint32_t msg_len, uint16_t count,
		       uint16_t max_tries, uint64_t now_ns, uint64_t rto_ns)
{
	uint32_t off, len;
	if (!max_tries)
		return -EINVAL;
	if (cw_dg_frag(msg_len, count, 0, &off, &len))
		return -EBADMSG;
	memset(s, 0, sizeof(*s));
	s->msg_len = msg_len;
	s->count = count;
	s->tries = 1;
	s->max_tries = max_tries;
	s->first_ns = now_ns;
	s->deadline_ns = now_ns + rto_ns;
	s->rto_ns = rto_ns;
	all_missing_due(s);
	return 0;
}

int cw_dg_sender_next(struct cw_dg_sender *s, uint16_t *index)
{
	for (uint32_t i = s->next; i < s->count; i++) {
		if (!s->due[i / 8]) { /* skip a byte of nothing due */
			i |= 7;
			continue;
		}
		if (bit(s->due, i)) {
			s->due[i / 8] &= (uint8_t)~(1u << i % 8);
			s->next = (uint16_t)(i + 1);
			*index = (uint16_t)i;
			return 0;
		}
	}
	s->next = s->count;
	return -EAGAIN;
}

/* Takes an ACK's bitmap as the receiver's whole state: it replaces what the
 * sender knew rather than adding to it, because a receiver may drop a message
 * in progress (its timeout, a restart) and start it over, and a sender that
 * kept the old bits would never resend the fragments lost with it (TCP's SACK
 * reneging). An ACK that arrives late and says less costs a few resends, never
 * a message. Returns the highest index acknowledged + 1. */
static uint32_t take(struct cw_dg_sender *s, const uint8_t *bm, bool *progress)
{
	uint32_t top = 0, n = cw_dg_bitmap_bytes(s->count);
	s->acked_n = 0;
	for (uint32_t k = 0; k < n; k++) {
		uint8_t b = bm ? bm[k] : (uint8_t)(k + 1 < n || !(s->count % 8) ? 0xff
						   : (1u << s->count % 8) - 1);
		*progress |= (b & (uint8_t)~s->acked[k]) != 0;
		s->acked[k] = b;
		s->due[k] &= (uint8_t)~b;
		s->acked_n = (uint16_t)(s->acked_n + __builtin_popcount(b));
		if (b)
			top = 8 * k + 32 - (uint32_t)__builtin_clz(b);
	}
	return top;
}

int cw_dg_sender_ack(struct cw_dg_sender *s, const struct cw_dg *ack, uint64_t now_ns,
		     uint64_t *rtt_ns)
{
	bool progress = false;
	int n = 0;
	*rtt_ns = 0;
	if (ack->kind != CW_DG_ACK || ack->count != s->count || ack->msg_len != s->msg_len)
		return -EBADMSG;
	if (s->done || s->failed)
		return 0;
	uint32_t top = take(s, ack->payload, &progress);
	if (s->acked_n == s->count) {
		s->done = true;
		if (!s->resent) /* Karn: only an ACK that cannot answer a copy */
			*rtt_ns = now_ns - s->first_ns;
		return 0;
	}
	for (uint32_t i = 0; i < top; i++) {
		if (bit(s->acked, i) || bit(s->fast, i) || bit(s->due, i))
			continue;
		set(s->due, i);
		set(s->fast, i);
		s->resent = true;
		n++;
	}
	if (progress) /* RFC 6298 5.3: new data acknowledged restarts the timer */
		s->deadline_ns = now_ns + s->rto_ns;
	s->next = 0;
	return n;
}

int cw_dg_sender_tick(struct cw_dg_sender *s, uint64_t now_ns, uint64_t rto_ns)
{
	if (s->failed)
		return -ETIMEDOUT;
	if (s->done || now_ns < s->deadline_ns)
		return 0;
	if (s->tries >= s->max_tries) {
		s->failed = true;
		return -ETIMEDOUT;
	}
	s->tries++;
	s->resent = true;
	s->rto_ns = rto_ns;
	s->deadline_ns = now_ns + rto_ns;
	memset(s->fast, 0, sizeof(s->fast));
	return all_missing_due(s);
}
