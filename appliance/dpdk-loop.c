/* The DPDK datagram transport of one worker (the turn and the ownership rules
 * are in dpdk-loop.h). Peer addresses travel through the session layer as the
 * 12 bytes of MAC, IPv4 address and UDP port, which is all a reply needs: the
 * answer goes back to the station it came from, without an ARP lookup. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "coinfer/clock.h"
#include "coinfer/errmsg.h"
#include "dpdk-loop.h"
#include "session.h"

#define TICK_NS 50000000ull   /* timeouts and silent peers, checked this often */
#define PUBLISH_NS 1000000ull /* counters for other threads: statistics off the fast path */
#define IDLE_TURNS 1024       /* empty polls in a row before the worker naps */
#define NAP_MIN_US 8u

struct idle {
	unsigned empty, nap_us;
};

struct ap_dpdk_loop {
	struct ap_dpdk_queue *q;
	struct ap_dg *g;
	uint64_t last_tick;
	struct ap_dpdk_dgram rx[AP_DPDK_BURST];
	uint64_t last_publish;
	struct ap_udp_snapshot pub;
};

static void addr_of(const struct ap_pkt_peer *p, struct ap_dg_addr *a)
{
	a->len = 12;
	memcpy(a->b, p->mac, 6);
	memcpy(a->b + 6, &p->ip, 4);
	memcpy(a->b + 10, &p->port, 2);
	a->host = (uint64_t)p->ip + 1; /* the limits per address count hosts, not ports */
}

static int send_cb(void *ctx, const struct ap_dg_addr *to, const uint8_t *head, size_t hlen,
		   const uint8_t *body, size_t blen)
{
	struct ap_dpdk_loop *l = ctx;
	struct ap_pkt_peer p;
	if (to->len != 12)
		return -EINVAL;
	memcpy(p.mac, to->b, 6);
	memcpy(&p.ip, to->b + 6, 4);
	memcpy(&p.port, to->b + 10, 2);
	return ap_dpdk_tx_prepare2(l->q, &p, head, hlen, body, blen);
}

int ap_dpdk_loop_create(struct ap_dpdk_queue *q, const struct ap_dg_config *dg,
			struct ap_dpdk_loop **out, char *err, size_t errlen)
{
	struct ap_dpdk_loop *l = calloc(1, sizeof(*l));
	struct ap_dg_config c = *dg;
	int r;
	if (!l)
		return cf_fail(-ENOMEM, err, errlen, "out of memory for a DPDK worker");
	l->q = q;
	c.ops = (struct ap_dg_ops){l, send_cb};
	if ((r = ap_dg_create(&c, &l->g, err, errlen))) {
		free(l);
		return r;
	}
	*out = l;
	return 0;
}

void ap_dpdk_loop_destroy(struct ap_dpdk_loop *l)
{
	if (!l)
		return;
	ap_dg_destroy(l->g);
	free(l);
}

struct ap_dg *ap_dpdk_loop_dg(struct ap_dpdk_loop *l)
{
	return l->g;
}

int ap_dpdk_loop_turn(struct ap_dpdk_loop *l, uint64_t now)
{
	struct ap_dg_addr a;
	int n = ap_dpdk_rx(l->q, l->rx, AP_DPDK_BURST);
	for (int i = 0; i < n; i++) {
		addr_of(&l->rx[i].peer, &a);
		ap_dg_input(l->g, &a, l->rx[i].payload, l->rx[i].len, now);
	}
	if (n)
		ap_dpdk_release(l->q, l->rx, n);
	ap_sess_run(ap_dg_sess(l->g));
	ap_dg_flush(l->g, now);
	ap_dpdk_tx_flush(l->q);
	if (now - l->last_tick >= TICK_NS) {
		l->last_tick = now;
		ap_dg_tick(l->g, now);
	}
	return n;
}

/* ---- the worker's loop, on its own thread -------------------------------- */

static void publish(struct ap_dpdk_loop *l)
{
	struct ap_dpdk_stats st;
	ap_dpdk_queue_stats(l->q, &st);
	const struct ap_udp_counts own = {.tx_dropped = st.tx_dropped + st.tx_nombuf +
						       st.tx_too_big};
	ap_udp_publish(&l->pub, l->g, &own);
}

void ap_dpdk_loop_stats(const struct ap_dpdk_loop *l, struct ap_udp_counts *out)
{
	ap_udp_snapshot_read(&l->pub, out);
}

/* A poll-mode worker owns its core; when its queue has been empty for a
 * while and nothing waits in the scheduler it naps, as DPDK's l3fwd-power
 * does, so an idle appliance leaves the core to others. The nap starts at
 * NAP_MIN_US and doubles while the queue stays empty, up to idle_us: a
 * datagram arriving after a lull of t waits at most about min(t, idle_us)
 * more; under load the worker never naps. idle_us 0 polls always. */
