/* The appliance's io_uring TCP transport and its workers (design in server.h;
 * the protocol itself is the session layer's, session.h).
 *
 * Receive: a multishot recv per connection picking buffers from a provided
 * buffer ring (one per worker); each completion's bytes go to the session where
 * they lie (ap_sess_input), and the buffer goes back to the ring. Without buffer
 * rings (older kernels, or forced) each connection gets a single-shot recv into
 * its own buffer; both paths feed the same session.
 *
 * Send: at the end of a loop turn, one send per connection the session queued
 * for the flush, all in one submission; a completion tells the session how many
 * bytes left (ap_sess_sent), which queues the rest again.
 *
 * Ownership of what is reused here:
 *   - the per-connection transport state uc[i] (socket, receive armed, send in
 *     flight, fallback receive buffer) shares its slot with the session's
 *     conns[i]; its lifetime is the session's slot table (conns.h). Every
 *     receive or send in flight is counted there (ap_conns_op_begin/_end), so a
 *     slot, and the reply bytes a send in flight reads, are not handed to a new
 *     peer before its completion; completions carry the slot's generation, so a
 *     late one never touches a new peer. on_accept may reset uc[i] because the
 *     slot's links are not in it.
 *   - provided receive buffers: the kernel's until a completion names one; fed
 *     and recycled within that completion's handling.
 *   - a receive that could not be armed (no submission entry, or -ENOBUFS) is
 *     on the slot table's re-arm queue, armed at the end of the turn. */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "coinfer/clock.h"
#include "coinfer/errmsg.h"
#include "coinfer/policy.h"
#include "coinfer/wire.h"
#include "auth.h"
#include "conns.h"
#include "server.h"
#include "session.h"
#include "slo.h"
#include "udp.h"
#include "watchdog.h"
#if COINFER_DPDK
#include "dpdk-loop.h"
#endif

enum { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3 };
#define UD(op, idx, gen) ((uint64_t)(op) << 56 | (uint64_t)(uint32_t)(idx) << 24 | ((gen) & 0xFFFFFFu))
#define UD_OP(u) ((int)((u) >> 56))
#define UD_IDX(u) ((int)(((u) >> 24) & 0xFFFFFFFFu))
#define UD_GEN(u) ((uint32_t)((u) & 0xFFFFFFu))
#define BGID 1

struct uconn {
	int fd;
	int recv_armed, send_busy;
	uint8_t *fb;             /* fallback receive buffer */
};

struct worker {
	struct ap_server *srv;
	int id;
	pthread_t th;
	struct io_uring ring;
	int ring_ok, lfd, accept_armed;
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	uint8_t *bufs, *fb_mem;
	struct uconn *uc;
	struct ap_sess *sess;
	struct ap_conns *slots;  /* the session's */
	struct ap_udp *udp;      /* the UDP transport instead of all the above but sess */
	struct ap_dpdk_loop *dpdk; /* or the DPDK one */
	uint64_t next_sweep_ns;
	_Atomic uint32_t queued;  /* requests in the scheduler, for the metrics thread */
	_Atomic uint64_t turns;   /* loop turns: the watchdog's sign of progress */
	_Atomic int stalled;      /* set and cleared by the watchdog */
	_Atomic uint64_t stalls;
};

struct ap_server {
	struct ap_server_config cfg;
	struct ap_hist_edges edges;
	struct ap_keys *own_keys; /* the key file loaded at start (cfg.keys unless handed) */
	struct cfg_slo slo[CFG_SLO_MAX]; /* cfg.slo's copy */
	const struct cr_model *m;
	struct worker *w;
	int port, use_br;
	_Atomic int stop;
	pthread_t watchdog;
	int watchdog_started;
	struct ap_dpdk *dpdk;    /* the port of the DPDK transport, shared by the workers */
	/* the live settings published (NULL: cfg's), and every snapshot so far */
	_Atomic(const struct ap_live *) live;
	struct live_node *lives;
};

struct live_node {
	struct ap_live l;
	struct ap_policy_set set; /* owned when set.w: l.policies points here */
	struct live_node *next;
};

void ap_server_defaults(struct ap_server_config *c)
{
	memset(c, 0, sizeof(*c));
	c->host = "127.0.0.1";
	c->port = CW_DEFAULT_PORT;
	c->workers = 2;
	c->max_conns = 1024;
	c->max_inflight = 16;
	c->max_requests = 2048;
	c->max_batch = 32;
	c->max_delay_us = 2000;
	c->join = 1;
	c->max_frame = 160u << 10; /* conv1's map as raw32 is 131 KB */
	c->small_frame = 8192;  /* 8-bit frames of every relu/pool point fit inline */
	c->big_frames = 256;
	c->rx_buffers = 1024;
	c->rx_buffer_bytes = 16384;
	c->tx_bytes = 16384;
	c->tx_datagrams = 1024;
	c->reassembly_buffers = 64;
	c->idle_timeout_ms = 10000;
	c->calibrate_runs = 5;
	c->drain_ms = 500;
	c->watchdog_ms = 2000;
	c->dpdk_mbufs = 16384;
	c->dpdk_idle_us = 500;
	/* the usual interactive deadlines, until a configuration names its own */
	c->slo_deadlines_ms[0] = 20;
	c->slo_deadlines_ms[1] = 50;
	c->slo_deadlines_ms[2] = 100;
	c->n_slo_deadlines = 3;
	c->auth_rate_addr = 200;  /* a fleet behind one NAT starts at once */
	c->auth_rate_device = 2;  /* a device reconnects a few times a second at most */
	c->auth_timeout_ms = 5000;
}

