/* test-hostile's bad peers: threads that connect to the appliance over
 * loopback and misbehave (docs/protocol.md for the header being abused), and a
 * set of idle connections held open. Every loop is bounded by a count and by
 * the mix's end time; every socket is non-blocking after connect, so no peer
 * waits on the appliance. */
#ifndef COINFER_TEST_HOSTILE_PEERS_H
#define COINFER_TEST_HOSTILE_PEERS_H

#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "coinfer/codec-frame.h"
#include "coinfer/model.h"
#include "coinfer/wire.h"
#include "hostile-proc.h"

enum hx_kind {
	HX_GARBAGE,      /* random bytes, then close, reset or hold */
	HX_HALF_HEADER,  /* part of a header, then close */
	HX_SILENT,       /* HELLO, an INFER's header alone, then silence */
	HX_LIE,          /* an INFER whose body length is a few bytes off */
	HX_HUGE,         /* a ~4 GB value at a header offset, either byte order */
	HX_RESET,        /* SO_LINGER 0 and close, after nothing or a little */
	HX_NO_READ,      /* valid INFERs, replies never read, small receive buffer */
	HX_HELLO_FLOOD,  /* many HELLOs on one connection */
	HX_HELLO_ONLY,   /* connections that say HELLO and leave */
	HX_CHURN_KINDS,
	HX_SLOW = HX_CHURN_KINDS, /* one byte a second */
	HX_IDLE,         /* HELLO, then nothing until the mix ends */
	HX_KINDS
};

static const char *const hx_names[HX_KINDS] = {
	"garbage", "half_header", "silent", "lying_length", "huge_length", "reset", "no_read",
	"hello_flood", "hello_only", "slow", "idle"};

#define HX_CHURN_THREADS 4
#define HX_HOLD 24       /* connections a churn thread keeps open at once */
#define HX_SLOW_CONNS 16
#define HX_MAX_IDLE 1024

struct hx_mix {
	int port;
	int n_idle;
	_Atomic int stop;
	double end;                 /* cf_now_s() bound, whatever stop says */
	uint8_t hello[256];
	size_t hello_len;
	uint8_t infer[4096];        /* a valid small INFER (exit 1, before its classifier) */
	size_t infer_len;
	_Atomic uint64_t conns[HX_KINDS], refused;
	pthread_t th[HX_CHURN_THREADS + 1];
	int running;
	int idle[HX_MAX_IDLE];
};

static inline uint64_t hx_rand(uint64_t *s)
{
	*s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
	return *s;
}

static inline int hx_over(struct hx_mix *x)
{
	return atomic_load(&x->stop) || cf_now_s() >= x->end;
}

/* A loopback connection, non-blocking once connected; rcvbuf > 0 shrinks its
 * receive buffer first (the window the appliance sees). -1 when refused. */
static int hx_connect(struct hx_mix *x, int rcvbuf)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)x->port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		atomic_fetch_add(&x->refused, 1);
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* Sends what the socket takes now; a peer that is gone is no error here. */
static inline void hx_send(int fd, const void *p, size_t n)
{
	for (int i = 0; i < 64 && n; i++) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k <= 0)
			return;
		p = (const char *)p + k;
		n -= (size_t)k;
	}
}

