/* The answers of recent requests, by (session, request id), for the datagram
 * transports: a request may arrive twice (the agent retransmitted it because an
 * ACK or the answer was lost, or the network duplicated a datagram), and it must
 * run at most once (eRPC (Kalia et al. 2019) keeps the same promise with per-slot
 * request numbers). The first copy is admitted and marked running; a copy that
 * arrives while it runs is told so (the transport ACKs it); a copy that arrives
 * after the answer gets the stored answer again.
 *
 * Bounded: a fixed number of entries, each with room for one answer of at most
 * max_answer bytes (RESULT and ERROR are small), taken in turn (FIFO). An entry
 * still running is not evicted: when the next one in turn is, admission fails
 * (-EBUSY) and the transport answers ERROR busy, so a flood of distinct requests
 * costs them, not the requests already admitted. Sized at twice the requests the
 * appliance holds at once, that is a request that outlived a whole turn of the
 * ring. A request can end unanswered (its peer's framing broke and the session
 * dropped it), so an entry running for longer than stale_ns, far beyond any
 * deadline, is taken all the same (counted).
 *
 * Ownership: an entry belongs to the key it was admitted for from ap_rc_admit
 * until the ring comes round to it again; a pointer ap_rc_admit hands out (the
 * stored answer) is valid until the next ap_rc_admit or ap_rc_answer, the calls
 * that reuse an entry and write its buffer. One thread (the worker's) uses a
 * cache. */
#ifndef COINFER_APPLIANCE_RCACHE_H
#define COINFER_APPLIANCE_RCACHE_H

#include <stddef.h>
#include <stdint.h>

struct ap_rc;

enum ap_rc_state {
	AP_RC_NEW = 0,  /* admitted now: run it */
	AP_RC_RUNNING,  /* a copy of a request that runs: do not run it again */
	AP_RC_ANSWERED, /* a copy of a request answered: send *answer again */
};

struct ap_rc_stats {
	uint64_t admitted, dup_running, dup_answered, busy, evicted, stale, too_large, unknown;
};

/* entries > 0, max_answer > 0; -ENOMEM or -EINVAL. */
int ap_rc_create(int entries, size_t max_answer, uint64_t stale_ns, struct ap_rc **out);
void ap_rc_destroy(struct ap_rc *c);

/* One copy of request (session, id): its state, and for AP_RC_ANSWERED the
 * answer's bytes; -EBUSY when no entry is free to admit a new request. */
int ap_rc_admit(struct ap_rc *c, uint64_t session, uint64_t id, uint64_t now_ns,
		const uint8_t **answer, size_t *len);
/* The state of (session, id) without admitting it: AP_RC_NEW when unknown (a
 * copy of a request whose first copy was never whole here, or was evicted). */
int ap_rc_lookup(struct ap_rc *c, uint64_t session, uint64_t id, const uint8_t **answer,
		 size_t *len);
/* The state of (session, id) as ap_rc_lookup says it, but counted nowhere: not
 * a copy's arrival, the transport's own question (whether a request admitted
 * in this turn has been answered in it, so that its ACK may be left out). */
int ap_rc_state(const struct ap_rc *c, uint64_t session, uint64_t id);
/* The answer of a running request, kept for its copies. An answer longer than
 * max_answer (sized for the longest RESULT or ERROR, so never in practice) is
 * not kept, but the request still counts as answered: its copies get AP_RC_ANSWERED
 * with no bytes, and are dropped rather than run again (-EMSGSIZE, counted).
 * -ENOENT when (session, id) is not running: an answer the session made without
 * admission (a refusal before it), counted. */
int ap_rc_answer(struct ap_rc *c, uint64_t session, uint64_t id, const uint8_t *answer,
		 size_t len);
const struct ap_rc_stats *ap_rc_stats(const struct ap_rc *c);

#endif
