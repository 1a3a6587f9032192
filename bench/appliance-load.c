/* Load generator (design in appliance-load.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "appliance-load.h"
#include "coinfer/clock.h"

/* ---- histogram -------------------------------------------------------------- */

static int hist_index(uint64_t v)
{
	if (v < 2 * AB_HIST_SUB)
		return (int)v;
	int e = 63 - __builtin_clzll(v); /* >= 6 */
	if (e > 41)
		return AB_HIST_BUCKETS - 1;
	return 2 * AB_HIST_SUB + (e - 6) * AB_HIST_SUB + (int)((v >> (e - 5)) & (AB_HIST_SUB - 1));
}

static double hist_mid(int i)
{
	if (i < 2 * AB_HIST_SUB)
		return i + 0.5;
	int k = i - 2 * AB_HIST_SUB, e = 6 + k / AB_HIST_SUB, mant = k % AB_HIST_SUB;
	double low = (double)((uint64_t)(AB_HIST_SUB + mant) << (e - 5));
	return low + (double)(1ull << (e - 5)) / 2;
}

void ab_hist_add(struct ab_hist *h, uint64_t ns)
{
	h->b[hist_index(ns)]++;
	h->n++;
	h->sum_ns += (long double)ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

void ab_hist_merge(struct ab_hist *into, const struct ab_hist *h)
{
	for (int i = 0; i < AB_HIST_BUCKETS; i++)
		into->b[i] += h->b[i];
	into->n += h->n;
	into->sum_ns += h->sum_ns;
	if (h->max_ns > into->max_ns)
		into->max_ns = h->max_ns;
}

double ab_hist_quantile_ns(const struct ab_hist *h, double q)
{
	if (!h->n)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)h->n);
	if (rank >= h->n)
		rank = h->n - 1;
	uint64_t seen = 0;
	for (int i = 0; i < AB_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen > rank) {
			double m = hist_mid(i);
			return m > (double)h->max_ns ? (double)h->max_ns : m;
		}
	}
	return (double)h->max_ns;
}

/* ---- counters ---------------------------------------------------------------- */

void ab_count_reply(struct ab_counts *c, const struct cw_msg *m, uint64_t lat_ns,
		    const struct ab_msgset *ms, int frame)
{
	if (m->type == CW_RESULT) {
		c->results++;
		ab_hist_add(&c->lat, lat_ns);
		uint16_t b = m->result.batch ? m->result.batch : 1;
		c->batch_inv_sum += 1.0 / b;
		c->batch_sum += b;
		if (ms->label && m->result.label != ms->label[frame])
			c->wrong++;
	} else {
		c->errors++;
		if (m->error.code < CW_ERR_END && !c->by_code[m->error.code]++)
			snprintf(c->msg[m->error.code], sizeof(c->msg[0]), "%.95s", m->error.msg);
	}
}

void ab_counts_merge(struct ab_load_result *res, const struct ab_counts *c)
{
	res->results += c->results;
	res->errors += c->errors;
	res->sent += c->sent;
	res->closed_by_server += c->closed;
	res->wrong_labels += c->wrong;
	res->lost += c->lost;
	res->acks += c->acks;
	for (int k = 0; k < CW_ERR_END; k++) {
		res->errors_by_code[k] += c->by_code[k];
		if (!res->error_msg[k][0])
			memcpy(res->error_msg[k], c->msg[k], sizeof(res->error_msg[k]));
	}
	ab_hist_merge(&res->lat, &c->lat);
	res->batch_inv_sum += c->batch_inv_sum;
	res->batch_sum += c->batch_sum;
}

/* ---- processes --------------------------------------------------------------- */

