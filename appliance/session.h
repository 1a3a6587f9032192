/* The appliance's session layer: everything about the protocol that does not
 * depend on how bytes travel. One session per worker (event loop) holds the
 * connections' protocol state (HELLO, WELCOME, the message framing and its
 * reassembly, the limits), the replies, the scheduler and tail executor, and the
 * served policies. A transport (the io_uring TCP loop in server.c, the epoll
 * loop of the bench, a datagram transport later) owns the sockets and drives
 * the session through a few calls, always from the worker's own thread:
 *
 *   ap_sess_open(s)               a peer arrived: its connection slot, or -ENOSPC
 *   ap_sess_input(s, i, d, n)     bytes received from peer i, split anywhere
 *   ap_sess_close(s, i)           peer i is gone, or the transport drops it
 *   ap_sess_run(s)                run the batches that are due; the next due time
 *   ap_sess_sweep(s)              close peers stalled mid-message
 *   ap_conns_pop(slots, AP_Q_FLUSH), ap_sess_tx, ap_sess_sent
 *                                 replies: which peers have bytes to send, the
 *                                 bytes, how many left
 *
 * and the session asks the transport to close a peer's socket through one
 * callback (when framing breaks, a reply buffer overflows, a peer idles
 * mid-message). The session reads time from the clock it is given, so it runs
 * on a test's clock as well as on CLOCK_MONOTONIC.
 *
 * Connection slot lifetimes are the slot table's (conns.h): a transport that
 * has operations in flight on a peer's socket counts them with
 * ap_conns_op_begin/_end on ap_sess_slots(s), so the slot, and the reply buffer
 * a send in flight reads, are not reused before they end. The bytes of
 * ap_sess_tx stay where they are until ap_sess_sent consumes them; replies
 * queued meanwhile are appended after them. */
#ifndef COINFER_APPLIANCE_SESSION_H
#define COINFER_APPLIANCE_SESSION_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "coinfer/clock.h"
#include "conns.h"
#include "server.h"

struct cr_model;
struct ap_sess;

struct ap_sess_transport {
	void *ctx;
	/* Close peer i's socket: the session is done with it (called once per
	 * connection, from within a session call; it must not call back). */
	void (*close)(void *ctx, int i);
};

struct ap_sess_config {
	const struct ap_server_config *cfg; /* outlives the session */
	const struct cr_model *model;
	int id;                             /* worker index, in session ids */
	const _Atomic int *stop;            /* nonzero: INFERs are refused ERROR shutdown */
	struct ap_sess_transport transport;
	cf_clock_fn clock;                  /* NULL: CLOCK_MONOTONIC */
	void *clock_ctx;
};

/* Allocates everything the session will use (slots, reply buffers, reassembly
 * buffers, request slots, the executor, its calibration, copies of the served
 * policies). Errors name what failed. */
int ap_sess_create(const struct ap_sess_config *c, struct ap_sess **out, char *err, size_t errlen);
void ap_sess_destroy(struct ap_sess *s);

int ap_sess_open(struct ap_sess *s);
/* Peer i's source address (any u64 the transport derives from it: the IPv4
 * address, a hash), for the per-address HELLO rate limit; 0 until set. */
void ap_sess_set_addr(struct ap_sess *s, int i, uint64_t addr);
void ap_sess_input(struct ap_sess *s, int i, const uint8_t *d, size_t n);
void ap_sess_close(struct ap_sess *s, int i);
/* Is peer i still read from (HELLO or READY: not closing, not gone)? */
int ap_sess_reading(const struct ap_sess *s, int i);

/* The bytes waiting to be sent to peer i; 0 when none. */
int ap_sess_tx(const struct ap_sess *s, int i, const uint8_t **p, size_t *len);
/* n of them left: the rest is queued for the flush again; a connection that was
 * closing is closed once its last reply is out. */
void ap_sess_sent(struct ap_sess *s, int i, size_t n);

/* Runs what is due; returns when something next is (UINT64_MAX: nothing queued). */
uint64_t ap_sess_run(struct ap_sess *s);
void ap_sess_sweep(struct ap_sess *s);
/* Stopping: every queued request and every open connection is answered ERROR
 * shutdown; ap_sess_pending then says how many peers still have replies to
 * send, and ap_sess_close_all ends them. */
void ap_sess_stopping(struct ap_sess *s);
/* The session's clock, in ns. */
uint64_t ap_sess_now(const struct ap_sess *s);
int ap_sess_pending(const struct ap_sess *s);
void ap_sess_close_all(struct ap_sess *s);

struct ap_conns *ap_sess_slots(struct ap_sess *s);
/* This session's counters (one writer: its worker; read with relaxed loads). */
const struct ap_stats *ap_sess_stats(const struct ap_sess *s);
/* Its decided actions, ap_act_slots(model) counters indexed by ap_act_index. */
const _Atomic uint64_t *ap_sess_actions(const struct ap_sess *s);
/* Application app's SLO counters (slo.h), NULL when app is not one of cfg->slo. */
struct ap_slo_app;
const struct ap_slo_app *ap_sess_slo(const struct ap_sess *s, int app);
/* Requests in the scheduler. */
int ap_sess_queued(const struct ap_sess *s);

#endif
