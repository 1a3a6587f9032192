/* The datagram side of the session layer: what turns UDP datagrams from any
 * transport (io_uring UDP sockets, DPDK) into the session's messages, and its
 * replies into datagrams (docs/protocol.md, "Datagrams (UDP)"). The transport
 * owns the sockets or the port and calls, from its worker's thread:
 *
 *   ap_dg_input(g, from, d, n, now)  one datagram received from address from
 *   ap_dg_flush(g, now)              after ap_sess_run: replies into datagrams,
 *                                    then the turn's ACKs left for its end
 *   ap_dg_tick(g, now)               now and then: timeouts, silent peers
 *
 * and sends what the ops->send callback hands it (a header and a body, to an
 * address), batching as it likes: a datagram it cannot send is simply lost, and
 * the protocol recovers (the agent retransmits; a copy of a request is answered
 * from the answers cache, never run twice: rcache.h).
 *
 * Peers are the session's connection slots: a HELLO from an address without a
 * session opens one, WELCOME's session id then names it, and a datagram naming
 * no live session is dropped before anything else is read. Session ids are the
 * session layer's, unguessable (a keyed mix), so a spoofed datagram lands only
 * by guessing 64 bits. A peer silent for idle_ns is closed, as a TCP peer that
 * hangs up would be.
 *
 * Ownership: peer p (= slot p) holds its address and session id from the HELLO
 * that opened it until the session closes it (the transport-close callback, or
 * ap_dg_tick's idle close); the session-id index refers to p only while p's
 * session id is its key, and is cleared before p is reused. A reassembled
 * message's bytes are held from its last fragment to the end of that
 * ap_dg_input call. An ACK left for the end of the turn names its peer by slot
 * and session id, and goes at the flush only if that slot still holds that
 * session. */
#ifndef COINFER_APPLIANCE_DGRAM_H
#define COINFER_APPLIANCE_DGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "coinfer/wire-dgram.h"
#include "coinfer/wire-faults.h"
#include "session.h"

/* A transport's address of a peer: opaque bytes compared whole (a sockaddr_in or
 * _in6 for sockets; IP, port and MAC for DPDK), and the sender's host as the
 * transport knows it (its IPv4 address + 1; 0: the whole address is the host),
 * which the limits per address count by: a new source port is the same host. */
#define AP_DG_ADDR_MAX 32
struct ap_dg_addr {
	uint8_t len;
	uint8_t b[AP_DG_ADDR_MAX];
	uint64_t host;
};

struct ap_dg_ops {
	void *ctx;
	/* Send one datagram: head[0..hlen) then body[0..blen) (blen may be 0).
	 * 0, or -errno when it is dropped (counted). */
	int (*send)(void *ctx, const struct ap_dg_addr *to, const uint8_t *head, size_t hlen,
		    const uint8_t *body, size_t blen);
};

struct ap_dg_config {
	struct ap_sess_config sess;  /* its transport field is set here */
	struct ap_dg_ops ops;
	uint32_t max_payload;        /* fragment payload of replies: CW_DG_DEFAULT_PAYLOAD */
	size_t reasm_bytes;          /* bound on bytes of requests being reassembled */
	uint32_t reasm_msgs;         /* and on their number */
	uint64_t reasm_timeout_ns;   /* a request incomplete this long is dropped */
	uint64_t idle_ns;            /* a peer silent this long is closed */
	int answers;                 /* answers kept for copies (rcache.h) */
	/* ACKs of one-fragment requests left for the end of the turn, where an
	 * answer that left in it stands for its ACK (0: every ACK at once) */
	int acks_later;
	struct cw_fault_config faults; /* injected on the replies (tests, demos) */
};

/* The defaults for a server configuration (reasm bound from its limits). */
void ap_dg_defaults(struct ap_dg_config *c, const struct ap_server_config *cfg);

struct ap_dg;

struct ap_dg_stats {
	uint64_t datagrams, malformed, unknown_session, acks_in, acks_out, copies_running,
		copies_answered, busy, sent, send_errors, idle_closed;
	uint64_t acks_deferred_answered; /* ACKs not sent: the answer left in the same turn */
	uint64_t handshake_copies; /* HELLOs and AUTHs again, answered with what was sent */
	struct cw_dg_reasm_stats reasm;
	struct cw_fault_counts faults;
};

/* Creates the session with it (errors name what failed). */
int ap_dg_create(const struct ap_dg_config *c, struct ap_dg **out, char *err, size_t errlen);
void ap_dg_destroy(struct ap_dg *g);
struct ap_sess *ap_dg_sess(struct ap_dg *g);

void ap_dg_input(struct ap_dg *g, const struct ap_dg_addr *from, const uint8_t *d, size_t n,
		 uint64_t now_ns);
void ap_dg_flush(struct ap_dg *g, uint64_t now_ns);
void ap_dg_tick(struct ap_dg *g, uint64_t now_ns);
void ap_dg_stats(const struct ap_dg *g, struct ap_dg_stats *out);

#endif
