/* The appliance's io_uring UDP transport (design in udp.h; the datagrams'
 * meaning is dgram.c's, the protocol's the session layer's).
 *
 * Receive: one multishot recvmsg per worker picking buffers from a provided
 * buffer ring; each completion is one datagram with its sender's address in
 * front (struct io_uring_recvmsg_out). It is re-armed at the end of the turn
 * when it ends (-ENOBUFS: the ring ran dry; or any completion without
 * IORING_CQE_F_MORE). Where the kernel has no multishot recvmsg or buffer
 * rings (before 6.0), or no_buf_ring asks for it, a fixed set of single-shot
 * recvmsg, each into its own buffer, re-armed per completion.
 *
 * Send: ops->send copies the datagram into a free tx slot and queues its
 * SENDMSG; everything queued in a turn goes in the turn's one submission. A
 * datagram finding no free slot is dropped and counted: the agent retransmits,
 * and a copy of a request is answered from the answers cache (rcache.h).
 *
 * A loop turn, as DPDK's l2fwd: handle the completions (ap_dg_input per
 * datagram), run the batches that are due, flush the replies into datagrams,
 * tick every TICK_NS (reassembly timeouts, silent peers, a reordered reply held
 * back), re-arm, publish the counters, then submit and wait in one call until
 * a completion, the scheduler's due time or the tick. Nothing allocates, locks
 * or makes a system call per datagram.
 *
 * Ownership of what is reused here:
 *   - ring receive buffers: the kernel's from being given to the ring until a
 *     completion names one (IORING_CQE_F_BUFFER); ours while that completion
 *     is handled, in which ap_dg_input reads it and keeps nothing of it (a
 *     one-fragment message is used within the call: dgram.h); then back to
 *     the ring, published to the kernel once per turn (one tail store).
 *   - fallback receive slots (buffer, msghdr, iovec, address): the kernel's
 *     while the slot's recvmsg is in flight; ours while its completion is
 *     handled; re-armed at once, or at the end of the turn without an entry.
 *   - tx slots (buffer, msghdr, iovec, address): on the free stack; taken and
 *     filled by udp_send; the kernel's from the submit to the completion,
 *     never touched in between; back on the free stack at the completion.
 *   - at stop: the sends get drain_ms to complete, then every operation still
 *     in flight is cancelled and reaped before any of this memory is freed. */
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "coinfer/clock.h"
#include "coinfer/errmsg.h"
#include "dgram.h"
#include "session.h"
#include "udp.h"

enum { OP_RECV_MS = 1, OP_RECV = 2, OP_SEND = 3, OP_CANCEL = 4 };
#define UD(op, idx) ((uint64_t)(op) << 56 | (uint32_t)(idx))
#define UD_OP(u) ((int)((u) >> 56))
#define UD_IDX(u) ((int)((u) & 0xFFFFFFFFu))
#define BGID 2
#define TX_BYTES (CW_DG_HEADER_BYTES + CW_DG_DEFAULT_PAYLOAD)
#define TICK_NS 50000000ull     /* ap_dg_tick: timeouts are hundreds of ms */
#define MAX_WAIT_NS 100000000ull /* the stop flag is seen 10 times a second */
/* Completions handled per turn at most: a flood cannot hold a turn, so batches
 * run and replies leave on time; the rest waits for the next turn. */
#define TURN_CQES 1024

struct tx_slot {
	struct msghdr mh;
	struct iovec iov;
	uint8_t to[AP_DG_ADDR_MAX];
	uint8_t buf[TX_BYTES];
};

struct rx_slot {
	struct msghdr mh;
	struct iovec iov;
	struct sockaddr_in from;
	int busy;
};

struct ap_udp {
	struct ap_udp_config c;
	int fd, port, use_ring, ring_ok, stopping;
	struct io_uring ring;
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	int n_rx, rx_bytes, recycled, rx_armed, rx_busy;
	uint8_t *rx_mem;
	struct msghdr ms_hdr; /* what the multishot recvmsg asks for: the sender's address */
	struct rx_slot *rx;   /* fallback */
	struct tx_slot *tx;
	int *tx_free, n_tx, n_tx_free;
	struct ap_dg *g;
	struct ap_sess *sess;
	uint64_t now, next_tick;
	struct ap_udp_counts own; /* the transport's own counters (the rest are g's) */
	struct ap_udp_snapshot pub;
};

