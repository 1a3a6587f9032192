/* The DPDK port layer (dpdk.h): the one file of coinfer that includes DPDK's
 * headers. Fast path in the l2fwd/l3fwd manner: poll a burst, classify it
 * (pkt.c), hand the datagrams up, answer ARP, free the rest in bulk; replies are
 * batched and sent in one burst at the end of the worker's turn. Nothing on it
 * allocates from the heap, locks or enters the kernel; counters are added up
 * per burst and published with relaxed stores.
 *
 * Who owns an mbuf, at each step:
 *   - the pool, until the port's receive descriptors or a queue's stash take it;
 *   - rx: rte_eth_rx_burst gives it to this file. A datagram's mbuf then goes to
 *     the worker with ap_dpdk_dgram.mbuf, which keeps it while it reads the
 *     payload in place and gives it back with ap_dpdk_release (freed in bulk).
 *     An ARP request's mbuf is rewritten in place into the reply and joins the
 *     queue's tx array; every other frame is freed before ap_dpdk_rx returns.
 *   - tx: ap_dpdk_tx_prepare takes an mbuf from the queue's stash (refilled from
 *     the pool in bulk), builds the frame in it and leaves it in the queue's tx
 *     array; ap_dpdk_tx_flush hands the array to rte_eth_tx_burst, which owns
 *     what it accepted (the driver frees it once sent); those it refused are
 *     freed at once and counted in tx_dropped.
 *   - stop: the rx queues are drained (software rings keep frames across a
 *     stop), the tx arrays and stashes freed, the port stopped and closed (its
 *     driver frees the descriptors' mbufs); the pool's in-use count is then what
 *     someone still holds, 0 when every owner above kept its word. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>

#include "coinfer/errmsg.h"
#include "dpdk.h"

#define TX_CAP (2 * AP_DPDK_BURST)
#define DEFAULT_DESC 512
#define DRAIN_BURSTS 1024

#define RX_CSUM_OFFLOADS (RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM)
#define TX_CSUM_OFFLOADS (RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM)

struct qstats {
	_Atomic uint64_t rx_frames, kinds[AP_PKT_NKINDS], arp_replies;
	_Atomic uint64_t tx_frames, tx_dropped, tx_nombuf, tx_too_big;
};

struct ap_dpdk_queue {
	uint16_t port, id;
	unsigned rx_csum, tx_flags;
	uint32_t max_payload;
	struct ap_pkt_local me;
	struct rte_mempool *mp;
	uint16_t ntx, nstash;
	struct rte_mbuf *tx[TX_CAP];
	struct rte_mbuf *stash[AP_DPDK_BURST];
	struct qstats st;
} __rte_cache_aligned;

struct ap_dpdk {
	uint16_t port;
	int queues, have_port, started, stopped;
	unsigned offloads;
	struct ap_pkt_local me;
	uint32_t max_payload;
	struct rte_mempool *mp;
	struct ap_dpdk_queue *q;
};

/* One writer per counter: a relaxed load and store, no locked add. */
static inline void bump(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline uint64_t peek(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static int eal_up;

int ap_dpdk_eal_ready(void)
{
	return eal_up;
}

int ap_dpdk_eal_init(const char *eal_args, const char *vdev, char *err, size_t errlen)
{
	/* EAL may keep pointers into argv: both live as long as the process */
	static char buf[4096];
	static char *argv[AP_DPDK_MAX_ARGS + 3];
	int argc = 0;
	char *save = NULL;
	int n = snprintf(buf, sizeof(buf), "%s", eal_args ? eal_args : "");
	if (n < 0 || (size_t)n >= sizeof(buf))
		return cf_fail(-E2BIG, err, errlen, "DPDK EAL arguments longer than %zu bytes",
			       sizeof(buf) - 1);
	argv[argc++] = "coinfer";
	for (char *t = strtok_r(buf, " \t\n", &save); t; t = strtok_r(NULL, " \t\n", &save)) {
		if (argc > AP_DPDK_MAX_ARGS)
			return cf_fail(-E2BIG, err, errlen, "more than %d DPDK EAL arguments",
				       AP_DPDK_MAX_ARGS);
		argv[argc++] = t;
	}
	static char vdev_arg[512];
	if (vdev && *vdev) {
		n = snprintf(vdev_arg, sizeof(vdev_arg), "--vdev=%s", vdev);
		if (n < 0 || (size_t)n >= sizeof(vdev_arg))
			return cf_fail(-E2BIG, err, errlen, "DPDK vdev '%s' too long", vdev);
		argv[argc++] = vdev_arg;
	}
	argv[argc] = NULL;
	int ret = rte_eal_init(argc, argv);
	if (ret < 0)
		return cf_fail(rte_errno ? -rte_errno : -EINVAL, err, errlen,
			       "DPDK EAL init with '%s' failed: %s", eal_args ? eal_args : "",
			       rte_strerror(rte_errno));
	if (ret != argc - 1)
		return cf_fail(-EINVAL, err, errlen, "DPDK EAL: '%s' is not an EAL argument",
			       argv[ret + 1]);
	eal_up = 1;
	return 0;
}

/* A worker thread made by the appliance, not by the EAL: an lcore id of its
 * own gives it the mempool's per-lcore cache (without one every get and put
 * goes to the pool's shared ring). */
int ap_dpdk_thread_register(char *err, size_t errlen)
{
	if (rte_thread_register())
		return cf_fail(-rte_errno, err, errlen, "DPDK: no lcore left for a worker thread "
			       "(%s): fewer workers, or an EAL with fewer lcores (-l)",
			       rte_strerror(rte_errno));
	return 0;
}

void ap_dpdk_thread_unregister(void)
{
	rte_thread_unregister();
}

void ap_dpdk_eal_cleanup(void)
{
	/* the EAL leaves its runtime directory behind, empty under --no-shconf:
	 * one per --file-prefix would pile up */
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	eal_up = 0;
	rmdir(dir);
}

/* The offloads to use: the checksums, when the port does both of a direction. */
static void pick_offloads(struct ap_dpdk *d, const struct rte_eth_dev_info *di,
			  struct rte_eth_conf *conf)
{
	if ((di->rx_offload_capa & RX_CSUM_OFFLOADS) == RX_CSUM_OFFLOADS) {
		conf->rxmode.offloads |= RX_CSUM_OFFLOADS;
		d->offloads |= AP_DPDK_RX_CSUM;
	}
	if ((di->tx_offload_capa & TX_CSUM_OFFLOADS) == TX_CSUM_OFFLOADS) {
		conf->txmode.offloads |= TX_CSUM_OFFLOADS;
		d->offloads |= AP_DPDK_TX_CSUM;
	}
	/* spread peers over the workers' queues by address and port */
	uint64_t rss = di->flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP);
	if (d->queues > 1 && rss) {
		conf->rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf->rx_adv_conf.rss_conf.rss_hf = rss;
	}
}

static int check_config(const struct ap_dpdk_config *c, char *err, size_t errlen)
{
	if (!c->port || !*c->port)
		return cf_fail(-EINVAL, err, errlen, "DPDK: no port named");
	if (c->queues < 1 || c->queues > AP_DPDK_MAX_QUEUES)
		return cf_fail(-EINVAL, err, errlen, "DPDK: %d queues (1..%d)", c->queues,
			       AP_DPDK_MAX_QUEUES);
	if (c->mbufs < AP_DPDK_MIN_MBUFS || c->mbufs > AP_DPDK_MAX_MBUFS)
		return cf_fail(-EINVAL, err, errlen, "DPDK: %u mbufs (%u..%u)", c->mbufs,
			       AP_DPDK_MIN_MBUFS, AP_DPDK_MAX_MBUFS);
	if (!c->ip || !c->udp_port)
		return cf_fail(-EINVAL, err, errlen, "DPDK: no address or UDP port");
	return 0;
}

static int setup_queues(struct ap_dpdk *d, uint16_t nrx, uint16_t ntx, char *err, size_t errlen)
{
	int sock = rte_eth_dev_socket_id(d->port), ret;
	for (uint16_t i = 0; i < d->queues; i++) {
		ret = rte_eth_rx_queue_setup(d->port, i, nrx, (unsigned)sock, NULL, d->mp);
		if (ret < 0)
			return cf_fail(ret, err, errlen, "DPDK: rx queue %u: %s", i,
				       rte_strerror(-ret));
		ret = rte_eth_tx_queue_setup(d->port, i, ntx, (unsigned)sock, NULL);
		if (ret < 0)
			return cf_fail(ret, err, errlen, "DPDK: tx queue %u: %s", i,
				       rte_strerror(-ret));
		struct ap_dpdk_queue *q = &d->q[i];
		q->port = d->port;
		q->id = i;
		q->mp = d->mp;
		q->rx_csum = d->offloads & AP_DPDK_RX_CSUM;
		q->tx_flags = d->offloads & AP_DPDK_TX_CSUM ? AP_PKT_TX_CSUM_OFFLOAD : 0;
	}
	return 0;
}

/* Configures the port and creates the pool sized for its descriptors. */
static int configure(struct ap_dpdk *d, const struct ap_dpdk_config *c, char *err, size_t errlen)
{
	struct rte_eth_dev_info di;
	struct rte_eth_conf conf;
	int ret = rte_eth_dev_info_get(d->port, &di);
	if (ret < 0)
		return cf_fail(ret, err, errlen, "DPDK: port %s: %s", c->port, rte_strerror(-ret));
	if (di.max_rx_queues < c->queues || di.max_tx_queues < c->queues)
		return cf_fail(-EINVAL, err, errlen, "DPDK: port %s has %u rx and %u tx queues, not %d",
			       c->port, di.max_rx_queues, di.max_tx_queues, c->queues);
	memset(&conf, 0, sizeof(conf));
	pick_offloads(d, &di, &conf);
	ret = rte_eth_dev_configure(d->port, (uint16_t)c->queues, (uint16_t)c->queues, &conf);
	if (ret < 0)
		return cf_fail(ret, err, errlen, "DPDK: configuring %s: %s", c->port,
			       rte_strerror(-ret));
	uint16_t nrx = c->rx_desc ? c->rx_desc : DEFAULT_DESC;
	uint16_t ntx = c->tx_desc ? c->tx_desc : DEFAULT_DESC;
	ret = rte_eth_dev_adjust_nb_rx_tx_desc(d->port, &nrx, &ntx);
	if (ret < 0)
		return cf_fail(ret, err, errlen, "DPDK: descriptors of %s: %s", c->port,
			       rte_strerror(-ret));
	/* every descriptor filled, every stash and tx array full, and a burst
	 * per queue held by its worker: the pool must outlast all of them */
	uint64_t need = (uint64_t)c->queues * (nrx + ntx + TX_CAP + 2 * AP_DPDK_BURST);
	if (c->mbufs < need)
		return cf_fail(-EINVAL, err, errlen, "DPDK: %u mbufs, %d queues of %u+%u descriptors "
			       "need at least %llu", c->mbufs, c->queues, nrx, ntx,
			       (unsigned long long)need);
	char name[RTE_MEMPOOL_NAMESIZE];
	snprintf(name, sizeof(name), "cf_mbufs_%u", d->port);
	unsigned cache = c->mbufs >= 8192 ? 256 : c->mbufs / 32;
	d->mp = rte_pktmbuf_pool_create(name, c->mbufs, cache, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					rte_eth_dev_socket_id(d->port));
	if (!d->mp)
		return cf_fail(-rte_errno, err, errlen, "DPDK: mempool of %u mbufs: %s", c->mbufs,
			       rte_strerror(rte_errno));
	uint16_t mtu = RTE_ETHER_MTU;
	rte_eth_dev_get_mtu(d->port, &mtu);
	size_t room = RTE_MBUF_DEFAULT_BUF_SIZE - RTE_PKTMBUF_HEADROOM - AP_PKT_ETH_BYTES;
	d->max_payload = (uint32_t)((mtu < room ? mtu : room) - AP_PKT_IP_BYTES - AP_PKT_UDP_BYTES);
	return setup_queues(d, nrx, ntx, err, errlen);
}

static void send_garp(struct ap_dpdk *d)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(d->mp);
	if (!m)
		return;
	int n = ap_pkt_garp(rte_pktmbuf_mtod(m, uint8_t *), rte_pktmbuf_tailroom(m), &d->me);
	m->data_len = (uint16_t)n;
	m->pkt_len = (uint32_t)n;
	struct ap_dpdk_queue *q = &d->q[0];
	q->tx[q->ntx++] = m;
	ap_dpdk_tx_flush(q);
}