struct io_uring_sqe *ap_sqe_get(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	if (!sqe) {
		io_uring_submit(ring);
		sqe = io_uring_get_sqe(ring);
	}
	return sqe;
}

static struct io_uring_sqe *sqe_get(struct worker *w)
{
	return ap_sqe_get(&w->ring);
}

/* ---- connections --------------------------------------------------------- */

/* The session is done with peer i: the socket goes; operations still in flight
 * on it end with an error or 0, and the slot waits for them (conns.h). */
static void transport_close(void *ctx, int i)
{
	struct worker *w = ctx;
	struct uconn *u = &w->uc[i];
	if (u->fd < 0)
		return;
	shutdown(u->fd, SHUT_RDWR);
	close(u->fd);
	u->fd = -1;
}

/* Without a submission entry (the ring full even after a submit) the receive
 * is queued to be armed at the end of the turn, never forgotten. */
static int arm_recv(struct worker *w, int i)
{
	struct uconn *u = &w->uc[i];
	struct io_uring_sqe *sqe = sqe_get(w);
	if (!sqe) {
		ap_conns_want(w->slots, AP_Q_REARM, i);
		return -EBUSY;
	}
	if (w->srv->use_br) {
		io_uring_prep_recv_multishot(sqe, u->fd, NULL, 0, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = BGID;
	} else {
		io_uring_prep_recv(sqe, u->fd, u->fb, (size_t)w->srv->cfg.rx_buffer_bytes, 0);
	}
	io_uring_sqe_set_data64(sqe, UD(OP_RECV, i, w->slots->slot[i].gen));
	u->recv_armed = 1;
	ap_conns_op_begin(w->slots, i);
	return 0;
}

static void on_accept(struct worker *w, int fd)
{
	int i = atomic_load(&w->srv->stop) ? -ESHUTDOWN : ap_sess_open(w->sess);
	if (i < 0) {
		close(fd); /* at capacity: the device retries with backoff */
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	if (!getpeername(fd, (struct sockaddr *)&sa, &salen) && sa.sin_family == AF_INET)
		ap_sess_set_addr(w->sess, i, (uint64_t)ntohl(sa.sin_addr.s_addr) + 1);
	struct uconn *u = &w->uc[i];
	u->fd = fd;
	u->recv_armed = u->send_busy = 0;
	arm_recv(w, i);
}

static void arm_accept(struct worker *w)
{
	struct io_uring_sqe *sqe = sqe_get(w);
	if (!sqe || w->lfd < 0)
		return;
	io_uring_prep_multishot_accept(sqe, w->lfd, NULL, NULL, 0);
	io_uring_sqe_set_data64(sqe, UD(OP_ACCEPT, 0, 0));
	w->accept_armed = 1;
}

static void recycle(struct worker *w, int bid)
{
	io_uring_buf_ring_add(w->br, w->bufs + (size_t)bid * (size_t)w->srv->cfg.rx_buffer_bytes,
			      (unsigned)w->srv->cfg.rx_buffer_bytes, (unsigned short)bid,
			      io_uring_buf_ring_mask((unsigned)w->srv->cfg.rx_buffers), 0);
	io_uring_buf_ring_advance(w->br, 1);
}

static void on_recv(struct worker *w, int i, int stale, struct io_uring_cqe *cqe)
{
	int res = cqe->res;
	int bid = cqe->flags & IORING_CQE_F_BUFFER ? (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT) : -1;
	if (!stale && res > 0 && ap_conns_live(w->slots, i))
		ap_sess_input(w->sess, i,
			      bid >= 0 ? w->bufs + (size_t)bid * (size_t)w->srv->cfg.rx_buffer_bytes
				       : w->uc[i].fb, (size_t)res);
	if (bid >= 0)
		recycle(w, bid);
	if ((cqe->flags & IORING_CQE_F_MORE) || stale)
		return;
	w->uc[i].recv_armed = 0;
	if (res == 0 || (res < 0 && res != -ENOBUFS))
		ap_sess_close(w->sess, i);
	else if (ap_sess_reading(w->sess, i)) {
		if (res == -ENOBUFS)
			ap_conns_want(w->slots, AP_Q_REARM, i);
		else
			arm_recv(w, i);
	}
	ap_conns_op_end(w->slots, i);
}

static void on_send(struct worker *w, int i, int res)
{
	w->uc[i].send_busy = 0;
	if (res < 0 || !ap_conns_live(w->slots, i))
		ap_sess_close(w->sess, i);
	else
		ap_sess_sent(w->sess, i, (size_t)res);
	ap_conns_op_end(w->slots, i);
}

static void on_cqe(struct worker *w, struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	int op = UD_OP(ud), i = UD_IDX(ud);
	if (op == OP_ACCEPT) {
		if (cqe->res >= 0)
			on_accept(w, cqe->res);
		if (!(cqe->flags & IORING_CQE_F_MORE))
			w->accept_armed = 0;
		return;
	}
	if (i < 0 || i >= w->slots->n)
		return;
	int stale = !ap_conns_current(w->slots, i, UD_GEN(ud));
	if (op == OP_RECV)
		on_recv(w, i, stale, cqe);
	else if (op == OP_SEND && !stale)
		on_send(w, i, cqe->res);
}

/* One send per connection with replies, then the receives to re-arm. */
static void flush(struct worker *w)
{
	int i;
	while ((i = ap_conns_pop(w->slots, AP_Q_FLUSH)) >= 0) {
		const uint8_t *p;
		size_t len;
		if (w->uc[i].send_busy || !ap_sess_tx(w->sess, i, &p, &len))
			continue; /* a send in flight: its completion queues the rest */
		struct io_uring_sqe *sqe = sqe_get(w);
		if (!sqe) {
			/* the ring is full: the rest waits for the next turn */
			ap_conns_want(w->slots, AP_Q_FLUSH, i);
			break;
		}
		io_uring_prep_send(sqe, w->uc[i].fd, p, len, MSG_NOSIGNAL);
		io_uring_sqe_set_data64(sqe, UD(OP_SEND, i, w->slots->slot[i].gen));
		w->uc[i].send_busy = 1;
		ap_conns_op_begin(w->slots, i);
	}
	while ((i = ap_conns_pop(w->slots, AP_Q_REARM)) >= 0)
		if (ap_sess_reading(w->sess, i) && !w->uc[i].recv_armed && arm_recv(w, i))
			break; /* queued again for the next turn */
}

/* ---- the loop ------------------------------------------------------------ */

/* Completions handled in one loop turn at most: a flood of connections or bytes
 * cannot hold a turn for long, so batches still run on time, replies still go
 * out, and the stop flag and the watchdog's counter are seen; the rest waits in
 * the completion queue for the next turn, which then does not sleep. */
#define TURN_CQES 1024

void ap_uring_submit_wait(struct io_uring *ring, uint64_t wait_ns)
{
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = {.tv_sec = (long long)(wait_ns / 1000000000ull),
				       .tv_nsec = (long long)(wait_ns % 1000000000ull)};
	if (wait_ns && !io_uring_cq_ready(ring))
		io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, NULL);
	else
		io_uring_submit(ring);
}

/* Waits up to wait_ns for completions (0: only submits) and handles them. */
static void turn(struct worker *w, uint64_t wait_ns)
{
	struct io_uring_cqe *cqe;
	ap_uring_submit_wait(&w->ring, wait_ns);
	unsigned head, n = 0;
	io_uring_for_each_cqe(&w->ring, head, cqe) {
		on_cqe(w, cqe);
		if (++n == TURN_CQES)
			break;
	}
	io_uring_cq_advance(&w->ring, n);
}

/* Stopping: the listening socket goes first, so new devices are refused at once
 * rather than left in the backlog; the session answers every queued request and
 * connection ERROR shutdown (the devices finish them locally at once instead of
 * waiting for a timeout), and the replies get up to drain_ms to leave before the
 * connections close. */
static void shutdown_gracefully(struct worker *w)
{
	if (w->lfd >= 0) {
		shutdown(w->lfd, SHUT_RDWR); /* ends the multishot accept */
		close(w->lfd);
		w->lfd = -1;
	}
	ap_sess_stopping(w->sess);
	uint64_t until = cf_now_ns() + (uint64_t)w->srv->cfg.drain_ms * 1000000ull;
	for (;;) {
		flush(w);
		if (!ap_sess_pending(w->sess) || cf_now_ns() >= until)
			break;
		turn(w, 10000000ull);
	}
	ap_sess_close_all(w->sess);
	turn(w, 0); /* submit nothing new; reap what ended */
}

#if COINFER_DPDK
static void *dpdk_worker_main(struct worker *w)
{
	char err[256];
	const struct ap_dpdk_run r = {.stop = &w->srv->stop, .turns = &w->turns,
				      .queued = &w->queued, .drain_ms = w->srv->cfg.drain_ms,
				      .idle_us = (unsigned)w->srv->cfg.dpdk_idle_us};
	int reg = !ap_dpdk_thread_register(err, sizeof(err));
	if (!reg) /* it still works, each mbuf through the pool's shared ring */
		fprintf(stderr, "coinfer-appliance: worker %d: %s\n", w->id, err);
	ap_dpdk_loop_run(w->dpdk, &r);
	if (reg)
		ap_dpdk_thread_unregister();
	return NULL;
}
#else
static void *dpdk_worker_main(struct worker *w)
{
	(void)w;
	return NULL;
}
#endif

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct ap_server *s = w->srv;

	if (w->udp) {
		ap_udp_run(w->udp);
		return NULL;
	}
	if (w->dpdk)
		return dpdk_worker_main(w);
	arm_accept(w);
	while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
		atomic_fetch_add_explicit(&w->turns, 1, memory_order_relaxed);
		uint64_t wake = ap_sess_run(w->sess);
		flush(w);
		if (!w->accept_armed)
			arm_accept(w);
		uint64_t now = cf_now_ns();
		uint64_t wait_ns = 100000000ull; /* look at the stop flag 10 times a second */
		if (wake != UINT64_MAX)
			wait_ns = wake > now ? (wake - now < wait_ns ? wake - now : wait_ns) : 0;
		turn(w, wait_ns);
		atomic_store_explicit(&w->queued, (uint32_t)ap_sess_queued(w->sess),
				      memory_order_relaxed);
		now = cf_now_ns();
		if (now >= w->next_sweep_ns) {
			ap_sess_sweep(w->sess);
			w->next_sweep_ns = now + 500000000ull;
		}
	}
	shutdown_gracefully(w);
	return NULL;
}

