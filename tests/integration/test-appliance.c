/* The appliance over loopback, in-process (port 0, both receive paths): HELLO and
 * WELCOME, INFER answered with the class the C runtime gives locally, PING, the
 * refusals (model mismatch, no session, bad split, broken frame, in-flight limit),
 * and hostile peers — garbage, a half message then silence, a 4 GB length
 * prefix — dropped without harm to a well-behaved device served meanwhile.
 * Policy serving: DECISION is the class's policy's own choice for the DECIDE
 * state (checked against a copy loaded from a file), per class; DECIDE without
 * a policy for the class is refused; RESULT's next action only after a DECIDE
 * and only when asked for; policies that do not fit are refused at start, by the
 * appliance and the agent alike. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "coinfer/codec-frame.h"
#include "coinfer/exec.h"
#include "coinfer/wire.h"
#include "server.h"
#include "infer-maker.h"
#include "test-policy.h"

/* How long a reply may take before the test gives up: a guard against a hung
 * appliance, not a speed check (a loaded 2-core host can stall a worker for
 * seconds), so far above any real answer time and below the test's timeout. */
#define HANG_MS 60000

static struct cr_model *model;
static struct cr_exec *local;
static struct ap_server *srv;

struct client {
	int fd;
	struct cw_reader rd;
	uint8_t *rbuf;
};

static void load_model(void)
{
	char err[256];
	cr_assert_eq(cr_model_load(COINFER_SOURCE_ROOT "/models/branchy-alexnet.cfm", &model, err,
				   sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(cr_exec_create(model, NULL, 1, &local), 0);
}

static void config(struct ap_server_config *cfg, int no_buf_ring, int idle_ms)
{
	ap_server_defaults(cfg);
	cfg->port = 0;
	cfg->workers = 2;
	cfg->max_conns = 64;
	cfg->max_inflight = 4;
	cfg->max_batch = 8;
	cfg->max_delay_us = 1000;
	cfg->calibrate_runs = 0;
	cfg->idle_timeout_ms = idle_ms;
	cfg->no_buf_ring = no_buf_ring;
	cfg->rx_buffers = 64;
	cfg->quiet = 1;
	/* Requests carry budgets down to 40 ms: a worker preempted that long would
	 * refuse them (ERROR deadline) and fail a test about something else. The
	 * refusal rule itself is the scheduler's, tested with an injected clock in
	 * tests/appliance/test-sched.c. */
	cfg->run_late = 1;
}

static void start_serving(struct pol_policy *const *pols, int n)
{
	char err[256];
	struct ap_server_config cfg;
	config(&cfg, 0, 10000);
	cfg.policies = pols;
	cfg.n_policies = n;
	cr_assert_eq(ap_server_start(&cfg, model, &srv, err, sizeof(err)), 0, "%s", err);
}

static void start(int no_buf_ring, int idle_ms)
{
	char err[256];
	load_model();
	struct ap_server_config cfg;
	config(&cfg, no_buf_ring, idle_ms);
	cr_assert_eq(ap_server_start(&cfg, model, &srv, err, sizeof(err)), 0, "%s", err);
}

static void stop(void)
{
	ap_server_stop(srv);
	cr_exec_destroy(local);
	cr_model_free(model);
}

static void connect_client(struct client *c)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)ap_server_port(srv))};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(c->fd >= 0);
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	cr_assert_eq(connect(c->fd, (struct sockaddr *)&a, sizeof(a)), 0, "connect: %s", strerror(errno));
	struct cw_limits lim = cw_limits_default();
	size_t n = cw_reader_bytes(&lim);
	c->rbuf = malloc(n);
	cr_assert_eq(cw_reader_init(&c->rd, c->rbuf, n, &lim), 0);
}

static void close_client(struct client *c)
{
	close(c->fd);
	free(c->rbuf);
}

static void send_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		cr_assert(k > 0, "send: %s", strerror(errno));
		p += k;
		n -= (size_t)k;
	}
}

/* Next message within ms (a hang guard); 0, or -ETIMEDOUT / -ECONNRESET (peer
 * closed). */