static int start(struct ap_dpdk *d, const struct ap_dpdk_config *c, char *err, size_t errlen)
{
	int ret = rte_eth_dev_start(d->port);
	if (ret < 0)
		return cf_fail(ret, err, errlen, "DPDK: starting %s: %s", c->port, rte_strerror(-ret));
	d->started = 1;
	/* only frames to our MAC and broadcasts (ARP); some vdevs cannot say */
	ret = rte_eth_promiscuous_disable(d->port);
	if (ret < 0 && ret != -ENOTSUP)
		return cf_fail(ret, err, errlen, "DPDK: promiscuous off on %s: %s", c->port,
			       rte_strerror(-ret));
	struct rte_ether_addr mac;
	ret = rte_eth_macaddr_get(d->port, &mac);
	if (ret < 0)
		return cf_fail(ret, err, errlen, "DPDK: MAC of %s: %s", c->port, rte_strerror(-ret));
	/* software ports (rte_eth_from_rings) may have none: a zero MAC would
	 * match every frame's zeroed destination, so take a local random one */
	if (rte_is_zero_ether_addr(&mac)) {
		rte_eth_random_addr(mac.addr_bytes);
		rte_eth_dev_default_mac_addr_set(d->port, &mac);
	}
	memcpy(d->me.mac, mac.addr_bytes, 6);
	d->me.ip = c->ip;
	d->me.port = c->udp_port;
	for (int i = 0; i < d->queues; i++) {
		d->q[i].me = d->me;
		d->q[i].max_payload = d->max_payload;
	}
	send_garp(d);
	return 0;
}

