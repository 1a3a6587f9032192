/* UDP load generator (design in appliance-load.h): the closed loop of the TCP
 * one, with the appliance's datagram protocol (docs/protocol.md, "Datagrams
 * (UDP)").
 *
 * Each device says HELLO from a socket of its own, because the appliance opens
 * a session per sender address: a HELLO from an address that has one would
 * end it. Once every device has its WELCOME, each load thread's devices send
 * from one connected socket of the thread, and the appliance, which takes the
 * session id as the proof of who sends (a device that roamed keeps its
 * session), answers there; replies are told apart by their session id and
 * request id. One socket per thread lets one recvmmsg and one sendmmsg carry
 * up to BATCH datagrams, which keeps the generator cheaper than the server
 * (per-device sockets would cost an epoll wakeup and a system call each).
 *
 * A request is one DATA datagram of one fragment: the 24-byte datagram header
 * and the INFER's 40-byte prefix (its request id patched in) from a per-batch
 * buffer, the frame from the prebuilt message, in one iovec pair. Request ids
 * are (sends of the device) << 32 | device << 8 | slot: unique per session, as
 * the appliance answers a repeated id from its answers cache without running
 * it, and a reply finds its slot without a lookup table. ACKs (the appliance
 * ACKs every complete request) are counted and otherwise ignored; replies are
 * not ACKed, as the appliance never retransmits them. Nothing here
 * retransmits either: a request unanswered for AB_UDP_LOST_NS is counted lost
 * and its slot sends a new one, so that a lost datagram cannot stall the loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "appliance-load.h"
#include "coinfer/bytes.h"
#include "coinfer/clock.h"
#include "coinfer/wire-dgram.h"

#define BATCH 64       /* datagrams per sendmmsg and recvmmsg */
#define RX_BYTES 2048  /* a reply: RESULT, ERROR, ACK, all one fragment */
#define MAX_DEPTH 256  /* slots per device: 8 bits of the request id */
#define MAX_DEVS (1 << 24)
#define HEAD_BYTES (CW_DG_HEADER_BYTES + CW_INFER_PREFIX_BYTES)
#define SCAN_NS 100000000ull /* how often unanswered requests are looked for */
#define SOCK_BYTES (8 << 20) /* the threads' socket buffers: every reply in flight */

struct udev {
	uint64_t session;
	uint32_t msg_id;
	uint32_t sends;
	int next_frame;
	uint64_t id[MAX_DEPTH]; /* of the request in flight in the slot; 0: none */
	uint64_t sent_ns[MAX_DEPTH];
	int frame_of[MAX_DEPTH];
};

struct uthread {
	int fd;
	struct udev *devs;
	int n_devs;
	const struct ab_load_config *cfg;
	_Atomic int *phase;
	uint32_t *q; /* slots to send: device << 8 | slot */
	int q_cap, q_head, q_len;
	struct ab_counts c;
	struct cw_dg_limits dlim;
	struct cw_limits lim;
	struct mmsghdr smm[BATCH], rmm[BATCH];
	struct iovec siov[BATCH][2], riov[BATCH];
	uint8_t head[BATCH][HEAD_BYTES];
	uint8_t rbuf[BATCH][RX_BYTES];
};

static void uq_push(struct uthread *t, int dev, int slot)
{
	t->q[(t->q_head + t->q_len) % t->q_cap] = (uint32_t)dev << 8 | (uint32_t)slot;
	t->q_len++;
}

/* Request k of the batch: the queue's k-th slot with the device's next image. */
static void build_one(struct uthread *t, int k, uint64_t now)
{
	const struct ab_msgset *ms = t->cfg->msgs;
	uint32_t e = t->q[(t->q_head + k) % t->q_cap];
	int dl = (int)(e >> 8), slot = (int)(e & 0xFF);
	struct udev *u = &t->devs[dl];
	int f = u->next_frame;
	u->next_frame = (f + 1) % ms->n_frames;
	size_t i = (size_t)f * (size_t)ms->depth + (size_t)slot;
	const uint8_t *msg = ms->msg[i];
	uint32_t len = (uint32_t)ms->len[i];
	uint64_t id = (uint64_t)++u->sends << 32 | (uint64_t)dl << 8 | (uint64_t)slot;
	u->id[slot] = id;
	u->sent_ns[slot] = now;
	u->frame_of[slot] = f;
	struct cw_dg d;
	/* sizes were checked at start: neither call can fail */
	cw_dg_data(&d, u->session, ++u->msg_id, msg, len, 1, 0);
	cw_dg_encode_header(t->head[k], CW_DG_HEADER_BYTES, &d, NULL, 0);
	memcpy(t->head[k] + CW_DG_HEADER_BYTES, msg, CW_INFER_PREFIX_BYTES);
	le_wr64(t->head[k] + CW_DG_HEADER_BYTES + CW_HEADER_BYTES, id);
	t->siov[k][0] = (struct iovec){t->head[k], HEAD_BYTES};
	t->siov[k][1] = (struct iovec){(void *)(msg + CW_INFER_PREFIX_BYTES),
				       len - CW_INFER_PREFIX_BYTES};
	t->smm[k].msg_hdr = (struct msghdr){.msg_iov = t->siov[k], .msg_iovlen = 2};
}

