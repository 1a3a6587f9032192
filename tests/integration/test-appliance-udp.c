/* The appliance with transport udp, in-process on loopback (port 0), on both
 * receive paths (multishot recvmsg over a buffer ring; single-shot recvmsg,
 * forced with no_buf_ring), against a scripted client speaking the datagram
 * form of the protocol (wire-dgram.h over cw_encode's messages): HELLO and
 * WELCOME with the session in the datagrams' header; INFERs in one fragment
 * and in many, answered with the label the C runtime gives locally; copies of
 * a request answered from the answers cache, byte for byte, and run once,
 * also with 30% of the replies dropped (and some duplicated and reordered) by
 * the appliance's fault injector.
 * Under hostile datagrams (garbage, lying fragment counts, spoofed session
 * ids, floods of fragments of messages never completed) a good client is
 * served all the same (it retransmits, as an agent does); afterwards the
 * reassembly memory is back to 0 once the timeout has passed, and after the
 * stop the descriptors and the heap are back where they were. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coinfer/bytes.h"
#include "coinfer/wire-dgram.h"
#include "infer-maker.h"
#include "server.h"
#include "udp.h"

/* A guard against a hung appliance, not a speed check. */
#define HANG_MS 60000
/* A good client's retransmission timeout (an agent's RTO starts at 100 ms). */
#define RTO_MS 100

static struct cr_model *model;
static struct cr_exec *local;
static struct ap_server *srv;

struct uclient {
	int fd;
	uint64_t session;
	uint32_t msg_id;
	uint8_t last[CW_DG_DEFAULT_PAYLOAD]; /* the last reply's message bytes */
	size_t last_len;
};

static void load_model(void)
{
	char err[256];
	cr_assert_eq(cr_model_load(COINFER_SOURCE_ROOT "/models/branchy-alexnet.cfm", &model, err,
				   sizeof(err)), 0, "%s", err);
	cr_assert_eq(cr_exec_create(model, NULL, 1, &local), 0);
}

static void start_server(int no_buf_ring, const struct cw_fault_config *faults)
{
	char err[256];
	struct ap_server_config cfg;
	ap_server_defaults(&cfg);
	if (faults)
		cfg.faults = *faults;
	cfg.transport = AP_TRANSPORT_UDP;
	cfg.port = 0;
	cfg.workers = 2;
	cfg.max_conns = 64;
	cfg.max_inflight = 4;
	cfg.max_batch = 8;
	cfg.max_delay_us = 1000;
	cfg.calibrate_runs = 0;
	cfg.no_buf_ring = no_buf_ring;
	cfg.rx_buffers = 256;
	cfg.rx_buffer_bytes = 2048;
	cfg.quiet = 1;
	cfg.run_late = 1; /* a preempted worker must not turn a test into a deadline test */
	cr_assert_eq(ap_server_start(&cfg, model, &srv, err, sizeof(err)), 0, "%s", err);
	const char *mode = ap_server_rx_mode(srv);
	cr_assert(strstr(mode, no_buf_ring ? "fixed buffers" : "buffer ring"), "rx: %s", mode);
}

static void free_model(void)
{
	cr_exec_destroy(local);
	cr_model_free(model);
}

static void uc_open(struct uclient *c)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)ap_server_port(srv))};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert(c->fd >= 0);
	cr_assert_eq(connect(c->fd, (struct sockaddr *)&a, sizeof(a)), 0, "%s", strerror(errno));
}

