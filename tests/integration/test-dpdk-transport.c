/* The appliance's DPDK transport end to end, in process: ap_server_start with
 * transport dpdk on a port made of two rte_rings (rte_eth_from_rings), its
 * worker thread polling the port while this thread plays 64 devices: HELLO,
 * then 1,000,000 one-fragment INFER datagrams (null model), at most WINDOW
 * outstanding per device, each with an id of its own; every 4th round of the
 * load a hostile burst from a random device's address rides along (garbage, a
 * spoofed session id, a fragment of a message that never completes, a
 * fragment lying about its count, a wrong checksum). Every frame the test
 * writes comes from the appliance's own mempool, so the pool's in-use count
 * covers both sides.
 *
 * Passes when every request got exactly one RESULT, the session ran each once
 * (no copy, no busy), every hostile datagram was counted as what it was with
 * the reassembly memory within its bound, and after ap_server_stop_report
 * every mbuf out of the pool is one the "wire" holds: a port of rings hands a
 * sent frame to its transmit ring, which this test reads, and the stop's drain
 * sends each of the 64 sessions an ERROR shutdown that nobody reads before
 * the pool's count (a NIC's driver would have freed them once sent). So the
 * count at stop must equal the frames left on the transmit ring, 64, with
 * none held anywhere in the appliance. The in-use counts are printed. Exits 77 when the EAL cannot
 * start here. Waits are bounded by counts of polls, never by time. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <unistd.h>

#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "coinfer/bytes.h"
#include "coinfer/codec-frame.h"
#include "coinfer/model.h"
#include "coinfer/wire-dgram.h"
#include "dgram.h"
#include "dpdk.h"
#include "pkt.h"
#include "server.h"
#include "udp.h"

#define CHECK(c, ...)                                                                      \
	do {                                                                                \
		if (!(c)) {                                                                 \
			fprintf(stderr, "test-dpdk-transport:%d: %s: ", __LINE__, #c);      \
			fprintf(stderr, __VA_ARGS__);                                       \
			fputc('\n', stderr);                                                \
			exit(1);                                                            \
		}                                                                           \
	} while (0)

#define VOLUME 1000000
#define DEVICES 64
#define WINDOW 8               /* requests outstanding per device */
#define RING_SIZE 4096
#define HOSTILE_EVERY 4        /* load rounds between hostile bursts */
#define STALL_POLLS 20000000ul /* empty polls in a row, each yielding the core: the
				* appliance stopped answering */
#define SERVER_IP "10.88.0.1"
#define SERVER_IP_H 0x0a580001u
#define UDP_PORT 7879

static struct rte_ring *rx_ring, *tx_ring;
static struct rte_mempool *pool;
static struct ap_pkt_peer server;
static struct ap_pkt_local dev[DEVICES];
static uint64_t session[DEVICES], next_id[DEVICES];
static uint32_t msg_id[DEVICES];
static int outstanding[DEVICES];
static uint8_t infer[2048];
static size_t infer_len;
static uint64_t results, acks, others;

/* A UDP payload from device i into the port's receive ring; its UDP checksum
 * broken when bad_csum. */
static int inject(int i, const uint8_t *payload, size_t n, int bad_csum)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	if (!m)
		return -ENOBUFS;
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
	memcpy(p + AP_PKT_HDR_BYTES, payload, n);
	int f = ap_pkt_udp_build(p, rte_pktmbuf_tailroom(m), &dev[i], &server, n, 0);
	CHECK(f > 0, "frame");
	p[40] ^= (uint8_t)(bad_csum ? 0x5a : 0);
	m->data_len = (uint16_t)f;
	m->pkt_len = (uint32_t)f;
	if (rte_ring_enqueue(rx_ring, m)) {
		rte_pktmbuf_free(m);
		return -ENOBUFS;
	}
	return 0;
}

static int send_dg(int i, const struct cw_dg *d)
{
	uint8_t b[2048];
	size_t n;
	CHECK(!cw_dg_encode(b, sizeof(b), d, &n, NULL, 0), "datagram");
	return inject(i, b, n, 0);
}

/* Message msg from device i, one datagram. */
static int send_msg(int i, const uint8_t *msg, size_t len)
{
	struct cw_dg d;
	CHECK(!cw_dg_data(&d, session[i], ++msg_id[i], msg, (uint32_t)len, 1, 0), "%zu bytes",
	      len);
	return send_dg(i, &d);
}

/* ---- what an attacker or a broken network sends alongside ------------------ */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
	return rng;
}

static uint64_t garbage, spoofed, partial, lying, bad_csums;