/* Sends the queue in batches until it is empty or the socket is full. */
static void uflush(struct uthread *t)
{
	while (t->q_len) {
		int n = t->q_len < BATCH ? t->q_len : BATCH;
		uint64_t now = cf_now_ns();
		for (int k = 0; k < n; k++)
			build_one(t, k, now);
		int w = sendmmsg(t->fd, t->smm, (unsigned)n, 0);
		if (w < 0)
			w = 0;
		/* what did not leave stays queued, not in flight (it is built again) */
		for (int k = w; k < n; k++) {
			uint32_t e = t->q[(t->q_head + k) % t->q_cap];
			t->devs[e >> 8].id[e & 0xFF] = 0;
		}
		t->q_head = (t->q_head + w) % t->q_cap;
		t->q_len -= w;
		t->c.sent += (uint64_t)w;
		if (w < n)
			return;
	}
}

/* One datagram from the appliance. */
static void on_dgram(struct uthread *t, const uint8_t *b, size_t len, uint64_t now, int phase)
{
	struct cw_dg d;
	struct cw_msg m;
	if (cw_dg_decode(b, len, &t->dlim, &d, NULL, 0))
		return;
	if (d.kind == CW_DG_ACK) {
		t->c.acks += phase == 1;
		return;
	}
	if (d.count != 1 || cw_decode(d.payload, d.payload_len, &t->lim, &m, NULL, 0) ||
	    (m.type != CW_RESULT && m.type != CW_ERROR) || !m.request_id)
		return;
	uint64_t dl = (m.request_id >> 8) & (MAX_DEVS - 1), slot = m.request_id & 0xFF;
	if (dl >= (uint64_t)t->n_devs || slot >= (uint64_t)t->cfg->depth)
		return;
	struct udev *u = &t->devs[dl];
	if (u->session != d.session || u->id[slot] != m.request_id)
		return; /* not ours, or late: the request was counted lost */
	u->id[slot] = 0;
	if (phase == 1)
		ab_count_reply(&t->c, &m, now - u->sent_ns[slot], t->cfg->msgs, u->frame_of[slot]);
	if (phase < 2)
		uq_push(t, (int)dl, (int)slot);
}

/* Reads what has come; returns how many datagrams. */
static int udrain(struct uthread *t, int phase)
{
	int got = 0;
	for (;;) {
		int n = recvmmsg(t->fd, t->rmm, BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return got;
		uint64_t now = cf_now_ns();
		for (int k = 0; k < n; k++)
			on_dgram(t, t->rbuf[k], t->rmm[k].msg_len, now, phase);
		got += n;
		if (n < BATCH)
			return got;
	}
}

/* Requests unanswered for AB_UDP_LOST_NS: counted lost, their slots send anew. */
static void uexpire(struct uthread *t, uint64_t now, int phase)
{
	for (int i = 0; i < t->n_devs; i++)
		for (int s = 0; s < t->cfg->depth; s++) {
			struct udev *u = &t->devs[i];
			if (!u->id[s] || now - u->sent_ns[s] < AB_UDP_LOST_NS)
				continue;
			u->id[s] = 0;
			t->c.lost += phase == 1;
			uq_push(t, i, s);
		}
}

static void *uthread_main(void *arg)
{
	struct uthread *t = arg;
	uint64_t scan = cf_now_ns();
	for (int i = 0; i < t->n_devs; i++)
		for (int s = 0; s < t->cfg->depth; s++)
			uq_push(t, i, s);
	for (int got = 0;;) {
		int phase = atomic_load_explicit(t->phase, memory_order_acquire);
		if (phase == 2)
			break;
		uflush(t);
		/* a wait only after a read that found nothing: under load, replies
		 * have come while the last batch was handled, and poll costs a call */
		if (!got) {
			struct pollfd p = {.fd = t->fd,
					   .events = POLLIN | (t->q_len ? POLLOUT : 0)};
			poll(&p, 1, 50);
			phase = atomic_load_explicit(t->phase, memory_order_acquire);
		}
		got = udrain(t, phase);
		uint64_t now = cf_now_ns();
		if (now - scan >= SCAN_NS) {
			uexpire(t, now, phase);
			scan = now;
		}
	}
	return NULL;
}

/* ---- set-up ---------------------------------------------------------------- */

static int server_addr(const struct ab_load_config *cfg, struct sockaddr_in *a)
{
	*a = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->port)};
	return inet_pton(AF_INET, cfg->host ? cfg->host : "127.0.0.1", &a->sin_addr) == 1 ? 0 : -1;
}

