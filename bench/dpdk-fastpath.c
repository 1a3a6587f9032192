/* coinfer-bench-appliance --dpdk-fastpath: the DPDK fast path alone on one core.
 * A port made of two rte_rings (net_ring: no NIC, no kernel) carries requests
 * from 64 emulated devices: each burst of one-fragment INFER datagrams is
 * written into the receive ring, then the appliance's DPDK worker turns
 * (appliance/dpdk-loop.c: receive, parse Ethernet/IPv4/UDP, decode and
 * reassemble the datagram, the answers cache, the session layer with the null
 * model, build and send the RESULT) until it has taken them all. Only those
 * turns are timed, in TSC cycles: the generator that writes frames and the
 * drain that frees the replies are outside, so cycles per packet are the
 * server's. eRPC (Kalia et al. 2019) is the bar: about 10 M small RPCs/s per
 * core. */
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coinfer/bytes.h"
#include "coinfer/clock.h"
#include "coinfer/codec-frame.h"
#include "coinfer/errmsg.h"
#include "coinfer/wire-dgram.h"
#include "dpdk-fastpath.h"
#include "dpdk-loop.h"

#define DEVICES 64
#define RING 4096
#define SERVER_IP 0x0a000001u /* 10.0.0.1: addresses inside the rings only */

struct fp {
	struct rte_ring *rx, *tx;
	struct ap_dpdk *d;
	struct ap_dpdk_queue *q;
	struct ap_dpdk_loop *l;
	struct rte_mempool *mp;
	struct ap_pkt_local dev[DEVICES];
	struct ap_pkt_peer server;
	uint64_t session[DEVICES];
	uint32_t msg_id[DEVICES];
	uint64_t next_id;
	uint8_t infer[2048];
	size_t infer_len;
	uint64_t replies, results;
};

/* One datagram payload from device i into the receive ring. */
static int inject(struct fp *f, int i, const uint8_t *dg, size_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(f->mp);
	if (!m)
		return -ENOBUFS;
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
	memcpy(p + AP_PKT_HDR_BYTES, dg, len);
	int n = ap_pkt_udp_build(p, rte_pktmbuf_tailroom(m), &f->dev[i], &f->server, len, 0);
	if (n < 0 || rte_ring_enqueue(f->rx, m)) {
		rte_pktmbuf_free(m);
		return -ENOBUFS;
	}
	m->data_len = (uint16_t)n;
	m->pkt_len = (uint32_t)n;
	return 0;
}

/* Message msg from device i as one datagram. */
static int send_msg(struct fp *f, int i, const uint8_t *msg, size_t len)
{
	uint8_t b[2048];
	size_t n;
	struct cw_dg d;
	if (cw_dg_data(&d, f->session[i], ++f->msg_id[i], msg, (uint32_t)len, 1, 0) ||
	    cw_dg_encode(b, sizeof(b), &d, &n, NULL, 0))
		return -EINVAL;
	return inject(f, i, b, n);
}

/* Frees what the appliance sent; a WELCOME names its device's session. */
static void drain(struct fp *f)
{
	void *ms[64];
	unsigned n;
	struct cw_dg_limits lim = {1 << 20, CW_DG_MAX_FRAGS};
	while ((n = rte_ring_dequeue_burst(f->tx, ms, 64, NULL)) > 0) {
		for (unsigned k = 0; k < n; k++) {
			struct rte_mbuf *m = ms[k];
			const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
			struct cw_dg d;
			f->replies++;
			if (m->data_len > AP_PKT_HDR_BYTES &&
			    !cw_dg_decode(p + AP_PKT_HDR_BYTES, m->data_len - AP_PKT_HDR_BYTES,
					  &lim, &d, NULL, 0) &&
			    d.kind == CW_DG_DATA && d.payload_len > CW_HEADER_BYTES + 8) {
				int dev = (int)(((unsigned)p[36] << 8 | p[37]) - 40000);
				f->results += d.payload[5] == CW_RESULT;
				if (d.payload[5] == CW_WELCOME && dev >= 0 && dev < DEVICES)
					f->session[dev] = le_rd64(d.payload + CW_HEADER_BYTES);
			}
			rte_pktmbuf_free(m);
		}
	}
}

/* The smallest tensor the model sends between layers: the one-fragment
 * request of the fast path (raw16, 8-bit-free, so any size fits its bytes). */
