/* The metrics endpoint over loopback, in-process: the appliance on port 0 with
 * GET /metrics on a port libmicrohttpd picks. Every sample line of the answer
 * parses (name, optional labels, a number), every counter of struct ap_stats is
 * there, and they move when a device sends INFERs (null model: the frames are
 * validated, nothing computed); other paths are 404, other methods 405; the
 * text fits the bound the endpoint allocates; a port in use is a clear error.
 * The process gauges (descriptors, resident bytes, jemalloc's allocated bytes)
 * are there and plausible; built with TEST_JEMALLOC (linked with jemalloc, as
 * the appliance is) the jemalloc gauge must be there, without it it may not be. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#if TEST_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#include "coinfer/clock.h"
#include "coinfer/codec-frame.h"
#include "coinfer/wire.h"
#include "metrics.h"
#include "udp.h"
#include "server.h"

/* Guards against a hung endpoint or counter, not speed checks: far above what
 * a loaded host needs, below the tests' timeouts. */
#define HANG_S 40

static struct cr_model *model;
static struct ap_server *srv;
static struct ap_metrics *met;

static int transport = AP_TRANSPORT_TCP;

static void start(void)
{
	char err[256];
	cr_assert_eq(cr_model_load(COINFER_SOURCE_ROOT "/models/branchy-alexnet.cfm", &model, err,
				   sizeof(err)),
		     0, "%s", err);
	struct ap_server_config cfg;
	ap_server_defaults(&cfg);
	cfg.port = 0;
	cfg.workers = 2;
	cfg.max_conns = 16;
	cfg.null_model = 1;
	cfg.calibrate_runs = 0;
	cfg.rx_buffers = 64;
	cfg.max_delay_us = 500;
	cfg.quiet = 1;
	cfg.transport = transport;
	cr_assert_eq(ap_server_start(&cfg, model, &srv, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(ap_metrics_start(srv, "127.0.0.1", 0, &met, err, sizeof(err)), 0, "%s", err);
	cr_assert_gt(ap_metrics_port(met), 0);
}

static void stop(void)
{
	ap_metrics_stop(met);
	ap_server_stop(srv);
	cr_model_free(model);
}

static int connect_to(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(fd >= 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "connect: %s", strerror(errno));
	return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		cr_assert(k > 0, "send: %s", strerror(errno));
		p = (const char *)p + k;
		n -= (size_t)k;
	}
}

/* One HTTP/1.1 request; the status, and the whole answer (headers, body) in buf. */
static int http(const char *method, const char *path, char *buf, size_t cap)
{
	char req[256];
	int fd = connect_to(ap_metrics_port(met));
	snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
		 method, path);
	send_all(fd, req, strlen(req));
	size_t len = 0;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		cr_assert_eq(poll(&p, 1, HANG_S * 1000), 1, "no answer to %s %s", method, path);
		ssize_t k = recv(fd, buf + len, cap - 1 - len, 0);
		cr_assert(k >= 0, "recv: %s", strerror(errno));
		if (!k)
			break;
		len += (size_t)k;
		cr_assert_lt(len, cap - 1, "answer larger than %zu bytes", cap);
	}
	close(fd);
	buf[len] = 0;
	int status = 0;
	cr_assert_eq(sscanf(buf, "HTTP/1.1 %d", &status), 1, "not HTTP: %.80s", buf);
	return status;
}

static char page[1 << 16];

/* GET /metrics: the body, every sample line checked to be name[{labels}] number. */
static const char *scrape(void)
{
	cr_assert_eq(http("GET", "/metrics", page, sizeof(page)), 200, "%.200s", page);
	cr_assert_not_null(strstr(page, "Content-Type: text/plain; version=0.0.4"), "%.300s", page);
	char *body = strstr(page, "\r\n\r\n");
	cr_assert_not_null(body);
	body += 4;
	for (const char *l = body; *l; l = strchr(l, '\n') + 1) {
		const char *e = strchr(l, '\n');
		cr_assert_not_null(e, "last line unterminated: %s", l);
		if (!strncmp(l, "# HELP coinfer_appliance_", 25) || !strncmp(l, "# TYPE coinfer_appliance_", 25))
			continue;
		cr_assert_eq(strncmp(l, "coinfer_appliance_", 18), 0, "line: %.*s", (int)(e - l), l);
		const char *sp = memchr(l, ' ', (size_t)(e - l));
		cr_assert_not_null(sp, "line: %.*s", (int)(e - l), l);
		char *end;
		strtod(sp + 1, &end);
		cr_assert(end == e && end > sp + 1, "not a number: %.*s", (int)(e - l), l);
	}
	return body;
}