static void send_dgram(int fd, const struct cw_dg *d)
{
	uint8_t b[2048];
	size_t n;
	char err[128];
	cr_assert_eq(cw_dg_encode(b, sizeof(b), d, &n, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(send(fd, b, n, 0), (ssize_t)n, "send: %s", strerror(errno));
}

/* msg as fragments under message id id in session session. */
static void send_msg_as(int fd, uint64_t session, uint32_t id, const uint8_t *msg, size_t len)
{
	uint16_t count;
	struct cw_dg d;
	cr_assert_eq(cw_dg_frags((uint32_t)len, CW_DG_DEFAULT_PAYLOAD, &count), 0);
	for (uint16_t k = 0; k < count; k++) {
		cr_assert_eq(cw_dg_data(&d, session, id, msg, (uint32_t)len, count, k), 0);
		send_dgram(fd, &d);
	}
}

static uint32_t send_msg(struct uclient *c, const uint8_t *msg, size_t len)
{
	send_msg_as(c->fd, c->session, ++c->msg_id, msg, len);
	return c->msg_id;
}

/* The next reply message within ms (ACKs skipped): 0 with *m and c->last set,
 * or -ETIMEDOUT. Replies here are small: one fragment each. */
static int uc_recv(struct uclient *c, struct cw_msg *m, int ms)
{
	struct cw_dg_limits lim = {1 << 20, CW_DG_MAX_FRAGS};
	struct cw_limits wl = cw_limits_default();
	uint8_t b[2048];
	struct cw_dg d;
	char err[128];
	for (;;) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		if (poll(&p, 1, ms) <= 0)
			return -ETIMEDOUT;
		ssize_t n = recv(c->fd, b, sizeof(b), 0);
		cr_assert_gt(n, 0);
		cr_assert_eq(cw_dg_decode(b, (size_t)n, &lim, &d, err, sizeof(err)), 0, "%s", err);
		if (d.kind == CW_DG_ACK)
			continue;
		cr_assert_eq(d.count, 1, "a reply in %u fragments", d.count);
		cr_assert_eq(cw_decode(d.payload, d.payload_len, &wl, m, err, sizeof(err)), 0, "%s",
			     err);
		memcpy(c->last, d.payload, d.payload_len);
		c->last_len = d.payload_len;
		return 0;
	}
}

/* The next reply to request id within ms, replies to others (answers to
 * retransmissions of earlier requests) skipped. */
static int recv_for(struct uclient *c, uint64_t id, struct cw_msg *m, int ms)
{
	int r;
	while (!(r = uc_recv(c, m, ms)) && m->request_id != id)
		;
	return r;
}

static void uc_hello(struct uclient *c)
{
	struct cw_hello h = {.device_id = 42, .model_checksum = model->checksum, .max_inflight = 4};
	uint8_t buf[512];
	size_t len;
	struct cw_msg m;
	snprintf(h.device_class, sizeof(h.device_class), "test");
	snprintf(h.model, sizeof(h.model), "%s", model->name);
	snprintf(h.app, sizeof(h.app), "tests");
	cr_assert_eq(cw_encode_hello(buf, sizeof(buf), &h, &len, NULL, 0), 0);
	/* a HELLO sent again (its WELCOME lost) gets the same WELCOME */
	for (int tries = 0;; tries++) {
		send_msg_as(c->fd, 0, 1, buf, len);
		if (!uc_recv(c, &m, RTO_MS))
			break;
		cr_assert_lt(tries, HANG_MS / RTO_MS, "no WELCOME");
	}
	cr_assert_eq(m.type, CW_WELCOME, "got %s", cw_type_name(m.type));
	cr_assert_neq(m.welcome.session_id, 0);
	c->session = m.welcome.session_id;
	c->msg_id = 1;
}

/* An INFER sent (again after each RTO_MS of silence, under the same message
 * id, as an agent retransmits) until its answer: RESULT, checked. */
static void infer_until_answered(struct uclient *c, uint64_t id, int e, int p, int bits)
{
	static uint8_t buf[1 << 18];
	uint16_t want;
	struct cw_msg m;
	size_t len = im_infer(model, local, buf, sizeof(buf), id, e, p, bits, &want, 0, 5000000, 0);
	uint32_t mid = send_msg(c, buf, len);
	for (int tries = 0; recv_for(c, id, &m, RTO_MS); tries++) {
		cr_assert_lt(tries, HANG_MS / RTO_MS, "request %llu unanswered",
			     (unsigned long long)id);
		send_msg_as(c->fd, c->session, mid, buf, len);
	}
	cr_assert_eq(m.type, CW_RESULT, "request %llu: %s %s", (unsigned long long)id,
		     cw_type_name(m.type), m.type == CW_ERROR ? m.error.msg : "");
	cr_assert_eq(m.result.label, want, "request %llu (exit %d, partition %d, %d bits)",
		     (unsigned long long)id, e + 1, p, bits);
	cr_assert_eq(m.result.exit, e);
}

static uint64_t requests_run(void)
{
	struct ap_stats st;
	ap_server_stats(srv, &st);
	return atomic_load(&st.requests);
}

static struct ap_udp_counts counts(void)
{
	struct ap_udp_counts c;
	ap_server_udp_stats(srv, &c);
	return c;
}

/* ---- served ---------------------------------------------------------------- */

static void served(int no_buf_ring)
{
	static uint8_t buf[1 << 18];
	struct uclient c;
	struct cw_msg m;
	uint16_t want;
	load_model();
	start_server(no_buf_ring, NULL);
	uc_open(&c);
	uc_hello(&c);
	/* 8-bit frames after relu/pool are one fragment; the input at 16 bits and
	 * conv outputs are several (up to 1024 x 1448 bytes) */
	for (int k = 0; k < 12; k++)
		infer_until_answered(&c, 100 + (uint64_t)k, k % 3, (k * 7) % model->exit_len[k % 3],
				     k % 2 ? 8 : 16);
	infer_until_answered(&c, 200, 2, 0, 16);
	cr_assert_eq(requests_run(), 13);
	/* a copy of request 200 (the whole message again, as an agent whose RESULT
	 * was lost sends it): the same answer, byte for byte, not run again */
	uint8_t first[sizeof(c.last)];
	size_t first_len = c.last_len;
	memcpy(first, c.last, first_len);
	size_t len = im_infer(model, local, buf, sizeof(buf), 200, 2, 0, 16, &want, 0, 5000000, 0);
	uint16_t frags;
	cr_assert_eq(cw_dg_frags((uint32_t)len, CW_DG_DEFAULT_PAYLOAD, &frags), 0);
	cr_assert_gt(frags, 4, "a %zu-byte INFER", len);
	for (int copy = 0; copy < 3; copy++) {
		send_msg(&c, buf, len);
		cr_assert_eq(recv_for(&c, 200, &m, HANG_MS), 0);
		cr_assert_eq(m.type, CW_RESULT);
		cr_assert_eq(c.last_len, first_len);
		cr_assert_eq(memcmp(c.last, first, first_len), 0, "copy %d answered otherwise", copy);
	}
	cr_assert_eq(requests_run(), 13, "a copy ran again");
	struct ap_udp_counts n = counts();
	cr_assert_geq(n.copies_answered, 3);
	cr_assert_geq(n.acks_out, 1, "requests in fragments are acknowledged");
	cr_assert_eq(n.malformed + n.unknown_session + n.tx_dropped + n.tx_failed, 0);
	close(c.fd);
	cr_assert_eq(ap_server_stop(srv), 0);
	free_model();
}

Test(appliance_udp, served_with_buffer_ring, .timeout = 300)
{
	served(0);
}

Test(appliance_udp, served_with_fallback_recvmsg, .timeout = 300)
{
	served(1);
}

/* ---- hostile datagrams ----------------------------------------------------- */

static uint64_t lcg = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void)
{
	lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(lcg >> 33);
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	cr_assert_not_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

/* Garbage of any length (one empty), and one longer than a receive buffer. */
static void garbage(int fd, int n)
{
	uint8_t b[4096];
	for (int i = 0; i < n; i++) {
		size_t len = i ? 1 + rnd() % 1500 : 0;
		for (size_t k = 0; k < len; k++)
			b[k] = (uint8_t)rnd();
		if (i == 1)
			memcpy(b, "CD\x01\x01", 4); /* a header's start, then noise */
		send(fd, b, len, 0);
	}
	memset(b, 0, sizeof(b));
	send(fd, b, sizeof(b), 0); /* above rx_buffer_bytes: truncated */
}

/* Valid DATA under sessions nobody was given. */
static void spoofed(int fd, const uint8_t *msg, size_t len, int n)
{
	for (int i = 0; i < n; i++)
		send_msg_as(fd, ((uint64_t)rnd() << 32 | rnd()) | 1, 1 + rnd(), msg, len);
}

/* Counts that lie: in the header (the payload does not fit it), and across the
 * fragments of one message (another count, another length). */
static void lying(struct uclient *e, const uint8_t *msg)
{
	uint8_t b[2048];
	size_t n;
	struct cw_dg d;
	cr_assert_eq(cw_dg_data(&d, e->session, ++e->msg_id, msg, 4000, 3, 0), 0);
	cr_assert_eq(cw_dg_encode(b, sizeof(b), &d, &n, NULL, 0), 0);
	send(e->fd, b, n, 0);
	le_wr16(b + 18, 7);
	send(e->fd, b, n, 0);
	le_wr16(b + 18, 0);
	send(e->fd, b, n, 0);
	cr_assert_eq(cw_dg_data(&d, e->session, e->msg_id, msg, 5000, 4, 1), 0);
	send_dgram(e->fd, &d);
}

/* First fragments of big messages, each under a new id, never completed: a
 * peer with a session trying to hold the reassembly memory. */
static void flood(struct uclient *e, const uint8_t *msg, int n)
{
	struct cw_dg d;
	for (int i = 0; i < n; i++) {
		cr_assert_eq(cw_dg_data(&d, e->session, ++e->msg_id, msg, 100 * 1448, 100, 0), 0);
		send_dgram(e->fd, &d);
	}
}

static void hostile(int no_buf_ring)
{
	static uint8_t junk[100 * 1448];
	struct uclient good, evil, stranger;
	load_model();
	int fds0 = open_fds();
	size_t heap0 = heap_in_use();
	start_server(no_buf_ring, NULL);
	uc_open(&good);
	uc_open(&evil);
	uc_open(&stranger);
	uc_hello(&good);
	uc_hello(&evil);
	for (size_t k = 0; k < sizeof(junk); k++)
		junk[k] = (uint8_t)rnd();
	/* 200 rounds (each waits out a reassembly timeout: about a minute, the
	 * hostile tests' length in CI); COINFER_HOSTILE_ROUNDS=2000 is a soak of
	 * ten minutes */
	const char *env = getenv("COINFER_HOSTILE_ROUNDS");
	int rounds = env && atoi(env) > 0 ? atoi(env) : 200, served = 0;
	for (int round = 0; round < rounds; round++) {
		garbage(stranger.fd, 40);
		spoofed(stranger.fd, junk, 3000, 20);
		lying(&evil, junk);
		flood(&evil, junk, 40);
		/* alternately dozens of fragments (exit 1 after conv1 at 16 bits) and
		 * a few (exit 2 after lrn1 at 8 bits) */
		infer_until_answered(&good, 1000 + (uint64_t)round, round % 2 ? 0 : 1,
				     round % 2 ? 1 : 3, round % 2 ? 16 : 8);
		served++;
	}
	cr_assert_eq(requests_run(), (uint64_t)served, "only the good client's requests ran, once");
	struct ap_udp_counts n = counts();
	cr_assert_gt(n.malformed, 0);
	cr_assert_gt(n.truncated, 0);
	cr_assert_gt(n.unknown_session, 0);
	cr_assert_gt(n.reasm_refused, 0, "the flood met the reassembly bound");
	cr_assert_gt(n.reasm_inconsistent, 0);
	/* the flood's messages time out and their memory comes back */
	for (int waited = 0; (n = counts()).reasm_bytes_in_use; waited += 20) {
		cr_assert_lt(waited, HANG_MS, "%llu reassembly bytes still held",
			     (unsigned long long)n.reasm_bytes_in_use);
		usleep(20000);
	}
	cr_assert_gt(n.reasm_timeouts, 0);
	cr_log_info("udp hostile (%s): %llu datagrams, %llu malformed, %llu truncated, "
		    "%llu unknown session, %llu refused, %llu inconsistent, %llu timeouts, "
		    "%llu acks out, %d requests served",
		    no_buf_ring ? "fallback" : "buffer ring", (unsigned long long)n.datagrams,
		    (unsigned long long)n.malformed, (unsigned long long)n.truncated,
		    (unsigned long long)n.unknown_session, (unsigned long long)n.reasm_refused,
		    (unsigned long long)n.reasm_inconsistent, (unsigned long long)n.reasm_timeouts,
		    (unsigned long long)n.acks_out, served);
	/* and the good client is still served */
	infer_until_answered(&good, 2000, 2, 0, 8);
	close(good.fd);
	close(evil.fd);
	close(stranger.fd);
	cr_assert_eq(ap_server_stop(srv), 0);
	int fds1 = open_fds();
	size_t heap1 = heap_in_use();
	cr_log_info("udp hostile (%s): fds %d -> %d, heap in use %zu -> %zu bytes",
		    no_buf_ring ? "fallback" : "buffer ring", fds0, fds1, heap0, heap1);
	cr_assert_eq(fds1, fds0, "descriptors left open");
	cr_assert_leq(heap1, heap0 + (64u << 10), "heap not given back");
	free_model();
}

Test(appliance_udp, hostile_datagrams_with_buffer_ring, .timeout = 300)
{
	hostile(0);
}

Test(appliance_udp, hostile_datagrams_with_fallback_recvmsg, .timeout = 300)
{
	hostile(1);
}

/* Replies dropped, duplicated and reordered by the appliance's injector
 * (--faults): the client's retransmissions are copies, answered from the
 * cache; every request is answered and runs once. */
Test(appliance_udp, served_under_reply_faults, .timeout = 300)
{
	const struct cw_fault_config f = {.drop = 0.3, .dup = 0.1, .reorder = 0.1, .seed = 14};
	struct uclient c;
	load_model();
	start_server(0, &f);
	uc_open(&c);
	uc_hello(&c);
	for (int k = 0; k < 16; k++)
		infer_until_answered(&c, 300 + (uint64_t)k, k % 3, (k * 5) % model->exit_len[k % 3],
				     8);
	cr_assert_eq(requests_run(), 16, "a request ran twice");
	struct ap_udp_counts n = counts();
	cr_assert_gt(n.faults_dropped, 0);
	cr_assert_gt(n.copies_answered + n.copies_running, 0, "no retransmission met the cache");
	cr_log_info("udp under 30%% reply loss: %llu replies dropped, %llu duplicated, %llu "
		    "reordered; %llu copies answered from the cache, %llu while running",
		    (unsigned long long)n.faults_dropped, (unsigned long long)n.faults_duplicated,
		    (unsigned long long)n.faults_reordered, (unsigned long long)n.copies_answered,
		    (unsigned long long)n.copies_running);
	close(c.fd);
	cr_assert_eq(ap_server_stop(srv), 0);
	free_model();
}