/* ---- send ---------------------------------------------------------------- */

static int udp_send(void *ctx, const struct ap_dg_addr *to, const uint8_t *head, size_t hlen,
		    const uint8_t *body, size_t blen)
{
	struct ap_udp *u = ctx;
	struct io_uring_sqe *sqe;
	if (hlen + blen > TX_BYTES || !u->n_tx_free || !(sqe = ap_sqe_get(&u->ring))) {
		u->own.tx_dropped++;
		return -ENOBUFS;
	}
	int k = u->tx_free[--u->n_tx_free];
	struct tx_slot *t = &u->tx[k];
	memcpy(t->buf, head, hlen);
	if (blen)
		memcpy(t->buf + hlen, body, blen);
	memcpy(t->to, to->b, to->len);
	t->iov.iov_len = hlen + blen;
	t->mh.msg_namelen = to->len;
	io_uring_prep_sendmsg(sqe, u->fd, &t->mh, 0);
	io_uring_sqe_set_data64(sqe, UD(OP_SEND, k));
	return 0;
}

static void on_send(struct ap_udp *u, int k, int res)
{
	if (k < 0 || k >= u->n_tx)
		return;
	u->own.tx_failed += res < 0;
	u->tx_free[u->n_tx_free++] = k;
}

/* ---- receive ------------------------------------------------------------- */

static void deliver(struct ap_udp *u, const void *name, uint32_t namelen, const uint8_t *p,
		    size_t n, int flags)
{
	struct ap_dg_addr from;
	if (flags & MSG_TRUNC) {
		u->own.truncated++;
		return;
	}
	from.len = (uint8_t)(namelen < sizeof(struct sockaddr_in) ? namelen
								   : sizeof(struct sockaddr_in));
	memcpy(from.b, name, from.len);
	from.host = 0;
	if (from.len == sizeof(struct sockaddr_in)) {
		struct sockaddr_in sa;
		memcpy(&sa, name, sizeof(sa));
		if (sa.sin_family == AF_INET)
			from.host = (uint64_t)ntohl(sa.sin_addr.s_addr) + 1;
	}
	ap_dg_input(u->g, &from, p, n, u->now);
}

static void arm_multishot(struct ap_udp *u)
{
	struct io_uring_sqe *sqe = ap_sqe_get(&u->ring);
	if (!sqe)
		return; /* armed at the end of the next turn */
	io_uring_prep_recvmsg_multishot(sqe, u->fd, &u->ms_hdr, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, UD(OP_RECV_MS, 0));
	u->rx_armed = 1;
}

static void on_recv_ms(struct ap_udp *u, struct io_uring_cqe *cqe)
{
	int bid = cqe->flags & IORING_CQE_F_BUFFER ? (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT)
						   : -1;
	if (bid >= 0 && bid < u->n_rx) {
		uint8_t *b = u->rx_mem + (size_t)bid * (size_t)u->rx_bytes;
		struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(b, cqe->res, &u->ms_hdr);
		if (o)
			deliver(u, io_uring_recvmsg_name(o), o->namelen,
				io_uring_recvmsg_payload(o, &u->ms_hdr),
				io_uring_recvmsg_payload_length(o, cqe->res, &u->ms_hdr),
				(int)o->flags);
		io_uring_buf_ring_add(u->br, b, (unsigned)u->rx_bytes, (unsigned short)bid,
				      io_uring_buf_ring_mask((unsigned)u->n_rx), u->recycled++);
	}
	if (!(cqe->flags & IORING_CQE_F_MORE))
		u->rx_armed = 0; /* -ENOBUFS, or the kernel ended it: again at the turn's end */
}

static int arm_slot(struct ap_udp *u, int k)
{
	struct rx_slot *r = &u->rx[k];
	struct io_uring_sqe *sqe = ap_sqe_get(&u->ring);
	if (!sqe)
		return -EBUSY;
	r->mh.msg_namelen = sizeof(r->from);
	io_uring_prep_recvmsg(sqe, u->fd, &r->mh, 0);
	io_uring_sqe_set_data64(sqe, UD(OP_RECV, k));
	r->busy = 1;
	u->rx_busy++;
	return 0;
}

