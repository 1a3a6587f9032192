/* The epoll peer of the appliance (design in appliance-epoll.h): a second
 * transport under the appliance's own session layer (appliance/session.h), so
 * that the two servers differ in their I/O loop and nothing else.
 *
 * Ownership: a connection's slot is the session's (conns.h); this transport
 * keeps only the socket per slot (fds[i]) and has no operation in flight once a
 * call returns, so nothing of a slot's old life survives its close but the
 * epoll events already returned in the same batch, which carry the slot's
 * generation in their tag and are dropped when it no longer matches. */
#include <arpa/inet.h>
#include <errno.h>
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
#include "coinfer/cli.h"
#include "coinfer/clock.h"
#include "coinfer/dataset.h"
#include "coinfer/model.h"
#include "procstat.h"
#include "server.h"
#include "session.h"

#define LISTEN_TAG UINT64_MAX
#define N_EVENTS 1024

struct eserver;

struct eworker {
	struct eserver *srv;
	int id, ep, lfd;
	pthread_t th;
	int *fds;                 /* the socket of each connection slot, -1 */
	struct ap_sess *sess;
	struct ap_conns *slots;   /* the session's */
	uint8_t *rx;              /* one receive buffer: the session copies what it keeps */
	struct epoll_event ev[N_EVENTS];
};

struct eserver {
	struct ap_server_config cfg;
	const char *model;
	const struct cr_model *m;
	struct eworker *w;
	int port;
	_Atomic int stop;
};

static uint64_t ev_tag(const struct eworker *w, int i)
{
	return (uint64_t)w->slots->slot[i].gen << 32 | (uint32_t)i;
}

static void transport_close(void *ctx, int i)
{
	struct eworker *w = ctx;
	if (w->fds[i] >= 0)
		close(w->fds[i]); /* leaves the epoll set with its last reference */
	w->fds[i] = -1;
}

/* Edge-triggered: read until the socket is drained. A read shorter than asked
 * drained it (a stream socket returns what it has), and bytes arriving later
 * raise a new edge, so the EAGAIN read that would confirm it is skipped; not
 * when the peer hung up, whose EOF must be read now. */
static void conn_read(struct eworker *w, int i, int hup)
{
	size_t want = (size_t)w->srv->cfg.rx_buffer_bytes;
	while (ap_sess_reading(w->sess, i)) {
		ssize_t n = recv(w->fds[i], w->rx, want, 0);
		if (n <= 0) {
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return;
			if (n < 0 && errno == EINTR)
				continue;
			ap_sess_close(w->sess, i);
			return;
		}
		ap_sess_input(w->sess, i, w->rx, (size_t)n);
		if ((size_t)n < want && !hup)
			return;
	}
}

static void on_accept(struct eworker *w)
{
	for (;;) {
		int fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		int i = atomic_load(&w->srv->stop) ? -ESHUTDOWN : ap_sess_open(w->sess);
		if (i < 0) {
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		w->fds[i] = fd;
		struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
					 .data.u64 = ev_tag(w, i)};
		if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev))
			ap_sess_close(w->sess, i);
	}
}

/* One send() per connection with replies queued; what the socket does not take
 * waits for its EPOLLOUT edge. */
static void flush(struct eworker *w)
{
	int i;
	while ((i = ap_conns_pop(w->slots, AP_Q_FLUSH)) >= 0) {
		const uint8_t *p;
		size_t len;
		if (!ap_sess_tx(w->sess, i, &p, &len))
			continue;
		ssize_t n = send(w->fds[i], p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				ap_sess_close(w->sess, i);
			continue;
		}
		/* a short send queues the rest again: its next send() meets EAGAIN and
		 * the EPOLLOUT edge takes over */
		ap_sess_sent(w->sess, i, (size_t)n);
	}
}

static void on_events(struct eworker *w, int n)
{
	for (int k = 0; k < n; k++) {
		uint64_t tag = w->ev[k].data.u64;
		if (tag == LISTEN_TAG) {
			on_accept(w);
			continue;
		}
		int i = (int)(uint32_t)tag;
		if (!ap_conns_live(w->slots, i) || !ap_conns_current(w->slots, i, (uint32_t)(tag >> 32)))
			continue; /* closed earlier in this batch */
		uint32_t e = w->ev[k].events;
		if (e & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))
			conn_read(w, i, (e & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) != 0);
		const uint8_t *p;
		size_t len;
		if ((e & EPOLLOUT) && ap_conns_live(w->slots, i) && ap_sess_tx(w->sess, i, &p, &len))
			ap_conns_want(w->slots, AP_Q_FLUSH, i);
	}
}