static int small_infer(struct fp *f, const struct cr_model *m, cJSON *o)
{
	int be, bp;
	static float x[4096];
	uint32_t n = (uint32_t)cr_model_smallest_boundary(m, &be, &bp);
	size_t flen;
	if (n > sizeof(x) / sizeof(x[0]))
		return -EMSGSIZE;
	for (uint32_t i = 0; i < n; i++)
		x[i] = (float)(i % 13) / 13.0f;
	if (cc_frame_encode(x, 1, &n, CC_CODEC_RAW16, 0, 0, f->infer + CW_INFER_PREFIX_BYTES,
			    sizeof(f->infer) - CW_INFER_PREFIX_BYTES, &flen, NULL, 0))
		return -EINVAL;
	struct cw_infer in = {.request_id = 1, .deadline_us = 1000000, .frame_len = flen,
			      .action = {.exit = be, .partition = bp, .bits = 0}};
	if (cw_encode_infer_header(f->infer, sizeof(f->infer), &in, &f->infer_len, NULL, 0))
		return -EINVAL;
	cJSON_AddNumberToObject(o, "request_exit", be + 1);
	cJSON_AddNumberToObject(o, "request_partition", bp);
	cJSON_AddNumberToObject(o, "request_tensor_floats", n);
	cJSON_AddNumberToObject(o, "request_datagram_bytes",
				(double)(f->infer_len + CW_DG_HEADER_BYTES));
	return 0;
}

/* HELLO from every device; their WELCOMEs name the sessions. */
static int hello_all(struct fp *f, const struct cr_model *m)
{
	uint8_t b[256];
	size_t len;
	for (int i = 0; i < DEVICES; i++) {
		struct cw_hello h = {.device_id = (uint64_t)i + 1, .model_checksum = m->checksum,
				     .max_inflight = 64};
		snprintf(h.device_class, sizeof(h.device_class), "bench");
		snprintf(h.model, sizeof(h.model), "%s", m->name);
		if (cw_encode_hello(b, sizeof(b), &h, &len, NULL, 0) || send_msg(f, i, b, len))
			return -EINVAL;
		ap_dpdk_loop_turn(f->l, cf_now_ns());
		drain(f);
		if (!f->session[i])
			return -ENOTCONN;
	}
	return 0;
}

/* A burst of requests, one per device in turn, each with ids of its own. */
static int burst(struct fp *f, int n)
{
	for (int k = 0; k < n; k++) {
		int i = (int)(f->next_id % DEVICES);
		le_wr64(f->infer + CW_HEADER_BYTES, ++f->next_id);
		if (send_msg(f, i, f->infer, f->infer_len))
			return -ENOBUFS;
	}
	return 0;
}