static void on_recv(struct ap_udp *u, int k, int res)
{
	if (k < 0 || k >= u->n_rx)
		return;
	struct rx_slot *r = &u->rx[k];
	r->busy = 0;
	u->rx_busy--;
	if (res >= 0)
		deliver(u, &r->from, r->mh.msg_namelen, r->iov.iov_base, (size_t)res,
			r->mh.msg_flags);
	if (!u->stopping)
		arm_slot(u, k); /* or at the end of the turn */
}

/* What ended in this turn's completions is armed again. */
static void rearm(struct ap_udp *u)
{
	if (u->use_ring) {
		if (!u->rx_armed) {
			u->own.rx_rearms++;
			arm_multishot(u);
		}
		return;
	}
	for (int k = 0; k < u->n_rx && u->rx_busy < u->n_rx; k++)
		if (!u->rx[k].busy && arm_slot(u, k))
			return;
}

static void on_cqe(struct ap_udp *u, struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	switch (UD_OP(ud)) {
	case OP_RECV_MS:
		on_recv_ms(u, cqe);
		break;
	case OP_RECV:
		on_recv(u, UD_IDX(ud), cqe->res);
		break;
	case OP_SEND:
		on_send(u, UD_IDX(ud), cqe->res);
		break;
	default:
		break;
	}
}

/* The completions ready now, at most TURN_CQES; the recycled buffers go back
 * to the kernel in one step. */
static void handle(struct ap_udp *u)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	io_uring_for_each_cqe(&u->ring, head, cqe) {
		on_cqe(u, cqe);
		if (++n == TURN_CQES)
			break;
	}
	io_uring_cq_advance(&u->ring, n);
	if (u->recycled) {
		io_uring_buf_ring_advance(u->br, u->recycled);
		u->recycled = 0;
	}
}

/* The turn's one system call: its sends submitted, and a wait for a completion. */
static void submit_wait(struct ap_udp *u, uint64_t wait_ns)
{
	ap_uring_submit_wait(&u->ring, wait_ns);
}

/* ---- the loop ------------------------------------------------------------ */

void ap_udp_publish(struct ap_udp_snapshot *pub, const struct ap_dg *g,
		    const struct ap_udp_counts *own)
{
	struct ap_dg_stats d;
	ap_dg_stats(g, &d);
	const struct ap_udp_counts v = {
		.datagrams = d.datagrams, .malformed = d.malformed, .truncated = own->truncated,
		.unknown_session = d.unknown_session, .acks_in = d.acks_in, .acks_out = d.acks_out,
		.acks_deferred_answered = d.acks_deferred_answered,
		.copies_answered = d.copies_answered, .copies_running = d.copies_running,
		.busy = d.busy, .sent = d.sent, .tx_dropped = own->tx_dropped,
		.tx_failed = own->tx_failed, .idle_closed = d.idle_closed,
		.reasm_completed = d.reasm.completed, .reasm_timeouts = d.reasm.timeouts,
		.reasm_refused = d.reasm.refused, .reasm_inconsistent = d.reasm.inconsistent,
		.faults_dropped = d.faults.dropped, .faults_duplicated = d.faults.duplicated,
		.faults_reordered = d.faults.reordered, .rx_rearms = own->rx_rearms,
		.handshake_copies = d.handshake_copies,
		.reasm_bytes_in_use = d.reasm.bytes_in_use};
#define STORE(f, kind, help) atomic_store_explicit(&pub->f, v.f, memory_order_relaxed);
	AP_UDP_COUNTERS(STORE)
#undef STORE
}

void ap_udp_snapshot_read(const struct ap_udp_snapshot *pub, struct ap_udp_counts *out)
{
#define LOAD(f, kind, help) out->f = atomic_load_explicit(&pub->f, memory_order_relaxed);
	AP_UDP_COUNTERS(LOAD)
#undef LOAD
}

static void publish(struct ap_udp *u)
{
	ap_udp_publish(&u->pub, u->g, &u->own);
}