static void *worker_main(void *arg)
{
	struct eworker *w = arg;
	uint64_t next_sweep = 0;
	while (!atomic_load_explicit(&w->srv->stop, memory_order_relaxed)) {
		uint64_t wake = ap_sess_run(w->sess);
		flush(w);
		uint64_t now = cf_now_ns(), wait_ns = 100000000ull;
		if (wake != UINT64_MAX)
			wait_ns = wake > now ? (wake - now < wait_ns ? wake - now : wait_ns) : 0;
		struct timespec ts = {.tv_sec = (time_t)(wait_ns / 1000000000ull),
				      .tv_nsec = (long)(wait_ns % 1000000000ull)};
		on_events(w, epoll_pwait2(w->ep, w->ev, N_EVENTS, &ts, NULL));
		if ((now = cf_now_ns()) >= next_sweep) {
			ap_sess_sweep(w->sess);
			next_sweep = now + 500000000ull;
		}
	}
	ap_sess_stopping(w->sess);
	flush(w);
	ap_sess_close_all(w->sess);
	return NULL;
}

/* ---- setup ------------------------------------------------------------------------ */

static int worker_init(struct eserver *s, struct eworker *w, int id, char *err, size_t errlen)
{
	const struct ap_server_config *cfg = &s->cfg;
	w->srv = s;
	w->id = id;
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	w->fds = malloc((size_t)cfg->max_conns * sizeof(int));
	w->rx = malloc((size_t)cfg->rx_buffer_bytes);
	if (w->ep < 0 || !w->fds || !w->rx) {
		snprintf(err, errlen, "out of memory for %d connections", cfg->max_conns);
		return -1;
	}
	for (int i = 0; i < cfg->max_conns; i++)
		w->fds[i] = -1;
	struct ap_sess_config sc = {.cfg = cfg, .model = s->m, .id = id, .stop = &s->stop,
				    .transport = {.ctx = w, .close = transport_close}};
	if (ap_sess_create(&sc, &w->sess, err, errlen))
		return -1;
	w->slots = ap_sess_slots(w->sess);
	return 0;
}

static void worker_free(struct eworker *w)
{
	if (w->ep >= 0)
		close(w->ep);
	if (w->lfd >= 0)
		close(w->lfd);
	ap_sess_destroy(w->sess);
	free(w->fds);
	free(w->rx);
}

/* The options the bench passes, onto the appliance's own defaults (the same
 * ranges as the appliance's). */
#define F(f) CLI_FIELD(struct eserver, f)
static const struct cli_opt opts[] = {
	{.name = "port", .kind = CLI_INT, F(cfg.port), .lo = 0, .hi = 65535,
	 .help = "TCP port, 0 = any"},
	{.name = "workers", .kind = CLI_INT, F(cfg.workers), .lo = 1, .hi = 1024,
	 .help = "event loops"},
	{.name = "max-conns", .kind = CLI_INT, F(cfg.max_conns), .lo = 1, .hi = 1 << 24,
	 .help = "connections per worker"},
	{.name = "max-inflight", .kind = CLI_INT, F(cfg.max_inflight), .lo = 1, .hi = 65535,
	 .help = "requests per device before ERROR busy"},
	{.name = "max-requests", .kind = CLI_INT, F(cfg.max_requests), .lo = 1, .hi = 1 << 24,
	 .help = "queued requests per worker before ERROR busy"},
	{.name = "max-batch", .kind = CLI_INT, F(cfg.max_batch), .lo = 1, .hi = 1024,
	 .help = "images per batch"},
	{.name = "max-delay-us", .kind = CLI_INT, F(cfg.max_delay_us), .lo = 0, .hi = 60000000,
	 .help = "longest wait for a batch to fill"},
	{.name = "null-model", .kind = CLI_FLAG, F(cfg.null_model),
	 .help = "validate frames, compute nothing"},
	{.name = "calibrate-runs", .kind = CLI_INT, F(cfg.calibrate_runs), .lo = 0, .hi = 1000,
	 .help = "timing runs per layer at start, 0 = FLOP estimate"},
	CLI_OPT_MODEL(struct eserver, model),
	{.name = "small-frame", .kind = CLI_INT, F(cfg.small_frame), .lo = 0, .hi = 1 << 28,
	 .arg = "BYTES", .help = "frame bytes held inline in each request slot"},
	{.name = "big-frames", .kind = CLI_INT, F(cfg.big_frames), .lo = 0, .hi = 1 << 16,
	 .help = "buffers of max-frame bytes per worker for larger frames"},
};
static const struct cli_prog prog = {
	.name = "serve-epoll",
	.head = "usage: coinfer-bench-appliance --serve-epoll [options]\n"
		"The epoll peer of coinfer-appliance that coinfer-bench-appliance runs: the same\n"
		"session layer under an edge-triggered epoll loop per worker.\n",
	.opts = opts, .n_opts = CLI_N(opts), .size = sizeof(struct eserver)};

/* CLI_GO, or the status to exit with. */
static int parse_opts(struct eserver *s, int argc, char **argv)
{
	int st = cli_args(&prog, s, argc, argv);
	if (st == CLI_GO && (uint32_t)s->cfg.small_frame > s->cfg.max_frame) {
		fprintf(stderr, "serve-epoll: --small-frame %d is above the max frame %u\n",
			s->cfg.small_frame, s->cfg.max_frame);
		return 2;
	}
	return st;
}

