/* The epoll peer of the appliance (design in appliance-epoll.h). Message
 * handling, admission, answers and buffer sizes follow appliance/server.c so
 * that the two differ in their I/O loop only. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "appliance-epoll.h"
#include "coinfer/dataset.h"
#include "coinfer/model.h"
#include "coinfer/proto.h"
#include "scheduler.h"
#include "tail.h"

/* the appliance's defaults (ap_server_defaults) */
#define RX_BYTES 16384      /* its rx_buffer_bytes */
#define TX_BYTES 16384      /* its tx_bytes */
#define POOL_BUFS 64        /* its reassembly_buffers */
#define SMALL_FRAME 8192 /* defaults, as the appliance */
#define BIG_FRAMES 256
#define MAX_FRAME (160u << 10)
#define LISTEN_TAG UINT64_MAX

enum { C_FREE = 0, C_HELLO, C_READY, C_CLOSING };

struct econf {
	const char *model;
	int port, workers, max_conns, max_inflight, max_requests, max_batch, null_model;
	int calibrate_runs, small_frame, big_frames;
	uint64_t max_delay_us;
};

struct estats {
	uint64_t accepted, closed, requests, results, errors, busy, expired, bad_frames, batches,
		batch_images, bytes_in, bytes_out, protocol_errors;
};

struct econn {
	int fd, state;
	uint32_t gen;
	int inflight;
	uint8_t *rx; /* RX_BYTES: whole messages are parsed in place */
	size_t rlen;
	int pool;    /* a message above RX_BYTES is read into a pool buffer */
	size_t have, need;
	size_t discard; /* bytes of a message being dropped (pool empty) */
	uint64_t discard_id;
	uint8_t *tx;
	size_t tx_len;
	int dirty, next_dirty;
};

struct eserver;

struct eworker {
	struct eserver *srv;
	int id, ep, lfd;
	pthread_t th;
	struct econn *conns;
	int *free_conns, n_free;
	uint8_t *rx_mem, *tx_mem, *pool_mem;
	int *pool_free, n_pool;
	struct ap_sched sched;
	struct ap_batch batch;
	struct ap_tail *tail;
	struct ap_outcome *outc;
	struct estats st;
	int dirty_head;
	uint64_t session_seq;
	uint8_t msgbuf[512];
	struct epoll_event ev[1024];
};

