/* The DPDK port layer: one Ethernet port driven in poll mode, handing up the
 * UDP datagrams sent to our address and port and sending UDP datagrams, with
 * ARP answered here and everything else dropped and counted. It knows no
 * protocol above UDP; a datagram transport of the session layer (session.h)
 * sits on it. The only file that includes DPDK's headers is dpdk.c: the types
 * here are opaque, so the rest of the appliance builds without them.
 *
 *   ap_dpdk_eal_init(args, vdev)   once per process: DPDK's EAL from a string
 *   ap_dpdk_open(cfg, &d)          the mempool, the port, one rx/tx queue pair per
 *                                  worker, a gratuitous ARP
 *   ap_dpdk_queue(d, i)            worker i's queue pair, used by that worker's
 *                                  thread only
 *   ap_dpdk_rx(q, out, max)        a burst: the datagrams, each holding its mbuf
 *   ap_dpdk_release(q, dg, n)      ...given back once their payloads are consumed
 *   ap_dpdk_tx_prepare(q, to, p, n)  one datagram built into an mbuf (the payload
 *                                  copied once); sent by ap_dpdk_tx_flush, which
 *                                  the worker calls at the end of every turn
 *   ap_dpdk_stop(d), ap_dpdk_destroy(d)  every mbuf back in the pool, counted
 *
 * Who owns an mbuf at each step is written at the top of dpdk.c. */
#ifndef COINFER_APPLIANCE_DPDK_H
#define COINFER_APPLIANCE_DPDK_H

#include <stddef.h>
#include <stdint.h>

#include "pkt.h"

struct rte_mempool;
struct ap_dpdk;
struct ap_dpdk_queue;

#define AP_DPDK_MAX_QUEUES 16
#define AP_DPDK_BURST 32             /* frames per rx or tx burst */
#define AP_DPDK_MAX_ARGS 64          /* EAL arguments in the string */
#define AP_DPDK_MIN_MBUFS 1024
#define AP_DPDK_MAX_MBUFS (1u << 20) /* 2 GB of 2 KB buffers */

struct ap_dpdk_config {
	const char *port;  /* the ethdev's name: "net_ring0", "net_af_packet0", a PCI address */
	uint32_t ip;       /* our IPv4 address, host order */
	uint16_t udp_port;
	int queues;        /* one rx/tx queue pair per worker: 1..AP_DPDK_MAX_QUEUES */
	uint32_t mbufs;    /* the mempool: AP_DPDK_MIN_MBUFS..AP_DPDK_MAX_MBUFS, and room for
			    * every queue's descriptors */
	uint16_t rx_desc, tx_desc; /* per queue; 0: 512 */
};

/* A datagram handed up: its payload lies in the mbuf, which stays the
 * worker's until ap_dpdk_release. */
struct ap_dpdk_dgram {
	const uint8_t *payload;
	uint32_t len;
	struct ap_pkt_peer peer;  /* where a reply goes: ap_dpdk_tx_prepare's to */
	void *mbuf;
};

/* Offloads the port was configured with (dev_info said it can): the rest is
 * done in software by pkt.c. */
enum {
	AP_DPDK_RX_CSUM = 1u << 0, /* IPv4 header and UDP checksums verified by the NIC */
	AP_DPDK_TX_CSUM = 1u << 1, /* and inserted by it */
};

/* Counters, per queue or summed (one writer each: the queue's worker). */
struct ap_dpdk_stats {
	uint64_t rx_frames;
	uint64_t kinds[AP_PKT_NKINDS]; /* every received frame by what it was (pkt.h) */
	uint64_t arp_replies;          /* ARP replies queued for sending */
	uint64_t tx_frames;            /* accepted by the port */
	uint64_t tx_dropped;           /* refused by the port (queue full) or never sent */
	uint64_t tx_nombuf;            /* no mbuf to build into */
	uint64_t tx_too_big;           /* payloads above ap_dpdk_max_payload */
};

/* Initialises DPDK's EAL (once per process) with eal_args split on blanks, and
 * --vdev=VDEV when vdev is not NULL or empty. -errno with DPDK's reason. */
int ap_dpdk_eal_init(const char *eal_args, const char *vdev, char *err, size_t errlen);
void ap_dpdk_eal_cleanup(void);
/* Whether the EAL is up (it can be initialised once per process: a second
 * ap_dpdk_eal_init fails). */
int ap_dpdk_eal_ready(void);
/* Gives the calling thread, not made by the EAL, an lcore of its own (the
 * mempool's per-lcore cache), and takes it back. */
int ap_dpdk_thread_register(char *err, size_t errlen);
void ap_dpdk_thread_unregister(void);

int ap_dpdk_open(const struct ap_dpdk_config *c, struct ap_dpdk **out, char *err, size_t errlen);
/* Stops and closes the port and frees what the queues hold; returns the
 * mbufs still out of the pool: 0 unless someone kept one (a worker that did
 * not release, a software ring holding frames). */
int ap_dpdk_stop(struct ap_dpdk *d);
/* Stops if needed and frees the mempool. */
void ap_dpdk_destroy(struct ap_dpdk *d);

struct ap_dpdk_queue *ap_dpdk_queue(struct ap_dpdk *d, int i);
/* Up to max (at most AP_DPDK_BURST are polled) datagrams into out; answers
 * the ARP requests among them (the replies leave with the next flush). */
int ap_dpdk_rx(struct ap_dpdk_queue *q, struct ap_dpdk_dgram *out, int max);
void ap_dpdk_release(struct ap_dpdk_queue *q, const struct ap_dpdk_dgram *dg, int n);
/* 0, -EMSGSIZE (len > ap_dpdk_max_payload), -ENOBUFS (the pool is empty). */
int ap_dpdk_tx_prepare(struct ap_dpdk_queue *q, const struct ap_pkt_peer *to, const void *payload,
		       size_t len);
/* The same for a payload in two parts (a datagram header and a slice of a
 * message lying elsewhere), gathered into the mbuf in one copy each. */
int ap_dpdk_tx_prepare2(struct ap_dpdk_queue *q, const struct ap_pkt_peer *to, const void *head,
			size_t hlen, const void *body, size_t blen);
/* Sends what is prepared; returns how many frames the port took (the rest
 * are freed and counted in tx_dropped). */
int ap_dpdk_tx_flush(struct ap_dpdk_queue *q);

/* Off the fast path (relaxed loads): queue i, or every queue when i < 0. */
void ap_dpdk_stats(const struct ap_dpdk *d, int i, struct ap_dpdk_stats *out);
void ap_dpdk_queue_stats(const struct ap_dpdk_queue *q, struct ap_dpdk_stats *out);
int ap_dpdk_mbufs_in_use(const struct ap_dpdk *d);
void ap_dpdk_local(const struct ap_dpdk *d, struct ap_pkt_local *out);
unsigned ap_dpdk_offloads(const struct ap_dpdk *d);
size_t ap_dpdk_max_payload(const struct ap_dpdk *d);
/* The pool the port receives into: tests inject frames built in its mbufs. */
struct rte_mempool *ap_dpdk_mempool(struct ap_dpdk *d);

#endif