/* The value of the sample named exactly so (with its labels), -1 if absent. */
static double sample(const char *body, const char *name)
{
	size_t n = strlen(name);
	for (const char *l = body; *l; l = strchr(l, '\n') + 1)
		if (!strncmp(l, name, n) && l[n] == ' ')
			return strtod(l + n + 1, NULL);
	return -1;
}

/* Polls until name reaches want (the workers update counters as they go). The
 * bound only keeps a broken counter from hanging the test: a loaded host may
 * take seconds to run the workers, and waiting longer costs nothing when the
 * value arrives. */
static double wait_for(const char *name, double want)
{
	double v = -1, give_up = cf_now_s() + HANG_S;
	do {
		v = sample(scrape(), name);
		if (v == want)
			break;
		struct timespec ts = {0, 20000000};
		nanosleep(&ts, NULL);
	} while (cf_now_s() < give_up);
	return v;
}

/* HELLO, then n INFERs of exit 1 split at the input (8-bit frames of a
 * constant image: valid, and the null model computes nothing). */
static int device(int n)
{
	static uint8_t buf[1 << 16];
	static float img[3 * 32 * 32];
	char err[256];
	size_t len;
	int fd = connect_to(ap_server_port(srv));
	struct cw_hello h = {.device_id = 7, .model_checksum = model->checksum, .max_inflight = 4};
	strcpy(h.device_class, "test");
	strcpy(h.model, model->name);
	strcpy(h.app, "tests");
	cr_assert_eq(cw_encode_hello(buf, sizeof(buf), &h, &len, err, sizeof(err)), 0, "%s", err);
	send_all(fd, buf, len);
	for (int i = 0; i < 3 * 32 * 32; i++)
		img[i] = (float)(i % 17) / 17.0f;
	const uint32_t dims[3] = {3, 32, 32};
	for (int k = 0; k < n; k++) {
		size_t flen;
		cr_assert_eq(cc_frame_encode(img, 3, dims, CC_CODEC_HUFFMAN_ZRUN, 8, 0,
					     buf + CW_INFER_PREFIX_BYTES, sizeof(buf) - CW_INFER_PREFIX_BYTES,
					     &flen, err, sizeof(err)),
			     0, "%s", err);
		struct cw_infer in = {.request_id = 100 + (uint64_t)k, .deadline_us = 5000000,
				      .frame_len = flen, .action = {.exit = 0, .partition = 0, .bits = 8}};
		cr_assert_eq(cw_encode_infer_header(buf, sizeof(buf), &in, &len, err, sizeof(err)), 0,
			     "%s", err);
		send_all(fd, buf, len);
	}
	return fd;
}

