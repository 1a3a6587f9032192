/* The metrics endpoint (design in metrics.h).
 *
 * libmicrohttpd runs one internal thread, so one request is answered at a
 * time: the text is rendered into one buffer sized at start for the worker
 * count, and handed over with MHD_RESPMEM_MUST_COPY so the next request may
 * reuse it while the previous answer is still being sent. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coinfer/clock.h"
#include "coinfer/errmsg.h"
#include "metrics.h"
#include "procstat.h"
#include "udp.h"

#define PREFIX "coinfer_appliance_"

struct ap_metrics {
	const struct ap_server *srv;
	struct MHD_Daemon *d;
	int port;
	char *buf;
	size_t cap;
	/* libmicrohttpd says why it could not start only through its logger */
	_Atomic int starting;
	char log[160];
};

/* Every counter of struct ap_stats, in its order. */
static const struct counter {
	const char *name, *help;
	size_t off;
} counters[] = {
#define C(f, n, h) {n, h, offsetof(struct ap_stats, f)}
	C(accepted, "connections_accepted_total", "TCP connections accepted."),
	C(closed, "connections_closed_total", "Connections closed, by either side."),
	C(requests, "requests_total", "INFER requests queued for the tail layers."),
	C(results, "results_total", "RESULT answers sent."),
	C(errors, "errors_total", "ERROR answers sent, whatever the reason."),
	C(busy, "busy_total", "Requests refused busy: the device's in-flight limit, or the "
			      "worker's request slots or buffers full."),
	C(expired, "expired_total", "Requests answered ERROR deadline."),
	C(bad_frames, "bad_frames_total", "INFER frames that failed validation or decoding."),
	C(batches, "batches_total", "Batches of tail layers run."),
	C(batch_images, "batch_images_total", "Images in those batches (mean batch size: this "
					      "over batches_total)."),
	C(bytes_in, "received_bytes_total", "Bytes received from devices."),
	C(bytes_out, "sent_bytes_total", "Bytes sent to devices."),
	C(protocol_errors, "protocol_errors_total", "Connections closed because their framing "
						    "broke."),
	C(decisions, "decisions_total", "DECIDEs answered with a policy's DECISION."),
	C(suggestions, "suggestions_total", "RESULTs that carried a policy's next action."),
	C(stalls, "worker_stalls_total", "Times the watchdog found a worker whose loop had not "
					 "turned for watchdog_ms."),
	C(auth_ok, "auth_ok_total", "Devices that proved their key (AUTH) and were welcomed."),
	C(auth_unknown, "auth_unknown_device_total", "HELLOs refused: no key for the device id."),
	C(auth_revoked, "auth_revoked_total", "HELLOs refused: the device's key is revoked."),
	C(auth_failed, "auth_failed_total", "Handshakes refused: no client nonce, a wrong MAC "
					    "or an expired challenge."),
	C(auth_rate_limited, "auth_rate_limited_total", "HELLOs refused over the per-address or "
							"per-device rate."),
#undef C
};
#define N_COUNTERS (sizeof(counters) / sizeof(counters[0]))

/* Fixed text (every HELP and TYPE, the three histograms) is well under 24 KiB,
 * the datagram counters under 8 KiB; a worker's gauge line under 80 bytes, a
 * decided action's under 160. */
size_t ap_metrics_max_bytes(const struct ap_server *s)
{
	const struct ap_server_config *c = ap_server_config(s);
	return 24576 + 8192 + 80 * (size_t)ap_server_workers(s) + 160 * ap_server_act_slots(s) +
	       3 * 80 * 2 * AP_SLO_DEADLINES_MAX + 2048 + 8 * 120 * (size_t)c->n_slo;
}

struct out {
	char *p;
	size_t cap, len;
	int full;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	if (o->full)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len)
		o->full = 1;
	else
		o->len += (size_t)n;
}

static void head(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP " PREFIX "%s %s\n# TYPE " PREFIX "%s %s\n", name, help, name, type);
}

/* What a leak would show as: descriptors, resident memory, heap bytes. An
 * unknown value is left out rather than reported as 0. */