static void nap(const struct ap_dpdk_run *r, struct idle *z, int got, struct ap_sess *sess)
{
	if (got || ap_sess_queued(sess)) {
		z->empty = 0;
		z->nap_us = NAP_MIN_US;
		return;
	}
	if (!r->idle_us || ++z->empty < IDLE_TURNS)
		return;
	struct timespec ts = {0, (long)z->nap_us * 1000};
	nanosleep(&ts, NULL);
	z->nap_us = z->nap_us * 2 < r->idle_us ? z->nap_us * 2 : r->idle_us;
}

/* Stopping: queued requests and sessions are answered ERROR shutdown, and the
 * replies get drain_ms to leave; datagrams arriving meanwhile are still read. */
static void drain(struct ap_dpdk_loop *l, const struct ap_dpdk_run *r)
{
	struct ap_sess *sess = ap_dg_sess(l->g);
	ap_sess_stopping(sess);
	uint64_t until = cf_now_ns() + (uint64_t)r->drain_ms * 1000000ull;
	for (uint64_t now = cf_now_ns(); ap_sess_pending(sess) && now < until; now = cf_now_ns())
		ap_dpdk_loop_turn(l, now);
	ap_sess_close_all(sess);
	ap_dpdk_loop_turn(l, cf_now_ns());
	publish(l);
}

void ap_dpdk_loop_run(struct ap_dpdk_loop *l, const struct ap_dpdk_run *r)
{
	struct ap_sess *sess = ap_dg_sess(l->g);
	struct idle z = {0, NAP_MIN_US};
	/* naps as long as asked, not the default 50 us of timer slack more */
	prctl(PR_SET_TIMERSLACK, 1000ul, 0, 0, 0);
	l->last_tick = l->last_publish = cf_now_ns();
	while (!atomic_load_explicit(r->stop, memory_order_relaxed)) {
		uint64_t now = cf_now_ns();
		atomic_fetch_add_explicit(r->turns, 1, memory_order_relaxed);
		int got = ap_dpdk_loop_turn(l, now);
		if (now - l->last_publish >= PUBLISH_NS) {
			l->last_publish = now;
			publish(l);
			atomic_store_explicit(r->queued, (uint32_t)ap_sess_queued(sess),
					      memory_order_relaxed);
		}
		nap(r, &z, got, sess);
	}
	drain(l, r);
}

/* ---- the server's port ---------------------------------------------------- */

int ap_dpdk_server_open(const struct ap_server_config *cfg, struct ap_dpdk **out, char *err,
			size_t errlen)
{
	struct in_addr a;
	int have_args = cfg->dpdk_eal && *cfg->dpdk_eal, ret;
	if (inet_pton(AF_INET, cfg->host, &a) != 1 || !a.s_addr || a.s_addr == INADDR_BROADCAST)
		return cf_fail(-EINVAL, err, errlen, "DPDK answers ARP for host (--host): '%s' "
			       "is no unicast IPv4 address", cfg->host);
	if (!cfg->port)
		return cf_fail(-EINVAL, err, errlen, "DPDK has no free port to pick: give port "
			       "(--port) a number");
	if (have_args && ap_dpdk_eal_ready())
		return cf_fail(-EALREADY, err, errlen, "DPDK's EAL is already up in this process: "
			       "dpdk_eal (--dpdk-eal) cannot apply");
	if (!have_args && !ap_dpdk_eal_ready())
		return cf_fail(-EINVAL, err, errlen, "transport dpdk needs the EAL's arguments "
			       "(dpdk_eal, --dpdk-eal), e.g. \"--no-huge --no-pci -m 256 "
			       "--vdev=net_af_packet0,iface=eth1\"");
	if (have_args && (ret = ap_dpdk_eal_init(cfg->dpdk_eal, NULL, err, errlen)))
		return ret;
	const struct ap_dpdk_config dc = {.port = cfg->dpdk_port, .ip = ntohl(a.s_addr),
					  .udp_port = (uint16_t)cfg->port, .queues = cfg->workers,
					  .mbufs = (uint32_t)cfg->dpdk_mbufs};
	return ap_dpdk_open(&dc, out, err, errlen);
}

int ap_dpdk_worker_create(struct ap_dpdk *d, const struct ap_sess_config *sess,
			  struct ap_dpdk_loop **out, char *err, size_t errlen)
{
	struct ap_dg_config dc;
	struct ap_dpdk_queue *q = ap_dpdk_queue(d, sess->id);
	ap_dg_defaults(&dc, sess->cfg);
	dc.sess = *sess;
	dc.faults = sess->cfg->faults;
	size_t room = ap_dpdk_max_payload(d) - CW_DG_HEADER_BYTES;
	if (room < dc.max_payload)
		dc.max_payload = (uint32_t)room;
	return ap_dpdk_loop_create(q, &dc, out, err, errlen);
}