struct eserver {
	struct econf cfg;
	const struct cf_model *m;
	struct cw_limits lim;
	struct cc_limits clim;
	struct eworker *w;
	int port;
	_Atomic int stop;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t ev_tag(const struct eworker *w, const struct econn *c)
{
	return (uint64_t)c->gen << 32 | (uint64_t)(c - w->conns);
}

/* ---- connections and replies ------------------------------------------------ */

static void pool_release(struct eworker *w, struct econn *c)
{
	if (c->pool >= 0)
		w->pool_free[w->n_pool++] = c->pool;
	c->pool = -1;
	c->have = c->need = 0;
}

static void conn_close(struct eworker *w, struct econn *c)
{
	if (c->state == C_FREE)
		return;
	close(c->fd); /* also leaves the epoll set */
	c->fd = -1;
	ap_sched_drop_owner(&w->sched, c);
	pool_release(w, c);
	c->state = C_FREE;
	c->gen++;
	c->rlen = c->tx_len = c->discard = 0;
	c->inflight = 0;
	w->free_conns[w->n_free++] = (int)(c - w->conns);
	w->st.closed++;
}

static void mark_dirty(struct eworker *w, struct econn *c)
{
	if (!c->dirty) {
		c->dirty = 1;
		c->next_dirty = w->dirty_head;
		w->dirty_head = (int)(c - w->conns);
	}
}

static void reply(struct eworker *w, struct econn *c, const uint8_t *msg, size_t len)
{
	if (c->state == C_FREE)
		return;
	if (c->tx_len + len > TX_BYTES) {
		conn_close(w, c); /* not reading its replies */
		return;
	}
	memcpy(c->tx + c->tx_len, msg, len);
	c->tx_len += len;
	mark_dirty(w, c);
}

static void reply_error(struct eworker *w, struct econn *c, uint64_t id, int code, const char *msg)
{
	struct cw_error e = {.request_id = id, .code = (uint16_t)code};
	size_t len;
	snprintf(e.msg, sizeof(e.msg), "%s", msg);
	for (char *p = e.msg; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
	if (!cw_encode_error(w->msgbuf, sizeof(w->msgbuf), &e, &len, NULL, 0))
		reply(w, c, w->msgbuf, len);
	w->st.errors++;
}

static void protocol_error(struct eworker *w, struct econn *c, int ret, const char *why)
{
	w->st.protocol_errors++;
	reply_error(w, c, 0, cw_error_for(ret), why);
	if (c->state != C_FREE)
		c->state = C_CLOSING;
}

/* ---- messages ---------------------------------------------------------------- */

static void on_infer(struct eworker *w, struct econn *c, const struct cw_infer *m)
{
	const struct cf_model *mod = w->srv->m;
	struct ap_sched *s = &w->sched;
	if (c->inflight >= w->srv->cfg.max_inflight) {
		w->st.busy++;
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
		w->st.busy++;
		reply_error(w, c, m->request_id, i == -EMSGSIZE ? CW_ERR_TOO_LARGE : CW_ERR_BUSY,
			    i == -EMSGSIZE ? "frame above the limit" : "appliance queue full");
		return;
	}
	struct ap_req *r = ap_sched_req(s, i);
	uint64_t now = now_ns();
	r->request_id = m->request_id;
	r->owner = c;
	r->owner_gen = c->gen;
	r->arrival_ns = now;
	r->deadline_ns = now + (uint64_t)m->deadline_us * 1000;
	r->device_us = m->device_us;
	r->exit = m->action.exit;
	r->partition = m->action.partition;
	r->bits = m->action.bits;
	r->flags = m->flags;
	memcpy(r->frame, m->frame, m->frame_len);
	r->frame_len = m->frame_len;
	ap_sched_push(s, i);
	c->inflight++;
	w->st.requests++;
}

static void handle_msg(struct eworker *w, struct econn *c, const uint8_t *msg, size_t len)
{
	struct cw_msg m;
	char err[160];
	size_t olen;
	int ret = cw_decode(msg, len, &w->srv->lim, &m, err, sizeof(err));
	if (ret) {
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
			reply_error(w, c, 0, CW_ERR_MODEL_MISMATCH, "model checksum differs");
			c->state = C_CLOSING;
			return;
		}
		c->state = C_READY;
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
		struct cw_pong p = {.nonce = m.ping.nonce, .timestamp = m.ping.timestamp,
				    .padding_len = m.ping.padding_len};
		if (!cw_encode_pong(w->msgbuf, sizeof(w->msgbuf), &p, &olen, NULL, 0))
			reply(w, c, w->msgbuf, olen);
		return;
	}
	case CW_DECIDE:
		reply_error(w, c, m.request_id, CW_ERR_UNSUPPORTED, "no policy loaded");
		return;
	default:
		snprintf(err, sizeof(err), "%s is not a request", cw_type_name(m.type));
		reply_error(w, c, m.request_id, CW_ERR_BAD_REQUEST, err);
		return;
	}
}

