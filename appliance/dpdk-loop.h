/* The DPDK datagram transport of one worker: its queue pair of the DPDK port
 * (dpdk.h) in poll mode under the datagram side of the session layer
 * (dgram.h). A turn, l2fwd style: poll a burst, hand every datagram to the
 * session, give the mbufs back in bulk, run what is due, turn the replies into
 * datagrams built straight into mbufs, send them in one burst. Nothing
 * allocates, locks or makes a system call per datagram.
 *
 * Ownership: a received datagram's mbuf is the worker's from ap_dpdk_rx to the
 * ap_dpdk_release at the end of the same turn's input phase; nothing keeps a
 * pointer into it past that (the session copies an INFER's frame into its
 * request slot, the reassembler copies fragments into its arena). Replies are
 * copied into fresh mbufs by ap_dpdk_tx_prepare2 (dpdk.c owns them from there). */
#ifndef COINFER_APPLIANCE_DPDK_LOOP_H
#define COINFER_APPLIANCE_DPDK_LOOP_H

#include <stdatomic.h>
#include <stdint.h>

#include "dgram.h"
#include "dpdk.h"
#include "udp.h"

struct ap_dpdk_loop;

/* dg's ops are set here (replies go out through q). */
int ap_dpdk_loop_create(struct ap_dpdk_queue *q, const struct ap_dg_config *dg,
			struct ap_dpdk_loop **out, char *err, size_t errlen);
void ap_dpdk_loop_destroy(struct ap_dpdk_loop *l);
/* One turn at now_ns; returns the datagrams received. */
int ap_dpdk_loop_turn(struct ap_dpdk_loop *l, uint64_t now_ns);
struct ap_dg *ap_dpdk_loop_dg(struct ap_dpdk_loop *l);

/* What the server gives a worker's loop. */
struct ap_dpdk_run {
	const _Atomic int *stop;   /* nonzero: drain and return */
	_Atomic uint64_t *turns;   /* the watchdog's sign of progress */
	_Atomic uint32_t *queued;  /* requests in the scheduler, for the metrics */
	int drain_ms;
	unsigned idle_us;          /* nap after IDLE_TURNS empty polls; 0: poll always */
};
/* Turns until *stop, then drains (on the worker's thread, registered with
 * ap_dpdk_thread_register). Counters are published every millisecond and at
 * the end, for ap_dpdk_loop_stats on any thread. */
void ap_dpdk_loop_run(struct ap_dpdk_loop *l, const struct ap_dpdk_run *r);
void ap_dpdk_loop_stats(const struct ap_dpdk_loop *l, struct ap_udp_counts *out);

/* The server's side: its port (the EAL from cfg->dpdk_eal unless already up,
 * one queue pair per worker, answering ARP for cfg->host at cfg->port), and
 * worker sess->id's loop on its queue pair with its session. */
int ap_dpdk_server_open(const struct ap_server_config *cfg, struct ap_dpdk **out, char *err,
			size_t errlen);
int ap_dpdk_worker_create(struct ap_dpdk *d, const struct ap_sess_config *sess,
			  struct ap_dpdk_loop **out, char *err, size_t errlen);

#endif