void ap_udp_stats(const struct ap_udp *u, struct ap_udp_counts *out)
{
	ap_udp_snapshot_read(&u->pub, out);
}

/* How long the turn may sleep: until the scheduler's due time or the tick. */
static uint64_t wait_for(const struct ap_udp *u, uint64_t wake)
{
	uint64_t until = wake < u->next_tick ? wake : u->next_tick;
	if (until <= u->now)
		return 0;
	return until - u->now < MAX_WAIT_NS ? until - u->now : MAX_WAIT_NS;
}

static void one_turn(struct ap_udp *u)
{
	u->now = cf_now_ns();
	handle(u);
	uint64_t wake = ap_sess_run(u->sess);
	ap_dg_flush(u->g, u->now);
	if (u->now >= u->next_tick) {
		ap_dg_tick(u->g, u->now);
		u->next_tick = u->now + TICK_NS;
	}
	rearm(u);
	publish(u);
	atomic_store_explicit(u->c.queued, (uint32_t)ap_sess_queued(u->sess),
			      memory_order_relaxed);
	submit_wait(u, wait_for(u, wake));
}

/* Every operation in flight is cancelled and its completion reaped (or a
 * second has passed: the ring's exit then cancels what is left). */
static void cancel_all(struct ap_udp *u)
{
	struct io_uring_sqe *sqe = ap_sqe_get(&u->ring);
	if (sqe) {
		io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data64(sqe, UD(OP_CANCEL, 0));
	}
	u->stopping = 1; /* nothing is armed again from here on */
	for (uint64_t until = cf_now_ns() + 1000000000ull;
	     (u->rx_armed || u->rx_busy || u->n_tx_free < u->n_tx) && cf_now_ns() < until;) {
		submit_wait(u, 10000000ull);
		handle(u);
	}
}

/* Stopping: queued requests and open sessions are answered ERROR shutdown
 * (devices finish at once instead of after their timeout), and the sends get
 * drain_ms to complete. Datagrams arriving meanwhile are still read. */
static void drain(struct ap_udp *u)
{
	ap_sess_stopping(u->sess);
	uint64_t until = cf_now_ns() + (uint64_t)u->c.cfg->drain_ms * 1000000ull;
	for (;;) {
		u->now = cf_now_ns();
		ap_dg_flush(u->g, u->now);
		if ((u->n_tx_free == u->n_tx && !ap_sess_pending(u->sess)) || u->now >= until)
			break;
		submit_wait(u, 10000000ull);
		handle(u);
	}
	ap_sess_close_all(u->sess);
	cancel_all(u);
	publish(u);
}

void ap_udp_run(struct ap_udp *u)
{
	u->next_tick = cf_now_ns() + TICK_NS;
	if (u->use_ring)
		arm_multishot(u);
	else
		rearm(u);
	while (!atomic_load_explicit(u->c.stop, memory_order_relaxed)) {
		atomic_fetch_add_explicit(u->c.turns, 1, memory_order_relaxed);
		one_turn(u);
	}
	drain(u);
}

/* ---- setup --------------------------------------------------------------- */

/* Multishot recvmsg came with Linux 6.0 (buffer rings with 5.19): before it
 * the kernel would take the flag for an ordinary recvmsg's priority. */
static int kernel_has_multishot_recvmsg(void)
{
	struct utsname n;
	int major = 0;
	return !uname(&n) && sscanf(n.release, "%d.", &major) == 1 && major >= 6;
}

static int setup_rx(struct ap_udp *u)
{
	const struct ap_server_config *cfg = u->c.cfg;
	u->n_rx = cfg->rx_buffers;
	u->rx_bytes = cfg->rx_buffer_bytes;
	if (!(u->rx_mem = malloc((size_t)u->n_rx * (size_t)u->rx_bytes)))
		return -ENOMEM;
	u->ms_hdr.msg_namelen = sizeof(struct sockaddr_in);
	if (!cfg->no_buf_ring && kernel_has_multishot_recvmsg()) {
		int ret = ap_buf_ring_setup(&u->ring, BGID, u->rx_mem, u->n_rx, u->rx_bytes, &u->br,
					    &u->br_bytes);
		if (ret != -EOPNOTSUPP) {
			u->use_ring = !ret;
			return ret;
		}
	}
	if (!(u->rx = calloc((size_t)u->n_rx, sizeof(*u->rx))))
		return -ENOMEM;
	for (int k = 0; k < u->n_rx; k++) {
		struct rx_slot *r = &u->rx[k];
		r->iov = (struct iovec){u->rx_mem + (size_t)k * (size_t)u->rx_bytes,
					(size_t)u->rx_bytes};
		r->mh = (struct msghdr){.msg_name = &r->from, .msg_iov = &r->iov, .msg_iovlen = 1};
	}
	return 0;
}

