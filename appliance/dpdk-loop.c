/* The DPDK datagram transport of one worker (the turn and the ownership rules
 * are in dpdk-loop.h). Peer addresses travel through the session layer as the
 * 12 bytes of MAC, IPv4 address and UDP port, which is all a reply needs: the
 * answer goes back to the station it came from, without an ARP lookup. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coinfer/errmsg.h"
#include "dpdk-loop.h"

#define TICK_NS 50000000ull /* timeouts and silent peers, checked this often */

struct ap_dpdk_loop {
	struct ap_dpdk_queue *q;
	struct ap_dg *g;
	uint64_t last_tick;
	struct ap_dpdk_dgram rx[AP_DPDK_BURST];
};

static void addr_of(const struct ap_pkt_peer *p, struct ap_dg_addr *a)
{
	a->len = 12;
	memcpy(a->b, p->mac, 6);
	memcpy(a->b + 6, &p->ip, 4);
	memcpy(a->b + 10, &p->port, 2);
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
