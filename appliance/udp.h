/* The appliance's io_uring UDP transport: the datagram form of the protocol
 * (docs/protocol.md, "Datagrams (UDP)") for one worker, driving the
 * transport-independent glue of dgram.h. The server (server.c) owns the
 * workers, the watchdog, the stop and the stats; per worker it creates one
 * ap_udp, runs ap_udp_run on the worker's thread, and reads the counters from
 * any thread.
 *
 * Per worker: one UDP socket bound to host:port with SO_REUSEPORT (the kernel
 * spreads peers over the workers by 4-tuple, so a device's datagrams all reach
 * the worker that holds its session), its own io_uring, its own session. */
#ifndef COINFER_APPLIANCE_UDP_H
#define COINFER_APPLIANCE_UDP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "server.h"

struct ap_sess;
struct ap_udp;

struct ap_udp_config {
	const struct ap_server_config *cfg; /* outlives the transport */
	const struct cr_model *model;
	int id;                             /* worker index */
	int port;                           /* 0: any free one (ap_udp_port) */
	const _Atomic int *stop;            /* nonzero: ap_udp_run drains and returns */
	_Atomic uint64_t *turns;            /* the watchdog's sign of progress */
	_Atomic uint32_t *queued;           /* requests in the scheduler, per turn */
};

/* Every datagram counter: X(field, kind, help), kind counter or gauge. The
 * metrics name each coinfer_appliance_udp_<field>[_total]. */
#define AP_UDP_COUNTERS(X)                                                                     \
	X(datagrams, counter, "UDP datagrams received.")                                      \
	X(malformed, counter, "Datagrams that did not decode (garbage, lying counts).")       \
	X(truncated, counter, "Datagrams longer than a receive buffer (dropped).")            \
	X(unknown_session, counter, "Datagrams naming no live session (dropped unread).")     \
	X(acks_in, counter, "ACK datagrams received.")                                        \
	X(acks_out, counter, "ACK datagrams sent for requests in fragments.")                 \
	X(acks_deferred_answered, counter, "ACKs not sent: the answer left in the same turn.") \
	X(copies_answered, counter, "Copies of answered requests answered from the cache.")   \
	X(copies_running, counter, "Copies of requests still running (not run again).")       \
	X(busy, counter, "Requests refused busy: the answers cache had no room.")             \
	X(sent, counter, "Datagrams handed to the socket.")                                   \
	X(tx_dropped, counter, "Datagrams dropped: no send slot free (the protocol recovers).") \
	X(tx_failed, counter, "Sends that completed with an error.")                          \
	X(idle_closed, counter, "Sessions closed after their peer went silent.")              \
	X(reasm_completed, counter, "Messages reassembled whole (one-fragment ones too).")    \
	X(reasm_timeouts, counter, "Messages in fragments dropped incomplete at the timeout.") \
	X(reasm_refused, counter, "New messages refused: no reassembly slot or memory.")      \
	X(reasm_inconsistent, counter, "Fragments whose count or length lied.")               \
	X(faults_dropped, counter, "Replies dropped by the injected faults (--faults).")      \
	X(faults_duplicated, counter, "Replies duplicated by the injected faults.")           \
	X(faults_reordered, counter, "Replies reordered by the injected faults.")             \
	X(handshake_copies, counter, "Copies of HELLO or AUTH answered with what was sent.")  \
	X(rx_rearms, counter, "Receives armed again (multishot ended or buffers ran out).")   \
	X(reasm_bytes_in_use, gauge, "Bytes held by messages being reassembled.")

#define AP_UDP_FIELD(f, kind, help) uint64_t f;
struct ap_udp_counts {
	AP_UDP_COUNTERS(AP_UDP_FIELD)
};
#undef AP_UDP_FIELD

/* The same, published by a worker for readers on other threads (relaxed
 * stores and loads: each counter has one writer). The io_uring and the DPDK
 * transport both publish the datagram layer's counters with their own
 * (truncated, tx_dropped, tx_failed, rx_rearms: the rest of own is ignored). */
#define AP_UDP_ATOMIC(f, kind, help) _Atomic uint64_t f;
struct ap_udp_snapshot {
	AP_UDP_COUNTERS(AP_UDP_ATOMIC)
};
#undef AP_UDP_ATOMIC

struct ap_dg;
void ap_udp_publish(struct ap_udp_snapshot *pub, const struct ap_dg *g,
		    const struct ap_udp_counts *own);
void ap_udp_snapshot_read(const struct ap_udp_snapshot *pub, struct ap_udp_counts *out);

/* Binds the socket, sets up the ring and its buffers, the send slots and the
 * datagram layer with its session. Errors name what failed. */
int ap_udp_create(const struct ap_udp_config *c, struct ap_udp **out, char *err, size_t errlen);
/* After ap_udp_run has returned (or when it never ran). */
void ap_udp_destroy(struct ap_udp *u);

/* The worker's loop until *stop, then the drain: queued requests and sessions
 * answered ERROR shutdown, sends given drain_ms to complete, receives
 * cancelled. */
void ap_udp_run(struct ap_udp *u);

struct ap_sess *ap_udp_sess(struct ap_udp *u);
int ap_udp_port(const struct ap_udp *u);
/* The receive path, for the start-up line. */
const char *ap_udp_rx_mode(const struct ap_udp *u);
/* The snapshot the worker published at the end of its last turn (relaxed
 * loads: any thread). */
void ap_udp_stats(const struct ap_udp *u, struct ap_udp_counts *out);

#endif