static uint64_t rd64le(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static int alive(const struct econn *c)
{
	return c->state == C_HELLO || c->state == C_READY;
}

/* Parses the whole messages in c->rx; a partial one is kept at the front, one
 * too large for rx moves to a pool buffer (or is dropped, answered busy). */
static void parse_rx(struct eworker *w, struct econn *c)
{
	const struct cw_limits *lim = &w->srv->lim;
	char err[160];
	size_t off = 0;
	while (alive(c)) {
		size_t avail = c->rlen - off;
		struct cw_header h;
		int r = cw_parse_header(c->rx + off, avail, lim, &h, err, sizeof(err));
		if (r == -EAGAIN)
			break;
		if (r) {
			protocol_error(w, c, r, err);
			break;
		}
		if (h.msg_len <= avail) {
			handle_msg(w, c, c->rx + off, h.msg_len);
			off += h.msg_len;
			continue;
		}
		if (h.msg_len > RX_BYTES) {
			if (w->n_pool) {
				c->pool = w->pool_free[--w->n_pool];
				uint8_t *b = w->pool_mem + (size_t)c->pool * (CW_HEADER_BYTES + lim->max_body);
				memcpy(b, c->rx + off, avail);
				c->have = avail;
				c->need = h.msg_len;
			} else {
				c->discard = h.msg_len - avail;
				c->discard_id = h.type == CW_INFER && avail >= CW_HEADER_BYTES + 8
							? rd64le(c->rx + off + CW_HEADER_BYTES)
							: 0;
				w->st.busy++;
			}
			off = c->rlen;
		}
		break;
	}
	if (c->state == C_FREE)
		return;
	if (off) {
		memmove(c->rx, c->rx + off, c->rlen - off);
		c->rlen -= off;
	}
}

/* Edge-triggered: read until the socket is drained. A read shorter than asked
 * drained it (a stream socket returns what it has), and bytes arriving later
 * raise a new edge, so the EAGAIN read that would confirm it is skipped; not
 * when the peer hung up, whose EOF must be read now. */
static void conn_read(struct eworker *w, struct econn *c, int hup)
{
	const struct cw_limits *lim = &w->srv->lim;
	while (alive(c)) {
		uint8_t *dst;
		size_t want;
		if (c->pool >= 0) {
			dst = w->pool_mem + (size_t)c->pool * (CW_HEADER_BYTES + lim->max_body) + c->have;
			want = c->need - c->have;
		} else if (c->discard) {
			dst = c->rx; /* rlen is 0 while discarding */
			want = c->discard < RX_BYTES ? c->discard : RX_BYTES;
		} else {
			dst = c->rx + c->rlen;
			want = RX_BYTES - c->rlen;
		}
		ssize_t n = recv(c->fd, dst, want, 0);
		if (n <= 0) {
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return;
			if (n < 0 && errno == EINTR)
				continue;
			conn_close(w, c);
			return;
		}
		w->st.bytes_in += (uint64_t)n;
		int drained = (size_t)n < want && !hup;
		if (c->pool >= 0) {
			c->have += (size_t)n;
			if (c->have == c->need) {
				handle_msg(w, c, w->pool_mem + (size_t)c->pool * (CW_HEADER_BYTES + lim->max_body),
					   c->need);
				pool_release(w, c);
			}
		} else if (c->discard) {
			c->discard -= (size_t)n;
			if (!c->discard)
				reply_error(w, c, c->discard_id, CW_ERR_BUSY,
					    "appliance reassembly buffers full");
		} else {
			c->rlen += (size_t)n;
			parse_rx(w, c);
		}
		if (drained)
			return;
	}
}

static void on_accept(struct eworker *w)
{
	for (;;) {
		int fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (!w->n_free || atomic_load(&w->srv->stop)) {
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct econn *c = &w->conns[w->free_conns[--w->n_free]];
		c->fd = fd;
		c->state = C_HELLO;
		c->pool = -1;
		c->rlen = c->tx_len = c->have = c->need = c->discard = 0;
		c->inflight = 0;
		struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
					 .data.u64 = ev_tag(w, c)};
		if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev)) {
			c->state = C_READY;
			conn_close(w, c);
			continue;
		}
		w->st.accepted++;
	}
}

/* One send() per connection with replies queued. */
static void flush(struct eworker *w)
{
	while (w->dirty_head >= 0) {
		struct econn *c = &w->conns[w->dirty_head];
		w->dirty_head = c->next_dirty;
		c->dirty = 0;
		if (c->state == C_FREE || !c->tx_len)
			continue;
		ssize_t n = send(c->fd, c->tx, c->tx_len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				conn_close(w, c);
			continue; /* EPOLLOUT (edge) says when to go on */
		}
		w->st.bytes_out += (uint64_t)n;
		memmove(c->tx, c->tx + n, c->tx_len - (size_t)n);
		c->tx_len -= (size_t)n;
		if (!c->tx_len && c->state == C_CLOSING)
			conn_close(w, c);
	}
}

/* ---- batches (as appliance/server.c) ----------------------------------------- */

static void answer(struct eworker *w, struct ap_req *r, const struct ap_outcome *o, uint64_t now)
{
	struct econn *c = r->owner;
	size_t len;
	if (c->gen != r->owner_gen || (c->state != C_READY && c->state != C_CLOSING))
		return;
	c->inflight--;
	if (o->code) {
		if (o->code == CW_ERR_BAD_FRAME)
			w->st.bad_frames++;
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
		.queue_delay_us = (uint32_t)total_us,
		.exit = o->exit,
	};
	if (!cw_encode_result(w->msgbuf, sizeof(w->msgbuf), &res, &len, NULL, 0))
		reply(w, c, w->msgbuf, len);
	w->st.results++;
}

