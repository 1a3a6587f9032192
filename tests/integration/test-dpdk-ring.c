/* The DPDK port layer (appliance/dpdk.c) over a port made of two rte_rings
 * (rte_eth_from_rings), so that the test writes the frames the port receives
 * and reads the ones it sends: EAL without hugepages or PCI, one queue.
 *
 *   1. the gratuitous ARP at start;
 *   2. a mixed burst: ARP requests for us and for another address, datagrams
 *      to us (odd and even lengths), to another address and port, garbage,
 *      truncated, VLAN-tagged and empty frames: exactly our datagrams handed
 *      up, the ARP reply sent, every other frame counted by kind; the echoes
 *      of the datagrams parse back to the same payloads;
 *   3. 1,000,000 datagrams through rx -> echo tx in bursts (an ARP request and
 *      garbage mixed in every 64th burst): every one echoed, and the pool's
 *      in-use count never above one stash of mbufs between bursts;
 *   4. a full transmit ring: what the port refuses is freed and counted;
 *   5. stop with frames still in the receive ring: drained, and the in-use
 *      count back to its value at start (0).
 *
 * Exits 77 when the EAL cannot start here. Counts, never time. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dpdk.h"
#include "pkt.h"

#define CHECK(c, ...)                                                                      \
	do {                                                                                \
		if (!(c)) {                                                                 \
			fprintf(stderr, "test-dpdk-ring:%d: %s: ", __LINE__, #c);           \
			fprintf(stderr, __VA_ARGS__);                                       \
			fputc('\n', stderr);                                                \
			exit(1);                                                            \
		}                                                                           \
	} while (0)

#define RING_SIZE 4096
#define VOLUME 1000000
#define SERVER_IP 0x0a580001u /* 10.88.0.1 */
#define CLIENT_IP 0x0a580002u
#define UDP_PORT 7879

static struct rte_ring *rx_ring, *tx_ring;
static struct ap_dpdk *dev;
static struct ap_dpdk_queue *q;
static struct ap_pkt_local me, client = {
	.mac = {0x02, 0, 0, 0, 0, 0x0a}, .ip = CLIENT_IP, .port = 40000};

/* A frame copied into an mbuf of the port's pool, onto the receive ring. */
static void inject(const uint8_t *f, size_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(ap_dpdk_mempool(dev));
	CHECK(m, "pool empty");
	memcpy(rte_pktmbuf_mtod(m, uint8_t *), f, len);
	m->data_len = (uint16_t)len;
	m->pkt_len = (uint32_t)len;
	CHECK(rte_ring_enqueue(rx_ring, m) == 0, "receive ring full");
}

/* What the port sent: one frame copied out (its length), or -1. */
static int take(uint8_t *f, size_t cap)
{
	void *p;
	if (rte_ring_dequeue(tx_ring, &p))
		return -1;
	struct rte_mbuf *m = p;
	CHECK(m->data_len <= cap && m->nb_segs == 1, "frame of %u bytes", m->data_len);
	int n = m->data_len;
	memcpy(f, rte_pktmbuf_mtod(m, uint8_t *), (size_t)n);
	rte_pktmbuf_free(m);
	return n;
}

static int udp_frame(uint8_t *f, size_t cap, uint32_t dst_ip, uint16_t dst_port,
		     const void *payload, size_t len)
{
	struct ap_pkt_peer to = {.ip = dst_ip, .port = dst_port};
	memcpy(to.mac, me.mac, 6);
	memcpy(f + AP_PKT_HDR_BYTES, payload, len);
	int n = ap_pkt_udp_build(f, cap, &client, &to, len, 0);
	CHECK(n > 0, "build %d", n);
	return n;
}

static int arp_request(uint8_t *f, uint32_t tpa)
{
	/* the client's "who has tpa": a GARP of the client with another target */
	int n = ap_pkt_garp(f, 64, &client);
	for (int i = 0; i < 4; i++)
		f[38 + i] = (uint8_t)(tpa >> (24 - 8 * i));
	return n;
}

