/* The retransmission timeout of one peer: RFC 6298's estimator in integer
 * nanoseconds, so that the same samples give the same timeouts on every host.
 *
 *   first sample R:  srtt = R, rttvar = R / 2
 *   then:            rttvar = (3 rttvar + |srtt - R|) / 4, srtt = (7 srtt + R) / 8
 *                    (rttvar first, from the old srtt, as RFC 6298 2.3 says)
 *   rto = srtt + 4 rttvar, within [floor, cap]
 *
 * Divisions truncate. The floor replaces RFC 6298's 1 s minimum, which is for
 * the Internet's delayed ACKs: our receiver ACKs at once, so the floor need
 * only cover its scheduling jitter (5 ms, eRPC's RTO (Kalia et al. 2019)).
 * A timeout multiplies the RTO by 1.5 instead of RFC 6298's 2 (KCP's choice:
 * on a link that drops packets at random rather than from congestion, doubling
 * mostly adds waiting); a new sample resets it. Karn's rule is the caller's:
 * a message any fragment of which was sent twice gives no sample, since its
 * ACK cannot say which copy it answers (cw_dg_sender_ack applies it). */
#include <errno.h>

#include "coinfer/wire-dgram.h"

static uint64_t clamp(const struct cw_dg_rto *r, uint64_t v)
{
	return v < r->floor ? r->floor : v > r->cap ? r->cap : v;
}

int cw_dg_rto_init(struct cw_dg_rto *r, uint64_t floor_ns, uint64_t cap_ns, uint64_t initial_ns)
{
	floor_ns = floor_ns ? floor_ns : CW_DG_RTO_FLOOR_NS;
	cap_ns = cap_ns ? cap_ns : CW_DG_RTO_CAP_NS;
	if (floor_ns > cap_ns)
		return -EINVAL;
	*r = (struct cw_dg_rto){.floor = floor_ns, .cap = cap_ns};
	r->rto = clamp(r, initial_ns ? initial_ns : CW_DG_RTO_INITIAL_NS);
	return 0;
}

void cw_dg_rto_sample(struct cw_dg_rto *r, uint64_t rtt_ns)
{
	if (rtt_ns > CW_DG_RTT_MAX_NS)
		rtt_ns = CW_DG_RTT_MAX_NS; /* keeps 7 srtt and 4 rttvar far from overflow */
	if (!r->sampled) {
		r->srtt = rtt_ns;
		r->rttvar = rtt_ns / 2;
		r->sampled = true;
	} else {
		uint64_t d = r->srtt > rtt_ns ? r->srtt - rtt_ns : rtt_ns - r->srtt;
		r->rttvar = (3 * r->rttvar + d) / 4;
		r->srtt = (7 * r->srtt + rtt_ns) / 8;
	}
	r->backoffs = 0;
	r->rto = clamp(r, r->srtt + 4 * r->rttvar);
}

void cw_dg_rto_backoff(struct cw_dg_rto *r)
{
	uint64_t half = r->rto / 2;
	r->rto = r->rto > r->cap - half ? r->cap : r->rto + half;
	r->backoffs++;
}