/* One hostile datagram of each kind, from device i's address: garbage bytes,
 * a DATA naming a session nobody has, the first fragment of a message of 8
 * that never completes (it holds reassembly memory until its timeout), a
 * second fragment of such a message lying about the count, a frame with a
 * wrong UDP checksum. */
static void hostile(int i)
{
	static uint8_t junk[1448], big[8 * 1448];
	struct cw_dg d;
	for (size_t k = 0; k < sizeof(junk); k += 8)
		memcpy(junk + k, &(uint64_t){next_rand()}, 8);
	garbage += !inject(i, junk, 24 + next_rand() % 1400, 0);
	CHECK(!cw_dg_data(&d, next_rand() | 1, 1, junk, 600, 1, 0), "spoof");
	spoofed += !send_dg(i, &d);
	uint32_t id = ++msg_id[i];
	CHECK(!cw_dg_data(&d, session[i], id, big, sizeof(big), 8, 0), "fragment");
	partial += !send_dg(i, &d);
	CHECK(!cw_dg_data(&d, session[i], id, big, sizeof(big) - 1448, 7, 1), "lying fragment");
	lying += !send_dg(i, &d);
	CHECK(!cw_dg_data(&d, session[i], ++msg_id[i], infer, (uint32_t)infer_len, 1, 0), "csum");
	uint8_t b[2048];
	size_t n;
	CHECK(!cw_dg_encode(b, sizeof(b), &d, &n, NULL, 0), "datagram");
	bad_csums += !inject(i, b, n, 1);
}

/* One reply frame: a WELCOME names its device's session, a RESULT ends one
 * of its requests. */
static void reply(const uint8_t *p, size_t len)
{
	struct cw_dg_limits lim = {1 << 20, CW_DG_MAX_FRAGS};
	struct cw_dg d;
	if (len >= 42 && p[12] == 0x08 && p[13] == 0x06) {
		memcpy(server.mac, p + 6, 6); /* the gratuitous ARP: where the appliance is */
		others++;
		return;
	}
	CHECK(len > AP_PKT_HDR_BYTES && p[23] == 17 &&
		      !cw_dg_decode(p + AP_PKT_HDR_BYTES, len - AP_PKT_HDR_BYTES, &lim, &d, NULL, 0),
	      "a frame of %zu bytes that is no datagram", len);
	int i = (int)(((unsigned)p[36] << 8 | p[37]) - 40000);
	CHECK(i >= 0 && i < DEVICES, "a reply to port %d", i + 40000);
	if (d.kind != CW_DG_DATA || d.payload_len < CW_HEADER_BYTES + 8) {
		acks++;
		return;
	}
	if (d.payload[5] == CW_WELCOME)
		session[i] = le_rd64(d.payload + CW_HEADER_BYTES);
	CHECK(d.payload[5] == CW_WELCOME || d.payload[5] == CW_RESULT,
	      "device %d got message type %u, not RESULT", i, d.payload[5]);
	if (d.payload[5] == CW_RESULT) {
		CHECK(outstanding[i] > 0, "a RESULT for device %d with nothing outstanding", i);
		outstanding[i]--;
		results++;
	}
}

/* What the appliance sent, read and freed: how many frames. */
static unsigned drain(void)
{
	void *ms[64];
	unsigned n, all = 0;
	while ((n = rte_ring_dequeue_burst(tx_ring, ms, 64, NULL)) > 0) {
		for (unsigned k = 0; k < n; k++) {
			struct rte_mbuf *m = ms[k];
			reply(rte_pktmbuf_mtod(m, const uint8_t *), m->data_len);
			rte_pktmbuf_free(m);
		}
		all += n;
	}
	return all;
}

/* The smallest tensor between layers, as raw16: a one-fragment request. */
static void small_infer(const struct cr_model *m)
{
	int be, bp;
	static float x[4096];
	size_t flen;
	uint32_t n = (uint32_t)cr_model_smallest_boundary(m, &be, &bp);
	CHECK(n <= 4096, "%u floats", n);
	for (uint32_t i = 0; i < n; i++)
		x[i] = (float)(i % 13) / 13.0f;
	CHECK(!cc_frame_encode(x, 1, &n, CC_CODEC_RAW16, 0, 0, infer + CW_INFER_PREFIX_BYTES,
			       sizeof(infer) - CW_INFER_PREFIX_BYTES, &flen, NULL, 0), "frame");
	struct cw_infer in = {.request_id = 1, .deadline_us = 10000000, .frame_len = flen,
			      .action = {.exit = be, .partition = bp, .bits = 0}};
	CHECK(!cw_encode_infer_header(infer, sizeof(infer), &in, &infer_len, NULL, 0), "INFER");
	CHECK(infer_len + CW_DG_HEADER_BYTES <= CW_DG_DEFAULT_PAYLOAD, "%zu bytes", infer_len);
}