static int setup_tx(struct ap_udp *u)
{
	u->n_tx = u->c.cfg->tx_datagrams;
	u->tx = calloc((size_t)u->n_tx, sizeof(*u->tx));
	u->tx_free = calloc((size_t)u->n_tx, sizeof(*u->tx_free));
	if (!u->tx || !u->tx_free)
		return -ENOMEM;
	for (int k = 0; k < u->n_tx; k++) {
		struct tx_slot *t = &u->tx[k];
		t->iov.iov_base = t->buf;
		t->mh = (struct msghdr){.msg_name = t->to, .msg_iov = &t->iov, .msg_iovlen = 1};
		u->tx_free[k] = u->n_tx - 1 - k;
	}
	u->n_tx_free = u->n_tx;
	return 0;
}

static int setup_dgram(struct ap_udp *u, char *err, size_t errlen)
{
	struct ap_dg_config dc;
	ap_dg_defaults(&dc, u->c.cfg);
	dc.sess = (struct ap_sess_config){.cfg = u->c.cfg, .model = u->c.model, .id = u->c.id,
					  .stop = u->c.stop};
	dc.ops = (struct ap_dg_ops){.ctx = u, .send = udp_send};
	dc.faults = u->c.cfg->faults;
	int ret = ap_dg_create(&dc, &u->g, err, errlen);
	if (!ret)
		u->sess = ap_dg_sess(u->g);
	return ret;
}

int ap_udp_create(const struct ap_udp_config *c, struct ap_udp **out, char *err, size_t errlen)
{
	struct ap_udp *u = calloc(1, sizeof(*u));
	int ret;
	*out = NULL;
	if (!u)
		return cf_fail(-ENOMEM, err, errlen, "out of memory for the UDP transport");
	u->c = *c;
	if ((ret = u->fd = ap_bound_socket(c->cfg->host, c->port, SOCK_DGRAM, err, errlen)) < 0)
		goto fail;
	u->port = ap_socket_port(u->fd);
	/* room for a burst of datagrams while a batch computes (capped by rmem_max) */
	int rcvbuf = 8 << 20;
	setsockopt(u->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if ((ret = ap_uring_init(&u->ring, 4096, err, errlen)))
		goto fail;
	u->ring_ok = 1;
	if ((ret = setup_rx(u)) || (ret = setup_tx(u))) {
		cf_fail(ret, err, errlen, "UDP buffers (%d of %d bytes, %d send slots): %s",
			c->cfg->rx_buffers, c->cfg->rx_buffer_bytes, c->cfg->tx_datagrams,
			strerror(-ret));
		goto fail;
	}
	if ((ret = setup_dgram(u, err, errlen)))
		goto fail;
	*out = u;
	return 0;
fail:
	ap_udp_destroy(u);
	return ret;
}

void ap_udp_destroy(struct ap_udp *u)
{
	if (!u)
		return;
	if (u->ring_ok)
		ap_uring_exit(&u->ring, BGID, u->br, u->br_bytes);
	if (u->fd >= 0)
		close(u->fd);
	ap_dg_destroy(u->g);
	free(u->rx_mem);
	free(u->rx);
	free(u->tx);
	free(u->tx_free);
	free(u);
}

struct ap_sess *ap_udp_sess(struct ap_udp *u)
{
	return u->sess;
}

int ap_udp_port(const struct ap_udp *u)
{
	return u->port;
}

const char *ap_udp_rx_mode(const struct ap_udp *u)
{
	return u->use_ring ? "multishot recvmsg with provided buffer ring"
			   : "recvmsg into fixed buffers";
}
