/* Per-application SLO accounting: how many of an application's requests the
 * appliance answered within the budget they arrived with, in all and over the
 * objective's window, for the metrics' attainment and error-budget figures
 * (the objective-over-a-window SLOs of OpenSLO and Sloth; conf/slo/).
 *
 * A request counts as met when its RESULT was queued no later than its
 * deadline (arrival + the budget left when the device sent it: the uplink is
 * already spent, the downlink not yet); every ERROR (busy, deadline,
 * shutdown, a bad frame) counts as missed. What the device saw end to end is
 * coinfer-fleet's to measure; this is the server's share of it.
 *
 * The window is AP_SLO_BUCKETS buckets of window/AP_SLO_BUCKETS each, the
 * current (partial) one included, so a window figure covers the window to one
 * bucket's length.
 *
 * Ownership: each worker owns one ap_slo_app per application and is its only
 * writer (relaxed stores, no lock, nothing allocated per request); the metrics
 * thread reads them racily. A bucket is reused when its time comes round again:
 * the writer zeroes its counts and then stores its new epoch, so a reader that
 * meets it mid-reuse sees at worst one bucket's counts from before or after. */
#ifndef COINFER_APPLIANCE_SLO_H
#define COINFER_APPLIANCE_SLO_H

#include <stdatomic.h>
#include <stdint.h>

#define AP_SLO_BUCKETS 60

struct ap_slo_bucket {
	_Atomic uint64_t epoch; /* the bucket's index since the clock's zero, + 1 (0: unused) */
	_Atomic uint64_t total, met;
};

struct ap_slo_app {
	_Atomic uint64_t total, met; /* since start */
	struct ap_slo_bucket b[AP_SLO_BUCKETS];
};

/* One answer at now_ns, met or not; bucket_ns: the window / AP_SLO_BUCKETS (> 0). */
void ap_slo_count(struct ap_slo_app *a, uint64_t bucket_ns, uint64_t now_ns, int met);
/* Adds the window ending at now_ns to *total and *met. */
void ap_slo_window(const struct ap_slo_app *a, uint64_t bucket_ns, uint64_t now_ns,
		   uint64_t *total, uint64_t *met);
/* The window of a cfg_slo's window_s, in ns per bucket. */
uint64_t ap_slo_bucket_ns(double window_s);

#endif