static int recv_msg(struct client *c, struct cw_msg *m, int ms)
{
	char err[256];
	for (;;) {
		int r = cw_reader_next(&c->rd, m, err, sizeof(err));
		if (r != -EAGAIN) {
			cr_assert_eq(r, 0, "reader: %s", err);
			return 0;
		}
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		if (poll(&p, 1, ms) <= 0)
			return -ETIMEDOUT;
		size_t avail;
		uint8_t *dst = cw_reader_space(&c->rd, &avail);
		ssize_t k = recv(c->fd, dst, avail, 0);
		if (k <= 0)
			return -ECONNRESET;
		cw_reader_commit(&c->rd, (size_t)k);
	}
}

static void hello_as(struct client *c, uint64_t checksum, const char *device_class)
{
	struct cw_hello h = {.device_id = 42, .model_checksum = checksum, .max_inflight = 4};
	snprintf(h.device_class, sizeof(h.device_class), "%s", device_class);
	strcpy(h.model, model->name);
	strcpy(h.app, "tests");
	uint8_t buf[512];
	size_t len;
	cr_assert_eq(cw_encode_hello(buf, sizeof(buf), &h, &len, NULL, 0), 0);
	send_all(c->fd, buf, len);
}

static void hello(struct client *c, uint64_t checksum)
{
	hello_as(c, checksum, "test");
}

/* An INFER for exit e split at p with a random image (infer-maker.h). */
static size_t make_infer_as(uint8_t *buf, size_t cap, uint64_t id, int e, int p, int bits,
			    uint16_t *label, uint32_t flags, uint32_t deadline_us, uint32_t device_us)
{
	return im_infer(model, local, buf, cap, id, e, p, bits, label, flags, deadline_us,
			device_us);
}

static size_t make_infer(uint8_t *buf, size_t cap, uint64_t id, int e, int p, int bits,
			 uint16_t *label)
{
	return make_infer_as(buf, cap, id, e, p, bits, label, 0, 5000000, 0);
}

static void serve_one_device(int requests)
{
	struct client c;
	struct cw_msg m;
	static uint8_t buf[1 << 18];
	connect_client(&c);
	hello(&c, model->checksum);
	cr_assert_eq(recv_msg(&c, &m, HANG_MS), 0);
	cr_assert_eq(m.type, CW_WELCOME, "got %s", cw_type_name(m.type));
	cr_assert_eq(m.welcome.model_checksum, model->checksum);
	uint16_t want[64];
	for (int k = 0; k < requests; k++) {
		int e = k % 3, p = (k * 7) % model->exit_len[e];
		size_t len = make_infer(buf, sizeof(buf), 1000 + (uint64_t)k, e, p, 8, &want[k]);
		send_all(c.fd, buf, len);
		cr_assert_eq(recv_msg(&c, &m, HANG_MS), 0, "request %d unanswered", k);
		cr_assert_eq(m.type, CW_RESULT, "request %d: %s %s", k, cw_type_name(m.type),
			     m.type == CW_ERROR ? m.error.msg : "");
		cr_assert_eq(m.result.request_id, 1000 + (uint64_t)k);
		cr_assert_eq(m.result.label, want[k], "request %d (exit %d, partition %d)", k, e + 1, p);
		cr_assert_eq(m.result.exit, e);
	}
	close_client(&c);
}

