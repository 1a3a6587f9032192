/* The appliance's counters over HTTP: GET /metrics answers Prometheus text
 * (exposition format 0.0.4) built from ap_server_stats, the per-worker queue
 * gauges, the time histograms (server, queue, compute: edges include every SLO
 * deadline), the decided actions, and the process's open descriptors,
 * resident bytes and jemalloc allocated bytes (what a leak would move; the
 * jemalloc gauge only when the program links jemalloc). One libmicrohttpd
 * thread, off the
 * request path: it reads relaxed atomics that the workers keep anyway, and
 * takes no lock the workers take. Any other path is 404, any method but GET
 * (and HEAD) 405. */
#ifndef COINFER_APPLIANCE_METRICS_H
#define COINFER_APPLIANCE_METRICS_H

#include <stddef.h>

#include "server.h"

struct ap_metrics;

/* Listens on host:port (numeric IPv4; port 0: any free one) and serves s's
 * counters until ap_metrics_stop, which must come before ap_server_stop. */
int ap_metrics_start(const struct ap_server *s, const char *host, int port,
		     struct ap_metrics **out, char *err, size_t errlen);
void ap_metrics_stop(struct ap_metrics *m);
/* The port bound (useful with port 0). */
int ap_metrics_port(const struct ap_metrics *m);

/* The largest text ap_metrics_render writes for this server (its workers, its
 * model's grid of decided actions). */
size_t ap_metrics_max_bytes(const struct ap_server *s);
/* The exposition text into buf: its length, or 0 when cap is too small. */
size_t ap_metrics_render(const struct ap_server *s, char *buf, size_t cap);

#endif