static uint64_t run_due(struct eworker *w)
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
			snprintf(o.msg, sizeof(o.msg), "deadline cannot be met");
			answer(w, r, &o, now);
			ap_sched_release(&w->sched, b->expired[k]);
		}
		w->st.expired += (uint64_t)b->n_expired;
		if (!b->n)
			continue;
		ap_tail_run(w->tail, &w->sched, b, w->outc);
		now = now_ns();
		for (int k = 0; k < b->n; k++) {
			answer(w, ap_sched_req(&w->sched, b->idx[k]), &w->outc[k], now);
			ap_sched_release(&w->sched, b->idx[k]);
		}
		w->st.batches++;
		w->st.batch_images += (uint64_t)b->n;
	}
}

static void *worker_main(void *arg)
{
	struct eworker *w = arg;
	while (!atomic_load_explicit(&w->srv->stop, memory_order_relaxed)) {
		uint64_t wake = run_due(w);
		flush(w);
		uint64_t now = now_ns(), wait_ns = 100000000ull;
		if (wake != UINT64_MAX)
			wait_ns = wake > now ? (wake - now < wait_ns ? wake - now : wait_ns) : 0;
		struct timespec ts = {.tv_sec = (time_t)(wait_ns / 1000000000ull),
				      .tv_nsec = (long)(wait_ns % 1000000000ull)};
		int n = epoll_pwait2(w->ep, w->ev, 1024, &ts, NULL);
		for (int i = 0; i < n; i++) {
			uint64_t tag = w->ev[i].data.u64;
			if (tag == LISTEN_TAG) {
				on_accept(w);
				continue;
			}
			struct econn *c = &w->conns[(uint32_t)tag];
			if (c->state == C_FREE || c->gen != (uint32_t)(tag >> 32))
				continue; /* closed earlier in this batch */
			uint32_t e = w->ev[i].events;
			if (e & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))
				conn_read(w, c, (e & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) != 0);
			if (c->state != C_FREE && (e & EPOLLOUT) && c->tx_len)
				mark_dirty(w, c);
		}
	}
	for (int i = 0; i < w->srv->cfg.max_conns; i++)
		conn_close(w, &w->conns[i]);
	return NULL;
}

/* ---- setup ------------------------------------------------------------------------ */