Test(metrics, counters_move_with_requests, .init = start, .fini = stop, .timeout = 120)
{
	int n;
	const char *body = scrape();
	static const char *const names[] = {
		"connections_accepted_total", "connections_closed_total", "requests_total",
		"results_total", "errors_total", "busy_total", "expired_total", "bad_frames_total",
		"batches_total", "batch_images_total", "received_bytes_total", "sent_bytes_total",
		"protocol_errors_total", "decisions_total", "suggestions_total", "connected_devices",
		"queued_requests{worker=\"0\"}", "queued_requests{worker=\"1\"}",
		"request_duration_seconds_bucket{le=\"0.001\"}",
		"request_duration_seconds_bucket{le=\"+Inf\"}", "request_duration_seconds_sum",
		"request_duration_seconds_count", "open_connections",
		"request_queue_duration_seconds_bucket{le=\"0.02\"}",
		"request_compute_duration_seconds_bucket{le=\"0.05\"}",
		"request_compute_duration_seconds_count",
		"refused_devices_total{reason=\"model_mismatch\"}",
		"refused_devices_total{reason=\"capacity\"}",
		"refused_devices_total{reason=\"no_hello\"}",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char full[128];
		snprintf(full, sizeof(full), "coinfer_appliance_%s", names[i]);
		cr_assert_eq(sample(body, full), 0, "%s: %g at start", full, sample(body, full));
	}
	cr_assert_not_null(strstr(body, "# TYPE coinfer_appliance_requests_total counter\n"));
	cr_assert_not_null(strstr(body, "# TYPE coinfer_appliance_connected_devices gauge\n"));
	cr_assert_not_null(strstr(body, "# TYPE coinfer_appliance_request_duration_seconds histogram\n"));
	/* the answer fits the endpoint's buffer with room to spare */
	size_t len = strlen(body);
	cr_assert_lt(len, ap_metrics_max_bytes(srv));
	static char small[256];
	cr_assert_eq(ap_metrics_render(srv, small, sizeof(small)), 0);

	int fd = device(3);
	cr_assert_eq(wait_for("coinfer_appliance_results_total", 3), 3);
	body = scrape();
	cr_assert_eq(sample(body, "coinfer_appliance_requests_total"), 3);
	cr_assert_eq(sample(body, "coinfer_appliance_errors_total"), 0);
	cr_assert_eq(sample(body, "coinfer_appliance_connections_accepted_total"), 1);
	cr_assert_eq(sample(body, "coinfer_appliance_connected_devices"), 1);
	cr_assert_geq(sample(body, "coinfer_appliance_batches_total"), 1);
	cr_assert_eq(sample(body, "coinfer_appliance_batch_images_total"), 3);
	cr_assert_gt(sample(body, "coinfer_appliance_received_bytes_total"), 3 * 32);
	cr_assert_eq(sample(body, "coinfer_appliance_request_duration_seconds_count"), 3);
	cr_assert_eq(sample(body, "coinfer_appliance_request_queue_duration_seconds_count"), 3);
	cr_assert_eq(sample(body, "coinfer_appliance_request_compute_duration_seconds_count"), 3);
	cr_assert_eq(sample(body, "coinfer_appliance_open_connections"), 1);
	cr_assert_eq(sample(body, "coinfer_appliance_request_duration_seconds_bucket{le=\"+Inf\"}"), 3);
	cr_assert_gt(sample(body, "coinfer_appliance_request_duration_seconds_sum"), 0);
	/* buckets are cumulative */
	double prev = 0;
	for (const char *l = body; (l = strstr(l, "request_duration_seconds_bucket{")); l++) {
		double v = strtod(strchr(l, ' ') + 1, NULL);
		cr_assert_geq(v, prev, "%.80s", l);
		prev = v;
	}
	n = 0;
	for (int w = 0; w < ap_server_workers(srv); w++) {
		char q[96];
		snprintf(q, sizeof(q), "coinfer_appliance_queued_requests{worker=\"%d\"}", w);
		cr_assert_geq(sample(body, q), 0, "%s missing", q);
		n++;
	}
	cr_assert_eq(n, 2);
	close(fd);
	cr_assert_eq(wait_for("coinfer_appliance_connected_devices", 0), 0);
	cr_assert_eq(sample(scrape(), "coinfer_appliance_connections_closed_total"), 1);
}

Test(metrics, other_paths_and_methods_are_refused, .init = start, .fini = stop, .timeout = 60)
{
	cr_assert_eq(http("GET", "/", page, sizeof(page)), 404);
	cr_assert_eq(http("GET", "/metrics/x", page, sizeof(page)), 404);
	cr_assert_eq(http("POST", "/metrics", page, sizeof(page)), 405);
	cr_assert_not_null(strstr(page, "Allow: GET, HEAD"), "%.300s", page);
	cr_assert_eq(http("DELETE", "/metrics", page, sizeof(page)), 405);
	cr_assert_eq(http("HEAD", "/metrics", page, sizeof(page)), 200);
	cr_assert_null(strstr(page, "# HELP"), "HEAD has no body");
	cr_assert_eq(http("GET", "/metrics?x=1", page, sizeof(page)), 200);
}

Test(metrics, a_port_in_use_is_a_clear_error, .init = start, .fini = stop, .timeout = 60)
{
	struct ap_metrics *again = NULL;
	char err[256];
	int port = ap_metrics_port(met);
	cr_assert_lt(ap_metrics_start(srv, "127.0.0.1", port, &again, err, sizeof(err)), 0);
	cr_assert_null(again);
	char want[64];
	snprintf(want, sizeof(want), "cannot serve on 127.0.0.1:%d", port);
	cr_assert_not_null(strstr(err, want), "%s", err);
	cr_assert_not_null(strstr(err, "in use"), "libmicrohttpd's reason: %s", err);
	cr_assert_lt(ap_metrics_start(srv, "localhost", 0, &again, err, sizeof(err)), 0);
	cr_assert_not_null(strstr(err, "not a numeric IPv4 address"), "%s", err);
}