static int eal_and_port(void)
{
	char args[256], err[512];
	snprintf(args, sizeof(args), "-l 0 --no-huge --no-pci -m 256 --no-shconf --no-telemetry "
		 "--log-level=error --file-prefix=cf-dpdk-transport-%d", (int)getpid());
	if (ap_dpdk_eal_init(args, NULL, err, sizeof(err))) {
		printf("test-dpdk-transport: skipped: %s\n", err);
		return 77;
	}
	unsigned flags = RING_F_SP_ENQ | RING_F_SC_DEQ;
	rx_ring = rte_ring_create("cf_dt_rx", RING_SIZE, SOCKET_ID_ANY, flags);
	tx_ring = rte_ring_create("cf_dt_tx", RING_SIZE, SOCKET_ID_ANY, flags);
	CHECK(rx_ring && tx_ring, "rings: %s", rte_strerror(rte_errno));
	CHECK(rte_eth_from_rings("cfdt", &rx_ring, 1, &tx_ring, 1, SOCKET_ID_ANY) >= 0, "port: %s",
	      rte_strerror(rte_errno));
	for (int i = 0; i < DEVICES; i++)
		dev[i] = (struct ap_pkt_local){{0x02, 0, 0, 0, 1, (uint8_t)i},
					       SERVER_IP_H + 1 + (uint32_t)i, (uint16_t)(40000 + i)};
	return 0;
}

static struct ap_server_config cfg;

static struct ap_server *start(const struct cr_model *m)
{
	struct ap_server *s;
	char err[512];
	uint16_t port;
	ap_server_defaults(&cfg);
	cfg.transport = AP_TRANSPORT_DPDK;
	cfg.host = SERVER_IP;
	cfg.port = UDP_PORT;
	cfg.workers = 1;
	cfg.null_model = 1;
	cfg.max_delay_us = 0;
	cfg.calibrate_runs = 0;
	cfg.quiet = 1;
	cfg.dpdk_port = "net_ring_cfdt";
	CHECK(!ap_server_start(&cfg, m, &s, err, sizeof(err)), "%s", err);
	CHECK(!rte_eth_dev_get_port_by_name("net_ring_cfdt", &port), "no port");
	char name[RTE_MEMPOOL_NAMESIZE];
	snprintf(name, sizeof(name), "cf_mbufs_%u", port);
	CHECK((pool = rte_mempool_lookup(name)), "the appliance's pool %s", name);
	server.ip = SERVER_IP_H;
	server.port = UDP_PORT;
	drain();
	CHECK(others == 1, "no gratuitous ARP at start");
	return s;
}

static void hello_all(const struct cr_model *m)
{
	uint8_t b[256];
	size_t len;
	for (int i = 0; i < DEVICES; i++) {
		struct cw_hello h = {.device_id = (uint64_t)i + 1, .model_checksum = m->checksum,
				     .max_inflight = WINDOW};
		snprintf(h.device_class, sizeof(h.device_class), "test");
		snprintf(h.model, sizeof(h.model), "%s", m->name);
		CHECK(!cw_encode_hello(b, sizeof(b), &h, &len, NULL, 0), "HELLO");
		CHECK(!send_msg(i, b, len), "HELLO %d", i);
	}
	for (unsigned long polls = 0; polls < STALL_POLLS; polls++) {
		if (!drain())
			sched_yield();
		int all = 1;
		for (int i = 0; i < DEVICES && all; i++)
			all = session[i] != 0;
		if (all)
			return;
	}
	CHECK(0, "not every device was welcomed");
}

/* Keeps every device's window full until VOLUME requests are answered, with
 * hostile datagrams from a random device's address every HOSTILE_EVERY rounds. */
static void load(void)
{
	uint64_t sent = 0, round = 0;
	unsigned long idle = 0;
	while (results < VOLUME) {
		if (++round % HOSTILE_EVERY == 0)
			hostile((int)(next_rand() % DEVICES));
		for (int i = 0; i < DEVICES && sent < VOLUME; i++)
			while (outstanding[i] < WINDOW && sent < VOLUME) {
				le_wr64(infer + CW_HEADER_BYTES, ++next_id[i]);
				if (send_msg(i, infer, infer_len))
					break; /* the ring or the pool is full: drain first */
				outstanding[i]++;
				sent++;
			}
		idle = drain() ? 0 : idle + 1;
		if (idle)
			sched_yield(); /* the worker may share this core */
		CHECK(idle < STALL_POLLS, "no reply: %llu answered of %llu sent",
		      (unsigned long long)results, (unsigned long long)sent);
	}
}

