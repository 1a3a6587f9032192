/* io_uring event loops of the appliance (design in server.h).
 *
 * Receive: a multishot recv per connection picking buffers from a provided
 * buffer ring (one per worker); a message that lies whole in a buffer is decoded
 * in place and its frame copied once into a request slot. A message split across
 * buffers is reassembled in a small inline area (control messages) or a buffer
 * from a bounded pool (INFER frames); when the pool is empty the message is read
 * and dropped and the device gets ERROR busy, so memory stays bounded whatever
 * the peers send. Without buffer rings (older kernels, or forced) each connection
 * gets a single-shot recv into its own buffer; both paths feed the same parser.
 *
 * Send: each connection has a bounded reply buffer; replies are appended while
 * a loop turn runs and flushed with one send per connection at its end. A peer
 * that does not read its replies fills its buffer and is dropped.
 *
 * Ownership of what is reused here:
 *   - conns[i] and its reply buffer, receive buffer and reassembly state: the
 *     slot's lifetime is w->slots (conns.h). It is handed to a new peer only once
 *     nothing of its old life refers to it: no receive or send in flight (a send
 *     in flight reads the reply buffer), not queued for the flush or a re-arm.
 *     Completions carry the slot's generation, so a late one never touches a
 *     new peer; on_accept may wipe the session fields because the links are not
 *     among them.
 *   - request slots: the scheduler's (scheduler.h); a queued request keeps its
 *     connection's generation and answer() checks it.
 *   - reassembly pool buffers: held by one connection from a message's header
 *     to its last byte (c->pool), given back by pool_release, which is
 *     idempotent, on completion or close.
 *   - provided receive buffers: the kernel's until a completion names one; fed
 *     and recycled within that completion's handling. */
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

#include "coinfer/bytes.h"
#include "coinfer/policy-rl.h"
#include "coinfer/proto.h"
#include "conns.h"
#include "server.h"
#include "tail.h"
#include "watchdog.h"

enum { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3 };
#define UD(op, idx, gen) ((uint64_t)(op) << 56 | (uint64_t)(uint32_t)(idx) << 24 | ((gen) & 0xFFFFFFu))
#define UD_OP(u) ((int)((u) >> 56))
#define UD_IDX(u) ((int)(((u) >> 24) & 0xFFFFFFFFu))
#define UD_GEN(u) ((uint32_t)((u) & 0xFFFFFFu))
#define BGID 1
#define INLINE_RX 256 /* holds any control message whole */

/* A connection's protocol state; whether its slot may be reused is conns.h's
 * business (C_DEAD: no live peer, whatever the slot still waits for). */
enum { C_DEAD = 0, C_HELLO, C_READY, C_CLOSING };

struct conn {
	int fd, state;
	int recv_armed, send_busy;
	int inflight;
	uint64_t device_id, since_ns;
	/* reassembly: have bytes of a message of need bytes (0: header not yet whole) */
	uint8_t head[INLINE_RX];
	uint8_t *rx;             /* head, or a pool buffer */
	int pool;                /* pool buffer index or -1 */
	size_t have, need, discard;
	uint64_t discard_id;     /* request id of a message being dropped */
	uint8_t *fb;             /* fallback receive buffer */
	uint8_t *tx;
	size_t tx_len, tx_sending;
	/* policy serving: the worker's policy for the class of HELLO (-1: none)
	 * and the state the device sent with its last DECIDE */
	int pol;
	int have_state;
	struct pol_obs_in decided;
	char dev_class[CW_CLASS_MAX + 1];
};

struct worker {
	struct ap_server *srv;
	int id;
	pthread_t th;
	struct io_uring ring;
	int ring_ok, lfd, accept_armed;
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	uint8_t *bufs;
	struct conn *conns;
	struct ap_conns slots;   /* lifetimes of conns[i] (conns.h) */
	uint8_t *tx_mem, *fb_mem, *pool_mem;
	int *pool_free, n_pool;
	struct ap_sched sched;
	struct ap_batch batch;
	struct ap_tail *tail;
	struct ap_outcome *outc;
	struct ap_stats st;
	uint64_t next_sweep_ns, session_seq;
	struct pol_policy **pol;  /* this worker's copies of the served policies */
	uint32_t qdelay_us;       /* queueing-delay estimate: the last answer's */
	_Atomic uint32_t queued;  /* requests in the scheduler, for the metrics thread */
	_Atomic uint64_t turns;   /* loop turns: the watchdog's sign of progress */
	_Atomic int stalled;      /* set and cleared by the watchdog */
	uint8_t msgbuf[512];
};

struct ap_server {
	struct ap_server_config cfg;
	const struct cf_model *m;
	struct cw_limits lim;
	struct cc_limits clim;
	struct worker *w;
	int port, use_br;
	_Atomic int stop;
	pthread_t watchdog;
	int watchdog_started;
};

void ap_server_defaults(struct ap_server_config *c)
{
	memset(c, 0, sizeof(*c));
	c->host = "127.0.0.1";
	c->port = 7878;
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
	c->reassembly_buffers = 64;
	c->idle_timeout_ms = 10000;
	c->calibrate_runs = 5;
	c->drain_ms = 500;
	c->watchdog_ms = 2000;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void stat_add(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
			      memory_order_relaxed);
}

const uint32_t ap_latency_bounds_us[AP_LATENCY_BUCKETS - 1] = {
	250, 500, 1000, 2000, 3000, 5000, 10000, 20000, 50000, 100000, 200000, 500000, 1000000};

static void latency_add(struct ap_stats *st, uint64_t us)
{
	int b = 0;
	while (b < AP_LATENCY_BUCKETS - 1 && us > ap_latency_bounds_us[b])
		b++;
	stat_add(&st->latency[b], 1);
	stat_add(&st->latency_sum_us, us);
}

