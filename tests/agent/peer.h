/* A scripted edge for the agent tests: a thread that listens on loopback and
 * speaks the real protocol through proto's encoders and reader. For each INFER it
 * asks the test's script what to do: answer (decoding the frame and running the
 * tail with the real runtime, so the label is what the edge would say), refuse
 * with an ERROR, stay silent, send garbage, or close. peer_freeze stops it as
 * SIGSTOP stops a process (the kernel still completes connections and buffers
 * what the agents send; nothing is read or answered until peer_thaw). A test
 * fixture, not a
 * shipped mock: header-only, used by the criterion tests and by the plain-C
 * aarch64 test. */
#ifndef COINFER_TEST_AGENT_PEER_H
#define COINFER_TEST_AGENT_PEER_H

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coinfer/clock.h"
#include "coinfer/codec-frame.h"
#include "coinfer/exec.h"
#include "coinfer/model.h"
#include "coinfer/wire.h"

enum peer_act {
	PEER_ANSWER,   /* RESULT with the tail computed here */
	PEER_BUSY,     /* ERROR busy */
	PEER_DEADLINE, /* ERROR deadline */
	PEER_SHUTDOWN, /* ERROR shutdown (id 0 too), then close */
	PEER_SILENT,   /* nothing */
	PEER_GARBAGE,  /* 16 bytes that are no header */
	PEER_CLOSE,    /* close the connection */
	PEER_BADRESULT /* a RESULT for a request never sent */
};

#define PEER_MAX_CONNS 128
#define PEER_MAX_DELAYED 1024
#define PEER_MAX_ARRIVALS 1024

struct peer;
typedef enum peer_act (*peer_script)(struct peer *p, uint64_t k /* INFERs so far, 0-based */);

struct peer_conn {
	int fd;
	struct cw_reader rd;
	uint8_t *buf;
	int hello;
};

struct peer_delayed {
	int conn, fd;
	uint64_t due_ns;
	uint8_t msg[CW_HEADER_BYTES + 64];
	size_t len;
};

struct peer {
	const struct cr_model *m;
	peer_script script;
	void *ctx;
	uint64_t checksum; /* announced in WELCOME (the model's unless a test changes it) */
	uint16_t max_inflight;
	int delay_ms; /* RESULTs are sent this long after the INFER arrived */
	/* The test's clock (ns), when its agents run on one: delay_ms is timed on it,
	 * and each INFER's arrival is noted on it (arr_id, arr_ns; n_arr of them).
	 * The clock only moves forward, so a reply is never sent before delay_ms of
	 * it passed, and an INFER's noted arrival is never before its send. */
	_Atomic uint64_t *vclock;
	uint64_t arr_id[PEER_MAX_ARRIVALS], arr_ns[PEER_MAX_ARRIVALS];
	atomic_int n_arr;
	int lfd, port;
	pthread_t tid;
	atomic_int stop;
	atomic_int frozen;    /* peer_freeze: the thread does nothing */
	atomic_int close_all; /* on thaw, every connection is closed before anything is read */
	atomic_uint_fast64_t conns, hellos, infers, pings, results, errors;
	struct peer_conn c[PEER_MAX_CONNS];
	struct peer_delayed d[PEER_MAX_DELAYED];
	int nd;
	struct cw_limits lim;
	struct cr_exec *x;
	float *row;
	void *scratch;
	size_t scratch_bytes, max_floats;
};

static inline uint64_t peer_now(const struct peer *p)
{
	return p->vclock ? atomic_load(p->vclock) : cf_now_ns();
}

static inline void peer_send(int fd, const uint8_t *b, size_t n)
{
	while (n) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		b += w;
		n -= (size_t)w;
	}
}

static inline void peer_close(struct peer *p, int i)
{
	if (p->c[i].fd >= 0)
		close(p->c[i].fd);
	p->c[i].fd = -1;
	free(p->c[i].buf);
	p->c[i].buf = NULL;
	for (int k = 0; k < p->nd; k++)
		if (p->d[k].conn == i)
			p->d[k].fd = -1;
}