/* ---- setup --------------------------------------------------------------- */

int ap_bound_socket(const char *host, int port, int type, char *err, size_t errlen)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0), one = 1;
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -errno;
	}
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
		snprintf(err, errlen, "listen address '%s' is not a numeric IPv4 address", host);
		close(fd);
		return -EINVAL;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a))) {
		int e = errno;
		snprintf(err, errlen, "bind %s:%d: %s", host, port, strerror(e));
		close(fd);
		return -e;
	}
	return fd;
}

int ap_listen_socket(const char *host, int port, int type_flags, char *err, size_t errlen)
{
	int fd = ap_bound_socket(host, port, SOCK_STREAM | type_flags, err, errlen);
	if (fd >= 0 && listen(fd, 4096)) {
		int e = errno;
		snprintf(err, errlen, "listen %s:%d: %s", host, port, strerror(e));
		close(fd);
		return -e;
	}
	return fd;
}

int ap_socket_port(int fd)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	return getsockname(fd, (struct sockaddr *)&a, &al) ? -errno : ntohs(a.sin_port);
}

static void worker_free(struct worker *w)
{
	if (!w->srv) /* never set up (a start that failed before it) */
		return;
	if (w->udp) {
		ap_udp_destroy(w->udp); /* and the session, which is its datagram layer's */
		return;
	}
#if COINFER_DPDK
	if (w->dpdk) {
		ap_dpdk_loop_destroy(w->dpdk); /* and its session */
		return;
	}
#endif
	if (w->ring_ok)
		ap_uring_exit(&w->ring, BGID, w->br, w->br_bytes);
	if (w->lfd >= 0)
		close(w->lfd);
	for (int i = 0; w->uc && i < w->srv->cfg.max_conns; i++)
		if (w->uc[i].fd >= 0)
			close(w->uc[i].fd);
	free(w->bufs);
	free(w->fb_mem);
	free(w->uc);
	ap_sess_destroy(w->sess);
}