int ap_dpdk_open(const struct ap_dpdk_config *c, struct ap_dpdk **out, char *err, size_t errlen)
{
	int ret = check_config(c, err, errlen);
	if (ret)
		return ret;
	struct ap_dpdk *d = calloc(1, sizeof(*d));
	size_t qbytes = sizeof(*d->q) * (size_t)c->queues;
	if (!d || !(d->q = aligned_alloc(RTE_CACHE_LINE_SIZE, qbytes))) {
		free(d);
		return cf_fail(-ENOMEM, err, errlen, "DPDK: out of memory");
	}
	memset(d->q, 0, qbytes);
	d->queues = c->queues;
	ret = rte_eth_dev_get_port_by_name(c->port, &d->port);
	if (ret < 0) {
		cf_fail(ret, err, errlen, "DPDK: no port %s (%u ports; a vdev given to the EAL?)",
			c->port, rte_eth_dev_count_avail());
		goto fail;
	}
	d->have_port = 1;
	ret = configure(d, c, err, errlen);
	if (!ret)
		ret = start(d, c, err, errlen);
	if (ret)
		goto fail;
	*out = d;
	return 0;
fail:
	ap_dpdk_destroy(d);
	return ret;
}

struct ap_dpdk_queue *ap_dpdk_queue(struct ap_dpdk *d, int i)
{
	return i >= 0 && i < d->queues ? &d->q[i] : NULL;
}