int main(void)
{
	struct cr_model *m;
	char err[256];
	int r = eal_and_port();
	if (r)
		return r;
	CHECK(!cr_model_load(COINFER_SOURCE_ROOT "/models/branchy-alexnet.cfm", &m, err,
			     sizeof(err)), "%s", err);
	small_infer(m);
	struct ap_server *s = start(m);
	printf("mbufs in use after start: %u\n",
	       rte_mempool_in_use_count(pool));
	hello_all(m);
	load();
	struct ap_stats st;
	struct ap_udp_counts dg;
	ap_server_stats(s, &st);
	/* the worker publishes its counters every millisecond: until they show the
	 * last datagrams sent (a count of polls bounds the wait) */
	for (unsigned long polls = 0; polls < STALL_POLLS; polls++) {
		ap_server_udp_stats(s, &dg);
		if (dg.datagrams >= VOLUME + DEVICES + 4 * garbage)
			break;
		sched_yield();
	}
	struct ap_stop_report rep;
	drain();
	unsigned before = rte_mempool_in_use_count(pool);
	CHECK(!ap_server_stop_report(s, &rep), "stop");
	/* the pool is gone with the port: what is left on the ring is not freed */
	unsigned wire = rte_ring_count(tx_ring);
	rte_ring_reset(tx_ring);
	printf("mbufs in use before the stop: %u; at stop: %d, of them on the transmit ring: %u\n",
	       before, rep.mbufs_in_use, wire);
	printf("%llu requests, %llu RESULTs, %llu run by the session, %llu copies answered, "
	       "%llu busy, %llu ACKs; port rx %llu, tx %llu, dropped %llu; mbufs in use after stop: %d\n",
	       (unsigned long long)VOLUME, (unsigned long long)results,
	       (unsigned long long)st.requests, (unsigned long long)dg.copies_answered,
	       (unsigned long long)(st.busy + dg.busy), (unsigned long long)acks,
	       (unsigned long long)rep.rx_frames,
	       (unsigned long long)rep.tx_frames, (unsigned long long)rep.tx_dropped,
	       rep.mbufs_in_use);
	CHECK(results == VOLUME, "%llu RESULTs", (unsigned long long)results);
	CHECK(st.requests == VOLUME && st.results == VOLUME, "the session ran %llu, answered %llu",
	      (unsigned long long)st.requests, (unsigned long long)st.results);
	CHECK(dg.copies_answered == 0 && dg.copies_running == 0 && st.busy == 0 && dg.busy == 0,
	      "copies or busy");
	printf("hostile: %llu garbage, %llu spoofed sessions, %llu fragments never completed, "
	       "%llu lying counts, %llu bad checksums; the appliance counted %llu malformed, "
	       "%llu unknown sessions, %llu inconsistent, %llu reassembly timeouts, %llu refused, "
	       "%llu frames not ours; reassembly bytes in use at the end %llu\n",
	       (unsigned long long)garbage, (unsigned long long)spoofed,
	       (unsigned long long)partial, (unsigned long long)lying,
	       (unsigned long long)bad_csums, (unsigned long long)dg.malformed,
	       (unsigned long long)dg.unknown_session, (unsigned long long)dg.reasm_inconsistent,
	       (unsigned long long)dg.reasm_timeouts, (unsigned long long)dg.reasm_refused,
	       (unsigned long long)rep.not_ours, (unsigned long long)dg.reasm_bytes_in_use);
	CHECK(dg.unknown_session >= spoofed && dg.malformed + dg.unknown_session >= garbage + spoofed,
	      "hostile datagrams not counted");
	struct ap_dg_config dc;
	ap_dg_defaults(&dc, &cfg);
	CHECK(dg.reasm_bytes_in_use <= dc.reasm_bytes, "reassembly holds %llu bytes, above %zu",
	      (unsigned long long)dg.reasm_bytes_in_use, dc.reasm_bytes);
	CHECK(dg.reasm_inconsistent + dg.reasm_refused >= lying && rep.not_ours >= bad_csums,
	      "lying fragments or bad checksums not counted");
	CHECK(rep.dpdk && wire == DEVICES, "%u frames sent at stop, not one per device", wire);
	CHECK(rep.mbufs_in_use == (int)wire, "%d mbufs in use at stop, %u of them on the ring",
	      rep.mbufs_in_use, wire);
	cr_model_free(m);
	ap_dpdk_eal_cleanup();
	return 0;
}