/* A UDP socket connected to the server (-1 on error). */
static int udp_socket(const struct sockaddr_in *a, int bufs)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (bufs) {
		/* above net.core.[rw]mem_max when we may (root), else what we get */
		int b = SOCK_BYTES;
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &b, sizeof(b)))
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &b, sizeof(b));
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &b, sizeof(b)))
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &b, sizeof(b));
	}
	if (connect(fd, (const struct sockaddr *)a, sizeof(*a))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Device i's HELLO in session 0. Its message id is always 1: session-0
 * messages are keyed by the sender's address, which is the device's alone. */
static int send_hello(int fd, const struct ab_load_config *cfg, int i, char *err, size_t errlen)
{
	struct cw_hello h = {.device_id = (uint64_t)i + 1, .model_checksum = cfg->model_checksum,
			     .max_inflight = (uint16_t)cfg->depth};
	snprintf(h.device_class, sizeof(h.device_class), "bench");
	snprintf(h.model, sizeof(h.model), "%s", cfg->model_name);
	snprintf(h.app, sizeof(h.app), "bench-appliance-udp");
	uint8_t msg[512], dg[600];
	size_t len, n;
	struct cw_dg d;
	if (cw_encode_hello(msg, sizeof(msg), &h, &len, err, errlen) ||
	    cw_dg_data(&d, 0, 1, msg, (uint32_t)len, 1, 0) ||
	    cw_dg_encode(dg, sizeof(dg), &d, &n, err, errlen))
		return -1;
	if (send(fd, dg, n, 0) != (ssize_t)n) {
		snprintf(err, errlen, "send HELLO (device %d): %s", i, strerror(errno));
		return -1;
	}
	return 0;
}

/* What one datagram on a HELLO socket says: 1 WELCOME (*session set), 0 nothing
 * for us (an ACK of the HELLO), -1 a refusal (err set). */
static int hello_reply(const uint8_t *b, size_t len, int i, uint64_t *session, char *err,
		       size_t errlen)
{
	struct cw_dg_limits dlim = {1 << 16, 1};
	struct cw_limits lim = cw_limits_make(0, 0);
	struct cw_dg d;
	struct cw_msg m;
	if (cw_dg_decode(b, len, &dlim, &d, NULL, 0) || d.kind != CW_DG_DATA ||
	    cw_decode(d.payload, d.payload_len, &lim, &m, NULL, 0))
		return 0;
	if (m.type == CW_WELCOME && m.welcome.session_id && m.welcome.session_id == d.session) {
		*session = d.session;
		return 1;
	}
	snprintf(err, errlen, "device %d: %s instead of WELCOME%s%s", i, cw_type_name(m.type),
		 m.type == CW_ERROR ? ": " : "", m.type == CW_ERROR ? m.error.msg : "");
	return -1;
}

/* Waits for device i's WELCOME, sending the HELLO again every 200 ms (the
 * appliance answers a copy with the same WELCOME), for 10 s at most. */
static int await_welcome(int fd, const struct ab_load_config *cfg, int i, uint64_t *session,
			 char *err, size_t errlen)
{
	uint8_t b[RX_BYTES];
	for (int tries = 0; tries < 50;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 200) <= 0) {
			if (send_hello(fd, cfg, i, err, errlen))
				return -1;
			tries++;
			continue;
		}
		ssize_t n = recv(fd, b, sizeof(b), 0);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			snprintf(err, errlen, "device %d: no WELCOME (%s)", i, strerror(errno));
			return -1;
		}
		int r = n > 0 ? hello_reply(b, (size_t)n, i, session, err, errlen) : 0;
		if (r)
			return r > 0 ? 0 : -1;
	}
	snprintf(err, errlen, "device %d: no WELCOME in 10 s", i);
	return -1;
}

/* Every device's HELLO first, then the WELCOMEs; the HELLO sockets are closed
 * only when all are in, so that no device says HELLO from an address (a port
 * given back and taken again) whose session another device holds. */