static inline void peer_error(int fd, uint64_t id, uint16_t code)
{
	struct cw_error e = {.request_id = id, .code = code};
	snprintf(e.msg, sizeof(e.msg), "scripted %s", cw_error_name((enum cw_error_code)code));
	uint8_t b[CW_HEADER_BYTES + CW_SMALL_BODY_MAX];
	size_t len;
	if (!cw_encode_error(b, sizeof(b), &e, &len, NULL, 0))
		peer_send(fd, b, len);
}

/* The tail of the INFER's exit from its partition: label and confidence. */
static inline int peer_tail(struct peer *p, const struct cw_infer *in, struct cw_result *r)
{
	const struct cr_model *m = p->m;
	int e = in->action.exit, q = in->action.partition;
	if (e >= m->n_exits || q >= m->exit_len[e])
		return -1;
	size_t want = cr_model_boundary_floats(m, e, q);
	struct cc_limits lim = {.max_elems = p->max_floats, .max_frame_bytes = 1u << 22};
	uint64_t t0 = cf_now_ns();
	if (cc_frame_decode(in->frame, in->frame_len, &lim, p->row, want, p->scratch, p->scratch_bytes,
			    NULL, NULL, 0))
		return -1;
	uint64_t t1 = cf_now_ns();
	const float *o;
	cr_exec_run(p->x, e, q, m->exit_len[e], p->row, 1, &o);
	uint64_t t2 = cf_now_ns();
	int best = 0;
	for (int i = 1; i < m->n_classes; i++)
		if (o[i] > o[best])
			best = i;
	double sum = 0;
	for (int i = 0; i < m->n_classes; i++)
		sum += exp((double)(o[i] - o[best]));
	r->request_id = in->request_id;
	r->label = (uint16_t)best;
	r->confidence = (float)(1.0 / sum);
	r->batch = 1;
	r->decode_us = (uint32_t)((t1 - t0) / 1000);
	r->compute_us = (uint32_t)((t2 - t1) / 1000);
	r->exit = (uint8_t)e;
	return 0;
}