static struct io_uring_sqe *sqe_get(struct worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
	if (!sqe) {
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	return sqe;
}

/* ---- replies ------------------------------------------------------------- */

static void conn_close(struct worker *w, struct conn *c);

static int conn_idx(const struct worker *w, const struct conn *c)
{
	return (int)(c - w->conns);
}

static uint32_t conn_gen(const struct worker *w, const struct conn *c)
{
	return w->slots.slot[conn_idx(w, c)].gen;
}

static void mark_dirty(struct worker *w, struct conn *c)
{
	ap_conns_want(&w->slots, AP_Q_FLUSH, conn_idx(w, c));
}

/* Appends msg to c's replies; a peer whose buffer is full is not reading them. */
static void reply(struct worker *w, struct conn *c, const uint8_t *msg, size_t len)
{
	if (c->state == C_DEAD)
		return;
	if (c->tx_len + len > (size_t)w->srv->cfg.tx_bytes) {
		conn_close(w, c);
		return;
	}
	memcpy(c->tx + c->tx_len, msg, len);
	c->tx_len += len;
	mark_dirty(w, c);
}

static void reply_error(struct worker *w, struct conn *c, uint64_t id, int code, const char *msg)
{
	struct cw_error e = {.request_id = id, .code = (uint16_t)code};
	size_t len;
	snprintf(e.msg, sizeof(e.msg), "%s", msg);
	/* messages from the decoders may hold bytes the wire refuses: keep printable */
	for (char *p = e.msg; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
	if (!cw_encode_error(w->msgbuf, sizeof(w->msgbuf), &e, &len, NULL, 0))
		reply(w, c, w->msgbuf, len);
	stat_add(&w->st.errors, 1);
}

/* Framing is lost: say why, then close once the reply is out. */
static void protocol_error(struct worker *w, struct conn *c, int ret, const char *why)
{
	stat_add(&w->st.protocol_errors, 1);
	reply_error(w, c, 0, cw_error_for(ret), why);
	if (c->state != C_DEAD)
		c->state = C_CLOSING;
}

/* ---- messages ------------------------------------------------------------ */

static void on_infer(struct worker *w, struct conn *c, const struct cw_infer *m)
{
	const struct cf_model *mod = w->srv->m;
	struct ap_sched *s = &w->sched;
	if (atomic_load_explicit(&w->srv->stop, memory_order_relaxed)) {
		reply_error(w, c, m->request_id, CW_ERR_SHUTDOWN, "the appliance is stopping");
		return;
	}
	if (c->inflight >= w->srv->cfg.max_inflight) {
		stat_add(&w->st.busy, 1);
		reply_error(w, c, m->request_id, CW_ERR_BUSY, "in-flight limit of the device reached");
		return;
	}
	if (m->action.exit >= mod->n_exits || m->action.partition >= mod->exit_len[m->action.exit]) {
		char why[96];
		snprintf(why, sizeof(why), "exit %u partition %u: the model has no such split",
			 m->action.exit + 1u, m->action.partition);
		reply_error(w, c, m->request_id, CW_ERR_BAD_REQUEST, why);
		return;
	}
	int i = ap_sched_alloc(s, m->frame_len);
	if (i < 0) {
		stat_add(&w->st.busy, 1);
		reply_error(w, c, m->request_id, i == -EMSGSIZE ? CW_ERR_TOO_LARGE : CW_ERR_BUSY,
			    i == -EMSGSIZE ? "frame above the limit" : "appliance queue full");
		return;
	}
	struct ap_req *r = ap_sched_req(s, i);
	uint64_t now = now_ns();
	r->request_id = m->request_id;
	r->owner = c;
	r->owner_gen = conn_gen(w, c);
	r->arrival_ns = now;
	r->deadline_ns = now + (uint64_t)m->deadline_us * 1000;
	r->device_us = m->device_us;
	r->exit = m->action.exit;
	r->partition = m->action.partition;
	r->bits = m->action.bits;
	r->flags = m->flags;
	memcpy(r->frame, m->frame, m->frame_len);
	r->frame_len = m->frame_len;
	if (ap_sched_push(s, i)) {
		ap_sched_release(s, i);
		reply_error(w, c, m->request_id, CW_ERR_INTERNAL, "scheduler refused the request");
		return;
	}
	c->inflight++;
	stat_add(&w->st.requests, 1);
}

/* ---- policy serving ------------------------------------------------------- */

static int policy_for(const struct worker *w, const char *device_class)
{
	for (int i = 0; i < w->srv->cfg.n_policies; i++)
		if (!strcmp(w->pol[i]->device_class, device_class))
			return i;
	return -1;
}

/* DECIDE's CPU in use as the policy's load factor, the multiplier of device
 * time: a core busy u of the time leaves the request 1 - u of it. Capped at
 * 90 % (10x), beyond which the figure says more about the sampling than the
 * device. */
static double load_factor(uint16_t permille)
{
	unsigned u = permille < 900 ? permille : 900;
	return 1.0 / (1.0 - u / 1000.0);
}

/* exits are 1-based in a policy and 0-based on the wire; a device-only action
 * (partition N_e) keeps bits 0 */
static struct cw_action wire_action(const struct pol_action *a)
{
	return (struct cw_action){.exit = (uint8_t)(a->exit - 1), .bits = (uint8_t)a->bits,
				  .partition = (uint16_t)a->partition};
}

static void on_decide(struct worker *w, struct conn *c, const struct cw_decide *m)
{
	char why[96];
	size_t len;
	if (c->pol < 0) {
		snprintf(why, sizeof(why), "no policy for device class %s", c->dev_class);
		reply_error(w, c, m->request_id, CW_ERR_UNSUPPORTED, why);
		return;
	}
	double mbps = (double)m->bandwidth_bps / 1e6;
	c->decided = (struct pol_obs_in){
		.bw_ewma_mbps = mbps,
		.bw_last_mbps = mbps,
		.deadline_ms = m->deadline_us / 1e3,
		.energy_j = m->energy_uj / 1e6,
		.load = load_factor(m->load_permille),
	};
	c->have_state = 1;
	struct pol_obs_in in = c->decided;
	in.queue_ms = w->qdelay_us / 1e3;
	struct pol_action a;
	int ret = pol_policy_decide(w->pol[c->pol], &in, 0, &a, NULL);
	if (ret) {
		snprintf(why, sizeof(why), "policy for %s failed: %s", c->dev_class, strerror(-ret));
		reply_error(w, c, m->request_id, CW_ERR_INTERNAL, why);
		return;
	}
	struct cw_decision d = {.request_id = m->request_id, .queue_delay_us = w->qdelay_us,
				.action = wire_action(&a)};
	if (!cw_encode_decision(w->msgbuf, sizeof(w->msgbuf), &d, &len, NULL, 0))
		reply(w, c, w->msgbuf, len);
	stat_add(&w->st.decisions, 1);
}

/* RESULT's next action for a request that asked for one: the connection's last
 * DECIDE state with this request's budget and the worker's queue now. */
static void suggest(struct worker *w, struct conn *c, const struct ap_req *r, struct cw_result *res)
{
	if (!(r->flags & CW_INFER_SUGGEST) || c->pol < 0 || !c->have_state)
		return;
	struct pol_obs_in in = c->decided;
	struct pol_action a;
	/* the budget the request had when the device started it */
	in.deadline_ms = (double)(r->deadline_ns - r->arrival_ns) / 1e6 + r->device_us / 1e3;
	in.queue_ms = w->qdelay_us / 1e3;
	if (pol_policy_decide(w->pol[c->pol], &in, 0, &a, NULL))
		return;
	res->flags |= CW_RESULT_NEXT_VALID;
	res->next = wire_action(&a);
	stat_add(&w->st.suggestions, 1);
}

static void handle_msg(struct worker *w, struct conn *c, const uint8_t *msg, size_t len)
{
	struct cw_msg m;
	char err[160];
	size_t olen;
	int ret = cw_decode(msg, len, &w->srv->lim, &m, err, sizeof(err));
	if (ret) {
		/* a malformed body with whole framing: refuse it, keep the peer */
		reply_error(w, c, m.request_id, cw_error_for(ret), err);
		return;
	}
	if (c->state == C_HELLO && m.type != CW_HELLO && m.type != CW_PING) {
		reply_error(w, c, m.request_id, CW_ERR_NO_SESSION, "HELLO first");
		return;
	}
	switch (m.type) {
	case CW_HELLO: {
		if (c->state != C_HELLO) {
			reply_error(w, c, 0, CW_ERR_NO_SESSION, "second HELLO");
			return;
		}
		if (m.hello.model_checksum != w->srv->m->checksum) {
			snprintf(err, sizeof(err), "model checksum %016llx, this appliance serves %016llx",
				 (unsigned long long)m.hello.model_checksum,
				 (unsigned long long)w->srv->m->checksum);
			reply_error(w, c, 0, CW_ERR_MODEL_MISMATCH, err);
			c->state = C_CLOSING;
			return;
		}
		c->device_id = m.hello.device_id;
		c->state = C_READY;
		snprintf(c->dev_class, sizeof(c->dev_class), "%s", m.hello.device_class);
		c->pol = policy_for(w, c->dev_class);
		struct cw_welcome wm = {
			.session_id = (uint64_t)w->id << 48 | ++w->session_seq,
			.model_checksum = w->srv->m->checksum,
			.max_frame = w->srv->lim.max_frame,
			.max_padding = w->srv->lim.max_padding,
			.max_inflight = (uint16_t)w->srv->cfg.max_inflight,
		};
		if (!cw_encode_welcome(w->msgbuf, sizeof(w->msgbuf), &wm, &olen, NULL, 0))
			reply(w, c, w->msgbuf, olen);
		return;
	}
	case CW_INFER:
		on_infer(w, c, &m.infer);
		return;
	case CW_PING: {
		/* answered in the turn that read it: the hold is below the loop's
		 * granularity, so 0 (the device measures the round trip itself) */
		struct cw_pong p = {.nonce = m.ping.nonce, .timestamp = m.ping.timestamp,
				    .padding_len = m.ping.padding_len, .hold_us = 0};
		if (!cw_encode_pong(w->msgbuf, sizeof(w->msgbuf), &p, &olen, NULL, 0))
			reply(w, c, w->msgbuf, olen);
		return;
	}
	case CW_DECIDE:
		on_decide(w, c, &m.decide);
		return;
	default:
		snprintf(err, sizeof(err), "%s is not a request", cw_type_name(m.type));
		reply_error(w, c, m.request_id, CW_ERR_BAD_REQUEST, err);
		return;
	}
}

static void pool_release(struct worker *w, struct conn *c)
{
	if (c->pool >= 0)
		w->pool_free[w->n_pool++] = c->pool;
	c->pool = -1;
	c->rx = c->head;
	c->have = c->need = 0;
}


/* Parses received bytes into messages (see the top of the file). */
static void feed(struct worker *w, struct conn *c, const uint8_t *d, size_t n)
{
	const struct cw_limits *lim = &w->srv->lim;
	char err[160];
	struct cw_header h;

	stat_add(&w->st.bytes_in, n);
	while (n && (c->state == C_HELLO || c->state == C_READY)) {
		if (c->discard) {
			size_t k = n < c->discard ? n : c->discard;
			c->discard -= k;
			d += k;
			n -= k;
			if (!c->discard)
				reply_error(w, c, c->discard_id, CW_ERR_BUSY,
					    "appliance reassembly buffers full");
			continue;
		}
		if (!c->have) {
			int r = cw_parse_header(d, n, lim, &h, err, sizeof(err));
			if (r == 0 && h.msg_len <= n) {
				handle_msg(w, c, d, h.msg_len);
				d += h.msg_len;
				n -= h.msg_len;
				continue;
			}
			if (r && r != -EAGAIN) {
				protocol_error(w, c, r, err);
				return;
			}
			c->since_ns = now_ns();
		}
		if (!c->need) {
			/* complete the header in the inline area */
			size_t k = CW_HEADER_BYTES - c->have < n ? CW_HEADER_BYTES - c->have : n;
			memcpy(c->head + c->have, d, k);
			c->have += k;
			d += k;
			n -= k;
			int r = cw_parse_header(c->head, c->have, lim, &h, err, sizeof(err));
			if (r == -EAGAIN)
				continue;
			if (r) {
				protocol_error(w, c, r, err);
				return;
			}
			c->need = h.msg_len;
			if (c->need > INLINE_RX) {
				if (!w->n_pool) {
					/* no room to hold it: read it through, answer busy */
					c->discard = c->need - c->have;
					c->discard_id = 0;
					if (n >= 8 && h.type == CW_INFER)
						c->discard_id = le_rd64(d);
					stat_add(&w->st.busy, 1);
					c->have = c->need = 0;
					continue;
				}
				c->pool = w->pool_free[--w->n_pool];
				c->rx = w->pool_mem + (size_t)c->pool * (CW_HEADER_BYTES + lim->max_body);
				memcpy(c->rx, c->head, c->have);
			}
		}
		size_t k = c->need - c->have < n ? c->need - c->have : n;
		memcpy(c->rx + c->have, d, k);
		c->have += k;
		d += k;
		n -= k;
		if (c->have == c->need) {
			handle_msg(w, c, c->rx, c->need);
			pool_release(w, c);
		}
	}
}

/* ---- connections --------------------------------------------------------- */

/* Without a submission entry (the ring full even after a submit) the receive
 * is queued to be armed at the end of the turn, never forgotten. */
static int arm_recv(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe = sqe_get(w);
	int idx = conn_idx(w, c);
	if (!sqe) {
		ap_conns_want(&w->slots, AP_Q_REARM, idx);
		return -EBUSY;
	}
	if (w->srv->use_br) {
		io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = BGID;
	} else {
		io_uring_prep_recv(sqe, c->fd, c->fb, (size_t)w->srv->cfg.rx_buffer_bytes, 0);
	}
	io_uring_sqe_set_data64(sqe, UD(OP_RECV, idx, conn_gen(w, c)));
	c->recv_armed = 1;
	ap_conns_op_begin(&w->slots, idx);
	return 0;
}

static void conn_close(struct worker *w, struct conn *c)
{
	if (c->state == C_DEAD)
		return;
	/* pending operations on the socket end with an error or 0; the slot waits
	 * for them before it is reused */
	shutdown(c->fd, SHUT_RDWR);
	close(c->fd);
	c->fd = -1;
	c->state = C_DEAD;
	ap_sched_drop_owner(&w->sched, c);
	pool_release(w, c);
	c->discard = 0;
	c->tx_len = c->tx_sending = 0;
	c->inflight = 0;
	stat_add(&w->st.closed, 1);
	ap_conns_kill(&w->slots, conn_idx(w, c));
}

static void on_accept(struct worker *w, int fd)
{
	int idx = atomic_load(&w->srv->stop) ? -ESHUTDOWN : ap_conns_take(&w->slots);
	if (idx < 0) {
		close(fd); /* at capacity: the device retries with backoff */
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* the slot's lifetime fields live in w->slots, so wiping the session's
	 * fields here cannot unlink anything (conns.h) */
	struct conn *c = &w->conns[idx];
	uint8_t *tx = c->tx, *fb = c->fb;
	memset(c, 0, sizeof(*c));
	c->tx = tx;
	c->fb = fb;
	c->fd = fd;
	c->state = C_HELLO;
	c->pool = -1;
	c->pol = -1;
	c->rx = c->head;
	c->since_ns = now_ns();
	stat_add(&w->st.accepted, 1);
	arm_recv(w, c);
}

static void arm_accept(struct worker *w)
{
	struct io_uring_sqe *sqe = sqe_get(w);
	if (!sqe)
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

static void on_cqe(struct worker *w, struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	int op = UD_OP(ud), res = cqe->res;
	if (op == OP_ACCEPT) {
		if (res >= 0)
			on_accept(w, res);
		if (!(cqe->flags & IORING_CQE_F_MORE))
			w->accept_armed = 0;
		return;
	}
	int idx = UD_IDX(ud);
	if (idx < 0 || idx >= w->slots.n)
		return;
	struct conn *c = &w->conns[idx];
	int stale = !ap_conns_current(&w->slots, idx, UD_GEN(ud));
	if (op == OP_RECV) {
		int bid = cqe->flags & IORING_CQE_F_BUFFER ? (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT) : -1;
		int more = (cqe->flags & IORING_CQE_F_MORE) != 0;
		if (!stale && res > 0 && c->state != C_DEAD)
			feed(w, c, bid >= 0 ? w->bufs + (size_t)bid * (size_t)w->srv->cfg.rx_buffer_bytes
					    : c->fb, (size_t)res);
		if (bid >= 0)
			recycle(w, bid);
		if (!more && !stale) {
			c->recv_armed = 0;
			if (res == 0 || (res < 0 && res != -ENOBUFS)) {
				conn_close(w, c);
			} else if (c->state == C_HELLO || c->state == C_READY) {
				if (res == -ENOBUFS)
					ap_conns_want(&w->slots, AP_Q_REARM, idx);
				else
					arm_recv(w, c);
			}
			ap_conns_op_end(&w->slots, idx);
		}
		return;
	}
	if (op == OP_SEND) {
		if (stale)
			return;
		c->send_busy = 0;
		if (res < 0 || c->state == C_DEAD) {
			conn_close(w, c);
			ap_conns_op_end(&w->slots, idx);
			return;
		}
		stat_add(&w->st.bytes_out, (uint64_t)res);
		memmove(c->tx, c->tx + res, c->tx_len - (size_t)res);
		c->tx_len -= (size_t)res;
		if (c->tx_len)
			mark_dirty(w, c);
		else if (c->state == C_CLOSING)
			conn_close(w, c);
		ap_conns_op_end(&w->slots, idx);
	}
}

static void flush(struct worker *w)
{
	int i;
	while ((i = ap_conns_pop(&w->slots, AP_Q_FLUSH)) >= 0) {
		struct conn *c = &w->conns[i];
		if (c->state == C_DEAD || c->send_busy || !c->tx_len)
			continue;
		struct io_uring_sqe *sqe = sqe_get(w);
		if (!sqe) {
			/* the ring is full: the rest waits for the next turn */
			ap_conns_want(&w->slots, AP_Q_FLUSH, i);
			break;
		}
		io_uring_prep_send(sqe, c->fd, c->tx, c->tx_len, MSG_NOSIGNAL);
		io_uring_sqe_set_data64(sqe, UD(OP_SEND, i, conn_gen(w, c)));
		c->send_busy = 1;
		c->tx_sending = c->tx_len;
		ap_conns_op_begin(&w->slots, i);
	}
	while ((i = ap_conns_pop(&w->slots, AP_Q_REARM)) >= 0) {
		struct conn *c = &w->conns[i];
		if ((c->state == C_HELLO || c->state == C_READY) && !c->recv_armed &&
		    arm_recv(w, c))
			break; /* queued again for the next turn */
	}
}

/* ---- batches ------------------------------------------------------------- */

static void answer(struct worker *w, struct ap_req *r, const struct ap_outcome *o, uint64_t now)
{
	struct conn *c = r->owner;
	size_t len;
	if (conn_gen(w, c) != r->owner_gen || (c->state != C_READY && c->state != C_CLOSING))
		return; /* the device went away */
	c->inflight--;
	if (o->code) {
		if (o->code == CW_ERR_BAD_FRAME)
			stat_add(&w->st.bad_frames, 1);
		reply_error(w, c, r->request_id, o->code, o->msg);
		return;
	}
	uint64_t total_us = (now - r->arrival_ns) / 1000;
	uint64_t work_us = (uint64_t)o->decode_us + o->compute_us;
	struct cw_result res = {
		.request_id = r->request_id,
		.confidence = o->confidence,
		.label = o->label,
		.batch = o->batch ? o->batch : 1,
		.queue_us = (uint32_t)(total_us > work_us ? total_us - work_us : 0),
		.decode_us = o->decode_us,
		.compute_us = o->compute_us,
		.exit = o->exit,
	};
	/* waiting alone: the cost model and the policy's state add the edge's
	 * compute themselves, so counting it here would count it twice */
	res.queue_delay_us = res.queue_us;
	w->qdelay_us = res.queue_delay_us;
	suggest(w, c, r, &res);
	if (!cw_encode_result(w->msgbuf, sizeof(w->msgbuf), &res, &len, NULL, 0))
		reply(w, c, w->msgbuf, len);
	stat_add(&w->st.results, 1);
	latency_add(&w->st, total_us);
}

static uint64_t run_due(struct worker *w)
{
	uint64_t wake = UINT64_MAX;
	for (;;) {
		uint64_t now = now_ns();
		if (!ap_sched_next(&w->sched, now, &w->batch, &wake))
			return wake;
		struct ap_batch *b = &w->batch;
		for (int k = 0; k < b->n_expired; k++) {
			struct ap_req *r = ap_sched_req(&w->sched, b->expired[k]);
			struct ap_outcome o = {.code = CW_ERR_DEADLINE};
			snprintf(o.msg, sizeof(o.msg), "deadline cannot be met (queued %llu us)",
				 (unsigned long long)((now - r->arrival_ns) / 1000));
			answer(w, r, &o, now);
			ap_sched_release(&w->sched, b->expired[k]);
		}
		stat_add(&w->st.expired, (uint64_t)b->n_expired);
		if (!b->n)
			continue;
		ap_tail_run(w->tail, &w->sched, b, w->outc);
		now = now_ns();
		for (int k = 0; k < b->n; k++) {
			answer(w, ap_sched_req(&w->sched, b->idx[k]), &w->outc[k], now);
			ap_sched_release(&w->sched, b->idx[k]);
		}
		stat_add(&w->st.batches, 1);
		stat_add(&w->st.batch_images, (uint64_t)b->n);
	}
}

/* Closes peers that left a message half sent for longer than the idle timeout,
 * or never said HELLO. */
static void sweep(struct worker *w, uint64_t now)
{
	uint64_t limit = (uint64_t)w->srv->cfg.idle_timeout_ms * 1000000ull;
	for (int i = 0; i < w->srv->cfg.max_conns; i++) {
		struct conn *c = &w->conns[i];
		if ((c->state == C_HELLO || c->have || c->discard) && c->state != C_DEAD && now - c->since_ns > limit)
			conn_close(w, c);
	}
}

/* Stopping: the listening socket goes first, so new devices are refused at once
 * rather than left in the backlog; every queued request is answered ERROR
 * shutdown (the devices finish them locally at once instead of waiting for a
 * timeout), and the replies get up to drain_ms to leave before the connections
 * close. */
static void shutdown_gracefully(struct worker *w)
{
	struct ap_sched *s = &w->sched;
	if (w->lfd >= 0) {
		shutdown(w->lfd, SHUT_RDWR); /* ends the multishot accept */
		close(w->lfd);
		w->lfd = -1;
	}
	struct ap_outcome o = {.code = CW_ERR_SHUTDOWN};
	snprintf(o.msg, sizeof(o.msg), "the appliance is stopping");
	uint64_t now = now_ns();
	for (int i = 0; i < s->cfg.max_requests; i++) {
		struct ap_req *r = ap_sched_req(s, i);
		if (r->lane < 0)
			continue;
		answer(w, r, &o, now);
	}
	for (int i = 0; i < w->srv->cfg.max_conns; i++) {
		struct conn *c = &w->conns[i];
		if (c->state == C_HELLO || c->state == C_READY)
			reply_error(w, c, 0, CW_ERR_SHUTDOWN, "the appliance is stopping");
	}
	uint64_t until = now_ns() + (uint64_t)w->srv->cfg.drain_ms * 1000000ull;
	for (;;) {
		flush(w);
		int pending = 0;
		for (int i = 0; i < w->srv->cfg.max_conns; i++) {
			struct conn *c = &w->conns[i];
			pending += (c->state == C_HELLO || c->state == C_READY) && (c->tx_len || c->send_busy);
		}
		uint64_t now2 = now_ns();
		if (!pending || now2 >= until)
			break;
		struct io_uring_cqe *cqe;
		struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 10000000};
		io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);
		unsigned head, n = 0;
		io_uring_for_each_cqe(&w->ring, head, cqe) {
			on_cqe(w, cqe);
			n++;
		}
		io_uring_cq_advance(&w->ring, n);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct ap_server *s = w->srv;
	struct io_uring_cqe *cqe;

	arm_accept(w);
	while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
		atomic_fetch_add_explicit(&w->turns, 1, memory_order_relaxed);
		uint64_t wake = run_due(w);
		flush(w);
		if (!w->accept_armed)
			arm_accept(w);
		uint64_t now = now_ns();
		uint64_t wait_ns = 100000000ull; /* look at the stop flag 10 times a second */
		if (wake != UINT64_MAX)
			wait_ns = wake > now ? (wake - now < wait_ns ? wake - now : wait_ns) : 0;
		struct __kernel_timespec ts = {.tv_sec = (long long)(wait_ns / 1000000000ull),
					       .tv_nsec = (long long)(wait_ns % 1000000000ull)};
		int ret;
		if (wait_ns)
			ret = io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);
		else
			ret = io_uring_submit(&w->ring);
		(void)ret;
		unsigned head, n = 0;
		io_uring_for_each_cqe(&w->ring, head, cqe) {
			on_cqe(w, cqe);
			n++;
		}
		io_uring_cq_advance(&w->ring, n);
		atomic_store_explicit(&w->queued, (uint32_t)ap_sched_queued(&w->sched),
				      memory_order_relaxed);
		now = now_ns();
		if (now >= w->next_sweep_ns) {
			sweep(w, now);
			w->next_sweep_ns = now + 500000000ull;
		}
	}
	shutdown_gracefully(w);
	for (int i = 0; i < s->cfg.max_conns; i++)
		conn_close(w, &w->conns[i]);
	return NULL;
}

/* ---- setup --------------------------------------------------------------- */

static int listen_socket(const struct ap_server_config *cfg, int port, char *err, size_t errlen)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -errno;
	}
	if (inet_pton(AF_INET, cfg->host, &a.sin_addr) != 1) {
		snprintf(err, errlen, "listen address '%s' is not a numeric IPv4 address", cfg->host);
		close(fd);
		return -EINVAL;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4096)) {
		int e = errno;
		snprintf(err, errlen, "bind/listen %s:%d: %s", cfg->host, port, strerror(e));
		close(fd);
		return -e;
	}
	return fd;
}