int ap_buf_ring_setup(struct io_uring *ring, int bgid, uint8_t *mem, int n, int bytes,
		      struct io_uring_buf_ring **out, size_t *out_bytes)
{
	size_t len = (size_t)n * sizeof(struct io_uring_buf);
	struct io_uring_buf_ring *br =
		mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (br == MAP_FAILED)
		return -ENOMEM;
	struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)br,
				       .ring_entries = (unsigned)n, .bgid = (uint16_t)bgid};
	io_uring_buf_ring_init(br);
	if (io_uring_register_buf_ring(ring, &reg, 0) < 0) {
		munmap(br, len);
		return -EOPNOTSUPP;
	}
	for (int b = 0; b < n; b++)
		io_uring_buf_ring_add(br, mem + (size_t)b * (size_t)bytes, (unsigned)bytes,
				      (unsigned short)b, io_uring_buf_ring_mask((unsigned)n), b);
	io_uring_buf_ring_advance(br, n);
	*out = br;
	*out_bytes = len;
	return 0;
}

/* Provided buffers when the kernel has them; otherwise a buffer per peer. */
static int setup_buf_ring(struct ap_server *s, struct worker *w)
{
	const struct ap_server_config *cfg = &s->cfg;
	w->bufs = malloc((size_t)cfg->rx_buffers * (size_t)cfg->rx_buffer_bytes);
	if (!w->bufs)
		return -ENOMEM;
	int ret = ap_buf_ring_setup(&w->ring, BGID, w->bufs, cfg->rx_buffers,
				    cfg->rx_buffer_bytes, &w->br, &w->br_bytes);
	if (ret == -EOPNOTSUPP) {
		free(w->bufs);
		w->bufs = NULL;
		s->use_br = 0;
		return 0;
	}
	return ret;
}

void ap_uring_exit(struct io_uring *ring, int bgid, struct io_uring_buf_ring *br,
		   size_t br_bytes)
{
	if (br)
		io_uring_unregister_buf_ring(ring, bgid);
	io_uring_queue_exit(ring); /* cancels what is still in flight */
	if (br)
		munmap(br, br_bytes);
}

int ap_uring_init(struct io_uring *ring, unsigned entries, char *err, size_t errlen)
{
	/* COOP_TASKRUN: completions are reaped by this loop only, so the kernel need
	 * not interrupt it. (SINGLE_ISSUER would bind the ring to the thread that
	 * creates it, which is the starting thread here, not the worker.) */
	struct io_uring_params p = {.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_CQSIZE,
				    .cq_entries = 16384};
	int ret = io_uring_queue_init_params(entries, ring, &p);
	if (ret < 0) {
		p.flags = IORING_SETUP_CQSIZE; /* older kernels: without the hints */
		if ((ret = io_uring_queue_init_params(entries, ring, &p)) < 0)
			return cf_fail(ret, err, errlen, "io_uring_queue_init: %s", strerror(-ret));
	}
	return 0;
}

static int setup_ring(struct worker *w, char *err, size_t errlen)
{
	int ret = ap_uring_init(&w->ring, 4096, err, errlen);
	w->ring_ok = !ret;
	return ret;
}

/* The UDP transport binds host:port itself and owns the worker's ring and session. */
static int udp_worker_init(struct ap_server *s, struct worker *w, int port, char *err,
			   size_t errlen)
{
	struct ap_udp_config uc = {.cfg = &s->cfg, .model = s->m, .id = w->id, .port = port,
				   .stop = &s->stop, .turns = &w->turns, .queued = &w->queued};
	int ret = ap_udp_create(&uc, &w->udp, err, errlen);
	if (!ret)
		w->sess = ap_udp_sess(w->udp);
	return ret;
}

/* The DPDK transport: worker i's loop on the port's queue pair i. */
static int dpdk_worker_init(struct ap_server *s, struct worker *w, char *err, size_t errlen)
{
#if COINFER_DPDK
	const struct ap_sess_config sc = {.cfg = &s->cfg, .model = s->m, .id = w->id,
					  .stop = &s->stop};
	int ret = ap_dpdk_worker_create(s->dpdk, &sc, &w->dpdk, err, errlen);
	if (!ret)
		w->sess = ap_dg_sess(ap_dpdk_loop_dg(w->dpdk));
	return ret;
#else
	(void)s, (void)w;
	return cf_fail(-ENOTSUP, err, errlen, "transport dpdk: this coinfer-appliance was built "
		       "without DPDK (meson option dpdk; it needs libdpdk-dev)");
#endif
}