static int port_up(struct fp *f, char *err, size_t errlen)
{
	char args[256];
	int r;
	snprintf(args, sizeof(args), "-l 0 --no-huge --no-pci -m 512 --no-shconf --no-telemetry "
		 "--log-level=error --file-prefix=cf-bench-fastpath-%d", (int)getpid());
	if ((r = ap_dpdk_eal_init(args, NULL, err, errlen)))
		return r;
	f->rx = rte_ring_create("cf_fp_rx", RING, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	f->tx = rte_ring_create("cf_fp_tx", RING, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (!f->rx || !f->tx || rte_eth_from_rings("cffp", &f->rx, 1, &f->tx, 1, SOCKET_ID_ANY) < 0)
		return cf_fail(-ENODEV, err, errlen, "a port of rings: %s",
			       rte_strerror(rte_errno));
	struct ap_dpdk_config c = {.port = "net_ring_cffp", .ip = SERVER_IP,
				   .udp_port = CW_DEFAULT_PORT, .queues = 1, .mbufs = 16384};
	if ((r = ap_dpdk_open(&c, &f->d, err, errlen)))
		return r;
	struct ap_pkt_local me;
	f->q = ap_dpdk_queue(f->d, 0);
	f->mp = ap_dpdk_mempool(f->d);
	ap_dpdk_local(f->d, &me);
	memcpy(f->server.mac, me.mac, 6);
	f->server.ip = me.ip;
	f->server.port = me.port;
	for (int i = 0; i < DEVICES; i++) {
		struct ap_pkt_local d = {{0x02, 0, 0, 0, 0, (uint8_t)i}, SERVER_IP + 1 + (uint32_t)i,
					 (uint16_t)(40000 + i)};
		f->dev[i] = d;
	}
	return 0;
}

/* The appliance's side: the null model, batches run as soon as they are queued. */
static int worker_up(struct fp *f, const struct cr_model *m, struct ap_server_config *cfg,
		     const _Atomic int *stop, char *err, size_t errlen)
{
	struct ap_dg_config dg;
	ap_server_defaults(cfg);
	cfg->null_model = 1;
	cfg->max_delay_us = 0;
	cfg->max_conns = 2 * DEVICES;
	cfg->calibrate_runs = 0;
	cfg->quiet = 1;
	ap_dg_defaults(&dg, cfg);
	dg.sess = (struct ap_sess_config){.cfg = cfg, .model = m, .stop = stop};
	return ap_dpdk_loop_create(f->q, &dg, &f->l, err, errlen);
}

/* requests in bursts; only the worker's turns are timed. Each burst's cycles
 * go to per_burst (when given, room for requests / AP_DPDK_BURST): the host is
 * shared, and a burst the scheduler preempted counts in the mean but not in
 * the median. */
static uint64_t timed(struct fp *f, uint64_t requests, uint64_t *per_burst)
{
	uint64_t cyc = 0, b = 0;
	for (uint64_t done = 0; done + AP_DPDK_BURST <= requests; done += AP_DPDK_BURST) {
		if (burst(f, AP_DPDK_BURST))
			break;
		uint64_t t0 = rte_rdtsc();
		for (int got = 0; got < AP_DPDK_BURST;)
			got += ap_dpdk_loop_turn(f->l, cf_now_ns());
		uint64_t c = rte_rdtsc() - t0;
		cyc += c;
		if (per_burst)
			per_burst[b++] = c;
		drain(f);
	}
	return cyc;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* The median and the fastest burst's cycles per request. */
static void burst_spread(cJSON *o, uint64_t *per_burst, uint64_t n)
{
	if (!n)
		return;
	qsort(per_burst, n, sizeof(*per_burst), cmp_u64);
	cJSON_AddNumberToObject(o, "cycles_per_packet_median_burst",
				(double)per_burst[n / 2] / AP_DPDK_BURST);
	cJSON_AddNumberToObject(o, "cycles_per_packet_best_burst",
				(double)per_burst[0] / AP_DPDK_BURST);
}

cJSON *ab_dpdk_fastpath(const struct cr_model *m, uint64_t requests)
{
	static struct fp f;
	static _Atomic int stop;
	struct ap_server_config cfg;
	char err[512] = "";
	cJSON *o = cJSON_CreateObject();
	if (port_up(&f, err, sizeof(err)) || worker_up(&f, m, &cfg, &stop, err, sizeof(err)) ||
	    small_infer(&f, m, o) || hello_all(&f, m)) {
		cJSON_AddStringToObject(o, "skipped", *err ? err : "set-up failed");
		return o;
	}
	drain(&f);
	timed(&f, requests / 10, NULL); /* warm the caches and the answers ring */
	uint64_t results0 = f.results, replies0 = f.replies;
	const struct ap_stats *st = ap_sess_stats(ap_dg_sess(ap_dpdk_loop_dg(f.l)));
	uint64_t run0 = atomic_load(&st->requests);
	requests -= requests % AP_DPDK_BURST;
	uint64_t *per_burst = calloc(requests / AP_DPDK_BURST + 1, sizeof(*per_burst));
	uint64_t cyc = timed(&f, requests, per_burst);
	double cpp = (double)cyc / (double)requests, hz = (double)rte_get_tsc_hz();
	cJSON_AddStringToObject(o, "port", "net_ring (two rte_rings), one queue, one core");
	cJSON_AddNumberToObject(o, "requests", (double)requests);
	cJSON_AddNumberToObject(o, "answered", (double)(f.results - results0));
	cJSON_AddNumberToObject(o, "run_by_the_session",
				(double)(atomic_load(&st->requests) - run0));
	/* a one-fragment request is ACKed at once, then answered: two frames */
	cJSON_AddNumberToObject(o, "frames_out_per_request",
				(double)(f.replies - replies0) / (double)requests);
	cJSON_AddNumberToObject(o, "cycles_per_packet", cpp);
	cJSON_AddNumberToObject(o, "tsc_hz", hz);
	cJSON_AddNumberToObject(o, "mpps_per_core", hz / cpp / 1e6);
	if (per_burst)
		burst_spread(o, per_burst, requests / AP_DPDK_BURST);
	free(per_burst);
	ap_dpdk_loop_destroy(f.l);
	cJSON_AddNumberToObject(o, "mbufs_in_use_after_stop", ap_dpdk_stop(f.d));
	ap_dpdk_destroy(f.d);
	return o;
}