static void worker_free(struct worker *w)
{
	if (w->ring_ok) {
		if (w->br)
			io_uring_unregister_buf_ring(&w->ring, BGID);
		io_uring_queue_exit(&w->ring);
	}
	if (w->br)
		munmap(w->br, w->br_bytes);
	if (w->lfd >= 0)
		close(w->lfd);
	free(w->bufs);
	free(w->conns);
	ap_conns_free(&w->slots);
	free(w->tx_mem);
	free(w->fb_mem);
	free(w->pool_mem);
	free(w->pool_free);
	free(w->outc);
	for (int i = 0; w->pol && i < w->srv->cfg.n_policies; i++)
		pol_policy_free(w->pol[i]);
	free(w->pol);
	ap_batch_free(&w->batch);
	ap_sched_free(&w->sched);
	ap_tail_destroy(w->tail);
}

static int worker_init(struct ap_server *s, struct worker *w, int id, char *err, size_t errlen)
{
	const struct ap_server_config *cfg = &s->cfg;
	int ret;

	w->srv = s;
	w->id = id;
	w->lfd = -1;
	/* COOP_TASKRUN: completions are reaped by this loop only, so the kernel need
	 * not interrupt it. (SINGLE_ISSUER would bind the ring to the thread that
	 * creates it, which is the starting thread here, not the worker.) */
	struct io_uring_params p = {.flags = IORING_SETUP_COOP_TASKRUN, .cq_entries = 16384};
	p.flags |= IORING_SETUP_CQSIZE;
	if ((ret = io_uring_queue_init_params(4096, &w->ring, &p)) < 0) {
		p.flags = IORING_SETUP_CQSIZE; /* older kernels: without the hints */
		if ((ret = io_uring_queue_init_params(4096, &w->ring, &p)) < 0) {
			snprintf(err, errlen, "io_uring_queue_init: %s", strerror(-ret));
			return ret;
		}
	}
	w->ring_ok = 1;
	size_t nconn = (size_t)cfg->max_conns;
	w->conns = calloc(nconn, sizeof(*w->conns));
	w->tx_mem = malloc(nconn * (size_t)cfg->tx_bytes);
	size_t pool_buf = CW_HEADER_BYTES + s->lim.max_body;
	w->pool_mem = malloc((size_t)cfg->reassembly_buffers * pool_buf);
	w->pool_free = malloc((size_t)cfg->reassembly_buffers * sizeof(int));
	w->outc = malloc((size_t)cfg->max_batch * sizeof(*w->outc));
	if (!w->conns || ap_conns_init(&w->slots, cfg->max_conns) || !w->tx_mem || !w->pool_mem || !w->pool_free ||
	    !w->outc) {
		snprintf(err, errlen, "out of memory for %d connections", cfg->max_conns);
		return -ENOMEM;
	}
	for (int i = 0; i < cfg->max_conns; i++) {
		w->conns[i].tx = w->tx_mem + (size_t)i * (size_t)cfg->tx_bytes;
	}
	for (int i = 0; i < cfg->reassembly_buffers; i++)
		w->pool_free[i] = i;
	w->n_pool = cfg->reassembly_buffers;

	/* Provided buffers when the kernel has them; otherwise a buffer per peer. */
	if (s->use_br) {
		w->bufs = malloc((size_t)cfg->rx_buffers * (size_t)cfg->rx_buffer_bytes);
		if (!w->bufs)
			return -ENOMEM;
		w->br_bytes = (size_t)cfg->rx_buffers * sizeof(struct io_uring_buf);
		w->br = mmap(NULL, w->br_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE,
			     -1, 0);
		if (w->br == MAP_FAILED) {
			w->br = NULL;
			return -ENOMEM;
		}
		struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)w->br,
					       .ring_entries = (unsigned)cfg->rx_buffers,
					       .bgid = BGID};
		io_uring_buf_ring_init(w->br);
		if (io_uring_register_buf_ring(&w->ring, &reg, 0) < 0) {
			munmap(w->br, w->br_bytes);
			w->br = NULL;
			free(w->bufs);
			w->bufs = NULL;
			s->use_br = 0;
		} else {
			for (int b = 0; b < cfg->rx_buffers; b++)
				io_uring_buf_ring_add(w->br, w->bufs + (size_t)b * cfg->rx_buffer_bytes,
						      (unsigned)cfg->rx_buffer_bytes, (unsigned short)b,
						      io_uring_buf_ring_mask((unsigned)cfg->rx_buffers), b);
			io_uring_buf_ring_advance(w->br, cfg->rx_buffers);
		}
	}
	if (!s->use_br) {
		w->fb_mem = malloc(nconn * (size_t)cfg->rx_buffer_bytes);
		if (!w->fb_mem)
			return -ENOMEM;
		for (int i = 0; i < cfg->max_conns; i++)
			w->conns[i].fb = w->fb_mem + (size_t)i * (size_t)cfg->rx_buffer_bytes;
	}

	if (cfg->n_policies) {
		w->pol = calloc((size_t)cfg->n_policies, sizeof(*w->pol));
		if (!w->pol)
			return -ENOMEM;
		for (int i = 0; i < cfg->n_policies; i++)
			if ((ret = pol_policy_dup(cfg->policies[i], &w->pol[i], err, errlen)))
				return ret;
	}

	struct ap_tail_config tc = {.model = s->m, .max_batch = cfg->max_batch,
				    .null_model = cfg->null_model, .limits = s->clim};
	if ((ret = ap_tail_create(&tc, &w->tail, err, errlen)))
		return ret;
	if (cfg->calibrate_runs && !cfg->null_model && (ret = ap_tail_calibrate(w->tail, cfg->calibrate_runs))) {
		snprintf(err, errlen, "calibration failed: %d", ret);
		return ret;
	}
	struct ap_sched_config sc = {
		.max_requests = cfg->max_requests,
		.max_batch = cfg->max_batch,
		.max_delay_ns = cfg->max_delay_us * 1000,
		.small_frame = (size_t)cfg->small_frame,
		.big_frame = cfg->max_frame,
		.big_frames = cfg->big_frames,
		.join = cfg->join,
		.run_late = cfg->run_late,
		.margin_ns = 200000,
		.n_exits = s->m->n_exits,
		.estimate = ap_tail_estimate,
		.estimate_ctx = w->tail,
	};
	for (int e = 0; e < s->m->n_exits; e++)
		sc.exit_len[e] = s->m->exit_len[e];
	if ((ret = ap_sched_init(&w->sched, &sc)) || (ret = ap_batch_init(&w->batch, &w->sched))) {
		snprintf(err, errlen, "scheduler: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

/* Every policy fits the model served and says what its outputs are; a class
 * has one policy. */
static int check_policies(const struct ap_server_config *cfg, const struct cf_model *m, char *err,
			  size_t errlen)
{
	if (cfg->n_policies < 0 || (cfg->n_policies && !cfg->policies)) {
		snprintf(err, errlen, "policies: %d given without a list", cfg->n_policies);
		return -EINVAL;
	}
	for (int i = 0; i < cfg->n_policies; i++) {
		const struct pol_policy *p = cfg->policies[i];
		const char *dc = p->device_class;
		if (!p->actions) {
			snprintf(err, errlen, "policy %d has no action table: it cannot say what its "
					      "outputs mean", i + 1);
			return -EINVAL;
		}
		if (p->state_dim != POL_ENV_STATE_DIM || p->obs_spec != POL_OBS_SPEC) {
			snprintf(err, errlen, "policy for %s takes observation layout %u of %d values, "
					      "the appliance builds layout %d of %d",
				 dc, p->obs_spec, p->state_dim, POL_OBS_SPEC, POL_ENV_STATE_DIM);
			return -EINVAL;
		}
		if (strcmp(p->model, m->name)) {
			snprintf(err, errlen, "policy for %s was trained for model %s, the appliance "
					      "serves %s", dc, p->model, m->name);
			return -EINVAL;
		}
		for (int j = 0; j < i; j++)
			if (!strcmp(cfg->policies[j]->device_class, dc)) {
				snprintf(err, errlen, "policies %d and %d are both for device class %s",
					 j + 1, i + 1, dc);
				return -EINVAL;
			}
		for (int k = 0; k < p->n_actions; k++) {
			const struct pol_action *a = &p->actions[k];
			int ok = a->exit >= 1 && a->exit <= m->n_exits && a->partition >= 0 &&
				 a->partition <= m->exit_len[a->exit - 1] &&
				 (a->bits == 0) == (a->partition == m->exit_len[a->exit - 1]);
			if (!ok) {
				snprintf(err, errlen, "policy for %s: action %d (exit %d, partition %d, "
						      "bits %d) does not fit model %s", dc, k, a->exit,
					 a->partition, a->bits, m->name);
				return -EINVAL;
			}
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
			stat_add(&w->st.stalls, 1);
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
	if (ap_watch_init(&wd, s->cfg.workers, (uint64_t)s->cfg.watchdog_ms * 1000000ull, now_ns())) {
		fprintf(stderr, "{\"event\": \"watchdog_failed\", \"error\": \"out of memory\"}\n");
		return NULL;
	}
	long step_ms = s->cfg.watchdog_ms / 4 < 100 ? s->cfg.watchdog_ms / 4 + 1 : 100;
	/* runs through the stop too: a worker stuck in its drain is reported */
	while (atomic_load(&s->stop) < 2) {
		struct timespec ts = {.tv_sec = step_ms / 1000, .tv_nsec = step_ms % 1000 * 1000000L};
		nanosleep(&ts, NULL);
		watch_once(s, &wd, now_ns());
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
	clock_gettime(CLOCK_REALTIME, &until); /* pthread_timedjoin_np's clock */
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

int ap_server_stop(struct ap_server *s)
{
	if (!s)
		return 0;
	atomic_store(&s->stop, 1);
	if (join_workers(s))
		return -ETIMEDOUT;
	atomic_store(&s->stop, 2);
	if (s->watchdog_started)
		pthread_join(s->watchdog, NULL);
	for (int i = 0; i < s->cfg.workers; i++)
		worker_free(&s->w[i]);
	free(s->w);
	free(s);
	return 0;
}

int ap_server_start(const struct ap_server_config *cfg, const struct cf_model *m,
		    struct ap_server **out, char *err, size_t errlen)
{
	struct ap_server *s;
	int ret;

	*out = NULL;
	if (cfg->workers < 1 || cfg->max_conns < 1 || cfg->max_conns > (1 << 24) ||
	    cfg->max_inflight < 1 || cfg->max_inflight > 65535 || cfg->rx_buffers < 1 ||
	    (cfg->rx_buffers & (cfg->rx_buffers - 1)) || cfg->rx_buffers > 32768 ||
	    cfg->tx_bytes < 512 || cfg->small_frame < 0 || (uint32_t)cfg->small_frame > cfg->max_frame ||
	    cfg->drain_ms < 0 || cfg->watchdog_ms < 0) {
		snprintf(err, errlen, "server configuration out of range (workers, max_conns, "
				      "max_inflight, rx_buffers a power of two <= 32768, tx_bytes >= 512, "
				      "drain_ms and watchdog_ms >= 0)");
		return -EINVAL;
	}
	if ((ret = check_policies(cfg, m, err, errlen)))
		return ret;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	s->m = m;
	s->lim = cw_limits_make(cfg->max_frame, CW_DEFAULT_MAX_PADDING);
	s->clim.max_elems = 1u << 24;
	s->clim.max_frame_bytes = cfg->max_frame;
	s->use_br = !cfg->no_buf_ring;
	s->w = calloc((size_t)cfg->workers, sizeof(*s->w));
	if (!s->w) {
		free(s);
		return -ENOMEM;
	}
	int port = cfg->port;
	for (int i = 0; i < cfg->workers; i++) {
		struct worker *w = &s->w[i];
		if ((ret = worker_init(s, w, i, err, errlen)))
			goto err;
		if ((ret = w->lfd = listen_socket(cfg, port, err, errlen)) < 0)
			goto err;
		if (!port) {
			/* port 0: the first worker picks one, the others share it */
			struct sockaddr_in a;
			socklen_t al = sizeof(a);
			getsockname(w->lfd, (struct sockaddr *)&a, &al);
			port = ntohs(a.sin_port);
		}
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

void ap_server_stats(const struct ap_server *s, struct ap_stats *o)
{
	memset(o, 0, sizeof(*o));
	for (int i = 0; i < s->cfg.workers; i++) {
		const struct ap_stats *t = &s->w[i].st;
#define SUM(f) atomic_store(&o->f, atomic_load(&o->f) + atomic_load(&t->f))
		SUM(accepted), SUM(closed), SUM(requests), SUM(results), SUM(errors), SUM(busy);
		SUM(expired), SUM(bad_frames), SUM(batches), SUM(batch_images), SUM(bytes_in);
		SUM(bytes_out), SUM(protocol_errors), SUM(decisions), SUM(suggestions), SUM(stalls);
		SUM(latency_sum_us);
		for (int b = 0; b < AP_LATENCY_BUCKETS; b++)
			SUM(latency[b]);
#undef SUM
	}
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
	return s->use_br ? "multishot recv with provided buffer ring" : "recv into per-connection buffers";
}