int ab_proc_cpu_split(pid_t pid, double *user_s, double *sys_s)
{
	char path[64], buf[2048];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	/* the command name may hold spaces and parentheses: fields resume after the last ')' */
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	p++;
	unsigned long long ut = 0, st = 0;
	/* fields 3 (state) .. 13 skipped, then 14 utime and 15 stime */
	if (sscanf(p, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	*user_s = (double)ut / (double)sysconf(_SC_CLK_TCK);
	*sys_s = (double)st / (double)sysconf(_SC_CLK_TCK);
	return 0;
}

static void sleep_s(double s)
{
	struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ---- devices -------------------------------------------------------------------- */

#define RBUF 4096
#define MAX_DEPTH 256

struct dev {
	int fd, id, closed;
	int next_frame;
	/* slots queued for sending, in order; the first may be partly sent */
	int q[MAX_DEPTH], q_head, q_len;
	size_t q_off;
	uint64_t sent_ns[MAX_DEPTH];
	int frame_of[MAX_DEPTH];
	uint8_t busy[MAX_DEPTH];
	size_t rlen;
	uint8_t rbuf[RBUF];
};

struct lthread {
	int ep;
	struct dev **devs;
	int n_devs;
	const struct ab_load_config *cfg;
	_Atomic int *phase; /* 0 warm-up, 1 window, 2 stop */
	struct ab_counts c;  /* window counters */
};

static void dev_queue(struct dev *d, int slot)
{
	d->q[(d->q_head + d->q_len) % MAX_DEPTH] = slot;
	d->q_len++;
}

static void dev_close(struct lthread *t, struct dev *d)
{
	if (d->closed)
		return;
	epoll_ctl(t->ep, EPOLL_CTL_DEL, d->fd, NULL);
	d->closed = 1;
	t->c.closed++;
}

/* sendmsg every queued request (one call per wakeup, more only if the kernel
 * took everything and more is queued) */
static void dev_flush(struct lthread *t, struct dev *d)
{
	const struct ab_msgset *ms = t->cfg->msgs;
	struct iovec iov[64];
	while (d->q_len && !d->closed) {
		int n = d->q_len < 64 ? d->q_len : 64;
		uint64_t now = cf_now_ns();
		for (int k = 0; k < n; k++) {
			int slot = d->q[(d->q_head + k) % MAX_DEPTH];
			/* next_frame advances only when a message is wholly sent, so a
			 * partly sent head keeps its frame */
			int f = (d->next_frame + k) % ms->n_frames;
			size_t i = (size_t)f * (size_t)ms->depth + (size_t)slot;
			iov[k].iov_base = ms->msg[i] + (k == 0 ? d->q_off : 0);
			iov[k].iov_len = ms->len[i] - (k == 0 ? d->q_off : 0);
			if (!(k == 0 && d->q_off)) {
				d->sent_ns[slot] = now;
				d->frame_of[slot] = f;
			}
		}
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)(n > 0 ? n : 1)};
		ssize_t w = sendmsg(d->fd, &mh, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			dev_close(t, d);
			return;
		}
		size_t left = (size_t)w;
		int k = 0;
		while (k < n && left >= iov[k].iov_len) {
			left -= iov[k].iov_len;
			d->q_head = (d->q_head + 1) % MAX_DEPTH;
			d->q_len--;
			d->q_off = 0;
			d->next_frame = (d->next_frame + 1) % ms->n_frames;
			t->c.sent++;
			k++;
		}
		if (k < n) {
			/* partial: the head stays queued with its offset (and its frame) */
			d->q_off += left;
			return;
		}
	}
}

static void on_reply(struct lthread *t, struct dev *d, const struct cw_msg *m, uint64_t now,
		     int phase)
{
	uint64_t slot = m->request_id - 1; /* ids are slot + 1: 0 is "no request" */
	if (m->request_id == 0 || slot >= (uint64_t)t->cfg->depth || !d->busy[slot])
		return; /* not one of ours (e.g. an error with id 0) */
	if (phase == 1)
		ab_count_reply(&t->c, m, now - d->sent_ns[slot], t->cfg->msgs, d->frame_of[slot]);
	if (phase < 2)
		dev_queue(d, (int)slot);
	else
		d->busy[slot] = 0;
}

static void dev_read(struct lthread *t, struct dev *d, int phase, int hup)
{
	struct cw_limits lim = cw_limits_make(0, 0);
	for (;;) {
		size_t want = RBUF - d->rlen;
		ssize_t r = recv(d->fd, d->rbuf + d->rlen, want, 0);
		if (r == 0) {
			dev_close(t, d);
			return;
		}
		if (r < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				dev_close(t, d);
			return;
		}
		d->rlen += (size_t)r;
		uint64_t now = cf_now_ns();
		size_t off = 0;
		for (;;) {
			struct cw_header h;
			int ret = cw_parse_header(d->rbuf + off, d->rlen - off, &lim, &h, NULL, 0);
			if (ret == -EAGAIN)
				break;
			if (ret) {
				dev_close(t, d);
				return;
			}
			if (h.msg_len > d->rlen - off)
				break;
			struct cw_msg m;
			if (cw_decode(d->rbuf + off, h.msg_len, &lim, &m, NULL, 0) == 0 &&
			    (m.type == CW_RESULT || m.type == CW_ERROR))
				on_reply(t, d, &m, now, phase);
			off += h.msg_len;
		}
		/* what is left is less than one reply, so the buffer never fills; read
		 * on until drained (edge-triggered: a short read drained the socket and
		 * later bytes raise a new edge; after a hang-up, read to the EOF) */
		if (off) {
			memmove(d->rbuf, d->rbuf + off, d->rlen - off);
			d->rlen -= off;
		}
		if ((size_t)r < want && !hup)
			return;
	}
}

static void *lthread_main(void *arg)
{
	struct lthread *t = arg;
	struct epoll_event ev[512];
	for (int i = 0; i < t->n_devs; i++) {
		struct dev *d = t->devs[i];
		for (int s = 0; s < t->cfg->depth; s++) {
			d->busy[s] = 1;
			dev_queue(d, s);
		}
		dev_flush(t, d);
	}
	for (;;) {
		int phase = atomic_load_explicit(t->phase, memory_order_acquire);
		if (phase == 2)
			break;
		int n = epoll_wait(t->ep, ev, 512, 50);
		phase = atomic_load_explicit(t->phase, memory_order_acquire);
		for (int i = 0; i < n; i++) {
			struct dev *d = ev[i].data.ptr;
			if (d->closed)
				continue;
			if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))
				dev_read(t, d, phase,
					 (ev[i].events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) != 0);
			if (!d->closed)
				dev_flush(t, d);
		}
	}
	return NULL;
}