static void served(int no_buf_ring)
{
	start(no_buf_ring, 10000);
	serve_one_device(24);
	struct client c;
	struct cw_msg m;
	uint8_t buf[512];
	size_t len;
	/* PING before HELLO is fine */
	connect_client(&c);
	struct cw_ping pg = {.nonce = 5, .timestamp = 77, .padding_len = 1000};
	static uint8_t pbuf[4096];
	cr_assert_eq(cw_encode_ping(pbuf, sizeof(pbuf), &pg, &len, NULL, 0), 0);
	send_all(c.fd, pbuf, len);
	cr_assert_eq(recv_msg(&c, &m, HANG_MS), 0);
	cr_assert_eq(m.type, CW_PONG);
	cr_assert_eq(m.pong.nonce, 5);
	cr_assert_eq(m.pong.padding_len, 1000);
	/* INFER before HELLO */
	uint16_t lbl;
	static uint8_t ibuf[1 << 18];
	len = make_infer(ibuf, sizeof(ibuf), 9, 0, 3, 8, &lbl);
	send_all(c.fd, ibuf, len);
	cr_assert_eq(recv_msg(&c, &m, HANG_MS), 0);
	cr_assert_eq(m.type, CW_ERROR);
	cr_assert_eq(m.error.code, CW_ERR_NO_SESSION);
	hello(&c, model->checksum);
	cr_assert_eq(recv_msg(&c, &m, HANG_MS), 0);
	cr_assert_eq(m.type, CW_WELCOME);
	/* a split the model does not have */
	len = make_infer(ibuf, sizeof(ibuf), 10, 0, 3, 8, &lbl);
	ibuf[CW_HEADER_BYTES + 22] = 99; /* the partition field, see docs/protocol.md */
	ibuf[CW_HEADER_BYTES + 23] = 0;
	send_all(c.fd, ibuf, len);
	cr_assert_eq(recv_msg(&c, &m, HANG_MS), 0);
	cr_assert_eq(m.type, CW_ERROR);
	cr_assert(m.error.code == CW_ERR_BAD_REQUEST, "code %u: %s", m.error.code, m.error.msg);
	/* a frame broken inside: answered BAD_FRAME, the session goes on */
	len = make_infer(ibuf, sizeof(ibuf), 11, 1, 4, 8, &lbl);
	ibuf[len - 20] ^= 0x40;
	send_all(c.fd, ibuf, len);
	cr_assert_eq(recv_msg(&c, &m, HANG_MS), 0);
	cr_assert_eq(m.type, CW_ERROR);
	cr_assert_eq(m.error.code, CW_ERR_BAD_FRAME, "code %u: %s", m.error.code, m.error.msg);
	cr_assert_eq(m.error.request_id, 11);
	len = make_infer(ibuf, sizeof(ibuf), 12, 1, 4, 8, &lbl);
	send_all(c.fd, ibuf, len);
	cr_assert_eq(recv_msg(&c, &m, HANG_MS), 0);
	cr_assert_eq(m.type, CW_RESULT);
	cr_assert_eq(m.result.label, lbl);
	/* more than max_inflight (4) at once: the rest are refused busy, none lost */
	int results = 0, busy = 0;
	/* in one send, so that they arrive together whatever the receive path */
	size_t at = 0;
	for (int k = 0; k < 10; k++)
		at += make_infer(ibuf + at, sizeof(ibuf) - at, 100 + (uint64_t)k, 2, 0, 8, &lbl);
	send_all(c.fd, ibuf, at);
	for (int k = 0; k < 10; k++) {
		cr_assert_eq(recv_msg(&c, &m, HANG_MS), 0);
		if (m.type == CW_RESULT)
			results++;
		else if (m.type == CW_ERROR && m.error.code == CW_ERR_BUSY)
			busy++;
	}
	cr_assert_eq(results + busy, 10);
	cr_assert_geq(busy, 1);
	close_client(&c);
	/* wrong model: refused and closed */
	connect_client(&c);
	hello(&c, model->checksum ^ 1);
	cr_assert_eq(recv_msg(&c, &m, HANG_MS), 0);
	cr_assert_eq(m.type, CW_ERROR);
	cr_assert_eq(m.error.code, CW_ERR_MODEL_MISMATCH);
	cr_assert_eq(recv_msg(&c, &m, HANG_MS), -ECONNRESET);
	close_client(&c);
	(void)buf;
	stop();
}

Test(appliance, served_with_buffer_ring, .timeout = 120)
{
	served(0);
}

Test(appliance, served_with_plain_recv, .timeout = 120)
{
	served(1);
}