static int start(void)
{
	char args[256], err[512];
	snprintf(args, sizeof(args), "-l 0 --no-huge --no-pci -m 256 --no-shconf --no-telemetry "
		 "--log-level=error --file-prefix=cf-dpdk-ring-%d", (int)getpid());
	if (ap_dpdk_eal_init(args, NULL, err, sizeof(err))) {
		printf("test-dpdk-ring: skipped: %s\n", err);
		return 77;
	}
	unsigned flags = RING_F_SP_ENQ | RING_F_SC_DEQ;
	rx_ring = rte_ring_create("cf_test_rx", RING_SIZE, SOCKET_ID_ANY, flags);
	tx_ring = rte_ring_create("cf_test_tx", RING_SIZE, SOCKET_ID_ANY, flags);
	CHECK(rx_ring && tx_ring, "rings: %s", rte_strerror(rte_errno));
	CHECK(rte_eth_from_rings("cftest", &rx_ring, 1, &tx_ring, 1, SOCKET_ID_ANY) >= 0, "port: %s",
	      rte_strerror(rte_errno));
	struct ap_dpdk_config c = {.port = "net_ring_cftest", .ip = SERVER_IP, .udp_port = UDP_PORT,
				   .queues = 1, .mbufs = 8192};
	CHECK(ap_dpdk_open(&c, &dev, err, sizeof(err)) == 0, "%s", err);
	q = ap_dpdk_queue(dev, 0);
	ap_dpdk_local(dev, &me);
	printf("port net_ring_cftest: MAC %02x:%02x:%02x:%02x:%02x:%02x, offloads %#x, "
	       "max payload %zu\n", me.mac[0], me.mac[1], me.mac[2], me.mac[3], me.mac[4],
	       me.mac[5], ap_dpdk_offloads(dev), ap_dpdk_max_payload(dev));
	return 0;
}

static void check_garp(void)
{
	uint8_t f[2048], want[64];
	int n = take(f, sizeof(f));
	CHECK(n == ap_pkt_garp(want, sizeof(want), &me) && !memcmp(f, want, 60),
	      "no gratuitous ARP at start (%d bytes)", n);
	CHECK(take(f, sizeof(f)) < 0, "more than the gratuitous ARP sent");
}

static void mixed_burst(void)
{
	uint8_t f[2048], g[2048];
	static const char *payloads[] = {"ping", "an odd payload", ""};
	struct ap_dpdk_stats before, after;
	ap_dpdk_stats(dev, 0, &before);
	inject(f, (size_t)arp_request(f, SERVER_IP));
	inject(f, (size_t)arp_request(f, SERVER_IP + 7));
	inject(f, (size_t)udp_frame(f, sizeof(f), SERVER_IP, UDP_PORT, payloads[0], 4));
	inject(f, (size_t)udp_frame(f, sizeof(f), SERVER_IP + 1, UDP_PORT, "x", 1));
	inject(f, (size_t)udp_frame(f, sizeof(f), SERVER_IP, UDP_PORT, payloads[1], 14));
	inject(f, (size_t)udp_frame(f, sizeof(f), SERVER_IP, UDP_PORT + 1, "x", 1));
	for (int i = 0; i < 100; i++)
		f[i] = (uint8_t)(i * 37 + 11);
	inject(f, 100);                                    /* garbage: ethertype c7ec */
	int n = udp_frame(f, sizeof(f), SERVER_IP, UDP_PORT, "truncated payload", 17);
	inject(f, (size_t)n - 5);                          /* truncated */
	inject(f, 0);                                      /* empty */
	memcpy(g, f, 12);
	memcpy(g + 12, (const uint8_t[]){0x81, 0x00, 0x00, 0x07}, 4);
	memcpy(g + 16, f + 12, (size_t)n - 12);
	inject(g, (size_t)n + 4);                          /* VLAN 7 */
	inject(f, (size_t)udp_frame(f, sizeof(f), SERVER_IP, UDP_PORT, payloads[2], 0));
	f[40] ^= 0x40;                                     /* the same, checksum wrong */
	inject(f, 60);
	struct ap_dpdk_dgram dg[AP_DPDK_BURST];
	int nd = ap_dpdk_rx(q, dg, AP_DPDK_BURST);
	CHECK(nd == 3, "%d datagrams handed up", nd);
	for (int i = 0; i < nd; i++) {
		CHECK(dg[i].len == strlen(payloads[i]) && !memcmp(dg[i].payload, payloads[i], dg[i].len),
		      "datagram %d", i);
		CHECK(dg[i].peer.ip == CLIENT_IP && dg[i].peer.port == client.port &&
		      !memcmp(dg[i].peer.mac, client.mac, 6), "datagram %d's peer", i);
		CHECK(ap_dpdk_tx_prepare(q, &dg[i].peer, dg[i].payload, dg[i].len) == 0, "echo");
	}
	ap_dpdk_release(q, dg, nd);
	CHECK(ap_dpdk_tx_flush(q) == 4, "ARP reply and 3 echoes not all sent");
	ap_dpdk_stats(dev, 0, &after);
	uint64_t want[AP_PKT_NKINDS] = {[AP_PKT_UDP] = 3, [AP_PKT_ARP_REQUEST] = 1,
		[AP_PKT_ARP_OTHER] = 1, [AP_PKT_NOT_OURS] = 3, [AP_PKT_VLAN] = 1,
		[AP_PKT_MALFORMED] = 2, [AP_PKT_BAD_CSUM] = 1};
	for (int k = 0; k < AP_PKT_NKINDS; k++)
		CHECK(after.kinds[k] - before.kinds[k] == want[k], "%s: %llu", ap_pkt_kind_name(k),
		      (unsigned long long)(after.kinds[k] - before.kinds[k]));
	CHECK(after.rx_frames - before.rx_frames == 12, "rx frames");
	/* the ARP reply first (rx queued it), then the echoes in order */
	struct ap_pkt_peer cp = {.ip = CLIENT_IP};
	memcpy(cp.mac, client.mac, 6);
	n = take(f, sizeof(f));
	CHECK(n == ap_pkt_arp_reply(g, sizeof(g), &me, &cp) && !memcmp(f, g, 60), "ARP reply");
	for (int i = 0; i < 3; i++) {
		struct ap_pkt_info in;
		n = take(f, sizeof(f));
		CHECK(n > 0 && ap_pkt_parse(f, (size_t)n, &client, 0, &in) == AP_PKT_UDP, "echo %d", i);
		CHECK(in.payload_len == strlen(payloads[i]) &&
		      !memcmp(f + in.payload_off, payloads[i], in.payload_len), "echo %d payload", i);
		CHECK(in.peer.ip == SERVER_IP && in.peer.port == UDP_PORT, "echo %d source", i);
	}
	CHECK(take(f, sizeof(f)) < 0, "more sent than the ARP reply and the echoes");
}