static int worker_init(struct ap_server *s, struct worker *w, int id, int port, char *err,
		       size_t errlen)
{
	const struct ap_server_config *cfg = &s->cfg;
	size_t nconn = (size_t)cfg->max_conns;
	int ret;

	w->srv = s;
	w->id = id;
	w->lfd = -1;
	if (cfg->transport == AP_TRANSPORT_UDP)
		return udp_worker_init(s, w, port, err, errlen);
	if (cfg->transport == AP_TRANSPORT_DPDK)
		return dpdk_worker_init(s, w, err, errlen);
	if ((ret = setup_ring(w, err, errlen)))
		return ret;
	w->uc = calloc(nconn, sizeof(*w->uc));
	if (!w->uc)
		return -ENOMEM;
	for (size_t i = 0; i < nconn; i++)
		w->uc[i].fd = -1;
	if (s->use_br && (ret = setup_buf_ring(s, w)))
		return ret;
	if (!s->use_br) {
		if (!(w->fb_mem = malloc(nconn * (size_t)cfg->rx_buffer_bytes)))
			return -ENOMEM;
		for (size_t i = 0; i < nconn; i++)
			w->uc[i].fb = w->fb_mem + i * (size_t)cfg->rx_buffer_bytes;
	}
	struct ap_sess_config sc = {.cfg = &s->cfg, .model = s->m, .id = id, .stop = &s->stop,
				    .transport = {.ctx = w, .close = transport_close}};
	if ((ret = ap_sess_create(&sc, &w->sess, err, errlen)))
		return ret;
	w->slots = ap_sess_slots(w->sess);
	return (w->lfd = ap_listen_socket(cfg->host, port, 0, err, errlen)) < 0 ? w->lfd : 0;
}

/* Every policy fits the model served and says what its outputs are; a class
 * has one policy. */
static int check_policies(const struct ap_server_config *cfg, const struct cr_model *m, char *err,
			  size_t errlen)
{
	if (cfg->n_policies < 0 || (cfg->n_policies && !cfg->policies)) {
		snprintf(err, errlen, "policies: %d given without a list", cfg->n_policies);
		return -EINVAL;
	}
	for (int i = 0; i < cfg->n_policies; i++) {
		const struct pol_policy *p = cfg->policies[i];
		const char *dc = p->device_class;
		char why[256];
		int ret = pol_policy_check_model(p, m, why, sizeof(why));
		if (ret) {
			snprintf(err, errlen, "policy %d%s%s: %s", i + 1, *dc ? " for " : "", dc,
				 why);
			return ret;
		}
		for (int j = 0; j < i; j++)
			if (!strcmp(cfg->policies[j]->device_class, dc)) {
				snprintf(err, errlen, "policies %d and %d are both for device class %s",
					 j + 1, i + 1, dc);
				return -EINVAL;
			}
	}
	return 0;
}

/* ---- watchdog ------------------------------------------------------------ */

/* A worker whose loop has not turned for watchdog_ms is stuck (a loop turn
 * waits at most 100 ms for completions, and a batch's compute is milliseconds):
 * it is said on stderr and counted, once per stall, and said again when it
 * recovers (the rule: watchdog.c). The watchdog reads counters only; it never
 * touches a worker. */
static void watch_once(struct ap_server *s, struct ap_watch *wd, uint64_t now)
{
	for (int i = 0; i < s->cfg.workers; i++) {
		struct worker *w = &s->w[i];
		uint64_t quiet_ns;
		switch (ap_watch_step(wd, i, atomic_load_explicit(&w->turns, memory_order_relaxed),
				      now, &quiet_ns)) {
		case AP_WATCH_STALLED:
			atomic_store_explicit(&w->stalled, 1, memory_order_relaxed);
			atomic_fetch_add_explicit(&w->stalls, 1, memory_order_relaxed);
			fprintf(stderr, "{\"event\": \"worker_stalled\", \"worker\": %d, "
					"\"no_progress_ms\": %llu, \"queued\": %u}\n", i,
				(unsigned long long)(quiet_ns / 1000000ull),
				atomic_load_explicit(&w->queued, memory_order_relaxed));
			break;
		case AP_WATCH_RECOVERED:
			atomic_store_explicit(&w->stalled, 0, memory_order_relaxed);
			fprintf(stderr, "{\"event\": \"worker_recovered\", \"worker\": %d, "
					"\"stalled_ms\": %llu}\n", i,
				(unsigned long long)(quiet_ns / 1000000ull));
			break;
		default:
			break;
		}
	}
}

static void *watchdog_main(void *arg)
{
	struct ap_server *s = arg;
	struct ap_watch wd;
	if (ap_watch_init(&wd, s->cfg.workers, (uint64_t)s->cfg.watchdog_ms * 1000000ull,
			  cf_now_ns())) {
		fprintf(stderr, "{\"event\": \"watchdog_failed\", \"error\": \"out of memory\"}\n");
		return NULL;
	}
	long step_ms = s->cfg.watchdog_ms / 4 < 100 ? s->cfg.watchdog_ms / 4 + 1 : 100;
	/* runs through the stop too: a worker stuck in its drain is reported */
	while (atomic_load(&s->stop) < 2) {
		struct timespec ts = {.tv_sec = step_ms / 1000, .tv_nsec = step_ms % 1000 * 1000000L};
		nanosleep(&ts, NULL);
		watch_once(s, &wd, cf_now_ns());
	}
	ap_watch_free(&wd);
	return NULL;
}