Test(appliance, hostile_peers_dropped_others_served, .timeout = 120)
{
	start(0, 1500);
	struct client g, h, b;
	struct cw_msg m;
	/* garbage: refused at its first byte, closed */
	connect_client(&g);
	send_all(g.fd, (const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18);
	cr_assert_eq(recv_msg(&g, &m, HANG_MS), 0);
	cr_assert_eq(m.type, CW_ERROR);
	cr_assert_eq(recv_msg(&g, &m, HANG_MS), -ECONNRESET);
	/* a 4 GB length prefix: refused as soon as the length is in */
	connect_client(&b);
	hello(&b, model->checksum);
	cr_assert_eq(recv_msg(&b, &m, HANG_MS), 0);
	uint8_t hdr[CW_HEADER_BYTES];
	struct cw_ping pg = {.nonce = 1};
	size_t len;
	uint8_t tmp[256];
	cr_assert_eq(cw_encode_ping(tmp, sizeof(tmp), &pg, &len, NULL, 0), 0);
	memcpy(hdr, tmp, CW_HEADER_BYTES);
	hdr[8] = hdr[9] = hdr[10] = hdr[11] = 0xFF; /* body length, docs/protocol.md */
	send_all(b.fd, hdr, sizeof(hdr));
	cr_assert_eq(recv_msg(&b, &m, HANG_MS), 0);
	cr_assert_eq(m.type, CW_ERROR);
	cr_assert_eq(m.error.code, CW_ERR_TOO_LARGE, "code %u: %s", m.error.code, m.error.msg);
	cr_assert_eq(recv_msg(&b, &m, HANG_MS), -ECONNRESET);
	/* half a message, then silence: closed after the idle timeout */
	connect_client(&h);
	hello(&h, model->checksum);
	cr_assert_eq(recv_msg(&h, &m, HANG_MS), 0);
	static uint8_t ibuf[1 << 18];
	uint16_t lbl;
	len = make_infer(ibuf, sizeof(ibuf), 1, 2, 5, 8, &lbl);
	send_all(h.fd, ibuf, len / 2);
	/* meanwhile a good device is served */
	serve_one_device(6);
	cr_assert_eq(recv_msg(&h, &m, HANG_MS), -ECONNRESET, "half-sent peer not dropped");
	struct ap_stats st;
	ap_server_stats(srv, &st);
	cr_assert_geq(st.protocol_errors, 2);
	close_client(&g);
	close_client(&b);
	close_client(&h);
	stop();
}

/* ---- policy serving ------------------------------------------------------- */

static struct pol_policy *serving_pols[2];

/* Two policies (pi4-est and "other") served, and a copy of each loaded back
 * from a file: what the appliance answers must be what that copy decides. */
static void start_policies(struct pol_policy *copy[2])
{
	char err[512], path[] = "/tmp/coinfer-serving-XXXXXX";
	load_model();
	cr_assert_eq(test_policy_make(model, "pi4-est", "pi4-est", 11, &serving_pols[0], err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(test_policy_make(model, "pi4-est", "other", 12, &serving_pols[1], err, sizeof(err)), 0,
		     "%s", err);
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	close(fd);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(pol_save(serving_pols[i], path, err, sizeof(err)), 0, "%s", err);
		cr_assert_eq(pol_load(path, &copy[i], err, sizeof(err)), 0, "%s", err);
	}
	unlink(path);
	start_serving(serving_pols, 2);
}

static void stop_policies(struct pol_policy *copy[2])
{
	stop();
	for (int i = 0; i < 2; i++) {
		pol_policy_free(serving_pols[i]);
		pol_policy_free(copy[i]);
	}
}

static void send_decide(struct client *c, const struct cw_decide *d)
{
	uint8_t buf[128];
	size_t len;
	cr_assert_eq(cw_encode_decide(buf, sizeof(buf), d, &len, NULL, 0), 0);
	send_all(c->fd, buf, len);
}

/* The observation docs/protocol.md promises for a DECIDE. */
static struct pol_obs_in decide_obs(const struct cw_decide *d, uint32_t queue_delay_us)
{
	unsigned u = d->load_permille < 900 ? d->load_permille : 900;
	return (struct pol_obs_in){.bw_ewma_mbps = d->bandwidth_bps / 1e6,
				   .bw_last_mbps = d->bandwidth_bps / 1e6,
				   .deadline_ms = d->deadline_us / 1e3,
				   .energy_j = d->energy_uj / 1e6,
				   .load = 1.0 / (1.0 - u / 1000.0),
				   .queue_ms = queue_delay_us / 1e3};
}

static void session(struct client *c, const char *device_class)
{
	struct cw_msg m;
	connect_client(c);
	hello_as(c, model->checksum, device_class);
	cr_assert_eq(recv_msg(c, &m, HANG_MS), 0);
	cr_assert_eq(m.type, CW_WELCOME, "got %s", cw_type_name(m.type));
}

Test(serving, decision_is_the_class_policys_choice, .timeout = 120)
{
	static const uint64_t bw[] = {0, 300000, 2000000, 50000000};
	static const uint32_t deadline[] = {30000, 100000, 400000};
	static const uint16_t load[] = {0, 500, 950};
	struct pol_policy *copy[2];
	struct client c[2];
	struct cw_msg m;
	int distinct = 0, differ = 0;
	struct cf_action seen[64];
	start_policies(copy);
	session(&c[0], "pi4-est");
	session(&c[1], "other");
	uint64_t id = 1;
	for (size_t b = 0; b < 4; b++)
		for (size_t d = 0; d < 3; d++)
			for (size_t l = 0; l < 3; l++) {
				struct cw_decide q = {.bandwidth_bps = bw[b], .deadline_us = deadline[d],
						      .energy_uj = l == 1 ? 5000 : 0,
						      .load_permille = load[l]};
				struct cf_action want[2];
				for (int k = 0; k < 2; k++) {
					q.request_id = id++;
					send_decide(&c[k], &q);
					cr_assert_eq(recv_msg(&c[k], &m, HANG_MS), 0);
					cr_assert_eq(m.type, CW_DECISION, "got %s: %s", cw_type_name(m.type),
						     m.type == CW_ERROR ? m.error.msg : "");
					cr_assert_eq(m.decision.request_id, q.request_id);
					struct pol_obs_in in = decide_obs(&q, m.decision.queue_delay_us);
					cr_assert_eq(pol_policy_decide(copy[k], &in, 0, &want[k], NULL), 0);
					const struct cf_action *a = &m.decision.action;
					cr_assert(a->exit == want[k].exit &&
							  a->partition == want[k].partition &&
							  a->bits == want[k].bits,
						  "class %d, bw %llu deadline %u load %u: served exit %d "
						  "partition %d bits %d, the policy says %d/%d/%d",
						  k, (unsigned long long)q.bandwidth_bps, q.deadline_us,
						  q.load_permille, a->exit + 1, a->partition, a->bits,
						  want[k].exit + 1, want[k].partition,
						  want[k].bits);
					if (!q.bandwidth_bps)
						cr_assert_eq(a->partition, model->exit_len[a->exit],
							     "link down, yet an offloading action");
				}
				differ += memcmp(&want[0], &want[1], sizeof(want[0])) != 0;
				int k = 0;
				while (k < distinct && memcmp(&seen[k], &want[0], sizeof(seen[0])))
					k++;
				if (k == distinct)
					seen[distinct++] = want[0];
			}
	/* a test that a constant answer would pass proves nothing */
	cr_assert_geq(distinct, 3, "the policy chose only %d actions over 36 states", distinct);
	cr_assert_geq(differ, 1, "the two classes' policies never differed");
	struct ap_stats st;
	ap_server_stats(srv, &st);
	cr_assert_eq(st.decisions, 72);
	close_client(&c[0]);
	close_client(&c[1]);
	stop_policies(copy);
}

Test(serving, decide_without_a_policy_for_the_class_is_refused, .timeout = 120)
{
	struct pol_policy *copy[2];
	struct client c;
	struct cw_msg m;
	static uint8_t ibuf[1 << 18];
	uint16_t lbl;
	start_policies(copy);
	session(&c, "rpi3-edgent");
	struct cw_decide q = {.request_id = 5, .bandwidth_bps = 1000000, .deadline_us = 100000};
	send_decide(&c, &q);
	cr_assert_eq(recv_msg(&c, &m, HANG_MS), 0);
	cr_assert_eq(m.type, CW_ERROR, "got %s", cw_type_name(m.type));
	cr_assert_eq(m.error.code, CW_ERR_UNSUPPORTED, "code %u: %s", m.error.code, m.error.msg);
	cr_assert_eq(m.error.request_id, 5);
	cr_assert_str_eq(m.error.msg, "no policy for device class rpi3-edgent");
	/* the session goes on, and asking for a next action gets none */
	size_t len = make_infer_as(ibuf, sizeof(ibuf), 6, 1, 4, 8, &lbl, CW_INFER_SUGGEST, 5000000, 0);
	send_all(c.fd, ibuf, len);
	cr_assert_eq(recv_msg(&c, &m, HANG_MS), 0);
	cr_assert_eq(m.type, CW_RESULT, "got %s", cw_type_name(m.type));
	cr_assert_eq(m.result.label, lbl);
	cr_assert_eq(m.result.flags & CW_RESULT_NEXT_VALID, 0);
	close_client(&c);
	stop_policies(copy);
	/* an appliance without policies refuses the same way */
	start(0, 10000);
	session(&c, "pi4-est");
	send_decide(&c, &q);
	cr_assert_eq(recv_msg(&c, &m, HANG_MS), 0);
	cr_assert_eq(m.type, CW_ERROR);
	cr_assert_eq(m.error.code, CW_ERR_UNSUPPORTED);
	cr_assert_str_eq(m.error.msg, "no policy for device class pi4-est");
	close_client(&c);
	stop();
}

Test(serving, result_suggests_the_next_action_after_a_decide, .timeout = 120)
{
	struct pol_policy *copy[2];
	struct client c;
	struct cw_msg m;
	static uint8_t ibuf[1 << 18];
	uint16_t lbl;
	size_t len;
	start_policies(copy);
	session(&c, "pi4-est");
	/* asked for, but no DECIDE state yet: nothing to suggest from */
	len = make_infer_as(ibuf, sizeof(ibuf), 1, 2, 5, 8, &lbl, CW_INFER_SUGGEST, 5000000, 0);
	send_all(c.fd, ibuf, len);
	cr_assert_eq(recv_msg(&c, &m, HANG_MS), 0);
	cr_assert_eq(m.type, CW_RESULT, "got %s", cw_type_name(m.type));
	cr_assert_eq(m.result.flags & CW_RESULT_NEXT_VALID, 0);
	struct cw_decide q = {.request_id = 2, .bandwidth_bps = 4000000, .deadline_us = 150000,
			      .load_permille = 300};
	send_decide(&c, &q);
	cr_assert_eq(recv_msg(&c, &m, HANG_MS), 0);
	cr_assert_eq(m.type, CW_DECISION);
	/* a state now, but not asked for */
	len = make_infer_as(ibuf, sizeof(ibuf), 3, 2, 5, 8, &lbl, 0, 5000000, 0);
	send_all(c.fd, ibuf, len);
	cr_assert_eq(recv_msg(&c, &m, HANG_MS), 0);
	cr_assert_eq(m.type, CW_RESULT);
	cr_assert_eq(m.result.flags & CW_RESULT_NEXT_VALID, 0);
	/* asked for with a state: the policy's action for it, with this request's
	 * budget (deadline_us + device_us) and the queue delay the RESULT reports */
	for (int k = 0; k < 6; k++) {
		uint32_t dl = 40000 + 60000 * (uint32_t)k, dev = 3000 * (uint32_t)k;
		len = make_infer_as(ibuf, sizeof(ibuf), 10 + (uint64_t)k, k % 3, 2, 8, &lbl,
				    CW_INFER_SUGGEST, dl, dev);
		send_all(c.fd, ibuf, len);
		cr_assert_eq(recv_msg(&c, &m, HANG_MS), 0);
		cr_assert_eq(m.type, CW_RESULT, "got %s: %s", cw_type_name(m.type),
			     m.type == CW_ERROR ? m.error.msg : "");
		cr_assert_eq(m.result.label, lbl);
		cr_assert(m.result.flags & CW_RESULT_NEXT_VALID, "request %d: no next action", k);
		const struct cf_action *a = &m.result.next;
		int in_table = 0;
		for (int i = 0; i < copy[0]->n_actions; i++)
			in_table |= copy[0]->actions[i].exit == a->exit &&
				    copy[0]->actions[i].partition == a->partition &&
				    copy[0]->actions[i].bits == a->bits;
		cr_assert(in_table, "next exit %d partition %d bits %d is not in the table",
			  a->exit + 1, a->partition, a->bits);
		struct pol_obs_in in = decide_obs(&q, m.result.queue_delay_us);
		in.deadline_ms = (dl + dev) / 1e3;
		struct cf_action want;
		cr_assert_eq(pol_policy_decide(copy[0], &in, 0, &want, NULL), 0);
		cr_assert(a->exit == want.exit && a->partition == want.partition &&
				  a->bits == want.bits,
			  "request %d: next %d/%d/%d, the policy says %d/%d/%d", k, a->exit + 1,
			  a->partition, a->bits, want.exit + 1, want.partition, want.bits);
	}
	struct ap_stats st;
	ap_server_stats(srv, &st);
	cr_assert_eq(st.suggestions, 6);
	close_client(&c);
	stop_policies(copy);
}

Test(serving, policies_that_do_not_fit_are_refused_at_start, .timeout = 120)
{
	char err[512];
	struct pol_policy *p[2];
	struct ap_server_config cfg;
	load_model();
	cr_assert_eq(test_policy_make(model, "pi4-est", "pi4-est", 1, &p[0], err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(test_policy_make(model, "pi4-est", "pi4-est", 2, &p[1], err, sizeof(err)), 0,
		     "%s", err);
	config(&cfg, 0, 10000);
	cfg.policies = p;
	cfg.n_policies = 2;
	cr_assert_neq(ap_server_start(&cfg, model, &srv, err, sizeof(err)), 0);
	cr_assert(strstr(err, "both for device class pi4-est"), "%s", err);
	/* trained for another model */
	cr_assert_eq(pol_policy_set_meta(p[1], p[1]->actions, p[1]->n_actions, "pi4-other",
					 "other-model", 0), 0);
	cr_assert_neq(ap_server_start(&cfg, model, &srv, err, sizeof(err)), 0);
	cr_assert(strstr(err, "model other-model"), "%s", err);
	/* an action the model does not have */
	p[1]->actions[0].partition = 200;
	cr_assert_eq(pol_policy_set_meta(p[1], p[1]->actions, p[1]->n_actions, "pi4-other",
					 model->name, 0), 0);
	cr_assert_neq(ap_server_start(&cfg, model, &srv, err, sizeof(err)), 0);
	cr_assert(strstr(err, "does not fit model"), "%s", err);
	pol_policy_free(p[0]);
	pol_policy_free(p[1]);
	cr_exec_destroy(local);
	cr_model_free(model);
}

/* What coinfer-agent (COINFER_AGENT) says on stderr about --policy path: its exit
 * status, or -1. */
static int agent_on_policy(const char *path, char *out, size_t cap)
{
	const char *agent = getenv("COINFER_AGENT");
	char cmd[1024];
	cr_assert(agent, "COINFER_AGENT is not set");
	snprintf(cmd, sizeof(cmd), "'%s' --policy '%s' --requests 1 --quiet 2>&1 >/dev/null", agent,
		 path);
	FILE *f = popen(cmd, "r");
	cr_assert(f);
	size_t n = fread(out, 1, cap - 1, f);
	out[n] = 0;
	int st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The appliance and the agent's --policy run one check: the same policy file is
 * refused by both with the same reason (a device-only action with bits 8, which
 * only the appliance used to refuse). */
Test(serving, appliance_and_agent_refuse_the_same_policy, .timeout = 120)
{
	char err[512], agent_err[1024], path[] = "/tmp/coinfer-unfit-XXXXXX";
	struct pol_policy *p;
	struct ap_server_config cfg;
	load_model();
	cr_assert_eq(test_policy_make(model, "pi4-est", "pi4-est", 1, &p, err, sizeof(err)), 0,
		     "%s", err);
	int k = 0;
	while (k < p->n_actions && p->actions[k].bits)
		k++;
	cr_assert_lt(k, p->n_actions, "no device-only action");
	p->actions[k].bits = 8;
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(pol_save(p, path, err, sizeof(err)), 0, "%s", err);
	char want[256];
	snprintf(want, sizeof(want), "action %d (exit %d, partition %d, bits 8) does not fit model "
		 "%s: the whole exit on the device sends nothing and has bits 0", k,
		 p->actions[k].exit + 1, p->actions[k].partition, model->name);
	config(&cfg, 0, 10000);
	cfg.policies = &p;
	cfg.n_policies = 1;
	cr_assert_neq(ap_server_start(&cfg, model, &srv, err, sizeof(err)), 0);
	cr_expect(strstr(err, want), "appliance: '%s' lacks '%s'", err, want);
	cr_expect_eq(agent_on_policy(path, agent_err, sizeof(agent_err)), 1, "%s", agent_err);
	cr_expect(strstr(agent_err, want), "agent: '%s' lacks '%s'", agent_err, want);
	unlink(path);
	pol_policy_free(p);
	cr_exec_destroy(local);
	cr_model_free(model);
}

/* An INFER of exit index 0's input (3 x 32 x 32) as a raw frame (bits 0) with
 * element `at` set to v. */
static size_t raw_infer(uint8_t *buf, size_t cap, uint64_t id, enum cc_codec codec, size_t at,
			float v)
{
	static float img[3 * 32 * 32];
	for (int i = 0; i < 3 * 32 * 32; i++)
		img[i] = im_gauss();
	img[at] = v;
	uint32_t dims[3] = {3, 32, 32};
	size_t flen, len;
	char err[256];
	cr_assert_eq(cc_frame_encode(img, 3, dims, codec, 0, 0, buf + CW_INFER_PREFIX_BYTES,
				     cap - CW_INFER_PREFIX_BYTES, &flen, err, sizeof(err)),
		     0, "%s", err);
	struct cw_infer in = {.request_id = id, .deadline_us = 5000000, .frame_len = flen};
	cr_assert_eq(cw_encode_infer_header(buf, cap, &in, &len, err, sizeof(err)), 0, "%s", err);
	return len;
}

static void expect_error(struct client *c, uint64_t id, int code, const char *part)
{
	struct cw_msg m;
	cr_assert_eq(recv_msg(c, &m, 10000), 0, "request %llu unanswered", (unsigned long long)id);
	cr_assert_eq(m.type, CW_ERROR, "request %llu: %s", (unsigned long long)id,
		     cw_type_name(m.type));
	cr_assert_eq(m.error.request_id, id);
	cr_assert_eq(m.error.code, code, "request %llu: code %u: %s", (unsigned long long)id,
		     m.error.code, m.error.msg);
	cr_assert(strstr(m.error.msg, part), "request %llu: %s", (unsigned long long)id,
		  m.error.msg);
}

/* docs/protocol.md, "What the appliance accepts": a NaN or Inf in a frame is
 * ERROR bad-frame naming the element (it once got no reply at all), counted; an
 * INFER whose bits are not its frame's is bad-request; the session goes on. A
 * HELLO naming another model is refused even with the right checksum. */
Test(appliance, non_finite_frames_and_disagreeing_bits_refused, .timeout = 120)
{
	start(0, 10000);
	struct client c;
	struct cw_msg m;
	static uint8_t buf[1 << 18];
	struct ap_stats before, after;
	ap_server_stats(srv, &before);
	connect_client(&c);
	hello(&c, model->checksum);
	cr_assert_eq(recv_msg(&c, &m, 5000), 0);
	cr_assert_eq(m.type, CW_WELCOME);
	send_all(c.fd, buf, raw_infer(buf, sizeof(buf), 1, CC_CODEC_RAW32, 17, NAN));
	expect_error(&c, 1, CW_ERR_BAD_FRAME, "frame element 17 is NaN");
	send_all(c.fd, buf, raw_infer(buf, sizeof(buf), 2, CC_CODEC_RAW16, 4, -INFINITY));
	expect_error(&c, 2, CW_ERR_BAD_FRAME, "frame element 4 is -Inf");
	size_t len = raw_infer(buf, sizeof(buf), 3, CC_CODEC_RAW32, 0, 0.5f);
	buf[CW_HEADER_BYTES + 21] = 8; /* INFER's bits: the frame is raw */
	send_all(c.fd, buf, len);
	expect_error(&c, 3, CW_ERR_BAD_REQUEST, "INFER bits 8, its frame's bits 0");
	send_all(c.fd, buf, raw_infer(buf, sizeof(buf), 4, CC_CODEC_RAW16, 0, 0.5f));
	cr_assert_eq(recv_msg(&c, &m, 10000), 0);
	cr_assert_eq(m.type, CW_RESULT, "%s %s", cw_type_name(m.type),
		     m.type == CW_ERROR ? m.error.msg : "");
	cr_assert_eq(m.result.request_id, 4);
	close_client(&c);
	ap_server_stats(srv, &after);
	cr_assert_eq(after.bad_frames - before.bad_frames, 2);
	/* the right checksum under another model's name */
	connect_client(&c);
	struct cw_hello h = {.device_id = 7, .model_checksum = model->checksum, .max_inflight = 1};
	strcpy(h.model, "resnet18");
	cr_assert_eq(cw_encode_hello(buf, sizeof(buf), &h, &len, NULL, 0), 0);
	send_all(c.fd, buf, len);
	cr_assert_eq(recv_msg(&c, &m, 5000), 0);
	cr_assert_eq(m.type, CW_ERROR);
	cr_assert_eq(m.error.code, CW_ERR_MODEL_MISMATCH);
	cr_assert(strstr(m.error.msg, "resnet18") && strstr(m.error.msg, model->name), "%s",
		  m.error.msg);
	cr_assert_eq(recv_msg(&c, &m, 5000), -ECONNRESET);
	close_client(&c);
	stop();
}