Test(metrics, process_gauges_are_there, .init = start, .fini = stop, .timeout = 30)
{
	const char *body = scrape();
	static const char *const gauges[] = {"process_open_fds", "process_resident_memory_bytes"};
	for (size_t i = 0; i < sizeof(gauges) / sizeof(gauges[0]); i++) {
		char type[128];
		snprintf(type, sizeof(type), "# TYPE coinfer_appliance_%s gauge\n", gauges[i]);
		cr_assert_not_null(strstr(body, type), "%s missing", type);
	}
	/* this process: stdio, the two listeners, the rings, the scrape's two ends */
	double fds = sample(body, "coinfer_appliance_process_open_fds");
	cr_assert_geq(fds, 6, "open fds %g", fds);
	cr_assert_lt(fds, 1024, "open fds %g", fds);
	/* the model alone is megabytes */
	double rss = sample(body, "coinfer_appliance_process_resident_memory_bytes");
	cr_assert_gt(rss, 1 << 20, "resident %g", rss);
	double je = sample(body, "coinfer_appliance_jemalloc_allocated_bytes");
#if TEST_JEMALLOC
	cr_assert_not_null(strstr(body, "# TYPE coinfer_appliance_jemalloc_allocated_bytes gauge\n"));
	/* the model and the server's preallocated slots are on jemalloc's heap */
	cr_assert_gt(je, 1 << 20, "jemalloc allocated %g", je);
	uint64_t epoch = 1;
	size_t now = 0, sz = sizeof(epoch);
	mallctl("epoch", &epoch, &sz, &epoch, sz);
	sz = sizeof(now);
	cr_assert_eq(mallctl("stats.allocated", &now, &sz, NULL, 0), 0);
	/* the same heap seen a moment later: within the scrape's own buffers */
	cr_assert_lt(fabs(je - (double)now), 4 << 20, "gauge %g, mallctl %zu", je, now);
#else
	cr_assert(je == -1 || je > 0, "jemalloc allocated %g", je);
#endif
	/* a descriptor opened here shows in the next scrape */
	int fd = connect_to(ap_server_port(srv));
	double more = sample(scrape(), "coinfer_appliance_process_open_fds");
	close(fd);
	cr_assert_gt(more, fds, "open fds %g with a connection more, %g before", more, fds);
}

static void start_udp(void)
{
	transport = AP_TRANSPORT_UDP;
	start();
}

/* Transport udp: every datagram counter is there (none over TCP: the counters
 * test above sees only its own), and a datagram moves them. */
Test(metrics, datagram_counters_over_udp, .init = start_udp, .fini = stop, .timeout = 60)
{
	const char *body = scrape();
#define THERE(f, kind, help)                                                                   \
	cr_assert_not_null(strstr(body, "# TYPE coinfer_appliance_udp_" #f), #f " missing");
	AP_UDP_COUNTERS(THERE)
#undef THERE
	cr_assert_eq(sample(body, "coinfer_appliance_udp_datagrams_total"), 0);
	cr_assert_eq(sample(body, "coinfer_appliance_udp_reasm_bytes_in_use"), 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)ap_server_port(srv))};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert(fd >= 0);
	cr_assert_eq(sendto(fd, "not a datagram", 14, 0, (struct sockaddr *)&a, sizeof(a)), 14);
	close(fd);
	cr_assert_eq(wait_for("coinfer_appliance_udp_malformed_total", 1), 1);
	cr_assert_eq(sample(scrape(), "coinfer_appliance_udp_datagrams_total"), 1);
}

Test(metrics, no_datagram_counters_over_tcp, .init = start, .fini = stop, .timeout = 30)
{
	cr_assert_null(strstr(scrape(), "coinfer_appliance_udp_"));
}

/* A HELLO for another model is refused and counted by its reason; the device
 * is never connected. */
Test(metrics, refused_devices_by_reason, .init = start, .fini = stop, .timeout = 60)
{
	uint8_t buf[512];
	char err[256];
	size_t len;
	int fd = connect_to(ap_server_port(srv));
	struct cw_hello h = {.device_id = 9, .model_checksum = model->checksum ^ 1,
			     .max_inflight = 1};
	strcpy(h.device_class, "test");
	strcpy(h.model, model->name);
	strcpy(h.app, "tests");
	cr_assert_eq(cw_encode_hello(buf, sizeof(buf), &h, &len, err, sizeof(err)), 0, "%s", err);
	send_all(fd, buf, len);
	cr_assert_eq(wait_for("coinfer_appliance_refused_devices_total{reason=\"model_mismatch\"}",
			      1), 1);
	cr_assert_eq(sample(scrape(), "coinfer_appliance_connected_devices"), 0);
	close(fd);
}