/* One message on connection i; -1 closes it. */
static inline int peer_on_msg(struct peer *p, int i, const struct cw_msg *msg)
{
	int fd = p->c[i].fd;
	uint8_t b[CW_HEADER_BYTES + 64];
	size_t len;
	if (msg->type == CW_HELLO) {
		atomic_fetch_add(&p->hellos, 1);
		struct cw_welcome w = {.session_id = (uint64_t)i + 1, .model_checksum = p->checksum,
				       .max_frame = 1u << 20, .max_padding = 1u << 20,
				       .max_inflight = p->max_inflight};
		if (msg->hello.model_checksum != p->checksum) {
			peer_error(fd, 0, CW_ERR_MODEL_MISMATCH);
			return -1;
		}
		p->c[i].hello = 1;
		if (!cw_encode_welcome(b, sizeof(b), &w, &len, NULL, 0))
			peer_send(fd, b, len);
		return 0;
	}
	if (msg->type == CW_PING) {
		atomic_fetch_add(&p->pings, 1);
		struct cw_pong po = {.nonce = msg->ping.nonce, .timestamp = msg->ping.timestamp,
				     .padding_len = msg->ping.padding_len, .hold_us = 0};
		if (!cw_encode_pong(b, sizeof(b), &po, &len, NULL, 0))
			peer_send(fd, b, len);
		return 0;
	}
	if (msg->type != CW_INFER)
		return -1;
	uint64_t k = atomic_fetch_add(&p->infers, 1);
	if (p->vclock && k < PEER_MAX_ARRIVALS) {
		p->arr_id[k] = msg->infer.request_id;
		p->arr_ns[k] = atomic_load(p->vclock);
		atomic_store(&p->n_arr, (int)k + 1);
	}
	enum peer_act act = p->script ? p->script(p, k) : PEER_ANSWER;
	switch (act) {
	case PEER_ANSWER: {
		struct cw_result r = {0};
		if (peer_tail(p, &msg->infer, &r)) {
			peer_error(fd, msg->infer.request_id, CW_ERR_BAD_FRAME);
			atomic_fetch_add(&p->errors, 1);
			return 0;
		}
		atomic_fetch_add(&p->results, 1);
		if (cw_encode_result(b, sizeof(b), &r, &len, NULL, 0))
			return -1;
		if (p->delay_ms > 0 && p->nd < PEER_MAX_DELAYED) {
			struct peer_delayed *d = &p->d[p->nd++];
			d->conn = i;
			d->fd = fd;
			d->due_ns = peer_now(p) + (uint64_t)p->delay_ms * 1000000ull;
			memcpy(d->msg, b, len);
			d->len = len;
		} else {
			peer_send(fd, b, len);
		}
		return 0;
	}
	case PEER_BUSY: peer_error(fd, msg->infer.request_id, CW_ERR_BUSY); break;
	case PEER_DEADLINE: peer_error(fd, msg->infer.request_id, CW_ERR_DEADLINE); break;
	case PEER_SHUTDOWN:
		peer_error(fd, msg->infer.request_id, CW_ERR_SHUTDOWN);
		peer_error(fd, 0, CW_ERR_SHUTDOWN);
		atomic_fetch_add(&p->errors, 2);
		return -1;
	case PEER_SILENT: return 0;
	case PEER_GARBAGE: {
		static const uint8_t junk[16] = "NOT-A-CFWP-HDR!";
		peer_send(fd, junk, sizeof(junk));
		return 0;
	}
	case PEER_CLOSE: return -1;
	case PEER_BADRESULT: {
		struct cw_result r = {.request_id = msg->infer.request_id + 1000000, .batch = 1};
		if (!cw_encode_result(b, sizeof(b), &r, &len, NULL, 0))
			peer_send(fd, b, len);
		return 0;
	}
	}
	atomic_fetch_add(&p->errors, 1);
	return 0;
}

static inline void *peer_main(void *arg)
{
	struct peer *p = arg;
	struct pollfd pfd[PEER_MAX_CONNS + 1];
	int idx[PEER_MAX_CONNS + 1];
	while (!atomic_load(&p->stop)) {
		if (atomic_load(&p->frozen)) {
			poll(NULL, 0, 1);
			continue;
		}
		if (atomic_exchange(&p->close_all, 0))
			for (int i = 0; i < PEER_MAX_CONNS; i++)
				if (p->c[i].fd >= 0)
					peer_close(p, i);
		int n = 0;
		pfd[n] = (struct pollfd){.fd = p->lfd, .events = POLLIN};
		idx[n++] = -1;
		for (int i = 0; i < PEER_MAX_CONNS; i++)
			if (p->c[i].fd >= 0) {
				pfd[n] = (struct pollfd){.fd = p->c[i].fd, .events = POLLIN};
				idx[n++] = i;
			}
		int timeout = 20;
		if (p->nd)
			timeout = 1;
		poll(pfd, (nfds_t)n, timeout);
		uint64_t now = peer_now(p);
		for (int k = 0; k < p->nd;) {
			if (p->d[k].due_ns <= now) {
				if (p->d[k].fd >= 0)
					peer_send(p->d[k].fd, p->d[k].msg, p->d[k].len);
				p->d[k] = p->d[--p->nd];
			} else {
				k++;
			}
		}
		while (pfd[0].revents & POLLIN) { /* every pending connection */
			int fd = accept(p->lfd, NULL, NULL);
			if (fd < 0)
				break;
			int slot = -1;
			for (int i = 0; i < PEER_MAX_CONNS && slot < 0; i++)
				if (p->c[i].fd < 0)
					slot = i;
			if (slot < 0) {
				close(fd);
				continue;
			}
			size_t bytes = cw_reader_bytes(&p->lim);
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			p->c[slot].fd = fd;
			p->c[slot].hello = 0;
			p->c[slot].buf = malloc(bytes);
			cw_reader_init(&p->c[slot].rd, p->c[slot].buf, bytes, &p->lim);
			atomic_fetch_add(&p->conns, 1);
		}
		for (int k = 1; k < n; k++) {
			int i = idx[k];
			if (!pfd[k].revents || p->c[i].fd != pfd[k].fd)
				continue;
			size_t avail;
			uint8_t *sp = cw_reader_space(&p->c[i].rd, &avail);
			ssize_t r = sp ? recv(p->c[i].fd, sp, avail, MSG_DONTWAIT) : -1;
			if (r <= 0) {
				if (r < 0 && (errno == EAGAIN || errno == EINTR))
					continue;
				peer_close(p, i);
				continue;
			}
			cw_reader_commit(&p->c[i].rd, (size_t)r);
			struct cw_msg msg;
			int ret;
			while ((ret = cw_reader_next(&p->c[i].rd, &msg, NULL, 0)) != -EAGAIN) {
				if (ret || peer_on_msg(p, i, &msg)) {
					peer_close(p, i);
					break;
				}
			}
		}
	}
	return NULL;
}