int ap_server_stalled(const struct ap_server *s, int worker)
{
	return atomic_load_explicit(&s->w[worker].stalled, memory_order_relaxed);
}

/* Joins every worker by drain_ms + 1 s after the stop; a worker still running
 * then is stuck, and freeing what it uses would turn a hang into a crash. */
static int join_workers(struct ap_server *s)
{
	struct timespec until;
	/* not cf_now_ns: pthread_timedjoin_np takes a CLOCK_REALTIME deadline */
	clock_gettime(CLOCK_REALTIME, &until);
	uint64_t ns = (uint64_t)until.tv_nsec + ((uint64_t)s->cfg.drain_ms + 1000) * 1000000ull;
	until.tv_sec += (time_t)(ns / 1000000000ull);
	until.tv_nsec = (long)(ns % 1000000000ull);
	int stuck = 0;
	for (int i = 0; i < s->cfg.workers; i++) {
		if (!s->w[i].th)
			continue;
		if (pthread_timedjoin_np(s->w[i].th, NULL, &until)) {
			fprintf(stderr, "{\"event\": \"stop_timeout\", \"worker\": %d}\n", i);
			stuck = 1;
			continue;
		}
		s->w[i].th = 0;
	}
	return stuck ? -ETIMEDOUT : 0;
}

/* The port closes once no worker uses it; what is still out of its pool then
 * was kept by someone (dpdk.c's ownership rules). */
static void dpdk_close(struct ap_server *s, struct ap_stop_report *r)
{
#if COINFER_DPDK
	struct ap_dpdk_stats st;
	if (!s->dpdk)
		return;
	int in_use = ap_dpdk_stop(s->dpdk);
	ap_dpdk_stats(s->dpdk, -1, &st);
	if (r)
		*r = (struct ap_stop_report){
			.dpdk = 1, .mbufs_in_use = in_use, .rx_frames = st.rx_frames,
			.tx_frames = st.tx_frames, .tx_dropped = st.tx_dropped,
			.tx_nombuf = st.tx_nombuf, .tx_too_big = st.tx_too_big,
			.arp_replies = st.arp_replies, .not_ours = st.rx_frames - st.kinds[AP_PKT_UDP] -
								   st.kinds[AP_PKT_ARP_REQUEST]};
	ap_dpdk_destroy(s->dpdk);
#else
	(void)s, (void)r;
#endif
}

void ap_live_from(const struct ap_server_config *cfg, struct ap_live *l)
{
	*l = (struct ap_live){.max_batch = cfg->max_batch, .max_delay_us = cfg->max_delay_us,
			      .run_late = cfg->run_late, .idle_timeout_ms = cfg->idle_timeout_ms};
}

static void policy_set_free(struct ap_policy_set *set, int workers)
{
	for (int w = 0; set->w && w < workers; w++) {
		for (int k = 0; set->w[w] && k < set->n; k++)
			pol_policy_free(set->w[w][k]);
		free(set->w[w]);
	}
	free(set->w);
	set->w = NULL;
}

/* Copies of policies for every worker, checked against the model as at start. */
static int policy_set_make(struct ap_server *s, struct pol_policy *const *policies, int n,
			   struct ap_policy_set *set, char *err, size_t errlen)
{
	struct ap_server_config c = s->cfg;
	int ret;
	c.policies = policies;
	c.n_policies = n;
	if ((ret = check_policies(&c, s->m, err, errlen)))
		return ret;
	set->n = n;
	if (!(set->w = calloc((size_t)s->cfg.workers, sizeof(*set->w))))
		goto nomem;
	for (int w = 0; w < s->cfg.workers; w++) {
		if (n && !(set->w[w] = calloc((size_t)n, sizeof(**set->w))))
			goto nomem;
		for (int k = 0; k < n; k++)
			if ((ret = pol_policy_dup(policies[k], &set->w[w][k], err, errlen))) {
				policy_set_free(set, s->cfg.workers);
				return ret;
			}
	}
	return 0;
nomem:
	policy_set_free(set, s->cfg.workers);
	return cf_fail(-ENOMEM, err, errlen, "out of memory for the policies' copies");
}

int ap_server_set_live(struct ap_server *s, const struct ap_live *l,
		       struct pol_policy *const *policies, int n_policies, char *err,
		       size_t errlen)
{
	int ret;
	if (l->max_batch < 1 || l->max_batch > s->cfg.max_batch)
		return cf_fail(-EINVAL, err, errlen, "max_batch %d: 1..%d, the max_batch the "
			       "server started with (its buffers' size)", l->max_batch,
			       s->cfg.max_batch);
	struct live_node *n = calloc(1, sizeof(*n));
	if (!n)
		return cf_fail(-ENOMEM, err, errlen, "out of memory for the live settings");
	n->l = *l;
	n->l.policies = s->lives ? s->lives->l.policies : NULL;
	if (policies && (ret = policy_set_make(s, policies, n_policies, &n->set, err, errlen))) {
		free(n);
		return ret;
	}
	if (policies)
		n->l.policies = &n->set;
	/* kept until the stop: a worker may be copying the one before right now */
	n->next = s->lives;
	s->lives = n;
	atomic_store_explicit(&s->live, &n->l, memory_order_release);
	return 0;
}