/* A burst of datagrams (and every 64th time an ARP request and garbage). */
static int inject_burst(uint64_t burst, uint8_t (*tpl)[128], const int *tlen)
{
	struct rte_mbuf *ms[AP_DPDK_BURST];
	int extra = burst % 64 == 0 ? 2 : 0, n = AP_DPDK_BURST - extra;
	CHECK(rte_pktmbuf_alloc_bulk(ap_dpdk_mempool(dev), ms, AP_DPDK_BURST) == 0, "pool empty");
	for (int i = 0; i < AP_DPDK_BURST; i++) {
		int t = i < n ? (int)((burst + (uint64_t)i) % 8) : 8 + (i - n);
		memcpy(rte_pktmbuf_mtod(ms[i], uint8_t *), tpl[t], (size_t)tlen[t]);
		ms[i]->data_len = (uint16_t)tlen[t];
		ms[i]->pkt_len = (uint32_t)tlen[t];
	}
	CHECK(rte_ring_enqueue_bulk(rx_ring, (void **)ms, AP_DPDK_BURST, NULL) == AP_DPDK_BURST,
	      "receive ring full");
	return n;
}

static void volume(void)
{
	uint8_t tpl[10][128];
	int tlen[10];
	char p[64];
	for (int t = 0; t < 8; t++) {
		/* lengths 19 to 54, odd and even */
		int len = snprintf(p, sizeof(p), "datagram template %d%.*s", t, t * 5,
				   "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
		tlen[t] = udp_frame(tpl[t], sizeof(tpl[t]), SERVER_IP, UDP_PORT, p, (size_t)len);
	}
	tlen[8] = arp_request(tpl[8], SERVER_IP);
	tlen[9] = 77;
	memset(tpl[9], 0xa5, 77);
	struct ap_dpdk_dgram dg[AP_DPDK_BURST];
	void *out[AP_DPDK_BURST];
	uint64_t sent = 0, got = 0, echoed = 0, arp = 0, arp_want = 0, max_in_use = 0;
	for (uint64_t b = 0; sent < VOLUME; b++) {
		int want = inject_burst(b, tpl, tlen);
		arp_want += b % 64 == 0;
		sent += (uint64_t)want;
		int nd = ap_dpdk_rx(q, dg, AP_DPDK_BURST);
		CHECK(nd == want, "burst %llu: %d of %d datagrams", (unsigned long long)b, nd, want);
		for (int i = 0; i < nd; i++)
			CHECK(ap_dpdk_tx_prepare(q, &dg[i].peer, dg[i].payload, dg[i].len) == 0, "echo");
		got += (uint64_t)nd;
		ap_dpdk_release(q, dg, nd);
		ap_dpdk_tx_flush(q);
		unsigned k = rte_ring_dequeue_burst(tx_ring, out, AP_DPDK_BURST, NULL);
		for (unsigned i = 0; i < k; i++) {
			struct rte_mbuf *m = out[i];
			uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
			arp += f[12] == 0x08 && f[13] == 0x06;
			echoed += f[12] == 0x08 && f[13] == 0x00;
		}
		rte_pktmbuf_free_bulk((struct rte_mbuf **)out, k);
		uint64_t use = (uint64_t)ap_dpdk_mbufs_in_use(dev);
		max_in_use = use > max_in_use ? use : max_in_use;
	}
	CHECK(rte_ring_count(tx_ring) == 0, "replies left");
	CHECK(got == sent && echoed == sent, "%llu sent, %llu handed up, %llu echoed",
	      (unsigned long long)sent, (unsigned long long)got, (unsigned long long)echoed);
	CHECK(arp == arp_want, "%llu ARP replies of %llu", (unsigned long long)arp,
	      (unsigned long long)arp_want);
	CHECK(max_in_use <= AP_DPDK_BURST, "%llu mbufs in use between bursts",
	      (unsigned long long)max_in_use);
	printf("volume: %llu datagrams echoed, %llu ARP replies, at most %llu mbufs in use between "
	       "bursts (the queue's stash)\n", (unsigned long long)echoed, (unsigned long long)arp,
	       (unsigned long long)max_in_use);
}

/* Nobody reads the transmit ring: it fills, and the port's refusals are freed. */
static void full_tx_ring(void)
{
	struct ap_dpdk_stats before, after;
	struct ap_pkt_peer to = {.ip = CLIENT_IP, .port = 40000};
	memcpy(to.mac, client.mac, 6);
	ap_dpdk_stats(dev, 0, &before);
	int total = RING_SIZE + 1000;
	for (int i = 0; i < total; i++) {
		CHECK(ap_dpdk_tx_prepare(q, &to, "overflow", 8) == 0, "prepare %d", i);
		if (i % AP_DPDK_BURST == AP_DPDK_BURST - 1)
			ap_dpdk_tx_flush(q);
	}
	ap_dpdk_tx_flush(q);
	ap_dpdk_stats(dev, 0, &after);
	unsigned held = rte_ring_count(tx_ring);
	uint64_t dropped = after.tx_dropped - before.tx_dropped;
	CHECK(held == RING_SIZE - 1 && dropped == (uint64_t)total - held,
	      "%u in the ring, %llu dropped", held, (unsigned long long)dropped);
	CHECK((unsigned)ap_dpdk_mbufs_in_use(dev) <= held + AP_DPDK_BURST, "in use %d",
	      ap_dpdk_mbufs_in_use(dev));
	uint8_t f[2048];
	while (take(f, sizeof(f)) >= 0)
		;
	printf("full transmit ring: %u held, %llu refused, freed and counted\n", held,
	       (unsigned long long)dropped);
}

int main(void)
{
	int ret = start();
	if (ret)
		return ret;
	check_garp();
	int start_in_use = ap_dpdk_mbufs_in_use(dev);
	printf("mbufs in use at start: %d\n", start_in_use);
	mixed_burst();
	volume();
	full_tx_ring();
	uint8_t f[128];
	for (int i = 0; i < 10; i++)
		inject(f, (size_t)udp_frame(f, sizeof(f), SERVER_IP, UDP_PORT, "left", 4));
	int end_in_use = ap_dpdk_stop(dev);
	CHECK(rte_ring_count(rx_ring) == 0, "receive ring not drained");
	CHECK(rte_ring_count(tx_ring) == 0, "sent at stop");
	struct ap_dpdk_stats s;
	ap_dpdk_stats(dev, -1, &s);
	printf("mbufs in use after stop: %d (at start %d); rx %llu frames, %llu datagrams, "
	       "tx %llu frames, %llu dropped\n", end_in_use, start_in_use,
	       (unsigned long long)s.rx_frames, (unsigned long long)s.kinds[AP_PKT_UDP],
	       (unsigned long long)s.tx_frames, (unsigned long long)s.tx_dropped);
	CHECK(end_in_use == start_in_use, "%d mbufs in use after stop, %d at start", end_in_use,
	      start_in_use);
	ap_dpdk_destroy(dev);
	rte_ring_free(rx_ring);
	rte_ring_free(tx_ring);
	ap_dpdk_eal_cleanup();
	return 0;
}