static int listen_socket(int port, char *err, size_t errlen)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4096)) {
		snprintf(err, errlen, "bind/listen 127.0.0.1:%d: %s", port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int worker_init(struct eserver *s, struct eworker *w, int id, char *err, size_t errlen)
{
	const struct econf *cfg = &s->cfg;
	w->srv = s;
	w->id = id;
	w->dirty_head = -1;
	w->lfd = -1;
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	size_t nconn = (size_t)cfg->max_conns, pool_buf = CW_HEADER_BYTES + s->lim.max_body;
	w->conns = calloc(nconn, sizeof(*w->conns));
	w->free_conns = malloc(nconn * sizeof(int));
	w->rx_mem = malloc(nconn * RX_BYTES);
	w->tx_mem = malloc(nconn * TX_BYTES);
	w->pool_mem = malloc(POOL_BUFS * pool_buf);
	w->pool_free = malloc(POOL_BUFS * sizeof(int));
	w->outc = malloc((size_t)cfg->max_batch * sizeof(*w->outc));
	if (w->ep < 0 || !w->conns || !w->free_conns || !w->rx_mem || !w->tx_mem || !w->pool_mem ||
	    !w->pool_free || !w->outc) {
		snprintf(err, errlen, "out of memory for %d connections", cfg->max_conns);
		return -1;
	}
	for (int i = 0; i < cfg->max_conns; i++) {
		w->conns[i].rx = w->rx_mem + (size_t)i * RX_BYTES;
		w->conns[i].tx = w->tx_mem + (size_t)i * TX_BYTES;
		w->conns[i].fd = -1;
		w->conns[i].pool = -1;
		w->free_conns[i] = cfg->max_conns - 1 - i;
	}
	w->n_free = cfg->max_conns;
	for (int i = 0; i < POOL_BUFS; i++)
		w->pool_free[i] = i;
	w->n_pool = POOL_BUFS;
	struct ap_tail_config tc = {.model = s->m, .max_batch = cfg->max_batch,
				    .null_model = cfg->null_model, .limits = s->clim};
	if (ap_tail_create(&tc, &w->tail, err, errlen))
		return -1;
	if (cfg->calibrate_runs && !cfg->null_model && ap_tail_calibrate(w->tail, cfg->calibrate_runs)) {
		snprintf(err, errlen, "calibration failed");
		return -1;
	}
	struct ap_sched_config sc = {
		.max_requests = cfg->max_requests,
		.max_batch = cfg->max_batch,
		.max_delay_ns = cfg->max_delay_us * 1000,
		.small_frame = (size_t)s->cfg.small_frame,
		.big_frame = MAX_FRAME,
		.big_frames = s->cfg.big_frames,
		.join = 1,
		.margin_ns = 200000,
		.n_exits = s->m->n_exits,
		.estimate = ap_tail_estimate,
		.estimate_ctx = w->tail,
	};
	for (int e = 0; e < s->m->n_exits; e++)
		sc.exit_len[e] = s->m->exit_len[e];
	if (ap_sched_init(&w->sched, &sc) || ap_batch_init(&w->batch, &w->sched)) {
		snprintf(err, errlen, "scheduler init failed");
		return -1;
	}
	return 0;
}

static void worker_free(struct eworker *w)
{
	if (w->ep >= 0)
		close(w->ep);
	if (w->lfd >= 0)
		close(w->lfd);
	free(w->conns);
	free(w->free_conns);
	free(w->rx_mem);
	free(w->tx_mem);
	free(w->pool_mem);
	free(w->pool_free);
	free(w->outc);
	ap_batch_free(&w->batch);
	ap_sched_free(&w->sched);
	ap_tail_destroy(w->tail);
}

static long peak_rss_kb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

int ab_serve_epoll(int argc, char **argv)
{
	struct eserver s;
	memset(&s, 0, sizeof(s));
	struct econf *cfg = &s.cfg;
	*cfg = (struct econf){.port = 0, .workers = 2, .max_conns = 1024, .max_inflight = 16,
			      .max_requests = 2048, .max_batch = 32, .max_delay_us = 2000,
			      .calibrate_runs = 5, .small_frame = SMALL_FRAME, .big_frames = BIG_FRAMES};
	enum { O_PORT = 256, O_WORKERS, O_CONNS, O_INFL, O_REQS, O_BATCH, O_DELAY, O_NULL, O_CAL,
	       O_MODEL, O_SMALL, O_BIG };
	static const struct option opts[] = {
		{"port", required_argument, 0, O_PORT}, {"workers", required_argument, 0, O_WORKERS},
		{"max-conns", required_argument, 0, O_CONNS},
		{"max-inflight", required_argument, 0, O_INFL},
		{"max-requests", required_argument, 0, O_REQS},
		{"max-batch", required_argument, 0, O_BATCH},
		{"max-delay-us", required_argument, 0, O_DELAY},
		{"null-model", no_argument, 0, O_NULL},
		{"calibrate-runs", required_argument, 0, O_CAL},
		{"model", required_argument, 0, O_MODEL},
		{"small-frame", required_argument, 0, O_SMALL},
		{"big-frames", required_argument, 0, O_BIG}, {0, 0, 0, 0},
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		long v = optarg ? strtol(optarg, NULL, 10) : 0;
		switch (c) {
		case O_PORT: cfg->port = (int)v; break;
		case O_WORKERS: cfg->workers = (int)v; break;
		case O_CONNS: cfg->max_conns = (int)v; break;
		case O_INFL: cfg->max_inflight = (int)v; break;
		case O_REQS: cfg->max_requests = (int)v; break;
		case O_BATCH: cfg->max_batch = (int)v; break;
		case O_DELAY: cfg->max_delay_us = (uint64_t)v; break;
		case O_NULL: cfg->null_model = 1; break;
		case O_CAL: cfg->calibrate_runs = (int)v; break;
		case O_MODEL: cfg->model = optarg; break;
		case O_SMALL: cfg->small_frame = (int)v; break;
		case O_BIG: cfg->big_frames = (int)v; break;
		default: return 2;
		}
	}
	if (cfg->workers < 1 || cfg->max_conns < 1 || cfg->max_inflight < 1 ||
	    cfg->max_inflight > 65535 || cfg->max_requests < 1 || cfg->max_batch < 1) {
		fprintf(stderr, "serve-epoll: option out of range\n");
		return 2;
	}
	char err[512];
	struct cf_model *m;
	const char *path = cfg->model ? cfg->model : cf_default_model_path();
	if (!path || cf_model_load(path, &m, err, sizeof(err))) {
		fprintf(stderr, "serve-epoll: model: %s\n", path ? err : "none found");
		return 1;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	s.m = m;
	s.lim = cw_limits_make(MAX_FRAME, CW_DEFAULT_MAX_PADDING);
	s.clim.max_elems = 1u << 24;
	s.clim.max_frame_bytes = MAX_FRAME;
	s.w = calloc((size_t)cfg->workers, sizeof(*s.w));
	int port = cfg->port, ret = 1;
	for (int i = 0; i < cfg->workers; i++) {
		s.w[i].ep = s.w[i].lfd = -1;
		if (worker_init(&s, &s.w[i], i, err, sizeof(err)) ||
		    (s.w[i].lfd = listen_socket(port, err, sizeof(err))) < 0) {
			fprintf(stderr, "serve-epoll: %s\n", err);
			goto out;
		}
		if (!port) {
			struct sockaddr_in a;
			socklen_t al = sizeof(a);
			getsockname(s.w[i].lfd, (struct sockaddr *)&a, &al);
			port = ntohs(a.sin_port);
		}
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = LISTEN_TAG};
		epoll_ctl(s.w[i].ep, EPOLL_CTL_ADD, s.w[i].lfd, &ev);
	}
	s.port = port;
	for (int i = 0; i < cfg->workers; i++)
		pthread_create(&s.w[i].th, NULL, worker_main, &s.w[i]);
	printf("{\"event\": \"listening\", \"host\": \"127.0.0.1\", \"port\": %d, \"workers\": %d, "
	       "\"rx\": \"epoll edge-triggered, recv() into per-connection buffers\", \"model\": \"%s\", "
	       "\"null_model\": %s, \"max_batch\": %d, \"max_delay_us\": %llu, \"peak_rss_kb\": %ld}\n",
	       port, cfg->workers, m->name, cfg->null_model ? "true" : "false", cfg->max_batch,
	       (unsigned long long)cfg->max_delay_us, peak_rss_kb());
	fflush(stdout);
	int sig;
	sigwait(&set, &sig);
	atomic_store(&s.stop, 1);
	for (int i = 0; i < cfg->workers; i++)
		pthread_join(s.w[i].th, NULL);
	struct estats t = {0};
	for (int i = 0; i < cfg->workers; i++) {
		const struct estats *x = &s.w[i].st;
		t.accepted += x->accepted, t.closed += x->closed, t.requests += x->requests;
		t.results += x->results, t.errors += x->errors, t.busy += x->busy;
		t.expired += x->expired, t.bad_frames += x->bad_frames, t.batches += x->batches;
		t.batch_images += x->batch_images, t.bytes_in += x->bytes_in;
		t.bytes_out += x->bytes_out, t.protocol_errors += x->protocol_errors;
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
		     (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
	printf("{\"event\": \"stopped\", \"signal\": \"%s\", \"accepted\": %llu, \"closed\": %llu, "
	       "\"requests\": %llu, \"results\": %llu, \"errors\": %llu, \"busy\": %llu, "
	       "\"expired\": %llu, \"bad_frames\": %llu, \"protocol_errors\": %llu, \"batches\": %llu, "
	       "\"mean_batch\": %.2f, \"bytes_in\": %llu, \"bytes_out\": %llu, \"cpu_s\": %.3f, "
	       "\"peak_rss_kb\": %ld}\n",
	       strsignal(sig), (unsigned long long)t.accepted, (unsigned long long)t.closed,
	       (unsigned long long)t.requests, (unsigned long long)t.results,
	       (unsigned long long)t.errors, (unsigned long long)t.busy,
	       (unsigned long long)t.expired, (unsigned long long)t.bad_frames,
	       (unsigned long long)t.protocol_errors, (unsigned long long)t.batches,
	       t.batches ? (double)t.batch_images / (double)t.batches : 0.0,
	       (unsigned long long)t.bytes_in, (unsigned long long)t.bytes_out, cpu, peak_rss_kb());
	fflush(stdout);
	ret = 0;
out:
	for (int i = 0; i < cfg->workers; i++)
		worker_free(&s.w[i]);
	free(s.w);
	cf_model_free(m);
	return ret;
}