static int hello_all(const struct ab_load_config *cfg, const struct sockaddr_in *a,
		     struct udev *devs, struct ab_load_result *res)
{
	int *fd = malloc((size_t)cfg->devices * sizeof(*fd)), ret = -1, n = 0;
	if (!fd) {
		snprintf(res->err, sizeof(res->err), "out of memory");
		return -1;
	}
	for (; n < cfg->devices; n++) {
		if ((fd[n] = udp_socket(a, 0)) < 0) {
			snprintf(res->err, sizeof(res->err), "UDP socket (device %d): %s", n,
				 strerror(errno));
			goto out;
		}
		if (send_hello(fd[n], cfg, n, res->err, sizeof(res->err)))
			goto out_n;
		res->connected++;
	}
	for (int i = 0; i < cfg->devices; i++) {
		if (await_welcome(fd[i], cfg, i, &devs[i].session, res->err, sizeof(res->err)))
			goto out;
		devs[i].next_frame = (i * 7) % cfg->msgs->n_frames;
		res->welcomed++;
	}
	ret = 0;
	goto out;
out_n:
	n++;
out:
	for (int i = 0; i < n; i++)
		close(fd[i]);
	free(fd);
	return ret;
}

/* Every message must go in one fragment; devices and depth fit the request id. */
static int check_config(const struct ab_load_config *cfg, struct ab_load_result *res)
{
	const struct ab_msgset *ms = cfg->msgs;
	if (cfg->depth < 1 || cfg->depth > MAX_DEPTH || cfg->depth != ms->depth ||
	    cfg->devices < 1 || cfg->devices >= MAX_DEVS) {
		snprintf(res->err, sizeof(res->err), "depth %d (1..%d, messages built for %d), "
			 "devices %d", cfg->depth, MAX_DEPTH, ms->depth, cfg->devices);
		return -1;
	}
	for (int i = 0; i < ms->n_frames * ms->depth; i++)
		if (ms->len[i] > CW_DG_DEFAULT_PAYLOAD || ms->len[i] < CW_INFER_PREFIX_BYTES) {
			snprintf(res->err, sizeof(res->err), "a %zu-byte INFER is not one datagram "
				 "fragment (%d bytes at most)", ms->len[i], CW_DG_DEFAULT_PAYLOAD);
			return -1;
		}
	return 0;
}

/* Thread k's devices, socket, queue and receive vectors. */
static int thread_init(struct uthread *t, const struct ab_load_config *cfg,
		       const struct sockaddr_in *a, struct udev *devs, int k, int nt,
		       _Atomic int *phase)
{
	size_t from = (size_t)k * (size_t)cfg->devices / (size_t)nt,
	       to = (size_t)(k + 1) * (size_t)cfg->devices / (size_t)nt;
	t->cfg = cfg;
	t->phase = phase;
	t->devs = devs + from;
	t->n_devs = (int)(to - from);
	t->q_cap = t->n_devs * cfg->depth;
	t->lim = cw_limits_make(0, 0);
	/* an ACK repeats the length of the request it answers: larger than any reply */
	t->dlim = (struct cw_dg_limits){.max_msg = 1u << 20, .max_frags = CW_DG_MAX_FRAGS};
	for (int j = 0; j < BATCH; j++) {
		t->riov[j] = (struct iovec){t->rbuf[j], RX_BYTES};
		t->rmm[j].msg_hdr = (struct msghdr){.msg_iov = &t->riov[j], .msg_iovlen = 1};
	}
	if (!(t->q = malloc((size_t)t->q_cap * sizeof(*t->q))))
		return -1;
	t->fd = udp_socket(a, 1);
	return t->fd < 0 ? -1 : 0;
}

int ab_load_run_udp(const struct ab_load_config *cfg, struct ab_load_result *res)
{
	memset(res, 0, sizeof(*res));
	if (check_config(cfg, res))
		return -1;
	int nt = cfg->threads < 1 ? 1 : cfg->threads, ret = -1;
	if (nt > cfg->devices)
		nt = cfg->devices;
	struct sockaddr_in a;
	struct udev *devs = calloc((size_t)cfg->devices, sizeof(*devs));
	struct uthread *th = calloc((size_t)nt, sizeof(*th));
	_Atomic int phase = 0;
	for (int k = 0; th && k < nt; k++)
		th[k].fd = -1;
	if (!devs || !th || server_addr(cfg, &a)) {
		snprintf(res->err, sizeof(res->err), "out of memory, or a bad host %s",
			 cfg->host ? cfg->host : "127.0.0.1");
		goto out;
	}
	if (hello_all(cfg, &a, devs, res))
		goto out;
	for (int k = 0; k < nt; k++)
		if (thread_init(&th[k], cfg, &a, devs, k, nt, &phase)) {
			snprintf(res->err, sizeof(res->err), "load thread %d: %s", k,
				 strerror(errno));
			goto out;
		}
	if (ab_load_threads(cfg, uthread_main, th, sizeof(*th), offsetof(struct uthread, c), nt,
			    &phase, res))
		goto out;
	ret = 0;
out:
	for (int k = 0; th && k < nt; k++) {
		if (th[k].fd >= 0)
			close(th[k].fd);
		free(th[k].q);
	}
	free(th);
	free(devs);
	return ret;
}