/* What the NIC said about the checksums: AP_PKT_RX_* to trust, or -1 when it
 * found one wrong. */
static inline int nic_csum(const struct ap_dpdk_queue *q, const struct rte_mbuf *m)
{
	if (!q->rx_csum)
		return 0;
	uint64_t ip = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
	uint64_t l4 = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
	if (ip == RTE_MBUF_F_RX_IP_CKSUM_BAD || l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD)
		return -1;
	/* NONE: the data's sum is not filled in but the NIC vouches for it */
	int f = 0;
	if (ip == RTE_MBUF_F_RX_IP_CKSUM_GOOD || ip == RTE_MBUF_F_RX_IP_CKSUM_NONE)
		f |= AP_PKT_RX_IP_CSUM_OK;
	if (l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD || l4 == RTE_MBUF_F_RX_L4_CKSUM_NONE)
		f |= AP_PKT_RX_L4_CSUM_OK;
	return f;
}

static inline int classify(const struct ap_dpdk_queue *q, const struct rte_mbuf *m,
			   struct ap_pkt_info *in)
{
	/* no scatter is configured: a chained frame is one we did not ask for */
	if (m->nb_segs != 1 || m->pkt_len != m->data_len)
		return AP_PKT_MALFORMED;
	int f = nic_csum(q, m);
	if (f < 0)
		return AP_PKT_BAD_CSUM;
	return ap_pkt_parse(rte_pktmbuf_mtod(m, const uint8_t *), m->data_len, &q->me,
			    (unsigned)f, in);
}

/* The request's mbuf becomes the reply, queued for the next flush. */
static inline void arp_answer(struct ap_dpdk_queue *q, struct rte_mbuf *m,
			      const struct ap_pkt_peer *peer)
{
	if (q->ntx == TX_CAP)
		ap_dpdk_tx_flush(q);
	int n = ap_pkt_arp_reply(rte_pktmbuf_mtod(m, uint8_t *),
				 (size_t)m->buf_len - m->data_off, &q->me, peer);
	m->data_len = (uint16_t)n;
	m->pkt_len = (uint32_t)n;
	m->ol_flags = 0;
	q->tx[q->ntx++] = m;
}