/* ---- a run ---------------------------------------------------------------------- */

static int connect_dev(int port, struct dev *d, const struct ab_load_config *cfg, char *err,
		       size_t errlen)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, cfg->host ? cfg->host : "127.0.0.1", &a.sin_addr);
	d->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (d->fd < 0) {
		snprintf(err, errlen, "socket (device %d): %s", d->id, strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(d->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(d->fd, (struct sockaddr *)&a, sizeof(a))) {
		snprintf(err, errlen, "connect (device %d): %s", d->id, strerror(errno));
		return -1;
	}
	struct cw_hello h = {.device_id = (uint64_t)d->id + 1, .model_checksum = cfg->model_checksum,
			     .max_inflight = (uint16_t)cfg->depth};
	snprintf(h.device_class, sizeof(h.device_class), "bench");
	snprintf(h.model, sizeof(h.model), "%s", cfg->model_name);
	snprintf(h.app, sizeof(h.app), "bench-appliance");
	uint8_t buf[512];
	size_t len;
	if (cw_encode_hello(buf, sizeof(buf), &h, &len, err, errlen))
		return -1;
	if (send(d->fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len) {
		snprintf(err, errlen, "send HELLO (device %d): %s", d->id, strerror(errno));
		return -1;
	}
	return 0;
}

/* Blocking read of the WELCOME (with a receive timeout). */
static int await_welcome(struct dev *d, char *err, size_t errlen)
{
	struct timeval tv = {.tv_sec = 10};
	setsockopt(d->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct cw_limits lim = cw_limits_make(0, 0);
	size_t have = 0;
	for (;;) {
		struct cw_header h;
		int r = cw_parse_header(d->rbuf, have, &lim, &h, err, errlen);
		if (r && r != -EAGAIN)
			return -1;
		if (!r && h.msg_len <= have) {
			struct cw_msg m;
			if (cw_decode(d->rbuf, h.msg_len, &lim, &m, err, errlen))
				return -1;
			if (m.type != CW_WELCOME) {
				snprintf(err, errlen, "device %d: %s instead of WELCOME%s%s", d->id,
					 cw_type_name(m.type), m.type == CW_ERROR ? ": " : "",
					 m.type == CW_ERROR ? m.error.msg : "");
				return -1;
			}
			if (m.welcome.max_inflight < 1) {
				snprintf(err, errlen, "WELCOME with max_inflight 0");
				return -1;
			}
			/* anything after it (nothing is expected) is kept */
			memmove(d->rbuf, d->rbuf + h.msg_len, have - h.msg_len);
			d->rlen = have - h.msg_len;
			return 0;
		}
		ssize_t k = recv(d->fd, d->rbuf + have, RBUF - have, 0);
		if (k <= 0) {
			snprintf(err, errlen, "device %d: no WELCOME (%s)", d->id,
				 k == 0 ? "closed" : strerror(errno));
			return -1;
		}
		have += (size_t)k;
	}
}

double ab_loadavg_1m(void)
{
	double l[3];
	return getloadavg(l, 1) == 1 ? l[0] : -1;
}

/* Connects and says HELLO for every device first, then collects the WELCOMEs;
 * the sockets end non-blocking. */
static int connect_all(const struct ab_load_config *cfg, struct dev *devs,
		       struct ab_load_result *res)
{
	for (int i = 0; i < cfg->devices; i++) {
		devs[i].fd = -1;
		devs[i].id = i;
		devs[i].next_frame = (i * 7) % cfg->msgs->n_frames;
	}
	for (int i = 0; i < cfg->devices; i++) {
		if (connect_dev(cfg->port, &devs[i], cfg, res->err, sizeof(res->err)))
			return -1;
		res->connected++;
	}
	for (int i = 0; i < cfg->devices; i++) {
		if (await_welcome(&devs[i], res->err, sizeof(res->err)))
			return -1;
		res->welcomed++;
		fcntl(devs[i].fd, F_SETFL, fcntl(devs[i].fd, F_GETFL) | O_NONBLOCK);
	}
	return 0;
}

/* Splits the devices into nt contiguous shares, each with its thread's epoll set. */
static void assign_devices(const struct ab_load_config *cfg, struct dev *devs, struct dev **dp,
			   struct lthread *th, int nt, _Atomic int *phase)
{
	for (int k = 0; k < nt; k++) {
		th[k].ep = epoll_create1(EPOLL_CLOEXEC);
		th[k].cfg = cfg;
		th[k].phase = phase;
		size_t from = (size_t)k * (size_t)cfg->devices / (size_t)nt,
		       to = (size_t)(k + 1) * (size_t)cfg->devices / (size_t)nt;
		th[k].devs = dp + from;
		th[k].n_devs = (int)(to - from);
	}
	for (int i = 0; i < cfg->devices; i++) {
		/* devices [from, to) of the split above go to thread k */
		int k = 0;
		while ((size_t)(k + 1) * (size_t)cfg->devices / (size_t)nt <= (size_t)i)
			k++;
		dp[i] = &devs[i];
		struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
					 .data.ptr = &devs[i]};
		epoll_ctl(th[k].ep, EPOLL_CTL_ADD, devs[i].fd, &ev);
	}
}

int ab_load_threads(const struct ab_load_config *cfg, void *(*fn)(void *), void *args,
		    size_t stride, size_t counts_off, int nt, _Atomic int *phase,
		    struct ab_load_result *res)
{
	pthread_t *th = calloc((size_t)nt, sizeof(*th));
	if (!th) {
		snprintf(res->err, sizeof(res->err), "out of memory for %d threads", nt);
		return -1;
	}
	for (int k = 0; k < nt; k++)
		if (pthread_create(&th[k], NULL, fn, (char *)args + (size_t)k * stride)) {
			snprintf(res->err, sizeof(res->err), "pthread_create failed");
			atomic_store(phase, 2);
			for (int j = 0; j < k; j++)
				pthread_join(th[j], NULL);
			free(th);
			return -1;
		}
	sleep_s(cfg->warmup_s);
	double u0, s0, u1, s1, lcpu0 = cf_process_cpu_s();
	int bad = ab_proc_cpu_split(cfg->server_pid, &u0, &s0);
	uint64_t t0 = cf_now_ns();
	atomic_store_explicit(phase, 1, memory_order_release);
	sleep_s(cfg->seconds);
	atomic_store_explicit(phase, 2, memory_order_release);
	uint64_t t1 = cf_now_ns();
	bad |= ab_proc_cpu_split(cfg->server_pid, &u1, &s1);
	double lcpu1 = cf_process_cpu_s();
	res->load_avg_1m = ab_loadavg_1m();
	for (int k = 0; k < nt; k++) {
		pthread_join(th[k], NULL);
		const char *arg = (const char *)args + (size_t)k * stride;
		ab_counts_merge(res, (const struct ab_counts *)(const void *)(arg + counts_off));
	}
	free(th);
	res->window_s = (double)(t1 - t0) * 1e-9;
	res->server_cpu_s = bad ? -1 : u1 + s1 - u0 - s0;
	res->server_sys_s = bad ? -1 : s1 - s0;
	res->load_cpu_s = lcpu1 - lcpu0;
	return 0;
}

int ab_load_run(const struct ab_load_config *cfg, struct ab_load_result *res)
{
	memset(res, 0, sizeof(*res));
	if (cfg->depth < 1 || cfg->depth > MAX_DEPTH || cfg->depth != cfg->msgs->depth ||
	    cfg->devices < 1) {
		snprintf(res->err, sizeof(res->err), "depth %d (1..%d, messages built for %d), devices %d",
			 cfg->depth, MAX_DEPTH, cfg->msgs->depth, cfg->devices);
		return -1;
	}
	int nt = cfg->threads < 1 ? 1 : cfg->threads;
	if (nt > cfg->devices)
		nt = cfg->devices;
	struct dev *devs = calloc((size_t)cfg->devices, sizeof(*devs));
	struct dev **dp = calloc((size_t)cfg->devices, sizeof(*dp));
	struct lthread *th = calloc((size_t)nt, sizeof(*th));
	_Atomic int phase = 0;
	int ret = -1;
	if (!devs || !dp || !th) {
		snprintf(res->err, sizeof(res->err), "out of memory for %d devices", cfg->devices);
		goto out;
	}
	if (connect_all(cfg, devs, res))
		goto out;
	assign_devices(cfg, devs, dp, th, nt, &phase);
	if (ab_load_threads(cfg, lthread_main, th, sizeof(*th), offsetof(struct lthread, c), nt,
			    &phase, res))
		goto out;
	ret = 0;
out:
	if (th)
		for (int k = 0; k < nt; k++)
			if (th[k].ep > 0)
				close(th[k].ep);
	if (devs)
		for (int i = 0; i < cfg->devices; i++)
			if (devs[i].fd >= 0)
				close(devs[i].fd);
	free(devs);
	free(dp);
	free(th);
	return ret;
}