static void process_gauges(struct out *o)
{
	long fds = ap_proc_open_fds();
	long long rss = ap_proc_resident_bytes(), je = ap_proc_jemalloc_bytes();
	if (fds >= 0) {
		head(o, "process_open_fds", "gauge", "Open file descriptors of the appliance process.");
		put(o, PREFIX "process_open_fds %ld\n", fds);
	}
	if (rss >= 0) {
		head(o, "process_resident_memory_bytes", "gauge", "Resident set size of the appliance "
			 "process.");
		put(o, PREFIX "process_resident_memory_bytes %lld\n", rss);
	}
	if (je >= 0) {
		head(o, "jemalloc_allocated_bytes", "gauge", "Bytes the appliance holds allocated "
			 "through jemalloc (stats.allocated).");
		put(o, PREFIX "jemalloc_allocated_bytes %lld\n", je);
	}
}

/* A datagram server's counters (io_uring UDP or DPDK), summed over its workers. */
static void udp_counters(struct out *o, const struct ap_server *s)
{
	struct ap_udp_counts c;
	if (!strcmp(ap_server_transport(s), "tcp"))
		return;
	ap_server_udp_stats(s, &c);
#define SUFFIX_counter "_total"
#define SUFFIX_gauge ""
#define ONE(f, kind, help)                                                                     \
	head(o, "udp_" #f SUFFIX_##kind, #kind, help);                                        \
	put(o, PREFIX "udp_" #f SUFFIX_##kind " %llu\n", (unsigned long long)c.f);
	AP_UDP_COUNTERS(ONE)
#undef ONE
#undef SUFFIX_gauge
#undef SUFFIX_counter
}

static void histogram(struct out *o, const char *name, const char *help,
		      const struct ap_hist_edges *e, const struct ap_hist *h)
{
	uint64_t cum = 0;
	head(o, name, "histogram", help);
	for (int b = 0; b <= e->n; b++) {
		cum += atomic_load(&h->n[b]);
		if (b < e->n)
			put(o, PREFIX "%s_bucket{le=\"%g\"} %llu\n", name, (double)e->us[b] / 1e6,
			    (unsigned long long)cum);
		else
			put(o, PREFIX "%s_bucket{le=\"+Inf\"} %llu\n", name,
			    (unsigned long long)cum);
	}
	put(o, PREFIX "%s_sum %.6f\n", name, (double)atomic_load(&h->sum_us) / 1e6);
	put(o, PREFIX "%s_count %llu\n", name, (unsigned long long)cum);
}

static void histograms(struct out *o, const struct ap_server *s, const struct ap_stats *st)
{
	const struct ap_hist_edges *e = ap_server_hist_edges(s);
	histogram(o, "request_duration_seconds", "Server time of each RESULT: from its INFER "
		  "parsed to its reply queued (queue, decode, batch compute).", e,
		  &st->server_time);
	histogram(o, "request_queue_duration_seconds", "Queueing part of each RESULT's server "
		  "time: the server time less decode and compute.", e, &st->queue_time);
	histogram(o, "request_compute_duration_seconds", "Edge compute part of each RESULT's "
		  "server time: decoding its frame and running its batch's tail layers.", e,
		  &st->compute_time);
}

/* Devices: with a session now, and refused by reason (every reason, 0 too). */
static void devices(struct out *o, const struct ap_stats *st)
{
	/* admitted is read before departed: a leave in between could make it
	 * look negative for one scrape */
	uint64_t in = atomic_load(&st->admitted), out = atomic_load(&st->departed);
	uint64_t acc = atomic_load(&st->accepted), clo = atomic_load(&st->closed);
	head(o, "connected_devices", "gauge", "Devices with a session: HELLO accepted, not gone.");
	put(o, PREFIX "connected_devices %llu\n", (unsigned long long)(in > out ? in - out : 0));
	head(o, "open_connections", "gauge", "Open device connections (TCP) or peers (datagrams), "
		 "with a session or not yet.");
	put(o, PREFIX "open_connections %llu\n", (unsigned long long)(acc > clo ? acc - clo : 0));
	head(o, "refused_devices_total", "counter", "Devices refused, by reason (the handshake's "
		 "too: unknown_device, revoked, auth_failed, rate_limited).");
#define REFUSED(e, label, help)                                                                \
	put(o, PREFIX "refused_devices_total{reason=\"" #label "\"} %llu\n",                   \
	    (unsigned long long)atomic_load(&st->refused[AP_REFUSE_##e]));
	AP_REFUSALS(REFUSED)
#undef REFUSED
	/* the handshake's refusals, counted where device identity counts them */
	static const struct {
		const char *label;
		size_t off;
	} auth[] = {{"unknown_device", offsetof(struct ap_stats, auth_unknown)},
		    {"revoked", offsetof(struct ap_stats, auth_revoked)},
		    {"auth_failed", offsetof(struct ap_stats, auth_failed)},
		    {"rate_limited", offsetof(struct ap_stats, auth_rate_limited)}};
	for (size_t i = 0; i < sizeof(auth) / sizeof(auth[0]); i++)
		put(o, PREFIX "refused_devices_total{reason=\"%s\"} %llu\n", auth[i].label,
		    (unsigned long long)atomic_load((const _Atomic uint64_t *)((const char *)st +
									 auth[i].off)));
}

/* The served policies' decided actions, only those decided at least once: exit
 * numbered as people number it (index + 1), partition and bits as on the wire. */
static void actions(struct out *o, const struct ap_server *s)
{
	static const char *const source[AP_ACT_SOURCES] = {"decision", "next_action"};
	const struct cr_model *m = ap_server_model(s);
	head(o, "decided_actions_total", "counter", "Actions decided by the served policies, by "
		 "source (a DECIDE's DECISION, a RESULT's next action), exit, partition and bits.");
	for (size_t k = 0; k < ap_server_act_slots(s); k++) {
		uint64_t n = ap_server_action(s, k);
		struct cf_action a;
		int src;
		if (!n)
			continue;
		ap_act_decode(m, k, &src, &a);
		put(o, PREFIX "decided_actions_total{source=\"%s\",exit=\"%d\",partition=\"%d\","
			 "bits=\"%d\"} %llu\n", source[src], a.exit + 1, a.partition, a.bits,
		    (unsigned long long)n);
	}
}

/* Per application of the SLO file: answers met and in all (counters), and over
 * its window the attainment and the error budget's burn rate and what is left of
 * it (gauges), as Sloth derives them: burn = (1 - attainment) / (1 - objective),
 * 1 spends the budget exactly over the window; remaining = 1 - the misses over
 * what the objective allows in the window's answers (below 0: overspent). */
static void slo_metrics(struct out *o, const struct ap_server *s)
{
	const struct ap_server_config *c = ap_server_config(s);
	static const char *const names[] = {
		"slo_requests_total", "slo_requests_met_total", "slo_objective_ratio",
		"slo_window_seconds", "slo_attainment_ratio", "slo_error_budget_burn_rate",
		"slo_error_budget_remaining_ratio"};
	static const char *const helps[] = {
		"Answers to devices of the application (RESULT or ERROR).",
		"Of those, RESULTs queued within the request's deadline (its budget on arrival).",
		"The application's objective: the fraction of requests to meet the deadline.",
		"The objective's window.",
		"Fraction of the window's answers that met the deadline (1 with none).",
		"Error budget burn rate over the window: (1 - attainment) / (1 - objective).",
		"Error budget left over the window: 1 - misses / ((1 - objective) x answers)."};
	struct ap_slo_sum t[CFG_SLO_MAX];
	uint64_t now = cf_now_ns();
	for (int a = 0; a < c->n_slo; a++)
		ap_server_slo(s, a, now, &t[a]);
	for (int k = 0; k < 7 && c->n_slo; k++) {
		head(o, names[k], k < 2 ? "counter" : "gauge", helps[k]);
		for (int a = 0; a < c->n_slo; a++) {
			const struct cfg_slo *l = &c->slo[a];
			double wt = (double)t[a].window_total, miss = wt - (double)t[a].window_met;
			double att = wt > 0 ? (double)t[a].window_met / wt : 1;
			double allow = 1 - l->objective; /* objective 1: any miss overspends */
			double v[] = {(double)t[a].total, (double)t[a].met, l->objective, l->window_s,
				      att, allow > 0 ? (1 - att) / allow : (miss > 0 ? 1e9 : 0),
				      allow > 0 && wt > 0 ? 1 - miss / (allow * wt)
							  : (miss > 0 ? -1e9 : 1)};
			put(o, PREFIX "%s{application=\"%s\"} %.17g\n", names[k], l->app, v[k]);
		}
	}
}

size_t ap_metrics_render(const struct ap_server *s, char *buf, size_t cap)
{
	struct out o = {buf, cap, 0, cap == 0};
	struct ap_stats st;
	ap_server_stats(s, &st);
	for (size_t i = 0; i < N_COUNTERS; i++) {
		const _Atomic uint64_t *v = (const _Atomic uint64_t *)((const char *)&st + counters[i].off);
		head(&o, counters[i].name, "counter", counters[i].help);
		put(&o, PREFIX "%s %llu\n", counters[i].name, (unsigned long long)atomic_load(v));
	}
	devices(&o, &st);
	process_gauges(&o);
	head(&o, "queued_requests", "gauge", "Requests waiting in a worker's scheduler at the end "
					     "of its last loop turn.");
	for (int w = 0; w < ap_server_workers(s); w++)
		put(&o, PREFIX "queued_requests{worker=\"%d\"} %u\n", w, ap_server_queued(s, w));
	histograms(&o, s, &st);
	actions(&o, s);
	slo_metrics(&o, s);
	udp_counters(&o, s);
	return o.full ? 0 : o.len;
}

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *type,
			      const char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body,
								 MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Answered at the first call, before any request body: nothing here reads one. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_len, void **req)
{
	static const char text[] = "text/plain; charset=utf-8";
	struct ap_metrics *m = cls;
	(void)version, (void)upload, (void)upload_len, (void)req;
	/* HEAD is GET without the body (RFC 9110: a server supports both) */
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
		static const char msg[] = "only GET /metrics here\n";
		return answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED, text, msg, sizeof(msg) - 1);
	}
	if (strcmp(url, "/metrics")) {
		static const char msg[] = "not found: the counters are at /metrics\n";
		return answer(conn, MHD_HTTP_NOT_FOUND, text, msg, sizeof(msg) - 1);
	}
	size_t len = ap_metrics_render(m->srv, m->buf, m->cap);
	if (!len) {
		static const char msg[] = "the metrics outgrew their buffer\n";
		return answer(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, text, msg, sizeof(msg) - 1);
	}
	return answer(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", m->buf, len);
}

static void on_log(void *cls, const char *fmt, va_list ap)
{
	struct ap_metrics *m = cls;
	if (!atomic_load(&m->starting) || *m->log)
		return;
	vsnprintf(m->log, sizeof(m->log), fmt, ap);
	m->log[strcspn(m->log, "\n")] = 0;
}

int ap_metrics_start(const struct ap_server *s, const char *host, int port,
		     struct ap_metrics **out, char *err, size_t errlen)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct ap_metrics *m;
	int ret;

	*out = NULL;
	if (port < 0 || port > 65535 || !host || inet_pton(AF_INET, host, &a.sin_addr) != 1)
		return cf_fail(-EINVAL, err, errlen, "metrics: '%s:%d' is not a numeric IPv4 address "
				      "and port", host ? host : "", port);
	if (!(m = calloc(1, sizeof(*m))))
		return cf_fail(-ENOMEM, err, errlen, "metrics: out of memory");
	m->srv = s;
	m->cap = ap_metrics_max_bytes(s);
	if (!(m->buf = malloc(m->cap))) {
		ret = cf_fail(-ENOMEM, err, errlen, "metrics: out of memory for %zu bytes", m->cap);
		goto err;
	}
	atomic_store(&m->starting, 1);
	m->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG,
				(uint16_t)port, NULL, NULL, on_request, m,
				MHD_OPTION_EXTERNAL_LOGGER, on_log, m, /* first, or it warns */
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a,
				MHD_OPTION_CONNECTION_LIMIT, 16u,
				MHD_OPTION_CONNECTION_TIMEOUT, 10u,
				MHD_OPTION_END);
	atomic_store(&m->starting, 0);
	if (!m->d) {
		ret = cf_fail(-EIO, err, errlen, "metrics: cannot serve on %s:%d: %s", host, port,
			      *m->log ? m->log : "libmicrohttpd did not start");
		goto err;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT);
	m->port = info && info->port ? info->port : port;
	*out = m;
	return 0;
err:
	ap_metrics_stop(m);
	return ret;
}

void ap_metrics_stop(struct ap_metrics *m)
{
	if (!m)
		return;
	if (m->d)
		MHD_stop_daemon(m->d);
	free(m->buf);
	free(m);
}

int ap_metrics_port(const struct ap_metrics *m)
{
	return m->port;
}