int ap_dpdk_rx(struct ap_dpdk_queue *q, struct ap_dpdk_dgram *out, int max)
{
	struct rte_mbuf *pkts[AP_DPDK_BURST], *drop[AP_DPDK_BURST];
	uint32_t kinds[AP_PKT_NKINDS] = {0};
	struct ap_pkt_info in;
	if (max <= 0)
		return 0;
	uint16_t n = rte_eth_rx_burst(q->port, q->id, pkts,
				      (uint16_t)(max < AP_DPDK_BURST ? max : AP_DPDK_BURST));
	int nd = 0, ndrop = 0;
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		int k = classify(q, m, &in);
		kinds[k]++;
		if (k == AP_PKT_UDP) {
			out[nd].payload = rte_pktmbuf_mtod(m, const uint8_t *) + in.payload_off;
			out[nd].len = in.payload_len;
			out[nd].peer = in.peer;
			out[nd++].mbuf = m;
		} else if (k == AP_PKT_ARP_REQUEST) {
			arp_answer(q, m, &in.peer);
		} else {
			drop[ndrop++] = m;
		}
	}
	if (ndrop)
		rte_pktmbuf_free_bulk(drop, (unsigned)ndrop);
	if (n) {
		bump(&q->st.rx_frames, n);
		bump(&q->st.arp_replies, kinds[AP_PKT_ARP_REQUEST]);
		for (int k = 0; k < AP_PKT_NKINDS; k++)
			if (kinds[k])
				bump(&q->st.kinds[k], kinds[k]);
	}
	return nd;
}

void ap_dpdk_release(struct ap_dpdk_queue *q, const struct ap_dpdk_dgram *dg, int n)
{
	struct rte_mbuf *ms[AP_DPDK_BURST];
	(void)q;
	while (n > 0) {
		int k = n < AP_DPDK_BURST ? n : AP_DPDK_BURST;
		for (int i = 0; i < k; i++)
			ms[i] = dg[i].mbuf;
		rte_pktmbuf_free_bulk(ms, (unsigned)k);
		dg += k;
		n -= k;
	}
}

static inline struct rte_mbuf *stash_get(struct ap_dpdk_queue *q)
{
	if (!q->nstash) {
		if (rte_pktmbuf_alloc_bulk(q->mp, q->stash, AP_DPDK_BURST) == 0)
			q->nstash = AP_DPDK_BURST;
		else
			return rte_pktmbuf_alloc(q->mp); /* the pool is low: one at a time */
	}
	return q->stash[--q->nstash];
}

/* The payload's checksum sum, from the caller's buffers (warm, and not the
 * bytes the copy into the mbuf just wrote: reading those back stalls on the
 * stores); from the frame when the head's length is odd and would shift the
 * body's bytes in their 16-bit words. */
static inline uint64_t tx_sum(const struct ap_dpdk_queue *q, const uint8_t *f, const void *head,
			      size_t hlen, const void *body, size_t blen)
{
	if (q->tx_flags & AP_PKT_TX_CSUM_OFFLOAD)
		return 0;
	if (hlen & 1)
		return ap_pkt_csum_add(0, f + AP_PKT_HDR_BYTES, hlen + blen);
	uint64_t sum = ap_pkt_csum_add(0, head, hlen);
	return blen ? ap_pkt_csum_add(sum, body, blen) : sum;
}

int ap_dpdk_tx_prepare(struct ap_dpdk_queue *q, const struct ap_pkt_peer *to, const void *payload,
		       size_t len)
{
	return ap_dpdk_tx_prepare2(q, to, payload, len, NULL, 0);
}

int ap_dpdk_tx_prepare2(struct ap_dpdk_queue *q, const struct ap_pkt_peer *to, const void *head,
			size_t hlen, const void *body, size_t blen)
{
	size_t len = hlen + blen;
	if (len > q->max_payload) {
		bump(&q->st.tx_too_big, 1);
		return -EMSGSIZE;
	}
	if (q->ntx == TX_CAP)
		ap_dpdk_tx_flush(q);
	struct rte_mbuf *m = stash_get(q);
	if (!m) {
		bump(&q->st.tx_nombuf, 1);
		return -ENOBUFS;
	}
	uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
	memcpy(f + AP_PKT_HDR_BYTES, head, hlen);
	if (blen)
		memcpy(f + AP_PKT_HDR_BYTES + hlen, body, blen);
	int n = ap_pkt_udp_build_summed(f, rte_pktmbuf_tailroom(m), &q->me, to, len, q->tx_flags,
					tx_sum(q, f, head, hlen, body, blen));
	if (n < 0) { /* max_payload fits any fresh mbuf: not reached */
		rte_pktmbuf_free(m);
		return n;
	}
	m->data_len = (uint16_t)n;
	m->pkt_len = (uint32_t)n;
	if (q->tx_flags & AP_PKT_TX_CSUM_OFFLOAD) {
		m->l2_len = AP_PKT_ETH_BYTES;
		m->l3_len = AP_PKT_IP_BYTES;
		m->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_CKSUM;
	}
	q->tx[q->ntx++] = m;
	return 0;
}