static void free_lives(struct ap_server *s)
{
	while (s->lives) {
		struct live_node *n = s->lives;
		s->lives = n->next;
		policy_set_free(&n->set, s->cfg.workers);
		free(n);
	}
}

int ap_server_stop_report(struct ap_server *s, struct ap_stop_report *r)
{
	if (r)
		memset(r, 0, sizeof(*r));
	if (!s)
		return 0;
	atomic_store(&s->stop, 1);
	if (join_workers(s))
		return -ETIMEDOUT;
	atomic_store(&s->stop, 2);
	if (s->watchdog_started)
		pthread_join(s->watchdog, NULL);
	for (int i = 0; s->w && i < s->cfg.workers; i++)
		worker_free(&s->w[i]);
	dpdk_close(s, r);
	free(s->w);
	ap_keys_free(s->own_keys);
	free_lives(s);
	free(s);
	return 0;
}

int ap_server_stop(struct ap_server *s)
{
	return ap_server_stop_report(s, NULL);
}

static int dpdk_open(struct ap_server *s, char *err, size_t errlen)
{
#if COINFER_DPDK
	return ap_dpdk_server_open(&s->cfg, &s->dpdk, err, errlen);
#else
	(void)s;
	return cf_fail(-ENOTSUP, err, errlen, "transport dpdk: this coinfer-appliance was built "
		       "without DPDK (meson option dpdk; it needs libdpdk-dev)");
#endif
}

/* The SLO file's deadlines become histogram edges: at most AP_SLO_DEADLINES_MAX
 * distinct ones, as slo_deadlines_ms. */
static int check_slo(const struct ap_server_config *cfg, char *err, size_t errlen)
{
	int distinct = 0;
	if (!cfg->slo || cfg->n_slo <= 0)
		return 0;
	if (cfg->n_slo > CFG_SLO_MAX)
		return cf_fail(-EINVAL, err, errlen, "%d SLO applications, more than %d",
			       cfg->n_slo, CFG_SLO_MAX);
	for (int i = 0; i < cfg->n_slo; i++) {
		int seen = 0;
		for (int j = 0; j < i; j++)
			seen |= cfg->slo[j].deadline_ms == cfg->slo[i].deadline_ms;
		distinct += !seen;
	}
	if (distinct > AP_SLO_DEADLINES_MAX)
		return cf_fail(-EINVAL, err, errlen, "the SLO file has %d distinct deadlines; the "
			       "time histograms take at most %d", distinct, AP_SLO_DEADLINES_MAX);
	return 0;
}

int ap_server_start(const struct ap_server_config *cfg, const struct cr_model *m,
		    struct ap_server **out, char *err, size_t errlen)
{
	struct ap_server *s;
	int ret;

	*out = NULL;
	if (cfg->workers < 1 || cfg->max_conns < 1 || cfg->max_conns > (1 << 24) ||
	    cfg->max_inflight < 1 || cfg->max_inflight > 65535 || cfg->rx_buffers < 1 ||
	    (cfg->rx_buffers & (cfg->rx_buffers - 1)) || cfg->rx_buffers > 32768 ||
	    cfg->tx_bytes < 512 || cfg->small_frame < 0 || (uint32_t)cfg->small_frame > cfg->max_frame ||
	    cfg->drain_ms < 0 || cfg->watchdog_ms < 0 ||
	    cfg->transport < AP_TRANSPORT_TCP || cfg->transport > AP_TRANSPORT_DPDK ||
	    (cfg->transport == AP_TRANSPORT_UDP && cfg->tx_datagrams < 1)) {
		snprintf(err, errlen, "server configuration out of range (workers, max_conns, "
				      "max_inflight, rx_buffers a power of two <= 32768, tx_bytes >= 512, "
				      "drain_ms and watchdog_ms >= 0, transport, "
				      "tx_datagrams >= 1)");
		return -EINVAL;
	}
	if ((ret = check_policies(cfg, m, err, errlen)) || (ret = check_slo(cfg, err, errlen)))
		return ret;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	s->m = m;
	s->cfg.n_slo = cfg->slo && cfg->n_slo > 0 ? cfg->n_slo : 0;
	if (s->cfg.n_slo)
		memcpy(s->slo, cfg->slo, (size_t)s->cfg.n_slo * sizeof(*s->slo));
	s->cfg.slo = s->slo;
	atomic_init(&s->live, NULL);
	s->cfg.live = &s->live;
	ap_hist_edges(cfg, &s->edges);
	s->use_br = !cfg->no_buf_ring;
	if (cfg->auth && !cfg->keys) {
		if (!cfg->keys_path) {
			ret = cf_fail(-EINVAL, err, errlen,
				      "auth: keys needs a key file (keys: FILE)");
			free(s);
			return ret;
		}
		if ((ret = ap_keys_load(cfg->keys_path, &s->own_keys, err, errlen))) {
			free(s);
			return ret;
		}
		s->cfg.keys = s->own_keys;
	}
	if (!cfg->auth)
		s->cfg.keys = NULL;
	s->w = calloc((size_t)cfg->workers, sizeof(*s->w));
	if (!s->w) {
		ap_keys_free(s->own_keys);
		free(s);
		return -ENOMEM;
	}
	if (cfg->transport == AP_TRANSPORT_DPDK && (ret = dpdk_open(s, err, errlen)))
		goto err;
	int port = cfg->port;
	for (int i = 0; i < cfg->workers; i++) {
		struct worker *w = &s->w[i];
		if ((ret = worker_init(s, w, i, port, err, errlen)))
			goto err;
		/* port 0: the first worker picks one, the others share it */
		if (!port)
			port = w->udp ? ap_udp_port(w->udp) : ap_socket_port(w->lfd);
	}
	s->port = port;
	s->cfg.policies = NULL; /* borrowed: the workers hold their copies */
	for (int i = 0; i < cfg->workers; i++)
		if ((ret = -pthread_create(&s->w[i].th, NULL, worker_main, &s->w[i]))) {
			snprintf(err, errlen, "pthread_create: %s", strerror(-ret));
			goto err;
		}
	if (cfg->watchdog_ms > 0) {
		if ((ret = -pthread_create(&s->watchdog, NULL, watchdog_main, s))) {
			snprintf(err, errlen, "pthread_create (watchdog): %s", strerror(-ret));
			goto err;
		}
		s->watchdog_started = 1;
	}
	*out = s;
	return 0;
err:
	ap_server_stop(s);
	return ret;
}