static inline void hx_reset(int fd)
{
	struct linger l = {.l_onoff = 1, .l_linger = 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

/* What to do with a connection once it misbehaved: FIN, RST, or keep it. */
static int hx_leave(int fd, uint64_t r)
{
	switch (r % 3) {
	case 0:
		close(fd);
		return -1;
	case 1:
		hx_reset(fd);
		return -1;
	default:
		return fd;
	}
}

static int hx_garbage(struct hx_mix *x, uint64_t *rng)
{
	uint8_t buf[512];
	int fd = hx_connect(x, 0);
	if (fd < 0)
		return -1;
	size_t n = 1 + hx_rand(rng) % sizeof(buf);
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)hx_rand(rng);
	hx_send(fd, buf, n);
	return hx_leave(fd, hx_rand(rng));
}

static int hx_half_header(struct hx_mix *x, uint64_t *rng)
{
	int fd = hx_connect(x, 0);
	if (fd < 0)
		return -1;
	hx_send(fd, x->hello, 1 + hx_rand(rng) % (CW_HEADER_BYTES - 1));
	close(fd);
	return -1;
}

static int hx_silent(struct hx_mix *x, uint64_t *rng)
{
	int fd = hx_connect(x, 0);
	(void)rng;
	if (fd < 0)
		return -1;
	hx_send(fd, x->hello, x->hello_len);
	hx_send(fd, x->infer, CW_HEADER_BYTES);
	return fd;
}

static int hx_lie(struct hx_mix *x, uint64_t *rng)
{
	uint8_t buf[sizeof(x->infer)];
	int fd = hx_connect(x, 0);
	if (fd < 0)
		return -1;
	memcpy(buf, x->infer, x->infer_len);
	/* the body length field (offset 8, little-endian), up or down by 1..64 */
	uint32_t len = (uint32_t)(x->infer_len - CW_HEADER_BYTES);
	uint32_t d = 1 + (uint32_t)(hx_rand(rng) % 64);
	len = hx_rand(rng) & 1 ? len + d : len - d;
	for (int i = 0; i < 4; i++)
		buf[8 + i] = (uint8_t)(len >> (8 * i));
	hx_send(fd, x->hello, x->hello_len);
	hx_send(fd, buf, x->infer_len);
	return hx_leave(fd, hx_rand(rng));
}

/* Each call takes the next (offset 0..12, byte order, value): every one of
 * them comes round in turn. */
static int hx_huge(struct hx_mix *x, uint64_t *rng, uint64_t turn)
{
	static const uint32_t values[] = {0xFFFFFFFFu, 0xFFFFFFF0u, 0x80000000u, 0x7FFFFFFFu};
	uint8_t buf[CW_HEADER_BYTES + 16];
	int off = (int)(turn % 13), big = (int)(turn / 13 % 2);
	uint32_t v = values[turn / 26 % 4];
	int fd = hx_connect(x, 0);
	if (fd < 0)
		return -1;
	memcpy(buf, x->infer, sizeof(buf));
	for (int i = 0; i < 4; i++)
		buf[off + i] = (uint8_t)(v >> (8 * (big ? 3 - i : i)));
	if (hx_rand(rng) & 1)
		hx_send(fd, x->hello, x->hello_len);
	hx_send(fd, buf, sizeof(buf));
	return hx_leave(fd, hx_rand(rng));
}

static int hx_reset_peer(struct hx_mix *x, uint64_t *rng)
{
	int fd = hx_connect(x, 0);
	if (fd < 0)
		return -1;
	uint64_t r = hx_rand(rng);
	if (r % 3 == 1)
		hx_send(fd, x->hello, x->hello_len);
	else if (r % 3 == 2)
		hx_send(fd, x->infer, 1 + r % x->infer_len);
	hx_reset(fd);
	return -1;
}

/* Valid INFERs until the socket takes no more: replies pile up unread. */
static int hx_no_read(struct hx_mix *x, uint64_t *rng)
{
	uint8_t buf[sizeof(x->infer)];
	int fd = hx_connect(x, 4096);
	if (fd < 0)
		return -1;
	hx_send(fd, x->hello, x->hello_len);
	memcpy(buf, x->infer, x->infer_len);
	for (int i = 0; i < 256; i++) {
		uint64_t id = hx_rand(rng);
		for (int b = 0; b < 8; b++)
			buf[CW_HEADER_BYTES + b] = (uint8_t)(id >> (8 * b));
		if (send(fd, buf, x->infer_len, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)x->infer_len)
			break;
	}
	return fd;
}

static int hx_hello_flood(struct hx_mix *x, uint64_t *rng)
{
	uint8_t buf[64 * 256];
	size_t n = 0;
	int fd = hx_connect(x, 0);
	if (fd < 0)
		return -1;
	for (int i = 0; i < 64 && n + x->hello_len <= sizeof(buf); i++, n += x->hello_len)
		memcpy(buf + n, x->hello, x->hello_len);
	hx_send(fd, buf, n);
	return hx_leave(fd, hx_rand(rng));
}

static int hx_hello_only(struct hx_mix *x, uint64_t *rng)
{
	(void)rng;
	for (int i = 0; i < 8; i++) {
		int fd = hx_connect(x, 0);
		if (fd < 0)
			return -1;
		hx_send(fd, x->hello, x->hello_len);
		close(fd);
	}
	return -1;
}

static int hx_one(struct hx_mix *x, enum hx_kind k, uint64_t *rng, uint64_t turn)
{
	switch (k) {
	case HX_GARBAGE: return hx_garbage(x, rng);
	case HX_HALF_HEADER: return hx_half_header(x, rng);
	case HX_SILENT: return hx_silent(x, rng);
	case HX_LIE: return hx_lie(x, rng);
	case HX_HUGE: return hx_huge(x, rng, turn);
	case HX_RESET: return hx_reset_peer(x, rng);
	case HX_NO_READ: return hx_no_read(x, rng);
	case HX_HELLO_FLOOD: return hx_hello_flood(x, rng);
	default: return hx_hello_only(x, rng);
	}
}

struct hx_thread {
	struct hx_mix *x;
	int id;
};
static struct hx_thread hx_args[HX_CHURN_THREADS + 1];

/* A churn thread: the kinds in turn, with up to HX_HOLD connections kept open
 * (the oldest let go, by FIN or RST, to make room). */
static void *hx_churn(void *arg)
{
	struct hx_thread *t = arg;
	struct hx_mix *x = t->x;
	int held[HX_HOLD], next = 0;
	uint64_t rng = 0x9E3779B97F4A7C15ull * (uint64_t)(t->id + 1);
	for (int i = 0; i < HX_HOLD; i++)
		held[i] = -1;
	for (uint64_t i = 0; i < 50000000 && !hx_over(x); i++) {
		enum hx_kind k = (enum hx_kind)((i + (uint64_t)t->id) % HX_CHURN_KINDS);
		int fd = hx_one(x, k, &rng, i / HX_CHURN_KINDS);
		atomic_fetch_add(&x->conns[k], 1);
		if (fd < 0)
			continue;
		if (held[next] >= 0)
			hx_leave(held[next], hx_rand(&rng) % 2);
		held[next] = fd;
		next = (next + 1) % HX_HOLD;
	}
	for (int i = 0; i < HX_HOLD; i++)
		if (held[i] >= 0)
			close(held[i]);
	return NULL;
}

/* HX_SLOW_CONNS peers sending HELLO then an INFER one byte a second each; one
 * the appliance drops (its idle sweep) is replaced. */
static void *hx_slow(void *arg)
{
	struct hx_mix *x = ((struct hx_thread *)arg)->x;
	int fd[HX_SLOW_CONNS];
	size_t pos[HX_SLOW_CONNS];
	for (int i = 0; i < HX_SLOW_CONNS; i++)
		fd[i] = -1, pos[i] = 0;
	for (int sec = 0; sec < 3600 && !hx_over(x); sec++) {
		for (int i = 0; i < HX_SLOW_CONNS; i++) {
			if (fd[i] < 0) {
				fd[i] = hx_connect(x, 0), pos[i] = 0;
				atomic_fetch_add(&x->conns[HX_SLOW], 1);
			}
			const uint8_t *msg = pos[i] < x->hello_len ? x->hello : x->infer;
			size_t at = pos[i] < x->hello_len ? pos[i] : pos[i] - x->hello_len;
			if (fd[i] >= 0 && (at >= x->infer_len ||
					   send(fd[i], msg + at, 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1)) {
				close(fd[i]);
				fd[i] = -1;
			}
			pos[i]++;
		}
		for (int k = 0; k < 20 && !hx_over(x); k++)
			hp_sleep_ms(50);
	}
	for (int i = 0; i < HX_SLOW_CONNS; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	return NULL;
}

/* The messages the peers abuse: this model's HELLO, and an INFER of exit 1
 * split just before its classifier (a small frame, little work to answer). */
static int hx_messages(struct hx_mix *x, const struct cr_model *m)
{
	static float t[4096];
	struct cw_hello h = {.device_id = 0xBAD, .model_checksum = m->checksum, .max_inflight = 16};
	size_t flen, len;
	int p = m->exit_len[0] - 1;
	const struct cr_layer *L = cr_model_exit_layer(m, 0, p - 1);
	uint32_t dims[3] = {(uint32_t)L->out_c, (uint32_t)L->out_h, (uint32_t)L->out_w};
	snprintf(h.device_class, sizeof(h.device_class), "hostile");
	snprintf(h.model, sizeof(h.model), "%s", m->name);
	snprintf(h.app, sizeof(h.app), "stress");
	if (cw_encode_hello(x->hello, sizeof(x->hello), &h, &x->hello_len, NULL, 0) ||
	    cr_model_boundary_floats(m, 0, p) > sizeof(t) / sizeof(t[0]))
		return -EINVAL;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		t[i] = (float)(i % 13) / 13.0f;
	if (cc_frame_encode(t, 3, dims, CC_CODEC_PACKED, 2, 0, x->infer + CW_INFER_PREFIX_BYTES,
			    sizeof(x->infer) - CW_INFER_PREFIX_BYTES, &flen, NULL, 0))
		return -EINVAL;
	struct cw_infer in = {.request_id = 1, .deadline_us = 1000000, .frame_len = flen,
			      .action = {.exit = 0, .partition = (uint16_t)p, .bits = 2}};
	if (cw_encode_infer_header(x->infer, sizeof(x->infer), &in, &len, NULL, 0))
		return -EINVAL;
	x->infer_len = len + flen;
	return 0;
}

/* Opens the idle connections and starts the threads; they run until
 * hx_stop or until `seconds` have passed. */
static int hx_start(struct hx_mix *x, int port, int n_idle, double seconds)
{
	x->port = port;
	x->end = cf_now_s() + seconds;
	atomic_store(&x->stop, 0);
	x->n_idle = n_idle < HX_MAX_IDLE ? n_idle : HX_MAX_IDLE;
	for (int i = 0; i < x->n_idle; i++) {
		if ((x->idle[i] = hx_connect(x, 0)) >= 0)
			hx_send(x->idle[i], x->hello, x->hello_len);
		atomic_fetch_add(&x->conns[HX_IDLE], 1);
	}
	for (x->running = 0; x->running <= HX_CHURN_THREADS; x->running++) {
		struct hx_thread *t = &hx_args[x->running];
		*t = (struct hx_thread){x, x->running};
		if (pthread_create(&x->th[x->running], NULL,
				   x->running < HX_CHURN_THREADS ? hx_churn : hx_slow, t))
			return -EAGAIN;
	}
	return 0;
}

/* Stops the threads (each closes what it holds) and closes the idle ones. */
static void hx_stop(struct hx_mix *x)
{
	atomic_store(&x->stop, 1);
	for (int i = 0; i < x->running; i++)
		pthread_join(x->th[i], NULL);
	x->running = 0;
	for (int i = 0; i < x->n_idle; i++)
		if (x->idle[i] >= 0)
			close(x->idle[i]);
	x->n_idle = 0;
}

#endif