int ap_dpdk_tx_flush(struct ap_dpdk_queue *q)
{
	if (!q->ntx)
		return 0;
	uint16_t sent = rte_eth_tx_burst(q->port, q->id, q->tx, q->ntx);
	if (sent < q->ntx) {
		rte_pktmbuf_free_bulk(q->tx + sent, q->ntx - sent);
		bump(&q->st.tx_dropped, q->ntx - sent);
	}
	bump(&q->st.tx_frames, sent);
	q->ntx = 0;
	return sent;
}

static void sum_queue(const struct qstats *s, struct ap_dpdk_stats *o)
{
	o->rx_frames += peek(&s->rx_frames);
	for (int k = 0; k < AP_PKT_NKINDS; k++)
		o->kinds[k] += peek(&s->kinds[k]);
	o->arp_replies += peek(&s->arp_replies);
	o->tx_frames += peek(&s->tx_frames);
	o->tx_dropped += peek(&s->tx_dropped);
	o->tx_nombuf += peek(&s->tx_nombuf);
	o->tx_too_big += peek(&s->tx_too_big);
}

void ap_dpdk_queue_stats(const struct ap_dpdk_queue *q, struct ap_dpdk_stats *out)
{
	memset(out, 0, sizeof(*out));
	sum_queue(&q->st, out);
}

void ap_dpdk_stats(const struct ap_dpdk *d, int i, struct ap_dpdk_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (int k = 0; k < d->queues; k++)
		if (i < 0 || i == k)
			sum_queue(&d->q[k].st, out);
}

int ap_dpdk_mbufs_in_use(const struct ap_dpdk *d)
{
	return d->mp ? (int)rte_mempool_in_use_count(d->mp) : 0;
}

/* A queue's frames not yet sent, and its stash, back to the pool. */
static void queue_free(struct ap_dpdk_queue *q)
{
	if (q->ntx) {
		rte_pktmbuf_free_bulk(q->tx, q->ntx);
		bump(&q->st.tx_dropped, q->ntx);
		q->ntx = 0;
	}
	if (q->nstash)
		rte_pktmbuf_free_bulk(q->stash, q->nstash);
	q->nstash = 0;
}

int ap_dpdk_stop(struct ap_dpdk *d)
{
	struct rte_mbuf *pkts[AP_DPDK_BURST];
	if (d->stopped)
		return ap_dpdk_mbufs_in_use(d);
	for (int i = 0; i < d->queues; i++) {
		/* bounded: a peer may keep sending while we drain */
		for (int b = 0; d->started && b < DRAIN_BURSTS; b++) {
			uint16_t n = rte_eth_rx_burst(d->port, (uint16_t)i, pkts, AP_DPDK_BURST);
			if (!n)
				break;
			rte_pktmbuf_free_bulk(pkts, n);
		}
		queue_free(&d->q[i]);
	}
	if (d->started)
		rte_eth_dev_stop(d->port);
	if (d->have_port)
		rte_eth_dev_close(d->port);
	d->stopped = 1;
	return ap_dpdk_mbufs_in_use(d);
}

void ap_dpdk_destroy(struct ap_dpdk *d)
{
	if (!d)
		return;
	ap_dpdk_stop(d);
	rte_mempool_free(d->mp);
	free(d->q);
	free(d);
}

void ap_dpdk_local(const struct ap_dpdk *d, struct ap_pkt_local *out)
{
	*out = d->me;
}

unsigned ap_dpdk_offloads(const struct ap_dpdk *d)
{
	return d->offloads;
}

size_t ap_dpdk_max_payload(const struct ap_dpdk *d)
{
	return d->max_payload;
}

struct rte_mempool *ap_dpdk_mempool(struct ap_dpdk *d)
{
	return d->mp;
}