/* Starts listening on 127.0.0.1 (port in p->port). 0 or -1. */
static inline int peer_start(struct peer *p, const struct cr_model *m, peer_script script, void *ctx)
{
	memset(p, 0, sizeof(*p));
	p->m = m;
	p->script = script;
	p->ctx = ctx;
	p->checksum = m->checksum;
	p->max_inflight = 16;
	p->lim = cw_limits_make(1u << 20, 1u << 20);
	for (int i = 0; i < PEER_MAX_CONNS; i++)
		p->c[i].fd = -1;
	for (int e = 0; e < m->n_exits; e++)
		for (int q = 0; q <= m->exit_len[e]; q++)
			if (cr_model_boundary_floats(m, e, q) > p->max_floats)
				p->max_floats = cr_model_boundary_floats(m, e, q);
	p->row = malloc(p->max_floats * sizeof(float));
	p->scratch_bytes = cc_frame_scratch_max();
	p->scratch = malloc(p->scratch_bytes ? p->scratch_bytes : 1);
	if (!p->row || !p->scratch || cr_exec_create(m, NULL, 1, &p->x))
		return -1;
	p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int one = 1;
	setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&a, sizeof(a)) || listen(p->lfd, 256) ||
	    getsockname(p->lfd, (struct sockaddr *)&a, &al))
		return -1;
	p->port = ntohs(a.sin_port);
	return 0;
}

static inline int peer_run(struct peer *p)
{
	return pthread_create(&p->tid, NULL, peer_main, p) ? -1 : 0;
}

/* As SIGSTOP and SIGCONT (close_all: as an edge restarted while stopped). */
static inline void peer_freeze(struct peer *p)
{
	atomic_store(&p->frozen, 1);
}

static inline void peer_thaw(struct peer *p, int close_all)
{
	atomic_store(&p->close_all, close_all);
	atomic_store(&p->frozen, 0);
}

/* Stops the thread and closes everything: to the agents, the edge is gone. */
static inline void peer_stop(struct peer *p)
{
	atomic_store(&p->stop, 1);
	pthread_join(p->tid, NULL);
	for (int i = 0; i < PEER_MAX_CONNS; i++)
		if (p->c[i].fd >= 0)
			peer_close(p, i);
	if (p->lfd >= 0)
		close(p->lfd);
	p->lfd = -1;
}

static inline void peer_free(struct peer *p)
{
	if (p->x)
		cr_exec_destroy(p->x);
	p->x = NULL;
	free(p->row);
	free(p->scratch);
	p->row = NULL;
	p->scratch = NULL;
}

#endif