static void hist_sum(struct ap_hist *o, const struct ap_hist *t)
{
	atomic_store(&o->sum_us, atomic_load(&o->sum_us) + atomic_load(&t->sum_us));
	for (int b = 0; b < AP_HIST_BUCKETS; b++)
		atomic_store(&o->n[b], atomic_load(&o->n[b]) + atomic_load(&t->n[b]));
}

void ap_server_stats(const struct ap_server *s, struct ap_stats *o)
{
	memset(o, 0, sizeof(*o));
	for (int i = 0; i < s->cfg.workers; i++) {
		const struct ap_stats *t = ap_sess_stats(s->w[i].sess);
#define SUM(f) atomic_store(&o->f, atomic_load(&o->f) + atomic_load(&t->f))
		SUM(accepted), SUM(closed), SUM(requests), SUM(results), SUM(errors), SUM(busy);
		SUM(expired), SUM(bad_frames), SUM(batches), SUM(batch_images), SUM(bytes_in);
		SUM(bytes_out), SUM(protocol_errors), SUM(decisions), SUM(suggestions);
		SUM(admitted), SUM(departed);
		for (int r = 0; r < AP_REFUSE_N; r++)
			SUM(refused[r]);
		SUM(auth_ok), SUM(auth_unknown), SUM(auth_revoked), SUM(auth_failed);
		SUM(auth_rate_limited);
#undef SUM
		atomic_store(&o->stalls, atomic_load(&o->stalls) + atomic_load(&s->w[i].stalls));
		hist_sum(&o->server_time, &t->server_time);
		hist_sum(&o->queue_time, &t->queue_time);
		hist_sum(&o->compute_time, &t->compute_time);
	}
}

void ap_server_slo(const struct ap_server *s, int app, uint64_t now_ns, struct ap_slo_sum *o)
{
	memset(o, 0, sizeof(*o));
	if (app < 0 || app >= s->cfg.n_slo)
		return;
	uint64_t bucket_ns = ap_slo_bucket_ns(s->cfg.slo[app].window_s);
	for (int i = 0; i < s->cfg.workers; i++) {
		const struct ap_slo_app *a = ap_sess_slo(s->w[i].sess, app);
		o->total += atomic_load_explicit(&a->total, memory_order_relaxed);
		o->met += atomic_load_explicit(&a->met, memory_order_relaxed);
		ap_slo_window(a, bucket_ns, now_ns, &o->window_total, &o->window_met);
	}
}

const struct ap_server_config *ap_server_config(const struct ap_server *s)
{
	return &s->cfg;
}

const struct ap_hist_edges *ap_server_hist_edges(const struct ap_server *s)
{
	return &s->edges;
}

size_t ap_server_act_slots(const struct ap_server *s)
{
	return ap_act_slots(s->m);
}

uint64_t ap_server_action(const struct ap_server *s, size_t k)
{
	uint64_t n = 0;
	for (int i = 0; i < s->cfg.workers; i++)
		n += atomic_load_explicit(&ap_sess_actions(s->w[i].sess)[k], memory_order_relaxed);
	return n;
}

const struct cr_model *ap_server_model(const struct ap_server *s)
{
	return s->m;
}

int ap_server_workers(const struct ap_server *s)
{
	return s->cfg.workers;
}

uint32_t ap_server_queued(const struct ap_server *s, int worker)
{
	return atomic_load_explicit(&s->w[worker].queued, memory_order_relaxed);
}

int ap_server_port(const struct ap_server *s)
{
	return s->port;
}

const char *ap_server_rx_mode(const struct ap_server *s)
{
	if (s->w[0].udp)
		return ap_udp_rx_mode(s->w[0].udp);
	if (s->w[0].dpdk)
		return "DPDK poll-mode rx bursts";
	return s->use_br ? "multishot recv with provided buffer ring" : "recv into per-connection buffers";
}

const char *ap_server_transport(const struct ap_server *s)
{
	static const char *const names[] = {[AP_TRANSPORT_TCP] = "tcp", [AP_TRANSPORT_UDP] = "udp",
					    [AP_TRANSPORT_DPDK] = "dpdk"};
	return names[s->cfg.transport];
}

void ap_server_udp_stats(const struct ap_server *s, struct ap_udp_counts *out)
{
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < s->cfg.workers; i++) {
		struct ap_udp_counts one;
		if (s->w[i].udp)
			ap_udp_stats(s->w[i].udp, &one);
#if COINFER_DPDK
		else if (s->w[i].dpdk)
			ap_dpdk_loop_stats(s->w[i].dpdk, &one);
#endif
		else
			continue;
#define ADD(f, kind, help) out->f += one.f;
		AP_UDP_COUNTERS(ADD)
#undef ADD
	}
}