static int start_workers(struct eserver *s, char *err, size_t errlen)
{
	int port = s->cfg.port;
	for (int i = 0; i < s->cfg.workers; i++) {
		struct eworker *w = &s->w[i];
		w->ep = w->lfd = -1;
		if (worker_init(s, w, i, err, errlen) ||
		    (w->lfd = ap_listen_socket(s->cfg.host, port, SOCK_NONBLOCK, err, errlen)) < 0)
			return -1;
		if (!port) {
			struct sockaddr_in a;
			socklen_t al = sizeof(a);
			getsockname(w->lfd, (struct sockaddr *)&a, &al);
			port = ntohs(a.sin_port);
		}
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = LISTEN_TAG};
		epoll_ctl(w->ep, EPOLL_CTL_ADD, w->lfd, &ev);
	}
	s->port = port;
	for (int i = 0; i < s->cfg.workers; i++)
		if (pthread_create(&s->w[i].th, NULL, worker_main, &s->w[i])) {
			snprintf(err, errlen, "pthread_create failed");
			return -1;
		}
	return 0;
}

static void print_stopped(const struct eserver *s, int sig)
{
	uint64_t t[13] = {0};
	for (int i = 0; i < s->cfg.workers; i++) {
		const struct ap_stats *x = ap_sess_stats(s->w[i].sess);
		const _Atomic uint64_t *f[13] = {&x->accepted, &x->closed, &x->requests, &x->results,
						 &x->errors, &x->busy, &x->expired, &x->bad_frames,
						 &x->protocol_errors, &x->batches, &x->batch_images,
						 &x->bytes_in, &x->bytes_out};
		for (int k = 0; k < 13; k++)
			t[k] += atomic_load(f[k]);
	}
	double cpu = cf_process_cpu_s();
	printf("{\"event\": \"stopped\", \"signal\": \"%s\", \"accepted\": %llu, \"closed\": %llu, "
	       "\"requests\": %llu, \"results\": %llu, \"errors\": %llu, \"busy\": %llu, "
	       "\"expired\": %llu, \"bad_frames\": %llu, \"protocol_errors\": %llu, \"batches\": %llu, "
	       "\"mean_batch\": %.2f, \"bytes_in\": %llu, \"bytes_out\": %llu, \"cpu_s\": %.3f, "
	       "\"peak_rss_kb\": %ld}\n",
	       strsignal(sig), (unsigned long long)t[0], (unsigned long long)t[1],
	       (unsigned long long)t[2], (unsigned long long)t[3], (unsigned long long)t[4],
	       (unsigned long long)t[5], (unsigned long long)t[6], (unsigned long long)t[7],
	       (unsigned long long)t[8], (unsigned long long)t[9],
	       t[9] ? (double)t[10] / (double)t[9] : 0.0, (unsigned long long)t[11],
	       (unsigned long long)t[12], cpu, ap_proc_peak_rss_kb());
	fflush(stdout);
}

int ab_serve_epoll(int argc, char **argv)
{
	struct eserver s;
	memset(&s, 0, sizeof(s));
	ap_server_defaults(&s.cfg);
	s.cfg.port = 0;
	int ret = parse_opts(&s, argc, argv);
	if (ret != CLI_GO)
		return ret;
	char err[512];
	struct cr_model *m;
	if (cli_model_load(s.model, &m, err, sizeof(err))) {
		fprintf(stderr, "serve-epoll: %s\n", err);
		return 1;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	s.m = m;
	ret = 1;
	if (!(s.w = calloc((size_t)s.cfg.workers, sizeof(*s.w))))
		goto out;
	if (start_workers(&s, err, sizeof(err))) {
		fprintf(stderr, "serve-epoll: %s\n", err);
		atomic_store(&s.stop, 1);
		goto join;
	}
	printf("{\"event\": \"listening\", \"host\": \"127.0.0.1\", \"port\": %d, \"workers\": %d, "
	       "\"rx\": \"epoll edge-triggered, recv() into a per-worker buffer\", \"model\": \"%s\", "
	       "\"null_model\": %s, \"max_batch\": %d, \"max_delay_us\": %llu, \"peak_rss_kb\": %ld}\n",
	       s.port, s.cfg.workers, m->name, s.cfg.null_model ? "true" : "false", s.cfg.max_batch,
	       (unsigned long long)s.cfg.max_delay_us, ap_proc_peak_rss_kb());
	fflush(stdout);
	int sig;
	sigwait(&set, &sig);
	atomic_store(&s.stop, 1);
	ret = 0;
join:
	for (int i = 0; i < s.cfg.workers; i++)
		if (s.w[i].th)
			pthread_join(s.w[i].th, NULL);
	if (!ret)
		print_stopped(&s, sig);
	for (int i = 0; s.w && i < s.cfg.workers; i++)
		worker_free(&s.w[i]);
out:
	free(s.w);
	cr_model_free(m);
	return ret;
}
